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
}

#[test]
fn each_crate_knows_only_what_is_below_it() {
    let lambda = ["lambda_runtime", "aws_lambda_events", "aws-sdk-sqs"];
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
    // The S3 endpoint reads through the catalog alone.
    let mut beside_serve = vec![
        "inventory-delivery",
        "inventory-importer",
        "inventory-runtime",
        "inventory-devtools",
    ];
    beside_serve.extend(lambda);
    assert_none_of("inventory-serve", &beside_serve);
    for function in ["trigger", "worker", "committer"] {
        assert_none_of(function, &["inventory-serve", "s3s", "axum"]);
    }
}
