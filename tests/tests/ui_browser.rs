//! The web UI in headless Chromium, as a user works with it after a real import: log
//! in (a wrong secret first), create a repository, browse `photos` to an imported
//! object and download it, upload a file to `main` and commit it, read the log,
//! compare the import branch with `main` and merge `main` into another branch. Each
//! page is saved under `target/ui/`.

use std::time::Instant;

use integration_tests::serve::Server;
use integration_tests::{LocalStack, browser, ok_json};
use inventory_base::S3Url;
use md5::{Digest, Md5};

/// The file uploaded to `main` through the upload form.
const UPLOADED: &str = "uploads/notes.txt";
const UPLOADED_TEXT: &str = "notes written in the browser\n";
const MESSAGE: &str = "Add the notes from the browser";

const SCRIPT: &str = r##"
import hashlib, json
PATH = json.loads(OBJECT)
result = {}

# The server's root leads to the login page; a wrong secret is refused next to the form.
page.goto(ENDPOINT + "/")
page.wait_for_url(re.compile(r".*/ui/login.*"))
page.fill("#access_key_id", KEY_ID)
page.fill("#secret_access_key", "not-" + SECRET)
result["wrong_secret"] = submit('form[data-api="login"]', "#objects")
result["after_wrong_secret"] = page.url.removeprefix(ENDPOINT)
shot("login")

login()
result["repositories"] = texts("main table tbody td:first-child a")
shot("repositories")

# A repository created through the form, landing on its page.
page.fill("#name", "scratch")
page.fill("#storage_namespace", "s3://catalog-storage/scratch")
page.click('form[data-api="create-repository"] button[type="submit"]')
page.wait_for_url(ENDPOINT + "/ui/repositories/scratch")
result["created"] = {"h1": page.inner_text("h1"), "objects": rows("#objects")}
shot("created")
page.click("header nav a")
page.wait_for_url(ENDPOINT + "/ui/")
result["repositories_after"] = rows("main table")

# photos: its folders, one at a time down to an imported object.
page.click('main table a:text-is("photos")')
page.wait_for_url(ENDPOINT + "/ui/repositories/photos")
result["photos"] = {"h1": page.inner_text("h1"), "branch": page.input_value("#ref"),
                    "top": texts("#objects tbody td:first-child a")}
shot("repository")
folders, name = PATH.split("/")[:-1], PATH.split("/")[-1]
for folder in folders:
    # A folder's link is its name and a slash, after a marker.
    page.locator("#objects tbody td:first-child a").filter(
        has_text=re.compile(r"(^|\s)" + re.escape(folder) + "/$")).click()
    page.wait_for_url(re.compile(r".*prefix=.*"))
    page.wait_for_load_state()
result["crumbs"] = page.inner_text("p.crumbs")
page.locator("#objects").get_by_role("link", name=name, exact=True).click()
page.wait_for_url(re.compile(r".*/ui/repositories/photos/object\?.*"))
details = {row.locator("th").inner_text().strip(): row.locator("td").inner_text().strip()
           for row in page.locator("#details tr").all()}
result["object"] = {"h1": page.inner_text("h1"), "details": details}
shot("object")
with page.expect_download() as download:
    page.click("#download")
download = download.value
with open(download.path(), "rb") as f:
    body = f.read()
result["download"] = {"name": download.suggested_filename, "size": len(body),
                      "md5": hashlib.md5(body).hexdigest()}

# An upload to main, its uncommitted change, then a commit of it.
page.click("p.crumbs a")
page.wait_for_url(ENDPOINT + "/ui/repositories/photos?ref=main")
page.set_input_files('form[data-api="upload"] input[type="file"]',
                     files=[{"name": "notes.txt", "mimeType": "text/plain",
                             "buffer": UPLOADED_TEXT.encode()}])
page.fill('form[data-api="upload"] input[name="name"]', UPLOADED)
result["upload_error"] = submit('form[data-api="upload"]', "#changes")
result["changes"] = rows("#changes")
shot("changes")
page.fill('form[data-api="commit"] input[name="message"]', MESSAGE)
result["commit_error"] = submit('form[data-api="commit"]', "h2 + p.muted")
result["changes_after_commit"] = {"tables": page.locator("#changes").count(),
                                  "text": page.locator("h2:text-is('Uncommitted changes') + p").inner_text()}
