//! The CSV reader: S3 Inventory's gzipped CSV data files, decompressed and parsed as a
//! stream, one record at a time, so memory does not grow with the file.
//!
//! Decompressing takes as long as parsing, so a file is decompressed on a thread of its
//! own, a few chunks ahead of the parser, and both run at once.
//!
//! S3 Inventory writes no header line: the manifest's `fileSchema` names the fields, in
//! order. Every field is quoted; an empty field is a value the object does not have (a
//! delete marker's size and ETag, the version id of an object written before
//! versioning was enabled). Keys are URL-encoded as in a form (`+` for a space, `%XX`
//! for other bytes) and are decoded byte-exact; times are ISO 8601 in UTC with
//! milliseconds (`2024-05-06T22:37:48.000Z`).

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use chrono::{DateTime, NaiveDate};
use flate2::bufread::MultiGzDecoder;

use super::data_file::{BATCH_ROWS, DataFileReader, InventoryError};
use super::rows::{InventoryRow, SkipCounts};
use crate::manifest::{DataFormat, SchemaColumn, missing_columns};

/// Bytes of compressed file read at a time.
const FILE_BUFFER: usize = 256 * 1024;

/// Bytes of decompressed text parsed at a time.
const TEXT_BUFFER: usize = 256 * 1024;

/// Bytes of decompressed text handed from the decompressing thread to the parser at a
/// time, and how many such chunks exist per file (being filled, waiting, being parsed):
/// a file's text takes at most their product in memory.
const CHUNK_BYTES: usize = 256 * 1024;
const CHUNKS: usize = 4;

/// The most text one record may span. A record of S3 Inventory is at most a few
/// kilobytes (a 1,024-byte key is at most 3,072 bytes encoded); a quote that is never
/// closed would otherwise make the rest of the file one field, held in memory.
const RECORD_LIMIT: u64 = 16 * 1024 * 1024;

/// Field positions in a record, by the manifest's `fileSchema`.
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

/// Streams the entries of one gzipped CSV data file on local disk.
pub struct CsvFileReader {
    file: String,
    expected_bucket: Option<String>,
    records: csv::Reader<Bounded<Inflated>>,
    record: csv::ByteRecord,
    columns: Columns,
    /// Fields every record has: the columns of `fileSchema`.
    fields: usize,
    keys: KeyDecoder,
    rows_read: u64,
    finished: bool,
}

impl std::fmt::Debug for CsvFileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvFileReader")
            .field("file", &self.file)
            .field("rows_read", &self.rows_read)
            .finish()
    }
}

impl CsvFileReader {
    /// Opens `path` (named `file` in errors), a gzipped CSV file whose fields are
    /// `columns` (the manifest's `fileSchema`), in order. When `expected_bucket` is
    /// given every row must name it.
    pub fn open(
        path: &Path,
        file: &str,
        expected_bucket: Option<&str>,
        columns: &[SchemaColumn],
    ) -> Result<Self, InventoryError> {
        let names = || columns.iter().map(|c| c.name.as_str());
        let missing = missing_columns(names());
        if !missing.is_empty() {
            return Err(InventoryError::MissingColumns {
                file: file.to_string(),
                missing,
            });
        }
        let position = |name: &str| names().position(|n| n == name);
        let required = |name: &str| position(name).unwrap_or_default();
        let columns_at = Columns {
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
        let handle = File::open(path).map_err(|source| InventoryError::Io {
            file: file.to_string(),
            source,
        })?;
        let text = Inflated::start(handle).map_err(|source| InventoryError::Io {
            file: file.to_string(),
            source,
        })?;
        let records = csv::ReaderBuilder::new()
            .has_headers(false)
            // Field counts are checked against `fileSchema`, not the first record.
            .flexible(true)
            .buffer_capacity(TEXT_BUFFER)
            .from_reader(Bounded::new(text));
        Ok(Self {
            file: file.to_string(),
            expected_bucket: expected_bucket.map(str::to_string),
            records,
            record: csv::ByteRecord::new(),
            columns: columns_at,
            fields: columns.len(),
            keys: KeyDecoder::default(),
            rows_read: 0,
            finished: false,
        })
    }

    /// What stopped the reading of a record, named: a truncated gzip stream, a record
    /// too long to be one, or anything else the file's bytes do not allow.
    fn read_error(&self, err: csv::Error) -> InventoryError {
        let file = self.file.clone();
        if self.records.get_ref().over_limit() {
            // The record's position is where it began, whatever stopped it.
            let line = self.record.position().map_or(0, csv::Position::line);
            return InventoryError::Corrupt {
                file,
                format: DataFormat::Csv,
                reason: format!(
                    "the record from line {line} runs over {} MiB (a quote that is never closed?)",
                    RECORD_LIMIT / (1024 * 1024)
                ),
            };
        }
        match err.kind() {
            csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                InventoryError::Truncated { file }
            }
            _ => InventoryError::Corrupt {
                file,
                format: DataFormat::Csv,
                reason: err.to_string(),
            },
        }
    }
}

