//! `POST changes`: the account's change feed as newline-delimited JSON (reference §6.13, §12.4).
//!
//! Each node change gets the next number of the account's feed; a checkpoint is that number
//! plus the account's feed generation. Without a checkpoint the feed starts from the beginning
//! (the full state, the root included). A checkpoint from another generation (after a reset)
//! or one that cannot be read restarts from the beginning with `reset: true`. Lines carry
//! `chunkSize` nodes each (default 200) and the feed stops after `maxNodes` (soft cap); when
//! nothing changed, one line with no nodes carries the current checkpoint. Nodes purged through
//! the admin API (`POST /_mock/purge`, standing in for the service's 30-day trash purge) appear
//! with `status: "PURGED"` (and their last kind, name and parents) when `includePurged` is
//! true (`true` or `"true"`); without it they are left out.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::read_json;
use crate::state::AppState;
use crate::state::AppStateRef;

/// A number or a string holding one (go-acd and acd_cli send some fields as strings).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Loose {
    Number(u64),
    Text(String),
    Bool(bool),
}

impl Loose {
    fn truthy(&self) -> bool {
        match self {
            Self::Bool(b) => *b,
            Self::Text(s) => s.trim().eq_ignore_ascii_case("true"),
            Self::Number(n) => *n != 0,
        }
    }

    fn number(&self) -> Option<u64> {
        match self {
            Self::Number(n) => Some(*n),
            Self::Text(s) => s.trim().parse().ok(),
            Self::Bool(_) => None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangesBody {
    checkpoint: Option<String>,
    chunk_size: Option<Loose>,
    max_nodes: Option<Loose>,
    include_purged: Option<Loose>,
}

fn checkpoint(epoch: &str, seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{epoch}:{seq}"))
}

fn parse_checkpoint(epoch: &str, text: &str) -> Option<i64> {
    let raw = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (e, seq) = raw.rsplit_once(':')?;
    (e == epoch).then(|| seq.parse().ok()).flatten()
}

/// `POST changes`.
pub async fn changes(state: AppStateRef, caller: Caller, request: Request) -> ApiResult<Response> {
    let body: ChangesBody =
        read_json(request.into_body(), state.config.max_json_body, true).await?;
    let chunk = match &body.chunk_size {
        Some(v) => v
            .number()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| ApiError::bad_request("chunkSize must be a number from 1 to 10000"))?,
        None => 200,
    };
    let max_nodes = match &body.max_nodes {
        Some(v) => v
            .number()
            .ok_or_else(|| ApiError::bad_request("maxNodes must be a number"))?,
        None => u64::MAX,
    };
    let epoch = caller.account.epoch.clone();
    let (after, reset) = match body.checkpoint.as_deref().filter(|c| !c.is_empty()) {
        None => (-1, false),
        Some(text) => match parse_checkpoint(&epoch, text) {
            Some(seq) => (seq, false),
            None => (-1, true),
        },
    };
    let feed = Feed {
        state: Arc::clone(&state.0),
        account: caller.account.id,
        epoch,
        after,
        reset,
        include_purged: body.include_purged.as_ref().is_some_and(Loose::truthy),
        chunk: u32::try_from(chunk).unwrap_or(200),
        remaining: max_nodes,
        lines: 0,
        done: false,
    };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        let line = feed.next_line()?;
        Some((line, feed))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

struct Feed {
    state: Arc<AppState>,
    account: i64,
    epoch: String,
    after: i64,
    reset: bool,
    include_purged: bool,
    chunk: u32,
    remaining: u64,
    lines: u64,
    done: bool,
}

impl Feed {
    /// The next line of the stream: change lines, then `{"end":true}`, then nothing.
    fn next_line(&mut self) -> Option<Result<Bytes, ApiError>> {
        if self.done {
            return None;
        }
        let want = u64::from(self.chunk).min(self.remaining);
        let nodes = if want == 0 {
            Vec::new()
        } else {
            match self.state.meta.changes(
                self.account,
                self.after,
                u32::try_from(want).unwrap_or(self.chunk),
                self.include_purged,
            ) {
                Ok(nodes) => nodes,
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
        };
        if nodes.is_empty() && self.lines > 0 {
            self.done = true;
            return Some(Ok(Bytes::from_static(b"{\"end\":true}\n")));
        }
        if nodes.is_empty() {
            // Nothing changed: one line with the current checkpoint.
            self.after = match self.state.meta.change_seq(self.account) {
                Ok(seq) => seq.max(self.after),
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            };
        }
        if let Some((seq, _)) = nodes.last() {
            self.after = *seq;
        }
        self.remaining = self.remaining.saturating_sub(nodes.len() as u64);
        self.lines += 1;
        let line = json!({
            "checkpoint": checkpoint(&self.epoch, self.after),
            "nodes": nodes.into_iter().map(|(_, n)| n).collect::<Vec<_>>(),
            "reset": self.reset && self.lines == 1,
            "statusCode": 200,
        });
        let mut text = line.to_string();
        text.push('\n');
        Some(Ok(Bytes::from(text)))
    }
}
