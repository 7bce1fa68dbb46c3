//! Exact shapes of the service's less common answers (issue 18): the upload 400s with their
//! bare bodies (§6.5), S3's `InvalidArgument` document (§6.7), the `504 GATEWAY_TIMEOUT` and
//! `408 REQUEST_TIMEOUT` status lines (§7.1), the 429 "System unavailable" (§12.9), the token
//! endpoint's `unauthorized_client` (§12.8), properties of another app and the empty owner
//! (§6.14), and `localId` (§6.5). Each answer is compared with its file in `fixtures/`, except
//! for values that differ per request (`logref`, S3's ids).

use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::api::{Api, Reply, SCOPE_HEADER, id, send_once, short};
use crate::check::{Capability, Check, Failure};
use crate::context::Ctx;
use crate::{checks, ensure, ensure_eq};

/// A fixture of `fixtures/` as JSON.
fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// `body` with its `logref` (a per-request UUID) replaced by the fixture's, after checking
/// that it is one.
fn same_logref(mut body: Value, fixture: &Value) -> Result<Value, Failure> {
    if let Some(logref) = body.get("logref") {
        let text = logref.as_str().unwrap_or_default();
        ensure!(
            text.len() == 36 && text.matches('-').count() == 4,
            "a UUID logref",
            "{logref}"
        );
        body["logref"] = fixture["logref"].clone();
    }
    Ok(body)
}

/// Fail unless `reply` is `status` with exactly the fixture's JSON body (key order included),
/// `logref` aside.
fn exactly(reply: &Reply, status: u16, fixture_text: &str, what: &str) -> Result<(), Failure> {
    reply.expect(status, what)?;
    let expected = fixture(fixture_text);
    let got = same_logref(reply.json(), &expected)?;
    // Compared as text, so a key out of order or an extra key fails too.
    ensure_eq!(got.to_string(), expected.to_string(), what);
    Ok(())
}

/// Send requests made by `make` once each (no retry of transient answers: the answer under
/// test is one) until the check's rule `rule` has fired on one; that answer. Against a
/// realistic target the target's own faults may answer first, so up to five tries.
async fn faulted(
    ctx: &Ctx,
    rule: &str,
    mut make: impl FnMut() -> RequestBuilder,
) -> Result<Reply, Failure> {
    let admin = ctx.admin()?;
    let mut last = None;
    for _ in 0..5 {
        let before = admin.fired(rule).await?;
        let reply = send_once(make()).await;
        if admin.fired(rule).await? > before {
            return Ok(reply);
        }
        let wait = reply
            .retry_after()
            .unwrap_or(std::time::Duration::from_secs(1));
        last = Some(reply);
        tokio::time::sleep(wait.min(std::time::Duration::from_secs(5))).await;
    }
    Err(Failure::new(
        format!("fault rule {rule} to answer one of five tries"),
        last.map_or_else(String::new, |r| {
            format!("HTTP {}: {}", r.status, short(&r.text()))
        }),
    ))
}

/// A multipart upload body cut in the middle of its content part (no closing delimiter), and
/// its content type.
fn cut_upload(parent: &str) -> (Vec<u8>, String) {
    let boundary = "acdConformanceCutBoundary";
    let metadata = json!({"name": "cut.bin", "kind": "FILE", "parents": [parent]});
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{metadata}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"cut.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&[0x5a; 2000]);
    (body, format!("multipart/form-data; boundary={boundary}"))
}

