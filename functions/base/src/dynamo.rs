//! DynamoDB helpers shared by the catalog, the job table and the staging table.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveSpecification,
};

/// A DynamoDB call that failed, with the table it was about.
#[derive(Debug, thiserror::Error)]
#[error("DynamoDB table {table}: {message}")]
pub struct DynamoError {
    pub table: String,
    pub message: String,
}

impl DynamoError {
    pub fn new(table: &str, err: impl std::error::Error) -> Self {
        Self {
            table: table.to_string(),
            message: DisplayErrorContext(err).to_string(),
        }
    }
}

/// Whether a conditional write failed because its condition did not hold.
pub fn is_condition_failed<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

/// Creates a table with string keys `pk` and `sk` (on-demand) when it does not exist,
/// and turns on TTL on `ttl_attribute`.
pub async fn ensure_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    ttl_attribute: Option<&str>,
) -> Result<(), DynamoError> {
    let error = |err| DynamoError::new(table, err);
    if client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .is_err()
    {
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let created = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute("pk").map_err(error)?)
            .attribute_definitions(attribute("sk").map_err(error)?)
            .key_schema(key("pk", KeyType::Hash).map_err(error)?)
            .key_schema(key("sk", KeyType::Range).map_err(error)?)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) => {}
            Err(err) => return Err(DynamoError::new(table, err)),
        }
    }
    if let Some(attribute) = ttl_attribute {
        let specification = TimeToLiveSpecification::builder()
            .attribute_name(attribute)
            .enabled(true)
            .build()
            .map_err(error)?;
        // Turning TTL on twice is an error on AWS; the table is usable either way.
        let _ = client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(specification)
            .send()
            .await;
    }
    Ok(())
}

/// Writes (puts or deletes) every request, 25 per BatchWriteItem, resending what
/// DynamoDB leaves unprocessed.
pub async fn batch_write(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    requests: Vec<aws_sdk_dynamodb::types::WriteRequest>,
) -> Result<(), DynamoError> {
    let mut requests = requests.into_iter().peekable();
    while requests.peek().is_some() {
        let chunk: Vec<_> = requests.by_ref().take(25).collect();
        let mut pending = std::collections::HashMap::from([(table.to_string(), chunk)]);
        while pending.values().any(|r| !r.is_empty()) {
            let output = client
                .batch_write_item()
                .set_request_items(Some(pending))
                .send()
                .await
                .map_err(|e| DynamoError::new(table, e))?;
            pending = output.unprocessed_items.unwrap_or_default();
        }
    }
    Ok(())
}

/// One item by its keys, read consistently.
pub async fn get_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
    sk: &str,
) -> Result<Option<HashMap<String, AttributeValue>>, DynamoError> {
    // DynamoDB refuses empty keys and keys over its limits: no item has one.
    if !is_storable_key(pk, PARTITION_KEY_BYTES) || !is_storable_key(sk, SORT_KEY_BYTES) {
        return Ok(None);
    }
    let output = client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| DynamoError::new(table, e))?;
    Ok(output.item)
}

/// DynamoDB's largest partition key, in bytes.
pub const PARTITION_KEY_BYTES: usize = 2048;

/// DynamoDB's largest sort key, in bytes.
pub const SORT_KEY_BYTES: usize = 1024;

/// Whether DynamoDB takes `key` as a key value of at most `limit` bytes.
pub fn is_storable_key(key: &str, limit: usize) -> bool {
    !key.is_empty() && key.len() <= limit
}

/// Every item of a partition, optionally only sort keys starting with `prefix`.
pub async fn query_all(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
    prefix: Option<&str>,
) -> Result<Vec<HashMap<String, AttributeValue>>, DynamoError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let mut query = client
            .query()
            .table_name(table)
            .consistent_read(true)
            .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
            .set_exclusive_start_key(start);
        query = match prefix {
            Some(prefix) => query
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.into())),
            None => query.key_condition_expression("pk = :pk"),
        };
        let output = query.send().await.map_err(|e| DynamoError::new(table, e))?;
        items.extend(output.items.unwrap_or_default());
        start = output.last_evaluated_key;
        if start.is_none() {
            return Ok(items);
        }
    }
}

/// An item's keys, `pk/sk`, to name it in errors.
pub fn item_key(item: &HashMap<String, AttributeValue>) -> String {
    let part = |name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => v.clone(),
        _ => "?".into(),
    };
    format!("{}/{}", part("pk"), part("sk"))
}
