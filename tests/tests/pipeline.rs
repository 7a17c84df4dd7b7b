//! Imports through the pipeline (trigger → workers → committer, run in process) on
//! the local stack.

use chrono::{DateTime, Utc};
use integration_tests::{LocalStack, as_tree, imported_into_photos, photos_import, small_ranges};

use inventory_delivery::manifest::ManifestDocument;
use inventory_delivery::{InventoryEntry, SkipCounts};
use inventory_devtools::generator::{
    GeneratedInventory, GeneratorOptions, generate_inventory, write_inventory,
};
use inventory_importer::jobs::{ImportSummary, JobState};
use inventory_importer::pipeline::{
    CommitTask, IMPORT_BRANCH, ImportRequest, Pipeline, ShardTask, Started,
};
use inventory_importer::sources::{ImportSource, ImportSources};

fn options(created_at: &str, files: usize) -> GeneratorOptions {
    let mut options =
        GeneratorOptions::new("s3://inventory-dest/inv".parse().unwrap(), "photos-source");
    options.files = files;
    options.created_at = created_at.parse::<DateTime<Utc>>().unwrap();
    options
}

/// The one commit task a job of one partition sends.
fn only(mut tasks: Vec<CommitTask>) -> CommitTask {
    assert_eq!(tasks.len(), 1, "one commit task: {tasks:?}");
    tasks.remove(0)
}

async fn setup(stack: &LocalStack) -> Pipeline {
    stack.create_bucket("catalog-storage").await;
    let pipeline = stack.pipeline(small_ranges()).await;
    pipeline
        .catalog
        .create_repository("photos", "s3://catalog-storage/photos", None)
        .await
        .unwrap();
    pipeline
}

/// The new job of a delivery and its shard tasks (returned, not sent to a queue).
async fn started(
    pipeline: &Pipeline,
    manifest: &inventory_base::location::S3Url,
) -> (inventory_importer::jobs::Job, Vec<ShardTask>) {
    match pipeline.start(&photos_import(manifest)).await.unwrap() {
        Started::Started { job, tasks } => (job, tasks),
        other => panic!("expected a new job, got {other:?}"),
    }
}

async fn import(pipeline: &Pipeline, request: &ImportRequest) -> inventory_importer::jobs::Job {
    match pipeline.run_in_process(request).await.unwrap() {
        Started::Started { job, .. } => job,
        other => panic!("expected a new job, got {other:?}"),
    }
}

#[tokio::test]
async fn imports_a_versioned_inventory_with_overlapping_files() {
    let stack = LocalStack::start().await;
    let pipeline = setup(&stack).await;
    let mut options = options("2026-11-20T01:00:00Z", 4);
    options.objects = 1500;
    options.versioned = true;
    options.shuffle = true;
    options.overlap = true;
    let generated: GeneratedInventory = generate_inventory(&stack.store(), &options).await.unwrap();

    let job = import(&pipeline, &photos_import(&generated.manifest)).await;
    assert_eq!(job.state, JobState::Committed);
    assert_eq!(job.shards_total, 4);
    assert_eq!(job.shards_done, 4);
    let summary = job.summary.clone().unwrap();
    assert_eq!(summary.added, 1500);
    assert_eq!(summary.total, 1500);
    assert_eq!(
        (summary.changed, summary.deleted, summary.unchanged),
        (0, 0, 0)
    );
    assert_eq!(summary.skipped, generated.skipped);
    assert_eq!(
        imported_into_photos(&pipeline).await,
        as_tree("photos-source", &generated.expected)
    );

    let commit = pipeline
        .catalog
        .resolve("photos", IMPORT_BRANCH)
        .await
        .unwrap();
    assert_eq!(commit.message, "Import from photos-source");
    assert_eq!(
        commit.metadata["manifest_url"],
        generated.manifest.to_string()
    );
    assert_eq!(
        commit.metadata["inventory_created_at"],
        "2026-11-20T01:00:00+00:00"
    );
    assert_eq!(commit.metadata["source_bucket"], "photos-source");
    assert_eq!(commit.metadata["added"], "1500");
    assert_eq!(commit.metadata["total"], "1500");
    assert_eq!(
        commit.metadata["skipped_delete_marker"],
        generated.skipped.delete_marker.to_string()
    );
    assert_eq!(commit.id, job.commit_id.clone().unwrap());
    // The import branch starts from the default branch.
    assert_eq!(
        commit.parents,
        [pipeline.catalog.resolve("photos", "main").await.unwrap().id]
    );
    // Staged items are gone.
    assert_eq!(stack.count_items("inventory-import-staging").await, 0);
}

