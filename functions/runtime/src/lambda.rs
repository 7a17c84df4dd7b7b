//! Running a function under the Lambda runtime: the process starts as every function
//! does, its handlers are built from the environment, and each SQS batch goes to the
//! function's handler, which reports failed messages one by one.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};

use crate::handlers::{Function, Handlers};

/// Runs a function fed by its queue alone (the worker, the committer) until the
/// Lambda runtime stops it.
pub async fn run_queue_function(function: Function) -> Result<(), Error> {
    crate::process::start_function();
    let handlers = &Handlers::from_env().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(handlers.handle_sqs_event(function, event.payload).await)
    }))
    .await
}