impl DataFileReader for CsvFileReader {
    /// Unknown before the file is read: 0.
    fn total_rows(&self) -> u64 {
        0
    }

    /// Unknown before the file is read: 0.
    fn text_bytes(&self) -> u64 {
        0
    }

    /// A CSV file is decoded as one stream.
    fn row_groups(&self) -> usize {
        1
    }

    /// Parses the next [`BATCH_ROWS`] records and hands each row to import to `keep`,
    /// borrowed from the record; returns the batch's row count and the rows it
    /// skipped, or `None` at the end of the file (and after an error).
    fn next_rows(
        &mut self,
        mut keep: impl FnMut(InventoryRow<'_>),
    ) -> Option<Result<(u64, SkipCounts), InventoryError>> {
        if self.finished {
            return None;
        }
        let mut rows = 0u64;
        let mut skipped = SkipCounts::default();
        while rows < BATCH_ROWS as u64 {
            self.records.get_mut().start_record();
            match self.records.read_byte_record(&mut self.record) {
                Ok(true) => {}
                Ok(false) => {
                    self.finished = true;
                    break;
                }
                Err(err) => {
                    self.finished = true;
                    return Some(Err(self.read_error(err)));
                }
            }
            let row = Row {
                file: &self.file,
                record: &self.record,
                fields: self.fields,
                number: self.rows_read,
            };
            self.rows_read += 1;
            rows += 1;
            match row.visit(
                self.columns,
                self.expected_bucket.as_deref(),
                &mut self.keys,
            ) {
                Ok(Visited::Keep(row)) => keep(row),
                Ok(Visited::Noncurrent) => skipped.noncurrent_version += 1,
                Ok(Visited::DeleteMarker) => skipped.delete_marker += 1,
                Ok(Visited::Incomplete) => skipped.incomplete_row += 1,
                Err(err) => {
                    self.finished = true;
                    return Some(Err(err));
                }
            }
        }
        if rows == 0 {
            return None;
        }
        Some(Ok((rows, skipped)))
    }
}

/// What becomes of one record.
enum Visited<'a> {
    Keep(InventoryRow<'a>),
    Noncurrent,
    DeleteMarker,
    Incomplete,
}

/// One record of the file, with what names it in errors.
struct Row<'a> {
    file: &'a str,
    record: &'a csv::ByteRecord,
    fields: usize,
    /// Rows before this one in the file.
    number: u64,
}

