//! Multipart uploads to a path of a branch: opened, given parts, then completed into
//! one uncommitted change (or aborted, leaving nothing).
//!
//! An open upload is one item of the catalog table (`pk = "multipart#<repo>"`,
//! `sk = <upload id>`) naming the branch, the path and the object it will become: a
//! fresh address of the storage namespace (`data/<uuid>`) with a multipart upload of
//! the object store open on it. Parts go straight to that upload. Completing it checks
//! the parts the client names against the ones stored (numbers ascending, ETags equal,
//! all but the last at least 5 MiB, as S3 asks), joins them in the object store and
//! records the object as a change of the branch; until then nothing of it is visible.

use std::path::Path;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use inventory_base::S3Url;
use inventory_base::storage::MIN_PART_SIZE;
use inventory_base::storage_class::storage_class;
use inventory_base::uploads::StoredPart;

use super::changes::validate_path;
use super::{Catalog, CatalogError, PendingChange, text_attribute};
use crate::tree::Entry;

/// The most parts an upload takes, as S3.
pub const MAX_PARTS: i32 = 10_000;

/// An open multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MultipartUpload {
    pub repository: String,
    pub id: String,
    pub branch: String,
    pub path: String,
    pub initiated_ms: i64,
    /// The object it becomes.
    #[serde(skip)]
    address: S3Url,
    /// The object store's upload on that object.
    #[serde(skip)]
    store_upload: String,
}

/// A part of an open upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadedPart {
    pub number: i32,
    pub size: u64,
    /// The part's MD5 in hex, as S3 gives a part's ETag (without quotes).
    pub etag: String,
}

impl From<StoredPart> for UploadedPart {
    fn from(part: StoredPart) -> Self {
        UploadedPart {
            number: part.number,
            size: part.size,
            etag: part.etag,
        }
    }
}

fn partition(repository: &str) -> String {
    format!("multipart#{repository}")
}

impl Catalog {
    /// Opens a multipart upload of `path` on `branch`.
    pub async fn create_multipart(
        &self,
        repository: &str,
        branch: &str,
        path: &str,
    ) -> Result<MultipartUpload, CatalogError> {
        self.writable(repository, branch, path, "uploading").await?;
        let repo = self.repository(repository).await?;
        let address = repo
            .storage_namespace
            .join(&format!("data/{}", uuid::Uuid::new_v4().simple()));
        let store_upload = self.store.create_upload(&address).await?;
        let upload = MultipartUpload {
            repository: repository.to_string(),
            id: uuid::Uuid::new_v4().simple().to_string(),
            branch: branch.to_string(),
            path: path.to_string(),
            initiated_ms: chrono::Utc::now().timestamp_millis(),
            address,
            store_upload,
        };
        let put = self
            .dynamo
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(partition(repository)))
            .item("sk", AttributeValue::S(upload.id.clone()))
            .item("branch", AttributeValue::S(upload.branch.clone()))
            .item("path", AttributeValue::S(upload.path.clone()))
            .item("address", AttributeValue::S(upload.address.to_string()))
            .item(
                "store_upload",
                AttributeValue::S(upload.store_upload.clone()),
            )
            .item(
                "initiated_ms",
                AttributeValue::N(upload.initiated_ms.to_string()),
            )
            .send()
            .await;
        if let Err(err) = put {
            let _ = self
                .store
                .abort_upload(&upload.address, &upload.store_upload)
                .await;
            return Err(self.dynamo_error(err));
        }
        Ok(upload)
    }

    /// The open upload `id` of `repository`.
    pub async fn multipart(
        &self,
        repository: &str,
        id: &str,
    ) -> Result<MultipartUpload, CatalogError> {
        let item = self
            .get_item(&partition(repository), id)
            .await?
            .ok_or_else(|| CatalogError::UploadNotFound {
                repository: repository.to_string(),
                upload_id: id.to_string(),
            })?;
        upload_from_item(repository, id, &item)
    }

    /// Every open upload of `repository`, by id.
    pub async fn list_multiparts(
        &self,
        repository: &str,
    ) -> Result<Vec<MultipartUpload>, CatalogError> {
        let items = self.query_all(&partition(repository), None).await?;
        items
            .iter()
            .map(|item| {
                let id = text_attribute(item, "sk")?;
                upload_from_item(repository, &id, item)
            })
            .collect()
    }

    /// Stores part `number` (1 to [`MAX_PARTS`]) of an upload from a local file.
    pub async fn upload_part(
        &self,
        upload: &MultipartUpload,
        number: i32,
        file: &Path,
    ) -> Result<UploadedPart, CatalogError> {
        if !(1..=MAX_PARTS).contains(&number) {
            return Err(CatalogError::InvalidPart {
                upload_id: upload.id.clone(),
                reason: format!("part number {number} is not between 1 and {MAX_PARTS}"),
            });
        }
        let part = self
            .store
            .upload_part(&upload.address, &upload.store_upload, number, file)
            .await
            .map_err(|err| self.upload_gone(upload, err))?;
        Ok(part.into())
    }

    /// The parts an upload holds, by number.
    pub async fn list_parts(
        &self,
        upload: &MultipartUpload,
    ) -> Result<Vec<UploadedPart>, CatalogError> {
        let parts = self
            .store
            .list_upload_parts(&upload.address, &upload.store_upload)
            .await
            .map_err(|err| self.upload_gone(upload, err))?;
        Ok(parts.into_iter().map(UploadedPart::from).collect())
    }

    /// Completes an upload from the parts the client names (`(number, etag)`, ETags
    /// with or without quotes): the object becomes an uncommitted change of the
    /// upload's branch, and the upload is closed.
    pub async fn complete_multipart(
        &self,
        upload: &MultipartUpload,
        named: &[(i32, String)],
    ) -> Result<Entry, CatalogError> {
        let stored = self.list_parts(upload).await?;
        let parts = chosen_parts(upload, &stored, named)?;
        validate_path(&upload.path)?;
        self.writable(
            &upload.repository,
            &upload.branch,
            &upload.path,
            "uploading",
        )
        .await?;
        let object = self
            .store
            .complete_upload(&upload.address, &upload.store_upload, &parts)
            .await?;
        let entry = Entry {
            path: upload.path.clone(),
            address: upload.address.to_string(),
            version_id: None,
            size: object.size,
            etag: object.etag,
            last_modified_ms: chrono::Utc::now().timestamp_millis(),
            storage_class: Some(storage_class("STANDARD")),
        };
        let change = PendingChange {
            path: upload.path.clone(),
            entry: Some(entry.clone()),
            uploaded: true,
        };
        if let Err(err) = self
            .put_changes(&upload.repository, &upload.branch, vec![change])
            .await
        {
            let _ = self.store.delete(&upload.address).await;
            return Err(err);
        }
        self.forget_multipart(upload).await?;
        Ok(entry)
    }

    /// Aborts an upload: its parts are deleted and nothing becomes visible.
    pub async fn abort_multipart(&self, upload: &MultipartUpload) -> Result<(), CatalogError> {
        self.store
            .abort_upload(&upload.address, &upload.store_upload)
            .await?;
        self.forget_multipart(upload).await
    }

    async fn forget_multipart(&self, upload: &MultipartUpload) -> Result<(), CatalogError> {
        self.dynamo
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(partition(&upload.repository)))
            .key("sk", AttributeValue::S(upload.id.clone()))
            .send()
            .await
            .map_err(|err| self.dynamo_error(err))?;
        Ok(())
    }

    /// A store's "not found" for an upload: the upload was completed or aborted.
    fn upload_gone(
        &self,
        upload: &MultipartUpload,
        err: inventory_base::storage::StorageError,
    ) -> CatalogError {
        if err.is_not_found() {
            CatalogError::UploadNotFound {
                repository: upload.repository.clone(),
                upload_id: upload.id.clone(),
            }
        } else {
            err.into()
        }
    }
}

