//! The commit of a job cut into partitions: each partition's committer merges its own
//! staged runs, diffs them against the base tree's ranges that overlap its keys,
//! writes its ranges and records them with its counts; the last to finish joins the
//! partitions' ranges into the tree and commits it, moving the branch by conditional
//! write. Every step may run twice: results are recorded by partition number, and a
//! join that finds the branch moved redoes only the partitions diffed against another
//! head.

use std::time::Instant;

use inventory_catalog::catalog::{CatalogError, Commit, Repository};
use inventory_catalog::tree::{PathBounds, RangeInfo, Tree, TreeStore, path_within};

use super::{COMMIT_ATTEMPTS, Pipeline, PipelineError, diff_staged, unstable_head};
use crate::jobs::{ImportSummary, Job, PartitionResult, Shard, partition_runs, staged_summary};
use crate::partitions::Partitions;
use crate::scope::{ImportScope, Origin};
use crate::staging::{BatchSource, LeveledMerge, MERGE_FAN_IN, merge_in_levels};

/// What committing one partition made: its counts, and its ranges in order (none for
/// a dry run), with the base ranges it read and the ranges it wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct PartCommit {
    pub summary: ImportSummary,
    pub ranges: Option<Vec<RangeInfo>>,
    pub ranges_read: u64,
    pub ranges_written: u64,
}

/// One partition's commit: the staged entries `merged` (all within `bounds`, inclusive
/// and exclusive) diffed against the part of `base` within the same bounds, and, when
/// `write`, the partition's ranges written. Only the base ranges that overlap the
/// bounds are read.
pub async fn commit_part<S: BatchSource>(
    trees: &TreeStore,
    base: &Tree,
    bounds: PathBounds<'_>,
    merged: LeveledMerge<S>,
    origin: Origin<'_>,
    write: bool,
) -> Result<PartCommit, PipelineError> {
    let (lo, hi) = bounds;
    let overlapping = Tree {
        id: base.id.clone(),
        ranges: base
            .ranges
            .iter()
            .filter(|r| r.overlaps(bounds))
            .cloned()
            .collect(),
    };
    let mut cursor = trees.identity_cursor(&overlapping);
    if let Some(lo) = lo {
        cursor.skip_before(lo).await?;
    }
    let mut writer = write.then(|| trees.writer());
    let mut summary = ImportSummary::default();
    diff_staged(
        merged,
        &mut cursor,
        hi,
        writer.as_mut(),
        origin,
        &mut summary,
    )
    .await?;
    let ranges_read = cursor.ranges_loaded();
    drop(cursor);
    let (ranges, ranges_written) = match writer {
        Some(writer) => {
            let (ranges, stats) = writer.finish_ranges().await?;
            (Some(ranges), stats.ranges_written)
        }
        None => (None, 0),
    };
    Ok(PartCommit {
        summary,
        ranges,
        ranges_read,
        ranges_written,
    })
}

/// The tree of an import of `scope`: `ranges` (the scope's part, diffed and written)
/// between the base's ranges below and above the scope, kept as they are.
pub(super) async fn scoped_tree(
    trees: &TreeStore,
    base: &Tree,
    scope: &ImportScope,
    ranges: Vec<RangeInfo>,
) -> Result<Tree, PipelineError> {
    let (lo, hi) = scope.bounds();
    let mut all = Vec::with_capacity(base.ranges.len() + ranges.len());
    if lo.is_some() {
        all.extend(carry_over(trees, base, (None, lo.as_deref())).await?);
    }
    all.extend(ranges);
    if hi.is_some() {
        all.extend(carry_over(trees, base, (hi.as_deref(), None)).await?);
    }
    Ok(trees.write_metarange(all).await?)
}

/// The base's entries within `bounds` (inclusive and exclusive), as ranges: a range
/// wholly within is taken as it is, the entries within of a range a bound cuts are
/// written again (and the ranges after it, until the writer's splits meet the base's).
async fn carry_over(
    trees: &TreeStore,
    base: &Tree,
    bounds: PathBounds<'_>,
) -> Result<Vec<RangeInfo>, PipelineError> {
    let within = |path: &str| path_within(path, bounds);
    let mut writer = trees.writer();
    for range in &base.ranges {
        if !range.overlaps(bounds) {
            continue;
        }
        if within(&range.min_path) && within(&range.max_path) && writer.at_range_boundary() {
            writer.add_range(range.clone()).await?;
            continue;
        }
        for entry in trees.range(&range.id).await?.iter() {
            if within(&entry.path) {
                writer.add_ref(entry.borrowed()).await?;
            }
        }
    }
    Ok(writer.finish_ranges().await?.0)
}

