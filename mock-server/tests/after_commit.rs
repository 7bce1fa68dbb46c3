//! `when = "after_commit"` fault rules (issue 13; reference §8.2, §8.6): the write is applied to
//! the store, then the rule's failure is served. For every write operation the change is
//! visible afterwards although the caller saw an error, and the journal records both the
//! commit and the fault. A rule asking for it on a read is refused with 400 naming `when`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Ctx, Part, id_of, multipart_body};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Adds one rule; must answer 201.
async fn add_rule(ctx: &Ctx, rule: Value) {
    ctx.add_faults(&rule).await;
}

/// The latest journal entry of one operation.
async fn last_entry(ctx: &Ctx, operation: &str) -> Value {
    ctx.journal_of(operation)
        .await
        .pop()
        .unwrap_or_else(|| panic!("no {operation} entry in the journal"))
}

/// The latest journal entry of one operation that a fault fired on.
async fn last_faulted(ctx: &Ctx, operation: &str) -> Value {
    ctx.journal_of(operation)
        .await
        .into_iter()
        .rev()
        .find(|e| e.get("fault").is_some())
        .unwrap_or_else(|| panic!("no faulted {operation} entry in the journal"))
}

/// Sends a request and returns its status (0 when the connection was dropped or the body cut).
async fn status_of(request: reqwest::RequestBuilder) -> u16 {
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            match response.bytes().await {
                Ok(_) => status,
                Err(_) => 0,
            }
        }
        Err(_) => 0,
    }
}

/// The parents of a node as the store has it now.
async fn parents(ctx: &Ctx, id: &str) -> Vec<String> {
    let (status, node) = ctx.get(&ctx.m(&format!("nodes/{id}"))).await;
    assert_eq!(status, StatusCode::OK, "{node}");
    let mut parents: Vec<String> = node["parents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    parents.sort();
    parents
}

async fn node(ctx: &Ctx, id: &str) -> Value {
    let (status, node) = ctx.get(&ctx.m(&format!("nodes/{id}"))).await;
    assert_eq!(status, StatusCode::OK, "{node}");
    node
}

#[tokio::test]
async fn every_write_is_applied_then_failed() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let a = id_of(&ctx.mkdir(&root, "a").await);
    let b = id_of(&ctx.mkdir(&root, "b").await);
    let file = id_of(&ctx.upload_file(&a, "f.txt", b"one").await);
    let gone = id_of(&ctx.upload_file(&a, "gone.txt", b"gone").await);
    let (status, _) = ctx.trash(&gone).await;
    assert_eq!(status, StatusCode::OK);

    // Each write operation, with a different failure, in its own scope.
    let actions = [
        json!({"kind": "error", "error": "internal_failure"}),
        json!({"kind": "error", "error": "gateway_timeout"}),
        json!({"kind": "error", "error": "bad_gateway"}),
        json!({"kind": "reset"}),
        json!({"kind": "cut_body", "after_bytes": 5}),
        json!({"kind": "stall", "ms": 10}),
        json!({"kind": "status", "status": 500}),
    ];
    let operations = [
        "create_folder",
        "upload",
        "overwrite",
        "patch",
        "move",
        "add_parent",
        "remove_parent",
        "trash",
        "restore",
        "properties",
    ];
    for (i, op) in operations.iter().enumerate() {
        add_rule(
            &ctx,
            json!({"id": format!("ac-{op}"), "scope": op, "match": {"operation": op},
                   "action": actions[i % actions.len()], "when": "after_commit"}),
        )
        .await;
    }
    let scoped = |op: &str, method: Method, url: String| {
        ctx.req(method, &url)
            .header("x-acd-mock-scope", op.to_string())
    };
    let failed = |status: u16| status == 0 || status >= 500;

    // create_folder: the folder exists.
    let s = status_of(
        scoped("create_folder", Method::POST, ctx.m("nodes"))
            .body(json!({"name": "made", "kind": "FOLDER", "parents": [root]}).to_string()),
    )
    .await;
    assert!(failed(s), "create_folder answered {s}");
    assert_eq!(
        ctx.lookup(&root, "made").await["count"],
        1,
        "create_folder was applied"
    );

    // upload: the file exists with its bytes.
    let body = multipart_body(
        &[
            Part::metadata(&common::file_metadata("up.txt", &a)),
            Part::content(b"uploaded"),
        ],
        b"",
    );
    let s = status_of(
        scoped("upload", Method::POST, ctx.c("nodes"))
            .header("Content-Type", common::multipart_type())
            .body(body),
    )
    .await;
    assert!(failed(s), "upload answered {s}");
    let up = ctx.lookup(&a, "up.txt").await;
    assert_eq!(up["count"], 1, "upload was applied");
    assert_eq!(ctx.download(&id_of(&up["data"][0])).await, b"uploaded");

    // overwrite: the new bytes are served.
    let body = multipart_body(&[Part::content(b"two!")], b"");
    let s = status_of(
        scoped(
            "overwrite",
            Method::PUT,
            ctx.c(&format!("nodes/{file}/content")),
        )
        .header("Content-Type", common::multipart_type())
        .body(body),
    )
    .await;
    assert!(failed(s), "overwrite answered {s}");
    assert_eq!(ctx.download(&file).await, b"two!", "overwrite was applied");

    // patch: renamed.
    let s = status_of(
        scoped("patch", Method::PATCH, ctx.m(&format!("nodes/{file}")))
            .body(json!({"name": "g.txt"}).to_string()),
    )
    .await;
    assert!(failed(s), "patch answered {s}");
    assert_eq!(
        node(&ctx, &file).await["name"],
        "g.txt",
        "patch was applied"
    );

    // move: from a to b.
    let s = status_of(
        scoped("move", Method::POST, ctx.m(&format!("nodes/{b}/children")))
            .body(json!({"fromParent": a, "childId": file}).to_string()),
    )
    .await;
    assert!(failed(s), "move answered {s}");
    assert_eq!(
        parents(&ctx, &file).await,
        vec![b.clone()],
        "move was applied"
    );

    // add_parent: a again.
    let s = status_of(scoped(
        "add_parent",
        Method::PUT,
        ctx.m(&format!("nodes/{a}/children/{file}")),
    ))
    .await;
    assert!(failed(s), "add_parent answered {s}");
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    assert_eq!(parents(&ctx, &file).await, both, "add_parent was applied");

    // remove_parent: b.
    let s = status_of(scoped(
        "remove_parent",
        Method::DELETE,
        ctx.m(&format!("nodes/{b}/children/{file}")),
    ))
    .await;
    assert!(failed(s), "remove_parent answered {s}");
    assert_eq!(
        parents(&ctx, &file).await,
        vec![a.clone()],
        "remove_parent was applied"
    );

    // trash.
    let s = status_of(
        scoped("trash", Method::PUT, ctx.m(&format!("trash/{file}"))).header("Content-Length", "0"),
    )
    .await;
    assert!(failed(s), "trash answered {s}");
    assert_eq!(
        node(&ctx, &file).await["status"],
        "TRASH",
        "trash was applied"
    );

    // restore.
    let s = status_of(
        scoped(
            "restore",
            Method::POST,
            ctx.m(&format!("trash/{gone}/restore")),
        )
        .header("Content-Length", "0"),
    )
    .await;
    assert!(failed(s), "restore answered {s}");
    assert_eq!(
        node(&ctx, &gone).await["status"],
        "AVAILABLE",
        "restore was applied"
    );

    // properties.
    let s = status_of(
        scoped(
            "properties",
            Method::PUT,
            ctx.m(&format!("nodes/{gone}/properties/MyApp/color")),
        )
        .body(json!({"value": "blue"}).to_string()),
    )
    .await;
    assert!(failed(s), "properties answered {s}");
    let (status, props) = ctx
        .get(&ctx.m(&format!("nodes/{gone}/properties/MyApp")))
        .await;
    assert_eq!(status, StatusCode::OK, "{props}");
    assert_eq!(props["data"]["color"], "blue", "the property was applied");

    // The journal records the commit (the handler's 2xx) and the fault for each.
    for op in operations {
        let entry = last_faulted(&ctx, op).await;
        assert_eq!(entry["fault"], format!("ac-{op}"), "{entry}");
        let committed = entry["committed"].as_u64().unwrap_or(0);
        assert!((200..300).contains(&committed), "{op}: {entry}");
    }
}

