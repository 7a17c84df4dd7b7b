//! Imports that meet the faults AWS can answer with, injected by the test harness's
//! proxy between the SDK and moto: each ends committed once with the exact tree and
//! summary, or waits for the queue's retries; none is lost or left stuck.

use chrono::{DateTime, Utc};
use integration_tests::faults::{Fault, FaultProxy, When};
use integration_tests::{
    LocalStack, as_tree, env_number, imported_into_photos, photos_import, small_ranges,
};

use inventory_devtools::generator::{GeneratedInventory, GeneratorOptions, generate_inventory};
use inventory_importer::jobs::{Attempt, Job, JobState};
use inventory_importer::pipeline::{
    CommitTask, GivenUp, IMPORT_BRANCH, Pipeline, ShardTask, Started,
};

/// A stack with a bucket for the catalog, a proxy in front of it, the pipeline
/// reaching it through the proxy, and the repository `photos`.
async fn setup() -> (LocalStack, FaultProxy, Pipeline) {
    let stack = LocalStack::start().await;
    stack.create_bucket("catalog-storage").await;
    let proxy = FaultProxy::start(&stack.endpoint).await;
    let pipeline = stack.pipeline_through(&proxy, small_ranges()).await;
    pipeline
        .catalog
        .create_repository("photos", "s3://catalog-storage/photos", None)
        .await
        .unwrap();
    (stack, proxy, pipeline)
}

async fn delivery(stack: &LocalStack, files: usize, objects: u64) -> GeneratedInventory {
    let mut options =
        GeneratorOptions::new("s3://inventory-dest/inv".parse().unwrap(), "photos-source");
    options.files = files;
    options.objects = objects;
    options.created_at = "2026-11-20T01:00:00Z".parse::<DateTime<Utc>>().unwrap();
    generate_inventory(&stack.store(), &options).await.unwrap()
}

/// The job a delivery starts, with its shard tasks.
async fn started(pipeline: &Pipeline, generated: &GeneratedInventory) -> (Job, Vec<ShardTask>) {
    match pipeline
        .start(&photos_import(&generated.manifest))
        .await
        .unwrap()
    {
        Started::Started { job, tasks } => (job, tasks),
        other => panic!("expected a new job, got {other:?}"),
    }
}

/// The commit task a shard's run sends, if any (a job of one partition sends one).
fn one(mut tasks: Vec<CommitTask>) -> Option<CommitTask> {
    assert!(tasks.len() <= 1, "one commit task at most: {tasks:?}");
    tasks.pop()
}

/// Stages every shard, as the queue's first deliveries; the commit task the last one
/// sends.
async fn staged(pipeline: &Pipeline, tasks: &[ShardTask]) -> CommitTask {
    let mut commits = Vec::new();
    for task in tasks {
        commits.extend(one(pipeline.run_shard(task, false).await.unwrap()));
    }
    assert_eq!(commits.len(), 1, "the last shard sends the commit task");
    commits.remove(0)
}

/// The import branch holds one import's commit, over the repository's first.
async fn assert_one_import_commit(pipeline: &Pipeline) {
    let log = pipeline
        .catalog
        .log("photos", IMPORT_BRANCH, 10)
        .await
        .unwrap();
    assert_eq!(log.len(), 2, "one import commit: {log:?}");
}

/// The commit the import branch holds; before the first import (when a commit may
/// create it from `main`), `main`'s.
async fn import_head(pipeline: &Pipeline) -> String {
    let branch = match pipeline.catalog.branch("photos", IMPORT_BRANCH).await {
        Ok(branch) => branch,
        Err(_) => pipeline.catalog.branch("photos", "main").await.unwrap(),
    };
    branch.commit_id
}

/// The transaction that marks a shard done and counts it on the job.
const COUNTING: &str = "TransactWriteItems";

