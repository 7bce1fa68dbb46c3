//! Overwriting a file's content (reference §6.6).

use crate::api::id;
use crate::cases::folders::{MISSING_ID, get_node, parents_of, unique_bytes, version_of};
use crate::cases::transfer::{EMPTY_MD5, ensure_content, ensure_download};
use crate::check::{Check, Failure};
use crate::context::Ctx;
use crate::{checks, ensure, ensure_eq};

/// Overwrite replaces content and bumps version (§6.6, §4).
async fn overwrite_replaces_content_and_bumps_version(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(1000 + 2500)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let old = unique_bytes(&ctx, 1000, 1);
    let new = unique_bytes(&ctx, 2500, 2);
    let node = api.file(&parent, "doc.txt", &old).await?;
    let reply = api.overwrite(&id(&node), new.clone()).await;
    ctx.record("overwrite", &reply.json());
    reply.expect(200, "PUT nodes/{id}/content")?;
    let after = reply.json();
    ensure_eq!(id(&after), id(&node), "the id after an overwrite");
    ensure_eq!(
        after["name"].as_str(),
        Some("doc.txt"),
        "the name after an overwrite"
    );
    ensure_eq!(
        parents_of(&after),
        vec![parent.clone()],
        "the parents after an overwrite"
    );
    ensure!(
        version_of(&after)? > version_of(&node)?,
        format!("version above {}", node["version"]),
        "{}",
        after["version"]
    );
    let (v0, v1) = (
        node["contentProperties"]["version"].as_u64(),
        after["contentProperties"]["version"].as_u64(),
    );
    ensure!(
        matches!((v0, v1), (Some(a), Some(b)) if b > a),
        "contentProperties.version to go up",
        "{v0:?} then {v1:?}"
    );
    ensure_content(&after, &new, "the overwrite reply")?;
    ensure_content(&get_node(&api, &id(&node)).await?, &new, "GET nodes/{id}")?;
    ensure_download(&api, &id(&node), &new).await
}

/// An overwrite with empty content (acd_cli's clear_file) is 200 with size 0 and the empty md5
/// (§6.6, §8.13).
async fn overwrite_with_empty_content(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(500)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let node = api
        .file(&parent, "cleared.bin", &unique_bytes(&ctx, 500, 0))
        .await?;
    // acd_cli's clear_file: an empty content part with a Content-Length body.
    let reply = api.overwrite(&id(&node), Vec::new()).await;
    reply.expect(200, "an empty overwrite")?;
    let after = reply.json();
    ensure_eq!(after["contentProperties"]["size"].as_u64(), Some(0), "size");
    ensure_eq!(
        after["contentProperties"]["md5"].as_str(),
        Some(EMPTY_MD5),
        "md5"
    );
    ensure_download(&api, &id(&node), &[]).await
}

/// Overwrite of a folder is refused (§6.6, §7.2).
async fn overwrite_of_a_folder_is_refused(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(10)?;
    let api = ctx.api();
    let parent = ctx.folder().await?;
    let folder = api.folder(&parent, "not-a-file").await?;
    let reply = api.overwrite(&id(&folder), unique_bytes(&ctx, 10, 0)).await;
    ctx.record("overwrite_folder", &reply.json());
    ensure!(
        (400..500).contains(&reply.status),
        "a 4xx refusal to give a folder content",
        "HTTP {}: {}",
        reply.status,
        reply.text()
    );
    let again = get_node(&api, &id(&folder)).await?;
    ensure_eq!(again["kind"].as_str(), Some("FOLDER"), "kind afterwards");
    ensure!(
        again.get("contentProperties").is_none(),
        "no contentProperties on the folder afterwards",
        "{}",
        again["contentProperties"]
    );
    Ok(())
}

/// Overwrite of a missing node is 404 (§6.6, §7.2).
async fn overwrite_of_a_missing_node_is_404(ctx: Ctx) -> Result<(), Failure> {
    ctx.budget(10)?;
    let api = ctx.api();
    let reply = api.overwrite(MISSING_ID, unique_bytes(&ctx, 10, 0)).await;
    ctx.record("overwrite_missing", &reply.json());
    reply.expect(404, "PUT nodes/{missing}/content")?;
    Ok(())
}

/// The checks of this area, in order.
pub(crate) fn checks() -> Vec<Check> {
    checks![
        overwrite_replaces_content_and_bumps_version("§6.6, §4", []),
        overwrite_with_empty_content("§6.6, §8.13", []),
        overwrite_of_a_folder_is_refused("§6.6, §7.2", []),
        overwrite_of_a_missing_node_is_404("§6.6, §7.2", []),
    ]
}
