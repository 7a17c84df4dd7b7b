//! The web UI's pages over HTTP, as a browser gets them: the login page and its
//! redirects, then the repositories, a repository's objects, an object's details and
//! the log, each rendered from the catalog.

use integration_tests::LocalStack;
use integration_tests::serve::Server;
use serde_json::Value;

/// Runs a Python script with `get(path)` → `[status, location, text]` (no redirects
/// followed), logged in when `login`.
fn pages(server: &Server, login: bool, script: &str) -> Value {
    let prelude = format!(
        r#"
import json, http.cookiejar, urllib.request, urllib.error, urllib.parse
base = "{endpoint}"
jar = http.cookiejar.CookieJar()
class Keep(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), Keep)
def get(path):
    try:
        response = opener.open(base + path)
        return [response.status, None, response.read().decode()]
    except urllib.error.HTTPError as e:
        return [e.code, e.headers.get("location"), e.read().decode()]
if {login}:
    request = urllib.request.Request(base + "/api/v1/auth/login", method="POST",
        data=json.dumps({{"access_key_id": "{key}", "secret_access_key": "{secret}"}}).encode(),
        headers={{"content-type": "application/json"}})
    opener.open(request)
"#,
        endpoint = server.endpoint,
        key = server.key_id,
        secret = server.secret,
        login = if login { "True" } else { "False" },
    );
    server.python_json(&format!("{prelude}\n{script}"))
}

#[tokio::test]
async fn a_browser_is_led_to_log_in_and_then_sees_the_catalog() {
    let stack = LocalStack::start().await;
    stack.imported_photos(8, false).await;
    browse(&stack, &Server::start(&stack));
}

/// The same pages from the `api` function, behind a Function URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_function_serves_the_same_pages() {
    let stack = LocalStack::start().await;
    stack.imported_photos(8, false).await;
    browse(&stack, &Server::function_url(&stack).await);
}

/// Logs in through `server` and reads every page, checking each against the catalog.
fn browse(stack: &LocalStack, server: &Server) {
    let paths = stack.photos_paths("main");

    let anonymous = pages(
        server,
        false,
        r#"
print(json.dumps({"root": get("/")[:2], "ui": get("/ui/")[:2], "login": get("/ui/login")[0],
    "style": get("/ui/assets/style.css")[0], "script": get("/ui/assets/app.js")[0]}))
"#,
    );
    assert_eq!(anonymous["root"], serde_json::json!([303, "/ui/"]));
    assert_eq!(anonymous["ui"][0], serde_json::json!(303));
    assert_eq!(
        anonymous["ui"][1],
        serde_json::json!("/ui/login?next=%2Fui%2F")
    );
    assert_eq!(anonymous["login"], serde_json::json!(200));
    assert_eq!(anonymous["style"], serde_json::json!(200));
    assert_eq!(anonymous["script"], serde_json::json!(200));

    let top = paths[0].split('/').next().unwrap();
    let result = pages(
        server,
        true,
        &format!(
            r#"
q = urllib.parse.quote
out = {{}}
out["repositories"] = get("/ui/")
out["repository"] = get("/ui/repositories/photos")
out["folder"] = get("/ui/repositories/photos?ref=main&prefix=" + q("{top}/"))
out["object"] = get("/ui/repositories/photos/object?ref=main&path=" + q("{first}"))
out["log"] = get("/ui/repositories/photos/log?ref=main")
out["compare"] = get("/ui/repositories/photos/compare?left=" + q("import-from-inventory~1") + "&right=main")
out["bad compare"] = get("/ui/repositories/photos/compare?left=nope&right=main")
out["imports"] = get("/ui/repositories/photos/imports")
out["missing"] = get("/ui/repositories/nope")
print(json.dumps(out))
"#,
            first = paths[0]
        ),
    );
    let page = |name: &str| {
        assert_eq!(
            result[name][0],
            serde_json::json!(200),
            "{name}: {}",
            result[name]
        );
        result[name][2].as_str().unwrap().to_string()
    };
    assert!(page("repositories").contains(r#"<a href="/ui/repositories/photos">photos</a>"#));
    let repository = page("repository");
    assert!(repository.contains(&format!("▸ {top}/")), "{repository}");
    assert!(repository.contains(r#"<option value="import-from-inventory">"#));
    assert!(repository.contains(r#"name="csrf-token""#));
    let folder = page("folder");
    let under_top = paths
        .iter()
        .filter(|p| p.starts_with(&format!("{top}/")))
        .count();
    assert!(under_top > 0);
    let object = page("object");
    assert!(object.contains(&format!("s3://photos-source/{}", paths[0])));
    assert!(object.contains("/api/v1/repositories/photos/refs/main/objects/content?path="));
    let log = page("log");
    assert!(log.contains("<table id=\"log\">"));
    // The import's commit shows its summary.
    assert!(
        log.contains(&format!(r#"<span class="added">+{}</span>"#, paths.len())),
        "{log}"
    );
    assert!(folder.contains("<table id=\"objects\">"));
    // The import's commit against the empty one before it: every object added.
    let compare = page("compare");
    assert!(
        compare.contains(&format!(
            r#"<span class="added">{} added</span>"#,
            paths.len()
        )),
        "{compare}"
    );
    assert!(page("bad compare").contains("ref &quot;nope&quot; matches no branch or commit"));
    // The import's history, drawn by the server: one import of every object.
    let imports = page("imports");
    assert!(
        imports.contains(r#"<form class="card" id="import-dialog""#),
        "{imports}"
    );
    assert!(imports.contains(&format!("total objects (line): {}", paths.len())));
    assert!(
        repository.contains(r#"<figure class="card history" data-branch="import-from-inventory">"#)
    );
    assert_eq!(repository.matches(r#"<rect class="added""#).count(), 1);
    assert_eq!(result["missing"][0], serde_json::json!(404));
    assert!(
        result["missing"][2]
            .as_str()
            .unwrap()
            .contains("repository nope does not exist")
    );
}
