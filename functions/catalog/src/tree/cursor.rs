//! Reading a tree in path order, a range at a time, with the next ranges loading
//! on other threads.

use std::collections::VecDeque;
use std::sync::Arc;

use super::codec::IdentityBatch;
use super::entry::{Entry, ObjectIdentity};
use super::error::TreeError;
use super::ranges::{RangeInfo, Tree};
use super::store::TreeStore;

/// A range being loaded on another thread.
type RangeLoad = tokio::task::JoinHandle<Result<Arc<Vec<Entry>>, TreeError>>;

/// The entries of the range a cursor stands in, from where it stands: its own (moved
/// out one by one), or shared with a cache (cloned one by one).
#[derive(Default)]
enum Buffer {
    #[default]
    Empty,
    Owned(VecDeque<Entry>),
    Shared {
        entries: Arc<Vec<Entry>>,
        next: usize,
    },
}

impl Buffer {
    fn new(entries: Arc<Vec<Entry>>) -> Buffer {
        match Arc::try_unwrap(entries) {
            Ok(entries) => Buffer::Owned(entries.into()),
            Err(entries) => Buffer::Shared { entries, next: 0 },
        }
    }

    fn front(&self) -> Option<&Entry> {
        match self {
            Buffer::Empty => None,
            Buffer::Owned(entries) => entries.front(),
            Buffer::Shared { entries, next } => entries.get(*next),
        }
    }

    fn is_empty(&self) -> bool {
        self.front().is_none()
    }

    fn pop_front(&mut self) -> Option<Entry> {
        match self {
            Buffer::Empty => None,
            Buffer::Owned(entries) => entries.pop_front(),
            Buffer::Shared { entries, next } => {
                let entry = entries.get(*next).cloned();
                *next += 1;
                entry
            }
        }
    }

    /// Drops the entries whose path is `< path`.
    fn skip_below(&mut self, path: &str) {
        match self {
            Buffer::Empty => {}
            Buffer::Owned(entries) => {
                while entries.front().is_some_and(|e| e.path.as_str() < path) {
                    entries.pop_front();
                }
            }
            Buffer::Shared { entries, next } => {
                let rest = entries.get(*next..).unwrap_or_default();
                *next += rest.partition_point(|e| e.path.as_str() < path);
            }
        }
    }
}

/// Ranges a cursor loads ahead of the one it stands in: decoding a range takes
/// longer than walking it, so one thread alone would keep a diff waiting.
const RANGES_AHEAD: usize = 2;

impl TreeStore {
    /// A cursor over a tree's entries in path order.
    pub fn cursor<'a>(&'a self, tree: &'a Tree) -> Cursor<'a> {
        Cursor {
            trees: self,
            ranges: &tree.ranges,
            next_range: 0,
            buffered: Buffer::Empty,
            prefetched: VecDeque::new(),
            ahead: RANGES_AHEAD,
            loaded: 0,
        }
    }

    /// A cursor that loads at most one range ahead of the one it reads: for walks
    /// that skip ranges (merges), where loading further ahead reads ranges never
    /// needed, while decoding the next range still overlaps walking this one.
    pub fn cursor_on_demand<'a>(&'a self, tree: &'a Tree) -> Cursor<'a> {
        let mut cursor = self.cursor(tree);
        cursor.ahead = 1;
        cursor
    }

    /// A cursor over a tree's paths and identities in path order.
    pub fn identity_cursor<'a>(&'a self, tree: &'a Tree) -> IdentityCursor<'a> {
        IdentityCursor {
            trees: self,
            ranges: &tree.ranges,
            next_range: 0,
            batches: VecDeque::new(),
            row: 0,
            prefetched: VecDeque::new(),
            ahead: RANGES_AHEAD,
            loaded: 0,
        }
    }

    /// An identity cursor that loads at most one range ahead of the one it reads (see
    /// [`cursor_on_demand`](Self::cursor_on_demand)).
    pub fn identity_cursor_on_demand<'a>(&'a self, tree: &'a Tree) -> IdentityCursor<'a> {
        let mut cursor = self.identity_cursor(tree);
        cursor.ahead = 1;
        cursor
    }
}

