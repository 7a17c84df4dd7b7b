//! S3 Inventory manifests: `manifest.json`, its `manifest.checksum`, the data files'
//! format (`fileFormat`) and their columns (`fileSchema`, written in each format's own
//! notation).

use chrono::{DateTime, Utc};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use inventory_base::location::{S3Url, bucket_from_arn};
use inventory_base::storage::{ObjectStore, StorageError};

/// Columns the product cannot import without. `bucket` and `key` are always present
/// in an inventory; `size`, `last_modified_date` and `e_tag` must be selected as
/// additional fields when the inventory configuration is created.
pub const REQUIRED_COLUMNS: [&str; 5] = ["bucket", "key", "size", "last_modified_date", "e_tag"];

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest {url} does not exist")]
    Missing { url: S3Url },
    #[error("manifest {url} could not be read: {source}")]
    Unreadable {
        url: S3Url,
        #[source]
        source: StorageError,
    },
    #[error("manifest {url} is not a valid S3 Inventory manifest: {reason}")]
    Malformed { url: S3Url, reason: String },
    #[error(
        "manifest checksum {checksum_url} is malformed: expected 32 hexadecimal digits and a newline, found {found:?}"
    )]
    MalformedChecksum { checksum_url: S3Url, found: String },
    #[error(
        "manifest {url} does not match its checksum: manifest.checksum says {expected}, the manifest's MD5 is {actual}"
    )]
    ChecksumMismatch {
        url: S3Url,
        expected: String,
        actual: String,
    },
    #[error(
        "manifest {url} describes a {found:?} inventory; S3 Inventory writes CSV, ORC or Parquet, and only those are read"
    )]
    UnsupportedFormat { url: S3Url, found: String },
    #[error(
        "manifest {url}: fileSchema lacks required column(s) {}; the inventory configuration must include Size, Last modified and ETag",
        .missing.join(", ")
    )]
    MissingColumns { url: S3Url, missing: Vec<String> },
}

/// One data file listed in a manifest. `key` is in the destination bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub key: String,
    pub size: u64,
    #[serde(rename = "MD5checksum")]
    pub md5_checksum: String,
}

/// The fields of `manifest.json` exactly as S3 Inventory writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestDocument {
    pub source_bucket: String,
    pub destination_bucket: String,
    pub version: String,
    pub creation_timestamp: String,
    pub file_format: String,
    pub file_schema: String,
    pub files: Vec<ManifestFile>,
}

/// The format of a delivery's data files, from the manifest's `fileFormat`: an
/// inventory configuration's output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DataFormat {
    /// Apache Parquet files (`data/<uuid>.parquet`).
    Parquet,
    /// Apache ORC files (`data/<uuid>.orc`).
    Orc,
    /// Gzipped CSV files without a header line (`data/<uuid>.csv.gz`).
    Csv,
}

impl DataFormat {
    /// The format a `fileFormat` names (`Parquet`, `ORC`, `CSV`, in any case).
    pub fn from_file_format(text: &str) -> Option<DataFormat> {
        let text = text.trim();
        [DataFormat::Parquet, DataFormat::Orc, DataFormat::Csv]
            .into_iter()
            .find(|format| text.eq_ignore_ascii_case(format.name()))
    }

    /// The name S3 Inventory writes in `fileFormat`.
    pub fn name(self) -> &'static str {
        match self {
            DataFormat::Parquet => "Parquet",
            DataFormat::Orc => "ORC",
            DataFormat::Csv => "CSV",
        }
    }

    /// Parses a `fileSchema` written in this format's notation; see
    /// [`parse_file_schema`], [`parse_csv_schema`] and [`parse_orc_schema`].
    pub fn parse_schema(self, text: &str) -> Result<Vec<SchemaColumn>, String> {
        match self {
            DataFormat::Parquet => parse_file_schema(text),
            DataFormat::Orc => parse_orc_schema(text),
            DataFormat::Csv => parse_csv_schema(text),
        }
    }
}

impl std::fmt::Display for DataFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A parsed, validated manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub url: S3Url,
    pub source_bucket: String,
    /// The bucket the data files are in, from `destinationBucket`.
    pub destination_bucket: String,
    pub version: String,
    pub created_at: DateTime<Utc>,
    /// The data files' format, from `fileFormat`.
    pub format: DataFormat,
    /// The data files' columns in file order, from `fileSchema`, with the names the
    /// Parquet files use (`last_modified_date`, `e_tag`) whatever the format.
    pub schema: Vec<SchemaColumn>,
    pub files: Vec<ManifestFile>,
    /// Whether a `manifest.checksum` was found and matched.
    pub checksum_verified: bool,
}

