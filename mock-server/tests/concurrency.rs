#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Racing creates of one name under one parent: the uniqueness check and the insert are atomic,
//! so exactly one request wins and every other gets the 409 that names the winner
//! (reference §6.4, §6.5, §7.1).

use std::sync::Arc;

use acd_mock::MockServer;
use serde_json::{Value, json};
use tokio::sync::Barrier;

const RACERS: usize = 16;

/// Sixteen distinct spellings of `base`, differing only in the case of its letters.
fn case_variants(base: &str) -> Vec<String> {
    let variants: Vec<String> = (0..RACERS)
        .map(|mask| {
            base.chars()
                .enumerate()
                .map(|(i, c)| {
                    if mask & (1 << (i % 4)) != 0 {
                        c.to_uppercase().next().unwrap_or(c)
                    } else {
                        c.to_lowercase().next().unwrap_or(c)
                    }
                })
                .collect()
        })
        .collect();
    let distinct: std::collections::HashSet<&String> = variants.iter().collect();
    assert_eq!(distinct.len(), RACERS, "the variants must all differ");
    variants
}

struct Fixture {
    server: MockServer,
    token: String,
    root: String,
    client: reqwest::Client,
}

async fn fixture(builder: acd_mock::MockServerBuilder) -> Fixture {
    let server = builder.start().await.expect("server starts");
    let token = server.mint_token(None).expect("token").access_token;
    let client = reqwest::Client::new();
    let root: Value = client
        .get(format!("{}nodes", server.metadata_url()))
        .bearer_auth(&token)
        .query(&[("filters", "kind:FOLDER AND isRoot:true")])
        .send()
        .await
        .expect("root lookup")
        .json()
        .await
        .expect("root json");
    let root = root["data"][0]["id"].as_str().expect("root id").to_string();
    Fixture {
        server,
        token,
        root,
        client,
    }
}

/// Runs the sixteen requests at once (released together by a barrier) and returns each
/// one's (index, status, body).
async fn race<F>(make: F) -> Vec<(usize, u16, Value)>
where
    F: Fn(usize) -> reqwest::RequestBuilder,
{
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let request = make(i);
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let response = request.send().await.expect("request failed");
            let status = response.status().as_u16();
            let body: Value = response.json().await.expect("json body");
            (i, status, body)
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.expect("task"));
    }
    out
}

/// Exactly one 201; fifteen 409 NAME_ALREADY_EXISTS naming the winner. Returns the winner's
/// index and node.
fn one_winner(results: &[(usize, u16, Value)], names: &[String]) -> (usize, Value) {
    let winners: Vec<&(usize, u16, Value)> = results.iter().filter(|r| r.1 == 201).collect();
    assert_eq!(winners.len(), 1, "expected one 201: {results:#?}");
    let (index, _, node) = winners[0].clone();
    let id = node["id"].as_str().expect("winner id");
    assert_eq!(node["name"].as_str(), Some(names[index].as_str()));
    let lower = names[0].to_lowercase();
    for (i, status, body) in results.iter().filter(|r| r.1 != 201) {
        assert_eq!(*status, 409, "racer {i}: {body}");
        assert_eq!(body["code"], "NAME_ALREADY_EXISTS", "racer {i}: {body}");
        assert_eq!(
            body["info"]["nodeId"].as_str(),
            Some(id),
            "racer {i}: {body}"
        );
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&lower) && message.contains(id),
            "racer {i}: {message}"
        );
    }
    (index, node)
}

/// The root's children whose name equals `name` ignoring case.
async fn children_named(f: &Fixture, name: &str) -> Vec<Value> {
    let list: Value = f
        .client
        .get(format!(
            "{}nodes/{}/children",
            f.server.metadata_url(),
            f.root
        ))
        .bearer_auth(&f.token)
        .send()
        .await
        .expect("listing")
        .json()
        .await
        .expect("listing json");
    list["data"]
        .as_array()
        .expect("data array")
        .iter()
        .filter(|n| n["name"].as_str().map(str::to_lowercase) == Some(name.to_lowercase()))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_folder_creates_give_one_folder() {
    let f = fixture(MockServer::builder()).await;
    let names = case_variants("Shared Ärchive");
    let url = format!("{}nodes", f.server.metadata_url());
    let results = race(|i| {
        f.client
            .post(&url)
            .bearer_auth(&f.token)
            .body(json!({"name": names[i], "kind": "FOLDER", "parents": [f.root]}).to_string())
    })
    .await;
    let (_, winner) = one_winner(&results, &names);
    assert_eq!(winner["kind"], "FOLDER");

    let listed = children_named(&f, &names[0]).await;
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["id"], winner["id"]);
    assert_eq!(listed[0]["name"], winner["name"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_uploads_give_one_file() {
    let data = tempfile::tempdir().expect("tempdir");
    let f = fixture(MockServer::builder().data_dir(data.path())).await;
    let names = case_variants("quarterly report.txt");
    let payload = |i: usize| format!("upload number {i} of the same name\n").into_bytes();
    let url = format!("{}nodes?suppress=deduplication", f.server.content_url());
    let results = race(|i| {
        let metadata = json!({"name": names[i], "kind": "FILE", "parents": [f.root]}).to_string();
        let form = reqwest::multipart::Form::new()
            .text("metadata", metadata)
            .part(
                "content",
                reqwest::multipart::Part::bytes(payload(i))
                    .file_name(names[i].clone())
                    .mime_str("application/octet-stream")
                    .expect("mime"),
            );
        f.client.post(&url).bearer_auth(&f.token).multipart(form)
    })
    .await;
    let (index, winner) = one_winner(&results, &names);
    assert_eq!(winner["kind"], "FILE");
    assert_eq!(
        winner["contentProperties"]["size"],
        json!(payload(index).len())
    );

    let listed = children_named(&f, &names[0]).await;
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["id"], winner["id"]);

    // The file holds the winner's bytes.
    let id = winner["id"].as_str().expect("id");
    let bytes = f
        .client
        .get(format!("{}nodes/{id}/content", f.server.content_url()))
        .bearer_auth(&f.token)
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("download body");
    assert_eq!(bytes.as_ref(), payload(index).as_slice());

    // The losers' bytes were not left behind: one blob on disk, no temporary files.
    let blobs = data.path().join("blobs");
    let files: Vec<_> = std::fs::read_dir(&blobs)
        .expect("blob dir")
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let leftovers = std::fs::read_dir(blobs.join("tmp"))
        .expect("tmp dir")
        .count();
    assert_eq!(leftovers, 0);
}
