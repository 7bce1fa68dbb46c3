//! HTTP-level integration tests of `acd-mock` against the Amazon Drive API reference
//! (`docs/reference.md` §2-7 and §12) and the canonical shapes in `/fixtures`.
//!
//! Every test starts its own server. Requests are made the way go-acd, rclone and acd_cli
//! made them: form-encoded filters with `+` for spaces, JSON bodies without Content-Type,
//! multipart uploads with the metadata part first, bodyless PUT/POST for trash and restore.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use acd_mock::MockServer;
use acd_mock::admin_client::{MintRequest, NewAccount, SeedRequest};
use common::*;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

/// Deterministic pseudo-random bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The status and JSON body of a request without any Authorization header.
async fn anonymous(method: Method, url: &str) -> (StatusCode, Value) {
    json_of(client().request(method, url).send().await.unwrap()).await
}

/// Parses a changes stream: the change lines (as JSON) and the raw last line.
fn change_lines(text: &str) -> (Vec<Value>, String) {
    assert!(
        text.ends_with('\n'),
        "each line ends with a newline: {text:?}"
    );
    let mut lines: Vec<&str> = text.lines().collect();
    let last = lines.pop().expect("at least the end line").to_string();
    let parsed = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    (parsed, last)
}

/// Checks the rules of §6.13/§12.4 on a change line.
#[track_caller]
fn assert_change_line(line: &Value) {
    let keys: Vec<&String> = line.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        ["checkpoint", "nodes", "reset", "statusCode"],
        "{line}"
    );
    assert!(
        line["checkpoint"].as_str().is_some_and(|c| !c.is_empty()),
        "{line}"
    );
    assert!(line["reset"].is_boolean(), "{line}");
    assert_eq!(line["statusCode"], 200, "{line}");
    for node in line["nodes"].as_array().expect("nodes array") {
        assert!(
            node["id"].is_string() && node["status"].is_string(),
            "{node}"
        );
    }
}

fn node_ids_of_lines(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .flat_map(|l| l["nodes"].as_array().unwrap().iter().map(id_of))
        .collect()
}

// ---- 1. endpoint discovery and account -----------------------------------------------------

