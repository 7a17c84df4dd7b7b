//! The versioned catalog on the local stack: DynamoDB for refs, S3 for trees.

use std::collections::{BTreeMap, BTreeSet};

use integration_tests::{LocalStack, env_number};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use inventory_catalog::catalog::{
    Catalog, CatalogError, CommitInfo, DEFAULT_TABLE, ListOptions, MergeOutcome,
};
use inventory_catalog::diff::{ChangeKind, ConflictStrategy};
use inventory_catalog::tree::{Entry, RangeParams};

const NAMESPACE: &str = "s3://catalog-storage/repos/photos";

/// Small ranges, so that even a few hundred entries span many range files.
fn small_ranges() -> RangeParams {
    RangeParams {
        min_entries: 4,
        split_modulus: 16,
        max_entries: 48,
    }
}

async fn setup(stack: &LocalStack) -> Catalog {
    stack.create_bucket("catalog-storage").await;
    let catalog = stack.catalog(small_ranges()).await;
    catalog
        .create_repository("photos", NAMESPACE, None)
        .await
        .unwrap();
    catalog
}

fn entry(path: &str, etag: &str) -> Entry {
    Entry {
        path: path.to_string(),
        address: format!("s3://source/{path}"),
        version_id: None,
        size: etag.len() as u64,
        etag: etag.to_string(),
        last_modified_ms: 1_700_000_000_000,
        storage_class: Some("STANDARD".into()),
    }
}

fn info(message: &str) -> CommitInfo {
    CommitInfo {
        message: message.into(),
        committer: "tester".into(),
        metadata: BTreeMap::new(),
    }
}

async fn commit(
    catalog: &Catalog,
    branch: &str,
    model: &BTreeMap<String, Entry>,
    message: &str,
) -> String {
    catalog
        .commit_entries("photos", branch, model.values().cloned(), info(message))
        .await
        .unwrap()
        .commit
        .id
}

/// Every page of a listing, concatenated.
async fn list_all(
    catalog: &Catalog,
    reference: &str,
    prefix: &str,
    delimiter: Option<&str>,
    limit: usize,
) -> (Vec<String>, Vec<String>) {
    let mut options = ListOptions {
        prefix: prefix.to_string(),
        delimiter: delimiter.map(str::to_string),
        after: None,
        limit,
    };
    let (mut keys, mut prefixes) = (Vec::new(), Vec::new());
    loop {
        let page = catalog.list("photos", reference, &options).await.unwrap();
        assert!(page.entries.len() + page.common_prefixes.len() <= limit);
        keys.extend(page.entries.into_iter().map(|e| e.path));
        prefixes.extend(page.common_prefixes);
        match page.next_after {
            Some(after) => options.after = Some(after),
            None => return (keys, prefixes),
        }
    }
}

/// What S3's ListObjectsV2 returns for these keys.
fn model_list(
    keys: &BTreeSet<String>,
    prefix: &str,
    delimiter: Option<&str>,
) -> (Vec<String>, Vec<String>) {
    let mut entries = Vec::new();
    let mut prefixes = BTreeSet::new();
    for key in keys.iter().filter(|k| k.starts_with(prefix)) {
        let rest = &key[prefix.len()..];
        match delimiter.and_then(|d| rest.find(d).map(|i| (i, d))) {
            Some((i, d)) => {
                prefixes.insert(format!("{prefix}{}", &rest[..i + d.len()]));
            }
            None => entries.push(key.clone()),
        }
    }
    (entries, prefixes.into_iter().collect())
}

