//! Repositories, branches, commits, objects, a branch's uncommitted changes, diffs and
//! merges: the catalog through the API.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;

use inventory_catalog::catalog::{CommitInfo, ListOptions, MergeOutcome};
use inventory_catalog::diff::ConflictStrategy;

use super::ApiState;
use super::auth::Caller;
use super::error::ApiError;
use super::model::{
    Branch, Change, Commit, Committed, Deleted, DiffPage, DiffQuery, ListQuery, LogQuery,
    MergeRequest, Merged, NewBranch, NewCommit, NewRepository, Object, ObjectPage, PathQuery,
    Repository, ResetDone, ResetRequest,
};

/// Bytes an upload sends to the storage namespace per request.
const PART_SIZE: usize = 8 << 20;

/// The most items a page holds.
const MAX_PAGE: usize = 1000;

/// Repositories.
#[utoipa::path(get, path = "/repositories", tag = "repositories",
    responses((status = 200, body = Vec<Repository>), (status = 401, body = ApiError)))]
pub async fn list_repositories(
    State(state): State<ApiState>,
    _: Caller,
) -> Result<Json<Vec<Repository>>, ApiError> {
    let repositories = state.catalog.list_repositories().await?;
    Ok(Json(
        repositories.into_iter().map(Repository::from).collect(),
    ))
}

/// Creates a repository; its default branch starts at an empty commit.
#[utoipa::path(post, path = "/repositories", tag = "repositories", request_body = NewRepository,
    responses((status = 201, body = Repository), (status = 400, body = ApiError), (status = 409, body = ApiError)))]
pub async fn create_repository(
    State(state): State<ApiState>,
    _: Caller,
    Json(new): Json<NewRepository>,
) -> Result<(StatusCode, Json<Repository>), ApiError> {
    let repository = state
        .catalog
        .create_repository(
            &new.name,
            &new.storage_namespace,
            new.default_branch.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(repository.into())))
}

/// A repository.
#[utoipa::path(get, path = "/repositories/{repository}", tag = "repositories",
    params(("repository" = String, Path)),
    responses((status = 200, body = Repository), (status = 404, body = ApiError)))]
pub async fn get_repository(
    State(state): State<ApiState>,
    _: Caller,
    Path(repository): Path<String>,
) -> Result<Json<Repository>, ApiError> {
    Ok(Json(state.catalog.repository(&repository).await?.into()))
}

/// Deletes a repository's metadata (branches, commits); objects are never deleted.
#[utoipa::path(delete, path = "/repositories/{repository}", tag = "repositories",
    params(("repository" = String, Path)),
    responses((status = 200, body = Deleted), (status = 404, body = ApiError)))]
pub async fn delete_repository(
    State(state): State<ApiState>,
    _: Caller,
    Path(repository): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    state.catalog.delete_repository(&repository).await?;
    Ok(Json(Deleted {
        deleted: repository,
    }))
}

/// Branches of a repository.
#[utoipa::path(get, path = "/repositories/{repository}/branches", tag = "branches",
    params(("repository" = String, Path)),
    responses((status = 200, body = Vec<Branch>), (status = 404, body = ApiError)))]
pub async fn list_branches(
    State(state): State<ApiState>,
    _: Caller,
    Path(repository): Path<String>,
) -> Result<Json<Vec<Branch>>, ApiError> {
    let branches = state.catalog.list_branches(&repository).await?;
    Ok(Json(branches.into_iter().map(Branch::from).collect()))
}

/// Creates a branch at a ref.
#[utoipa::path(post, path = "/repositories/{repository}/branches", tag = "branches",
    params(("repository" = String, Path)), request_body = NewBranch,
    responses((status = 400, body = ApiError), (status = 201, body = Branch), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn create_branch(
    State(state): State<ApiState>,
    _: Caller,
    Path(repository): Path<String>,
    Json(new): Json<NewBranch>,
) -> Result<(StatusCode, Json<Branch>), ApiError> {
    let branch = state
        .catalog
        .create_branch(&repository, &new.name, &new.source)
        .await?;
    Ok((StatusCode::CREATED, Json(branch.into())))
}

/// Deletes a branch (not the default branch).
#[utoipa::path(delete, path = "/repositories/{repository}/branches/{branch}", tag = "branches",
    params(("repository" = String, Path), ("branch" = String, Path)),
    responses((status = 200, body = Deleted), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn delete_branch(
    State(state): State<ApiState>,
    _: Caller,
    Path((repository, branch)): Path<(String, String)>,
) -> Result<Json<Deleted>, ApiError> {
    state.catalog.delete_branch(&repository, &branch).await?;
    Ok(Json(Deleted { deleted: branch }))
}

/// The commits of a ref, newest first, following first parents.
#[utoipa::path(get, path = "/repositories/{repository}/refs/{ref}/commits", tag = "commits",
    params(("repository" = String, Path), ("ref" = String, Path), LogQuery),
    responses((status = 200, body = Vec<Commit>), (status = 404, body = ApiError)))]
