//! The unit tests of trees: range and metarange ids, how ranges are encoded and
//! decoded, writing a tree and reading it back.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int64Array, StringArray};
use arrow_schema::{Field, Schema};
use bytes::Bytes;

use inventory_base::storage::ObjectStore;

use super::codec::{RangeArrays, RangeColumns, decode_range, write_parquet};
use super::entry::IMPORTED_SCHEME;
use super::writer::{PathHasher, path_hash};
use super::*;

fn entry(path: &str, etag: &str) -> Entry {
    Entry {
        path: path.to_string(),
        address: format!("s3://src/{path}"),
        version_id: None,
        size: 3,
        etag: etag.to_string(),
        last_modified_ms: 1,
        storage_class: None,
    }
}

/// The columns a writer would store for `entries`.
fn columns(entries: &[Entry]) -> RangeArrays {
    let mut columns = RangeColumns::with_capacity(0, 0);
    for entry in entries {
        columns.push(&entry.borrowed()).unwrap();
    }
    columns.finish()
}

/// Trees of small ranges at `s3://ns/repo`, in a local directory laid out like S3.
fn local_trees(root: &std::path::Path) -> TreeStore {
    TreeStore::new(
        ObjectStore::Local(root.to_path_buf()),
        "s3://ns/repo".parse().unwrap(),
        small(),
    )
}

fn small() -> RangeParams {
    RangeParams {
        min_entries: 4,
        split_modulus: 16,
        max_entries: 64,
    }
}

#[tokio::test]
async fn unchanged_spans_give_identical_ranges() {
    let root = tempfile::tempdir().unwrap();
    let trees = local_trees(root.path());
    let paths: Vec<String> = (0..2000).map(|i| format!("k/{i:06}")).collect();
    let mut writer = trees.writer();
    for p in &paths {
        writer.add(entry(p, "a")).await.unwrap();
    }
    let (first, stats) = writer.finish().await.unwrap();
    assert_eq!(stats.entries, 2000);
    assert!(first.ranges.len() > 20, "{} ranges", first.ranges.len());
    assert_eq!(stats.ranges_written as usize, first.ranges.len());

    // Change one entry in the middle: only its range differs.
    let mut writer = trees.writer();
    for p in &paths {
        writer
            .add(entry(p, if p == "k/001000" { "b" } else { "a" }))
            .await
            .unwrap();
    }
    let (second, stats) = writer.finish().await.unwrap();
    assert_eq!(stats.ranges_written, 1);
    assert_eq!(stats.ranges_reused as usize, second.ranges.len() - 1);
    let differing = first
        .ranges
        .iter()
        .zip(&second.ranges)
        .filter(|(a, b)| a.id != b.id)
        .count();
    assert_eq!(differing, 1);

    let loaded = trees.tree(&second.id).await.unwrap();
    assert_eq!(loaded, second);
    assert_eq!(
        trees.get(&loaded, "k/001000").await.unwrap().unwrap().etag,
        "b"
    );
    assert_eq!(trees.get(&loaded, "k/1").await.unwrap(), None);

    let mut cursor = trees.cursor(&loaded);
    cursor.seek("k/001500").await.unwrap();
    assert_eq!(cursor.next_entry().await.unwrap().unwrap().path, "k/001500");
}

#[test]
fn path_hashes_carried_over_shared_prefixes_are_whole_hashes() {
    let mut hasher = PathHasher::default();
    for path in [
        "",
        "a/b/c",
        "a/b/d",
        "a/b",
        "a/bc/é",
        "a/bc/é/f",
        "b",
        "",
        "a/b/d",
    ] {
        assert_eq!(hasher.hash(path), path_hash(path), "{path:?}");
    }
    // FNV-1a 64 of "a/b", as any implementation gives it.
    assert_eq!(path_hash("a/b"), 0xe620_c319_0468_cf61);
}

