//! Import sources and imports through the API: which inventory configurations feed a
//! repository; a dry run of a delivery; starting an import (the trigger's direct
//! invocation, as `inventory-import import` makes it), and its jobs. The workers and
//! the committer do the rest, as for a delivery S3 announces.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use tokio::sync::OnceCell;

use inventory_base::S3Url;
use inventory_catalog::catalog::Catalog;
use inventory_delivery::inspect::InspectError;
use inventory_delivery::manifest::ManifestError;
use inventory_importer::jobs::{JobError, JobTable};
use inventory_importer::pipeline::{PipelineError, Started};
use inventory_importer::sources::{ImportScope, ImportSource, ImportSources, SourceError};
use inventory_importer::stalls::{self, Patience};
use inventory_runtime::handlers::{
    DRY_RUN_IN_PROCESS_BYTES, DirectInvocation, HandlerError, Handlers, SHARD_TARGET_BYTES,
    TASKS_RESEND_AFTER_SECONDS,
};
use inventory_runtime::queues::MAX_RECEIVES;
use inventory_runtime::resources::ResourceNames;

use super::ApiState;
use super::auth::Caller;
use super::error::ApiError;
use super::import_model::{
    AlreadyImported, ImportJob, ImportOutcome, ImportStatus, ImportTest, NewImport, NewSource,
    Source, SourceQuery,
};
use super::model::Deleted;

/// How long a task waits for its function before its queue delivers it again, as the
/// local runners are configured (`status` reads the same variable); the shard queue's
/// own visibility timeout when unset.
const LOCAL_VISIBILITY_TIMEOUT: &str = "LOCAL_VISIBILITY_TIMEOUT_SECONDS";

/// What the imports part of the API works with: the jobs table, and the trigger's
/// handlers with the queues to the workers. The handlers are made on the first request
/// that needs them (finding the queues takes requests to SQS) and kept; a server that
/// is never asked to import never reaches the queues.
#[derive(Clone, Debug)]
pub struct Imports {
    config: SdkConfig,
    names: ResourceNames,
    jobs: JobTable,
    handlers: Arc<OnceCell<Handlers>>,
}

impl Imports {
    /// The product's tables and queues named by `names`, reached with `config`; the
    /// settings `inventory-import import` reads from the environment
    /// (`SHARD_TARGET_BYTES`, `DRY_RUN_IN_PROCESS_BYTES`, `TASKS_RESEND_AFTER_SECONDS`)
    /// apply alike.
    pub fn new(config: &SdkConfig, names: ResourceNames) -> Imports {
        let jobs = JobTable::new(aws_sdk_dynamodb::Client::new(config), &names.jobs_table);
        Imports {
            config: config.clone(),
            names,
            jobs,
            handlers: Arc::new(OnceCell::new()),
        }
    }

    /// The trigger's handlers, made once.
    async fn handlers(&self) -> Result<&Handlers, ApiError> {
        self.handlers
            .get_or_try_init(|| async {
                let mut handlers = Handlers::from_config(&self.config, self.names.clone())
                    .await
                    .map_err(unavailable)?;
                if let Some(bytes) =
                    env_number(SHARD_TARGET_BYTES, 1, "a positive number of bytes")?
                {
                    handlers.pipeline.shard_bytes = bytes;
                }
                handlers.dry_run_in_process_bytes =
                    env_number(DRY_RUN_IN_PROCESS_BYTES, 0, "a number of bytes")?;
                if let Some(seconds) =
                    env_number(TASKS_RESEND_AFTER_SECONDS, 0, "a number of seconds")?
                {
                    handlers.tasks_resend_after = Duration::from_secs(seconds);
                }
                Ok(handlers)
            })
            .await
    }

    /// How long and how often the queues wait for a task's function, as `status`
    /// judges a stall.
    async fn patience(&self) -> Result<Patience, ApiError> {
        let local = std::env::var(LOCAL_VISIBILITY_TIMEOUT)
            .ok()
            .and_then(|v| v.parse::<u64>().ok());
        let timeout = match local {
            Some(seconds) => Duration::from_secs(seconds),
            None => {
                let handlers = self.handlers().await?;
                handlers
                    .queues
                    .visibility_timeout(&handlers.shard_queue_url)
                    .await
                    .map_err(|err| ApiError::from(HandlerError::from(err)))?
            }
        };
        Ok(Patience {
            timeout,
            deliveries: MAX_RECEIVES,
        })
    }
}

/// The handlers could not be made: a setting that is wrong says so on its own;
/// otherwise the tables or queues are not there (or not reachable), as the CLI says.
fn unavailable(err: HandlerError) -> ApiError {
    match err {
        HandlerError::Config(_) => configuration(chain(&err)),
        err => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "imports_unavailable",
            format!(
                "connecting to the product's queues and tables (run `inventory-import dev init` first): {}",
                chain(&err)
            ),
        ),
    }
}

