//! Imports driven the way deliveries drive them: files land in the inventory bucket,
//! S3 notifies the manifest-events queue, and the trigger, workers and committer run
//! from their queues (the core's local runner, or `inventory-import local`).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use integration_tests::{LocalStack, as_tree, aws_fixture, ok_json};
use serde_json::{Value, json};

use inventory_base::S3Url;
use inventory_catalog::catalog::CatalogError;
use inventory_catalog::diff::ChangeKind;
use inventory_catalog::tree::{Entry, RangeParams};
use inventory_delivery::manifest::ManifestDocument;
use inventory_delivery::{InventoryEntry, SkipCounts};
use inventory_devtools::generator::{
    GeneratedInventory, GeneratorOptions, generate_inventory, write_inventory,
};
use inventory_importer::jobs::{ImportSummary, Job, JobState, MergeRecord};
use inventory_importer::pipeline::{
    CommitTask, DEFAULT_SHARD_BYTES, IMPORT_BRANCH, Pipeline, Started,
};
use inventory_importer::sources::{ImportSource, ImportSources};
use inventory_runtime::handlers::{DirectInvocation, Function, Handlers};
use inventory_runtime::local::{LocalRunner, RunnerStats};
use inventory_runtime::resources::ResourceNames;

const DEST: &str = "inventory-dest";
const REPO: &str = "photos";

/// A local stack provisioned as a user would (`dev init`, `repo create`, `source add`),
/// and the three functions' runner on it.
struct Env {
    stack: LocalStack,
    runner: LocalRunner,
}

impl Env {
    /// Deliveries of `source_bucket`'s inventory configuration `daily` import into
    /// `photos` and merge into `main`; data files are grouped into shards of
    /// `shard_bytes`.
    async fn start(source_bucket: &str, shard_bytes: u64) -> Env {
        let stack = LocalStack::start().await;
        stack.create_bucket(DEST).await;
        stack.create_bucket("catalog-storage").await;
        ok_json(
            stack
                .cli()
                .args(["dev", "init", "--inventory-bucket", DEST, "--json"]),
        );
        ok_json(stack.cli().args([
            "repo",
            "create",
            REPO,
            "s3://catalog-storage/photos",
            "--json",
        ]));
        ok_json(stack.cli().args([
            "source",
            "add",
            REPO,
            "--inventory",
            &format!("s3://{DEST}/inv/{source_bucket}/daily"),
            "--merge-into",
            "main",
            "--json",
        ]));
        let mut handlers = Handlers::from_config(&stack.config, ResourceNames::default())
            .await
            .unwrap();
        handlers.pipeline.shard_bytes = shard_bytes;
        // Small ranges, so that trees span several range files.
        handlers.pipeline.catalog =
            handlers
                .pipeline
                .catalog
                .clone()
                .with_range_params(RangeParams {
                    min_entries: 8,
                    split_modulus: 32,
                    max_entries: 128,
                });
        let mut runner = LocalRunner::new(handlers).await.unwrap();
        // A failed message is received again at once.
        runner.retry_delay = Duration::ZERO;
        Env { stack, runner }
    }

    fn handlers(&self) -> &Handlers {
        self.runner.handlers()
    }

    fn pipeline(&self) -> &Pipeline {
        &self.handlers().pipeline
    }

    async fn run(&self) -> RunnerStats {
        self.runner.run(true).await.unwrap()
    }

    async fn jobs(&self) -> Vec<Job> {
        self.pipeline().jobs.list(REPO).await.unwrap()
    }

    async fn head(&self, branch: &str) -> String {
        self.pipeline()
            .catalog
            .branch(REPO, branch)
            .await
            .unwrap()
            .commit_id
    }

    /// Every entry at `reference`, in order.
    async fn entries(&self, reference: &str) -> Vec<Entry> {
        let catalog = &self.pipeline().catalog;
        let repo = catalog.repository(REPO).await.unwrap();
        let commit = catalog.resolve(REPO, reference).await.unwrap();
        let tree = catalog.tree_of(&repo, &commit).await.unwrap();
        let trees = catalog.trees(&repo);
        let mut cursor = trees.cursor(&tree);
        let mut entries = Vec::new();
        while let Some(e) = cursor.next_entry().await.unwrap() {
            entries.push(e);
        }
        entries
    }

    async fn log_len(&self, reference: &str) -> usize {
        self.pipeline()
            .catalog
            .log(REPO, reference, 100)
            .await
            .unwrap()
            .len()
    }

    async fn queue_url(&self, name: &str) -> String {
        self.handlers().queues.url(name).await.unwrap()
    }

    async fn depth(&self, name: &str) -> u64 {
        let url = self.queue_url(name).await;
        self.handlers().queues.depth(&url).await.unwrap()
    }

    /// The bodies of the messages waiting on the manifest-events queue, left there.
    async fn peek_notifications(&self) -> Vec<String> {
        let client = &self.handlers().queues.client;
        let url = self.queue_url(&self.handlers().names.manifest_queue).await;
        let output = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .send()
            .await
            .unwrap();
        let mut bodies = Vec::new();
        for message in output.messages() {
            bodies.push(message.body().unwrap().to_string());
            client
                .change_message_visibility()
                .queue_url(&url)
                .receipt_handle(message.receipt_handle().unwrap())
                .visibility_timeout(0)
                .send()
                .await
                .unwrap();
        }
        bodies
    }

