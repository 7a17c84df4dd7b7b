//! What a delivery would change on a branch, worked out in this process: the dry run
//! an operator runs by hand (`inspect --against`), with no job, no queue and no
//! staging table.
//!
//! The data files are fetched, verified and decoded as workers do, several at a time;
//! each file's entries are sorted on their own thread and kept in memory as one run.
//! The runs are then merged and diffed against the branch's tree by the committer's
//! own code ([`merge_staged`], [`diff_staged`]), so the counts are exactly those an
//! import would report. Memory grows with the delivery (about 200 bytes per object).

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::catalog::{Catalog, CatalogError};
use crate::inspect::{InspectError, read_data_file};
use crate::inventory::{InventoryEntry, SkipCounts};
use crate::jobs::ImportSummary;
use crate::manifest::Manifest;
use crate::pipeline::{IMPORT_BRANCH, PipelineError, diff_staged, sort_and_dedup};
use crate::staging::{BatchSource, StagedRun, StagingError, batch_key, merge_staged};
use crate::tree::Cursor;

/// The merge's name for the runs it reads; they are never stored anywhere.
const PREVIEW: &str = "preview";

/// What importing a delivery into a repository would do.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub repository: String,
    /// The branch diffed against: the import branch, or the default branch before
    /// the first import (as a dry-run job does).
    pub branch: String,
    pub commit_id: String,
    pub summary: ImportSummary,
}

/// Diffs a delivery against the repository's import branch (its default branch
/// before the first import), as a dry-run job would, without recording anything.
pub async fn preview_import(
    catalog: &Catalog,
    repository: &str,
    store: &crate::ObjectStore,
    manifest: &Manifest,
    temp_dir: &Path,
) -> Result<Preview, PipelineError> {
    let repository = catalog.repository(repository).await?;
    let branch = match catalog.branch(&repository.name, IMPORT_BRANCH).await {
        Err(CatalogError::BranchNotFound { .. }) => {
            catalog
                .branch(&repository.name, &repository.default_branch)
                .await?
        }
        found => found?,
    };
    let head = catalog.resolve(&repository.name, &branch.commit_id).await?;
    let base = catalog.tree_of(&repository, &head).await?;
    let trees = catalog.trees(&repository);
    let summary = preview_delivery(store, manifest, trees.cursor(&base), temp_dir).await?;
    Ok(Preview {
        repository: repository.name,
        branch: branch.name,
        commit_id: head.id,
        summary,
    })
}

/// Diffs the delivery described by `manifest` against `base` (the branch's tree).
/// Returns the summary an import of it would report: added, changed, deleted,
/// unchanged, skipped rows and duplicate keys.
pub async fn preview_delivery(
    store: &crate::ObjectStore,
    manifest: &Manifest,
    base: Cursor<'_>,
    temp_dir: &Path,
) -> Result<ImportSummary, PipelineError> {
    let (runs, skipped, duplicates) = sorted_runs(store, manifest, temp_dir).await?;
    let mut summary = ImportSummary {
        skipped,
        duplicate_keys: duplicates,
        ..ImportSummary::default()
    };
    let staged = runs.staged_runs();
    diff_staged(
        merge_staged(&runs, PREVIEW, &staged),
        base,
        None,
        &manifest.source_bucket,
        &mut summary,
    )
    .await?;
    Ok(summary)
}

/// Fetches, verifies and decodes every data file, as many at once as there are
/// cores, and sorts each file's entries on a blocking thread.
async fn sorted_runs(
    store: &crate::ObjectStore,
    manifest: &Manifest,
    temp_dir: &Path,
) -> Result<(SortedRuns, SkipCounts, u64), PipelineError> {
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
    let permits = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut readers = tokio::task::JoinSet::new();
    for (index, file) in manifest.files.iter().enumerate() {
        let (store, manifest, file) = (store.clone(), manifest.clone(), file.clone());
        let (temp_dir, permits) = (temp_dir.to_path_buf(), permits.clone());
        readers.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let (report, _, mut entries) =
                read_data_file(&store, &manifest, &file, &temp_dir, Vec::new()).await?;
            let sorted = tokio::task::spawn_blocking(move || {
                let duplicates = sort_and_dedup(&mut entries);
                (entries, duplicates)
            })
            .await;
            let (entries, duplicates) = sorted.map_err(|err| InspectError::Interrupted {
                file: report.file.clone(),
                reason: err.to_string(),
            })?;
            Ok::<_, PipelineError>((index, report.skipped, entries, duplicates))
        });
    }
    let mut files = vec![Vec::new(); manifest.files.len()];
    let mut skipped = SkipCounts::default();
    let mut duplicates = 0;
    while let Some(joined) = readers.join_next().await {
        let (index, file_skipped, entries, file_duplicates) =
            joined.map_err(|err| InspectError::Interrupted {
                file: manifest.url.clone(),
                reason: err.to_string(),
            })??;
        skipped.add(&file_skipped);
        duplicates += file_duplicates;
        files[index] = entries;
    }
    Ok((SortedRuns::new(files), skipped, duplicates))
}

/// A sorted run held in memory; `None` once the merge has taken it.
type HeldRun = Mutex<Option<Vec<InventoryEntry>>>;

/// Sorted runs held in memory, one per data file, each handed to the merge whole as
/// its only batch (moved, not copied).
#[derive(Clone)]
struct SortedRuns {
    runs: Arc<Vec<HeldRun>>,
}

impl SortedRuns {
    fn new(files: Vec<Vec<InventoryEntry>>) -> Self {
        Self {
            runs: Arc::new(files.into_iter().map(|f| Mutex::new(Some(f))).collect()),
        }
    }

    fn staged_runs(&self) -> Vec<StagedRun> {
        (0..self.runs.len())
            .map(|shard| StagedRun {
                shard,
                run: 0,
                batches: 1,
            })
            .collect()
    }
}

impl BatchSource for SortedRuns {
    async fn batch(
        &self,
        job: &str,
        run: &StagedRun,
        batch: usize,
    ) -> Result<Vec<InventoryEntry>, StagingError> {
        let taken = self
            .runs
            .get(run.shard)
            .filter(|_| batch == 0)
            .and_then(|held| held.lock().ok()?.take());
        taken.ok_or_else(|| StagingError::Missing {
            key: batch_key(job, run, batch),
        })
    }
}
