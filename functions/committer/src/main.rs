//! Committer function: turns a job whose shards are all staged into a commit.

use aws_lambda_events::sqs::SqsEvent;
use inventory_core::handlers::{
    Handlers, decode_task, process_messages, sqs_batch_response, sqs_messages,
};
use inventory_core::pipeline::CommitTask;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().json().without_time().init();
    let handlers = &Handlers::from_env().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let failed = process_messages(sqs_messages(event.payload), |message| async move {
            let task: CommitTask = decode_task(&message.body)?;
            let job = Box::pin(handlers.commit(&task)).await?;
            tracing::info!(job = %job.id, state = ?job.state, "job finished");
            Ok(())
        })
        .await;
        Ok::<_, Error>(sqs_batch_response(failed))
    }))
    .await
}
