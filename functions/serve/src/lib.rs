//! The S3-compatible endpoint: S3 clients (the AWS CLI, boto3, s5cmd, pyarrow) read
//! any branch or commit of a repository as they read a bucket, with the lakeFS
//! convention: bucket = repository, key = `<ref>/<path>`. A listing without a ref in
//! its prefix lists the refs (branches) as common prefixes.
//!
//! It owns the S3 protocol's side of reads ([`s3`], over the `s3s` crate, which parses
//! requests, checks SigV4 and writes S3's XML), the choice of path-style addressing
//! ([`host`]), the access keys clients sign with ([`keys`]), uploads' checksums
//! ([`checksums`]), objects' bytes as response bodies ([`body`]), multipart uploads ([`multipart`]), the HTTP router the endpoint is
//! mounted in ([`router`]) and how it is built from configuration, the same on a host
//! and in AWS Lambda ([`setup`]). Everything about refs, trees and bytes is the
//! catalog's: this crate translates, and must not know about imports, jobs, queues or
//! Lambda's events.

pub mod api;
pub mod body;
pub mod checksums;
pub mod host;
pub mod keys;
pub mod multipart;
pub mod router;
pub mod s3;
pub mod setup;

pub use keys::{Keys, Sealer};
pub use router::router;
pub use s3::CatalogS3;
