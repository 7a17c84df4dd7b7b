//! Import commands: sources, import, jobs, status, and the local runner.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use indicatif::{HumanCount, ProgressBar, ProgressStyle};
use serde_json::json;

use inventory_base::S3Url;
use inventory_importer::jobs::{Job, JobState, MergeRecord};
use inventory_importer::pipeline::Started;
use inventory_importer::sources::{ImportScope, ImportSource, ImportSources};
use inventory_importer::stalls::{self, Patience};
use inventory_runtime::handlers::{DirectInvocation, Function, HandlerError, Handlers};
use inventory_runtime::local::LocalRunner;
use inventory_runtime::queues::MAX_RECEIVES;

use crate::catalog::print_json;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LocalFunction {
    /// Manifest events: validates deliveries and starts jobs
    Trigger,
    /// Shard tasks: stages shards
    Worker,
    /// Commit tasks: commits jobs
    Committer,
}

impl From<LocalFunction> for Function {
    fn from(function: LocalFunction) -> Self {
        match function {
            LocalFunction::Trigger => Function::Trigger,
            LocalFunction::Worker => Function::Worker,
            LocalFunction::Committer => Function::Committer,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum SourceCommand {
    /// Record that an inventory configuration feeds a repository
    Add {
        repository: String,
        /// s3://<dest-bucket>/<dest-prefix>/<source-bucket>/<config-id>/
        #[arg(long)]
        inventory: S3Url,
        /// Merge each successful import into this branch
        #[arg(long)]
        merge_into: Option<String>,
        /// Import only the keys that start with this prefix (rows of other keys are
        /// counted as skipped, `outside_prefix`); the import changes nothing else
        #[arg(long, value_name = "KEY_PREFIX")]
        prefix: Option<String>,
        /// Put the objects under this path of the repository (`raw/` gives
        /// `raw/<key>`), so that several buckets can sit side by side
        #[arg(long, value_name = "REPO_PATH")]
        path: Option<String>,
        /// The branch this source's imports commit on; each source of a repository
        /// needs its own, so that their imports never race
        #[arg(long, default_value = inventory_catalog::catalog::IMPORT_BRANCH)]
        branch: String,
    },
    /// List import sources
    List,
    /// Forget an import source
    Remove {
        #[arg(long)]
        inventory: S3Url,
    },
}

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// Which inventory configurations feed which repositories
    #[command(subcommand)]
    Source(SourceCommand),
    /// Import a delivery now (as the trigger's direct invocation does)
    Import {
        repository: String,
        /// The delivery's manifest.json
        #[arg(long)]
        manifest: S3Url,
        /// Read everything and report added / changed / deleted / unchanged; write nothing.
        /// Runs in this process, unless the delivery's data files total more than
        /// DRY_RUN_IN_PROCESS_BYTES (if set): then the workers run it as a job
        #[arg(long)]
        dry_run: bool,
        /// Import even if this manifest was imported before or is older than the last import
        #[arg(long)]
        force: bool,
        /// Follow the job until it ends (the workers must be running: `local`, or Lambda)
        #[arg(long)]
        wait: bool,
    },
    /// Import jobs of a repository, newest first
    Jobs { repository: String },
    /// Stop an import that has not finished: no branch moves, its staged entries are
    /// removed, its workers stop after the run they are staging, and the job is
    /// recorded as cancelled, by whom. Too late once its commit is moving the branch
    Cancel { repository: String, job: String },
    /// One job: state, progress, time per phase, summary or error; for a job that is
    /// not moving, why (a task that got no answer within the queues' visibility timeout:
    /// LOCAL_VISIBILITY_TIMEOUT_SECONDS when set, else the shard queue's)
    Status {
        repository: String,
        job: String,
        /// Follow the job with a progress bar until it ends
        #[arg(long)]
        watch: bool,
    },
    /// Run the trigger, worker and committer in this process, fed by their queues
    Local {
        /// Exit when the queues are empty and no message is in flight
        #[arg(long)]
        until_idle: bool,
        /// Run only these functions (repeat for several; default all three), e.g. to
        /// run more workers in other processes or to measure one function alone
        #[arg(long = "function", value_enum, value_name = "FUNCTION")]
        functions: Vec<LocalFunction>,
        /// How long a received message stays invisible to other receivers: after a
        /// runner is killed, its messages come back after this long (Lambda's queues
        /// use the template's, longer than the functions' timeouts)
        #[arg(
            long,
            env = LOCAL_VISIBILITY_TIMEOUT,
            value_name = "SECONDS",
            default_value_t = 300,
            value_parser = clap::value_parser!(u64).range(1..=43_200)
        )]
        visibility_timeout: u64,
        /// Messages one receive takes from a queue, 1 to 10 (as Lambda's batch size):
        /// 1 lets several runners on the same queues share the work message by message
        #[arg(
            long,
            env = "LOCAL_BATCH_SIZE",
            value_name = "MESSAGES",
            default_value_t = 10,
            value_parser = clap::value_parser!(u32).range(1..=10)
        )]
        batch_size: u32,
    },
}

