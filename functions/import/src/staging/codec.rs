//! The staging codec: entries encoded column by column, decoded into batches without a
//! string per entry, and packed into compressed batches that fit in one item.

use std::sync::Arc;

use inventory_catalog::tree::{Address, EntryRef};
use inventory_delivery::reader::{InventoryEntry, Recency};

use crate::packed::PackedFields;
use crate::scope::Origin;

/// Largest compressed batch stored in one item.
pub const MAX_BATCH_BYTES: usize = 300_000;
/// Entries are encoded in chunks of about this many raw bytes before compression.
const RAW_CHUNK_BYTES: usize = 1_200_000;
/// A batch holds at most about this many raw bytes, however well it compresses: what
/// a merge holds decoded per run (two batches) is bounded by bytes, so that merging
/// [`MERGE_FAN_IN`](super::MERGE_FAN_IN) runs stays within a few hundred megabytes.
const MAX_BATCH_RAW_BYTES: usize = RAW_CHUNK_BYTES / 2;

/// The columns of an encoded batch, each a byte stream of its own: zstd then finds
/// the repetitions within a column (sizes near sizes, classes near classes) that a
/// row-by-row layout interleaves with random ETag bytes.
#[derive(Default)]
struct Columns {
    /// Per entry: bytes shared with the previous key, and the suffix's length.
    key_lengths: Vec<u8>,
    key_suffixes: Vec<u8>,
    version_ids: Vec<u8>,
    sizes: Vec<u8>,
    etags: Vec<u8>,
    modified: Vec<u8>,
    millis: Vec<u8>,
    storage_classes: Vec<u8>,
}

/// Encodes sorted entries column by column: keys share prefixes with the previous
/// key; hex ETags are stored as bytes.
pub fn encode_entries(entries: &[InventoryEntry]) -> Vec<u8> {
    let mut c = Columns::default();
    let mut previous: &[u8] = &[];
    let mut previous_seconds = 0i64;
    for e in entries {
        let key = e.key.as_bytes();
        let shared = key.iter().zip(previous).take_while(|(a, b)| a == b).count();
        put_varint(&mut c.key_lengths, shared as u64);
        put_varint(&mut c.key_lengths, (key.len() - shared) as u64);
        c.key_suffixes.extend_from_slice(&key[shared..]);
        previous = key;
        put_optional(&mut c.version_ids, e.version_id.as_deref());
        put_varint(&mut c.sizes, e.size);
        match hex_etag(&e.etag) {
            Some((digest, parts)) => {
                c.etags.push(if parts.is_some() { 2 } else { 1 });
                c.etags.extend_from_slice(&digest);
                if let Some(parts) = parts {
                    put_varint(&mut c.etags, parts);
                }
            }
            None => {
                c.etags.push(0);
                put_bytes(&mut c.etags, e.etag.as_bytes());
            }
        }
        // Seconds, as the change from the previous entry's, then milliseconds apart:
        // S3's times are whole seconds, and neighbouring keys were often written
        // together.
        let seconds = e.last_modified_ms.div_euclid(1000);
        put_varint(
            &mut c.modified,
            zigzag(seconds.wrapping_sub(previous_seconds)),
        );
        put_varint(&mut c.millis, e.last_modified_ms.rem_euclid(1000) as u64);
        previous_seconds = seconds;
        put_optional(&mut c.storage_classes, e.storage_class.as_deref());
    }
    let columns = [
        &c.key_lengths,
        &c.key_suffixes,
        &c.version_ids,
        &c.sizes,
        &c.etags,
        &c.modified,
        &c.millis,
        &c.storage_classes,
    ];
    let mut out = Vec::with_capacity(16 + columns.iter().map(|c| c.len()).sum::<usize>());
    put_varint(&mut out, entries.len() as u64);
    for column in columns {
        put_bytes(&mut out, column);
    }
    out
}

/// One staged batch, decoded: each entry's key, ETag and version id lie back to back
/// in one text, the rest in fixed-size rows, so that no string is made per entry.
#[derive(Debug, Default)]
pub struct StagedBatch {
    text: String,
    rows: Vec<StagedRow>,
    /// The batch's distinct storage classes, which rows refer to.
    storage_classes: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
struct StagedRow {
    fields: PackedFields,
    /// 0 for none, else the index + 1 of the class in the batch's list.
    storage_class: u32,
    size: u64,
    last_modified_ms: i64,
}

impl StagedBatch {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn key(&self, row: usize) -> &str {
        self.rows[row].fields.key(&self.text)
    }

