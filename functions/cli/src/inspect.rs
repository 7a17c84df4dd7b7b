//! `inventory-import inspect`: validate a delivery and print what it holds.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{HumanBytes, HumanCount, ProgressBar, ProgressStyle};
use std::collections::BinaryHeap;

use inventory_base::{ObjectStore, S3Url};
use inventory_delivery::inspect::{EntrySink, InspectOptions, ManifestReport, inspect_manifest};
use inventory_delivery::reader::EntryBatch;
use inventory_delivery::{InventoryEntry, Manifest};
use inventory_importer::preview::preview_import;

use crate::StoreArgs;
use crate::catalog::CatalogArgs;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The delivery's manifest, s3://<bucket>/<prefix>/<source-bucket>/<config-id>/<YYYY-MM-DDTHH-MMZ>/manifest.json
    manifest: S3Url,
    /// Also print the entries to import (at most N, sorted by key)
    #[arg(long, value_name = "N")]
    entries: Option<usize>,
    /// Directory for temporary copies of data files (default: the system's)
    #[arg(long, value_name = "DIR")]
    temp_dir: Option<PathBuf>,
    /// Dry-run the import here: diff the delivery against this repository's import
    /// branch (its default branch before the first import) and print what would be
    /// added, changed, deleted and unchanged. Records nothing; needs no running
    /// functions. Holds the delivery in memory (about 250 bytes per object)
    #[arg(long, value_name = "REPOSITORY", conflicts_with = "entries")]
    against: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