result["objects_after_commit"] = texts("#objects tbody td:first-child a")

# The log of main.
page.get_by_role("link", name="Log", exact=True).click()
page.wait_for_url(ENDPOINT + "/ui/repositories/photos/log?ref=main")
result["log"] = {"h1": page.inner_text("h1"), "rows": rows("#log")}
shot("log")

# Compare the import branch with main, then merge main into dev.
page.get_by_role("link", name="Compare", exact=True).click()
page.wait_for_url(ENDPOINT + "/ui/repositories/photos/compare?right=main")
result["compare"] = {"left": page.input_value("#left"), "right": page.input_value("#right"),
                     "summary": page.inner_text("#summary"), "diff": rows("#diff"),
                     "destinations": texts("#destination option")}
shot("compare")
created = page.evaluate("""async () => {
    const token = document.querySelector('meta[name="csrf-token"]').content;
    const response = await fetch('/api/v1/repositories/photos/branches', {
        method: 'POST', credentials: 'same-origin',
        headers: {'content-type': 'application/json', 'x-csrf-token': token},
        body: JSON.stringify({name: 'dev', source: 'import-from-inventory'})});
    return [response.status, await response.json()];
}""")
result["dev"] = created
page.reload()
result["destinations_with_dev"] = texts("#destination option")
page.select_option("#destination", "dev")
result["merge_error"] = submit('form[data-api="merge"]', 'form[data-api="merge"] .ok')
result["merged"] = page.locator('form[data-api="merge"] .ok').inner_text()
shot("merge")

result["main_at_merge"] = page.evaluate("""async () =>
    (await (await fetch('/api/v1/repositories/photos/refs/main', {credentials: 'same-origin'})).json()).id""")

# The same path written differently on dev and on main: merging dev into main stops and
# lists the conflict; taking dev's side then merges.
conflicting = page.evaluate("""async () => {
    const token = document.querySelector('meta[name="csrf-token"]').content;
    const call = async (method, path, body, raw) => {
        const headers = {'x-csrf-token': token};
        if (body !== undefined) { headers['content-type'] = 'application/json'; }
        const response = await fetch('/api/v1/repositories/photos' + path, {method, credentials: 'same-origin',
            headers, body: raw !== undefined ? raw : JSON.stringify(body)});
        return response.status;
    };
    const statuses = [];
    for (const branch of ['dev', 'main']) {
        statuses.push(await call('PUT', '/branches/' + branch + '/objects?path=uploads/notes.txt', undefined, 'notes of ' + branch + '\\n'));
        statuses.push(await call('POST', '/branches/' + branch + '/commits', {message: 'notes on ' + branch, metadata: {}}));
    }
    return statuses;
}""")
result["conflicting_writes"] = conflicting
page.goto(ENDPOINT + "/ui/repositories/photos/compare?left=main&right=dev")
page.select_option("#destination", "main")
page.select_option("#strategy", "fail")
page.click('form[data-api="merge"] button[type="submit"]')
page.wait_for_selector('form[data-api="merge"] ul.conflicts li')
result["conflict_message"] = page.inner_text('form[data-api="merge"] .error')
result["conflicts"] = texts('form[data-api="merge"] ul.conflicts li')
shot("conflicts")
page.select_option("#strategy", "source-wins")
result["source_wins_error"] = submit('form[data-api="merge"]', 'form[data-api="merge"] .ok')
result["source_wins"] = page.locator('form[data-api="merge"] .ok').inner_text()
result["conflicts_after"] = page.locator('form[data-api="merge"] ul.conflicts').count()

# Logging out leads back to the login page.
page.click('form[data-api="logout"] button[type="submit"]')
page.wait_for_url(re.compile(r".*/ui/login.*"))
page.goto(ENDPOINT + "/ui/repositories/photos")
result["after_logout"] = page.url.removeprefix(ENDPOINT)
"##;

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// The first imported path two folders deep or more, of plain characters (the links
/// the test clicks are named by them).
fn browsable(paths: &[String]) -> String {
    paths
        .iter()
        .find(|p| {
            p.matches('/').count() >= 2
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/-_.=".contains(c))
        })
        .cloned()
        .unwrap_or_else(|| panic!("no imported path to browse to: {paths:?}"))
}