#[tokio::test]
async fn repositories_and_branches() {
    let stack = LocalStack::start().await;
    let catalog = setup(&stack).await;
    let repo = catalog.repository("photos").await.unwrap();
    assert_eq!(repo.default_branch, "main");
    assert_eq!(repo.storage_namespace.to_string(), NAMESPACE);
    // A taken name: refused before anything is written, in the table or in either
    // namespace.
    stack.create_bucket("other-storage").await;
    let items = stack.count_items(DEFAULT_TABLE).await;
    let objects = stack.list_keys("catalog-storage", "").await;
    assert_eq!(
        catalog
            .create_repository("photos", "s3://other-storage/photos", None)
            .await
            .unwrap_err()
            .to_string(),
        "repository photos already exists"
    );
    assert_eq!(stack.count_items(DEFAULT_TABLE).await, items);
    assert_eq!(stack.list_keys("catalog-storage", "").await, objects);
    assert!(stack.list_keys("other-storage", "").await.is_empty());
    assert_eq!(
        catalog
            .create_repository("Bad Name", NAMESPACE, None)
            .await
            .unwrap_err()
            .to_string(),
        "invalid repository name \"Bad Name\": it must start with a lowercase letter or a digit"
    );
    assert_eq!(
        catalog
            .create_repository("other", "bucket/prefix", None)
            .await
            .unwrap_err()
            .to_string(),
        "invalid storage namespace \"bucket/prefix\": it must be s3://bucket[/prefix]"
    );
    catalog
        .create_repository("videos", "s3://catalog-storage/repos/videos", Some("trunk"))
        .await
        .unwrap();
    let names: Vec<String> = catalog
        .list_repositories()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["photos", "videos"]);

    let log = catalog.log("photos", "main", 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].message, "Repository created");
    let branch = catalog
        .create_branch("photos", "feature/a", "main")
        .await
        .unwrap();
    assert_eq!(branch.commit_id, log[0].id);
    assert_eq!(
        catalog
            .create_branch("photos", "feature/a", "main")
            .await
            .unwrap_err()
            .to_string(),
        "branch feature/a already exists in repository photos"
    );
    assert_eq!(
        catalog
            .create_branch("photos", "x", "nowhere")
            .await
            .unwrap_err()
            .to_string(),
        "ref \"nowhere\" matches no branch or commit in repository photos"
    );
    let branches: Vec<String> = catalog
        .list_branches("photos")
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(branches, ["feature/a", "main"]);
    assert_eq!(
        catalog
            .delete_branch("photos", "main")
            .await
            .unwrap_err()
            .to_string(),
        "branch main is the default branch of repository photos and cannot be deleted"
    );
    catalog.delete_branch("photos", "feature/a").await.unwrap();
    assert_eq!(
        catalog
            .delete_branch("photos", "feature/a")
            .await
            .unwrap_err()
            .to_string(),
        "branch feature/a does not exist in repository photos"
    );

    // Refs: commit id prefixes and ~N.
    let mut model = BTreeMap::new();
    model.insert("a".to_string(), entry("a", "1"));
    let first = commit(&catalog, "main", &model, "first").await;
    model.insert("b".to_string(), entry("b", "2"));
    let second = commit(&catalog, "main", &model, "second").await;
    assert_eq!(catalog.resolve("photos", "main").await.unwrap().id, second);
    assert_eq!(catalog.resolve("photos", "main~1").await.unwrap().id, first);
    assert_eq!(
        catalog.resolve("photos", &second[..10]).await.unwrap().id,
        second
    );
    assert_eq!(
        catalog
            .resolve("photos", &format!("{}~2", &second[..10]))
            .await
            .unwrap()
            .id,
        log[0].id
    );
    assert!(matches!(
        catalog.resolve("photos", "main~3").await.unwrap_err(),
        CatalogError::NoSuchAncestor { .. }
    ));

    // Deleting a repository removes its metadata, never an object.
    let objects_before = stack.list_keys("catalog-storage", "repos/photos/").await;
    catalog.delete_repository("photos").await.unwrap();
    assert_eq!(
        catalog.repository("photos").await.unwrap_err().to_string(),
        "repository photos does not exist"
    );
    assert_eq!(
        stack.list_keys("catalog-storage", "repos/photos/").await,
        objects_before
    );
    let names: Vec<String> = catalog
        .list_repositories()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["videos"]);
}

fn random_key(rng: &mut StdRng) -> String {
    const PARTS: [&str; 8] = ["a", "b", "dir", "dir/sub", "x y", "é", "+%", ""];
    let depth = rng.random_range(1..4);
    let mut key = (0..depth)
        .map(|_| PARTS[rng.random_range(0..PARTS.len())])
        .collect::<Vec<_>>()
        .join("/");
    key.push_str(&format!("{}", rng.random_range(0..50)));
    if rng.random_bool(0.05) {
        key.push('/');
    }
    key
}

