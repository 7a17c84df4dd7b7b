//! A fault-injecting HTTP proxy between the AWS SDK and moto, on loopback: chosen
//! operations are answered with the error bodies AWS itself sends (DynamoDB throttles
//! and cancelled transactions, S3 `SlowDown` and `InternalError`), or have their
//! connection reset halfway through the response, on chosen calls or at a seeded rate.
//! Everything else is passed through unchanged.
//!
//! It can also record what the calls through it need: each call as the IAM action
//! AWS checks for it and the table, queue or bucket it touches (see [`Access`]).

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ProxyBody = BoxBody<Bytes, BoxError>;

/// What a faulty call gets instead of its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// DynamoDB `ProvisionedThroughputExceededException`.
    ProvisionedThroughputExceeded,
    /// DynamoDB (and other JSON services') `ThrottlingException`.
    Throttling,
    /// DynamoDB `TransactionCanceledException`, one reason per item of the
    /// transaction: `None` for each, but `TransactionConflict` at the given positions.
    TransactionConflict { items: usize, conflicts: Vec<usize> },
    /// S3 `503 SlowDown`.
    SlowDown,
    /// S3 `500 InternalError`.
    InternalError,
    /// The call goes through, and the connection is reset halfway through the answer.
    ResetMidResponse,
    /// The call goes through after this pause: a slow process, or a slow network.
    Delay(std::time::Duration),
    /// Any of the passing faults the operation's service answers with, drawn at
    /// random: throttles (and, for transactions, conflicts) from DynamoDB, `SlowDown`
    /// and `InternalError` from S3, and resets from both.
    Transient,
}

/// Which calls of an operation fail.
#[derive(Debug, Clone, PartialEq)]
pub enum When {
    /// These calls, counting the operation's calls from 1.
    Calls(Vec<u64>),
    /// Every call with this probability, drawn from a seeded generator.
    Rate { probability: f64, seed: u64 },
}

struct Rule {
    fault: Fault,
    when: When,
    rng: StdRng,
}

#[derive(Default)]
struct State {
    rules: HashMap<String, Vec<Rule>>,
    calls: HashMap<String, u64>,
    faults: HashMap<String, u64>,
    /// What the calls needed, when recording.
    access: Option<std::collections::BTreeSet<Access>>,
}

/// An IAM action a call needs (`dynamodb:UpdateItem`, `sqs:SendMessage`,
/// `s3:GetObject`, `kms:Decrypt`), on the table, queue, bucket or key it names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Access {
    pub action: String,
    /// A table's or a queue's name, a bucket's, or a KMS key's id (empty when the call
    /// names none).
    pub resource: String,
}

impl Access {
    fn new(action: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            resource: resource.into(),
        }
    }
}

/// What a DynamoDB, SQS or KMS call (its `X-Amz-Target` operation and JSON body) needs.
/// A transaction needs each of its items' actions; a batch, the batch action on each
/// table; SQS's batch send, `sqs:SendMessage`; a KMS call, its action on the key named.
fn json_access(operation: &str, target: &str, body: &[u8]) -> Vec<Access> {
    let body: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_string();
    if target.starts_with("AmazonSQS") {
        let queue = match operation {
            "GetQueueUrl" => text(&body["QueueName"]),
            _ => text(&body["QueueUrl"])
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string(),
        };
        let action = match operation {
            "SendMessageBatch" => "SendMessage",
            "DeleteMessageBatch" => "DeleteMessage",
            "ChangeMessageVisibilityBatch" => "ChangeMessageVisibility",
            other => other,
        };
        return vec![Access::new(format!("sqs:{action}"), queue)];
    }
    if target.starts_with("TrentService") {
        // A ciphertext names the key that decrypts it: a Decrypt may name none.
        return vec![Access::new(
            format!("kms:{operation}"),
            text(&body["KeyId"]),
        )];
    }
    match operation {
        "TransactWriteItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item.as_object()?.iter().next())
            .map(|(kind, item)| {
                let action = match kind.as_str() {
                    "ConditionCheck" => "ConditionCheckItem".to_string(),
                    kind => format!("{kind}Item"),
                };
                Access::new(format!("dynamodb:{action}"), text(&item["TableName"]))
            })
            .collect(),
        "TransactGetItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|item| Access::new("dynamodb:GetItem", text(&item["Get"]["TableName"])))
            .collect(),
        "BatchWriteItem" | "BatchGetItem" => body["RequestItems"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(table, _)| Access::new(format!("dynamodb:{operation}"), table.clone()))
            .collect(),
        _ => vec![Access::new(
            format!("dynamodb:{operation}"),
            text(&body["TableName"]),
        )],
    }
}

