//! Sources scoped the way users organise buckets: a key prefix, a repository path and an
//! import branch of their own, so that two buckets land side by side in one repository
//! and merge into `main`; and sources that are refused.

use std::time::Duration;

use chrono::{DateTime, Utc};
use integration_tests::{LocalStack, as_tree, ok_json};
use serde_json::json;

use inventory_catalog::tree::Entry;
use inventory_delivery::InventoryEntry;
use inventory_devtools::generator::{GeneratorOptions, generate_inventory};
use inventory_importer::jobs::{Job, JobState};
use inventory_importer::pipeline::Pipeline;
use inventory_runtime::handlers::Handlers;
use inventory_runtime::local::LocalRunner;
use inventory_runtime::resources::ResourceNames;

const DEST: &str = "inventory-dest";
const REPO: &str = "photos";

/// The stack provisioned as a user would (`dev init`, `repo create`), a file of the
/// user's committed on `main`, and the three functions' runner.
async fn start() -> (LocalStack, LocalRunner) {
    let stack = LocalStack::start().await;
    stack.photos_repository(true).await;
    let notes = std::env::temp_dir().join(format!("notes-{}.txt", std::process::id()));
    std::fs::write(&notes, "kept by every import\n").unwrap();
    ok_json(stack.cli().args([
        "upload",
        REPO,
        "main",
        "notes/readme.txt",
        notes.to_str().unwrap(),
        "--json",
    ]));
    ok_json(
        stack
            .cli()
            .args(["commit", REPO, "main", "-m", "notes", "--json"]),
    );
    let _ = std::fs::remove_file(&notes);
    let mut handlers = Handlers::from_config(&stack.config, ResourceNames::default())
        .await
        .unwrap();
    handlers.pipeline.shard_bytes = 1;
    handlers.pipeline.catalog = handlers
        .pipeline
        .catalog
        .clone()
        .with_range_params(integration_tests::small_ranges());
    let mut runner = LocalRunner::new(handlers).await.unwrap();
    runner.retry_delay = Duration::ZERO;
    (stack, runner)
}

fn options(bucket: &str, created_at: &str, objects: u64, seed: u64) -> GeneratorOptions {
    let mut options = GeneratorOptions::new(format!("s3://{DEST}/inv").parse().unwrap(), bucket);
    options.objects = objects;
    options.files = 2;
    options.seed = seed;
    options.collect_expected = true;
    options.created_at = created_at.parse::<DateTime<Utc>>().unwrap();
    options
}

/// What a source of `bucket` with `prefix` at `path` must put in the tree.
fn scoped(bucket: &str, prefix: &str, path: &str, expected: &[InventoryEntry]) -> Vec<Entry> {
    let under: Vec<InventoryEntry> = expected
        .iter()
        .filter(|e| e.key.starts_with(prefix))
        .cloned()
        .collect();
    as_tree(bucket, &under)
        .into_iter()
        .map(|mut e| {
            e.path = format!("{path}{}", e.path);
            e
        })
        .collect()
}

async fn entries(pipeline: &Pipeline, reference: &str) -> Vec<Entry> {
    integration_tests::entries_at(pipeline, REPO, reference).await
}

fn assert_same_tree(actual: &[Entry], expected: &[Entry]) {
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(a, e, "entry {i}");
    }
    assert_eq!(actual.len(), expected.len(), "entries");
}

async fn job_of(pipeline: &Pipeline, bucket: &str, created: &str) -> Job {
    let jobs = pipeline.jobs.list(REPO).await.unwrap();
    jobs.into_iter()
        .find(|j| j.source_bucket == bucket && j.inventory_created_at.starts_with(created))
        .unwrap_or_else(|| panic!("no job for {bucket} {created}"))
}

fn cli_error(stack: &LocalStack, args: &[&str]) -> String {
    let output = stack.cli().args(args).output().unwrap();
    assert!(!output.status.success(), "{args:?} succeeded");
    String::from_utf8(output.stderr).unwrap()
}