pub async fn run(args: InspectArgs, catalog: &CatalogArgs) -> Result<()> {
    let json = catalog.json();
    let store = args.store.open().await;
    let mut options = InspectOptions::default();
    if let Some(dir) = &args.temp_dir {
        options.temp_dir = dir.clone();
    }
    if let Some(repository) = &args.against {
        return against(&store, &args.manifest, repository, &options, catalog).await;
    }
    let progress = if json {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(0);
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar.set_style(
            ProgressStyle::with_template("{spinner} data files read: {pos} {wide_msg}")
                .context("progress bar template")?,
        );
        bar
    };
    let on_file = |file: &inventory_delivery::inspect::FileReport| {
        progress.inc(1);
        progress.set_message(format!("{} rows", HumanCount(file.rows)));
    };
    let first = FirstEntries::new(args.entries.unwrap_or(0));
    let (report, first) = inspect_manifest(&store, &args.manifest, &options, first, on_file)
        .await
        .with_context(|| format!("inspecting {}", args.manifest))?;
    progress.finish_and_clear();
    let entries = first.into_sorted();
    let peak_rss = inventory_runtime::process::peak_rss_bytes();

    if json {
        let mut value = serde_json::to_value(&report)?;
        value["rows_per_second"] = serde_json::json!(report.rows_per_second());
        value["peak_rss_bytes"] = serde_json::json!(peak_rss);
        if args.entries.is_some() {
            value["entries"] = serde_json::to_value(&entries)?;
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print_report(&report, peak_rss);
        for entry in &entries {
            println!(
                "  {:?}  {}  {}  {}",
                entry.key,
                HumanBytes(entry.size),
                entry.etag,
                entry.version_id.as_deref().unwrap_or("null")
            );
        }
    }
    Ok(())
}

/// `inspect --against`: the dry run of an import, worked out in this process.
async fn against(
    store: &ObjectStore,
    manifest_url: &S3Url,
    repository: &str,
    options: &InspectOptions,
    catalog: &CatalogArgs,
) -> Result<()> {
    let spinner = if catalog.json() {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar.set_message(format!(
            "reading {manifest_url} and diffing it against {repository}"
        ));
        bar
    };
    let started = std::time::Instant::now();
    let manifest = Manifest::load(store, manifest_url)
        .await
        .with_context(|| format!("reading {manifest_url}"))?;
    let preview = preview_import(
        &catalog.open().await,
        repository,
        store,
        &manifest,
        &options.temp_dir,
    )
    .await
    .with_context(|| format!("diffing {manifest_url} against repository {repository}"))?;
    let seconds = started.elapsed().as_secs_f64();
    spinner.finish_and_clear();
    if catalog.json() {
        let mut value = serde_json::to_value(&preview)?;
        value["manifest"] = serde_json::json!(manifest_url.to_string());
        value["seconds"] = serde_json::json!(seconds);
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let s = &preview.summary;
    println!("Manifest     {manifest_url}");
    println!(
        "Against      {}, branch {} at {}",
        preview.repository, preview.branch, preview.commit_id
    );
    let scope = &preview.scope;
    if !scope.prefix.is_empty() || !scope.path.is_empty() {
        println!(
            "Scope        {}, imported on {}",
            crate::imports::describe_scope(scope),
            scope.branch
        );
    }
    println!(
        "Would import {} objects: {} added, {} changed, {} deleted, {} unchanged",
        HumanCount(s.total),
        HumanCount(s.added),
        HumanCount(s.changed),
        HumanCount(s.deleted),
        HumanCount(s.unchanged)
    );
    println!(
        "Skipped      {} rows: {} noncurrent versions, {} delete markers, {} incomplete rows, {} outside the prefix; {} keys listed more than once",
        HumanCount(s.skipped.total()),
        HumanCount(s.skipped.noncurrent_version),
        HumanCount(s.skipped.delete_marker),
        HumanCount(s.skipped.incomplete_row),
        HumanCount(s.skipped.outside_prefix),
        HumanCount(s.duplicate_keys)
    );
    println!("Took         {seconds:.2} s; nothing was recorded");
    Ok(())
}

fn print_report(report: &ManifestReport, peak_rss: Option<u64>) {
    let checksum = if report.checksum_verified {
        "manifest.checksum verified"
    } else {
        "no manifest.checksum found"
    };
    println!("Manifest     {} ({checksum})", report.manifest);
    println!("Source       s3://{}", report.source_bucket);
    println!("Created      {}", report.created_at);
    println!(
        "Data files   {} ({}), sizes and MD5s verified",
        report.files,
        HumanBytes(report.bytes)
    );
    println!("Rows         {}", HumanCount(report.rows));
    println!(
        "Objects      {} to import ({})",
        HumanCount(report.objects),
        HumanBytes(report.object_bytes)
    );
    let s = &report.skipped;
    println!(
        "Skipped      {} rows: {} noncurrent versions, {} delete markers, {} incomplete rows",
        HumanCount(s.total()),
        HumanCount(s.noncurrent_version),
        HumanCount(s.delete_marker),
        HumanCount(s.incomplete_row)
    );
    let memory = peak_rss
        .map(|b| format!("; peak memory {}", HumanBytes(b)))
        .unwrap_or_default();
    println!(
        "Read         fetched in {:.2} s, decoded in {:.2} s ({} rows/s){memory}",
        report.fetch_seconds,
        report.decode_seconds,
        HumanCount(report.rows_per_second() as u64)
    );
}

/// The first `limit` entries by key, kept in a bounded heap so that listing a few
/// entries of a huge inventory takes little memory.
struct FirstEntries {
    limit: usize,
    heap: BinaryHeap<InventoryEntry>,
}

impl FirstEntries {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            heap: BinaryHeap::with_capacity(limit + 1),
        }
    }

    fn into_sorted(self) -> Vec<InventoryEntry> {
        self.heap.into_sorted_vec()
    }
}

impl EntrySink for FirstEntries {
    fn accept(&mut self, batch: EntryBatch) {
        for entry in batch.entries {
            if self.heap.len() < self.limit {
                self.heap.push(entry);
            } else if self.heap.peek().is_some_and(|largest| entry < *largest) {
                self.heap.pop();
                self.heap.push(entry);
            }
        }
    }
}
