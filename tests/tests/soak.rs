#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Soak and fault tests (issue 7): `acd` against an `acd-mock` process under heavy faults, killed
//! with SIGKILL mid-sync, and with the mock itself killed and restarted mid-sync. Each test is
//! bounded: no sleeps other than short polling intervals under deadlines.
//!
//! - `chaos_sync_round_trip`: 1,000 awkwardly named files (0 B to 8 MiB) up and back under a
//!   profile derived from `mock-server/profiles/chaos.toml`; exact copies, no duplicates, no
//!   PENDING nodes, exit 0, and the summary's `Retries:` equal to what the mock says it fired.
//! - `sigkilled_syncs_converge`: three SIGKILLs at seeded points of an upload and of a
//!   download, then a final run of each: exact copies, no `.partial`, nothing duplicated.
//! - `mock_restart_loses_no_acknowledged_upload`: SIGKILL + restart of the mock (`--data-dir`,
//!   same port) mid-sync: every file acd logged as copied before the kill is still there.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use acd_e2e::admin::md5_hex;
use acd_e2e::process::binary;
use serde_json::{Value, json};

// ---- small helpers -------------------------------------------------------------------------

/// splitmix64: a seeded generator for file contents, sizes and kill points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[low, high]`.
    fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Polls `done` every 20 ms until it holds or `deadline` passes (then panics with `what`).