fn configuration(message: String) -> ApiError {
    tracing::error!(error = %message, "the server's configuration is wrong");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "configuration", message)
}

/// The number the environment variable `name` holds, if set and not empty; one below
/// `min` or not a number is a configuration error that says it should be `what` (as
/// the CLI reads it).
fn env_number(name: &str, min: u64, what: &str) -> Result<Option<u64>, ApiError> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value
            .parse::<u64>()
            .ok()
            .filter(|number| *number >= min)
            .map(Some)
            .ok_or_else(|| configuration(format!("{name} is {value:?}, not {what}"))),
        _ => Ok(None),
    }
}

/// An error and its causes, as the CLI prints it (`error: <this>`).
fn chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

impl From<HandlerError> for ApiError {
    fn from(err: HandlerError) -> ApiError {
        match err {
            HandlerError::Pipeline(err) => (*err).into(),
            HandlerError::Catalog(err) => err.into(),
            HandlerError::NoRepository { .. } => {
                ApiError::bad_request("no_repository", chain(&err))
            }
            HandlerError::Config(_) => configuration(chain(&err)),
            err => ApiError::internal(chain(&err)),
        }
    }
}

impl From<PipelineError> for ApiError {
    fn from(err: PipelineError) -> ApiError {
        use PipelineError as E;
        let message = chain(&err);
        let (status, code) = match err {
            E::Catalog(err) => return err.into(),
            E::Jobs(err) => return err.into(),
            E::Inspect(err) => return inspect_error(err, message),
            E::OlderThanLastImport { .. } => (StatusCode::CONFLICT, "older_than_last_import"),
            E::AlreadyFinished { .. } => (StatusCode::CONFLICT, "import_finished"),
            E::TooLateToCancel { .. } => (StatusCode::CONFLICT, "too_late_to_cancel"),
            E::Cancelled { .. } => (StatusCode::CONFLICT, "import_cancelled"),
            E::ForeignDelivery { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "foreign_delivery"),
            E::Staging(_) | E::Tree(_) | E::UnknownShard { .. } | E::GivenUp { .. } => {
                return ApiError::internal(message);
            }
        };
        ApiError::new(status, code, message)
    }
}

impl From<JobError> for ApiError {
    fn from(err: JobError) -> ApiError {
        match err {
            JobError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "job_not_found", chain(&err))
            }
            err => ApiError::internal(chain(&err)),
        }
    }
}

impl From<SourceError> for ApiError {
    fn from(err: SourceError) -> ApiError {
        match err {
            SourceError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "source_not_found", chain(&err))
            }
            SourceError::BranchTaken { .. } => {
                ApiError::new(StatusCode::CONFLICT, "branch_taken", chain(&err))
            }
            SourceError::UserBranch { .. } => {
                ApiError::new(StatusCode::CONFLICT, "user_branch", chain(&err))
            }
            SourceError::Catalog(err) => err.into(),
        }
    }
}

/// What is wrong with a delivery (its manifest, checksum, data files), or why it could
/// not be read.
fn inspect_error(err: InspectError, message: String) -> ApiError {
    use InspectError as I;
    use ManifestError as M;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let (status, code) = match &err {
        I::Manifest(manifest) => match manifest {
            M::Missing { .. } => (StatusCode::NOT_FOUND, "manifest_not_found"),
            M::Unreadable { .. } => (StatusCode::BAD_GATEWAY, "manifest_unreadable"),
            M::Malformed { .. } => (unprocessable, "manifest_malformed"),
            M::MalformedChecksum { .. } => (unprocessable, "checksum_malformed"),
            M::ChecksumMismatch { .. } => (unprocessable, "checksum_mismatch"),
            M::UnsupportedFormat { .. } => (unprocessable, "unsupported_format"),
            M::MissingColumns { .. } => (unprocessable, "missing_columns"),
        },
        I::MissingDataFiles { .. } => (unprocessable, "data_files_missing"),
        I::SizeMismatch { .. } => (unprocessable, "data_file_size_mismatch"),
        I::Md5Mismatch { .. } => (unprocessable, "data_file_checksum_mismatch"),
        I::Storage(storage) if storage.is_not_found() => (unprocessable, "data_files_missing"),
        I::Storage(_) => (StatusCode::BAD_GATEWAY, "delivery_unreadable"),
        I::Inventory(_) => (unprocessable, "data_file_invalid"),
        I::Interrupted { .. } => (StatusCode::BAD_GATEWAY, "delivery_unreadable"),
    };
    ApiError::new(status, code, message)
}

