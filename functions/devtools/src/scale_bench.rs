//! The partitioned commit at scale, on local disk (no emulator): a previous delivery
//! imported as the base tree, then the next day's delivery committed with K = 1, 2,
//! 4… partitions, each partition's commit a process of its own started at once, as
//! Lambda runs them. Each reports its wall time, CPU time and peak memory; the join
//! checks the summed counts against what the generator changed, and reports the
//! ranges the next day's diff read and wrote.
//!
//! What is measured is the commit, so the workers' part is stood in for: each day's
//! objects are made from their index (realistic keys, sizes and ETags, the same for an
//! index on both days unless it changed), sorted into runs of [`RUN_ENTRIES`] per
//! worker chunk and staged in files ([`FileStaging`]) as the staging table holds them,
//! split by partition as the workers split them. No delivery is written, so memory
//! stays small at any size.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use inventory_base::S3Url;
use inventory_base::storage::{ObjectStore, StorageError};
use inventory_catalog::tree::{RangeParams, Tree, TreeError, TreeStore};
use inventory_delivery::reader::InventoryEntry;
use inventory_importer::jobs::ImportSummary;
use inventory_importer::partitions::{Partitions, cuts_from_tree};
use inventory_importer::pipeline::{commit_part, sort_and_dedup};
use inventory_importer::scope::Origin;
use inventory_importer::staging::{
    FileStaging, MERGE_FAN_IN, RUN_ENTRIES, StagedRun, merge_in_levels, pack_batches,
};
use inventory_runtime::process::{cpu_seconds, peak_rss_bytes};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::bench::{BenchError, Counts};
use crate::generator::realistic_key;

const SOURCE_BUCKET: &str = "scale-source";
const JOB: &str = "scale";

/// A staged run and the partition it belongs to.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct PartitionRun {
    pub partition: usize,
    pub shard: usize,
    pub run: usize,
    pub batches: usize,
}

impl PartitionRun {
    fn staged(&self) -> StagedRun {
        StagedRun {
            shard: self.shard,
            attempt: 0,
            run: self.run,
            batches: self.batches,
        }
    }
}

/// What one partition's commit (one process) did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartitionFigures {
    pub partition: usize,
    pub entries: u64,
    pub seconds: f64,
    pub cpu_seconds: f64,
    pub peak_rss_bytes: u64,
    pub ranges_read: u64,
    pub ranges_written: u64,
    pub counts: Counts,
    /// The partition's ranges, as a metarange of their own.
    pub metarange: String,
    pub staged_runs: usize,
}

/// One commit of the next delivery with K partitions.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleRun {
    pub partitions: usize,
    /// From starting the partitions' processes to the joined tree.
    pub seconds: f64,
    pub cpu_seconds: f64,
    pub cpu_seconds_per_million: f64,
    pub peak_rss_bytes: u64,
    pub ranges_read: u64,
    pub ranges_written: u64,
    pub each: Vec<PartitionFigures>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScaleReport {
    pub objects: u64,
    pub next_objects: u64,
    pub expected: Counts,
    pub base_ranges: usize,
    /// Committing the base tree (day 1 over an empty tree, one partition).
    pub base_seconds: f64,
    pub runs: Vec<ScaleRun>,
}

#[derive(Debug, Clone)]
pub struct ScaleOptions {
    /// A directory laid out like S3 (`<root>/<bucket>/<key>`).
    pub root: PathBuf,
    pub objects: u64,
    pub partitions: Vec<usize>,
    pub seed: u64,
    /// `inventory-bench-partition`, started once per partition.
    pub program: PathBuf,
}

fn io_error(url: &S3Url, source: std::io::Error) -> BenchError {
    BenchError::Tree(TreeError::Storage(StorageError::Io {
        url: url.clone(),
        source,
    }))
}

fn namespace() -> S3Url {
    S3Url::new("scale-catalog", "repo")
}

fn trees(root: &Path) -> TreeStore {
    TreeStore::new(
        ObjectStore::Local(root.to_path_buf()),
        namespace(),
        RangeParams::default(),
    )
}

