//! Raw HTTP against the API, so checks see exactly what the server answers (status, headers,
//! body), with helpers for the common calls.
//!
//! Against anything but the embedded clean mock, every call goes through one [`Pacer`] shared by
//! all jobs (acd-client's: starts spaced out, back-off after 429/5xx honouring `Retry-After`), and
//! the service's transient answers (408, 429, 500, 502, 503, 504, the gateway 403, a reset
//! connection) are retried, as a user of the real service had to (reference §8.1, §8.2). No
//! check of the suite is about a transient answer itself, so every call retries; each check
//! counts its retries ([`CallStats`]) and a call that stays transient after the last attempt
//! marks the check as unable to reach a verdict (reported ERROR, not FAIL).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use acd_client::pacer::Pacer;
use bytes::Bytes;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::check::Failure;

/// What one check's calls went through: retries, and the call that gave up, if any.
#[derive(Debug, Default)]
pub struct CallStats {
    calls: AtomicU64,
    retries: AtomicU64,
    exhausted: std::sync::Mutex<Option<String>>,
}

impl CallStats {
    /// Requests sent (every attempt counts).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Retries of transient answers.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// The first call whose retries ran out, with its last answer.
    pub fn exhausted(&self) -> Option<String> {
        self.exhausted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn give_up(&self, what: String) {
        let mut slot = self.exhausted.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(what);
        }
    }
}

/// How the suite's HTTP meets a service that throttles and fails now and then.
#[derive(Debug, Clone, Default)]
pub struct Transport {
    /// The pacer shared by every job; none for the embedded clean mock (no pacing, no retry).
    pub pacer: Option<Arc<Pacer>>,
    /// The counts of the check (or of the harness) making the calls.
    pub stats: Arc<CallStats>,
    /// The counts of the whole run.
    pub run: Arc<CallStats>,
}

impl Transport {
    /// The same pacer, counting into `stats` (one check's).
    pub fn for_check(&self, stats: Arc<CallStats>) -> Self {
        Self {
            stats,
            ..self.clone()
        }
    }

    /// Send requests made by `make` until the answer is not transient or the pacer's attempt
    /// or time budget runs out; the last answer. `make` returns `None` when the request cannot
    /// be repeated (then the first answer is final).
    pub async fn send_with(&self, mut make: impl FnMut() -> Option<RequestBuilder>) -> Reply {
        let Some(first) = make() else {
            return Reply::failed("the request could not be built");
        };
        let Some(pacer) = &self.pacer else {
            self.count_call();
            return send_once(first).await;
        };
        let started = tokio::time::Instant::now();
        let mut request = first;
        let mut attempt: u32 = 0;
        let mut maybe_applied = false;
        loop {
            attempt += 1;
            let what = describe(&request);
            pacer.pace().await;
            self.count_call();
            let mut reply = send_once(request).await;
            reply.after_transient = maybe_applied;
            // A 429 or the gateway's 403 refused the request before the service acted on it;
            // a broken connection or a 408/500/502/503/504 may have come after it had (§8.6).
            maybe_applied |= matches!(reply.status, 0 | 408 | 500 | 502 | 503 | 504);
            if !reply.is_transient() {
                pacer.record(None);
                return reply;
            }
            let delay = pacer.record(Some(&reply.as_error(&what)));
            let config = pacer.config();
            let out_of_time = started.elapsed() + delay > config.budget;
            match make() {
                Some(again) if attempt < config.attempts && !out_of_time => {
                    pacer.count_retry();
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    self.run.retries.fetch_add(1, Ordering::Relaxed);
                    request = again;
                }
                _ => {
                    let cause = format!(
                        "{what}: still HTTP {} after {attempt} attempt(s) in {:.1?}: {}",
                        reply.status,
                        started.elapsed(),
                        short(&reply.text())
                    );
                    self.stats.give_up(cause.clone());
                    self.run.give_up(cause);
                    return reply;
                }
            }
        }
    }

