//! Child processes: the mock, timed tool runs with peak-RSS polling, and clean-up on signals.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Set once SIGINT or SIGTERM arrives; every loop checks it.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Pids of the children that are running now, killed when a signal arrives.
static ACTIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// How often a running child's `/proc/<pid>/status` is read.
const POLL: Duration = Duration::from_millis(20);

/// Watches for SIGINT and SIGTERM on a background thread: sets the flag and kills the children,
/// so the main thread unwinds through its destructors (mocks killed, temp dirs removed).
pub(crate) fn install_signal_handler() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal watcher")?;
    thread::spawn(move || {
        runtime.block_on(async {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        });
        INTERRUPTED.store(true, Ordering::SeqCst);
        eprintln!("\nacd-bench: interrupted; stopping children and cleaning up");
        let pids = ACTIVE.lock().map(|p| p.clone()).unwrap_or_default();
        for pid in pids {
            kill(pid);
        }
    });
    Ok(())
}

/// Fails if a signal asked us to stop.
pub(crate) fn check_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

/// Sends SIGKILL to a pid with `kill(1)` (the workspace forbids unsafe code, so no libc).
fn kill(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Remembers a running child so a signal can kill it.
fn register(pid: u32) {
    if let Ok(mut pids) = ACTIVE.lock() {
        pids.push(pid);
    }
}

/// Forgets a child that has exited.
fn unregister(pid: u32) {
    if let Ok(mut pids) = ACTIVE.lock() {
        pids.retain(|p| *p != pid);
    }
}

/// The peak resident set size (`VmHWM`, KiB) of a running process, if it is still there.
pub(crate) fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The last `lines` lines of a text file, for error messages.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// One finished run of a tool.
#[derive(Debug)]
pub(crate) struct Run {
    /// Wall time from spawn to exit.
    pub secs: f64,
    /// Highest `VmHWM` seen while it ran (KiB).
    pub peak_rss_kib: Option<u64>,
    /// How it exited.
    pub status: ExitStatus,
    /// Where its stdout went.
    pub stdout: PathBuf,
    /// Where its stderr went.
    pub stderr: PathBuf,
    /// Whether it was killed for taking longer than the timeout.
    pub timed_out: bool,
}

impl Run {
    /// Its stdout as text.
    pub(crate) fn stdout_text(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Its stderr as text.
    pub(crate) fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Ok if it exited 0, else an error naming the command with the end of its stderr.
    pub(crate) fn ensure_success(&self, label: &str) -> Result<()> {
        if self.timed_out {
            bail!("{label}: killed after the timeout ({:.0} s)", self.secs);
        }
        if !self.status.success() {
            bail!(
                "{label}: {} after {:.1} s; end of its stderr:\n{}",
                self.status,
                self.secs,
                tail(&self.stderr, 8)
            );
        }
        Ok(())
    }
}

/// Runs a command to completion, stdout and stderr to `logs/<label>.{out,err}`, timing it and
/// polling its peak RSS; kills it after `timeout`.
pub(crate) fn run_timed(
    cmd: &mut Command,
    logs: &Path,
    label: &str,
    timeout: Duration,
) -> Result<Run> {
    check_interrupted()?;
    let stdout = logs.join(format!("{label}.out"));
    let stderr = logs.join(format!("{label}.err"));
    cmd.stdin(Stdio::null())
        .stdout(File::create(&stdout).context("cannot create a log file")?)
        .stderr(File::create(&stderr).context("cannot create a log file")?);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    let pid = child.id();
    register(pid);
    let done = Arc::new(AtomicBool::new(false));
    let poller = {
        let done = Arc::clone(&done);
        thread::spawn(move || poll_child(pid, &done, started, timeout))
    };
    let waited = child.wait();
    let secs = started.elapsed().as_secs_f64();
    done.store(true, Ordering::SeqCst);
    unregister(pid);
    let (peak_rss_kib, timed_out) = poller.join().unwrap_or((None, false));
    let status = waited.context("waiting for a child failed")?;
    check_interrupted()?;
    Ok(Run {
        secs,
        peak_rss_kib,
        status,
        stdout,
        stderr,
        timed_out,
    })
}

/// The poller thread: tracks `VmHWM` and enforces the timeout. Returns (peak, timed out).
fn poll_child(
    pid: u32,
    done: &AtomicBool,
    started: Instant,
    timeout: Duration,
) -> (Option<u64>, bool) {
    let mut peak: Option<u64> = None;
    let mut timed_out = false;
    while !done.load(Ordering::SeqCst) {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = Some(peak.map_or(kib, |p| p.max(kib)));
        }
        if !timed_out && started.elapsed() > timeout {
            timed_out = true;
            kill(pid);
        }
        thread::sleep(POLL);
    }
    (peak, timed_out)
}

/// A running `acd-mock`, killed (and waited for) on drop.
#[derive(Debug)]
pub(crate) struct Mock {
    child: Child,
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    /// The CA certificate it intercepts TLS with.
    pub ca: PathBuf,
}

impl Mock {
    /// Starts `acd-mock --listen 127.0.0.1:0 --intercept --data-dir DIR/data EXTRA...`, logging
    /// to `DIR/mock.log`, and waits for its address line.
    pub(crate) fn start(bin: &Path, dir: &Path, extra: &[&str]) -> Result<Self> {
        check_interrupted()?;
        let data = dir.join("data");
        std::fs::create_dir_all(&data)?;
        let log = dir.join("mock.log");
        let mut child = Command::new(bin)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--log-level",
                "warn",
                "--intercept",
            ])
            .arg("--data-dir")
            .arg(&data)
            .args(["--token-lifetime", "24h", "--quota", "1000GiB"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log)?)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        register(child.id());
        let stdout = child.stdout.take().context("no stdout from acd-mock")?;
        let mut lines = BufReader::new(stdout);
        let mut first = String::new();
        lines.read_line(&mut first)?;
        let url = first
            .trim()
            .strip_prefix("acd-mock listening on ")
            .map(str::to_string);
        let Some(url) = url else {
            let _ = child.kill();
            let _ = child.wait();
            unregister(child.id());
            bail!(
                "acd-mock did not start (first line {first:?}); its log:\n{}",
                tail(&log, 10)
            );
        };
        // Drain the rest of stdout so the mock never blocks on a full pipe.
        thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = lines.read_to_end(&mut sink);
        });
        let mock = Self {
            child,
            url,
            ca: data.join("ca.pem"),
        };
        if !mock.ca.exists() {
            bail!("acd-mock did not write its CA to {}", mock.ca.display());
        }
        Ok(mock)
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        unregister(self.child.id());
    }
}