/// Objects a stand-in worker stages (a shard's worth).
const WORKER_OBJECTS: u64 = 2_500_000;

/// The object of `index` on day 1 or 2 of `seed`, if it exists that day: on day 2,
/// one in 50 is deleted and one in 20 has changed (a new ETag and size); indexes from
/// `2 * objects + 1` on are new on day 2.
fn object(seed: u64, index: u64, objects: u64, day: u8) -> Option<InventoryEntry> {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index);
    let key = realistic_key(index, &mut rng);
    let fate = rng.random_range(0..100u32);
    let new = index > 2 * objects;
    if (day == 1 && new) || (day == 2 && !new && fate < 2) {
        return None;
    }
    let changed = day == 2 && !new && (2..7).contains(&fate);
    if changed {
        // Another draw for the new version.
        let _: [u8; 16] = rng.random();
    }
    Some(InventoryEntry {
        key,
        version_id: None,
        size: rng.random_range(0..100_000_000),
        etag: hex::encode(rng.random::<[u8; 16]>()),
        last_modified_ms: 1_764_028_800_000 + rng.random_range(0..86_400_000),
        storage_class: None,
    })
}

/// Stages day `day`'s objects in `dir`, split by `cuts`, as workers of
/// [`WORKER_OBJECTS`] each would: sorted runs of [`RUN_ENTRIES`]. Returns the runs and
/// the day's counts against day 1 (on day 1, every object added).
fn stage(
    options: &ScaleOptions,
    day: u8,
    dir: &Path,
    cuts: &[String],
) -> Result<(Vec<PartitionRun>, Counts), BenchError> {
    let url = namespace();
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| io_error(&url, e))?;
    }
    let staging = FileStaging::new(dir).map_err(|e| BenchError::Pipeline(Box::new(e.into())))?;
    let partitions = Partitions::new(cuts);
    let objects = options.objects;
    let added = if day == 2 { objects / 50 } else { 0 };
    let indexes = (0..objects).chain(2 * objects + 1..2 * objects + 1 + added);
    let mut counts = Counts::default();
    let mut runs = Vec::new();
    let mut run: Vec<InventoryEntry> = Vec::with_capacity(RUN_ENTRIES);
    let (mut shard, mut in_shard) = (0usize, 0u64);
    let flush = |run: &mut Vec<InventoryEntry>, shard: usize, runs: &mut Vec<PartitionRun>| {
        sort_and_dedup(run);
        for (partition, span) in partitions.split(run, |e| e.key.as_str()) {
            let Some(entries) = run.get(span) else {
                continue;
            };
            let staged = StagedRun {
                shard,
                attempt: 0,
                run: runs.len(),
                batches: 0,
            };
            let staged = staging
                .put_batches(JOB, staged, pack_batches(entries))
                .map_err(|e| BenchError::Pipeline(Box::new(e.into())))?;
            runs.push(PartitionRun {
                partition,
                shard,
                run: staged.run,
                batches: staged.batches,
            });
        }
        run.clear();
        Ok::<_, BenchError>(())
    };
    for index in indexes {
        let today = object(options.seed, index, objects, day);
        if day == 2 {
            let before = object(options.seed, index, objects, 1);
            match (&before, &today) {
                (None, Some(_)) => counts.added += 1,
                (Some(_), None) => counts.deleted += 1,
                (Some(a), Some(b)) if a == b => counts.unchanged += 1,
                (Some(_), Some(_)) => counts.changed += 1,
                (None, None) => {}
            }
        } else if today.is_some() {
            counts.added += 1;
        }
        if let Some(entry) = today {
            run.push(entry);
        }
        in_shard += 1;
        if run.len() >= RUN_ENTRIES || in_shard >= WORKER_OBJECTS {
            flush(&mut run, shard, &mut runs)?;
        }
        if in_shard >= WORKER_OBJECTS {
            shard += 1;
            in_shard = 0;
        }
    }
    flush(&mut run, shard, &mut runs)?;
    Ok((runs, counts))
}

