//! What every other crate of `inventory-import` shares, and nothing of what they are
//! about: `s3://` URLs and bucket ARNs ([`location`]), the object store over S3 or a
//! local directory laid out like S3 ([`storage`]) and the multipart uploads it holds
//! open ([`uploads`]), AWS clients from the standard
//! configuration chain ([`aws`]), DynamoDB helpers ([`dynamo`]) and S3's storage class
//! names ([`storage_class`]).
//!
//! It knows no catalog, inventory, import, queue or Lambda: every crate above depends
//! on it, and it depends on none of them.

pub mod aws;
pub mod dynamo;
pub mod location;
pub mod storage;
pub mod storage_class;
pub mod uploads;

pub use location::S3Url;
pub use storage::ObjectStore;
pub use storage_class::{StorageClass, storage_class};
