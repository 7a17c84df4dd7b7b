//! Trigger function: S3 Inventory delivery notifications (through SQS) and direct
//! invocations (`{"manifest": "s3://…/manifest.json", "repository": "…", "dry_run": true}`).

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

use inventory_runtime::handlers::{DirectInvocation, Function, Handlers};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    inventory_runtime::process::start_function();
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
    let response = handlers.handle_sqs_event(Function::Trigger, event).await;
    Ok(serde_json::to_value(response)?)
}
