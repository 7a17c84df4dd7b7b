//! The import pipeline: a manifest becomes a job, its shards staged entries, and the
//! staged entries a commit on the branch `import-from-inventory`.
//!
//! Each step is a function of a small task, so the same code runs in Lambda (the
//! trigger calls [`Pipeline::start`], workers [`Pipeline::run_shard`], the committer
//! [`Pipeline::commit`]) and in one process ([`Pipeline::run_in_process`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use inventory_base::location::S3Url;
use inventory_base::storage::ObjectStore;
use inventory_catalog::catalog::{Catalog, CatalogError, Commit, CommitInfo, Repository};
use inventory_catalog::tree::{IdentityCursor, RangeInfo, TreeError, TreeWriter};
use inventory_delivery::inspect::{InspectError, check_data_files_exist, read_data_file};
use inventory_delivery::manifest::{Manifest, ManifestError, ManifestFile};
use inventory_delivery::reader::{InventoryEntry, SkipCounts};
use inventory_delivery::statistics::{FileStatistics, delivery_statistics};

use crate::jobs::{
    ImportSummary, Job, JobError, JobState, JobTable, Shard, job_id, runs_of, staged_runs,
    staged_summary,
};
use crate::partitions::{KeySpan, Partitions, cuts_from_spans, cuts_from_tree, partitions_for};
use crate::scope::{ImportScope, Origin};
use crate::sources::{ImportSource, ImportSources};
use crate::staging::{
    BatchSource, LeveledMerge, MERGE_FAN_IN, RUN_ENTRIES, StagedEntry, StagedRun, StagingError,
    StagingTable, merge_in_levels,
};

mod cancel;
mod partitioned;

pub use partitioned::{PartCommit, commit_part};

/// The branch imports commit to; the catalog refuses users' writes to it.
pub use inventory_catalog::catalog::IMPORT_BRANCH;
/// The error a task's latest delivery recorded, or why there is none.
fn last_error(attempt: Option<&crate::jobs::Attempt>, function: &str) -> String {
    match attempt {
        Some(crate::jobs::Attempt {
            error: Some(error), ..
        }) => error.clone(),
        Some(_) => format!(
            "none recorded: the {function} stopped without one (a timeout, running out of memory, a crash)"
        ),
        None => format!("none recorded: no {function} started it"),
    }
}

/// Data files are grouped into shards of about this many bytes.
pub const DEFAULT_SHARD_BYTES: u64 = 256 * 1024 * 1024;
/// A lost race on the import branch is retried this many times.
const COMMIT_ATTEMPTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Jobs(#[from] JobError),
    #[error(transparent)]
    Staging(#[from] StagingError),
    #[error(transparent)]
    Inspect(#[from] InspectError),
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error(
        "manifest {manifest} was created at {created}, before the last import into {repository} ({last}); use force to import it anyway"
    )]
    OlderThanLastImport {
        manifest: S3Url,
        repository: String,
        created: String,
        last: String,
    },
    #[error("job {job} has no shard {shard}")]
    UnknownShard { job: String, shard: usize },
    #[error(
        "manifest {manifest} was delivered under the import source {inventory}, but {mismatch}; the delivery is refused"
    )]
    ForeignDelivery {
        manifest: S3Url,
        inventory: S3Url,
        /// `its sourceBucket is "x", not "y"`
        mismatch: String,
    },
    #[error("job {job} was cancelled by {by}")]
    Cancelled { job: String, by: String },
    #[error("job {job} has already finished ({state}): there is nothing to cancel")]
    AlreadyFinished { job: String, state: JobState },
    #[error(
        "job {job} is moving branch {branch} to its commit: too late to cancel (revert the commit instead)"
    )]
    TooLateToCancel { job: String, branch: String },
    #[error("{task} was given up after {deliveries} deliveries; last error: {last_error}")]
    GivenUp {
        /// `shard 2 (3 data files)` or `the commit`
        task: String,
        deliveries: u32,
        last_error: String,
    },
}

impl PipelineError {
    /// Whether the error is about the delivery itself (its manifest or data files, or
    /// its age), so that trying again cannot help.
    pub fn is_refusal(&self) -> bool {
        match self {
            PipelineError::OlderThanLastImport { .. } | PipelineError::ForeignDelivery { .. } => {
                true
            }
            PipelineError::Inspect(err) => match err {
                InspectError::Manifest(ManifestError::Unreadable { .. })
                | InspectError::Interrupted { .. } => false,
                InspectError::Storage(storage) => storage.is_not_found(),
                _ => true,
            },
            _ => false,
        }
    }
}

/// `{"repository": …, "manifest": …, "dry_run": …, "force": …}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRequest {
    pub repository: String,
    pub manifest: S3Url,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub force: bool,
}

/// A worker's task: one shard of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardTask {
    pub repository: String,
    pub job: String,
    pub shard: usize,
}

/// The committer's task: a job whose shards are all staged; for a job cut into
/// partitions, one partition of it (the last partition done joins them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitTask {
    pub repository: String,
    pub job: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<usize>,
}

impl CommitTask {
    /// The commit task of a whole job.
    pub fn whole(repository: &str, job: &str) -> Self {
        Self {
            repository: repository.to_string(),
            job: job.to_string(),
            partition: None,
        }
    }

    /// The commit tasks of a job whose shards are all staged: one, or one per partition.
    pub fn of_job(job: &Job) -> Vec<CommitTask> {
        match job.partitions.len() {
            0 => vec![CommitTask::whole(&job.repository, &job.id)],
            cuts => (0..=cuts)
                .map(|p| CommitTask {
                    partition: Some(p),
                    ..CommitTask::whole(&job.repository, &job.id)
                })
                .collect(),
        }
    }
}

/// How a delivery is cut into partitions committed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionSettings {
    /// This many partitions whatever the delivery's size (tests, benchmarks).
    pub forced: Option<usize>,
    /// Otherwise one partition per this many rows.
    pub rows_per_partition: u64,
    /// And at most this many.
    pub max: usize,
}

impl Default for PartitionSettings {
    fn default() -> Self {
        Self {
            forced: None,
            rows_per_partition: DEFAULT_ROWS_PER_PARTITION,
            max: MAX_PARTITIONS,
        }
    }
}

