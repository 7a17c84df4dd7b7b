//! Reading and writing objects, in S3 or in a local directory laid out like S3.
//!
//! Inventory data files are copied to local disk before they are decoded: the copy is
//! streamed (bounded memory), its size and MD5 are computed on the way, and the
//! Parquet reader then reads one page at a time from the file, so peak memory does not
//! depend on the size of a data file or of its row groups.

use std::path::{Path, PathBuf};

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use md5::{Digest, Md5};
use tokio::io::AsyncWriteExt;

use crate::location::S3Url;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{url} does not exist")]
    NotFound { url: S3Url },
    #[error("{url}: {message}")]
    S3 { url: S3Url, message: String },
    #[error("{url}: {source}")]
    Io {
        url: S3Url,
        #[source]
        source: std::io::Error,
    },
}

impl StorageError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::NotFound { .. })
    }
}

/// Where objects live: S3 (any endpoint), or a directory where `s3://bucket/key` is
/// the file `<root>/bucket/key` (used for benchmarks and offline runs).
#[derive(Debug, Clone)]
pub enum ObjectStore {
    S3(aws_sdk_s3::Client),
    Local(PathBuf),
}

/// A data file on local disk, with the size and MD5 of its bytes.
#[derive(Debug)]
pub struct LocalCopy {
    pub path: PathBuf,
    pub size: u64,
    pub md5_hex: String,
    /// Deleted when the copy is dropped; `None` when the file was already local.
    _temp: Option<tempfile::TempPath>,
}

const COPY_BUFFER: usize = 1 << 20;

/// S3's smallest multipart part (all but the last).
pub const MIN_PART_SIZE: usize = 5 << 20;

/// An object written by [`ObjectStore::put_stream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub size: u64,
    /// As S3 gives it, without quotes (`<md5>-<parts>` for a multipart upload).
    pub etag: String,
}

/// A key as CopyObject's source names it: URL-encoded, `/` kept.
fn percent_encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(crate) fn unquoted(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_string()
}

/// Reads up to `size` bytes: fewer only at the end of the stream.
async fn read_part(
    url: &S3Url,
    body: &mut (impl tokio::io::AsyncRead + Unpin),
    size: usize,
) -> Result<Bytes, StorageError> {
    let mut part = Vec::with_capacity(size.min(COPY_BUFFER));
    let mut limited = tokio::io::AsyncReadExt::take(body, size as u64);
    tokio::io::AsyncReadExt::read_to_end(&mut limited, &mut part)
        .await
        .map_err(|source| io_error(url, source))?;
    Ok(Bytes::from(part))
}

/// Uploads `first` and the rest of `body` in parts of `part_size`; aborts the upload
/// on any error so that no part is left behind.
async fn multipart_upload(
    store: &ObjectStore,
    url: &S3Url,
    first: Bytes,
    mut body: impl tokio::io::AsyncRead + Unpin,
    part_size: usize,
) -> Result<Stored, StorageError> {
    let upload_id = store.create_upload(url).await?;
    let upload = async {
        let mut parts = Vec::new();
        let mut part = first;
        while !part.is_empty() {
            let number = i32::try_from(parts.len() + 1).unwrap_or(i32::MAX);
            parts.push(
                store
                    .upload_part_bytes(url, &upload_id, number, part)
                    .await?,
            );
            part = read_part(url, &mut body, part_size).await?;
        }
        store.complete_upload(url, &upload_id, &parts).await
    };
    let result = upload.await;
    if result.is_err() {
        let _ = store.abort_upload(url, &upload_id).await;
    }
    result
}

impl ObjectStore {
    /// Reads a whole (small) object.
    pub async fn get(&self, url: &S3Url) -> Result<Bytes, StorageError> {
        match self {
            ObjectStore::S3(client) => {
                let output = get_object(client, url, None).await?;
                let data = output
                    .body
                    .collect()
                    .await
                    .map_err(|err| StorageError::S3 {
                        url: url.clone(),
                        message: format!("reading the object failed: {err}"),
                    })?;
                Ok(data.into_bytes())
            }
            ObjectStore::Local(root) => {
                let path = local_path(root, url);
                tokio::fs::read(&path)
                    .await
                    .map(Bytes::from)
                    .map_err(|source| io_error(url, source))
            }
        }
    }

