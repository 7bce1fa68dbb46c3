//! Writes whose answer failed after they took effect (reference §8.2, §8.6): the service
//! answered 500/502/504 or dropped the connection although the write was applied, so a client
//! must look before it sends the write again. For every write operation, a call that the mock
//! commits and then fails (`when = "after_commit"`) is visible afterwards.

use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::api::{Api, id};
use crate::cases::folders::{get_node, parents_of, send_empty, unique_bytes};
use crate::check::{Capability, Check, Failure};
use crate::context::Ctx;
use crate::{checks, ensure, ensure_eq};

/// The app name properties are set under in these checks.
const OWNER: &str = "acdConformance";

/// The write `op` of this area's check, as a request (sent exactly once).
fn write_request(api: &Api, op: &str, folder: &str, other: &str, file: &str) -> RequestBuilder {
    let json = |method: Method, path: &str, body: Value| {
        api.request(method, api.meta(path))
            .body(body.to_string())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
    };
    let empty = |method: Method, path: &str| {
        api.request(method, api.meta(path))
            .header(reqwest::header::CONTENT_LENGTH, "0")
    };
    let part = |bytes: &[u8]| {
        reqwest::multipart::Part::bytes(bytes.to_vec())
            .file_name("content")
            .mime_str("application/octet-stream")
            .unwrap_or_else(|_| reqwest::multipart::Part::bytes(Vec::new()))
    };
    match op {
        "create_folder" => json(
            Method::POST,
            "nodes",
            json!({"name": "made", "kind": "FOLDER", "parents": [folder]}),
        ),
        "upload" => {
            let metadata = json!({"name": "up.txt", "kind": "FILE", "parents": [folder]});
            let form = reqwest::multipart::Form::new()
                .text("metadata", metadata.to_string())
                .part("content", part(b"uploaded once"));
            api.request(Method::POST, api.content_url("nodes"))
                .query(&[("suppress", "deduplication")])
                .multipart(form)
        }
        "overwrite" => {
            let form = reqwest::multipart::Form::new().part("content", part(b"overwritten once"));
            api.request(
                Method::PUT,
                api.content_url(&format!("nodes/{file}/content")),
            )
            .multipart(form)
        }
        "patch" => json(
            Method::PATCH,
            &format!("nodes/{file}"),
            json!({"name": "renamed.txt"}),
        ),
        "move" => json(
            Method::POST,
            &format!("nodes/{other}/children"),
            json!({"fromParent": folder, "childId": file}),
        ),
        "add_parent" => empty(Method::PUT, &format!("nodes/{other}/children/{file}")),
        "remove_parent" => empty(Method::DELETE, &format!("nodes/{other}/children/{file}")),
        "trash" => empty(Method::PUT, &format!("trash/{file}")),
        "restore" => empty(Method::POST, &format!("trash/{file}/restore")),
        _ => json(
            Method::PUT,
            &format!("nodes/{file}/properties/{OWNER}/color"),
            json!({"value": "blue"}),
        ),
    }
}

/// Commit-then-fail `op` once, then check that its effect is there.
async fn committed_then_failed(ctx: Ctx, op: &'static str) -> Result<(), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    let other = id(&api.folder(&folder, "other").await?);
    let file = id(&api
        .file(&folder, "f.txt", &unique_bytes(&ctx, 40, 0))
        .await?);
    // The state each write starts from.
    match op {
        "restore" => {
            api.trash(&file).await.expect(200, "trash before restore")?;
        }
        "remove_parent" => {
            send_empty(&api, Method::PUT, &format!("nodes/{other}/children/{file}"))
                .await
                .expect(200, "add a parent before removing it")?;
        }
        _ => {}
    }
    let rule = ctx
        .fault(json!({
            "match": {"operation": op},
            "action": {"kind": "error", "error": "gateway_timeout"},
            "when": "after_commit",
            "trigger": {"first": 1},
        }))
        .await?;
    // Sent once per try: a throttle or a failure before the rule was reached (a realistic
    // target's own faults) applied nothing, so only then is it sent again.
    let mut tries = 0;
    let reply = loop {
        tries += 1;
        let mut once = Some(write_request(&api, op, &folder, &other, &file));
        let reply = api.transport.send_with(|| once.take()).await;
        if reply.status == 504 || tries >= 5 || ctx.admin()?.fired(&rule).await? > 0 {
            break reply;
        }
        let wait = reply
            .retry_after()
            .unwrap_or(std::time::Duration::from_secs(1));
        tokio::time::sleep(wait.min(std::time::Duration::from_secs(5))).await;
    };
    ensure_eq!(
        reply.status,
        504,
        format!("{op}: the committed call's status")
    );
    ctx.fired_at_least(&rule, 1).await?;

    // The write took effect although its answer was a 504.
    let node = get_node(&api, &file).await?;
    match op {
        "create_folder" | "upload" => {
            let name = if op == "upload" { "up.txt" } else { "made" };
            let count = ctx
                .settled(|| async {
                    let n = api
                        .children(&folder)
                        .await?
                        .iter()
                        .filter(|c| c["name"].as_str() == Some(name))
                        .count();
                    ensure!(n >= 1, format!("{name} listed in the folder"), "{n} listed");
                    Ok(n)
                })
                .await?;
            ensure_eq!(count, 1, format!("nodes named {name}"));
        }
        "overwrite" => {
            let reply = api.download(&file, None).await;
            reply.expect(200, "download after the overwrite")?;
            ensure_eq!(reply.body.as_ref(), b"overwritten once", "content");
        }
        "patch" => ensure_eq!(node["name"].as_str(), Some("renamed.txt"), "name"),
        "move" => ensure_eq!(parents_of(&node), vec![other.clone()], "parents"),
        "add_parent" => {
            let mut both = vec![folder.clone(), other.clone()];
            both.sort();
            ensure_eq!(parents_of(&node), both, "parents");
        }
        "remove_parent" => ensure_eq!(parents_of(&node), vec![folder.clone()], "parents"),
        "trash" => ensure_eq!(node["status"].as_str(), Some("TRASH"), "status"),
        "restore" => ensure_eq!(node["status"].as_str(), Some("AVAILABLE"), "status"),
        _ => {
            let reply = api
                .get(&format!("nodes/{file}/properties/{OWNER}"), &[])
                .await;
            let props = reply.ok_json("read the properties")?;
            ensure_eq!(props["data"]["color"].as_str(), Some("blue"), "property");
        }
    }
    Ok(())
}

