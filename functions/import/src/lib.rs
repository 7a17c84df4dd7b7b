//! The import of an S3 Inventory delivery into the catalog, on the data path
//! event → job → shard → staged batch → tree → commit: which inventory feeds which
//! repository, and which part of its bucket lands where on which branch ([`sources`],
//! [`scope`]); a delivery becomes a job of shards, data files balanced by
//! bytes ([`jobs`]), and its key space is cut into partitions committed at once
//! ([`partitions`]); each shard's rows become sorted runs split by partition, packed,
//! compressed batches in the staging table ([`staging`]); each partition's committer
//! merges its runs in key order (in levels when there are many), diffs them against the
//! last import's ranges of its keys and writes its ranges, and the last one joins them
//! into the tree and commits ([`pipeline`]). The
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
pub mod scope;
pub mod sources;
pub mod staging;
pub mod stalls;
