//! Starting the workspace's binaries as child processes, the way a user would.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The directory cargo puts this profile's binaries in (the test binary lives in `deps/` below it).
pub fn target_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the test binary's path")?;
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("the test binary is not inside a cargo target directory")?;
    Ok(dir.to_path_buf())
}

/// Make ring the process's rustls provider. In the workspace build reqwest has no provider of
/// its own (acd-client links only ring), so a test's `reqwest::Client` needs one installed.
/// Every test reaches a binary through [`binary`], which calls this first.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The path of a workspace binary, making sure it is built and up to date first.
///
/// It runs `cargo test --workspace --no-run` once per test process: under the README's
/// `cargo test --workspace` that is a no-op (the same build with the same features), and
/// under `cargo test -p acd-e2e` it builds the binaries the tests need. (A plain
/// `cargo build -p PACKAGE` would resolve other features and rebuild half the dependency tree.)
pub fn binary(package: &str, name: &str) -> anyhow::Result<PathBuf> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    install_crypto_provider();
    let dir = target_dir()?;
    let built = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["test", "--workspace", "--no-run", "--quiet"]);
        if dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        match build.status() {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(format!("building the workspace failed ({status})")),
            Err(error) => Err(format!("cannot run cargo: {error}")),
        }
    });
    if let Err(error) = built {
        bail!("{error} (needed for {package}'s {name})");
    }
    let path = dir.join(name);
    if !path.exists() {
        bail!("{} was not built", path.display());
    }
    Ok(path)
}

/// A running `acd-mock` process, killed on drop.
#[derive(Debug)]
pub struct MockProcess {
    /// The child process.
    pub child: Child,
    /// Its base URL, from its first line of output.
    pub url: String,
    /// The lines it printed after the first.
    pub banner: Vec<String>,
}

impl MockProcess {
    /// Starts `acd-mock --listen 127.0.0.1:0 ARGS...` and waits for its first line.
    pub fn start(args: &[&str]) -> anyhow::Result<Self> {
        let path = binary("acd-mock", "acd-mock")?;
        let mut child = Command::new(path)
            .args(["--listen", "127.0.0.1:0", "--log-level", "warn"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start acd-mock")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = lines
            .next()
            .context("acd-mock exited before printing its address")??;
        let url = first
            .strip_prefix("acd-mock listening on ")
            .with_context(|| format!("unexpected first line {first:?}"))?
            .to_string();
        let mut banner = Vec::new();
        for _ in 0..3 {
            if let Some(Ok(line)) = lines.next() {
                banner.push(line);
            }
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Self { child, url, banner })
    }

    /// Sends SIGTERM and waits (up to `deadline`) for a clean exit; returns whether it exited 0.
    pub fn terminate(&mut self, deadline: Duration) -> anyhow::Result<bool> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        self.wait_exit(deadline)
    }

    /// Waits (polling, up to `deadline`) for the process to exit; returns whether it exited 0.
    pub fn wait_exit(&mut self, deadline: Duration) -> anyhow::Result<bool> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.success());
            }
            if start.elapsed() > deadline {
                bail!("acd-mock did not exit within {deadline:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for MockProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
