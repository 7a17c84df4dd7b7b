//! The import of an S3 Inventory delivery into the catalog, on the data path
//! event → job → shard → staged batch → tree → commit: which inventory feeds which
//! repository ([`sources`]); a delivery becomes a job of shards, data files balanced by
//! bytes ([`jobs`]); each shard's rows become sorted, packed, compressed batches in the
//! staging table ([`staging`]); the committer merges every staged run in key order,
//! diffs it against the last import, writes the tree and commits ([`pipeline`]). The
//! dry run of a delivery worked out in one process is [`preview`]; turning an
//! inventory row into a catalog entry is [`entries`]; why a job that has not finished
//! is not moving is [`stalls`].
//!
//! Every step is a function of a small task, so that Lambda functions and a single
//! process run the same code; how tasks travel (SQS, Lambda events) is not known here.

pub mod entries;
pub mod jobs;
mod packed;
pub mod partitions;
pub mod pipeline;
pub mod preview;
pub mod sources;
pub mod staging;
pub mod stalls;
