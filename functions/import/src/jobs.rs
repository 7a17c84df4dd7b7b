//! Import jobs and their shards, in DynamoDB.
//!
//! A job is one import of one manifest into one repository. Its id is derived from
//! both, so every notification about the same delivery maps to the same job. A job's
//! document is updated with optimistic locking (a `version` attribute); shard
//! completion is a transaction that marks the shard done and counts it on the job
//! exactly once, however often a worker is retried.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use inventory_base::dynamo::{self, DynamoError, is_condition_failed};
use inventory_base::location::S3Url;
use inventory_delivery::reader::SkipCounts;

use crate::staging::StagedRun;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Dynamo(#[from] DynamoError),
    #[error("job {0} does not exist")]
    NotFound(String),
    #[error("job record {key} is damaged: {reason}")]
    Damaged { key: String, reason: String },
    #[error("counting shard {shard} of job {job} was cancelled by DynamoDB (reasons: {reasons})")]
    Cancelled {
        job: String,
        shard: usize,
        reasons: String,
    },
}

/// Tries of the transaction that counts a shard before the error is left to the
/// queue's retries.
const COUNTING_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
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
    /// Stopped by `import cancel`: no branch moved, nothing stays staged.
    Cancelled,
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobState::Staging => "staging",
            JobState::Committing => "committing",
            JobState::Committed => "committed",
            JobState::NoChange => "no change",
            JobState::DryRunComplete => "dry run complete",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        })
    }
}

impl JobState {
    pub fn is_finished(self) -> bool {
        !matches!(self, JobState::Staging | JobState::Committing)
    }
}

/// What an import changed, as recorded in the commit's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSummary {
    pub added: u64,
    pub changed: u64,
    pub deleted: u64,
    pub unchanged: u64,
    /// Objects in the imported tree.
    pub total: u64,
    pub skipped: SkipCounts,
    /// Keys listed more than once (overlapping data files); the newest row was kept.
    pub duplicate_keys: u64,
}

impl ImportSummary {
    /// Adds what one part of the key space (a partition) counted.
    pub fn add_part(&mut self, part: &ImportSummary) {
        self.added += part.added;
        self.changed += part.changed;
        self.deleted += part.deleted;
        self.unchanged += part.unchanged;
        self.total += part.total;
        self.duplicate_keys += part.duplicate_keys;
    }
}

/// Seconds spent in each phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseTimes {
    pub planning: f64,
    pub staging: f64,
    pub committing: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub repository: String,
    pub manifest: S3Url,
    pub dry_run: bool,
    pub state: JobState,
    pub created_at: String,
    pub updated_at: String,
    pub source_bucket: String,
    pub inventory_created_at: String,
    pub files_total: usize,
    pub bytes_total: u64,
    /// Rows in the delivery's data files, as their footers tell (0 when a format does
    /// not tell before decoding).
    #[serde(default)]
    pub rows_total: u64,
    pub shards_total: usize,
    /// The cuts of the key space into partitions, committed at once (see
    /// [`crate::partitions::Partitions`]); none: one partition.
    #[serde(
        default,
        rename = "partition_cuts",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub partitions: Vec<String>,
    /// Partitions whose commit is done (their results are recorded).
    #[serde(default)]
    pub partitions_done: usize,
    /// The shard tasks were sent to the workers (a trigger that failed before that
    /// leaves it false, and the delivery's next notification sends them).
    #[serde(default)]
    pub tasks_sent: bool,
    #[serde(default)]
    pub shards_done: usize,
    #[serde(default)]
    pub files_done: usize,
    #[serde(default)]
    pub rows: u64,
    #[serde(default)]
    pub entries_staged: u64,
    #[serde(default)]
    pub times: PhaseTimes,
    pub summary: Option<ImportSummary>,
    pub commit_id: Option<String>,
    pub error: Option<String>,
    /// The automatic merge of the committed import into its source's branch, when
    /// one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeRecord>,
    /// The latest delivery of the job's commit task to a committer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_attempt: Option<Attempt>,
    /// Which keys of the bucket, under which path, on which branch (the source's,
    /// when the job started): `prefix`, `path` and `branch` beside the other fields.
    #[serde(flatten)]
    pub scope: crate::scope::ImportScope,
    /// Who cancelled the job (`import cancel`), when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
    /// A committer is moving the import branch to the job's commit: too late to
    /// cancel. Set with the job's version condition, so that a cancel and the move
    /// never both happen.
    #[serde(default)]
    pub moving_branch: bool,
}

