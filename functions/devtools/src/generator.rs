//! Writes real-shaped S3 Inventory deliveries, for tests, the demo and benchmarks.
//!
//! The output follows AWS's destination layout:
//!
//! ```text
//! <prefix>/<source-bucket>/<config-id>/data/<uuid>.parquet   (or <uuid>.csv.gz, <uuid>.orc)
//! <prefix>/<source-bucket>/<config-id>/<YYYY-MM-DDTHH-MMZ>/manifest.json
//! <prefix>/<source-bucket>/<config-id>/<YYYY-MM-DDTHH-MMZ>/manifest.checksum
//! <prefix>/<source-bucket>/<config-id>/hive/dt=<YYYY-MM-DD-HH-MM>/symlink.txt
//! ```
//!
//! Parquet data files carry the schema S3 Inventory writes (required `bucket` and
//! `key`, optional everything else, millisecond timestamps adjusted to UTC, Snappy
//! compression). CSV data files are what S3 Inventory writes in that format: gzipped,
//! no header line, every field quoted, keys URL-encoded as in a form, an empty field
//! for a value the object does not have. ORC data files have the columns and types
//! S3 Inventory's have (`size` a `bigint`, `last_modified_date` a `timestamp`),
//! ZLIB-compressed, a stripe per row group's worth of rows ([`crate::orc_writer`]). The
//! manifest has the format's real `fileSchema` string and correct MD5s.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use flate2::write::GzEncoder;
use md5::{Digest, Md5};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use inventory_base::location::S3Url;
use inventory_base::storage::{ObjectStore, StorageError, md5_of_file};
use inventory_base::storage_class::StorageClass;
use inventory_delivery::manifest::{DataFormat, ManifestDocument, ManifestFile, manifest_md5_hex};
use inventory_delivery::reader::{InventoryEntry, SkipCounts};

use crate::orc_writer::{OrcOptions, OrcRow, type_description, write_orc};

/// Rows per Arrow batch handed to the Parquet writer.
const WRITE_BATCH_ROWS: usize = 65_536;

#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    #[error("invalid generator options: {0}")]
    Options(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("writing data file {file}: {reason}")]
    Write { file: S3Url, reason: String },
    #[error("writing source object {url}: {message}")]
    SourceObject { url: S3Url, message: String },
}

/// Which keys the source bucket holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyShape {
    /// Deep, shared prefixes of 60–120 bytes, like data lakes, logs and media.
    #[default]
    Realistic,
    /// Realistic keys plus awkward ones: spaces, `+`, `%`, unicode, control
    /// characters, trailing and doubled `/`, 1,024-byte keys.
    Awkward,
}

#[derive(Debug, Clone)]
pub struct GeneratorOptions {
    /// Inventory destination: bucket and prefix (`s3://bucket/prefix`).
    pub destination: S3Url,
    pub source_bucket: String,
    pub config_id: String,
    /// Live objects: keys whose latest version is not a delete marker.
    pub objects: u64,
    pub files: usize,
    /// The data files' format (`fileFormat`): Parquet unless told.
    pub format: DataFormat,
    /// Rows per Parquet row group or ORC stripe.
    pub rows_per_group: usize,
    pub keys: KeyShape,
    /// A versioned bucket: noncurrent versions, null versions and delete markers.
    pub versioned: bool,
    /// Rows in random order within each file (otherwise sorted by key).
    pub shuffle: bool,
    /// Rows spread over files at random, so the files' key ranges overlap.
    pub overlap: bool,
    /// Also write the source objects (with small bodies whose MD5 is the ETag).
    pub write_objects: bool,
    /// With `write_objects`, each latest body is at least this many bytes (a key's
    /// small body repeated).
    pub object_bytes: usize,
    pub seed: u64,
    pub created_at: DateTime<Utc>,
    /// Keep the expected entries in [`GeneratedInventory::expected`].
    pub collect_expected: bool,
    /// A later delivery of the same bucket: what changed since the inventory of the
    /// same `seed` and `objects`.
    pub changes: Changes,
}

/// Objects added, changed and deleted since the inventory of the same seed: an
/// import of the later delivery counts exactly these.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// New keys.
    pub added: u64,
    /// Objects with a new latest version (new ETag, size and version id).
    pub changed: u64,
    /// Objects deleted (a delete marker in a versioned bucket).
    pub deleted: u64,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

