//! Reading at a ref: listing entries with S3 ListObjectsV2 semantics, one entry's
//! metadata, and an entry's bytes.

use inventory_base::location::S3Url;

use super::{Catalog, CatalogError, ListOptions, Listing};
use crate::tree::Entry;

impl Catalog {
    /// Lists entries at a ref with S3 ListObjectsV2 semantics.
    pub async fn list(
        &self,
        repository: &str,
        reference: &str,
        options: &ListOptions,
    ) -> Result<Listing, CatalogError> {
        let repo = self.repository(repository).await?;
        let commit = self.resolve(repository, reference).await?;
        let tree = self.tree_of(&repo, &commit).await?;
        let trees = self.trees(&repo);
        let mut cursor = trees.cursor(&tree);
        let start = match &options.after {
            Some(after) if after.as_str() >= options.prefix.as_str() => after.clone(),
            _ => options.prefix.clone(),
        };
        cursor.seek(&start).await?;
        let mut listing = Listing::default();
        let limit = options.limit.max(1);
        let mut returned = 0usize;
        let mut last: Option<String> = None;
        while let Some(entry) = cursor.next_entry().await? {
            if !entry.path.starts_with(&options.prefix) {
                break;
            }
            if options
                .after
                .as_ref()
                .is_some_and(|after| entry.path.as_str() <= after.as_str())
            {
                continue;
            }
            let rest = &entry.path[options.prefix.len()..];
            let common = options
                .delimiter
                .as_deref()
                .filter(|d| !d.is_empty())
                .and_then(|d| {
                    rest.find(d)
                        .map(|i| format!("{}{}", options.prefix, &rest[..i + d.len()]))
                });
            if let Some(common) = common {
                // Keys under a common prefix already returned (or given as `after`).
                if last.as_deref() == Some(common.as_str())
                    || options.after.as_deref() == Some(common.as_str())
                {
                    continue;
                }
                if returned == limit {
                    listing.next_after = last;
                    return Ok(listing);
                }
                listing.common_prefixes.push(common.clone());
                last = Some(common);
            } else {
                if returned == limit {
                    listing.next_after = last;
                    return Ok(listing);
                }
                last = Some(entry.path.clone());
                listing.entries.push(entry);
            }
            returned += 1;
        }
        Ok(listing)
    }

    /// The entry at `path` in `reference`.
    pub async fn stat(
        &self,
        repository: &str,
        reference: &str,
        path: &str,
    ) -> Result<Option<Entry>, CatalogError> {
        let repo = self.repository(repository).await?;
        let commit = self.resolve(repository, reference).await?;
        let tree = self.tree_of(&repo, &commit).await?;
        Ok(self.trees(&repo).get(&tree, path).await?)
    }

    /// Opens the bytes of the object at `path` in `reference`, from its physical
    /// address (pinned to its version id). Fails, rather than return other bytes, when
    /// the object's ETag is no longer the one the catalog recorded.
    pub async fn open(
        &self,
        repository: &str,
        reference: &str,
        path: &str,
    ) -> Result<(Entry, aws_sdk_s3::primitives::ByteStream), CatalogError> {
        let entry = self
            .stat(repository, reference, path)
            .await?
            .ok_or_else(|| CatalogError::PathNotFound {
                repository: repository.to_string(),
                reference: reference.to_string(),
                path: path.to_string(),
            })?;
        let address: S3Url = entry.address.parse().map_err(|_| CatalogError::Damaged {
            key: format!("{repository}/{reference}/{path}"),
            reason: format!("physical address {:?} is not an S3 URL", entry.address),
        })?;
        let (etag, body) = match self.store.open(&address, entry.version_id.as_deref()).await {
            Ok(opened) => opened,
            Err(inventory_base::storage::StorageError::NotFound { .. }) => {
                return Err(CatalogError::SourceMissing {
                    path: path.to_string(),
                    address: entry.address.clone(),
                    version_id: entry.version_id.clone(),
                });
            }
            Err(err) => return Err(err.into()),
        };
        if etag != entry.etag {
            return Err(CatalogError::ChangedInSource {
                path: path.to_string(),
                address: entry.address.clone(),
                recorded: entry.etag.clone(),
                found: etag,
            });
        }
        Ok((entry, body))
    }
}