/// One delivery of a task to a function: which delivery it was, when it started, and
/// the error it ended with, if it failed (a function that timed out, ran out of memory
/// or was killed records none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1 for the first delivery of the task.
    pub delivery: u32,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Attempt {
    /// A delivery starting now.
    pub fn starting(delivery: u32) -> Self {
        Self {
            delivery,
            started_at: Utc::now().to_rfc3339(),
            error: None,
        }
    }
}

/// How the automatic merge of an import into a branch went: the merge's commit, or the
/// error of its last try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeRecord {
    pub branch: String,
    pub commit: Option<String>,
    pub error: Option<String>,
}

/// One worker's share of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    /// Data file keys in the manifest's destination bucket.
    pub files: Vec<String>,
    pub bytes: u64,
    pub done: bool,
    pub rows: u64,
    pub entries: u64,
    /// Staged batches of each sorted run.
    #[serde(default)]
    pub runs: Vec<usize>,
    /// The partition of each run in `runs` (none when the job has one partition).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub run_partitions: Vec<usize>,
    /// The attempt whose runs are the shard's (see [`StagedRun::attempt`]).
    #[serde(default)]
    pub attempt: u64,
    pub staged_bytes: u64,
    pub skipped: SkipCounts,
    pub duplicate_keys: u64,
    /// The latest delivery of the shard's task to a worker (kept beside the shard's
    /// document, so that a worker finishing the shard does not overwrite it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<Attempt>,
}

impl Shard {
    /// The sorted runs this shard staged.
    pub fn staged_runs(&self) -> impl Iterator<Item = StagedRun> + '_ {
        runs_of(self.index, self.attempt, &self.runs)
    }
}

/// The runs of shard `shard` staged by `attempt`, given each run's batch count.
pub fn runs_of(
    shard: usize,
    attempt: u64,
    batches: &[usize],
) -> impl Iterator<Item = StagedRun> + '_ {
    batches
        .iter()
        .enumerate()
        .map(move |(run, &batches)| StagedRun {
            shard,
            attempt,
            run,
            batches,
        })
}

/// Every sorted run the shards staged.
pub fn staged_runs(shards: &[Shard]) -> Vec<StagedRun> {
    shards.iter().flat_map(Shard::staged_runs).collect()
}

/// The sorted runs the shards staged for partition `partition`.
pub fn partition_runs(shards: &[Shard], partition: usize) -> Vec<StagedRun> {
    shards
        .iter()
        .flat_map(|shard| {
            shard.staged_runs().filter(move |run| {
                shard.run_partitions.get(run.run).copied().unwrap_or(0) == partition
            })
        })
        .collect()
}

/// What the shards tell of an import before its commit: the rows they skipped, by
/// reason, and the keys each listed twice; the commit adds its own counts to it.
pub fn staged_summary(shards: &[Shard]) -> ImportSummary {
    let mut summary = ImportSummary::default();
    for shard in shards {
        summary.skipped.add(&shard.skipped);
        summary.duplicate_keys += shard.duplicate_keys;
    }
    summary
}

/// What one partition's commit made: its part of the new tree, diffed against `base`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionResult {
    pub index: usize,
    /// The import branch's commit the partition was diffed against.
    pub base: String,
    /// The partition's ranges, stored as a metarange of their own (none for a dry run).
    pub metarange: Option<String>,
    /// Its counts: added, changed, deleted, unchanged, total, and keys staged twice.
    pub summary: ImportSummary,
    /// Ranges of the base tree read, and ranges written.
    pub ranges_read: u64,
    pub ranges_written: u64,
}

/// The id of the job importing `manifest` into `repository`; `run` tells apart forced
/// re-runs of the same manifest.
pub fn job_id(repository: &str, manifest: &S3Url, run: Option<&str>) -> String {
    let mut hasher = Sha256::new();
    for part in [repository, &manifest.to_string(), run.unwrap_or("")] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(&hasher.finalize()[..10])
}

