//! Test harness: a moto server per test, started on a free loopback port and stopped
//! when the test ends (also when it fails, and when the test process dies).

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use bytes::Bytes;

use inventory_base::{ObjectStore, S3Url};
use inventory_catalog::catalog::{Catalog, DEFAULT_TABLE};
use inventory_catalog::tree::RangeParams;
use inventory_delivery::manifest::{ManifestDocument, manifest_md5_hex};
use inventory_importer::jobs::JobTable;
use inventory_importer::pipeline::Pipeline;
use inventory_importer::staging::StagingTable;

pub mod browser;
pub mod faults;
pub mod function_url;
pub mod serve;

pub const REGION: &str = "us-east-1";

/// The key that seals issued secrets on the local stack (32 bytes, base64).
pub const SEALING_KEY: &str = "dGVzdHMtc2VhbC1zZWNyZXRzLXdpdGgtdGhpcy1rZXk=";

/// The repository's top folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Inventory files written by AWS itself.
pub fn aws_fixture(name: &str) -> PathBuf {
    workspace_root()
        .join("tests/fixtures/aws-inventory")
        .join(name)
}

/// A running moto server and clients pointed at it.
pub struct LocalStack {
    child: Child,
    pub endpoint: String,
    pub config: SdkConfig,
}

impl LocalStack {
    /// Starts moto's server from the project's `.venv` (see `make setup`), through
    /// `scripts/moto-server.py`, which isolates DynamoDB's requests as AWS does.
    pub async fn start() -> LocalStack {
        let python = workspace_root().join(".venv/bin/python");
        let moto = workspace_root().join("scripts/moto-server.py");
        let installed = workspace_root().join(".venv/bin/moto_server");
        assert!(
            installed.exists(),
            "{} is missing: run `make setup` (or `make test`) first",
            installed.display()
        );
        let port = free_port();
        let mut command = Command::new(&python);
        command
            .arg(&moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        kill_with_parent(&mut command);
        let child = command
            .spawn()
            .unwrap_or_else(|err| panic!("starting {}: {err}", moto.display()));
        let endpoint = format!("http://127.0.0.1:{port}");
        let stack = LocalStack {
            child,
            endpoint: endpoint.clone(),
            config: sdk_config(&endpoint).await,
        };
        wait_for_port(port);
        stack
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        inventory_base::aws::s3_client(&self.config)
    }

    pub fn store(&self) -> ObjectStore {
        ObjectStore::S3(self.s3())
    }

    pub fn dynamo(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.config)
    }

    /// A catalog on this stack, its table created; `params` sets range sizes.
    pub async fn catalog(&self, params: RangeParams) -> Catalog {
        catalog_with(&self.config, params).await
    }

    /// The import pipeline on this stack, its tables created. Each data file is its
    /// own shard, so that tests exercise several workers.
    pub async fn pipeline(&self, params: RangeParams) -> Pipeline {
        pipeline_with(&self.config, params).await
    }

    /// The import pipeline reaching this stack through `proxy` (see [`faults`]).
    pub async fn pipeline_through(
        &self,
        proxy: &faults::FaultProxy,
        params: RangeParams,
    ) -> Pipeline {
        pipeline_with(&sdk_config(&proxy.endpoint).await, params).await
    }