/// Rows per partition by default: a partition's commit then takes about a minute.
pub const DEFAULT_ROWS_PER_PARTITION: u64 = 50_000_000;
/// Partitions of one delivery at most.
pub const MAX_PARTITIONS: usize = 64;

/// What a task the queue gave up on did to its job.
#[derive(Debug, Clone, PartialEq)]
pub enum GivenUp {
    /// The job failed now, naming the task, its deliveries and the last error.
    Failed(Job),
    /// The job had finished without the task (a duplicate); it stays as it was.
    Finished(Job),
    /// The shard was staged after all; the commit tasks, when it was the last.
    Staged(Vec<CommitTask>),
}

/// What starting an import did.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Started {
    /// A new job, with one task per shard to send to the workers.
    Started { job: Job, tasks: Vec<ShardTask> },
    /// The job for this delivery exists already (a repeated notification).
    Existing { job: Job },
    /// This manifest was imported before, as `commit`.
    AlreadyImported { manifest: S3Url, commit: String },
}

#[derive(Debug, Clone)]
pub struct Pipeline {
    pub catalog: Catalog,
    pub jobs: JobTable,
    pub staging: StagingTable,
    pub store: ObjectStore,
    pub temp_dir: PathBuf,
    pub shard_bytes: u64,
    /// Entries a worker sorts and stages at a time.
    pub run_entries: usize,
    pub partitioning: PartitionSettings,
}

impl Pipeline {
    pub fn new(catalog: Catalog, jobs: JobTable, staging: StagingTable) -> Self {
        let store = catalog.store().clone();
        Self {
            catalog,
            jobs,
            staging,
            store,
            temp_dir: std::env::temp_dir(),
            shard_bytes: DEFAULT_SHARD_BYTES,
            run_entries: RUN_ENTRIES,
            partitioning: PartitionSettings::default(),
        }
    }

    /// Creates the catalog, job and staging tables when they do not exist.
    pub async fn ensure_tables(&self) -> Result<(), PipelineError> {
        self.catalog.ensure_table().await?;
        self.jobs.ensure_table().await.map_err(JobError::from)?;
        self.staging
            .ensure_table()
            .await
            .map_err(StagingError::from)?;
        Ok(())
    }

    /// Validates the manifest, plans shards and records the job.
    pub async fn start(&self, request: &ImportRequest) -> Result<Started, PipelineError> {
        let started = Instant::now();
        let repository = self.catalog.repository(&request.repository).await?;
        let earlier = if request.force || request.dry_run {
            None
        } else {
            ImportSources::new(&self.catalog)
                .imported(&repository.name, &request.manifest)
                .await?
        };
        if let Some(commit) = earlier {
            return Ok(Started::AlreadyImported {
                manifest: request.manifest.clone(),
                commit,
            });
        }
        // Forced runs and dry runs are new jobs; otherwise a delivery is one job.
        let run = (request.force || request.dry_run).then(|| {
            format!(
                "{}{}",
                if request.dry_run { "dry-run " } else { "" },
                Utc::now().timestamp_nanos_opt().unwrap_or_default()
            )
        });
        let id = job_id(&repository.name, &request.manifest, run.as_deref());
        // The caller's span names the job from here on (a forced run's or dry run's id
        // is only known now), so that a failure while planning is logged with it.
        tracing::Span::current().record("job", id.as_str());
        if let Ok(job) = self.jobs.get(&repository.name, &id).await {
            return Ok(Started::Existing { job });
        }
        let now = Utc::now().to_rfc3339();
        let mut job = Job {
            id: id.clone(),
            repository: repository.name.clone(),
            manifest: request.manifest.clone(),
            dry_run: request.dry_run,
            state: JobState::Staging,
            created_at: now.clone(),
            updated_at: now,
            source_bucket: String::new(),
            inventory_created_at: String::new(),
            files_total: 0,
            bytes_total: 0,
            rows_total: 0,
            shards_total: 0,
            partitions: Vec::new(),
            partitions_done: 0,
            shards_done: 0,
            tasks_sent: false,
            files_done: 0,
            rows: 0,
            entries_staged: 0,
            times: Default::default(),
            summary: None,
            commit_id: None,
            error: None,
            merge: None,
            commit_attempt: None,
            scope: Default::default(),
            cancelled_by: None,
            moving_branch: false,
        };
        let planned = self.plan(request, &mut job).await;
        let shards = match planned {
            Ok(shards) => shards,
            // A delivery that is wrong stays wrong: the job records why, for `jobs` and
            // `status`. Anything else (S3 or DynamoDB failing for a moment) is left to
            // the queue's retries, with no job recorded.
            Err(err) if err.is_refusal() => {
                job.state = JobState::Failed;
                job.error = Some(err.to_string());
                self.jobs.create(&job, &[]).await?;
                return Err(err);
            }
            Err(err) => return Err(err),
        };
        job.times.planning = started.elapsed().as_secs_f64();
        if !self.jobs.create(&job, &shards).await? {
            return Ok(Started::Existing {
                job: self.jobs.get(&repository.name, &id).await?,
            });
        }
        let tasks = shards
            .iter()
            .map(|s| ShardTask {
                repository: repository.name.clone(),
                job: id.clone(),
                shard: s.index,
            })
            .collect();
        Ok(Started::Started { job, tasks })
    }

