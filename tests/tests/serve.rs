//! The S3-compatible endpoint, as S3 clients use it: boto3 against `serve` on the
//! local stack, after a real import.

use integration_tests::serve::{Server, bucket_versions};
use integration_tests::{LocalStack, ok_json};
use md5::{Digest, Md5};

use inventory_base::S3Url;

/// The photos repository with `objects` imported objects (that exist in the source
/// bucket), merged into `main`.
async fn imported(objects: u64) -> LocalStack {
    let stack = LocalStack::start().await;
    stack.imported_photos(objects, false).await;
    stack
}

/// The commit `main` is at.
fn main_head(stack: &LocalStack) -> String {
    ok_json(
        stack
            .cli()
            .args(["branch", "show", "photos", "main", "--json"]),
    )["commit"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn boto3_writes_to_a_branch_as_uncommitted_changes_and_never_to_a_commit() {
    let stack = imported(10).await;
    let paths = stack.photos_paths("main");
    let head = main_head(&stack);
    let before = bucket_versions(&stack, "photos-source").await;
    let server = Server::start(&stack);
    let script = format!(
        r#"
put = s3.put_object(Bucket="photos", Key="main/new/hello.txt", Body=b"hello, s3")
s3.delete_object(Bucket="photos", Key="main/{first}")
s3.delete_object(Bucket="photos", Key="main/not/there")
deleted = s3.delete_objects(Bucket="photos", Delete={{"Objects": [{{"Key": "main/{second}"}}, {{"Key": "main/{third}"}}]}})
body = s3.get_object(Bucket="photos", Key="main/new/hello.txt")["Body"].read().decode()
errors = {{}}
for name, key in [("import branch", "import-from-inventory/x"), ("commit id", "{head}/x"),
                  ("long key", "main/" + "k" * 1025)]:
    try:
        s3.put_object(Bucket="photos", Key=key, Body=b"x")
        errors[name] = None
    except botocore.exceptions.ClientError as e:
        errors[name] = [e.response["Error"]["Code"], e.response["Error"].get("Message")]
print(json.dumps({{"etag": put["ETag"], "deleted": sorted(d["Key"] for d in deleted["Deleted"]),
    "body": body, "errors": errors}}))
"#,
        first = paths[0],
        second = paths[1],
        third = paths[2],
    );
    let result = server.boto3(&script);
    assert_eq!(result["body"], "hello, s3");
    assert_eq!(
        result["etag"],
        format!("\"{}\"", hex::encode(Md5::digest(b"hello, s3")))
    );
    let mut deleted = vec![format!("main/{}", paths[1]), format!("main/{}", paths[2])];
    deleted.sort();
    assert_eq!(result["deleted"], serde_json::json!(deleted));
    assert_eq!(
        result["errors"],
        serde_json::json!({
            "import branch": ["AccessDenied", "branch import-from-inventory of repository photos changes only by imports: uploading is refused (branch off it, or merge it into a branch of your own)"],
            "commit id": ["AccessDenied", format!("{head:?} is commit {head} of repository photos, not a branch: only branches take writes")],
            // s3s refuses it before the catalog sees it, with the code alone.
            "long key": ["KeyTooLongError", null],
        })
    );
    // The writes wait on main as uncommitted changes; its commit is as it was.
    let diff = ok_json(stack.cli().args(["diff", "photos", "main", "--json"]));
    assert_eq!(
        diff["summary"],
        serde_json::json!({"added": 1, "removed": 3, "changed": 0, "ranges_skipped": 0})
    );
    assert_eq!(stack.photos_paths(&head), paths);
    let committed = ok_json(
        stack
            .cli()
            .args(["commit", "photos", "main", "-m", "from s3", "--json"]),
    );
    assert_eq!(committed["changes"], 4);
    assert_eq!(bucket_versions(&stack, "photos-source").await, before);
}

#[tokio::test]
async fn boto3_lists_and_reads_an_imported_branch() {
    let stack = imported(30).await;
    // A path S3 clients only get right when the listing encodes it (boto3 asks for
    // encoding-type=url and decodes every key).
    const ODD: &str = "odd name/a+b%20c=d é.txt";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("odd.txt");
    std::fs::write(&file, b"odd bytes").unwrap();
    ok_json(stack.cli().args([
        "upload",
        "photos",
        "main",
        ODD,
        file.to_str().unwrap(),
        "--json",
    ]));
    ok_json(
        stack
            .cli()
            .args(["commit", "photos", "main", "-m", "odd", "--json"]),
    );
    let listed = ok_json(
        stack
            .cli()
            .args(["ls", "photos", "main", "--recursive", "--json"]),
    );
    let paths: Vec<String> = listed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(paths.len(), 31);
    let server = Server::start(&stack);

    let result = server.boto3(
        r#"
buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
refs = [p["Prefix"] for p in s3.list_objects_v2(Bucket="photos", Delimiter="/")["CommonPrefixes"]]
keys = []
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="photos", Prefix="main/", PaginationConfig={"PageSize": 7}):
    keys += [o["Key"] for o in page.get("Contents", [])]
top = s3.list_objects_v2(Bucket="photos", Prefix="main/", Delimiter="/")
owners = [o.get("Owner") for o in s3.list_objects_v2(Bucket="photos", Prefix="main/", MaxKeys=2, FetchOwner=True)["Contents"]]
no_owner = [o.get("Owner") for o in s3.list_objects_v2(Bucket="photos", Prefix="main/", MaxKeys=2)["Contents"]]
keys_v1, prefixes_v1 = [], []
for page in s3.get_paginator("list_objects").paginate(Bucket="photos", Prefix="main/", PaginationConfig={"PageSize": 7}):
    keys_v1 += [o["Key"] for o in page.get("Contents", [])]
for page in s3.get_paginator("list_objects").paginate(Bucket="photos", Prefix="main/", Delimiter="/", PaginationConfig={"PageSize": 1}):
    prefixes_v1 += [p["Prefix"] for p in page.get("CommonPrefixes", [])] + [o["Key"] for o in page.get("Contents", [])]
md5 = {k: hashlib.md5(s3.get_object(Bucket="photos", Key=k)["Body"].read()).hexdigest() for k in keys}
head = s3.head_object(Bucket="photos", Key=keys[0])
k0 = keys[0]
etag0 = s3.head_object(Bucket="photos", Key=k0)["ETag"]
ranged = s3.get_object(Bucket="photos", Key=k0, Range="bytes=2-5")
suffix = s3.get_object(Bucket="photos", Key=k0, Range="bytes=-3")
import datetime
past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
future = datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)
conditional = {}
for name, kwargs in [("if-match", {"IfMatch": etag0}), ("if-match other", {"IfMatch": '"nope"'}),
                     ("if-none-match", {"IfNoneMatch": etag0}), ("if-modified-since future", {"IfModifiedSince": future}),
                     ("if-modified-since past", {"IfModifiedSince": past}), ("if-unmodified-since past", {"IfUnmodifiedSince": past})]:
    try:
        s3.get_object(Bucket="photos", Key=k0, **kwargs)["Body"].read()
        conditional[name] = 200
    except botocore.exceptions.ClientError as e:
        conditional[name] = e.response["Error"]["Code"]
errors = {}
for name, call in [
    ("bad range", lambda: s3.get_object(Bucket="photos", Key=k0, Range="bytes=100000000-")),
    ("wrong secret", lambda: client("wrong").list_buckets()),
    ("unknown repository", lambda: s3.list_objects_v2(Bucket="nope", Prefix="main/")),
    ("unknown key", lambda: s3.get_object(Bucket="photos", Key="main/not/there")),
    ("unknown ref", lambda: s3.get_object(Bucket="photos", Key="nope/" + keys[0][5:])),
]:
    try:
        call()
        errors[name] = None
    except botocore.exceptions.ClientError as e:
        errors[name] = e.response["Error"]["Code"]
print(json.dumps({"buckets": buckets, "refs": refs, "keys": keys, "md5": md5,
    "top_keys": [o["Key"] for o in top.get("Contents", [])],
    "top_prefixes": [p["Prefix"] for p in top.get("CommonPrefixes", [])],
    "head_length": head["ContentLength"], "head_etag": head["ETag"], "errors": errors,
    "ranged": ranged["Body"].read().hex(), "ranged_content_range": ranged["ContentRange"],
    "suffix": suffix["Body"].read().hex(), "conditional": conditional,
    "keys_v1": keys_v1, "top_v1": sorted(prefixes_v1), "owners": owners, "no_owner": no_owner}))
"#,
    );
    assert_eq!(result["buckets"], serde_json::json!(["photos"]));
    assert_eq!(
        result["refs"],
        serde_json::json!(["import-from-inventory/", "main/"])
    );
    // Every key, page by page (boto3 asks for url-encoded keys), as `ls` lists them.
    let keys: Vec<String> = paths.iter().map(|p| format!("main/{p}")).collect();
    assert_eq!(result["keys"], serde_json::json!(keys));
    // The bytes are the source objects'.
    assert_eq!(
        result["md5"][format!("main/{ODD}")],
        hex::encode(Md5::digest(b"odd bytes")).as_str()
    );
    for path in paths.iter().filter(|p| p.as_str() != ODD) {
        let bytes = stack.get(&S3Url::new("photos-source", path.clone())).await;
        let expected = hex::encode(Md5::digest(&bytes));
        assert_eq!(
            result["md5"][format!("main/{path}")],
            expected.as_str(),
            "{path:?}"
        );
    }
    // Ranged and conditional reads of the first object.
    let first_bytes = stack
        .get(&S3Url::new("photos-source", paths[0].clone()))
        .await;
    assert_eq!(result["ranged"], hex::encode(&first_bytes[2..6]));
    assert_eq!(
        result["ranged_content_range"],
        format!("bytes 2-5/{}", first_bytes.len())
    );
    assert_eq!(
        result["suffix"],
        hex::encode(&first_bytes[first_bytes.len() - 3..])
    );
    assert_eq!(
        result["conditional"],
        serde_json::json!({
            "if-match": 200,
            "if-match other": "PreconditionFailed",
            "if-none-match": "304",
            "if-modified-since future": "304",
            "if-modified-since past": 200,
            "if-unmodified-since past": "PreconditionFailed",
        })
    );
    let first = &listed["entries"][0];
    assert_eq!(result["head_length"], first["size"]);
    assert_eq!(
        result["head_etag"],
        format!("\"{}\"", first["etag"].as_str().unwrap())
    );
    // One level under main/: the keys and the common prefixes of a '/' listing.
    let mut expected_top = Vec::new();
    let mut expected_prefixes: Vec<String> = Vec::new();
    for path in &paths {
        match path.find('/') {
            Some(i) => {
                let prefix = format!("main/{}", &path[..=i]);
                if expected_prefixes.last() != Some(&prefix) {
                    expected_prefixes.push(prefix);
                }
            }
            None => expected_top.push(format!("main/{path}")),
        }
    }
    assert_eq!(result["top_keys"], serde_json::json!(expected_top));
    let owner = serde_json::json!({"DisplayName": "inventory-import", "ID": "inventory-import"});
    assert_eq!(result["owners"], serde_json::json!([owner, owner]));
    assert_eq!(result["no_owner"], serde_json::json!([null, null]));
    // ListObjects (v1), page by page with markers: the same keys.
    assert_eq!(result["keys_v1"], serde_json::json!(keys));
    let mut top_v1: Vec<String> = expected_top
        .iter()
        .chain(&expected_prefixes)
        .cloned()
        .collect();
    top_v1.sort();
    assert_eq!(result["top_v1"], serde_json::json!(top_v1));
    assert_eq!(result["top_prefixes"], serde_json::json!(expected_prefixes));
    assert_eq!(
        result["errors"],
        serde_json::json!({
            "bad range": "InvalidRange",
            "wrong secret": "SignatureDoesNotMatch",
            "unknown repository": "NoSuchBucket",
            "unknown key": "NoSuchKey",
            "unknown ref": "NoSuchKey",
        })
    );
}

