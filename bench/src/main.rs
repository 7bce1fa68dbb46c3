//! acd-bench: acd against rclone 1.60, curl and md-5 hashing, on one local acd-mock.
//!
//! `cargo run --release -p acd-bench -- [--quick] [--out FILE.json] [--reps N] [--only SECTIONS]`
//!
//! It needs release builds of `acd` and `acd-mock` next to it (target/release/), rclone and curl
//! on the PATH. Each figure alternates the tools `reps` times and reports medians; a table of
//! ratios (acd / other, as speeds) with the targets is printed and written as JSON.

mod data;
mod million;
mod mount;
mod procs;
mod report;
mod tools;
mod workloads;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::Parser;
use serde_json::json;

use crate::procs::{check_interrupted, install_signal_handler};
use crate::report::{Compare, Figure, Row, row, row_json, table};
use crate::tools::{Binaries, Session};
use crate::workloads::Plan;

/// Every section, in the order they run.
const SECTIONS: &[&str] = &[
    "large", "small", "list", "rss", "mount", "faults", "million",
];

/// acd-bench: acd against rclone 1.60, curl and md-5 hashing, on one local acd-mock.
#[derive(Debug, Parser)]
#[command(name = "acd-bench")]
struct Options {
    /// 128 MiB instead of 1 GiB, 200 small files, listings of 2,000 / 5,000 (the repetitions
    /// stay at 3 unless --reps says otherwise).
    #[arg(long)]
    quick: bool,
    /// Where to write the JSON (default: <target>/acd-bench.json).
    #[arg(long, value_name = "FILE.json")]
    out: Option<PathBuf>,
    /// Repetitions of each alternating set of runs; the tables give medians (default 3).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    reps: Option<u16>,
    /// Run only these sections.
    #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(SECTIONS))]
    only: Option<Vec<String>>,
}

/// The cargo target directory this binary was built into (the parent of `release/` or `debug/`).
fn target_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .context("this program is not inside a cargo target directory")
}

/// A program on the PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Finds the binaries; the error text tells the user how to get the missing ones.
fn locate(target: &Path) -> Result<Binaries, String> {
    let release = target.join("release");
    let acd = release.join("acd");
    let mock = release.join("acd-mock");
    let missing: Vec<String> = [&acd, &mock]
        .iter()
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "release binaries missing: {}\nbuild them first with:\n\n    cargo build --release -p acd-client -p acd-mock\n",
            missing.join(", ")
        ));
    }
    let rclone = on_path("rclone").ok_or(
        "rclone is not on the PATH: install Debian's package (apt-get install rclone; 1.60 still has the `amazon cloud drive` backend)",
    )?;
    let curl = on_path("curl").ok_or("curl is not on the PATH (apt-get install curl)")?;
    Ok(Binaries {
        acd,
        mock,
        rclone,
        curl,
    })
}

