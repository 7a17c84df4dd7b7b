//! The AWS resources the product uses, named the same in the SAM template and on the
//! local stack; each name can be overridden by an environment variable.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceNames {
    pub catalog_table: String,
    pub jobs_table: String,
    pub staging_table: String,
    pub manifest_queue: String,
    pub shard_queue: String,
    pub commit_queue: String,
}

impl Default for ResourceNames {
    fn default() -> Self {
        Self {
            catalog_table: inventory_catalog::catalog::DEFAULT_TABLE.into(),
            jobs_table: "inventory-import-jobs".into(),
            staging_table: "inventory-import-staging".into(),
            manifest_queue: "inventory-import-manifest-events".into(),
            shard_queue: "inventory-import-shard-tasks".into(),
            commit_queue: "inventory-import-commit-tasks".into(),
        }
    }
}

impl ResourceNames {
    /// Defaults, overridden by `CATALOG_TABLE`, `JOBS_TABLE`, `STAGING_TABLE`,
    /// `MANIFEST_QUEUE`, `SHARD_QUEUE` and `COMMIT_QUEUE`.
    pub fn from_env() -> Self {
        let defaults = Self::default();
        let var = |name: &str, default: String| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or(default)
        };
        Self {
            catalog_table: var("CATALOG_TABLE", defaults.catalog_table),
            jobs_table: var("JOBS_TABLE", defaults.jobs_table),
            staging_table: var("STAGING_TABLE", defaults.staging_table),
            manifest_queue: var("MANIFEST_QUEUE", defaults.manifest_queue),
            shard_queue: var("SHARD_QUEUE", defaults.shard_queue),
            commit_queue: var("COMMIT_QUEUE", defaults.commit_queue),
        }
    }
}

/// The ids of the notifications [`provision`] sets on the inventory bucket start so.
const NOTIFICATION_PREFIX: &str = "inventory-import-";

/// What [`provision`] created or found.
#[derive(Debug, Clone, Serialize)]
pub struct Provisioned {
    pub names: ResourceNames,
    pub queues: Vec<crate::queues::Queue>,
    /// The inventory bucket whose deliveries notify the manifest-events queue.
    pub notifying_bucket: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Dynamo(#[from] inventory_base::dynamo::DynamoError),
    #[error(transparent)]
    Queue(#[from] crate::queues::QueueError),
    #[error("bucket {bucket}: {message}")]
    Notification { bucket: String, message: String },
}

/// Creates, idempotently, what the SAM template creates in AWS: the tables, the three
/// queues with their dead-letter queues, and (given an inventory bucket) the bucket's
/// notification of `manifest.json` and `manifest.checksum` to the manifest-events queue,
/// beside the bucket's other notifications.
pub async fn provision(
    config: &aws_config::SdkConfig,
    names: &ResourceNames,
    inventory_bucket: Option<&str>,
) -> Result<Provisioned, ProvisionError> {
    let dynamo = aws_sdk_dynamodb::Client::new(config);
    inventory_base::dynamo::ensure_table(&dynamo, &names.catalog_table, None).await?;
    inventory_base::dynamo::ensure_table(&dynamo, &names.jobs_table, None).await?;
    inventory_base::dynamo::ensure_table(&dynamo, &names.staging_table, Some("expires_at")).await?;
    let queues = crate::queues::Queues::new(aws_sdk_sqs::Client::new(config));
    // Visibility timeouts longer than the functions' timeouts (60 s and 15 min).
    let manifest = queues.ensure(&names.manifest_queue, 120).await?;
    let shard = queues.ensure(&names.shard_queue, 960).await?;
    let commit = queues.ensure(&names.commit_queue, 960).await?;
    if let Some(bucket) = inventory_bucket {
        use aws_sdk_s3::types::{
            Event, FilterRule, FilterRuleName, NotificationConfiguration,
            NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
        };
        let notify = |suffix: &str| {
            let filter = NotificationConfigurationFilter::builder()
                .key(
                    S3KeyFilter::builder()
                        .filter_rules(
                            FilterRule::builder()
                                .name(FilterRuleName::Suffix)
                                .value(suffix)
                                .build(),
                        )
                        .build(),
                )
                .build();
            QueueConfiguration::builder()
                .id(format!("{NOTIFICATION_PREFIX}{suffix}"))
                .queue_arn(&manifest.arn)
                .events(Event::S3ObjectCreated)
                .filter(filter)
                .build()
        };
        let error = |err: &dyn std::error::Error| ProvisionError::Notification {
            bucket: bucket.to_string(),
            message: aws_sdk_s3::error::DisplayErrorContext(err).to_string(),
        };
        // The bucket's other notifications stay as they are; ours replace their
        // earlier selves.
        let s3 = inventory_base::aws::s3_client(config);
        let existing = match s3
            .get_bucket_notification_configuration()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(existing) => existing,
            // moto answers for a bucket without notifications with an empty document
            // whose root the SDK does not parse (HTTP 200): there is nothing to keep.
            Err(err)
                if err
                    .raw_response()
                    .is_some_and(|r| r.status().as_u16() == 200) =>
            {
                aws_sdk_s3::operation::get_bucket_notification_configuration::GetBucketNotificationConfigurationOutput::builder().build()
            }
            Err(err) => return Err(error(&err)),
        };
        let ours = |id: Option<&str>| id.is_some_and(|id| id.starts_with(NOTIFICATION_PREFIX));
        let kept_queues = existing
            .queue_configurations()
            .iter()
            .filter(|q| !ours(q.id()))
            .cloned();
        let configuration = NotificationConfiguration::builder()
            .set_topic_configurations(existing.topic_configurations.clone())
            .set_lambda_function_configurations(existing.lambda_function_configurations.clone())
            .set_event_bridge_configuration(existing.event_bridge_configuration.clone())
            .set_queue_configurations(Some(kept_queues.collect()))
            .queue_configurations(notify("manifest.json").map_err(|e| error(&e))?)
            .queue_configurations(notify("manifest.checksum").map_err(|e| error(&e))?)
            .build();
        s3.put_bucket_notification_configuration()
            .bucket(bucket)
            .notification_configuration(configuration)
            .send()
            .await
            .map_err(|e| error(&e))?;
    }
    Ok(Provisioned {
        names: names.clone(),
        queues: vec![manifest, shard, commit],
        notifying_bucket: inventory_bucket.map(str::to_string),
    })
}