    /// How many items a DynamoDB table holds.
    pub async fn count_items(&self, table: &str) -> i32 {
        // A page of a scan holds at most 1 MB (a few staged batches): every page counts.
        let mut count = 0;
        let mut start = None;
        loop {
            let page = self
                .dynamo()
                .scan()
                .table_name(table)
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap_or_else(|err| panic!("scanning {table}: {err:?}"));
            count += page.count();
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return count;
            }
        }
    }

    /// Keys of every object under `prefix` in `bucket`.
    pub async fn list_keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut pages = self
            .s3()
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.unwrap_or_else(|err| panic!("listing {bucket}/{prefix}: {err:?}"));
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
        }
        keys
    }

    pub async fn create_bucket(&self, bucket: &str) {
        self.s3()
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|err| panic!("creating bucket {bucket}: {err:?}"));
    }

    pub async fn put(&self, url: &S3Url, body: impl Into<Bytes>) {
        self.store()
            .put(url, body.into())
            .await
            .unwrap_or_else(|err| panic!("writing {url}: {err}"));
    }

    pub async fn get(&self, url: &S3Url) -> Bytes {
        self.store()
            .get(url)
            .await
            .unwrap_or_else(|err| panic!("reading {url}: {err}"))
    }

    pub async fn delete(&self, url: &S3Url) {
        self.s3()
            .delete_object()
            .bucket(&url.bucket)
            .key(&url.key)
            .send()
            .await
            .unwrap_or_else(|err| panic!("deleting {url}: {err:?}"));
    }

    /// Writes a manifest document and its matching `manifest.checksum`.
    pub async fn put_manifest(&self, url: &S3Url, document: &ManifestDocument) {
        let body = serde_json::to_vec_pretty(document).expect("a manifest serialises");
        let checksum = format!("{}\n", manifest_md5_hex(&body));
        self.put(url, body).await;
        self.put(&url.sibling("manifest.checksum"), checksum).await;
    }

    /// The product's resources on this stack (`dev init`; with `notified`, the bucket
    /// `inventory-dest`'s notifications too, so that a delivery starts an import), the
    /// buckets `inventory-dest` and `catalog-storage`, and the repository `photos` in
    /// the latter.
    pub async fn photos_repository(&self, notified: bool) {
        self.create_bucket("inventory-dest").await;
        self.create_bucket("catalog-storage").await;
        let mut init = self.cli();
        init.args(["dev", "init", "--json"]);
        if notified {
            init.args(["--inventory-bucket", "inventory-dest"]);
        }
        ok_json(&mut init);
        ok_json(self.cli().args([
            "repo",
            "create",
            "photos",
            "s3://catalog-storage/photos",
            "--json",
        ]));
    }

    /// [`photos_repository`](Self::photos_repository), notified, fed by the inventory
    /// configuration `daily` of `photos-source` delivered under
    /// `s3://inventory-dest/inv/`; each import merged into `merge_into`.
    pub async fn photos_source(&self, merge_into: Option<&str>) {
        self.photos_repository(true).await;
        let mut source = self.cli();
        source.args([
            "source",
            "add",
            "photos",
            "--inventory",
            "s3://inventory-dest/inv/photos-source/daily/",
            "--json",
        ]);
        if let Some(branch) = merge_into {
            source.args(["--merge-into", branch]);
        }
        ok_json(&mut source);
    }

    /// [`photos_source`](Self::photos_source) merged into `main`, and one delivery of
    /// Writes a delivery of the inventory configuration `daily` of `photos-source`
    /// into `s3://inventory-dest/inv` (`dev generate-inventory` with `args`: the
    /// objects, the creation time, …); returns the generator's report.
    pub fn generate_photos(&self, args: &[&str]) -> serde_json::Value {
        ok_json(
            self.cli()
                .args([
                    "dev",
                    "generate-inventory",
                    "--destination",
                    "s3://inventory-dest/inv",
                    "--source-bucket",
                    "photos-source",
                    "--json",
                ])
                .args(args),
        )
    }

    /// `objects` objects (of a versioned bucket, with `versioned`) whose source objects
    /// exist, imported through the three functions (`local`).
    pub async fn imported_photos(&self, objects: u64, versioned: bool) {
        self.photos_source(Some("main")).await;
        let objects = objects.to_string();
        let mut args = vec![
            "--objects",
            &objects,
            "--write-objects",
            "--created-at",
            "2026-11-25T01:00:00Z",
        ];
        if versioned {
            args.push("--versioned");
        }
        self.generate_photos(&args);
        ok_json(self.cli().args(["local", "--until-idle", "--json"]));
    }

    /// The commit `branch show` gives as the head of `branch` of `repository`.
    pub fn branch_head(&self, repository: &str, branch: &str) -> String {
        ok_json(
            self.cli()
                .args(["branch", "show", repository, branch, "--json"]),
        )["branch"]["commit_id"]
            .as_str()
            .unwrap_or_else(|| panic!("branch {branch} of {repository} has no commit"))
            .to_string()
    }

    /// The paths `ls --recursive` lists in the repository `photos` at `reference`.
    pub fn photos_paths(&self, reference: &str) -> Vec<String> {
        let listed = ok_json(
            self.cli()
                .args(["ls", "photos", reference, "--recursive", "--json"]),
        );
        listed["entries"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|e| e["path"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_else(|| panic!("ls printed no entries: {listed}"))
    }

    /// The URL of the queue `name`.
    pub async fn queue_url(&self, name: &str) -> String {
        aws_sdk_sqs::Client::new(&self.config)
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .unwrap_or_else(|err| panic!("queue {name}: {err}"))
            .queue_url
            .unwrap_or_default()
    }

    /// Messages of the queue `name`: (waiting, in flight).
    pub async fn queue_counts(&self, name: &str) -> (u64, u64) {
        use aws_sdk_sqs::types::QueueAttributeName;
        let attributes = aws_sdk_sqs::Client::new(&self.config)
            .get_queue_attributes()
            .queue_url(self.queue_url(name).await)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap_or_else(|err| panic!("queue {name}: {err}"))
            .attributes
            .unwrap_or_default();
        let count = |name| {
            attributes
                .get(&name)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        (
            count(QueueAttributeName::ApproximateNumberOfMessages),
            count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        )
    }

    /// The `inventory-import` binary with its environment pointed at this stack.
    pub fn cli(&self) -> Command {
        let binary = cli_binary();
        let mut command = Command::new(&binary);
        command
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION)
            .env("SECRETS_SEALING_KEY", SEALING_KEY)
            .env_remove("SECRETS_KMS_KEY_ID")
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::null());
        command
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The CLI binary built next to the test binaries (`cargo build` builds it; `make test`
/// does that first).
pub fn cli_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    // target/<profile>/deps/<test> → target/<profile>/inventory-import
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps");
    let binary = profile_dir.join("inventory-import");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build -p inventory-import` (make test does)",
        binary.display()
    );
    binary
}

async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding a loopback port");
    listener
        .local_addr()
        .expect("a bound socket has an address")
        .port()
}

pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listened on port {port} within 30 s");
}

/// Asks the kernel to kill the server if the thread that started it dies, so a
/// crashed or interrupted test run leaves no server behind.
pub fn kill_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Runs a command to its end without blocking the thread (a proxy serving it may run
/// on the same runtime); it must succeed within two minutes. Returns its stdout.
pub async fn finished(mut command: Command) -> String {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("starting {command:?}: {err}"));
    // Read both pipes as the command writes, so that it never waits on a full one.
    let mut stdout = child.stdout.take().map(read_pipe);
    let mut stderr = child.stderr.take().map(read_pipe);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for a command") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{command:?} did not finish within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let read = |pipe: &mut Option<std::thread::JoinHandle<String>>| {
        pipe.take()
            .map(|reader| reader.join().unwrap_or_default())
            .unwrap_or_default()
    };
    let (stdout, stderr) = (read(&mut stdout), read(&mut stderr));
    assert!(status.success(), "{command:?}: {status}: {stderr}");
    stdout
}

/// Reads a pipe to its end on a thread of its own.
fn read_pipe(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// Runs a CLI command that must succeed and print JSON; its stderr is the failure
/// message otherwise.
pub fn ok_json(command: &mut Command) -> serde_json::Value {
    let output = command.output().expect("the CLI runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("{err}: {stdout}"))
}

/// The tree entries an import of `entries` from `bucket` must produce.
pub fn as_tree(
    bucket: &str,
    entries: &[inventory_delivery::InventoryEntry],
) -> Vec<inventory_catalog::tree::Entry> {
    entries
        .iter()
        .cloned()
        .map(|e| inventory_importer::entries::imported_entry(bucket, e))
        .collect()
}

/// A catalog through `config`, its table created; `params` sets range sizes.
pub async fn catalog_with(config: &SdkConfig, params: RangeParams) -> Catalog {
    let store = ObjectStore::S3(inventory_base::aws::s3_client(config));
    let catalog = Catalog::new(aws_sdk_dynamodb::Client::new(config), DEFAULT_TABLE, store)
        .with_range_params(params);
    catalog
        .ensure_table()
        .await
        .unwrap_or_else(|err| panic!("creating the catalog table: {err}"));
    catalog
}

/// The import pipeline through `config`, its tables created. Each data file is its
/// own shard, so that tests exercise several workers.
pub async fn pipeline_with(config: &SdkConfig, params: RangeParams) -> Pipeline {
    let catalog = catalog_with(config, params).await;
    let dynamo = aws_sdk_dynamodb::Client::new(config);
    let mut pipeline = Pipeline::new(
        catalog,
        JobTable::new(dynamo.clone(), "inventory-import-jobs"),
        StagingTable::new(dynamo, "inventory-import-staging"),
    );
    pipeline.shard_bytes = 1;
    pipeline
        .ensure_tables()
        .await
        .unwrap_or_else(|err| panic!("creating the pipeline's tables: {err}"));
    pipeline
}

/// Small ranges (at most 128 entries), so that trees of a few hundred entries span
/// several range files.
pub fn small_ranges() -> RangeParams {
    RangeParams {
        min_entries: 8,
        split_modulus: 32,
        max_entries: 128,
    }
}

/// An import (not a dry run, not forced) of `manifest` into the repository `photos`.
pub fn photos_import(manifest: &S3Url) -> inventory_importer::pipeline::ImportRequest {
    inventory_importer::pipeline::ImportRequest {
        repository: "photos".into(),
        manifest: manifest.clone(),
        dry_run: false,
        force: false,
    }
}

/// Every entry on the import branch of the repository `photos`, in order.
pub async fn imported_into_photos(pipeline: &Pipeline) -> Vec<inventory_catalog::tree::Entry> {
    imported_into(pipeline, "photos").await
}

/// Every entry on the import branch of `repository`, in order.
pub async fn imported_into(
    pipeline: &Pipeline,
    repository: &str,
) -> Vec<inventory_catalog::tree::Entry> {
    entries_at(
        pipeline,
        repository,
        inventory_importer::pipeline::IMPORT_BRANCH,
    )
    .await
}

/// Every entry of `repository` at `reference`, in order.
pub async fn entries_at(
    pipeline: &Pipeline,
    repository: &str,
    reference: &str,
) -> Vec<inventory_catalog::tree::Entry> {
    let catalog = &pipeline.catalog;
    let repo = catalog.repository(repository).await.unwrap();
    let commit = catalog.resolve(repository, reference).await.unwrap();
    let tree = catalog.tree_of(&repo, &commit).await.unwrap();
    let trees = catalog.trees(&repo);
    let mut cursor = trees.cursor(&tree);
    let mut entries = Vec::new();
    while let Some(entry) = cursor.next_entry().await.unwrap() {
        entries.push(entry);
    }
    entries
}

/// A count a long test takes from the environment (`make soak` and `make chaos` set
/// larger ones than `make test`'s defaults).
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
        })
        .unwrap_or(default)
}