#[tokio::test]
async fn endpoint_discovery_points_at_the_server() {
    let ctx = Ctx::start().await;
    let (status, endpoint) = ctx.get(&ctx.server.endpoint_url()).await;
    assert_eq!(status, StatusCode::OK, "{endpoint}");
    assert_eq!(endpoint["customerExists"], true);
    let metadata = endpoint["metadataUrl"].as_str().unwrap();
    let content = endpoint["contentUrl"].as_str().unwrap();
    for url in [metadata, content] {
        assert!(url.ends_with('/'), "{url} must end in /");
        assert!(
            url.starts_with(&format!("{}/", ctx.base())),
            "{url} must point at the server"
        );
    }
    assert_eq!(metadata, format!("{}/drive/v1/", ctx.base()));
    assert_eq!(content, format!("{}/cdproxy/", ctx.base()));
    assert_shape("endpoint.json", &endpoint);
    ctx.snapshots()
        .bind(|| insta::assert_json_snapshot!("endpoint", endpoint));

    // Relative paths resolved against the returned URLs (RFC 3986, as go-acd does) work.
    let (status, info) = ctx.get(&format!("{metadata}account/info")).await;
    assert_eq!(status, StatusCode::OK);
    let root = ctx.root_id().await;
    let node = ctx.upload_file(&root, "resolve.txt", b"resolved").await;
    let response = ctx
        .req(
            Method::GET,
            &format!("{content}nodes/{}/content", id_of(&node)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"resolved");
    assert_eq!(info, fixture("account_info.json"));

    // A configured public URL (given with a trailing slash) is what clients are sent to.
    // The server must be reachable at a known address: take a free port for it.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let public = Ctx::with(
        MockServer::builder()
            .listen(addr)
            .public_url("http://drive.example.test:1234/"),
    )
    .await;
    let (status, endpoint) = json_of(
        public
            .client
            .get(format!("http://{addr}/drive/v1/account/endpoint"))
            .bearer_auth(&public.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{endpoint}");
    assert_eq!(
        endpoint["metadataUrl"],
        "http://drive.example.test:1234/drive/v1/"
    );
    assert_eq!(
        endpoint["contentUrl"],
        "http://drive.example.test:1234/cdproxy/"
    );
}

#[tokio::test]
async fn quota_available_decreases_after_an_upload() {
    let ctx = Ctx::start().await;
    let (status, before) = ctx.get(&ctx.m("account/quota")).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_shape("quota.json", &before);
    assert_eq!(before["quota"], 5_u64 * 1024 * 1024 * 1024);
    assert_eq!(
        before["available"], before["quota"],
        "a new account uses nothing"
    );
    assert!(before["lastCalculated"].as_str().unwrap().ends_with('Z'));

    let root = ctx.root_id().await;
    ctx.upload_file(&root, "thousand.bin", &noise(1000, 1))
        .await;
    let (_, after) = ctx.get(&ctx.m("account/quota")).await;
    assert_eq!(after["quota"], before["quota"]);
    assert_eq!(
        after["available"].as_u64().unwrap(),
        before["available"].as_u64().unwrap() - 1000
    );
    ctx.snapshots()
        .bind(|| insta::assert_json_snapshot!("quota", after));
}

#[tokio::test]
async fn usage_counts_uploads_by_category() {
    let ctx = Ctx::start().await;
    let (status, before) = ctx.get(&ctx.m("account/usage")).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_shape("usage.json", &before);
    for category in ["other", "doc", "photo", "video"] {
        assert_eq!(
            before[category]["total"],
            json!({"bytes": 0, "count": 0}),
            "{category}"
        );
    }
    let root = ctx.root_id().await;
    ctx.upload_file(&root, "notes.txt", &noise(300, 2)).await;
    ctx.upload_file(&root, "blob.qqzz", &noise(50, 3)).await;
    let (_, after) = ctx.get(&ctx.m("account/usage")).await;
    assert_shape("usage.json", &after);
    assert_eq!(after["doc"]["total"], json!({"bytes": 300, "count": 1}));
    assert_eq!(after["doc"]["billable"], json!({"bytes": 300, "count": 1}));
    assert_eq!(after["other"]["total"], json!({"bytes": 50, "count": 1}));
    ctx.snapshots()
        .bind(|| insta::assert_json_snapshot!("usage", after));
}

// ---- 2. root --------------------------------------------------------------------------------

#[tokio::test]
async fn root_query_sent_like_go_acd() {
    let ctx = Ctx::start().await;
    let url = format!("{}nodes?filters=kind%3AFOLDER+AND+isRoot%3Atrue", ctx.meta);
    let (status, list) = ctx.get(&url).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_list_envelope(&list);
    assert_eq!(list["count"], 1);
    assert!(
        list.get("nextToken").is_none(),
        "a single page has no nextToken"
    );
    let root = &list["data"][0];
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(root.get("name").is_none(), "the root has no name: {root}");
    assert_eq!(root["isRoot"], true);
    assert_eq!(root["parents"], json!([]));
    assert_eq!(root["kind"], "FOLDER");
    assert_eq!(root["status"], "AVAILABLE");
    assert_eq!(root["createdBy"], "CloudDriveFiles");
    assert!(looks_like_id(root["id"].as_str().unwrap()), "{root}");
    assert_shape("node_root.json", root);
    ctx.snapshots()
        .bind(|| insta::assert_json_snapshot!("root_node", root));

    // acd_cli's and the C# client's form, and GET nodes/{id}, give the same node.
    let alone = ctx.list("isRoot:true").await;
    assert_eq!(ids(&alone), vec![id_of(root)]);
    let (status, by_id) = ctx.node(&id_of(root)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&by_id, root);
    // A folder is not a root.
    ctx.mkdir(&id_of(root), "NotRoot").await;
    let again = ctx.list("kind:FOLDER AND isRoot:true").await;
    assert_eq!(ids(&again), vec![id_of(root)]);
}

// ---- 3. create folder -----------------------------------------------------------------------

#[tokio::test]
async fn create_folder_with_no_content_type_conflicts_ignoring_case() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    // Exactly what go-acd sends: JSON plus a newline, no Content-Type header.
    let response = ctx
        .req(Method::POST, &ctx.m("nodes"))
        .body(format!(
            "{{\"name\":\"Docs\",\"kind\":\"FOLDER\",\"parents\":[\"{root}\"]}}\n"
        ))
        .send()
        .await
        .unwrap();
    let (status, folder) = json_of(response).await;
    assert_eq!(status, StatusCode::CREATED, "{folder}");
    assert_eq!(folder["name"], "Docs");
    assert_eq!(folder["kind"], "FOLDER");
    assert_eq!(folder["status"], "AVAILABLE");
    assert_eq!(folder["parents"], json!([root]));
    assert!(folder.get("contentProperties").is_none());
    assert!(folder.get("isRoot").is_none(), "only the root has isRoot");
    assert!(folder["modifiedDate"].is_string() && folder["createdDate"].is_string());
    assert_shape("node_folder.json", &folder);
    ctx.snapshots()
        .bind(|| insta::assert_json_snapshot!("folder_node", folder));
    let id = id_of(&folder);

    for clash in ["DOCS", "docs", "Docs"] {
        let (status, body) = ctx
            .send(
                Method::POST,
                &ctx.m("nodes"),
                Some(&json!({"name": clash, "kind": "FOLDER", "parents": [root]})),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{clash}: {body}");
        assert_eq!(
            body["message"],
            format!(
                "Node with the name docs already exists under parentId {root} conflicting NodeId: {id}"
            )
        );
        assert_eq!(body["code"], "NAME_ALREADY_EXISTS");
        assert_eq!(body["info"]["nodeId"], id.as_str());
        assert_shape("error_409_name_exists.json", &body);
        if clash == "DOCS" {
            let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
            assert_eq!(
                keys,
                ["logref", "message", "code", "info"],
                "key order of §7.1"
            );
            ctx.snapshots()
                .bind(|| insta::assert_json_snapshot!("error_409_name_exists", body));
        }
    }
    // The stored name keeps its case, and only one node holds the name.
    let (_, stored) = ctx.node(&id).await;
    assert_eq!(stored["name"], "Docs");
    let lookup = ctx.lookup(&root, "Docs").await;
    assert_eq!(ids(&lookup), vec![id.clone()]);
    let children = ctx.list(&format!("parents:{root}")).await;
    assert_eq!(ids(&children), vec![id.clone()]);

    // The same name is fine under another parent; acd_cli's create without parents goes to the root.
    ctx.mkdir(&id, "docs").await;
    let (status, orphan) = ctx
        .send(
            Method::POST,
            &ctx.m("nodes"),
            Some(&json!({"name": "NoParents", "kind": "FOLDER"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{orphan}");
    assert_eq!(orphan["parents"], json!([root]));
}

// ---- 4. lookup, listing, paging, filters ----------------------------------------------------

const AWKWARD_NAMES: &[&str] = &[
    "my file (1).txt",
    "quote\"d 'single'.txt",
    "a&b+c:d=e.txt",
    "ünïcødé 日本語 ✓.txt",
    "brackets [x] {y} ~!^|*?.txt",
    "back\\slash - dash_under.txt",
    "100% sure #1;,.txt",
    "-leading dash",
    "AND OR name:x",
];

#[tokio::test]
async fn lookup_by_escaped_names() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let parent = id_of(&ctx.mkdir(&root, "Awkward").await);
    let mut made = Vec::new();
    for (i, name) in AWKWARD_NAMES.iter().enumerate() {
        let node = if i % 2 == 0 {
            ctx.upload_file(&parent, name, format!("content {i}").as_bytes())
                .await
        } else {
            ctx.mkdir(&parent, name).await
        };
        assert_eq!(node["name"], *name, "the name is stored verbatim");
        made.push((name.to_string(), id_of(&node)));
    }
    for (name, id) in &made {
        // go-acd: quoted and escaped.
        let found = ctx.lookup(&parent, name).await;
        assert_eq!(ids(&found), vec![id.clone()], "lookup of {name:?}: {found}");
        assert_eq!(found["count"], 1);
        assert_eq!(found["data"][0]["name"], name.as_str());
        // The C# client: unquoted and escaped.
        let bare = ctx
            .list(&format!(
                "parents:{parent} AND name:{}",
                escape_filter(name)
            ))
            .await;
        assert_eq!(ids(&bare), vec![id.clone()], "bare lookup of {name:?}");
    }
    // Only exact names match: no prefix or wildcard matching.
    for miss in ["my file", "my file (1)", "*", "my\\ file*"] {
        let found = ctx.lookup(&parent, miss).await;
        assert_eq!(found["count"], 0, "{miss:?} must not match: {found}");
        assert_eq!(found, fixture("list_empty.json"), "the empty list shape");
    }
    let listing = ctx.list(&format!("parents:{parent}")).await;
    assert_eq!(listing["count"], AWKWARD_NAMES.len());
}

#[tokio::test]
async fn bare_parent_ids_may_start_with_a_dash() {
    let ctx = Ctx::start().await;
    // Ids are random: make enough folders that one starts with '-' (P(none) < 1e-10).
    let nodes: Vec<Value> = (0..1500)
        .map(|i| json!({"name": format!("f{i}"), "kind": "FOLDER"}))
        .collect();
    let request = SeedRequest::nodes(serde_json::from_value(json!(nodes)).unwrap());
    let seeded = ctx.admin_client.seed(&request).await.unwrap();
    let dash = seeded
        .into_iter()
        .map(|c| c.id)
        .find(|id| id.starts_with('-'))
        .expect("one of 1500 ids starts with '-'");
    let file = ctx.upload_file(&dash, "inside.txt", b"inside").await;
    let sub = ctx.mkdir(&dash, "sub").await;

    // rclone: the id is sent bare and unescaped; the '-' is part of the value, not a NOT.
    let listing = ctx.list(&format!("parents:{dash}")).await;
    assert_eq!(
        sorted(ids(&listing)),
        sorted(vec![id_of(&file), id_of(&sub)])
    );
    let folders = ctx.list(&format!("parents:{dash} AND kind:FOLDER")).await;
    assert_eq!(ids(&folders), vec![id_of(&sub)]);
    let files = ctx.list(&format!("parents:{dash} AND kind:FILE")).await;
    assert_eq!(ids(&files), vec![id_of(&file)]);
    let quoted = ctx.lookup(&dash, "inside.txt").await;
    assert_eq!(ids(&quoted), vec![id_of(&file)]);
    let (status, children) = ctx.get(&ctx.m(&format!("nodes/{dash}/children"))).await;
    assert_eq!(status, StatusCode::OK, "{children}");
    assert_eq!(children["count"], 2);
    // A '-' id that does not exist is an empty result, not a parse error.
    let none = ctx.list("parents:-AAAAAAAAAAAAAAAAAAAAA").await;
    assert_eq!(none["count"], 0);
}

#[tokio::test]
async fn trashed_nodes_are_hidden_unless_the_filter_names_a_status() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let folder = id_of(&ctx.mkdir(&root, "Mixed").await);
    let keep = id_of(&ctx.upload_file(&folder, "keep.txt", b"keep").await);
    let gone = id_of(&ctx.upload_file(&folder, "gone.txt", b"gone").await);
    let (status, _) = ctx.trash(&gone).await;
    assert_eq!(status, StatusCode::OK);

    assert_eq!(
        ids(&ctx.list(&format!("parents:{folder}")).await),
        vec![keep.clone()]
    );
    assert_eq!(
        ids(&ctx
            .list(&format!("parents:{folder} AND status:TRASH"))
            .await),
        vec![gone.clone()]
    );
    assert_eq!(
        ids(&ctx
            .list(&format!("parents:{folder} AND status:AVAILABLE"))
            .await),
        vec![keep.clone()]
    );
    assert_eq!(ctx.lookup(&folder, "gone.txt").await["count"], 0);
    let trashed = ctx
        .list(&format!(
            "parents:\"{folder}\" AND name:\"gone.txt\" AND status:TRASH"
        ))
        .await;
    assert_eq!(ids(&trashed), vec![gone.clone()]);
    assert_eq!(trashed["data"][0]["status"], "TRASH");
    let (_, children) = ctx.get(&ctx.m(&format!("nodes/{folder}/children"))).await;
    assert_eq!(ids(&children), vec![keep.clone()]);
    // ACLI's trash listing form.
    let trash_files = ctx.list("status:TRASH AND kind:FILE").await;
    assert_eq!(ids(&trash_files), vec![gone.clone()]);

    // A live node may take a trashed node's name, and a lookup then finds exactly one
    // (go-acd fails with "Too many nodes" otherwise, §12.12).
    let again = id_of(&ctx.upload_file(&folder, "GONE.txt", b"again").await);
    let found = ctx
        .list(&format!("parents:\"{folder}\" AND name:\"GONE.txt\""))
        .await;
    assert_eq!(ids(&found), vec![again]);
}

#[tokio::test]
async fn paging_with_limit_and_start_token() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let folder = id_of(&ctx.mkdir(&root, "Paged").await);
    let mut made = Vec::new();
    for i in 0..5 {
        made.push(id_of(
            &ctx.upload_file(&folder, &format!("page{i}.txt"), format!("p{i}").as_bytes())
                .await,
        ));
    }
    let filters = form(&format!("parents:{folder}"));
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        // go-querystring's order: filters, limit, startToken.
        let mut url = ctx.m(&format!("nodes?filters={filters}&limit=2"));
        if let Some(token) = &token {
            url.push_str(&format!("&startToken={}", form(token)));
        }
        let (status, page) = ctx.get(&url).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_list_envelope(&page);
        assert_eq!(page["count"], 5, "count is the total number of matches");
        seen.extend(ids(&page));
        token = page
            .get("nextToken")
            .map(|t| t.as_str().unwrap().to_string());
        pages.push(page);
        if token.is_none() {
            break;
        }
        assert!(pages.len() < 10, "paging does not end");
    }
    let sizes: Vec<usize> = pages
        .iter()
        .map(|p| p["data"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [2, 2, 1]);
    let mut sorted_seen = seen.clone();
    sorted_seen.sort();
    sorted_seen.dedup();
    assert_eq!(sorted_seen.len(), 5, "no node twice, none lost: {seen:?}");
    let mut sorted_made = made.clone();
    sorted_made.sort();
    assert_eq!(sorted_seen, sorted_made);
    assert!(pages[0].get("nextToken").is_some());
    assert!(
        pages[2].get("nextToken").is_none(),
        "no nextToken key on the last page"
    );
    assert_shape("list_page.json", &pages[0]);
    assert_shape("list_last_page.json", &pages[2]);
    ctx.snapshots().bind(|| {
        insta::assert_json_snapshot!("list_page", pages[0]);
        insta::assert_json_snapshot!("list_last_page", pages[2]);
    });

    // The same on the children endpoint.
    let (_, first) = ctx
        .get(&ctx.m(&format!("nodes/{folder}/children?limit=3")))
        .await;
    assert_eq!(first["data"].as_array().unwrap().len(), 3);
    let next = first["nextToken"].as_str().unwrap();
    let (_, second) = ctx
        .get(&ctx.m(&format!(
            "nodes/{folder}/children?limit=3&startToken={}",
            form(next)
        )))
        .await;
    assert_eq!(second["data"].as_array().unwrap().len(), 2);
    assert!(second.get("nextToken").is_none());

    // An empty result still has data [] and count 0.
    let empty = ctx.mkdir(&root, "Empty").await;
    let list = ctx.list(&format!("parents:{}", id_of(&empty))).await;
    assert_eq!(list, fixture("list_empty.json"));
    ctx.snapshots()
        .bind(|| insta::assert_json_snapshot!("list_empty", list));

    // Bad paging parameters are 400s with the JSON error body.
    for query in [
        "limit=0",
        "limit=abc",
        "startToken=%25%25not-a-token",
        "limit=-1",
    ] {
        let (status, body) = ctx
            .get(&ctx.m(&format!("nodes?filters={filters}&{query}")))
            .await;
        assert_client_error(status, &body, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn children_endpoint_with_and_without_filters() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let folder = id_of(&ctx.mkdir(&root, "Parent").await);
    let file = id_of(&ctx.upload_file(&folder, "x.txt", b"x").await);
    let sub = id_of(&ctx.mkdir(&folder, "sub").await);
    ctx.upload_file(&sub, "grandchild.txt", b"g").await;

    let (status, all) = ctx.get(&ctx.m(&format!("nodes/{folder}/children"))).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_list_envelope(&all);
    assert_eq!(
        sorted(ids(&all)),
        sorted(vec![file.clone(), sub.clone()]),
        "only direct children"
    );
    for (filter, expected) in [
        ("kind:FOLDER", vec![sub.clone()]),
        ("kind:FILE", vec![file.clone()]),
        ("name:\"x.txt\"", vec![file.clone()]),
        ("kind:FILE AND name:sub", vec![]),
    ] {
        let (status, list) = ctx
            .get(&ctx.m(&format!("nodes/{folder}/children?filters={}", form(filter))))
            .await;
        assert_eq!(status, StatusCode::OK, "{filter}: {list}");
        assert_eq!(ids(&list), expected, "{filter}");
    }
    let (status, body) = ctx
        .get(&ctx.m("nodes/AAAAAAAAAAAAAAAAAAAAAA/children"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_error_body(&body);
    let (status, body) = ctx.get(&ctx.m(&format!("nodes/{file}/children"))).await;
    assert!(
        status.is_client_error(),
        "children of a file: {status} {body}"
    );
    assert_error_body(&body);
}

#[tokio::test]
async fn bad_filters_are_400_with_a_json_body() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    for filter in [
        "kind:(FILE OR FOLDER)",
        "(kind:FILE OR kind:FOLDER)",
        "bogus:1",
        "name:\"unterminated",
        "kind",
        "kind:",
        "kind:FILE AND",
        "kind:FILE and kind:FOLDER",
        "isRoot:maybe",
        "name:dangling\\",
    ] {
        let (status, body) = ctx.search(filter).await;
        assert_client_error(status, &body, StatusCode::BAD_REQUEST);
        let (status, body) = ctx
            .get(&ctx.m(&format!("nodes/{root}/children?filters={}", form(filter))))
            .await;
        assert_client_error(status, &body, StatusCode::BAD_REQUEST);
    }
}

// ---- 5. upload ------------------------------------------------------------------------------

#[tokio::test]
async fn upload_computes_content_properties() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let (status, node) = ctx.upload(&root, "hello.txt", b"hello world\n").await;
    assert_eq!(status, StatusCode::CREATED, "{node}");
    assert_eq!(node["kind"], "FILE");
    assert_eq!(node["name"], "hello.txt");
    assert_eq!(node["status"], "AVAILABLE");
    assert_eq!(node["parents"], json!([root]));
    let props = &node["contentProperties"];
    assert_eq!(props["md5"], "6f5902ac237024bdd0c176cb93063dc4");
    assert_eq!(props["size"], 12);
    assert_eq!(props["extension"], "txt");
    assert_eq!(props["contentType"], "text/plain");
    assert_eq!(props["version"], 1);
    assert!(looks_like_id(node["id"].as_str().unwrap()));
    // ISO-8601 UTC with milliseconds, e.g. 2015-08-30T12:53:49.238Z (§2).
    for date in [
        &node["createdDate"],
        &node["modifiedDate"],
        &props["contentDate"],
    ] {
        let date = date.as_str().unwrap();
        let bytes = date.as_bytes();
        assert_eq!(date.len(), 24, "{date}");
        assert!(
            date.ends_with('Z') && bytes[10] == b'T' && bytes[19] == b'.',
            "{date}"
        );
        assert!(date[20..23].bytes().all(|b| b.is_ascii_digit()), "{date}");
    }
    assert_shape("node_file.json", &node);
    ctx.snapshots()
        .bind(|| insta::assert_json_snapshot!("file_node", node));

    // What GET nodes/{id} and a lookup say agrees with the upload's reply.
    let id = id_of(&node);
    let (_, fetched) = ctx.node(&id).await;
    assert_eq!(fetched, node);
    assert_eq!(ids(&ctx.lookup(&root, "hello.txt").await), vec![id.clone()]);
    assert_eq!(ctx.download(&id).await, b"hello world\n");

    // Other extensions; an unknown one keeps the part's octet-stream type.
    let other = ctx.upload_file(&root, "data.QQZZ", &noise(64, 9)).await;
    assert_eq!(other["contentProperties"]["extension"], "QQZZ");
    assert_eq!(
        other["contentProperties"]["contentType"],
        "application/octet-stream"
    );
    assert_eq!(other["contentProperties"]["md5"], md5_hex(&noise(64, 9)));
    let movie = ctx.upload_file(&root, "movie.m2ts", &noise(10, 10)).await;
    assert_eq!(movie["contentProperties"]["extension"], "m2ts");
    assert_eq!(movie["contentProperties"]["size"], 10);
}

#[tokio::test]
async fn chunked_upload_without_content_length() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let bytes = noise(300_000, 4);
    let body = multipart_body(
        &[
            Part::metadata(&file_metadata("streamed.bin", &root)),
            Part::content(&bytes),
        ],
        b"",
    );
    let response = ctx
        .post_multipart("nodes?suppress=deduplication", body, true)
        .await;
    let (status, node) = json_of(response).await;
    assert_eq!(status, StatusCode::CREATED, "{node}");
    assert_eq!(node["contentProperties"]["size"], 300_000);
    assert_eq!(node["contentProperties"]["md5"], md5_hex(&bytes));
    assert_eq!(ctx.download(&id_of(&node)).await, bytes);
}

#[tokio::test]
async fn zero_byte_upload() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let node = ctx.upload_file(&root, "empty.txt", b"").await;
    assert_eq!(node["contentProperties"]["size"], 0);
    assert_eq!(
        node["contentProperties"]["md5"],
        "d41d8cd98f00b204e9800998ecf8427e"
    );
    assert_eq!(ctx.download(&id_of(&node)).await, b"");
    // Empty files are never duplicates, even without suppress=deduplication (§12.14).
    let body = multipart_body(
        &[
            Part::metadata(&file_metadata("empty2.txt", &root)),
            Part::content(b""),
        ],
        b"",
    );
    let (status, second) = json_of(ctx.post_multipart("nodes", body, false).await).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(second["contentProperties"]["size"], 0);
}

#[tokio::test]
async fn duplicate_content_needs_suppress_deduplication() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let bytes = noise(256, 5);
    let first = id_of(&ctx.upload_file(&root, "first.bin", &bytes).await);
    let body = |name: &str| {
        multipart_body(
            &[
                Part::metadata(&file_metadata(name, &root)),
                Part::content(&bytes),
            ],
            b"",
        )
    };
    let (status, refused) =
        json_of(ctx.post_multipart("nodes", body("second.bin"), false).await).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["code"], "DUPLICATE_CONTENT");
    assert_eq!(refused["message"], "Attempted to upload a duplicate File");
    assert_eq!(refused["info"]["nodeId"], first.as_str());
    assert_shape("error_409_duplicate.json", &refused);
    ctx.snapshots()
        .bind(|| insta::assert_json_snapshot!("error_409_duplicate", refused));
    assert_eq!(
        ctx.lookup(&root, "second.bin").await["count"],
        0,
        "nothing was created"
    );

    let (status, accepted) = json_of(
        ctx.post_multipart("nodes?suppress=deduplication", body("second.bin"), false)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{accepted}");
    assert_eq!(accepted["contentProperties"]["md5"], md5_hex(&bytes));
    assert_ne!(id_of(&accepted), first);
}

#[tokio::test]
async fn multipart_quirks_of_acd_cli_are_tolerated() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let bytes = noise(5000, 6);
    for (i, chunked) in [false, true].into_iter().enumerate() {
        // Stray text after the closing boundary.
        let name = format!("stray{i}.bin");
        let body = multipart_body(
            &[
                Part::metadata(&file_metadata(&name, &root)),
                Part::content(&bytes),
            ],
            b"stray text after the closing boundary\r\n--not a boundary--\r\n",
        );
        let (status, node) = json_of(
            ctx.post_multipart("nodes?suppress=deduplication", body, chunked)
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{node}");
        assert_eq!(node["contentProperties"]["size"], 5000);
        assert_eq!(node["contentProperties"]["md5"], md5_hex(&bytes));

        // A content part named `foo` whose filename differs from the node name.
        let name = format!("named by metadata {i}.bin");
        let body = multipart_body(
            &[
                Part::metadata(&file_metadata(&name, &root)),
                Part::named("foo", &bytes),
            ],
            b"trailing junk",
        );
        let (status, node) = json_of(
            ctx.post_multipart("nodes?suppress=deduplication", body, chunked)
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{node}");
        assert_eq!(
            node["name"],
            name.as_str(),
            "the name comes from the metadata"
        );
        assert_eq!(node["contentProperties"]["md5"], md5_hex(&bytes));
        assert_eq!(ctx.download(&id_of(&node)).await, bytes);
    }
}

#[tokio::test]
async fn upload_into_a_missing_parent_is_400() {
    let ctx = Ctx::start().await;
    let (_, before) = ctx.get(&ctx.m("account/quota")).await;
    let (status, body) = ctx
        .upload("AAAAAAAAAAAAAAAAAAAAAA", "lost.txt", b"lost")
        .await;
    assert_client_error(status, &body, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], "One of the parentId doesn't exists");
    assert_eq!(body["code"], "");
    ctx.snapshots()
        .bind(|| insta::assert_json_snapshot!("error_400_missing_parent", body));
    let (_, after) = ctx.get(&ctx.m("account/quota")).await;
    assert_eq!(
        after["available"], before["available"],
        "nothing was stored"
    );
    assert_eq!(ctx.list("name:\"lost.txt\"").await["count"], 0);
}

// ---- 6. overwrite ---------------------------------------------------------------------------

#[tokio::test]
async fn overwrite_bumps_versions_and_replaces_the_bytes() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let node = ctx.upload_file(&root, "doc.txt", b"first version").await;
    let id = id_of(&node);
    let old_version = node["version"].as_i64().unwrap();
    for (round, chunked) in [false, true].into_iter().enumerate() {
        let bytes = format!("replacement number {round}, longer than before").into_bytes();
        // go-acd: the content part only, no metadata part.
        let body = multipart_body(&[Part::content(&bytes)], b"");
        let response = ctx
            .multipart_request(
                Method::PUT,
                &ctx.c(&format!("nodes/{id}/content")),
                body,
                chunked,
            )
            .await;
        let (status, updated) = json_of(response).await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        let round = round as i64;
        assert_eq!(updated["id"], id.as_str());
        assert_eq!(updated["name"], "doc.txt");
        assert_eq!(
            updated["version"].as_i64().unwrap(),
            old_version + 1 + round
        );
        assert_eq!(updated["contentProperties"]["version"], 2 + round);
        assert_eq!(updated["contentProperties"]["md5"], md5_hex(&bytes));
        assert_eq!(updated["contentProperties"]["size"], bytes.len());
        assert_shape("node_file.json", &updated);
        assert_eq!(ctx.download(&id).await, bytes);
        let (_, fetched) = ctx.node(&id).await;
        assert_eq!(fetched["contentProperties"]["md5"], md5_hex(&bytes));
    }
    // acd_cli clears a file with an empty content part named ' ' and a Content-Length body.
    let cleared_part = Part {
        filename: Some(" ".into()),
        ..Part::content(b"")
    };
    let response = ctx
        .multipart_request(
            Method::PUT,
            &ctx.c(&format!("nodes/{id}/content?suppress=deduplication")),
            multipart_body(&[cleared_part], b""),
            false,
        )
        .await;
    let (status, cleared) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(cleared["contentProperties"]["size"], 0);
    assert_eq!(
        cleared["contentProperties"]["md5"],
        "d41d8cd98f00b204e9800998ecf8427e"
    );
    assert_eq!(ctx.download(&id).await, b"");
    let last = b"replacement number 1, longer than before";
    let response = ctx
        .multipart_request(
            Method::PUT,
            &ctx.c(&format!("nodes/{id}/content")),
            multipart_body(&[Part::content(last)], b""),
            false,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    // A tempLink requested after the overwrite serves the new bytes.
    let (_, linked) = ctx.get(&ctx.m(&format!("nodes/{id}?tempLink=true"))).await;
    let link = linked["tempLink"].as_str().unwrap();
    let response = client().get(link).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        b"replacement number 1, longer than before"
    );

    // Overwriting a folder or an unknown node fails cleanly.
    let folder = id_of(&ctx.mkdir(&root, "F").await);
    let body = multipart_body(&[Part::content(b"x")], b"");
    let response = ctx
        .multipart_request(
            Method::PUT,
            &ctx.c(&format!("nodes/{folder}/content")),
            body.clone(),
            false,
        )
        .await;
    let (status, err) = json_of(response).await;
    assert_client_error(status, &err, StatusCode::BAD_REQUEST);
    let response = ctx
        .multipart_request(
            Method::PUT,
            &ctx.c("nodes/AAAAAAAAAAAAAAAAAAAAAA/content"),
            body,
            false,
        )
        .await;
    let (status, err) = json_of(response).await;
    assert_client_error(status, &err, StatusCode::NOT_FOUND);
}

// ---- 7. download, ranges, tempLink, assets --------------------------------------------------

#[tokio::test]
async fn download_with_ranges() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let bytes = b"0123456789abcdefghij";
    let id = id_of(&ctx.upload_file(&root, "range.txt", bytes).await);
    let url = ctx.c(&format!("nodes/{id}/content"));

    let full = ctx.req(Method::GET, &url).send().await.unwrap();
    assert_eq!(full.status(), StatusCode::OK);
    assert_eq!(full.headers()[header::CONTENT_LENGTH], "20");
    assert_eq!(full.bytes().await.unwrap().as_ref(), bytes);

    for (range, content_range, expected) in [
        ("bytes=2-5", "bytes 2-5/20", &bytes[2..=5]),
        ("bytes=15-", "bytes 15-19/20", &bytes[15..]),
        ("bytes=-3", "bytes 17-19/20", &bytes[17..]),
        ("bytes=18-100", "bytes 18-19/20", &bytes[18..]),
        ("bytes=0-0", "bytes 0-0/20", &bytes[..1]),
    ] {
        let response = ctx
            .req(Method::GET, &url)
            .header(header::RANGE, range)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            response.headers()[header::CONTENT_RANGE],
            content_range,
            "{range}"
        );
        assert_eq!(
            response.bytes().await.unwrap().as_ref(),
            expected,
            "{range}"
        );
    }
    for range in ["bytes=20-", "bytes=100-200"] {
        let response = ctx
            .req(Method::GET, &url)
            .header(header::RANGE, range)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::RANGE_NOT_SATISFIABLE,
            "{range}"
        );
        assert_eq!(response.headers()[header::CONTENT_RANGE], "bytes */20");
    }
    let (status, body) = anonymous(Method::GET, &url).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, fixture("error_401_token_expired.json"));
    let (status, body) = ctx
        .get(&ctx.c("nodes/AAAAAAAAAAAAAAAAAAAAAA/content"))
        .await;
    assert_client_error(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn templink_downloads_without_authorization() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let bytes = noise(1000, 7);
    let id = id_of(&ctx.upload_file(&root, "linked.bin", &bytes).await);
    let (status, node) = ctx.get(&ctx.m(&format!("nodes/{id}?tempLink=true"))).await;
    assert_eq!(status, StatusCode::OK, "{node}");
    let link = node["tempLink"].as_str().expect("a tempLink").to_string();
    assert!(
        link.starts_with(&ctx.content),
        "{link} is served by the content API"
    );
    assert_shape("node_file_templink.json", &node);
    ctx.snapshots()
        .bind(|| insta::assert_json_snapshot!("file_node_templink", node));

    let anonymous_client = client();
    let response = anonymous_client.get(&link).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let response = anonymous_client
        .get(&link)
        .header(header::RANGE, "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        response.headers()[header::CONTENT_RANGE],
        "bytes 10-19/1000"
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), &bytes[10..20]);

    // Listings honour tempLink=true too; without it there is no tempLink.
    let (_, listed) = ctx
        .get(&ctx.m(&format!(
            "nodes?filters={}&tempLink=true",
            form(&format!("parents:{root}"))
        )))
        .await;
    assert!(listed["data"][0]["tempLink"].is_string(), "{listed}");
    let (_, plain) = ctx.node(&id).await;
    assert!(plain.get("tempLink").is_none());
    let (_, acli) = ctx
        .get(&ctx.m(&format!("nodes/{id}?tempLink=false&asset=NONE")))
        .await;
    assert!(
        acli.get("tempLink").is_none() && acli.get("assets").is_none(),
        "{acli}"
    );

    // go-acd asks for folders too: accepted, no link.
    let folder = id_of(&ctx.mkdir(&root, "NoLink").await);
    let (status, folder_node) = ctx
        .get(&ctx.m(&format!("nodes/{folder}?tempLink=true")))
        .await;
    assert_eq!(status, StatusCode::OK, "{folder_node}");
    assert!(folder_node.get("tempLink").is_none(), "{folder_node}");
    assert_shape("node_folder.json", &folder_node);

    // An unknown link is a 404.
    let response = anonymous_client
        .get(format!("{}templink/nonexistent", ctx.content))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn asset_all_adds_an_assets_list() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let id = id_of(&ctx.upload_file(&root, "pic.jpg", &noise(40, 8)).await);
    let (status, node) = ctx.get(&ctx.m(&format!("nodes/{id}?asset=ALL"))).await;
    assert_eq!(status, StatusCode::OK, "{node}");
    assert!(node["assets"].is_array(), "{node}");
    let (status, both) = ctx
        .get(&ctx.m(&format!("nodes/{id}?tempLink=true&asset=ALL")))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        both["assets"].is_array() && both["tempLink"].is_string(),
        "{both}"
    );
}

