//! `serve` on the local stack, and the S3 clients users point at it (boto3, the AWS
//! CLI), all from the project's `.venv`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::function_url::FunctionUrl;
use crate::{
    LocalStack, SEALING_KEY, free_port, kill_with_parent, ok_json, wait_for_port, workspace_root,
};

/// `serve` on a free loopback port with a freshly issued access key, or the `api`
/// function behind a Function URL on loopback; stopped when dropped.
pub struct Server {
    /// `serve`'s process; none for the function.
    child: Option<Child>,
    /// The function's URL; none for `serve`.
    function_url: Option<FunctionUrl>,
    pub endpoint: String,
    pub port: u16,
    pub key_id: String,
    pub secret: String,
    /// Where the AWS CLI's configuration (path-style addressing) is written.
    dir: tempfile::TempDir,
}

impl Server {
    pub fn start(stack: &LocalStack) -> Server {
        Server::start_through(stack, &stack.endpoint)
    }

    /// `serve` with these settings in its environment.
    pub fn start_with(stack: &LocalStack, settings: &[(&str, &str)]) -> Server {
        Server::serve(stack, &stack.endpoint, settings)
    }

    /// `serve` reaching AWS through `endpoint` (a fault proxy in front of the stack).
    pub fn start_through(stack: &LocalStack, endpoint: &str) -> Server {
        Server::serve(stack, endpoint, &[])
    }

    fn serve(stack: &LocalStack, endpoint: &str, settings: &[(&str, &str)]) -> Server {
        let key = issue_key(stack);
        let text = |name: &str| key[name].as_str().unwrap_or_default().to_string();
        let port = free_port();
        let mut command = stack.cli();
        command
            .envs(settings.iter().copied())
            .env("AWS_ENDPOINT_URL", endpoint)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        kill_with_parent(&mut command);
        let child = command.spawn().expect("serve starts");
        wait_for_port(port);
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(
            dir.path().join("config"),
            "[default]\ns3 =\n    addressing_style = path\n",
        )
        .expect("the AWS CLI's configuration is written");
        Server {
            child: Some(child),
            function_url: None,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            key_id: text("access_key_id"),
            secret: text("secret_access_key"),
            dir,
        }
    }

