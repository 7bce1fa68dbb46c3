//! Checks of the `filters` area: the Lucene-like `filters` syntax of searches (reference §5.4,
//! §6.3, §12.11). Also holds the lookup helpers the `names` and `case` areas share.

use serde_json::Value;

use crate::api::{Api, id, short};
use crate::check::{Capability, Check, Failure};
use crate::context::Ctx;
use crate::{checks, ensure, ensure_eq};

/// The characters go-acd escapes with a backslash in filter values (§5.4).
pub(crate) const SPECIAL: &[char] = &[
    '+', '-', '&', '|', '!', '(', ')', '{', '}', '[', ']', '^', '\'', '"', '~', '*', '?', ':',
    '\\', ' ',
];

/// Escape a value as go-acd's `EscapeForFilter` does.
pub(crate) fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 2);
    for c in value.chars() {
        if SPECIAL.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One page of `GET nodes?filters=...`, failing unless it is a 2xx list.
pub(crate) async fn search_page(api: &Api, filter: &str) -> Result<Vec<Value>, Failure> {
    let list = api
        .get("nodes", &[("filters", filter)])
        .await
        .ok_json(&format!("search {filter:?}"))?;
    list["data"]
        .as_array()
        .cloned()
        .ok_or_else(|| Failure::new("a data array", short(&list.to_string())))
}

/// go-acd's name lookup: `parents:"P" AND name:"<escaped>"`, one page (§6.3).
pub(crate) async fn lookup(api: &Api, parent: &str, name: &str) -> Result<Vec<Value>, Failure> {
    search_page(
        api,
        &format!("parents:\"{parent}\" AND name:\"{}\"", escape(name)),
    )
    .await
}

/// The C# client's lookup: `parents:P AND name:<escaped>` unquoted (§5.4).
pub(crate) async fn lookup_bare(
    api: &Api,
    parent: &str,
    name: &str,
) -> Result<Vec<Value>, Failure> {
    search_page(api, &format!("parents:{parent} AND name:{}", escape(name))).await
}

/// Fail unless `found` is exactly the node `want` (by id), named `name`.
pub(crate) fn exactly(found: &[Value], want: &str, name: &str, how: &str) -> Result<(), Failure> {
    let ids: Vec<String> = found.iter().map(id).collect();
    ensure!(
        ids == [want.to_string()],
        format!("{how} of {name:?} finds exactly node {want}"),
        "{ids:?}"
    );
    ensure_eq!(
        found[0]["name"].as_str(),
        Some(name),
        "name of the found node"
    );
    Ok(())
}

/// Names, one per special character, plus decoys a wrong parser would match.
fn special_names() -> Vec<String> {
    SPECIAL.iter().map(|c| format!("x{c}y")).collect()
}

/// Make `x<c>y` folders for every special character and the decoys `x`, `y`, `xy`, `xzy`,
/// `x y z`; returns the folder and `(name, id)` pairs of the special names.
async fn special_tree(ctx: &Ctx) -> Result<(String, Vec<(String, String)>), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    for decoy in ["x", "y", "xy", "xzy", "x y z", "x\\\\y"] {
        api.folder(&folder, decoy).await?;
    }
    let mut made = Vec::new();
    for name in special_names() {
        let node = api.folder(&folder, &name).await?;
        made.push((name, id(&node)));
    }
    Ok((folder, made))
}

/// Create a folder holding one file and one subfolder; returns (folder, file id, subfolder id).
async fn mixed(ctx: &Ctx) -> Result<(String, String, String), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    let bytes = ctx.data(32);
    ctx.budget(bytes.len() as u64)?;
    let file = api.file(&folder, "a-file.txt", &bytes).await?;
    let sub = api.folder(&folder, "a-folder").await?;
    Ok((folder, id(&file), id(&sub)))
}

/// The ids of a list of nodes.
fn ids(nodes: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = nodes.iter().map(id).collect();
    v.sort();
    v
}