/// The 504 and 408 status lines, read over a raw connection (HTTP clients hide the reason
/// phrase). Only for `http://` targets.
async fn status_line(ctx: &Ctx, preset: &'static str, line: &str) -> Result<(), Failure> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let api = ctx.api();
    let url = api.meta("account/info");
    if url.scheme() != "http" {
        return Err(Failure::skip(
            "status lines are read over plain HTTP/1.1 only",
        ));
    }
    let host = url.host_str().unwrap_or("127.0.0.1").to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let rule = ctx
        .fault(json!({
            "match": {"operation": "account"},
            "action": {"kind": "error", "error": preset},
        }))
        .await?;
    let admin = ctx.admin()?;
    let mut seen = Vec::new();
    for _ in 0..5 {
        let before = admin.fired(&rule).await?;
        let mut stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| Failure::new("a connection to the target", e.to_string()))?;
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {}\r\n\
             {SCOPE_HEADER}: {}\r\nConnection: close\r\n\r\n",
            url.path(),
            api.token,
            ctx.scope()
        );
        let mut answer = Vec::new();
        let io = async {
            stream.write_all(request.as_bytes()).await?;
            stream.read_to_end(&mut answer).await
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), io)
            .await
            .map_err(|_| Failure::new("an answer within 30 s", "none"))?
            .map_err(|e| Failure::new("an answer", e.to_string()))?;
        let text = String::from_utf8_lossy(&answer).into_owned();
        let (got, rest) = text.split_once("\r\n").unwrap_or((&text, ""));
        if admin.fired(&rule).await? > before {
            ensure_eq!(got, line, "the status line");
            ensure!(
                rest.ends_with("\r\n\r\n"),
                "no body (§7.1)",
                "{}",
                short(rest)
            );
            return Ok(());
        }
        seen.push(got.to_string());
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    Err(Failure::new(
        format!("the rule's {line}"),
        format!("other answers: {seen:?}"),
    ))
}

/// The API as the app `app`: a token minted for that OAuth client when the target has an
/// admin API, else the run's own token (a real account's app).
async fn as_app(ctx: &Ctx, app: &str) -> Result<Api, Failure> {
    let mut api = ctx.api();
    if let Some(admin) = ctx.target.admin.as_ref() {
        let minted = admin.for_check(ctx.stats.clone()).mint_for_app(app).await?;
        if let Some(token) = minted["access_token"].as_str() {
            api.token = token.to_string();
        }
    }
    Ok(api)
}

/// A create-folder request with a `localId`.
async fn create_with_local_id(api: &Api, parent: &str, name: &str, local_id: &str) -> Reply {
    let body = json!({"name": name, "kind": "FOLDER", "parents": [parent], "localId": local_id});
    api.send(
        api.request(Method::POST, api.meta("nodes"))
            .body(body.to_string()),
    )
    .await
}

/// Unreadable upload is bare 400 (§6.5).
async fn unreadable_upload_is_bare_400(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    let (body, content_type) = cut_upload(&folder);
    let reply = api
        .send(
            api.request(Method::POST, api.content_url("nodes"))
                .query(&[("suppress", "deduplication")])
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body),
        )
        .await;
    ctx.record("cannot_read", &reply.json());
    exactly(
        &reply,
        400,
        include_str!("../../../fixtures/error_400_cannot_read_request.json"),
        "an upload body cut before its end",
    )
}

/// Upload failure is bare 400 (§6.5).
async fn upload_failure_is_bare_400(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    let rule = ctx
        .fault(json!({
            "match": {"operation": "upload"},
            "action": {"kind": "error", "error": "cannot_complete_upload"},
        }))
        .await?;
    let reply = faulted(&ctx, &rule, || {
        let metadata = json!({"name": "never.bin", "kind": "FILE", "parents": [folder]});
        let form = reqwest::multipart::Form::new()
            .text("metadata", metadata.to_string())
            .part(
                "content",
                reqwest::multipart::Part::bytes(b"never stored".to_vec()).file_name("never.bin"),
            );
        api.request(Method::POST, api.content_url("nodes"))
            .query(&[("suppress", "deduplication")])
            .multipart(form)
    })
    .await?;
    exactly(
        &reply,
        400,
        include_str!("../../../fixtures/error_400_cannot_complete_upload.json"),
        "the upload failure preset",
    )
}

