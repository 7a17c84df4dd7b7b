//! Users' uncommitted changes on a branch: uploads, deletions, commit and reset.
//!
//! A branch's changes live in the catalog table, one item per path, in a partition
//! named by a token the branch item holds (`staging`): `pk = "changes#<repo>#<branch>#<token>"`,
//! `sk = <path>`. A write puts its item in one transaction with a check that the
//! branch still holds that token.
//!
//! A commit first *seals* the staging partition: one conditional write gives the branch
//! a fresh token and lists the old one under `sealed`, so that no write lands in it any
//! more. It then reads the sealed partitions, writes the tree (ranges no change touches
//! are taken whole), and moves the branch in one conditional write that also empties
//! `sealed` and lists those tokens under `garbage`, whose items are deleted afterwards.
//! A crash before that write leaves the changes sealed, still visible and committed by
//! the next commit; a crash after it leaves only garbage: a change is never lost, and
//! never applied twice. Reads see the sealed partitions, then the staging one.
//!
//! The branch item also says when its staging partition is known to be empty
//! (`clean` holds that token): a seal or a reset sets it to the fresh token, and every
//! write removes it in the transaction that adds its items. A read of a branch whose
//! item says so, with nothing sealed, needs no query of its partitions.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use serde::Serialize;

use inventory_base::location::S3Url;
use inventory_base::storage_class::storage_class;

use super::commits::new_commit;
use super::{Catalog, CatalogError, CommitInfo, text_attribute};
use crate::tree::{ApplyStats, Entry, PathChange};

/// The branch imports commit to: users cannot write to, commit to, reset or merge
/// into it. The catalog knows no more of imports than this name.
pub const IMPORT_BRANCH: &str = "import-from-inventory";

/// The longest path S3 allows (in bytes of UTF-8).
pub const MAX_PATH_BYTES: usize = 1024;

/// Tries of a write that lost a race with a commit or a reset of the same branch.
const WRITE_ATTEMPTS: usize = 8;

/// Items written in one transaction, with the check of the branch's token.
const ITEMS_PER_TRANSACTION: usize = 99;

/// An uncommitted change to one path of a branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingChange {
    pub path: String,
    /// The new entry; `None` when the path is deleted.
    pub entry: Option<Entry>,
    /// The entry's bytes were uploaded for this change: discarding it removes them.
    pub uploaded: bool,
}

/// A commit of a branch's changes, with what writing its tree did.
#[derive(Debug, Clone, Serialize)]
pub struct ChangesCommitted {
    pub commit: super::Commit,
    /// Changes the commit holds.
    pub changes: u64,
    pub stats: ApplyStats,
}

/// The branch item's write state.
#[derive(Debug, Clone, Default)]
struct WriteState {
    commit_id: String,
    /// `None`: the branch never had changes (its staging token is the initial one).
    staging: Option<String>,
    sealed: Vec<String>,
    garbage: Vec<String>,
    /// The staging token whose partition is known to be empty.
    clean: Option<String>,
}

/// The staging token of a branch that never had changes.
pub(super) const INITIAL_TOKEN: &str = "0";

impl WriteState {
    fn token(&self) -> &str {
        self.staging.as_deref().unwrap_or(INITIAL_TOKEN)
    }

    /// Whether the branch item says the branch has no uncommitted changes.
    fn known_clean(&self) -> bool {
        self.sealed.is_empty() && self.clean.as_deref() == Some(self.token())
    }

    /// The write state a branch item records.
    fn from_item(item: &HashMap<String, AttributeValue>) -> Result<WriteState, CatalogError> {
        Ok(WriteState {
            commit_id: text_attribute(item, "commit_id")?,
            staging: item.get("staging").and_then(|v| v.as_s().ok().cloned()),
            sealed: string_list(item, "sealed"),
            garbage: string_list(item, "garbage"),
            clean: item.get("clean").and_then(|v| v.as_s().ok().cloned()),
        })
    }

    /// Every partition that holds the branch's changes: the sealed ones, then staging.
    fn tokens(&self) -> Vec<String> {
        let mut tokens = self.sealed.clone();
        tokens.push(self.token().to_string());
        tokens
    }

