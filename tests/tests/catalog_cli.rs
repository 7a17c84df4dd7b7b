//! The catalog commands of `inventory-import`, and DuckDB reading a commit's tree.

use std::collections::BTreeMap;
use std::process::Command;

use integration_tests::{LocalStack, ok_json, workspace_root};

use inventory_catalog::catalog::CommitInfo;
use inventory_catalog::tree::{Entry, RangeParams};

fn run(command: &mut Command) -> (bool, String, String) {
    let output = command.output().expect("the command runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn entry(path: &str, etag: &str, version: Option<&str>) -> Entry {
    Entry {
        path: path.to_string(),
        address: format!("s3://source/{path}"),
        version_id: version.map(str::to_string),
        size: 42,
        etag: etag.to_string(),
        last_modified_ms: 1_764_032_400_000,
        storage_class: Some("STANDARD".into()),
    }
}

#[tokio::test]
async fn catalog_commands_and_duckdb() {
    let stack = LocalStack::start().await;
    stack.create_bucket("catalog-storage").await;
    let cli = || {
        let mut command = stack.cli();
        command.env("CATALOG_TABLE", "catalog-test");
        command
    };
    assert_eq!(
        ok_json(cli().args(["dev", "init", "--json"]))["names"]["catalog_table"],
        "catalog-test"
    );
    let repo = ok_json(cli().args([
        "repo",
        "create",
        "photos",
        "s3://catalog-storage/photos",
        "--json",
    ]));
    assert_eq!(repo["default_branch"], "main");
    let (ok, _, stderr) =
        run(cli().args(["repo", "create", "photos", "s3://catalog-storage/photos"]));
    assert!(!ok);
    assert_eq!(stderr.trim_end(), "error: repository photos already exists");

    // Commit through the library (imports do this), with many small ranges.
    let catalog =
        inventory_catalog::catalog::Catalog::new(stack.dynamo(), "catalog-test", stack.store())
            .with_range_params(RangeParams {
                min_entries: 3,
                split_modulus: 8,
                max_entries: 20,
            });
    let mut model = BTreeMap::new();
    for i in 0..150 {
        let path = format!("albums/{:02}/photo {i:03}.jpg", i % 7);
        model.insert(
            path.clone(),
            entry(&path, &format!("{i:032x}"), (i % 3 == 0).then_some("v1")),
        );
    }
    model.insert("README".into(), entry("README", "r", None));
    catalog
        .commit_entries(
            "photos",
            "main",
            model.values().cloned(),
            CommitInfo {
                message: "Import from source".into(),
                committer: "importer".into(),
                metadata: BTreeMap::from([("added".to_string(), "151".to_string())]),
            },
        )
        .await
        .unwrap();

    let log = ok_json(cli().args(["log", "photos", "main", "--json"]));
    assert_eq!(log.as_array().unwrap().len(), 2);
    assert_eq!(log[0]["message"], "Import from source");
    assert_eq!(log[0]["metadata"]["added"], "151");
    let head = log[0]["id"].as_str().unwrap().to_string();

    let top = ok_json(cli().args(["ls", "photos", "main", "--json"]));
    assert_eq!(top["common_prefixes"], serde_json::json!(["albums/"]));
    assert_eq!(top["entries"].as_array().unwrap().len(), 1);
    let (ok, text, _) = run(cli().args(["ls", "photos", "main", "albums/"]));
    assert!(ok);
    assert_eq!(text.lines().count(), 7);
    assert!(text.lines().all(|l| l.trim_start().starts_with("PREFIX")));

    let stat = ok_json(cli().args([
        "stat",
        "photos",
        &head[..12],
        "albums/03/photo 003.jpg",
        "--json",
    ]));
    assert_eq!(stat["address"], "s3://source/albums/03/photo 003.jpg");
    assert_eq!(stat["version_id"], "v1");
    let (ok, _, stderr) = run(cli().args(["stat", "photos", "main", "nope"]));
    assert!(!ok);
    assert_eq!(
        stderr.trim_end(),
        "error: \"nope\" does not exist at main in repository photos"
    );

    // A branch, a change on it, a diff and a merge back.
    ok_json(cli().args(["branch", "create", "photos", "edits", "--json"]));
    model.remove("README");
    model.insert(
        "albums/00/photo 000.jpg".into(),
        entry("albums/00/photo 000.jpg", "changed", None),
    );
    catalog
        .commit_entries(
            "photos",
            "edits",
            model.values().cloned(),
            CommitInfo::default(),
        )
        .await
        .unwrap();
    let (ok, diff, stderr) = run(cli().args(["diff", "photos", "main", "edits"]));
    assert!(ok, "{stderr}");
    // Byte order: "README" sorts before "albums/".
    assert_eq!(
        diff,
        "- README\n~ albums/00/photo 000.jpg\n0 added, 1 removed, 1 changed\n"
    );
    let diff_json = ok_json(cli().args(["diff", "photos", "main", "edits", "--json"]));
    assert_eq!(diff_json["summary"]["removed"], 1);
    assert_eq!(diff_json["changes"][0]["kind"], "removed");
    assert_eq!(diff_json["changes"][1]["right"]["etag"], "changed");
    let merged = ok_json(cli().args(["merge", "photos", "edits", "main", "--json"]));
    assert_eq!(merged["result"], "fast-forward");
    let branches = ok_json(cli().args(["branch", "list", "photos", "--json"]));
    assert_eq!(branches[0]["commit_id"], branches[1]["commit_id"]);
    let shown = ok_json(cli().args(["branch", "show", "photos", "main", "--json"]));
    assert_eq!(shown["commit"]["id"], branches[0]["commit_id"]);
    assert_eq!(shown["commit"]["parents"][0], head.as_str());

    // DuckDB reads the commit's range files and finds exactly what `ls -r` lists.
    let listed = ok_json(cli().args(["ls", "photos", "main", "--recursive", "--json"]));
    let listed: Vec<Entry> = serde_json::from_value(listed["entries"].clone()).unwrap();
    assert_eq!(listed.len(), 150);
    let tree = ok_json(cli().args(["tree", "photos", "main", "--json"]));
    let ranges = tree["ranges"].as_array().unwrap();
    assert!(ranges.len() > 5, "{} ranges", ranges.len());
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, range) in ranges.iter().enumerate() {
        let url: inventory_base::S3Url = range["url"].as_str().unwrap().parse().unwrap();
        let path = dir.path().join(format!("{i}.parquet"));
        std::fs::write(&path, stack.get(&url).await).unwrap();
        files.push(path.display().to_string());
    }
    let query = "import duckdb, json, sys\n\
        files = ', '.join(\"'%s'\" % f for f in sys.argv[1:])\n\
        rows = duckdb.sql('select path, coalesce(address, concat(\\'s3://\\', address_bucket, \\'/\\', path)), \
        version_id, size, etag, epoch_ms(last_modified), storage_class \
        from read_parquet([%s]) order by path' % files).fetchall()\n\
        json.dump([dict(path=r[0], address=r[1], version_id=r[2], size=r[3], etag=r[4], last_modified_ms=r[5], \
        storage_class=r[6]) for r in rows], sys.stdout)";
    let (ok, stdout, stderr) = run(Command::new(workspace_root().join(".venv/bin/python"))
        .args(["-c", query])
        .args(&files));
    assert!(ok, "duckdb: {stderr}");
    let from_duckdb: Vec<Entry> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(from_duckdb, listed);

    // `tree --verify` reads every range file and checks it against its id; a range
    // file rewritten (by anyone who can write to the namespace) is named.
    let verified = ok_json(cli().args(["tree", "photos", "main", "--verify", "--json"]));
    assert_eq!(verified["verified"], true);
    let tampered: inventory_base::S3Url = ranges[2]["url"].as_str().unwrap().parse().unwrap();
    stack
        .put(
            &tampered,
            stack
                .get(&ranges[3]["url"].as_str().unwrap().parse().unwrap())
                .await,
        )
        .await;
    let (ok, _, stderr) = run(cli().args(["tree", "photos", "main", "--verify"]));
    assert!(!ok);
    assert!(
        stderr.starts_with(&format!(
            "error: tree file {tampered} is damaged: its entries have id "
        )),
        "{stderr}"
    );
}
