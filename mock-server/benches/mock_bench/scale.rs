//! Scale figures: the cost of a listing page in a small and a large folder, and a
//! 1,000,000-node account (1,000 folders x 1,000 synthetic files, plus the large folder) seeded
//! into an `acd-mock` child process, then looked up, listed and streamed through the changes
//! feed while the process's peak RSS is watched.

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use acd_mock::store::filter::escape;
use futures_util::{StreamExt, stream};
use rand::RngExt as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Ctx, Figure, Plan, Rng, median};

/// What a walk through a folder's pages saw.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Walk {
    /// Pages fetched.
    pub pages: usize,
    /// Milliseconds per page (mean over the walk).
    pub ms_per_page: f64,
    /// Whether the walk reached the last page.
    pub complete: bool,
}

/// Lists `folder` as the acd client does (`GET nodes?filters=parents:"F"`, pages of 200) for
/// at most `max_pages` pages or until `budget` is spent. Every page must report `count ==
/// children`; no node may come twice, and a complete walk must see every child.
pub(crate) async fn walk(
    ctx: &Ctx,
    folder: &str,
    children: usize,
    max_pages: usize,
    budget: Duration,
) -> Walk {
    let url = format!("{}nodes", ctx.metadata);
    let filters = format!("parents:\"{}\"", escape(folder));
    let mut seen = HashSet::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    let started = Instant::now();
    let complete = loop {
        let mut query = vec![("filters", filters.clone()), ("limit", "200".to_string())];
        if let Some(token) = &token {
            query.push(("startToken", token.clone()));
        }
        let response = ctx
            .client
            .get(&url)
            .bearer_auth(&ctx.bearer)
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.unwrap();
        pages += 1;
        assert_eq!(page["count"], children, "count on page {pages}");
        for node in page["data"].as_array().unwrap() {
            let id = node["id"].as_str().unwrap().to_string();
            assert!(seen.insert(id), "a node came twice");
        }
        match page["nextToken"].as_str() {
            Some(next) => token = Some(next.to_string()),
            None => break true,
        }
        if pages >= max_pages || started.elapsed() >= budget {
            break false;
        }
    };
    let elapsed = started.elapsed();
    if complete {
        assert_eq!(seen.len(), children, "a complete walk sees every child");
    }
    Walk {
        pages,
        ms_per_page: elapsed.as_secs_f64() * 1e3 / pages as f64,
        complete,
    }
}

/// Page cost in the small and the large folder, alternating: the small folder walked whole,
/// the large one for as many pages from its start.
pub(crate) async fn bench_pages(ctx: &Ctx, plan: &Plan, folder_ids: &[String]) -> Vec<Figure> {
    let long = Duration::from_secs(600);
    let pages = plan.folders[0].div_ceil(200).max(1);
    // Warm-up.
    walk(ctx, &folder_ids[0], plan.folders[0], pages, long).await;
    walk(ctx, &folder_ids[1], plan.folders[1], 2, long).await;
    let (mut small, mut large) = (Vec::new(), Vec::new());
    for rep in 0..plan.reps {
        let order = if rep % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let w = walk(ctx, &folder_ids[which], plan.folders[which], pages, long).await;
            if which == 0 { &mut small } else { &mut large }.push(w.ms_per_page);
        }
        println!(
            "pages rep {}: {:.2} ms/page in {} children, {:.2} ms/page in {} children",
            rep + 1,
            small[rep],
            plan.folders[0],
            large[rep],
            plan.folders[1]
        );
    }
    let (s, l) = (median(&small), median(&large));
    let mut figures = vec![
        Figure {
            key: "page_cost",
            figure: format!(
                "ms per page of 200, folder of {}k (baseline: {}k)",
                plan.folders[1] / 1000,
                plan.folders[0] / 1000
            ),
            unit: "ms",
            mock: l,
            mock_samples: large.clone(),
            baseline_name: "same, small folder",
            baseline: s,
            baseline_samples: small,
            ratio_name: "cost large/small",
            ratio: l / s,
            target: "<=1.5x",
            met: Some(l / s <= 1.5),
        },
        Figure {
            key: "page_ms",
            figure: format!("ms per page of 200, folder of {}k", plan.folders[1] / 1000),
            unit: "ms",
            mock: l,
            mock_samples: large,
            baseline_name: "target",
            baseline: 5.0,
            baseline_samples: Vec::new(),
            ratio_name: "of target",
            ratio: l / 5.0,
            target: "<=5 ms",
            met: Some(l <= 5.0),
        },
    ];
    // The whole large folder, once (stops after two minutes if listing is slow).
    let budget = Duration::from_secs(120);
    let whole = walk(ctx, &folder_ids[1], plan.folders[1], usize::MAX, budget).await;
    println!(
        "listed {} pages of the {}-child folder at {:.2} ms/page ({})",
        whole.pages,
        plan.folders[1],
        whole.ms_per_page,
        if whole.complete {
            "the whole folder"
        } else {
            "stopped after 120 s"
        }
    );
    figures.push(Figure {
        key: "page_ms_whole_folder",
        figure: format!(
            "ms per page, whole {}k folder listed{}",
            plan.folders[1] / 1000,
            if whole.complete {
                String::new()
            } else {
                format!(" (first {} pages: 120 s budget)", whole.pages)
            }
        ),
        unit: "ms",
        mock: whole.ms_per_page,
        mock_samples: vec![whole.ms_per_page],
        baseline_name: "same, small folder",
        baseline: s,
        baseline_samples: Vec::new(),
        ratio_name: "cost large/small",
        ratio: whole.ms_per_page / s,
        target: "info",
        met: None,
    });
    figures
}

