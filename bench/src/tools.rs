//! The tools under test (acd, rclone, curl) pointed at one running mock, and its admin API.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use acd_mock::admin::Client;
use acd_mock::admin_client::{AdminError, MintRequest, SeedRequest};

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
    /// The mock's admin API.
    admin: Client,
    /// Runs the admin calls.
    runtime: tokio::runtime::Runtime,
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
        let admin = Client::new(&mock.url)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut session = Self {
            admin,
            runtime,
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
        let minted = session.admin_call(session.admin.mint_token(&MintRequest::default()))?;
        session.token = minted.access_token.clone();
        session.write_configs(&serde_json::to_value(&minted)?)?;
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

    /// Runs one admin call to completion (the bench is synchronous).
    fn admin_call<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, AdminError>>,
    ) -> Result<T> {
        Ok(self.runtime.block_on(call)?)
    }

    /// Seeds nodes under `parent` (the root if None); the ids of the top-level nodes by name.
    pub(crate) fn seed(
        &self,
        parent: Option<&str>,
        nodes: Vec<Value>,
    ) -> Result<Vec<(String, String)>> {
        let request = SeedRequest {
            parent: parent.map(str::to_string),
            nodes: serde_json::from_value(Value::Array(nodes)).context("a seed node")?,
            ..SeedRequest::default()
        };
        let created = self.admin_call(self.admin.seed(&request))?;
        Ok(created.into_iter().map(|c| (c.path, c.id)).collect())
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
        let faults = self.admin_call(self.admin.faults())?;
        Ok(faults.rules.iter().map(|r| r.fired).sum())
    }
}
