//! Key partitions of an import: the delivery's key space cut into K ranges `[lo, hi)`
//! so that K committers merge, diff and write their part of the tree at once.
//!
//! The cuts are chosen when the job is planned: preferably where the import branch's
//! tree already starts a range, so that a partition's ranges end where the tree's do
//! and the next day's diff still skips unchanged ranges; for a first import, from the
//! data files' key statistics. Workers stage each run split by partition; a partition's
//! committer reads only its own runs. This module is pure logic: it knows nothing of
//! tables, queues or files.

use std::ops::Range;

use inventory_catalog::tree::RangeInfo;

/// K partitions, given by their K - 1 cuts in increasing order: partition `p` holds the
/// keys `k` with `cuts[p - 1] <= k < cuts[p]` (no lower bound for the first, no upper
/// bound for the last). No cuts: one partition, the whole key space.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Partitions<'a> {
    cuts: &'a [String],
}

impl<'a> Partitions<'a> {
    /// The partitions of `cuts` (the job's, as planned).
    pub fn new(cuts: &'a [String]) -> Self {
        Self { cuts }
    }

    pub fn count(&self) -> usize {
        self.cuts.len() + 1
    }

    /// The partition a key belongs to.
    pub fn of(&self, key: &str) -> usize {
        self.cuts.partition_point(|cut| cut.as_str() <= key)
    }

    /// Partition `p`'s bounds: `(lo, hi)`, inclusive and exclusive; `None` is open.
    pub fn bounds(&self, p: usize) -> (Option<&'a str>, Option<&'a str>) {
        let lo = p
            .checked_sub(1)
            .and_then(|i| self.cuts.get(i))
            .map(String::as_str);
        (lo, self.cuts.get(p).map(String::as_str))
    }

    /// Partition `p`'s bounds within `outer` (an import's scope): the larger lower
    /// bound and the smaller upper one. They may cross, for a partition outside.
    pub fn bounds_within(
        &self,
        p: usize,
        outer: (Option<&'a str>, Option<&'a str>),
    ) -> (Option<&'a str>, Option<&'a str>) {
        let (lo, hi) = self.bounds(p);
        let lo = match (lo, outer.0) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let hi = match (hi, outer.1) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        (lo, hi)
    }

    /// Splits keys in increasing order into each partition's stretch: `(p, range of
    /// positions)` for the partitions that have keys, in order.
    pub fn split<T>(&self, sorted: &[T], key: impl Fn(&T) -> &str) -> Vec<(usize, Range<usize>)> {
        let mut parts = Vec::new();
        let mut start = 0;
        while start < sorted.len() {
            let Some(first) = sorted.get(start) else {
                break;
            };
            let p = self.of(key(first));
            let end = match self.cuts.get(p) {
                Some(hi) => {
                    start
                        + sorted
                            .get(start..)
                            .map_or(0, |rest| rest.partition_point(|t| key(t) < hi.as_str()))
                }
                None => sorted.len(),
            };
            parts.push((p, start..end));
            start = end;
        }
        parts
    }
}

/// How many partitions a delivery of about `objects` objects gets: one per
/// `objects_per_partition`, at least one, at most `max`.
pub fn partitions_for(objects: u64, objects_per_partition: u64, max: usize) -> usize {
    let per = objects_per_partition.max(1);
    (objects.div_ceil(per).max(1) as usize).min(max.max(1))
}

/// K - 1 cuts at range starts of a tree, so that each partition holds about as many of
/// its entries; fewer when the tree has too few ranges.
pub fn cuts_from_tree(ranges: &[RangeInfo], k: usize) -> Vec<String> {
    let total: u64 = ranges.iter().map(|r| r.entries).sum();
    let mut cuts = Vec::new();
    if k <= 1 || total == 0 {
        return cuts;
    }
    let mut before = 0u64;
    for range in ranges {
        // The next cut is due once the entries before this range reach its share.
        let due = total * (cuts.len() as u64 + 1) / k as u64;
        if before >= due && before > 0 && cuts.len() + 1 < k {
            cuts.push(range.min_path.clone());
        }
        before += range.entries;
    }
    cuts
}

/// What a data file's statistics tell of one of its row groups: its rows and the least
/// and greatest key in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpan {
    pub rows: u64,
    pub min: String,
    pub max: String,
}

