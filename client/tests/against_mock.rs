//! Integration tests of the client library against an in-process `acd-mock`: whole-tree
//! copies with awkward names, phantom uploads, 429 storms, token expiry, case collisions,
//! 409s, tempLink downloads of huge files, bad input and garbled answers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use acd_client::ErrorKind;
use acd_client::api::model::Node;
use acd_client::config::ConfigFile;
use acd_client::ops::sync::{Mode, Report, download_tree, upload_tree};
use acd_client::ops::{self, Ctx};
use acd_client::pacer::PacerConfig;
use acd_client::paths::{self, RemotePath};
use acd_client::transfer::download::Downloader;
use acd_client::transfer::stats::Stats;
use acd_mock::admin::Client;
use acd_mock::admin_client::{SeedNode, SeedRequest, md5_hex};
use acd_mock::faults::rule::Rule;
use acd_mock::operation::Operation;
use acd_mock::{MockServer, MockServerBuilder};
use serde_json::{Value, json};

const REMOTE: &str = "acd";
const KIB: usize = 1024;

// ---- set-up -------------------------------------------------------------------------------

/// A running mock, a configured remote on it, and the scratch space of one test.
struct Env {
    server: MockServer,
    dir: tempfile::TempDir,
    config_path: PathBuf,
    first_access_token: String,
    ctx: Ctx,
}

