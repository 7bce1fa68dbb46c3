//! acd-client's metadata cache against the changes feed (reference §6.13).

use super::{Client, failed};
use crate::api::{id, md5_hex};
use crate::check::Failure;
use crate::context::Ctx;
use crate::{ensure, ensure_eq};

/// Cache follows the changes feed (§6.13).
///
/// The client's metadata cache, synced once, then changes made by another
/// client (the raw API): an incremental sync shows each, by id and by name.
pub(super) async fn cache_follows_the_changes_feed(ctx: Ctx) -> Result<(), Failure> {
    let folder = ctx.folder().await?;
    let client = Client::open_cached(&ctx).await?;
    let drive = client.ctx.remote.drive.clone();
    let cache =
        client.ctx.remote.cache.clone().ok_or_else(|| {
            Failure::new("acd-client opened with a cache dir has a cache", "none")
        })?;
    acd_client::cache::sync::sync(&drive, &cache, false)
        .await
        .map_err(failed("the first sync"))?;
    let before = cache
        .checkpoint()
        .map_err(failed("reading the checkpoint"))?;
    let made = ctx.api().folder(&folder, "made").await?;
    let bytes = ctx.data(2048);
    let file = ctx.api().file(&folder, "new.bin", &bytes).await?;
    let gone = ctx.api().file(&folder, "gone.bin", &ctx.data(64)).await?;
    ctx.api()
        .trash(&id(&gone))
        .await
        .ok_json("trash gone.bin")?;
    let stats = acd_client::cache::sync::sync(&drive, &cache, false)
        .await
        .map_err(failed("the incremental sync"))?;
    ensure!(
        stats.nodes >= 3,
        "the sync applied the changes",
        "{stats:?}"
    );
    let after = cache
        .checkpoint()
        .map_err(failed("reading the checkpoint"))?;
    ensure!(after != before, "the checkpoint moved", "{after:?}");
    let cached = |id: String| {
        cache
            .node(&id)
            .map_err(failed("reading the cache"))?
            .ok_or_else(|| Failure::new(format!("node {id} in the cache"), "missing"))
    };
    let new = cached(id(&file))?;
    ensure!(new.is_available(), "new.bin is AVAILABLE", "{}", new.status);
    ensure_eq!(new.md5(), Some(md5_hex(&bytes).as_str()), "md5 of new.bin");
    ensure!(
        cached(id(&made))?.is_folder(),
        "the new folder is a folder",
        "it is not"
    );
    let trashed = cached(id(&gone))?;
    ensure_eq!(trashed.status.as_str(), "TRASH", "status of gone.bin");
    let by_name = cache
        .child_named(&folder, "new.bin")
        .map_err(failed("a lookup in the cache"))?;
    ensure_eq!(
        by_name.map(|n| n.id),
        Some(id(&file)),
        "new.bin found by name"
    );
    Ok(())
}
