//! Ranges as a metarange lists them, how they are cut, and a loaded metarange.

use serde::{Deserialize, Serialize};

/// A range as its metarange lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeInfo {
    pub id: String,
    pub min_path: String,
    pub max_path: String,
    pub entries: u64,
    pub bytes: u64,
}

/// Paths `[lo, hi)`: from `lo` (included) to `hi` (excluded); `None` leaves a side open.
pub type PathBounds<'a> = (Option<&'a str>, Option<&'a str>);

/// Whether `path` lies within `bounds`.
pub fn path_within(path: &str, (lo, hi): PathBounds<'_>) -> bool {
    lo.is_none_or(|lo| path >= lo) && hi.is_none_or(|hi| path < hi)
}

impl RangeInfo {
    /// Whether the range's paths reach into `bounds` (by its first and last path).
    pub fn overlaps(&self, (lo, hi): PathBounds<'_>) -> bool {
        lo.is_none_or(|lo| self.max_path.as_str() >= lo)
            && hi.is_none_or(|hi| self.min_path.as_str() < hi)
    }
}

/// How ranges are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeParams {
    /// No range closes by hash before it holds this many entries.
    pub min_entries: usize,
    /// A range closes after a path whose hash is a multiple of this.
    pub split_modulus: u64,
    /// A range always closes at this many entries (bounds memory and file size).
    pub max_entries: usize,
}

impl Default for RangeParams {
    fn default() -> Self {
        Self {
            min_entries: 2_000,
            split_modulus: 20_000,
            max_entries: 100_000,
        }
    }
}

/// A tree's metarange, loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub id: String,
    pub ranges: Vec<RangeInfo>,
}

impl Tree {
    pub fn entries(&self) -> u64 {
        self.ranges.iter().map(|r| r.entries).sum()
    }
}