/// A column of `fileSchema`. In Parquet's notation `optional int64 size;` gives name
/// `size`, type `int64`; in ORC's, `size:bigint` gives name `size`, type `bigint`; a
/// CSV schema names its fields only (`Size` gives name `size`, type `string`, the text
/// every CSV field is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaColumn {
    pub name: String,
    pub physical_type: String,
    /// Whether the column never holds nulls (Parquet's `required`; ORC and CSV do not
    /// say, and read as optional).
    pub required: bool,
    pub annotation: Option<String>,
}

impl Manifest {
    /// Reads `url` and its sibling `manifest.checksum` (verified when present), then
    /// parses and validates the manifest.
    pub async fn load(store: &ObjectStore, url: &S3Url) -> Result<Manifest, ManifestError> {
        let body = store.get(url).await.map_err(|source| match source {
            StorageError::NotFound { .. } => ManifestError::Missing { url: url.clone() },
            source => ManifestError::Unreadable {
                url: url.clone(),
                source,
            },
        })?;
        let checksum_url = url.sibling("manifest.checksum");
        let checksum_verified = match store.get(&checksum_url).await {
            Ok(checksum) => {
                verify_checksum(url, &checksum_url, &body, &checksum)?;
                true
            }
            Err(StorageError::NotFound { .. }) => false,
            Err(source) => {
                return Err(ManifestError::Unreadable {
                    url: checksum_url,
                    source,
                });
            }
        };
        let mut manifest = Manifest::parse(url, &body)?;
        manifest.checksum_verified = checksum_verified;
        Ok(manifest)
    }

    /// Parses and validates the bytes of a `manifest.json` read from `url`.
    pub fn parse(url: &S3Url, body: &[u8]) -> Result<Manifest, ManifestError> {
        let malformed = |reason: String| ManifestError::Malformed {
            url: url.clone(),
            reason,
        };
        let doc: ManifestDocument =
            serde_json::from_slice(body).map_err(|err| malformed(err.to_string()))?;
        let format = DataFormat::from_file_format(&doc.file_format).ok_or_else(|| {
            ManifestError::UnsupportedFormat {
                url: url.clone(),
                found: doc.file_format.clone(),
            }
        })?;
        let destination_bucket = bucket_from_arn(&doc.destination_bucket)
            .map_err(|err| malformed(format!("destinationBucket: {err}")))?;
        let created_at = doc
            .creation_timestamp
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .ok_or_else(|| {
                malformed(format!(
                    "creationTimestamp {:?} is not a time in epoch milliseconds",
                    doc.creation_timestamp
                ))
            })?;
        if doc.source_bucket.is_empty() {
            return Err(malformed("sourceBucket is empty".to_string()));
        }
        for file in &doc.files {
            if file.key.is_empty() {
                return Err(malformed("a file in files[] has an empty key".to_string()));
            }
            if !is_md5_hex(&file.md5_checksum) {
                return Err(malformed(format!(
                    "file {} has MD5checksum {:?}, which is not 32 hexadecimal digits",
                    file.key, file.md5_checksum
                )));
            }
        }
        let schema = format
            .parse_schema(&doc.file_schema)
            .map_err(|reason| malformed(format!("fileSchema: {reason}")))?;
        let missing = missing_columns(schema.iter().map(|c| c.name.as_str()));
        if !missing.is_empty() {
            return Err(ManifestError::MissingColumns {
                url: url.clone(),
                missing,
            });
        }
        Ok(Manifest {
            url: url.clone(),
            source_bucket: doc.source_bucket,
            destination_bucket,
            version: doc.version,
            created_at,
            format,
            schema,
            files: doc.files,
            checksum_verified: false,
        })
    }

    /// Where a listed data file is: its key in the destination bucket.
    pub fn file_url(&self, file: &ManifestFile) -> S3Url {
        S3Url::new(&self.destination_bucket, &file.key)
    }

