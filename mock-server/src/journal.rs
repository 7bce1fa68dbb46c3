//! The request journal: what each request was, what it got, and how long it took.
//!
//! Kept in memory, bounded (the oldest entries go first). Secrets never enter it: the
//! `Authorization` header is recorded only as its scheme, and token-bearing query parameters
//! are redacted.
//!
//! Each entry is also broadcast as it is recorded, for `/_mock/events` (server-sent events) and
//! the dashboard's live request list.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;
use tokio::sync::{broadcast, watch};

use crate::faults::respond::is_reset;
use crate::marks::{AccountSlot, Committed, Fired};
use crate::operation::Operation;
use crate::util::{format_ms, logref, now_ms};

/// How many entries the journal keeps.
pub const CAPACITY: usize = 10_000;

/// One journaled request.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Sequence number, from 1.
    pub seq: u64,
    /// When the request arrived.
    pub time: String,
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Query string with secrets redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The operation it was classified as.
    pub operation: Operation,
    /// Response status.
    pub status: u16,
    /// Time to the response head, in milliseconds.
    pub duration_ms: f64,
    /// `Bearer <redacted>`, `Basic <redacted>`, or absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<String>,
    /// The `x-acd-mock-scope` header, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The fault rule (or behaviour) that fired on this request, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// For an `after_commit` fault: the status the handler answered (the write it applied)
    /// before the fault replaced or cut the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub committed: Option<u16>,
    /// The email of the account the request acted for, when its access token was valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// How many entries a slow live subscriber may fall behind before it misses some.
pub const LIVE_BACKLOG: usize = 1024;

/// The bounded journal. Cloning it is cheap and shares the entries (the journal middleware
/// holds a clone).
#[derive(Debug, Clone)]
pub struct Journal {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    inner: Mutex<(u64, VecDeque<Entry>)>,
    live: broadcast::Sender<Entry>,
    closed: watch::Sender<bool>,
}

impl Default for Journal {
    fn default() -> Self {
        Self {
            shared: Arc::new(Shared {
                inner: Mutex::default(),
                live: broadcast::channel(LIVE_BACKLOG).0,
                closed: watch::channel(false).0,
            }),
        }
    }
}

impl Journal {
    /// Adds an entry, giving it the next sequence number, and broadcasts it to live subscribers.
    pub fn push(&self, mut entry: Entry) {
        let mut inner = self.shared.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.0 += 1;
        entry.seq = inner.0;
        if inner.1.len() == CAPACITY {
            inner.1.pop_front();
        }
        inner.1.push_back(entry.clone());
        // Sent under the lock, so subscribers see entries in sequence order. No subscriber: fine.
        let _ = self.shared.live.send(entry);
    }

    /// Entries as they are recorded from now on, and the sequence number of the last entry
    /// recorded before (read together: the receiver gets exactly the entries after it; see
    /// [`Journal::entries_after`] for the backlog up to it).
    pub fn subscribe(&self) -> (u64, broadcast::Receiver<Entry>) {
        let inner = self.shared.inner.lock().unwrap_or_else(|e| e.into_inner());
        (inner.0, self.shared.live.subscribe())
    }

    /// The kept entries with a sequence number above `seq`, oldest first.
    pub fn entries_after(&self, seq: u64) -> Vec<Entry> {
        let inner = self.shared.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.1.iter().filter(|e| e.seq > seq).cloned().collect()
    }

    /// The sequence number of the latest entry (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.shared
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
    }

    /// The kept entry with this sequence number.
    pub fn entry(&self, seq: u64) -> Option<Entry> {
        let inner = self.shared.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.1.iter().find(|e| e.seq == seq).cloned()
    }

    /// Ends every live stream (the server is shutting down: open event streams would otherwise
    /// keep the graceful shutdown waiting forever).
    pub fn close_streams(&self) {
        self.shared.closed.send_replace(true);
    }

    /// Turns `true` when the server shuts down.
    pub fn closed(&self) -> watch::Receiver<bool> {
        self.shared.closed.subscribe()
    }

    /// The last `limit` entries, oldest first, optionally only of one operation.
    pub fn entries(&self, limit: usize, operation: Option<Operation>) -> Vec<Entry> {
        let inner = self.shared.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut picked: Vec<Entry> = inner
            .1
            .iter()
            .rev()
            .filter(|e| operation.is_none_or(|op| e.operation == op))
            .take(limit)
            .cloned()
            .collect();
        picked.reverse();
        picked
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        self.shared
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clear();
    }
}

