//! The JSON API under `/api/v1` fuzzed by schemathesis from its own OpenAPI document,
//! logged in: no operation answers with a server error, and every answer matches the
//! schema the document gives for its status.

use std::process::{Command, Stdio};
use std::time::Instant;

use integration_tests::serve::Server;
use integration_tests::{LocalStack, ok_json, workspace_root};
use serde_json::Value;

/// Test cases per operation and phase, and the seed that makes a run repeatable.
const MAX_EXAMPLES: &str = "25";
const SEED: &str = "20261125";

/// What the run starts from: a session (its cookie, `name=value`, and CSRF token).
struct Session {
    cookie: String,
    csrf: String,
    /// The commit `main` of `photos` is at.
    main_commit: String,
}

/// Logs in with the server's key; creates `scratch`, a repository, and `doomed`, a
/// branch of `photos`, there to be deleted, and `fuzz`, a branch to write to.
fn login(server: &Server) -> Session {
    let script = format!(
        r#"
import json, urllib.request
base = "{endpoint}/api/v1"
def call(method, path, body, headers):
    request = urllib.request.Request(base + path, data=json.dumps(body).encode() if body is not None else None,
        method=method, headers=dict(headers, **{{"content-type": "application/json"}}))
    response = urllib.request.urlopen(request)
    return response, json.loads(response.read())
response, session = call("POST", "/auth/login",
    {{"access_key_id": "{key}", "secret_access_key": "{secret}"}}, {{}})
cookie = response.headers["set-cookie"].split(";")[0]
headers = {{"cookie": cookie, "x-csrf-token": session["csrf_token"]}}
call("POST", "/repositories", {{"name": "scratch", "storage_namespace": "s3://photos-source/scratch"}}, headers)
for branch in ["fuzz", "doomed"]:
    call("POST", "/repositories/photos/branches", {{"name": branch, "source": "main"}}, headers)
_, main = call("GET", "/repositories/photos/refs/main", None, headers)
print(json.dumps({{"cookie": cookie, "csrf": session["csrf_token"], "main": main}}))
"#,
        endpoint = server.endpoint,
        key = server.key_id,
        secret = server.secret,
    );
    let output = server.python().arg("-c").arg(script).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let session: Value = serde_json::from_slice(&output.stdout).unwrap();
    let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
    let cookie = text(&session["cookie"]);
    assert!(cookie.starts_with("inventory_session="), "{session}");
    let main_commit = session["main"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("GET /refs/main answered {}", session["main"]))
        .to_string();
    Session {
        cookie,
        csrf: text(&session["csrf"]),
        main_commit,
    }
}

/// schemathesis's configuration: path, query and body parameters naming what exists
/// (repositories, refs, paths, import jobs) most of the time, so that operations get
/// past their 404s; the deleting operations draw only what is there to be deleted (or
/// refused).
fn config(paths: &[String], main_commit: &str, jobs: &[String]) -> String {
    let list = |values: &[&str]| serde_json::to_string(values).expect("strings serialize");
    let branches = ["main", "import-from-inventory", "fuzz"];
    let refs = ["main", "import-from-inventory", "fuzz", main_commit];
    let mut objects: Vec<&str> = paths.iter().map(String::as_str).collect();
    objects.push("new/a.txt");
    format!(
        r#"
[dictionaries.repositories]
values = {repositories}
[dictionaries.branches]
values = {branches}
[dictionaries.refs]
values = {refs}
[dictionaries.objects]
values = {objects}
[dictionaries.jobs]
values = {jobs}
[dictionaries.scratch]
values = ["scratch"]
[dictionaries.deletable]
values = ["doomed", "main"]

[parameters]
"path.repository" = {{ dictionary = "repositories", probability = 0.8 }}
"path.branch" = {{ dictionary = "branches", probability = 0.8 }}
"path.ref" = {{ dictionary = "refs", probability = 0.8 }}
"path.job" = {{ dictionary = "jobs", probability = 0.8 }}
"query.path" = {{ dictionary = "objects", probability = 0.8 }}
"query.prefix" = {{ dictionary = "objects", probability = 0.3 }}
"query.after" = {{ dictionary = "objects", probability = 0.3 }}
"query.left" = {{ dictionary = "refs", probability = 0.8 }}
"query.right" = {{ dictionary = "refs", probability = 0.8 }}
"body.source" = {{ dictionary = "refs", probability = 0.8 }}
"body.path" = {{ dictionary = "objects", probability = 0.5 }}

[[operations]]
include-operation-id = "delete_repository"
parameters = {{ "path.repository" = {{ dictionary = "scratch", probability = 1.0 }} }}

[[operations]]
include-operation-id = "delete_branch"
parameters = {{ "path.branch" = {{ dictionary = "deletable", probability = 0.8 }} }}
"#,
        repositories = list(&["photos"]),
        branches = list(&branches),
        refs = list(&refs),
        objects = list(&objects),
        jobs = list(&jobs.iter().map(String::as_str).collect::<Vec<_>>()),
    )
}

