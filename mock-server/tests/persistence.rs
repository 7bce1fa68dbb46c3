#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The `acd-mock` binary with `--data-dir`: everything a client relies on survives a SIGTERM
//! and a restart (tree, bytes, trash, tokens, the changes feed's checkpoints).

mod common;

use common::binary::Mock;
use serde_json::{Value, json};

/// An API client for one running server.
struct Api {
    http: reqwest::Client,
    token: String,
    meta: String,
    content: String,
}

impl Api {
    /// Discovers the endpoints with `token`.
    async fn discover(url: &str, token: &str) -> Api {
        // A fresh client per server: no pooled connection outlives a restart.
        let http = reqwest::Client::new();
        let endpoint: Value = http
            .get(format!("{url}/drive/v1/account/endpoint"))
            .bearer_auth(token)
            .send()
            .await
            .expect("endpoint")
            .error_for_status()
            .expect("endpoint status")
            .json()
            .await
            .expect("endpoint json");
        let meta = endpoint["metadataUrl"].as_str().expect("metadataUrl");
        let content = endpoint["contentUrl"].as_str().expect("contentUrl");
        assert_eq!(meta, format!("{url}/drive/v1/"));
        assert_eq!(content, format!("{url}/cdproxy/"));
        Api {
            http,
            token: token.to_string(),
            meta: meta.to_string(),
            content: content.to_string(),
        }
    }

    async fn json(&self, request: reqwest::RequestBuilder, expect: u16) -> Value {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        assert_eq!(status, expect, "{text}");
        serde_json::from_str(&text).expect("json body")
    }

    async fn root(&self) -> String {
        let list = self
            .json(
                self.http
                    .get(format!("{}nodes", self.meta))
                    .query(&[("filters", "kind:FOLDER AND isRoot:true")]),
                200,
            )
            .await;
        assert_eq!(list["data"].as_array().map(Vec::len), Some(1), "{list}");
        list["data"][0]["id"].as_str().expect("root id").to_string()
    }

    async fn node(&self, id: &str) -> Value {
        self.json(self.http.get(format!("{}nodes/{id}", self.meta)), 200)
            .await
    }

    async fn mkdir(&self, name: &str, parent: &str) -> String {
        let body = json!({"name": name, "kind": "FOLDER", "parents": [parent]}).to_string();
        let node = self
            .json(
                self.http.post(format!("{}nodes", self.meta)).body(body),
                201,
            )
            .await;
        node["id"].as_str().expect("id").to_string()
    }

    async fn upload(&self, name: &str, parent: &str, bytes: Vec<u8>) -> String {
        let metadata = json!({"name": name, "kind": "FILE", "parents": [parent]}).to_string();
        let form = reqwest::multipart::Form::new()
            .text("metadata", metadata)
            .part(
                "content",
                reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
            );
        let node = self
            .json(
                self.http
                    .post(format!("{}nodes?suppress=deduplication", self.content))
                    .multipart(form),
                201,
            )
            .await;
        node["id"].as_str().expect("id").to_string()
    }

    async fn download(&self, id: &str) -> Vec<u8> {
        let response = self
            .http
            .get(format!("{}nodes/{id}/content", self.content))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("download");
        assert_eq!(response.status().as_u16(), 200);
        response.bytes().await.expect("bytes").to_vec()
    }

    async fn children(&self, id: &str) -> Vec<String> {
        let list = self
            .json(
                self.http.get(format!("{}nodes/{id}/children", self.meta)),
                200,
            )
            .await;
        let mut names: Vec<String> = list["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|n| n["name"].as_str().expect("name").to_string())
            .collect();
        names.sort();
        names
    }

    /// The whole changes stream after `checkpoint`, as parsed lines (the final `end` included).
    async fn changes(&self, checkpoint: Option<&str>) -> Vec<Value> {
        let body = match checkpoint {
            Some(c) => json!({"checkpoint": c, "includePurged": "true"}),
            None => json!({"includePurged": "true"}),
        };
        let response = self
            .http
            .post(format!("{}changes", self.meta))
            .bearer_auth(&self.token)
            .body(body.to_string())
            .send()
            .await
            .expect("changes");
        assert_eq!(response.status().as_u16(), 200);
        let text = response.text().await.expect("changes body");
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        assert_eq!(lines.last(), Some(&json!({"end": true})), "{text}");
        lines
    }
}

/// Node ids of every change line, in order.
fn changed_ids(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l["nodes"].as_array())
        .flatten()
        .map(|n| n["id"].as_str().expect("id").to_string())
        .collect()
}

/// The checkpoint of the last change line.
fn last_checkpoint(lines: &[Value]) -> String {
    lines
        .iter()
        .rev()
        .find_map(|l| l["checkpoint"].as_str())
        .expect("a checkpoint")
        .to_string()
}

/// Deterministic, incompressible-looking bytes.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