impl<'a> Row<'a> {
    /// Applies the rules of [`crate::reader`] to the record: the bucket must be the
    /// expected one; noncurrent versions, delete markers and rows without size, ETag
    /// or last-modified time are skipped. Every typed field is parsed, so a value that
    /// is not what its column holds is an error wherever it is.
    fn visit<'k>(
        &self,
        columns: Columns,
        expected_bucket: Option<&str>,
        keys: &'k mut KeyDecoder,
    ) -> Result<Visited<'k>, InventoryError>
    where
        'a: 'k,
    {
        if self.record.len() != self.fields {
            return Err(InventoryError::FieldCount {
                file: self.file.to_string(),
                line: self.line(),
                found: self.record.len(),
                expected: self.fields,
            });
        }
        if let Some(expected) = expected_bucket {
            let found = self.field(columns.bucket);
            if found != expected.as_bytes() {
                return Err(InventoryError::BucketMismatch {
                    file: self.file.to_string(),
                    row: self.number,
                    expected: expected.to_string(),
                    found: String::from_utf8_lossy(found).into_owned(),
                });
            }
        }
        let is_latest = self.boolean(columns.is_latest, "is_latest")?;
        let is_delete_marker = self.boolean(columns.is_delete_marker, "is_delete_marker")?;
        let size = self.integer(columns.size, "size")?;
        let last_modified_ms = self.time(columns.last_modified, "last_modified_date")?;
        // An empty `is_latest` (or no such column) means the row is current.
        if is_latest == Some(false) {
            return Ok(Visited::Noncurrent);
        }
        if is_delete_marker == Some(true) {
            return Ok(Visited::DeleteMarker);
        }
        let etag = self.field(columns.etag);
        let (Some(size), Some(last_modified_ms), false) = (size, last_modified_ms, etag.is_empty())
        else {
            return Ok(Visited::Incomplete);
        };
        let key = std::str::from_utf8(keys.decode(self.field(columns.key))).map_err(|_| {
            InventoryError::InvalidKey {
                file: self.file.to_string(),
                row: self.number,
            }
        })?;
        let text = |column: Option<usize>| {
            column
                .map(|c| self.field(c))
                .filter(|value| !value.is_empty())
                .map(lossy)
        };
        Ok(Visited::Keep(InventoryRow {
            key,
            version_id: text(columns.version_id).filter(|v| v != "null"),
            size: size.max(0) as u64,
            etag: lossy(etag),
            last_modified_ms,
            storage_class: text(columns.storage_class),
        }))
    }

    /// The field at `column`; empty when the record is shorter (it never is once its
    /// field count is checked).
    fn field(&self, column: usize) -> &'a [u8] {
        self.record.get(column).unwrap_or_default()
    }

    /// The line the record starts on, counted from 1 (a key may hold line breaks, so
    /// this is not always one more than the rows before it).
    fn line(&self) -> u64 {
        self.record.position().map_or(0, csv::Position::line)
    }

    fn invalid(
        &self,
        column: &'static str,
        value: &[u8],
        expected: &'static str,
    ) -> InventoryError {
        InventoryError::InvalidField {
            file: self.file.to_string(),
            line: self.line(),
            column,
            value: String::from_utf8_lossy(value).into_owned(),
            expected,
        }
    }

    /// `true` or `false` (in any case); `None` when empty or when the file has no such
    /// column.
    fn boolean(
        &self,
        column: Option<usize>,
        name: &'static str,
    ) -> Result<Option<bool>, InventoryError> {
        let Some(value) = column.map(|c| self.field(c)) else {
            return Ok(None);
        };
        match value {
            b"" => Ok(None),
            b"true" => Ok(Some(true)),
            b"false" => Ok(Some(false)),
            _ if value.eq_ignore_ascii_case(b"true") => Ok(Some(true)),
            _ if value.eq_ignore_ascii_case(b"false") => Ok(Some(false)),
            _ => Err(self.invalid(name, value, "true or false")),
        }
    }

    /// A decimal integer; `None` when empty.
    fn integer(&self, column: usize, name: &'static str) -> Result<Option<i64>, InventoryError> {
        let value = self.field(column);
        if value.is_empty() {
            return Ok(None);
        }
        parse_integer(value)
            .map(Some)
            .ok_or_else(|| self.invalid(name, value, "an integer"))
    }

    /// A time in milliseconds since the Unix epoch; `None` when empty.
    fn time(&self, column: usize, name: &'static str) -> Result<Option<i64>, InventoryError> {
        let value = self.field(column);
        if value.is_empty() {
            return Ok(None);
        }
        parse_time_ms(value)
            .map(Some)
            .ok_or_else(|| self.invalid(name, value, "a time like 2024-05-06T22:37:48.000Z"))
    }
}

/// A signed decimal integer that fits in 64 bits.
fn parse_integer(value: &[u8]) -> Option<i64> {
    let (negative, digits) = match value {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, value),
    };
    if digits.is_empty() {
        return None;
    }
    let mut number: i64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        number = number
            .checked_mul(10)?
            .checked_add(i64::from(digit - b'0'))?;
    }
    Some(if negative { -number } else { number })
}

/// Milliseconds since the Unix epoch of an ISO 8601 time: S3 Inventory's
/// `2024-05-06T22:37:48.000Z` directly, any other RFC 3339 time through chrono.
fn parse_time_ms(value: &[u8]) -> Option<i64> {
    if let Some(ms) = parse_inventory_time(value) {
        return Some(ms);
    }
    let text = std::str::from_utf8(value).ok()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.timestamp_millis())
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, the only form S3 Inventory writes.
fn parse_inventory_time(value: &[u8]) -> Option<i64> {
    let &[
        y0,
        y1,
        y2,
        y3,
        b'-',
        mo0,
        mo1,
        b'-',
        d0,
        d1,
        b'T',
        h0,
        h1,
        b':',
        mi0,
        mi1,
        b':',
        s0,
        s1,
        b'.',
        ms0,
        ms1,
        ms2,
        b'Z',
    ] = value
    else {
        return None;
    };
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |total, &digit| {
            digit
                .is_ascii_digit()
                .then(|| total * 10 + u32::from(digit - b'0'))
        })
    };
    let year = i32::try_from(number(&[y0, y1, y2, y3])?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, number(&[mo0, mo1])?, number(&[d0, d1])?)?;
    let time = date.and_hms_milli_opt(
        number(&[h0, h1])?,
        number(&[mi0, mi1])?,
        number(&[s0, s1])?,
        number(&[ms0, ms1, ms2])?,
    )?;
    Some(time.and_utc().timestamp_millis())
}