/// The stored parts a completion names, checked as S3 checks them.
fn chosen_parts(
    upload: &MultipartUpload,
    stored: &[UploadedPart],
    named: &[(i32, String)],
) -> Result<Vec<StoredPart>, CatalogError> {
    let invalid = |reason: String| CatalogError::InvalidPart {
        upload_id: upload.id.clone(),
        reason,
    };
    if named.is_empty() {
        return Err(invalid("the completion names no part".to_string()));
    }
    if named
        .windows(2)
        .any(|pair| pair.first().map(|p| p.0) >= pair.get(1).map(|p| p.0))
    {
        return Err(CatalogError::InvalidPartOrder {
            upload_id: upload.id.clone(),
        });
    }
    let mut chosen = Vec::with_capacity(named.len());
    for (number, etag) in named {
        let etag = etag.trim_matches('"');
        let part = stored
            .iter()
            .find(|p| p.number == *number)
            .ok_or_else(|| invalid(format!("part {number} was not uploaded")))?;
        if part.etag != etag {
            return Err(invalid(format!(
                "part {number} has ETag {}, not {etag}",
                part.etag
            )));
        }
        chosen.push(StoredPart {
            number: part.number,
            size: part.size,
            etag: part.etag.clone(),
        });
    }
    let last = chosen.len().saturating_sub(1);
    if let Some(small) = chosen
        .iter()
        .take(last)
        .find(|p| p.size < MIN_PART_SIZE as u64)
    {
        return Err(CatalogError::PartTooSmall {
            upload_id: upload.id.clone(),
            number: small.number,
            size: small.size,
        });
    }
    Ok(chosen)
}

fn upload_from_item(
    repository: &str,
    id: &str,
    item: &std::collections::HashMap<String, AttributeValue>,
) -> Result<MultipartUpload, CatalogError> {
    let text = |name: &str| text_attribute(item, name);
    let address: S3Url = text("address")?
        .parse()
        .map_err(|_| CatalogError::Damaged {
            key: format!("multipart#{repository}/{id}"),
            reason: "attribute address is not an S3 URL".to_string(),
        })?;
    Ok(MultipartUpload {
        repository: repository.to_string(),
        id: id.to_string(),
        branch: text("branch")?,
        path: text("path")?,
        initiated_ms: item
            .get("initiated_ms")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or_default(),
        address,
        store_upload: text("store_upload")?,
    })
}
