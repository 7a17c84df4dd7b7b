//! Which part of a bucket an import takes, where in the repository it lands and on
//! which branch it commits: a source's `--prefix`, `--path` and `--branch`, copied into
//! each of its jobs so that a job keeps the scope it started with.
//!
//! Entries are staged with the repository path before their key, so that the merge,
//! the partition cuts and the diff all work on repository paths; the object's address
//! in the source bucket is the staged key without that path.

use serde::{Deserialize, Serialize};

use inventory_catalog::catalog::{CatalogError, IMPORT_BRANCH, validate_name, validate_path};
use inventory_delivery::reader::{InventoryEntry, SkipCounts};

/// A source's part of the bucket and its place in the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportScope {
    /// Only keys that start with it are imported; empty: every key.
    #[serde(default)]
    pub prefix: String,
    /// The repository path the keys land under (`raw/` + key); empty or ending in `/`.
    #[serde(default)]
    pub path: String,
    /// The import branch the imports commit on.
    #[serde(default = "import_branch")]
    pub branch: String,
}

fn import_branch() -> String {
    IMPORT_BRANCH.to_string()
}

impl Default for ImportScope {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            path: String::new(),
            branch: import_branch(),
        }
    }
}

impl ImportScope {
    /// A scope as a user gives it: `path` gains a final `/`; each part is checked.
    pub fn new(
        prefix: Option<&str>,
        path: Option<&str>,
        branch: Option<&str>,
    ) -> Result<Self, CatalogError> {
        let path = match path.map(|p| p.trim_start_matches('/')) {
            None | Some("") => String::new(),
            Some(p) if p.ends_with('/') => p.to_string(),
            Some(p) => format!("{p}/"),
        };
        if !path.is_empty() {
            // A path is checked as the first entry under it would be.
            validate_path(&format!("{path}x"))?;
        }
        let branch = branch.unwrap_or(IMPORT_BRANCH).to_string();
        validate_name("branch", &branch)?;
        Ok(Self {
            prefix: prefix.unwrap_or_default().to_string(),
            path,
            branch,
        })
    }

    /// Keeps the entries whose key is under the prefix, counting the others in
    /// `skipped.outside_prefix`, and puts the repository path before each key.
    pub fn apply(&self, entries: &mut Vec<InventoryEntry>, skipped: &mut SkipCounts) {
        if !self.prefix.is_empty() {
            let before = entries.len();
            entries.retain(|e| e.key.starts_with(&self.prefix));
            skipped.outside_prefix += (before - entries.len()) as u64;
        }
        if !self.path.is_empty() {
            for entry in entries.iter_mut() {
                entry.key.insert_str(0, &self.path);
            }
        }
    }

    /// The repository paths the scope covers, `[lo, hi)` (`None`: open): those that
    /// start with the path and the prefix. An import diffs and rewrites only these;
    /// the rest of the branch's tree is kept as it is.
    pub fn bounds(&self) -> (Option<String>, Option<String>) {
        let start = format!("{}{}", self.path, self.prefix);
        if start.is_empty() {
            return (None, None);
        }
        let end = after_all_starting_with(&start);
        (Some(start), end)
    }

    /// Where the objects of this scope's staged entries are, in `bucket`.
    pub fn origin<'a>(&'a self, bucket: &'a str) -> Origin<'a> {
        Origin {
            bucket,
            path: &self.path,
        }
    }

    /// A repository path for a key of the source bucket (a partition cut taken from the
    /// data files' key statistics).
    pub fn repository_path(&self, key: &str) -> String {
        format!("{}{key}", self.path)
    }
}

/// The least string greater than every string that starts with `start` (`None`: no
/// such string): its last character that can be, incremented, with what follows dropped.
fn after_all_starting_with(start: &str) -> Option<String> {
    let mut chars: Vec<char> = start.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Where the object of a staged entry is: in `bucket`, at the entry's path without
/// the scope's repository `path`.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub bucket: &'a str,
    pub path: &'a str,
}

impl<'a> Origin<'a> {
    /// Objects at their own keys in `bucket` (no repository path).
    pub fn bucket(bucket: &'a str) -> Self {
        Self { bucket, path: "" }
    }

    /// The key in the bucket of the entry staged at `path`.
    #[inline]
    pub fn key<'p>(&self, path: &'p str) -> &'p str {
        // Most sources have no path: no comparison for them (the committer and the
        // dry run ask this of every entry).
        if self.path.is_empty() {
            return path;
        }
        path.strip_prefix(self.path).unwrap_or(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str) -> InventoryEntry {
        InventoryEntry {
            key: key.to_string(),
            version_id: None,
            size: 1,
            etag: "e".into(),
            last_modified_ms: 0,
            storage_class: None,
        }
    }

    #[test]
    fn keys_outside_the_prefix_are_counted_and_the_rest_land_under_the_path() {
        let scope = ImportScope::new(Some("logs/"), Some("raw"), None).unwrap();
        let mut entries = vec![
            entry("logs/a"),
            entry("logsx"),
            entry("img/b"),
            entry("logs/c d"),
        ];
        let mut skipped = SkipCounts::default();
        scope.apply(&mut entries, &mut skipped);
        let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["raw/logs/a", "raw/logs/c d"]);
        assert_eq!(skipped.outside_prefix, 2);
        assert_eq!(skipped.total(), 2);
        assert_eq!(scope.origin("b").key("raw/logs/a"), "logs/a");
        assert_eq!(scope.branch, IMPORT_BRANCH);
    }

    #[test]
    fn the_bounds_hold_exactly_the_paths_under_the_path_and_prefix() {
        let scope = ImportScope::new(Some("logs/"), Some("raw"), None).unwrap();
        let (lo, hi) = scope.bounds();
        let (lo, hi) = (lo.unwrap(), hi.unwrap());
        assert_eq!((lo.as_str(), hi.as_str()), ("raw/logs/", "raw/logs0"));
        for inside in ["raw/logs/", "raw/logs/a", "raw/logs/\u{10FFFF}"] {
            assert!(lo.as_str() <= inside && inside < hi.as_str(), "{inside}");
        }
        for outside in ["raw/logs", "raw/logs0", "raw/logs.", "raw/m", "a"] {
            assert!(
                !(lo.as_str() <= outside && outside < hi.as_str()),
                "{outside}"
            );
        }
        assert_eq!(ImportScope::default().bounds(), (None, None));
        assert_eq!(
            after_all_starting_with("a\u{D7FF}"),
            Some("a\u{E000}".into())
        );
        assert_eq!(after_all_starting_with("b\u{10FFFF}"), Some("c".into()));
        assert_eq!(after_all_starting_with("\u{10FFFF}"), None);
    }

    #[test]
    fn a_scope_is_checked_as_given() {
        let scope = ImportScope::new(None, Some("/data/"), Some("import-b")).unwrap();
        assert_eq!(scope.path, "data/");
        assert_eq!(scope.branch, "import-b");
        assert!(ImportScope::new(None, Some(&"p".repeat(1100)), None).is_err());
        assert!(ImportScope::new(None, None, Some("no spaces")).is_err());
        let whole = ImportScope::default();
        let mut entries = vec![entry("k")];
        whole.apply(&mut entries, &mut SkipCounts::default());
        assert_eq!(entries[0].key, "k");
        assert_eq!(whole.origin("b").key("k"), "k");
    }
}
