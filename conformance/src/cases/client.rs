//! acd-client against the target: how the client copes with the service's failure modes
//! (reference §8), injected through the mock's fault rules. These checks test acd-client, not
//! the target (the report counts them apart, and `--list` says so); they need the mock's admin
//! API, so a real account skips them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use acd_client::api::model::Node;
use acd_client::ops::sync::{Mode, upload_tree};
use acd_client::pacer::PacerConfig;
use acd_client::paths::RemotePath;
use acd_client::transfer::download::Downloader;
use acd_client::transfer::stats::Stats;
use acd_client::transfer::upload::{Source, Uploader};
use serde_json::{Value, json};

use crate::api::{SCOPE_HEADER, id, md5_hex};
use crate::check::{Capability, Check, Failure};
use crate::context::Ctx;
use crate::{checks, ensure, ensure_eq};

const FI: Capability = Capability::FaultInjection;

// ---- raw helpers ------------------------------------------------------------------------------
/// Upload `len` seeded bytes as `name` into a fresh folder; the folder, node and bytes.
async fn uploaded(ctx: &Ctx, name: &str, len: usize) -> Result<(String, Value, Vec<u8>), Failure> {
    ctx.budget(len as u64)?;
    let folder = ctx.folder().await?;
    let bytes = ctx.data(len);
    let node = ctx.api().file(&folder, name, &bytes).await?;
    Ok((folder, node, bytes))
}

/// The check's download rule on `GET nodes/{id}/content`, once.
async fn download_rule(ctx: &Ctx, action: Value) -> Result<String, Failure> {
    ctx.fault(json!({
        "match": {"operation": "download"},
        "action": action,
        "trigger": {"first": 1}
    }))
    .await
}

fn failed(what: &str) -> impl Fn(acd_client::Error) -> Failure + '_ {
    move |e| Failure::new(format!("acd-client: {what} succeeds"), e.to_string())
}

// ---- acd-client against the target ------------------------------------------------------------

/// The remote's section name in the scratch config.
const REMOTE: &str = "conformance";

/// A scratch directory removed when dropped.
#[derive(Debug)]
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// acd-client opened on the target with a token of its own, sending the check's scope.
#[derive(Debug)]
struct Client {
    scratch: Scratch,
    ctx: acd_client::ops::Ctx,
    access_token: String,
}

impl Client {
    /// Write a config for the target in a scratch directory and open it, with a token of its
    /// own minted for the default account; no metadata cache.
    async fn open(ctx: &Ctx) -> Result<Self, Failure> {
        Self::open_in(ctx, false).await
    }

    /// As [`Client::open`], with a metadata cache in the scratch directory.
    async fn open_cached(ctx: &Ctx) -> Result<Self, Failure> {
        Self::open_in(ctx, true).await
    }

