//! `inventory-import dev`: development tools.

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{HumanBytes, HumanCount};
use std::time::Instant;

use inventory_base::S3Url;
use inventory_catalog::diff::{ConflictStrategy, diff_trees, merge_trees};
use inventory_catalog::tree::{Entry, PathChange, RangeParams, Tree, TreeStore};
use inventory_delivery::manifest::DataFormat;
use inventory_devtools::generator::{Changes, GeneratorOptions, KeyShape, generate_inventory};

use crate::StoreArgs;
use crate::catalog::CatalogArgs;

#[derive(Subcommand)]
pub enum DevCommand {
    /// Create what the SAM template creates, in the emulator the AWS settings point at
    /// (AWS itself only with --allow-real-aws): tables, queues with dead-letter queues,
    /// and the inventory bucket's notifications, added to the bucket's others. Safe to
    /// run again.
    Init {
        /// Inventory destination bucket whose deliveries start imports
        #[arg(long, value_name = "BUCKET")]
        inventory_bucket: Option<String>,
        #[command(flatten)]
        aws: RealAws,
    },
    /// Write a real-shaped S3 Inventory delivery (Parquet, CSV or ORC data files,
    /// manifest.json, manifest.checksum, Hive symlink) into a bucket, creating buckets
    /// as needed
    GenerateInventory(GenerateArgs),
    /// Benchmark trees: write a tree of N entries, write it again with some entries
    /// changed, and diff the two; prints times and peak memory
    BenchTree(BenchTreeArgs),
    /// Benchmark users' work on a branch: commit changes spread over a large tree, and
    /// merge a day's import into a branch with users' changes; prints times and the
    /// ranges read and written, beside a rewrite of the whole tree
    BenchBranch(BenchBranchArgs),
    /// Benchmark the import's stages on local files: decoding data files, staged
    /// batch sizes, the committer's merge, diff and tree write, a dry run's diff
    Bench(BenchArgs),
    /// Benchmark the partitioned commit at scale on local disk: a delivery of N objects
    /// as the base tree, then the next day's committed with each number of partitions,
    /// each partition a process of its own; prints wall and CPU time, peak memory per
    /// partition, and the ranges the next day's diff read and wrote
    BenchScale(BenchScaleArgs),
    /// Benchmark the S3 endpoint as clients use it (`serve` must be running): listing,
    /// HeadObject latency, GetObject throughput, each beside the same on the S3 the AWS
    /// settings point at; then a load of concurrent clients
    BenchServe(BenchServeArgs),
}

