//! Every way a delivery can be unusable gives its own error naming the input; an
//! import of such a delivery fails with that error and moves no branch.

use std::io::{Read, Write};
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use chrono::{DateTime, Utc};
use integration_tests::{LocalStack, aws_fixture, photos_import, small_ranges};
use md5::{Digest, Md5};

use inventory_base::S3Url;
use inventory_delivery::inspect::{InspectOptions, inspect_manifest};
use inventory_delivery::manifest::{DataFormat, ManifestDocument, ManifestFile};
use inventory_devtools::generator::{GeneratedInventory, GeneratorOptions, generate_inventory};
use inventory_devtools::orc_writer::{OrcOptions, OrcRow, write_orc};
use inventory_importer::jobs::JobState;
use inventory_importer::pipeline::{IMPORT_BRANCH, Pipeline, Started};

async fn generated(stack: &LocalStack) -> GeneratedInventory {
    let mut options =
        GeneratorOptions::new("s3://inventory-dest/inv".parse().unwrap(), "source-bucket");
    options.objects = 300;
    options.files = 3;
    options.created_at = "2026-11-25T01:00:00Z".parse::<DateTime<Utc>>().unwrap();
    generate_inventory(&stack.store(), &options).await.unwrap()
}

async fn document(stack: &LocalStack, manifest: &S3Url) -> ManifestDocument {
    serde_json::from_slice(&stack.get(manifest).await).unwrap()
}

/// The error text `inspect` gives for `manifest`.
async fn inspect_error(stack: &LocalStack, manifest: &S3Url) -> String {
    match inspect_manifest(
        &stack.store(),
        manifest,
        &InspectOptions::default(),
        (),
        |_| {},
    )
    .await
    {
        Ok(_) => panic!("{manifest} was accepted"),
        Err(err) => err.to_string(),
    }
}

#[tokio::test]
async fn missing_manifest() {
    let stack = LocalStack::start().await;
    stack.create_bucket("inventory-dest").await;
    let url: S3Url = "s3://inventory-dest/inv/none/manifest.json"
        .parse()
        .unwrap();
    assert_eq!(
        inspect_error(&stack, &url).await,
        "manifest s3://inventory-dest/inv/none/manifest.json does not exist"
    );
}

#[tokio::test]
async fn unreadable_manifest() {
    let stack = LocalStack::start().await;
    stack.create_bucket("inventory-dest").await;
    let url: S3Url = "s3://inventory-dest/inv/bad/manifest.json".parse().unwrap();
    stack.put(&url, "{\"sourceBucket\": ").await;
    assert_eq!(
        inspect_error(&stack, &url).await,
        "manifest s3://inventory-dest/inv/bad/manifest.json is not a valid S3 Inventory manifest: EOF while parsing a value at line 1 column 17"
    );
    stack.put(&url, "{\"sourceBucket\": \"x\"}").await;
    assert_eq!(
        inspect_error(&stack, &url).await,
        "manifest s3://inventory-dest/inv/bad/manifest.json is not a valid S3 Inventory manifest: missing field `destinationBucket` at line 1 column 21"
    );
}

#[tokio::test]
async fn checksum_mismatch_and_malformed_checksum() {
    let stack = LocalStack::start().await;
    let generated = generated(&stack).await;
    let body = stack.get(&generated.manifest).await;
    let mut edited = body.to_vec();
    edited.extend_from_slice(b"\n");
    let actual = hex::encode(Md5::digest(&edited));
    let expected = String::from_utf8(stack.get(&generated.checksum).await.to_vec()).unwrap();
    stack.put(&generated.manifest, edited).await;
    assert_eq!(
        inspect_error(&stack, &generated.manifest).await,
        format!(
            "manifest {} does not match its checksum: manifest.checksum says {}, the manifest's MD5 is {actual}",
            generated.manifest,
            expected.trim_end()
        )
    );

    stack.put(&generated.checksum, "not-a-checksum\n").await;
    assert_eq!(
        inspect_error(&stack, &generated.manifest).await,
        format!(
            "manifest checksum {} is malformed: expected 32 hexadecimal digits and a newline, found \"not-a-checksum\\n\"",
            generated.checksum
        )
    );
}

#[tokio::test]
async fn formats_s3_inventory_does_not_write() {
    let stack = LocalStack::start().await;
    let generated = generated(&stack).await;
    let mut doc = document(&stack, &generated.manifest).await;
    doc.file_format = "JSON".into();
    stack.put_manifest(&generated.manifest, &doc).await;
    assert_eq!(
        inspect_error(&stack, &generated.manifest).await,
        format!(
            "manifest {} describes a \"JSON\" inventory; S3 Inventory writes CSV, ORC or Parquet, and only those are read",
            generated.manifest
        )
    );
}

