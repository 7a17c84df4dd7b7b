//! Merging many runs in levels, so that the committer's memory does not grow with the
//! number of runs: a merge holds about two decoded batches per run it reads, so runs
//! beyond [`MERGE_FAN_IN`] are first merged in groups into longer runs spilled to local
//! disk (the function's temporary storage), and those are merged in turn. Entries of
//! equal keys are all kept: which one is newest is decided where the merge is read.

use std::path::{Path, PathBuf};

use inventory_base::storage_class::storage_class;
use inventory_delivery::reader::InventoryEntry;

use super::codec::{StagedBatch, StagedEntry, pack_batches};
use super::merge::{MergedEntries, merge_staged};
use super::table::{BatchSource, StagedRun, StagingError, batch_key, unpack_batch};

/// Runs merged at once: two decoded batches of at most about 600 KB each per run,
/// whatever the number of runs staged. 32 keeps one spilled level up to about 100
/// million objects per partition (3,200 runs of 100,000 entries... 32 × 32 × 100,000).
pub const MERGE_FAN_IN: usize = 32;
/// Entries of a spilled run packed at a time.
const SPILL_CHUNK: usize = 100_000;

/// Staged batches in files of a local directory, one file per batch named as the
/// staging table's key: runs spilled by a merge in levels (and the benchmarks' staging).
#[derive(Debug, Clone)]
pub struct FileStaging {
    dir: PathBuf,
}

impl FileStaging {
    /// Batches under `dir`, created if missing.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, StagingError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|err| StagingError::Damaged {
            key: dir.display().to_string(),
            reason: err.to_string(),
        })?;
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes packed batches as run `run` (its shard and attempt as given).
    pub fn put_batches(
        &self,
        job: &str,
        mut run: StagedRun,
        batches: Vec<Vec<u8>>,
    ) -> Result<StagedRun, StagingError> {
        let first = run.batches;
        for (i, batch) in batches.into_iter().enumerate() {
            let key = batch_key(job, &run, first + i);
            std::fs::write(self.dir.join(&key), batch).map_err(|err| StagingError::Damaged {
                key,
                reason: err.to_string(),
            })?;
            run.batches += 1;
        }
        Ok(run)
    }
}

impl BatchSource for FileStaging {
    async fn batch(
        &self,
        job: &str,
        run: &StagedRun,
        batch: usize,
    ) -> Result<StagedBatch, StagingError> {
        let key = batch_key(job, run, batch);
        let path = self.dir.join(&key);
        // A batch file is a few hundred kilobytes: read in place, on the merge's
        // loading task, rather than on another thread.
        let blob = std::fs::read(path);
        match blob {
            Ok(blob) => unpack_batch(&key, &blob),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                Err(StagingError::Missing { key })
            }
            Err(err) => Err(StagingError::Damaged {
                key,
                reason: err.to_string(),
            }),
        }
    }
}

/// The merge of a job's runs in key order: straight from where they are staged, or,
/// with more runs than [`MERGE_FAN_IN`], from longer runs spilled to local disk.
pub enum LeveledMerge<S> {
    Direct(MergedEntries<S>),
    Spilled {
        merged: MergedEntries<FileStaging>,
        /// Removed with the merge.
        _dir: tempfile::TempDir,
    },
}

impl<S: BatchSource> From<MergedEntries<S>> for LeveledMerge<S> {
    fn from(merged: MergedEntries<S>) -> Self {
        LeveledMerge::Direct(merged)
    }
}

impl<S: BatchSource> LeveledMerge<S> {
    /// The next entry in key order (entries of equal keys come one after another).
    pub async fn next_entry(&mut self) -> Result<Option<StagedEntry>, StagingError> {
        match self {
            LeveledMerge::Direct(merged) => merged.next_entry().await,
            LeveledMerge::Spilled { merged, .. } => merged.next_entry().await,
        }
    }

    /// Levels merged before the last one (0 when the runs were merged directly).
    pub fn spilled(&self) -> bool {
        matches!(self, LeveledMerge::Spilled { .. })
    }
}

