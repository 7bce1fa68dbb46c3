#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The typed admin client (`acd_mock::admin::Client`): each call once against a started mock,
//! with and without the admin token.

use acd_mock::MockServer;
use acd_mock::admin::Client;
use acd_mock::admin_client::{
    JournalQuery, MintRequest, NewAccount, PurgeRequest, SeedNode, SeedRequest, md5_hex,
};
use acd_mock::faults::settings::Settings;
use acd_mock::operation::Operation;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn every_call_answers_typed() {
    let server = MockServer::builder().start().await.unwrap();
    let admin = Client::new(server.url()).unwrap();

    let health = admin.health().await.unwrap();
    assert_eq!(health.status, "ok");
    assert_eq!(health.accounts, 1);

    let made = admin
        .create_account(&NewAccount {
            email: "second@example.com".into(),
            password: None,
            quota: Some(1234),
        })
        .await
        .unwrap();
    assert_eq!(made.quota, 1234);
    let accounts = admin.accounts().await.unwrap();
    assert_eq!(accounts.len(), 2);
    assert!(accounts.iter().any(|a| a.email == "second@example.com"));

    let token = admin
        .mint_token(&MintRequest::for_account("second@example.com"))
        .await
        .unwrap();
    assert!(token.access_token.starts_with("Atza|"));
    assert!(admin.access_token().await.unwrap().starts_with("Atza|"));
    admin.expire_token(&token.access_token).await.unwrap();
    let missing = admin.expire_token("Atza|nope").await.unwrap_err();
    assert_eq!(missing.status(), Some(StatusCode::NOT_FOUND));

    let created = admin
        .seed(&SeedRequest::nodes(vec![SeedNode::folder(
            "docs",
            vec![
                SeedNode::text("hello.txt", "hello"),
                SeedNode::synthetic("big.bin", 1000, 7),
            ],
        )]))
        .await
        .unwrap();
    let paths: Vec<&str> = created.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["docs", "docs/hello.txt", "docs/big.bin"]);
    assert_eq!(created[0].kind, "FOLDER");
    assert_eq!(created[1].kind, "FILE");

    // Nothing is trashed: nothing to purge.
    let purged = admin.purge(&PurgeRequest::default()).await.unwrap();
    assert!(purged.is_empty());

    let before = admin.clock().await.unwrap();
    assert_eq!(before.offset_ms, 0);
    let after = admin.advance_clock("1d").await.unwrap();
    assert!(after.offset_ms >= 86_400_000, "{after:?}");
    let later = admin.set_clock("2999-01-01T00:00:00Z").await.unwrap();
    assert_eq!(&later.now[..10], "2999-01-01");

    let ids = admin
        .add_faults_json(&json!({
            "id": "slow",
            "match": {"operation": "get_node"},
            "action": {"kind": "status", "status": 503},
        }))
        .await
        .unwrap();
    assert_eq!(ids, ["slow"]);
    let report = admin.fault("slow").await.unwrap();
    assert_eq!(report.rule.id, "slow");
    assert_eq!((report.matches, report.fired), (0, 0));
    let more = admin.add_faults(std::slice::from_ref(&report.rule)).await;
    assert!(more.is_err(), "a second rule with the same id is refused");
    let toml_ids = admin
        .add_faults_toml(
            "[[rules]]\nid = \"scoped\"\nscope = \"s1\"\naction = { kind = \"reset\" }\n",
        )
        .await
        .unwrap();
    assert_eq!(toml_ids, ["scoped"]);
    let state = admin.faults().await.unwrap();
    assert_eq!(state.rules.len(), 2);
    assert_eq!(state.pending_phantoms, 0);
    assert_eq!(admin.clear_faults(Some("s1")).await.unwrap(), 1);
    admin.remove_fault("slow").await.unwrap();
    assert_eq!(admin.clear_faults(None).await.unwrap(), 0);

    let settings = Settings {
        reject_empty_chunked: true,
        ..Settings::default()
    };
    assert_eq!(admin.set_settings(&settings).await.unwrap(), settings);
    assert_eq!(admin.settings().await.unwrap(), settings);
    let off = admin
        .set_settings_json(&json!({"reject_empty_chunked": false}))
        .await
        .unwrap();
    assert_eq!(off, Settings::default());

    // The journal saw an API request.
    let access = admin.access_token().await.unwrap();
    let info = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}account/info", server.metadata_url()))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), StatusCode::OK);
    let entries = admin
        .journal(&JournalQuery {
            limit: Some(10),
            operation: Some(Operation::Account),
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].status, 200);
    admin.clear_journal().await.unwrap();
    assert!(
        admin
            .journal(&JournalQuery::default())
            .await
            .unwrap()
            .is_empty()
    );

    admin.reset_account("second@example.com").await.unwrap();
    admin.reset().await.unwrap();
    assert_eq!(admin.accounts().await.unwrap().len(), 1);

    assert_eq!(md5_hex(b"hello"), "5d41402abc4b2a76b9719d911017c592");
}

#[tokio::test]
async fn the_admin_token_is_sent_and_refusals_carry_status_and_body() {
    let server = MockServer::builder()
        .admin_token("admin-secret")
        .start()
        .await
        .unwrap();
    let without = Client::new(server.url()).unwrap();
    let error = without.health().await.unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::UNAUTHORIZED));
    assert!(error.to_string().contains("admin token"), "{error}");
    let with = without.with_token(Some("admin-secret".into()));
    assert_eq!(with.health().await.unwrap().status, "ok");
}
