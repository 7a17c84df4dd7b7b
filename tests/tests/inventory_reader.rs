//! Reading S3 Inventory deliveries from the local stack through the real AWS SDK.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use integration_tests::{LocalStack, aws_fixture};

use inventory_base::S3Url;
use inventory_delivery::inspect::{InspectOptions, ManifestReport, inspect_manifest};
use inventory_delivery::manifest::DataFormat;
use inventory_delivery::{InventoryEntry, SkipCounts};
use inventory_devtools::generator::{
    GeneratedInventory, GeneratorOptions, KeyShape, awkward_keys, generate_inventory,
};

fn options(objects: u64, files: usize) -> GeneratorOptions {
    let mut options = GeneratorOptions::new(
        "s3://inventory-dest/inventories".parse().unwrap(),
        "source-bucket",
    );
    options.objects = objects;
    options.files = files;
    options.created_at = "2026-11-25T01:00:00Z".parse::<DateTime<Utc>>().unwrap();
    options
}

async fn read_all(stack: &LocalStack, manifest: &S3Url) -> (ManifestReport, Vec<InventoryEntry>) {
    let (report, mut entries) = inspect_manifest(
        &stack.store(),
        manifest,
        &InspectOptions::default(),
        Vec::new(),
        |_| {},
    )
    .await
    .unwrap_or_else(|err| panic!("reading {manifest}: {err}"));
    entries.sort();
    (report, entries)
}

async fn generate(stack: &LocalStack, options: &GeneratorOptions) -> GeneratedInventory {
    generate_inventory(&stack.store(), options)
        .await
        .unwrap_or_else(|err| panic!("generating: {err}"))
}

#[tokio::test]
async fn reads_a_multi_file_inventory_exactly() {
    let stack = LocalStack::start().await;
    let mut options = options(5000, 5);
    options.rows_per_group = 700;
    let generated = generate(&stack, &options).await;
    assert_eq!(
        generated.manifest.to_string(),
        "s3://inventory-dest/inventories/source-bucket/daily/2026-11-25T01-00Z/manifest.json"
    );

    let (report, entries) = read_all(&stack, &generated.manifest).await;
    assert_eq!(entries.len(), 5000);
    assert_eq!(entries, generated.expected);
    assert_eq!(report.files, 5);
    assert_eq!(report.rows, 5000);
    assert_eq!(report.objects, 5000);
    assert_eq!(report.skipped, SkipCounts::default());
    assert!(report.checksum_verified);
    assert_eq!(report.source_bucket, "source-bucket");
    assert_eq!(report.created_at, "2026-11-25T01:00:00+00:00");
    assert_eq!(
        report.object_bytes,
        generated.expected.iter().map(|e| e.size).sum::<u64>()
    );
    // Unversioned inventories have no version columns.
    assert!(entries.iter().all(|e| e.version_id.is_none()));
    // Each file is a contiguous key range: together they hold every key once.
    let per_file: u64 = report.file_reports.iter().map(|f| f.entries).sum();
    assert_eq!(per_file, 5000);
    assert!(report.file_reports.iter().all(|f| f.rows == 1000));

    // The delivery is laid out as AWS lays it out.
    let symlink = stack.get(&generated.symlink).await;
    let listed: Vec<String> = String::from_utf8(symlink.to_vec())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let data_files: Vec<String> = generated.data_files.iter().map(|f| f.to_string()).collect();
    assert_eq!(listed, data_files);
    assert_eq!(
        generated.symlink.key,
        "inventories/source-bucket/daily/hive/dt=2026-11-25-01-00/symlink.txt"
    );
    assert!(data_files.iter().all(|f| {
        f.starts_with("s3://inventory-dest/inventories/source-bucket/daily/data/")
            && f.ends_with(".parquet")
    }));
}

#[tokio::test]
async fn reads_the_inventory_aws_wrote() {
    let stack = LocalStack::start().await;
    let manifest = put_fixture(&stack, "parquet_inventory", "parquet_inventory.parquet").await;
    let (report, entries) = read_all(&stack, &manifest).await;
    assert_eq!(
        entries,
        vec![
            InventoryEntry {
                key: "inventory-test/".into(),
                version_id: None,
                size: 0,
                etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
                last_modified_ms: 1_715_035_068_000,
                storage_class: Some("STANDARD".into()),
            },
            InventoryEntry {
                key: "inventory-test/key1".into(),
                version_id: Some("tpinzcbxOfWpZsmjvVgdHEvSohsY4TA0".into()),
                size: 5,
                etag: "d8e8fca2dc0f896fd7cb4cb0031ba249".into(),
                last_modified_ms: 1_715_035_462_000,
                storage_class: Some("STANDARD".into()),
            },
        ]
    );
    assert_eq!(report.rows, 5);
    assert_eq!(
        report.skipped,
        SkipCounts {
            noncurrent_version: 2,
            delete_marker: 1,
            incomplete_row: 0,
            outside_prefix: 0,
        }
    );
    assert!(report.checksum_verified);
    assert_eq!(report.created_at, "2024-05-07T01:00:00+00:00");
}

