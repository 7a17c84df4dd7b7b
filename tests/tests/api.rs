//! The JSON API under `/api/v1`, as a program (or the web UI) uses it: log in with an
//! issued key, then repositories, branches, the log, objects, uploads, uncommitted
//! changes, commits, diffs and merges; errors as JSON with a stable code and the CLI's
//! message.

use integration_tests::serve::Server;
use integration_tests::{LocalStack, ok_json};
use serde_json::{Value, json};

/// The CLI's error message for a command.
fn cli_error(stack: &LocalStack, args: &[&str]) -> String {
    let output = stack.cli().args(args).output().unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr)
        .trim_end()
        .trim_start_matches("error: ")
        .to_string()
}

#[tokio::test]
async fn a_session_reads_and_writes_the_catalog_through_the_api() {
    let stack = LocalStack::start().await;
    stack.imported_photos(12, false).await;
    let server = Server::start(&stack);
    session(&stack, &server).await;
}

/// The same session with the `api` function, behind a Function URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_function_answers_the_same_session() {
    let stack = LocalStack::start().await;
    stack.imported_photos(12, false).await;
    let server = Server::function_url(&stack).await;
    session(&stack, &server).await;
}

/// Logs in through `server`, reads and writes the catalog through the API, and checks
/// each answer against the catalog and the CLI.
async fn session(stack: &LocalStack, server: &Server) {
    let paths = stack.photos_paths("main");
    let first_md5 = {
        use md5::{Digest, Md5};
        let bytes = stack
            .get(&inventory_base::S3Url::new(
                "photos-source",
                paths[0].clone(),
            ))
            .await;
        hex::encode(Md5::digest(&bytes))
    };
    let mut top: Vec<String> = paths
        .iter()
        .map(|p| format!("{}/", p.split('/').next().unwrap()))
        .collect();
    top.dedup();
    let result = server.api(
        true,
        &format!(
            r#"
import urllib.parse
q = urllib.parse.quote
out = {{}}
out["repositories"] = call("GET", "/repositories")
out["branches"] = call("GET", "/repositories/photos/branches")
out["log"] = call("GET", "/repositories/photos/refs/main/commits?limit=5")
out["top"] = call("GET", "/repositories/photos/refs/main/objects?delimiter=/")
out["page"] = call("GET", "/repositories/photos/refs/main/objects?limit=5")
out["next"] = call("GET", "/repositories/photos/refs/main/objects?limit=5&after=" + q(out["page"][1]["next_after"]))
out["stat"] = call("GET", "/repositories/photos/refs/main/objects/stat?path=" + q("{first}"))
out["content"] = call("GET", "/repositories/photos/refs/main/objects/content?path=" + q("{first}"))
out["no csrf"] = call("PUT", "/repositories/photos/branches/main/objects?path=new/a.txt", raw=b"abc", send_csrf=False)
out["upload"] = call("PUT", "/repositories/photos/branches/main/objects?path=new/a.txt", raw=b"abc")
out["import branch"] = call("PUT", "/repositories/photos/branches/import-from-inventory/objects?path=x", raw=b"x")
out["changes"] = call("GET", "/repositories/photos/branches/main/changes")
out["commit"] = call("POST", "/repositories/photos/branches/main/commits", {{"message": "one file", "metadata": {{"by": "api"}}}})
out["nothing"] = call("POST", "/repositories/photos/branches/main/commits", {{"message": "again"}})
out["diff"] = call("GET", "/repositories/photos/diff?left=import-from-inventory&right=main")
out["branch"] = call("POST", "/repositories/photos/branches", {{"name": "dev", "source": "main"}})
call("DELETE", "/repositories/photos/branches/dev/objects?path=" + q("{first}"))
call("POST", "/repositories/photos/branches/dev/commits", {{"message": "drop one"}})
out["merge"] = call("POST", "/repositories/photos/branches/main/merge", {{"source": "dev"}})
out["bad strategy"] = call("POST", "/repositories/photos/branches/main/merge", {{"source": "dev", "strategy": "coin"}})
out["unknown repository"] = call("GET", "/repositories/nope/branches")
out["unknown ref"] = call("GET", "/repositories/photos/refs/nope/objects")
out["empty refs"] = [call("GET", "/repositories/photos/refs/~")[0], call("GET", "/repositories/photos/diff?left=main&right=")[0],
    call("POST", "/repositories/photos/branches", {{"name": "x", "source": ""}})[0]]
out["not json"] = call("POST", "/repositories/photos/branches", raw=b"{{nope")
out["reserved"] = call("POST", "/repositories", {{"name": "api", "storage_namespace": "s3://x/y"}})
out["logout"] = call("POST", "/auth/logout")
out["after logout"] = call("GET", "/repositories")
print(json.dumps(out))
"#,
            first = paths[0]
        ),
    );
    let status = |name: &str| result[name][0].as_u64().unwrap();
    let body = |name: &str| &result[name][1];
    assert_eq!(status("repositories"), 200);
    assert_eq!(body("repositories")[0]["name"], json!("photos"));
    let branches: Vec<&str> = body("branches")
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(branches, ["import-from-inventory", "main"]);
    assert!(!body("log").as_array().unwrap().is_empty());
    assert_eq!(body("top")["common_prefixes"], json!(top));
    let page: Vec<&str> = body("page")["objects"]
        .as_array()
        .unwrap()
        .iter()
        .chain(body("next")["objects"].as_array().unwrap())
        .map(|o| o["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        page,
        paths[..10].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(body("stat")["path"], json!(paths[0]));
    assert_eq!(
        body("stat")["physical_address"],
        json!(format!("s3://photos-source/{}", paths[0]))
    );
    assert_eq!(result["content"], json!([200, first_md5]));
    assert_eq!(status("no csrf"), 403);
    assert_eq!(body("no csrf")["code"], json!("csrf"));
    assert_eq!(status("upload"), 201);
    assert_eq!(body("upload")["size"], json!(3));
    assert_eq!(status("import branch"), 403);
    assert_eq!(body("import branch")["code"], json!("import_branch"));
    assert_eq!(
        body("changes")["summary"],
        json!({"added": 1, "removed": 0, "changed": 0})
    );
    assert_eq!(body("changes")["changes"][0]["path"], json!("new/a.txt"));
    assert_eq!(status("commit"), 201);
    assert_eq!(body("commit")["changes"], json!(1));
    assert_eq!(body("commit")["commit"]["metadata"], json!({"by": "api"}));
    assert_eq!(status("nothing"), 409);
    assert_eq!(
        body("nothing"),
        &json!({
            "code": "nothing_to_commit",
            "message": cli_error(stack, &["commit", "photos", "main", "-m", "again"]),
        })
    );
    assert_eq!(
        body("diff")["summary"],
        json!({"added": 1, "removed": 0, "changed": 0})
    );
    assert_eq!(status("branch"), 201);
    assert_eq!(body("merge")["outcome"], json!("fast-forward"));
    assert_eq!(status("bad strategy"), 400);
    assert_eq!(
        body("unknown repository"),
        &json!({
            "code": "repository_not_found",
            "message": cli_error(stack, &["branch", "list", "nope"]),
        })
    );
    assert_eq!(body("unknown ref")["code"], json!("ref_not_found"));
    // Empty or bare-`~` refs name nothing: not found, never a server error.
    assert_eq!(result["empty refs"], json!([404, 404, 404]));
    // A body the router cannot read is refused as the API refuses: JSON with a code.
    assert_eq!(result["not json"][0], json!(415));
    assert_eq!(body("not json")["code"], json!("unsupported_media_type"));
    assert_eq!(body("reserved")["code"], json!("invalid_name"));
    assert_eq!(status("logout"), 204);
    assert_eq!(status("after logout"), 401);
    // The commits are the catalog's: the CLI sees them.
    let main = ok_json(
        stack
            .cli()
            .args(["ls", "photos", "main", "--recursive", "--json"]),
    );
    assert_eq!(main["entries"].as_array().unwrap().len(), 12);
}

#[tokio::test]
async fn without_a_session_only_logging_in_and_the_document_answer() {
    let stack = LocalStack::start().await;
    stack.imported_photos(2, false).await;
    let server = Server::start(&stack);
    let result = server.api(
        false,
        &format!(
            r#"
out = {{}}
out["repositories"] = call("GET", "/repositories")
out["wrong secret"] = call("POST", "/auth/login", {{"access_key_id": "{key}", "secret_access_key": "wrong"}})
out["empty key"] = call("POST", "/auth/login", {{"access_key_id": "", "secret_access_key": ""}})
out["forged"] = None
jar.set_cookie(http.cookiejar.Cookie(0, "inventory_session", "{key}.99999999999.00", None, False, "127.0.0.1", False, False, "/", True, False, None, False, None, None, {{}}))
out["forged"] = call("GET", "/repositories")
out["document"] = call("GET", "/openapi.json")
print(json.dumps(out))
"#,
            key = server.key_id
        ),
    );
    assert_eq!(result["repositories"][0], json!(401));
    assert_eq!(result["repositories"][1]["code"], json!("unauthorized"));
    assert_eq!(
        result["wrong secret"],
        json!([401, {"code": "unauthorized", "message": "the access key id or the secret is wrong"}])
    );
    assert_eq!(result["forged"][0], json!(401));
    assert_eq!(result["empty key"][0], json!(401));
    assert_eq!(result["document"][0], json!(200));
    let served = &result["document"][1];
    let copy: Value = serde_json::from_str(
        &std::fs::read_to_string(
            integration_tests::workspace_root().join("functions/serve/openapi.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(served, &copy);
}
