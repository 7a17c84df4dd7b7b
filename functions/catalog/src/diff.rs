//! Differences between trees, and three-way merges, streamed range by range.
//!
//! A diff walks both trees together and skips, without reading them, the ranges
//! both trees share (same id at the same position). Merges walk the base, source and
//! destination trees entry by entry and write the result as a new tree.

use serde::Serialize;

use crate::tree::{Entry, Tree, TreeError, TreeStore, WriteStats};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// One difference between a left and a right tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub kind: ChangeKind,
    pub path: String,
    pub left: Option<Entry>,
    pub right: Option<Entry>,
}

/// Counts of a diff.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DiffSummary {
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    /// Ranges skipped because both trees share them.
    pub ranges_skipped: u64,
}

/// Streams the changes from `left` to `right` to `on_change`, in path order.
pub async fn diff_trees(
    trees: &TreeStore,
    left: &Tree,
    right: &Tree,
    mut on_change: impl FnMut(Change),
) -> Result<DiffSummary, TreeError> {
    let mut summary = DiffSummary::default();
    let mut l = trees.cursor(left);
    let mut r = trees.cursor(right);
    loop {
        if let (Some(a), Some(b)) = (l.at_range_start(), r.at_range_start())
            && a.id == b.id
        {
            l.skip_range();
            r.skip_range();
            summary.ranges_skipped += 1;
            continue;
        }
        let order = match (l.peek().await?, r.peek().await?) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(a), Some(b)) => a.path.cmp(&b.path),
        };
        let change = match order {
            std::cmp::Ordering::Less => l.next_entry().await?.map(|e| Change {
                kind: ChangeKind::Removed,
                path: e.path.clone(),
                left: Some(e),
                right: None,
            }),
            std::cmp::Ordering::Greater => r.next_entry().await?.map(|e| Change {
                kind: ChangeKind::Added,
                path: e.path.clone(),
                left: None,
                right: Some(e),
            }),
            std::cmp::Ordering::Equal => {
                let (a, b) = (l.next_entry().await?, r.next_entry().await?);
                match (a, b) {
                    (Some(a), Some(b)) if !a.same_object(&b) => Some(Change {
                        kind: ChangeKind::Changed,
                        path: a.path.clone(),
                        left: Some(a),
                        right: Some(b),
                    }),
                    _ => None,
                }
            }
        };
        if let Some(change) = change {
            match change.kind {
                ChangeKind::Added => summary.added += 1,
                ChangeKind::Removed => summary.removed += 1,
                ChangeKind::Changed => summary.changed += 1,
            }
            on_change(change);
        }
    }
    Ok(summary)
}

/// What to do when both sides of a merge changed a path differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictStrategy {
    /// Report the conflicting paths and merge nothing.
    #[default]
    Fail,
    SourceWins,
    DestWins,
}

/// The outcome of merging trees.
#[derive(Debug, Clone)]
pub struct MergedTree {
    pub tree: Tree,
    pub stats: WriteStats,
    /// Paths changed differently on both sides (resolved by the strategy, or, with
    /// `Fail`, the reason nothing was merged: then `tree` is meaningless).
    pub conflicts: Vec<String>,
    pub conflict_count: u64,
}

/// How many conflicting paths a merge reports by name.
pub const CONFLICTS_REPORTED: usize = 100;

/// Three-way merge of `source` into `dest` from their merge base `base`.
pub async fn merge_trees(
    trees: &TreeStore,
    base: &Tree,
    source: &Tree,
    dest: &Tree,
    strategy: ConflictStrategy,
) -> Result<MergedTree, TreeError> {
    let mut b = trees.cursor(base);
    let mut s = trees.cursor(source);
    let mut d = trees.cursor(dest);
    let mut writer = trees.writer();
    let mut conflicts = Vec::new();
    let mut conflict_count = 0u64;
    loop {
        let next = [b.peek().await?, s.peek().await?, d.peek().await?]
            .into_iter()
            .flatten()
            .map(|e| e.path.clone())
            .min();
        let Some(path) = next else { break };
        let take = |cursor_entry: Option<&Entry>| cursor_entry.is_some_and(|e| e.path == path);
        let base_entry = if take(b.peek().await?) {
            b.next_entry().await?
        } else {
            None
        };
        let source_entry = if take(s.peek().await?) {
            s.next_entry().await?
        } else {
            None
        };
        let dest_entry = if take(d.peek().await?) {
            d.next_entry().await?
        } else {
            None
        };
        let same = |x: &Option<Entry>, y: &Option<Entry>| match (x, y) {
            (None, None) => true,
            (Some(x), Some(y)) => x.same_object(y),
            _ => false,
        };
        let result = if same(&source_entry, &base_entry) {
            dest_entry
        } else if same(&dest_entry, &base_entry) || same(&source_entry, &dest_entry) {
            source_entry
        } else {
            conflict_count += 1;
            if conflicts.len() < CONFLICTS_REPORTED {
                conflicts.push(path.clone());
            }
            match strategy {
                ConflictStrategy::Fail => None,
                ConflictStrategy::SourceWins => source_entry,
                ConflictStrategy::DestWins => dest_entry,
            }
        };
        if conflict_count > 0 && strategy == ConflictStrategy::Fail {
            // Keep scanning to report every conflict, but write nothing more.
            continue;
        }
        if let Some(entry) = result {
            writer.add(entry).await?;
        }
    }
    if conflict_count > 0 && strategy == ConflictStrategy::Fail {
        return Ok(MergedTree {
            tree: dest.clone(),
            stats: WriteStats::default(),
            conflicts,
            conflict_count,
        });
    }
    let (tree, stats) = writer.finish().await?;
    Ok(MergedTree {
        tree,
        stats,
        conflicts,
        conflict_count,
    })
}
