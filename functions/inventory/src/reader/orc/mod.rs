//! The ORC reader: S3 Inventory's ORC data files (ZLIB-compressed, ORC v1), decoded
//! straight into the rows to import, a stripe at a time and within it a batch at a
//! time, reading only the streams of the columns the import needs.
//!
//! It covers what S3 Inventory writes and a little more: compression NONE or ZLIB;
//! the DIRECT, DICTIONARY, DIRECT_V2 and DICTIONARY_V2 encodings (integer RLE
//! versions 1 and 2, all four sub-encodings of the latter); string, varchar, char and
//! binary, boolean, bigint/int/smallint and timestamp columns. Bytes that do not
//! decode are [`InventoryError::Corrupt`] with the reason, never a panic.
//!
//! [`file`] owns the layout (tail, stripes, streams), [`streams`] the decompression and
//! run-length decoders, [`columns`] the typed columns, [`proto`] the protobuf messages.

mod columns;
mod file;
pub mod proto;
mod streams;

use std::fs::File;
use std::path::Path;

use self::columns::{BoolColumn, IntColumn, IntKind, StringColumn};
use self::file::{OrcFile, Stripe};
use self::proto::TypeKind;
use self::streams::malformed;
use super::data_file::{BATCH_ROWS, DataFileReader, InventoryError};
use super::rows::{InventoryRow, SkipCounts};
use crate::manifest::{DataFormat, missing_columns};

/// Why an ORC file cannot be read: its bytes, or the disk.
#[derive(Debug, thiserror::Error)]
enum OrcError {
    #[error("{0}")]
    Malformed(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Time zones whose wall clock is UTC: ORC's `timestamp` counts from the writer's
/// wall clock, so only these read as instants without a time zone database.
const UTC_ZONES: [&str; 17] = [
    "",
    "UTC",
    "GMT",
    "Z",
    "UCT",
    "Universal",
    "Zulu",
    "Greenwich",
    "GMT0",
    "GMT+0",
    "GMT-0",
    "Etc/UTC",
    "Etc/GMT",
    "Etc/UCT",
    "Etc/Universal",
    "Etc/Zulu",
    "Etc/GMT0",
];

/// The columns the import reads.
#[derive(Debug)]
struct Columns {
    bucket: StringColumn,
    key: StringColumn,
    size: IntColumn,
    last_modified: IntColumn,
    /// Whether `last_modified` is an ORC `timestamp`, counted from the writer's wall
    /// clock (rather than `timestamp with local time zone`, or milliseconds).
    wall_clock_time: bool,
    etag: StringColumn,
    version_id: Option<StringColumn>,
    is_latest: Option<BoolColumn>,
    is_delete_marker: Option<BoolColumn>,
    storage_class: Option<StringColumn>,
}

impl Columns {
    fn load(&mut self, file: &mut OrcFile, stripe: &Stripe) -> Result<(), OrcError> {
        if self.wall_clock_time {
            let zone = stripe.footer.writer_timezone.as_deref().unwrap_or_default();
            let utc = UTC_ZONES.iter().any(|z| z.eq_ignore_ascii_case(zone));
            if !utc {
                return Err(malformed(format!(
                    "its timestamps are written in time zone {zone:?}; only UTC is read (S3 Inventory writes UTC)"
                )));
            }
        }
        self.bucket.load(file, stripe)?;
        self.key.load(file, stripe)?;
        self.size.load(file, stripe)?;
        self.last_modified.load(file, stripe)?;
        self.etag.load(file, stripe)?;
        for column in [&mut self.version_id, &mut self.storage_class]
            .into_iter()
            .flatten()
        {
            column.load(file, stripe)?;
        }
        for column in [&mut self.is_latest, &mut self.is_delete_marker]
            .into_iter()
            .flatten()
        {
            column.load(file, stripe)?;
        }
        Ok(())
    }

    fn read(&mut self, n: usize) -> Result<(), OrcError> {
        self.bucket.read(n)?;
        self.key.read(n)?;
        self.size.read(n)?;
        self.last_modified.read(n)?;
        self.etag.read(n)?;
        for column in [&mut self.version_id, &mut self.storage_class]
            .into_iter()
            .flatten()
        {
            column.read(n)?;
        }
        for column in [&mut self.is_latest, &mut self.is_delete_marker]
            .into_iter()
            .flatten()
        {
            column.read(n)?;
        }
        Ok(())
    }
}

/// Streams the entries of one ORC data file on local disk.
pub struct OrcFileReader {
    file: String,
    expected_bucket: Option<String>,
    orc: OrcFile,
    columns: Columns,
    next_stripe: usize,
    /// Rows of the current stripe not yet decoded.
    stripe_rows_left: u64,
    rows_read: u64,
    total_rows: u64,
    text_bytes: u64,
    key_statistics: Vec<(String, String)>,
    /// Set after an error: the reader then ends.
    failed: bool,
}

impl std::fmt::Debug for OrcFileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrcFileReader")
            .field("file", &self.file)
            .field("rows_read", &self.rows_read)
            .finish()
    }
}

