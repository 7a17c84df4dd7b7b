//! The imports page in headless Chromium, for a repository whose source imports on a
//! branch of its own (`import-logs`, under `raw/`): the sources with their prefix,
//! path and branch, one added with the form and one refused; imports that have not
//! finished cancelled from the import dialog and from the jobs table (by the key "in
//! the web UI"), a cancel refused for a job that finished meanwhile; and the import
//! branch's pages, which offer nothing that writes to it.

use std::collections::BTreeMap;

use integration_tests::serve::Server;
use integration_tests::{LocalStack, browser, ok_json};
use serde_json::json;

const DAILY: &str = "s3://inventory-dest/inv/photos-source/daily/";
const HOURLY: &str = "s3://inventory-dest/inv/photos-source/hourly/";

const SCRIPT: &str = r##"
import subprocess
result = {}

def functions_until_idle():
    """The trigger, workers and committer (`local --until-idle`), as the tests run them."""
    env = dict(os.environ)
    for name, value in CLI["env"].items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    done = subprocess.run([CLI["program"], "local", "--until-idle", "--json"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)

def job_row(job):
    return page.locator('#jobs tbody tr[data-job="' + job + '"]')

def job_seen(job):
    row = job_row(job)
    return {"cells": [c.strip() for c in row.locator("td").all_inner_texts()],
            "buttons": row.locator("button.cancel-job").count(),
            "refused": [t.strip() for t in row.locator("div.error").all_inner_texts()]}

login()
page.goto(ENDPOINT + "/ui/repositories/photos/imports")
page.wait_for_selector("#sources tbody tr")
page.wait_for_selector("#jobs tbody tr")
result["sources"] = rows("#sources")
result["before"] = {name: job_seen(job) for name, job in JOBS.items()}

# A source of part of another inventory, under a path, on a branch of its own.
form = 'form[data-api="add-source"]'
page.fill(form + ' input[name="inventory"]', HOURLY)
page.fill(form + ' input[name="prefix"]', "2026/")
page.fill(form + ' input[name="path"]', "hourly")
page.fill(form + ' input[name="branch"]', "import-hourly")
with page.expect_navigation():
    page.click(form + ' button[type="submit"]')
page.wait_for_selector("#sources tbody tr:nth-child(2)")
result["sources after"] = rows("#sources")
# Another one on the branch the daily source takes.
page.fill(form + ' input[name="inventory"]', "s3://inventory-dest/inv/photos-source/weekly/")
page.fill(form + ' input[name="branch"]', "import-logs")
result["branch taken"] = submit(form, "#nothing-else")

# An import from the dialog, cancelled while it stages (no worker runs).
page.fill("#manifest", DIALOG_MANIFEST)
page.click("#import")
page.locator("#cancel-import").wait_for(state="visible")
result["progress before cancel"] = page.inner_text("#progress-text")
page.click("#cancel-import")
page.locator("#import-cancelled").wait_for()
page.wait_for_selector("#jobs tbody tr td.cancelled-by")
result["dialog"] = {"progress": page.inner_text("#progress-text"),
                    "note": page.inner_text("#import-cancelled"),
                    "cancel shown": page.locator("#cancel-import").is_visible(),
                    "error": page.locator("#import-dialog .error").count()}
result["jobs after dialog"] = rows("#jobs")
shot("cancelled")

# A job cancelled from the jobs table.
job_row(JOBS["table"]).locator("button.cancel-job").click()
job_row(JOBS["table"]).locator("td.cancelled-by").wait_for()
result["table"] = job_seen(JOBS["table"])

# A job that finishes while the page shows it staging: its cancel is refused.
result["functions"] = functions_until_idle()
job_row(JOBS["finishing"]).locator("button.cancel-job").click()
job_row(JOBS["finishing"]).locator("div.error").wait_for()
result["finishing"] = job_seen(JOBS["finishing"])
shot("cancel-refused")

# The import branch offers nothing that writes to it; main does.
def forms():
    return page.eval_on_selector_all("form[data-api]", "forms => forms.map(f => f.dataset.api)")
page.goto(ENDPOINT + "/ui/repositories/photos?ref=import-logs")
result["import branch"] = {"forms": forms(), "note": page.inner_text("#imports-only"),
                           "objects": texts("#objects tbody td:first-child a")}
shot("import-branch")
page.goto(ENDPOINT + "/ui/repositories/photos?ref=main")
result["main"] = {"forms": forms(), "notes": page.locator("#imports-only").count()}
page.goto(ENDPOINT + "/ui/repositories/photos/compare?left=main&right=import-logs")
result["merge into"] = texts("#destination option")

# The history of the source's imports, on its own branch; and what the compare page
# compares by default: main against that branch, and the branch against its last import.
page.goto(ENDPOINT + "/ui/repositories/photos/imports")
result["charts"] = page.eval_on_selector_all(
    "figure.history",
    "charts => charts.map(c => [c.dataset.branch, c.querySelectorAll('rect.added').length])")
page.goto(ENDPOINT + "/ui/repositories/photos/compare")
result["compare main"] = [page.input_value("#left"), page.input_value("#right"),
                          page.locator("p.error").count()]
page.goto(ENDPOINT + "/ui/repositories/photos/compare?right=import-logs")
result["compare import"] = [page.input_value("#left"), page.input_value("#right"),
                            page.locator("p.error").count()]
"##;

/// A delivery made at `created_at`, of objects drawn with `seed` (deliveries drawn
/// with the same seed name their data files alike, and would overwrite each other's).
fn delivery(stack: &LocalStack, created_at: &str, seed: &str) -> String {
    let generated = stack.generate_photos(&[
        "--objects",
        "12",
        "--files",
        "2",
        "--created-at",
        created_at,
        "--seed",
        seed,
    ]);
    generated["manifest"].as_str().unwrap().to_string()
}

/// The job of the delivery made at `created_at`, started (`import`) without a worker
/// running: its id.
fn started(stack: &LocalStack, created_at: &str, seed: &str) -> String {
    let manifest = delivery(stack, created_at, seed);
    let job = ok_json(
        stack
            .cli()
            .args(["import", "photos", "--manifest", &manifest, "--json"]),
    );
    assert_eq!(job["state"], "staging", "{job}");
    job["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn imports_are_cancelled_from_the_imports_page_and_import_branches_are_read_only() {
    let stack = LocalStack::start().await;
    stack.photos_source(None).await;
    // The source's imports go to a branch of their own, under raw/.
    ok_json(stack.cli().args([
        "source",
        "add",
        "photos",
        "--inventory",
        DAILY,
        "--path",
        "raw",
        "--branch",
        "import-logs",
        "--json",
    ]));
    delivery(&stack, "2026-11-25T01:00:00Z", "1");
    let stats = ok_json(stack.cli().args(["local", "--until-idle", "--json"]));
    assert_eq!(stats["failures"], 0, "{stats}");
    let jobs = ok_json(stack.cli().args(["jobs", "photos", "--json"]));
    assert_eq!(jobs[0]["state"], "committed", "{jobs}");
    let committed = jobs[0]["id"].as_str().unwrap().to_string();
    let branches = ok_json(stack.cli().args(["branch", "list", "photos", "--json"]));
    assert!(
        branches
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["name"] == "import-logs" && b["imports_only"] == true),
        "{branches}"
    );
    // Jobs the page finds staging: one cancelled from the table, one the functions
    // finish before its cancel; and a delivery for the dialog.
    let finishing = started(&stack, "2026-11-26T01:00:00Z", "2");
    let table = started(&stack, "2026-11-27T01:00:00Z", "3");
    let dialog_manifest = delivery(&stack, "2026-11-28T01:00:00Z", "4");
    let server = Server::start(&stack);

    let cli = stack.cli();
    let env: BTreeMap<String, Option<String>> = cli
        .get_envs()
        .map(|(name, value)| {
            (
                name.to_string_lossy().into_owned(),
                value.map(|v| v.to_string_lossy().into_owned()),
            )
        })
        .collect();
    let cli = json!({"program": cli.get_program().to_string_lossy(), "env": env});
    let jobs = json!({"committed": committed, "finishing": finishing, "table": table});
    let script = format!(
        "CLI = json.loads({cli:?})\nJOBS = json.loads({jobs:?})\nHOURLY = {HOURLY:?}\n\
         DIALOG_MANIFEST = {dialog_manifest:?}\n{SCRIPT}",
        cli = cli.to_string(),
        jobs = jobs.to_string(),
    );
    let seen = browser::run(&server, &script);
    println!("{}", serde_json::to_string_pretty(&seen).unwrap());
    let by = format!("cancelled by {} in the web UI", server.key_id);

    // The sources, with their prefix, path and branch; one added, one refused.
    let daily = json!([DAILY, "—", "—", "raw/", "import-logs"]);
    assert_eq!(seen["sources"], json!([daily]));
    assert_eq!(
        seen["sources after"],
        json!([daily, [HOURLY, "—", "2026/", "hourly/", "import-hourly"]])
    );
    assert_eq!(
        seen["branch taken"],
        format!(
            "branch import-logs of repository photos already takes the imports of {DAILY}: \
             give this source a --branch of its own, so that their imports never race"
        )
        .as_str()
    );
    let sources = ok_json(stack.cli().args(["source", "list", "--json"]));
    let hourly = sources
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["inventory"] == HOURLY)
        .unwrap_or_else(|| panic!("{sources}"));
    assert_eq!(hourly["prefix"], "2026/");
    assert_eq!(hourly["path"], "hourly/");
    assert_eq!(hourly["branch"], "import-hourly");

    // A Cancel button for the jobs that have not finished, none for the one that has.
    let before = &seen["before"];
    assert_eq!(before["committed"]["cells"][1], "committed", "{before}");
    assert_eq!(before["committed"]["buttons"], 0, "{before}");
    for name in ["finishing", "table"] {
        assert_eq!(before[name]["cells"][1], "staging", "{before}");
        assert_eq!(before[name]["buttons"], 1, "{before}");
    }

    // The dialog's import, cancelled: the job as the cancel left it, and who did it.
    assert!(
        seen["progress before cancel"]
            .as_str()
            .unwrap()
            .starts_with("staging: "),
        "{seen}"
    );
    let note = seen["dialog"]["note"].as_str().unwrap();
    assert_eq!(
        note,
        format!("The import was {by}: nothing was committed, no branch moved.")
    );
    assert!(
        seen["dialog"]["progress"]
            .as_str()
            .unwrap()
            .starts_with("cancelled: "),
        "{seen}"
    );
    assert_eq!(seen["dialog"]["cancel shown"], false);
    assert_eq!(seen["dialog"]["error"], 0);
    let listed = ok_json(stack.cli().args(["jobs", "photos", "--json"]));
    let dialog_job = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["manifest"] == dialog_manifest.as_str())
        .unwrap_or_else(|| panic!("{listed}"));
    let dialog_id = dialog_job["id"].as_str().unwrap();
    let row = seen["jobs after dialog"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row[0] == dialog_id[..12])
        .unwrap_or_else(|| panic!("{seen}"));
    assert_eq!(row[1], "cancelled");
    assert_eq!(row[7], by.as_str());
    assert_eq!(row[8], "", "no Cancel for a cancelled job");

    // Cancelled from the table.
    let cancelled = &seen["table"];
    assert_eq!(cancelled["cells"][1], "cancelled", "{cancelled}");
    assert_eq!(cancelled["cells"][7], by.as_str(), "{cancelled}");
    assert_eq!(cancelled["buttons"], 0, "{cancelled}");
    assert_eq!(cancelled["refused"], json!([]));

    // Finished before its cancel: refused with the API's message, the job as it is.
    assert_eq!(seen["functions"]["commit_tasks"], 1, "{seen}");
    let finished = &seen["finishing"];
    assert_eq!(
        finished["refused"],
        json!([format!(
            "job {finishing} has already finished (committed): there is nothing to cancel"
        )])
    );
    assert_eq!(finished["cells"][1], "committed", "{finished}");
    assert_eq!(finished["buttons"], 0, "{finished}");

    // As the jobs table showed them.
    let status = |id: &str| ok_json(stack.cli().args(["status", "photos", id, "--json"]));
    for id in [dialog_id, table.as_str()] {
        let job = status(id);
        assert_eq!(job["state"], "cancelled", "{job}");
        assert_eq!(
            job["cancelled_by"],
            format!("{} in the web UI", server.key_id).as_str()
        );
    }
    assert_eq!(status(&finishing)["state"], "committed");

    // The import branch: browsing, and branching off it, only.
    let import_branch = &seen["import branch"];
    assert_eq!(
        import_branch["forms"],
        json!(["logout", "create-branch"]),
        "{import_branch}"
    );
    assert_eq!(
        import_branch["note"],
        "Branch import-logs changes only by imports: create a branch from it, or merge it \
         into a branch of your own, to change its objects."
    );
    assert_eq!(import_branch["objects"], json!(["▸ raw/"]));
    assert_eq!(
        seen["main"],
        json!({"forms": ["logout", "create-branch", "upload"], "notes": 0})
    );
    assert_eq!(seen["merge into"], json!(["main"]));
    // Two imports on import-logs (the first, and the job that finished), none on
    // import-from-inventory.
    assert_eq!(seen["charts"], json!([["import-logs", 2]]));
    assert_eq!(seen["compare main"], json!(["import-logs", "main", 0]));
    assert_eq!(
        seen["compare import"],
        json!(["import-logs~1", "import-logs", 0])
    );

    for name in ["cancelled", "cancel-refused", "import-branch"] {
        let file = browser::screenshots().join(format!("{name}.png"));
        let size = std::fs::metadata(&file)
            .unwrap_or_else(|err| panic!("{}: {err}", file.display()))
            .len();
        assert!(size > 1000, "{} is {size} bytes", file.display());
    }
}