/// `CATALOG_MODEL_SEEDS` rounds of commits (default 2; `make soak` runs 20).
#[tokio::test]
async fn random_commits_match_a_naive_model() {
    let stack = LocalStack::start().await;
    let catalog = setup(&stack).await;
    let mut model: BTreeMap<String, Entry> = BTreeMap::new();
    let mut previous = catalog.resolve("photos", "main").await.unwrap().id;
    for seed in 0..env_number("CATALOG_MODEL_SEEDS", 2) {
        let mut rng = StdRng::seed_from_u64(seed);
        let before = model.clone();
        for _ in 0..rng.random_range(50..300) {
            let key = random_key(&mut rng);
            match rng.random_range(0..10) {
                0..3 => {
                    model.remove(&key);
                }
                _ => {
                    let etag = format!("{:x}", rng.random::<u32>());
                    model.insert(key.clone(), entry(&key, &etag));
                }
            }
        }
        let id = commit(&catalog, "main", &model, &format!("seed {seed}")).await;
        let keys: BTreeSet<String> = model.keys().cloned().collect();

        // ls: recursive and with the delimiter, at several prefixes, page by page.
        for prefix in ["", "a", "a/", "dir/", "dir/sub/", "x y/", "é/", "+%"] {
            for delimiter in [None, Some("/")] {
                let limit = rng.random_range(1..40);
                assert_eq!(
                    list_all(&catalog, &id, prefix, delimiter, limit).await,
                    model_list(&keys, prefix, delimiter),
                    "seed {seed}, prefix {prefix:?}, delimiter {delimiter:?}, limit {limit}"
                );
            }
        }
        // stat: present and absent paths.
        for _ in 0..20 {
            let key = random_key(&mut rng);
            assert_eq!(
                catalog.stat("photos", &id, &key).await.unwrap(),
                model.get(&key).cloned(),
                "stat {key:?}"
            );
        }
        // diff against the previous commit.
        let mut changes = Vec::new();
        let summary = catalog
            .diff("photos", &previous, &id, |c| changes.push(c))
            .await
            .unwrap();
        let mut expected = Vec::new();
        for key in before.keys().chain(model.keys()).collect::<BTreeSet<_>>() {
            match (before.get(key), model.get(key)) {
                (None, Some(_)) => expected.push((key.clone(), ChangeKind::Added)),
                (Some(_), None) => expected.push((key.clone(), ChangeKind::Removed)),
                (Some(a), Some(b)) if a != b => expected.push((key.clone(), ChangeKind::Changed)),
                _ => {}
            }
        }
        let got: Vec<(String, ChangeKind)> =
            changes.iter().map(|c| (c.path.clone(), c.kind)).collect();
        assert_eq!(got, expected, "seed {seed}");
        assert_eq!(
            summary.added + summary.removed + summary.changed,
            expected.len() as u64
        );
        previous = id;
    }
}

#[tokio::test]
async fn committing_the_same_entries_twice_writes_no_new_range() {
    let stack = LocalStack::start().await;
    let catalog = setup(&stack).await;
    let model: BTreeMap<String, Entry> = (0..500)
        .map(|i| format!("data/{i:05}.bin"))
        .map(|k| (k.clone(), entry(&k, "e")))
        .collect();
    let first = catalog
        .commit_entries("photos", "main", model.values().cloned(), info("one"))
        .await
        .unwrap();
    let ranges = stack
        .list_keys("catalog-storage", "repos/photos/_catalog/ranges/")
        .await;
    assert!(ranges.len() > 10, "{} ranges", ranges.len());
    assert_eq!(first.stats.ranges_written as usize, ranges.len());

    let second = catalog
        .commit_entries("photos", "main", model.values().cloned(), info("two"))
        .await
        .unwrap();
    assert_eq!(second.stats.ranges_written, 0);
    assert_eq!(second.stats.ranges_reused as usize, ranges.len());
    assert_eq!(second.commit.metarange_id, first.commit.metarange_id);
    assert_eq!(
        stack
            .list_keys("catalog-storage", "repos/photos/_catalog/ranges/")
            .await,
        ranges
    );

    // A diff of identical trees reads no range at all.
    let summary = catalog
        .diff("photos", "main~1", "main", |_| panic!("no change expected"))
        .await
        .unwrap();
    assert_eq!(summary.ranges_skipped as usize, ranges.len());
}

