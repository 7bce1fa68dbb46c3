//! acd-client against phantom writes (reference §8.6, §8.8): an upload answered with an error that
//! took effect anyway, found again instead of sent twice.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{Client, exactly_one};
use crate::api::{id, md5_hex};
use crate::check::Failure;
use crate::context::Ctx;
use crate::{ensure, ensure_eq};

/// Recovers phantom upload (§8.6).
pub(super) async fn recovers_phantom_upload(ctx: Ctx) -> Result<(), Failure> {
    let folder = ctx.folder().await?;
    ctx.budget(64 * 1024)?;
    let client = Client::open(&ctx).await?;
    let bytes = ctx.data(64 * 1024);
    let path = client.write("ghost.bin", &bytes)?;
    let rule = ctx
        .fault(json!({
            "match": {"operation": "upload"},
            "action": {"kind": "phantom_upload", "status": 504, "after_lookups": 2},
            "trigger": {"first": 1}
        }))
        .await?;
    let node = client
        .upload(&folder, "ghost.bin", &path, Duration::from_secs(10))
        .await?;
    ensure_eq!(
        ctx.fired_at_least(&rule, 1).await?,
        1,
        "phantom faults fired"
    );
    let one = exactly_one(&ctx, &folder, "ghost.bin", &md5_hex(&bytes)).await?;
    ensure_eq!(node.id, id(&one), "the node the client returned");
    ensure!(
        client.ctx.remote.drive.pacer().retries() >= 1,
        "the phantom wait counted as a retry",
        "no retry"
    );
    Ok(())
}

/// Waits for late phantom (§8.6, §8.8).
///
/// A 408 after the whole body; the node reaches listings 400 ms later.
pub(super) async fn waits_for_late_phantom(ctx: Ctx) -> Result<(), Failure> {
    let folder = ctx.folder().await?;
    ctx.budget(32 * 1024)?;
    let client = Client::open(&ctx).await?;
    let bytes = ctx.data(32 * 1024);
    let path = client.write("late.bin", &bytes)?;
    let rule = ctx
        .fault(json!({
            "match": {"operation": "upload"},
            "action": {"kind": "phantom_upload", "status": 408, "delay_ms": 400},
            "trigger": {"first": 1}
        }))
        .await?;
    let started = Instant::now();
    let node = client
        .upload(&folder, "late.bin", &path, Duration::from_secs(10))
        .await?;
    ctx.fired_at_least(&rule, 1).await?;
    ensure!(
        started.elapsed() >= Duration::from_millis(400),
        "the client waited for the node to appear",
        "it returned after {:?}",
        started.elapsed()
    );
    let one = exactly_one(&ctx, &folder, "late.bin", &md5_hex(&bytes)).await?;
    ensure_eq!(node.id, id(&one), "the node the client returned");
    Ok(())
}
