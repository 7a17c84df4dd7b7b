//! Imports through the JSON API, as the web UI drives them: a repository's import
//! sources; a dry run of a delivery with its exact counts; an import started, run by
//! the workers (`local`) and followed to its commit; and what a wrong delivery
//! answers: a stable code with the CLI's message.

use integration_tests::serve::Server;
use integration_tests::{LocalStack, ok_json};
use serde_json::{Value, json};

use inventory_base::S3Url;
use inventory_delivery::manifest::ManifestDocument;

/// The inventory configuration `photos_source` records.
const INVENTORY: &str = "s3://inventory-dest/inv/photos-source/daily/";

/// A delivery of `objects` objects of a versioned `photos-source` (so that rows are
/// skipped for every reason), as the generator reports it.
fn generate(stack: &LocalStack, objects: u64) -> Value {
    stack.generate_photos(&[
        "--objects",
        &objects.to_string(),
        "--files",
        "2",
        "--versioned",
        "--created-at",
        "2026-11-25T01:00:00Z",
    ])
}

/// The CLI's error message for a command (it prints `error: <message>`).
fn cli_error(stack: &LocalStack, args: &[&str]) -> String {
    let output = stack.cli().args(args).output().unwrap();
    assert!(!output.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&output.stderr)
        .trim_end()
        .trim_start_matches("error: ")
        .to_string()
}

