//! The versioned catalog: repositories, branches and commits in DynamoDB; trees in
//! each repository's storage namespace (see [`crate::tree`]).
//!
//! One table holds everything (`pk`, `sk` strings):
//! - repository: `pk = "repo"`, `sk = <name>`
//! - branch: `pk = "branch#<repo>"`, `sk = <branch>`, attribute `commit_id`
//! - commit: `pk = "commit#<repo>"`, `sk = <commit id>`
//! - a branch's uncommitted change: `pk = "changes#<repo>#<branch>#<token>"`,
//!   `sk = <path>` (see [`changes`])
//!
//! A branch moves only by a conditional write on the commit id it is expected to
//! hold, so of two concurrent commits exactly one wins.

mod branches;
pub mod changes;
mod commits;
mod listing;
mod memo;
mod merge;
mod repositories;
pub mod uploads;

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use inventory_base::location::S3Url;
use inventory_base::storage::ObjectStore;

use crate::tree::{Entry, RangeParams, TreeError, TreeStore, WriteStats};

pub use changes::{IMPORT_BRANCH, MAX_PATH_BYTES, PendingChange, validate_path};
pub use uploads::{MultipartUpload, UploadedPart};

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
    #[error(
        "branch {branch} of repository {repository} changes only by imports: {action} is refused (branch off it, or merge it into a branch of your own)"
    )]
    ImportBranch {
        repository: String,
        branch: String,
        action: &'static str,
    },
    #[error(
        "{reference:?} is commit {commit} of repository {repository}, not a branch: only branches take writes"
    )]
    NotABranch {
        repository: String,
        reference: String,
        commit: String,
    },
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },
    #[error("branch {branch} of repository {repository} has no uncommitted changes")]
    NothingToCommit { repository: String, branch: String },
    #[error(
        "branch {branch} of repository {repository} has uncommitted changes: commit or reset them before merging into it"
    )]
    UncommittedChanges { repository: String, branch: String },
    #[error(
        "branch {branch} of repository {repository} kept changing (other writes, commits or resets at the same time); nothing was changed, try again"
    )]
    Busy { repository: String, branch: String },
    #[error(
        "multipart upload {upload_id} does not exist in repository {repository} (completed or aborted)"
    )]
    UploadNotFound {
        repository: String,
        upload_id: String,
    },
    #[error("multipart upload {upload_id}: {reason}")]
    InvalidPart { upload_id: String, reason: String },
    #[error("multipart upload {upload_id}: the parts must be named in ascending order")]
    InvalidPartOrder { upload_id: String },
    #[error(
        "multipart upload {upload_id}: part {number} has {size} bytes; every part but the last needs at least 5 MiB"
    )]
    PartTooSmall {
        upload_id: String,
        number: i32,
        size: u64,
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
    /// An import branch: only imports move it (`import-from-inventory`, or a source's
    /// own `--branch`).
    #[serde(default)]
    pub imports_only: bool,
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
    /// 1 for a commit without parents, else one more than its parents' highest: a
    /// commit's ancestors all have lower numbers, which lets a merge base be found
    /// without walking whole histories. 0 for commits recorded before it existed.
    #[serde(default)]
    pub generation: u64,
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
    /// What a long-running reader keeps between requests (see [`memo`]).
    memo: Option<std::sync::Arc<memo::Memo>>,
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
            memo: None,
        }
    }

    /// Keeps commits, repositories and up to `tree_bytes` of decoded metaranges and
    /// ranges in memory between calls, for a reader that serves many requests.
    pub fn with_read_cache(mut self, tree_bytes: u64) -> Self {
        self.memo = Some(std::sync::Arc::new(memo::Memo::new(tree_bytes)));
        self
    }

    /// Bytes of decoded metaranges and ranges held in memory (estimated).
    pub fn cached_tree_bytes(&self) -> u64 {
        self.memo.as_ref().map_or(0, |m| m.trees.bytes())
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
        .with_cache(self.memo.as_ref().map(|m| m.trees.clone()))
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
    if kind == "repository" && RESERVED_REPOSITORY_NAMES.contains(&name) {
        return Err(invalid(
            "the endpoint serves its API and pages there (reserved: api, ui)",
        ));
    }
    Ok(())
}

/// Names no repository takes: the S3 endpoint's first path segment for its JSON API
/// and its web pages.
pub const RESERVED_REPOSITORY_NAMES: [&str; 2] = ["api", "ui"];

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
    let name = text_attribute(item, "sk")?;
    Ok(Branch {
        imports_only: name == IMPORT_BRANCH
            || matches!(item.get("imports_only"), Some(AttributeValue::Bool(true))),
        name,
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
        generation: match item.get("generation") {
            Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
            _ => 0,
        },
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
}
