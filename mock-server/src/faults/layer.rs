//! The fault layer: every classified request passes here before its handler.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use crate::faults::Faults;
use crate::faults::limits::Verdict;
use crate::faults::respond::{self, with_retry_after};
use crate::faults::rule::{Action, ErrorPreset, RequestFacts, RuleState, When};
use crate::operation::{Operation, node_of};
use crate::store::meta::MetaStore;
use crate::tokens::caller_of;

pub use crate::marks::{Committed, Fired, mark};

/// What the fault layer and the fault admin API need of the server: the fault state, the
/// metadata store (to resolve a request's bearer token to its account) and the JSON body limit.
/// A sub-state of [`crate::state::AppState`] (axum `FromRef`).
#[derive(Debug, Clone)]
pub struct FaultGate {
    /// Fault rules, switches and their state.
    pub faults: Arc<Faults>,
    /// The metadata store.
    pub meta: Arc<MetaStore>,
    /// The largest JSON body the admin API reads.
    pub max_json_body: usize,
}

/// The email of the account behind the request's bearer token, if valid.
pub fn account_of(meta: &MetaStore, request: &Request) -> Option<String> {
    caller_of(meta, request.headers())
        .ok()
        .flatten()
        .map(|(account, _)| account.email)
}

/// The facts rules match on.
fn facts<'a>(
    request: &'a Request,
    operation: Operation,
    account: Option<&'a str>,
) -> RequestFacts<'a> {
    RequestFacts {
        operation,
        method: request.method().as_str(),
        path: request.uri().path(),
        scope: request
            .headers()
            .get("x-acd-mock-scope")
            .and_then(|v| v.to_str().ok()),
        account,
        body_size: request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()),
    }
}

/// Middleware: the stateful switches, then the first rule that matches and fires.
pub async fn apply(State(gate): State<FaultGate>, request: Request, next: Next) -> Response {
    let operation = request
        .extensions()
        .get::<Operation>()
        .copied()
        .unwrap_or(Operation::Other);
    if matches!(operation, Operation::Admin | Operation::Connect) {
        return next.run(request).await;
    }
    let faults = &gate.faults;
    if faults.settings().app_revoked {
        return mark(
            respond::preset(ErrorPreset::RateExceededBare),
            "app_revoked",
        );
    }
    let rules = faults.rules();
    let wants_account =
        faults.limits.active() || rules.iter().any(|r| r.rule.matcher.account.is_some());
    let account = if wants_account {
        account_of(&gate.meta, &request)
    } else {
        None
    };
    match faults
        .limits
        .check(account.as_deref(), node_of(request.uri().path()))
    {
        Verdict::Allow => {}
        Verdict::Account(retry) => {
            drain(request).await;
            return mark(
                with_retry_after(respond::preset(ErrorPreset::RateExceeded), retry),
                "rate_limit",
            );
        }
        Verdict::Node(retry) => {
            drain(request).await;
            return mark(
                with_retry_after(respond::preset(ErrorPreset::ConcurrentAccess), retry),
                "node_rate_limit",
            );
        }
    }
    let fired = {
        let facts = facts(&request, operation, account.as_deref());
        rules
            .into_iter()
            // Phantom uploads are decided by the upload handler, which knows the real size.
            // So is a stored corruption, which acts on the content as it is stored.
            .filter(|r| {
                !matches!(
                    r.rule.action,
                    Action::PhantomUpload { .. } | Action::CorruptStored { .. }
                )
            })
            .find(|r| r.matches(&facts) && r.count_and_decide(|| faults.draw()))
    };
    match fired {
        Some(rule) if rule.rule.when == When::AfterCommit => {
            let id = rule.rule.id.clone();
            mark(after_commit(&rule, request, next).await, &id)
        }
        Some(rule) => {
            let id = rule.rule.id.clone();
            mark(act(faults, &rule, operation, request, next).await, &id)
        }
        None => next.run(request).await,
    }
}