fn wait_until(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every file under `root`: relative path → content; and every folder.
fn local_tree(root: &Path) -> (BTreeMap<PathBuf, Vec<u8>>, BTreeSet<PathBuf>) {
    let mut files = BTreeMap::new();
    let mut dirs = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            if entry.file_type().unwrap().is_dir() {
                dirs.insert(rel);
                stack.push(path);
            } else {
                files.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    (files, dirs)
}

/// Asserts that two local trees are identical, byte for byte, with no `.partial` left.
#[track_caller]
fn assert_same_tree(expected: &Path, actual: &Path) {
    let (want, want_dirs) = local_tree(expected);
    let (got, got_dirs) = local_tree(actual);
    let partials: Vec<_> = got
        .keys()
        .filter(|p| p.to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(partials.is_empty(), ".partial files left: {partials:?}");
    let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    for (path, bytes) in &want {
        assert!(
            got[path] == *bytes,
            "{}: {} bytes md5 {} arrived as {} bytes md5 {}",
            path.display(),
            bytes.len(),
            md5_hex(bytes),
            got[path].len(),
            md5_hex(&got[path])
        );
    }
    assert_eq!(want_dirs, got_dirs, "folders differ");
}

// ---- the mock process -----------------------------------------------------------------------

/// An `acd-mock` process on a given listen address, killed on drop.
struct Mock {
    child: Child,
    url: String,
}

impl Mock {
    fn start(listen: &str, args: &[&str]) -> Mock {
        let path = binary("acd-mock", "acd-mock").unwrap();
        let mut child = Command::new(path)
            .args(["--listen", listen, "--log-level", "error"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("acd-mock printed no first line");
        let url = first
            .strip_prefix("acd-mock listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_string();
        Mock { child, url }
    }

    fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Blocking access to the mock's admin API and (for checks) its plain API.
struct Admin {
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Admin {
    fn new() -> Self {
        Self {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            http: reqwest::Client::builder()
                .no_proxy()
                // No idle connections: a restarted mock must not get a dead pooled one.
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
        }
    }

    fn send(&self, request: reqwest::RequestBuilder) -> Value {
        self.runtime.block_on(async {
            let response = request.send().await.unwrap();
            let status = response.status();
            let body = response.bytes().await.unwrap();
            assert!(status.is_success(), "{status}: {}", text(&body));
            if body.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&body).unwrap()
            }
        })
    }

    fn get(&self, url: &str) -> Value {
        self.send(self.http.get(url))
    }
}

// ---- acd ----------------------------------------------------------------------------------

/// One mock, one acd config with remote `r`, a private HOME.
struct Env {
    mock: Mock,
    admin: Admin,
    acd: PathBuf,
    config: PathBuf,
    dir: tempfile::TempDir,
    bearer: String,
}

impl Env {
    fn new(mock: Mock) -> Self {
        let admin = Admin::new();
        let acd = binary("acd-client", "acd").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("acd.conf");
        let minted = admin.send(admin.http.post(format!("{}/_mock/tokens", mock.url)));
        let bearer = minted["access_token"].as_str().unwrap().to_string();
        let token = json!({
            "access_token": minted["access_token"],
            "token_type": "bearer",
            "refresh_token": minted["refresh_token"],
            "expiry": "2099-01-01T00:00:00Z",
        });
        let env = Self {
            mock,
            admin,
            acd,
            config,
            dir,
            bearer,
        };
        let url = env.mock.url.clone();
        let out = env.run(&[
            "config".to_string(),
            "create".into(),
            "r".into(),
            format!("endpoint_url={url}/drive/v1/account/endpoint"),
            format!("token_url={url}/auth/o2/token"),
            "client_id=x".into(),
            "client_secret=soak-secret".into(),
            format!("token={token}"),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        env
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.acd);
        for (key, _) in std::env::vars() {
            if key.starts_with("ACD_") {
                cmd.env_remove(key);
            }
        }
        let home = self.dir.path().join("home");
        cmd.env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("NO_COLOR", "1")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .arg("--config")
            .arg(&self.config);
        cmd
    }

    fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// Runs acd, asserting exit 0; returns (stdout, stderr).
    fn ok<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(&self, args: &[S]) -> (String, String) {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "acd {args:?} failed ({}):\n{}",
            out.status,
            text(&out.stderr)
        );
        (text(&out.stdout), text(&out.stderr))
    }

    /// Starts acd in the background with its stderr going to a file.
    fn spawn<S: AsRef<std::ffi::OsStr>>(&self, args: &[S], log: &Path) -> Child {
        let file = std::fs::File::create(log).unwrap();
        self.command()
            .args(args)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap()
    }

    fn admin_get(&self, path: &str) -> Value {
        self.admin.get(&format!("{}/_mock/{path}", self.mock.url))
    }

    /// Remote files and folders under `r:ROOT` by path (from `lsjson -R --hash`), asserting
    /// that no two paths are equal ignoring case (duplicates).
    fn remote_tree(&self, root: &str) -> BTreeMap<String, Value> {
        let (out, _) = self.ok(&["lsjson", "-R", "--hash", &format!("r:{root}")]);
        let items: Vec<Value> = serde_json::from_str(&out).unwrap();
        let mut by_path = BTreeMap::new();
        let mut folded = BTreeMap::new();
        for item in items {
            let path = item["Path"].as_str().unwrap().to_string();
            if let Some(other) = folded.insert(path.to_lowercase(), path.clone()) {
                panic!("duplicate nodes on the remote: {other:?} and {path:?}");
            }
            by_path.insert(path, item);
        }
        by_path
    }

    /// Asserts that the remote holds exactly the local tree: same paths, sizes and md5s.
    #[track_caller]
    fn assert_remote_matches(&self, root: &str, local: &Path) {
        let remote = self.remote_tree(root);
        let (files, dirs) = local_tree(local);
        let mut expected: BTreeSet<String> = BTreeSet::new();
        for (path, bytes) in &files {
            let key = path.to_str().unwrap().to_string();
            let item = remote
                .get(&key)
                .unwrap_or_else(|| panic!("{key:?} is missing on the remote"));
            assert_eq!(item["IsDir"], false, "{item}");
            assert_eq!(item["Size"].as_u64().unwrap(), bytes.len() as u64, "{key}");
            assert_eq!(
                item["Hashes"]["md5"].as_str().unwrap(),
                md5_hex(bytes),
                "{key}"
            );
            expected.insert(key);
        }
        for dir in dirs {
            let key = dir.to_str().unwrap().to_string();
            assert_eq!(remote.get(&key).map(|i| &i["IsDir"]), Some(&json!(true)));
            expected.insert(key);
        }
        let extra: Vec<_> = remote.keys().filter(|k| !expected.contains(*k)).collect();
        assert!(extra.is_empty(), "extra nodes on the remote: {extra:?}");
    }

    /// No node of any status PENDING, searched directly (call only with the faults cleared).
    fn assert_no_pending(&self) {
        let answer = self.admin.send(
            self.admin
                .http
                .get(format!("{}/drive/v1/nodes", self.mock.url))
                .query(&[("filters", "status:PENDING")])
                .bearer_auth(&self.bearer),
        );
        assert_eq!(
            answer["data"].as_array().map(Vec::len),
            Some(0),
            "PENDING nodes left: {answer}"
        );
    }
}

/// Writes `count` files with awkward names under `root`: spaces, unicode, `&()[]'`, leading
/// and trailing spaces, in nested folders. Sizes: every 50th is empty, every 100th (from 7) is
/// 1-8 MiB (the first exactly 8 MiB), every 10th (from 3) 64-512 KiB, the rest 1-16 KiB.
fn write_awkward_tree(root: &Path, count: usize, rng: &mut Rng) -> u64 {
    const FOLDERS: [&str; 8] = [
        "",
        "plain",
        "with space",
        " leading dir",
        "trailing dir ",
        "ünïcödé/日本語 😀",
        "br[a]ck(e)ts & 'quotes'",
        "deep/er/still deeper",
    ];
    let mut total = 0;
    for i in 0..count {
        let name = match i % 7 {
            0 => format!("file {i}.txt"),
            1 => format!(" leading {i}"),
            2 => format!("trailing {i} "),
            3 => format!("ünï日本 {i} 😀.bin"),
            4 => format!("amp&paren({i})[x]'q'.dat"),
            5 => format!("  both sides {i}  "),
            _ => format!("Mixed CASE {i}.Md"),
        };
        let size = if i % 50 == 0 {
            0
        } else if i == 7 {
            8 << 20
        } else if i % 100 == 7 {
            rng.range(1 << 20, 8 << 20)
        } else if i % 10 == 3 {
            rng.range(64 << 10, 512 << 10)
        } else {
            rng.range(1, 16 << 10)
        };
        let dir = root.join(FOLDERS[i % FOLDERS.len()]);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), rng.bytes(size as usize)).unwrap();
        total += size;
    }
    total
}

/// The `Retries:` count of acd's summary block.
fn summary_retries(stderr: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("Retries:"))
        .unwrap_or_else(|| panic!("no Retries: line in\n{stderr}"));
    line["Retries:".len()..].trim().parse().unwrap()
}

// ---- 1a: chaos ------------------------------------------------------------------------------

/// Fault rules whose firing never makes the client retry: added latency.
const NOT_RETRIED: [&str; 1] = ["latency"];

/// What the mock had fired at one moment: per rule, and the journal's last sequence number.
struct FaultSnapshot {
    fired: BTreeMap<String, u64>,
    seq: u64,
}

fn fault_snapshot(env: &Env) -> FaultSnapshot {
    let faults = env.admin_get("faults");
    let fired = faults["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["fired"].as_u64().unwrap(),
            )
        })
        .collect();
    let journal = env.admin_get("journal?limit=1");
    let seq = journal["entries"]
        .as_array()
        .unwrap()
        .last()
        .map_or(0, |e| e["seq"].as_u64().unwrap());
    FaultSnapshot { fired, seq }
}

/// The retries the client must have made for the faults fired between two snapshots.
///
/// Every fault that answers an error or drops a connection makes exactly one retry, counted
/// either by the pacer (`Pacer::call` retries, listing restarts) or by the transfer code
/// (upload re-sends and phantom waits in `upload.rs`, download resumes in `download.rs`):
/// - rule errors (429, 500, 502, 503, 504, the gateway's 403), `reset`, `lost_page` (a 429 on
///   a listing page, which restarts the listing once) and `phantom` (a 504 after the body was
///   stored: one phantom wait, counted as one retry whether or not the file then appears);
/// - the settings' rate limits (`rate_limit`, `node_rate_limit`): 429s that are not rules, so
///   they have no `fired` count; they are counted from the journal's `fault` field.
///
/// Exceptions, computed exactly:
/// - `latency` only delays a request: never a retry;
/// - `cut-download` cuts a body after 1,000 bytes; a body of at most 1,000 bytes passes whole
///   (`respond::cut_body`) although the rule counts as fired: no retry. Which cuts were short
///   is worked out per node from the journal and the node sizes, replaying the client's
///   resumes (each cut leaves 1,000 more bytes in the `.partial`, and the resume asks only for
///   the rest).
///
/// (A fault on the last of the 10 attempts would not be retried, but it fails the call and so
/// the sync, which the test rejects anyway.)
fn expected_retries(
    env: &Env,
    before: &FaultSnapshot,
    after: &FaultSnapshot,
    sizes: &BTreeMap<String, u64>,
) -> (u64, String) {
    let mut expected = 0u64;
    let mut detail = String::new();
    for (id, fired) in &after.fired {
        let delta = fired - before.fired.get(id).copied().unwrap_or(0);
        detail.push_str(&format!("{id}={delta} "));
        if !NOT_RETRIED.contains(&id.as_str()) {
            expected += delta;
        }
    }
    let span = after.seq - before.seq;
    let journal = env.admin_get(&format!("journal?limit={span}"));
    let entries = journal["entries"].as_array().unwrap();
    let first = entries.first().map_or(0, |e| e["seq"].as_u64().unwrap());
    assert!(
        entries.len() as u64 == span && first == before.seq + 1,
        "the journal no longer holds every request of the run ({span} wanted, first {first})"
    );
    let mut limited = 0;
    // Per node: the offset the client's next download request starts at.
    let mut offsets: BTreeMap<String, u64> = BTreeMap::new();
    let mut short_cuts = 0;
    for entry in entries {
        let fault = entry["fault"].as_str().unwrap_or("");
        if matches!(fault, "rate_limit" | "node_rate_limit") {
            limited += 1;
        }
        if fault == "cut-download" {
            let path = entry["path"].as_str().unwrap();
            let id = path
                .strip_prefix("/cdproxy/nodes/")
                .and_then(|p| p.strip_suffix("/content"))
                .unwrap_or_else(|| panic!("a cut download of an unexpected path {path}"));
            let size = sizes[id];
            let offset = offsets.entry(id.to_string()).or_insert(0);
            if size - *offset <= 1000 {
                short_cuts += 1;
            } else {
                *offset += 1000;
            }
        }
    }
    detail.push_str(&format!("rate limits={limited} short cuts={short_cuts}"));
    (expected + limited - short_cuts, detail)
}

/// Builds the fault plan from `chaos.toml`: every rule and setting kept, probabilities scaled
/// by `probability_scale`, the account rate limit multiplied by `rate_scale`.
fn scaled_chaos(probability_scale: f64, rate_scale: u32) -> String {
    let chaos = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../mock-server/profiles/chaos.toml"),
    )
    .unwrap();
    let probability = regex::Regex::new(r"probability = ([0-9.]+)").unwrap();
    let scaled = probability.replace_all(&chaos, |c: &regex::Captures<'_>| {
        let p: f64 = c[1].parse().unwrap();
        format!("probability = {}", p * probability_scale)
    });
    let rate =
        regex::Regex::new(r"(?m)^rate_limit = \{ per_second = (\d+), burst = (\d+) \}").unwrap();
    let scaled = rate.replace(&scaled, |c: &regex::Captures<'_>| {
        let per_second: u32 = c[1].parse().unwrap();
        let burst: u32 = c[2].parse().unwrap();
        format!(
            "rate_limit = {{ per_second = {}, burst = {} }}",
            per_second * rate_scale,
            burst * rate_scale
        )
    });
    scaled.into_owned()
}

