//! The `acd-conformance` command.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

use acd_conformance::check::{Capability, Check};
use acd_conformance::record::Recorder;
use acd_conformance::runner::{RunOptions, run};
use acd_conformance::target::{ConnectOptions, Target, TargetSpec};
use acd_conformance::{cases, report};

/// Run the Amazon Drive conformance suite against the embedded mock (default), a running
/// mock, or a real account.
#[derive(Debug, Parser)]
#[command(name = "acd-conformance", version)]
struct Cli {
    /// What to do (default: run the suite).
    #[command(subcommand)]
    command: Option<Command>,
    /// mock | url=http://HOST:PORT | remote=NAME
    #[arg(long, default_value = "mock", global = true)]
    target: String,
    /// The acd config file for remote= targets.
    #[arg(long, global = true, env = "ACD_CONFIG")]
    config: Option<PathBuf>,
    /// List the checks and exit.
    #[arg(long)]
    list: bool,
    /// Only checks whose `area/name` matches this regex.
    #[arg(long)]
    filter: Option<String>,
    /// Stop after the first failure.
    #[arg(long)]
    fail_fast: bool,
    /// Checks run at once.
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// Seed for fault choices and generated data (default: random, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Write the results as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the results as JUnit XML.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Store each check's responses as redacted JSON snapshots in DIR.
    #[arg(long, value_name = "DIR")]
    record: Option<PathBuf>,
    /// Compare this run's responses with the snapshots in DIR; report every differing field.
    #[arg(long, value_name = "DIR")]
    compare: Option<PathBuf>,
    /// The most bytes the run may upload (real accounts).
    #[arg(long, default_value = "1GiB")]
    max_bytes: String,
    /// Capability overrides: name=on|off (e.g. templink=off).
    #[arg(long = "capability", value_name = "NAME=on|off")]
    capabilities: Vec<String>,
    /// A known divergence: area/check=reason (reported XFAIL).
    #[arg(long = "xfail", value_name = "CHECK=REASON")]
    xfail: Vec<String>,
    /// Longest time one check may take, in seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Trash `acd-conformance-*` folders left by interrupted runs.
    Clean,
}

/// The harness itself could not run.
fn harness_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("acd-conformance: error: {message}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ACD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return harness_error(e),
    };
    runtime.block_on(run_cli(cli))
}

fn select(filter: Option<&str>) -> Result<Vec<Check>, String> {
    let all = cases::all();
    match filter {
        None => Ok(all),
        Some(f) => {
            let re = regex::Regex::new(f).map_err(|e| format!("--filter {f:?}: {e}"))?;
            Ok(all.into_iter().filter(|c| re.is_match(&c.id())).collect())
        }
    }
}

async fn run_cli(cli: Cli) -> ExitCode {
    let checks = match select(cli.filter.as_deref()) {
        Ok(c) => c,
        Err(e) => return harness_error(e),
    };
    if cli.list {
        for c in &checks {
            let needs: Vec<&str> = c.needs.iter().map(|n| n.name()).collect();
            println!("{:<60} {:<14} {}", c.id(), c.reference, needs.join(","));
        }
        println!("{} checks", checks.len());
        return ExitCode::SUCCESS;
    }
    let mut spec: TargetSpec = match cli.target.parse() {
        Ok(s) => s,
        Err(e) => return harness_error(e),
    };
    if let TargetSpec::Remote { config, .. } = &mut spec {
        config.clone_from(&cli.config);
    }
    let mut overrides = Vec::new();
    for item in &cli.capabilities {
        let parsed = item.split_once('=').and_then(|(n, v)| {
            let cap = Capability::from_name(n)?;
            match v {
                "on" | "true" | "yes" => Some((cap, true)),
                "off" | "false" | "no" => Some((cap, false)),
                _ => None,
            }
        });
        match parsed {
            Some(o) => overrides.push(o),
            None => {
                let names: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
                return harness_error(format!(
                    "--capability {item:?}: use NAME=on|off with NAME one of {}",
                    names.join(", ")
                ));
            }
        }
    }
    let mut divergences = BTreeMap::new();
    for item in &cli.xfail {
        match item.split_once('=') {
            Some((check, reason)) => {
                divergences.insert(check.to_string(), reason.to_string());
            }
            None => return harness_error(format!("--xfail {item:?}: use area/check=reason")),
        }
    }
    let max_bytes = match acd_client::config::parse_size(&cli.max_bytes) {
        Ok(b) => b,
        Err(e) => return harness_error(format!("--max-bytes: {e}")),
    };
    let seed = cli.seed.unwrap_or_else(rand::random);
    let options = ConnectOptions {
        seed,
        max_bytes,
        capability_overrides: overrides,
        divergences,
    };
    let target = match Target::connect(&spec, &options).await {
        Ok(t) => Arc::new(t),
        Err(e) => return harness_error(e),
    };
    if let Some(Command::Clean) = cli.command {
        return match target.clean().await {
            Ok(names) => {
                for n in names {
                    println!("trashed {n}");
                }
                let _ = target.finish().await;
                ExitCode::SUCCESS
            }
            Err(e) => harness_error(e),
        };
    }
    let recorder =
        (cli.record.is_some() || cli.compare.is_some()).then(|| Arc::new(Recorder::default()));
    let started = Instant::now();
    let results = run(
        target.clone(),
        &checks,
        &RunOptions {
            jobs: cli.jobs,
            fail_fast: cli.fail_fast,
            seed,
            timeout: Duration::from_secs(cli.timeout),
        },
        recorder.clone(),
    )
    .await;
    if let Err(e) = target.finish().await {
        eprintln!(
            "warning: the run folder {} was not trashed: {e}",
            target.run_folder_name
        );
    }
    print!(
        "{}",
        report::table(&target.label, seed, &results, started.elapsed())
    );
    if let Some(path) = &cli.json {
        let text =
            serde_json::to_string_pretty(&report::json_report(&target.label, seed, &results))
                .unwrap_or_default();
        if let Err(e) = std::fs::write(path, text) {
            return harness_error(format!("write {}: {e}", path.display()));
        }
    }
    if let Some(path) = &cli.junit
        && let Err(e) = std::fs::write(path, report::junit(&target.label, seed, &results))
    {
        return harness_error(format!("write {}: {e}", path.display()));
    }
    let mut parity_failed = false;
    if let Some(recorder) = &recorder {
        if let Some(dir) = &cli.record {
            match recorder.write(dir) {
                Ok(n) => eprintln!("recorded {n} checks' responses in {}", dir.display()),
                Err(e) => return harness_error(format!("record into {}: {e}", dir.display())),
            }
        }
        if let Some(dir) = &cli.compare {
            match recorder.compare(dir) {
                Ok(diffs) if diffs.is_empty() => {
                    println!("parity: no differences with {}", dir.display())
                }
                Ok(diffs) => {
                    parity_failed = true;
                    println!(
                        "parity: {} differences with {}:",
                        diffs.len(),
                        dir.display()
                    );
                    for d in diffs {
                        println!("  {d}");
                    }
                }
                Err(e) => return harness_error(format!("compare with {}: {e}", dir.display())),
            }
        }
    }
    if results.iter().any(|r| r.verdict.is_failure()) || parity_failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
