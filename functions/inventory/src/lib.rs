//! inventory

pub mod inspect;
pub mod manifest;
pub mod reader;

pub use inspect::{InspectOptions, ManifestReport, inspect_manifest};
pub use manifest::{Manifest, ManifestError};
pub use reader::{InventoryEntry, SkipCounts};
