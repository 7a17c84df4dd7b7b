//! The Parquet files of ranges and metaranges: their schemas, how they are encoded,
//! decoded and hashed into ids.

use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, Int64Builder, StringBuilder, TimestampMillisecondBuilder, UInt64Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType, UInt64Type};
use arrow_array::{
    Array, ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};

use inventory_base::location::{S3Url, is_bucket_name};
use inventory_base::storage_class::storage_class;

use super::entry::{
    Address, Entry, EntryRef, IMPORTED_SCHEME, ObjectIdentity, imported_address, imported_bucket,
};
use super::error::TreeError;
use super::ranges::RangeInfo;

/// A range's file, fetched but not decoded.
pub struct RangeFile {
    pub(super) url: S3Url,
    pub(super) bytes: Bytes,
}

impl RangeFile {
    /// Decodes every entry.
    pub fn entries(self) -> Result<Vec<Entry>, TreeError> {
        decode_range(self.bytes).map_err(|reason| TreeError::Damaged {
            file: self.url,
            reason,
        })
    }

    /// Decodes only the paths and the columns of their [`ObjectIdentity`], in path
    /// order; checks that every entry has them.
    pub fn identities(self) -> Result<Vec<IdentityBatch>, TreeError> {
        let RangeFile { url, bytes } = self;
        let damaged = |reason: String| TreeError::Damaged {
            file: url.clone(),
            reason,
        };
        let batches = read_batches(bytes, &range_schema(), &IDENTITY_COLUMNS, ADDRESS_BUCKET)
            .map_err(damaged)?;
        let mut decoded = Vec::with_capacity(batches.len());
        for batch in &batches {
            let c = batch.columns();
            let strings = |i: usize, name: &str| {
                c[i].as_string_opt::<i32>()
                    .cloned()
                    .ok_or_else(|| damaged(format!("{name} is not a string column")))
            };
            let identities = IdentityBatch {
                paths: strings(0, "path")?,
                addresses: strings(1, "address")?,
                versions: strings(2, "version_id")?,
                sizes: c[3]
                    .as_primitive_opt::<Int64Type>()
                    .cloned()
                    .ok_or_else(|| damaged("size is not int64".into()))?,
                etags: strings(4, "etag")?,
                buckets: c.get(5).map(|_| strings(5, "address_bucket")).transpose()?,
            };
            let required = [(&identities.paths, "path"), (&identities.etags, "etag")];
            if let Some((_, name)) = required.iter().find(|(a, _)| a.null_count() > 0) {
                return Err(damaged(format!("{name} is null")));
            }
            if (0..identities.len()).any(|row| identities.address(row).is_none()) {
                return Err(damaged("address is null".into()));
            }
            decoded.push(identities);
        }
        Ok(decoded)
    }
}

/// A decoded batch of a range's paths and the columns of their [`ObjectIdentity`].
pub struct IdentityBatch {
    paths: StringArray,
    addresses: StringArray,
    versions: StringArray,
    sizes: Int64Array,
    etags: StringArray,
    /// Absent in ranges written before it existed.
    buckets: Option<StringArray>,
}

impl IdentityBatch {
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The path of entry `row`; `row` must be below [`len`](Self::len).
    pub fn path(&self, row: usize) -> &str {
        self.paths.value(row)
    }

    /// Where entry `row`'s bytes are: `None` when the range holds neither an address
    /// nor a bucket for it (checked before a batch is visited).
    fn address(&self, row: usize) -> Option<Address<'_>> {
        if self.addresses.is_valid(row) {
            return Some(Address::Url(self.addresses.value(row)));
        }
        let buckets = self
            .buckets
            .as_ref()
            .filter(|buckets| buckets.is_valid(row))?;
        Some(Address::Imported {
            bucket: buckets.value(row),
            key: self.path(row),
        })
    }

    /// What entry `row` names; `row` must be below [`len`](Self::len).
    pub fn identity(&self, row: usize) -> ObjectIdentity<'_> {
        ObjectIdentity {
            address: self.address(row).unwrap_or(Address::Url("")),
            version_id: self
                .versions
                .is_valid(row)
                .then(|| self.versions.value(row)),
            size: self.sizes.value(row).max(0) as u64,
            etag: self.etags.value(row),
        }
    }
}

/// A field as [`RangeArrays::id`] and [`metarange_id`] hash it: its length (8 bytes, little-endian), then its bytes.
fn put_field(block: &mut Vec<u8>, field: &[u8]) {
    block.extend_from_slice(&(field.len() as u64).to_le_bytes());
    block.extend_from_slice(field);
}

/// An optional field: 0 when absent; 1, then the field, when present.
fn put_optional_field(block: &mut Vec<u8>, field: Option<&str>) {
    match field {
        Some(value) => {
            block.push(1);
            put_field(block, value.as_bytes());
        }
        None => block.push(0),
    }
}

