//! `inventory-import`: drive S3 Inventory imports from a terminal.

mod catalog;
mod credentials;
mod dev;
mod imports;
mod inspect;
mod serve;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use inventory_base::ObjectStore;

#[derive(Parser)]
#[command(
    name = "inventory-import",
    version,
    about = "Zero-copy versioning of huge S3 buckets, imported from S3 Inventory",
    long_about = "Zero-copy versioning of huge S3 buckets, imported from S3 Inventory.\n\n\
        AWS settings come from the standard configuration chain (AWS_PROFILE, AWS_REGION, \
        credentials, ...). Set AWS_ENDPOINT_URL to use a local emulator such as moto or LocalStack."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    catalog: catalog::CatalogArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Validate an S3 Inventory delivery and summarise what it would import
    Inspect(inspect::InspectArgs),
    #[command(flatten)]
    Import(imports::ImportCommand),
    #[command(flatten)]
    Catalog(catalog::CatalogCommand),
    /// Serve the web UI (/ui/), the JSON API (/api/v1) and the S3 API (bucket =
    /// repository, key = <ref>/<path>) on one port, for issued access keys
    Serve(serve::ServeArgs),
    /// Access keys for the S3 API (sealed with SECRETS_SEALING_KEY or SECRETS_KMS_KEY_ID)
    #[command(subcommand)]
    Credentials(credentials::CredentialsCommand),
    /// Tools for development, tests and benchmarks
    #[command(subcommand)]
    Dev(dev::DevCommand),
}

/// Where objects are read and written.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Use a local directory instead of S3: s3://bucket/key is <DIR>/bucket/key
    #[arg(long, value_name = "DIR", global = true)]
    local_root: Option<PathBuf>,
}

impl StoreArgs {
    pub async fn open(&self) -> ObjectStore {
        match &self.local_root {
            Some(root) => ObjectStore::Local(root.clone()),
            None => inventory_base::aws::s3_store().await,
        }
    }
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    inventory_runtime::process::keep_freed_memory();
    init_logs();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (default `warn`); `LOG_FORMAT=json` writes
/// them as JSON lines, as the Lambda functions do (job ids in `span.job`).
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Inspect(args) => inspect::run(args, &cli.catalog).await,
        Command::Import(command) => imports::run(cli.catalog.json(), command).await,
        Command::Catalog(command) => catalog::run(&cli.catalog, command).await,
        Command::Serve(args) => serve::run(args, &cli.catalog).await,
        Command::Credentials(command) => credentials::run(&cli.catalog, command).await,
        Command::Dev(command) => dev::run(command, &cli.catalog).await,
    }
}
