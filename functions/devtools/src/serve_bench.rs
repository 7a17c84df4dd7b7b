//! Measuring the S3 endpoint as S3 clients use it, with the AWS SDK for Rust: listing
//! keys/s in 1,000-key pages, HeadObject latency with a warm cache, GetObject MB/s of a
//! large object, each beside the same operation on the S3 the endpoint reads from; and
//! a load of many concurrent clients listing and reading for a while.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use bytes::Buf as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// Where a bench reads: an endpoint's bucket and key prefix (a ref for the endpoint).
#[derive(Debug, Clone)]
pub struct Target {
    pub client: Client,
    pub bucket: String,
    pub prefix: String,
}

/// An S3 client of `endpoint`, path-style, signing with the key given.
pub async fn client(endpoint: &str, key_id: &str, secret: &str) -> Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            key_id, secret, None, None, "bench",
        ))
        .load()
        .await;
    Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

#[derive(Debug, thiserror::Error)]
pub enum ServeBenchError {
    #[error("{operation} failed: {message}")]
    Call {
        operation: &'static str,
        message: String,
    },
    #[error("{0}")]
    Wrong(String),
}

fn call_error(operation: &'static str, err: impl std::error::Error) -> ServeBenchError {
    ServeBenchError::Call {
        operation,
        message: aws_sdk_s3::error::DisplayErrorContext(err).to_string(),
    }
}

/// A listing's speed.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub keys: u64,
    pub pages: u64,
    pub seconds: f64,
    pub keys_per_second: f64,
}

/// Lists every key under the target's prefix in pages of `page` keys, stopping after
/// `limit` keys when given; returns the speed and the keys (up to `keep` of them).
pub async fn list(
    target: &Target,
    page: i32,
    limit: Option<u64>,
    keep: usize,
) -> Result<(Listed, Vec<String>), ServeBenchError> {
    let started = Instant::now();
    let (mut keys, mut pages, mut kept) = (0u64, 0u64, Vec::new());
    let mut token = None;
    loop {
        let output = target
            .client
            .list_objects_v2()
            .bucket(&target.bucket)
            .prefix(&target.prefix)
            .max_keys(page)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|err| call_error("ListObjectsV2", err))?;
        pages += 1;
        for object in output.contents() {
            keys += 1;
            if kept.len() < keep
                && let Some(key) = object.key()
            {
                kept.push(key.to_string());
            }
        }
        token = output.next_continuation_token().map(str::to_string);
        if token.is_none() || limit.is_some_and(|limit| keys >= limit) {
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok((
        Listed {
            keys,
            pages,
            seconds,
            keys_per_second: keys as f64 / seconds.max(1e-9),
        },
        kept,
    ))
}

/// Latencies of one kind of request, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub requests: u64,
    pub median_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

fn latency(mut samples: Vec<f64>) -> Latency {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(index).copied().unwrap_or_default()
    };
    Latency {
        requests: samples.len() as u64,
        median_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: samples.last().copied().unwrap_or_default(),
    }
}

/// `n` keys drawn at random (with `seed`) from `keys`.
pub fn sample(keys: &[String], n: usize, seed: u64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    if keys.is_empty() {
        return Vec::new();
    }
    (0..n)
        .filter_map(|_| keys.get(rng.random_range(0..keys.len())).cloned())
        .collect()
}

/// HeadObject of each key in turn, one at a time; the latencies of the second pass
/// (the first warms the cache).
pub async fn head_latency(
    client: &Client,
    bucket: &str,
    keys: &[String],
) -> Result<Latency, ServeBenchError> {
    let mut samples = Vec::with_capacity(keys.len());
    for pass in 0..2 {
        for key in keys {
            let started = Instant::now();
            client
                .head_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|err| call_error("HeadObject", err))?;
            if pass == 1 {
                samples.push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }
    Ok(latency(samples))
}

/// A read's speed.
#[derive(Debug, Clone, Serialize)]
pub struct Read {
    pub bytes: u64,
    pub seconds: f64,
    pub mb_per_second: f64,
}

/// Reads an object whole, `rounds` times; the best round.
pub async fn read(
    client: &Client,
    bucket: &str,
    key: &str,
    rounds: usize,
) -> Result<Read, ServeBenchError> {
    let mut best: Option<Read> = None;
    for _ in 0..rounds.max(1) {
        let started = Instant::now();
        let output = client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|err| call_error("GetObject", err))?;
        let mut body = output.body;
        let mut bytes = 0u64;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|err| call_error("GetObject", err))?
        {
            bytes += chunk.len() as u64;
        }
        let seconds = started.elapsed().as_secs_f64();
        let round = Read {
            bytes,
            seconds,
            mb_per_second: bytes as f64 / 1e6 / seconds.max(1e-9),
        };
        if best.as_ref().is_none_or(|b| round.seconds < b.seconds) {
            best = Some(round);
        }
    }
    best.ok_or_else(|| ServeBenchError::Wrong("no read".into()))
}

