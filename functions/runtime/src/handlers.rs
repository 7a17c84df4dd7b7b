//! What each function does with its event: the trigger starts jobs from delivery
//! notifications and direct invocations, a worker stages a shard, the committer
//! commits a job. Lambda entry points and the local runner both call these.
//!
//! Every log line written while handling a job is inside a span that carries the
//! job's id (`trigger`, `worker` or `committer`), so the JSON logs of the Lambda
//! functions and of `inventory-import local` can be filtered by job.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use inventory_base::location::S3Url;
use inventory_base::storage::{ObjectStore, StorageError};
use inventory_catalog::catalog::{CatalogError, MergeOutcome};
use inventory_catalog::diff::ConflictStrategy;
use inventory_importer::jobs::{Attempt, Job, JobState, JobTable, MergeRecord, job_id};
use inventory_importer::pipeline::{
    CommitTask, GivenUp, ImportRequest, Pipeline, PipelineError, ShardTask, Started,
};
use inventory_importer::sources::ImportSources;
use inventory_importer::staging::StagingTable;

use crate::events::{DeliveryEvent, EventError, parse_notification};
use crate::queues::{QueueError, Queues, dead_letter};
use crate::resources::ResourceNames;

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Pipeline(Box<PipelineError>),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(
        "no repository given for {manifest}, and no import source is recorded for its inventory"
    )]
    NoRepository { manifest: S3Url },
    #[error("{0}")]
    Config(String),
}

impl From<PipelineError> for HandlerError {
    fn from(err: PipelineError) -> Self {
        HandlerError::Pipeline(Box::new(err))
    }
}

/// `{"manifest": "s3://…/manifest.json", "repository": "…", "dry_run": true, "force": false}`;
/// without a repository, the import source recorded for the inventory decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectInvocation {
    pub manifest: S3Url,
    #[serde(default)]
    pub repository: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub force: bool,
}

/// What the trigger did with one notification record.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum NotificationOutcome {
    Started {
        job: String,
        shards: usize,
    },
    Existing {
        job: String,
    },
    AlreadyImported {
        manifest: S3Url,
        commit: String,
    },
    /// `manifest.json` arrived before `manifest.checksum`: the checksum starts the job.
    WaitingForChecksum {
        manifest: S3Url,
    },
    /// The delivery was refused (invalid, or older than the last import). The job
    /// records the reason; delivering the notification again would change nothing.
    Failed {
        job: String,
        error: String,
    },
    Ignored {
        reason: String,
    },
}

/// The three functions, each fed by its own queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Function {
    /// Manifest events: starts jobs.
    Trigger,
    /// Shard tasks: stages shards.
    Worker,
    /// Commit tasks: commits jobs.
    Committer,
}

/// The pipeline and the queues between the functions.
#[derive(Debug, Clone)]
pub struct Handlers {
    pub pipeline: Pipeline,
    pub queues: Queues,
    pub names: ResourceNames,
    pub shard_queue_url: String,
    pub commit_queue_url: String,
    /// The largest delivery (its data files' bytes) a direct dry run reads in this
    /// process; a larger one goes to the workers as a job. `None`: no limit.
    pub dry_run_in_process_bytes: Option<u64>,
    /// How old a job whose shard tasks are not marked sent must be before a later
    /// notification sends them: by then the trigger that recorded it has stopped (its
    /// timeout is 60 s), so that two triggers for one delivery at once do not both send.
    pub tasks_resend_after: std::time::Duration,
}

/// Sets [`Handlers::dry_run_in_process_bytes`].
pub const DRY_RUN_IN_PROCESS_BYTES: &str = "DRY_RUN_IN_PROCESS_BYTES";

/// The number the environment variable `name` holds, if set and not empty; one below
/// `min` or not a number is a configuration error that says it should be `what`.
fn env_number(name: &str, min: u64, what: &str) -> Result<Option<u64>, HandlerError> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value
            .parse::<u64>()
            .ok()
            .filter(|number| *number >= min)
            .map(Some)
            .ok_or_else(|| HandlerError::Config(format!("{name} is {value:?}, not {what}"))),
        _ => Ok(None),
    }
}