#[tokio::test]
async fn a_delivery_is_tried_imported_and_followed_through_the_api() {
    let stack = LocalStack::start().await;
    stack.photos_source(None).await;
    let generated = generate(&stack, 40);
    let manifest = generated["manifest"].as_str().unwrap();
    let objects = generated["objects"].as_u64().unwrap();
    assert_eq!(objects, 40);
    let server = Server::start(&stack);

    let before = server.api(
        true,
        &format!(
            r#"
out = {{}}
m = "{manifest}"
out["sources"] = call("GET", "/repositories/photos/sources")
out["add"] = call("POST", "/repositories/photos/sources", {{"inventory": "{trimmed}", "merge_into": "main"}})
out["sources after"] = call("GET", "/repositories/photos/sources")
out["test"] = call("POST", "/repositories/photos/imports/test", {{"manifest": m}})
out["no csrf"] = call("POST", "/repositories/photos/imports", {{"manifest": m}}, send_csrf=False)
out["import"] = call("POST", "/repositories/photos/imports", {{"manifest": m}})
out["again"] = call("POST", "/repositories/photos/imports", {{"manifest": m, "force": False}})
out["running"] = call("GET", "/repositories/photos/imports/" + out["import"][1]["id"])
print(json.dumps(out))
"#,
            trimmed = INVENTORY.trim_end_matches('/'),
        ),
    );
    let status = |result: &Value, name: &str| result[name][0].as_u64().unwrap();
    let body = |result: &Value, name: &str| result[name][1].clone();

    // The whole bucket, at the repository's root, on the default import branch.
    assert_eq!(
        body(&before, "sources"),
        json!([{"inventory": INVENTORY, "repository": "photos", "merge_into": null,
                "prefix": "", "path": "", "branch": "import-from-inventory"}])
    );
    assert_eq!(status(&before, "add"), 201);
    let added = json!({"inventory": INVENTORY, "repository": "photos", "merge_into": "main",
                       "prefix": "", "path": "", "branch": "import-from-inventory"});
    assert_eq!(body(&before, "add"), added);
    assert_eq!(body(&before, "sources after"), json!([added]));

    // The dry run's counts: every object is added, nothing else.
    assert_eq!(status(&before, "test"), 200);
    let test = body(&before, "test");
    assert_eq!(test["state"], "dry_run_complete");
    assert_eq!(test["dry_run"], true);
    assert_eq!(
        test["summary"],
        json!({
            "added": objects,
            "changed": 0,
            "deleted": 0,
            "unchanged": 0,
            "total": objects,
            "skipped": generated["skipped"],
            "duplicate_keys": 0,
        })
    );
    assert!(
        generated["skipped"]["noncurrent_version"].as_u64().unwrap() > 0
            && generated["skipped"]["delete_marker"].as_u64().unwrap() > 0,
        "{generated}"
    );
    // Nothing was written to the repository.
    let branches = ok_json(stack.cli().args(["branch", "list", "photos", "--json"]));
    assert_eq!(branches.as_array().unwrap().len(), 1, "{branches}");

    assert_eq!(status(&before, "no csrf"), 403);
    assert_eq!(body(&before, "no csrf")["code"], "csrf");

    // The import starts a job for the workers; asking again answers the same job.
    assert_eq!(status(&before, "import"), 201);
    let job = body(&before, "import");
    let id = job["id"].as_str().unwrap().to_string();
    assert_eq!(job["state"], "staging");
    assert_eq!(job["dry_run"], false);
    assert_eq!(job["manifest"], manifest);
    assert_eq!(job["files_total"], 2);
    // Rows out of the total the data files' footers tell, for progress.
    assert_eq!(job["rows_total"], generated["rows"]);
    assert_eq!(job["partition_cuts"], Value::Null, "one partition");
    assert_eq!(job["summary"], Value::Null);
    assert_eq!(status(&before, "again"), 200);
    assert_eq!(body(&before, "again")["id"], id.as_str());
    assert_eq!(status(&before, "running"), 200);
    let running = body(&before, "running");
    assert_eq!(running["state"], "staging");
    assert_eq!(running["files_done"], 0);
    assert_eq!(running["stalled"], Value::Null);

    // The workers and the committer run it.
    let stats = ok_json(stack.cli().args(["local", "--until-idle", "--json"]));
    assert_eq!(stats["failures"], 0, "{stats}");
    assert_eq!(stats["commit_tasks"], 1, "{stats}");

    let after = server.api(
        true,
        &format!(
            r#"
import urllib.parse
out = {{}}
m = "{manifest}"
inventory = urllib.parse.quote("{INVENTORY}", safe="")
out["status"] = call("GET", "/repositories/photos/imports/{id}")
out["again"] = call("POST", "/repositories/photos/imports", {{"manifest": m}})
out["retest"] = call("POST", "/repositories/photos/imports/test", {{"manifest": m}})
out["jobs"] = call("GET", "/repositories/photos/imports")
out["remove"] = call("DELETE", "/repositories/photos/sources?inventory=" + inventory)
out["removed again"] = call("DELETE", "/repositories/photos/sources?inventory=" + inventory)
out["sources at last"] = call("GET", "/repositories/photos/sources")
print(json.dumps(out))
"#
        ),
    );
    assert_eq!(status(&after, "status"), 200);
    let done = body(&after, "status");
    assert_eq!(done["state"], "committed");
    assert_eq!(done["summary"], test["summary"]);
    assert_eq!(done["files_done"], 2);
    assert_eq!(done["shards_done"], done["shards_total"]);
    assert_eq!(done["stalled"], Value::Null);
    let commit = done["commit_id"].as_str().unwrap().to_string();
    // Merged into main, as the source now says.
    assert_eq!(done["merge"]["branch"], "main");
    assert_eq!(stack.photos_paths("main").len() as u64, objects);
    // What the API answers is what `status --json` prints.
    assert_eq!(
        done,
        ok_json(stack.cli().args(["status", "photos", &id, "--json"]))
    );

    // The same manifest again: imported before, as that commit.
    assert_eq!(
        after["again"],
        json!([200, {"already_imported": true, "manifest": manifest, "commit": commit}])
    );
    // A dry run now finds every object unchanged.
    let retest = body(&after, "retest");
    assert_eq!(retest["summary"]["unchanged"], objects);
    assert_eq!(retest["summary"]["added"], 0);

    // The jobs, newest first, as `jobs --json` prints them.
    let jobs = body(&after, "jobs");
    let ids: Vec<&str> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{jobs}");
    assert_eq!(ids[0], retest["id"].as_str().unwrap());
    assert_eq!(ids[1], id);
    assert_eq!(ids[2], test["id"].as_str().unwrap());
    let printed = ok_json(stack.cli().args(["jobs", "photos", "--json"]));
    assert_eq!(jobs, printed);

    // The source removed; removing it again is an error.
    assert_eq!(after["remove"], json!([200, {"deleted": INVENTORY}]));
    assert_eq!(status(&after, "removed again"), 404);
    assert_eq!(
        body(&after, "removed again"),
        json!({
            "code": "source_not_found",
            "message": cli_error(&stack, &["source", "remove", "--inventory", INVENTORY]),
        })
    );
    assert_eq!(body(&after, "sources at last"), json!([]));
}

