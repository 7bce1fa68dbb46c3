//! The root folder (reference §4, §6.1).

use serde_json::Value;

use crate::api::id;
use crate::check::Check;
use crate::{check, ensure, ensure_eq};

/// The checks of this area.
pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "root",
            "root_is_found_by_filter",
            "§6.1",
            [],
            |ctx: crate::context::Ctx| async move {
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
        ),
        check!(
            "root",
            "root_by_id_matches_search",
            "§6.2",
            [],
            |ctx: crate::context::Ctx| async move {
                let api = ctx.api();
                let root = api.root().await?;
                let by_id = api.node(&id(&root)).await.ok_json("GET nodes/{root}")?;
                ensure_eq!(by_id["id"].clone(), root["id"].clone(), "id");
                ensure_eq!(by_id["status"].as_str(), Some("AVAILABLE"), "status");
                Ok(())
            }
        ),
        // Only on mocks: on a real account nothing outside the run folder is ever touched.
        check!(
            "root",
            "trashing_the_root_is_forbidden",
            "§6.11, §7.2",
            [crate::check::Capability::FaultInjection],
            |ctx: crate::context::Ctx| async move {
                let api = ctx.api();
                let root = api.root().await?;
                let reply = api.trash(&id(&root)).await;
                ctx.record("trash_root", &reply.json());
                reply.expect(403, "PUT trash/{root}")?;
                Ok(())
            }
        ),
    ]
}