    async fn plan(
        &self,
        request: &ImportRequest,
        job: &mut Job,
    ) -> Result<Vec<Shard>, PipelineError> {
        let manifest = Manifest::load(&self.store, &request.manifest)
            .await
            .map_err(InspectError::from)?;
        job.source_bucket = manifest.source_bucket.clone();
        job.inventory_created_at = manifest.created_at.to_rfc3339();
        if let Some(source) = ImportSources::new(&self.catalog)
            .source_for_manifest(&request.manifest)
            .await?
        {
            check_delivered_by(&source, &manifest)?;
            job.scope = source.scope_in(&request.repository);
        }
        let last = if request.force {
            None
        } else {
            self.last_imported_at(&request.repository, &job.scope.branch)
                .await?
        };
        // RFC 3339 times in UTC compare correctly as text.
        if let Some(last) = last.filter(|last| manifest.created_at.to_rfc3339() < *last) {
            return Err(PipelineError::OlderThanLastImport {
                manifest: request.manifest.clone(),
                repository: request.repository.clone(),
                created: manifest.created_at.to_rfc3339(),
                last,
            });
        }
        check_data_files_exist(&self.store, &manifest).await?;
        let shards = plan_shards(&manifest.files, self.shard_bytes);
        job.files_total = manifest.files.len();
        job.bytes_total = manifest.total_bytes();
        job.shards_total = shards.len();
        // What the footers tell only helps (progress, partition cuts): a file whose
        // footer cannot be read is the workers' to report, with their exact error.
        let statistics = match delivery_statistics(&self.store, &manifest).await {
            Ok(statistics) => statistics,
            Err(err) => {
                tracing::warn!(error = %err, "the data files' footers could not be read; planning without them");
                None
            }
        };
        job.rows_total = statistics.iter().flatten().map(|file| file.rows).sum();
        let settings = self.partitioning;
        let k = settings.forced.unwrap_or_else(|| {
            partitions_for(job.rows_total, settings.rows_per_partition, settings.max)
        });
        if k > 1 {
            job.partitions = self
                .choose_cuts(&request.repository, &job.scope, k, statistics.as_deref())
                .await?;
        }
        Ok(shards)
    }

