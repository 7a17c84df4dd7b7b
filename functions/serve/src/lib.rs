//! Serving the catalog over HTTP, on one port: the S3-compatible endpoint, the JSON API
//! and the web UI.
//!
//! The S3 endpoint: S3 clients (the AWS CLI, boto3, s5cmd, pyarrow) read any branch or
//! commit of a repository as they read a bucket, with the lakeFS convention: bucket =
//! repository, key = `<ref>/<path>`; a listing without a ref lists the branches. It
//! owns the S3 protocol's side ([`s3`], over the `s3s` crate, which parses requests,
//! checks SigV4 and writes S3's XML), path-style addressing ([`host`]), uploads'
//! checksums ([`checksums`]), objects' bytes as response bodies ([`body`]) and
//! multipart uploads ([`multipart`]); it reads and writes through the catalog alone.
//!
//! The JSON API ([`api`], under `/api/v1`, with its OpenAPI document) and the web UI
//! ([`ui`], under `/ui/`) also start and follow imports, through the import crates.
//! Both sides take the access keys the product issues ([`keys`]). The router puts them
//! on one port ([`router`]), built from configuration the same way on a host and in AWS
//! Lambda ([`setup`]). Refs, trees and bytes are the catalog's and jobs the importer's:
//! this crate translates, and knows nothing of Lambda's events.

pub mod api;
pub mod body;
pub mod checksums;
pub mod host;
pub mod keys;
pub mod multipart;
pub mod router;
pub mod s3;
pub mod setup;
pub mod ui;

pub use keys::{Keys, Sealer};
pub use router::router;
pub use s3::CatalogS3;