/// The seeding rate of the large folder's fill, against the target.
pub(crate) fn seed_figure(plan: &Plan, seconds: f64) -> Figure {
    let rate = plan.folders[1] as f64 / seconds;
    Figure {
        key: "seed_rate",
        figure: format!(
            "seed nodes/s, {}k small files ({} per request, 4 at a time)",
            plan.folders[1] / 1000,
            plan.batch
        ),
        unit: "/s",
        mock: rate,
        mock_samples: vec![rate],
        baseline_name: "target",
        baseline: 20_000.0,
        baseline_samples: Vec::new(),
        ratio_name: "of target",
        ratio: rate / 20_000.0,
        target: ">=20000/s",
        met: Some(rate >= 20_000.0),
    }
}

// ---- the 1,000,000-node account ------------------------------------------------------------

/// `acd-mock` as a child process (its own RSS), killed on drop.
struct Process {
    child: Child,
    url: String,
}

impl Process {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_acd-mock"))
            .args(["--listen", "127.0.0.1:0", "--log-level", "warn"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("acd-mock starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let first = rx.recv_timeout(Duration::from_secs(60)).unwrap();
        let addr = first
            .strip_prefix("acd-mock listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        Self {
            child,
            url: addr.to_string(),
        }
    }

    /// `(VmHWM, VmRSS)` in MiB.
    fn rss_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map_or(f64::NAN, |kib| kib / 1024.0)
        };
        (field("VmHWM:"), field("VmRSS:"))
    }
}

impl Drop for Process {
    /// Stops the child with SIGTERM so it removes its temporary store (a 1M-node account's
    /// database is about 900 MB); SIGKILL only if it has not stopped after 30 s.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn file_name(j: usize) -> String {
    format!("f-{j:04}.bin")
}

/// One seed request: `folders` folders (numbered from `first`) of `files` synthetic files.
fn tree_request(first: usize, folders: usize, files: usize) -> Value {
    let nodes: Vec<Value> = (first..first + folders)
        .map(|k| {
            let children: Vec<Value> = (0..files)
                .map(|j| {
                    json!({
                        "name": file_name(j),
                        "size": 1000 + (j % 7) * 100,
                        "seed": (k * files + j) as u64,
                    })
                })
                .collect();
            json!({"name": format!("dir-{k:04}"), "kind": "FOLDER", "children": children})
        })
        .collect();
    json!({ "nodes": nodes })
}

