//! What a delivery would change on a branch, worked out in this process: the dry run
//! an operator runs by hand (`inspect --against`), with no job, no queue and no
//! staging table.
//!
//! It is a hash join, not the committer's merge: nothing needs to be sorted or
//! written, only counted.
//! 1. Each data file is fetched and its MD5 verified, as a worker does, then decoded
//!    by the same reader, on as many threads as there are cores. The rows to import
//!    are packed into one buffer per file and their keys hashed.
//! 2. The rows are indexed by key in hash tables, one per partition of the hashes,
//!    built in parallel. A key listed twice keeps its newest row, as in an import.
//! 3. The ranges of the branch's tree are fetched, several at once, and read by as
//!    many threads as there are cores (only the path and the columns that decide
//!    whether an object changed); each entry is looked up: found and the same
//!    object, found and changed, or deleted. What was never found is added.
//!
//! The rules come from where an import takes them: the reader's skips, the newest of
//! two rows ([`Recency`]), what counts as the same object ([`ObjectIdentity`]), and the
//! scope of the source that feeds the repository ([`ImportScope`]): only its keys, at
//! its path, diffed against its branch's paths under them.
//! Memory grows with the delivery (about 250 bytes per object).

use std::hash::BuildHasher;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use inventory_base::location::S3Url;
use inventory_catalog::catalog::{Catalog, CatalogError};
use inventory_catalog::tree::{
    Address, IdentityBatch, ObjectIdentity, RangeFile, Tree, TreeError, TreeStore, path_within,
};
use inventory_delivery::inspect::{InspectError, fetch_verified};
use inventory_delivery::manifest::{DataFormat, Manifest, SchemaColumn};
use inventory_delivery::reader::{
    DataFileReader, InventoryError, InventoryRow, Recency, SkipCounts, open_data_file,
};

use crate::jobs::ImportSummary;
use crate::packed::PackedFields;
use crate::pipeline::PipelineError;
use crate::scope::{ImportScope, Origin};
use crate::sources::ImportSources;

/// Partitions of the key hashes, each with its own table: enough for every core to
/// build some, and small tables stay in cache longer.
const PARTITIONS: usize = 64;

/// Ranges of the base tree being fetched or diffed at once: fetches from S3 wait on
/// the network, so more are in flight than there are cores.
const RANGES_IN_FLIGHT: usize = 8;

/// What importing a delivery into a repository would do.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub repository: String,
    /// The branch diffed against: the import branch, or the default branch before
    /// the first import (as a dry-run job does).
    pub branch: String,
    pub commit_id: String,
    /// The part of the bucket taken and where it lands (`prefix`, `path`), and the
    /// import branch (`import_branch`): the source's, when the delivery is where the
    /// repository's source is delivered; else every key, at the root.
    #[serde(flatten, with = "scope_fields")]
    pub scope: ImportScope,
    pub summary: ImportSummary,
}

/// A preview's scope beside its other fields, its branch named `import_branch` (the
/// preview's `branch` is the one diffed against).
mod scope_fields {
    use serde::{Serialize, Serializer};

    use crate::scope::ImportScope;

    #[derive(Serialize)]
    struct Fields<'a> {
        prefix: &'a str,
        path: &'a str,
        import_branch: &'a str,
    }

    pub fn serialize<S: Serializer>(scope: &ImportScope, serializer: S) -> Result<S::Ok, S::Error> {
        Fields {
            prefix: &scope.prefix,
            path: &scope.path,
            import_branch: &scope.branch,
        }
        .serialize(serializer)
    }
}