    fn count_call(&self) {
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        self.run.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// [`Transport::send_with`] for a request that can be cloned (any but a streamed body).
    pub async fn send(&self, request: RequestBuilder) -> Reply {
        let mut first = Some(request);
        let mut template: Option<RequestBuilder> = None;
        self.send_with(|| match first.take() {
            Some(r) => {
                template = r.try_clone();
                Some(r)
            }
            None => template.as_ref().and_then(RequestBuilder::try_clone),
        })
        .await
    }
}

/// `METHOD /path` of a request, for messages (no query: it may hold a signature).
fn describe(request: &RequestBuilder) -> String {
    request
        .try_clone()
        .and_then(|r| r.build().ok())
        .map_or_else(
            || "a request".to_string(),
            |r| format!("{} {}", r.method(), r.url().path()),
        )
}

/// Send once (no pacing, no retry) and read the whole answer; a failed connection is status 0.
pub async fn send_once(request: RequestBuilder) -> Reply {
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            match response.bytes().await {
                Ok(body) => Reply {
                    status,
                    headers,
                    body,
                    after_transient: false,
                },
                // A body cut off is a transport failure, like a reset.
                Err(e) => Reply::failed(&e.without_url().to_string()),
            }
        }
        // Nothing listens there: not a transient answer, so the harness says so at once.
        Err(e) if e.is_connect() => Reply::failed(&format!("{NO_CONNECTION}: {}", e.without_url())),
        Err(e) => Reply::failed(&e.without_url().to_string()),
    }
}

/// How the body of a [`Reply`] begins when no connection could be made.
const NO_CONNECTION: &str = "cannot connect";

/// The header that scopes the mock's fault rules to one check.
pub const SCOPE_HEADER: &str = "x-acd-mock-scope";

/// An HTTP answer, fully read.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code (0 when the connection failed).
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body.
    pub body: Bytes,
    /// An earlier attempt of this call got a transient answer that may have come after the
    /// service acted (a broken connection, 408, 500, 502, 503, 504; not a 429): a write may
    /// already have taken effect (reference §8.2, §8.6), so a refusal now may be the write
    /// meeting itself. See [`Api::reconcile`].
    pub after_transient: bool,
}

impl Reply {
    /// No answer: the connection failed (status 0, the error as the body).
    pub fn failed(why: &str) -> Self {
        Reply {
            status: 0,
            headers: Default::default(),
            body: Bytes::from(why.to_string()),
            after_transient: false,
        }
    }

    /// An answer worth retrying (reference §8.2): 408, 429, 500, 502, 503, 504, the gateway's
    /// sporadic 403 ("Authorization header requires"), or a connection that broke (a refused
    /// connection is not retried: nothing listens there).
    pub fn is_transient(&self) -> bool {
        match self.status {
            0 => !self.text().starts_with(NO_CONNECTION),
            408 | 429 | 500 | 502 | 503 | 504 => true,
            403 => self.text().contains("Authorization header requires"),
            _ => false,
        }
    }

    /// `Retry-After` in seconds, if the answer has one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
    }

    /// The answer as acd-client's error, for the pacer's back-off.
    fn as_error(&self, what: &str) -> acd_client::Error {
        // The pacer only asks "temporary?" and "Retry-After?": a 429 stays a 429, anything
        // else transient counts as a server error.
        let status = if self.status == 429 { 429 } else { 503 };
        acd_client::error::classify(what, status, "", self.retry_after())
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// Fail unless the status is `want`.
    pub fn expect(&self, want: u16, what: &str) -> Result<&Self, Failure> {
        if self.status == want {
            Ok(self)
        } else {
            Err(Failure::new(
                format!("{what}: HTTP {want}"),
                format!("HTTP {}: {}", self.status, short(&self.text())),
            ))
        }
    }

    /// Fail unless the status is 2xx; returns the JSON body.
    pub fn ok_json(&self, what: &str) -> Result<Value, Failure> {
        if (200..300).contains(&self.status) {
            Ok(self.json())
        } else {
            Err(Failure::new(
                format!("{what}: a 2xx answer"),
                format!("HTTP {}: {}", self.status, short(&self.text())),
            ))
        }
    }
}

/// The first 300 characters of a text.
pub fn short(text: &str) -> String {
    let t: String = text.chars().take(300).collect();
    if t.len() < text.len() {
        format!("{t}...")
    } else {
        t
    }
}