#[test]
fn tree_ids_stay_the_same_across_releases() {
    // Range and metarange ids name files already stored: the bytes hashed must never
    // change.
    let entries = [
        entry("a", "d41d8cd98f00b204e9800998ecf8427e"),
        Entry {
            version_id: Some("v1".into()),
            storage_class: Some("GLACIER_IR".into()),
            ..entry("b/é", "x-2")
        },
    ];
    assert_eq!(
        columns(&entries).id(),
        "30b59478aced917b20a20874f08a7f5fe5d9cfba6f413ae59f6f7666e963dd8c"
    );
    let ranges = [RangeInfo {
        id: columns(&entries).id(),
        min_path: "a".into(),
        max_path: "b/é".into(),
        entries: 2,
        bytes: 100,
    }];
    assert_eq!(
        metarange_id(&ranges),
        "fbb9e0e811a8436ea4d1b41bc0c33a202fdc23dc4aa9a099956b75f4235a3e82"
    );
}

/// Entries whose addresses are an import's own (`s3://src/…`, `s3://other/…`) and
/// others: written by a user, or ending with the path under a prefix.
fn mixed_addresses() -> Vec<Entry> {
    let mut entries: Vec<Entry> = ["a", "b/c", "d/", "e", "f", "g"]
        .iter()
        .map(|path| entry(path, "e0"))
        .collect();
    entries[2].address = "s3://other/d/".into();
    entries[3].address = "s3://ns/repo/data/0a1b".into();
    entries[4].address = "s3://ns/data/f".into();
    entries[5].address = "s3:///g".into();
    entries[5].version_id = Some("v1".into());
    entries
}

/// How [`addresses_read`] gives the addresses of [`mixed_addresses`] once stored:
/// an import's own by bucket and key, the others whole.
const MIXED_ADDRESSES_READ: [&str; 6] = [
    "imported src a",
    "imported src b/c",
    "imported other d/",
    "s3://ns/repo/data/0a1b",
    "s3://ns/data/f",
    "s3:///g",
];

/// Each entry's address as [`RangeFile::identities`] gives it, after checking that
/// every identity is the decoded entry's.
fn addresses_read(bytes: Bytes) -> Vec<String> {
    let file = RangeFile {
        url: "s3://ns/range".parse().unwrap(),
        bytes,
    };
    let entries = decode_range(file.bytes.clone()).unwrap();
    let mut found = Vec::new();
    for batch in file.identities().unwrap() {
        for row in 0..batch.len() {
            let identity = batch.identity(row);
            let entry = &entries[found.len()];
            assert_eq!(
                (batch.path(row), identity),
                (entry.path.as_str(), entry.identity())
            );
            found.push(match identity.address {
                Address::Url(url) => url.to_string(),
                Address::Imported { bucket, key } => format!("imported {bucket} {key}"),
            });
        }
    }
    found
}

#[test]
fn a_range_keeps_only_the_bucket_of_an_imports_address() {
    let entries = mixed_addresses();
    let bytes = columns(&entries).encode().unwrap();
    assert_eq!(decode_range(bytes.clone()).unwrap(), entries);
    assert_eq!(addresses_read(bytes), MIXED_ADDRESSES_READ);
}

#[test]
fn an_address_given_unbuilt_is_stored_and_hashed_as_the_built_one() {
    let built = mixed_addresses();
    let mut unbuilt = RangeColumns::with_capacity(0, 0);
    for entry in &built {
        let (bucket, key) = entry
            .address
            .strip_prefix(IMPORTED_SCHEME)
            .and_then(|rest| rest.split_once('/'))
            .unwrap();
        let address = Address::Imported { bucket, key };
        unbuilt
            .push(&EntryRef {
                address,
                ..entry.borrowed()
            })
            .unwrap();
    }
    let unbuilt = unbuilt.finish();
    assert_eq!(unbuilt.id(), columns(&built).id());
    let bytes = unbuilt.encode().unwrap();
    assert_eq!(decode_range(bytes.clone()).unwrap(), built);
    assert_eq!(addresses_read(bytes), MIXED_ADDRESSES_READ);
}