impl Pipeline {
    /// Commits partition `partition` of `job`; the partition that completes the set
    /// joins them and commits the job. Returns the job (finished when joined).
    pub(super) async fn commit_partition(
        &self,
        job: &Job,
        shards: &[Shard],
        partition: usize,
    ) -> Result<Job, PipelineError> {
        let started = Instant::now();
        let repository = self.catalog.repository(&job.repository).await?;
        let Some(head) = self.import_head(&repository, job).await? else {
            // The branch was created meanwhile: the next delivery of the task reads it.
            return Err(CatalogError::Conflict {
                branch: job.scope.branch.clone(),
                expected: "no branch".into(),
                found: "a branch created by another committer".into(),
            }
            .into());
        };
        if let Some(done) = self.own_commit(job, shards, started, &head).await {
            return done;
        }
        let result = self
            .run_partition(job, &repository, shards, partition, &head)
            .await?;
        let (job, done) = self
            .jobs
            .complete_partition(&job.repository, &job.id, &result)
            .await?;
        let partitions = Partitions::new(&job.partitions).count();
        tracing::info!(
            partition,
            done,
            of = partitions,
            added = result.summary.added,
            changed = result.summary.changed,
            deleted = result.summary.deleted,
            "partition committed"
        );
        if done < partitions || job.state.is_finished() {
            return Ok(job);
        }
        self.join_partitions(&job, &repository, shards, started)
            .await
    }

    /// Merges, diffs and writes one partition against `head`'s tree.
    async fn run_partition(
        &self,
        job: &Job,
        repository: &Repository,
        shards: &[Shard],
        partition: usize,
        head: &Commit,
    ) -> Result<PartitionResult, PipelineError> {
        let base = self.catalog.tree_of(repository, head).await?;
        let trees = self.catalog.trees(repository);
        let runs = partition_runs(shards, partition);
        let (scope_lo, scope_hi) = job.scope.bounds();
        let merged =
            merge_in_levels(&self.staging, &job.id, &runs, MERGE_FAN_IN, &self.temp_dir).await?;
        let part = commit_part(
            &trees,
            &base,
            Partitions::new(&job.partitions)
                .bounds_within(partition, (scope_lo.as_deref(), scope_hi.as_deref())),
            merged,
            job.scope.origin(&job.source_bucket),
            !job.dry_run,
        )
        .await?;
        let metarange = match part.ranges {
            Some(ranges) => Some(trees.write_metarange(ranges).await?.id),
            None => None,
        };
        Ok(PartitionResult {
            index: partition,
            base: head.id.clone(),
            metarange,
            summary: part.summary,
            ranges_read: part.ranges_read,
            ranges_written: part.ranges_written,
        })
    }

    /// Joins the partitions' ranges into the job's tree and commits it on the import
    /// branch (or, for a dry run, records the counts).
    async fn join_partitions(
        &self,
        job: &Job,
        repository: &Repository,
        shards: &[Shard],
        started: Instant,
    ) -> Result<Job, PipelineError> {
        let count = Partitions::new(&job.partitions).count();
        for _ in 0..COMMIT_ATTEMPTS {
            let Some(head) = self.import_head(repository, job).await? else {
                continue;
            };
            if let Some(done) = self.own_commit(job, shards, started, &head).await {
                return done;
            }
            let recorded = self.jobs.partition_results(&job.id).await?;
            let mut results = Vec::with_capacity(count);
            for partition in 0..count {
                let result = match recorded.iter().find(|r| r.index == partition) {
                    Some(result) if result.base == head.id => result.clone(),
                    // Diffed against another head (the branch moved meanwhile), or
                    // never recorded: redone here against this one.
                    _ => {
                        let result = self
                            .run_partition(job, repository, shards, partition, &head)
                            .await?;
                        self.jobs
                            .complete_partition(&job.repository, &job.id, &result)
                            .await?;
                        result
                    }
                };
                results.push(result);
            }
            let mut summary = staged_summary(shards);
            for result in &results {
                summary.add_part(&result.summary);
            }
            if let Some(done) = self
                .finish_without_commit(job, shards, started, &head, &summary)
                .await
            {
                return done;
            }
            let trees = self.catalog.trees(repository);
            let mut ranges: Vec<RangeInfo> = Vec::new();
            for result in &results {
                if let Some(part) = &result.metarange {
                    ranges.extend(trees.tree(part).await?.ranges);
                }
            }
            let base = self.catalog.tree_of(repository, &head).await?;
            let tree = scoped_tree(&trees, &base, &job.scope, ranges).await?;
            // None: the branch moved; the partitions diffed against the old head are
            // redone against the new one.
            if let Some(done) = self
                .commit_import(job, repository, shards, started, &head, &tree, &summary)
                .await?
            {
                return Ok(done);
            }
        }
        Err(unstable_head(job))
    }
}
