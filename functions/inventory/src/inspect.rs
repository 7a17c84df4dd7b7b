//! Validating a whole S3 Inventory delivery and summarising what it would import.
//!
//! Everything that can be checked before any data is read is checked first (the
//! manifest, its checksum, its format and schema, that every data file exists with the
//! listed size); then each data file is fetched, its MD5 verified, its real schema
//! checked and its rows decoded.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use tokio::task::JoinSet;

use inventory_base::location::S3Url;
use inventory_base::storage::{LocalCopy, ObjectStore, StorageError};

use crate::manifest::{DataFormat, Manifest, ManifestError, ManifestFile, SchemaColumn};
use crate::reader::{
    DataFileReader, EntryBatch, InventoryEntry, InventoryError, SkipCounts, open_data_file,
};

/// How many data files are checked for existence at once.
const HEAD_CONCURRENCY: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("manifest {manifest} lists {} data file(s) that do not exist: {}", .files.len(), list(.files))]
    MissingDataFiles { manifest: S3Url, files: Vec<S3Url> },
    #[error("data file {file} is {actual} bytes, but the manifest lists {expected} bytes")]
    SizeMismatch {
        file: S3Url,
        expected: u64,
        actual: u64,
    },
    #[error("data file {file} has MD5 {actual}, but the manifest lists {expected}")]
    Md5Mismatch {
        file: S3Url,
        expected: String,
        actual: String,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error("reading data file {file} stopped unexpectedly: {reason}")]
    Interrupted { file: S3Url, reason: String },
}

fn list(files: &[S3Url]) -> String {
    const SHOWN: usize = 10;
    let mut text = files
        .iter()
        .take(SHOWN)
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if files.len() > SHOWN {
        text.push_str(&format!(" and {} more", files.len() - SHOWN));
    }
    text
}

/// Receives the entries decoded from each data file.
pub trait EntrySink: Send + 'static {
    fn accept(&mut self, batch: EntryBatch);
}

/// Counts only.
impl EntrySink for () {
    fn accept(&mut self, _batch: EntryBatch) {}
}

/// Hands each decoded batch to an async consumer, waiting while the channel is full,
/// so that memory stays bounded whatever the size of the file.
impl EntrySink for tokio::sync::mpsc::Sender<Vec<InventoryEntry>> {
    fn accept(&mut self, batch: EntryBatch) {
        // A closed channel means the consumer failed; its error is what is reported.
        let _ = self.blocking_send(batch.entries);
    }
}

/// Collects every entry (tests and small inventories).
impl EntrySink for Vec<InventoryEntry> {
    fn accept(&mut self, batch: EntryBatch) {
        self.extend(batch.entries);
    }
}

#[derive(Debug, Clone)]
pub struct InspectOptions {
    /// Where S3 data files are copied while they are read.
    pub temp_dir: PathBuf,
}

impl Default for InspectOptions {
    fn default() -> Self {
        Self {
            temp_dir: std::env::temp_dir(),
        }
    }
}

/// What one data file held.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub file: S3Url,
    pub bytes: u64,
    pub row_groups: usize,
    pub rows: u64,
    pub entries: u64,
    pub skipped: SkipCounts,
    /// Time to fetch the file and verify its size and MD5.
    pub fetch_seconds: f64,
    /// Time to decode its rows into entries.
    pub decode_seconds: f64,
}

/// What a delivery holds and would import.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestReport {
    pub manifest: S3Url,
    pub source_bucket: String,
    pub destination_bucket: String,
    pub created_at: String,
    pub checksum_verified: bool,
    pub files: usize,
    pub bytes: u64,
    pub rows: u64,
    /// Objects to import: latest versions that are not delete markers.
    pub objects: u64,
    /// Sum of the sizes of those objects.
    pub object_bytes: u64,
    pub skipped: SkipCounts,
    pub fetch_seconds: f64,
    pub decode_seconds: f64,
    pub file_reports: Vec<FileReport>,
}

impl ManifestReport {
    /// Rows decoded per second of decoding time.
    pub fn rows_per_second(&self) -> f64 {
        if self.decode_seconds > 0.0 {
            self.rows as f64 / self.decode_seconds
        } else {
            0.0
        }
    }
}

/// Validates the delivery at `url` and decodes all its data files, passing their
/// entries to `sink`. `on_file` is told about each finished file (for progress).
pub async fn inspect_manifest<S: EntrySink>(
    store: &ObjectStore,
    url: &S3Url,
    options: &InspectOptions,
    mut sink: S,
    mut on_file: impl FnMut(&FileReport),
) -> Result<(ManifestReport, S), InspectError> {
    let manifest = Manifest::load(store, url).await?;
    check_data_files_exist(store, &manifest).await?;

    let mut report = ManifestReport {
        manifest: url.clone(),
        source_bucket: manifest.source_bucket.clone(),
        destination_bucket: manifest.destination_bucket.clone(),
        created_at: manifest.created_at.to_rfc3339(),
        checksum_verified: manifest.checksum_verified,
        files: manifest.files.len(),
        bytes: manifest.total_bytes(),
        rows: 0,
        objects: 0,
        object_bytes: 0,
        skipped: SkipCounts::default(),
        fetch_seconds: 0.0,
        decode_seconds: 0.0,
        file_reports: Vec::with_capacity(manifest.files.len()),
    };
    for file in &manifest.files {
        let (file_report, object_bytes, returned) =
            read_data_file(store, &manifest, file, &options.temp_dir, sink).await?;
        sink = returned;
        report.rows += file_report.rows;
        report.objects += file_report.entries;
        report.object_bytes += object_bytes;
        report.skipped.add(&file_report.skipped);
        report.fetch_seconds += file_report.fetch_seconds;
        report.decode_seconds += file_report.decode_seconds;
        on_file(&file_report);
        report.file_reports.push(file_report);
    }
    Ok((report, sink))
}

