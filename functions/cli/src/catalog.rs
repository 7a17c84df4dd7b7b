//! Catalog commands: repositories, branches, log, ls, stat, cat, diff, merge; and
//! users' writes on branches: upload, rm, commit, reset.

use std::io::Write;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::HumanBytes;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use inventory_catalog::catalog::{Catalog, Commit, ListOptions, MergeOutcome};
use inventory_catalog::diff::{ChangeKind, ConflictStrategy};
use inventory_catalog::tree::Entry;

/// Options every command takes.
#[derive(Args, Debug, Clone)]
pub struct CatalogArgs {
    /// DynamoDB table of the catalog
    #[arg(long, env = "CATALOG_TABLE", default_value = inventory_catalog::catalog::DEFAULT_TABLE, global = true)]
    table: String,
    /// Print JSON instead of text (for programs)
    #[arg(long, global = true)]
    json: bool,
}

impl CatalogArgs {
    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn json(&self) -> bool {
        self.json
    }

    pub async fn open(&self) -> Catalog {
        let config = inventory_base::aws::load_config().await;
        let store = inventory_base::ObjectStore::S3(inventory_base::aws::s3_client(&config));
        Catalog::new(aws_sdk_dynamodb::Client::new(&config), &self.table, store)
    }

    /// The issued access keys, sealed with the key configuration names.
    pub async fn keys(&self) -> Result<inventory_serve::Keys> {
        let config = inventory_base::aws::load_config().await;
        let sealer = inventory_serve::Sealer::from_env(&config)?;
        Ok(inventory_serve::Keys::new(
            aws_sdk_dynamodb::Client::new(&config),
            &self.table,
            sealer,
        ))
    }
}

#[derive(Subcommand, Debug)]
pub enum RepoCommand {
    /// Create a repository whose default branch starts at an empty commit
    Create {
        name: String,
        /// Where the catalog writes its own files: s3://bucket[/prefix]
        storage_namespace: String,
        #[arg(long, default_value = "main")]
        default_branch: String,
    },
    /// List repositories
    List,
    /// Show a repository
    Show { name: String },
    /// Delete a repository's metadata (branches, commits); objects are never deleted
    Delete { name: String },
}

