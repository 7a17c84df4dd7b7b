//! Logging in and out of the API from a browser.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiState;
use super::auth::{self, Caller};
use super::error::ApiError;

#[derive(Debug, Deserialize, ToSchema)]
pub struct Login {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// A session: whose it is, until when, and the token its changes carry in
/// `X-CSRF-Token`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    pub access_key_id: String,
    /// Seconds since the Unix epoch.
    pub expires: i64,
    pub csrf_token: String,
}

/// Whether the request came over HTTPS (directly, or through a proxy that says so).
fn secure(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// Exchanges an access key id and its secret for a session cookie.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = Login,
    security(()),
    responses((status = 200, body = Session), (status = 401, body = ApiError)))]
pub async fn login(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Json(login): Json<Login>,
) -> Result<Response, ApiError> {
    if !auth::check_secret(&state, &login.access_key_id, &login.secret_access_key).await? {
        return Err(ApiError::unauthorized(
            "the access key id or the secret is wrong",
        ));
    }
    let now = chrono::Utc::now().timestamp();
    let (cookie, csrf_token, expires) =
        auth::session(&login.access_key_id, &login.secret_access_key, now);
    let session = Session {
        access_key_id: login.access_key_id,
        expires,
        csrf_token,
    };
    Ok((
        StatusCode::OK,
        [(
            header::SET_COOKIE,
            auth::set_cookie(Some(&cookie), secure(&headers)),
        )],
        Json(session),
    )
        .into_response())
}

/// Ends the session (the cookie is cleared).
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses((status = 204, description = "logged out")))]
pub async fn logout(headers: HeaderMap) -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, auth::set_cookie(None, secure(&headers)))],
    )
        .into_response()
}

/// The caller's session.
#[utoipa::path(get, path = "/auth/session", tag = "auth",
    responses((status = 200, body = Session), (status = 401, body = ApiError)))]
pub async fn current(caller: Caller) -> Result<Json<Session>, ApiError> {
    let session = caller.session.ok_or_else(auth::expired)?;
    Ok(Json(Session {
        access_key_id: caller.access_key_id,
        expires: session.expires,
        csrf_token: session.csrf_token,
    }))
}