impl GeneratorOptions {
    pub fn new(destination: S3Url, source_bucket: impl Into<String>) -> Self {
        Self {
            destination,
            source_bucket: source_bucket.into(),
            config_id: "daily".to_string(),
            objects: 1000,
            files: 1,
            format: DataFormat::Parquet,
            rows_per_group: 1_000_000,
            keys: KeyShape::Realistic,
            versioned: false,
            shuffle: false,
            overlap: false,
            write_objects: false,
            object_bytes: 0,
            seed: 1,
            created_at: DateTime::<Utc>::from_timestamp(1_764_028_800, 0).unwrap_or_default(),
            collect_expected: true,
            changes: Changes::default(),
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct GeneratedInventory {
    pub manifest: S3Url,
    pub checksum: S3Url,
    pub symlink: S3Url,
    pub data_files: Vec<S3Url>,
    pub source_bucket: String,
    pub objects: u64,
    pub rows: u64,
    pub bytes: u64,
    pub skipped: SkipCounts,
    /// The entries an import must produce, sorted by key (when collected).
    #[serde(skip)]
    pub expected: Vec<InventoryEntry>,
}

/// One inventory row.
#[derive(Debug, Clone)]
struct Row {
    key: String,
    version_id: Option<String>,
    is_latest: bool,
    is_delete_marker: bool,
    size: Option<i64>,
    last_modified_ms: i64,
    etag: Option<String>,
    storage_class: Option<StorageClass>,
    multipart: Option<bool>,
}

/// Generates a delivery and writes it (and optionally the source objects) to `store`.
/// Buckets that do not exist are created.
pub async fn generate_inventory(
    store: &ObjectStore,
    options: &GeneratorOptions,
) -> Result<GeneratedInventory, GeneratorError> {
    if options.files == 0 {
        return Err(GeneratorError::Options("files must be at least 1".into()));
    }
    if options.rows_per_group == 0 {
        return Err(GeneratorError::Options(
            "rows per row group must be at least 1".into(),
        ));
    }
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut rows = plan_rows(options, &mut rng);
    let mut options = options.clone();
    if !options.changes.is_empty() {
        apply_changes(&mut rows, &options, &mut rng)?;
        options.objects = options.objects + options.changes.added - options.changes.deleted;
    }
    store.ensure_bucket(&options.destination.bucket).await?;
    if options.write_objects {
        write_source_objects(store, &options, &mut rows).await?;
    }
    write_rows(store, &options, rows, &mut rng).await
}

/// Turns the rows of the inventory of `options.seed` into those of a later delivery:
/// `changes.changed` objects get a new latest version, `changes.deleted` are deleted
/// and `changes.added` new keys appear. Which objects is decided by `rng`, which
/// therefore also names the data files differently from the earlier delivery's.
fn apply_changes(
    rows: &mut Vec<Row>,
    options: &GeneratorOptions,
    rng: &mut StdRng,
) -> Result<(), GeneratorError> {
    let changes = options.changes;
    let now_ms = options.created_at.timestamp_millis();
    let mut live: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].is_latest && !rows[i].is_delete_marker)
        .collect();
    if changes.changed + changes.deleted > live.len() as u64 {
        return Err(GeneratorError::Options(format!(
            "cannot change {} and delete {} of {} objects",
            changes.changed,
            changes.deleted,
            live.len()
        )));
    }
    live.shuffle(rng);
    let (changed, rest) = live.split_at(changes.changed as usize);
    let deleted = &rest[..changes.deleted as usize];
    // Written in the hour before the inventory, after the version it replaces.
    let modified_after = |previous: i64, rng: &mut StdRng| {
        (now_ms - rng.random_range(1..3_600_000)).max(previous + 1000)
    };
    let mut removed = vec![false; rows.len()];
    for &i in changed {
        let modified = modified_after(rows[i].last_modified_ms, rng);
        let id = options.versioned.then(|| version_id(rng));
        let row = object_row(&rows[i].key.clone(), id, modified, rng);
        if options.versioned {
            rows[i].is_latest = false;
            rows.push(row);
        } else {
            rows[i] = row;
        }
    }
    for &i in deleted {
        if options.versioned {
            let modified = modified_after(rows[i].last_modified_ms, rng);
            rows[i].is_latest = false;
            let marker = delete_marker(&rows[i].key.clone(), true, modified, rng);
            rows.push(marker);
        } else {
            removed[i] = true;
        }
    }
    // Indexes above those of the earlier delivery's keys make new keys.
    let first = options.objects * 2 + 1;
    for index in first..first + changes.added {
        let key = realistic_key(index, rng);
        rows.extend(object_versions(&key, options.versioned, now_ms, rng));
    }
    let mut index = 0;
    rows.retain(|_| {
        index += 1;
        !removed.get(index - 1).copied().unwrap_or(false)
    });
    Ok(())
}

/// Writes a delivery listing exactly `entries` (current versions only), for tests
/// and benchmarks that need inventories with known differences. The version columns
/// are written when `options.versioned` is set.
pub async fn write_inventory(
    store: &ObjectStore,
    options: &GeneratorOptions,
    entries: &[InventoryEntry],
) -> Result<GeneratedInventory, GeneratorError> {
    if options.files == 0 {
        return Err(GeneratorError::Options("files must be at least 1".into()));
    }
    let mut rng = StdRng::seed_from_u64(options.seed);
    store.ensure_bucket(&options.destination.bucket).await?;
    let rows = entries
        .iter()
        .map(|e| Row {
            key: e.key.clone(),
            version_id: e.version_id.clone(),
            is_latest: true,
            is_delete_marker: false,
            size: Some(e.size as i64),
            last_modified_ms: e.last_modified_ms,
            etag: Some(e.etag.clone()),
            storage_class: e.storage_class.clone(),
            multipart: Some(e.etag.contains('-')),
        })
        .collect();
    let mut options = options.clone();
    options.objects = entries.len() as u64;
    write_rows(store, &options, rows, &mut rng).await
}

/// Splits rows into data files and writes them with their manifest, checksum and
/// symlink.
async fn write_rows(
    store: &ObjectStore,
    options: &GeneratorOptions,
    rows: Vec<Row>,
    rng: &mut StdRng,
) -> Result<GeneratedInventory, GeneratorError> {
    let mut skipped = SkipCounts::default();
    let mut expected = Vec::new();
    for row in &rows {
        if !row.is_latest {
            skipped.noncurrent_version += 1;
        } else if row.is_delete_marker {
            skipped.delete_marker += 1;
        } else if options.collect_expected {
            expected.push(InventoryEntry {
                key: row.key.clone(),
                version_id: row.version_id.clone(),
                size: row.size.unwrap_or_default().max(0) as u64,
                etag: row.etag.clone().unwrap_or_default(),
                last_modified_ms: row.last_modified_ms,
                storage_class: row.storage_class.clone(),
            });
        }
    }
    expected.sort();
    let total_rows = rows.len() as u64;
    let file_rows = split_into_files(rows, options, rng);

    let base = layout_base(options);
    let schema = arrow_schema(options.versioned);
    let mut files = Vec::new();
    let mut data_files = Vec::new();
    let mut bytes = 0;
    for rows in file_rows {
        let id = uuid::Builder::from_random_bytes(rng.random()).into_uuid();
        let url = base.join(&format!("data/{id}.{}", extension(options.format)));
        let temp = tempfile::NamedTempFile::new().map_err(|err| GeneratorError::Write {
            file: url.clone(),
            reason: err.to_string(),
        })?;
        let written = match options.format {
            DataFormat::Parquet => write_data_file(temp.path(), &schema, options, &rows),
            DataFormat::Csv => write_csv_file(temp.path(), options, &rows),
            DataFormat::Orc => write_orc_file(temp.path(), options, &rows),
        };
        let (size, md5) = written.map_err(|reason| GeneratorError::Write {
            file: url.clone(),
            reason,
        })?;
        store.put_file(&url, temp.path()).await?;
        bytes += size;
        files.push(ManifestFile {
            key: url.key.clone(),
            size,
            md5_checksum: md5,
        });
        data_files.push(url);
    }

    let stamp = options.created_at.format("%Y-%m-%dT%H-%MZ").to_string();
    let manifest_url = base.join(&format!("{stamp}/manifest.json"));
    let document = ManifestDocument {
        source_bucket: options.source_bucket.clone(),
        destination_bucket: format!("arn:aws:s3:::{}", options.destination.bucket),
        version: "2016-11-30".to_string(),
        creation_timestamp: options.created_at.timestamp_millis().to_string(),
        file_format: options.format.name().to_string(),
        file_schema: match options.format {
            DataFormat::Parquet => file_schema(options.versioned),
            DataFormat::Csv => csv_file_schema(options.versioned),
            DataFormat::Orc => type_description(&orc_options(options)),
        },
        files,
    };
    let body = serde_json::to_vec_pretty(&document).map_err(|err| GeneratorError::Write {
        file: manifest_url.clone(),
        reason: err.to_string(),
    })?;
    let checksum_url = manifest_url.sibling("manifest.checksum");
    let symlink_url = base.join(&format!(
        "hive/dt={}/symlink.txt",
        options.created_at.format("%Y-%m-%d-%H-%M")
    ));
    let symlink: String = data_files.iter().map(|f| format!("{f}\n")).collect();
    store.put(&symlink_url, Bytes::from(symlink)).await?;
    // The checksum goes last: its arrival is the sign that the delivery is complete.
    store.put(&manifest_url, Bytes::from(body.clone())).await?;
    store
        .put(
            &checksum_url,
            Bytes::from(format!("{}\n", manifest_md5_hex(&body))),
        )
        .await?;

    Ok(GeneratedInventory {
        manifest: manifest_url,
        checksum: checksum_url,
        symlink: symlink_url,
        data_files,
        source_bucket: options.source_bucket.clone(),
        objects: options.objects,
        rows: total_rows,
        bytes,
        skipped,
        expected,
    })
}

/// `<prefix>/<source-bucket>/<config-id>/`
fn layout_base(options: &GeneratorOptions) -> S3Url {
    let prefix = options.destination.key.trim_end_matches('/');
    let path = if prefix.is_empty() {
        format!("{}/{}", options.source_bucket, options.config_id)
    } else {
        format!("{prefix}/{}/{}", options.source_bucket, options.config_id)
    };
    S3Url::new(&options.destination.bucket, path)
}

/// The keys of the live objects, then every row of every key.
fn plan_rows(options: &GeneratorOptions, rng: &mut StdRng) -> Vec<Row> {
    let now_ms = options.created_at.timestamp_millis();
    let mut keys: Vec<String> = Vec::with_capacity(options.objects as usize);
    if options.keys == KeyShape::Awkward {
        keys.extend(awkward_keys().into_iter().take(options.objects as usize));
    }
    let mut index = 0u64;
    while (keys.len() as u64) < options.objects {
        keys.push(realistic_key(index, rng));
        index += 1;
    }
    let mut rows = Vec::with_capacity(keys.len() * if options.versioned { 2 } else { 1 });
    for key in keys {
        let mut versions = object_versions(&key, options.versioned, now_ms, rng);
        rows.append(&mut versions);
    }
    if options.versioned {
        // Keys whose latest version is a delete marker: deleted objects.
        let deleted = (options.objects / 10).max(1);
        for _ in 0..deleted {
            let key = realistic_key(index, rng);
            index += 1;
            let modified = now_ms - rng.random_range(1..1_000_000_000);
            rows.push(delete_marker(&key, true, modified, rng));
            let mut old = object_row(&key, Some(version_id(rng)), modified - 1000, rng);
            old.is_latest = false;
            rows.push(old);
        }
    }
    rows
}

fn object_versions(key: &str, versioned: bool, now_ms: i64, rng: &mut StdRng) -> Vec<Row> {
    let modified = now_ms - rng.random_range(1_000_000..100_000_000_000);
    if !versioned {
        return vec![object_row(key, None, modified, rng)];
    }
    // A few objects predate versioning and only have the null version.
    let latest_id = (!rng.random_bool(0.05)).then(|| version_id(rng));
    let mut rows = vec![object_row(key, latest_id.clone(), modified, rng)];
    if latest_id.is_some() {
        let noncurrent = match rng.random_range(0..100) {
            0..75 => 0,
            75..95 => 1,
            _ => 2,
        };
        for n in 0..noncurrent {
            let older = modified - 1000 * (n + 1);
            let mut row = if rng.random_bool(0.03) {
                delete_marker(key, false, older, rng)
            } else {
                // The original of an object written before versioning was enabled.
                let id = (!rng.random_bool(0.3)).then(|| version_id(rng));
                object_row(key, id, older, rng)
            };
            row.is_latest = false;
            rows.push(row);
        }
    }
    // S3 Inventory does not order a key's versions consistently.
    rows.shuffle(rng);
    rows
}

fn object_row(key: &str, version_id: Option<String>, modified_ms: i64, rng: &mut StdRng) -> Row {
    let size = match rng.random_range(0..100) {
        0..5 => 0,
        5..60 => rng.random_range(1..100_000),
        60..95 => rng.random_range(100_000..100_000_000),
        _ => rng.random_range(100_000_000..5_000_000_000),
    };
    let multipart = size > 16 * 1024 * 1024 && rng.random_bool(0.8);
    let mut etag = hex::encode(rng.random::<[u8; 16]>());
    if size == 0 {
        // Every empty object has the MD5 of nothing as its ETag.
        etag = "d41d8cd98f00b204e9800998ecf8427e".to_string();
    }
    if multipart {
        etag.push_str(&format!("-{}", size / (8 * 1024 * 1024) + 1));
    }
    let storage_class = match rng.random_range(0..100) {
        0..80 => "STANDARD",
        80..90 => "STANDARD_IA",
        90..95 => "INTELLIGENT_TIERING",
        _ => "GLACIER_IR",
    };
    Row {
        key: key.to_string(),
        version_id,
        is_latest: true,
        is_delete_marker: false,
        size: Some(size),
        last_modified_ms: whole_seconds(modified_ms),
        etag: Some(etag),
        storage_class: Some(storage_class.into()),
        multipart: Some(multipart),
    }
}

fn delete_marker(key: &str, is_latest: bool, modified_ms: i64, rng: &mut StdRng) -> Row {
    Row {
        key: key.to_string(),
        version_id: Some(version_id(rng)),
        is_latest,
        is_delete_marker: true,
        size: None,
        last_modified_ms: whole_seconds(modified_ms),
        etag: None,
        storage_class: None,
        multipart: None,
    }
}

/// S3 keeps last-modified times in whole seconds (inventories written by AWS show
/// `.000` milliseconds throughout).
fn whole_seconds(ms: i64) -> i64 {
    ms.div_euclid(1000) * 1000
}

/// A version id shaped like S3's: 32 URL-safe characters.
fn version_id(rng: &mut StdRng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
    (0..32)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A key with deep, shared prefixes, 60–120 bytes long, unique by `index`.
pub fn realistic_key(index: u64, rng: &mut StdRng) -> String {
    const SOURCES: [&str; 8] = [
        "clickstream",
        "payments",
        "inventory",
        "crm-contacts",
        "iot-telemetry",
        "search-logs",
        "recommendations",
        "fraud-scores",
    ];
    const SERVICES: [&str; 6] = [
        "api-gateway",
        "checkout",
        "auth",
        "catalog",
        "shipping",
        "billing",
    ];
    const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2"];
    const CATEGORIES: [&str; 5] = ["products", "avatars", "banners", "thumbnails", "scans"];
    let year = 2021 + rng.random_range(0..5);
    let month = rng.random_range(1..=12);
    let day = rng.random_range(1..=28);
    match index % 4 {
        0 => format!(
            "datalake/raw/{}/year={year}/month={month:02}/day={day:02}/part-{index:08}-{:08x}.snappy.parquet",
            SOURCES[rng.random_range(0..SOURCES.len())],
            rng.random::<u32>()
        ),
        1 => {
            let service = SERVICES[rng.random_range(0..SERVICES.len())];
            format!(
                "logs/{service}/{}/{year}/{month:02}/{day:02}/{:02}/{service}-{index:08}.log.gz",
                REGIONS[rng.random_range(0..REGIONS.len())],
                rng.random_range(0..24)
            )
        }
        2 => format!(
            "media/images/{}/{:02x}/{:02x}/{:016x}-{index:08}_{}x{}.jpg",
            CATEGORIES[rng.random_range(0..CATEGORIES.len())],
            rng.random::<u8>(),
            rng.random::<u8>(),
            rng.random::<u64>(),
            [640, 1280, 1920][rng.random_range(0..3)],
            [480, 720, 1080][rng.random_range(0..3)]
        ),
        _ => format!(
            "genomics/project-{:03}/sample-{:05}/run-{:02}/lane-{}/reads_{index:08}.fastq.gz",
            rng.random_range(0..40),
            rng.random_range(0..20_000),
            rng.random_range(0..12),
            rng.random_range(1..=8)
        ),
    }
}

/// Keys that break naive readers: encodings, separators, ordering edge cases, limits.
pub fn awkward_keys() -> Vec<String> {
    let mut keys: Vec<String> = [
        "with space/file name.txt",
        " leading-space",
        "trailing-space ",
        "plus+sign/a+b=c.txt",
        "percent/%2F%20literal%.txt",
        "unicode/日本語/ファイル.txt",
        "emoji/😀🎉.png",
        "accents/caf\u{e9}-nfc.txt",
        "accents/cafe\u{301}-nfd.txt",
        "control/\u{1}\u{7f}bell.bin",
        "control/line\nbreak.txt",
        "control/tab\tkey.txt",
        "trailing-slash/",
        "double//slash//key",
        "/leading-slash",
        "./dot/../dotdot",
        "query?x=1&y=2#fragment",
        "quotes/\"double\"'single'`back`",
        "back\\slash\\path",
        "xml/<tag>&amp;</tag>",
        "punctuation/*star?colon:pipe|caret^tilde~",
        "sorting/a",
        "sorting/a/",
        "sorting/a/b",
        "sorting/a!",
        "sorting/a0",
        "sorting/A",
        "\u{feff}byte-order-mark",
        "\u{10ffff}last-code-point",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    // The longest keys S3 allows: 1,024 bytes, in ASCII and in two-byte characters.
    keys.push(format!("long/{}", "x".repeat(1024 - 5)));
    keys.push(format!("long-unicode/{}", "\u{e9}".repeat((1024 - 13) / 2)));
    keys
}

/// Groups rows into data files: contiguous key ranges, or at random when overlapping;
/// then shuffles within each file when asked.
fn split_into_files(
    mut rows: Vec<Row>,
    options: &GeneratorOptions,
    rng: &mut StdRng,
) -> Vec<Vec<Row>> {
    let files = options.files;
    let mut out: Vec<Vec<Row>> = (0..files).map(|_| Vec::new()).collect();
    if options.overlap {
        for row in rows {
            out[rng.random_range(0..files)].push(row);
        }
    } else {
        // Stable: a key's versions keep their (random) relative order.
        rows.sort_by(|a, b| a.key.cmp(&b.key));
        let per_file = rows.len().div_ceil(files).max(1);
        let mut rows = rows.into_iter().peekable();
        for file in out.iter_mut() {
            file.extend(rows.by_ref().take(per_file));
        }
    }
    if options.shuffle {
        for file in out.iter_mut() {
            file.shuffle(rng);
        }
    }
    out
}

/// The columns S3 Inventory writes, in its order.
fn arrow_schema(versioned: bool) -> SchemaRef {
    let mut fields = vec![
        Field::new("bucket", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, false),
    ];
    if versioned {
        fields.push(Field::new("version_id", DataType::Utf8, true));
        fields.push(Field::new("is_latest", DataType::Boolean, true));
        fields.push(Field::new("is_delete_marker", DataType::Boolean, true));
    }
    fields.extend([
        Field::new("size", DataType::Int64, true),
        Field::new(
            "last_modified_date",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        Field::new("e_tag", DataType::Utf8, true),
        Field::new("storage_class", DataType::Utf8, true),
        Field::new("is_multipart_uploaded", DataType::Boolean, true),
        Field::new("encryption_status", DataType::Utf8, true),
    ]);
    Arc::new(Schema::new(fields))
}

/// `fileSchema` as real deliveries write it: parquet-mr's schema, newlines removed.
fn file_schema(versioned: bool) -> String {
    let mut fields = vec![
        "required binary bucket (STRING)",
        "required binary key (STRING)",
    ];
    if versioned {
        fields.extend([
            "optional binary version_id (STRING)",
            "optional boolean is_latest",
            "optional boolean is_delete_marker",
        ]);
    }
    fields.extend([
        "optional int64 size",
        "optional int64 last_modified_date (TIMESTAMP(MILLIS,true))",
        "optional binary e_tag (STRING)",
        "optional binary storage_class (STRING)",
        "optional boolean is_multipart_uploaded",
        "optional binary encryption_status (STRING)",
    ]);
    let body: String = fields.iter().map(|f| format!("  {f};")).collect();
    format!("message s3.inventory {{{body}}}")
}

/// How S3 Inventory names a data file of `format`: `<uuid>.<extension>`.
fn extension(format: DataFormat) -> &'static str {
    match format {
        DataFormat::Parquet => "parquet",
        DataFormat::Orc => "orc",
        DataFormat::Csv => "csv.gz",
    }
}

/// `fileSchema` of a CSV delivery as S3 Inventory writes it: the fields' names, in
/// order, separated by a comma and a space.
fn csv_file_schema(versioned: bool) -> String {
    let mut fields = vec!["Bucket", "Key"];
    if versioned {
        fields.extend(["VersionId", "IsLatest", "IsDeleteMarker"]);
    }
    fields.extend([
        "Size",
        "LastModifiedDate",
        "ETag",
        "StorageClass",
        "IsMultipartUploaded",
        "EncryptionStatus",
    ]);
    fields.join(", ")
}

/// Writes `rows` as one gzipped CSV data file, the fields of [`csv_file_schema`] in
/// order; returns its size and MD5.
fn write_csv_file(
    path: &std::path::Path,
    options: &GeneratorOptions,
    rows: &[Row],
) -> Result<(u64, String), String> {
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut gzip = GzEncoder::new(
        std::io::BufWriter::with_capacity(256 * 1024, file),
        flate2::Compression::default(),
    );
    let mut line = Vec::with_capacity(4096);
    let flag = |value: bool| if value { "true" } else { "false" };
    for row in rows {
        line.clear();
        let mut fields: Vec<Cow<'_, str>> = vec![
            Cow::Borrowed(options.source_bucket.as_str()),
            Cow::Owned(form_encode(&row.key)),
        ];
        if options.versioned {
            fields.extend([
                Cow::Borrowed(row.version_id.as_deref().unwrap_or_default()),
                Cow::Borrowed(flag(row.is_latest)),
                Cow::Borrowed(flag(row.is_delete_marker)),
            ]);
        }
        fields.extend([
            row.size
                .map_or(Cow::Borrowed(""), |size| Cow::Owned(size.to_string())),
            Cow::Owned(csv_time(row.last_modified_ms)),
            Cow::Borrowed(row.etag.as_deref().unwrap_or_default()),
            Cow::Borrowed(row.storage_class.as_deref().unwrap_or_default()),
            Cow::Borrowed(row.multipart.map(flag).unwrap_or_default()),
            Cow::Borrowed(if row.is_delete_marker { "" } else { "SSE-S3" }),
        ]);
        for (index, field) in fields.iter().enumerate() {
            if index > 0 {
                line.push(b',');
            }
            line.push(b'"');
            for &byte in field.as_bytes() {
                if byte == b'"' {
                    line.push(b'"');
                }
                line.push(byte);
            }
            line.push(b'"');
        }
        line.push(b'\n');
        gzip.write_all(&line).map_err(|e| e.to_string())?;
    }
    gzip.finish()
        .and_then(|mut out| out.flush())
        .map_err(|e| e.to_string())?;
    md5_of_file(path).map_err(|e| e.to_string())
}

/// A key as S3 Inventory's CSV writes it: URL-encoded as in a form, a space as `+`
/// and every byte other than the unreserved characters (`A-Z a-z 0-9 - . _ ~`) and
/// `/` as `%XX` (AWS's own files show `/` as it is).
pub fn form_encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + key.len() / 4);
    for &byte in key.as_bytes() {
        match byte {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(char::from(byte));
            }
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xf)]));
            }
        }
    }
    out
}