#[test]
fn a_range_written_with_whole_addresses_reads_the_same() {
    let entries = mixed_addresses();
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "path",
            Arc::new(StringArray::from_iter_values(
                entries.iter().map(|e| &e.path),
            )),
        ),
        (
            "address",
            Arc::new(StringArray::from_iter_values(
                entries.iter().map(|e| &e.address),
            )),
        ),
        (
            "version_id",
            Arc::new(StringArray::from_iter(
                entries.iter().map(|e| e.version_id.as_deref()),
            )),
        ),
        (
            "size",
            Arc::new(Int64Array::from_iter_values(
                entries.iter().map(|e| e.size as i64),
            )),
        ),
        (
            "etag",
            Arc::new(StringArray::from_iter_values(
                entries.iter().map(|e| &e.etag),
            )),
        ),
        (
            "last_modified",
            Arc::new(
                arrow_array::TimestampMillisecondArray::from_iter_values(
                    entries.iter().map(|e| e.last_modified_ms),
                )
                .with_timezone("UTC"),
            ),
        ),
        (
            "storage_class",
            Arc::new(StringArray::from_iter(
                entries.iter().map(|e| e.storage_class.as_deref()),
            )),
        ),
    ];
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let bytes = write_parquet(schema, columns.into_iter().map(|(_, a)| a).collect()).unwrap();
    assert_eq!(decode_range(bytes.clone()).unwrap(), entries);
    assert_eq!(
        addresses_read(bytes),
        entries
            .iter()
            .map(|e| e.address.clone())
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn rejects_unsorted_input() {
    let root = tempfile::tempdir().unwrap();
    let trees = local_trees(root.path());
    let mut writer = trees.writer();
    writer.add(entry("b", "x")).await.unwrap();
    let err = writer.add(entry("a", "x")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "entries must be added in strictly increasing path order: \"a\" came after \"b\""
    );

    // Also right after a range closed: a range holds at most 64 entries here.
    let mut writer = trees.writer();
    for i in 0..64 {
        writer.add(entry(&format!("k/{i:03}"), "x")).await.unwrap();
    }
    let err = writer.add(entry("k/063", "x")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "entries must be added in strictly increasing path order: \"k/063\" came after \"k/063\""
    );
}

#[tokio::test]
async fn a_range_or_metarange_missing_a_column_is_damaged_not_a_panic() {
    let root = tempfile::tempdir().unwrap();
    let trees = local_trees(root.path());
    trees.store.ensure_bucket("ns").await.unwrap();
    // A file with the first columns of a range only, stored where a range would be.
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("path", Arc::new(StringArray::from(vec!["a"]))),
        ("address", Arc::new(StringArray::from(vec!["s3://b/a"]))),
        (
            "version_id",
            Arc::new(StringArray::from(vec![None::<&str>])),
        ),
    ];
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let bytes = write_parquet(schema, columns.into_iter().map(|(_, a)| a).collect()).unwrap();
    trees
        .store
        .put(&trees.range_url("short"), bytes.clone())
        .await
        .unwrap();
    let url = trees.range_url("short");
    let err = trees.range("short").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "tree file {url} is damaged: missing column(s) size, etag, last_modified, storage_class"
        )
    );
    let file = trees.range_file("short").await.unwrap();
    let err = file.identities().err().unwrap();
    assert_eq!(
        err.to_string(),
        format!("tree file {url} is damaged: missing column(s) size, etag")
    );
    // The same file as a metarange lacks its counts.
    trees
        .store
        .put(&trees.metarange_url("short"), bytes)
        .await
        .unwrap();
    let err = trees.tree("short").await.unwrap_err();
    let url = trees.metarange_url("short");
    assert_eq!(
        err.to_string(),
        format!("tree file {url} is damaged: missing column(s) entries, bytes")
    );
}

