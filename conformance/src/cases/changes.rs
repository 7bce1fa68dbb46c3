//! The changes feed (reference §6.13, §12.4).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::api::{Api, id, short};
use crate::cases::folders::{LISTING_DEADLINE, send_json, unique_bytes};
use crate::check::{Capability, Check, Failure};
use crate::context::Ctx;
use crate::{checks, ensure, ensure_eq};

/// One answer of `POST changes`: its change lines (the `{"end":true}` line checked and dropped).
pub(crate) async fn feed(api: &Api, body: &Value) -> Result<Vec<Value>, Failure> {
    let reply = send_json(api, Method::POST, "changes", body).await;
    reply.expect(200, &format!("POST changes {body}"))?;
    let text = reply.text();
    let mut lines = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let value: Value = serde_json::from_str(line).map_err(|e| {
            Failure::new("one JSON object per line", format!("{e}: {}", short(line)))
        })?;
        lines.push(value);
    }
    let last = lines
        .pop()
        .ok_or_else(|| Failure::new("at least the {\"end\":true} line", "an empty body"))?;
    ensure_eq!(last, json!({"end": true}), "the last line");
    for line in &lines {
        ensure!(
            line["checkpoint"].is_string()
                && line["nodes"].is_array()
                && line["reset"].is_boolean()
                && line["statusCode"].is_u64(),
            "checkpoint (string), nodes (array), reset (bool) and statusCode on every line",
            "{}",
            short(&line.to_string())
        );
        ensure!(
            line.get("end").is_none_or(|e| e == &json!(false)),
            "\"end\" only on the last line",
            "{}",
            short(&line.to_string())
        );
        for node in line["nodes"].as_array().into_iter().flatten() {
            ensure!(
                node["id"].is_string() && node["status"].is_string(),
                "id and status on every node of the feed",
                "{}",
                short(&node.to_string())
            );
        }
    }
    Ok(lines)
}

/// The checkpoint of the last line.
fn last_checkpoint(lines: &[Value]) -> Result<String, Failure> {
    lines
        .last()
        .and_then(|l| l["checkpoint"].as_str())
        .map(str::to_string)
        .ok_or_else(|| Failure::new("a checkpoint", "none"))
}

/// The current checkpoint: the whole feed read once.
async fn checkpoint_now(api: &Api) -> Result<String, Failure> {
    last_checkpoint(&feed(api, &json!({"includePurged": "true"})).await?)
}

