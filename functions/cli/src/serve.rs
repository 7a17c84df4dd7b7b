//! `serve`: the S3-compatible endpoint on a host.

use anyhow::{Context, Result};
use clap::Args;

use crate::catalog::CatalogArgs;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address and port to listen on
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: std::net::SocketAddr,
}

pub async fn run(args: ServeArgs, catalog: &CatalogArgs) -> Result<()> {
    let config = inventory_base::aws::load_config().await;
    let app = inventory_serve::setup::router_from_config(&config, catalog.table())?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    eprintln!(
        "Serving on http://{address}: the web UI (/ui/), the JSON API (/api/v1) and the S3 API \
         (bucket = repository, key = <ref>/<path>); log in or sign with a key from \
         `inventory-import credentials create`; Ctrl-C stops"
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving")?;
    Ok(())
}
