//! The Parquet reader: S3 Inventory's Parquet data files, decoded page by page with
//! only the needed columns projected, so memory does not grow with the file.

use std::borrow::Cow;
use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int32Type, Int64Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::data_file::{BATCH_ROWS, DataFileReader, InventoryError};
use super::rows::{InventoryRow, SkipCounts};
use crate::manifest::{DataFormat, missing_columns};

/// Column positions in the projected batches.
#[derive(Debug, Clone, Copy)]
struct Columns {
    bucket: usize,
    key: usize,
    size: usize,
    last_modified: usize,
    etag: usize,
    version_id: Option<usize>,
    is_latest: Option<usize>,
    is_delete_marker: Option<usize>,
    storage_class: Option<usize>,
}

/// Streams the entries of one Parquet data file on local disk.
pub struct ParquetFileReader {
    file: String,
    expected_bucket: Option<String>,
    batches: ParquetRecordBatchReader,
    columns: Columns,
    rows_read: u64,
    total_rows: u64,
    row_groups: usize,
    text_bytes: u64,
}

impl std::fmt::Debug for ParquetFileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetFileReader")
            .field("file", &self.file)
            .field("rows_read", &self.rows_read)
            .finish()
    }
}

impl ParquetFileReader {
    /// Opens `path` (named `file` in errors), checks its real schema and prepares a
    /// projected read. When `expected_bucket` is given every row must name it.
    pub fn open(
        path: &Path,
        file: &str,
        expected_bucket: Option<&str>,
    ) -> Result<Self, InventoryError> {
        let io_error = |source| InventoryError::Io {
            file: file.to_string(),
            source,
        };
        let handle = File::open(path).map_err(io_error)?;
        let file_bytes = handle.metadata().map_err(io_error)?.len();
        let corrupt = |err: parquet::errors::ParquetError| InventoryError::Corrupt {
            file: file.to_string(),
            format: DataFormat::Parquet,
            reason: err.to_string(),
        };
        let builder = ParquetRecordBatchReaderBuilder::try_new(handle).map_err(corrupt)?;
        let total_rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
        let row_groups = builder.metadata().num_row_groups();
        let text_bytes = text_bytes(builder.metadata(), file_bytes);
        let schema = builder.schema().clone();
        let names: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| f.name().to_ascii_lowercase())
            .collect();
        let missing = missing_columns(names.iter().map(String::as_str));
        if !missing.is_empty() {
            return Err(InventoryError::MissingColumns {
                file: file.to_string(),
                missing,
            });
        }
        let root = |name: &str| names.iter().position(|n| n == name);
        // Root positions of the columns to read, in file order; the projected batch
        // keeps that order, so each column's batch index is its rank among them.
        let wanted: Vec<(&str, usize)> = [
            "bucket",
            "key",
            "size",
            "last_modified_date",
            "e_tag",
            "version_id",
            "is_latest",
            "is_delete_marker",
            "storage_class",
        ]
        .into_iter()
        .filter_map(|name| root(name).map(|index| (name, index)))
        .collect();
        let mut roots: Vec<usize> = wanted.iter().map(|(_, index)| *index).collect();
        roots.sort_unstable();
        let position = |name: &str| {
            wanted
                .iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, index)| roots.iter().position(|r| r == index))
        };
        let required = |name: &str| position(name).unwrap_or_default();
        let columns = Columns {
            bucket: required("bucket"),
            key: required("key"),
            size: required("size"),
            last_modified: required("last_modified_date"),
            etag: required("e_tag"),
            version_id: position("version_id"),
            is_latest: position("is_latest"),
            is_delete_marker: position("is_delete_marker"),
            storage_class: position("storage_class"),
        };
        for (name, index) in &wanted {
            check_type(file, name, schema.field(*index).data_type())?;
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        let batches = builder
            .with_projection(mask)
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(corrupt)?;
        Ok(Self {
            file: file.to_string(),
            expected_bucket: expected_bucket.map(str::to_string),
            batches,
            columns,
            rows_read: 0,
            total_rows,
            row_groups,
            text_bytes,
        })
    }

    fn visit(
        &self,
        batch: &RecordBatch,
        mut keep: impl FnMut(InventoryRow<'_>),
    ) -> Result<SkipCounts, InventoryError> {
        let c = self.columns;
        let file = self.file.as_str();
        let bucket = StrColumn::new(batch.column(c.bucket));
        let key = StrColumn::new(batch.column(c.key));
        let version_id = c.version_id.map(|i| StrColumn::new(batch.column(i)));
        let etag = StrColumn::new(batch.column(c.etag));
        let storage_class = c.storage_class.map(|i| StrColumn::new(batch.column(i)));
        let is_latest = c.is_latest.map(|i| batch.column(i).as_boolean());
        let is_delete_marker = c.is_delete_marker.map(|i| batch.column(i).as_boolean());
        let size = IntColumn::new(batch.column(c.size));
        let last_modified = IntColumn::new(batch.column(c.last_modified));

        let mut skipped = SkipCounts::default();
        for row in 0..batch.num_rows() {
            let row_number = self.rows_read + row as u64;
            if let Some(expected) = &self.expected_bucket {
                let found = bucket.get(row).unwrap_or_default();
                if found != expected.as_bytes() {
                    return Err(InventoryError::BucketMismatch {
                        file: file.to_string(),
                        row: row_number,
                        expected: expected.clone(),
                        found: String::from_utf8_lossy(found).into_owned(),
                    });
                }
            }
            // A null `is_latest` (or no such column) means the row is current.
            if is_latest.is_some_and(|a| a.is_valid(row) && !a.value(row)) {
                skipped.noncurrent_version += 1;
                continue;
            }
            if is_delete_marker.is_some_and(|a| a.is_valid(row) && a.value(row)) {
                skipped.delete_marker += 1;
                continue;
            }
            let (Some(size), Some(last_modified_ms), Some(etag)) =
                (size.get(row), last_modified.get(row), etag.text(row))
            else {
                skipped.incomplete_row += 1;
                continue;
            };
            let Some(Ok(key)) = key.text(row) else {
                return Err(InventoryError::InvalidKey {
                    file: file.to_string(),
                    row: row_number,
                });
            };
            keep(InventoryRow {
                key,
                version_id: version_id
                    .as_ref()
                    .and_then(|c| c.text(row))
                    .filter(|v| !matches!(v, Ok("" | "null")))
                    .map(lossy),
                size: size.max(0) as u64,
                etag: lossy(etag),
                last_modified_ms,
                storage_class: storage_class.as_ref().and_then(|c| c.text(row)).map(lossy),
            });
        }
        Ok(skipped)
    }
}

