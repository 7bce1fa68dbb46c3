//! Integration tests of the fault-injection layer of `acd-mock` (issue 4; reference
//! `docs/reference.md` §7 and §8): every rule action, trigger and matcher, the admin API
//! under `/_mock/faults`, the stateful behaviours of `PUT /_mock/faults/settings`, and the
//! shipped profiles. Each test starts its own server and checks both what the client sees and
//! the rule's `matches`/`fired` counts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use acd_mock::MockServer;
use acd_mock::admin_client::{MintRequest, NewAccount, SeedRequest};
use acd_mock::faults::profiles;
use bytes::Bytes;
use common::{
    Ctx, Part, client, file_metadata, form, id_of, json_of, md5_hex, multipart_body, multipart_type,
};
use futures_util::StreamExt as _;
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode, header};
use serde_json::{Value, json};

/// The header that puts a request into a rule scope.
const SCOPE: &str = "x-acd-mock-scope";

/// The 503 body of reference §3.
const UNAVAILABLE_HTML: &str = "<html><body><b>Http/1.1 Service Unavailable</b></body> </html>";

// ---- helpers ----------------------------------------------------------------------------

/// A response read whole, whatever its body.
#[derive(Debug)]
struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {:?}", self.status, self.text()))
    }

    fn retry_after(&self) -> Option<String> {
        self.headers
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_string())
    }
}

async fn raw(request: RequestBuilder) -> Raw {
    let response = request.send().await.expect("a response");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("the whole body").to_vec();
    Raw {
        status,
        headers,
        body,
    }
}

/// `GET account/info` (operation `account`) with the default token, in a scope if given.
async fn info(ctx: &Ctx, scope: Option<&str>) -> Raw {
    let mut request = ctx.req(Method::GET, &ctx.m("account/info"));
    if let Some(scope) = scope {
        request = request.header(SCOPE, scope);
    }
    raw(request).await
}

/// Adds one rule; must answer 201. Returns its id.
async fn add_rule(ctx: &Ctx, rule: Value) -> String {
    let ids = ctx.add_faults(&rule).await;
    assert_eq!(ids.len(), 1, "{ids:?}");
    ids[0].clone()
}

