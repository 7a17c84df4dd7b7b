//! base

pub mod aws;
pub mod dynamo;
pub mod location;
pub mod storage;
pub mod storage_class;

pub use location::S3Url;
pub use storage::ObjectStore;
pub use storage_class::{StorageClass, storage_class};