/// Removes trees written by earlier runs, keeping the base tree's files, so that each
/// run writes its ranges as a first commit of that day would.
fn keep_only(root: &Path, base: &Tree) -> Result<(), BenchError> {
    let url = namespace();
    let catalog = root.join(&url.bucket).join(&url.key).join("_catalog");
    let keep: std::collections::HashSet<String> = base
        .ranges
        .iter()
        .map(|r| format!("{}.parquet", r.id))
        .chain([format!("{}.parquet", base.id)])
        .collect();
    for sub in ["ranges", "metaranges"] {
        let Ok(files) = std::fs::read_dir(catalog.join(sub)) else {
            continue;
        };
        for file in files.flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name) {
                std::fs::remove_file(file.path()).map_err(|e| io_error(&url, e))?;
            }
        }
    }
    Ok(())
}

/// Runs the benchmark: generates (or reuses) the deliveries and the base tree, then
/// commits the next delivery once per partition count.
pub async fn run(options: &ScaleOptions) -> Result<ScaleReport, BenchError> {
    let store = ObjectStore::Local(options.root.clone());
    let temp = options.root.join("scale-tmp");
    std::fs::create_dir_all(&temp).map_err(|e| io_error(&namespace(), e))?;

    // The base: the previous delivery committed over an empty tree.
    let started = Instant::now();
    let url = namespace();
    let catalog_dir = options.root.join(&url.bucket);
    if catalog_dir.exists() {
        std::fs::remove_dir_all(&catalog_dir).map_err(|e| io_error(&url, e))?;
    }
    store
        .ensure_bucket(&url.bucket)
        .await
        .map_err(TreeError::from)?;
    let trees = trees(&options.root);
    let staged_dir = options.root.join("scale-staged");
    let (runs, _) = stage(options, 1, &staged_dir, &[])?;
    let staging =
        FileStaging::new(&staged_dir).map_err(|e| BenchError::Pipeline(Box::new(e.into())))?;
    let all: Vec<StagedRun> = runs.iter().map(PartitionRun::staged).collect();
    let merged = merge_in_levels(&staging, JOB, &all, MERGE_FAN_IN, &temp)
        .await
        .map_err(|e| BenchError::Pipeline(Box::new(e.into())))?;
    let empty = trees.empty_tree().await?;
    let part = commit_part(
        &trees,
        &empty,
        (None, None),
        merged,
        Origin::bucket(SOURCE_BUCKET),
        true,
    )
    .await?;
    let base = trees
        .write_metarange(part.ranges.unwrap_or_default())
        .await?;
    let base_seconds = started.elapsed().as_secs_f64();

    let mut report = ScaleReport {
        objects: options.objects,
        next_objects: 0,
        expected: Counts::default(),
        base_ranges: base.ranges.len(),
        base_seconds,
        runs: Vec::new(),
    };
    for &k in &options.partitions {
        keep_only(&options.root, &base)?;
        let cuts = cuts_from_tree(&base.ranges, k);
        let (runs, expected) = stage(options, 2, &staged_dir, &cuts)?;
        let next_objects = expected.added + expected.changed + expected.unchanged;
        report.expected = expected;
        report.next_objects = next_objects;
        let plan = PartitionPlan {
            root: options.root.clone(),
            staged: staged_dir.clone(),
            temp: temp.clone(),
            base: base.id.clone(),
            cuts: cuts.clone(),
            runs,
        };
        let plan_path = options.root.join("scale-plan.json");
        let plan_bytes =
            serde_json::to_vec(&plan).map_err(|e| io_error(&url, std::io::Error::other(e)))?;
        std::fs::write(&plan_path, plan_bytes).map_err(|e| io_error(&url, e))?;
        let started = Instant::now();
        let children: Vec<_> = (0..Partitions::new(&cuts).count())
            .map(|p| {
                std::process::Command::new(&options.program)
                    .arg("--plan")
                    .arg(&plan_path)
                    .args(["--partition", &p.to_string()])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::inherit())
                    .spawn()
                    .map_err(|e| io_error(&url, e))
            })
            .collect::<Result<_, _>>()?;
        let mut each = Vec::new();
        for child in children {
            let output = child.wait_with_output().map_err(|e| io_error(&url, e))?;
            let figures: PartitionFigures =
                serde_json::from_slice(&output.stdout).map_err(|e| {
                    BenchError::Tree(TreeError::Damaged {
                        file: url.clone(),
                        reason: format!(
                            "a partition's process ended with {} and printed no figures: {e}",
                            output.status
                        ),
                    })
                })?;
            each.push(figures);
        }
        let trees = self::trees(&options.root);
        let mut ranges = Vec::new();
        let mut summary = ImportSummary::default();
        for figures in &each {
            ranges.extend(trees.tree(&figures.metarange).await?.ranges);
            summary.added += figures.counts.added;
            summary.changed += figures.counts.changed;
            summary.deleted += figures.counts.deleted;
            summary.unchanged += figures.counts.unchanged;
        }
        let tree = trees.write_metarange(ranges).await?;
        let seconds = started.elapsed().as_secs_f64();
        let found = Counts::from(&summary);
        if found != expected || tree.entries() != next_objects {
            return Err(BenchError::WrongResult {
                step: "partitioned commit",
                counts: Box::new((found, expected)),
            });
        }
        let cpu: f64 = each.iter().map(|f| f.cpu_seconds).sum();
        report.runs.push(ScaleRun {
            partitions: each.len(),
            seconds,
            cpu_seconds: cpu,
            cpu_seconds_per_million: cpu / (next_objects as f64 / 1e6),
            peak_rss_bytes: each.iter().map(|f| f.peak_rss_bytes).max().unwrap_or(0),
            ranges_read: each.iter().map(|f| f.ranges_read).sum(),
            ranges_written: each.iter().map(|f| f.ranges_written).sum(),
            each,
        });
    }
    // Trees of tens of millions of entries take gigabytes: nothing is kept for a next
    // run, which starts from its own base anyway.
    for dir in [&staged_dir, &temp, &catalog_dir] {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(report)
}

