//! The versioned catalog: repositories, branches and commits in DynamoDB; trees in
//! each repository's storage namespace (see [`crate::tree`]).
//!
//! One table holds everything (`pk`, `sk` strings):
//! - repository: `pk = "repo"`, `sk = <name>`
//! - branch: `pk = "branch#<repo>"`, `sk = <branch>`, attribute `commit_id`
//! - commit: `pk = "commit#<repo>"`, `sk = <commit id>`
//!
//! A branch moves only by a conditional write on the commit id it is expected to
//! hold, so of two concurrent commits exactly one wins.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::diff::{Change, ConflictStrategy, DiffSummary, diff_trees, merge_trees};
use crate::tree::{Entry, RangeParams, Tree, TreeError, TreeStore, WriteStats};
use inventory_base::dynamo::is_condition_failed;
use inventory_base::location::S3Url;
use inventory_base::storage::ObjectStore;

pub const DEFAULT_TABLE: &str = "inventory-import-catalog";
pub const DEFAULT_BRANCH: &str = "main";

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("invalid {kind} name {name:?}: {reason}")]
    InvalidName {
        kind: &'static str,
        name: String,
        reason: &'static str,
    },
    #[error("repository {0} already exists")]
    RepositoryExists(String),
    #[error("repository {0} does not exist")]
    RepositoryNotFound(String),
    #[error("branch {branch} already exists in repository {repository}")]
    BranchExists { repository: String, branch: String },
    #[error("branch {branch} does not exist in repository {repository}")]
    BranchNotFound { repository: String, branch: String },
    #[error("ref {reference:?} matches no branch or commit in repository {repository}")]
    RefNotFound {
        repository: String,
        reference: String,
    },
    #[error(
        "ref {reference:?} is ambiguous in repository {repository}: it is the prefix of several commit ids"
    )]
    AmbiguousRef {
        repository: String,
        reference: String,
    },
    #[error("ref {reference:?}: commit {commit} has fewer than {steps} first-parent ancestors")]
    NoSuchAncestor {
        reference: String,
        commit: String,
        steps: usize,
    },
    #[error(
        "branch {branch} is the default branch of repository {repository} and cannot be deleted"
    )]
    DefaultBranch { repository: String, branch: String },
    #[error(
        "branch {branch} moved while committing: expected commit {expected}, found {found}; nothing was changed, try again"
    )]
    Conflict {
        branch: String,
        expected: String,
        found: String,
    },
    #[error("merge of {source_ref} into {branch} has {count} conflicting path(s): {}", .paths.join(", "))]
    MergeConflicts {
        source_ref: String,
        branch: String,
        count: u64,
        paths: Vec<String>,
    },
    #[error("{path:?} does not exist at {reference} in repository {repository}")]
    PathNotFound {
        repository: String,
        reference: String,
        path: String,
    },
    #[error("object {path:?} no longer exists in the source: {address}{} is gone", version_suffix(.version_id))]
    SourceMissing {
        path: String,
        address: String,
        version_id: Option<String>,
    },
    #[error(
        "object {path:?} changed in the source after it was imported: {address} now has ETag {found}, the catalog recorded {recorded}"
    )]
    ChangedInSource {
        path: String,
        address: String,
        recorded: String,
        found: String,
    },
    #[error(transparent)]
    Storage(#[from] inventory_base::storage::StorageError),
    #[error("invalid storage namespace {0:?}: it must be s3://bucket[/prefix]")]
    InvalidNamespace(String),
    #[error("catalog table {table}: {message}")]
    Dynamo { table: String, message: String },
    #[error("catalog item {key} is damaged: {reason}")]
    Damaged { key: String, reason: String },
    #[error(transparent)]
    Tree(#[from] TreeError),
}

impl From<inventory_base::dynamo::DynamoError> for CatalogError {
    fn from(err: inventory_base::dynamo::DynamoError) -> Self {
        CatalogError::Dynamo {
            table: err.table,
            message: err.message,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    pub name: String,
    pub storage_namespace: S3Url,
    pub default_branch: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Branch {
    pub name: String,
    pub commit_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub id: String,
    pub parents: Vec<String>,
    pub message: String,
    pub committer: String,
    pub created_at: String,
    pub metadata: BTreeMap<String, String>,
    pub metarange_id: String,
}

/// What a new commit says of itself; the id is derived from it.
#[derive(Debug, Clone, Default)]
pub struct CommitInfo {
    pub message: String,
    pub committer: String,
    pub metadata: BTreeMap<String, String>,
}

/// A commit made, with what writing its tree did.
#[derive(Debug, Clone, Serialize)]
pub struct CommitOutcome {
    pub commit: Commit,
    pub stats: WriteStats,
}

/// The result of a merge.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum MergeOutcome {
    /// The destination already contains the source.
    UpToDate { commit: String },
    /// The destination branch moved forward to the source commit.
    FastForward { commit: String },
    /// A merge commit with two parents.
    Merged {
        commit: Commit,
        conflicts_resolved: u64,
    },
}

/// A listing, with S3 ListObjectsV2 semantics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Listing {
    pub entries: Vec<Entry>,
    pub common_prefixes: Vec<String>,
    /// Pass as `after` to get the next page; `None` on the last page.
    pub next_after: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ListOptions {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// List only keys (and common prefixes) after this one.
    pub after: Option<String>,
    pub limit: usize,
}

impl Default for ListOptions {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            delimiter: Some("/".into()),
            after: None,
            limit: 1000,
        }
    }
}

/// The catalog over a DynamoDB table and the object store.
#[derive(Debug, Clone)]
pub struct Catalog {
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    store: ObjectStore,
    params: RangeParams,
}

impl Catalog {
    pub fn new(
        dynamo: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        store: ObjectStore,
    ) -> Self {
        Self {
            dynamo,
            table: table.into(),
            store,
            params: RangeParams::default(),
        }
    }

    /// Range sizes for new trees (small values make many ranges; tests use that).
    pub fn with_range_params(mut self, params: RangeParams) -> Self {
        self.params = params;
        self
    }

    pub fn store(&self) -> &ObjectStore {
        &self.store
    }

    /// The DynamoDB table the catalog keeps its items in, and its client: the import
    /// keeps its sources and its record of imported manifests there too.
    pub fn table(&self) -> (&aws_sdk_dynamodb::Client, &str) {
        (&self.dynamo, &self.table)
    }

    fn dynamo_error(&self, err: impl std::error::Error) -> CatalogError {
        CatalogError::Dynamo {
            table: self.table.clone(),
            message: DisplayErrorContext(err).to_string(),
        }
    }

    /// Creates the catalog table when it does not exist.
    pub async fn ensure_table(&self) -> Result<(), CatalogError> {
        Ok(inventory_base::dynamo::ensure_table(&self.dynamo, &self.table, None).await?)
    }

    /// Trees of `repository`.
    pub fn trees(&self, repository: &Repository) -> TreeStore {
        TreeStore::new(
            self.store.clone(),
            repository.storage_namespace.clone(),
            self.params,
        )
    }

    // ----- repositories -------------------------------------------------------

    /// Creates a repository with its default branch at an initial, empty commit.
    pub async fn create_repository(
        &self,
        name: &str,
        storage_namespace: &str,
        default_branch: Option<&str>,
    ) -> Result<Repository, CatalogError> {
        validate_name("repository", name)?;
        let default_branch = default_branch.unwrap_or(DEFAULT_BRANCH);
        validate_name("branch", default_branch)?;
        let namespace: S3Url = storage_namespace
            .parse()
            .map_err(|_| CatalogError::InvalidNamespace(storage_namespace.to_string()))?;
        let repository = Repository {
            name: name.to_string(),
            storage_namespace: S3Url::new(namespace.bucket, namespace.key.trim_end_matches('/')),
            default_branch: default_branch.to_string(),
            created_at: Utc::now().to_rfc3339(),
        };
        let empty = self.trees(&repository).empty_tree().await?;
        let commit = new_commit(
            vec![],
            CommitInfo {
                message: "Repository created".into(),
                committer: "inventory-import".into(),
                metadata: BTreeMap::new(),
            },
            &empty.id,
        );
        self.put_commit(&repository.name, &commit).await?;
        let item = HashMap::from([
            s("pk", "repo"),
            s("sk", name),
            s(
                "storage_namespace",
                &repository.storage_namespace.to_string(),
            ),
            s("default_branch", default_branch),
            s("created_at", &repository.created_at),
        ]);
        let put = self
            .dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        if let Err(err) = put {
            return Err(if is_condition_failed(&err) {
                CatalogError::RepositoryExists(name.to_string())
            } else {
                self.dynamo_error(err)
            });
        }
        self.put_branch(name, default_branch, &commit.id).await?;
        Ok(repository)
    }

    pub async fn repository(&self, name: &str) -> Result<Repository, CatalogError> {
        let item = self
            .get_item("repo", name)
            .await?
            .ok_or_else(|| CatalogError::RepositoryNotFound(name.to_string()))?;
        repository_from_item(&item)
    }

    pub async fn list_repositories(&self) -> Result<Vec<Repository>, CatalogError> {
        self.query_all("repo", None)
            .await?
            .iter()
            .map(repository_from_item)
            .collect()
    }

    /// Deletes the repository's metadata (branches, commits); never any object.
    pub async fn delete_repository(&self, name: &str) -> Result<(), CatalogError> {
        self.repository(name).await?;
        for pk in [
            format!("branch#{name}"),
            format!("commit#{name}"),
            format!("import#{name}"),
        ] {
            let items = self.query_all(&pk, None).await?;
            let requests: Vec<WriteRequest> = items
                .iter()
                .filter_map(|item| {
                    let key = HashMap::from([
                        ("pk".to_string(), item.get("pk")?.clone()),
                        ("sk".to_string(), item.get("sk")?.clone()),
                    ]);
                    let delete = DeleteRequest::builder().set_key(Some(key)).build().ok()?;
                    Some(WriteRequest::builder().delete_request(delete).build())
                })
                .collect();
            inventory_base::dynamo::batch_write(&self.dynamo, &self.table, requests).await?;
        }
        self.dynamo
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S("repo".into()))
            .key("sk", AttributeValue::S(name.into()))
            .send()
            .await
            .map_err(|e| self.dynamo_error(e))?;
        Ok(())
    }

    // ----- branches -----------------------------------------------------------

    pub async fn branch(&self, repository: &str, name: &str) -> Result<Branch, CatalogError> {
        let item = self
            .get_item(&format!("branch#{repository}"), name)
            .await?
            .ok_or_else(|| CatalogError::BranchNotFound {
                repository: repository.to_string(),
                branch: name.to_string(),
            })?;
        branch_from_item(&item)
    }

    pub async fn list_branches(&self, repository: &str) -> Result<Vec<Branch>, CatalogError> {
        self.repository(repository).await?;
        self.query_all(&format!("branch#{repository}"), None)
            .await?
            .iter()
            .map(branch_from_item)
            .collect()
    }

    pub async fn create_branch(
        &self,
        repository: &str,
        name: &str,
        from: &str,
    ) -> Result<Branch, CatalogError> {
        validate_name("branch", name)?;
        let commit = self.resolve(repository, from).await?;
        self.put_branch(repository, name, &commit.id).await?;
        Ok(Branch {
            name: name.to_string(),
            commit_id: commit.id,
        })
    }

    pub async fn delete_branch(&self, repository: &str, name: &str) -> Result<(), CatalogError> {
        let repo = self.repository(repository).await?;
        if repo.default_branch == name {
            return Err(CatalogError::DefaultBranch {
                repository: repository.to_string(),
                branch: name.to_string(),
            });
        }
        let result = self
            .dynamo
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("branch#{repository}")))
            .key("sk", AttributeValue::S(name.into()))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failed(&err) => Err(CatalogError::BranchNotFound {
                repository: repository.to_string(),
                branch: name.to_string(),
            }),
            Err(err) => Err(self.dynamo_error(err)),
        }
    }

    async fn put_branch(
        &self,
        repository: &str,
        name: &str,
        commit_id: &str,
    ) -> Result<(), CatalogError> {
        let result = self
            .dynamo
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(format!("branch#{repository}")))
            .item("sk", AttributeValue::S(name.into()))
            .item("commit_id", AttributeValue::S(commit_id.into()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failed(&err) => Err(CatalogError::BranchExists {
                repository: repository.to_string(),
                branch: name.to_string(),
            }),
            Err(err) => Err(self.dynamo_error(err)),
        }
    }

    /// Moves `branch` from `expected` to `commit_id`, or fails with a conflict.
    pub async fn move_branch(
        &self,
        repository: &str,
        branch: &str,
        expected: &str,
        commit_id: &str,
    ) -> Result<(), CatalogError> {
        let result = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("branch#{repository}")))
            .key("sk", AttributeValue::S(branch.into()))
            .update_expression("SET commit_id = :new")
            .condition_expression("commit_id = :expected")
            .expression_attribute_values(":new", AttributeValue::S(commit_id.into()))
            .expression_attribute_values(":expected", AttributeValue::S(expected.into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failed(&err) => {
                let found = self.branch(repository, branch).await?.commit_id;
                Err(CatalogError::Conflict {
                    branch: branch.to_string(),
                    expected: expected.to_string(),
                    found,
                })
            }
            Err(err) => Err(self.dynamo_error(err)),
        }
    }

    // ----- commits and refs ---------------------------------------------------

    pub async fn commit_by_id(
        &self,
        repository: &str,
        id: &str,
    ) -> Result<Option<Commit>, CatalogError> {
        match self.get_item(&format!("commit#{repository}"), id).await? {
            Some(item) => commit_from_item(&item).map(Some),
            None => Ok(None),
        }
    }

    async fn put_commit(&self, repository: &str, commit: &Commit) -> Result<(), CatalogError> {
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
            .send()
            .await
            .map_err(|e| self.dynamo_error(e))?;
        Ok(())
    }

    /// Resolves a branch name, a commit id or unique prefix of one, with an optional
    /// `~N` (N-th first parent).
    pub async fn resolve(&self, repository: &str, reference: &str) -> Result<Commit, CatalogError> {
        self.repository(repository).await?;
        let (base, steps) = match reference.rsplit_once('~') {
            Some((base, n)) => {
                let steps = if n.is_empty() {
                    1
                } else {
                    n.parse().map_err(|_| CatalogError::RefNotFound {
                        repository: repository.to_string(),
                        reference: reference.to_string(),
                    })?
                };
                (base, steps)
            }
            None => (reference, 0),
        };
        let not_found = || CatalogError::RefNotFound {
            repository: repository.to_string(),
            reference: reference.to_string(),
        };
        let id = match self.get_item(&format!("branch#{repository}"), base).await? {
            Some(item) => branch_from_item(&item)?.commit_id,
            None => {
                let is_hex = base.len() >= 4 && base.bytes().all(|b| b.is_ascii_hexdigit());
                if !is_hex {
                    return Err(not_found());
                }
                let matches = self
                    .query_all(
                        &format!("commit#{repository}"),
                        Some(&base.to_ascii_lowercase()),
                    )
                    .await?;
                match matches.as_slice() {
                    [] => return Err(not_found()),
                    [one] => commit_from_item(one)?.id,
                    _ => {
                        return Err(CatalogError::AmbiguousRef {
                            repository: repository.to_string(),
                            reference: reference.to_string(),
                        });
                    }
                }
            }
        };
        let mut commit = self
            .commit_by_id(repository, &id)
            .await?
            .ok_or_else(not_found)?;
        for _ in 0..steps {
            let Some(parent) = commit.parents.first() else {
                return Err(CatalogError::NoSuchAncestor {
                    reference: reference.to_string(),
                    commit: id,
                    steps,
                });
            };
            commit = self
                .commit_by_id(repository, parent)
                .await?
                .ok_or_else(not_found)?;
        }
        Ok(commit)
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
        let commit = new_commit(parents, info, &tree.id);
        self.put_commit(&repository.name, &commit).await?;
        self.move_branch(&repository.name, branch, expected, &commit.id)
            .await?;
        Ok(commit)
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

    /// Lists entries at a ref with S3 ListObjectsV2 semantics.
    pub async fn list(
        &self,
        repository: &str,
        reference: &str,
        options: &ListOptions,
    ) -> Result<Listing, CatalogError> {
        let repo = self.repository(repository).await?;
        let commit = self.resolve(repository, reference).await?;
        let tree = self.tree_of(&repo, &commit).await?;
        let trees = self.trees(&repo);
        let mut cursor = trees.cursor(&tree);
        let start = match &options.after {
            Some(after) if after.as_str() >= options.prefix.as_str() => after.clone(),
            _ => options.prefix.clone(),
        };
        cursor.seek(&start).await?;
        let mut listing = Listing::default();
        let limit = options.limit.max(1);
        let mut returned = 0usize;
        let mut last: Option<String> = None;
        while let Some(entry) = cursor.next_entry().await? {
            if !entry.path.starts_with(&options.prefix) {
                break;
            }
            if options
                .after
                .as_ref()
                .is_some_and(|after| entry.path.as_str() <= after.as_str())
            {
                continue;
            }
            let rest = &entry.path[options.prefix.len()..];
            let common = options
                .delimiter
                .as_deref()
                .filter(|d| !d.is_empty())
                .and_then(|d| {
                    rest.find(d)
                        .map(|i| format!("{}{}", options.prefix, &rest[..i + d.len()]))
                });
            if let Some(common) = common {
                // Keys under a common prefix already returned (or given as `after`).
                if last.as_deref() == Some(common.as_str())
                    || options.after.as_deref() == Some(common.as_str())
                {
                    continue;
                }
                if returned == limit {
                    listing.next_after = last;
                    return Ok(listing);
                }
                listing.common_prefixes.push(common.clone());
                last = Some(common);
            } else {
                if returned == limit {
                    listing.next_after = last;
                    return Ok(listing);
                }
                last = Some(entry.path.clone());
                listing.entries.push(entry);
            }
            returned += 1;
        }
        Ok(listing)
    }

    /// The entry at `path` in `reference`.
    pub async fn stat(
        &self,
        repository: &str,
        reference: &str,
        path: &str,
    ) -> Result<Option<Entry>, CatalogError> {
        let repo = self.repository(repository).await?;
        let commit = self.resolve(repository, reference).await?;
        let tree = self.tree_of(&repo, &commit).await?;
        Ok(self.trees(&repo).get(&tree, path).await?)
    }

    /// Opens the bytes of the object at `path` in `reference`, from its physical
    /// address (pinned to its version id). Fails, rather than return other bytes, when
    /// the object's ETag is no longer the one the catalog recorded.
    pub async fn open(
        &self,
        repository: &str,
        reference: &str,
        path: &str,
    ) -> Result<(Entry, aws_sdk_s3::primitives::ByteStream), CatalogError> {
        let entry = self
            .stat(repository, reference, path)
            .await?
            .ok_or_else(|| CatalogError::PathNotFound {
                repository: repository.to_string(),
                reference: reference.to_string(),
                path: path.to_string(),
            })?;
        let address: S3Url = entry.address.parse().map_err(|_| CatalogError::Damaged {
            key: format!("{repository}/{reference}/{path}"),
            reason: format!("physical address {:?} is not an S3 URL", entry.address),
        })?;
        let (etag, body) = match self.store.open(&address, entry.version_id.as_deref()).await {
            Ok(opened) => opened,
            Err(inventory_base::storage::StorageError::NotFound { .. }) => {
                return Err(CatalogError::SourceMissing {
                    path: path.to_string(),
                    address: entry.address.clone(),
                    version_id: entry.version_id.clone(),
                });
            }
            Err(err) => return Err(err.into()),
        };
        if etag != entry.etag {
            return Err(CatalogError::ChangedInSource {
                path: path.to_string(),
                address: entry.address.clone(),
                recorded: entry.etag.clone(),
                found: etag,
            });
        }
        Ok((entry, body))
    }

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

    // ----- DynamoDB helpers ---------------------------------------------------

    async fn get_item(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, CatalogError> {
        Ok(inventory_base::dynamo::get_item(&self.dynamo, &self.table, pk, sk).await?)
    }

    /// Every item of a partition, optionally only sort keys starting with `prefix`.
    async fn query_all(
        &self,
        pk: &str,
        prefix: Option<&str>,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, CatalogError> {
        Ok(inventory_base::dynamo::query_all(&self.dynamo, &self.table, pk, prefix).await?)
    }
}

fn version_suffix(version_id: &Option<String>) -> String {
    version_id
        .as_ref()
        .map(|v| format!(" (version {v})"))
        .unwrap_or_default()
}

fn strategy_name(strategy: ConflictStrategy) -> &'static str {
    match strategy {
        ConflictStrategy::Fail => "fail",
        ConflictStrategy::SourceWins => "source-wins",
        ConflictStrategy::DestWins => "dest-wins",
    }
}

/// Builds a commit and derives its id from its content.
fn new_commit(parents: Vec<String>, info: CommitInfo, metarange_id: &str) -> Commit {
    let created_at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut commit = Commit {
        id: String::new(),
        parents,
        message: info.message,
        committer: info.committer,
        created_at,
        metadata: info.metadata,
        metarange_id: metarange_id.to_string(),
    };
    commit.id = commit_id(&commit);
    commit
}

/// SHA-256 over the commit's fields (metadata in key order), each length-prefixed.
pub fn commit_id(commit: &Commit) -> String {
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

/// Repository and branch names: 1–63 characters of lowercase letters, digits, `-`,
/// `_` and `.` (branches may also use `/`), starting with a letter or digit.
pub fn validate_name(kind: &'static str, name: &str) -> Result<(), CatalogError> {
    let invalid = |reason| CatalogError::InvalidName {
        kind,
        name: name.to_string(),
        reason,
    };
    if name.is_empty() || name.len() > 63 {
        return Err(invalid("it must be 1 to 63 characters long"));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        return Err(invalid("it must start with a lowercase letter or a digit"));
    }
    let allowed = |c: char| {
        c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || matches!(c, '-' | '_' | '.')
            || (kind == "branch" && c == '/')
    };
    if !name.chars().all(allowed) {
        return Err(invalid(if kind == "branch" {
            "only lowercase letters, digits, '-', '_', '.' and '/' are allowed"
        } else {
            "only lowercase letters, digits, '-', '_' and '.' are allowed"
        }));
    }
    if name.contains('~') || name.ends_with('/') || name.contains("//") || name.ends_with(".") {
        return Err(invalid("it must not end with '/' or '.', or contain '//'"));
    }
    Ok(())
}

fn s(name: &str, value: &str) -> (String, AttributeValue) {
    (name.to_string(), AttributeValue::S(value.to_string()))
}

/// A string attribute of a catalog item; a missing one makes the item damaged.
pub fn text_attribute(
    item: &HashMap<String, AttributeValue>,
    name: &str,
) -> Result<String, CatalogError> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Ok(value.clone()),
        _ => Err(CatalogError::Damaged {
            key: inventory_base::dynamo::item_key(item),
            reason: format!("attribute {name} is missing or not a string"),
        }),
    }
}

