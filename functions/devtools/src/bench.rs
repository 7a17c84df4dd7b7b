//! Benchmarks of the import's stages on local files, so that the emulator is not what
//! is measured: decoding inventory data files, packing staged batches, the
//! committer's merge, diff and tree write, and a dry run's diff.
//!
//! Two realistic inventories are generated: a previous delivery, and a next one in
//! which 5 % of the objects changed, 2 % were deleted and 2 % added (new keys spread
//! over the whole key space). Every step checks its result against those counts, so a
//! fast wrong answer shows as an error rather than as a figure.

use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use inventory_base::S3Url;
use inventory_delivery::inspect::{InspectError, read_data_file};
use inventory_delivery::manifest::Manifest;
use inventory_delivery::reader::InventoryEntry;
use inventory_importer::jobs::ImportSummary;
use inventory_importer::pipeline::{PipelineError, diff_staged, sort_and_dedup};
use inventory_importer::preview::preview_delivery;
use inventory_importer::scope::{ImportScope, Origin};
use inventory_importer::staging::{RUN_ENTRIES, StagedRun, merge_staged, pack_batches};
use inventory_runtime::process::cpu_seconds;

use crate::generator::{
    GeneratedInventory, GeneratorError, GeneratorOptions, generate_inventory, write_inventory,
};

use inventory_base::storage::{ObjectStore, StorageError, local_path};
use inventory_catalog::tree::{RangeParams, TreeError, TreeStore};

use crate::memory_staging::MemoryStaging;

const SOURCE_BUCKET: &str = "bench-source";
const JOB: &str = "bench";

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Generator(#[from] GeneratorError),
    #[error(transparent)]
    Inspect(#[from] InspectError),
    #[error(transparent)]
    Pipeline(Box<PipelineError>),
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error("{step} found {:?}, expected {:?}", .counts.0, .counts.1)]
    WrongResult {
        step: &'static str,
        /// Found, then expected.
        counts: Box<(Counts, Counts)>,
    },
}

impl From<PipelineError> for BenchError {
    fn from(err: PipelineError) -> Self {
        BenchError::Pipeline(Box::new(err))
    }
}

#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// A directory laid out like S3 (`<root>/<bucket>/<key>`).
    pub root: PathBuf,
    /// Objects in the previous inventory.
    pub objects: u64,
    /// Parquet data files per inventory.
    pub files: usize,
    pub seed: u64,
}

/// Added, changed, deleted and unchanged objects between the two inventories.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub added: u64,
    pub changed: u64,
    pub deleted: u64,
    pub unchanged: u64,
}

impl From<&ImportSummary> for Counts {
    fn from(s: &ImportSummary) -> Self {
        Counts {
            added: s.added,
            changed: s.changed,
            deleted: s.deleted,
            unchanged: s.unchanged,
        }
    }
}

/// One generated inventory, with its data files as local paths.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchInventory {
    pub manifest: S3Url,
    pub objects: u64,
    pub rows: u64,
    pub bytes: u64,
    pub data_files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DecodeFigures {
    pub rows: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
}

