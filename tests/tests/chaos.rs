//! Crashes: the trigger, the worker and the committer run as separate `local --function`
//! processes, as Lambda runs them; in each seeded run one of them is SIGKILLed at a
//! random moment of an import and started again. Every import must end committed once,
//! with the exact tree and summary, merged into `main`, and no job left unfinished.
//!
//! `CHAOS_RUNS` runs (default 2, one at each size) from seed `CHAOS_SEED` (default 1):
//! `make test` runs the short version, `make chaos` fifty.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use integration_tests::{
    LocalStack, as_tree, env_number, imported_into_photos, ok_json, workspace_root,
};
use inventory_catalog::tree::RangeParams;
use inventory_devtools::generator::{GeneratorOptions, generate_inventory};
use inventory_importer::pipeline::IMPORT_BRANCH;

/// The functions, as `local --function` names them.
const FUNCTIONS: [&str; 3] = ["trigger", "worker", "committer"];

/// A run's size: objects, data files, and the shard target size that plans them.
#[derive(Debug, Clone, Copy)]
struct Size {
    objects: u64,
    files: usize,
    shard_bytes: u64,
    /// Kills land within this long after the delivery.
    window: Duration,
}

const SIZES: [Size; 2] = [
    // One shard.
    Size {
        objects: 400,
        files: 2,
        shard_bytes: 256 << 20,
        window: Duration::from_millis(1500),
    },
    // Several shards, overlapping files of a versioned bucket.
    Size {
        objects: 6000,
        files: 6,
        shard_bytes: 1,
        window: Duration::from_millis(4000),
    },
];

/// The three function processes of one run; each is SIGKILLed when dropped.
struct Functions {
    stack_endpoint: String,
    shard_bytes: u64,
    logs: PathBuf,
    children: Vec<Child>,
    starts: usize,
}

impl Functions {
    fn start(stack: &LocalStack, shard_bytes: u64, logs: PathBuf) -> Functions {
        let mut functions = Functions {
            stack_endpoint: stack.endpoint.clone(),
            shard_bytes,
            logs,
            children: Vec::new(),
            starts: 0,
        };
        for index in 0..FUNCTIONS.len() {
            let child = functions.spawn(stack, index);
            functions.children.push(child);
        }
        functions
    }

    fn spawn(&mut self, stack: &LocalStack, index: usize) -> Child {
        self.starts += 1;
        let log = self
            .logs
            .join(format!("{}-{}.log", FUNCTIONS[index], self.starts));
        let log = File::create(&log).unwrap_or_else(|err| panic!("{}: {err}", log.display()));
        debug_assert_eq!(stack.endpoint, self.stack_endpoint);
        stack
            .cli()
            .env("LOCAL_VISIBILITY_TIMEOUT_SECONDS", "2")
            .env("TASKS_RESEND_AFTER_SECONDS", "3")
            .env("SHARD_TARGET_BYTES", self.shard_bytes.to_string())
            .env("RUST_LOG", "info")
            .args(["local", "--function", FUNCTIONS[index]])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|err| panic!("starting the {}: {err}", FUNCTIONS[index]))
    }

    /// SIGKILLs function `index` and starts it again.
    fn kill_and_restart(&mut self, stack: &LocalStack, index: usize) {
        let child = &mut self.children[index];
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let restarted = self.spawn(stack, index);
        self.children[index] = restarted;
    }
}

