//! The metadata cache and read-your-writes against an in-process `acd-mock`: listings forced
//! to lag 2 s (and the `realistic` profile) while copies up are followed at once by listings,
//! checks and copies down, in the same process and in a "second process" (a remote opened
//! anew on the same cache directory); incremental syncs after moves, renames, trash, restore,
//! purge and reset; a cut changes stream; two syncs at once; distrusted and unusable caches.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use acd_client::api::model::Node;
use acd_client::cache::sync::sync;
use acd_client::config::ConfigFile;
use acd_client::ops::list::walk_remote;
use acd_client::ops::sync::{Mode, check, download_tree, upload_tree};
use acd_client::ops::{self, Ctx};
use acd_client::pacer::PacerConfig;
use acd_client::paths::RemotePath;
use acd_client::remote::{Remote, Session};
use acd_client::transfer::stats::Stats;
use acd_mock::admin_client::{SeedNode, SeedRequest};
use acd_mock::faults::FaultPlan;
use acd_mock::faults::rule::Rule;
use acd_mock::faults::settings::{LagRange, Settings};
use acd_mock::{MockServer, MockServerBuilder};
use serde_json::{Value, json};

const REMOTE: &str = "acd";
const LAG_MS: u64 = 2_000;

struct Env {
    server: MockServer,
    dir: tempfile::TempDir,
    config_path: PathBuf,
}

fn lagging() -> MockServerBuilder {
    MockServer::builder().faults(FaultPlan {
        settings: Settings {
            listing_lag_ms: Some(LagRange {
                min: LAG_MS,
                max: LAG_MS,
            }),
            ..Settings::default()
        },
        ..FaultPlan::default()
    })
}

impl Env {
    async fn start(builder: MockServerBuilder) -> Env {
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
        ] {
            file.set(REMOTE, key, value);
        }
        file.save().unwrap();
        Env {
            server,
            dir,
            config_path,
        }
    }

    fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// A session as one `acd` process would have it (`cache_dir`: `None` for no disk cache).
    fn session(&self, cache_dir: Option<PathBuf>, options: &[(&str, &str)]) -> Session {
        Session {
            config_path: self.config_path.clone(),
            overrides: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            http: acd_client::http::build_client(&Default::default()).unwrap(),
            pacer: PacerConfig {
                min_sleep: Duration::from_millis(1),
                max_sleep: Duration::from_millis(200),
                ..Default::default()
            },
            cache_dir,
        }
    }

    /// A remote opened as a new process would open it, on the shared cache directory.
    async fn process(&self, options: &[(&str, &str)]) -> Remote {
        self.session(Some(self.cache_dir()), options)
            .open(REMOTE)
            .await
            .expect("the remote opens")
    }

    fn local(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    fn add_rules(&self, rules: Value) -> Vec<String> {
        let rules: Vec<Rule> = serde_json::from_value(rules).expect("valid rules");
        self.server.state().faults.add(rules).expect("rules added")
    }

    /// The mock's typed admin client.
    fn admin(&self) -> acd_mock::admin::Client {
        acd_mock::admin::Client::new(self.server.url()).unwrap()
    }
}

fn ctx(remote: Remote) -> Ctx {
    Ctx {
        remote: Arc::new(remote),
        stats: Arc::new(Stats::new(false)),
        options: ops::Options {
            phantom_poll: Duration::from_millis(50),
            ..Default::default()
        },
    }
}

fn rpath(path: &str) -> RemotePath {
    acd_client::paths::parse_remote(&format!("{REMOTE}:{path}")).unwrap()
}

/// A local tree of `n` files in nested folders; returns the relative paths.
fn make_tree(root: &Path, n: usize) -> BTreeSet<String> {
    (0..n)
        .map(|i| {
            let rel = format!("d{}/sub{}/f{i}.txt", i % 3, i % 2);
            let path = root.join(&rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, format!("file {i}").repeat(i + 1)).unwrap();
            rel
        })
        .collect()
}

fn local_files(root: &Path) -> BTreeSet<String> {
    acd_client::ops::list::walk_local(root)
        .unwrap()
        .into_iter()
        .filter(|e| !e.is_dir)
        .map(|e| e.display())
        .collect()
}