#[tokio::test]
async fn merges() {
    let stack = LocalStack::start().await;
    let catalog = setup(&stack).await;
    let mut main: BTreeMap<String, Entry> = BTreeMap::new();
    for k in ["a", "b", "c", "d"] {
        main.insert(k.into(), entry(k, "base"));
    }
    let base = commit(&catalog, "main", &main, "base").await;

    // Fast-forward.
    catalog.create_branch("photos", "ff", "main").await.unwrap();
    let mut ff = main.clone();
    ff.insert("e".into(), entry("e", "new"));
    let ff_head = commit(&catalog, "ff", &ff, "add e").await;
    let outcome = catalog
        .merge(
            "photos",
            "ff",
            "main",
            ConflictStrategy::Fail,
            "tester",
            None,
        )
        .await
        .unwrap();
    assert!(matches!(&outcome, MergeOutcome::FastForward { commit } if *commit == ff_head));
    assert_eq!(
        catalog.branch("photos", "main").await.unwrap().commit_id,
        ff_head
    );
    let outcome = catalog
        .merge(
            "photos",
            "ff",
            "main",
            ConflictStrategy::Fail,
            "tester",
            None,
        )
        .await
        .unwrap();
    assert!(matches!(outcome, MergeOutcome::UpToDate { .. }));
    main = ff;

    // Clean three-way: both sides change different paths.
    catalog
        .create_branch("photos", "side", "main")
        .await
        .unwrap();
    let mut side = main.clone();
    side.insert("a".into(), entry("a", "side"));
    side.remove("b");
    commit(&catalog, "side", &side, "side work").await;
    main.insert("c".into(), entry("c", "main"));
    main.insert("f".into(), entry("f", "main"));
    let main_head = commit(&catalog, "main", &main, "main work").await;
    let outcome = catalog
        .merge(
            "photos",
            "side",
            "main",
            ConflictStrategy::Fail,
            "tester",
            None,
        )
        .await
        .unwrap();
    let MergeOutcome::Merged {
        commit: merged,
        conflicts_resolved,
    } = outcome
    else {
        panic!("expected a merge commit")
    };
    assert_eq!(conflicts_resolved, 0);
    assert_eq!(merged.parents.len(), 2);
    assert_eq!(merged.parents[0], main_head);
    assert_eq!(merged.message, "Merge side into main");
    let (keys, _) = list_all(&catalog, "main", "", None, 100).await;
    assert_eq!(keys, ["a", "c", "d", "e", "f"]);
    assert_eq!(
        catalog
            .stat("photos", "main", "a")
            .await
            .unwrap()
            .unwrap()
            .etag,
        "side"
    );
    assert_eq!(
        catalog
            .stat("photos", "main", "c")
            .await
            .unwrap()
            .unwrap()
            .etag,
        "main"
    );

    // Conflicts: both sides change "d" differently, and "a" too.
    catalog
        .create_branch("photos", "left", "main")
        .await
        .unwrap();
    catalog
        .create_branch("photos", "right", "main")
        .await
        .unwrap();
    let mut left = BTreeMap::new();
    let mut right = BTreeMap::new();
    for (k, v) in catalog
        .list(
            "photos",
            "main",
            &ListOptions {
                delimiter: None,
                ..ListOptions::default()
            },
        )
        .await
        .unwrap()
        .entries
        .into_iter()
        .map(|e| (e.path.clone(), e))
    {
        left.insert(k.clone(), v.clone());
        right.insert(k, v);
    }
    left.insert("d".into(), entry("d", "left"));
    left.insert("a".into(), entry("a", "left"));
    right.insert("d".into(), entry("d", "right"));
    right.remove("a");
    right.insert("g".into(), entry("g", "right"));
    commit(&catalog, "left", &left, "left").await;
    let right_head = commit(&catalog, "right", &right, "right").await;

    let err = catalog
        .merge(
            "photos",
            "left",
            "right",
            ConflictStrategy::Fail,
            "tester",
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "merge of left into right has 2 conflicting path(s): a, d"
    );
    assert_eq!(
        catalog.branch("photos", "right").await.unwrap().commit_id,
        right_head,
        "branch moved"
    );

    catalog
        .create_branch("photos", "right2", "right")
        .await
        .unwrap();
    let MergeOutcome::Merged {
        conflicts_resolved, ..
    } = catalog
        .merge(
            "photos",
            "left",
            "right",
            ConflictStrategy::SourceWins,
            "tester",
            None,
        )
        .await
        .unwrap()
    else {
        panic!("expected a merge commit")
    };
    assert_eq!(conflicts_resolved, 2);
    assert_eq!(
        catalog
            .stat("photos", "right", "d")
            .await
            .unwrap()
            .unwrap()
            .etag,
        "left"
    );
    assert_eq!(
        catalog
            .stat("photos", "right", "a")
            .await
            .unwrap()
            .unwrap()
            .etag,
        "left"
    );
    assert_eq!(
        catalog
            .stat("photos", "right", "g")
            .await
            .unwrap()
            .unwrap()
            .etag,
        "right"
    );

    catalog
        .merge(
            "photos",
            "left",
            "right2",
            ConflictStrategy::DestWins,
            "tester",
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        catalog
            .stat("photos", "right2", "d")
            .await
            .unwrap()
            .unwrap()
            .etag,
        "right"
    );
    assert_eq!(catalog.stat("photos", "right2", "a").await.unwrap(), None);
    let _ = base;
}

