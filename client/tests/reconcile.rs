//! Reconciliation of writes whose answer was lost (issue 13; reference §8.2, §8.6), against an
//! in-process `acd-mock` with `when = "after_commit"` rules: the write's effect is found and
//! reported as success, never applied twice; and when something else changed the node meanwhile,
//! the error names the node instead of replaying the write.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use acd_client::ErrorKind;
use acd_client::config::ConfigFile;
use acd_client::pacer::PacerConfig;
use acd_client::remote::Remote;
use acd_mock::MockServer;
use acd_mock::faults::rule::Rule;
use acd_mock::operation::Operation;
use serde_json::json;

const REMOTE: &str = "acd";

async fn start() -> (MockServer, Remote, String, tempfile::TempDir) {
    let server = MockServer::builder()
        .start()
        .await
        .expect("the mock starts");
    let token = server.mint_token(None).expect("a token");
    let token_json = json!({
        "access_token": token.access_token,
        "token_type": "bearer",
        "refresh_token": token.refresh_token,
        "expiry": "2099-01-01T00:00:00Z",
    })
    .to_string();
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("acd.conf");
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
    (server, remote, token.access_token, dir)
}

fn add_rule(server: &MockServer, rule: serde_json::Value) {
    let rule: Rule = serde_json::from_value(rule).expect("a valid rule");
    server.state().faults.add(vec![rule]).expect("rule added");
}

/// How many `operation` requests the handler applied (answered 2xx, or committed before a fault).
fn commits(server: &MockServer, operation: Operation) -> usize {
    server
        .state()
        .journal
        .entries(1000, Some(operation))
        .iter()
        .filter(|e| {
            (200..300).contains(&e.status) || e.committed.is_some_and(|c| (200..300).contains(&c))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lost_answer_is_found_applied_once() {
    let (server, remote, _, _dir) = start().await;
    let drive = &remote.drive;
    let root = drive.root().await.unwrap().id.clone();
    let a = drive.create_folder(&root, "a").await.unwrap();
    let b = drive.create_folder(&root, "b").await.unwrap();
    let x = drive.create_folder(&a.id, "x").await.unwrap();
    let failures = [
        json!({"kind": "reset"}),
        json!({"kind": "error", "error": "internal_failure"}),
        json!({"kind": "error", "error": "gateway_timeout"}),
        json!({"kind": "cut_body", "after_bytes": 5}),
    ];
    let ops = [
        Operation::CreateFolder,
        Operation::Patch,
        Operation::Move,
        Operation::AddParent,
        Operation::RemoveParent,
        Operation::Trash,
        Operation::Restore,
    ];
    for (i, op) in ops.iter().enumerate() {
        add_rule(
            &server,
            json!({"match": {"operation": op}, "when": "after_commit",
                   "action": failures[i % failures.len()], "trigger": {"first": 1}}),
        );
    }
    let made = drive.create_folder(&root, "made").await.unwrap();
    assert_eq!(made.name(), "made");
    let renamed = drive.rename(&x.id, "y").await.unwrap();
    assert_eq!(renamed.name(), "y");
    let moved = drive.move_node(&x.id, &a.id, &b.id).await.unwrap();
    assert_eq!(moved.parents, vec![b.id.clone()]);
    drive.add_parent(&x.id, &a.id).await.unwrap();
    drive.remove_parent(&x.id, &b.id).await.unwrap();
    assert_eq!(
        drive.node(&x.id, false).await.unwrap().parents,
        vec![a.id.clone()]
    );
    let trashed = drive.trash(&x.id).await.unwrap();
    assert_eq!(trashed.status, "TRASH");
    let restored = drive.restore(&x.id).await.unwrap();
    assert!(restored.is_available());
    for op in ops {
        let n = if op == Operation::CreateFolder { 4 } else { 1 };
        assert_eq!(commits(&server, op), n, "{op:?} applied once");
    }
    // Each reconciled write counted one retry.
    assert!(drive.pacer().retries() >= ops.len() as u64);
}

/// A 409 names the node holding the name in its body; cut short, the body names nothing, so
/// the answer counts as lost and the write is reconciled (CI failure of `chaos_sync_round_trip`,
/// where a folder's creation ended on `HTTP 409: {"logref":`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_whose_body_was_cut_is_reconciled_not_taken_as_a_verdict() {
    let (server, remote, _, _dir) = start().await;
    let drive = &remote.drive;
    let root = drive.root().await.unwrap().id.clone();
    let existing = drive.create_folder(&root, "dup").await.unwrap();
    add_rule(
        &server,
        json!({"match": {"operation": "create_folder"},
               "action": {"kind": "cut_body", "after_bytes": 10}, "trigger": {"first": 1}}),
    );
    let again = drive.create_folder(&root, "dup").await.unwrap();
    assert_eq!(again.id, existing.id);
    // The 409 was served (and cut), then the name looked up: nothing was created again.
    let entries = server
        .state()
        .journal
        .entries(1000, Some(Operation::CreateFolder));
    let statuses: Vec<u16> = entries.iter().map(|e| e.status).collect();
    assert!(statuses.contains(&409), "the 409 was served: {statuses:?}");
    assert_eq!(commits(&server, Operation::CreateFolder), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_changed_meanwhile_is_named_not_replayed() {
    let (server, remote, token, _dir) = start().await;
    let drive = remote.drive.clone();
    let root = drive.root().await.unwrap().id.clone();
    let a = drive.create_folder(&root, "a").await.unwrap();
    let b = drive.create_folder(&root, "b").await.unwrap();
    let c = drive.create_folder(&root, "c").await.unwrap();
    let x = drive.create_folder(&a.id, "x").await.unwrap();
    // The move is applied, then its answer is held for a while and the connection dropped.
    add_rule(
        &server,
        json!({"match": {"operation": "move"}, "when": "after_commit",
               "action": {"kind": "stall", "ms": 1000}, "trigger": {"first": 1}}),
    );
    let task = {
        let (drive, x, a, b) = (drive.clone(), x.id.clone(), a.id.clone(), b.id.clone());
        tokio::spawn(async move { drive.move_node(&x, &a, &b).await })
    };
    // Meanwhile someone else moves it on, from b to c (once the first move is in the store).
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let meta = server.metadata_url();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let node: serde_json::Value = http
            .get(format!("{meta}nodes/{}", x.id))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if node["parents"] == json!([b.id]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first move never landed: {node}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = http
        .post(format!("{meta}nodes/{}/children", c.id))
        .bearer_auth(&token)
        .json(&json!({"fromParent": b.id, "childId": x.id}))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");
    let error = task
        .await
        .unwrap()
        .expect_err("the outcome is neither before nor after");
    assert_eq!(error.kind(), ErrorKind::Refused, "{error}");
    let message = error.to_string();
    assert!(message.contains(&x.id), "names the node: {message}");
    assert!(message.contains(&c.id), "says where it is: {message}");
    // Not replayed: one move by the client, one by the other writer.
    assert_eq!(commits(&server, Operation::Move), 2);
    assert_eq!(
        drive.node(&x.id, false).await.unwrap().parents,
        vec![c.id.clone()]
    );
}
