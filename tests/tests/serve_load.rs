//! A bounded load on loopback: 32 concurrent clients listing, reading metadata and
//! reading objects through the endpoint at once, seeded. No request fails, and the
//! server's memory stays bounded. (`make bench` runs the same load for 30 s over a
//! 1,000,000-object import.)

use std::time::Duration;

use integration_tests::LocalStack;
use integration_tests::serve::Server;
use inventory_devtools::serve_bench::{self, Reads, Target};

/// The server's peak resident memory, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap()
        * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_clients_list_and_read_at_once_without_an_error() {
    let stack = LocalStack::start().await;
    stack.imported_photos(60, false).await;
    let mut server = Server::start(&stack);
    let client = server.sdk().await;
    let target = Target {
        client,
        bucket: "photos".to_string(),
        prefix: "main/".to_string(),
    };
    let (listed, keys) = serve_bench::list(&target, 7, None, 1000).await.unwrap();
    assert_eq!((listed.keys, listed.pages), (60, 9));
    let reads = Reads {
        repository: "photos".to_string(),
        keys: keys.clone(),
    };
    let seconds = integration_tests::env_number("SERVE_LOAD_SECONDS", 5);
    let load = serve_bench::load(&target, &keys, &reads, 32, Duration::from_secs(seconds), 7)
        .await
        .unwrap();
    assert_eq!(load.errors, 0, "{:?}", load.first_errors);
    assert!(
        load.lists > 32 && load.heads > 32 && load.gets > 32,
        "{load:?}"
    );
    assert!(server.running());
    let rss = peak_rss(server.pid());
    assert!(rss < 256 << 20, "serve's peak RSS is {} MiB", rss >> 20);
    eprintln!(
        "{:.0} requests/s from 32 clients, serve's peak RSS {} MiB",
        load.requests_per_second,
        rss >> 20
    );
}
