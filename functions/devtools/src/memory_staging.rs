//! Staged batches kept in memory: the staging table's packing without DynamoDB, for
//! measuring the committer on its own.

use std::collections::HashMap;

use inventory_importer::staging::{
    BatchSource, StagedBatch, StagedRun, StagingError, batch_key, unpack_batch,
};

/// Staged batches kept in memory, keyed like the staging table's items: the same
/// packing without DynamoDB, for measuring the committer on its own.
#[derive(Debug, Default, Clone)]
pub struct MemoryStaging {
    batches: std::sync::Arc<HashMap<String, Vec<u8>>>,
}

impl MemoryStaging {
    /// Keeps a run's packed batches (see [`pack_batches`](inventory_importer::staging::pack_batches)).
    pub fn insert_run(
        &mut self,
        job: &str,
        shard: usize,
        run: usize,
        batches: Vec<Vec<u8>>,
    ) -> StagedRun {
        let staged = StagedRun {
            shard,
            attempt: 0,
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
    ) -> Result<StagedBatch, StagingError> {
        let key = batch_key(job, run, batch);
        match self.batches.get(&key) {
            Some(blob) => unpack_batch(&key, blob),
            None => Err(StagingError::Missing { key }),
        }
    }
}