/// Redacts the values of query parameters that carry secrets.
pub fn redact_query(query: &str) -> String {
    const SECRET: [&str; 6] = [
        "access_token",
        "refresh_token",
        "code",
        "client_secret",
        "password",
        "token",
    ];
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if SECRET.contains(&k) => format!("{k}=<redacted>"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Middleware: classifies the request (the [`Operation`] goes into its extensions for the
/// layers and handlers after it), gives the response an `x-amzn-RequestId` as the service did,
/// and journals it with its final status.
pub async fn record(State(journal): State<Journal>, request: Request, next: Next) -> Response {
    journaled(&journal, request, |request| next.run(request)).await
}

/// Journals one request served by `serve` (the [`record`] middleware's work, also used by the
/// serving loop for `CONNECT`, which never reaches the router).
pub async fn journaled<F, Fut>(journal: &Journal, mut request: Request, serve: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let started = Instant::now();
    let time = format_ms(now_ms());
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(redact_query);
    let operation = Operation::classify(&method, &path, request.uri().query());
    request.extensions_mut().insert(operation);
    let account = AccountSlot::default();
    request.extensions_mut().insert(account.clone());
    let authorization = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| format!("{} <redacted>", v.split(' ').next().unwrap_or("")));
    let scope = request
        .headers()
        .get("x-acd-mock-scope")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut response = serve(request).await;
    if let Ok(id) = axum::http::HeaderValue::from_str(&logref()) {
        response.headers_mut().insert("x-amzn-requestid", id);
    }
    // A reset sends nothing: the journal records status 0.
    let status = if is_reset(&response) {
        0
    } else {
        response.status().as_u16()
    };
    let fault = response.extensions().get::<Fired>().map(|f| f.0.clone());
    let committed = response.extensions().get::<Committed>().map(|c| c.0);
    tracing::info!(%method, %path, %operation, status, elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "request");
    if operation != Operation::Admin {
        journal.push(Entry {
            seq: 0,
            time,
            method: method.to_string(),
            path,
            query,
            operation,
            status,
            duration_ms: started.elapsed().as_secs_f64() * 1e3,
            authorization,
            scope,
            fault,
            committed,
            account: account.0.get().cloned(),
        });
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_queries_are_redacted() {
        assert_eq!(
            redact_query("access_token=Atza|x&filters=a"),
            "access_token=<redacted>&filters=a"
        );
    }

    #[test]
    fn journal_is_bounded_and_numbered() {
        let j = Journal::default();
        for _ in 0..CAPACITY + 5 {
            j.push(Entry {
                seq: 0,
                time: String::new(),
                method: "GET".into(),
                path: "/".into(),
                query: None,
                operation: Operation::Other,
                status: 200,
                duration_ms: 0.0,
                authorization: None,
                scope: None,
                fault: None,
                committed: None,
                account: None,
            });
        }
        let all = j.entries(usize::MAX, None);
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(all.last().map(|e| e.seq), Some((CAPACITY + 5) as u64));
        assert_eq!(j.last_seq(), (CAPACITY + 5) as u64);
        assert_eq!(j.entries_after((CAPACITY + 3) as u64).len(), 2);
        assert!(j.entry(1).is_none(), "the oldest entries are gone");
    }

    #[tokio::test]
    async fn entries_are_broadcast_as_recorded() {
        let j = Journal::default();
        let (before, mut live) = j.subscribe();
        assert_eq!(before, 0);
        for status in [200, 503] {
            j.push(Entry {
                seq: 0,
                time: String::new(),
                method: "GET".into(),
                path: "/".into(),
                query: None,
                operation: Operation::Other,
                status,
                duration_ms: 0.0,
                authorization: None,
                scope: None,
                fault: None,
                committed: None,
                account: None,
            });
        }
        let first = live.recv().await.unwrap_or_else(|e| panic!("{e}"));
        let second = live.recv().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((first.seq, first.status), (1, 200));
        assert_eq!((second.seq, second.status), (2, 503));
        let mut closed = j.closed();
        j.close_streams();
        assert!(closed.wait_for(|c| *c).await.is_ok());
    }
}