/// Diffs a delivery against the repository's import branch (its default branch
/// before the first import), as a dry-run job would, without recording anything.
/// A delivery of the repository's source is taken with that source's scope, as its
/// jobs take it.
pub async fn preview_import(
    catalog: &Catalog,
    repository: &str,
    store: &inventory_base::ObjectStore,
    manifest: &Manifest,
    temp_dir: &Path,
) -> Result<Preview, PipelineError> {
    let repository = catalog.repository(repository).await?;
    let scope = ImportSources::new(catalog)
        .source_for_manifest(&manifest.url)
        .await?
        .map(|source| source.scope_in(&repository.name))
        .unwrap_or_default();
    let branch = match catalog.branch(&repository.name, &scope.branch).await {
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
    let summary = preview_delivery(store, manifest, &trees, &base, &scope, temp_dir).await?;
    Ok(Preview {
        repository: repository.name,
        branch: branch.name,
        commit_id: head.id,
        scope,
        summary,
    })
}

/// Diffs the delivery described by `manifest`, taken with `scope`, against the paths
/// of `base` (a tree in `trees`) that the scope covers. Returns the summary an import
/// of it would report: added, changed, deleted, unchanged, skipped rows and duplicate
/// keys.
pub async fn preview_delivery(
    store: &inventory_base::ObjectStore,
    manifest: &Manifest,
    trees: &TreeStore,
    base: &Tree,
    scope: &ImportScope,
    temp_dir: &Path,
) -> Result<ImportSummary, PipelineError> {
    let (files, skipped) = read_delivery(store, manifest, scope, temp_dir).await?;
    let (bucket, path) = (manifest.source_bucket.clone(), scope.path.clone());
    let built = tokio::task::spawn_blocking(move || DeliveryIndex::build(files, &bucket, &path))
        .await
        .map_err(|err| err.to_string())
        .and_then(|built| built)
        .map_err(|reason| InspectError::Interrupted {
            file: manifest.url.clone(),
            reason,
        })?;
    let (index, duplicate_keys) = built;
    let index = Arc::new(index);
    let found = diff_base(&index, trees, base, scope.bounds()).await?;
    let total = index.keys();
    Ok(ImportSummary {
        added: total - (found.unchanged + found.changed),
        changed: found.changed,
        deleted: found.deleted,
        unchanged: found.unchanged,
        total,
        skipped,
        duplicate_keys,
    })
}

/// The rows to import of one data file, packed: their text back to back in one
/// string, the rest in fixed-size rows, grouped by the partition of their key's hash.
struct DeliveryFile {
    text: String,
    partitions: Vec<Vec<DeliveryRow>>,
}

/// One row to import; its key, ETag and version id lie at `start` in the text of data
/// file number `file`, in that order.
struct DeliveryRow {
    hash: u64,
    size: u64,
    last_modified_ms: i64,
    fields: PackedFields,
    file: u32,
}

impl DeliveryFile {
    /// Room for `text_bytes` of text and `rows` rows, as the file's footer gives them:
    /// a hint only, so a footer that claims more than can be had reserves nothing.
    fn new(text_bytes: usize, rows: usize) -> Self {
        let mut text = String::new();
        let _ = text.try_reserve_exact(text_bytes);
        let per_partition = rows / PARTITIONS + rows / PARTITIONS / 8;
        let partitions = (0..PARTITIONS)
            .map(|_| {
                let mut rows = Vec::new();
                let _ = rows.try_reserve_exact(per_partition);
                rows
            })
            .collect();
        Self { text, partitions }
    }

    /// Packs a row of data file number `file`, its key under repository `path`; `Err`
    /// names the first field too long.
    fn push(&mut self, file: u32, path: &str, row: &InventoryRow<'_>) -> Result<(), &'static str> {
        let fields = PackedFields::push(
            &mut self.text,
            path,
            row.key,
            &row.etag,
            row.version_id.as_deref(),
        )?;
        let hash = if path.is_empty() {
            key_hash(row.key)
        } else {
            key_hash(fields.key(&self.text))
        };
        self.partitions[partition(hash)].push(DeliveryRow {
            hash,
            size: row.size,
            last_modified_ms: row.last_modified_ms,
            fields,
            file,
        });
        Ok(())
    }
}

impl DeliveryRow {
    fn key<'a>(&self, texts: &'a [String]) -> &'a str {
        self.fields.key(&texts[self.file as usize])
    }

    fn etag<'a>(&self, texts: &'a [String]) -> &'a str {
        self.fields.etag(&texts[self.file as usize])
    }

    fn version_id<'a>(&self, texts: &'a [String]) -> Option<&'a str> {
        self.fields.version_id(&texts[self.file as usize])
    }

    fn recency<'a>(&self, texts: &'a [String]) -> Recency<'a> {
        (
            self.last_modified_ms,
            self.version_id(texts),
            self.etag(texts),
        )
    }

    /// The object's identity; its key is its repository path without the `origin`'s.
    fn identity<'a>(&self, texts: &'a [String], origin: Origin<'a>) -> ObjectIdentity<'a> {
        ObjectIdentity {
            address: Address::Imported {
                bucket: origin.bucket,
                key: origin.key(self.key(texts)),
            },
            version_id: self.version_id(texts),
            size: self.size,
            etag: self.etag(texts),
        }
    }
}

fn key_hash(key: &str) -> u64 {
    foldhash::fast::FixedState::default().hash_one(key)
}

/// The partition of a hash, from bits the tables use for neither their slot (low
/// bits) nor their tag (top bits).
fn partition(hash: u64) -> usize {
    (hash >> 32) as usize % PARTITIONS
}

