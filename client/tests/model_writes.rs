//! Model-based property test of writes under ambiguous outcomes (issue 13; reference §8.2,
//! §8.6): a random sequence of write operations (mkdir, rename, move, purge) runs once against
//! a clean in-process `acd-mock` and once against a mock that applies some writes and then
//! fails their answer (`when = "after_commit"`: 500, 504, reset, cut body) and fails others
//! before applying them. Both runs must give the same result for each step and end with the
//! same tree: a write is never applied twice, and a write that took effect is never reported
//! as failed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use acd_client::config::ConfigFile;
use acd_client::ops::manage;
use acd_client::pacer::PacerConfig;
use acd_client::paths::RemotePath;
use acd_client::remote::Remote;
use acd_mock::MockServer;
use acd_mock::faults::rule::{Rule, When};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::json;

const REMOTE: &str = "acd";

/// The paths the operations pick from (under the test folder `m`).
const PATHS: [&str; 6] = ["a", "b", "a/c", "b/c", "a/d", "b/d"];

#[derive(Debug, Clone)]
enum Op {
    Mkdir(usize),
    MoveTo(usize, usize),
    Purge(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..PATHS.len()).prop_map(Op::Mkdir),
        3 => (0..PATHS.len(), 0..PATHS.len()).prop_map(|(a, b)| Op::MoveTo(a, b)),
        1 => (0..PATHS.len()).prop_map(Op::Purge),
    ]
}

fn rpath(path: &str) -> RemotePath {
    RemotePath {
        remote: REMOTE.into(),
        parts: format!("m/{path}")
            .split('/')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect(),
    }
}

/// A mock (with `rules`, if any) and a remote on it.
async fn start(rules: Option<serde_json::Value>, dir: &std::path::Path) -> (MockServer, Remote) {
    let server = MockServer::builder()
        .start()
        .await
        .expect("the mock starts");
    if let Some(rules) = rules {
        let rules: Vec<Rule> = serde_json::from_value(rules).expect("valid rules");
        server.state().faults.add(rules).expect("rules added");
    }
    let token = server.mint_token(None).expect("a token");
    let token_json = json!({
        "access_token": token.access_token,
        "token_type": "bearer",
        "refresh_token": token.refresh_token,
        "expiry": "2099-01-01T00:00:00Z",
    })
    .to_string();
    let config_path = dir.join("acd.conf");
    let mut file = ConfigFile::load(&config_path).unwrap();
    for (key, value) in [
        ("type", "amazon cloud drive"),
        ("client_id", "test-client"),
        ("client_secret", "test-secret"),
        ("token_url", &server.token_url()),
        ("endpoint_url", &server.endpoint_url()),
        ("token", &token_json),
    ] {
        file.set(REMOTE, key, value);
    }
    file.save().unwrap();
    let session = acd_client::remote::Session {
        config_path,
        overrides: Default::default(),
        http: acd_client::http::build_client(&Default::default()).unwrap(),
        pacer: PacerConfig {
            min_sleep: Duration::from_millis(1),
            max_sleep: Duration::from_millis(5),
            ..Default::default()
        },
        cache_dir: None,
    };
    let remote = session.open(REMOTE).await.expect("the remote opens");
    (server, remote)
}

/// Every folder under `m`, as paths.
async fn tree(remote: &Remote) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(top) = remote.dirs.find(&rpath("")).await.unwrap() else {
        return out;
    };
    let mut stack = vec![(top.id, String::new())];
    while let Some((id, prefix)) = stack.pop() {
        for child in remote.drive.children(&id).await.unwrap() {
            let path = format!("{prefix}{}", child.name());
            out.insert(format!("{path} {}", child.kind));
            if child.is_folder() {
                stack.push((child.id.clone(), format!("{path}/")));
            }
        }
    }
    out
}

/// Runs the sequence; each step's outcome (ok, or the error's kind).
async fn run(remote: &Remote, ops: &[Op]) -> Vec<String> {
    manage::mkdir(remote, &rpath("")).await.unwrap();
    let mut outcomes = Vec::new();
    for op in ops {
        let result = match op {
            Op::Mkdir(p) => manage::mkdir(remote, &rpath(PATHS[*p])).await.map(|_| ()),
            Op::MoveTo(a, b) => manage::move_to(remote, &rpath(PATHS[*a]), &rpath(PATHS[*b]))
                .await
                .map(|_| ()),
            Op::Purge(p) => manage::purge(remote, &rpath(PATHS[*p])).await,
        };
        outcomes.push(match result {
            Ok(()) => format!("{op:?}: ok"),
            Err(e) => format!("{op:?}: {:?}", e.kind()),
        });
    }
    outcomes
}

/// After-commit faults on every metadata write, and ordinary faults before any request.
fn faulty_rules() -> serde_json::Value {
    let writes = json!([
        "create_folder",
        "patch",
        "move",
        "add_parent",
        "remove_parent",
        "trash",
        "restore"
    ]);
    json!([
        {"match": {"operation": writes}, "when": "after_commit", "trigger": {"probability": 0.15},
         "action": {"kind": "error", "error": "gateway_timeout"}},
        {"match": {"operation": writes}, "when": "after_commit", "trigger": {"probability": 0.1},
         "action": {"kind": "error", "error": "internal_failure"}},
        {"match": {"operation": writes}, "when": "after_commit", "trigger": {"probability": 0.1},
         "action": {"kind": "reset"}},
        {"match": {"operation": writes}, "when": "after_commit", "trigger": {"probability": 0.1},
         "action": {"kind": "cut_body", "after_bytes": 5}},
        {"match": {"operation": writes}, "trigger": {"probability": 0.1},
         "action": {"kind": "error", "error": "bad_gateway"}},
        {"trigger": {"probability": 0.03}, "action": {"kind": "error", "error": "rate_exceeded"}},
    ])
}

/// The times the after-commit rules of a server fired.
fn after_commit_fired(server: &MockServer) -> u64 {
    server
        .state()
        .faults
        .rules()
        .iter()
        .filter(|r| r.rule.when == When::AfterCommit)
        .map(|r| r.fired.load(Ordering::SeqCst))
        .sum()
}

#[test]
fn faulted_writes_end_in_the_same_tree_as_clean_ones() {
    let fired = AtomicU64::new(0);
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    });
    let outcome = runner.run(&prop::collection::vec(op(), 1..10), |ops| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (clean_dir, faulty_dir) = (dir.path().join("clean"), dir.path().join("faulty"));
        std::fs::create_dir_all(&clean_dir).unwrap();
        std::fs::create_dir_all(&faulty_dir).unwrap();
        let (clean, faulty) = runtime.block_on(async {
            let (_s1, clean_remote) = start(None, &clean_dir).await;
            let (s2, faulty_remote) = start(Some(faulty_rules()), &faulty_dir).await;
            let clean_remote = Arc::new(clean_remote);
            let faulty_remote = Arc::new(faulty_remote);
            let clean = (run(&clean_remote, &ops).await, tree(&clean_remote).await);
            let faulty = (run(&faulty_remote, &ops).await, tree(&faulty_remote).await);
            fired.fetch_add(after_commit_fired(&s2), Ordering::SeqCst);
            (clean, faulty)
        });
        prop_assert_eq!(&clean.0, &faulty.0, "step outcomes");
        prop_assert_eq!(&clean.1, &faulty.1, "final trees");
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    // The property means something only if writes were committed and then failed.
    let fired = fired.load(Ordering::SeqCst);
    assert!(fired >= 10, "after-commit faults fired only {fired} times");
}