/// A last-modified time as S3 Inventory's CSV writes it: `2024-05-06T22:37:48.000Z`.
fn csv_time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// How a delivery's ORC data files are laid out: the version columns when the bucket
/// is versioned, a stripe per [`GeneratorOptions::rows_per_group`] rows.
fn orc_options(options: &GeneratorOptions) -> OrcOptions {
    OrcOptions {
        stripe_rows: options.rows_per_group,
        versioned: options.versioned,
        ..OrcOptions::default()
    }
}

/// Writes `rows` as one ORC data file, the columns of [`type_description`] in order;
/// returns its size and MD5.
fn write_orc_file(
    path: &std::path::Path,
    options: &GeneratorOptions,
    rows: &[Row],
) -> Result<(u64, String), String> {
    let rows: Vec<OrcRow> = rows
        .iter()
        .map(|row| OrcRow {
            bucket: options.source_bucket.clone(),
            key: row.key.clone(),
            version_id: row.version_id.clone(),
            is_latest: Some(row.is_latest),
            is_delete_marker: Some(row.is_delete_marker),
            size: row.size,
            last_modified_ms: Some(row.last_modified_ms),
            e_tag: row.etag.clone(),
            storage_class: row.storage_class.as_deref().map(str::to_string),
        })
        .collect();
    std::fs::write(path, write_orc(&rows, &orc_options(options))).map_err(|e| e.to_string())?;
    md5_of_file(path).map_err(|e| e.to_string())
}