#[tokio::test]
async fn gradual_imports_count_exactly() {
    let stack = LocalStack::start().await;
    let pipeline = setup(&stack).await;
    let mut first = options("2026-11-20T01:00:00Z", 3);
    first.objects = 400;
    let a = generate_inventory(&stack.store(), &first).await.unwrap();
    let job = import(&pipeline, &photos_import(&a.manifest)).await;
    assert_eq!(job.summary.unwrap().added, 400);

    // The next day: 7 changed (ETag, size or version), 5 deleted, 9 added.
    let mut entries = a.expected.clone();
    entries[10].etag = "0".repeat(32);
    entries[20].size += 1;
    entries[30].version_id = Some("newversion".into());
    for e in &mut entries[40..44] {
        e.etag = "f".repeat(32);
    }
    entries.drain(100..105);
    for i in 0..9 {
        entries.push(InventoryEntry {
            key: format!("new/object-{i}.bin"),
            version_id: None,
            size: 10,
            etag: "a".repeat(32),
            last_modified_ms: 1_764_118_800_000,
            storage_class: None,
        });
    }
    entries.sort();
    // With the version columns, so that the changed version id is visible.
    let versioned = |created_at: &str, files: usize| GeneratorOptions {
        versioned: true,
        ..options(created_at, files)
    };
    let b = write_inventory(
        &stack.store(),
        &versioned("2026-11-21T01:00:00Z", 2),
        &entries,
    )
    .await
    .unwrap();

    // A dry run reports the counts and changes nothing.
    let head = pipeline
        .catalog
        .resolve("photos", IMPORT_BRANCH)
        .await
        .unwrap()
        .id;
    let dry = import(
        &pipeline,
        &ImportRequest {
            dry_run: true,
            ..photos_import(&b.manifest)
        },
    )
    .await;
    assert_eq!(dry.state, JobState::DryRunComplete);
    let expected = ImportSummary {
        added: 9,
        changed: 7,
        deleted: 5,
        unchanged: 388,
        total: 404,
        skipped: SkipCounts::default(),
        duplicate_keys: 0,
    };
    assert_eq!(dry.summary.unwrap(), expected);
    assert_eq!(
        pipeline
            .catalog
            .resolve("photos", IMPORT_BRANCH)
            .await
            .unwrap()
            .id,
        head
    );

    let job = import(&pipeline, &photos_import(&b.manifest)).await;
    assert_eq!(job.state, JobState::Committed);
    assert_eq!(job.summary.unwrap(), expected);
    assert_eq!(
        imported_into_photos(&pipeline).await,
        as_tree("photos-source", &entries)
    );
    let log = pipeline
        .catalog
        .log("photos", IMPORT_BRANCH, 10)
        .await
        .unwrap();
    assert_eq!(log.len(), 3, "two imports on top of the initial commit");

    // The same manifest again: already imported, with its commit; no new commit.
    match pipeline
        .run_in_process(&photos_import(&b.manifest))
        .await
        .unwrap()
    {
        Started::AlreadyImported { commit, .. } => assert_eq!(commit, log[0].id),
        other => panic!("expected already imported, got {other:?}"),
    }
    // A new delivery with the same objects: no change, no commit.
    let c = write_inventory(
        &stack.store(),
        &versioned("2026-11-22T01:00:00Z", 1),
        &entries,
    )
    .await
    .unwrap();
    let job = import(&pipeline, &photos_import(&c.manifest)).await;
    assert_eq!(job.state, JobState::NoChange);
    assert_eq!(job.summary.unwrap().unchanged, 404);
    assert_eq!(
        pipeline
            .catalog
            .log("photos", IMPORT_BRANCH, 10)
            .await
            .unwrap()
            .len(),
        3
    );

    // An older delivery is refused unless forced.
    let old = write_inventory(
        &stack.store(),
        &options("2026-11-19T01:00:00Z", 1),
        &a.expected,
    )
    .await
    .unwrap();
    let err = pipeline
        .run_in_process(&photos_import(&old.manifest))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "manifest {} was created at 2026-11-19T01:00:00+00:00, before the last import into photos (2026-11-21T01:00:00+00:00); use force to import it anyway",
            old.manifest
        )
    );
    let forced = import(
        &pipeline,
        &ImportRequest {
            force: true,
            ..photos_import(&old.manifest)
        },
    )
    .await;
    assert_eq!(forced.state, JobState::Committed);
    let summary = forced.summary.unwrap();
    assert_eq!((summary.added, summary.changed, summary.deleted), (5, 7, 9));
    assert_eq!(
        imported_into_photos(&pipeline).await,
        as_tree("photos-source", &a.expected)
    );
}

