//! Opening a data file with the reader of its delivery's format.

use std::path::Path;

use super::csv::CsvFileReader;
use super::data_file::{DataFileReader, InventoryError};
use super::orc::OrcFileReader;
use super::parquet::ParquetFileReader;
use super::rows::{InventoryRow, SkipCounts};
use crate::manifest::{DataFormat, SchemaColumn};

/// A data file open with the reader of its format: what [`open_data_file`] returns.
/// Readers are boxed, their states being of very different sizes.
#[derive(Debug)]
pub enum AnyDataFile {
    Parquet(Box<ParquetFileReader>),
    Orc(Box<OrcFileReader>),
    Csv(Box<CsvFileReader>),
}

/// Opens the data file at `path` (named `file` in errors) with the reader of `format`,
/// the manifest's `fileFormat`. `columns` is the manifest's `fileSchema`: a CSV file's
/// fields are known by it alone; Parquet and ORC files carry their own schema, which
/// is checked instead. When `expected_bucket` is given every row must name it.
pub fn open_data_file(
    format: DataFormat,
    path: &Path,
    file: &str,
    expected_bucket: Option<&str>,
    columns: &[SchemaColumn],
) -> Result<AnyDataFile, InventoryError> {
    match format {
        DataFormat::Parquet => ParquetFileReader::open(path, file, expected_bucket)
            .map(|reader| AnyDataFile::Parquet(Box::new(reader))),
        DataFormat::Csv => CsvFileReader::open(path, file, expected_bucket, columns)
            .map(|reader| AnyDataFile::Csv(Box::new(reader))),
        DataFormat::Orc => OrcFileReader::open(path, file, expected_bucket)
            .map(|reader| AnyDataFile::Orc(Box::new(reader))),
    }
}

impl DataFileReader for AnyDataFile {
    fn total_rows(&self) -> u64 {
        match self {
            AnyDataFile::Parquet(reader) => reader.total_rows(),
            AnyDataFile::Orc(reader) => reader.total_rows(),
            AnyDataFile::Csv(reader) => reader.total_rows(),
        }
    }

    fn text_bytes(&self) -> u64 {
        match self {
            AnyDataFile::Parquet(reader) => reader.text_bytes(),
            AnyDataFile::Orc(reader) => reader.text_bytes(),
            AnyDataFile::Csv(reader) => reader.text_bytes(),
        }
    }

    fn row_groups(&self) -> usize {
        match self {
            AnyDataFile::Parquet(reader) => reader.row_groups(),
            AnyDataFile::Orc(reader) => reader.row_groups(),
            AnyDataFile::Csv(reader) => reader.row_groups(),
        }
    }

    fn next_rows(
        &mut self,
        keep: impl FnMut(InventoryRow<'_>),
    ) -> Option<Result<(u64, SkipCounts), InventoryError>> {
        match self {
            AnyDataFile::Parquet(reader) => reader.next_rows(keep),
            AnyDataFile::Orc(reader) => reader.next_rows(keep),
            AnyDataFile::Csv(reader) => reader.next_rows(keep),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_orc_file_opens_with_the_orc_reader() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/aws-inventory/orc_inventory.orc");
        let mut reader = open_data_file(
            DataFormat::Orc,
            &path,
            "orc_inventory.orc",
            Some("filemanager-inventory-test"),
            &[],
        )
        .unwrap();
        assert!(matches!(reader, AnyDataFile::Orc(_)));
        let mut keys = Vec::new();
        while let Some(batch) = reader.next_batch() {
            keys.extend(batch.unwrap().entries.into_iter().map(|e| e.key));
        }
        assert_eq!(keys.len(), 2, "{keys:?}");
    }

    #[test]
    fn a_parquet_error_names_the_format() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/aws-inventory/csv_inventory.csv.gz");
        let err =
            open_data_file(DataFormat::Parquet, &path, "data.parquet", None, &[]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("data file data.parquet is not a readable Parquet file: "),
            "{err}"
        );
    }
}
