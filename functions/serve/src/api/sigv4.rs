//! SigV4 for programs: an API request signed as S3 requests are (`AWS4-HMAC-SHA256`
//! in the `Authorization` header, the path as sent, `x-amz-content-sha256` naming the
//! body's SHA-256 or `UNSIGNED-PAYLOAD`), with an issued key. The signature is checked
//! by signing the same request again with the key's secret (`aws-sigv4`, the AWS SDK's
//! signer) and comparing; a body whose hash is named is read and checked too.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::ApiState;
use super::auth::Caller;
use super::error::ApiError;

/// The largest body of a signed request whose hash is checked (`UNSIGNED-PAYLOAD` for
/// larger uploads).
pub const MAX_SIGNED_BODY: usize = 64 << 20;

/// How far a request's time may be from the server's.
const SKEW: Duration = Duration::from_secs(15 * 60);

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
#[derive(Debug, PartialEq, Eq)]
struct Authorization<'a> {
    key_id: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse(header: &str) -> Option<Authorization<'_>> {
    let rest = header.strip_prefix("AWS4-HMAC-SHA256")?.trim();
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=')?;
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let mut scope = credential?.split('/');
    let key_id = scope.next()?;
    let _date = scope.next()?;
    let region = scope.next()?;
    let service = scope.next()?;
    Some(Authorization {
        key_id,
        region,
        service,
        signed_headers: signed?.split(';').collect(),
        signature: signature?,
    })
}

fn refused(message: impl Into<String>) -> Response {
    ApiError::forbidden("signature", message).into_response()
}

/// Checks the signature of a request that has one, and lets it through as its key's
/// caller; a request without one goes on unchanged (a session may authenticate it).
pub async fn check(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let header = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Some(header) = header.filter(|h| h.starts_with("AWS4-HMAC-SHA256")) else {
        return next.run(request).await;
    };
    let Some(auth) = parse(&header) else {
        return refused("the Authorization header is not a SigV4 one");
    };
    let (mut parts, body) = request.into_parts();
    let text = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let Some(date) = text("x-amz-date") else {
        return refused("a signed request needs its x-amz-date header");
    };
    let Ok(time) = chrono::NaiveDateTime::parse_from_str(&date, "%Y%m%dT%H%M%SZ") else {
        return refused(format!("x-amz-date {date:?} is not a SigV4 time"));
    };
    let time = SystemTime::UNIX_EPOCH
        + Duration::from_secs(u64::try_from(time.and_utc().timestamp()).unwrap_or_default());
    let now = SystemTime::now();
    let skew = now
        .duration_since(time)
        .or_else(|_| time.duration_since(now))
        .unwrap_or_default();
    if skew > SKEW {
        return refused("the request's time is more than 15 minutes from the server's");
    }
    let Some(payload) = text("x-amz-content-sha256") else {
        return refused("a signed request needs its x-amz-content-sha256 header");
    };
    let body = if payload == "UNSIGNED-PAYLOAD" {
        body
    } else {
        let Ok(bytes) = axum::body::to_bytes(body, MAX_SIGNED_BODY).await else {
            return refused(format!(
                "a signed body is read whole to check its hash: at most {MAX_SIGNED_BODY} \
                 bytes (send larger ones with UNSIGNED-PAYLOAD)"
            ));
        };
        if hex::encode(Sha256::digest(&bytes)) != payload {
            return refused("the body does not match its x-amz-content-sha256");
        }
        Body::from(bytes)
    };
    let secret = match state.keys.secret(auth.key_id).await {
        Ok(Some(secret)) => secret,
        Ok(None) => return refused(format!("access key {} does not exist", auth.key_id)),
        Err(err) => return ApiError::internal(err).into_response(),
    };
    // The path the client signed: before the router took the API's prefix off it.
    let original = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or(&parts.uri, |original| &original.0);
    let uri = original
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let host = text("host").unwrap_or_default();
    let uri = format!("http://{host}{uri}");
    let mut signed = Vec::new();
    for name in &auth.signed_headers {
        if *name == "x-amz-date" {
            continue;
        }
        match parts.headers.get(*name).and_then(|v| v.to_str().ok()) {
            Some(value) => signed.push((*name, value)),
            None => return refused(format!("the signed header {name} is missing")),
        }
    }
    let expected = expected_signature(
        &secret,
        &auth,
        parts.method.as_str(),
        &uri,
        &signed,
        &payload,
        time,
    );
    match expected {
        Some(expected) if expected == auth.signature => {
            parts.extensions.insert(Caller {
                access_key_id: auth.key_id.to_string(),
                session: None,
            });
            next.run(Request::from_parts(parts, body)).await
        }
        _ => refused(
            "the signature does not match: sign with the key's secret, as for S3 \
             (the path as sent, x-amz-content-sha256)",
        ),
    }
}

/// The signature the key's secret gives the request.
fn expected_signature(
    secret: &str,
    auth: &Authorization<'_>,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    payload: &str,
    time: SystemTime,
) -> Option<String> {
    let identity =
        aws_credential_types::Credentials::new(auth.key_id, secret, None, None, "api").into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
    settings.excluded_headers = Some(vec![std::borrow::Cow::Borrowed("authorization")]);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(auth.region)
        .name(auth.service)
        .time(time)
        .settings(settings)
        .build()
        .ok()?
        .into();
    let body = if payload == "UNSIGNED-PAYLOAD" {
        SignableBody::UnsignedPayload
    } else {
        SignableBody::Precomputed(payload.to_string())
    };
    let request = SignableRequest::new(method, uri, headers.iter().copied(), body).ok()?;
    let output = sign(request, &params).ok()?;
    Some(output.signature().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_authorization_header_gives_its_parts() {
        let header = "AWS4-HMAC-SHA256 Credential=AKII1/20261205/us-east-1/s3/aws4_request, \
                      SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=abc";
        assert_eq!(
            parse(header),
            Some(Authorization {
                key_id: "AKII1",
                region: "us-east-1",
                service: "s3",
                signed_headers: vec!["host", "x-amz-content-sha256", "x-amz-date"],
                signature: "abc",
            })
        );
        assert_eq!(parse("Bearer x"), None);
    }
}