#[tokio::test]
async fn a_bad_delivery_fails_the_job_and_moves_no_branch() {
    let stack = LocalStack::start().await;
    let pipeline = setup(&stack).await;
    let mut options = options("2026-11-20T01:00:00Z", 2);
    options.objects = 50;
    let generated = generate_inventory(&stack.store(), &options).await.unwrap();
    stack.delete(&generated.data_files[1]).await;

    let err = pipeline
        .run_in_process(&photos_import(&generated.manifest))
        .await
        .unwrap_err();
    let message = format!(
        "manifest {} lists 1 data file(s) that do not exist: {}",
        generated.manifest, generated.data_files[1]
    );
    assert_eq!(err.to_string(), message);
    let jobs = pipeline.jobs.list("photos").await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, JobState::Failed);
    assert_eq!(jobs[0].error.as_deref(), Some(message.as_str()));
    assert!(
        pipeline
            .catalog
            .branch("photos", IMPORT_BRANCH)
            .await
            .is_err(),
        "no import branch"
    );

    // A data file that turns corrupt after planning fails in the worker.
    let mut options = self::options("2026-11-21T01:00:00Z", 2);
    options.objects = 50;
    options.config_id = "second".into();
    let second = generate_inventory(&stack.store(), &options).await.unwrap();
    let (job, tasks) = started(&pipeline, &second.manifest).await;
    assert!(
        pipeline
            .run_shard(&tasks[1], false)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(stack.count_items("inventory-import-staging").await > 0);
    stack.put(&second.data_files[0], "garbage").await;
    let first = pipeline.run_shard(&tasks[0], false).await.unwrap_err();
    assert_eq!(
        pipeline.jobs.get("photos", &job.id).await.unwrap().state,
        JobState::Staging,
        "the queue retries first"
    );
    let err = pipeline.run_shard(&tasks[0], true).await.unwrap_err();
    assert_eq!(err.to_string(), first.to_string());
    assert!(
        err.to_string()
            .starts_with(&format!("data file {} is ", second.data_files[0])),
        "{err}"
    );
    let failed = pipeline.jobs.get("photos", &job.id).await.unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.error, Some(err.to_string()));
    // The staged items of the job's other shard are gone; later tasks do nothing.
    assert_eq!(stack.count_items("inventory-import-staging").await, 0);
    assert!(
        pipeline
            .run_shard(&tasks[1], true)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        pipeline
            .catalog
            .branch("photos", IMPORT_BRANCH)
            .await
            .is_err(),
        "no import branch"
    );
}

#[tokio::test]
async fn retried_workers_and_repeated_notifications_change_nothing() {
    let stack = LocalStack::start().await;
    let pipeline = setup(&stack).await;
    let mut options = options("2026-11-20T01:00:00Z", 3);
    options.objects = 300;
    let generated = generate_inventory(&stack.store(), &options).await.unwrap();

    let (job, tasks) = started(&pipeline, &generated.manifest).await;
    // The same delivery announced again maps to the same job.
    match pipeline
        .start(&photos_import(&generated.manifest))
        .await
        .unwrap()
    {
        Started::Existing { job: existing } => assert_eq!(existing.id, job.id),
        other => panic!("expected the existing job, got {other:?}"),
    }
    assert!(
        pipeline
            .run_shard(&tasks[0], true)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        pipeline
            .run_shard(&tasks[0], true)
            .await
            .unwrap()
            .is_empty(),
        "a retried shard is not counted twice"
    );
    assert!(
        pipeline
            .run_shard(&tasks[1], true)
            .await
            .unwrap()
            .is_empty()
    );
    let commit = only(pipeline.run_shard(&tasks[2], true).await.unwrap());
    assert_eq!(
        pipeline
            .jobs
            .get("photos", &job.id)
            .await
            .unwrap()
            .shards_done,
        3
    );
    // A redelivered last shard also asks for the commit; committing twice is harmless.
    assert_eq!(
        pipeline.run_shard(&tasks[2], true).await.unwrap(),
        vec![commit.clone()]
    );
    let done = pipeline.commit(&commit, true).await.unwrap();
    let again = pipeline.commit(&commit, true).await.unwrap();
    assert_eq!(done.commit_id, again.commit_id);
    assert_eq!(done.summary.unwrap().total, 300);
    assert_eq!(
        imported_into_photos(&pipeline).await,
        as_tree("photos-source", &generated.expected)
    );
    assert_eq!(
        pipeline
            .catalog
            .log("photos", IMPORT_BRANCH, 10)
            .await
            .unwrap()
            .len(),
        2
    );
}

