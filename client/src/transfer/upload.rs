//! Uploads that survive the service.
//!
//! 1. Overwrite (`PUT content`) when the name exists, else create (`POST nodes` with
//!    `suppress=deduplication`). Zero-byte files go with an explicit `Content-Length: 0`.
//! 2. The body streams from disk through an MD5; memory stays flat.
//! 3. The server's size and MD5 must equal the source's, or the new node is trashed and the
//!    upload fails loudly.
//! 4. A failure after the whole body was sent (408, 500, 502, 504, a cut connection) is never
//!    blindly retried: the name is polled every [`Uploader::poll`] for up to
//!    `upload_wait_per_gb` × size, and a node is accepted only if size AND MD5 match. The
//!    transfer slot is released while waiting.
//! 5. A 409 names the conflicting node: same content → accepted; else it is overwritten.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use futures_util::StreamExt as _;
use md5::{Digest as _, Md5};
use tokio::io::AsyncReadExt as _;
use tokio::sync::Semaphore;

use super::stats::Stats;
use super::{CHUNK, hash_file, hex_md5};
use crate::api::Drive;
use crate::api::model::Node;
use crate::error::{Error, ErrorKind, Result};
use crate::retry::RetryContext;

/// One upload's source.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    /// The local file.
    pub path: &'a Path,
    /// Its size when planned.
    pub size: u64,
}

/// Uploads files to one drive.
#[derive(Debug, Clone)]
pub struct Uploader {
    /// The drive.
    pub drive: Arc<Drive>,
    /// Concurrent transfer slots (held only while bytes flow).
    pub slots: Arc<Semaphore>,
    /// Phantom wait per GiB of file.
    pub wait_per_gb: Duration,
    /// Time between phantom polls.
    pub poll: Duration,
    /// Shared counters.
    pub stats: Arc<Stats>,
}

/// What one attempt produced.
enum Attempt {
    Done(Node),
    Failed { error: Error, body_sent: bool },
}

impl Uploader {
    /// Upload `source` as `name` (already encoded) into folder `parent`. `existing` is the node
    /// that holds the name now, if the caller knows it (then it is overwritten).
    /// The node the service returned is recorded as an own write (read-your-writes).
    pub async fn upload(
        &self,
        parent: &str,
        name: &str,
        source: Source<'_>,
        existing: Option<Node>,
    ) -> Result<Node> {
        let node = self.upload_attempts(parent, name, source, existing).await?;
        self.drive.record_write(&node, &[]);
        Ok(node)
    }

