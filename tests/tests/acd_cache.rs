#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `acd` processes and the metadata cache, against an `acd-mock` process whose listings lag
//! 2 s (or the `realistic` profile): `acd copy src r:d` followed at once by `md5sum`, `check`,
//! `copy r:d down` and `lsjson -R --fast-list` in later processes sees every file; `acd cache
//! sync|info|clear`; two processes syncing one cache at once; a corrupt cache file; a cache
//! directory that cannot be written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use acd_e2e::admin::{self, md5_hex};
use acd_e2e::process::{MockProcess, binary};
use acd_mock::admin_client::{SeedNode, SeedRequest};
use serde_json::{Value, json};

const FILES: usize = 15;

struct Env {
    mock: MockProcess,
    acd: PathBuf,
    config: PathBuf,
    dir: tempfile::TempDir,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl Env {
    /// A mock whose listings lag 2 s.
    fn lagging() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let profile = dir.path().join("lag.toml");
        std::fs::write(
            &profile,
            "[settings]\nlisting_lag_ms = { min = 2000, max = 2000 }\n",
        )
        .unwrap();
        Self::with(dir, &["--faults", profile.to_str().unwrap()])
    }

    fn with(dir: tempfile::TempDir, args: &[&str]) -> Self {
        let mock = MockProcess::start(args).unwrap();
        let acd = binary("acd-client", "acd").unwrap();
        let config = dir.path().join("acd.conf");
        let minted = serde_json::to_value(acd_e2e::admin::mint(&mock.url).unwrap()).unwrap();
        let token = json!({
            "access_token": minted["access_token"],
            "token_type": "bearer",
            "refresh_token": minted["refresh_token"],
            "expiry": "2099-01-01T00:00:00Z",
        });
        let env = Self {
            acd,
            config,
            dir,
            mock,
        };
        let url = env.mock.url.clone();
        env.ok(&[
            "config".to_string(),
            "create".into(),
            "r".into(),
            format!("endpoint_url={url}/drive/v1/account/endpoint"),
            format!("token_url={url}/auth/o2/token"),
            "client_id=x".into(),
            "client_secret=y".into(),
            format!("token={token}"),
        ]);
        env
    }

    fn cache_home(&self) -> PathBuf {
        self.dir.path().join("home").join(".cache")
    }

    /// The metadata cache files of this environment.
    fn cache_files(&self) -> Vec<PathBuf> {
        let dir = self.cache_home().join("acd").join("metadata");
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|x| x == "sqlite"));
        files
    }

    fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(&self.acd);
        for (key, _) in std::env::vars() {
            if key.starts_with("ACD_") {
                cmd.env_remove(key);
            }
        }
        let home = self.dir.path().join("home");
        cmd.env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", self.cache_home())
            .env("NO_COLOR", "1")
            .arg("--config")
            .arg(&self.config)
            .args(args);
        cmd
    }

    fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        self.command(args).output().expect("run acd")
    }

    fn ok<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(&self, args: &[S]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "acd {args:?} failed: {}\n{}",
            text(&out.stderr),
            text(&out.stdout)
        );
        text(&out.stdout)
    }

    /// A local tree of [`FILES`] files: relative path -> md5.
    fn tree(&self, name: &str) -> (PathBuf, BTreeMap<String, String>) {
        let root = self.dir.path().join(name);
        let mut files = BTreeMap::new();
        for i in 0..FILES {
            let rel = format!("d{}/f{i}.txt", i % 3);
            let bytes = format!("content {i} ").repeat(i + 1).into_bytes();
            let path = root.join(&rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
            files.insert(rel, md5_hex(&bytes));
        }
        (root, files)
    }

    fn seed(&self, files: usize) {
        let nodes: Vec<SeedNode> = (0..files)
            .map(|i| SeedNode::text(format!("s{i:05}.txt"), format!("{i}")))
            .collect();
        admin::seed(
            &self.mock.url,
            &SeedRequest::nodes(vec![SeedNode::folder("seeded", nodes)]),
        );
    }
}

/// `md5sum` output as path -> md5.
fn md5sums(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(m, p)| (p.to_string(), m.to_string()))
        .collect()
}

