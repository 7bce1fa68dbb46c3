//! Downloads: streamed to `<dest>.partial`, hashed as they arrive, resumed with `Range` after
//! an interruption, renamed into place only when size and MD5 match.
//!
//! Files at or above `templink_threshold` go through `GET nodes/{id}?tempLink=true` and an
//! unauthenticated GET of the link. Redirects are followed here, dropping `Authorization` for
//! another origin or a presigned URL (`X-Amz-Algorithm`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use md5::{Digest as _, Md5};

use super::hex_md5;
use super::sink::Sink;
use super::stats::Stats;
use crate::api::model::Node;
use crate::api::{Drive, error_from_response};
use crate::error::{Error, ErrorKind, Result};
use crate::http::redirect_drops_auth;
use crate::retry::RetryContext;

/// The most redirects followed for one request.
const MAX_REDIRECTS: usize = 5;

/// Downloads files from one drive.
#[derive(Debug, Clone)]
pub struct Downloader {
    /// The drive.
    pub drive: Arc<Drive>,
    /// Files at or above this size use their tempLink.
    pub templink_threshold: u64,
    /// Shared counters.
    pub stats: Arc<Stats>,
}

/// The `.partial` file next to `dest`.
pub fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    dest.with_file_name(name)
}

/// The bytes to read for `--offset`/`--count` on a file of `size` bytes: `(start, inclusive
/// end)` (`None`: to the end), or `None` when there is nothing to read. `count` `None` means
/// "to the end"; arithmetic saturates, so any input is safe.
pub fn byte_range(offset: u64, count: Option<u64>, size: u64) -> Option<(u64, Option<u64>)> {
    if offset >= size || count == Some(0) {
        return None;
    }
    match count {
        None => Some((offset, None)),
        Some(n) => {
            let end = offset.saturating_add(n - 1).min(size - 1);
            Some((
                offset,
                if end == size - 1 && offset == 0 {
                    None
                } else {
                    Some(end)
                },
            ))
        }
    }
}

/// The `Range` header value for `start` and an optional inclusive `end`.
pub fn range_header(start: u64, end: Option<u64>) -> String {
    match end {
        Some(end) => format!("bytes={start}-{end}"),
        None => format!("bytes={start}-"),
    }
}

impl Downloader {
    /// Open the content of `node`, from byte `start` to `end` inclusive (or the end).
    pub async fn open(
        &self,
        node: &Node,
        start: u64,
        end: Option<u64>,
    ) -> Result<reqwest::Response> {
        let ranged = start > 0 || end.is_some();
        let operation = format!("download {}", node.name());
        if node.size() >= self.templink_threshold {
            return self.open_templink(node, start, end, &operation).await;
        }
        let url = self
            .drive
            .content_url(&format!("nodes/{}/content", node.id))?;
        let drive = &self.drive;
        let response = drive
            .pacer()
            .call(&operation, |_| {
                let url = url.clone();
                let operation = operation.clone();
                async move {
                    let mut request = drive.http().get(url.clone());
                    if ranged {
                        request = request.header(reqwest::header::RANGE, range_header(start, end));
                    }
                    let response = drive.send_once(&operation, request).await?;
                    self.follow(&operation, url, response, start, end, ranged, true)
                        .await
                }
            })
            .await?;
        Ok(response)
    }

