//! A seeded random sequence of writes, commits, resets, imports and merges on several
//! branches, checked after every step against a naive in-memory model: every listing,
//! `stat`, the uncommitted changes, and every merge's result and conflicts.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use integration_tests::{LocalStack, env_number};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use inventory_catalog::catalog::{
    Catalog, CatalogError, CommitInfo, IMPORT_BRANCH, ListOptions, MergeOutcome, PendingChange,
};
use inventory_catalog::diff::ConflictStrategy;
use inventory_catalog::tree::{Entry, RangeParams};

const REPO: &str = "photos";
const USER_BRANCHES: [&str; 3] = ["main", "dev1", "dev2"];

/// One branch as the model sees it.
#[derive(Debug, Clone, Default)]
struct ModelBranch {
    head: String,
    /// Uncommitted changes: a new entry, or `None` for a deletion.
    pending: BTreeMap<String, Option<Entry>>,
}

#[derive(Debug, Default)]
struct Model {
    branches: BTreeMap<String, ModelBranch>,
    /// Every commit's tree and parents.
    trees: HashMap<String, BTreeMap<String, Entry>>,
    parents: HashMap<String, Vec<String>>,
}

impl Model {
    fn committed(&self, branch: &str) -> &BTreeMap<String, Entry> {
        &self.trees[&self.branches[branch].head]
    }

    /// What a branch shows: its commit with its uncommitted changes over it.
    fn view(&self, branch: &str) -> BTreeMap<String, Entry> {
        let mut view = self.committed(branch).clone();
        for (path, change) in &self.branches[branch].pending {
            match change {
                Some(entry) => view.insert(path.clone(), entry.clone()),
                None => view.remove(path),
            };
        }
        view
    }

    fn ancestors(&self, id: &str) -> HashSet<String> {
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([id.to_string()]);
        while let Some(id) = queue.pop_front() {
            if seen.insert(id.clone()) {
                queue.extend(self.parents.get(&id).cloned().unwrap_or_default());
            }
        }
        seen
    }

    /// 1 for the root, else one more than the highest parent's.
    fn generation(&self, id: &str) -> u64 {
        1 + self.parents[id]
            .iter()
            .map(|p| self.generation(p))
            .max()
            .unwrap_or(0)
    }

    /// Of the common ancestors of `a` and `b`, the one of highest generation, then
    /// highest id.
    fn merge_base(&self, a: &str, b: &str) -> Option<String> {
        let of_b = self.ancestors(b);
        self.ancestors(a)
            .into_iter()
            .filter(|id| of_b.contains(id))
            .max_by_key(|id| (self.generation(id), id.clone()))
    }
}

fn entry(path: &str, etag: &str) -> Entry {
    Entry {
        path: path.to_string(),
        address: format!("s3://photos-source/{path}"),
        version_id: Some(format!("v{etag}")),
        size: etag.len() as u64,
        etag: etag.to_string(),
        last_modified_ms: 1_700_000_000_000,
        storage_class: Some("STANDARD".into()),
    }
}

fn same(a: Option<&Entry>, b: Option<&Entry>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.same_object(b),
        _ => false,
    }
}

fn random_path(rng: &mut StdRng) -> String {
    const DIRS: [&str; 4] = ["a/", "a/b/", "c/", ""];
    format!(
        "{}{}",
        DIRS[rng.random_range(0..DIRS.len())],
        rng.random_range(0..12)
    )
}

fn info(message: &str) -> CommitInfo {
    CommitInfo {
        message: message.into(),
        committer: "model".into(),
        metadata: BTreeMap::new(),
    }
}

