//! Writes S3-Inventory-shaped ORC data files, for tests and benchmarks of the ORC
//! reader: AWS's column names and types (`struct<bucket:string,key:string,
//! version_id:string,is_latest:boolean,is_delete_marker:boolean,size:bigint,
//! last_modified_date:timestamp,e_tag:string,storage_class:string>`, without the three
//! version columns for an unversioned bucket), ZLIB compression, DIRECT_V2 encodings
//! (DIRECT for booleans, the only one they have), a stripe per
//! [`OrcOptions::stripe_rows`] rows, and column statistics (string minimum, maximum
//! and total length among them) for each stripe and for the file. Columns can be left
//! out ([`OrcOptions::left_out`]), as an inventory configuration without those fields
//! gives; [`type_description`] is the matching `fileSchema` of the manifest.

use std::io::Write;

use flate2::write::DeflateEncoder;
use prost::Message;

use inventory_delivery::reader::orc_proto as proto;
use proto::{CompressionKind, EncodingKind, StreamKind, TypeKind};

/// Unix seconds of 2015-01-01T00:00:00Z, from which ORC counts a timestamp's seconds.
const ORC_EPOCH_SECONDS: i64 = 1_420_070_400;

/// The largest chunk a 3-byte chunk header can describe.
const MAX_BLOCK_SIZE: usize = (1 << 23) - 1;

/// One row of an inventory, as S3 Inventory lists an object version; `None` is a null.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrcRow {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
    pub is_latest: Option<bool>,
    pub is_delete_marker: Option<bool>,
    pub size: Option<i64>,
    /// Milliseconds since the Unix epoch.
    pub last_modified_ms: Option<i64>,
    pub e_tag: Option<String>,
    pub storage_class: Option<String>,
}

/// How [`write_orc`] lays out a file.
#[derive(Debug, Clone)]
pub struct OrcOptions {
    /// Rows per stripe (at least 1).
    pub stripe_rows: usize,
    /// Uncompressed bytes per ZLIB chunk (at most 8 MiB).
    pub block_size: usize,
    /// Whether the file has the version columns (`version_id`, `is_latest`,
    /// `is_delete_marker`), as the inventory of a versioned bucket does.
    pub versioned: bool,
    /// Columns not written, by name (`size`, `e_tag`, …), as in the files of an
    /// inventory configuration without those fields. None by default.
    pub left_out: Vec<String>,
}

impl Default for OrcOptions {
    fn default() -> Self {
        Self {
            stripe_rows: 100_000,
            block_size: 256 * 1024,
            versioned: true,
            left_out: Vec::new(),
        }
    }
}

/// The columns written, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Bucket,
    Key,
    VersionId,
    IsLatest,
    IsDeleteMarker,
    Size,
    LastModified,
    ETag,
    StorageClass,
}

impl Column {
    fn all(versioned: bool) -> Vec<Column> {
        use Column::*;
        if versioned {
            vec![
                Bucket,
                Key,
                VersionId,
                IsLatest,
                IsDeleteMarker,
                Size,
                LastModified,
                ETag,
                StorageClass,
            ]
        } else {
            vec![Bucket, Key, Size, LastModified, ETag, StorageClass]
        }
    }

    /// The columns a file written with `options` has, in file order.
    fn written(options: &OrcOptions) -> Vec<Column> {
        Column::all(options.versioned)
            .into_iter()
            .filter(|column| !options.left_out.iter().any(|name| name == column.name()))
            .collect()
    }

    fn name(self) -> &'static str {
        match self {
            Column::Bucket => "bucket",
            Column::Key => "key",
            Column::VersionId => "version_id",
            Column::IsLatest => "is_latest",
            Column::IsDeleteMarker => "is_delete_marker",
            Column::Size => "size",
            Column::LastModified => "last_modified_date",
            Column::ETag => "e_tag",
            Column::StorageClass => "storage_class",
        }
    }

    fn kind(self) -> TypeKind {
        match self {
            Column::IsLatest | Column::IsDeleteMarker => TypeKind::Boolean,
            Column::Size => TypeKind::Long,
            Column::LastModified => TypeKind::Timestamp,
            _ => TypeKind::String,
        }
    }

    /// The type's name in a type description.
    fn type_name(self) -> &'static str {
        match self.kind() {
            TypeKind::Boolean => "boolean",
            TypeKind::Long => "bigint",
            TypeKind::Timestamp => "timestamp",
            _ => "string",
        }
    }

    fn string(self, row: &OrcRow) -> Option<&str> {
        match self {
            Column::Bucket => Some(&row.bucket),
            Column::Key => Some(&row.key),
            Column::VersionId => row.version_id.as_deref(),
            Column::ETag => row.e_tag.as_deref(),
            Column::StorageClass => row.storage_class.as_deref(),
            _ => None,
        }
    }

    fn boolean(self, row: &OrcRow) -> Option<bool> {
        match self {
            Column::IsLatest => row.is_latest,
            Column::IsDeleteMarker => row.is_delete_marker,
            _ => None,
        }
    }

    fn integer(self, row: &OrcRow) -> Option<i64> {
        match self {
            Column::Size => row.size,
            Column::LastModified => row.last_modified_ms,
            _ => None,
        }
    }
}