#[tokio::test]
async fn a_user_works_with_the_catalog_in_a_browser() {
    let started = Instant::now();
    let stack = LocalStack::start().await;
    stack.imported_photos(20, false).await;
    let imported = stack.photos_paths("main");
    assert_eq!(imported.len(), 20);
    let path = browsable(&imported);
    let source = stack.get(&S3Url::new("photos-source", path.as_str())).await;
    let server = Server::start(&stack);

    let script = format!(
        "OBJECT = {:?}\nUPLOADED = {UPLOADED:?}\nUPLOADED_TEXT = {UPLOADED_TEXT:?}\nMESSAGE = {MESSAGE:?}\n{SCRIPT}",
        serde_json::to_string(&path).unwrap()
    );
    let seen = browser::run(&server, &script);
    println!("{}", serde_json::to_string_pretty(&seen).unwrap());

    // Logging in.
    assert_eq!(
        seen["wrong_secret"],
        "the access key id or the secret is wrong"
    );
    assert_eq!(seen["after_wrong_secret"], "/ui/login?next=%2Fui%2F");
    assert_eq!(seen["repositories"], serde_json::json!(["photos"]));

    // The repository created through the form.
    assert_eq!(seen["created"]["h1"], "scratch");
    assert_eq!(
        seen["created"]["objects"],
        serde_json::json!([["Nothing here."]])
    );
    let listed = seen["repositories_after"].as_array().unwrap();
    let names: Vec<&str> = listed.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(names, ["photos", "scratch"]);
    assert_eq!(listed[1][1], "s3://catalog-storage/scratch");
    assert_eq!(listed[1][2], "main");

    // Browsing photos to an imported object, and downloading it.
    assert_eq!(seen["photos"]["h1"], "photos");
    assert_eq!(seen["photos"]["branch"], "main");
    let mut top: Vec<String> = imported
        .iter()
        .map(|p| format!("{}/", p.split('/').next().unwrap()))
        .collect();
    top.dedup();
    assert_eq!(names_of(&seen["photos"]["top"]), top);
    let folders: Vec<&str> = path.split('/').collect();
    let folders = &folders[..folders.len() - 1];
    assert_eq!(
        seen["crumbs"],
        format!("photos / {}", folders.join(" / ")).as_str()
    );
    assert_eq!(seen["object"]["h1"], path.as_str());
    let details = &seen["object"]["details"];
    assert_eq!(
        details["Physical address"],
        format!("s3://photos-source/{path}").as_str()
    );
    assert_eq!(
        details["Size"],
        format!(
            "{} ({} bytes)",
            human_bytes(source.len() as u64),
            source.len()
        )
        .as_str()
    );
    assert_eq!(details["Version id"], "—");
    assert_eq!(details["ETag"], md5_hex(&source).as_str());
    assert_eq!(
        seen["download"]["name"],
        path.rsplit('/').next().unwrap_or_default()
    );
    assert_eq!(seen["download"]["size"], source.len());
    assert_eq!(seen["download"]["md5"], md5_hex(&source).as_str());

    // The upload, committed.
    assert_eq!(seen["upload_error"], serde_json::Value::Null);
    assert_eq!(seen["changes"], serde_json::json!([["added", UPLOADED]]));
    assert_eq!(seen["commit_error"], serde_json::Value::Null);
    assert_eq!(seen["changes_after_commit"]["tables"], 0);
    assert_eq!(seen["changes_after_commit"]["text"], "None.");
    let mut top_after = top.clone();
    top_after.push("uploads/".to_string());
    top_after.sort();
    assert_eq!(names_of(&seen["objects_after_commit"]), top_after);
    assert_eq!(seen["log"]["h1"], "photos · log of main");
    let log = seen["log"]["rows"].as_array().unwrap();
    let messages: Vec<&str> = log.iter().map(|r| r[1].as_str().unwrap()).collect();
    assert_eq!(
        messages,
        [MESSAGE, "Import from photos-source", "Repository created"]
    );
    // Columns: commit, message, import summary, committer, created, metadata.
    assert_eq!(log[0][2], "");
    assert_eq!(log[0][3], server.key_id.as_str());
    assert_eq!(log[0][5], "");
    assert_eq!(log[1][2], "+20 ~0 −0 of 20");

    // Compare and merge.
    assert_eq!(seen["compare"]["left"], "import-from-inventory");
    assert_eq!(seen["compare"]["right"], "main");
    assert_eq!(seen["compare"]["summary"], "1 added, 0 removed, 0 changed");
    let diff = &seen["compare"]["diff"];
    assert_eq!(diff.as_array().unwrap().len(), 1, "{diff}");
    assert_eq!(diff[0][0], "added");
    assert_eq!(diff[0][1], UPLOADED);
    assert_eq!(diff[0][2], "");
    assert_eq!(diff[0][3], format!("{} B", UPLOADED_TEXT.len()).as_str());
    assert_eq!(seen["compare"]["destinations"], serde_json::json!(["main"]));
    assert_eq!(seen["dev"][0], 201, "{}", seen["dev"]);
    assert_eq!(seen["dev"][1]["name"], "dev");
    assert_eq!(
        seen["destinations_with_dev"],
        serde_json::json!(["dev", "main"])
    );
    assert_eq!(seen["merge_error"], serde_json::Value::Null);
    // dev was where the import branch is; main is one commit ahead of it (the upload).
    let head = |branch: &str| stack.branch_head("photos", branch);
    let main = seen["main_at_merge"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(main.len(), 64, "{}", seen["main_at_merge"]);
    assert_eq!(
        seen["merged"],
        format!("Merged (fast-forward): dev is at {}", &main[..12]).as_str()
    );
    // dev, one commit on from main's commit: the 20 imported files and the notes.
    let on_dev = stack.photos_paths("dev");
    assert_eq!(on_dev.len(), 21, "{on_dev:?}");
    assert!(on_dev.iter().any(|p| p == UPLOADED));
    let dev_log = ok_json(stack.cli().args(["log", "photos", "dev", "--json"]));
    assert_eq!(dev_log[1]["id"], main.as_str(), "{dev_log}");

    // The conflict, listed; then dev's side taken.
    assert_eq!(
        seen["conflicting_writes"],
        serde_json::json!([201, 201, 201, 201]),
        "{}",
        seen["conflicting_writes"]
    );
    assert_eq!(
        seen["conflict_message"],
        format!("merge of dev into main has 1 conflicting path(s): {UPLOADED}").as_str()
    );
    assert_eq!(seen["conflicts"], serde_json::json!([UPLOADED]));
    assert_eq!(seen["source_wins_error"], serde_json::Value::Null);
    let main_after = head("main");
    assert_eq!(
        seen["source_wins"],
        format!("Merged (merged): main is at {}", &main_after[..12]).as_str()
    );
    assert_eq!(seen["conflicts_after"], 0);
    let notes = stack
        .cli()
        .args(["cat", "photos", "main", UPLOADED])
        .output()
        .expect("cat");
    assert_eq!(String::from_utf8_lossy(&notes.stdout), "notes of dev\n");
    assert_eq!(
        seen["after_logout"],
        "/ui/login?next=%2Fui%2Frepositories%2Fphotos"
    );

    let shots = browser::screenshots();
    for name in [
        "login",
        "repositories",
        "created",
        "repository",
        "object",
        "changes",
        "log",
        "compare",
        "merge",
        "conflicts",
    ] {
        let file = shots.join(format!("{name}.png"));
        let size = std::fs::metadata(&file)
            .unwrap_or_else(|err| panic!("{}: {err}", file.display()))
            .len();
        assert!(size > 1000, "{} is {size} bytes", file.display());
    }
    println!("took {:.1} s", started.elapsed().as_secs_f64());
}

/// The names of the objects table's links, without the marker before a folder's.
fn names_of(links: &serde_json::Value) -> Vec<String> {
    links
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {links}"))
        .iter()
        .map(|link| {
            link.as_str()
                .unwrap_or_default()
                .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_string()
        })
        .collect()
}

/// Sizes as the pages show them.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