/// The id of a metarange: SHA-256 over its ranges' ids and bounds.
pub fn metarange_id(ranges: &[RangeInfo]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"metarange/v1");
    let mut block = Vec::new();
    for r in ranges {
        put_field(&mut block, r.id.as_bytes());
        put_field(&mut block, r.min_path.as_bytes());
        put_field(&mut block, r.max_path.as_bytes());
        block.extend_from_slice(&r.entries.to_le_bytes());
    }
    hasher.update(&block);
    hex::encode(hasher.finalize())
}

/// The columns of a range file, and those a path and its [`ObjectIdentity`] are read
/// from (`path`, `address`, `version_id`, `size`, `etag`, `address_bucket`).
const RANGE_COLUMNS: [usize; 8] = [0, 1, 2, 3, 4, 5, 6, 7];
const IDENTITY_COLUMNS: [usize; 6] = [0, 1, 2, 3, 4, 7];
const METARANGE_COLUMNS: [usize; 5] = [0, 1, 2, 3, 4];
/// The range column added after the first ranges were written: `address_bucket`.
const ADDRESS_BUCKET: usize = 7;

fn range_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        // Null when the address is `s3://{address_bucket}/{path}`.
        Field::new("address", DataType::Utf8, true),
        Field::new("version_id", DataType::Utf8, true),
        Field::new("size", DataType::Int64, false),
        Field::new("etag", DataType::Utf8, false),
        Field::new(
            "last_modified",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("storage_class", DataType::Utf8, true),
        Field::new("address_bucket", DataType::Utf8, true),
    ]))
}

fn metarange_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("range_id", DataType::Utf8, false),
        Field::new("min_path", DataType::Utf8, false),
        Field::new("max_path", DataType::Utf8, false),
        Field::new("entries", DataType::UInt64, false),
        Field::new("bytes", DataType::UInt64, false),
    ]))
}

pub(super) fn write_parquet(schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<Bytes, String> {
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())?;
    // Paths, addresses, ETags and version ids are all distinct: dictionaries would
    // only be built to be dropped. Storage classes and buckets repeat and keep theirs.
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_dictionary_enabled(false)
        .set_column_dictionary_enabled("storage_class".into(), true)
        .set_column_dictionary_enabled("address_bucket".into(), true)
        .build();
    let options = ArrowWriterOptions::new().with_properties(properties);
    let mut out = Vec::new();
    let mut writer =
        ArrowWriter::try_new_with_options(&mut out, schema, options).map_err(|e| e.to_string())?;
    writer.write(&batch).map_err(|e| e.to_string())?;
    writer.close().map_err(|e| e.to_string())?;
    Ok(Bytes::from(out))
}

/// The range being filled, column by column as its file stores them: each entry is
/// copied once, into the arrays the file is written from.
pub(super) struct RangeColumns {
    path: StringBuilder,
    address: StringBuilder,
    version_id: StringBuilder,
    size: Int64Builder,
    etag: StringBuilder,
    modified: TimestampMillisecondBuilder,
    storage_class: StringBuilder,
    address_bucket: StringBuilder,
    /// The entries' approximate size, for [`RangeInfo::bytes`].
    pub(super) bytes: u64,
}

impl RangeColumns {
    /// Room for `rows` entries whose paths take `path_bytes` in all.
    pub(super) fn with_capacity(rows: usize, path_bytes: usize) -> Self {
        let text = |bytes: usize| StringBuilder::with_capacity(rows, bytes);
        Self {
            path: text(path_bytes),
            // Addresses other than an import's, and version ids, are grown as they come.
            address: text(0),
            version_id: text(0),
            size: Int64Builder::with_capacity(rows),
            etag: text(rows * 32),
            modified: TimestampMillisecondBuilder::with_capacity(rows).with_timezone("UTC"),
            storage_class: text(rows * 8),
            address_bucket: text(rows * 16),
            bytes: 0,
        }
    }

    /// Room for as many entries, and as many path bytes, as `other` holds.
    pub(super) fn with_room_of(other: &RangeColumns) -> Self {
        Self::with_capacity(other.len(), other.path.values_slice().len())
    }

    pub(super) fn len(&self) -> usize {
        self.path.len()
    }

    /// The path of the last entry pushed (a path's bytes order as the path does).
    pub(super) fn last_path(&self) -> Option<&[u8]> {
        let offsets = self.path.offsets_slice();
        let [.., start, end] = offsets else {
            return None;
        };
        self.path
            .values_slice()
            .get(usize::try_from(*start).ok()?..usize::try_from(*end).ok()?)
    }

