//! The whole product on the local stack, as a user drives it: S3 notifications to
//! SQS, the three functions run by `inventory-import local`, the CLI.

use std::time::{Duration, Instant};

use integration_tests::faults::{Fault, FaultProxy, When};
use integration_tests::{LocalStack, finished, ok_json};
use serde_json::Value;

use inventory_catalog::tree::RangeParams;
use inventory_importer::pipeline::{ImportRequest, Started};

#[tokio::test]
async fn notifications_drive_an_import_into_main() {
    let stack = LocalStack::start().await;
    stack.create_bucket("inventory-dest").await;
    stack.create_bucket("catalog-storage").await;
    let cli = || stack.cli();

    let init = ok_json(cli().args([
        "dev",
        "init",
        "--inventory-bucket",
        "inventory-dest",
        "--json",
    ]));
    assert_eq!(init["queues"].as_array().unwrap().len(), 3);
    ok_json(cli().args([
        "repo",
        "create",
        "photos",
        "s3://catalog-storage/photos",
        "--json",
    ]));
    let source = ok_json(cli().args([
        "source",
        "add",
        "photos",
        "--inventory",
        "s3://inventory-dest/inv/photos-source/daily",
        "--merge-into",
        "main",
        "--json",
    ]));
    assert_eq!(
        source["inventory"],
        "s3://inventory-dest/inv/photos-source/daily/"
    );

    // A delivery lands: S3 notifies the manifest-events queue.
    let generated = stack.generate_photos(&[
        "--objects",
        "3000",
        "--files",
        "3",
        "--versioned",
        "--shuffle",
        "--created-at",
        "2026-11-25T01:00:00Z",
    ]);
    let stats = ok_json(cli().args(["local", "--until-idle", "--json"]));
    assert_eq!(stats["commit_tasks"], 1);
    assert_eq!(stats["failures"], 0);
    assert!(stats["shard_tasks"].as_u64().unwrap() >= 1);

    let jobs = ok_json(cli().args(["jobs", "photos", "--json"]));
    let jobs = jobs.as_array().unwrap();
    assert_eq!(
        jobs.len(),
        1,
        "manifest.json and manifest.checksum make one job"
    );
    assert_eq!(jobs[0]["state"], "committed");
    assert_eq!(jobs[0]["summary"]["added"], 3000);
    assert_eq!(jobs[0]["summary"]["skipped"], generated["skipped"]);
    let job_id = jobs[0]["id"].as_str().unwrap();
    let status = ok_json(cli().args(["status", "photos", job_id, "--json"]));
    assert_eq!(status["shards_done"], status["shards_total"]);

    // Merged into main automatically.
    let listed = ok_json(cli().args(["ls", "photos", "main", "--recursive", "--json"]));
    assert_eq!(listed["entries"].as_array().unwrap().len(), 3000);
    let log = ok_json(cli().args(["log", "photos", "import-from-inventory", "--json"]));
    assert_eq!(log[0]["message"], "Import from photos-source");

    // The same manifest again through the CLI: already imported, no new commit.
    let manifest = generated["manifest"].as_str().unwrap();
    let again = ok_json(cli().args(["import", "photos", "--manifest", manifest, "--json"]));
    assert_eq!(again["already_imported"], true);
    assert_eq!(again["commit"], log[0]["id"]);
    // A dry run answers with its counts.
    let dry_run = ["import", "photos", "--manifest", manifest, "--dry-run"];
    let dry = ok_json(cli().args(dry_run).arg("--json"));
    assert_eq!(dry["state"], "dry_run_complete");
    assert_eq!(dry["summary"]["unchanged"], 3000);
    assert_eq!(dry["summary"]["added"], 0);
    // A delivery larger than DRY_RUN_IN_PROCESS_BYTES is dry-run by the workers.
    let queued = ok_json(
        cli()
            .env("DRY_RUN_IN_PROCESS_BYTES", "1")
            .args(dry_run)
            .arg("--json"),
    );
    assert_eq!(queued["state"], "staging");
    ok_json(cli().args(["local", "--until-idle", "--json"]));
    let queued =
        ok_json(cli().args(["status", "photos", queued["id"].as_str().unwrap(), "--json"]));
    assert_eq!(queued["state"], "dry_run_complete");
    assert_eq!(queued["summary"], dry["summary"]);
    let status = cli()
        .args(["status", "photos", queued["id"].as_str().unwrap()])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.contains("\nState        dry run complete\n"),
        "{status}"
    );
    let bad = cli()
        .env("DRY_RUN_IN_PROCESS_BYTES", "64MB")
        .args(dry_run)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr),
        "error: DRY_RUN_IN_PROCESS_BYTES is \"64MB\", not a number of bytes\n"
    );

    // The next day's delivery, imported by hand: queued, then run by the workers.
    let next = ok_json(cli().args([
        "dev",
        "generate-inventory",
        "--destination",
        "s3://other-dest/inv",
        "--source-bucket",
        "photos-source",
        "--objects",
        "2000",
        "--files",
        "2",
        "--seed",
        "7",
        "--created-at",
        "2026-11-26T01:00:00Z",
        "--json",
    ]));
    let next_manifest = next["manifest"].as_str().unwrap();
    let queued = ok_json(cli().args(["import", "photos", "--manifest", next_manifest, "--json"]));
    assert_eq!(queued["state"], "staging");
    let job = queued["id"].as_str().unwrap();
    let waiting = ok_json(cli().args(["status", "photos", job, "--json"]));
    assert_eq!(
        (
            waiting["shards_done"].as_u64(),
            waiting["files_done"].as_u64()
        ),
        (Some(0), Some(0))
    );
    assert_eq!(waiting["files_total"], 2);
    let stats = ok_json(cli().args(["local", "--until-idle", "--json"]));
    let done = ok_json(cli().args(["status", "photos", job, "--json"]));
    assert_eq!(stats["shard_tasks"], done["shards_total"]);
    assert_eq!(done["state"], "committed");
    assert_eq!(done["files_done"], 2);
    assert_eq!(done["summary"]["added"], 2000);
    assert_eq!(done["summary"]["deleted"], 3000);
    assert_eq!(done["summary"]["total"], 2000);
    let listed = ok_json(cli().args([
        "ls",
        "photos",
        "import-from-inventory",
        "--recursive",
        "--json",
    ]));
    assert_eq!(listed["entries"].as_array().unwrap().len(), 2000);
    // That inventory has no import source, so nothing merged it into main.
    let main = ok_json(cli().args(["ls", "photos", "main", "--recursive", "--json"]));
    assert_eq!(main["entries"].as_array().unwrap().len(), 3000);
}