/// S3 refuses a second auth mechanism (§6.7, §7.1, §8.7).
///
/// The mock's presigned URLs live at `<base>/s3/<token>`; S3 refused any request
/// with both a signature query and Authorization before looking further.
async fn s3_refuses_a_second_auth_mechanism(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let mut url = api.content_url("/s3/conformance");
    url.set_query(Some(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=600&X-Amz-SignedHeaders=host",
    ));
    let reply = api.send(api.request(Method::GET, url)).await;
    reply.expect(400, "a presigned URL fetched with Authorization")?;
    ensure_eq!(
        reply.header("content-type").as_deref(),
        Some("application/xml"),
        "Content-Type"
    );
    let ids =
        regex::Regex::new("<RequestId>[0-9A-F]{16}</RequestId><HostId>[A-Za-z0-9+/=]+</HostId>")
            .map_err(|e| Failure::new("a pattern", e.to_string()))?;
    let text = reply.text();
    let fixture = include_str!("../../../fixtures/s3_error_invalid_argument.xml");
    ensure!(
        ids.is_match(&text),
        "a RequestId of 16 hex digits and a HostId",
        "{}",
        short(&text)
    );
    ensure_eq!(
        ids.replace(&text, "[ids]"),
        ids.replace(fixture, "[ids]"),
        "the S3 error document"
    );
    Ok(())
}

/// Gateway timeout status line (§7.1, §8.6).
async fn gateway_timeout_status_line(ctx: Ctx) -> Result<(), Failure> {
    status_line(&ctx, "gateway_timeout", "HTTP/1.1 504 GATEWAY_TIMEOUT").await
}

/// Request timeout status line (§7.1, §8.6).
async fn request_timeout_status_line(ctx: Ctx) -> Result<(), Failure> {
    status_line(&ctx, "request_timeout", "HTTP/1.1 408 REQUEST_TIMEOUT").await
}

/// System unavailable 429 (§12.9).
async fn system_unavailable_429(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let rule = ctx
        .fault(json!({
            "match": {"operation": "account"},
            "action": {"kind": "error", "error": "system_unavailable"},
        }))
        .await?;
    let reply = faulted(&ctx, &rule, || {
        api.request(Method::GET, api.meta("account/info"))
    })
    .await?;
    exactly(
        &reply,
        429,
        include_str!("../../../fixtures/error_429_system_unavailable.json"),
        "the System unavailable preset",
    )
}

/// Token endpoint unauthorized client (§12.8, §1.3).
async fn token_endpoint_unauthorized_client(ctx: Ctx) -> Result<(), Failure> {
    let oauth = ctx
        .target
        .oauth
        .clone()
        .ok_or_else(|| Failure::skip("no token endpoint client"))?;
    let rule = ctx
        .fault(json!({
            "match": {"operation": "token"},
            "action": {"kind": "error", "error": "unauthorized_client"},
        }))
        .await?;
    let api = ctx.api();
    let reply = faulted(&ctx, &rule, || {
        api.http
            .request(Method::POST, &oauth.token_url)
            .header(SCOPE_HEADER, ctx.scope())
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", oauth.refresh_token.as_str()),
                ("client_id", oauth.client_id.as_str()),
                ("client_secret", oauth.client_secret.as_str()),
            ])
    })
    .await?;
    let content_type = reply.header("content-type").unwrap_or_default();
    ensure!(
        content_type.starts_with("application/json"),
        "a token-endpoint error labelled application/json (§12.6)",
        "Content-Type {content_type:?}"
    );
    exactly(
        &reply,
        400,
        include_str!("../../../fixtures/oauth_error_unauthorized_client.json"),
        "the unauthorized_client preset",
    )
}