    /// Total bytes of all data files.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Whether `fileSchema` lists a column.
    pub fn has_column(&self, name: &str) -> bool {
        self.schema.iter().any(|c| c.name == name)
    }
}

/// The MD5 of a manifest as `manifest.checksum` writes it: 32 lowercase hex digits.
pub fn manifest_md5_hex(body: &[u8]) -> String {
    hex::encode(Md5::digest(body))
}

fn is_md5_hex(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks `manifest.checksum` (32 hex digits and a newline) against the manifest's bytes.
pub fn verify_checksum(
    url: &S3Url,
    checksum_url: &S3Url,
    manifest: &[u8],
    checksum: &[u8],
) -> Result<(), ManifestError> {
    let text = String::from_utf8_lossy(checksum);
    let expected = text.trim_end_matches(['\n', '\r']);
    if !is_md5_hex(expected) {
        return Err(ManifestError::MalformedChecksum {
            checksum_url: checksum_url.clone(),
            found: text.chars().take(80).collect(),
        });
    }
    let actual = manifest_md5_hex(manifest);
    if !expected.eq_ignore_ascii_case(&actual) {
        return Err(ManifestError::ChecksumMismatch {
            url: url.clone(),
            expected: expected.to_ascii_lowercase(),
            actual,
        });
    }
    Ok(())
}

/// The required columns absent from `columns`, in the order of [`REQUIRED_COLUMNS`].
pub fn missing_columns<'a>(columns: impl IntoIterator<Item = &'a str> + Clone) -> Vec<String> {
    REQUIRED_COLUMNS
        .iter()
        .filter(|required| !columns.clone().into_iter().any(|c| c == **required))
        .map(|c| c.to_string())
        .collect()
}

/// Parses the `fileSchema` of a Parquet inventory.
///
/// Deliveries write parquet-mr's schema string with the newlines removed
/// (`message s3.inventory {  required binary key (STRING);  …}`); AWS's documentation
/// shows `(UTF8)` and `(TIMESTAMP_MILLIS)`. Both parse; whitespace is free, and the
/// `message … { }` wrapper is optional. Column names are lower-cased.
pub fn parse_file_schema(text: &str) -> Result<Vec<SchemaColumn>, String> {
    let mut body = text.trim();
    if let Some(open) = body.find('{') {
        let close = body
            .rfind('}')
            .filter(|close| *close > open)
            .ok_or("a '{' is never closed")?;
        body = &body[open + 1..close];
    }
    let mut columns = Vec::new();
    for field in body.split(';') {
        let field = field.trim();
        if field.is_empty() {
            continue;
        }
        let (declaration, annotation) = match field.find('(') {
            Some(open) => {
                let close = field
                    .rfind(')')
                    .filter(|close| *close > open)
                    .ok_or_else(|| format!("unbalanced parentheses in {field:?}"))?;
                (
                    field[..open].trim(),
                    Some(field[open + 1..close].trim().to_string()),
                )
            }
            None => (field, None),
        };
        let words: Vec<&str> = declaration.split_whitespace().collect();
        let (repetition, physical_type, name) = match words.as_slice() {
            [repetition, physical_type, name] => (*repetition, *physical_type, *name),
            _ => {
                return Err(format!(
                    "cannot read field {field:?} (expected `<required|optional> <type> <name>`)"
                ));
            }
        };
        let required = match repetition.to_ascii_lowercase().as_str() {
            "required" => true,
            "optional" | "repeated" => false,
            other => return Err(format!("unknown repetition {other:?} in {field:?}")),
        };
        columns.push(SchemaColumn {
            name: name.to_ascii_lowercase(),
            physical_type: physical_type.to_ascii_lowercase(),
            required,
            annotation,
        });
    }
    if columns.is_empty() {
        return Err("it lists no columns".to_string());
    }
    Ok(columns)
}

/// Parses the `fileSchema` of a CSV inventory: the names of its fields in file order,
/// separated by commas, as S3 Inventory writes them (`Bucket, Key, VersionId, IsLatest,
/// IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass, …`).
///
/// Names are given the Parquet files' spelling (`VersionId` is `version_id`, `ETag` is
/// `e_tag`), so that every format's columns are named one way; names already spelled
/// so are kept. Every column has type `string`: CSV says nothing more.
pub fn parse_csv_schema(text: &str) -> Result<Vec<SchemaColumn>, String> {
    if text.trim().is_empty() {
        return Err("it lists no columns".to_string());
    }
    text.split(',')
        .map(|field| {
            let field = field.trim();
            let name_like =
                !field.is_empty() && field.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !name_like {
                return Err(format!(
                    "cannot read field {field:?} (expected comma-separated field names such as `Bucket, Key, Size`)"
                ));
            }
            Ok(SchemaColumn {
                name: snake_case(field),
                physical_type: "string".to_string(),
                required: false,
                annotation: None,
            })
        })
        .collect()
}

