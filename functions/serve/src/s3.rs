//! S3 operations over the catalog: buckets are repositories, keys are `<ref>/<path>`.

use std::time::{Duration, SystemTime};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, Bucket, CommonPrefix,
    CompleteMultipartUploadInput, CompleteMultipartUploadOutput, CopyObjectInput, CopyObjectOutput,
    CopyObjectResult, CopySource, CreateMultipartUploadInput, CreateMultipartUploadOutput,
    DeleteObjectInput, DeleteObjectOutput, DeleteObjectsInput, DeleteObjectsOutput, DeletedObject,
    ETag, ETagCondition, GetBucketLocationInput, GetBucketLocationOutput, GetObjectInput,
    GetObjectOutput, HeadBucketInput, HeadBucketOutput, HeadObjectInput, HeadObjectOutput,
    ListBucketsInput, ListBucketsOutput, ListMultipartUploadsInput, ListMultipartUploadsOutput,
    ListObjectsInput, ListObjectsOutput, ListObjectsV2Input, ListObjectsV2Output, ListPartsInput,
    ListPartsOutput, Object, ObjectStorageClass, Owner, PutObjectInput, PutObjectOutput,
    StreamingBlob, Timestamp, UploadPartInput, UploadPartOutput,
};
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use inventory_catalog::catalog::{Catalog, CatalogError, ListOptions};
use inventory_catalog::tree::Entry;

use crate::body::ObjectBody;
use crate::checksums::{CheckedBody, Declared};
use crate::multipart::drain;

/// The owner a listing with `fetch-owner` names.
const OWNER: &str = "inventory-import";

/// Keys a listing returns at most, as S3.
const MAX_KEYS: usize = 1000;

/// What `encoding-type=url` leaves as it is: unreserved characters and `/`, as S3 does.
const KEY_ENCODING: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// The catalog as an S3 service.
#[derive(Debug, Clone)]
pub struct CatalogS3 {
    pub(crate) catalog: Catalog,
}

/// Bytes of decoded metaranges and ranges the endpoint keeps in memory by default.
pub const CACHE_BYTES: u64 = 256 << 20;

impl CatalogS3 {
    /// The endpoint over `catalog`, keeping [`CACHE_BYTES`] of decoded trees.
    pub fn new(catalog: Catalog) -> Self {
        Self::with_cache_bytes(catalog, CACHE_BYTES)
    }

    /// The endpoint over `catalog`, keeping commits, repositories and up to `bytes`
    /// of decoded metaranges and ranges between requests.
    pub fn with_cache_bytes(catalog: Catalog, bytes: u64) -> Self {
        Self {
            catalog: catalog.with_read_cache(bytes),
        }
    }

    /// The repository a bucket names, or NoSuchBucket.
    pub(crate) async fn repository(&self, bucket: &str) -> S3Result<()> {
        match self.catalog.repository(bucket).await {
            Ok(_) => Ok(()),
            Err(CatalogError::RepositoryNotFound(_)) => Err(s3_error!(
                NoSuchBucket,
                "repository {bucket} does not exist"
            )),
            Err(err) => Err(internal(err)),
        }
    }
}

/// A key's ref and path: `main/photos/a.jpg` is `photos/a.jpg` at `main`.
pub(crate) fn split_key(key: &str) -> S3Result<(&str, &str)> {
    key.split_once('/')
        .filter(|(reference, path)| !reference.is_empty() && !path.is_empty())
        .ok_or_else(|| {
            s3_error!(
                NoSuchKey,
                "key {key:?} names no object: keys are <branch or commit>/<path>"
            )
        })
}

