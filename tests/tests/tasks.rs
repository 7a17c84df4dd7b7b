//! What the trigger and worker functions do with their events, on the local stack.

use chrono::{DateTime, Utc};
use integration_tests::LocalStack;
use inventory_core::SkipCounts;
use inventory_core::generator::{GeneratorOptions, generate_inventory};
use inventory_core::tasks::{
    DirectInvocation, ShardReport, ShardTask, run_direct_invocation, run_shard,
};

#[tokio::test]
async fn direct_dry_run_and_shards() {
    let stack = LocalStack::start().await;
    let mut options = GeneratorOptions::new("s3://inventory-dest/inv".parse().unwrap(), "source");
    options.objects = 900;
    options.files = 3;
    options.created_at = "2026-11-25T01:00:00Z".parse::<DateTime<Utc>>().unwrap();
    let generated = generate_inventory(&stack.store(), &options).await.unwrap();
    let temp = std::env::temp_dir();

    let invocation: DirectInvocation = serde_json::from_value(serde_json::json!({
        "manifest": generated.manifest.to_string(),
        "repository": "photos",
        "dry_run": true
    }))
    .unwrap();
    let report = run_direct_invocation(&stack.store(), &invocation, &temp)
        .await
        .unwrap();
    assert_eq!(report.objects, 900);
    assert_eq!(report.files, 3);

    let not_dry = DirectInvocation {
        dry_run: false,
        ..invocation
    };
    let err = run_direct_invocation(&stack.store(), &not_dry, &temp)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "only dry runs can be started for {}: this deployment has no catalog to import into",
            generated.manifest
        )
    );

    let keys: Vec<String> = generated.data_files.iter().map(|f| f.key.clone()).collect();
    let shard = ShardTask {
        manifest: generated.manifest.clone(),
        files: keys[..2].to_vec(),
    };
    let report = run_shard(&stack.store(), &shard, &temp).await.unwrap();
    assert_eq!(
        report,
        ShardReport {
            files: 2,
            rows: 600,
            objects: 600,
            skipped: SkipCounts::default()
        }
    );

    let unknown = ShardTask {
        manifest: generated.manifest.clone(),
        files: vec!["inv/other.parquet".into()],
    };
    let err = run_shard(&stack.store(), &unknown, &temp)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "shard task for {} names data file inv/other.parquet, which the manifest does not list",
            generated.manifest
        )
    );
}
