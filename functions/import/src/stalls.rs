//! Why a job that has not finished is not moving: read from the job, its shards and
//! the latest delivery of each task, against the queues' visibility timeout (after
//! which a task whose function stopped without a word is delivered again).
//!
//! Knows nothing of queues: the caller says how long and how often they wait.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::jobs::{Attempt, Job, JobState, Shard};

/// How the queues treat a task that gets no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    /// How long a delivered task waits for its function before it is delivered again.
    pub timeout: Duration,
    /// How often a task is delivered before the queue gives it up.
    pub deliveries: u32,
}

/// Why `job` is stalled at `now`, or `None` while it moves (or has finished). A job is
/// stalled when a task it waits for has gone longer than `timeout` without an answer:
/// its function stopped without recording an error (a timeout, running out of memory,
/// a crash), no function has taken it, or it was never sent.
pub fn stalled(
    job: &Job,
    shards: &[Shard],
    now: DateTime<Utc>,
    patience: Patience,
) -> Option<String> {
    let timeout = patience.timeout;
    if job.state.is_finished() {
        return None;
    }
    let created = age(&job.created_at, now);
    if !job.tasks_sent && job.state == JobState::Staging {
        return (created > timeout).then(|| {
            format!(
                "its shard tasks were not sent {} after it was planned (the trigger stopped in between); \
                 the delivery's next notification sends them, or import the manifest again",
                seconds(created)
            )
        });
    }
    let mut unfinished = shards.iter().filter(|s| !s.done).peekable();
    if unfinished.peek().is_some() {
        let reasons: Vec<String> = unfinished
            .filter_map(|shard| {
                let what = format!("shard {}", shard.index);
                waiting(
                    &what,
                    "worker",
                    shard.last_attempt.as_ref(),
                    created,
                    now,
                    patience,
                )
            })
            .collect();
        return (!reasons.is_empty()).then(|| reasons.join("; "));
    }
    // Every shard is staged: the commit is what the job waits for.
    let since = age(&job.updated_at, now);
    waiting(
        "the commit",
        "committer",
        job.commit_attempt.as_ref(),
        since,
        now,
        patience,
    )
}

/// Why the task `what` is stalled: its latest delivery, or for how long it has waited
/// for a first one.
fn waiting(
    what: &str,
    function: &str,
    attempt: Option<&Attempt>,
    waited: Duration,
    now: DateTime<Utc>,
    patience: Patience,
) -> Option<String> {
    let (timeout, deliveries) = (patience.timeout, patience.deliveries);
    match attempt {
        None => (waited > timeout).then(|| {
            format!(
                "{what} has waited {} for a {function}: is one running?",
                seconds(waited)
            )
        }),
        // A recorded error is a retry in progress, not a stall.
        Some(Attempt { error: Some(_), .. }) => None,
        Some(attempt) => {
            let running = age(&attempt.started_at, now);
            (running > timeout).then(|| {
                format!(
                    "{what}: delivery {} of {deliveries} started {} ago and neither finished nor failed; \
                     its {function} stopped without a word (a timeout, running out of memory, a crash). \
                     The queue delivers it again, and after delivery {deliveries} fails the job",
                    attempt.delivery,
                    seconds(running)
                )
            })
        }
    }
}

/// How long before `now` the RFC 3339 time `at` was; an unreadable time counts as
/// long ago, a time ahead of `now` as no time at all.
fn age(at: &str, now: DateTime<Utc>) -> Duration {
    match DateTime::parse_from_rfc3339(at) {
        Ok(at) => (now - at.to_utc()).to_std().unwrap_or_default(),
        Err(_) => Duration::MAX,
    }
}

fn seconds(duration: Duration) -> String {
    if duration == Duration::MAX {
        "an unknown time".to_string()
    } else {
        format!("{} s", duration.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(state: JobState, created: &str, tasks_sent: bool) -> Job {
        serde_json::from_value(serde_json::json!({
            "id": "j1", "repository": "photos", "manifest": "s3://inv/m/manifest.json",
            "dry_run": false, "state": state, "created_at": created, "updated_at": created,
            "source_bucket": "src", "inventory_created_at": "", "files_total": 2,
            "bytes_total": 10, "shards_total": 2, "tasks_sent": tasks_sent,
            "summary": null, "commit_id": null, "error": null
        }))
        .unwrap()
    }

    fn shard(index: usize, done: bool, attempt: Option<Attempt>) -> Shard {
        let mut shard: Shard = serde_json::from_value(serde_json::json!({
            "index": index, "files": ["a"], "bytes": 5, "done": done, "rows": 0,
            "entries": 0, "staged_bytes": 0,
            "skipped": {"noncurrent_version": 0, "delete_marker": 0, "incomplete_row": 0},
            "duplicate_keys": 0
        }))
        .unwrap();
        shard.last_attempt = attempt;
        shard
    }

    fn at(time: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(time).unwrap().to_utc()
    }

    const TIMEOUT: Patience = Patience {
        timeout: Duration::from_secs(30),
        deliveries: 3,
    };
    const T0: &str = "2026-12-01T10:00:00+00:00";

    #[test]
    fn a_worker_that_stopped_without_a_word_stalls_its_shard_after_one_timeout() {
        let attempt = Attempt {
            delivery: 2,
            started_at: "2026-12-01T10:00:10+00:00".into(),
            error: None,
        };
        let job = job(JobState::Staging, T0, true);
        let shards = [shard(0, true, None), shard(1, false, Some(attempt))];
        assert_eq!(
            stalled(&job, &shards, at("2026-12-01T10:00:40+00:00"), TIMEOUT),
            None
        );
        assert_eq!(
            stalled(&job, &shards, at("2026-12-01T10:00:41+00:00"), TIMEOUT).unwrap(),
            "shard 1: delivery 2 of 3 started 31 s ago and neither finished nor failed; its worker \
             stopped without a word (a timeout, running out of memory, a crash). The queue delivers \
             it again, and after delivery 3 fails the job"
        );
    }

    #[test]
    fn a_shard_retrying_after_an_error_is_not_stalled() {
        let attempt = Attempt {
            delivery: 1,
            started_at: T0.into(),
            error: Some("S3 said 503".into()),
        };
        let job = job(JobState::Staging, T0, true);
        let shards = [shard(0, false, Some(attempt))];
        assert_eq!(
            stalled(&job, &shards, at("2026-12-01T11:00:00+00:00"), TIMEOUT),
            None
        );
    }

    #[test]
    fn tasks_nobody_takes_and_tasks_never_sent_are_named() {
        let now = at("2026-12-01T10:01:00+00:00");
        let waiting = job(JobState::Staging, T0, true);
        assert_eq!(
            stalled(&waiting, &[shard(0, false, None)], now, TIMEOUT).unwrap(),
            "shard 0 has waited 60 s for a worker: is one running?"
        );
        let unsent = job(JobState::Staging, T0, false);
        assert!(
            stalled(&unsent, &[shard(0, false, None)], now, TIMEOUT)
                .unwrap()
                .starts_with("its shard tasks were not sent 60 s after it was planned")
        );
        let committing = job(JobState::Committing, T0, true);
        assert_eq!(
            stalled(&committing, &[shard(0, true, None)], now, TIMEOUT).unwrap(),
            "the commit has waited 60 s for a committer: is one running?"
        );
        let finished = job(JobState::Committed, T0, true);
        assert_eq!(stalled(&finished, &[], now, TIMEOUT), None);
    }
}
