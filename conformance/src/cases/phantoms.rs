//! Phantom writes (reference §8.6): the service answered 408/500/504 after the whole body, yet
//! had the upload or overwrite in hand; the node turned up later, on the service's schedule,
//! first as `PENDING` (§4). And overwrites deduplicated like uploads (§6.6, §6.5). The phantom
//! checks need the mock's fault rules; the deduplication check runs against any target.

use std::time::Duration;

use tokio::time::Instant;

use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::api::{Api, Reply, id, md5_hex};
use crate::cases::folders::{get_node, unique_bytes, version_of};
use crate::check::{Capability, Check, Failure};
use crate::context::Ctx;
use crate::{checks, ensure, ensure_eq};

/// How long a phantom of these checks takes to appear, one delay per try: a check reads the
/// node before it is due, and a target whose throttling made that read come back after the due
/// time gives no verdict on the "before" state, so the check tries again with a longer delay.
const PHANTOM_DELAYS: [Duration; 3] = [
    Duration::from_millis(1500),
    Duration::from_secs(5),
    Duration::from_secs(15),
];

/// How long a check waits for a phantom to appear (the delay, a slow target's own lag, pacing).
const APPEAR_WITHIN: Duration = Duration::from_secs(30);

/// A phantom rule for `operation` scoped to this check, firing once, appearing `delay` after.
async fn phantom_rule(ctx: &Ctx, operation: &str, delay: Duration) -> Result<String, Failure> {
    ctx.fault(json!({
        "match": {"operation": operation},
        "action": {
            "kind": "phantom_upload",
            "status": 504,
            "delay_ms": u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        },
        "trigger": {"first": 1},
    }))
    .await
}

/// Send the request `make` builds once per try until the phantom `rule` has fired (a target's
/// own throttling or faults before the rule applied nothing); the reply of the try it fired on
/// and when that try was sent (the phantom is due no earlier than its delay after that).
async fn send_until_fired(
    ctx: &Ctx,
    api: &Api,
    rule: &str,
    mut make: impl FnMut() -> RequestBuilder,
) -> Result<(Reply, Instant), Failure> {
    for _ in 0..5 {
        let mut once = Some(make());
        let sent = Instant::now();
        let reply = api.transport.send_with(|| once.take()).await;
        if ctx.admin()?.fired(rule).await? > 0 {
            return Ok((reply, sent));
        }
        let wait = reply.retry_after().unwrap_or(Duration::from_secs(1));
        tokio::time::sleep(wait.min(Duration::from_secs(5))).await;
    }
    ctx.fired_at_least(rule, 1).await?;
    Err(Failure::new("the phantom rule to fire", "it never matched"))
}

/// A multipart upload of `bytes` named `name` into `parent`, with `metadata_extra` merged into
/// its metadata and deduplication suppressed.
fn upload_request(
    api: &Api,
    parent: &str,
    name: &str,
    bytes: &[u8],
    metadata_extra: &Value,
) -> RequestBuilder {
    let mut metadata = json!({"name": name, "kind": "FILE", "parents": [parent]});
    if let (Some(all), Some(extra)) = (metadata.as_object_mut(), metadata_extra.as_object()) {
        all.extend(extra.clone());
    }
    let form = reqwest::multipart::Form::new()
        .text("metadata", metadata.to_string())
        .part("content", part(bytes));
    api.request(Method::POST, api.content_url("nodes"))
        .query(&[("suppress", "deduplication")])
        .multipart(form)
}

/// A content part of `bytes`.
fn part(bytes: &[u8]) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("content")
}

