//! Reading S3 Inventory data files into the rows to import.
//!
//! A data file is decoded as a stream of row batches, reading only the columns the
//! import needs. Rows come in any order and a key's versions in either order; the
//! reader keeps rows that are the latest version and not a delete marker, and counts
//! the rows it skips by reason. Sorting and merging entries is the import's job.
//!
//! [`DataFileReader`] is what every format's reader offers. S3 Inventory writes
//! Parquet ([`ParquetFileReader`]), gzipped CSV ([`CsvFileReader`]) and ORC; the
//! manifest's `fileFormat` says which, and [`open_data_file`] opens a file with its
//! format's reader. The rules are the same whatever the format.

mod csv;
mod data_file;
mod format;
mod orc;
mod parquet;
mod rows;

pub use self::csv::CsvFileReader;
pub use data_file::{BATCH_ROWS, DataFileReader, InventoryError};
pub use format::{AnyDataFile, open_data_file};
pub use orc::{OrcFileReader, proto as orc_proto};
pub use parquet::ParquetFileReader;
pub use rows::{EntryBatch, InventoryEntry, InventoryRow, Recency, SkipCounts};