    /// K - 1 cuts of the key space: at range starts of the import branch's tree when
    /// it has enough ranges (tomorrow's diff then finds the same ranges), else from
    /// the data files' key statistics; fewer (down to none) when neither tells enough.
    async fn choose_cuts(
        &self,
        repository: &str,
        scope: &ImportScope,
        k: usize,
        statistics: Option<&[FileStatistics]>,
    ) -> Result<Vec<String>, PipelineError> {
        let repo = self.catalog.repository(repository).await?;
        let base = match self.catalog.branch(repository, &scope.branch).await {
            Ok(branch) => {
                let head = self.catalog.resolve(repository, &branch.commit_id).await?;
                Some(self.catalog.tree_of(&repo, &head).await?)
            }
            Err(CatalogError::BranchNotFound { .. }) => None,
            Err(err) => return Err(err.into()),
        };
        // The ranges of the scope's paths: the rest of the tree is not the import's.
        let (lo, hi) = scope.bounds();
        let ranges: Vec<RangeInfo> = base
            .map(|tree| tree.ranges)
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.overlaps((lo.as_deref(), hi.as_deref())))
            .collect();
        if ranges.len() >= k {
            return Ok(cuts_from_tree(&ranges, k));
        }
        let spans: Vec<KeySpan> = statistics
            .into_iter()
            .flatten()
            .flat_map(|file| &file.row_groups)
            .filter_map(|group| {
                // Keys of the bucket; the cuts are repository paths.
                group.keys.as_ref().map(|(min, max)| KeySpan {
                    rows: group.rows,
                    min: scope.repository_path(min),
                    max: scope.repository_path(max),
                })
            })
            .collect();
        Ok(cuts_from_spans(&spans, k))
    }

    /// The inventory creation time of the import branch's head, if it holds an import.
    async fn last_imported_at(
        &self,
        repository: &str,
        branch: &str,
    ) -> Result<Option<String>, PipelineError> {
        match self.catalog.branch(repository, branch).await {
            Ok(branch) => {
                let head = self.catalog.resolve(repository, &branch.commit_id).await?;
                Ok(head.metadata.get("inventory_created_at").cloned())
            }
            Err(CatalogError::BranchNotFound { .. }) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Reads, sorts and stages one shard. Returns the commit tasks when this was the
    /// job's last shard. Running a shard again (a retried worker) changes nothing.
    /// A failure on the `final_attempt` (the queue will not deliver the task again)
    /// fails the job; earlier failures are left to the queue's retries.
    pub async fn run_shard(
        &self,
        task: &ShardTask,
        final_attempt: bool,
    ) -> Result<Vec<CommitTask>, PipelineError> {
        let job = self.jobs.get(&task.repository, &task.job).await?;
        if job.state.is_finished() {
            return Ok(Vec::new());
        }
        let mut shard = self.task_shard(task).await?;
        let staged_here = !shard.done;
        if staged_here {
            let result = self.stage_shard(&job, &mut shard).await;
            match result {
                Ok(()) => {}
                // Its runs are removed; the task is done with.
                Err(err @ PipelineError::Cancelled { .. }) => {
                    tracing::info!(job = %job.id, shard = shard.index, "{err}; the worker stopped");
                    return Ok(Vec::new());
                }
                Err(err) => {
                    if final_attempt {
                        self.fail(&job, &err).await;
                    }
                    return Err(err);
                }
            }
        }
        let (job, counted) = self
            .jobs
            .complete_shard(&task.repository, &task.job, &shard)
            .await?;
        if job.state == JobState::Cancelled {
            // Cancelled after this shard's last run: the cancel may have read the
            // shards before this one was recorded, so its runs are removed here too.
            self.remove_staged(&job.id, shard.staged_runs()).await;
            return Ok(Vec::new());
        }
        if staged_here && !counted {
            self.drop_if_outrun(&task.job, &shard).await;
        }
        Ok(if job.shards_done >= job.shards_total {
            CommitTask::of_job(&job)
        } else {
            Vec::new()
        })
    }

    /// The import branch's head, created from the default branch on the first import
    /// (a dry run reads the default branch instead); `None` when another committer
    /// created the branch meanwhile (ask again).
    async fn import_head(
        &self,
        repository: &Repository,
        job: &Job,
    ) -> Result<Option<Commit>, PipelineError> {
        let (branch, dry_run) = (&job.scope.branch, job.dry_run);
        let head_id = match self.catalog.branch(&repository.name, branch).await {
            Ok(branch) => branch.commit_id,
            Err(CatalogError::BranchNotFound { .. }) if dry_run => {
                self.catalog
                    .branch(&repository.name, &repository.default_branch)
                    .await?
                    .commit_id
            }
            Err(CatalogError::BranchNotFound { .. }) => match self
                .catalog
                .create_import_branch(&repository.name, branch, &repository.default_branch)
                .await
            {
                Ok(branch) => branch.commit_id,
                Err(CatalogError::BranchExists { .. }) => return Ok(None),
                Err(err) => return Err(err.into()),
            },
            Err(err) => return Err(err.into()),
        };
        Ok(Some(
            self.catalog.resolve(&repository.name, &head_id).await?,
        ))
    }

    /// When `head` is this job's own commit (a committer moved the branch and stopped
    /// before recording the job), records the job as its commit says and returns it.
    async fn own_commit(
        &self,
        job: &Job,
        shards: &[Shard],
        started: Instant,
        head: &Commit,
    ) -> Option<Result<Job, PipelineError>> {
        if job.dry_run || head.metadata.get("job_id") != Some(&job.id) {
            return None;
        }
        let summary = summary_from_metadata(&head.metadata)?;
        tracing::warn!(job = %job.id, commit = %head.id, "the job's commit was made by an earlier delivery; recording it");
        Some(
            self.finish_import(
                job,
                shards,
                started,
                JobState::Committed,
                &head.id,
                &summary,
            )
            .await,
        )
    }

    /// Records that the job's delivery is imported as `commit` (its own, or an earlier
    /// import's that already holds the same objects) and finishes the job in `state`.
    async fn finish_import(
        &self,
        job: &Job,
        shards: &[Shard],
        started: Instant,
        state: JobState,
        commit: &str,
        summary: &ImportSummary,
    ) -> Result<Job, PipelineError> {
        ImportSources::new(&self.catalog)
            .record_import(&job.repository, &job.manifest, commit)
            .await?;
        Ok(self
            .jobs
            .update(&job.repository, &job.id, |j| {
                finish(j, shards, started, state, Some(commit.to_string()), summary)
            })
            .await?)
    }

    /// Removes staged runs, leaving them to their TTL when that fails.
    async fn remove_staged(&self, job: &str, runs: impl IntoIterator<Item = StagedRun>) {
        let runs: Vec<StagedRun> = runs.into_iter().collect();
        if let Err(err) = self.staging.delete_job(job, &runs).await {
            tracing::warn!(job, error = %err, "staged runs left for their TTL");
        }
    }

    /// Removes the runs this attempt at `shard` staged when another attempt (the same
    /// task handed to two workers) was counted first: the committer reads the runs of
    /// the attempt the shard records, and these would only wait for their TTL. Asked
    /// only when counting found the shard done; that may also be this attempt's own
    /// count whose answer was lost, so the shard's record decides.
    async fn drop_if_outrun(&self, job: &str, shard: &Shard) {
        let Ok(shards) = self.jobs.shards(job).await else {
            return;
        };
        let recorded = shards.iter().find(|s| s.index == shard.index);
        if recorded.is_some_and(|r| r.attempt != shard.attempt) {
            let ours: Vec<StagedRun> = shard.staged_runs().collect();
            if let Err(err) = self.staging.delete_job(job, &ours).await {
                tracing::warn!(error = %err, "an outrun attempt's runs are left for their TTL");
            }
        }
    }

    /// Reads a shard's files and stages their entries in sorted runs of at most
    /// `run_entries`, so a worker's memory does not grow with its shard. Decoding
    /// goes on while a run is written.
    async fn stage_shard(&self, job: &Job, shard: &mut Shard) -> Result<(), PipelineError> {
        let manifest = Manifest::load(&self.store, &job.manifest)
            .await
            .map_err(InspectError::from)?;
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<InventoryEntry>>(4);
        let read = async {
            let mut sender = sender;
            let (mut rows, mut skipped) = (0, SkipCounts::default());
            for key in &shard.files {
                let Some(file) = manifest.files.iter().find(|f| &f.key == key) else {
                    continue;
                };
                let (report, _, returned) =
                    read_data_file(&self.store, &manifest, file, &self.temp_dir, sender).await?;
                sender = returned;
                rows += report.rows;
                skipped.add(&report.skipped);
            }
            Ok::<_, PipelineError>((rows, skipped))
        };
        let mut staged = StagedRuns {
            attempt: new_attempt(),
            cuts: job.partitions.clone(),
            ..StagedRuns::default()
        };
        let runs = &mut staged;
        let (index, job_id) = (shard.index, job.id.as_str());
        let (repository, scope) = (job.repository.as_str(), &job.scope);
        // Owns the receiver: if staging fails, the reader stops at the closed channel.
        let stage = async move {
            let mut run: Vec<InventoryEntry> = Vec::new();
            let mut outside = SkipCounts::default();
            let mut look = cancel::Look::default();
            while let Some(mut entries) = receiver.recv().await {
                // A cancelled job's workers stop at the batch after the look that
                // finds it cancelled; a look is always under way.
                look.stop_if_cancelled(&self.jobs, repository, job_id)
                    .await?;
                scope.apply(&mut entries, &mut outside);
                run.extend(entries);
                if run.len() >= self.run_entries {
                    runs.put(&self.staging, job_id, index, &mut run).await?;
                }
            }
            Ok::<_, PipelineError>((run, outside))
        };
        let (read, rest) = tokio::join!(read, stage);
        let result = match (read, rest) {
            (Ok((rows, mut skipped)), Ok((mut rest, outside))) => {
                skipped.add(&outside);
                staged
                    .put(&self.staging, &job.id, shard.index, &mut rest)
                    .await
                    .map(|()| (rows, skipped))
            }
            (Err(err), _) | (_, Err(err)) => Err(err),
        };
        let (rows, skipped) = match result {
            Ok(read) => read,
            Err(err) => {
                // This attempt's runs only: another attempt at the shard may be writing
                // its own at the same time.
                self.remove_staged(
                    &job.id,
                    runs_of(shard.index, staged.attempt, &staged.batches),
                )
                .await;
                return Err(err);
            }
        };
        shard.rows = rows;
        shard.entries = staged.entries;
        shard.skipped = skipped;
        shard.duplicate_keys = staged.duplicates;
        shard.staged_bytes = staged.bytes;
        shard.runs = staged.batches;
        shard.run_partitions = staged.partitions;
        shard.attempt = staged.attempt;
        shard.done = true;
        Ok(())
    }

    /// Merges the staged entries, diffs them against the import branch and commits
    /// (or, for a dry run, only counts). Safe to run more than once. A failure on the
    /// `final_attempt` (the queue will not deliver the task again) fails the job and
    /// removes its staged items; an earlier one leaves both to the queue's retries, so
    /// that a throttle or an S3 error of a moment does not lose the delivery.
    pub async fn commit(
        &self,
        task: &CommitTask,
        final_attempt: bool,
    ) -> Result<Job, PipelineError> {
        let job = self.jobs.get(&task.repository, &task.job).await?;
        if job.state.is_finished() {
            // A committer stopped after recording the job and before removing its
            // staged items: this delivery of the task removes them.
            if let Ok(shards) = self.jobs.shards(&job.id).await {
                self.remove_staged(&job.id, staged_runs(&shards)).await;
            }
            return Ok(job);
        }
        let job = self
            .jobs
            .update(&task.repository, &task.job, |j| {
                if j.state == JobState::Staging {
                    j.state = JobState::Committing;
                    // Staging lasted from the end of planning until now.
                    if let Ok(created) = chrono::DateTime::parse_from_rfc3339(&j.created_at) {
                        let since = (Utc::now() - created.with_timezone(&Utc)).as_seconds_f64();
                        j.times.staging = (since - j.times.planning).max(0.0);
                    }
                }
            })
            .await?;
        let shards = self.jobs.shards(&job.id).await?;
        let committed = match task.partition {
            Some(partition) => self.commit_partition(&job, &shards, partition).await,
            None => self.commit_staged(&job, &shards).await,
        };
        match committed {
            // A partition done before the others: the last one commits the job.
            Ok(job) if !job.state.is_finished() => Ok(job),
            Ok(job) => {
                // Staged items are removed once committed; they also carry a TTL.
                self.staging
                    .delete_job(&job.id, &staged_runs(&shards))
                    .await?;
                Ok(job)
            }
            Err(err) => {
                // A duplicate committer that lost to one which finished the job
                // meanwhile (and removed the staged batches) has nothing left to do.
                if let Ok(now) = self.jobs.get(&task.repository, &task.job).await
                    && now.state.is_finished()
                {
                    tracing::info!(job = %now.id, state = %now.state, error = %err, "another committer finished the job");
                    return Ok(now);
                }
                if final_attempt {
                    self.fail(&job, &err).await;
                }
                Err(err)
            }
        }
    }

    async fn commit_staged(&self, job: &Job, shards: &[Shard]) -> Result<Job, PipelineError> {
        let started = Instant::now();
        let repository = self.catalog.repository(&job.repository).await?;
        let runs = staged_runs(shards);
        for _ in 0..COMMIT_ATTEMPTS {
            let Some(head) = self.import_head(&repository, job).await? else {
                continue;
            };
            if let Some(done) = self.own_commit(job, shards, started, &head).await {
                return done;
            }
            let base = self.catalog.tree_of(&repository, &head).await?;
            let trees = self.catalog.trees(&repository);
            let merged =
                merge_in_levels(&self.staging, &job.id, &runs, MERGE_FAN_IN, &self.temp_dir)
                    .await?;
            // Only the paths of the job's scope are diffed; the rest is kept.
            let (lo, hi) = job.scope.bounds();
            let part = commit_part(
                &trees,
                &base,
                (lo.as_deref(), hi.as_deref()),
                merged,
                job.scope.origin(&job.source_bucket),
                !job.dry_run,
            )
            .await?;
            let mut summary = staged_summary(shards);
            summary.add_part(&part.summary);
            if let Some(done) = self
                .finish_without_commit(job, shards, started, &head, &summary)
                .await
            {
                return done;
            }
            let Some(ranges) = part.ranges else {
                continue;
            };
            let tree = partitioned::scoped_tree(&trees, &base, &job.scope, ranges).await?;
            // None: someone moved the branch; diff again against the new head.
            if let Some(done) = self
                .commit_import(job, &repository, shards, started, &head, &tree, &summary)
                .await?
            {
                return Ok(done);
            }
        }
        Err(unstable_head(job))
    }

    /// A dry run's end, or an import that changes nothing: the job finishes without a
    /// commit of its own. `None` when there is a tree to commit.
    async fn finish_without_commit(
        &self,
        job: &Job,
        shards: &[Shard],
        started: Instant,
        head: &Commit,
        summary: &ImportSummary,
    ) -> Option<Result<Job, PipelineError>> {
        if job.dry_run {
            let done = self
                .jobs
                .update(&job.repository, &job.id, |j| {
                    finish(j, shards, started, JobState::DryRunComplete, None, summary)
                })
                .await;
            return Some(done.map_err(PipelineError::from));
        }
        if summary.added + summary.changed + summary.deleted == 0
            && head.metadata.contains_key("manifest_url")
        {
            return Some(
                self.finish_import(job, shards, started, JobState::NoChange, &head.id, summary)
                    .await,
            );
        }
        None
    }

    /// Commits `tree` on the import branch over `head`, with the import's summary in
    /// the commit's metadata, and finishes the job; `None` when the branch moved
    /// meanwhile (the conditional write lost).
    #[allow(clippy::too_many_arguments)]
    async fn commit_import(
        &self,
        job: &Job,
        repository: &Repository,
        shards: &[Shard],
        started: Instant,
        head: &Commit,
        tree: &inventory_catalog::tree::Tree,
        summary: &ImportSummary,
    ) -> Result<Option<Job>, PipelineError> {
        // Claimed on the job first, so that a cancel and the branch's move never both
        // happen: a job cancelled meanwhile comes back finished, and commits nothing.
        let claimed = self
            .jobs
            .update(&job.repository, &job.id, |j| j.moving_branch = true)
            .await?;
        if claimed.state.is_finished() {
            return Ok(Some(claimed));
        }
        let info = CommitInfo {
            message: format!("Import from {}", job.source_bucket),
            committer: "inventory-import".into(),
            metadata: import_metadata(job, summary),
        };
        let committed = self
            .catalog
            .commit_tree(
                repository,
                &job.scope.branch,
                &head.id,
                vec![head.id.clone()],
                tree,
                info,
            )
            .await;
        match committed {
            Ok(commit) => Ok(Some(
                self.finish_import(
                    job,
                    shards,
                    started,
                    JobState::Committed,
                    &commit.id,
                    summary,
                )
                .await?,
            )),
            Err(CatalogError::Conflict { .. }) => {
                // The branch did not move: the job may be cancelled again until the
                // next attempt claims it.
                self.jobs
                    .update(&job.repository, &job.id, |j| j.moving_branch = false)
                    .await?;
                Ok(None)
            }
            // Whether the branch moved is not known: the claim stays, and the next
            // delivery of the task finds out (see `own_commit`).
            Err(err) => Err(err.into()),
        }
    }

    /// A shard task the queue gave up on after `deliveries` deliveries (it reached its
    /// dead-letter queue). A shard staged after all (its last worker stopped after
    /// counting it) is finished as a retry would: the commit task is returned when it
    /// was the last. Otherwise the job fails, naming the shard, its deliveries and the
    /// last error; a finished job stays as it is.
    pub async fn shard_given_up(
        &self,
        task: &ShardTask,
        deliveries: u32,
    ) -> Result<GivenUp, PipelineError> {
        let job = self.jobs.get(&task.repository, &task.job).await?;
        if job.state.is_finished() {
            return Ok(GivenUp::Finished(job));
        }
        let shard = self.task_shard(task).await?;
        if shard.done {
            return Ok(GivenUp::Staged(self.run_shard(task, true).await?));
        }
        let what = format!("shard {} ({} data files)", shard.index, shard.files.len());
        self.give_up(
            &job,
            what,
            shard.last_attempt.as_ref(),
            deliveries,
            "worker",
        )
        .await
    }

    /// The shard a task names, as recorded.
    async fn task_shard(&self, task: &ShardTask) -> Result<Shard, PipelineError> {
        let shards = self.jobs.shards(&task.job).await?;
        shards
            .into_iter()
            .find(|s| s.index == task.shard)
            .ok_or(PipelineError::UnknownShard {
                job: task.job.clone(),
                shard: task.shard,
            })
    }

    /// Fails `job` because the queue gave up the task `what` after `deliveries`
    /// deliveries (or more, as its latest `attempt` by `function` says), naming the
    /// last error; returns the failed job.
    async fn give_up(
        &self,
        job: &Job,
        what: String,
        attempt: Option<&crate::jobs::Attempt>,
        deliveries: u32,
        function: &str,
    ) -> Result<GivenUp, PipelineError> {
        let err = PipelineError::GivenUp {
            task: what,
            deliveries: attempt.map_or(deliveries, |a| a.delivery.max(deliveries)),
            last_error: last_error(attempt, function),
        };
        self.record_failure(job, &err).await?;
        Ok(GivenUp::Failed(
            self.jobs.get(&job.repository, &job.id).await?,
        ))
    }

    /// A commit task the queue gave up on after `deliveries` deliveries: the job fails,
    /// naming the last error, unless it finished meanwhile.
    pub async fn commit_given_up(
        &self,
        task: &CommitTask,
        deliveries: u32,
    ) -> Result<GivenUp, PipelineError> {
        let job = self.jobs.get(&task.repository, &task.job).await?;
        if job.state.is_finished() {
            return Ok(GivenUp::Finished(job));
        }
        let what = "the commit".to_string();
        self.give_up(
            &job,
            what,
            job.commit_attempt.as_ref(),
            deliveries,
            "committer",
        )
        .await
    }

    /// Marks the job failed with the reason and removes what its shards staged; no
    /// branch moves. A failure to record it is logged (the caller reports `err`).
    async fn fail(&self, job: &Job, err: &PipelineError) {
        if let Err(update) = self.record_failure(job, err).await {
            tracing::error!(job = %job.id, error = %update, "could not record the job's failure");
        }
    }

    /// [`fail`](Self::fail), with the error of recording the failure.
    async fn record_failure(&self, job: &Job, err: &PipelineError) -> Result<(), JobError> {
        if let Ok(shards) = self.jobs.shards(&job.id).await {
            self.remove_staged(&job.id, staged_runs(&shards)).await;
        }
        let message = err.to_string();
        self.jobs
            .update(&job.repository, &job.id, |j| {
                j.state = JobState::Failed;
                j.error = Some(message.clone());
            })
            .await?;
        Ok(())
    }

    /// Runs a whole import in this process: start, every shard, commit.
    pub async fn run_in_process(&self, request: &ImportRequest) -> Result<Started, PipelineError> {
        let started = self.start(request).await?;
        self.run_started(started).await
    }

    /// Runs every shard of a job just started, then its commit, in this process.
    pub async fn run_started(&self, started: Started) -> Result<Started, PipelineError> {
        let Started::Started { job, tasks } = &started else {
            return Ok(started);
        };
        let mut commit_tasks = Vec::new();
        for task in tasks {
            commit_tasks.extend(self.run_shard(task, true).await?);
        }
        if commit_tasks.is_empty() {
            commit_tasks = CommitTask::of_job(job);
        }
        let mut job = job.clone();
        for task in &commit_tasks {
            job = self.commit(task, true).await?;
        }
        Ok(Started::Started {
            job,
            tasks: tasks.clone(),
        })
    }
}

/// A commit that lost the race for the import branch on every attempt.
fn unstable_head(job: &Job) -> PipelineError {
    CatalogError::Conflict {
        branch: job.scope.branch.clone(),
        expected: "a stable head".into(),
        found: format!("a new head on each of {COMMIT_ATTEMPTS} attempts"),
    }
    .into()
}

/// A finished job's state, summary, commit and totals.
fn finish(
    j: &mut Job,
    shards: &[Shard],
    started: Instant,
    state: JobState,
    commit: Option<String>,
    summary: &ImportSummary,
) {
    j.state = state;
    j.moving_branch = false;
    j.summary = Some(summary.clone());
    j.commit_id = commit;
    j.rows = shards.iter().map(|s| s.rows).sum();
    j.entries_staged = shards.iter().map(|s| s.entries).sum();
    j.files_done = shards.iter().map(|s| s.files.len()).sum();
    j.times.committing = started.elapsed().as_secs_f64();
}

/// A new attempt's id: never 0, and different for attempts at one shard at once.
fn new_attempt() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_nanos() as u64)
        .unwrap_or_default();
    std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), nanos) | 1
}