#[derive(Args, Debug)]
pub struct BenchServeArgs {
    /// The endpoint, e.g. http://127.0.0.1:8000
    #[arg(long)]
    endpoint: String,
    /// An access key id `credentials create` issued
    #[arg(long, env = "BENCH_KEY_ID")]
    key_id: String,
    /// Its secret
    #[arg(long, env = "BENCH_SECRET", hide_env_values = true)]
    secret: String,
    /// The repository (the endpoint's bucket)
    #[arg(long)]
    repository: String,
    /// The ref whose keys are listed and read
    #[arg(long)]
    reference: String,
    /// Also write the first N keys listed as empty objects into --direct-bucket and list
    /// them there (0: no such reference)
    #[arg(long, default_value_t = 20_000)]
    direct_keys: u64,
    /// The bucket of the S3 the AWS settings point at where those keys are written
    #[arg(long, default_value = "bench-listing")]
    direct_bucket: String,
    /// HeadObject requests (random keys of the first 100,000 listed)
    #[arg(long, default_value_t = 2_000)]
    heads: usize,
    /// A large object to read through the endpoint, as <repository>/<ref>/<path>
    #[arg(long)]
    large: Option<String>,
    /// The same object read directly: s3://bucket/key
    #[arg(long, requires = "large")]
    large_direct: Option<S3Url>,
    /// Concurrent clients of the load (0: no load): each lists a page, reads one key's
    /// metadata and one object of --load-reads, in a loop
    #[arg(long, default_value_t = 32)]
    load_clients: usize,
    /// The objects the load reads whole: <repository>/<ref>
    #[arg(long)]
    load_reads: Option<String>,
    /// Seconds the load lasts
    #[arg(long, default_value_t = 30)]
    load_seconds: u64,
    /// Random seed of the keys the load reads
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Development commands that write refuse to write to AWS itself unless told to: with
/// no emulator endpoint configured, they would change the account's real buckets.
#[derive(Args, Debug, Clone, Copy)]
pub struct RealAws {
    /// Write to AWS itself although no emulator endpoint (AWS_ENDPOINT_URL) is
    /// configured: the command then changes real buckets, tables and queues
    #[arg(long)]
    allow_real_aws: bool,
}

impl RealAws {
    /// Refuses `command` when it would write to AWS itself without --allow-real-aws.
    fn check(self, command: &str, writes: &str) -> Result<()> {
        let emulated = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
            .iter()
            .any(|name| std::env::var(name).is_ok_and(|value| !value.is_empty()));
        anyhow::ensure!(
            emulated || self.allow_real_aws,
            "`{command}` {writes}, and no emulator endpoint is configured (AWS_ENDPOINT_URL): it would change real AWS resources; pass --allow-real-aws to do that"
        );
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Directory for the generated inventories and trees (reused between runs)
    #[arg(long, value_name = "DIR", default_value = "bench/data/stages")]
    dir: std::path::PathBuf,
    /// Objects in the previous inventory
    #[arg(long, default_value_t = 1_000_000)]
    objects: u64,
    /// Parquet data files per inventory
    #[arg(long, default_value_t = 2)]
    files: usize,
    /// Random seed of the generated inventory
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args, Debug)]
pub struct BenchScaleArgs {
    /// Directory for the generated deliveries, staged runs and trees (deliveries are
    /// reused between runs)
    #[arg(long, value_name = "DIR", default_value = "bench/data/scale")]
    dir: std::path::PathBuf,
    /// Objects in the previous delivery
    #[arg(long, default_value_t = 10_000_000)]
    objects: u64,
    /// Partition counts to commit the next delivery with, in turn
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    partitions: Vec<usize>,
    /// Random seed of the generated deliveries
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args, Debug)]
pub struct BenchTreeArgs {
    /// Entries in each tree
    #[arg(long, default_value_t = 1_000_000)]
    entries: u64,
    /// One entry in this many changes between the two trees
    #[arg(long, default_value_t = 20)]
    change_every: u64,
    /// Storage namespace of the trees
    #[arg(long, default_value = "s3://bench-catalog/trees")]
    namespace: S3Url,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    aws: RealAws,
}

