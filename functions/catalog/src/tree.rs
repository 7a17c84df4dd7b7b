//! Trees: the committed contents of a commit, stored in the repository's storage
//! namespace as immutable, content-addressed files.
//!
//! A tree is a *metarange*: an ordered list of *ranges*, each a Parquet file of
//! entries sorted by path. Range boundaries are chosen by a hash of the path (within
//! size bounds), so a span of keys that did not change between two commits produces
//! the same range, with the same id, and is neither written again nor read by a diff.
//!
//! Layout under the storage namespace:
//! `_catalog/ranges/<id>.parquet` (columns `path`, `address`, `version_id`, `size`,
//! `etag`, `last_modified`, `storage_class`, `address_bucket`) and
//! `_catalog/metaranges/<id>.parquet` (columns `range_id`, `min_path`, `max_path`,
//! `entries`, `bytes`).
//!
//! An imported object's address is its own key in its bucket, `s3://bucket/path`: a
//! range stores only the bucket (`address_bucket`, a dictionary of a few values) and
//! leaves `address` null, so that the path is neither written nor read twice. Ranges
//! written before `address_bucket` existed hold every address whole and read the same.

use std::collections::VecDeque;
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
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use inventory_base::location::{S3Url, is_bucket_name};
use inventory_base::storage::{ObjectStore, StorageError};
use inventory_base::storage_class::{StorageClass, storage_class};

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("tree file {file} is damaged: {reason}")]
    Damaged { file: S3Url, reason: String },
    #[error(
        "entries must be added in strictly increasing path order: {path:?} came after {previous:?}"
    )]
    OutOfOrder { previous: String, path: String },
    #[error("{path}: size {size} is larger than a tree can store")]
    TooLarge { path: String, size: u64 },
}

/// One object in a tree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Entry {
    pub path: String,
    /// Where the bytes are: `s3://bucket/key`.
    pub address: String,
    pub version_id: Option<String>,
    pub size: u64,
    pub etag: String,
    /// Milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
    pub storage_class: Option<StorageClass>,
}

impl Entry {
    /// Whether two entries name the same object content (see [`ObjectIdentity`]).
    pub fn same_object(&self, other: &Entry) -> bool {
        self.identity() == other.identity()
    }

    pub fn identity(&self) -> ObjectIdentity<'_> {
        self.borrowed().identity()
    }

    pub fn borrowed(&self) -> EntryRef<'_> {
        EntryRef {
            path: &self.path,
            address: Address::Url(&self.address),
            version_id: self.version_id.as_deref(),
            size: self.size,
            etag: &self.etag,
            last_modified_ms: self.last_modified_ms,
            storage_class: self.storage_class.as_deref(),
        }
    }
}

/// An entry as a [`TreeWriter`] takes it: borrowed, with an import's address left
/// unbuilt.
#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    pub path: &'a str,
    pub address: Address<'a>,
    pub version_id: Option<&'a str>,
    pub size: u64,
    pub etag: &'a str,
    pub last_modified_ms: i64,
    pub storage_class: Option<&'a str>,
}

impl<'a> EntryRef<'a> {
    pub fn identity(&self) -> ObjectIdentity<'a> {
        ObjectIdentity {
            address: self.address,
            version_id: self.version_id,
            size: self.size,
            etag: self.etag,
        }
    }

    fn approximate_bytes(&self) -> u64 {
        let address = match self.address {
            Address::Url(url) => url.len(),
            Address::Imported { bucket, key } => {
                IMPORTED_SCHEME.len() + bucket.len() + 1 + key.len()
            }
        };
        (self.path.len()
            + address
            + self.etag.len()
            + self.version_id.map_or(0, str::len)
            + self.storage_class.map_or(0, str::len)
            + 16) as u64
    }
}

/// How an imported object's address begins: `s3://bucket/key`.
const IMPORTED_SCHEME: &str = "s3://";

/// The address of the object at `key` in `bucket`, as an import makes it.
pub fn imported_address(bucket: &str, key: &str) -> String {
    let mut address = String::with_capacity(IMPORTED_SCHEME.len() + bucket.len() + 1 + key.len());
    address.push_str(IMPORTED_SCHEME);
    address.push_str(bucket);
    address.push('/');
    address.push_str(key);
    address
}

/// The bucket of `address` when it is the address an import makes for `key`
/// (`s3://bucket/key`); bucket names hold no `/`.
fn imported_bucket<'a>(address: &'a str, key: &str) -> Option<&'a str> {
    let bucket = address
        .strip_prefix(IMPORTED_SCHEME)?
        .strip_suffix(key)?
        .strip_suffix('/')?;
    is_bucket_name(bucket).then_some(bucket)
}

