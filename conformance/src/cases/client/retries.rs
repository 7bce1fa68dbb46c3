//! acd-client against throttling, server errors, lost listing pages and expired tokens (reference
//! §8.1-§8.4): it backs off, retries, restarts and refreshes.

use std::time::Duration;

use acd_client::ops::sync::{Mode, upload_tree};
use acd_client::paths::RemotePath;
use serde_json::{Value, json};

use super::{Client, REMOTE, exactly_one, failed, named, uploaded};
use crate::api::{id, md5_hex};
use crate::check::Failure;
use crate::context::Ctx;
use crate::{ensure, ensure_eq};

/// Backs off on 429 (§8.1, §8.2).
pub(super) async fn backs_off_on_429(ctx: Ctx) -> Result<(), Failure> {
    let folder = ctx.folder().await?;
    ctx.budget(8192)?;
    let client = Client::open(&ctx).await?;
    let bytes = ctx.data(8192);
    let path = client.write("throttled.bin", &bytes)?;
    // Three 429s asking for 2 s each. The client's own back-off draws here are
    // below 1 s, 2 s and 2 s (its max_sleep), so only honouring Retry-After spaces
    // every attempt 2 s apart.
    let rule = ctx
        .fault(json!({
            "match": {"operation": "upload"},
            "action": {"kind": "error", "error": "rate_exceeded", "retry_after": 2},
            "trigger": {"first": 3}
        }))
        .await?;
    // The journal's position now: earlier runs against the same mock used the
    // same scope.
    let before = ctx
        .admin()?
        .call(reqwest::Method::GET, "journal?limit=1", None)
        .await?["entries"][0]["seq"]
        .as_u64()
        .unwrap_or(0);
    let node = client
        .upload(&folder, "throttled.bin", &path, Duration::from_secs(1))
        .await?;
    ensure_eq!(ctx.fired_at_least(&rule, 3).await?, 3, "429s answered");
    ensure_eq!(
        node.md5(),
        Some(md5_hex(&bytes).as_str()),
        "md5 of the upload"
    );
    // The mock's journal: when each attempt arrived and what it got (no timing
    // of our own, so a slow machine cannot make this pass or fail).
    let journal = ctx
        .admin()?
        .call(
            reqwest::Method::GET,
            "journal?operation=upload&limit=10000",
            None,
        )
        .await?;
    // (status, arrival, whether our rule answered it), oldest first.
    type Attempt = (u16, chrono::DateTime<chrono::FixedOffset>, bool);
    let attempts: Vec<Attempt> = journal["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|e| e["seq"].as_u64().is_some_and(|seq| seq > before))
        .filter(|e| e["scope"].as_str() == Some(ctx.scope().as_str()))
        .filter_map(|e| {
            let status = u16::try_from(e["status"].as_u64()?).ok()?;
            let time = chrono::DateTime::parse_from_rfc3339(e["time"].as_str()?).ok()?;
            Some((status, time, e["fault"].as_str() == Some(rule.as_str())))
        })
        .collect();
    // Every attempt but the last was refused (ours, and any 429 of a rate limit
    // the target enforces), the last succeeded: the client retried each refusal.
    let statuses: Vec<u16> = attempts.iter().map(|(s, _, _)| *s).collect();
    ensure!(
        statuses.last() == Some(&201)
            && statuses[..statuses.len() - 1].iter().all(|s| *s == 429)
            && attempts.iter().filter(|(_, _, ours)| *ours).count() == 3,
        "the mock saw our three 429s (and only 429s) retried, then a 201",
        "{statuses:?}"
    );
    for pair in attempts.windows(2).filter(|p| p[0].2) {
        let gap = pair[1].1 - pair[0].1;
        ensure!(
            gap >= chrono::TimeDelta::seconds(2),
            "each retry at least Retry-After (2 s) after the 429",
            "a retry {} ms after it",
            gap.num_milliseconds()
        );
    }
    exactly_one(&ctx, &folder, "throttled.bin", &md5_hex(&bytes)).await?;
    Ok(())
}

/// Retries 5xx (§8.2).
pub(super) async fn retries_5xx(ctx: Ctx) -> Result<(), Failure> {
    let (folder, node, _) = uploaded(&ctx, "five.bin", 1024).await?;
    // Listed first (§8.8), so the client's listing below must show it.
    crate::cases::folders::wait_listed(&ctx, &ctx.api(), &folder, &id(&node), true).await?;
    let client = Client::open(&ctx).await?;
    let on_list = ctx
        .fault(json!({
            "match": {"operation": "list"},
            "action": {"kind": "error", "error": "internal_failure"},
            "trigger": {"first": 2}
        }))
        .await?;
    let drive = &client.ctx.remote.drive;
    let children = drive.children(&folder).await.map_err(failed("a listing"))?;
    ensure_eq!(
        ctx.fired_at_least(&on_list, 2).await?,
        2,
        "500s on the listing"
    );
    ensure_eq!(
        children.iter().map(|n| n.id.clone()).collect::<Vec<_>>(),
        vec![id(&node)],
        "the listing after two 500s"
    );
    let on_get = ctx
        .fault(json!({
            "match": {"operation": "get_node"},
            "action": {"kind": "error", "error": "service_unavailable"},
            "trigger": {"first": 1}
        }))
        .await?;
    let on_get2 = ctx
        .fault(json!({
            "match": {"operation": "get_node"},
            "action": {"kind": "error", "error": "gateway_timeout"},
            "trigger": {"first": 1}
        }))
        .await?;
    let got = drive
        .node(&id(&node), false)
        .await
        .map_err(failed("GET node"))?;
    ctx.fired_at_least(&on_get, 1).await?;
    ctx.fired_at_least(&on_get2, 1).await?;
    ensure_eq!(got.id, id(&node), "the node after a 503 and a 504");
    Ok(())
}

/// Restarts listing after lost page (§8.3).
///
/// More than one default page (200), so the listing has a second page.
pub(super) async fn restarts_listing_after_lost_page(ctx: Ctx) -> Result<(), Failure> {
    let folder = ctx.folder().await?;
    let files: Vec<Value> = (0..230)
        .map(|i| json!({"name": format!("f{i:03}.txt"), "content": format!("{i}")}))
        .collect();
    ctx.admin()?.seed(&folder, Value::Array(files)).await?;
    let client = Client::open(&ctx).await?;
    // The first listing request passes (a no-op latency rule takes it); the next
    // one, page 2, is the lost page.
    let pass = ctx
        .fault(json!({
            "match": {"operation": "list"},
            "action": {"kind": "latency", "ms": 0},
            "trigger": {"first": 1}
        }))
        .await?;
    let lost = ctx
        .fault(json!({
            "match": {"operation": "list"},
            "action": {"kind": "lost_page"},
            "trigger": {"first": 1}
        }))
        .await?;
    let children = client
        .ctx
        .remote
        .drive
        .children(&folder)
        .await
        .map_err(failed("a listing with a lost page"))?;
    ctx.fired_at_least(&pass, 1).await?;
    ctx.fired_at_least(&lost, 1).await?;
    let mut names: Vec<String> = children.iter().map(|n| n.name().to_string()).collect();
    names.sort();
    names.dedup();
    ensure_eq!(names.len(), 230, "distinct files the client listed");
    ensure_eq!(children.len(), 230, "files the client listed");
    Ok(())
}

/// Refreshes expired token (§8.4, §1.4).
pub(super) async fn refreshes_expired_token(ctx: Ctx) -> Result<(), Failure> {
    let folder = ctx.folder().await?;
    ctx.budget(4 * 2048)?;
    let client = Client::open(&ctx).await?;
    let local = client.scratch.0.join("tree");
    let mut want = Vec::new();
    for i in 0..4usize {
        let bytes = ctx.data(2048 + i);
        client.write(&format!("tree/t{i}.bin"), &bytes)?;
        want.push((format!("t{i}.bin"), md5_hex(&bytes)));
    }
    // The session is running (endpoints discovered); now its token dies.
    client
        .ctx
        .remote
        .drive
        .children(&folder)
        .await
        .map_err(failed("a listing"))?;
    ctx.admin()?.expire(&client.access_token).await?;
    let dst = RemotePath {
        remote: REMOTE.into(),
        parts: vec![
            ctx.target.run_folder_name.clone(),
            ctx.scope(),
            "tree".into(),
        ],
    };
    let report = upload_tree(&client.ctx, &local, &dst, Mode::Copy)
        .await
        .map_err(failed("copying a tree after the token expired"))?;
    ensure!(
        report.failures.is_empty(),
        "a clean copy",
        "{:?}",
        report.failures
    );
    ensure!(
        client.ctx.remote.drive.auth().refresh_count() >= 1,
        "the client refreshed its token",
        "no refresh"
    );
    let tree = ctx
        .settled(|| async {
            let tree = named(&ctx, &folder, "tree").await?;
            ensure_eq!(tree.len(), 1, "folders called tree");
            Ok(tree)
        })
        .await?;
    for (name, md5) in want {
        exactly_one(&ctx, &id(&tree[0]), &name, &md5).await?;
    }
    Ok(())
}
