//! Who calls the API. A browser logs in with an access key id and its secret and gets
//! a session cookie (HttpOnly, SameSite=Strict, expiring); state-changing requests
//! carrying it must also carry the session's `X-CSRF-Token`, which only a page of this
//! server can read, so that another site cannot make the browser act for its user.
//!
//! Sessions are stateless: the cookie is `<key id>.<expiry>.<MAC>`, the MAC an
//! HMAC-SHA256 under the key's own secret. Any server that can unseal the key checks
//! it (a Lambda function's instances too), and deleting the key ends its sessions.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, header};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::ApiState;
use super::error::ApiError;

/// The session cookie's name.
pub const COOKIE: &str = "inventory_session";

/// The header state-changing requests of a session carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How long a session lasts.
pub const SESSION_SECONDS: i64 = 12 * 3600;

/// A caller the API knows: the access key it acts with.
#[derive(Debug, Clone)]
pub struct Caller {
    pub access_key_id: String,
    /// The browser session it came with, if it came with one (not SigV4).
    pub session: Option<SessionState>,
}

/// A checked session's token for changes and its expiry (seconds since the epoch).
#[derive(Debug, Clone)]
pub struct SessionState {
    pub csrf_token: String,
    pub expires: i64,
}

/// What a request without a valid session is told.
pub fn expired() -> ApiError {
    ApiError::unauthorized("the session has expired or is not valid: log in again")
}

fn mac(secret: &str, purpose: &str, key_id: &str, expires: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(format!("{purpose}\n{key_id}\n{expires}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A new session: its cookie's value and its CSRF token.
pub fn session(key_id: &str, secret: &str, now: i64) -> (String, String, i64) {
    let expires = now + SESSION_SECONDS;
    let cookie = format!(
        "{key_id}.{expires}.{}",
        mac(secret, "session", key_id, expires)
    );
    (cookie, mac(secret, "csrf", key_id, expires), expires)
}

/// The `Set-Cookie` value for a session (or, with `None`, one that ends it).
pub fn set_cookie(value: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match value {
        Some(value) => format!(
            "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}{secure}"
        ),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// The session cookie of a request, if any.
pub fn cookie_of(parts: &Parts) -> Option<String> {
    session_cookie(&parts.headers)
}

/// The session cookie among a request's headers, if any.
pub fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// A checked session: the caller, with the session's CSRF token and expiry.
pub async fn check_session(state: &ApiState, cookie: &str, now: i64) -> Result<Caller, ApiError> {
    let mut parts = cookie.rsplitn(3, '.');
    let (Some(given), Some(expires), Some(key_id)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(expired());
    };
    let expires: i64 = expires.parse().map_err(|_| expired())?;
    if expires <= now {
        return Err(expired());
    }
    let secret = state
        .keys
        .secret(key_id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(expired)?;
    let expected = mac(&secret, "session", key_id, expires);
    if !constant_time_eq(expected.as_bytes(), given.as_bytes()) {
        return Err(expired());
    }
    Ok(Caller {
        access_key_id: key_id.to_string(),
        session: Some(SessionState {
            csrf_token: mac(&secret, "csrf", key_id, expires),
            expires,
        }),
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether a secret is the key's.
pub async fn check_secret(state: &ApiState, key_id: &str, secret: &str) -> Result<bool, ApiError> {
    let known = state
        .keys
        .secret(key_id)
        .await
        .map_err(ApiError::internal)?;
    Ok(known.is_some_and(|known| constant_time_eq(known.as_bytes(), secret.as_bytes())))
}

impl<S> FromRequestParts<S> for Caller
where
    ApiState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // A request signed with SigV4 was checked on its way in.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let state = ApiState::from_ref(state);
        let cookie = cookie_of(parts).ok_or_else(|| {
            ApiError::unauthorized("log in first: POST /api/v1/auth/login with an access key")
        })?;
        let now = chrono::Utc::now().timestamp();
        let caller = check_session(&state, &cookie, now).await?;
        let csrf = caller
            .session
            .as_ref()
            .map(|session| session.csrf_token.as_str())
            .unwrap_or_default();
        let reads = [Method::GET, Method::HEAD, Method::OPTIONS].contains(&parts.method);
        if !reads {
            let given = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !constant_time_eq(given.as_bytes(), csrf.as_bytes()) {
                return Err(ApiError::forbidden(
                    "csrf",
                    format!("a change made with a session needs its {CSRF_HEADER} header"),
                ));
            }
        }
        Ok(caller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_names_its_key_and_expiry_and_is_bound_to_the_secret() {
        let (cookie, csrf, expires) = session("AKII1", "secret", 1000);
        assert_eq!(expires, 1000 + SESSION_SECONDS);
        assert!(cookie.starts_with(&format!("AKII1.{expires}.")));
        assert_ne!(cookie, session("AKII1", "other", 1000).0);
        assert_ne!(csrf, session("AKII1", "other", 1000).1);
        assert!(set_cookie(Some(&cookie), false).contains("HttpOnly; SameSite=Strict"));
    }
}