    /// Sends `body` to the manifest-events queue, as S3 would send it again.
    async fn notify_again(&self, body: &str) {
        let url = self.queue_url(&self.handlers().names.manifest_queue).await;
        self.handlers()
            .queues
            .client
            .send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
}

/// A delivery of `photos-source`'s configuration `daily` into the notified bucket.
fn options(created_at: &str, objects: u64, files: usize) -> GeneratorOptions {
    let mut options =
        GeneratorOptions::new(format!("s3://{DEST}/inv").parse().unwrap(), "photos-source");
    options.objects = objects;
    options.files = files;
    options.created_at = created_at.parse::<DateTime<Utc>>().unwrap();
    options
}

fn stats(notifications: u64, shard_tasks: u64, commit_tasks: u64, failures: u64) -> RunnerStats {
    RunnerStats {
        notifications,
        shard_tasks,
        commit_tasks,
        failures,
        given_up: 0,
    }
}

/// Compares two trees entry by entry, naming the first difference.
fn assert_same_tree(actual: &[Entry], expected: &[Entry]) {
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(a, e, "entry {i}");
    }
    assert_eq!(actual.len(), expected.len(), "entries");
}

fn summary(added: u64, changed: u64, deleted: u64, unchanged: u64) -> ImportSummary {
    ImportSummary {
        added,
        changed,
        deleted,
        unchanged,
        total: added + changed + unchanged,
        skipped: SkipCounts::default(),
        duplicate_keys: 0,
    }
}

/// Copies a delivery written elsewhere into the notified bucket under
/// `inv/photos-source/daily/`, data files first and `manifest.checksum` last, with
/// `files` (key suffix under `data/`, bytes) in place of the generated data files.
async fn deliver(stack: &LocalStack, created_at: &str, files: Vec<(String, Vec<u8>)>) -> S3Url {
    let base = S3Url::new(DEST, "inv/photos-source/daily/");
    let mut listed = Vec::new();
    for (name, body) in files {
        let url = base.join(&format!("data/{name}"));
        listed.push(inventory_delivery::manifest::ManifestFile {
            key: url.key.clone(),
            size: body.len() as u64,
            md5_checksum: md5_hex(&body),
        });
        stack.put(&url, body).await;
    }
    let created = created_at.parse::<DateTime<Utc>>().unwrap();
    let document = ManifestDocument {
        source_bucket: "photos-source".into(),
        destination_bucket: format!("arn:aws:s3:::{DEST}"),
        version: "2016-11-30".into(),
        creation_timestamp: created.timestamp_millis().to_string(),
        file_format: "Parquet".into(),
        file_schema: "message s3.inventory {  required binary bucket (STRING);  required binary key (STRING);  optional binary version_id (STRING);  optional boolean is_latest;  optional boolean is_delete_marker;  optional int64 size;  optional int64 last_modified_date (TIMESTAMP(MILLIS,true));  optional binary e_tag (STRING);  optional binary storage_class (STRING);  optional boolean is_multipart_uploaded;  optional binary encryption_status (STRING);}".into(),
        files: listed,
    };
    let manifest = base.join(&format!(
        "{}/manifest.json",
        created.format("%Y-%m-%dT%H-%MZ")
    ));
    stack.put_manifest(&manifest, &document).await;
    manifest
}

fn md5_hex(body: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(body))
}

/// The data files of a generated delivery: name under `data/`, bytes.
async fn data_files(stack: &LocalStack, generated: &GeneratedInventory) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for url in &generated.data_files {
        let name = url.key.rsplit('/').next().unwrap().to_string();
        files.push((name, stack.get(url).await.to_vec()));
    }
    files
}

