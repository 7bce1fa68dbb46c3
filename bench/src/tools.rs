//! The tools under test (acd, rclone, curl) pointed at one running mock, and its admin API.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::procs::{Mock, Run, run_timed};

/// Where the binaries are.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    /// Release `acd`.
    pub acd: PathBuf,
    /// Release `acd-mock`.
    pub mock: PathBuf,
    /// rclone 1.60 with the `amazon cloud drive` backend.
    pub rclone: PathBuf,
    /// curl.
    pub curl: PathBuf,
}

/// The name of the remote in both config files.
pub(crate) const REMOTE: &str = "bench";

/// One mock with configs for acd and rclone, and a directory for logs.
#[derive(Debug)]
pub(crate) struct Session {
    /// The binaries.
    pub bins: Binaries,
    /// The running mock (killed when the session drops).
    pub mock: Mock,
    /// Its access token.
    pub token: String,
    /// acd's config file.
    acd_conf: PathBuf,
    /// rclone's config file.
    rclone_conf: PathBuf,
    /// XDG cache/config home for acd, so runs share nothing with the user's.
    home: PathBuf,
    /// Tool output files.
    pub logs: PathBuf,
    /// Longest a single tool run may take.
    pub timeout: Duration,
    /// Counter for unique log names.
    runs: std::cell::Cell<u32>,
}

impl Session {
    /// Starts a mock in `dir` (with `extra` flags), mints a token and writes both configs.
    pub(crate) fn start(
        bins: &Binaries,
        dir: &Path,
        extra: &[&str],
        timeout: Duration,
    ) -> Result<Self> {
        let mock = Mock::start(&bins.mock, dir, extra)?;
        let logs = dir.join("logs");
        let home = dir.join("home");
        std::fs::create_dir_all(&logs)?;
        std::fs::create_dir_all(&home)?;
        let mut session = Self {
            bins: bins.clone(),
            mock,
            token: String::new(),
            acd_conf: dir.join("acd.conf"),
            rclone_conf: dir.join("rclone.conf"),
            home,
            logs,
            timeout,
            runs: std::cell::Cell::new(0),
        };
        let minted = session.admin("POST", "tokens", Some(&json!({})))?;
        let access = minted["access_token"]
            .as_str()
            .context("the mock minted no access_token")?;
        session.token = access.to_string();
        session.write_configs(&minted)?;
        Ok(session)
    }

    /// Writes the acd config (with `endpoint_url`) and the stock rclone config.
    fn write_configs(&self, minted: &Value) -> Result<()> {
        let token = json!({
            "access_token": minted["access_token"],
            "token_type": "bearer",
            "refresh_token": minted["refresh_token"],
            "expiry": "2099-01-01T00:00:00Z",
        });
        let url = &self.mock.url;
        let common = format!(
            "[{REMOTE}]\ntype = amazon cloud drive\nclient_id = bench-client\n\
             client_secret = bench-secret\nauth_url = {url}/ap/oa\n\
             token_url = {url}/auth/o2/token\ntoken = {token}\n"
        );
        std::fs::write(&self.rclone_conf, &common)?;
        std::fs::write(
            &self.acd_conf,
            format!("{common}endpoint_url = {url}/drive/v1/account/endpoint\n"),
        )?;
        Ok(())
    }