    /// GET a tempLink with no Authorization. A link that expired (404/410) is asked for again
    /// once: the expiry is returned as a temporary error, so the renewal is one more attempt of
    /// the call's retry context (counted, paced and bounded like any retry).
    async fn open_templink(
        &self,
        node: &Node,
        start: u64,
        end: Option<u64>,
        operation: &str,
    ) -> Result<reqwest::Response> {
        let ranged = start > 0 || end.is_some();
        let drive = &self.drive;
        let renewed = &std::sync::atomic::AtomicBool::new(false);
        drive
            .pacer()
            .call(operation, |_| async move {
                let with_link = drive.node(&node.id, true).await?;
                let link = with_link.temp_link.ok_or_else(|| Error::Protocol {
                    operation: operation.into(),
                    message: "the node has no tempLink".into(),
                })?;
                let url = url::Url::parse(&link).map_err(|e| Error::Protocol {
                    operation: operation.into(),
                    message: format!("the tempLink is not a URL: {e}"),
                })?;
                let mut request = drive.http().get(url.clone());
                if ranged {
                    request = request.header(reqwest::header::RANGE, range_header(start, end));
                }
                let response = request
                    .send()
                    .await
                    .map_err(|e| Error::transport(operation, &url, e))?;
                // The link was fetched without Authorization: redirects stay without it.
                match self
                    .follow(operation, url, response, start, end, ranged, false)
                    .await
                {
                    // 404 and 410 classify as NotFound: the link expired.
                    Err(e)
                        if e.kind() == ErrorKind::NotFound
                            && !renewed.swap(true, std::sync::atomic::Ordering::SeqCst) =>
                    {
                        Err(Error::unanswered(
                            operation,
                            format!("the tempLink expired ({e}); asking for a new one"),
                        ))
                    }
                    other => other,
                }
            })
            .await
    }

