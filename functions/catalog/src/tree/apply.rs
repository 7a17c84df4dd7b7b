//! Applying changes to a tree: the ranges no change touches are taken as they are,
//! neither read nor written; the others are read, merged with their changes and
//! written again.

use serde::Serialize;

use super::entry::Entry;
use super::error::TreeError;
use super::ranges::Tree;
use super::store::TreeStore;
use super::writer::WriteStats;

/// A change to one path: its new entry, or `None` to remove it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathChange {
    pub path: String,
    pub entry: Option<Entry>,
}

/// What applying changes did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ApplyStats {
    pub write: WriteStats,
    /// Ranges of the base tree read (the others were taken whole).
    pub ranges_read: u64,
    /// Ranges of the base tree.
    pub ranges_in_base: u64,
}

impl TreeStore {
    /// Writes `base` with `changes` applied. `changes` must be sorted by path, one per
    /// path. A range of `base` that no change falls in is taken whole when the new tree
    /// is at a range boundary there (the writer cuts ranges where `base` was cut, so it
    /// is again after the range a change touched, or soon after).
    pub async fn apply(
        &self,
        base: &Tree,
        changes: &[PathChange],
    ) -> Result<(Tree, ApplyStats), TreeError> {
        let mut writer = self.writer();
        let mut stats = ApplyStats {
            ranges_in_base: base.ranges.len() as u64,
            ..ApplyStats::default()
        };
        let mut next = 0;
        let last = base.ranges.len().saturating_sub(1);
        for (index, range) in base.ranges.iter().enumerate() {
            // Changes that fall between the previous range and this one.
            while let Some(change) = changes.get(next)
                && change.path < range.min_path
            {
                if let Some(entry) = &change.entry {
                    writer.add(entry.clone()).await?;
                }
                next += 1;
            }
            // The last range ended where the entries did, not at a cut: entries added
            // after it join it, as they would in a tree written from scratch.
            let touched = changes
                .get(next)
                .is_some_and(|change| change.path <= range.max_path || index == last);
            if !touched && writer.at_range_boundary() {
                writer.add_range(range.clone()).await?;
                continue;
            }
            stats.ranges_read += 1;
            for entry in std::sync::Arc::unwrap_or_clone(self.range(&range.id).await?) {
                while let Some(change) = changes.get(next)
                    && change.path < entry.path
                {
                    if let Some(entry) = &change.entry {
                        writer.add(entry.clone()).await?;
                    }
                    next += 1;
                }
                match changes.get(next) {
                    Some(change) if change.path == entry.path => {
                        if let Some(entry) = &change.entry {
                            writer.add(entry.clone()).await?;
                        }
                        next += 1;
                    }
                    _ => writer.add(entry).await?,
                }
            }
        }
        for change in &changes[next.min(changes.len())..] {
            if let Some(entry) = &change.entry {
                writer.add(entry.clone()).await?;
            }
        }
        let (tree, write) = writer.finish().await?;
        stats.write = write;
        Ok((tree, stats))
    }
}
