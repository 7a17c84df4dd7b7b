//! The rows to import and the rules that choose them: the latest version of a key that
//! is not a delete marker, the newer of two rows of one key, and the rows skipped, by
//! reason.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use inventory_base::storage_class::{StorageClass, storage_class};

/// One object to import: the latest, non-deleted version of a key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InventoryEntry {
    pub key: String,
    /// `None` for an unversioned bucket and for the "null version" of objects written
    /// before versioning was enabled.
    pub version_id: Option<String>,
    pub size: u64,
    pub etag: String,
    /// Milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
    pub storage_class: Option<StorageClass>,
}

impl InventoryEntry {
    /// What decides which of two rows of one key is the newer: see [`Recency`].
    pub fn recency(&self) -> Recency<'_> {
        (
            self.last_modified_ms,
            self.version_id.as_deref(),
            self.etag.as_str(),
        )
    }
}

/// Of two rows of one key, the newer has the greater last-modified time, then the
/// greater version id and ETag, so that the choice never depends on the order of rows.
pub type Recency<'a> = (i64, Option<&'a str>, &'a str);

/// A row to import, borrowed from the decoded batch: what [`InventoryEntry`] owns.
#[derive(Debug)]
pub struct InventoryRow<'a> {
    pub key: &'a str,
    pub version_id: Option<Cow<'a, str>>,
    pub size: u64,
    pub etag: Cow<'a, str>,
    pub last_modified_ms: i64,
    pub storage_class: Option<Cow<'a, str>>,
}

impl InventoryRow<'_> {
    pub fn into_entry(self) -> InventoryEntry {
        InventoryEntry {
            key: self.key.to_string(),
            version_id: self.version_id.map(Cow::into_owned),
            size: self.size,
            etag: self.etag.into_owned(),
            last_modified_ms: self.last_modified_ms,
            storage_class: self.storage_class.as_deref().map(storage_class),
        }
    }
}

/// Rows that are not imported, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkipCounts {
    /// A noncurrent version of a key (`is_latest` false).
    pub noncurrent_version: u64,
    /// The latest version of a key is a delete marker: the key does not exist.
    pub delete_marker: u64,
    /// A latest version without size, ETag or last-modified time.
    pub incomplete_row: u64,
    /// A key outside the prefix the import takes (a source's `--prefix`; counted by
    /// the importer, never by the reader).
    #[serde(default)]
    pub outside_prefix: u64,
}

impl SkipCounts {
    pub fn total(&self) -> u64 {
        self.noncurrent_version + self.delete_marker + self.incomplete_row + self.outside_prefix
    }

    pub fn add(&mut self, other: &SkipCounts) {
        self.noncurrent_version += other.noncurrent_version;
        self.delete_marker += other.delete_marker;
        self.incomplete_row += other.incomplete_row;
        self.outside_prefix += other.outside_prefix;
    }
}

/// The entries of one decoded row batch, with the rows it skipped.
#[derive(Debug, Default)]
pub struct EntryBatch {
    pub rows: u64,
    pub entries: Vec<InventoryEntry>,
    pub skipped: SkipCounts,
}