    /// A condition that the branch item still holds this state's token and sealed
    /// tokens (and, with `head`, this commit), and the values it names.
    fn condition(&self, head: bool) -> (String, HashMap<String, AttributeValue>) {
        let mut parts = Vec::new();
        let mut values = HashMap::new();
        match &self.staging {
            Some(token) => {
                parts.push("staging = :token".to_string());
                values.insert(":token".to_string(), AttributeValue::S(token.clone()));
            }
            None => parts.push("attribute_not_exists(staging)".to_string()),
        }
        if self.sealed.is_empty() {
            parts.push("(attribute_not_exists(sealed) OR size(sealed) = :zero)".to_string());
            values.insert(":zero".to_string(), AttributeValue::N("0".into()));
        } else {
            parts.push("sealed = :sealed".to_string());
            values.insert(":sealed".to_string(), strings(&self.sealed));
        }
        if head {
            parts.push("commit_id = :head".to_string());
            values.insert(
                ":head".to_string(),
                AttributeValue::S(self.commit_id.clone()),
            );
        }
        (parts.join(" AND "), values)
    }
}

fn strings(items: &[String]) -> AttributeValue {
    AttributeValue::L(items.iter().cloned().map(AttributeValue::S).collect())
}

fn string_list(item: &HashMap<String, AttributeValue>, name: &str) -> Vec<String> {
    match item.get(name) {
        Some(AttributeValue::L(list)) => {
            list.iter().filter_map(|v| v.as_s().ok().cloned()).collect()
        }
        _ => Vec::new(),
    }
}

fn new_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A path users may write: not empty, at most [`MAX_PATH_BYTES`] bytes.
pub fn validate_path(path: &str) -> Result<(), CatalogError> {
    let invalid = |reason: String| CatalogError::InvalidPath {
        path: shortened(path),
        reason,
    };
    if path.is_empty() {
        return Err(invalid("a path must not be empty".into()));
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(invalid(format!(
            "it is {} bytes long, and a path is at most {MAX_PATH_BYTES} bytes (as an S3 key)",
            path.len()
        )));
    }
    Ok(())
}

/// A path as an error message shows it: whole when short, else its start.
fn shortened(path: &str) -> String {
    if path.len() <= 80 {
        return path.to_string();
    }
    let mut end = 60;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &path[..end])
}

impl Catalog {
    fn changes_key(repository: &str, branch: &str, token: &str) -> String {
        format!("changes#{repository}#{branch}#{token}")
    }

    /// The write state of a branch that users may write to: not the import branch,
    /// and a branch (not a commit id).
    async fn write_state(
        &self,
        repository: &str,
        branch: &str,
        action: &'static str,
    ) -> Result<WriteState, CatalogError> {
        self.repository(repository).await?;
        let refused = || CatalogError::ImportBranch {
            repository: repository.to_string(),
            branch: branch.to_string(),
            action,
        };
        if branch == IMPORT_BRANCH {
            return Err(refused());
        }
        match self
            .get_item(&format!("branch#{repository}"), branch)
            .await?
        {
            Some(item) if super::branch_from_item(&item)?.imports_only => Err(refused()),
            Some(item) => WriteState::from_item(&item),
            None => match self.resolve(repository, branch).await {
                Ok(commit) => Err(CatalogError::NotABranch {
                    repository: repository.to_string(),
                    reference: branch.to_string(),
                    commit: commit.id,
                }),
                Err(_) => Err(CatalogError::BranchNotFound {
                    repository: repository.to_string(),
                    branch: branch.to_string(),
                }),
            },
        }
    }

    /// Whether users may write `path` on `branch` (`action` names the write in the
    /// error): a valid path, on a branch that is not the import branch.
    pub async fn writable(
        &self,
        repository: &str,
        branch: &str,
        path: &str,
        action: &'static str,
    ) -> Result<(), CatalogError> {
        validate_path(path)?;
        self.write_state(repository, branch, action)
            .await
            .map(|_| ())
    }

