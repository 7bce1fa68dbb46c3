//! Checks of the `case` area: names are unique among live siblings ignoring case, but stored
//! and listed with the case given (reference §8.9, §7.1, §6.4, §6.5, §6.8, §5.4).

use reqwest::Method;
use serde_json::{Value, json};

use crate::api::{Reply, id, short};
use crate::cases::filters::{exactly, lookup};
use crate::check::{Capability, Check, Failure};
use crate::context::Ctx;
use crate::{checks, ensure, ensure_eq};

/// Fail unless `reply` is the 409 NAME_ALREADY_EXISTS of §7.1 for `name` under `parent`,
/// naming `existing` as the conflicting node.
fn name_exists(
    reply: &Reply,
    name: &str,
    parent: &str,
    existing: &str,
    what: &str,
) -> Result<(), Failure> {
    reply.expect(409, what)?;
    let body = reply.json();
    ensure_eq!(body["code"].as_str(), Some("NAME_ALREADY_EXISTS"), "code");
    ensure_eq!(
        body["info"]["nodeId"].as_str(),
        Some(existing),
        "info.nodeId (the existing node)"
    );
    let message = body["message"].as_str().unwrap_or_default();
    let want = format!(
        "Node with the name {} already exists under parentId {parent} conflicting NodeId: {existing}",
        name.to_lowercase()
    );
    ensure_eq!(message, want.as_str(), "message (with the name lowercased)");
    Ok(())
}

/// PATCH a node's name; the raw reply.
async fn rename(ctx: &Ctx, node: &str, name: &str) -> Reply {
    let api = ctx.api();
    let request = api
        .request(Method::PATCH, api.meta(&format!("nodes/{node}")))
        .json(&json!({ "name": name }));
    api.send(request).await
}

