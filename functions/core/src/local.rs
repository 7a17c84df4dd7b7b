//! Runs the three functions in one process, fed from their SQS queues the way
//! Lambda's SQS event sources feed them: batches of up to ten messages, a message
//! deleted only when handled, a failed one retried after a pause and moved to its
//! dead-letter queue by SQS after the configured number of receives.

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use serde::Serialize;

use crate::handlers::{HandlerError, Handlers, decode_task};
use crate::pipeline::{CommitTask, ShardTask};
use crate::queues::QueueError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Trigger,
    Worker,
    Committer,
}

/// Counts of what the runner handled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunnerStats {
    pub notifications: u64,
    pub shard_tasks: u64,
    pub commit_tasks: u64,
    pub failures: u64,
}

#[derive(Debug, Clone)]
pub struct LocalRunner {
    handlers: Handlers,
    manifest_queue_url: String,
    /// How long a received message stays invisible to other receivers.
    pub visibility_timeout: Duration,
    /// How long a failed message waits before it is received again.
    pub retry_delay: Duration,
}

impl LocalRunner {
    pub async fn new(handlers: Handlers) -> Result<Self, QueueError> {
        let manifest_queue_url = handlers.queues.url(&handlers.names.manifest_queue).await?;
        Ok(Self {
            handlers,
            manifest_queue_url,
            visibility_timeout: Duration::from_secs(300),
            retry_delay: Duration::from_secs(1),
        })
    }

    fn queues(&self) -> [(Function, String); 3] {
        [
            (Function::Trigger, self.manifest_queue_url.clone()),
            (Function::Worker, self.handlers.shard_queue_url.clone()),
            (Function::Committer, self.handlers.commit_queue_url.clone()),
        ]
    }

    /// Polls the queues; with `until_idle`, returns once every queue is empty and
    /// no message is in flight.
    pub async fn run(&self, until_idle: bool) -> Result<RunnerStats, QueueError> {
        let mut stats = RunnerStats::default();
        loop {
            let mut handled = 0;
            for (function, url) in self.queues() {
                handled += self.poll(function, &url, &mut stats).await?;
            }
            if handled == 0 {
                if until_idle && self.idle().await? {
                    return Ok(stats);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    async fn poll(
        &self,
        function: Function,
        url: &str,
        stats: &mut RunnerStats,
    ) -> Result<usize, QueueError> {
        let client = &self.handlers.queues.client;
        let output = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .visibility_timeout(self.visibility_timeout.as_secs() as i32)
            .send()
            .await
            .map_err(|e| QueueError {
                queue: url.to_string(),
                message: aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
            })?;
        let messages = output.messages.unwrap_or_default();
        for message in &messages {
            let body = message.body().unwrap_or_default();
            let receive_count = message
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                })
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            let result = Box::pin(self.handle(function, body, receive_count)).await;
            let receipt = message.receipt_handle().unwrap_or_default();
            match result {
                Ok(()) => {
                    match function {
                        Function::Trigger => stats.notifications += 1,
                        Function::Worker => stats.shard_tasks += 1,
                        Function::Committer => stats.commit_tasks += 1,
                    }
                    let _ = client
                        .delete_message()
                        .queue_url(url)
                        .receipt_handle(receipt)
                        .send()
                        .await;
                }
                Err(err) => {
                    stats.failures += 1;
                    tracing::error!(?function, error = %err, "message failed; it will be retried");
                    let _ = client
                        .change_message_visibility()
                        .queue_url(url)
                        .receipt_handle(receipt)
                        .visibility_timeout(self.retry_delay.as_secs() as i32)
                        .send()
                        .await;
                }
            }
        }
        Ok(messages.len())
    }

    async fn handle(
        &self,
        function: Function,
        body: &str,
        receive_count: u32,
    ) -> Result<(), HandlerError> {
        match function {
            Function::Trigger => {
                for outcome in self.handlers.notification(body).await? {
                    tracing::info!(outcome = %serde_json::json!(outcome), "notification");
                }
            }
            Function::Worker => {
                let task: ShardTask = decode_task(body)?;
                self.handlers.shard(&task, receive_count).await?;
            }
            Function::Committer => {
                let task: CommitTask = decode_task(body)?;
                let job = self.handlers.commit(&task).await?;
                tracing::info!(job = %job.id, state = ?job.state, "job finished");
            }
        }
        Ok(())
    }

    /// No message waiting or in flight on any queue.
    async fn idle(&self) -> Result<bool, QueueError> {
        for (_, url) in self.queues() {
            let output = self
                .handlers
                .queues
                .client
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .send()
                .await
                .map_err(|e| QueueError {
                    queue: url.clone(),
                    message: aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
                })?;
            let attributes = output.attributes.unwrap_or_default();
            let count = |name| {
                attributes
                    .get(&name)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            if count(QueueAttributeName::ApproximateNumberOfMessages)
                + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                > 0
            {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
