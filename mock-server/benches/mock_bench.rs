#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Throughput benchmarks of acd-mock, each beside a baseline measured in the same run.
//!
//! `cargo bench -p acd-mock` (1 GiB transfers, folders of 10,000 and 100,000 children) or
//! `cargo bench -p acd-mock -- --quick` (128 MiB, 2,000 and 20,000 children). Prints a table
//! and writes the same numbers to `target/acd-mock-bench.json`.
//!
//! 1. Name lookups (`GET nodes?filters=parents:"P" AND name:"N"`) in a small and a large
//!    folder: the per-lookup cost ratio large/small should be about 1 (lookups use an index).
//! 2. `GET nodes/{id}` with a few concurrent client tasks, beside a bare axum handler that
//!    returns the same JSON from memory (the HTTP stack's ceiling).
//! 3. Upload and download of one big file over HTTP, streamed on both sides: the download
//!    beside a bare axum handler serving the same bytes from memory, the upload beside the
//!    single-core speed of the md-5 crate (the server hashes every uploaded byte). Rows marked
//!    `info` say where an upload's time goes: the same bytes posted to a bare axum sink (HTTP
//!    alone), written by one thread with the store's syncing (the disk alone), and fed straight
//!    to the mock's blob writer (hash + write, no HTTP).
//!
//! 4. A page of 200 from the small and the large folder (`GET nodes?filters=parents:"F"`, the
//!    acd client's listing): the cost ratio large/small should be about 1 (keyset paging on an
//!    index, `count` kept per folder); the whole large folder is listed once too. The seeding
//!    of the large folder gives the seeding rate (small files with content, blobs written).
//! 5. A 1,000,000-node account (1,000 folders x 1,000 synthetic files, plus a folder of the
//!    large folder's size) seeded into an `acd-mock` child process, then name lookups (p50,
//!    p99), a page of the large folder, the whole changes feed streamed, and the process's
//!    peak RSS (`VmHWM`). `--million-folders=N` seeds N folders instead of 1,000.
//!
//! `--only=lookups,get,transfer,pages,million` runs some groups only (seeding the two folders
//! is skipped without lookups, get and pages).
//!
//! The mock runs in-process. By default it uses its default store (a temporary directory,
//! blobs written but never fsynced: nothing outlives the process), and the disk baseline writes
//! without fsync too. With `--durable` the mock gets a data directory (every blob and its
//! directory entry fsynced before the upload is answered, as `--data-dir` does) and the disk
//! baseline fsyncs its file: the `mock/disk` and `writer/disk` rows always compare the same
//! syncing, and the table says which.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use acd_mock::MockServer;
use acd_mock::store::filter::escape;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use bytes::Bytes;
use futures_util::{StreamExt, stream};
use md5::{Digest, Md5};
use rand::rngs::StdRng;
use rand::{Rng as _, RngExt as _, SeedableRng as _};
use serde_json::{Value, json};
use tokio::net::TcpListener;

#[path = "mock_bench/scale.rs"]
mod scale;

const MIB: u64 = 1024 * 1024;
/// The multipart boundary of the hand-built upload body.
const BOUNDARY: &str = "acd-mock-bench-0f3c9a71e5d2b84b";

/// What one run measures.
#[derive(Debug, Clone, Copy)]
struct Plan {
    quick: bool,
    /// Bytes of the big file.
    big: u64,
    /// Children of the small and the large folder.
    folders: [usize; 2],
    /// Nodes per seed request.
    batch: usize,
    /// Name lookups per repetition and folder.
    lookups: usize,
    /// `GET nodes/{id}` requests per repetition.
    gets: usize,
    /// Concurrent client tasks of the GET-node figure.
    tasks: usize,
    /// Repetitions of every figure (the median is reported).
    reps: usize,
    /// Which groups run: name lookups, GET nodes/{id}, big transfers, listing pages, the
    /// 1,000,000-node account (`--only=lookups,get,transfer,pages,million`).
    lookups_on: bool,
    get_on: bool,
    transfer_on: bool,
    pages_on: bool,
    million_on: bool,
    /// Folders of 1,000 files in the large account (`--million-folders=N`).
    million_folders: usize,
    /// `--durable`: run the mock with a data directory (every blob fsynced, as `--data-dir`
    /// does) instead of its default temporary store.
    durable: bool,
}

