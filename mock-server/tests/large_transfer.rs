#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A 2 GiB upload and download through the `acd-mock` binary, both streamed end to end: the
//! server's peak resident memory stays under 100 MiB, and so does this test's.

mod common;

use std::time::Instant;

use bytes::Bytes;
use common::binary::Mock;
use futures_util::StreamExt as _;
use md5::{Digest, Md5};
use serde_json::{Value, json};

const MIB: usize = 1024 * 1024;
/// 2 GiB in 1 MiB chunks.
const CHUNKS: u64 = 2048;
const SIZE: u64 = CHUNKS * MIB as u64;
/// The ceiling on peak resident memory.
const MAX_RSS_KIB: u64 = 100 * 1024;
const BOUNDARY: &str = "acd-mock-large-transfer-boundary-7f3a9c";

/// `VmHWM` (peak resident set) of a process, in KiB.
fn peak_rss_kib(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in {status}"))
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `index`th 1 MiB chunk of the file: a pure function of the index.
fn chunk(index: u64) -> Vec<u8> {
    let mut buf = vec![0u8; MIB];
    let base = index * (MIB as u64 / 8);
    for (j, word) in buf.chunks_exact_mut(8).enumerate() {
        word.copy_from_slice(&splitmix(base + j as u64).to_le_bytes());
    }
    buf
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gib_round_trip_in_flat_memory() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut mock = Mock::start(dir.path());
    let pid = mock.child.id().to_string();
    let http = reqwest::Client::new();
    let admin = acd_mock::admin::Client::with_http(http.clone(), &mock.url);
    let token = admin.access_token().await.expect("mint");
    let endpoint: Value = http
        .get(format!("{}/drive/v1/account/endpoint", mock.url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("endpoint")
        .json()
        .await
        .expect("endpoint json");
    let meta = endpoint["metadataUrl"].as_str().expect("metadataUrl");
    let content = endpoint["contentUrl"].as_str().expect("contentUrl");
    let root: Value = http
        .get(format!("{meta}nodes"))
        .bearer_auth(&token)
        .query(&[("filters", "kind:FOLDER AND isRoot:true")])
        .send()
        .await
        .expect("root")
        .json()
        .await
        .expect("root json");
    let root = root["data"][0]["id"].as_str().expect("root id");

    // ---- upload: hand-framed multipart, generated and hashed on the fly -------------------
    let metadata = json!({"name": "big.bin", "kind": "FILE", "parents": [root]});
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{metadata}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"big.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    let (md5_tx, md5_rx) = tokio::sync::oneshot::channel::<String>();
    let chunks = futures_util::stream::unfold(
        (0u64, Md5::new(), Some(md5_tx)),
        |(index, mut md5, tx)| async move {
            if index == CHUNKS {
                if let Some(tx) = tx {
                    let _ = tx.send(hex(&md5.finalize()));
                }
                return None;
            }
            let bytes = chunk(index);
            md5.update(&bytes);
            Some((Ok(Bytes::from(bytes)), (index + 1, md5, tx)))
        },
    );
    let body = futures_util::stream::iter([Ok::<Bytes, std::io::Error>(Bytes::from(head))])
        .chain(chunks)
        .chain(futures_util::stream::iter([Ok(Bytes::from(tail))]));
    let upload_started = Instant::now();
    let response = http
        .post(format!("{content}nodes?suppress=deduplication"))
        .bearer_auth(&token)
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .expect("upload");
    let status = response.status().as_u16();
    let node: Value = response.json().await.expect("upload json");
    assert_eq!(status, 201, "{node}");
    let expected_md5 = md5_rx.await.expect("the whole body was generated");
    let upload_time = upload_started.elapsed();
    assert_eq!(node["name"], "big.bin");
    assert_eq!(node["contentProperties"]["size"], json!(SIZE));
    assert_eq!(
        node["contentProperties"]["md5"].as_str(),
        Some(expected_md5.as_str())
    );
    let id = node["id"].as_str().expect("id");
    let on_disk: u64 = std::fs::read_dir(dir.path().join("blobs"))
        .expect("blob dir")
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .sum();
    assert_eq!(on_disk, SIZE, "the blob on disk holds exactly the content");

    // ---- download: streamed and hashed ----------------------------------------------------
    let download_started = Instant::now();
    let response = http
        .get(format!("{content}nodes/{id}/content"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("download");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.content_length(), Some(SIZE));
    let etag = response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    assert_eq!(etag, Some(format!("\"{expected_md5}\"")));
    let mut stream = response.bytes_stream();
    let mut md5 = Md5::new();
    let mut size = 0u64;
    while let Some(piece) = stream.next().await {
        let piece = piece.expect("download chunk");
        size += piece.len() as u64;
        md5.update(&piece);
    }
    let download_time = download_started.elapsed();
    assert_eq!(size, SIZE);
    assert_eq!(hex(&md5.finalize()), expected_md5);

    // The last mebibyte by Range matches the generator too.
    let response = http
        .get(format!("{content}nodes/{id}/content"))
        .bearer_auth(&token)
        .header("Range", format!("bytes={}-", SIZE - MIB as u64))
        .send()
        .await
        .expect("range");
    assert_eq!(response.status().as_u16(), 206);
    let last = response.bytes().await.expect("range body");
    assert!(last.as_ref() == chunk(CHUNKS - 1).as_slice());

    // ---- memory ---------------------------------------------------------------------------
    let server_peak = peak_rss_kib(&pid);
    let own_peak = peak_rss_kib("self");
    eprintln!(
        "2 GiB: upload {upload_time:.1?}, download {download_time:.1?}, total {:.1?}; \
         peak RSS server {} KiB, test {} KiB",
        started.elapsed(),
        server_peak,
        own_peak
    );
    assert!(
        server_peak < MAX_RSS_KIB,
        "the server peaked at {server_peak} KiB"
    );
    assert!(own_peak < MAX_RSS_KIB, "the test peaked at {own_peak} KiB");

    drop(http);
    assert_eq!(mock.terminate().code(), Some(0));
}
