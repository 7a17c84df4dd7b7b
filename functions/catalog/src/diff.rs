//! Differences between trees, and three-way merges, streamed range by range.
//!
//! A diff walks both trees together and skips, without reading them, the ranges
//! both trees share (same id at the same position). A merge walks the base, source and
//! destination trees together, range by range where it can: a range two of the three
//! share is taken (or skipped) without being read, and only the spans where the sides
//! differ are merged entry by entry.

use serde::Serialize;

use crate::tree::{Cursor, Entry, Tree, TreeError, TreeStore, TreeWriter, WriteStats};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

impl ChangeKind {
    /// The kind as its serialized name: `added`, `removed` or `changed`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Changed => "changed",
        }
    }
}

/// One difference between a left and a right tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub kind: ChangeKind,
    pub path: String,
    pub left: Option<Entry>,
    pub right: Option<Entry>,
}

/// A page of a diff: up to a page's worth of changes, the whole diff's counts, and
/// where the next page starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiffPage {
    pub summary: DiffSummary,
    pub changes: Vec<Change>,
    /// The last path of this page, when more changes follow.
    pub next_after: Option<String>,
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
    /// Ranges of the three trees read (the others were taken or skipped whole).
    pub ranges_read: u64,
    /// Paths changed differently on both sides (resolved by the strategy, or, with
    /// `Fail`, the reason nothing was merged: then `tree` is meaningless).
    pub conflicts: Vec<String>,
    pub conflict_count: u64,
}

/// How many conflicting paths a merge reports by name.
pub const CONFLICTS_REPORTED: usize = 100;

/// Three-way merge of `source` into `dest` from their merge base `base`. Per path: a
/// side that did not change it since the base takes the other's; both changing it
/// differently is a conflict, which `strategy` resolves (or, with `Fail`, reports:
/// then nothing is written and `tree` is `dest`).
pub async fn merge_trees(
    trees: &TreeStore,
    base: &Tree,
    source: &Tree,
    dest: &Tree,
    strategy: ConflictStrategy,
) -> Result<MergedTree, TreeError> {
    // The base is only compared with, never written: its identities are enough.
    let mut b = trees.identity_cursor_on_demand(base);
    let mut s = trees.cursor_on_demand(source);
    let mut d = trees.cursor_on_demand(dest);
    let mut writer = trees.writer();
    let mut conflicts = Vec::new();
    let mut conflict_count = 0u64;
    loop {
        // A range the source shares with the base: the source changed nothing there,
        // so the destination's entries through its end are the result; and the other
        // way round. A range source and destination share is the result itself.
        let (rb, rs, rd) = (
            b.at_range_start().cloned(),
            s.at_range_start().cloned(),
            d.at_range_start().cloned(),
        );
        if let (Some(x), Some(y)) = (&rs, &rb)
            && x.id == y.id
        {
            s.skip_range();
            b.skip_range();
            copy_through(&mut d, &mut writer, &x.max_path).await?;
            continue;
        }
        if let (Some(x), Some(y)) = (&rd, &rb)
            && x.id == y.id
        {
            d.skip_range();
            b.skip_range();
            copy_through(&mut s, &mut writer, &x.max_path).await?;
            continue;
        }
        if let (Some(x), Some(y)) = (&rs, &rd)
            && x.id == y.id
        {
            b.skip_through(&x.max_path).await?;
            d.skip_range();
            if writer.at_range_boundary() {
                s.skip_range();
                writer.add_range(x.clone()).await?;
            } else {
                copy_through(&mut s, &mut writer, &x.max_path).await?;
            }
            continue;
        }
        // Which sides hold the smallest next path (compared in place, not copied).
        let (at_base, at_source, at_dest) = {
            let pb = b.peek().await?.map(|(path, _)| path);
            let (ps, pd) = (s.peek().await?, d.peek().await?);
            let Some(path) = [pb, ps.map(|e| e.path.as_str()), pd.map(|e| e.path.as_str())]
                .into_iter()
                .flatten()
                .min()
            else {
                break;
            };
            let at = |entry: Option<&Entry>| entry.is_some_and(|e| e.path == path);
            (pb == Some(path), at(ps), at(pd))
        };
        let source_entry = if at_source {
            s.next_entry().await?
        } else {
            None
        };
        let dest_entry = if at_dest { d.next_entry().await? } else { None };
        // Whether each side holds what the base holds at the path.
        let (source_as_base, dest_as_base) = match b.peek().await? {
            Some((_, identity)) if at_base => (
                source_entry
                    .as_ref()
                    .is_some_and(|e| e.identity() == identity),
                dest_entry
                    .as_ref()
                    .is_some_and(|e| e.identity() == identity),
            ),
            _ => (source_entry.is_none(), dest_entry.is_none()),
        };
        if at_base {
            b.advance();
        }
        let source_as_dest = match (&source_entry, &dest_entry) {
            (None, None) => true,
            (Some(x), Some(y)) => x.same_object(y),
            _ => false,
        };
        let result = if source_as_base {
            dest_entry
        } else if dest_as_base || source_as_dest {
            source_entry
        } else {
            conflict_count += 1;
            if conflicts.len() < CONFLICTS_REPORTED
                && let Some(entry) = source_entry.as_ref().or(dest_entry.as_ref())
            {
                conflicts.push(entry.path.clone());
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
    let ranges_read = b.ranges_loaded() + s.ranges_loaded() + d.ranges_loaded();
    if conflict_count > 0 && strategy == ConflictStrategy::Fail {
        return Ok(MergedTree {
            tree: dest.clone(),
            stats: WriteStats::default(),
            ranges_read,
            conflicts,
            conflict_count,
        });
    }
    let (tree, stats) = writer.finish().await?;
    Ok(MergedTree {
        tree,
        stats,
        ranges_read,
        conflicts,
        conflict_count,
    })
}

/// Writes the cursor's entries through `max`: whole ranges, unread, where the writer
/// stands at a range boundary.
async fn copy_through(
    cursor: &mut Cursor<'_>,
    writer: &mut TreeWriter<'_>,
    max: &str,
) -> Result<(), TreeError> {
    loop {
        if let Some(range) = cursor.at_range_start() {
            // Nothing through `max` in it: not read at all.
            if range.min_path.as_str() > max {
                return Ok(());
            }
            if range.max_path.as_str() <= max && writer.at_range_boundary() {
                let range = range.clone();
                cursor.skip_range();
                writer.add_range(range).await?;
                continue;
            }
        }
        match cursor.peek().await? {
            Some(entry) if entry.path.as_str() <= max => {
                if let Some(entry) = cursor.next_entry().await? {
                    writer.add(entry).await?;
                }
            }
            _ => return Ok(()),
        }
    }
}
