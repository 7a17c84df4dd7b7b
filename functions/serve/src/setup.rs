//! The endpoint built from configuration, the same way wherever it runs: on a host
//! (`inventory-import serve`) or in AWS Lambda behind a Function URL (the `api`
//! function). The catalog table is named by [`CATALOG_TABLE`], the bytes are read and
//! written through S3, and issued secrets are sealed as [`Sealer::from_env`] says. The
//! JSON API starts imports with the tables and queues the environment names, as the
//! CLI does ([`ResourceNames::from_env`]).

use aws_config::SdkConfig;
use axum::Router;
use inventory_base::ObjectStore;
use inventory_catalog::catalog::{Catalog, DEFAULT_TABLE};

use inventory_runtime::resources::ResourceNames;

use crate::api::imports::Imports;
use crate::keys::{KeyError, Keys, Sealer};
use crate::router::router;
use crate::s3::CatalogS3;

/// The environment variable naming the catalog table (default [`DEFAULT_TABLE`]), as
/// for every other part of the product.
pub const CATALOG_TABLE: &str = "CATALOG_TABLE";

/// The catalog table the environment names, or the default one.
pub fn table_from_env() -> String {
    std::env::var(CATALOG_TABLE)
        .ok()
        .filter(|table| !table.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_TABLE.to_string())
}

/// The router over the catalog in `table`, reached with `config` (DynamoDB for the
/// catalog and the access keys, S3 for the bytes), with secrets sealed by `sealer`.
/// Imports started through the API use the other tables and the queues the
/// environment names (`JOBS_TABLE`, `STAGING_TABLE`, `SHARD_QUEUE`, `COMMIT_QUEUE`, …),
/// reached only when an import is asked for.
pub fn router_with(config: &SdkConfig, table: &str, sealer: Sealer) -> Router {
    let dynamo = aws_sdk_dynamodb::Client::new(config);
    let store = ObjectStore::S3(inventory_base::aws::s3_relay_client(config));
    let catalog = Catalog::new(dynamo.clone(), table, store);
    let names = ResourceNames {
        catalog_table: table.to_string(),
        ..ResourceNames::from_env()
    };
    router(
        CatalogS3::new(catalog),
        Keys::new(dynamo, table, sealer),
        Imports::new(config, names),
    )
}

/// The router over the catalog in `table`, reached with `config`, with secrets sealed
/// by the key the environment names (`SECRETS_KMS_KEY_ID` or `SECRETS_SEALING_KEY`).
pub fn router_from_config(config: &SdkConfig, table: &str) -> Result<Router, KeyError> {
    let sealer = Sealer::from_env(config)?;
    Ok(router_with(config, table, sealer))
}

/// The router configured by the environment alone: the AWS configuration chain, the
/// catalog table ([`table_from_env`]) and the sealing key.
pub async fn router_from_env() -> Result<Router, KeyError> {
    let config = inventory_base::aws::load_config().await;
    router_from_config(&config, &table_from_env())
}
