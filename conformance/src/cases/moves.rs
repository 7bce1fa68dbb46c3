//! Renames, moves and parent edits (reference §6.8-§6.10, §8.5).

use reqwest::Method;
use serde_json::json;

use crate::api::{Api, Reply, id};
use crate::cases::folders::{
    get_node, parents_of, patch, send_empty, send_json, unique_bytes, version_of, wait_listed,
};
use crate::cases::trash::restore;
use crate::check::{Check, Failure};
use crate::context::Ctx;
use crate::{checks, ensure, ensure_eq};

/// `POST nodes/{to}/children` `{"fromParent","childId"}`.
async fn move_node(api: &Api, node: &str, from: &str, to: &str) -> Reply {
    let reply = send_json(
        api,
        Method::POST,
        &format!("nodes/{to}/children"),
        &json!({"fromParent": from, "childId": node}),
    )
    .await;
    api.reconcile(reply, node, 200, |n| {
        has_parent(n, to) && !has_parent(n, from)
    })
    .await
}

/// Whether a node's JSON lists `parent` among its parents.
fn has_parent(node: &serde_json::Value, parent: &str) -> bool {
    node["parents"]
        .as_array()
        .is_some_and(|p| p.iter().any(|p| p.as_str() == Some(parent)))
}

/// `PUT nodes/{parent}/children/{child}`.
async fn add_parent(api: &Api, parent: &str, child: &str) -> Reply {
    let reply = send_empty(
        api,
        Method::PUT,
        &format!("nodes/{parent}/children/{child}"),
    )
    .await;
    api.reconcile(reply, child, 200, |n| has_parent(n, parent))
        .await
}

/// `DELETE nodes/{parent}/children/{child}`.
async fn remove_parent(api: &Api, parent: &str, child: &str) -> Reply {
    let reply = send_empty(
        api,
        Method::DELETE,
        &format!("nodes/{parent}/children/{child}"),
    )
    .await;
    api.reconcile(reply, child, 200, |n| !has_parent(n, parent))
        .await
}

/// Sorted ids.
fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// Rename is 200 and bumps version (§6.8, §4).
async fn rename_is_200_and_bumps_version(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(50)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let node = api
        .file(&parent, "before.txt", &unique_bytes(&ctx, 50, 0))
        .await?;
    let reply = patch(&api, &id(&node), &json!({"name": "after.txt"})).await;
    ctx.record("rename", &reply.json());
    reply.expect(200, "PATCH nodes/{id} {name}")?;
    let renamed = reply.json();
    ensure_eq!(id(&renamed), id(&node), "id");
    ensure_eq!(renamed["name"].as_str(), Some("after.txt"), "name");
    ensure_eq!(parents_of(&renamed), vec![parent.clone()], "parents");
    ensure!(
        version_of(&renamed)? > version_of(&node)?,
        format!("version above {}", node["version"]),
        "{}",
        renamed["version"]
    );
    ensure_eq!(
        renamed["contentProperties"]["md5"].clone(),
        node["contentProperties"]["md5"].clone(),
        "md5 after a rename"
    );
    let by_id = get_node(&api, &id(&node)).await?;
    ensure_eq!(by_id["name"].as_str(), Some("after.txt"), "name by id");
    Ok(())
}

/// Rename onto a sibling is 409 (§6.8, §7.1, §8.5).
async fn rename_onto_a_sibling_is_409(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let taken = api.folder(&parent, "taken").await?;
    let other = api.folder(&parent, "other").await?;
    let reply = patch(&api, &id(&other), &json!({"name": "taken"})).await;
    ctx.record("rename_conflict", &reply.json());
    reply.expect(409, "a rename onto a sibling's name")?;
    let body = reply.json();
    ensure_eq!(body["code"].as_str(), Some("NAME_ALREADY_EXISTS"), "code");
    ensure_eq!(
        body["info"]["nodeId"].as_str(),
        Some(id(&taken).as_str()),
        "info.nodeId"
    );
    let by_id = get_node(&api, &id(&other)).await?;
    ensure_eq!(
        by_id["name"].as_str(),
        Some("other"),
        "name after the refusal"
    );
    Ok(())
}

