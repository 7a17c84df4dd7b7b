//! Addressing: path-style (`http://host:port/<repository>/<ref>/<path>`) for every host,
//! so that `localhost:8000` or an IP address is never taken for a bucket name.

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

/// Takes every `Host` header as the endpoint's own domain: the bucket comes from the
/// path.
#[derive(Debug, Clone, Copy, Default)]
pub struct PathStyle;

impl S3Host for PathStyle {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        Ok(VirtualHost::new(host))
    }
}
