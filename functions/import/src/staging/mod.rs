//! Staged entries: what workers hand to the committer, in DynamoDB.
//!
//! A worker collects its shard's entries into *runs* of at most [`RUN_ENTRIES`], so its
//! memory does not grow with the shard; it sorts each run and stores it as *batches*:
//! many entries per item, prefix-compressed and zstd-compressed, each item well under
//! DynamoDB's 400 KB limit. Each batch has its own partition key
//! (`<job>#<shard>#<run>#<batch>`), so a worker's writes spread over many partitions.
//! The committer merges every run of every shard in key order. Items carry a TTL as a
//! safety net; the committer deletes them once the job is committed.

mod codec;
mod merge;
mod table;

pub use codec::{StagedBatch, StagedEntry, decode_batch, encode_entries, pack_batches};
pub use merge::{MergedEntries, merge_staged};
pub use table::{BatchSource, StagedRun, StagingTable, batch_key, unpack_batch};

use inventory_base::dynamo::DynamoError;

/// Entries a worker sorts and stages at a time (about 30 MB of entries in memory).
pub const RUN_ENTRIES: usize = 100_000;
/// Largest compressed batch stored in one item.
pub const MAX_BATCH_BYTES: usize = 300_000;
/// Entries are encoded in chunks of at most this many raw bytes before compression.
const RAW_CHUNK_BYTES: usize = 1_200_000;
/// Staged items expire after this long even if nobody deletes them.
const TTL_SECONDS: i64 = 7 * 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    #[error(transparent)]
    Dynamo(#[from] DynamoError),
    #[error("staged batch {key} is damaged: {reason}")]
    Damaged { key: String, reason: String },
    #[error("staged batch {key} is missing")]
    Missing { key: String },
}