pub async fn run(json: bool, command: ImportCommand) -> Result<()> {
    let handlers = Handlers::from_env().await.map_err(|err| match err {
        // A setting that is wrong says so on its own.
        HandlerError::Config(_) => anyhow::Error::new(err),
        err => anyhow::Error::new(err).context(
            "connecting to the product's queues and tables (run `inventory-import dev init` first)",
        ),
    })?;
    match command {
        ImportCommand::Source(command) => source(&handlers, json, command).await,
        ImportCommand::Import {
            repository,
            manifest,
            dry_run,
            force,
            wait,
        } => {
            let invocation = DirectInvocation {
                manifest,
                repository: Some(repository.clone()),
                dry_run,
                force,
            };
            let started = handlers.direct(&invocation).await?;
            match started {
                Started::Started { job, .. } | Started::Existing { job } => {
                    let job = if wait && !job.state.is_finished() {
                        follow(&handlers, &repository, &job.id, !json).await?
                    } else {
                        job
                    };
                    if json {
                        print_json(&job)?;
                    } else {
                        print_job(&job);
                        if !job.state.is_finished() {
                            println!(
                                "\nFollow it with: inventory-import status {repository} {} --watch",
                                job.id
                            );
                        }
                    }
                    // The exit status says the same with or without --json.
                    anyhow::ensure!(job.state != JobState::Failed, "job {} failed", job.id);
                }
                Started::AlreadyImported { manifest, commit } => {
                    if json {
                        return print_json(
                            &json!({ "already_imported": true, "manifest": manifest, "commit": commit }),
                        );
                    }
                    println!(
                        "{manifest} was already imported as commit {commit}; use --force to import it again"
                    );
                }
            }
            Ok(())
        }
        ImportCommand::Jobs { repository } => {
            let jobs = handlers.pipeline.jobs.list(&repository).await?;
            if json {
                return print_json(&jobs);
            }
            for job in jobs {
                let summary = job
                    .summary
                    .as_ref()
                    .map(|s| {
                        format!(
                            "+{} ~{} -{} ={}",
                            s.added, s.changed, s.deleted, s.unchanged
                        )
                    })
                    .unwrap_or_default();
                println!(
                    "{}  {:<16} {}  {}  {summary}",
                    job.id,
                    job.state.to_string(),
                    job.created_at,
                    job.manifest
                );
            }
            Ok(())
        }
        ImportCommand::Cancel { repository, job } => {
            let cancelled = handlers
                .pipeline
                .cancel(&repository, &job, &command_line_user())
                .await
                .with_context(|| format!("cancelling job {job} of repository {repository}"))?;
            if json {
                return print_json(&cancelled);
            }
            println!(
                "Cancelled job {} of repository {}: branch {} did not move, its staged entries are removed",
                cancelled.id, cancelled.repository, cancelled.scope.branch
            );
            Ok(())
        }
        ImportCommand::Status {
            repository,
            job,
            watch,
        } => {
            let mut job = if watch {
                follow(&handlers, &repository, &job, !json).await?
            } else {
                handlers.pipeline.jobs.get(&repository, &job).await?
            };
            let mut stalled = None;
            if !job.state.is_finished() {
                // Progress so far, from the shards that are done.
                let shards = handlers.pipeline.jobs.shards(&job.id).await?;
                let done = shards.iter().filter(|s| s.done);
                job.files_done = done.clone().map(|s| s.files.len()).sum();
                job.rows = done.clone().map(|s| s.rows).sum();
                job.entries_staged = done.map(|s| s.entries).sum();
                let patience = patience(&handlers).await?;
                stalled = stalls::stalled(&job, &shards, chrono::Utc::now(), patience);
            }
            if json {
                let mut value = serde_json::to_value(&job)?;
                value["stalled"] = json!(stalled);
                return print_json(&value);
            }
            print_job(&job);
            if let Some(reason) = stalled {
                println!("Stalled      {reason}");
            }
            Ok(())
        }
        ImportCommand::Local {
            until_idle,
            functions,
            visibility_timeout,
            batch_size,
        } => {
            let mut runner = LocalRunner::new(handlers).await?;
            runner.visibility_timeout = std::time::Duration::from_secs(visibility_timeout);
            runner.batch_size = batch_size;
            if !functions.is_empty() {
                runner.functions = functions.into_iter().map(Function::from).collect();
            }
            let names: Vec<String> = runner
                .functions
                .iter()
                .map(|f| format!("{f:?}").to_lowercase())
                .collect();
            eprintln!(
                "Running {} on the local queues{}",
                names.join(", "),
                if until_idle {
                    " until idle"
                } else {
                    "; Ctrl-C stops"
                }
            );
            let stats = runner.run(until_idle).await?;
            if json {
                return print_json(&stats);
            }
            println!(
                "Handled {} notification(s), {} shard task(s), {} commit task(s), {} task(s) given up by their queues; {} failure(s)",
                stats.notifications,
                stats.shard_tasks,
                stats.commit_tasks,
                stats.given_up,
                stats.failures
            );
            Ok(())
        }
    }
}