    fn etag(&self, row: usize) -> &str {
        self.rows[row].fields.etag(&self.text)
    }

    fn version_id(&self, row: usize) -> Option<&str> {
        self.rows[row].fields.version_id(&self.text)
    }

    fn storage_class(&self, row: usize) -> Option<&str> {
        let index = self.rows[row].storage_class.checked_sub(1)?;
        self.storage_classes.get(index as usize).map(String::as_str)
    }

    /// Every entry, owned.
    #[cfg(test)]
    fn entries(&self) -> Vec<InventoryEntry> {
        (0..self.len())
            .map(|row| {
                let r = &self.rows[row];
                InventoryEntry {
                    key: self.key(row).to_string(),
                    version_id: self.version_id(row).map(str::to_string),
                    size: r.size,
                    etag: self.etag(row).to_string(),
                    last_modified_ms: r.last_modified_ms,
                    storage_class: self.storage_class(row).map(inventory_base::storage_class),
                }
            })
            .collect()
    }
}

/// Decodes a batch written by [`encode_entries`].
pub fn decode_batch(mut data: &[u8]) -> Result<StagedBatch, String> {
    let count = get_varint(&mut data)? as usize;
    let mut key_lengths = get_bytes(&mut data)?;
    let mut key_suffixes = get_bytes(&mut data)?;
    let mut version_ids = get_bytes(&mut data)?;
    let mut sizes = get_bytes(&mut data)?;
    let mut etags = get_bytes(&mut data)?;
    let mut modified = get_bytes(&mut data)?;
    let mut millis = get_bytes(&mut data)?;
    let mut storage_classes = get_bytes(&mut data)?;
    // Keys come whole into the text; the text is checked to be UTF-8 once, at the end.
    let mut text: Vec<u8> =
        Vec::with_capacity(count.min(1 << 20) * 64 + key_suffixes.len() + etags.len() * 2);
    let mut rows = Vec::with_capacity(count.min(1 << 20));
    let mut classes: Vec<String> = Vec::new();
    let mut previous_key = 0..0;
    let mut previous_seconds = 0i64;
    for _ in 0..count {
        let start = text.len();
        let shared = get_varint(&mut key_lengths)? as usize;
        let suffix = take(&mut key_suffixes, get_varint(&mut key_lengths)? as usize)?;
        if shared > previous_key.len() {
            return Err("shared prefix longer than the previous key".into());
        }
        text.extend_from_within(previous_key.start..previous_key.start + shared);
        text.extend_from_slice(suffix);
        let key_len = text.len() - start;
        previous_key = start..text.len();
        let version = get_optional_bytes(&mut version_ids)?;
        let size = get_varint(&mut sizes)?;
        match get_u8(&mut etags)? {
            0 => text.extend_from_slice(get_bytes(&mut etags)?),
            tag => {
                put_hex_digest(&mut text, take(&mut etags, 16)?);
                if tag == 2 {
                    text.push(b'-');
                    text.extend_from_slice(get_varint(&mut etags)?.to_string().as_bytes());
                }
            }
        }
        let etag_len = text.len() - start - key_len;
        if let Some(version) = version {
            text.extend_from_slice(version);
        }
        let seconds = previous_seconds.wrapping_add(unzigzag(get_varint(&mut modified)?));
        previous_seconds = seconds;
        let last_modified_ms = seconds
            .wrapping_mul(1000)
            .wrapping_add(get_varint(&mut millis)? as i64);
        let storage_class = match get_optional_bytes(&mut storage_classes)? {
            None => 0,
            Some(class) => match classes.iter().position(|c| c.as_bytes() == class) {
                Some(index) => index + 1,
                None => {
                    let class = std::str::from_utf8(class).map_err(|_| "text is not UTF-8")?;
                    classes.push(class.to_string());
                    classes.len()
                }
            },
        };
        let fields = PackedFields::new(start, key_len, etag_len, version.map(<[u8]>::len))
            .map_err(|field| format!("{field} longer than 4 GB"))?;
        rows.push(StagedRow {
            fields,
            storage_class: u32::try_from(storage_class).map_err(|_| "too many storage classes")?,
            size,
            last_modified_ms,
        });
    }
    let text = String::from_utf8(text).map_err(|_| "key is not UTF-8")?;
    if !rows.iter().all(|r| r.fields.on_char_boundaries(&text)) {
        return Err("key is not UTF-8".into());
    }
    Ok(StagedBatch {
        text,
        rows,
        storage_classes: classes,
    })
}

/// One entry of a staged batch, as the merge hands it on.
#[derive(Debug, Clone)]
pub struct StagedEntry {
    pub(super) batch: Arc<StagedBatch>,
    pub(super) row: usize,
}

impl StagedEntry {
    pub fn key(&self) -> &str {
        self.batch.key(self.row)
    }