impl OrcFileReader {
    /// Opens `path` (named `file` in errors), reads its tail and checks its schema:
    /// the root struct must have the required columns, by name in any case, each of a
    /// type the import can read. When `expected_bucket` is given every row must name
    /// it.
    pub fn open(
        path: &Path,
        file: &str,
        expected_bucket: Option<&str>,
    ) -> Result<Self, InventoryError> {
        let handle = File::open(path).map_err(|source| InventoryError::Io {
            file: file.to_string(),
            source,
        })?;
        let orc = OrcFile::open(handle).map_err(|err| error(file, err))?;
        let columns = resolve_columns(file, &orc)?;
        let total_rows = orc.footer.number_of_rows.unwrap_or(0);
        let text_bytes = text_bytes(&orc, &columns);
        let key_statistics = key_statistics(&orc, columns.key.id());
        Ok(Self {
            file: file.to_string(),
            expected_bucket: expected_bucket.map(str::to_string),
            orc,
            columns,
            next_stripe: 0,
            stripe_rows_left: 0,
            rows_read: 0,
            total_rows,
            text_bytes,
            key_statistics,
            failed: false,
        })
    }

    /// The least and greatest key of each stripe, in stripe order, from the file's
    /// stripe statistics; empty unless the file records them for every stripe. They
    /// are bounds: a writer may shorten a long least key to a prefix of it.
    pub fn key_statistics(&self) -> Vec<(String, String)> {
        self.key_statistics.clone()
    }

    /// Decodes the next batch of the current stripe, moving to the next stripe when
    /// one ends; `None` at the end of the file.
    fn decode_batch(&mut self) -> Option<Result<usize, OrcError>> {
        while self.stripe_rows_left == 0 {
            let index = self.next_stripe;
            if index >= self.orc.footer.stripes.len() {
                return None;
            }
            self.next_stripe += 1;
            let loaded = self.orc.stripe(index).and_then(|stripe| {
                self.columns.load(&mut self.orc, &stripe)?;
                Ok(stripe.rows)
            });
            match loaded {
                Ok(rows) => self.stripe_rows_left = rows,
                Err(err) => return Some(Err(err)),
            }
        }
        let n = self.stripe_rows_left.min(BATCH_ROWS as u64) as usize;
        self.stripe_rows_left -= n as u64;
        Some(self.columns.read(n).map(|()| n))
    }