#[derive(Args, Debug)]
pub struct BenchBranchArgs {
    /// Entries in the branch's tree
    #[arg(long, default_value_t = 1_000_000)]
    entries: u64,
    /// Users' changes, spread evenly over the tree
    #[arg(long, default_value_t = 1_000)]
    changes: u64,
    /// One entry in this many changed by the day's import, in runs of `--import-run`
    /// consecutive keys (an inventory's changes come by prefix: a day's partitions)
    #[arg(long, default_value_t = 20)]
    import_change_every: u64,
    /// Consecutive keys changed together by the import
    #[arg(long, default_value_t = 1_000)]
    import_run: u64,
    /// Storage namespace of the trees
    #[arg(long, default_value = "s3://bench-catalog/branches")]
    namespace: S3Url,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    aws: RealAws,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Keys {
    /// Deep, shared prefixes of 60–120 bytes
    Realistic,
    /// Realistic keys plus spaces, '+', '%', unicode, control characters, 1,024-byte keys
    Awkward,
}

/// The data files' format (the inventory configuration's output format).
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    /// Apache Parquet
    Parquet,
    /// Gzipped CSV, as S3 Inventory writes it
    Csv,
    /// Apache ORC
    Orc,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Inventory destination bucket and prefix, e.g. s3://inventory-dest/inventories
    #[arg(long, value_name = "S3_URL")]
    destination: S3Url,
    /// The bucket the inventory lists
    #[arg(long, value_name = "BUCKET")]
    source_bucket: String,
    /// Inventory configuration id (a path segment of the layout)
    #[arg(long, default_value = "daily")]
    config_id: String,
    /// Live objects in the source bucket
    #[arg(long, default_value_t = 10_000)]
    objects: u64,
    /// Data files
    #[arg(long, default_value_t = 4)]
    files: usize,
    /// Format of the data files
    #[arg(long, value_enum, default_value_t = Format::Parquet)]
    format: Format,
    /// Rows per Parquet row group or ORC stripe
    #[arg(long, default_value_t = 1_000_000)]
    rows_per_group: usize,
    /// Shape of the keys
    #[arg(long, value_enum, default_value_t = Keys::Realistic)]
    keys: Keys,
    /// Versioned bucket: noncurrent versions, null versions and delete markers
    #[arg(long)]
    versioned: bool,
    /// Rows in random order within each file
    #[arg(long)]
    shuffle: bool,
    /// Spread rows over files at random so their key ranges overlap
    #[arg(long)]
    overlap: bool,
    /// Also write the source objects (small bodies; about 80 per second on moto)
    #[arg(long)]
    write_objects: bool,
    /// With --write-objects, the size of each object's body in bytes (at least)
    #[arg(long, default_value_t = 0, requires = "write_objects")]
    object_bytes: usize,
    /// Random seed: the same options and seed give the same delivery
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Creation time of the delivery (RFC 3339), default now
    #[arg(long, value_name = "TIME")]
    created_at: Option<DateTime<Utc>>,
    /// A later delivery of the same bucket: N keys added since the delivery of the
    /// same seed and --objects
    #[arg(long, value_name = "N", default_value_t = 0)]
    added: u64,
    /// A later delivery: N of the objects have a new version (ETag, size, version id)
    #[arg(long, value_name = "N", default_value_t = 0)]
    changed: u64,
    /// A later delivery: N of the objects were deleted
    #[arg(long, value_name = "N", default_value_t = 0)]
    deleted: u64,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    aws: RealAws,
}

pub async fn run(command: DevCommand, catalog: &CatalogArgs) -> Result<()> {
    match command {
        DevCommand::Init {
            inventory_bucket,
            aws,
        } => {
            aws.check(
                "dev init",
                "creates tables and queues and sets a bucket's notifications",
            )?;
            let config = inventory_base::aws::load_config().await;
            let mut names = inventory_runtime::resources::ResourceNames::from_env();
            names.catalog_table = catalog.table().to_string();
            let provisioned = inventory_runtime::resources::provision(
                &config,
                &names,
                inventory_bucket.as_deref(),
            )
            .await
            .context("creating the product's tables and queues")?;
            if catalog.json() {
                println!("{}", serde_json::to_string_pretty(&provisioned)?);
                return Ok(());
            }
            println!(
                "Tables   {}, {}, {}",
                names.catalog_table, names.jobs_table, names.staging_table
            );
            for queue in &provisioned.queues {
                println!("Queue    {} (dead letters: {}-dlq)", queue.url, queue.name);
            }
            if let Some(bucket) = &provisioned.notifying_bucket {
                println!(
                    "Bucket   s3://{bucket} notifies {} of manifest.json and manifest.checksum",
                    names.manifest_queue
                );
            }
            Ok(())
        }
        DevCommand::BenchTree(args) => bench_tree(args, catalog.json()).await,
        DevCommand::BenchBranch(args) => bench_branch(args, catalog.json()).await,
        DevCommand::Bench(args) => bench_stages(args, catalog.json()).await,
        DevCommand::BenchScale(args) => bench_scale(args, catalog.json()).await,
        DevCommand::BenchServe(args) => bench_serve(args).await,
        DevCommand::GenerateInventory(args) => generate(args, catalog.json()).await,
    }
}