/// The default of [`Handlers::tasks_resend_after`].
const TASKS_RESEND_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// How long ago a job was recorded: zero for a time ahead of this clock, and as old as
/// can be when its time does not parse (its tasks are then sent rather than lost).
fn age(job: &Job) -> std::time::Duration {
    match chrono::DateTime::parse_from_rfc3339(&job.created_at) {
        Ok(created) => (chrono::Utc::now() - created.to_utc())
            .to_std()
            .unwrap_or_default(),
        Err(_) => std::time::Duration::MAX,
    }
}

/// Sets the pipeline's shard target size, in bytes of data files per shard (default
/// 256 MiB): a small value plans even a small delivery as several shards.
pub const SHARD_TARGET_BYTES: &str = "SHARD_TARGET_BYTES";

/// Cuts every delivery into this many key partitions committed at once, whatever its
/// size (unset: one per [`ROWS_PER_PARTITION`] rows).
pub const IMPORT_PARTITIONS: &str = "IMPORT_PARTITIONS";

/// Rows of a delivery per partition of its commit (default 50,000,000).
pub const ROWS_PER_PARTITION: &str = "ROWS_PER_PARTITION";

/// Sets [`Handlers::tasks_resend_after`], in seconds (default 60).
pub const TASKS_RESEND_AFTER_SECONDS: &str = "TASKS_RESEND_AFTER_SECONDS";

impl Handlers {
    /// Everything configured from the environment (see [`ResourceNames::from_env`],
    /// [`DRY_RUN_IN_PROCESS_BYTES`], [`TASKS_RESEND_AFTER_SECONDS`] and
    /// [`SHARD_TARGET_BYTES`]).
    pub async fn from_env() -> Result<Self, HandlerError> {
        let shard_bytes = env_number(SHARD_TARGET_BYTES, 1, "a positive number of bytes")?;
        let tasks_resend_after = env_number(TASKS_RESEND_AFTER_SECONDS, 0, "a number of seconds")?
            .map_or(TASKS_RESEND_AFTER, std::time::Duration::from_secs);
        let dry_run_in_process_bytes =
            env_number(DRY_RUN_IN_PROCESS_BYTES, 0, "a number of bytes")?;
        let config = inventory_base::aws::load_config().await;
        let mut handlers = Self::from_config(&config, ResourceNames::from_env()).await?;
        handlers.dry_run_in_process_bytes = dry_run_in_process_bytes;
        handlers.tasks_resend_after = tasks_resend_after;
        if let Some(bytes) = shard_bytes {
            handlers.pipeline.shard_bytes = bytes;
        }
        let partitioning = &mut handlers.pipeline.partitioning;
        partitioning.forced =
            env_number(IMPORT_PARTITIONS, 1, "a positive number")?.map(|k| k as usize);
        if let Some(rows) = env_number(ROWS_PER_PARTITION, 1, "a positive number of rows")? {
            partitioning.rows_per_partition = rows;
        }
        Ok(handlers)
    }

    /// The product's tables and queues, named by `names`, reached with `config`.
    pub async fn from_config(
        config: &aws_config::SdkConfig,
        names: ResourceNames,
    ) -> Result<Self, HandlerError> {
        let dynamo = aws_sdk_dynamodb::Client::new(config);
        let store = ObjectStore::S3(inventory_base::aws::s3_client(config));
        let catalog =
            inventory_catalog::catalog::Catalog::new(dynamo.clone(), &names.catalog_table, store);
        let pipeline = Pipeline::new(
            catalog,
            JobTable::new(dynamo.clone(), &names.jobs_table),
            StagingTable::new(dynamo, &names.staging_table),
        );
        let queues = Queues::new(aws_sdk_sqs::Client::new(config));
        Self::new(pipeline, queues, names).await
    }

