//! The partitioned commit on the local stack: a delivery cut into K key partitions,
//! each committed by its own task, the last joining them. Whatever K is, the import
//! holds the same entries and counts the same summary; the next day's import writes at
//! most two more ranges per partition edge than with one partition; partition tasks
//! delivered twice, out of order, or after the branch moved commit the job once.

use chrono::{DateTime, Utc};
use integration_tests::{LocalStack, as_tree, imported_into, small_ranges};
use inventory_devtools::generator::{GeneratedInventory, GeneratorOptions, generate_inventory};
use inventory_importer::jobs::{ImportSummary, Job, JobState};
use inventory_importer::pipeline::{CommitTask, IMPORT_BRANCH, ImportRequest, Pipeline, Started};

const DAY_ONE: &str = "2026-11-20T01:00:00Z";
const DAY_TWO: &str = "2026-11-21T01:00:00Z";

fn options(created_at: &str) -> GeneratorOptions {
    let mut options =
        GeneratorOptions::new("s3://inventory-dest/inv".parse().unwrap(), "photos-source");
    options.files = 4;
    options.objects = 3000;
    options.versioned = true;
    options.shuffle = true;
    options.rows_per_group = 500;
    options.created_at = created_at.parse::<DateTime<Utc>>().unwrap();
    options
}

fn next_day() -> GeneratorOptions {
    let mut next = options(DAY_TWO);
    next.changes.added = 40;
    next.changes.changed = 25;
    next.changes.deleted = 15;
    next
}

fn request(repository: &str, generated: &GeneratedInventory) -> ImportRequest {
    ImportRequest {
        repository: repository.into(),
        manifest: generated.manifest.clone(),
        dry_run: false,
        force: false,
    }
}

async fn setup(stack: &LocalStack, repositories: &[&str]) -> Pipeline {
    stack.create_bucket("catalog-storage").await;
    let pipeline = stack.pipeline(small_ranges()).await;
    for name in repositories {
        pipeline
            .catalog
            .create_repository(name, &format!("s3://catalog-storage/{name}"), None)
            .await
            .unwrap();
    }
    pipeline
}

/// Range files in a repository's storage namespace.
async fn range_files(stack: &LocalStack, repository: &str) -> usize {
    let listed = stack
        .s3()
        .list_objects_v2()
        .bucket("catalog-storage")
        .prefix(format!("{repository}/_catalog/ranges/"))
        .send()
        .await
        .unwrap();
    assert!(!listed.is_truncated().unwrap_or(false));
    listed.contents().len()
}

async fn import(pipeline: &Pipeline, request: &ImportRequest) -> Job {
    match pipeline.run_in_process(request).await.unwrap() {
        Started::Started { job, .. } => job,
        other => panic!("expected a new job, got {other:?}"),
    }
}

fn counts(summary: &ImportSummary) -> [u64; 6] {
    [
        summary.added,
        summary.changed,
        summary.deleted,
        summary.unchanged,
        summary.total,
        summary.duplicate_keys,
    ]
}

#[tokio::test]
async fn the_same_import_whatever_the_number_of_partitions() {
    let stack = LocalStack::start().await;
    let mut pipeline = setup(&stack, &["k1", "k2", "k4"]).await;
    let first = generate_inventory(&stack.store(), &options(DAY_ONE))
        .await
        .unwrap();
    let mut second = next_day();
    second.destination = "s3://inventory-dest/next".parse().unwrap();
    let second = generate_inventory(&stack.store(), &second).await.unwrap();

    let mut new_ranges = Vec::new();
    for (repository, k) in [("k1", 1), ("k2", 2), ("k4", 4)] {
        pipeline.partitioning.forced = Some(k);
        let job = import(&pipeline, &request(repository, &first)).await;
        assert_eq!(job.state, JobState::Committed, "{repository}: {job:?}");
        // The first import is cut by the data files' key statistics.
        assert_eq!(
            job.partitions.len(),
            k - 1,
            "{repository}: {:?}",
            job.partitions
        );
        assert_eq!(job.rows_total, first.rows);
        let summary = job.summary.clone().unwrap();
        assert_eq!(counts(&summary), [3000, 0, 0, 0, 3000, 0], "{repository}");
        assert_eq!(summary.skipped, first.skipped);
        assert_eq!(
            imported_into(&pipeline, repository).await,
            as_tree("photos-source", &first.expected),
            "{repository}"
        );

        let before = range_files(&stack, repository).await;
        let job = import(&pipeline, &request(repository, &second)).await;
        assert_eq!(job.state, JobState::Committed, "{repository}: {job:?}");
        // The next day is cut at the import branch's range starts.
        assert_eq!(job.partitions.len(), k - 1, "{repository}");
        let summary = job.summary.clone().unwrap();
        assert_eq!(
            counts(&summary),
            [40, 25, 15, 2960, 3025, 0],
            "{repository}"
        );
        assert_eq!(summary.skipped, second.skipped);
        assert_eq!(
            imported_into(&pipeline, repository).await,
            as_tree("photos-source", &second.expected),
            "{repository}"
        );
        new_ranges.push((k, range_files(&stack, repository).await - before));
        let log = pipeline
            .catalog
            .log(repository, IMPORT_BRANCH, 10)
            .await
            .unwrap();
        assert_eq!(
            log.len(),
            3,
            "{repository}: two imports over the first commit"
        );
    }
    assert_eq!(stack.count_items("inventory-import-staging").await, 0);
    // Partition edges cost at most two ranges each, against one partition.
    let (_, single) = new_ranges[0];
    for &(k, written) in &new_ranges {
        assert!(
            written <= single + 2 * (k - 1),
            "K = {k}: {written} new ranges, K = 1: {single}; {new_ranges:?}"
        );
    }
    println!("new ranges of the next day's import: {new_ranges:?}");
}