/// The first line a program prints for `ARG`, for the report.
fn version(program: &Path, arg: &str) -> String {
    Command::new(program)
        .arg(arg)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// The table's rows: which figure against which tool, with which target.
fn rows(figures: &[Figure]) -> Vec<(Row, Compare)> {
    let specs: &[(&str, Option<&str>, Compare, Option<f64>)] = &[
        ("large_upload", Some("rclone"), Compare::Speed, Some(1.0)),
        ("large_upload", Some("curl"), Compare::Speed, None),
        // Issue 14: an upload within 1.25x of one single-core MD5 pass (acd/md5 >= 0.8).
        ("large_upload", Some("md5"), Compare::Speed, Some(0.8)),
        ("large_download", Some("rclone"), Compare::Speed, Some(1.0)),
        ("large_download", Some("curl"), Compare::Speed, Some(0.85)),
        ("large_download", Some("md5"), Compare::Speed, None),
        ("small_up_default", Some("rclone"), Compare::Time, Some(2.0)),
        ("small_up_16", Some("rclone"), Compare::Time, Some(2.0)),
        // Downloads of small files are one paced GET each for both tools: the target is the
        // pacing floor (acd within 1.1x of it: floor / acd >= 0.91), rclone for information.
        (
            "small_down_default",
            Some("floor"),
            Compare::Time,
            Some(0.91),
        ),
        ("small_down_default", Some("rclone"), Compare::Time, None),
        ("small_down_16", Some("floor"), Compare::Time, Some(0.91)),
        ("small_down_16", Some("rclone"), Compare::Time, None),
        ("list_flat", Some("rclone"), Compare::Time, Some(2.0)),
        ("list_tree", Some("rclone"), Compare::Time, Some(2.0)),
        ("list_flat_fast", Some("rclone"), Compare::Time, Some(10.0)),
        ("list_tree_fast", Some("rclone"), Compare::Time, Some(10.0)),
        // Target < 200 ms: read the acd column.
        ("cache_sync_100", None, Compare::Time, None),
        // The first sync of a 1M-node account: its time, and its peak RSS (target < 100 MiB).
        ("sync_first_1m", None, Compare::Time, None),
        ("sync_first_1m", None, Compare::Rss, Some(100.0)),
        ("rss_download", None, Compare::Rss, Some(64.0)),
        ("rss_upload", None, Compare::Rss, Some(64.0)),
        ("mount_read", Some("acd cat"), Compare::Speed, Some(0.7)),
        ("mount_write", Some("acd copyto"), Compare::Speed, Some(0.7)),
        ("mount_find", Some("acd ls"), Compare::Time, None),
        ("rss_mount", None, Compare::Rss, Some(100.0)),
        ("faults_small_up", Some("rclone"), Compare::Time, None),
    ];
    specs
        .iter()
        .filter_map(|(key, other, how, target)| {
            let fig = figures.iter().find(|f| f.key == *key)?;
            Some((row(fig, *other, *how, *target), *how))
        })
        .collect()
}

/// Runs one section, turning a failure (other than an interrupt) into a message.
fn section(
    name: &str,
    figures: &mut Vec<Figure>,
    errors: &mut Vec<String>,
    f: impl FnOnce() -> Result<Vec<Figure>>,
) -> Result<()> {
    eprintln!("== {name}");
    match f() {
        Ok(found) => figures.extend(found),
        Err(error) => {
            check_interrupted()?;
            eprintln!("section {name} failed: {error:#}");
            errors.push(format!("{name}: {error:#}"));
        }
    }
    Ok(())
}

/// The whole run; the exit code for problems found before measuring.
fn run() -> Result<ExitCode> {
    let opts = Options::parse();
    install_signal_handler()?;
    let target = target_dir()?;
    let bins = match locate(&target) {
        Ok(bins) => bins,
        Err(message) => {
            eprintln!("acd-bench: {message}");
            return Ok(ExitCode::from(2));
        }
    };
    let plan = Plan::new(opts.quick, opts.reps.map(usize::from));
    let wanted = |s: &str| opts.only.as_ref().is_none_or(|o| o.iter().any(|x| x == s));
    let timeout = Duration::from_secs(if plan.quick { 15 * 60 } else { 60 * 60 });
    let tmp = tempfile::Builder::new()
        .prefix("acd-bench-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    eprintln!(
        "acd-bench: {} run, {} repetition(s); work in {}",
        if plan.quick { "quick" } else { "full" },
        plan.reps,
        tmp.path().display()
    );
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work)?;
    let started = SystemTime::now();
    let mut figures = Vec::new();
    let mut errors = Vec::new();
    let small_dir = work.join("small");
    let small_total = if wanted("small") || wanted("faults") {
        data::write_small_files(&small_dir, plan.small, 2)?
    } else {
        0
    };
    {
        let session = Session::start(&bins, &tmp.path().join("mock"), &[], timeout)?;
        eprintln!("acd-mock at {}", session.mock.url);
        if wanted("large") {
            section("large file", &mut figures, &mut errors, || {
                workloads::large(&session, &plan, &work)
            })?;
        }
        if wanted("small") {
            section("small files", &mut figures, &mut errors, || {
                workloads::small(&session, &plan, &work, &small_dir, small_total)
            })?;
        }
        if wanted("list") {
            section("listings", &mut figures, &mut errors, || {
                workloads::listing(&session, &plan)
            })?;
        }
        if wanted("rss") {
            section("peak RSS", &mut figures, &mut errors, || {
                workloads::rss(&session, &plan, &work)
            })?;
        }
        if wanted("mount") {
            section("acd mount", &mut figures, &mut errors, || {
                mount::mount(&session, &plan, &work)
            })?;
        }
    }
    if wanted("faults") {
        section("faults", &mut figures, &mut errors, || {
            workloads::faults(
                &bins,
                &plan,
                &tmp.path().join("mock-faults"),
                &small_dir,
                small_total,
                timeout,
            )
        })?;
    }
    if wanted("million") {
        section(
            "first sync of a 1M-node account",
            &mut figures,
            &mut errors,
            || million::first_sync(&bins, &plan, &tmp.path().join("mock-million"), timeout),
        )?;
    }
    let rows = rows(&figures);
    println!("\n{}", table(&rows));
    println!(
        "ratios are acd's speed over the other's (other's time / acd's time); medians of {} run(s)",
        plan.reps
    );
    for e in &errors {
        println!("section failed: {e}");
    }
    let out = opts.out.unwrap_or_else(|| target.join("acd-bench.json"));
    let report = json!({
        "tool": "acd-bench",
        "quick": plan.quick,
        "reps": plan.reps,
        "unix_time": started.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "plan": {
            "large_bytes": plan.large, "small_files": plan.small, "small_bytes": small_total,
            "flat_entries": plan.flat, "tree_nodes": plan.tree, "rss_bytes": plan.rss,
        },
        "versions": {
            "rclone": version(&bins.rclone, "version"),
            "curl": version(&bins.curl, "--version"),
        },
        "rows": rows.iter().map(|(r, how)| row_json(r, *how)).collect::<Vec<_>>(),
        "figures": figures.iter().map(Figure::to_json).collect::<Vec<_>>(),
        "section_errors": errors,
    });
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!("JSON written to {}", out.display());
    let failed_runs: usize = figures
        .iter()
        .flat_map(|f| f.tools.iter().map(|(_, s)| s.errors.len()))
        .sum();
    if failed_runs > 0 {
        println!("{failed_runs} run(s) failed: see the errors above and in the JSON");
    }
    Ok(if errors.is_empty() && failed_runs == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("acd-bench: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
