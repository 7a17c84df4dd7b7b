//! `credentials`: the access keys S3 clients (and the API) sign requests with.

use anyhow::Result;
use clap::Subcommand;
use serde_json::json;

use crate::catalog::CatalogArgs;

#[derive(Subcommand, Debug)]
pub enum CredentialsCommand {
    /// Issue an access key; its secret is printed once and stored only sealed
    Create {
        /// What the key is for (shown by `credentials list`)
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List access keys (never their secrets)
    List,
    /// Delete an access key: requests signed with it are refused
    Delete { access_key_id: String },
}

pub async fn run(catalog: &CatalogArgs, command: CredentialsCommand) -> Result<()> {
    let keys = catalog.keys().await?;
    let as_json = catalog.json();
    match command {
        CredentialsCommand::Create { description } => {
            let key = keys.create(&description).await?;
            if as_json {
                println!("{}", serde_json::to_string_pretty(&key)?);
            } else {
                println!("access key id:     {}", key.key.access_key_id);
                println!("secret access key: {}", key.secret_access_key);
                println!("The secret is shown only now: keep it somewhere safe.");
            }
        }
        CredentialsCommand::List => {
            let list = keys.list().await?;
            if as_json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!("No access keys: `inventory-import credentials create` issues one.");
            } else {
                for key in list {
                    println!(
                        "{}  created {}  {}",
                        key.access_key_id, key.created_at, key.description
                    );
                }
            }
        }
        CredentialsCommand::Delete { access_key_id } => {
            keys.delete(&access_key_id).await?;
            if as_json {
                println!("{}", json!({ "deleted": access_key_id }));
            } else {
                println!("Deleted access key {access_key_id}.");
            }
        }
    }
    Ok(())
}