/// Writes `rows` as one Parquet data file; returns its size and MD5.
fn write_data_file(
    path: &std::path::Path,
    schema: &SchemaRef,
    options: &GeneratorOptions,
    rows: &[Row],
) -> Result<(u64, String), String> {
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(options.rows_per_group))
        .build();
    let writer_options = ArrowWriterOptions::new()
        .with_properties(properties)
        .with_skip_arrow_metadata(true)
        .with_schema_root("s3.inventory".to_string());
    let mut writer = ArrowWriter::try_new_with_options(file, schema.clone(), writer_options)
        .map_err(|e| e.to_string())?;
    for chunk in rows.chunks(WRITE_BATCH_ROWS) {
        let batch = record_batch(schema, &options.source_bucket, options.versioned, chunk)?;
        writer.write(&batch).map_err(|e| e.to_string())?;
    }
    writer.close().map_err(|e| e.to_string())?;

    md5_of_file(path).map_err(|e| e.to_string())
}

fn record_batch(
    schema: &SchemaRef,
    bucket: &str,
    versioned: bool,
    rows: &[Row],
) -> Result<RecordBatch, String> {
    let mut buckets = StringBuilder::new();
    let mut keys = StringBuilder::new();
    let mut version_ids = StringBuilder::new();
    let mut latest = BooleanBuilder::new();
    let mut delete_markers = BooleanBuilder::new();
    let mut sizes = Int64Builder::new();
    let mut modified = TimestampMillisecondBuilder::new().with_timezone("UTC");
    let mut etags = StringBuilder::new();
    let mut classes = StringBuilder::new();
    let mut multipart = BooleanBuilder::new();
    let mut encryption = StringBuilder::new();
    for row in rows {
        buckets.append_value(bucket);
        keys.append_value(&row.key);
        version_ids.append_option(row.version_id.as_deref());
        latest.append_value(row.is_latest);
        delete_markers.append_value(row.is_delete_marker);
        sizes.append_option(row.size);
        modified.append_value(row.last_modified_ms);
        etags.append_option(row.etag.as_deref());
        classes.append_option(row.storage_class.as_deref());
        multipart.append_option(row.multipart);
        encryption.append_option((!row.is_delete_marker).then_some("SSE-S3"));
    }
    let mut columns: Vec<ArrayRef> = vec![Arc::new(buckets.finish()), Arc::new(keys.finish())];
    if versioned {
        columns.push(Arc::new(version_ids.finish()));
        columns.push(Arc::new(latest.finish()));
        columns.push(Arc::new(delete_markers.finish()));
    }
    columns.extend([
        Arc::new(sizes.finish()) as ArrayRef,
        Arc::new(modified.finish()),
        Arc::new(etags.finish()),
        Arc::new(classes.finish()),
        Arc::new(multipart.finish()),
        Arc::new(encryption.finish()),
    ]);
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())
}

