//! What the API answers and takes, as its OpenAPI document describes it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use inventory_catalog::catalog::{
    Branch as CatalogBranch, Commit as CatalogCommit, Repository as CatalogRepository,
};
use inventory_catalog::tree::Entry;

#[derive(Debug, Serialize, ToSchema)]
pub struct Repository {
    pub name: String,
    /// Where the catalog writes its own files: `s3://bucket[/prefix]`.
    pub storage_namespace: String,
    pub default_branch: String,
    /// RFC 3339.
    pub created_at: String,
}

impl From<CatalogRepository> for Repository {
    fn from(repository: CatalogRepository) -> Self {
        Repository {
            name: repository.name,
            storage_namespace: repository.storage_namespace.to_string(),
            default_branch: repository.default_branch,
            created_at: repository.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewRepository {
    pub name: String,
    pub storage_namespace: String,
    /// Default `main`.
    #[serde(default)]
    pub default_branch: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Branch {
    pub name: String,
    pub commit_id: String,
    /// An import branch: only imports move it; writes and merges into it are refused.
    pub imports_only: bool,
}

impl From<CatalogBranch> for Branch {
    fn from(branch: CatalogBranch) -> Self {
        Branch {
            name: branch.name,
            commit_id: branch.commit_id,
            imports_only: branch.imports_only,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewBranch {
    pub name: String,
    /// The ref it starts at: a branch or a commit id.
    pub source: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Commit {
    pub id: String,
    pub parents: Vec<String>,
    pub message: String,
    pub committer: String,
    /// RFC 3339.
    pub created_at: String,
    pub metadata: BTreeMap<String, String>,
    pub metarange_id: String,
}

impl From<CatalogCommit> for Commit {
    fn from(commit: CatalogCommit) -> Self {
        Commit {
            id: commit.id,
            parents: commit.parents,
            message: commit.message,
            committer: commit.committer,
            created_at: commit.created_at,
            metadata: commit.metadata,
            metarange_id: commit.metarange_id,
        }
    }
}

/// An object at a ref.
#[derive(Debug, Serialize, ToSchema)]
pub struct Object {
    pub path: String,
    /// Where the bytes are: `s3://bucket/key`.
    pub physical_address: String,
    pub version_id: Option<String>,
    pub size: u64,
    pub etag: String,
    /// RFC 3339.
    pub last_modified: String,
    pub storage_class: Option<String>,
}

impl From<Entry> for Object {
    fn from(entry: Entry) -> Self {
        let last_modified = chrono::DateTime::from_timestamp_millis(entry.last_modified_ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default();
        Object {
            path: entry.path,
            physical_address: entry.address,
            version_id: entry.version_id,
            size: entry.size,
            etag: entry.etag,
            last_modified,
            storage_class: entry.storage_class.map(|c| c.to_string()),
        }
    }
}

/// A page of a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectPage {
    pub objects: Vec<Object>,
    /// Paths up to the delimiter, for the folders of a browser.
    pub common_prefixes: Vec<String>,
    /// Pass as `after` for the next page; absent on the last one.
    pub next_after: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only paths that start with it.
    #[serde(default)]
    pub prefix: String,
    /// Groups paths up to it into common prefixes (`/` for folders).
    pub delimiter: Option<String>,
    /// Start after this path (a previous page's `next_after`).
    pub after: Option<String>,
    /// At most this many (1 to 1000; default 1000).
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PathQuery {
    /// The object's path in the repository.
    pub path: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LogQuery {
    /// At most this many commits (default 100).
    pub limit: Option<usize>,
}

/// An uncommitted change of a branch, or one difference between two refs.
#[derive(Debug, Serialize, ToSchema)]
pub struct Change {
    /// `added`, `removed` or `changed`.
    pub kind: String,
    pub path: String,
    pub left: Option<Object>,
    pub right: Option<Object>,
}

impl From<inventory_catalog::diff::Change> for Change {
    fn from(change: inventory_catalog::diff::Change) -> Self {
        Change {
            kind: change.kind.as_str().to_string(),
            path: change.path,
            left: change.left.map(Object::from),
            right: change.right.map(Object::from),
        }
    }
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct DiffCounts {
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
}

impl From<inventory_catalog::diff::DiffSummary> for DiffCounts {
    fn from(summary: inventory_catalog::diff::DiffSummary) -> Self {
        DiffCounts {
            added: summary.added,
            removed: summary.removed,
            changed: summary.changed,
        }
    }
}

/// A page of differences, with the counts of the whole diff.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiffPage {
    pub summary: DiffCounts,
    pub changes: Vec<Change>,
    /// Pass as `after` for the next page; absent on the last one.
    pub next_after: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DiffQuery {
    /// The ref compared from.
    pub left: String,
    /// The ref compared to.
    pub right: String,
    /// Start after this path (a previous page's `next_after`).
    pub after: Option<String>,
    /// At most this many changes (1 to 1000; default 100).
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewCommit {
    pub message: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Committed {
    pub commit: Commit,
    /// Changes the commit holds.
    pub changes: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetRequest {
    /// Only this path's change; all of the branch's changes when absent.
    #[serde(default)]
    pub path: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResetDone {
    pub discarded: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MergeRequest {
    /// The ref merged (a branch or a commit id).
    pub source: String,
    /// `fail` (default: report conflicts, merge nothing), `source-wins` or `dest-wins`.
    #[serde(default)]
    pub strategy: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Merged {
    /// `up-to-date`, `fast-forward` or `merged`.
    pub outcome: String,
    /// The commit the branch is at now.
    pub commit: String,
    pub conflicts_resolved: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub deleted: String,
}
