//! Trigger function: S3 Inventory delivery notifications (through SQS) and direct
//! invocations (`{"manifest": "s3://…/manifest.json", "dry_run": true}`).

use anyhow::Context;
use aws_lambda_events::sqs::SqsEvent;
use inventory_core::ObjectStore;
use inventory_core::events::{DeliveryEvent, parse_notification};
use inventory_core::tasks::{DirectInvocation, run_direct_invocation};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(untagged)]
enum TriggerEvent {
    Direct(DirectInvocation),
    Sqs(SqsEvent),
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().json().without_time().init();
    let store = &inventory_core::aws::s3_store().await;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // Boxed: the dry run's future is deep enough to exceed the compiler's layout
        // recursion limit when nested inside the runtime's.
        Box::pin(handle(store, event.payload)).await
    }))
    .await
}

async fn handle(store: &ObjectStore, payload: Value) -> Result<Value, Error> {
    let event: TriggerEvent = serde_json::from_value(payload)
        .context("the event is neither a direct invocation nor an SQS event")?;
    match event {
        TriggerEvent::Direct(invocation) => {
            let report = run_direct_invocation(store, &invocation, &std::env::temp_dir())
                .await
                .with_context(|| format!("dry run of {}", invocation.manifest))?;
            Ok(json!({ "dry_run": true, "report": report }))
        }
        TriggerEvent::Sqs(event) => {
            let mut deliveries = Vec::new();
            for message in event.records {
                let body = message.body.unwrap_or_default();
                match parse_notification(&body) {
                    Ok(events) => {
                        for event in events {
                            match event {
                                DeliveryEvent::Complete { manifest } => {
                                    tracing::info!(%manifest, "inventory delivery complete");
                                    deliveries.push(manifest.to_string());
                                }
                                DeliveryEvent::ManifestWritten { manifest } => {
                                    tracing::info!(%manifest, "manifest written; waiting for its checksum");
                                }
                                DeliveryEvent::Ignored { reason } => {
                                    tracing::info!(%reason, "ignored");
                                }
                            }
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "message ignored"),
                }
            }
            Ok(json!({ "deliveries": deliveries }))
        }
    }
}
