//! `inventory-import cancel`: an import stopped while its workers stage and while its
//! committer commits moves no branch, leaves nothing staged, and says who cancelled it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use integration_tests::faults::{Fault, FaultProxy, When};
use integration_tests::{LocalStack, ok_json, photos_import, small_ranges};

use inventory_devtools::generator::{GeneratorOptions, generate_inventory};
use inventory_importer::jobs::{Job, JobState};
use inventory_importer::pipeline::{IMPORT_BRANCH, Pipeline, PipelineError, ShardTask, Started};

const STAGING: &str = "inventory-import-staging";

fn options(created_at: &str, objects: u64, files: usize) -> GeneratorOptions {
    let mut options =
        GeneratorOptions::new("s3://inventory-dest/inv".parse().unwrap(), "photos-source");
    options.objects = objects;
    options.files = files;
    options.created_at = created_at.parse::<DateTime<Utc>>().unwrap();
    options
}

/// The stack as a user sets it up (`dev init`, `repo create`), a first delivery
/// imported, and the pipeline (runs of `run_entries` entries); returns the import
/// branch's head.
async fn imported_once(stack: &LocalStack, run_entries: usize) -> (Arc<Pipeline>, String) {
    stack.photos_repository(true).await;
    let mut pipeline = stack.pipeline(small_ranges()).await;
    pipeline.run_entries = run_entries;
    let first = generate_inventory(&stack.store(), &options("2026-11-20T01:00:00Z", 300, 1))
        .await
        .unwrap();
    pipeline
        .run_in_process(&photos_import(&first.manifest))
        .await
        .unwrap();
    let head = import_head(&pipeline).await;
    (Arc::new(pipeline), head)
}

/// Cancels `job` on behalf of the test suite.
async fn cancel(pipeline: &Pipeline, job: &Job) {
    let cancelled = pipeline
        .cancel("photos", &job.id, "the test suite")
        .await
        .unwrap();
    assert_eq!(cancelled.state, JobState::Cancelled);
}

async fn import_head(pipeline: &Pipeline) -> String {
    pipeline
        .catalog
        .branch("photos", IMPORT_BRANCH)
        .await
        .unwrap()
        .commit_id
}

/// A new job for a delivery created at `created_at` of `objects` objects in `files`
/// data files (one shard each) of row groups of `rows_per_group`.
async fn started(
    stack: &LocalStack,
    pipeline: &Pipeline,
    created_at: &str,
    objects: u64,
    files: usize,
    rows_per_group: usize,
) -> (Job, Vec<ShardTask>) {
    let mut options = options(created_at, objects, files);
    options.rows_per_group = rows_per_group;
    let next = generate_inventory(&stack.store(), &options).await.unwrap();
    match pipeline
        .start(&photos_import(&next.manifest))
        .await
        .unwrap()
    {
        Started::Started { job, tasks } => (job, tasks),
        other => panic!("expected a new job, got {other:?}"),
    }
}