    pub(super) fn push(&mut self, entry: &EntryRef<'_>) -> Result<(), TreeError> {
        let size = i64::try_from(entry.size).map_err(|_| TreeError::TooLarge {
            path: entry.path.to_string(),
            size: entry.size,
        })?;
        self.path.append_value(entry.path);
        let bucket = match entry.address {
            Address::Imported { bucket, key } => {
                (key == entry.path && is_bucket_name(bucket)).then_some(bucket)
            }
            Address::Url(url) => imported_bucket(url, entry.path),
        };
        match (bucket, entry.address) {
            (Some(bucket), _) => {
                self.address.append_null();
                self.address_bucket.append_value(bucket);
            }
            (None, Address::Url(url)) => {
                self.address.append_value(url);
                self.address_bucket.append_null();
            }
            (None, Address::Imported { bucket, key }) => {
                self.address.append_value(imported_address(bucket, key));
                self.address_bucket.append_null();
            }
        }
        self.version_id.append_option(entry.version_id);
        self.size.append_value(size);
        self.etag.append_value(entry.etag);
        self.modified.append_value(entry.last_modified_ms);
        self.storage_class.append_option(entry.storage_class);
        self.bytes += entry.approximate_bytes();
        Ok(())
    }

    pub(super) fn finish(mut self) -> RangeArrays {
        RangeArrays {
            path: self.path.finish(),
            address: self.address.finish(),
            version_id: self.version_id.finish(),
            size: self.size.finish(),
            etag: self.etag.finish(),
            modified: self.modified.finish(),
            storage_class: self.storage_class.finish(),
            address_bucket: self.address_bucket.finish(),
        }
    }
}

/// A closed range's columns, as its file stores them.
pub(super) struct RangeArrays {
    pub(super) path: StringArray,
    /// Null when the address is `s3://{address_bucket}/{path}`.
    address: StringArray,
    version_id: StringArray,
    size: Int64Array,
    etag: StringArray,
    modified: TimestampMillisecondArray,
    storage_class: StringArray,
    address_bucket: StringArray,
}

impl RangeArrays {
    /// The range's id: SHA-256 over its entries, each field length-prefixed, every
    /// address whole.
    pub(super) fn id(&self) -> String {
        // The fields are laid out in a buffer and hashed a block at a time: a call to
        // the hasher per field cost about as much as the hashing itself.
        const BLOCK: usize = 64 * 1024;
        fn optional(column: &StringArray, row: usize) -> Option<&str> {
            column.is_valid(row).then(|| column.value(row))
        }
        let mut hasher = Sha256::new();
        hasher.update(b"range/v1");
        let mut block: Vec<u8> = Vec::with_capacity(BLOCK + 4096);
        for row in 0..self.path.len() {
            let path = self.path.value(row);
            put_field(&mut block, path.as_bytes());
            match optional(&self.address, row) {
                Some(address) => put_field(&mut block, address.as_bytes()),
                None => {
                    let bucket = self.address_bucket.value(row);
                    let length = IMPORTED_SCHEME.len() + bucket.len() + 1 + path.len();
                    block.extend_from_slice(&(length as u64).to_le_bytes());
                    for part in [IMPORTED_SCHEME, bucket, "/", path] {
                        block.extend_from_slice(part.as_bytes());
                    }
                }
            }
            put_optional_field(&mut block, optional(&self.version_id, row));
            block.extend_from_slice(&(self.size.value(row) as u64).to_le_bytes());
            put_field(&mut block, self.etag.value(row).as_bytes());
            block.extend_from_slice(&self.modified.value(row).to_le_bytes());
            put_optional_field(&mut block, optional(&self.storage_class, row));
            if block.len() >= BLOCK {
                hasher.update(&block);
                block.clear();
            }
        }
        hasher.update(&block);
        hex::encode(hasher.finalize())
    }

    pub(super) fn encode(&self) -> Result<Bytes, String> {
        write_parquet(
            range_schema(),
            vec![
                Arc::new(self.path.clone()),
                Arc::new(self.address.clone()),
                Arc::new(self.version_id.clone()),
                Arc::new(self.size.clone()),
                Arc::new(self.etag.clone()),
                Arc::new(self.modified.clone()),
                Arc::new(self.storage_class.clone()),
                Arc::new(self.address_bucket.clone()),
            ],
        )
    }
}

pub(super) fn encode_metarange(ranges: &[RangeInfo]) -> Result<Bytes, String> {
    let mut id = StringBuilder::new();
    let mut min = StringBuilder::new();
    let mut max = StringBuilder::new();
    let mut entries = UInt64Builder::new();
    let mut bytes = UInt64Builder::new();
    for r in ranges {
        id.append_value(&r.id);
        min.append_value(&r.min_path);
        max.append_value(&r.max_path);
        entries.append_value(r.entries);
        bytes.append_value(r.bytes);
    }
    write_parquet(
        metarange_schema(),
        vec![
            Arc::new(id.finish()),
            Arc::new(min.finish()),
            Arc::new(max.finish()),
            Arc::new(entries.finish()),
            Arc::new(bytes.finish()),
        ],
    )
}