/// What a worker has staged of its shard so far.
#[derive(Debug, Default)]
struct StagedRuns {
    /// This attempt at the shard (see [`StagedRun::attempt`]).
    attempt: u64,
    /// Batches of each run written, in order.
    batches: Vec<usize>,
    /// The job's partition cuts, and the partition of each run written.
    cuts: Vec<String>,
    partitions: Vec<usize>,
    entries: u64,
    duplicates: u64,
    bytes: u64,
}

impl StagedRuns {
    /// Sorts `run`, stages it as the next run and empties it.
    async fn put(
        &mut self,
        staging: &StagingTable,
        job: &str,
        shard: usize,
        run: &mut Vec<InventoryEntry>,
    ) -> Result<(), PipelineError> {
        if run.is_empty() {
            return Ok(());
        }
        self.duplicates += sort_and_dedup(run);
        // One run per partition the sorted entries reach: a partition's committer
        // reads only its own.
        let parts = Partitions::new(&self.cuts).split(run, |e| e.key.as_str());
        for (partition, span) in parts {
            let Some(entries) = run.get(span) else {
                continue;
            };
            let (batches, bytes) = staging
                .put_run(job, shard, self.attempt, self.batches.len(), entries)
                .await?;
            self.batches.push(batches);
            if !self.cuts.is_empty() {
                self.partitions.push(partition);
            }
            self.bytes += bytes;
        }
        self.entries += run.len() as u64;
        run.clear();
        Ok(())
    }
}