/// A catalog error as S3 reports it.
pub(crate) fn catalog_error(err: CatalogError) -> S3Error {
    match err {
        CatalogError::RepositoryNotFound(_) => {
            S3Error::with_message(S3ErrorCode::NoSuchBucket, err.to_string())
        }
        CatalogError::RefNotFound { .. }
        | CatalogError::PathNotFound { .. }
        | CatalogError::BranchNotFound { .. }
        | CatalogError::NoSuchAncestor { .. } => {
            S3Error::with_message(S3ErrorCode::NoSuchKey, err.to_string())
        }
        CatalogError::AmbiguousRef { .. } => {
            S3Error::with_message(S3ErrorCode::InvalidArgument, err.to_string())
        }
        CatalogError::SourceMissing { .. } | CatalogError::ChangedInSource { .. } => {
            S3Error::with_message(S3ErrorCode::InvalidObjectState, err.to_string())
        }
        CatalogError::ImportBranch { .. } | CatalogError::NotABranch { .. } => {
            S3Error::with_message(S3ErrorCode::AccessDenied, err.to_string())
        }
        CatalogError::InvalidPath { ref path, .. } if !path.is_empty() => {
            S3Error::with_message(S3ErrorCode::KeyTooLongError, err.to_string())
        }
        CatalogError::InvalidPath { .. } => {
            S3Error::with_message(S3ErrorCode::InvalidArgument, err.to_string())
        }
        CatalogError::Busy { .. } => S3Error::with_message(S3ErrorCode::SlowDown, err.to_string()),
        CatalogError::UploadNotFound { .. } => {
            S3Error::with_message(S3ErrorCode::NoSuchUpload, err.to_string())
        }
        CatalogError::InvalidPart { .. } => {
            S3Error::with_message(S3ErrorCode::InvalidPart, err.to_string())
        }
        CatalogError::InvalidPartOrder { .. } => {
            S3Error::with_message(S3ErrorCode::InvalidPartOrder, err.to_string())
        }
        CatalogError::PartTooSmall { .. } => {
            S3Error::with_message(S3ErrorCode::EntityTooSmall, err.to_string())
        }
        err => internal(err),
    }
}

/// A failure that is not the request's: logged whole, answered briefly (the log has
/// the details, which may name the server's own resources).
pub(crate) fn internal(err: impl std::fmt::Display) -> S3Error {
    tracing::error!(error = %err, "request failed");
    S3Error::with_message(
        S3ErrorCode::InternalError,
        "the request failed on the server; its log has the details",
    )
}

pub(crate) fn timestamp(ms: i64) -> Timestamp {
    let since = Duration::from_millis(ms.max(0).unsigned_abs());
    Timestamp::from(SystemTime::UNIX_EPOCH + since)
}

fn object(reference: &str, entry: &Entry, encode: bool) -> Object {
    Object {
        key: Some(encoded(&format!("{reference}/{}", entry.path), encode)),
        size: Some(i64::try_from(entry.size).unwrap_or(i64::MAX)),
        e_tag: Some(ETag::Strong(entry.etag.clone())),
        last_modified: Some(timestamp(entry.last_modified_ms)),
        storage_class: entry
            .storage_class
            .as_deref()
            .map(|class| ObjectStorageClass::from(class.to_string())),
        ..Object::default()
    }
}

fn encoded(text: &str, encode: bool) -> String {
    if encode {
        utf8_percent_encode(text, KEY_ENCODING).to_string()
    } else {
        text.to_string()
    }
}

