//! Typed calls to the service: one method per operation, all paced and retried through the
//! remote's [`Pacer`], all authorized through its [`TokenSource`].
//!
//! Listings are fetched page by page; a page that fails restarts that folder's listing (a
//! retried page can come back without its nodes), and a listing that keeps failing is an
//! error, never an empty result.

pub mod endpoints;
pub mod filter;
pub mod model;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::{Method, RequestBuilder};
use secrecy::{ExposeSecret as _, SecretString};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::auth::TokenSource;
use crate::error::{Error, ErrorKind, Result};
pub use crate::error::{error_from_response, parse_retry_after};
use crate::pacer::Pacer;
use crate::retry::RetryContext;
use endpoints::EndpointCache;
use model::{ChangeSet, Endpoints, Node, NodeList, Quota, Usage};

/// Where a drive records the nodes its own writes returned, for read-your-writes: listings
/// lag behind writes, and these records correct them (see [`Drive::children`]).
pub trait WriteLog: Send + Sync + std::fmt::Debug {
    /// Record `node` as a write just returned it; `left` are folders it was taken out of.
    fn record(&self, node: &Node, left: &[String]);
    /// The latest known state of nodes written within the consistency window that are, or
    /// were, in `folder`.
    fn recent_in(&self, folder: &str) -> Vec<Node>;
}

/// What reconciling a write whose outcome was unknown found.
#[derive(Debug)]
pub enum Reconciled<T> {
    /// The write took effect; its result as the service holds it now.
    Applied(T),
    /// It did not take effect: it may be sent again.
    NotApplied,
    /// Something else happened to the node: this error (naming it) is reported.
    Diverged(Error),
}

/// True when `node` is a live child of `folder`: AVAILABLE, or a folder listed as `PENDING`
/// (the service listed new folders so for a while, reference §8.8; the folder is there and
/// holds children). A `PENDING` file is an upload not processed yet, without content: not live.
pub fn is_live_child(node: &Node, folder: &str) -> bool {
    let live = node.is_available() || (node.is_folder() && node.status == "PENDING");
    live && node.parents.iter().any(|p| p == folder)
}

/// True when `a` is at least as new as `b` (by metadata version; unknown versions: `a`).
pub fn at_least_as_new(a: &Node, b: &Node) -> bool {
    match (a.version, b.version) {
        (Some(x), Some(y)) => x >= y,
        _ => true,
    }
}

/// A connected drive: discovered endpoints, a token source and a pacer.
pub struct Drive {
    http: reqwest::Client,
    auth: Arc<TokenSource>,
    pacer: Arc<Pacer>,
    metadata: url::Url,
    content: url::Url,
    root: tokio::sync::OnceCell<Node>,
    writes: std::sync::OnceLock<Arc<dyn WriteLog>>,
}

impl std::fmt::Debug for Drive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drive")
            .field("metadata", &self.metadata.as_str())
            .field("content", &self.content.as_str())
            .finish_non_exhaustive()
    }
}

impl Drive {
    /// Discover the endpoints (from the cache when fresh) and return a connected drive.
    pub async fn connect(
        http: reqwest::Client,
        auth: Arc<TokenSource>,
        pacer: Arc<Pacer>,
        endpoint_url: &url::Url,
        cache: Option<EndpointCache>,
    ) -> Result<Self> {
        let cached = cache.as_ref().and_then(|c| c.get(endpoint_url.as_str()));
        let discovered = match cached {
            Some(e) => e,
            None => {
                let placeholder = Self::with_urls(
                    http.clone(),
                    auth.clone(),
                    pacer.clone(),
                    endpoint_url.clone(),
                    endpoint_url.clone(),
                );
                let e: Endpoints = placeholder
                    .call_json("discover endpoints", || {
                        placeholder.http.get(endpoint_url.clone())
                    })
                    .await?;
                if let Some(c) = &cache {
                    c.put(endpoint_url.as_str(), &e);
                }
                e
            }
        };
        let metadata = base_url(&discovered.metadata_url, "metadataUrl")?;
        let content = base_url(&discovered.content_url, "contentUrl")?;
        Ok(Self::with_urls(http, auth, pacer, metadata, content))
    }