#[tokio::test]
async fn a_changed_delivery_counts_and_lists_exactly_and_merges_into_main() {
    let env = Env::start("photos-source", 1).await;
    let store = env.stack.store();
    let a = generate_inventory(&store, &options("2026-11-20T01:00:00Z", 300, 2))
        .await
        .unwrap();
    // The test event of `dev init`, then manifest.json and manifest.checksum.
    assert_eq!(env.run().await, stats(3, 2, 1, 0));
    let jobs = env.jobs().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, JobState::Committed);
    assert_eq!(jobs[0].summary, Some(summary(300, 0, 0, 0)));
    let first = env.head(IMPORT_BRANCH).await;
    assert_eq!(jobs[0].commit_id.as_deref(), Some(first.as_str()));
    assert_same_tree(
        &env.entries(IMPORT_BRANCH).await,
        &as_tree("photos-source", &a.expected),
    );
    assert_eq!(env.head("main").await, first, "main fast-forwarded");

    // The next day: 7 changed (ETag, size or version), 5 deleted, 9 added, in 3
    // shuffled files whose key ranges overlap.
    let mut entries = a.expected.clone();
    entries[10].etag = "0".repeat(32);
    entries[20].size += 1;
    entries[30].version_id = Some("newversion".into());
    for e in &mut entries[40..44] {
        e.etag = "f".repeat(32);
    }
    let deleted: Vec<String> = entries.drain(100..105).map(|e| e.key).collect();
    for i in 0..9 {
        entries.push(InventoryEntry {
            key: format!("new/object-{i}.bin"),
            version_id: Some(format!("v{i}")),
            size: 10,
            etag: "a".repeat(32),
            last_modified_ms: 1_764_118_800_000,
            storage_class: Some("STANDARD".into()),
        });
    }
    entries.sort();
    let mut next = options("2026-11-21T01:00:00Z", 0, 3);
    next.versioned = true;
    next.shuffle = true;
    next.overlap = true;
    let b = write_inventory(&store, &next, &entries).await.unwrap();
    let expected = summary(9, 7, 5, 288);

    // A dry run through the trigger's direct invocation predicts the counts and
    // commits nothing.
    let dry = env
        .handlers()
        .direct(&DirectInvocation {
            manifest: b.manifest.clone(),
            repository: None,
            dry_run: true,
            force: false,
        })
        .await
        .unwrap();
    let Started::Started { job: dry, .. } = dry else {
        panic!("expected a dry-run job, got {dry:?}")
    };
    assert_eq!(dry.state, JobState::DryRunComplete);
    assert_eq!(dry.summary, Some(expected.clone()));
    assert_eq!(dry.commit_id, None);
    assert_eq!(env.head(IMPORT_BRANCH).await, first);
    assert_eq!(env.head("main").await, first);

    assert_eq!(env.run().await, stats(2, 3, 1, 0));
    let job = env
        .jobs()
        .await
        .into_iter()
        .find(|j| j.manifest == b.manifest && !j.dry_run)
        .unwrap();
    assert_eq!(job.state, JobState::Committed);
    assert_eq!(job.summary, Some(expected));
    assert_eq!(
        (job.shards_total, job.shards_done, job.files_done),
        (3, 3, 3)
    );
    let second = env.head(IMPORT_BRANCH).await;
    assert_eq!(job.commit_id.as_deref(), Some(second.as_str()));
    let expected_tree = as_tree("photos-source", &entries);
    assert_same_tree(&env.entries(IMPORT_BRANCH).await, &expected_tree);
    assert_same_tree(&env.entries("main").await, &expected_tree);
    assert_eq!(env.head("main").await, second, "main fast-forwarded");
    assert_eq!(env.log_len(IMPORT_BRANCH).await, 3);

    let commit = env
        .pipeline()
        .catalog
        .resolve(REPO, IMPORT_BRANCH)
        .await
        .unwrap();
    assert_eq!(commit.parents, std::slice::from_ref(&first));
    assert_eq!(commit.metadata["manifest_url"], b.manifest.to_string());
    assert_eq!(
        commit.metadata["inventory_created_at"],
        "2026-11-21T01:00:00+00:00"
    );
    let counts: Vec<&str> = ["added", "changed", "deleted", "unchanged", "total"]
        .iter()
        .map(|k| commit.metadata[*k].as_str())
        .collect();
    assert_eq!(counts, ["9", "7", "5", "288", "304"]);

    // The diff between the two imports names exactly those objects.
    let mut changes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let diff = env
        .pipeline()
        .catalog
        .diff(REPO, &format!("{IMPORT_BRANCH}~1"), IMPORT_BRANCH, |c| {
            let kind = match c.kind {
                ChangeKind::Added => "added",
                ChangeKind::Removed => "removed",
                ChangeKind::Changed => "changed",
            };
            changes.entry(kind.into()).or_default().push(c.path);
        })
        .await
        .unwrap();
    assert_eq!((diff.added, diff.removed, diff.changed), (9, 5, 7));
    let changed: Vec<String> = [10, 20, 30, 40, 41, 42, 43]
        .iter()
        .map(|&i| a.expected[i].key.clone())
        .collect();
    assert_eq!(changes["changed"], changed);
    assert_eq!(changes["removed"], deleted);
    assert_eq!(
        changes["added"],
        (0..9)
            .map(|i| format!("new/object-{i}.bin"))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn repeated_notifications_make_one_job_and_one_commit() {
    let env = Env::start("photos-source", 1).await;
    let generated = generate_inventory(
        &env.stack.store(),
        &options("2026-11-20T01:00:00Z", 240, 12),
    )
    .await
    .unwrap();
    let bodies: Vec<String> = env
        .peek_notifications()
        .await
        .into_iter()
        .filter(|b| b.contains("\"Records\""))
        .collect();
    assert_eq!(bodies.len(), 2, "manifest.json and manifest.checksum");

    // One pass: the trigger starts the job (the second notification finds it) and the
    // workers take the first ten of its twelve shards.
    assert_eq!(env.runner.run_once().await.unwrap(), stats(3, 10, 0, 0));
    let running = env.jobs().await;
    assert_eq!(running.len(), 1);
    assert_eq!(
        (running[0].state, running[0].shards_done),
        (JobState::Staging, 10)
    );
    // Both notifications again while the job runs: no new job, no new shard task.
    for body in &bodies {
        env.notify_again(body).await;
    }
    assert_eq!(env.run().await, stats(2, 2, 1, 0));
    let jobs = env.jobs().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].id, running[0].id);
    assert_eq!(jobs[0].state, JobState::Committed);
    assert_eq!(jobs[0].summary, Some(summary(240, 0, 0, 0)));
    let commit = env.head(IMPORT_BRANCH).await;
    assert_same_tree(
        &env.entries(IMPORT_BRANCH).await,
        &as_tree("photos-source", &generated.expected),
    );
    assert_eq!(env.log_len(IMPORT_BRANCH).await, 2);

    // The exact messages again after the import: already imported, as that commit.
    for body in &bodies {
        let outcomes = env.handlers().notification(body).await.unwrap();
        assert_eq!(
            serde_json::to_value(&outcomes).unwrap(),
            json!([{
                "outcome": "already-imported",
                "manifest": generated.manifest.to_string(),
                "commit": commit,
            }])
        );
        env.notify_again(body).await;
    }
    assert_eq!(env.run().await, stats(2, 0, 0, 0));
    // S3 delivering manifest.checksum once more: the same.
    env.stack
        .put(
            &generated.checksum,
            env.stack.get(&generated.checksum).await,
        )
        .await;
    assert_eq!(env.run().await, stats(1, 0, 0, 0));

    assert_eq!(env.jobs().await.len(), 1);
    assert_eq!(env.head(IMPORT_BRANCH).await, commit);
    assert_eq!(env.head("main").await, commit);
    assert_eq!(env.log_len(IMPORT_BRANCH).await, 2);
    assert_eq!(env.stack.count_items("inventory-import-staging").await, 0);
}