/// Puts an AWS-written fixture delivery (`<name>_manifest.json`, its checksum and the
/// data file it lists) in the fixture's bucket; returns the manifest's URL.
async fn put_fixture(stack: &LocalStack, name: &str, data_file: &str) -> S3Url {
    let bucket = "filemanager-inventory-test";
    stack.create_bucket(bucket).await;
    // The fixture's manifest lists its data file by bare name, in the destination bucket.
    stack
        .put(
            &S3Url::new(bucket, data_file),
            std::fs::read(aws_fixture(data_file)).unwrap(),
        )
        .await;
    let manifest = S3Url::new(
        bucket,
        format!("inventory/filemanager-inventory-test/{name}/2024-05-07T01-00Z/manifest.json"),
    );
    stack
        .put(
            &manifest,
            std::fs::read(aws_fixture(&format!("{name}_manifest.json"))).unwrap(),
        )
        .await;
    stack
        .put(
            &manifest.sibling("manifest.checksum"),
            std::fs::read(aws_fixture(&format!("{name}_manifest.checksum"))).unwrap(),
        )
        .await;
    manifest
}

#[tokio::test]
async fn reads_the_csv_inventory_aws_wrote() {
    let stack = LocalStack::start().await;
    let manifest = put_fixture(&stack, "csv_inventory", "csv_inventory.csv.gz").await;
    let (report, entries) = read_all(&stack, &manifest).await;
    assert_eq!(
        entries,
        vec![
            InventoryEntry {
                key: "inventory-test/".into(),
                version_id: None,
                size: 0,
                etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
                last_modified_ms: 1_715_035_068_000,
                storage_class: Some("STANDARD".into()),
            },
            InventoryEntry {
                key: "inventory-test/key1".into(),
                version_id: Some("tpinzcbxOfWpZsmjvVgdHEvSohsY4TA0".into()),
                size: 5,
                etag: "d8e8fca2dc0f896fd7cb4cb0031ba249".into(),
                last_modified_ms: 1_715_035_462_000,
                storage_class: Some("STANDARD".into()),
            },
        ]
    );
    assert_eq!(report.rows, 5);
    assert_eq!(
        report.skipped,
        SkipCounts {
            noncurrent_version: 2,
            delete_marker: 1,
            incomplete_row: 0,
            outside_prefix: 0,
        }
    );
    assert!(report.checksum_verified);
    assert_eq!(report.created_at, "2024-05-07T01:00:00+00:00");

    // The inventory without the version columns: every row is current.
    let manifest = put_fixture(
        &stack,
        "csv_inventory_no_version",
        "csv_inventory_no_version.csv.gz",
    )
    .await;
    let (report, entries) = read_all(&stack, &manifest).await;
    let read: Vec<(&str, Option<&str>, u64)> = entries
        .iter()
        .map(|e| (e.key.as_str(), e.version_id.as_deref(), e.size))
        .collect();
    assert_eq!(
        read,
        [
            ("inventory-test/", None, 0),
            ("inventory-test/key1", None, 5)
        ]
    );
    assert_eq!(report.rows, 2);
    assert_eq!(report.skipped, SkipCounts::default());
}

#[tokio::test]
async fn reads_a_csv_delivery_exactly() {
    let stack = LocalStack::start().await;
    let awkward = awkward_keys();
    let mut options = options(awkward.len() as u64 + 2000, 4);
    options.format = DataFormat::Csv;
    options.versioned = true;
    options.keys = KeyShape::Awkward;
    options.shuffle = true;
    options.overlap = true;
    let generated = generate(&stack, &options).await;
    assert!(generated.data_files.iter().all(|f| {
        f.key.starts_with("inventories/source-bucket/daily/data/") && f.key.ends_with(".csv.gz")
    }));
    let (report, entries) = read_all(&stack, &generated.manifest).await;
    assert_eq!(entries, generated.expected);
    assert_eq!(report.files, 4);
    assert_eq!(report.rows, generated.rows);
    assert_eq!(report.skipped, generated.skipped);
    assert!(report.checksum_verified);
    let keys: BTreeSet<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    for key in &awkward {
        assert!(keys.contains(key.as_str()), "{key:?} not byte-exact");
    }
}