impl Env {
    /// Starts `builder`, writes a config (plus `extra` options) and opens the remote.
    async fn start(builder: MockServerBuilder, extra: &[(&str, &str)]) -> Env {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("ACD_TEST_LOG")
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .try_init();
        let server = builder.start().await.expect("the mock starts");
        let token = server.mint_token(None).expect("a token");
        let expiry = chrono::Utc::now() + chrono::Duration::seconds(token.expires_in as i64);
        let token_json = json!({
            "access_token": token.access_token,
            "token_type": "bearer",
            "refresh_token": token.refresh_token,
            "expiry": expiry.to_rfc3339(),
        })
        .to_string();
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("acd.conf");
        let mut file = ConfigFile::load(&config_path).unwrap();
        for (key, value) in [
            ("type", "amazon cloud drive"),
            ("client_id", "test-client"),
            ("client_secret", "test-secret"),
            ("token_url", &server.token_url()),
            ("endpoint_url", &server.endpoint_url()),
            ("token", &token_json),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        {
            file.set(REMOTE, key, value);
        }
        file.save().unwrap();
        let session = acd_client::remote::Session {
            config_path: config_path.clone(),
            overrides: Default::default(),
            http: acd_client::http::build_client(&Default::default()).unwrap(),
            pacer: PacerConfig {
                min_sleep: Duration::from_millis(1),
                max_sleep: Duration::from_millis(20),
                ..Default::default()
            },
            cache_dir: None,
        };
        let remote = session.open(REMOTE).await.expect("the remote opens");
        let ctx = Ctx {
            remote: Arc::new(remote),
            stats: Arc::new(Stats::new(false)),
            options: ops::Options {
                phantom_poll: Duration::from_millis(50),
                ..Default::default()
            },
        };
        Env {
            server,
            dir,
            config_path,
            first_access_token: token.access_token,
            ctx,
        }
    }

    /// The same remote with fresh counters.
    fn fresh_ctx(&self) -> Ctx {
        Ctx {
            stats: Arc::new(Stats::new(false)),
            ..self.ctx.clone()
        }
    }

    /// A new empty local folder in the scratch space.
    fn local(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    /// Adds fault rules (JSON, as `POST /_mock/faults` takes them); returns their ids.
    fn add_rules(&self, rules: Value) -> Vec<String> {
        let rules: Vec<Rule> = serde_json::from_value(rules).expect("valid rules");
        self.server.state().faults.add(rules).expect("rules added")
    }

    /// How often a rule fired.
    fn fired(&self, id: &str) -> u64 {
        self.server
            .state()
            .faults
            .rules()
            .iter()
            .find(|r| r.rule.id == id)
            .map(|r| r.fired.load(Ordering::SeqCst))
            .expect("the rule exists")
    }

    /// The journal entries of one operation.
    fn journal(&self, operation: Operation) -> Vec<Value> {
        self.server
            .state()
            .journal
            .entries(usize::MAX, Some(operation))
            .into_iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect()
    }

    /// The mock's typed admin client.
    fn admin(&self) -> Client {
        Client::new(self.server.url()).unwrap()
    }

    /// The folder at `path` on the remote, made if missing.
    async fn mkdir(&self, path: &RemotePath) -> String {
        self.ctx.remote.dirs.mkdir_all(path).await.unwrap()
    }

    /// The live files directly in a folder.
    async fn files_in(&self, folder: &str) -> Vec<Node> {
        let children = self.ctx.remote.drive.children(folder).await.unwrap();
        children.into_iter().filter(|n| n.is_file()).collect()
    }
}

fn rpath(path: &str) -> RemotePath {
    RemotePath {
        remote: REMOTE.into(),
        parts: path
            .split('/')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect(),
    }
}

/// Deterministic, varied bytes.
fn content(seed: u64, size: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..size)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect()
}

/// Writes a file at `root/rel` (raw bytes path), making its folders.
fn write(root: &Path, rel: &[u8], bytes: &[u8]) {
    let path = root.join(OsString::from_vec(rel.to_vec()));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
}

/// Every file under `root`: raw relative path -> content.
fn read_tree(root: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    fn walk(dir: &Path, prefix: &[u8], out: &mut BTreeMap<Vec<u8>, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let mut rel = prefix.to_vec();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(entry.file_name().as_bytes());
            if entry.file_type().unwrap().is_dir() {
                walk(&entry.path(), &rel, out);
            } else {
                out.insert(rel, std::fs::read(entry.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, b"", &mut out);
    out
}

fn assert_clean(report: &Report) {
    assert!(
        report.failures.is_empty(),
        "failures: {:?}",
        report.failures
    );
}

fn count(stat: &std::sync::atomic::AtomicU64) -> u64 {
    stat.load(Ordering::Relaxed)
}

/// The awkward names of test 1 (each unique ignoring case within one folder).
fn awkward_names() -> Vec<Vec<u8>> {
    let mut names: Vec<Vec<u8>> = [
        "with space.txt",
        "caf\u{e9} nfc.txt",
        "cafe\u{301} nfd.txt",
        "\u{c5}ngstr\u{f6}m \u{65e5}\u{672c}\u{8a9e} \u{1f600}.md",
        "&()[]{}'\"+~*?:\\",
        "  leading spaces",
        "trailing spaces  ",
        " both ",
        "..x",
        "...",
        "trailing dot.",
        "ctl\u{1}\u{1f}\u{7f}chars",
        "tab\there\nnewline\rcr",
        "\u{ff0f}fullwidth slash",
        "\u{201b}quote\u{201b}",
        "\u{201b}FF not a byte",
        "\u{ff0e}",
        "\u{ff0e}\u{ff0e}",
        "\u{2400}nul picture",
        "percent %41 hash #",
        "semi;colon<lt>gt|pipe`back`$dollar",
        "zero.bin",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    names.push(format!("{}.txt", "L".repeat(196)).into_bytes());
    names.push(b"bad\xffname".to_vec());
    names.push(b"mixed\xc3\x28bytes\xe2\x82".to_vec());
    names
}

// ---- 1. a tree of awkward names, up and down ------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awkward_tree_round_trips() {
    let env = Env::start(MockServer::builder().page_size(7), &[]).await;
    let local = env.local("up");
    let folders: [&[u8]; 5] = [
        b"",
        b"dir one",
        b"dir one/sub \xe2\x80\x9b\xef\xbc\x8f two",
        b"dir one/sub \xe2\x80\x9b\xef\xbc\x8f two/\xc3\xbcn\xc3\xaf three ",
        b"bad\xfedir",
    ];
    let mut files: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let special = awkward_names();
    // The awkward names in the root and in the deepest folder.
    for (folder, base) in [(folders[0], 0u64), (folders[3], 100)] {
        for (i, name) in special.iter().enumerate() {
            let size = match i % 5 {
                0 => 0,
                1 => 1,
                2 => 300 * KIB,
                3 => 17,
                _ => 3 * KIB + i,
            };
            let mut rel = folder.to_vec();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(name);
            files.push((rel, content(base + i as u64, size)));
        }
    }
    let mut i = 0;
    while files.len() < 300 {
        let folder = folders[i % folders.len()];
        let mut rel = folder.to_vec();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(format!("file {i:03} \u{fc}.bin").as_bytes());
        let size = if i % 23 == 0 {
            0
        } else {
            (i * 7919) % (24 * KIB) + 1
        };
        files.push((rel, content(1000 + i as u64, size)));
        i += 1;
    }
    for (rel, bytes) in &files {
        write(&local, rel, bytes);
    }
    let expected = read_tree(&local);
    assert_eq!(expected.len(), 300, "the local tree has 300 files");

    let dst = rpath("awkward");
    let report = upload_tree(&env.ctx, &local, &dst, Mode::Copy)
        .await
        .unwrap();
    assert_clean(&report);
    assert_eq!(count(&env.ctx.stats.files), 300);

    let id = env.ctx.remote.dirs.folder_id(&dst).await.unwrap().unwrap();
    let walked = ops::list::walk_remote(&env.ctx.remote, &id, 0, 4)
        .await
        .unwrap();
    let remote_files: Vec<_> = walked.iter().filter(|e| e.node.is_file()).collect();
    assert_eq!(
        remote_files.len(),
        300,
        "exactly one node per file: {:?}",
        remote_files.iter().map(|e| &e.path).collect::<Vec<_>>()
    );
    let folder_names: Vec<&str> = walked
        .iter()
        .filter(|e| e.node.is_folder())
        .map(|e| e.node.name())
        .collect();
    assert_eq!(
        folder_names.len(),
        4,
        "one node per folder: {folder_names:?}"
    );
    assert!(
        folder_names.contains(&"bad\u{201b}FEdir"),
        "a folder name that is not UTF-8 is escaped, not made lossy: {folder_names:?}"
    );
    // Names on the server are the rclone encoding of the local names.
    let remote_names: Vec<&str> = remote_files.iter().map(|e| e.node.name()).collect();
    for expected_name in [
        "bad\u{201b}FFname",
        "\u{201b}\u{ff0f}fullwidth slash",
        "\u{201b}\u{201b}quote\u{201b}\u{201b}",
        "caf\u{e9} nfc.txt",
        "cafe\u{301} nfd.txt",
    ] {
        assert!(
            remote_names.contains(&expected_name),
            "{expected_name:?} not among {remote_names:?}"
        );
    }

    // A second run finds everything in place.
    let again = env.fresh_ctx();
    let report = upload_tree(&again, &local, &dst, Mode::Copy).await.unwrap();
    assert_clean(&report);
    assert_eq!(count(&again.stats.files), 0, "nothing transferred again");
    assert_eq!(count(&again.stats.checks), 300);

    // And down again: same names, same bytes.
    let down = env.dir.path().join("down");
    let back = env.fresh_ctx();
    let report = download_tree(&back, &dst, &down, Mode::Copy).await.unwrap();
    assert_clean(&report);
    let got = read_tree(&down);
    let missing: Vec<String> = expected
        .keys()
        .filter(|k| !got.contains_key(*k))
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    let extra: Vec<String> = got
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    for (path, bytes) in &expected {
        assert!(
            &got[path] == bytes,
            "{}: content differs",
            String::from_utf8_lossy(path)
        );
    }
    assert_eq!(count(&back.stats.files), 300);
}

// ---- 2. phantom uploads -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phantom_upload_is_awaited_and_only_the_right_content_accepted() {
    // 32768 s per GiB: a 64 KiB file waits up to 2 s, a 16 KiB one 0.5 s.
    let env = Env::start(MockServer::builder(), &[("upload_wait_per_gb", "32768")]).await;

    // (a) 504 after the body, the node shows up on the third search.
    let ids = env.add_rules(json!([{
        "match": {"operation": "upload"},
        "action": {"kind": "phantom_upload", "status": 504, "after_lookups": 3},
        "trigger": {"first": 1}
    }]));
    let local = env.local("phantom-a");
    let bytes = content(1, 64 * KIB);
    write(&local, b"ghost.bin", &bytes);
    let dst = rpath("phantom");
    let report = upload_tree(&env.ctx, &local, &dst, Mode::Copy)
        .await
        .unwrap();
    assert_clean(&report);
    assert_eq!(env.fired(&ids[0]), 1, "the phantom rule fired");
    assert_eq!(
        env.journal(Operation::Upload).len(),
        1,
        "accepted the phantom instead of sending again"
    );
    assert!(
        env.ctx.remote.drive.pacer().retries() >= 1,
        "the wait shows in the retries"
    );
    let folder = env.mkdir(&dst).await;
    let files = env.files_in(&folder).await;
    assert_eq!(files.len(), 1, "exactly one node: {files:?}");
    assert_eq!(files[0].md5(), Some(md5_hex(&bytes).as_str()));

    // (b) the name shows up, but with other content of the same size: not accepted.
    let other = content(2, 16 * KIB);
    let mine = content(3, 16 * KIB);
    env.add_rules(json!([{
        "id": "other-writer",
        "match": {"operation": "upload"},
        "action": {"kind": "phantom_upload", "status": 500, "delay_ms": 100},
        "trigger": {"first": 1}
    }]));
    // Someone else's upload of the same name, itself a phantom that appears in 100 ms.
    let form = reqwest::multipart::Form::new()
        .text(
            "metadata",
            json!({"name": "twin.bin", "kind": "FILE", "parents": [folder]}).to_string(),
        )
        .part(
            "content",
            reqwest::multipart::Part::bytes(other.clone()).file_name("twin.bin"),
        );
    let response = reqwest::Client::new()
        .post(format!(
            "{}nodes?suppress=deduplication",
            env.server.content_url()
        ))
        .bearer_auth(env.server.mint_token(None).unwrap().access_token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    env.add_rules(json!([{
        "id": "lost",
        "match": {"operation": "upload"},
        "action": {"kind": "phantom_upload", "status": 504, "never": true},
        "trigger": {"first": 1}
    }]));
    let local = env.local("phantom-b");
    write(&local, b"twin.bin", &mine);
    let ctx = env.fresh_ctx();
    let report = upload_tree(&ctx, &local, &dst, Mode::Copy).await.unwrap();
    assert_clean(&report);
    assert_eq!(env.fired("lost"), 1);
    let twins: Vec<Node> = env
        .files_in(&folder)
        .await
        .into_iter()
        .filter(|n| n.name() == "twin.bin")
        .collect();
    assert_eq!(twins.len(), 1, "one node: {twins:?}");
    assert_eq!(
        twins[0].md5(),
        Some(md5_hex(&mine).as_str()),
        "the other writer's content was accepted as ours"
    );
    assert!(ctx.remote.drive.pacer().retries() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phantom_listed_as_pending_is_waited_for_past_the_window() {
    // The window of a 64 KiB file is 11 ms (two 50 ms polls); the phantom takes 1.5 s but is
    // listed as PENDING meanwhile (§8.6): the client waits for it instead of sending the file
    // again, which would leave two nodes of one name when the phantom lands.
    let env = Env::start(MockServer::builder(), &[]).await;
    let ids = env.add_rules(json!([{
        "match": {"operation": "upload"},
        "action": {"kind": "phantom_upload", "status": 504, "delay_ms": 1500},
        "trigger": {"first": 1}
    }]));
    let local = env.local("pending-phantom");
    let bytes = content(5, 64 * KIB);
    write(&local, b"slow.bin", &bytes);
    let dst = rpath("pending-phantom");
    let report = upload_tree(&env.ctx, &local, &dst, Mode::Copy)
        .await
        .unwrap();
    assert_clean(&report);
    assert_eq!(env.fired(&ids[0]), 1);
    assert_eq!(
        env.journal(Operation::Upload).len(),
        1,
        "sent again while the service listed the upload as PENDING"
    );
    let folder = env.mkdir(&dst).await;
    let files = env.files_in(&folder).await;
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].md5(), Some(md5_hex(&bytes).as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_file_phantom_is_awaited_for_at_least_one_poll() {
    // With the default 180 s per GiB, a 64 KiB file's window is 11 ms: one immediate look
    // would miss a node that appears 30 ms later, send the file again and leave two nodes.
    let env = Env::start(MockServer::builder(), &[]).await;
    let ids = env.add_rules(json!([{
        "match": {"operation": "upload"},
        "action": {"kind": "phantom_upload", "status": 408, "delay_ms": 30},
        "trigger": {"first": 1}
    }]));
    let local = env.local("small-phantom");
    let bytes = content(4, 64 * KIB);
    write(&local, b"small.bin", &bytes);
    let dst = rpath("small-phantom");
    let report = upload_tree(&env.ctx, &local, &dst, Mode::Copy)
        .await
        .unwrap();
    assert_clean(&report);
    assert_eq!(env.fired(&ids[0]), 1);
    assert_eq!(
        env.journal(Operation::Upload).len(),
        1,
        "sent again although the phantom was about to appear"
    );
    let folder = env.mkdir(&dst).await;
    let files = env.files_in(&folder).await;
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].md5(), Some(md5_hex(&bytes).as_str()));
}

// ---- 3. a 429 storm ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_survives_a_429_storm() {
    let env = Env::start(MockServer::builder(), &[]).await;
    let ids = env.add_rules(json!([
        {
            "match": {"operation": "upload"},
            "action": {"kind": "error", "error": "rate_exceeded"},
            "trigger": {"first": 8}
        },
        {
            "match": {"operation": ["lookup", "create_folder", "get_node"]},
            "action": {"kind": "error", "error": "rate_exceeded_bare"},
            "trigger": {"every": 2}
        }
    ]));
    let local = env.local("storm");
    let mut expected = 0;
    for i in 0..40u64 {
        let rel = format!("d{}/f{i}.bin", i % 4);
        write(&local, rel.as_bytes(), &content(i, 2 * KIB + i as usize));
        expected += 1;
    }
    let dst = rpath("storm");
    let report = upload_tree(&env.ctx, &local, &dst, Mode::Copy)
        .await
        .unwrap();
    assert_clean(&report);
    assert_eq!(env.fired(&ids[0]), 8);
    assert!(env.fired(&ids[1]) > 0);
    assert!(
        env.ctx.remote.drive.pacer().retries() > 0,
        "the pacer retried"
    );
    assert!(
        env.ctx.remote.drive.pacer().retries() >= 8,
        "uploads were re-sent"
    );
    let id = env.ctx.remote.dirs.folder_id(&dst).await.unwrap().unwrap();
    let walked = ops::list::walk_remote(&env.ctx.remote, &id, 0, 4)
        .await
        .unwrap();
    assert_eq!(walked.iter().filter(|e| e.node.is_file()).count(), expected);
    let check = ops::sync::check(&env.fresh_ctx(), &local, &dst)
        .await
        .unwrap();
    assert_eq!(check, (vec![], expected as u64));
}

// ---- 4. token expiry in the middle of a copy ---------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiring_mid_run_is_refreshed_and_saved() {
    let env = Env::start(MockServer::builder(), &[]).await;
    // Slow the uploads a little so the copy is surely still running when the token dies.
    env.add_rules(json!([{
        "match": {"operation": "upload"},
        "action": {"kind": "latency", "ms": 10}
    }]));
    let local = env.local("expiry");
    for i in 0..120u64 {
        write(
            &local,
            format!("f{i:03}.bin").as_bytes(),
            &content(i, KIB + i as usize),
        );
    }
    let dst = rpath("expiry");
    let ctx = env.ctx.clone();
    let src = local.clone();
    let copy = tokio::spawn(async move { upload_tree(&ctx, &src, &dst, Mode::Copy).await });
    let deadline = Instant::now() + Duration::from_secs(20);
    while env.journal(Operation::Upload).len() < 10 {
        assert!(Instant::now() < deadline, "the copy never got going");
        assert!(
            !copy.is_finished(),
            "the copy ended before the token expired"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    env.admin()
        .expire_token(&env.first_access_token)
        .await
        .unwrap();
    let report = copy.await.unwrap().unwrap();
    assert_clean(&report);
    assert_eq!(count(&env.ctx.stats.files), 120);
    assert!(env.ctx.remote.drive.auth().refresh_count() > 0, "refreshed");
    assert!(
        !env.journal(Operation::Token).is_empty(),
        "the token endpoint was called"
    );
    let rejected = env
        .server
        .state()
        .journal
        .entries(usize::MAX, None)
        .iter()
        .filter(|e| e.status == 401)
        .count();
    assert!(rejected > 0, "the expired token was refused at least once");
    let saved = ConfigFile::load(&env.config_path)
        .unwrap()
        .section(REMOTE)
        .unwrap()["token"]
        .clone();
    let saved: Value = serde_json::from_str(&saved).unwrap();
    assert_ne!(saved["access_token"], json!(env.first_access_token));
    assert!(
        saved["refresh_token"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    let folder = env.mkdir(&rpath("expiry")).await;
    assert_eq!(env.files_in(&folder).await.len(), 120);
}

// ---- 5. case collisions --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_collisions_are_refused_and_case_variants_overwrite() {
    let env = Env::start(MockServer::builder(), &[]).await;
    let local = env.local("case");
    write(&local, b"Readme.md", b"one");
    write(&local, b"README.md", b"two");
    write(&local, b"other.txt", b"other");
    write(&local, b"sub/inner.txt", b"inner");
    let dst = rpath("case");
    let report = upload_tree(&env.ctx, &local, &dst, Mode::Copy)
        .await
        .unwrap();
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    let (what, why) = &report.failures[0];
    assert!(
        what.contains("Readme.md") && what.contains("README.md"),
        "{what}"
    );
    assert!(why.contains("case"), "{why}");
    let id = env.mkdir(&dst).await;
    let walked = ops::list::walk_remote(&env.ctx.remote, &id, 0, 4)
        .await
        .unwrap();
    let mut paths: Vec<&str> = walked
        .iter()
        .filter(|e| e.node.is_file())
        .map(|e| e.path.as_str())
        .collect();
    paths.sort();
    assert_eq!(paths, ["other.txt", "sub/inner.txt"]);

    // The remote has Hello.txt; the local hello.txt (other content) overwrites it.
    let hello_dst = rpath("hello");
    let folder = env.mkdir(&hello_dst).await;
    let seeded = env
        .admin()
        .seed(&SeedRequest {
            parent: Some(folder.clone()),
            nodes: vec![SeedNode::text("Hello.txt", "old content")],
            ..SeedRequest::default()
        })
        .await
        .unwrap();
    let old_id = seeded[0].id.clone();
    let local = env.local("hello");
    write(&local, b"hello.txt", b"brand new content, longer");
    let ctx = env.fresh_ctx();
    let report = upload_tree(&ctx, &local, &hello_dst, Mode::Copy)
        .await
        .unwrap();
    assert_clean(&report);
    assert_eq!(count(&ctx.stats.files), 1);
    let files = env.files_in(&folder).await;
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].id, old_id, "the existing node was overwritten");
    assert_eq!(
        files[0].md5(),
        Some(md5_hex(b"brand new content, longer").as_str())
    );
    assert!(env.journal(Operation::Overwrite).len() == 1);
}

// ---- 6. a 409 that names the node ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflict_names_the_node_and_it_is_overwritten() {
    // Read-your-writes off: the second run must plan from the lagging listing alone.
    let env = Env::start(MockServer::builder(), &[("consistency_window", "0")]).await;
    let dst = rpath("lagged");
    let folder = env.mkdir(&dst).await;
    // From now on new nodes reach listings and searches only after 1.5 s.
    env.admin()
        .set_settings_json(&json!({"listing_lag_ms": {"min": 1500, "max": 1500}}))
        .await
        .unwrap();
    let local = env.local("lagged");
    write(&local, b"a.txt", b"version one");
    let report = upload_tree(&env.ctx, &local, &dst, Mode::Copy)
        .await
        .unwrap();
    assert_clean(&report);
    // The listing does not show a.txt yet, so the second run POSTs and gets 409.
    write(&local, b"a.txt", b"version two, different");
    let ctx = env.fresh_ctx();
    let report = upload_tree(&ctx, &local, &dst, Mode::Copy).await.unwrap();
    assert_clean(&report);
    let conflicts = env
        .journal(Operation::Upload)
        .iter()
        .filter(|e| e["status"] == 409)
        .count();
    assert_eq!(conflicts, 1, "the second upload collided");
    assert_eq!(env.journal(Operation::Overwrite).len(), 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    let files = loop {
        let files = env.files_in(&folder).await;
        if !files.is_empty() {
            break files;
        }
        assert!(Instant::now() < deadline, "a.txt never appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(
        files[0].md5(),
        Some(md5_hex(b"version two, different").as_str())
    );
}

// ---- 7. tempLink for a huge file ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_file_ranges_come_through_the_templink() {
    let env = Env::start(MockServer::builder(), &[]).await;
    // Direct downloads of such files are refused, as the service did (§8.7).
    env.admin()
        .set_settings_json(&json!({"download_block_bytes": 10u64 << 30}))
        .await
        .unwrap();
    let size: u64 = 12 << 30;
    let seed = 7u64;
    let seeded = env
        .admin()
        .seed(&SeedRequest::nodes(vec![SeedNode {
            md5: Some("0123456789abcdef0123456789abcdef".into()),
            ..SeedNode::synthetic("huge.bin", size, seed)
        }]))
        .await
        .unwrap();
    let id = seeded[0].id.as_str();
    let node = env.ctx.remote.drive.node(id, false).await.unwrap();
    assert_eq!(node.size(), size);
    let downloader = Downloader {
        drive: env.ctx.remote.drive.clone(),
        templink_threshold: env.ctx.remote.config.templink_threshold,
        stats: env.ctx.stats.clone(),
    };
    assert_eq!(downloader.templink_threshold, 9 << 30);
    const MIB: u64 = 1 << 20;
    for start in [0, size - MIB] {
        let response = downloader
            .open(&node, start, Some(start + MIB - 1))
            .await
            .unwrap();
        let got = response.bytes().await.unwrap();
        let mut want = vec![0u8; MIB as usize];
        acd_mock::store::blobs::synthetic_fill(seed, start, &mut want);
        assert_eq!(got.len(), want.len(), "range at {start}");
        assert!(got[..] == want[..], "bytes differ in the range at {start}");
    }
    assert_eq!(
        env.journal(Operation::Templink).len(),
        2,
        "via the tempLink"
    );
    assert!(
        env.journal(Operation::Download).is_empty(),
        "never directly"
    );
    let asked = env
        .journal(Operation::GetNode)
        .iter()
        .filter(|e| {
            e["query"]
                .as_str()
                .is_some_and(|q| q.contains("tempLink=true"))
        })
        .count();
    assert_eq!(asked, 2);
}

// ---- 8. bad input ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gives_clear_errors() {
    let env = Env::start(MockServer::builder(), &[]).await;
    let missing = env.dir.path().join("no such folder");
    let error = upload_tree(&env.ctx, &missing, &rpath("x"), Mode::Copy)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound, "{error}");
    let message = error.to_string();
    assert!(
        message.contains("no such folder") && message.contains("does not exist"),
        "{message}"
    );
    assert!(env.journal(Operation::Upload).is_empty());

    let error = download_tree(
        &env.ctx,
        &rpath("nowhere/deeper"),
        &env.dir.path().join("d"),
        Mode::Copy,
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound, "{error}");
    assert!(error.to_string().contains("nowhere"), "{error}");
    assert!(!env.dir.path().join("d").exists(), "nothing was created");

    // A file where a folder is expected.
    let file = env.local("afile").join("f.txt");
    std::fs::write(&file, b"x").unwrap();
    let error = upload_tree(&env.ctx, &file, &rpath("x"), Mode::Copy)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Usage, "{error}");

    for junk in ["", "acd:a/../b", "acd:./x"] {
        let error = paths::parse(junk).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Usage, "{junk:?}: {error}");
        assert!(!error.to_string().is_empty());
    }
    assert!(paths::parse_remote("just/a/local/path").is_err());
    assert!(paths::parse_remote(":nothing").is_err());
}