#[tokio::test]
async fn a_shard_whose_count_meets_a_transaction_conflict_is_still_counted() {
    let (stack, proxy, pipeline) = setup().await;
    let generated = delivery(&stack, 2, 200).await;
    let (job, tasks) = started(&pipeline, &generated).await;
    assert_eq!(tasks.len(), 2);

    // Two workers finish at the same instant: DynamoDB cancels the first one's
    // counting transaction because the job item is being updated by the other.
    let next = proxy.calls(COUNTING) + 1;
    proxy.inject(
        COUNTING,
        Fault::TransactionConflict {
            items: 2,
            conflicts: vec![1],
        },
        When::Calls(vec![next]),
    );
    assert_eq!(
        one(pipeline.run_shard(&tasks[0], false).await.unwrap()),
        None
    );
    assert_eq!(proxy.faults(COUNTING), 1, "the conflict was answered");
    let counted = pipeline.jobs.get("photos", &job.id).await.unwrap();
    assert_eq!(counted.shards_done, 1, "the shard is counted once");

    let commit = one(pipeline.run_shard(&tasks[1], false).await.unwrap())
        .expect("the last shard sends the commit task");
    let done = pipeline.commit(&commit, true).await.unwrap();
    assert_eq!(done.state, JobState::Committed);
    assert_eq!(done.shards_done, 2);
    let summary = done.summary.unwrap();
    assert_eq!((summary.added, summary.total), (200, 200));
    assert_eq!(
        imported_into_photos(&pipeline).await,
        as_tree("photos-source", &generated.expected)
    );
}

#[tokio::test]
async fn a_conflict_that_persists_is_an_error_for_the_queue_to_retry_not_a_lost_shard() {
    let (stack, proxy, pipeline) = setup().await;
    let generated = delivery(&stack, 2, 100).await;
    let (job, tasks) = started(&pipeline, &generated).await;
    // Every try of the worker meets a conflict.
    proxy.inject(
        COUNTING,
        Fault::TransactionConflict {
            items: 2,
            conflicts: vec![1],
        },
        When::Rate {
            probability: 1.0,
            seed: 7,
        },
    );
    let err = pipeline.run_shard(&tasks[0], false).await.unwrap_err();
    assert!(
        err.to_string().contains("TransactionConflict"),
        "the error names the reason: {err}"
    );
    let waiting = pipeline.jobs.get("photos", &job.id).await.unwrap();
    assert_eq!(
        (waiting.state, waiting.shards_done),
        (JobState::Staging, 0),
        "nothing counted, nothing failed: the queue delivers the task again"
    );

    // The queue's next delivery, once the conflict has passed, counts it once.
    proxy.clear();
    assert_eq!(
        one(pipeline.run_shard(&tasks[0], false).await.unwrap()),
        None
    );
    assert_eq!(
        pipeline
            .jobs
            .get("photos", &job.id)
            .await
            .unwrap()
            .shards_done,
        1
    );
    let commit = one(pipeline.run_shard(&tasks[1], false).await.unwrap())
        .expect("the last shard sends the commit task");
    let done = pipeline.commit(&commit, true).await.unwrap();
    assert_eq!(done.state, JobState::Committed);
    assert_eq!(done.summary.unwrap().total, 100);
    assert_eq!(
        imported_into_photos(&pipeline).await,
        as_tree("photos-source", &generated.expected)
    );
}

/// Writes of the new tree's files (ranges and metarange) to the storage namespace.
const TREE_WRITES: &str = "PutObject";

#[tokio::test]
async fn a_commit_that_meets_s3_errors_is_left_to_the_queue_and_then_commits() {
    let (stack, proxy, pipeline) = setup().await;
    let generated = delivery(&stack, 2, 300).await;
    let (job, tasks) = started(&pipeline, &generated).await;
    let commit = staged(&pipeline, &tasks).await;
    let staged = stack.count_items("inventory-import-staging").await;
    assert!(staged > 0);
    let before = import_head(&pipeline).await;

    // S3 answers 500 InternalError to every write of the tree, through the SDK's own
    // retries: the committer's first delivery fails.
    proxy.inject(
        TREE_WRITES,
        Fault::InternalError,
        When::Rate {
            probability: 1.0,
            seed: 1,
        },
    );
    let err = pipeline.commit(&commit, false).await.unwrap_err();
    assert!(err.to_string().contains("InternalError"), "{err}");
    assert!(proxy.faults(TREE_WRITES) >= 3, "the SDK tried again first");
    let waiting = pipeline.jobs.get("photos", &job.id).await.unwrap();
    assert_eq!(
        waiting.state,
        JobState::Committing,
        "not failed: {waiting:?}"
    );
    assert_eq!(waiting.error, None);
    assert_eq!(
        stack.count_items("inventory-import-staging").await,
        staged,
        "the staged batches wait for the next delivery"
    );
    assert_eq!(import_head(&pipeline).await, before, "no branch moved");

    // The queue delivers the task again once S3 is well: one commit, exact counts.
    proxy.clear();
    let done = pipeline.commit(&commit, false).await.unwrap();
    assert_eq!(done.state, JobState::Committed);
    let summary = done.summary.unwrap();
    assert_eq!((summary.added, summary.total), (300, 300));
    assert_eq!(
        imported_into_photos(&pipeline).await,
        as_tree("photos-source", &generated.expected)
    );
    assert_eq!(stack.count_items("inventory-import-staging").await, 0);
    assert_one_import_commit(&pipeline).await;
}