/// Stages every shard; the commit tasks the last one sends.
async fn staged(pipeline: &Pipeline, request: &ImportRequest) -> (Job, Vec<CommitTask>) {
    let Started::Started { job, tasks } = pipeline.start(request).await.unwrap() else {
        panic!("expected a new job")
    };
    let mut commits = Vec::new();
    for task in &tasks {
        commits.extend(pipeline.run_shard(task, false).await.unwrap());
    }
    (job, commits)
}

#[tokio::test]
async fn partition_tasks_twice_out_of_order_and_after_the_branch_moved_commit_once() {
    let stack = LocalStack::start().await;
    let mut pipeline = setup(&stack, &["photos"]).await;
    pipeline.partitioning.forced = Some(3);
    let first = generate_inventory(&stack.store(), &options(DAY_ONE))
        .await
        .unwrap();
    let (job, tasks) = staged(&pipeline, &request("photos", &first)).await;
    assert_eq!(
        tasks.iter().map(|t| t.partition).collect::<Vec<_>>(),
        [Some(0), Some(1), Some(2)]
    );
    // The last partition first, twice: the job waits for the others.
    for task in [&tasks[2], &tasks[2], &tasks[0]] {
        let waiting = pipeline.commit(task, false).await.unwrap();
        assert_eq!(waiting.state, JobState::Committing);
        assert!(waiting.commit_id.is_none());
    }
    assert!(
        pipeline
            .catalog
            .branch("photos", IMPORT_BRANCH)
            .await
            .is_ok(),
        "the import branch exists"
    );
    let done = pipeline.commit(&tasks[1], false).await.unwrap();
    assert_eq!(done.state, JobState::Committed);
    assert_eq!(done.partitions_done, 3);
    // Late duplicates find the job finished, as it ended.
    for task in &tasks {
        let again = pipeline.commit(task, false).await.unwrap();
        assert_eq!(again.commit_id, done.commit_id);
    }
    assert_eq!(
        counts(done.summary.as_ref().unwrap()),
        [3000, 0, 0, 0, 3000, 0]
    );
    assert_eq!(
        imported_into(&pipeline, "photos").await,
        as_tree("photos-source", &first.expected)
    );
    assert_eq!(stack.count_items("inventory-import-staging").await, 0);
    let log = |pipeline: &Pipeline| {
        let catalog = pipeline.catalog.clone();
        async move { catalog.log("photos", IMPORT_BRANCH, 10).await.unwrap() }
    };
    assert_eq!(log(&pipeline).await.len(), 2);
    assert_eq!(job.id, done.id);

    // The next day's job: one partition commits, then another import moves the branch
    // (a forced import of the first day again), then the rest. The join redoes the
    // partition diffed against the old head, and commits on the new one.
    let mut next = next_day();
    next.destination = "s3://inventory-dest/next".parse().unwrap();
    let next = generate_inventory(&stack.store(), &next).await.unwrap();
    let (_, tasks) = staged(&pipeline, &request("photos", &next)).await;
    assert_eq!(tasks.len(), 3);
    pipeline.commit(&tasks[0], false).await.unwrap();
    let mut again = request("photos", &first);
    again.force = true;
    pipeline.partitioning.forced = Some(1);
    let moved = import(&pipeline, &again).await;
    assert_eq!(moved.state, JobState::NoChange, "{moved:?}");
    // A forced import of the same objects changes nothing: the branch did not move.
    // Move it for real: an import of the first day without 10 objects.
    let mut fewer = options("2026-11-20T12:00:00Z");
    fewer.destination = "s3://inventory-dest/fewer".parse().unwrap();
    fewer.changes.deleted = 10;
    let fewer = generate_inventory(&stack.store(), &fewer).await.unwrap();
    let mut moving = request("photos", &fewer);
    moving.force = true;
    let moved = import(&pipeline, &moving).await;
    assert_eq!(moved.state, JobState::Committed, "{moved:?}");
    pipeline.commit(&tasks[1], false).await.unwrap();
    let done = pipeline.commit(&tasks[2], false).await.unwrap();
    assert_eq!(done.state, JobState::Committed, "{done:?}");
    let commit = pipeline
        .catalog
        .resolve("photos", IMPORT_BRANCH)
        .await
        .unwrap();
    assert_eq!(Some(commit.id.clone()), done.commit_id);
    assert_eq!(commit.parents, [moved.commit_id.clone().unwrap()]);
    assert_eq!(
        imported_into(&pipeline, "photos").await,
        as_tree("photos-source", &next.expected)
    );
    // Counted against the head it was committed on: the 10 deleted yesterday are
    // back, besides the next day's changes.
    let summary = done.summary.unwrap();
    assert_eq!(summary.total, 3025);
    assert_eq!(summary.added + summary.changed + summary.unchanged, 3025);
    assert_eq!(log(&pipeline).await.len(), 4);
    assert_eq!(stack.count_items("inventory-import-staging").await, 0);
}