    /// The size of an object, or `NotFound`.
    pub async fn size(&self, url: &S3Url) -> Result<u64, StorageError> {
        match self {
            ObjectStore::S3(client) => {
                let output = client
                    .head_object()
                    .bucket(&url.bucket)
                    .key(&url.key)
                    .send()
                    .await
                    .map_err(|err| {
                        let not_found = err.as_service_error().is_some_and(|e| e.is_not_found());
                        s3_error(url, not_found, &err)
                    })?;
                Ok(output.content_length().unwrap_or(0).max(0) as u64)
            }
            ObjectStore::Local(root) => tokio::fs::metadata(local_path(root, url))
                .await
                .map(|m| m.len())
                .map_err(|source| io_error(url, source)),
        }
    }

    /// Makes the object available as a local file, computing its size and MD5.
    /// S3 objects are streamed into a temporary file in `temp_dir`.
    pub async fn fetch_to_local(
        &self,
        url: &S3Url,
        temp_dir: &Path,
    ) -> Result<LocalCopy, StorageError> {
        match self {
            ObjectStore::S3(client) => {
                let output = get_object(client, url, None).await?;
                let temp = tempfile::Builder::new()
                    .prefix("inventory-")
                    .suffix(".parquet")
                    .tempfile_in(temp_dir)
                    .map_err(|source| io_error(url, source))?;
                let (file, temp_path) = temp.into_parts();
                let mut file = tokio::fs::File::from_std(file);
                let mut body = output.body;
                let mut hasher = Md5::new();
                let mut size = 0u64;
                while let Some(chunk) = body.next().await {
                    let chunk = chunk.map_err(|err| StorageError::S3 {
                        url: url.clone(),
                        message: format!("download interrupted: {err}"),
                    })?;
                    hasher.update(&chunk);
                    size += chunk.len() as u64;
                    file.write_all(&chunk)
                        .await
                        .map_err(|source| io_error(url, source))?;
                }
                file.flush().await.map_err(|source| io_error(url, source))?;
                Ok(LocalCopy {
                    path: temp_path.to_path_buf(),
                    size,
                    md5_hex: hex::encode(hasher.finalize()),
                    _temp: Some(temp_path),
                })
            }
            ObjectStore::Local(root) => {
                let path = local_path(root, url);
                let (size, md5_hex) = local_md5(url, &path).await?;
                Ok(LocalCopy {
                    path,
                    size,
                    md5_hex,
                    _temp: None,
                })
            }
        }
    }

    /// Opens an object (a given version of it, when `version_id` is set) for streaming,
    /// with its current ETag (without quotes).
    pub async fn open(
        &self,
        url: &S3Url,
        version_id: Option<&str>,
    ) -> Result<(String, ByteStream), StorageError> {
        self.open_range(url, version_id, None).await
    }

