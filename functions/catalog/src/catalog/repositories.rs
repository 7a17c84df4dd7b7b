//! Repositories: creating one with its default branch and first commit, reading,
//! listing and deleting them.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use chrono::Utc;

use inventory_base::dynamo::is_condition_failed;
use inventory_base::location::S3Url;

use super::commits::new_commit;
use super::{
    Catalog, CatalogError, CommitInfo, DEFAULT_BRANCH, Repository, repository_from_item, s,
    validate_name,
};

impl Catalog {
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
        // Nothing is written for a name that is taken: not the empty tree into the
        // namespace, not a commit beside the existing repository's.
        match self.repository(name).await {
            Ok(_) => return Err(CatalogError::RepositoryExists(name.to_string())),
            Err(CatalogError::RepositoryNotFound(_)) => {}
            Err(err) => return Err(err),
        }
        let empty = self.trees(&repository).empty_tree().await?;
        let commit = new_commit(
            vec![],
            CommitInfo {
                message: "Repository created".into(),
                committer: "inventory-import".into(),
                metadata: BTreeMap::new(),
            },
            &empty.id,
            1,
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
        self.put_branch(name, default_branch, &commit.id, false)
            .await?;
        Ok(repository)
    }

    pub async fn repository(&self, name: &str) -> Result<Repository, CatalogError> {
        if let Some(repository) = self.memo.as_ref().and_then(|m| m.repository(name)) {
            return Ok(repository);
        }
        let item = self
            .get_item("repo", name)
            .await?
            .ok_or_else(|| CatalogError::RepositoryNotFound(name.to_string()))?;
        let repository = repository_from_item(&item)?;
        if let Some(memo) = &self.memo {
            memo.insert_repository(&repository);
        }
        Ok(repository)
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
}