/// What an S3 call (path style: `/<bucket>/<key>`) needs; an object read answered
/// 404 needs `s3:ListBucket` too, without which S3 answers 403 instead.
fn s3_access(operation: &str, path: &str, query: &str, status: StatusCode) -> Vec<Access> {
    let bucket = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let versioned = query.split('&').any(|pair| pair.starts_with("versionId="));
    let action = match operation {
        "GetObject" | "HeadObject" if versioned => "GetObjectVersion",
        "GetObject" | "HeadObject" => "GetObject",
        "ListObjectsV2" | "ListObjects" | "HeadBucket" => "ListBucket",
        "PutObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "CompleteMultipartUpload"
        | "CopyObject" => "PutObject",
        "DeleteObject" | "DeleteObjects" => "DeleteObject",
        "ListMultipartUploads" => "ListBucketMultipartUploads",
        "ListParts" => "ListMultipartUploadParts",
        "GetBucketNotificationConfiguration" | "PutBucketNotificationConfiguration" => {
            operation.trim_end_matches("Configuration")
        }
        other => other,
    };
    let mut needs = vec![Access::new(format!("s3:{action}"), bucket.clone())];
    if action.starts_with("GetObject") && status == StatusCode::NOT_FOUND {
        needs.push(Access::new("s3:ListBucket", bucket));
    }
    needs
}

impl State {
    /// Counts a call of `operation` and picks the fault it gets, if any.
    fn next_fault(&mut self, operation: &str, json: bool) -> Option<Fault> {
        let call = self.calls.entry(operation.to_string()).or_default();
        *call += 1;
        let call = *call;
        let [own, any] = self.rules.get_disjoint_mut([operation, ANY_OPERATION]);
        let fault = own
            .into_iter()
            .chain(any)
            .flat_map(|rules| rules.iter_mut())
            .find_map(|rule| {
                let hit = match &rule.when {
                    When::Calls(calls) => calls.contains(&call),
                    When::Rate { probability, .. } => rule.rng.random_bool(*probability),
                };
                if !hit {
                    return None;
                }
                Some(match &rule.fault {
                    Fault::Transient => transient(operation, json, &mut rule.rng),
                    fault => fault.clone(),
                })
            })?;
        *self.faults.entry(operation.to_string()).or_default() += 1;
        Some(fault)
    }
}

/// The rule name that applies to every operation.
pub const ANY_OPERATION: &str = "*";

/// One of the passing faults AWS answers `operation` with, drawn by `rng`.
fn transient(operation: &str, json: bool, rng: &mut StdRng) -> Fault {
    let choices = if operation == "TransactWriteItems" {
        vec![
            Fault::Throttling,
            Fault::TransactionConflict {
                items: 2,
                conflicts: vec![1],
            },
            Fault::ResetMidResponse,
        ]
    } else if json {
        vec![
            Fault::ProvisionedThroughputExceeded,
            Fault::Throttling,
            Fault::ResetMidResponse,
        ]
    } else {
        vec![
            Fault::SlowDown,
            Fault::InternalError,
            Fault::ResetMidResponse,
        ]
    };
    let pick = rng.random_range(0..choices.len());
    choices[pick].clone()
}