/// Two commits made on the same head: the second finds the branch moved and changes
/// nothing. They are sent one after the other: moto answers requests on several
/// threads without a lock around DynamoDB's conditional writes, so two sent at once
/// can both pass their condition there (DynamoDB itself checks and writes atomically).
#[tokio::test]
async fn a_commit_on_a_head_that_moved_is_refused() {
    let stack = LocalStack::start().await;
    let catalog = setup(&stack).await;
    let repo = catalog.repository("photos").await.unwrap();
    let head = catalog.branch("photos", "main").await.unwrap().commit_id;
    let trees = catalog.trees(&repo);
    let mut one = trees.writer();
    one.add(entry("one", "1")).await.unwrap();
    let (tree_one, _) = one.finish().await.unwrap();
    let mut two = trees.writer();
    two.add(entry("two", "2")).await.unwrap();
    let (tree_two, _) = two.finish().await.unwrap();

    let winner = catalog
        .commit_tree(
            &repo,
            "main",
            &head,
            vec![head.clone()],
            &tree_one,
            info("one"),
        )
        .await
        .unwrap();
    let loser = catalog
        .commit_tree(
            &repo,
            "main",
            &head,
            vec![head.clone()],
            &tree_two,
            info("two"),
        )
        .await
        .unwrap_err();
    assert_eq!(
        loser.to_string(),
        format!(
            "branch main moved while committing: expected commit {head}, found {}; nothing was changed, try again",
            winner.id
        )
    );
    assert_eq!(
        catalog.branch("photos", "main").await.unwrap().commit_id,
        winner.id
    );
    assert_eq!(
        catalog
            .stat("photos", "main", "one")
            .await
            .unwrap()
            .map(|e| e.etag),
        Some("1".to_string())
    );
    assert_eq!(catalog.stat("photos", "main", "two").await.unwrap(), None);
}

#[tokio::test]
async fn cat_reads_the_imported_bytes_or_says_the_source_changed() {
    let stack = LocalStack::start().await;
    let catalog = setup(&stack).await;
    stack.create_bucket("source").await;
    let s3 = stack.s3();
    let mut model = BTreeMap::new();
    for (key, body) in [("docs/readme.txt", "hello"), ("docs/notes.txt", "notes v1")] {
        let put = s3
            .put_object()
            .bucket("source")
            .key(key)
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
        let mut e = entry(key, put.e_tag().unwrap().trim_matches('"'));
        e.size = body.len() as u64;
        model.insert(key.to_string(), e);
    }
    commit(&catalog, "main", &model, "import").await;

    let (entry, body) = catalog
        .open("photos", "main", "docs/notes.txt")
        .await
        .unwrap();
    assert_eq!(entry.size, 8);
    assert_eq!(
        body.collect().await.unwrap().into_bytes().as_ref(),
        b"notes v1"
    );

    s3.put_object()
        .bucket("source")
        .key("docs/notes.txt")
        .body(b"notes v2".to_vec().into())
        .send()
        .await
        .unwrap();
    let err = catalog
        .open("photos", "main", "docs/notes.txt")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "object \"docs/notes.txt\" changed in the source after it was imported: s3://source/docs/notes.txt now has ETag {}, the catalog recorded {}",
            md5_hex(b"notes v2"),
            entry.etag
        )
    );
    s3.delete_object()
        .bucket("source")
        .key("docs/readme.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        catalog
            .open("photos", "main", "docs/readme.txt")
            .await
            .unwrap_err()
            .to_string(),
        "object \"docs/readme.txt\" no longer exists in the source: s3://source/docs/readme.txt is gone"
    );
    assert_eq!(
        catalog
            .open("photos", "main", "docs/none")
            .await
            .unwrap_err()
            .to_string(),
        "\"docs/none\" does not exist at main in repository photos"
    );
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(bytes))
}

