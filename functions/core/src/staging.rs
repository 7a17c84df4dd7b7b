//! Staged entries: what workers hand to the committer, in DynamoDB.
//!
//! A worker collects its shard's entries into *runs* of at most [`RUN_ENTRIES`], so its
//! memory does not grow with the shard; it sorts each run and stores it as *batches*:
//! many entries per item, prefix-compressed and zstd-compressed, each item well under
//! DynamoDB's 400 KB limit. Each batch has its own partition key
//! (`<job>#<shard>#<run>#<batch>`), so a worker's writes spread over many partitions.
//! The committer merges every run of every shard in key order. Items carry a TTL as a
//! safety net; the committer deletes them once the job is committed.

use std::collections::{BinaryHeap, HashMap, VecDeque};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};

use crate::dynamo::DynamoError;
use crate::inventory::InventoryEntry;

/// Entries a worker sorts and stages at a time (about 30 MB of entries in memory).
pub const RUN_ENTRIES: usize = 100_000;
/// Largest compressed batch stored in one item.
pub const MAX_BATCH_BYTES: usize = 300_000;
/// Entries are encoded in chunks of at most this many raw bytes before compression.
const RAW_CHUNK_BYTES: usize = 1_200_000;
/// Staged items expire after this long even if nobody deletes them.
const TTL_SECONDS: i64 = 7 * 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    #[error(transparent)]
    Dynamo(#[from] DynamoError),
    #[error("staged batch {key} is damaged: {reason}")]
    Damaged { key: String, reason: String },
    #[error("staged batch {key} is missing")]
    Missing { key: String },
}

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

pub fn decode_entries(mut data: &[u8]) -> Result<Vec<InventoryEntry>, String> {
    let count = get_varint(&mut data)? as usize;
    let mut key_lengths = get_bytes(&mut data)?;
    let mut key_suffixes = get_bytes(&mut data)?;
    let mut version_ids = get_bytes(&mut data)?;
    let mut sizes = get_bytes(&mut data)?;
    let mut etags = get_bytes(&mut data)?;
    let mut modified = get_bytes(&mut data)?;
    let mut millis = get_bytes(&mut data)?;
    let mut storage_classes = get_bytes(&mut data)?;
    let mut entries = Vec::with_capacity(count.min(1 << 20));
    let mut previous = Vec::new();
    let mut previous_seconds = 0i64;
    for _ in 0..count {
        let shared = get_varint(&mut key_lengths)? as usize;
        let suffix = take(&mut key_suffixes, get_varint(&mut key_lengths)? as usize)?;
        if shared > previous.len() {
            return Err("shared prefix longer than the previous key".into());
        }
        previous.truncate(shared);
        previous.extend_from_slice(suffix);
        let key = std::str::from_utf8(&previous)
            .map_err(|_| "key is not UTF-8")?
            .to_string();
        let version_id = get_optional(&mut version_ids)?;
        let size = get_varint(&mut sizes)?;
        let etag = match get_u8(&mut etags)? {
            0 => get_string(&mut etags)?,
            tag => {
                let digest = take(&mut etags, 16)?;
                let mut etag = hex_digest(digest);
                if tag == 2 {
                    etag.push('-');
                    etag.push_str(&get_varint(&mut etags)?.to_string());
                }
                etag
            }
        };
        let seconds = previous_seconds.wrapping_add(unzigzag(get_varint(&mut modified)?));
        previous_seconds = seconds;
        let last_modified_ms = seconds
            .wrapping_mul(1000)
            .wrapping_add(get_varint(&mut millis)? as i64);
        let storage_class = get_optional(&mut storage_classes)?;
        entries.push(InventoryEntry {
            key,
            version_id,
            size,
            etag,
            last_modified_ms,
            storage_class,
        });
    }
    Ok(entries)
}