/// Writes every version of every object, oldest first, and records the version ids
/// and ETags S3 gives them. Bodies are small so that this stays quick.
async fn write_source_objects(
    store: &ObjectStore,
    options: &GeneratorOptions,
    rows: &mut [Row],
) -> Result<(), GeneratorError> {
    let ObjectStore::S3(client) = store else {
        // A local directory has no versions: write the latest bodies only.
        for row in rows
            .iter_mut()
            .filter(|r| r.is_latest && !r.is_delete_marker)
        {
            let body = object_body(row, 0, options.object_bytes);
            row.size = Some(body.len() as i64);
            row.etag = Some(hex::encode(Md5::digest(&body)));
            row.multipart = Some(false);
            store
                .put(
                    &S3Url::new(&options.source_bucket, &row.key),
                    Bytes::from(body),
                )
                .await?;
        }
        return Ok(());
    };
    store.ensure_bucket(&options.source_bucket).await?;
    // Each key's versions, oldest first, so that the latest row ends up current.
    let mut by_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (index, row) in rows.iter().enumerate() {
        by_key.entry(row.key.clone()).or_default().push(index);
    }
    for indexes in by_key.values_mut() {
        indexes.sort_by_key(|&i| (rows[i].is_latest, rows[i].last_modified_ms));
    }
    // Null versions are objects written before versioning was enabled: write the
    // oldest version of a key first when it is one, then enable versioning.
    let mut later = Vec::with_capacity(rows.len());
    for indexes in by_key.values() {
        let (first, rest) = indexes
            .split_first()
            .map_or((None, &[][..]), |(f, r)| (Some(*f), r));
        match first {
            Some(i)
                if options.versioned
                    && rows[i].version_id.is_none()
                    && !rows[i].is_delete_marker =>
            {
                put_version(
                    client,
                    &options.source_bucket,
                    &mut rows[i],
                    0,
                    false,
                    options.object_bytes,
                )
                .await?;
            }
            Some(i) => later.push((i, 0)),
            None => {}
        }
        later.extend(rest.iter().enumerate().map(|(n, &i)| (i, n + 1)));
    }
    if options.versioned {
        let versioning = VersioningConfiguration::builder()
            .status(BucketVersioningStatus::Enabled)
            .build();
        client
            .put_bucket_versioning()
            .bucket(&options.source_bucket)
            .versioning_configuration(versioning)
            .send()
            .await
            .map_err(|err| source_error(&S3Url::new(&options.source_bucket, ""), &err))?;
    }
    for (i, ordinal) in later {
        put_version(
            client,
            &options.source_bucket,
            &mut rows[i],
            ordinal,
            options.versioned,
            options.object_bytes,
        )
        .await?;
    }
    Ok(())
}

