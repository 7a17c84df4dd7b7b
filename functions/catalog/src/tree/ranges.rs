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
