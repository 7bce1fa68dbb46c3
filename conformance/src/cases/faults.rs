//! The service's failure modes, injected through the mock's fault rules (reference §7, §8), and
//! how acd-client copes with them. Every check here is mock-only.

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
use reqwest::Method;
use serde_json::{Value, json};

use crate::api::{Reply, SCOPE_HEADER, id, md5_hex, short};
use crate::check::{Capability, Check, Failure};
use crate::context::Ctx;
use crate::{check, ensure, ensure_eq};

const FI: Capability = Capability::FaultInjection;

// ---- raw helpers ------------------------------------------------------------------------------

/// Add a rule answering the check's next `GET nodes/{folder}` with `preset` (once), send that
/// request, check the rule fired and that the request after it succeeds; the faulty reply.
async fn preset_on_get_node(
    ctx: &Ctx,
    preset: &str,
    retry_after: Option<u64>,
) -> Result<Reply, Failure> {
    let folder = ctx.folder().await?;
    let mut action = json!({"kind": "error", "error": preset});
    if let Some(s) = retry_after {
        action["retry_after"] = json!(s);
    }
    let rule = ctx
        .fault(json!({
            "match": {"operation": "get_node"},
            "action": action,
            "trigger": {"first": 1}
        }))
        .await?;
    let api = ctx.api();
    let reply = api.node(&folder).await;
    ctx.fired_at_least(&rule, 1).await?;
    ctx.record(preset, &reply.json());
    api.node(&folder)
        .await
        .expect(200, "the same GET once the fault has passed")?;
    Ok(reply)
}

/// Fail unless the body is exactly the JSON object `want`, apart from a string `logref`.
fn body_is(reply: &Reply, want: &Value, logref: bool) -> Result<(), Failure> {
    let mut got = reply.json();
    if logref {
        ensure!(
            got["logref"].is_string(),
            "a string logref",
            "{}",
            short(&reply.text())
        );
        if let Some(o) = got.as_object_mut() {
            o.remove("logref");
        }
    }
    ensure!(
        &got == want,
        format!("body {want}"),
        "{}",
        short(&reply.text())
    );
    Ok(())
}

fn retry_after_is(reply: &Reply, want: u64) -> Result<(), Failure> {
    ensure_eq!(
        reply.header("retry-after"),
        Some(want.to_string()),
        "Retry-After"
    );
    Ok(())
}

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

// ---- settings (global, not scoped) ------------------------------------------------------------