#[tokio::test]
async fn wrong_deliveries_answer_a_code_and_the_cli_message() {
    let stack = LocalStack::start().await;
    stack.photos_source(None).await;
    let generated = generate(&stack, 10);
    let good: S3Url = generated["manifest"].as_str().unwrap().parse().unwrap();
    let document: ManifestDocument =
        serde_json::from_slice(&stack.get(&good).await).expect("the generator's manifest");
    let delivery =
        |stamp: &str| -> S3Url { format!("{INVENTORY}{stamp}/manifest.json").parse().unwrap() };

    // Another bucket's inventory delivered under this source's prefix.
    let foreign = delivery("2026-12-01T00-00Z");
    stack
        .put_manifest(
            &foreign,
            &ManifestDocument {
                source_bucket: "someone-else".into(),
                ..document.clone()
            },
        )
        .await;
    // A manifest.checksum that is not the manifest's.
    let mismatch = delivery("2026-12-02T00-00Z");
    stack.put_manifest(&mismatch, &document).await;
    stack
        .put(
            &mismatch.sibling("manifest.checksum"),
            "0123456789abcdef0123456789abcdef\n",
        )
        .await;
    // A delivery in a format S3 Inventory does not write.
    let unknown = delivery("2026-12-03T00-00Z");
    stack
        .put_manifest(
            &unknown,
            &ManifestDocument {
                file_format: "JSON".into(),
                ..document.clone()
            },
        )
        .await;
    let missing = delivery("2030-01-01T00-00Z");
    let not_a_url = "https://example.com/inv/manifest.json";

    let cases: [(&str, String, &str, u64); 5] = [
        (
            "not a URL",
            not_a_url.to_string(),
            "invalid_manifest_url",
            400,
        ),
        ("missing", missing.to_string(), "manifest_not_found", 404),
        ("foreign", foreign.to_string(), "foreign_delivery", 422),
        ("mismatch", mismatch.to_string(), "checksum_mismatch", 422),
        ("unknown", unknown.to_string(), "unsupported_format", 422),
    ];
    let calls: String = cases
        .iter()
        .map(|(name, manifest, _, _)| {
            format!(
                r#"
out["{name}"] = {{
    "import": call("POST", "/repositories/photos/imports", {{"manifest": "{manifest}"}}),
    "test": call("POST", "/repositories/photos/imports/test", {{"manifest": "{manifest}"}}),
}}"#
            )
        })
        .collect();
    let server = Server::start(&stack);
    let result = server.api(
        true,
        &format!(
            r#"
out = {{}}
{calls}
out["unknown repository"] = call("POST", "/repositories/nope/imports/test", {{"manifest": "{good}"}})
out["unknown job"] = call("GET", "/repositories/photos/imports/0123456789abcdef0123")
out["bad inventory"] = call("POST", "/repositories/photos/sources", {{"inventory": "inv/photos-source/daily/"}})
out["unknown branch"] = call("POST", "/repositories/photos/sources", {{"inventory": "{INVENTORY}", "merge_into": "nope"}})
print(json.dumps(out))
"#
        ),
    );

    for (name, manifest, code, status) in &cases {
        let cli = stack
            .cli()
            .args(["import", "photos", "--manifest", manifest, "--dry-run"])
            .output()
            .unwrap();
        assert!(!cli.status.success(), "{name}");
        let stderr = String::from_utf8_lossy(&cli.stderr);
        for call in ["import", "test"] {
            let answer = &result[name][call];
            assert_eq!(answer[0], json!(status), "{name} ({call}): {answer}");
            assert_eq!(answer[1]["code"], json!(code), "{name} ({call}): {answer}");
            let message = answer[1]["message"].as_str().unwrap();
            if *code == "invalid_manifest_url" {
                // The CLI refuses the argument itself: `error: invalid value … for
                // '--manifest <MANIFEST>': <message>`.
                let first = stderr.lines().next().unwrap_or_default();
                assert!(
                    first.starts_with("error: invalid value")
                        && first.ends_with(&format!(": {message}")),
                    "{name}: {stderr}"
                );
            } else {
                assert_eq!(format!("error: {message}\n"), stderr, "{name} ({call})");
            }
        }
    }
    assert_eq!(
        result["mismatch"]["test"][1]["message"],
        json!(format!(
            "manifest {mismatch} does not match its checksum: manifest.checksum says \
             0123456789abcdef0123456789abcdef, the manifest's MD5 is {}",
            inventory_delivery::manifest::manifest_md5_hex(
                &serde_json::to_vec_pretty(&document).unwrap()
            )
        ))
    );
    assert_eq!(
        result["unknown repository"],
        json!([404, {
            "code": "repository_not_found",
            "message": cli_error(
                &stack,
                &["import", "nope", "--manifest", good.to_string().as_str(), "--dry-run"]
            ),
        }])
    );
    assert_eq!(
        result["unknown job"],
        json!([404, {
            "code": "job_not_found",
            "message": cli_error(&stack, &["status", "photos", "0123456789abcdef0123"]),
        }])
    );
    assert_eq!(result["bad inventory"][0], json!(400));
    assert_eq!(
        result["bad inventory"][1]["code"],
        json!("invalid_inventory_url")
    );
    assert_eq!(
        result["unknown branch"],
        json!([404, {
            "code": "branch_not_found",
            "message": cli_error(
                &stack,
                &["source", "add", "photos", "--inventory", INVENTORY, "--merge-into", "nope"]
            ),
        }])
    );
    // Refused deliveries are recorded as failed jobs, with the same reason.
    let jobs = ok_json(stack.cli().args(["jobs", "photos", "--json"]));
    let failed = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|job| job["manifest"] == json!(unknown.to_string()) && job["dry_run"] == json!(false))
        .unwrap_or_else(|| panic!("{jobs}"));
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["error"], result["unknown"]["import"][1]["message"]);
}