/// Cuts that fall inside the base tree's ranges (as cuts from key statistics may):
/// each partition reads the base only within its bounds, and the partitions together
/// count and write what one partition does.
#[tokio::test]
async fn cuts_inside_ranges_give_the_same_tree_and_counts() {
    use inventory_base::S3Url;
    use inventory_base::storage::ObjectStore;
    use inventory_catalog::tree::TreeStore;
    use inventory_delivery::InventoryEntry;
    use inventory_devtools::memory_staging::MemoryStaging;
    use inventory_importer::partitions::Partitions;
    use inventory_importer::pipeline::commit_part;
    use inventory_importer::staging::{merge_staged, pack_batches};

    let entry = |i: usize, etag: &str| InventoryEntry {
        key: format!("k/{i:05}"),
        version_id: None,
        size: 10,
        etag: etag.repeat(32),
        last_modified_ms: 1_764_028_800_000,
        storage_class: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectStore::Local(dir.path().to_path_buf());
    store.ensure_bucket("trees").await.unwrap();
    let trees = TreeStore::new(store, S3Url::new("trees", "r"), small_ranges());
    let mut writer = trees.writer();
    for i in 0..3000 {
        writer
            .add(inventory_importer::entries::imported_entry(
                "photos-source",
                entry(i, "a"),
            ))
            .await
            .unwrap();
    }
    let (base, _) = writer.finish().await.unwrap();
    // The next day: every 10th gone, every 7th changed, 50 new at the end.
    let next: Vec<InventoryEntry> = (0..3050)
        .filter(|i| i % 10 != 0 || *i >= 3000)
        .map(|i| entry(i, if i % 7 == 0 { "b" } else { "a" }))
        .collect();

    let mut results = Vec::new();
    for cuts in [vec![], vec!["k/01234x".to_string(), "k/02500".to_string()]] {
        let partitions = Partitions::new(&cuts);
        // Three workers' runs, each split by partition.
        let mut staged = MemoryStaging::default();
        let mut runs: Vec<(usize, _)> = Vec::new();
        for (shard, chunk) in next.chunks(1100).enumerate() {
            for (n, (p, span)) in partitions
                .split(chunk, |e| e.key.as_str())
                .into_iter()
                .enumerate()
            {
                let run = staged.insert_run("job", shard, n, pack_batches(&chunk[span]));
                runs.push((p, run));
            }
        }
        let (mut ranges, mut counts_sum) = (Vec::new(), [0u64; 6]);
        for p in 0..partitions.count() {
            let mine: Vec<_> = runs
                .iter()
                .filter(|(q, _)| *q == p)
                .map(|(_, r)| *r)
                .collect();
            let part = commit_part(
                &trees,
                &base,
                partitions.bounds(p),
                merge_staged(&staged, "job", &mine).into(),
                inventory_importer::scope::Origin::bucket("photos-source"),
                true,
            )
            .await
            .unwrap();
            for (sum, n) in counts_sum.iter_mut().zip(counts(&part.summary)) {
                *sum += n;
            }
            ranges.extend(part.ranges.unwrap());
        }
        let tree = trees.write_metarange(ranges).await.unwrap();
        let mut cursor = trees.cursor(&tree);
        let mut entries = Vec::new();
        while let Some(entry) = cursor.next_entry().await.unwrap() {
            entries.push(entry);
        }
        results.push((counts_sum, entries));
    }
    // 300 deleted, 3000 - 300 kept of which 386 changed (multiples of 7 not of 10), 50 added.
    assert_eq!(results[0].0, [50, 386, 300, 2314, 2750, 0]);
    assert_eq!(results[1].0, results[0].0);
    assert_eq!(results[1].1, results[0].1);
    assert_eq!(results[0].1.len(), 2750);
}