#[tokio::test]
async fn the_aws_cli_lists_copies_and_syncs_a_commit() {
    let stack = imported(20).await;
    let paths = stack.photos_paths("main");
    let head = main_head(&stack);
    let before = bucket_versions(&stack, "photos-source").await;
    let server = Server::start(&stack);
    let dir = tempfile::tempdir().unwrap();
    let aws = |args: &[&str]| server.aws(args);

    // The refs, then every key of main.
    let refs = aws(&["s3", "ls", "s3://photos/"]);
    assert_eq!(
        refs.lines().map(str::trim).collect::<Vec<_>>(),
        ["PRE import-from-inventory/", "PRE main/"]
    );
    let listed: Vec<String> = aws(&["s3", "ls", "s3://photos/main/", "--recursive"])
        .lines()
        .map(|line| {
            line.split_whitespace()
                .last()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let keys: Vec<String> = paths.iter().map(|p| format!("main/{p}")).collect();
    assert_eq!(listed, keys);

    // cp down and up.
    let local = dir.path().join("one.bin");
    aws(&[
        "s3",
        "cp",
        &format!("s3://photos/main/{}", paths[0]),
        local.to_str().unwrap(),
    ]);
    let source = stack
        .get(&S3Url::new("photos-source", paths[0].clone()))
        .await;
    assert!(std::fs::read(&local).unwrap() == source.as_ref());
    let upload = dir.path().join("up.txt");
    std::fs::write(&upload, b"from the aws cli").unwrap();
    aws(&[
        "s3",
        "cp",
        upload.to_str().unwrap(),
        "s3://photos/main/uploads/up.txt",
    ]);
    let (ok, text, _) = {
        let output = stack
            .cli()
            .args(["diff", "photos", "main"])
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            (),
        )
    };
    assert!(ok);
    assert_eq!(text, "+ uploads/up.txt\n1 added, 0 removed, 0 changed\n");

    // sync of the commit: every object, byte for byte.
    let synced = dir.path().join("synced");
    aws(&[
        "s3",
        "sync",
        &format!("s3://photos/{head}/"),
        synced.to_str().unwrap(),
    ]);
    let mut count = 0;
    for path in &paths {
        let bytes = stack.get(&S3Url::new("photos-source", path.clone())).await;
        assert!(
            std::fs::read(synced.join(path)).unwrap() == bytes.as_ref(),
            "{path}"
        );
        count += 1;
    }
    let files = walk(&synced);
    assert_eq!((files, count), (20, 20));
    assert_eq!(bucket_versions(&stack, "photos-source").await, before);
}

/// Files under a directory, recursively.
fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            if path.is_dir() { walk(&path) } else { 1 }
        })
        .sum()
}