/// The proxy, listening on `endpoint` until dropped.
pub struct FaultProxy {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy to `target` (`http://127.0.0.1:<port>`) on a free loopback port.
    pub async fn start(target: &str) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|err| panic!("binding the fault proxy: {err}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|err| panic!("the fault proxy's address: {err}"))
            .port();
        let state = Arc::new(Mutex::new(State::default()));
        let client: Client<HttpConnector, ProxyBody> =
            Client::builder(TokioExecutor::new()).build_http();
        let target = target.trim_end_matches('/').to_string();
        let shared = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                let client = client.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        forward(request, state.clone(), client.clone(), target.clone())
                    });
                    // A connection reset on purpose ends here with an error: expected.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            state,
            server,
        }
    }

    /// From now on, `operation` (`TransactWriteItems`, `PutObject`…) gets `fault` when
    /// `when` says so. Rules of one operation are tried in the order they were given.
    pub fn inject(&self, operation: &str, fault: Fault, when: When) {
        let seed = match &when {
            When::Rate { seed, .. } => *seed,
            When::Calls(_) => 0,
        };
        self.lock()
            .rules
            .entry(operation.to_string())
            .or_default()
            .push(Rule {
                fault,
                when,
                rng: StdRng::seed_from_u64(seed),
            });
    }

    /// No more faults: every call goes through from now on.
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// Waits until `operation` has been called at least once, for at most `within`;
    /// whether it was.
    pub async fn wait_for_call(&self, operation: &str, within: std::time::Duration) -> bool {
        self.wait_for_calls(operation, 1, within).await
    }

    /// Waits until `operation` has been called at least `count` times, for at most
    /// `within`; whether it was.
    pub async fn wait_for_calls(
        &self,
        operation: &str,
        count: u64,
        within: std::time::Duration,
    ) -> bool {
        let waited = std::time::Instant::now();
        while self.calls(operation) < count {
            if waited.elapsed() >= within {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        true
    }

    /// Calls of `operation` seen so far.
    pub fn calls(&self, operation: &str) -> u64 {
        self.lock().calls.get(operation).copied().unwrap_or(0)
    }

    /// Calls of `operation` answered with a fault so far.
    pub fn faults(&self, operation: &str) -> u64 {
        self.lock().faults.get(operation).copied().unwrap_or(0)
    }

    /// From now on, records what each call through the proxy needs.
    pub fn record_access(&self) {
        self.lock().access.get_or_insert_with(Default::default);
    }

    /// What the calls recorded so far needed.
    pub fn access(&self) -> std::collections::BTreeSet<Access> {
        self.lock().access.clone().unwrap_or_default()
    }

    /// Faults answered so far, over every operation.
    pub fn total_faults(&self) -> u64 {
        self.lock().faults.values().sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn forward(
    request: Request<Incoming>,
    state: Arc<Mutex<State>>,
    client: Client<HttpConnector, ProxyBody>,
    target: String,
) -> Result<Response<ProxyBody>, Infallible> {
    let operation = operation(&request);
    let amz_target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let json = amz_target.is_some();
    let (fault, recording) = {
        let mut state = state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (state.next_fault(&operation, json), state.access.is_some())
    };
    match fault {
        Some(Fault::ResetMidResponse) | None => {}
        Some(Fault::Delay(pause)) => tokio::time::sleep(pause).await,
        Some(fault) => return Ok(error_response(&fault)),
    }
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or_default().to_string();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    parts.uri = match format!("{target}{path_and_query}").parse() {
        Ok(uri) => uri,
        Err(err) => return Ok(plain(StatusCode::BAD_GATEWAY, format!("proxy: {err}"))),
    };
    // A JSON call's body is read whole when recording, to see what it names.
    let body: ProxyBody = match (&amz_target, recording) {
        (Some(amz_target), true) => {
            let whole = match body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(err) => return Ok(plain(StatusCode::BAD_GATEWAY, format!("proxy: {err}"))),
            };
            let needs = json_access(&operation, amz_target, &whole);
            record(&state, needs);
            http_body_util::Full::new(whole)
                .map_err(|never| match never {})
                .boxed()
        }
        _ => body.map_err(BoxError::from).boxed(),
    };
    let answer = match client.request(Request::from_parts(parts, body)).await {
        Ok(answer) => answer,
        Err(err) => return Ok(plain(StatusCode::BAD_GATEWAY, format!("proxy: {err}"))),
    };
    if recording && !json {
        record(
            &state,
            s3_access(&operation, &path, &query, answer.status()),
        );
    }
    if fault == Some(Fault::ResetMidResponse) {
        let (parts, body) = answer.into_parts();
        let whole = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) => return Ok(plain(StatusCode::BAD_GATEWAY, format!("proxy: {err}"))),
        };
        // The headers promise the whole body; half of it comes, then the connection
        // is dropped.
        let half = whole.slice(..whole.len() / 2);
        return Ok(Response::from_parts(
            parts,
            BoxBody::new(Truncated(Some(half))),
        ));
    }
    Ok(answer.map(|body| body.map_err(BoxError::from).boxed()))
}

fn record(state: &Mutex<State>, needs: Vec<Access>) {
    let mut state = state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(access) = state.access.as_mut() {
        access.extend(needs);
    }
}

/// A body that yields its bytes, then fails, which makes hyper drop the connection.
struct Truncated(Option<Bytes>);

impl Body for Truncated {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Poll::Ready(Some(match self.0.take() {
            Some(bytes) => Ok(Frame::data(bytes)),
            None => Err("connection reset by the fault proxy".into()),
        }))
    }
}