/// Every file under `path` as the remote's walk shows it, with its MD5.
async fn remote_files(remote: &Remote, path: &str) -> BTreeSet<String> {
    let id = remote
        .dirs
        .folder_id(&rpath(path))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{path} not found"));
    walk_remote(remote, &id, 0, 8)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.node.is_file())
        .map(|e| {
            assert!(e.node.md5().is_some(), "{}: no md5", e.path);
            e.path
        })
        .collect()
}

/// Copy down, check and list right after the upload: every file, no difference.
async fn sees_everything(ctx: &Ctx, env: &Env, top: &str, expected: &BTreeSet<String>, down: &str) {
    assert_eq!(
        &remote_files(&ctx.remote, top).await,
        expected,
        "md5sum-style walk"
    );
    let (diffs, matched) = check(ctx, &env.dir.path().join("src"), &rpath(top))
        .await
        .unwrap();
    assert!(diffs.is_empty(), "check: {diffs:?}");
    assert_eq!(matched as usize, expected.len());
    let down = env.local(down);
    let report = download_tree(ctx, &rpath(top), &down, Mode::Copy)
        .await
        .unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(&local_files(&down), expected, "copy down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_seen_at_once_under_a_listing_lag_here_and_in_a_second_process() {
    let env = Env::start(lagging()).await;
    let src = env.local("src");
    let expected = make_tree(&src, 24);
    let first = ctx(env.process(&[]).await);
    let report = upload_tree(&first, &src, &rpath("top/dir"), Mode::Copy)
        .await
        .unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);

    // The same process, at once: the just-created folder resolves and every file shows.
    sees_everything(&first, &env, "top/dir", &expected, "down1").await;

    // A second process (fresh memory) reads the journal from the cache file.
    let second = ctx(env.process(&[]).await);
    sees_everything(&second, &env, "top/dir", &expected, "down2").await;

    // Without the journal (no cache dir) the lag hides files: the test does test something.
    let blind = ctx(env.session(None, &[]).open(REMOTE).await.unwrap());
    let seen = match blind
        .remote
        .dirs
        .folder_id(&rpath("top/dir"))
        .await
        .unwrap()
    {
        Some(id) => walk_remote(&blind.remote, &id, 0, 8).await.unwrap().len(),
        None => 0,
    };
    assert!(
        seen < expected.len(),
        "the lag did not hide anything ({seen})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_and_trash_by_this_client_leave_lagging_listings_at_once() {
    let env = Env::start(lagging()).await;
    let src = env.local("src");
    make_tree(&src, 6);
    let first = ctx(env.process(&[]).await);
    upload_tree(&first, &src, &rpath("t"), Mode::Copy)
        .await
        .unwrap();
    let before = remote_files(&first.remote, "t").await;
    assert_eq!(before.len(), 6);
    acd_client::ops::manage::move_to(
        &first.remote,
        &rpath("t/d0/sub0/f0.txt"),
        &rpath("t/moved.txt"),
    )
    .await
    .unwrap();
    let gone = acd_client::ops::manage::require(&first.remote, &rpath("t/d1/sub1/f1.txt"))
        .await
        .unwrap();
    first.remote.drive.trash(&gone.id).await.unwrap();
    let second = env.process(&[]).await;
    let after = remote_files(&second, "t").await;
    let mut expected = before.clone();
    expected.remove("d0/sub0/f0.txt");
    expected.remove("d1/sub1/f1.txt");
    expected.insert("moved.txt".into());
    assert_eq!(after, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_up_then_down_under_the_realistic_profile() {
    let plan = acd_mock::faults::profiles::load("realistic").unwrap();
    let env = Env::start(MockServer::builder().faults(plan).seed(11)).await;
    let src = env.local("src");
    let expected = make_tree(&src, 20);
    // The pacing `acd` itself uses: the profile throttles at 10 calls/s.
    let open = |options: &'static [(&'static str, &'static str)]| {
        let mut session = env.session(Some(env.cache_dir()), options);
        session.pacer = PacerConfig::default();
        async move { ctx(session.open(REMOTE).await.unwrap()) }
    };
    let first = open(&[]).await;
    let report = upload_tree(&first, &src, &rpath("real"), Mode::Copy)
        .await
        .unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    sees_everything(&first, &env, "real", &expected, "down1").await;
    let second = open(&[]).await;
    sees_everything(&second, &env, "real", &expected, "down2").await;
    let fast = open(&[("fast_list", "true")]).await;
    assert!(fast.remote.lister.is_local(), "fast list from the cache");
    sees_everything(&fast, &env, "real", &expected, "down3").await;
}

// ---- the cache and the changes feed -------------------------------------------------------

/// The account's live tree as the API has it (no lag in these tests): id -> (name, parents).
async fn truth(remote: &Remote) -> BTreeSet<(String, String, Vec<String>)> {
    let root = remote.drive.root().await.unwrap().id.clone();
    let mut out = BTreeSet::new();
    let mut pending = vec![root];
    while let Some(folder) = pending.pop() {
        for n in remote.drive.children(&folder).await.unwrap() {
            if n.is_folder() {
                pending.push(n.id.clone());
            }
            out.insert((n.id.clone(), n.name().to_string(), vec![folder.clone()]));
        }
    }
    out
}

/// The same tree as the cache holds it.
fn cached(remote: &Remote) -> BTreeSet<(String, String, Vec<String>)> {
    let cache = remote.cache.as_ref().expect("a cache");
    let mut out = BTreeSet::new();
    let root = cache
        .ids()
        .unwrap()
        .into_iter()
        .filter_map(|id| cache.node(&id).unwrap())
        .find(|n: &Node| n.is_root.unwrap_or(false))
        .expect("the root is cached");
    let mut pending = vec![root.id];
    while let Some(folder) = pending.pop() {
        for n in cache.children(&folder).unwrap() {
            if n.is_folder() {
                pending.push(n.id.clone());
            }
            out.insert((n.id.clone(), n.name().to_string(), vec![folder.clone()]));
        }
    }
    out
}

async fn seed(env: &Env, files: usize) -> Value {
    let nodes: Vec<SeedNode> = (0..files)
        .map(|i| SeedNode::text(format!("f{i:05}.txt"), format!("{i}")))
        .collect();
    let created = env
        .admin()
        .seed(&SeedRequest::nodes(vec![
            SeedNode::folder("A", nodes),
            SeedNode::folder("B", vec![SeedNode::text("b.txt", "b")]),
        ]))
        .await
        .unwrap();
    json!({ "created": created })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_syncs_follow_moves_renames_trash_restore_purge_and_reset() {
    let env = Env::start(MockServer::builder()).await;
    seed(&env, 10).await;
    let remote = env.process(&[]).await;
    let cache = remote.cache.clone().expect("a cache");
    sync(&remote.drive, &cache, false).await.unwrap();
    assert_eq!(cached(&remote), truth(&remote).await);
    let checkpoint = cache.checkpoint().unwrap();
    assert!(checkpoint.is_some());

    // Changes by another client (not in this journal).
    let other = env.session(None, &[]).open(REMOTE).await.unwrap();
    let f1 = acd_client::ops::manage::require(&other, &rpath("A/f00001.txt"))
        .await
        .unwrap();
    let f2 = acd_client::ops::manage::require(&other, &rpath("A/f00002.txt"))
        .await
        .unwrap();
    let f3 = acd_client::ops::manage::require(&other, &rpath("A/f00003.txt"))
        .await
        .unwrap();
    let b = acd_client::ops::manage::require(&other, &rpath("B"))
        .await
        .unwrap();
    acd_client::ops::manage::move_to(&other, &rpath("A/f00000.txt"), &rpath("B/moved.txt"))
        .await
        .unwrap();
    other.drive.rename(&f1.id, "renamed.txt").await.unwrap();
    other.drive.trash(&f2.id).await.unwrap();
    other.drive.trash(&f3.id).await.unwrap();
    other.drive.restore(&f3.id).await.unwrap();
    other.drive.trash(&b.id).await.unwrap();
    let stats = sync(&remote.drive, &cache, false).await.unwrap();
    assert!(
        stats.nodes >= 6 && stats.nodes < 20,
        "incremental: {stats:?}"
    );
    assert_ne!(cache.checkpoint().unwrap(), checkpoint);
    assert_eq!(cached(&remote), truth(&remote).await);
    assert_eq!(cache.node(&f2.id).unwrap().unwrap().status, "TRASH");

    // Purge: trashed nodes leave the cache entirely.
    let purged = env.admin().purge(&Default::default()).await.unwrap();
    assert!(
        purged.contains(&f2.id) && purged.contains(&b.id),
        "{purged:?}"
    );
    sync(&remote.drive, &cache, false).await.unwrap();
    let ids = cache.ids().unwrap();
    for id in &purged {
        assert!(!ids.contains(id), "{id} still cached");
    }
    assert_eq!(cached(&remote), truth(&remote).await);

    // Reset: the feed starts over with reset: true and the cache is rebuilt from it.
    env.admin().reset_account("user@example.com").await.unwrap();
    sync(&remote.drive, &cache, false).await.unwrap();
    let ids = cache.ids().unwrap();
    assert_eq!(ids.len(), 1, "only the new root is left: {ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_changes_stream_resumes_from_the_last_change_set() {
    let env = Env::start(MockServer::builder()).await;
    seed(&env, 1_000).await;
    env.add_rules(json!([{
        "match": {"operation": "changes"},
        "action": {"kind": "cut_body", "after_bytes": 250_000},
        "trigger": {"first": 1}
    }]));
    // One attempt only: the cut fails the sync, and what was applied stays.
    let mut session = env.session(Some(env.cache_dir()), &[]);
    session.pacer.attempts = 1;
    let remote = session.open(REMOTE).await.unwrap();
    let cache = remote.cache.clone().unwrap();
    let err = sync(&remote.drive, &cache, false).await.unwrap_err();
    assert!(
        err.is_temporary() || err.to_string().contains("changes"),
        "{err}"
    );
    let partial = cache.ids().unwrap().len();
    let kept = cache.checkpoint().unwrap();
    assert!(
        kept.is_some(),
        "the last whole change set's checkpoint is kept"
    );
    assert!(
        partial > 0 && partial < 1_000,
        "{partial} nodes after the cut"
    );

    // The next sync resumes from it: every node once, none lost.
    let stats = sync(&remote.drive, &cache, false).await.unwrap();
    let all = cache.ids().unwrap();
    assert_eq!(
        all.len(),
        1_000 + 4,
        "1,000 files, b.txt, A, B and the root"
    );
    assert!(
        (stats.nodes as usize) < all.len(),
        "resumed, not restarted: {stats:?}"
    );
    assert_eq!(cached(&remote), truth(&remote).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_syncs_of_one_cache_at_once_agree() {
    let env = Env::start(MockServer::builder()).await;
    seed(&env, 600).await;
    let a = env.process(&[]).await;
    let b = env.process(&[]).await;
    let (ca, cb) = (a.cache.clone().unwrap(), b.cache.clone().unwrap());
    let (ra, rb) = tokio::join!(sync(&a.drive, &ca, false), sync(&b.drive, &cb, false));
    ra.unwrap();
    rb.unwrap();
    assert_eq!(ca.ids().unwrap().len(), 604);
    assert_eq!(cached(&a), truth(&a).await);
    assert_eq!(ca.checkpoint().unwrap(), cb.checkpoint().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_cache_is_rebuilt_and_an_unusable_dir_means_no_cache() {
    let env = Env::start(lagging()).await;
    seed(&env, 3).await;
    let root = env
        .process(&[])
        .await
        .drive
        .root()
        .await
        .unwrap()
        .id
        .clone();
    let file =
        acd_client::cache::file_for(&acd_client::cache::metadata_dir(&env.cache_dir()), &root);
    std::fs::write(&file, vec![0x42; 10_000]).unwrap();
    let _ = std::fs::remove_file(format!("{}-wal", file.display()));
    let _ = std::fs::remove_file(format!("{}-shm", file.display()));
    let remote = env.process(&[("fast_list", "true")]).await;
    assert!(remote.lister.is_local());
    assert_eq!(remote.cache.as_ref().unwrap().info().unwrap().nodes, 7);

    // A cache dir that cannot be made: no cache, and own writes still count in this process.
    let blocker = env.dir.path().join("blocker");
    std::fs::write(&blocker, b"a file").unwrap();
    let remote = env
        .session(Some(blocker.join("cache")), &[("fast_list", "true")])
        .open(REMOTE)
        .await
        .unwrap();
    assert!(remote.cache.is_none());
    assert!(!remote.lister.is_local(), "fast list falls back to the API");
    let c = ctx(remote);
    let src = env.local("src");
    let expected = make_tree(&src, 5);
    upload_tree(&c, &src, &rpath("nocache"), Mode::Copy)
        .await
        .unwrap();
    assert_eq!(remote_files(&c.remote, "nocache").await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_file_that_cannot_be_fetched_is_reported_not_skipped() {
    let env = Env::start(lagging()).await;
    let src = env.local("src");
    let expected = make_tree(&src, 6);
    let first = ctx(env.process(&[]).await);
    let report = upload_tree(&first, &src, &rpath("h"), Mode::Copy)
        .await
        .unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    // Still inside the lag: this file is known only from the journal. Its download fails.
    let node = acd_client::ops::manage::require(&first.remote, &rpath("h/d2/sub0/f2.txt"))
        .await
        .unwrap();
    env.add_rules(json!([{
        "match": {"operation": "download", "path": node.id},
        "action": {"kind": "status", "status": 403, "message": "refused for this test"}
    }]));
    let second = ctx(env.process(&[]).await);
    let down = env.local("down");
    let report = download_tree(&second, &rpath("h"), &down, Mode::Copy)
        .await
        .unwrap();
    let failed: Vec<&str> = report.failures.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(failed, ["d2/sub0/f2.txt"], "{:?}", report.failures);
    let mut rest = expected.clone();
    rest.remove("d2/sub0/f2.txt");
    assert_eq!(local_files(&down), rest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_and_removed_parents_show_at_once_under_a_listing_lag() {
    let env = Env::start(lagging()).await;
    let src = env.local("src");
    make_tree(&src, 4);
    let first = ctx(env.process(&[]).await);
    upload_tree(&first, &src, &rpath("t"), Mode::Copy)
        .await
        .unwrap();
    let drive = first.remote.drive.clone();
    let file = acd_client::ops::manage::require(&first.remote, &rpath("t/d0/sub0/f0.txt"))
        .await
        .unwrap();
    let from = acd_client::ops::manage::require(&first.remote, &rpath("t/d0/sub0"))
        .await
        .unwrap();
    let other = acd_client::ops::manage::require(&first.remote, &rpath("t/d1"))
        .await
        .unwrap();
    // Let the uploads' own listing lag pass, so only the parent changes are lagged below.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let blind = env.session(None, &[]).open(REMOTE).await.unwrap();
    loop {
        let listed = match blind.dirs.folder_id(&rpath("t")).await.unwrap() {
            Some(id) => walk_remote(&blind, &id, 0, 8).await.unwrap().len(),
            None => 0,
        };
        // 4 files and their 5 folders (d0, d0/sub0, d1, d1/sub1, and d0/sub1 or d1/sub0).
        if listed >= 9 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the uploads never listed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    drive.add_parent(&file.id, &other.id).await.unwrap();
    let second = env.process(&[]).await;
    let after_add = remote_files(&second, "t").await;
    assert!(
        after_add.contains("d1/f0.txt") && after_add.contains("d0/sub0/f0.txt"),
        "both parents at once: {after_add:?}"
    );
    // (acd-mock does not lag an added parent, so here the journal is not what shows it;
    // a removed one is lagged, below.)

    drive.remove_parent(&file.id, &from.id).await.unwrap();
    let third = env.process(&[]).await;
    let after_remove = remote_files(&third, "t").await;
    assert!(
        after_remove.contains("d1/f0.txt") && !after_remove.contains("d0/sub0/f0.txt"),
        "only the remaining parent at once: {after_remove:?}"
    );
    // acd-mock's lagged listings carry each node's current parents, so the listing alone is
    // right here too; what the journal adds (for a service whose index lags the parents too)
    // is the node as each call left it, in both folders' recent writes.
    use acd_client::api::WriteLog as _;
    let recorded = |folder: &str| {
        first
            .remote
            .journal
            .recent_in(folder)
            .into_iter()
            .find(|n| n.id == file.id)
    };
    let in_other = recorded(&other.id).expect("the added parent's folder has the node");
    assert_eq!(in_other.parents, vec![other.id.clone()], "{in_other:?}");
    let in_from = recorded(&from.id).expect("the removed parent's folder has the node");
    assert!(!in_from.parents.contains(&from.id), "{in_from:?}");
}
