//! A Function URL on loopback, in front of the `api` function's endpoint: each HTTP
//! request becomes the event a Lambda Function URL sends (payload format 2.0: the raw
//! path and query string, lowercase headers, the cookies apart from them, the whole
//! body, in base64 unless it is text), which goes through `lambda_http`'s streaming
//! adapter as in Lambda; the streamed answer goes back to the client, its cookies as
//! `Set-Cookie` headers. Lambda's size limits are not enforced.

use std::convert::Infallible;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use lambda_http::request::LambdaRequest;
use lambda_http::{Context, LambdaEvent, Service, StreamAdapter};
use serde_json::{Map, Value, json};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type UrlBody = UnsyncBoxBody<Bytes, BoxError>;

/// The Function URL, listening on `endpoint` until dropped.
pub struct FunctionUrl {
    pub endpoint: String,
    server: tokio::task::JoinHandle<()>,
}

impl FunctionUrl {
    /// Serves `endpoint` on a free loopback port.
    pub async fn start(endpoint: api::Endpoint) -> FunctionUrl {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|err| panic!("binding the Function URL: {err}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|err| panic!("the Function URL's address: {err}"))
            .port();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let endpoint = endpoint.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| invoke(request, endpoint.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FunctionUrl {
            endpoint: format!("http://127.0.0.1:{port}"),
            server,
        }
    }
}

impl Drop for FunctionUrl {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Whether a Function URL passes a body of this content type as text.
fn is_text(content_type: &str) -> bool {
    let content_type = content_type.to_ascii_lowercase();
    content_type.starts_with("text/")
        || ["json", "xml", "javascript", "x-www-form-urlencoded"]
            .iter()
            .any(|kind| content_type.contains(kind))
}

/// The event a Function URL sends for a request whose body was read whole.
fn event(parts: &hyper::http::request::Parts, body: &[u8]) -> Value {
    let mut headers = Map::new();
    for name in parts.headers.keys() {
        let values: Vec<&str> = parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        headers.insert(name.as_str().to_string(), json!(values.join(",")));
    }
    // Cookies arrive apart from the headers, one per item.
    let cookies: Vec<String> = headers
        .remove("cookie")
        .and_then(|value| value.as_str().map(str::to_string))
        .map(|value| {
            value
                .split(';')
                .map(|cookie| cookie.trim().to_string())
                .filter(|cookie| !cookie.is_empty())
                .collect()
        })
        .unwrap_or_default();
    // The body arrives whole: its length is known, and no longer chunked.
    headers.remove("transfer-encoding");
    if !body.is_empty() || headers.contains_key("content-length") {
        headers.insert("content-length".into(), json!(body.len().to_string()));
    }
    // AWS's URL is HTTPS; this one is plain HTTP on loopback, and says so (a session
    // cookie set over HTTPS is `Secure`, which a client over HTTP never sends back).
    headers.insert("x-forwarded-proto".into(), json!("http"));
    headers.insert("x-forwarded-for".into(), json!("127.0.0.1"));
    let host = headers
        .get("host")
        .and_then(Value::as_str)
        .unwrap_or("localhost")
        .to_string();
    let raw_path = parts.uri.path();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": parts.uri.query().unwrap_or_default(),
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": "local",
            "http": {
                "method": parts.method.as_str(),
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent").cloned().unwrap_or_default()
            },
            "requestId": uuid_like(),
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000u64
        },
        "isBase64Encoded": false
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !body.is_empty() {
        let content_type = headers
            .get("content-type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match std::str::from_utf8(body) {
            Ok(text) if is_text(content_type) => event["body"] = json!(text),
            _ => {
                event["body"] = json!(BASE64.encode(body));
                event["isBase64Encoded"] = json!(true);
            }
        }
    }
    event
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "00000000-0000-0000-0000-{:012}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

async fn invoke(
    request: Request<Incoming>,
    endpoint: api::Endpoint,
) -> Result<Response<UrlBody>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => return Ok(plain(StatusCode::BAD_REQUEST, err.to_string())),
    };
    let payload: LambdaRequest = match serde_json::from_value(event(&parts, &body)) {
        Ok(payload) => payload,
        Err(err) => return Ok(plain(StatusCode::BAD_GATEWAY, err.to_string())),
    };
    // The adapter is not Send (it names the body type by reference): only its future
    // is held across the wait.
    let answer = StreamAdapter::from(endpoint).call(LambdaEvent::new(payload, Context::default()));
    let Ok(streamed) = answer.await;
    let prelude = streamed.metadata_prelude;
    let body = StreamBody::new(
        streamed
            .stream
            .map(|chunk| chunk.map(Frame::data).map_err(BoxError::from)),
    );
    let mut response = Response::new(BodyExt::boxed_unsync(body));
    *response.status_mut() = prelude.status_code;
    *response.headers_mut() = prelude.headers;
    // The function's cookies come back apart from its headers; the URL sends each as a
    // header of its own.
    for cookie in prelude.cookies {
        match hyper::header::HeaderValue::try_from(cookie) {
            Ok(value) => {
                response
                    .headers_mut()
                    .append(hyper::header::SET_COOKIE, value);
            }
            Err(err) => return Ok(plain(StatusCode::BAD_GATEWAY, err.to_string())),
        }
    }
    Ok(response)
}

fn plain(status: StatusCode, text: String) -> Response<UrlBody> {
    let mut response = Response::new(
        http_body_util::Full::new(Bytes::from(text))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
}