/// Fetches, verifies and decodes every data file, as many at once as there are cores;
/// keeps the rows of `scope`'s keys, at its path.
async fn read_delivery(
    store: &inventory_base::ObjectStore,
    manifest: &Manifest,
    scope: &ImportScope,
    temp_dir: &Path,
) -> Result<(Vec<DeliveryFile>, SkipCounts), PipelineError> {
    let permits = Arc::new(Semaphore::new(cores()));
    let mut readers = JoinSet::new();
    for (index, file) in manifest.files.iter().enumerate() {
        let (store, manifest, file) = (store.clone(), manifest.clone(), file.clone());
        let (temp_dir, permits) = (temp_dir.to_path_buf(), permits.clone());
        let scope = scope.clone();
        readers.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let (url, copy) = fetch_verified(&store, &manifest, &file, &temp_dir).await?;
            let name = url.to_string();
            let bucket = manifest.source_bucket.clone();
            let number = u32::try_from(index).map_err(|_| InspectError::Interrupted {
                file: url.clone(),
                reason: "the manifest lists more than 4 billion data files".into(),
            })?;
            let (format, columns) = (manifest.format, manifest.schema);
            let packed = tokio::task::spawn_blocking(move || {
                let file = DataFile {
                    path: &copy.path,
                    name: &name,
                    format,
                    columns: &columns,
                    bucket: &bucket,
                    number,
                };
                pack_file(&file, &scope)
            })
            .await
            .map_err(|err| interrupted(&url, err))??;
            Ok::<_, InspectError>((index, packed))
        });
    }
    let mut files: Vec<Option<DeliveryFile>> = (0..manifest.files.len()).map(|_| None).collect();
    let mut skipped = SkipCounts::default();
    while let Some(joined) = readers.join_next().await {
        let (index, (file, file_skipped)) =
            joined.map_err(|err| interrupted(&manifest.url, err))??;
        skipped.add(&file_skipped);
        files[index] = Some(file);
    }
    Ok((files.into_iter().flatten().collect(), skipped))
}

/// Data file number `number` of a delivery, fetched to `path`; `format` and `columns`
/// are the manifest's `fileFormat` and `fileSchema`.
struct DataFile<'a> {
    path: &'a Path,
    name: &'a str,
    format: DataFormat,
    columns: &'a [SchemaColumn],
    bucket: &'a str,
    number: u32,
}

/// Decodes a data file into packed rows: those of `scope`'s keys (the others are
/// counted as `outside_prefix`), at its path.
fn pack_file(
    data: &DataFile<'_>,
    scope: &ImportScope,
) -> Result<(DeliveryFile, SkipCounts), InventoryError> {
    let (name, format) = (data.name, data.format);
    let mut reader = open_data_file(format, data.path, name, Some(data.bucket), data.columns)?;
    let mut file = DeliveryFile::new(reader.text_bytes() as usize, reader.total_rows() as usize);
    let mut skipped = SkipCounts::default();
    let mut too_long = None;
    let (prefix, path) = (scope.prefix.as_str(), scope.path.as_str());
    while let Some(batch) = reader.next_rows(|row| {
        if !prefix.is_empty() && !row.key.starts_with(prefix) {
            skipped.outside_prefix += 1;
        } else if let Err(field) = file.push(data.number, path, &row) {
            too_long.get_or_insert(field);
        }
    }) {
        skipped.add(&batch?.1);
        if let Some(field) = too_long {
            return Err(InventoryError::Corrupt {
                file: name.to_string(),
                format,
                reason: format!("a {field} is larger than 4 GiB"),
            });
        }
    }
    Ok((file, skipped))
}

/// The delivery's rows to import, findable by repository path: one row per key, the
/// newest.
struct DeliveryIndex {
    texts: Vec<String>,
    tables: Vec<RowTable>,
    bucket: String,
    /// The scope's repository path, before every key.
    path: String,
}

