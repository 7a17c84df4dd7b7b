//! Worker function: stages one shard of an import job per message.

use lambda_runtime::Error;

use inventory_runtime::handlers::Function;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    inventory_runtime::lambda::run_queue_function(Function::Worker).await
}
