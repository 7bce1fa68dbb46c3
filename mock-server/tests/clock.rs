#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The test clock (`GET/POST /_mock/clock`): month-long behaviour in milliseconds. Trash older
//! than the retention is purged and shows as `PURGED` with `includePurged` (reference §6.11,
//! §6.13); tokens, tempLinks, phantoms and rate limits follow the clock too.

mod common;

use std::time::Duration;

use acd_mock::MockServer;
use acd_mock::admin_client::PurgeRequest;
use common::{Ctx, assert_error_body, client, id_of};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const DAY_MS: i64 = 86_400_000;

/// A mock whose tokens outlive the months these tests move through.
async fn start() -> Ctx {
    Ctx::with(long_lived(MockServer::builder())).await
}

fn long_lived(builder: acd_mock::MockServerBuilder) -> acd_mock::MockServerBuilder {
    builder.token_lifetime(Duration::from_secs(400 * 86_400))
}

/// An upload whose answer may not be JSON (a phantom's or a fault's 5xx): status and JSON if any.
async fn upload(ctx: &Ctx, parent: &str, name: &str, bytes: &[u8]) -> (StatusCode, Value) {
    let body = common::multipart_body(
        &[
            common::Part::metadata(&common::file_metadata(name, parent)),
            common::Part::content(bytes),
        ],
        b"",
    );
    let response = ctx
        .post_multipart("nodes?suppress=deduplication", body, false)
        .await;
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `POST /_mock/clock` that must succeed; the new `{"now", "offset_ms"}`.
async fn advance(ctx: &Ctx, by: &str) -> Value {
    let state = ctx
        .admin_client
        .advance_clock(by)
        .await
        .unwrap_or_else(|e| panic!("advance {by}: {e}"));
    serde_json::to_value(state).unwrap()
}

/// `GET /_mock/clock`.
async fn clock(ctx: &Ctx) -> Value {
    serde_json::to_value(ctx.admin_client.clock().await.unwrap()).unwrap()
}

/// The feed from the start: every node line's nodes (with `includePurged` if asked).
async fn feed(ctx: &Ctx, include_purged: bool) -> Vec<Value> {
    let body = if include_purged {
        json!({"includePurged": "true"})
    } else {
        json!({})
    };
    let (status, text) = ctx.changes(&body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter_map(|v| v["nodes"].as_array().cloned())
        .flatten()
        .collect()
}

fn statuses_of(nodes: &[Value], id: &str) -> Vec<String> {
    nodes
        .iter()
        .filter(|n| n["id"] == id)
        .map(|n| n["status"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_clock_starts_at_system_time_and_moves_forward() {
    let ctx = Ctx::start().await;
    let start = clock(&ctx).await;
    assert_eq!(start["offset_ms"], 0, "{start}");
    assert!(start["now"].as_str().unwrap().ends_with('Z'), "{start}");
    let moved = advance(&ctx, "30d").await;
    assert_eq!(moved["offset_ms"], 30 * DAY_MS, "{moved}");
    assert_eq!(clock(&ctx).await["offset_ms"], 30 * DAY_MS);
    // `set` to a later time; the offset grows by about the difference.
    let body = ctx
        .admin_client
        .set_clock("2999-01-01T00:00:00Z")
        .await
        .unwrap();
    assert_eq!(body.now[..10], *"2999-01-01", "{body:?}");
    // Each mock has its own clock.
    let other = Ctx::start().await;
    assert_eq!(clock(&other).await["offset_ms"], 0);
}

/// The 30-day trash purge in milliseconds: a node trashed 30 days ago is gone (404 by id,
/// `PURGED` in the feed with `includePurged`, absent without it); one trashed 29 days ago stays.
#[tokio::test]
async fn trash_older_than_30_days_is_purged() {
    let ctx = start().await;
    let root = ctx.root_id().await;
    let old = id_of(&ctx.upload_file(&root, "old.txt", b"old").await);
    let young = id_of(&ctx.upload_file(&root, "young.txt", b"young").await);
    let live = id_of(&ctx.upload_file(&root, "live.txt", b"live").await);
    assert_eq!(ctx.trash(&old).await.0, StatusCode::OK);
    advance(&ctx, "1d").await;
    assert_eq!(ctx.trash(&young).await.0, StatusCode::OK);

    // Day 30 minus a minute for `old`: both still in the trash.
    advance(&ctx, "28d 23h 59m").await;
    let (status, node) = ctx.node(&old).await;
    assert_eq!(status, StatusCode::OK, "{node}");
    assert_eq!(node["status"], "TRASH");

    // Two minutes later: `old` is 30 days in the trash and purged, `young` (29 days) stays.
    advance(&ctx, "2m").await;
    assert_eq!(ctx.node(&old).await.0, StatusCode::NOT_FOUND);
    let (status, node) = ctx.node(&young).await;
    assert_eq!(status, StatusCode::OK, "{node}");
    assert_eq!(node["status"], "TRASH");
    assert_eq!(
        ctx.node(&live).await.0,
        StatusCode::OK,
        "live nodes are never purged"
    );

    let nodes = feed(&ctx, true).await;
    assert_eq!(statuses_of(&nodes, &old), ["PURGED"], "{nodes:?}");
    assert_eq!(statuses_of(&nodes, &young), ["TRASH"]);
    let plain = feed(&ctx, false).await;
    assert!(statuses_of(&plain, &old).is_empty(), "{plain:?}");

    // One more day and `young` goes too.
    advance(&ctx, "1d").await;
    assert_eq!(ctx.node(&young).await.0, StatusCode::NOT_FOUND);
    assert_eq!(statuses_of(&feed(&ctx, true).await, &young), ["PURGED"]);
}

/// Advancing the clock purges at once, without waiting for the account's next request, and
/// the retention is configurable.
#[tokio::test]
async fn the_retention_is_configurable_and_advancing_purges() {
    let ctx =
        Ctx::with(long_lived(MockServer::builder()).trash_retention(Duration::from_secs(3600)))
            .await;
    let root = ctx.root_id().await;
    let folder = id_of(&ctx.mkdir(&root, "Gone").await);
    let inner = id_of(&ctx.upload_file(&folder, "inner.txt", b"inner").await);
    assert_eq!(ctx.trash(&folder).await.0, StatusCode::OK);
    advance(&ctx, "59m").await;
    assert_eq!(ctx.node(&folder).await.0, StatusCode::OK);
    advance(&ctx, "2m").await;
    // The purge happened when the clock moved, before any API request: the admin purge
    // (which is no API request) finds nothing left to purge.
    let purged = ctx
        .admin_client
        .purge(&PurgeRequest {
            ids: Some(vec![folder.clone()]),
            ..PurgeRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(purged, Vec::<String>::new(), "{purged:?}");
    assert_eq!(ctx.node(&folder).await.0, StatusCode::NOT_FOUND);
    assert_eq!(ctx.node(&inner).await.0, StatusCode::NOT_FOUND);
    let nodes = feed(&ctx, true).await;
    assert_eq!(statuses_of(&nodes, &folder), ["PURGED"]);
    assert_eq!(statuses_of(&nodes, &inner), ["PURGED"]);
}

/// A restored node is no longer trash: the clock running past the retention leaves it be.
#[tokio::test]
async fn restored_nodes_are_not_purged() {
    let ctx = start().await;
    let root = ctx.root_id().await;
    let id = id_of(&ctx.upload_file(&root, "back.txt", b"back").await);
    assert_eq!(ctx.trash(&id).await.0, StatusCode::OK);
    advance(&ctx, "10d").await;
    assert_eq!(ctx.restore(&id).await.0, StatusCode::OK);
    advance(&ctx, "60d").await;
    let (status, node) = ctx.node(&id).await;
    assert_eq!(status, StatusCode::OK, "{node}");
    assert_eq!(node["status"], "AVAILABLE");
}

#[tokio::test]
async fn access_tokens_expire_when_the_clock_passes_their_lifetime() {
    // The default lifetime: one hour.
    let ctx = Ctx::start().await;
    let info = || ctx.req(Method::GET, &ctx.m("account/info")).send();
    assert_eq!(info().await.unwrap().status(), StatusCode::OK);
    advance(&ctx, "59m").await;
    assert_eq!(info().await.unwrap().status(), StatusCode::OK);
    advance(&ctx, "2m").await;
    assert_eq!(info().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn templinks_expire_when_the_clock_passes_their_lifetime() {
    let ctx = start().await;
    let root = ctx.root_id().await;
    let id = id_of(&ctx.upload_file(&root, "linked.txt", b"linked bytes").await);
    let (status, node) = ctx.get(&ctx.m(&format!("nodes/{id}?tempLink=true"))).await;
    assert_eq!(status, StatusCode::OK, "{node}");
    let link = node["tempLink"].as_str().unwrap().to_string();
    let fetch = || client().get(&link).send();
    let r = fetch().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"linked bytes");
    // The default lifetime is 48 hours.
    advance(&ctx, "47h").await;
    assert_eq!(fetch().await.unwrap().status(), StatusCode::OK);
    advance(&ctx, "2h").await;
    let status = fetch().await.unwrap().status();
    assert!(
        status == StatusCode::NOT_FOUND || status == StatusCode::GONE,
        "{status}"
    );
}

/// A phantom upload due in an hour is PENDING until the clock has passed that hour, then
/// AVAILABLE.
#[tokio::test]
async fn a_phantom_due_in_an_hour_appears_when_the_clock_gets_there() {
    let ctx = start().await;
    let root = ctx.root_id().await;
    ctx.add_faults(&json!({
        "id": "phantom",
        "match": {"operation": "upload"},
        "action": {"kind": "phantom_upload", "status": 504, "delay_ms": 3_600_000},
        "trigger": {"first": 1},
    }))
    .await;
    let (status, _) = upload(&ctx, &root, "late.bin", b"late bytes").await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    let pending = ctx.lookup(&root, "late.bin").await;
    assert_eq!(
        pending["data"][0]["status"], "PENDING",
        "until it is due: {pending}"
    );
    advance(&ctx, "59m").await;
    let pending = ctx.lookup(&root, "late.bin").await;
    assert_eq!(pending["data"][0]["status"], "PENDING", "{pending}");
    advance(&ctx, "2m").await;
    let found = ctx.lookup(&root, "late.bin").await;
    assert_eq!(found["count"], 1, "{found}");
    assert_eq!(found["data"][0]["status"], "AVAILABLE");
}

/// The rate-limit windows follow the clock: advancing it refills the bucket.
#[tokio::test]
async fn rate_limit_windows_follow_the_clock() {
    let ctx = Ctx::start().await;
    ctx.admin_client
        .set_settings_json(&json!({"rate_limit": {"per_second": 1, "burst": 1, "retry_after": 1}}))
        .await
        .unwrap();
    let info = || ctx.req(Method::GET, &ctx.m("account/info")).send();
    assert_eq!(info().await.unwrap().status(), StatusCode::OK);
    // One per second with a burst of one: the next request at once is over the rate (on a
    // slow machine more than a second may pass, so only a 429 seen proves the limit is on).
    let mut limited = false;
    for _ in 0..5 {
        if info().await.unwrap().status() == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
    }
    assert!(limited, "the limit never answered 429");
    advance(&ctx, "10s").await;
    assert_eq!(info().await.unwrap().status(), StatusCode::OK);
}

/// Bad clock bodies are 400 in the service's error shape; nothing moves.
#[tokio::test]
async fn bad_clock_input_is_400() {
    let ctx = Ctx::start().await;
    for body in [
        json!({}),
        json!({"advance": "soon"}),
        json!({"advance": "-1d"}),
        json!({"advance": 30}),
        json!({"advance": "1000000000y"}),
        json!({"set": "yesterday"}),
        json!({"set": "2001-01-01T00:00:00Z"}),
        json!({"advance": "1d", "set": "2999-01-01T00:00:00Z"}),
        json!({"rewind": "1d"}),
    ] {
        let (status, reply) = ctx.admin_post("clock", Some(&body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {reply}");
        assert_error_body(&reply);
    }
    let (status, reply) = json_text(&ctx, "not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert_eq!(
        clock(&ctx).await["offset_ms"],
        0,
        "a refused move moves nothing"
    );
}

async fn json_text(ctx: &Ctx, text: &str) -> (StatusCode, Value) {
    let response = ctx
        .client
        .post(ctx.admin("clock"))
        .body(text.to_string())
        .send()
        .await
        .unwrap();
    common::json_of(response).await
}

/// Under the realistic profile (throttling, listing lag, sporadic 5xx) the purge still
/// happens; a throttled request is retried after moving the clock past its window.
#[tokio::test]
async fn the_purge_works_under_the_realistic_profile() {
    let plan = acd_mock::faults::profiles::load("realistic").unwrap();
    let ctx = Ctx::with(long_lived(MockServer::builder()).faults(plan).seed(11)).await;
    let root = ctx.root_id().await;
    let mut id = None;
    for _ in 0..50 {
        let (status, body) = upload(&ctx, &root, "doomed.txt", b"doomed").await;
        match status {
            StatusCode::CREATED => id = Some(id_of(&body)),
            StatusCode::CONFLICT => id = body["info"]["nodeId"].as_str().map(String::from),
            StatusCode::TOO_MANY_REQUESTS => drop(advance(&ctx, "5s").await),
            _ => {}
        }
        if id.is_some() {
            break;
        }
    }
    let id = id.expect("the upload went through within 50 tries");
    let mut trashed = false;
    for _ in 0..50 {
        match ctx.trash(&id).await.0 {
            StatusCode::OK => {
                trashed = true;
                break;
            }
            StatusCode::TOO_MANY_REQUESTS => drop(advance(&ctx, "5s").await),
            _ => {}
        }
    }
    assert!(trashed, "the trash went through within 50 tries");
    advance(&ctx, "30d 1m").await;
    for _ in 0..50 {
        let (status, body) = ctx.node(&id).await;
        match status {
            StatusCode::NOT_FOUND => return,
            StatusCode::TOO_MANY_REQUESTS => drop(advance(&ctx, "5s").await),
            s if s.is_server_error() => {}
            other => panic!("{other}: {body}"),
        }
    }
    panic!("never saw the 404 of the purged node");
}

/// A listing lag of an hour ends when the clock has passed that hour: the new folder, there
/// by id at once, reaches its parent's listing only then (reference §8.8).
#[tokio::test]
async fn an_hour_of_listing_lag_passes_with_the_clock() {
    let ctx = start().await;
    ctx.admin_client
        .set_settings_json(&json!({"listing_lag_ms": {"min": 3_600_000, "max": 3_600_000}}))
        .await
        .unwrap();
    let root = ctx.root_id().await;
    let id = id_of(&ctx.mkdir(&root, "Lagging").await);
    assert_eq!(ctx.node(&id).await.0, StatusCode::OK);
    assert_eq!(ctx.lookup(&root, "Lagging").await["count"], 0);
    advance(&ctx, "59m").await;
    assert_eq!(ctx.lookup(&root, "Lagging").await["count"], 0);
    advance(&ctx, "2m").await;
    let found = ctx.lookup(&root, "Lagging").await;
    assert_eq!(common::ids(&found), [id], "{found}");
}

/// Signs in and allows through the HTML forms: the consent page's ticket.
async fn consent_ticket(ctx: &Ctx, http: &reqwest::Client) -> String {
    let page = http
        .post(format!("{}/ap/signin", ctx.base()))
        .form(&[
            ("client_id", "clock-app"),
            ("redirect_uri", "http://127.0.0.1:9/back"),
            ("response_type", "code"),
            ("scope", "clouddrive:read_all clouddrive:write"),
            ("email", "user@example.com"),
            ("password", "password"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = page
        .find("name=\"ticket\" value=\"")
        .unwrap_or_else(|| panic!("no consent ticket in {page}"))
        + "name=\"ticket\" value=\"".len();
    page[start..].split('"').next().unwrap().to_string()
}

/// Allows a consent ticket: the answer's status and the `code` of its redirect, if any.
async fn allow(ctx: &Ctx, http: &reqwest::Client, ticket: &str) -> (StatusCode, Option<String>) {
    let response = http
        .post(format!("{}/ap/oa/consent", ctx.base()))
        .form(&[("ticket", ticket), ("consent", "allow")])
        .send()
        .await
        .unwrap();
    let code = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| reqwest::Url::parse(l).ok())
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned())
        });
    (response.status(), code)
}

/// Exchanges an authorization code: the status and body.
async fn exchange(ctx: &Ctx, http: &reqwest::Client, code: &str) -> (StatusCode, Value) {
    let response = http
        .post(ctx.server.token_url())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", "http://127.0.0.1:9/back"),
            ("client_id", "clock-app"),
            ("client_secret", "secret"),
        ])
        .send()
        .await
        .unwrap();
    common::json_of(response).await
}

/// Authorization codes (5 minutes) and the consent page (10 minutes) expire by the clock.
#[tokio::test]
async fn sign_in_codes_and_consent_pages_expire_with_the_clock() {
    let ctx = start().await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // A code used within its lifetime is exchanged.
    let ticket = consent_ticket(&ctx, &http).await;
    let (_, code) = allow(&ctx, &http, &ticket).await;
    advance(&ctx, "4m").await;
    let (status, body) = exchange(&ctx, &http, &code.expect("a code")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // One used after five minutes is refused.
    let ticket = consent_ticket(&ctx, &http).await;
    let (_, code) = allow(&ctx, &http, &ticket).await;
    advance(&ctx, "6m").await;
    let (status, body) = exchange(&ctx, &http, &code.expect("a code")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    // A consent page left open past ten minutes can no longer be allowed.
    let ticket = consent_ticket(&ctx, &http).await;
    advance(&ctx, "11m").await;
    let (status, code) = allow(&ctx, &http, &ticket).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code, None);
}
