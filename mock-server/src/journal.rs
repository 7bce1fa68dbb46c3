//! The request journal: what each request was, what it got, and how long it took.
//!
//! Kept in memory, bounded (the oldest entries go first). Secrets never enter it: the
//! `Authorization` header is recorded only as its scheme, and token-bearing query parameters
//! are redacted.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;

use crate::app::AppState;
use crate::operation::Operation;
use crate::util::{format_ms, now_ms};

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
}

/// The bounded journal.
#[derive(Debug, Default)]
pub struct Journal {
    inner: Mutex<(u64, VecDeque<Entry>)>,
}

impl Journal {
    /// Adds an entry, giving it the next sequence number.
    pub fn push(&self, mut entry: Entry) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.0 += 1;
        entry.seq = inner.0;
        if inner.1.len() == CAPACITY {
            inner.1.pop_front();
        }
        inner.1.push_back(entry);
    }

    /// The last `limit` entries, oldest first, optionally only of one operation.
    pub fn entries(&self, limit: usize, operation: Option<Operation>) -> Vec<Entry> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
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
        self.inner
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
pub async fn record(
    State(state): State<std::sync::Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let time = format_ms(now_ms());
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(redact_query);
    let operation = Operation::classify(&method, &path, request.uri().query());
    request.extensions_mut().insert(operation);
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
    let mut response = next.run(request).await;
    if let Ok(id) = axum::http::HeaderValue::from_str(&crate::util::logref()) {
        response.headers_mut().insert("x-amzn-requestid", id);
    }
    // A reset sends nothing: the journal records status 0.
    let status = if crate::faults::respond::is_reset(&response) {
        0
    } else {
        response.status().as_u16()
    };
    let fault = response
        .extensions()
        .get::<crate::faults::layer::Fired>()
        .map(|f| f.0.clone());
    tracing::info!(%method, %path, %operation, status, elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "request");
    if operation != Operation::Admin {
        state.journal.push(Entry {
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
            });
        }
        let all = j.entries(usize::MAX, None);
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(all.last().map(|e| e.seq), Some((CAPACITY + 5) as u64));
    }
}