/// Every node of the feed after `checkpoint`, read until `done` holds for the nodes seen (the
/// feed may lag, §8.8); returns them (later versions last).
async fn nodes_after(
    api: &Api,
    checkpoint: &str,
    extra: &Value,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Result<Vec<Value>, Failure> {
    let deadline = Instant::now() + LISTING_DEADLINE;
    let mut cp = checkpoint.to_string();
    let mut seen = Vec::new();
    loop {
        let mut body = json!({"checkpoint": cp, "includePurged": "true"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let lines = feed(api, &body).await?;
        for line in &lines {
            seen.extend(line["nodes"].as_array().cloned().unwrap_or_default());
        }
        if let Ok(next) = last_checkpoint(&lines) {
            cp = next;
        }
        if done(&seen) {
            return Ok(seen);
        }
        if Instant::now() >= deadline {
            return Err(Failure::new(
                format!("{what} in the feed within {LISTING_DEADLINE:?}"),
                format!(
                    "{} nodes: {}",
                    seen.len(),
                    short(
                        &json!(
                            seen.iter()
                                .map(|n| json!([id(n), n["status"]]))
                                .collect::<Vec<_>>()
                        )
                        .to_string()
                    )
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last version of `node` among `nodes`.
fn latest<'a>(nodes: &'a [Value], node: &str) -> Option<&'a Value> {
    nodes.iter().rev().find(|n| id(n) == node)
}

/// Feed is ndjson ending with end (§6.13, §12.4).
async fn feed_is_ndjson_ending_with_end(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    let lines = feed(&api, &json!({})).await?;
    if let Some(first) = lines.first() {
        let mut shape = first.clone();
        shape["nodes"] = json!([]);
        ctx.record("first_line", &shape);
    }
    let all: Vec<&Value> = lines
        .iter()
        .flat_map(|l| l["nodes"].as_array().into_iter().flatten())
        .collect();
    // No checkpoint: the full state, which has this check's folder.
    ensure!(
        all.iter().any(|n| id(n) == folder),
        format!("the full feed to hold this check's folder {folder}"),
        "{} nodes without it",
        all.len()
    );
    Ok(())
}

/// Checkpoint shows later changes (§6.13).
async fn checkpoint_shows_later_changes(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(100)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let cp = checkpoint_now(&api).await?;
    let bytes = unique_bytes(&ctx, 100, 0);
    let file = id(&api.file(&parent, "news.txt", &bytes).await?);
    let nodes = nodes_after(&api, &cp, &json!({}), "the new file", |seen| {
        latest(seen, &file).is_some()
    })
    .await?;
    let node = latest(&nodes, &file).cloned().unwrap_or_default();
    ctx.record("changed_node", &node);
    ensure_eq!(node["status"].as_str(), Some("AVAILABLE"), "status");
    ensure_eq!(node["name"].as_str(), Some("news.txt"), "name");
    ensure_eq!(node["parents"].clone(), json!([parent]), "parents");
    ensure_eq!(
        node["contentProperties"]["md5"].as_str(),
        Some(crate::api::md5_hex(&bytes).as_str()),
        "contentProperties.md5"
    );
    Ok(())
}

/// Include purged as string is accepted (§6.13).
async fn include_purged_as_string_is_accepted(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let cp = checkpoint_now(&api).await?;
    let made = id(&api.folder(&parent, "after-checkpoint").await?);
    // Exactly rclone's body; the feed must hold the folder made after the
    // checkpoint, so the lines checked below are never an empty feed.
    let lines = ctx
        .settled(|| async {
            let lines = feed(&api, &json!({"checkpoint": cp, "includePurged": "true"})).await?;
            let ids: Vec<String> = lines
                .iter()
                .flat_map(|l| l["nodes"].as_array().cloned().unwrap_or_default())
                .map(|n| id(&n))
                .collect();
            ensure!(
                ids.contains(&made),
                "the folder made after the checkpoint in the feed",
                "{} lines, {} nodes, not it",
                lines.len(),
                ids.len()
            );
            Ok(lines)
        })
        .await?;
    // The feed is account-wide (other checks' changes show up): record its shape only.
    if let Some(first) = lines.first() {
        let mut shape = first.clone();
        shape["nodes"] = json!([]);
        ctx.record("after_checkpoint", &shape);
    }
    ensure!(
        lines.iter().all(|l| l["statusCode"] == json!(200)),
        "statusCode 200 on every line",
        "{}",
        short(&json!(lines).to_string())
    );
    Ok(())
}

/// Trashed node appears with status trash (§6.13, §6.11).
async fn trashed_node_appears_with_status_trash(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let folder = id(&api.folder(&parent, "to-bin").await?);
    let cp = checkpoint_now(&api).await?;
    api.trash(&folder).await.expect(200, "PUT trash/{id}")?;
    let nodes = nodes_after(&api, &cp, &json!({}), "the trashed folder", |seen| {
        latest(seen, &folder).is_some_and(|n| n["status"] == "TRASH")
    })
    .await?;
    let node = latest(&nodes, &folder).cloned().unwrap_or_default();
    ctx.record("trashed_node", &node);
    ensure_eq!(node["kind"].as_str(), Some("FOLDER"), "kind");
    ensure_eq!(node["name"].as_str(), Some("to-bin"), "name");
    Ok(())
}

/// Chunk size caps nodes per line (§6.13).
async fn chunk_size_caps_nodes_per_line(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let cp = checkpoint_now(&api).await?;
    let mut made = Vec::new();
    for name in ["c1", "c2", "c3"] {
        made.push(id(&api.folder(&parent, name).await?));
    }
    let deadline = Instant::now() + LISTING_DEADLINE;
    loop {
        let lines = feed(
            &api,
            &json!({"checkpoint": cp, "includePurged": "true", "chunkSize": 1}),
        )
        .await?;
        for line in &lines {
            let n = line["nodes"].as_array().map_or(0, Vec::len);
            ensure!(n <= 1, "at most chunkSize = 1 node per line", "{n} nodes");
        }
        let seen: Vec<String> = lines
            .iter()
            .flat_map(|l| l["nodes"].as_array().cloned().unwrap_or_default())
            .map(|n| id(&n))
            .collect();
        if made.iter().all(|m| seen.contains(m)) {
            ensure!(
                lines.len() >= 3,
                "one line per node",
                "{} lines for {} nodes with chunkSize 1",
                lines.len(),
                seen.len()
            );
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            format!("the three new folders {made:?} in the feed"),
            "{seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The checks of this area, in order.
pub(crate) fn checks() -> Vec<Check> {
    checks![
        feed_is_ndjson_ending_with_end("§6.13, §12.4", [Capability::Changes]),
        checkpoint_shows_later_changes("§6.13", [Capability::Changes]),
        include_purged_as_string_is_accepted("§6.13", [Capability::Changes]),
        trashed_node_appears_with_status_trash("§6.13, §6.11", [Capability::Changes]),
        chunk_size_caps_nodes_per_line("§6.13", [Capability::Changes]),
    ]
}