/// The type description of the files [`write_orc`] writes with `options`, as the
/// manifest of an ORC inventory gives it in `fileSchema`:
/// `struct<bucket:string,key:string,…,size:bigint,last_modified_date:timestamp,…>`,
/// the columns written, in file order.
pub fn type_description(options: &OrcOptions) -> String {
    let fields: Vec<String> = Column::written(options)
        .into_iter()
        .map(|column| format!("{}:{}", column.name(), column.type_name()))
        .collect();
    format!("struct<{}>", fields.join(","))
}

/// Writes `rows` as an ORC file.
pub fn write_orc(rows: &[OrcRow], options: &OrcOptions) -> Vec<u8> {
    let columns = Column::written(options);
    let block_size = options.block_size.clamp(1, MAX_BLOCK_SIZE);
    let mut out = b"ORC".to_vec();
    let mut stripes = Vec::new();
    let mut stripe_stats = Vec::new();
    let mut file_stats: Vec<Statistics> =
        (0..=columns.len()).map(|_| Statistics::default()).collect();
    for chunk in rows.chunks(options.stripe_rows.max(1)) {
        let offset = out.len() as u64;
        let mut streams = Vec::new();
        let mut encodings = vec![encoding(EncodingKind::Direct)];
        let mut stats = vec![Statistics::default(); columns.len() + 1];
        stats[0].values = chunk.len() as u64;
        for (index, column) in columns.iter().enumerate() {
            let id = index as u32 + 1;
            let column_stats = &mut stats[id as usize];
            let mut add = |kind: StreamKind, bytes: Vec<u8>, out: &mut Vec<u8>| {
                let compressed = compress(&bytes, block_size);
                out.extend_from_slice(&compressed);
                streams.push(proto::Stream {
                    kind: Some(kind as i32),
                    column: Some(id),
                    length: Some(compressed.len() as u64),
                });
            };
            let present: Vec<bool> = chunk
                .iter()
                .map(|row| match column.kind() {
                    TypeKind::String => column.string(row).is_some(),
                    TypeKind::Boolean => column.boolean(row).is_some(),
                    _ => column.integer(row).is_some(),
                })
                .collect();
            if present.contains(&false) {
                add(StreamKind::Present, boolean_rle(&present), &mut out);
            }
            match column.kind() {
                TypeKind::String => {
                    let values: Vec<&str> = chunk.iter().filter_map(|r| column.string(r)).collect();
                    column_stats.add_strings(&values);
                    let lengths: Vec<i64> = values.iter().map(|v| v.len() as i64).collect();
                    add(StreamKind::Data, values.concat().into_bytes(), &mut out);
                    add(StreamKind::Length, rle_v2(&lengths, false), &mut out);
                    encodings.push(encoding(EncodingKind::DirectV2));
                }
                TypeKind::Boolean => {
                    let values: Vec<bool> =
                        chunk.iter().filter_map(|r| column.boolean(r)).collect();
                    column_stats.add_booleans(&values);
                    add(StreamKind::Data, boolean_rle(&values), &mut out);
                    encodings.push(encoding(EncodingKind::Direct));
                }
                TypeKind::Long => {
                    let values: Vec<i64> = chunk.iter().filter_map(|r| column.integer(r)).collect();
                    column_stats.add_integers(&values);
                    add(StreamKind::Data, rle_v2(&values, true), &mut out);
                    encodings.push(encoding(EncodingKind::DirectV2));
                }
                _ => {
                    let values: Vec<i64> = chunk.iter().filter_map(|r| column.integer(r)).collect();
                    column_stats.add_timestamps(&values);
                    let (seconds, nanos): (Vec<i64>, Vec<i64>) =
                        values.iter().map(|ms| orc_timestamp(*ms)).unzip();
                    add(StreamKind::Data, rle_v2(&seconds, true), &mut out);
                    add(StreamKind::Secondary, rle_v2(&nanos, false), &mut out);
                    encodings.push(encoding(EncodingKind::DirectV2));
                }
            }
            column_stats.values = present.iter().filter(|p| **p).count() as u64;
            column_stats.has_null = present.contains(&false);
        }
        let data_length = out.len() as u64 - offset;
        let footer = proto::StripeFooter {
            streams,
            columns: encodings,
            writer_timezone: Some("UTC".into()),
        };
        let footer = compress(&footer.encode_to_vec(), block_size);
        out.extend_from_slice(&footer);
        stripes.push(proto::StripeInformation {
            offset: Some(offset),
            index_length: Some(0),
            data_length: Some(data_length),
            footer_length: Some(footer.len() as u64),
            number_of_rows: Some(chunk.len() as u64),
        });
        for (file, stripe) in file_stats.iter_mut().zip(&stats) {
            file.merge(stripe);
        }
        stripe_stats.push(proto::StripeStatistics {
            col_stats: stats.iter().map(Statistics::to_proto).collect(),
        });
    }
    let content_length = out.len() as u64;

    let metadata = proto::Metadata { stripe_stats }.encode_to_vec();
    let metadata = compress(&metadata, block_size);
    out.extend_from_slice(&metadata);

    let mut types = vec![proto::Type {
        kind: Some(TypeKind::Struct as i32),
        subtypes: (1..=columns.len() as u32).collect(),
        field_names: columns.iter().map(|c| c.name().to_string()).collect(),
        ..Default::default()
    }];
    types.extend(columns.iter().map(|c| proto::Type {
        kind: Some(c.kind() as i32),
        ..Default::default()
    }));
    let footer = proto::Footer {
        header_length: Some(3),
        content_length: Some(content_length),
        stripes,
        types,
        number_of_rows: Some(rows.len() as u64),
        statistics: file_stats.iter().map(Statistics::to_proto).collect(),
        row_index_stride: Some(0),
        writer: None,
    };
    let footer = compress(&footer.encode_to_vec(), block_size);
    out.extend_from_slice(&footer);

    let postscript = proto::PostScript {
        footer_length: Some(footer.len() as u64),
        compression: Some(CompressionKind::Zlib as i32),
        compression_block_size: Some(block_size as u64),
        version: vec![0, 12],
        metadata_length: Some(metadata.len() as u64),
        // ORC-135: timestamp statistics are in UTC.
        writer_version: Some(6),
        magic: Some("ORC".into()),
    }
    .encode_to_vec();
    out.extend_from_slice(&postscript);
    out.push(postscript.len() as u8);
    out
}