/// Read-modify-write one field of the mock's global settings; returns the previous value.
async fn set_setting(ctx: &Ctx, field: &str, value: Value) -> Result<Value, Failure> {
    let admin = ctx.admin()?;
    let mut settings = admin.call(Method::GET, "faults/settings", None).await?;
    let before = settings.get(field).cloned().unwrap_or(Value::Null);
    let Some(map) = settings.as_object_mut() else {
        return Err(Failure::new(
            "the settings as a JSON object",
            settings.to_string(),
        ));
    };
    if value.is_null() {
        map.remove(field);
    } else {
        map.insert(field.to_string(), value);
    }
    admin
        .call(Method::PUT, "faults/settings", Some(settings))
        .await?;
    Ok(before)
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

/// `secs` after the Unix epoch as RFC 3339 (UTC).
fn rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Client {
    /// Write a config for the target in a scratch directory and open it.
    /// `minted`: a token of another account (from `/_mock/tokens`); none: one is minted for
    /// the default account.
    async fn open(ctx: &Ctx, minted: Option<Value>) -> Result<Self, Failure> {
        let setup = |what: &str, e: String| Failure::new(format!("set up acd-client: {what}"), e);
        let oauth = ctx
            .target
            .oauth
            .clone()
            .ok_or_else(|| Failure::skip("the target has no known token endpoint"))?;
        // A token of its own: expiring it or refreshing it must not touch the run's token.
        let minted = match minted {
            Some(m) => m,
            None => ctx.admin()?.mint().await?,
        };
        let access_token = minted["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let refresh = minted["refresh_token"]
            .as_str()
            .map_or(oauth.refresh_token.clone(), str::to_string);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let token = json!({
            "access_token": access_token,
            "token_type": "bearer",
            "refresh_token": refresh,
            "expiry": rfc3339(now + 3600),
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
            cache_dir: None,
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
async fn exactly_one(ctx: &Ctx, folder: &str, name: &str, md5: &str) -> Result<Value, Failure> {
    let found = named(ctx, folder, name).await?;
    ensure_eq!(found.len(), 1, format!("number of nodes called {name}"));
    ensure_eq!(
        found[0]["contentProperties"]["md5"].as_str(),
        Some(md5),
        format!("md5 of {name}")
    );
    Ok(found[0].clone())
}

/// The bytes of a seeded synthetic file.
fn synthetic(seed: u64, start: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    acd_mock::store::blobs::synthetic_fill(seed, start, &mut out);
    out
}

// ---- the download block (global setting) --------------------------------------------------------

/// A size for the blocked file: the block size in force, or 10 GiB set for the check.
const BLOCK: u64 = 10 << 30;

async fn download_block(ctx: &Ctx) -> Result<(), Failure> {
    let admin = ctx.admin()?;
    let settings = admin.call(Method::GET, "faults/settings", None).await?;
    let configured = settings["download_block_bytes"].as_u64();
    if configured.is_none() {
        set_setting(ctx, "download_block_bytes", json!(BLOCK)).await?;
    }
    let outcome = blocked_download(ctx, configured.unwrap_or(BLOCK)).await;
    if configured.is_none() {
        set_setting(ctx, "download_block_bytes", Value::Null).await?;
    }
    outcome
}

async fn blocked_download(ctx: &Ctx, threshold: u64) -> Result<(), Failure> {
    // A synthetic file this big would use up the run account's quota (trashed files count), so
    // it lives in an account of its own, emptied at the end.
    let admin = ctx.admin()?;
    let n: u64 = rand::random();
    let email = format!("{}-{n:016x}@conformance.invalid", ctx.scope());
    admin
        .call(
            Method::POST,
            "accounts",
            Some(json!({"email": email, "quota": 4 * threshold + (1 << 30)})),
        )
        .await?;
    let outcome = blocked_download_in(ctx, threshold, &email).await;
    admin
        .call(Method::POST, "reset", Some(json!({"account": email})))
        .await?;
    outcome
}

async fn blocked_download_in(ctx: &Ctx, threshold: u64, email: &str) -> Result<(), Failure> {
    let admin = ctx.admin()?;
    let minted = admin
        .call(Method::POST, "tokens", Some(json!({"account": email})))
        .await?;
    let token = minted["access_token"]
        .as_str()
        .ok_or_else(|| Failure::new("a minted access token", minted.to_string()))?
        .to_string();
    let size = threshold + 4096;
    let seed = 17u64;
    let seeded = admin
        .call(
            Method::POST,
            "seed",
            Some(
                json!({"account": email, "nodes": [{"name": "huge.bin", "size": size,
                "seed": seed, "md5": "0123456789abcdef0123456789abcdef"}]}),
            ),
        )
        .await?;
    let node = seeded["created"][0]["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| Failure::new("the seed API's created id", seeded.to_string()))?;
    let api = crate::api::Api {
        token: token.clone(),
        ..ctx.api()
    };
    let direct = api.download(&node, None).await;
    ensure!(
        matches!(direct.status, 302 | 307),
        "GET content of a file above the block: 302 or 307",
        "HTTP {}: {}",
        direct.status,
        short(&direct.text())
    );
    let location = direct
        .header("location")
        .ok_or_else(|| Failure::new("a Location header", "none"))?;
    let target = url::Url::parse(&location)
        .map_err(|e| Failure::new("an absolute Location", format!("{location}: {e}")))?;
    ensure!(
        target.query_pairs().any(|(k, _)| k == "X-Amz-Algorithm"),
        "a presigned URL with X-Amz-Algorithm",
        "{location}"
    );
    // Resending the bearer token: S3's 400 InvalidArgument in XML.
    let authed = api.send(api.request(Method::GET, target.clone())).await;
    ctx.record(
        "presigned_with_authorization",
        &Value::String(authed.text()),
    );
    authed.expect(400, "the presigned URL with Authorization")?;
    let text = authed.text();
    ensure!(
        text.contains("<Error>") && text.contains("<Code>InvalidArgument</Code>"),
        "an XML <Error> with <Code>InvalidArgument</Code>",
        "{}",
        short(&text)
    );
    ensure!(
        text.contains("Only one auth mechanism allowed"),
        "the message \"Only one auth mechanism allowed\"",
        "{}",
        short(&text)
    );
    // Without it: the bytes, with Range.
    for start in [0, size - 1024] {
        let range = format!("bytes={start}-{}", start + 1023);
        let plain = api
            .send(
                api.http
                    .get(target.clone())
                    .header(reqwest::header::RANGE, &range),
            )
            .await;
        plain.expect(
            206,
            &format!("the presigned URL without Authorization, {range}"),
        )?;
        ensure!(
            plain.body[..] == synthetic(seed, start, 1024)[..],
            format!("the file's bytes {range}"),
            "{} other bytes",
            plain.body.len()
        );
    }
    // acd-client downloading directly follows the redirect without Authorization.
    let client = Client::open(ctx, Some(minted)).await?;
    let got = client
        .ctx
        .remote
        .drive
        .node(&node, false)
        .await
        .map_err(failed("GET node"))?;
    let response = client
        .downloader(u64::MAX)
        .open(&got, 4096, Some(8191))
        .await
        .map_err(failed("a ranged download through the redirect"))?;
    let body = response
        .bytes()
        .await
        .map_err(|e| Failure::new("the redirected body", e.without_url().to_string()))?;
    ensure!(
        body[..] == synthetic(seed, 4096, 4096)[..],
        "acd-client reads bytes 4096-8191 through the redirect",
        "{} other bytes",
        body.len()
    );
    Ok(())
}

// ---- the checks -------------------------------------------------------------------------------

/// The checks of this area.
pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "faults",
            "rate_exceeded_with_logref",
            "§7.1, §8.1",
            [FI],
            |ctx: Ctx| async move {
                let reply = preset_on_get_node(&ctx, "rate_exceeded", Some(3)).await?;
                reply.expect(429, "the injected rate limit")?;
                body_is(
                    &reply,
                    &json!({"message": "Rate exceeded", "code": ""}),
                    true,
                )?;
                retry_after_is(&reply, 3)
            }
        ),
        check!(
            "faults",
            "rate_exceeded_bare",
            "§7.1, §8.1",
            [FI],
            |ctx: Ctx| async move {
                let reply = preset_on_get_node(&ctx, "rate_exceeded_bare", Some(1)).await?;
                reply.expect(429, "the gateway's rate limit")?;
                body_is(&reply, &json!({"message": "Rate exceeded"}), false)?;
                retry_after_is(&reply, 1)
            }
        ),
        check!(
            "faults",
            "concurrent_access",
            "§7.1",
            [FI],
            |ctx: Ctx| async move {
                let reply = preset_on_get_node(&ctx, "concurrent_access", None).await?;
                reply.expect(429, "the per-node limit")?;
                body_is(
                    &reply,
                    &json!({"message": "Concurrent Access on same node. Please back off.", "code": ""}),
                    true,
                )
            }
        ),
        check!(
            "faults",
            "internal_failure_500",
            "§7.1",
            [FI],
            |ctx: Ctx| async move {
                let reply = preset_on_get_node(&ctx, "internal_failure", None).await?;
                reply.expect(500, "the injected 500")?;
                body_is(&reply, &json!({"message": "Internal failure"}), false)
            }
        ),
        check!(
            "faults",
            "bad_gateway_502",
            "§8.2",
            [FI],
            |ctx: Ctx| async move {
                let reply = preset_on_get_node(&ctx, "bad_gateway", None).await?;
                reply.expect(502, "the injected 502")?;
                Ok(())
            }
        ),
        check!(
            "faults",
            "service_unavailable_503_html",
            "§3, §7.1",
            [FI],
            |ctx: Ctx| async move {
                let reply = preset_on_get_node(&ctx, "service_unavailable", None).await?;
                reply.expect(503, "the injected 503")?;
                ensure_eq!(
                    reply.text(),
                    "<html><body><b>Http/1.1 Service Unavailable</b></body> </html>".to_string(),
                    "503 body"
                );
                ensure!(
                    reply
                        .header("content-type")
                        .is_some_and(|t| t.starts_with("text/html")),
                    "Content-Type text/html",
                    "{:?}",
                    reply.header("content-type")
                );
                Ok(())
            }
        ),
        check!(
            "faults",
            "proxy_fleet_unavailable_503",
            "§12.9",
            [FI],
            |ctx: Ctx| async move {
                let reply = preset_on_get_node(&ctx, "proxy_fleet_unavailable", None).await?;
                reply.expect(503, "the injected OPF 503")?;
                body_is(
                    &reply,
                    &json!({"logref": "", "message": "OPF (Online Proxy Fleet) unavailable",
                            "code": "ONLINE_PROXY_FLEET_FAILURE"}),
                    false,
                )
            }
        ),
        check!(
            "faults",
            "gateway_timeout_504_no_body",
            "§7.1",
            [FI],
            |ctx: Ctx| async move {
                let reply = preset_on_get_node(&ctx, "gateway_timeout", None).await?;
                reply.expect(504, "the injected 504")?;
                ensure!(
                    reply.body.is_empty(),
                    "504 with no body",
                    "{}",
                    short(&reply.text())
                );
                Ok(())
            }
        ),
        check!(
            "faults",
            "request_timeout_408",
            "§7.1, §8.6",
            [FI],
            |ctx: Ctx| async move {
                let reply = preset_on_get_node(&ctx, "request_timeout", None).await?;
                reply.expect(408, "the injected 408")?;
                Ok(())
            }
        ),
        check!(
            "faults",
            "authorization_header_403",
            "§7.1, §8.2, §12.9",
            [FI],
            |ctx: Ctx| async move {
                let reply = preset_on_get_node(&ctx, "authorization_header", None).await?;
                reply.expect(403, "the gateway's sporadic 403")?;
                let message = reply.json()["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                ensure!(
                    message.contains("Authorization header requires")
                        && message.ends_with("Authorization=Bearer"),
                    "a message with \"Authorization header requires\" (rclone retries on it)",
                    "{}",
                    short(&reply.text())
                );
                Ok(())
            }
        ),
        check!(
            "faults",
            "token_expired_401",
            "§7.1, §8.4",
            [FI],
            |ctx: Ctx| async move {
                let reply = preset_on_get_node(&ctx, "token_expired", None).await?;
                reply.expect(401, "the injected 401")?;
                body_is(&reply, &json!({"message": "Token has expired"}), false)
            }
        ),
        check!(
            "faults",
            "next_token_expired",
            "§7.1, §8.3",
            [FI],
            |ctx: Ctx| async move {
                let folder = ctx.folder().await?;
                let api = ctx.api();
                for name in ["a", "b", "c"] {
                    api.folder(&folder, name).await?;
                }
                let filter = format!("parents:{folder}");
                let first = api
                    .get("nodes", &[("filters", &filter), ("limit", "2")])
                    .await
                    .ok_json("the first page")?;
                let token = first["nextToken"].as_str().unwrap_or_default().to_string();
                ensure!(!token.is_empty(), "a nextToken after 2 of 3", "{first}");
                let rule = ctx
                    .fault(json!({
                        "match": {"operation": "list"},
                        "action": {"kind": "error", "error": "next_token_expired"},
                        "trigger": {"first": 1}
                    }))
                    .await?;
                let q = [
                    ("filters", filter.as_str()),
                    ("limit", "2"),
                    ("startToken", &token),
                ];
                let reply = api.get("nodes", &q).await;
                ctx.fired_at_least(&rule, 1).await?;
                ctx.record("next_token_expired", &reply.json());
                reply.expect(400, "the page with an expired token")?;
                body_is(&reply, &json!({"message": "Next token is expired"}), true)
            }
        ),
        check!(
            "faults",
            "lost_page_skips_the_page",
            "§8.3",
            [FI],
            |ctx: Ctx| async move {
                let folder = ctx.folder().await?;
                let api = ctx.api();
                for name in ["n1", "n2", "n3", "n4", "n5"] {
                    api.folder(&folder, name).await?;
                }
                let filter = format!("parents:{folder}");
                let page = |token: Option<String>| {
                    let api = api.clone();
                    let filter = filter.clone();
                    async move {
                        let mut q = vec![("filters", filter.clone()), ("limit", "2".to_string())];
                        if let Some(t) = token {
                            q.push(("startToken", t));
                        }
                        let q: Vec<(&str, &str)> =
                            q.iter().map(|(k, v)| (*k, v.as_str())).collect();
                        api.get("nodes", &q).await
                    }
                };
                let ids = |v: &Value| -> Vec<String> {
                    v["data"]
                        .as_array()
                        .map_or(Vec::new(), |d| d.iter().map(id).collect())
                };
                let first = page(None).await.ok_json("page 1")?;
                let token = first["nextToken"].as_str().map(str::to_string);
                ensure!(token.is_some(), "a nextToken after page 1", "{first}");
                let second = page(token.clone()).await.ok_json("page 2")?;
                let third = page(second["nextToken"].as_str().map(str::to_string))
                    .await
                    .ok_json("page 3")?;
                let rule = ctx
                    .fault(json!({
                        "match": {"operation": "list"},
                        "action": {"kind": "lost_page"},
                        "trigger": {"first": 1}
                    }))
                    .await?;
                let refused = page(token.clone()).await;
                ctx.fired_at_least(&rule, 1).await?;
                refused.expect(429, "page 2 answered by the lost-page fault")?;
                let retried = page(token)
                    .await
                    .ok_json("page 2 retried with the same token")?;
                ctx.record("lost_page_retry", &retried);
                ensure_eq!(
                    ids(&retried),
                    ids(&third),
                    "the retried page 2 (the page after it)"
                );
                ensure!(
                    ids(&second).iter().all(|i| !ids(&retried).contains(i)),
                    "page 2's nodes are lost",
                    "{:?} in {:?}",
                    ids(&second),
                    ids(&retried)
                );
                Ok(())
            }
        ),
        check!(
            "faults",
            "reset_closes_the_connection",
            "§8.2",
            [FI],
            |ctx: Ctx| async move {
                let folder = ctx.folder().await?;
                let rule = ctx
                    .fault(json!({
                        "match": {"operation": "get_node"},
                        "action": {"kind": "reset"},
                        "trigger": {"first": 1}
                    }))
                    .await?;
                let api = ctx.api();
                let reply = api.node(&folder).await;
                ctx.fired_at_least(&rule, 1).await?;
                ensure_eq!(reply.status, 0, "status of a reset connection (no answer)");
                api.node(&folder)
                    .await
                    .expect(200, "the request after the reset")?;
                Ok(())
            }
        ),
        check!(
            "faults",
            "cut_body_ends_short",
            "§8.2, §6.7",
            [FI],
            |ctx: Ctx| async move {
                let (_, node, bytes) = uploaded(&ctx, "cut.bin", 64 * 1024).await?;
                let rule =
                    download_rule(&ctx, json!({"kind": "cut_body", "after_bytes": 1000})).await?;
                let api = ctx.api();
                let url = api.content_url(&format!("nodes/{}/content", id(&node)));
                let mut response = api.request(Method::GET, url).send().await.map_err(|e| {
                    Failure::new("a response before the cut", e.without_url().to_string())
                })?;
                ensure_eq!(
                    response.status().as_u16(),
                    200,
                    "status of the cut download"
                );
                ensure_eq!(
                    response.content_length(),
                    Some(bytes.len() as u64),
                    "Content-Length (the whole file's)"
                );
                let mut got = Vec::new();
                let mut broke = false;
                loop {
                    match response.chunk().await {
                        Ok(Some(chunk)) => got.extend_from_slice(&chunk),
                        Ok(None) => break,
                        Err(_) => {
                            broke = true;
                            break;
                        }
                    }
                }
                ctx.fired_at_least(&rule, 1).await?;
                ensure!(
                    broke && got.len() < bytes.len(),
                    "a body that breaks off before Content-Length",
                    "{} of {} bytes, error: {broke}",
                    got.len(),
                    bytes.len()
                );
                ensure!(
                    got[..] == bytes[..got.len()],
                    "the bytes before the cut are the file's",
                    "other bytes"
                );
                let again = api.download(&id(&node), None).await;
                again.expect(200, "the download after the cut")?;
                ensure_eq!(md5_hex(&again.body), md5_hex(&bytes), "md5 after the cut");
                Ok(())
            }
        ),
        check!(
            "faults",
            "corrupt_byte_changes_md5",
            "§8.2, §6.7",
            [FI],
            |ctx: Ctx| async move {
                let (_, node, bytes) = uploaded(&ctx, "corrupt.bin", 8192).await?;
                let rule =
                    download_rule(&ctx, json!({"kind": "corrupt_byte", "offset": 100})).await?;
                let reply = ctx.api().download(&id(&node), None).await;
                ctx.fired_at_least(&rule, 1).await?;
                reply.expect(200, "the corrupted download")?;
                ensure_eq!(
                    reply.body.len(),
                    bytes.len(),
                    "length of the corrupted download"
                );
                let md5 = md5_hex(&reply.body);
                ensure!(
                    Some(md5.as_str()) != node["contentProperties"]["md5"].as_str(),
                    "an md5 other than contentProperties.md5",
                    "the same md5 {md5}"
                );
                let differ: Vec<usize> = (0..bytes.len())
                    .filter(|&i| reply.body[i] != bytes[i])
                    .collect();
                ensure_eq!(differ, vec![100], "the corrupted byte offsets");
                Ok(())
            }
        ),
        check!(
            "faults",
            "download_block_redirects_to_presigned_url",
            "§8.7, §6.7",
            [FI, Capability::Seed, Capability::TokenEndpoint],
            // Changes the global download_block_bytes setting when none is set, and puts it
            // back; only files of 10 GiB and more are affected meanwhile.
            |ctx: Ctx| async move { download_block(&ctx).await }
        ),
        // ---- acd-client ----
        check!(
            "faults",
            "client_recovers_phantom_upload",
            "§8.6",
            [FI, Capability::TokenEndpoint],
            |ctx: Ctx| async move {
                let folder = ctx.folder().await?;
                ctx.budget(64 * 1024)?;
                let client = Client::open(&ctx, None).await?;
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
                    client
                        .ctx
                        .stats
                        .retries
                        .load(std::sync::atomic::Ordering::Relaxed)
                        >= 1,
                    "the phantom wait counted as a retry",
                    "no retry"
                );
                Ok(())
            }
        ),
        check!(
            "faults",
            "client_waits_for_late_phantom",
            "§8.6, §8.8",
            [FI, Capability::TokenEndpoint],
            |ctx: Ctx| async move {
                // A 408 after the whole body; the node reaches listings 400 ms later.
                let folder = ctx.folder().await?;
                ctx.budget(32 * 1024)?;
                let client = Client::open(&ctx, None).await?;
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
        ),
        check!(
            "faults",
            "client_backs_off_on_429",
            "§8.1, §8.2",
            [FI, Capability::TokenEndpoint],
            |ctx: Ctx| async move {
                let folder = ctx.folder().await?;
                ctx.budget(8192)?;
                let client = Client::open(&ctx, None).await?;
                let bytes = ctx.data(8192);
                let path = client.write("throttled.bin", &bytes)?;
                let rule = ctx
                    .fault(json!({
                        "match": {"operation": "upload"},
                        "action": {"kind": "error", "error": "rate_exceeded"},
                        "trigger": {"first": 3}
                    }))
                    .await?;
                let node = client
                    .upload(&folder, "throttled.bin", &path, Duration::from_secs(1))
                    .await?;
                ensure_eq!(ctx.fired_at_least(&rule, 3).await?, 3, "429s answered");
                ensure_eq!(
                    node.md5(),
                    Some(md5_hex(&bytes).as_str()),
                    "md5 of the upload"
                );
                exactly_one(&ctx, &folder, "throttled.bin", &md5_hex(&bytes)).await?;
                Ok(())
            }
        ),
        check!(
            "faults",
            "client_retries_5xx",
            "§8.2",
            [FI, Capability::TokenEndpoint],
            |ctx: Ctx| async move {
                let (folder, node, _) = uploaded(&ctx, "five.bin", 1024).await?;
                let client = Client::open(&ctx, None).await?;
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
        ),
        check!(
            "faults",
            "client_restarts_listing_after_lost_page",
            "§8.3",
            [FI, Capability::Seed, Capability::TokenEndpoint],
            |ctx: Ctx| async move {
                // More than one default page (200), so the listing has a second page.
                let folder = ctx.folder().await?;
                let files: Vec<Value> = (0..230)
                    .map(|i| json!({"name": format!("f{i:03}.txt"), "content": format!("{i}")}))
                    .collect();
                ctx.admin()?.seed(&folder, Value::Array(files)).await?;
                let client = Client::open(&ctx, None).await?;
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
                let mut names: Vec<String> =
                    children.iter().map(|n| n.name().to_string()).collect();
                names.sort();
                names.dedup();
                ensure_eq!(names.len(), 230, "distinct files the client listed");
                ensure_eq!(children.len(), 230, "files the client listed");
                Ok(())
            }
        ),
        check!(
            "faults",
            "client_refreshes_expired_token",
            "§8.4, §1.4",
            [FI, Capability::TokenEndpoint],
            |ctx: Ctx| async move {
                let folder = ctx.folder().await?;
                ctx.budget(4 * 2048)?;
                let client = Client::open(&ctx, None).await?;
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
                let tree = named(&ctx, &folder, "tree").await?;
                ensure_eq!(tree.len(), 1, "folders called tree");
                for (name, md5) in want {
                    exactly_one(&ctx, &id(&tree[0]), &name, &md5).await?;
                }
                Ok(())
            }
        ),
        check!(
            "faults",
            "client_resumes_cut_download",
            "§8.2, §6.7",
            [FI, Capability::TokenEndpoint],
            |ctx: Ctx| async move {
                let (_, node, bytes) = uploaded(&ctx, "resume.bin", 96 * 1024).await?;
                let client = Client::open(&ctx, None).await?;
                let rule =
                    download_rule(&ctx, json!({"kind": "cut_body", "after_bytes": 40000})).await?;
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
                let local = std::fs::read(&dest)
                    .map_err(|e| Failure::new("the downloaded file", e.to_string()))?;
                ensure_eq!(
                    md5_hex(&local),
                    md5_hex(&bytes),
                    "md5 of the resumed download"
                );
                Ok(())
            }
        ),
        check!(
            "faults",
            "client_never_keeps_a_corrupt_download",
            "§8.2, §6.7",
            [FI, Capability::TokenEndpoint],
            |ctx: Ctx| async move {
                let (_, node, _) = uploaded(&ctx, "bad.bin", 16 * 1024).await?;
                let client = Client::open(&ctx, None).await?;
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
        ),
    ]
}
