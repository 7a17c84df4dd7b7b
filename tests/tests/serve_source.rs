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

#[tokio::test]
async fn an_unversioned_source_changed_after_the_import_is_listed_as_imported_and_never_read_anew()
{
    let (stack, paths, originals) = changed_after_import(false).await;
    let server = Server::start(&stack);
    let result = read_all(&server, &paths);
    // Listed exactly as imported: the created object is not there, the overwritten
    // and the deleted ones keep their imported metadata.
    assert_eq!(result["listed"], imported_listing(&stack));
    let reads = &result["reads"];
    assert_eq!(reads["main/new/created.jpg"][0], json!("NoSuchKey"));
    let overwritten = &reads[format!("main/{}", paths[0])];
    assert_eq!(overwritten[0], json!("InvalidObjectState"), "{result}");
    let message = overwritten[1].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "object {:?} changed in the source after it was imported: s3://photos-source/{} now has ETag ",
            paths[0], paths[0]
        )),
        "{message}"
    );
    let deleted = &reads[format!("main/{}", paths[1])];
    assert_eq!(deleted[0], json!("InvalidObjectState"));
    assert_eq!(
        deleted[1],
        json!(format!(
            "object {:?} no longer exists in the source: s3://photos-source/{} is gone",
            paths[1], paths[1]
        ))
    );
    for (path, original) in paths.iter().zip(&originals).skip(2) {
        assert_eq!(
            reads[format!("main/{path}")],
            json!(["bytes", md5_hex(original)])
        );
    }
}

#[tokio::test]
async fn a_versioned_source_changed_after_the_import_still_gives_the_imported_versions() {
    let (stack, paths, originals) = changed_after_import(true).await;
    let server = Server::start(&stack);
    let result = read_all(&server, &paths);
    assert_eq!(result["listed"], imported_listing(&stack));
    let reads = &result["reads"];
    assert_eq!(reads["main/new/created.jpg"][0], json!("NoSuchKey"));
    // Overwritten and deleted (a delete marker on top): the pinned versions' bytes.
    for (path, original) in paths.iter().zip(&originals) {
        assert_eq!(
            reads[format!("main/{path}")],
            json!(["bytes", md5_hex(original)]),
            "{path}"
        );
    }

    // A pinned version that is gone for good is an error naming it.
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