/// `keys under "logs/" at raw/`, `every key at the root`.
pub(crate) fn describe_scope(scope: &ImportScope) -> String {
    let keys = if scope.prefix.is_empty() {
        "every key".to_string()
    } else {
        format!("keys under {:?}", scope.prefix)
    };
    let at = if scope.path.is_empty() {
        "the root".to_string()
    } else {
        scope.path.clone()
    };
    format!("{keys} at {at}")
}

/// Who cancels from here: the user the process runs as.
fn command_line_user() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "an unnamed user".into());
    format!("{user} from the command line")
}

async fn source(handlers: &Handlers, json: bool, command: SourceCommand) -> Result<()> {
    let sources = ImportSources::new(&handlers.pipeline.catalog);
    match command {
        SourceCommand::Add {
            repository,
            inventory,
            merge_into,
            prefix,
            path,
            branch,
        } => {
            let scope = ImportScope::new(prefix.as_deref(), path.as_deref(), Some(&branch))?;
            let source = sources
                .add_source(&ImportSource {
                    merge_into,
                    scope,
                    ..ImportSource::new(inventory, repository)
                })
                .await?;
            if json {
                return print_json(&source);
            }
            println!(
                "Deliveries under {} now import {} into {}, on branch {}",
                source.inventory,
                describe_scope(&source.scope),
                source.repository,
                source.scope.branch
            );
        }
        SourceCommand::List => {
            let listed = sources.list_sources().await?;
            if json {
                return print_json(&listed);
            }
            if listed.is_empty() {
                println!("No import sources");
            }
            for s in listed {
                println!(
                    "{}  {}  branch {}  {}{}",
                    s.inventory,
                    s.repository,
                    s.scope.branch,
                    describe_scope(&s.scope),
                    s.merge_into
                        .map(|b| format!(", merged into {b}"))
                        .unwrap_or_default()
                );
            }
        }
        SourceCommand::Remove { inventory } => {
            sources.remove_source(&inventory).await?;
            if !json {
                println!("Removed import source {inventory}");
            }
        }
    }
    Ok(())
}