#[tokio::test]
async fn copy_object_names_the_same_bytes_and_an_uncommitted_upload_keeps_its_own() {
    let stack = imported(5).await;
    let paths = stack.photos_paths("main");
    let before = bucket_versions(&stack, "photos-source").await;
    let server = Server::start(&stack);
    let script = format!(
        r#"
s3.copy_object(Bucket="photos", Key="main/copies/imported", CopySource={{"Bucket": "photos", "Key": "main/{first}"}})
s3.put_object(Bucket="photos", Key="main/new.txt", Body=b"new bytes")
s3.copy_object(Bucket="photos", Key="main/copies/new", CopySource="photos/main/new.txt")
errors = {{}}
try:
    s3.copy_object(Bucket="photos", Key="main/x", CopySource={{"Bucket": "other", "Key": "main/{first}"}})
except botocore.exceptions.ClientError as e:
    errors["other repository"] = e.response["Error"]["Code"]
print(json.dumps({{"errors": errors}}))
"#,
        first = paths[0]
    );
    let result = server.boto3(&script);
    assert_eq!(
        result["errors"],
        serde_json::json!({"other repository": "NotImplemented"})
    );
    // The copy of an imported object names the source bytes; only the upload and the
    // copy of it (which the upload's reset must not take away) are stored.
    let copied = ok_json(
        stack
            .cli()
            .args(["stat", "photos", "main", "copies/imported", "--json"]),
    );
    let original = ok_json(
        stack
            .cli()
            .args(["stat", "photos", "main", &paths[0], "--json"]),
    );
    assert_eq!(copied["address"], original["address"]);
    assert_eq!(copied["etag"], original["etag"]);
    assert_eq!(
        stack
            .list_keys("catalog-storage", "photos/data/")
            .await
            .len(),
        2
    );
    ok_json(
        stack
            .cli()
            .args(["reset", "photos", "main", "new.txt", "--json"]),
    );
    let output = stack
        .cli()
        .args(["cat", "photos", "main", "copies/new"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, b"new bytes");
    let output = stack
        .cli()
        .args(["cat", "photos", "main", "copies/imported"])
        .output()
        .unwrap();
    let source = stack
        .get(&S3Url::new("photos-source", paths[0].clone()))
        .await;
    assert!(output.stdout == source.as_ref());
    assert_eq!(bucket_versions(&stack, "photos-source").await, before);
}

/// Calls the server made through the proxy, by operation, while `step` ran.
async fn calls_during<F: std::future::Future<Output = ()>>(
    proxy: &integration_tests::faults::FaultProxy,
    step: F,
) -> std::collections::BTreeMap<&'static str, u64> {
    const OPERATIONS: [&str; 8] = [
        "GetItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "TransactWriteItems",
        "GetObject",
        "HeadObject",
        "ListObjectsV2",
    ];
    let before: Vec<u64> = OPERATIONS.iter().map(|op| proxy.calls(op)).collect();
    step.await;
    OPERATIONS
        .iter()
        .zip(before)
        .map(|(op, before)| (*op, proxy.calls(op) - before))
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_read_costs_one_dynamodb_read_and_no_tree_file() {
    let stack = imported(40).await;
    let paths = stack.photos_paths("main");
    let head = main_head(&stack);
    let proxy = integration_tests::faults::FaultProxy::start(&stack.endpoint).await;
    let server = Server::start_through(&stack, &proxy.endpoint);
    let s3 = server.sdk().await;
    let head_object = |reference: &str, path: &str| {
        s3.head_object()
            .bucket("photos")
            .key(format!("{reference}/{path}"))
            .send()
    };
    // Cold: the repository, the branch, the commit, the metarange and a range.
    let cold = calls_during(&proxy, async {
        head_object("main", &paths[0]).await.unwrap();
    })
    .await;
    assert!(cold["GetObject"] >= 2, "{cold:?}");
    // Warm, at the branch and at the commit: one read of the branch item (or of its
    // absence), nothing else; another path of a range read before costs the same.
    for (reference, path) in [
        ("main", &paths[0]),
        ("main", &paths[1]),
        (&head[..], &paths[0]),
    ] {
        let warm = calls_during(&proxy, async {
            let object = head_object(reference, path).await.unwrap();
            assert!(object.content_length().unwrap_or_default() > 0);
        })
        .await;
        assert_eq!(warm, [("GetItem", 1)].into(), "{reference}/{path}");
    }
    // A read of the bytes adds the object's own GET, nothing more.
    let get = calls_during(&proxy, async {
        let object = s3
            .get_object()
            .bucket("photos")
            .key(format!("main/{}", paths[1]))
            .send()
            .await
            .unwrap();
        object.body.collect().await.unwrap();
    })
    .await;
    assert_eq!(get, [("GetItem", 1), ("GetObject", 1)].into());
    // A branch with uncommitted changes reads them too, and sees them.
    s3.put_object()
        .bucket("photos")
        .key("main/new.txt")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"new"))
        .send()
        .await
        .unwrap();
    let dirty = calls_during(&proxy, async {
        head_object("main", "new.txt").await.unwrap();
    })
    .await;
    assert_eq!(dirty, [("GetItem", 1), ("Query", 1)].into());
}
