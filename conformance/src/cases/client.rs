//! acd-client against the target: how the client copes with the service's failure modes
//! (reference §8), injected through the mock's fault rules. These checks test acd-client, not
//! the target (the report counts them apart, and `--list` says so); they need the mock's admin
//! API, so a real account skips them.
//!
//! The checks live in submodules by what they test (`phantoms`, `retries`, `downloads`,
//! `cache`); this module holds the acd-client harness they share and registers them, in
//! order, under the area `client`.

mod cache;
mod downloads;
mod phantoms;
mod retries;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use acd_client::api::model::Node;
use acd_client::pacer::PacerConfig;
use acd_client::transfer::download::Downloader;
use acd_client::transfer::stats::Stats;
use acd_client::transfer::upload::{Source, Uploader};
use serde_json::{Value, json};

use crate::api::SCOPE_HEADER;
use crate::check::{Capability, Check, Failure};
use crate::context::Ctx;
use crate::{checks, ensure_eq};
use cache::cache_follows_the_changes_feed;
use downloads::{never_keeps_a_corrupt_download, resumes_cut_download};
use phantoms::{recovers_phantom_upload, waits_for_late_phantom};
use retries::{
    backs_off_on_429, refreshes_expired_token, restarts_listing_after_lost_page, retries_5xx,
};

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