    /// [`open`](Self::open), of the bytes `range` (end exclusive) when given; the ETag
    /// is the whole object's.
    pub async fn open_range(
        &self,
        url: &S3Url,
        version_id: Option<&str>,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<(String, ByteStream), StorageError> {
        match self {
            ObjectStore::S3(client) => {
                let output = get_object_range(client, url, version_id, range).await?;
                let etag = output
                    .e_tag
                    .as_deref()
                    .unwrap_or_default()
                    .trim_matches('"')
                    .to_string();
                Ok((etag, output.body))
            }
            ObjectStore::Local(root) => {
                let path = local_path(root, url);
                let (size, etag) = local_md5(url, &path).await?;
                let range = range.unwrap_or(0..size);
                let body = ByteStream::read_from()
                    .path(&path)
                    .offset(range.start)
                    .length(aws_sdk_s3::primitives::Length::Exact(
                        range.end.saturating_sub(range.start),
                    ))
                    .build()
                    .await
                    .map_err(|err| StorageError::S3 {
                        url: url.clone(),
                        message: err.to_string(),
                    })?;
                Ok((etag, body))
            }
        }
    }

    /// Writes a whole object.
    pub async fn put(&self, url: &S3Url, data: Bytes) -> Result<(), StorageError> {
        match self {
            ObjectStore::S3(client) => put_object(client, url, ByteStream::from(data)).await,
            ObjectStore::Local(root) => {
                let path = local_path_with_parent(root, url).await?;
                tokio::fs::write(&path, &data)
                    .await
                    .map_err(|source| io_error(url, source))
            }
        }
    }

    /// Writes a local file as an object, streaming it.
    pub async fn put_file(&self, url: &S3Url, file: &Path) -> Result<(), StorageError> {
        match self {
            ObjectStore::S3(client) => {
                let body = ByteStream::from_path(file)
                    .await
                    .map_err(|err| StorageError::S3 {
                        url: url.clone(),
                        message: format!("reading {}: {err}", file.display()),
                    })?;
                put_object(client, url, body).await
            }
            ObjectStore::Local(root) => {
                let path = local_path_with_parent(root, url).await?;
                tokio::fs::copy(file, &path)
                    .await
                    .map(|_| ())
                    .map_err(|source| io_error(url, source))
            }
        }
    }

    /// Writes an object from a stream of bytes, holding at most one part in memory: one
    /// PutObject when the stream fits in `part_size` bytes, a multipart upload (parts
    /// of `part_size`, at least 5 MiB, S3's smallest) otherwise, aborted on any error.
    /// The object must not exist yet: S3 is asked to refuse writing over one. Returns
    /// what was stored.
    pub async fn put_stream(
        &self,
        url: &S3Url,
        mut body: impl tokio::io::AsyncRead + Unpin,
        part_size: usize,
    ) -> Result<Stored, StorageError> {
        let part_size = part_size.max(MIN_PART_SIZE);
        match self {
            ObjectStore::S3(client) => {
                let first = read_part(url, &mut body, part_size).await?;
                if first.len() < part_size {
                    let size = first.len() as u64;
                    let output = client
                        .put_object()
                        .bucket(&url.bucket)
                        .key(&url.key)
                        .if_none_match("*")
                        .body(ByteStream::from(first))
                        .send()
                        .await
                        .map_err(|err| s3_error(url, false, &err))?;
                    return Ok(Stored {
                        size,
                        etag: unquoted(output.e_tag()),
                    });
                }
                multipart_upload(self, url, first, body, part_size).await
            }
            ObjectStore::Local(root) => {
                let path = local_path_with_parent(root, url).await?;
                let mut file = tokio::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .await
                    .map_err(|source| io_error(url, source))?;
                let written = write_all_hashed(url, &mut body, &mut file).await;
                if written.is_err() {
                    // Nothing half-written stays behind.
                    drop(file);
                    let _ = tokio::fs::remove_file(&path).await;
                }
                let (size, md5) = written?;
                Ok(Stored {
                    size,
                    etag: hex::encode(md5),
                })
            }
        }
    }

    /// Copies an object to a new key of the same store, without reading it through this
    /// process (S3 copies it server-side). Returns the copy's ETag.
    pub async fn copy(&self, from: &S3Url, to: &S3Url) -> Result<String, StorageError> {
        match self {
            ObjectStore::S3(client) => {
                let output = client
                    .copy_object()
                    .copy_source(format!("{}/{}", from.bucket, percent_encode_key(&from.key)))
                    .bucket(&to.bucket)
                    .key(&to.key)
                    .send()
                    .await
                    .map_err(|err| s3_error(to, false, &err))?;
                Ok(unquoted(
                    output.copy_object_result().and_then(|r| r.e_tag()),
                ))
            }
            ObjectStore::Local(root) => {
                let target = local_path_with_parent(root, to).await?;
                tokio::fs::copy(local_path(root, from), &target)
                    .await
                    .map_err(|source| io_error(from, source))?;
                Ok(local_md5(to, &target).await?.1)
            }
        }
    }

    /// Deletes an object; one that does not exist is not an error.
    pub async fn delete(&self, url: &S3Url) -> Result<(), StorageError> {
        match self {
            ObjectStore::S3(client) => client
                .delete_object()
                .bucket(&url.bucket)
                .key(&url.key)
                .send()
                .await
                .map(|_| ())
                .map_err(|err| s3_error(url, false, &err)),
            ObjectStore::Local(root) => match tokio::fs::remove_file(local_path(root, url)).await {
                Ok(()) => Ok(()),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(source) => Err(io_error(url, source)),
            },
        }
    }

    /// Creates the bucket when it does not exist yet (development tools only).
    pub async fn ensure_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        let url = S3Url::new(bucket, "");
        match self {
            ObjectStore::S3(client) => {
                if client.head_bucket().bucket(bucket).send().await.is_ok() {
                    return Ok(());
                }
                match client.create_bucket().bucket(bucket).send().await {
                    Ok(_) => Ok(()),
                    Err(err)
                        if err.as_service_error().is_some_and(|e| {
                            e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists()
                        }) =>
                    {
                        Ok(())
                    }
                    Err(err) => Err(s3_error(&url, false, &err)),
                }
            }
            ObjectStore::Local(root) => tokio::fs::create_dir_all(root.join(bucket))
                .await
                .map_err(|source| io_error(&url, source)),
        }
    }
}