#[tokio::test]
async fn a_commit_that_fails_on_its_last_delivery_fails_the_job_and_moves_no_branch() {
    let (stack, proxy, pipeline) = setup().await;
    let generated = delivery(&stack, 1, 100).await;
    let (job, tasks) = started(&pipeline, &generated).await;
    let commit = one(pipeline.run_shard(&tasks[0], false).await.unwrap())
        .expect("the only shard sends the commit task");
    let before = import_head(&pipeline).await;
    proxy.inject(
        TREE_WRITES,
        Fault::SlowDown,
        When::Rate {
            probability: 1.0,
            seed: 2,
        },
    );
    let err = pipeline.commit(&commit, true).await.unwrap_err();
    assert!(err.to_string().contains("SlowDown"), "{err}");
    let failed = pipeline.jobs.get("photos", &job.id).await.unwrap();
    assert_eq!(failed.state, JobState::Failed);
    // The job names the error (moto rewrites the request id inside stored texts).
    let recorded = failed.error.unwrap_or_default();
    let named = |text: &str| {
        text.split(" (ServiceError")
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(named(&recorded), named(&err.to_string()));
    assert_eq!(stack.count_items("inventory-import-staging").await, 0);
    assert_eq!(import_head(&pipeline).await, before, "no branch moved");
}

#[tokio::test]
async fn two_committers_of_one_job_make_one_commit_and_the_job_stays_committed() {
    let (stack, proxy, first) = setup().await;
    // A second committer process, reaching the stack through a proxy of its own.
    let slow_proxy = FaultProxy::start(&stack.endpoint).await;
    let second = stack.pipeline_through(&slow_proxy, small_ranges()).await;
    let generated = delivery(&stack, 2, 300).await;
    let (job, tasks) = started(&first, &generated).await;
    let task = staged(&first, &tasks).await;

    // The second committer has merged the staged batches and pauses before writing its
    // tree; the first commits meanwhile and removes the staged batches. Both are on
    // the queue's last delivery, so a failure would fail the job.
    slow_proxy.inject(
        TREE_WRITES,
        Fault::Delay(std::time::Duration::from_millis(1500)),
        When::Calls(vec![1]),
    );
    let late = tokio::spawn({
        let task = task.clone();
        async move { second.commit(&task, true).await }
    });
    assert!(
        slow_proxy
            .wait_for_call(TREE_WRITES, std::time::Duration::from_secs(20))
            .await,
        "the second committer never wrote"
    );
    let done = first.commit(&task, true).await.unwrap();
    assert_eq!(done.state, JobState::Committed);
    let late = late.await.unwrap();

    let job = first.jobs.get("photos", &job.id).await.unwrap();
    assert_eq!(
        job.state,
        JobState::Committed,
        "{job:?}; the late one: {late:?}"
    );
    assert_eq!(job.commit_id, done.commit_id);
    assert_eq!(job.error, None);
    let summary = job.summary.unwrap();
    assert_eq!(
        (summary.added, summary.unchanged, summary.total),
        (300, 0, 300)
    );
    let late = late.unwrap();
    assert_eq!(
        (late.state, late.commit_id),
        (JobState::Committed, done.commit_id)
    );
    assert_one_import_commit(&first).await;
    assert_eq!(
        imported_into_photos(&first).await,
        as_tree("photos-source", &generated.expected)
    );
    assert_eq!(proxy.total_faults(), 0);
}

/// Runs one step as its queue delivers its task: again after a failure, up to the
/// queue's last delivery, which the step is told about.
async fn delivered<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(
    what: &str,
    mut step: impl FnMut(bool) -> F,
) -> T {
    let last = inventory_runtime::queues::MAX_RECEIVES;
    let mut errors = Vec::new();
    for delivery in 1..=last {
        match step(delivery == last).await {
            Ok(done) => return done,
            Err(err) => errors.push(err.to_string()),
        }
    }
    panic!("{what} failed on every delivery: {errors:#?}")
}

/// `FAULT_SEEDS` imports (default 2; `make soak` runs 20), each from its own seed.
#[tokio::test]
async fn an_import_through_ten_percent_faults_on_every_operation_commits_exactly() {
    let seeds = env_number("FAULT_SEEDS", 2);
    let mut faults = 0;
    for seed in 1..=seeds {
        let (stack, proxy, pipeline) = setup().await;
        let generated = delivery(&stack, 3, 400).await;
        proxy.inject(
            integration_tests::faults::ANY_OPERATION,
            Fault::Transient,
            When::Rate {
                probability: 0.1,
                seed,
            },
        );
        let request = photos_import(&generated.manifest);
        let started = delivered("start", |_| pipeline.start(&request)).await;
        let (job, tasks) = match started {
            Started::Started { job, tasks } => (job, tasks),
            other => panic!("seed {seed}: expected a new job, got {other:?}"),
        };
        let mut commit = None;
        for task in &tasks {
            let last = delivered("a shard", |last| pipeline.run_shard(task, last)).await;
            commit = commit.or(one(last));
        }
        let commit = commit.unwrap_or_else(|| panic!("seed {seed}: no shard sent the commit task"));
        let done = delivered("the commit", |last| pipeline.commit(&commit, last)).await;
        faults += proxy.total_faults();

        proxy.clear();
        assert_eq!(done.state, JobState::Committed, "seed {seed}: {done:?}");
        let job = pipeline.jobs.get("photos", &job.id).await.unwrap();
        assert_eq!(job.state, JobState::Committed);
        let summary = job.summary.unwrap();
        assert_eq!(
            (
                summary.added,
                summary.changed,
                summary.deleted,
                summary.total
            ),
            (400, 0, 0, 400),
            "seed {seed}"
        );
        assert_eq!(
            imported_into_photos(&pipeline).await,
            as_tree("photos-source", &generated.expected),
            "seed {seed}"
        );
        assert_eq!(stack.count_items("inventory-import-staging").await, 0);
    }
    assert!(faults >= 5 * seeds, "{faults} faults in {seeds} imports");
}

/// Every item of a DynamoDB table, as stored.
async fn items(
    stack: &LocalStack,
    table: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let output = stack
        .dynamo()
        .scan()
        .table_name(table)
        .send()
        .await
        .unwrap();
    assert!(
        output.last_evaluated_key.is_none(),
        "one page is enough here"
    );
    output.items.unwrap_or_default()
}

async fn put_items(
    stack: &LocalStack,
    table: &str,
    items: Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
) {
    for item in items {
        stack
            .dynamo()
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_committer_stopped_after_moving_the_branch_is_finished_by_the_retry_with_the_real_summary()
 {
    let (stack, _proxy, pipeline) = setup().await;
    let generated = delivery(&stack, 2, 250).await;
    let (job, tasks) = started(&pipeline, &generated).await;
    assert_eq!(
        one(pipeline.run_shard(&tasks[0], false).await.unwrap()),
        None
    );
    let task = one(pipeline.run_shard(&tasks[1], false).await.unwrap())
        .expect("the last shard sends the commit task");
    // What DynamoDB holds when the committer starts.
    let staged = items(&stack, "inventory-import-staging").await;
    let jobs = items(&stack, "inventory-import-jobs").await;
    assert!(!staged.is_empty());

    let first = pipeline.commit(&task, false).await.unwrap();
    assert_eq!(first.state, JobState::Committed);
    let commit = first.commit_id.clone().unwrap();

    // The committer is killed right after moving the branch: the job, its staged
    // batches and the record of the imported manifest are as they were before.
    put_items(&stack, "inventory-import-staging", staged).await;
    put_items(&stack, "inventory-import-jobs", jobs).await;
    stack
        .dynamo()
        .delete_item()
        .table_name(inventory_catalog::catalog::DEFAULT_TABLE)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("import#photos".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S(generated.manifest.to_string()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        pipeline.jobs.get("photos", &job.id).await.unwrap().state,
        JobState::Staging
    );

    // The queue delivers the commit task again.
    let retried = pipeline.commit(&task, false).await.unwrap();
    assert_eq!(retried.state, JobState::Committed, "{retried:?}");
    assert_eq!(retried.commit_id, Some(commit.clone()));
    assert_eq!(
        retried.summary, first.summary,
        "the real summary, not 'all unchanged'"
    );
    assert_one_import_commit(&pipeline).await;
    assert_eq!(stack.count_items("inventory-import-staging").await, 0);
    let again = pipeline
        .start(&photos_import(&generated.manifest))
        .await
        .unwrap();
    assert!(
        matches!(&again, Started::AlreadyImported { commit: c, .. } if *c == commit),
        "the manifest is recorded as imported: {again:?}"
    );
}

#[tokio::test]
async fn a_trigger_stopped_while_recording_the_job_leaves_no_job_that_cannot_finish() {
    let (stack, proxy, pipeline) = setup().await;
    let generated = delivery(&stack, 3, 150).await;
    // Recording the job writes one item per shard and one for the job: the second of
    // those writes fails through the SDK's retries, as if the trigger stopped there.
    let next = proxy.calls("PutItem") + 2;
    proxy.inject(
        "PutItem",
        Fault::ProvisionedThroughputExceeded,
        When::Calls((next..next + 10).collect()),
    );
    let err = pipeline
        .start(&photos_import(&generated.manifest))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("ProvisionedThroughputExceededException"),
        "{err}"
    );
    proxy.clear();

    // The notification comes back: the job is recorded whole and imports.
    let (job, tasks) = started(&pipeline, &generated).await;
    assert_eq!(tasks.len(), 3);
    assert_eq!(pipeline.jobs.shards(&job.id).await.unwrap().len(), 3);
    let mut commit = None;
    for task in &tasks {
        commit = commit.or(one(pipeline.run_shard(task, false).await.unwrap()));
    }
    let done = pipeline
        .commit(
            &commit.expect("the last shard sends the commit task"),
            false,
        )
        .await
        .unwrap();
    assert_eq!(done.state, JobState::Committed);
    assert_eq!(done.summary.unwrap().total, 150);
}

#[tokio::test]
async fn two_workers_on_one_shard_never_remove_each_others_runs() {
    let (stack, _proxy, first) = setup().await;
    let slow_proxy = FaultProxy::start(&stack.endpoint).await;
    let mut second = stack.pipeline_through(&slow_proxy, small_ranges()).await;
    let mut first = first;
    // Two sorted runs per attempt: the reader hands over 8,192 rows at a time.
    first.run_entries = 5_000;
    second.run_entries = 5_000;
    let generated = delivery(&stack, 1, 9_000).await;
    let (job, tasks) = started(&first, &generated).await;

    // SQS hands the shard's task to two workers. The second is slow to write its first
    // run, and its second run fails (through the SDK's retries), after which it removes
    // what it wrote; meanwhile the first stages the whole shard and counts it.
    const STAGING_WRITES: &str = "BatchWriteItem";
    slow_proxy.inject(
        STAGING_WRITES,
        Fault::Delay(std::time::Duration::from_millis(1500)),
        When::Calls(vec![1]),
    );
    slow_proxy.inject(
        STAGING_WRITES,
        Fault::ProvisionedThroughputExceeded,
        When::Calls(vec![2, 3, 4]),
    );
    let late = tokio::spawn({
        let task = tasks[0].clone();
        async move { second.run_shard(&task, false).await }
    });
    assert!(
        slow_proxy
            .wait_for_call(STAGING_WRITES, std::time::Duration::from_secs(20))
            .await,
        "the second worker never wrote"
    );
    let commit = one(first.run_shard(&tasks[0], false).await.unwrap())
        .expect("the only shard sends the commit task");
    let late = late.await.unwrap();
    assert!(late.is_err(), "the second attempt failed: {late:?}");
    assert!(
        slow_proxy.calls(STAGING_WRITES) > 4,
        "and cleaned up after itself"
    );

    let done = first.commit(&commit, false).await.unwrap();
    assert_eq!(done.state, JobState::Committed, "{done:?}");
    assert_eq!(done.summary.unwrap().total, 9_000);
    assert_eq!(
        imported_into_photos(&first).await,
        as_tree("photos-source", &generated.expected)
    );
    assert_eq!(stack.count_items("inventory-import-staging").await, 0);
    assert_eq!(
        first.jobs.get("photos", &job.id).await.unwrap().shards_done,
        1
    );
}

#[tokio::test]
async fn a_commit_task_given_up_by_its_queue_fails_the_job_with_its_last_error_once() {
    let (stack, _proxy, pipeline) = setup().await;
    let generated = delivery(&stack, 2, 200).await;
    let (job, tasks) = started(&pipeline, &generated).await;
    let commit = staged(&pipeline, &tasks).await;
    let head = import_head(&pipeline).await;
    // Its second delivery failed with an error a committer recorded; the third ended
    // without a word, and the queue moved the task to its dead-letter queue.
    pipeline
        .jobs
        .update("photos", &job.id, |j| {
            j.commit_attempt = Some(Attempt {
                delivery: 2,
                started_at: Utc::now().to_rfc3339(),
                error: Some("S3 answered 500 InternalError".into()),
            })
        })
        .await
        .unwrap();
    let GivenUp::Failed(failed) = pipeline.commit_given_up(&commit, 3).await.unwrap() else {
        panic!("the job should have failed")
    };
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(
        failed.error.as_deref(),
        Some(
            "the commit was given up after 3 deliveries; last error: S3 answered 500 InternalError"
        )
    );
    // No branch moved; the staged items are gone; a late committer changes nothing.
    assert_eq!(import_head(&pipeline).await, head);
    assert_eq!(stack.count_items("inventory-import-staging").await, 0);
    assert_eq!(pipeline.commit(&commit, true).await.unwrap(), failed);

    // A commit task given up after its job committed (a duplicate) leaves it committed.
    let generated = {
        let mut options =
            GeneratorOptions::new("s3://inventory-dest/inv".parse().unwrap(), "photos-source");
        options.objects = 100;
        options.created_at = "2026-11-21T01:00:00Z".parse::<DateTime<Utc>>().unwrap();
        generate_inventory(&stack.store(), &options).await.unwrap()
    };
    let (_, tasks) = started(&pipeline, &generated).await;
    let commit = staged(&pipeline, &tasks).await;
    let committed = pipeline.commit(&commit, false).await.unwrap();
    assert_eq!(committed.state, JobState::Committed);
    assert_eq!(
        pipeline.commit_given_up(&commit, 3).await.unwrap(),
        GivenUp::Finished(committed)
    );
}

#[tokio::test]
async fn a_shard_task_given_up_after_its_shard_was_counted_sends_the_commit_instead() {
    let (stack, _proxy, pipeline) = setup().await;
    let generated = delivery(&stack, 2, 200).await;
    let (_, tasks) = started(&pipeline, &generated).await;
    // The worker counted the shard, then stopped before it could send the commit task
    // or delete the message, on every delivery.
    let commit = staged(&pipeline, &tasks).await;
    assert_eq!(
        pipeline.shard_given_up(&tasks[0], 3).await.unwrap(),
        GivenUp::Staged(vec![commit])
    );
}

#[tokio::test]
async fn a_committer_stopped_after_recording_the_job_leaves_no_staged_items_behind_the_retry() {
    let (stack, _proxy, pipeline) = setup().await;
    let generated = delivery(&stack, 2, 250).await;
    let (_, tasks) = started(&pipeline, &generated).await;
    let task = staged(&pipeline, &tasks).await;
    let staged_items = items(&stack, "inventory-import-staging").await;
    assert!(!staged_items.is_empty());
    let done = pipeline.commit(&task, false).await.unwrap();
    assert_eq!(done.state, JobState::Committed);
    // As if the committer had stopped after recording the job, before removing the
    // staged items: its task comes back.
    put_items(&stack, "inventory-import-staging", staged_items).await;
    let again = pipeline.commit(&task, false).await.unwrap();
    assert_eq!(again, done, "the finished job stays as it is");
    assert_eq!(stack.count_items("inventory-import-staging").await, 0);
    assert_one_import_commit(&pipeline).await;
}
