//! Checks of the `names` area: the server stores names as given, including what rclone's
//! encoder sends, and refuses only the few names no path can hold (reference §8.10, §6.4,
//! §6.5).

use crate::api::{id, short};
use crate::cases::filters::{exactly, lookup};
use crate::check::{Capability, Check, Failure};
use crate::context::Ctx;
use crate::{checks, ensure, ensure_eq};

/// Create a folder named `name` in `parent`, then check that the reply, `GET nodes/{id}`, the
/// folder's listing and a name lookup all give the name back byte for byte.
async fn round_trip(ctx: &Ctx, parent: &str, name: &str) -> Result<String, Failure> {
    let api = ctx.api();
    let node = api.folder(parent, name).await?;
    ensure_eq!(
        node["name"].as_str(),
        Some(name),
        "name in the create reply"
    );
    let node_id = id(&node);
    let by_id = api.node(&node_id).await.ok_json("GET nodes/{id}")?;
    ensure_eq!(
        by_id["name"].as_str(),
        Some(name),
        "name from GET nodes/{id}"
    );
    ctx.settled(|| async {
        let listed = api.children(parent).await?;
        ensure!(
            listed
                .iter()
                .any(|n| n["id"] == node_id.as_str() && n["name"] == name),
            format!("{name:?} listed under its parent"),
            "{}",
            short(
                &listed
                    .iter()
                    .map(|n| n["name"].to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        );
        let found = lookup(&api, parent, name).await?;
        exactly(&found, &node_id, name, "a lookup")
    })
    .await?;
    Ok(node_id)
}

/// Fail unless creating a folder called `name` is refused with 400 and a JSON message.
async fn refused(ctx: &Ctx, parent: &str, name: &str) -> Result<(), Failure> {
    let reply = ctx.api().create_folder(parent, name).await;
    ctx.record("refused", &reply.json());
    reply.expect(400, &format!("create a folder named {name:?}"))?;
    ensure!(
        reply.json()["message"].is_string(),
        "a JSON error body with a message (§7.1)",
        "{}",
        short(&reply.text())
    );
    Ok(())
}

/// Control characters round trip (§8.10).
async fn control_characters_round_trip(ctx: Ctx) -> Result<(), Failure> {
    let folder = ctx.folder().await?;
    // Every C0 control except NUL, and DEL, across a few names.
    let c0: String = (1u8..0x20).map(char::from).collect();
    for name in [
        format!("c0-{c0}-end"),
        "tab\tand\nnewline\r".to_string(),
        "del\u{7f}x".to_string(),
        "c1\u{85}\u{9f}x".to_string(),
    ] {
        round_trip(&ctx, &folder, &name).await?;
    }
    Ok(())
}

/// Spaces and dots kept (§8.10).
async fn spaces_and_dots_kept(ctx: Ctx) -> Result<(), Failure> {
    let folder = ctx.folder().await?;
    for name in [
        " leading space",
        "trailing space ",
        "  ",
        ".hidden",
        "trailing.",
        "...",
        ". .",
        " . ",
        "a..b",
    ] {
        round_trip(&ctx, &folder, name).await?;
    }
    // "name" and "name " are different names, not one trimmed name.
    let api = ctx.api();
    let a = api.folder(&folder, "same").await?;
    let b = api.folder(&folder, "same ").await?;
    ensure!(id(&a) != id(&b), "two nodes", "one node {}", id(&a));
    Ok(())
}

/// Long names round trip (§8.10).
async fn long_names_round_trip(ctx: Ctx) -> Result<(), Failure> {
    let folder = ctx.folder().await?;
    // No length limit is documented: 255 and 300 ASCII characters, and 255
    // two-byte characters (510 bytes).
    for name in ["a".repeat(255), "b".repeat(300), "é".repeat(255)] {
        round_trip(&ctx, &folder, &name).await?;
    }
    Ok(())
}

/// Unicode forms are distinct (§8.10).
///
/// The server stores names as given and does not normalise: café in NFC
/// (U+00E9) and in NFD (e + U+0301) are two names (as they were for rclone,
/// which does not normalise either).
async fn unicode_forms_are_distinct(ctx: Ctx) -> Result<(), Failure> {
    let folder = ctx.folder().await?;
    let nfc = "caf\u{e9}";
    let nfd = "cafe\u{301}";
    let a = round_trip(&ctx, &folder, nfc).await?;
    let b = round_trip(&ctx, &folder, nfd).await?;
    ensure!(a != b, "two nodes for NFC and NFD", "one node {a}");
    for name in [
        "日本語のファイル",
        "emoji 😀🎉",
        "\u{202e}rtl",
        "zero\u{200b}width",
    ] {
        round_trip(&ctx, &folder, name).await?;
    }
    Ok(())
}

/// Rclone encoded names round trip (§8.10).
///
/// What rclone's default encoder (Slash, InvalidUtf8, Dot) sends for '/', NUL,
/// '.', '..', invalid bytes, and a pre-existing '‛'.
async fn rclone_encoded_names_round_trip(ctx: Ctx) -> Result<(), Failure> {
    let folder = ctx.folder().await?;
    for name in [
        "a\u{ff0f}b",
        "\u{ff0e}",
        "\u{ff0e}\u{ff0e}",
        "nul\u{2400}x",
        "bad\u{201b}FF\u{201b}FE",
        "\u{201b}\u{201b}",
        "\u{201b}\u{ff0f}",
    ] {
        round_trip(&ctx, &folder, name).await?;
    }
    Ok(())
}

/// Uploaded names round trip (§8.10, §6.5).
///
/// The name of a file comes from the metadata part (not the content part's
/// filename) and is kept as given too.
async fn uploaded_names_round_trip(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    for (i, name) in [
        "Fichier \u{e9}t\u{e9} (1).TXT",
        " x\u{1}y. ",
        "a\u{ff0f}b\u{ff0e}",
    ]
    .into_iter()
    .enumerate()
    {
        let mut bytes = ctx.data(16);
        bytes.push(u8::try_from(i).unwrap_or_default());
        ctx.budget(bytes.len() as u64)?;
        let node = api.file(&folder, name, &bytes).await?;
        ensure_eq!(node["name"].as_str(), Some(name), "name of the upload");
        ctx.settled(|| async {
            let found = lookup(&api, &folder, name).await?;
            exactly(&found, &id(&node), name, "a lookup of the upload")
        })
        .await?;
    }
    Ok(())
}

/// Dot names refused (§8.10, §7.2).
async fn dot_names_refused(ctx: Ctx) -> Result<(), Failure> {
    let folder = ctx.folder().await?;
    refused(&ctx, &folder, ".").await?;
    refused(&ctx, &folder, "..").await?;
    Ok(())
}

/// Slash and nul refused (§8.10, §7.2).
async fn slash_and_nul_refused(ctx: Ctx) -> Result<(), Failure> {
    let folder = ctx.folder().await?;
    refused(&ctx, &folder, "a/b").await?;
    refused(&ctx, &folder, "/").await?;
    refused(&ctx, &folder, "nul\u{0}x").await?;
    let api = ctx.api();
    ensure!(
        api.children(&folder).await?.is_empty(),
        "nothing created by refused names",
        "children in the folder"
    );
    Ok(())
}

/// Empty name refused (§8.10, §7.2).
///
/// Not recorded for the service; the mock documents 400 (docs/mock-behaviour.md).
async fn empty_name_refused(ctx: Ctx) -> Result<(), Failure> {
    let folder = ctx.folder().await?;
    refused(&ctx, &folder, "").await?;
    Ok(())
}

/// The checks of this area, in order.
pub(crate) fn checks() -> Vec<Check> {
    checks![
        control_characters_round_trip("§8.10", []),
        spaces_and_dots_kept("§8.10", []),
        long_names_round_trip("§8.10", []),
        unicode_forms_are_distinct("§8.10", []),
        rclone_encoded_names_round_trip("§8.10", []),
        uploaded_names_round_trip("§8.10, §6.5", []),
        dot_names_refused("§8.10, §7.2", []),
        slash_and_nul_refused("§8.10, §7.2", []),
        empty_name_refused("§8.10, §7.2", [Capability::FaultInjection]),
    ]
}