/// How long and how often the queues wait for a task's function, as `status` judges
/// a stall: the local runners' visibility timeout when set, else the shard queue's.
async fn patience(handlers: &Handlers) -> Result<Patience> {
    let local = std::env::var(LOCAL_VISIBILITY_TIMEOUT)
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    let seconds = match local {
        Some(seconds) => seconds,
        None => handlers
            .queues
            .visibility_timeout(&handlers.shard_queue_url)
            .await?
            .as_secs(),
    };
    Ok(Patience {
        timeout: Duration::from_secs(seconds),
        deliveries: MAX_RECEIVES,
    })
}

const LOCAL_VISIBILITY_TIMEOUT: &str = "LOCAL_VISIBILITY_TIMEOUT_SECONDS";

/// Polls a job until it ends, with a progress bar over its shards.
async fn follow(handlers: &Handlers, repository: &str, id: &str, show: bool) -> Result<Job> {
    let bar = if show {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} shards")
            .context("progress template")?,
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    loop {
        let job = handlers.pipeline.jobs.get(repository, id).await?;
        bar.set_length(job.shards_total as u64);
        bar.set_position(job.shards_done as u64);
        bar.set_message(job.state.to_string());
        if job.state.is_finished() {
            bar.finish_and_clear();
            return Ok(job);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn print_job(job: &Job) {
    println!("Job          {}", job.id);
    println!("Repository   {}", job.repository);
    println!("Manifest     {}", job.manifest);
    println!(
        "Imports      {} on branch {}",
        describe_scope(&job.scope),
        job.scope.branch
    );
    println!(
        "State        {}{}",
        job.state,
        // "dry run complete" says so already.
        if job.dry_run && job.state != JobState::DryRunComplete {
            " (dry run)"
        } else {
            ""
        }
    );
    println!(
        "Shards       {}/{} done; {}/{} data files",
        job.shards_done, job.shards_total, job.files_done, job.files_total
    );
    if job.rows > 0 {
        println!(
            "Rows         {} read, {} entries staged",
            HumanCount(job.rows),
            HumanCount(job.entries_staged)
        );
    }
    println!(
        "Time         planning {:.2} s, staging {:.2} s, committing {:.2} s",
        job.times.planning, job.times.staging, job.times.committing
    );
    if let Some(s) = &job.summary {
        println!(
            "Summary      {} added, {} changed, {} deleted, {} unchanged, {} total",
            HumanCount(s.added),
            HumanCount(s.changed),
            HumanCount(s.deleted),
            HumanCount(s.unchanged),
            HumanCount(s.total)
        );
        println!(
            "Skipped      {} noncurrent versions, {} delete markers, {} incomplete rows, {} outside the prefix; {} duplicate keys",
            HumanCount(s.skipped.noncurrent_version),
            HumanCount(s.skipped.delete_marker),
            HumanCount(s.skipped.incomplete_row),
            HumanCount(s.skipped.outside_prefix),
            HumanCount(s.duplicate_keys)
        );
    }
    if let Some(commit) = &job.commit_id {
        println!("Commit       {commit}");
    }
    match &job.merge {
        Some(MergeRecord {
            branch,
            error: Some(error),
            ..
        }) => println!("Merge        into {branch} failed: {error}"),
        Some(MergeRecord {
            branch,
            commit: Some(commit),
            ..
        }) => println!("Merge        into {branch}: {commit}"),
        _ => {}
    }
    if let Some(error) = &job.error {
        println!("Error        {error}");
    }
}