/// Values other than keys are kept even when not UTF-8, with U+FFFD in place.
fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Decodes keys as S3 Inventory encodes them, into buffers reused from row to row.
#[derive(Debug, Default)]
struct KeyDecoder {
    spaces: Vec<u8>,
    decoded: Vec<u8>,
}

impl KeyDecoder {
    /// The bytes of a form-encoded key: `+` is a space, `%XX` the byte `XX`, and a `%`
    /// not followed by two hexadecimal digits itself. A key without `+` or `%` is
    /// returned as it is.
    fn decode<'k, 'r: 'k>(&'k mut self, raw: &'r [u8]) -> &'k [u8] {
        let spaces = raw.contains(&b'+');
        if !spaces && !raw.contains(&b'%') {
            return raw;
        }
        let encoded: &[u8] = if spaces {
            self.spaces.clear();
            self.spaces
                .extend(raw.iter().map(|&b| if b == b'+' { b' ' } else { b }));
            &self.spaces
        } else {
            raw
        };
        self.decoded.clear();
        self.decoded
            .extend(percent_encoding::percent_decode(encoded));
        &self.decoded
    }
}

/// What the decompressing thread hands the parser.
enum Chunk {
    Text(Vec<u8>),
    Failed(std::io::Error),
    /// The end of the last gzip member: without it, the thread stopped unexpectedly.
    End,
}

/// A gzipped file's text, decompressed on a thread of its own into [`CHUNKS`] buffers
/// that go round between that thread and the reader.
struct Inflated {
    chunks: Option<Receiver<Chunk>>,
    /// Buffers read, back to the decompressing thread.
    spare: Option<SyncSender<Vec<u8>>>,
    current: Vec<u8>,
    at: usize,
    ended: bool,
    thread: Option<JoinHandle<()>>,
}

impl Inflated {
    fn start(file: File) -> std::io::Result<Self> {
        let (chunk_sender, chunks) = sync_channel(CHUNKS);
        let (spare, spare_buffers) = sync_channel(CHUNKS);
        for _ in 0..CHUNKS {
            // Cannot fail: the channel has room for every buffer and its receiver lives.
            let _ = spare.try_send(Vec::with_capacity(CHUNK_BYTES));
        }
        let thread = std::thread::Builder::new()
            .name("csv-gunzip".to_string())
            .spawn(move || inflate(file, &chunk_sender, &spare_buffers))?;
        Ok(Self {
            chunks: Some(chunks),
            spare: Some(spare),
            current: Vec::new(),
            at: 0,
            ended: false,
            thread: Some(thread),
        })
    }
}

/// Decompresses `file` chunk by chunk into the buffers `spare` gives, until the end of
/// its last gzip member, a failure, or the reader's going away.
fn inflate(file: File, chunks: &SyncSender<Chunk>, spare: &Receiver<Vec<u8>>) {
    let mut text = MultiGzDecoder::new(BufReader::with_capacity(FILE_BUFFER, file));
    while let Ok(mut buffer) = spare.recv() {
        buffer.resize(CHUNK_BYTES, 0);
        let mut filled = 0;
        let failed = loop {
            match buffer.get_mut(filled..).map(|rest| text.read(rest)) {
                Some(Ok(0)) | None => break None,
                Some(Ok(read)) => filled += read,
                Some(Err(err)) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Some(Err(err)) => break Some(err),
            }
        };
        buffer.truncate(filled);
        if filled > 0 && chunks.send(Chunk::Text(buffer)).is_err() {
            return;
        }
        if let Some(err) = failed {
            let _ = chunks.send(Chunk::Failed(err));
            return;
        }
        if filled < CHUNK_BYTES {
            let _ = chunks.send(Chunk::End);
            return;
        }
    }
}

