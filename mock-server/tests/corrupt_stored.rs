//! The `corrupt_stored` fault: an upload or overwrite is stored with one byte flipped and
//! answered as usual, the node's md5 being that of the damaged content, so a client's
//! integrity check has something to catch. Only upload/overwrite rules are accepted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Ctx, Part, id_of, md5_hex, multipart_body};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn add_rule(ctx: &Ctx, rule: Value) -> (StatusCode, Value) {
    ctx.admin_post("faults", Some(&rule)).await
}

fn flipped(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at] = !out[at];
    out
}

#[tokio::test]
async fn an_upload_is_stored_damaged_and_its_md5_says_so() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let (status, body) = add_rule(
        &ctx,
        json!({"id": "damage", "match": {"operation": "upload"},
               "action": {"kind": "corrupt_stored", "offset": 70_000}, "trigger": {"first": 1}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Large enough to arrive in several chunks, so the offset lands past the first one.
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let node = ctx.upload_file(&root, "damaged.bin", &bytes).await;
    let stored = ctx.download(&id_of(&node)).await;
    assert_eq!(stored, flipped(&bytes, 70_000));
    assert_eq!(node["contentProperties"]["md5"], json!(md5_hex(&stored)));
    assert_ne!(node["contentProperties"]["md5"], json!(md5_hex(&bytes)));
    assert_eq!(node["contentProperties"]["size"], json!(bytes.len()));

    // `first: 1`: the next upload is stored as sent.
    let clean = ctx.upload_file(&root, "clean.bin", b"fine").await;
    assert_eq!(ctx.download(&id_of(&clean)).await, b"fine");
}

#[tokio::test]
async fn an_offset_past_the_end_flips_the_last_byte_of_an_overwrite() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let node = ctx.upload_file(&root, "o.txt", b"first").await;
    let id = id_of(&node);
    let (status, body) = add_rule(
        &ctx,
        json!({"match": {"operation": ["overwrite"]},
               "action": {"kind": "corrupt_stored", "offset": 1_000_000}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let response = ctx
        .req(Method::PUT, &ctx.c(&format!("nodes/{id}/content")))
        .header("Content-Type", common::multipart_type())
        .body(multipart_body(&[Part::content(b"second")], b""))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let node: Value = response.json().await.unwrap();
    let stored = ctx.download(&id).await;
    assert_eq!(stored, flipped(b"second", 5));
    assert_eq!(node["contentProperties"]["md5"], json!(md5_hex(&stored)));
}

#[tokio::test]
async fn a_corrupt_stored_rule_must_name_content_writes_only() {
    let ctx = Ctx::start().await;
    for matcher in [json!({}), json!({"operation": ["upload", "list"]})] {
        let (status, body) = add_rule(
            &ctx,
            json!({"match": matcher, "action": {"kind": "corrupt_stored"}}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{matcher}: {body}");
        assert!(
            body.to_string().contains("upload and/or overwrite"),
            "{body}"
        );
    }
}