    /// A drive with known base URLs (no discovery).
    pub fn with_urls(
        http: reqwest::Client,
        auth: Arc<TokenSource>,
        pacer: Arc<Pacer>,
        metadata: url::Url,
        content: url::Url,
    ) -> Self {
        auth.pace_with(pacer.clone());
        Self {
            http,
            auth,
            pacer,
            metadata,
            content,
            root: tokio::sync::OnceCell::new(),
            writes: std::sync::OnceLock::new(),
        }
    }

    /// Record own writes in `log` from now on (once; later calls are ignored).
    pub fn set_write_log(&self, log: Arc<dyn WriteLog>) {
        let _ = self.writes.set(log);
    }

    /// Record a node a write returned (uploads call this too).
    pub fn record_write(&self, node: &Node, left: &[String]) {
        if let Some(log) = self.writes.get() {
            log.record(node, left);
        }
    }

    fn recent_writes(&self, folder: &str) -> Vec<Node> {
        self.writes
            .get()
            .map(|log| log.recent_in(folder))
            .unwrap_or_default()
    }

    /// The pacer shared by this drive's calls.
    pub fn pacer(&self) -> &Arc<Pacer> {
        &self.pacer
    }

    /// The token source.
    pub fn auth(&self) -> &Arc<TokenSource> {
        &self.auth
    }

    /// The HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A URL under the metadata base.
    pub fn metadata_url(&self, path: &str) -> Result<url::Url> {
        join(&self.metadata, path)
    }

    /// A URL under the content base.
    pub fn content_url(&self, path: &str) -> Result<url::Url> {
        join(&self.content, path)
    }

    // ---- the request machinery -------------------------------------------------------------

    /// One authorized attempt: send, and turn an error status into a classified error. A 401
    /// invalidates the token so the next attempt refreshes it.
    pub async fn send_once(
        &self,
        operation: &str,
        request: RequestBuilder,
    ) -> Result<reqwest::Response> {
        self.send_authorized(operation, request, true).await
    }

    /// One authorized attempt; a 401 refreshes the token only when `refresh_on_401`.
    async fn send_authorized(
        &self,
        operation: &str,
        request: RequestBuilder,
        refresh_on_401: bool,
    ) -> Result<reqwest::Response> {
        let token = self.auth.access_token().await?;
        self.send_with_token(operation, request, &token, refresh_on_401)
            .await
    }