impl DataFileReader for ParquetFileReader {
    /// Rows in the file, from its footer.
    fn total_rows(&self) -> u64 {
        self.total_rows
    }

    /// About how many bytes of text the file's keys, ETags and version ids hold, from
    /// its footer, to size buffers up front; never more than 16 times the file.
    fn text_bytes(&self) -> u64 {
        self.text_bytes
    }

    /// Row groups in the file, from its footer.
    fn row_groups(&self) -> usize {
        self.row_groups
    }

    /// Decodes the next row batch and hands each row to import to `keep`, borrowed
    /// from the batch; returns the batch's row count and the rows it skipped, or
    /// `None` at the end of the file.
    fn next_rows(
        &mut self,
        keep: impl FnMut(InventoryRow<'_>),
    ) -> Option<Result<(u64, SkipCounts), InventoryError>> {
        let batch = match self.batches.next()? {
            Ok(batch) => batch,
            Err(err) => {
                return Some(Err(InventoryError::Corrupt {
                    file: self.file.clone(),
                    format: DataFormat::Parquet,
                    reason: err.to_string(),
                }));
            }
        };
        let skipped = self.visit(&batch, keep);
        let rows = batch.num_rows() as u64;
        self.rows_read += rows;
        Some(skipped.map(|skipped| (rows, skipped)))
    }
}

/// The uncompressed size the footer gives for the key, ETag and version id columns,
/// capped: a damaged footer must not make a reader reserve more than the file could
/// hold.
fn text_bytes(metadata: &parquet::file::metadata::ParquetMetaData, file_bytes: u64) -> u64 {
    let text_columns = ["key", "e_tag", "version_id"];
    let total = metadata
        .row_groups()
        .iter()
        .flat_map(|group| group.columns())
        .filter(|column| {
            let name = column.column_path().parts().first().map(String::as_str);
            name.is_some_and(|n| text_columns.iter().any(|t| n.eq_ignore_ascii_case(t)))
        })
        .fold(0u64, |total, column| {
            total.saturating_add(column.uncompressed_size().max(0) as u64)
        });
    total.min(file_bytes.saturating_mul(16))
}

/// Values other than keys are kept even when not UTF-8, with U+FFFD in place.
fn lossy<'a>(text: Result<&'a str, &'a [u8]>) -> Cow<'a, str> {
    match text {
        Ok(text) => Cow::Borrowed(text),
        Err(bytes) => String::from_utf8_lossy(bytes),
    }
}

fn check_type(file: &str, column: &str, found: &DataType) -> Result<(), InventoryError> {
    let expected = match column {
        "size" => "an integer",
        "last_modified_date" => "a timestamp",
        "is_latest" | "is_delete_marker" => "a boolean",
        _ => "a string",
    };
    let ok = match column {
        "size" => matches!(found, DataType::Int64 | DataType::Int32 | DataType::UInt64),
        "last_modified_date" => matches!(found, DataType::Timestamp(_, _) | DataType::Int64),
        "is_latest" | "is_delete_marker" => matches!(found, DataType::Boolean),
        _ => StrColumn::supports(found),
    };
    if ok {
        Ok(())
    } else {
        Err(InventoryError::ColumnType {
            file: file.to_string(),
            column: column.to_string(),
            found: found.to_string(),
            expected,
        })
    }
}

/// An integer or timestamp column, its Arrow type resolved once per batch; times in
/// milliseconds.
#[derive(Clone, Copy)]
enum IntColumn<'a> {
    Int64(&'a arrow_array::Int64Array),
    Int32(&'a arrow_array::Int32Array),
    UInt64(&'a arrow_array::UInt64Array),
    Seconds(&'a arrow_array::TimestampSecondArray),
    Millis(&'a arrow_array::TimestampMillisecondArray),
    Micros(&'a arrow_array::TimestampMicrosecondArray),
    Nanos(&'a arrow_array::TimestampNanosecondArray),
    /// Any other type: every value reads as missing.
    Other,
}

impl<'a> IntColumn<'a> {
    fn new(array: &'a ArrayRef) -> Self {
        match array.data_type() {
            DataType::Int64 => IntColumn::Int64(array.as_primitive::<Int64Type>()),
            DataType::Int32 => IntColumn::Int32(array.as_primitive::<Int32Type>()),
            DataType::UInt64 => IntColumn::UInt64(array.as_primitive::<UInt64Type>()),
            DataType::Timestamp(TimeUnit::Second, _) => {
                IntColumn::Seconds(array.as_primitive::<TimestampSecondType>())
            }
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                IntColumn::Millis(array.as_primitive::<TimestampMillisecondType>())
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                IntColumn::Micros(array.as_primitive::<TimestampMicrosecondType>())
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                IntColumn::Nanos(array.as_primitive::<TimestampNanosecondType>())
            }
            _ => IntColumn::Other,
        }
    }

    fn get(&self, row: usize) -> Option<i64> {
        fn value<T: arrow_array::ArrowPrimitiveType>(
            a: &arrow_array::PrimitiveArray<T>,
            row: usize,
        ) -> Option<T::Native> {
            a.is_valid(row).then(|| a.value(row))
        }
        match *self {
            IntColumn::Int64(a) => value(a, row),
            IntColumn::Int32(a) => value(a, row).map(i64::from),
            IntColumn::UInt64(a) => value(a, row).and_then(|v| i64::try_from(v).ok()),
            IntColumn::Seconds(a) => value(a, row).map(|v| v.saturating_mul(1000)),
            IntColumn::Millis(a) => value(a, row),
            IntColumn::Micros(a) => value(a, row).map(|v| v / 1000),
            IntColumn::Nanos(a) => value(a, row).map(|v| v / 1_000_000),
            IntColumn::Other => None,
        }
    }
}

/// Byte access to a string or binary column, whichever Arrow type the file decoded to.
#[derive(Clone, Copy)]
enum StrColumn<'a> {
    Utf8(&'a arrow_array::StringArray),
    LargeUtf8(&'a arrow_array::LargeStringArray),
    Utf8View(&'a arrow_array::StringViewArray),
    Binary(&'a arrow_array::BinaryArray),
    LargeBinary(&'a arrow_array::LargeBinaryArray),
    BinaryView(&'a arrow_array::BinaryViewArray),
}

impl<'a> StrColumn<'a> {
    fn supports(data_type: &DataType) -> bool {
        matches!(
            data_type,
            DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
        )
    }

    /// Only called on columns that passed [`check_type`].
    fn new(array: &'a ArrayRef) -> Self {
        match array.data_type() {
            DataType::LargeUtf8 => StrColumn::LargeUtf8(array.as_string::<i64>()),
            DataType::Utf8View => StrColumn::Utf8View(array.as_string_view()),
            DataType::Binary => StrColumn::Binary(array.as_binary::<i32>()),
            DataType::LargeBinary => StrColumn::LargeBinary(array.as_binary::<i64>()),
            DataType::BinaryView => StrColumn::BinaryView(array.as_binary_view()),
            _ => StrColumn::Utf8(array.as_string::<i32>()),
        }
    }

    /// The value as text: Arrow's string types are valid UTF-8 already; binary values
    /// are checked (`Err` with the bytes when they are not UTF-8).
    fn text(&self, row: usize) -> Option<Result<&'a str, &'a [u8]>> {
        match *self {
            StrColumn::Utf8(a) => a.is_valid(row).then(|| Ok(a.value(row))),
            StrColumn::LargeUtf8(a) => a.is_valid(row).then(|| Ok(a.value(row))),
            StrColumn::Utf8View(a) => a.is_valid(row).then(|| Ok(a.value(row))),
            _ => self
                .get(row)
                .map(|bytes| std::str::from_utf8(bytes).map_err(|_| bytes)),
        }
    }

    fn get(&self, row: usize) -> Option<&'a [u8]> {
        match *self {
            StrColumn::Utf8(a) => a.is_valid(row).then(|| a.value(row).as_bytes()),
            StrColumn::LargeUtf8(a) => a.is_valid(row).then(|| a.value(row).as_bytes()),
            StrColumn::Utf8View(a) => a.is_valid(row).then(|| a.value(row).as_bytes()),
            StrColumn::Binary(a) => a.is_valid(row).then(|| a.value(row)),
            StrColumn::LargeBinary(a) => a.is_valid(row).then(|| a.value(row)),
            StrColumn::BinaryView(a) => a.is_valid(row).then(|| a.value(row)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{
        BinaryArray, Int32Array, LargeStringArray, StringArray, TimestampSecondArray,
    };
    use arrow_schema::{Field, Schema};
    use parquet::arrow::ArrowWriter;

    use super::*;
    use crate::reader::{EntryBatch, InventoryEntry};

    /// Writes a data file with the columns given (name, array) and reads it back.
    fn read(columns: Vec<(&str, ArrayRef)>) -> Result<Vec<EntryBatch>, InventoryError> {
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        let batch =
            RecordBatch::try_new(schema.clone(), columns.into_iter().map(|c| c.1).collect())
                .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.parquet");
        let mut writer = ArrowWriter::try_new(File::create(&path).unwrap(), schema, None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let mut reader = ParquetFileReader::open(&path, "data.parquet", Some("src"))?;
        std::iter::from_fn(|| reader.next_batch()).collect()
    }

    #[test]
    fn reads_other_arrow_types_than_aws_writes() {
        let batches = read(vec![
            (
                "bucket",
                Arc::new(LargeStringArray::from(vec!["src", "src"])),
            ),
            (
                "key",
                Arc::new(BinaryArray::from(vec![&b"a/b"[..], "é".as_bytes()])),
            ),
            ("size", Arc::new(Int32Array::from(vec![5, 7]))),
            (
                "last_modified_date",
                Arc::new(TimestampSecondArray::from(vec![
                    1_700_000_000,
                    1_700_000_001,
                ])),
            ),
            (
                "e_tag",
                Arc::new(BinaryArray::from(vec![&b"abc"[..], &b"\xff"[..]])),
            ),
            (
                "version_id",
                Arc::new(StringArray::from(vec![Some("null"), Some("v1")])),
            ),
        ])
        .unwrap();
        let entries: Vec<&InventoryEntry> = batches.iter().flat_map(|b| &b.entries).collect();
        assert_eq!(
            entries,
            [
                &InventoryEntry {
                    key: "a/b".into(),
                    version_id: None,
                    size: 5,
                    etag: "abc".into(),
                    last_modified_ms: 1_700_000_000_000,
                    storage_class: None,
                },
                &InventoryEntry {
                    key: "é".into(),
                    version_id: Some("v1".into()),
                    size: 7,
                    etag: "\u{fffd}".into(),
                    last_modified_ms: 1_700_000_001_000,
                    storage_class: None,
                },
            ]
        );
    }

    #[test]
    fn a_key_that_is_not_utf8_is_an_error_naming_its_row() {
        let err = read(vec![
            ("bucket", Arc::new(StringArray::from(vec!["src", "src"]))),
            (
                "key",
                Arc::new(BinaryArray::from(vec![&b"ok"[..], &b"\xc3("[..]])),
            ),
            ("size", Arc::new(Int32Array::from(vec![1, 2]))),
            (
                "last_modified_date",
                Arc::new(TimestampSecondArray::from(vec![1, 2])),
            ),
            ("e_tag", Arc::new(StringArray::from(vec!["x", "y"]))),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "data file data.parquet: row 1 has a key that is not valid UTF-8"
        );
    }
}