fn source_error(url: &S3Url, err: &dyn std::error::Error) -> GeneratorError {
    GeneratorError::SourceObject {
        url: url.clone(),
        message: aws_sdk_s3::error::DisplayErrorContext(err).to_string(),
    }
}

/// Writes one version of an object (or a delete marker) and records what S3 says of it.
async fn put_version(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    row: &mut Row,
    ordinal: usize,
    versioned: bool,
    object_bytes: usize,
) -> Result<(), GeneratorError> {
    let url = S3Url::new(bucket, &row.key);
    if row.is_delete_marker {
        let output = client
            .delete_object()
            .bucket(bucket)
            .key(&row.key)
            .send()
            .await
            .map_err(|err| source_error(&url, &err))?;
        row.version_id = output.version_id;
        return Ok(());
    }
    let body = object_body(row, ordinal, object_bytes);
    row.size = Some(body.len() as i64);
    row.multipart = Some(false);
    let output = client
        .put_object()
        .bucket(bucket)
        .key(&row.key)
        .body(Bytes::from(body).into())
        .send()
        .await
        .map_err(|err| source_error(&url, &err))?;
    row.etag = output.e_tag.map(|t| t.trim_matches('"').to_string());
    row.version_id = if versioned {
        output.version_id.filter(|v| v != "null")
    } else {
        None
    };
    Ok(())
}

