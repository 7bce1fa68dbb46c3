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
use acd_conformance::target::{ConnectOptions, Target, TargetSpec, pacer_config};
use acd_conformance::{cases, report, units};

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
    /// Checks run at once [default: 4 on the embedded mock, 2 on other targets, whose calls
    /// share one pacer anyway].
    #[arg(long)]
    jobs: Option<usize>,
    /// At most N request starts per second for url= and remote= targets (all jobs together);
    /// default: the pacer's 20 ms spacing, with back-off on 429/5xx.
    #[arg(long, value_name = "N")]
    tpslimit: Option<String>,
    /// How long a check waits for a listing or search to show a change it made (eventual
    /// consistency) before failing; not used with the consistent_listings capability.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    settle: String,
    /// Show the log lines of acd-client and the embedded mock (-v warnings, -vv more).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
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
    /// The most bytes the run may upload: a bare number is bytes; units k, M, G, T (KiB, MiB,
    /// GiB, TiB: powers of 1024) are accepted. Checks that would go over are skipped.
    #[arg(long, default_value = "1GiB", value_name = "SIZE")]
    max_bytes: String,
    /// Capability overrides: name=on|off (e.g. templink=off).
    #[arg(long = "capability", value_name = "NAME=on|off")]
    capabilities: Vec<String>,
    /// A known divergence: area/check=reason (reported XFAIL).
    #[arg(long = "xfail", value_name = "CHECK=REASON")]
    xfail: Vec<String>,
    /// Longest time one check may take (a bare number is seconds) [default: 120s on the
    /// embedded mock, 10m on other targets].
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
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
    // acd-client's own lines (phantom warnings of the client checks) would land between the
    // report's lines: they show only with -v (or ACD_LOG).
    let default_filter = match cli.verbose {
        0 => "error,acd_client=off,acd_mock=off",
        1 => "warn",
        2 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ACD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
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

/// The flags' values, checked.
struct Settings {
    spec: TargetSpec,
    jobs: usize,
    tpslimit: Option<f64>,
    settle: Duration,
    timeout: Duration,
    max_bytes: u64,
}

fn settings(cli: &Cli) -> Result<Settings, String> {
    let mut spec: TargetSpec = cli.target.parse()?;
    if let TargetSpec::Remote { config, .. } = &mut spec {
        config.clone_from(&cli.config);
    }
    let paced = spec != TargetSpec::Mock;
    let jobs = match cli.jobs {
        Some(0) => return Err("--jobs 0: run at least one check at a time".into()),
        Some(n) => n,
        None if paced => 2,
        None => 4,
    };
    let tpslimit = match &cli.tpslimit {
        None => None,
        Some(text) => {
            let tps = text
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("--tpslimit {text:?}: not a number"))?;
            // Checked here so a bad value fails before any connection.
            pacer_config(Some(tps))?;
            Some(tps)
        }
    };
    let settle = units::parse_duration(&cli.settle).map_err(|e| format!("--settle: {e}"))?;
    let timeout = match &cli.timeout {
        Some(t) => units::parse_duration(t).map_err(|e| format!("--timeout: {e}"))?,
        None if paced => Duration::from_secs(600),
        None => Duration::from_secs(120),
    };
    if timeout.is_zero() {
        return Err("--timeout 0: give a check some time".into());
    }
    let max_bytes = units::parse_size(&cli.max_bytes).map_err(|e| format!("--max-bytes: {e}"))?;
    Ok(Settings {
        spec,
        jobs,
        tpslimit,
        settle,
        timeout,
        max_bytes,
    })
}

/// What the run may cost, printed before it starts.
fn budget_line(checks: &[Check], settings: &Settings) -> String {
    let calls = checks.len() as u64 * CALLS_PER_CHECK;
    let pace = match (&settings.spec, settings.tpslimit) {
        (TargetSpec::Mock, _) => "not paced (embedded clean mock)".to_string(),
        (_, Some(tps)) => format!(
            "paced at most {tps} calls/s: at least {:.0} s",
            calls as f64 / tps
        ),
        (_, None) => format!(
            "paced 20 ms apart with back-off on 429/5xx: at least {:.0} s",
            calls as f64 * 0.02
        ),
    };
    let bytes = if settings.max_bytes == u64::MAX {
        "no upload limit".to_string()
    } else {
        format!("uploads at most {} bytes (--max-bytes)", settings.max_bytes)
    };
    format!(
        "budget: {} checks; {bytes}; about {calls} calls ({CALLS_PER_CHECK} a check on the clean mock), {pace}",
        checks.len()
    )
}

/// Calls one check makes on average on the clean mock (measured: the report's call count).
const CALLS_PER_CHECK: u64 = 6;

async fn run_cli(cli: Cli) -> ExitCode {
    let checks = match select(cli.filter.as_deref()) {
        Ok(c) => c,
        Err(e) => return harness_error(e),
    };
    let settings = match settings(&cli) {
        Ok(s) => s,
        Err(e) => return harness_error(e),
    };
    if cli.list {
        for c in &checks {
            let needs: Vec<&str> = c.needs.iter().map(|n| n.name()).collect();
            let what = if c.is_client_check() {
                "  (tests acd-client against the target)"
            } else {
                ""
            };
            println!(
                "{:<60} {:<14} {}{what}",
                c.id(),
                c.reference,
                needs.join(",")
            );
        }
        let client = checks.iter().filter(|c| c.is_client_check()).count();
        println!(
            "{} checks: {} of the target, {client} of acd-client against the target",
            checks.len(),
            checks.len() - client
        );
        return ExitCode::SUCCESS;
    }
    let spec = settings.spec.clone();
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
    let seed = cli.seed.unwrap_or_else(rand::random);
    let options = ConnectOptions {
        seed,
        max_bytes: settings.max_bytes,
        capability_overrides: overrides,
        divergences,
        tpslimit: settings.tpslimit,
        settle: settings.settle,
    };
    if cli.command.is_none() {
        println!("{}", budget_line(&checks, &settings));
    }
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
            jobs: settings.jobs,
            fail_fast: cli.fail_fast,
            seed,
            timeout: settings.timeout,
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
            match serde_json::to_string_pretty(&report::json_report(&target.label, seed, &results))
            {
                Ok(t) => t,
                Err(e) => return harness_error(format!("the JSON report: {e}")),
            };
        if let Err(e) = std::fs::write(path, text) {
            return harness_error(format!("write {}: {e}", path.display()));
        }
    }
    if let Some(path) = &cli.junit {
        let text = match report::junit(&target.label, seed, &results) {
            Ok(t) => t,
            Err(e) => return harness_error(format!("the JUnit report: {e}")),
        };
        if let Err(e) = std::fs::write(path, text) {
            return harness_error(format!("write {}: {e}", path.display()));
        }
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
            let ran: Vec<String> = results.iter().map(|r| r.id()).collect();
            match recorder.compare(dir, &ran) {
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