/// The fields that decide whether two entries name the same object: an entry has
/// changed when its ETag, size, version id or address differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectIdentity<'a> {
    pub address: Address<'a>,
    pub version_id: Option<&'a str>,
    pub size: u64,
    pub etag: &'a str,
}

/// Where an object's bytes are: as a tree stores it, or as an import would write it
/// (without building the string).
#[derive(Debug, Clone, Copy, Eq)]
pub enum Address<'a> {
    /// `s3://bucket/key`, as stored.
    Url(&'a str),
    /// The object at `key` in `bucket`, which an import addresses as `s3://bucket/key`.
    Imported { bucket: &'a str, key: &'a str },
}

impl PartialEq for Address<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (*self, *other) {
            (Address::Url(a), Address::Url(b)) => a == b,
            (Address::Url(url), Address::Imported { bucket, key })
            | (Address::Imported { bucket, key }, Address::Url(url)) => {
                imported_bucket(url, key) == Some(bucket)
            }
            (
                Address::Imported { bucket, key },
                Address::Imported {
                    bucket: other_bucket,
                    key: other_key,
                },
            ) => bucket == other_bucket && key == other_key,
        }
    }
}

/// A range as its metarange lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeInfo {
    pub id: String,
    pub min_path: String,
    pub max_path: String,
    pub entries: u64,
    pub bytes: u64,
}

/// How ranges are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeParams {
    /// No range closes by hash before it holds this many entries.
    pub min_entries: usize,
    /// A range closes after a path whose hash is a multiple of this.
    pub split_modulus: u64,
    /// A range always closes at this many entries (bounds memory and file size).
    pub max_entries: usize,
}

impl Default for RangeParams {
    fn default() -> Self {
        Self {
            min_entries: 2_000,
            split_modulus: 20_000,
            max_entries: 100_000,
        }
    }
}

/// A tree's metarange, loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub id: String,
    pub ranges: Vec<RangeInfo>,
}

impl Tree {
    pub fn entries(&self) -> u64 {
        self.ranges.iter().map(|r| r.entries).sum()
    }
}

/// Where trees live: a storage namespace.
#[derive(Debug, Clone)]
pub struct TreeStore {
    pub store: ObjectStore,
    pub namespace: S3Url,
    pub params: RangeParams,
}

impl TreeStore {
    pub fn new(store: ObjectStore, namespace: S3Url, params: RangeParams) -> Self {
        Self {
            store,
            namespace,
            params,
        }
    }

    pub fn range_url(&self, id: &str) -> S3Url {
        self.namespace
            .join(&format!("_catalog/ranges/{id}.parquet"))
    }

    pub fn metarange_url(&self, id: &str) -> S3Url {
        self.namespace
            .join(&format!("_catalog/metaranges/{id}.parquet"))
    }

    /// Loads a metarange.
    pub async fn tree(&self, id: &str) -> Result<Tree, TreeError> {
        let url = self.metarange_url(id);
        let bytes = self.store.get(&url).await?;
        let ranges = decode_metarange(bytes).map_err(|reason| TreeError::Damaged {
            file: url.clone(),
            reason,
        })?;
        Ok(Tree {
            id: id.to_string(),
            ranges,
        })
    }

    /// Loads the entries of a range.
    pub async fn range(&self, id: &str) -> Result<Vec<Entry>, TreeError> {
        self.range_file(id).await?.entries()
    }

    /// Fetches a range's file, to be read with [`RangeFile::entries`] or
    /// [`RangeFile::identities`].
    pub async fn range_file(&self, id: &str) -> Result<RangeFile, TreeError> {
        let url = self.range_url(id);
        let bytes = self.store.get(&url).await?;
        Ok(RangeFile { url, bytes })
    }

    /// Finds the entry at `path`.
    pub async fn get(&self, tree: &Tree, path: &str) -> Result<Option<Entry>, TreeError> {
        let Some(range) = tree
            .ranges
            .iter()
            .find(|r| r.min_path.as_str() <= path && path <= r.max_path.as_str())
        else {
            return Ok(None);
        };
        let entries = self.range(&range.id).await?;
        Ok(entries
            .binary_search_by(|e| e.path.as_str().cmp(path))
            .ok()
            .map(|i| entries[i].clone()))
    }

