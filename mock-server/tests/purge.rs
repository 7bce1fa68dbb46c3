#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `POST /_mock/purge`: trashed nodes leave the store now and appear in the changes feed as
//! `status: "PURGED"` when `includePurged` is asked (reference §6.11, §6.13).

mod common;

use acd_mock::admin_client::PurgeRequest;
use common::{Ctx, id_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Every node of the feed after `checkpoint`, and the last checkpoint.
async fn feed(ctx: &Ctx, checkpoint: Option<&str>, include_purged: bool) -> (Vec<Value>, String) {
    let mut body = json!({});
    if include_purged {
        body["includePurged"] = json!("true");
    }
    if let Some(c) = checkpoint {
        body["checkpoint"] = json!(c);
    }
    let (status, text) = ctx.changes(&body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let mut nodes = Vec::new();
    let mut last = String::new();
    let mut ended = false;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let value: Value = serde_json::from_str(line).unwrap();
        if value["end"] == json!(true) {
            ended = true;
            continue;
        }
        last = value["checkpoint"].as_str().unwrap().to_string();
        nodes.extend(value["nodes"].as_array().unwrap().iter().cloned());
    }
    assert!(ended, "no end line: {text}");
    (nodes, last)
}

#[tokio::test]
async fn purged_nodes_leave_the_store_and_show_in_the_feed() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let folder = id_of(&ctx.mkdir(&root, "Old").await);
    let inner = id_of(&ctx.upload_file(&folder, "inner.txt", b"inner").await);
    let kept = id_of(&ctx.upload_file(&root, "kept.txt", b"kept").await);
    let live = id_of(&ctx.upload_file(&root, "live.txt", b"live").await);
    assert_eq!(ctx.trash(&folder).await.0, StatusCode::OK);
    assert_eq!(ctx.trash(&kept).await.0, StatusCode::OK);
    let (_, checkpoint) = feed(&ctx, None, true).await;

    // Purge the folder by id (its subtree, trashed with it, goes too); a live id is ignored.
    let mut purged = ctx
        .admin_client
        .purge(&PurgeRequest {
            ids: Some(vec![folder.clone(), live.clone()]),
            ..PurgeRequest::default()
        })
        .await
        .unwrap();
    purged.sort();
    let mut expected = vec![folder.clone(), inner.clone()];
    expected.sort();
    assert_eq!(purged, expected);

    assert_eq!(ctx.node(&folder).await.0, StatusCode::NOT_FOUND);
    assert_eq!(ctx.node(&inner).await.0, StatusCode::NOT_FOUND);
    assert_eq!(ctx.node(&kept).await.0, StatusCode::OK, "not named: stays");
    assert_eq!(
        ctx.node(&live).await.0,
        StatusCode::OK,
        "live: never purged"
    );

    // The feed after the checkpoint: exactly the purged nodes, PURGED, with kind, name and parents.
    let (nodes, _) = feed(&ctx, Some(&checkpoint), true).await;
    let mut seen: Vec<String> = nodes.iter().map(id_of).collect();
    seen.sort();
    assert_eq!(seen, expected, "{nodes:?}");
    for node in &nodes {
        assert_eq!(node["status"], "PURGED", "{node}");
        assert!(
            node["kind"].is_string() && node["name"].is_string(),
            "{node}"
        );
        assert!(!node["parents"].as_array().unwrap().is_empty(), "{node}");
    }
    // Without includePurged they are left out; a full feed no longer has them live either.
    let (nodes, _) = feed(&ctx, Some(&checkpoint), false).await;
    assert!(nodes.is_empty(), "{nodes:?}");
    let (all, _) = feed(&ctx, None, false).await;
    assert!(all.iter().all(|n| id_of(n) != folder && id_of(n) != inner));

    // With neither ids nor a time: the whole trash.
    let purged = ctx
        .admin_client
        .purge(&PurgeRequest::default())
        .await
        .unwrap();
    assert_eq!(purged, vec![kept.clone()]);
    assert_eq!(ctx.node(&kept).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn trashed_before_picks_by_time_and_bad_times_are_400() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let file = id_of(&ctx.upload_file(&root, "f.txt", b"f").await);
    assert_eq!(ctx.trash(&file).await.0, StatusCode::OK);
    let purged = ctx
        .admin_client
        .purge(&PurgeRequest {
            trashed_before: Some("2000-01-01T00:00:00Z".into()),
            ..PurgeRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(purged, Vec::<String>::new());
    let purged = ctx
        .admin_client
        .purge(&PurgeRequest {
            trashed_before: Some("2999-01-01T00:00:00Z".into()),
            ..PurgeRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(purged, vec![file.clone()]);
    let (status, body) = ctx
        .admin_post("purge", Some(&json!({"trashed_before": "yesterday"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    common::assert_error_body(&body);
    let (status, body) = ctx
        .admin_post("purge", Some(&json!({"account": "nobody@example.com"})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}