/// `GET /_mock/faults/{id}`.
async fn rule_report(ctx: &Ctx, id: &str) -> (StatusCode, Value) {
    json_of(
        ctx.client
            .get(ctx.admin(&format!("faults/{id}")))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A rule's `(matches, fired)`.
async fn counts(ctx: &Ctx, id: &str) -> (u64, u64) {
    let (status, report) = rule_report(ctx, id).await;
    assert_eq!(status, StatusCode::OK, "rule {id}: {report}");
    (
        report["matches"].as_u64().expect("matches"),
        report["fired"].as_u64().expect("fired"),
    )
}

/// `GET /_mock/faults` (raw: the tests check its JSON shape).
async fn fault_list(ctx: &Ctx) -> Value {
    let (status, body) = json_of(ctx.client.get(ctx.admin("faults")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The ids of the live rules, in order.
async fn rule_ids(ctx: &Ctx) -> Vec<String> {
    let state = ctx.admin_client.faults().await.unwrap();
    state.rules.into_iter().map(|r| r.rule.id).collect()
}

/// `PUT /_mock/faults/settings` (replaces every switch).
async fn put_settings(ctx: &Ctx, settings: Value) {
    ctx.admin_client
        .set_settings_json(&settings)
        .await
        .unwrap_or_else(|e| panic!("{settings}: {e}"));
}

/// The journal's entries of one operation, oldest first.
async fn journal(ctx: &Ctx, operation: &str) -> Vec<Value> {
    ctx.journal_of(operation).await
}

/// The latest journal entry of one operation.
async fn last_entry(ctx: &Ctx, operation: &str) -> Value {
    journal(ctx, operation)
        .await
        .pop()
        .unwrap_or_else(|| panic!("no {operation} entry in the journal"))
}

/// Creates a second account and mints its access token.
async fn second_account(ctx: &Ctx, email: &str) -> String {
    let account = NewAccount {
        email: email.into(),
        ..NewAccount::default()
    };
    ctx.admin_client.create_account(&account).await.unwrap();
    ctx.admin_client
        .mint_token(&MintRequest::for_account(email))
        .await
        .unwrap()
        .access_token
}

/// Seeds nodes into the default account's root; returns the ids of the created nodes (in
/// creation order: a folder before its children).
async fn seed(ctx: &Ctx, nodes: Value) -> Vec<String> {
    let request = SeedRequest::nodes(serde_json::from_value(nodes).unwrap());
    let created = ctx.admin_client.seed(&request).await.unwrap();
    created.into_iter().map(|c| c.id).collect()
}

/// A synthetic file of `size` bytes in the root; its id.
async fn seed_file(ctx: &Ctx, name: &str, size: u64, seed_value: u64) -> String {
    seed(
        ctx,
        json!([{"name": name, "size": size, "seed": seed_value}]),
    )
    .await
    .remove(0)
}

/// A folder in the root with text files `f0`..`f{n-1}`; the folder's id.
async fn seed_folder(ctx: &Ctx, name: &str, n: usize) -> String {
    let children: Vec<Value> = (0..n)
        .map(|i| json!({"name": format!("f{i}"), "content": format!("content {i}")}))
        .collect();
    seed(
        ctx,
        json!([{"name": name, "kind": "FOLDER", "children": children}]),
    )
    .await
    .remove(0)
}

/// Uploads `bytes` as `name` into `parent` (go-acd's multipart, `suppress=deduplication`),
/// in a scope if given, with Content-Length or chunked.
async fn upload_raw(
    ctx: &Ctx,
    parent: &str,
    name: &str,
    bytes: &[u8],
    scope: Option<&str>,
    chunked: bool,
) -> Raw {
    let body = multipart_body(
        &[
            Part::metadata(&file_metadata(name, parent)),
            Part::content(bytes),
        ],
        b"",
    );
    let mut request = ctx
        .req(Method::POST, &ctx.c("nodes?suppress=deduplication"))
        .header(header::CONTENT_TYPE, multipart_type());
    if let Some(scope) = scope {
        request = request.header(SCOPE, scope);
    }
    let request = if chunked {
        request.body(reqwest::Body::wrap_stream(common::chunked_stream(body, 64)))
    } else {
        request.body(body)
    };
    raw(request).await
}

/// The names in a list envelope's `data`, in order.
fn names(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data in {list}"))
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect()
}

/// The children of `folder` named `name` (the `children` listing, operation `list`).
async fn children_named(ctx: &Ctx, folder: &str, name: &str) -> Vec<Value> {
    let (status, list) = ctx
        .get(&ctx.m(&format!(
            "nodes/{folder}/children?filters={}",
            form(&format!("name:{name}"))
        )))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["data"].as_array().unwrap().clone()
}

/// How many nodes named `name` a go-acd lookup (`parents:"P" AND name:"N"`, a search) finds.
async fn lookup_count(ctx: &Ctx, parent: &str, name: &str) -> usize {
    ctx.lookup(parent, name).await["data"]
        .as_array()
        .unwrap()
        .len()
}

/// A client that does not follow redirects.
fn no_redirect_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Asserts the service's `{"logref","message","code":""}` body with this message.
#[track_caller]
fn assert_logref_body(body: &Value, message: &str) {
    let keys: Vec<&str> = body
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {body}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["logref", "message", "code"], "{body}");
    assert_eq!(body["logref"].as_str().unwrap().len(), 36, "{body}");
    assert_eq!(body["message"], message, "{body}");
    assert_eq!(body["code"], "", "{body}");
}

// ---- actions ----------------------------------------------------------------------------

/// Checks one preset's answer: exact status and body.
#[track_caller]
fn check_preset(preset: &str, r: &Raw) {
    let status = r.status.as_u16();
    match preset {
        "rate_exceeded" => {
            assert_eq!(status, 429);
            assert_logref_body(&r.json(), "Rate exceeded");
        }
        "rate_exceeded_bare" => {
            assert_eq!(status, 429);
            assert_eq!(r.json(), json!({"message": "Rate exceeded"}));
        }
        "concurrent_access" => {
            assert_eq!(status, 429);
            assert_logref_body(
                &r.json(),
                "Concurrent Access on same node. Please back off.",
            );
        }
        "internal_failure" => {
            assert_eq!(status, 500);
            assert_eq!(r.json(), json!({"message": "Internal failure"}));
        }
        "bad_gateway" => {
            assert_eq!(status, 502);
            assert!(r.body.is_empty(), "{:?}", r.text());
        }
        "service_unavailable" => {
            assert_eq!(status, 503);
            assert_eq!(r.text(), UNAVAILABLE_HTML);
            assert_eq!(r.headers[header::CONTENT_TYPE], "text/html");
        }
        "proxy_fleet_unavailable" => {
            assert_eq!(status, 503);
            assert_eq!(
                r.json(),
                json!({"logref": "", "message": "OPF (Online Proxy Fleet) unavailable", "code": "ONLINE_PROXY_FLEET_FAILURE"})
            );
        }
        "gateway_timeout" => {
            assert_eq!(status, 504);
            assert!(r.body.is_empty(), "{:?}", r.text());
        }
        "request_timeout" => {
            assert_eq!(status, 408);
            assert!(r.body.is_empty(), "{:?}", r.text());
        }
        "next_token_expired" => {
            assert_eq!(status, 400);
            let body = r.json();
            assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
            assert_eq!(body["logref"].as_str().unwrap().len(), 36, "{body}");
            assert_eq!(body["message"], "Next token is expired");
        }
        "token_expired" => {
            assert_eq!(status, 401);
            assert_eq!(r.json(), json!({"message": "Token has expired"}));
        }
        "upload_unauthorized" => {
            assert_eq!(status, 400);
            let body = r.json();
            assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
            let message = body["message"].as_str().unwrap();
            assert!(message.contains("HTTP status code=[401]"), "{message}");
            assert!(message.contains("Token has expired"), "{message}");
        }
        "authorization_header" => {
            assert_eq!(status, 403);
            let body = r.json();
            let message = body["message"].as_str().unwrap();
            assert!(
                message.starts_with("Authorization header requires"),
                "{message}"
            );
        }
        "unauthorized_empty" => {
            assert_eq!(status, 401);
            assert!(r.body.is_empty(), "{:?}", r.text());
        }
        "system_unavailable" => {
            assert_eq!(status, 429);
            assert_logref_body(
                &r.json(),
                "System unavailable. Please back off for a while and try again later",
            );
            assert!(common::shape_matches(
                "error_429_system_unavailable.json",
                &r.json()
            ));
        }
        "cannot_complete_upload" => {
            assert_eq!(status, 400);
            assert_eq!(
                r.json(),
                common::fixture("error_400_cannot_complete_upload.json")
            );
        }
        "unauthorized_client" => {
            assert_eq!(status, 400);
            assert_eq!(
                r.json(),
                common::fixture("oauth_error_unauthorized_client.json")
            );
        }
        other => panic!("unknown preset {other}"),
    }
}

#[tokio::test]
async fn error_presets_answer_the_services_status_and_body() {
    let ctx = Ctx::start().await;
    let presets = [
        "rate_exceeded",
        "rate_exceeded_bare",
        "concurrent_access",
        "internal_failure",
        "bad_gateway",
        "service_unavailable",
        "proxy_fleet_unavailable",
        "gateway_timeout",
        "request_timeout",
        "next_token_expired",
        "token_expired",
        "upload_unauthorized",
        "authorization_header",
        "unauthorized_empty",
        "system_unavailable",
        "cannot_complete_upload",
        "unauthorized_client",
    ];
    for preset in presets {
        let id = add_rule(
            &ctx,
            json!({
                "id": format!("preset-{preset}"),
                "scope": preset,
                "match": {"operation": "account"},
                "action": {"kind": "error", "error": preset},
            }),
        )
        .await;
        let r = info(&ctx, Some(preset)).await;
        check_preset(preset, &r);
        assert_eq!(
            r.retry_after(),
            None,
            "{preset}: no Retry-After unless asked"
        );
        assert_eq!(counts(&ctx, &id).await, (1, 1), "{preset}");
        let entry = last_entry(&ctx, "account").await;
        assert_eq!(entry["fault"], id.as_str(), "{entry}");
        assert_eq!(entry["status"], r.status.as_u16(), "{entry}");
    }
    // Outside every scope, nothing fires and no rule counts a match.
    let r = info(&ctx, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    for preset in presets {
        assert_eq!(counts(&ctx, &format!("preset-{preset}")).await, (1, 1));
    }
}

#[tokio::test]
async fn retry_after_and_custom_statuses() {
    let ctx = Ctx::start().await;
    let retry = add_rule(
        &ctx,
        json!({
            "scope": "retry",
            "match": {"operation": "account"},
            "action": {"kind": "error", "error": "rate_exceeded", "retry_after": 2},
        }),
    )
    .await;
    let r = info(&ctx, Some("retry")).await;
    check_preset("rate_exceeded", &r);
    assert_eq!(r.retry_after().as_deref(), Some("2"));
    assert_eq!(counts(&ctx, &retry).await, (1, 1));

    let teapot = add_rule(
        &ctx,
        json!({
            "id": "teapot",
            "scope": "teapot",
            "action": {"kind": "status", "status": 418, "message": "short and stout", "retry_after": 7},
        }),
    )
    .await;
    let r = info(&ctx, Some("teapot")).await;
    assert_eq!(r.status.as_u16(), 418);
    assert_eq!(r.json(), json!({"message": "short and stout"}));
    assert_eq!(r.retry_after().as_deref(), Some("7"));
    assert_eq!(counts(&ctx, &teapot).await, (1, 1));

    let bare = add_rule(
        &ctx,
        json!({"id": "bare", "scope": "bare", "action": {"kind": "status", "status": 507}}),
    )
    .await;
    let r = info(&ctx, Some("bare")).await;
    assert_eq!(r.status.as_u16(), 507);
    assert!(r.body.is_empty(), "{:?}", r.text());
    assert_eq!(r.retry_after(), None);
    assert_eq!(counts(&ctx, &bare).await, (1, 1));
    assert_eq!(last_entry(&ctx, "account").await["fault"], "bare");
}

#[tokio::test]
async fn reset_drops_the_connection_without_a_response() {
    let ctx = Ctx::start().await;
    let id = add_rule(
        &ctx,
        json!({
            "id": "drop",
            "match": {"operation": "account"},
            "action": {"kind": "reset"},
            "trigger": {"first": 1},
        }),
    )
    .await;
    let error = ctx
        .req(Method::GET, &ctx.m("account/info"))
        .send()
        .await
        .expect_err("a reset gives no response");
    assert!(error.status().is_none(), "{error:?}");
    assert!(!error.is_timeout(), "{error:?}");
    // The next request is answered.
    assert_eq!(info(&ctx, None).await.status, StatusCode::OK);
    assert_eq!(counts(&ctx, &id).await, (2, 1));
    let entries = journal(&ctx, "account").await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0]["status"], 0, "a reset is journaled as status 0");
    assert_eq!(entries[0]["fault"], "drop");
    assert_eq!(entries[1]["status"], 200);
    assert!(entries[1].get("fault").is_none(), "{}", entries[1]);
}

#[tokio::test]
async fn latency_fixed_and_uniform_delays_the_answer() {
    let ctx = Ctx::start().await;
    let fixed = add_rule(
        &ctx,
        json!({"scope": "fixed", "match": {"operation": "account"}, "action": {"kind": "latency", "ms": 300}}),
    )
    .await;
    let uniform = add_rule(
        &ctx,
        json!({"scope": "uniform", "match": {"operation": "account"}, "action": {"kind": "latency", "min_ms": 100, "max_ms": 150}}),
    )
    .await;
    let started = Instant::now();
    let r = info(&ctx, Some("fixed")).await;
    let elapsed = started.elapsed();
    assert_eq!(r.status, StatusCode::OK, "latency then the normal answer");
    assert!(r.json().is_object(), "{}", r.text());
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert_eq!(counts(&ctx, &fixed).await, (1, 1));

    let started = Instant::now();
    let r = info(&ctx, Some("uniform")).await;
    let elapsed = started.elapsed();
    assert_eq!(r.status, StatusCode::OK);
    assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
    assert_eq!(counts(&ctx, &uniform).await, (1, 1));
    let entry = last_entry(&ctx, "account").await;
    assert_eq!(entry["fault"], uniform.as_str());
    assert_eq!(entry["status"], 200);
}

#[tokio::test]
async fn stall_holds_the_request_then_drops_the_connection() {
    let ctx = Ctx::start().await;
    let id = add_rule(
        &ctx,
        json!({"id": "stall", "match": {"operation": "endpoint"}, "action": {"kind": "stall", "ms": 200}}),
    )
    .await;
    let started = Instant::now();
    let error = ctx
        .req(Method::GET, &ctx.server.endpoint_url())
        .send()
        .await
        .expect_err("a stall ends without a response");
    let elapsed = started.elapsed();
    assert!(error.status().is_none(), "{error:?}");
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert_eq!(counts(&ctx, &id).await, (1, 1));
    let entry = last_entry(&ctx, "endpoint").await;
    assert_eq!(entry["status"], 0);
    assert_eq!(entry["fault"], "stall");
}

#[tokio::test]
async fn cut_body_sends_exactly_the_first_bytes_then_fails() {
    let ctx = Ctx::start().await;
    let id = seed_file(&ctx, "cut.bin", 100_000, 1).await;
    let full = ctx.download(&id).await;
    assert_eq!(full.len(), 100_000);
    let rule = add_rule(
        &ctx,
        json!({
            "id": "cut",
            "scope": "cut",
            "match": {"operation": "download"},
            "action": {"kind": "cut_body", "after_bytes": 1000},
        }),
    )
    .await;
    let response = ctx
        .req(Method::GET, &ctx.c(&format!("nodes/{id}/content")))
        .header(SCOPE, "cut")
        .send()
        .await
        .expect("the head arrives");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_LENGTH],
        "100000",
        "the full length is announced"
    );
    let mut stream = response.bytes_stream();
    let mut received = Vec::new();
    let mut failed = false;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => received.extend_from_slice(&chunk),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "reading the body must fail");
    assert_eq!(received.len(), 1000);
    assert_eq!(received, full[..1000]);
    assert_eq!(counts(&ctx, &rule).await, (1, 1));
    let entry = last_entry(&ctx, "download").await;
    assert_eq!(entry["fault"], "cut");
    assert_eq!(entry["status"], 200);
    // Outside the scope the download is whole.
    assert_eq!(ctx.download(&id).await, full);
    assert_eq!(counts(&ctx, &rule).await, (1, 1));
}