#[tokio::test]
async fn a_cancel_while_workers_stage_stops_them_and_leaves_nothing_staged() {
    let stack = LocalStack::start().await;
    // Each batch of rows read (8,192) is staged as a run of its own, and the workers
    // look for a cancel after every batch: a shard of 60,000 rows stages 8 runs, one
    // after another.
    let (pipeline, head) = imported_once(&stack, 20).await;
    let (job, tasks) = started(
        &stack,
        &pipeline,
        "2026-11-21T01:00:00Z",
        180_000,
        3,
        10_000,
    )
    .await;
    assert_eq!(tasks.len(), 3);

    // One worker has staged its shard; another is staging when the cancel comes. That
    // one reaches DynamoDB over a slow network (each write of staged batches takes
    // 250 ms longer), so that its 8 runs take longer than seeing it stage and
    // cancelling, however busy the machine is.
    assert!(
        pipeline
            .run_shard(&tasks[0], false)
            .await
            .unwrap()
            .is_empty()
    );
    let staged_by_first = stack.count_items(STAGING).await;
    assert!(staged_by_first > 0);
    let proxy = FaultProxy::start(&stack.endpoint).await;
    proxy.inject(
        "BatchWriteItem",
        Fault::Delay(Duration::from_millis(250)),
        When::Rate {
            probability: 1.0,
            seed: 1,
        },
    );
    let mut slow = stack.pipeline_through(&proxy, small_ranges()).await;
    slow.run_entries = pipeline.run_entries;
    let worker = {
        let task = tasks[1].clone();
        tokio::spawn(async move { slow.run_shard(&task, false).await })
    };
    let waiting = std::time::Instant::now();
    while stack.count_items(STAGING).await <= staged_by_first {
        if worker.is_finished() {
            panic!(
                "the second worker ended before staging a run: {:?}",
                worker.await
            );
        }
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "nothing staged in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cancel(&pipeline, &job).await;

    // The worker stops within a batch, without finishing its shard, and removes what
    // it staged.
    let stopped = worker.await.unwrap().unwrap();
    assert!(stopped.is_empty(), "no commit task: {stopped:?}");
    let shards = pipeline.jobs.shards(&job.id).await.unwrap();
    assert!(shards[0].done);
    assert!(!shards[1].done, "the second shard stopped before its end");
    // Workers given the other shards afterwards do nothing.
    for task in &tasks[2..] {
        assert!(pipeline.run_shard(task, false).await.unwrap().is_empty());
    }
    assert_eq!(stack.count_items(STAGING).await, 0, "nothing stays staged");
    assert_eq!(
        import_head(&pipeline).await,
        head,
        "the import branch did not move"
    );

    // Cancelling again changes nothing.
    let again = pipeline
        .cancel("photos", &job.id, "someone else")
        .await
        .unwrap();
    assert_eq!(again.cancelled_by.as_deref(), Some("the test suite"));

    // From the command line, of a job no worker has taken yet: `status` says who.
    let (job, _) = started(&stack, &pipeline, "2026-11-22T01:00:00Z", 100, 1, 10_000).await;
    let cancelled = ok_json(stack.cli().args(["cancel", "photos", &job.id, "--json"]));
    assert_eq!(cancelled["state"], "cancelled");
    let by = cancelled["cancelled_by"].as_str().unwrap().to_string();
    assert!(by.ends_with(" from the command line"), "{by}");
    let status = ok_json(stack.cli().args(["status", "photos", &job.id, "--json"]));
    assert_eq!(status["state"], "cancelled");
    assert_eq!(status["cancelled_by"], by.as_str());
    assert_eq!(status["error"], format!("cancelled by {by}"));
    let text = integration_tests::finished({
        let mut status = stack.cli();
        status.args(["status", "photos", &job.id]);
        status
    })
    .await;
    assert!(text.contains("State        cancelled"), "{text}");
    assert!(
        text.contains(&format!("Error        cancelled by {by}")),
        "{text}"
    );
    assert_eq!(import_head(&pipeline).await, head);
}

#[tokio::test]
async fn a_cancel_while_the_committer_commits_leaves_the_branch_where_it_was() {
    let stack = LocalStack::start().await;
    let (pipeline, head) = imported_once(&stack, 100_000).await;
    // Ranges of at most 128 entries: the commit writes some 500 range files, long
    // enough to be cancelled in the middle.
    let (job, tasks) = started(&stack, &pipeline, "2026-11-21T01:00:00Z", 60_000, 2, 10_000).await;
    let mut commit_tasks = Vec::new();
    for task in &tasks {
        commit_tasks.extend(pipeline.run_shard(task, false).await.unwrap());
    }
    assert_eq!(commit_tasks.len(), 1);
    assert!(stack.count_items(STAGING).await > 0);

    let committer = {
        let (pipeline, task) = (pipeline.clone(), commit_tasks.remove(0));
        tokio::spawn(async move { pipeline.commit(&task, false).await })
    };
    loop {
        let now = pipeline.jobs.get("photos", &job.id).await.unwrap();
        if now.state == JobState::Committing {
            break;
        }
        assert!(
            !now.state.is_finished(),
            "the commit ended before the cancel"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cancel(&pipeline, &job).await;

    // The committer stops: its job is cancelled and its staged entries are gone.
    let ended = committer.await.unwrap().unwrap();
    assert_eq!(ended.state, JobState::Cancelled);
    assert_eq!(ended.cancelled_by.as_deref(), Some("the test suite"));
    assert_eq!(ended.commit_id, None);
    assert_eq!(
        import_head(&pipeline).await,
        head,
        "the import branch did not move"
    );
    assert_eq!(stack.count_items(STAGING).await, 0, "nothing stays staged");
    let log = pipeline
        .catalog
        .log("photos", IMPORT_BRANCH, 10)
        .await
        .unwrap();
    assert_eq!(
        log.len(),
        2,
        "the first import and the repository's first commit"
    );

    // Once a committer has claimed the branch's move, a cancel is refused.
    let next = generate_inventory(&stack.store(), &options("2026-11-22T01:00:00Z", 50, 1))
        .await
        .unwrap();
    let Started::Started { job, .. } = pipeline
        .start(&photos_import(&next.manifest))
        .await
        .unwrap()
    else {
        panic!("expected a new job");
    };
    pipeline
        .jobs
        .update("photos", &job.id, |j| j.moving_branch = true)
        .await
        .unwrap();
    let refused = pipeline.cancel("photos", &job.id, "the test suite").await;
    assert!(matches!(
        refused,
        Err(PipelineError::TooLateToCancel { .. })
    ));
    assert_eq!(
        refused.unwrap_err().to_string(),
        format!(
            "job {} is moving branch {IMPORT_BRANCH} to its commit: too late to cancel (revert the commit instead)",
            job.id
        )
    );
    assert_eq!(
        pipeline.jobs.get("photos", &job.id).await.unwrap().state,
        JobState::Staging
    );
    // And a finished job has nothing to cancel.
    let committed = pipeline
        .jobs
        .list("photos")
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.state == JobState::Committed)
        .unwrap();
    let refused = pipeline
        .cancel("photos", &committed.id, "x")
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        format!(
            "job {} has already finished (committed): there is nothing to cancel",
            committed.id
        )
    );
}

/// A cancel and a commit racing, the cancel coming later and later into the commit:
/// either the cancel wins (the job is cancelled and the branch stays) or the commit
/// does (the cancel is refused and the job committed), never both.
#[tokio::test]
async fn a_cancel_and_a_commit_never_both_happen() {
    let stack = LocalStack::start().await;
    let (pipeline, mut head) = imported_once(&stack, 100_000).await;
    let mut outcomes = Vec::new();
    let mut took: Option<Duration> = None;
    for attempt in 0..7u64 {
        let mut options = options(&format!("2026-11-{:02}T01:00:00Z", 21 + attempt), 2_000, 1);
        options.seed = attempt + 2;
        let next = generate_inventory(&stack.store(), &options).await.unwrap();
        let Started::Started { job, tasks } = pipeline
            .start(&photos_import(&next.manifest))
            .await
            .unwrap()
        else {
            panic!("expected a new job");
        };
        let mut commit_tasks = pipeline.run_shard(&tasks[0], false).await.unwrap();
        let committer = {
            let (pipeline, task) = (pipeline.clone(), commit_tasks.remove(0));
            tokio::spawn(async move { pipeline.commit(&task, false).await })
        };
        // The first commit is left alone, to time it; the cancels of the next ones
        // come from their start to well past the time it took.
        let Some(took) = took else {
            let started = std::time::Instant::now();
            let ended = committer.await.unwrap().unwrap();
            assert_eq!(ended.state, JobState::Committed);
            took = Some(started.elapsed());
            head = import_head(&pipeline).await;
            continue;
        };
        tokio::time::sleep(took * (attempt as u32 - 1) / 3).await;
        let cancelled = pipeline.cancel("photos", &job.id, "the race").await;
        let ended = committer.await.unwrap().unwrap();
        let now = import_head(&pipeline).await;
        match cancelled {
            Ok(job) => {
                assert_eq!(job.state, JobState::Cancelled);
                assert_eq!(ended.state, JobState::Cancelled, "attempt {attempt}");
                assert_eq!(
                    now, head,
                    "attempt {attempt}: cancelled, yet the branch moved"
                );
                outcomes.push("cancelled");
            }
            Err(PipelineError::TooLateToCancel { .. } | PipelineError::AlreadyFinished { .. }) => {
                assert_eq!(ended.state, JobState::Committed, "attempt {attempt}");
                assert_eq!(ended.commit_id.as_deref(), Some(now.as_str()));
                assert_ne!(
                    now, head,
                    "attempt {attempt}: committed, yet the branch stayed"
                );
                outcomes.push("committed");
            }
            Err(err) => panic!("attempt {attempt}: {err}"),
        }
        assert_eq!(
            stack.count_items(STAGING).await,
            0,
            "attempt {attempt}: staged items left"
        );
        head = now;
    }
    eprintln!("a commit took {took:?}; outcomes: {outcomes:?}");
    assert!(
        outcomes.contains(&"cancelled") && outcomes.contains(&"committed"),
        "{outcomes:?}"
    );
}