/// A small body, different for each version of a key, repeated to `at_least` bytes.
fn object_body(row: &Row, ordinal: usize, at_least: usize) -> Vec<u8> {
    let line = format!("{}#{ordinal}\n", row.key).into_bytes();
    if line.len() >= at_least {
        return line;
    }
    line.iter().copied().cycle().take(at_least).collect()
}

#[cfg(test)]
mod tests {
    use parquet::basic::{Compression, Repetition};
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::schema::printer::print_schema;

    use super::*;
    use inventory_delivery::manifest::{Manifest, parse_file_schema};

    #[tokio::test]
    async fn a_later_delivery_adds_changes_and_deletes_exactly() {
        let root = tempfile::tempdir().unwrap();
        let store = ObjectStore::Local(root.path().to_path_buf());
        for versioned in [false, true] {
            let mut options = GeneratorOptions::new("s3://dest/inv".parse().unwrap(), "src");
            options.objects = 300;
            options.files = 2;
            options.versioned = versioned;
            options.keys = KeyShape::Awkward;
            let before = generate_inventory(&store, &options).await.unwrap();
            options.created_at += chrono::Duration::days(1);
            options.changes = Changes {
                added: 7,
                changed: 11,
                deleted: 5,
            };
            let after = generate_inventory(&store, &options).await.unwrap();
            assert_eq!(after.objects, 302);
            assert_eq!(after.expected.len(), 302);
            let old: BTreeMap<&str, &InventoryEntry> = before
                .expected
                .iter()
                .map(|e| (e.key.as_str(), e))
                .collect();
            let new: BTreeMap<&str, &InventoryEntry> =
                after.expected.iter().map(|e| (e.key.as_str(), e)).collect();
            let added = new.keys().filter(|k| !old.contains_key(*k)).count();
            let deleted = old.keys().filter(|k| !new.contains_key(*k)).count();
            let changed = new
                .iter()
                .filter(|(k, e)| {
                    old.get(*k).is_some_and(|o| {
                        (&o.etag, o.size, &o.version_id) != (&e.etag, e.size, &e.version_id)
                    })
                })
                .count();
            assert_eq!(
                (added, changed, deleted),
                (7, 11, 5),
                "versioned {versioned}"
            );
            if versioned {
                // Replaced versions and the deleted objects' versions are noncurrent
                // (new keys may bring noncurrent versions of their own).
                assert!(after.skipped.noncurrent_version >= before.skipped.noncurrent_version + 16);
                assert_eq!(
                    after.skipped.delete_marker,
                    before.skipped.delete_marker + 5
                );
            }
            // New data file names: the earlier delivery's files are left as they were.
            assert!(
                after
                    .data_files
                    .iter()
                    .all(|f| !before.data_files.contains(f))
            );
        }
    }

    #[tokio::test]
    async fn writes_csv_deliveries_as_s3_inventory_does() {
        use std::io::Read;

        use inventory_delivery::inspect::{InspectOptions, inspect_manifest};

        let root = tempfile::tempdir().unwrap();
        let store = ObjectStore::Local(root.path().to_path_buf());
        let awkward = awkward_keys();
        let mut options = GeneratorOptions::new("s3://dest/prefix".parse().unwrap(), "src");
        options.format = DataFormat::Csv;
        options.objects = awkward.len() as u64 + 200;
        options.files = 3;
        options.versioned = true;
        options.keys = KeyShape::Awkward;
        options.shuffle = true;
        let generated = generate_inventory(&store, &options).await.unwrap();

        // AWS's layout, format and fileSchema.
        assert!(generated.data_files.iter().all(|f| {
            f.key.starts_with("prefix/src/daily/data/") && f.key.ends_with(".csv.gz")
        }));
        let body = store.get(&generated.manifest).await.unwrap();
        let document: ManifestDocument = serde_json::from_slice(&body).unwrap();
        assert_eq!(document.file_format, "CSV");
        assert_eq!(
            document.file_schema,
            "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass, IsMultipartUploaded, EncryptionStatus"
        );
        for (file, url) in document.files.iter().zip(&generated.data_files) {
            let path = root.path().join("dest").join(&url.key);
            let (size, md5) = md5_of_file(&path).unwrap();
            assert_eq!((file.size, &file.md5_checksum), (size, &md5));
        }

        // Gzipped text, no header line, every field quoted, keys form-encoded.
        let path = root.path().join("dest").join(&generated.data_files[0].key);
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        for line in text.lines() {
            assert!(line.starts_with("\"src\",\""), "{line}");
            assert!(line.ends_with('"'), "{line}");
            assert_eq!(line.matches("\",\"").count(), 10, "{line}");
            assert!(!line.contains(' ') && !line.contains('\t'), "{line}");
        }

        // Read back exactly, awkward keys byte-exact.
        let (report, mut entries) = inspect_manifest(
            &store,
            &generated.manifest,
            &InspectOptions::default(),
            Vec::new(),
            |_| {},
        )
        .await
        .unwrap();
        entries.sort();
        assert_eq!(entries, generated.expected);
        assert_eq!(report.skipped, generated.skipped);
        assert_eq!(report.rows, generated.rows);
        assert!(generated.skipped.delete_marker > 0 && generated.skipped.noncurrent_version > 0);
        let keys: std::collections::BTreeSet<&str> =
            entries.iter().map(|e| e.key.as_str()).collect();
        for key in &awkward {
            assert!(
                keys.contains(key.as_str()),
                "{key:?} is not read back as written"
            );
        }
    }

    #[test]
    fn keys_are_form_encoded() {
        assert_eq!(
            form_encode("with space/a+b=c%d~_.-\u{e9}\n\"'"),
            "with+space/a%2Bb%3Dc%25d~_.-%C3%A9%0A%22%27"
        );
    }