impl Read for Inflated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let rest = self.current.get(self.at..).unwrap_or_default();
            if !rest.is_empty() {
                let read = rest.len().min(buf.len());
                buf.get_mut(..read)
                    .unwrap_or_default()
                    .copy_from_slice(rest.get(..read).unwrap_or_default());
                self.at += read;
                return Ok(read);
            }
            if self.ended {
                return Ok(0);
            }
            let Some(chunks) = &self.chunks else {
                return Ok(0);
            };
            match chunks.recv() {
                Ok(Chunk::Text(text)) => {
                    let used = std::mem::replace(&mut self.current, text);
                    self.at = 0;
                    if let Some(spare) = &self.spare
                        && used.capacity() > 0
                    {
                        // Room for it: only CHUNKS buffers exist.
                        let _ = spare.try_send(used);
                    }
                }
                Ok(Chunk::Failed(err)) => {
                    self.ended = true;
                    return Err(err);
                }
                Ok(Chunk::End) => self.ended = true,
                Err(_) => {
                    self.ended = true;
                    return Err(std::io::Error::other(
                        "decompressing stopped before the end of the file",
                    ));
                }
            }
        }
    }
}

impl Drop for Inflated {
    /// Stops the decompressing thread (its next send or wait for a buffer fails) and
    /// waits for it, so that no thread outlives its reader.
    fn drop(&mut self) {
        self.chunks.take();
        self.spare.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The decompressed text on its way to the CSV parser, counted per record so that one
/// record cannot take more than [`RECORD_LIMIT`] bytes.
struct Bounded<R> {
    inner: R,
    /// Bytes handed to the parser since the current record began.
    read: u64,
}

impl<R> Bounded<R> {
    fn new(inner: R) -> Self {
        Self { inner, read: 0 }
    }

    fn start_record(&mut self) {
        self.read = 0;
    }

    fn over_limit(&self) -> bool {
        self.read > RECORD_LIMIT
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.over_limit() {
            return Err(std::io::Error::other("record too long"));
        }
        let read = self.inner.read(buf)?;
        self.read += read as u64;
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::PathBuf;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;
    use crate::manifest::{Manifest, parse_csv_schema};
    use crate::reader::{EntryBatch, InventoryEntry, open_data_file};
    use inventory_base::location::S3Url;

    const SCHEMA: &str = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass";

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/aws-inventory")
            .join(name)
    }

    /// Opens the AWS-written fixture `<name>.csv.gz` as its manifest describes it.
    fn read_fixture(name: &str, bucket: &str) -> (Vec<InventoryEntry>, u64, SkipCounts) {
        let url: S3Url = "s3://dest/inventory/manifest.json".parse().unwrap();
        let body = std::fs::read(fixture(&format!("{name}_manifest.json"))).unwrap();
        let manifest = Manifest::parse(&url, &body).unwrap();
        assert_eq!(manifest.format, DataFormat::Csv);
        let path = fixture(&format!("{name}.csv.gz"));
        let mut reader =
            open_data_file(manifest.format, &path, name, Some(bucket), &manifest.schema).unwrap();
        let batches: Vec<EntryBatch> = std::iter::from_fn(|| reader.next_batch())
            .collect::<Result<_, _>>()
            .unwrap();
        let mut skipped = SkipCounts::default();
        for batch in &batches {
            skipped.add(&batch.skipped);
        }
        let rows = batches.iter().map(|b| b.rows).sum();
        let mut entries: Vec<InventoryEntry> =
            batches.into_iter().flat_map(|b| b.entries).collect();
        entries.sort();
        (entries, rows, skipped)
    }

    /// Writes `text` gzipped and reads it back with the columns of `schema`.
    fn read_text(schema: &str, text: &[u8]) -> Result<Vec<InventoryEntry>, InventoryError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.csv.gz");
        std::fs::write(&path, gzip(text)).unwrap();
        read_path(schema, &path)
    }

    fn read_path(schema: &str, path: &Path) -> Result<Vec<InventoryEntry>, InventoryError> {
        let columns = parse_csv_schema(schema).unwrap();
        let mut reader = CsvFileReader::open(path, "data.csv.gz", Some("src"), &columns)?;
        let mut entries = Vec::new();
        while let Some(batch) = reader.next_batch() {
            entries.extend(batch?.entries);
        }
        Ok(entries)
    }

    fn gzip(text: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(text).unwrap();
        encoder.finish().unwrap()
    }

    /// A record as S3 Inventory writes it: every field quoted.
    fn record(fields: &[&str]) -> String {
        let quoted: Vec<String> = fields.iter().map(|f| format!("\"{f}\"")).collect();
        format!("{}\n", quoted.join(","))
    }

    /// A live object's record under [`SCHEMA`], its key given encoded.
    fn object(encoded_key: &str) -> String {
        record(&[
            "src",
            encoded_key,
            "v1",
            "true",
            "false",
            "5",
            "2024-05-06T22:44:22.000Z",
            "d8e8fca2dc0f896fd7cb4cb0031ba249",
            "STANDARD",
        ])
    }

    /// Form encoding as S3 Inventory applies it to keys: a space as `+`, every byte
    /// other than unreserved characters and `/` as `%XX`.
    fn encode(key: &str) -> String {
        key.bytes()
            .map(|b| match b {
                b' ' => "+".to_string(),
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    #[test]
    fn reads_the_csv_inventory_aws_wrote() {
        let (entries, rows, skipped) = read_fixture("csv_inventory", "filemanager-inventory-test");
        assert_eq!(
            entries,
            [
                InventoryEntry {
                    key: "inventory-test/".into(),
                    version_id: None,
                    size: 0,
                    etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
                    last_modified_ms: 1_715_035_068_000,
                    storage_class: Some("STANDARD".into()),
                },
                InventoryEntry {
                    key: "inventory-test/key1".into(),
                    version_id: Some("tpinzcbxOfWpZsmjvVgdHEvSohsY4TA0".into()),
                    size: 5,
                    etag: "d8e8fca2dc0f896fd7cb4cb0031ba249".into(),
                    last_modified_ms: 1_715_035_462_000,
                    storage_class: Some("STANDARD".into()),
                },
            ]
        );
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
    }

    #[test]
    fn reads_the_csv_inventory_aws_wrote_without_version_columns() {
        let (entries, rows, skipped) =
            read_fixture("csv_inventory_no_version", "filemanager-inventory-test");
        let keys: Vec<(&str, Option<&str>, u64)> = entries
            .iter()
            .map(|e| (e.key.as_str(), e.version_id.as_deref(), e.size))
            .collect();
        assert_eq!(
            keys,
            [
                ("inventory-test/", None, 0),
                ("inventory-test/key1", None, 5)
            ]
        );
        assert_eq!(entries[1].last_modified_ms, 1_715_035_462_000);
        assert_eq!(rows, 2);
        assert_eq!(skipped, SkipCounts::default());
    }

    #[test]
    fn awkward_keys_round_trip_byte_exact() {
        let keys = [
            "with space/file name.txt",
            " leading-space",
            "plus+sign/a+b=c.txt",
            "percent/%2F%20literal%.txt",
            "unicode/日本語/ファイル.txt",
            "emoji/😀🎉.png",
            "accents/cafe\u{301}-nfd.txt",
            "control/\u{1}\u{7f}bell.bin",
            "control/line\nbreak.txt",
            "quotes/\"double\"'single'`back`",
            "query?x=1&y=2#fragment",
            "\u{feff}byte-order-mark",
            "\u{10ffff}last-code-point",
        ];
        let mut text = String::new();
        for key in keys {
            text.push_str(&object(&encode(key)));
        }
        // Keys as S3 Inventory would not write them, but as a form decoder reads them:
        // a `%` not followed by two hexadecimal digits, lower-case digits, and a
        // literal line break inside the quotes.
        for raw in ["100%", "a%2", "lower%c3%a9", "literal\nline"] {
            text.push_str(&object(raw));
        }
        let mut read: Vec<String> = read_text(SCHEMA, text.as_bytes())
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        expected.extend(["100%", "a%2", "lower\u{e9}", "literal\nline"].map(String::from));
        read.sort();
        expected.sort();
        assert_eq!(read, expected);
    }

    #[test]
    fn empty_fields_are_absent_values() {
        let text = [
            // The null version of an object written before versioning was enabled.
            record(&[
                "src",
                "a",
                "",
                "true",
                "false",
                "1",
                "2024-05-06T22:44:22.000Z",
                "e",
                "",
            ]),
            // No is_latest: current.
            record(&[
                "src",
                "b",
                "null",
                "",
                "",
                "2",
                "2024-05-06T22:44:22.123Z",
                "e",
                "GLACIER",
            ]),
            // A delete marker has no size and no ETag.
            record(&[
                "src",
                "c",
                "v",
                "true",
                "true",
                "",
                "2024-05-06T22:44:22.000Z",
                "",
                "",
            ]),
            // A latest version without an ETag cannot be imported.
            record(&[
                "src",
                "d",
                "v",
                "true",
                "false",
                "3",
                "2024-05-06T22:44:22.000Z",
                "",
                "",
            ]),
            // Nor without a size or a time.
            record(&[
                "src",
                "e",
                "v",
                "true",
                "false",
                "",
                "2024-05-06T22:44:22.000Z",
                "e",
                "",
            ]),
            record(&["src", "f", "v", "true", "false", "3", "", "e", ""]),
        ]
        .concat();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.csv.gz");
        std::fs::write(&path, gzip(text.as_bytes())).unwrap();
        let columns = parse_csv_schema(SCHEMA).unwrap();
        let mut reader = CsvFileReader::open(&path, "data.csv.gz", Some("src"), &columns).unwrap();
        let batch = reader.next_batch().unwrap().unwrap();
        assert!(reader.next_batch().is_none());
        assert_eq!(batch.rows, 6);
        assert_eq!(
            batch.skipped,
            SkipCounts {
                noncurrent_version: 0,
                delete_marker: 1,
                incomplete_row: 3,
                outside_prefix: 0,
            }
        );
        assert_eq!(
            batch.entries,
            [
                InventoryEntry {
                    key: "a".into(),
                    version_id: None,
                    size: 1,
                    etag: "e".into(),
                    last_modified_ms: 1_715_035_462_000,
                    storage_class: None,
                },
                InventoryEntry {
                    key: "b".into(),
                    version_id: None,
                    size: 2,
                    etag: "e".into(),
                    last_modified_ms: 1_715_035_462_123,
                    storage_class: Some("GLACIER".into()),
                },
            ]
        );
    }

    #[test]
    fn rows_come_in_batches_of_batch_rows() {
        let text: String = (0..BATCH_ROWS + 10)
            .map(|i| object(&format!("key-{i:06}")))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.csv.gz");
        std::fs::write(&path, gzip(text.as_bytes())).unwrap();
        let columns = parse_csv_schema(SCHEMA).unwrap();
        let mut reader = CsvFileReader::open(&path, "data.csv.gz", Some("src"), &columns).unwrap();
        assert_eq!((reader.total_rows(), reader.row_groups()), (0, 1));
        let sizes: Vec<u64> = std::iter::from_fn(|| reader.next_batch())
            .map(|b| b.unwrap().rows)
            .collect();
        assert_eq!(sizes, [BATCH_ROWS as u64, 10]);
    }

    #[test]
    fn a_reader_left_halfway_stops_decompressing() {
        let text: String = (0..50_000)
            .map(|i| object(&format!("key-{i:06}")))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.csv.gz");
        std::fs::write(&path, gzip(text.as_bytes())).unwrap();
        let columns = parse_csv_schema(SCHEMA).unwrap();
        for _ in 0..20 {
            let mut reader =
                CsvFileReader::open(&path, "data.csv.gz", Some("src"), &columns).unwrap();
            let batch = reader.next_batch().unwrap().unwrap();
            assert_eq!(batch.rows, BATCH_ROWS as u64);
            // Dropping the reader ends its decompressing thread; nothing waits forever.
        }
    }

    #[test]
    fn a_record_with_the_wrong_number_of_fields_names_its_line() {
        let text = [object("a"), object("b"), record(&["src", "c", "5"])].concat();
        let err = read_text(SCHEMA, text.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "data file data.csv.gz: line 3 has 3 field(s), but the manifest's fileSchema lists 9"
        );
        // Lines, not records: a key may hold a line break.
        let text = [
            object("a\nb"),
            object("c"),
            format!("{},\"extra\"\n", object("d").trim_end()),
        ]
        .concat();
        let err = read_text(SCHEMA, text.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "data file data.csv.gz: line 4 has 10 field(s), but the manifest's fileSchema lists 9"
        );
    }

    #[test]
    fn a_truncated_gzip_stream_is_named() {
        let text: String = (0..2000).map(|i| object(&format!("key-{i:06}"))).collect();
        let whole = gzip(text.as_bytes());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.csv.gz");
        for cut in [whole.len() / 2, whole.len() - 4, 5, 0] {
            std::fs::write(&path, whole.get(..cut).unwrap()).unwrap();
            let err = read_path(SCHEMA, &path).unwrap_err();
            assert_eq!(
                err.to_string(),
                "data file data.csv.gz is truncated: its gzip stream ends unexpectedly",
                "cut at {cut} of {}",
                whole.len()
            );
        }
    }

    #[test]
    fn a_file_that_is_not_gzip_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.csv.gz");
        std::fs::write(&path, object("a")).unwrap();
        let err = read_path(SCHEMA, &path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "data file data.csv.gz is not a readable CSV file: invalid gzip header"
        );
    }

    #[test]
    fn a_field_that_does_not_parse_names_its_line_column_and_value() {
        let cases = [
            (
                record(&[
                    "src",
                    "a",
                    "v",
                    "true",
                    "false",
                    "5 bytes",
                    "2024-05-06T22:44:22.000Z",
                    "e",
                    "",
                ]),
                "data file data.csv.gz: line 2, column size: \"5 bytes\" is not an integer",
            ),
            (
                record(&[
                    "src",
                    "a",
                    "v",
                    "true",
                    "false",
                    "5",
                    "2024-05-06 22:44",
                    "e",
                    "",
                ]),
                "data file data.csv.gz: line 2, column last_modified_date: \"2024-05-06 22:44\" is not a time like 2024-05-06T22:37:48.000Z",
            ),
            (
                record(&[
                    "src",
                    "a",
                    "v",
                    "true",
                    "false",
                    "5",
                    "2024-02-30T22:44:22.000Z",
                    "e",
                    "",
                ]),
                "data file data.csv.gz: line 2, column last_modified_date: \"2024-02-30T22:44:22.000Z\" is not a time like 2024-05-06T22:37:48.000Z",
            ),
            (
                record(&[
                    "src",
                    "a",
                    "v",
                    "yes",
                    "false",
                    "5",
                    "2024-05-06T22:44:22.000Z",
                    "e",
                    "",
                ]),
                "data file data.csv.gz: line 2, column is_latest: \"yes\" is not true or false",
            ),
            // Noncurrent rows are checked as well.
            (
                record(&[
                    "src",
                    "a",
                    "v",
                    "false",
                    "0",
                    "5",
                    "2024-05-06T22:44:22.000Z",
                    "e",
                    "",
                ]),
                "data file data.csv.gz: line 2, column is_delete_marker: \"0\" is not true or false",
            ),
        ];
        for (bad, message) in cases {
            let text = [object("ok"), bad].concat();
            let err = read_text(SCHEMA, text.as_bytes()).unwrap_err();
            assert_eq!(err.to_string(), message);
        }
    }

    #[test]
    fn a_key_that_decodes_to_invalid_utf8_is_an_error_naming_its_row() {
        let text = [object("ok"), object("caf%E9")].concat();
        let err = read_text(SCHEMA, text.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "data file data.csv.gz: row 1 has a key that is not valid UTF-8"
        );
    }

    #[test]
    fn another_bucket_is_refused() {
        let text = [
            object("ok"),
            object("x").replacen("\"src\"", "\"other\"", 1),
        ]
        .concat();
        let err = read_text(SCHEMA, text.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "data file data.csv.gz: row 1 lists bucket \"other\", but the manifest's source bucket is \"src\""
        );
    }

    #[test]
    fn a_quote_never_closed_stops_at_the_record_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.csv.gz");
        let mut encoder =
            GzEncoder::new(std::fs::File::create(&path).unwrap(), Compression::fast());
        encoder.write_all(object("ok").as_bytes()).unwrap();
        encoder.write_all(b"\"src\",\"never closed").unwrap();
        let chunk = vec![b'x'; 1024 * 1024];
        for _ in 0..(RECORD_LIMIT / (1024 * 1024) + 2) {
            encoder.write_all(&chunk).unwrap();
        }
        encoder.finish().unwrap();
        let err = read_path(SCHEMA, &path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "data file data.csv.gz is not a readable CSV file: the record from line 2 runs over 16 MiB (a quote that is never closed?)"
        );
    }

    #[test]
    fn reads_times_and_integers_as_s3_inventory_writes_them() {
        assert_eq!(
            parse_time_ms(b"2024-05-06T22:37:48.000Z"),
            Some(1_715_035_068_000)
        );
        assert_eq!(parse_time_ms(b"1970-01-01T00:00:00.001Z"), Some(1));
        assert_eq!(parse_time_ms(b"1969-12-31T23:59:59.000Z"), Some(-1000));
        // Other RFC 3339 forms.
        assert_eq!(
            parse_time_ms(b"2024-05-06T22:37:48Z"),
            Some(1_715_035_068_000)
        );
        assert_eq!(
            parse_time_ms(b"2024-05-07T00:37:48.5+02:00"),
            Some(1_715_035_068_500)
        );
        for bad in [
            &b"2024-13-06T22:37:48.000Z"[..],
            b"2024-05-06T24:00:00.000Z",
            b"yesterday",
            b"\xff",
        ] {
            assert_eq!(parse_time_ms(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_integer(b"5000000000"), Some(5_000_000_000));
        assert_eq!(parse_integer(b"-1"), Some(-1));
        for bad in [&b""[..], b"-", b"1.5", b"1e3", b"99999999999999999999"] {
            assert_eq!(parse_integer(bad), None);
        }
    }
}
