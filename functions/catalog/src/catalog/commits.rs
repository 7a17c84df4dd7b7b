//! Commits: reading and recording them, committing a tree to a branch, history, and
//! how a commit's id is derived from its content.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use sha2::{Digest, Sha256};

use super::{
    Catalog, CatalogError, Commit, CommitInfo, CommitOutcome, Repository, commit_from_item,
};
use crate::tree::{Entry, Tree};

impl Catalog {
    pub async fn commit_by_id(
        &self,
        repository: &str,
        id: &str,
    ) -> Result<Option<Commit>, CatalogError> {
        if let Some(commit) = self.memo.as_ref().and_then(|m| m.commit(repository, id)) {
            return Ok(Some(commit));
        }
        match self.get_item(&format!("commit#{repository}"), id).await? {
            Some(item) => {
                let commit = commit_from_item(&item)?;
                if let Some(memo) = &self.memo {
                    memo.insert_commit(repository, &commit);
                }
                Ok(Some(commit))
            }
            None => Ok(None),
        }
    }

    pub(super) async fn put_commit(
        &self,
        repository: &str,
        commit: &Commit,
    ) -> Result<(), CatalogError> {
        let metadata: HashMap<String, AttributeValue> = commit
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), AttributeValue::S(v.clone())))
            .collect();
        let parents = commit
            .parents
            .iter()
            .map(|p| AttributeValue::S(p.clone()))
            .collect();
        // Content-addressed: an existing item with this id holds the same commit.
        self.dynamo
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(format!("commit#{repository}")))
            .item("sk", AttributeValue::S(commit.id.clone()))
            .item("parents", AttributeValue::L(parents))
            .item("message", AttributeValue::S(commit.message.clone()))
            .item("committer", AttributeValue::S(commit.committer.clone()))
            .item("created_at", AttributeValue::S(commit.created_at.clone()))
            .item("metadata", AttributeValue::M(metadata))
            .item(
                "metarange_id",
                AttributeValue::S(commit.metarange_id.clone()),
            )
            .item(
                "generation",
                AttributeValue::N(commit.generation.to_string()),
            )
            .send()
            .await
            .map_err(|e| self.dynamo_error(e))?;
        Ok(())
    }

    /// Loads the tree of a commit, shared with the read cache when there is one.
    pub async fn shared_tree_of(
        &self,
        repository: &Repository,
        commit: &Commit,
    ) -> Result<std::sync::Arc<Tree>, CatalogError> {
        Ok(self
            .trees(repository)
            .shared_tree(&commit.metarange_id)
            .await?)
    }

    /// Loads the tree of a commit.
    pub async fn tree_of(
        &self,
        repository: &Repository,
        commit: &Commit,
    ) -> Result<Tree, CatalogError> {
        Ok(self.trees(repository).tree(&commit.metarange_id).await?)
    }

    /// Commits `entries` (strictly increasing paths, streamed) as the whole new tree
    /// of `branch`. Fails with [`CatalogError::Conflict`] when the branch moved meanwhile.
    pub async fn commit_entries<I>(
        &self,
        repository: &str,
        branch: &str,
        entries: I,
        info: CommitInfo,
    ) -> Result<CommitOutcome, CatalogError>
    where
        I: IntoIterator<Item = Entry>,
    {
        let repo = self.repository(repository).await?;
        let head = self.branch(repository, branch).await?.commit_id;
        let trees = self.trees(&repo);
        let mut writer = trees.writer();
        for entry in entries {
            writer.add(entry).await?;
        }
        let (tree, stats) = writer.finish().await?;
        let commit = self
            .commit_tree(&repo, branch, &head, vec![head.clone()], &tree, info)
            .await?;
        Ok(CommitOutcome { commit, stats })
    }

    /// Records a commit of `tree` with `parents` and moves `branch` to it from `expected`.
    pub async fn commit_tree(
        &self,
        repository: &Repository,
        branch: &str,
        expected: &str,
        parents: Vec<String>,
        tree: &Tree,
        info: CommitInfo,
    ) -> Result<Commit, CatalogError> {
        let generation = self.next_generation(&repository.name, &parents).await?;
        let commit = new_commit(parents, info, &tree.id, generation);
        self.put_commit(&repository.name, &commit).await?;
        self.move_branch(&repository.name, branch, expected, &commit.id)
            .await?;
        Ok(commit)
    }

    /// The generation of a commit with these parents.
    pub(super) async fn next_generation(
        &self,
        repository: &str,
        parents: &[String],
    ) -> Result<u64, CatalogError> {
        let mut highest = 0;
        for parent in parents {
            if let Some(commit) = self.commit_by_id(repository, parent).await? {
                highest = highest.max(commit.generation);
            }
        }
        Ok(highest + 1)
    }

    /// First-parent history from `reference`, newest first.
    pub async fn log(
        &self,
        repository: &str,
        reference: &str,
        limit: usize,
    ) -> Result<Vec<Commit>, CatalogError> {
        let mut commit = Some(self.resolve(repository, reference).await?);
        let mut history = Vec::new();
        while let Some(current) = commit {
            if history.len() >= limit {
                break;
            }
            commit = match current.parents.first() {
                Some(parent) => self.commit_by_id(repository, parent).await?,
                None => None,
            };
            history.push(current);
        }
        Ok(history)
    }
}

/// Builds a commit and derives its id from its content.
pub(super) fn new_commit(
    parents: Vec<String>,
    info: CommitInfo,
    metarange_id: &str,
    generation: u64,
) -> Commit {
    let created_at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut commit = Commit {
        id: String::new(),
        parents,
        message: info.message,
        committer: info.committer,
        created_at,
        metadata: info.metadata,
        metarange_id: metarange_id.to_string(),
        generation,
    };
    commit.id = commit_id(&commit);
    commit
}

/// SHA-256 over the commit's fields (metadata in key order), each length-prefixed.
fn commit_id(commit: &Commit) -> String {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(b"commit/v1");
    field(&(commit.parents.len() as u64).to_le_bytes());
    for parent in &commit.parents {
        field(parent.as_bytes());
    }
    field(commit.message.as_bytes());
    field(commit.committer.as_bytes());
    field(commit.created_at.as_bytes());
    field(&(commit.metadata.len() as u64).to_le_bytes());
    for (key, value) in &commit.metadata {
        field(key.as_bytes());
        field(value.as_bytes());
    }
    field(commit.metarange_id.as_bytes());
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn commit_ids_depend_on_every_field() {
        let commit = new_commit(
            vec!["p".into()],
            CommitInfo {
                message: "m".into(),
                committer: "c".into(),
                metadata: BTreeMap::new(),
            },
            "t",
            1,
        );
        assert_eq!(commit.id, commit_id(&commit));
        let mut other = commit.clone();
        other.metadata.insert("k".into(), "v".into());
        assert_ne!(commit_id(&other), commit.id);
        let mut other = commit.clone();
        other.metarange_id = "u".into();
        assert_ne!(commit_id(&other), commit.id);
    }
}