#[tokio::test]
async fn keeps_only_latest_live_versions_of_a_versioned_bucket() {
    let stack = LocalStack::start().await;
    let mut options = options(150, 3);
    options.versioned = true;
    options.write_objects = true;
    let generated = generate(&stack, &options).await;
    let (report, entries) = read_all(&stack, &generated.manifest).await;

    assert_eq!(entries, generated.expected);
    assert_eq!(report.objects, 150);
    assert_eq!(report.skipped, generated.skipped);
    assert_eq!(report.rows, 150 + generated.skipped.total());
    assert_eq!(
        generated.skipped.delete_marker, 15,
        "one key in ten is deleted"
    );
    assert!(generated.skipped.noncurrent_version >= 15);

    // The entries are exactly what S3 itself says is current in the source bucket.
    let versions = stack
        .s3()
        .list_object_versions()
        .bucket("source-bucket")
        .max_keys(1000)
        .send()
        .await
        .unwrap();
    assert!(!versions.is_truncated().unwrap_or(false));
    let mut current: Vec<(String, Option<String>, String)> = versions
        .versions()
        .iter()
        .filter(|v| v.is_latest() == Some(true))
        .map(|v| {
            (
                v.key().unwrap().to_string(),
                v.version_id()
                    .filter(|id| *id != "null")
                    .map(str::to_string),
                v.e_tag().unwrap().trim_matches('"').to_string(),
            )
        })
        .collect();
    current.sort();
    let ours: Vec<(String, Option<String>, String)> = entries
        .iter()
        .map(|e| (e.key.clone(), e.version_id.clone(), e.etag.clone()))
        .collect();
    assert_eq!(ours, current);
    // Null versions (objects written before versioning was enabled) are kept as such.
    assert!(entries.iter().any(|e| e.version_id.is_none()));
    assert!(entries.iter().any(|e| e.version_id.is_some()));
}

#[tokio::test]
async fn reads_shuffled_and_overlapping_files() {
    let stack = LocalStack::start().await;
    let mut options = options(3000, 6);
    options.versioned = true;
    options.shuffle = true;
    options.overlap = true;
    options.rows_per_group = 500;
    let generated = generate(&stack, &options).await;
    let (report, entries) = read_all(&stack, &generated.manifest).await;
    assert_eq!(entries.len(), 3000);
    assert_eq!(entries, generated.expected);
    assert_eq!(report.skipped, generated.skipped);

    // The files really overlap and are really unsorted.
    let mut ranges = Vec::new();
    for file in &generated.data_files {
        let single = single_file_keys(&stack, file).await;
        assert!(!single.windows(2).all(|w| w[0] <= w[1]), "{file} is sorted");
        ranges.push((
            single.iter().min().cloned().unwrap(),
            single.iter().max().cloned().unwrap(),
        ));
    }
    let (first, second) = (&ranges[0], &ranges[1]);
    assert!(
        first.0 < second.1 && second.0 < first.1,
        "{first:?} and {second:?} do not overlap"
    );
}

/// Every key of one data file in file order, read with the parquet crate directly.
async fn single_file_keys(stack: &LocalStack, file: &S3Url) -> Vec<String> {
    use arrow_array::cast::AsArray;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let bytes = stack.get(file).await;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap();
    let mut keys = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let column = batch.column_by_name("key").unwrap().as_string::<i32>();
        keys.extend(column.iter().map(|k| k.unwrap().to_string()));
    }
    keys
}

#[tokio::test]
async fn awkward_keys_come_out_byte_exact() {
    let stack = LocalStack::start().await;
    let awkward = awkward_keys();
    let mut options = options(awkward.len() as u64 + 20, 2);
    options.keys = KeyShape::Awkward;
    options.shuffle = true;
    let generated = generate(&stack, &options).await;
    let (_, entries) = read_all(&stack, &generated.manifest).await;
    assert_eq!(entries, generated.expected);

    let keys: BTreeSet<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    for key in &awkward {
        assert!(keys.contains(key.as_str()), "{key:?} missing");
    }
    let longest = entries.iter().map(|e| e.key.len()).max().unwrap();
    assert_eq!(longest, 1024);
    for key in [
        "with space/file name.txt",
        "plus+sign/a+b=c.txt",
        "percent/%2F%20literal%.txt",
        "control/\u{1}\u{7f}bell.bin",
        "control/line\nbreak.txt",
        "trailing-slash/",
        "double//slash//key",
        "accents/caf\u{e9}-nfc.txt",
        "accents/cafe\u{301}-nfd.txt",
        "emoji/😀🎉.png",
    ] {
        assert!(keys.contains(key), "{key:?} not byte-exact");
    }
}
