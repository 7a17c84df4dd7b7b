//! The SQS queues between the functions: manifest events, shard tasks, commit tasks.

use std::collections::HashMap;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use serde::Serialize;

/// Receives before a message goes to its dead-letter queue.
pub const MAX_RECEIVES: u32 = 3;

#[derive(Debug, thiserror::Error)]
#[error("SQS queue {queue}: {message}")]
pub struct QueueError {
    pub queue: String,
    pub message: String,
}

impl QueueError {
    fn new(queue: &str, err: impl std::error::Error) -> Self {
        Self {
            queue: queue.to_string(),
            message: DisplayErrorContext(err).to_string(),
        }
    }
}

/// The name of a queue's dead-letter queue.
pub fn dead_letter(queue: &str) -> String {
    format!("{queue}-dlq")
}

/// A queue, by name and URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Queue {
    pub name: String,
    pub url: String,
    pub arn: String,
}

#[derive(Debug, Clone)]
pub struct Queues {
    pub client: aws_sdk_sqs::Client,
}

impl Queues {
    pub fn new(client: aws_sdk_sqs::Client) -> Self {
        Self { client }
    }

    /// Creates `name` and its dead-letter queue (idempotent), with a visibility
    /// timeout of `visibility_seconds`.
    pub async fn ensure(&self, name: &str, visibility_seconds: u32) -> Result<Queue, QueueError> {
        let dlq = self.create(&dead_letter(name), HashMap::new()).await?;
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dlq.arn,
            "maxReceiveCount": MAX_RECEIVES.to_string(),
        })
        .to_string();
        let attributes = HashMap::from([
            (
                QueueAttributeName::VisibilityTimeout,
                visibility_seconds.to_string(),
            ),
            (QueueAttributeName::RedrivePolicy, redrive),
        ]);
        self.create(name, attributes).await
    }

    async fn create(
        &self,
        name: &str,
        attributes: HashMap<QueueAttributeName, String>,
    ) -> Result<Queue, QueueError> {
        let created = self
            .client
            .create_queue()
            .queue_name(name)
            .set_attributes(Some(attributes.clone()))
            .send()
            .await;
        let url = match created {
            Ok(output) => output.queue_url.unwrap_or_default(),
            Err(_) => {
                // The queue exists, perhaps with other attributes: look it up and update.
                let url = self.url(name).await?;
                if !attributes.is_empty() {
                    self.client
                        .set_queue_attributes()
                        .queue_url(&url)
                        .set_attributes(Some(attributes))
                        .send()
                        .await
                        .map_err(|e| QueueError::new(name, e))?;
                }
                url
            }
        };
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| QueueError::new(name, e))?;
        let arn = output
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .unwrap_or_default();
        Ok(Queue {
            name: name.to_string(),
            url,
            arn,
        })
    }

    pub async fn url(&self, name: &str) -> Result<String, QueueError> {
        let output = self
            .client
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| QueueError::new(name, e))?;
        Ok(output.queue_url.unwrap_or_default())
    }

    /// Messages in the queue: waiting, plus received and not yet deleted (in flight).
    pub async fn depth(&self, queue_url: &str) -> Result<u64, QueueError> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| QueueError::new(queue_url, e))?;
        let attributes = output.attributes.unwrap_or_default();
        let count = |name| {
            attributes
                .get(&name)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(count(QueueAttributeName::ApproximateNumberOfMessages)
            + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
    }

    /// How long a received message of the queue stays invisible to other receivers.
    pub async fn visibility_timeout(
        &self,
        queue_url: &str,
    ) -> Result<std::time::Duration, QueueError> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::VisibilityTimeout)
            .send()
            .await
            .map_err(|e| QueueError::new(queue_url, e))?;
        let seconds = output
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::VisibilityTimeout).cloned())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| QueueError {
                queue: queue_url.to_string(),
                message: "the queue has no visibility timeout".into(),
            })?;
        Ok(std::time::Duration::from_secs(seconds))
    }

    /// Sends messages as JSON, ten per request.
    pub async fn send_all<T: Serialize>(
        &self,
        queue_url: &str,
        messages: &[T],
    ) -> Result<(), QueueError> {
        for (chunk_index, chunk) in messages.chunks(10).enumerate() {
            let mut batch = self.client.send_message_batch().queue_url(queue_url);
            for (i, message) in chunk.iter().enumerate() {
                let body =
                    serde_json::to_string(message).map_err(|e| QueueError::new(queue_url, e))?;
                let entry = SendMessageBatchRequestEntry::builder()
                    .id(format!("m{}", chunk_index * 10 + i))
                    .message_body(body)
                    .build()
                    .map_err(|e| QueueError::new(queue_url, e))?;
                batch = batch.entries(entry);
            }
            let output = batch
                .send()
                .await
                .map_err(|e| QueueError::new(queue_url, e))?;
            if let Some(failed) = output.failed.first() {
                return Err(QueueError {
                    queue: queue_url.to_string(),
                    message: format!(
                        "message {} was not sent: {}",
                        failed.id,
                        failed.message.clone().unwrap_or_default()
                    ),
                });
            }
        }
        Ok(())
    }
}