    /// The `api` function's router (the one its Lambda entry point builds) behind a
    /// Function URL on loopback, answering in this process: a test using it runs on
    /// a multi-threaded runtime, since the clients block the test's thread.
    pub async fn function_url(stack: &LocalStack) -> Server {
        let key = issue_key(stack);
        let text = |name: &str| key[name].as_str().unwrap_or_default().to_string();
        let sealer = inventory_serve::Sealer::from_base64(SEALING_KEY)
            .unwrap_or_else(|err| panic!("the tests' sealing key: {err}"));
        let router = inventory_serve::setup::router_with(
            &stack.config,
            inventory_catalog::catalog::DEFAULT_TABLE,
            sealer,
        );
        let url = FunctionUrl::start(api::Endpoint::new(router)).await;
        let port = url
            .endpoint
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .unwrap_or_default();
        Server {
            child: None,
            endpoint: url.endpoint.clone(),
            function_url: Some(url),
            port,
            key_id: text("access_key_id"),
            secret: text("secret_access_key"),
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// An S3 client of the Rust SDK signing with the server's key.
    pub async fn sdk(&self) -> aws_sdk_s3::Client {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                &self.key_id,
                &self.secret,
                None,
                None,
                "serve",
            ))
            .load()
            .await;
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        )
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(Child::id)
            .unwrap_or_else(std::process::id)
    }

    /// Whether the server still runs.
    pub fn running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => self.function_url.is_some(),
        }
    }

    /// Runs a boto3 script with `s3` (a client signing with the server's key) and
    /// `client(secret=…)` defined; it prints one JSON document.
    pub fn boto3(&self, script: &str) -> Value {
        let prelude = format!(
            r#"
import json, hashlib, boto3, botocore
from botocore.config import Config
def client(secret="{secret}", key_id="{key_id}"):
    return boto3.client("s3", endpoint_url="{endpoint}", region_name="us-east-1",
        aws_access_key_id=key_id, aws_secret_access_key=secret,
        config=Config(s3={{"addressing_style": "path"}}, retries={{"max_attempts": 1}}))
s3 = client()
"#,
            secret = self.secret,
            key_id = self.key_id,
            endpoint = self.endpoint
        );
        self.python_json(&format!("{prelude}\n{script}"))
    }

    /// Runs a Python script with `call(method, path, body=None, send_csrf=True,
    /// raw=None)` that calls the JSON API with a cookie jar (logged in as the server's
    /// key when `login`), and returns `[status, json or the bytes' MD5]`; the script
    /// prints one JSON document, which this returns.
    pub fn api(&self, login: bool, script: &str) -> Value {
        let prelude = format!(
            r#"
import json, http.cookiejar, urllib.request, urllib.error, hashlib
base = "{endpoint}/api/v1"
jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
csrf = None
def call(method, path, body=None, send_csrf=True, raw=None):
    headers = {{}}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    if raw is not None:
        data = raw
        headers["content-type"] = "application/octet-stream"
    if send_csrf and csrf:
        headers["x-csrf-token"] = csrf
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        response = opener.open(request)
        status, payload, kind = response.status, response.read(), response.headers.get("content-type", "")
    except urllib.error.HTTPError as e:
        status, payload, kind = e.code, e.read(), e.headers.get("content-type", "")
    if "json" in kind:
        return [status, json.loads(payload)]
    return [status, hashlib.md5(payload).hexdigest()]
if {login}:
    session = call("POST", "/auth/login", {{"access_key_id": "{key}", "secret_access_key": "{secret}"}})
    assert session[0] == 200, session
    csrf = session[1]["csrf_token"]
"#,
            endpoint = self.endpoint,
            key = self.key_id,
            secret = self.secret,
            login = if login { "True" } else { "False" },
        );
        self.python_json(&format!("{prelude}\n{script}"))
    }

    /// Runs a Python script with `call(method, path, body=None)` that calls the JSON
    /// API as a program does: signed with SigV4 with the server's key (botocore's
    /// signer), no session, no CSRF token; it returns `[status, json]`. The script
    /// prints one JSON document, which this returns.
    pub fn signed_api(&self, script: &str) -> Value {
        let prelude = r#"
import urllib.request, urllib.error
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
base = s3.meta.endpoint_url + "/api/v1"
signer = S3SigV4Auth(Credentials(s3._request_signer._credentials.access_key,
    s3._request_signer._credentials.secret_key), "s3", "us-east-1")
def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    headers = {"content-type": "application/json"} if body is not None else {}
    request = AWSRequest(method=method, url=base + path, data=data, headers=headers)
    signer.add_auth(request)
    prepared = request.prepare()
    r = urllib.request.Request(prepared.url, data=data or None, method=method, headers=dict(prepared.headers))
    try:
        response = urllib.request.urlopen(r)
        return [response.status, json.loads(response.read())]
    except urllib.error.HTTPError as e:
        return [e.code, json.loads(e.read())]
"#;
        self.boto3(&format!("{prelude}\n{script}"))
    }

    /// Runs a Python script that prints one JSON document, and returns it (after
    /// asserting the script succeeded).
    pub fn python_json(&self, script: &str) -> Value {
        let output = self
            .python()
            .arg("-c")
            .arg(script)
            .output()
            .expect("python runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(&output.stdout)))
    }

    /// The project's Python, with the server's key in the environment as AWS clients
    /// read it.
    pub fn python(&self) -> Command {
        self.client(workspace_root().join(".venv/bin/python"))
    }

    /// A command of the `.venv` (`aws`, `s5cmd`, …) pointed at nothing but the
    /// server's key and path-style configuration.
    pub fn client(&self, program: PathBuf) -> Command {
        let mut command = Command::new(program);
        command
            .env("AWS_ACCESS_KEY_ID", &self.key_id)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", self.dir.path().join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.dir.path().join("none"))
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::null());
        command
    }

    /// Runs the AWS CLI against the server; its output, after asserting it succeeded.
    pub fn aws(&self, args: &[&str]) -> String {
        let output = self
            .client(workspace_root().join(".venv/bin/aws"))
            .args(args)
            .args(["--endpoint-url", &self.endpoint])
            .output()
            .expect("the AWS CLI runs");
        assert!(
            output.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// Every version of every object of a bucket, as `(key, version id, ETag, size)`:
/// what clients of the endpoint must never change.
pub async fn bucket_versions(
    stack: &LocalStack,
    bucket: &str,
) -> Vec<(String, String, String, i64)> {
    let s3 = aws_sdk_s3::Client::new(&stack.config);
    let mut versions = Vec::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .set_key_marker(key_marker)
            .set_version_id_marker(version_marker)
            .send()
            .await
            .expect("ListObjectVersions answers");
        for version in page.versions() {
            versions.push((
                version.key().unwrap_or_default().to_string(),
                version.version_id().unwrap_or_default().to_string(),
                version.e_tag().unwrap_or_default().to_string(),
                version.size().unwrap_or_default(),
            ));
        }
        for marker in page.delete_markers() {
            versions.push((
                marker.key().unwrap_or_default().to_string(),
                marker.version_id().unwrap_or_default().to_string(),
                "delete marker".to_string(),
                0,
            ));
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        version_marker = page.next_version_id_marker().map(str::to_string);
    }
    versions.sort();
    versions
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A fresh access key, issued by the CLI.
fn issue_key(stack: &LocalStack) -> Value {
    ok_json(
        stack
            .cli()
            .args(["credentials", "create", "--description", "tests", "--json"]),
    )
}