/// The product's resources on the stack, a repository `photos` fed by the inventory
/// configuration `daily` of `photos-source`, and one delivery of it landed (its
/// notifications wait in the manifest-events queue). Returns the generator's report.
async fn landed_delivery(stack: &LocalStack, objects: u64, files: usize) -> Value {
    stack.photos_source(None).await;
    stack.generate_photos(&[
        "--objects",
        &objects.to_string(),
        "--files",
        &files.to_string(),
        "--created-at",
        "2026-11-25T01:00:00Z",
    ])
}

#[tokio::test]
async fn each_function_can_run_in_a_process_of_its_own() {
    let stack = LocalStack::start().await;
    landed_delivery(&stack, 500, 2).await;
    let cli = || stack.cli();

    // The trigger alone starts the job and leaves its shard tasks queued. Its
    // notifications: S3's test event, manifest.json and manifest.checksum.
    let trigger = ok_json(cli().args(["local", "--function", "trigger", "--until-idle", "--json"]));
    assert_eq!(
        (
            trigger["notifications"].as_u64(),
            trigger["shard_tasks"].as_u64()
        ),
        (Some(3), Some(0))
    );
    let jobs = ok_json(cli().args(["jobs", "photos", "--json"]));
    assert_eq!(jobs[0]["state"], "staging");
    assert_eq!(jobs[0]["shards_done"], 0);

    // Workers and committer, in another process, finish it.
    let rest = ok_json(cli().args([
        "local",
        "--function",
        "worker",
        "--function",
        "committer",
        "--until-idle",
        "--json",
    ]));
    assert_eq!(
        (
            rest["notifications"].as_u64(),
            rest["commit_tasks"].as_u64()
        ),
        (Some(0), Some(1))
    );
    assert_eq!(rest["shard_tasks"], jobs[0]["shards_total"]);
    let jobs = ok_json(cli().args(["jobs", "photos", "--json"]));
    assert_eq!(jobs[0]["state"], "committed");
    assert_eq!(jobs[0]["summary"]["added"], 500);
}