/// Properties of another app are 403 (§6.14, §7.2).
async fn properties_of_another_app_are_403(ctx: Ctx) -> Result<(), Failure> {
    let api = as_app(&ctx, "acdConformance").await?;
    let folder = ctx.folder().await?;
    let node = api.folder(&folder, "owned").await?;
    let node_id = id(&node);
    // An app's properties go under its own name: the createdBy of its nodes.
    let own = node["createdBy"].as_str().unwrap_or_default().to_string();
    ensure!(!own.is_empty(), "a createdBy", "{node}");
    let other = format!("{own}Other");
    let put = |owner: &str| {
        api.request(
            Method::PUT,
            api.meta(&format!("nodes/{node_id}/properties/{owner}/color")),
        )
        .body(json!({"value": "blue"}).to_string())
    };
    api.send(put(&own))
        .await
        .expect(201, "PUT a property under the app's own name")?;
    let refused = api.send(put(&other)).await;
    ctx.record("other_app", &refused.json());
    refused.expect(403, "PUT a property under another app's name")?;
    let expected = fixture(include_str!(
        "../../../fixtures/error_403_properties_owner.json"
    ));
    let body = same_logref(refused.json(), &expected)?;
    let keys = |v: &Value| {
        v.as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    ensure_eq!(keys(&body), keys(&expected), "the 403's keys");
    let read = api
        .get(&format!("nodes/{node_id}/properties/{other}"), &[])
        .await;
    read.expect(403, "GET another app's properties")?;
    let mine = api
        .get(&format!("nodes/{node_id}/properties/{own}"), &[])
        .await;
    ensure_eq!(
        mine.ok_json("GET the app's own properties")?,
        json!({"data": {"color": "blue"}}),
        "the app's properties"
    );
    Ok(())
}

/// Properties with an empty owner are unknown (§6.14).
async fn properties_with_an_empty_owner_are_unknown(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    for path in [
        format!("nodes/{folder}/properties/"),
        format!("nodes/{folder}/properties//color"),
    ] {
        let reply = api.get(&path, &[]).await;
        reply.expect(404, &format!("GET {path}"))?;
        ensure_eq!(
            reply.text(),
            include_str!("../../../fixtures/error_404_unknown_operation.xml"),
            format!("the body of GET {path}")
        );
    }
    Ok(())
}

/// Local id maps to one node (§6.5, §8.5).
async fn local_id_maps_to_one_node(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    let n: u64 = rand::random();
    let local_id = format!("{}-{n:016x}", ctx.scope());
    let first = create_with_local_id(&api, &folder, "first", &local_id).await;
    let first = if first.status == 409 && first.after_transient {
        // An earlier try was applied, then answered 5xx: the 409 names it.
        let made = first.json()["info"]["nodeId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        api.get(&format!("nodes/{made}"), &[])
            .await
            .ok_json("the node an earlier try made")?
    } else {
        first.ok_json("create a folder with a localId")?
    };
    let again = create_with_local_id(&api, &folder, "second", &local_id).await;
    // The localId is random per run (it must be new on a long-lived target).
    let mut recorded = again.json();
    if let Some(message) = recorded["message"].as_str() {
        recorded["message"] = Value::String(message.replace(&local_id, "<localId>"));
    }
    ctx.record("local_id_conflict", &recorded);
    again.expect(409, "a second create with the same localId")?;
    let body = again.json();
    ensure_eq!(
        body["info"]["nodeId"].as_str(),
        first["id"].as_str(),
        "info.nodeId (the node the localId maps to)"
    );
    let expected = fixture(include_str!("../../../fixtures/error_409_local_id.json"));
    ensure_eq!(body["code"], expected["code"], "code");
    ensure_eq!(
        body["message"].as_str(),
        Some(
            format!(
                "Node with the localId {local_id} already exists conflicting NodeId: {}",
                id(&first)
            )
            .as_str()
        ),
        "message"
    );
    let fresh = create_with_local_id(&api, &folder, "third", &format!("{local_id}-2")).await;
    if !(fresh.status == 409 && fresh.after_transient) {
        fresh.expect(201, "a create with another localId")?;
    }
    Ok(())
}

/// The checks of this area, in order.
pub(crate) fn checks() -> Vec<Check> {
    checks![
        unreadable_upload_is_bare_400("§6.5", []),
        upload_failure_is_bare_400("§6.5", [Capability::FaultInjection]),
        s3_refuses_a_second_auth_mechanism("§6.7, §7.1, §8.7", [Capability::FaultInjection]),
        gateway_timeout_status_line("§7.1, §8.6", [Capability::FaultInjection]),
        request_timeout_status_line("§7.1, §8.6", [Capability::FaultInjection]),
        system_unavailable_429("§12.9", [Capability::FaultInjection]),
        token_endpoint_unauthorized_client(
            "§12.8, §1.3",
            [Capability::FaultInjection, Capability::TokenEndpoint]
        ),
        properties_of_another_app_are_403("§6.14, §7.2", []),
        properties_with_an_empty_owner_are_unknown("§6.14", []),
        local_id_maps_to_one_node("§6.5, §8.5", []),
    ]
}