/// How the chaos profile is scaled for this test. As shipped (rate limit 20/s, ~35% of
/// requests faulted) the 1,000-file upload alone took minutes on this 2-CPU machine (at half the
/// probabilities: 191 s up, 253 s in all), so every probability is scaled to a fifth and the
/// account rate limit is five times higher; every kind of fault
/// and setting is kept.
const CHAOS_PROBABILITY_SCALE: f64 = 0.2;
const CHAOS_RATE_SCALE: u32 = 5;

#[test]
fn chaos_sync_round_trip() {
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let profile = work.path().join("soak-chaos.toml");
    std::fs::write(
        &profile,
        scaled_chaos(CHAOS_PROBABILITY_SCALE, CHAOS_RATE_SCALE),
    )
    .unwrap();
    let mock = Mock::start(
        "127.0.0.1:0",
        &["--faults", profile.to_str().unwrap(), "--seed", "7"],
    );
    let env = Env::new(mock);
    let src = work.path().join("src");
    let total = write_awkward_tree(&src, 1000, &mut Rng(1));
    assert!(total < 150 << 20, "{total} bytes");
    let fast = ["-v", "--phantom-poll", "1s", "--upload-wait-per-gb", "10s"];

    // Up.
    let before = fault_snapshot(&env);
    let mut args: Vec<&str> = fast.to_vec();
    args.extend(["sync", src.to_str().unwrap(), "r:soak"]);
    let up = env.run(&args);
    let after = fault_snapshot(&env);
    let up_stderr = text(&up.stderr);
    assert!(
        up.status.success(),
        "sync up failed ({}):\n{}",
        up.status,
        up_stderr
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let up_secs = started.elapsed().as_secs_f64();
    eprintln!("chaos: sync up done after {up_secs:.1}s");
    let (expected, detail) = expected_retries(&env, &before, &after, &BTreeMap::new());
    assert_eq!(
        summary_retries(&up_stderr),
        expected,
        "sync up: the summary's retries vs the faults fired ({detail})"
    );

    // Back down, still under chaos.
    let remote = env.remote_tree("soak");
    let sizes: BTreeMap<String, u64> = remote
        .values()
        .filter(|i| i["IsDir"] == false)
        .map(|i| {
            (
                i["ID"].as_str().unwrap().to_string(),
                i["Size"].as_u64().unwrap(),
            )
        })
        .collect();
    let back = work.path().join("back");
    let before = fault_snapshot(&env);
    let mut args: Vec<&str> = fast.to_vec();
    args.extend(["sync", "r:soak", back.to_str().unwrap()]);
    let down = env.run(&args);
    let after = fault_snapshot(&env);
    let down_stderr = text(&down.stderr);
    assert!(
        down.status.success(),
        "sync down failed ({}):\n{}",
        down.status,
        down_stderr
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let (expected, detail) = expected_retries(&env, &before, &after, &sizes);
    assert_eq!(
        summary_retries(&down_stderr),
        expected,
        "sync down: the summary's retries vs the faults fired ({detail})"
    );
    assert_same_tree(&src, &back);

    // With the faults off: every phantom has appeared or been dropped, nothing is duplicated
    // or PENDING, and the remote holds exactly the source.
    env.admin.send(
        env.admin
            .http
            .delete(format!("{}/_mock/faults", env.mock.url)),
    );
    env.admin.send(
        env.admin
            .http
            .put(format!("{}/_mock/faults/settings", env.mock.url))
            .json(&json!({})),
    );
    wait_until(
        "the phantom uploads to appear",
        Duration::from_secs(30),
        || {
            let _ = env.remote_tree("soak");
            env.admin_get("faults")["pendingPhantoms"] == 0
        },
    );
    env.assert_remote_matches("soak", &src);
    env.assert_no_pending();
    eprintln!(
        "chaos round trip: {} MiB, up {up_secs:.1}s, total {:.1}s",
        total >> 20,
        started.elapsed().as_secs_f64()
    );
}

// ---- 1b: SIGKILL acd ----------------------------------------------------------------------

/// How many journal entries of `operation` came after `since`.
fn requests_since(env: &Env, operation: &str, since: u64) -> u64 {
    let journal = env.admin_get(&format!("journal?limit=10000&operation={operation}"));
    journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["seq"].as_u64().unwrap() > since)
        .count() as u64
}

/// A `.partial` file of at least `min` bytes under `root`.
fn has_partial(root: &Path, min: u64) -> bool {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".partial")
                && entry.metadata().is_ok_and(|m| m.len() >= min)
            {
                return true;
            }
        }
    }
    false
}