#[tokio::test]
async fn a_job_whose_tasks_were_never_sent_is_finished_by_a_later_notification() {
    let stack = LocalStack::start().await;
    let generated = landed_delivery(&stack, 300, 3).await;
    let cli = || stack.cli();
    // A trigger recorded the job, then failed before sending its shard tasks.
    let pipeline = stack.pipeline(RangeParams::default()).await;
    let request = ImportRequest {
        repository: "photos".into(),
        manifest: generated["manifest"].as_str().unwrap().parse().unwrap(),
        dry_run: false,
        force: false,
    };
    let Started::Started { job, tasks } = pipeline.start(&request).await.unwrap() else {
        panic!("expected a new job")
    };
    assert!(!job.tasks_sent);

    // The delivery's notifications, coming back after the trigger's timeout (here at
    // once), find the job and send its tasks once.
    let stats = ok_json(cli().env("TASKS_RESEND_AFTER_SECONDS", "0").args([
        "local",
        "--until-idle",
        "--json",
    ]));
    assert_eq!(stats["shard_tasks"], tasks.len());
    assert_eq!(stats["commit_tasks"], 1);
    let jobs = ok_json(cli().args(["jobs", "photos", "--json"]));
    assert_eq!(jobs.as_array().unwrap().len(), 1);
    assert_eq!(jobs[0]["id"], job.id);
    assert_eq!(jobs[0]["state"], "committed");
    assert_eq!(jobs[0]["tasks_sent"], true);
    assert_eq!(jobs[0]["summary"]["added"], 300);
}

#[tokio::test]
async fn inspect_against_a_repository_predicts_the_import_and_records_nothing() {
    let stack = LocalStack::start().await;
    landed_delivery(&stack, 3000, 3).await;
    let cli = || stack.cli();
    ok_json(cli().args(["local", "--until-idle", "--json"]));
    let head =
        ok_json(cli().args(["log", "photos", "import-from-inventory", "--json"]))[0]["id"].clone();

    // The next day's delivery of the same bucket.
    let next = stack.generate_photos(&[
        "--objects",
        "3000",
        "--files",
        "3",
        "--added",
        "30",
        "--changed",
        "40",
        "--deleted",
        "20",
        "--created-at",
        "2026-11-26T01:00:00Z",
    ]);
    let manifest = next["manifest"].as_str().unwrap();
    let preview = ok_json(cli().args(["inspect", manifest, "--against", "photos", "--json"]));
    assert_eq!(preview["branch"], "import-from-inventory");
    assert_eq!(preview["commit_id"], head);
    let summary = &preview["summary"];
    assert_eq!(
        [
            &summary["added"],
            &summary["changed"],
            &summary["deleted"],
            &summary["unchanged"],
            &summary["total"],
        ],
        [30, 40, 20, 2940, 3010]
    );

    // Nothing was recorded: one job, the branch where it was.
    let jobs = ok_json(cli().args(["jobs", "photos", "--json"]));
    assert_eq!(jobs.as_array().unwrap().len(), 1);
    let log = ok_json(cli().args(["log", "photos", "import-from-inventory", "--json"]));
    assert_eq!(log[0]["id"], head);

    // The import itself reports exactly what was predicted.
    ok_json(cli().args(["local", "--until-idle", "--json"]));
    let jobs = ok_json(cli().args(["jobs", "photos", "--json"]));
    assert_eq!(jobs[0]["state"], "committed");
    assert_eq!(jobs[0]["summary"], *summary);

    // An unknown repository is named in the error, and nothing is read for it.
    let missing = cli()
        .args(["inspect", manifest, "--against", "nosuch"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr),
        format!(
            "error: diffing {manifest} against repository nosuch: repository nosuch does not exist\n"
        )
    );
}