    async fn send_with_token(
        &self,
        operation: &str,
        request: RequestBuilder,
        token: &SecretString,
        refresh_on_401: bool,
    ) -> Result<reqwest::Response> {
        let request = request
            .bearer_auth(token.expose_secret())
            .build()
            .map_err(|e| {
                Error::Usage(format!(
                    "{operation}: cannot build the request: {}",
                    e.without_url()
                ))
            })?;
        let url = request.url().clone();
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| Error::transport(operation, &url, e))?;
        if response.status().is_success() || response.status().is_redirection() {
            return Ok(response);
        }
        let error = error_from_response(operation, response).await;
        if refresh_on_401 && is_auth_failure(&error) {
            self.auth.invalidate(token).await?;
        }
        Err(error)
    }

    /// A paced, retried call whose 2xx answer is JSON, for idempotent calls (reads, and writes
    /// whose replay is harmless): any temporary failure is simply sent again. Writes that must
    /// not be applied twice use [`Drive::call_write`]. A 401 refreshes the token and is retried
    /// once; a second 401 in a row is reported as a sign-in problem.
    pub async fn call_json<T, F>(&self, operation: &str, build: F) -> Result<T>
    where
        T: DeserializeOwned,
        F: Fn() -> RequestBuilder,
    {
        let refreshed = AtomicBool::new(false);
        let (build, refreshed) = (&build, &refreshed);
        self.pacer
            .call(operation, move |_| async move {
                self.attempt_json(operation, build(), refreshed).await
            })
            .await
    }

    /// One attempt of a JSON call. After one refresh (`refreshed`), a second refusal of the
    /// token is reported, not refreshed again.
    async fn attempt_json<T: DeserializeOwned>(
        &self,
        operation: &str,
        request: RequestBuilder,
        refreshed: &AtomicBool,
    ) -> Result<T> {
        let refresh_on_401 = !refreshed.load(Ordering::SeqCst);
        let response = match self
            .send_authorized(operation, request, refresh_on_401)
            .await
        {
            Err(e) if is_auth_failure(&e) => {
                if refreshed.swap(true, Ordering::SeqCst) {
                    return Err(Error::Auth(format!(
                        "{operation}: the service refused a freshly refreshed token ({e}); run `acd config reconnect <remote>` to sign in again"
                    )));
                }
                return Err(e);
            }
            other => other?,
        };
        read_json(operation, response).await
    }

    /// A paced, retried call for a non-idempotent write. When an attempt fails with an unknown
    /// outcome ([`Error::outcome_unknown`]: sent, then a reset, a timeout, a cut answer or a
    /// 5xx), `reconcile` reads the state first and decides: the write took effect (its
    /// result is returned, nothing is sent again), it did not (the write is retried after the
    /// back-off), or something else happened (that error is returned). A write is never
    /// applied twice on purpose, and a write that took effect is never reported as failed.
    pub async fn call_write<T, F, C, CF>(
        &self,
        operation: &str,
        build: F,
        reconcile: C,
    ) -> Result<T>
    where
        T: DeserializeOwned,
        F: Fn() -> RequestBuilder,
        C: Fn() -> CF,
        CF: std::future::Future<Output = Result<Reconciled<T>>>,
    {
        let refreshed = AtomicBool::new(false);
        let mut ctx = RetryContext::new(&self.pacer, operation);
        loop {
            ctx.begin().await;
            let error = match self.attempt_json(operation, build(), &refreshed).await {
                Ok(value) => {
                    self.pacer.record(None);
                    return Ok(value);
                }
                Err(e) => e,
            };
            if error.outcome_unknown() {
                tracing::warn!("{operation}: {error}; it may have been applied: checking");
                match reconcile().await? {
                    Reconciled::Applied(value) => {
                        tracing::info!("{operation}: it was applied; done");
                        // The check took the place of a retry: counted as one, so every
                        // failure met shows once in the summary.
                        self.pacer.count_retry();
                        self.pacer.record(None);
                        return Ok(value);
                    }
                    Reconciled::NotApplied => {
                        tracing::info!("{operation}: it was not applied; sending it again");
                    }
                    Reconciled::Diverged(e) => return Err(e),
                }
            }
            if ctx.backoff(&error).is_none() {
                return Err(ctx.into_error(error));
            }
        }
    }

    /// The node as the service has it now (for reconciliation); a node that is gone makes
    /// the write's outcome an error naming it.
    async fn reconcile_read(&self, operation: &str, id: &str) -> Result<Node> {
        match self.node(id, false).await {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(Error::Diverged {
                operation: operation.into(),
                node: id.into(),
                found: "gone (404)".into(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Like [`Drive::call_json`] for calls whose answer is not needed.
    pub async fn call_unit<F>(&self, operation: &str, build: F) -> Result<()>
    where
        F: Fn() -> RequestBuilder,
    {
        let _: serde_json::Value = self.call_json(operation, build).await?;
        Ok(())
    }

    fn request(&self, method: Method, url: url::Url) -> RequestBuilder {
        self.http.request(method, url)
    }

    // ---- nodes -----------------------------------------------------------------------------

    /// The root folder (looked up once).
    pub async fn root(&self) -> Result<&Node> {
        self.root
            .get_or_try_init(|| async {
                let url = self.metadata_url("nodes")?;
                let list: NodeList = self
                    .call_json("find the root folder", || {
                        self.request(Method::GET, url.clone())
                            .query(&[("filters", filter::ROOT)])
                    })
                    .await?;
                list.data
                    .unwrap_or_default()
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::Protocol {
                        operation: "find the root folder".into(),
                        message: "no root folder in the answer".into(),
                    })
            })
            .await
    }

    /// A node by id; with `temp_link`, files carry a download link.
    pub async fn node(&self, id: &str, temp_link: bool) -> Result<Node> {
        let url = self.metadata_url(&format!("nodes/{id}"))?;
        self.call_json("get node", || {
            let r = self.request(Method::GET, url.clone());
            if temp_link {
                r.query(&[("tempLink", "true")])
            } else {
                r
            }
        })
        .await
    }

    /// The live child of `parent` called `name` (exact name, as the search matches it).
    /// Own writes come first (a folder just created is found while searches lag), and a
    /// search hit this client moved away or trashed is left out.
    pub async fn lookup(&self, parent: &str, name: &str) -> Result<Option<Node>> {
        let recent = self.recent_writes(parent);
        for own in recent
            .iter()
            .filter(|n| is_live_child(n, parent) && n.name() == name)
        {
            if let Some(fresh) = self.confirm(&own.id).await?
                && is_live_child(&fresh, parent)
                && fresh.name() == name
            {
                return Ok(Some(fresh));
            }
        }
        let mut live = self
            .search_named(parent, name)
            .await?
            .into_iter()
            .filter(|n| is_live_child(n, parent))
            .filter(|n| {
                !recent.iter().any(|own| {
                    own.id == n.id && !is_live_child(own, parent) && at_least_as_new(own, n)
                })
            });
        Ok(live.next())
    }

    /// A `PENDING` child of `parent` named `name` (an upload the service has taken but not yet
    /// processed, reference §4, §8.6), if the service lists one. Not lagged by own writes:
    /// a pending node is never one of them.
    pub async fn pending_child(&self, parent: &str, name: &str) -> Result<Option<Node>> {
        Ok(self
            .search_named(parent, name)
            .await?
            .into_iter()
            .find(|n| {
                n.status == "PENDING" && n.parents.iter().any(|p| p == parent) && n.name() == name
            }))
    }

    /// What the name search `parents:PARENT AND name:NAME` returns, as the service lists it
    /// (lagged, any status).
    async fn search_named(&self, parent: &str, name: &str) -> Result<Vec<Node>> {
        let url = self.metadata_url("nodes")?;
        let filters = filter::child_named(parent, name);
        let list: NodeList = self
            .call_json("look up a name", || {
                self.request(Method::GET, url.clone())
                    .query(&[("filters", filters.as_str())])
            })
            .await?;
        Ok(list.data.unwrap_or_default())
    }

    /// A node as the service has it now; `None` when it is gone (404).
    async fn confirm(&self, id: &str) -> Result<Option<Node>> {
        match self.node(id, false).await {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every live child of a folder, all pages. Nodes that no longer list `parent` among their
    /// parents (stale search results after a move) are dropped, and the listing is corrected
    /// by this client's own recent writes (see [`Drive::merge_own_writes`]).
    pub async fn children(&self, parent: &str) -> Result<Vec<Node>> {
        let url = self.metadata_url("nodes")?;
        let filters = filter::children_of(parent);
        let nodes = self
            .list_pages("list folder", &url, &[("filters", filters.as_str())])
            .await?;
        let listed = nodes
            .into_iter()
            .filter(|n| is_live_child(n, parent))
            .collect();
        self.merge_own_writes(parent, listed).await
    }

    /// Correct a (lagging) listing of `parent` with own writes of the consistency window: a
    /// node written here that the listing lacks is added, one moved away or trashed is left
    /// out, each confirmed by `GET nodes/{id}` (which does not lag); where both have a node,
    /// the newer version wins.
    pub async fn merge_own_writes(&self, parent: &str, listed: Vec<Node>) -> Result<Vec<Node>> {
        use futures_util::stream::{self, StreamExt as _, TryStreamExt as _};
        let recent = self.recent_writes(parent);
        if recent.is_empty() {
            return Ok(listed);
        }
        let mut by_id: std::collections::HashMap<String, Node> =
            listed.into_iter().map(|n| (n.id.clone(), n)).collect();
        let mut doubtful = Vec::new();
        for own in recent {
            let here = is_live_child(&own, parent);
            match by_id.get(&own.id) {
                Some(shown) if here && !at_least_as_new(shown, &own) => {
                    by_id.insert(own.id.clone(), own);
                }
                Some(_) if here => {}
                Some(shown) => {
                    let listing_is_newer =
                        matches!((shown.version, own.version), (Some(a), Some(b)) if a > b);
                    if !listing_is_newer {
                        doubtful.push(own.id);
                    }
                }
                None if here => doubtful.push(own.id),
                None => {}
            }
        }
        let confirmed: Vec<(String, Option<Node>)> = stream::iter(doubtful)
            .map(|id| async move { self.confirm(&id).await.map(|n| (id, n)) })
            .buffer_unordered(8)
            .try_collect()
            .await?;
        for (id, fresh) in confirmed {
            match fresh {
                Some(n) if is_live_child(&n, parent) => {
                    by_id.insert(id, n);
                }
                _ => {
                    by_id.remove(&id);
                }
            }
        }
        Ok(by_id.into_values().collect())
    }

    /// Everything in the trash.
    pub async fn trash_list(&self) -> Result<Vec<Node>> {
        let url = self.metadata_url("trash")?;
        self.list_pages("list trash", &url, &[]).await
    }

    /// Fetch all pages of a listing; a failing page restarts the listing.
    async fn list_pages(
        &self,
        operation: &str,
        url: &url::Url,
        query: &[(&str, &str)],
    ) -> Result<Vec<Node>> {
        // Each page is paced and recorded by `call_once`; a failed page restarts the listing.
        let mut ctx = RetryContext::over_paced_calls(&self.pacer, operation);
        loop {
            ctx.begin_unpaced();
            match self.list_pages_once(operation, url, query).await {
                Ok(nodes) => return Ok(nodes),
                Err(e) => {
                    if ctx.backoff(&e).is_none() {
                        return Err(ctx.into_error(e));
                    }
                    tracing::info!("{operation}: restarting the listing");
                }
            }
        }
    }

    async fn list_pages_once(
        &self,
        operation: &str,
        url: &url::Url,
        query: &[(&str, &str)],
    ) -> Result<Vec<Node>> {
        let mut nodes = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let mut request = self.request(Method::GET, url.clone()).query(query);
            if let Some(token) = &next {
                request = request.query(&[("startToken", token.as_str())]);
            }
            let response = self
                .pacer
                .call_once(self.send_once(operation, request))
                .await?;
            let page: NodeList = read_json(operation, response).await?;
            nodes.extend(page.data.unwrap_or_default());
            match page.next_token {
                Some(t) if !t.is_empty() => next = Some(t),
                _ => return Ok(nodes),
            }
        }
    }

    /// Create a folder. A 409 whose conflicting node is a live folder returns that folder (it
    /// exists already, perhaps under a name differing in case; or an earlier attempt whose
    /// answer was lost created it). After an unknown outcome the name is looked up first.
    pub async fn create_folder(&self, parent: &str, name: &str) -> Result<Node> {
        let url = self.metadata_url("nodes")?;
        let body = json!({"name": name, "kind": "FOLDER", "parents": [parent]});
        let created = self
            .call_write(
                "create folder",
                || self.request(Method::POST, url.clone()).json(&body),
                || async {
                    Ok::<_, Error>(match self.lookup(parent, name).await? {
                        Some(n) if n.is_folder() => Reconciled::Applied(n),
                        // A file holds the name: the retry's 409 says so.
                        _ => Reconciled::NotApplied,
                    })
                },
            )
            .await;
        if let Ok(node) = &created {
            self.record_write(node, &[]);
        }
        match created {
            Err(e) if e.kind() == ErrorKind::Conflict => {
                let Some(id) = e.conflict_node_id() else {
                    return Err(e);
                };
                let existing = self.node(id, false).await?;
                if existing.is_folder() && existing.is_available() {
                    self.record_write(&existing, &[]);
                    Ok(existing)
                } else {
                    Err(e)
                }
            }
            other => other,
        }
    }

    /// Rename a node. After an unknown outcome the node's name tells whether it happened.
    pub async fn rename(&self, id: &str, name: &str) -> Result<Node> {
        let url = self.metadata_url(&format!("nodes/{id}"))?;
        let body = json!({"name": name});
        let node: Node = self
            .call_write(
                "rename",
                || self.request(Method::PATCH, url.clone()).json(&body),
                || async {
                    let now = self.reconcile_read("rename", id).await?;
                    Ok::<_, Error>(if now.name() == name {
                        Reconciled::Applied(now)
                    } else {
                        Reconciled::NotApplied
                    })
                },
            )
            .await?;
        self.record_write(&node, &[]);
        Ok(node)
    }

    /// Move a node from one parent to another. After an unknown outcome the node's parents
    /// tell whether it happened; parents that are neither before nor after are an error.
    pub async fn move_node(&self, id: &str, from: &str, to: &str) -> Result<Node> {
        let url = self.metadata_url(&format!("nodes/{to}/children"))?;
        let body = json!({"fromParent": from, "childId": id});
        let node: Node = self
            .call_write(
                "move",
                || self.request(Method::POST, url.clone()).json(&body),
                || async {
                    let now = self.reconcile_read("move", id).await?;
                    let has = |p: &str| now.parents.iter().any(|x| x == p);
                    Ok::<_, Error>(match (has(from), has(to)) {
                        (false, true) => Reconciled::Applied(now),
                        (true, false) => Reconciled::NotApplied,
                        _ => Reconciled::Diverged(Error::Diverged {
                            operation: "move".into(),
                            node: id.into(),
                            found: format!(
                                "in folders {:?} (expected {from} or {to})",
                                now.parents
                            ),
                        }),
                    })
                },
            )
            .await?;
        self.record_write(&node, &[from.to_string()]);
        Ok(node)
    }

    /// Add a parent to a node (after an unknown outcome: done if the node has it).
    pub async fn add_parent(&self, id: &str, parent: &str) -> Result<()> {
        let url = self.metadata_url(&format!("nodes/{parent}/children/{id}"))?;
        let _: serde_json::Value = self
            .call_write(
                "add parent",
                || self.request(Method::PUT, url.clone()),
                || async {
                    let now = self.reconcile_read("add parent", id).await?;
                    Ok::<_, Error>(if now.parents.iter().any(|p| p == parent) {
                        Reconciled::Applied(serde_json::Value::Null)
                    } else {
                        Reconciled::NotApplied
                    })
                },
            )
            .await?;
        self.record_parents_changed("add parent", id, &[]).await;
        Ok(())
    }

    /// Remove a parent from a node (after an unknown outcome: done if the node lacks it).
    pub async fn remove_parent(&self, id: &str, parent: &str) -> Result<()> {
        let url = self.metadata_url(&format!("nodes/{parent}/children/{id}"))?;
        let _: serde_json::Value = self
            .call_write(
                "remove parent",
                || self.request(Method::DELETE, url.clone()),
                || async {
                    let now = self.reconcile_read("remove parent", id).await?;
                    Ok::<_, Error>(if now.parents.iter().any(|p| p == parent) {
                        Reconciled::NotApplied
                    } else {
                        Reconciled::Applied(serde_json::Value::Null)
                    })
                },
            )
            .await?;
        self.record_parents_changed("remove parent", id, &[parent.to_string()])
            .await;
        Ok(())
    }

    /// Record a node whose parents changed: the service answers those calls without the
    /// node, so it is read by id (never lagged) when a write log wants it. A failed read only
    /// leaves the listing to catch up on its own (the write itself succeeded).
    async fn record_parents_changed(&self, operation: &str, id: &str, left: &[String]) {
        if self.writes.get().is_none() {
            return;
        }
        match self.reconcile_read(operation, id).await {
            Ok(node) => self.record_write(&node, left),
            Err(e) => tracing::debug!(
                "{operation}: the node could not be read back for read-your-writes ({e})"
            ),
        }
    }

    /// Move a node (and, for a folder, its subtree) to the trash. Third-party apps cannot
    /// delete permanently; this is the only delete there is. After an unknown outcome the
    /// node's status tells whether it happened.
    pub async fn trash(&self, id: &str) -> Result<Node> {
        let url = self.metadata_url(&format!("trash/{id}"))?;
        let node: Node = self
            .call_write(
                "trash",
                || {
                    self.request(Method::PUT, url.clone())
                        .header(reqwest::header::CONTENT_LENGTH, "0")
                },
                || async {
                    let now = self.reconcile_read("trash", id).await?;
                    Ok::<_, Error>(if now.is_available() {
                        Reconciled::NotApplied
                    } else {
                        Reconciled::Applied(now)
                    })
                },
            )
            .await?;
        self.record_write(&node, &[]);
        Ok(node)
    }

    /// Restore a node from the trash (after an unknown outcome: done if it is available).
    pub async fn restore(&self, id: &str) -> Result<Node> {
        let url = self.metadata_url(&format!("trash/{id}/restore"))?;
        let node: Node = self
            .call_write(
                "restore",
                || {
                    self.request(Method::POST, url.clone())
                        .header(reqwest::header::CONTENT_LENGTH, "0")
                },
                || async {
                    let now = self.reconcile_read("restore", id).await?;
                    Ok::<_, Error>(if now.is_available() {
                        Reconciled::Applied(now)
                    } else {
                        Reconciled::NotApplied
                    })
                },
            )
            .await?;
        self.record_write(&node, &[]);
        Ok(node)
    }

    // ---- account ---------------------------------------------------------------------------

    /// `account/info` (`{"termsOfUse","status"}`).
    pub async fn account_info(&self) -> Result<serde_json::Value> {
        let url = self.metadata_url("account/info")?;
        self.call_json("read account info", || {
            self.request(Method::GET, url.clone())
        })
        .await
    }

    /// The properties an app (`owner`) keeps on a node: `{"data":{key: value}}`.
    pub async fn properties(&self, id: &str, owner: &str) -> Result<serde_json::Value> {
        let url = self.metadata_url(&format!("nodes/{id}/properties/{owner}"))?;
        self.call_json("read properties", || self.request(Method::GET, url.clone()))
            .await
    }

    /// Set one property of a node for an app (at most 10 keys, values up to 500 characters).
    /// Idempotent (the same value put twice is one change), so a plain retried call.
    pub async fn set_property(&self, id: &str, owner: &str, key: &str, value: &str) -> Result<()> {
        let url = self.metadata_url(&format!("nodes/{id}/properties/{owner}/{key}"))?;
        let body = json!({"value": value});
        self.call_unit("set property", || {
            self.request(Method::PUT, url.clone()).json(&body)
        })
        .await
    }

    /// Delete one property of a node (204, no body). Not idempotent (a replay meets 404):
    /// after an unknown outcome the node's properties tell whether it happened.
    pub async fn delete_property(&self, id: &str, owner: &str, key: &str) -> Result<()> {
        let url = self.metadata_url(&format!("nodes/{id}/properties/{owner}/{key}"))?;
        let _: serde_json::Value = self
            .call_write(
                "delete property",
                || self.request(Method::DELETE, url.clone()),
                || async {
                    let now = self.properties(id, owner).await?;
                    Ok::<_, Error>(if now.get("data").and_then(|d| d.get(key)).is_some() {
                        Reconciled::NotApplied
                    } else {
                        Reconciled::Applied(serde_json::Value::Null)
                    })
                },
            )
            .await?;
        Ok(())
    }

    /// `account/quota`.
    pub async fn quota(&self) -> Result<Quota> {
        let url = self.metadata_url("account/quota")?;
        self.call_json("read quota", || self.request(Method::GET, url.clone()))
            .await
    }

    /// `account/usage`.
    pub async fn usage(&self) -> Result<Usage> {
        let url = self.metadata_url("account/usage")?;
        self.call_json("read usage", || self.request(Method::GET, url.clone()))
            .await
    }

    /// One unpaced attempt at `POST changes` after `checkpoint` (`includePurged: "true"`):
    /// the response, whose NDJSON body the caller streams (see [`crate::cache::sync`]).
    pub async fn changes_response(&self, checkpoint: Option<&str>) -> Result<reqwest::Response> {
        let url = self.metadata_url("changes")?;
        let mut body = json!({"includePurged": "true"});
        if let Some(c) = checkpoint {
            body["checkpoint"] = json!(c);
        }
        self.send_once("read changes", self.request(Method::POST, url).json(&body))
            .await
    }

    /// The changes feed after `checkpoint` (all change sets up to the end line).
    pub async fn changes(&self, checkpoint: Option<&str>) -> Result<Vec<ChangeSet>> {
        let url = self.metadata_url("changes")?;
        let mut body = json!({"includePurged": "true"});
        if let Some(c) = checkpoint {
            body["checkpoint"] = json!(c);
        }
        let operation = "read changes";
        let response = self
            .pacer
            .call(operation, |_| {
                self.send_once(
                    operation,
                    self.request(Method::POST, url.clone()).json(&body),
                )
            })
            .await?;
        let url_for_errors = url.clone();
        let text = response
            .text()
            .await
            .map_err(|e| Error::transport(operation, &url_for_errors, e))?;
        let mut sets = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let set: ChangeSet = serde_json::from_str(line).map_err(|e| Error::Protocol {
                operation: operation.into(),
                message: e.to_string(),
            })?;
            let end = set.end;
            sets.push(set);
            if end {
                break;
            }
        }
        Ok(sets)
    }
}

/// True for errors that mean the token was refused.
fn is_auth_failure(e: &Error) -> bool {
    e.status() == Some(401) || e.kind() == ErrorKind::TokenExpired
}

/// Parse a 2xx JSON body.
pub async fn read_json<T: DeserializeOwned>(
    operation: &str,
    response: reqwest::Response,
) -> Result<T> {
    let url = response.url().clone();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Error::transport(operation, &url, e))?;
    // A bodyless success (204) reads as `null`, which only untyped callers accept.
    let parsed = if bytes.is_empty() {
        serde_json::from_value(serde_json::Value::Null)
    } else {
        serde_json::from_slice(&bytes)
    };
    parsed.map_err(|e| Error::Protocol {
        operation: operation.into(),
        message: e.to_string(),
    })
}

fn base_url(text: &str, field: &str) -> Result<url::Url> {
    let mut url = url::Url::parse(text).map_err(|e| Error::Protocol {
        operation: "discover endpoints".into(),
        message: format!("{field} {text:?} is not a URL: {e}"),
    })?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn join(base: &url::Url, path: &str) -> Result<url::Url> {
    base.join(path)
        .map_err(|e| Error::Usage(format!("cannot build a URL for {path:?}: {e}")))
}
