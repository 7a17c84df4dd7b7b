//! Checks an upload's bytes against the checksums its request names: `Content-MD5`,
//! an `x-amz-checksum-*` header, or one sent as a trailer after an `aws-chunked` body
//! (named by `x-amz-trailer`), as current AWS CLIs and SDKs send them. `s3s` decodes
//! the body and its trailers; comparing the values is done here, while the bytes
//! stream through.
//!
//! A mismatch ends the body with an error instead of its last chunk, so that whatever
//! stores the bytes fails and stores nothing; the [`Verdict`] then says BadDigest.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use futures::Stream;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Md5, Sha1, Sha256};
use s3s::dto::{Checksum, StreamingBlob};
use s3s::{S3Error, TrailingHeaders, s3_error};

/// The checksums a request's headers name (base64, as S3 sends them).
#[derive(Debug, Default, Clone)]
pub struct Declared {
    pub content_md5: Option<String>,
    pub checksum: Checksum,
}

impl Declared {
    /// The checksums named by a request's `Content-MD5` and `x-amz-checksum-*` headers.
    pub fn new(
        content_md5: Option<String>,
        crc32: Option<String>,
        crc32c: Option<String>,
        crc64nvme: Option<String>,
        sha1: Option<String>,
        sha256: Option<String>,
    ) -> Declared {
        Declared {
            content_md5,
            checksum: Checksum {
                checksum_crc32: crc32,
                checksum_crc32c: crc32c,
                checksum_crc64nvme: crc64nvme,
                checksum_sha1: sha1,
                checksum_sha256: sha256,
                ..Checksum::default()
            },
        }
    }
}

/// What checking a body found: the checksums of the bytes once they all went through,
/// or the error a mismatch is.
#[derive(Debug, Clone, Default)]
pub struct Verdict(Arc<Mutex<Option<Result<Checksum, S3Error>>>>);

impl Verdict {
    fn set(&self, outcome: Result<Checksum, S3Error>) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(outcome);
        }
    }

    /// The mismatch, if the body had one (taken: asked once).
    pub fn mismatch(&self) -> Option<S3Error> {
        let mut slot = self.0.lock().ok()?;
        match slot.take() {
            Some(Err(err)) => Some(err),
            other => {
                *slot = other;
                None
            }
        }
    }

    /// The checksums of a body read to its end without a mismatch.
    pub fn checksums(&self) -> Checksum {
        self.0
            .lock()
            .ok()
            .and_then(|slot| slot.as_ref().and_then(|o| o.as_ref().ok().cloned()))
            .unwrap_or_default()
    }
}

/// The checksum algorithms S3 knows, by the suffix of their header names.
const ALGORITHMS: [&str; 5] = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"];

fn field<'a>(checksum: &'a Checksum, algorithm: &str) -> Option<&'a String> {
    match algorithm {
        "crc32" => checksum.checksum_crc32.as_ref(),
        "crc32c" => checksum.checksum_crc32c.as_ref(),
        "crc64nvme" => checksum.checksum_crc64nvme.as_ref(),
        "sha1" => checksum.checksum_sha1.as_ref(),
        "sha256" => checksum.checksum_sha256.as_ref(),
        _ => None,
    }
}

fn enable(hasher: &mut ChecksumHasher, algorithm: &str) {
    match algorithm {
        "crc32" => hasher.crc32 = Some(Crc32::new()),
        "crc32c" => hasher.crc32c = Some(Crc32c::new()),
        "crc64nvme" => hasher.crc64nvme = Some(Crc64Nvme::new()),
        "sha1" => hasher.sha1 = Some(Sha1::new()),
        "sha256" => hasher.sha256 = Some(Sha256::new()),
        _ => {}
    }
}