pub async fn log(
    State(state): State<ApiState>,
    _: Caller,
    Path((repository, reference)): Path<(String, String)>,
    Query(query): Query<LogQuery>,
) -> Result<Json<Vec<Commit>>, ApiError> {
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let commits = state.catalog.log(&repository, &reference, limit).await?;
    Ok(Json(commits.into_iter().map(Commit::from).collect()))
}

/// The commit a ref names.
#[utoipa::path(get, path = "/repositories/{repository}/refs/{ref}", tag = "commits",
    params(("repository" = String, Path), ("ref" = String, Path)),
    responses((status = 200, body = Commit), (status = 404, body = ApiError)))]
pub async fn resolve(
    State(state): State<ApiState>,
    _: Caller,
    Path((repository, reference)): Path<(String, String)>,
) -> Result<Json<Commit>, ApiError> {
    Ok(Json(
        state.catalog.resolve(&repository, &reference).await?.into(),
    ))
}

/// Objects at a ref (a branch with its uncommitted changes), in path order.
#[utoipa::path(get, path = "/repositories/{repository}/refs/{ref}/objects", tag = "objects",
    params(("repository" = String, Path), ("ref" = String, Path), ListQuery),
    responses((status = 200, body = ObjectPage), (status = 404, body = ApiError)))]
pub async fn list_objects(
    State(state): State<ApiState>,
    _: Caller,
    Path((repository, reference)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> Result<Json<ObjectPage>, ApiError> {
    let options = ListOptions {
        prefix: query.prefix,
        delimiter: query.delimiter.filter(|d| !d.is_empty()),
        after: query.after,
        limit: query.limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE),
    };
    let listing = state
        .catalog
        .list(&repository, &reference, &options)
        .await?;
    Ok(Json(ObjectPage {
        objects: listing.entries.into_iter().map(Object::from).collect(),
        common_prefixes: listing.common_prefixes,
        next_after: listing.next_after,
    }))
}

/// One object's metadata.
#[utoipa::path(get, path = "/repositories/{repository}/refs/{ref}/objects/stat", tag = "objects",
    params(("repository" = String, Path), ("ref" = String, Path), PathQuery),
    responses((status = 200, body = Object), (status = 404, body = ApiError)))]
pub async fn stat_object(
    State(state): State<ApiState>,
    _: Caller,
    Path((repository, reference)): Path<(String, String)>,
    Query(query): Query<PathQuery>,
) -> Result<Json<Object>, ApiError> {
    let entry = state
        .catalog
        .entry(&repository, &reference, &query.path)
        .await?;
    Ok(Json(entry.into()))
}

/// An object's bytes, streamed from where they are.
#[utoipa::path(get, path = "/repositories/{repository}/refs/{ref}/objects/content", tag = "objects",
    params(("repository" = String, Path), ("ref" = String, Path), PathQuery),
    responses((status = 200, description = "the object's bytes", content_type = "application/octet-stream"),
              (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 410, body = ApiError)))]
pub async fn get_object(
    State(state): State<ApiState>,
    _: Caller,
    Path((repository, reference)): Path<(String, String)>,
    Query(query): Query<PathQuery>,
) -> Result<Response, ApiError> {
    let (entry, body) = state
        .catalog
        .open(&repository, &reference, &query.path)
        .await?;
    let name = query
        .path
        .rsplit('/')
        .next()
        .unwrap_or("object")
        .replace('"', "");
    let stream = crate::body::ObjectBody::new(body);
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, entry.size.to_string()),
            (header::ETAG, format!("\"{}\"", entry.etag)),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Uploads an object to a branch, as an uncommitted change (the body is its bytes).
#[utoipa::path(put, path = "/repositories/{repository}/branches/{branch}/objects", tag = "objects",
    params(("repository" = String, Path), ("branch" = String, Path), PathQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 400, body = ApiError), (status = 201, body = Object), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn upload_object(
    State(state): State<ApiState>,
    _: Caller,
    Path((repository, branch)): Path<(String, String)>,
    Query(query): Query<PathQuery>,
    body: Body,
) -> Result<(StatusCode, Json<Object>), ApiError> {
    state
        .catalog
        .writable(&repository, &branch, &query.path, "uploading")
        .await?;
    let reader =
        tokio_util::io::StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
    let entry = state
        .catalog
        .upload(&repository, &branch, &query.path, reader, PART_SIZE)
        .await?;
    Ok((StatusCode::CREATED, Json(entry.into())))
}

/// Deletes an object from a branch, as an uncommitted change.
#[utoipa::path(delete, path = "/repositories/{repository}/branches/{branch}/objects", tag = "objects",
    params(("repository" = String, Path), ("branch" = String, Path), PathQuery),
    responses((status = 400, body = ApiError), (status = 200, body = Deleted), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn delete_object(
    State(state): State<ApiState>,
    _: Caller,
    Path((repository, branch)): Path<(String, String)>,
    Query(query): Query<PathQuery>,
) -> Result<Json<Deleted>, ApiError> {
    state
        .catalog
        .remove(&repository, &branch, &query.path, false)
        .await?;
    Ok(Json(Deleted {
        deleted: query.path,
    }))
}

/// A branch's uncommitted changes, as differences from its head commit.
#[utoipa::path(get, path = "/repositories/{repository}/branches/{branch}/changes", tag = "changes",
    params(("repository" = String, Path), ("branch" = String, Path)),
    responses((status = 200, body = DiffPage), (status = 404, body = ApiError)))]
