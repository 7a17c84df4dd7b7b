//! Decoded metaranges and ranges kept in memory, shared by every reader of a process
//! and bounded by bytes. Their files are immutable and named by the hash of what they
//! hold, so a cached one never goes stale: the least recently used make room.

use std::sync::Arc;

use quick_cache::Weighter;
use quick_cache::sync::Cache;

use super::entry::Entry;
use super::ranges::Tree;

/// A cached file, decoded.
#[derive(Clone)]
pub(super) enum Cached {
    Tree(Arc<Tree>),
    Range(Arc<Vec<Entry>>),
}

/// What a cached file costs in memory, estimated from its strings.
#[derive(Clone, Copy)]
struct Size;

/// Bytes an entry or a range's record takes beside its strings' bytes: the struct, and
/// the allocator's share of each of its (up to five) strings.
const OVERHEAD: u64 = std::mem::size_of::<Entry>() as u64 + 5 * 16;

impl Weighter<String, Cached> for Size {
    fn weight(&self, key: &String, value: &Cached) -> u64 {
        let strings = match value {
            Cached::Tree(tree) => tree
                .ranges
                .iter()
                .map(|r| (r.id.len() + r.min_path.len() + r.max_path.len()) as u64 + OVERHEAD)
                .sum::<u64>(),
            Cached::Range(entries) => entries
                .iter()
                .map(|e| {
                    (e.path.len()
                        + e.address.len()
                        + e.etag.len()
                        + e.version_id.as_ref().map_or(0, String::len)
                        + e.storage_class.as_ref().map_or(0, |c| c.len()))
                        as u64
                        + OVERHEAD
                })
                .sum::<u64>(),
        };
        (key.len() as u64 + strings).max(1)
    }
}

/// Decoded metaranges and ranges, at most `bytes` of them (estimated).
#[derive(Clone)]
pub struct TreeCache {
    files: Arc<Cache<String, Cached, Size>>,
}

impl std::fmt::Debug for TreeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeCache")
            .field("files", &self.files.len())
            .field("bytes", &self.files.weight())
            .field("capacity", &self.files.capacity())
            .finish()
    }
}

impl TreeCache {
    /// A cache of at most `bytes` (estimated) of decoded files.
    pub fn new(bytes: u64) -> TreeCache {
        // quick_cache wants an estimate of the number of items: ranges of ~20,000
        // entries of ~200 bytes.
        let items = usize::try_from(bytes / (4 << 20))
            .unwrap_or(usize::MAX)
            .max(16);
        TreeCache {
            files: Arc::new(Cache::with_weighter(items, bytes, Size)),
        }
    }

    /// Bytes held (estimated).
    pub fn bytes(&self) -> u64 {
        self.files.weight()
    }

    pub(super) fn tree(&self, id: &str) -> Option<Arc<Tree>> {
        match self.files.get(&tree_key(id)) {
            Some(Cached::Tree(tree)) => Some(tree),
            _ => None,
        }
    }

    pub(super) fn insert_tree(&self, tree: Arc<Tree>) {
        self.files.insert(tree_key(&tree.id), Cached::Tree(tree));
    }

    pub(super) fn range(&self, id: &str) -> Option<Arc<Vec<Entry>>> {
        match self.files.get(&range_key(id)) {
            Some(Cached::Range(entries)) => Some(entries),
            _ => None,
        }
    }

    pub(super) fn insert_range(&self, id: &str, entries: Arc<Vec<Entry>>) {
        self.files.insert(range_key(id), Cached::Range(entries));
    }
}

fn tree_key(id: &str) -> String {
    format!("m/{id}")
}

fn range_key(id: &str) -> String {
    format!("r/{id}")
}