/// Merges `runs` of `job` in levels of at most `fan_in` runs, spilling under
/// `temp_dir`.
pub async fn merge_in_levels<S: BatchSource>(
    source: &S,
    job: &str,
    runs: &[StagedRun],
    fan_in: usize,
    temp_dir: &Path,
) -> Result<LeveledMerge<S>, StagingError> {
    let fan_in = fan_in.max(2);
    if runs.len() <= fan_in {
        return Ok(merge_staged(source, job, runs).into());
    }
    let dir = tempfile::Builder::new()
        .prefix("merge-")
        .tempdir_in(temp_dir)
        .map_err(|err| StagingError::Damaged {
            key: temp_dir.display().to_string(),
            reason: err.to_string(),
        })?;
    let spill = FileStaging::new(dir.path())?;
    // Level 1 reads the staged runs; each later level the runs the one before spilled.
    let mut level = 1usize;
    let mut current = spill_groups(source, job, runs, fan_in, &spill, level).await?;
    while current.len() > fan_in {
        level += 1;
        current = spill_groups(&spill, job, &current, fan_in, &spill, level).await?;
    }
    Ok(LeveledMerge::Spilled {
        merged: merge_staged(&spill, job, &current),
        _dir: dir,
    })
}

/// Merges each group of `fan_in` runs into one run spilled as level `level`.
async fn spill_groups<S: BatchSource>(
    source: &S,
    job: &str,
    runs: &[StagedRun],
    fan_in: usize,
    spill: &FileStaging,
    level: usize,
) -> Result<Vec<StagedRun>, StagingError> {
    let mut spilled = Vec::new();
    for (group, runs) in runs.chunks(fan_in).enumerate() {
        let mut merged = merge_staged(source, job, runs);
        // Shard numbers of spilled runs: past any shard, one per level.
        let mut run = StagedRun {
            shard: usize::MAX - level,
            attempt: 0,
            run: group,
            batches: 0,
        };
        let mut chunk: Vec<InventoryEntry> = Vec::with_capacity(SPILL_CHUNK);
        while let Some(entry) = merged.next_entry().await? {
            chunk.push(owned(&entry));
            if chunk.len() >= SPILL_CHUNK {
                run = spill.put_batches(job, run, pack_batches(&chunk))?;
                chunk.clear();
            }
        }
        if !chunk.is_empty() {
            run = spill.put_batches(job, run, pack_batches(&chunk))?;
        }
        spilled.push(run);
    }
    Ok(spilled)
}

/// A staged entry as the entry it was staged from.
fn owned(entry: &StagedEntry) -> InventoryEntry {
    InventoryEntry {
        key: entry.key().to_string(),
        version_id: entry.version_id().map(str::to_string),
        size: entry.size(),
        etag: entry.etag().to_string(),
        last_modified_ms: entry.last_modified_ms(),
        storage_class: entry.storage_class().map(storage_class),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: String, etag: &str) -> InventoryEntry {
        InventoryEntry {
            key,
            version_id: None,
            size: 7,
            etag: etag.to_string(),
            last_modified_ms: 1_764_028_800_000,
            storage_class: None,
        }
    }

    /// Seven runs of interleaved keys (and one key staged in two runs) merged with a
    /// fan-in of two: three levels spilled, the same entries in the same order as one
    /// merge, the duplicate kept twice.
    #[tokio::test]
    async fn a_merge_in_levels_gives_what_one_merge_gives() {
        let dir = tempfile::tempdir().unwrap();
        let staged = FileStaging::new(dir.path().join("staged")).unwrap();
        let mut runs = Vec::new();
        for r in 0..7usize {
            let mut entries: Vec<InventoryEntry> = (0..300)
                .map(|i| entry(format!("k/{:06}", i * 7 + r), "a"))
                .collect();
            if r == 3 {
                entries.push(entry("k/000000".into(), "b"));
                entries.sort();
            }
            let run = StagedRun {
                shard: r,
                attempt: 0,
                run: 0,
                batches: 0,
            };
            runs.push(
                staged
                    .put_batches("job", run, pack_batches(&entries))
                    .unwrap(),
            );
        }
        let collect = |mut merged: LeveledMerge<FileStaging>| async move {
            let mut keys = Vec::new();
            while let Some(e) = merged.next_entry().await.unwrap() {
                keys.push((e.key().to_string(), e.etag().to_string()));
            }
            keys
        };
        let direct = collect(merge_staged(&staged, "job", &runs).into()).await;
        let leveled = merge_in_levels(&staged, "job", &runs, 2, dir.path())
            .await
            .unwrap();
        assert!(leveled.spilled());
        let leveled = collect(leveled).await;
        assert_eq!(leveled.len(), 2101);
        let mut sorted = direct.clone();
        sorted.sort();
        assert_eq!(leveled.iter().filter(|(k, _)| k == "k/000000").count(), 2);
        let mut leveled_sorted = leveled.clone();
        leveled_sorted.sort();
        assert_eq!(leveled_sorted, sorted);
        assert!(leveled.windows(2).all(|w| w[0].0 <= w[1].0));
    }
}
