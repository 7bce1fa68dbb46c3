#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Large folders: keyset paging stays exact while the folder changes (a property test on the
//! store, and one with a writer thread running beside the reader), `count` stays right under
//! the listing lag, and a 100,000-node folder seeds in one request. Speed is measured by the
//! benchmark (`cargo bench -p acd-mock --bench mock_bench`), not here.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use acd_mock::NameMatch;
use acd_mock::store::filter::{Filter, parse};
use acd_mock::store::meta::{MetaStore, NewNode, Page};
use acd_mock::store::node::{AVAILABLE, FILE, FOLDER};
use common::Ctx;
use proptest::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn new_node(parent: &str, name: &str, kind: &'static str, hidden_ms: i64) -> NewNode {
    NewNode {
        kind,
        name: name.to_string(),
        parents: vec![parent.to_string()],
        created_by: "test".into(),
        labels: Vec::new(),
        description: None,
        content: None,
        status: AVAILABLE,
        hidden_ms,
    }
}

/// A store with one account, a folder `P` in its root and a second folder `Q`.
struct Fixture {
    store: MetaStore,
    account: i64,
    folder: String,
    other: String,
}

fn fixture() -> Fixture {
    let store = MetaStore::open(None, NameMatch::CaseSensitive).unwrap();
    let account = store
        .create_account("a@example.com", "pw", u64::MAX / 4)
        .unwrap();
    let folder = store
        .create(account.id, new_node(&account.root_id, "P", FOLDER, 0), None)
        .unwrap()
        .id;
    let other = store
        .create(account.id, new_node(&account.root_id, "Q", FOLDER, 0), None)
        .unwrap()
        .id;
    Fixture {
        store,
        account: account.id,
        folder,
        other,
    }
}

/// The three ways a client lists a folder: `nodes/{id}/children`, `nodes?filters=parents:P`,
/// and the same with a kind.
#[derive(Debug, Clone, Copy)]
enum Form {
    Children,
    Filter,
    FilesOnly,
}

impl Form {
    fn page(self, f: &Fixture, after: i64, limit: u32) -> Page {
        let (filter, parent): (Filter, Option<&str>) = match self {
            Form::Children => (Filter::default(), Some(&f.folder)),
            Form::Filter => (parse(&format!("parents:{}", f.folder)).unwrap(), None),
            Form::FilesOnly => (
                parse(&format!("parents:{} AND kind:FILE", f.folder)).unwrap(),
                None,
            ),
        };
        f.store
            .search(f.account, &filter, parent, after, limit)
            .unwrap()
    }

    fn lists(self, kind: &str) -> bool {
        !matches!(self, Form::FilesOnly) || kind == FILE
    }
}

/// What happens to the folder between two pages.
#[derive(Debug, Clone)]
enum Op {
    /// A new child (a file, or a folder when `folder`).
    Create { folder: bool },
    /// Trash the n-th live child (modulo their number).
    Trash(usize),
    /// Restore the n-th trashed child.
    Restore(usize),
    /// Move the n-th live child to the other folder.
    MoveOut(usize),
    /// Purge the trash.
    Purge,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<bool>().prop_map(|folder| Op::Create { folder }),
        3 => any::<usize>().prop_map(Op::Trash),
        1 => any::<usize>().prop_map(Op::Restore),
        2 => any::<usize>().prop_map(Op::MoveOut),
        1 => Just(Op::Purge),
    ]
}

/// The model: the folder's children by id, with kind and whether trashed.
#[derive(Debug, Default)]
struct Model {
    children: BTreeMap<String, (&'static str, bool)>,
    created: usize,
}

impl Model {
    fn pick(&self, n: usize, trashed: bool) -> Option<String> {
        let ids: Vec<&String> = self
            .children
            .iter()
            .filter(|(_, (_, t))| *t == trashed)
            .map(|(id, _)| id)
            .collect();
        (!ids.is_empty()).then(|| ids[n % ids.len()].clone())
    }