#[tokio::test]
async fn a_csv_file_schema_in_another_notation() {
    let stack = LocalStack::start().await;
    stack.create_bucket("filemanager-inventory-test").await;
    let url = S3Url::new("filemanager-inventory-test", "csv/manifest.json");
    let mut doc: ManifestDocument =
        serde_json::from_slice(&std::fs::read(aws_fixture("csv_inventory_manifest.json")).unwrap())
            .unwrap();
    doc.file_schema = "Bucket, Key, Size, ETag".into();
    stack.put_manifest(&url, &doc).await;
    assert_eq!(
        inspect_error(&stack, &url).await,
        format!(
            "manifest {url}: fileSchema lacks required column(s) last_modified_date; the inventory configuration must include Size, Last modified and ETag"
        )
    );
    // A Parquet schema under a CSV fileFormat.
    doc.file_schema = "message s3.inventory {  required binary bucket (STRING);}".into();
    stack.put_manifest(&url, &doc).await;
    assert_eq!(
        inspect_error(&stack, &url).await,
        format!(
            "manifest {url} is not a valid S3 Inventory manifest: fileSchema: cannot read field \"message s3.inventory {{  required binary bucket (STRING);}}\" (expected comma-separated field names such as `Bucket, Key, Size`)"
        )
    );
}

#[tokio::test]
async fn a_truncated_csv_data_file() {
    let stack = LocalStack::start().await;
    let mut options =
        GeneratorOptions::new("s3://inventory-dest/inv".parse().unwrap(), "source-bucket");
    options.format = DataFormat::Csv;
    options.objects = 3000;
    let generated = generate_inventory(&stack.store(), &options).await.unwrap();
    // Cut in half, and listed so in the manifest: only the gzip stream tells.
    let file = &generated.data_files[0];
    let whole = stack.get(file).await;
    let half = whole.slice(..whole.len() / 2);
    let mut doc = document(&stack, &generated.manifest).await;
    doc.files[0].size = half.len() as u64;
    doc.files[0].md5_checksum = hex::encode(Md5::digest(&half));
    stack.put(file, half).await;
    stack.put_manifest(&generated.manifest, &doc).await;
    assert_eq!(
        inspect_error(&stack, &generated.manifest).await,
        format!("data file {file} is truncated: its gzip stream ends unexpectedly")
    );
}

#[tokio::test]
async fn columns_missing_from_file_schema() {
    let stack = LocalStack::start().await;
    let generated = generated(&stack).await;
    let mut doc = document(&stack, &generated.manifest).await;
    doc.file_schema = "message s3.inventory {  required binary bucket (STRING);  required binary key (STRING);  optional int64 last_modified_date (TIMESTAMP(MILLIS,true));}".into();
    stack.put_manifest(&generated.manifest, &doc).await;
    assert_eq!(
        inspect_error(&stack, &generated.manifest).await,
        format!(
            "manifest {}: fileSchema lacks required column(s) size, e_tag; the inventory configuration must include Size, Last modified and ETag",
            generated.manifest
        )
    );
}

