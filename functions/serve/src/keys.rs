//! Access keys the product issues: clients sign S3 requests (SigV4, in headers or in a
//! presigned URL) with a key id and its secret, and the JSON API and the UI take the
//! same keys.
//!
//! A key is one item of the catalog table (`pk = "access-key"`, `sk = <key id>`). Its
//! secret is shown once, when the key is created, and stored only sealed: encrypted
//! with AES-256-GCM under a key from configuration ([`SEALING_KEY`]), or by AWS KMS
//! ([`SEALING_KMS_KEY`]). Checking a signature needs the secret, so unsealed secrets
//! are kept in memory for a short while ([`CACHE_SECONDS`]), which also bounds how long
//! a deleted key keeps working.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Nonce};
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};
use serde::Serialize;

/// The environment variable holding the sealing key: 32 bytes, base64-encoded
/// (`openssl rand -base64 32`).
pub const SEALING_KEY: &str = "SECRETS_SEALING_KEY";

/// The environment variable naming a KMS key (id, ARN or alias) that seals secrets
/// instead.
pub const SEALING_KMS_KEY: &str = "SECRETS_KMS_KEY_ID";

/// How long an unsealed secret is kept in memory.
pub const CACHE_SECONDS: u64 = 10;

const PARTITION: &str = "access-key";

/// What can go wrong with access keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "no key seals secrets: set {SEALING_KEY} (32 bytes, base64: `openssl rand -base64 32`) \
         or {SEALING_KMS_KEY} (a KMS key id or ARN)"
    )]
    NoSealingKey,
    #[error("{SEALING_KEY} is not 32 bytes in base64: {0}")]
    BadSealingKey(String),
    #[error("access key {0} does not exist")]
    NotFound(String),
    #[error("the secret of access key {0} cannot be unsealed with the configured key: {1}")]
    Unseal(String, String),
    #[error("sealing a secret: {0}")]
    Seal(String),
    #[error("catalog table {table}: {message}")]
    Table { table: String, message: String },
}

/// An access key as listed: never its secret.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AccessKey {
    pub access_key_id: String,
    pub created_at: String,
    pub description: String,
}

/// A key just created, with its secret: the only time the secret is shown.
#[derive(Clone, Serialize)]
pub struct NewKey {
    #[serde(flatten)]
    pub key: AccessKey,
    pub secret_access_key: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// How secrets are sealed.
#[derive(Clone)]
pub enum Sealer {
    /// AES-256-GCM under a key from configuration; a sealed secret is
    /// `base64(nonce ‖ ciphertext)`.
    Key(Arc<Aes256Gcm>),
    /// AWS KMS encrypts and decrypts.
    Kms {
        client: aws_sdk_kms::Client,
        key_id: String,
    },
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sealer::Key(_) => f.write_str("Sealer::Key"),
            Sealer::Kms { key_id, .. } => write!(f, "Sealer::Kms({key_id})"),
        }
    }
}

