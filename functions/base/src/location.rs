//! `s3://bucket/key` URLs and S3 bucket ARNs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LocationError {
    #[error("{url:?} is not an S3 URL: {reason}")]
    InvalidUrl { url: String, reason: &'static str },
    #[error("{arn:?} is not an S3 bucket ARN (expected arn:aws:s3:::<bucket>)")]
    InvalidArn { arn: String },
}

/// An object (or a prefix) in S3, written `s3://bucket/key`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct S3Url {
    pub bucket: String,
    pub key: String,
}

impl S3Url {
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    /// The object `name` next to this one (same "directory").
    pub fn sibling(&self, name: &str) -> Self {
        let dir = match self.key.rfind('/') {
            Some(slash) => &self.key[..=slash],
            None => "",
        };
        Self::new(&self.bucket, format!("{dir}{name}"))
    }

    /// This URL taken as a prefix, with `suffix` appended after a `/` separator.
    pub fn join(&self, suffix: &str) -> Self {
        let key = if self.key.is_empty() || self.key.ends_with('/') {
            format!("{}{suffix}", self.key)
        } else {
            format!("{}/{suffix}", self.key)
        };
        Self::new(&self.bucket, key)
    }
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

impl FromStr for S3Url {
    type Err = LocationError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| LocationError::InvalidUrl {
            url: url.to_string(),
            reason,
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| invalid("it must start with s3://"))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(invalid("the bucket name is empty"));
        }
        Ok(Self::new(bucket, key))
    }
}

impl TryFrom<String> for S3Url {
    type Error = LocationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<S3Url> for String {
    fn from(url: S3Url) -> Self {
        url.to_string()
    }
}

/// Whether `name` can be a bucket's: not empty, and no `/` (which ends a bucket in a
/// URL or address).
pub fn is_bucket_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('/')
}

/// The bucket name of an S3 bucket ARN such as `arn:aws:s3:::my-bucket`.
pub fn bucket_from_arn(arn: &str) -> Result<String, LocationError> {
    match arn.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            match parts.as_slice() {
                [_partition, "s3", "", "", bucket] if is_bucket_name(bucket) => {
                    Ok((*bucket).to_string())
                }
                _ => Err(LocationError::InvalidArn {
                    arn: arn.to_string(),
                }),
            }
        }
        None => Err(LocationError::InvalidArn {
            arn: arn.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_urls() {
        let url: S3Url = "s3://bucket/a/b/manifest.json".parse().unwrap();
        assert_eq!(url.bucket, "bucket");
        assert_eq!(url.key, "a/b/manifest.json");
        assert_eq!(url.to_string(), "s3://bucket/a/b/manifest.json");
        assert_eq!(
            url.sibling("manifest.checksum").to_string(),
            "s3://bucket/a/b/manifest.checksum"
        );
        let bare: S3Url = "s3://bucket".parse().unwrap();
        assert_eq!(bare.key, "");
        assert_eq!(bare.join("x/y").to_string(), "s3://bucket/x/y");
        assert_eq!(url.join("z").key, "a/b/manifest.json/z");
    }

    #[test]
    fn rejects_bad_urls() {
        assert_eq!(
            "https://x/y".parse::<S3Url>().unwrap_err().to_string(),
            "\"https://x/y\" is not an S3 URL: it must start with s3://"
        );
        assert!("s3:///key".parse::<S3Url>().is_err());
    }

    #[test]
    fn parses_bucket_arns() {
        assert_eq!(
            bucket_from_arn("arn:aws:s3:::inv-dest").unwrap(),
            "inv-dest"
        );
        assert_eq!(
            bucket_from_arn("arn:aws-cn:s3:::inv-dest").unwrap(),
            "inv-dest"
        );
        assert!(bucket_from_arn("inv-dest").is_err());
        assert!(bucket_from_arn("arn:aws:sqs:::inv-dest").is_err());
        assert!(bucket_from_arn("arn:aws:s3:::").is_err());
    }
}