/// The commit's core: walks the staged entries (merged in key order) beside the base
/// tree, counts what was added, changed, deleted and unchanged, and hands every entry
/// of the new tree to `writer` (none for a dry run). A key staged more than once keeps
/// its newest row and is counted as a duplicate. With `end`, the base ends before that
/// path (a partition's upper bound; the cursor starts at its lower one).
pub async fn diff_staged<S: BatchSource>(
    mut merged: LeveledMerge<S>,
    base: &mut IdentityCursor<'_>,
    end: Option<&str>,
    mut writer: Option<&mut TreeWriter<'_>>,
    origin: Origin<'_>,
    summary: &mut ImportSummary,
) -> Result<(), PipelineError> {
    let mut pending: Option<StagedEntry> = None;
    loop {
        let next = merged.next_entry().await?;
        // Equal keys from different shards arrive together: keep the newest.
        let ready = match (pending.take(), next) {
            (Some(a), Some(b)) if a.key() == b.key() => {
                summary.duplicate_keys += 1;
                // The newest, ties broken by version id and ETag, so that the choice
                // never depends on the order of shards.
                pending = Some(if b.recency() > a.recency() { b } else { a });
                continue;
            }
            (Some(a), next) => {
                pending = next;
                a
            }
            (None, Some(b)) => {
                pending = Some(b);
                continue;
            }
            (None, None) => break,
        };
        let entry = ready.imported(origin);
        // Whether the base has the path, and then whether it names the same object.
        let found = loop {
            let Some((path, old)) = base.peek().await? else {
                break None;
            };
            if end.is_some_and(|end| path >= end) {
                break None;
            }
            match path.cmp(entry.path) {
                std::cmp::Ordering::Less => summary.deleted += 1,
                std::cmp::Ordering::Equal => break Some(old == entry.identity()),
                std::cmp::Ordering::Greater => break None,
            }
            base.advance();
        };
        match found {
            Some(true) => summary.unchanged += 1,
            Some(false) => summary.changed += 1,
            None => summary.added += 1,
        }
        if found.is_some() {
            base.advance();
        }
        summary.total += 1;
        if let Some(writer) = writer.as_mut() {
            writer.add_ref(entry).await?;
        }
    }
    while let Some((path, _)) = base.peek().await? {
        if end.is_some_and(|end| path >= end) {
            break;
        }
        summary.deleted += 1;
        base.advance();
    }
    Ok(())
}