    async fn upload_attempts(
        &self,
        parent: &str,
        name: &str,
        source: Source<'_>,
        existing: Option<Node>,
    ) -> Result<Node> {
        let mut target = existing;
        // Each attempt is paced and recorded by `call_once`; the context counts and bounds them.
        let mut ctx = RetryContext::over_paced_calls(self.drive.pacer(), format!("upload {name}"));
        loop {
            ctx.begin_unpaced();
            let md5_cell = Arc::new(Mutex::new(None::<String>));
            let outcome = {
                let _slot = self
                    .slots
                    .acquire()
                    .await
                    .map_err(|_| Error::Usage("transfers were cancelled".into()))?;
                let renewer = self.keep_token_fresh();
                let outcome = self
                    .attempt(parent, name, &source, target.as_ref(), md5_cell.clone())
                    .await;
                renewer.abort();
                outcome
            };
            let local_md5 = md5_cell.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let (error, body_sent) = match outcome {
                Attempt::Done(node) => {
                    return self
                        .verify(node, &source, local_md5, target.is_none())
                        .await;
                }
                Attempt::Failed { error, body_sent } => (error, body_sent),
            };
            match error.kind() {
                ErrorKind::Conflict => {
                    let Some(id) = error.conflict_node_id().map(str::to_string) else {
                        return Err(error);
                    };
                    let holder = self.drive.node(&id, false).await?;
                    let local = match local_md5 {
                        Some(m) => m,
                        None => self.hash(source.path).await?.0,
                    };
                    if holder.is_file()
                        && holder.size() == source.size
                        && holder.md5() == Some(local.as_str())
                    {
                        tracing::info!(
                            "{name}: the service already has this content (409 names node {id}); accepted"
                        );
                        return Ok(holder);
                    }
                    if !holder.is_file() {
                        return Err(Error::Usage(format!(
                            "{name}: a folder with this name already exists; rename one of them"
                        )));
                    }
                    tracing::info!(
                        "{name}: 409 names node {id} with other content; overwriting it"
                    );
                    if !ctx.retry_anyway() {
                        return Err(ctx.into_error(error));
                    }
                    target = Some(holder);
                }
                _ if body_sent && error.outcome_unknown() => {
                    // The service may have stored it (a phantom, or an answer lost after the
                    // commit): wait for it to appear instead of sending it again blindly.
                    tracing::warn!(
                        "{name}: {error} after the whole file was sent; waiting for it to appear"
                    );
                    let local = match local_md5 {
                        Some(m) => m,
                        None => self.hash(source.path).await?.0,
                    };
                    if let Some(node) = self
                        .wait_for_phantom(parent, name, &source, &local, target.as_ref())
                        .await?
                    {
                        // The wait was the retry: counted once, whether it appears or not.
                        self.drive.pacer().count_retry();
                        return Ok(node);
                    }
                    tracing::warn!("{name}: did not appear; uploading again");
                    if ctx.backoff(&error).is_none() {
                        return Err(ctx.into_error(error));
                    }
                }
                // Nothing was stored (or the body was cut): send it again after the back-off.
                _ => {
                    if ctx.backoff(&error).is_none() {
                        return Err(ctx.into_error(error));
                    }
                    tracing::info!("{name}: uploading again");
                }
            }
        }
    }

    async fn hash(&self, path: &Path) -> Result<(String, u64)> {
        let owned = path.to_path_buf();
        tokio::task::spawn_blocking(move || hash_file(&owned))
            .await
            .map_err(|e| Error::Usage(format!("hashing task failed: {e}")))?
            .map_err(|e| Error::io(format!("read {}", path.display()), e))
    }

    /// While an upload runs, refresh the token before it expires (the service fails uploads
    /// that complete long after the token expired).
    fn keep_token_fresh(&self) -> tokio::task::JoinHandle<()> {
        let auth = self.drive.auth().clone();
        tokio::spawn(async move {
            loop {
                let wait = match auth.expiry().await {
                    Some(expiry) => (expiry - chrono::Utc::now())
                        .to_std()
                        .unwrap_or_default()
                        .saturating_sub(crate::auth::REFRESH_AHEAD),
                    None => return,
                };
                tokio::time::sleep(wait.max(Duration::from_secs(1))).await;
                if let Err(e) = auth.access_token().await {
                    tracing::warn!("could not refresh the token during an upload: {e}");
                    return;
                }
            }
        })
    }

