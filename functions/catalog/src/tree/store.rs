//! Where trees live: a repository's storage namespace, and reading its metaranges,
//! ranges and entries.

use inventory_base::location::S3Url;
use inventory_base::storage::ObjectStore;

use std::sync::Arc;

use super::cache::TreeCache;
use super::codec::{RangeColumns, RangeFile, decode_metarange, metarange_id};
use super::entry::Entry;
use super::error::TreeError;
use super::ranges::{RangeParams, Tree};

/// Where trees live: a storage namespace.
#[derive(Debug, Clone)]
pub struct TreeStore {
    pub store: ObjectStore,
    pub namespace: S3Url,
    pub params: RangeParams,
    /// Decoded files shared with other readers, when the process keeps them.
    cache: Option<TreeCache>,
}

impl TreeStore {
    pub fn new(store: ObjectStore, namespace: S3Url, params: RangeParams) -> Self {
        Self {
            store,
            namespace,
            params,
            cache: None,
        }
    }

    /// Reads metaranges and ranges through `cache`.
    pub fn with_cache(mut self, cache: Option<TreeCache>) -> Self {
        self.cache = cache;
        self
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
        Ok(Arc::unwrap_or_clone(self.shared_tree(id).await?))
    }

    /// Loads a metarange, from the cache when it holds it.
    pub async fn shared_tree(&self, id: &str) -> Result<Arc<Tree>, TreeError> {
        if let Some(tree) = self.cache.as_ref().and_then(|c| c.tree(id)) {
            return Ok(tree);
        }
        let url = self.metarange_url(id);
        let bytes = self.store.get(&url).await?;
        let ranges = decode_metarange(bytes).map_err(|reason| TreeError::Damaged {
            file: url.clone(),
            reason,
        })?;
        let tree = Arc::new(Tree {
            id: id.to_string(),
            ranges,
        });
        if let Some(cache) = &self.cache {
            cache.insert_tree(tree.clone());
        }
        Ok(tree)
    }

    /// Loads the entries of a range, from the cache when it holds them. Without a
    /// cache the entries are the caller's alone (`Arc::try_unwrap` gives them back).
    pub async fn range(&self, id: &str) -> Result<Arc<Vec<Entry>>, TreeError> {
        if let Some(entries) = self.cache.as_ref().and_then(|c| c.range(id)) {
            return Ok(entries);
        }
        let entries = Arc::new(self.range_file(id).await?.entries()?);
        if let Some(cache) = &self.cache {
            cache.insert_range(id, entries.clone());
        }
        Ok(entries)
    }

    /// Fetches a range's file, to be read with [`RangeFile::entries`] or
    /// [`RangeFile::identities`].
    pub async fn range_file(&self, id: &str) -> Result<RangeFile, TreeError> {
        let url = self.range_url(id);
        let bytes = self.store.get(&url).await?;
        Ok(RangeFile { url, bytes })
    }

    /// Checks that every file of `tree` holds what its id names: each range's entries
    /// hash to the range's id, and the ranges to the metarange's. Returns the number
    /// of ranges read. A file changed after it was written is a damaged file.
    pub async fn verify(&self, tree: &Tree) -> Result<usize, TreeError> {
        let computed = metarange_id(&tree.ranges);
        if computed != tree.id {
            return Err(TreeError::Damaged {
                file: self.metarange_url(&tree.id),
                reason: format!("its ranges have id {computed}, not {}", tree.id),
            });
        }
        for range in &tree.ranges {
            let entries = self.range(&range.id).await?;
            let mut columns = RangeColumns::with_capacity(entries.len(), 0);
            for entry in entries.iter() {
                columns.push(&entry.borrowed())?;
            }
            let computed = columns.finish().id();
            if computed != range.id {
                return Err(TreeError::Damaged {
                    file: self.range_url(&range.id),
                    reason: format!("its entries have id {computed}, not {}", range.id),
                });
            }
        }
        Ok(tree.ranges.len())
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
            .and_then(|i| entries.get(i).cloned()))
    }
}