pub async fn list_changes(
    State(state): State<ApiState>,
    _: Caller,
    Path((repository, branch)): Path<(String, String)>,
) -> Result<Json<DiffPage>, ApiError> {
    let mut changes = Vec::new();
    let summary = state
        .catalog
        .diff_pending(&repository, &branch, |change| {
            changes.push(Change::from(change))
        })
        .await?;
    Ok(Json(DiffPage {
        summary: summary.into(),
        changes,
        next_after: None,
    }))
}

/// Commits a branch's uncommitted changes.
#[utoipa::path(post, path = "/repositories/{repository}/branches/{branch}/commits", tag = "changes",
    params(("repository" = String, Path), ("branch" = String, Path)), request_body = NewCommit,
    responses((status = 404, body = ApiError), (status = 201, body = Committed), (status = 403, body = ApiError), (status = 409, body = ApiError)))]
pub async fn commit(
    State(state): State<ApiState>,
    caller: Caller,
    Path((repository, branch)): Path<(String, String)>,
    Json(new): Json<NewCommit>,
) -> Result<(StatusCode, Json<Committed>), ApiError> {
    let info = CommitInfo {
        message: new.message,
        committer: caller.access_key_id,
        metadata: new.metadata,
    };
    let committed = state
        .catalog
        .commit_changes(&repository, &branch, info)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Committed {
            commit: committed.commit.into(),
            changes: committed.changes,
        }),
    ))
}

/// Discards a branch's uncommitted changes (or one path's).
#[utoipa::path(post, path = "/repositories/{repository}/branches/{branch}/reset", tag = "changes",
    params(("repository" = String, Path), ("branch" = String, Path)), request_body = ResetRequest,
    responses((status = 400, body = ApiError), (status = 200, body = ResetDone), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn reset(
    State(state): State<ApiState>,
    _: Caller,
    Path((repository, branch)): Path<(String, String)>,
    Json(request): Json<ResetRequest>,
) -> Result<Json<ResetDone>, ApiError> {
    let discarded = state
        .catalog
        .reset(&repository, &branch, request.path.as_deref())
        .await?;
    Ok(Json(ResetDone { discarded }))
}

/// Differences from one ref to another, a page at a time, with the whole diff's counts.
#[utoipa::path(get, path = "/repositories/{repository}/diff", tag = "compare",
    params(("repository" = String, Path), DiffQuery),
    responses((status = 200, body = DiffPage), (status = 404, body = ApiError)))]
pub async fn diff(
    State(state): State<ApiState>,
    _: Caller,
    Path(repository): Path<String>,
    Query(query): Query<DiffQuery>,
) -> Result<Json<DiffPage>, ApiError> {
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let page = state
        .catalog
        .diff_page(
            &repository,
            &query.left,
            &query.right,
            query.after.as_deref(),
            limit,
        )
        .await?;
    Ok(Json(DiffPage {
        summary: page.summary.into(),
        changes: page.changes.into_iter().map(Change::from).collect(),
        next_after: page.next_after,
    }))
}

/// Merges a ref into a branch.
#[utoipa::path(post, path = "/repositories/{repository}/branches/{branch}/merge", tag = "compare",
    params(("repository" = String, Path), ("branch" = String, Path)), request_body = MergeRequest,
    responses((status = 400, body = ApiError), (status = 404, body = ApiError), (status = 200, body = Merged), (status = 403, body = ApiError), (status = 409, body = ApiError)))]
pub async fn merge(
    State(state): State<ApiState>,
    caller: Caller,
    Path((repository, branch)): Path<(String, String)>,
    Json(request): Json<MergeRequest>,
) -> Result<Json<Merged>, ApiError> {
    let strategy = match request.strategy.as_deref().unwrap_or("fail") {
        "fail" => ConflictStrategy::Fail,
        "source-wins" => ConflictStrategy::SourceWins,
        "dest-wins" => ConflictStrategy::DestWins,
        other => {
            return Err(ApiError::bad_request(
                "invalid_strategy",
                format!("strategy {other:?}: use fail, source-wins or dest-wins"),
            ));
        }
    };
    let outcome = state
        .catalog
        .merge(
            &repository,
            &request.source,
            &branch,
            strategy,
            &caller.access_key_id,
            request.message.as_deref(),
        )
        .await?;
    Ok(Json(match outcome {
        MergeOutcome::UpToDate { commit } => Merged {
            outcome: "up-to-date".into(),
            commit,
            conflicts_resolved: 0,
        },
        MergeOutcome::FastForward { commit } => Merged {
            outcome: "fast-forward".into(),
            commit,
            conflicts_resolved: 0,
        },
        MergeOutcome::Merged {
            commit,
            conflicts_resolved,
        } => Merged {
            outcome: "merged".into(),
            commit: commit.id,
            conflicts_resolved,
        },
    }))
}