    pub fn etag(&self) -> &str {
        self.batch.etag(self.row)
    }

    pub fn version_id(&self) -> Option<&str> {
        self.batch.version_id(self.row)
    }

    pub fn size(&self) -> u64 {
        self.batch.rows[self.row].size
    }

    pub fn last_modified_ms(&self) -> i64 {
        self.batch.rows[self.row].last_modified_ms
    }

    pub fn storage_class(&self) -> Option<&str> {
        self.batch.storage_class(self.row)
    }

    /// What decides which of two rows of one key is the newer: see [`Recency`].
    pub fn recency(&self) -> Recency<'_> {
        (self.last_modified_ms(), self.version_id(), self.etag())
    }

    /// The tree entry of the object at this key in `bucket`, borrowed.
    pub fn imported<'a>(&'a self, origin: Origin<'a>) -> EntryRef<'a> {
        EntryRef {
            path: self.key(),
            address: Address::Imported {
                bucket: origin.bucket,
                key: origin.key(self.key()),
            },
            version_id: self.version_id(),
            size: self.size(),
            etag: self.etag(),
            last_modified_ms: self.last_modified_ms(),
            storage_class: self.storage_class(),
        }
    }
}

/// A digest as lowercase hex digits, appended to `text` (the `hex` crate's `encode`
/// makes a string, and this runs once per staged entry).
fn put_hex_digest(text: &mut Vec<u8>, digest: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &byte in digest {
        text.push(DIGITS[usize::from(byte >> 4)]);
        text.push(DIGITS[usize::from(byte & 0xf)]);
    }
}

fn put_optional(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(v) => {
            out.push(1);
            put_bytes(out, v.as_bytes());
        }
        None => out.push(0),
    }
}

fn get_optional_bytes<'a>(data: &mut &'a [u8]) -> Result<Option<&'a [u8]>, String> {
    match get_u8(data)? {
        0 => Ok(None),
        _ => get_bytes(data).map(Some),
    }
}

/// `0123…ef` (32 lowercase hex digits), optionally followed by `-<parts>`.
fn hex_etag(etag: &str) -> Option<([u8; 16], Option<u64>)> {
    let (digest, parts) = match etag.split_once('-') {
        Some((digest, parts)) => (digest, Some(parts.parse::<u64>().ok()?)),
        None => (etag, None),
    };
    if parts.is_some_and(|p| format!("{digest}-{p}") != etag) {
        return None;
    }
    let valid = digest.len() == 32
        && digest
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !valid {
        return None;
    }
    let mut bytes = [0u8; 16];
    hex::decode_to_slice(digest, &mut bytes).ok()?;
    Some((bytes, parts))
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn get_u8(data: &mut &[u8]) -> Result<u8, String> {
    Ok(take(data, 1)?[0])
}

fn take<'a>(data: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if data.len() < n {
        return Err("truncated".into());
    }
    let (head, tail) = data.split_at(n);
    *data = tail;
    Ok(head)
}

fn get_varint(data: &mut &[u8]) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = get_u8(data)?;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint too long".into())
}

fn get_bytes<'a>(data: &mut &'a [u8]) -> Result<&'a [u8], String> {
    let len = get_varint(data)? as usize;
    take(data, len)
}