#[tokio::test]
async fn an_older_delivery_is_refused_and_moves_no_branch() {
    let env = Env::start("photos-source", 1).await;
    let store = env.stack.store();
    generate_inventory(&store, &options("2026-11-21T01:00:00Z", 50, 1))
        .await
        .unwrap();
    assert_eq!(env.run().await, stats(3, 1, 1, 0));
    let head = env.head(IMPORT_BRANCH).await;
    assert_eq!(env.head("main").await, head);

    let mut older = options("2026-11-19T01:00:00Z", 60, 1);
    older.seed = 2;
    let old = generate_inventory(&store, &older).await.unwrap();
    // Refused while planning: the job records why, so both notifications are done
    // with (no retry, nothing for the dead-letter queue).
    assert_eq!(env.run().await, stats(2, 0, 0, 0));
    let jobs = env.jobs().await;
    assert_eq!(jobs.len(), 2);
    let refused = jobs.iter().find(|j| j.manifest == old.manifest).unwrap();
    assert_eq!(refused.state, JobState::Failed);
    assert_eq!(
        refused.error.as_deref(),
        Some(
            "manifest s3://inventory-dest/inv/photos-source/daily/2026-11-19T01-00Z/manifest.json \
             was created at 2026-11-19T01:00:00+00:00, before the last import into photos \
             (2026-11-21T01:00:00+00:00); use force to import it anyway"
        )
    );
    assert_eq!(
        (
            refused.shards_total,
            refused.summary.clone(),
            refused.commit_id.clone()
        ),
        (0, None, None)
    );
    assert_eq!(env.head(IMPORT_BRANCH).await, head);
    assert_eq!(env.head("main").await, head);
    assert_eq!(env.log_len(IMPORT_BRANCH).await, 2);
    let names = &env.handlers().names;
    assert_eq!(
        env.depth(&inventory_runtime::queues::dead_letter(
            &names.manifest_queue
        ))
        .await,
        0
    );

    // Told again, the trigger reports the refused job and leaves it as it is.
    let checksum_event = json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": DEST}, "object": {"key": old.checksum.key}}
    }]});
    let outcomes = env
        .handlers()
        .notification(&checksum_event.to_string())
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&outcomes).unwrap(),
        json!([{"outcome": "existing", "job": refused.id}])
    );
    assert_eq!(env.jobs().await.len(), 2);
}

#[tokio::test]
async fn shuffled_overlapping_versioned_files_with_keys_listed_twice() {
    let env = Env::start("photos-source", 1).await;
    let store = env.stack.store();
    // Written elsewhere first, then landed in the notified bucket as one delivery.
    let mut scratch = options("2026-11-20T01:00:00Z", 400, 3);
    scratch.destination = "s3://scratch/inv".parse().unwrap();
    scratch.versioned = true;
    scratch.shuffle = true;
    scratch.overlap = true;
    let generated = generate_inventory(&store, &scratch).await.unwrap();
    assert!(generated.skipped.noncurrent_version > 0 && generated.skipped.delete_marker > 0);

    // A fourth file lists ten of the keys again: five with a newer row (which wins),
    // five with an older one (which loses).
    let mut expected = generated.expected.clone();
    let mut again = Vec::new();
    for (n, i) in (0..10).map(|n| (n, 7 + 37 * n)) {
        let mut row = expected[i].clone();
        row.etag = format!("{n:032x}");
        row.version_id = Some(format!("relisted-{n}"));
        if n < 5 {
            row.last_modified_ms += 1000;
            expected[i] = row.clone();
        } else {
            row.last_modified_ms -= 1000;
        }
        again.push(row);
    }
    let mut relisted = scratch.clone();
    relisted.config_id = "relisted".into();
    relisted.files = 1;
    let extra = write_inventory(&store, &relisted, &again).await.unwrap();

    let mut files = data_files(&env.stack, &generated).await;
    files.extend(data_files(&env.stack, &extra).await);
    let manifest = deliver(&env.stack, "2026-11-20T01:00:00Z", files).await;
    assert_eq!(env.run().await, stats(3, 4, 1, 0));

    let jobs = env.jobs().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].manifest, manifest);
    assert_eq!(jobs[0].state, JobState::Committed);
    assert_eq!(
        jobs[0].summary,
        Some(ImportSummary {
            skipped: generated.skipped,
            duplicate_keys: 10,
            ..summary(400, 0, 0, 0)
        })
    );
    assert_eq!(jobs[0].rows, generated.rows + 10);
    let tree = as_tree("photos-source", &expected);
    assert_same_tree(&env.entries(IMPORT_BRANCH).await, &tree);
    assert_same_tree(&env.entries("main").await, &tree);
}