/// Checks `branches` (every branch when empty) against the model.
async fn check(catalog: &Catalog, model: &Model, branches: &[&str], rng: &mut StdRng, step: &str) {
    for branch in model.branches.keys() {
        if !branches.is_empty() && !branches.contains(&branch.as_str()) {
            continue;
        }
        let view = model.view(branch);
        // ls, recursive and by '/', page by page.
        for (prefix, delimiter) in [("", None), ("a/", Some("/")), ("", Some("/"))] {
            let mut options = ListOptions {
                prefix: prefix.into(),
                delimiter: delimiter.map(str::to_string),
                after: None,
                limit: rng.random_range(2..12),
            };
            let (mut listed, mut prefixes) = (Vec::new(), Vec::new());
            loop {
                let page = catalog.list(REPO, branch, &options).await.unwrap();
                listed.extend(page.entries);
                prefixes.extend(page.common_prefixes);
                match page.next_after {
                    Some(after) => options.after = Some(after),
                    None => break,
                }
            }
            let mut expected_prefixes: Vec<String> = Vec::new();
            let mut expected = Vec::new();
            for (path, entry) in view.range(prefix.to_string()..) {
                if !path.starts_with(prefix) {
                    break;
                }
                let rest = &path[prefix.len()..];
                match delimiter.and_then(|d| rest.find(d)) {
                    Some(i) => {
                        let common = format!("{prefix}{}", &rest[..=i]);
                        if expected_prefixes.last() != Some(&common) {
                            expected_prefixes.push(common);
                        }
                    }
                    None => expected.push(entry.clone()),
                }
            }
            assert_eq!(
                listed, expected,
                "{step}: ls {branch} {prefix:?} {delimiter:?}"
            );
            assert_eq!(prefixes, expected_prefixes, "{step}: prefixes of {branch}");
        }
        for _ in 0..3 {
            let path = random_path(rng);
            assert_eq!(
                catalog.stat(REPO, branch, &path).await.unwrap(),
                view.get(&path).cloned(),
                "{step}: stat {branch} {path}"
            );
        }
        let pending: BTreeMap<String, Option<Entry>> = catalog
            .pending_changes(REPO, branch)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.path, c.entry))
            .collect();
        assert_eq!(
            pending, model.branches[branch].pending,
            "{step}: changes of {branch}"
        );
        let head = catalog.branch(REPO, branch).await.unwrap().commit_id;
        assert_eq!(
            head, model.branches[branch].head,
            "{step}: head of {branch}"
        );
    }
}