/// Reads a tree's entries in order, one range at a time; can skip whole ranges.
pub struct Cursor<'a> {
    trees: &'a TreeStore,
    ranges: &'a [RangeInfo],
    next_range: usize,
    buffered: Buffer,
    /// The ranges from `next_range` on, being loaded on other threads, in order.
    prefetched: VecDeque<(usize, RangeLoad)>,
    /// Ranges loaded ahead.
    ahead: usize,
    /// Ranges whose loading started.
    loaded: u64,
}

impl Cursor<'_> {
    /// Ranges whose loading started (read, or loading ahead).
    pub fn ranges_loaded(&self) -> u64 {
        self.loaded
    }

    /// Moves past every entry whose path is `<= max`: whole ranges that end there or
    /// before are skipped without being read.
    pub async fn skip_through(&mut self, max: &str) -> Result<(), TreeError> {
        loop {
            if let Some(range) = self.at_range_start() {
                if range.min_path.as_str() > max {
                    return Ok(());
                }
                if range.max_path.as_str() <= max {
                    self.skip_range();
                    continue;
                }
            }
            match self.peek().await? {
                Some(entry) if entry.path.as_str() <= max => {
                    self.buffered.pop_front();
                }
                _ => return Ok(()),
            }
        }
    }

    /// The next range, when the cursor stands at its start.
    pub fn at_range_start(&self) -> Option<&RangeInfo> {
        if self.buffered.is_empty() {
            self.ranges.get(self.next_range)
        } else {
            None
        }
    }

    /// Skips the range the cursor stands at the start of.
    pub fn skip_range(&mut self) {
        if self.buffered.is_empty() && self.next_range < self.ranges.len() {
            self.next_range += 1;
        }
    }

    /// Moves to the first entry whose path is `>= path`.
    pub async fn seek(&mut self, path: &str) -> Result<(), TreeError> {
        self.buffered.skip_below(path);
        if !self.buffered.is_empty() {
            return Ok(());
        }
        while let Some(range) = self.ranges.get(self.next_range) {
            if range.max_path.as_str() >= path {
                break;
            }
            self.next_range += 1;
        }
        if self.fill().await? {
            self.buffered.skip_below(path);
        }
        Ok(())
    }

    /// The next entry without consuming it.
    pub async fn peek(&mut self) -> Result<Option<&Entry>, TreeError> {
        self.fill().await?;
        Ok(self.buffered.front())
    }

    pub async fn next_entry(&mut self) -> Result<Option<Entry>, TreeError> {
        self.fill().await?;
        Ok(self.buffered.pop_front())
    }

    /// Loads the next range when nothing is buffered; false at the end. The ranges
    /// after it are loaded on other threads meanwhile.
    async fn fill(&mut self) -> Result<bool, TreeError> {
        while self.buffered.is_empty() {
            let Some(range) = self.ranges.get(self.next_range) else {
                return Ok(false);
            };
            // Loads of ranges skipped over (`seek`, `skip_range`) are not needed.
            while let Some((index, _)) = self.prefetched.front()
                && *index < self.next_range
            {
                if let Some((_, handle)) = self.prefetched.pop_front() {
                    handle.abort();
                }
            }
            let entries = match self.prefetched.pop_front() {
                Some((index, handle)) if index == self.next_range => {
                    handle.await.map_err(|err| TreeError::Damaged {
                        file: self.trees.range_url(&range.id),
                        reason: format!("reading was interrupted: {err}"),
                    })??
                }
                other => {
                    if let Some((index, handle)) = other {
                        self.prefetched.push_front((index, handle));
                    }
                    self.loaded += 1;
                    self.trees.range(&range.id).await?
                }
            };
            self.next_range += 1;
            self.buffered = Buffer::new(entries);
            let mut next = self
                .prefetched
                .back()
                .map_or(self.next_range, |(index, _)| index + 1);
            while self.prefetched.len() < self.ahead
                && let Some(range) = self.ranges.get(next)
            {
                self.loaded += 1;
                let (trees, id) = (self.trees.clone(), range.id.clone());
                let handle = tokio::spawn(async move { trees.range(&id).await });
                self.prefetched.push_back((next, handle));
                next += 1;
            }
        }
        Ok(true)
    }
}

impl Drop for Cursor<'_> {
    fn drop(&mut self) {
        for (_, handle) in self.prefetched.drain(..) {
            handle.abort();
        }
    }
}

