//! The staged merge: every run of every shard read back in key order, each run's next
//! batch loading while the current one is merged.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::binary_heap::PeekMut;
use std::sync::Arc;

use super::codec::{StagedBatch, StagedEntry};
use super::table::{BatchSource, StagedRun, StagingError, batch_key};

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
                current: Arc::default(),
                position: 0,
                loading: None,
            })
            .collect(),
        heap: BinaryHeap::new(),
        started: false,
    }
}

/// A batch being read and decoded on another thread, with its number in the run.
struct BatchLoad {
    batch: usize,
    task: tokio::task::JoinHandle<Result<StagedBatch, StagingError>>,
}

struct RunStream {
    run: StagedRun,
    next_batch: usize,
    /// The batch being merged, and the position of its next entry.
    current: Arc<StagedBatch>,
    position: usize,
    /// The run's next batch, loading while `current` is merged.
    loading: Option<BatchLoad>,
}

impl RunStream {
    /// The run's next entry, waiting for its next batch when needed.
    async fn next_entry<S: BatchSource>(
        &mut self,
        source: &S,
        job: &str,
    ) -> Result<Option<StagedEntry>, StagingError> {
        while self.position >= self.current.len() {
            if self.loading.is_none() {
                self.load_next(source, job);
            }
            let Some(loading) = self.loading.take() else {
                // The run is done: its last batch need not be held any longer.
                self.current = Arc::default();
                self.position = 0;
                return Ok(None);
            };
            let batch = loading.task.await.map_err(|err| StagingError::Damaged {
                key: batch_key(job, &self.run, loading.batch),
                reason: format!("reading was interrupted: {err}"),
            })??;
            self.current = Arc::new(batch);
            self.position = 0;
            self.load_next(source, job);
        }
        let entry = StagedEntry {
            batch: self.current.clone(),
            row: self.position,
        };
        self.position += 1;
        Ok(Some(entry))
    }

    /// Starts loading the run's next batch, if it has one.
    fn load_next<S: BatchSource>(&mut self, source: &S, job: &str) {
        if self.next_batch >= self.run.batches {
            return;
        }
        let (source, job, run, batch) =
            (source.clone(), job.to_string(), self.run, self.next_batch);
        self.next_batch += 1;
        self.loading = Some(BatchLoad {
            batch,
            task: tokio::spawn(async move { source.batch(&job, &run, batch).await }),
        });
    }
}

impl Drop for RunStream {
    fn drop(&mut self) {
        if let Some(loading) = self.loading.take() {
            loading.task.abort();
        }
    }
}

/// The next entry of one run, ordered by key (then run) in the merge's heap.
struct Head {
    entry: StagedEntry,
    run: usize,
}

impl Head {
    fn key(&self) -> &[u8] {
        self.entry.key().as_bytes()
    }
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
        (self.key(), self.run).cmp(&(other.key(), other.run))
    }
}

/// K-way merge of staged runs. Each run's next batch is read and decoded on another
/// thread while the current one is merged.
pub struct MergedEntries<S> {
    source: S,
    job: String,
    runs: Vec<RunStream>,
    heap: BinaryHeap<Reverse<Head>>,
    started: bool,
}

impl<S: BatchSource> MergedEntries<S> {
    /// The next entry in key order (entries of equal keys come one after another).
    pub async fn next_entry(&mut self) -> Result<Option<StagedEntry>, StagingError> {
        if !self.started {
            self.started = true;
            // Every run's first batch loads at once.
            for stream in &mut self.runs {
                stream.load_next(&self.source, &self.job);
            }
            for (index, stream) in self.runs.iter_mut().enumerate() {
                if let Some(entry) = stream.next_entry(&self.source, &self.job).await? {
                    self.heap.push(Reverse(Head { entry, run: index }));
                }
            }
        }
        let Some(mut top) = self.heap.peek_mut() else {
            return Ok(None);
        };
        // The run's next entry takes the place of the one handed out, which costs one
        // pass down the heap instead of a pop and a push.
        let stream = &mut self.runs[top.0.run];
        Ok(Some(
            match stream.next_entry(&self.source, &self.job).await? {
                Some(next) => std::mem::replace(&mut top.0.entry, next),
                None => PeekMut::pop(top).0.entry,
            },
        ))
    }
}