/// K - 1 cuts from row groups' key spans: the spans in order of their least key, a cut
/// at the least key of the span where each partition's share of rows is reached.
/// Spans that overlap (files not in key order) make the shares uneven, never wrong:
/// any cuts give the same import.
pub fn cuts_from_spans(spans: &[KeySpan], k: usize) -> Vec<String> {
    let mut sorted: Vec<&KeySpan> = spans.iter().collect();
    sorted.sort_by(|a, b| a.min.cmp(&b.min));
    let total: u64 = sorted.iter().map(|s| s.rows).sum();
    let mut cuts: Vec<String> = Vec::new();
    if k <= 1 || total == 0 {
        return cuts;
    }
    let least = sorted
        .first()
        .map(|span| span.min.clone())
        .unwrap_or_default();
    let mut before = 0u64;
    for span in sorted {
        let due = total * (cuts.len() as u64 + 1) / k as u64;
        // A cut above the least key and the cut before: no partition is left empty.
        if before >= due
            && cuts.len() + 1 < k
            && span.min > least
            && cuts.last().is_none_or(|last| *last < span.min)
        {
            cuts.push(span.min.clone());
        }
        before += span.rows;
    }
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cuts(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn keys_fall_in_the_partition_their_bounds_give() {
        let cuts = cuts(&["g", "p"]);
        let parts = Partitions::new(&cuts);
        assert_eq!(parts.count(), 3);
        assert_eq!(
            ["a", "f~", "g", "o", "p", "z"].map(|k| parts.of(k)),
            [0, 0, 1, 1, 2, 2]
        );
        assert_eq!(parts.bounds(0), (None, Some("g")));
        assert_eq!(parts.bounds(1), (Some("g"), Some("p")));
        assert_eq!(parts.bounds(2), (Some("p"), None));
        assert_eq!(Partitions::new(&[]).bounds(0), (None, None));
    }

    #[test]
    fn a_sorted_run_splits_into_stretches() {
        let cuts = cuts(&["c", "e"]);
        let parts = Partitions::new(&cuts);
        let keys = ["a", "b", "c", "f", "g"];
        assert_eq!(
            parts.split(&keys, |k| k),
            vec![(0, 0..2), (1, 2..3), (2, 3..5)]
        );
        let keys = ["f", "g"];
        assert_eq!(parts.split(&keys, |k| k), vec![(2, 0..2)]);
        let none: [&str; 0] = [];
        assert!(parts.split(&none, |k| k).is_empty());
    }

    fn range(min: &str, entries: u64) -> RangeInfo {
        RangeInfo {
            id: min.into(),
            min_path: min.into(),
            max_path: format!("{min}~"),
            entries,
            bytes: 0,
        }
    }

    #[test]
    fn tree_cuts_fall_on_range_starts_with_even_shares() {
        let ranges: Vec<RangeInfo> = ["a", "b", "c", "d", "e", "f", "g", "h"]
            .iter()
            .map(|m| range(m, 10))
            .collect();
        assert_eq!(cuts_from_tree(&ranges, 2), cuts(&["e"]));
        assert_eq!(cuts_from_tree(&ranges, 4), cuts(&["c", "e", "g"]));
        assert_eq!(cuts_from_tree(&ranges, 1), cuts(&[]));
        // More partitions than ranges: one cut per range start at most.
        assert_eq!(cuts_from_tree(&ranges[..2], 4), cuts(&["b"]));
        assert_eq!(cuts_from_tree(&[], 4), cuts(&[]));
    }

    #[test]
    fn span_cuts_share_rows_and_never_repeat() {
        let span = |min: &str, max: &str, rows| KeySpan {
            rows,
            min: min.into(),
            max: max.into(),
        };
        let spans = [
            span("m", "r", 100),
            span("a", "f", 100),
            span("g", "l", 100),
            span("s", "z", 100),
        ];
        assert_eq!(cuts_from_spans(&spans, 2), cuts(&["m"]));
        assert_eq!(cuts_from_spans(&spans, 4), cuts(&["g", "m", "s"]));
        // Overlapping spans starting at one key give one cut.
        let same = [span("a", "z", 10), span("a", "z", 10), span("a", "z", 10)];
        assert_eq!(cuts_from_spans(&same, 3), cuts(&[]));
    }

    #[test]
    fn partition_counts_follow_the_delivery() {
        assert_eq!(partitions_for(0, 1000, 64), 1);
        assert_eq!(partitions_for(1000, 1000, 64), 1);
        assert_eq!(partitions_for(1001, 1000, 64), 2);
        assert_eq!(partitions_for(1_000_000_000, 25_000_000, 64), 40);
        assert_eq!(partitions_for(10_000_000_000, 25_000_000, 64), 64);
    }
}