/// Splits sorted entries into compressed batches of at most [`MAX_BATCH_BYTES`]. Each
/// chunk is sized from the compression ratio of the one before, so that a batch is
/// rarely compressed twice.
pub fn pack_batches(entries: &[InventoryEntry]) -> Vec<Vec<u8>> {
    let mut batches = Vec::new();
    let mut raw_target = RAW_CHUNK_BYTES;
    let mut start = 0;
    while start < entries.len() {
        let mut end = start;
        let mut raw = 0;
        while end < entries.len() && (raw < raw_target || end == start) {
            raw += entries[end].key.len() + 48;
            end += 1;
        }
        loop {
            let compressed = compress(&encode_entries(&entries[start..end]));
            if compressed.len() <= MAX_BATCH_BYTES || end - start == 1 {
                // Aim the next chunk at 90 % of the limit, by the size estimate.
                let estimate: usize = entries[start..end].iter().map(|e| e.key.len() + 48).sum();
                let ratio = compressed.len().max(1) as f64 / estimate.max(1) as f64;
                raw_target = ((MAX_BATCH_BYTES as f64 * 0.9 / ratio) as usize)
                    .clamp(MAX_BATCH_BYTES / 4, MAX_BATCH_RAW_BYTES);
                batches.push(compressed);
                break;
            }
            end = start + (end - start) / 2;
        }
        start = end;
    }
    batches
}

fn compress(data: &[u8]) -> Vec<u8> {
    // Level 3 (zstd's default): compressing into a Vec cannot fail for valid levels.
    zstd::bulk::compress(data, 3).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, etag: &str) -> InventoryEntry {
        InventoryEntry {
            key: key.into(),
            version_id: key
                .len()
                .is_multiple_of(2)
                .then(|| "3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY".into()),
            size: key.len() as u64 * 1000,
            etag: etag.into(),
            last_modified_ms: 1_700_000_000_000 + key.len() as i64,
            storage_class: Some("STANDARD".into()),
        }
    }

    #[test]
    fn round_trips_every_shape_of_entry() {
        let entries = vec![
            entry("a", "d41d8cd98f00b204e9800998ecf8427e"),
            entry("a/b", "d41d8cd98f00b204e9800998ecf8427e-12"),
            entry("a/b/c", "not-hex"),
            entry("a/b/é😀", "D41D8CD98F00B204E9800998ECF8427E"),
            entry("b", "d41d8cd98f00b204e9800998ecf8427e-0012"),
            InventoryEntry {
                last_modified_ms: -5,
                storage_class: None,
                version_id: None,
                ..entry("c", "")
            },
            InventoryEntry {
                last_modified_ms: i64::MIN,
                ..entry("d", "")
            },
            InventoryEntry {
                last_modified_ms: i64::MAX,
                ..entry("e", "")
            },
            InventoryEntry {
                last_modified_ms: 1_700_000_000_000,
                ..entry("f", "")
            },
        ];
        assert_eq!(
            decode_batch(&encode_entries(&entries)).unwrap().entries(),
            entries
        );
    }

    /// A batch of one entry with this key and this ETag, stored as raw text.
    fn raw_batch(key: &[u8], etag: &[u8]) -> Vec<u8> {
        let mut etags = vec![0];
        put_bytes(&mut etags, etag);
        let columns: [&[u8]; 8] = [
            &[0, key.len() as u8],
            key,
            &[0],
            &[1],
            &etags,
            &[0],
            &[0],
            &[0],
        ];
        let mut batch = vec![1];
        for column in columns {
            put_bytes(&mut batch, column);
        }
        batch
    }

    #[test]
    fn a_key_that_splits_a_character_is_refused() {
        let whole = decode_batch(&raw_batch("xé".as_bytes(), b"z")).unwrap();
        assert_eq!((whole.key(0), whole.etag(0)), ("xé", "z"));
        // The key ends on the first byte of "é" and the ETag starts with its second: the
        // text is valid UTF-8 as a whole, the key is not.
        let split = raw_batch(b"x\xc3", b"\xa9z");
        assert_eq!(decode_batch(&split).unwrap_err(), "key is not UTF-8");
    }

    #[test]
    fn batches_stay_small() {
        let entries: Vec<InventoryEntry> = (0..60_000)
            .map(|i| {
                entry(
                    &format!("datalake/raw/part={:04}/file-{i:08}.parquet", i / 100),
                    &format!("{:032x}", i as u128 * 7919),
                )
            })
            .collect();
        let batches = pack_batches(&entries);
        assert!(batches.iter().all(|b| b.len() <= MAX_BATCH_BYTES));
        let mut decoded = Vec::new();
        for batch in &batches {
            decoded.extend(
                decode_batch(&zstd::stream::decode_all(batch.as_slice()).unwrap())
                    .unwrap()
                    .entries(),
            );
        }
        assert_eq!(decoded, entries);
        let bytes: usize = batches.iter().map(Vec::len).sum();
        assert!(
            bytes / entries.len() < 40,
            "{} bytes per entry",
            bytes / entries.len()
        );
    }
}
