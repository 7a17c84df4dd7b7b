//! The web UI in a real browser: Debian's Chromium, headless, driven by Playwright for
//! Python from the project's `.venv` (`make setup` installs both). Playwright's own
//! browser builds are never used.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::serve::Server;
use crate::workspace_root;

/// The browser the tests drive.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// How long one script may run before it is stopped.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

/// Where [`run`]'s `shot(name)` saves its screenshots: `target/ui/<name>.png`.
pub fn screenshots() -> PathBuf {
    workspace_root().join("target/ui")
}

/// What every script starts with: Chromium launched on a fresh profile, and the
/// functions the script uses.
const PRELUDE: &str = r##"
import hashlib, json, os, re, sys, traceback
from playwright.sync_api import sync_playwright, expect

ENDPOINT, KEY_ID, SECRET, SHOTS, PROFILE, CHROMIUM, SCRIPT = sys.argv[1:8]
os.makedirs(SHOTS, exist_ok=True)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

def shot(name):
    """A full-page screenshot of the page as it is, in SHOTS/<name>.png."""
    page.screenshot(path=os.path.join(SHOTS, name + ".png"), full_page=True)

def login(key_id=None, secret=None):
    """Logs in through the login page (opened when the page is elsewhere) and waits
    for the repositories page."""
    if "/ui/login" not in page.url:
        page.goto(ENDPOINT + "/ui/login")
    page.fill("#access_key_id", key_id or KEY_ID)
    page.fill("#secret_access_key", secret or SECRET)
    page.click('form[data-api="login"] button[type="submit"]')
    page.wait_for_url(ENDPOINT + "/ui/")

def submit(form, done):
    """Submits the form `form` (a selector) and waits until `done` (a selector) shows,
    or the form shows an error: returns None, or the error's text."""
    page.click(form + ' button[type="submit"]')
    page.locator(done + ", " + form + " .error").first.wait_for()
    error = page.locator(form + " .error")
    return error.inner_text() if error.count() else None

def texts(selector):
    """The text of each element `selector` matches, in order."""
    return [t.strip() for t in page.locator(selector).all_inner_texts()]

def rows(selector):
    """The cells' texts of each row of a table's body."""
    return [[c.strip() for c in row.locator("td").all_inner_texts()]
            for row in page.locator(selector + " tbody tr").all()]

with open(SCRIPT) as f:
    source = compile(f.read(), "ui-script", "exec")
result = None
with sync_playwright() as playwright:
    context = playwright.chromium.launch_persistent_context(
        PROFILE, executable_path=CHROMIUM, headless=True, args=ARGS,
        accept_downloads=True, viewport={"width": 1280, "height": 800})
    try:
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(15000)
        scope = dict(globals())
        try:
            exec(source, scope)
        except Exception:
            try:
                shot("failure")
            except Exception:
                pass
            print("failed at " + page.url, file=sys.stderr)
            raise
        result = scope.get("result")
    finally:
        context.close()
print(json.dumps(result))
"##;

/// Runs a Playwright script against `server`'s UI and returns the JSON of what it
/// leaves in `result`. The script has `page` (a tab of a headless Chromium with a
/// fresh profile), `ENDPOINT`, `KEY_ID`, `SECRET`, `expect`, `login()`, `shot(name)`,
/// `submit(form, done)`, `texts(selector)` and `rows(table)` (see [`PRELUDE`]). On
/// failure the page is saved as `target/ui/failure.png`. Chromium is closed when the
/// script ends, however it ends; no process of it may be left.
pub fn run(server: &Server, script: &str) -> Value {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let profile = dir.path().join("profile");
    let script_path = dir.path().join("script.py");
    std::fs::write(&script_path, script).expect("the script is written");
    std::fs::create_dir_all(screenshots()).expect("target/ui is created");
    // A failure's page of an earlier run would mislead.
    let _ = std::fs::remove_file(screenshots().join("failure.png"));
    let mut command = server.python();
    command
        .arg("-c")
        .arg(PRELUDE)
        .arg(&server.endpoint)
        .arg(&server.key_id)
        .arg(&server.secret)
        .arg(screenshots())
        .arg(&profile)
        .arg(CHROMIUM)
        .arg(&script_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    crate::kill_with_parent(&mut command);
    let mut child = command.spawn().expect("python runs");
    let stdout = child.stdout.take().map(read_all);
    let stderr = child.stderr.take().map(read_all);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for python") {
            break Some(status);
        }
        if started.elapsed() > SCRIPT_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let join = |reader: Option<std::thread::JoinHandle<String>>| {
        reader
            .map(|r| r.join().unwrap_or_default())
            .unwrap_or_default()
    };
    let (stdout, stderr) = (join(stdout), join(stderr));
    let left = browsers_left(&profile);
    assert!(
        left.is_empty(),
        "Chromium processes outlived the script: {left:?}"
    );
    let status = status.unwrap_or_else(|| {
        panic!("the browser script did not finish within {SCRIPT_TIMEOUT:?}: {stderr}")
    });
    assert!(status.success(), "the browser script failed: {stderr}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|err| panic!("{err}: {stdout}"))
}

/// Processes still running on `profile` a few seconds after the script ended; each is
/// killed, so that a failing check leaves nothing behind.
fn browsers_left(profile: &Path) -> Vec<(u32, String)> {
    let needle = profile.to_string_lossy().into_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = processes_mentioning(&needle);
        if left.is_empty() || Instant::now() > deadline {
            for (pid, _) in &left {
                // SAFETY: kill(2) with a process id read just now from /proc.
                unsafe {
                    libc::kill(*pid as libc::pid_t, libc::SIGKILL);
                }
            }
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Processes whose command line contains `needle`: (pid, command line).
fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let raw = std::fs::read(entry.path().join("cmdline")).ok()?;
            let line = String::from_utf8_lossy(&raw).replace('\0', " ");
            line.contains(needle)
                .then(|| (pid, line.trim().to_string()))
        })
        .collect()
}

fn read_all(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}