// ---- 8. PATCH, move, add and remove parent --------------------------------------------------

#[tokio::test]
async fn rename_with_patch() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let node = ctx.upload_file(&root, "old.txt", b"rename me").await;
    let id = id_of(&node);
    let other = id_of(&ctx.upload_file(&root, "Other.txt", b"other").await);

    let (status, renamed) = ctx
        .send(
            Method::PATCH,
            &ctx.m(&format!("nodes/{id}")),
            Some(&json!({"name": "new.txt"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "new.txt");
    assert_eq!(renamed["id"], id.as_str());
    assert_eq!(
        renamed["version"].as_i64().unwrap(),
        node["version"].as_i64().unwrap() + 1
    );
    let modified = renamed["modifiedDate"].as_str().expect("modifiedDate");
    assert!(modified >= node["modifiedDate"].as_str().unwrap());
    assert_eq!(
        renamed["contentProperties"]["md5"],
        node["contentProperties"]["md5"]
    );
    assert_shape("node_file.json", &renamed);
    assert_eq!(ctx.lookup(&root, "old.txt").await["count"], 0);
    assert_eq!(ids(&ctx.lookup(&root, "new.txt").await), vec![id.clone()]);

    // A change of case of its own name is not a conflict.
    let (status, recased) = ctx
        .send(
            Method::PATCH,
            &ctx.m(&format!("nodes/{id}")),
            Some(&json!({"name": "NEW.txt"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{recased}");
    assert_eq!(recased["name"], "NEW.txt");

    // Onto a live sibling's name (any case): 409.
    let (status, clash) = ctx
        .send(
            Method::PATCH,
            &ctx.m(&format!("nodes/{id}")),
            Some(&json!({"name": "OTHER.TXT"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{clash}");
    assert_eq!(clash["code"], "NAME_ALREADY_EXISTS");
    assert_eq!(clash["info"]["nodeId"], other.as_str());
    assert_eq!(
        clash["message"],
        format!(
            "Node with the name other.txt already exists under parentId {root} conflicting NodeId: {other}"
        )
    );
    assert_shape("error_409_name_exists.json", &clash);
    let (_, unchanged) = ctx.node(&id).await;
    assert_eq!(unchanged["name"], "NEW.txt");

    // rclone's fallback renames a trashed node onto a live sibling's name: allowed.
    let victim = id_of(&ctx.upload_file(&root, "victim.txt", b"victim").await);
    assert_eq!(ctx.trash(&victim).await.0, StatusCode::OK);
    let (status, trashed_rename) = ctx
        .send(
            Method::PATCH,
            &ctx.m(&format!("nodes/{victim}")),
            Some(&json!({"name": "Other.txt"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{trashed_rename}");
    assert_eq!(trashed_rename["name"], "Other.txt");
    assert_eq!(trashed_rename["status"], "TRASH");

    // contentProperties cannot be changed: 403.
    let (status, forbidden) = ctx
        .send(
            Method::PATCH,
            &ctx.m(&format!("nodes/{id}")),
            Some(&json!({"contentProperties": {"md5": "00000000000000000000000000000000"}})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{forbidden}");
    assert_error_body(&forbidden);
    assert_shape("error_403_forbidden.json", &forbidden);

    // Description and labels (acd_cli).
    let (status, described) = ctx
        .send(
            Method::PATCH,
            &ctx.m(&format!("nodes/{id}")),
            Some(&json!({"description": "a note", "labels": ["PHOTO"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{described}");
    assert_eq!(described["description"], "a note");
    assert_eq!(described["labels"], json!(["PHOTO"]));
}

#[tokio::test]
async fn move_replaces_one_parent() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let a = id_of(&ctx.mkdir(&root, "A").await);
    let b = id_of(&ctx.mkdir(&root, "B").await);
    let file = id_of(&ctx.upload_file(&a, "f.txt", b"f").await);

    let (status, moved) = ctx
        .send(
            Method::POST,
            &ctx.m(&format!("nodes/{b}/children")),
            Some(&json!({"fromParent": a, "childId": file})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["id"], file.as_str());
    assert_eq!(moved["parents"], json!([b]));
    assert_shape("node_file.json", &moved);
    assert_eq!(ctx.list(&format!("parents:{a}")).await["count"], 0);
    assert_eq!(
        ids(&ctx.list(&format!("parents:{b}")).await),
        vec![file.clone()]
    );

    // A clash in the destination (ignoring case): 409, nothing moves.
    let twin = id_of(&ctx.upload_file(&a, "F.TXT", b"twin").await);
    let (status, clash) = ctx
        .send(
            Method::POST,
            &ctx.m(&format!("nodes/{b}/children")),
            Some(&json!({"fromParent": a, "childId": twin})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{clash}");
    assert_eq!(clash["code"], "NAME_ALREADY_EXISTS");
    assert_eq!(clash["info"]["nodeId"], file.as_str());
    let (_, still) = ctx.node(&twin).await;
    assert_eq!(still["parents"], json!([a]));

    // A trashed node cannot be re-parented: 400.
    assert_eq!(ctx.trash(&twin).await.0, StatusCode::OK);
    let (status, refused) = ctx
        .send(
            Method::POST,
            &ctx.m(&format!("nodes/{root}/children")),
            Some(&json!({"fromParent": a, "childId": twin})),
        )
        .await;
    assert_client_error(status, &refused, StatusCode::BAD_REQUEST);

    // acd_cli moves with PATCH {"parents": [...]}; a clash there is a 409 too.
    let loner = id_of(&ctx.upload_file(&a, "loner.txt", b"loner").await);
    let (status, patched) = ctx
        .send(
            Method::PATCH,
            &ctx.m(&format!("nodes/{loner}")),
            Some(&json!({"parents": [b]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["parents"], json!([b]));
    let stray = id_of(&ctx.upload_file(&a, "F.txt", b"stray").await);
    let (status, clash) = ctx
        .send(
            Method::PATCH,
            &ctx.m(&format!("nodes/{stray}")),
            Some(&json!({"parents": [b]})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{clash}");
    assert_eq!(clash["info"]["nodeId"], file.as_str());

    // A folder cannot go inside itself.
    let (status, cycle) = ctx
        .send(
            Method::POST,
            &ctx.m(&format!("nodes/{b}/children")),
            Some(&json!({"fromParent": root, "childId": b})),
        )
        .await;
    assert_client_error(status, &cycle, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn add_and_remove_parents() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let a = id_of(&ctx.mkdir(&root, "A").await);
    let b = id_of(&ctx.mkdir(&root, "B").await);
    let file = id_of(&ctx.upload_file(&a, "shared.txt", b"shared").await);

    let (status, added) = ctx
        .send(
            Method::PUT,
            &ctx.m(&format!("nodes/{b}/children/{file}")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(added["id"], file.as_str());
    assert_eq!(added["parents"], json!([a, b]));
    assert_eq!(
        ids(&ctx.list(&format!("parents:{a}")).await),
        vec![file.clone()]
    );
    assert_eq!(
        ids(&ctx.list(&format!("parents:{b}")).await),
        vec![file.clone()]
    );
    assert_eq!(ids(&ctx.lookup(&b, "shared.txt").await), vec![file.clone()]);
    let (_, fetched) = ctx.node(&file).await;
    assert_eq!(fetched["parents"].as_array().unwrap().len(), 2);

    // Adding a parent that already holds the name: 409.
    let clash_b = id_of(&ctx.upload_file(&b, "Clash.txt", b"b").await);
    let clash_a = id_of(&ctx.upload_file(&a, "clash.txt", b"a").await);
    let (status, clash) = ctx
        .send(
            Method::PUT,
            &ctx.m(&format!("nodes/{b}/children/{clash_a}")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{clash}");
    assert_eq!(clash["info"]["nodeId"], clash_b.as_str());

    let (status, removed) = ctx
        .send(
            Method::DELETE,
            &ctx.m(&format!("nodes/{a}/children/{file}")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert_eq!(removed["id"], file.as_str(), "the reply is the child node");
    assert_eq!(removed["parents"], json!([b]));
    assert_shape("node_file.json", &removed);
    assert_eq!(ids(&ctx.list(&format!("parents:{a}")).await), vec![clash_a]);
    assert_eq!(
        sorted(ids(&ctx.list(&format!("parents:{b}")).await)),
        sorted(vec![file.clone(), clash_b.clone()])
    );

    // Removing the last parent leaves the node without parents (§6.10).
    let (status, orphan) = ctx
        .send(
            Method::DELETE,
            &ctx.m(&format!("nodes/{b}/children/{file}")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{orphan}");
    assert_eq!(orphan["parents"], json!([]));
    assert_eq!(ids(&ctx.list(&format!("parents:{b}")).await), vec![clash_b]);
    let (status, fetched) = ctx.node(&file).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["parents"], json!([]));
}

// ---- 9. trash, restore, purge ---------------------------------------------------------------

#[tokio::test]
async fn trash_and_restore_subtrees() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let loose = ctx.upload_file(&root, "loose.txt", b"loose").await;
    let loose_id = id_of(&loose);
    let folder = id_of(&ctx.mkdir(&root, "Tree").await);
    let child = id_of(&ctx.upload_file(&folder, "child.txt", b"child").await);
    let sub = id_of(&ctx.mkdir(&folder, "Sub").await);
    let deep = id_of(&ctx.upload_file(&sub, "deep.txt", b"deep").await);

    // Trash a file: 200, status TRASH, bodyless PUT.
    let (status, trashed) = ctx.trash(&loose_id).await;
    assert_eq!(status, StatusCode::OK, "{trashed}");
    assert_eq!(trashed["status"], "TRASH");
    assert_eq!(trashed["id"], loose_id.as_str());
    assert!(trashed["version"].as_i64().unwrap() > loose["version"].as_i64().unwrap());
    assert_shape("node_trashed.json", &trashed);
    ctx.snapshots()
        .bind(|| insta::assert_json_snapshot!("trashed_node", trashed));

    // Trash a folder: its subtree goes with it.
    let (status, trashed_folder) = ctx.trash(&folder).await;
    assert_eq!(status, StatusCode::OK, "{trashed_folder}");
    assert_eq!(trashed_folder["status"], "TRASH");
    for (parent, name, id) in [
        (&folder, "child.txt", &child),
        (&folder, "Sub", &sub),
        (&sub, "deep.txt", &deep),
    ] {
        assert_eq!(
            ctx.lookup(parent, name).await["count"],
            0,
            "{name} is hidden"
        );
        let found = ctx
            .list(&format!(
                "parents:\"{parent}\" AND name:\"{name}\" AND status:TRASH"
            ))
            .await;
        assert_eq!(ids(&found), vec![id.clone()], "{name}");
        assert_eq!(found["data"][0]["status"], "TRASH");
    }
    assert_eq!(ctx.lookup(&root, "Tree").await["count"], 0);

    // The trash listing.
    let (status, trash) = ctx.get(&ctx.m("trash")).await;
    assert_eq!(status, StatusCode::OK, "{trash}");
    assert_list_envelope(&trash);
    let listed = ids(&trash);
    assert!(
        listed.contains(&loose_id) && listed.contains(&folder),
        "{trash}"
    );
    for node in trash["data"].as_array().unwrap() {
        assert_eq!(node["status"], "TRASH");
    }

    // Restore the folder: the subtree comes back.
    let (status, restored) = ctx.restore(&folder).await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!(restored["status"], "AVAILABLE");
    for id in [&child, &sub, &deep] {
        let (_, node) = ctx.node(id).await;
        assert_eq!(node["status"], "AVAILABLE", "{node}");
    }
    assert_eq!(ids(&ctx.lookup(&sub, "deep.txt").await), vec![deep.clone()]);
    let (_, trash) = ctx.get(&ctx.m("trash")).await;
    assert_eq!(ids(&trash), vec![loose_id.clone()]);

    // Restoring onto a name a live sibling took meanwhile: 409, still trashed.
    let taker = id_of(&ctx.upload_file(&root, "LOOSE.txt", b"taker").await);
    let (status, clash) = ctx.restore(&loose_id).await;
    assert_eq!(status, StatusCode::CONFLICT, "{clash}");
    assert_eq!(clash["code"], "NAME_ALREADY_EXISTS");
    assert_eq!(clash["info"]["nodeId"], taker.as_str());
    let (_, still) = ctx.node(&loose_id).await;
    assert_eq!(still["status"], "TRASH");
}

#[tokio::test]
async fn root_cannot_be_trashed_nor_anything_purged() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let (status, body) = ctx.trash(&root).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_error_body(&body);
    assert_shape("error_403_forbidden.json", &body);
    let (_, still) = ctx.node(&root).await;
    assert_eq!(still["status"], "AVAILABLE");

    let file = id_of(&ctx.upload_file(&root, "keep.txt", b"keep").await);
    for id in [file.as_str(), root.as_str()] {
        let (status, body) = ctx
            .send(Method::DELETE, &ctx.m(&format!("nodes/{id}")), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body, fixture("error_403_purge.json"));
        assert_eq!(
            body["message"],
            "Insufficient permissions granted for operation: purgeNode"
        );
    }
    let (_, node) = ctx.node(&file).await;
    assert_eq!(node["status"], "AVAILABLE", "the purge changed nothing");
}

// ---- 10. changes ----------------------------------------------------------------------------

#[tokio::test]
async fn changes_stream_and_checkpoints() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;

    // The full state, as rclone asks for it the first time.
    let (status, text) = ctx.changes(&json!({"includePurged": "true"})).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (lines, end) = change_lines(&text);
    assert_eq!(end, r#"{"end":true}"#);
    assert_eq!(
        serde_json::from_str::<Value>(&end).unwrap(),
        fixture("changes_end.json")
    );
    assert!(!lines.is_empty());
    for line in &lines {
        assert_change_line(line);
        assert_eq!(line["reset"], false);
    }
    assert!(
        node_ids_of_lines(&lines).contains(&root),
        "the full state includes the root"
    );
    let cp0 = lines.last().unwrap()["checkpoint"]
        .as_str()
        .unwrap()
        .to_string();

    // Only the changes after a checkpoint.
    let folder = id_of(&ctx.mkdir(&root, "Changed").await);
    let (_, text) = ctx
        .changes(&json!({"checkpoint": cp0, "includePurged": "true"}))
        .await;
    let (lines, end) = change_lines(&text);
    assert_eq!(end, r#"{"end":true}"#);
    lines.iter().for_each(assert_change_line);
    assert_eq!(node_ids_of_lines(&lines), vec![folder.clone()]);
    assert!(shape_matches_value(
        &serde_json::from_str(
            include_str!("../../fixtures/changes_stream.ndjson")
                .lines()
                .next()
                .unwrap()
        )
        .unwrap(),
        &lines[0],
        "changes_stream.ndjson line 1",
    ));
    let cp1 = lines.last().unwrap()["checkpoint"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(cp0, cp1);

    let file = ctx
        .upload_file(&folder, "hello.txt", b"hello world\n")
        .await;
    let (status, text) = ctx
        .changes(&json!({"checkpoint": cp1, "includePurged": "true"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (lines, _) = change_lines(&text);
    assert_eq!(node_ids_of_lines(&lines), vec![id_of(&file)]);
    assert_eq!(
        lines[0]["nodes"][0], file,
        "nodes carry their full metadata"
    );
    assert_shape("changes_line.json", &lines[0]);
    let mut stream: Vec<Value> = lines.clone();
    stream.push(serde_json::from_str(r#"{"end":true}"#).unwrap());
    // Wrapped in an object: insta's `.**.parents[]` would match a top-level array's items.
    let stream = json!({ "lines": stream });
    ctx.snapshots()
        .bind(|| insta::assert_json_snapshot!("changes_lines", stream));
    let cp2 = lines.last().unwrap()["checkpoint"]
        .as_str()
        .unwrap()
        .to_string();

    // Trashing shows up with its status.
    ctx.trash(&id_of(&file)).await;
    let (_, text) = ctx.changes(&json!({"checkpoint": cp2})).await;
    let (lines, _) = change_lines(&text);
    let nodes: Vec<&Value> = lines
        .iter()
        .flat_map(|l| l["nodes"].as_array().unwrap())
        .collect();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0]["status"], "TRASH");
    let cp3 = lines.last().unwrap()["checkpoint"]
        .as_str()
        .unwrap()
        .to_string();

    // Nothing new: one line without nodes, then the end.
    let (_, text) = ctx
        .changes(&json!({"checkpoint": cp3, "includePurged": true}))
        .await;
    let (lines, end) = change_lines(&text);
    assert_eq!(end, r#"{"end":true}"#);
    assert_eq!(lines.len(), 1, "{text}");
    assert_change_line(&lines[0]);
    assert_eq!(lines[0]["nodes"], json!([]));
    assert_eq!(lines[0]["reset"], false);

    // A checkpoint the server never issued: reset, and the full state again.
    let (status, text) = ctx
        .changes(&json!({"checkpoint": "bogus-checkpoint", "includePurged": "true"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (lines, end) = change_lines(&text);
    assert_eq!(end, r#"{"end":true}"#);
    lines.iter().for_each(assert_change_line);
    assert_eq!(lines[0]["reset"], true);
    let all = node_ids_of_lines(&lines);
    assert!(all.contains(&root) && all.contains(&folder), "{text}");

    // An empty body is the full feed too (every field is optional).
    let response = ctx
        .req(Method::POST, &ctx.m("changes"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (lines, end) = change_lines(&response.text().await.unwrap());
    assert_eq!(end, r#"{"end":true}"#);
    assert!(node_ids_of_lines(&lines).contains(&root));
}

// ---- 11. properties -------------------------------------------------------------------------

#[tokio::test]
async fn properties_put_get_delete_and_limits() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let id = id_of(&ctx.upload_file(&root, "props.txt", b"props").await);
    let prop = |key: &str| ctx.m(&format!("nodes/{id}/properties/MyApp/{key}"));

    let (status, put) = ctx
        .send(Method::PUT, &prop("color"), Some(&json!({"value": "blue"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{put}");
    assert_eq!(put["key"], "color");
    assert_eq!(put["value"], "blue");
    assert_eq!(put["location"], prop("color"));
    assert_shape("property_put.json", &put);
    ctx.snapshots()
        .bind(|| insta::assert_json_snapshot!("property_put", put));
    let (status, _) = ctx
        .send(Method::PUT, &prop("rating"), Some(&json!({"value": "5"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, all) = ctx
        .get(&ctx.m(&format!("nodes/{id}/properties/MyApp")))
        .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all, fixture("properties_get.json"));
    assert_shape("properties_get.json", &all);
    ctx.snapshots()
        .bind(|| insta::assert_json_snapshot!("properties_get", all));
    // Another owner sees none of them.
    let (_, other) = ctx
        .get(&ctx.m(&format!("nodes/{id}/properties/OtherApp")))
        .await;
    assert_eq!(other, json!({"data": {}}));
    // An empty owner is a 404 (§6.14).
    let response = ctx
        .req(
            Method::GET,
            &ctx.m(&format!("nodes/{id}/properties//color")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.text().await.unwrap(),
        include_str!("../../fixtures/error_404_unknown_operation.xml")
    );

    // DELETE: 204 with no body.
    let response = ctx
        .req(Method::DELETE, &prop("color"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.unwrap().is_empty());
    let (_, all) = ctx
        .get(&ctx.m(&format!("nodes/{id}/properties/MyApp")))
        .await;
    assert_eq!(all, json!({"data": {"rating": "5"}}));

    // Ten keys per owner; the 11th is a 400, but updating one of the ten is fine.
    for i in 0..9 {
        let (status, body) = ctx
            .send(
                Method::PUT,
                &prop(&format!("k{i}")),
                Some(&json!({"value": "v"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "key {i}: {body}");
    }
    let (status, body) = ctx
        .send(Method::PUT, &prop("eleventh"), Some(&json!({"value": "v"})))
        .await;
    assert_client_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, _) = ctx
        .send(Method::PUT, &prop("k0"), Some(&json!({"value": "updated"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // Values up to 500 characters (not bytes).
    let (status, body) = ctx
        .send(
            Method::PUT,
            &prop("rating"),
            Some(&json!({"value": "é".repeat(500)})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = ctx
        .send(
            Method::PUT,
            &prop("rating"),
            Some(&json!({"value": "x".repeat(501)})),
        )
        .await;
    assert_client_error(status, &body, StatusCode::BAD_REQUEST);
    let (_, all) = ctx
        .get(&ctx.m(&format!("nodes/{id}/properties/MyApp")))
        .await;
    assert_eq!(all["data"]["rating"], "é".repeat(500));
    assert_eq!(all["data"]["k0"], "updated");
    assert_eq!(all["data"].as_object().unwrap().len(), 10);
}

// ---- 12. tokens and accounts ----------------------------------------------------------------

/// Basic credentials as golang/oauth2 sends them: id and secret URL-escaped, then base64.
fn go_oauth2_basic(
    request: reqwest::RequestBuilder,
    id: &str,
    secret: &str,
) -> reqwest::RequestBuilder {
    request.basic_auth(form(id), Some(form(secret)))
}

#[tokio::test]
async fn refresh_token_grant_with_basic_or_form_credentials() {
    let ctx = Ctx::start().await;
    let refresh = ctx.refresh.clone();
    let grant = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];

    let response = go_oauth2_basic(
        ctx.client.post(ctx.server.token_url()),
        "amzn1.application-oa2-client.x",
        "secret",
    )
    .form(&grant)
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let (_, tokens) = json_of(response).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    assert!(access.starts_with("Atza|"), "{tokens}");
    assert!(access.len() >= 350, "LWA access tokens are 350+ characters");
    assert_eq!(tokens["token_type"], "bearer");
    assert_eq!(tokens["expires_in"], 3600);
    if let Some(refresh) = tokens.get("refresh_token") {
        assert!(refresh.as_str().unwrap().starts_with("Atzr|"));
    }
    assert_shape("oauth_token.json", &tokens);
    ctx.snapshots()
        .bind(|| insta::assert_json_snapshot!("oauth_token", tokens));
    // The new access token works.
    let (status, _) = ctx
        .send_as(&access, Method::GET, &ctx.m("account/info"), None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // acd_cli, the C# client and node-clouddrive: credentials as form fields.
    let response = ctx
        .client
        .post(ctx.server.token_url())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", "amzn1.application-oa2-client.x"),
            ("client_secret", "secret"),
            ("redirect_uri", "http://localhost"),
        ])
        .send()
        .await
        .unwrap();
    let (status, tokens) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let form_access = tokens["access_token"].as_str().unwrap().to_string();
    assert!(form_access.starts_with("Atza|"));
    assert_ne!(
        form_access, access,
        "every refresh issues a new access token"
    );
    let (status, _) = ctx
        .send_as(&form_access, Method::GET, &ctx.m("account/info"), None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // A bad refresh token.
    for bad in ["Atzr|not-a-token", ctx.token.as_str()] {
        let response = ctx
            .client
            .post(ctx.server.token_url())
            .form(&[("grant_type", "refresh_token"), ("refresh_token", bad)])
            .send()
            .await
            .unwrap();
        let content_type = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_shape("oauth_error_invalid_grant.json", &body);
        assert_eq!(body, fixture("oauth_error_invalid_grant.json"));
    }
}

#[tokio::test]
async fn a_configured_client_refuses_other_credentials() {
    let id = "amzn1.application-oa2-client.0123456789abcdef";
    let secret = "se cr/et+=&%";
    let ctx = Ctx::with(MockServer::builder().client(id, secret)).await;
    let refresh = ctx.refresh.clone();
    let grant = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];

    let response = go_oauth2_basic(ctx.client.post(ctx.server.token_url()), id, secret)
        .form(&grant)
        .send()
        .await
        .unwrap();
    let (status, tokens) = json_of(response).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the right client over Basic: {tokens}"
    );
    let response = ctx
        .client
        .post(ctx.server.token_url())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap();
    let (status, tokens) = json_of(response).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the right client over the form: {tokens}"
    );

    let wrong_basic = go_oauth2_basic(ctx.client.post(ctx.server.token_url()), id, "wrong");
    let wrong_form = ctx.client.post(ctx.server.token_url()).form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", "someone-else"),
        ("client_secret", secret),
    ]);
    let nothing = ctx.client.post(ctx.server.token_url());
    for (what, request) in [
        ("wrong Basic secret", wrong_basic.form(&grant)),
        ("wrong form client", wrong_form),
        ("no credentials", nothing.form(&grant)),
    ] {
        let (status, body) = json_of(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(body, fixture("oauth_error_invalid_client.json"), "{what}");
        assert_shape("oauth_error_invalid_client.json", &body);
    }
}

#[tokio::test]
async fn expired_missing_and_unknown_access_tokens_are_401() {
    let ctx = Ctx::start().await;
    let info = ctx.m("account/info");
    let expected = fixture("error_401_token_expired.json");

    // Minted already expired.
    let minted = ctx
        .admin_client
        .mint_token(&MintRequest {
            lifetime_secs: Some(0),
            ..MintRequest::default()
        })
        .await
        .unwrap();
    let stale = minted.access_token;
    let (status, body) = ctx.send_as(&stale, Method::GET, &info, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, expected);
    ctx.snapshots()
        .bind(|| insta::assert_json_snapshot!("error_401_token_expired", body));

    // Expired on demand.
    let minted = ctx
        .admin_client
        .mint_token(&MintRequest::default())
        .await
        .unwrap();
    let token = minted.access_token.clone();
    assert_eq!(
        ctx.send_as(&token, Method::GET, &info, None).await.0,
        StatusCode::OK
    );
    ctx.admin_client.expire_token(&token).await.unwrap();
    let (status, body) = ctx.send_as(&token, Method::GET, &info, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, expected);
    // The refresh token still gets a working access token.
    let refresh = minted.refresh_token.as_str();
    let (status, renewed) = json_of(
        ctx.client
            .post(ctx.server.token_url())
            .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let renewed = renewed["access_token"].as_str().unwrap();
    assert_eq!(
        ctx.send_as(renewed, Method::GET, &info, None).await.0,
        StatusCode::OK
    );

    // No Authorization, garbage, a refresh token used as a bearer: 401 everywhere.
    let (status, body) = anonymous(Method::GET, &info).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, expected);
    for bad in ["garbage", ctx.refresh.as_str(), ""] {
        let (status, body) = ctx.send_as(bad, Method::GET, &info, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad:?}");
        assert_eq!(body, expected);
    }
    for (method, url) in [
        (Method::GET, ctx.server.endpoint_url()),
        (Method::GET, ctx.m("nodes?filters=isRoot%3Atrue")),
        (Method::POST, ctx.m("changes")),
        (Method::POST, ctx.c("nodes")),
        (Method::PUT, ctx.m("trash/AAAAAAAAAAAAAAAAAAAAAA")),
    ] {
        let (status, body) = ctx.send_as(&stale, method.clone(), &url, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {url}");
        assert_eq!(body, expected, "{method} {url}");
    }
}

#[tokio::test]
async fn accounts_have_their_own_trees() {
    let ctx = Ctx::start().await;
    ctx.server
        .create_account("second@example.com", "pw2")
        .unwrap();
    let other = ctx
        .server
        .mint_token(Some("second@example.com"))
        .unwrap()
        .access_token;
    // A third account through the admin API.
    let third = NewAccount {
        email: "third@example.com".into(),
        ..NewAccount::default()
    };
    let third = ctx.admin_client.create_account(&third).await.unwrap();
    let third_tokens = ctx
        .admin_client
        .mint_token(&MintRequest::for_account("third@example.com"))
        .await
        .unwrap();
    let third_token = third_tokens.access_token.as_str();

    let root_query = ctx.m("nodes?filters=kind%3AFOLDER+AND+isRoot%3Atrue");
    let root_a = ctx.root_id().await;
    let (_, b_roots) = ctx.send_as(&other, Method::GET, &root_query, None).await;
    let (_, c_roots) = ctx
        .send_as(third_token, Method::GET, &root_query, None)
        .await;
    assert_eq!(b_roots["count"], 1);
    let root_b = id_of(&b_roots["data"][0]);
    let root_c = id_of(&c_roots["data"][0]);
    assert_ne!(root_a, root_b);
    assert_ne!(root_b, root_c);
    assert_eq!(third.root_id, root_c.as_str());

    let folder = id_of(&ctx.mkdir(&root_a, "OnlyA").await);
    let file = id_of(&ctx.upload_file(&folder, "a.txt", b"only a").await);
    let search = ctx.m(&format!("nodes?filters={}", form("name:\"OnlyA\"")));
    let (_, found) = ctx.send_as(&other, Method::GET, &search, None).await;
    assert_eq!(found["count"], 0, "B does not see A's folder");
    for (method, url) in [
        (Method::GET, ctx.m(&format!("nodes/{folder}"))),
        (Method::GET, ctx.m(&format!("nodes/{folder}/children"))),
        (Method::GET, ctx.c(&format!("nodes/{file}/content"))),
        (Method::PUT, ctx.m(&format!("trash/{file}"))),
        (
            Method::GET,
            ctx.m(&format!("nodes/{file}/properties/MyApp")),
        ),
    ] {
        let (status, body) = ctx.send_as(&other, method.clone(), &url, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {url}: {body}");
        assert_error_body(&body);
    }
    let (status, body) = ctx
        .send_as(
            &other,
            Method::POST,
            &ctx.m("nodes"),
            Some(&json!({"name": "Intruder", "kind": "FOLDER", "parents": [folder]})),
        )
        .await;
    assert_client_error(status, &body, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], "One of the parentId doesn't exists");
    // The same name in B's own root is no conflict; A's changes feed does not see it.
    let (status, mine) = ctx
        .send_as(
            &other,
            Method::POST,
            &ctx.m("nodes"),
            Some(&json!({"name": "OnlyA", "kind": "FOLDER", "parents": [root_b]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{mine}");
    let (_, text) = ctx.changes(&json!({})).await;
    let (lines, _) = change_lines(&text);
    let seen = node_ids_of_lines(&lines);
    assert!(seen.contains(&folder) && !seen.contains(&id_of(&mine)));
    let (_, quota_b) = ctx
        .send_as(&other, Method::GET, &ctx.m("account/quota"), None)
        .await;
    assert_eq!(
        quota_b["available"], quota_b["quota"],
        "A's upload does not count for B"
    );
}

// ---- 13. bad input --------------------------------------------------------------------------

#[tokio::test]
async fn bad_json_bodies_are_400() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let file = id_of(&ctx.upload_file(&root, "target.txt", b"target").await);
    let nodes = ctx.m("nodes");
    let raw_cases: Vec<(&str, String)> = vec![
        ("malformed JSON", "{\"name\": \"x\", ".into()),
        ("not an object", "[1, 2, 3]".into()),
        ("empty body", String::new()),
        (
            "name of the wrong type",
            format!("{{\"name\":5,\"kind\":\"FOLDER\",\"parents\":[\"{root}\"]}}"),
        ),
    ];
    for (what, body) in raw_cases {
        let response = ctx
            .req(Method::POST, &nodes)
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert_error_body(&body);
    }
    let names: Vec<(&str, Value)> = vec![
        ("missing name", json!({"kind": "FOLDER", "parents": [root]})),
        (
            "empty name",
            json!({"name": "", "kind": "FOLDER", "parents": [root]}),
        ),
        (
            "slash",
            json!({"name": "a/b", "kind": "FOLDER", "parents": [root]}),
        ),
        (
            "NUL",
            json!({"name": "a\u{0}b", "kind": "FOLDER", "parents": [root]}),
        ),
        (
            "dot",
            json!({"name": ".", "kind": "FOLDER", "parents": [root]}),
        ),
        (
            "dot dot",
            json!({"name": "..", "kind": "FOLDER", "parents": [root]}),
        ),
        ("missing kind", json!({"name": "k", "parents": [root]})),
        (
            "bad kind",
            json!({"name": "k", "kind": "BANANA", "parents": [root]}),
        ),
        (
            "empty parents",
            json!({"name": "k", "kind": "FOLDER", "parents": []}),
        ),
        (
            "missing parent",
            json!({"name": "k", "kind": "FOLDER", "parents": ["AAAAAAAAAAAAAAAAAAAAAA"]}),
        ),
        (
            "file parent",
            json!({"name": "k", "kind": "FOLDER", "parents": [file]}),
        ),
    ];
    for (what, body) in &names {
        let (status, reply) = ctx.send(Method::POST, &nodes, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {reply}");
        assert_error_body(&reply);
        assert_shape("error_400.json", &reply);
    }
    // The same names refused by PATCH and by upload.
    for name in ["", "a/b", "a\u{0}b", ".", ".."] {
        let (status, reply) = ctx
            .send(
                Method::PATCH,
                &ctx.m(&format!("nodes/{file}")),
                Some(&json!({"name": name})),
            )
            .await;
        assert_client_error(status, &reply, StatusCode::BAD_REQUEST);
        let (status, reply) = ctx.upload(&root, name, b"bad name").await;
        assert_client_error(status, &reply, StatusCode::BAD_REQUEST);
    }
    let response = ctx
        .req(Method::PATCH, &ctx.m(&format!("nodes/{file}")))
        .body("{oops")
        .send()
        .await
        .unwrap();
    let (status, reply) = json_of(response).await;
    assert_client_error(status, &reply, StatusCode::BAD_REQUEST);
    let (status, reply) = ctx
        .send(
            Method::POST,
            &ctx.m(&format!("nodes/{root}/children")),
            Some(&json!({"fromParent": root})),
        )
        .await;
    assert_client_error(status, &reply, StatusCode::BAD_REQUEST);
    let (status, reply) = ctx
        .send(
            Method::PUT,
            &ctx.m(&format!("nodes/{file}/properties/MyApp/k")),
            Some(&json!({})),
        )
        .await;
    assert_client_error(status, &reply, StatusCode::BAD_REQUEST);
    let (status, reply) = ctx.changes(&json!({"chunkSize": "lots"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    // The node is untouched by all this.
    let (_, node) = ctx.node(&file).await;
    assert_eq!(node["name"], "target.txt");
}

#[tokio::test]
async fn oversized_json_body_is_400() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let body = json!({
        "name": "huge",
        "kind": "FOLDER",
        "parents": [root],
        "description": "x".repeat(1024 * 1024 + 10),
    });
    let (status, reply) = ctx.send(Method::POST, &ctx.m("nodes"), Some(&body)).await;
    assert_client_error(status, &reply, StatusCode::BAD_REQUEST);
    assert_eq!(ctx.lookup(&root, "huge").await["count"], 0);
    // The same limit on the other JSON endpoints.
    let big = "x".repeat(1024 * 1024 + 10);
    for (method, url, body) in [
        (
            Method::PATCH,
            ctx.m(&format!("nodes/{root}")),
            json!({"description": big}),
        ),
        (
            Method::PUT,
            ctx.m(&format!("nodes/{root}/properties/MyApp/k")),
            json!({"value": big}),
        ),
        (Method::POST, ctx.m("changes"), json!({"checkpoint": big})),
    ] {
        let (status, reply) = ctx.send(method.clone(), &url, Some(&body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {url}: {reply}");
        assert_error_body(&reply);
    }
}

#[test]
fn the_shape_checker_catches_differences() {
    let file = fixture("node_file.json");
    assert!(shape_matches("node_file.json", &file));
    let mut missing = file.clone();
    missing.as_object_mut().unwrap().remove("modifiedDate");
    assert!(!shape_matches("node_file.json", &missing), "a missing key");
    let mut extra = file.clone();
    extra["tempLink"] = json!("x");
    assert!(!shape_matches("node_file.json", &extra), "an extra key");
    let mut retyped = file.clone();
    retyped["contentProperties"]["size"] = json!("12");
    assert!(
        !shape_matches("node_file.json", &retyped),
        "a nested type change"
    );
    let mut reordered = serde_json::Map::new();
    let object = file.as_object().unwrap();
    for key in object.keys().rev() {
        reordered.insert(key.clone(), object[key].clone());
    }
    assert!(
        !shape_matches("node_file.json", &Value::Object(reordered)),
        "node key order"
    );
    let mut bad_parents = file.clone();
    bad_parents["parents"] = json!([1]);
    assert!(
        !shape_matches("node_file.json", &bad_parents),
        "array element type"
    );
    // Envelopes compare key sets, not order; empty arrays match any element shape.
    assert!(shape_matches(
        "list_empty.json",
        &json!({"data": [], "count": 0})
    ));
    assert!(!shape_matches(
        "list_empty.json",
        &json!({"data": null, "count": 0})
    ));
    assert!(shape_matches(
        "list_last_page.json",
        &json!({"data": [file], "count": 1})
    ));
}

#[tokio::test]
async fn unknown_ids_paths_and_methods() {
    let ctx = Ctx::start().await;
    let missing = "-Fp3sQy7R4e9kTzWmX1uBw";
    let (status, body) = ctx.node(missing).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_error_body(&body);
    assert_eq!(body["message"], format!("Node does not exist: {missing}"));
    assert_shape("error_404.json", &body);
    ctx.snapshots()
        .bind(|| insta::assert_json_snapshot!("error_404", body));
    for (method, url, body) in [
        (
            Method::PATCH,
            ctx.m(&format!("nodes/{missing}")),
            Some(json!({"name": "x"})),
        ),
        (Method::PUT, ctx.m(&format!("trash/{missing}")), None),
        (
            Method::POST,
            ctx.m(&format!("trash/{missing}/restore")),
            None,
        ),
        (
            Method::GET,
            ctx.c(&format!("nodes/{missing}/content")),
            None,
        ),
        (
            Method::GET,
            ctx.m(&format!("nodes/{missing}/properties/MyApp")),
            None,
        ),
        (Method::GET, ctx.m("no/such/path"), None),
    ] {
        let (status, reply) = ctx.send(method.clone(), &url, body.as_ref()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {url}: {reply}");
        assert_error_body(&reply);
    }
    // A known path with the wrong method: 405 with the JSON error body.
    for (method, url) in [
        (Method::DELETE, ctx.m("account/info")),
        (Method::PATCH, ctx.m("account/endpoint")),
        (Method::DELETE, ctx.m("trash")),
        (Method::GET, ctx.m("changes")),
        (Method::GET, ctx.c("nodes")),
        (Method::GET, ctx.server.token_url()),
    ] {
        let response = ctx.req(method.clone(), &url).send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {url}: {text:?}"
        );
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {url}: 405 body is not JSON ({e}): {text:?}"));
        assert_error_body(&body);
    }
}

#[tokio::test]
async fn bad_upload_bodies_are_400() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let metadata = Part::metadata(&file_metadata("bad.txt", &root));
    let cases: Vec<(&str, Option<String>, Vec<u8>)> = vec![
        (
            "metadata without a content part",
            Some(multipart_type()),
            multipart_body(std::slice::from_ref(&metadata), b""),
        ),
        (
            "content without a metadata part",
            Some(multipart_type()),
            multipart_body(&[Part::content(b"data")], b""),
        ),
        (
            "content before metadata",
            Some(multipart_type()),
            multipart_body(&[Part::content(b"data"), metadata.clone()], b""),
        ),
        (
            "metadata that is not JSON",
            Some(multipart_type()),
            multipart_body(
                &[
                    Part {
                        body: b"{not json".to_vec(),
                        ..metadata.clone()
                    },
                    Part::content(b"data"),
                ],
                b"",
            ),
        ),
        ("not multipart at all", None, b"just some bytes".to_vec()),
        (
            "a JSON body",
            Some("application/json".into()),
            b"{\"name\":\"bad.txt\"}".to_vec(),
        ),
        (
            "multipart type, garbage body",
            Some(multipart_type()),
            b"garbage".to_vec(),
        ),
        (
            "multipart without a boundary parameter",
            Some("multipart/form-data".into()),
            multipart_body(&[metadata.clone(), Part::content(b"data")], b""),
        ),
        (
            "a truncated body",
            Some(multipart_type()),
            multipart_body(&[metadata.clone(), Part::content(b"data")], b"")[..60].to_vec(),
        ),
    ];
    for (what, content_type, body) in cases {
        for query in ["nodes?suppress=deduplication", "nodes"] {
            let mut request = ctx.req(Method::POST, &ctx.c(query)).body(body.clone());
            if let Some(content_type) = &content_type {
                request = request.header(header::CONTENT_TYPE, content_type);
            }
            let (status, reply) = json_of(request.send().await.unwrap()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {reply}");
            // A body the parser cannot read gets the service's bare 400 (§6.5); the
            // mock's other refusals its usual error shape.
            if reply != fixture("error_400_cannot_read_request.json") {
                assert_error_body(&reply);
            }
        }
    }
    // An empty multipart body with an explicit Content-Length: 0 is a 400; one with neither
    // Content-Length nor chunked framing is the 411 of the service's code table (§7.2).
    let response = ctx
        .req(Method::POST, &ctx.c("nodes?suppress=deduplication"))
        .header(header::CONTENT_TYPE, multipart_type())
        .header(header::CONTENT_LENGTH, "0")
        .body(Vec::<u8>::new())
        .send()
        .await
        .unwrap();
    let (status, reply) = json_of(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reply, fixture("error_400_cannot_read_request.json"));
    let response = ctx
        .req(Method::POST, &ctx.c("nodes?suppress=deduplication"))
        .header(header::CONTENT_TYPE, multipart_type())
        .send()
        .await
        .unwrap();
    let (status, reply) = json_of(response).await;
    assert_client_error(status, &reply, StatusCode::LENGTH_REQUIRED);
    assert_eq!(ctx.lookup(&root, "bad.txt").await["count"], 0);
    // Overwrite without a content part.
    let id = id_of(&ctx.upload_file(&root, "good.txt", b"good").await);
    let response = ctx
        .multipart_request(
            Method::PUT,
            &ctx.c(&format!("nodes/{id}/content")),
            multipart_body(&[], b""),
            false,
        )
        .await;
    let (status, reply) = json_of(response).await;
    assert_client_error(status, &reply, StatusCode::BAD_REQUEST);
    assert_eq!(ctx.download(&id).await, b"good");
}

// ---- 14. admin API --------------------------------------------------------------------------

#[tokio::test]
async fn admin_health_seed_and_reset() {
    let ctx = Ctx::start().await;
    let (status, health) = json_of(ctx.client.get(ctx.admin("health")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health, json!({"status": "ok", "accounts": 1}));

    let big = 10 * 1024 * 1024;
    let (status, seeded) = ctx
        .admin_post(
            "seed",
            Some(&json!({"nodes": [{
                "name": "Seeded",
                "children": [
                    {"name": "hello.txt", "content": "hello world\n"},
                    {"name": "notes.md", "content": "# Notes\n\nBuy milk.\n"},
                    {"name": "Empty", "kind": "FOLDER"},
                    {"name": "Nested", "children": [{"name": "deep.txt", "content": "deep"}]},
                    {"name": "big.bin", "size": big, "seed": 7},
                ],
            }]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{seeded}");
    let created = seeded["created"].as_array().unwrap();
    let paths: Vec<&str> = created
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "Seeded",
            "Seeded/hello.txt",
            "Seeded/notes.md",
            "Seeded/Empty",
            "Seeded/Nested",
            "Seeded/Nested/deep.txt",
            "Seeded/big.bin"
        ]
    );
    let id_at = |path: &str| {
        created
            .iter()
            .find(|c| c["path"] == path)
            .map(|c| c["id"].as_str().unwrap().to_string())
            .unwrap()
    };
    let root = ctx.root_id().await;
    assert_eq!(
        ids(&ctx.lookup(&root, "Seeded").await),
        vec![id_at("Seeded")]
    );
    let (_, children) = ctx
        .get(&ctx.m(&format!("nodes/{}/children", id_at("Seeded"))))
        .await;
    assert_eq!(children["count"], 5);
    let (_, hello) = ctx.node(&id_at("Seeded/hello.txt")).await;
    assert_eq!(
        hello["contentProperties"]["md5"],
        "6f5902ac237024bdd0c176cb93063dc4"
    );
    assert_eq!(hello["contentProperties"]["contentType"], "text/plain");
    assert_eq!(
        ctx.download(&id_at("Seeded/hello.txt")).await,
        b"hello world\n"
    );
    let (_, notes) = ctx.node(&id_at("Seeded/notes.md")).await;
    assert_eq!(
        notes["contentProperties"]["md5"],
        "212bd5fd45a2b4b2d7f942fafe065e4b"
    );
    assert_eq!(notes["contentProperties"]["size"], 19);
    let (_, empty) = ctx.node(&id_at("Seeded/Empty")).await;
    assert_eq!(empty["kind"], "FOLDER");

    // The synthetic 10 MiB file: its bytes hash to the advertised md5.
    let big_id = id_at("Seeded/big.bin");
    let (_, big_node) = ctx.node(&big_id).await;
    assert_eq!(big_node["contentProperties"]["size"], big);
    let bytes = ctx.download(&big_id).await;
    assert_eq!(bytes.len(), big);
    assert_eq!(big_node["contentProperties"]["md5"], md5_hex(&bytes));
    let response = ctx
        .req(Method::GET, &ctx.c(&format!("nodes/{big_id}/content")))
        .header(header::RANGE, "bytes=5000000-5000099")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        &bytes[5_000_000..5_000_100]
    );
    let (_, quota) = ctx.get(&ctx.m("account/quota")).await;
    assert!(quota["available"].as_u64().unwrap() <= 5 * 1024 * 1024 * 1024 - big as u64);

    // Seeding a name that exists is refused like the API would.
    let (status, clash) = ctx
        .admin_post(
            "seed",
            Some(&json!({"nodes": [{"name": "SEEDED", "kind": "FOLDER"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{clash}");

    // Reset one account: new empty tree, tokens still valid, old checkpoints reset the feed.
    let (_, text) = ctx.changes(&json!({})).await;
    let (lines, _) = change_lines(&text);
    let checkpoint = lines.last().unwrap()["checkpoint"].clone();
    let (status, reset) = ctx
        .admin_post("reset", Some(&json!({"account": "user@example.com"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{reset}");
    let new_root = ctx.root_id().await;
    assert_ne!(new_root, root);
    assert_eq!(ctx.list(&format!("parents:{new_root}")).await["count"], 0);
    let (_, text) = ctx.changes(&json!({"checkpoint": checkpoint})).await;
    let (lines, _) = change_lines(&text);
    assert_eq!(lines[0]["reset"], true, "{text}");
    assert_eq!(node_ids_of_lines(&lines), vec![new_root.clone()]);
    let (status, _) = ctx.node(&big_id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Reset everything: tokens are gone, the default account is made again.
    ctx.mkdir(&new_root, "Before reset").await;
    let (status, reset) = ctx.admin_post("reset", None).await;
    assert_eq!(status, StatusCode::OK, "{reset}");
    assert_eq!(reset, json!({"reset": "all"}));
    let (status, body) = ctx.get(&ctx.m("account/info")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, fixture("error_401_token_expired.json"));
    let fresh = ctx.server.mint_token(None).unwrap().access_token;
    let (status, roots) = ctx
        .send_as(
            &fresh,
            Method::GET,
            &ctx.m("nodes?filters=isRoot%3Atrue"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let fresh_root = id_of(&roots["data"][0]);
    assert_ne!(fresh_root, new_root);
    let (_, listing) = ctx
        .send_as(
            &fresh,
            Method::GET,
            &ctx.m(&format!(
                "nodes?filters={}",
                form(&format!("parents:{fresh_root}"))
            )),
            None,
        )
        .await;
    assert_eq!(listing["count"], 0);
    let (_, health) = json_of(ctx.client.get(ctx.admin("health")).send().await.unwrap()).await;
    assert_eq!(health["accounts"], 1);
}

#[tokio::test]
async fn journal_names_operations_and_hides_secrets() {
    let ctx = Ctx::start().await;
    ctx.get(&ctx.server.endpoint_url()).await;
    let root = ctx.root_id().await;
    let folder = id_of(&ctx.mkdir(&root, "Journal").await);
    ctx.lookup(&root, "Journal").await;
    let file = id_of(&ctx.upload_file(&folder, "j.txt", b"journal").await);
    ctx.download(&file).await;
    // A token in the query string must not be recorded either.
    let (status, _) = ctx
        .get(&ctx.m(&format!("account/info?access_token={}", form(&ctx.token))))
        .await;
    assert_eq!(status, StatusCode::OK);
    let secret = "a-client-secret-value";
    let response = ctx
        .client
        .post(ctx.server.token_url())
        .basic_auth("client", Some(secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", ctx.refresh.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let response = ctx.client.get(ctx.admin("journal")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let token_body = ctx.token.trim_start_matches("Atza|");
    let refresh_body = ctx.refresh.trim_start_matches("Atzr|");
    assert!(
        !text.contains(&ctx.token) && !text.contains(token_body),
        "the access token leaked"
    );
    assert!(
        !text.contains(&form(token_body)),
        "the access token leaked (encoded)"
    );
    assert!(!text.contains(refresh_body), "the refresh token leaked");
    assert!(!text.contains(secret), "the client secret leaked");
    let journal: Value = serde_json::from_str(&text).unwrap();
    let entries = journal["entries"].as_array().unwrap();
    let operations: Vec<&str> = entries
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    for expected in [
        "endpoint",
        "root",
        "create_folder",
        "lookup",
        "upload",
        "download",
        "account",
        "token",
    ] {
        assert!(
            operations.contains(&expected),
            "{expected} missing from {operations:?}"
        );
    }
    assert!(
        !operations.contains(&"admin"),
        "admin calls are not journaled"
    );
    let upload = entries.iter().find(|e| e["operation"] == "upload").unwrap();
    assert_eq!(upload["method"], "POST");
    assert_eq!(upload["path"], "/cdproxy/nodes");
    assert_eq!(upload["status"], 201);
    assert_eq!(upload["authorization"], "Bearer <redacted>");
    let mut seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    let sorted = {
        let mut s = seqs.clone();
        s.sort_unstable();
        s
    };
    assert_eq!(seqs, sorted, "oldest first");
    seqs.dedup();
    assert_eq!(seqs.len(), entries.len());

    // Filtered by operation.
    let (_, uploads) = json_of(
        ctx.client
            .get(format!("{}?operation=upload", ctx.admin("journal")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let only: Vec<&Value> = uploads["entries"].as_array().unwrap().iter().collect();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["operation"], "upload");

    // Cleared.
    let response = ctx
        .client
        .delete(ctx.admin("journal"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (_, empty) = json_of(ctx.client.get(ctx.admin("journal")).send().await.unwrap()).await;
    assert_eq!(empty, json!({"entries": []}));
}

// ---- more behaviour the reference pins down -------------------------------------------------

#[tokio::test]
async fn rclone_move_fallback_through_the_trash() {
    // §8.5: when the rename fails, rclone trashes the node, renames it there, adds the new
    // parent, removes the old one and restores it; none of these may conflict while trashed.
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let a = id_of(&ctx.mkdir(&root, "A").await);
    let b = id_of(&ctx.mkdir(&root, "B").await);
    let node = id_of(&ctx.upload_file(&a, "report.txt", b"the report").await);
    let blocker = id_of(&ctx.upload_file(&a, "Final.txt", b"blocker").await);
    let patch = ctx.m(&format!("nodes/{node}"));

    let (status, _) = ctx
        .send(Method::PATCH, &patch, Some(&json!({"name": "final.txt"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "the fast path fails");
    let (status, trashed) = ctx.trash(&node).await;
    assert_eq!(status, StatusCode::OK, "{trashed}");
    let (status, renamed) = ctx
        .send(Method::PATCH, &patch, Some(&json!({"name": "final.txt"})))
        .await;
    assert_eq!(status, StatusCode::OK, "rename while trashed: {renamed}");
    let (status, added) = ctx
        .send(
            Method::PUT,
            &ctx.m(&format!("nodes/{b}/children/{node}")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "add parent while trashed: {added}");
    assert_eq!(added["parents"], json!([a, b]));
    let (status, removed) = ctx
        .send(
            Method::DELETE,
            &ctx.m(&format!("nodes/{a}/children/{node}")),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "remove parent while trashed: {removed}"
    );
    assert_eq!(removed["parents"], json!([b]));
    assert_eq!(removed["status"], "TRASH");
    let (status, restored) = ctx.restore(&node).await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!(restored["status"], "AVAILABLE");
    assert_eq!(restored["name"], "final.txt");
    assert_eq!(restored["parents"], json!([b]));
    assert_eq!(ids(&ctx.lookup(&b, "final.txt").await), vec![node.clone()]);
    assert_eq!(ids(&ctx.lookup(&a, "Final.txt").await), vec![blocker]);
    assert_eq!(ctx.download(&node).await, b"the report");
}

#[tokio::test]
async fn upload_name_clashes_are_409_ignoring_case() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let first = id_of(&ctx.upload_file(&root, "IMG_2158.CR2", b"raw photo").await);
    let (status, clash) = ctx.upload(&root, "img_2158.cr2", b"another photo").await;
    assert_eq!(status, StatusCode::CONFLICT, "{clash}");
    assert_eq!(
        clash["message"],
        format!(
            "Node with the name img_2158.cr2 already exists under parentId {root} conflicting NodeId: {first}"
        )
    );
    assert_eq!(clash["code"], "NAME_ALREADY_EXISTS");
    assert_eq!(clash["info"]["nodeId"], first.as_str());
    assert_shape("error_409_name_exists.json", &clash);
    // Folders and files share one namespace.
    let folder = id_of(&ctx.mkdir(&root, "Stuff").await);
    let (status, clash) = ctx
        .upload(&root, "STUFF", b"a file named like a folder")
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{clash}");
    assert_eq!(clash["info"]["nodeId"], folder.as_str());
    let (status, clash) = ctx
        .send(
            Method::POST,
            &ctx.m("nodes"),
            Some(&json!({"name": "Img_2158.Cr2", "kind": "FOLDER", "parents": [root]})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{clash}");
    assert_eq!(clash["info"]["nodeId"], first.as_str());
    assert_eq!(
        ctx.download(&first).await,
        b"raw photo",
        "the existing file is untouched"
    );
    // Case folding is Unicode-aware, and the message carries the lowercased name.
    let umlaut = id_of(&ctx.upload_file(&root, "ÄÖÜ Straße.txt", b"umlaut").await);
    let (status, clash) = ctx.upload(&root, "äöü straße.TXT", b"same name").await;
    assert_eq!(status, StatusCode::CONFLICT, "{clash}");
    assert_eq!(
        clash["message"],
        format!(
            "Node with the name äöü straße.txt already exists under parentId {root} conflicting NodeId: {umlaut}"
        )
    );
}

#[tokio::test]
async fn uploads_beyond_the_quota_are_403() {
    let ctx = Ctx::with(MockServer::builder().quota(100)).await;
    let root = ctx.root_id().await;
    let first = id_of(&ctx.upload_file(&root, "sixty.bin", &noise(60, 11)).await);
    let (_, quota) = ctx.get(&ctx.m("account/quota")).await;
    assert_eq!(quota["quota"], 100);
    assert_eq!(quota["available"], 40);

    let (status, body) = ctx.upload(&root, "more.bin", &noise(60, 12)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_error_body(&body);
    assert_eq!(ctx.lookup(&root, "more.bin").await["count"], 0);

    let response = ctx
        .multipart_request(
            Method::PUT,
            &ctx.c(&format!("nodes/{first}/content")),
            multipart_body(&[Part::content(&noise(150, 13))], b""),
            false,
        )
        .await;
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_error_body(&body);
    assert_eq!(ctx.download(&first).await, noise(60, 11));
    // Replacing 60 bytes with 90 fits.
    let response = ctx
        .multipart_request(
            Method::PUT,
            &ctx.c(&format!("nodes/{first}/content")),
            multipart_body(&[Part::content(&noise(90, 14))], b""),
            false,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, quota) = ctx.get(&ctx.m("account/quota")).await;
    assert_eq!(quota["available"], 10);
}

#[tokio::test]
async fn other_filter_forms_clients_send() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let folder = id_of(&ctx.mkdir(&root, "Filtered").await);
    let hello = id_of(
        &ctx.upload_file(&folder, "Hello.txt", b"hello world\n")
            .await,
    );
    let other = id_of(&ctx.upload_file(&root, "other.bin", b"other").await);
    let gone = id_of(&ctx.mkdir(&folder, "GoneFolder").await);
    ctx.trash(&gone).await;

    // The C# client looks files up by md5.
    let by_md5 = ctx
        .list("contentProperties.md5:6f5902ac237024bdd0c176cb93063dc4")
        .await;
    assert_eq!(ids(&by_md5), vec![hello.clone()]);
    // acd_cli's whole-account queries.
    let files = ids(&ctx.list("kind:FILE").await);
    assert_eq!(sorted(files), sorted(vec![hello.clone(), other.clone()]));
    let folders = ids(&ctx.list("kind:FOLDER").await);
    assert!(folders.contains(&root) && folders.contains(&folder) && !folders.contains(&gone));
    assert_eq!(
        ids(&ctx.list("status:TRASH AND kind:FOLDER").await),
        vec![gone]
    );
    assert_eq!(
        ids(&ctx.list(&format!("parents:{folder} AND kind:FILE")).await),
        vec![hello.clone()]
    );

    // name: is case-sensitive by default (§5.4); the switch makes it ignore case.
    assert_eq!(ctx.lookup(&folder, "HELLO.TXT").await["count"], 0);
    assert_eq!(ids(&ctx.lookup(&folder, "Hello.txt").await), vec![hello]);
    let insensitive =
        Ctx::with(MockServer::builder().name_match(acd_mock::NameMatch::CaseInsensitive)).await;
    let root = insensitive.root_id().await;
    let id = id_of(&insensitive.upload_file(&root, "Hello.txt", b"hi").await);
    assert_eq!(ids(&insensitive.lookup(&root, "HELLO.TXT").await), vec![id]);
}

#[tokio::test]
async fn the_default_page_size_applies_without_a_limit() {
    let ctx = Ctx::with(MockServer::builder().page_size(3)).await;
    let root = ctx.root_id().await;
    let folder = id_of(&ctx.mkdir(&root, "Many").await);
    let mut made = Vec::new();
    for i in 0..7 {
        made.push(id_of(
            &ctx.upload_file(&folder, &format!("n{i}.txt"), format!("n{i}").as_bytes())
                .await,
        ));
    }
    // go-acd's listNodes loop: follow nextToken until it is missing.
    let mut sizes = Vec::new();
    let mut seen = Vec::new();
    let mut url = ctx.m(&format!(
        "nodes?filters={}",
        form(&format!("parents:{folder}"))
    ));
    loop {
        let (status, page) = ctx.get(&url).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_list_envelope(&page);
        sizes.push(page["data"].as_array().unwrap().len());
        seen.extend(ids(&page));
        match page.get("nextToken") {
            Some(token) => {
                url = ctx.m(&format!(
                    "nodes?filters={}&startToken={}",
                    form(&format!("parents:{folder}")),
                    form(token.as_str().unwrap())
                ));
            }
            None => break,
        }
        assert!(sizes.len() < 10);
    }
    assert_eq!(sizes, [3, 3, 1]);
    seen.sort();
    made.sort();
    assert_eq!(seen, made);

    // The trash listing pages the same way.
    for id in &made[..4] {
        assert_eq!(ctx.trash(id).await.0, StatusCode::OK);
    }
    let (_, first) = ctx.get(&ctx.m("trash")).await;
    assert_eq!(first["data"].as_array().unwrap().len(), 3);
    let token = first["nextToken"].as_str().expect("a second trash page");
    let (_, second) = ctx
        .get(&ctx.m(&format!("trash?startToken={}", form(token))))
        .await;
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert!(second.get("nextToken").is_none());
}

#[tokio::test]
async fn changes_chunk_size_and_max_nodes() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let (_, text) = ctx.changes(&json!({})).await;
    let (lines, _) = change_lines(&text);
    let cp = lines.last().unwrap()["checkpoint"]
        .as_str()
        .unwrap()
        .to_string();
    let made: Vec<String> = {
        let mut made = Vec::new();
        for name in ["c1", "c2", "c3"] {
            made.push(id_of(&ctx.mkdir(&root, name).await));
        }
        made
    };

    // acd_cli sends numbers as strings; maxNodes is a soft cap.
    let (status, text) = ctx
        .changes(
            &json!({"checkpoint": cp, "chunkSize": "1", "maxNodes": "2", "includePurged": "true"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (lines, end) = change_lines(&text);
    assert_eq!(end, r#"{"end":true}"#);
    lines.iter().for_each(assert_change_line);
    for line in &lines {
        assert!(
            line["nodes"].as_array().unwrap().len() <= 1,
            "chunkSize 1: {line}"
        );
    }
    let first = node_ids_of_lines(&lines);
    assert!(first.len() >= 2, "{text}");
    assert_eq!(first[..2], made[..2]);
    // Continuing from the last checkpoint yields the rest, and nothing twice.
    let cp = lines.last().unwrap()["checkpoint"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, text) = ctx
        .changes(&json!({"checkpoint": cp, "chunkSize": 2}))
        .await;
    let (lines, _) = change_lines(&text);
    let rest = node_ids_of_lines(&lines);
    let mut all = first.clone();
    all.extend(rest);
    assert_eq!(all, made);
}

#[tokio::test]
async fn json_responses_are_labelled_application_json() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    for url in [
        ctx.server.endpoint_url(),
        ctx.m("account/quota"),
        ctx.m(&format!("nodes/{root}")),
        ctx.m("nodes/AAAAAAAAAAAAAAAAAAAAAA"),
    ] {
        let response = ctx.req(Method::GET, &url).send().await.unwrap();
        let content_type = response.headers()[header::CONTENT_TYPE].to_str().unwrap();
        assert!(
            content_type.starts_with("application/json"),
            "{url}: {content_type}"
        );
    }
    let response = client().get(ctx.m("account/info")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let content_type = response.headers()[header::CONTENT_TYPE].to_str().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
}

#[tokio::test]
async fn responses_carry_an_amazon_request_id() {
    // §2: responses carry `x-amzn-RequestId` (acd_cli logs it).
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    for (method, url) in [
        (Method::GET, ctx.m(&format!("nodes/{root}"))),
        (Method::GET, ctx.m("nodes/AAAAAAAAAAAAAAAAAAAAAA")),
        (Method::POST, ctx.c("nodes")),
    ] {
        let response = ctx.req(method.clone(), &url).send().await.unwrap();
        let id = response
            .headers()
            .get("x-amzn-RequestId")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(!id.is_empty(), "{method} {url}: no x-amzn-RequestId header");
    }
}

// ---- second fidelity pass (issue 18, item 5) ------------------------------------------------

#[tokio::test]
async fn properties_of_another_app_are_refused_and_an_empty_owner_is_unknown() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let minted = ctx
        .admin_client
        .mint_token(&MintRequest {
            client_id: Some("PhotoApp".into()),
            ..MintRequest::default()
        })
        .await
        .unwrap();
    let token = minted.access_token;
    // A node the app makes carries its name as createdBy: the owner its properties go under.
    let (status, folder) = ctx
        .send_as(
            &token,
            Method::POST,
            &ctx.m("nodes"),
            Some(&json!({"name": "album", "kind": "FOLDER", "parents": [root]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{folder}");
    assert_eq!(folder["createdBy"], "PhotoApp");
    let id = id_of(&folder);
    let url = |owner: &str, key: Option<&str>| match key {
        Some(key) => ctx.m(&format!("nodes/{id}/properties/{owner}/{key}")),
        None => ctx.m(&format!("nodes/{id}/properties/{owner}")),
    };
    let (status, put) = ctx
        .send_as(
            &token,
            Method::PUT,
            &url("PhotoApp", Some("cover")),
            Some(&json!({"value": "yes"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{put}");
    // Every call naming another app is 403, in the service's error shape (§6.14, §7.2).
    for (method, key) in [
        (Method::GET, None),
        (Method::GET, Some("cover")),
        (Method::PUT, Some("cover")),
        (Method::DELETE, Some("cover")),
    ] {
        let body = (method == Method::PUT).then(|| json!({"value": "no"}));
        let (status, refused) = ctx
            .send_as(&token, method.clone(), &url("OtherApp", key), body.as_ref())
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {key:?}: {refused}");
        assert_error_body(&refused);
        assert_shape("error_403_properties_owner.json", &refused);
        assert_eq!(
            refused["message"],
            fixture("error_403_properties_owner.json")["message"]
        );
    }
    // The app's own are untouched; a minted token (no app) may read any owner's.
    let (_, own) = ctx.get(&url("PhotoApp", None)).await;
    assert_eq!(own, json!({"data": {"cover": "yes"}}));
    // An empty owner: 404 <UnknownOperationException/>, whatever the method and the rest.
    for path in [
        format!("nodes/{id}/properties/"),
        format!("nodes/{id}/properties"),
        format!("nodes/{id}/properties//cover"),
    ] {
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let response = ctx
                .req_as(&token, method.clone(), &ctx.m(&path))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
            assert_eq!(
                response.text().await.unwrap(),
                include_str!("../../fixtures/error_404_unknown_operation.xml"),
                "{method} {path}"
            );
        }
    }
}

#[tokio::test]
async fn a_local_id_maps_to_one_node() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let folder = |name: &str, local_id: &str| json!({"name": name, "kind": "FOLDER", "parents": [root], "localId": local_id});
    let (status, first) = ctx
        .send(Method::POST, &ctx.m("nodes"), Some(&folder("one", "L-1")))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    // Another name, the same localId: 409 naming the first node.
    let (status, again) = ctx
        .send(Method::POST, &ctx.m("nodes"), Some(&folder("two", "L-1")))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert_shape("error_409_local_id.json", &again);
    assert_eq!(again["code"], "LOCAL_ID_ALREADY_EXISTS");
    assert_eq!(again["info"]["nodeId"], first["id"]);
    assert_eq!(
        again["message"],
        format!(
            "Node with the localId L-1 already exists conflicting NodeId: {}",
            id_of(&first)
        )
    );
    assert_eq!(ctx.lookup(&root, "two").await["count"], 0, "nothing made");
    // An upload's metadata localId is the same map.
    let mut metadata = file_metadata("f.txt", &root);
    metadata["localId"] = json!("L-1");
    let body = multipart_body(&[Part::metadata(&metadata), Part::content(b"x")], b"");
    let (status, up) = json_of(
        ctx.post_multipart("nodes?suppress=deduplication", body, false)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{up}");
    assert_eq!(up["info"]["nodeId"], first["id"]);
    metadata["localId"] = json!("L-2");
    let body = multipart_body(&[Part::metadata(&metadata), Part::content(b"x")], b"");
    let (status, file) = json_of(
        ctx.post_multipart("nodes?suppress=deduplication", body, false)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    // The map outlives trashing.
    ctx.trash(&id_of(&first)).await;
    let (status, again) = ctx
        .send(Method::POST, &ctx.m("nodes"), Some(&folder("three", "L-1")))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    // Empty localIds are refused; creates without one are unaffected.
    let (status, body) = ctx
        .send(Method::POST, &ctx.m("nodes"), Some(&folder("four", "")))
        .await;
    assert_client_error(status, &body, StatusCode::BAD_REQUEST);
    ctx.mkdir(&root, "five").await;
    ctx.mkdir(&root, "six").await;
    // Another account has its own map.
    let account = NewAccount {
        email: "other@example.com".into(),
        ..NewAccount::default()
    };
    ctx.admin_client.create_account(&account).await.unwrap();
    let minted = ctx
        .admin_client
        .mint_token(&MintRequest::for_account("other@example.com"))
        .await
        .unwrap();
    let other = minted.access_token.as_str();
    let body = json!({"name": "mine", "kind": "FOLDER", "localId": "L-1"});
    let (status, made) = ctx
        .send_as(other, Method::POST, &ctx.m("nodes"), Some(&body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
}

#[tokio::test]
async fn unreadable_upload_bodies_get_the_services_bare_400() {
    let ctx = Ctx::start().await;
    let root = ctx.root_id().await;
    let mut body = multipart_body(
        &[
            Part::metadata(&file_metadata("cut.bin", &root)),
            Part::content(&[5u8; 4000]),
        ],
        b"",
    );
    // The body ends in the middle of the content part: no closing delimiter.
    body.truncate(body.len() - 2000);
    for chunked in [false, true] {
        let (status, answer) = json_of(
            ctx.post_multipart("nodes?suppress=deduplication", body.clone(), chunked)
                .await,
        )
        .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "chunked {chunked}: {answer}"
        );
        assert_eq!(answer, fixture("error_400_cannot_read_request.json"));
    }
    assert_eq!(ctx.lookup(&root, "cut.bin").await["count"], 0);
}