impl Sealer {
    /// The sealer configuration names: [`SEALING_KMS_KEY`] first, then [`SEALING_KEY`].
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Sealer, KeyError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(key_id) = var(SEALING_KMS_KEY) {
            return Ok(Sealer::Kms {
                client: aws_sdk_kms::Client::new(config),
                key_id,
            });
        }
        let key = var(SEALING_KEY).ok_or(KeyError::NoSealingKey)?;
        Sealer::from_base64(&key)
    }

    /// A sealer with a 32-byte key in base64.
    pub fn from_base64(key: &str) -> Result<Sealer, KeyError> {
        let bytes = BASE64
            .decode(key.trim())
            .map_err(|err| KeyError::BadSealingKey(err.to_string()))?;
        let cipher = Aes256Gcm::new_from_slice(&bytes)
            .map_err(|_| KeyError::BadSealingKey(format!("it decodes to {} bytes", bytes.len())))?;
        Ok(Sealer::Key(Arc::new(cipher)))
    }

    async fn seal(&self, secret: &str) -> Result<String, KeyError> {
        match self {
            Sealer::Key(cipher) => {
                let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
                let sealed = cipher
                    .encrypt(&nonce, secret.as_bytes())
                    .map_err(|err| KeyError::Seal(err.to_string()))?;
                let mut bytes = nonce.to_vec();
                bytes.extend_from_slice(&sealed);
                Ok(BASE64.encode(bytes))
            }
            Sealer::Kms { client, key_id } => {
                let output = client
                    .encrypt()
                    .key_id(key_id)
                    .plaintext(aws_sdk_kms::primitives::Blob::new(secret.as_bytes()))
                    .send()
                    .await
                    .map_err(|err| {
                        KeyError::Seal(format!(
                            "KMS key {key_id}: {}",
                            aws_sdk_kms::error::DisplayErrorContext(err)
                        ))
                    })?;
                let blob = output
                    .ciphertext_blob()
                    .ok_or_else(|| KeyError::Seal(format!("KMS key {key_id}: no ciphertext")))?;
                Ok(BASE64.encode(blob.as_ref()))
            }
        }
    }

    async fn unseal(&self, key_id: &str, sealed: &str) -> Result<String, KeyError> {
        let fail = |reason: String| KeyError::Unseal(key_id.to_string(), reason);
        let bytes = BASE64
            .decode(sealed)
            .map_err(|err| fail(format!("the sealed secret is not base64: {err}")))?;
        let plain = match self {
            Sealer::Key(cipher) => {
                const NONCE: usize = 12;
                if bytes.len() <= NONCE {
                    return Err(fail("the sealed secret is too short".to_string()));
                }
                let (nonce, sealed) = bytes.split_at(NONCE);
                cipher
                    .decrypt(Nonce::from_slice(nonce), sealed)
                    .map_err(|_| fail("it was sealed with another key".to_string()))?
            }
            Sealer::Kms { client, .. } => {
                let output = client
                    .decrypt()
                    .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(bytes))
                    .send()
                    .await
                    .map_err(|err| {
                        fail(format!(
                            "KMS: {}",
                            aws_sdk_kms::error::DisplayErrorContext(err)
                        ))
                    })?;
                output
                    .plaintext()
                    .map(|blob| blob.as_ref().to_vec())
                    .ok_or_else(|| fail("KMS returned no plaintext".to_string()))?
            }
        };
        String::from_utf8(plain).map_err(|_| fail("the secret is not text".to_string()))
    }
}

/// The issued access keys, in the catalog table.
#[derive(Clone)]
pub struct Keys {
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    sealer: Sealer,
    cache: Arc<Mutex<HashMap<String, (String, Instant)>>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("table", &self.table)
            .field("sealer", &self.sealer)
            .finish_non_exhaustive()
    }
}

/// `len` characters drawn from `alphabet` by the operating system's random source.
fn random_text(alphabet: &[u8], len: usize) -> String {
    let mut bytes = vec![0u8; len];
    OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| {
            let index = usize::from(*b) % alphabet.len();
            char::from(alphabet.get(index).copied().unwrap_or(b'A'))
        })
        .collect()
}

impl Keys {
    pub fn new(dynamo: aws_sdk_dynamodb::Client, table: &str, sealer: Sealer) -> Keys {
        Keys {
            dynamo,
            table: table.to_string(),
            sealer,
            cache: Arc::default(),
        }
    }

    fn table_error(&self, err: impl std::fmt::Display) -> KeyError {
        KeyError::Table {
            table: self.table.clone(),
            message: err.to_string(),
        }
    }

    /// Issues a new key; its secret is in the answer and nowhere else in clear.
    pub async fn create(&self, description: &str) -> Result<NewKey, KeyError> {
        const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let access_key_id = format!("AKII{}", random_text(UPPER, 16));
        let secret_access_key = random_text(SECRET, 40);
        let sealed = self.sealer.seal(&secret_access_key).await?;
        let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        self.dynamo
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(PARTITION.to_string()))
            .item("sk", AttributeValue::S(access_key_id.clone()))
            .item("sealed_secret", AttributeValue::S(sealed))
            .item("created_at", AttributeValue::S(created_at.clone()))
            .item("description", AttributeValue::S(description.to_string()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|err| self.table_error(aws_sdk_dynamodb::error::DisplayErrorContext(err)))?;
        Ok(NewKey {
            key: AccessKey {
                access_key_id,
                created_at,
                description: description.to_string(),
            },
            secret_access_key,
        })
    }

