//! The dashboard's pages and `/_mock/events` over plain HTTP (no browser): what each page
//! shows, that every name is escaped, that the forms change what they say, and that the event
//! stream delivers journal entries live, without tokens, and ends at shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::Ctx;
use futures_util::StreamExt as _;
use reqwest::{Client, StatusCode};
use serde_json::json;

const EVIL: &str = "<img src=x onerror=alert(1)>";

fn http() -> Client {
    Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn page(ctx: &Ctx, path: &str) -> (StatusCode, String) {
    let response = http()
        .get(format!("{}{path}", ctx.base()))
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status.is_success() {
        let ct = response.headers()["content-type"].to_str().unwrap();
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
    (status, response.text().await.unwrap())
}

fn csrf_of(html: &str) -> String {
    let re = regex::Regex::new(r#"name="csrf" value="([^"]+)""#).unwrap();
    re.captures(html).expect("a CSRF field")[1].to_string()
}

/// Posts a dashboard form (with the CSRF token of the Faults page).
async fn post_form(ctx: &Ctx, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let (_, faults) = page(ctx, "/_mock/ui/faults").await;
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("csrf", &csrf_of(&faults));
    for (k, v) in fields {
        form.append_pair(k, v);
    }
    let response = http()
        .post(format!("{}{path}", ctx.base()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.finish())
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

fn row_of<'a>(html: &'a str, marker: &str) -> &'a str {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in {html}"));
    let start = html[..at].rfind("<tr").unwrap();
    let end = at + html[at..].find("</tr>").unwrap();
    &html[start..end]
}

#[tokio::test]
async fn names_and_values_are_escaped_everywhere() {
    let ctx = Ctx::start().await;
    let (status, seeded) = ctx
        .admin_post(
            "seed",
            Some(&json!({"nodes": [
                {"name": "\"quoted\" & <b>bold", "children": [{"name": EVIL, "content": "x"}]}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{seeded}");
    let folder = seeded["created"][0]["id"].as_str().unwrap().to_string();
    let file = seeded["created"][1]["id"].as_str().unwrap().to_string();
    let account = 1;

    let (_, root) = page(&ctx, &format!("/_mock/ui/accounts/{account}/tree")).await;
    assert!(
        root.contains("&quot;quoted&quot; &amp; &lt;b&gt;bold"),
        "{root}"
    );
    assert!(!root.contains("<b>bold"));
    let (_, inside) = page(
        &ctx,
        &format!("/_mock/ui/accounts/{account}/tree?folder={folder}"),
    )
    .await;
    assert!(
        inside.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{inside}"
    );
    assert!(!inside.contains("<img"), "{inside}");
    let (_, node) = page(&ctx, &format!("/_mock/ui/accounts/{account}/nodes/{file}")).await;
    assert!(
        node.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{node}"
    );
    assert!(!node.contains("<img"), "{node}");

    // A rule id, a scope and a request path carrying markup are text too.
    let (status, body) = post_form(
        &ctx,
        "/_mock/ui/faults/add",
        &[
            ("format", "json"),
            (
                "rule",
                r#"{"id": "<script>alert(1)</script>", "scope": "\"><svg onload=alert(1)>", "action": {"kind": "reset"}}"#,
            ),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (_, faults) = page(&ctx, "/_mock/ui/faults").await;
    assert!(faults.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(faults.contains("&quot;&gt;&lt;svg onload=alert(1)&gt;"));
    assert!(!faults.contains("<script>alert") && !faults.contains("<svg"));
    ctx.req(
        reqwest::Method::GET,
        &ctx.m("nodes?filters=name:%3Cimg%20src%3Dx%3E"),
    )
    .header("x-acd-mock-scope", "<i>scope</i>")
    .send()
    .await
    .unwrap();
    let (_, requests) = page(&ctx, "/_mock/ui").await;
    assert!(requests.contains("&lt;i&gt;scope&lt;/i&gt;"), "{requests}");
    assert!(!requests.contains("<i>scope"));
    // An error page echoes what it could not find, escaped.
    let (status, missing) = page(
        &ctx,
        &format!("/_mock/ui/accounts/{account}/nodes/%3Cimg%20src%3Dx%3E"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(missing.contains("&lt;img src=x&gt;") && !missing.contains("<img"));
}

#[tokio::test]
async fn requests_are_listed_newest_first_filtered_and_detailed() {
    let ctx = Ctx::start().await;
    let ok = ctx.get(&ctx.m("account/endpoint")).await.0;
    assert_eq!(ok, StatusCode::OK);
    let missing = ctx.node("no-such-node").await.0;
    assert_eq!(missing, StatusCode::NOT_FOUND);
    let secret = ctx
        .client
        .get(format!(
            "{}?access_token={}",
            ctx.m("account/info"),
            ctx.token
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(secret.status(), StatusCode::UNAUTHORIZED);

    let (_, all) = page(&ctx, "/_mock/ui").await;
    let endpoint = all.find("/drive/v1/account/endpoint").unwrap();
    let node = all.find("/drive/v1/nodes/no-such-node").unwrap();
    assert!(node < endpoint, "newest first");
    assert!(
        row_of(&all, "account/endpoint").contains("<td>user@example.com</td>"),
        "the row names the account"
    );
    assert!(
        !row_of(&all, "account/info").contains("user@example.com"),
        "no account for a refused token"
    );
    assert!(!all.contains(&ctx.token), "no token on the page");
    assert!(all.contains("access_token=&lt;redacted&gt;"));
    assert!(
        !all.contains("class=\"path\">/_mock/"),
        "admin calls are not journaled"
    );

    let (_, errors) = page(&ctx, "/_mock/ui?status=4xx&operation=&scope=").await;
    assert!(errors.contains("no-such-node") && !errors.contains("account/endpoint"));
    let (_, by_op) = page(&ctx, "/_mock/ui?operation=endpoint").await;
    assert!(!by_op.contains("no-such-node") && by_op.contains("account/endpoint"));
    let (status, _) = page(&ctx, "/_mock/ui?status=9xx").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, detail) = page(&ctx, "/_mock/ui/requests/2").await;
    assert_eq!(status, StatusCode::OK);
    assert!(detail.contains("no-such-node") && detail.contains("get_node"));
    assert!(detail.contains("Bearer &lt;redacted&gt;"), "{detail}");
    assert!(!detail.contains(&ctx.token));
    assert_eq!(
        page(&ctx, "/_mock/ui/requests/999").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn fault_forms_add_delete_switch_and_clear() {
    let ctx = Ctx::start().await;
    let rule = "id = \"boom\"\nscope = \"dash\"\nmatch = { operation = \"endpoint\" }\n\
                action = { kind = \"status\", status = 503 }\ntrigger = { first = 1 }";
    let (status, body) = post_form(
        &ctx,
        "/_mock/ui/faults/add",
        &[("format", "toml"), ("rule", rule)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (_, faults) = page(&ctx, "/_mock/ui/faults").await;
    let row = row_of(&faults, "data-rule=\"boom\"");
    assert!(row.contains("<td class=\"fired\">0</td>"), "{row}");

    let fired = ctx
        .req(reqwest::Method::GET, &ctx.m("account/endpoint"))
        .header("x-acd-mock-scope", "dash")
        .send()
        .await
        .unwrap();
    assert_eq!(fired.status(), StatusCode::SERVICE_UNAVAILABLE);
    let (_, faults) = page(&ctx, "/_mock/ui/faults").await;
    let row = row_of(&faults, "data-rule=\"boom\"");
    assert!(row.contains("<td class=\"matches\">1</td>"), "{row}");
    assert!(row.contains("<td class=\"fired\">1</td>"), "{row}");
    let (_, requests) = page(&ctx, "/_mock/ui?status=503").await;
    assert!(
        row_of(&requests, "account/endpoint").contains("<td>boom</td>"),
        "the request names the rule that fired"
    );

    // A bad rule is refused by name, and the text stays in the form.
    let (status, body) = post_form(
        &ctx,
        "/_mock/ui/faults/add",
        &[
            ("format", "toml"),
            ("rule", "action = { kind = \"explode\" }"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("id=\"rule-error\"") && body.contains("explode"));
    assert!(body.contains("action = { kind = &quot;explode&quot; }"));
    let (status, _) = post_form(
        &ctx,
        "/_mock/ui/faults/add",
        &[("format", "toml"), ("rule", rule)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "ids stay unique");

    let (status, _) = post_form(&ctx, "/_mock/ui/faults/delete", &[("id", "boom")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(ctx.server.state().faults.rules().is_empty());

    let (status, _) = post_form(
        &ctx,
        "/_mock/ui/faults/profile",
        &[("profile", "realistic")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let faults = &ctx.server.state().faults;
    assert!(
        faults
            .rules()
            .iter()
            .any(|r| r.rule.id == "phantom-over-10gib")
    );
    assert!(faults.settings().rate_limit.is_some());
    let (status, _) = post_form(&ctx, "/_mock/ui/faults/clear", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(faults.rules().is_empty());
    let (status, _) = post_form(&ctx, "/_mock/ui/faults/profile", &[("profile", "nope")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn accounts_tree_paging_download_trash_and_minting() {
    let ctx = Ctx::start().await;
    let children: Vec<_> = (0..60)
        .map(|i| json!({"name": format!("f{i:02}.txt"), "content": format!("file {i}")}))
        .collect();
    let (status, seeded) = ctx
        .admin_post(
            "seed",
            Some(&json!({"nodes": [{"name": "many", "children": children}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let folder = seeded["created"][0]["id"].as_str().unwrap().to_string();
    let first_file = seeded["created"][1]["id"].as_str().unwrap().to_string();

    let (_, accounts) = page(&ctx, "/_mock/ui/accounts").await;
    assert!(accounts.contains("user@example.com"));
    assert!(accounts.contains("5.0 GiB"), "{accounts}");

    let (_, first) = page(&ctx, &format!("/_mock/ui/accounts/1/tree?folder={folder}")).await;
    assert_eq!(first.matches("class=\"name\"").count(), 50);
    assert!(first.contains("f00.txt") && !first.contains("f50.txt"));
    assert!(first.contains("60 in all"));
    let next = regex::Regex::new(r#"id="next-page" href="([^"]+)""#)
        .unwrap()
        .captures(&first)
        .expect("a next page link")[1]
        .replace("&amp;", "&");
    let (_, second) = page(&ctx, &next).await;
    assert_eq!(second.matches("class=\"name\"").count(), 10);
    assert!(second.contains("f59.txt") && !second.contains("next-page"));
    assert!(
        second.contains("(root)") && second.contains(">many</a>"),
        "breadcrumb"
    );

    let download = http()
        .get(format!(
            "{}/_mock/ui/accounts/1/nodes/{first_file}/content",
            ctx.base()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(
        download.headers()["content-disposition"],
        "attachment; filename=\"f00.txt\"; filename*=UTF-8''f00.txt"
    );
    assert_eq!(download.bytes().await.unwrap().as_ref(), b"file 0");
    let (status, _) = page(
        &ctx,
        &format!("/_mock/ui/accounts/1/nodes/{folder}/content"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a folder has no content");

    assert_eq!(ctx.trash(&first_file).await.0, StatusCode::OK);
    let (_, trash) = page(&ctx, "/_mock/ui/accounts/1/trash").await;
    assert!(
        trash.contains("f00.txt") && trash.contains("TRASH"),
        "{trash}"
    );
    let (_, after) = page(&ctx, &format!("/_mock/ui/accounts/1/tree?folder={folder}")).await;
    assert!(!after.contains("f00.txt"));

    let (status, minted) = post_form(&ctx, "/_mock/ui/accounts/1/token", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let token = regex::Regex::new(r#"id="minted-token">([^<]+)<"#)
        .unwrap()
        .captures(&minted)
        .expect("the minted token")[1]
        .to_string();
    assert!(token.starts_with("Atza|"));
    let works = ctx
        .client
        .get(ctx.m("account/endpoint"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(works.status(), StatusCode::OK);
    assert_eq!(
        page(&ctx, "/_mock/ui/accounts/99/tree").await.0,
        StatusCode::NOT_FOUND
    );
}

/// Reads the event stream until `want` shows up in it (or fails after 10 s).
async fn read_until(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    seen: &mut String,
    want: &str,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(want) {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("{want:?} never arrived; got {seen}"))
            .expect("the stream stays open")
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn events_stream_journal_entries_live_without_tokens() {
    let ctx = Ctx::start().await;
    assert_eq!(ctx.get(&ctx.m("account/endpoint")).await.0, StatusCode::OK);

    let response = http()
        .get(format!("{}/_mock/events?after=0", ctx.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    // The backlog after 0 first, then what happens from now on.
    read_until(&mut stream, &mut seen, "account/endpoint").await;
    assert!(
        seen.contains("event: request") && seen.contains("id: 1"),
        "{seen}"
    );
    let (status, _) = ctx
        .send_as(
            &ctx.token,
            reqwest::Method::GET,
            &format!("{}?access_token={}", ctx.m("account/quota"), ctx.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    read_until(&mut stream, &mut seen, "account/quota").await;
    assert!(seen.contains("id: 2"), "{seen}");
    assert!(!seen.contains(&ctx.token), "no token in events: {seen}");
    assert!(seen.contains("access_token=<redacted>"));
    assert!(seen.contains("Bearer <redacted>"));
    assert!(seen.contains("\"account\":\"user@example.com\""), "{seen}");

    // Filters: only 404s.
    let filtered = http()
        .get(format!("{}/_mock/events?status=404", ctx.base()))
        .send()
        .await
        .unwrap();
    let mut filtered = filtered.bytes_stream();
    ctx.get(&ctx.m("account/endpoint")).await;
    ctx.node("missing-node").await;
    let mut got = String::new();
    read_until(&mut filtered, &mut got, "missing-node").await;
    assert!(!got.contains("account/endpoint"), "{got}");
    let bad = http()
        .get(format!("{}/_mock/events?operation=nope", ctx.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    // Shutting the server down ends open streams instead of waiting for them forever.
    tokio::time::timeout(Duration::from_secs(10), ctx.server.shutdown())
        .await
        .expect("shutdown finishes with event streams open");
    let rest = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
    assert!(rest.is_ok(), "the stream ended");
}

#[tokio::test]
async fn the_dashboard_and_events_work_under_the_realistic_profile() {
    let plan = acd_mock::faults::profiles::load("realistic").unwrap();
    let ctx = Ctx::with(acd_mock::MockServer::builder().faults(plan).seed(7)).await;
    let events = http()
        .get(format!("{}/_mock/events", ctx.base()))
        .send()
        .await
        .unwrap();
    let mut events = events.bytes_stream();
    // The admin API and the dashboard are not throttled or faulted: 40 page loads in a burst
    // (the profile allows bursts of 20 API calls) all succeed.
    for path in [
        "/_mock/ui",
        "/_mock/ui/faults",
        "/_mock/ui/accounts",
        "/_mock/ui/accounts/1/tree",
    ]
    .iter()
    .cycle()
    .take(40)
    {
        assert_eq!(page(&ctx, path).await.0, StatusCode::OK, "{path}");
    }
    // API calls past the burst are throttled, and the stream reports them with the rule.
    let mut throttled = 0;
    for _ in 0..30 {
        if ctx.get(&ctx.m("account/endpoint")).await.0 == StatusCode::TOO_MANY_REQUESTS {
            throttled += 1;
        }
    }
    assert!(
        throttled > 0,
        "the realistic profile throttles a burst of 30"
    );
    let mut seen = String::new();
    read_until(&mut events, &mut seen, "\"fault\":\"rate_limit\"").await;
    assert!(seen.contains("\"status\":429"), "{seen}");
}
