//! S3 event notifications about inventory deliveries, as they arrive through SQS.
//!
//! A delivery is complete when its `manifest.checksum` lands; its `manifest.json`
//! maps to the same delivery. Keys in notifications are URL-encoded (`+` is a space;
//! some emulators also encode `/`), so they are form-URL-decoded before use.

use serde::Deserialize;

use inventory_base::location::S3Url;

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("message is not an S3 event notification: {0}")]
    NotAnS3Event(String),
    #[error("object key {key:?} in an S3 event is not valid URL-encoded UTF-8")]
    BadKey { key: String },
}

/// Which file of a delivery a notification is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryEvent {
    /// `manifest.checksum` arrived: the delivery at `manifest` is complete.
    Complete { manifest: S3Url },
    /// `manifest.json` arrived; the checksum may not have yet.
    ManifestWritten { manifest: S3Url },
    /// Some other object, or an `s3:TestEvent`: nothing to do.
    Ignored { reason: String },
}

impl DeliveryEvent {
    /// The delivery's manifest, whichever of its files the event is about.
    pub fn manifest(&self) -> Option<&S3Url> {
        match self {
            DeliveryEvent::Complete { manifest } | DeliveryEvent::ManifestWritten { manifest } => {
                Some(manifest)
            }
            DeliveryEvent::Ignored { .. } => None,
        }
    }
}

#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "Records", default)]
    records: Vec<Record>,
    #[serde(rename = "Event")]
    event: Option<String>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "eventName", default)]
    event_name: String,
    s3: RecordS3,
}

#[derive(Deserialize)]
struct RecordS3 {
    bucket: RecordBucket,
    object: RecordObject,
}

#[derive(Deserialize)]
struct RecordBucket {
    name: String,
}

#[derive(Deserialize)]
struct RecordObject {
    key: String,
}

/// Decodes the body of an SQS message that carries an S3 notification.
pub fn parse_notification(body: &str) -> Result<Vec<DeliveryEvent>, EventError> {
    let notification: Notification =
        serde_json::from_str(body).map_err(|err| EventError::NotAnS3Event(err.to_string()))?;
    if let Some(event) = notification.event {
        return Ok(vec![DeliveryEvent::Ignored {
            reason: format!("{event} notification"),
        }]);
    }
    if notification.records.is_empty() {
        return Err(EventError::NotAnS3Event("it has no Records".to_string()));
    }
    notification
        .records
        .into_iter()
        .map(|record| {
            let key = decode_key(&record.s3.object.key)?;
            let url = S3Url::new(record.s3.bucket.name, key);
            Ok(classify(url, &record.event_name))
        })
        .collect()
}

/// Maps an object to the delivery it belongs to.
pub fn classify(url: S3Url, event_name: &str) -> DeliveryEvent {
    if !event_name.is_empty() && !event_name.starts_with("ObjectCreated:") {
        return DeliveryEvent::Ignored {
            reason: format!("{event_name} on {url}"),
        };
    }
    let name = url.key.rsplit('/').next().unwrap_or_default();
    match name {
        "manifest.checksum" => DeliveryEvent::Complete {
            manifest: url.sibling("manifest.json"),
        },
        "manifest.json" => DeliveryEvent::ManifestWritten { manifest: url },
        _ => DeliveryEvent::Ignored {
            reason: format!("{url} is not a manifest"),
        },
    }
}

/// Form-URL decoding of a notification key: `+` is a space, `%XX` a byte.
pub fn decode_key(key: &str) -> Result<String, EventError> {
    let spaced = key.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| EventError::BadKey {
            key: key.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str, event: &str) -> String {
        serde_json::json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": event,
            "s3": {"bucket": {"name": "dest"}, "object": {"key": key, "size": 33}}
        }]})
        .to_string()
    }

    #[test]
    fn checksum_and_manifest_map_to_one_delivery() {
        let checksum = parse_notification(&record(
            "inv/src/daily/2026-11-25T01-00Z/manifest.checksum",
            "ObjectCreated:Put",
        ))
        .unwrap();
        let manifest = parse_notification(&record(
            "inv%2Fsrc%2Fdaily%2F2026-11-25T01-00Z%2Fmanifest.json",
            "ObjectCreated:CompleteMultipartUpload",
        ))
        .unwrap();
        let url: S3Url = "s3://dest/inv/src/daily/2026-11-25T01-00Z/manifest.json"
            .parse()
            .unwrap();
        assert_eq!(
            checksum,
            vec![DeliveryEvent::Complete {
                manifest: url.clone()
            }]
        );
        assert_eq!(
            manifest,
            vec![DeliveryEvent::ManifestWritten {
                manifest: url.clone()
            }]
        );
        assert_eq!(checksum[0].manifest(), manifest[0].manifest());
    }

    #[test]
    fn decodes_keys_like_a_form() {
        assert_eq!(
            decode_key("my+inventories/a%2Bb/%E6%97%A5").unwrap(),
            "my inventories/a+b/日"
        );
        assert!(decode_key("%FF").is_err());
    }

    #[test]
    fn ignores_test_events_and_other_objects() {
        let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-25T01:00:00.000Z","Bucket":"dest"}"#;
        assert!(matches!(
            parse_notification(test_event).unwrap()[..],
            [DeliveryEvent::Ignored { .. }]
        ));
        let data = parse_notification(&record("inv/src/daily/data/x.parquet", "ObjectCreated:Put"))
            .unwrap();
        assert!(data[0].manifest().is_none());
        let removed =
            parse_notification(&record("inv/manifest.json", "ObjectRemoved:Delete")).unwrap();
        assert!(removed[0].manifest().is_none());
        assert!(parse_notification("not json").is_err());
    }
}
