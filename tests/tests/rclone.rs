#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Unmodified rclone 1.60 (Debian's package, whose `amazon cloud drive` backend still exists)
//! against the `acd-mock` binary through `--intercept`: rclone hard-codes
//! `https://drive.amazonaws.com/drive/v1/account/endpoint`, reaches it through HTTPS_PROXY, trusts
//! the mock's CA with `--ca-cert`, and is then sent to the mock's plain-HTTP URLs.
//!
//! Every step asserts on what rclone listed or transferred, not only on its exit code: rclone
//! prints an empty listing and exits 0 when every listing attempt fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use acd_e2e::admin::md5_hex;
use acd_e2e::process::MockProcess;
use serde_json::{Value, json};

/// One rclone setup: the mock, the config file and the CA.
struct Rclone {
    mock: MockProcess,
    config: PathBuf,
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

fn rclone_installed() {
    let found = Command::new("rclone").arg("version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "rclone is not installed: install Debian's package (apt-get install rclone; 1.60 still has \
         the 'amazon cloud drive' backend). .ci/run installs it."
    );
}

impl Rclone {
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts the mock with `--intercept` and these extra flags.
    async fn start_with(extra: &[&str]) -> Self {
        rclone_installed();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("mock-data");
        let mut args = vec!["--intercept", "--data-dir", data.to_str().unwrap()];
        args.extend_from_slice(extra);
        let mock = MockProcess::start(&args).unwrap();
        let ca = data.join("ca.pem");
        assert!(
            ca.exists(),
            "the mock did not write its CA to {}",
            ca.display()
        );
        let token: Value = mint(&mock.url).await;
        let config = dir.path().join("rclone.conf");
        let this = Self {
            mock,
            config,
            ca,
            _dir: dir,
        };
        this.write_config(&token, "2099-01-01T00:00:00Z");
        this
    }

    /// Writes a stock rclone config section, `token_url` pointing at the mock.
    fn write_config(&self, token: &Value, expiry: &str) {
        let token = json!({
            "access_token": token["access_token"],
            "token_type": "bearer",
            "refresh_token": token["refresh_token"],
            "expiry": expiry,
        });
        let url = &self.mock.url;
        std::fs::write(
            &self.config,
            format!(
                "[acd]\ntype = amazon cloud drive\nclient_id = rclone-test-client\n\
                 client_secret = rclone-test-secret\nauth_url = {url}/ap/oa\n\
                 token_url = {url}/auth/o2/token\ntoken = {token}\n\n"
            ),
        )
        .unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("rclone")
            .args(["--config", self.config.to_str().unwrap()])
            .args(["--ca-cert", self.ca.to_str().unwrap()])
            .args([
                "--low-level-retries",
                "2",
                "--retries",
                "1",
                "--contimeout",
                "10s",
            ])
            .args(args)
            .env("HTTPS_PROXY", &self.mock.url)
            .env_remove("HTTP_PROXY")
            .env_remove("NO_PROXY")
            .output()
            .expect("run rclone")
    }

    /// Runs rclone, asserting success, and returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "rclone {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    async fn admin(&self, path: &str) -> Value {
        reqwest::get(format!("{}/_mock/{path}", self.mock.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// A fresh token for the default account, from the mock's admin API.
async fn mint(url: &str) -> Value {
    serde_json::to_value(acd_e2e::admin::mint_async(url).await.unwrap()).unwrap()
}

/// `rclone ls`-style output as name → size.
fn parse_ls(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let (size, name) = l.split_once(' ')?;
            Some((name.to_string(), size.parse().ok()?))
        })
        .collect()
}

/// `rclone md5sum` / `md5sum` output as name → md5.
fn parse_sums(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let (sum, name) = l.split_once("  ")?;
            Some((name.to_string(), sum.to_string()))
        })
        .collect()
}

/// The awkward local tree: spaces, quotes, brackets, `&`, `+`, unicode, a 0-byte file, a subfolder.
fn make_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("plain.txt", b"plain text\n".to_vec()),
        ("sp ace & (x)+[y]'q'.txt", b"awkward name".to_vec()),
        ("double \"quote\".bin", (0..=255u8).collect()),
        ("ünïcödé 日本.txt", "ü日本\n".as_bytes().to_vec()),
        ("empty", Vec::new()),
        ("sub dir/nested+file.dat", vec![7u8; 70_000]),
        ("sub dir/[brackets] {braces}.txt", b"brackets".to_vec()),
    ];
    let mut map = BTreeMap::new();
    for (name, bytes) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        map.insert(name.to_string(), bytes);
    }
    map
}