/// `LastModifiedDate` → `last_modified_date`, `ETag` → `e_tag`: a word starts at an
/// upper-case letter after a lower-case letter or digit, or at the last capital of a
/// run followed by a lower-case letter.
fn snake_case(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(name.len() + 4);
    let mut previous: Option<u8> = None;
    for (at, &byte) in bytes.iter().enumerate() {
        if byte.is_ascii_uppercase()
            && let Some(previous) = previous
        {
            let next_lower = bytes.get(at + 1).is_some_and(u8::is_ascii_lowercase);
            if previous.is_ascii_lowercase()
                || previous.is_ascii_digit()
                || (previous.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(char::from(byte.to_ascii_lowercase()));
        previous = Some(byte);
    }
    out
}

/// Parses the `fileSchema` of an ORC inventory: the files' type description,
/// `struct<bucket:string,key:string,…,size:bigint,last_modified_date:timestamp,…>`.
/// Names and types are lower-cased; a type's own parameters (`decimal(10,2)`,
/// `struct<…>`) are kept whole.
pub fn parse_orc_schema(text: &str) -> Result<Vec<SchemaColumn>, String> {
    let text = text.trim();
    let body = text
        .get(..7)
        .filter(|start| start.eq_ignore_ascii_case("struct<"))
        .and_then(|_| text.get(7..))
        .and_then(|rest| rest.strip_suffix('>'))
        .ok_or("expected a type description `struct<name:type,…>`")?;
    let mut fields = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (at, c) in body.char_indices() {
        match c {
            '<' | '(' => depth += 1,
            '>' | ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced {c:?} in {body:?}"))?;
            }
            ',' if depth == 0 => {
                fields.push(body.get(start..at).unwrap_or_default());
                start = at + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("a '<' or '(' is never closed in {body:?}"));
    }
    fields.push(body.get(start..).unwrap_or_default());
    if fields.iter().all(|field| field.trim().is_empty()) {
        return Err("it lists no columns".to_string());
    }
    fields
        .into_iter()
        .map(|field| {
            let (name, physical_type) = field
                .split_once(':')
                .map(|(name, t)| (name.trim().trim_matches('`'), t.trim()))
                .filter(|(name, t)| !name.is_empty() && !t.is_empty())
                .ok_or_else(|| {
                    format!(
                        "cannot read field {:?} (expected `name:type`)",
                        field.trim()
                    )
                })?;
            Ok(SchemaColumn {
                name: name.to_ascii_lowercase(),
                physical_type: physical_type.to_ascii_lowercase(),
                required: false,
                annotation: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL_SCHEMA: &str = "message s3.inventory {  required binary bucket (STRING);  required binary key (STRING);  optional binary version_id (STRING);  optional boolean is_latest;  optional boolean is_delete_marker;  optional int64 size;  optional int64 last_modified_date (TIMESTAMP(MILLIS,true));  optional binary e_tag (STRING);  optional binary storage_class (STRING);}";
    const DOCS_SCHEMA: &str = "message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); optional binary version_id (UTF8); optional boolean is_latest; optional boolean is_delete_marker; optional int64 size; optional int64 last_modified_date (TIMESTAMP_MILLIS); optional binary e_tag (UTF8); optional binary storage_class (UTF8); optional boolean is_multipart_uploaded; }";

    fn url() -> S3Url {
        "s3://dest/inv/src/daily/2024-05-07T01-00Z/manifest.json"
            .parse()
            .unwrap()
    }

    fn manifest_json(format: &str, schema: &str) -> String {
        serde_json::json!({
            "sourceBucket": "src",
            "destinationBucket": "arn:aws:s3:::dest",
            "version": "2016-11-30",
            "creationTimestamp": "1715043600000",
            "fileFormat": format,
            "fileSchema": schema,
            "files": [{"key": "inv/src/daily/data/a.parquet", "size": 10, "MD5checksum": "56c8b644debd99c8b47c1dc042a7959b"}]
        })
        .to_string()
    }

    #[test]
    fn parses_both_schema_notations() {
        for schema in [REAL_SCHEMA, DOCS_SCHEMA] {
            let columns = parse_file_schema(schema).unwrap();
            let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(
                &names[..9],
                &[
                    "bucket",
                    "key",
                    "version_id",
                    "is_latest",
                    "is_delete_marker",
                    "size",
                    "last_modified_date",
                    "e_tag",
                    "storage_class"
                ]
            );
            assert!(columns[1].required);
            assert!(!columns[5].required);
            assert_eq!(columns[5].physical_type, "int64");
        }
        let real = parse_file_schema(REAL_SCHEMA).unwrap();
        assert_eq!(
            real[6].annotation.as_deref(),
            Some("TIMESTAMP(MILLIS,true)")
        );
        let docs = parse_file_schema(DOCS_SCHEMA).unwrap();
        assert_eq!(docs[6].annotation.as_deref(), Some("TIMESTAMP_MILLIS"));
    }

    #[test]
    fn parses_a_full_manifest() {
        let m = Manifest::parse(&url(), manifest_json("Parquet", REAL_SCHEMA).as_bytes()).unwrap();
        assert_eq!(m.source_bucket, "src");
        assert_eq!(m.destination_bucket, "dest");
        assert_eq!(m.version, "2016-11-30");
        assert_eq!(m.created_at.to_rfc3339(), "2024-05-07T01:00:00+00:00");
        assert_eq!(m.files.len(), 1);
        assert_eq!(m.total_bytes(), 10);
        assert_eq!(
            m.file_url(&m.files[0]).to_string(),
            "s3://dest/inv/src/daily/data/a.parquet"
        );
    }

    #[test]
    fn rejects_formats_s3_inventory_does_not_write_by_name() {
        let err =
            Manifest::parse(&url(), manifest_json("JSON", "bucket, key").as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "manifest s3://dest/inv/src/daily/2024-05-07T01-00Z/manifest.json describes a \"JSON\" inventory; S3 Inventory writes CSV, ORC or Parquet, and only those are read"
        );
    }

    #[test]
    fn reads_the_format_in_any_case() {
        for (written, format) in [
            ("Parquet", DataFormat::Parquet),
            ("PARQUET", DataFormat::Parquet),
            ("CSV", DataFormat::Csv),
            ("csv", DataFormat::Csv),
            ("ORC", DataFormat::Orc),
            ("Orc", DataFormat::Orc),
        ] {
            assert_eq!(DataFormat::from_file_format(written), Some(format));
        }
        assert_eq!(DataFormat::from_file_format("Avro"), None);
        let m = Manifest::parse(&url(), manifest_json("parquet", REAL_SCHEMA).as_bytes()).unwrap();
        assert_eq!(m.format, DataFormat::Parquet);
    }

    fn fixture(name: &str) -> Vec<u8> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/aws-inventory");
        std::fs::read(dir.join(name)).unwrap()
    }

    #[test]
    fn parses_the_csv_and_orc_manifests_aws_wrote() {
        let expected_names = [
            "bucket",
            "key",
            "version_id",
            "is_latest",
            "is_delete_marker",
            "size",
            "last_modified_date",
            "e_tag",
            "storage_class",
            "is_multipart_uploaded",
            "replication_status",
            "encryption_status",
            "object_lock_retain_until_date",
            "object_lock_mode",
            "object_lock_legal_hold_status",
            "intelligent_tiering_access_tier",
            "bucket_key_status",
            "checksum_algorithm",
        ];
        for (name, format) in [
            ("csv_inventory_manifest.json", DataFormat::Csv),
            ("orc_inventory_manifest.json", DataFormat::Orc),
        ] {
            let m = Manifest::parse(&url(), &fixture(name)).unwrap();
            assert_eq!(m.format, format);
            let names: Vec<&str> = m.schema.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names, expected_names, "{name}");
        }
        let orc = Manifest::parse(&url(), &fixture("orc_inventory_manifest.json")).unwrap();
        let types: Vec<(&str, &str)> = orc
            .schema
            .iter()
            .map(|c| (c.name.as_str(), c.physical_type.as_str()))
            .collect();
        assert_eq!(
            types[5..7],
            [("size", "bigint"), ("last_modified_date", "timestamp")]
        );
        let csv =
            Manifest::parse(&url(), &fixture("csv_inventory_no_version_manifest.json")).unwrap();
        assert!(!csv.has_column("version_id") && !csv.has_column("is_latest"));
        assert!(csv.has_column("e_tag") && csv.has_column("last_modified_date"));
    }

    #[test]
    fn csv_field_names_take_the_parquet_spelling() {
        let columns = parse_csv_schema(
            "Bucket,Key ,  ObjectAccessControlList, ObjectOwner, LifecycleExpirationDate, e_tag, SIZE",
        )
        .unwrap();
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "bucket",
                "key",
                "object_access_control_list",
                "object_owner",
                "lifecycle_expiration_date",
                "e_tag",
                "size"
            ]
        );
        assert!(
            columns
                .iter()
                .all(|c| c.physical_type == "string" && !c.required)
        );
        for bad in [
            "",
            "Bucket,,Key",
            "message s3.inventory { required binary key; }",
        ] {
            assert!(parse_csv_schema(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn orc_types_keep_their_parameters() {
        let columns = parse_orc_schema(
            "struct<Key:string,n:decimal(10,2),m:map<string,struct<a:int,b:int>>>",
        )
        .unwrap();
        let parsed: Vec<(&str, &str)> = columns
            .iter()
            .map(|c| (c.name.as_str(), c.physical_type.as_str()))
            .collect();
        assert_eq!(
            parsed,
            [
                ("key", "string"),
                ("n", "decimal(10,2)"),
                ("m", "map<string,struct<a:int,b:int>>")
            ]
        );
        for bad in [
            "bucket:string",
            "struct<>",
            "struct<a:string,b>",
            "struct<a:map<string,int>",
        ] {
            assert!(parse_orc_schema(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_csv_schema_lacking_required_columns_is_refused() {
        let err = Manifest::parse(
            &url(),
            manifest_json("CSV", "Bucket, Key, Size, ETag").as_bytes(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "manifest s3://dest/inv/src/daily/2024-05-07T01-00Z/manifest.json: fileSchema lacks required column(s) last_modified_date; the inventory configuration must include Size, Last modified and ETag"
        );
        let err =
            Manifest::parse(&url(), manifest_json("CSV", REAL_SCHEMA).as_bytes()).unwrap_err();
        assert!(
            err.to_string()
                .contains("is not a valid S3 Inventory manifest: fileSchema: cannot read field"),
            "{err}"
        );
    }

    #[test]
    fn lists_every_missing_column() {
        let schema = "message s3.inventory {  required binary bucket (STRING);  required binary key (STRING);  optional int64 size;}";
        let err = Manifest::parse(&url(), manifest_json("Parquet", schema).as_bytes()).unwrap_err();
        assert!(
            matches!(&err, ManifestError::MissingColumns { missing, .. } if missing == &["last_modified_date", "e_tag"])
        );
        assert!(
            err.to_string()
                .contains("lacks required column(s) last_modified_date, e_tag")
        );
    }

    #[test]
    fn rejects_malformed_manifests() {
        let err = Manifest::parse(&url(), b"{not json").unwrap_err();
        assert!(err.to_string().starts_with(
            "manifest s3://dest/inv/src/daily/2024-05-07T01-00Z/manifest.json is not a valid S3 Inventory manifest:"
        ));
        let bad_time = manifest_json("Parquet", REAL_SCHEMA).replace("1715043600000", "yesterday");
        let err = Manifest::parse(&url(), bad_time.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("creationTimestamp \"yesterday\""));
    }

    #[test]
    fn verifies_checksums() {
        let body = b"{}";
        let sum = format!("{}\n", manifest_md5_hex(body));
        let checksum_url = url().sibling("manifest.checksum");
        verify_checksum(&url(), &checksum_url, body, sum.as_bytes()).unwrap();
        let err = verify_checksum(&url(), &checksum_url, b"{ }", sum.as_bytes()).unwrap_err();
        assert!(matches!(err, ManifestError::ChecksumMismatch { .. }));
        let err = verify_checksum(&url(), &checksum_url, body, b"hello\n").unwrap_err();
        assert!(matches!(err, ManifestError::MalformedChecksum { .. }));
    }
}
