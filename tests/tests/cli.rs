//! The `inventory-import` binary against the local stack, as a user runs it.

use integration_tests::LocalStack;
use serde_json::Value;

fn run(command: &mut std::process::Command) -> (bool, String, String) {
    let output = command.output().expect("the CLI runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn generate_then_inspect_as_json_and_text() {
    let stack = LocalStack::start().await;
    let (ok, stdout, stderr) = run(stack.cli().args([
        "dev",
        "generate-inventory",
        "--destination",
        "s3://inventory-dest/inventories",
        "--source-bucket",
        "photos",
        "--objects",
        "2000",
        "--files",
        "3",
        "--versioned",
        "--created-at",
        "2026-11-25T01:00:00Z",
        "--json",
    ]));
    assert!(ok, "{stderr}");
    let generated: Value = serde_json::from_str(&stdout).unwrap();
    let manifest = generated["manifest"].as_str().unwrap();
    assert_eq!(
        manifest,
        "s3://inventory-dest/inventories/photos/daily/2026-11-25T01-00Z/manifest.json"
    );
    let skipped = &generated["skipped"];

    let (ok, stdout, stderr) = run(stack.cli().args(["inspect", manifest, "--json"]));
    assert!(ok, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["objects"], 2000);
    assert_eq!(report["files"], 3);
    assert_eq!(report["checksum_verified"], true);
    assert_eq!(report["skipped"], *skipped);
    assert_eq!(report["skipped"]["delete_marker"], 200);
    assert_eq!(report["rows"], generated["rows"]);
    assert!(report["peak_rss_bytes"].as_u64().unwrap() > 0);

    let (ok, stdout, stderr) = run(stack.cli().args(["inspect", manifest]));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("Objects      2,000 to import"), "{stdout}");
    assert!(stdout.contains("(manifest.checksum verified)"), "{stdout}");
    assert!(stdout.contains(" 200 delete markers"), "{stdout}");
}

#[tokio::test]
async fn errors_name_the_input_and_fail_the_command() {
    let stack = LocalStack::start().await;
    stack.create_bucket("inventory-dest").await;
    let (ok, stdout, stderr) = run(stack
        .cli()
        .args(["inspect", "s3://inventory-dest/nothing/manifest.json"]));
    assert!(!ok);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr.trim_end(),
        "error: inspecting s3://inventory-dest/nothing/manifest.json: manifest s3://inventory-dest/nothing/manifest.json does not exist"
    );

    let (ok, _, stderr) = run(stack
        .cli()
        .args(["inspect", "https://example.com/manifest.json"]));
    assert!(!ok);
    assert!(
        stderr.contains(
            "\"https://example.com/manifest.json\" is not an S3 URL: it must start with s3://"
        ),
        "{stderr}"
    );
}

#[test]
fn help_explains_the_commands() {
    let binary = integration_tests::cli_binary();
    let (ok, stdout, _) = run(std::process::Command::new(&binary).arg("--help"));
    assert!(ok);
    assert!(stdout.contains("inspect"));
    assert!(stdout.contains("AWS_ENDPOINT_URL"));
    let (ok, stdout, _) =
        run(std::process::Command::new(&binary).args(["dev", "generate-inventory", "--help"]));
    assert!(ok);
    for option in [
        "--objects",
        "--files",
        "--rows-per-group",
        "--versioned",
        "--shuffle",
        "--overlap",
        "--write-objects",
        "--keys",
    ] {
        assert!(stdout.contains(option), "{option} missing from help");
    }
}

#[tokio::test]
async fn lists_the_first_entries_by_key() {
    use inventory_devtools::generator::{GeneratorOptions, KeyShape, generate_inventory};
    let stack = LocalStack::start().await;
    let mut options = GeneratorOptions::new("s3://inventory-dest/inv".parse().unwrap(), "src");
    options.objects = 500;
    options.files = 3;
    options.keys = KeyShape::Awkward;
    options.shuffle = true;
    options.overlap = true;
    let generated = generate_inventory(&stack.store(), &options).await.unwrap();

    let manifest = generated.manifest.to_string();
    let (ok, stdout, stderr) =
        run(stack
            .cli()
            .args(["inspect", &manifest, "--json", "--entries", "4"]));
    assert!(ok, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let listed: Vec<inventory_delivery::InventoryEntry> =
        serde_json::from_value(report["entries"].clone()).unwrap();
    assert_eq!(listed, generated.expected[..4]);
}

#[tokio::test]
async fn dev_commands_that_write_refuse_real_aws_unless_allowed() {
    let stack = LocalStack::start().await;
    let real = || {
        let mut command = stack.cli();
        command
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_ENDPOINT_URL_S3");
        command
    };
    let (ok, _, stderr) = run(real().args(["dev", "init", "--inventory-bucket", "b"]));
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "error: `dev init` creates tables and queues and sets a bucket's notifications, and no emulator endpoint is configured (AWS_ENDPOINT_URL): it would change real AWS resources; pass --allow-real-aws to do that"
    );
    let (ok, _, stderr) = run(real().args([
        "dev",
        "generate-inventory",
        "--destination",
        "s3://b/inv",
        "--source-bucket",
        "src",
        "--write-objects",
    ]));
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "error: `dev generate-inventory` writes objects into buckets, enables versioning on them and deletes objects, and no emulator endpoint is configured (AWS_ENDPOINT_URL): it would change real AWS resources; pass --allow-real-aws to do that"
    );
    // A local directory is no AWS resource.
    let root = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = run(real().args([
        "dev",
        "generate-inventory",
        "--destination",
        "s3://b/inv",
        "--source-bucket",
        "src",
        "--objects",
        "10",
        "--local-root",
        root.path().to_str().unwrap(),
    ]));
    assert!(ok, "{stderr}");
}

#[tokio::test]
async fn dev_init_adds_its_notifications_to_the_bucket_s_others() {
    let stack = LocalStack::start().await;
    stack.create_bucket("inventory-dest").await;
    let sqs = aws_sdk_sqs::Client::new(&stack.config);
    let queue = sqs
        .create_queue()
        .queue_name("someone-elses-consumer")
        .send()
        .await
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(queue.queue_url().unwrap())
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    stack
        .s3()
        .put_bucket_notification_configuration()
        .bucket("inventory-dest")
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .id("someone-elses")
                        .queue_arn(&arn)
                        .events(Event::S3ObjectRemoved)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    for _ in 0..2 {
        let (ok, _, stderr) = run(stack.cli().args([
            "dev",
            "init",
            "--inventory-bucket",
            "inventory-dest",
            "--json",
        ]));
        assert!(ok, "{stderr}");
    }
    let configuration = stack
        .s3()
        .get_bucket_notification_configuration()
        .bucket("inventory-dest")
        .send()
        .await
        .unwrap();
    let mut ids: Vec<&str> = configuration
        .queue_configurations()
        .iter()
        .filter_map(|q| q.id())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "inventory-import-manifest.checksum",
            "inventory-import-manifest.json",
            "someone-elses"
        ]
    );
}