/// The size and MD5 (32 lowercase hex digits) of a local file, read in 1 MiB chunks.
pub fn md5_of_file(path: &Path) -> std::io::Result<(u64, String)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Md5::new();
    let mut buffer = vec![0u8; COPY_BUFFER];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok((size, hex::encode(hasher.finalize())));
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
}

/// Copies `body` to `file`; returns the bytes written and their MD5.
pub(crate) async fn write_all_hashed(
    url: &S3Url,
    body: &mut (impl tokio::io::AsyncRead + Unpin),
    file: &mut tokio::fs::File,
) -> Result<(u64, [u8; 16]), StorageError> {
    let mut hasher = Md5::new();
    let mut size = 0u64;
    let mut buffer = vec![0u8; COPY_BUFFER];
    loop {
        let read = tokio::io::AsyncReadExt::read(body, &mut buffer)
            .await
            .map_err(|source| io_error(url, source))?;
        if read == 0 {
            break;
        }
        let chunk = buffer.get(..read).unwrap_or_default();
        hasher.update(chunk);
        size += read as u64;
        file.write_all(chunk)
            .await
            .map_err(|source| io_error(url, source))?;
    }
    file.flush().await.map_err(|source| io_error(url, source))?;
    Ok((size, hasher.finalize().into()))
}

/// [`md5_of_file`] off the async threads.
async fn local_md5(url: &S3Url, path: &Path) -> Result<(u64, String), StorageError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || md5_of_file(&path))
        .await
        .map_err(|err| io_error(url, std::io::Error::other(err)))?
        .map_err(|source| io_error(url, source))
}

/// Where a local store rooted at `root` keeps the object at `url`.
pub fn local_path(root: &Path, url: &S3Url) -> PathBuf {
    root.join(&url.bucket).join(&url.key)
}

/// The local path of `url`, with its parent directories created.
pub(crate) async fn local_path_with_parent(
    root: &Path,
    url: &S3Url,
) -> Result<PathBuf, StorageError> {
    let path = local_path(root, url);
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|source| io_error(url, source))?;
    }
    Ok(path)
}

async fn get_object(
    client: &aws_sdk_s3::Client,
    url: &S3Url,
    version_id: Option<&str>,
) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, StorageError> {
    get_object_range(client, url, version_id, None).await
}

/// GetObject, of the bytes `range` (end exclusive) when given.
async fn get_object_range(
    client: &aws_sdk_s3::Client,
    url: &S3Url,
    version_id: Option<&str>,
    range: Option<std::ops::Range<u64>>,
) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, StorageError> {
    client
        .get_object()
        .bucket(&url.bucket)
        .key(&url.key)
        .set_version_id(version_id.map(str::to_string))
        .set_range(range.map(|r| format!("bytes={}-{}", r.start, r.end.saturating_sub(1))))
        .send()
        .await
        .map_err(|err| {
            let service = err.as_service_error();
            let not_found = service.is_some_and(|e| e.is_no_such_key())
                || matches!(
                    service.and_then(|e| e.meta().code()),
                    Some("NoSuchVersion" | "NoSuchBucket")
                );
            s3_error(url, not_found, &err)
        })
}

pub(crate) fn io_error(url: &S3Url, source: std::io::Error) -> StorageError {
    if source.kind() == std::io::ErrorKind::NotFound {
        StorageError::NotFound { url: url.clone() }
    } else {
        StorageError::Io {
            url: url.clone(),
            source,
        }
    }
}

/// Writes `body` as the object at `url`.
async fn put_object(
    client: &aws_sdk_s3::Client,
    url: &S3Url,
    body: ByteStream,
) -> Result<(), StorageError> {
    client
        .put_object()
        .bucket(&url.bucket)
        .key(&url.key)
        .body(body)
        .send()
        .await
        .map_err(|err| s3_error(url, false, &err))?;
    Ok(())
}

pub(crate) fn s3_error<E>(url: &S3Url, not_found: bool, err: &E) -> StorageError
where
    E: std::error::Error,
{
    if not_found {
        StorageError::NotFound { url: url.clone() }
    } else {
        StorageError::S3 {
            url: url.clone(),
            message: DisplayErrorContext(err).to_string(),
        }
    }
}
