//! Cancelling an import that has not finished (`import cancel`).
//!
//! The job's state decides, under its version condition:
//! - the cancel records `cancelled` and who asked, then removes the staged runs of the
//!   shards recorded so far;
//! - a worker keeps a look at the job under way while it reads, one per batch of rows
//!   ([`Look`]), and looks again after recording its shard; finding it cancelled, it
//!   removes its own runs and stops;
//! - a committer claims the branch's move on the job before moving it
//!   ([`Job::moving_branch`]): it finds a cancelled job finished and commits nothing,
//!   and a cancel that finds the move claimed is refused as too late.

use tokio::task::JoinHandle;

use crate::jobs::{Job, JobError, JobState, JobTable, staged_runs};

use super::{Pipeline, PipelineError};

impl Pipeline {
    /// Cancels job `id` of `repository` on behalf of `by` (who and through what, e.g.
    /// `alice through the API`). Cancelling a cancelled job again changes nothing.
    pub async fn cancel(&self, repository: &str, id: &str, by: &str) -> Result<Job, PipelineError> {
        let mut cancelled_here = false;
        let job = self
            .jobs
            .update(repository, id, |j| {
                cancelled_here = !j.moving_branch;
                if cancelled_here {
                    j.state = JobState::Cancelled;
                    j.cancelled_by = Some(by.to_string());
                    j.error = Some(format!("cancelled by {by}"));
                }
            })
            .await?;
        if job.moving_branch && !cancelled_here {
            return Err(PipelineError::TooLateToCancel {
                job: job.id,
                branch: job.scope.branch,
            });
        }
        if job.state != JobState::Cancelled {
            return Err(PipelineError::AlreadyFinished {
                job: job.id,
                state: job.state,
            });
        }
        // The shards recorded so far; a worker recording its shard after this read
        // finds the job cancelled and removes its own runs.
        let shards = self.jobs.shards(&job.id).await?;
        self.remove_staged(&job.id, staged_runs(&shards)).await;
        tracing::info!(job = %job.id, by, "job cancelled");
        Ok(job)
    }
}

/// A worker's look at its job, under way while it reads the next batch of rows, so that
/// looking costs the worker no time: one read of the job item per batch.
#[derive(Debug, Default)]
pub(super) struct Look {
    under_way: Option<JoinHandle<Result<Job, JobError>>>,
}

impl Look {
    /// Fails with [`PipelineError::Cancelled`] when the last look that ended found job
    /// `id` cancelled; starts the next look when none is under way. A look that failed
    /// (a throttle) is only started again.
    pub(super) async fn stop_if_cancelled(
        &mut self,
        jobs: &JobTable,
        repository: &str,
        id: &str,
    ) -> Result<(), PipelineError> {
        if let Some(ended) = self.under_way.take_if(|look| look.is_finished())
            && let Ok(Ok(job)) = ended.await
            && job.state == JobState::Cancelled
        {
            return Err(PipelineError::Cancelled {
                job: job.id,
                by: job.cancelled_by.unwrap_or_else(|| "someone".into()),
            });
        }
        if self.under_way.is_none() {
            let (jobs, repository, id) = (jobs.clone(), repository.to_string(), id.to_string());
            self.under_way = Some(tokio::spawn(
                async move { jobs.get(&repository, &id).await },
            ));
        }
        Ok(())
    }
}

impl Drop for Look {
    fn drop(&mut self) {
        if let Some(look) = self.under_way.take() {
            look.abort();
        }
    }
}
