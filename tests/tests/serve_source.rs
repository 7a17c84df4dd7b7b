//! Reads through the S3 endpoint after the source bucket changed: what S3 Inventory
//! promises nothing about, answered row by row.
//!
//! | in the source after the import | listing                   | GetObject                                  |
//! | ------------------------------ | ------------------------- | ------------------------------------------ |
//! | an object is created           | not listed                | NoSuchKey                                  |
//! | an object is overwritten       | its imported metadata     | the imported version, or an error: changed |
//! | an object is deleted           | its imported metadata     | the imported version, or an error: gone    |

use aws_sdk_s3::primitives::ByteStream;
use integration_tests::LocalStack;
use integration_tests::serve::Server;
use serde_json::{Value, json};

/// Imports `objects` photos (`versioned` or not), reads what the endpoint lists at
/// `main` and the source objects' bytes, then changes the source: creates
/// `new/created.jpg`, overwrites the first path and deletes the second.
async fn changed_after_import(versioned: bool) -> (LocalStack, Vec<String>, Vec<Vec<u8>>) {
    let stack = LocalStack::start().await;
    stack.imported_photos(4, versioned).await;
    let paths = stack.photos_paths("main");
    let mut originals = Vec::new();
    for path in &paths {
        let url = inventory_base::S3Url::new("photos-source", path.clone());
        originals.push(stack.get(&url).await.to_vec());
    }
    let s3 = aws_sdk_s3::Client::new(&stack.config);
    for (key, body) in [
        ("new/created.jpg", "created after the import"),
        (paths[0].as_str(), "overwritten after the import"),
    ] {
        s3.put_object()
            .bucket("photos-source")
            .key(key)
            .body(ByteStream::from_static(body.as_bytes()))
            .send()
            .await
            .unwrap();
    }
    s3.delete_object()
        .bucket("photos-source")
        .key(&paths[1])
        .send()
        .await
        .unwrap();
    (stack, paths, originals)
}

/// What the endpoint answers for every key of `main` and for the created one.
fn read_all(server: &Server, paths: &[String]) -> Value {
    server.boto3(&format!(
        r#"
paths = {paths}
listed = [(o["Key"], o["Size"], o["ETag"]) for o in s3.list_objects_v2(Bucket="photos", Prefix="main/")["Contents"]]
reads = {{}}
for key in ["main/" + p for p in paths] + ["main/new/created.jpg"]:
    try:
        body = s3.get_object(Bucket="photos", Key=key)["Body"].read()
        reads[key] = ["bytes", hashlib.md5(body).hexdigest()]
    except botocore.exceptions.ClientError as e:
        reads[key] = [e.response["Error"]["Code"], e.response["Error"].get("Message", "")]
print(json.dumps({{"listed": listed, "reads": reads}}))
"#,
        paths = serde_json::to_string(paths).unwrap()
    ))
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(bytes))
}

/// The keys, sizes and ETags the import recorded, as boto3 lists them.
fn imported_listing(stack: &LocalStack) -> Value {
    let listed = integration_tests::ok_json(stack.cli().args([
        "ls",
        "photos",
        "main",
        "--recursive",
        "--json",
    ]));
    let entries: Vec<Value> = listed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            json!([
                format!("main/{}", e["path"].as_str().unwrap()),
                e["size"],
                format!("\"{}\"", e["etag"].as_str().unwrap())
            ])
        })
        .collect();
    Value::Array(entries)
}

/// The same changes in an unversioned and in a versioned source: what the endpoint
/// lists at `main` (beside what the import recorded) and reads for each key, and the
/// paths and original bytes of each.
struct Both {
    unversioned: (Value, Value, Vec<String>, Vec<Vec<u8>>),
    versioned: (Value, Value, Vec<String>, Vec<Vec<u8>>),
}