/// Every shard task delivered three times and all the deliveries run at once: each shard is
/// counted exactly once (a duplicate's counting transaction fails its condition while
/// other shards are counted), and the commit has every object.
#[tokio::test]
async fn duplicated_workers_racing_count_every_shard_once() {
    let stack = LocalStack::start().await;
    let pipeline = setup(&stack).await;
    let mut options = options("2026-11-20T01:00:00Z", 16);
    options.objects = 320;
    let generated = generate_inventory(&stack.store(), &options).await.unwrap();
    let (job, tasks) = started(&pipeline, &generated.manifest).await;
    assert_eq!(tasks.len(), 16);

    let runs = tasks
        .iter()
        .chain(tasks.iter())
        .chain(tasks.iter())
        .map(|task| pipeline.run_shard(task, false));
    let results = futures::future::join_all(runs).await;
    let asked: Vec<CommitTask> = results
        .into_iter()
        .flat_map(|result| result.unwrap())
        .collect();
    let counted = pipeline.jobs.get("photos", &job.id).await.unwrap();
    assert_eq!(
        (counted.shards_done, counted.shards_total),
        (16, 16),
        "each of 16 shards counted once"
    );
    // Deliveries that found every shard counted ask for the (one) commit: at least the
    // one that counted the last shard.
    assert!(!asked.is_empty(), "no delivery asked for the commit");
    assert!(asked.iter().all(|task| *task == asked[0]), "{asked:?}");

    let done = pipeline.commit(&asked[0], true).await.unwrap();
    assert_eq!(done.summary.unwrap().total, 320);
    assert_eq!(
        imported_into_photos(&pipeline).await,
        as_tree("photos-source", &generated.expected)
    );
}

/// The local stack isolates DynamoDB's transactions as AWS does (see
/// `scripts/moto-server.py`): 80 transactions at once, each marking one of 40 items
/// done under the condition that it was not and counting it, two per item, beside
/// 600 KB of other items. moto alone puts back a copy of the table taken before a
/// transaction whose condition failed, undoing the others' writes meanwhile.
#[tokio::test]
async fn the_local_stack_isolates_dynamodb_transactions() {
    use aws_sdk_dynamodb::types::{
        AttributeValue, PutRequest, TransactWriteItem, Update, WriteRequest,
    };
    let stack = LocalStack::start().await;
    stack.pipeline(small_ranges()).await;
    let (dynamo, table) = (stack.dynamo(), "inventory-import-jobs");
    let key = |pk: &str, sk: String| {
        [("pk", pk.to_string()), ("sk", sk)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), AttributeValue::S(v)))
            .collect::<std::collections::HashMap<_, _>>()
    };
    let put = |pk: &str, sk: String, name: &str, value: AttributeValue| {
        let mut item = key(pk, sk);
        item.insert(name.to_string(), value);
        let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
        WriteRequest::builder().put_request(put).build()
    };
    let mut writes: Vec<WriteRequest> = (0..300)
        .map(|i| {
            put(
                "other",
                format!("{i:03}"),
                "doc",
                AttributeValue::S("x".repeat(2048)),
            )
        })
        .collect();
    writes.extend((0..40).map(|i| {
        put(
            "mark",
            format!("{i:02}"),
            "done",
            AttributeValue::Bool(false),
        )
    }));
    writes.push(put(
        "count",
        "all".into(),
        "n",
        AttributeValue::N("0".into()),
    ));
    inventory_base::dynamo::batch_write(&dynamo, table, writes)
        .await
        .unwrap();

    let values = |pairs: &[(&str, AttributeValue)]| {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    };
    let transactions = (0..80).map(|i| {
        let mark = Update::builder()
            .table_name(table)
            .set_key(Some(key("mark", format!("{:02}", i % 40))))
            .update_expression("SET done = :true")
            .condition_expression("done = :false")
            .set_expression_attribute_values(values(&[
                (":true", AttributeValue::Bool(true)),
                (":false", AttributeValue::Bool(false)),
            ]))
            .build()
            .unwrap();
        let count = Update::builder()
            .table_name(table)
            .set_key(Some(key("count", "all".into())))
            .update_expression("ADD n :one")
            .set_expression_attribute_values(values(&[(":one", AttributeValue::N("1".into()))]))
            .build()
            .unwrap();
        dynamo
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(mark).build())
            .transact_items(TransactWriteItem::builder().update(count).build())
            .send()
    });
    let results = futures::future::join_all(transactions).await;
    let succeeded = results.iter().filter(|r| r.is_ok()).count();

    let count = dynamo
        .get_item()
        .table_name(table)
        .set_key(Some(key("count", "all".into())))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    let counted = match count.item().and_then(|item| item.get("n")) {
        Some(AttributeValue::N(n)) => n.clone(),
        other => panic!("no count: {other:?}"),
    };
    assert_eq!((succeeded, counted.as_str()), (40, "40"));
}

