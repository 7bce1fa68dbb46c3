//! The `acd-mock` binary as a child process, for tests that need a real process (restarts,
//! signals, peak memory).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const PREFIX: &str = "acd-mock listening on http://";

/// A running `acd-mock` process, killed on drop.
pub(crate) struct Mock {
    /// The process.
    pub child: Child,
    /// Its base URL.
    pub url: String,
    /// The port it bound.
    pub port: u16,
}

impl Mock {
    /// Starts the binary on a free loopback port with this data directory and waits (with a
    /// deadline) for its first line.
    pub(crate) fn start(data_dir: &Path) -> Mock {
        // The tests' reqwest clients need a rustls provider in the workspace build (reqwest is
        // built without one there); the in-process server installs it, a child process cannot.
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let mut child = Command::new(env!("CARGO_BIN_EXE_acd-mock"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--log-level",
                "warn",
                "--data-dir",
            ])
            .arg(data_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("acd-mock starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        // Reads every line so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // Once nobody listens any more, the lines are just drained.
                let _ = tx.send(line);
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("acd-mock printed no first line");
        let rest = first
            .strip_prefix(PREFIX)
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        let (host, port) = rest.rsplit_once(':').expect("host:port");
        assert_eq!(host, "127.0.0.1", "first line {first:?}");
        let port: u16 = port.parse().expect("a numeric port");
        assert_ne!(port, 0, "port 0 must be replaced by the bound port");
        Mock {
            child,
            url: format!("http://127.0.0.1:{port}"),
            port,
        }
    }

    /// SIGTERM, then waits (up to 30 s) for the exit.
    pub(crate) fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "acd-mock did not exit within 30 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
