//! `GET /_mock/events`: the request journal as server-sent events, entry by entry as the
//! requests finish.
//!
//! Each event is `event: request`, `id: <seq>`, `data: <the journal entry as JSON>` (the same
//! object `/_mock/journal` lists: tokens are never in it). Query parameters: `after=SEQ` first
//! replays the kept entries after that sequence number (a reconnecting `EventSource` sends
//! `Last-Event-ID` for the same effect), and `operation`, `status` (`503`, `5xx`) and `scope`
//! filter as on the dashboard. A subscriber too slow to keep up gets `event: lagged` with the
//! number of entries it missed. Streams end when the server shuts down.
//!
//! ```text
//! curl -N 'http://127.0.0.1:8780/_mock/events?status=5xx'
//! ```

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::{broadcast, watch};

use super::filter::RequestFilter;
use crate::error::{ApiError, ApiResult};
use crate::extract::Params;
use crate::journal::Entry;
use crate::state::AppStateRef;

/// What one stream still has to send.
struct Feed {
    backlog: VecDeque<Entry>,
    live: broadcast::Receiver<Entry>,
    closed: watch::Receiver<bool>,
    filter: RequestFilter,
}

/// The event of one entry.
fn request_event(entry: &Entry) -> Event {
    let data = serde_json::to_string(entry).unwrap_or_else(|_| "{}".into());
    Event::default()
        .event("request")
        .id(entry.seq.to_string())
        .data(data)
}

/// `GET /_mock/events`.
pub async fn events(
    state: AppStateRef,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let filter = RequestFilter::from_params(&params)?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or(params.get("after"))
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| ApiError::bad_request("after must be a sequence number"))
        })
        .transpose()?;
    let (last, live) = state.journal.subscribe();
    let backlog = match resume {
        Some(after) => state
            .journal
            .entries_after(after)
            .into_iter()
            .filter(|e| e.seq <= last)
            .collect(),
        None => VecDeque::new(),
    };
    let feed = Feed {
        backlog,
        live,
        closed: state.journal.closed(),
        filter,
    };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        loop {
            if let Some(entry) = feed.backlog.pop_front() {
                if feed.filter.matches(&entry) {
                    return Some((Ok(request_event(&entry)), feed));
                }
                continue;
            }
            let got = tokio::select! {
                _ = feed.closed.wait_for(|closed| *closed) => return None,
                got = feed.live.recv() => got,
            };
            match got {
                Ok(entry) if feed.filter.matches(&entry) => {
                    return Some((Ok(request_event(&entry)), feed));
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    let event = Event::default().event("lagged").data(missed.to_string());
                    return Some((Ok(event), feed));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
