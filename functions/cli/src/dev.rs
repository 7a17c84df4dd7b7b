//! `inventory-import dev`: development tools.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{HumanBytes, HumanCount};
use inventory_core::S3Url;
use inventory_core::generator::{GeneratorOptions, KeyShape, generate_inventory};

use crate::StoreArgs;
use crate::catalog::CatalogArgs;

#[derive(Subcommand)]
pub enum DevCommand {
    /// Create what the product needs in the AWS account (or emulator) it points at:
    /// the catalog table. Safe to run again.
    Init,
    /// Write a real-shaped S3 Inventory delivery (Parquet data files, manifest.json,
    /// manifest.checksum, Hive symlink) into a bucket, creating buckets as needed
    GenerateInventory(GenerateArgs),
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
    #[command(flatten)]
    store: StoreArgs,
}

pub async fn run(command: DevCommand, catalog: &CatalogArgs) -> Result<()> {
    match command {
        DevCommand::Init => {
            let table = catalog.table().to_string();
            catalog
                .open()
                .await
                .ensure_table()
                .await
                .with_context(|| format!("creating catalog table {table}"))?;
            if catalog.json() {
                println!("{}", serde_json::json!({ "catalog_table": table }));
            } else {
                println!("Catalog table  {table}");
            }
            Ok(())
        }
        DevCommand::GenerateInventory(args) => generate(args, catalog.json()).await,
    }
}

async fn generate(args: GenerateArgs, json: bool) -> Result<()> {
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
