//! The function's requests as a Function URL sends them: each event is deserialized as
//! the Lambda runtime does and goes through `lambda_http`'s streaming adapter, the one
//! `run` hands the runtime, to the endpoint's router. No AWS: the catalog's DynamoDB is
//! a small in-memory stand-in on loopback, which counts its calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::StreamExt;
use lambda_http::request::LambdaRequest;
use lambda_http::{Context, LambdaEvent, Service, StreamAdapter};
use serde_json::{Value, json};

use api::{Endpoint, router_request};
use inventory_serve::{Keys, Sealer};

const HOST: &str = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws";
const TABLE: &str = "inventory-import-catalog";

/// A Function URL's event for a request, shaped as AWS sends it: the raw path and query
/// string, lowercase headers (with AWS's own beside the client's), the request context,
/// and the body, in base64 when it is binary.
fn event(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    client_headers: &[(String, String)],
    body: Option<&[u8]>,
) -> Value {
    let mut headers = serde_json::Map::new();
    for (name, value) in [
        ("x-amzn-tls-cipher-suite", "TLS_AES_128_GCM_SHA256"),
        ("x-amzn-tls-version", "TLSv1.3"),
        (
            "x-amzn-trace-id",
            "Root=1-6650d7a8-0c5e4a4f1b2d3c4e5f607182",
        ),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-port", "443"),
        ("x-forwarded-for", "203.0.113.7"),
        ("accept-encoding", "identity"),
        ("user-agent", "Botocore/1.35.0"),
    ] {
        headers.insert(name.into(), json!(value));
    }
    for (name, value) in client_headers {
        headers.insert(name.to_ascii_lowercase(), json!(value));
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": HOST.split('.').next().unwrap(),
            "domainName": HOST,
            "domainPrefix": HOST.split('.').next().unwrap(),
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "Botocore/1.35.0"
            },
            "requestId": "1ac06eee-f687-44ec-9036-dfd49d4d8d4c",
            "routeKey": "$default",
            "stage": "$default",
            "time": "24/May/2026:18:03:58 +0000",
            "timeEpoch": 1779645838390u64
        },
        "isBase64Encoded": false
    });
    if let Some(body) = body {
        match std::str::from_utf8(body) {
            Ok(text) => event["body"] = json!(text),
            Err(_) => {
                event["body"] = json!(BASE64.encode(body));
                event["isBase64Encoded"] = json!(true);
            }
        }
    }
    event
}

/// The event as the runtime reads it, converted as `lambda_http` converts it.
fn lambda_request(event: &Value) -> lambda_http::Request {
    let payload: LambdaRequest =
        serde_json::from_value(event.clone()).expect("a Function URL event");
    payload.into()
}

/// What the function streams back for `event`: status, headers and body.
async fn invoke(router: &Router, event: &Value) -> (StatusCode, HeaderMap, String) {
    let payload: LambdaRequest =
        serde_json::from_value(event.clone()).expect("a Function URL event");
    let mut adapter = StreamAdapter::from(Endpoint::new(router.clone()));
    let response = adapter
        .call(LambdaEvent::new(payload, Context::default()))
        .await
        .expect("the endpoint answers");
    let mut stream = response.stream;
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.expect("the body streams"));
    }
    let prelude = response.metadata_prelude;
    (
        prelude.status_code,
        prelude.headers,
        String::from_utf8(body).expect("an XML body"),
    )
}

// ----- the catalog's table, in memory ---------------------------------------------------

#[derive(Clone, Default)]
struct Table {
    items: Arc<Mutex<HashMap<(String, String), Value>>>,
    /// Every call: its operation and the key or item it named.
    calls: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Table {
    fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().unwrap().clone()
    }
}

fn key_of(value: &Value) -> (String, String) {
    let text = |name: &str| value[name]["S"].as_str().unwrap_or_default().to_string();
    (text("pk"), text("sk"))
}

/// DynamoDB's PutItem and GetItem over `table`; every other call finds nothing.
async fn dynamo(
    State(table): State<Table>,
    headers: HeaderMap,
    body: Bytes,
) -> impl axum::response::IntoResponse {
    let operation = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|target| target.rsplit('.').next())
        .unwrap_or_default()
        .to_string();
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let answer = match operation.as_str() {
        "PutItem" => {
            let item = request["Item"].clone();
            table.calls.lock().unwrap().push((operation, item.clone()));
            table.items.lock().unwrap().insert(key_of(&item), item);
            json!({})
        }
        "GetItem" => {
            let key = request["Key"].clone();
            table.calls.lock().unwrap().push((operation, key.clone()));
            match table.items.lock().unwrap().get(&key_of(&key)) {
                Some(item) => json!({ "Item": item }),
                None => json!({}),
            }
        }
        _ => {
            table.calls.lock().unwrap().push((operation, request));
            json!({})
        }
    };
    (
        [("content-type", "application/x-amz-json-1.0")],
        answer.to_string(),
    )
}