/// Escaped quoted names find exactly one (§5.4, §6.3).
async fn escaped_quoted_names_find_exactly_one(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let (folder, made) = special_tree(&ctx).await?;
    ctx.settled(|| async {
        for (name, node) in &made {
            let found = lookup(&api, &folder, name).await?;
            exactly(&found, node, name, "a quoted, escaped lookup")?;
        }
        Ok(())
    })
    .await?;
    // go-acd's own example: name:"my\ file\ \(1\).txt".
    let node = api.folder(&folder, "my file (1).txt").await?;
    let found = ctx
        .settled(|| async {
            let found = search_page(
                &api,
                &format!("parents:\"{folder}\" AND name:\"my\\ file\\ \\(1\\).txt\""),
            )
            .await?;
            exactly(
                &found,
                &id(&node),
                "my file (1).txt",
                "go-acd's example lookup",
            )?;
            Ok(found)
        })
        .await?;
    ctx.record("go_acd_example", &Value::Array(found));
    Ok(())
}

/// Escaped bare names find exactly one (§5.4).
async fn escaped_bare_names_find_exactly_one(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let (folder, made) = special_tree(&ctx).await?;
    ctx.settled(|| async {
        for (name, node) in &made {
            let found = lookup_bare(&api, &folder, name).await?;
            exactly(&found, node, name, "a bare, escaped lookup")?;
        }
        Ok(())
    })
    .await?;
    Ok(())
}

/// Kind with parents (§5.4, §9).
async fn kind_with_parents(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let (folder, file, sub) = mixed(&ctx).await?;
    let mut both = vec![file.clone(), sub.clone()];
    both.sort();
    let all = ctx
        .settled(|| async {
            let all = api
                .list_all("nodes", &[("filters", &format!("parents:{folder}"))])
                .await?;
            ensure_eq!(ids(&all), both, "children of parents:<id>");
            Ok(all)
        })
        .await?;
    ctx.record("parents", &Value::Array(all));
    let files = api
        .list_all(
            "nodes",
            &[("filters", &format!("parents:{folder} AND kind:FILE"))],
        )
        .await?;
    ensure_eq!(
        ids(&files),
        vec![file.clone()],
        "parents:<id> AND kind:FILE"
    );
    ensure_eq!(files[0]["kind"].as_str(), Some("FILE"), "kind");
    let folders = api
        .list_all(
            "nodes",
            &[("filters", &format!("parents:{folder} AND kind:FOLDER"))],
        )
        .await?;
    ensure_eq!(
        ids(&folders),
        vec![sub.clone()],
        "parents:<id> AND kind:FOLDER"
    );
    ensure_eq!(folders[0]["kind"].as_str(), Some("FOLDER"), "kind");
    // The order of the terms does not matter.
    let swapped = api
        .list_all(
            "nodes",
            &[("filters", &format!("kind:FILE AND parents:\"{folder}\""))],
        )
        .await?;
    ensure_eq!(ids(&swapped), vec![file], "kind:FILE AND parents:\"<id>\"");
    Ok(())
}

/// Bare ids with dash are values (§5.4, §12.11).
async fn bare_ids_with_dash_are_values(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    let child = api.folder(&folder, "child").await?;
    // rclone sends the id unescaped and unquoted.
    ctx.settled(|| async {
        let found = search_page(&api, &format!("parents:{folder}")).await?;
        ensure_eq!(ids(&found), vec![id(&child)], "parents:<id> bare");
        Ok(())
    })
    .await?;
    // An id may begin with '-': right after "field:" it is part of the value, not a
    // NOT. No node has this id, so the search is valid and empty.
    let dash = "-AbCdEfGhIjKlMnOpQrStU";
    let reply = api
        .get("nodes", &[("filters", &format!("parents:{dash}"))])
        .await;
    ctx.record("dash_id", &reply.json());
    let list = reply.ok_json("search parents:-<id>")?;
    ensure!(
        list["data"].as_array().is_some_and(Vec::is_empty),
        "no nodes under an unknown id starting with '-'",
        "{}",
        short(&list.to_string())
    );
    let reply = api
        .get(
            "nodes",
            &[("filters", &format!("parents:{dash} AND kind:FOLDER"))],
        )
        .await;
    reply.ok_json("search parents:-<id> AND kind:FOLDER")?;
    // Ids may also hold '_' and '-' anywhere: the folder's own id works bare in any
    // position of a conjunction.
    let found = search_page(
        &api,
        &format!("kind:FOLDER AND parents:{folder} AND name:child"),
    )
    .await?;
    ensure_eq!(ids(&found), vec![id(&child)], "a three-term conjunction");
    Ok(())
}