/// The number before `word` in the summary's test cases (`Test cases:` and, on the
/// next line, `1234 generated, 1234 passed`).
fn count(output: &str, word: &str) -> Option<u64> {
    let mut lines = output.lines().map(str::trim);
    lines.find(|line| *line == "Test cases:")?;
    let line = lines.find(|line| !line.is_empty())?;
    let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    words
        .windows(2)
        .find(|pair| pair[1] == word)
        .and_then(|pair| pair[0].parse().ok())
}

/// What schemathesis printed from its failures to its summary, if it found any.
fn failures(output: &str) -> &str {
    let start = output.find("= FAILURES =").unwrap_or(output.len());
    let end = output
        .find("= SUMMARY =")
        .unwrap_or(output.len())
        .max(start);
    &output[start..end]
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_schema() {
    let stack = LocalStack::start().await;
    stack.imported_photos(5, false).await;
    let server = Server::start(&stack);
    let paths = stack.photos_paths("main");
    // Jobs to read and cancel: the import that committed, and one that stays staging
    // (no worker runs), which a cancel ends.
    stack.generate_photos(&[
        "--objects",
        "5",
        "--created-at",
        "2026-11-26T01:00:00Z",
        "--seed",
        "2",
    ]);
    let manifest = "s3://inventory-dest/inv/photos-source/daily/2026-11-26T01-00Z/manifest.json";
    let staging = ok_json(
        stack
            .cli()
            .args(["import", "photos", "--manifest", manifest, "--json"]),
    );
    assert_eq!(staging["state"], "staging", "{staging}");
    let jobs: Vec<String> = ok_json(stack.cli().args(["jobs", "photos", "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    let session = login(&server);
    let schemathesis = workspace_root().join(".venv/bin/schemathesis");
    assert!(
        schemathesis.exists(),
        "{} is missing: run `make setup` first",
        schemathesis.display()
    );
    let base = format!("{}/api/v1", server.endpoint);
    // Reports and caches land in a directory of the test's own.
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("schemathesis.toml");
    std::fs::write(&config_file, config(&paths, &session.main_commit, &jobs)).unwrap();
    let args = [
        "--config-file".to_string(),
        config_file.display().to_string(),
        "run".to_string(),
        format!("{base}/openapi.json"),
        "--url".to_string(),
        base.clone(),
        "--checks".to_string(),
        "not_a_server_error,response_schema_conformance".to_string(),
        // Logging out would end the session for the rest of the run.
        "--exclude-operation-id".to_string(),
        "logout".to_string(),
        "--max-examples".to_string(),
        MAX_EXAMPLES.to_string(),
        "--seed".to_string(),
        SEED.to_string(),
        "--workers".to_string(),
        "1".to_string(),
        "--generation-database".to_string(),
        "none".to_string(),
        "--no-color".to_string(),
        "--output-sanitize".to_string(),
        "false".to_string(),
        "--header".to_string(),
        format!("Cookie: {}", session.cookie),
        "--header".to_string(),
        format!("X-CSRF-Token: {}", session.csrf),
    ];
    let started = Instant::now();
    let output = Command::new(&schemathesis)
        .args(&args)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("schemathesis runs");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let quoted: Vec<String> = args
        .iter()
        .map(|arg| {
            if arg.contains(' ') {
                format!("'{arg}'")
            } else {
                arg.clone()
            }
        })
        .collect();
    println!("schemathesis {}", quoted.join(" "));
    println!("{stdout}{stderr}");
    println!("schemathesis ran for {:.1} s", elapsed.as_secs_f64());
    let generated = count(&stdout, "generated");
    let passed = count(&stdout, "passed");
    println!("test cases: {generated:?} generated, {passed:?} passed");
    let staged = ok_json(stack.cli().args([
        "status",
        "photos",
        staging["id"].as_str().unwrap_or_default(),
        "--json",
    ]));
    println!(
        "the staging job after the run: {} (cancelled by {})",
        staged["state"], staged["cancelled_by"]
    );
    assert!(
        output.status.success(),
        "schemathesis failed ({}):\n{}{stderr}",
        output.status,
        failures(&stdout)
    );
    assert!(
        generated.is_some_and(|n| n > 0) && passed.is_some_and(|n| n > 0),
        "schemathesis ran no test case"
    );
}
