//! What every format's reader offers: a data file decoded batch by batch into rows,
//! and what can go wrong doing so.

use super::rows::{EntryBatch, InventoryRow, SkipCounts};
use crate::manifest::DataFormat;

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
    #[error("data file {file} is not a readable {format} file: {reason}")]
    Corrupt {
        file: String,
        format: DataFormat,
        reason: String,
    },
    #[error("data file {file} is truncated: its gzip stream ends unexpectedly")]
    Truncated { file: String },
    #[error(
        "data file {file}: line {line} has {found} field(s), but the manifest's fileSchema lists {expected}"
    )]
    FieldCount {
        file: String,
        line: u64,
        found: usize,
        expected: usize,
    },
    #[error("data file {file}: line {line}, column {column}: {value:?} is not {expected}")]
    InvalidField {
        file: String,
        line: u64,
        column: &'static str,
        value: String,
        expected: &'static str,
    },
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