async fn both() -> Both {
    let mut results = Vec::new();
    for versioned in [false, true] {
        let (stack, paths, originals) = changed_after_import(versioned).await;
        let server = Server::start(&stack);
        let result = read_all(&server, &paths);
        results.push((result, imported_listing(&stack), paths, originals));
    }
    let versioned = results.pop().unwrap();
    let unversioned = results.pop().unwrap();
    Both {
        unversioned,
        versioned,
    }
}

#[tokio::test]
async fn an_object_created_after_the_import_is_not_listed_and_not_read() {
    let both = both().await;
    for (result, imported, _, _) in [&both.unversioned, &both.versioned] {
        assert_eq!(&result["listed"], imported);
        let listed: Vec<&str> = result["listed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o[0].as_str().unwrap())
            .collect();
        assert!(!listed.contains(&"main/new/created.jpg"));
        assert_eq!(
            result["reads"]["main/new/created.jpg"][0],
            json!("NoSuchKey")
        );
    }
}

#[tokio::test]
async fn an_object_overwritten_after_the_import_keeps_its_imported_metadata_and_bytes_or_says_it_changed()
 {
    let both = both().await;
    // Unversioned: listed as imported, and its new bytes are never given.
    let (result, imported, paths, _) = &both.unversioned;
    assert_eq!(&result["listed"], imported);
    let overwritten = &result["reads"][format!("main/{}", paths[0])];
    assert_eq!(overwritten[0], json!("InvalidObjectState"), "{result}");
    let message = overwritten[1].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "object {:?} changed in the source after it was imported: s3://photos-source/{} now has ETag ",
            paths[0], paths[0]
        )),
        "{message}"
    );
    // Versioned: the imported version's bytes.
    let (result, imported, paths, originals) = &both.versioned;
    assert_eq!(&result["listed"], imported);
    assert_eq!(
        result["reads"][format!("main/{}", paths[0])],
        json!(["bytes", md5_hex(&originals[0])])
    );
}

#[tokio::test]
async fn an_object_deleted_after_the_import_keeps_its_imported_metadata_and_bytes_or_says_it_is_gone()
 {
    let both = both().await;
    let (result, imported, paths, originals) = &both.unversioned;
    assert_eq!(&result["listed"], imported);
    assert_eq!(
        result["reads"][format!("main/{}", paths[1])],
        json!([
            "InvalidObjectState",
            format!(
                "object {:?} no longer exists in the source: s3://photos-source/{} is gone",
                paths[1], paths[1]
            )
        ])
    );
    // The objects nothing happened to read as imported.
    for (path, original) in paths.iter().zip(originals).skip(2) {
        assert_eq!(
            result["reads"][format!("main/{path}")],
            json!(["bytes", md5_hex(original)])
        );
    }
    // Versioned, a delete marker on top: the imported version's bytes.
    let (result, imported, paths, originals) = &both.versioned;
    assert_eq!(&result["listed"], imported);
    assert_eq!(
        result["reads"][format!("main/{}", paths[1])],
        json!(["bytes", md5_hex(&originals[1])])
    );
}

#[tokio::test]
async fn a_pinned_version_deleted_for_good_is_an_error_naming_it() {
    let (stack, paths, _) = changed_after_import(true).await;
    let server = Server::start(&stack);
    let listed = integration_tests::ok_json(
        stack
            .cli()
            .args(["stat", "photos", "main", &paths[2], "--json"]),
    );
    let version = listed["version_id"].as_str().unwrap().to_string();
    let s3 = aws_sdk_s3::Client::new(&stack.config);
    s3.delete_object()
        .bucket("photos-source")
        .key(&paths[2])
        .version_id(&version)
        .send()
        .await
        .unwrap();
    let result = read_all(&server, &paths);
    assert_eq!(
        result["reads"][format!("main/{}", paths[2])],
        json!([
            "InvalidObjectState",
            format!(
                "object {:?} no longer exists in the source: s3://photos-source/{} (version {version}) is gone",
                paths[2], paths[2]
            )
        ])
    );
}