/// Create folder committed then 504 is visible (§8.2, §8.6).
async fn create_folder_committed_then_504_is_visible(ctx: Ctx) -> Result<(), Failure> {
    committed_then_failed(ctx, "create_folder").await
}

/// Upload committed then 504 is visible (§8.2, §8.6).
async fn upload_committed_then_504_is_visible(ctx: Ctx) -> Result<(), Failure> {
    committed_then_failed(ctx, "upload").await
}

/// Overwrite committed then 504 is visible (§8.2, §8.6).
async fn overwrite_committed_then_504_is_visible(ctx: Ctx) -> Result<(), Failure> {
    committed_then_failed(ctx, "overwrite").await
}

/// Rename committed then 504 is visible (§8.2, §8.6, §6.8).
async fn rename_committed_then_504_is_visible(ctx: Ctx) -> Result<(), Failure> {
    committed_then_failed(ctx, "patch").await
}

/// Move committed then 504 is visible (§8.2, §8.6, §6.9).
async fn move_committed_then_504_is_visible(ctx: Ctx) -> Result<(), Failure> {
    committed_then_failed(ctx, "move").await
}

/// Add parent committed then 504 is visible (§8.2, §8.6, §6.10).
async fn add_parent_committed_then_504_is_visible(ctx: Ctx) -> Result<(), Failure> {
    committed_then_failed(ctx, "add_parent").await
}

/// Remove parent committed then 504 is visible (§8.2, §8.6, §6.10).
async fn remove_parent_committed_then_504_is_visible(ctx: Ctx) -> Result<(), Failure> {
    committed_then_failed(ctx, "remove_parent").await
}

/// Trash committed then 504 is visible (§8.2, §8.6).
async fn trash_committed_then_504_is_visible(ctx: Ctx) -> Result<(), Failure> {
    committed_then_failed(ctx, "trash").await
}

/// Restore committed then 504 is visible (§8.2, §8.6).
async fn restore_committed_then_504_is_visible(ctx: Ctx) -> Result<(), Failure> {
    committed_then_failed(ctx, "restore").await
}

/// Properties committed then 504 is visible (§8.2, §8.6).
async fn properties_committed_then_504_is_visible(ctx: Ctx) -> Result<(), Failure> {
    committed_then_failed(ctx, "properties").await
}

/// The checks of this area, in order.
pub(crate) fn checks() -> Vec<Check> {
    checks![
        create_folder_committed_then_504_is_visible("§8.2, §8.6", [Capability::FaultInjection]),
        upload_committed_then_504_is_visible("§8.2, §8.6", [Capability::FaultInjection]),
        overwrite_committed_then_504_is_visible("§8.2, §8.6", [Capability::FaultInjection]),
        rename_committed_then_504_is_visible("§8.2, §8.6, §6.8", [Capability::FaultInjection]),
        move_committed_then_504_is_visible("§8.2, §8.6, §6.9", [Capability::FaultInjection]),
        add_parent_committed_then_504_is_visible("§8.2, §8.6, §6.10", [Capability::FaultInjection]),
        remove_parent_committed_then_504_is_visible(
            "§8.2, §8.6, §6.10",
            [Capability::FaultInjection]
        ),
        trash_committed_then_504_is_visible("§8.2, §8.6", [Capability::FaultInjection]),
        restore_committed_then_504_is_visible("§8.2, §8.6", [Capability::FaultInjection]),
        properties_committed_then_504_is_visible("§8.2, §8.6", [Capability::FaultInjection]),
    ]
}
