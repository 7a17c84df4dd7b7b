//! What a long-running reader (the S3 endpoint) keeps between requests, so that a warm
//! read of a ref costs one DynamoDB read (the branch item) and no file: commits (their
//! ids name their content, so they never change), decoded metaranges and ranges
//! (likewise), and repositories for a few seconds (a deleted repository stays visible
//! that long).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use quick_cache::sync::Cache;

use super::{Commit, Repository};
use crate::tree::TreeCache;

/// How long a repository's record is taken as read.
pub const REPOSITORY_SECONDS: u64 = 5;

/// Commits kept (a few hundred bytes each).
const COMMITS: usize = 100_000;

pub(super) struct Memo {
    pub(super) trees: TreeCache,
    commits: Cache<(String, String), Commit>,
    repositories: Mutex<HashMap<String, (Repository, Instant)>>,
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo")
            .field("trees", &self.trees)
            .field("commits", &self.commits.len())
            .finish_non_exhaustive()
    }
}

impl Memo {
    pub(super) fn new(tree_bytes: u64) -> Memo {
        Memo {
            trees: TreeCache::new(tree_bytes),
            commits: Cache::new(COMMITS),
            repositories: Mutex::default(),
        }
    }

    pub(super) fn commit(&self, repository: &str, id: &str) -> Option<Commit> {
        self.commits.get(&(repository.to_string(), id.to_string()))
    }

    pub(super) fn insert_commit(&self, repository: &str, commit: &Commit) {
        self.commits
            .insert((repository.to_string(), commit.id.clone()), commit.clone());
    }

    pub(super) fn repository(&self, name: &str) -> Option<Repository> {
        let fresh = Duration::from_secs(REPOSITORY_SECONDS);
        let repositories = self.repositories.lock().ok()?;
        repositories
            .get(name)
            .filter(|(_, at)| at.elapsed() < fresh)
            .map(|(repository, _)| repository.clone())
    }

    pub(super) fn insert_repository(&self, repository: &Repository) {
        if let Ok(mut repositories) = self.repositories.lock() {
            repositories.insert(
                repository.name.clone(),
                (repository.clone(), Instant::now()),
            );
        }
    }
}
