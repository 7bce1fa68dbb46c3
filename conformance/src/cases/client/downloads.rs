//! acd-client against failing downloads (reference §8.2, §6.7): a cut download resumes, a corrupt
//! one is never kept.

use serde_json::json;

use super::{Client, download_rule, failed, uploaded};
use crate::api::{id, md5_hex};
use crate::check::Failure;
use crate::context::Ctx;
use crate::{ensure, ensure_eq};

/// Resumes cut download (§8.2, §6.7).
pub(super) async fn resumes_cut_download(ctx: Ctx) -> Result<(), Failure> {
    let (_, node, bytes) = uploaded(&ctx, "resume.bin", 96 * 1024).await?;
    let client = Client::open(&ctx).await?;
    let rule = download_rule(&ctx, json!({"kind": "cut_body", "after_bytes": 40000})).await?;
    let got = client
        .ctx
        .remote
        .drive
        .node(&id(&node), false)
        .await
        .map_err(failed("GET node"))?;
    let dest = client.scratch.0.join("resume.bin");
    client
        .downloader(u64::MAX)
        .download(&got, &dest)
        .await
        .map_err(failed("a download cut once"))?;
    ctx.fired_at_least(&rule, 1).await?;
    let local =
        std::fs::read(&dest).map_err(|e| Failure::new("the downloaded file", e.to_string()))?;
    ensure_eq!(
        md5_hex(&local),
        md5_hex(&bytes),
        "md5 of the resumed download"
    );
    Ok(())
}

/// Never keeps a corrupt download (§8.2, §6.7).
pub(super) async fn never_keeps_a_corrupt_download(ctx: Ctx) -> Result<(), Failure> {
    let (_, node, _) = uploaded(&ctx, "bad.bin", 16 * 1024).await?;
    let client = Client::open(&ctx).await?;
    let rule = ctx
        .fault(json!({
            "match": {"operation": "download"},
            "action": {"kind": "corrupt_byte", "offset": 5000}
        }))
        .await?;
    let got = client
        .ctx
        .remote
        .drive
        .node(&id(&node), false)
        .await
        .map_err(failed("GET node"))?;
    let dest = client.scratch.0.join("bad.bin");
    let result = client.downloader(u64::MAX).download(&got, &dest).await;
    ctx.fired_at_least(&rule, 1).await?;
    ensure!(
        result.is_err(),
        "the download fails (every copy is corrupt)",
        "it succeeded"
    );
    ensure!(
        !dest.exists(),
        "no file left behind",
        "{} exists",
        dest.display()
    );
    let partial = acd_client::transfer::download::partial_path(&dest);
    ensure!(
        !partial.exists(),
        "no partial file left behind",
        "{} exists",
        partial.display()
    );
    Ok(())
}