#[tokio::test]
async fn awkward_keys_list_correctly() {
    let stack = LocalStack::start().await;
    let catalog = setup(&stack).await;
    let keys: BTreeSet<String> = [
        "a",
        "a/",
        "a//b",
        "a/b/",
        "a/b/c",
        "a b/c",
        "a+b/c",
        "a%2Fb",
        "/lead",
        "//double",
        "é/ü/日本",
        "😀/x",
        "ctl/\u{1}",
        "ctl/\n",
        "trailing/",
        "z",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    let model: BTreeMap<String, Entry> = keys.iter().map(|k| (k.clone(), entry(k, "e"))).collect();
    let id = commit(&catalog, "main", &model, "awkward").await;
    for prefix in ["", "a", "a/", "a//", "/", "é/", "ctl/", "a/b"] {
        for delimiter in [None, Some("/")] {
            for limit in [1, 3, 100] {
                assert_eq!(
                    list_all(&catalog, &id, prefix, delimiter, limit).await,
                    model_list(&keys, prefix, delimiter),
                    "prefix {prefix:?} delimiter {delimiter:?} limit {limit}"
                );
            }
        }
    }
}

#[tokio::test]
async fn cat_is_pinned_to_the_imported_version() {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let stack = LocalStack::start().await;
    let catalog = setup(&stack).await;
    stack.create_bucket("source").await;
    let s3 = stack.s3();
    s3.put_bucket_versioning()
        .bucket("source")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let put = s3
        .put_object()
        .bucket("source")
        .key("v.txt")
        .body(b"first".to_vec().into())
        .send()
        .await
        .unwrap();
    let mut e = entry("v.txt", put.e_tag().unwrap().trim_matches('"'));
    e.version_id = put.version_id().map(str::to_string);
    let model = BTreeMap::from([("v.txt".to_string(), e)]);
    commit(&catalog, "main", &model, "import").await;
    s3.put_object()
        .bucket("source")
        .key("v.txt")
        .body(b"second".to_vec().into())
        .send()
        .await
        .unwrap();

    let (_, body) = catalog.open("photos", "main", "v.txt").await.unwrap();
    assert_eq!(
        body.collect().await.unwrap().into_bytes().as_ref(),
        b"first"
    );
}

#[tokio::test]
async fn finding_a_merge_base_reads_only_the_commits_since_it() {
    let stack = LocalStack::start().await;
    setup(&stack).await;
    let proxy = integration_tests::faults::FaultProxy::start(&stack.endpoint).await;
    let catalog = stack.pipeline_through(&proxy, small_ranges()).await.catalog;
    // A long history on main, then two commits on each side of a fork.
    let mut model = BTreeMap::new();
    for i in 0..40 {
        model.insert(format!("k{i:03}"), entry(&format!("k{i:03}"), "a"));
        commit(&catalog, "main", &model, &format!("main {i}")).await;
    }
    let fork = catalog.branch("photos", "main").await.unwrap().commit_id;
    catalog
        .create_branch("photos", "dev", "main")
        .await
        .unwrap();
    let mut dev = model.clone();
    for i in 0..2 {
        model.insert(format!("m{i}"), entry(&format!("m{i}"), "m"));
        commit(&catalog, "main", &model, "main after the fork").await;
        dev.insert(format!("d{i}"), entry(&format!("d{i}"), "d"));
        commit(&catalog, "dev", &dev, "dev after the fork").await;
    }
    let main = catalog.branch("photos", "main").await.unwrap().commit_id;
    let dev = catalog.branch("photos", "dev").await.unwrap().commit_id;
    let before = proxy.calls("GetItem");
    let base = catalog.merge_base("photos", &main, &dev).await.unwrap();
    let read = proxy.calls("GetItem") - before;
    assert_eq!(base, Some(fork));
    // The two heads, the commit before each, and the fork: not the 41 commits of main.
    assert!(read <= 6, "{read} commits read to find the merge base");
    let generations = catalog.log("photos", &main, 3).await.unwrap();
    assert_eq!(
        generations.iter().map(|c| c.generation).collect::<Vec<_>>(),
        [43, 42, 41]
    );
}