impl Plan {
    fn from_args() -> Self {
        // `cargo bench` passes `--bench`; anything unknown is ignored.
        let args: Vec<String> = std::env::args().skip(1).collect();
        let quick = args.iter().any(|a| a == "--quick");
        let durable = args.iter().any(|a| a == "--durable");
        let only: Vec<&str> = args
            .iter()
            .filter_map(|a| a.strip_prefix("--only="))
            .flat_map(|list| list.split(','))
            .collect();
        for name in &only {
            assert!(
                ["lookups", "get", "transfer", "pages", "million"].contains(name),
                "--only takes lookups, get, transfer, pages and million, not {name:?}"
            );
        }
        let on = |name: &str| only.is_empty() || only.contains(&name);
        let million_folders = args
            .iter()
            .find_map(|a| a.strip_prefix("--million-folders="))
            .map(|n| {
                n.parse::<usize>()
                    .expect("--million-folders takes a number")
            });
        let plan = if quick {
            Self {
                quick,
                big: 128 * MIB,
                folders: [1_000, 20_000],
                batch: 1_000,
                lookups: 1_000,
                gets: 8_000,
                tasks: 8,
                reps: 3,
                lookups_on: true,
                get_on: true,
                transfer_on: true,
                pages_on: true,
                million_on: true,
                million_folders: if quick { 100 } else { 1_000 },
                durable: false,
            }
        } else {
            Self {
                quick,
                big: 1024 * MIB,
                folders: [1_000, 100_000],
                batch: 5_000,
                lookups: 3_000,
                gets: 30_000,
                tasks: 8,
                reps: 3,
                lookups_on: true,
                get_on: true,
                transfer_on: true,
                pages_on: true,
                million_on: true,
                million_folders: if quick { 100 } else { 1_000 },
                durable: false,
            }
        };
        Self {
            lookups_on: on("lookups"),
            get_on: on("get"),
            transfer_on: on("transfer"),
            pages_on: on("pages"),
            million_on: on("million"),
            million_folders: million_folders.unwrap_or(plan.million_folders),
            durable,
            ..plan
        }
    }
}

/// A seeded generator, for reproducible random picks and bytes.
type Rng = StdRng;

/// A seeded generator.
fn seeded(seed: u64) -> Rng {
    StdRng::seed_from_u64(seed)
}

fn median(samples: &[f64]) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

fn mb_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64()
}

fn child_name(i: usize) -> String {
    format!("file-{i:06}.txt")
}

/// One line of the final table.
#[derive(Debug)]
struct Figure {
    key: &'static str,
    figure: String,
    unit: &'static str,
    mock: f64,
    mock_samples: Vec<f64>,
    baseline_name: &'static str,
    baseline: f64,
    baseline_samples: Vec<f64>,
    /// How the ratio is formed.
    ratio_name: &'static str,
    ratio: f64,
    target: &'static str,
    met: Option<bool>,
}

/// Test client and the mock's addresses.
#[derive(Debug, Clone)]
struct Ctx {
    client: reqwest::Client,
    url: String,
    metadata: String,
    content: String,
    bearer: String,
}