    pub async fn new(
        pipeline: Pipeline,
        queues: Queues,
        names: ResourceNames,
    ) -> Result<Self, HandlerError> {
        let shard_queue_url = queues.url(&names.shard_queue).await?;
        let commit_queue_url = queues.url(&names.commit_queue).await?;
        Ok(Self {
            pipeline,
            queues,
            names,
            shard_queue_url,
            commit_queue_url,
            dry_run_in_process_bytes: None,
            tasks_resend_after: TASKS_RESEND_AFTER,
        })
    }

    /// Starts an import and sends its shard tasks to the workers. A delivery whose
    /// job exists but whose tasks were never sent (the trigger failed in between) has
    /// the tasks of its unfinished shards sent now.
    pub async fn start(&self, request: &ImportRequest) -> Result<Started, HandlerError> {
        let started = self.pipeline.start(request).await?;
        self.send_tasks(started).await
    }

    /// Sends the shard tasks of a job just started, or of one whose tasks were never
    /// sent, and records that they were.
    async fn send_tasks(&self, started: Started) -> Result<Started, HandlerError> {
        let (job, tasks) = match &started {
            Started::Started { job, tasks } => (job, tasks.clone()),
            Started::Existing { job }
                if job.state == JobState::Staging
                    && !job.tasks_sent
                    && age(job) >= self.tasks_resend_after =>
            {
                let shards = self
                    .pipeline
                    .jobs
                    .shards(&job.id)
                    .await
                    .map_err(PipelineError::from)?;
                let tasks: Vec<ShardTask> = shards
                    .iter()
                    .filter(|s| !s.done)
                    .map(|s| ShardTask {
                        repository: job.repository.clone(),
                        job: job.id.clone(),
                        shard: s.index,
                    })
                    .collect();
                tracing::warn!(
                    shards = tasks.len(),
                    "the job's shard tasks were never sent; sending them"
                );
                (job, tasks)
            }
            _ => return Ok(started),
        };
        self.queues.send_all(&self.shard_queue_url, &tasks).await?;
        self.pipeline
            .jobs
            .update(&job.repository, &job.id, |j| j.tasks_sent = true)
            .await
            .map_err(PipelineError::from)?;
        Ok(started)
    }

    /// A direct invocation of the trigger. An import is started and left to the
    /// workers; so is a dry run of a delivery larger than
    /// [`dry_run_in_process_bytes`](Self::dry_run_in_process_bytes). A smaller dry run
    /// runs every step in this process and answers with its counts.
    pub async fn direct(&self, invocation: &DirectInvocation) -> Result<Started, HandlerError> {
        let span = tracing::info_span!(
            "trigger",
            manifest = %invocation.manifest,
            job = tracing::field::Empty
        );
        self.direct_in(invocation, &span)
            .instrument(span.clone())
            .await
    }

    async fn direct_in(
        &self,
        invocation: &DirectInvocation,
        span: &tracing::Span,
    ) -> Result<Started, HandlerError> {
        let repository = match &invocation.repository {
            Some(repository) => repository.clone(),
            None => ImportSources::new(&self.pipeline.catalog)
                .source_for_manifest(&invocation.manifest)
                .await?
                .map(|s| s.repository)
                .ok_or_else(|| HandlerError::NoRepository {
                    manifest: invocation.manifest.clone(),
                })?,
        };
        let request = ImportRequest {
            repository,
            manifest: invocation.manifest.clone(),
            dry_run: invocation.dry_run,
            force: invocation.force,
        };
        if !request.dry_run && !request.force {
            // Forced runs and dry runs get their id when they start.
            span.record("job", job_id(&request.repository, &request.manifest, None));
        }
        let result = if request.dry_run {
            self.dry_run(&request).await
        } else {
            self.start(&request).await
        };
        match &result {
            Ok(Started::Started { job, .. } | Started::Existing { job }) => {
                span.record("job", job.id.as_str());
                tracing::info!(state = %job.state, dry_run = job.dry_run, "direct invocation handled");
            }
            Ok(Started::AlreadyImported { commit, .. }) => {
                tracing::info!(%commit, "the manifest was imported before");
            }
            // The caller gets the error itself.
            Err(err) => tracing::info!(error = %err, "direct invocation failed"),
        }
        result
    }

