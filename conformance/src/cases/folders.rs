//! Creating folders (reference §6.4, §7.1), and helpers the node-operation areas share
//! (folders, transfer, range, overwrite, trash, moves, changes, account).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::api::{Api, Reply, id};
use crate::check::{Check, Failure};
use crate::context::Ctx;
use crate::{checks, ensure, ensure_eq};

/// How long a listing may lag behind a write (§8.8) before a check gives up.
pub(crate) const LISTING_DEADLINE: Duration = Duration::from_secs(20);

/// A request to the metadata API with a JSON body; the raw reply.
pub(crate) async fn send_json(api: &Api, method: Method, path: &str, body: &Value) -> Reply {
    api.send(api.request(method, api.meta(path)).json(body))
        .await
}

/// A bodyless request to the metadata API (trash, restore, add or remove parent, purge).
pub(crate) async fn send_empty(api: &Api, method: Method, path: &str) -> Reply {
    api.send(
        api.request(method, api.meta(path))
            .header(reqwest::header::CONTENT_LENGTH, "0"),
    )
    .await
}

/// `PATCH nodes/{id}` with a JSON body.
pub(crate) async fn patch(api: &Api, node: &str, body: &Value) -> Reply {
    send_json(api, Method::PATCH, &format!("nodes/{node}"), body).await
}

/// A node by id, failing unless it is 200.
pub(crate) async fn get_node(api: &Api, node: &str) -> Result<Value, Failure> {
    let reply = api.node(node).await;
    reply.expect(200, &format!("GET nodes/{node}"))?;
    Ok(reply.json())
}

/// The ids of the live children listed under `parent` whose `parents` still name it (rclone
/// drops the others, §5.4).
pub(crate) async fn child_ids(api: &Api, parent: &str) -> Result<Vec<String>, Failure> {
    Ok(api
        .children(parent)
        .await?
        .iter()
        .filter(|n| {
            n["parents"]
                .as_array()
                .is_some_and(|p| p.iter().any(|x| x.as_str() == Some(parent)))
        })
        .map(id)
        .collect())
}

/// Poll the raw listing of `parent` (every node the server lists under it, whatever its
/// status or `parents`) until `node` is in it (or, with `present` false, no longer is), within
/// `--settle` (§8.8).
pub(crate) async fn wait_listed(
    ctx: &Ctx,
    api: &Api,
    parent: &str,
    node: &str,
    present: bool,
) -> Result<(), Failure> {
    ctx.settled(|| async {
        let listed = api.listing(parent).await?;
        let ids: Vec<String> = listed.iter().map(id).collect();
        let what = if present { "listed in" } else { "gone from" };
        ensure!(
            ids.iter().any(|i| i == node) == present,
            format!("node {node} {what} the listing of {parent}"),
            "the listing holds {ids:?}"
        );
        Ok(())
    })
    .await
}