/// Poll `GET nodes/{id}` until `done` says the node is as wanted, or fail after
/// [`APPEAR_WITHIN`] with the last node seen. Reads by id only: no search or listing, so
/// nothing but the phantom's own schedule can make it appear.
async fn node_until(
    api: &Api,
    node: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Result<Value, Failure> {
    let deadline = tokio::time::Instant::now() + APPEAR_WITHIN;
    loop {
        let seen = get_node(api, node).await?;
        if done(&seen) {
            return Ok(seen);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Failure::new(
                format!("{what} within {APPEAR_WITHIN:?}"),
                format!(
                    "status {} md5 {}",
                    seen["status"], seen["contentProperties"]["md5"]
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A phantom upload: 504, then the node is there by id as PENDING (found through its
/// `localId`, which the service had taken), turns AVAILABLE by itself, and a retry of the same
/// name after that is 409 naming it.
async fn phantom_upload_is_pending_then_appears_on_its_own(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    for (attempt, delay) in (0u8..).zip(PHANTOM_DELAYS) {
        let name = format!("late-{attempt}.bin");
        let bytes = unique_bytes(&ctx, 300, attempt);
        // Unique per run: a localId stays taken by the trashed phantoms of earlier runs.
        let local_id = format!(
            "{}-{}-phantom-{attempt}",
            ctx.target.run_folder_name,
            ctx.scope()
        );
        let rule = phantom_rule(&ctx, "upload", delay).await?;
        let extra = json!({"localId": local_id});
        let (reply, sent) = send_until_fired(&ctx, &api, &rule, || {
            upload_request(&api, &folder, &name, &bytes, &extra)
        })
        .await?;
        ensure_eq!(reply.status, 504, "the phantom upload's status");

        // The same localId again: 409 naming the phantom, which is PENDING by id.
        let again = api
            .transport
            .send_with(|| Some(upload_request(&api, &folder, "other.bin", &bytes, &extra)))
            .await;
        again.expect(409, "an upload with the phantom's localId")?;
        let phantom = again.json()["info"]["nodeId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        ensure!(
            !phantom.is_empty(),
            "info.nodeId in the 409",
            "{}",
            again.text()
        );
        let pending = get_node(&api, &phantom).await?;
        ensure_eq!(
            pending["name"].as_str(),
            Some(name.as_str()),
            "the phantom's name"
        );
        if sent.elapsed() >= delay {
            // Throttling held the reads past the due time: no verdict on "before"; try longer.
            continue;
        }
        ensure_eq!(
            pending["status"].as_str(),
            Some("PENDING"),
            "the phantom's status before it is due"
        );
        return appears_then_conflicts(&api, &folder, &name, &bytes, &phantom).await;
    }
    Err(too_slow_to_see_before_due())
}

/// The rest of the phantom upload check: the phantom turns AVAILABLE on its own schedule with
/// the content that was sent, and a retry of the upload then is a conflict naming it.
async fn appears_then_conflicts(
    api: &Api,
    folder: &str,
    name: &str,
    bytes: &[u8],
    phantom: &str,
) -> Result<(), Failure> {
    let md5 = md5_hex(bytes);
    let available = node_until(api, phantom, "the phantom AVAILABLE", |n| {
        n["status"].as_str() == Some("AVAILABLE")
    })
    .await?;
    ensure_eq!(
        available["contentProperties"]["md5"].as_str(),
        Some(md5.as_str()),
        "the phantom's md5"
    );

    // A retry of the upload now is a conflict with the node that appeared, not a duplicate.
    let retry = api
        .transport
        .send_with(|| Some(upload_request(api, folder, name, bytes, &json!({}))))
        .await;
    retry.expect(409, "a retry of the phantom upload after it appeared")?;
    ensure_eq!(
        retry.json()["info"]["nodeId"].as_str(),
        Some(phantom),
        "the 409's info.nodeId"
    );
    Ok(())
}

/// The failure of a phantom check whose every read came back after the phantom was due.
fn too_slow_to_see_before_due() -> Failure {
    Failure::new(
        "a read of the phantom before it is due",
        format!(
            "every try's read came back after its delay ({PHANTOM_DELAYS:?}): \
             the target throttled this check's calls too long to see the phantom pending"
        ),
    )
}

/// A phantom overwrite: 504, the node keeps its old content and version, then the new content
/// lands by itself and only then does the version go up.
async fn phantom_overwrite_lands_later_and_bumps_the_version_then(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    for (attempt, delay) in (0u8..).zip(PHANTOM_DELAYS) {
        let old = unique_bytes(&ctx, 400, 2 * attempt + 2);
        let new = unique_bytes(&ctx, 500, 2 * attempt + 3);
        let file = api
            .file(&folder, &format!("doc-{attempt}.bin"), &old)
            .await?;
        let file_id = id(&file);
        let before = version_of(&file)?;
        let rule = phantom_rule(&ctx, "overwrite", delay).await?;
        let (reply, sent) = send_until_fired(&ctx, &api, &rule, || {
            let form = reqwest::multipart::Form::new().part("content", part(&new));
            api.request(
                Method::PUT,
                api.content_url(&format!("nodes/{file_id}/content")),
            )
            .multipart(form)
        })
        .await?;
        ensure_eq!(reply.status, 504, "the phantom overwrite's status");

        let now = get_node(&api, &file_id).await?;
        if sent.elapsed() >= delay {
            // Throttling held the read past the due time: no verdict on "before"; try longer.
            continue;
        }
        let (old_md5, new_md5) = (md5_hex(&old), md5_hex(&new));
        ensure_eq!(
            now["contentProperties"]["md5"].as_str(),
            Some(old_md5.as_str()),
            "the md5 while the overwrite is pending"
        );
        ensure_eq!(
            version_of(&now)?,
            before,
            "the version while the overwrite is pending"
        );
        let landed = node_until(&api, &file_id, "the new content", |n| {
            n["contentProperties"]["md5"].as_str() == Some(new_md5.as_str())
        })
        .await?;
        ensure!(
            version_of(&landed)? > before,
            format!("the version above {before} once the content is in"),
            "{}",
            landed["version"]
        );
        let download = api.download(&file_id, None).await;
        download.expect(200, "download after the phantom overwrite")?;
        ensure_eq!(download.body.as_ref(), new.as_slice(), "the content");
        return Ok(());
    }
    Err(too_slow_to_see_before_due())
}

/// An overwrite with the content another file has is 409 `DUPLICATE_CONTENT` naming that
/// file, unless `suppress=deduplication` is sent.
async fn overwrite_with_known_content_is_deduplicated(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    let shared = unique_bytes(&ctx, 600, 4);
    let first = api.file(&folder, "first.bin", &shared).await?;
    let second = api
        .file(&folder, "second.bin", &unique_bytes(&ctx, 700, 5))
        .await?;
    let overwrite = |suppress: bool| {
        let form = reqwest::multipart::Form::new().part("content", part(&shared));
        let request = api.request(
            Method::PUT,
            api.content_url(&format!("nodes/{}/content", id(&second))),
        );
        let request = if suppress {
            request.query(&[("suppress", "deduplication")])
        } else {
            request
        };
        request.multipart(form)
    };
    // Sent again after a throttle or a 5xx: a 409 or an applied overwrite ends it either way.
    let refused = api.transport.send_with(|| Some(overwrite(false))).await;
    refused.expect(409, "an overwrite with another file's content")?;
    let body = refused.json();
    ensure_eq!(body["code"].as_str(), Some("DUPLICATE_CONTENT"), "code");
    ensure_eq!(
        body["info"]["nodeId"].as_str(),
        Some(id(&first).as_str()),
        "info.nodeId"
    );
    let done = api.transport.send_with(|| Some(overwrite(true))).await;
    let node = done.ok_json("the overwrite with suppress=deduplication")?;
    ensure_eq!(
        node["contentProperties"]["md5"].as_str(),
        Some(md5_hex(&shared).as_str()),
        "the md5 after the overwrite"
    );
    Ok(())
}

/// The checks of this area, in order.
pub(crate) fn checks() -> Vec<Check> {
    checks![
        phantom_upload_is_pending_then_appears_on_its_own(
            "§8.6, §8.5, §4, §6.5",
            [Capability::FaultInjection]
        ),
        phantom_overwrite_lands_later_and_bumps_the_version_then(
            "§8.6, §6.6",
            [Capability::FaultInjection]
        ),
        overwrite_with_known_content_is_deduplicated("§6.6, §6.5", []),
    ]
}