    /// A writer for a new tree; ranges already in `known` are not checked or written.
    pub fn writer(&self) -> TreeWriter<'_> {
        TreeWriter {
            trees: self,
            current: RangeColumns::with_capacity(0, 0),
            ranges: Vec::new(),
            pending: VecDeque::new(),
            previous: None,
            path_hasher: PathHasher::default(),
            stats: WriteStats::default(),
        }
    }

    /// A cursor over a tree's entries in path order.
    pub fn cursor<'a>(&'a self, tree: &'a Tree) -> Cursor<'a> {
        Cursor {
            trees: self,
            ranges: &tree.ranges,
            next_range: 0,
            buffered: VecDeque::new(),
            prefetched: VecDeque::new(),
        }
    }

    /// A cursor over a tree's paths and identities in path order.
    pub fn identity_cursor<'a>(&'a self, tree: &'a Tree) -> IdentityCursor<'a> {
        IdentityCursor {
            trees: self,
            ranges: &tree.ranges,
            next_range: 0,
            batches: VecDeque::new(),
            row: 0,
            prefetched: VecDeque::new(),
        }
    }

    /// Writes the empty tree.
    pub async fn empty_tree(&self) -> Result<Tree, TreeError> {
        let (tree, _) = self.writer().finish().await?;
        Ok(tree)
    }
}

/// A range's file, fetched but not decoded.
pub struct RangeFile {
    url: S3Url,
    bytes: Bytes,
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
        let batches = read_batches(bytes, &range_schema(), &IDENTITY_COLUMNS).map_err(damaged)?;
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

/// What writing a tree did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WriteStats {
    pub entries: u64,
    pub ranges_written: u64,
    /// Ranges that already existed and were not written again.
    pub ranges_reused: u64,
}

/// Ranges being hashed, encoded and stored while the writer takes more entries. With
/// two, the writer often waited while a core sat idle: a million entries took 1.04-1.22 s
/// where four take 0.87-1.01 s (eight were no faster).
const RANGES_IN_FLIGHT: usize = 4;

/// Builds a tree from entries in strictly increasing path order. Closed ranges are
/// hashed, encoded and stored on other threads while entries keep coming, so at most
/// [`RANGES_IN_FLIGHT`] ranges and the one being filled are held in memory.
pub struct TreeWriter<'a> {
    trees: &'a TreeStore,
    current: RangeColumns,
    ranges: Vec<RangeInfo>,
    pending: VecDeque<tokio::task::JoinHandle<Result<(RangeInfo, bool), TreeError>>>,
    /// The last path of the ranges already closed.
    previous: Option<String>,
    stats: WriteStats,
    path_hasher: PathHasher,
}

impl TreeWriter<'_> {
    pub async fn add(&mut self, entry: Entry) -> Result<(), TreeError> {
        self.add_ref(entry.borrowed()).await
    }

    /// Adds an entry without taking it: its fields are copied straight into the
    /// columns of the range being filled.
    pub async fn add_ref(&mut self, entry: EntryRef<'_>) -> Result<(), TreeError> {
        let previous = self
            .current
            .last_path()
            .or(self.previous.as_deref().map(str::as_bytes));
        if let Some(previous) = previous
            && entry.path.as_bytes() <= previous
        {
            return Err(TreeError::OutOfOrder {
                previous: String::from_utf8_lossy(previous).into_owned(),
                path: entry.path.to_string(),
            });
        }
        let params = self.trees.params;
        let split_here = self
            .path_hasher
            .hash(entry.path)
            .is_multiple_of(params.split_modulus.max(1));
        self.current.push(&entry)?;
        self.stats.entries += 1;
        if (split_here && self.current.len() >= params.min_entries)
            || self.current.len() >= params.max_entries
        {
            self.close_range().await?;
        }
        Ok(())
    }

    /// Hands the range being filled to a background task that hashes, encodes and
    /// stores it (unless it exists); waits for the oldest when too many are in flight.
    async fn close_range(&mut self) -> Result<(), TreeError> {
        if self.current.len() == 0 {
            return Ok(());
        }
        // The next range is likely to be about as long: room for it up front saves
        // growing (and copying) the columns again and again.
        let room = RangeColumns::with_room_of(&self.current);
        let full = std::mem::replace(&mut self.current, room);
        self.previous = full
            .last_path()
            .map(|path| String::from_utf8_lossy(path).into_owned());
        let bytes = full.bytes;
        let columns = full.finish();
        let trees = self.trees.clone();
        self.pending.push_back(tokio::spawn(async move {
            store_range(&trees, columns, bytes).await
        }));
        while self.pending.len() > RANGES_IN_FLIGHT {
            self.collect_oldest().await?;
        }
        Ok(())
    }

    async fn collect_oldest(&mut self) -> Result<(), TreeError> {
        let Some(handle) = self.pending.pop_front() else {
            return Ok(());
        };
        let (info, written) = handle.await.map_err(|err| TreeError::Damaged {
            file: self.trees.namespace.clone(),
            reason: format!("writing a range was interrupted: {err}"),
        })??;
        if written {
            self.stats.ranges_written += 1;
        } else {
            self.stats.ranges_reused += 1;
        }
        self.ranges.push(info);
        Ok(())
    }

    /// Closes the last range, waits for every range, and writes the metarange
    /// (unless it exists).
    pub async fn finish(mut self) -> Result<(Tree, WriteStats), TreeError> {
        self.close_range().await?;
        while !self.pending.is_empty() {
            self.collect_oldest().await?;
        }
        let id = metarange_id(&self.ranges);
        let url = self.trees.metarange_url(&id);
        if let Err(StorageError::NotFound { .. }) = self.trees.store.size(&url).await {
            let bytes = encode_metarange(&self.ranges).map_err(|reason| TreeError::Damaged {
                file: url.clone(),
                reason,
            })?;
            self.trees.store.put(&url, bytes).await?;
        }
        Ok((
            Tree {
                id,
                ranges: self.ranges,
            },
            self.stats,
        ))
    }
}