    /// The branch's state as reads see it (any branch, the import branch too).
    async fn read_state(
        &self,
        repository: &str,
        branch: &str,
    ) -> Result<Option<WriteState>, CatalogError> {
        self.get_item(&format!("branch#{repository}"), branch)
            .await?
            .map(|item| WriteState::from_item(&item))
            .transpose()
    }

    /// Records changes on a branch (later ones for the same path win).
    pub async fn put_changes(
        &self,
        repository: &str,
        branch: &str,
        changes: Vec<PendingChange>,
    ) -> Result<(), CatalogError> {
        for change in &changes {
            validate_path(&change.path)?;
        }
        let unique: BTreeMap<String, PendingChange> = changes
            .into_iter()
            .map(|change| (change.path.clone(), change))
            .collect();
        let unique: Vec<PendingChange> = unique.into_values().collect();
        for chunk in unique.chunks(ITEMS_PER_TRANSACTION) {
            self.put_chunk(repository, branch, chunk).await?;
        }
        Ok(())
    }

    async fn put_chunk(
        &self,
        repository: &str,
        branch: &str,
        changes: &[PendingChange],
    ) -> Result<(), CatalogError> {
        for _ in 0..WRITE_ATTEMPTS {
            let state = self.write_state(repository, branch, "writing").await?;
            let (condition, values) = state.condition(false);
            // The branch still holds this token, and is no longer known to be clean.
            let check = Update::builder()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(format!("branch#{repository}")))
                .key("sk", AttributeValue::S(branch.to_string()))
                .condition_expression(condition)
                .update_expression("REMOVE clean")
                .set_expression_attribute_values(Some(values))
                .build()
                .map_err(|e| self.dynamo_error(e))?;
            let mut transaction = self
                .dynamo
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(check).build());
            let pk = Self::changes_key(repository, branch, state.token());
            for change in changes {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(change_item(&pk, change)))
                    .build()
                    .map_err(|e| self.dynamo_error(e))?;
                transaction =
                    transaction.transact_items(TransactWriteItem::builder().put(put).build());
            }
            match transaction.send().await {
                Ok(_) => return Ok(()),
                Err(err) => {
                    let raced = match err.as_service_error() {
                        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                            cancelled.cancellation_reasons().iter().any(|reason| {
                                matches!(
                                    reason.code(),
                                    Some("ConditionalCheckFailed" | "TransactionConflict")
                                )
                            })
                        }
                        _ => false,
                    };
                    if !raced {
                        return Err(self.dynamo_error(err));
                    }
                }
            }
        }
        Err(CatalogError::Busy {
            repository: repository.to_string(),
            branch: branch.to_string(),
        })
    }

    /// Uploads bytes for `path` on `branch`: stored in the repository's storage
    /// namespace at a fresh address (`data/<uuid>`, never over an existing object),
    /// streamed in parts of `part_size` bytes, and recorded as an uncommitted change.
    pub async fn upload(
        &self,
        repository: &str,
        branch: &str,
        path: &str,
        body: impl tokio::io::AsyncRead + Unpin,
        part_size: usize,
    ) -> Result<Entry, CatalogError> {
        validate_path(path)?;
        let state = self.write_state(repository, branch, "uploading").await?;
        let repo = self.repository(repository).await?;
        let address = repo
            .storage_namespace
            .join(&format!("data/{}", uuid::Uuid::new_v4().simple()));
        let stored = self.store.put_stream(&address, body, part_size).await?;
        let entry = Entry {
            path: path.to_string(),
            address: address.to_string(),
            version_id: None,
            size: stored.size,
            etag: stored.etag,
            last_modified_ms: chrono::Utc::now().timestamp_millis(),
            storage_class: Some(storage_class("STANDARD")),
        };
        let replaced = self
            .staged_change(repository, branch, state.token(), path)
            .await;
        let change = PendingChange {
            path: path.to_string(),
            entry: Some(entry.clone()),
            uploaded: true,
        };
        if let Err(err) = self.put_changes(repository, branch, vec![change]).await {
            let _ = self.store.delete(&address).await;
            return Err(err);
        }
        if let Ok(Some(replaced)) = replaced {
            self.discard_upload(&replaced).await;
        }
        Ok(entry)
    }

    /// Copies the object at `source_path` of `source_ref` to `path` on `branch`, as an
    /// uncommitted change: a new entry naming the same bytes, none copied. The bytes of
    /// an upload not committed yet are copied (server-side) to an address of their own,
    /// since discarding that upload removes its bytes.
    pub async fn copy(
        &self,
        repository: &str,
        source_ref: &str,
        source_path: &str,
        branch: &str,
        path: &str,
    ) -> Result<Entry, CatalogError> {
        self.writable(repository, branch, path, "copying").await?;
        let (_, changes) = self.view(repository, source_ref).await?;
        let source = self
            .stat(repository, source_ref, source_path)
            .await?
            .ok_or_else(|| CatalogError::PathNotFound {
                repository: repository.to_string(),
                reference: source_ref.to_string(),
                path: shortened(source_path),
            })?;
        let pending_upload = changes.iter().any(|c| c.path == source_path && c.uploaded);
        let mut entry = Entry {
            path: path.to_string(),
            ..source.clone()
        };
        let mut uploaded = false;
        if pending_upload {
            let repo = self.repository(repository).await?;
            let from: S3Url = source.address.parse().map_err(|_| CatalogError::Damaged {
                key: format!("{repository}/{source_ref}/{source_path}"),
                reason: format!("physical address {:?} is not an S3 URL", source.address),
            })?;
            let to = repo
                .storage_namespace
                .join(&format!("data/{}", uuid::Uuid::new_v4().simple()));
            entry.etag = self.store.copy(&from, &to).await?;
            entry.address = to.to_string();
            uploaded = true;
        }
        let change = PendingChange {
            path: path.to_string(),
            entry: Some(entry.clone()),
            uploaded,
        };
        self.put_changes(repository, branch, vec![change]).await?;
        Ok(entry)
    }

    /// Records the deletion of `path` on `branch` (with `recursive`, of every path
    /// under the prefix `path`). Returns the paths deleted; a path that does not exist
    /// on the branch is an error.
    pub async fn remove(
        &self,
        repository: &str,
        branch: &str,
        path: &str,
        recursive: bool,
    ) -> Result<Vec<String>, CatalogError> {
        if !recursive {
            validate_path(path)?;
        }
        self.write_state(repository, branch, "deleting").await?;
        let paths = if recursive {
            let mut paths = Vec::new();
            let mut options = super::ListOptions {
                prefix: path.to_string(),
                delimiter: None,
                after: None,
                limit: 1000,
            };
            loop {
                let listing = self.list(repository, branch, &options).await?;
                paths.extend(listing.entries.into_iter().map(|e| e.path));
                match listing.next_after {
                    Some(after) => options.after = Some(after),
                    None => break,
                }
            }
            paths
        } else {
            match self.stat(repository, branch, path).await? {
                Some(_) => vec![path.to_string()],
                None => Vec::new(),
            }
        };
        if paths.is_empty() {
            return Err(CatalogError::PathNotFound {
                repository: repository.to_string(),
                reference: branch.to_string(),
                path: shortened(path),
            });
        }
        let state = self.write_state(repository, branch, "deleting").await?;
        let mut replaced = Vec::new();
        for path in &paths {
            if let Ok(Some(change)) = self
                .staged_change(repository, branch, state.token(), path)
                .await
            {
                replaced.push(change);
            }
        }
        let deletions = paths
            .iter()
            .map(|path| PendingChange {
                path: path.clone(),
                entry: None,
                uploaded: false,
            })
            .collect();
        self.put_changes(repository, branch, deletions).await?;
        for change in &replaced {
            self.discard_upload(change).await;
        }
        Ok(paths)
    }

    /// The change recorded for `path` in one partition of the branch, if any.
    async fn staged_change(
        &self,
        repository: &str,
        branch: &str,
        token: &str,
        path: &str,
    ) -> Result<Option<PendingChange>, CatalogError> {
        let pk = Self::changes_key(repository, branch, token);
        match self.get_item(&pk, path).await? {
            Some(item) => change_from_item(&item).map(Some),
            None => Ok(None),
        }
    }

    /// Removes the bytes an uncommitted upload stored (best effort: they are at an
    /// address nothing else names).
    async fn discard_upload(&self, change: &PendingChange) {
        let Some(entry) = change.entry.as_ref().filter(|_| change.uploaded) else {
            return;
        };
        if let Ok(address) = entry.address.parse::<S3Url>()
            && let Err(err) = self.store.delete(&address).await
        {
            tracing::warn!(%address, error = %err, "the bytes of a discarded upload were left behind");
        }
    }

    async fn partition(
        &self,
        repository: &str,
        branch: &str,
        token: &str,
    ) -> Result<Vec<PendingChange>, CatalogError> {
        self.query_all(&Self::changes_key(repository, branch, token), None)
            .await?
            .iter()
            .map(change_from_item)
            .collect()
    }

    /// The changes of the given partitions, later ones winning, in path order.
    async fn changes_of(
        &self,
        repository: &str,
        branch: &str,
        tokens: &[String],
    ) -> Result<Vec<PendingChange>, CatalogError> {
        let mut changes = BTreeMap::new();
        for token in tokens {
            for change in self.partition(repository, branch, token).await? {
                changes.insert(change.path.clone(), change);
            }
        }
        Ok(changes.into_values().collect())
    }

    /// The head commit of `branch` and its uncommitted changes in path order, from
    /// one read of the branch item (and of its partitions when it may have changes);
    /// `None` when there is no such branch.
    pub(super) async fn branch_view(
        &self,
        repository: &str,
        branch: &str,
    ) -> Result<Option<(super::Commit, Vec<PendingChange>)>, CatalogError> {
        let Some(state) = self.read_state(repository, branch).await? else {
            return Ok(None);
        };
        let commit = self
            .commit_by_id(repository, &state.commit_id)
            .await?
            .ok_or_else(|| CatalogError::Damaged {
                key: format!("branch#{repository}/{branch}"),
                reason: format!("its commit {} does not exist", state.commit_id),
            })?;
        let changes = if state.known_clean() {
            Vec::new()
        } else {
            self.changes_of(repository, branch, &state.tokens()).await?
        };
        Ok(Some((commit, changes)))
    }

    /// A branch's uncommitted changes, in path order (none for a branch that has
    /// none, or for a ref that is not a branch).
    pub async fn pending_changes(
        &self,
        repository: &str,
        branch: &str,
    ) -> Result<Vec<PendingChange>, CatalogError> {
        let Some(state) = self.read_state(repository, branch).await? else {
            return Ok(Vec::new());
        };
        if state.known_clean() {
            return Ok(Vec::new());
        }
        self.changes_of(repository, branch, &state.tokens()).await
    }

    /// Streams a branch's uncommitted changes as differences from its head commit, in
    /// path order (a deletion of a path the commit does not hold is no difference).
    pub async fn diff_pending(
        &self,
        repository: &str,
        branch: &str,
        mut on_change: impl FnMut(crate::diff::Change),
    ) -> Result<crate::diff::DiffSummary, CatalogError> {
        use crate::diff::{Change, ChangeKind, DiffSummary};
        let repo = self.repository(repository).await?;
        let head = self.branch(repository, branch).await?;
        let commit = self.resolve(repository, &head.commit_id).await?;
        let tree = self.tree_of(&repo, &commit).await?;
        let trees = self.trees(&repo);
        let mut cursor = trees.cursor(&tree);
        let mut summary = DiffSummary::default();
        for change in self.pending_changes(repository, branch).await? {
            cursor.seek(&change.path).await?;
            let committed = cursor
                .peek()
                .await?
                .filter(|entry| entry.path == change.path)
                .cloned();
            let kind = match (&committed, &change.entry) {
                (None, None) => continue,
                (None, Some(_)) => ChangeKind::Added,
                (Some(_), None) => ChangeKind::Removed,
                (Some(left), Some(right)) if left.same_object(right) => continue,
                (Some(_), Some(_)) => ChangeKind::Changed,
            };
            match kind {
                ChangeKind::Added => summary.added += 1,
                ChangeKind::Removed => summary.removed += 1,
                ChangeKind::Changed => summary.changed += 1,
            }
            on_change(Change {
                kind,
                path: change.path,
                left: committed,
                right: change.entry,
            });
        }
        Ok(summary)
    }

    /// Whether a branch has uncommitted changes.
    pub async fn has_pending_changes(
        &self,
        repository: &str,
        branch: &str,
    ) -> Result<bool, CatalogError> {
        let Some(state) = self.read_state(repository, branch).await? else {
            return Ok(false);
        };
        if state.known_clean() {
            return Ok(false);
        }
        if !state.sealed.is_empty() {
            return Ok(true);
        }
        Ok(!self
            .partition_is_empty(repository, branch, state.token())
            .await?)
    }

    async fn partition_is_empty(
        &self,
        repository: &str,
        branch: &str,
        token: &str,
    ) -> Result<bool, CatalogError> {
        let output = self
            .dynamo
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(Self::changes_key(repository, branch, token)),
            )
            .limit(1)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.dynamo_error(e))?;
        Ok(output.items().is_empty())
    }

    /// Commits a branch's uncommitted changes: ranges no change touches are taken
    /// whole, the branch moves by conditional write and the changes are cleared in the
    /// same write (see the module's documentation).
    pub async fn commit_changes(
        &self,
        repository: &str,
        branch: &str,
        info: CommitInfo,
    ) -> Result<ChangesCommitted, CatalogError> {
        let repo = self.repository(repository).await?;
        for _ in 0..WRITE_ATTEMPTS {
            let mut state = self.write_state(repository, branch, "committing").await?;
            if !self
                .partition_is_empty(repository, branch, state.token())
                .await?
            {
                let Some(sealed) = self.seal(repository, branch, &state).await? else {
                    continue;
                };
                state = sealed;
            }
            if state.sealed.is_empty() {
                return Err(CatalogError::NothingToCommit {
                    repository: repository.to_string(),
                    branch: branch.to_string(),
                });
            }
            let changes = self.changes_of(repository, branch, &state.sealed).await?;
            let head = self
                .commit_by_id(repository, &state.commit_id)
                .await?
                .ok_or_else(|| CatalogError::Damaged {
                    key: format!("branch#{repository}/{branch}"),
                    reason: format!("its commit {} is missing", state.commit_id),
                })?;
            let base = self.tree_of(&repo, &head).await?;
            let path_changes: Vec<PathChange> = changes
                .iter()
                .map(|change| PathChange {
                    path: change.path.clone(),
                    entry: change.entry.clone(),
                })
                .collect();
            let (tree, stats) = self.trees(&repo).apply(&base, &path_changes).await?;
            let commit = new_commit(
                vec![head.id.clone()],
                info.clone(),
                &tree.id,
                head.generation + 1,
            );
            self.put_commit(repository, &commit).await?;
            let moved = self
                .update_state(
                    repository,
                    branch,
                    &state,
                    true,
                    "SET commit_id = :new, sealed = :empty, \
                     garbage = list_append(if_not_exists(garbage, :empty), :done)",
                    [
                        (":new", AttributeValue::S(commit.id.clone())),
                        (":done", strings(&state.sealed)),
                    ],
                )
                .await?;
            if moved {
                self.collect_garbage(repository, branch).await;
                return Ok(ChangesCommitted {
                    commit,
                    changes: changes.len() as u64,
                    stats,
                });
            }
            // Another commit, a reset or a merge changed the branch meanwhile.
        }
        Err(CatalogError::Busy {
            repository: repository.to_string(),
            branch: branch.to_string(),
        })
    }

    /// Seals the staging partition: the branch gets a fresh token, and the old one is
    /// listed as sealed. `None` when the branch changed meanwhile.
    async fn seal(
        &self,
        repository: &str,
        branch: &str,
        state: &WriteState,
    ) -> Result<Option<WriteState>, CatalogError> {
        let token = new_token();
        let sealed = self
            .update_state(
                repository,
                branch,
                state,
                false,
                "SET staging = :new, clean = :new, sealed = list_append(if_not_exists(sealed, :empty), :old)",
                [
                    (":new", AttributeValue::S(token.clone())),
                    (":old", strings(&[state.token().to_string()])),
                ],
            )
            .await?;
        Ok(sealed.then(|| {
            let mut sealed = state.clone();
            sealed.sealed.push(state.token().to_string());
            sealed.staging = Some(token);
            sealed
        }))
    }

    /// Applies `update` to the branch item if it still holds `state` (and, with
    /// `head`, its commit); `values` are the update's, besides `:empty` (an empty
    /// list). Whether it did.
    async fn update_state<const N: usize>(
        &self,
        repository: &str,
        branch: &str,
        state: &WriteState,
        head: bool,
        update: &str,
        values: [(&str, AttributeValue); N],
    ) -> Result<bool, CatalogError> {
        let (condition, mut all) = state.condition(head);
        all.insert(":empty".into(), AttributeValue::L(Vec::new()));
        all.extend(
            values
                .into_iter()
                .map(|(name, value)| (name.to_string(), value)),
        );
        let result = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("branch#{repository}")))
            .key("sk", AttributeValue::S(branch.to_string()))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_values(Some(all))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if inventory_base::dynamo::is_condition_failed(&err) => Ok(false),
            Err(err) => Err(self.dynamo_error(err)),
        }
    }

    /// Discards a branch's uncommitted changes (with `path`, only that path's), and
    /// removes the bytes of uploads among them. Returns how many changes were discarded.
    pub async fn reset(
        &self,
        repository: &str,
        branch: &str,
        path: Option<&str>,
    ) -> Result<u64, CatalogError> {
        if let Some(path) = path {
            validate_path(path)?;
            let state = self.write_state(repository, branch, "resetting").await?;
            let mut discarded = 0;
            let tokens = state.tokens();
            for token in &tokens {
                let pk = Self::changes_key(repository, branch, token);
                let removed = self
                    .dynamo
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", AttributeValue::S(pk))
                    .key("sk", AttributeValue::S(path.to_string()))
                    .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
                    .send()
                    .await
                    .map_err(|e| self.dynamo_error(e))?;
                if let Some(item) = removed.attributes {
                    discarded += 1;
                    self.discard_upload(&change_from_item(&item)?).await;
                }
            }
            return Ok(discarded);
        }
        for _ in 0..WRITE_ATTEMPTS {
            let state = self.write_state(repository, branch, "resetting").await?;
            let tokens = state.tokens();
            let changes = self.changes_of(repository, branch, &tokens).await?;
            let reset = self
                .update_state(
                    repository,
                    branch,
                    &state,
                    false,
                    "SET staging = :new, clean = :new, sealed = :empty, \
                     garbage = list_append(if_not_exists(garbage, :empty), :done)",
                    [
                        (":new", AttributeValue::S(new_token())),
                        (":done", strings(&tokens)),
                    ],
                )
                .await?;
            if reset {
                for change in &changes {
                    self.discard_upload(change).await;
                }
                self.collect_garbage(repository, branch).await;
                return Ok(changes.len() as u64);
            }
        }
        Err(CatalogError::Busy {
            repository: repository.to_string(),
            branch: branch.to_string(),
        })
    }

    /// Deletes the items of the partitions a commit or a reset left as garbage, then
    /// forgets them (best effort: what is left is deleted by the next one).
    async fn collect_garbage(&self, repository: &str, branch: &str) {
        let Ok(Some(state)) = self.read_state(repository, branch).await else {
            return;
        };
        if state.garbage.is_empty() {
            return;
        }
        for token in &state.garbage {
            let pk = Self::changes_key(repository, branch, token);
            let Ok(items) = self.query_all(&pk, None).await else {
                return;
            };
            let deletions = items
                .iter()
                .filter_map(|item| {
                    let key = HashMap::from([
                        ("pk".to_string(), item.get("pk")?.clone()),
                        ("sk".to_string(), item.get("sk")?.clone()),
                    ]);
                    let delete = aws_sdk_dynamodb::types::DeleteRequest::builder()
                        .set_key(Some(key))
                        .build()
                        .ok()?;
                    Some(
                        aws_sdk_dynamodb::types::WriteRequest::builder()
                            .delete_request(delete)
                            .build(),
                    )
                })
                .collect();
            if inventory_base::dynamo::batch_write(&self.dynamo, &self.table, deletions)
                .await
                .is_err()
            {
                return;
            }
        }
        let _ = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("branch#{repository}")))
            .key("sk", AttributeValue::S(branch.to_string()))
            .update_expression("REMOVE garbage")
            .condition_expression("garbage = :collected")
            .expression_attribute_values(":collected", strings(&state.garbage))
            .send()
            .await;
    }
}