#[derive(Debug, Clone)]
pub struct JobTable {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn job_key(repository: &str) -> String {
    format!("job#{repository}")
}

fn shard_key(job: &str) -> String {
    format!("shard#{job}")
}

fn partition_key(job: &str) -> String {
    format!("partition#{job}")
}

impl JobTable {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub async fn ensure_table(&self) -> Result<(), DynamoError> {
        inventory_base::dynamo::ensure_table(&self.client, &self.table, None).await
    }

    fn error(&self, err: impl std::error::Error) -> DynamoError {
        DynamoError::new(&self.table, err)
    }

    /// Records a new job; returns `false` when it already exists. The shards are
    /// written first and the job last, so that a job never exists without all its
    /// shards: a trigger stopped in between leaves shards that its retry finds (a
    /// shard already written is left as it is: a worker may have finished it).
    pub async fn create(&self, job: &Job, shards: &[Shard]) -> Result<bool, JobError> {
        for shard in shards {
            self.put_shard(&job.id, shard).await?;
        }
        let doc = serde_json::to_string(job).map_err(|e| self.damaged(&job.id, e))?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(job_key(&job.repository)))
            .item("sk", AttributeValue::S(job.id.clone()))
            .item("doc", AttributeValue::S(doc))
            .item("version", AttributeValue::N("0".into()))
            .item("shards_done", AttributeValue::N("0".into()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failed(&err) => Ok(false),
            Err(err) => Err(self.error(err).into()),
        }
    }

