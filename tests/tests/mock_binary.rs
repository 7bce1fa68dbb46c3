#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `acd-mock` run as a user runs it: its first line and banner, a token from the admin API,
//! then a client's whole session over HTTP (discovery, root, mkdir, upload, listing, download,
//! rename, trash, changes), and a clean exit on SIGTERM. Also: a bad `--listen` fails clearly,
//! and `ACD_MOCK_PAGE_SIZE` shapes listings.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use acd_e2e::process::{MockProcess, binary};
use serde_json::{Value, json};

const STOP: Duration = Duration::from_secs(30);

/// A client session against one server: the token and the discovered endpoints.
struct Session {
    http: reqwest::Client,
    token: String,
    meta: String,
    content: String,
}

impl Session {
    async fn send(&self, request: reqwest::RequestBuilder, expect: u16) -> Value {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        assert_eq!(status, expect, "{text}");
        serde_json::from_str(&text).expect("JSON body")
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        self.send(
            self.http.get(format!("{}{path}", self.meta)).query(query),
            200,
        )
        .await
    }

    /// Every line of a changes stream.
    async fn changes(&self, body: Value) -> Vec<Value> {
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

/// Mints a token through the admin API and discovers the endpoints with it.
async fn session(url: &str) -> Session {
    let http = reqwest::Client::new();
    let minted = acd_e2e::admin::mint_async(url).await.expect("mint");
    let minted = serde_json::to_value(minted).expect("token JSON");
    assert_eq!(minted["token_type"], "bearer");
    let token = minted["access_token"].as_str().expect("access_token");
    assert!(token.starts_with("Atza|"), "{token}");
    assert!(
        minted["refresh_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("Atzr|"))
    );
    let response = http
        .get(format!("{url}/drive/v1/account/endpoint"))
        .send()
        .await
        .expect("unauthenticated endpoint");
    assert_eq!(response.status().as_u16(), 401, "discovery needs the token");
    let endpoint: Value = http
        .get(format!("{url}/drive/v1/account/endpoint"))
        .bearer_auth(token)
        .send()
        .await
        .expect("endpoint")
        .json()
        .await
        .expect("endpoint JSON");
    assert_eq!(endpoint["customerExists"], true);
    let meta = endpoint["metadataUrl"].as_str().expect("metadataUrl");
    let content = endpoint["contentUrl"].as_str().expect("contentUrl");
    assert_eq!(meta, format!("{url}/drive/v1/"));
    assert_eq!(content, format!("{url}/cdproxy/"));
    Session {
        http,
        token: token.to_string(),
        meta: meta.to_string(),
        content: content.to_string(),
    }
}

/// `http://127.0.0.1:PORT` with a real port.
fn check_url(url: &str) -> u16 {
    let port = url
        .strip_prefix("http://127.0.0.1:")
        .unwrap_or_else(|| panic!("not a loopback URL: {url:?}"));
    let port: u16 = port.parse().expect("numeric port");
    assert_ne!(port, 0);
    port
}

/// Starts the binary with extra environment variables (the helper in `acd_e2e` takes none).
fn start_with_env(env: &[(&str, &str)]) -> MockProcess {
    let path = binary("acd-mock", "acd-mock").expect("acd-mock builds");
    let mut child = Command::new(path)
        .args(["--listen", "127.0.0.1:0", "--log-level", "warn"])
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("acd-mock starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("acd-mock printed no first line");
    let url = first
        .strip_prefix("acd-mock listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    MockProcess {
        child,
        url,
        banner: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_session_against_the_binary() {
    let mut mock = MockProcess::start(&[]).expect("acd-mock starts");
    check_url(&mock.url);
    let url = mock.url.clone();
    assert_eq!(
        mock.banner,
        [
            format!("endpoint: {url}/drive/v1/account/endpoint"),
            "account: user@example.com password: password".to_string(),
            format!("token: curl -s -X POST {url}/_mock/tokens"),
        ]
    );

    let s = session(&url).await;

    // Root lookup, as go-acd does it.
    let roots = s
        .get("nodes", &[("filters", "kind:FOLDER AND isRoot:true")])
        .await;
    assert_eq!(roots["count"], 1);
    let root = roots["data"][0]["id"]
        .as_str()
        .expect("root id")
        .to_string();
    assert_eq!(roots["data"][0]["isRoot"], true);

    // mkdir, with a JSON body and no Content-Type (go-acd sends none).
    let folder = s
        .send(
            s.http.post(format!("{}nodes", s.meta)).body(
                json!({"name": "Holiday Photos", "kind": "FOLDER", "parents": [root]}).to_string(),
            ),
            201,
        )
        .await;
    let folder_id = folder["id"].as_str().expect("folder id").to_string();
    assert_eq!(folder["kind"], "FOLDER");
    assert_eq!(folder["parents"], json!([root]));

    // Upload into it.
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let form = reqwest::multipart::Form::new()
        .text(
            "metadata",
            json!({"name": "beach.jpg", "kind": "FILE", "parents": [folder_id]}).to_string(),
        )
        .part(
            "content",
            reqwest::multipart::Part::bytes(bytes.clone())
                .file_name("beach.jpg")
                .mime_str("application/octet-stream")
                .expect("mime"),
        );
    let file = s
        .send(
            s.http
                .post(format!("{}nodes?suppress=deduplication", s.content))
                .multipart(form),
            201,
        )
        .await;
    let file_id = file["id"].as_str().expect("file id").to_string();
    assert_eq!(file["contentProperties"]["size"], json!(bytes.len()));
    assert_eq!(file["contentProperties"]["contentType"], "image/jpeg");
    assert_eq!(file["contentProperties"]["extension"], "jpg");
    assert_eq!(file["status"], "AVAILABLE");

    // Listing (rclone's form), and the name lookup (go-acd's form).
    let filter = format!("parents:{folder_id}");
    let listing = s.get("nodes", &[("filters", &filter)]).await;
    assert_eq!(listing["count"], 1);
    assert_eq!(listing["data"][0]["id"].as_str(), Some(file_id.as_str()));
    assert!(listing.get("nextToken").is_none());
    let filter = format!("parents:\"{folder_id}\" AND name:\"beach.jpg\"");
    let lookup = s.get("nodes", &[("filters", &filter)]).await;
    assert_eq!(lookup["data"][0]["id"].as_str(), Some(file_id.as_str()));

    // Download, whole and by range.
    let response = s
        .http
        .get(format!("{}nodes/{file_id}/content", s.content))
        .bearer_auth(&s.token)
        .send()
        .await
        .expect("download");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), bytes);
    let response = s
        .http
        .get(format!("{}nodes/{file_id}/content", s.content))
        .bearer_auth(&s.token)
        .header("Range", "bytes=10-19")
        .send()
        .await
        .expect("range");
    assert_eq!(response.status().as_u16(), 206);
    assert_eq!(
        response.bytes().await.expect("bytes").as_ref(),
        &bytes[10..20]
    );

    // Rename.
    let renamed = s
        .send(
            s.http
                .patch(format!("{}nodes/{file_id}", s.meta))
                .body(json!({"name": "Beach 2015.jpg"}).to_string()),
            200,
        )
        .await;
    assert_eq!(renamed["name"], "Beach 2015.jpg");
    assert!(renamed["version"].as_i64() > file["version"].as_i64());
    let children = s.get(&format!("nodes/{folder_id}/children"), &[]).await;
    assert_eq!(children["data"][0]["name"], "Beach 2015.jpg");

    // Trash: gone from listings, present in the trash.
    let trashed = s
        .send(s.http.put(format!("{}trash/{file_id}", s.meta)), 200)
        .await;
    assert_eq!(trashed["status"], "TRASH");
    let children = s.get(&format!("nodes/{folder_id}/children"), &[]).await;
    assert_eq!(children["count"], 0);
    assert_eq!(children["data"], json!([]));
    let trash = s.get("trash", &[]).await;
    assert_eq!(trash["data"][0]["id"].as_str(), Some(file_id.as_str()));

    // The changes feed: the full state, then nothing new after its checkpoint.
    let lines = s.changes(json!({"includePurged": "true"})).await;
    let nodes: Vec<&Value> = lines
        .iter()
        .filter_map(|l| l["nodes"].as_array())
        .flatten()
        .collect();
    let find = |id: &str| nodes.iter().find(|n| n["id"] == id).copied();
    assert!(find(&root).is_some(), "the root is in the full feed");
    assert_eq!(find(&folder_id).expect("folder")["name"], "Holiday Photos");
    let last = find(&file_id).expect("file");
    assert_eq!(last["name"], "Beach 2015.jpg");
    assert_eq!(last["status"], "TRASH");
    for line in &lines[..lines.len() - 1] {
        assert_eq!(line["statusCode"], 200);
        assert_eq!(line["reset"], false);
    }
    let checkpoint = lines[lines.len() - 2]["checkpoint"]
        .as_str()
        .expect("checkpoint")
        .to_string();
    let again = s.changes(json!({"checkpoint": checkpoint})).await;
    assert_eq!(again.len(), 2, "{again:?}");
    assert_eq!(again[0]["nodes"], json!([]));
    // A change after the checkpoint shows up, alone.
    s.send(
        s.http.post(format!("{}trash/{file_id}/restore", s.meta)),
        200,
    )
    .await;
    let after = s.changes(json!({"checkpoint": checkpoint})).await;
    let ids: Vec<&str> = after
        .iter()
        .filter_map(|l| l["nodes"].as_array())
        .flatten()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert_eq!(ids, [file_id.as_str()]);

    drop(s);
    assert!(
        mock.terminate(STOP).expect("terminate"),
        "acd-mock exited non-zero after SIGTERM"
    );
}

#[test]
fn a_bad_listen_address_fails_clearly() {
    let path = binary("acd-mock", "acd-mock").expect("acd-mock builds");
    let mut child = Command::new(path)
        .args(["--listen", "not-an-address"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("acd-mock starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "acd-mock kept running");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    let mut stdout = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read stdout");
    assert!(!status.success(), "exit status {status:?}");
    assert!(
        stderr.contains("not-an-address") && stderr.contains("--listen"),
        "stderr does not say what was wrong: {stderr:?}"
    );
    assert!(!stdout.contains("listening"), "{stdout:?}");
}

#[test]
fn an_address_in_use_fails_clearly() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let path = binary("acd-mock", "acd-mock").expect("acd-mock builds");
    let mut child = Command::new(path)
        .args(["--listen", &addr, "--log-level", "warn"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("acd-mock starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "acd-mock kept running");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    assert!(!status.success(), "exit status {status:?}");
    assert!(
        stderr.contains(&addr) && stderr.contains("cannot listen"),
        "stderr does not say what was wrong: {stderr:?}"
    );
    drop(taken);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_size_comes_from_the_environment() {
    let mut mock = start_with_env(&[("ACD_MOCK_PAGE_SIZE", "2")]);
    check_url(&mock.url);
    let s = session(&mock.url).await;
    let roots = s
        .get("nodes", &[("filters", "kind:FOLDER AND isRoot:true")])
        .await;
    let root = roots["data"][0]["id"]
        .as_str()
        .expect("root id")
        .to_string();
    let mut made = Vec::new();
    for i in 0..5 {
        let folder = s
            .send(
                s.http.post(format!("{}nodes", s.meta)).body(
                    json!({"name": format!("folder {i}"), "kind": "FOLDER", "parents": [root]})
                        .to_string(),
                ),
                201,
            )
            .await;
        made.push(folder["id"].as_str().expect("id").to_string());
    }

    for path in [format!("nodes/{root}/children"), "nodes".to_string()] {
        let filter = format!("parents:{root}");
        let mut token: Option<String> = None;
        let mut pages = Vec::new();
        let mut seen = Vec::new();
        loop {
            let mut query: Vec<(&str, &str)> = Vec::new();
            if path == "nodes" {
                query.push(("filters", &filter));
            }
            if let Some(t) = &token {
                query.push(("startToken", t));
            }
            let page = s.get(&path, &query).await;
            assert_eq!(page["count"], 5, "{page}");
            let data = page["data"].as_array().expect("data");
            pages.push(data.len());
            seen.extend(
                data.iter()
                    .map(|n| n["id"].as_str().expect("id").to_string()),
            );
            match page.get("nextToken").and_then(Value::as_str) {
                Some(next) => token = Some(next.to_string()),
                None => break,
            }
            assert!(pages.len() < 10, "paging does not end");
        }
        assert_eq!(pages, [2, 2, 1], "{path}");
        assert_eq!(seen, made, "{path}");
    }
    // An explicit limit still wins.
    let page = s
        .get(&format!("nodes/{root}/children"), &[("limit", "5")])
        .await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(5));

    drop(s);
    assert!(mock.terminate(STOP).expect("terminate"));
}