impl Drop for Functions {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What one run did, for the summary.
#[derive(Debug)]
struct Outcome {
    /// Staged batches of killed attempts, left for their TTL.
    orphans: usize,
    seed: u64,
    objects: u64,
    shards: u64,
    killed: &'static str,
    after: Duration,
    took: Duration,
}

/// One seeded run on a stack of its own.
async fn run(seed: u64) -> Outcome {
    let mut rng = StdRng::seed_from_u64(seed);
    let size = SIZES[(seed % SIZES.len() as u64) as usize];
    let stack = LocalStack::start().await;
    stack.photos_source(Some("main")).await;
    let cli = || stack.cli();
    let logs = workspace_root().join(format!("target/chaos/seed-{seed}"));
    std::fs::create_dir_all(&logs).unwrap();
    let mut functions = Functions::start(&stack, size.shard_bytes, logs.clone());

    // The delivery lands; its notifications reach the trigger.
    let mut options =
        GeneratorOptions::new("s3://inventory-dest/inv".parse().unwrap(), "photos-source");
    options.objects = size.objects;
    options.files = size.files;
    options.seed = seed;
    options.versioned = size.files > 2;
    options.overlap = size.files > 2;
    options.created_at = "2026-11-20T01:00:00Z".parse::<DateTime<Utc>>().unwrap();
    let landed = Instant::now();
    let generated = generate_inventory(&stack.store(), &options).await.unwrap();

    // One of the three is killed at a random moment of the import and started again.
    let victim = rng.random_range(0..FUNCTIONS.len());
    let after = Duration::from_millis(rng.random_range(0..size.window.as_millis() as u64));
    tokio::time::sleep(after.saturating_sub(landed.elapsed())).await;
    functions.kill_and_restart(&stack, victim);

    // The job ends (a committed one once its merge into main is recorded), and every
    // queue empties.
    let job = loop {
        let jobs = ok_json(cli().args(["jobs", "photos", "--json"]));
        let finished =
            jobs.as_array().and_then(|jobs| jobs.first()).filter(|job| {
                match job["state"].as_str().unwrap() {
                    "staging" | "committing" => false,
                    "committed" => !job["merge"].is_null(),
                    _ => true,
                }
            });
        if let Some(job) = finished {
            break job.clone();
        }
        assert!(
            landed.elapsed() < Duration::from_secs(120),
            "seed {seed}: no job finished within 120 s (the {} was killed after {after:?}; logs in {}): {jobs}",
            FUNCTIONS[victim],
            logs.display()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    wait_until_idle(&stack, seed).await;
    let took = landed.elapsed();
    drop(functions);

    // Committed once, with the exact summary and tree, merged into main.
    let context = format!(
        "seed {seed}: the {} was killed after {after:?} (logs in {})",
        FUNCTIONS[victim],
        logs.display()
    );
    let jobs = ok_json(cli().args(["jobs", "photos", "--json"]));
    assert_eq!(jobs.as_array().unwrap().len(), 1, "{context}: {jobs}");
    // A late duplicate of the commit task may record the same merge again.
    let recorded = |job: &Value| {
        let mut job = job.clone();
        job["updated_at"] = Value::Null;
        job
    };
    assert_eq!(
        recorded(&jobs[0]),
        recorded(&job),
        "{context}: the job changed after it finished"
    );
    assert_eq!(job["state"], "committed", "{context}: {job}");
    let summary = &job["summary"];
    let counts = |s: &Value| {
        [
            s["added"].as_u64(),
            s["changed"].as_u64(),
            s["deleted"].as_u64(),
            s["unchanged"].as_u64(),
            s["total"].as_u64(),
        ]
    };
    assert_eq!(
        counts(summary),
        [
            Some(size.objects),
            Some(0),
            Some(0),
            Some(0),
            Some(size.objects)
        ],
        "{context}"
    );
    assert_eq!(
        serde_json::to_value(generated.skipped).unwrap(),
        summary["skipped"],
        "{context}"
    );
    let log = ok_json(cli().args(["log", "photos", IMPORT_BRANCH, "--json"]));
    assert_eq!(
        log.as_array().unwrap().len(),
        2,
        "{context}: one import commit over the first: {log}"
    );
    assert_eq!(log[0]["id"], job["commit_id"], "{context}");
    let pipeline = stack.pipeline(RangeParams::default()).await;
    let tree = imported_into_photos(&pipeline).await;
    assert!(
        tree == as_tree("photos-source", &generated.expected),
        "{context}: the tree differs from the delivery's {} objects ({} entries)",
        generated.expected.len(),
        tree.len()
    );
    assert_eq!(job["merge"]["branch"], "main", "{context}: {job}");
    let main = ok_json(cli().args(["branch", "show", "photos", "main", "--json"]));
    assert_eq!(main["commit"]["id"], job["merge"]["commit"], "{context}");
    assert_eq!(
        main["commit"]["id"], job["commit_id"],
        "{context}: fast-forward"
    );
    // What a killed worker staged is never read (the shard records the attempt that
    // was counted) and expires with its TTL; nothing else is left.
    let orphans = staged_leftovers(&stack, &pipeline, job["id"].as_str().unwrap(), &context).await;
    Outcome {
        orphans,
        seed,
        objects: size.objects,
        shards: job["shards_total"].as_u64().unwrap_or_default(),
        killed: FUNCTIONS[victim],
        after,
        took,
    }
}

/// The staged batches left after the job: each must be of an attempt that was not
/// counted (a killed worker's), and expire within the staging TTL. Returns how many.
async fn staged_leftovers(
    stack: &LocalStack,
    pipeline: &inventory_importer::pipeline::Pipeline,
    job: &str,
    context: &str,
) -> usize {
    let counted: Vec<String> = pipeline
        .jobs
        .shards(job)
        .await
        .unwrap()
        .iter()
        .map(|shard| format!("{job}#{:05}#{:016x}#", shard.index, shard.attempt))
        .collect();
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = stack
            .dynamo()
            .scan()
            .table_name("inventory-import-staging")
            .projection_expression("pk, expires_at")
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        items.extend(page.items().iter().cloned());
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    let now = Utc::now().timestamp();
    for item in &items {
        let key = item["pk"].as_s().unwrap();
        assert!(
            key.starts_with(&format!("{job}#")),
            "{context}: {key} is not of the job"
        );
        assert!(
            !counted.iter().any(|prefix| key.starts_with(prefix)),
            "{context}: {key} of a counted attempt was left"
        );
        let expires: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
        let ttl = inventory_importer::staging::TTL_SECONDS;
        assert!(
            (now..=now + ttl).contains(&expires),
            "{context}: {key} expires at {expires}"
        );
    }
    items.len()
}

/// Waits until no queue holds a message, waiting or in flight.
async fn wait_until_idle(stack: &LocalStack, seed: u64) {
    let queues = [
        "inventory-import-manifest-events",
        "inventory-import-shard-tasks",
        "inventory-import-commit-tasks",
        "inventory-import-shard-tasks-dlq",
        "inventory-import-commit-tasks-dlq",
    ];
    let waited = Instant::now();
    let mut idle_checks = 0;
    while idle_checks < 2 {
        let mut busy = Vec::new();
        for queue in queues {
            let (waiting, in_flight) = stack.queue_counts(queue).await;
            if waiting + in_flight > 0 {
                busy.push(format!("{queue}: {waiting} waiting, {in_flight} in flight"));
            }
        }
        idle_checks = if busy.is_empty() { idle_checks + 1 } else { 0 };
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "seed {seed}: the queues did not empty: {busy:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn every_import_survives_a_function_killed_at_a_random_moment() {
    let runs = env_number("CHAOS_RUNS", 2);
    let first = env_number("CHAOS_SEED", 1);
    let mut outcomes = Vec::new();
    for seed in first..first + runs {
        let outcome = run(seed).await;
        println!(
            "seed {:>3}: {:>5} objects, {} shard(s); the {:<9} killed after {:>4} ms; committed once, exact, in {:.1} s; {} batch(es) of killed attempts left for their TTL",
            outcome.seed,
            outcome.objects,
            outcome.shards,
            outcome.killed,
            outcome.after.as_millis(),
            outcome.took.as_secs_f64(),
            outcome.orphans
        );
        outcomes.push(outcome);
    }
    let kills = |function: &str| outcomes.iter().filter(|o| o.killed == function).count();
    println!(
        "{} runs: {} kills (trigger {}, worker {}, committer {}); every import committed exactly once",
        outcomes.len(),
        outcomes.len(),
        kills("trigger"),
        kills("worker"),
        kills("committer")
    );
}