fn encoding(kind: EncodingKind) -> proto::ColumnEncoding {
    proto::ColumnEncoding {
        kind: Some(kind as i32),
        dictionary_size: None,
    }
}

/// A column's statistics over a stripe or the file.
#[derive(Debug, Clone, Default)]
struct Statistics {
    values: u64,
    has_null: bool,
    strings: Option<(String, String, i64)>,
    integers: Option<(i64, i64, Option<i64>)>,
    trues: Option<u64>,
    timestamps: Option<(i64, i64)>,
}

impl Statistics {
    fn add_strings(&mut self, values: &[&str]) {
        let (Some(min), Some(max)) = (values.iter().min(), values.iter().max()) else {
            return;
        };
        let sum = values.iter().map(|v| v.len() as i64).sum();
        self.strings = Some((min.to_string(), max.to_string(), sum));
    }

    fn add_integers(&mut self, values: &[i64]) {
        let (Some(min), Some(max)) = (values.iter().min(), values.iter().max()) else {
            return;
        };
        let sum = values.iter().try_fold(0i64, |sum, v| sum.checked_add(*v));
        self.integers = Some((*min, *max, sum));
    }

    fn add_booleans(&mut self, values: &[bool]) {
        self.trues = Some(values.iter().filter(|v| **v).count() as u64);
    }

    fn add_timestamps(&mut self, values: &[i64]) {
        if let (Some(min), Some(max)) = (values.iter().min(), values.iter().max()) {
            self.timestamps = Some((*min, *max));
        }
    }

    fn merge(&mut self, other: &Statistics) {
        self.values += other.values;
        self.has_null |= other.has_null;
        self.strings = match (self.strings.take(), &other.strings) {
            (Some((min, max, sum)), Some((omin, omax, osum))) => Some((
                min.min(omin.clone()),
                max.max(omax.clone()),
                sum.saturating_add(*osum),
            )),
            (mine, theirs) => mine.or_else(|| theirs.clone()),
        };
        self.integers = match (self.integers, other.integers) {
            (Some((min, max, sum)), Some((omin, omax, osum))) => Some((
                min.min(omin),
                max.max(omax),
                sum.zip(osum).and_then(|(a, b)| a.checked_add(b)),
            )),
            (mine, theirs) => mine.or(theirs),
        };
        self.trues = match (self.trues, other.trues) {
            (Some(a), Some(b)) => Some(a + b),
            (mine, theirs) => mine.or(theirs),
        };
        self.timestamps = match (self.timestamps, other.timestamps) {
            (Some((min, max)), Some((omin, omax))) => Some((min.min(omin), max.max(omax))),
            (mine, theirs) => mine.or(theirs),
        };
    }