    async fn open_in(ctx: &Ctx, cached: bool) -> Result<Self, Failure> {
        let setup = |what: &str, e: String| Failure::new(format!("set up acd-client: {what}"), e);
        let oauth = ctx
            .target
            .oauth
            .clone()
            .ok_or_else(|| Failure::skip("the target has no known token endpoint"))?;
        // A token of its own: expiring it or refreshing it must not touch the run's token.
        let minted = ctx.admin()?.mint().await?;
        let access_token = minted["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let refresh = minted["refresh_token"]
            .as_str()
            .map_or(oauth.refresh_token.clone(), str::to_string);
        let token = json!({
            "access_token": access_token,
            "token_type": "bearer",
            "refresh_token": refresh,
            "expiry": (chrono::Utc::now() + chrono::TimeDelta::hours(1))
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
        .to_string();
        let n: u64 = rand::random();
        let dir = std::env::temp_dir().join(format!("acd-conformance-{}-{n:016x}", ctx.scope()));
        std::fs::create_dir_all(&dir).map_err(|e| setup("a scratch directory", e.to_string()))?;
        let scratch = Scratch(dir);
        let config_path = scratch.0.join("acd.conf");
        let mut file = acd_client::config::ConfigFile::load(&config_path)
            .map_err(|e| setup("the config", e.to_string()))?;
        for (key, value) in [
            ("type", acd_client::config::BACKEND_TYPE),
            ("client_id", &oauth.client_id),
            ("client_secret", &oauth.client_secret),
            ("token_url", &oauth.token_url),
            ("endpoint_url", &ctx.target.endpoint_url),
            ("token", &token),
        ] {
            file.set(REMOTE, key, value);
        }
        file.save()
            .map_err(|e| setup("the config", e.to_string()))?;
        // Installs the ring provider rustls needs before any client is built.
        acd_client::http::build_client(&Default::default())
            .map_err(|e| setup("HTTP", e.to_string()))?;
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            SCOPE_HEADER,
            reqwest::header::HeaderValue::from_str(&ctx.scope())
                .map_err(|e| setup("the scope header", e.to_string()))?,
        );
        let http = reqwest::Client::builder()
            .user_agent(acd_client::http::USER_AGENT)
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| setup("HTTP", e.without_url().to_string()))?;
        let session = acd_client::remote::Session {
            config_path,
            overrides: Default::default(),
            http,
            pacer: PacerConfig {
                min_sleep: Duration::from_millis(1),
                max_sleep: Duration::from_secs(2),
                ..Default::default()
            },
            cache_dir: cached.then(|| scratch.0.join("cache")),
        };
        let remote = session
            .open(REMOTE)
            .await
            .map_err(failed("opening the remote"))?;
        let ctx = acd_client::ops::Ctx {
            remote: Arc::new(remote),
            stats: Arc::new(Stats::new(false)),
            options: acd_client::ops::Options {
                phantom_poll: Duration::from_millis(50),
                ..Default::default()
            },
        };
        Ok(Self {
            scratch,
            ctx,
            access_token,
        })
    }

    /// A local file in the scratch directory.
    fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, Failure> {
        let path = self.scratch.0.join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::new("a local scratch folder", e.to_string()))?;
        }
        std::fs::write(&path, bytes)
            .map_err(|e| Failure::new("a local scratch file", e.to_string()))?;
        Ok(path)
    }

    /// An uploader whose phantom wait for `len` bytes is about `window`.
    fn uploader(&self, len: usize, window: Duration) -> Uploader {
        let per_gb = window.as_secs_f64() * f64::from(1u32 << 30) / (len.max(1) as f64);
        Uploader {
            drive: self.ctx.remote.drive.clone(),
            slots: Arc::new(tokio::sync::Semaphore::new(2)),
            wait_per_gb: Duration::from_secs_f64(per_gb),
            poll: Duration::from_millis(50),
            stats: self.ctx.stats.clone(),
        }
    }

    /// Upload local `path` as `name` into `parent`.
    async fn upload(
        &self,
        parent: &str,
        name: &str,
        path: &Path,
        window: Duration,
    ) -> Result<Node, Failure> {
        let size = std::fs::metadata(path)
            .map_err(|e| Failure::new("a local scratch file", e.to_string()))?
            .len();
        let len = usize::try_from(size).unwrap_or(usize::MAX);
        self.uploader(len, window)
            .upload(parent, name, Source { path, size }, None)
            .await
            .map_err(failed(&format!("uploading {name}")))
    }

    fn downloader(&self, templink_threshold: u64) -> Downloader {
        Downloader {
            drive: self.ctx.remote.drive.clone(),
            templink_threshold,
            stats: self.ctx.stats.clone(),
        }
    }
}

/// The live files called `name` in `folder`, as the raw API lists them.
async fn named(ctx: &Ctx, folder: &str, name: &str) -> Result<Vec<Value>, Failure> {
    Ok(ctx
        .api()
        .children(folder)
        .await?
        .into_iter()
        .filter(|n| n["name"] == name)
        .collect())
}

/// Fail unless `folder` holds exactly one live `name`, with this md5; that node.
/// (Waits for the listing to show it, §8.8.)
async fn exactly_one(ctx: &Ctx, folder: &str, name: &str, md5: &str) -> Result<Value, Failure> {
    ctx.settled(|| async {
        let found = named(ctx, folder, name).await?;
        ensure_eq!(found.len(), 1, format!("number of nodes called {name}"));
        ensure_eq!(
            found[0]["contentProperties"]["md5"].as_str(),
            Some(md5),
            format!("md5 of {name}")
        );
        Ok(found[0].clone())
    })
    .await
}

