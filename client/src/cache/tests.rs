//! Unit tests of the cache file: opening, distrust and rebuild, applying change sets, the
//! journal.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use super::journal::Journal;
use super::*;
use crate::api::WriteLog as _;
use crate::api::model::{ChangeSet, Node};

fn node(id: &str, name: &str, parent: &str, status: &str, version: u64) -> Node {
    Node {
        id: id.into(),
        name: Some(name.into()),
        kind: "FILE".into(),
        status: status.into(),
        parents: vec![parent.into()],
        version: Some(version),
        ..Default::default()
    }
}

fn set(checkpoint: &str, nodes: Vec<Node>) -> ChangeSet {
    ChangeSet {
        checkpoint: Some(checkpoint.into()),
        nodes,
        reset: false,
        end: false,
    }
}

fn names(mut nodes: Vec<Node>) -> Vec<String> {
    nodes.sort_by(|a, b| a.name().cmp(b.name()));
    nodes.iter().map(|n| n.name().to_string()).collect()
}

#[test]
fn change_sets_store_nodes_and_checkpoints_and_purged_removes() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path(), "root1").unwrap();
    assert_eq!(cache.checkpoint().unwrap(), None);
    cache
        .apply(
            &set(
                "c1",
                vec![
                    node("a", "A.txt", "root1", "AVAILABLE", 1),
                    node("b", "b.txt", "root1", "AVAILABLE", 1),
                ],
            ),
            true,
        )
        .unwrap();
    assert_eq!(cache.checkpoint().unwrap().as_deref(), Some("c1"));
    assert_eq!(names(cache.children("root1").unwrap()), ["A.txt", "b.txt"]);
    assert_eq!(
        cache.child_named("root1", "a.txt").unwrap().unwrap().id,
        "a"
    );
    // Trash hides, PURGED removes, a second delivery of a node replaces it (never doubles).
    cache
        .apply(
            &set(
                "c2",
                vec![
                    node("a", "A.txt", "root1", "TRASH", 2),
                    node("b", "b.txt", "root1", "AVAILABLE", 1),
                ],
            ),
            false,
        )
        .unwrap();
    assert_eq!(names(cache.children("root1").unwrap()), ["b.txt"]);
    assert_eq!(cache.ids().unwrap(), ["a", "b"]);
    cache
        .apply(&set("c3", vec![node("a", "", "root1", "PURGED", 3)]), false)
        .unwrap();
    assert_eq!(cache.ids().unwrap(), ["b"]);
    // A reset drops everything before applying its nodes.
    let mut reset = set("c4", vec![node("c", "c.txt", "root1", "AVAILABLE", 1)]);
    reset.reset = true;
    cache.apply(&reset, false).unwrap();
    assert_eq!(cache.ids().unwrap(), ["c"]);
    assert_eq!(cache.info().unwrap().nodes, 1);
    assert_eq!(cache.info().unwrap().checkpoint.as_deref(), Some("c4"));
}

#[test]
fn a_reopened_cache_keeps_its_state() {
    let dir = tempfile::tempdir().unwrap();
    {
        let cache = Cache::open(dir.path(), "root1").unwrap();
        cache
            .apply(
                &set("c1", vec![node("a", "a", "root1", "AVAILABLE", 1)]),
                true,
            )
            .unwrap();
    }
    let cache = Cache::open(dir.path(), "root1").unwrap();
    assert_eq!(cache.checkpoint().unwrap().as_deref(), Some("c1"));
    assert_eq!(cache.ids().unwrap(), ["a"]);
}

#[test]
fn a_corrupt_file_is_rebuilt_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let path = file_for(dir.path(), "root1");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let cache = Cache::open(dir.path(), "root1").unwrap();
    assert_eq!(cache.checkpoint().unwrap(), None);
    assert_eq!(cache.info().unwrap().nodes, 0);
}

#[test]
fn a_file_of_another_account_or_schema_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let other = Cache::open(dir.path(), "other").unwrap();
        other
            .apply(
                &set("x", vec![node("a", "a", "other", "AVAILABLE", 1)]),
                true,
            )
            .unwrap();
    }
    std::fs::copy(file_for(dir.path(), "other"), file_for(dir.path(), "root1")).unwrap();
    let cache = Cache::open(dir.path(), "root1").unwrap();
    assert_eq!(
        cache.checkpoint().unwrap(),
        None,
        "another account's checkpoint"
    );
    assert!(cache.ids().unwrap().is_empty());
    drop(cache);

    let conn = rusqlite::Connection::open(file_for(dir.path(), "root1")).unwrap();
    conn.execute(
        "UPDATE meta SET value = '0' WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    conn.execute(
        "INSERT OR REPLACE INTO meta VALUES ('checkpoint', 'old')",
        [],
    )
    .unwrap();
    drop(conn);
    let cache = Cache::open(dir.path(), "root1").unwrap();
    assert_eq!(
        cache.checkpoint().unwrap(),
        None,
        "another schema's checkpoint"
    );
}

#[test]
fn an_unwritable_directory_is_an_error_not_a_panic() {
    // A directory that cannot be created (its parent is a file) stands in for a read-only
    // one: permission bits do not bind the root user these tests may run as.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = Cache::open(&file.join("metadata"), "root1").unwrap_err();
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}

#[test]
fn the_journal_is_shared_through_the_file_and_keeps_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let first = Arc::new(Cache::open(dir.path(), "root1").unwrap());
    let journal = Journal::new(Duration::from_secs(300), Some(first));
    journal.record(&node("a", "a", "d1", "AVAILABLE", 2), &[]);
    let mut moved = node("a", "a", "d2", "AVAILABLE", 3);
    moved.version = Some(3);
    journal.record(&moved, &["d1".into()]);
    // An older answer arriving late does not win.
    journal.record(&node("a", "a", "d1", "AVAILABLE", 1), &[]);

    // Another process: a second connection to the same file.
    let second = Arc::new(Cache::open(dir.path(), "root1").unwrap());
    let other = Journal::new(Duration::from_secs(300), Some(second));
    let in_d1 = other.recent_in("d1");
    assert_eq!(in_d1.len(), 1);
    assert_eq!(in_d1[0].parents, ["d2"], "d1 learns the node left it");
    assert_eq!(other.recent_in("d2")[0].version, Some(3));
    assert!(other.recent_in("d3").is_empty());

    let off = Journal::new(Duration::ZERO, None);
    off.record(&node("b", "b", "d1", "AVAILABLE", 1), &[]);
    assert!(off.recent_in("d1").is_empty());
}

/// Opening one new cache file from several connections at once never fails: two that switch
/// a fresh file to WAL together would deadlock (SQLite then answers "database is locked"
/// without waiting), so only the holder of the writer lock switches it.
#[test]
fn a_new_cache_opened_by_many_at_once_opens_for_all() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let start = Arc::new(std::sync::Barrier::new(4));
        let openers: Vec<_> = (0..4)
            .map(|_| {
                let (dir, start) = (dir.path().to_path_buf(), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    Cache::open(&dir, "acct").map(|c| c.info().map(|i| i.nodes))
                })
            })
            .collect();
        for opener in openers {
            let opened = opener.join().unwrap();
            assert!(
                matches!(opened, Ok(Ok(0))),
                "round {round}: {:?}",
                opened
                    .map(|i| i.map_err(|e| e.to_string()))
                    .map_err(|e| e.to_string())
            );
        }
    }
}
