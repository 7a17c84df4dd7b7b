//! Worker function: stages one shard of an import job per message.

use aws_lambda_events::sqs::SqsEvent;
use inventory_core::handlers::{
    Function, Handlers, process_messages, sqs_batch_response, sqs_messages,
};
use lambda_runtime::{Error, LambdaEvent, service_fn};
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
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let failed = process_messages(sqs_messages(event.payload), |message| async move {
            Box::pin(handlers.handle_message(Function::Worker, &message)).await
        })
        .await;
        Ok::<_, Error>(sqs_batch_response(failed))
    }))
    .await
}
