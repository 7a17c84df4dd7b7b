//! The API's errors: JSON with a stable `code` a program can match and the message the
//! CLI prints for the same problem.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use inventory_catalog::catalog::CatalogError;

/// An error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiError {
    /// Stable, machine-readable: `repository_not_found`, `ref_not_found`, …
    pub code: String,
    /// What went wrong, for a person (the CLI's message for the same problem).
    pub message: String,
    /// The conflicting paths of a merge refused with `merge_conflicts` (the first
    /// hundred; the message gives their number).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
    #[serde(skip)]
    pub status: u16,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            code: code.to_string(),
            message: message.into(),
            conflicts: Vec::new(),
            status: status.as_u16(),
        }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn internal(err: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %err, "API request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the request failed on the server; its log has the details",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self)).into_response()
    }
}

impl From<CatalogError> for ApiError {
    fn from(err: CatalogError) -> ApiError {
        use CatalogError as E;
        let (status, code) = match &err {
            E::InvalidName { .. } => (StatusCode::BAD_REQUEST, "invalid_name"),
            E::RepositoryExists(_) => (StatusCode::CONFLICT, "repository_exists"),
            E::RepositoryNotFound(_) => (StatusCode::NOT_FOUND, "repository_not_found"),
            E::BranchExists { .. } => (StatusCode::CONFLICT, "branch_exists"),
            E::BranchNotFound { .. } => (StatusCode::NOT_FOUND, "branch_not_found"),
            E::RefNotFound { .. } => (StatusCode::NOT_FOUND, "ref_not_found"),
            E::AmbiguousRef { .. } => (StatusCode::BAD_REQUEST, "ambiguous_ref"),
            E::NoSuchAncestor { .. } => (StatusCode::NOT_FOUND, "no_such_ancestor"),
            E::DefaultBranch { .. } => (StatusCode::CONFLICT, "default_branch"),
            E::Conflict { .. } => (StatusCode::CONFLICT, "branch_moved"),
            E::MergeConflicts { .. } => (StatusCode::CONFLICT, "merge_conflicts"),
            E::PathNotFound { .. } => (StatusCode::NOT_FOUND, "path_not_found"),
            E::SourceMissing { .. } => (StatusCode::GONE, "source_missing"),
            E::ChangedInSource { .. } => (StatusCode::CONFLICT, "changed_in_source"),
            E::ImportBranch { .. } => (StatusCode::FORBIDDEN, "import_branch"),
            E::NotABranch { .. } => (StatusCode::FORBIDDEN, "not_a_branch"),
            E::InvalidPath { .. } => (StatusCode::BAD_REQUEST, "invalid_path"),
            E::NothingToCommit { .. } => (StatusCode::CONFLICT, "nothing_to_commit"),
            E::UncommittedChanges { .. } => (StatusCode::CONFLICT, "uncommitted_changes"),
            E::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            E::InvalidNamespace(_) => (StatusCode::BAD_REQUEST, "invalid_storage_namespace"),
            E::UploadNotFound { .. } => (StatusCode::NOT_FOUND, "upload_not_found"),
            E::InvalidPart { .. } | E::InvalidPartOrder { .. } | E::PartTooSmall { .. } => {
                (StatusCode::BAD_REQUEST, "invalid_part")
            }
            _ => return ApiError::internal(err),
        };
        let conflicts = match &err {
            E::MergeConflicts { paths, .. } => paths.clone(),
            _ => Vec::new(),
        };
        ApiError {
            conflicts,
            ..ApiError::new(status, code, err.to_string())
        }
    }
}