fn repository_from_item(
    item: &HashMap<String, AttributeValue>,
) -> Result<Repository, CatalogError> {
    let namespace = text_attribute(item, "storage_namespace")?;
    Ok(Repository {
        name: text_attribute(item, "sk")?,
        storage_namespace: namespace.parse().map_err(|_| CatalogError::Damaged {
            key: inventory_base::dynamo::item_key(item),
            reason: format!("storage namespace {namespace:?} is not an S3 URL"),
        })?,
        default_branch: text_attribute(item, "default_branch")?,
        created_at: text_attribute(item, "created_at")?,
    })
}

fn branch_from_item(item: &HashMap<String, AttributeValue>) -> Result<Branch, CatalogError> {
    Ok(Branch {
        name: text_attribute(item, "sk")?,
        commit_id: text_attribute(item, "commit_id")?,
    })
}

fn commit_from_item(item: &HashMap<String, AttributeValue>) -> Result<Commit, CatalogError> {
    let damaged = |reason: &str| CatalogError::Damaged {
        key: inventory_base::dynamo::item_key(item),
        reason: reason.to_string(),
    };
    let parents = match item.get("parents") {
        Some(AttributeValue::L(list)) => list
            .iter()
            .map(|v| {
                v.as_s()
                    .cloned()
                    .map_err(|_| damaged("a parent is not a string"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(damaged("parents is missing")),
    };
    let metadata = match item.get("metadata") {
        Some(AttributeValue::M(map)) => map
            .iter()
            .map(|(k, v)| {
                v.as_s()
                    .map(|v| (k.clone(), v.clone()))
                    .map_err(|_| damaged("a metadata value is not a string"))
            })
            .collect::<Result<_, _>>()?,
        _ => BTreeMap::new(),
    };
    Ok(Commit {
        id: text_attribute(item, "sk")?,
        parents,
        message: text_attribute(item, "message")?,
        committer: text_attribute(item, "committer")?,
        created_at: text_attribute(item, "created_at")?,
        metadata,
        metarange_id: text_attribute(item, "metarange_id")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_names() {
        validate_name("repository", "photos-2026").unwrap();
        validate_name("branch", "feature/new.thing").unwrap();
        assert_eq!(
            validate_name("repository", "Photos")
                .unwrap_err()
                .to_string(),
            "invalid repository name \"Photos\": it must start with a lowercase letter or a digit"
        );
        assert!(validate_name("repository", "a/b").is_err());
        assert!(validate_name("branch", "a~1").is_err());
        assert!(validate_name("branch", "").is_err());
        assert!(validate_name("branch", &"a".repeat(64)).is_err());
    }

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