    /// Writes a shard unless it exists.
    async fn put_shard(&self, job: &str, shard: &Shard) -> Result<(), JobError> {
        let doc = serde_json::to_string(shard).map_err(|e| self.damaged(job, e))?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(shard_key(job)))
            .item("sk", AttributeValue::S(format!("{:05}", shard.index)))
            .item("doc", AttributeValue::S(doc))
            .item("done", AttributeValue::Bool(shard.done))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failed(&err) => Ok(()),
            Err(err) => Err(self.error(err).into()),
        }
    }

    fn damaged(&self, key: &str, err: impl std::fmt::Display) -> JobError {
        JobError::Damaged {
            key: key.to_string(),
            reason: err.to_string(),
        }
    }

    async fn load(&self, repository: &str, id: &str) -> Result<(Job, String), JobError> {
        if !inventory_base::dynamo::is_storable_key(id, inventory_base::dynamo::SORT_KEY_BYTES) {
            return Err(JobError::NotFound(id.to_string()));
        }
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(job_key(repository)))
            .key("sk", AttributeValue::S(id.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error(e))?;
        let item = output
            .item
            .ok_or_else(|| JobError::NotFound(id.to_string()))?;
        let Some(AttributeValue::N(version)) = item.get("version") else {
            return Err(self.damaged(id, "version missing"));
        };
        Ok((self.job_of(id, &item)?, version.clone()))
    }

    /// The job a job item holds: its document, with the shards and partitions counted
    /// done beside it.
    fn job_of(&self, id: &str, item: &HashMap<String, AttributeValue>) -> Result<Job, JobError> {
        let Some(AttributeValue::S(doc)) = item.get("doc") else {
            return Err(self.damaged(id, "doc missing"));
        };
        let mut job: Job = serde_json::from_str(doc).map_err(|e| self.damaged(id, e))?;
        if let Some(AttributeValue::N(done)) = item.get("shards_done") {
            job.shards_done = done.parse().unwrap_or(job.shards_done);
        }
        if let Some(AttributeValue::Ns(done)) = item.get("partitions_done") {
            job.partitions_done = done.len();
        }
        Ok(job)
    }

    pub async fn get(&self, repository: &str, id: &str) -> Result<Job, JobError> {
        Ok(self.load(repository, id).await?.0)
    }

    /// Applies `change` to the job, retrying when someone else updated it meanwhile.
    /// A finished job never changes again: a late duplicate (a second committer, a
    /// redelivered task) gets it as it ended, unchanged.
    pub async fn update(
        &self,
        repository: &str,
        id: &str,
        change: impl FnMut(&mut Job),
    ) -> Result<Job, JobError> {
        self.write(repository, id, false, change).await
    }

    /// Records how the automatic merge of a committed job went; its state stays.
    pub async fn record_merge(
        &self,
        repository: &str,
        id: &str,
        merge: MergeRecord,
    ) -> Result<Job, JobError> {
        self.write(repository, id, true, |job| job.merge = Some(merge.clone()))
            .await
    }

    async fn write(
        &self,
        repository: &str,
        id: &str,
        finished_too: bool,
        mut change: impl FnMut(&mut Job),
    ) -> Result<Job, JobError> {
        loop {
            let (mut job, version) = self.load(repository, id).await?;
            if job.state.is_finished() && !finished_too {
                return Ok(job);
            }
            change(&mut job);
            job.updated_at = Utc::now().to_rfc3339();
            let doc = serde_json::to_string(&job).map_err(|e| self.damaged(id, e))?;
            let next: u64 = version.parse::<u64>().unwrap_or(0) + 1;
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(job_key(repository)))
                .key("sk", AttributeValue::S(id.into()))
                .update_expression("SET doc = :doc, version = :next")
                .condition_expression("version = :version")
                .expression_attribute_values(":doc", AttributeValue::S(doc))
                .expression_attribute_values(":next", AttributeValue::N(next.to_string()))
                .expression_attribute_values(":version", AttributeValue::N(version))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(job),
                Err(err) if is_condition_failed(&err) => continue,
                Err(err) => return Err(self.error(err).into()),
            }
        }
    }

    /// Jobs of a repository, newest first.
    pub async fn list(&self, repository: &str) -> Result<Vec<Job>, JobError> {
        let items =
            dynamo::query_all(&self.client, &self.table, &job_key(repository), None).await?;
        // An item without a document holds only a count (of a job never recorded):
        // nothing to list.
        let mut jobs = items
            .iter()
            .filter(|item| item.contains_key("doc"))
            .map(|item| {
                let id = match item.get("sk") {
                    Some(AttributeValue::S(id)) => id.as_str(),
                    _ => repository,
                };
                self.job_of(id, item)
            })
            .collect::<Result<Vec<_>, _>>()?;
        jobs.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        Ok(jobs)
    }

    pub async fn shards(&self, job: &str) -> Result<Vec<Shard>, JobError> {
        dynamo::query_all(&self.client, &self.table, &shard_key(job), None)
            .await?
            .iter()
            .map(|item| {
                let mut shard: Shard = match item.get("doc") {
                    Some(AttributeValue::S(doc)) => {
                        serde_json::from_str(doc).map_err(|e| self.damaged(job, e))?
                    }
                    _ => return Err(self.damaged(job, "shard without doc")),
                };
                if let Some(AttributeValue::S(attempt)) = item.get("attempt") {
                    shard.last_attempt =
                        Some(serde_json::from_str(attempt).map_err(|e| self.damaged(job, e))?);
                }
                Ok(shard)
            })
            .collect()
    }

    /// Records the delivery of a shard's task that starts now, unless the shard is done.
    pub async fn start_shard_attempt(
        &self,
        job: &str,
        shard: usize,
        delivery: u32,
    ) -> Result<(), JobError> {
        let attempt = Attempt::starting(delivery);
        self.set_shard_attempt(job, shard, &attempt).await
    }

    /// Records the error the shard's latest delivery ended with, unless the shard is done.
    pub async fn record_shard_error(
        &self,
        job: &str,
        shard: usize,
        delivery: u32,
        error: &str,
    ) -> Result<(), JobError> {
        let recorded = self.shards(job).await?;
        let started = recorded
            .into_iter()
            .find(|s| s.index == shard)
            .and_then(|s| s.last_attempt)
            .filter(|a| a.delivery == delivery)
            .map_or_else(|| Utc::now().to_rfc3339(), |a| a.started_at);
        let attempt = Attempt {
            delivery,
            started_at: started,
            error: Some(error.to_string()),
        };
        self.set_shard_attempt(job, shard, &attempt).await
    }

    async fn set_shard_attempt(
        &self,
        job: &str,
        shard: usize,
        attempt: &Attempt,
    ) -> Result<(), JobError> {
        let doc = serde_json::to_string(attempt).map_err(|e| self.damaged(job, e))?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(shard_key(job)))
            .key("sk", AttributeValue::S(format!("{shard:05}")))
            .update_expression("SET attempt = :attempt")
            .condition_expression("done = :false")
            .expression_attribute_values(":attempt", AttributeValue::S(doc))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Done already (or no such shard: the task names one the job never had).
            Err(err) if is_condition_failed(&err) => Ok(()),
            Err(err) => Err(self.error(err).into()),
        }
    }

    /// Marks a shard done with its results and counts it on the job, atomically and
    /// once. Returns the job as it is afterwards, and whether this call counted the
    /// shard (`false`: it was done already, by this attempt or another).
    pub async fn complete_shard(
        &self,
        repository: &str,
        job: &str,
        shard: &Shard,
    ) -> Result<(Job, bool), JobError> {
        let mut counted = true;
        let doc = serde_json::to_string(shard).map_err(|e| self.damaged(job, e))?;
        let mark = Update::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(shard_key(job)))
            .key("sk", AttributeValue::S(format!("{:05}", shard.index)))
            .update_expression("SET doc = :doc, done = :true")
            .condition_expression("done = :false")
            .expression_attribute_values(":doc", AttributeValue::S(doc))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .build()
            .map_err(|e| self.error(e))?;
        let count = Update::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(job_key(repository)))
            .key("sk", AttributeValue::S(job.into()))
            .update_expression("ADD shards_done :one")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .build()
            .map_err(|e| self.error(e))?;
        for attempt in 1..=COUNTING_ATTEMPTS {
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(mark.clone()).build())
                .transact_items(TransactWriteItem::builder().update(count.clone()).build())
                .send()
                .await;
            let Err(err) = result else { break };
            let reasons: Vec<&str> = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
                    .cancellation_reasons()
                    .iter()
                    .map(|reason| reason.code().unwrap_or("None"))
                    .collect(),
                _ => return Err(self.error(err).into()),
            };
            // The shard's condition failed: it was done already (a retried worker).
            if reasons.first() == Some(&"ConditionalCheckFailed") {
                counted = false;
                break;
            }
            // Another transaction on the job item (a shard finishing at the same
            // moment), or a throttle: try again; the queue retries after the last try.
            let passing = reasons.iter().all(|code| {
                matches!(
                    *code,
                    "None"
                        | "TransactionConflict"
                        | "ThrottlingError"
                        | "ProvisionedThroughputExceeded"
                )
            });
            if !passing || attempt == COUNTING_ATTEMPTS {
                return Err(JobError::Cancelled {
                    job: job.to_string(),
                    shard: shard.index,
                    reasons: reasons.join(", "),
                });
            }
            tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
        }
        Ok((self.get(repository, job).await?, counted))
    }

    /// Records a partition's result (again, for a redelivered task or a redone
    /// partition) and counts it done; returns the job and the partitions done.
    pub async fn complete_partition(
        &self,
        repository: &str,
        job: &str,
        result: &PartitionResult,
    ) -> Result<(Job, usize), JobError> {
        let doc = serde_json::to_string(result).map_err(|e| self.damaged(job, e))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(partition_key(job)))
            .item("sk", AttributeValue::S(format!("{:05}", result.index)))
            .item("doc", AttributeValue::S(doc))
            .send()
            .await
            .map_err(|e| self.error(e))?;
        // A set of partition numbers: counting one twice changes nothing.
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(job_key(repository)))
            .key("sk", AttributeValue::S(job.into()))
            .update_expression("ADD partitions_done :p")
            .expression_attribute_values(":p", AttributeValue::Ns(vec![result.index.to_string()]))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| self.error(e))?;
        let done = match output.attributes().and_then(|a| a.get("partitions_done")) {
            Some(AttributeValue::Ns(done)) => done.len(),
            _ => 0,
        };
        Ok((self.get(repository, job).await?, done))
    }

    /// The recorded results of a job's partitions, in partition order.
    pub async fn partition_results(&self, job: &str) -> Result<Vec<PartitionResult>, JobError> {
        let mut results = dynamo::query_all(&self.client, &self.table, &partition_key(job), None)
            .await?
            .iter()
            .map(|item| match item.get("doc") {
                Some(AttributeValue::S(doc)) => {
                    serde_json::from_str(doc).map_err(|e| self.damaged(job, e))
                }
                _ => Err(self.damaged(job, "partition without doc")),
            })
            .collect::<Result<Vec<PartitionResult>, _>>()?;
        results.sort_by_key(|r| r.index);
        Ok(results)
    }
}
