//! Starting the workspace's binaries as child processes, the way a user would.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

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

/// What each package's binary is built from (relative to the workspace root), with the
/// workspace packages it links: a file here newer than the binary means the binary is stale;
/// `!path` leaves a path out.
/// (Tests, snapshots and manifests are left out: a manifest change, such as a new
/// dev-dependency, need not relink a binary, and would make it look stale for ever.)
fn sources(package: &str) -> &'static [&'static str] {
    const CLIENT: [&str; 1] = ["client/src"];
    const MOCK: [&str; 3] = [
        "mock-server/README.md",
        "mock-server/src",
        "mock-server/profiles",
    ];
    match package {
        "acd-client" => &CLIENT,
        "acd-mock" => &MOCK,
        // It links the client's and the mock's libraries, not their binaries.
        "acd-conformance" => &[
            "conformance/src",
            "client/src",
            "mock-server/README.md",
            "mock-server/src",
            "mock-server/profiles",
            "!client/src/bin",
            "!mock-server/src/main.rs",
        ],
        _ => &[],
    }
}

/// The path of a workspace binary built by the same cargo invocation as this test.
///
/// Nothing is built from inside the tests. The binaries sit next to the test binary's `deps/`
/// folder (so a custom profile or `--target` finds them too), and `cargo test --workspace`
/// (the README's command) builds them before any test runs, with the same features, because
/// acd-client, acd-mock and acd-conformance each have integration tests. When only
/// `cargo test -p acd-e2e` runs, a binary may be missing or older than its sources: then this
/// fails and names the command that builds them, rather than testing stale code.
pub fn binary(package: &str, name: &str) -> anyhow::Result<PathBuf> {
    install_crypto_provider();
    let path = target_dir()?.join(name);
    let how = "build the workspace's binaries first with `cargo test --workspace --no-run` \
               (the features of the full test run), or run `cargo test --workspace`";
    let built = match std::fs::metadata(&path).and_then(|m| m.modified()) {
        Ok(time) => time,
        Err(_) => bail!("{} ({package}) is not built: {how}", path.display()),
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut newest = None;
    let skip: Vec<PathBuf> = sources(package)
        .iter()
        .filter_map(|s| s.strip_prefix('!'))
        .map(|s| root.join(s))
        .collect();
    for source in sources(package).iter().filter(|s| !s.starts_with('!')) {
        newest_file(&root.join(source), &skip, &mut newest);
    }
    if let Some((time, source)) = newest
        && time > built
    {
        bail!(
            "{} ({package}) is older than {}: {how}",
            path.display(),
            source.display()
        );
    }
    Ok(path)
}

/// Updates `newest` with the most recently modified source file at or below `path`
/// (`skip`, `target` folders and hidden entries left out).
fn newest_file(path: &Path, skip: &[PathBuf], newest: &mut Option<(SystemTime, PathBuf)>) {
    if skip.iter().any(|s| s == path) {
        return;
    }
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name == "target" {
                continue;
            }
            newest_file(&entry.path(), skip, newest);
        }
    } else if let Ok(time) = meta.modified()
        && newest.as_ref().is_none_or(|(t, _)| time > *t)
    {
        *newest = Some((time, path.to_path_buf()));
    }
}

/// A running `acd-mock` process, stopped on drop (SIGTERM, so it removes its temporary
/// store; SIGKILL after 2 s).
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
        if matches!(self.child.try_wait(), Ok(None))
            && !matches!(self.terminate(Duration::from_secs(2)), Ok(true))
        {
            eprintln!("acd-mock did not stop within 2 s of SIGTERM; killing it");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