#[async_trait::async_trait]
impl S3 for CatalogS3 {
    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let repositories = self.catalog.list_repositories().await.map_err(internal)?;
        let buckets = repositories
            .into_iter()
            .map(|repository| Bucket {
                name: Some(repository.name),
                creation_date: creation_date(&repository.created_at),
                ..Bucket::default()
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            ..ListBucketsOutput::default()
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.repository(&req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.repository(&req.input.bucket).await?;
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let encode = is_url(input.encoding_type.as_ref());
        let page = self
            .page(
                &input.bucket,
                input.prefix.as_deref().unwrap_or_default(),
                input.delimiter.as_deref(),
                input.continuation_token.clone(),
                input.start_after.as_deref(),
                input.max_keys,
                encode,
            )
            .await?;
        let key_count = page.count();
        let mut contents = page.contents;
        if input.fetch_owner == Some(true) {
            // Objects belong to the endpoint that serves them.
            for object in &mut contents {
                object.owner = Some(Owner {
                    display_name: Some(OWNER.to_string()),
                    id: Some(OWNER.to_string()),
                });
            }
        }
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket.clone()),
            prefix: input.prefix.as_ref().map(|p| encoded(p, encode)),
            delimiter: input.delimiter.as_ref().map(|d| encoded(d, encode)),
            max_keys: input.max_keys,
            continuation_token: input.continuation_token.clone(),
            start_after: input.start_after.as_ref().map(|s| encoded(s, encode)),
            encoding_type: input.encoding_type.clone(),
            key_count: Some(key_count),
            is_truncated: Some(page.next_after.is_some()),
            next_continuation_token: page.next_after,
            contents: Some(contents),
            common_prefixes: Some(page.common_prefixes),
            ..ListObjectsV2Output::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let encode = is_url(input.encoding_type.as_ref());
        let page = self
            .page(
                &input.bucket,
                input.prefix.as_deref().unwrap_or_default(),
                input.delimiter.as_deref(),
                None,
                input.marker.as_deref(),
                input.max_keys,
                encode,
            )
            .await?;
        let next_marker = page
            .next_after
            .as_ref()
            .and(page.last_key.as_ref())
            .map(|key| encoded(key, encode));
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket.clone()),
            prefix: input.prefix.as_ref().map(|p| encoded(p, encode)),
            delimiter: input.delimiter.as_ref().map(|d| encoded(d, encode)),
            max_keys: input.max_keys,
            marker: input.marker.as_ref().map(|m| encoded(m, encode)),
            encoding_type: input.encoding_type.clone(),
            is_truncated: Some(page.next_after.is_some()),
            next_marker,
            contents: Some(page.contents),
            common_prefixes: Some(page.common_prefixes),
            ..ListObjectsOutput::default()
        }))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let headers = req.headers;
        let trailers = req.trailing_headers;
        let input = req.input;
        too_large(input.content_length)?;
        let body = input
            .body
            .ok_or_else(|| s3_error!(IncompleteBody, "PutObject without a body"))?;
        let writable = async {
            let (branch, path) = split_key(&input.key)?;
            self.repository(&input.bucket).await?;
            self.catalog
                .writable(&input.bucket, branch, path, "uploading")
                .await
                .map_err(catalog_error)?;
            Ok((branch, path))
        };
        let (branch, path) = match writable.await {
            Ok(target) => target,
            Err(err) => {
                drain(body).await;
                return Err(err);
            }
        };
        let declared = Declared::new(
            input.content_md5.clone(),
            input.checksum_crc32.clone(),
            input.checksum_crc32c.clone(),
            input.checksum_crc64nvme.clone(),
            input.checksum_sha1.clone(),
            input.checksum_sha256.clone(),
        );
        let (checked, verdict) = CheckedBody::new(body, declared, &headers, trailers);
        let reader = tokio_util::io::StreamReader::new(checked);
        let entry = match self
            .catalog
            .upload(&input.bucket, branch, path, reader, PART_SIZE)
            .await
        {
            Ok(entry) => entry,
            // A body that did not match its checksum stored nothing.
            Err(err) => return Err(verdict.mismatch().unwrap_or_else(|| catalog_error(err))),
        };
        let checksums = verdict.checksums();
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(entry.etag)),
            size: Some(i64::try_from(entry.size).unwrap_or(i64::MAX)),
            checksum_crc32: checksums.checksum_crc32,
            checksum_crc32c: checksums.checksum_crc32c,
            checksum_crc64nvme: checksums.checksum_crc64nvme,
            checksum_sha1: checksums.checksum_sha1,
            checksum_sha256: checksums.checksum_sha256,
            ..PutObjectOutput::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.create_multipart(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.put_part(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.complete_multipart(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.abort_multipart(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.parts(req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.uploads(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        self.repository(&input.bucket).await?;
        let (branch, path) = split_key(&input.key)?;
        let CopySource::Bucket {
            bucket: source_bucket,
            key: source_key,
            ..
        } = &input.copy_source
        else {
            return Err(s3_error!(
                NotImplemented,
                "copies from access points are not supported"
            ));
        };
        if source_bucket.as_ref() != input.bucket.as_str() {
            return Err(s3_error!(
                NotImplemented,
                "copies between repositories are not supported: {source_bucket} is not {}",
                input.bucket
            ));
        }
        let (source_ref, source_path) = split_key(source_key)?;
        let entry = self
            .catalog
            .copy(&input.bucket, source_ref, source_path, branch, path)
            .await
            .map_err(catalog_error)?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(ETag::Strong(entry.etag)),
                last_modified: Some(timestamp(entry.last_modified_ms)),
                ..CopyObjectResult::default()
            }),
            ..CopyObjectOutput::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        self.repository(&input.bucket).await?;
        let (branch, path) = split_key(&input.key)?;
        self.delete(&input.bucket, branch, path).await?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        self.repository(&input.bucket).await?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let (mut deleted, mut errors) = (Vec::new(), Vec::new());
        for object in input.delete.objects {
            let result = match split_key(&object.key) {
                Ok((branch, path)) => self.delete(&input.bucket, branch, path).await,
                Err(err) => Err(err),
            };
            match result {
                Ok(()) if quiet => {}
                Ok(()) => deleted.push(DeletedObject {
                    key: Some(object.key),
                    ..DeletedObject::default()
                }),
                Err(err) => errors.push(s3s::dto::Error {
                    key: Some(object.key),
                    code: Some(err.code().as_str().to_string()),
                    message: err.message().map(str::to_string),
                    ..s3s::dto::Error::default()
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            ..DeleteObjectsOutput::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        self.repository(&input.bucket).await?;
        let (reference, path) = split_key(&input.key)?;
        let entry = self.entry(&input.bucket, reference, path).await?;
        check_conditions(
            &entry,
            Conditions {
                if_match: input.if_match.as_ref(),
                if_none_match: input.if_none_match.as_ref(),
                if_modified_since: input.if_modified_since.as_ref(),
                if_unmodified_since: input.if_unmodified_since.as_ref(),
            },
        )?;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(i64::try_from(entry.size).unwrap_or(i64::MAX)),
            e_tag: Some(ETag::Strong(entry.etag.clone())),
            last_modified: Some(timestamp(entry.last_modified_ms)),
            ..HeadObjectOutput::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        self.repository(&input.bucket).await?;
        let (reference, path) = split_key(&input.key)?;
        let entry = self.entry(&input.bucket, reference, path).await?;
        check_conditions(
            &entry,
            Conditions {
                if_match: input.if_match.as_ref(),
                if_none_match: input.if_none_match.as_ref(),
                if_modified_since: input.if_modified_since.as_ref(),
                if_unmodified_since: input.if_unmodified_since.as_ref(),
            },
        )?;
        let range = match &input.range {
            Some(range) => Some(range.check(entry.size).map_err(|_| {
                s3_error!(
                    InvalidRange,
                    "the range is not satisfiable: {path:?} at {reference} has {} bytes",
                    entry.size
                )
            })?),
            None => None,
        };
        let body = self
            .catalog
            .open_entry(&input.bucket, reference, &entry, range.clone())
            .await
            .map_err(catalog_error)?;
        let length = range.as_ref().map_or(entry.size, |r| r.end - r.start);
        Ok(S3Response::new(GetObjectOutput {
            body: Some(StreamingBlob::wrap(ObjectBody::new(body))),
            content_length: Some(i64::try_from(length).unwrap_or(i64::MAX)),
            content_range: range.map(|r| {
                format!(
                    "bytes {}-{}/{}",
                    r.start,
                    r.end.saturating_sub(1),
                    entry.size
                )
            }),
            accept_ranges: Some("bytes".to_string()),
            e_tag: Some(ETag::Strong(entry.etag.clone())),
            last_modified: Some(timestamp(entry.last_modified_ms)),
            ..GetObjectOutput::default()
        }))
    }
}

/// A read's conditions (`If-Match`, `If-None-Match`, `If-Modified-Since`,
/// `If-Unmodified-Since`).
struct Conditions<'a> {
    if_match: Option<&'a ETagCondition>,
    if_none_match: Option<&'a ETagCondition>,
    if_modified_since: Option<&'a Timestamp>,
    if_unmodified_since: Option<&'a Timestamp>,
}

/// Checks a read's conditions against the entry, as S3 does (RFC 9110 §13.2.2): a
/// failed `If-Match` or `If-Unmodified-Since` is PreconditionFailed; a matching
/// `If-None-Match` or an unmet `If-Modified-Since` is NotModified. Times are compared
/// in whole seconds, as HTTP dates carry them.
fn check_conditions(entry: &Entry, conditions: Conditions<'_>) -> S3Result<()> {
    let matches = |condition: &ETagCondition| match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(etag) => etag.value() == entry.etag,
    };
    let modified = entry.last_modified_ms.div_euclid(1000);
    let seconds = |t: &Timestamp| time::OffsetDateTime::from(t.clone()).unix_timestamp();
    match conditions.if_match {
        Some(condition) if !matches(condition) => {
            return Err(s3_error!(
                PreconditionFailed,
                "If-Match: the object's ETag is {}",
                entry.etag
            ));
        }
        Some(_) => {}
        None => {
            if let Some(since) = conditions.if_unmodified_since
                && modified > seconds(since)
            {
                return Err(s3_error!(
                    PreconditionFailed,
                    "If-Unmodified-Since: the object was modified after it"
                ));
            }
        }
    }
    match conditions.if_none_match {
        Some(condition) if matches(condition) => Err(s3_error!(NotModified)),
        Some(_) => Ok(()),
        None => match conditions.if_modified_since {
            Some(since) if modified <= seconds(since) => Err(s3_error!(NotModified)),
            _ => Ok(()),
        },
    }
}

/// One page of a listing, as both ListObjects versions give it.
#[derive(Default)]
struct Page {
    contents: Vec<Object>,
    common_prefixes: Vec<CommonPrefix>,
    /// Where the next page starts (within the ref), when there is one.
    next_after: Option<String>,
    /// The last key or common prefix of the page, whole (`<ref>/…`).
    last_key: Option<String>,
}

impl Page {
    fn count(&self) -> i32 {
        i32::try_from(self.contents.len() + self.common_prefixes.len()).unwrap_or(i32::MAX)
    }
}

fn is_url(encoding: Option<&s3s::dto::EncodingType>) -> bool {
    encoding.is_some_and(|e| e.as_str() == "url")
}

impl CatalogS3 {
    /// A page of keys of `bucket` under `prefix`: `<ref>/…` keys of one ref, or, for a
    /// prefix without a ref and the delimiter `/`, the branches as common prefixes.
    /// `token` (a previous page's) or else `start_after` (a whole key) says where to
    /// start.
    #[allow(clippy::too_many_arguments)]
    async fn page(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        token: Option<String>,
        start_after: Option<&str>,
        max_keys: Option<i32>,
        encode: bool,
    ) -> S3Result<Page> {
        self.repository(bucket).await?;
        let limit = max_keys
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(MAX_KEYS)
            .min(MAX_KEYS);
        let Some((reference, path_prefix)) = prefix.split_once('/') else {
            // No ref in the prefix: the branches are the top level.
            if delimiter != Some("/") {
                return Ok(Page::default());
            }
            let branches = self
                .catalog
                .list_branches(bucket)
                .await
                .map_err(catalog_error)?;
            let common_prefixes = branches
                .into_iter()
                .map(|b| format!("{}/", b.name))
                .filter(|p| p.starts_with(prefix))
                .filter(|p| start_after.is_none_or(|after| p.as_str() > after))
                .map(|p| CommonPrefix {
                    prefix: Some(encoded(&p, encode)),
                })
                .collect();
            return Ok(Page {
                common_prefixes,
                ..Page::default()
            });
        };
        let after = token.or_else(|| {
            start_after
                .and_then(|s| s.strip_prefix(&format!("{reference}/")))
                .map(str::to_string)
        });
        let options = ListOptions {
            prefix: path_prefix.to_string(),
            delimiter: delimiter.filter(|d| !d.is_empty()).map(str::to_string),
            after,
            limit: limit.max(1),
        };
        let listing = match self.catalog.list(bucket, reference, &options).await {
            Ok(listing) => listing,
            // A ref that does not exist holds no keys.
            Err(CatalogError::RefNotFound { .. }) => return Ok(Page::default()),
            Err(err) => return Err(catalog_error(err)),
        };
        let last_key = listing
            .entries
            .last()
            .map(|e| e.path.as_str())
            .max(listing.common_prefixes.last().map(String::as_str))
            .map(|last| format!("{reference}/{last}"));
        Ok(Page {
            contents: listing
                .entries
                .iter()
                .map(|entry| object(reference, entry, encode))
                .collect(),
            common_prefixes: listing
                .common_prefixes
                .iter()
                .map(|p| CommonPrefix {
                    prefix: Some(encoded(&format!("{reference}/{p}"), encode)),
                })
                .collect(),
            next_after: listing.next_after,
            last_key,
        })
    }

    /// The entry at `path` in `reference`, or NoSuchKey.
    async fn entry(&self, repository: &str, reference: &str, path: &str) -> S3Result<Entry> {
        self.catalog
            .stat(repository, reference, path)
            .await
            .map_err(catalog_error)?
            .ok_or_else(|| s3_error!(NoSuchKey, "{path:?} does not exist at {reference}"))
    }

    /// Records the deletion of `path` on `branch`; a path that is not there is deleted
    /// already, as S3 answers.
    async fn delete(&self, repository: &str, branch: &str, path: &str) -> S3Result<()> {
        match self.catalog.remove(repository, branch, path, false).await {
            Ok(_) | Err(CatalogError::PathNotFound { .. }) => Ok(()),
            Err(err) => Err(catalog_error(err)),
        }
    }
}

/// The largest object one PutObject (or part one UploadPart) writes, as S3.
pub const MAX_PUT_BYTES: i64 = 5 << 30;

/// Refuses a body larger than [`MAX_PUT_BYTES`] from its declared length, before any
/// of it is read.
pub(crate) fn too_large(length: Option<i64>) -> S3Result<()> {
    match length {
        Some(length) if length > MAX_PUT_BYTES => Err(s3_error!(
            EntityTooLarge,
            "the body has {length} bytes; one request uploads at most 5 GiB \
             (larger objects are uploaded in parts)"
        )),
        _ => Ok(()),
    }
}

/// Bytes an upload sends to the storage namespace per request.
const PART_SIZE: usize = 8 << 20;

/// A repository's creation time (RFC 3339) as S3 gives a bucket's.
fn creation_date(created_at: &str) -> Option<Timestamp> {
    Timestamp::parse(s3s::dto::TimestampFormat::DateTime, created_at).ok()
}