// ---- the checks -------------------------------------------------------------------------------

/// Recovers phantom upload (§8.6).
async fn recovers_phantom_upload(ctx: Ctx) -> Result<(), Failure> {
    let folder = ctx.folder().await?;
    ctx.budget(64 * 1024)?;
    let client = Client::open(&ctx).await?;
    let bytes = ctx.data(64 * 1024);
    let path = client.write("ghost.bin", &bytes)?;
    let rule = ctx
        .fault(json!({
            "match": {"operation": "upload"},
            "action": {"kind": "phantom_upload", "status": 504, "after_lookups": 2},
            "trigger": {"first": 1}
        }))
        .await?;
    let node = client
        .upload(&folder, "ghost.bin", &path, Duration::from_secs(10))
        .await?;
    ensure_eq!(
        ctx.fired_at_least(&rule, 1).await?,
        1,
        "phantom faults fired"
    );
    let one = exactly_one(&ctx, &folder, "ghost.bin", &md5_hex(&bytes)).await?;
    ensure_eq!(node.id, id(&one), "the node the client returned");
    ensure!(
        client.ctx.remote.drive.pacer().retries() >= 1,
        "the phantom wait counted as a retry",
        "no retry"
    );
    Ok(())
}

/// Waits for late phantom (§8.6, §8.8).
async fn waits_for_late_phantom(ctx: Ctx) -> Result<(), Failure> {
    // A 408 after the whole body; the node reaches listings 400 ms later.
    let folder = ctx.folder().await?;
    ctx.budget(32 * 1024)?;
    let client = Client::open(&ctx).await?;
    let bytes = ctx.data(32 * 1024);
    let path = client.write("late.bin", &bytes)?;
    let rule = ctx
        .fault(json!({
            "match": {"operation": "upload"},
            "action": {"kind": "phantom_upload", "status": 408, "delay_ms": 400},
            "trigger": {"first": 1}
        }))
        .await?;
    let started = Instant::now();
    let node = client
        .upload(&folder, "late.bin", &path, Duration::from_secs(10))
        .await?;
    ctx.fired_at_least(&rule, 1).await?;
    ensure!(
        started.elapsed() >= Duration::from_millis(400),
        "the client waited for the node to appear",
        "it returned after {:?}",
        started.elapsed()
    );
    let one = exactly_one(&ctx, &folder, "late.bin", &md5_hex(&bytes)).await?;
    ensure_eq!(node.id, id(&one), "the node the client returned");
    Ok(())
}