/// Hashes a range, and encodes and stores it unless a range with its id exists;
/// returns its descriptor and whether it was written.
async fn store_range(
    trees: &TreeStore,
    columns: RangeArrays,
    bytes: u64,
) -> Result<(RangeInfo, bool), TreeError> {
    let interrupted = |err: tokio::task::JoinError| TreeError::Damaged {
        file: trees.namespace.clone(),
        reason: format!("writing a range was interrupted: {err}"),
    };
    let count = columns.path.len();
    let path = |row: usize| columns.path.value(row).to_string();
    let (min_path, max_path) = match count {
        0 => Default::default(),
        _ => (path(0), path(count - 1)),
    };
    let count = count as u64;
    let (columns, id) = tokio::task::spawn_blocking(move || {
        let id = columns.id();
        (columns, id)
    })
    .await
    .map_err(interrupted)?;
    let url = trees.range_url(&id);
    let written = match trees.store.size(&url).await {
        Ok(_) => false,
        Err(StorageError::NotFound { .. }) => {
            let encoded = tokio::task::spawn_blocking(move || columns.encode())
                .await
                .map_err(interrupted)?
                .map_err(|reason| TreeError::Damaged {
                    file: url.clone(),
                    reason,
                })?;
            trees.store.put(&url, encoded).await?;
            true
        }
        Err(err) => return Err(err.into()),
    };
    let info = RangeInfo {
        id,
        min_path,
        max_path,
        entries: count,
        bytes,
    };
    Ok((info, written))
}

/// A range being loaded on another thread.
type RangeLoad = tokio::task::JoinHandle<Result<Vec<Entry>, TreeError>>;

/// Ranges a cursor loads ahead of the one it stands in: decoding a range takes
/// longer than walking it, so one thread alone would keep a diff waiting.
const RANGES_AHEAD: usize = 2;

/// Reads a tree's entries in order, one range at a time; can skip whole ranges.
pub struct Cursor<'a> {
    trees: &'a TreeStore,
    ranges: &'a [RangeInfo],
    next_range: usize,
    buffered: VecDeque<Entry>,
    /// The ranges from `next_range` on, being loaded on other threads, in order.
    prefetched: VecDeque<(usize, RangeLoad)>,
}

