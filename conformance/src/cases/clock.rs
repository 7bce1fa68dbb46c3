//! The mock's test clock (`POST /_mock/clock`) and the 30-day trash purge it makes testable:
//! trash older than the retention is purged, and shows as `PURGED` in the changes feed with
//! `includePurged` (reference §6.11, §6.13).
//!
//! Moving a mock's clock by a month expires every token and tempLink the rest of the run holds,
//! so this check moves the clock of a private embedded acd-mock of its own, and runs only when
//! the target is the embedded mock (a `url=` mock is someone's shared server; a real account
//! has no clock to move).

use reqwest::Method;
use serde_json::json;

use crate::api::{Api, id};
use crate::cases::changes::feed;
use crate::check::{Capability, Check, Failure};
use crate::context::Ctx;
use crate::target::Admin;
use crate::{checks, ensure, ensure_eq};

/// A private in-process acd-mock built by `builder` (tokens that outlive a year of clock
/// moves), with an [`Api`] for its default account and an [`Admin`] for its admin API. Keep the
/// server alive while they are used.
pub(crate) async fn private_mock(
    ctx: &Ctx,
    builder: acd_mock::MockServerBuilder,
) -> Result<(acd_mock::MockServer, Api, Admin), Failure> {
    let server = builder
        .listen(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .token_lifetime(std::time::Duration::from_secs(400 * 86_400))
        .start()
        .await
        .map_err(|e| Failure::new("a private acd-mock starts", e.to_string()))?;
    let minted = server
        .mint_token(None)
        .map_err(|e| Failure::new("a token from the private mock", e.to_string()))?;
    let url = |u: String| {
        url::Url::parse(&u).map_err(|e| Failure::new("a mock URL", format!("{u}: {e}")))
    };
    let base = ctx.api();
    let api = Api {
        metadata: url(server.metadata_url())?,
        content: url(server.content_url())?,
        token: minted.access_token,
        scope: None,
        ..base.clone()
    };
    let admin = Admin::new(server.url(), base.http.clone(), base.transport.clone());
    Ok((server, api, admin))
}

/// Move the private mock's clock forward by `by` (a humantime duration).
pub(crate) async fn advance(admin: &Admin, by: &str) -> Result<(), Failure> {
    admin
        .call(Method::POST, "clock", Some(json!({"advance": by})))
        .await
        .map(|_| ())
}

/// Trash is purged after 30 days (§6.11, §6.13).
async fn trash_is_purged_after_30_days(ctx: Ctx) -> Result<(), Failure> {
    if !ctx.target.is_embedded_mock() {
        return Err(Failure::skip(
            "moves a mock's clock by a month: runs on the embedded mock only",
        ));
    }
    let (_server, api, admin) = private_mock(&ctx, acd_mock::MockServer::builder()).await?;
    let root = id(&api.root().await?);
    let old = id(&api.file(&root, "trashed-30-days-ago.txt", b"old").await?);
    let young = id(&api.file(&root, "trashed-29-days-ago.txt", b"young").await?);
    api.trash(&old).await.expect(200, "PUT trash/{old}")?;
    advance(&admin, "1d").await?;
    api.trash(&young).await.expect(200, "PUT trash/{young}")?;
    advance(&admin, "29d 1m").await?;
    let gone = api.node(&old).await;
    ctx.record("purged_node", &gone.json());
    gone.expect(404, "GET nodes/{id} of a node trashed 30 days ago")?;
    let kept = api.node(&young).await;
    kept.expect(200, "GET nodes/{id} of a node trashed 29 days ago")?;
    ensure_eq!(kept.json()["status"], "TRASH", "the younger node's status");
    let lines = feed(&api, &json!({"includePurged": "true"})).await?;
    let nodes: Vec<serde_json::Value> = lines
        .iter()
        .flat_map(|l| l["nodes"].as_array().cloned().unwrap_or_default())
        .filter(|n| id(n) == old)
        .collect();
    ctx.record("feed_entries", &serde_json::Value::Array(nodes.clone()));
    ensure!(
        nodes.len() == 1 && nodes[0]["status"] == "PURGED",
        "the purged node once in the feed, with status PURGED",
        "{nodes:?}"
    );
    let plain = feed(&api, &json!({})).await?;
    ensure!(
        plain
            .iter()
            .flat_map(|l| l["nodes"].as_array().cloned().unwrap_or_default())
            .all(|n| id(&n) != old),
        "no purged node in the feed without includePurged",
        "it is there"
    );
    Ok(())
}

/// The checks of this area, in order.
pub(crate) fn checks() -> Vec<Check> {
    checks![trash_is_purged_after_30_days(
        "§6.11, §6.13",
        [Capability::FaultInjection, Capability::Changes]
    ),]
}
