//! Worker function: reads one shard of an inventory delivery.

use anyhow::Context;
use inventory_core::tasks::{ShardTask, run_shard};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().json().without_time().init();
    let store = &inventory_core::aws::s3_store().await;
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