/// A 16-byte digest as 32 lowercase hex digits (the `hex` crate's `encode` goes
/// character by character, and this runs once per staged entry).
fn hex_digest(digest: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(2 * digest.len() + 8);
    for &byte in digest {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    text
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

fn get_optional(data: &mut &[u8]) -> Result<Option<String>, String> {
    match get_u8(data)? {
        0 => Ok(None),
        _ => get_string(data).map(Some),
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

fn get_string(data: &mut &[u8]) -> Result<String, String> {
    String::from_utf8(get_bytes(data)?.to_vec()).map_err(|_| "text is not UTF-8".into())
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
                    .clamp(MAX_BATCH_BYTES / 4, RAW_CHUNK_BYTES * 8);
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

/// The staging table.
#[derive(Debug, Clone)]
pub struct StagingTable {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

/// One sorted run of a shard, stored as `batches` items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StagedRun {
    pub shard: usize,
    pub run: usize,
    pub batches: usize,
}

pub(crate) fn batch_key(job: &str, run: &StagedRun, batch: usize) -> String {
    format!("{job}#{:05}#{:05}#{batch:06}", run.shard, run.run)
}

impl StagingTable {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub async fn ensure_table(&self) -> Result<(), DynamoError> {
        crate::dynamo::ensure_table(&self.client, &self.table, Some("expires_at")).await
    }

    /// Stores one sorted run of a shard; returns how many batches and bytes it wrote.
    /// Writing the same run again overwrites the same items.
    pub async fn put_run(
        &self,
        job: &str,
        shard: usize,
        run: usize,
        entries: &[InventoryEntry],
    ) -> Result<(usize, u64), StagingError> {
        let batches = pack_batches(entries);
        let bytes = batches.iter().map(|b| b.len() as u64).sum();
        let staged = StagedRun {
            shard,
            run,
            batches: batches.len(),
        };
        let expires = (chrono::Utc::now().timestamp() + TTL_SECONDS).to_string();
        let requests: Vec<WriteRequest> = batches
            .into_iter()
            .enumerate()
            .filter_map(|(i, batch)| {
                let item = HashMap::from([
                    (
                        "pk".to_string(),
                        AttributeValue::S(batch_key(job, &staged, i)),
                    ),
                    ("sk".to_string(), AttributeValue::S("batch".into())),
                    ("entries".to_string(), AttributeValue::B(Blob::new(batch))),
                    ("expires_at".to_string(), AttributeValue::N(expires.clone())),
                ]);
                let put = PutRequest::builder().set_item(Some(item)).build().ok()?;
                Some(WriteRequest::builder().put_request(put).build())
            })
            .collect();
        self.write_all(requests).await?;
        Ok((staged.batches, bytes))
    }

    /// Deletes the staged batches of a job's runs.
    pub async fn delete_job(&self, job: &str, runs: &[StagedRun]) -> Result<(), StagingError> {
        let requests: Vec<WriteRequest> = runs
            .iter()
            .flat_map(|run| (0..run.batches).map(move |batch| batch_key(job, run, batch)))
            .filter_map(|key| {
                let delete = DeleteRequest::builder()
                    .key("pk", AttributeValue::S(key))
                    .key("sk", AttributeValue::S("batch".into()))
                    .build()
                    .ok()?;
                Some(WriteRequest::builder().delete_request(delete).build())
            })
            .collect();
        self.write_all(requests).await?;
        Ok(())
    }

    async fn write_all(&self, requests: Vec<WriteRequest>) -> Result<(), DynamoError> {
        crate::dynamo::batch_write(&self.client, &self.table, requests).await
    }
}

/// Where the committer reads staged batches from.
pub trait BatchSource: Clone + Send + Sync + 'static {
    /// The entries of one batch of a run.
    fn batch(
        &self,
        job: &str,
        run: &StagedRun,
        batch: usize,
    ) -> impl Future<Output = Result<Vec<InventoryEntry>, StagingError>> + Send;
}

impl BatchSource for StagingTable {
    async fn batch(
        &self,
        job: &str,
        run: &StagedRun,
        batch: usize,
    ) -> Result<Vec<InventoryEntry>, StagingError> {
        let key = batch_key(job, run, batch);
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.clone()))
            .key("sk", AttributeValue::S("batch".into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| DynamoError::new(&self.table, e))?;
        let item = output
            .item
            .ok_or_else(|| StagingError::Missing { key: key.clone() })?;
        let Some(AttributeValue::B(blob)) = item.get("entries") else {
            return Err(StagingError::Damaged {
                key,
                reason: "no entries attribute".into(),
            });
        };
        unpack_batch(&key, blob.as_ref())
    }
}

/// Staged batches kept in memory, keyed like the staging table's items: the same
/// packing without DynamoDB, for measuring the committer on its own.
#[derive(Debug, Default, Clone)]
pub struct MemoryStaging {
    batches: std::sync::Arc<HashMap<String, Vec<u8>>>,
}

impl MemoryStaging {
    /// Keeps a run's packed batches (see [`pack_batches`]).
    pub fn insert_run(
        &mut self,
        job: &str,
        shard: usize,
        run: usize,
        batches: Vec<Vec<u8>>,
    ) -> StagedRun {
        let staged = StagedRun {
            shard,
            run,
            batches: batches.len(),
        };
        let held = std::sync::Arc::make_mut(&mut self.batches);
        for (i, batch) in batches.into_iter().enumerate() {
            held.insert(batch_key(job, &staged, i), batch);
        }
        staged
    }

    /// The compressed size of every batch held.
    pub fn batch_sizes(&self) -> impl Iterator<Item = u64> + '_ {
        self.batches.values().map(|b| b.len() as u64)
    }
}

impl BatchSource for MemoryStaging {
    async fn batch(
        &self,
        job: &str,
        run: &StagedRun,
        batch: usize,
    ) -> Result<Vec<InventoryEntry>, StagingError> {
        let key = batch_key(job, run, batch);
        match self.batches.get(&key) {
            Some(blob) => unpack_batch(&key, blob),
            None => Err(StagingError::Missing { key }),
        }
    }
}

/// Decompresses and decodes one stored batch.
fn unpack_batch(key: &str, blob: &[u8]) -> Result<Vec<InventoryEntry>, StagingError> {
    let damaged = |reason: String| StagingError::Damaged {
        key: key.to_string(),
        reason,
    };
    let raw = zstd::stream::decode_all(blob).map_err(|e| damaged(e.to_string()))?;
    decode_entries(&raw).map_err(damaged)
}

/// Every staged entry of a job in key order, merging its runs' sorted batches.
pub fn merge_staged<S: BatchSource>(source: &S, job: &str, runs: &[StagedRun]) -> MergedEntries<S> {
    MergedEntries {
        source: source.clone(),
        job: job.to_string(),
        runs: runs
            .iter()
            .map(|&run| RunStream {
                run,
                next_batch: 0,
                buffered: VecDeque::new(),
                loading: None,
            })
            .collect(),
        heap: BinaryHeap::new(),
        started: false,
    }
}

/// A batch being read and decoded on another thread.
type BatchLoad = tokio::task::JoinHandle<Result<Vec<InventoryEntry>, StagingError>>;

struct RunStream {
    run: StagedRun,
    next_batch: usize,
    buffered: VecDeque<InventoryEntry>,
    /// The run's next batch, loading while `buffered` is consumed.
    loading: Option<BatchLoad>,
}

impl RunStream {
    /// Starts loading the run's next batch, if it has one.
    fn load_next<S: BatchSource>(&mut self, source: &S, job: &str) {
        if self.next_batch >= self.run.batches {
            return;
        }
        let (source, job, run, batch) =
            (source.clone(), job.to_string(), self.run, self.next_batch);
        self.next_batch += 1;
        self.loading = Some(tokio::spawn(async move {
            source.batch(&job, &run, batch).await
        }));
    }
}

impl Drop for RunStream {
    fn drop(&mut self) {
        if let Some(loading) = self.loading.take() {
            loading.abort();
        }
    }
}

/// The next entry of one run, ordered by key (then run) in the merge's heap.
struct Head {
    entry: InventoryEntry,
    run: usize,
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Head {}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.entry.key, self.run).cmp(&(&other.entry.key, other.run))
    }
}