/// A dry run of a delivery larger than the trigger reads itself is started as a job
/// for the workers: the invocation answers at once, and the commit records the counts
/// and moves no branch. At the limit, the trigger runs it and answers with the same.
#[tokio::test]
async fn a_dry_run_too_large_for_the_trigger_runs_on_the_workers_and_moves_no_branch() {
    let env = Env::start("photos-source", 1).await;
    let store = env.stack.store();
    // Written outside the notified bucket, so that no import of it starts.
    let mut scratch = options("2026-11-20T01:00:00Z", 300, 3);
    scratch.destination = "s3://scratch/inv".parse().unwrap();
    let generated = generate_inventory(&store, &scratch).await.unwrap();
    let mut handlers = Handlers::from_config(&env.stack.config, ResourceNames::default())
        .await
        .unwrap();
    handlers.pipeline.shard_bytes = 1;
    handlers.dry_run_in_process_bytes = Some(generated.bytes - 1);
    let invocation = DirectInvocation {
        manifest: generated.manifest.clone(),
        repository: Some(REPO.into()),
        dry_run: true,
        force: false,
    };

    let started = handlers.direct(&invocation).await.unwrap();
    let Started::Started { job, tasks } = started else {
        panic!("expected a dry-run job, got {started:?}")
    };
    assert!(job.dry_run);
    assert_eq!(job.state, JobState::Staging);
    assert_eq!(job.bytes_total, generated.bytes);
    assert_eq!(tasks.len(), 3);
    assert_eq!(env.depth(&handlers.names.shard_queue).await, 3);
    // The test event of `dev init`, then the three shards and the commit.
    assert_eq!(env.run().await, stats(1, 3, 1, 0));
    let job = env.pipeline().jobs.get(REPO, &job.id).await.unwrap();
    assert_eq!(job.state, JobState::DryRunComplete);
    assert_eq!(job.summary, Some(summary(300, 0, 0, 0)));
    assert_eq!((job.shards_done, job.files_done), (3, 3));
    assert_eq!(job.commit_id, None);
    let catalog = &env.pipeline().catalog;
    assert!(matches!(
        catalog.branch(REPO, IMPORT_BRANCH).await,
        Err(CatalogError::BranchNotFound { .. })
    ));
    assert_eq!(
        env.log_len("main").await,
        1,
        "main holds only its first commit"
    );

    handlers.dry_run_in_process_bytes = Some(generated.bytes);
    let started = handlers.direct(&invocation).await.unwrap();
    let Started::Started { job: here, .. } = started else {
        panic!("expected a dry-run job, got {started:?}")
    };
    assert_eq!(here.state, JobState::DryRunComplete);
    assert_eq!(here.summary, job.summary);
    assert_eq!(env.depth(&handlers.names.shard_queue).await, 0);
    assert_eq!(env.log_len("main").await, 1);
}

/// An SQS batch is answered with the ids of its messages that failed, and only
/// theirs, so that SQS delivers only them again.
#[tokio::test]
async fn an_sqs_batch_reports_only_its_failed_messages() {
    let env = Env::start("photos-source", 1).await;
    let file = integration_tests::workspace_root().join("tests/events/s3-test-event-sqs.json");
    let mut event: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let test_event = event["Records"][0]["messageId"]
        .as_str()
        .unwrap()
        .to_string();
    let mut broken = event["Records"][0].clone();
    broken["messageId"] = json!("not-a-notification");
    broken["body"] = json!(r#"{"Records": 42}"#);
    event["Records"].as_array_mut().unwrap().push(broken);
    let event: SqsEvent = serde_json::from_value(event).unwrap();
    let failed = |response: SqsBatchResponse| -> Vec<String> {
        response
            .batch_item_failures
            .into_iter()
            .map(|failure| failure.item_identifier)
            .collect()
    };

    // The trigger acknowledges S3's test event and fails the body that is no event.
    let response = env
        .handlers()
        .handle_sqs_event(Function::Trigger, event.clone())
        .await;
    assert_eq!(failed(response), ["not-a-notification"]);
    // Neither body is a shard task.
    let response = env
        .handlers()
        .handle_sqs_event(Function::Worker, event)
        .await;
    assert_eq!(
        failed(response),
        [test_event.as_str(), "not-a-notification"]
    );
    assert!(env.jobs().await.is_empty());
}

/// The inventory AWS wrote (`tests/fixtures/aws-inventory/`), delivered in `format` in
/// AWS's layout under the configured prefix (the data file under `data/` as `data_name`,
/// the manifest under its creation time naming it by its full key): it lands, and
/// imports exactly its two objects into the import branch and `main`.
async fn aws_inventory_lands(fixture: &str, manifest_fixture: &str, data_name: &str, format: &str) {
    let env = Env::start("filemanager-inventory-test", 1).await;
    let base = S3Url::new(DEST, "inv/filemanager-inventory-test/daily/");
    let data = base.join(&format!("data/{data_name}"));
    let bytes = std::fs::read(aws_fixture(fixture)).unwrap();
    env.stack.put(&data, bytes).await;
    let mut document: ManifestDocument =
        serde_json::from_slice(&std::fs::read(aws_fixture(manifest_fixture)).unwrap()).unwrap();
    assert_eq!(document.file_format, format);
    document.destination_bucket = format!("arn:aws:s3:::{DEST}");
    document.files[0].key = data.key.clone();
    let manifest = base.join("2024-05-07T01-00Z/manifest.json");
    env.stack.put_manifest(&manifest, &document).await;

    assert_eq!(env.run().await, stats(3, 1, 1, 0), "{format}");
    let jobs = env.jobs().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, JobState::Committed, "{format}");
    assert_eq!(
        jobs[0].summary,
        Some(ImportSummary {
            skipped: SkipCounts {
                noncurrent_version: 2,
                delete_marker: 1,
                incomplete_row: 0,
                outside_prefix: 0,
            },
            ..summary(2, 0, 0, 0)
        }),
        "{format}"
    );
    assert_eq!(jobs[0].rows, 5);
    let expected = vec![
        Entry {
            path: "inventory-test/".into(),
            address: "s3://filemanager-inventory-test/inventory-test/".into(),
            version_id: None,
            size: 0,
            etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
            last_modified_ms: 1_715_035_068_000,
            storage_class: Some("STANDARD".into()),
        },
        Entry {
            path: "inventory-test/key1".into(),
            address: "s3://filemanager-inventory-test/inventory-test/key1".into(),
            version_id: Some("tpinzcbxOfWpZsmjvVgdHEvSohsY4TA0".into()),
            size: 5,
            etag: "d8e8fca2dc0f896fd7cb4cb0031ba249".into(),
            last_modified_ms: 1_715_035_462_000,
            storage_class: Some("STANDARD".into()),
        },
    ];
    assert_eq!(env.entries(IMPORT_BRANCH).await, expected, "{format}");
    assert_eq!(env.entries("main").await, expected, "{format}");
    let commit = env
        .pipeline()
        .catalog
        .resolve(REPO, IMPORT_BRANCH)
        .await
        .unwrap();
    assert_eq!(commit.message, "Import from filemanager-inventory-test");
    assert_eq!(commit.metadata["manifest_url"], manifest.to_string());
    assert_eq!(
        commit.metadata["inventory_created_at"],
        "2024-05-07T01:00:00+00:00"
    );
    assert_eq!(
        commit.metadata["source_bucket"],
        "filemanager-inventory-test"
    );
    assert_eq!(commit.metadata["skipped_noncurrent_version"], "2");
    assert_eq!(commit.metadata["skipped_delete_marker"], "1");
}