/// Reads the columns numbered `wanted` (in order) of a range or metarange file,
/// checking their names against `expected`. Columns from `added_later` on that are past
/// the end of the file are left out: it was written before they existed. Any other
/// column missing makes the file damaged.
fn read_batches(
    bytes: Bytes,
    expected: &SchemaRef,
    wanted: &[usize],
    added_later: usize,
) -> Result<Vec<RecordBatch>, String> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| e.to_string())?;
    let columns = builder.parquet_schema().root_schema().get_fields().len();
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|&&i| i >= columns && i < added_later)
        .filter_map(|&i| expected.fields().get(i).map(|f| f.name().as_str()))
        .collect();
    if !missing.is_empty() {
        return Err(format!("missing column(s) {}", missing.join(", ")));
    }
    let present: Vec<usize> = wanted.iter().copied().filter(|&i| i < columns).collect();
    let projection = ProjectionMask::roots(builder.parquet_schema(), present.iter().copied());
    let reader = builder
        .with_projection(projection)
        .with_batch_size(65_536)
        .build()
        .map_err(|e| e.to_string())?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if let Some(batch) = batches.first() {
        let names: Vec<&String> = batch
            .schema_ref()
            .fields()
            .iter()
            .map(|f| f.name())
            .collect();
        let wanted: Vec<&String> = present
            .iter()
            .filter_map(|&i| expected.fields().get(i).map(|f| f.name()))
            .collect();
        if names != wanted {
            return Err(format!("unexpected columns {names:?}"));
        }
    }
    Ok(batches)
}

fn text(array: &ArrayRef, row: usize) -> Option<&str> {
    let strings = array.as_string_opt::<i32>()?;
    strings.is_valid(row).then(|| strings.value(row))
}

/// The text at `row` of column `name`, which must not be null.
fn required_text(array: &ArrayRef, row: usize, name: &str) -> Result<String, String> {
    text(array, row)
        .map(str::to_string)
        .ok_or_else(|| format!("{name} is null"))
}

pub(super) fn decode_range(bytes: Bytes) -> Result<Vec<Entry>, String> {
    let batches = read_batches(bytes, &range_schema(), &RANGE_COLUMNS, ADDRESS_BUCKET)?;
    let mut entries = Vec::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
    for batch in batches {
        let c = batch.columns();
        let sizes = c[3]
            .as_primitive_opt::<Int64Type>()
            .ok_or("size is not int64")?;
        let modified = c[5]
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or("last_modified is not a timestamp")?;
        let buckets = c
            .get(7)
            .map(|a| {
                a.as_string_opt::<i32>()
                    .ok_or("address_bucket is not a string column")
            })
            .transpose()?;
        for row in 0..batch.num_rows() {
            let path = required_text(&c[0], row, "path")?;
            let address = match text(&c[1], row) {
                Some(address) => address.to_string(),
                None => {
                    let bucket = buckets
                        .filter(|b| b.is_valid(row))
                        .ok_or("address is null")?
                        .value(row);
                    imported_address(bucket, &path)
                }
            };
            entries.push(Entry {
                path,
                address,
                version_id: text(&c[2], row).map(str::to_string),
                size: sizes.value(row).max(0) as u64,
                etag: required_text(&c[4], row, "etag")?,
                last_modified_ms: modified.value(row),
                storage_class: text(&c[6], row).map(storage_class),
            });
        }
    }
    Ok(entries)
}

pub(super) fn decode_metarange(bytes: Bytes) -> Result<Vec<RangeInfo>, String> {
    let mut ranges = Vec::new();
    for batch in read_batches(
        bytes,
        &metarange_schema(),
        &METARANGE_COLUMNS,
        METARANGE_COLUMNS.len(),
    )? {
        let c = batch.columns();
        let counts = c[3]
            .as_primitive_opt::<UInt64Type>()
            .ok_or("entries is not uint64")?;
        let sizes = c[4]
            .as_primitive_opt::<UInt64Type>()
            .ok_or("bytes is not uint64")?;
        for row in 0..batch.num_rows() {
            ranges.push(RangeInfo {
                id: required_text(&c[0], row, "range_id")?,
                min_path: required_text(&c[1], row, "min_path")?,
                max_path: required_text(&c[2], row, "max_path")?,
                entries: counts.value(row),
                bytes: sizes.value(row),
            });
        }
    }
    Ok(ranges)
}