fn change_item(pk: &str, change: &PendingChange) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk.to_string())),
        ("sk".to_string(), AttributeValue::S(change.path.clone())),
    ]);
    match &change.entry {
        None => {
            item.insert("deleted".into(), AttributeValue::Bool(true));
        }
        Some(entry) => {
            item.insert("address".into(), AttributeValue::S(entry.address.clone()));
            item.insert("size".into(), AttributeValue::N(entry.size.to_string()));
            item.insert("etag".into(), AttributeValue::S(entry.etag.clone()));
            item.insert(
                "last_modified_ms".into(),
                AttributeValue::N(entry.last_modified_ms.to_string()),
            );
            if let Some(version) = &entry.version_id {
                item.insert("version_id".into(), AttributeValue::S(version.clone()));
            }
            if let Some(class) = &entry.storage_class {
                item.insert("storage_class".into(), AttributeValue::S(class.to_string()));
            }
            if change.uploaded {
                item.insert("uploaded".into(), AttributeValue::Bool(true));
            }
        }
    }
    item
}

fn change_from_item(item: &HashMap<String, AttributeValue>) -> Result<PendingChange, CatalogError> {
    let path = text_attribute(item, "sk")?;
    if matches!(item.get("deleted"), Some(AttributeValue::Bool(true))) {
        return Ok(PendingChange {
            path,
            entry: None,
            uploaded: false,
        });
    }
    let number = |name: &str| -> Result<i64, CatalogError> {
        match item.get(name) {
            Some(AttributeValue::N(n)) => n.parse().map_err(|_| CatalogError::Damaged {
                key: inventory_base::dynamo::item_key(item),
                reason: format!("{name} is not a number"),
            }),
            _ => Err(CatalogError::Damaged {
                key: inventory_base::dynamo::item_key(item),
                reason: format!("{name} is missing"),
            }),
        }
    };
    let entry = Entry {
        path: path.clone(),
        address: text_attribute(item, "address")?,
        version_id: item.get("version_id").and_then(|v| v.as_s().ok().cloned()),
        size: number("size")?.max(0) as u64,
        etag: text_attribute(item, "etag")?,
        last_modified_ms: number("last_modified_ms")?,
        storage_class: item
            .get("storage_class")
            .and_then(|v| v.as_s().ok())
            .map(|class| storage_class(class)),
    };
    Ok(PendingChange {
        path,
        entry: Some(entry),
        uploaded: matches!(item.get("uploaded"), Some(AttributeValue::Bool(true))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked_as_s3_keys() {
        validate_path("a").unwrap();
        validate_path(&"k".repeat(1024)).unwrap();
        assert_eq!(
            validate_path(&"k".repeat(1025)).unwrap_err().to_string(),
            format!(
                "invalid path \"{}…\": it is 1025 bytes long, and a path is at most 1024 bytes (as an S3 key)",
                "k".repeat(60)
            )
        );
        assert_eq!(
            validate_path("").unwrap_err().to_string(),
            "invalid path \"\": a path must not be empty"
        );
    }

    #[test]
    fn a_change_survives_its_item() {
        let change = PendingChange {
            path: "a/b.txt".into(),
            entry: Some(Entry {
                path: "a/b.txt".into(),
                address: "s3://ns/data/1".into(),
                version_id: None,
                size: 3,
                etag: "e".into(),
                last_modified_ms: 7,
                storage_class: Some(storage_class("STANDARD")),
            }),
            uploaded: true,
        };
        assert_eq!(
            change_from_item(&change_item("pk", &change)).unwrap(),
            change
        );
        let deletion = PendingChange {
            path: "x".into(),
            entry: None,
            uploaded: false,
        };
        assert_eq!(
            change_from_item(&change_item("pk", &deletion)).unwrap(),
            deletion
        );
    }
}
