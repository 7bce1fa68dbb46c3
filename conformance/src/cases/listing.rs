//! Checks of the `listing` area: paging, the list envelope, children and trash listings
//! (reference §5.1-5.3, §8.3, §12.2, §12.3).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::api::{Api, id, short};
use crate::check::{Capability, Check, Failure};
use crate::context::Ctx;
use crate::{checks, ensure, ensure_eq};

/// Make `n` child folders under a fresh folder; returns the folder and the child ids.
async fn tree(ctx: &Ctx, n: usize) -> Result<(String, BTreeSet<String>), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    let mut made = BTreeSet::new();
    for i in 0..n {
        let node = api.folder(&folder, &format!("child-{i:02}")).await?;
        made.insert(id(&node));
    }
    Ok((folder, made))
}

/// Wait until the folder's listing shows `want` children (eventual consistency, §8.8).
async fn settle(ctx: &Ctx, api: &Api, folder: &str, want: usize) -> Result<(), Failure> {
    ctx.settled(|| async {
        let seen = api.children(folder).await?.len();
        ensure!(seen >= want, format!("{want} children listed"), "{seen}");
        Ok(())
    })
    .await
}

/// One page: the envelope checked (§5.3, §12.2); returns it.
async fn page(api: &Api, path: &str, query: &[(&str, &str)]) -> Result<Value, Failure> {
    let page = api
        .get(path, query)
        .await
        .ok_json(&format!("GET {path} {query:?}"))?;
    ensure!(
        page["data"].is_array(),
        "data always an array (§12.2)",
        "{}",
        short(&page.to_string())
    );
    ensure!(
        page["count"].is_u64(),
        "count always present (§12.2)",
        "{}",
        short(&page.to_string())
    );
    if let Some(next) = page.get("nextToken") {
        ensure!(
            next.as_str().is_some_and(|t| !t.is_empty()),
            "nextToken a string, or left out (§5.3: not null)",
            "{next}"
        );
    }
    Ok(page)
}

/// Walk every page of `path` with `limit`, checking each page's envelope and size; returns the
/// ids in order and the number of pages.
async fn walk(
    api: &Api,
    path: &str,
    query: &[(&str, &str)],
    limit: usize,
) -> Result<(Vec<String>, usize), Failure> {
    let limit_text = limit.to_string();
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    for pages in 1..=1_000 {
        let mut q: Vec<(&str, &str)> = query.to_vec();
        q.push(("limit", &limit_text));
        if let Some(t) = &token {
            q.push(("startToken", t));
        }
        let page = page(api, path, &q).await?;
        let data = page["data"].as_array().cloned().unwrap_or_default();
        ensure!(
            data.len() <= limit,
            format!("at most limit={limit} nodes per page (§5.2)"),
            "{}",
            data.len()
        );
        ids.extend(data.iter().map(id));
        match page.get("nextToken").and_then(Value::as_str) {
            Some(t) => {
                ensure!(
                    !data.is_empty(),
                    "a page with a nextToken to hold nodes",
                    "an empty page with nextToken {t}"
                );
                token = Some(t.to_string());
            }
            None => return Ok((ids, pages)),
        }
    }
    Err(Failure::new("a listing that ends", "over 1,000 pages"))
}

/// Fail unless `ids` holds every id of `want` once and nothing else.
fn same_set(ids: &[String], want: &BTreeSet<String>, what: &str) -> Result<(), Failure> {
    let set: BTreeSet<String> = ids.iter().cloned().collect();
    ensure!(
        set.len() == ids.len(),
        format!("{what}: no node twice"),
        "{ids:?}"
    );
    ensure_eq!(set, want.clone(), what);
    Ok(())
}

/// Pages with limit (§5.2, §5.3).
async fn pages_with_limit(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let (folder, made) = tree(&ctx, 5).await?;
    settle(&ctx, &api, &folder, made.len()).await?;
    let filter = format!("parents:{folder}");
    let first = page(&api, "nodes", &[("filters", &filter), ("limit", "2")]).await?;
    ctx.record("first_page", &first);
    ensure_eq!(
        first["data"].as_array().map(Vec::len),
        Some(2),
        "nodes on the first page with limit=2"
    );
    ensure!(
        first["nextToken"].is_string(),
        "a nextToken on the first of three pages",
        "{}",
        short(&first.to_string())
    );
    let (ids, pages) = walk(&api, "nodes", &[("filters", &filter)], 2).await?;
    ensure_eq!(pages, 3, "pages of 2 for 5 nodes");
    same_set(&ids, &made, "the nodes over all pages")?;
    Ok(())
}