// ---- 9. a garbled answer to a successful upload ---------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbled_upload_answer_leaves_one_good_node() {
    // The mock cannot make the service store other bytes than it was sent (its corruption
    // faults act on response bodies), so the integrity check is exercised through a corrupted
    // answer: the upload was stored, its JSON answer is garbled, and the client must end with
    // exactly one node holding the right content rather than a duplicate or an error.
    let env = Env::start(MockServer::builder(), &[]).await;
    let ids = env.add_rules(json!([{
        "match": {"operation": "upload"},
        "action": {"kind": "corrupt_byte", "offset": 1},
        "trigger": {"first": 1}
    }]));
    let local = env.local("garbled");
    let bytes = content(9, 10 * KIB);
    write(&local, b"g.bin", &bytes);
    let dst = rpath("garbled");
    let report = upload_tree(&env.ctx, &local, &dst, Mode::Copy)
        .await
        .unwrap();
    assert_clean(&report);
    assert_eq!(env.fired(&ids[0]), 1);
    let folder = env.mkdir(&dst).await;
    let files = env.files_in(&folder).await;
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].md5(), Some(md5_hex(&bytes).as_str()));
}

// ---- empty remote folders come down too ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_remote_folders_are_made_locally() {
    let env = Env::start(MockServer::builder(), &[]).await;
    env.mkdir(&rpath("tree/empty/deeper")).await;
    let src = env.local("src");
    write(&src, b"a.txt", b"a");
    upload_tree(&env.ctx, &src, &rpath("tree"), Mode::Copy)
        .await
        .unwrap();
    let dst = env.dir.path().join("down");
    let report = download_tree(&env.fresh_ctx(), &rpath("tree"), &dst, Mode::Copy)
        .await
        .unwrap();
    assert_clean(&report);
    assert!(dst.join("empty/deeper").is_dir());
    assert_eq!(std::fs::read(dst.join("a.txt")).unwrap(), b"a");
}