    /// Every key, by id; never a secret.
    pub async fn list(&self) -> Result<Vec<AccessKey>, KeyError> {
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .dynamo
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(PARTITION.to_string()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|err| {
                    self.table_error(aws_sdk_dynamodb::error::DisplayErrorContext(err))
                })?;
            for item in output.items() {
                let text = |name: &str| {
                    item.get(name)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_default()
                };
                keys.push(AccessKey {
                    access_key_id: text("sk"),
                    created_at: text("created_at"),
                    description: text("description"),
                });
            }
            start = output.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(keys);
            }
        }
    }

    /// Deletes a key: requests signed with it are refused from now on (by a server
    /// that read it already, within [`CACHE_SECONDS`]).
    pub async fn delete(&self, access_key_id: &str) -> Result<(), KeyError> {
        let result = self
            .dynamo
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(PARTITION.to_string()))
            .key("sk", AttributeValue::S(access_key_id.to_string()))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(access_key_id);
        }
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(KeyError::NotFound(access_key_id.to_string()))
            }
            Err(err) => Err(self.table_error(aws_sdk_dynamodb::error::DisplayErrorContext(err))),
        }
    }

    /// The secret of a key, unsealed; `None` for a key that does not exist.
    pub async fn secret(&self, access_key_id: &str) -> Result<Option<String>, KeyError> {
        // Issued ids are 20 letters and digits: anything else names no key.
        if access_key_id.is_empty()
            || access_key_id.len() > 128
            || !access_key_id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Ok(None);
        }
        let fresh = Duration::from_secs(CACHE_SECONDS);
        if let Ok(cache) = self.cache.lock()
            && let Some((secret, at)) = cache.get(access_key_id)
            && at.elapsed() < fresh
        {
            return Ok(Some(secret.clone()));
        }
        let output = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(PARTITION.to_string()))
            .key("sk", AttributeValue::S(access_key_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| self.table_error(aws_sdk_dynamodb::error::DisplayErrorContext(err)))?;
        let Some(sealed) = output
            .item()
            .and_then(|item| item.get("sealed_secret"))
            .and_then(|v| v.as_s().ok())
        else {
            return Ok(None);
        };
        let secret = self.sealer.unseal(access_key_id, sealed).await?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(access_key_id.to_string(), (secret.clone(), Instant::now()));
        }
        Ok(Some(secret))
    }
}

#[async_trait::async_trait]
impl S3Auth for Keys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.secret(access_key).await {
            Ok(Some(secret)) => Ok(SecretKey::from(secret)),
            Ok(None) => Err(s3_error!(
                InvalidAccessKeyId,
                "the access key {access_key} does not exist: keys are issued by \
                 `inventory-import credentials create`"
            )),
            Err(err) => {
                tracing::error!(error = %err, "looking up an access key");
                Err(s3_error!(InternalError, "the access key cannot be checked"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sealed_secret_opens_only_with_its_key() {
        let key = BASE64.encode([7u8; 32]);
        let sealer = Sealer::from_base64(&key).unwrap();
        let sealed = sealer.seal("the secret").await.unwrap();
        assert!(!sealed.contains("the secret"));
        assert_eq!(sealer.unseal("AKII1", &sealed).await.unwrap(), "the secret");
        let other = Sealer::from_base64(&BASE64.encode([8u8; 32])).unwrap();
        assert_eq!(
            other
                .unseal("AKII1", &sealed)
                .await
                .unwrap_err()
                .to_string(),
            "the secret of access key AKII1 cannot be unsealed with the configured key: \
             it was sealed with another key"
        );
    }

    #[test]
    fn a_sealing_key_must_be_32_bytes() {
        let err = Sealer::from_base64(&BASE64.encode([1u8; 16])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SECRETS_SEALING_KEY is not 32 bytes in base64: it decodes to 16 bytes"
        );
    }
}