async fn bench_serve(args: BenchServeArgs) -> Result<()> {
    use inventory_devtools::serve_bench::{self, Target};
    let endpoint = serve_bench::client(&args.endpoint, &args.key_id, &args.secret).await;
    let target = Target {
        client: endpoint.clone(),
        bucket: args.repository.clone(),
        prefix: format!("{}/", args.reference),
    };
    eprintln!(
        "listing every key of {}/{} ...",
        args.repository, args.reference
    );
    let (listed, keys) = serve_bench::list(&target, 1000, None, 100_000).await?;
    eprintln!(
        "  {} keys, {:.0} keys/s",
        listed.keys, listed.keys_per_second
    );
    let mut report = serde_json::json!({ "list": listed });
    if args.direct_keys > 0 {
        let direct_count = usize::try_from(args.direct_keys)
            .unwrap_or(usize::MAX)
            .min(keys.len());
        let direct_keys = keys.get(..direct_count).unwrap_or_default();
        let config = inventory_base::aws::load_config().await;
        let s3 = inventory_base::aws::s3_client(&config);
        eprintln!(
            "writing {direct_count} keys into {} ...",
            args.direct_bucket
        );
        serve_bench::fill(&s3, &args.direct_bucket, direct_keys, 32).await?;
        let direct = Target {
            client: s3,
            bucket: args.direct_bucket.clone(),
            prefix: format!("{}/", args.reference),
        };
        let (direct_listed, _) = serve_bench::list(&direct, 1000, None, 0).await?;
        let (same_listed, _) =
            serve_bench::list(&target, 1000, Some(direct_listed.keys), 0).await?;
        eprintln!(
            "  the same {} keys: {:.0} keys/s through the endpoint, {:.0} keys/s from S3 directly",
            direct_listed.keys, same_listed.keys_per_second, direct_listed.keys_per_second
        );
        report["list_same_keys"] = serde_json::json!(same_listed);
        report["list_direct"] = serde_json::json!(direct_listed);
    }
    if args.heads > 0 && !keys.is_empty() {
        let sample = serve_bench::sample(&keys, args.heads, args.seed);
        let heads = serve_bench::head_latency(&endpoint, &args.repository, &sample).await?;
        eprintln!(
            "HeadObject, warm: median {:.2} ms, p99 {:.2} ms",
            heads.median_ms, heads.p99_ms
        );
        report["head"] = serde_json::json!(heads);
    }
    let large = match &args.large {
        Some(large) => Some(
            large
                .split_once('/')
                .map(|(repository, key)| (repository.to_string(), key.to_string()))
                .with_context(|| format!("--large {large}: give <repository>/<ref>/<path>"))?,
        ),
        None => None,
    };
    if let (Some((repository, large)), Some(direct)) = (&large, &args.large_direct) {
        let config = inventory_base::aws::load_config().await;
        let s3 = inventory_base::aws::s3_client(&config);
        // Rounds in turn, so that a machine whose speed changes moves both alike; the
        // best of each.
        let (mut through, mut directly) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            through.push(serve_bench::read(&endpoint, repository, large, 1).await?);
            directly.push(serve_bench::read(&s3, &direct.bucket, &direct.key, 1).await?);
        }
        let best = |reads: Vec<serve_bench::Read>| {
            reads
                .into_iter()
                .max_by(|a, b| a.mb_per_second.total_cmp(&b.mb_per_second))
                .context("no read")
        };
        let (through, directly) = (best(through)?, best(directly)?);
        eprintln!(
            "GetObject of {} bytes: {:.0} MB/s through the endpoint, {:.0} MB/s directly",
            through.bytes, through.mb_per_second, directly.mb_per_second
        );
        report["get"] = serde_json::json!({ "endpoint": through, "direct": directly });
    }
    if args.load_clients > 0 {
        eprintln!(
            "load: {} clients for {} s ...",
            args.load_clients, args.load_seconds
        );
        let Some(reads) = &args.load_reads else {
            bail!("the load reads the objects of --load-reads: give it");
        };
        let (repository, reference) = reads
            .split_once('/')
            .with_context(|| format!("--load-reads {reads}: give <repository>/<ref>"))?;
        let small = Target {
            client: endpoint.clone(),
            bucket: repository.to_string(),
            prefix: format!("{reference}/"),
        };
        let (_, small_keys) = serve_bench::list(&small, 1000, Some(10_000), 10_000).await?;
        let reads = serve_bench::Reads {
            repository: repository.to_string(),
            keys: small_keys,
        };
        let load = serve_bench::load(
            &target,
            &keys,
            &reads,
            args.load_clients,
            std::time::Duration::from_secs(args.load_seconds),
            args.seed,
        )
        .await?;
        eprintln!(
            "  {:.0} requests/s, {} errors",
            load.requests_per_second, load.errors
        );
        report["load"] = serde_json::json!(load);
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

async fn generate(args: GenerateArgs, json: bool) -> Result<()> {
    if args.store.local_root.is_none() {
        let writes = if args.write_objects {
            "writes objects into buckets, enables versioning on them and deletes objects"
        } else {
            "writes objects into buckets"
        };
        args.aws.check("dev generate-inventory", writes)?;
    }
    let store = args.store.open().await;
    let mut options = GeneratorOptions::new(args.destination.clone(), &args.source_bucket);
    options.config_id = args.config_id;
    options.objects = args.objects;
    options.files = args.files;
    options.format = match args.format {
        Format::Parquet => DataFormat::Parquet,
        Format::Csv => DataFormat::Csv,
        Format::Orc => DataFormat::Orc,
    };
    options.rows_per_group = args.rows_per_group;
    options.keys = match args.keys {
        Keys::Realistic => KeyShape::Realistic,
        Keys::Awkward => KeyShape::Awkward,
    };
    options.versioned = args.versioned;
    options.shuffle = args.shuffle;
    options.overlap = args.overlap;
    options.write_objects = args.write_objects;
    options.object_bytes = args.object_bytes;
    options.seed = args.seed;
    options.created_at = args.created_at.unwrap_or_else(Utc::now);
    options.collect_expected = false;
    options.changes = Changes {
        added: args.added,
        changed: args.changed,
        deleted: args.deleted,
    };
    let generated = generate_inventory(&store, &options)
        .await
        .with_context(|| format!("generating an inventory into {}", args.destination))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&generated)?);
    } else {
        println!(
            "Wrote an inventory of s3://{}: {} objects in {} rows, {} data file(s) ({})",
            generated.source_bucket,
            HumanCount(generated.objects),
            HumanCount(generated.rows),
            generated.data_files.len(),
            HumanBytes(generated.bytes)
        );
        println!("Manifest  {}", generated.manifest);
        println!("Checksum  {}", generated.checksum);
        println!("Symlink   {}", generated.symlink);
    }
    Ok(())
}