/// Writes `keys` as empty objects into `bucket`, `concurrency` at a time.
pub async fn fill(
    client: &Client,
    bucket: &str,
    keys: &[String],
    concurrency: usize,
) -> Result<(), ServeBenchError> {
    let _ = client.create_bucket().bucket(bucket).send().await;
    let next = Arc::new(AtomicU64::new(0));
    let keys: Arc<Vec<String>> = Arc::new(keys.to_vec());
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, bucket, keys, next) = (
            client.clone(),
            bucket.to_string(),
            keys.clone(),
            next.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(key) = keys.get(index) else {
                    return Ok(());
                };
                client
                    .put_object()
                    .bucket(&bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|err| call_error("PutObject", err))?;
            }
        }));
    }
    for worker in workers {
        worker
            .await
            .map_err(|err| ServeBenchError::Wrong(err.to_string()))??;
    }
    Ok(())
}

/// What a load of concurrent clients did.
#[derive(Debug, Clone, Serialize)]
pub struct Load {
    pub clients: usize,
    pub seconds: f64,
    pub requests: u64,
    pub requests_per_second: f64,
    pub lists: u64,
    pub heads: u64,
    pub gets: u64,
    pub bytes_read: u64,
    pub errors: u64,
    /// The first few errors, as the SDK gave them.
    pub first_errors: Vec<String>,
}

/// What the load's GetObject requests read: whole objects of `repository`, by key.
#[derive(Debug, Clone)]
pub struct Reads {
    pub repository: String,
    pub keys: Vec<String>,
}

/// `clients` concurrent clients, each in a loop for `duration`: a page of 1,000 keys
/// from a random key on, HeadObject of a random key of `keys`, and GetObject of a
/// random object of `reads`.
pub async fn load(
    target: &Target,
    keys: &[String],
    reads: &Reads,
    clients: usize,
    duration: Duration,
    seed: u64,
) -> Result<Load, ServeBenchError> {
    if keys.is_empty() || reads.keys.is_empty() {
        return Err(ServeBenchError::Wrong("the load needs keys to read".into()));
    }
    let keys = Arc::new(keys.to_vec());
    let counters: Arc<[AtomicU64; 5]> = Arc::new(Default::default());
    let errors = Arc::new(std::sync::Mutex::new(Vec::new()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for client_index in 0..clients.max(1) {
        let (target, keys, counters, errors, reads) = (
            target.clone(),
            keys.clone(),
            counters.clone(),
            errors.clone(),
            reads.clone(),
        );
        let mut rng = StdRng::seed_from_u64(seed.wrapping_add(client_index as u64));
        workers.push(tokio::spawn(async move {
            let fail = |err: String| {
                counters[4].fetch_add(1, Ordering::Relaxed);
                if let Ok(mut errors) = errors.lock()
                    && errors.len() < 5
                {
                    errors.push(err);
                }
            };
            while started.elapsed() < duration {
                let from = &keys[rng.random_range(0..keys.len())];
                match target
                    .client
                    .list_objects_v2()
                    .bucket(&target.bucket)
                    .prefix(&target.prefix)
                    .start_after(from)
                    .max_keys(1000)
                    .send()
                    .await
                {
                    Ok(_) => counters[0].fetch_add(1, Ordering::Relaxed),
                    Err(err) => {
                        fail(aws_sdk_s3::error::DisplayErrorContext(err).to_string());
                        continue;
                    }
                };
                let key = &keys[rng.random_range(0..keys.len())];
                match target
                    .client
                    .head_object()
                    .bucket(&target.bucket)
                    .key(key)
                    .send()
                    .await
                {
                    Ok(_) => counters[1].fetch_add(1, Ordering::Relaxed),
                    Err(err) => {
                        fail(aws_sdk_s3::error::DisplayErrorContext(err).to_string());
                        continue;
                    }
                };
                let key = &reads.keys[rng.random_range(0..reads.keys.len())];
                match target
                    .client
                    .get_object()
                    .bucket(&reads.repository)
                    .key(key)
                    .send()
                    .await
                {
                    Ok(output) => match output.body.collect().await {
                        Ok(bytes) => {
                            counters[2].fetch_add(1, Ordering::Relaxed);
                            counters[3].fetch_add(bytes.remaining() as u64, Ordering::Relaxed);
                        }
                        Err(err) => fail(err.to_string()),
                    },
                    Err(err) => fail(aws_sdk_s3::error::DisplayErrorContext(err).to_string()),
                }
            }
        }));
    }
    for worker in workers {
        worker
            .await
            .map_err(|err| ServeBenchError::Wrong(err.to_string()))?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let count = |i: usize| counters[i].load(Ordering::Relaxed);
    let requests = count(0) + count(1) + count(2) + count(4);
    Ok(Load {
        clients,
        seconds,
        requests,
        requests_per_second: requests as f64 / seconds.max(1e-9),
        lists: count(0),
        heads: count(1),
        gets: count(2),
        bytes_read: count(3),
        errors: count(4),
        first_errors: errors.lock().map(|e| e.clone()).unwrap_or_default(),
    })
}