impl Cursor<'_> {
    /// The next range, when the cursor stands at its start.
    pub fn at_range_start(&self) -> Option<&RangeInfo> {
        if self.buffered.is_empty() {
            self.ranges.get(self.next_range)
        } else {
            None
        }
    }

    /// Skips the range the cursor stands at the start of.
    pub fn skip_range(&mut self) {
        if self.buffered.is_empty() && self.next_range < self.ranges.len() {
            self.next_range += 1;
        }
    }

    /// Moves to the first entry whose path is `>= path`.
    pub async fn seek(&mut self, path: &str) -> Result<(), TreeError> {
        while let Some(front) = self.buffered.front() {
            if front.path.as_str() >= path {
                return Ok(());
            }
            self.buffered.pop_front();
        }
        while let Some(range) = self.ranges.get(self.next_range) {
            if range.max_path.as_str() >= path {
                break;
            }
            self.next_range += 1;
        }
        if self.fill().await? {
            while self
                .buffered
                .front()
                .is_some_and(|e| e.path.as_str() < path)
            {
                self.buffered.pop_front();
            }
        }
        Ok(())
    }

    /// The next entry without consuming it.
    pub async fn peek(&mut self) -> Result<Option<&Entry>, TreeError> {
        self.fill().await?;
        Ok(self.buffered.front())
    }

    pub async fn next_entry(&mut self) -> Result<Option<Entry>, TreeError> {
        self.fill().await?;
        Ok(self.buffered.pop_front())
    }

    /// Loads the next range when nothing is buffered; false at the end. The ranges
    /// after it are loaded on other threads meanwhile.
    async fn fill(&mut self) -> Result<bool, TreeError> {
        while self.buffered.is_empty() {
            let Some(range) = self.ranges.get(self.next_range) else {
                return Ok(false);
            };
            // Loads of ranges skipped over (`seek`, `skip_range`) are not needed.
            while let Some((index, _)) = self.prefetched.front()
                && *index < self.next_range
            {
                if let Some((_, handle)) = self.prefetched.pop_front() {
                    handle.abort();
                }
            }
            let entries = match self.prefetched.pop_front() {
                Some((index, handle)) if index == self.next_range => {
                    handle.await.map_err(|err| TreeError::Damaged {
                        file: self.trees.range_url(&range.id),
                        reason: format!("reading was interrupted: {err}"),
                    })??
                }
                other => {
                    if let Some((index, handle)) = other {
                        self.prefetched.push_front((index, handle));
                    }
                    self.trees.range(&range.id).await?
                }
            };
            self.next_range += 1;
            self.buffered = entries.into();
            let mut next = self
                .prefetched
                .back()
                .map_or(self.next_range, |(index, _)| index + 1);
            while self.prefetched.len() < RANGES_AHEAD
                && let Some(range) = self.ranges.get(next)
            {
                let (trees, id) = (self.trees.clone(), range.id.clone());
                let handle = tokio::spawn(async move { trees.range(&id).await });
                self.prefetched.push_back((next, handle));
                next += 1;
            }
        }
        Ok(true)
    }
}

impl Drop for Cursor<'_> {
    fn drop(&mut self) {
        for (_, handle) in self.prefetched.drain(..) {
            handle.abort();
        }
    }
}

/// Reads a tree's paths and [`ObjectIdentity`]s in order, without making entries: what
/// an import's diff needs of the tree it replaces. Ranges load ahead on other threads.
pub struct IdentityCursor<'a> {
    trees: &'a TreeStore,
    ranges: &'a [RangeInfo],
    /// The next range to load.
    next_range: usize,
    batches: VecDeque<IdentityBatch>,
    /// The row the cursor stands at in the first batch.
    row: usize,
    /// The ranges from `next_range` on, being loaded, in order.
    prefetched: VecDeque<tokio::task::JoinHandle<Result<Vec<IdentityBatch>, TreeError>>>,
}

impl IdentityCursor<'_> {
    /// The path and identity of the entry the cursor stands at; `None` at the end.
    pub async fn peek(&mut self) -> Result<Option<(&str, ObjectIdentity<'_>)>, TreeError> {
        self.fill().await?;
        Ok(self
            .batches
            .front()
            .map(|batch| (batch.path(self.row), batch.identity(self.row))))
    }

    /// Moves past the entry the cursor stands at (after [`peek`](Self::peek)).
    pub fn advance(&mut self) {
        if let Some(batch) = self.batches.front() {
            self.row += 1;
            if self.row >= batch.len() {
                self.batches.pop_front();
                self.row = 0;
            }
        }
    }

    /// Loads ranges until a row is buffered; false at the end.
    async fn fill(&mut self) -> Result<bool, TreeError> {
        while self.batches.is_empty() {
            while self.prefetched.len() < RANGES_AHEAD + 1
                && let Some(range) = self.ranges.get(self.next_range + self.prefetched.len())
            {
                let (trees, id) = (self.trees.clone(), range.id.clone());
                self.prefetched.push_back(tokio::spawn(async move {
                    trees.range_file(&id).await?.identities()
                }));
            }
            let Some(load) = self.prefetched.pop_front() else {
                return Ok(false);
            };
            let batches = load.await.map_err(|err| TreeError::Damaged {
                file: self.trees.range_url(&self.ranges[self.next_range].id),
                reason: format!("reading was interrupted: {err}"),
            })??;
            self.next_range += 1;
            self.batches = batches.into_iter().filter(|b| !b.is_empty()).collect();
            self.row = 0;
        }
        Ok(true)
    }
}

impl Drop for IdentityCursor<'_> {
    fn drop(&mut self) {
        for handle in self.prefetched.drain(..) {
            handle.abort();
        }
    }
}