/// Move replaces the parent (§6.9).
async fn move_replaces_the_parent(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(50)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let a = id(&api.folder(&parent, "from").await?);
    let b = id(&api.folder(&parent, "to").await?);
    let node = api
        .file(&a, "traveller.txt", &unique_bytes(&ctx, 50, 0))
        .await?;
    // Listed first, so that "gone" below is a change the listing must show.
    wait_listed(&ctx, &api, &a, &id(&node), true).await?;
    let reply = move_node(&api, &id(&node), &a, &b).await;
    ctx.record("move", &reply.json());
    reply.expect(200, "POST nodes/{to}/children")?;
    let moved = reply.json();
    ensure_eq!(id(&moved), id(&node), "id");
    ensure_eq!(
        parents_of(&moved),
        vec![b.clone()],
        "parents after the move"
    );
    ensure_eq!(moved["name"].as_str(), Some("traveller.txt"), "name");
    ensure!(
        version_of(&moved)? > version_of(&node)?,
        format!("version above {}", node["version"]),
        "{}",
        moved["version"]
    );
    wait_listed(&ctx, &api, &b, &id(&node), true).await?;
    wait_listed(&ctx, &api, &a, &id(&node), false).await
}

/// Move onto a name clash is 409 (§6.9, §7.1).
async fn move_onto_a_name_clash_is_409(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let a = id(&api.folder(&parent, "from").await?);
    let b = id(&api.folder(&parent, "to").await?);
    let mover = id(&api.folder(&a, "clash").await?);
    let resident = id(&api.folder(&b, "clash").await?);
    let reply = move_node(&api, &mover, &a, &b).await;
    ctx.record("move_conflict", &reply.json());
    reply.expect(409, "a move onto a name taken in the new parent")?;
    ensure_eq!(
        reply.json()["info"]["nodeId"].as_str(),
        Some(resident.as_str()),
        "info.nodeId"
    );
    let still = get_node(&api, &mover).await?;
    ensure_eq!(
        parents_of(&still),
        vec![a.clone()],
        "parents after the refusal"
    );
    Ok(())
}

/// Adding a second parent is 200 and the node then has both parents (§6.10, §4).
async fn add_a_second_parent(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(50)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let a = id(&api.folder(&parent, "a").await?);
    let b = id(&api.folder(&parent, "b").await?);
    let node = id(&api
        .file(&a, "shared.txt", &unique_bytes(&ctx, 50, 0))
        .await?);
    let reply = add_parent(&api, &b, &node).await;
    ctx.record("add_parent", &reply.json());
    reply.expect(200, "PUT nodes/{b}/children/{id}")?;
    let want = sorted(vec![a.clone(), b.clone()]);
    ensure_eq!(
        parents_of(&reply.json()),
        want.clone(),
        "parents in the reply"
    );
    ensure_eq!(
        parents_of(&get_node(&api, &node).await?),
        want,
        "parents by id"
    );
    wait_listed(&ctx, &api, &a, &node, true).await?;
    wait_listed(&ctx, &api, &b, &node, true).await
}

/// Add parent onto a name clash is 409 (§6.10, §7.1).
async fn add_parent_onto_a_name_clash_is_409(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let a = id(&api.folder(&parent, "a").await?);
    let b = id(&api.folder(&parent, "b").await?);
    let node = id(&api.folder(&a, "dup").await?);
    api.folder(&b, "dup").await?;
    let reply = add_parent(&api, &b, &node).await;
    ctx.record("add_parent_conflict", &reply.json());
    reply.expect(409, "adding a parent that has the name already")?;
    ensure_eq!(
        parents_of(&get_node(&api, &node).await?),
        vec![a],
        "parents"
    );
    Ok(())
}

/// Remove a parent is 200 with the child (§6.10).
async fn remove_a_parent_is_200_with_the_child(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(50)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let a = id(&api.folder(&parent, "a").await?);
    let b = id(&api.folder(&parent, "b").await?);
    let node = id(&api
        .file(&a, "leaving.txt", &unique_bytes(&ctx, 50, 0))
        .await?);
    add_parent(&api, &b, &node)
        .await
        .expect(200, "add parent b")?;
    // Listed first, so that "gone" below is a change the listing must show.
    wait_listed(&ctx, &api, &a, &node, true).await?;
    let reply = remove_parent(&api, &a, &node).await;
    ctx.record("remove_parent", &reply.json());
    reply.expect(200, "DELETE nodes/{a}/children/{id}")?;
    let child = reply.json();
    ensure_eq!(id(&child), node.clone(), "the reply is the child");
    ensure_eq!(parents_of(&child), vec![b.clone()], "parents in the reply");
    wait_listed(&ctx, &api, &a, &node, false).await?;
    wait_listed(&ctx, &api, &b, &node, true).await
}

