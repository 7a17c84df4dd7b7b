//! Core library of `inventory-import`.
//!
//! The data path reads top to bottom: an S3 Inventory delivery is described by its
//! [`manifest`]; each data file it lists is fetched through [`storage`] and decoded by
//! the [`inventory`] reader into entries; [`inspect`] validates a whole delivery and
//! summarises it. [`generator`] writes real-shaped deliveries for tests, the demo and
//! benchmarks.

pub mod aws;
pub mod bench;
pub mod catalog;
pub mod diff;
pub mod dynamo;
pub mod events;
pub mod generator;
pub mod handlers;
pub mod inspect;
pub mod inventory;
pub mod jobs;
pub mod local;
pub mod location;
pub mod manifest;
pub mod pipeline;
pub mod preview;
pub mod process;
pub mod queues;
pub mod resources;
pub mod staging;
pub mod storage;
pub mod tree;

pub use inspect::{InspectOptions, ManifestReport, inspect_manifest};
pub use inventory::{InventoryEntry, SkipCounts};
pub use location::S3Url;
pub use manifest::{Manifest, ManifestError};
pub use storage::ObjectStore;
