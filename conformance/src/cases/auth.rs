//! Checks of the `auth` area: the token endpoint (reference §1.3, §12.6-12.8) and how the API
//! answers calls without a valid access token (§1.4, §7.1, §7.2).

use reqwest::Method;
use serde_json::Value;

use crate::api::{Api, Reply, SCOPE_HEADER, short};
use crate::check::{Capability, Check, Failure};
use crate::context::Ctx;
use crate::target::OAuthClient;
use crate::{checks, ensure, ensure_eq};

/// How the client proves who it is at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientAuth {
    /// `client_id`/`client_secret` form fields (acd_cli, the C# client, node-clouddrive).
    Form,
    /// HTTP Basic with the id and secret URL-escaped first (golang/oauth2, so rclone).
    Basic,
}

/// The token endpoint facts of the target, or a skip.
fn oauth(ctx: &Ctx) -> Result<OAuthClient, Failure> {
    ctx.target
        .oauth
        .clone()
        .ok_or_else(|| Failure::skip("the target has no known token endpoint client"))
}

/// URL-escape as golang/oauth2 does before base64 (`url.QueryEscape`).
fn escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// POST a form to the token endpoint, with the client credentials sent as `auth` says.
async fn token_request(
    ctx: &Ctx,
    oauth: &OAuthClient,
    auth: ClientAuth,
    secret: &str,
    fields: &[(&str, &str)],
) -> Reply {
    let api = ctx.api();
    let mut form: Vec<(&str, &str)> = fields.to_vec();
    let mut request = api
        .http
        .request(Method::POST, &oauth.token_url)
        .header(SCOPE_HEADER, ctx.scope());
    match auth {
        ClientAuth::Form => {
            form.push(("client_id", &oauth.client_id));
            form.push(("client_secret", secret));
        }
        ClientAuth::Basic => {
            request = request.basic_auth(escape(&oauth.client_id), Some(escape(secret)));
        }
    }
    api.send(request.form(&form)).await
}

/// A refresh with the target's client and refresh token.
async fn refresh(ctx: &Ctx, auth: ClientAuth) -> Result<(OAuthClient, Reply), Failure> {
    let oauth = oauth(ctx)?;
    let secret = oauth.client_secret.clone();
    let reply = token_request(
        ctx,
        &oauth,
        auth,
        &secret,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &oauth.refresh_token),
        ],
    )
    .await;
    Ok((oauth, reply))
}

