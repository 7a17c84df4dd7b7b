//! Multipart uploads an object store holds open: created, given parts one request at a
//! time (from local files), listed, completed into one object, or aborted.
//!
//! In S3 they are S3's own multipart uploads, so the parts are never read back through
//! this process and the object's ETag is S3's (`<md5 of the parts' md5s>-<parts>`). In
//! a local store the parts are files next to the object (`<key>.parts-<upload>/<n>`),
//! joined on completion, with the same ETag.

use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use md5::{Digest, Md5};
use tokio::io::AsyncWriteExt;

use crate::location::S3Url;
use crate::storage::{
    ObjectStore, StorageError, Stored, io_error, local_path, local_path_with_parent, s3_error,
    unquoted,
};

/// A part of an open upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPart {
    pub number: i32,
    pub size: u64,
    /// As S3 gives it, without quotes: the part's MD5 in hex.
    pub etag: String,
}

/// The ETag S3 gives an object completed from parts with these MD5s (hex):
/// the MD5 of the parts' binary MD5s, then `-` and the number of parts.
pub fn multipart_etag<'a>(part_md5s: impl IntoIterator<Item = &'a str>) -> String {
    let mut hasher = Md5::new();
    let mut parts = 0usize;
    for md5 in part_md5s {
        hasher.update(hex::decode(md5).unwrap_or_default());
        parts += 1;
    }
    format!("{}-{parts}", hex::encode(hasher.finalize()))
}

/// A part's bytes: a local file, or bytes in memory.
enum Part<'a> {
    File(&'a Path),
    Bytes(Bytes),
}

/// An error of a call on an open upload: one S3 no longer knows is not found.
fn upload_error<E, R>(url: &S3Url, err: &aws_sdk_s3::error::SdkError<E, R>) -> StorageError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let missing = err.as_service_error().and_then(|e| e.code()) == Some("NoSuchUpload");
    s3_error(url, missing, err)
}

/// The directory a local store keeps an upload's parts in.
fn parts_dir(root: &Path, url: &S3Url, upload_id: &str) -> PathBuf {
    let object = local_path(root, url);
    let mut name = object.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".parts-{upload_id}"));
    object.with_file_name(name)
}

impl ObjectStore {
    /// Opens a multipart upload of the object at `url`; returns its id.
    pub async fn create_upload(&self, url: &S3Url) -> Result<String, StorageError> {
        match self {
            ObjectStore::S3(client) => {
                let output = client
                    .create_multipart_upload()
                    .bucket(&url.bucket)
                    .key(&url.key)
                    .send()
                    .await
                    .map_err(|err| s3_error(url, false, &err))?;
                output
                    .upload_id()
                    .map(str::to_string)
                    .ok_or_else(|| StorageError::S3 {
                        url: url.clone(),
                        message: "CreateMultipartUpload returned no upload id".to_string(),
                    })
            }
            ObjectStore::Local(root) => {
                let upload_id = uuid::Uuid::new_v4().simple().to_string();
                let dir = parts_dir(root, url, &upload_id);
                tokio::fs::create_dir_all(&dir)
                    .await
                    .map_err(|source| io_error(url, source))?;
                Ok(upload_id)
            }
        }
    }

    /// Stores part `number` of an open upload from a local file (a part given again
    /// replaces the earlier one, as in S3).
    pub async fn upload_part(
        &self,
        url: &S3Url,
        upload_id: &str,
        number: i32,
        file: &Path,
    ) -> Result<StoredPart, StorageError> {
        self.store_part(url, upload_id, number, Part::File(file))
            .await
    }

    /// Stores part `number` of an open upload from bytes in memory.
    pub async fn upload_part_bytes(
        &self,
        url: &S3Url,
        upload_id: &str,
        number: i32,
        bytes: Bytes,
    ) -> Result<StoredPart, StorageError> {
        self.store_part(url, upload_id, number, Part::Bytes(bytes))
            .await
    }