/// Groups data files into shards of about `target` bytes, in manifest order; a file
/// of `target` bytes or more is a shard of its own.
pub fn plan_shards(files: &[ManifestFile], target: u64) -> Vec<Shard> {
    let mut shards: Vec<Shard> = Vec::new();
    for file in files {
        let fits = shards
            .last()
            .is_some_and(|s| s.bytes + file.size <= target && file.size < target);
        if !fits {
            shards.push(Shard {
                index: shards.len(),
                files: Vec::new(),
                bytes: 0,
                done: false,
                rows: 0,
                entries: 0,
                runs: Vec::new(),
                run_partitions: Vec::new(),
                attempt: 0,
                staged_bytes: 0,
                skipped: SkipCounts::default(),
                duplicate_keys: 0,
                last_attempt: None,
            });
        }
        if let Some(shard) = shards.last_mut() {
            shard.files.push(file.key.clone());
            shard.bytes += file.size;
        }
    }
    shards
}

/// Refuses a manifest delivered under an import source's prefix that names another
/// source bucket (its entries would point into it) or keeps its data files in another
/// bucket than the prefix's: whoever can write under one inventory prefix must not be
/// able to make the catalog point at, or read from, other buckets.
fn check_delivered_by(source: &ImportSource, manifest: &Manifest) -> Result<(), PipelineError> {
    let refuse = |field: &str, found: &str, expected: &str| PipelineError::ForeignDelivery {
        manifest: manifest.url.clone(),
        inventory: source.inventory.clone(),
        mismatch: format!("its {field} is {found:?}, not {expected:?}"),
    };
    if manifest.destination_bucket != source.inventory.bucket {
        return Err(refuse(
            "destinationBucket",
            &manifest.destination_bucket,
            &source.inventory.bucket,
        ));
    }
    // `<dest-prefix>/<source-bucket>/<config-id>/`
    let mut parts = source.inventory.key.trim_end_matches('/').rsplit('/');
    if let (Some(_config), Some(bucket)) = (parts.next(), parts.next())
        && manifest.source_bucket != bucket
    {
        return Err(refuse("sourceBucket", &manifest.source_bucket, bucket));
    }
    Ok(())
}