/// Entry `i` of a synthetic tree, in path order; `generation` changes the ETag of
/// every `change_every`-th entry.
fn bench_entry(i: u64, generation: u64, change_every: u64) -> Entry {
    let path = format!(
        "datalake/raw/events/part={:05}/{i:010}-c000.snappy.parquet",
        i / 1000
    );
    let changed = generation > 0 && i.is_multiple_of(change_every.max(1));
    Entry {
        address: format!("s3://bench-source/{path}"),
        path,
        version_id: None,
        size: i * 7 % 1_000_000,
        etag: format!("{:032x}", i * 2 + u64::from(changed)),
        last_modified_ms: 1_764_032_400_000,
        storage_class: Some("STANDARD".into()),
    }
}

async fn bench_tree(args: BenchTreeArgs, json: bool) -> Result<()> {
    if args.store.local_root.is_none() {
        args.aws
            .check("dev bench-tree", "writes trees into a bucket")?;
    }
    let store = args.store.open().await;
    store.ensure_bucket(&args.namespace.bucket).await?;
    let trees = TreeStore::new(store, args.namespace.clone(), RangeParams::default());
    let mut results = Vec::new();
    let mut written = Vec::new();
    for generation in 0..2 {
        let started = Instant::now();
        let mut writer = trees.writer();
        for i in 0..args.entries {
            writer
                .add(bench_entry(i, generation, args.change_every))
                .await?;
        }
        let (tree, stats) = writer.finish().await?;
        let seconds = started.elapsed().as_secs_f64();
        results.push(serde_json::json!({
            "step": format!("write tree {}", generation + 1),
            "seconds": seconds,
            "entries_per_second": args.entries as f64 / seconds,
            "ranges": tree.ranges.len(),
            "ranges_written": stats.ranges_written,
            "ranges_reused": stats.ranges_reused,
        }));
        written.push(tree);
    }
    let started = Instant::now();
    let summary = diff_trees(&trees, &written[0], &written[1], |_| {}).await?;
    let seconds = started.elapsed().as_secs_f64();
    results.push(serde_json::json!({
        "step": "diff",
        "seconds": seconds,
        "entries_per_second": args.entries as f64 / seconds,
        "changed": summary.changed,
        "ranges_skipped": summary.ranges_skipped,
    }));
    let expected_changes = args.entries.div_ceil(args.change_every.max(1));
    anyhow::ensure!(
        summary.changed == expected_changes && summary.added == 0 && summary.removed == 0,
        "diff found {summary:?}, expected {expected_changes} changed"
    );
    let peak = inventory_runtime::process::peak_rss_bytes();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "entries": args.entries,
                "steps": results,
                "peak_rss_bytes": peak,
            }))?
        );
    } else {
        for r in &results {
            println!(
                "{:<14} {:>8.2} s  {:>12} entries/s",
                r["step"].as_str().unwrap_or_default(),
                r["seconds"].as_f64().unwrap_or_default(),
                HumanCount(r["entries_per_second"].as_f64().unwrap_or_default() as u64)
            );
        }
        if let Some(peak) = peak {
            println!("peak RSS       {}", HumanBytes(peak));
        }
    }
    Ok(())
}

