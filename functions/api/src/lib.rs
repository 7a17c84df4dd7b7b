//! The `api` function: the S3-compatible endpoint (the router of `inventory-serve`) in
//! AWS Lambda, behind a Function URL whose responses are streamed.
//!
//! A Function URL hands the function each request as an event (the payload format 2.0
//! of API Gateway's HTTP APIs): the path and the query string as the client sent them,
//! still percent-encoded (`rawPath`, `rawQueryString`), the headers (`host` among them)
//! and the whole body, base64-encoded when it is binary. `lambda_http` turns the event
//! into an HTTP request, but it builds the request's URI through a URL parser, which
//! resolves `.` and `..` segments (`%2e` ones too) and encodes what it finds unusual;
//! S3 keys may hold such segments, and a client signs its path as it sent it. The
//! router checks SigV4 itself, so [`router_request`] gives it the raw path and query
//! string, and the host the client named. This crate only adapts Lambda's requests:
//! what the endpoint answers is the router's.

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Uri, header};
use lambda_http::request::RequestContext;
use lambda_http::{RequestExt, Service};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Bytes a request path may not hold as they are: all but RFC 3986's `pchar`s, `/`
/// and `%` (a path that arrives encoded, as a Function URL's does, has none of them).
const NOT_IN_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'%')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@');

/// The request the router gets for a request from Lambda: the client's raw path and
/// query string (`/<path>?<query>`, still percent-encoded), its headers, with `Host`
/// taken from the URL's domain name if the client sent none, and its body.
pub fn router_request(request: lambda_http::Request) -> axum::extract::Request {
    let (mut parts, body) = request.into_parts();
    let raw_path = parts.raw_http_path();
    let mut target = if raw_path.is_empty() {
        "/".to_string()
    } else {
        utf8_percent_encode(raw_path, NOT_IN_PATH).to_string()
    };
    // lambda_http appends `rawQueryString` to its URI as it is.
    if let Some(query) = parts.uri.query().filter(|query| !query.is_empty()) {
        target.push('?');
        target.push_str(query);
    }
    match Uri::try_from(target) {
        Ok(uri) => parts.uri = uri,
        Err(err) => tracing::error!(error = %err, "the request's raw path and query make no URI"),
    }
    if !parts.headers.contains_key(header::HOST) {
        let domain = match parts.extensions.get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV2(context)) => context.domain_name.clone(),
            _ => None,
        };
        if let Some(host) = domain.and_then(|domain| HeaderValue::try_from(domain).ok()) {
            parts.headers.insert(header::HOST, host);
        }
    }
    let body = match body {
        lambda_http::Body::Empty => Body::empty(),
        lambda_http::Body::Text(text) => Body::from(text),
        lambda_http::Body::Binary(bytes) => Body::from(bytes),
        other => Body::from(other.to_vec()),
    };
    axum::extract::Request::from_parts(parts, body)
}

/// The endpoint as a service of Lambda's HTTP requests: each one, adapted by
/// [`router_request`], goes to the router.
#[derive(Clone)]
pub struct Endpoint {
    router: Router,
}

impl Endpoint {
    pub fn new(router: Router) -> Endpoint {
        Endpoint { router }
    }
}

impl Service<lambda_http::Request> for Endpoint {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = axum::routing::future::RouteFuture<Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<axum::extract::Request>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, request: lambda_http::Request) -> Self::Future {
        self.router.call(router_request(request))
    }
}

/// Serves `router` to the Function URL's requests until the Lambda runtime stops the
/// function; each response is streamed as the router writes it.
pub async fn run(router: Router) -> Result<(), lambda_http::Error> {
    lambda_http::run_with_streaming_response(Endpoint::new(router)).await
}

/// What the function does first: log JSON lines, filtered by `RUST_LOG` (default
/// `info`), as the product's other functions do.
pub fn start_logging() {
    tracing_subscriber::fmt()
        .json()
        .without_time()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
}
