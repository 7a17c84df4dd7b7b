//! The DynamoDB staging table: where workers store their sorted runs, and where the
//! committer reads and deletes them.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};

use inventory_base::dynamo::DynamoError;
use inventory_delivery::reader::InventoryEntry;

use super::codec::{StagedBatch, decode_batch, pack_batches};

/// Staged items expire after this long even if nobody deletes them: longer than the
/// dead-letter queues keep a task (14 days), so that a task redriven on its last day
/// still finds its job's staged batches.
pub const TTL_SECONDS: i64 = 15 * 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    #[error(transparent)]
    Dynamo(#[from] DynamoError),
    #[error("staged batch {key} is damaged: {reason}")]
    Damaged { key: String, reason: String },
    #[error("staged batch {key} is missing")]
    Missing { key: String },
}

/// The staging table.
#[derive(Debug, Clone)]
pub struct StagingTable {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

/// One sorted run of a shard, stored as `batches` items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StagedRun {
    pub shard: usize,
    /// The worker's attempt at the shard that wrote the run, so that two attempts at
    /// one shard (a task handed to two workers) never write or delete each other's
    /// items; 0 for runs staged before attempts were told apart.
    pub attempt: u64,
    pub run: usize,
    pub batches: usize,
}

/// `<job>#<shard>#<attempt>#<run>#<batch>` (without the attempt when it is 0).
pub fn batch_key(job: &str, run: &StagedRun, batch: usize) -> String {
    match run.attempt {
        0 => format!("{job}#{:05}#{:05}#{batch:06}", run.shard, run.run),
        attempt => format!(
            "{job}#{:05}#{attempt:016x}#{:05}#{batch:06}",
            run.shard, run.run
        ),
    }
}

impl StagingTable {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub async fn ensure_table(&self) -> Result<(), DynamoError> {
        inventory_base::dynamo::ensure_table(&self.client, &self.table, Some("expires_at")).await
    }

    /// Stores one sorted run of a shard; returns how many batches and bytes it wrote.
    /// Writing the same run again overwrites the same items.
    pub async fn put_run(
        &self,
        job: &str,
        shard: usize,
        attempt: u64,
        run: usize,
        entries: &[InventoryEntry],
    ) -> Result<(usize, u64), StagingError> {
        let batches = pack_batches(entries);
        let bytes = batches.iter().map(|b| b.len() as u64).sum();
        let staged = StagedRun {
            shard,
            attempt,
            run,
            batches: batches.len(),
        };
        let expires = (chrono::Utc::now().timestamp() + TTL_SECONDS).to_string();
        let requests: Vec<WriteRequest> = batches
            .into_iter()
            .enumerate()
            .filter_map(|(i, batch)| {
                let item = HashMap::from([
                    (
                        "pk".to_string(),
                        AttributeValue::S(batch_key(job, &staged, i)),
                    ),
                    ("sk".to_string(), AttributeValue::S("batch".into())),
                    ("entries".to_string(), AttributeValue::B(Blob::new(batch))),
                    ("expires_at".to_string(), AttributeValue::N(expires.clone())),
                ]);
                let put = PutRequest::builder().set_item(Some(item)).build().ok()?;
                Some(WriteRequest::builder().put_request(put).build())
            })
            .collect();
        self.write_all(requests).await?;
        Ok((staged.batches, bytes))
    }

    /// Deletes the staged batches of a job's runs.
    pub async fn delete_job(&self, job: &str, runs: &[StagedRun]) -> Result<(), StagingError> {
        let requests: Vec<WriteRequest> = runs
            .iter()
            .flat_map(|run| (0..run.batches).map(move |batch| batch_key(job, run, batch)))
            .filter_map(|key| {
                let delete = DeleteRequest::builder()
                    .key("pk", AttributeValue::S(key))
                    .key("sk", AttributeValue::S("batch".into()))
                    .build()
                    .ok()?;
                Some(WriteRequest::builder().delete_request(delete).build())
            })
            .collect();
        self.write_all(requests).await?;
        Ok(())
    }

    async fn write_all(&self, requests: Vec<WriteRequest>) -> Result<(), DynamoError> {
        inventory_base::dynamo::batch_write(&self.client, &self.table, requests).await
    }
}

/// Where the committer reads staged batches from.
pub trait BatchSource: Clone + Send + Sync + 'static {
    /// One batch of a run, decoded.
    fn batch(
        &self,
        job: &str,
        run: &StagedRun,
        batch: usize,
    ) -> impl Future<Output = Result<StagedBatch, StagingError>> + Send;
}

impl BatchSource for StagingTable {
    async fn batch(
        &self,
        job: &str,
        run: &StagedRun,
        batch: usize,
    ) -> Result<StagedBatch, StagingError> {
        let key = batch_key(job, run, batch);
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.clone()))
            .key("sk", AttributeValue::S("batch".into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| DynamoError::new(&self.table, e))?;
        let item = output
            .item
            .ok_or_else(|| StagingError::Missing { key: key.clone() })?;
        let Some(AttributeValue::B(blob)) = item.get("entries") else {
            return Err(StagingError::Damaged {
                key,
                reason: "no entries attribute".into(),
            });
        };
        unpack_batch(&key, blob.as_ref())
    }
}

/// Decompresses and decodes one stored batch.
pub fn unpack_batch(key: &str, blob: &[u8]) -> Result<StagedBatch, StagingError> {
    let damaged = |reason: String| StagingError::Damaged {
        key: key.to_string(),
        reason,
    };
    let raw = zstd::stream::decode_all(blob).map_err(|e| damaged(e.to_string()))?;
    decode_batch(&raw).map_err(damaged)
}