/// Last page has no next token (§5.3, §12.2).
async fn last_page_has_no_next_token(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let (folder, made) = tree(&ctx, 3).await?;
    settle(&ctx, &api, &folder, made.len()).await?;
    let filter = format!("parents:{folder}");
    // Exactly full: limit = number of nodes gives a single page, no nextToken.
    let full = page(&api, "nodes", &[("filters", &filter), ("limit", "3")]).await?;
    ctx.record("full_page", &full);
    ensure!(
        full.get("nextToken").is_none(),
        "no nextToken key on the last page (§5.3)",
        "{}",
        short(&full.to_string())
    );
    let ids: Vec<String> = full["data"]
        .as_array()
        .map(|d| d.iter().map(id).collect())
        .unwrap_or_default();
    same_set(&ids, &made, "one full page of all children")?;
    // With the default page size too (200 on the service; a mock may be smaller).
    let all = page(&api, "nodes", &[("filters", &filter)]).await?;
    if all["data"].as_array().map(Vec::len) == Some(made.len()) {
        ensure!(
            all.get("nextToken").is_none(),
            "no nextToken key on a single default page",
            "{}",
            short(&all.to_string())
        );
    }
    // Following the tokens ends on a page without the key.
    let (ids, _) = walk(&api, "nodes", &[("filters", &filter)], 1).await?;
    same_set(&ids, &made, "pages of one")?;
    Ok(())
}

