//! Diff and merge between refs, and the merge base they start from.

use std::collections::{BTreeMap, HashSet, VecDeque};

use super::{Catalog, CatalogError, CommitInfo, MergeOutcome};
use crate::diff::{Change, ConflictStrategy, DiffSummary, diff_trees, merge_trees};

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
        let dest_head = self.branch(repository, destination).await?.commit_id;
        if destination == super::IMPORT_BRANCH {
            return Err(CatalogError::ImportBranch {
                repository: repository.to_string(),
                action: "merging into it",
            });
        }
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

    /// The nearest common ancestor of two commits (breadth-first over all parents).
    pub async fn merge_base(
        &self,
        repository: &str,
        a: &str,
        b: &str,
    ) -> Result<Option<String>, CatalogError> {
        let mut ancestors_of_b = HashSet::new();
        let mut queue = VecDeque::from([b.to_string()]);
        while let Some(id) = queue.pop_front() {
            if !ancestors_of_b.insert(id.clone()) {
                continue;
            }
            if let Some(commit) = self.commit_by_id(repository, &id).await? {
                queue.extend(commit.parents);
            }
        }
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([a.to_string()]);
        while let Some(id) = queue.pop_front() {
            if ancestors_of_b.contains(&id) {
                return Ok(Some(id));
            }
            if !seen.insert(id.clone()) {
                continue;
            }
            if let Some(commit) = self.commit_by_id(repository, &id).await? {
                queue.extend(commit.parents);
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