/// A program (SigV4, no session) cancels an import whose workers have not run: the
/// job is `cancelled`, by the key through the API, and stays so (a second cancel, the
/// workers running later); a finished job and an unknown one are refused.
#[tokio::test]
async fn an_import_that_has_not_finished_is_cancelled_through_the_api() {
    let stack = LocalStack::start().await;
    stack.photos_source(None).await;
    // A first delivery, imported by the functions: a job that has finished.
    generate(&stack, 10);
    let stats = ok_json(stack.cli().args(["local", "--until-idle", "--json"]));
    assert_eq!(stats["failures"], 0, "{stats}");
    let jobs = ok_json(stack.cli().args(["jobs", "photos", "--json"]));
    assert_eq!(jobs[0]["state"], "committed", "{jobs}");
    let committed = jobs[0]["id"].as_str().unwrap().to_string();
    let imported = stack.branch_head("photos", "import-from-inventory");
    // A second delivery, started through the API while no worker runs.
    let second = stack.generate_photos(&[
        "--objects",
        "10",
        "--files",
        "2",
        "--created-at",
        "2026-11-26T01:00:00Z",
    ]);
    let manifest = second["manifest"].as_str().unwrap();
    let server = Server::start(&stack);

    let result = server.signed_api(&format!(
        r#"
out = {{}}
out["import"] = call("POST", "/repositories/photos/imports", {{"manifest": "{manifest}"}})
job = "/repositories/photos/imports/" + out["import"][1]["id"]
out["cancel"] = call("POST", job + "/cancel")
out["status"] = call("GET", job)
out["again"] = call("POST", job + "/cancel")
out["finished"] = call("POST", "/repositories/photos/imports/{committed}/cancel")
out["unknown"] = call("POST", "/repositories/photos/imports/0123456789abcdef0123/cancel")
print(json.dumps(out))
"#
    ));
    let by = format!("{} through the API", server.key_id);

    assert_eq!(result["import"][0], 201, "{result}");
    let started = &result["import"][1];
    assert_eq!(started["state"], "staging");
    assert_eq!(started["cancelled_by"], Value::Null);
    let id = started["id"].as_str().unwrap();

    assert_eq!(result["cancel"][0], 200, "{result}");
    let cancelled = &result["cancel"][1];
    assert_eq!(cancelled["id"], id);
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(cancelled["cancelled_by"], by.as_str());
    assert_eq!(cancelled["error"], format!("cancelled by {by}").as_str());
    assert_eq!(cancelled["moving_branch"], false);
    assert_eq!(cancelled["commit_id"], Value::Null);
    assert_eq!(cancelled["summary"], Value::Null);

    // The job as the cancel left it (and not stalled: it has finished).
    assert_eq!(result["status"][0], 200, "{result}");
    let mut status = result["status"][1].clone();
    assert_eq!(status["stalled"], Value::Null);
    status.as_object_mut().unwrap().remove("stalled");
    assert_eq!(&status, cancelled);

    // Cancelling again changes nothing.
    assert_eq!(result["again"], json!([200, cancelled]));

    assert_eq!(
        result["finished"],
        json!([409, {
            "code": "import_finished",
            "message": format!(
                "job {committed} has already finished (committed): there is nothing to cancel"
            ),
        }])
    );
    assert_eq!(result["unknown"][0], 404, "{result}");
    assert_eq!(result["unknown"][1]["code"], "job_not_found");

    // The functions find the job cancelled: nothing is committed, no branch moves.
    let stats = ok_json(stack.cli().args(["local", "--until-idle", "--json"]));
    assert_eq!(stats["commit_tasks"], 0, "{stats}");
    let after = ok_json(stack.cli().args(["status", "photos", id, "--json"]));
    assert_eq!(
        after, result["status"][1],
        "the job changed after its cancel"
    );
    assert_eq!(
        stack.branch_head("photos", "import-from-inventory"),
        imported
    );
}