#[tokio::test]
async fn columns_missing_from_a_data_file() {
    let stack = LocalStack::start().await;
    let generated = generated(&stack).await;
    // A data file with only bucket, key and size, under a manifest that claims more.
    let schema = Arc::new(Schema::new(vec![
        Field::new("bucket", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, false),
        Field::new("size", DataType::Int64, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["source-bucket"])),
        Arc::new(StringArray::from(vec!["a/key"])),
        Arc::new(Int64Array::from(vec![Some(1)])),
    ];
    let mut bytes = Vec::new();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(&mut bytes, schema.clone(), None).unwrap();
    writer
        .write(&RecordBatch::try_new(schema, columns).unwrap())
        .unwrap();
    writer.close().unwrap();
    let file = S3Url::new(
        "inventory-dest",
        "inv/source-bucket/daily/data/thin.parquet",
    );
    let md5 = hex::encode(Md5::digest(&bytes));
    let size = bytes.len() as u64;
    stack.put(&file, bytes).await;
    let mut doc = document(&stack, &generated.manifest).await;
    doc.files = vec![ManifestFile {
        key: file.key.clone(),
        size,
        md5_checksum: md5,
    }];
    stack.put_manifest(&generated.manifest, &doc).await;
    assert_eq!(
        inspect_error(&stack, &generated.manifest).await,
        format!("data file {file} lacks required column(s) last_modified_date, e_tag")
    );
}

#[tokio::test]
async fn missing_data_files_are_all_named() {
    let stack = LocalStack::start().await;
    let generated = generated(&stack).await;
    stack.delete(&generated.data_files[0]).await;
    stack.delete(&generated.data_files[2]).await;
    assert_eq!(
        inspect_error(&stack, &generated.manifest).await,
        format!(
            "manifest {} lists 2 data file(s) that do not exist: {}, {}",
            generated.manifest, generated.data_files[0], generated.data_files[2]
        )
    );
}

#[tokio::test]
async fn data_file_size_and_md5_mismatches() {
    let stack = LocalStack::start().await;
    let generated = generated(&stack).await;
    let file = &generated.data_files[1];
    let original = stack.get(file).await.to_vec();

    let mut longer = original.clone();
    longer.extend_from_slice(b"junk");
    stack.put(file, longer).await;
    assert_eq!(
        inspect_error(&stack, &generated.manifest).await,
        format!(
            "data file {file} is {} bytes, but the manifest lists {} bytes",
            original.len() + 4,
            original.len()
        )
    );

    let mut flipped = original.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    let expected = hex::encode(Md5::digest(&original));
    let actual = hex::encode(Md5::digest(&flipped));
    stack.put(file, flipped).await;
    assert_eq!(
        inspect_error(&stack, &generated.manifest).await,
        format!("data file {file} has MD5 {actual}, but the manifest lists {expected}")
    );
}

#[tokio::test]
async fn corrupt_parquet_file() {
    let stack = LocalStack::start().await;
    let generated = generated(&stack).await;
    let file = &generated.data_files[0];
    let garbage = b"PAR1 this is not really a parquet file at all".to_vec();
    let mut doc = document(&stack, &generated.manifest).await;
    doc.files[0].size = garbage.len() as u64;
    doc.files[0].md5_checksum = hex::encode(Md5::digest(&garbage));
    stack.put(file, garbage).await;
    stack.put_manifest(&generated.manifest, &doc).await;
    let error = inspect_error(&stack, &generated.manifest).await;
    assert!(
        error.starts_with(&format!(
            "data file {file} is not a readable Parquet file: "
        )),
        "{error}"
    );
}

/// A delivery of `photos-source` into `s3://inventory-dest/inv`, in `format`.
fn photos_delivery(format: DataFormat, created_at: &str) -> GeneratorOptions {
    let mut options =
        GeneratorOptions::new("s3://inventory-dest/inv".parse().unwrap(), "photos-source");
    options.format = format;
    options.objects = 200;
    options.files = 2;
    options.created_at = created_at.parse::<DateTime<Utc>>().unwrap();
    options
}

/// The repository `photos` with a first delivery of `photos-source` imported, so that
/// its import branch exists; the next delivery is of 2026-11-25.
async fn photos_imported_once(stack: &LocalStack) -> Pipeline {
    stack.create_bucket("catalog-storage").await;
    let pipeline = stack.pipeline(small_ranges()).await;
    pipeline
        .catalog
        .create_repository("photos", "s3://catalog-storage/photos", None)
        .await
        .unwrap();
    let first = photos_delivery(DataFormat::Parquet, "2026-11-24T01:00:00Z");
    let generated = generate_inventory(&stack.store(), &first).await.unwrap();
    match pipeline
        .run_in_process(&photos_import(&generated.manifest))
        .await
        .unwrap()
    {
        Started::Started { job, .. } => assert_eq!(job.state, JobState::Committed),
        other => panic!("expected a new job, got {other:?}"),
    }
    pipeline
}

/// The heads of the import branch and of `main`.
async fn heads(pipeline: &Pipeline) -> (String, String) {
    let head = |branch: &'static str| async move {
        pipeline.catalog.resolve("photos", branch).await.unwrap().id
    };
    (head(IMPORT_BRANCH).await, head("main").await)
}

/// An import of `manifest` into `photos` fails with `expected`, which its job records;
/// nothing stays staged and no branch moves. `inspect` gives the same error.
async fn refused(stack: &LocalStack, pipeline: &Pipeline, manifest: &S3Url, expected: &str) {
    let before = heads(pipeline).await;
    let err = pipeline
        .run_in_process(&photos_import(manifest))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), expected);
    let jobs = pipeline.jobs.list("photos").await.unwrap();
    let job = jobs.iter().find(|j| &j.manifest == manifest).unwrap();
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.error.as_deref(), Some(expected));
    assert_eq!(job.commit_id, None);
    assert_eq!(heads(pipeline).await, before, "no branch moved");
    assert_eq!(stack.count_items("inventory-import-staging").await, 0);
    assert_eq!(inspect_error(stack, manifest).await, expected);
}

/// Puts `body` in place of data file `index` of a delivery and lists it so in the
/// manifest (size and MD5 match): only reading the file shows what is wrong with it.
async fn replace_data_file(
    stack: &LocalStack,
    generated: &GeneratedInventory,
    index: usize,
    body: Vec<u8>,
) {
    let mut doc = document(stack, &generated.manifest).await;
    doc.files[index].size = body.len() as u64;
    doc.files[index].md5_checksum = hex::encode(Md5::digest(&body));
    stack.put(&generated.data_files[index], body).await;
    stack.put_manifest(&generated.manifest, &doc).await;
}