/// Count on every page (§5.3, §12.2).
async fn count_on_every_page(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let (folder, made) = tree(&ctx, 3).await?;
    settle(&ctx, &api, &folder, made.len()).await?;
    let filter = format!("parents:{folder}");
    let mut token: Option<String> = None;
    loop {
        let mut q = vec![("filters", filter.as_str()), ("limit", "2")];
        if let Some(t) = &token {
            q.push(("startToken", t));
        }
        let p = page(&api, "nodes", &q).await?;
        let count = p["count"].as_u64().unwrap_or_default();
        let len = p["data"].as_array().map(Vec::len).unwrap_or_default() as u64;
        ensure!(
            count >= len,
            "count at least the page's length",
            "count {count} for {len} nodes"
        );
        // The mock documents count as the total over all pages (acd_cli's reading).
        if ctx.has(Capability::FaultInjection) {
            ensure_eq!(count, made.len() as u64, "count (the total, on the mock)");
        }
        match p.get("nextToken").and_then(Value::as_str) {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    Ok(())
}

/// Empty listing shape (§5.3, §12.2).
async fn empty_listing_shape(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    let search = page(&api, "nodes", &[("filters", &format!("parents:{folder}"))]).await?;
    ctx.record("empty_search", &search);
    ensure_eq!(search["data"].clone(), json!([]), "data of an empty search");
    ensure_eq!(
        search["count"].as_u64(),
        Some(0),
        "count of an empty search"
    );
    ensure!(
        search.get("nextToken").is_none(),
        "no nextToken on an empty listing",
        "{search}"
    );
    let children = page(&api, &format!("nodes/{folder}/children"), &[]).await?;
    ctx.record("empty_children", &children);
    ensure_eq!(
        children["data"].clone(),
        json!([]),
        "data of empty children"
    );
    ensure_eq!(
        children["count"].as_u64(),
        Some(0),
        "count of empty children"
    );
    Ok(())
}

/// Children endpoint pages (§5.1, §5.2).
async fn children_endpoint_pages(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let (folder, made) = tree(&ctx, 4).await?;
    settle(&ctx, &api, &folder, made.len()).await?;
    let path = format!("nodes/{folder}/children");
    let (ids, pages) = walk(&api, &path, &[], 3).await?;
    ensure_eq!(pages, 2, "pages of 3 for 4 children");
    same_set(&ids, &made, "nodes/{id}/children over all pages")?;
    // It takes filters too (acd_cli passes kind:FOLDER).
    let bytes = ctx.data(16);
    ctx.budget(bytes.len() as u64)?;
    let file = api.file(&folder, "f.bin", &bytes).await?;
    settle(&ctx, &api, &folder, made.len() + 1).await?;
    let (folders, _) = walk(&api, &path, &[("filters", "kind:FOLDER")], 200).await?;
    same_set(&folders, &made, "children with kind:FOLDER")?;
    let (files, _) = walk(&api, &path, &[("filters", "kind:FILE")], 200).await?;
    ensure_eq!(files, vec![id(&file)], "children with kind:FILE");
    Ok(())
}

/// Listed nodes carry required fields (§4, §12.3).
async fn listed_nodes_carry_required_fields(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    api.folder(&folder, "sub").await?;
    let bytes = ctx.data(8);
    ctx.budget(bytes.len() as u64)?;
    api.file(&folder, "file.txt", &bytes).await?;
    settle(&ctx, &api, &folder, 2).await?;
    let list = page(&api, "nodes", &[("filters", &format!("parents:{folder}"))]).await?;
    ctx.record("list", &list);
    for node in list["data"].as_array().cloned().unwrap_or_default() {
        for field in [
            "id",
            "name",
            "kind",
            "status",
            "createdDate",
            "modifiedDate",
        ] {
            ensure!(
                node[field].is_string(),
                format!("{field} on every listed node"),
                "{}",
                short(&node.to_string())
            );
        }
        ensure!(
            node["parents"]
                .as_array()
                .is_some_and(|p| p.iter().any(|x| x == folder.as_str())),
            "parents holding the listed folder",
            "{}",
            node["parents"]
        );
        if node["kind"] == "FILE" {
            ensure!(
                node["contentProperties"]["md5"].is_string()
                    && node["contentProperties"]["size"].is_u64(),
                "contentProperties.md5 and size on files",
                "{}",
                short(&node.to_string())
            );
        }
    }
    Ok(())
}

/// Restart after expired token lists everything (§5.3, §8.3).
///
/// The "Next token is expired" 400 is injected: a real cursor TTL is a global
/// setting of the mock (next_token_ttl_secs) that would expire the cursors of every
/// check running at the same time. The mock's own test covers the TTL
/// (mock-server/tests/faults.rs, next_tokens_expire_after_their_ttl). What this
/// checks of the target is the restart rclone does after it (§8.3).
async fn restart_after_expired_token_lists_everything(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let (folder, made) = tree(&ctx, 3).await?;
    settle(&ctx, &api, &folder, made.len()).await?;
    let filter = format!("parents:{folder}");
    let first = page(&api, "nodes", &[("filters", &filter), ("limit", "1")]).await?;
    let token = first["nextToken"].as_str().unwrap_or_default().to_string();
    ensure!(!token.is_empty(), "a nextToken on page 1 of 3", "{first}");
    let rule = ctx
        .fault(json!({
            "match": {"operation": "list"},
            "action": {"kind": "error", "error": "next_token_expired"},
            "trigger": {"first": 1},
        }))
        .await?;
    let q = [
        ("filters", filter.as_str()),
        ("limit", "1"),
        ("startToken", token.as_str()),
    ];
    let reply = api.get("nodes", &q).await;
    ctx.fired_at_least(&rule, 1).await?;
    reply.expect(400, "the injected \"Next token is expired\"")?;
    // A client restarts the listing from the top (§8.3): that works.
    let (ids, _) = walk(&api, "nodes", &[("filters", &filter)], 1).await?;
    same_set(&ids, &made, "the restarted listing")?;
    Ok(())
}

/// Garbage start token is 400 (§5.2, §7.2).
async fn garbage_start_token_is_400(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let folder = ctx.folder().await?;
    let filter = format!("parents:{folder}");
    let reply = api
        .get(
            "nodes",
            &[("filters", &filter), ("startToken", "not a token!")],
        )
        .await;
    ctx.record("garbage", &reply.json());
    reply.expect(400, "a search with a garbage startToken")?;
    ensure!(
        reply.json()["message"].is_string(),
        "a JSON error body with a message (§7.1)",
        "{}",
        short(&reply.text())
    );
    Ok(())
}

/// Trash list pages (§5.1, §6.11).
async fn trash_list_pages(ctx: Ctx) -> Result<(), Failure> {
    let api = ctx.api();
    let (_, made) = tree(&ctx, 3).await?;
    for node in &made {
        api.trash(node).await.expect(200, "trash a child")?;
    }
    // Paging by one: every page within the limit, the envelope intact.
    let mut token: Option<String> = None;
    for _ in 0..3 {
        let mut q = vec![("limit", "1")];
        if let Some(t) = &token {
            q.push(("startToken", t));
        }
        let p = page(&api, "trash", &q).await?;
        ctx.record_shape("trash_page", &p);
        let len = p["data"].as_array().map(Vec::len).unwrap_or_default();
        ensure!(len <= 1, "at most 1 node per trash page", "{len}");
        match p.get("nextToken").and_then(Value::as_str) {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    // Over all pages: every listed node is trashed, and ours are all there.
    ctx.settled(|| async {
        let (ids, _) = walk(&api, "trash", &[], 200).await?;
        let all = api.list_all("trash", &[]).await?;
        ensure!(
            all.iter().all(|n| n["status"] == "TRASH"),
            "only TRASH nodes in GET trash",
            "{}",
            all.iter()
                .filter(|n| n["status"] != "TRASH")
                .map(|n| short(&n.to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let set: BTreeSet<String> = ids.iter().cloned().collect();
        ensure!(
            set.len() == ids.len(),
            "no node twice in the trash",
            "{ids:?}"
        );
        ensure!(
            made.is_subset(&set),
            "the trashed nodes in GET trash",
            "missing {:?}",
            made.difference(&set).collect::<Vec<_>>()
        );
        Ok(())
    })
    .await
}

/// The checks of this area, in order.
pub(crate) fn checks() -> Vec<Check> {
    checks![
        pages_with_limit("§5.2, §5.3", []),
        last_page_has_no_next_token("§5.3, §12.2", []),
        count_on_every_page("§5.3, §12.2", []),
        empty_listing_shape("§5.3, §12.2", []),
        children_endpoint_pages("§5.1, §5.2", []),
        listed_nodes_carry_required_fields("§4, §12.3", []),
        restart_after_expired_token_lists_everything("§5.3, §8.3", [Capability::FaultInjection]),
        garbage_start_token_is_400("§5.2, §7.2", []),
        trash_list_pages("§5.1, §6.11", []),
    ]
}
