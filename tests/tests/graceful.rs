#![allow(clippy::unwrap_used, clippy::expect_used)]
//! SIGTERM in the middle of an upload: the mock stops taking connections but finishes the
//! upload in flight (201), exits 0, and the file is there, whole, after a restart.

use std::time::{Duration, Instant};

use acd_e2e::admin::md5_hex;
use acd_e2e::process::MockProcess;
use bytes::Bytes;
use serde_json::{Value, json};

const BOUNDARY: &str = "graceful-boundary";

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_upload_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_string();
    let mut mock = MockProcess::start(&["--data-dir", &data]).unwrap();
    // One client, one kept-alive connection: the upload reuses a connection the server has
    // already accepted, so SIGTERM cannot catch it in the listen queue.
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let token = acd_e2e::admin::mint_async(&mock.url).await.unwrap();
    let token = serde_json::to_value(token).unwrap();
    let bearer = token["access_token"].as_str().unwrap().to_string();
    let roots: Value = http
        .get(format!("{}/drive/v1/nodes", mock.url))
        .query(&[("filters", "kind:FOLDER AND isRoot:true")])
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let root = roots["data"][0]["id"].as_str().unwrap().to_string();

    // The body arrives in pieces through a channel, so the test decides when it ends.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async {
        rx.recv().await.map(|item| (item, rx))
    }));
    let upload = http
        .post(format!("{}/cdproxy/nodes?suppress=deduplication", mock.url))
        .bearer_auth(&bearer)
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send();
    let upload = tokio::spawn(upload);
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"f\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n",
        json!({"name": "in-flight.bin", "kind": "FILE", "parents": [root]})
    );
    let payload: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let (first, second) = payload.split_at(payload.len() / 2);
    tx.send(Ok(Bytes::from(head))).await.unwrap();
    tx.send(Ok(Bytes::copy_from_slice(first))).await.unwrap();

    // SIGTERM while the body is half sent.
    let pid = mock.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    // Only once the server has stopped taking new connections does the rest of the body go.
    let deadline = Instant::now() + Duration::from_secs(20);
    let addr = mock.url.trim_start_matches("http://").to_string();
    while std::net::TcpStream::connect(&addr).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the mock kept accepting connections after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tx.send(Ok(Bytes::copy_from_slice(second))).await.unwrap();
    tx.send(Ok(Bytes::from(format!("\r\n--{BOUNDARY}--\r\n"))))
        .await
        .unwrap();
    drop(tx);

    let response = upload
        .await
        .unwrap()
        .expect("the upload in flight gets its answer");
    assert_eq!(response.status().as_u16(), 201);
    let node: Value = response.json().await.unwrap();
    let md5 = md5_hex(&payload);
    assert_eq!(node["contentProperties"]["md5"], md5.as_str());
    assert!(
        mock.wait_exit(Duration::from_secs(20)).unwrap(),
        "the mock must exit 0 after finishing the upload"
    );

    // The acknowledged upload survived the shutdown.
    let again = MockProcess::start(&["--data-dir", &data]).unwrap();
    let bytes = reqwest::Client::new()
        .get(format!(
            "{}/cdproxy/nodes/{}/content",
            again.url,
            node["id"].as_str().unwrap()
        ))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), payload.as_slice());
}
