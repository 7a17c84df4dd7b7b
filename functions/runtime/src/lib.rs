//! The Lambda and SQS plumbing around the import: decoding S3 notifications
//! ([`events`]), the queues between the functions ([`queues`]), what each function does
//! with its event ([`handlers`]: trigger, worker, committer), how a function process
//! starts (allocator settings, logs: [`process`]), the AWS resources the SAM template
//! creates and their creation on a local stack ([`resources`]), running a function
//! under the Lambda runtime ([`lambda`]), and the runner that feeds the three functions
//! from their queues in one process ([`local`]).
//!
//! An S3 notification arrives on the manifest-events queue; the trigger's handler
//! starts a job and sends shard tasks; workers' handlers stage shards and the last one
//! sends the commit task; the committer's handler commits and merges. The Lambda entry
//! points (`functions/trigger`, `worker`, `committer`) are thin calls into this crate.

pub mod events;
pub mod handlers;
pub mod lambda;
pub mod local;
pub mod process;
pub mod queues;
pub mod resources;