#[derive(Subcommand, Debug)]
pub enum BranchCommand {
    /// Create a branch at a ref (default: the default branch)
    Create {
        repository: String,
        name: String,
        /// Branch name, commit id (or unique prefix), optionally with ~N
        #[arg(long = "from")]
        from: Option<String>,
    },
    /// List branches with their commits
    List { repository: String },
    /// Show a branch and its head commit
    Show { repository: String, name: String },
    /// Delete a branch (not the default branch)
    Delete { repository: String, name: String },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Strategy {
    /// Report the conflicting paths and merge nothing
    Fail,
    /// Take the source's version of conflicting paths
    SourceWins,
    /// Keep the destination's version of conflicting paths
    DestWins,
}

#[derive(Subcommand, Debug)]
pub enum CatalogCommand {
    /// Manage repositories
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Manage branches
    #[command(subcommand)]
    Branch(BranchCommand),
    /// First-parent history of a ref, newest first, with commit metadata
    Log {
        repository: String,
        #[arg(default_value = "main")]
        reference: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// List objects at a ref, like S3 ListObjectsV2 (prefix, '/' delimiter)
    Ls {
        repository: String,
        reference: String,
        #[arg(default_value = "")]
        prefix: String,
        /// List every object under the prefix instead of grouping by '/'
        #[arg(long, short)]
        recursive: bool,
        /// Start after this key (from a previous page)
        #[arg(long)]
        after: Option<String>,
        /// Print at most this many keys and prefixes (default: all)
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Show one object's entry: physical address, version, size, ETag, last modified
    Stat {
        repository: String,
        reference: String,
        path: String,
    },
    /// Write an object's bytes to stdout, read from its physical address
    Cat {
        repository: String,
        reference: String,
        path: String,
    },
    /// The files of a commit's tree: its metarange and range files (Parquet, for
    /// DuckDB or Athena)
    Tree {
        repository: String,
        reference: String,
        /// Also read every range and check that each file holds what its id names
        #[arg(long)]
        verify: bool,
    },
    /// Objects added, removed and changed from one ref to another; with one branch,
    /// its uncommitted changes
    Diff {
        repository: String,
        left: String,
        right: Option<String>,
    },
    /// Upload a local file (or stdin, `-`) to a path of a branch, as an uncommitted
    /// change: the bytes go to the repository's storage namespace, streamed
    Upload {
        repository: String,
        branch: String,
        path: String,
        /// A local file, or `-` for stdin
        source: String,
        /// Bytes sent per request; larger files go in several parts (S3's minimum: 5 MiB)
        #[arg(long, default_value_t = 8 << 20, value_name = "BYTES")]
        part_size: usize,
    },
    /// Delete a path of a branch (an uncommitted change)
    Rm {
        repository: String,
        branch: String,
        path: String,
        /// Delete every path under the prefix
        #[arg(long, short)]
        recursive: bool,
    },
    /// Commit a branch's uncommitted changes
    Commit {
        repository: String,
        branch: String,
        #[arg(long, short)]
        message: String,
        /// Metadata of the commit (repeat for several)
        #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = key_value)]
        metadata: Vec<(String, String)>,
    },
    /// Discard a branch's uncommitted changes (or one path's); uploaded bytes are removed
    Reset {
        repository: String,
        branch: String,
        path: Option<String>,
    },
    /// Merge a ref into a branch (fast-forward when possible)
    Merge {
        repository: String,
        source: String,
        destination: String,
        #[arg(long, value_enum, default_value_t = Strategy::Fail)]
        strategy: Strategy,
        #[arg(long, short)]
        message: Option<String>,
    },
}

fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

fn committer() -> String {
    std::env::var("USER").unwrap_or_else(|_| "inventory-import".to_string())
}

pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub async fn run(args: &CatalogArgs, command: CatalogCommand) -> Result<()> {
    let catalog = args.open().await;
    let json = args.json;
    match command {
        CatalogCommand::Repo(command) => repo(&catalog, json, command).await,
        CatalogCommand::Branch(command) => branch(&catalog, json, command).await,
        CatalogCommand::Log {
            repository,
            reference,
            limit,
        } => {
            let commits = catalog.log(&repository, &reference, limit).await?;
            if json {
                return print_json(&commits);
            }
            for commit in &commits {
                print_commit(commit);
            }
            Ok(())
        }
        CatalogCommand::Ls {
            repository,
            reference,
            prefix,
            recursive,
            after,
            limit,
        } => {
            ls(
                &catalog,
                json,
                &repository,
                &reference,
                prefix,
                recursive,
                after,
                limit,
            )
            .await
        }
        CatalogCommand::Stat {
            repository,
            reference,
            path,
        } => {
            let entry = catalog.entry(&repository, &reference, &path).await?;
            if json {
                return print_json(&entry);
            }
            print_entry(&entry);
            Ok(())
        }
        CatalogCommand::Cat {
            repository,
            reference,
            path,
        } => {
            let (_, body) = catalog.open(&repository, &reference, &path).await?;
            let mut reader = body.into_async_read();
            let mut stdout = tokio::io::stdout();
            tokio::io::copy(&mut reader, &mut stdout)
                .await
                .with_context(|| format!("reading {path}"))?;
            stdout.flush().await?;
            Ok(())
        }
        CatalogCommand::Tree {
            repository,
            reference,
            verify,
        } => {
            let repo = catalog.repository(&repository).await?;
            let commit = catalog.resolve(&repository, &reference).await?;
            let tree = catalog.tree_of(&repo, &commit).await?;
            let trees = catalog.trees(&repo);
            let verified = if verify {
                Some(trees.verify(&tree).await?)
            } else {
                None
            };
            let ranges: Vec<_> = tree
                .ranges
                .iter()
                .map(|r| {
                    json!({
                        "url": trees.range_url(&r.id).to_string(),
                        "id": r.id,
                        "min_path": r.min_path,
                        "max_path": r.max_path,
                        "entries": r.entries,
                    })
                })
                .collect();
            if json {
                return print_json(&json!({
                    "commit": commit.id,
                    "metarange": trees.metarange_url(&tree.id).to_string(),
                    "entries": tree.entries(),
                    "ranges": ranges,
                    "verified": verified.is_some(),
                }));
            }
            println!("Commit     {}", commit.id);
            println!("Metarange  {}", trees.metarange_url(&tree.id));
            if let Some(ranges) = verified {
                println!(
                    "Verified   the metarange and its {ranges} range(s): each holds what its id names"
                );
            }
            println!(
                "Entries    {} in {} range(s)",
                tree.entries(),
                tree.ranges.len()
            );
            for range in &tree.ranges {
                println!(
                    "  {}  {} entries",
                    trees.range_url(&range.id),
                    range.entries
                );
            }
            Ok(())
        }
        CatalogCommand::Diff {
            repository,
            left,
            right,
        } => diff(&catalog, json, &repository, &left, right.as_deref()).await,
        CatalogCommand::Upload {
            repository,
            branch,
            path,
            source,
            part_size,
        } => {
            let entry = if source == "-" {
                catalog
                    .upload(&repository, &branch, &path, tokio::io::stdin(), part_size)
                    .await?
            } else {
                let file = tokio::fs::File::open(&source)
                    .await
                    .with_context(|| format!("reading {source}"))?;
                catalog
                    .upload(&repository, &branch, &path, file, part_size)
                    .await?
            };
            if json {
                return print_json(&entry);
            }
            println!(
                "Uploaded {} ({}) to {branch}: uncommitted",
                entry.path,
                HumanBytes(entry.size)
            );
            Ok(())
        }
        CatalogCommand::Rm {
            repository,
            branch,
            path,
            recursive,
        } => {
            let removed = catalog
                .remove(&repository, &branch, &path, recursive)
                .await?;
            if json {
                return print_json(&json!({ "removed": removed }));
            }
            for path in &removed {
                println!("- {path}");
            }
            println!("{} path(s) deleted on {branch}: uncommitted", removed.len());
            Ok(())
        }
        CatalogCommand::Commit {
            repository,
            branch,
            message,
            metadata,
        } => {
            let info = inventory_catalog::catalog::CommitInfo {
                message,
                committer: committer(),
                metadata: metadata.into_iter().collect(),
            };
            let committed = catalog.commit_changes(&repository, &branch, info).await?;
            if json {
                return print_json(&committed);
            }
            let stats = &committed.stats;
            println!(
                "Committed {} change(s) to {branch}: commit {}",
                committed.changes, committed.commit.id
            );
            println!(
                "Ranges: {} written, {} read of the {} in the tree before",
                stats.write.ranges_written, stats.ranges_read, stats.ranges_in_base
            );
            Ok(())
        }
        CatalogCommand::Reset {
            repository,
            branch,
            path,
        } => {
            let discarded = catalog.reset(&repository, &branch, path.as_deref()).await?;
            if json {
                return print_json(&json!({ "discarded": discarded }));
            }
            println!("Discarded {discarded} uncommitted change(s) on {branch}");
            Ok(())
        }
        CatalogCommand::Merge {
            repository,
            source,
            destination,
            strategy,
            message,
        } => {
            let strategy = match strategy {
                Strategy::Fail => ConflictStrategy::Fail,
                Strategy::SourceWins => ConflictStrategy::SourceWins,
                Strategy::DestWins => ConflictStrategy::DestWins,
            };
            let outcome = catalog
                .merge(
                    &repository,
                    &source,
                    &destination,
                    strategy,
                    &committer(),
                    message.as_deref(),
                )
                .await?;
            if json {
                return print_json(&outcome);
            }
            match outcome {
                MergeOutcome::UpToDate { commit } => {
                    println!("{destination} is up to date at {commit}")
                }
                MergeOutcome::FastForward { commit } => {
                    println!("Fast-forwarded {destination} to {commit}")
                }
                MergeOutcome::Merged {
                    commit,
                    conflicts_resolved,
                } => {
                    println!("Merged {source} into {destination}: commit {}", commit.id);
                    if conflicts_resolved > 0 {
                        println!(
                            "{conflicts_resolved} conflicting path(s) resolved by the strategy"
                        );
                    }
                }
            }
            Ok(())
        }
    }
}

async fn repo(catalog: &Catalog, json: bool, command: RepoCommand) -> Result<()> {
    match command {
        RepoCommand::Create {
            name,
            storage_namespace,
            default_branch,
        } => {
            let repo = catalog
                .create_repository(&name, &storage_namespace, Some(&default_branch))
                .await?;
            if json {
                return print_json(&repo);
            }
            println!(
                "Created repository {} ({}), default branch {}",
                repo.name, repo.storage_namespace, repo.default_branch
            );
        }
        RepoCommand::List => {
            let repos = catalog.list_repositories().await?;
            if json {
                return print_json(&repos);
            }
            for repo in repos {
                println!(
                    "{}\t{}\t{}\t{}",
                    repo.name, repo.storage_namespace, repo.default_branch, repo.created_at
                );
            }
        }
        RepoCommand::Show { name } => {
            let repo = catalog.repository(&name).await?;
            let branches = catalog.list_branches(&name).await?;
            if json {
                return print_json(&json!({ "repository": repo, "branches": branches }));
            }
            println!("Repository         {}", repo.name);
            println!("Storage namespace  {}", repo.storage_namespace);
            println!("Default branch     {}", repo.default_branch);
            println!("Created            {}", repo.created_at);
            println!("Branches           {}", branches.len());
        }
        RepoCommand::Delete { name } => {
            catalog.delete_repository(&name).await?;
            if json {
                return print_json(&json!({ "deleted": name }));
            }
            println!("Deleted repository {name} (its metadata; no object was deleted)");
        }
    }
    Ok(())
}

async fn branch(catalog: &Catalog, json: bool, command: BranchCommand) -> Result<()> {
    match command {
        BranchCommand::Create {
            repository,
            name,
            from,
        } => {
            let from = match from {
                Some(from) => from,
                None => catalog.repository(&repository).await?.default_branch,
            };
            let branch = catalog.create_branch(&repository, &name, &from).await?;
            if json {
                return print_json(&branch);
            }
            println!("Created branch {} at {}", branch.name, branch.commit_id);
        }
        BranchCommand::List { repository } => {
            let branches = catalog.list_branches(&repository).await?;
            if json {
                return print_json(&branches);
            }
            for branch in branches {
                println!("{}\t{}", branch.name, branch.commit_id);
            }
        }
        BranchCommand::Show { repository, name } => {
            let branch = catalog.branch(&repository, &name).await?;
            let commit = catalog.resolve(&repository, &branch.commit_id).await?;
            if json {
                return print_json(&json!({ "branch": branch, "commit": commit }));
            }
            println!("Branch {}", branch.name);
            print_commit(&commit);
        }
        BranchCommand::Delete { repository, name } => {
            catalog.delete_branch(&repository, &name).await?;
            if json {
                return print_json(&json!({ "deleted": name }));
            }
            println!("Deleted branch {name}");
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn ls(
    catalog: &Catalog,
    json: bool,
    repository: &str,
    reference: &str,
    prefix: String,
    recursive: bool,
    after: Option<String>,
    limit: Option<usize>,
) -> Result<()> {
    let mut options = ListOptions {
        prefix,
        delimiter: (!recursive).then(|| "/".to_string()),
        after,
        limit: limit.unwrap_or(1000).min(1000),
    };
    let mut remaining = limit;
    let mut entries = Vec::new();
    let mut prefixes = Vec::new();
    let mut next_after;
    loop {
        let page = catalog.list(repository, reference, &options).await?;
        let count = page.entries.len() + page.common_prefixes.len();
        if json {
            entries.extend(page.entries);
            prefixes.extend(page.common_prefixes);
        } else {
            for prefix in &page.common_prefixes {
                println!("{:>30}  {prefix}", "PREFIX");
            }
            for entry in &page.entries {
                println!(
                    "{:>12}  {}  {}",
                    HumanBytes(entry.size).to_string(),
                    format_time(entry.last_modified_ms),
                    entry.path
                );
            }
        }
        next_after = page.next_after;
        if let Some(left) = remaining.as_mut() {
            *left = left.saturating_sub(count);
            if *left == 0 {
                break;
            }
            options.limit = (*left).min(1000);
        }
        match &next_after {
            Some(after) => options.after = Some(after.clone()),
            None => break,
        }
    }
    if json {
        return print_json(
            &json!({ "entries": entries, "common_prefixes": prefixes, "next_after": next_after }),
        );
    }
    if let Some(after) = next_after.filter(|_| limit.is_some()) {
        eprintln!("more: --after {after:?}");
    }
    Ok(())
}

async fn diff(
    catalog: &Catalog,
    json: bool,
    repository: &str,
    left: &str,
    right: Option<&str>,
) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut first = true;
    let mut failed: Option<std::io::Error> = None;
    if json {
        write!(out, "{{\"changes\": [")?;
    }
    let on_change = |change: inventory_catalog::diff::Change| {
        let result = if json {
            let separator = if first { "" } else { "," };
            first = false;
            serde_json::to_string(&change)
                .map_err(std::io::Error::other)
                .and_then(|text| write!(out, "{separator}\n  {text}"))
        } else {
            let mark = match change.kind {
                ChangeKind::Added => '+',
                ChangeKind::Removed => '-',
                ChangeKind::Changed => '~',
            };
            writeln!(out, "{mark} {}", change.path)
        };
        if let Err(err) = result {
            failed.get_or_insert(err);
        }
    };
    let summary = match right {
        Some(right) => catalog.diff(repository, left, right, on_change).await?,
        None => catalog.diff_pending(repository, left, on_change).await?,
    };
    if let Some(err) = failed {
        return Err(err).context("writing the diff");
    }
    if json {
        writeln!(
            out,
            "\n], \"summary\": {}}}",
            serde_json::to_string(&summary)?
        )?;
    } else {
        writeln!(
            out,
            "{} added, {} removed, {} changed",
            summary.added, summary.removed, summary.changed
        )?;
    }
    out.flush()?;
    Ok(())
}

fn format_time(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn print_commit(commit: &Commit) {
    println!("commit {}", commit.id);
    if commit.parents.len() > 1 {
        println!("Merge:   {}", commit.parents.join(" "));
    }
    println!("Author:  {}", commit.committer);
    println!("Date:    {}", commit.created_at);
    for (key, value) in &commit.metadata {
        println!("Meta:    {key} = {value}");
    }
    println!("\n    {}\n", commit.message);
}

fn print_entry(entry: &Entry) {
    println!("Path           {}", entry.path);
    println!("Address        {}", entry.address);
    println!(
        "Version        {}",
        entry.version_id.as_deref().unwrap_or("null")
    );
    println!("Size           {} ({})", entry.size, HumanBytes(entry.size));
    println!("ETag           {}", entry.etag);
    println!("Last modified  {}", format_time(entry.last_modified_ms));
    println!(
        "Storage class  {}",
        entry.storage_class.as_deref().unwrap_or("-")
    );
}