/// The operation a request calls: the JSON protocols' `X-Amz-Target`
/// (`DynamoDB_20120810.TransactWriteItems` → `TransactWriteItems`), or S3's, from its
/// method, path and query.
pub fn operation<B>(request: &Request<B>) -> String {
    if let Some(target) = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
    {
        return target.rsplit('.').next().unwrap_or(target).to_string();
    }
    let path = request.uri().path().trim_start_matches('/');
    let query = request.uri().query().unwrap_or_default();
    let has = |name: &str| {
        query
            .split('&')
            .any(|pair| pair == name || pair.starts_with(&format!("{name}=")))
    };
    let object = path.split_once('/').is_some_and(|(_, key)| !key.is_empty());
    let method = request.method().as_str();
    let name = match (method, object) {
        ("GET", true) if has("uploadId") => "ListParts",
        ("GET", true) => "GetObject",
        ("GET", false) if path.is_empty() => "ListBuckets",
        ("GET", false) if has("notification") => "GetBucketNotificationConfiguration",
        ("GET", false) if has("versioning") => "GetBucketVersioning",
        ("GET", false) if has("uploads") => "ListMultipartUploads",
        ("GET", false) if has("list-type") => "ListObjectsV2",
        ("GET", false) => "ListObjects",
        ("HEAD", true) => "HeadObject",
        ("HEAD", false) => "HeadBucket",
        ("PUT", true) if has("partNumber") => "UploadPart",
        ("PUT", true) if request.headers().contains_key("x-amz-copy-source") => "CopyObject",
        ("PUT", true) => "PutObject",
        ("PUT", false) if has("notification") => "PutBucketNotificationConfiguration",
        ("PUT", false) if has("versioning") => "PutBucketVersioning",
        ("PUT", false) => "CreateBucket",
        ("POST", true) if has("uploads") => "CreateMultipartUpload",
        ("POST", true) if has("uploadId") => "CompleteMultipartUpload",
        ("POST", false) if has("delete") => "DeleteObjects",
        ("DELETE", true) if has("uploadId") => "AbortMultipartUpload",
        ("DELETE", true) => "DeleteObject",
        ("DELETE", false) => "DeleteBucket",
        _ => "Unknown",
    };
    name.to_string()
}

/// The answer AWS gives for `fault`, status, headers and body as AWS sends them.
fn error_response(fault: &Fault) -> Response<ProxyBody> {
    let request_id = "FAULTPROXY0000000000000000000000000000000000000000000000000";
    let json = |status: StatusCode, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amzn-requestid", request_id)
            .body(full(body))
            .unwrap_or_else(|err| panic!("building an error answer: {err}"))
    };
    let xml = |status: StatusCode, code: &str, message: &str| {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{}</RequestId><HostId>{request_id}</HostId></Error>",
            &request_id[..16]
        );
        Response::builder()
            .status(status)
            .header("content-type", "application/xml")
            .header("x-amz-request-id", &request_id[..16])
            .body(full(body))
            .unwrap_or_else(|err| panic!("building an error answer: {err}"))
    };
    match fault {
        Fault::ProvisionedThroughputExceeded => json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
            })
            .to_string(),
        ),
        Fault::Throttling => json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({
                "__type": "com.amazon.coral.availability#ThrottlingException",
                "message": "Rate of requests exceeds the allowed throughput.",
            })
            .to_string(),
        ),
        Fault::TransactionConflict { items, conflicts } => {
            let codes: Vec<&str> = (0..*items)
                .map(|i| {
                    if conflicts.contains(&i) {
                        "TransactionConflict"
                    } else {
                        "None"
                    }
                })
                .collect();
            let reasons: Vec<serde_json::Value> = codes
                .iter()
                .map(|code| match *code {
                    "TransactionConflict" => serde_json::json!({
                        "Code": code,
                        "Message": "Transaction is ongoing for the item",
                    }),
                    _ => serde_json::json!({ "Code": code }),
                })
                .collect();
            json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                    "Message": format!(
                        "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                        codes.join(", ")
                    ),
                    "CancellationReasons": reasons,
                })
                .to_string(),
            )
        }
        Fault::SlowDown => xml(
            StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            "Please reduce your request rate.",
        ),
        Fault::InternalError => xml(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        ),
        Fault::ResetMidResponse | Fault::Delay(_) | Fault::Transient => {
            plain(StatusCode::BAD_GATEWAY, "not an error answer".into())
        }
    }
}

fn full(text: String) -> ProxyBody {
    http_body_util::Full::new(Bytes::from(text))
        .map_err(|never| match never {})
        .boxed()
}

fn plain(status: StatusCode, text: String) -> Response<ProxyBody> {
    let mut response = Response::new(full(text));
    *response.status_mut() = status;
    response
}
