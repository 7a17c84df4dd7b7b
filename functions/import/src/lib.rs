//! import

pub mod entries;
pub mod jobs;
mod packed;
pub mod pipeline;
pub mod preview;
pub mod sources;
pub mod staging;