/// Backs off on 429 (§8.1, §8.2).
async fn backs_off_on_429(ctx: Ctx) -> Result<(), Failure> {
    let folder = ctx.folder().await?;
    ctx.budget(8192)?;
    let client = Client::open(&ctx).await?;
    let bytes = ctx.data(8192);
    let path = client.write("throttled.bin", &bytes)?;
    // Three 429s asking for 2 s each. The client's own back-off draws here are
    // below 1 s, 2 s and 2 s (its max_sleep), so only honouring Retry-After spaces
    // every attempt 2 s apart.
    let rule = ctx
        .fault(json!({
            "match": {"operation": "upload"},
            "action": {"kind": "error", "error": "rate_exceeded", "retry_after": 2},
            "trigger": {"first": 3}
        }))
        .await?;
    // The journal's position now: earlier runs against the same mock used the
    // same scope.
    let before = ctx
        .admin()?
        .call(reqwest::Method::GET, "journal?limit=1", None)
        .await?["entries"][0]["seq"]
        .as_u64()
        .unwrap_or(0);
    let node = client
        .upload(&folder, "throttled.bin", &path, Duration::from_secs(1))
        .await?;
    ensure_eq!(ctx.fired_at_least(&rule, 3).await?, 3, "429s answered");
    ensure_eq!(
        node.md5(),
        Some(md5_hex(&bytes).as_str()),
        "md5 of the upload"
    );
    // The mock's journal: when each attempt arrived and what it got (no timing
    // of our own, so a slow machine cannot make this pass or fail).
    let journal = ctx
        .admin()?
        .call(
            reqwest::Method::GET,
            "journal?operation=upload&limit=10000",
            None,
        )
        .await?;
    // (status, arrival, whether our rule answered it), oldest first.
    type Attempt = (u16, chrono::DateTime<chrono::FixedOffset>, bool);
    let attempts: Vec<Attempt> = journal["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|e| e["seq"].as_u64().is_some_and(|seq| seq > before))
        .filter(|e| e["scope"].as_str() == Some(ctx.scope().as_str()))
        .filter_map(|e| {
            let status = u16::try_from(e["status"].as_u64()?).ok()?;
            let time = chrono::DateTime::parse_from_rfc3339(e["time"].as_str()?).ok()?;
            Some((status, time, e["fault"].as_str() == Some(rule.as_str())))
        })
        .collect();
    // Every attempt but the last was refused (ours, and any 429 of a rate limit
    // the target enforces), the last succeeded: the client retried each refusal.
    let statuses: Vec<u16> = attempts.iter().map(|(s, _, _)| *s).collect();
    ensure!(
        statuses.last() == Some(&201)
            && statuses[..statuses.len() - 1].iter().all(|s| *s == 429)
            && attempts.iter().filter(|(_, _, ours)| *ours).count() == 3,
        "the mock saw our three 429s (and only 429s) retried, then a 201",
        "{statuses:?}"
    );
    for pair in attempts.windows(2).filter(|p| p[0].2) {
        let gap = pair[1].1 - pair[0].1;
        ensure!(
            gap >= chrono::TimeDelta::seconds(2),
            "each retry at least Retry-After (2 s) after the 429",
            "a retry {} ms after it",
            gap.num_milliseconds()
        );
    }
    exactly_one(&ctx, &folder, "throttled.bin", &md5_hex(&bytes)).await?;
    Ok(())
}

/// Retries 5xx (§8.2).
async fn retries_5xx(ctx: Ctx) -> Result<(), Failure> {
    let (folder, node, _) = uploaded(&ctx, "five.bin", 1024).await?;
    // Listed first (§8.8), so the client's listing below must show it.
    crate::cases::folders::wait_listed(&ctx, &ctx.api(), &folder, &id(&node), true).await?;
    let client = Client::open(&ctx).await?;
    let on_list = ctx
        .fault(json!({
            "match": {"operation": "list"},
            "action": {"kind": "error", "error": "internal_failure"},
            "trigger": {"first": 2}
        }))
        .await?;
    let drive = &client.ctx.remote.drive;
    let children = drive.children(&folder).await.map_err(failed("a listing"))?;
    ensure_eq!(
        ctx.fired_at_least(&on_list, 2).await?,
        2,
        "500s on the listing"
    );
    ensure_eq!(
        children.iter().map(|n| n.id.clone()).collect::<Vec<_>>(),
        vec![id(&node)],
        "the listing after two 500s"
    );
    let on_get = ctx
        .fault(json!({
            "match": {"operation": "get_node"},
            "action": {"kind": "error", "error": "service_unavailable"},
            "trigger": {"first": 1}
        }))
        .await?;
    let on_get2 = ctx
        .fault(json!({
            "match": {"operation": "get_node"},
            "action": {"kind": "error", "error": "gateway_timeout"},
            "trigger": {"first": 1}
        }))
        .await?;
    let got = drive
        .node(&id(&node), false)
        .await
        .map_err(failed("GET node"))?;
    ctx.fired_at_least(&on_get, 1).await?;
    ctx.fired_at_least(&on_get2, 1).await?;
    ensure_eq!(got.id, id(&node), "the node after a 503 and a 504");
    Ok(())
}

/// Restarts listing after lost page (§8.3).
async fn restarts_listing_after_lost_page(ctx: Ctx) -> Result<(), Failure> {
    // More than one default page (200), so the listing has a second page.
    let folder = ctx.folder().await?;
    let files: Vec<Value> = (0..230)
        .map(|i| json!({"name": format!("f{i:03}.txt"), "content": format!("{i}")}))
        .collect();
    ctx.admin()?.seed(&folder, Value::Array(files)).await?;
    let client = Client::open(&ctx).await?;
    // The first listing request passes (a no-op latency rule takes it); the next
    // one, page 2, is the lost page.
    let pass = ctx
        .fault(json!({
            "match": {"operation": "list"},
            "action": {"kind": "latency", "ms": 0},
            "trigger": {"first": 1}
        }))
        .await?;
    let lost = ctx
        .fault(json!({
            "match": {"operation": "list"},
            "action": {"kind": "lost_page"},
            "trigger": {"first": 1}
        }))
        .await?;
    let children = client
        .ctx
        .remote
        .drive
        .children(&folder)
        .await
        .map_err(failed("a listing with a lost page"))?;
    ctx.fired_at_least(&pass, 1).await?;
    ctx.fired_at_least(&lost, 1).await?;
    let mut names: Vec<String> = children.iter().map(|n| n.name().to_string()).collect();
    names.sort();
    names.dedup();
    ensure_eq!(names.len(), 230, "distinct files the client listed");
    ensure_eq!(children.len(), 230, "files the client listed");
    Ok(())
}

/// Refreshes expired token (§8.4, §1.4).
async fn refreshes_expired_token(ctx: Ctx) -> Result<(), Failure> {
    let folder = ctx.folder().await?;
    ctx.budget(4 * 2048)?;
    let client = Client::open(&ctx).await?;
    let local = client.scratch.0.join("tree");
    let mut want = Vec::new();
    for i in 0..4usize {
        let bytes = ctx.data(2048 + i);
        client.write(&format!("tree/t{i}.bin"), &bytes)?;
        want.push((format!("t{i}.bin"), md5_hex(&bytes)));
    }
    // The session is running (endpoints discovered); now its token dies.
    client
        .ctx
        .remote
        .drive
        .children(&folder)
        .await
        .map_err(failed("a listing"))?;
    ctx.admin()?.expire(&client.access_token).await?;
    let dst = RemotePath {
        remote: REMOTE.into(),
        parts: vec![
            ctx.target.run_folder_name.clone(),
            ctx.scope(),
            "tree".into(),
        ],
    };
    let report = upload_tree(&client.ctx, &local, &dst, Mode::Copy)
        .await
        .map_err(failed("copying a tree after the token expired"))?;
    ensure!(
        report.failures.is_empty(),
        "a clean copy",
        "{:?}",
        report.failures
    );
    ensure!(
        client.ctx.remote.drive.auth().refresh_count() >= 1,
        "the client refreshed its token",
        "no refresh"
    );
    let tree = ctx
        .settled(|| async {
            let tree = named(&ctx, &folder, "tree").await?;
            ensure_eq!(tree.len(), 1, "folders called tree");
            Ok(tree)
        })
        .await?;
    for (name, md5) in want {
        exactly_one(&ctx, &id(&tree[0]), &name, &md5).await?;
    }
    Ok(())
}

/// Resumes cut download (§8.2, §6.7).
async fn resumes_cut_download(ctx: Ctx) -> Result<(), Failure> {
    let (_, node, bytes) = uploaded(&ctx, "resume.bin", 96 * 1024).await?;
    let client = Client::open(&ctx).await?;
    let rule = download_rule(&ctx, json!({"kind": "cut_body", "after_bytes": 40000})).await?;
    let got = client
        .ctx
        .remote
        .drive
        .node(&id(&node), false)
        .await
        .map_err(failed("GET node"))?;
    let dest = client.scratch.0.join("resume.bin");
    client
        .downloader(u64::MAX)
        .download(&got, &dest)
        .await
        .map_err(failed("a download cut once"))?;
    ctx.fired_at_least(&rule, 1).await?;
    let local =
        std::fs::read(&dest).map_err(|e| Failure::new("the downloaded file", e.to_string()))?;
    ensure_eq!(
        md5_hex(&local),
        md5_hex(&bytes),
        "md5 of the resumed download"
    );
    Ok(())
}

/// Cache follows the changes feed (§6.13).
async fn cache_follows_the_changes_feed(ctx: Ctx) -> Result<(), Failure> {
    // The client's metadata cache, synced once, then changes made by another
    // client (the raw API): an incremental sync shows each, by id and by name.
    let folder = ctx.folder().await?;
    let client = Client::open_cached(&ctx).await?;
    let drive = client.ctx.remote.drive.clone();
    let cache =
        client.ctx.remote.cache.clone().ok_or_else(|| {
            Failure::new("acd-client opened with a cache dir has a cache", "none")
        })?;
    acd_client::cache::sync::sync(&drive, &cache, false)
        .await
        .map_err(failed("the first sync"))?;
    let before = cache
        .checkpoint()
        .map_err(failed("reading the checkpoint"))?;
    let made = ctx.api().folder(&folder, "made").await?;
    let bytes = ctx.data(2048);
    let file = ctx.api().file(&folder, "new.bin", &bytes).await?;
    let gone = ctx.api().file(&folder, "gone.bin", &ctx.data(64)).await?;
    ctx.api()
        .trash(&id(&gone))
        .await
        .ok_json("trash gone.bin")?;
    let stats = acd_client::cache::sync::sync(&drive, &cache, false)
        .await
        .map_err(failed("the incremental sync"))?;
    ensure!(
        stats.nodes >= 3,
        "the sync applied the changes",
        "{stats:?}"
    );
    let after = cache
        .checkpoint()
        .map_err(failed("reading the checkpoint"))?;
    ensure!(after != before, "the checkpoint moved", "{after:?}");
    let cached = |id: String| {
        cache
            .node(&id)
            .map_err(failed("reading the cache"))?
            .ok_or_else(|| Failure::new(format!("node {id} in the cache"), "missing"))
    };
    let new = cached(id(&file))?;
    ensure!(new.is_available(), "new.bin is AVAILABLE", "{}", new.status);
    ensure_eq!(new.md5(), Some(md5_hex(&bytes).as_str()), "md5 of new.bin");
    ensure!(
        cached(id(&made))?.is_folder(),
        "the new folder is a folder",
        "it is not"
    );
    let trashed = cached(id(&gone))?;
    ensure_eq!(trashed.status.as_str(), "TRASH", "status of gone.bin");
    let by_name = cache
        .child_named(&folder, "new.bin")
        .map_err(failed("a lookup in the cache"))?;
    ensure_eq!(
        by_name.map(|n| n.id),
        Some(id(&file)),
        "new.bin found by name"
    );
    Ok(())
}

/// Never keeps a corrupt download (§8.2, §6.7).
async fn never_keeps_a_corrupt_download(ctx: Ctx) -> Result<(), Failure> {
    let (_, node, _) = uploaded(&ctx, "bad.bin", 16 * 1024).await?;
    let client = Client::open(&ctx).await?;
    let rule = ctx
        .fault(json!({
            "match": {"operation": "download"},
            "action": {"kind": "corrupt_byte", "offset": 5000}
        }))
        .await?;
    let got = client
        .ctx
        .remote
        .drive
        .node(&id(&node), false)
        .await
        .map_err(failed("GET node"))?;
    let dest = client.scratch.0.join("bad.bin");
    let result = client.downloader(u64::MAX).download(&got, &dest).await;
    ctx.fired_at_least(&rule, 1).await?;
    ensure!(
        result.is_err(),
        "the download fails (every copy is corrupt)",
        "it succeeded"
    );
    ensure!(
        !dest.exists(),
        "no file left behind",
        "{} exists",
        dest.display()
    );
    let partial = acd_client::transfer::download::partial_path(&dest);
    ensure!(
        !partial.exists(),
        "no partial file left behind",
        "{} exists",
        partial.display()
    );
    Ok(())
}

/// The checks of this area, in order.
pub(crate) fn checks() -> Vec<Check> {
    checks![
        recovers_phantom_upload("§8.6", [FI, Capability::TokenEndpoint]),
        waits_for_late_phantom("§8.6, §8.8", [FI, Capability::TokenEndpoint]),
        backs_off_on_429("§8.1, §8.2", [FI, Capability::TokenEndpoint]),
        retries_5xx("§8.2", [FI, Capability::TokenEndpoint]),
        restarts_listing_after_lost_page("§8.3", [FI, Capability::Seed, Capability::TokenEndpoint]),
        refreshes_expired_token("§8.4, §1.4", [FI, Capability::TokenEndpoint]),
        resumes_cut_download("§8.2, §6.7", [FI, Capability::TokenEndpoint]),
        cache_follows_the_changes_feed("§6.13", [FI, Capability::TokenEndpoint]),
        never_keeps_a_corrupt_download("§8.2, §6.7", [FI, Capability::TokenEndpoint]),
    ]
}
