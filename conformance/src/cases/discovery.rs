//! Checks of the `discovery` area: `GET account/endpoint` (reference §2, §3).

use reqwest::Method;
use serde_json::Value;

use crate::api::{Api, Reply, SCOPE_HEADER, id, md5_hex, short};
use crate::check::{Check, Failure};
use crate::context::Ctx;
use crate::{checks, ensure, ensure_eq};

/// GET the discovery URL, with the run's token unless `token` says otherwise.
async fn endpoint(ctx: &Ctx, token: Option<&str>) -> Reply {
    let api = ctx.api();
    let mut request = api
        .http
        .request(Method::GET, &ctx.target.endpoint_url)
        .header(SCOPE_HEADER, ctx.scope());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    api.send(request).await
}

/// A URL field of the discovery answer, which must end in `/`.
fn url_field(body: &Value, field: &str) -> Result<url::Url, Failure> {
    let text = body[field]
        .as_str()
        .ok_or_else(|| Failure::new(format!("a {field} string"), short(&body.to_string())))?;
    ensure!(
        text.ends_with('/'),
        format!("{field} ending in / (§2: relative paths resolve against it)"),
        "{text:?}"
    );
    url::Url::parse(text)
        .map_err(|e| Failure::new(format!("{field} a URL"), format!("{text:?}: {e}")))
}

/// Endpoint shape (§3, §2).
async fn endpoint_shape(ctx: Ctx) -> Result<(), Failure> {
    let token = ctx.target.api.token.clone();
    let reply = endpoint(&ctx, Some(&token)).await;
    let body = reply.ok_json("GET account/endpoint")?;
    ctx.record("endpoint", &body);
    ensure_eq!(
        body["customerExists"].as_bool(),
        Some(true),
        "customerExists"
    );
    let metadata = url_field(&body, "metadataUrl")?;
    let content = url_field(&body, "contentUrl")?;
    ensure!(
        metadata != content,
        "two base URLs (metadata and content)",
        "both {metadata}"
    );
    Ok(())
}

/// Both urls are usable (§3, §2, §6.5, §6.7).
async fn both_urls_are_usable(ctx: Ctx) -> Result<(), Failure> {
    let token = ctx.target.api.token.clone();
    let body = endpoint(&ctx, Some(&token))
        .await
        .ok_json("GET account/endpoint")?;
    let api = Api {
        metadata: url_field(&body, "metadataUrl")?,
        content: url_field(&body, "contentUrl")?,
        ..ctx.api()
    };
    // Metadata: a search and a node read through the discovered URL.
    let root = api.root().await?;
    ensure_eq!(root["isRoot"].as_bool(), Some(true), "isRoot of the root");
    let folder = ctx.folder().await?;
    api.node(&folder)
        .await
        .ok_json("GET nodes/{id} through metadataUrl")?;
    // Content: an upload and a download through the discovered URL.
    let bytes = ctx.data(64);
    ctx.budget(bytes.len() as u64)?;
    let node = api.file(&folder, "through-content-url.bin", &bytes).await?;
    ensure_eq!(
        node["contentProperties"]["md5"]
            .as_str()
            .map(str::to_string),
        Some(md5_hex(&bytes)),
        "md5 of the upload"
    );
    let down = api.download(&id(&node), None).await;
    down.expect(200, "download through contentUrl")?;
    ensure!(
        down.body.as_ref() == bytes.as_slice(),
        "the uploaded bytes back",
        "{} different bytes",
        down.body.len()
    );
    Ok(())
}

/// Endpoint requires auth (§3, §7.2).
async fn endpoint_requires_auth(ctx: Ctx) -> Result<(), Failure> {
    let reply = endpoint(&ctx, None).await;
    ctx.record("no_token", &reply.json());
    reply.expect(401, "GET account/endpoint without a token")?;
    let reply = endpoint(&ctx, Some("Atza|garbage")).await;
    ctx.record("garbage_token", &reply.json());
    reply.expect(401, "GET account/endpoint with a garbage token")?;
    ensure!(
        reply.json()["message"].is_string(),
        "a {\"message\": ...} body (§3: 401 Token has expired)",
        "{}",
        short(&reply.text())
    );
    Ok(())
}

/// The checks of this area, in order.
pub(crate) fn checks() -> Vec<Check> {
    checks![
        endpoint_shape("§3, §2", []),
        both_urls_are_usable("§3, §2, §6.5, §6.7", []),
        endpoint_requires_auth("§3, §7.2", []),
    ]
}