/// FNV-1a: a small hash that stays the same across releases and platforms, which
/// range boundaries depend on.
#[cfg(test)]
fn path_hash(path: &str) -> u64 {
    path.bytes().fold(FNV_OFFSET, fnv_step)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv_step(hash: u64, byte: u8) -> u64 {
    (hash ^ byte as u64).wrapping_mul(0x0000_0100_0000_01b3)
}

/// [`path_hash`] of paths that come in order: a path's hash carries on from the
/// prefix it shares with the path before, which in a sorted bucket is most of it.
struct PathHasher {
    path: Vec<u8>,
    /// The hash of each prefix of `path`: `states[i]` covers `path[..i]`.
    states: Vec<u64>,
}

impl Default for PathHasher {
    fn default() -> Self {
        Self {
            path: Vec::new(),
            states: vec![FNV_OFFSET],
        }
    }
}

impl PathHasher {
    fn hash(&mut self, path: &str) -> u64 {
        let bytes = path.as_bytes();
        let shared = self
            .path
            .iter()
            .zip(bytes)
            .take_while(|(a, b)| a == b)
            .count();
        self.path.truncate(shared);
        self.states.truncate(shared + 1);
        let mut hash = self.states[shared];
        for &byte in &bytes[shared..] {
            hash = fnv_step(hash, byte);
            self.states.push(hash);
        }
        self.path.extend_from_slice(&bytes[shared..]);
        hash
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

fn write_parquet(schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<Bytes, String> {
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
struct RangeColumns {
    path: StringBuilder,
    address: StringBuilder,
    version_id: StringBuilder,
    size: Int64Builder,
    etag: StringBuilder,
    modified: TimestampMillisecondBuilder,
    storage_class: StringBuilder,
    address_bucket: StringBuilder,
    /// The entries' approximate size, for [`RangeInfo::bytes`].
    bytes: u64,
}

impl RangeColumns {
    /// Room for `rows` entries whose paths take `path_bytes` in all.
    fn with_capacity(rows: usize, path_bytes: usize) -> Self {
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
    fn with_room_of(other: &RangeColumns) -> Self {
        Self::with_capacity(other.len(), other.path.values_slice().len())
    }

    fn len(&self) -> usize {
        self.path.len()
    }

    /// The path of the last entry pushed (a path's bytes order as the path does).
    fn last_path(&self) -> Option<&[u8]> {
        let offsets = self.path.offsets_slice();
        let [.., start, end] = offsets else {
            return None;
        };
        self.path
            .values_slice()
            .get(usize::try_from(*start).ok()?..usize::try_from(*end).ok()?)
    }

    fn push(&mut self, entry: &EntryRef<'_>) -> Result<(), TreeError> {
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

    fn finish(mut self) -> RangeArrays {
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
struct RangeArrays {
    path: StringArray,
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
    fn id(&self) -> String {
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

    fn encode(&self) -> Result<Bytes, String> {
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

fn encode_metarange(ranges: &[RangeInfo]) -> Result<Bytes, String> {
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
/// checking their names against `expected`. Columns past the end of the file are left
/// out: it was written before they existed.
fn read_batches(
    bytes: Bytes,
    expected: &SchemaRef,
    wanted: &[usize],
) -> Result<Vec<RecordBatch>, String> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| e.to_string())?;
    let columns = builder.parquet_schema().root_schema().get_fields().len();
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

fn decode_range(bytes: Bytes) -> Result<Vec<Entry>, String> {
    let batches = read_batches(bytes, &range_schema(), &RANGE_COLUMNS)?;
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

fn decode_metarange(bytes: Bytes) -> Result<Vec<RangeInfo>, String> {
    let mut ranges = Vec::new();
    for batch in read_batches(bytes, &metarange_schema(), &METARANGE_COLUMNS)? {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, etag: &str) -> Entry {
        Entry {
            path: path.to_string(),
            address: format!("s3://src/{path}"),
            version_id: None,
            size: 3,
            etag: etag.to_string(),
            last_modified_ms: 1,
            storage_class: None,
        }
    }

    /// The columns a writer would store for `entries`.
    fn columns(entries: &[Entry]) -> RangeArrays {
        let mut columns = RangeColumns::with_capacity(0, 0);
        for entry in entries {
            columns.push(&entry.borrowed()).unwrap();
        }
        columns.finish()
    }

    fn small() -> RangeParams {
        RangeParams {
            min_entries: 4,
            split_modulus: 16,
            max_entries: 64,
        }
    }

    #[tokio::test]
    async fn unchanged_spans_give_identical_ranges() {
        let root = tempfile::tempdir().unwrap();
        let trees = TreeStore::new(
            ObjectStore::Local(root.path().to_path_buf()),
            "s3://ns/repo".parse().unwrap(),
            small(),
        );
        let paths: Vec<String> = (0..2000).map(|i| format!("k/{i:06}")).collect();
        let mut writer = trees.writer();
        for p in &paths {
            writer.add(entry(p, "a")).await.unwrap();
        }
        let (first, stats) = writer.finish().await.unwrap();
        assert_eq!(stats.entries, 2000);
        assert!(first.ranges.len() > 20, "{} ranges", first.ranges.len());
        assert_eq!(stats.ranges_written as usize, first.ranges.len());

        // Change one entry in the middle: only its range differs.
        let mut writer = trees.writer();
        for p in &paths {
            writer
                .add(entry(p, if p == "k/001000" { "b" } else { "a" }))
                .await
                .unwrap();
        }
        let (second, stats) = writer.finish().await.unwrap();
        assert_eq!(stats.ranges_written, 1);
        assert_eq!(stats.ranges_reused as usize, second.ranges.len() - 1);
        let differing = first
            .ranges
            .iter()
            .zip(&second.ranges)
            .filter(|(a, b)| a.id != b.id)
            .count();
        assert_eq!(differing, 1);

        let loaded = trees.tree(&second.id).await.unwrap();
        assert_eq!(loaded, second);
        assert_eq!(
            trees.get(&loaded, "k/001000").await.unwrap().unwrap().etag,
            "b"
        );
        assert_eq!(trees.get(&loaded, "k/1").await.unwrap(), None);

        let mut cursor = trees.cursor(&loaded);
        cursor.seek("k/001500").await.unwrap();
        assert_eq!(cursor.next_entry().await.unwrap().unwrap().path, "k/001500");
    }

    #[test]
    fn path_hashes_carried_over_shared_prefixes_are_whole_hashes() {
        let mut hasher = PathHasher::default();
        for path in [
            "",
            "a/b/c",
            "a/b/d",
            "a/b",
            "a/bc/é",
            "a/bc/é/f",
            "b",
            "",
            "a/b/d",
        ] {
            assert_eq!(hasher.hash(path), path_hash(path), "{path:?}");
        }
        // FNV-1a 64 of "a/b", as any implementation gives it.
        assert_eq!(path_hash("a/b"), 0xe620_c319_0468_cf61);
    }

    #[test]
    fn tree_ids_stay_the_same_across_releases() {
        // Range and metarange ids name files already stored: the bytes hashed must never
        // change.
        let entries = [
            entry("a", "d41d8cd98f00b204e9800998ecf8427e"),
            Entry {
                version_id: Some("v1".into()),
                storage_class: Some("GLACIER_IR".into()),
                ..entry("b/é", "x-2")
            },
        ];
        assert_eq!(
            columns(&entries).id(),
            "30b59478aced917b20a20874f08a7f5fe5d9cfba6f413ae59f6f7666e963dd8c"
        );
        let ranges = [RangeInfo {
            id: columns(&entries).id(),
            min_path: "a".into(),
            max_path: "b/é".into(),
            entries: 2,
            bytes: 100,
        }];
        assert_eq!(
            metarange_id(&ranges),
            "fbb9e0e811a8436ea4d1b41bc0c33a202fdc23dc4aa9a099956b75f4235a3e82"
        );
    }

    /// Entries whose addresses are an import's own (`s3://src/…`, `s3://other/…`) and
    /// others: written by a user, or ending with the path under a prefix.
    fn mixed_addresses() -> Vec<Entry> {
        let mut entries: Vec<Entry> = ["a", "b/c", "d/", "e", "f", "g"]
            .iter()
            .map(|path| entry(path, "e0"))
            .collect();
        entries[2].address = "s3://other/d/".into();
        entries[3].address = "s3://ns/repo/data/0a1b".into();
        entries[4].address = "s3://ns/data/f".into();
        entries[5].address = "s3:///g".into();
        entries[5].version_id = Some("v1".into());
        entries
    }

    /// How [`addresses_read`] gives the addresses of [`mixed_addresses`] once stored:
    /// an import's own by bucket and key, the others whole.
    const MIXED_ADDRESSES_READ: [&str; 6] = [
        "imported src a",
        "imported src b/c",
        "imported other d/",
        "s3://ns/repo/data/0a1b",
        "s3://ns/data/f",
        "s3:///g",
    ];

    /// Each entry's address as [`RangeFile::identities`] gives it, after checking that
    /// every identity is the decoded entry's.
    fn addresses_read(bytes: Bytes) -> Vec<String> {
        let file = RangeFile {
            url: "s3://ns/range".parse().unwrap(),
            bytes,
        };
        let entries = decode_range(file.bytes.clone()).unwrap();
        let mut found = Vec::new();
        for batch in file.identities().unwrap() {
            for row in 0..batch.len() {
                let identity = batch.identity(row);
                let entry = &entries[found.len()];
                assert_eq!(
                    (batch.path(row), identity),
                    (entry.path.as_str(), entry.identity())
                );
                found.push(match identity.address {
                    Address::Url(url) => url.to_string(),
                    Address::Imported { bucket, key } => format!("imported {bucket} {key}"),
                });
            }
        }
        found
    }

    #[test]
    fn a_range_keeps_only_the_bucket_of_an_imports_address() {
        let entries = mixed_addresses();
        let bytes = columns(&entries).encode().unwrap();
        assert_eq!(decode_range(bytes.clone()).unwrap(), entries);
        assert_eq!(addresses_read(bytes), MIXED_ADDRESSES_READ);
    }

    #[test]
    fn an_address_given_unbuilt_is_stored_and_hashed_as_the_built_one() {
        let built = mixed_addresses();
        let mut unbuilt = RangeColumns::with_capacity(0, 0);
        for entry in &built {
            let (bucket, key) = entry
                .address
                .strip_prefix(IMPORTED_SCHEME)
                .and_then(|rest| rest.split_once('/'))
                .unwrap();
            let address = Address::Imported { bucket, key };
            unbuilt
                .push(&EntryRef {
                    address,
                    ..entry.borrowed()
                })
                .unwrap();
        }
        let unbuilt = unbuilt.finish();
        assert_eq!(unbuilt.id(), columns(&built).id());
        let bytes = unbuilt.encode().unwrap();
        assert_eq!(decode_range(bytes.clone()).unwrap(), built);
        assert_eq!(addresses_read(bytes), MIXED_ADDRESSES_READ);
    }

    #[test]
    fn a_range_written_with_whole_addresses_reads_the_same() {
        let entries = mixed_addresses();
        let columns: Vec<(&str, ArrayRef)> = vec![
            (
                "path",
                Arc::new(StringArray::from_iter_values(
                    entries.iter().map(|e| &e.path),
                )),
            ),
            (
                "address",
                Arc::new(StringArray::from_iter_values(
                    entries.iter().map(|e| &e.address),
                )),
            ),
            (
                "version_id",
                Arc::new(StringArray::from_iter(
                    entries.iter().map(|e| e.version_id.as_deref()),
                )),
            ),
            (
                "size",
                Arc::new(Int64Array::from_iter_values(
                    entries.iter().map(|e| e.size as i64),
                )),
            ),
            (
                "etag",
                Arc::new(StringArray::from_iter_values(
                    entries.iter().map(|e| &e.etag),
                )),
            ),
            (
                "last_modified",
                Arc::new(
                    arrow_array::TimestampMillisecondArray::from_iter_values(
                        entries.iter().map(|e| e.last_modified_ms),
                    )
                    .with_timezone("UTC"),
                ),
            ),
            (
                "storage_class",
                Arc::new(StringArray::from_iter(
                    entries.iter().map(|e| e.storage_class.as_deref()),
                )),
            ),
        ];
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        let bytes = write_parquet(schema, columns.into_iter().map(|(_, a)| a).collect()).unwrap();
        assert_eq!(decode_range(bytes.clone()).unwrap(), entries);
        assert_eq!(
            addresses_read(bytes),
            entries
                .iter()
                .map(|e| e.address.clone())
                .collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn rejects_unsorted_input() {
        let root = tempfile::tempdir().unwrap();
        let trees = TreeStore::new(
            ObjectStore::Local(root.path().to_path_buf()),
            "s3://ns/repo".parse().unwrap(),
            small(),
        );
        let mut writer = trees.writer();
        writer.add(entry("b", "x")).await.unwrap();
        let err = writer.add(entry("a", "x")).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "entries must be added in strictly increasing path order: \"a\" came after \"b\""
        );

        // Also right after a range closed: a range holds at most 64 entries here.
        let mut writer = trees.writer();
        for i in 0..64 {
            writer.add(entry(&format!("k/{i:03}"), "x")).await.unwrap();
        }
        let err = writer.add(entry("k/063", "x")).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "entries must be added in strictly increasing path order: \"k/063\" came after \"k/063\""
        );
    }
}