#[tokio::test]
async fn the_inventory_aws_wrote_lands_and_imports_its_two_objects() {
    aws_inventory_lands(
        "parquet_inventory.parquet",
        "parquet_inventory_manifest.json",
        "0b6a0d4c-7e5f-4b1d-9f57-2f5e4c1a9d3e.parquet",
        "Parquet",
    )
    .await;
}

#[tokio::test]
async fn the_csv_inventory_aws_wrote_lands_and_imports_its_two_objects() {
    aws_inventory_lands(
        "csv_inventory.csv.gz",
        "csv_inventory_manifest.json",
        "5d1c0e4a-2b7f-4f3e-8a61-9c4d2e7b1f08.csv.gz",
        "CSV",
    )
    .await;
}

#[tokio::test]
async fn the_orc_inventory_aws_wrote_lands_and_imports_its_two_objects() {
    aws_inventory_lands(
        "orc_inventory.orc",
        "orc_inventory_manifest.json",
        "9a7e3c21-4d6b-4f0e-b8a5-1c2d3e4f5a6b.orc",
        "ORC",
    )
    .await;
}

#[tokio::test]
async fn a_corrupt_data_file_fails_the_job_on_its_last_delivery() {
    let env = Env::start("photos-source", 1).await;
    let store = env.stack.store();
    generate_inventory(&store, &options("2026-11-20T01:00:00Z", 100, 1))
        .await
        .unwrap();
    assert_eq!(env.run().await, stats(3, 1, 1, 0));
    let head = env.head(IMPORT_BRANCH).await;

    // The next delivery's middle data file is cut short, and the manifest lists it
    // as it is (size and MD5 match): only decoding it shows the damage.
    let mut scratch = options("2026-11-21T01:00:00Z", 150, 3);
    scratch.destination = "s3://scratch/inv".parse().unwrap();
    let generated = generate_inventory(&store, &scratch).await.unwrap();
    let mut files = data_files(&env.stack, &generated).await;
    let half = files[1].1.len() / 2;
    files[1].1.truncate(half);
    let corrupt = S3Url::new(DEST, format!("inv/photos-source/daily/data/{}", files[1].0));
    let manifest = deliver(&env.stack, "2026-11-21T01:00:00Z", files).await;

    // Shards 0 and 2 are staged; shard 1 fails on each of its three deliveries, the
    // last of which fails the job; SQS then moves the task to the dead-letter queue,
    // where the committer finds its job failed already, and leaves it as it is.
    assert_eq!(
        env.run().await,
        RunnerStats {
            given_up: 1,
            ..stats(2, 2, 0, 3)
        }
    );
    let job = env
        .jobs()
        .await
        .into_iter()
        .find(|j| j.manifest == manifest)
        .unwrap();
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(
        job.error,
        Some(format!(
            "data file {corrupt} is not a readable Parquet file: Parquet error: Invalid Parquet file. Corrupt footer"
        ))
    );
    assert_eq!((job.shards_total, job.shards_done), (3, 2));
    assert_eq!((job.summary, job.commit_id), (None, None));
    // Its staged items are gone; no branch moved; no commit task was sent.
    assert_eq!(env.stack.count_items("inventory-import-staging").await, 0);
    assert_eq!(env.head(IMPORT_BRANCH).await, head);
    assert_eq!(env.head("main").await, head);
    assert_eq!(env.log_len(IMPORT_BRANCH).await, 2);
    let names = env.handlers().names.clone();
    assert_eq!(env.depth(&names.commit_queue).await, 0);
    assert_eq!(
        env.depth(&inventory_runtime::queues::dead_letter(&names.commit_queue))
            .await,
        0
    );
    assert_eq!(
        env.depth(&inventory_runtime::queues::dead_letter(&names.shard_queue))
            .await,
        0
    );
    let after = env.pipeline().jobs.get(REPO, &job.id).await.unwrap();
    assert_eq!(
        after.error, job.error,
        "the job keeps the reason it failed for"
    );
    // The shard records its last delivery and the error it ended with.
    let shards = env.pipeline().jobs.shards(&job.id).await.unwrap();
    let last = shards[1].last_attempt.clone().unwrap();
    assert_eq!((last.delivery, last.error), (3, job.error.clone()));
}

