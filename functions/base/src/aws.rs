//! AWS clients built from the standard configuration chain.
//!
//! `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`) points every client at a local
//! emulator such as moto or LocalStack; S3 then uses path-style addressing, which
//! emulators need.

use aws_config::{BehaviorVersion, SdkConfig};

/// Loads the shared AWS configuration (region, credentials, endpoint) from the environment.
pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// An S3 client for `config`; path-style addressing when a custom endpoint is configured.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(s3_config(config).build())
}

/// An S3 client for a process that relays objects' bytes to its own clients (the S3
/// endpoint): it does not ask S3 for a whole object's checksum and compute it again on
/// the way, which S3 never gives for the ranged reads most large downloads are; what
/// it relays is the object the catalog names, checked by its ETag (and version id).
pub fn s3_relay_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        s3_config(config)
            .response_checksum_validation(
                aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
            )
            .build(),
    )
}

fn s3_config(config: &SdkConfig) -> aws_sdk_s3::config::Builder {
    let path_style = config.endpoint_url().is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
        || std::env::var("AWS_S3_FORCE_PATH_STYLE").is_ok_and(|v| v == "true" || v == "1");
    aws_sdk_s3::config::Builder::from(config).force_path_style(path_style)
}

/// An object store over S3, configured from the environment.
pub async fn s3_store() -> crate::storage::ObjectStore {
    crate::storage::ObjectStore::S3(s3_client(&load_config().await))
}