/// A connection to the API with one access token.
#[derive(Debug, Clone)]
pub struct Api {
    /// The HTTP client (no automatic redirects).
    pub http: reqwest::Client,
    /// Metadata base URL (ends in `/`).
    pub metadata: url::Url,
    /// Content base URL (ends in `/`).
    pub content: url::Url,
    /// The bearer token.
    pub token: String,
    /// The fault scope sent with every request, if any.
    pub scope: Option<String>,
    /// Pacing and retries.
    pub transport: Transport,
}

impl Api {
    /// A URL under the metadata base.
    pub fn meta(&self, path: &str) -> url::Url {
        self.metadata
            .join(path)
            .unwrap_or_else(|_| self.metadata.clone())
    }

    /// A URL under the content base.
    pub fn content_url(&self, path: &str) -> url::Url {
        self.content
            .join(path)
            .unwrap_or_else(|_| self.content.clone())
    }

    /// A request with auth and scope set.
    pub fn request(&self, method: Method, url: url::Url) -> RequestBuilder {
        let mut r = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(scope) = &self.scope {
            r = r.header(SCOPE_HEADER, scope);
        }
        r
    }

    /// Send (paced, retrying transient answers) and read the whole answer; a failed
    /// connection is status 0.
    pub async fn send(&self, request: RequestBuilder) -> Reply {
        self.transport.send(request).await
    }