/// Fail unless `reply` is a token reply as §1.3 and §12.6-12.7 describe; returns the access
/// token.
fn token_reply(reply: &Reply, what: &str) -> Result<String, Failure> {
    reply.expect(200, what)?;
    let content_type = reply.header("content-type").unwrap_or_default();
    ensure!(
        content_type.starts_with("application/json"),
        "a token reply labelled application/json (§12.6)",
        "Content-Type {content_type:?}"
    );
    let body = reply.json();
    let access = body["access_token"].as_str().unwrap_or_default();
    ensure!(
        access.starts_with("Atza|"),
        "access_token starting Atza|",
        "{}",
        short(&body.to_string())
    );
    // A refresh reply may leave out refresh_token (§12.6); when present it is an Atzr| token.
    if let Some(refresh) = body.get("refresh_token") {
        ensure!(
            refresh.as_str().is_some_and(|r| r.starts_with("Atzr|")),
            "refresh_token starting Atzr|",
            "{refresh}"
        );
    }
    ensure!(
        body["token_type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("bearer")),
        "token_type bearer",
        "{}",
        body["token_type"]
    );
    ensure!(
        body["expires_in"].as_u64().is_some_and(|s| s > 0),
        "expires_in a positive number of seconds",
        "{}",
        body["expires_in"]
    );
    Ok(access.to_string())
}

/// Fail unless the reply is an LWA error with this status and `error` code.
fn oauth_error(reply: &Reply, status: u16, error: &str, what: &str) -> Result<Value, Failure> {
    reply.expect(status, what)?;
    let body = reply.json();
    ensure_eq!(body["error"].as_str(), Some(error), "error");
    ensure!(
        body["error_description"].is_string(),
        "an error_description string",
        "{}",
        short(&body.to_string())
    );
    Ok(body)
}

/// GET the root with a given `Authorization` (or none).
async fn root_with(ctx: &Ctx, token: Option<&str>) -> Reply {
    let api = ctx.api();
    let url = api.meta("nodes");
    let mut request = api
        .http
        .request(Method::GET, url)
        .query(&[("filters", "kind:FOLDER AND isRoot:true")])
        .header(SCOPE_HEADER, ctx.scope());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    api.send(request).await
}

/// An API client using another access token.
fn api_with(ctx: &Ctx, token: &str) -> Api {
    Api {
        token: token.to_string(),
        ..ctx.api()
    }
}

/// A refresh with client credentials in the form gives an access token of 350+ characters that
/// works (§1.3, §12.6, §12.7).
async fn refresh_with_form_credentials(ctx: Ctx) -> Result<(), Failure> {
    let (_, reply) = refresh(&ctx, ClientAuth::Form).await?;
    ctx.record("token", &reply.json());
    let access = token_reply(&reply, "refresh with form credentials")?;
    ensure!(
        access.len() >= 350,
        "an access token of 350+ characters (§12.7)",
        "{} characters",
        access.len()
    );
    let root = root_with(&ctx, Some(&access)).await;
    root.expect(200, "GET root with the refreshed token")?;
    Ok(())
}

/// A refresh with client credentials in HTTP Basic auth works too (§1.3, §12.6).
async fn refresh_with_basic_credentials(ctx: Ctx) -> Result<(), Failure> {
    let (_, reply) = refresh(&ctx, ClientAuth::Basic).await?;
    ctx.record("token", &reply.json());
    let access = token_reply(&reply, "refresh with HTTP Basic credentials")?;
    let api = api_with(&ctx, &access);
    api.root().await?;
    Ok(())
}

/// Refresh token stays valid (§12.6, §12.7).
///
/// Refresh tokens stay valid until the user removes the app: refreshing twice
/// with the same one works, and both access tokens are usable.
async fn refresh_token_stays_valid(ctx: Ctx) -> Result<(), Failure> {
    let (_, first) = refresh(&ctx, ClientAuth::Form).await?;
    let a = token_reply(&first, "first refresh")?;
    let (_, second) = refresh(&ctx, ClientAuth::Form).await?;
    let b = token_reply(&second, "second refresh with the same refresh token")?;
    ensure!(
        a != b,
        "a new access token per refresh",
        "the same token twice"
    );
    root_with(&ctx, Some(&a))
        .await
        .expect(200, "GET root with the first access token")?;
    root_with(&ctx, Some(&b))
        .await
        .expect(200, "GET root with the second access token")?;
    Ok(())
}

/// Bad refresh token is invalid grant (§1.3).
async fn bad_refresh_token_is_invalid_grant(ctx: Ctx) -> Result<(), Failure> {
    let oauth = oauth(&ctx)?;
    let bogus = format!("Atzr|{}", "x".repeat(64));
    let reply = token_request(
        &ctx,
        &oauth,
        ClientAuth::Form,
        &oauth.client_secret,
        &[("grant_type", "refresh_token"), ("refresh_token", &bogus)],
    )
    .await;
    ctx.record("invalid_grant", &reply.json());
    let body = oauth_error(&reply, 400, "invalid_grant", "refresh with a bad token")?;
    ensure_eq!(
        body["error_description"].as_str(),
        Some("The request has an invalid grant parameter : refresh_token"),
        "error_description"
    );
    Ok(())
}

/// Bad client is invalid client (§1.3, §12.8).
async fn bad_client_is_invalid_client(ctx: Ctx) -> Result<(), Failure> {
    let oauth = oauth(&ctx)?;
    let mut tried = Vec::new();
    for auth in [ClientAuth::Form, ClientAuth::Basic] {
        let reply = token_request(
            &ctx,
            &oauth,
            auth,
            "not-the-secret",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &oauth.refresh_token),
            ],
        )
        .await;
        // acd-mock started without `--client` accepts any client (documented in
        // docs/mock-behaviour.md): nothing to check there.
        if reply.status == 200 && ctx.has(Capability::FaultInjection) {
            return Err(Failure::skip(
                "the mock accepts any client (started without --client)",
            ));
        }
        ctx.record("invalid_client", &reply.json());
        let body = oauth_error(
            &reply,
            401,
            "invalid_client",
            &format!("refresh with a wrong client secret ({auth:?})"),
        )?;
        tried.push(body);
    }
    ensure_eq!(
        tried[0]["error_description"].as_str(),
        Some("Client authentication failed"),
        "error_description"
    );
    Ok(())
}

