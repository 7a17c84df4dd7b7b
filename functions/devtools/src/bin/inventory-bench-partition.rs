//! One partition's commit of `inventory-import dev bench-scale`, in a process of its
//! own, started by it: reads the plan it wrote, commits the partition, prints its
//! figures as JSON on stdout.
//!
//! It allocates with the system allocator, as the committer function does, so that the
//! benchmark's peak memory is the committer's.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Commit one partition of a `dev bench-scale` plan and print its figures as JSON.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// The plan `inventory-import dev bench-scale` wrote
    #[arg(long)]
    plan: PathBuf,
    /// Which partition of the plan to commit (0 is the first)
    #[arg(long)]
    partition: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match inventory_devtools::scale_bench::run_partition(&args.plan, args.partition).await {
        Ok(figures) => match serde_json::to_string(&figures) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!(
                    "error: printing partition {}'s figures: {e}",
                    args.partition
                );
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!(
                "error: partition {} of {}: {e}",
                args.partition,
                args.plan.display()
            );
            ExitCode::FAILURE
        }
    }
}
