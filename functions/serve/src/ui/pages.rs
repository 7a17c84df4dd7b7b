//! The UI's pages.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use inventory_catalog::catalog::{Branch, CatalogError, IMPORT_BRANCH, ListOptions};

use super::Viewer;
use crate::api::ApiState;
use crate::api::model::Object;

/// The metadata keys of an import's commit that the log shows as its summary.
const IMPORT_COUNTS: [&str; 4] = ["added", "changed", "deleted", "total"];

/// Entries a page of the object browser shows.
const PAGE: usize = 100;

fn layout(title: &str, viewer: Option<&Viewer>, section: &str, body: Markup) -> Html<String> {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(viewer) = viewer {
                    meta name="csrf-token" content=(viewer.csrf_token);
                }
                title { (title) " · inventory-import" }
                link rel="stylesheet" href="/ui/assets/style.css";
                script src="/ui/assets/app.js" defer {}
            }
            body {
                header {
                    a.brand href="/ui/" { "inventory-import" }
                    nav {
                        @if viewer.is_some() {
                            a href="/ui/" class=[(section == "repositories").then_some("active")] { "Repositories" }
                        }
                    }
                    @if let Some(viewer) = viewer {
                        form data-api="logout" .row {
                            span.muted.mono { (viewer.access_key_id) }
                            button.secondary type="submit" { "Log out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    };
    Html(page.into_string())
}

/// A catalog error as a page.
fn failure(viewer: &Viewer, err: CatalogError) -> Response {
    let status = match &err {
        CatalogError::RepositoryNotFound(_)
        | CatalogError::RefNotFound { .. }
        | CatalogError::PathNotFound { .. }
        | CatalogError::BranchNotFound { .. } => axum::http::StatusCode::NOT_FOUND,
        _ => axum::http::StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = if status == axum::http::StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(error = %err, "a page failed");
        "the page could not be made; the server's log has the details".to_string()
    } else {
        err.to_string()
    };
    (
        status,
        layout(
            "Error",
            Some(viewer),
            "",
            html! { h1 { "Not here" } p.error { (message) } p { a href="/ui/" { "Repositories" } } },
        ),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

pub async fn login(Query(query): Query<LoginQuery>) -> Html<String> {
    let next = query
        .next
        .filter(|next| next.starts_with("/ui/"))
        .unwrap_or_else(|| "/ui/".to_string());
    layout(
        "Log in",
        None,
        "",
        html! {
            h1 { "Log in" }
            form.card data-api="login" data-next=(next) {
                p.muted { "With an access key from " code { "inventory-import credentials create" } "." }
                label for="access_key_id" { "Access key id" }
                input #access_key_id type="text" name="access_key_id" autocomplete="username" required;
                label for="secret_access_key" { "Secret access key" }
                input #secret_access_key type="password" name="secret_access_key" autocomplete="current-password" required;
                p { button type="submit" { "Log in" } }
            }
        },
    )
}

pub async fn repositories(
    State(state): State<ApiState>,
    Extension(viewer): Extension<Viewer>,
) -> Result<Response, Response> {
    let repositories = state
        .catalog
        .list_repositories()
        .await
        .map_err(|err| failure(&viewer, err))?;
    Ok(layout(
        "Repositories",
        Some(&viewer),
        "repositories",
        html! {
            h1 { "Repositories" }
            @if repositories.is_empty() {
                p.muted { "No repository yet: create one below." }
            } @else {
                table {
                    thead { tr { th { "Name" } th { "Storage namespace" } th { "Default branch" } th { "Created" } } }
                    tbody {
                        @for repository in &repositories {
                            tr {
                                td { a href={ "/ui/repositories/" (repository.name) } { (repository.name) } }
                                td.mono { (repository.storage_namespace.to_string()) }
                                td { (repository.default_branch) }
                                td.muted { (repository.created_at) }
                            }
                        }
                    }
                }
            }
            h2 { "Create a repository" }
            form.card data-api="create-repository" {
                label for="name" { "Name" }
                input #name type="text" name="name" placeholder="photos" required;
                label for="storage_namespace" { "Storage namespace" }
                input #storage_namespace type="text" name="storage_namespace" placeholder="s3://bucket/prefix" required;
                p { button type="submit" { "Create" } }
            }
        },
    )
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct BrowseQuery {
    #[serde(rename = "ref")]
    reference: Option<String>,
    #[serde(default)]
    prefix: String,
    after: Option<String>,
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS.get(unit).copied().unwrap_or("B"))
    }
}

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The tabs of a repository's pages.
fn repository_tabs(repository: &str, reference: &str, current: &str) -> Markup {
    html! {
        p.row {
            @for (name, href) in [
                ("Objects", format!("/ui/repositories/{}?ref={}", repository, encode(reference))),
                ("Log", format!("/ui/repositories/{}/log?ref={}", repository, encode(reference))),
                ("Compare", format!("/ui/repositories/{}/compare?right={}", repository, encode(reference))),
                ("Imports", format!("/ui/repositories/{}/imports", repository)),
            ] {
                a href=(href) class=[(name == current).then_some("badge")] { (name) }
            }
        }
    }
}

pub async fn repository(
    State(state): State<ApiState>,
    Extension(viewer): Extension<Viewer>,
    Path(repository): Path<String>,
    Query(query): Query<BrowseQuery>,
) -> Result<Response, Response> {
    let catalog = &state.catalog;
    let repo = catalog
        .repository(&repository)
        .await
        .map_err(|err| failure(&viewer, err))?;
    let reference = query.reference.unwrap_or(repo.default_branch.clone());
    let branches = catalog
        .list_branches(&repository)
        .await
        .map_err(|err| failure(&viewer, err))?;
    let options = ListOptions {
        prefix: query.prefix.clone(),
        delimiter: Some("/".to_string()),
        after: query.after.clone(),
        limit: PAGE,
    };
    let listing = catalog
        .list(&repository, &reference, &options)
        .await
        .map_err(|err| failure(&viewer, err))?;
    let branch = branches.iter().find(|b| b.name == reference);
    let is_branch = branch.is_some();
    // An import branch (`import-from-inventory`, or a source's own `--branch`) changes
    // only by imports: no upload, commit, reset or delete for it.
    let imports_only = branch.is_some_and(|b| b.imports_only);
    let writable = is_branch && !imports_only;
    let mut changes = Vec::new();
    if writable
        && let Err(err) = catalog
            .diff_pending(&repository, &reference, |change| changes.push(change))
            .await
    {
        return Err(failure(&viewer, err));
    }
    let histories = import_histories(&state, &repository, &branches).await;
    let base = format!("/ui/repositories/{repository}?ref={}", encode(&reference));
    let api_branch = format!(
        "/repositories/{}/branches/{}",
        encode(&repository),
        encode(&reference)
    );
    // The prefix's folders, for the breadcrumbs.
    let mut crumbs = Vec::new();
    let mut walked = String::new();
    for part in query.prefix.split_terminator('/') {
        walked.push_str(part);
        walked.push('/');
        crumbs.push((part.to_string(), walked.clone()));
    }
    Ok(layout(
        &repository,
        Some(&viewer),
        "repositories",
        html! {
            h1 { (repository) }
            form.row method="get" action={ "/ui/repositories/" (repository) } {
                label for="ref" { "Branch" }
                select #ref name="ref" onchange="this.form.submit()" {
                    @for branch in &branches {
                        option value=(branch.name) selected[branch.name == reference] { (branch.name) }
                    }
                    @if !is_branch { option value=(reference) selected { (reference) } }
                }
                span.muted.mono { "at " (listing_commit(&reference, &branches)) }
            }
            form.row method="get" action={ "/ui/repositories/" (repository) } {
                input #goto type="text" name="ref" placeholder="a commit id, or a ref such as main~2" required;
                button.secondary type="submit" { "Go to ref" }
            }
            form.row data-api="create-branch" data-repository=(repository) data-source=(reference) {
                input type="text" name="name" placeholder="new branch name" required;
                button.secondary type="submit" { "Create branch from " (reference) }
            }
            @if writable && reference != repo.default_branch {
                form.row data-api="delete-branch" data-repository=(repository) data-branch=(reference) {
                    button.secondary type="submit" { "Delete branch " (reference) }
                }
            }
            (repository_tabs(&repository, &reference, "Objects"))
            @if imports_only {
                p.muted #imports-only {
                    "Branch " (reference) " changes only by imports: create a branch from it, or merge it into a branch of your own, to change its objects."
                }
            }
            @for (branch, history) in &histories { (history_chart(branch, history)) }
            p.crumbs {
                a href=(base) { (repository) }
                @for (name, prefix) in &crumbs {
                    " / " a href={ (base) "&prefix=" (encode(prefix)) } { (name) }
                }
            }
            table #objects {
                thead { tr { th { "Name" } th.num { "Size" } th { "Last modified" } th { "Storage class" } } }
                tbody {
                    @for prefix in &listing.common_prefixes {
                        tr {
                            td { a href={ (base) "&prefix=" (encode(prefix)) } { "▸ " (prefix.strip_prefix(&query.prefix).unwrap_or(prefix)) } }
                            td {} td {} td {}
                        }
                    }
                    @for entry in &listing.entries {
                        @let object = Object::from(entry.clone());
                        tr {
                            td { a href={ "/ui/repositories/" (repository) "/object?ref=" (encode(&reference)) "&path=" (encode(&object.path)) } {
                                (object.path.strip_prefix(&query.prefix).unwrap_or(&object.path)) } }
                            td.num { (human_bytes(object.size)) }
                            td.muted { (object.last_modified) }
                            td { (object.storage_class.clone().unwrap_or_default()) }
                        }
                    }
                    @if listing.common_prefixes.is_empty() && listing.entries.is_empty() {
                        tr { td colspan="4" .muted { "Nothing here." } }
                    }
                }
            }
            @if let Some(next) = &listing.next_after {
                p { a href={ (base) "&prefix=" (encode(&query.prefix)) "&after=" (encode(next)) } { "Next page →" } }
            }
            @if writable {
                h2 { "Upload to " (reference) }
                form.card.row data-api="upload" data-base=(api_branch) data-prefix=(query.prefix) {
                    input type="file" name="file" required;
                    input type="text" name="name" placeholder="name (default: the file's)";
                    button type="submit" { "Upload" }
                }
                h2 { "Uncommitted changes" }
                @if changes.is_empty() {
                    p.muted { "None." }
                } @else {
                    table #changes {
                        thead { tr { th { "Change" } th { "Path" } } }
                        tbody {
                            @for change in &changes {
                                @let kind = change.kind.as_str();
                                tr { td class=(kind) { (kind) } td.mono { (change.path) } }
                            }
                        }
                    }
                    form.card.row data-api="commit" data-base=(api_branch) {
                        input type="text" name="message" placeholder="Commit message" required;
                        button type="submit" { "Commit" }
                    }
                    form.row data-api="reset" data-base=(api_branch) {
                        button.secondary type="submit" { "Reset (discard all)" }
                    }
                }
            }
        },
    )
    .into_response())
}

/// The commit a branch is at (its short id), or the ref itself.
fn listing_commit(reference: &str, branches: &[inventory_catalog::catalog::Branch]) -> String {
    branches
        .iter()
        .find(|b| b.name == reference)
        .map(|b| b.commit_id.chars().take(12).collect())
        .unwrap_or_else(|| reference.chars().take(12).collect())
}

#[derive(Debug, Deserialize)]
pub struct ObjectQuery {
    #[serde(rename = "ref")]
    reference: String,
    path: String,
}

pub async fn object(
    State(state): State<ApiState>,
    Extension(viewer): Extension<Viewer>,
    Path(repository): Path<String>,
    Query(query): Query<ObjectQuery>,
) -> Result<Response, Response> {
    let entry = state
        .catalog
        .entry(&repository, &query.reference, &query.path)
        .await
        .map_err(|err| failure(&viewer, err))?;
    let object = Object::from(entry);
    let download = format!(
        "/api/v1/repositories/{}/refs/{}/objects/content?path={}",
        encode(&repository),
        encode(&query.reference),
        encode(&object.path)
    );
    Ok(layout(
        &object.path,
        Some(&viewer),
        "repositories",
        html! {
            p.crumbs { a href={ "/ui/repositories/" (repository) "?ref=" (encode(&query.reference)) } { (repository) " @ " (query.reference) } }
            h1.mono { (object.path) }
            table #details {
                tbody {
                    tr { th { "Physical address" } td.mono { (object.physical_address) } }
                    tr { th { "Version id" } td.mono { (object.version_id.clone().unwrap_or_else(|| "—".into())) } }
                    tr { th { "Size" } td { (human_bytes(object.size)) " (" (object.size) " bytes)" } }
                    tr { th { "ETag" } td.mono { (object.etag) } }
                    tr { th { "Last modified" } td { (object.last_modified) } }
                    tr { th { "Storage class" } td { (object.storage_class.clone().unwrap_or_default()) } }
                }
            }
            p { a #download href=(download) download { "Download" } }
        },
    )
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct LogQuery {
    #[serde(rename = "ref")]
    reference: Option<String>,
}

pub async fn log(
    State(state): State<ApiState>,
    Extension(viewer): Extension<Viewer>,
    Path(repository): Path<String>,
    Query(query): Query<LogQuery>,
) -> Result<Response, Response> {
    let repo = state
        .catalog
        .repository(&repository)
        .await
        .map_err(|err| failure(&viewer, err))?;
    let reference = query.reference.unwrap_or(repo.default_branch);
    let commits = state
        .catalog
        .log(&repository, &reference, 100)
        .await
        .map_err(|err| failure(&viewer, err))?;
    Ok(layout(
        &format!("{repository} log"),
        Some(&viewer),
        "repositories",
        html! {
            h1 { (repository) " · log of " (reference) }
            (repository_tabs(&repository, &reference, "Log"))
            table #log {
                thead { tr { th { "Commit" } th { "Message" } th { "Import" } th { "Committer" } th { "Created" } th { "Metadata" } } }
                tbody {
                    @for commit in &commits {
                        tr {
                            td.mono { a href={ "/ui/repositories/" (repository) "?ref=" (commit.id) } { (commit.id.chars().take(12).collect::<String>()) } }
                            td { (commit.message) }
                            td.import {
                                @if let (Some(added), Some(changed), Some(deleted), Some(total)) = (
                                    commit.metadata.get("added"), commit.metadata.get("changed"),
                                    commit.metadata.get("deleted"), commit.metadata.get("total"),
                                ) {
                                    span.added { "+" (added) } " " span.changed { "~" (changed) } " "
                                    span.removed { "−" (deleted) } " " span.muted { "of " (total) }
                                }
                            }
                            td.mono { (commit.committer) }
                            td.muted { (commit.created_at) }
                            td.mono {
                                @for (key, value) in &commit.metadata {
                                    @if !IMPORT_COUNTS.contains(&key.as_str()) {
                                        span.badge { (key) "=" (value) } " "
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct CompareQuery {
    left: Option<String>,
    right: Option<String>,
    after: Option<String>,
}

/// Changes a compare page shows at a time.
const COMPARE_PAGE: usize = 100;

pub async fn compare(
    State(state): State<ApiState>,
    Extension(viewer): Extension<Viewer>,
    Path(repository): Path<String>,
    Query(query): Query<CompareQuery>,
) -> Result<Response, Response> {
    let repo = state
        .catalog
        .repository(&repository)
        .await
        .map_err(|err| failure(&viewer, err))?;
    let branches = state
        .catalog
        .list_branches(&repository)
        .await
        .map_err(|err| failure(&viewer, err))?;
    let right = query.right.unwrap_or(repo.default_branch.clone());
    // By default: an import branch against its previous import; another branch against
    // the import branch (the first source's, or the only one there is).
    let import_branches: Vec<&str> = branches
        .iter()
        .filter(|b| b.imports_only)
        .map(|b| b.name.as_str())
        .collect();
    let left = query.left.unwrap_or_else(|| {
        if import_branches.contains(&right.as_str()) || right == IMPORT_BRANCH {
            format!("{right}~1")
        } else if import_branches.len() == 1 {
            import_branches[0].to_string()
        } else {
            IMPORT_BRANCH.to_string()
        }
    });
    let diffed = state
        .catalog
        .diff_page(
            &repository,
            &left,
            &right,
            query.after.as_deref(),
            COMPARE_PAGE,
        )
        .await;
    let (page, problem) = match diffed {
        Ok(page) => (Some(page), None),
        Err(err @ (CatalogError::RefNotFound { .. } | CatalogError::NoSuchAncestor { .. })) => {
            (None, Some(err.to_string()))
        }
        Err(err) => return Err(failure(&viewer, err)),
    };
    // Merges go into branches users write, never into an import branch.
    let writable: Vec<&str> = branches
        .iter()
        .filter(|b| !b.imports_only)
        .map(|b| b.name.as_str())
        .collect();
    let base = format!(
        "/ui/repositories/{repository}/compare?left={}&right={}",
        encode(&left),
        encode(&right)
    );
    Ok(layout(
        &format!("{repository} compare"),
        Some(&viewer),
        "repositories",
        html! {
            h1 { (repository) " · compare" }
            (repository_tabs(&repository, &right, "Compare"))
            form.row.card method="get" action={ "/ui/repositories/" (repository) "/compare" } {
                label for="left" { "From" }
                input #left type="text" name="left" value=(left) list="refs";
                label for="right" { "to" }
                input #right type="text" name="right" value=(right) list="refs";
                datalist #refs { @for branch in &branches { option value=(branch.name) {} } }
                button type="submit" { "Compare" }
            }
            @if let Some(problem) = &problem {
                p.error { (problem) }
            }
            @if let Some(page) = &page {
                @let summary = &page.summary;
                p #summary {
                    span.added { (summary.added) " added" } ", "
                    span.removed { (summary.removed) " removed" } ", "
                    span.changed { (summary.changed) " changed" }
                }
                table #diff {
                    thead { tr { th { "Change" } th { "Path" } th.num { "Size before" } th.num { "Size after" } } }
                    tbody {
                        @for change in &page.changes {
                            @let kind = change.kind.as_str();
                            tr {
                                td class=(kind) { (kind) }
                                td.mono { (change.path) }
                                td.num { (change.left.as_ref().map(|e| human_bytes(e.size)).unwrap_or_default()) }
                                td.num { (change.right.as_ref().map(|e| human_bytes(e.size)).unwrap_or_default()) }
                            }
                        }
                        @if page.changes.is_empty() { tr { td colspan="4" .muted { "No differences." } } }
                    }
                }
                @if let Some(next) = &page.next_after {
                    p { a href={ (base) "&after=" (encode(next)) } { "Next page →" } }
                }
                h2 { "Merge " (right) " into a branch" }
                form.card.row data-api="merge" data-repository=(repository) data-source=(right) {
                    label for="destination" { "Into" }
                    select #destination name="destination" {
                        @for name in &writable {
                            option value=(name) selected[*name == repo.default_branch] { (name) }
                        }
                    }
                    label for="strategy" { "On conflict" }
                    select #strategy name="strategy" {
                        option value="fail" { "stop and list the conflicts" }
                        option value="source-wins" { "take " (right) "'s side" }
                        option value="dest-wins" { "keep the branch's side" }
                    }
                    button type="submit" { "Merge" }
                }
            }
        },
    )
    .into_response())
}

pub async fn imports(
    State(state): State<ApiState>,
    Extension(viewer): Extension<Viewer>,
    Path(repository): Path<String>,
) -> Result<Response, Response> {
    let repo = state
        .catalog
        .repository(&repository)
        .await
        .map_err(|err| failure(&viewer, err))?;
    // Without the branches, the page still offers its forms: no chart, as before any import.
    let branches = state
        .catalog
        .list_branches(&repository)
        .await
        .unwrap_or_default();
    let histories = import_histories(&state, &repository, &branches).await;
    Ok(layout(
        &format!("{repository} imports"),
        Some(&viewer),
        "repositories",
        html! {
            h1 { (repository) " · imports" }
            (repository_tabs(&repository, &repo.default_branch, "Imports"))
            @if histories.is_empty() {
                p.muted { "No import yet." }
            }
            @for (branch, history) in &histories {
                (history_chart(branch, history))
            }
            h2 { "Import a delivery" }
            form.card #import-dialog data-repository=(repository) data-default-branch=(repo.default_branch) {
                label for="manifest" { "Manifest URL" }
                input #manifest type="text" name="manifest" size="80"
                    placeholder="s3://inventory-bucket/prefix/source-bucket/config/2026-11-25T01-00Z/manifest.json" required;
                p.row {
                    button #test type="button" { "Test" }
                    button #import type="button" { "Import" }
                }
                div #test-result {}
                div #progress-box hidden {
                    p.row { span { "Importing: " span #progress-text {} } button.secondary #cancel-import type="button" hidden { "Cancel" } }
                    progress #progress max="1" value="0" {}
                }
                div #import-summary {}
            }
            h2 { "Sources" }
            table #sources {
                thead { tr { th { "Inventory" } th { "Merged into" } th { "Key prefix" } th { "Path" } th { "Import branch" } } }
                tbody {}
            }
            form.card.row data-api="add-source" data-repository=(repository) {
                input type="text" name="inventory" size="60" placeholder="s3://inventory-bucket/prefix/source-bucket/config/" required;
                input type="text" name="merge_into" placeholder="merge into (optional)";
                input type="text" name="prefix" placeholder="key prefix (optional: every key)";
                input type="text" name="path" placeholder="path (optional: the root)";
                input type="text" name="branch" placeholder={ "import branch (optional: " (IMPORT_BRANCH) ")" };
                button type="submit" { "Add source" }
            }
            h2 { "Jobs" }
            table #jobs {
                thead { tr { th { "Job" } th { "State" } th { "Progress" } th { "Created" } th.num { "Added" } th.num { "Changed" } th.num { "Deleted" } th { "Error" } th {} } }
                tbody {}
            }
        },
    )
    .into_response())
}

/// One import as the chart shows it.
struct Imported {
    commit: String,
    added: u64,
    changed: u64,
    deleted: u64,
    total: u64,
}

/// The imports of a repository on each of its import branches (one per source) among
/// `branches`, each branch's oldest first; branches with no import yet are left out.
async fn import_histories(
    state: &ApiState,
    repository: &str,
    branches: &[Branch],
) -> Vec<(String, Vec<Imported>)> {
    let mut histories = Vec::new();
    for branch in branches.iter().filter(|b| b.imports_only) {
        let history = import_history(state, repository, &branch.name).await;
        if !history.is_empty() {
            histories.push((branch.name.clone(), history));
        }
    }
    histories
}

/// The imports on `branch`, oldest first: its commits that record an import's counts
/// (at most the last 30).
async fn import_history(state: &ApiState, repository: &str, branch: &str) -> Vec<Imported> {
    let Ok(commits) = state.catalog.log(repository, branch, 30).await else {
        return Vec::new();
    };
    let number = |commit: &inventory_catalog::catalog::Commit, key: &str| {
        commit.metadata.get(key).and_then(|v| v.parse::<u64>().ok())
    };
    let mut history: Vec<Imported> = commits
        .iter()
        .filter_map(|commit| {
            Some(Imported {
                commit: commit.id.clone(),
                added: number(commit, "added")?,
                changed: number(commit, "changed")?,
                deleted: number(commit, "deleted")?,
                total: number(commit, "total")?,
            })
        })
        .collect();
    history.reverse();
    history
}

/// Bars of added / changed / deleted per import on `branch`, and a line of the total
/// objects, as SVG drawn here.
fn history_chart(branch: &str, history: &[Imported]) -> Markup {
    let (width, height, pad) = (760.0_f64, 220.0_f64, 36.0_f64);
    let slot = (width - 2.0 * pad) / history.len() as f64;
    let bar = (slot / 4.0).max(2.0);
    let most = history
        .iter()
        .map(|i| i.added.max(i.changed).max(i.deleted))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let most_total = history.iter().map(|i| i.total).max().unwrap_or(1).max(1) as f64;
    let y = |value: u64, scale: f64| height - pad - (value as f64 / scale) * (height - 2.0 * pad);
    let line: Vec<String> = history
        .iter()
        .enumerate()
        .map(|(n, import)| {
            format!(
                "{:.1},{:.1}",
                pad + slot * (n as f64 + 0.5),
                y(import.total, most_total)
            )
        })
        .collect();
    html! {
        figure.card.history data-branch=(branch) {
            svg width=(width) height=(height) viewBox={ "0 0 " (width) " " (height) } role="img" aria-label="Imports: objects added, changed and deleted, and total objects" {
                line x1=(pad) y1=(height - pad) x2=(width - pad) y2=(height - pad) stroke="#d9dee5" {}
                @for (n, import) in history.iter().enumerate() {
                    @let x = pad + slot * n as f64 + slot / 8.0;
                    @for (k, (value, color, kind)) in [(import.added, "#1f7a3a", "added"), (import.changed, "#c98a00", "changed"), (import.deleted, "#b3261e", "deleted")].into_iter().enumerate() {
                        rect class=(kind) x=(format!("{:.1}", x + bar * k as f64)) y=(format!("{:.1}", y(value, most)))
                            width=(format!("{bar:.1}")) height=(format!("{:.1}", (height - pad) - y(value, most))) fill=(color) {
                            title { (import.commit.chars().take(12).collect::<String>()) ": " (value) " " (kind) }
                        }
                    }
                }
                polyline points=(line.join(" ")) fill="none" stroke="#2457c5" stroke-width="2" {}
                @for (n, import) in history.iter().enumerate() {
                    circle.total cx=(format!("{:.1}", pad + slot * (n as f64 + 0.5))) cy=(format!("{:.1}", y(import.total, most_total))) r="3.5" fill="#2457c5" {
                        title { (import.total) " objects" }
                    }
                }
                text x=(pad) y="16" font-size="12" fill="#5f6b7a" { "total objects (line): " (history.last().map_or(0, |i| i.total)) }
            }
            figcaption.muted {
                span.added { "■ added" } " " span.changed { "■ changed" } " " span.removed { "■ deleted" }
                " per import on " (branch) ", oldest first; the line is the total of objects"
            }
        }
    }
}