/// K-way merge of staged runs. Each run's next batch is read and decoded on another
/// thread while the current one is merged.
pub struct MergedEntries<S> {
    source: S,
    job: String,
    runs: Vec<RunStream>,
    heap: BinaryHeap<std::cmp::Reverse<Head>>,
    started: bool,
}

impl<S: BatchSource> MergedEntries<S> {
    /// Moves the next entry of run `index` (waiting for its next batch when needed)
    /// into the heap.
    async fn refill(&mut self, index: usize) -> Result<(), StagingError> {
        let stream = &mut self.runs[index];
        while stream.buffered.is_empty() {
            if stream.loading.is_none() {
                stream.load_next(&self.source, &self.job);
            }
            let Some(loading) = stream.loading.take() else {
                break;
            };
            let batch = loading.await.map_err(|err| StagingError::Damaged {
                key: format!("{}#{:05}#{:05}", self.job, stream.run.shard, stream.run.run),
                reason: format!("reading was interrupted: {err}"),
            })??;
            stream.buffered = batch.into();
            stream.load_next(&self.source, &self.job);
        }
        if let Some(entry) = stream.buffered.pop_front() {
            self.heap
                .push(std::cmp::Reverse(Head { entry, run: index }));
        }
        Ok(())
    }

    /// The next entry in key order (entries of equal keys come one after another).
    pub async fn next_entry(&mut self) -> Result<Option<InventoryEntry>, StagingError> {
        if !self.started {
            self.started = true;
            // Every run's first batch loads at once.
            for stream in &mut self.runs {
                stream.load_next(&self.source, &self.job);
            }
            for index in 0..self.runs.len() {
                self.refill(index).await?;
            }
        }
        let Some(std::cmp::Reverse(head)) = self.heap.pop() else {
            return Ok(None);
        };
        self.refill(head.run).await?;
        Ok(Some(head.entry))
    }
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
        assert_eq!(decode_entries(&encode_entries(&entries)).unwrap(), entries);
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
                decode_entries(&zstd::stream::decode_all(batch.as_slice()).unwrap()).unwrap(),
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
