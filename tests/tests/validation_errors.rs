//! Every way a delivery can be unusable gives its own error naming the input.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use chrono::{DateTime, Utc};
use integration_tests::{LocalStack, aws_fixture};
use md5::{Digest, Md5};

use inventory_base::S3Url;
use inventory_delivery::inspect::{InspectOptions, inspect_manifest};
use inventory_delivery::manifest::{ManifestDocument, ManifestFile};
use inventory_devtools::generator::{GeneratedInventory, GeneratorOptions, generate_inventory};

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
async fn formats_other_than_parquet() {
    let stack = LocalStack::start().await;
    stack.create_bucket("filemanager-inventory-test").await;
    for (fixture, format) in [
        ("csv_inventory_manifest", "CSV"),
        ("orc_inventory_manifest", "ORC"),
    ] {
        let url = S3Url::new(
            "filemanager-inventory-test",
            format!("{fixture}/manifest.json"),
        );
        stack
            .put(
                &url,
                std::fs::read(aws_fixture(&format!("{fixture}.json"))).unwrap(),
            )
            .await;
        stack
            .put(
                &url.sibling("manifest.checksum"),
                std::fs::read(aws_fixture(&format!("{fixture}.checksum"))).unwrap(),
            )
            .await;
        assert_eq!(
            inspect_error(&stack, &url).await,
            format!(
                "manifest {url} describes a {format} inventory; only Parquet inventories are supported (set the inventory configuration's output format to Apache Parquet)"
            )
        );
    }
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
