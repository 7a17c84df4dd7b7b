//! Diff and merge between refs, and the merge base they start from.

use std::collections::{BTreeMap, BinaryHeap, HashMap};

use super::{Catalog, CatalogError, CommitInfo, MergeOutcome};
use crate::diff::{Change, ConflictStrategy, DiffPage, DiffSummary, diff_trees, merge_trees};

impl Catalog {
    /// Streams the changes from `left` to `right`.
    pub async fn diff(
        &self,
        repository: &str,
        left: &str,
        right: &str,
        on_change: impl FnMut(Change),
    ) -> Result<DiffSummary, CatalogError> {
        let repo = self.repository(repository).await?;
        let left = self.resolve(repository, left).await?;
        let right = self.resolve(repository, right).await?;
        let left_tree = self.tree_of(&repo, &left).await?;
        let right_tree = self.tree_of(&repo, &right).await?;
        Ok(diff_trees(&self.trees(&repo), &left_tree, &right_tree, on_change).await?)
    }

    /// A page of the changes from `left` to `right`: at most `limit` changes of paths
    /// after `after`, with the counts of the whole diff.
    pub async fn diff_page(
        &self,
        repository: &str,
        left: &str,
        right: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<DiffPage, CatalogError> {
        let mut changes: Vec<Change> = Vec::new();
        let mut next_after = None;
        let summary = self
            .diff(repository, left, right, |change| {
                if after.is_some_and(|after| change.path.as_str() <= after) {
                    return;
                }
                if changes.len() < limit {
                    changes.push(change);
                } else if next_after.is_none() {
                    next_after = changes.last().map(|c| c.path.clone());
                }
            })
            .await?;
        Ok(DiffPage {
            summary,
            changes,
            next_after,
        })
    }

    /// Merges `source` (any ref) into the branch `destination`.
    pub async fn merge(
        &self,
        repository: &str,
        source: &str,
        destination: &str,
        strategy: ConflictStrategy,
        committer: &str,
        message: Option<&str>,
    ) -> Result<MergeOutcome, CatalogError> {
        let repo = self.repository(repository).await?;
        let source_commit = self.resolve(repository, source).await?;
        let dest = self.branch(repository, destination).await?;
        if dest.imports_only {
            return Err(CatalogError::ImportBranch {
                repository: repository.to_string(),
                branch: destination.to_string(),
                action: "merging into it",
            });
        }
        let dest_head = dest.commit_id;
        // Merges never mix with half-done work (an import's automatic merge included).
        if self.has_pending_changes(repository, destination).await? {
            return Err(CatalogError::UncommittedChanges {
                repository: repository.to_string(),
                branch: destination.to_string(),
            });
        }
        let base = self
            .merge_base(repository, &source_commit.id, &dest_head)
            .await?;
        if base.as_deref() == Some(source_commit.id.as_str()) {
            return Ok(MergeOutcome::UpToDate { commit: dest_head });
        }
        if base.as_deref() == Some(dest_head.as_str()) {
            self.move_branch(repository, destination, &dest_head, &source_commit.id)
                .await?;
            return Ok(MergeOutcome::FastForward {
                commit: source_commit.id,
            });
        }
        let trees = self.trees(&repo);
        let base_tree = match &base {
            Some(id) => {
                let commit = self.commit_by_id(repository, id).await?.ok_or_else(|| {
                    CatalogError::Damaged {
                        key: format!("commit#{repository}/{id}"),
                        reason: "merge base is missing".into(),
                    }
                })?;
                self.tree_of(&repo, &commit).await?
            }
            None => trees.empty_tree().await?,
        };
        let dest_commit = self.resolve(repository, &dest_head).await?;
        let source_tree = self.tree_of(&repo, &source_commit).await?;
        let dest_tree = self.tree_of(&repo, &dest_commit).await?;
        let merged = merge_trees(&trees, &base_tree, &source_tree, &dest_tree, strategy).await?;
        if strategy == ConflictStrategy::Fail && merged.conflict_count > 0 {
            return Err(CatalogError::MergeConflicts {
                source_ref: source.to_string(),
                branch: destination.to_string(),
                count: merged.conflict_count,
                paths: merged.conflicts,
            });
        }
        let info = CommitInfo {
            message: message
                .map(str::to_string)
                .unwrap_or_else(|| format!("Merge {source} into {destination}")),
            committer: committer.to_string(),
            metadata: BTreeMap::from([(
                "merge_strategy".to_string(),
                strategy_name(strategy).to_string(),
            )]),
        };
        let commit = self
            .commit_tree(
                &repo,
                destination,
                &dest_head,
                vec![dest_head.clone(), source_commit.id.clone()],
                &merged.tree,
                info,
            )
            .await?;
        Ok(MergeOutcome::Merged {
            commit,
            conflicts_resolved: merged.conflict_count,
        })
    }

    /// The best common ancestor of two commits: both histories are walked at once,
    /// highest generation first, and the first commit reached from both is the answer
    /// (of several, the one with the highest generation, then the highest id). Only
    /// the commits between the two and that ancestor are read. Commits recorded before
    /// generations existed count as generation 0.
    pub async fn merge_base(
        &self,
        repository: &str,
        a: &str,
        b: &str,
    ) -> Result<Option<String>, CatalogError> {
        const FROM_A: u8 = 1;
        const FROM_B: u8 = 2;
        let mut flags: HashMap<String, u8> = HashMap::new();
        // Each commit read: its generation and parents.
        let mut commits: HashMap<String, (u64, Vec<String>)> = HashMap::new();
        let mut queue: BinaryHeap<(u64, String)> = BinaryHeap::new();
        for (id, flag) in [(a, FROM_A), (b, FROM_B)] {
            if let Some(commit) = self.commit_by_id(repository, id).await? {
                *flags.entry(id.to_string()).or_default() |= flag;
                queue.push((commit.generation, id.to_string()));
                commits.insert(id.to_string(), (commit.generation, commit.parents));
            }
        }
        while let Some((_, id)) = queue.pop() {
            let flag = flags.get(&id).copied().unwrap_or_default();
            if flag == FROM_A | FROM_B {
                return Ok(Some(id));
            }
            let parents = commits.get(&id).map(|c| c.1.clone()).unwrap_or_default();
            for parent in parents {
                let known = flags.get(&parent).copied().unwrap_or_default();
                if known | flag == known {
                    continue;
                }
                if !commits.contains_key(&parent) {
                    let Some(commit) = self.commit_by_id(repository, &parent).await? else {
                        continue;
                    };
                    commits.insert(parent.clone(), (commit.generation, commit.parents));
                }
                flags.insert(parent.clone(), known | flag);
                let generation = commits.get(&parent).map_or(0, |c| c.0);
                queue.push((generation, parent));
            }
        }
        Ok(None)
    }
}

fn strategy_name(strategy: ConflictStrategy) -> &'static str {
    match strategy {
        ConflictStrategy::Fail => "fail",
        ConflictStrategy::SourceWins => "source-wins",
        ConflictStrategy::DestWins => "dest-wins",
    }
}