    fn visit(
        &self,
        rows: usize,
        mut keep: impl FnMut(InventoryRow<'_>),
    ) -> Result<SkipCounts, InventoryError> {
        let c = &self.columns;
        let file = self.file.as_str();
        let mut skipped = SkipCounts::default();
        for row in 0..rows {
            let row_number = self.rows_read + row as u64;
            if let Some(expected) = &self.expected_bucket {
                let found = c.bucket.get(row).unwrap_or_default();
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
            if c.is_latest.as_ref().and_then(|col| col.get(row)) == Some(false) {
                skipped.noncurrent_version += 1;
                continue;
            }
            if c.is_delete_marker.as_ref().and_then(|col| col.get(row)) == Some(true) {
                skipped.delete_marker += 1;
                continue;
            }
            let (Some(size), Some(last_modified_ms), Some(etag)) =
                (c.size.get(row), c.last_modified.get(row), c.etag.text(row))
            else {
                skipped.incomplete_row += 1;
                continue;
            };
            let Some(Ok(key)) = c.key.text(row) else {
                return Err(InventoryError::InvalidKey {
                    file: file.to_string(),
                    row: row_number,
                });
            };
            keep(InventoryRow {
                key,
                version_id: c
                    .version_id
                    .as_ref()
                    .and_then(|col| col.text(row))
                    .filter(|v| !matches!(v, Ok("" | "null")))
                    .map(lossy),
                size: size.max(0) as u64,
                etag: lossy(etag),
                last_modified_ms,
                storage_class: c
                    .storage_class
                    .as_ref()
                    .and_then(|col| col.text(row))
                    .map(lossy),
            });
        }
        Ok(skipped)
    }
}

impl DataFileReader for OrcFileReader {
    /// Rows in the file, from its footer.
    fn total_rows(&self) -> u64 {
        self.total_rows
    }

    /// The total length of the file's keys, ETags and version ids, from its column
    /// statistics; never more than 16 times the file.
    fn text_bytes(&self) -> u64 {
        self.text_bytes
    }

    /// Stripes in the file, from its footer.
    fn row_groups(&self) -> usize {
        self.orc.footer.stripes.len()
    }

    /// Decodes the next row batch and hands each row to import to `keep`, borrowed
    /// from the batch; returns the batch's row count and the rows it skipped, or
    /// `None` at the end of the file (and after an error).
    fn next_rows(
        &mut self,
        keep: impl FnMut(InventoryRow<'_>),
    ) -> Option<Result<(u64, SkipCounts), InventoryError>> {
        if self.failed {
            return None;
        }
        let rows = match self.decode_batch()? {
            Ok(rows) => rows,
            Err(err) => {
                self.failed = true;
                return Some(Err(error(&self.file, err)));
            }
        };
        let skipped = self.visit(rows, keep);
        self.rows_read += rows as u64;
        if skipped.is_err() {
            self.failed = true;
        }
        Some(skipped.map(|skipped| (rows as u64, skipped)))
    }
}

fn error(file: &str, err: OrcError) -> InventoryError {
    match err {
        OrcError::Malformed(reason) => InventoryError::Corrupt {
            file: file.to_string(),
            format: DataFormat::Orc,
            reason,
        },
        OrcError::Io(source) => InventoryError::Io {
            file: file.to_string(),
            source,
        },
    }
}

/// Finds the columns the import reads among the root struct's fields and checks
/// their types.
fn resolve_columns(file: &str, orc: &OrcFile) -> Result<Columns, InventoryError> {
    let corrupt = |reason: String| error(file, OrcError::Malformed(reason));
    let types = &orc.footer.types;
    let root = types
        .first()
        .ok_or_else(|| corrupt("its footer lists no types".into()))?;
    if root.kind != Some(TypeKind::Struct as i32) {
        return Err(corrupt("its root type is not a struct".into()));
    }
    if root.field_names.len() != root.subtypes.len() {
        return Err(corrupt(format!(
            "its root struct names {} fields but has {}",
            root.field_names.len(),
            root.subtypes.len()
        )));
    }
    let names: Vec<String> = root
        .field_names
        .iter()
        .map(|name| name.to_ascii_lowercase())
        .collect();
    let missing = missing_columns(names.iter().map(String::as_str));
    if !missing.is_empty() {
        return Err(InventoryError::MissingColumns {
            file: file.to_string(),
            missing,
        });
    }
    // The column id and type of a field, when the struct has it.
    let field = |name: &str| -> Result<Option<(u32, TypeKind)>, InventoryError> {
        let Some(position) = names.iter().position(|n| n == name) else {
            return Ok(None);
        };
        let id = root.subtypes.get(position).copied().unwrap_or(0);
        let kind = types
            .get(id as usize)
            .filter(|_| id != 0)
            .and_then(|t| TypeKind::try_from(t.kind.unwrap_or_default()).ok())
            .ok_or_else(|| corrupt(format!("column {name} has no known type")))?;
        check_type(file, name, kind)?;
        Ok(Some((id, kind)))
    };
    let string =
        |name: &str| Ok::<_, InventoryError>(field(name)?.map(|(id, _)| StringColumn::new(id)));
    let boolean =
        |name: &str| Ok::<_, InventoryError>(field(name)?.map(|(id, _)| BoolColumn::new(id)));
    let required = |column: Option<StringColumn>| column.unwrap_or_else(|| StringColumn::new(0));
    let (size_id, _) = field("size")?.unwrap_or((0, TypeKind::Long));
    let (time_id, time_kind) = field("last_modified_date")?.unwrap_or((0, TypeKind::Long));
    let time = match time_kind {
        TypeKind::Timestamp | TypeKind::TimestampInstant => IntKind::Timestamp,
        _ => IntKind::Plain,
    };
    Ok(Columns {
        bucket: required(string("bucket")?),
        key: required(string("key")?),
        size: IntColumn::new(size_id, IntKind::Plain),
        last_modified: IntColumn::new(time_id, time),
        wall_clock_time: time_kind == TypeKind::Timestamp,
        etag: required(string("e_tag")?),
        version_id: string("version_id")?,
        is_latest: boolean("is_latest")?,
        is_delete_marker: boolean("is_delete_marker")?,
        storage_class: string("storage_class")?,
    })
}

fn check_type(file: &str, column: &str, found: TypeKind) -> Result<(), InventoryError> {
    let (ok, expected) = match column {
        "size" => (
            matches!(found, TypeKind::Long | TypeKind::Int | TypeKind::Short),
            "an integer",
        ),
        "last_modified_date" => (
            matches!(
                found,
                TypeKind::Timestamp | TypeKind::TimestampInstant | TypeKind::Long
            ),
            "a timestamp",
        ),
        "is_latest" | "is_delete_marker" => (found == TypeKind::Boolean, "a boolean"),
        _ => (
            matches!(
                found,
                TypeKind::String | TypeKind::Varchar | TypeKind::Char | TypeKind::Binary
            ),
            "a string",
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(InventoryError::ColumnType {
            file: file.to_string(),
            column: column.to_string(),
            found: found.schema_name().to_string(),
            expected,
        })
    }
}

/// The total length the footer's statistics give for the key, ETag and version id
/// columns, capped: a damaged footer must not make a reader reserve more than the
/// file could hold.
fn text_bytes(orc: &OrcFile, columns: &Columns) -> u64 {
    let ids = [
        Some(columns.key.id()),
        Some(columns.etag.id()),
        columns.version_id.as_ref().map(StringColumn::id),
    ];
    let total = ids
        .into_iter()
        .flatten()
        .filter_map(|id| orc.footer.statistics.get(id as usize))
        .filter_map(|stats| stats.string_statistics.as_ref()?.sum)
        .fold(0u64, |total, sum| total.saturating_add(sum.max(0) as u64));
    total.min(orc.len().saturating_mul(16))
}

/// Each stripe's least and greatest key, when the stripe statistics give them for
/// every stripe (and the writer is one whose string statistics are UTF-8).
fn key_statistics(orc: &OrcFile, key: u32) -> Vec<(String, String)> {
    let Some(metadata) = orc.metadata.as_ref().filter(|_| orc.writer_version >= 1) else {
        return Vec::new();
    };
    if metadata.stripe_stats.len() != orc.footer.stripes.len() {
        return Vec::new();
    }
    let bounds: Option<Vec<(String, String)>> = metadata
        .stripe_stats
        .iter()
        .map(|stripe| {
            let stats = stripe
                .col_stats
                .get(key as usize)?
                .string_statistics
                .as_ref()?;
            let min = stats.minimum.as_ref().or(stats.lower_bound.as_ref())?;
            let max = stats.maximum.as_ref().or(stats.upper_bound.as_ref())?;
            Some((min.clone(), max.clone()))
        })
        .collect();
    bounds.unwrap_or_default()
}

/// Values other than keys are kept even when not UTF-8, with U+FFFD in place.
fn lossy<'a>(text: Result<&'a str, &'a [u8]>) -> std::borrow::Cow<'a, str> {
    match text {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(bytes) => String::from_utf8_lossy(bytes),
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::proto::{Footer, PostScript};
    use super::streams::{Compression, Decompressor};
    use super::*;
    use crate::reader::{InventoryEntry, ParquetFileReader};

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/aws-inventory")
            .join(name)
    }

    /// Every batch of a reader, or its first error.
    fn read_all(
        reader: &mut impl DataFileReader,
    ) -> Result<(Vec<InventoryEntry>, SkipCounts, u64), InventoryError> {
        let mut entries = Vec::new();
        let mut skipped = SkipCounts::default();
        let mut rows = 0;
        while let Some(batch) = reader.next_batch() {
            let batch = batch?;
            entries.extend(batch.entries);
            skipped.add(&batch.skipped);
            rows += batch.rows;
        }
        Ok((entries, skipped, rows))
    }

    /// Opens `bytes` as an ORC data file and reads it all.
    fn read_bytes(bytes: &[u8]) -> Result<(Vec<InventoryEntry>, SkipCounts, u64), InventoryError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.orc");
        std::fs::write(&path, bytes).unwrap();
        let mut reader = OrcFileReader::open(&path, "data.orc", None)?;
        read_all(&mut reader)
    }

    /// The fixture with its footer changed by `edit`, stored uncompressed.
    fn with_footer(edit: impl FnOnce(&mut Footer)) -> Vec<u8> {
        let bytes = std::fs::read(fixture("orc_inventory.orc")).unwrap();
        let ps_len = usize::from(*bytes.last().unwrap());
        let ps_start = bytes.len() - 1 - ps_len;
        let mut postscript = PostScript::decode(&bytes[ps_start..bytes.len() - 1]).unwrap();
        let footer_len = postscript.footer_length.unwrap() as usize;
        let footer_start = ps_start - footer_len;
        let mut footer = Vec::new();
        Decompressor::new()
            .decompress(
                Compression::Zlib {
                    block_size: 262_144,
                },
                &bytes[footer_start..ps_start],
                &mut footer,
            )
            .unwrap();
        let mut footer = Footer::decode(footer.as_slice()).unwrap();
        edit(&mut footer);
        let footer = footer.encode_to_vec();
        let mut out = bytes[..footer_start].to_vec();
        let header = ((footer.len() as u32) << 1) | 1;
        out.extend_from_slice(&header.to_le_bytes()[..3]);
        out.extend_from_slice(&footer);
        postscript.footer_length = Some(footer.len() as u64 + 3);
        let postscript = postscript.encode_to_vec();
        out.extend_from_slice(&postscript);
        out.push(postscript.len() as u8);
        out
    }

    #[test]
    fn reads_the_orc_file_aws_wrote() {
        let path = fixture("orc_inventory.orc");
        let mut reader = OrcFileReader::open(
            &path,
            "orc_inventory.orc",
            Some("filemanager-inventory-test"),
        )
        .unwrap();
        assert_eq!(reader.total_rows(), 5);
        assert_eq!(reader.row_groups(), 1);
        // key (91 bytes), e_tag (4 × 32: the delete marker has none) and version_id
        // (3 × 32).
        assert_eq!(reader.text_bytes(), 91 + 4 * 32 + 3 * 32);
        assert_eq!(
            reader.key_statistics(),
            [(
                "inventory-test/".to_string(),
                "inventory-test/key2".to_string()
            )]
        );
        let (entries, skipped, rows) = read_all(&mut reader).unwrap();
        assert_eq!(rows, 5);
        assert_eq!(
            skipped,
            SkipCounts {
                noncurrent_version: 2,
                delete_marker: 1,
                incomplete_row: 0,
                outside_prefix: 0,
            }
        );
        let keys: Vec<(&str, Option<&str>, u64, &str)> = entries
            .iter()
            .map(|e| {
                (
                    e.key.as_str(),
                    e.version_id.as_deref(),
                    e.size,
                    e.etag.as_str(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                (
                    "inventory-test/",
                    None,
                    0,
                    "d41d8cd98f00b204e9800998ecf8427e"
                ),
                (
                    "inventory-test/key1",
                    Some("tpinzcbxOfWpZsmjvVgdHEvSohsY4TA0"),
                    5,
                    "d8e8fca2dc0f896fd7cb4cb0031ba249"
                ),
            ]
        );

        // The same rows as the Parquet file AWS wrote, to the millisecond.
        let mut parquet = ParquetFileReader::open(
            &fixture("parquet_inventory.parquet"),
            "parquet_inventory.parquet",
            Some("filemanager-inventory-test"),
        )
        .unwrap();
        let (parquet_entries, parquet_skipped, _) = read_all(&mut parquet).unwrap();
        assert_eq!(entries, parquet_entries);
        assert_eq!(skipped, parquet_skipped);
        assert_eq!(entries[0].last_modified_ms, 1_715_035_068_000);
        assert_eq!(entries[1].last_modified_ms, 1_715_035_462_000);
    }

    #[test]
    fn every_row_must_name_the_source_bucket() {
        let path = fixture("orc_inventory.orc");
        let mut reader = OrcFileReader::open(&path, "orc_inventory.orc", Some("other")).unwrap();
        let err = read_all(&mut reader).unwrap_err();
        assert_eq!(
            err.to_string(),
            "data file orc_inventory.orc: row 0 lists bucket \"filemanager-inventory-test\", but the manifest's source bucket is \"other\""
        );
    }

    #[test]
    fn a_missing_required_column_is_named() {
        let bytes = with_footer(|footer| {
            let names = &mut footer.types[0].field_names;
            for name in names.iter_mut().filter(|n| *n == "e_tag" || *n == "size") {
                name.push_str("_renamed");
            }
        });
        let err = read_bytes(&bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "data file data.orc lacks required column(s) size, e_tag"
        );
        // The footer rewrite itself reads: only the names changed.
        let (entries, _, _) = read_bytes(&with_footer(|_| ())).unwrap();
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn column_names_match_in_any_case_and_types_are_checked() {
        let bytes = with_footer(|footer| {
            for name in &mut footer.types[0].field_names {
                *name = name.to_uppercase();
            }
        });
        let (entries, _, _) = read_bytes(&bytes).unwrap();
        assert_eq!(entries.len(), 2);

        // Column 6 is `size`.
        let bytes = with_footer(|footer| footer.types[6].kind = Some(TypeKind::String as i32));
        let err = read_bytes(&bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "data file data.orc: column size has type string, expected an integer"
        );
    }

    #[test]
    fn a_truncated_file_is_corrupt() {
        let bytes = std::fs::read(fixture("orc_inventory.orc")).unwrap();
        let err = read_bytes(&bytes[..bytes.len() - 100]).unwrap_err();
        assert!(
            matches!(
                &err,
                InventoryError::Corrupt {
                    format: DataFormat::Orc,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("data file data.orc is not a readable ORC file: "),
            "{err}"
        );
        let err = read_bytes(&bytes[..2]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "data file data.orc is not a readable ORC file: the file is 2 bytes long, too short to be ORC"
        );
        let err = read_bytes(b"PAR1 not an orc file at all").unwrap_err();
        assert_eq!(
            err.to_string(),
            "data file data.orc is not a readable ORC file: the file does not start with ORC's magic bytes"
        );
    }

    /// Damages the file at `path`, holding `bytes`, one byte at a time (each byte
    /// flipped in turn by each of `flips`) and then by cutting it ever shorter; calls
    /// `check` on each damaged file. The file is changed in place, never rewritten
    /// whole, so that this stays quick on any file system.
    fn damage_in_place(path: &Path, bytes: &[u8], flips: &[u8], mut check: impl FnMut()) {
        use std::io::{Seek, SeekFrom, Write};

        std::fs::write(path, bytes).unwrap();
        let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        let mut put = |position: usize, byte: u8| {
            file.seek(SeekFrom::Start(position as u64)).unwrap();
            file.write_all(&[byte]).unwrap();
        };
        for (position, byte) in bytes.iter().enumerate() {
            for flip in flips {
                put(position, byte ^ flip);
                check();
            }
            put(position, *byte);
        }
        for end in (0..bytes.len()).rev() {
            file.set_len(end as u64).unwrap();
            check();
        }
    }

    #[test]
    fn damaged_files_are_errors_never_panics() {
        let bytes = std::fs::read(fixture("orc_inventory.orc")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.orc");
        let mut outcomes = [0usize; 2];
        damage_in_place(&path, &bytes, &[0x01, 0x80, 0xff], || {
            let read = OrcFileReader::open(&path, "data.orc", None)
                .and_then(|mut reader| read_all(&mut reader));
            outcomes[usize::from(read.is_ok())] += 1;
        });
        // Many damaged bytes are in streams the import does not read, or in
        // statistics; the others fail cleanly.
        assert!(outcomes[0] > bytes.len(), "{outcomes:?}");
        assert!(outcomes[1] > 0, "{outcomes:?}");
    }
}
