//! Branches and refs: creating, moving and deleting branches, and resolving a ref
//! to a commit.

use aws_sdk_dynamodb::types::AttributeValue;

use inventory_base::dynamo::is_condition_failed;

use super::{
    Branch, Catalog, CatalogError, Commit, branch_from_item, commit_from_item, validate_name,
};

impl Catalog {
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
        self.new_branch(repository, name, from, false).await
    }

    /// Creates an import branch at `from`: only imports move it; users' writes and
    /// merges into it are refused ([`CatalogError::ImportBranch`]).
    pub async fn create_import_branch(
        &self,
        repository: &str,
        name: &str,
        from: &str,
    ) -> Result<Branch, CatalogError> {
        self.new_branch(repository, name, from, true).await
    }

    async fn new_branch(
        &self,
        repository: &str,
        name: &str,
        from: &str,
        imports_only: bool,
    ) -> Result<Branch, CatalogError> {
        validate_name("branch", name)?;
        let commit = self.resolve(repository, from).await?;
        self.put_branch(repository, name, &commit.id, imports_only)
            .await?;
        Ok(Branch {
            name: name.to_string(),
            commit_id: commit.id,
            imports_only: imports_only || name == super::IMPORT_BRANCH,
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

    pub(super) async fn put_branch(
        &self,
        repository: &str,
        name: &str,
        commit_id: &str,
        imports_only: bool,
    ) -> Result<(), CatalogError> {
        let mut put = self.dynamo.put_item();
        if imports_only {
            put = put.item("imports_only", AttributeValue::Bool(true));
        }
        let result = put
            .table_name(&self.table)
            .item("pk", AttributeValue::S(format!("branch#{repository}")))
            .item("sk", AttributeValue::S(name.into()))
            .item("commit_id", AttributeValue::S(commit_id.into()))
            // A new branch has no uncommitted changes.
            .item(
                "clean",
                AttributeValue::S(super::changes::INITIAL_TOKEN.into()),
            )
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

    /// Resolves a branch name, a commit id or unique prefix of one, with an optional
    /// `~N` (N-th first parent).
    pub async fn resolve(&self, repository: &str, reference: &str) -> Result<Commit, CatalogError> {
        self.resolve_ref(repository, reference, false).await
    }

    /// [`resolve`](Self::resolve), told whether `reference` is known not to be a
    /// branch (its branch item was just read, and there is none).
    pub(super) async fn resolve_ref(
        &self,
        repository: &str,
        reference: &str,
        not_a_branch: bool,
    ) -> Result<Commit, CatalogError> {
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
        let branch = if not_a_branch && steps == 0 {
            None
        } else {
            self.get_item(&format!("branch#{repository}"), base).await?
        };
        let id = match branch {
            Some(item) => branch_from_item(&item)?.commit_id,
            None => {
                let is_hex = base.len() >= 4 && base.bytes().all(|b| b.is_ascii_hexdigit());
                if !is_hex {
                    return Err(not_found());
                }
                let known = self
                    .memo
                    .as_ref()
                    .and_then(|m| m.commit(repository, &base.to_ascii_lowercase()));
                let matches = match known {
                    // A whole commit id this reader has seen: no prefix to look up.
                    Some(commit) => vec![commit],
                    None => self
                        .query_all(
                            &format!("commit#{repository}"),
                            Some(&base.to_ascii_lowercase()),
                        )
                        .await?
                        .iter()
                        .map(commit_from_item)
                        .collect::<Result<Vec<_>, _>>()?,
                };
                match matches.as_slice() {
                    [] => return Err(not_found()),
                    [one] => one.id.clone(),
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
}