/// The names listed in a folder.
async fn names(ctx: &Ctx, folder: &str) -> Result<Vec<String>, Failure> {
    let mut names: Vec<String> = ctx
        .api()
        .children(folder)
        .await?
        .iter()
        .map(|n| n["name"].as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    Ok(names)
}

/// Case variant folder is 409 (§8.9, §7.1, §6.4).
async fn case_variant_folder_is_409(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    let existing = api.folder(&folder, "Hello.DOC").await?;
    for variant in ["hello.doc", "HELLO.DOC", "Hello.DOC"] {
        let reply = api.create_folder(&folder, variant).await;
        ctx.record("conflict", &reply.json());
        name_exists(
            &reply,
            variant,
            &folder,
            &id(&existing),
            &format!("create folder {variant:?} next to \"Hello.DOC\""),
        )?;
    }
    // Non-ASCII letters fold too (the lowercased name in the message is Unicode).
    let existing = api.folder(&folder, "ÉCOLE").await?;
    let reply = api.create_folder(&folder, "école").await;
    name_exists(&reply, "école", &folder, &id(&existing), "create \"école\"")?;
    ctx.settled(|| async {
        ensure_eq!(
            names(&ctx, &folder).await?,
            vec!["Hello.DOC".to_string(), "ÉCOLE".to_string()],
            "the folder's names after the refusals"
        );
        Ok(())
    })
    .await?;
    Ok(())
}

/// Case variant upload and rename are 409 (§8.9, §7.1, §6.5, §6.8).
async fn case_variant_upload_and_rename_are_409(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    let bytes = ctx.data(24);
    ctx.budget(2 * bytes.len() as u64)?;
    let file = api.file(&folder, "IMG_2158.CR2", &bytes).await?;
    // An upload under the other case (rclone#289: "img_2158.cr2" in the message).
    let reply = api
        .upload(
            &folder,
            "img_2158.cr2",
            bytes.clone(),
            &[("suppress", "deduplication")],
        )
        .await;
    ctx.record("upload_conflict", &reply.json());
    name_exists(
        &reply,
        "img_2158.cr2",
        &folder,
        &id(&file),
        "upload img_2158.cr2",
    )?;
    // A folder cannot take a file's name in another case either.
    let reply = api.create_folder(&folder, "Img_2158.Cr2").await;
    name_exists(
        &reply,
        "Img_2158.Cr2",
        &folder,
        &id(&file),
        "create a folder",
    )?;
    // Renaming a sibling onto the name in another case.
    let other = api.folder(&folder, "other").await?;
    let reply = rename(&ctx, &id(&other), "IMG_2158.cr2").await;
    ctx.record("rename_conflict", &reply.json());
    name_exists(
        &reply,
        "IMG_2158.cr2",
        &folder,
        &id(&file),
        "rename onto it",
    )?;
    Ok(())
}

/// Names keep the case they were given: in the reply, by id and as listed (§8.9).
async fn case_preserved(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    let given = ["MiXeD.CaSe", "UPPER", "lower", "Ünïcödé"];
    for name in given {
        let node = api.folder(&folder, name).await?;
        ensure_eq!(node["name"].as_str(), Some(name), "name in the reply");
        let by_id = api.node(&id(&node)).await.ok_json("GET nodes/{id}")?;
        ensure_eq!(by_id["name"].as_str(), Some(name), "name by id");
    }
    let mut want: Vec<String> = given.iter().map(|s| s.to_string()).collect();
    want.sort();
    ctx.settled(|| async {
        ensure_eq!(names(&ctx, &folder).await?, want, "names as listed");
        Ok(())
    })
    .await?;
    // A rename that only changes the case is kept as given.
    let node = lookup(&api, &folder, "lower").await?;
    let node = node.first().map(id).unwrap_or_default();
    let reply = rename(&ctx, &node, "LoWeR").await;
    let renamed = reply.ok_json("rename lower to LoWeR")?;
    ctx.record("case_rename", &renamed);
    ensure_eq!(
        renamed["name"].as_str(),
        Some("LoWeR"),
        "name after the rename"
    );
    Ok(())
}

/// Exact case lookup finds it (§5.4, §6.3, §12.12).
async fn exact_case_lookup_finds_it(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    let node = api.folder(&folder, "Report Final.PDF").await?;
    let found = ctx
        .settled(|| async {
            let found = lookup(&api, &folder, "Report Final.PDF").await?;
            exactly(
                &found,
                &id(&node),
                "Report Final.PDF",
                "an exact-case lookup",
            )?;
            Ok(found)
        })
        .await?;
    ctx.record("exact", &Value::Array(found));
    // Another case: the service's behaviour is unverified (§5.4); whatever it is,
    // it may only ever find this node (§12.12: matching agrees with the 409 rule).
    let other = lookup(&api, &folder, "report final.pdf").await?;
    ctx.record("other_case", &Value::Array(other.clone()));
    ensure!(
        other.is_empty() || other.iter().all(|n| id(n) == id(&node)),
        "nothing, or this node, for another case",
        "{}",
        short(&Value::Array(other.clone()).to_string())
    );
    Ok(())
}

/// Name lookup is case sensitive on the mock (§5.4).
///
/// docs/mock-behaviour.md: `name:` matches exactly, case included (the weak
/// evidence of rclone#664), unless acd-mock runs with --case-insensitive-lookups.
async fn name_lookup_is_case_sensitive_on_the_mock(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    let node = api.folder(&folder, "CamelCase").await?;
    // Once the exact name is found, the other case is not.
    ctx.settled(|| async {
        let found = lookup(&api, &folder, "CamelCase").await?;
        exactly(&found, &id(&node), "CamelCase", "an exact-case lookup")
    })
    .await?;
    let other = lookup(&api, &folder, "camelcase").await?;
    ctx.record("other_case", &Value::Array(other.clone()));
    ensure!(
        other.is_empty(),
        "no match for another case (the mock's documented default)",
        "{} match(es)",
        other.len()
    );
    // And yet the name is taken: the lookup-then-409 sequence of rclone#664.
    let reply = api.create_folder(&folder, "camelcase").await;
    reply.expect(409, "create \"camelcase\" next to \"CamelCase\"")?;
    Ok(())
}

/// Same name in other folder is fine (§8.9, §6.4).
async fn same_name_in_other_folder_is_fine(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    let a = api.folder(&folder, "a").await?;
    let b = api.folder(&folder, "b").await?;
    let one = api.folder(&id(&a), "Shared").await?;
    let two = api.folder(&id(&b), "Shared").await?;
    let three = api.folder(&id(&b), "inner").await?;
    let four = api.folder(&id(&three), "SHARED").await?;
    let ids: std::collections::BTreeSet<String> =
        [id(&one), id(&two), id(&four)].into_iter().collect();
    ensure_eq!(ids.len(), 3, "distinct nodes named Shared/SHARED");
    let bytes = ctx.data(8);
    ctx.budget(bytes.len() as u64)?;
    api.file(&id(&a), "shared.txt", &bytes).await?;
    api.file(&id(&b), "SHARED.TXT", &bytes).await?;
    Ok(())
}

/// Trashed node does not block the name (§8.9, §11.3, §6.11).
async fn trashed_node_does_not_block_the_name(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    let old = api.folder(&folder, "Reused").await?;
    api.trash(&id(&old)).await.expect(200, "trash Reused")?;
    let same = api.create_folder(&folder, "Reused").await;
    ctx.record("same_name", &same.json());
    same.expect(201, "create \"Reused\" again after trashing it")?;
    let same = same.json();
    ensure!(id(&same) != id(&old), "a new node", "the old one back");
    api.trash(&id(&same)).await.expect(200, "trash it again")?;
    let other_case = api.create_folder(&folder, "REUSED").await;
    other_case.expect(201, "create \"REUSED\" after trashing \"Reused\"")?;
    ctx.settled(|| async {
        let live = names(&ctx, &folder).await?;
        ensure_eq!(live, vec!["REUSED".to_string()], "live names");
        Ok(())
    })
    .await?;
    Ok(())
}

/// The checks of this area, in order.
pub(crate) fn checks() -> Vec<Check> {
    checks![
        case_variant_folder_is_409("§8.9, §7.1, §6.4", [Capability::CaseInsensitive]),
        case_variant_upload_and_rename_are_409(
            "§8.9, §7.1, §6.5, §6.8",
            [Capability::CaseInsensitive]
        ),
        case_preserved("§8.9", [Capability::CaseInsensitive]),
        exact_case_lookup_finds_it("§5.4, §6.3, §12.12", [Capability::CaseInsensitive]),
        name_lookup_is_case_sensitive_on_the_mock(
            "§5.4",
            [Capability::CaseInsensitive, Capability::FaultInjection]
        ),
        same_name_in_other_folder_is_fine("§8.9, §6.4", [Capability::CaseInsensitive]),
        trashed_node_does_not_block_the_name("§8.9, §11.3, §6.11", [Capability::CaseInsensitive]),
    ]
}
