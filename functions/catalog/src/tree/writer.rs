//! Writing a tree: ranges cut by a hash of the path, hashed, encoded and stored on
//! other threads while entries keep coming.

use std::collections::VecDeque;

use arrow_array::Array;
use serde::Serialize;

use inventory_base::storage::StorageError;

use super::codec::metarange_id;
use super::codec::{RangeArrays, RangeColumns, encode_metarange};
use super::entry::{Entry, EntryRef};
use super::error::TreeError;
use super::ranges::{RangeInfo, Tree};
use super::store::TreeStore;

/// What writing a tree did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WriteStats {
    pub entries: u64,
    pub ranges_written: u64,
    /// Ranges that already existed and were not written again.
    pub ranges_reused: u64,
}

/// Ranges being hashed, encoded and stored while the writer takes more entries. With
/// two, the writer often waited while a core sat idle: a million entries took 1.04-1.22 s
/// where four take 0.87-1.01 s (eight were no faster).
const RANGES_IN_FLIGHT: usize = 4;

/// Builds a tree from entries in strictly increasing path order. Closed ranges are
/// hashed, encoded and stored on other threads while entries keep coming, so at most
/// [`RANGES_IN_FLIGHT`] ranges and the one being filled are held in memory.
pub struct TreeWriter<'a> {
    trees: &'a TreeStore,
    current: RangeColumns,
    ranges: Vec<RangeInfo>,
    pending: VecDeque<tokio::task::JoinHandle<Result<(RangeInfo, bool), TreeError>>>,
    /// The last path of the ranges already closed.
    previous: Option<String>,
    stats: WriteStats,
    path_hasher: PathHasher,
}

impl TreeStore {
    /// A writer for a new tree; a range that already exists is not written again.
    pub fn writer(&self) -> TreeWriter<'_> {
        TreeWriter {
            trees: self,
            current: RangeColumns::with_capacity(0, 0),
            ranges: Vec::new(),
            pending: VecDeque::new(),
            previous: None,
            path_hasher: PathHasher::default(),
            stats: WriteStats::default(),
        }
    }

    /// Writes the empty tree.
    pub async fn empty_tree(&self) -> Result<Tree, TreeError> {
        let (tree, _) = self.writer().finish().await?;
        Ok(tree)
    }
}

impl TreeWriter<'_> {
    pub async fn add(&mut self, entry: Entry) -> Result<(), TreeError> {
        self.add_ref(entry.borrowed()).await
    }

    /// Adds an entry without taking it: its fields are copied straight into the
    /// columns of the range being filled.
    pub async fn add_ref(&mut self, entry: EntryRef<'_>) -> Result<(), TreeError> {
        let previous = self
            .current
            .last_path()
            .or(self.previous.as_deref().map(str::as_bytes));
        if let Some(previous) = previous
            && entry.path.as_bytes() <= previous
        {
            return Err(TreeError::OutOfOrder {
                previous: String::from_utf8_lossy(previous).into_owned(),
                path: entry.path.to_string(),
            });
        }
        let params = self.trees.params;
        let split_here = self
            .path_hasher
            .hash(entry.path)
            .is_multiple_of(params.split_modulus.max(1));
        self.current.push(&entry)?;
        self.stats.entries += 1;
        if (split_here && self.current.len() >= params.min_entries)
            || self.current.len() >= params.max_entries
        {
            self.close_range().await?;
        }
        Ok(())
    }

    /// Whether the next entry would start a new range: an existing range can be taken
    /// whole here with [`add_range`](Self::add_range).
    pub fn at_range_boundary(&self) -> bool {
        self.current.len() == 0
    }

    /// Takes an existing range of the same storage namespace as it is, neither read nor
    /// written again. The writer must be at a range boundary, and the range's paths
    /// must all come after the entries added so far.
    pub async fn add_range(&mut self, range: RangeInfo) -> Result<(), TreeError> {
        if !self.at_range_boundary() {
            return Err(TreeError::NotAtRangeBoundary {
                range: range.id.clone(),
            });
        }
        if let Some(previous) = &self.previous
            && range.min_path.as_str() <= previous.as_str()
        {
            return Err(TreeError::OutOfOrder {
                previous: previous.clone(),
                path: range.min_path.clone(),
            });
        }
        self.previous = Some(range.max_path.clone());
        self.stats.entries += range.entries;
        self.pending
            .push_back(tokio::spawn(async move { Ok((range, false)) }));
        while self.pending.len() > RANGES_IN_FLIGHT {
            self.collect_oldest().await?;
        }
        Ok(())
    }

    /// Hands the range being filled to a background task that hashes, encodes and
    /// stores it (unless it exists); waits for the oldest when too many are in flight.
    async fn close_range(&mut self) -> Result<(), TreeError> {
        if self.current.len() == 0 {
            return Ok(());
        }
        // The next range is likely to be about as long: room for it up front saves
        // growing (and copying) the columns again and again.
        let room = RangeColumns::with_room_of(&self.current);
        let full = std::mem::replace(&mut self.current, room);
        self.previous = full
            .last_path()
            .map(|path| String::from_utf8_lossy(path).into_owned());
        let bytes = full.bytes;
        let columns = full.finish();
        let trees = self.trees.clone();
        self.pending.push_back(tokio::spawn(async move {
            store_range(&trees, columns, bytes).await
        }));
        while self.pending.len() > RANGES_IN_FLIGHT {
            self.collect_oldest().await?;
        }
        Ok(())
    }

    async fn collect_oldest(&mut self) -> Result<(), TreeError> {
        let Some(handle) = self.pending.pop_front() else {
            return Ok(());
        };
        let (info, written) = handle.await.map_err(|err| TreeError::Damaged {
            file: self.trees.namespace.clone(),
            reason: format!("writing a range was interrupted: {err}"),
        })??;
        if written {
            self.stats.ranges_written += 1;
        } else {
            self.stats.ranges_reused += 1;
        }
        self.ranges.push(info);
        Ok(())
    }

    /// Closes the last range, waits for every range, and writes the metarange
    /// (unless it exists).
    pub async fn finish(self) -> Result<(Tree, WriteStats), TreeError> {
        let trees = self.trees;
        let (ranges, stats) = self.finish_ranges().await?;
        Ok((trees.write_metarange(ranges).await?, stats))
    }

    /// Closes the last range and waits for every range: the ranges in order, for a
    /// metarange written later (a partition's part of a tree).
    pub async fn finish_ranges(mut self) -> Result<(Vec<RangeInfo>, WriteStats), TreeError> {
        self.close_range().await?;
        while !self.pending.is_empty() {
            self.collect_oldest().await?;
        }
        Ok((self.ranges, self.stats))
    }
}

