//! Reading at a ref: listing entries with S3 ListObjectsV2 semantics, one entry's
//! metadata, and an entry's bytes. A branch is read with its uncommitted changes; a
//! commit id as it was committed.

use inventory_base::location::S3Url;

use super::{Catalog, CatalogError, Commit, ListOptions, Listing, PendingChange};
use crate::tree::{Cursor, Entry, TreeError};

/// A tree's entries with a branch's uncommitted changes over them, in path order.
struct Overlaid<'a> {
    cursor: Cursor<'a>,
    changes: Vec<PendingChange>,
    next: usize,
}

impl Overlaid<'_> {
    async fn seek(&mut self, path: &str) -> Result<(), TreeError> {
        self.cursor.seek(path).await?;
        self.next = self.changes.partition_point(|c| c.path.as_str() < path);
        Ok(())
    }

    async fn next_entry(&mut self) -> Result<Option<Entry>, TreeError> {
        loop {
            let Some(change) = self.changes.get(self.next) else {
                return self.cursor.next_entry().await;
            };
            let committed = self.cursor.peek().await?.map(|e| e.path.as_str());
            match committed {
                Some(path) if path < change.path.as_str() => {
                    return self.cursor.next_entry().await;
                }
                Some(path) if path == change.path.as_str() => {
                    self.cursor.next_entry().await?;
                }
                _ => {}
            }
            self.next += 1;
            if let Some(entry) = &change.entry {
                return Ok(Some(entry.clone()));
            }
        }
    }
}

impl Catalog {
    /// Lists entries at a ref with S3 ListObjectsV2 semantics.
    pub async fn list(
        &self,
        repository: &str,
        reference: &str,
        options: &ListOptions,
    ) -> Result<Listing, CatalogError> {
        let repo = self.repository(repository).await?;
        let (commit, changes) = self.view(repository, reference).await?;
        let tree = self.shared_tree_of(&repo, &commit).await?;
        let trees = self.trees(&repo);
        let mut cursor = Overlaid {
            cursor: trees.cursor(&tree),
            changes,
            next: 0,
        };
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

    /// The commit a ref names and, when the ref is a branch, its uncommitted changes.
    pub async fn view(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<(Commit, Vec<PendingChange>), CatalogError> {
        if reference.contains('~') {
            return Ok((self.resolve(repository, reference).await?, Vec::new()));
        }
        self.repository(repository).await?;
        if let Some(view) = self.branch_view(repository, reference).await? {
            return Ok(view);
        }
        Ok((
            self.resolve_ref(repository, reference, true).await?,
            Vec::new(),
        ))
    }

    /// The entry at `path` in `reference`.
    pub async fn stat(
        &self,
        repository: &str,
        reference: &str,
        path: &str,
    ) -> Result<Option<Entry>, CatalogError> {
        let repo = self.repository(repository).await?;
        let (commit, changes) = self.view(repository, reference).await?;
        if let Ok(found) = changes.binary_search_by(|c| c.path.as_str().cmp(path)) {
            return Ok(changes.get(found).and_then(|c| c.entry.clone()));
        }
        let tree = self.shared_tree_of(&repo, &commit).await?;
        Ok(self.trees(&repo).get(&tree, path).await?)
    }

    /// The entry at `path` in `reference`, which must be there.
    pub async fn entry(
        &self,
        repository: &str,
        reference: &str,
        path: &str,
    ) -> Result<Entry, CatalogError> {
        self.stat(repository, reference, path)
            .await?
            .ok_or_else(|| CatalogError::PathNotFound {
                repository: repository.to_string(),
                reference: reference.to_string(),
                path: path.to_string(),
            })
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
        let entry = self.entry(repository, reference, path).await?;
        let body = self.open_entry(repository, reference, &entry, None).await?;
        Ok((entry, body))
    }

    /// The bytes of an entry (`range` of them, end exclusive, when given), checked as
    /// [`open`](Self::open) checks them.
    pub async fn open_entry(
        &self,
        repository: &str,
        reference: &str,
        entry: &Entry,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<aws_sdk_s3::primitives::ByteStream, CatalogError> {
        let path = &entry.path;
        let address: S3Url = entry.address.parse().map_err(|_| CatalogError::Damaged {
            key: format!("{repository}/{reference}/{path}"),
            reason: format!("physical address {:?} is not an S3 URL", entry.address),
        })?;
        let opened = self
            .store
            .open_range(&address, entry.version_id.as_deref(), range)
            .await;
        let (etag, body) = match opened {
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
        Ok(body)
    }
}
