//! Import sources: which inventory configuration feeds which repository (which part of
//! its bucket, under which path, on which import branch: [`ImportScope`]), and which
//! manifests were imported as which commit. Both are kept in the catalog's table
//! (`pk = "source"`, `sk = <inventory prefix>`; `pk = "import#<repo>"`, `sk = <manifest
//! URL>`), beside the repositories they refer to.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use inventory_base::S3Url;
use inventory_base::dynamo::{self, DynamoError, is_condition_failed};
use inventory_catalog::catalog::{Catalog, CatalogError, text_attribute};

pub use crate::scope::ImportScope;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("no import source is recorded for {0}")]
    NotFound(String),
    #[error(
        "branch {branch} of repository {repository} already takes the imports of {inventory}: give this source a --branch of its own, so that their imports never race"
    )]
    BranchTaken {
        repository: String,
        branch: String,
        inventory: String,
    },
    #[error(
        "branch {branch} of repository {repository} is written by users, not by imports: give the source another --branch"
    )]
    UserBranch { repository: String, branch: String },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// An inventory configuration that feeds a repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSource {
    /// `s3://<dest-bucket>/<dest-prefix>/<source-bucket>/<config-id>/`
    pub inventory: S3Url,
    pub repository: String,
    /// Merge each successful import into this branch.
    pub merge_into: Option<String>,
    /// Which keys, under which path, on which branch.
    #[serde(flatten)]
    pub scope: ImportScope,
}

impl ImportSource {
    /// A source of the whole bucket, at the repository's root, on `import-from-inventory`.
    pub fn new(inventory: S3Url, repository: impl Into<String>) -> Self {
        Self {
            inventory,
            repository: repository.into(),
            merge_into: None,
            scope: ImportScope::default(),
        }
    }

    /// The scope its deliveries are imported into `repository` with: its own where it
    /// feeds; a delivery imported by hand elsewhere is taken whole.
    pub fn scope_in(&self, repository: &str) -> ImportScope {
        if self.repository == repository {
            self.scope.clone()
        } else {
            ImportScope::default()
        }
    }
}

/// An inventory configuration's prefix, always ending with `/`.
fn inventory_prefix(url: &S3Url) -> S3Url {
    S3Url::new(&url.bucket, format!("{}/", url.key.trim_end_matches('/')))
}

/// The import sources and imported manifests of a catalog.
#[derive(Debug, Clone, Copy)]
pub struct ImportSources<'a> {
    catalog: &'a Catalog,
}

impl<'a> ImportSources<'a> {
    pub fn new(catalog: &'a Catalog) -> Self {
        Self { catalog }
    }

    /// Records that the inventory configuration at `source.inventory` feeds a repository
    /// (replacing what it fed before). Refused when another source of the repository
    /// imports on the same branch, or when that branch is one users write.
    pub async fn add_source(&self, source: &ImportSource) -> Result<ImportSource, SourceError> {
        self.catalog.repository(&source.repository).await?;
        if let Some(branch) = &source.merge_into {
            self.catalog.branch(&source.repository, branch).await?;
        }
        let source = ImportSource {
            inventory: inventory_prefix(&source.inventory),
            ..source.clone()
        };
        let branch = &source.scope.branch;
        if let Some(other) = self.list_sources().await?.into_iter().find(|other| {
            other.repository == source.repository
                && &other.scope.branch == branch
                && other.inventory != source.inventory
        }) {
            return Err(SourceError::BranchTaken {
                repository: source.repository.clone(),
                branch: branch.clone(),
                inventory: other.inventory.to_string(),
            });
        }
        match self.catalog.branch(&source.repository, branch).await {
            Ok(existing) if !existing.imports_only => {
                return Err(SourceError::UserBranch {
                    repository: source.repository.clone(),
                    branch: branch.clone(),
                });
            }
            Ok(_) | Err(CatalogError::BranchNotFound { .. }) => {}
            Err(err) => return Err(err.into()),
        }
        let (dynamo, table) = self.catalog.table();
        let mut put = dynamo
            .put_item()
            .table_name(table)
            .item("pk", AttributeValue::S("source".into()))
            .item("sk", AttributeValue::S(source.inventory.to_string()))
            .item("repository", AttributeValue::S(source.repository.clone()));
        if let Some(branch) = &source.merge_into {
            put = put.item("merge_into", AttributeValue::S(branch.clone()));
        }
        let scope = &source.scope;
        for (name, value) in [("prefix", &scope.prefix), ("path", &scope.path)] {
            if !value.is_empty() {
                put = put.item(name, AttributeValue::S(value.clone()));
            }
        }
        put = put.item("branch", AttributeValue::S(scope.branch.clone()));
        put.send().await.map_err(|e| dynamo_error(table, e))?;
        Ok(source)
    }