    fn to_proto(&self) -> proto::ColumnStatistics {
        proto::ColumnStatistics {
            number_of_values: Some(self.values),
            has_null: Some(self.has_null),
            string_statistics: self.strings.as_ref().map(|(min, max, sum)| {
                proto::StringStatistics {
                    minimum: Some(min.clone()),
                    maximum: Some(max.clone()),
                    sum: Some(*sum),
                    lower_bound: None,
                    upper_bound: None,
                }
            }),
            int_statistics: self
                .integers
                .map(|(min, max, sum)| proto::IntegerStatistics {
                    minimum: Some(min),
                    maximum: Some(max),
                    sum,
                }),
            bucket_statistics: self
                .trues
                .map(|trues| proto::BucketStatistics { count: vec![trues] }),
            timestamp_statistics: self
                .timestamps
                .map(|(min, max)| proto::TimestampStatistics {
                    minimum: Some(min),
                    maximum: Some(max),
                    minimum_utc: Some(min),
                    maximum_utc: Some(max),
                }),
        }
    }
}

/// ZLIB chunks of at most `block_size` bytes each, stored as they are when deflate
/// would not make them smaller.
fn compress(bytes: &[u8], block_size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() / 2 + 16);
    for chunk in bytes.chunks(block_size) {
        let mut encoder = DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        let deflated = encoder
            .write_all(chunk)
            .and_then(|()| encoder.finish())
            .unwrap_or_default();
        let (body, original) = if deflated.is_empty() || deflated.len() >= chunk.len() {
            (chunk, 1)
        } else {
            (deflated.as_slice(), 0)
        };
        let header = ((body.len() as u32) << 1) | original;
        out.extend_from_slice(&header.to_le_bytes()[..3]);
        out.extend_from_slice(body);
    }
    out
}

/// Seconds since 2015-01-01 and encoded nanoseconds of a time in milliseconds since
/// the Unix epoch. Seconds are counted towards zero, as ORC's Java writer does (readers
/// take a second off negative times with milliseconds).
fn orc_timestamp(ms: i64) -> (i64, i64) {
    let seconds = ms / 1000 - ORC_EPOCH_SECONDS;
    let nanos = ms.rem_euclid(1000) * 1_000_000;
    (seconds, encode_nanos(nanos))
}

/// Nanoseconds with their trailing decimal zeros taken off, the count of zeros (2 to
/// 8, as 1 to 7) in the low three bits.
fn encode_nanos(nanos: i64) -> i64 {
    if nanos == 0 {
        return 0;
    }
    let mut value = nanos;
    let mut zeros = 0;
    while value % 10 == 0 && zeros < 8 {
        value /= 10;
        zeros += 1;
    }
    if zeros >= 2 {
        (value << 3) | (zeros - 1)
    } else {
        nanos << 3
    }
}

/// Byte run-length encoding: runs of 3 to 130 equal bytes, or up to 128 literals.
fn byte_rle(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let run = bytes[i..]
            .iter()
            .take(130)
            .take_while(|b| **b == bytes[i])
            .count();
        if run >= 3 {
            out.push((run - 3) as u8);
            out.push(bytes[i]);
            i += run;
            continue;
        }
        let start = i;
        while i < bytes.len() && i - start < 128 {
            if i + 2 < bytes.len() && bytes[i] == bytes[i + 1] && bytes[i] == bytes[i + 2] {
                break;
            }
            i += 1;
        }
        out.push((-((i - start) as i32)) as u8);
        out.extend_from_slice(&bytes[start..i]);
    }
    out
}