/// The `parents` of a node as strings, sorted.
pub(crate) fn parents_of(node: &Value) -> Vec<String> {
    let mut out: Vec<String> = node["parents"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// A node's `version`, or a failure when it has none.
pub(crate) fn version_of(node: &Value) -> Result<u64, Failure> {
    node["version"]
        .as_u64()
        .ok_or_else(|| Failure::new("a node with an integer version", node.to_string()))
}

/// `len` bytes that no other check and no other run uploads: the MD5 (in hex) of the run
/// folder's random name, the check and `salt`, then the check's seeded data, cut to `len`.
/// `salt` gives distinct contents within one check.
pub(crate) fn unique_bytes(ctx: &Ctx, len: usize, salt: u8) -> Vec<u8> {
    let tag = format!("{}:{}:{salt}", ctx.target.run_folder_name, ctx.check);
    let mut out = crate::api::md5_hex(tag.as_bytes()).into_bytes();
    out.extend(ctx.data(len));
    out.truncate(len);
    out
}

/// A well-formed node id that no node has (22 characters of the id alphabet, §2).
pub(crate) const MISSING_ID: &str = "zzNoSuchNodeZZzzzzzzzz";

/// An ISO-8601 UTC timestamp as §2 describes (`2015-08-30T12:53:49.238Z`).
pub(crate) fn is_timestamp(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.len() >= 20 && s.ends_with('Z') && s.as_bytes().get(10) == Some(&b'T'))
}

/// Create returns 201 and the full node (§6.4, §4, §12.3).
async fn create_returns_201_and_the_full_node(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let reply = api.create_folder(&parent, "Fresh Folder").await;
    ctx.record("create_folder", &reply.json());
    reply.expect(201, "POST nodes (create folder)")?;
    let node = reply.json();
    let node_id = id(&node);
    ensure!(
        node_id.len() == 22
            && node_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "an id of 22 characters of [A-Za-z0-9_-]",
        "{:?}",
        node["id"]
    );
    ensure_eq!(node["name"].as_str(), Some("Fresh Folder"), "name");
    ensure_eq!(node["kind"].as_str(), Some("FOLDER"), "kind");
    ensure_eq!(node["status"].as_str(), Some("AVAILABLE"), "status");
    ensure_eq!(parents_of(&node), vec![parent.clone()], "parents");
    for field in ["createdDate", "modifiedDate"] {
        ensure!(
            is_timestamp(&node[field]),
            format!("{field} as an ISO-8601 UTC time with milliseconds"),
            "{}",
            node[field]
        );
    }
    ensure!(
        node.get("contentProperties").is_none(),
        "no contentProperties on a folder",
        "{}",
        node["contentProperties"]
    );
    let by_id = get_node(&api, &node_id).await?;
    ensure_eq!(by_id["name"].as_str(), Some("Fresh Folder"), "name by id");
    ensure_eq!(by_id["kind"].as_str(), Some("FOLDER"), "kind by id");
    Ok(())
}

/// Nested folders have their parent (§6.4, §5.1).
async fn nested_folders_have_their_parent(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let top = ctx.folder().await?;
    let mut parent = top.clone();
    let mut chain = Vec::new();
    for name in ["level1", "level2", "level3"] {
        let node = api.folder(&parent, name).await?;
        ensure_eq!(parents_of(&node), vec![parent.clone()], "parents");
        chain.push((parent.clone(), id(&node)));
        parent = id(&node);
    }
    for (parent, child) in &chain {
        wait_listed(&ctx, &api, parent, child, true).await?;
        let ids = child_ids(&api, parent).await?;
        ensure_eq!(ids.len(), 1, format!("live children of {parent}"));
    }
    let children = api
        .list_all(&format!("nodes/{}/children", chain[0].1), &[])
        .await?;
    ctx.record("children", &json!(children));
    ensure!(
        children.iter().any(|n| id(n) == chain[1].1),
        "GET nodes/{level1}/children to list level2",
        "{}",
        json!(children)
    );
    Ok(())
}

/// Same name is 409 with the existing node id (§6.4, §7.1).
async fn same_name_is_409_with_the_existing_node_id(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let first = api.folder(&parent, "twin").await?;
    let reply = api.create_folder(&parent, "twin").await;
    ctx.record("conflict", &reply.json());
    reply.expect(409, "a second folder with the same name")?;
    let body = reply.json();
    ensure_eq!(body["code"].as_str(), Some("NAME_ALREADY_EXISTS"), "code");
    ensure_eq!(
        body["info"]["nodeId"].as_str(),
        Some(id(&first).as_str()),
        "info.nodeId"
    );
    let message = body["message"].as_str().unwrap_or_default();
    ensure!(
        message.contains(&id(&first)) && message.contains(&parent),
        "a message naming the conflicting node and the parent",
        "{message:?}"
    );
    wait_listed(&ctx, &api, &parent, &id(&first), true).await?;
    let ids = child_ids(&api, &parent).await?;
    ensure_eq!(ids, vec![id(&first)], "the live children after the refusal");
    Ok(())
}

/// Missing parent is refused (§6.4, §6.5, §7.2).
async fn missing_parent_is_refused(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let reply = api.create_folder(MISSING_ID, "orphan").await;
    ctx.record("missing_parent", &reply.json());
    ensure!(
        reply.status == 400 || reply.status == 404,
        "400 or 404 for a parent that does not exist",
        "HTTP {}: {}",
        reply.status,
        reply.text()
    );
    Ok(())
}

/// Create without name or kind is 400 (§6.4, §7.2).
async fn create_without_name_or_kind_is_400(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let bodies = [
        json!({"kind": "FOLDER", "parents": [parent]}),
        json!({"name": "nameless-kind", "parents": [parent]}),
        json!({}),
    ];
    for body in &bodies {
        let reply = send_json(&api, Method::POST, "nodes", body).await;
        ctx.record("bad_create", &reply.json());
        ensure!(
            reply.status == 400,
            format!("POST nodes {body}: HTTP 400"),
            "HTTP {}: {}",
            reply.status,
            reply.text()
        );
    }
    ensure_eq!(
        child_ids(&api, &parent).await?.len(),
        0,
        "children created by refused requests"
    );
    Ok(())
}

/// Json body without content type is accepted (§2, §6.4).
async fn json_body_without_content_type_is_accepted(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let parent = ctx.folder().await?;
    // go-acd's encoder: JSON with a trailing newline and no Content-Type header.
    let body = format!(
        "{}\n",
        json!({"name": "bare", "kind": "FOLDER", "parents": [parent]})
    );
    let reply = api
        .send(api.request(Method::POST, api.meta("nodes")).body(body))
        .await;
    reply.expect(201, "POST nodes without Content-Type")?;
    ensure_eq!(reply.json()["name"].as_str(), Some("bare"), "name");
    Ok(())
}

/// Name is free again after trash (§6.4, §6.11, §11.3).
async fn name_is_free_again_after_trash(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let first = api.folder(&parent, "reused").await?;
    api.trash(&id(&first)).await.expect(200, "PUT trash/{id}")?;
    let second = api.folder(&parent, "reused").await?;
    ensure!(
        id(&second) != id(&first),
        "a new node for the reused name",
        "the same id {}",
        id(&first)
    );
    Ok(())
}

/// The checks of this area, in order.
pub(crate) fn checks() -> Vec<Check> {
    checks![
        create_returns_201_and_the_full_node("§6.4, §4, §12.3", []),
        nested_folders_have_their_parent("§6.4, §5.1", []),
        same_name_is_409_with_the_existing_node_id("§6.4, §7.1", []),
        missing_parent_is_refused("§6.4, §6.5, §7.2", []),
        create_without_name_or_kind_is_400("§6.4, §7.2", []),
        json_body_without_content_type_is_accepted("§2, §6.4", []),
        name_is_free_again_after_trash("§6.4, §6.11, §11.3", []),
    ]
}