    #[tokio::test]
    async fn writes_orc_deliveries_as_s3_inventory_does() {
        use inventory_delivery::reader::{DataFileReader, open_data_file};

        let root = tempfile::tempdir().unwrap();
        let store = ObjectStore::Local(root.path().to_path_buf());
        let awkward = awkward_keys();
        let mut options = GeneratorOptions::new("s3://dest/prefix".parse().unwrap(), "src");
        options.format = DataFormat::Orc;
        options.objects = awkward.len() as u64 + 200;
        options.files = 3;
        options.rows_per_group = 40;
        options.versioned = true;
        options.keys = KeyShape::Awkward;
        options.shuffle = true;
        let generated = generate_inventory(&store, &options).await.unwrap();

        // AWS's layout, format and fileSchema: the columns written, in file order.
        assert_eq!(generated.data_files.len(), 3);
        assert!(
            generated.data_files.iter().all(|f| {
                f.key.starts_with("prefix/src/daily/data/") && f.key.ends_with(".orc")
            })
        );
        let body = store.get(&generated.manifest).await.unwrap();
        let document: ManifestDocument = serde_json::from_slice(&body).unwrap();
        assert_eq!(document.file_format, "ORC");
        assert_eq!(
            document.file_schema,
            "struct<bucket:string,key:string,version_id:string,is_latest:boolean,is_delete_marker:boolean,size:bigint,last_modified_date:timestamp,e_tag:string,storage_class:string>"
        );
        for (file, url) in document.files.iter().zip(&generated.data_files) {
            let path = root.path().join("dest").join(&url.key);
            let (size, md5) = md5_of_file(&path).unwrap();
            assert_eq!((file.size, &file.md5_checksum), (size, &md5));
            assert_eq!(&file.key, &url.key);
        }
        let manifest = Manifest::parse(&generated.manifest, &body).unwrap();
        assert_eq!(manifest.format, DataFormat::Orc);
        assert_eq!(manifest.schema.len(), 9);

        // Read back exactly through the ORC reader, awkward keys byte-exact.
        let (mut entries, mut skipped, mut rows, mut stripes) =
            (Vec::new(), SkipCounts::default(), 0, 0);
        for url in &generated.data_files {
            let path = root.path().join("dest").join(&url.key);
            let mut reader = open_data_file(
                manifest.format,
                &path,
                &url.to_string(),
                Some("src"),
                &manifest.schema,
            )
            .unwrap();
            stripes += reader.row_groups();
            assert!(reader.total_rows() > 0);
            while let Some(batch) = reader.next_batch() {
                let batch = batch.unwrap();
                rows += batch.rows;
                skipped.add(&batch.skipped);
                entries.extend(batch.entries);
            }
        }
        entries.sort();
        assert_eq!(entries, generated.expected);
        assert_eq!(skipped, generated.skipped);
        assert_eq!(rows, generated.rows);
        assert!(stripes > 3, "{stripes} stripes");
        assert!(generated.skipped.delete_marker > 0 && generated.skipped.noncurrent_version > 0);
        let keys: std::collections::BTreeSet<&str> =
            entries.iter().map(|e| e.key.as_str()).collect();
        for key in &awkward {
            assert!(
                keys.contains(key.as_str()),
                "{key:?} is not read back as written"
            );
        }

        // An unversioned bucket's files have no version columns, and its fileSchema
        // none either.
        options.versioned = false;
        options.destination = "s3://plain/prefix".parse().unwrap();
        let generated = generate_inventory(&store, &options).await.unwrap();
        let body = store.get(&generated.manifest).await.unwrap();
        let document: ManifestDocument = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            document.file_schema,
            "struct<bucket:string,key:string,size:bigint,last_modified_date:timestamp,e_tag:string,storage_class:string>"
        );
        let (report, mut entries) = inventory_delivery::inspect::inspect_manifest(
            &store,
            &generated.manifest,
            &inventory_delivery::inspect::InspectOptions::default(),
            Vec::new(),
            |_| {},
        )
        .await
        .unwrap();
        entries.sort();
        assert_eq!(entries, generated.expected);
        assert_eq!(report.skipped, SkipCounts::default());
    }

    #[tokio::test]
    async fn writes_the_schema_and_layout_s3_inventory_writes() {
        let root = tempfile::tempdir().unwrap();
        let store = ObjectStore::Local(root.path().to_path_buf());
        let mut options = GeneratorOptions::new("s3://dest/prefix".parse().unwrap(), "src");
        options.objects = 50;
        options.versioned = true;
        options.rows_per_group = 20;
        let generated = generate_inventory(&store, &options).await.unwrap();
        assert_eq!(
            generated.manifest.to_string(),
            "s3://dest/prefix/src/daily/2025-11-25T00-00Z/manifest.json"
        );

        let path = root.path().join("dest").join(&generated.data_files[0].key);
        let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
        let metadata = reader.metadata();
        assert!(metadata.num_row_groups() > 1);
        assert_eq!(
            metadata.row_group(0).column(0).compression(),
            Compression::SNAPPY
        );
        let schema = metadata.file_metadata().schema_descr();
        let mut printed = Vec::new();
        print_schema(&mut printed, schema.root_schema());
        let printed = String::from_utf8(printed).unwrap();
        assert!(
            printed.contains("REQUIRED BYTE_ARRAY key (STRING);"),
            "{printed}"
        );
        assert!(
            printed.contains("OPTIONAL INT64 last_modified_date (TIMESTAMP(MILLIS,true));"),
            "{printed}"
        );
        let key = schema.columns().iter().find(|c| c.name() == "key").unwrap();
        assert_eq!(
            key.self_type().get_basic_info().repetition(),
            Repetition::REQUIRED
        );

        // The manifest's fileSchema names the same columns as the file, in order.
        let body = store.get(&generated.manifest).await.unwrap();
        let manifest = Manifest::parse(&generated.manifest, &body).unwrap();
        let file_columns: Vec<String> = schema
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        let manifest_columns: Vec<String> =
            manifest.schema.iter().map(|c| c.name.clone()).collect();
        assert_eq!(file_columns, manifest_columns);
        assert!(
            parse_file_schema(&file_schema(false))
                .unwrap()
                .iter()
                .all(|c| c.name != "version_id")
        );
    }
}