async fn mint(url: &str) -> String {
    let admin = acd_mock::admin::Client::new(url).expect("admin client");
    let access = admin.access_token().await.expect("mint");
    assert!(access.starts_with("Atza|"), "{access}");
    access
}

#[test]
fn the_first_line_names_the_bound_port() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = Mock::start(dir.path());
    let other = tempfile::tempdir().expect("tempdir");
    let mut b = Mock::start(other.path());
    assert_ne!(a.port, b.port, "two servers on port 0 got distinct ports");
    // The advertised address really serves.
    let health = std::net::TcpStream::connect(("127.0.0.1", a.port));
    assert!(health.is_ok(), "cannot connect to {}", a.url);
    assert_eq!(a.terminate().code(), Some(0));
    assert_eq!(b.terminate().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");

    // ---- first run ----------------------------------------------------------------------
    let mut mock = Mock::start(dir.path());
    let token = mint(&mock.url).await;
    let api = Api::discover(&mock.url, &token).await;
    let root = api.root().await;
    let docs = api.mkdir("Docs", &root).await;
    let sub = api.mkdir("Süb Folder", &docs).await;
    let small = b"hello, persistence\n".to_vec();
    let medium = bytes(300_000, 7);
    let empty = Vec::new();
    let a = api.upload("a.txt", &docs, small.clone()).await;
    let b = api.upload("b.bin", &sub, medium.clone()).await;
    let e = api.upload("empty", &root, empty.clone()).await;
    let gone = api
        .upload("gone.txt", &root, b"to the trash".to_vec())
        .await;
    let trashed = api
        .json(api.http.put(format!("{}trash/{gone}", api.meta)), 200)
        .await;
    assert_eq!(trashed["status"], "TRASH");

    let ids = [&root, &docs, &sub, &a, &b, &e, &gone];
    let mut before = Vec::new();
    for id in ids {
        before.push(api.node(id).await);
    }
    let feed = api.changes(None).await;
    let checkpoint = last_checkpoint(&feed);
    let all_changed = changed_ids(&feed);
    for id in ids {
        assert!(all_changed.contains(id), "{id} missing from the full feed");
    }
    drop(api);
    let status = mock.terminate();
    assert_eq!(status.code(), Some(0), "exit after SIGTERM: {status:?}");
    drop(mock);

    // ---- second run on the same data directory ---------------------------------------------
    let mut mock = Mock::start(dir.path());
    // The old access token still signs in.
    let api = Api::discover(&mock.url, &token).await;
    assert_eq!(api.root().await, root, "the root id changed");
    for (id, old) in ids.iter().zip(&before) {
        assert_eq!(
            &api.node(id).await,
            old,
            "node {id} changed across the restart"
        );
    }
    assert_eq!(
        api.children(&root).await,
        ["Docs", "empty"],
        "the trashed file is left out of the root's listing"
    );
    assert_eq!(api.children(&docs).await, ["Süb Folder", "a.txt"]);
    assert_eq!(api.children(&sub).await, ["b.bin"]);
    assert_eq!(api.download(&a).await, small);
    assert_eq!(api.download(&b).await, medium);
    assert_eq!(api.download(&e).await, empty);
    assert_eq!(api.node(&gone).await["status"], "TRASH");
    let trash = api
        .json(api.http.get(format!("{}trash", api.meta)), 200)
        .await;
    let in_trash: Vec<&str> = trash["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert_eq!(in_trash, [gone.as_str()]);
    // The trashed file's bytes survived too (it can be restored).
    assert_eq!(api.download(&gone).await, b"to the trash");

    // The checkpoint from before the restart: nothing new yet, and no reset.
    let feed = api.changes(Some(&checkpoint)).await;
    assert_eq!(changed_ids(&feed), Vec::<String>::new(), "{feed:?}");
    assert!(feed.iter().all(|l| l["reset"] != json!(true)), "{feed:?}");
    assert_eq!(last_checkpoint(&feed), checkpoint);
    // After a change, that checkpoint gives exactly the newer change.
    let after = api.mkdir("After Restart", &docs).await;
    let feed = api.changes(Some(&checkpoint)).await;
    assert_eq!(changed_ids(&feed), [after.as_str()], "{feed:?}");
    assert!(feed.iter().all(|l| l["reset"] != json!(true)), "{feed:?}");
    assert_ne!(last_checkpoint(&feed), checkpoint);

    drop(api);
    assert_eq!(mock.terminate().code(), Some(0));
    drop(mock);

    // ---- a third run sees the change made in the second ------------------------------------
    let mut mock = Mock::start(dir.path());
    let api = Api::discover(&mock.url, &token).await;
    assert_eq!(api.node(&after).await["name"], "After Restart");
    assert_eq!(
        api.children(&docs).await,
        ["After Restart", "Süb Folder", "a.txt"]
    );
    drop(api);
    assert_eq!(mock.terminate().code(), Some(0));
}