#[tokio::test]
async fn importing_a_failed_delivery_exits_non_zero_with_or_without_json() {
    let stack = LocalStack::start().await;
    stack.create_bucket("inventory-dest").await;
    stack.create_bucket("catalog-storage").await;
    let cli = || stack.cli();
    ok_json(cli().args(["dev", "init", "--json"]));
    ok_json(cli().args([
        "repo",
        "create",
        "photos",
        "s3://catalog-storage/photos",
        "--json",
    ]));
    let generated = stack.generate_photos(&["--objects", "10", "--files", "1"]);
    let manifest = generated["manifest"].as_str().unwrap();
    let data_file: inventory_base::S3Url = generated["data_files"][0]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    stack.delete(&data_file).await;

    // The delivery is refused: its job records why.
    let refused = cli()
        .args(["import", "photos", "--manifest", manifest, "--json"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains(&data_file.to_string()), "{stderr}");

    // Asked again, the failed job answers: as JSON on stdout, and with a failing exit
    // status, as without --json.
    let again = cli()
        .args(["import", "photos", "--manifest", manifest, "--json"])
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "import --json of a failed job exits non-zero"
    );
    let job: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(job["state"], "failed");
    let job_id = job["id"].as_str().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&again.stderr).trim(),
        format!("error: job {job_id} failed")
    );
    let text = cli()
        .args(["import", "photos", "--manifest", manifest])
        .output()
        .unwrap();
    assert!(!text.status.success());
    assert_eq!(
        String::from_utf8_lossy(&text.stderr).trim(),
        format!("error: job {job_id} failed")
    );
}

#[tokio::test]
async fn the_shard_target_size_is_a_setting() {
    let stack = LocalStack::start().await;
    landed_delivery(&stack, 300, 3).await;
    let cli = || stack.cli();
    // Three small data files make one shard by default; one byte per shard makes
    // each its own.
    let stats =
        ok_json(
            cli()
                .env("SHARD_TARGET_BYTES", "1")
                .args(["local", "--until-idle", "--json"]),
        );
    assert_eq!(stats["shard_tasks"], 3);
    let jobs = ok_json(cli().args(["jobs", "photos", "--json"]));
    assert_eq!(jobs[0]["shards_total"], 3);
    assert_eq!(jobs[0]["state"], "committed");
    assert_eq!(jobs[0]["summary"]["total"], 300);

    let refused = cli()
        .env("SHARD_TARGET_BYTES", "0")
        .args(["local", "--until-idle"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr).trim(),
        "error: SHARD_TARGET_BYTES is \"0\", not a positive number of bytes"
    );
}