impl TreeStore {
    /// Writes the metarange of `ranges` (unless it exists): the tree they make, in
    /// order. Parts of a tree written apart are joined this way.
    pub async fn write_metarange(&self, ranges: Vec<RangeInfo>) -> Result<Tree, TreeError> {
        if let Some(pair) = ranges
            .windows(2)
            .find(|pair| pair[0].max_path >= pair[1].min_path)
        {
            return Err(TreeError::OutOfOrder {
                previous: pair[0].max_path.clone(),
                path: pair[1].min_path.clone(),
            });
        }
        let id = metarange_id(&ranges);
        let url = self.metarange_url(&id);
        if let Err(StorageError::NotFound { .. }) = self.store.size(&url).await {
            let bytes = encode_metarange(&ranges).map_err(|reason| TreeError::Damaged {
                file: url.clone(),
                reason,
            })?;
            self.store.put(&url, bytes).await?;
        }
        Ok(Tree { id, ranges })
    }
}

/// Hashes a range, and encodes and stores it unless a range with its id exists;
/// returns its descriptor and whether it was written.
async fn store_range(
    trees: &TreeStore,
    columns: RangeArrays,
    bytes: u64,
) -> Result<(RangeInfo, bool), TreeError> {
    let interrupted = |err: tokio::task::JoinError| TreeError::Damaged {
        file: trees.namespace.clone(),
        reason: format!("writing a range was interrupted: {err}"),
    };
    let count = columns.path.len();
    let path = |row: usize| columns.path.value(row).to_string();
    let (min_path, max_path) = match count {
        0 => Default::default(),
        _ => (path(0), path(count - 1)),
    };
    let count = count as u64;
    let (columns, id) = tokio::task::spawn_blocking(move || {
        let id = columns.id();
        (columns, id)
    })
    .await
    .map_err(interrupted)?;
    let url = trees.range_url(&id);
    let written = match trees.store.size(&url).await {
        Ok(_) => false,
        Err(StorageError::NotFound { .. }) => {
            let encoded = tokio::task::spawn_blocking(move || columns.encode())
                .await
                .map_err(interrupted)?
                .map_err(|reason| TreeError::Damaged {
                    file: url.clone(),
                    reason,
                })?;
            trees.store.put(&url, encoded).await?;
            true
        }
        Err(err) => return Err(err.into()),
    };
    let info = RangeInfo {
        id,
        min_path,
        max_path,
        entries: count,
        bytes,
    };
    Ok((info, written))
}

/// FNV-1a: a small hash that stays the same across releases and platforms, which
/// range boundaries depend on.
#[cfg(test)]
pub(super) fn path_hash(path: &str) -> u64 {
    path.bytes().fold(FNV_OFFSET, fnv_step)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv_step(hash: u64, byte: u8) -> u64 {
    (hash ^ byte as u64).wrapping_mul(0x0000_0100_0000_01b3)
}

/// [`path_hash`] of paths that come in order: a path's hash carries on from the
/// prefix it shares with the path before, which in a sorted bucket is most of it.
pub(super) struct PathHasher {
    path: Vec<u8>,
    /// The hash of each prefix of `path`: `states[i]` covers `path[..i]`.
    states: Vec<u64>,
}

impl Default for PathHasher {
    fn default() -> Self {
        Self {
            path: Vec::new(),
            states: vec![FNV_OFFSET],
        }
    }
}

impl PathHasher {
    pub(super) fn hash(&mut self, path: &str) -> u64 {
        let bytes = path.as_bytes();
        let shared = self
            .path
            .iter()
            .zip(bytes)
            .take_while(|(a, b)| a == b)
            .count();
        self.path.truncate(shared);
        self.states.truncate(shared + 1);
        let mut hash = self.states[shared];
        for &byte in &bytes[shared..] {
            hash = fnv_step(hash, byte);
            self.states.push(hash);
        }
        self.path.extend_from_slice(&bytes[shared..]);
        hash
    }
}