/// Seeds `folders` x `files` synthetic files plus a folder of `big` files into a child process,
/// then measures name lookups, a page of the big folder, the whole changes feed, and the
/// process's peak RSS.
pub(crate) async fn bench_million(plan: &Plan, rng: &mut Rng) -> (Vec<Figure>, Value) {
    let (folders, files, big) = (plan.million_folders, 1_000, plan.folders[1]);
    let process = Process::start();
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(16)
        .build()
        .unwrap();
    let minted: Value = client
        .post(format!("{}/_mock/tokens", process.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ctx = Ctx {
        client,
        url: process.url.clone(),
        metadata: format!("{}/drive/v1/", process.url),
        content: format!("{}/cdproxy/", process.url),
        bearer: minted["access_token"].as_str().unwrap().to_string(),
    };
    let total_nodes = folders * (files + 1) + big + 1;
    println!(
        "1M account: seeding {folders} folders x {files} files and one folder of {big} into a child acd-mock ({total_nodes} nodes)"
    );

    // ---- seeding: the tree in requests of 10 folders, two at a time; then the big folder.
    let started = Instant::now();
    let per_request = 10;
    let requests = (0..folders).step_by(per_request).map(|first| {
        let body = tree_request(first, per_request.min(folders - first), files);
        let ctx = &ctx;
        async move { ctx.seed(&body).await.len() }
    });
    let created: usize = stream::iter(requests)
        .buffered(2)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .sum();
    assert_eq!(created, folders * (files + 1));
    let big_folder = ctx
        .seed(&json!({"nodes": [{"name": "big", "kind": "FOLDER"}]}))
        .await
        .remove(0)
        .1;
    let batches = (0..big).step_by(10_000).map(|start| {
        let end = (start + 10_000).min(big);
        let nodes: Vec<Value> = (start..end)
            .map(|i| json!({"name": format!("b-{i:06}.bin"), "size": 512, "seed": i as u64}))
            .collect();
        let (ctx, parent) = (&ctx, &big_folder);
        async move {
            ctx.seed(&json!({"parent": parent, "nodes": nodes}))
                .await
                .len()
        }
    });
    let created_big: usize = stream::iter(batches)
        .buffered(2)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .sum();
    assert_eq!(created_big, big);
    let seed_s = started.elapsed().as_secs_f64();
    let seeded = folders * (files + 1) + 1 + big;
    let (hwm_seeded, rss_seeded) = process.rss_mib();
    println!(
        "seeded {seeded} nodes in {seed_s:.1} s ({:.0} nodes/s); peak RSS {hwm_seeded:.0} MiB, now {rss_seeded:.0} MiB",
        seeded as f64 / seed_s
    );

    // ---- lookups: random files of random folders, one at a time.
    let folder_ids: Vec<String> = {
        let mut ids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("filters", "kind:FOLDER".to_string())];
            if let Some(t) = &token {
                query.push(("startToken", t.clone()));
            }
            let page: Value = ctx
                .client
                .get(format!("{}nodes", ctx.metadata))
                .bearer_auth(&ctx.bearer)
                .query(&query)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for node in page["data"].as_array().unwrap() {
                if node["name"].as_str().is_some_and(|n| n.starts_with("dir-")) {
                    ids.push(node["id"].as_str().unwrap().to_string());
                }
            }
            match page["nextToken"].as_str() {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        ids
    };
    assert_eq!(folder_ids.len(), folders);
    let mut latencies = Vec::new();
    for i in 0..1_100 {
        let folder = &folder_ids[rng.random_range(0..folders)];
        let name = file_name(rng.random_range(0..files));
        let filters = format!(
            "parents:\"{}\" AND name:\"{}\"",
            escape(folder),
            escape(&name)
        );
        let started = Instant::now();
        let page: Value = ctx
            .client
            .get(format!("{}nodes", ctx.metadata))
            .bearer_auth(&ctx.bearer)
            .query(&[("filters", filters.as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let took = started.elapsed();
        assert_eq!(page["count"], 1, "{page}");
        if i >= 100 {
            latencies.push(took.as_secs_f64() * 1e3);
        }
    }
    latencies.sort_by(f64::total_cmp);
    let p50 = latencies[latencies.len() / 2];
    let p99 = latencies[latencies.len() * 99 / 100];
    println!("name lookups in the 1M account: p50 {p50:.2} ms, p99 {p99:.2} ms");

    // ---- a page of the big folder (its first 25, then the whole folder).
    let first = walk(&ctx, &big_folder, big, 25, Duration::from_secs(600)).await;
    let whole = walk(&ctx, &big_folder, big, usize::MAX, Duration::from_secs(120)).await;
    println!(
        "big folder: {:.2} ms/page over its first {} pages; whole folder {} pages at {:.2} ms/page{}",
        first.ms_per_page,
        first.pages,
        whole.pages,
        whole.ms_per_page,
        if whole.complete {
            ""
        } else {
            " (stopped after 120 s)"
        }
    );

    // ---- the whole changes feed, streamed.
    let started = Instant::now();
    let response = ctx
        .client
        .post(format!("{}changes", ctx.metadata))
        .bearer_auth(&ctx.bearer)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.bytes_stream();
    let (mut buf, mut nodes, mut ended) = (Vec::new(), 0usize, false);
    while let Some(chunk) = body.next().await {
        buf.extend_from_slice(&chunk.unwrap());
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let v: Value = serde_json::from_slice(&line).unwrap();
            if v["end"] == true {
                ended = true;
            } else {
                nodes += v["nodes"].as_array().map_or(0, Vec::len);
            }
        }
    }
    let feed_s = started.elapsed().as_secs_f64();
    assert!(ended, "the feed ends with {{\"end\":true}}");
    assert_eq!(
        nodes,
        seeded + 1,
        "the feed carries every node (and the root) once"
    );
    let (hwm, rss) = process.rss_mib();
    println!(
        "changes feed: {nodes} nodes in {feed_s:.1} s ({:.0} nodes/s); mock peak RSS {hwm:.0} MiB, now {rss:.0} MiB",
        nodes as f64 / feed_s
    );

    let label = format!("{}k-node account", seeded / 1000);
    let figures = vec![
        Figure {
            key: "million_seed_rate",
            figure: format!("seed nodes/s, {label} (synthetic files)"),
            unit: "/s",
            mock: seeded as f64 / seed_s,
            mock_samples: vec![seeded as f64 / seed_s],
            baseline_name: "target",
            baseline: 20_000.0,
            baseline_samples: Vec::new(),
            ratio_name: "of target",
            ratio: seeded as f64 / seed_s / 20_000.0,
            target: ">=20000/s",
            met: Some(seeded as f64 / seed_s >= 20_000.0),
        },
        Figure {
            key: "million_lookup_p50",
            figure: format!("name lookup ms p50 (p99 {p99:.2} ms), {label}"),
            unit: "ms",
            mock: p50,
            mock_samples: vec![p50, p99],
            baseline_name: "page target",
            baseline: 5.0,
            baseline_samples: Vec::new(),
            ratio_name: "of 5 ms",
            ratio: p50 / 5.0,
            target: "info",
            met: None,
        },
        Figure {
            key: "million_page_ms",
            figure: format!("ms per page, {}k folder in the {label}", big / 1000),
            unit: "ms",
            mock: first.ms_per_page,
            mock_samples: vec![first.ms_per_page, whole.ms_per_page],
            baseline_name: "target",
            baseline: 5.0,
            baseline_samples: Vec::new(),
            ratio_name: "of target",
            ratio: first.ms_per_page / 5.0,
            target: "<=5 ms",
            met: Some(first.ms_per_page <= 5.0),
        },
        Figure {
            key: "million_feed_rss",
            figure: format!(
                "mock peak RSS MiB, {label} seeded + changes feed streamed ({:.1} s)",
                feed_s
            ),
            unit: "MiB",
            mock: hwm,
            mock_samples: vec![hwm_seeded, hwm],
            baseline_name: "target",
            baseline: 200.0,
            baseline_samples: Vec::new(),
            ratio_name: "of target",
            ratio: hwm / 200.0,
            target: "<200 MiB",
            met: Some(hwm < 200.0),
        },
    ];
    let diagnostics = json!({
        "million_nodes": seeded,
        "million_seed_seconds": seed_s,
        "million_lookup_ms_p50": p50,
        "million_lookup_ms_p99": p99,
        "million_page_ms_first_25": first.ms_per_page,
        "million_page_ms_whole": whole.ms_per_page,
        "million_whole_complete": whole.complete,
        "million_feed_seconds": feed_s,
        "million_peak_rss_mib_after_seed": hwm_seeded,
        "million_peak_rss_mib": hwm,
    });
    (figures, diagnostics)
}
