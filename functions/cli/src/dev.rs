//! `inventory-import dev`: development tools.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{HumanBytes, HumanCount};
use std::time::Instant;

use inventory_base::S3Url;
use inventory_catalog::diff::diff_trees;
use inventory_catalog::tree::{Entry, RangeParams, TreeStore};
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
    /// Write a real-shaped S3 Inventory delivery (Parquet data files, manifest.json,
    /// manifest.checksum, Hive symlink) into a bucket, creating buckets as needed
    GenerateInventory(GenerateArgs),
    /// Benchmark trees: write a tree of N entries, write it again with some entries
    /// changed, and diff the two; prints times and peak memory
    BenchTree(BenchTreeArgs),
    /// Benchmark the import's stages on local files: decoding data files, staged
    /// batch sizes, the committer's merge, diff and tree write, a dry run's diff
    Bench(BenchArgs),
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

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Keys {
    /// Deep, shared prefixes of 60–120 bytes
    Realistic,
    /// Realistic keys plus spaces, '+', '%', unicode, control characters, 1,024-byte keys
    Awkward,
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
    /// Parquet data files
    #[arg(long, default_value_t = 4)]
    files: usize,
    /// Rows per Parquet row group
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
        DevCommand::Bench(args) => bench_stages(args, catalog.json()).await,
        DevCommand::GenerateInventory(args) => generate(args, catalog.json()).await,
    }
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
    options.rows_per_group = args.rows_per_group;
    options.keys = match args.keys {
        Keys::Realistic => KeyShape::Realistic,
        Keys::Awkward => KeyShape::Awkward,
    };
    options.versioned = args.versioned;
    options.shuffle = args.shuffle;
    options.overlap = args.overlap;
    options.write_objects = args.write_objects;
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