/// Checks that every listed data file exists with the listed size, naming all the
/// missing ones at once.
pub async fn check_data_files_exist(
    store: &ObjectStore,
    manifest: &Manifest,
) -> Result<(), InspectError> {
    let mut missing = Vec::new();
    for chunk in manifest.files.chunks(HEAD_CONCURRENCY) {
        let mut heads = JoinSet::new();
        for (index, file) in chunk.iter().enumerate() {
            let store = store.clone();
            let url = manifest.file_url(file);
            heads.spawn(async move { (index, store.size(&url).await) });
        }
        let mut sizes: Vec<Option<Result<u64, StorageError>>> =
            std::iter::repeat_with(|| None).take(chunk.len()).collect();
        while let Some(joined) = heads.join_next().await {
            let (index, size) = joined.map_err(|err| InspectError::Interrupted {
                file: manifest.file_url(&chunk[0]),
                reason: err.to_string(),
            })?;
            sizes[index] = Some(size);
        }
        for (file, size) in chunk.iter().zip(sizes) {
            match size {
                Some(Ok(actual)) if actual != file.size => {
                    return Err(InspectError::SizeMismatch {
                        file: manifest.file_url(file),
                        expected: file.size,
                        actual,
                    });
                }
                Some(Ok(_)) => {}
                Some(Err(StorageError::NotFound { url })) => missing.push(url),
                Some(Err(err)) => return Err(err.into()),
                None => {}
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(InspectError::MissingDataFiles {
            manifest: manifest.url.clone(),
            files: missing,
        })
    }
}

/// Fetches one data file, verifies its size and MD5 against the manifest, and decodes
/// it into `sink`. Returns the file's report and the total size of its entries.
pub async fn read_data_file<S: EntrySink>(
    store: &ObjectStore,
    manifest: &Manifest,
    file: &ManifestFile,
    temp_dir: &Path,
    mut sink: S,
) -> Result<(FileReport, u64, S), InspectError> {
    let started = Instant::now();
    let (url, copy) = fetch_verified(store, manifest, file, temp_dir).await?;
    let fetch_seconds = started.elapsed().as_secs_f64();

    let name = url.to_string();
    let source_bucket = manifest.source_bucket.clone();
    let (format, columns) = (manifest.format, manifest.schema.clone());
    let decoded = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let result = decode_file(
            &copy.path,
            &name,
            format,
            &columns,
            &source_bucket,
            &mut sink,
        );
        drop(copy);
        result.map(|counts| (counts, started.elapsed().as_secs_f64(), sink))
    })
    .await
    .map_err(|err| InspectError::Interrupted {
        file: url.clone(),
        reason: err.to_string(),
    })?;
    let (counts, decode_seconds, sink) = decoded?;
    let report = FileReport {
        file: url,
        bytes: file.size,
        row_groups: counts.row_groups,
        rows: counts.rows,
        entries: counts.entries,
        skipped: counts.skipped,
        fetch_seconds,
        decode_seconds,
    };
    Ok((report, counts.object_bytes, sink))
}

/// Fetches one data file to local disk (or finds it there) and verifies its size and
/// MD5 against the manifest.
pub async fn fetch_verified(
    store: &ObjectStore,
    manifest: &Manifest,
    file: &ManifestFile,
    temp_dir: &Path,
) -> Result<(S3Url, LocalCopy), InspectError> {
    let url = manifest.file_url(file);
    let copy = store.fetch_to_local(&url, temp_dir).await?;
    if copy.size != file.size {
        return Err(InspectError::SizeMismatch {
            file: url,
            expected: file.size,
            actual: copy.size,
        });
    }
    if !copy.md5_hex.eq_ignore_ascii_case(&file.md5_checksum) {
        return Err(InspectError::Md5Mismatch {
            file: url,
            expected: file.md5_checksum.to_ascii_lowercase(),
            actual: copy.md5_hex,
        });
    }
    Ok((url, copy))
}

/// Totals of one decoded data file.
#[derive(Debug, Default)]
struct DecodeCounts {
    row_groups: usize,
    rows: u64,
    entries: u64,
    object_bytes: u64,
    skipped: SkipCounts,
}

/// Decodes the data file at `path` (named `name`), of the manifest's `format` and
/// `fileSchema` columns, into `sink`.
fn decode_file<S: EntrySink>(
    path: &Path,
    name: &str,
    format: DataFormat,
    columns: &[SchemaColumn],
    source_bucket: &str,
    sink: &mut S,
) -> Result<DecodeCounts, InventoryError> {
    let mut reader = open_data_file(format, path, name, Some(source_bucket), columns)?;
    let mut counts = DecodeCounts {
        row_groups: reader.row_groups(),
        ..DecodeCounts::default()
    };
    while let Some(batch) = reader.next_batch() {
        let batch = batch?;
        counts.rows += batch.rows;
        counts.entries += batch.entries.len() as u64;
        counts.object_bytes += batch.entries.iter().map(|e| e.size).sum::<u64>();
        counts.skipped.add(&batch.skipped);
        sink.accept(batch);
    }
    Ok(counts)
}