    /// Send the file once.
    async fn attempt(
        &self,
        parent: &str,
        name: &str,
        source: &Source<'_>,
        target: Option<&Node>,
        md5_out: Arc<Mutex<Option<String>>>,
    ) -> Attempt {
        let file = match tokio::fs::File::open(source.path).await {
            Ok(f) => f,
            Err(e) => {
                return Attempt::Failed {
                    error: Error::io(format!("open {}", source.path.display()), e),
                    body_sent: false,
                };
            }
        };
        // Bytes this attempt read, taken back from the totals if the attempt fails.
        let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let content = if source.size == 0 {
            *md5_out.lock().unwrap_or_else(|p| p.into_inner()) = Some(hex_md5(Md5::new()));
            reqwest::multipart::Part::bytes(Vec::new())
        } else {
            let body = hashing_stream(file, self.stats.clone(), sent.clone(), md5_out.clone());
            reqwest::multipart::Part::stream_with_length(
                reqwest::Body::wrap_stream(body),
                source.size,
            )
        };
        // The service ignores the part's filename, but it travels in a part header: a name
        // with control characters (a newline) would break the multipart body.
        let content = match content
            .file_name(part_file_name(name))
            .mime_str("application/octet-stream")
        {
            Ok(p) => p,
            Err(e) => {
                return Attempt::Failed {
                    error: Error::Usage(format!("{name}: {}", e.without_url())),
                    body_sent: false,
                };
            }
        };
        let (operation, request) = match target {
            Some(node) => {
                let url = match self
                    .drive
                    .content_url(&format!("nodes/{}/content", node.id))
                {
                    Ok(u) => u,
                    Err(e) => {
                        return Attempt::Failed {
                            error: e,
                            body_sent: false,
                        };
                    }
                };
                let form = reqwest::multipart::Form::new().part("content", content);
                (
                    format!("overwrite {name}"),
                    self.drive
                        .http()
                        .put(url)
                        .query(&[("suppress", "deduplication")])
                        .multipart(form),
                )
            }
            None => {
                let url = match self.drive.content_url("nodes") {
                    Ok(u) => u,
                    Err(e) => {
                        return Attempt::Failed {
                            error: e,
                            body_sent: false,
                        };
                    }
                };
                let metadata =
                    serde_json::json!({"name": name, "kind": "FILE", "parents": [parent]});
                let form = reqwest::multipart::Form::new()
                    .text("metadata", metadata.to_string())
                    .part("content", content);
                (
                    format!("upload {name}"),
                    self.drive
                        .http()
                        .post(url)
                        .query(&[("suppress", "deduplication")])
                        .multipart(form),
                )
            }
        };
        let result = self
            .drive
            .pacer()
            .call_once(async {
                let response = self.drive.send_once(&operation, request).await?;
                crate::api::read_json::<Node>(&operation, response).await
            })
            .await;
        let body_sent = md5_out.lock().unwrap_or_else(|p| p.into_inner()).is_some();
        match result {
            Ok(node) => Attempt::Done(node),
            Err(error) => {
                self.stats
                    .undo_bytes(sent.load(std::sync::atomic::Ordering::Relaxed));
                Attempt::Failed { error, body_sent }
            }
        }
    }

    /// Check the server's facts against the source; trash a bad new node.
    async fn verify(
        &self,
        node: Node,
        source: &Source<'_>,
        local_md5: Option<String>,
        created: bool,
    ) -> Result<Node> {
        let local = match local_md5 {
            Some(m) => m,
            None => self.hash(source.path).await?.0,
        };
        let size_ok = node.size() == source.size;
        let md5_ok = node.md5() == Some(local.as_str());
        if size_ok && md5_ok {
            return Ok(node);
        }
        let detail = format!(
            "{}: corrupted on transfer: sent {} bytes with md5 {local}, the service stored {} bytes with md5 {}",
            source.path.display(),
            source.size,
            node.size(),
            node.md5().unwrap_or("(none)")
        );
        if created {
            match self.drive.trash(&node.id).await {
                Ok(_) => {
                    return Err(Error::Integrity(format!(
                        "{detail}; the bad copy was moved to the trash"
                    )));
                }
                Err(e) => {
                    return Err(Error::Integrity(format!(
                        "{detail}; trashing the bad copy failed too: {e}"
                    )));
                }
            }
        }
        Err(Error::Integrity(detail))
    }