    fn live(&self, form: Form) -> Vec<String> {
        self.children
            .iter()
            .filter(|(_, (kind, trashed))| !trashed && form.lists(kind))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Applies `op` to the store and the model; returns the ids it touched.
    fn apply(&mut self, f: &Fixture, op: &Op) -> Vec<String> {
        match op {
            Op::Create { folder } => {
                self.created += 1;
                let kind = if *folder { FOLDER } else { FILE };
                let name = format!("new-{}", self.created);
                let id = f
                    .store
                    .create(f.account, new_node(&f.folder, &name, kind, 0), None)
                    .unwrap()
                    .id;
                self.children.insert(id.clone(), (kind, false));
                vec![id]
            }
            Op::Trash(n) => match self.pick(*n, false) {
                Some(id) => {
                    f.store.trash(f.account, &id, 0).unwrap();
                    self.children.get_mut(&id).unwrap().1 = true;
                    vec![id]
                }
                None => Vec::new(),
            },
            Op::Restore(n) => match self.pick(*n, true) {
                Some(id) => {
                    f.store.restore(f.account, &id).unwrap();
                    self.children.get_mut(&id).unwrap().1 = false;
                    vec![id]
                }
                None => Vec::new(),
            },
            Op::MoveOut(n) => match self.pick(*n, false) {
                Some(id) => {
                    f.store
                        .move_node(f.account, &id, &f.folder, &f.other, 0)
                        .unwrap();
                    self.children.remove(&id);
                    vec![id]
                }
                None => Vec::new(),
            },
            Op::Purge => {
                let (purged, _) = f.store.purge(f.account, None, None).unwrap();
                for id in &purged {
                    self.children.remove(id);
                }
                purged
            }
        }
    }
}

/// Lists the folder in pages of `limit`, applying `ops` between pages; checks every page's
/// `count` against the model, and that the listing has no repeats, is in creation order, and
/// holds every child that stayed untouched from the first page to the last.
fn check_listing(initial: &[bool], limit: u32, ops: &[Vec<Op>], form: Form) {
    let f = fixture();
    let mut model = Model::default();
    for (i, folder) in initial.iter().enumerate() {
        let kind = if *folder { FOLDER } else { FILE };
        let id = f
            .store
            .create(
                f.account,
                new_node(&f.folder, &format!("c-{i}"), kind, 0),
                None,
            )
            .unwrap()
            .id;
        model.children.insert(id, (kind, false));
    }
    let before: HashSet<String> = model.live(form).into_iter().collect();
    let mut touched = HashSet::new();
    let mut listed = Vec::new();
    let mut seen = HashSet::new();
    let mut after = 0;
    let mut pages = 0;
    loop {
        let page = form.page(&f, after, limit);
        assert_eq!(
            page.total,
            model.live(form).len() as u64,
            "count on page {pages} ({form:?})"
        );
        assert!(page.nodes.len() <= limit as usize);
        for node in &page.nodes {
            assert!(seen.insert(node.id.clone()), "{} listed twice", node.id);
            assert!(node.seq > after, "out of order");
            after = node.seq;
            listed.push(node.id.clone());
        }
        let Some(next) = page.next_after else { break };
        assert_eq!(Some(next), page.nodes.last().map(|n| n.seq));
        after = next;
        for op in ops.get(pages).into_iter().flatten() {
            touched.extend(model.apply(&f, op));
        }
        pages += 1;
        assert!(pages < 10_000, "the listing does not end");
    }
    for id in before.difference(&touched) {
        assert!(
            seen.contains(id),
            "{id} was there throughout but not listed"
        );
    }
}

fn form() -> impl Strategy<Value = Form> {
    prop_oneof![
        Just(Form::Children),
        Just(Form::Filter),
        Just(Form::FilesOnly)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Keyset paging is exact while the folder changes between pages: no node twice, none
    /// that stayed skipped, `count` always the live number.
    #[test]
    fn paging_is_exact_under_inserts_and_deletes(
        initial in prop::collection::vec(prop::bool::weighted(0.2), 0..120),
        limit in 1u32..25,
        ops in prop::collection::vec(prop::collection::vec(op(), 0..6), 0..40),
        form in form(),
    ) {
        check_listing(&initial, limit, &ops, form);
    }
}

/// Paging while another thread creates and trashes children as fast as it can: no repeats,
/// creation order, and every child that was there throughout is listed.
#[test]
fn paging_is_exact_beside_a_concurrent_writer() {
    let f = Arc::new(fixture());
    let mut stable = HashSet::new();
    for i in 0..600 {
        let id = f
            .store
            .create(
                f.account,
                new_node(&f.folder, &format!("s-{i}"), FILE, 0),
                None,
            )
            .unwrap()
            .id;
        if i % 3 != 0 {
            stable.insert(id);
        }
    }
    let doomed: Vec<String> = {
        let page = Form::Children.page(&f, 0, 600);
        page.nodes
            .iter()
            .map(|n| n.id.clone())
            .filter(|id| !stable.contains(id))
            .collect()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (f, stop) = (Arc::clone(&f), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut i = 0;
            let mut doomed = doomed.into_iter();
            while !stop.load(Ordering::Relaxed) {
                f.store
                    .create(
                        f.account,
                        new_node(&f.folder, &format!("w-{i}"), FILE, 0),
                        None,
                    )
                    .unwrap();
                if let Some(id) = doomed.next() {
                    f.store.trash(f.account, &id, 0).unwrap();
                }
                i += 1;
            }
            i
        })
    };
    for _ in 0..5 {
        let mut seen = HashSet::new();
        let (mut after, mut last) = (0, 0);
        loop {
            let page = Form::Filter.page(&f, after, 7);
            for node in &page.nodes {
                assert!(seen.insert(node.id.clone()), "{} listed twice", node.id);
                assert!(node.seq > last, "out of order");
                last = node.seq;
            }
            match page.next_after {
                Some(next) => after = next,
                None => break,
            }
        }
        for id in &stable {
            assert!(
                seen.contains(id),
                "{id} was there throughout but not listed"
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0);
}

/// `count` follows the listing lag: a node still hidden is not counted, a node trashed or
/// moved away moments ago still is (and is listed), and both stop once the lag is over
/// (here: for nodes the lag does not touch).
#[test]
fn count_follows_the_listing_lag() {
    let f = fixture();
    let lag = 600_000;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            f.store
                .create(
                    f.account,
                    new_node(&f.folder, &format!("n-{i}"), FILE, 0),
                    None,
                )
                .unwrap()
                .id,
        );
    }
    let listed = |form: Form| {
        let page = form.page(&f, 0, 200);
        let mut got: Vec<String> = page.nodes.iter().map(|n| n.id.clone()).collect();
        got.sort();
        (page.total, got)
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    // Hidden for a while: neither listed nor counted.
    let hidden = f
        .store
        .create(f.account, new_node(&f.folder, "hidden", FILE, lag), None)
        .unwrap()
        .id;
    // Trashed within the lag: still listed (as AVAILABLE) and counted.
    f.store.trash(f.account, &ids[0], lag).unwrap();
    // Moved out within the lag: still listed under its old folder, and counted there.
    f.store
        .move_node(f.account, &ids[1], &f.folder, &f.other, lag)
        .unwrap();
    for form in [Form::Children, Form::Filter, Form::FilesOnly] {
        let (total, got) = listed(form);
        assert_eq!(total, 5, "{form:?}");
        assert_eq!(got, sorted(ids.clone()), "{form:?}");
        assert!(!got.contains(&hidden));
    }
    let page = Form::Filter.page(&f, 0, 200);
    assert!(page.nodes.iter().all(|n| n.status == AVAILABLE));
    // Without a lag, trashing and moving take effect at once.
    f.store.trash(f.account, &ids[2], 0).unwrap();
    f.store
        .move_node(f.account, &ids[3], &f.folder, &f.other, 0)
        .unwrap();
    let (total, got) = listed(Form::Filter);
    assert_eq!(total, 3);
    assert_eq!(
        got,
        sorted(vec![ids[0].clone(), ids[1].clone(), ids[4].clone()])
    );
    // The trash lists what was trashed, whatever the lag.
    let trash = f
        .store
        .search(
            f.account,
            &parse(&format!("parents:{} AND status:TRASH", f.folder)).unwrap(),
            None,
            0,
            200,
        )
        .unwrap();
    assert_eq!(trash.total, 2);
    // A folder of another account lists and counts nothing.
    let other = f.store.create_account("b@example.com", "pw", 1).unwrap();
    let foreign = f
        .store
        .search(
            other.id,
            &parse(&format!("parents:{}", f.folder)).unwrap(),
            None,
            0,
            200,
        )
        .unwrap();
    assert_eq!((foreign.total, foreign.nodes.len()), (0, 0));
}

/// `POST /_mock/seed` of a 100,000-node folder in one request: every node is there, counted,
/// found by name and listed to the last page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_node_folder_seeds_in_one_request() {
    let ctx = Ctx::start().await;
    let n = 100_000;
    let children: Vec<Value> = (0..n)
        .map(|i| json!({"name": format!("f-{i:06}.bin"), "size": 100 + i % 50, "seed": i}))
        .collect();
    let (status, seeded) = ctx
        .admin_post(
            "seed",
            Some(&json!({"nodes": [{"name": "big", "kind": "FOLDER", "children": children}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let created = seeded["created"].as_array().unwrap();
    assert_eq!(created.len(), n + 1);
    assert_eq!(created[1]["path"], "big/f-000000.bin");
    let folder = created[0]["id"].as_str().unwrap().to_string();

    let first = ctx.list(&format!("parents:{folder}")).await;
    assert_eq!(first["count"], n);
    assert_eq!(first["data"].as_array().unwrap().len(), 200);
    assert_eq!(first["data"][0]["name"], "f-000000.bin");
    let (_, children) = ctx
        .get(&ctx.m(&format!("nodes/{folder}/children?filters=kind:FILE")))
        .await;
    assert_eq!(children["count"], n);
    for i in [0, 1, 4_999, 50_000, 99_999] {
        let name = format!("f-{i:06}.bin");
        let found = ctx.lookup(&folder, &name).await;
        assert_eq!(found["count"], 1, "{name}: {found}");
        let node = &found["data"][0];
        assert_eq!(node["contentProperties"]["size"], 100 + i % 50);
        assert_eq!(created[i + 1]["id"], node["id"]);
        let (status, by_id) = ctx.node(node["id"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(by_id["parents"], json!([folder]));
    }
    // The changes feed numbers every seeded node.
    let (_, text) = ctx.changes(&json!({"chunkSize": 10000})).await;
    let nodes: usize = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| v["nodes"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(nodes, n + 2, "the seeded nodes, their folder and the root");

    // A clash stops the seeding with a 409, the nodes before it staying created (as the
    // same creates one by one would leave them).
    let (status, body) = ctx
        .admin_post(
            "seed",
            Some(&json!({"parent": folder, "nodes": [
                {"name": "fresh.txt", "content": "x"},
                {"name": "F-000007.BIN", "content": "clash"},
                {"name": "after.txt", "content": "y"},
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["info"]["nodeId"], created[8]["id"], "{body}");
    assert_eq!(ctx.lookup(&folder, "fresh.txt").await["count"], 1);
    assert_eq!(ctx.lookup(&folder, "after.txt").await["count"], 0);
    assert_eq!(ctx.list(&format!("parents:{folder}")).await["count"], n + 1);
}

/// Two nodes of one seed whose names differ only in case clash inside a folder made by the
/// same seed (checked in memory, not by a query) as they would anywhere else: 409 naming the
/// first, which stays created, and nothing after it is made.
#[tokio::test]
async fn a_seed_clash_inside_a_folder_it_makes_is_409() {
    let ctx = Ctx::start().await;
    let (status, body) = ctx
        .admin_post(
            "seed",
            Some(&json!({"nodes": [
                {"name": "new", "kind": "FOLDER", "children": [
                    {"name": "Same.txt", "content": "a"},
                    {"name": "sub", "kind": "FOLDER", "children": [
                        {"name": "same.txt", "content": "b"},
                    ]},
                    {"name": "SAME.TXT", "content": "c"},
                    {"name": "later.txt", "content": "d"},
                ]},
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let root = ctx.root_id().await;
    let folder = ctx.lookup(&root, "new").await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let first = ctx.lookup(&folder, "Same.txt").await;
    assert_eq!(first["count"], 1, "{first}");
    assert_eq!(body["info"]["nodeId"], first["data"][0]["id"], "{body}");
    // The same name one folder down is no clash: that node was made.
    let sub = ctx.lookup(&folder, "sub").await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(ctx.lookup(&sub, "same.txt").await["count"], 1);
    assert_eq!(ctx.lookup(&folder, "later.txt").await["count"], 0);
}

/// A seed stops at its first bad node with that node's error, as one create after another
/// would: a file given children is made, and its first child is refused like a create under
/// a file; a bad name later on is never reached.
#[tokio::test]
async fn a_seed_stops_at_its_first_bad_node() {
    let ctx = Ctx::start().await;
    let (status, body) = ctx
        .admin_post(
            "seed",
            Some(&json!({"nodes": [
                {"name": "ok", "kind": "FOLDER"},
                {"name": "file.txt", "kind": "FILE", "content": "x", "children": [
                    {"name": "inner.txt", "content": "y"},
                ]},
                {"name": "bad/name", "content": "z"},
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let root = ctx.root_id().await;
    let file = ctx.lookup(&root, "file.txt").await;
    assert_eq!(file["count"], 1);
    let file_id = file["data"][0]["id"].as_str().unwrap();
    assert_eq!(
        body["message"],
        format!("Parent {file_id} is not a folder"),
        "{body}"
    );
    assert_eq!(ctx.lookup(&root, "ok").await["count"], 1);
}

/// Seeded contents of any size download whole and in ranges, the tiny ones (kept inline in
/// the metadata row) as well as the larger ones (in files).
#[tokio::test]
async fn seeded_contents_download_whole_and_in_ranges() {
    use base64::Engine as _;
    let ctx = Ctx::start().await;
    let large: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&large);
    let (status, seeded) = ctx
        .admin_post(
            "seed",
            Some(&json!({"nodes": [
                {"name": "tiny.txt", "content": "hello inline"},
                {"name": "empty.txt", "content": ""},
                {"name": "large.bin", "base64": encoded},
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{seeded}");
    let id = |i: usize| seeded["created"][i]["id"].as_str().unwrap().to_string();
    assert_eq!(ctx.download(&id(0)).await, b"hello inline");
    assert_eq!(ctx.download(&id(1)).await, b"");
    assert_eq!(ctx.download(&id(2)).await, large);
    for (i, whole) in [(0, b"hello inline".to_vec()), (2, large)] {
        let response = ctx
            .req(
                reqwest::Method::GET,
                &ctx.c(&format!("nodes/{}/content", id(i))),
            )
            .header("Range", "bytes=2-5")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(response.bytes().await.unwrap().as_ref(), &whole[2..6]);
    }
    let (_, node) = ctx.node(&id(0)).await;
    assert_eq!(node["contentProperties"]["size"], 12);
    assert_eq!(
        node["contentProperties"]["md5"],
        "f1d9e604a7a9422c5729c16fcc29f48a"
    );
}
