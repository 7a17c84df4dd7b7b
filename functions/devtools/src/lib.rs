//! devtools

pub mod bench;
pub mod generator;
pub mod memory_staging;