#[tokio::test(flavor = "multi_thread")]
async fn rclone_runs_unmodified_against_the_mock() {
    let rc = Rclone::start().await;
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("src");
    let tree = make_tree(&src);

    // lsd on an empty account, then mkdir.
    assert_eq!(rc.ok(&["lsd", "acd:"]).trim(), "");
    rc.ok(&["mkdir", "acd:dir1"]);
    let dirs = rc.ok(&["lsd", "acd:"]);
    assert!(
        dirs.lines().any(|l| l.ends_with(" dir1")),
        "lsd after mkdir: {dirs}"
    );

    // copy the awkward tree up; ls shows every file with its size.
    rc.ok(&["copy", src.to_str().unwrap(), "acd:dir1"]);
    let listed = parse_ls(&rc.ok(&["ls", "acd:dir1"]));
    let expected: BTreeMap<String, u64> = tree
        .iter()
        .map(|(k, v)| (k.clone(), v.len() as u64))
        .collect();
    assert_eq!(listed, expected);

    // md5sum from the server's metadata equals local MD5s.
    let sums = parse_sums(&rc.ok(&["md5sum", "acd:dir1"]));
    let local_sums: BTreeMap<String, String> =
        tree.iter().map(|(k, v)| (k.clone(), md5_hex(v))).collect();
    assert_eq!(sums, local_sums);

    // check agrees.
    let check = rc.run(&["check", src.to_str().unwrap(), "acd:dir1"]);
    let check_err = String::from_utf8_lossy(&check.stderr);
    assert!(check.status.success(), "check failed: {check_err}");
    assert!(check_err.contains("0 differences found"), "{check_err}");

    // copy back down, byte for byte.
    let back = local.path().join("back");
    rc.ok(&["copy", "acd:dir1", back.to_str().unwrap()]);
    for (name, bytes) in &tree {
        let got = std::fs::read(back.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&got, bytes, "{name} came back different");
    }

    // sync trashes a file that is only on the remote.
    let extra = local.path().join("extra.txt");
    std::fs::write(&extra, b"only remote").unwrap();
    rc.ok(&["copyto", extra.to_str().unwrap(), "acd:dir1/extra.txt"]);
    assert!(parse_ls(&rc.ok(&["ls", "acd:dir1"])).contains_key("extra.txt"));
    rc.ok(&["sync", src.to_str().unwrap(), "acd:dir1"]);
    assert_eq!(parse_ls(&rc.ok(&["ls", "acd:dir1"])), expected);
    let token: Value = mint(&rc.mock.url).await;
    let trash: Value = reqwest::Client::new()
        .get(format!("{}/drive/v1/trash", rc.mock.url))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let trashed: Vec<&str> = trash["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert!(
        trashed.contains(&"extra.txt"),
        "sync should trash extra.txt: {trashed:?}"
    );

    // moveto across folders.
    rc.ok(&["mkdir", "acd:dir2"]);
    rc.ok(&["moveto", "acd:dir1/plain.txt", "acd:dir2/moved.txt"]);
    let dir1 = parse_ls(&rc.ok(&["ls", "acd:dir1"]));
    let dir2 = parse_ls(&rc.ok(&["ls", "acd:dir2"]));
    assert!(!dir1.contains_key("plain.txt"), "{dir1:?}");
    assert_eq!(dir2.get("moved.txt"), Some(&11));

    // cat with an offset and a count: a ranged download.
    let part = rc.ok(&["cat", "--offset", "2", "--count", "5", "acd:dir2/moved.txt"]);
    assert_eq!(part, "ain t");

    // delete removes files, purge removes the folder.
    rc.ok(&["delete", "acd:dir2"]);
    assert!(parse_ls(&rc.ok(&["ls", "acd:dir2"])).is_empty());
    rc.ok(&["purge", "acd:dir1"]);
    let dirs = rc.ok(&["lsd", "acd:"]);
    assert!(!dirs.contains("dir1"), "purge left dir1: {dirs}");
    assert!(dirs.contains("dir2"), "{dirs}");

    // The journal shows the traffic came through the tunnel's discovery call and the API.
    let journal = rc.admin("journal?operation=endpoint").await;
    assert!(!journal["entries"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn rclone_refreshes_an_expired_token_through_the_mock() {
    let rc = Rclone::start().await;
    let token: Value = mint(&rc.mock.url).await;
    // The server has expired the access token and the config says it expired long ago, so
    // rclone must refresh it at the token endpoint before it can list anything.
    let access = token["access_token"].as_str().unwrap_or_default();
    acd_e2e::admin::client(&rc.mock.url)
        .unwrap()
        .expire_token(access)
        .await
        .unwrap_or_else(|e| panic!("POST /_mock/tokens/expire must answer 200: {e}"));
    rc.write_config(&token, "2000-01-01T00:00:00Z");
    rc.ok(&["mkdir", "acd:after-refresh"]);
    let dirs = rc.ok(&["lsd", "acd:"]);
    assert!(dirs.contains("after-refresh"), "{dirs}");

    let config = std::fs::read_to_string(&rc.config).unwrap();
    let old = token["access_token"].as_str().unwrap();
    assert!(
        !config.contains(old),
        "rclone should have saved the new access token"
    );
    assert!(config.contains("Atza|"), "{config}");
    let refreshes = rc.admin("journal?operation=token").await;
    let statuses: Vec<u64> = refreshes["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["status"].as_u64())
        .collect();
    assert!(
        statuses.contains(&200),
        "no successful refresh: {statuses:?}"
    );
}

/// The `realistic` profile (rate limit 10/s with bursts of 20, rare 403/500/502/503, ...):
/// rclone 1.60 still copies, lists and verifies a tree, retrying through its pacer. What it
/// survives and what it does not is recorded in the README.
#[tokio::test(flavor = "multi_thread")]
async fn rclone_survives_the_realistic_profile() {
    let rc = Rclone::start_with(&["--faults", "realistic", "--seed", "7"]).await;
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("src");
    let mut tree = make_tree(&src);
    for i in 0..20 {
        let name = format!("many/file {i:02}.txt");
        let bytes = format!("file number {i}\n").into_bytes();
        std::fs::create_dir_all(src.join("many")).unwrap();
        std::fs::write(src.join(&name), &bytes).unwrap();
        tree.insert(name, bytes);
    }
    let run = |args: &[&str]| {
        // Default retries: under faults rclone needs its own retry machinery.
        let output = Command::new("rclone")
            .args(["--config", rc.config.to_str().unwrap()])
            .args(["--ca-cert", rc.ca.to_str().unwrap()])
            .args(args)
            .env("HTTPS_PROXY", &rc.mock.url)
            .output()
            .expect("run rclone");
        assert!(
            output.status.success(),
            "rclone {args:?} failed under the realistic profile:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    run(&[
        "copy",
        src.to_str().unwrap(),
        "acd:real",
        "--transfers",
        "8",
    ]);
    // Listings lag 1-2 s behind uploads under this profile, and rclone does not wait: poll.
    let expected: BTreeMap<String, u64> = tree
        .iter()
        .map(|(k, v)| (k.clone(), v.len() as u64))
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let listed = parse_ls(&run(&["ls", "acd:real"]));
        if listed == expected {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the listing never caught up: {listed:?}"
        );
    }
    let sums = parse_sums(&run(&["md5sum", "acd:real"]));
    let local_sums: BTreeMap<String, String> =
        tree.iter().map(|(k, v)| (k.clone(), md5_hex(v))).collect();
    assert_eq!(sums, local_sums);
    let back = local.path().join("back");
    run(&["copy", "acd:real", back.to_str().unwrap()]);
    for (name, bytes) in &tree {
        assert_eq!(&std::fs::read(back.join(name)).unwrap(), bytes, "{name}");
    }
    // The profile really was in force: the mock says which faults fired.
    let journal = rc.admin("journal?limit=10000").await;
    let fired = journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["fault"].is_string())
        .count();
    assert!(fired > 0, "the realistic profile fired no fault at all");
}

/// A phantom upload that becomes real on its own schedule, with no search needed (§8.6): the
/// first upload answers 504 and the file is listed as PENDING, then AVAILABLE two seconds
/// later. rclone's `checkUpload` looks once, sleeps 5 s, then retries the copy, finds the
/// file and leaves one node with the right content.
#[tokio::test]
async fn rclone_recovers_from_a_phantom_that_appears_on_its_own() {
    let rc = Rclone::start().await;
    let rule = json!({
        "id": "phantom",
        "match": {"operation": "upload"},
        "action": {"kind": "phantom_upload", "status": 504, "delay_ms": 2000},
        "trigger": {"first": 1}
    });
    acd_e2e::admin::client(&rc.mock.url)
        .unwrap()
        .add_faults_json(&rule)
        .await
        .unwrap_or_else(|e| panic!("POST /_mock/faults: {e}"));
    let local = tempfile::tempdir().unwrap();
    let bytes = b"a phantom that rclone must not duplicate\n".repeat(100);
    std::fs::write(local.path().join("ghost.txt"), &bytes).unwrap();
    let out = Command::new("rclone")
        .args(["--config", rc.config.to_str().unwrap()])
        .args(["--ca-cert", rc.ca.to_str().unwrap()])
        .args(["copy", local.path().to_str().unwrap(), "acd:ph"])
        .env("HTTPS_PROXY", &rc.mock.url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rclone copy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let faults = rc.admin("faults").await;
    let fired = faults["rules"][0]["fired"].as_u64();
    assert_eq!(fired, Some(1), "the phantom rule fired once: {faults}");
    // Every node of that name, as the service holds it (rclone's listing could hide a twin).
    let token = mint(&rc.mock.url).await;
    let found: Value = reqwest::Client::new()
        .get(format!("{}/drive/v1/nodes", rc.mock.url))
        .query(&[("filters", "name:ghost.txt")])
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let nodes = found["data"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "one node, no duplicate: {found}");
    assert_eq!(nodes[0]["status"], "AVAILABLE");
    assert_eq!(
        nodes[0]["contentProperties"]["md5"],
        md5_hex(&bytes).as_str()
    );
}
