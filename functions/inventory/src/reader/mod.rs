//! Reading S3 Inventory data files into the rows to import.
//!
//! A data file is decoded as a stream of row batches, reading only the columns the
//! import needs. Rows come in any order and a key's versions in either order; the
//! reader keeps rows that are the latest version and not a delete marker, and counts
//! the rows it skips by reason. Sorting and merging entries is the import's job.
//!
//! [`DataFileReader`] is what every format's reader offers; S3 Inventory writes
//! Parquet ([`ParquetFileReader`]), ORC and CSV, and a reader of each of the others
//! joins by implementing it.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use inventory_base::storage_class::{StorageClass, storage_class};

mod parquet;

pub use parquet::ParquetFileReader;

/// Rows per decoded batch: large enough to amortise per-batch work, small enough that
/// a batch of 1,024-byte keys stays a few megabytes.
pub const BATCH_ROWS: usize = 8192;

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("data file {file} lacks required column(s) {}", .missing.join(", "))]
    MissingColumns { file: String, missing: Vec<String> },
    #[error("data file {file}: column {column} has type {found}, expected {expected}")]
    ColumnType {
        file: String,
        column: String,
        found: String,
        expected: &'static str,
    },
    #[error("data file {file} is not a readable Parquet file: {reason}")]
    Corrupt { file: String, reason: String },
    #[error(
        "data file {file}: row {row} lists bucket {found:?}, but the manifest's source bucket is {expected:?}"
    )]
    BucketMismatch {
        file: String,
        row: u64,
        expected: String,
        found: String,
    },
    #[error("data file {file}: row {row} has a key that is not valid UTF-8")]
    InvalidKey { file: String, row: u64 },
    #[error("data file {file} could not be opened: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
}

/// One object to import: the latest, non-deleted version of a key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InventoryEntry {
    pub key: String,
    /// `None` for an unversioned bucket and for the "null version" of objects written
    /// before versioning was enabled.
    pub version_id: Option<String>,
    pub size: u64,
    pub etag: String,
    /// Milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
    pub storage_class: Option<StorageClass>,
}

impl InventoryEntry {
    /// What decides which of two rows of one key is the newer: see [`Recency`].
    pub fn recency(&self) -> Recency<'_> {
        (
            self.last_modified_ms,
            self.version_id.as_deref(),
            self.etag.as_str(),
        )
    }
}

/// Of two rows of one key, the newer has the greater last-modified time, then the
/// greater version id and ETag, so that the choice never depends on the order of rows.
pub type Recency<'a> = (i64, Option<&'a str>, &'a str);

/// A row to import, borrowed from the decoded batch: what [`InventoryEntry`] owns.
#[derive(Debug)]
pub struct InventoryRow<'a> {
    pub key: &'a str,
    pub version_id: Option<Cow<'a, str>>,
    pub size: u64,
    pub etag: Cow<'a, str>,
    pub last_modified_ms: i64,
    pub storage_class: Option<Cow<'a, str>>,
}

impl InventoryRow<'_> {
    pub fn into_entry(self) -> InventoryEntry {
        InventoryEntry {
            key: self.key.to_string(),
            version_id: self.version_id.map(Cow::into_owned),
            size: self.size,
            etag: self.etag.into_owned(),
            last_modified_ms: self.last_modified_ms,
            storage_class: self.storage_class.as_deref().map(storage_class),
        }
    }
}

/// Rows that are not imported, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkipCounts {
    /// A noncurrent version of a key (`is_latest` false).
    pub noncurrent_version: u64,
    /// The latest version of a key is a delete marker: the key does not exist.
    pub delete_marker: u64,
    /// A latest version without size, ETag or last-modified time.
    pub incomplete_row: u64,
}

impl SkipCounts {
    pub fn total(&self) -> u64 {
        self.noncurrent_version + self.delete_marker + self.incomplete_row
    }

    pub fn add(&mut self, other: &SkipCounts) {
        self.noncurrent_version += other.noncurrent_version;
        self.delete_marker += other.delete_marker;
        self.incomplete_row += other.incomplete_row;
    }
}

/// The entries of one decoded row batch, with the rows it skipped.
#[derive(Debug, Default)]
pub struct EntryBatch {
    pub rows: u64,
    pub entries: Vec<InventoryEntry>,
    pub skipped: SkipCounts,
}

/// A data file of a delivery on local disk, decoded batch by batch: what the import and
/// `inspect` need of a reader, whatever the file's format.
pub trait DataFileReader {
    /// Rows in the file, as far as the format tells before decoding (0 when unknown).
    fn total_rows(&self) -> u64;

    /// About how many bytes of text the file's keys, ETags and version ids hold, to size
    /// buffers up front (0 when unknown).
    fn text_bytes(&self) -> u64;

    /// The format's units of decoding in the file (Parquet's row groups).
    fn row_groups(&self) -> usize;

    /// Decodes the next row batch and hands each row to import to `keep`, borrowed
    /// from the batch; returns the batch's row count and the rows it skipped, or
    /// `None` at the end of the file.
    fn next_rows(
        &mut self,
        keep: impl FnMut(InventoryRow<'_>),
    ) -> Option<Result<(u64, SkipCounts), InventoryError>>;

    /// The next row batch's entries, owned.
    fn next_batch(&mut self) -> Option<Result<EntryBatch, InventoryError>> {
        let mut entries = Vec::with_capacity(BATCH_ROWS);
        let counted = self.next_rows(|row| entries.push(row.into_entry()))?;
        Some(counted.map(|(rows, skipped)| EntryBatch {
            rows,
            entries,
            skipped,
        }))
    }
}
