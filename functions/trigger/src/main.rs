//! Trigger function: S3 Inventory delivery notifications (through SQS) and direct
//! invocations (`{"manifest": "s3://…/manifest.json", "repository": "…", "dry_run": true}`).

use aws_lambda_events::sqs::SqsEvent;
use inventory_core::handlers::{
    DirectInvocation, Function, Handlers, process_messages, sqs_batch_response, sqs_messages,
};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    inventory_core::process::keep_freed_memory();
    // JSON lines; every line about a job carries its id (`span.job`). RUST_LOG filters.
    tracing_subscriber::fmt()
        .json()
        .without_time()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let handlers = &Handlers::from_env().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // Boxed: the pipeline's future is deep enough to exceed the compiler's layout
        // recursion limit when nested inside the runtime's.
        Box::pin(handle(handlers, event.payload)).await
    }))
    .await
}

async fn handle(handlers: &Handlers, payload: Value) -> Result<Value, Error> {
    if payload.get("manifest").is_some() {
        let invocation: DirectInvocation = serde_json::from_value(payload)?;
        return Ok(serde_json::to_value(handlers.direct(&invocation).await?)?);
    }
    let event: SqsEvent = serde_json::from_value(payload)?;
    let failed = process_messages(sqs_messages(event), |message| async move {
        handlers.handle_message(Function::Trigger, &message).await
    })
    .await;
    Ok(serde_json::to_value(sqs_batch_response(failed))?)
}
