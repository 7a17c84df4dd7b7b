//! The messages the functions exchange, and what each function does with one.
//!
//! The trigger takes S3 notifications (through SQS) or a direct invocation; a worker
//! takes one shard: a group of a delivery's data files.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::inspect::{
    InspectError, InspectOptions, ManifestReport, check_data_files_exist, inspect_manifest,
    read_data_file,
};
use crate::inventory::SkipCounts;
use crate::location::S3Url;
use crate::manifest::Manifest;
use crate::storage::ObjectStore;

/// `{"manifest": "s3://…/manifest.json", "repository": "…", "dry_run": true}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectInvocation {
    pub manifest: S3Url,
    #[serde(default)]
    pub repository: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error(transparent)]
    Inspect(#[from] InspectError),
    #[error(
        "only dry runs can be started for {manifest}: this deployment has no catalog to import into"
    )]
    NoCatalog { manifest: S3Url },
    #[error("shard task for {manifest} names data file {key}, which the manifest does not list")]
    UnknownFile { manifest: S3Url, key: String },
}

/// Validates the delivery and reports what an import of it would hold.
pub async fn run_direct_invocation(
    store: &ObjectStore,
    invocation: &DirectInvocation,
    temp_dir: &Path,
) -> Result<ManifestReport, TaskError> {
    if !invocation.dry_run {
        return Err(TaskError::NoCatalog {
            manifest: invocation.manifest.clone(),
        });
    }
    let options = InspectOptions {
        temp_dir: temp_dir.to_path_buf(),
    };
    let (report, ()) = inspect_manifest(store, &invocation.manifest, &options, (), |_| {}).await?;
    Ok(report)
}

/// One worker's share of a delivery: some of its data files, by key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardTask {
    pub manifest: S3Url,
    pub files: Vec<String>,
}

/// What a worker read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardReport {
    pub files: usize,
    pub rows: u64,
    pub objects: u64,
    pub skipped: SkipCounts,
}

/// Reads the shard's data files, verifying each against the manifest.
pub async fn run_shard(
    store: &ObjectStore,
    task: &ShardTask,
    temp_dir: &Path,
) -> Result<ShardReport, TaskError> {
    let manifest = Manifest::load(store, &task.manifest)
        .await
        .map_err(InspectError::from)?;
    let mut shard = manifest.clone();
    shard.files = task
        .files
        .iter()
        .map(|key| {
            manifest
                .files
                .iter()
                .find(|f| &f.key == key)
                .cloned()
                .ok_or_else(|| TaskError::UnknownFile {
                    manifest: task.manifest.clone(),
                    key: key.clone(),
                })
        })
        .collect::<Result<_, _>>()?;
    check_data_files_exist(store, &shard).await?;
    let mut report = ShardReport::default();
    for file in &shard.files {
        let (file_report, _, ()) = read_data_file(store, &shard, file, temp_dir, ()).await?;
        report.files += 1;
        report.rows += file_report.rows;
        report.objects += file_report.entries;
        report.skipped.add(&file_report.skipped);
    }
    Ok(report)
}
