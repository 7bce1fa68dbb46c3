//! The root folder (reference §4, §6.1).

use serde_json::Value;

use crate::api::id;
use crate::check::{Capability, Check, Failure};
use crate::context::Ctx;
use crate::{checks, ensure, ensure_eq};

/// Root is found by filter (§6.1).
async fn root_is_found_by_filter(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let reply = api
        .get("nodes", &[("filters", "kind:FOLDER AND isRoot:true")])
        .await;
    let list = reply.ok_json("root search")?;
    ctx.record("root_list", &list);
    let data = list["data"].as_array().cloned().unwrap_or_default();
    ensure_eq!(data.len(), 1, "number of roots");
    let root = &data[0];
    ensure_eq!(root["kind"].as_str(), Some("FOLDER"), "root kind");
    ensure_eq!(root["isRoot"].as_bool(), Some(true), "root isRoot");
    ensure!(
        root["parents"].as_array().is_some_and(|p| p.is_empty()),
        "root parents = []",
        "{}",
        root["parents"]
    );
    ensure!(
        root.get("name").is_none_or(Value::is_null),
        "no name on the root",
        "{}",
        root["name"]
    );
    Ok(())
}

/// Root by id matches search (§6.2).
async fn root_by_id_matches_search(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let root = api.root().await?;
    let by_id = api.node(&id(&root)).await.ok_json("GET nodes/{root}")?;
    ensure_eq!(by_id["id"].clone(), root["id"].clone(), "id");
    ensure_eq!(by_id["status"].as_str(), Some("AVAILABLE"), "status");
    Ok(())
}

/// Trashing the root is forbidden (§6.11, §7.2).
///
/// Only on mocks: on a real account nothing outside the run folder is ever touched.
async fn trashing_the_root_is_forbidden(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let root = api.root().await?;
    let reply = api.trash(&id(&root)).await;
    ctx.record("trash_root", &reply.json());
    reply.expect(403, "PUT trash/{root}")?;
    Ok(())
}

/// The checks of this area, in order.
pub(crate) fn checks() -> Vec<Check> {
    checks![
        root_is_found_by_filter("§6.1", []),
        root_by_id_matches_search("§6.2", []),
        trashing_the_root_is_forbidden("§6.11, §7.2", [Capability::FaultInjection]),
    ]
}