    pub async fn list_sources(&self) -> Result<Vec<ImportSource>, CatalogError> {
        self.query_all("source")
            .await?
            .iter()
            .map(source_from_item)
            .collect()
    }

    pub async fn remove_source(&self, inventory: &S3Url) -> Result<(), SourceError> {
        let key = inventory_prefix(inventory).to_string();
        let (dynamo, table) = self.catalog.table();
        let result = dynamo
            .delete_item()
            .table_name(table)
            .key("pk", AttributeValue::S("source".into()))
            .key("sk", AttributeValue::S(key.clone()))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failed(&err) => Err(SourceError::NotFound(key)),
            Err(err) => Err(dynamo_error(table, err).into()),
        }
    }

    /// The source a delivery belongs to: its manifest is
    /// `<inventory>/<YYYY-MM-DDTHH-MMZ>/manifest.json`.
    pub async fn source_for_manifest(
        &self,
        manifest: &S3Url,
    ) -> Result<Option<ImportSource>, CatalogError> {
        let mut parts = manifest.key.rsplitn(3, '/');
        let (Some(_file), Some(_stamp), Some(config)) = (parts.next(), parts.next(), parts.next())
        else {
            return Ok(None);
        };
        let inventory = S3Url::new(&manifest.bucket, format!("{config}/"));
        match self.get_item("source", &inventory.to_string()).await? {
            Some(item) => source_from_item(&item).map(Some),
            None => Ok(None),
        }
    }

    /// Records that `manifest` was imported into `repository` as `commit_id`.
    pub async fn record_import(
        &self,
        repository: &str,
        manifest: &S3Url,
        commit_id: &str,
    ) -> Result<(), CatalogError> {
        let (dynamo, table) = self.catalog.table();
        dynamo
            .put_item()
            .table_name(table)
            .item("pk", AttributeValue::S(format!("import#{repository}")))
            .item("sk", AttributeValue::S(manifest.to_string()))
            .item("commit_id", AttributeValue::S(commit_id.into()))
            .item("imported_at", AttributeValue::S(Utc::now().to_rfc3339()))
            .send()
            .await
            .map_err(|e| dynamo_error(table, e))?;
        Ok(())
    }

    /// The commit an earlier import of `manifest` made, if any.
    pub async fn imported(
        &self,
        repository: &str,
        manifest: &S3Url,
    ) -> Result<Option<String>, CatalogError> {
        match self
            .get_item(&format!("import#{repository}"), &manifest.to_string())
            .await?
        {
            Some(item) => Ok(Some(text_attribute(&item, "commit_id")?)),
            None => Ok(None),
        }
    }

    async fn get_item(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, CatalogError> {
        let (dynamo, table) = self.catalog.table();
        Ok(dynamo::get_item(dynamo, table, pk, sk).await?)
    }

    async fn query_all(
        &self,
        pk: &str,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, CatalogError> {
        let (dynamo, table) = self.catalog.table();
        Ok(dynamo::query_all(dynamo, table, pk, None).await?)
    }
}

fn dynamo_error(table: &str, err: impl std::error::Error) -> CatalogError {
    DynamoError::new(table, err).into()
}

fn source_from_item(item: &HashMap<String, AttributeValue>) -> Result<ImportSource, CatalogError> {
    let inventory = text_attribute(item, "sk")?;
    Ok(ImportSource {
        inventory: inventory.parse().map_err(|_| CatalogError::Damaged {
            key: dynamo::item_key(item),
            reason: format!("{inventory:?} is not an S3 URL"),
        })?,
        repository: text_attribute(item, "repository")?,
        merge_into: text_attribute(item, "merge_into").ok(),
        scope: ImportScope {
            prefix: text_attribute(item, "prefix").unwrap_or_default(),
            path: text_attribute(item, "path").unwrap_or_default(),
            // Sources recorded before they had a branch of their own.
            branch: text_attribute(item, "branch")
                .unwrap_or_else(|_| inventory_catalog::catalog::IMPORT_BRANCH.to_string()),
        },
    })
}