/// Rename of a trashed node never conflicts (§6.8, §8.5).
async fn rename_of_a_trashed_node_never_conflicts(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(100)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    api.file(&parent, "live.txt", &unique_bytes(&ctx, 50, 1))
        .await?;
    let node = id(&api
        .file(&parent, "ghost.txt", &unique_bytes(&ctx, 50, 2))
        .await?);
    api.trash(&node).await.expect(200, "PUT trash/{id}")?;
    let reply = patch(&api, &node, &json!({"name": "live.txt"})).await;
    ctx.record("rename_trashed", &reply.json());
    reply.expect(200, "renaming a trashed node onto a live sibling's name")?;
    let renamed = reply.json();
    ensure_eq!(renamed["name"].as_str(), Some("live.txt"), "name");
    ensure_eq!(
        renamed["status"].as_str(),
        Some("TRASH"),
        "status stays TRASH"
    );
    Ok(())
}

/// Rclone rename fallback through the trash (§8.5, §6.10, §6.11).
async fn rclone_rename_fallback_through_the_trash(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(50)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let src = id(&api.folder(&parent, "src").await?);
    let dst = id(&api.folder(&parent, "dst").await?);
    let node = id(&api
        .file(&src, "old.txt", &unique_bytes(&ctx, 50, 0))
        .await?);
    wait_listed(&ctx, &api, &src, &node, true).await?;
    // rclone moveNode's fallback: trash, rename, add the new parent, remove the
    // old one, restore.
    api.trash(&node).await.expect(200, "1. PUT trash/{id}")?;
    patch(&api, &node, &json!({"name": "new.txt"}))
        .await
        .expect(200, "2. PATCH the trashed node's name")?;
    add_parent(&api, &dst, &node)
        .await
        .expect(200, "3. PUT nodes/{dst}/children/{id} while trashed")?;
    remove_parent(&api, &src, &node)
        .await
        .expect(200, "4. DELETE nodes/{src}/children/{id} while trashed")?;
    let reply = restore(&api, &node).await;
    ctx.record("fallback_restore", &reply.json());
    reply.expect(200, "5. POST trash/{id}/restore")?;
    let done = reply.json();
    ensure_eq!(done["name"].as_str(), Some("new.txt"), "name");
    ensure_eq!(done["status"].as_str(), Some("AVAILABLE"), "status");
    ensure_eq!(parents_of(&done), vec![dst.clone()], "parents");
    wait_listed(&ctx, &api, &dst, &node, true).await?;
    wait_listed(&ctx, &api, &src, &node, false).await
}

/// Move of a trashed node is refused (§6.9).
async fn move_of_a_trashed_node_is_refused(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(50)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let a = id(&api.folder(&parent, "a").await?);
    let b = id(&api.folder(&parent, "b").await?);
    let node = id(&api
        .file(&a, "binned.txt", &unique_bytes(&ctx, 50, 0))
        .await?);
    api.trash(&node).await.expect(200, "PUT trash/{id}")?;
    let reply = move_node(&api, &node, &a, &b).await;
    ctx.record("move_trashed", &reply.json());
    ensure!(
        reply.status == 400 || reply.status == 409,
        "400 or 409: \"replacing parent is forbidden by API\" for trashed nodes",
        "HTTP {}: {}",
        reply.status,
        reply.text()
    );
    ensure_eq!(
        parents_of(&get_node(&api, &node).await?),
        vec![a],
        "parents"
    );
    Ok(())
}

/// The checks of this area, in order.
pub(crate) fn checks() -> Vec<Check> {
    checks![
        rename_is_200_and_bumps_version("§6.8, §4", []),
        rename_onto_a_sibling_is_409("§6.8, §7.1, §8.5", []),
        move_replaces_the_parent("§6.9", []),
        move_onto_a_name_clash_is_409("§6.9, §7.1", []),
        add_a_second_parent("§6.10, §4", []),
        add_parent_onto_a_name_clash_is_409("§6.10, §7.1", []),
        remove_a_parent_is_200_with_the_child("§6.10", []),
        rename_of_a_trashed_node_never_conflicts("§6.8, §8.5", []),
        rclone_rename_fallback_through_the_trash("§8.5, §6.10, §6.11", []),
        move_of_a_trashed_node_is_refused("§6.9", []),
    ]
}
