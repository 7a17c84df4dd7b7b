//! More of the clients users point at the endpoint: s5cmd, pyarrow's S3FileSystem
//! (a Parquet dataset read at two commits), with every version in the source bucket
//! unchanged by all of it.

use integration_tests::serve::{Server, bucket_versions};
use integration_tests::{LocalStack, ok_json, workspace_root};
use serde_json::json;

#[tokio::test]
async fn s5cmd_lists_and_copies_a_prefix_of_a_commit() {
    let stack = LocalStack::start().await;
    stack.imported_photos(12, false).await;
    let before = bucket_versions(&stack, "photos-source").await;
    let paths = stack.photos_paths("main");
    let head = ok_json(
        stack
            .cli()
            .args(["branch", "show", "photos", "main", "--json"]),
    )["commit"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let server = Server::start(&stack);
    let s5cmd = |args: &[&str]| {
        let output = server
            .client(workspace_root().join(".venv/bin/s5cmd"))
            .args(["--endpoint-url", &server.endpoint])
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "s5cmd {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let listed: Vec<String> = s5cmd(&["ls", &format!("s3://photos/{head}/*")])
        .lines()
        .map(|line| {
            line.split_whitespace()
                .last()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(listed, paths);

    let dir = tempfile::tempdir().unwrap();
    let target = format!("{}/", dir.path().display());
    s5cmd(&["cp", &format!("s3://photos/{head}/*"), &target]);
    for path in &paths {
        let source = stack
            .get(&inventory_base::S3Url::new("photos-source", path.clone()))
            .await;
        assert!(
            std::fs::read(dir.path().join(path)).unwrap() == source.as_ref(),
            "{path}"
        );
    }
    assert_eq!(bucket_versions(&stack, "photos-source").await, before);
}

#[tokio::test]
async fn pyarrow_reads_a_parquet_dataset_at_one_commit_and_at_the_next() {
    let stack = LocalStack::start().await;
    stack.imported_photos(2, false).await;
    let before = bucket_versions(&stack, "photos-source").await;
    let server = Server::start(&stack);
    let write = |name: &str, rows: std::ops::Range<i64>| {
        server.boto3(&format!(
            r#"
import io, pyarrow as pa, pyarrow.parquet as pq
table = pa.table({{"id": list(range({start}, {end})), "name": ["row %d" % i for i in range({start}, {end})]}})
sink = io.BytesIO()
pq.write_table(table, sink)
s3.put_object(Bucket="photos", Key="main/tables/events/{name}", Body=sink.getvalue())
print(json.dumps({{"rows": table.num_rows}}))
"#,
            start = rows.start,
            end = rows.end
        ))
    };
    let commit = |message: &str| {
        ok_json(
            stack
                .cli()
                .args(["commit", "photos", "main", "-m", message, "--json"]),
        )["commit"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    write("part-0.parquet", 0..100);
    write("part-1.parquet", 100..150);
    let first = commit("events, two parts");
    write("part-2.parquet", 150..175);
    let second = commit("events, a third part");

    let read = |reference: &str| {
        let output = server
            .python()
            .arg("-c")
            .arg(format!(
                r#"
import json, pyarrow.dataset as ds, pyarrow.fs as fs
s3 = fs.S3FileSystem(endpoint_override="{endpoint}", scheme="http", region="us-east-1",
                     access_key="{key}", secret_key="{secret}")
table = ds.dataset("photos/{reference}/tables/events/", filesystem=s3, format="parquet").to_table()
ids = sorted(table.column("id").to_pylist())
print(json.dumps({{"rows": table.num_rows, "first": ids[0], "last": ids[-1], "sum": sum(ids)}}))
"#,
                endpoint = server.endpoint.trim_start_matches("http://"),
                key = server.key_id,
                secret = server.secret
            ))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    assert_eq!(
        read(&first),
        json!({"rows": 150, "first": 0, "last": 149, "sum": (0..150).sum::<i64>()})
    );
    assert_eq!(
        read(&second),
        json!({"rows": 175, "first": 0, "last": 174, "sum": (0..175).sum::<i64>()})
    );
    assert_eq!(bucket_versions(&stack, "photos-source").await, before);
}