    /// `acd --config C ARGS...` with a private XDG home.
    pub(crate) fn acd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bins.acd);
        cmd.arg("--config")
            .arg(&self.acd_conf)
            .args(args)
            .env("XDG_CACHE_HOME", self.home.join("cache"))
            .env("XDG_CONFIG_HOME", self.home.join("config"))
            .env_remove("HTTPS_PROXY")
            .env_remove("HTTP_PROXY");
        cmd
    }

    /// `rclone --config C --ca-cert CA ARGS...` through the mock's CONNECT proxy.
    pub(crate) fn rclone(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bins.rclone);
        cmd.arg("--config")
            .arg(&self.rclone_conf)
            .arg("--ca-cert")
            .arg(&self.mock.ca)
            .args(args)
            .env("HTTPS_PROXY", &self.mock.url)
            .env("XDG_CACHE_HOME", self.home.join("cache"))
            .env_remove("HTTP_PROXY")
            .env_remove("NO_PROXY")
            .env_remove("RCLONE_CONFIG");
        cmd
    }

    /// curl uploading `file` as `name` into folder `parent` (multipart, `-F`), the reply to `reply`.
    pub(crate) fn curl_upload(
        &self,
        file: &Path,
        name: &str,
        parent: &str,
        reply: &Path,
    ) -> Command {
        let mut cmd = Command::new(&self.bins.curl);
        cmd.args(["-sS", "-o"])
            .arg(reply)
            .args(["-w", "%{http_code}", "-H"])
            .arg(format!("Authorization: Bearer {}", self.token))
            .arg("-F")
            .arg(format!(
                "metadata={}",
                json!({"name": name, "kind": "FILE", "parents": [parent]})
            ))
            .arg("-F")
            .arg(format!(
                "content=@{};type=application/octet-stream",
                file.display()
            ))
            .arg(format!(
                "{}/cdproxy/nodes?suppress=deduplication",
                self.mock.url
            ));
        cmd
    }

    /// curl downloading node `id`'s content into `out`.
    pub(crate) fn curl_download(&self, id: &str, out: &Path) -> Command {
        let mut cmd = Command::new(&self.bins.curl);
        cmd.args(["-sS", "-o"])
            .arg(out)
            .args(["-w", "%{http_code}", "-H"])
            .arg(format!("Authorization: Bearer {}", self.token))
            .arg(format!("{}/cdproxy/nodes/{id}/content", self.mock.url));
        cmd
    }

    /// A unique label for a run's log files.
    fn label(&self, what: &str) -> String {
        let n = self.runs.get() + 1;
        self.runs.set(n);
        format!("{n:04}-{what}")
    }

    /// Runs a prepared command with this session's logs and timeout.
    pub(crate) fn run(&self, what: &str, cmd: &mut Command) -> Result<Run> {
        run_timed(cmd, &self.logs, &self.label(what), self.timeout)
    }

    /// Calls the mock's admin API (`/_mock/PATH`) with curl; the JSON answer, or an error for a
    /// non-2xx status.
    pub(crate) fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let label = self.label("admin");
        let body_file = self.logs.join(format!("{label}.json"));
        let mut cmd = Command::new(&self.bins.curl);
        cmd.args(["-sS", "-X", method, "-w", "\n%{http_code}"]);
        if let Some(body) = body {
            std::fs::write(&body_file, serde_json::to_vec(body)?)?;
            cmd.args(["-H", "Content-Type: application/json", "--data-binary"])
                .arg(format!("@{}", body_file.display()));
        }
        cmd.arg(format!("{}/_mock/{path}", self.mock.url));
        let run = run_timed(&mut cmd, &self.logs, &label, self.timeout)?;
        run.ensure_success(&format!("curl {method} /_mock/{path}"))?;
        let text = run.stdout_text();
        let _ = std::fs::remove_file(&body_file);
        let (json, status) = text.rsplit_once('\n').unwrap_or(("", text.as_str()));
        if !status.trim().starts_with('2') {
            bail!("{method} /_mock/{path}: HTTP {status}: {json}");
        }
        serde_json::from_str(json).with_context(|| format!("{method} /_mock/{path}: not JSON"))
    }

    /// Seeds nodes under `parent` (the root if None); the ids of the top-level nodes by name.
    pub(crate) fn seed(
        &self,
        parent: Option<&str>,
        nodes: Vec<Value>,
    ) -> Result<Vec<(String, String)>> {
        let mut body = json!({ "nodes": nodes });
        if let Some(parent) = parent {
            body["parent"] = json!(parent);
        }
        let answer = self.admin("POST", "seed", Some(&body))?;
        let created = answer["created"]
            .as_array()
            .context("the seed answer has no `created`")?;
        Ok(created
            .iter()
            .filter_map(|c| {
                Some((
                    c["path"].as_str()?.to_string(),
                    c["id"].as_str()?.to_string(),
                ))
            })
            .collect())
    }

    /// Creates one folder at the root and returns its id.
    pub(crate) fn seed_folder(&self, name: &str) -> Result<String> {
        let created = self.seed(None, vec![json!({"name": name, "kind": "FOLDER"})])?;
        created
            .into_iter()
            .find(|(path, _)| path == name)
            .map(|(_, id)| id)
            .with_context(|| format!("seeding folder {name} returned no id"))
    }

    /// The sum of every rule's `fired` count (`GET /_mock/faults`).
    pub(crate) fn faults_fired(&self) -> Result<u64> {
        fn sum(v: &Value) -> u64 {
            match v {
                Value::Object(map) => map
                    .iter()
                    .map(|(k, v)| {
                        if k == "fired" {
                            v.as_u64().unwrap_or(0)
                        } else {
                            sum(v)
                        }
                    })
                    .sum(),
                Value::Array(items) => items.iter().map(sum).sum(),
                _ => 0,
            }
        }
        Ok(sum(&self.admin("GET", "faults", None)?))
    }
}