#[tokio::test]
async fn a_large_shard_is_staged_in_sorted_runs() {
    let stack = LocalStack::start().await;
    let mut pipeline = setup(&stack).await;
    // One shard of three files, staged in runs as soon as 100 entries are waiting: a
    // run per decoded batch here, each file's batch holding several hundred entries.
    pipeline.shard_bytes = u64::MAX;
    pipeline.run_entries = 100;
    let mut options = options("2026-11-20T01:00:00Z", 3);
    options.objects = 900;
    options.versioned = true;
    options.shuffle = true;
    options.overlap = true;
    let generated = generate_inventory(&stack.store(), &options).await.unwrap();

    let (job, tasks) = started(&pipeline, &generated.manifest).await;
    assert_eq!(tasks.len(), 1);
    let commit = only(pipeline.run_shard(&tasks[0], true).await.unwrap());
    let shard = &pipeline.jobs.shards(&job.id).await.unwrap()[0];
    assert_eq!(shard.runs.len(), 3, "one sorted run per data file");
    assert_eq!(shard.entries, 900);
    assert_eq!(
        stack.count_items("inventory-import-staging").await as usize,
        shard.runs.iter().sum::<usize>()
    );
    let done = pipeline.commit(&commit, true).await.unwrap();
    let summary = done.summary.unwrap();
    assert_eq!((summary.added, summary.total), (900, 900));
    assert_eq!(summary.skipped, generated.skipped);
    assert_eq!(
        imported_into_photos(&pipeline).await,
        as_tree("photos-source", &generated.expected)
    );
    assert_eq!(stack.count_items("inventory-import-staging").await, 0);
}

#[tokio::test]
async fn a_delivery_naming_other_buckets_than_its_import_source_is_refused() {
    let stack = LocalStack::start().await;
    let pipeline = setup(&stack).await;
    let sources = ImportSources::new(&pipeline.catalog);
    sources
        .add_source(&ImportSource {
            inventory: "s3://inventory-dest/inv/photos-source/daily/"
                .parse()
                .unwrap(),
            repository: "photos".into(),
            merge_into: None,
            scope: Default::default(),
        })
        .await
        .unwrap();
    let mut options = options("2026-11-20T01:00:00Z", 1);
    options.objects = 20;
    let generated = generate_inventory(&stack.store(), &options).await.unwrap();
    let original: ManifestDocument =
        serde_json::from_slice(&stack.get(&generated.manifest).await).unwrap();

    // Whoever can write under the prefix points the entries at another bucket, or has
    // the data files read from one.
    let tampered = [
        (
            ManifestDocument {
                source_bucket: "someone-elses-bucket".into(),
                ..original.clone()
            },
            "its sourceBucket is \"someone-elses-bucket\", not \"photos-source\"",
        ),
        (
            ManifestDocument {
                destination_bucket: "arn:aws:s3:::someone-elses-bucket".into(),
                ..original.clone()
            },
            "its destinationBucket is \"someone-elses-bucket\", not \"inventory-dest\"",
        ),
    ];
    for (document, mismatch) in tampered {
        stack.put_manifest(&generated.manifest, &document).await;
        let err = pipeline
            .start(&photos_import(&generated.manifest))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "manifest {} was delivered under the import source s3://inventory-dest/inv/photos-source/daily/, but {mismatch}; the delivery is refused",
                generated.manifest
            )
        );
        let jobs = pipeline.jobs.list("photos").await.unwrap();
        assert_eq!(jobs.len(), 1, "one job per delivery");
        assert_eq!(jobs[0].state, JobState::Failed);
        assert_eq!(jobs[0].error, Some(err.to_string()));
        assert!(
            pipeline
                .catalog
                .branch("photos", IMPORT_BRANCH)
                .await
                .is_err(),
            "no branch moved"
        );
        // The next check starts from no job.
        stack
            .dynamo()
            .delete_item()
            .table_name("inventory-import-jobs")
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S("job#photos".into()),
            )
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S(jobs[0].id.clone()),
            )
            .send()
            .await
            .unwrap();
    }

    // The delivery as AWS wrote it imports.
    stack.put_manifest(&generated.manifest, &original).await;
    let job = import(&pipeline, &photos_import(&generated.manifest)).await;
    assert_eq!(job.state, JobState::Committed);
    assert_eq!(job.summary.unwrap().total, 20);
}