#[tokio::test]
async fn after_commit_is_refused_on_reads_and_for_non_failing_actions() {
    let ctx = Ctx::start().await;
    let bad = [
        json!({"match": {"operation": ["move", "list"]}, "action": {"kind": "reset"}, "when": "after_commit"}),
        json!({"match": {"operation": "get_node"}, "action": {"kind": "error", "error": "gateway_timeout"}, "when": "after_commit"}),
        json!({"action": {"kind": "reset"}, "when": "after_commit"}),
        json!({"match": {"operation": "move"}, "action": {"kind": "latency", "ms": 1}, "when": "after_commit"}),
    ];
    for rule in bad {
        let (status, body) = ctx.admin_post("faults", Some(&rule)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{rule}: {body}");
        assert!(
            body["message"].as_str().unwrap_or("").contains("when"),
            "{rule}: {body}"
        );
    }
    // A rule that fails before handling still works as before, and no rule was added above.
    let (status, list) = ctx.get(&ctx.admin("faults")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["rules"].as_array().map(Vec::len), Some(0), "{list}");
}

#[tokio::test]
async fn a_before_rule_applies_nothing() {
    // The default (`when` absent) still answers instead of handling: nothing is created.
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    add_rule(
        &ctx,
        json!({"match": {"operation": "create_folder"}, "action": {"kind": "error", "error": "gateway_timeout"}, "trigger": {"first": 1}}),
    )
    .await;
    let status = status_of(
        ctx.req(Method::POST, &ctx.m("nodes"))
            .body(json!({"name": "x", "kind": "FOLDER", "parents": [root]}).to_string()),
    )
    .await;
    assert_eq!(status, 504);
    assert_eq!(ctx.lookup(&root, "x").await["count"], 0);
    let entry = last_entry(&ctx, "create_folder").await;
    assert!(entry.get("committed").is_none(), "{entry}");
}