/// A source of part of a bucket, put under a path, on an import branch of its own;
/// another source may not take the same branch, nor one users write.
#[tokio::test]
async fn a_source_takes_a_prefix_a_path_and_a_branch_of_its_own_through_the_api() {
    let stack = LocalStack::start().await;
    stack.photos_source(None).await;
    let server = Server::start(&stack);
    let result = server.api(
        true,
        r#"
out = {}
out["scoped"] = call("POST", "/repositories/photos/sources", {"inventory": "s3://inventory-dest/inv/photos-source/logs/",
    "prefix": "logs/2026/", "path": "raw", "branch": "import-logs"})
out["same branch"] = call("POST", "/repositories/photos/sources", {"inventory": "s3://inventory-dest/inv/photos-source/hourly/",
    "branch": "import-logs"})
out["user branch"] = call("POST", "/repositories/photos/sources", {"inventory": "s3://inventory-dest/inv/photos-source/hourly/",
    "branch": "main"})
out["sources"] = call("GET", "/repositories/photos/sources")
print(json.dumps(out))
"#,
    );
    let scoped = json!({
        "inventory": "s3://inventory-dest/inv/photos-source/logs/",
        "repository": "photos",
        "merge_into": null,
        "prefix": "logs/2026/",
        "path": "raw/",
        "branch": "import-logs",
    });
    assert_eq!(result["scoped"], json!([201, scoped]));
    assert_eq!(
        result["same branch"],
        json!([409, {
            "code": "branch_taken",
            "message": "branch import-logs of repository photos already takes the imports of \
                s3://inventory-dest/inv/photos-source/logs/: give this source a --branch of its \
                own, so that their imports never race",
        }])
    );
    assert_eq!(result["user branch"][0], 409, "{result}");
    assert_eq!(result["user branch"][1]["code"], "user_branch");
    // The whole-bucket source of `photos_source`, and the scoped one.
    let sources = result["sources"][1].as_array().unwrap();
    assert_eq!(sources.len(), 2, "{result}");
    assert!(sources.contains(&scoped), "{result}");
    // The CLI lists the same.
    let listed = ok_json(stack.cli().args(["source", "list", "--json"]));
    let logs = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["branch"] == "import-logs")
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(logs["prefix"], "logs/2026/");
    assert_eq!(logs["path"], "raw/");
}