    async fn store_part(
        &self,
        url: &S3Url,
        upload_id: &str,
        number: i32,
        part: Part<'_>,
    ) -> Result<StoredPart, StorageError> {
        match self {
            ObjectStore::S3(client) => {
                let (size, body) = match part {
                    Part::Bytes(bytes) => (bytes.len() as u64, ByteStream::from(bytes)),
                    Part::File(file) => {
                        let size = tokio::fs::metadata(file)
                            .await
                            .map_err(|source| io_error(url, source))?
                            .len();
                        let body =
                            ByteStream::from_path(file)
                                .await
                                .map_err(|err| StorageError::S3 {
                                    url: url.clone(),
                                    message: format!("reading {}: {err}", file.display()),
                                })?;
                        (size, body)
                    }
                };
                let output = client
                    .upload_part()
                    .bucket(&url.bucket)
                    .key(&url.key)
                    .upload_id(upload_id)
                    .part_number(number)
                    .body(body)
                    .send()
                    .await
                    .map_err(|err| upload_error(url, &err))?;
                Ok(StoredPart {
                    number,
                    size,
                    etag: unquoted(output.e_tag()),
                })
            }
            ObjectStore::Local(root) => {
                let dir = parts_dir(root, url, upload_id);
                if !tokio::fs::try_exists(&dir).await.unwrap_or(false) {
                    return Err(StorageError::NotFound { url: url.clone() });
                }
                let target = dir.join(number.to_string());
                let staging = dir.join(format!("{number}.partial"));
                match part {
                    Part::File(file) => tokio::fs::copy(file, &staging).await.map(|_| ()),
                    Part::Bytes(bytes) => tokio::fs::write(&staging, &bytes).await,
                }
                .map_err(|source| io_error(url, source))?;
                tokio::fs::rename(&staging, &target)
                    .await
                    .map_err(|source| io_error(url, source))?;
                let (size, md5) =
                    crate::storage::md5_of_file(&target).map_err(|source| io_error(url, source))?;
                Ok(StoredPart {
                    number,
                    size,
                    etag: md5,
                })
            }
        }
    }

    /// The parts an open upload holds, by number.
    pub async fn list_upload_parts(
        &self,
        url: &S3Url,
        upload_id: &str,
    ) -> Result<Vec<StoredPart>, StorageError> {
        match self {
            ObjectStore::S3(client) => {
                let mut parts = Vec::new();
                let mut marker: Option<String> = None;
                loop {
                    let output = client
                        .list_parts()
                        .bucket(&url.bucket)
                        .key(&url.key)
                        .upload_id(upload_id)
                        .set_part_number_marker(marker.take())
                        .send()
                        .await
                        .map_err(|err| upload_error(url, &err))?;
                    for part in output.parts() {
                        parts.push(StoredPart {
                            number: part.part_number().unwrap_or_default(),
                            size: u64::try_from(part.size().unwrap_or_default())
                                .unwrap_or_default(),
                            etag: unquoted(part.e_tag()),
                        });
                    }
                    if output.is_truncated() != Some(true) {
                        break;
                    }
                    marker = output.next_part_number_marker().map(str::to_string);
                    if marker.is_none() {
                        break;
                    }
                }
                parts.sort_by_key(|p| p.number);
                Ok(parts)
            }
            ObjectStore::Local(root) => {
                let dir = parts_dir(root, url, upload_id);
                let mut entries = tokio::fs::read_dir(&dir)
                    .await
                    .map_err(|source| io_error(url, source))?;
                let mut parts = Vec::new();
                while let Some(entry) = entries
                    .next_entry()
                    .await
                    .map_err(|source| io_error(url, source))?
                {
                    let Some(number) = entry
                        .file_name()
                        .to_str()
                        .and_then(|name| name.parse::<i32>().ok())
                    else {
                        continue;
                    };
                    let (size, etag) = crate::storage::md5_of_file(&entry.path())
                        .map_err(|source| io_error(url, source))?;
                    parts.push(StoredPart { number, size, etag });
                }
                parts.sort_by_key(|p| p.number);
                Ok(parts)
            }
        }
    }

