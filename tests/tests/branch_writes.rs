//! Users' own work on branches, through the CLI against the local stack: uploads,
//! deletions, commits and resets over an import, the source bucket never touched.

use std::collections::BTreeSet;
use std::process::Command;

use integration_tests::{LocalStack, ok_json};

fn run(command: &mut Command) -> (bool, String, String) {
    let output = command.output().expect("the CLI runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Every version of every object in a bucket: (key, version id, ETag, delete marker).
async fn versions(stack: &LocalStack, bucket: &str) -> BTreeSet<(String, String, String, bool)> {
    let output = stack
        .s3()
        .list_object_versions()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    assert!(
        !output.is_truncated().unwrap_or(false),
        "one page is enough here"
    );
    let mut all = BTreeSet::new();
    for version in output.versions() {
        all.insert((
            version.key().unwrap_or_default().to_string(),
            version.version_id().unwrap_or_default().to_string(),
            version.e_tag().unwrap_or_default().to_string(),
            false,
        ));
    }
    for marker in output.delete_markers() {
        all.insert((
            marker.key().unwrap_or_default().to_string(),
            marker.version_id().unwrap_or_default().to_string(),
            String::new(),
            true,
        ));
    }
    all
}

/// The photos repository with one import of a versioned source bucket whose objects
/// exist, merged into `main`.
async fn imported(stack: &LocalStack, objects: u64) {
    stack.imported_photos(objects, true).await;
}

/// Objects uploaded to the repository's storage namespace.
async fn stored(stack: &LocalStack) -> usize {
    stack
        .list_keys("catalog-storage", "photos/data/")
        .await
        .len()
}

#[tokio::test]
async fn users_upload_delete_commit_and_reset_on_a_branch_and_the_source_never_changes() {
    let stack = LocalStack::start().await;
    imported(&stack, 40).await;
    let cli = || stack.cli();
    let source_before = versions(&stack, "photos-source").await;
    assert!(
        source_before.len() > 40,
        "a versioned source: {}",
        source_before.len()
    );

    ok_json(cli().args(["branch", "create", "photos", "edits", "--json"]));
    let imported = stack.photos_paths("main");
    assert_eq!(imported.len(), 40);
    let head = ok_json(cli().args(["branch", "show", "photos", "edits", "--json"]))["commit"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // A new file, an imported path overwritten, an imported path deleted.
    let dir = tempfile::tempdir().unwrap();
    let new_file = dir.path().join("hello.txt");
    std::fs::write(&new_file, b"hello, branch\n").unwrap();
    let replacement = dir.path().join("replacement.bin");
    std::fs::write(&replacement, vec![7u8; 3000]).unwrap();
    let uploaded = ok_json(cli().args([
        "upload",
        "photos",
        "edits",
        "notes/hello.txt",
        new_file.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(uploaded["size"], 14);
    assert!(
        uploaded["address"]
            .as_str()
            .unwrap()
            .starts_with("s3://catalog-storage/photos/data/"),
        "{uploaded}"
    );
    let (overwritten, deleted) = (&imported[0], &imported[1]);
    ok_json(cli().args([
        "upload",
        "photos",
        "edits",
        overwritten,
        replacement.to_str().unwrap(),
        "--json",
    ]));
    let removed = ok_json(cli().args(["rm", "photos", "edits", deleted, "--json"]));
    assert_eq!(removed["removed"], serde_json::json!([deleted]));

    // The branch sees its changes; main and the branch's commit do not.
    let edits = stack.photos_paths("edits");
    let mut expected: Vec<String> = imported
        .iter()
        .filter(|p| *p != deleted)
        .cloned()
        .chain(["notes/hello.txt".to_string()])
        .collect();
    expected.sort();
    assert_eq!(edits, expected);
    assert_eq!(stack.photos_paths(&head), imported);
    assert_eq!(stack.photos_paths("main"), imported);
    let stat = ok_json(cli().args(["stat", "photos", "edits", overwritten, "--json"]));
    assert_eq!(stat["size"], 3000);
    let (ok, _, stderr) = run(cli().args(["stat", "photos", "edits", deleted]));
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        format!("error: {deleted:?} does not exist at edits in repository photos")
    );
    let (ok, bytes, _) = run(cli().args(["cat", "photos", "edits", "notes/hello.txt"]));
    assert!(ok);
    assert_eq!(bytes, "hello, branch\n");

    // diff with one branch lists the uncommitted changes.
    let (ok, text, _) = run(cli().args(["diff", "photos", "edits"]));
    assert!(ok);
    let mut lines = [
        format!("~ {overwritten}"),
        format!("- {deleted}"),
        "+ notes/hello.txt".to_string(),
    ];
    lines.sort_by(|a, b| a[2..].cmp(&b[2..]));
    assert_eq!(
        text,
        format!("{}\n1 added, 1 removed, 1 changed\n", lines.join("\n"))
    );

    // Commit: a new commit with the metadata, no change left, main untouched.
    let committed = ok_json(cli().args([
        "commit",
        "photos",
        "edits",
        "-m",
        "fix two photos",
        "--meta",
        "ticket=42",
        "--json",
    ]));
    assert_eq!(committed["changes"], 3);
    assert_eq!(committed["commit"]["parents"], serde_json::json!([head]));
    assert_eq!(committed["commit"]["metadata"]["ticket"], "42");
    let (ok, text, _) = run(cli().args(["diff", "photos", "edits"]));
    assert!(ok);
    assert_eq!(text, "0 added, 0 removed, 0 changed\n");
    let commit = committed["commit"]["id"].as_str().unwrap();
    assert_eq!(stack.photos_paths(commit), expected);
    let (ok, bytes, _) = run(cli().args(["cat", "photos", commit, "notes/hello.txt"]));
    assert!(ok);
    assert_eq!(bytes, "hello, branch\n");
    let diff = ok_json(cli().args(["diff", "photos", "main", "edits", "--json"]));
    assert_eq!(
        diff["summary"],
        serde_json::json!({"added": 1, "removed": 1, "changed": 1, "ranges_skipped": diff["summary"]["ranges_skipped"]})
    );
    let (ok, _, stderr) = run(cli().args(["commit", "photos", "edits", "-m", "again"]));
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "error: branch edits of repository photos has no uncommitted changes"
    );

    // A recursive deletion, then reset: the branch is as committed again.
    let removed = ok_json(cli().args(["rm", "photos", "edits", "notes/", "--recursive", "--json"]));
    assert_eq!(removed["removed"], serde_json::json!(["notes/hello.txt"]));
    let (ok, text, _) = run(cli().args(["diff", "photos", "edits"]));
    assert!(ok);
    assert_eq!(text, "- notes/hello.txt\n0 added, 1 removed, 0 changed\n");
    assert_eq!(
        ok_json(cli().args(["reset", "photos", "edits", "--json"]))["discarded"],
        1
    );

    // An upload reset before any commit: discarded, and its bytes removed.
    let before_upload = stored(&stack).await;
    ok_json(cli().args([
        "upload",
        "photos",
        "edits",
        "drafts/tmp.txt",
        new_file.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(stored(&stack).await, before_upload + 1);
    let reset = ok_json(cli().args(["reset", "photos", "edits", "--json"]));
    assert_eq!(reset["discarded"], 1);
    assert_eq!(stored(&stack).await, before_upload);
    let (ok, _, _) = run(cli().args(["stat", "photos", "edits", "drafts/tmp.txt"]));
    assert!(!ok);

    // The source bucket: every version as it was.
    assert_eq!(versions(&stack, "photos-source").await, source_before);
}

#[tokio::test]
async fn bad_writes_get_a_named_error_and_change_nothing() {
    let stack = LocalStack::start().await;
    imported(&stack, 10).await;
    let cli = || stack.cli();
    ok_json(cli().args(["branch", "create", "photos", "edits", "--json"]));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.txt");
    std::fs::write(&file, b"a").unwrap();
    let file = file.to_str().unwrap();
    let main = ok_json(cli().args(["branch", "show", "photos", "main", "--json"]))["commit"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let long_key = "k".repeat(1025);
    let missing = dir.path().join("missing.txt");
    let missing = missing.to_str().unwrap();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["upload", "photos", "import-from-inventory", "x", file],
            "error: branch import-from-inventory of repository photos changes only by imports: uploading is refused (branch off it, or merge it into a branch of your own)".into(),
        ),
        (
            vec!["rm", "photos", "import-from-inventory", "x"],
            "error: branch import-from-inventory of repository photos changes only by imports: deleting is refused (branch off it, or merge it into a branch of your own)".into(),
        ),
        (
            vec!["reset", "photos", "import-from-inventory"],
            "error: branch import-from-inventory of repository photos changes only by imports: resetting is refused (branch off it, or merge it into a branch of your own)".into(),
        ),
        (
            vec!["commit", "photos", "import-from-inventory", "-m", "m"],
            "error: branch import-from-inventory of repository photos changes only by imports: committing is refused (branch off it, or merge it into a branch of your own)".into(),
        ),
        (
            vec!["upload", "photos", &main, "x", file],
            format!("error: {main:?} is commit {main} of repository photos, not a branch: only branches take writes"),
        ),
        (
            vec!["upload", "photos", "nope", "x", file],
            "error: branch nope does not exist in repository photos".into(),
        ),
        (
            vec!["upload", "photos", "edits", &long_key, file],
            format!("error: invalid path \"{}…\": it is 1025 bytes long, and a path is at most 1024 bytes (as an S3 key)", "k".repeat(60)),
        ),
        (
            vec!["upload", "photos", "edits", "", file],
            "error: invalid path \"\": a path must not be empty".into(),
        ),
        (
            vec!["upload", "photos", "edits", "x", missing],
            format!("error: reading {missing}: No such file or directory (os error 2)"),
        ),
        (
            vec!["rm", "photos", "edits", "not/there"],
            "error: \"not/there\" does not exist at edits in repository photos".into(),
        ),
    ];
    for (args, expected) in &cases {
        let (ok, _, stderr) = run(cli().args(args));
        assert!(!ok, "{args:?} succeeded");
        assert_eq!(stderr.trim(), expected, "{args:?}");
    }
    let (ok, _, _) = run(cli().args(["diff", "photos", "edits"]));
    assert!(ok);
    assert_eq!(
        ok_json(cli().args(["diff", "photos", "edits", "--json"]))["summary"]["added"],
        0
    );
    assert_eq!(
        stack
            .list_keys("catalog-storage", "photos/data/")
            .await
            .len(),
        0
    );

    // A merge into a branch with uncommitted changes is refused; main is unchanged.
    ok_json(cli().args(["upload", "photos", "main", "wip.txt", file, "--json"]));
    let (ok, _, stderr) = run(cli().args(["merge", "photos", "edits", "main"]));
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "error: branch main of repository photos has uncommitted changes: commit or reset them before merging into it"
    );
    let (ok, _, stderr) = run(cli().args(["merge", "photos", "main", "import-from-inventory"]));
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "error: branch import-from-inventory of repository photos changes only by imports: merging into it is refused (branch off it, or merge it into a branch of your own)"
    );
    assert_eq!(
        ok_json(cli().args(["branch", "show", "photos", "main", "--json"]))["commit"]["id"],
        main.as_str()
    );
}

#[tokio::test]
async fn a_large_upload_goes_in_parts_and_reads_back_whole() {
    let stack = LocalStack::start().await;
    imported(&stack, 5).await;
    let cli = || stack.cli();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.bin");
    let bytes: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    let entry = ok_json(cli().args([
        "upload",
        "photos",
        "main",
        "big/big.bin",
        file.to_str().unwrap(),
        "--part-size",
        &(5 << 20).to_string(),
        "--json",
    ]));
    assert_eq!(entry["size"], 12 * 1024 * 1024);
    assert!(entry["etag"].as_str().unwrap().ends_with("-3"), "{entry}");
    let output = cli()
        .args(["cat", "photos", "main", "big/big.bin"])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(output.stdout == bytes, "the bytes read back differ");
    ok_json(cli().args(["commit", "photos", "main", "-m", "big", "--json"]));
    let output = cli()
        .args(["cat", "photos", "main", "big/big.bin"])
        .output()
        .unwrap();
    assert!(output.stdout == bytes);
}

/// Items of a branch's uncommitted changes in the catalog table, garbage included.
async fn change_items(stack: &LocalStack, branch: &str) -> usize {
    let output = stack
        .dynamo()
        .scan()
        .table_name("inventory-import-catalog")
        .send()
        .await
        .unwrap();
    output
        .items()
        .iter()
        .filter(|item| {
            item.get("pk")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|pk| pk.starts_with(&format!("changes#photos#{branch}#")))
        })
        .count()
}

/// `commit` through `proxy`, SIGKILLed while the proxy holds its `call`-th `operation`.
async fn commit_killed_at(
    stack: &LocalStack,
    proxy: &integration_tests::faults::FaultProxy,
    operation: &str,
    call: u64,
) {
    use integration_tests::faults::{Fault, When};
    proxy.clear();
    let before = proxy.calls(operation);
    proxy.inject(
        operation,
        Fault::Delay(std::time::Duration::from_secs(120)),
        When::Calls(vec![before + call]),
    );
    let mut committing = stack
        .cli()
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .args(["commit", "photos", "edits", "-m", "interrupted"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let reached = proxy
        .wait_for_calls(operation, before + call, std::time::Duration::from_secs(30))
        .await;
    committing.kill().unwrap(); // SIGKILL
    committing.wait().unwrap();
    assert!(reached, "the commit never reached {operation} #{call}");
}

#[tokio::test]
async fn a_commit_killed_before_or_after_moving_the_branch_loses_no_change_and_applies_none_twice()
{
    let stack = LocalStack::start().await;
    imported(&stack, 10).await;
    let cli = || stack.cli();
    ok_json(cli().args(["branch", "create", "photos", "edits", "--json"]));
    let imported = stack.photos_paths("edits");
    let head = || {
        ok_json(
            stack
                .cli()
                .args(["branch", "show", "photos", "edits", "--json"]),
        )["commit"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let start = head();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.txt");
    std::fs::write(&file, b"f").unwrap();
    let file = file.to_str().unwrap();
    ok_json(cli().args(["upload", "photos", "edits", "new/a.txt", file, "--json"]));
    ok_json(cli().args(["upload", "photos", "edits", "new/b.txt", file, "--json"]));
    ok_json(cli().args(["rm", "photos", "edits", &imported[0], "--json"]));
    let expected = stack.photos_paths("edits");
    let proxy = integration_tests::faults::FaultProxy::start(&stack.endpoint).await;

    // Killed after sealing the changes, before moving the branch: nothing moved, and
    // every change is still there.
    commit_killed_at(&stack, &proxy, "UpdateItem", 2).await;
    assert_eq!(head(), start);
    let pending = ok_json(cli().args(["diff", "photos", "edits", "--json"]));
    assert_eq!(
        pending["summary"],
        serde_json::json!({"added": 2, "removed": 1, "changed": 0, "ranges_skipped": 0})
    );
    assert_eq!(stack.photos_paths("edits"), expected);
    // The next commit commits them, once.
    let committed = ok_json(cli().args(["commit", "photos", "edits", "-m", "again", "--json"]));
    assert_eq!(committed["changes"], 3);
    let log = ok_json(cli().args(["log", "photos", "edits", "--json"]));
    assert_eq!(
        log[1]["id"],
        start.as_str(),
        "one commit on top of the start"
    );
    assert_eq!(stack.photos_paths("edits"), expected);

    // Killed after moving the branch, before deleting the committed changes' items:
    // the commit holds them, no change shows as uncommitted, and nothing commits twice.
    ok_json(cli().args(["upload", "photos", "edits", "new/c.txt", file, "--json"]));
    commit_killed_at(&stack, &proxy, "BatchWriteItem", 1).await;
    let moved = head();
    assert_ne!(moved, committed["commit"]["id"].as_str().unwrap());
    let (ok, _, stderr) = run(cli().args(["commit", "photos", "edits", "-m", "twice?"]));
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "error: branch edits of repository photos has no uncommitted changes"
    );
    assert_eq!(head(), moved);
    let listed = stack.photos_paths("edits");
    assert!(listed.contains(&"new/c.txt".to_string()));
    // What the killed commit left is removed by the next reset.
    assert!(change_items(&stack, "edits").await > 0);
    ok_json(cli().args(["reset", "photos", "edits", "--json"]));
    assert_eq!(change_items(&stack, "edits").await, 0);
}