#[tokio::test]
async fn verify_finds_a_range_changed_after_it_was_written() {
    let root = tempfile::tempdir().unwrap();
    let trees = local_trees(root.path());
    trees.store.ensure_bucket("ns").await.unwrap();
    let mut writer = trees.writer();
    for i in 0..200 {
        writer
            .add(entry(
                &format!("k/{i:04}"),
                "d41d8cd98f00b204e9800998ecf8427e",
            ))
            .await
            .unwrap();
    }
    let (tree, _) = writer.finish().await.unwrap();
    assert!(tree.ranges.len() > 2);
    assert_eq!(trees.verify(&tree).await.unwrap(), tree.ranges.len());

    // A range rewritten with one entry's ETag changed: a valid file, the wrong content.
    let range = &tree.ranges[1];
    let mut entries = std::sync::Arc::unwrap_or_clone(trees.range(&range.id).await.unwrap());
    entries[0].etag = "0".repeat(32);
    let bytes = columns(&entries).encode().unwrap();
    let url = trees.range_url(&range.id);
    trees.store.put(&url, bytes).await.unwrap();
    let err = trees.verify(&tree).await.unwrap_err().to_string();
    let prefix = format!("tree file {url} is damaged: its entries have id ");
    assert!(err.starts_with(&prefix), "{err}");
    assert!(err.ends_with(&format!(", not {}", range.id)), "{err}");
}

/// Writes `entries` as a whole new tree.
async fn written(trees: &TreeStore, entries: &[Entry]) -> Tree {
    let mut writer = trees.writer();
    for entry in entries {
        writer.add(entry.clone()).await.unwrap();
    }
    writer.finish().await.unwrap().0
}

#[tokio::test]
async fn applying_changes_reads_and_writes_only_the_ranges_they_touch() {
    let root = tempfile::tempdir().unwrap();
    let trees = local_trees(root.path());
    let base_entries: Vec<Entry> = (0..4000)
        .map(|i| entry(&format!("k/{i:06}"), "a"))
        .collect();
    let base = written(&trees, &base_entries).await;
    assert!(base.ranges.len() > 100, "{} ranges", base.ranges.len());

    // A few changes spread over the tree: a change, a deletion, an addition between
    // two existing paths, and one after the last.
    let changes = vec![
        PathChange {
            path: "k/000100".into(),
            entry: Some(entry("k/000100", "b")),
        },
        PathChange {
            path: "k/002000".into(),
            entry: None,
        },
        PathChange {
            path: "k/002500x".into(),
            entry: Some(entry("k/002500x", "c")),
        },
        PathChange {
            path: "z".into(),
            entry: Some(entry("z", "d")),
        },
    ];
    let (tree, stats) = trees.apply(&base, &changes).await.unwrap();

    // The same tree as writing the new entries from scratch, to the id.
    let mut expected: Vec<Entry> = base_entries
        .iter()
        .filter(|e| e.path != "k/002000")
        .map(|e| match e.path.as_str() {
            "k/000100" => entry("k/000100", "b"),
            _ => e.clone(),
        })
        .chain([entry("k/002500x", "c"), entry("z", "d")])
        .collect();
    expected.sort();
    let scratch = written(&trees, &expected).await;
    let first_difference = tree
        .ranges
        .iter()
        .zip(&scratch.ranges)
        .position(|(a, b)| a != b);
    if let Some(i) = first_difference {
        panic!(
            "range {i} differs: applied {:?}, written from scratch {:?}",
            tree.ranges.get(i),
            scratch.ranges.get(i)
        );
    }
    assert_eq!(tree, scratch);

    // Each change touches one range; reading ends where the ranges line up again.
    assert_eq!(stats.ranges_in_base, base.ranges.len() as u64);
    assert!(
        stats.ranges_read <= 2 * 3,
        "read {} ranges for changes in 3 ranges",
        stats.ranges_read
    );
    assert!(
        stats.write.ranges_written <= 2 * 4,
        "wrote {} ranges",
        stats.write.ranges_written
    );
    assert_eq!(
        stats.write.ranges_reused + stats.write.ranges_written,
        tree.ranges.len() as u64
    );

    // No change at all: every range taken whole, none read.
    let (same, stats) = trees.apply(&base, &[]).await.unwrap();
    assert_eq!(same, base);
    assert_eq!((stats.ranges_read, stats.write.ranges_written), (0, 0));
}