    /// Joins the named parts (ascending numbers, each with its ETag) into the object;
    /// the upload is closed.
    pub async fn complete_upload(
        &self,
        url: &S3Url,
        upload_id: &str,
        parts: &[StoredPart],
    ) -> Result<Stored, StorageError> {
        let size = parts.iter().map(|p| p.size).sum();
        match self {
            ObjectStore::S3(client) => {
                let completed = parts
                    .iter()
                    .map(|part| {
                        CompletedPart::builder()
                            .part_number(part.number)
                            .e_tag(format!("\"{}\"", part.etag))
                            .build()
                    })
                    .collect();
                let output = client
                    .complete_multipart_upload()
                    .bucket(&url.bucket)
                    .key(&url.key)
                    .upload_id(upload_id)
                    .if_none_match("*")
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(completed))
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|err| s3_error(url, false, &err))?;
                Ok(Stored {
                    size,
                    etag: unquoted(output.e_tag()),
                })
            }
            ObjectStore::Local(root) => {
                let dir = parts_dir(root, url, upload_id);
                let path = local_path_with_parent(root, url).await?;
                let mut file = tokio::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .await
                    .map_err(|source| io_error(url, source))?;
                let joined = async {
                    for part in parts {
                        let mut input = tokio::fs::File::open(dir.join(part.number.to_string()))
                            .await
                            .map_err(|source| io_error(url, source))?;
                        tokio::io::copy(&mut input, &mut file)
                            .await
                            .map_err(|source| io_error(url, source))?;
                    }
                    file.flush().await.map_err(|source| io_error(url, source))
                };
                if let Err(err) = joined.await {
                    let _ = tokio::fs::remove_file(&path).await;
                    return Err(err);
                }
                let _ = tokio::fs::remove_dir_all(&dir).await;
                Ok(Stored {
                    size,
                    etag: multipart_etag(parts.iter().map(|p| p.etag.as_str())),
                })
            }
        }
    }

    /// Closes an upload without an object: its parts are deleted. An upload that is
    /// gone already is not an error.
    pub async fn abort_upload(&self, url: &S3Url, upload_id: &str) -> Result<(), StorageError> {
        match self {
            ObjectStore::S3(client) => match client
                .abort_multipart_upload()
                .bucket(&url.bucket)
                .key(&url.key)
                .upload_id(upload_id)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_no_such_upload()) =>
                {
                    Ok(())
                }
                Err(err) => Err(s3_error(url, false, &err)),
            },
            ObjectStore::Local(root) => {
                match tokio::fs::remove_dir_all(parts_dir(root, url, upload_id)).await {
                    Ok(()) => Ok(()),
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(source) => Err(io_error(url, source)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_etag_of_parts_is_s3s() {
        // Two parts: "a" * 5 MiB and "b"; S3 gives md5(md5(a) ‖ md5(b)) + "-2".
        let a = hex::encode(Md5::digest(vec![b'a'; 5 << 20]));
        let b = hex::encode(Md5::digest(b"b"));
        let mut joined = hex::decode(&a).unwrap();
        joined.extend(hex::decode(&b).unwrap());
        assert_eq!(
            multipart_etag([a.as_str(), b.as_str()]),
            format!("{}-2", hex::encode(Md5::digest(&joined)))
        );
    }

    #[tokio::test]
    async fn a_local_upload_joins_its_parts_in_order() {
        let root = tempfile::tempdir().unwrap();
        let store = ObjectStore::Local(root.path().to_path_buf());
        let url = S3Url::new("bucket", "data/object");
        let id = store.create_upload(&url).await.unwrap();
        let files = tempfile::tempdir().unwrap();
        for (number, text) in [(2, "world"), (1, "hello, ")] {
            let file = files.path().join(number.to_string());
            std::fs::write(&file, text).unwrap();
            store.upload_part(&url, &id, number, &file).await.unwrap();
        }
        let parts = store.list_upload_parts(&url, &id).await.unwrap();
        assert_eq!(parts.iter().map(|p| p.number).collect::<Vec<_>>(), [1, 2]);
        let stored = store.complete_upload(&url, &id, &parts).await.unwrap();
        assert_eq!(stored.size, 12);
        assert!(stored.etag.ends_with("-2"));
        assert_eq!(
            std::fs::read_to_string(root.path().join("bucket/data/object")).unwrap(),
            "hello, world"
        );
        assert!(
            store
                .list_upload_parts(&url, &id)
                .await
                .unwrap_err()
                .is_not_found()
        );
    }
}
