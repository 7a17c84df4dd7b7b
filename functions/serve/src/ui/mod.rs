//! The web UI at `/ui/`: pages rendered by the server from the catalog, every asset in
//! the binary ([`assets`]). Reading is done here; changes go through the JSON API
//! (a little script posts the forms with the session's CSRF token), so that the UI
//! and programs change the catalog the same way.

pub mod assets;
pub mod pages;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::api::ApiState;
use crate::api::auth;

/// Where the UI is mounted.
pub const PREFIX: &str = "/ui";

/// The signed-in user of a page, and the token its forms send.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub access_key_id: String,
    pub csrf_token: String,
}

/// Lets a page through with its viewer, or sends the browser to the login page.
async fn signed_in(State(state): State<ApiState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    if path.starts_with("/login") || path.starts_with("/assets/") {
        return next.run(request).await;
    }
    let cookie = auth::session_cookie(request.headers());
    let now = chrono::Utc::now().timestamp();
    let checked = match cookie {
        Some(cookie) => auth::check_session(&state, &cookie, now).await.ok(),
        None => None,
    };
    match checked {
        Some(caller) => {
            request.extensions_mut().insert(Viewer {
                csrf_token: caller
                    .session
                    .map(|session| session.csrf_token)
                    .unwrap_or_default(),
                access_key_id: caller.access_key_id,
            });
            next.run(request).await
        }
        None => {
            let original = request
                .extensions()
                .get::<axum::extract::OriginalUri>()
                .map(|uri| uri.0.to_string())
                .unwrap_or_else(|| format!("{PREFIX}/"));
            let next = percent_encoding::utf8_percent_encode(
                &original,
                percent_encoding::NON_ALPHANUMERIC,
            );
            Redirect::to(&format!("{PREFIX}/login?next={next}")).into_response()
        }
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// The UI's routes (relative to [`PREFIX`]).
pub fn ui(state: ApiState) -> Router {
    Router::new()
        .route("/", get(pages::repositories))
        .route("/login", get(pages::login))
        .route("/repositories/{repository}", get(pages::repository))
        .route("/repositories/{repository}/object", get(pages::object))
        .route("/repositories/{repository}/log", get(pages::log))
        .route("/repositories/{repository}/compare", get(pages::compare))
        .route("/repositories/{repository}/imports", get(pages::imports))
        .route(
            "/assets/style.css",
            get(|| async { asset("text/css; charset=utf-8", assets::STYLE) }),
        )
        .route(
            "/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", assets::SCRIPT) }),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            signed_in,
        ))
        .with_state(state)
}