/// The base ranges holding at least one of `paths` (sorted).
fn ranges_touched(tree: &Tree, paths: &[String]) -> u64 {
    tree.ranges
        .iter()
        .filter(|range| {
            let first = paths.partition_point(|p| p.as_str() < range.min_path.as_str());
            paths
                .get(first)
                .is_some_and(|p| p.as_str() <= range.max_path.as_str())
        })
        .count() as u64
}

async fn write_whole(
    trees: &TreeStore,
    entries: impl Iterator<Item = Entry>,
) -> Result<(Tree, f64)> {
    let started = Instant::now();
    let mut writer = trees.writer();
    for entry in entries {
        writer.add(entry).await?;
    }
    let (tree, _) = writer.finish().await?;
    Ok((tree, started.elapsed().as_secs_f64()))
}

async fn bench_branch(args: BenchBranchArgs, json: bool) -> Result<()> {
    if args.store.local_root.is_none() {
        args.aws
            .check("dev bench-branch", "writes trees into a bucket")?;
    }
    let store = args.store.open().await;
    store.ensure_bucket(&args.namespace.bucket).await?;
    let trees = TreeStore::new(store, args.namespace.clone(), RangeParams::default());
    let n = args.entries;
    let entry = |i: u64, etag: &str| {
        let mut entry = bench_entry(i, 0, 1);
        entry.etag = format!("{etag}{i:026x}");
        entry
    };
    let (base, base_seconds) = write_whole(&trees, (0..n).map(|i| entry(i, "base00"))).await?;

    // Users' changes, spread evenly: committed with apply, beside a whole rewrite.
    let step = (n / args.changes.max(1)).max(1);
    let user: Vec<u64> = (0..n)
        .step_by(step as usize)
        .take(args.changes as usize)
        .collect();
    let user_change = |i: u64| {
        let entry = entry(i, "user00");
        PathChange {
            path: entry.path.clone(),
            entry: Some(entry),
        }
    };
    let changes: Vec<PathChange> = user.iter().map(|&i| user_change(i)).collect();
    let started = Instant::now();
    let (dest, applied) = trees.apply(&base, &changes).await?;
    let commit_seconds = started.elapsed().as_secs_f64();
    let user_set: std::collections::HashSet<u64> = user.iter().copied().collect();
    let (rewritten, rewrite_seconds) = write_whole(
        &trees,
        (0..n).map(|i| {
            entry(
                i,
                if user_set.contains(&i) {
                    "user00"
                } else {
                    "base00"
                },
            )
        }),
    )
    .await?;
    anyhow::ensure!(
        rewritten == dest,
        "the committed tree differs from a rewrite of it"
    );
    let user_paths: Vec<String> = changes.iter().map(|c| c.path.clone()).collect();
    let commit_touched = ranges_touched(&base, &user_paths);

    // The same number of changes under one prefix, as a user's work in one folder.
    let clustered: Vec<PathChange> = (n / 2..(n / 2 + args.changes).min(n))
        .map(user_change)
        .collect();
    let started = Instant::now();
    let (_, clustered_stats) = trees.apply(&base, &clustered).await?;
    let clustered_seconds = started.elapsed().as_secs_f64();
    let clustered_paths: Vec<String> = clustered.iter().map(|c| c.path.clone()).collect();
    let clustered_touched = ranges_touched(&base, &clustered_paths);

    // A day's import: runs of consecutive keys changed, written whole as an import is.
    let run = args.import_run.max(1);
    let period = run * args.import_change_every.max(1);
    let imported = |i: u64| i % period < run;
    let (source, import_seconds) = write_whole(
        &trees,
        (0..n).map(|i| entry(i, if imported(i) { "import" } else { "base00" })),
    )
    .await?;
    let started = Instant::now();
    let merged = merge_trees(&trees, &base, &source, &dest, ConflictStrategy::SourceWins).await?;
    let merge_seconds = started.elapsed().as_secs_f64();
    let import_paths: Vec<String> = (0..n)
        .filter(|&i| imported(i))
        .map(|i| entry(i, "").path)
        .collect();
    let mut all_paths: Vec<String> = import_paths.iter().chain(&user_paths).cloned().collect();
    all_paths.sort();
    let merge_touched = ranges_touched(&base, &all_paths)
        + ranges_touched(&source, &import_paths)
        + ranges_touched(&dest, &user_paths);
    let merge_ranges = (base.ranges.len() + source.ranges.len() + dest.ranges.len()) as u64;
    let (expected, _) = write_whole(
        &trees,
        (0..n).map(|i| {
            let etag = if imported(i) {
                "import"
            } else if user_set.contains(&i) {
                "user00"
            } else {
                "base00"
            };
            entry(i, etag)
        }),
    )
    .await?;
    let mut merged_entries = Vec::new();
    let mut cursor = trees.cursor(&merged.tree);
    while let Some(entry) = cursor.next_entry().await? {
        merged_entries.push(entry);
    }
    let mut expected_cursor = trees.cursor(&expected);
    let mut same = merged_entries.len() as u64 == n;
    for entry in &merged_entries {
        same &= expected_cursor.next_entry().await?.as_ref() == Some(entry);
    }
    anyhow::ensure!(same, "the merged tree differs from the expected one");

    let report = serde_json::json!({
        "entries": n,
        "ranges": base.ranges.len(),
        "base_write_seconds": base_seconds,
        "commit": {
            "changes": changes.len(),
            "seconds": commit_seconds,
            "ranges_written": applied.write.ranges_written,
            "ranges_read": applied.ranges_read,
            "ranges_in_tree": base.ranges.len(),
            "ranges_touched": commit_touched,
            "rewrite_seconds": rewrite_seconds,
        },
        "commit_under_one_prefix": {
            "changes": clustered.len(),
            "seconds": clustered_seconds,
            "ranges_written": clustered_stats.write.ranges_written,
            "ranges_read": clustered_stats.ranges_read,
            "ranges_in_tree": base.ranges.len(),
            "ranges_touched": clustered_touched,
        },
        "merge": {
            "import_changes": import_paths.len(),
            "user_changes": user_paths.len(),
            "seconds": merge_seconds,
            "ranges_read": merged.ranges_read,
            "ranges_written": merged.stats.ranges_written,
            "ranges_in_trees": merge_ranges,
            "ranges_touched": merge_touched,
            "import_write_seconds": import_seconds,
        },
        "peak_rss_bytes": inventory_runtime::process::peak_rss_bytes(),
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "commit {} changes over {} entries: {:.3} s (a whole rewrite: {:.3} s); {} range(s) written, {} read, of {}; {} touched",
        changes.len(),
        HumanCount(n),
        commit_seconds,
        rewrite_seconds,
        applied.write.ranges_written,
        applied.ranges_read,
        base.ranges.len(),
        commit_touched
    );
    println!(
        "commit {} changes under one prefix: {:.3} s; {} range(s) written, {} read; {} touched",
        clustered.len(),
        clustered_seconds,
        clustered_stats.write.ranges_written,
        clustered_stats.ranges_read,
        clustered_touched
    );
    println!(
        "merge an import of {} changes into {} user changes: {:.3} s (writing the import's tree: {:.3} s); {} range(s) read of {}; {} touched",
        HumanCount(import_paths.len() as u64),
        user_paths.len(),
        merge_seconds,
        import_seconds,
        merged.ranges_read,
        merge_ranges,
        merge_touched
    );
    Ok(())
}

/// `inventory-bench-partition`, built beside this program (`cargo build -p
/// inventory-devtools`): each partition's commit runs in it, with the committer
/// function's allocator.
fn partition_program() -> Result<std::path::PathBuf> {
    let this = std::env::current_exe().context("finding this program")?;
    let program = this.with_file_name("inventory-bench-partition");
    if !program.exists() {
        bail!(
            "{} is missing: each partition's commit runs in it; build it with `cargo build --release -p inventory-devtools`",
            program.display()
        );
    }
    Ok(program)
}

async fn bench_scale(args: BenchScaleArgs, json: bool) -> Result<()> {
    let options = inventory_devtools::scale_bench::ScaleOptions {
        root: args.dir.clone(),
        objects: args.objects,
        partitions: args.partitions.clone(),
        seed: args.seed,
        program: partition_program()?,
    };
    let report = inventory_devtools::scale_bench::run(&options)
        .await
        .with_context(|| {
            format!(
                "benchmarking the partitioned commit in {}",
                args.dir.display()
            )
        })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let c = &report.expected;
    println!(
        "deliveries   {} objects, then {} added, {} changed, {} deleted; base tree of {} ranges",
        HumanCount(report.objects),
        HumanCount(c.added),
        HumanCount(c.changed),
        HumanCount(c.deleted),
        report.base_ranges
    );
    for run in &report.runs {
        println!(
            "K = {:<3} {:>7.1} s wall, {:>5.2} CPU s per million objects, peak RSS per partition {} MiB, ranges read {} / written {}",
            run.partitions,
            run.seconds,
            run.cpu_seconds_per_million,
            run.peak_rss_bytes / (1024 * 1024),
            run.ranges_read,
            run.ranges_written
        );
    }
    Ok(())
}

async fn bench_stages(args: BenchArgs, json: bool) -> Result<()> {
    let options = inventory_devtools::bench::BenchOptions {
        root: args.dir.clone(),
        objects: args.objects,
        files: args.files,
        seed: args.seed,
    };
    let report = inventory_devtools::bench::run(&options)
        .await
        .with_context(|| format!("benchmarking in {}", args.dir.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let c = &report.expected;
    println!(
        "inventories      {} objects, then {} added, {} changed, {} deleted",
        HumanCount(report.previous.objects),
        HumanCount(c.added),
        HumanCount(c.changed),
        HumanCount(c.deleted)
    );
    println!(
        "decode           {} rows/s per thread",
        HumanCount(report.decode.rows_per_second as u64)
    );
    println!(
        "staging          {:.1} bytes/entry; {} write units per million entries ({:.0}x fewer than one item per object)",
        report.staging.bytes_per_entry,
        HumanCount(report.staging.write_units_per_million as u64),
        report.staging.naive_over_batched
    );
    println!(
        "committer        {} entries/s ({:.2} s)",
        HumanCount(report.committer.entries_per_second as u64),
        report.committer.seconds
    );
    println!(
        "dry run          {:.2} s, fastest of {} (first {:.2} s)",
        report.dry_run.seconds, report.dry_run.tries, report.dry_run.first_seconds
    );
    Ok(())
}