impl DeliveryIndex {
    /// Indexes the packed files' rows, one table per partition, the partitions shared
    /// between as many threads as there are cores. Returns the index and how many
    /// rows were dropped because their key was listed again with a newer row.
    fn build(files: Vec<DeliveryFile>, bucket: &str, path: &str) -> Result<(Self, u64), String> {
        let builders = cores().min(PARTITIONS);
        // Each builder takes its partitions' rows from every file.
        let mut work: Vec<Vec<(usize, Vec<Vec<DeliveryRow>>)>> =
            (0..builders).map(|_| Vec::new()).collect();
        let mut texts = Vec::with_capacity(files.len());
        let mut by_partition: Vec<Vec<Vec<DeliveryRow>>> =
            (0..PARTITIONS).map(|_| Vec::new()).collect();
        for file in files {
            texts.push(file.text);
            for (partition, rows) in file.partitions.into_iter().enumerate() {
                by_partition[partition].push(rows);
            }
        }
        for (partition, rows) in by_partition.into_iter().enumerate() {
            work[partition % builders].push((partition, rows));
        }
        let mut tables: Vec<Option<RowTable>> = (0..PARTITIONS).map(|_| None).collect();
        let mut duplicates = 0;
        std::thread::scope(|scope| {
            let texts = &texts;
            let tasks: Vec<_> = work
                .into_iter()
                .map(|partitions| {
                    scope.spawn(move || {
                        partitions
                            .into_iter()
                            .map(|(partition, rows)| (partition, RowTable::build(texts, rows)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for task in tasks {
                let built = task
                    .join()
                    .map_err(|_| "a thread indexing the delivery stopped".to_string())?;
                for (partition, table) in built {
                    let (table, dropped) = table?;
                    tables[partition] = Some(table);
                    duplicates += dropped;
                }
            }
            Ok::<_, String>(())
        })?;
        let index = Self {
            texts,
            tables: tables.into_iter().flatten().collect(),
            bucket: bucket.to_string(),
            path: path.to_string(),
        };
        Ok((index, duplicates))
    }

    /// Distinct keys to import.
    fn keys(&self) -> u64 {
        self.tables.iter().map(|t| t.keys as u64).sum()
    }

    fn table(&self, hash: u64) -> &RowTable {
        &self.tables[partition(hash)]
    }

    /// Looks up the keys whose hashes are given, in order, handing `visit` each one's
    /// number and what the delivery holds there. Each lookup waits on memory three
    /// times (slot, row, text); the slots and then the rows of the lookups further on
    /// are asked for ahead of time, so that those waits overlap.
    fn find_each<'k>(
        &self,
        hashes: &[u64],
        key: impl Fn(usize) -> &'k str,
        mut visit: impl FnMut(usize, Option<ObjectIdentity<'_>>),
    ) {
        // Of 2, 4, 8 and 16 lookups ahead, 4 measured fastest (8 took 5-15 % longer).
        const AHEAD: usize = 4;
        for step in 0..hashes.len() + 2 * AHEAD {
            if let Some(&hash) = hashes.get(step) {
                self.table(hash).fetch_slot(hash);
            }
            if let Some(&hash) = step.checked_sub(AHEAD).and_then(|at| hashes.get(at)) {
                self.table(hash).fetch_row(hash);
            }
            if let Some(at) = step.checked_sub(2 * AHEAD).filter(|&at| at < hashes.len()) {
                let hash = hashes[at];
                let found = self.table(hash).find(&self.texts, hash, key(at));
                let origin = Origin {
                    bucket: &self.bucket,
                    path: &self.path,
                };
                visit(at, found.map(|row| row.identity(&self.texts, origin)));
            }
        }
    }
}

/// One partition's rows to import, in an open-addressing table (linear probing, at
/// most half full) whose memory a lookup can ask for before it needs it; hashbrown's
/// tables do not say where a key's slot lies.
struct RowTable {
    /// A power of two of them.
    slots: Vec<Slot>,
    /// The partition's rows from each data file, where the slots point.
    parts: Vec<Vec<DeliveryRow>>,
    keys: usize,
}

#[derive(Clone, Copy, Default)]
struct Slot {
    /// The high half of the key's hash.
    tag: u32,
    /// 0 when the slot is empty; else the index + 1 of the part holding the row.
    part: u32,
    row: u32,
    /// Where the row's text lies and how long it is (at most `u32::MAX`): only ever
    /// a hint for the processor, never read.
    text_len: u32,
    text: usize,
}

impl RowTable {
    /// Builds the table of one partition's rows from every file; returns it with the
    /// number of rows dropped as older rows of a key listed again.
    fn build(texts: &[String], parts: Vec<Vec<DeliveryRow>>) -> Result<(Self, u64), String> {
        let rows: usize = parts.iter().map(Vec::len).sum();
        if parts.iter().any(|part| part.len() >= u32::MAX as usize)
            || parts.len() >= u32::MAX as usize
        {
            return Err(format!(
                "{rows} keys hash alike, more than an index can hold"
            ));
        }
        let mut table = Self {
            slots: vec![Slot::default(); (rows * 2).next_power_of_two().max(16)],
            parts: Vec::new(),
            keys: 0,
        };
        let mut dropped = 0;
        for (number, part) in parts.iter().enumerate() {
            for (at, row) in part.iter().enumerate() {
                // The text's address is worked out without reading the text: read
                // here, in the order of the rows, each would be a wait on memory.
                let slot = Slot {
                    tag: tag(row.hash),
                    part: number as u32 + 1,
                    row: at as u32,
                    text_len: u32::try_from(row.fields.len()).unwrap_or(u32::MAX),
                    text: texts[row.file as usize]
                        .as_ptr()
                        .wrapping_add(row.fields.start())
                        .expose_provenance(),
                };
                match table.position(texts, &parts, row.hash, || row.key(texts)) {
                    Ok(found) => {
                        dropped += 1;
                        let kept = table.row(&parts, table.slots[found]);
                        if row.recency(texts) > kept.recency(texts) {
                            table.slots[found] = slot;
                        }
                    }
                    Err(empty) => {
                        table.slots[empty] = slot;
                        table.keys += 1;
                    }
                }
            }
        }
        table.parts = parts;
        Ok((table, dropped))
    }

    fn row<'a>(&self, parts: &'a [Vec<DeliveryRow>], slot: Slot) -> &'a DeliveryRow {
        &parts[slot.part as usize - 1][slot.row as usize]
    }

    /// The slot holding `key`, or the empty slot where it would go; `key` is only
    /// read when a slot's tag matches.
    fn position<'k>(
        &self,
        texts: &[String],
        parts: &[Vec<DeliveryRow>],
        hash: u64,
        key: impl Fn() -> &'k str,
    ) -> Result<usize, usize> {
        let mut at = self.candidate(hash, self.start(hash));
        loop {
            let slot = self.slots[at];
            if slot.part == 0 {
                return Err(at);
            }
            if self.row(parts, slot).key(texts) == key() {
                return Ok(at);
            }
            at = self.candidate(hash, self.next(at));
        }
    }

    /// The slot where the probe for `hash` starts.
    fn start(&self, hash: u64) -> usize {
        hash as usize & (self.slots.len() - 1)
    }

    fn next(&self, at: usize) -> usize {
        (at + 1) & (self.slots.len() - 1)
    }

    /// The first slot from `at` on that is empty or whose tag is `hash`'s: the next
    /// whose key the probe must compare, or where it ends.
    fn candidate(&self, hash: u64, mut at: usize) -> usize {
        loop {
            let slot = self.slots[at];
            if slot.part == 0 || slot.tag == tag(hash) {
                return at;
            }
            at = self.next(at);
        }
    }

    fn find(&self, texts: &[String], hash: u64, key: &str) -> Option<&DeliveryRow> {
        let at = self.position(texts, &self.parts, hash, || key).ok()?;
        Some(self.row(&self.parts, self.slots[at]))
    }

    /// Asks for the memory of the slot where a lookup of `hash` starts.
    fn fetch_slot(&self, hash: u64) {
        prefetch(&self.slots[self.start(hash)]);
    }

    /// Asks for the row and text of the first slot a lookup of `hash` will compare
    /// keys with (the slot itself was asked for earlier): every cache line of them, as
    /// a row can straddle two and a key and its ETag three. A quarter of the keys sit
    /// past the slot where their probe starts.
    fn fetch_row(&self, hash: u64) {
        const LINE: usize = 64;
        let slot = self.slots[self.candidate(hash, self.start(hash))];
        if slot.part != 0 {
            let row: *const DeliveryRow = self.row(&self.parts, slot);
            prefetch(row);
            prefetch(row.cast::<u8>().wrapping_add(size_of::<DeliveryRow>() - 1));
            let offset = slot.text % LINE;
            let lines = (offset + (slot.text_len as usize).min(4 * LINE)).div_ceil(LINE);
            let first_line = std::ptr::with_exposed_provenance::<u8>(slot.text - offset);
            for line in 0..lines {
                prefetch(first_line.wrapping_add(line * LINE));
            }
        }
    }
}

fn tag(hash: u64) -> u32 {
    (hash >> 32) as u32
}

/// Asks the processor to fetch the memory at `at` into its caches; never faults.
#[inline(always)]
fn prefetch<T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// How the base tree's entries fared against the delivery.
#[derive(Debug, Default, Clone, Copy)]
struct BaseCounts {
    unchanged: u64,
    changed: u64,
    deleted: u64,
}

impl BaseCounts {
    fn add(&mut self, other: BaseCounts) {
        self.unchanged += other.unchanged;
        self.changed += other.changed;
        self.deleted += other.deleted;
    }
}

/// Looks up every entry of `base` within `bounds` (the scope's paths, `[lo, hi)`) in
/// the delivery; ranges wholly outside are not even fetched. Fetches wait on the network, so
/// several are in flight; decoding a range and looking up its entries takes a core,
/// so as many threads as there are cores do that, range after range: a thread that
/// goes on to its next range reuses the memory of its last one instead of touching
/// new memory, which costs more than the decoding on some machines.
async fn diff_base(
    index: &Arc<DeliveryIndex>,
    trees: &TreeStore,
    base: &Tree,
    bounds: (Option<String>, Option<String>),
) -> Result<BaseCounts, PipelineError> {
    let bounds = Arc::new(bounds);
    let (fetched, to_diff) = tokio::sync::mpsc::channel::<RangeFile>(RANGES_IN_FLIGHT);
    let to_diff = Arc::new(std::sync::Mutex::new(to_diff));
    let interrupted = |reason: String| TreeError::Damaged {
        file: trees.metarange_url(&base.id),
        reason: format!("reading was interrupted: {reason}"),
    };
    let differs: Vec<_> = (0..cores())
        .map(|_| {
            let (index, to_diff, bounds) = (index.clone(), to_diff.clone(), bounds.clone());
            let stopped = interrupted("another reader stopped".into());
            tokio::task::spawn_blocking(move || {
                let mut counts = BaseCounts::default();
                loop {
                    // A range is taken while holding the lock, then diffed without it.
                    let next = to_diff.lock().map(|mut ranges| ranges.blocking_recv());
                    match next {
                        Ok(Some(range)) => match diff_range(&index, range, &bounds) {
                            Ok(found) => counts.add(found),
                            Err(err) => {
                                // Nothing more is worth fetching.
                                if let Ok(mut ranges) = to_diff.lock() {
                                    ranges.close();
                                }
                                return Err(err);
                            }
                        },
                        Ok(None) => return Ok(counts),
                        Err(_) => return Err(stopped),
                    }
                }
            })
        })
        .collect();
    // Held by the differs alone: should they all stop, however they stop, the fetches
    // find the channel closed instead of waiting on it.
    drop(to_diff);

    let permits = Arc::new(Semaphore::new(RANGES_IN_FLIGHT));
    let mut fetches = JoinSet::new();
    let (lo, hi) = bounds.as_ref();
    let scoped = (lo.as_deref(), hi.as_deref());
    for range in base.ranges.iter().filter(|range| range.overlaps(scoped)) {
        let (trees, permits, fetched) = (trees.clone(), permits.clone(), fetched.clone());
        let id = range.id.clone();
        fetches.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let file = trees.range_file(&id).await?;
            // Only fails once the differs have stopped, on an error they report.
            let _ = fetched.send(file).await;
            Ok::<_, TreeError>(())
        });
    }
    drop(fetched);
    let mut failed = None;
    while let Some(joined) = fetches.join_next().await {
        let fetched = joined.map_err(|err| interrupted(err.to_string()));
        if let Err(err) = fetched.and_then(|fetched| fetched) {
            // The differs stop once nothing more can come.
            fetches.abort_all();
            failed.get_or_insert(err);
        }
    }
    let mut total = BaseCounts::default();
    for differ in differs {
        match differ.await.map_err(|err| interrupted(err.to_string()))? {
            Ok(counts) => total.add(counts),
            Err(err) => {
                failed.get_or_insert(err);
            }
        }
    }
    match failed {
        Some(err) => Err(err.into()),
        None => Ok(total),
    }
}

/// Looks up a range's entries within `[lo, hi)` in the delivery.
fn diff_range(
    index: &DeliveryIndex,
    range: RangeFile,
    (lo, hi): &(Option<String>, Option<String>),
) -> Result<BaseCounts, TreeError> {
    let within = |path: &str| path_within(path, (lo.as_deref(), hi.as_deref()));
    let bounded = lo.is_some() || hi.is_some();
    let mut counts = BaseCounts::default();
    let (mut hashes, mut rows) = (Vec::new(), Vec::new());
    for batch in range.identities()? {
        if bounded {
            rows.clear();
            rows.extend((0..batch.len()).filter(|&row| within(batch.path(row))));
            look_up(
                index,
                &batch,
                rows.len(),
                |at| rows[at],
                &mut hashes,
                &mut counts,
            );
        } else {
            look_up(
                index,
                &batch,
                batch.len(),
                |at| at,
                &mut hashes,
                &mut counts,
            );
        }
    }
    Ok(counts)
}

/// Looks up `looked_up` rows of a batch in the delivery, the `at`th being row
/// `row(at)`: every row, or those within a scope (a function of its own for each, so
/// that looking up every row costs nothing more).
fn look_up(
    index: &DeliveryIndex,
    batch: &IdentityBatch,
    looked_up: usize,
    row: impl Fn(usize) -> usize + Copy,
    hashes: &mut Vec<u64>,
    counts: &mut BaseCounts,
) {
    hashes.clear();
    hashes.extend((0..looked_up).map(|at| key_hash(batch.path(row(at)))));
    index.find_each(
        hashes,
        |at| batch.path(row(at)),
        |at, new| match new {
            Some(new) if new == batch.identity(row(at)) => counts.unchanged += 1,
            Some(_) => counts.changed += 1,
            None => counts.deleted += 1,
        },
    );
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn interrupted(file: &S3Url, err: tokio::task::JoinError) -> InspectError {
    InspectError::Interrupted {
        file: file.clone(),
        reason: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inventory_base::ObjectStore;
    use inventory_base::storage::local_path;
    use inventory_catalog::tree::{Entry, RangeParams};
    use inventory_delivery::reader::InventoryEntry;
    use inventory_devtools::generator::{GeneratorOptions, awkward_keys, write_inventory};

    /// A tree store in bucket `ns` whose ranges are small, so that lookups span many.
    async fn small_ranges(store: &ObjectStore) -> TreeStore {
        store.ensure_bucket("ns").await.unwrap();
        TreeStore::new(
            store.clone(),
            "s3://ns/repo".parse().unwrap(),
            RangeParams {
                min_entries: 4,
                split_modulus: 16,
                max_entries: 64,
            },
        )
    }

    #[test]
    fn keys_whose_probes_start_at_one_slot_are_each_found() {
        // Five keys whose probes all start at slot 3: two share a tag as well, so only
        // their keys tell them apart, and a key listed twice keeps its newer row.
        let mut text = String::new();
        let mut rows = Vec::new();
        let listed = [
            ("a", 0xAAAA_0000_0000_0003_u64, 10),
            ("b", 0xBBBB_0000_0000_0003, 20),
            ("c", 0xBBBB_0000_0000_0003, 30),
            ("d", 0xDDDD_0000_0000_0003, 40),
            ("b", 0xBBBB_0000_0000_0003, 50),
        ];
        for (key, hash, modified) in listed {
            let fields = PackedFields::push(&mut text, "", key, "etag", None).unwrap();
            rows.push(DeliveryRow {
                hash,
                size: modified as u64,
                last_modified_ms: modified,
                fields,
                file: 0,
            });
        }
        let texts = vec![text];
        let (table, dropped) = RowTable::build(&texts, vec![rows]).unwrap();
        assert_eq!((table.keys, dropped), (4, 1));
        let size_of = |key: &str, hash: u64| {
            table.fetch_row(hash);
            table.find(&texts, hash, key).map(|row| row.size)
        };
        assert_eq!(size_of("a", 0xAAAA_0000_0000_0003), Some(10));
        assert_eq!(size_of("b", 0xBBBB_0000_0000_0003), Some(50));
        assert_eq!(size_of("c", 0xBBBB_0000_0000_0003), Some(30));
        assert_eq!(size_of("d", 0xDDDD_0000_0000_0003), Some(40));
        assert_eq!(size_of("e", 0xBBBB_0000_0000_0003), None);
        assert_eq!(size_of("a", 0xEEEE_0000_0000_0003), None);
    }

    fn listed(key: &str, etag: &str, size: u64, modified: i64) -> InventoryEntry {
        InventoryEntry {
            key: key.to_string(),
            version_id: None,
            size,
            etag: etag.to_string(),
            last_modified_ms: modified,
            storage_class: Some("STANDARD".into()),
        }
    }

    #[tokio::test]
    async fn counts_what_an_import_would_by_its_rules() {
        let root = tempfile::tempdir().unwrap();
        let store = ObjectStore::Local(root.path().to_path_buf());
        let mut keys: Vec<String> = (0..200).map(|i| format!("k/{i:04}")).collect();
        keys.extend(awkward_keys());
        let old = |key: &str| listed(key, "e0", 10, 1_000);

        // The branch: what an import of `old` made, but for three entries written or
        // imported otherwise.
        let trees = small_ranges(&store).await;
        let mut base_entries: Vec<Entry> = keys
            .iter()
            .map(|key| crate::entries::imported_entry("src", old(key)))
            .collect();
        base_entries.sort_by(|a, b| a.path.cmp(&b.path));
        for entry in &mut base_entries {
            match entry.path.as_str() {
                "k/0003" => entry.address = "s3://ns/repo/data/written-by-a-user".into(),
                "k/0004" => entry.address = "s3://other-bucket/k/0004".into(),
                "k/0005" => entry.version_id = Some("v1".into()),
                _ => {}
            }
        }
        let mut writer = trees.writer();
        for entry in base_entries {
            writer.add(entry).await.unwrap();
        }
        let (base, _) = writer.finish().await.unwrap();
        assert!(base.ranges.len() > 3, "{} ranges", base.ranges.len());

        // The delivery: 10 keys gone, 15 new, 10 new ETags, and keys listed twice.
        let mut delivery: Vec<InventoryEntry> = keys
            .iter()
            .filter(|key| !(key.as_str() >= "k/0190" && key.as_str() < "k/0200"))
            .map(|key| match key.as_str() {
                k if ("k/0010".."k/0020").contains(&k) => listed(k, "e1", 10, 2_000),
                k => old(k),
            })
            .collect();
        delivery.extend((200..215).map(|i| listed(&format!("k/{i:04}"), "e0", 1, 1_000)));
        // Listed twice: the newer row wins, whichever file lists it.
        delivery.push(listed("k/0020", "e9", 99, 500)); // older than the row above: unchanged
        delivery.push(listed("k/0022", "e7", 10, 999)); // older: unchanged
        delivery.push(listed("k/0021", "e0", 11, 3_000)); // newer, another size: changed
        delivery.push(listed("k/0205", "e0", 1, 1_000)); // a new key, twice
        let mut options = GeneratorOptions::new("s3://dest/inv".parse().unwrap(), "src");
        options.files = 3;
        options.overlap = true;
        options.shuffle = true;
        options.versioned = true;
        let written = write_inventory(&store, &options, &delivery).await.unwrap();
        let manifest = Manifest::load(&store, &written.manifest).await.unwrap();

        let summary = preview_delivery(
            &store,
            &manifest,
            &trees,
            &base,
            &ImportScope::default(),
            root.path(),
        )
        .await
        .unwrap();
        let shown = |s: &ImportSummary| {
            (
                s.added,
                s.changed,
                s.deleted,
                s.unchanged,
                s.total,
                s.duplicate_keys,
            )
        };
        // Changed: 10 ETags, a user's object, another bucket's object, a version id
        // gone, and the newer row of k/0021.
        let unchanged = keys.len() as u64 - 10 - 14;
        assert_eq!(
            shown(&summary),
            (15, 14, 10, unchanged, keys.len() as u64 - 10 + 15, 4)
        );
    }

    #[tokio::test]
    async fn a_range_missing_or_damaged_is_named_and_nothing_waits_for_it() {
        let root = tempfile::tempdir().unwrap();
        let store = ObjectStore::Local(root.path().to_path_buf());
        let trees = small_ranges(&store).await;
        let delivery: Vec<InventoryEntry> = (0..300)
            .map(|i| listed(&format!("k/{i:04}"), "e0", 10, 1_000))
            .collect();
        let mut writer = trees.writer();
        for entry in &delivery {
            writer
                .add(crate::entries::imported_entry("src", entry.clone()))
                .await
                .unwrap();
        }
        let (base, _) = writer.finish().await.unwrap();
        assert!(base.ranges.len() > 10, "{} ranges", base.ranges.len());
        let options = GeneratorOptions::new("s3://dest/inv".parse().unwrap(), "src");
        let written = write_inventory(&store, &options, &delivery).await.unwrap();
        let manifest = Manifest::load(&store, &written.manifest).await.unwrap();
        let local = |id: &str| local_path(root.path(), &trees.range_url(id));

        let preview_error = || async {
            preview_delivery(
                &store,
                &manifest,
                &trees,
                &base,
                &ImportScope::default(),
                root.path(),
            )
            .await
            .unwrap_err()
            .to_string()
        };

        let damaged = local(&base.ranges[3].id);
        let kept = std::fs::read(&damaged).unwrap();
        std::fs::write(&damaged, b"not a range").unwrap();
        let err = preview_error().await;
        let url = trees.range_url(&base.ranges[3].id);
        assert!(
            err.starts_with(&format!("tree file {url} is damaged")),
            "{err}"
        );
        std::fs::write(&damaged, kept).unwrap();

        std::fs::remove_file(local(&base.ranges[7].id)).unwrap();
        let err = preview_error().await;
        let url = trees.range_url(&base.ranges[7].id);
        assert_eq!(err, format!("{url} does not exist"));
    }
}