#[tokio::test]
async fn a_killed_worker_s_task_comes_back_after_the_local_visibility_timeout() {
    let stack = LocalStack::start().await;
    landed_delivery(&stack, 300, 2).await;
    let cli = || stack.cli();
    // The trigger plans the delivery and sends its shard task.
    ok_json(cli().args(["local", "--until-idle", "--function", "trigger", "--json"]));
    let counts = || stack.queue_counts("inventory-import-shard-tasks");
    assert_eq!(counts().await, (1, 0));

    // A worker, reaching the stack through a proxy that holds its reads of the data
    // files, takes the task and is killed while it works on it.
    let proxy = hanging_reads(&stack).await;
    let mut worker = worker_through(cli().env("LOCAL_VISIBILITY_TIMEOUT_SECONDS", "2"), &proxy);
    assert!(
        proxy
            .wait_for_call("GetObject", Duration::from_secs(30))
            .await,
        "the worker never read"
    );
    assert_eq!(counts().await, (0, 1), "the task is in flight");
    worker.kill().unwrap(); // SIGKILL
    worker.wait().unwrap();
    let killed = Instant::now();

    // The task is visible again within seconds, not after 300.
    while counts().await != (1, 0) {
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "the killed worker's task did not come back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Another worker finishes the import, once.
    let stats = ok_json(cli().args(["local", "--until-idle", "--json"]));
    assert_eq!(
        (stats["shard_tasks"].as_u64(), stats["failures"].as_u64()),
        (Some(1), Some(0))
    );
    let jobs = ok_json(cli().args(["jobs", "photos", "--json"]));
    assert_eq!(jobs[0]["state"], "committed");
    assert_eq!(jobs[0]["summary"]["total"], 300);
}

#[tokio::test]
async fn a_shard_whose_worker_dies_on_every_delivery_fails_its_job_with_why() {
    let stack = LocalStack::start().await;
    landed_delivery(&stack, 300, 2).await;
    let cli = || {
        let mut command = stack.cli();
        command.env("LOCAL_VISIBILITY_TIMEOUT_SECONDS", "2");
        command
    };
    ok_json(cli().args(["local", "--until-idle", "--function", "trigger", "--json"]));
    let job = ok_json(cli().args(["jobs", "photos", "--json"]))[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let status = || ok_json(cli().args(["status", "photos", &job, "--json"]));
    assert_eq!(status()["stalled"], Value::Null, "nothing has waited yet");

    // Each delivery of the shard task goes to a worker whose reads hang, and which is
    // killed (as Lambda ends a function at its timeout, or when it runs out of memory).
    let proxy = hanging_reads(&stack).await;
    for delivery in 1..=3u64 {
        let mut worker = worker_through(&mut cli(), &proxy);
        let read = proxy
            .wait_for_calls("GetObject", delivery, Duration::from_secs(30))
            .await;
        worker.kill().unwrap(); // SIGKILL
        worker.wait().unwrap();
        assert!(read, "delivery {delivery} never reached the worker");
        // Once the task has waited longer than the visibility timeout, status says the
        // job is stalled, and why.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let stalled = status()["stalled"].as_str().unwrap().to_string();
        let started = format!("shard 0: delivery {delivery} of 3 started ");
        assert!(stalled.starts_with(&started), "{stalled}");
        assert!(
            stalled.ends_with(
                " ago and neither finished nor failed; its worker stopped without a word (a \
                 timeout, running out of memory, a crash). The queue delivers it again, and \
                 after delivery 3 fails the job"
            ),
            "{stalled}"
        );
    }

    // The next receive moves the task to its dead-letter queue, where the committer
    // finds it and fails the job.
    let stats = ok_json(cli().args(["local", "--until-idle", "--json"]));
    assert_eq!(
        (
            stats["shard_tasks"].as_u64(),
            stats["given_up"].as_u64(),
            stats["commit_tasks"].as_u64()
        ),
        (Some(0), Some(1), Some(0))
    );
    let failed = status();
    assert_eq!(failed["state"], "failed");
    assert_eq!(
        failed["error"],
        "shard 0 (2 data files) was given up after 3 deliveries; last error: none recorded: the \
         worker stopped without one (a timeout, running out of memory, a crash)"
    );
    assert_eq!(failed["stalled"], Value::Null);
    assert_eq!(
        stack.queue_counts("inventory-import-shard-tasks-dlq").await,
        (0, 0)
    );
    // No branch moved: the import branch was never created.
    let branches = ok_json(cli().args(["branch", "list", "photos", "--json"]));
    let names: Vec<&str> = branches
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["main"]);
}

/// A proxy to the stack that holds every S3 read for a minute.
async fn hanging_reads(stack: &LocalStack) -> FaultProxy {
    let proxy = FaultProxy::start(&stack.endpoint).await;
    proxy.inject(
        "GetObject",
        Fault::Delay(Duration::from_secs(60)),
        When::Rate {
            probability: 1.0,
            seed: 1,
        },
    );
    proxy
}

/// A `local` worker (with `command`'s environment and options) reaching the stack
/// through `proxy`.
fn worker_through(command: &mut std::process::Command, proxy: &FaultProxy) -> std::process::Child {
    command
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .args(["local", "--function", "worker"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Runs `command` to its end without blocking this thread (a proxy in this process
/// may be serving it), and returns what it printed on stdout as JSON.
async fn finished_json(command: std::process::Command) -> Value {
    let stdout = finished(command).await;
    serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("{err}: {stdout}"))
}

/// Sends every message waiting in `queue` twice, as SQS's at-least-once delivery may
/// hand each out twice; returns how many there were.
async fn duplicate_messages(stack: &LocalStack, queue: &str) -> usize {
    let sqs = aws_sdk_sqs::Client::new(&stack.config);
    let url = stack.queue_url(queue).await;
    let mut bodies = Vec::new();
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if received.messages().is_empty() {
            break;
        }
        for message in received.messages() {
            bodies.push(message.body().unwrap().to_string());
            sqs.delete_message()
                .queue_url(&url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    for body in bodies.iter().chain(&bodies) {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    bodies.len()
}

#[tokio::test]
async fn runners_racing_on_duplicated_messages_commit_once_with_exact_counts() {
    let stack = LocalStack::start().await;
    landed_delivery(&stack, 3000, 6).await;
    // Every data file is a shard of its own; every runner takes one message at a time,
    // so that runners on the same queues share them instead of taking turns.
    let runner = |functions: &[&str]| {
        let mut command = stack.cli();
        command.env("SHARD_TARGET_BYTES", "1").args([
            "local",
            "--until-idle",
            "--batch-size",
            "1",
            "--json",
        ]);
        for function in functions {
            command.args(["--function", function]);
        }
        command
    };

    // Each notification of the delivery arrives twice, and two triggers handle them
    // at once: one job, whose six shard tasks are sent once.
    assert_eq!(
        duplicate_messages(&stack, "inventory-import-manifest-events").await,
        3
    );
    let (first, second) = tokio::join!(
        finished_json(runner(&["trigger"])),
        finished_json(runner(&["trigger"]))
    );
    assert_eq!(
        first["notifications"].as_u64().unwrap() + second["notifications"].as_u64().unwrap(),
        6
    );
    let jobs = ok_json(stack.cli().args(["jobs", "photos", "--json"]));
    assert_eq!(jobs.as_array().unwrap().len(), 1);
    assert_eq!(jobs[0]["shards_total"], 6);
    assert_eq!(
        stack.queue_counts("inventory-import-shard-tasks").await,
        (6, 0),
        "the shard tasks were sent once"
    );

    // Each shard task arrives twice, and three runners take them at once: two workers
    // on one shard, two shards finishing together, and the commit tasks of both copies
    // of the last shard for the committers. One runner's first two counting
    // transactions are cancelled for a TransactionConflict, as DynamoDB does when
    // another shard of the job is counted at the same moment.
    assert_eq!(
        duplicate_messages(&stack, "inventory-import-shard-tasks").await,
        6
    );
    let proxy = FaultProxy::start(&stack.endpoint).await;
    proxy.inject(
        "TransactWriteItems",
        Fault::TransactionConflict {
            items: 2,
            conflicts: vec![1],
        },
        When::Calls(vec![1, 2]),
    );
    let mut through_proxy = runner(&["worker", "committer"]);
    through_proxy.env("AWS_ENDPOINT_URL", &proxy.endpoint);
    let (a, b, c) = tokio::join!(
        finished_json(through_proxy),
        finished_json(runner(&["worker", "committer"])),
        finished_json(runner(&["worker", "committer"]))
    );
    let stats = [a, b, c];
    let total = |name: &str| -> u64 { stats.iter().map(|s| s[name].as_u64().unwrap()).sum() };
    assert_eq!(total("shard_tasks"), 12, "{stats:?}");
    assert_eq!(total("failures"), 0, "{stats:?}");
    assert!(total("commit_tasks") >= 1, "{stats:?}");
    let sharing = stats
        .iter()
        .filter(|s| s["shard_tasks"].as_u64() > Some(0))
        .count();
    assert!(
        sharing >= 2,
        "the runners took turns instead of sharing: {stats:?}"
    );
    assert!(proxy.calls("TransactWriteItems") > 2);
    assert_eq!(proxy.faults("TransactWriteItems"), 2);

    // One commit, exact counts, one job in a final state.
    let jobs = ok_json(stack.cli().args(["jobs", "photos", "--json"]));
    assert_eq!(jobs.as_array().unwrap().len(), 1);
    let job = &jobs[0];
    assert_eq!(job["state"], "committed", "{job}");
    assert_eq!(
        (job["shards_done"].as_u64(), job["shards_total"].as_u64()),
        (Some(6), Some(6))
    );
    let summary = &job["summary"];
    assert_eq!(
        [
            &summary["added"],
            &summary["changed"],
            &summary["deleted"],
            &summary["total"]
        ],
        [3000, 0, 0, 3000]
    );
    let log = ok_json(
        stack
            .cli()
            .args(["log", "photos", "import-from-inventory", "--json"]),
    );
    assert_eq!(log.as_array().unwrap().len(), 2, "one import commit: {log}");
    let listed = ok_json(stack.cli().args([
        "ls",
        "photos",
        "import-from-inventory",
        "--recursive",
        "--json",
    ]));
    assert_eq!(listed["entries"].as_array().unwrap().len(), 3000);
    assert_eq!(stack.count_items("inventory-import-staging").await, 0);
}
