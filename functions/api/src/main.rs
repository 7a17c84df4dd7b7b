//! Api function: the S3-compatible endpoint behind a Function URL, its responses
//! streamed. Clients sign with the keys `inventory-import credentials create` issues.

use lambda_http::Error;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    api::start_logging();
    let router = inventory_serve::setup::router_from_env().await?;
    api::run(router).await
}