    /// Starts a dry run; runs it here when its delivery is small enough, else sends its
    /// shards to the workers, whose commit then records the counts and moves no branch.
    async fn dry_run(&self, request: &ImportRequest) -> Result<Started, HandlerError> {
        let started = self.pipeline.start(request).await?;
        if let (Started::Started { job, .. }, Some(limit)) =
            (&started, self.dry_run_in_process_bytes)
            && job.bytes_total > limit
        {
            tracing::info!(
                bytes = job.bytes_total,
                limit,
                "the delivery is larger than a dry run reads in this function: its shards go to the workers"
            );
            return self.send_tasks(started).await;
        }
        Ok(self.pipeline.run_started(started).await?)
    }

    /// An S3 notification (the body of a manifest-events message).
    pub async fn notification(&self, body: &str) -> Result<Vec<NotificationOutcome>, HandlerError> {
        let events = parse_notification(body).inspect_err(|err| {
            tracing::error!(error = %err, "manifest-events message is not an S3 notification");
        })?;
        let mut outcomes = Vec::new();
        for event in events {
            let (manifest, complete) = match event {
                DeliveryEvent::Complete { manifest } => (manifest, true),
                DeliveryEvent::ManifestWritten { manifest } => (manifest, false),
                DeliveryEvent::Ignored { reason } => {
                    tracing::info!(%reason, "notification ignored");
                    outcomes.push(NotificationOutcome::Ignored { reason });
                    continue;
                }
            };
            let source = ImportSources::new(&self.pipeline.catalog)
                .source_for_manifest(&manifest)
                .await
                .inspect_err(|err| {
                    tracing::error!(%manifest, error = %err, "looking up the delivery's import source failed");
                })?;
            let Some(source) = source else {
                let reason = format!("no import source is recorded for {manifest}");
                tracing::info!(%reason, "notification ignored");
                outcomes.push(NotificationOutcome::Ignored { reason });
                continue;
            };
            // A delivery's notifications are never forced or dry runs: its job id is
            // known before the job exists.
            let job = job_id(&source.repository, &manifest, None);
            let span = tracing::info_span!("trigger", job = %job, manifest = %manifest);
            let request = ImportRequest {
                repository: source.repository,
                manifest,
                dry_run: false,
                force: false,
            };
            let outcome = self
                .delivery(&request, &job, complete)
                .instrument(span)
                .await?;
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// One notification about a delivery of a recorded import source.
    async fn delivery(
        &self,
        request: &ImportRequest,
        job: &str,
        complete: bool,
    ) -> Result<NotificationOutcome, HandlerError> {
        let manifest = &request.manifest;
        if !complete {
            let checksum = manifest.sibling("manifest.checksum");
            match self.pipeline.store.size(&checksum).await {
                Ok(_) => {}
                Err(StorageError::NotFound { .. }) => {
                    tracing::info!("manifest.json arrived; waiting for manifest.checksum");
                    return Ok(NotificationOutcome::WaitingForChecksum {
                        manifest: manifest.clone(),
                    });
                }
                Err(err) => {
                    tracing::error!(error = %err, "reading manifest.checksum failed; the queue will deliver the notification again");
                    return Err(err.into());
                }
            }
        }
        let outcome = match self.start(request).await {
            Ok(Started::Started { job, tasks }) => {
                tracing::info!(
                    shards = tasks.len(),
                    files = job.files_total,
                    bytes = job.bytes_total,
                    "import started"
                );
                NotificationOutcome::Started {
                    job: job.id,
                    shards: tasks.len(),
                }
            }
            Ok(Started::Existing { job }) => {
                tracing::info!(state = %job.state, "the delivery's job exists already");
                NotificationOutcome::Existing { job: job.id }
            }
            Ok(Started::AlreadyImported { manifest, commit }) => {
                tracing::info!(%commit, "the delivery was imported before");
                NotificationOutcome::AlreadyImported { manifest, commit }
            }
            Err(err) => {
                // A refusal while planning is recorded on the job; a redelivery would
                // find the failed job and do nothing, so the message is done with.
                let recorded = self.pipeline.jobs.get(&request.repository, job).await;
                if let Ok(failed) = recorded
                    && failed.state == JobState::Failed
                {
                    tracing::error!(error = %err, "import refused; the job records why");
                    return Ok(NotificationOutcome::Failed {
                        job: failed.id,
                        error: err.to_string(),
                    });
                }
                tracing::error!(error = %err, "starting the import failed; the queue will deliver the notification again");
                return Err(err);
            }
        };
        Ok(outcome)
    }

    /// A worker's shard task, received `receive_count` times; the last shard sends the
    /// commit task. The last delivery the queue allows fails the job on error. The
    /// shard records each delivery and the error it ended with, for `status` and for
    /// the job's error should the queue give the task up.
    pub async fn shard(&self, task: &ShardTask, receive_count: u32) -> Result<(), HandlerError> {
        let span = tracing::info_span!(
            "worker",
            job = %task.job,
            shard = task.shard,
            delivery = receive_count
        );
        async {
            let jobs = &self.pipeline.jobs;
            if let Err(err) = jobs
                .start_shard_attempt(&task.job, task.shard, receive_count)
                .await
            {
                tracing::warn!(error = %err, "could not record the start of this delivery");
            }
            let final_attempt = receive_count >= crate::queues::MAX_RECEIVES;
            let result = match self.pipeline.run_shard(task, final_attempt).await {
                Ok(commits) if commits.is_empty() => {
                    tracing::info!("shard done");
                    Ok(())
                }
                Ok(commits) => {
                    if commits.len() == 1 {
                        tracing::info!("shard done; it was the last, commit task sent");
                    } else {
                        tracing::info!(
                            partitions = commits.len(),
                            "shard done; it was the last, a commit task per partition sent"
                        );
                    }
                    self.send_commit(commits).await
                }
                Err(err) => Err(err.into()),
            };
            if let Err(err) = &result {
                if final_attempt {
                    tracing::error!(error = %err, "shard failed on its last delivery; the job failed");
                } else {
                    tracing::warn!(error = %err, "shard failed; the queue will deliver it again");
                }
                let recorded = jobs
                    .record_shard_error(&task.job, task.shard, receive_count, &err.to_string())
                    .await;
                if let Err(record) = recorded {
                    tracing::warn!(error = %record, "could not record the error of this delivery");
                }
            }
            result
        }
        .instrument(span)
        .await
    }

    async fn send_commit(&self, tasks: Vec<CommitTask>) -> Result<(), HandlerError> {
        Ok(self.queues.send_all(&self.commit_queue_url, &tasks).await?)
    }

    /// A shard task its queue gave up on, from the dead-letter queue: the job fails,
    /// naming the shard, its deliveries and the last error (see
    /// [`Pipeline::shard_given_up`]).
    pub async fn shard_given_up(&self, task: &ShardTask) -> Result<(), HandlerError> {
        let span = tracing::info_span!("worker", job = %task.job, shard = task.shard);
        async {
            let given_up = self
                .pipeline
                .shard_given_up(task, crate::queues::MAX_RECEIVES)
                .await?;
            match given_up {
                GivenUp::Staged(commits) if !commits.is_empty() => {
                    tracing::info!(
                        "a shard given up by its queue was staged after all; commit tasks sent"
                    );
                    return self.send_commit(commits).await;
                }
                other => log_given_up(&other, "a shard task"),
            }
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// A commit task its queue gave up on, from the dead-letter queue: the job fails,
    /// naming the last error, unless it finished.
    pub async fn commit_given_up(&self, task: &CommitTask) -> Result<(), HandlerError> {
        let span = tracing::info_span!("committer", job = %task.job);
        async {
            let given_up = self
                .pipeline
                .commit_given_up(task, crate::queues::MAX_RECEIVES)
                .await?;
            log_given_up(&given_up, "the commit task");
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// The committer's task; then merges into the source's branch when configured.
    /// `receive_count` is how often the queue has delivered the task: a failure on its
    /// last delivery fails the job; earlier ones are left to the queue's retries.
    pub async fn commit(&self, task: &CommitTask, receive_count: u32) -> Result<Job, HandlerError> {
        let span = tracing::info_span!(
            "committer",
            job = %task.job,
            partition = task.partition,
            delivery = receive_count
        );
        let final_attempt = receive_count >= crate::queues::MAX_RECEIVES;
        self.record_commit_attempt(task, Attempt::starting(receive_count))
            .instrument(span.clone())
            .await;
        let result = self
            .commit_in(task, final_attempt)
            .instrument(span.clone())
            .await;
        if let Err(err) = &result {
            span.in_scope(|| {
                if final_attempt {
                    tracing::error!(error = %err, "commit failed on its last delivery; the job failed");
                } else {
                    tracing::warn!(error = %err, "commit failed; the queue will deliver it again");
                }
            });
            let attempt = Attempt {
                error: Some(err.to_string()),
                ..Attempt::starting(receive_count)
            };
            self.record_commit_attempt(task, attempt)
                .instrument(span)
                .await;
        }
        result
    }

    /// Records a delivery of the commit task on its job (a finished job stays as it is).
    async fn record_commit_attempt(&self, task: &CommitTask, attempt: Attempt) {
        let recorded = self
            .pipeline
            .jobs
            .update(&task.repository, &task.job, |job| {
                let started = job
                    .commit_attempt
                    .as_ref()
                    .filter(|a| a.delivery == attempt.delivery && attempt.error.is_some())
                    .map(|a| a.started_at.clone());
                let mut attempt = attempt.clone();
                if let Some(started) = started {
                    attempt.started_at = started;
                }
                job.commit_attempt = Some(attempt);
            })
            .await;
        if let Err(err) = recorded {
            tracing::warn!(error = %err, "could not record this delivery of the commit task");
        }
    }

    async fn commit_in(&self, task: &CommitTask, final_attempt: bool) -> Result<Job, HandlerError> {
        let job = self.pipeline.commit(task, final_attempt).await?;
        match (&job.summary, &job.commit_id) {
            (Some(s), commit) => tracing::info!(
                state = %job.state,
                commit = commit.as_deref().unwrap_or_default(),
                added = s.added,
                changed = s.changed,
                deleted = s.deleted,
                unchanged = s.unchanged,
                total = s.total,
                "job finished"
            ),
            (None, _) => tracing::info!(state = %job.state, "job finished"),
        }
        if job.state == JobState::Committed {
            let source = ImportSources::new(&self.pipeline.catalog)
                .source_for_manifest(&job.manifest)
                .await?;
            if let Some(branch) = source.and_then(|s| s.merge_into) {
                let merged = self
                    .pipeline
                    .catalog
                    .merge(
                        &job.repository,
                        &job.scope.branch,
                        &branch,
                        ConflictStrategy::SourceWins,
                        "inventory-import",
                        None,
                    )
                    .await;
                let commit = match &merged {
                    Ok(
                        MergeOutcome::UpToDate { commit } | MergeOutcome::FastForward { commit },
                    ) => Some(commit.clone()),
                    Ok(MergeOutcome::Merged { commit, .. }) => Some(commit.id.clone()),
                    Err(_) => None,
                };
                let record = MergeRecord {
                    branch: branch.clone(),
                    commit: commit.clone(),
                    error: merged.as_ref().err().map(ToString::to_string),
                };
                // The job says how the merge went, whichever way it went; a failed merge
                // is tried again with the task.
                let job = self
                    .pipeline
                    .jobs
                    .record_merge(&job.repository, &job.id, record)
                    .await
                    .map_err(PipelineError::from)?;
                merged?;
                tracing::info!(%branch, commit = %commit.unwrap_or_default(), "merged {} into {branch}", job.scope.branch);
                return Ok(job);
            }
        }
        Ok(job)
    }

    /// One message from `function`'s queue, as its Lambda function handles it (the
    /// local runner too). Failures are logged here, inside the job's span.
    pub async fn handle_message(
        &self,
        function: Function,
        message: &Message,
    ) -> Result<(), HandlerError> {
        match function {
            Function::Trigger => {
                self.notification(&message.body).await?;
            }
            Function::Worker => {
                let task: ShardTask = decode_logged(message)?;
                self.shard(&task, message.receive_count).await?;
            }
            // A malformed task in a dead-letter queue concerns no job: logged, and done with.
            Function::Committer if message.queue == dead_letter(&self.names.shard_queue) => {
                if let Ok(task) = decode_logged::<ShardTask>(message) {
                    Box::pin(self.shard_given_up(&task)).await?;
                }
            }
            Function::Committer if message.queue == dead_letter(&self.names.commit_queue) => {
                if let Ok(task) = decode_logged::<CommitTask>(message) {
                    self.commit_given_up(&task).await?;
                }
            }
            Function::Committer => {
                let task: CommitTask = decode_logged(message)?;
                Box::pin(self.commit(&task, message.receive_count)).await?;
            }
        }
        Ok(())
    }

    /// Handles an SQS event's messages one after another as `function`. The response
    /// lists those that failed, so that SQS delivers only them again;
    /// [`handle_message`](Self::handle_message) logs their errors.
    pub async fn handle_sqs_event(&self, function: Function, event: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for message in sqs_messages(event) {
            // Boxed: the pipeline's future is deep enough to exceed the compiler's
            // layout recursion limit when nested inside the Lambda runtime's.
            if let Err(err) = Box::pin(self.handle_message(function, &message)).await {
                tracing::debug!(message = %message.id, error = %err, "message failed");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message.id;
                response.batch_item_failures.push(failure);
            }
        }
        response
    }
}

/// Logs what a task from a dead-letter queue did to its job.
fn log_given_up(given_up: &GivenUp, task: &str) {
    match given_up {
        GivenUp::Failed(job) => tracing::error!(
            error = job.error.as_deref().unwrap_or_default(),
            "the queue gave up {task}; the job failed"
        ),
        GivenUp::Finished(job) => tracing::info!(
            state = %job.state,
            "the queue gave up {task} of a job that had finished; it stays as it was"
        ),
        GivenUp::Staged(_) => tracing::info!("the queue gave up {task} that was done after all"),
    }
}

/// Decodes a task message, logging a malformed one (it concerns no job).
fn decode_logged<T: serde::de::DeserializeOwned>(message: &Message) -> Result<T, HandlerError> {
    decode_task(&message.body).inspect_err(|err| {
        tracing::error!(message = %message.id, error = %err, "malformed task");
    })
}

/// One SQS message: id, body, how often it has been received, and the name of the
/// queue it came from.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub body: String,
    pub receive_count: u32,
    pub queue: String,
}

/// The messages of an SQS event.
pub fn sqs_messages(event: SqsEvent) -> Vec<Message> {
    event
        .records
        .into_iter()
        .map(|m| Message {
            receive_count: m
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
            id: m.message_id.unwrap_or_default(),
            body: m.body.unwrap_or_default(),
            // arn:aws:sqs:<region>:<account>:<name>
            queue: m
                .event_source_arn
                .as_deref()
                .and_then(|arn| arn.rsplit(':').next())
                .unwrap_or_default()
                .to_string(),
        })
        .collect()
}

/// Decodes a task message; a malformed one is an error naming the message.
pub fn decode_task<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, HandlerError> {
    serde_json::from_str(body).map_err(|err| {
        HandlerError::Event(EventError::NotAnS3Event(format!(
            "malformed task {body:?}: {err}"
        )))
    })
}