/// Whether `b` is a newer row of the key than `a` (see [`inventory_delivery::reader::Recency`]).
fn is_newer(b: &InventoryEntry, a: &InventoryEntry) -> bool {
    b.recency() > a.recency()
}

/// Sorts by key and keeps one entry per key, the newest; returns how many were
/// dropped.
pub fn sort_and_dedup(entries: &mut Vec<InventoryEntry>) -> u64 {
    // Unstable is enough: of equal keys, the newest is kept in any order.
    entries.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    let before = entries.len();
    entries.dedup_by(|later, kept| {
        if later.key != kept.key {
            return false;
        }
        if is_newer(later, kept) {
            std::mem::swap(later, kept);
        }
        true
    });
    (before - entries.len()) as u64
}

fn import_metadata(job: &Job, summary: &ImportSummary) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("manifest_url".into(), job.manifest.to_string()),
        (
            "inventory_created_at".into(),
            job.inventory_created_at.clone(),
        ),
        ("source_bucket".into(), job.source_bucket.clone()),
        ("job_id".into(), job.id.clone()),
        ("added".into(), summary.added.to_string()),
        ("changed".into(), summary.changed.to_string()),
        ("deleted".into(), summary.deleted.to_string()),
        ("unchanged".into(), summary.unchanged.to_string()),
        ("total".into(), summary.total.to_string()),
        (
            "skipped_noncurrent_version".into(),
            summary.skipped.noncurrent_version.to_string(),
        ),
        (
            "skipped_delete_marker".into(),
            summary.skipped.delete_marker.to_string(),
        ),
        (
            "skipped_incomplete_row".into(),
            summary.skipped.incomplete_row.to_string(),
        ),
        (
            "skipped_outside_prefix".into(),
            summary.skipped.outside_prefix.to_string(),
        ),
        ("duplicate_keys".into(), summary.duplicate_keys.to_string()),
    ])
}

/// The summary an import's commit records in its metadata (see [`import_metadata`]);
/// `None` when a field is missing or not a number.
fn summary_from_metadata(metadata: &BTreeMap<String, String>) -> Option<ImportSummary> {
    let number = |name: &str| metadata.get(name)?.parse::<u64>().ok();
    Some(ImportSummary {
        added: number("added")?,
        changed: number("changed")?,
        deleted: number("deleted")?,
        unchanged: number("unchanged")?,
        total: number("total")?,
        skipped: SkipCounts {
            noncurrent_version: number("skipped_noncurrent_version")?,
            delete_marker: number("skipped_delete_marker")?,
            incomplete_row: number("skipped_incomplete_row")?,
            // Commits made before sources had prefixes do not record it.
            outside_prefix: number("skipped_outside_prefix").unwrap_or(0),
        },
        duplicate_keys: number("duplicate_keys")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use inventory_base::storage::StorageError;

    fn file(key: &str, size: u64) -> ManifestFile {
        ManifestFile {
            key: key.into(),
            size,
            md5_checksum: "0".repeat(32),
        }
    }

    #[test]
    fn only_faults_of_the_delivery_refuse_it() {
        let url = S3Url::new("inventory", "inv/manifest.json");
        let storage = |not_found: bool| {
            if not_found {
                StorageError::NotFound { url: url.clone() }
            } else {
                StorageError::S3 {
                    url: url.clone(),
                    message: "SlowDown".into(),
                }
            }
        };
        let refusals = [
            PipelineError::Inspect(InspectError::Manifest(ManifestError::Missing {
                url: url.clone(),
            })),
            PipelineError::Inspect(InspectError::Manifest(ManifestError::UnsupportedFormat {
                url: url.clone(),
                found: "JSON".into(),
            })),
            PipelineError::Inspect(InspectError::MissingDataFiles {
                manifest: url.clone(),
                files: vec![url.clone()],
            }),
            PipelineError::Inspect(InspectError::Storage(storage(true))),
            PipelineError::OlderThanLastImport {
                manifest: url.clone(),
                repository: "photos".into(),
                created: "2026-11-19T01:00:00+00:00".into(),
                last: "2026-11-20T01:00:00+00:00".into(),
            },
        ];
        for err in &refusals {
            assert!(err.is_refusal(), "{err}");
        }
        let passing = [
            PipelineError::Inspect(InspectError::Manifest(ManifestError::Unreadable {
                url: url.clone(),
                source: storage(false),
            })),
            PipelineError::Inspect(InspectError::Storage(storage(false))),
            PipelineError::UnknownShard {
                job: "j".into(),
                shard: 3,
            },
        ];
        for err in &passing {
            assert!(!err.is_refusal(), "{err}");
        }
    }

    #[test]
    fn shards_are_balanced_by_bytes() {
        let files = [
            file("a", 40),
            file("b", 50),
            file("c", 200),
            file("d", 10),
            file("e", 95),
        ];
        let shards = plan_shards(&files, 100);
        let groups: Vec<Vec<String>> = shards.iter().map(|s| s.files.clone()).collect();
        assert_eq!(groups, [vec!["a", "b"], vec!["c"], vec!["d"], vec!["e"]]);
        assert_eq!(
            shards.iter().map(|s| s.index).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
    }

    #[test]
    fn duplicates_keep_the_newest_row() {
        let entry = |key: &str, modified: i64, etag: &str| InventoryEntry {
            key: key.into(),
            version_id: None,
            size: 1,
            etag: etag.into(),
            last_modified_ms: modified,
            storage_class: None,
        };
        let mut entries = vec![
            entry("b", 1, "x"),
            entry("a", 5, "new"),
            entry("a", 2, "old"),
            entry("b", 1, "y"),
        ];
        assert_eq!(sort_and_dedup(&mut entries), 2);
        assert_eq!(entries, [entry("a", 5, "new"), entry("b", 1, "y")]);
    }
}
