//! The JSON API under `/api/v1`: what the web UI shows and does, for programs too. The
//! router and its OpenAPI document are built together from the handlers
//! (`utoipa-axum`), so the two cannot drift; the document is served at
//! `/api/v1/openapi.json`.
//!
//! Every route but logging in needs a caller ([`auth`]): a browser's session, or a
//! program's SigV4 signature ([`sigv4`]). Errors are JSON with a stable `code`
//! ([`error`]).

pub mod auth;
pub mod catalog;
pub mod error;
pub mod import_model;
pub mod imports;
pub mod model;
pub mod session;
pub mod sigv4;

use axum::Json;
use axum::Router;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use inventory_catalog::catalog::Catalog;

use crate::keys::Keys;

/// Where the API is mounted.
pub const PREFIX: &str = "/api/v1";

/// What every handler reads.
#[derive(Clone, Debug)]
pub struct ApiState {
    pub catalog: Catalog,
    pub keys: Keys,
    /// Import jobs, and the trigger that starts them.
    pub imports: imports::Imports,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "inventory-import",
        description = "Zero-copy versioning of huge S3 buckets, imported from S3 Inventory: \
            repositories, branches, commits, objects, diffs, merges and imports.",
    ),
    servers((url = "/api/v1")),
    modifiers(&SessionCookie),
    security(("session" = []), ("sigv4" = [])),
)]
struct Document;

/// The session cookie, as the document names it.
struct SessionCookie;

impl utoipa::Modify for SessionCookie {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                auth::COOKIE,
                "from POST /auth/login; changes also carry the session's X-CSRF-Token header",
            ))),
        );
        components.add_security_scheme(
            "sigv4",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "AWS4-HMAC-SHA256 with an issued access key, signed as an S3 request \
                 (the path as sent, x-amz-content-sha256)",
            ))),
        );
    }
}

/// The API's routes (relative to [`PREFIX`]) with their documentation.
fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(Document::openapi())
        .routes(routes!(session::login))
        .routes(routes!(session::logout))
        .routes(routes!(session::current))
        .routes(routes!(
            catalog::list_repositories,
            catalog::create_repository
        ))
        .routes(routes!(catalog::get_repository, catalog::delete_repository))
        .routes(routes!(catalog::list_branches, catalog::create_branch))
        .routes(routes!(catalog::delete_branch))
        .routes(routes!(catalog::resolve))
        .routes(routes!(catalog::log))
        .routes(routes!(catalog::list_objects))
        .routes(routes!(catalog::stat_object))
        .routes(routes!(catalog::get_object))
        .routes(routes!(catalog::upload_object, catalog::delete_object))
        .routes(routes!(catalog::list_changes))
        .routes(routes!(catalog::commit))
        .routes(routes!(catalog::reset))
        .routes(routes!(catalog::diff))
        .routes(routes!(catalog::merge))
        .routes(routes!(
            imports::list_sources,
            imports::add_source,
            imports::remove_source
        ))
        .routes(routes!(imports::dry_run_import))
        .routes(routes!(imports::list_imports, imports::start_import))
        .routes(routes!(imports::get_import))
        .routes(routes!(imports::cancel_import))
}

/// The API's router (relative to [`PREFIX`]), serving its OpenAPI document at
/// `/openapi.json`.
pub fn api(state: ApiState) -> Router {
    let (router, document) = routes().split_for_parts();
    router
        .route(
            "/openapi.json",
            get(move || {
                let document = document.clone();
                async move { Json(document) }
            }),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            sigv4::check,
        ))
        .layer(axum::middleware::map_response(json_errors))
        .with_state(state)
}

/// The router's own refusals (a body that is not JSON, a query that does not parse, a
/// route that does not exist) as the API's errors: JSON with a code.
async fn json_errors(response: axum::response::Response) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if !status.is_client_error() || is_json {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 64 << 10)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
        .unwrap_or_default();
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        _ => "invalid_request",
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("bad request")
            .to_string()
    } else {
        text
    };
    error::ApiError::new(status, code, message).into_response()
}

/// The OpenAPI document, as `/api/v1/openapi.json` serves it.
pub fn document() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

#[cfg(test)]
mod tests {
    /// The copy kept in the repository, for readers and tools that do not run the
    /// server.
    const COPY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

    #[test]
    fn the_openapi_document_in_the_repository_is_current() {
        let current = super::document()
            .to_pretty_json()
            .unwrap_or_else(|err| panic!("the document serializes: {err}"))
            + "\n";
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(COPY, &current).unwrap_or_else(|err| panic!("{COPY}: {err}"));
        }
        let copy = std::fs::read_to_string(COPY).unwrap_or_default();
        assert!(
            copy == current,
            "{COPY} is not the document the handlers make: run \
             `UPDATE_OPENAPI=1 cargo test -p inventory-serve openapi` and commit it"
        );
    }
}
