//! Worker function: reads one shard of an inventory delivery.

use anyhow::Context;
use inventory_core::ObjectStore;
use inventory_core::tasks::{ShardTask, run_shard};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().json().without_time().init();
    let config = inventory_core::aws::load_config().await;
    let store = ObjectStore::S3(inventory_core::aws::s3_client(&config));
    let store = &store;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let task: ShardTask =
            serde_json::from_value(event.payload).context("the event is not a shard task")?;
        let report = run_shard(store, &task, &std::env::temp_dir())
            .await
            .with_context(|| format!("shard of {}", task.manifest))?;
        Ok::<Value, Error>(serde_json::to_value(report)?)
    }))
    .await
}