/// Boolean run-length encoding: bits packed from the most significant, then byte RLE.
fn boolean_rle(values: &[bool]) -> Vec<u8> {
    let packed: Vec<u8> = values
        .chunks(8)
        .map(|bits| {
            bits.iter()
                .enumerate()
                .fold(0u8, |byte, (i, bit)| byte | (u8::from(*bit) << (7 - i)))
        })
        .collect();
    byte_rle(&packed)
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn write_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The width RLE v2 packs values of `bits` significant bits at.
fn fixed_width(bits: u32) -> u32 {
    match bits {
        0..=1 => 1,
        2..=24 => bits,
        25..=26 => 26,
        27..=28 => 28,
        29..=30 => 30,
        31..=32 => 32,
        33..=40 => 40,
        41..=48 => 48,
        49..=56 => 56,
        _ => 64,
    }
}

/// The 5-bit code of a width [`fixed_width`] gives.
fn width_code(width: u32) -> u8 {
    match width {
        1..=24 => (width - 1) as u8,
        26 => 24,
        28 => 25,
        30 => 26,
        32 => 27,
        40 => 28,
        48 => 29,
        56 => 30,
        _ => 31,
    }
}

/// Integer run-length encoding version 2: short repeats for 3 to 10 equal values,
/// fixed-delta runs for longer ones, and direct bit-packing for the rest.
fn rle_v2(values: &[i64], signed: bool) -> Vec<u8> {
    let encode = |v: i64| if signed { zigzag(v) } else { v as u64 };
    let mut out = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let run = values[i..]
            .iter()
            .take(512)
            .take_while(|v| **v == values[i])
            .count();
        if run >= 3 {
            let value = encode(values[i]);
            if run <= 10 {
                let bytes = (64 - value.leading_zeros()).div_ceil(8).max(1);
                out.push((((bytes - 1) as u8) << 3) | (run - 3) as u8);
                for shift in (0..bytes).rev() {
                    out.push((value >> (shift * 8)) as u8);
                }
            } else {
                let length = run - 1;
                out.push(0xc0 | ((length >> 8) as u8 & 1));
                out.push(length as u8);
                write_varint(value, &mut out);
                write_varint(0, &mut out);
            }
            i += run;
            continue;
        }
        let start = i;
        while i < values.len() && i - start < 512 {
            if i + 2 < values.len() && values[i] == values[i + 1] && values[i] == values[i + 2] {
                break;
            }
            i += 1;
        }
        let literals: Vec<u64> = values[start..i].iter().map(|v| encode(*v)).collect();
        let max = literals.iter().copied().max().unwrap_or(0);
        let width = fixed_width(64 - max.leading_zeros());
        let length = literals.len() - 1;
        out.push(0x40 | (width_code(width) << 1) | ((length >> 8) as u8 & 1));
        out.push(length as u8);
        bit_pack(&literals, width, &mut out);
    }
    out
}