#[tokio::test]
async fn two_buckets_under_two_paths_with_prefixes_merge_into_main_exactly() {
    let (stack, runner) = start().await;
    let pipeline = &runner.handlers().pipeline;
    let photos = ok_json(stack.cli().args([
        "source",
        "add",
        REPO,
        "--inventory",
        &format!("s3://{DEST}/inv/photos-source/daily"),
        "--prefix",
        "media/",
        "--path",
        "raw/photos",
        "--merge-into",
        "main",
        "--json",
    ]));
    assert_eq!(photos["path"], "raw/photos/");
    assert_eq!(photos["prefix"], "media/");
    assert_eq!(photos["branch"], "import-from-inventory");
    let logs = ok_json(stack.cli().args([
        "source",
        "add",
        REPO,
        "--inventory",
        &format!("s3://{DEST}/inv/logs-source/daily"),
        "--prefix",
        "logs/",
        "--path",
        "raw/logs/",
        "--branch",
        "import-logs",
        "--merge-into",
        "main",
        "--json",
    ]));
    assert_eq!(logs["branch"], "import-logs");

    // Two sources of one repository never share a branch, and no source imports on a
    // branch users write.
    let third_on = |branch: &str| {
        cli_error(
            &stack,
            &[
                "source",
                "add",
                REPO,
                "--inventory",
                &format!("s3://{DEST}/inv/third-source/daily"),
                "--branch",
                branch,
            ],
        )
    };
    assert!(
        third_on("import-logs").contains(&format!(
            "branch import-logs of repository {REPO} already takes the imports of s3://{DEST}/inv/logs-source/daily/: give this source a --branch of its own, so that their imports never race"
        ))
    );
    assert!(
        third_on("main").contains(&format!(
            "branch main of repository {REPO} is written by users, not by imports: give the source another --branch"
        ))
    );

    let store = stack.store();
    let day1_photos = generate_inventory(
        &store,
        &options("photos-source", "2026-11-20T01:00:00Z", 400, 1),
    )
    .await
    .unwrap();
    let day1_logs = generate_inventory(
        &store,
        &options("logs-source", "2026-11-20T02:00:00Z", 300, 2),
    )
    .await
    .unwrap();
    let stats = runner.run(true).await.unwrap();
    assert_eq!(stats.failures, 0, "{stats:?}");

    let photos_part = scoped(
        "photos-source",
        "media/",
        "raw/photos/",
        &day1_photos.expected,
    );
    let logs_part = scoped("logs-source", "logs/", "raw/logs/", &day1_logs.expected);
    assert!(!photos_part.is_empty() && photos_part.len() < day1_photos.expected.len());
    assert!(!logs_part.is_empty() && logs_part.len() < day1_logs.expected.len());
    let notes = entries(pipeline, "main")
        .await
        .into_iter()
        .filter(|e| e.path == "notes/readme.txt")
        .collect::<Vec<_>>();
    assert_eq!(notes.len(), 1, "the user's file is on main");

    let job = job_of(pipeline, "photos-source", "2026-11-20T01").await;
    assert_eq!(job.state, JobState::Committed);
    assert_eq!(job.scope.branch, "import-from-inventory");
    let summary = job.summary.clone().unwrap();
    assert_eq!(
        (
            summary.added,
            summary.changed,
            summary.deleted,
            summary.unchanged
        ),
        (photos_part.len() as u64, 0, 0, 0),
        "the import counts its part only: the user's file is not deleted"
    );
    assert_eq!(
        summary.skipped.outside_prefix,
        day1_photos.expected.len() as u64 - photos_part.len() as u64
    );
    let job = job_of(pipeline, "logs-source", "2026-11-20T02").await;
    assert_eq!(job.scope.branch, "import-logs");
    assert_eq!(job.summary.unwrap().added, logs_part.len() as u64);

    // Each import branch holds its part beside what it was branched from; main holds
    // both parts and the user's file.
    let mut expected: Vec<Entry> = notes
        .iter()
        .cloned()
        .chain(logs_part.iter().cloned())
        .chain(photos_part.iter().cloned())
        .collect();
    expected.sort_by(|a, b| a.path.cmp(&b.path));
    assert_same_tree(&entries(pipeline, "main").await, &expected);
    let on_logs_branch: Vec<Entry> = entries(pipeline, "import-logs")
        .await
        .into_iter()
        .filter(|e| e.path.starts_with("raw/logs/"))
        .collect();
    assert_same_tree(&on_logs_branch, &logs_part);

    // The import branches take no writes from users, whatever their name.
    assert!(
        cli_error(&stack, &["rm", REPO, "import-logs", "notes/readme.txt"]).contains(&format!(
            "branch import-logs of repository {REPO} changes only by imports"
        ))
    );

    // The next day's photos delivery: its diff concerns its part only, and main gets
    // exactly that change.
    let mut next = options("photos-source", "2026-11-21T01:00:00Z", 400, 1);
    next.changes.added = 40;
    next.changes.changed = 30;
    next.changes.deleted = 20;
    let day2_photos = generate_inventory(&store, &next).await.unwrap();
    // The operator's dry run of it, worked out in one process, takes the source's scope.
    let manifest = day2_photos.manifest.to_string();
    let preview = ok_json(
        stack
            .cli()
            .args(["inspect", &manifest, "--against", REPO, "--json"]),
    );
    assert_eq!(
        (
            &preview["prefix"],
            &preview["path"],
            &preview["import_branch"],
            &preview["branch"]
        ),
        (
            &json!("media/"),
            &json!("raw/photos/"),
            &json!("import-from-inventory"),
            &json!("import-from-inventory")
        )
    );
    let stats = runner.run(true).await.unwrap();
    assert_eq!(stats.failures, 0, "{stats:?}");
    let photos_part2 = scoped(
        "photos-source",
        "media/",
        "raw/photos/",
        &day2_photos.expected,
    );
    let job = job_of(pipeline, "photos-source", "2026-11-21T01").await;
    let summary = job.summary.unwrap();
    let before: std::collections::BTreeMap<&str, &Entry> =
        photos_part.iter().map(|e| (e.path.as_str(), e)).collect();
    let after: std::collections::BTreeMap<&str, &Entry> =
        photos_part2.iter().map(|e| (e.path.as_str(), e)).collect();
    let added = after.keys().filter(|p| !before.contains_key(*p)).count() as u64;
    let deleted = before.keys().filter(|p| !after.contains_key(*p)).count() as u64;
    let changed = after
        .iter()
        .filter(|(p, e)| before.get(*p).is_some_and(|b| !b.same_object(e)))
        .count() as u64;
    assert!(added > 0 && deleted > 0 && changed > 0);
    assert_eq!(
        (summary.added, summary.changed, summary.deleted),
        (added, changed, deleted)
    );
    assert_eq!(summary.total, photos_part2.len() as u64);
    assert_eq!(
        preview["summary"],
        serde_json::to_value(&summary).unwrap(),
        "inspect --against predicted the import"
    );
    // An object that did not change keeps its entry (the generator dates a later
    // delivery's rows from its own creation time).
    let kept = photos_part2
        .iter()
        .map(|e| match before.get(e.path.as_str()) {
            Some(old) if old.same_object(e) => (*old).clone(),
            _ => e.clone(),
        });
    let mut expected: Vec<Entry> = notes
        .iter()
        .cloned()
        .chain(logs_part.iter().cloned())
        .chain(kept)
        .collect();
    expected.sort_by(|a, b| a.path.cmp(&b.path));
    assert_same_tree(&entries(pipeline, "main").await, &expected);

    let listed = ok_json(stack.cli().args(["source", "list", "--json"]));
    let branches: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["branch"].as_str().unwrap())
        .collect();
    assert_eq!(branches, ["import-logs", "import-from-inventory"]);
}
