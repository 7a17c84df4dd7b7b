//! The crates' boundaries, as Cargo resolves them: what each crate may build on, and
//! what never reaches a Lambda function.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Every package `package` is built with (normal dependencies only, for this host).
fn normal_dependencies(package: &str) -> BTreeSet<String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace");
    let output = Command::new(env!("CARGO"))
        .current_dir(workspace)
        .args([
            "tree",
            "--locked",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .args(["--format", "{p}", "-p", package])
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != package)
        .map(str::to_string)
        .collect()
}

fn assert_none_of(package: &str, forbidden: &[&str]) {
    let dependencies = normal_dependencies(package);
    let found: Vec<&&str> = forbidden
        .iter()
        .filter(|name| dependencies.contains(**name))
        .collect();
    assert!(found.is_empty(), "{package} is built with {found:?}");
}

#[test]
fn lambda_functions_are_built_without_the_devtools() {
    for function in ["trigger", "worker", "committer"] {
        let dependencies = normal_dependencies(function);
        assert!(
            dependencies.contains("inventory-runtime"),
            "{function}: {dependencies:?}"
        );
        assert_none_of(function, &["inventory-devtools", "rand"]);
    }
    assert_none_of("api", &["inventory-devtools", "rand"]);
}

/// The api function is as thin as the others: the endpoint's router (S3 requests, and
/// the JSON API, which starts imports as the trigger does) under `lambda_http`, and
/// nothing of the devtools.
#[test]
fn the_api_function_is_the_endpoint_under_lambda_http_alone() {
    let dependencies = normal_dependencies("api");
    for needed in ["inventory-serve", "lambda_http", "axum", "s3s"] {
        assert!(dependencies.contains(needed), "api: {dependencies:?}");
    }
    assert_none_of("api", &["inventory-devtools", "rand"]);
    let sources: BTreeSet<String> = std::fs::read_dir(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the tests crate lives in the workspace")
            .join("functions/api/src"),
    )
    .expect("functions/api/src")
    .map(|entry| {
        entry
            .expect("an entry")
            .file_name()
            .to_string_lossy()
            .into_owned()
    })
    .collect();
    assert_eq!(
        sources,
        BTreeSet::from(["lib.rs".to_string(), "main.rs".to_string()]),
        "the api function adapts Lambda's requests and nothing more"
    );
}

#[test]
fn each_crate_knows_only_what_is_below_it() {
    let lambda = [
        "lambda_runtime",
        "lambda_http",
        "aws_lambda_events",
        "aws-sdk-sqs",
    ];
    assert_none_of(
        "inventory-base",
        &[
            "inventory-catalog",
            "inventory-delivery",
            "inventory-importer",
            "inventory-runtime",
            "inventory-devtools",
        ],
    );
    let mut above_catalog = vec![
        "inventory-delivery",
        "inventory-importer",
        "inventory-runtime",
        "inventory-devtools",
    ];
    above_catalog.extend(lambda);
    assert_none_of("inventory-catalog", &above_catalog);
    let mut above_inventory = vec![
        "inventory-catalog",
        "inventory-importer",
        "inventory-runtime",
        "inventory-devtools",
    ];
    above_inventory.extend(lambda);
    assert_none_of("inventory-delivery", &above_inventory);
    let mut above_import = vec!["inventory-runtime", "inventory-devtools"];
    above_import.extend(lambda);
    assert_none_of("inventory-importer", &above_import);
    assert_none_of(
        "inventory-runtime",
        &["inventory-devtools", "rand", "inventory-serve"],
    );
    // The endpoint's JSON API starts imports (the trigger's direct invocation), so the
    // crate builds on the import and its runtime; never on the devtools.
    assert_none_of("inventory-serve", &["inventory-devtools", "rand"]);
    // The pipeline's functions know nothing of the S3 endpoint, nor of HTTP.
    for function in ["trigger", "worker", "committer"] {
        assert_none_of(function, &["inventory-serve", "s3s", "axum", "lambda_http"]);
    }
}

/// The endpoint's S3 side reads through the catalog alone: only the JSON API (and the
/// pages over it) and the setup that gives the API its tables and queues name the
/// import's crates.
#[test]
fn the_s3_side_of_the_endpoint_reads_through_the_catalog_alone() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace")
        .join("functions/serve/src");
    let mut files = vec![root.clone()];
    let mut checked = Vec::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("a directory of sources") {
                files.push(entry.expect("an entry").path());
            }
            continue;
        }
        let relative = path
            .strip_prefix(&root)
            .expect("under the sources")
            .to_string_lossy()
            .into_owned();
        if relative.starts_with("api/") || relative.starts_with("ui/") || relative == "setup.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a source file");
        for name in [
            "inventory_delivery",
            "inventory_importer",
            "inventory_runtime",
        ] {
            assert!(!text.contains(name), "{relative} names {name}");
        }
        checked.push(relative);
    }
    assert!(
        checked.iter().any(|file| file == "s3.rs"),
        "the S3 side was checked: {checked:?}"
    );
}
