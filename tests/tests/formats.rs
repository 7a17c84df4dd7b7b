//! Every output format S3 Inventory writes (Parquet, CSV, ORC) imports a versioned
//! bucket of awkward keys byte-exact, and a bucket whose inventory configuration
//! changes format between deliveries imports the next day's changes exactly: the
//! import compares objects, never files.

use chrono::{DateTime, Duration, Utc};
use integration_tests::{LocalStack, as_tree, imported_into_photos, photos_import, small_ranges};

use inventory_delivery::manifest::{DataFormat, ManifestDocument};
use inventory_devtools::generator::{
    Changes, GeneratedInventory, GeneratorOptions, KeyShape, awkward_keys, generate_inventory,
};
use inventory_importer::jobs::{ImportSummary, Job, JobState};
use inventory_importer::pipeline::{IMPORT_BRANCH, Pipeline, Started};

/// Live objects of the first delivery: the awkward keys and realistic ones.
const OBJECTS: u64 = 300;

/// What changed in the bucket by the next day's delivery.
const CHANGES: Changes = Changes {
    added: 23,
    changed: 31,
    deleted: 17,
};

async fn setup(stack: &LocalStack) -> Pipeline {
    stack.create_bucket("catalog-storage").await;
    let pipeline = stack.pipeline(small_ranges()).await;
    pipeline
        .catalog
        .create_repository("photos", "s3://catalog-storage/photos", None)
        .await
        .unwrap();
    pipeline
}

/// A delivery of the versioned bucket `photos-source`, awkward keys among its own,
/// in `format`, three data files of overlapping key ranges, rows shuffled.
fn options(format: DataFormat) -> GeneratorOptions {
    let mut options =
        GeneratorOptions::new("s3://inventory-dest/inv".parse().unwrap(), "photos-source");
    options.format = format;
    options.objects = OBJECTS;
    options.files = 3;
    options.rows_per_group = 64;
    options.versioned = true;
    options.keys = KeyShape::Awkward;
    options.shuffle = true;
    options.overlap = true;
    options.created_at = "2026-11-20T01:00:00Z".parse::<DateTime<Utc>>().unwrap();
    options
}

async fn import(pipeline: &Pipeline, generated: &GeneratedInventory) -> Job {
    match pipeline
        .run_in_process(&photos_import(&generated.manifest))
        .await
        .unwrap()
    {
        Started::Started { job, .. } => job,
        other => panic!("expected a new job, got {other:?}"),
    }
}

/// Checks that the delivery is written in `format` as S3 Inventory writes it.
async fn assert_format(stack: &LocalStack, generated: &GeneratedInventory, format: DataFormat) {
    let document: ManifestDocument =
        serde_json::from_slice(&stack.get(&generated.manifest).await).unwrap();
    assert_eq!(document.file_format, format.name());
    let extension = match format {
        DataFormat::Parquet => ".parquet",
        DataFormat::Csv => ".csv.gz",
        DataFormat::Orc => ".orc",
    };
    assert!(
        generated
            .data_files
            .iter()
            .all(|f| f.key.contains("/data/") && f.key.ends_with(extension)),
        "{:?}",
        generated.data_files
    );
}

/// Imports a delivery in `first`, then the next day's, with [`CHANGES`], in `then`;
/// each import's counts and tree are exact.
async fn imports_exactly(first: DataFormat, then: DataFormat) {
    let stack = LocalStack::start().await;
    let pipeline = setup(&stack).await;

    let mut options = options(first);
    let day_one = generate_inventory(&stack.store(), &options).await.unwrap();
    assert_format(&stack, &day_one, first).await;
    assert!(day_one.skipped.noncurrent_version > 0 && day_one.skipped.delete_marker > 0);
    let job = import(&pipeline, &day_one).await;
    assert_eq!(job.state, JobState::Committed, "{:?}", job.error);
    assert_eq!(
        job.summary,
        Some(ImportSummary {
            added: OBJECTS,
            changed: 0,
            deleted: 0,
            unchanged: 0,
            total: OBJECTS,
            skipped: day_one.skipped,
            duplicate_keys: 0,
        })
    );
    let tree = imported_into_photos(&pipeline).await;
    assert_eq!(tree.len(), OBJECTS as usize);
    assert_eq!(tree, as_tree("photos-source", &day_one.expected));
    // Every awkward key is a path of the tree, byte for byte.
    let paths: std::collections::HashSet<&str> = tree.iter().map(|e| e.path.as_str()).collect();
    for key in awkward_keys() {
        assert!(paths.contains(key.as_str()), "{key:?} is not in the tree");
    }

    // The next day the inventory configuration writes another format.
    options.format = then;
    options.created_at += Duration::days(1);
    options.changes = CHANGES;
    let day_two = generate_inventory(&stack.store(), &options).await.unwrap();
    assert_format(&stack, &day_two, then).await;
    let total = OBJECTS + CHANGES.added - CHANGES.deleted;
    assert_eq!(day_two.expected.len() as u64, total);
    let head = pipeline
        .catalog
        .resolve("photos", IMPORT_BRANCH)
        .await
        .unwrap()
        .id;
    let job = import(&pipeline, &day_two).await;
    assert_eq!(job.state, JobState::Committed, "{:?}", job.error);
    assert_eq!(
        job.summary,
        Some(ImportSummary {
            added: CHANGES.added,
            changed: CHANGES.changed,
            deleted: CHANGES.deleted,
            unchanged: OBJECTS - CHANGES.changed - CHANGES.deleted,
            total,
            skipped: day_two.skipped,
            duplicate_keys: 0,
        })
    );
    assert_eq!(
        imported_into_photos(&pipeline).await,
        as_tree("photos-source", &day_two.expected)
    );
    let commit = pipeline
        .catalog
        .resolve("photos", IMPORT_BRANCH)
        .await
        .unwrap();
    assert_eq!(commit.parents, [head]);
    assert_eq!(
        commit.metadata["manifest_url"],
        day_two.manifest.to_string()
    );
}

#[tokio::test]
async fn parquet_then_csv() {
    imports_exactly(DataFormat::Parquet, DataFormat::Csv).await;
}

#[tokio::test]
async fn csv_then_orc() {
    imports_exactly(DataFormat::Csv, DataFormat::Orc).await;
}

#[tokio::test]
async fn orc_then_parquet() {
    imports_exactly(DataFormat::Orc, DataFormat::Parquet).await;
}
