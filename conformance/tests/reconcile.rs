//! The suite's own writes against a target that commits a write and then fails it (reference
//! §8.2, §8.6; `acd-mock --faults realistic` does so now and then): the retry meets the
//! folder its first attempt created, and the suite takes that as the create it asked for,
//! instead of failing a check's setup with the 409.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use acd_client::pacer::Pacer;
use acd_conformance::api::{Api, Transport, id};
use acd_conformance::target::{http_client, pacer_config};
use serde_json::json;

/// An in-process mock, a paced and retrying [`Api`] on it, and the root's id.
async fn paced_api() -> (acd_mock::MockServer, Api, String) {
    let server = acd_mock::MockServer::builder()
        .listen(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .seed(7)
        .start()
        .await
        .unwrap();
    let minted = server.mint_token(None).unwrap();
    let base = server.url().to_string();
    let base = base.trim_end_matches('/');
    let api = Api {
        http: http_client().unwrap(),
        metadata: url::Url::parse(&format!("{base}/drive/v1/")).unwrap(),
        content: url::Url::parse(&format!("{base}/cdproxy/")).unwrap(),
        token: minted.access_token,
        scope: None,
        transport: Transport {
            pacer: Some(Arc::new(Pacer::new(pacer_config(None).unwrap()))),
            ..Transport::default()
        },
    };
    let root = id(&api.root().await.unwrap());
    (server, api, root)
}

/// Adds a fault rule through the admin API.
async fn fault(server: &acd_mock::MockServer, rule: serde_json::Value) {
    let admin = acd_mock::admin::Client::new(server.url()).unwrap();
    admin
        .add_faults_json(&rule)
        .await
        .unwrap_or_else(|e| panic!("{rule}: {e}"));
}

#[tokio::test]
async fn a_create_that_committed_then_failed_is_the_folder_it_made() {
    let (server, api, root) = paced_api().await;
    fault(
        &server,
        json!({
            "match": {"operation": "create_folder"},
            "action": {"kind": "error", "error": "internal_failure"},
            "when": "after_commit",
            "trigger": {"first": 1}
        }),
    )
    .await;
    let reply = api.create_folder(&root, "made-once").await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert!(reply.after_transient, "the first attempt got the 500");
    let folder = reply.json();
    assert_eq!(folder["name"], "made-once");
    assert_eq!(folder["kind"], "FOLDER");
    let children = api
        .list_all(&format!("nodes/{root}/children"), &[])
        .await
        .unwrap();
    let named: Vec<_> = children
        .iter()
        .filter(|n| n["name"] == "made-once")
        .collect();
    assert_eq!(named.len(), 1, "one folder: {children:?}");
    assert_eq!(
        id(named[0]),
        id(&folder),
        "the folder the first attempt made"
    );
}

#[tokio::test]
async fn a_conflict_with_no_transient_answer_before_it_stays_a_409() {
    let (_server, api, root) = paced_api().await;
    api.folder(&root, "taken").await.unwrap();
    let reply = api.create_folder(&root, "taken").await;
    assert_eq!(reply.status, 409, "{}", reply.text());
    assert!(!reply.after_transient);
}

#[tokio::test]
async fn a_500_before_a_conflict_with_an_older_folder_stays_a_409() {
    let (server, api, root) = paced_api().await;
    let older = api.folder(&root, "older").await.unwrap();
    // The folder must predate the call by more than the second of clock slack.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let made = chrono::DateTime::parse_from_rfc3339(older["createdDate"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    while chrono::Utc::now() - made <= chrono::TimeDelta::milliseconds(1100) {
        assert!(
            std::time::Instant::now() < deadline,
            "the clock did not move"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    fault(
        &server,
        json!({
            "match": {"operation": "create_folder"},
            "action": {"kind": "error", "error": "internal_failure"},
            "trigger": {"first": 1}
        }),
    )
    .await;
    let reply = api.create_folder(&root, "older").await;
    assert!(reply.after_transient, "the first attempt got the 500");
    assert_eq!(reply.status, 409, "{}", reply.text());
}