    /// Poll for a phantom upload; `Some(node)` when it appeared with the right content.
    async fn wait_for_phantom(
        &self,
        parent: &str,
        name: &str,
        source: &Source<'_>,
        md5: &str,
        target: Option<&Node>,
    ) -> Result<Option<Node>> {
        let window = phantom_window(self.wait_per_gb, source.size);
        // A float-to-int cast saturates: a window of centuries gives u64::MAX polls, not a panic.
        let polls = (window.as_secs_f64() / self.poll.as_secs_f64().max(0.001)).ceil() as u64;
        // At least one poll after a pause: for small files the per-GiB window is a few
        // milliseconds, and a single immediate look would re-send a file that appears a moment
        // later, leaving two nodes of one name.
        let polls = polls.max(2);
        // While the service lists the upload as PENDING it is on its way: keep polling past
        // the window, up to this many more polls, instead of sending it again.
        let pending_polls =
            (PENDING_WAIT.as_secs_f64() / self.poll.as_secs_f64().max(0.001)).ceil() as u64;
        let mut extra = 0u64;
        let mut i = 0u64;
        loop {
            i += 1;
            let found = match target {
                Some(old) => self.drive.node(&old.id, false).await.ok(),
                None => self.drive.lookup(parent, name).await.unwrap_or(None),
            };
            if let Some(node) = found
                && node.is_available()
                && node.size() == source.size
                && node.md5() == Some(md5)
            {
                tracing::info!(
                    "{name}: appeared after {i} poll(s) with the right size and md5; accepted"
                );
                return Ok(Some(node));
            }
            if i >= polls {
                let pending = match target {
                    Some(_) => None,
                    None => self.drive.pending_child(parent, name).await.unwrap_or(None),
                };
                if pending.is_none() || extra >= pending_polls {
                    return Ok(None);
                }
                if extra == 0 {
                    tracing::info!("{name}: listed as PENDING; waiting for it to be processed");
                }
                extra += 1;
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

/// How much longer a phantom upload the service lists as PENDING is waited for.
const PENDING_WAIT: Duration = Duration::from_secs(300);

/// How long a phantom upload of `size` bytes may take to appear: `wait_per_gb` per GiB.
/// Saturates at [`Duration::MAX`] instead of panicking when a huge `upload_wait_per_gb` meets
/// a large file.
fn phantom_window(wait_per_gb: Duration, size: u64) -> Duration {
    let secs = wait_per_gb.as_secs_f64() * (size as f64 / (1u64 << 30) as f64);
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
}

/// The `filename` of the content part: the name with control characters replaced.
fn part_file_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect()
}

/// The file as a stream of chunks, hashed as it is read; the hex MD5 is stored at EOF.
fn hashing_stream(
    file: tokio::fs::File,
    stats: Arc<Stats>,
    sent: Arc<std::sync::atomic::AtomicU64>,
    md5_out: Arc<Mutex<Option<String>>>,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    futures_util::stream::unfold(Some((file, Md5::new())), move |state| {
        let stats = stats.clone();
        let sent = sent.clone();
        let md5_out = md5_out.clone();
        async move {
            let (mut file, mut hasher) = state?;
            let mut buf = BytesMut::with_capacity(CHUNK);
            match file.read_buf(&mut buf).await {
                Ok(0) => {
                    *md5_out.lock().unwrap_or_else(|p| p.into_inner()) = Some(hex_md5(hasher));
                    None
                }
                Ok(n) => {
                    hasher.update(&buf);
                    stats.add_bytes(n as u64);
                    sent.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                    Some((Ok(buf.freeze()), Some((file, hasher))))
                }
                Err(e) => Some((Err(e), None)),
            }
        }
    })
    .fuse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phantom_window_scales_with_size_and_saturates() {
        let minute = Duration::from_secs(60);
        assert_eq!(phantom_window(minute, 2 << 30), Duration::from_secs(120));
        assert_eq!(phantom_window(minute, 0), Duration::ZERO);
        let huge = Duration::from_secs(u64::MAX / 2);
        assert_eq!(phantom_window(huge, u64::MAX), Duration::MAX);
        assert_eq!(phantom_window(Duration::MAX, 1 << 40), Duration::MAX);
    }
}