/// The most of a refused request's body the mock reads before answering.
const DRAIN_LIMIT: usize = 1 << 20;

/// Reads (and drops) a small request body before an error answer is served in place of the
/// handler's. Answering while the client is still sending makes the server close the
/// connection with the body unread, and the client then sees a reset instead of the answer
/// (its `Retry-After` lost) or the answer, by a race. A front end that buffers requests, as
/// the service's did, answers after the request; bodies above 1 MiB are not read (the choice
/// is in docs/mock-behaviour.md).
async fn drain(request: Request) {
    let _ = axum::body::to_bytes(request.into_body(), DRAIN_LIMIT).await;
}

/// Handles the request (its write is applied to the store), then serves the rule's failure
/// in place of the answer: the client cannot tell whether the write happened.
async fn after_commit(rule: &RuleState, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let committed = Committed(response.status().as_u16());
    let mut failed = match &rule.rule.action {
        Action::Error { error, retry_after } => {
            with_retry_after(respond::preset(*error), *retry_after)
        }
        Action::Status {
            status,
            message,
            retry_after,
        } => with_retry_after(respond::status(*status, message.as_deref()), *retry_after),
        Action::Stall { ms } => {
            tokio::time::sleep(std::time::Duration::from_millis(*ms)).await;
            respond::reset()
        }
        Action::CutBody { after_bytes } => respond::cut_body(response, *after_bytes),
        // Validation admits only the actions above; a reset is the safe reading of the rest.
        _ => respond::reset(),
    };
    failed.extensions_mut().insert(committed);
    failed
}

async fn act(
    faults: &Faults,
    rule: &RuleState,
    operation: Operation,
    request: Request,
    next: Next,
) -> Response {
    match &rule.rule.action {
        Action::Error { error, retry_after } => {
            drain(request).await;
            with_retry_after(respond::preset(*error), *retry_after)
        }
        Action::Status {
            status,
            message,
            retry_after,
        } => {
            drain(request).await;
            with_retry_after(respond::status(*status, message.as_deref()), *retry_after)
        }
        Action::Reset => respond::reset(),
        Action::Latency { ms, min_ms, max_ms } => {
            let wait = match (ms, min_ms, max_ms) {
                (Some(ms), _, _) => *ms,
                (None, Some(a), Some(b)) => faults.draw_range(*a, *b),
                _ => 0,
            };
            tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            next.run(request).await
        }
        Action::Stall { ms } => {
            tokio::time::sleep(std::time::Duration::from_millis(*ms)).await;
            respond::reset()
        }
        Action::CutBody { after_bytes } => respond::cut_body(next.run(request).await, *after_bytes),
        Action::CorruptByte { offset } => {
            let response = next.run(request).await;
            let length = response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1);
            let at = offset.unwrap_or_else(|| faults.draw_range(0, length.saturating_sub(1)));
            respond::corrupt_byte(response, at)
        }
        Action::LostPage => {
            let listing = matches!(
                operation,
                Operation::List | Operation::Lookup | Operation::Root
            );
            if listing
                && let Some(token) = request.uri().query().and_then(|q| {
                    form_urlencoded::parse(q.as_bytes())
                        .find(|(k, _)| k == "startToken")
                        .map(|(_, v)| v.into_owned())
                })
            {
                faults
                    .lost_pages
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(token);
            }
            respond::preset(ErrorPreset::RateExceeded)
        }
        Action::PhantomUpload { .. } | Action::CorruptStored { .. } => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_found_in_paths() {
        assert_eq!(node_of("/drive/v1/nodes/abc"), Some("abc"));
        assert_eq!(node_of("/cdproxy/nodes/abc/content"), Some("abc"));
        assert_eq!(node_of("/drive/v1/trash/abc"), Some("abc"));
        assert_eq!(node_of("/drive/v1/nodes"), None);
    }
}