fn local_files(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, md5_hex(&std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

/// Copy up, then at once: md5sum, check, copy down, lsjson -R --fast-list, each a new process.
fn every_file_is_seen_at_once(env: &Env, remote_dir: &str) {
    let (src, files) = env.tree("src");
    let dst = format!("r:{remote_dir}");
    env.ok(&["copy", src.to_str().unwrap(), &dst]);
    assert_eq!(md5sums(&env.ok(&["md5sum", &dst])), files, "md5sum");
    env.ok(&["check", src.to_str().unwrap(), &dst]);
    let down = env.dir.path().join("down");
    env.ok(&["copy", &dst, down.to_str().unwrap()]);
    assert_eq!(local_files(&down), files, "copy down");
    let listed: Vec<Value> =
        serde_json::from_str(&env.ok(&["lsjson", "-R", "--fast-list", &dst])).unwrap();
    let listed_files = listed.iter().filter(|e| e["IsDir"] == json!(false)).count();
    assert_eq!(listed_files, FILES, "lsjson -R --fast-list: {listed:?}");
}

#[test]
fn copy_up_then_at_once_md5sum_check_copy_down_under_a_listing_lag() {
    let env = Env::lagging();
    // Without read-your-writes (window 0), the lag hides files right after the copy.
    let (src, _) = env.tree("control");
    env.ok(&[
        "--consistency-window",
        "0",
        "copy",
        src.to_str().unwrap(),
        "r:control",
    ]);
    let out = env.run(&["--consistency-window", "0", "md5sum", "r:control"]);
    assert!(
        !out.status.success() || md5sums(&text(&out.stdout)).len() < FILES,
        "the lag hid nothing; this test would prove nothing: {}",
        text(&out.stdout)
    );
    every_file_is_seen_at_once(&env, "top/dir");
}

#[test]
fn copy_up_then_at_once_down_under_the_realistic_profile() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env::with(dir, &["--faults", "realistic", "--seed", "3"]);
    every_file_is_seen_at_once(&env, "real");
}

#[test]
fn cache_sync_info_and_clear() {
    let env = Env::with(tempfile::tempdir().unwrap(), &[]);
    env.seed(40);
    let out = env.ok(&["cache", "sync", "r:"]);
    assert!(out.contains("Nodes:        42"), "{out}");
    let info: Value =
        serde_json::from_str(env.ok(&["--json", "cache", "info", "r:"]).trim()).unwrap();
    assert_eq!(info["nodes"], json!(42), "{info}");
    assert!(
        info["checkpoint"].is_string() && info["lastSync"].is_string(),
        "{info}"
    );
    assert!(info["sizeOnDisk"].as_u64().unwrap() > 0);
    assert_eq!(env.cache_files().len(), 1);
    // Listings with --fast-list agree with the API's.
    let slow = env.ok(&["lsjson", "-R", "r:"]);
    let fast = env.ok(&["lsjson", "-R", "--fast-list", "r:"]);
    let sorted = |s: &str| {
        let mut v: Vec<Value> = serde_json::from_str(s).unwrap();
        v.sort_by_key(|e| e["Path"].as_str().unwrap().to_string());
        v
    };
    assert_eq!(sorted(&slow), sorted(&fast));
    let out = env.run(&["cache", "clear", "r:"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("removed"),
        "{}",
        text(&out.stderr)
    );
    assert!(env.cache_files().is_empty());
    let out = env.run(&["cache", "info"]);
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("no metadata caches"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn two_processes_sync_one_cache_at_once() {
    let env = Env::with(tempfile::tempdir().unwrap(), &[]);
    env.seed(2_000);
    let children: Vec<_> = (0..2)
        .map(|_| {
            env.command(&["--json", "cache", "sync", "r:"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let info: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
        assert_eq!(info["nodes"], json!(2_002), "{info}");
    }
    let info: Value =
        serde_json::from_str(env.ok(&["--json", "cache", "info", "r:"]).trim()).unwrap();
    assert_eq!(info["nodes"], json!(2_002));
}

#[test]
fn a_corrupt_cache_is_rebuilt_with_one_warning() {
    let env = Env::with(tempfile::tempdir().unwrap(), &[]);
    env.seed(5);
    env.ok(&["cache", "sync", "r:"]);
    let file = env.cache_files().pop().unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    std::fs::write(&file, vec![0x17; 20_000]).unwrap();
    let out = env.run(&["--fast-list", "ls", "r:seeded"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.matches("rebuilding").count(), 1, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert_eq!(
        text(&out.stdout).lines().count(),
        5,
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn an_unwritable_cache_dir_warns_once_and_the_command_works() {
    let env = Env::with(tempfile::tempdir().unwrap(), &[]);
    let blocker = env.dir.path().join("blocker");
    std::fs::write(&blocker, b"a file, not a folder").unwrap();
    let (src, files) = env.tree("src");
    let cache_dir = blocker.join("cache");
    let out = env.run(&[
        "--cache-dir",
        cache_dir.to_str().unwrap(),
        "--fast-list",
        "copy",
        src.to_str().unwrap(),
        "r:nocache",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr.matches("cannot use the metadata cache").count(),
        1,
        "{stderr}"
    );
    let out = env.ok(&[
        "--cache-dir",
        cache_dir.to_str().unwrap(),
        "md5sum",
        "r:nocache",
    ]);
    assert_eq!(md5sums(&out), files);
}
