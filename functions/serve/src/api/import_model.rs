//! What the imports part of the API answers and takes. A job is written as the CLI's
//! `jobs --json` and `status --json` print it.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use inventory_delivery::reader::SkipCounts;
use inventory_importer::jobs::{
    Attempt as JobAttempt, ImportSummary as JobSummary, Job, JobState, MergeRecord,
    PhaseTimes as JobTimes,
};
use inventory_importer::sources::ImportSource;

/// An inventory configuration that feeds a repository.
#[derive(Debug, Serialize, ToSchema)]
pub struct Source {
    /// `s3://<dest-bucket>/<dest-prefix>/<source-bucket>/<config-id>/`
    pub inventory: String,
    pub repository: String,
    /// Each successful import is merged into this branch.
    pub merge_into: Option<String>,
    /// Only keys that start with it are imported (empty: every key).
    pub prefix: String,
    /// The repository path the keys land under (empty: the root).
    pub path: String,
    /// The branch the source's imports commit on.
    pub branch: String,
}

impl From<ImportSource> for Source {
    fn from(source: ImportSource) -> Self {
        Source {
            inventory: source.inventory.to_string(),
            repository: source.repository,
            merge_into: source.merge_into,
            prefix: source.scope.prefix,
            path: source.scope.path,
            branch: source.scope.branch,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewSource {
    /// `s3://<dest-bucket>/<dest-prefix>/<source-bucket>/<config-id>/`: where the
    /// inventory configuration delivers.
    pub inventory: String,
    /// Merge each successful import into this branch.
    #[serde(default)]
    pub merge_into: Option<String>,
    /// Import only the keys that start with this prefix; rows of other keys are counted
    /// as skipped (`outside_prefix`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Put the objects under this repository path (`raw/` gives `raw/<key>`).
    #[serde(default)]
    pub path: Option<String>,
    /// The branch the source's imports commit on (default `import-from-inventory`);
    /// each source of a repository needs its own.
    #[serde(default)]
    pub branch: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SourceQuery {
    /// The source's inventory URL, as listed.
    pub inventory: String,
}

/// A delivery to import.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewImport {
    /// The delivery's `manifest.json`: `s3://…/<YYYY-MM-DDTHH-MMZ>/manifest.json`.
    pub manifest: String,
    /// Import even if this manifest was imported before or is older than the last import.
    #[serde(default)]
    pub force: bool,
}

/// A delivery to try without importing it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ImportTest {
    /// The delivery's `manifest.json`.
    pub manifest: String,
}

/// The manifest was imported before; nothing was started.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlreadyImported {
    /// Always true.
    pub already_imported: bool,
    pub manifest: String,
    /// The commit the earlier import made.
    pub commit: String,
}

/// What asking for an import answers when it starts nothing new: the delivery's job,
/// which exists already, or the earlier import of the manifest.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ImportOutcome {
    Job(Box<ImportJob>),
    AlreadyImported(AlreadyImported),
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportState {
    /// Workers are reading and staging the shards.
    Staging,
    /// The committer is merging staged entries into a tree.
    Committing,
    /// A new commit holds the import.
    Committed,
    /// The inventory matches the last import: no commit was made.
    NoChange,
    /// A dry run finished; nothing was written to the catalog.
    DryRunComplete,
    Failed,
    /// Stopped by a cancel: no branch moved, nothing stays staged.
    Cancelled,
}

impl From<JobState> for ImportState {
    fn from(state: JobState) -> Self {
        match state {
            JobState::Staging => ImportState::Staging,
            JobState::Committing => ImportState::Committing,
            JobState::Committed => ImportState::Committed,
            JobState::NoChange => ImportState::NoChange,
            JobState::DryRunComplete => ImportState::DryRunComplete,
            JobState::Failed => ImportState::Failed,
            JobState::Cancelled => ImportState::Cancelled,
        }
    }
}

/// Rows of the delivery that are not objects, by reason.
#[derive(Debug, Serialize, ToSchema)]
pub struct Skipped {
    /// A noncurrent version of a key.
    pub noncurrent_version: u64,
    /// The latest version of a key is a delete marker: the key does not exist.
    pub delete_marker: u64,
    /// A latest version without size, ETag or last-modified time.
    pub incomplete_row: u64,
    /// A key outside the source's prefix.
    pub outside_prefix: u64,
}

impl From<SkipCounts> for Skipped {
    fn from(skipped: SkipCounts) -> Self {
        let SkipCounts {
            noncurrent_version,
            delete_marker,
            incomplete_row,
            outside_prefix,
        } = skipped;
        Skipped {
            noncurrent_version,
            delete_marker,
            incomplete_row,
            outside_prefix,
        }
    }
}

/// What an import changed (a dry run: would change) on the import branch.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportSummary {
    pub added: u64,
    pub changed: u64,
    pub deleted: u64,
    pub unchanged: u64,
    /// Objects in the imported tree.
    pub total: u64,
    pub skipped: Skipped,
    /// Keys listed more than once (overlapping data files); the newest row was kept.
    pub duplicate_keys: u64,
}