    /// Follow redirects by hand; check the final status. `authorized` says whether the first
    /// request carried the bearer token (a redirect never adds it back).
    #[allow(clippy::too_many_arguments)]
    async fn follow(
        &self,
        operation: &str,
        mut url: url::Url,
        mut response: reqwest::Response,
        start: u64,
        end: Option<u64>,
        ranged: bool,
        mut authorized: bool,
    ) -> Result<reqwest::Response> {
        for _ in 0..MAX_REDIRECTS {
            if !response.status().is_redirection() {
                break;
            }
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| Error::Protocol {
                    operation: operation.into(),
                    message: "a redirect without a Location".into(),
                })?;
            let next = url.join(location).map_err(|e| Error::Protocol {
                operation: operation.into(),
                message: format!("a redirect to a bad URL: {e}"),
            })?;
            authorized = authorized && !redirect_drops_auth(&url, &next);
            let mut request = self.drive.http().get(next.clone());
            if ranged {
                request = request.header(reqwest::header::RANGE, range_header(start, end));
            }
            response = if authorized {
                self.drive.send_once(operation, request).await?
            } else {
                request
                    .send()
                    .await
                    .map_err(|e| Error::transport(operation, &next, e))?
            };
            url = next;
        }
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        Err(error_from_response(operation, response).await)
    }

    /// Download `node` to `dest`, resuming a `.partial` left by an earlier run.
    pub async fn download(&self, node: &Node, dest: &Path) -> Result<()> {
        let partial = partial_path(dest);
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        }
        let size = node.size();
        // Each attempt opens the body through a paced call; a failure while reading it is
        // recorded here (it sets the back-off the next open waits for).
        let mut ctx = RetryContext::new(self.drive.pacer(), format!("download {}", node.name()));
        loop {
            ctx.begin_unpaced();
            let resumed = tokio::fs::metadata(&partial)
                .await
                .is_ok_and(|m| m.len() > 0);
            match self.download_once(node, &partial, size).await {
                Ok(md5) => match self.finish(node, &partial, dest, &md5).await {
                    // A partial file left by an older version of the file: start again once.
                    Err(e)
                        if resumed && e.kind() == ErrorKind::Integrity && ctx.attempts() == 1 =>
                    {
                        tracing::info!(
                            "{}: the partial file did not match; downloading it again",
                            dest.display()
                        );
                    }
                    other => return other,
                },
                Err(e) => {
                    if ctx.backoff(&e).is_none() {
                        return Err(ctx.into_error(e));
                    }
                    tracing::info!("{}: resuming", dest.display());
                }
            }
        }
    }

    /// Hash what is already in the partial file (blocking read off the async threads).
    async fn resume_state(&self, partial: &Path, size: u64) -> Result<(Md5, u64)> {
        let path = partial.to_path_buf();
        let state = tokio::task::spawn_blocking(move || -> std::io::Result<(Md5, u64)> {
            use std::io::Read as _;
            let mut hasher = Md5::new();
            let mut file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((hasher, 0)),
                Err(e) => return Err(e),
            };
            let len = file.metadata()?.len();
            if len > size {
                drop(file);
                std::fs::remove_file(&path)?;
                return Ok((Md5::new(), 0));
            }
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            Ok((hasher, len))
        })
        .await
        .map_err(|e| Error::Usage(format!("hashing task failed: {e}")))?;
        state.map_err(|e| Error::io(format!("read {}", partial.display()), e))
    }

    /// One pass: append the missing bytes to the partial file; returns the full file's MD5.
    async fn download_once(&self, node: &Node, partial: &Path, size: u64) -> Result<String> {
        let (mut hasher, mut have) = self.resume_state(partial, size).await?;
        if have == size {
            // Complete already (or empty): make sure the partial file exists to be renamed.
            tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(partial)
                .await
                .map_err(|e| Error::io(format!("create {}", partial.display()), e))?;
            return Ok(hex_md5(hasher));
        }
        let mut response = self.open(node, have, None).await?;
        if have > 0 && response.status() != reqwest::StatusCode::PARTIAL_CONTENT {
            // The server ignored Range: start over.
            hasher = Md5::new();
            have = 0;
        }
        let mut options = std::fs::OpenOptions::new();
        options.create(true).write(true);
        if have > 0 {
            options.append(true);
        } else {
            options.truncate(true);
        }
        let file = options
            .open(partial)
            .map_err(|e| Error::io(format!("open {}", partial.display()), e))?;
        // Hashing and writing run on their own threads; this loop only receives.
        let sink = Sink::start(hasher, file);
        let url = response.url().clone();
        let operation = format!("download {}", node.name());
        let mut failed = None;
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => {
                    // What arrived is kept (written and synced) for the resume.
                    failed = Some(Error::transport(&operation, &url, e));
                    break;
                }
            };
            have += chunk.len() as u64;
            self.stats.add_bytes(chunk.len() as u64);
            if sink.push(chunk).await.is_err() {
                break;
            }
        }
        let hasher = sink
            .finish()
            .await
            .map_err(|e| Error::io(format!("write {}", partial.display()), e))?;
        if let Some(e) = failed {
            return Err(e);
        }
        if have < size {
            return Err(Error::unanswered(
                operation,
                format!("the connection ended after {have} of {size} bytes"),
            ));
        }
        Ok(hex_md5(hasher))
    }

    /// Verify and rename into place; a mismatch removes the partial file.
    async fn finish(&self, node: &Node, partial: &Path, dest: &Path, md5: &str) -> Result<()> {
        let len = tokio::fs::metadata(partial)
            .await
            .map_err(|e| Error::io(format!("stat {}", partial.display()), e))?
            .len();
        let expected = node.md5();
        if len != node.size() || expected.is_some_and(|m| m != md5) {
            let _ = tokio::fs::remove_file(partial).await;
            return Err(Error::Integrity(format!(
                "{}: corrupted on transfer: got {len} bytes with md5 {md5}, the service says {} bytes with md5 {}; the partial file was removed, run the command again",
                dest.display(),
                node.size(),
                expected.unwrap_or("(none)")
            )));
        }
        tokio::fs::rename(partial, dest).await.map_err(|e| {
            Error::io(
                format!("rename {} to {}", partial.display(), dest.display()),
                e,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn byte_ranges_stay_inside_the_file(offset in any::<u64>(), count in proptest::option::of(any::<u64>()), size in 0u64..1 << 40) {
            match byte_range(offset, count, size) {
                None => prop_assert!(offset >= size || count == Some(0)),
                Some((start, end)) => {
                    prop_assert_eq!(start, offset);
                    prop_assert!(start < size);
                    let last = end.unwrap_or(size - 1);
                    prop_assert!(last >= start && last < size);
                    let len = last - start + 1;
                    if let Some(n) = count {
                        prop_assert_eq!(len, n.min(size - start));
                    } else {
                        prop_assert_eq!(len, size - start);
                    }
                }
            }
        }

        #[test]
        fn range_headers_name_the_bytes(start in any::<u64>(), end in proptest::option::of(any::<u64>())) {
            let header = range_header(start, end);
            let spec = header.strip_prefix("bytes=").unwrap_or_default();
            let (a, b) = spec.split_once('-').unwrap_or_default();
            prop_assert_eq!(a.parse::<u64>().ok(), Some(start));
            prop_assert_eq!(b.parse::<u64>().ok(), end);
        }
    }
}