    /// GET under the metadata base with a query.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Reply {
        self.send(self.request(Method::GET, self.meta(path)).query(query))
            .await
    }

    /// The root folder node.
    pub async fn root(&self) -> Result<Value, Failure> {
        let list = self
            .get("nodes", &[("filters", "kind:FOLDER AND isRoot:true")])
            .await
            .ok_json("find the root")?;
        list["data"]
            .get(0)
            .cloned()
            .ok_or_else(|| Failure::new("a root folder", list.to_string()))
    }

    /// Create a folder; the raw reply (a retry that meets the folder its own earlier attempt
    /// created is that folder's 201: see [`Api::reconcile`]).
    pub async fn create_folder(&self, parent: &str, name: &str) -> Reply {
        let body = json!({"name": name, "kind": "FOLDER", "parents": [parent]});
        // A folder of that name made before this call is a real conflict, not our own
        // first attempt (a second of slack for the service's clock).
        let started = chrono::Utc::now() - chrono::TimeDelta::seconds(1);
        let reply = self
            .send(self.request(Method::POST, self.meta("nodes")).json(&body))
            .await;
        if reply.status != 409 {
            return reply;
        }
        let holder = reply.json()["info"]["nodeId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.reconcile(reply, &holder, 201, |node| {
            node["kind"] == "FOLDER"
                && node["name"].as_str() == Some(name)
                && node["createdDate"]
                    .as_str()
                    .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
                    .is_some_and(|d| d >= started)
                && node["parents"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| p.as_str() == Some(parent)))
        })
        .await
    }

    /// A write whose earlier attempt got a transient answer and whose retry was refused (a
    /// 4xx: the folder exists, the node no longer has that parent): the service may have
    /// applied the first attempt before failing it (reference §8.6). When `node` now shows
    /// the write's effect (`applied`), the write succeeded: its answer becomes `status` with
    /// the node as the body, as the first attempt would have answered. Otherwise, or for a
    /// refusal with no transient answer before it, the reply as it was.
    pub async fn reconcile(
        &self,
        reply: Reply,
        node: &str,
        status: u16,
        applied: impl Fn(&Value) -> bool,
    ) -> Reply {
        if !reply.after_transient
            || !(400..500).contains(&reply.status)
            || reply.status == 429
            || node.is_empty()
        {
            return reply;
        }
        let now = self.get(&format!("nodes/{node}"), &[]).await;
        if now.status != 200 || !applied(&now.json()) {
            return reply;
        }
        Reply {
            status,
            after_transient: true,
            ..now
        }
    }

    /// Create a folder, failing the check unless it is 201.
    pub async fn folder(&self, parent: &str, name: &str) -> Result<Value, Failure> {
        let reply = self.create_folder(parent, name).await;
        reply.expect(201, &format!("create folder {name:?}"))?;
        Ok(reply.json())
    }

    /// Upload bytes as a new file (multipart, metadata first); the raw reply.
    pub async fn upload(
        &self,
        parent: &str,
        name: &str,
        bytes: Vec<u8>,
        query: &[(&str, &str)],
    ) -> Reply {
        let metadata = json!({"name": name, "kind": "FILE", "parents": [parent]}).to_string();
        // A multipart body is a stream: each attempt builds it again.
        self.transport
            .send_with(|| {
                let form = reqwest::multipart::Form::new()
                    .text("metadata", metadata.clone())
                    .part("content", content_part(&bytes));
                Some(
                    self.request(Method::POST, self.content_url("nodes"))
                        .query(query)
                        .multipart(form),
                )
            })
            .await
    }

    /// Upload with `suppress=deduplication`, failing the check unless it is 201.
    pub async fn file(&self, parent: &str, name: &str, bytes: &[u8]) -> Result<Value, Failure> {
        let reply = self
            .upload(
                parent,
                name,
                bytes.to_vec(),
                &[("suppress", "deduplication")],
            )
            .await;
        reply.expect(201, &format!("upload {name:?}"))?;
        Ok(reply.json())
    }

    /// Overwrite a file's content; the raw reply.
    pub async fn overwrite(&self, id: &str, bytes: Vec<u8>) -> Reply {
        self.transport
            .send_with(|| {
                let form = reqwest::multipart::Form::new().part("content", content_part(&bytes));
                Some(
                    self.request(
                        Method::PUT,
                        self.content_url(&format!("nodes/{id}/content")),
                    )
                    .multipart(form),
                )
            })
            .await
    }

    /// Download content, optionally with a Range header.
    pub async fn download(&self, id: &str, range: Option<&str>) -> Reply {
        let mut r = self.request(
            Method::GET,
            self.content_url(&format!("nodes/{id}/content")),
        );
        if let Some(range) = range {
            r = r.header(reqwest::header::RANGE, range);
        }
        self.send(r).await
    }

    /// A node by id.
    pub async fn node(&self, id: &str) -> Reply {
        self.get(&format!("nodes/{id}"), &[]).await
    }

    /// Every page of a listing at `path` with `query` (follows `nextToken`).
    pub async fn list_all(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<Value>, Failure> {
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..10_000 {
            let mut q: Vec<(&str, &str)> = query.to_vec();
            if let Some(t) = &next {
                q.push(("startToken", t));
            }
            let page = self.get(path, &q).await.ok_json("a listing page")?;
            out.extend(page["data"].as_array().cloned().unwrap_or_default());
            match page.get("nextToken").and_then(Value::as_str) {
                Some(t) => next = Some(t.to_string()),
                None => return Ok(out),
            }
        }
        Err(Failure::new(
            "a listing that ends",
            "more than 10,000 pages",
        ))
    }

    /// The live children of a folder.
    pub async fn children(&self, parent: &str) -> Result<Vec<Value>, Failure> {
        let filter = format!("parents:{parent}");
        let all = self.list_all("nodes", &[("filters", &filter)]).await?;
        Ok(all
            .into_iter()
            .filter(|n| n["status"] == "AVAILABLE")
            .collect())
    }

    /// Every node the search `parents:{parent}` lists, as the server lists it: no status or
    /// parent filtering here, so "gone from the listing" means the server stopped listing it.
    pub async fn listing(&self, parent: &str) -> Result<Vec<Value>, Failure> {
        let filter = format!("parents:{parent}");
        self.list_all("nodes", &[("filters", &filter)]).await
    }

    /// Trash a node; the raw reply.
    pub async fn trash(&self, id: &str) -> Reply {
        self.send(
            self.request(Method::PUT, self.meta(&format!("trash/{id}")))
                .header(reqwest::header::CONTENT_LENGTH, "0"),
        )
        .await
    }
}

/// The `content` part of an upload.
fn content_part(bytes: &[u8]) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes.to_vec())
        .file_name("content")
        .mime_str("application/octet-stream")
        .unwrap_or_else(|_| reqwest::multipart::Part::bytes(Vec::new()))
}

/// The id of a node value.
pub fn id(node: &Value) -> String {
    node["id"].as_str().unwrap_or_default().to_string()
}

/// Lowercase hex MD5 of bytes (acd-mock's, the workspace's one).
pub use acd_mock::admin_client::md5_hex;