/// What staging one inventory's entries costs, and what one item per object would.
#[derive(Debug, Clone, Serialize)]
pub struct StagingFigures {
    pub entries: u64,
    pub batches: u64,
    pub bytes: u64,
    pub bytes_per_entry: f64,
    pub largest_batch_bytes: u64,
    /// Seconds to sort the entries and pack them into batches.
    pub pack_seconds: f64,
    /// DynamoDB write units to store the batches, per million entries.
    pub write_units_per_million: f64,
    /// Write units per million entries for one item per object.
    pub naive_write_units_per_million: f64,
    pub naive_over_batched: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CommitFigures {
    pub entries: u64,
    pub seconds: f64,
    /// CPU seconds over all threads while committing.
    pub cpu_seconds: f64,
    pub entries_per_second: f64,
    pub ranges_written: u64,
    pub ranges_reused: u64,
    pub counts: Counts,
}

/// The fastest of [`DRY_RUN_TRIES`] dry runs in this process, and the first.
#[derive(Debug, Clone, Serialize)]
pub struct DryRunFigures {
    pub seconds: f64,
    /// CPU seconds over all threads during the fastest dry run.
    pub cpu_seconds: f64,
    /// The first try, straight after the committer: most of its memory is new to the
    /// process, as in a fresh `inspect --against`.
    pub first_seconds: f64,
    pub first_cpu_seconds: f64,
    pub tries: usize,
    pub counts: Counts,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub previous: BenchInventory,
    pub next: BenchInventory,
    pub expected: Counts,
    pub decode: DecodeFigures,
    pub staging: StagingFigures,
    pub committer: CommitFigures,
    pub dry_run: DryRunFigures,
}

/// Generates the two inventories (unless they exist from an earlier run with the same
/// options) and measures each step.
pub async fn run(options: &BenchOptions) -> Result<BenchReport, BenchError> {
    let store = ObjectStore::Local(options.root.clone());
    let (previous, next, expected) = inventories(&store, options).await?;

    // Decode: the previous inventory's data files one after the other, bytes already
    // local, each batch of entries dropped once made (a worker hands them on to be
    // sorted and staged), so that holding a million entries is not what is measured.
    let decode = decode_speed(&store, &previous.manifest).await?;
    let decoded = decode_inventory(&store, &previous.manifest).await?;

    // Staging: what the workers would write for the next inventory.
    let started = Instant::now();
    let shards = decode_inventory(&store, &next.manifest).await?;
    let mut staged = MemoryStaging::default();
    let runs = stage_runs(&mut staged, &shards);
    let pack_seconds = started.elapsed().as_secs_f64();
    let staging = staging_figures(&staged, &shards, pack_seconds);
    drop(shards);

    // The previous import's tree, as the committer finds it; trees of an earlier run
    // are removed first, or the committer would find its ranges written already.
    let namespace = S3Url::new("bench-catalog", "repo");
    let catalog_dir = options.root.join(&namespace.bucket);
    if catalog_dir.exists() {
        std::fs::remove_dir_all(&catalog_dir).map_err(|source| {
            TreeError::Storage(StorageError::Io {
                url: namespace.clone(),
                source,
            })
        })?;
    }
    store
        .ensure_bucket(&namespace.bucket)
        .await
        .map_err(TreeError::from)?;
    let trees = TreeStore::new(store.clone(), namespace, RangeParams::default());
    let mut previous_entries: Vec<InventoryEntry> = decoded.into_iter().flatten().collect();
    sort_and_dedup(&mut previous_entries);
    let mut writer = trees.writer();
    for entry in previous_entries {
        writer
            .add(inventory_importer::entries::imported_entry(
                SOURCE_BUCKET,
                entry,
            ))
            .await?;
    }
    let (base, _) = writer.finish().await?;

    // Committer: merge the staged batches, diff against the base tree, write the tree.
    let started = Instant::now();
    let cpu_started = cpu_seconds();
    let mut summary = ImportSummary::default();
    let mut writer = trees.writer();
    diff_staged(
        merge_staged(&staged, JOB, &runs).into(),
        &mut trees.identity_cursor(&base),
        None,
        Some(&mut writer),
        Origin::bucket(SOURCE_BUCKET),
        &mut summary,
    )
    .await?;
    let (_, written) = writer.finish().await?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_started;
    check("committer", &summary, expected)?;
    let committer = CommitFigures {
        entries: summary.total,
        seconds,
        cpu_seconds: cpu,
        entries_per_second: summary.total as f64 / seconds,
        ranges_written: written.ranges_written,
        ranges_reused: written.ranges_reused,
        counts: Counts::from(&summary),
    };

    // Dry run: what the next delivery would change, worked out in this process as
    // `inspect --against` does: fetch, verify and decode each file, index its keys,
    // then look up every entry of the base tree. Tried several times, as DuckDB's
    // join is in its one process; each try's counts are checked.
    let mut tries = Vec::with_capacity(DRY_RUN_TRIES);
    for _ in 0..DRY_RUN_TRIES {
        let started = Instant::now();
        let cpu_started = cpu_seconds();
        let manifest = Manifest::load(&store, &next.manifest)
            .await
            .map_err(InspectError::from)?;
        let summary = preview_delivery(
            &store,
            &manifest,
            &trees,
            &base,
            &ImportScope::default(),
            &std::env::temp_dir(),
        )
        .await?;
        tries.push((started.elapsed().as_secs_f64(), cpu_seconds() - cpu_started));
        check("dry run", &summary, expected)?;
    }
    let (first_seconds, first_cpu_seconds) = tries[0];
    let (best_seconds, best_cpu_seconds) = tries
        .iter()
        .copied()
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap_or(tries[0]);
    let dry_run = DryRunFigures {
        seconds: best_seconds,
        cpu_seconds: best_cpu_seconds,
        first_seconds,
        first_cpu_seconds,
        tries: DRY_RUN_TRIES,
        counts: expected,
    };

    Ok(BenchReport {
        previous,
        next,
        expected,
        decode,
        staging,
        committer,
        dry_run,
    })
}

/// Stages each data file's entries as a worker does: sorted runs of [`RUN_ENTRIES`],
/// packed into batches.
fn stage_runs(staged: &mut MemoryStaging, shards: &[Vec<InventoryEntry>]) -> Vec<StagedRun> {
    let mut runs = Vec::new();
    for (index, shard) in shards.iter().enumerate() {
        for (run, chunk) in shard.chunks(RUN_ENTRIES).enumerate() {
            let mut chunk = chunk.to_vec();
            sort_and_dedup(&mut chunk);
            runs.push(staged.insert_run(JOB, index, run, pack_batches(&chunk)));
        }
    }
    runs
}

fn check(step: &'static str, summary: &ImportSummary, expected: Counts) -> Result<(), BenchError> {
    let found = Counts::from(summary);
    if found == expected {
        Ok(())
    } else {
        Err(BenchError::WrongResult {
            step,
            counts: Box::new((found, expected)),
        })
    }
}

/// The previous and the next inventory with the expected counts, as recorded in the
/// benchmark directory by an earlier run with the same options.
#[derive(Serialize, Deserialize)]
struct Generated {
    previous: BenchInventory,
    next: BenchInventory,
    expected: Counts,
}

/// Writes the previous and the next inventory, or finds them from an earlier run.
async fn inventories(
    store: &ObjectStore,
    options: &BenchOptions,
) -> Result<(BenchInventory, BenchInventory, Counts), BenchError> {
    let prefix = format!("inv-{}-{}-{}", options.objects, options.files, options.seed);
    let record = options.root.join(format!("{prefix}.json"));
    if let Some(found) = std::fs::read(&record)
        .ok()
        .and_then(|data| serde_json::from_slice::<Generated>(&data).ok())
        .filter(|g| {
            g.previous
                .data_files
                .iter()
                .chain(&g.next.data_files)
                .all(|f| f.exists())
        })
    {
        return Ok((found.previous, found.next, found.expected));
    }
    let generator = |created_at: DateTime<Utc>| {
        let mut g = GeneratorOptions::new(S3Url::new("bench-inventory", &prefix), SOURCE_BUCKET);
        g.objects = options.objects;
        g.files = options.files;
        g.seed = options.seed;
        g.shuffle = true;
        g.created_at = created_at;
        g
    };
    let day = DateTime::<Utc>::from_timestamp(1_764_032_400, 0).unwrap_or_default();
    let previous = generate_inventory(store, &generator(day)).await?;
    let (entries, expected) = next_entries(&previous.expected);
    let next =
        write_inventory(store, &generator(day + chrono::Duration::days(1)), &entries).await?;
    let local = |g: &GeneratedInventory| BenchInventory {
        manifest: g.manifest.clone(),
        objects: g.objects,
        rows: g.rows,
        bytes: g.bytes,
        data_files: g
            .data_files
            .iter()
            .map(|url| local_path(&options.root, url))
            .collect(),
    };
    let generated = Generated {
        previous: local(&previous),
        next: local(&next),
        expected,
    };
    // Only a convenience for the next run: failing to record it changes no figure.
    if let Ok(json) = serde_json::to_vec(&generated) {
        let _ = std::fs::write(&record, json);
    }
    Ok((generated.previous, generated.next, generated.expected))
}

/// The next day's objects: of every 100, 5 changed, 2 deleted, and 2 new keys added
/// beside existing ones, so that changes are spread over the whole key space.
fn next_entries(previous: &[InventoryEntry]) -> (Vec<InventoryEntry>, Counts) {
    let mut counts = Counts::default();
    let mut next = Vec::with_capacity(previous.len() + previous.len() / 50);
    for (i, entry) in previous.iter().enumerate() {
        match i % 100 {
            0..5 => {
                let mut changed = entry.clone();
                changed.etag = format!("{:032x}", i as u128 * 0x9e37_79b9_7f4a_7c15);
                changed.size += 1;
                counts.changed += 1;
                next.push(changed);
            }
            5..7 => counts.deleted += 1,
            7..9 => {
                let mut added = entry.clone();
                added.key.push_str(".copy");
                counts.added += 1;
                counts.unchanged += 1;
                next.push(entry.clone());
                next.push(added);
            }
            _ => {
                counts.unchanged += 1;
                next.push(entry.clone());
            }
        }
    }
    next.sort();
    (next, counts)
}

/// Passes over the data files for the decode figure; the fastest is kept.
const DECODE_PASSES: usize = 3;

/// Dry runs per bench run; the fastest is reported, and the first beside it.
const DRY_RUN_TRIES: usize = 3;

/// Decodes the data files of a delivery one after the other into entries that are
/// dropped batch by batch; the time is the decoding's alone, summed over the files,
/// of the fastest of [`DECODE_PASSES`] passes.
async fn decode_speed(
    store: &ObjectStore,
    manifest_url: &S3Url,
) -> Result<DecodeFigures, BenchError> {
    let manifest = Manifest::load(store, manifest_url)
        .await
        .map_err(InspectError::from)?;
    let mut best: Option<DecodeFigures> = None;
    for _ in 0..DECODE_PASSES {
        let (mut rows, mut seconds) = (0, 0.0);
        for file in &manifest.files {
            let (report, _, ()) =
                read_data_file(store, &manifest, file, &std::env::temp_dir(), ()).await?;
            rows += report.rows;
            seconds += report.decode_seconds;
        }
        if best.as_ref().is_none_or(|b| seconds < b.seconds) {
            best = Some(DecodeFigures {
                rows,
                seconds,
                rows_per_second: rows as f64 / seconds,
            });
        }
    }
    Ok(best.unwrap_or(DecodeFigures {
        rows: 0,
        seconds: 0.0,
        rows_per_second: 0.0,
    }))
}

/// Decodes the data files of a delivery all at once, as workers do in parallel;
/// returns the entries of each file.
async fn decode_inventory(
    store: &ObjectStore,
    manifest_url: &S3Url,
) -> Result<Vec<Vec<InventoryEntry>>, BenchError> {
    let manifest = Manifest::load(store, manifest_url)
        .await
        .map_err(InspectError::from)?;
    let mut readers = tokio::task::JoinSet::new();
    for (index, file) in manifest.files.iter().enumerate() {
        let (store, manifest, file) = (store.clone(), manifest.clone(), file.clone());
        readers.spawn(async move {
            read_data_file(&store, &manifest, &file, &std::env::temp_dir(), Vec::new())
                .await
                .map(|(_, _, entries)| (index, entries))
        });
    }
    let mut files = vec![Vec::new(); manifest.files.len()];
    while let Some(joined) = readers.join_next().await {
        let (index, entries) = joined.map_err(|err| InspectError::Interrupted {
            file: manifest_url.clone(),
            reason: err.to_string(),
        })??;
        files[index] = entries;
    }
    Ok(files)
}

/// Batch sizes and write units, by DynamoDB's item-size rules: an item's size is the
/// sum of its attribute names' and values' lengths (a number takes about one byte per
/// two significant digits, plus one); a write unit covers 1 KB of an item.
fn staging_figures(
    staged: &MemoryStaging,
    shards: &[Vec<InventoryEntry>],
    pack_seconds: f64,
) -> StagingFigures {
    let batch_sizes: Vec<u64> = staged.batch_sizes().collect();
    let entries = shards.iter().map(|s| s.len() as u64).sum::<u64>();
    let key_bytes = format!("{JOB}0123456789abcdef#00000#000000").len() as u64;
    let item = |blob: u64| {
        "pk".len() as u64
            + key_bytes
            + 2
            + 5
            + "entries".len() as u64
            + blob
            + "expires_at".len() as u64
            + number_bytes(1_795_000_000)
    };
    let write_units = |size: u64| size.div_ceil(1024);
    let batched: u64 = batch_sizes.iter().map(|&b| write_units(item(b))).sum();
    let naive: u64 = shards
        .iter()
        .flatten()
        .map(|e| {
            // pk = job and shard, sk = key, one attribute per field.
            let size = 2
                + key_bytes
                + 2
                + e.key.len() as u64
                + e.version_id.as_ref().map_or(0, |v| 10 + v.len() as u64)
                + 4
                + number_bytes(e.size)
                + 4
                + e.etag.len() as u64
                + 13
                + number_bytes(e.last_modified_ms.max(0) as u64)
                + e.storage_class.as_ref().map_or(0, |c| 13 + c.len() as u64)
                + 10
                + number_bytes(1_795_000_000);
            write_units(size)
        })
        .sum();
    let bytes: u64 = batch_sizes.iter().sum();
    let per_million = |units: u64| units as f64 * 1e6 / entries.max(1) as f64;
    StagingFigures {
        entries,
        batches: batch_sizes.len() as u64,
        bytes,
        bytes_per_entry: bytes as f64 / entries.max(1) as f64,
        largest_batch_bytes: batch_sizes.iter().copied().max().unwrap_or(0),
        pack_seconds,
        write_units_per_million: per_million(batched),
        naive_write_units_per_million: per_million(naive),
        naive_over_batched: naive as f64 / batched.max(1) as f64,
    }
}

/// Bytes DynamoDB counts for a number attribute's value.
fn number_bytes(value: u64) -> u64 {
    let digits = value.to_string().trim_end_matches('0').len().max(1) as u64;
    digits.div_ceil(2) + 1
}
