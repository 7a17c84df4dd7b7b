//! Multipart uploads through the S3 API: CreateMultipartUpload, UploadPart,
//! CompleteMultipartUpload, AbortMultipartUpload, ListParts and ListMultipartUploads,
//! over the catalog's multipart uploads to a branch.
//!
//! A part is spooled to a local file while its checksums are checked, and sent to the
//! storage namespace only when they match: a part never sits whole in memory.

use futures::StreamExt;
use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, CompleteMultipartUploadInput,
    CompleteMultipartUploadOutput, CreateMultipartUploadInput, CreateMultipartUploadOutput, ETag,
    ListMultipartUploadsInput, ListMultipartUploadsOutput, ListPartsInput, ListPartsOutput,
    MultipartUpload, Part, UploadPartInput, UploadPartOutput,
};
use s3s::{S3Request, S3Response, S3Result, s3_error};

use inventory_catalog::catalog::MultipartUpload as CatalogUpload;

use crate::checksums::{CheckedBody, Declared};
use crate::s3::{CatalogS3, catalog_error, internal, split_key, timestamp, too_large};

/// Parts a ListParts page gives at most, as S3.
const MAX_PARTS_PER_PAGE: usize = 1000;

impl CatalogS3 {
    /// The open upload `id`, which must be the upload of `key`.
    async fn upload_of(&self, bucket: &str, key: &str, id: &str) -> S3Result<CatalogUpload> {
        self.repository(bucket).await?;
        let (branch, path) = split_key(key)?;
        let upload = self
            .catalog
            .multipart(bucket, id)
            .await
            .map_err(catalog_error)?;
        if upload.branch != branch || upload.path != path {
            return Err(s3_error!(
                NoSuchUpload,
                "multipart upload {id} is an upload of {}/{}, not of {key}",
                upload.branch,
                upload.path
            ));
        }
        Ok(upload)
    }

    pub(crate) async fn create_multipart(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        self.repository(&input.bucket).await?;
        let (branch, path) = split_key(&input.key)?;
        let upload = self
            .catalog
            .create_multipart(&input.bucket, branch, path)
            .await
            .map_err(catalog_error)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload.id),
            ..CreateMultipartUploadOutput::default()
        }))
    }

    pub(crate) async fn put_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let headers = req.headers;
        let trailers = req.trailing_headers;
        let input = req.input;
        too_large(input.content_length)?;
        let body = input
            .body
            .ok_or_else(|| s3_error!(IncompleteBody, "UploadPart without a body"))?;
        let upload = match self
            .upload_of(&input.bucket, &input.key, &input.upload_id)
            .await
        {
            Ok(upload) => upload,
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
        let spool = tempfile::NamedTempFile::new().map_err(internal)?;
        let mut file = tokio::fs::File::from_std(spool.reopen().map_err(internal)?);
        let mut reader = tokio_util::io::StreamReader::new(checked);
        let copied = tokio::io::copy(&mut reader, &mut file).await;
        if let Some(mismatch) = verdict.mismatch() {
            return Err(mismatch);
        }
        copied.map_err(|err| {
            s3_error!(
                IncompleteBody,
                "part {} of upload {} was not received whole: {err}",
                input.part_number,
                input.upload_id
            )
        })?;
        tokio::io::AsyncWriteExt::flush(&mut file)
            .await
            .map_err(internal)?;
        let part = self
            .catalog
            .upload_part(&upload, input.part_number, spool.path())
            .await
            .map_err(catalog_error)?;
        let checksums = verdict.checksums();
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(part.etag)),
            checksum_crc32: checksums.checksum_crc32,
            checksum_crc32c: checksums.checksum_crc32c,
            checksum_crc64nvme: checksums.checksum_crc64nvme,
            checksum_sha1: checksums.checksum_sha1,
            checksum_sha256: checksums.checksum_sha256,
            ..UploadPartOutput::default()
        }))
    }

    pub(crate) async fn complete_multipart(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let upload = self
            .upload_of(&input.bucket, &input.key, &input.upload_id)
            .await?;
        let named: Vec<(i32, String)> = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|part| {
                (
                    part.part_number.unwrap_or_default(),
                    part.e_tag
                        .map(|etag| etag.value().to_string())
                        .unwrap_or_default(),
                )
            })
            .collect();
        let entry = self
            .catalog
            .complete_multipart(&upload, &named)
            .await
            .map_err(catalog_error)?;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            e_tag: Some(ETag::Strong(entry.etag)),
            ..CompleteMultipartUploadOutput::default()
        }))
    }

    pub(crate) async fn abort_multipart(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        let upload = self
            .upload_of(&input.bucket, &input.key, &input.upload_id)
            .await?;
        self.catalog
            .abort_multipart(&upload)
            .await
            .map_err(catalog_error)?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub(crate) async fn parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let upload = self
            .upload_of(&input.bucket, &input.key, &input.upload_id)
            .await?;
        let limit = input
            .max_parts
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(MAX_PARTS_PER_PAGE)
            .min(MAX_PARTS_PER_PAGE);
        let after = input.part_number_marker.unwrap_or(0);
        let parts = self
            .catalog
            .list_parts(&upload)
            .await
            .map_err(catalog_error)?;
        let mut rest = parts.into_iter().filter(|p| p.number > after).peekable();
        let page: Vec<Part> = rest
            .by_ref()
            .take(limit)
            .map(|part| Part {
                part_number: Some(part.number),
                size: Some(i64::try_from(part.size).unwrap_or(i64::MAX)),
                e_tag: Some(ETag::Strong(part.etag)),
                ..Part::default()
            })
            .collect();
        let truncated = rest.peek().is_some();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            max_parts: Some(i32::try_from(limit).unwrap_or(i32::MAX)),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: page.last().and_then(|p| p.part_number),
            is_truncated: Some(truncated),
            parts: Some(page),
            ..ListPartsOutput::default()
        }))
    }

    pub(crate) async fn uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        self.repository(&input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let mut open: Vec<(String, CatalogUpload)> = self
            .catalog
            .list_multiparts(&input.bucket)
            .await
            .map_err(catalog_error)?
            .into_iter()
            .map(|u| (format!("{}/{}", u.branch, u.path), u))
            .filter(|(key, _)| key.starts_with(&prefix))
            .collect();
        open.sort_by(|a, b| (&a.0, a.1.initiated_ms).cmp(&(&b.0, b.1.initiated_ms)));
        let uploads = open
            .into_iter()
            .map(|(key, upload)| MultipartUpload {
                key: Some(key),
                upload_id: Some(upload.id),
                initiated: Some(timestamp(upload.initiated_ms)),
                ..MultipartUpload::default()
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            is_truncated: Some(false),
            uploads: Some(uploads),
            ..ListMultipartUploadsOutput::default()
        }))
    }
}

/// Reads a refused request's body to its end, so that the connection stays in step
/// for the client's next request.
pub(crate) async fn drain(mut body: s3s::dto::StreamingBlob) {
    while body.next().await.is_some() {}
}
