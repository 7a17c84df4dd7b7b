//! Entries: the objects a tree holds, their identity, and their addresses.

use serde::{Deserialize, Serialize};

use inventory_base::location::is_bucket_name;
use inventory_base::storage_class::StorageClass;

/// One object in a tree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Entry {
    pub path: String,
    /// Where the bytes are: `s3://bucket/key`.
    pub address: String,
    pub version_id: Option<String>,
    pub size: u64,
    pub etag: String,
    /// Milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
    pub storage_class: Option<StorageClass>,
}

impl Entry {
    /// Whether two entries name the same object content (see [`ObjectIdentity`]).
    pub fn same_object(&self, other: &Entry) -> bool {
        self.identity() == other.identity()
    }

    pub fn identity(&self) -> ObjectIdentity<'_> {
        self.borrowed().identity()
    }

    pub fn borrowed(&self) -> EntryRef<'_> {
        EntryRef {
            path: &self.path,
            address: Address::Url(&self.address),
            version_id: self.version_id.as_deref(),
            size: self.size,
            etag: &self.etag,
            last_modified_ms: self.last_modified_ms,
            storage_class: self.storage_class.as_deref(),
        }
    }
}

/// An entry as a [`TreeWriter`](super::TreeWriter) takes it: borrowed, with an import's
/// address left unbuilt.
#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    pub path: &'a str,
    pub address: Address<'a>,
    pub version_id: Option<&'a str>,
    pub size: u64,
    pub etag: &'a str,
    pub last_modified_ms: i64,
    pub storage_class: Option<&'a str>,
}

impl<'a> EntryRef<'a> {
    pub fn identity(&self) -> ObjectIdentity<'a> {
        ObjectIdentity {
            address: self.address,
            version_id: self.version_id,
            size: self.size,
            etag: self.etag,
        }
    }

    pub(super) fn approximate_bytes(&self) -> u64 {
        let address = match self.address {
            Address::Url(url) => url.len(),
            Address::Imported { bucket, key } => {
                IMPORTED_SCHEME.len() + bucket.len() + 1 + key.len()
            }
        };
        (self.path.len()
            + address
            + self.etag.len()
            + self.version_id.map_or(0, str::len)
            + self.storage_class.map_or(0, str::len)
            + 16) as u64
    }
}

/// How an imported object's address begins: `s3://bucket/key`.
pub(super) const IMPORTED_SCHEME: &str = "s3://";

/// The address of the object at `key` in `bucket`, as an import makes it.
pub fn imported_address(bucket: &str, key: &str) -> String {
    let mut address = String::with_capacity(IMPORTED_SCHEME.len() + bucket.len() + 1 + key.len());
    address.push_str(IMPORTED_SCHEME);
    address.push_str(bucket);
    address.push('/');
    address.push_str(key);
    address
}

/// The bucket of `address` when it is the address an import makes for `key`
/// (`s3://bucket/key`); bucket names hold no `/`.
pub(super) fn imported_bucket<'a>(address: &'a str, key: &str) -> Option<&'a str> {
    let bucket = address
        .strip_prefix(IMPORTED_SCHEME)?
        .strip_suffix(key)?
        .strip_suffix('/')?;
    is_bucket_name(bucket).then_some(bucket)
}

/// The fields that decide whether two entries name the same object: an entry has
/// changed when its ETag, size, version id or address differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectIdentity<'a> {
    pub address: Address<'a>,
    pub version_id: Option<&'a str>,
    pub size: u64,
    pub etag: &'a str,
}

/// Where an object's bytes are: as a tree stores it, or as an import would write it
/// (without building the string).
#[derive(Debug, Clone, Copy, Eq)]
pub enum Address<'a> {
    /// `s3://bucket/key`, as stored.
    Url(&'a str),
    /// The object at `key` in `bucket`, which an import addresses as `s3://bucket/key`.
    Imported { bucket: &'a str, key: &'a str },
}

impl PartialEq for Address<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (*self, *other) {
            (Address::Url(a), Address::Url(b)) => a == b,
            (Address::Url(url), Address::Imported { bucket, key })
            | (Address::Imported { bucket, key }, Address::Url(url)) => {
                imported_bucket(url, key) == Some(bucket)
            }
            (
                Address::Imported { bucket, key },
                Address::Imported {
                    bucket: other_bucket,
                    key: other_key,
                },
            ) => bucket == other_bucket && key == other_key,
        }
    }
}