#[tokio::test]
async fn corrupt_byte_flips_exactly_one_byte() {
    let ctx = Ctx::start().await;
    let id = seed_file(&ctx, "corrupt.bin", 100_000, 3).await;
    let full = ctx.download(&id).await;
    let at = add_rule(
        &ctx,
        json!({
            "scope": "at",
            "match": {"operation": "download"},
            "action": {"kind": "corrupt_byte", "offset": 12_345},
        }),
    )
    .await;
    let anywhere = add_rule(
        &ctx,
        json!({
            "scope": "anywhere",
            "match": {"operation": "download"},
            "action": {"kind": "corrupt_byte"},
        }),
    )
    .await;
    let url = ctx.c(&format!("nodes/{id}/content"));
    let differing = |got: &[u8]| -> Vec<usize> {
        assert_eq!(got.len(), full.len(), "same length");
        (0..got.len()).filter(|&i| got[i] != full[i]).collect()
    };

    let r = raw(ctx.req(Method::GET, &url).header(SCOPE, "at")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(differing(&r.body), [12_345]);
    assert_eq!(r.body[12_345], full[12_345] ^ 0xFF);
    assert_eq!(counts(&ctx, &at).await, (1, 1));
    assert_eq!(last_entry(&ctx, "download").await["fault"], at.as_str());

    let r = raw(ctx.req(Method::GET, &url).header(SCOPE, "anywhere")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(differing(&r.body).len(), 1, "one byte, at a seeded place");
    assert_eq!(counts(&ctx, &anywhere).await, (1, 1));
}

// ---- triggers ---------------------------------------------------------------------------

/// Which of `n` scoped `account` requests got the rule's 500.
async fn fire_pattern(ctx: &Ctx, scope: &str, n: usize) -> Vec<bool> {
    let mut out = Vec::new();
    for _ in 0..n {
        let r = info(ctx, Some(scope)).await;
        match r.status.as_u16() {
            500 => out.push(true),
            200 => out.push(false),
            other => panic!("{scope}: unexpected {other}: {}", r.text()),
        }
    }
    out
}

#[tokio::test]
async fn triggers_first_every_after_probability_and_always() {
    let ctx = Ctx::start().await;
    let cases: [(&str, Value, usize, Vec<bool>); 6] = [
        (
            "first",
            json!({"first": 2}),
            5,
            vec![true, true, false, false, false],
        ),
        (
            "every",
            json!({"every": 3}),
            7,
            vec![false, false, true, false, false, true, false],
        ),
        (
            "after",
            json!({"after": 2}),
            5,
            vec![false, false, true, true, true],
        ),
        ("p1", json!({"probability": 1.0}), 4, vec![true; 4]),
        ("p0", json!({"probability": 0.0}), 4, vec![false; 4]),
        ("always", json!({}), 3, vec![true; 3]),
    ];
    for (scope, trigger, n, expected) in cases {
        let id = add_rule(
            &ctx,
            json!({
                "id": scope,
                "scope": scope,
                "match": {"operation": "account"},
                "action": {"kind": "error", "error": "internal_failure"},
                "trigger": trigger,
            }),
        )
        .await;
        assert_eq!(fire_pattern(&ctx, scope, n).await, expected, "{scope}");
        let fired = expected.iter().filter(|f| **f).count() as u64;
        assert_eq!(counts(&ctx, &id).await, (n as u64, fired), "{scope}");
    }
}

/// The request indices (of 64) a p=0.5 rule fires on, on a server seeded with `seed`.
async fn probability_pattern(seed: u64) -> Vec<usize> {
    let plan = profiles::parse(
        "coin.toml",
        r#"
[[rules]]
id = "coin"
match = { operation = "account" }
action = { kind = "error", error = "internal_failure" }
trigger = { probability = 0.5 }
"#,
    )
    .unwrap();
    let ctx = Ctx::with(MockServer::builder().faults(plan).seed(seed)).await;
    assert_eq!(fault_list(&ctx).await["seed"], seed);
    let mut fired = Vec::new();
    for (i, fires) in fire_pattern(&ctx, "none", 64).await.into_iter().enumerate() {
        if fires {
            fired.push(i);
        }
    }
    assert_eq!(counts(&ctx, "coin").await, (64, fired.len() as u64));
    fired
}

#[tokio::test]
async fn probability_is_deterministic_for_a_seed() {
    let (a, b, c) = tokio::join!(
        probability_pattern(7),
        probability_pattern(7),
        probability_pattern(8)
    );
    assert!(!a.is_empty() && a.len() < 64, "{a:?}");
    assert_eq!(a, b, "the same seed and requests give the same faults");
    assert_ne!(a, c, "another seed gives another pattern");
}

// ---- matching ---------------------------------------------------------------------------

#[tokio::test]
async fn rules_match_operation_method_and_path() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let node_url = ctx.m(&format!("nodes/{root}"));
    let delete = |id: String| {
        let url = ctx.admin(&format!("faults/{id}"));
        let client = ctx.client.clone();
        async move {
            let status = client.delete(url).send().await.unwrap().status();
            assert_eq!(status, StatusCode::NO_CONTENT);
        }
    };

    // One operation.
    let id = add_rule(
        &ctx,
        json!({"match": {"operation": "get_node"}, "action": {"kind": "error", "error": "internal_failure"}}),
    )
    .await;
    assert_eq!(raw(ctx.req(Method::GET, &node_url)).await.status, 500);
    assert_eq!(info(&ctx, None).await.status, StatusCode::OK);
    assert_eq!(counts(&ctx, &id).await, (1, 1));
    delete(id).await;

    // A list of operations.
    let id = add_rule(
        &ctx,
        json!({"match": {"operation": ["account", "endpoint"]}, "action": {"kind": "error", "error": "bad_gateway"}}),
    )
    .await;
    assert_eq!(info(&ctx, None).await.status, 502);
    assert_eq!(
        raw(ctx.req(Method::GET, &ctx.server.endpoint_url()))
            .await
            .status,
        502
    );
    assert_eq!(raw(ctx.req(Method::GET, &node_url)).await.status, 200);
    assert_eq!(counts(&ctx, &id).await, (2, 2));
    delete(id).await;

    // A method (compared ignoring case).
    let id = add_rule(
        &ctx,
        json!({"match": {"method": "post"}, "action": {"kind": "error", "error": "gateway_timeout"}}),
    )
    .await;
    let r = raw(ctx
        .req(Method::POST, &ctx.m("nodes"))
        .body(json!({"name": "M", "kind": "FOLDER", "parents": [root]}).to_string()))
    .await;
    assert_eq!(r.status, 504);
    assert_eq!(info(&ctx, None).await.status, StatusCode::OK);
    assert_eq!(raw(ctx.req(Method::GET, &node_url)).await.status, 200);
    assert_eq!(counts(&ctx, &id).await, (1, 1));
    delete(id).await;
    assert!(
        ctx.lookup(&root, "M").await["data"]
            .as_array()
            .unwrap()
            .is_empty(),
        "the faulted request never reached its handler"
    );

    // A path regex (on the path without the query).
    let id = add_rule(
        &ctx,
        json!({"match": {"path": "^/drive/v1/account/quota$"}, "action": {"kind": "error", "error": "service_unavailable"}}),
    )
    .await;
    let r = raw(ctx.req(Method::GET, &ctx.m("account/quota?x=1"))).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.text(), UNAVAILABLE_HTML);
    assert_eq!(info(&ctx, None).await.status, StatusCode::OK);
    assert_eq!(
        raw(ctx.req(Method::GET, &ctx.m("account/usage")))
            .await
            .status,
        200
    );
    assert_eq!(counts(&ctx, &id).await, (1, 1));
    assert_eq!(last_entry(&ctx, "account").await["status"], 200);
}

#[tokio::test]
async fn rules_match_an_account() {
    let ctx = Ctx::start().await;
    let other = "second@example.com";
    let other_token = second_account(&ctx, other).await;
    let info_as = |token: &str| raw(ctx.req_as(token, Method::GET, &ctx.m("account/info")));

    let id = add_rule(
        &ctx,
        json!({"match": {"account": other}, "action": {"kind": "error", "error": "internal_failure"}}),
    )
    .await;
    assert_eq!(info_as(&ctx.token).await.status, 200, "account A untouched");
    assert_eq!(info_as(&other_token).await.status, 500, "account B faulted");
    // A request without a valid token never matches an account rule.
    let r = raw(ctx.client.get(ctx.m("account/info"))).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json(), json!({"message": "Token has expired"}));
    assert_eq!(counts(&ctx, &id).await, (1, 1));
    let entry = last_entry(&ctx, "account").await;
    assert!(entry.get("fault").is_none(), "{entry}");

    let default_email = ctx.server.state().config.default_email.clone();
    let mine = add_rule(
        &ctx,
        json!({"match": {"account": default_email}, "action": {"kind": "error", "error": "bad_gateway"}}),
    )
    .await;
    assert_eq!(info_as(&ctx.token).await.status, 502);
    assert_eq!(info_as(&other_token).await.status, 500);
    assert_eq!(counts(&ctx, &mine).await, (1, 1));
    assert_eq!(counts(&ctx, &id).await, (2, 2));
}

#[tokio::test]
async fn rules_match_the_body_size() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let folder_body = |name: &str, description: &str| {
        json!({"name": name, "kind": "FOLDER", "parents": [root], "description": description})
            .to_string()
    };
    let create = |scope: &'static str, body: String| {
        raw(ctx
            .req(Method::POST, &ctx.m("nodes"))
            .header(SCOPE, scope)
            .body(body))
    };
    let min = add_rule(
        &ctx,
        json!({"scope": "min", "match": {"operation": "create_folder", "min_body": 200}, "action": {"kind": "error", "error": "internal_failure"}}),
    )
    .await;
    let max = add_rule(
        &ctx,
        json!({"scope": "max", "match": {"operation": "create_folder", "max_body": 200}, "action": {"kind": "error", "error": "internal_failure"}}),
    )
    .await;
    let small = folder_body("small-1", "");
    let big = folder_body("big-1", &"d".repeat(300));
    assert!(small.len() < 200 && big.len() > 200);
    assert_eq!(create("min", small).await.status, 201);
    assert_eq!(create("min", big).await.status, 500);
    assert_eq!(counts(&ctx, &min).await, (1, 1));
    let small = folder_body("small-2", "");
    let big = folder_body("big-2", &"d".repeat(300));
    assert_eq!(create("max", small).await.status, 500);
    assert_eq!(create("max", big).await.status, 201);
    assert_eq!(counts(&ctx, &max).await, (1, 1));
    // A request without Content-Length matches neither bound.
    assert_eq!(info(&ctx, Some("min")).await.status, 200);
    assert_eq!(info(&ctx, Some("max")).await.status, 200);
    assert_eq!(counts(&ctx, &min).await, (1, 1));
    assert_eq!(counts(&ctx, &max).await, (1, 1));
    // The boundaries are inclusive.
    let exact = folder_body("exact", "");
    let exact_rule = add_rule(
        &ctx,
        json!({"scope": "exact", "match": {"min_body": exact.len(), "max_body": exact.len()}, "action": {"kind": "error", "error": "bad_gateway"}}),
    )
    .await;
    assert_eq!(create("exact", exact).await.status, 502);
    assert_eq!(counts(&ctx, &exact_rule).await, (1, 1));
}