impl Ctx {
    async fn seed(&self, body: &Value) -> Vec<(String, String)> {
        let response = self
            .client
            .post(format!("{}/_mock/seed", self.url))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "seed failed: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        v["created"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["path"].as_str().unwrap().to_string(),
                    c["id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Seeds `n` small files into `parent`, `batch` per request and `concurrent` requests at
    /// a time (the server handles each node in turn, fsyncs included with `--durable`, so overlapping requests
    /// hides some disk latency); returns their ids in order.
    async fn fill(&self, parent: &str, n: usize, batch: usize, concurrent: usize) -> Vec<String> {
        let batches = (0..n).step_by(batch).map(|start| {
            let end = (start + batch).min(n);
            let nodes: Vec<Value> = (start..end)
                .map(|i| json!({"name": child_name(i), "content": format!("file {i}\n")}))
                .collect();
            async move {
                let created = self.seed(&json!({"parent": parent, "nodes": nodes})).await;
                assert_eq!(created.len(), end - start);
                created
            }
        });
        stream::iter(batches)
            .buffered(concurrent)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .flatten()
            .map(|(_, id)| id)
            .collect()
    }
}

// ---- 1. name lookups ---------------------------------------------------------------------

/// `lookups` sequential name lookups of random existing children of `folder`; lookups/s.
async fn lookups(ctx: &Ctx, folder: &str, children: usize, lookups: usize, rng: &mut Rng) -> f64 {
    let url = format!("{}nodes", ctx.metadata);
    let names: Vec<String> = (0..lookups)
        .map(|_| child_name(rng.random_range(0..children)))
        .collect();
    let started = Instant::now();
    for name in &names {
        let filters = format!(
            "parents:\"{}\" AND name:\"{}\"",
            escape(folder),
            escape(name)
        );
        let response = ctx
            .client
            .get(&url)
            .bearer_auth(&ctx.bearer)
            .query(&[("filters", filters.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let v: Value = response.json().await.unwrap();
        assert_eq!(v["count"], 1, "lookup of {name}: {v}");
        assert_eq!(v["data"][0]["name"].as_str(), Some(name.as_str()));
    }
    lookups as f64 / started.elapsed().as_secs_f64()
}

// ---- 2. GET nodes/{id} -------------------------------------------------------------------

/// `total` GETs of random `urls` from `tasks` concurrent tasks; requests/s.
async fn get_many(ctx: &Ctx, urls: Arc<Vec<String>>, total: usize, tasks: usize, seed: u64) -> f64 {
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let client = ctx.client.clone();
        let bearer = ctx.bearer.clone();
        let urls = Arc::clone(&urls);
        let count = total / tasks + usize::from(t < total % tasks);
        handles.push(tokio::spawn(async move {
            let mut rng = seeded(seed ^ ((t as u64) << 32));
            for _ in 0..count {
                let url = &urls[rng.random_range(0..urls.len())];
                let response = client.get(url).bearer_auth(&bearer).send().await.unwrap();
                assert_eq!(response.status(), StatusCode::OK, "GET {url}");
                let body = response.bytes().await.unwrap();
                assert!(!body.is_empty());
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

// ---- bare axum baselines -----------------------------------------------------------------

#[derive(Debug, Clone)]
struct Bare {
    /// The JSON a `GET nodes/{id}` of the mock returned.
    node_json: Bytes,
    /// 1 MiB of bytes, repeated for downloads.
    chunk: Bytes,
}

/// `GET /drive/v1/nodes/{id}`: a fixed node JSON from memory.
async fn bare_node(State(bare): State<Arc<Bare>>, Path(_id): Path<String>) -> Response {
    let mut response = Response::new(Body::from(bare.node_json.clone()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `GET /blob/{size}`: `size` bytes, the 1 MiB chunk repeated, as a stream.
async fn bare_blob(State(bare): State<Arc<Bare>>, Path(size): Path<u64>) -> Response {
    let chunk = bare.chunk.clone();
    let len = chunk.len() as u64;
    let body = stream::iter((0..size.div_ceil(len)).map(move |i| {
        let n = (size - i * len).min(len) as usize;
        Ok::<_, std::convert::Infallible>(chunk.slice(..n))
    }));
    let mut response = Response::new(Body::from_stream(body));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    response
}

/// `POST /sink`: reads and drops the body; its length as text.
async fn bare_sink(request: Request) -> String {
    let mut body = request.into_body().into_data_stream();
    let mut n = 0u64;
    while let Some(chunk) = body.next().await {
        n += chunk.unwrap().len() as u64;
    }
    n.to_string()
}

async fn start_bare(bare: Arc<Bare>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/drive/v1/nodes/{id}", get(bare_node))
        .route("/blob/{size}", get(bare_blob))
        .route("/sink", post(bare_sink))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(bare);
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

// ---- 3. big transfers --------------------------------------------------------------------

/// The 1 MiB pattern every big file repeats.
fn pattern() -> Bytes {
    let mut buf = vec![0u8; MIB as usize];
    seeded(0xACD).fill_bytes(&mut buf);
    Bytes::from(buf)
}

/// `size` bytes of the pattern, as a stream of chunks that share its buffer.
fn pattern_stream(chunk: &Bytes, size: u64) -> impl Iterator<Item = Bytes> + Send + 'static {
    let chunk = chunk.clone();
    let len = chunk.len() as u64;
    (0..size.div_ceil(len)).map(move |i| chunk.slice(..(size - i * len).min(len) as usize))
}

/// MD5 of `size` bytes of the pattern, fed chunk by chunk on this thread: (MB/s, md5).
fn md5_baseline(chunk: &Bytes, size: u64) -> (f64, String) {
    let started = Instant::now();
    let mut md5 = Md5::new();
    for piece in pattern_stream(chunk, size) {
        md5.update(&piece);
    }
    let digest = md5.finalize();
    let elapsed = started.elapsed();
    let hex = format!("{digest:x}");
    (mb_per_s(size, elapsed), hex)
}

/// An upload's speed, its node, and how long the server took to answer after the last byte
/// was handed to the connection (write, rename, fsync with `--durable`, and the metadata insert).
#[derive(Debug)]
struct Uploaded {
    mb_per_s: f64,
    /// MB/s until the last byte was handed over (the tail left out).
    streaming_mb_per_s: f64,
    id: String,
    tail: Duration,
}

/// Uploads `size` bytes of the pattern as `name` into `parent`.
async fn upload(
    ctx: &Ctx,
    chunk: &Bytes,
    size: u64,
    name: &str,
    parent: &str,
    md5: &str,
) -> Uploaded {
    let metadata = json!({"name": name, "kind": "FILE", "parents": [parent]}).to_string();
    let head = Bytes::from(format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{metadata}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"big\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    ));
    let tail = Bytes::from(format!("\r\n--{BOUNDARY}--\r\n"));
    let length = head.len() as u64 + size + tail.len() as u64;
    let last_sent = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let marker = Arc::clone(&last_sent);
    let parts = std::iter::once(head)
        .chain(pattern_stream(chunk, size))
        .chain(std::iter::once_with(move || {
            *marker.lock().unwrap() = Some(Instant::now());
            tail
        }))
        .map(Ok::<_, std::io::Error>);
    let body = reqwest::Body::wrap_stream(stream::iter(parts));
    let started = Instant::now();
    let response = ctx
        .client
        .post(format!("{}nodes?suppress=deduplication", ctx.content))
        .bearer_auth(&ctx.bearer)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header(header::CONTENT_LENGTH, length)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let elapsed = started.elapsed();
    let tail = last_sent
        .lock()
        .unwrap()
        .map_or(Duration::ZERO, |t| t.elapsed());
    assert_eq!(status, StatusCode::CREATED, "upload failed: {text}");
    let node: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(node["contentProperties"]["size"], size, "{node}");
    assert_eq!(node["contentProperties"]["md5"], md5, "{node}");
    Uploaded {
        mb_per_s: mb_per_s(size, elapsed),
        streaming_mb_per_s: mb_per_s(size, elapsed.saturating_sub(tail)),
        id: node["id"].as_str().unwrap().to_string(),
        tail,
    }
}

/// Downloads `url`, counting the bytes; MB/s.
async fn download(ctx: &Ctx, url: &str, size: u64) -> f64 {
    let started = Instant::now();
    let response = ctx
        .client
        .get(url)
        .bearer_auth(&ctx.bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {url}");
    let mut body = response.bytes_stream();
    let mut n = 0u64;
    while let Some(chunk) = body.next().await {
        n += chunk.unwrap().len() as u64;
    }
    let elapsed = started.elapsed();
    assert_eq!(n, size, "GET {url}: wrong length");
    mb_per_s(size, elapsed)
}

/// Feeds `size` bytes of the pattern straight to the mock's blob writer (hash, write, rename,
/// and fsync when the store is durable; no HTTP, no multipart), then deletes the blob; MB/s.
async fn blob_writer_only(state: &acd_mock::AppState, chunk: &Bytes, size: u64, md5: &str) -> f64 {
    let started = Instant::now();
    let mut writer = state.blobs.writer();
    for piece in pattern_stream(chunk, size) {
        writer.write(piece).await.unwrap();
    }
    let written = writer.finish().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(written.size, size);
    assert_eq!(written.md5, md5);
    state.blobs.remove(&written.blob.stored());
    mb_per_s(size, elapsed)
}

/// Writes `size` bytes of the pattern to a file in `dir` on one thread, fsyncing it when
/// `fsync` (as a durable store does), then deletes it; MB/s: what the disk allows an upload
/// with the same syncing at best.
fn disk_write(dir: &std::path::Path, chunk: &Bytes, size: u64, fsync: bool) -> f64 {
    use std::io::Write;
    let path = dir.join("bench-disk-baseline");
    let started = Instant::now();
    let mut file = std::fs::File::create(&path).unwrap();
    for piece in pattern_stream(chunk, size) {
        file.write_all(&piece).unwrap();
    }
    if fsync {
        file.sync_all().unwrap();
    }
    let elapsed = started.elapsed();
    drop(file);
    std::fs::remove_file(&path).unwrap();
    mb_per_s(size, elapsed)
}

/// Posts `size` bytes of the pattern to the bare sink; MB/s.
async fn sink_upload(ctx: &Ctx, bare_url: &str, chunk: &Bytes, size: u64) -> f64 {
    let body = reqwest::Body::wrap_stream(stream::iter(
        pattern_stream(chunk, size).map(Ok::<_, std::io::Error>),
    ));
    let started = Instant::now();
    let response = ctx
        .client
        .post(format!("{bare_url}/sink"))
        .header(header::CONTENT_LENGTH, size)
        .body(body)
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(text, size.to_string());
    mb_per_s(size, elapsed)
}

// ---- output ------------------------------------------------------------------------------

fn fmt_value(v: f64, unit: &str) -> String {
    if v < 100.0 {
        format!("{v:.2} {unit}")
    } else {
        format!("{v:.0} {unit}")
    }
}

fn print_table(figures: &[Figure]) {
    let rows: Vec<[String; 5]> = figures
        .iter()
        .map(|f| {
            [
                f.figure.clone(),
                fmt_value(f.mock, f.unit),
                format!("{} ({})", fmt_value(f.baseline, f.unit), f.baseline_name),
                format!("{:.2}x {}", f.ratio, f.ratio_name),
                match f.met {
                    Some(true) => format!("{} ok", f.target),
                    Some(false) => format!("{} MISSED", f.target),
                    None => f.target.to_string(),
                },
            ]
        })
        .collect();
    let head = ["figure", "acd-mock", "baseline", "ratio", "target"];
    let mut widths = head.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("  {}", padded.join(" | ").trim_end());
    };
    line(&head.map(String::from));
    println!(
        "  {}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-|-")
    );
    for row in &rows {
        line(row);
    }
}

fn target_dir() -> PathBuf {
    // The bench binary is <target>/<profile>/deps/mock_bench-<hash>.
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn write_json(
    plan: &Plan,
    figures: &[Figure],
    total: Duration,
    seeding: Duration,
    diagnostics: Value,
) -> PathBuf {
    let dir = target_dir();
    let dir = dir.canonicalize().unwrap_or(dir);
    let path = dir.join("acd-mock-bench.json");
    let out = json!({
        "quick": plan.quick,
        "plan": {
            "big_file_bytes": plan.big,
            "folder_children": plan.folders,
            "seed_batch": plan.batch,
            "lookups_per_rep": plan.lookups,
            "get_node_requests_per_rep": plan.gets,
            "get_node_tasks": plan.tasks,
            "reps": plan.reps,
            "million_folders": plan.million_folders,
        },
        "seconds_total": total.as_secs_f64(),
        "seconds_seeding": seeding.as_secs_f64(),
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "diagnostics": diagnostics,
        "figures": figures.iter().map(|f| json!({
            "key": f.key,
            "figure": f.figure,
            "unit": f.unit,
            "acd_mock": f.mock,
            "acd_mock_samples": f.mock_samples,
            "baseline_name": f.baseline_name,
            "baseline": f.baseline,
            "baseline_samples": f.baseline_samples,
            "ratio_name": f.ratio_name,
            "ratio": f.ratio,
            "target": f.target,
            "met": f.met,
        })).collect::<Vec<_>>(),
    });
    std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap() + "\n").unwrap();
    path
}

// ---- main --------------------------------------------------------------------------------

fn main() {
    let plan = Plan::from_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(plan));
}

/// Name lookups in the small and the large folder, alternating; the large folder's figure
/// beside the small one's.
async fn bench_lookups(ctx: &Ctx, plan: &Plan, folder_ids: &[String], rng: &mut Rng) -> Figure {
    let mut small = Vec::new();
    let mut large = Vec::new();
    // Warm-up (prepared statements, connections, page cache).
    lookups(ctx, &folder_ids[0], plan.folders[0], 100, rng).await;
    lookups(ctx, &folder_ids[1], plan.folders[1], 100, rng).await;
    for rep in 0..plan.reps {
        let order = if rep % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let rate = lookups(
                ctx,
                &folder_ids[which],
                plan.folders[which],
                plan.lookups,
                rng,
            )
            .await;
            if which == 0 { &mut small } else { &mut large }.push(rate);
        }
        println!(
            "lookups rep {}: {:.0}/s in {} children, {:.0}/s in {} children",
            rep + 1,
            small[rep],
            plan.folders[0],
            large[rep],
            plan.folders[1]
        );
    }
    let (s, l) = (median(&small), median(&large));
    let cost = s / l;
    Figure {
        key: "name_lookup",
        figure: format!(
            "name lookups/s, folder of {}k (baseline: {}k)",
            plan.folders[1] / 1000,
            plan.folders[0] / 1000
        ),
        unit: "/s",
        mock: l,
        mock_samples: large,
        baseline_name: "same, small folder",
        baseline: s,
        baseline_samples: small,
        ratio_name: "cost large/small",
        ratio: cost,
        target: "~1x (<=1.5x)",
        met: Some(cost <= 1.5),
    }
}

/// `GET nodes/{id}` of the mock beside the bare axum handler, alternating.
async fn bench_get(ctx: &Ctx, plan: &Plan, child_ids: &[Vec<String>], bare_url: &str) -> Figure {
    let mock_urls: Arc<Vec<String>> = Arc::new(
        child_ids
            .iter()
            .flatten()
            .map(|id| format!("{}nodes/{id}", ctx.metadata))
            .collect(),
    );
    let bare_urls: Arc<Vec<String>> = Arc::new(
        mock_urls
            .iter()
            .map(|u| u.replacen(&ctx.url, bare_url, 1))
            .collect(),
    );
    get_many(ctx, Arc::clone(&mock_urls), 500, plan.tasks, 1).await;
    get_many(ctx, Arc::clone(&bare_urls), 500, plan.tasks, 1).await;
    let (mut mock_gets, mut bare_gets) = (Vec::new(), Vec::new());
    for rep in 0..plan.reps {
        let seed = 100 + rep as u64;
        if rep % 2 == 0 {
            mock_gets
                .push(get_many(ctx, Arc::clone(&mock_urls), plan.gets, plan.tasks, seed).await);
            bare_gets
                .push(get_many(ctx, Arc::clone(&bare_urls), plan.gets, plan.tasks, seed).await);
        } else {
            bare_gets
                .push(get_many(ctx, Arc::clone(&bare_urls), plan.gets, plan.tasks, seed).await);
            mock_gets
                .push(get_many(ctx, Arc::clone(&mock_urls), plan.gets, plan.tasks, seed).await);
        }
        println!(
            "GET nodes/{{id}} rep {}: mock {:.0}/s, bare axum {:.0}/s",
            rep + 1,
            mock_gets[rep],
            bare_gets[rep]
        );
    }
    let (m, b) = (median(&mock_gets), median(&bare_gets));
    Figure {
        key: "get_node",
        figure: format!("GET nodes/{{id}} req/s, {} tasks", plan.tasks),
        unit: "/s",
        mock: m,
        mock_samples: mock_gets,
        baseline_name: "bare axum, same JSON",
        baseline: b,
        baseline_samples: bare_gets,
        ratio_name: "mock/bare",
        ratio: m / b,
        // Issue 14's target.
        target: ">=0.5x",
        met: Some(m / b >= 0.5),
    }
}

/// Big upload and download, with their baselines; also the figures that say where the
/// upload's time goes.
async fn bench_transfers(
    ctx: &Ctx,
    plan: &Plan,
    state: &acd_mock::AppState,
    chunk: &Bytes,
    bare_url: &str,
    folder: &str,
    data_dir: &std::path::Path,
) -> (Vec<Figure>, Value) {
    let mut figures = Vec::new();
    let size = plan.big;
    let (mut md5s, mut ups, mut downs, mut bare_downs, mut sinks) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let bare_blob_url = format!("{bare_url}/blob/{size}");
    let mut expected_md5 = String::new();
    let (mut writers, mut disks) = (Vec::new(), Vec::new());
    let (mut tails, mut streaming) = (Vec::new(), Vec::new());
    // The disk baseline does the store's syncing: none by default, fsync with --durable.
    let disk_name = if plan.durable {
        "write+fsync, one thread"
    } else {
        "write, no fsync, one thread"
    };
    for rep in 0..plan.reps {
        let hash = || {
            let chunk = chunk.clone();
            tokio::task::spawn_blocking(move || md5_baseline(&chunk, size))
        };
        // Alternate which runs first; the first repetition hashes first to learn the MD5
        // every upload must report.
        if rep % 2 == 0 {
            let (rate, md5) = hash().await.unwrap();
            md5s.push(rate);
            expected_md5 = md5;
        }
        let up = upload(
            ctx,
            chunk,
            size,
            &format!("big-{rep}.bin"),
            folder,
            &expected_md5,
        )
        .await;
        if rep % 2 == 1 {
            let (rate, md5) = hash().await.unwrap();
            assert_eq!(md5, expected_md5);
            md5s.push(rate);
        }
        ups.push(up.mb_per_s);
        streaming.push(up.streaming_mb_per_s);
        tails.push(up.tail.as_secs_f64() * 1e3);
        let id = up.id;
        let mock_blob_url = format!("{}nodes/{id}/content", ctx.content);
        if rep % 2 == 0 {
            bare_downs.push(download(ctx, &bare_blob_url, size).await);
            downs.push(download(ctx, &mock_blob_url, size).await);
        } else {
            downs.push(download(ctx, &mock_blob_url, size).await);
            bare_downs.push(download(ctx, &bare_blob_url, size).await);
        }
        sinks.push(sink_upload(ctx, bare_url, chunk, size).await);
        let disk = || {
            let (dir, chunk) = (data_dir.to_path_buf(), chunk.clone());
            let fsync = plan.durable;
            tokio::task::spawn_blocking(move || disk_write(&dir, &chunk, size, fsync))
        };
        if rep % 2 == 0 {
            disks.push(disk().await.unwrap());
            writers.push(blob_writer_only(state, chunk, size, &expected_md5).await);
        } else {
            writers.push(blob_writer_only(state, chunk, size, &expected_md5).await);
            disks.push(disk().await.unwrap());
        }
        println!(
            "{} MiB rep {}: md5 {:.0} MB/s, upload {:.0} MB/s ({:.0} MB/s until the last byte, \
             then {:.0} ms to the answer), bare sink upload {:.0} MB/s, {} {:.0} \
             MB/s, blob writer alone {:.0} MB/s, download {:.0} MB/s, bare download {:.0} MB/s",
            size / MIB,
            rep + 1,
            md5s[rep],
            ups[rep],
            streaming[rep],
            tails[rep],
            sinks[rep],
            disk_name,
            disks[rep],
            writers[rep],
            downs[rep],
            bare_downs[rep]
        );
    }
    let (d, bd) = (median(&downs), median(&bare_downs));
    figures.push(Figure {
        key: "download",
        figure: format!("download MB/s, {} MiB file", size / MIB),
        unit: "MB/s",
        mock: d,
        mock_samples: downs,
        baseline_name: "bare axum from memory",
        baseline: bd,
        baseline_samples: bare_downs,
        ratio_name: "mock/bare",
        ratio: d / bd,
        target: ">=0.8",
        met: Some(d / bd >= 0.8),
    });
    let (u, h) = (median(&ups), median(&md5s));
    figures.push(Figure {
        key: "upload",
        figure: format!("upload MB/s, {} MiB file", size / MIB),
        unit: "MB/s",
        mock: u,
        mock_samples: ups.clone(),
        baseline_name: "md-5, one core",
        baseline: h,
        baseline_samples: md5s,
        ratio_name: "mock/md5",
        ratio: u / h,
        target: ">=0.8",
        met: Some(u / h >= 0.8),
    });
    let sk = median(&sinks);
    figures.push(Figure {
        key: "upload_vs_bare_sink",
        figure: format!("upload MB/s, {} MiB file (vs bare HTTP sink)", size / MIB),
        unit: "MB/s",
        mock: u,
        mock_samples: ups.clone(),
        baseline_name: "bare axum sink",
        baseline: sk,
        baseline_samples: sinks,
        ratio_name: "mock/sink",
        ratio: u / sk,
        target: "info",
        met: None,
    });
    let dk = median(&disks);
    figures.push(Figure {
        key: "upload_vs_disk",
        figure: format!("upload MB/s, {} MiB file (vs disk)", size / MIB),
        unit: "MB/s",
        mock: u,
        mock_samples: ups,
        baseline_name: disk_name,
        baseline: dk,
        baseline_samples: disks.clone(),
        ratio_name: "mock/disk",
        ratio: u / dk,
        target: "info",
        met: None,
    });
    let w = median(&writers);
    figures.push(Figure {
        key: "blob_writer_alone",
        figure: format!("blob writer alone (no HTTP) MB/s, {} MiB", size / MIB),
        unit: "MB/s",
        mock: w,
        mock_samples: writers,
        baseline_name: disk_name,
        baseline: dk,
        baseline_samples: disks,
        ratio_name: "writer/disk",
        ratio: w / dk,
        target: "info",
        met: None,
    });
    let diagnostics = json!({
        "upload_streaming_mb_s": streaming,
        "upload_tail_ms": tails,
    });
    (figures, diagnostics)
}

async fn run(plan: Plan) {
    let total_started = Instant::now();
    println!(
        "acd-mock bench ({}, {}): {} MiB file, folders of {} and {} children, {} reps, {} CPUs",
        if plan.quick { "quick" } else { "full" },
        if plan.durable {
            "durable store"
        } else {
            "default store"
        },
        plan.big / MIB,
        plan.folders[0],
        plan.folders[1],
        plan.reps,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let data = tempfile::Builder::new()
        .prefix("acd-mock-bench")
        .tempdir()
        .unwrap();
    let mut builder = MockServer::builder();
    if plan.durable {
        builder = builder.data_dir(data.path());
    }
    let server = builder
        .quota(u64::MAX / 4)
        .page_size(200)
        .start()
        .await
        .unwrap();
    let token = server.mint_token(None).unwrap();
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let ctx = Ctx {
        client,
        url: server.url().to_string(),
        metadata: server.metadata_url(),
        content: server.content_url(),
        bearer: token.access_token.clone(),
    };
    let mut figures = Vec::new();
    let mut diagnostics = serde_json::Map::new();

    // ---- seeding
    let seeding_started = Instant::now();
    let folder_ids: Vec<String> = ctx
        .seed(&json!({"nodes": [
            {"name": "bench-small", "kind": "FOLDER"},
            {"name": "bench-large", "kind": "FOLDER"},
            {"name": "bench-big", "kind": "FOLDER"},
        ]}))
        .await
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    let mut child_ids = Vec::new();
    if plan.lookups_on || plan.get_on || plan.pages_on {
        let mut seed_seconds = Vec::new();
        for (folder, &n) in folder_ids.iter().zip(&plan.folders) {
            let started = Instant::now();
            child_ids.push(ctx.fill(folder, n, plan.batch, 4).await);
            let elapsed = started.elapsed();
            seed_seconds.push(elapsed.as_secs_f64());
            println!(
                "seeded {n} children in {:.1} s ({:.0} nodes/s)",
                elapsed.as_secs_f64(),
                n as f64 / elapsed.as_secs_f64()
            );
        }
        diagnostics.insert("seed_seconds_per_folder".into(), json!(seed_seconds));
        figures.push(scale::seed_figure(&plan, seed_seconds[1]));
    }
    let seeding = seeding_started.elapsed();

    // ---- the bare axum server of the baselines
    let node_json = match child_ids.get(1).and_then(|ids| ids.first()) {
        Some(id) => ctx
            .client
            .get(format!("{}nodes/{id}", ctx.metadata))
            .bearer_auth(&ctx.bearer)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
        None => Bytes::new(),
    };
    let chunk = pattern();
    let bare_url = start_bare(Arc::new(Bare {
        node_json,
        chunk: chunk.clone(),
    }))
    .await;

    if plan.lookups_on {
        let mut rng = seeded(42);
        figures.push(bench_lookups(&ctx, &plan, &folder_ids, &mut rng).await);
    }
    if plan.pages_on {
        figures.extend(scale::bench_pages(&ctx, &plan, &folder_ids).await);
    }
    if plan.get_on {
        figures.push(bench_get(&ctx, &plan, &child_ids, &bare_url).await);
    }
    if plan.transfer_on {
        let (more, extra) = bench_transfers(
            &ctx,
            &plan,
            server.state(),
            &chunk,
            &bare_url,
            &folder_ids[2],
            data.path(),
        )
        .await;
        figures.extend(more);
        if let Value::Object(extra) = extra {
            diagnostics.extend(extra);
        }
    }

    server.shutdown().await;
    drop(data);
    if plan.million_on {
        let mut rng = seeded(7);
        let (more, extra) = scale::bench_million(&plan, &mut rng).await;
        figures.extend(more);
        if let Value::Object(extra) = extra {
            diagnostics.extend(extra);
        }
    }
    let total = total_started.elapsed();
    println!();
    print_table(&figures);
    let path = write_json(&plan, &figures, total, seeding, Value::Object(diagnostics));
    println!();
    println!(
        "total {:.1} s (seeding {:.1} s); wrote {}",
        total.as_secs_f64(),
        seeding.as_secs_f64(),
        path.display()
    );
}
