//! Where trees live: a repository's storage namespace, and reading its metaranges,
//! ranges and entries.

use inventory_base::location::S3Url;
use inventory_base::storage::ObjectStore;

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
            for entry in &entries {
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
            .map(|i| entries[i].clone()))
    }
}
