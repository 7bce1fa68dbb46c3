//! Ranged downloads (reference §6.7).

use crate::api::{Api, id, md5_hex};
use crate::cases::folders::unique_bytes;
use crate::check::{Check, Failure};
use crate::context::Ctx;
use crate::{checks, ensure, ensure_eq};

/// The size of the file the range checks read.
const SIZE: usize = 10_000;

/// Upload the check's file of `len` bytes; its id and bytes.
async fn file(ctx: &Ctx, len: usize) -> Result<(String, Vec<u8>), Failure> {
    ctx.budget(len as u64)?;
    let parent = ctx.folder().await?;
    let bytes = unique_bytes(ctx, len, 0);
    let node = ctx.api().file(&parent, "ranged.bin", &bytes).await?;
    Ok((id(&node), bytes))
}

/// Fail unless `range` on `node` is 206 with `Content-Range: bytes a-b/size` and bytes `a..=b`.
async fn ensure_part(
    ctx: &Ctx,
    api: &Api,
    node: &str,
    bytes: &[u8],
    range: &str,
    (a, b): (usize, usize),
) -> Result<(), Failure> {
    let reply = api.download(node, Some(range)).await;
    reply.expect(206, &format!("Range: {range}"))?;
    ctx.record(
        "content_range",
        &serde_json::json!({"range": range, "contentRange": reply.header("content-range")}),
    );
    ensure_eq!(
        reply.header("content-range"),
        Some(format!("bytes {a}-{b}/{}", bytes.len())),
        format!("Content-Range for {range}")
    );
    let want = &bytes[a..=b];
    ensure!(
        reply.body.as_ref() == want,
        format!(
            "bytes {a}..={b} for {range}: {} bytes, md5 {}",
            want.len(),
            md5_hex(want)
        ),
        "{} bytes, md5 {}",
        reply.body.len(),
        md5_hex(&reply.body)
    );
    Ok(())
}

/// Fail unless `range` on `node` is 416 (and any Content-Range is `bytes */size`).
async fn ensure_unsatisfiable(
    api: &Api,
    node: &str,
    range: &str,
    size: usize,
) -> Result<(), Failure> {
    let reply = api.download(node, Some(range)).await;
    reply.expect(416, &format!("Range: {range} on a {size}-byte file"))?;
    if let Some(cr) = reply.header("content-range") {
        ensure_eq!(
            cr,
            format!("bytes */{size}"),
            format!("Content-Range of the 416 for {range}")
        );
    }
    Ok(())
}

/// Closed range is 206 (§6.7).
async fn closed_range_is_206(ctx: Ctx) -> Result<(), Failure> {
    let (node, bytes) = file(&ctx, SIZE).await?;
    let api = ctx.api();
    ensure_part(&ctx, &api, &node, &bytes, "bytes=100-199", (100, 199)).await?;
    ensure_part(&ctx, &api, &node, &bytes, "bytes=0-0", (0, 0)).await?;
    ensure_part(
        &ctx,
        &api,
        &node,
        &bytes,
        "bytes=9999-9999",
        (SIZE - 1, SIZE - 1),
    )
    .await?;
    ensure_part(&ctx, &api, &node, &bytes, "bytes=0-9999", (0, SIZE - 1)).await
}

/// An open-ended range (`bytes=9000-`, `bytes=0-`) is 206 with the rest of the file (§6.7).
async fn open_ended_range(ctx: Ctx) -> Result<(), Failure> {
    let (node, bytes) = file(&ctx, SIZE).await?;
    let api = ctx.api();
    ensure_part(&ctx, &api, &node, &bytes, "bytes=9000-", (9000, SIZE - 1)).await?;
    ensure_part(&ctx, &api, &node, &bytes, "bytes=0-", (0, SIZE - 1)).await
}

/// A suffix range (`bytes=-500`, `bytes=-1`) is 206 with the last bytes of the file (§6.7).
async fn suffix_range(ctx: Ctx) -> Result<(), Failure> {
    let (node, bytes) = file(&ctx, SIZE).await?;
    let api = ctx.api();
    ensure_part(
        &ctx,
        &api,
        &node,
        &bytes,
        "bytes=-500",
        (SIZE - 500, SIZE - 1),
    )
    .await?;
    ensure_part(&ctx, &api, &node, &bytes, "bytes=-1", (SIZE - 1, SIZE - 1)).await
}

/// End past the end is clipped (§6.7).
async fn end_past_the_end_is_clipped(ctx: Ctx) -> Result<(), Failure> {
    let (node, bytes) = file(&ctx, SIZE).await?;
    let api = ctx.api();
    ensure_part(
        &ctx,
        &api,
        &node,
        &bytes,
        "bytes=9990-20000",
        (9990, SIZE - 1),
    )
    .await
}

/// Start past the end is 416 (§6.7).
async fn start_past_the_end_is_416(ctx: Ctx) -> Result<(), Failure> {
    let (node, _) = file(&ctx, SIZE).await?;
    let api = ctx.api();
    let reply = api.download(&node, Some("bytes=10000-")).await;
    ctx.record("range_416", &reply.json());
    ensure_unsatisfiable(&api, &node, "bytes=10000-", SIZE).await?;
    ensure_unsatisfiable(&api, &node, "bytes=20000-20100", SIZE).await
}

/// Range on an empty file is 416 (§6.7, §8.13).
async fn range_on_an_empty_file_is_416(ctx: Ctx) -> Result<(), Failure> {
    let (node, _) = file(&ctx, 0).await?;
    let api = ctx.api();
    ensure_unsatisfiable(&api, &node, "bytes=0-", 0).await?;
    let whole = api.download(&node, None).await;
    whole.expect(200, "the whole empty file")?;
    ensure_eq!(whole.body.len(), 0, "bytes of the empty file");
    Ok(())
}

/// A download in 3000-byte ranges gets the whole file and then 416 past its end (§6.7).
///
/// acd_cli's chunked download: fixed ranges until 416 means EOF.
async fn chunked_download_ends_with_416(ctx: Ctx) -> Result<(), Failure> {
    const CHUNK: usize = 3_000;
    let (node, bytes) = file(&ctx, SIZE).await?;
    let api = ctx.api();
    let mut got = Vec::new();
    let mut rounds = 0;
    loop {
        rounds += 1;
        ensure!(
            rounds <= 10,
            "416 after the last chunk",
            "more than 10 chunks"
        );
        let start = got.len();
        let range = format!("bytes={start}-{}", start + CHUNK - 1);
        let reply = api.download(&node, Some(&range)).await;
        if reply.status == 416 {
            break;
        }
        reply.expect(206, &format!("Range: {range}"))?;
        ensure!(
            !reply.body.is_empty(),
            "bytes in a 206",
            "an empty body for {range}"
        );
        got.extend_from_slice(&reply.body);
    }
    ensure_eq!(got.len(), bytes.len(), "bytes read in chunks");
    ensure!(
        got == bytes,
        "the file's bytes",
        "different bytes (md5 {})",
        md5_hex(&got)
    );
    Ok(())
}

/// The checks of this area, in order.
pub(crate) fn checks() -> Vec<Check> {
    checks![
        closed_range_is_206("§6.7", []),
        open_ended_range("§6.7", []),
        suffix_range("§6.7", []),
        end_past_the_end_is_clipped("§6.7", []),
        start_past_the_end_is_416("§6.7", []),
        range_on_an_empty_file_is_416("§6.7, §8.13", []),
        chunked_download_ends_with_416("§6.7", []),
    ]
}