/// `MODEL_STEPS` steps (default 60; `make soak` runs 400) from seed `MODEL_SEED`.
#[tokio::test]
async fn random_writes_commits_resets_imports_and_merges_match_a_naive_model() {
    let stack = LocalStack::start().await;
    stack.create_bucket("catalog-storage").await;
    let catalog = stack
        .catalog(RangeParams {
            min_entries: 2,
            split_modulus: 8,
            max_entries: 16,
        })
        .await;
    catalog
        .create_repository(REPO, "s3://catalog-storage/photos", None)
        .await
        .unwrap();
    let mut model = Model::default();
    let root = catalog.branch(REPO, "main").await.unwrap().commit_id;
    model.trees.insert(root.clone(), BTreeMap::new());
    model.parents.insert(root.clone(), Vec::new());
    for branch in ["dev1", "dev2", IMPORT_BRANCH] {
        catalog.create_branch(REPO, branch, "main").await.unwrap();
    }
    for branch in USER_BRANCHES.into_iter().chain([IMPORT_BRANCH]) {
        model.branches.insert(
            branch.to_string(),
            ModelBranch {
                head: root.clone(),
                pending: BTreeMap::new(),
            },
        );
    }
    let mut rng = StdRng::seed_from_u64(env_number("MODEL_SEED", 20261204));
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let steps = env_number("MODEL_STEPS", 60);
    for step in 0..steps {
        let branch = USER_BRANCHES[rng.random_range(0..USER_BRANCHES.len())].to_string();
        let action = rng.random_range(0..100);
        let label;
        match action {
            // Writes: several changes at once.
            0..30 => {
                label = "write";
                let changes: Vec<PendingChange> = (0..rng.random_range(1..5))
                    .map(|_| {
                        let path = random_path(&mut rng);
                        let entry = rng
                            .random_bool(0.8)
                            .then(|| entry(&path, &format!("{:x}", rng.random::<u16>())));
                        PendingChange {
                            path,
                            entry,
                            uploaded: false,
                        }
                    })
                    .collect();
                catalog
                    .put_changes(REPO, &branch, changes.clone())
                    .await
                    .unwrap();
                let pending = &mut model.branches.get_mut(&branch).unwrap().pending;
                for change in changes {
                    pending.insert(change.path, change.entry);
                }
            }
            // Deleting a path that exists, or one that does not.
            30..38 => {
                label = "rm";
                let path = random_path(&mut rng);
                let result = catalog.remove(REPO, &branch, &path, false).await;
                if model.view(&branch).contains_key(&path) {
                    assert_eq!(result.unwrap(), vec![path.clone()]);
                    model
                        .branches
                        .get_mut(&branch)
                        .unwrap()
                        .pending
                        .insert(path, None);
                } else {
                    assert!(matches!(result, Err(CatalogError::PathNotFound { .. })));
                }
            }
            38..55 => {
                label = "commit";
                let result = catalog.commit_changes(REPO, &branch, info("c")).await;
                let modeled = model.branches[&branch].clone();
                if modeled.pending.is_empty() {
                    assert!(matches!(result, Err(CatalogError::NothingToCommit { .. })));
                } else {
                    let committed = result.unwrap();
                    let tree = model.view(&branch);
                    let id = committed.commit.id.clone();
                    model.trees.insert(id.clone(), tree);
                    model.parents.insert(id.clone(), vec![modeled.head]);
                    let branch = model.branches.get_mut(&branch).unwrap();
                    branch.head = id;
                    branch.pending.clear();
                }
            }
            55..62 => {
                label = "reset";
                let pending = &mut model.branches.get_mut(&branch).unwrap().pending;
                if rng.random_bool(0.5) {
                    let discarded = catalog.reset(REPO, &branch, None).await.unwrap();
                    assert_eq!(discarded, pending.len() as u64);
                    pending.clear();
                } else {
                    let path = random_path(&mut rng);
                    let discarded = catalog.reset(REPO, &branch, Some(&path)).await.unwrap();
                    assert_eq!(discarded, u64::from(pending.remove(&path).is_some()));
                }
            }
            // An import: a new tree on the import branch, changed from the last.
            62..72 => {
                label = "import";
                let mut tree = model.committed(IMPORT_BRANCH).clone();
                for _ in 0..rng.random_range(1..6) {
                    let path = random_path(&mut rng);
                    if rng.random_bool(0.25) {
                        tree.remove(&path);
                    } else {
                        tree.insert(
                            path.clone(),
                            entry(&path, &format!("i{}", rng.random::<u16>())),
                        );
                    }
                }
                let parent = model.branches[IMPORT_BRANCH].head.clone();
                let id = catalog
                    .commit_entries(REPO, IMPORT_BRANCH, tree.values().cloned(), info("import"))
                    .await
                    .unwrap()
                    .commit
                    .id;
                model.trees.insert(id.clone(), tree);
                model.parents.insert(id.clone(), vec![parent]);
                model.branches.get_mut(IMPORT_BRANCH).unwrap().head = id;
            }
            // A merge of the import branch or another user branch into this one.
            _ => {
                label = "merge";
                let sources: Vec<&str> = USER_BRANCHES
                    .into_iter()
                    .chain([IMPORT_BRANCH, IMPORT_BRANCH])
                    .filter(|s| *s != branch)
                    .collect();
                let source = sources[rng.random_range(0..sources.len())];
                let strategy = [
                    ConflictStrategy::Fail,
                    ConflictStrategy::SourceWins,
                    ConflictStrategy::DestWins,
                ][rng.random_range(0..3)];
                let result = catalog
                    .merge(REPO, source, &branch, strategy, "model", None)
                    .await;
                let dest = model.branches[&branch].clone();
                let source_head = model.branches[source].head.clone();
                if !dest.pending.is_empty() {
                    assert!(
                        matches!(result, Err(CatalogError::UncommittedChanges { .. })),
                        "step {step}: {result:?}"
                    );
                } else {
                    let base = model.merge_base(&source_head, &dest.head);
                    if base.as_deref() == Some(source_head.as_str()) {
                        assert!(
                            matches!(result, Ok(MergeOutcome::UpToDate { .. })),
                            "step {step}: {result:?}"
                        );
                    } else if base.as_deref() == Some(dest.head.as_str()) {
                        assert!(
                            matches!(result, Ok(MergeOutcome::FastForward { .. })),
                            "step {step}: {result:?}"
                        );
                        model.branches.get_mut(&branch).unwrap().head = source_head;
                    } else {
                        let empty = BTreeMap::new();
                        let base_tree = base.as_ref().map_or(&empty, |b| &model.trees[b]);
                        let (source_tree, dest_tree) =
                            (&model.trees[&source_head], &model.trees[&dest.head]);
                        let mut merged = BTreeMap::new();
                        let mut conflicts = Vec::new();
                        let paths: std::collections::BTreeSet<&String> = base_tree
                            .keys()
                            .chain(source_tree.keys())
                            .chain(dest_tree.keys())
                            .collect();
                        for path in paths {
                            let (b, s, d) = (
                                base_tree.get(path),
                                source_tree.get(path),
                                dest_tree.get(path),
                            );
                            let result = if same(s, b) {
                                d
                            } else if same(d, b) || same(s, d) {
                                s
                            } else {
                                conflicts.push(path.clone());
                                match strategy {
                                    ConflictStrategy::SourceWins => s,
                                    _ => d,
                                }
                            };
                            if let Some(entry) = result {
                                merged.insert(path.clone(), entry.clone());
                            }
                        }
                        match (strategy, &result) {
                            (ConflictStrategy::Fail, _) if !conflicts.is_empty() => {
                                let Err(CatalogError::MergeConflicts { count, paths, .. }) =
                                    &result
                                else {
                                    panic!(
                                        "step {step}: expected conflicts {conflicts:?}, got {result:?}"
                                    );
                                };
                                assert_eq!((*count, paths), (conflicts.len() as u64, &conflicts));
                            }
                            (
                                _,
                                Ok(MergeOutcome::Merged {
                                    commit,
                                    conflicts_resolved,
                                }),
                            ) => {
                                assert_eq!(
                                    *conflicts_resolved,
                                    conflicts.len() as u64,
                                    "step {step}"
                                );
                                model.trees.insert(commit.id.clone(), merged);
                                model.parents.insert(
                                    commit.id.clone(),
                                    vec![dest.head.clone(), source_head],
                                );
                                model.branches.get_mut(&branch).unwrap().head = commit.id.clone();
                            }
                            (_, other) => {
                                panic!("step {step}: expected a merge commit, got {other:?}")
                            }
                        }
                    }
                }
            }
        }
        *counts.entry(label).or_default() += 1;
        // The branch the step changed after every step; every branch every ten steps.
        let touched: Vec<&str> = match label {
            _ if step % 10 == 9 => Vec::new(),
            "import" => vec![IMPORT_BRANCH],
            _ => vec![branch.as_str()],
        };
        let name = format!("step {step} ({label} on {branch})");
        check(&catalog, &model, &touched, &mut rng, &name).await;
    }
    // Every kind of step was taken, several times.
    assert_eq!(counts.len(), 6, "{counts:?}");
    assert!(counts.values().all(|n| *n >= 3), "{counts:?}");
    println!("{steps} steps: {counts:?}");
}