/// Md5 finds the file (§5.4).
async fn md5_finds_the_file(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    // Seeded bytes plus a random tail: no other live file has this content.
    let mut bytes = ctx.data(48);
    bytes.extend_from_slice(&rand::random::<u128>().to_le_bytes());
    ctx.budget(bytes.len() as u64)?;
    let file = api.file(&folder, "by-md5.bin", &bytes).await?;
    let md5 = crate::api::md5_hex(&bytes);
    let found = ctx
        .settled(|| async {
            let found = api
                .list_all(
                    "nodes",
                    &[("filters", &format!("contentProperties.md5:{md5}"))],
                )
                .await?;
            ensure_eq!(ids(&found), vec![id(&file)], "contentProperties.md5:<hex>");
            Ok(found)
        })
        .await?;
    ctx.record("md5", &Value::Array(found));
    let other = format!("{:032x}", rand::random::<u128>());
    let none = search_page(&api, &format!("contentProperties.md5:{other}")).await?;
    ensure!(none.is_empty(), "no file with a random md5", "{none:?}");
    Ok(())
}

/// Is root alone (§5.4, §6.1).
async fn is_root_alone(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let found = search_page(&api, "isRoot:true").await?;
    ctx.record("is_root", &Value::Array(found.clone()));
    ensure_eq!(found.len(), 1, "nodes matching isRoot:true");
    ensure_eq!(found[0]["isRoot"].as_bool(), Some(true), "isRoot");
    let root = api.root().await?;
    ensure_eq!(id(&found[0]), id(&root), "the root's id");
    Ok(())
}

/// Trashed need a status term (§5.4).
async fn trashed_need_a_status_term(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let (folder, file, sub) = mixed(&ctx).await?;
    api.trash(&file).await.expect(200, "trash the file")?;
    let trashed = ctx
        .settled(|| async {
            let live = search_page(&api, &format!("parents:{folder}")).await?;
            ensure_eq!(
                ids(&live),
                vec![sub.clone()],
                "live children after trashing"
            );
            let trashed = api
                .list_all(
                    "nodes",
                    &[(
                        "filters",
                        &format!("status:TRASH AND kind:FILE AND parents:{folder}"),
                    )],
                )
                .await?;
            ensure_eq!(
                ids(&trashed),
                vec![file.clone()],
                "status:TRASH AND kind:FILE"
            );
            Ok(trashed)
        })
        .await?;
    ctx.record("trashed", &Value::Array(trashed.clone()));
    ensure_eq!(trashed[0]["status"].as_str(), Some("TRASH"), "status");
    let folders = search_page(
        &api,
        &format!("status:TRASH AND kind:FOLDER AND parents:{folder}"),
    )
    .await?;
    ensure!(
        folders.is_empty(),
        "no trashed folders",
        "{}",
        ids(&folders).join(",")
    );
    Ok(())
}

/// Unknown field is 400 (§5.4, §7.2).
///
/// The service's answer to an unknown field is not recorded: the mock documents
/// 400 (docs/mock-behaviour.md), so only mocks are held to it.
async fn unknown_field_is_400(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let reply = api
        .get("nodes", &[("filters", "colour:blue AND kind:FILE")])
        .await;
    ctx.record("unknown_field", &reply.json());
    reply.expect(400, "search on an unknown field")?;
    ensure!(
        reply.json()["message"].is_string(),
        "a JSON error body with a message (§7.1)",
        "{}",
        short(&reply.text())
    );
    let reply = api
        .get("nodes", &[("filters", "kind:(FILE OR FOLDER)")])
        .await;
    reply.expect(
        400,
        "kind:(FILE OR FOLDER), which the service did not honour",
    )?;
    Ok(())
}

/// The checks of this area, in order.
pub(crate) fn checks() -> Vec<Check> {
    checks![
        escaped_quoted_names_find_exactly_one("§5.4, §6.3", []),
        escaped_bare_names_find_exactly_one("§5.4", []),
        kind_with_parents("§5.4, §9", []),
        bare_ids_with_dash_are_values("§5.4, §12.11", []),
        md5_finds_the_file("§5.4", []),
        is_root_alone("§5.4, §6.1", []),
        trashed_need_a_status_term("§5.4", []),
        unknown_field_is_400("§5.4, §7.2", [Capability::FaultInjection]),
    ]
}