#[tokio::test]
async fn a_worker_that_fails_mid_shard_is_retried_and_the_result_is_exact() {
    // One shard of three data files.
    let env = Env::start("photos-source", DEFAULT_SHARD_BYTES).await;
    let mut delivery = options("2026-11-20T01:00:00Z", 600, 3);
    delivery.versioned = true;
    delivery.shuffle = true;
    let generated = generate_inventory(&env.stack.store(), &delivery)
        .await
        .unwrap();
    // The second file reads wrong the first time: the worker has read the first
    // file when it fails.
    let second = &generated.data_files[1];
    let good = env.stack.get(second).await;
    env.stack.put(second, vec![0u8; good.len()]).await;

    assert_eq!(env.runner.run_once().await.unwrap(), stats(3, 0, 0, 1));
    let jobs = env.jobs().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0].shards_total, jobs[0].shards_done, jobs[0].state),
        (1, 0, JobState::Staging),
        "the queue delivers the task again"
    );
    assert_eq!(jobs[0].error, None);

    env.stack.put(second, good).await;
    assert_eq!(env.run().await, stats(0, 1, 1, 0));
    let job = env.pipeline().jobs.get(REPO, &jobs[0].id).await.unwrap();
    assert_eq!(job.state, JobState::Committed);
    assert_eq!(
        job.summary,
        Some(ImportSummary {
            skipped: generated.skipped,
            ..summary(600, 0, 0, 0)
        })
    );
    assert_eq!((job.files_done, job.rows), (3, generated.rows));
    let tree = as_tree("photos-source", &generated.expected);
    assert_same_tree(&env.entries(IMPORT_BRANCH).await, &tree);
    assert_same_tree(&env.entries("main").await, &tree);
    assert_eq!(env.log_len(IMPORT_BRANCH).await, 2);
    assert_eq!(env.stack.count_items("inventory-import-staging").await, 0);
}

/// `(message, job id)` of each JSON log line; the job from the innermost span.
fn log_lines(stderr: &str) -> Vec<(String, Option<String>)> {
    stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|line| {
            let value: Value =
                serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}"));
            let message = value["fields"]["message"].as_str().unwrap_or_default();
            let job = value["span"]["job"].as_str().map(str::to_string);
            (message.to_string(), job)
        })
        .collect()
}

#[tokio::test]
async fn every_log_line_about_a_job_carries_its_id() {
    let env = Env::start("photos-source", 1).await;
    let store = env.stack.store();
    let local = || {
        let mut command = env.stack.cli();
        command
            .args(["local", "--until-idle"])
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info");
        let output = command.output().unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(output.status.success(), "{stderr}");
        stderr
    };
    generate_inventory(&store, &options("2026-11-20T01:00:00Z", 100, 2))
        .await
        .unwrap();
    let stderr = local();
    let job = env.jobs().await[0].id.clone();
    let mut lines = log_lines(&stderr);
    lines.sort();
    let on_job = |message: &str| (message.to_string(), Some(job.clone()));
    assert_eq!(
        lines,
        [
            on_job("import started"),
            on_job("job finished"),
            on_job("merged import-from-inventory into main"),
            ("notification ignored".to_string(), None),
            on_job("shard done; it was the last, commit task sent"),
            on_job("the delivery's job exists already"),
        ],
        "{stderr}"
    );
    assert!(
        stderr.lines().filter(|l| !l.starts_with('{')).count() == 1,
        "one line that is not a log line, the runner's greeting: {stderr}"
    );

    // A delivery whose data file is corrupt: each failed delivery of its shard task.
    let mut scratch = options("2026-11-21T01:00:00Z", 50, 1);
    scratch.destination = "s3://scratch/inv".parse().unwrap();
    let generated = generate_inventory(&store, &scratch).await.unwrap();
    let mut files = data_files(&env.stack, &generated).await;
    files[0].1.truncate(100);
    deliver(&env.stack, "2026-11-21T01:00:00Z", files).await;
    let stderr = local();
    let jobs = env.jobs().await;
    let failed = jobs
        .iter()
        .find(|j| j.state == JobState::Failed)
        .unwrap_or_else(|| panic!("no job failed: {jobs:?}\n{stderr}"))
        .id
        .clone();
    let lines = log_lines(&stderr);
    let on_failed = |message: &str| (message.to_string(), Some(failed.clone()));
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            on_failed("import started"),
            on_failed("shard failed on its last delivery; the job failed"),
            on_failed("shard failed; the queue will deliver it again"),
            on_failed("shard failed; the queue will deliver it again"),
            // Planning reads the footers for progress and partitions; a file whose
            // footer is unreadable is left to the worker's exact error.
            on_failed("the data files' footers could not be read; planning without them"),
            on_failed("the delivery's job exists already"),
            on_failed(
                "the queue gave up a shard task of a job that had finished; it stays as it was"
            ),
        ],
        "{stderr}"
    );
    // The error is on the lines, with the delivery number.
    let last = stderr
        .lines()
        .find(|l| l.contains("on its last delivery"))
        .unwrap();
    let last: Value = serde_json::from_str(last).unwrap();
    assert_eq!(last["level"], "ERROR");
    assert_eq!(last["span"]["delivery"], 3);
    assert_eq!(last["span"]["name"], "worker");
    assert!(
        last["fields"]["error"].as_str().unwrap().ends_with(
            "is not a readable Parquet file: Parquet error: Invalid Parquet file. Corrupt footer"
        ),
        "{last}"
    );
}