// ---- account info and properties: the remaining typed calls --------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_info_and_properties_round_trip() {
    let env = Env::start(MockServer::builder(), &[]).await;
    let drive = &env.ctx.remote.drive;
    let info = drive.account_info().await.unwrap();
    assert_eq!(info["status"], "ACTIVE", "{info}");
    let folder = env.mkdir(&rpath("props")).await;
    drive
        .set_property(&folder, "acd", "colour", "blue")
        .await
        .unwrap();
    let props = drive.properties(&folder, "acd").await.unwrap();
    assert_eq!(props["data"]["colour"], "blue", "{props}");
    drive
        .delete_property(&folder, "acd", "colour")
        .await
        .unwrap();
    let props = drive.properties(&folder, "acd").await.unwrap();
    assert!(props["data"].get("colour").is_none(), "{props}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_listed_as_pending_is_used_not_duplicated() {
    // New folders are listed as PENDING for 1.5 s (§8.8). A second copy made at once, from
    // another process's view (no read-your-writes), finds the folder through the create's 409
    // and uploads nothing again.
    let env = Env::start(MockServer::builder(), &[("consistency_window", "0")]).await;
    env.admin()
        .set_settings_json(&json!({"pending_folder_ms": {"min": 1500, "max": 1500}}))
        .await
        .unwrap();
    let local = env.local("pending-folder");
    write(&local, b"sub/inner.txt", b"inside a pending folder");
    let dst = rpath("pending-folder");
    let report = upload_tree(&env.ctx, &local, &dst, Mode::Copy)
        .await
        .unwrap();
    assert_clean(&report);
    let ctx = env.fresh_ctx();
    let report = upload_tree(&ctx, &local, &dst, Mode::Copy).await.unwrap();
    assert_clean(&report);
    assert_eq!(
        env.journal(Operation::Upload).len(),
        1,
        "the file was sent again into a folder listed as PENDING"
    );
    let folders = env
        .journal(Operation::CreateFolder)
        .iter()
        .filter(|e| e["status"] == 201)
        .count();
    assert_eq!(folders, 2, "pending-folder and sub, once each");
}