/// A body whose bytes are checked as they stream through.
pub struct CheckedBody {
    body: StreamingBlob,
    hasher: Option<ChecksumHasher>,
    md5: Option<Md5>,
    declared: Declared,
    /// The algorithm whose value comes as a trailer, and the trailers.
    trailer: Option<(String, TrailingHeaders)>,
    verdict: Verdict,
    done: bool,
}

impl CheckedBody {
    /// Checks `body` against `declared` and against the trailer `x-amz-trailer`
    /// names, if any.
    pub fn new(
        body: StreamingBlob,
        declared: Declared,
        headers: &axum::http::HeaderMap,
        trailers: Option<TrailingHeaders>,
    ) -> (CheckedBody, Verdict) {
        let mut hasher = ChecksumHasher::default();
        for algorithm in ALGORITHMS {
            if field(&declared.checksum, algorithm).is_some() {
                enable(&mut hasher, algorithm);
            }
        }
        let trailer = headers
            .get("x-amz-trailer")
            .and_then(|v| v.to_str().ok())
            .and_then(|name| {
                name.trim()
                    .to_ascii_lowercase()
                    .strip_prefix("x-amz-checksum-")
                    .map(str::to_string)
            })
            .filter(|algorithm| ALGORITHMS.contains(&algorithm.as_str()))
            .zip(trailers);
        if let Some((algorithm, _)) = &trailer {
            enable(&mut hasher, algorithm);
        }
        let md5 = declared.content_md5.as_ref().map(|_| Md5::new());
        let verdict = Verdict::default();
        let checked = CheckedBody {
            body,
            hasher: Some(hasher),
            md5,
            declared,
            trailer,
            verdict: verdict.clone(),
            done: false,
        };
        (checked, verdict)
    }

    /// Compares what went through with what the request declared.
    fn finish(&mut self) -> Result<Checksum, S3Error> {
        let computed = self.hasher.take().unwrap_or_default().finalize();
        if let (Some(expected), Some(md5)) = (&self.declared.content_md5, self.md5.take()) {
            let actual = BASE64.encode(md5.finalize());
            if *expected != actual {
                return Err(s3_error!(
                    BadDigest,
                    "the Content-MD5 you specified did not match what we received: \
                     expected {expected}, received {actual}"
                ));
            }
        }
        let mut expected = self.declared.checksum.clone();
        if let Some((algorithm, trailers)) = &self.trailer {
            let name = format!("x-amz-checksum-{algorithm}");
            let value = trailers.read(|headers| {
                headers
                    .get(name.as_str())
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            });
            if let Some(Some(value)) = value {
                match algorithm.as_str() {
                    "crc32" => expected.checksum_crc32 = Some(value),
                    "crc32c" => expected.checksum_crc32c = Some(value),
                    "crc64nvme" => expected.checksum_crc64nvme = Some(value),
                    "sha1" => expected.checksum_sha1 = Some(value),
                    _ => expected.checksum_sha256 = Some(value),
                }
            }
        }
        for algorithm in ALGORITHMS {
            if let (Some(want), Some(got)) =
                (field(&expected, algorithm), field(&computed, algorithm))
                && want != got
            {
                return Err(s3_error!(
                    BadDigest,
                    "the {} you specified did not match the calculated checksum: \
                     expected {want}, calculated {got}",
                    format!("x-amz-checksum-{algorithm}")
                ));
            }
        }
        Ok(computed)
    }
}

impl Stream for CheckedBody {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.body).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                if let Some(hasher) = &mut this.hasher {
                    hasher.update(&chunk);
                }
                if let Some(md5) = &mut this.md5 {
                    md5.update(&chunk);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(err))) => {
                this.done = true;
                Poll::Ready(Some(Err(std::io::Error::other(err.to_string()))))
            }
            Poll::Ready(None) => {
                this.done = true;
                let outcome = this.finish();
                let failed = outcome.is_err();
                this.verdict.set(outcome);
                if failed {
                    Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "the body does not match its checksum",
                    ))))
                } else {
                    Poll::Ready(None)
                }
            }
        }
    }
}
