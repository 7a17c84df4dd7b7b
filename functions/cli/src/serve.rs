//! `serve`: the S3-compatible endpoint on a host.

use anyhow::{Context, Result};
use clap::Args;

use inventory_serve::{CatalogS3, Credentials, router};

use crate::catalog::CatalogArgs;

/// Sets the access key id clients sign with.
const ACCESS_KEY_ID: &str = "SERVE_ACCESS_KEY_ID";
/// Sets its secret.
const SECRET_ACCESS_KEY: &str = "SERVE_SECRET_ACCESS_KEY";

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address and port to listen on
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: std::net::SocketAddr,
}

pub async fn run(args: ServeArgs, catalog: &CatalogArgs) -> Result<()> {
    let credential = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.is_empty())
            .with_context(|| {
                format!(
                    "{name} is not set: clients sign their requests with the access key in \
                     {ACCESS_KEY_ID} and {SECRET_ACCESS_KEY}"
                )
            })
    };
    let credentials = Credentials {
        access_key_id: credential(ACCESS_KEY_ID)?,
        secret_access_key: credential(SECRET_ACCESS_KEY)?,
    };
    let app = router(CatalogS3::new(catalog.open().await), &credentials);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    eprintln!(
        "Serving the S3 API on http://{address} (bucket = repository, key = <ref>/<path>); Ctrl-C stops"
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving")?;
    Ok(())
}
