//! What each function does with its event: the trigger starts jobs from delivery
//! notifications and direct invocations, a worker stages a shard, the committer
//! commits a job. Lambda entry points and the local runner both call these.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde::{Deserialize, Serialize};

use crate::catalog::CatalogError;
use crate::diff::ConflictStrategy;
use crate::events::{DeliveryEvent, EventError, parse_notification};
use crate::jobs::{Job, JobState, JobTable};
use crate::location::S3Url;
use crate::pipeline::{
    CommitTask, IMPORT_BRANCH, ImportRequest, Pipeline, PipelineError, ShardTask, Started,
};
use crate::queues::{QueueError, Queues};
use crate::resources::ResourceNames;
use crate::staging::StagingTable;
use crate::storage::{ObjectStore, StorageError};

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
    Ignored {
        reason: String,
    },
}

/// The pipeline and the queues between the functions.
#[derive(Debug, Clone)]
pub struct Handlers {
    pub pipeline: Pipeline,
    pub queues: Queues,
    pub names: ResourceNames,
    pub shard_queue_url: String,
    pub commit_queue_url: String,
}

impl Handlers {
    /// Everything configured from the environment (see [`ResourceNames::from_env`]).
    pub async fn from_env() -> Result<Self, HandlerError> {
        let config = crate::aws::load_config().await;
        let names = ResourceNames::from_env();
        let dynamo = aws_sdk_dynamodb::Client::new(&config);
        let store = ObjectStore::S3(crate::aws::s3_client(&config));
        let catalog = crate::catalog::Catalog::new(dynamo.clone(), &names.catalog_table, store);
        let pipeline = Pipeline::new(
            catalog,
            JobTable::new(dynamo.clone(), &names.jobs_table),
            StagingTable::new(dynamo, &names.staging_table),
        );
        let queues = Queues::new(aws_sdk_sqs::Client::new(&config));
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
        })
    }

    /// Starts an import and sends its shard tasks to the workers.
    pub async fn start(&self, request: &ImportRequest) -> Result<Started, HandlerError> {
        let started = self.pipeline.start(request).await?;
        if let Started::Started { tasks, .. } = &started {
            self.queues.send_all(&self.shard_queue_url, tasks).await?;
        }
        Ok(started)
    }

    /// A direct invocation of the trigger. A dry run runs every step in this process
    /// and answers with its counts; an import is started and left to the workers.
    pub async fn direct(&self, invocation: &DirectInvocation) -> Result<Started, HandlerError> {
        let repository = match &invocation.repository {
            Some(repository) => repository.clone(),
            None => self
                .pipeline
                .catalog
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
        if request.dry_run {
            Ok(self.pipeline.run_in_process(&request).await?)
        } else {
            self.start(&request).await
        }
    }

    /// An S3 notification (the body of a manifest-events message).
    pub async fn notification(&self, body: &str) -> Result<Vec<NotificationOutcome>, HandlerError> {
        let mut outcomes = Vec::new();
        for event in parse_notification(body)? {
            let (manifest, complete) = match event {
                DeliveryEvent::Complete { manifest } => (manifest, true),
                DeliveryEvent::ManifestWritten { manifest } => (manifest, false),
                DeliveryEvent::Ignored { reason } => {
                    tracing::info!(%reason, "notification ignored");
                    outcomes.push(NotificationOutcome::Ignored { reason });
                    continue;
                }
            };
            let Some(source) = self.pipeline.catalog.source_for_manifest(&manifest).await? else {
                let reason = format!("no import source is recorded for {manifest}");
                tracing::info!(%reason, "notification ignored");
                outcomes.push(NotificationOutcome::Ignored { reason });
                continue;
            };
            if !complete {
                let checksum = manifest.sibling("manifest.checksum");
                match self.pipeline.store.size(&checksum).await {
                    Ok(_) => {}
                    Err(StorageError::NotFound { .. }) => {
                        outcomes.push(NotificationOutcome::WaitingForChecksum { manifest });
                        continue;
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            let request = ImportRequest {
                repository: source.repository,
                manifest: manifest.clone(),
                dry_run: false,
                force: false,
            };
            outcomes.push(match self.start(&request).await? {
                Started::Started { job, tasks } => NotificationOutcome::Started {
                    job: job.id,
                    shards: tasks.len(),
                },
                Started::Existing { job } => NotificationOutcome::Existing { job: job.id },
                Started::AlreadyImported { manifest, commit } => {
                    NotificationOutcome::AlreadyImported { manifest, commit }
                }
            });
        }
        Ok(outcomes)
    }

    /// A worker's shard task, received `receive_count` times; the last shard sends the
    /// commit task. The last delivery the queue allows fails the job on error.
    pub async fn shard(&self, task: &ShardTask, receive_count: u32) -> Result<(), HandlerError> {
        let final_attempt = receive_count >= crate::queues::MAX_RECEIVES;
        if let Some(commit) = self.pipeline.run_shard(task, final_attempt).await? {
            self.queues
                .send_all(&self.commit_queue_url, &[commit])
                .await?;
        }
        Ok(())
    }

    /// The committer's task; then merges into the source's branch when configured.
    pub async fn commit(&self, task: &CommitTask) -> Result<Job, HandlerError> {
        let job = self.pipeline.commit(task).await?;
        if job.state == JobState::Committed {
            let source = self
                .pipeline
                .catalog
                .source_for_manifest(&job.manifest)
                .await?;
            if let Some(branch) = source.and_then(|s| s.merge_into) {
                self.pipeline
                    .catalog
                    .merge(
                        &job.repository,
                        IMPORT_BRANCH,
                        &branch,
                        ConflictStrategy::SourceWins,
                        "inventory-import",
                        None,
                    )
                    .await?;
            }
        }
        Ok(job)
    }
}

/// One SQS message: id, body and how often it has been received.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub body: String,
    pub receive_count: u32,
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
        })
        .collect()
}

/// The partial batch response that makes SQS retry only the failed messages.
pub fn sqs_batch_response(failed: Vec<String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

/// Runs `handle` on each message, returning the ids of those that failed (logged),
/// so that only they are retried.
pub async fn process_messages<F, Fut, T>(messages: Vec<Message>, mut handle: F) -> Vec<String>
where
    F: FnMut(Message) -> Fut,
    Fut: std::future::Future<Output = Result<T, HandlerError>>,
{
    let mut failed = Vec::new();
    for message in messages {
        let id = message.id.clone();
        if let Err(err) = handle(message).await {
            tracing::error!(message = %id, error = %err, "message failed");
            failed.push(id);
        }
    }
    failed
}

/// Decodes a task message; a malformed one is an error naming the message.
pub fn decode_task<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, HandlerError> {
    serde_json::from_str(body).map_err(|err| {
        HandlerError::Event(EventError::NotAnS3Event(format!(
            "malformed task {body:?}: {err}"
        )))
    })
}
