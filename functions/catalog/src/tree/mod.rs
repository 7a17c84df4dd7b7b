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

mod codec;
mod cursor;
mod entry;
mod writer;

pub use codec::{IdentityBatch, RangeFile, metarange_id};
pub use cursor::{Cursor, IdentityCursor};
pub use entry::{Address, Entry, EntryRef, ObjectIdentity, imported_address};
pub use writer::{TreeWriter, WriteStats};

use serde::{Deserialize, Serialize};

use inventory_base::location::S3Url;
use inventory_base::storage::{ObjectStore, StorageError};

use self::codec::decode_metarange;

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

    /// Writes the empty tree.
    pub async fn empty_tree(&self) -> Result<Tree, TreeError> {
        let (tree, _) = self.writer().finish().await?;
        Ok(tree)
    }
}

#[cfg(test)]
mod tests;