impl From<JobSummary> for ImportSummary {
    fn from(summary: JobSummary) -> Self {
        let JobSummary {
            added,
            changed,
            deleted,
            unchanged,
            total,
            skipped,
            duplicate_keys,
        } = summary;
        ImportSummary {
            added,
            changed,
            deleted,
            unchanged,
            total,
            skipped: skipped.into(),
            duplicate_keys,
        }
    }
}

/// Seconds spent in each phase.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhaseTimes {
    pub planning: f64,
    pub staging: f64,
    pub committing: f64,
}

impl From<JobTimes> for PhaseTimes {
    fn from(times: JobTimes) -> Self {
        let JobTimes {
            planning,
            staging,
            committing,
        } = times;
        PhaseTimes {
            planning,
            staging,
            committing,
        }
    }
}

/// How the automatic merge of a committed import into its source's branch went.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportMerge {
    pub branch: String,
    /// The merge's commit.
    pub commit: Option<String>,
    /// The error of its last try.
    pub error: Option<String>,
}

impl From<MergeRecord> for ImportMerge {
    fn from(merge: MergeRecord) -> Self {
        let MergeRecord {
            branch,
            commit,
            error,
        } = merge;
        ImportMerge {
            branch,
            commit,
            error,
        }
    }
}

/// One delivery of a task to a function.
#[derive(Debug, Serialize, ToSchema)]
pub struct Attempt {
    /// 1 for the first delivery of the task.
    pub delivery: u32,
    /// RFC 3339.
    pub started_at: String,
    /// The error it ended with, if it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<JobAttempt> for Attempt {
    fn from(attempt: JobAttempt) -> Self {
        let JobAttempt {
            delivery,
            started_at,
            error,
        } = attempt;
        Attempt {
            delivery,
            started_at,
            error,
        }
    }
}

/// An import job: one import (or dry run) of one delivery into one repository.
/// Progress is in shards, data files and rows read; a job that has finished has a
/// summary (or an error).
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportJob {
    pub id: String,
    pub repository: String,
    /// The delivery's `manifest.json`.
    pub manifest: String,
    pub dry_run: bool,
    pub state: ImportState,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// The bucket the inventory lists.
    pub source_bucket: String,
    /// When S3 Inventory made the delivery (RFC 3339).
    pub inventory_created_at: String,
    pub files_total: usize,
    /// Bytes of the delivery's data files.
    pub bytes_total: u64,
    /// Rows of the delivery's data files, as their footers tell when the job is
    /// planned (0 for a format that does not tell).
    pub rows_total: u64,
    pub shards_total: usize,
    /// Where the key space is cut into partitions committed at once (none: one
    /// partition, one committer).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partition_cuts: Vec<String>,
    /// Partitions whose commit is done.
    pub partitions_done: usize,
    /// The shard tasks were sent to the workers.
    pub tasks_sent: bool,
    pub shards_done: usize,
    pub files_done: usize,
    /// Rows read so far (all of them once the job has finished).
    pub rows: u64,
    pub entries_staged: u64,
    pub times: PhaseTimes,
    pub summary: Option<ImportSummary>,
    /// The import's commit on the import branch.
    pub commit_id: Option<String>,
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge: Option<ImportMerge>,
    /// The latest delivery of the job's commit task to a committer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_attempt: Option<Attempt>,
    /// Only keys that start with it are imported (empty: every key).
    pub prefix: String,
    /// The repository path the keys land under (empty: the root).
    pub path: String,
    /// The import branch the job commits on.
    pub branch: String,
    /// Who cancelled the job, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
    /// Its commit is moving the branch: too late to cancel.
    pub moving_branch: bool,
}

impl From<Job> for ImportJob {
    fn from(job: Job) -> Self {
        let Job {
            id,
            repository,
            manifest,
            dry_run,
            state,
            created_at,
            updated_at,
            source_bucket,
            inventory_created_at,
            files_total,
            bytes_total,
            rows_total,
            shards_total,
            partitions,
            partitions_done,
            tasks_sent,
            shards_done,
            files_done,
            rows,
            entries_staged,
            times,
            summary,
            commit_id,
            error,
            merge,
            commit_attempt,
            scope,
            cancelled_by,
            moving_branch,
        } = job;
        ImportJob {
            id,
            repository,
            manifest: manifest.to_string(),
            dry_run,
            state: state.into(),
            created_at,
            updated_at,
            source_bucket,
            inventory_created_at,
            files_total,
            bytes_total,
            rows_total,
            shards_total,
            partition_cuts: partitions,
            partitions_done,
            tasks_sent,
            shards_done,
            files_done,
            rows,
            entries_staged,
            times: times.into(),
            summary: summary.map(ImportSummary::from),
            commit_id,
            error,
            merge: merge.map(ImportMerge::from),
            commit_attempt: commit_attempt.map(Attempt::from),
            prefix: scope.prefix,
            path: scope.path,
            branch: scope.branch,
            cancelled_by,
            moving_branch,
        }
    }
}

/// A job as `status` shows it: while it runs, its progress counted from the shards
/// that are done, and why it is not moving if it is stalled.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportStatus {
    #[serde(flatten)]
    pub job: ImportJob,
    /// Why the job is not moving (a task that got no answer within the queues'
    /// visibility timeout), or null.
    pub stalled: Option<String>,
}
