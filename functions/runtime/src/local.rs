//! Runs the three functions in one process, fed from their SQS queues the way
//! Lambda's SQS event sources feed them: batches of up to ten messages, a message
//! deleted only when handled, a failed one retried after a pause and moved to its
//! dead-letter queue by SQS after the configured number of receives. The committer
//! also reads the shard and commit tasks' dead-letter queues, and fails the jobs of
//! the tasks it finds there.

use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde::Serialize;

use crate::handlers::{Function, Handlers, Message};
use crate::queues::{QueueError, dead_letter};

/// Counts of what the runner handled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunnerStats {
    pub notifications: u64,
    pub shard_tasks: u64,
    pub commit_tasks: u64,
    /// Tasks found in a dead-letter queue (their jobs failed, unless they finished).
    pub given_up: u64,
    pub failures: u64,
}

impl RunnerStats {
    fn add(&mut self, other: &RunnerStats) {
        self.notifications += other.notifications;
        self.shard_tasks += other.shard_tasks;
        self.commit_tasks += other.commit_tasks;
        self.given_up += other.given_up;
        self.failures += other.failures;
    }

    fn handled(&self) -> u64 {
        self.notifications + self.shard_tasks + self.commit_tasks + self.given_up + self.failures
    }
}

#[derive(Debug, Clone)]
pub struct LocalRunner {
    handlers: Handlers,
    manifest_queue_url: String,
    shard_dead_letters_url: String,
    commit_dead_letters_url: String,
    /// Messages one receive takes, 1 to 10 (Lambda's batch size). An emulator hands
    /// one receiver every visible message up to this many: runners that should share
    /// a queue's messages each take one at a time.
    pub batch_size: u32,
    /// How long a received message stays invisible to other receivers.
    pub visibility_timeout: Duration,
    /// How long a failed message waits before it is received again (whole seconds).
    pub retry_delay: Duration,
    /// The functions this runner plays; the others' queues are left to other
    /// processes (so that each can be measured, or scaled, on its own).
    pub functions: Vec<Function>,
}

impl LocalRunner {
    pub async fn new(handlers: Handlers) -> Result<Self, QueueError> {
        let queues = &handlers.queues;
        let manifest_queue_url = queues.url(&handlers.names.manifest_queue).await?;
        let shard_dead_letters_url = queues
            .url(&dead_letter(&handlers.names.shard_queue))
            .await?;
        let commit_dead_letters_url = queues
            .url(&dead_letter(&handlers.names.commit_queue))
            .await?;
        Ok(Self {
            handlers,
            manifest_queue_url,
            shard_dead_letters_url,
            commit_dead_letters_url,
            batch_size: 10,
            visibility_timeout: Duration::from_secs(300),
            retry_delay: Duration::from_secs(1),
            functions: vec![Function::Trigger, Function::Worker, Function::Committer],
        })
    }

    pub fn handlers(&self) -> &Handlers {
        &self.handlers
    }

    /// The queues this runner reads, in the order of a pass: each with the function
    /// that handles its messages, its URL and its name.
    fn queues(&self) -> Vec<(Function, String, String)> {
        let names = &self.handlers.names;
        [
            (
                Function::Trigger,
                self.manifest_queue_url.clone(),
                names.manifest_queue.clone(),
            ),
            (
                Function::Worker,
                self.handlers.shard_queue_url.clone(),
                names.shard_queue.clone(),
            ),
            (
                Function::Committer,
                self.handlers.commit_queue_url.clone(),
                names.commit_queue.clone(),
            ),
            (
                Function::Committer,
                self.shard_dead_letters_url.clone(),
                dead_letter(&names.shard_queue),
            ),
            (
                Function::Committer,
                self.commit_dead_letters_url.clone(),
                dead_letter(&names.commit_queue),
            ),
        ]
        .into_iter()
        .filter(|(function, _, _)| self.functions.contains(function))
        .collect()
    }

    /// Polls the queues; with `until_idle`, returns once every queue is empty and
    /// no message is in flight.
    pub async fn run(&self, until_idle: bool) -> Result<RunnerStats, QueueError> {
        let mut stats = RunnerStats::default();
        // Idle means found idle twice in a row, a poll apart: an emulator may count a
        // message whose visibility timeout ends during the count as neither visible
        // nor in flight.
        let mut idle_checks = 0;
        loop {
            let pass = self.run_once().await?;
            stats.add(&pass);
            if pass.handled() > 0 {
                idle_checks = 0;
                continue;
            }
            if until_idle {
                idle_checks = if self.idle().await? {
                    idle_checks + 1
                } else {
                    0
                };
                if idle_checks >= 2 {
                    return Ok(stats);
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// One pass: receives one batch from each queue in turn (manifest events, shard
    /// tasks, commit tasks) and handles it. Messages a handler sends during the pass
    /// are received by the later queues of the same pass.
    pub async fn run_once(&self) -> Result<RunnerStats, QueueError> {
        let mut stats = RunnerStats::default();
        for (function, url, name) in self.queues() {
            self.poll(function, &url, &name, &mut stats).await?;
        }
        Ok(stats)
    }

    async fn poll(
        &self,
        function: Function,
        url: &str,
        name: &str,
        stats: &mut RunnerStats,
    ) -> Result<(), QueueError> {
        let dead_letters = name.ends_with(&dead_letter(""));
        let client = &self.handlers.queues.client;
        let output = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(self.batch_size.clamp(1, 10) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .visibility_timeout(self.visibility_timeout.as_secs() as i32)
            .send()
            .await
            .map_err(|e| QueueError {
                queue: url.to_string(),
                message: aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
            })?;
        for received in output.messages.unwrap_or_default() {
            let message = Message {
                id: received.message_id().unwrap_or_default().to_string(),
                body: received.body().unwrap_or_default().to_string(),
                receive_count: received
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1),
                queue: name.to_string(),
            };
            // The handlers log what they did, or why they failed, inside the job's span.
            let result = Box::pin(self.handlers.handle_message(function, &message)).await;
            let receipt = received.receipt_handle().unwrap_or_default();
            if result.is_ok() {
                match function {
                    _ if dead_letters => stats.given_up += 1,
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
            } else {
                stats.failures += 1;
                let _ = client
                    .change_message_visibility()
                    .queue_url(url)
                    .receipt_handle(receipt)
                    .visibility_timeout(self.retry_delay.as_secs() as i32)
                    .send()
                    .await;
            }
        }
        Ok(())
    }

    /// No message waiting or in flight on any queue.
    async fn idle(&self) -> Result<bool, QueueError> {
        for (_, url, _) in self.queues() {
            if self.handlers.queues.depth(&url).await? > 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