#[tokio::test]
async fn a_forced_import_refused_while_planning_is_logged_with_its_job() {
    let env = Env::start("photos-source", 1).await;
    let store = env.stack.store();
    let generated = generate_inventory(&store, &options("2026-11-20T01:00:00Z", 100, 2))
        .await
        .unwrap();
    env.stack.delete(&generated.data_files[0]).await;
    let manifest = generated.manifest.to_string();
    let output = env
        .stack
        .cli()
        .args(["import", REPO, "--manifest", &manifest, "--force"])
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    let jobs = env.jobs().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, JobState::Failed);
    assert_eq!(
        log_lines(&stderr),
        [(
            "direct invocation failed".to_string(),
            Some(jobs[0].id.clone())
        )],
        "{stderr}"
    );
}

#[tokio::test]
async fn a_failed_automatic_merge_is_recorded_on_the_committed_job() {
    let env = Env::start("photos-source", 1).await;
    // The source merges into `work`, a branch deleted before the delivery lands.
    let catalog = &env.pipeline().catalog;
    catalog.create_branch(REPO, "work", "main").await.unwrap();
    ImportSources::new(catalog)
        .add_source(&ImportSource {
            inventory: format!("s3://{DEST}/inv/photos-source/daily/")
                .parse()
                .unwrap(),
            repository: REPO.into(),
            merge_into: Some("work".into()),
            scope: Default::default(),
        })
        .await
        .unwrap();
    catalog.delete_branch(REPO, "work").await.unwrap();
    generate_inventory(&env.stack.store(), &options("2026-11-20T01:00:00Z", 40, 1))
        .await
        .unwrap();

    // The commit task fails on each of its deliveries, in the merge alone.
    let stats = env.run().await;
    assert_eq!(
        stats.failures,
        u64::from(inventory_runtime::queues::MAX_RECEIVES)
    );
    let jobs = env.jobs().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, JobState::Committed);
    assert_eq!(jobs[0].summary, Some(summary(40, 0, 0, 0)));
    assert_eq!(
        jobs[0].merge,
        Some(MergeRecord {
            branch: "work".into(),
            commit: None,
            error: Some(format!("branch work does not exist in repository {REPO}")),
        })
    );
    let status = ok_json(
        env.stack
            .cli()
            .args(["status", REPO, &jobs[0].id, "--json"]),
    );
    assert_eq!(
        status["merge"]["error"],
        format!("branch work does not exist in repository {REPO}")
    );

    // Once the branch is back, the merge of the next commit task succeeds and says so.
    catalog.create_branch(REPO, "work", "main").await.unwrap();
    let handlers = env.handlers();
    let task = CommitTask {
        repository: REPO.into(),
        job: jobs[0].id.clone(),
        partition: None,
    };
    let job = handlers.commit(&task, 1).await.unwrap();
    let head = env.head("work").await;
    assert_eq!(
        job.merge,
        Some(MergeRecord {
            branch: "work".into(),
            commit: Some(head.clone()),
            error: None,
        })
    );
    assert_eq!(
        Some(head),
        jobs[0].commit_id,
        "work fast-forwarded to the import"
    );
}

#[tokio::test]
async fn two_triggers_for_one_delivery_at_once_send_its_shard_tasks_once() {
    let env = Env::start("photos-source", 1).await;
    generate_inventory(&env.stack.store(), &options("2026-11-20T01:00:00Z", 120, 4))
        .await
        .unwrap();
    let bodies: Vec<String> = env
        .peek_notifications()
        .await
        .into_iter()
        .filter(|b| b.contains("\"Records\""))
        .collect();
    assert_eq!(bodies.len(), 2, "manifest.json and manifest.checksum");
    // Both notifications name the complete delivery by now; two trigger instances
    // handle them at the same moment.
    let handlers = env.handlers();
    let checksum = bodies
        .iter()
        .find(|b| b.contains("manifest.checksum"))
        .unwrap();
    let (a, b) = tokio::join!(
        handlers.notification(checksum),
        handlers.notification(checksum)
    );
    a.unwrap();
    b.unwrap();
    let shard_queue = handlers.names.shard_queue.clone();
    assert_eq!(env.depth(&shard_queue).await, 4, "each shard's task once");
    assert_eq!(env.jobs().await.len(), 1);
}