/// Runs `args` three times, each killed with SIGKILL once `ready` says the seeded point was
/// reached (the process must still be running then).
fn kill_three_times(env: &Env, args: &[&str], mut ready: impl FnMut(&Env, usize) -> bool) {
    for round in 0..3 {
        let log = env.dir.path().join(format!("killed-{round}.log"));
        let mut child = env.spawn(args, &log);
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "round {round}: acd finished ({status}) before the kill point:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if ready(env, round) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "round {round}: the kill point never came"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(!status.success(), "round {round}: {status}");
    }
}

#[test]
fn sigkilled_syncs_converge() {
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let env = Env::new(Mock::start("127.0.0.1:0", &[]));
    let src = work.path().join("src");
    let mut rng = Rng(42);
    write_awkward_tree(&src, 196, &mut rng);
    for i in 0..4 {
        let size = rng.range(20 << 20, 50 << 20) as usize;
        std::fs::write(src.join(format!("big file {i} ü.bin")), rng.bytes(size)).unwrap();
    }
    let up = ["-v", "sync", src.to_str().unwrap(), "r:big"];

    // Upload: kill after a seeded number of upload requests began (counted from the start).
    let start_seq = fault_snapshot(&env).seq;
    let mut points: Vec<u64> = (0..3).map(|_| rng.range(10, 150)).collect();
    points.sort_unstable();
    kill_three_times(&env, &up, |env, round| {
        requests_since(env, "upload", start_seq) >= points[round]
    });
    env.ok(&up);
    env.assert_remote_matches("big", &src);
    // A second run finds nothing to do.
    let (_, stderr) = env.ok(&up);
    assert!(
        stderr.contains("Files:         \t0"),
        "nothing left to copy:\n{stderr}"
    );

    // Download: kill mid-way (seeded download counts, and once while a big file is partial).
    let dst = work.path().join("dst");
    let dst_arg = dst.to_str().unwrap().to_string();
    let down = ["-v", "sync", "r:big", dst_arg.as_str()];
    let start_seq = fault_snapshot(&env).seq;
    let mut points: Vec<u64> = (0..3).map(|_| rng.range(5, 120)).collect();
    points.sort_unstable();
    let partial_round = (rng.next() % 3) as usize;
    kill_three_times(&env, &down, |env, round| {
        if round == partial_round {
            has_partial(&dst, 4 << 20)
        } else {
            requests_since(env, "download", start_seq) >= points[round]
        }
    });
    env.ok(&down);
    assert_same_tree(&src, &dst);
    env.assert_remote_matches("big", &src);
    eprintln!(
        "sigkill convergence: {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

// ---- 1c: SIGKILL the mock -----------------------------------------------------------------

#[test]
fn mock_restart_loses_no_acknowledged_upload() {
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let data_arg = data.to_str().unwrap().to_string();
    let mut env = Env::new(Mock::start("127.0.0.1:0", &["--data-dir", &data_arg]));
    let port = env.mock.port();
    let src = work.path().join("src");
    let mut rng = Rng(99);
    write_awkward_tree(&src, 150, &mut rng);
    let (files, _) = local_tree(&src);
    let names: Vec<String> = files
        .keys()
        .map(|p| p.to_str().unwrap().to_string())
        .collect();
    let copied = |log: &str| -> BTreeSet<String> {
        names
            .iter()
            .filter(|n| log.contains(&format!("{n}: copied")))
            .cloned()
            .collect()
    };

    let args = ["-v", "sync", src.to_str().unwrap(), "r:restart"];
    let log = work.path().join("acd.log");
    let mut acd = env.spawn(&args, &log);
    let point = rng.range(20, 80) as usize;
    wait_until("acd to copy some files", Duration::from_secs(60), || {
        copied(&std::fs::read_to_string(&log).unwrap_or_default()).len() >= point
    });
    env.mock.child.kill().unwrap(); // SIGKILL
    env.mock.child.wait().unwrap();
    // What acd acknowledged up to now (the log is read after the mock died).
    let acknowledged = copied(&std::fs::read_to_string(&log).unwrap());
    assert!(acknowledged.len() >= point);
    env.mock = Mock::start(&format!("127.0.0.1:{port}"), &["--data-dir", &data_arg]);

    // acd may finish or give up; either way nothing it acknowledged is lost.
    let start = Instant::now();
    let status = loop {
        if let Some(status) = acd.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "acd did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let remote = env.remote_tree("restart");
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|n| {
            let item = remote.get(*n);
            item.is_none_or(|i| i["Hashes"]["md5"] != json!(md5_hex(&files[Path::new(n)])))
        })
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged uploads lost after the restart (acd exited {status}): {lost:?}"
    );
    env.ok(&args);
    env.assert_remote_matches("restart", &src);
    env.assert_no_pending();
    eprintln!(
        "mock restart: {} acknowledged before the kill, acd exited {status}, {:.1}s",
        acknowledged.len(),
        started.elapsed().as_secs_f64()
    );
}