/// A URL the request names, or what is wrong with it (as the CLI says of its argument).
fn s3_url(url: &str, code: &str) -> Result<S3Url, ApiError> {
    url.parse::<S3Url>()
        .map_err(|err| ApiError::bad_request(code, err.to_string()))
}

/// The import sources that feed `repository` (which must exist).
async fn sources_of(catalog: &Catalog, repository: &str) -> Result<Vec<ImportSource>, ApiError> {
    catalog.repository(repository).await?;
    Ok(ImportSources::new(catalog)
        .list_sources()
        .await?
        .into_iter()
        .filter(|source| source.repository == repository)
        .collect())
}

/// The inventory configurations that feed a repository.
#[utoipa::path(get, path = "/repositories/{repository}/sources", tag = "imports",
    params(("repository" = String, Path)),
    responses((status = 200, body = Vec<Source>), (status = 404, body = ApiError)))]
pub async fn list_sources(
    State(state): State<ApiState>,
    _: Caller,
    Path(repository): Path<String>,
) -> Result<Json<Vec<Source>>, ApiError> {
    let sources = sources_of(&state.catalog, &repository).await?;
    Ok(Json(sources.into_iter().map(Source::from).collect()))
}

/// Records that an inventory configuration feeds the repository: its deliveries are
/// imported as S3 announces them (replacing the repository it fed, if any).
#[utoipa::path(post, path = "/repositories/{repository}/sources", tag = "imports",
    params(("repository" = String, Path)), request_body = NewSource,
    responses((status = 201, body = Source), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
pub async fn add_source(
    State(state): State<ApiState>,
    _: Caller,
    Path(repository): Path<String>,
    Json(new): Json<NewSource>,
) -> Result<(StatusCode, Json<Source>), ApiError> {
    let inventory = s3_url(&new.inventory, "invalid_inventory_url")?;
    let scope = ImportScope::new(
        new.prefix.as_deref(),
        new.path.as_deref(),
        new.branch.as_deref(),
    )?;
    let source = ImportSources::new(&state.catalog)
        .add_source(&ImportSource {
            merge_into: new.merge_into,
            scope,
            ..ImportSource::new(inventory, repository)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(source.into())))
}

/// Forgets an import source of the repository: later deliveries are not imported.
#[utoipa::path(delete, path = "/repositories/{repository}/sources", tag = "imports",
    params(("repository" = String, Path), SourceQuery),
    responses((status = 200, body = Deleted), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
pub async fn remove_source(
    State(state): State<ApiState>,
    _: Caller,
    Path(repository): Path<String>,
    Query(query): Query<SourceQuery>,
) -> Result<Json<Deleted>, ApiError> {
    let inventory = s3_url(&query.inventory, "invalid_inventory_url")?;
    // As the source was recorded: its prefix, ending with `/`.
    let prefix = S3Url::new(
        &inventory.bucket,
        format!("{}/", inventory.key.trim_end_matches('/')),
    )
    .to_string();
    let feeds_it = sources_of(&state.catalog, &repository)
        .await?
        .iter()
        .any(|source| source.inventory.to_string() == prefix);
    if !feeds_it {
        // Another repository's source is not this one's to remove.
        return Err(SourceError::NotFound(prefix).into());
    }
    ImportSources::new(&state.catalog)
        .remove_source(&inventory)
        .await?;
    Ok(Json(Deleted { deleted: prefix }))
}

/// Reads a delivery and works out what importing it would do: objects added, changed,
/// deleted and unchanged, and rows skipped by reason; writes nothing to the
/// repository. A delivery larger than the server reads itself
/// (`DRY_RUN_IN_PROCESS_BYTES`) is left to the workers: the job is answered while it
/// runs, and has the counts once it has finished.
#[utoipa::path(post, path = "/repositories/{repository}/imports/test", tag = "imports",
    params(("repository" = String, Path)), request_body = ImportTest,
    responses((status = 200, body = ImportJob), (status = 400, body = ApiError), (status = 404, body = ApiError),
              (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn dry_run_import(
    State(state): State<ApiState>,
    _: Caller,
    Path(repository): Path<String>,
    Json(request): Json<ImportTest>,
) -> Result<Json<ImportJob>, ApiError> {
    let manifest = s3_url(&request.manifest, "invalid_manifest_url")?;
    let handlers = state.imports.handlers().await?;
    let started = handlers
        .direct(&DirectInvocation {
            manifest,
            repository: Some(repository),
            dry_run: true,
            force: false,
        })
        .await?;
    match started {
        Started::Started { job, .. } | Started::Existing { job } => Ok(Json(job.into())),
        Started::AlreadyImported { manifest, .. } => Err(ApiError::internal(format!(
            "a dry run of {manifest} answered that it was imported before"
        ))),
    }
}

/// Starts importing a delivery: the workers stage it and the committer commits it to
/// the import branch (and merges it where the source says). Answers the new job (201);
/// the delivery's job when it has one already, or the commit of the manifest's earlier
/// import (200; `force` imports it again).
#[utoipa::path(post, path = "/repositories/{repository}/imports", tag = "imports",
    params(("repository" = String, Path)), request_body = NewImport,
    responses((status = 201, body = ImportJob), (status = 200, body = ImportOutcome),
              (status = 400, body = ApiError), (status = 404, body = ApiError),
              (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn start_import(
    State(state): State<ApiState>,
    _: Caller,
    Path(repository): Path<String>,
    Json(request): Json<NewImport>,
) -> Result<(StatusCode, Json<ImportOutcome>), ApiError> {
    let manifest = s3_url(&request.manifest, "invalid_manifest_url")?;
    let handlers = state.imports.handlers().await?;
    let started = handlers
        .direct(&DirectInvocation {
            manifest,
            repository: Some(repository),
            dry_run: false,
            force: request.force,
        })
        .await?;
    Ok(match started {
        Started::Started { job, .. } => (
            StatusCode::CREATED,
            Json(ImportOutcome::Job(Box::new(job.into()))),
        ),
        Started::Existing { job } => (
            StatusCode::OK,
            Json(ImportOutcome::Job(Box::new(job.into()))),
        ),
        Started::AlreadyImported { manifest, commit } => (
            StatusCode::OK,
            Json(ImportOutcome::AlreadyImported(AlreadyImported {
                already_imported: true,
                manifest: manifest.to_string(),
                commit,
            })),
        ),
    })
}

/// The repository's import jobs (dry runs too), newest first.
#[utoipa::path(get, path = "/repositories/{repository}/imports", tag = "imports",
    params(("repository" = String, Path)),
    responses((status = 200, body = Vec<ImportJob>), (status = 404, body = ApiError)))]
pub async fn list_imports(
    State(state): State<ApiState>,
    _: Caller,
    Path(repository): Path<String>,
) -> Result<Json<Vec<ImportJob>>, ApiError> {
    state.catalog.repository(&repository).await?;
    let jobs = state.imports.jobs.list(&repository).await?;
    Ok(Json(jobs.into_iter().map(ImportJob::from).collect()))
}

/// One job: its state; while it runs, its progress (shards, data files and rows done)
/// and why it is not moving if it is stalled; once finished, its summary, commit or
/// error.
#[utoipa::path(get, path = "/repositories/{repository}/imports/{job}", tag = "imports",
    params(("repository" = String, Path), ("job" = String, Path)),
    responses((status = 200, body = ImportStatus), (status = 404, body = ApiError)))]
pub async fn get_import(
    State(state): State<ApiState>,
    _: Caller,
    Path((repository, job)): Path<(String, String)>,
) -> Result<Json<ImportStatus>, ApiError> {
    let jobs = &state.imports.jobs;
    let mut job = jobs.get(&repository, &job).await?;
    let mut stalled = None;
    if !job.state.is_finished() {
        // Progress so far, from the shards that are done.
        let shards = jobs.shards(&job.id).await?;
        let done = shards.iter().filter(|s| s.done);
        job.files_done = done.clone().map(|s| s.files.len()).sum();
        job.rows = done.clone().map(|s| s.rows).sum();
        job.entries_staged = done.map(|s| s.entries).sum();
        let patience = state.imports.patience().await?;
        stalled = stalls::stalled(&job, &shards, chrono::Utc::now(), patience);
    }
    Ok(Json(ImportStatus {
        job: job.into(),
        stalled,
    }))
}

/// Stops an import that has not finished: no branch moves, its staged entries are
/// removed, its workers stop after the run they are staging, and the job records who
/// cancelled it. Refused once the job has finished, or once its commit is moving the
/// branch.
#[utoipa::path(post, path = "/repositories/{repository}/imports/{job}/cancel", tag = "imports",
    params(("repository" = String, Path), ("job" = String, Path)),
    responses((status = 200, body = ImportJob), (status = 404, body = ApiError),
        (status = 409, body = ApiError)))]
pub async fn cancel_import(
    State(state): State<ApiState>,
    caller: Caller,
    Path((repository, job)): Path<(String, String)>,
) -> Result<Json<ImportJob>, ApiError> {
    let by = match caller.session {
        Some(_) => format!("{} in the web UI", caller.access_key_id),
        None => format!("{} through the API", caller.access_key_id),
    };
    let handlers = state.imports.handlers().await?;
    let job = handlers.pipeline.cancel(&repository, &job, &by).await?;
    Ok(Json(job.into()))
}
