//! Committer function: turns a job whose shards are all staged into a commit.

use lambda_runtime::Error;

use inventory_runtime::handlers::Function;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    inventory_runtime::lambda::run_queue_function(Function::Committer).await
}
