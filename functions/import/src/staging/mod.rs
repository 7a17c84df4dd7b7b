//! Staged entries: what workers hand to the committer, in DynamoDB.
//!
//! A worker collects its shard's entries into *runs* of at most [`RUN_ENTRIES`], so its
//! memory does not grow with the shard; it sorts each run and stores it as *batches*:
//! many entries per item, prefix-compressed and zstd-compressed, each item well under
//! DynamoDB's 400 KB limit. Each batch has its own partition key
//! (`<job>#<shard>#<run>#<batch>`), so a worker's writes spread over many partitions.
//! The committer merges every run of every shard in key order, in levels spilled to
//! local disk when there are many. Items carry a TTL as a
//! safety net; the committer deletes them once the job is committed.

mod codec;
mod levels;
mod merge;
mod table;

pub use codec::{
    MAX_BATCH_BYTES, StagedBatch, StagedEntry, decode_batch, encode_entries, pack_batches,
};
pub use levels::{FileStaging, LeveledMerge, MERGE_FAN_IN, merge_in_levels};
pub use merge::{MergedEntries, merge_staged};
pub use table::{
    BatchSource, StagedRun, StagingError, StagingTable, TTL_SECONDS, batch_key, unpack_batch,
};

/// Entries a worker sorts and stages at a time (about 30 MB of entries in memory).
pub const RUN_ENTRIES: usize = 100_000;