#[tokio::test]
async fn a_merge_reads_only_the_ranges_where_the_sides_differ() {
    use crate::diff::{ConflictStrategy, merge_trees};
    use std::collections::BTreeMap;

    let root = tempfile::tempdir().unwrap();
    let trees = local_trees(root.path());
    let base: BTreeMap<String, Entry> = (0..4000)
        .map(|i| {
            let path = format!("k/{i:06}");
            (path.clone(), entry(&path, "a"))
        })
        .collect();
    // The source (a day's import) changes 5 % of the paths near its end; the
    // destination (users' work) changes twenty near its start and adds one.
    let mut source = base.clone();
    for i in (3000..3200).step_by(1) {
        let path = format!("k/{i:06}");
        source.insert(path.clone(), entry(&path, "import"));
    }
    let mut dest = base.clone();
    for i in (100..2100).step_by(100) {
        let path = format!("k/{i:06}");
        dest.insert(path.clone(), entry(&path, "user"));
    }
    dest.insert("k/000150x".into(), entry("k/000150x", "new"));
    let [base_tree, source_tree, dest_tree] = [&base, &source, &dest].map(|m| {
        let entries: Vec<Entry> = m.values().cloned().collect();
        entries
    });
    let base_tree = written(&trees, &base_tree).await;
    let source_tree = written(&trees, &source_tree).await;
    let dest_tree = written(&trees, &dest_tree).await;

    let merged = merge_trees(
        &trees,
        &base_tree,
        &source_tree,
        &dest_tree,
        ConflictStrategy::Fail,
    )
    .await
    .unwrap();
    assert_eq!(merged.conflict_count, 0);
    let mut expected = dest.clone();
    for (path, entry) in &source {
        if base.get(path) != Some(entry) {
            expected.insert(path.clone(), entry.clone());
        }
    }
    let mut cursor = trees.cursor(&merged.tree);
    let mut got = Vec::new();
    while let Some(entry) = cursor.next_entry().await.unwrap() {
        got.push(entry);
    }
    assert_eq!(got, expected.values().cloned().collect::<Vec<_>>());

    // The ranges the changes fall in, in the base: each side's changed spans are read
    // at most twice over, the rest taken or skipped whole.
    let touched = base_tree
        .ranges
        .iter()
        .filter(|r| {
            source
                .range(r.min_path.clone()..=r.max_path.clone())
                .chain(dest.range(r.min_path.clone()..=r.max_path.clone()))
                .any(|(path, entry)| base.get(path) != Some(entry))
        })
        .count() as u64;
    let total = (base_tree.ranges.len() + source_tree.ranges.len() + dest_tree.ranges.len()) as u64;
    assert!(
        merged.ranges_read <= 2 * touched,
        "{} of {total} ranges read for {touched} touched",
        merged.ranges_read
    );
}

#[tokio::test]
async fn a_cursor_reads_the_same_through_a_cache_bounded_by_bytes() {
    let root = tempfile::tempdir().unwrap();
    let entries: Vec<Entry> = (0..3000)
        .map(|i| entry(&format!("k/{i:06}"), &format!("{i:032x}")))
        .collect();
    let plain = local_trees(root.path());
    let tree = written(&plain, &entries).await;
    assert!(tree.ranges.len() > 20);
    let cache = crate::tree::TreeCache::new(64 << 10);
    let cached = local_trees(root.path()).with_cache(Some(cache.clone()));
    for _ in 0..2 {
        let mut cursor = cached.cursor(&tree);
        cursor.seek("k/000100").await.unwrap();
        let mut read = Vec::new();
        while let Some(entry) = cursor.next_entry().await.unwrap() {
            read.push(entry);
        }
        assert!(read == entries[100..]);
        assert_eq!(
            cached.get(&tree, "k/002999").await.unwrap().as_ref(),
            entries.last()
        );
    }
    // Bounded: 64 KiB holds a part of the tree's ranges, never more.
    assert!(
        cache.bytes() > 0 && cache.bytes() <= 64 << 10,
        "{}",
        cache.bytes()
    );
    let shared = cached.shared_tree(&tree.id).await.unwrap();
    assert!(std::sync::Arc::ptr_eq(
        &shared,
        &cached.shared_tree(&tree.id).await.unwrap()
    ));
}
