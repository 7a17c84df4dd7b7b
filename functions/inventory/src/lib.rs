//! S3 Inventory deliveries: the manifest and its checksum ([`manifest`], which also
//! reads the data files' format and `fileSchema` in each format's notation), the
//! data-file readers of each format and the rules that choose the rows to import
//! ([`reader`]: the latest version of each key that is not a delete marker; the others
//! counted by reason), and validating a whole delivery before anything is imported
//! ([`inspect`]).
//!
//! Data takes this path through it: `manifest.json` is read and checked against
//! `manifest.checksum` and its `fileSchema`; each data file it lists is fetched to local
//! disk with its size and MD5 verified, then decoded batch by batch into rows by the
//! reader of the manifest's `fileFormat` (Parquet or gzipped CSV), which go to whoever
//! asked (the import's workers, its dry run, or `inspect`).
//!
//! It must not know about the catalog, import jobs or Lambda.

pub mod inspect;
pub mod manifest;
pub mod reader;
pub mod statistics;

pub use inspect::{InspectOptions, ManifestReport, inspect_manifest};
pub use manifest::{Manifest, ManifestError};
pub use reader::{InventoryEntry, SkipCounts};