/// What a partition's process is given.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartitionPlan {
    pub root: PathBuf,
    pub staged: PathBuf,
    pub temp: PathBuf,
    pub base: String,
    pub cuts: Vec<String>,
    pub runs: Vec<PartitionRun>,
}

/// One partition's commit, in this process: what `inventory-bench-partition` runs.
pub async fn run_partition(plan: &Path, partition: usize) -> Result<PartitionFigures, BenchError> {
    let url = namespace();
    let bytes = std::fs::read(plan).map_err(|e| io_error(&url, e))?;
    let plan: PartitionPlan =
        serde_json::from_slice(&bytes).map_err(|e| io_error(&url, std::io::Error::other(e)))?;
    let started = Instant::now();
    let cpu_started = cpu_seconds();
    let trees = trees(&plan.root);
    let base = trees.tree(&plan.base).await?;
    let staging =
        FileStaging::new(&plan.staged).map_err(|e| BenchError::Pipeline(Box::new(e.into())))?;
    let runs: Vec<StagedRun> = plan
        .runs
        .iter()
        .filter(|r| r.partition == partition)
        .map(PartitionRun::staged)
        .collect();
    let merged = merge_in_levels(&staging, JOB, &runs, MERGE_FAN_IN, &plan.temp)
        .await
        .map_err(|e| BenchError::Pipeline(Box::new(e.into())))?;
    let bounds = Partitions::new(&plan.cuts).bounds(partition);
    let part = commit_part(
        &trees,
        &base,
        bounds,
        merged,
        Origin::bucket(SOURCE_BUCKET),
        true,
    )
    .await?;
    let metarange = trees
        .write_metarange(part.ranges.unwrap_or_default())
        .await?;
    Ok(PartitionFigures {
        partition,
        entries: part.summary.total,
        seconds: started.elapsed().as_secs_f64(),
        cpu_seconds: cpu_seconds() - cpu_started,
        peak_rss_bytes: peak_rss_bytes().unwrap_or(0),
        ranges_read: part.ranges_read,
        ranges_written: part.ranges_written,
        counts: Counts::from(&part.summary),
        metarange: metarange.id,
        staged_runs: runs.len(),
    })
}