/// Data file `index` of a CSV delivery with `edit` applied to its lines, gzipped again.
async fn edit_csv_lines(
    stack: &LocalStack,
    generated: &GeneratedInventory,
    index: usize,
    edit: impl FnOnce(&mut Vec<String>),
) {
    let gzipped = stack.get(&generated.data_files[index]).await;
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(&gzipped[..])
        .read_to_string(&mut text)
        .unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    edit(&mut lines);
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for line in &lines {
        gzip.write_all(line.as_bytes()).unwrap();
        gzip.write_all(b"\n").unwrap();
    }
    replace_data_file(stack, generated, index, gzip.finish().unwrap()).await;
}

#[tokio::test]
async fn an_orc_data_file_without_a_required_column() {
    let stack = LocalStack::start().await;
    let pipeline = photos_imported_once(&stack).await;
    let options = photos_delivery(DataFormat::Orc, "2026-11-25T01:00:00Z");
    let generated = generate_inventory(&stack.store(), &options).await.unwrap();
    // The manifest's fileSchema lists size; the second data file has no such column.
    let rows: Vec<OrcRow> = (0..50)
        .map(|i| OrcRow {
            bucket: "photos-source".into(),
            key: format!("thin/object-{i:03}"),
            version_id: None,
            is_latest: Some(true),
            is_delete_marker: Some(false),
            size: Some(i),
            last_modified_ms: Some(1_764_032_400_000),
            e_tag: Some(format!("{i:032x}")),
            storage_class: Some("STANDARD".into()),
        })
        .collect();
    let thin = write_orc(
        &rows,
        &OrcOptions {
            left_out: vec!["size".into()],
            ..OrcOptions::default()
        },
    );
    replace_data_file(&stack, &generated, 1, thin).await;
    let file = &generated.data_files[1];
    refused(
        &stack,
        &pipeline,
        &generated.manifest,
        &format!("data file {file} lacks required column(s) size"),
    )
    .await;
}

#[tokio::test]
async fn an_orc_file_schema_without_size() {
    let stack = LocalStack::start().await;
    let pipeline = photos_imported_once(&stack).await;
    let options = photos_delivery(DataFormat::Orc, "2026-11-25T01:00:00Z");
    let generated = generate_inventory(&stack.store(), &options).await.unwrap();
    let mut doc = document(&stack, &generated.manifest).await;
    assert!(
        doc.file_schema.contains(",size:bigint,"),
        "{}",
        doc.file_schema
    );
    doc.file_schema = doc.file_schema.replace(",size:bigint,", ",");
    stack.put_manifest(&generated.manifest, &doc).await;
    refused(
        &stack,
        &pipeline,
        &generated.manifest,
        &format!(
            "manifest {}: fileSchema lacks required column(s) size; the inventory configuration must include Size, Last modified and ETag",
            generated.manifest
        ),
    )
    .await;
}

#[tokio::test]
async fn a_csv_record_with_the_wrong_number_of_fields() {
    let stack = LocalStack::start().await;
    let pipeline = photos_imported_once(&stack).await;
    let options = photos_delivery(DataFormat::Csv, "2026-11-25T01:00:00Z");
    let generated = generate_inventory(&stack.store(), &options).await.unwrap();
    // Line 7 of the second file loses its last field (EncryptionStatus).
    edit_csv_lines(&stack, &generated, 1, |lines| {
        let (shorter, _) = lines[6].rsplit_once(',').unwrap();
        lines[6] = shorter.to_string();
    })
    .await;
    let file = &generated.data_files[1];
    refused(
        &stack,
        &pipeline,
        &generated.manifest,
        &format!("data file {file}: line 7 has 7 field(s), but the manifest's fileSchema lists 8"),
    )
    .await;
}

#[tokio::test]
async fn a_csv_field_that_does_not_parse() {
    let stack = LocalStack::start().await;
    let pipeline = photos_imported_once(&stack).await;
    let options = photos_delivery(DataFormat::Csv, "2026-11-25T01:00:00Z");
    let generated = generate_inventory(&stack.store(), &options).await.unwrap();
    // Line 12 of the first file gives its size in words. Fields: Bucket, Key, Size, …
    edit_csv_lines(&stack, &generated, 0, |lines| {
        let mut fields: Vec<&str> = lines[11].split(',').collect();
        fields[2] = "\"12 bytes\"";
        lines[11] = fields.join(",");
    })
    .await;
    let file = &generated.data_files[0];
    refused(
        &stack,
        &pipeline,
        &generated.manifest,
        &format!("data file {file}: line 12, column size: \"12 bytes\" is not an integer"),
    )
    .await;
}