/// Missing grant type is 400 (§1.3, §7.2).
async fn missing_grant_type_is_400(ctx: Ctx) -> Result<(), Failure> {
    let oauth = oauth(&ctx)?;
    let reply = token_request(
        &ctx,
        &oauth,
        ClientAuth::Form,
        &oauth.client_secret,
        &[("refresh_token", &oauth.refresh_token)],
    )
    .await;
    ctx.record("no_grant_type", &reply.json());
    reply.expect(400, "a token request without grant_type")?;
    ensure!(
        reply.json()["error"].is_string(),
        "an LWA error body with an error code",
        "{}",
        short(&reply.text())
    );
    Ok(())
}

/// No token is 401 (§7.2).
async fn no_token_is_401(ctx: Ctx) -> Result<(), Failure> {
    let reply = root_with(&ctx, None).await;
    ctx.record("no_token", &reply.json());
    reply.expect(401, "GET root without Authorization")?;
    Ok(())
}

/// Garbage token is 401 (§1.4, §7.1, §7.2).
async fn garbage_token_is_401(ctx: Ctx) -> Result<(), Failure> {
    let reply = root_with(&ctx, Some("Atza|not-a-token")).await;
    ctx.record("garbage_token", &reply.json());
    reply.expect(401, "GET root with a garbage bearer token")?;
    ensure!(
        reply.json()["message"].is_string(),
        "a {\"message\": ...} body",
        "{}",
        short(&reply.text())
    );
    Ok(())
}

/// Expired token is 401 token has expired (§1.4, §7.1).
async fn expired_token_is_401_token_has_expired(ctx: Ctx) -> Result<(), Failure> {
    let admin = ctx.admin()?;
    let minted = admin.mint().await?;
    let token = minted["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    ensure!(!token.is_empty(), "a minted access token", "{minted}");
    root_with(&ctx, Some(&token))
        .await
        .expect(200, "GET root with a fresh token")?;
    admin.expire(&token).await?;
    let reply = root_with(&ctx, Some(&token)).await;
    ctx.record("expired", &reply.json());
    reply.expect(401, "GET root with an expired token")?;
    ensure_eq!(
        reply.json()["message"].as_str(),
        Some("Token has expired"),
        "message"
    );
    // Every kind of call is refused, not just searches.
    let api = api_with(&ctx, &token);
    let reply = api.node(&ctx.target.run_folder).await;
    reply.expect(401, "GET nodes/{id} with an expired token")?;
    Ok(())
}

/// The checks of this area, in order.
pub(crate) fn checks() -> Vec<Check> {
    checks![
        refresh_with_form_credentials("§1.3, §12.6, §12.7", [Capability::TokenEndpoint]),
        refresh_with_basic_credentials("§1.3, §12.6", [Capability::TokenEndpoint]),
        refresh_token_stays_valid("§12.6, §12.7", [Capability::TokenEndpoint]),
        bad_refresh_token_is_invalid_grant("§1.3", [Capability::TokenEndpoint]),
        bad_client_is_invalid_client("§1.3, §12.8", [Capability::TokenEndpoint]),
        missing_grant_type_is_400("§1.3, §7.2", [Capability::TokenEndpoint]),
        no_token_is_401("§7.2", []),
        garbage_token_is_401("§1.4, §7.1, §7.2", []),
        expired_token_is_401_token_has_expired("§1.4, §7.1", [Capability::FaultInjection]),
    ]
}
