//! The import dialog in headless Chromium, as a user imports a delivery from the web
//! page: a manifest URL, *Test* (a dry run with the exact expected counts), *Import*
//! with live progress, the summary with its commit and *Merge into main*; and bad
//! manifest URLs (not a URL, no such manifest, another source's delivery, a checksum
//! mismatch, a format S3 Inventory does not write) answered next to the field with the
//! CLI's own message.

use std::process::Stdio;

use integration_tests::serve::Server;
use integration_tests::{LocalStack, browser, kill_with_parent, ok_json};
use inventory_base::S3Url;
use inventory_delivery::manifest::ManifestDocument;
use serde_json::json;

const MANIFEST: &str =
    "s3://inventory-dest/inv/photos-source/daily/2026-11-25T01-00Z/manifest.json";
const MISSING: &str = "s3://inventory-dest/inv/photos-source/daily/2030-01-01T01-00Z/manifest.json";

/// The CLI's message for a dry run of `manifest`.
fn cli_message(stack: &LocalStack, manifest: &str) -> String {
    let output = stack
        .cli()
        .args(["import", "photos", "--manifest", manifest, "--dry-run"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr)
        .trim_end()
        .to_string();
    text.trim_start_matches("error: ").to_string()
}

/// The repository `photos` fed by `photos-source`'s inventory, with no bucket
/// notification: a delivery waits for the dialog.
async fn provisioned() -> LocalStack {
    let stack = LocalStack::start().await;
    stack.photos_repository(false).await;
    ok_json(stack.cli().args([
        "source",
        "add",
        "photos",
        "--inventory",
        "s3://inventory-dest/inv/photos-source/daily/",
        "--json",
    ]));
    stack
}

/// The three functions, fed by their queues, as in AWS.
fn functions(stack: &LocalStack) -> std::process::Child {
    let mut functions = stack.cli();
    functions
        .arg("local")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    kill_with_parent(&mut functions);
    functions.spawn().unwrap()
}

#[tokio::test]
async fn a_delivery_is_tested_imported_and_merged_from_the_import_dialog() {
    let stack = provisioned().await;
    stack.generate_photos(&[
        "--objects",
        "30",
        "--write-objects",
        "--created-at",
        "2026-11-25T01:00:00Z",
    ]);
    // Deliveries the dialog must refuse, as the API test makes them: another bucket's
    // inventory under this source's prefix, a manifest.checksum that is not the
    // manifest's, a format S3 Inventory does not write.
    let good: S3Url = MANIFEST.parse().unwrap();
    let document: ManifestDocument = serde_json::from_slice(&stack.get(&good).await).unwrap();
    let delivery = |stamp: &str| -> S3Url {
        format!("s3://inventory-dest/inv/photos-source/daily/{stamp}/manifest.json")
            .parse()
            .unwrap()
    };
    let foreign = delivery("2026-12-01T00-00Z");
    let foreign_document = ManifestDocument {
        source_bucket: "someone-else".into(),
        ..document.clone()
    };
    stack.put_manifest(&foreign, &foreign_document).await;
    let mismatch = delivery("2026-12-02T00-00Z");
    stack.put_manifest(&mismatch, &document).await;
    stack
        .put(
            &mismatch.sibling("manifest.checksum"),
            "0123456789abcdef0123456789abcdef\n",
        )
        .await;
    let unknown = delivery("2026-12-03T00-00Z");
    let unknown_document = ManifestDocument {
        file_format: "JSON".into(),
        ..document.clone()
    };
    stack.put_manifest(&unknown, &unknown_document).await;
    let bad = [
        foreign.to_string(),
        mismatch.to_string(),
        unknown.to_string(),
    ];
    let bad_messages: Vec<String> = bad.iter().map(|url| cli_message(&stack, url)).collect();
    let missing_message = cli_message(&stack, MISSING);
    let mut functions = functions(&stack);
    let server = Server::start(&stack);
    let script = format!(
        r##"
result = {{}}
login()
page.goto(ENDPOINT + "/ui/repositories/photos/imports")
page.wait_for_selector("#sources tbody tr")
result["sources"] = rows("#sources")
def dialog_error(url):
    page.fill("#manifest", url)
    page.click("#test")
    page.locator("#import-dialog .error").wait_for()
    text = page.inner_text("#import-dialog .error")
    return text
result["not a url"] = dialog_error("not a url")
result["missing"] = dialog_error("{MISSING}")
result["bad"] = [dialog_error(url) for url in {bad}]
shot("import-error")
page.fill("#manifest", "{MANIFEST}")
page.click("#test")
page.wait_for_selector("#test-result table")
result["test"] = rows("#test-result")
result["error after test"] = page.locator("#import-dialog .error").count()
shot("import-test")
page.click("#import")
page.wait_for_selector("#commit-link", timeout=60000)
result["progress"] = page.inner_text("#progress-text")
result["summary"] = rows("#import-summary")
result["commit"] = page.get_attribute("#commit-link", "href")
shot("import-summary")
page.click("#merge-main")
page.wait_for_selector("#merged")
result["merged"] = page.inner_text("#merged")
page.goto(ENDPOINT + "/ui/repositories/photos/imports")
page.wait_for_selector("#jobs tbody tr")
result["jobs"] = rows("#jobs")
result["bars"] = page.locator(".history rect.added").count()
shot("imports")
# A branch made from main on the repository's page.
page.goto(ENDPOINT + "/ui/repositories/photos")
page.fill('form[data-api="create-branch"] input[name="name"]', "feature/x")
page.click('form[data-api="create-branch"] button[type="submit"]')
page.wait_for_url(re.compile(r".*ref=feature%2Fx$"))
result["branch selected"] = page.locator("#ref option[selected]").inner_text()
# Any ref by its id, then the new branch deleted.
page.fill("#goto", "main~1")
page.click('form:has(#goto) button[type="submit"]')
page.wait_for_url(re.compile(r".*ref=main%7E1$"))
result["at main~1"] = page.locator("#ref option[selected]").inner_text()
page.goto(ENDPOINT + "/ui/repositories/photos?ref=feature%2Fx")
page.on("dialog", lambda dialog: dialog.accept())
page.click('form[data-api="delete-branch"] button[type="submit"]')
page.wait_for_url(ENDPOINT + "/ui/repositories/photos")
result["branches left"] = page.locator("#ref option").all_inner_texts()
"##,
        bad = serde_json::to_string(&bad).unwrap()
    );
    let seen = browser::run(&server, &script);
    let _ = functions.kill();
    let _ = functions.wait();

    // Not merged; every key, at the root, on the default import branch.
    assert_eq!(
        seen["sources"],
        json!([[
            "s3://inventory-dest/inv/photos-source/daily/",
            "—",
            "—",
            "—",
            "import-from-inventory"
        ]])
    );
    assert_eq!(
        seen["not a url"],
        json!("\"not a url\" is not an S3 URL: it must start with s3://")
    );
    assert_eq!(seen["missing"], json!(missing_message));
    assert_eq!(seen["bad"], json!(bad_messages));
    for (message, part) in
        bad_messages
            .iter()
            .zip(["someone-else", "does not match its checksum", "\"JSON\""])
    {
        assert!(message.contains(part), "{message}");
    }
    let counts = json!([
        ["added", "30"],
        ["changed", "0"],
        ["deleted", "0"],
        ["unchanged", "0"],
        ["total", "30"],
        ["skipped: noncurrent version", "0"],
        ["skipped: delete marker", "0"],
        ["skipped: incomplete row", "0"],
        ["skipped: outside prefix", "0"]
    ]);
    assert_eq!(seen["test"], counts);
    assert_eq!(seen["error after test"], json!(0));
    assert_eq!(seen["summary"], counts);
    // Files and rows out of the delivery's totals (its data files' footers tell 30).
    assert_eq!(
        seen["progress"], "committed: 4 / 4 files, 30 / 30 rows",
        "{seen}"
    );
    let import = ok_json(stack.cli().args([
        "branch",
        "show",
        "photos",
        "import-from-inventory",
        "--json",
    ]));
    let commit = import["commit"]["id"].as_str().unwrap();
    assert_eq!(
        seen["commit"],
        json!(format!("/ui/repositories/photos?ref={commit}"))
    );
    assert_eq!(
        seen["merged"],
        json!(format!(
            "Merged (fast-forward): main is at {}",
            &commit[..12]
        ))
    );
    let main = ok_json(
        stack
            .cli()
            .args(["ls", "photos", "main", "--recursive", "--json"]),
    );
    assert_eq!(main["entries"].as_array().unwrap().len(), 30);
    // The jobs, newest first: the import and the dry run (besides the failed dry runs
    // of the deliveries refused above).
    let states: Vec<&str> = seen["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[1].as_str().unwrap())
        .filter(|state| *state != "failed (dry run)")
        .collect();
    assert_eq!(states, ["committed", "dry_run_complete (dry run)"]);
    assert_eq!(seen["bars"], json!(1));
    assert_eq!(seen["branch selected"], json!("feature/x"));
    assert_eq!(seen["at main~1"], json!("main~1"));
    assert_eq!(
        seen["branches left"],
        json!(["import-from-inventory", "main"])
    );
    // Deleted: the CLI no longer finds it.
    let gone = stack
        .cli()
        .args(["branch", "show", "photos", "feature/x"])
        .output()
        .unwrap();
    assert!(!gone.status.success());
}

/// A delivery larger than the server tries itself (`DRY_RUN_IN_PROCESS_BYTES`) is tried
/// by the workers: *Test* follows the dry run until it ends and shows its counts.
#[tokio::test]
async fn a_delivery_too_large_for_the_server_is_tested_by_the_workers() {
    let stack = provisioned().await;
    stack.generate_photos(&["--objects", "25", "--created-at", "2026-11-25T01:00:00Z"]);
    let mut functions = functions(&stack);
    let server = Server::start_with(&stack, &[("DRY_RUN_IN_PROCESS_BYTES", "1")]);
    let script = format!(
        r##"
result = {{}}
login()
page.goto(ENDPOINT + "/ui/repositories/photos/imports")
page.fill("#manifest", "{MANIFEST}")
page.click("#test")
page.wait_for_selector("#test-result table", timeout=60000)
result["test"] = rows("#test-result")
result["errors"] = page.locator("#import-dialog .error").count()
"##
    );
    let seen = browser::run(&server, &script);
    let _ = functions.kill();
    let _ = functions.wait();
    assert_eq!(seen["errors"], json!(0), "{seen}");
    assert_eq!(seen["test"][0], json!(["added", "25"]), "{seen}");
    assert_eq!(seen["test"][4], json!(["total", "25"]), "{seen}");
    let jobs = ok_json(stack.cli().args(["jobs", "photos", "--json"]));
    assert_eq!(jobs[0]["state"], "dry_run_complete", "{jobs}");
    assert_eq!(jobs[0]["dry_run"], true);
    assert_eq!(jobs[0]["shards_total"], jobs[0]["shards_done"]);
}