/// Reads a tree's paths and [`ObjectIdentity`]s in order, without making entries: what
/// an import's diff needs of the tree it replaces. Ranges load ahead on other threads.
pub struct IdentityCursor<'a> {
    trees: &'a TreeStore,
    ranges: &'a [RangeInfo],
    /// The next range to load.
    next_range: usize,
    batches: VecDeque<IdentityBatch>,
    /// The row the cursor stands at in the first batch.
    row: usize,
    /// The ranges from `next_range` on, being loaded, in order.
    prefetched: VecDeque<tokio::task::JoinHandle<Result<Vec<IdentityBatch>, TreeError>>>,
    /// Ranges loaded ahead of the one being read.
    ahead: usize,
    /// Ranges whose loading started.
    loaded: u64,
}

impl IdentityCursor<'_> {
    /// Ranges whose loading started (read, or loading ahead).
    pub fn ranges_loaded(&self) -> u64 {
        self.loaded
    }

    /// The next range, when the cursor stands at its start.
    pub fn at_range_start(&self) -> Option<&RangeInfo> {
        if self.batches.is_empty() {
            self.ranges.get(self.next_range)
        } else {
            None
        }
    }

    /// Skips the range the cursor stands at the start of.
    pub fn skip_range(&mut self) {
        if self.batches.is_empty() && self.next_range < self.ranges.len() {
            if let Some(load) = self.prefetched.pop_front() {
                load.abort();
            }
            self.next_range += 1;
        }
    }

    /// Moves past every entry whose path is `<= max`: whole ranges that end there or
    /// before are skipped without being read.
    pub async fn skip_through(&mut self, max: &str) -> Result<(), TreeError> {
        self.skip_below(max, true).await
    }

    /// Moves past every entry whose path is `< min`: whole ranges that end before it
    /// are skipped without being read.
    pub async fn skip_before(&mut self, min: &str) -> Result<(), TreeError> {
        self.skip_below(min, false).await
    }

    /// Moves past every entry whose path is below `bound` (or equal to it, `through`),
    /// skipping whole ranges that lie below it without reading them.
    async fn skip_below(&mut self, bound: &str, through: bool) -> Result<(), TreeError> {
        let below = |path: &str| path < bound || (through && path == bound);
        loop {
            if let Some(range) = self.at_range_start() {
                if !below(&range.min_path) {
                    return Ok(());
                }
                if below(&range.max_path) {
                    self.skip_range();
                    continue;
                }
            }
            match self.peek().await? {
                Some((path, _)) if below(path) => self.advance(),
                _ => return Ok(()),
            }
        }
    }

    /// The path and identity of the entry the cursor stands at; `None` at the end.
    pub async fn peek(&mut self) -> Result<Option<(&str, ObjectIdentity<'_>)>, TreeError> {
        self.fill().await?;
        Ok(self
            .batches
            .front()
            .map(|batch| (batch.path(self.row), batch.identity(self.row))))
    }

    /// Moves past the entry the cursor stands at (after [`peek`](Self::peek)).
    pub fn advance(&mut self) {
        if let Some(batch) = self.batches.front() {
            self.row += 1;
            if self.row >= batch.len() {
                self.batches.pop_front();
                self.row = 0;
            }
        }
    }

    /// Loads ranges until a row is buffered; false at the end.
    async fn fill(&mut self) -> Result<bool, TreeError> {
        while self.batches.is_empty() {
            while self.prefetched.len() < self.ahead + 1
                && let Some(range) = self.ranges.get(self.next_range + self.prefetched.len())
            {
                self.loaded += 1;
                let (trees, id) = (self.trees.clone(), range.id.clone());
                self.prefetched.push_back(tokio::spawn(async move {
                    trees.range_file(&id).await?.identities()
                }));
            }
            let Some(load) = self.prefetched.pop_front() else {
                return Ok(false);
            };
            let batches = load.await.map_err(|err| TreeError::Damaged {
                file: self.trees.range_url(&self.ranges[self.next_range].id),
                reason: format!("reading was interrupted: {err}"),
            })??;
            self.next_range += 1;
            self.batches = batches.into_iter().filter(|b| !b.is_empty()).collect();
            self.row = 0;
        }
        Ok(true)
    }
}

impl Drop for IdentityCursor<'_> {
    fn drop(&mut self) {
        for handle in self.prefetched.drain(..) {
            handle.abort();
        }
    }
}
