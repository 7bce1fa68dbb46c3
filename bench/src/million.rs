//! The first sync of acd's metadata cache from a 1,000,000-node account: a fresh acd-mock
//! seeded with 1,000 folders of 1,000 synthetic files (100 with `--quick`), then one
//! `acd cache sync` timed, with its peak RSS (target < 100 MiB), and checked by `acd cache info`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::{Value, json};

use crate::report::Figure;
use crate::tools::{Binaries, REMOTE, Session};
use crate::workloads::{Measured, Plan, record, run_ok};

/// Files in each seeded folder.
const FILES: usize = 1_000;
/// Folders seeded per request.
const PER_REQUEST: usize = 10;

/// Folders `first..first + count`, each with `FILES` synthetic files.
fn folders(first: usize, count: usize) -> Vec<Value> {
    (first..first + count)
        .map(|f| {
            let files: Vec<Value> = (0..FILES)
                .map(|i| {
                    let n = f * FILES + i;
                    json!({"name": format!("f{i:04}.bin"), "kind": "FILE", "size": 512 + n % 512,
                           "seed": n, "md5": format!("{n:032x}")})
                })
                .collect();
            json!({"name": format!("d{f:04}"), "kind": "FOLDER", "children": files})
        })
        .collect()
}

/// The node count `acd cache info` prints.
fn cached_nodes(info: &str) -> Option<u64> {
    info.lines().find_map(|l| {
        let line = l.trim().to_ascii_lowercase();
        line.strip_prefix("nodes:")?.trim().parse().ok()
    })
}

/// Seeds the account, then times the first `acd cache sync`.
pub(crate) fn first_sync(
    bins: &Binaries,
    plan: &Plan,
    dir: &Path,
    timeout: Duration,
) -> Result<Vec<Figure>> {
    let count = if plan.quick { 100 } else { 1_000 };
    let nodes = (count * (FILES + 1) + 1) as u64;
    let session = Session::start(bins, dir, &[], timeout)?;
    eprintln!("1M account: seeding {count} folders x {FILES} files ({nodes} nodes with the root)");
    let started = Instant::now();
    for first in (0..count).step_by(PER_REQUEST) {
        session.seed(None, folders(first, PER_REQUEST.min(count - first)))?;
        crate::procs::check_interrupted()?;
    }
    eprintln!("seeded in {:.1} s", started.elapsed().as_secs_f64());
    let mut fig = Figure::new(
        "sync_first_1m",
        format!("first cache sync, account of {nodes} nodes"),
        0,
        nodes,
    );
    let root = format!("{REMOTE}:");
    let outcome = run_ok(
        &session,
        "acd-cache-sync-1m",
        session.acd(&["cache", "sync", &root]),
    )
    .and_then(|run| {
        let info = run_ok(
            &session,
            "acd-cache-info",
            session.acd(&["cache", "info", &root]),
        )?;
        let text = info.stdout_text();
        eprintln!("{text}");
        match cached_nodes(&text) {
            Some(n) if n >= nodes => Ok(Measured::from(&run)),
            other => bail!("the cache holds {other:?} nodes, expected {nodes}: {text}"),
        }
    });
    record(&mut fig, "acd", 0, outcome)?;
    Ok(vec![fig])
}