/// Values of `width` bits, big-endian from the most significant bit, padded to a byte.
fn bit_pack(values: &[u64], width: u32, out: &mut Vec<u8>) {
    let mut acc: u128 = 0;
    let mut held = 0u32;
    for value in values {
        let value = if width == 64 {
            *value
        } else {
            value & ((1u64 << width) - 1)
        };
        acc = (acc << width) | u128::from(value);
        held += width;
        while held >= 8 {
            held -= 8;
            out.push((acc >> held) as u8);
        }
    }
    if held > 0 {
        out.push((acc << (8 - held)) as u8);
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};

    use inventory_delivery::reader::{DataFileReader, OrcFileReader, SkipCounts};

    use super::*;
    use crate::generator::awkward_keys;

    /// A row as the reader hands it over: key, version id, size, ETag, last-modified
    /// time and storage class.
    type Kept = (String, Option<String>, u64, String, i64, Option<String>);

    /// What the import keeps of `rows`: the rules of the readers, applied by hand.
    fn expected(rows: &[OrcRow]) -> (Vec<Kept>, SkipCounts) {
        let mut kept = Vec::new();
        let mut skipped = SkipCounts::default();
        for row in rows {
            if row.is_latest == Some(false) {
                skipped.noncurrent_version += 1;
            } else if row.is_delete_marker == Some(true) {
                skipped.delete_marker += 1;
            } else if let (Some(size), Some(ms), Some(etag)) =
                (row.size, row.last_modified_ms, &row.e_tag)
            {
                kept.push((
                    row.key.clone(),
                    row.version_id
                        .clone()
                        .filter(|v| v != "null" && !v.is_empty()),
                    size.max(0) as u64,
                    etag.clone(),
                    ms,
                    row.storage_class.clone(),
                ));
            } else {
                skipped.incomplete_row += 1;
            }
        }
        (kept, skipped)
    }

    fn read(path: &Path, bucket: &str) -> (Vec<Kept>, SkipCounts, OrcFileReader) {
        let mut reader = OrcFileReader::open(path, "data.orc", Some(bucket)).unwrap();
        let mut kept = Vec::new();
        let mut skipped = SkipCounts::default();
        while let Some(batch) = reader.next_rows(|row| {
            kept.push((
                row.key.to_string(),
                row.version_id.map(|v| v.into_owned()),
                row.size,
                row.etag.into_owned(),
                row.last_modified_ms,
                row.storage_class.map(|v| v.into_owned()),
            ))
        }) {
            skipped.add(&batch.unwrap().1);
        }
        (kept, skipped, reader)
    }

    fn python() -> Option<PathBuf> {
        let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
        if python.exists() {
            Some(python)
        } else {
            eprintln!(
                "note: {} is missing; skipping the pyarrow check",
                python.display()
            );
            None
        }
    }

    /// Runs a Python script with `stdin`, returning its standard output.
    fn run_python(python: &Path, script: &str, args: &[&Path], stdin: &str) -> String {
        let mut child = Command::new(python)
            .arg("-c")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "python failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Reads an ORC file with pyarrow: its schema, and its columns as lists
    /// (timestamps in milliseconds).
    const PYARROW_READ: &str = r#"
import json, sys
import pyarrow.orc as orc
table = orc.read_table(sys.argv[1])
columns = {}
for name in table.column_names:
    column = table.column(name)
    if name == "last_modified_date":
        values = column.cast("int64").to_pylist()
        columns[name] = [None if v is None else v // 1_000_000 for v in values]
    else:
        columns[name] = column.to_pylist()
schema = [[f.name, str(f.type)] for f in table.schema]
print(json.dumps({"schema": schema, "columns": columns}))
"#;

    fn pyarrow_reads(python: &Path, path: &Path, rows: &[OrcRow], versioned: bool) {
        let output: serde_json::Value =
            serde_json::from_str(&run_python(python, PYARROW_READ, &[path], "")).unwrap();
        let mut schema = vec![
            serde_json::json!(["bucket", "string"]),
            serde_json::json!(["key", "string"]),
        ];
        if versioned {
            schema.extend([
                serde_json::json!(["version_id", "string"]),
                serde_json::json!(["is_latest", "bool"]),
                serde_json::json!(["is_delete_marker", "bool"]),
            ]);
        }
        schema.extend([
            serde_json::json!(["size", "int64"]),
            serde_json::json!(["last_modified_date", "timestamp[ns]"]),
            serde_json::json!(["e_tag", "string"]),
            serde_json::json!(["storage_class", "string"]),
        ]);
        assert_eq!(output["schema"], serde_json::Value::Array(schema));
        let column = |name: &str, value: &dyn Fn(&OrcRow) -> serde_json::Value| {
            let expected: Vec<serde_json::Value> = rows.iter().map(value).collect();
            assert_eq!(
                output["columns"][name],
                serde_json::Value::Array(expected),
                "column {name}"
            );
        };
        column("bucket", &|r| r.bucket.clone().into());
        column("key", &|r| r.key.clone().into());
        if versioned {
            column("version_id", &|r| r.version_id.clone().into());
            column("is_latest", &|r| r.is_latest.into());
            column("is_delete_marker", &|r| r.is_delete_marker.into());
        }
        column("size", &|r| r.size.into());
        column("last_modified_date", &|r| r.last_modified_ms.into());
        column("e_tag", &|r| r.e_tag.clone().into());
        column("storage_class", &|r| r.storage_class.clone().into());
    }

    /// Rows of every shape the import meets, on the keys that break naive readers.
    fn awkward_rows(bucket: &str) -> Vec<OrcRow> {
        let classes = [
            Some("STANDARD"),
            Some("GLACIER"),
            None,
            Some("INTELLIGENT_TIERING"),
        ];
        let times = [
            1_715_035_068_000,
            1_715_035_068_123,
            1_262_304_000_001, // 2010: before ORC's 2015 epoch
            -1_500,            // before 1970, with milliseconds
            4_102_444_800_999, // 2100
        ];
        awkward_keys()
            .into_iter()
            .enumerate()
            .flat_map(|(i, key)| {
                let row = OrcRow {
                    bucket: bucket.to_string(),
                    key: key.clone(),
                    version_id: match i % 4 {
                        0 => None,
                        1 => Some("null".into()),
                        _ => Some(format!("v{i:031}")),
                    },
                    is_latest: (i % 9 != 0).then_some(true),
                    is_delete_marker: Some(false),
                    size: Some(match i % 3 {
                        0 => 0,
                        1 => i as i64 * 1_000_003,
                        _ => 5 << 40,
                    }),
                    last_modified_ms: Some(times[i % times.len()]),
                    e_tag: Some(format!("{:032x}", i * 7919)),
                    storage_class: classes[i % classes.len()].map(str::to_string),
                };
                let mut rows = vec![row.clone()];
                match i % 5 {
                    0 => rows.push(OrcRow {
                        version_id: Some(format!("old{i:029}")),
                        is_latest: Some(false),
                        size: Some(1),
                        ..row.clone()
                    }),
                    1 => rows.insert(
                        0,
                        OrcRow {
                            version_id: Some(format!("dm{i:030}")),
                            is_latest: Some(true),
                            is_delete_marker: Some(true),
                            size: None,
                            e_tag: None,
                            storage_class: None,
                            ..row.clone()
                        },
                    ),
                    2 => rows.push(OrcRow {
                        key: format!("{key}/incomplete"),
                        e_tag: None,
                        ..row.clone()
                    }),
                    _ => {}
                }
                if rows.len() == 2 && i % 5 == 1 {
                    // The older version under the delete marker.
                    rows[1].is_latest = Some(false);
                }
                rows
            })
            .collect()
    }

    #[test]
    fn awkward_keys_round_trip_through_the_reader_and_pyarrow() {
        let rows = awkward_rows("source-bucket");
        // Small stripes and chunks: streams span chunks, and a 1,024-byte key spans two.
        let options = OrcOptions {
            stripe_rows: 7,
            block_size: 700,
            versioned: true,
            ..OrcOptions::default()
        };
        let bytes = write_orc(&rows, &options);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.orc");
        std::fs::write(&path, &bytes).unwrap();

        let (kept, skipped, reader) = read(&path, "source-bucket");
        let (expected_kept, expected_skipped) = expected(&rows);
        assert_eq!(kept, expected_kept);
        assert_eq!(skipped, expected_skipped);
        assert!(skipped.noncurrent_version > 0 && skipped.delete_marker > 0);
        assert!(skipped.incomplete_row > 0);
        assert_eq!(reader.total_rows(), rows.len() as u64);
        assert_eq!(reader.row_groups(), rows.len().div_ceil(7));
        let stripe_keys: Vec<(String, String)> = rows
            .chunks(7)
            .map(|chunk| {
                let keys = chunk.iter().map(|r| r.key.clone());
                (keys.clone().min().unwrap(), keys.max().unwrap())
            })
            .collect();
        assert_eq!(reader.key_statistics(), stripe_keys);
        let text: usize = rows
            .iter()
            .map(|r| {
                r.key.len()
                    + r.e_tag.as_ref().map_or(0, String::len)
                    + r.version_id.as_ref().map_or(0, String::len)
            })
            .sum();
        assert_eq!(reader.text_bytes(), text as u64);

        if let Some(python) = python() {
            pyarrow_reads(&python, &path, &rows, true);
        }
    }

    /// Damages the file at `path`, holding `bytes`, one byte at a time (each byte
    /// flipped in turn by each of `flips`) and then by cutting it ever shorter; calls
    /// `check` on each damaged file. The file is changed in place, never rewritten
    /// whole, so that this stays quick on any file system.
    fn damage_in_place(path: &Path, bytes: &[u8], flips: &[u8], mut check: impl FnMut()) {
        use std::io::{Seek, SeekFrom};

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
    fn damaged_files_of_many_stripes_are_errors_never_panics() {
        let rows = awkward_rows("source-bucket");
        let options = OrcOptions {
            stripe_rows: 9,
            block_size: 500,
            versioned: true,
            ..OrcOptions::default()
        };
        let bytes = write_orc(&rows, &options);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.orc");
        let mut errors = 0;
        damage_in_place(&path, &bytes, &[0x5a], || {
            let read = OrcFileReader::open(&path, "data.orc", None).and_then(|mut reader| {
                while let Some(batch) = reader.next_rows(|_| {}) {
                    batch?;
                }
                Ok(())
            });
            errors += usize::from(read.is_err());
        });
        assert!(errors > bytes.len(), "{errors} errors");
    }

    #[test]
    fn an_unversioned_inventory_has_no_version_columns() {
        let rows: Vec<OrcRow> = (0..1000)
            .map(|i| OrcRow {
                bucket: "plain".into(),
                key: format!("logs/{i:05}.gz"),
                version_id: None,
                is_latest: None,
                is_delete_marker: None,
                size: Some(i * 10),
                last_modified_ms: Some(1_700_000_000_000 + i * 1000),
                e_tag: Some(format!("{i:032}")),
                storage_class: Some("STANDARD".into()),
            })
            .collect();
        let options = OrcOptions {
            versioned: false,
            ..OrcOptions::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.orc");
        std::fs::write(&path, write_orc(&rows, &options)).unwrap();
        let (kept, skipped, reader) = read(&path, "plain");
        assert_eq!(skipped, SkipCounts::default());
        assert_eq!(kept, expected(&rows).0);
        assert_eq!(reader.row_groups(), 1);
        if let Some(python) = python() {
            pyarrow_reads(&python, &path, &rows, false);
        }
    }

    #[test]
    fn a_file_of_no_rows_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.orc");
        std::fs::write(&path, write_orc(&[], &OrcOptions::default())).unwrap();
        let (kept, skipped, reader) = read(&path, "any");
        assert!(kept.is_empty());
        assert_eq!(skipped, SkipCounts::default());
        assert_eq!((reader.total_rows(), reader.row_groups()), (0, 0));
        if let Some(python) = python() {
            pyarrow_reads(&python, &path, &[], true);
        }
    }

    /// Writes the rows on standard input with pyarrow, once per set of options, to
    /// `<dir>/<n>.orc`.
    const PYARROW_WRITE: &str = r#"
import json, sys
import pyarrow as pa, pyarrow.orc as orc
spec = json.load(sys.stdin)
schema = pa.schema([
    ("bucket", pa.string()), ("key", pa.string()), ("version_id", pa.string()),
    ("is_latest", pa.bool_()), ("is_delete_marker", pa.bool_()), ("size", pa.int64()),
    ("last_modified_date", pa.timestamp("ms")), ("e_tag", pa.string()),
    ("storage_class", pa.string()),
])
table = pa.Table.from_pydict(
    {name: [row[name] for row in spec["rows"]] for name in schema.names}, schema=schema)
for n, options in enumerate(spec["variants"]):
    orc.write_table(table, f"{sys.argv[1]}/{n}.orc", **options)
"#;

    /// Rows whose integers take every RLE v2 sub-encoding: runs, monotonic stretches,
    /// random widths and rare outliers.
    fn varied_rows() -> Vec<OrcRow> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut rows = Vec::new();
        for i in 0..6000i64 {
            let r = random();
            let size = match (i / 500) % 5 {
                0 => i * 3,                                 // delta
                1 => 4096,                                  // repeats
                2 if i % 50 == 0 => (r % (5 << 40)) as i64, // outliers: patched base
                2 => (r % 1000) as i64,
                3 => (r % (1 << 33)) as i64, // direct
                _ => (r % 7) as i64,
            };
            let ms = match (i / 700) % 4 {
                0 => 1_700_000_000_000 + i * 1000,
                1 => 1_262_304_000_000 + (r % 100_000_000_000) as i64,
                2 => 1_700_000_000_000 + (r % 1000) as i64,
                _ => 1_715_035_068_000,
            };
            let delete_marker = i % 17 == 0;
            rows.push(OrcRow {
                bucket: "varied".into(),
                key: if i < 31 {
                    awkward_keys()[i as usize].clone()
                } else {
                    format!("dir{}/file-{i:06}", r % 7)
                },
                version_id: (i % 13 != 0).then(|| format!("{:032x}", r)),
                is_latest: if i % 31 == 0 { None } else { Some(i % 5 != 0) },
                is_delete_marker: Some(delete_marker),
                size: (!delete_marker).then_some(size),
                last_modified_ms: Some(ms),
                e_tag: (!delete_marker).then(|| format!("{:032x}", r.rotate_left(17))),
                storage_class: ["STANDARD", "GLACIER", "STANDARD_IA", ""]
                    .get((r % 5) as usize)
                    .map(|s| s.to_string()),
            });
        }
        rows
    }

    #[test]
    fn reads_what_pyarrow_writes_in_every_encoding() {
        let Some(python) = python() else {
            return;
        };
        let rows = varied_rows();
        let variants = serde_json::json!([
            {"compression": "zlib"},
            {"compression": "zlib", "dictionary_key_size_threshold": 1.0},
            {"compression": "zlib", "file_version": "0.11"},
            {"compression": "zlib", "file_version": "0.11", "dictionary_key_size_threshold": 1.0},
            {"compression": "uncompressed"},
            {"compression": "zlib", "stripe_size": 1024, "batch_size": 100,
             "dictionary_key_size_threshold": 0.5},
        ]);
        let json_rows: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "bucket": r.bucket, "key": r.key, "version_id": r.version_id,
                    "is_latest": r.is_latest, "is_delete_marker": r.is_delete_marker,
                    "size": r.size, "last_modified_date": r.last_modified_ms,
                    "e_tag": r.e_tag, "storage_class": r.storage_class,
                })
            })
            .collect();
        let spec = serde_json::json!({"rows": json_rows, "variants": variants});
        let dir = tempfile::tempdir().unwrap();
        run_python(&python, PYARROW_WRITE, &[dir.path()], &spec.to_string());
        let (expected_kept, expected_skipped) = expected(&rows);
        for n in 0..variants.as_array().map_or(0, Vec::len) {
            let path = dir.path().join(format!("{n}.orc"));
            let (kept, skipped, reader) = read(&path, "varied");
            assert_eq!(skipped, expected_skipped, "variant {n}");
            assert_eq!(kept.len(), expected_kept.len(), "variant {n}");
            for (got, want) in kept.iter().zip(&expected_kept) {
                assert_eq!(got, want, "variant {n}");
            }
            assert_eq!(reader.total_rows(), rows.len() as u64);
        }
    }
}
