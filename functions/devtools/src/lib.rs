//! Tools for developing and measuring `inventory-import`: the generator of
//! real-shaped S3 Inventory deliveries used by tests, the demo and the benchmarks
//! ([`generator`]) and of their ORC data files ([`orc_writer`]), the benchmarks of the
//! import's stages ([`bench`]), of the partitioned commit at scale ([`scale_bench`])
//! and of the S3 endpoint as clients see it ([`serve_bench`]), and staged batches held
//! in memory for them ([`memory_staging`]).
//!
//! The CLI and the tests use it; no Lambda function depends on it, so neither it nor
//! what it needs (random numbers among them) is built into a function.

pub mod bench;
pub mod generator;
pub mod memory_staging;
pub mod orc_writer;
pub mod scale_bench;
pub mod serve_bench;