/// One "test" of its own scope: its rule, its requests, its counts.
async fn scoped_run(ctx: &Ctx, scope: &str, error: &str, expected: u16) -> String {
    let id = add_rule(
        ctx,
        json!({
            "id": format!("{scope}-rule"),
            "scope": scope,
            "match": {"operation": "account"},
            "action": {"kind": "error", "error": error},
        }),
    )
    .await;
    for _ in 0..5 {
        let r = info(ctx, Some(scope)).await;
        assert_eq!(r.status.as_u16(), expected, "{scope}: {}", r.text());
        tokio::task::yield_now().await;
    }
    id
}

#[tokio::test]
async fn scopes_keep_parallel_tests_apart() {
    let ctx = Ctx::start().await;
    let (a, b) = tokio::join!(
        scoped_run(&ctx, "test-a", "internal_failure", 500),
        scoped_run(&ctx, "test-b", "bad_gateway", 502)
    );
    assert_eq!(counts(&ctx, &a).await, (5, 5));
    assert_eq!(counts(&ctx, &b).await, (5, 5));
    // Unscoped requests and other scopes see none of it.
    assert_eq!(info(&ctx, None).await.status, 200);
    assert_eq!(info(&ctx, Some("test-c")).await.status, 200);
    let entries = journal(&ctx, "account").await;
    assert_eq!(entries.len(), 12);
    for entry in &entries {
        match entry["scope"].as_str() {
            Some("test-a") => assert_eq!(entry["fault"], "test-a-rule"),
            Some("test-b") => assert_eq!(entry["fault"], "test-b-rule"),
            _ => assert!(entry.get("fault").is_none(), "{entry}"),
        }
    }

    // Clearing one scope removes only its rules.
    let (status, body) = json_of(
        ctx.client
            .delete(ctx.admin("faults?scope=test-a"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["removed"], 1);
    assert_eq!(rule_report(&ctx, &a).await.0, StatusCode::NOT_FOUND);
    assert_eq!(info(&ctx, Some("test-a")).await.status, 200);
    assert_eq!(info(&ctx, Some("test-b")).await.status, 502);
    assert_eq!(counts(&ctx, &b).await, (6, 6));
    assert_eq!(rule_ids(&ctx).await, [b]);
}

// ---- admin API --------------------------------------------------------------------------

#[tokio::test]
async fn admin_api_adds_lists_inspects_and_removes_rules() {
    let ctx = Ctx::start().await;
    // One rule without an id: one is made up.
    let unnamed = add_rule(
        &ctx,
        json!({"match": {"operation": "download"}, "action": {"kind": "reset"}}),
    )
    .await;
    assert!(unnamed.starts_with("rule-"), "{unnamed}");

    // Several at once.
    let (status, body) = ctx
        .admin_post(
            "faults",
            Some(&json!({"rules": [
                {"id": "r-a", "match": {"operation": "trash"}, "action": {"kind": "reset"}},
                {"id": "r-b", "match": {"operation": "restore"}, "action": {"kind": "reset"}},
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["ids"], json!(["r-a", "r-b"]));

    // TOML in the profile format.
    let toml = r#"
[[rules]]
id = "t-1"
match = { operation = "account" }
action = { kind = "error", error = "internal_failure" }
trigger = { first = 1 }

[[rules]]
id = "t-2"
match = { operation = "changes", method = "POST" }
action = { kind = "error", error = "unauthorized_empty" }
"#;
    let (status, body) = json_of(
        ctx.client
            .post(ctx.admin("faults"))
            .header(header::CONTENT_TYPE, "application/toml")
            .body(toml)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["ids"], json!(["t-1", "t-2"]));

    // The list, in order, with counts.
    let list = fault_list(&ctx).await;
    assert!(list["seed"].is_u64(), "{list}");
    assert!(list["settings"].is_object(), "{list}");
    assert_eq!(list["pendingPhantoms"], 0);
    assert_eq!(
        rule_ids(&ctx).await,
        [unnamed.as_str(), "r-a", "r-b", "t-1", "t-2"]
    );
    for rule in list["rules"].as_array().unwrap() {
        assert_eq!(
            (rule["matches"].as_u64(), rule["fired"].as_u64()),
            (Some(0), Some(0))
        );
    }

    // One rule, as configured, with its counts.
    let (status, report) = rule_report(&ctx, "t-1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        report,
        json!({
            "id": "t-1",
            "match": {"operation": "account"},
            "action": {"kind": "error", "error": "internal_failure"},
            "trigger": {"first": 1},
            "matches": 0,
            "fired": 0,
        })
    );
    assert_eq!(info(&ctx, None).await.status, 500);
    assert_eq!(info(&ctx, None).await.status, 200);
    assert_eq!(counts(&ctx, "t-1").await, (2, 1));
    let entries = journal(&ctx, "account").await;
    assert_eq!(entries[0]["fault"], "t-1", "the journal names the rule");
    assert!(entries[1].get("fault").is_none());

    // Duplicate ids are refused, all or nothing.
    let (status, body) = ctx
        .admin_post(
            "faults",
            Some(&json!({"id": "t-1", "action": {"kind": "reset"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("t-1") && message.contains("id"),
        "{message}"
    );
    let (status, body) = ctx
        .admin_post(
            "faults",
            Some(&json!({"rules": [
                {"id": "fresh", "action": {"kind": "reset"}},
                {"id": "r-a", "action": {"kind": "reset"}},
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(rule_report(&ctx, "fresh").await.0, StatusCode::NOT_FOUND);

    // Delete one: 204, then 404.
    let delete = |id: &str| ctx.client.delete(ctx.admin(&format!("faults/{id}"))).send();
    assert_eq!(
        delete("t-1").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(rule_report(&ctx, "t-1").await.0, StatusCode::NOT_FOUND);
    assert_eq!(delete("t-1").await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(info(&ctx, None).await.status, 200);

    // Delete all.
    let (status, body) =
        json_of(ctx.client.delete(ctx.admin("faults")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["removed"], 4);
    assert!(rule_ids(&ctx).await.is_empty());
}

/// POSTs a JSON rule that must be refused; the 400's message.
async fn refused(ctx: &Ctx, rule: &Value) -> String {
    let (status, body) = ctx.admin_post("faults", Some(rule)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{rule}: {body}");
    body["message"].as_str().unwrap().to_string()
}

/// POSTs TOML rules that must be refused; the 400's message.
async fn refused_toml(ctx: &Ctx, text: &str) -> String {
    let (status, body) = json_of(
        ctx.client
            .post(ctx.admin("faults"))
            .header(header::CONTENT_TYPE, "application/toml")
            .body(text.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}: {body}");
    body["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn bad_rules_are_refused_naming_the_field() {
    let ctx = Ctx::start().await;
    let cases = [
        (
            json!({"action": {"kind": "reset"}, "trigger": {"probability": 1.5}}),
            "trigger.probability",
        ),
        (
            json!({"match": {"path": "("}, "action": {"kind": "reset"}}),
            "match.path",
        ),
        (json!({"action": {"kind": "explode"}}), "explode"),
        (json!({"action": {"kind": "reset"}, "bogus": 1}), "bogus"),
        (
            json!({"action": {"kind": "reset"}, "trigger": {"first": 1, "every": 2}}),
            "trigger",
        ),
        (
            json!({"action": {"kind": "status", "status": 999}}),
            "action.status",
        ),
        (
            json!({"action": {"kind": "error", "error": "teapot"}}),
            "teapot",
        ),
        (
            json!({"action": {"kind": "latency", "min_ms": 9, "max_ms": 1}}),
            "action.ms",
        ),
        (
            json!({"action": {"kind": "phantom_upload", "status": 502}}),
            "action.status",
        ),
    ];
    for (rule, field) in &cases {
        let message = refused(&ctx, rule).await;
        assert!(message.contains(field), "{rule}: {message}");
    }
    // TOML: an unknown operation, a bad probability, malformed text.
    let message = refused_toml(
        &ctx,
        "[[rules]]\nmatch = { operation = \"nope\" }\naction = { kind = \"reset\" }\n",
    )
    .await;
    assert!(message.contains("operation"), "{message}");
    let message = refused_toml(
        &ctx,
        "[[rules]]\naction = { kind = \"reset\" }\ntrigger = { probability = 2.0 }\n",
    )
    .await;
    assert!(message.contains("trigger.probability"), "{message}");
    let message = refused_toml(&ctx, "[[rules]\naction = 1\n").await;
    assert!(message.contains("TOML"), "{message}");
    // Nothing was added.
    assert!(rule_ids(&ctx).await.is_empty());
}

#[tokio::test]
async fn unknown_operation_in_a_json_rule_names_the_field() {
    let ctx = Ctx::start().await;
    let message = refused(
        &ctx,
        &json!({"match": {"operation": "nope"}, "action": {"kind": "reset"}}),
    )
    .await;
    assert!(
        message.contains("operation") || message.contains("nope"),
        "{message}"
    );
    let message = refused(
        &ctx,
        &json!({"match": {"operation": ["list", "nope"]}, "action": {"kind": "reset"}}),
    )
    .await;
    assert!(
        message.contains("operation") || message.contains("nope"),
        "{message}"
    );
}

// ---- stateful behaviours ----------------------------------------------------------------

#[tokio::test]
async fn rate_limit_per_account() {
    let ctx = Ctx::start().await;
    let other = second_account(&ctx, "other@example.com").await;
    put_settings(
        &ctx,
        json!({"rate_limit": {"per_second": 1, "burst": 3, "retry_after": 1}}),
    )
    .await;
    for i in 0..3 {
        assert_eq!(
            info(&ctx, None).await.status,
            200,
            "request {i} in the burst"
        );
    }
    let r = info(&ctx, None).await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_logref_body(&r.json(), "Rate exceeded");
    assert_eq!(r.retry_after().as_deref(), Some("1"));
    let entry = last_entry(&ctx, "account").await;
    assert_eq!(entry["fault"], "rate_limit");
    assert_eq!(entry["status"], 429);
    // Another account has its own budget.
    let r = raw(ctx.req_as(&other, Method::GET, &ctx.m("account/info"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Settings can be read back.
    let (status, settings) = json_of(
        ctx.client
            .get(ctx.admin("faults/settings"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        settings["rate_limit"],
        json!({"per_second": 1, "burst": 3, "retry_after": 1})
    );
}

#[tokio::test]
async fn node_rate_limit_answers_concurrent_access() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let folder = id_of(&ctx.mkdir(&root, "Other").await);
    put_settings(
        &ctx,
        json!({"node_rate_limit": {"per_second": 1, "burst": 2}}),
    )
    .await;
    let node = |id: &str| raw(ctx.req(Method::GET, &ctx.m(&format!("nodes/{id}"))));
    assert_eq!(node(&root).await.status, 200);
    assert_eq!(node(&root).await.status, 200);
    let r = node(&root).await;
    assert_eq!(r.status, 429);
    assert_logref_body(
        &r.json(),
        "Concurrent Access on same node. Please back off.",
    );
    assert_eq!(r.retry_after(), None);
    let entry = last_entry(&ctx, "get_node").await;
    assert_eq!(entry["fault"], "node_rate_limit");
    // Another node, and calls about no node, are not limited.
    assert_eq!(node(&folder).await.status, 200);
    assert_eq!(info(&ctx, None).await.status, 200);
}

/// What counts against a node's limit, as docs/mock-behaviour.md says: every path naming the
/// node (children listings, `trash/{id}`), with or without a valid token; never a search.
#[tokio::test]
async fn the_node_limit_counts_paths_naming_the_node() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let folder = id_of(&ctx.mkdir(&root, "Busy").await);
    put_settings(
        &ctx,
        json!({"node_rate_limit": {"per_second": 1, "burst": 3}}),
    )
    .await;
    // Searches about the folder do not count.
    for _ in 0..5 {
        let (status, _) = ctx.search(&format!("parents:{folder}")).await;
        assert_eq!(status, StatusCode::OK);
    }
    // A children listing, a request with a bogus token, and a trash of the folder each count.
    let r = raw(ctx.req(Method::GET, &ctx.m(&format!("nodes/{folder}/children")))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = raw(ctx.req_as("bogus", Method::GET, &ctx.m(&format!("nodes/{folder}")))).await;
    assert_eq!(r.status, 401, "{}", r.text());
    let r = raw(ctx.req(Method::PUT, &ctx.m(&format!("trash/{folder}")))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = raw(ctx.req(Method::POST, &ctx.m(&format!("trash/{folder}/restore")))).await;
    assert_eq!(
        r.status,
        429,
        "the fourth request naming the node: {}",
        r.text()
    );
    assert_eq!(
        last_entry(&ctx, "restore").await["fault"],
        "node_rate_limit"
    );
}

#[tokio::test]
async fn large_downloads_redirect_to_a_presigned_url() {
    let ctx = Ctx::start().await;
    let big = seed_file(&ctx, "big.bin", 5000, 1).await;
    let small = seed_file(&ctx, "small.bin", 4999, 2).await;
    let (_, big_node) = ctx.node(&big).await;
    let big_md5 = big_node["contentProperties"]["md5"]
        .as_str()
        .unwrap()
        .to_string();
    put_settings(&ctx, json!({"download_block_bytes": 5000})).await;
    let plain = no_redirect_client();

    // Below the threshold: served directly.
    let r = raw(plain
        .get(ctx.c(&format!("nodes/{small}/content")))
        .bearer_auth(&ctx.token))
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 4999);

    // At the threshold: a 307 to a presigned-style URL.
    let r = raw(plain
        .get(ctx.c(&format!("nodes/{big}/content")))
        .bearer_auth(&ctx.token))
    .await;
    assert_eq!(r.status, StatusCode::TEMPORARY_REDIRECT, "{}", r.text());
    let location = r.headers[header::LOCATION].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!("{}/s3/", ctx.base())),
        "{location}"
    );
    let query = location.split_once('?').expect("a query").1;
    let params: std::collections::HashMap<String, String> =
        form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(params["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
    assert!(!params["X-Amz-Signature"].is_empty(), "{location}");
    assert!(
        params["X-Amz-Expires"].parse::<u64>().unwrap() > 0,
        "{location}"
    );
    assert_eq!(
        last_entry(&ctx, "download").await["fault"],
        "download_block"
    );

    // With Authorization: S3's "one auth mechanism" 400.
    let r = raw(plain.get(&location).bearer_auth(&ctx.token)).await;
    assert_eq!(r.status, 400);
    let text = r.text();
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/xml");
    // Exactly the fixture, but for the per-request RequestId and HostId (§6.7).
    let ids =
        regex::Regex::new("<RequestId>[0-9A-F]{16}</RequestId><HostId>[A-Za-z0-9+/=]+</HostId>")
            .unwrap();
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/s3_error_invalid_argument.xml"
    ))
    .unwrap();
    assert!(ids.is_match(&text), "{text}");
    assert_eq!(
        ids.replace(&text, "[ids]"),
        ids.replace(&fixture, "[ids]"),
        "{text}"
    );

    // Without: the bytes, and Range.
    let r = raw(plain.get(&location)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 5000);
    assert_eq!(md5_hex(&r.body), big_md5);
    let full = r.body;
    let r = raw(plain.get(&location).header(header::RANGE, "bytes=10-19")).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers[header::CONTENT_RANGE], "bytes 10-19/5000");
    assert_eq!(r.body, full[10..20]);
}

#[tokio::test]
async fn templinks_expire_after_their_lifetime() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let id = id_of(&ctx.upload_file(&root, "linked.txt", b"linked bytes").await);
    async fn link(ctx: &Ctx, id: &str) -> String {
        let (status, node) = ctx.get(&ctx.m(&format!("nodes/{id}?tempLink=true"))).await;
        assert_eq!(status, StatusCode::OK, "{node}");
        node["tempLink"].as_str().unwrap().to_string()
    }
    put_settings(&ctx, json!({"templink_lifetime_secs": 3600})).await;
    let long_lived = link(&ctx, &id).await;
    let r = raw(client().get(&long_lived)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"linked bytes");

    // A link with no lifetime is expired as soon as it is made.
    put_settings(&ctx, json!({"templink_lifetime_secs": 0})).await;
    let dead = link(&ctx, &id).await;
    assert_ne!(dead, long_lived);
    let r = raw(client().get(&dead)).await;
    assert!(
        r.status == StatusCode::NOT_FOUND || r.status == StatusCode::GONE,
        "{}: {}",
        r.status,
        r.text()
    );
    // The earlier link lives on.
    assert_eq!(raw(client().get(&long_lived)).await.status, 200);
}

#[tokio::test]
async fn next_tokens_expire_after_their_ttl() {
    let ctx = Ctx::start().await;
    let folder = seed_folder(&ctx, "Paged", 5).await;
    put_settings(&ctx, json!({"next_token_ttl_secs": 600})).await;
    let search = ctx.m(&format!(
        "nodes?filters={}&limit=2",
        form(&format!("parents:{folder}"))
    ));
    let children = ctx.m(&format!("nodes/{folder}/children?limit=2"));
    let (status, first) = ctx.get(&search).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let token = first["nextToken"].as_str().unwrap().to_string();
    let (_, first_children) = ctx.get(&children).await;
    let children_token = first_children["nextToken"].as_str().unwrap().to_string();
    let next = format!("{search}&startToken={}", form(&token));
    let next_children = format!("{children}&startToken={}", form(&children_token));
    let (status, second) = ctx.get(&next).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["data"].as_array().unwrap().len(), 2);

    // Nine minutes on (by the mock's clock) the cursors still work; eleven minutes on they
    // are older than the TTL and expired.
    let (status, moved) = ctx
        .admin_post("clock", Some(&json!({"advance": "9m"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(ctx.get(&next).await.0, StatusCode::OK);
    let (status, moved) = ctx
        .admin_post("clock", Some(&json!({"advance": "2m"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    for url in [&next, &next_children] {
        let (status, body) = ctx.get(url).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["logref", "message"], "{body}");
        assert_eq!(body["message"], "Next token is expired");
    }
    // A listing without a cursor still works.
    assert_eq!(ctx.get(&search).await.0, StatusCode::OK);
}

/// Lists `url` (which has `limit=2`) with `startToken`: status and body.
async fn page(ctx: &Ctx, url: &str, token: &str) -> Raw {
    raw(ctx.req(Method::GET, &format!("{url}&startToken={}", form(token)))).await
}

/// The lost page (reference §8.3) on a listing URL that pages by 2 over 6 children.
async fn lost_page_on(ctx: &Ctx, url: &str, all: &[String]) {
    assert_eq!(all, ["f0", "f1", "f2", "f3", "f4", "f5"]);
    let (status, first) = ctx.get(url).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(names(&first), all[..2]);
    let token = first["nextToken"].as_str().unwrap().to_string();
    let id = add_rule(
        ctx,
        json!({
            "id": "lost",
            "match": {"operation": "list"},
            "action": {"kind": "lost_page"},
            "trigger": {"first": 1},
        }),
    )
    .await;
    let r = page(ctx, url, &token).await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_logref_body(&r.json(), "Rate exceeded");
    // The retry with the same cursor gets what would have been page 3.
    let r = page(ctx, url, &token).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let third = r.json();
    assert_eq!(names(&third), all[4..]);
    assert!(third.get("nextToken").is_none(), "{third}");
    let seen: Vec<String> = names(&first).into_iter().chain(names(&third)).collect();
    let skipped: Vec<&String> = all.iter().filter(|n| !seen.contains(n)).collect();
    assert_eq!(skipped, ["f2", "f3"], "page 2 is never seen");
    assert_eq!(counts(ctx, &id).await, (2, 1));
    let entries = journal(ctx, "list").await;
    let faulted: Vec<&Value> = entries
        .iter()
        .filter(|e| e.get("fault").is_some())
        .collect();
    assert_eq!(faulted.len(), 1);
    assert_eq!(faulted[0]["fault"], "lost");
    assert_eq!(faulted[0]["status"], 429);
}

#[tokio::test]
async fn lost_page_on_the_children_listing() {
    let ctx = Ctx::start().await;
    let folder = seed_folder(&ctx, "Lost", 6).await;
    let (_, all) = ctx.get(&ctx.m(&format!("nodes/{folder}/children"))).await;
    let url = ctx.m(&format!("nodes/{folder}/children?limit=2"));
    lost_page_on(&ctx, &url, &names(&all)).await;
}

#[tokio::test]
async fn lost_page_on_a_search_listing() {
    let ctx = Ctx::start().await;
    let folder = seed_folder(&ctx, "Lost", 6).await;
    let filters = form(&format!("parents:{folder}"));
    let (_, all) = ctx.get(&ctx.m(&format!("nodes?filters={filters}"))).await;
    let url = ctx.m(&format!("nodes?filters={filters}&limit=2"));
    lost_page_on(&ctx, &url, &names(&all)).await;
}

#[tokio::test]
async fn uploads_above_the_cap_fail_after_the_body() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    put_settings(&ctx, json!({"upload_cap_bytes": 100})).await;
    let r = upload_raw(&ctx, &root, "capped.bin", &[7u8; 101], None, false).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        common::fixture("error_400_cannot_complete_upload.json")
    );
    assert_eq!(last_entry(&ctx, "upload").await["fault"], "upload_cap");
    assert_eq!(lookup_count(&ctx, &root, "capped.bin").await, 0);
    assert!(children_named(&ctx, &root, "capped.bin").await.is_empty());
    // Chunked, too.
    let r = upload_raw(&ctx, &root, "capped.bin", &[8u8; 150], None, true).await;
    assert_eq!(r.status, 400);
    assert_eq!(lookup_count(&ctx, &root, "capped.bin").await, 0);
    // At the cap it is fine.
    let r = upload_raw(&ctx, &root, "fits.bin", &[9u8; 100], None, false).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["contentProperties"]["size"], 100);
}

#[tokio::test]
async fn empty_chunked_uploads_can_be_refused() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    // Off by default.
    let r = upload_raw(&ctx, &root, "empty-ok.bin", b"", None, true).await;
    assert_eq!(r.status, 201, "{}", r.text());
    put_settings(&ctx, json!({"reject_empty_chunked": true})).await;
    let r = upload_raw(&ctx, &root, "empty-chunked.bin", b"", None, true).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.json(),
        common::fixture("error_400_cannot_complete_upload.json")
    );
    assert_eq!(last_entry(&ctx, "upload").await["fault"], "empty_chunked");
    assert_eq!(lookup_count(&ctx, &root, "empty-chunked.bin").await, 0);
    // Empty with Content-Length, and non-empty chunked, are fine.
    let r = upload_raw(&ctx, &root, "empty-length.bin", b"", None, false).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = upload_raw(&ctx, &root, "full-chunked.bin", b"bytes", None, true).await;
    assert_eq!(r.status, 201, "{}", r.text());
}

#[tokio::test]
async fn an_upload_finishing_after_its_token_expired_fails() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    put_settings(&ctx, json!({"upload_token_grace_secs": 0})).await;
    // A fresh token uploads fine.
    let r = upload_raw(&ctx, &root, "early.bin", b"early", None, false).await;
    assert_eq!(r.status, 201, "{}", r.text());

    let (status, minted) = ctx
        .admin_post("tokens", Some(&json!({"lifetime_secs": 60})))
        .await;
    assert_eq!(status, StatusCode::OK, "{minted}");
    let token = minted["access_token"].as_str().unwrap().to_string();
    let body = multipart_body(
        &[
            Part::metadata(&file_metadata("late.bin", &root)),
            Part::content(&[5u8; 1000]),
        ],
        b"",
    );
    let split = body.len() - 600;
    let head = Bytes::copy_from_slice(&body[..split]);
    let tail = Bytes::copy_from_slice(&body[split..]);
    let info_url = ctx.m("account/info");
    let clock_url = ctx.admin("clock");
    let poller = client();
    let poll_token = token.clone();
    // Between the body's head and its end, the mock's clock moves past the token's expiry
    // (no sleeping): the server then says the token has expired.
    let stream = futures_util::stream::unfold(0u8, move |step| {
        let (head, tail) = (head.clone(), tail.clone());
        let (poller, info_url, clock_url, poll_token) = (
            poller.clone(),
            info_url.clone(),
            clock_url.clone(),
            poll_token.clone(),
        );
        async move {
            match step {
                0 => Some((Ok::<Bytes, std::io::Error>(head), 1)),
                1 => {
                    let moved = poller
                        .post(&clock_url)
                        .body(json!({"advance": "2m"}).to_string())
                        .send()
                        .await
                        .map(|r| r.status());
                    if !matches!(moved, Ok(StatusCode::OK)) {
                        return Some((Err(std::io::Error::other("the clock did not move")), 2));
                    }
                    let status = poller
                        .get(&info_url)
                        .bearer_auth(&poll_token)
                        .send()
                        .await
                        .map(|r| r.status());
                    if !matches!(status, Ok(StatusCode::UNAUTHORIZED)) {
                        return Some((Err(std::io::Error::other("the token did not expire")), 2));
                    }
                    Some((Ok(tail), 2))
                }
                _ => None,
            }
        }
    });
    let r = raw(ctx
        .req_as(&token, Method::POST, &ctx.c("nodes?suppress=deduplication"))
        .header(header::CONTENT_TYPE, multipart_type())
        .body(reqwest::Body::wrap_stream(stream)))
    .await;
    check_preset("upload_unauthorized", &r);
    assert_eq!(
        last_entry(&ctx, "upload").await["fault"],
        "upload_token_expired"
    );
    assert_eq!(lookup_count(&ctx, &root, "late.bin").await, 0);
}

#[tokio::test]
async fn app_revoked_throttles_every_api_call_but_not_admin() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    put_settings(&ctx, json!({"app_revoked": true})).await;
    let bare = json!({"message": "Rate exceeded"});
    let calls = [
        raw(ctx.req(Method::GET, &ctx.server.endpoint_url())).await,
        info(&ctx, None).await,
        raw(ctx.req(Method::GET, &ctx.m(&format!("nodes/{root}")))).await,
        raw(ctx.client.get(ctx.m("account/info"))).await,
        raw(ctx.client.post(ctx.server.token_url()).form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", ctx.refresh.as_str()),
        ]))
        .await,
        upload_raw(&ctx, &root, "revoked.bin", b"x", None, false).await,
    ];
    for r in &calls {
        assert_eq!(r.status, 429, "{}", r.text());
        assert_eq!(r.json(), bare);
    }
    // The admin API still answers, and the journal says why.
    let (status, _) = json_of(ctx.client.get(ctx.admin("health")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fault_list(&ctx).await["settings"]["app_revoked"], true);
    for operation in ["endpoint", "account", "get_node", "token", "upload"] {
        let entry = last_entry(&ctx, operation).await;
        assert_eq!(entry["fault"], "app_revoked", "{entry}");
        assert_eq!(entry["status"], 429);
    }
    put_settings(&ctx, json!({})).await;
    assert_eq!(info(&ctx, None).await.status, 200);
    assert_eq!(lookup_count(&ctx, &root, "revoked.bin").await, 0);
}

// ---- phantom uploads --------------------------------------------------------------------

async fn pending_phantoms(ctx: &Ctx) -> u64 {
    fault_list(ctx).await["pendingPhantoms"].as_u64().unwrap()
}

/// The `status` of each node.
fn statuses(nodes: &[Value]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| n["status"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// A phantom due at once becomes real before the next request is answered, whatever that
/// request is: a retried upload of the name is 409 with the phantom's id (§8.5, §8.6), with
/// no search in between.
#[tokio::test]
async fn a_due_phantom_makes_a_retried_upload_409_without_a_search() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    add_rule(
        &ctx,
        json!({
            "id": "phantom",
            "match": {"operation": "upload"},
            "action": {"kind": "phantom_upload", "status": 504},
            "trigger": {"first": 1},
        }),
    )
    .await;
    let r = upload_raw(&ctx, &root, "retried.bin", b"the bytes", None, false).await;
    assert_eq!(r.status, 504);
    let r = upload_raw(&ctx, &root, "retried.bin", b"the bytes", None, false).await;
    assert_eq!(r.status, 409, "{}", r.text());
    let conflict = r.json()["info"]["nodeId"].as_str().unwrap().to_string();
    let (status, node) = ctx.node(&conflict).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(node["status"], "AVAILABLE");
    assert_eq!(node["contentProperties"]["md5"], md5_hex(b"the bytes"));
    assert_eq!(
        lookup_count(&ctx, &root, "retried.bin").await,
        1,
        "no duplicate"
    );
}

/// A phantom upload was finished by the service, so its `localId` is taken at once: a retry
/// that sends the same one, even under another name, is 409 with the phantom's id.
#[tokio::test]
async fn a_phantom_keeps_its_local_id() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    add_rule(
        &ctx,
        json!({
            "id": "phantom",
            "match": {"operation": "upload"},
            "action": {"kind": "phantom_upload", "status": 500, "delay_ms": 60_000},
            "trigger": {"first": 1},
        }),
    )
    .await;
    let upload = |name: &'static str| {
        let mut metadata = file_metadata(name, &root);
        metadata["localId"] = json!("client-side-7");
        let body = multipart_body(
            &[Part::metadata(&metadata), Part::content(b"local bytes")],
            b"",
        );
        raw(ctx
            .req(Method::POST, &ctx.c("nodes?suppress=deduplication"))
            .header(header::CONTENT_TYPE, multipart_type())
            .body(body))
    };
    let first = upload("first.bin").await;
    assert_eq!(first.status, 500);
    let again = upload("second.bin").await;
    assert_eq!(again.status, 409, "{}", again.text());
    let id = again.json()["info"]["nodeId"].as_str().unwrap().to_string();
    let (status, node) = ctx.node(&id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(node["name"], "first.bin");
    assert_eq!(node["status"], "PENDING");
}

/// Before it is due, a phantom is there by id as PENDING; requests that are not searches
/// (here `GET nodes/{id}`) see it turn AVAILABLE when its time comes.
#[tokio::test]
async fn a_phantom_is_pending_by_id_then_available_on_its_own_schedule() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    add_rule(
        &ctx,
        json!({
            "id": "phantom",
            "match": {"operation": "upload"},
            "action": {"kind": "phantom_upload", "status": 408, "delay_ms": 400},
            "trigger": {"first": 1},
        }),
    )
    .await;
    let started = Instant::now();
    let r = upload_raw(&ctx, &root, "slow.bin", b"slow bytes", None, false).await;
    assert_eq!(r.status, 408);
    let listed = children_named(&ctx, &root, "slow.bin").await;
    let id = id_of(&listed[0]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        let (status, node) = ctx.node(&id).await;
        assert_eq!(status, StatusCode::OK, "{node}");
        let now = node["status"].as_str().unwrap().to_string();
        if seen.last() != Some(&now) {
            seen.push(now.clone());
        }
        if now == "AVAILABLE" {
            assert_eq!(node["contentProperties"]["md5"], md5_hex(b"slow bytes"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never became AVAILABLE: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(started.elapsed() >= Duration::from_millis(400));
    if seen.len() == 2 {
        assert_eq!(seen, ["PENDING", "AVAILABLE"]);
    }
    assert_eq!(pending_phantoms(&ctx).await, 0);
    // The change is in the feed: the node as AVAILABLE is its last entry.
    let (status, feed) = ctx.changes(&json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(feed.contains(&id) && feed.contains("AVAILABLE"), "{feed}");
}

/// Overwrites can be phantoms too (§8.6 "the same applies to Update"): the node keeps its old
/// content and version until the new content lands.
#[tokio::test]
async fn a_phantom_overwrite_lands_later_and_bumps_the_version_then() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let node = ctx.upload_file(&root, "o.txt", b"old content").await;
    let id = id_of(&node);
    add_rule(
        &ctx,
        json!({
            "id": "phantom-overwrite",
            "match": {"operation": "overwrite"},
            "action": {"kind": "phantom_upload", "status": 504, "after_lookups": 1},
            "trigger": {"first": 1},
        }),
    )
    .await;
    let put = ctx
        .req(Method::PUT, &ctx.c(&format!("nodes/{id}/content")))
        .header(header::CONTENT_TYPE, multipart_type())
        .body(multipart_body(&[Part::content(b"new content")], b""));
    let r = raw(put).await;
    assert_eq!(r.status, 504, "{}", r.text());
    let (_, before) = ctx.node(&id).await;
    assert_eq!(before["version"], node["version"], "not yet: {before}");
    assert_eq!(before["contentProperties"]["md5"], md5_hex(b"old content"));
    assert_eq!(ctx.download(&id).await, b"old content");
    assert_eq!(lookup_count(&ctx, &root, "o.txt").await, 1);
    let (_, after) = ctx.node(&id).await;
    assert_eq!(after["contentProperties"]["md5"], md5_hex(b"new content"));
    assert_eq!(after["contentProperties"]["version"], 2);
    assert!(after["version"].as_i64() > node["version"].as_i64());
    assert_eq!(ctx.download(&id).await, b"new content");
    assert_eq!(pending_phantoms(&ctx).await, 0);
}

/// An overwrite whose content another file of the account already has is refused as a
/// duplicate unless `suppress=deduplication` is given (§6.5, §6.6).
#[tokio::test]
async fn overwrites_are_deduplicated_unless_suppressed() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let a = ctx.upload_file(&root, "a.txt", b"shared content").await;
    let b = id_of(&ctx.upload_file(&root, "b.txt", b"other content").await);
    let put_to = |id: &str, query: &str| {
        ctx.req(Method::PUT, &ctx.c(&format!("nodes/{id}/content{query}")))
            .header(header::CONTENT_TYPE, multipart_type())
            .body(multipart_body(&[Part::content(b"shared content")], b""))
    };
    let put = |query: &str| put_to(&b, query);
    // A file's own content is not a duplicate of itself.
    let r = raw(put_to(&id_of(&a), "")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = raw(put("")).await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["info"]["nodeId"], a["id"]);
    assert_eq!(ctx.download(&b).await, b"other content", "unchanged");
    let r = raw(put("?suppress=deduplication")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(ctx.download(&b).await, b"shared content");
}

#[tokio::test]
async fn phantom_upload_appears_after_n_lookups() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let id = add_rule(
        &ctx,
        json!({
            "id": "phantom",
            "match": {"operation": "upload"},
            "action": {"kind": "phantom_upload", "after_lookups": 2},
            "trigger": {"first": 1},
        }),
    )
    .await;
    let r = upload_raw(&ctx, &root, "x", b"first bytes", None, false).await;
    assert_eq!(r.status, 504);
    assert!(r.body.is_empty(), "{:?}", r.text());
    assert_eq!(pending_phantoms(&ctx).await, 1);
    // Lookup 1: stored, but PENDING and without contentProperties.
    let seen = ctx.lookup(&root, "x").await["data"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(statuses(&seen), ["PENDING"], "lookup 1: not yet: {seen:?}");
    assert!(seen[0].get("contentProperties").is_none(), "{seen:?}");
    let r = upload_raw(&ctx, &root, "x", b"second bytes", None, false).await;
    assert_eq!(
        r.status,
        201,
        "a PENDING node does not hold the name: {}",
        r.text()
    );
    let seen = ctx.lookup(&root, "x").await["data"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        statuses(&seen),
        ["AVAILABLE", "AVAILABLE"],
        "lookup 2: it appears: {seen:?}"
    );
    assert_eq!(pending_phantoms(&ctx).await, 0);
    assert_eq!(counts(&ctx, &id).await, (2, 1));
}

#[tokio::test]
async fn phantom_upload_appears_after_n_listings() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let id = add_rule(
        &ctx,
        json!({
            "id": "phantom",
            "match": {"operation": "upload"},
            "action": {"kind": "phantom_upload", "status": 504, "after_lookups": 2},
            "trigger": {"first": 1},
        }),
    )
    .await;
    let r = upload_raw(&ctx, &root, "x", b"first bytes", None, false).await;
    assert_eq!(r.status, 504);
    assert!(r.body.is_empty(), "{:?}", r.text());
    assert_eq!(last_entry(&ctx, "upload").await["fault"], "phantom");
    assert_eq!(pending_phantoms(&ctx).await, 1);
    let listed = children_named(&ctx, &root, "x").await;
    assert_eq!(
        statuses(&listed),
        ["PENDING"],
        "listing 1: not yet: {listed:?}"
    );
    // A second upload of the name is not refused.
    let r = upload_raw(&ctx, &root, "x", b"second bytes", None, false).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let listed = children_named(&ctx, &root, "x").await;
    assert_eq!(
        listed.len(),
        2,
        "listing 2: the phantom appears next to it: {listed:?}"
    );
    assert_eq!(pending_phantoms(&ctx).await, 0);
    assert_eq!(counts(&ctx, &id).await, (2, 1));
    // The phantom holds the first upload's bytes.
    let md5s: Vec<&str> = listed
        .iter()
        .map(|n| n["contentProperties"]["md5"].as_str().unwrap())
        .collect();
    assert!(md5s.contains(&md5_hex(b"first bytes").as_str()), "{md5s:?}");
    let phantom = listed
        .iter()
        .find(|n| n["contentProperties"]["md5"] == md5_hex(b"first bytes").as_str())
        .unwrap();
    assert_eq!(ctx.download(&id_of(phantom)).await, b"first bytes");
}

#[tokio::test]
async fn phantom_upload_statuses() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    for status in [408u16, 500] {
        add_rule(
            &ctx,
            json!({
                "id": format!("phantom-{status}"),
                "scope": format!("s{status}"),
                "match": {"operation": "upload"},
                "action": {"kind": "phantom_upload", "status": status},
            }),
        )
        .await;
    }
    let r = upload_raw(&ctx, &root, "p408", b"408 bytes", Some("s408"), false).await;
    assert_eq!(r.status, 408);
    assert!(r.body.is_empty(), "{:?}", r.text());
    let r = upload_raw(&ctx, &root, "p500", b"500 bytes", Some("s500"), false).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json(), json!({"message": "Internal failure"}));
    assert_eq!(counts(&ctx, "phantom-408").await, (1, 1));
    assert_eq!(counts(&ctx, "phantom-500").await, (1, 1));
    assert_eq!(last_entry(&ctx, "upload").await["fault"], "phantom-500");
    // No delay: both are real by the next request.
    assert_eq!(
        statuses(&children_named(&ctx, &root, "p408").await),
        ["AVAILABLE"]
    );
    assert_eq!(
        statuses(&children_named(&ctx, &root, "p500").await),
        ["AVAILABLE"]
    );
    assert_eq!(pending_phantoms(&ctx).await, 0);
}

#[tokio::test]
async fn phantom_upload_that_never_appears() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let id = add_rule(
        &ctx,
        json!({
            "id": "gone",
            "match": {"operation": "upload"},
            "action": {"kind": "phantom_upload", "never": true},
            "trigger": {"first": 1},
        }),
    )
    .await;
    let r = upload_raw(&ctx, &root, "lost.bin", b"lost bytes", None, false).await;
    assert_eq!(r.status, 504);
    for _ in 0..5 {
        assert!(children_named(&ctx, &root, "lost.bin").await.is_empty());
        assert_eq!(lookup_count(&ctx, &root, "lost.bin").await, 0);
    }
    assert_eq!(pending_phantoms(&ctx).await, 0);
    let r = upload_raw(&ctx, &root, "lost.bin", b"lost bytes", None, false).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(children_named(&ctx, &root, "lost.bin").await.len(), 1);
    assert_eq!(counts(&ctx, &id).await, (2, 1));
}

#[tokio::test]
async fn phantom_upload_appears_after_a_delay() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let id = add_rule(
        &ctx,
        json!({
            "id": "later",
            "match": {"operation": "upload"},
            "action": {"kind": "phantom_upload", "delay_ms": 300},
        }),
    )
    .await;
    let started = Instant::now();
    let r = upload_raw(&ctx, &root, "later.bin", b"later", None, false).await;
    assert_eq!(r.status, 504);
    let first = children_named(&ctx, &root, "later.bin").await;
    if started.elapsed() < Duration::from_millis(300) {
        assert_eq!(statuses(&first), ["PENDING"], "too early: {first:?}");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if statuses(&children_named(&ctx, &root, "later.bin").await) == ["AVAILABLE"] {
            break;
        }
        assert!(Instant::now() < deadline, "the phantom never appeared");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(counts(&ctx, &id).await, (1, 1));
    assert_eq!(pending_phantoms(&ctx).await, 0);
}

#[tokio::test]
async fn phantom_min_body_uses_the_real_size_even_chunked() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let id = add_rule(
        &ctx,
        json!({
            "id": "big-only",
            "match": {"operation": "upload", "min_body": 1000},
            "action": {"kind": "phantom_upload", "never": true},
        }),
    )
    .await;
    // Chunked (no Content-Length): the size read decides.
    let r = upload_raw(&ctx, &root, "big-chunked.bin", &[1u8; 1500], None, true).await;
    assert_eq!(r.status, 504, "{}", r.text());
    let r = upload_raw(&ctx, &root, "small-chunked.bin", &[2u8; 500], None, true).await;
    assert_eq!(r.status, 201, "{}", r.text());
    // A Content-Length above the bound does not count: the content is 900 bytes.
    let r = upload_raw(&ctx, &root, "small-length.bin", &[3u8; 900], None, false).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(counts(&ctx, &id).await, (1, 1));
}

// ---- profiles ---------------------------------------------------------------------------

/// The rule ids a shipped profile file lists.
fn profile_ids(name: &str) -> Vec<String> {
    let path = format!("{}/profiles/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let value: toml::Value = toml::from_str(&text).unwrap();
    value
        .get("rules")
        .and_then(|r| r.as_array())
        .map(|rules| {
            rules
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn shipped_profiles_start_with_their_rules() {
    for name in ["none", "realistic", "chaos"] {
        let plan = profiles::load(name).unwrap();
        let ctx = Ctx::with(MockServer::builder().faults(plan).seed(1)).await;
        let expected = profile_ids(name);
        assert_eq!(rule_ids(&ctx).await, expected, "{name}");
        let list = fault_list(&ctx).await;
        assert_eq!(list["seed"], 1);
        match name {
            "none" => assert_eq!(list["settings"]["rate_limit"], Value::Null),
            "realistic" => {
                assert!(expected.contains(&"phantom-over-10gib".to_string()));
                assert_eq!(
                    list["settings"]["rate_limit"],
                    json!({"per_second": 10, "burst": 20})
                );
                assert_eq!(list["settings"]["download_block_bytes"], 10_737_418_240_u64);
            }
            _ => {
                assert!(list["settings"]["rate_limit"].is_object());
                assert!(!expected.is_empty());
            }
        }
        for rule in list["rules"].as_array().unwrap() {
            assert_eq!(rule["matches"], 0, "{rule}");
        }
        let (status, _) = json_of(ctx.client.get(ctx.admin("health")).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[test]
fn malformed_profiles_are_errors_naming_the_problem() {
    let cases = [
        ("[[rules]\naction = 1\n", "bad.toml"),
        (
            "[[rules]]\naction = { kind = \"reset\" }\ntrigger = { probability = 1.5 }\n",
            "trigger.probability",
        ),
        (
            "[[rules]]\nmatch = { operation = \"nope\" }\naction = { kind = \"reset\" }\n",
            "operation",
        ),
        ("[settings]\nbogus = 1\n", "bogus"),
        ("[[rules]]\nid = \"no-action\"\n", "action"),
    ];
    for (text, needle) in cases {
        let error = profiles::parse("bad.toml", text)
            .err()
            .unwrap_or_else(|| panic!("{text:?} must be refused"));
        let message = error.to_string();
        assert!(message.contains("bad.toml"), "{message}");
        assert!(message.contains(needle), "{text:?}: {message}");
    }
    assert!(profiles::load("/nonexistent/profile.toml").is_err());
    assert!(profiles::load("no-such-profile").is_err());
}

/// One request over a raw TCP connection; the status line and the rest of the answer (the
/// HTTP clients hide the reason phrase).
async fn status_line(ctx: &Ctx, path: &str, scope: &str) -> (String, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = ctx.base().trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n{SCOPE}: {scope}\r\nConnection: close\r\n\r\n",
        ctx.token
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (line, rest) = text.split_once("\r\n").unwrap_or((&text, ""));
    (line.to_string(), rest.to_string())
}

#[tokio::test]
async fn timeouts_carry_the_services_status_lines() {
    let ctx = Ctx::start().await;
    let path = "/drive/v1/account/info";
    for (preset, line) in [
        ("gateway_timeout", "HTTP/1.1 504 GATEWAY_TIMEOUT"),
        ("request_timeout", "HTTP/1.1 408 REQUEST_TIMEOUT"),
    ] {
        add_rule(
            &ctx,
            json!({"scope": preset, "match": {"operation": "account"},
                   "action": {"kind": "error", "error": preset}}),
        )
        .await;
        let (got, rest) = status_line(&ctx, path, preset).await;
        assert_eq!(got, line, "{rest}");
        assert!(rest.ends_with("\r\n\r\n"), "no body: {rest:?}");
    }
    // A `status` rule's 504 reads the same (the reason is set on every 504 and 408 sent).
    add_rule(
        &ctx,
        json!({"scope": "status-504", "match": {"operation": "account"},
               "action": {"kind": "status", "status": 504}}),
    )
    .await;
    let (got, _) = status_line(&ctx, path, "status-504").await;
    assert_eq!(got, "HTTP/1.1 504 GATEWAY_TIMEOUT");
    // Other statuses keep hyper's canonical reason.
    let (got, _) = status_line(&ctx, path, "no-rule").await;
    assert_eq!(got, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn the_token_endpoint_preset_refuses_the_client() {
    let ctx = Ctx::start().await;
    let id = add_rule(
        &ctx,
        json!({"scope": "unauthorized", "match": {"operation": "token"},
               "action": {"kind": "error", "error": "unauthorized_client"}}),
    )
    .await;
    let refresh = |scope: Option<&str>| {
        let mut request = ctx
            .client
            .post(format!("{}/auth/o2/token", ctx.base()))
            .basic_auth("some-client", Some("secret"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", ctx.refresh.as_str()),
            ]);
        if let Some(scope) = scope {
            request = request.header(SCOPE, scope);
        }
        raw(request)
    };
    let r = refresh(Some("unauthorized")).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        common::fixture("oauth_error_unauthorized_client.json")
    );
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "§12.6: a token-endpoint reply is JSON"
    );
    assert_eq!(counts(&ctx, &id).await, (1, 1));
    // Out of the scope the same refresh works.
    let r = refresh(None).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn system_unavailable_is_retried_by_its_retry_after() {
    let ctx = Ctx::start().await;
    let id = add_rule(
        &ctx,
        json!({"scope": "busy", "match": {"operation": "account"},
               "action": {"kind": "error", "error": "system_unavailable", "retry_after": 2},
               "trigger": {"first": 1}}),
    )
    .await;
    let r = info(&ctx, Some("busy")).await;
    check_preset("system_unavailable", &r);
    assert_eq!(r.retry_after().as_deref(), Some("2"));
    // Only the first: the retry goes through.
    let r = info(&ctx, Some("busy")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(counts(&ctx, &id).await, (2, 1));
}

/// With `pending_folder_ms`, a new folder is listed as PENDING once its listing lag is over and
/// AVAILABLE after that (§8.8), while `GET nodes/{id}` shows it AVAILABLE throughout and a
/// filter on `status` sees the stored status. A node trashed within the listing lag shows its
/// real status, TRASH, to a filter that asks for it.
#[tokio::test]
async fn a_new_folder_is_listed_pending_for_a_while() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    put_settings(&ctx, json!({"pending_folder_ms": {"min": 800, "max": 800}})).await;
    let folder = ctx.mkdir(&root, "fresh").await;
    let id = id_of(&folder);
    let started = Instant::now();
    let listed = children_named(&ctx, &root, "fresh").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "PENDING");
    let searched = ctx.lookup(&root, "fresh").await;
    assert_eq!(searched["data"][0]["status"], "PENDING");
    let (status, node) = ctx.node(&id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(node["status"], "AVAILABLE");
    let filtered = ctx
        .list(&format!(
            "parents:{root} AND status:AVAILABLE AND name:fresh"
        ))
        .await;
    assert_eq!(filtered["data"][0]["status"], "AVAILABLE");
    // Later it is listed AVAILABLE.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = children_named(&ctx, &root, "fresh").await;
        if listed[0]["status"] == "AVAILABLE" {
            break;
        }
        assert!(Instant::now() < deadline, "still PENDING: {}", listed[0]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(started.elapsed() >= Duration::from_millis(700));

    // A trash within the listing lag: listed as before, TRASH where the filter asks.
    put_settings(&ctx, json!({})).await;
    let old = ctx.upload_file(&id, "old.txt", b"old").await;
    put_settings(
        &ctx,
        json!({"listing_lag_ms": {"min": 600_000, "max": 600_000}}),
    )
    .await;
    let (status, _) = ctx.trash(&id_of(&old)).await;
    assert_eq!(status, StatusCode::OK);
    let listed = children_named(&ctx, &id, "old.txt").await;
    assert_eq!(listed[0]["status"], "AVAILABLE", "within the lag");
    let trashed = ctx.list(&format!("parents:{id} AND status:TRASH")).await;
    assert_eq!(trashed["data"][0]["name"], "old.txt");
    assert_eq!(trashed["data"][0]["status"], "TRASH");
}
