//! Trash, restore and the refused purge (reference §6.11).

use std::time::{Duration, Instant};

use reqwest::Method;

use crate::api::{Api, Reply, id};
use crate::cases::folders::{
    LISTING_DEADLINE, MISSING_ID, get_node, parents_of, send_empty, unique_bytes, wait_listed,
};
use crate::check::{Check, Failure};
use crate::context::Ctx;
use crate::{checks, ensure, ensure_eq};

/// `POST trash/{id}/restore`.
pub(crate) async fn restore(api: &Api, node: &str) -> Reply {
    let reply = send_empty(api, Method::POST, &format!("trash/{node}/restore")).await;
    api.reconcile(reply, node, 200, |n| n["status"] == "AVAILABLE")
        .await
}

/// Poll `GET trash` until `node` is (or is no longer) in it.
async fn wait_in_trash(api: &Api, node: &str, present: bool) -> Result<(), Failure> {
    let deadline = Instant::now() + LISTING_DEADLINE;
    loop {
        let listed = api.list_all("trash", &[]).await?;
        let found = listed.iter().find(|n| id(n) == node);
        if let Some(n) = found {
            ensure_eq!(n["status"].as_str(), Some("TRASH"), "status in GET trash");
        }
        if found.is_some() == present {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Failure::new(
                format!(
                    "node {node} {} GET trash",
                    if present { "listed in" } else { "gone from" }
                ),
                format!("{} nodes in the trash, without it", listed.len()),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Trash is 200 with status trash (§6.11).
async fn trash_is_200_with_status_trash(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(100)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let node = api
        .file(&parent, "bin.txt", &unique_bytes(&ctx, 100, 0))
        .await?;
    // Listed first, so that "gone" below is a change the listing must show.
    wait_listed(&ctx, &api, &parent, &id(&node), true).await?;
    let reply = api.trash(&id(&node)).await;
    ctx.record("trash", &reply.json());
    reply.expect(200, "PUT trash/{id}")?;
    let trashed = reply.json();
    ensure_eq!(id(&trashed), id(&node), "id");
    ensure_eq!(
        trashed["status"].as_str(),
        Some("TRASH"),
        "status in the reply"
    );
    let by_id = get_node(&api, &id(&node)).await?;
    ensure_eq!(by_id["status"].as_str(), Some("TRASH"), "status by id");
    wait_listed(&ctx, &api, &parent, &id(&node), false).await
}

/// Trashed folder takes its subtree (§6.11, §5.4).
async fn trashed_folder_takes_its_subtree(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(100)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let folder = api.folder(&parent, "doomed").await?;
    let sub = api.folder(&id(&folder), "inner").await?;
    let file = api
        .file(&id(&sub), "deep.txt", &unique_bytes(&ctx, 100, 0))
        .await?;
    // Listed first, so that "gone" below is a change the listing must show.
    wait_listed(&ctx, &api, &parent, &id(&folder), true).await?;
    wait_listed(&ctx, &api, &id(&folder), &id(&sub), true).await?;
    wait_listed(&ctx, &api, &id(&sub), &id(&file), true).await?;
    api.trash(&id(&folder))
        .await
        .expect(200, "PUT trash/{folder}")?;
    for (what, node) in [("subfolder", &sub), ("file", &file)] {
        let n = get_node(&api, &id(node)).await?;
        ensure_eq!(
            n["status"].as_str(),
            Some("TRASH"),
            format!("the {what}'s status")
        );
    }
    wait_listed(&ctx, &api, &parent, &id(&folder), false).await?;
    wait_listed(&ctx, &api, &id(&folder), &id(&sub), false).await?;
    wait_listed(&ctx, &api, &id(&sub), &id(&file), false).await
}

/// Trash listing holds the node (§6.11, §5.1).
async fn trash_listing_holds_the_node(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(100)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let node = api
        .file(&parent, "listed.txt", &unique_bytes(&ctx, 100, 0))
        .await?;
    api.trash(&id(&node)).await.expect(200, "PUT trash/{id}")?;
    wait_in_trash(&api, &id(&node), true).await?;
    let page = api.get("trash", &[]).await.ok_json("GET trash")?;
    ensure!(
        page["data"].is_array() && page["count"].is_u64(),
        "the list envelope {data:[...], count}",
        "{}",
        crate::api::short(&page.to_string())
    );
    restore(&api, &id(&node)).await.expect(200, "restore")?;
    wait_in_trash(&api, &id(&node), false).await
}

/// Restore returns to all parents (§6.11, §6.10).
async fn restore_returns_to_all_parents(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(100)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let a = id(&api.folder(&parent, "a").await?);
    let b = id(&api.folder(&parent, "b").await?);
    let node = id(&api
        .file(&a, "both.txt", &unique_bytes(&ctx, 100, 0))
        .await?);
    send_empty(&api, Method::PUT, &format!("nodes/{b}/children/{node}"))
        .await
        .expect(200, "add parent b")?;
    // Listed first, so that "gone" below is a change the listing must show.
    wait_listed(&ctx, &api, &a, &node, true).await?;
    wait_listed(&ctx, &api, &b, &node, true).await?;
    api.trash(&node).await.expect(200, "PUT trash/{id}")?;
    wait_listed(&ctx, &api, &a, &node, false).await?;
    wait_listed(&ctx, &api, &b, &node, false).await?;
    let reply = restore(&api, &node).await;
    ctx.record("restore", &reply.json());
    reply.expect(200, "POST trash/{id}/restore")?;
    let restored = reply.json();
    ensure_eq!(restored["status"].as_str(), Some("AVAILABLE"), "status");
    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    ensure_eq!(parents_of(&restored), want, "parents after restore");
    wait_listed(&ctx, &api, &a, &node, true).await?;
    wait_listed(&ctx, &api, &b, &node, true).await
}

/// Restore of a folder brings its children back (§6.11).
async fn restore_of_a_folder_brings_its_children_back(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(100)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let folder = id(&api.folder(&parent, "phoenix").await?);
    let file = id(&api
        .file(&folder, "ash.txt", &unique_bytes(&ctx, 100, 0))
        .await?);
    api.trash(&folder).await.expect(200, "PUT trash/{folder}")?;
    restore(&api, &folder)
        .await
        .expect(200, "restore the folder")?;
    let child = get_node(&api, &file).await?;
    ensure_eq!(
        child["status"].as_str(),
        Some("AVAILABLE"),
        "the child's status"
    );
    wait_listed(&ctx, &api, &parent, &folder, true).await?;
    wait_listed(&ctx, &api, &folder, &file, true).await
}

/// Purging a trashed node (`DELETE nodes/{id}`) is 403 for an app (§6.11, §7.2).
async fn purge_is_refused(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(100)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let node = id(&api
        .file(&parent, "keep.txt", &unique_bytes(&ctx, 100, 0))
        .await?);
    api.trash(&node).await.expect(200, "PUT trash/{id}")?;
    let reply = send_empty(&api, Method::DELETE, &format!("nodes/{node}")).await;
    ctx.record("purge", &reply.json());
    reply.expect(403, "DELETE nodes/{id} (purge) by an app")?;
    let message = reply.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    ensure!(
        message.contains("Insufficient permissions"),
        "\"Insufficient permissions granted for operation: purgeNode\"",
        "{}",
        reply.text()
    );
    let still = get_node(&api, &node).await?;
    ensure_eq!(
        still["status"].as_str(),
        Some("TRASH"),
        "status after the refused purge"
    );
    Ok(())
}

/// Trash or restore of a missing node is 404 (§6.11, §7.2).
async fn trash_or_restore_of_a_missing_node_is_404(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let reply = api.trash(MISSING_ID).await;
    ctx.record("trash_missing", &reply.json());
    reply.expect(404, "PUT trash/{missing}")?;
    restore(&api, MISSING_ID)
        .await
        .expect(404, "POST trash/{missing}/restore")?;
    Ok(())
}

/// The checks of this area, in order.
pub(crate) fn checks() -> Vec<Check> {
    checks![
        trash_is_200_with_status_trash("§6.11", []),
        trashed_folder_takes_its_subtree("§6.11, §5.4", []),
        trash_listing_holds_the_node("§6.11, §5.1", []),
        restore_returns_to_all_parents("§6.11, §6.10", []),
        restore_of_a_folder_brings_its_children_back("§6.11", []),
        purge_is_refused("§6.11, §7.2", []),
        trash_or_restore_of_a_missing_node_is_404("§6.11, §7.2", []),
    ]
}
