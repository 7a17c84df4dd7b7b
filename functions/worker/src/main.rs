//! Worker function: stages one shard of an import job per message.

use aws_lambda_events::sqs::SqsEvent;
use inventory_runtime::handlers::{Function, Handlers};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    inventory_runtime::process::start_function();
    let handlers = &Handlers::from_env().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(
            handlers
                .handle_sqs_event(Function::Worker, event.payload)
                .await,
        )
    }))
    .await
}
