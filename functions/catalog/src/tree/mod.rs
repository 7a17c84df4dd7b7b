//! Trees: the committed contents of a commit, stored in the repository's storage
//! namespace as immutable, content-addressed files.
//!
//! A tree is a *metarange*: an ordered list of *ranges*, each a Parquet file of
//! entries sorted by path. Range boundaries are chosen by a hash of the path (within
//! size bounds), so a span of keys that did not change between two commits produces
//! the same range, with the same id, and is neither written again nor read by a diff.
//!
//! Layout under the storage namespace:
//! `_catalog/ranges/<id>.parquet` (columns `path`, `address`, `version_id`, `size`,
//! `etag`, `last_modified`, `storage_class`, `address_bucket`) and
//! `_catalog/metaranges/<id>.parquet` (columns `range_id`, `min_path`, `max_path`,
//! `entries`, `bytes`).
//!
//! An imported object's address is its own key in its bucket, `s3://bucket/path`: a
//! range stores only the bucket (`address_bucket`, a dictionary of a few values) and
//! leaves `address` null, so that the path is neither written nor read twice. Ranges
//! written before `address_bucket` existed hold every address whole and read the same.

mod apply;
mod cache;
mod codec;
mod cursor;
mod entry;
mod error;
mod ranges;
mod store;
mod writer;

pub use apply::{ApplyStats, PathChange};
pub use cache::TreeCache;
pub use codec::{IdentityBatch, RangeFile, metarange_id};
pub use cursor::{Cursor, IdentityCursor};
pub use entry::{Address, Entry, EntryRef, ObjectIdentity, imported_address};
pub use error::TreeError;
pub use ranges::{PathBounds, RangeInfo, RangeParams, Tree, path_within};
pub use store::TreeStore;
pub use writer::{TreeWriter, WriteStats};

#[cfg(test)]
mod tests;