/// The endpoint over a catalog whose table is `table`, served on loopback; S3 is never
/// reached.
async fn endpoint(table: &Table) -> (Router, Keys) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new().fallback(dynamo).with_state(table.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(format!("http://{address}"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                "AKIDLOCAL",
                "local",
                None,
                None,
                "tests",
            )),
        )
        .build();
    let sealer = Sealer::from_base64(&BASE64.encode([7u8; 32])).unwrap();
    let keys = Keys::new(
        aws_sdk_dynamodb::Client::new(&config),
        TABLE,
        sealer.clone(),
    );
    (
        inventory_serve::setup::router_with(&config, TABLE, sealer),
        keys,
    )
}

/// The headers a client signing with `key` sends for a request (SigV4 as S3 clients
/// compute it: the path as sent, not normalised, and the payload's SHA-256).
fn signed_headers(
    key_id: &str,
    secret: &str,
    method: &str,
    raw_path: &str,
    raw_query: &str,
    body: &[u8],
) -> Vec<(String, String)> {
    let identity = Credentials::new(key_id, secret, None, None, "client").into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let query = if raw_query.is_empty() {
        String::new()
    } else {
        format!("?{raw_query}")
    };
    let url = format!("https://{HOST}{raw_path}{query}");
    let request = SignableRequest::new(
        method,
        &url,
        [("host", HOST)].into_iter(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(request, &params).unwrap().into_parts();
    let mut headers = vec![("host".to_string(), HOST.to_string())];
    for (name, value) in instructions.headers() {
        headers.push((name.to_string(), value.to_string()));
    }
    headers
}

fn error_code(body: &str) -> &str {
    let start = body.find("<Code>").map(|i| i + "<Code>".len()).unwrap_or(0);
    let end = body.find("</Code>").unwrap_or(start);
    &body[start..end]
}

// ----- the tests ------------------------------------------------------------------------

#[tokio::test]
async fn an_unsigned_request_is_refused_with_s3s_error_before_any_lookup() {
    let table = Table::default();
    let (router, _) = endpoint(&table).await;
    let headers = [("host".to_string(), HOST.to_string())];
    for (method, path, query) in [
        ("GET", "/photos/main/dir/a%20b%2Bc.txt", ""),
        (
            "GET",
            "/photos",
            "list-type=2&prefix=main%2Fdir%20x%2F&delimiter=%2F",
        ),
        // An unsigned `GET /` is a browser's: it is led to the UI (see below).
        ("GET", "/photos", "location"),
        ("DELETE", "/photos/main/a.txt", ""),
    ] {
        let (status, headers, body) =
            invoke(&router, &event(method, path, query, &headers, None)).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{method} {path}?{query}: {body}"
        );
        assert_eq!(error_code(&body), "AccessDenied", "{body}");
        assert!(body.starts_with("<?xml"), "{body}");
        assert_eq!(
            headers.get("content-type").map(|v| v.to_str().unwrap()),
            Some("application/xml")
        );
    }
    assert_eq!(table.calls(), vec![], "no lookup for an unsigned request");
}

#[tokio::test]
async fn the_router_gets_the_raw_path_and_query_and_the_host() {
    let raw_path = "/photos/main/a/../b%20c%2Bd%2F%25.txt";
    let raw_query = "versionId=x%2Fy%3D&x-id=GetObject";
    let headers = [("host".to_string(), HOST.to_string())];
    let request = lambda_request(&event("GET", raw_path, raw_query, &headers, None));
    // lambda_http's own URI went through a URL parser, which resolved the `..`.
    assert_eq!(request.uri().path(), "/photos/main/b%20c%2Bd%2F%25.txt");

    let request = router_request(request);
    assert_eq!(
        request.uri().path_and_query().map(|p| p.as_str()),
        Some("/photos/main/a/../b%20c%2Bd%2F%25.txt?versionId=x%2Fy%3D&x-id=GetObject")
    );
    assert_eq!(request.headers()["host"], HOST);
    assert_eq!(request.method(), "GET");
    assert_eq!(request.headers()["x-forwarded-proto"], "https");

    // Without a Host header, the URL's domain name is the host.
    let request = router_request(lambda_request(&event("GET", "/", "", &[], None)));
    assert_eq!(
        request.uri().path_and_query().map(|p| p.as_str()),
        Some("/")
    );
    assert_eq!(request.headers()["host"], HOST);

    // A path that arrived decoded is made a valid one, encoding only what must be.
    let request = router_request(lambda_request(&event(
        "GET",
        "/photos/main/a b\"ü.txt",
        "",
        &headers,
        None,
    )));
    assert_eq!(request.uri().path(), "/photos/main/a%20b%22%C3%BC.txt");
}

#[tokio::test]
async fn bodies_arrive_whole() {
    let headers = [("host".to_string(), HOST.to_string())];
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let text = "<Delete><Object><Key>main/a b.txt</Key></Object></Delete>";
    for body in [binary.as_slice(), text.as_bytes()] {
        let event = event("PUT", "/photos/main/x.bin", "", &headers, Some(body));
        assert_eq!(event["isBase64Encoded"], std::str::from_utf8(body).is_err());
        let request = router_request(lambda_request(&event));
        let bytes = axum::body::to_bytes(request.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(bytes.as_ref(), body);
    }
    let request = router_request(lambda_request(&event("GET", "/", "", &headers, None)));
    let bytes = axum::body::to_bytes(request.into_body(), usize::MAX)
        .await
        .unwrap();
    assert!(bytes.is_empty());
}

#[tokio::test]
async fn a_signed_request_is_checked_over_the_path_and_query_the_client_sent() {
    let table = Table::default();
    let (router, keys) = endpoint(&table).await;
    let key = keys.create("tests").await.unwrap();
    let (key_id, secret) = (&key.key.access_key_id, &key.secret_access_key);

    // A key whose path holds a `..` segment and encoded bytes: the signature holds, and
    // the request reaches the catalog, which has no repository `photos`.
    for (method, path, query) in [
        ("GET", "/photos/main/a/../b%20c%2Bd.txt", ""),
        ("HEAD", "/photos/main/a/../b%20c%2Bd.txt", ""),
        (
            "GET",
            "/photos",
            "delimiter=%2F&list-type=2&prefix=main%2Fdir%20x%2F",
        ),
    ] {
        let headers = signed_headers(key_id, secret, method, path, query, b"");
        let (status, _, body) = invoke(&router, &event(method, path, query, &headers, None)).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{method} {path}?{query}: {body}"
        );
        if method != "HEAD" {
            assert_eq!(error_code(&body), "NoSuchBucket", "{body}");
        }
    }
    let looked_up: Vec<(String, String)> = table
        .calls()
        .iter()
        .filter(|(operation, _)| operation == "GetItem")
        .map(|(_, key)| key_of(key))
        .collect();
    assert!(
        looked_up.contains(&("access-key".to_string(), key_id.clone())),
        "{looked_up:?}"
    );
    assert!(
        looked_up.contains(&("repo".to_string(), "photos".to_string())),
        "{looked_up:?}"
    );

    // Signed for one path, sent for another: refused.
    let headers = signed_headers(key_id, secret, "GET", "/photos/main/a/../b.txt", "", b"");
    let (status, _, body) = invoke(
        &router,
        &event("GET", "/photos/main/b.txt", "", &headers, None),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(error_code(&body), "SignatureDoesNotMatch", "{body}");
}

#[tokio::test]
async fn the_json_api_and_the_ui_answer_through_the_function() {
    let table = Table::default();
    let (router, _) = endpoint(&table).await;
    let host = [("host".to_string(), HOST.to_string())];

    // The API's OpenAPI document, as the server generates it.
    let (status, headers, body) = invoke(
        &router,
        &event("GET", "/api/v1/openapi.json", "", &host, None),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let document: Value = serde_json::from_str(&body).expect("a JSON document");
    assert_eq!(
        document,
        serde_json::to_value(inventory_serve::api::document()).unwrap()
    );

    // A login with a key nobody issued: refused in JSON, after looking the key up.
    let login = json!({ "access_key_id": "AKIDNOSUCHKEY", "secret_access_key": "wrong" });
    let mut headers = host.to_vec();
    headers.push(("content-type".into(), "application/json".into()));
    let (status, response_headers, body) = invoke(
        &router,
        &event(
            "POST",
            "/api/v1/auth/login",
            "",
            &headers,
            Some(login.to_string().as_bytes()),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(response_headers.get("set-cookie").is_none());
    let error: Value = serde_json::from_str(&body).expect("a JSON error");
    assert_eq!(error["code"], "unauthorized", "{body}");
    assert!(error["message"].is_string(), "{body}");
    let looked_up: Vec<(String, String)> = table
        .calls()
        .iter()
        .filter(|(operation, _)| operation == "GetItem")
        .map(|(_, key)| key_of(key))
        .collect();
    assert_eq!(
        looked_up,
        vec![("access-key".to_string(), "AKIDNOSUCHKEY".to_string())]
    );

    // A browser opening the URL is led to the UI, and to its login page.
    let (status, headers, body) = invoke(&router, &event("GET", "/", "", &host, None)).await;
    assert!(status.is_redirection(), "{status}: {body}");
    assert_eq!(headers["location"], "/ui/");
    let (status, headers, body) = invoke(&router, &event("GET", "/ui/", "", &host, None)).await;
    assert!(status.is_redirection(), "{status}: {body}");
    assert_eq!(headers["location"], "/ui/login?next=%2Fui%2F");
    let (status, headers, body) =
        invoke(&router, &event("GET", "/ui/login", "", &host, None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        body.contains("<form") && body.contains(r#"data-api="login""#),
        "{body}"
    );
}
