//! The questions handlers ask the fault state, answered with domain values, never responses.
//!
//! Handlers do the service's work; wherever a fault switch or rule may change it, they ask one
//! of these hooks ("what to do with this upload", "which folders of this page are pending",
//! "is this cursor expired", "how long does this tempLink live") and act on the answer. The
//! settings and rules are read here only, so a new fault is a new hook (or a new answer of one)
//! plus the handler line that acts on it. Every hook draws from the seeded generator in the
//! same order the handlers always did, so a seed gives the same faults as before.

use std::time::Duration;

use crate::error::{ApiError, UPLOAD_INCOMPLETE};
use crate::faults::Faults;
use crate::faults::phantom::Appear;
use crate::faults::rule::{Action, RequestFacts, RuleState};
use crate::store::node::{Node, PENDING};

/// How an upload's or overwrite's content is written to the blob store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredContent {
    /// As sent.
    Intact,
    /// With the byte at this offset flipped (the last byte if the content is shorter): a
    /// `corrupt_stored` rule fired, so the blob and its md5 are of damaged content.
    CorruptedAt(u64),
}

impl StoredContent {
    /// The offset of the flipped byte, if any.
    pub fn corrupt_at(self) -> Option<u64> {
        match self {
            Self::Intact => None,
            Self::CorruptedAt(offset) => Some(offset),
        }
    }
}

/// An upload or overwrite whose content has been read whole.
#[derive(Debug, Clone, Copy)]
pub struct FinishedUpload {
    /// The content's size in bytes.
    pub size: u64,
    /// Whether the body came with chunked framing.
    pub chunked: bool,
    /// When the caller's access token expires (epoch ms, mock time), if it does.
    pub token_expires: Option<i64>,
    /// The mock's time now (epoch ms).
    pub now_ms: i64,
}

/// What becomes of a finished upload or overwrite.
#[derive(Debug)]
pub enum UploadFate {
    /// Store it as the service would.
    Store,
    /// Drop the content and answer `error` instead, marked with the fault's name.
    Refuse {
        /// The answer.
        error: ApiError,
        /// The fault, as the journal shows it (`upload_cap`, `empty_chunked`,
        /// `upload_token_expired`).
        fault: &'static str,
    },
    /// A phantom (reference §8.6): answer an error, yet keep the content to appear later.
    Phantom(PhantomPlan),
}

/// A phantom upload or overwrite a rule fired for.
#[derive(Debug)]
pub struct PhantomPlan {
    /// The rule that fired (the journal's fault mark).
    pub rule_id: String,
    /// The error answered in place of the node (408, 500 or 504).
    pub answer: ApiError,
    /// When the content becomes real; `None`: never (the content is dropped).
    pub appear: Option<Appear>,
}

/// How a download is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadFate {
    /// Serve the content.
    Serve,
    /// The large-download block: a 307 to a presigned-style URL (reference §8.7).
    PresignedRedirect,
}

impl Faults {
    /// How the content of this upload or overwrite is written (asked before it is read;
    /// `facts` without a body size). A firing `corrupt_stored` rule gives its `offset` (0 by
    /// default).
    pub fn stored_content(&self, facts: &RequestFacts<'_>) -> StoredContent {
        self.rules()
            .into_iter()
            .filter(|r| matches!(r.rule.action, Action::CorruptStored { .. }))
            .find(|r| r.matches(facts) && r.count_and_decide(|| self.draw()))
            .map_or(StoredContent::Intact, |r| match r.rule.action {
                Action::CorruptStored { offset } => StoredContent::CorruptedAt(offset.unwrap_or(0)),
                _ => StoredContent::CorruptedAt(0),
            })
    }

    /// What becomes of an upload or overwrite whose content was read whole (`facts` with its
    /// body size): refused by the upload cap, the empty-chunked rejection or the token grace
    /// (in that order), else kept back by a firing phantom rule, else stored.
    pub fn finished_upload(&self, facts: &RequestFacts<'_>, upload: &FinishedUpload) -> UploadFate {
        let settings = self.settings();
        let refuse = |error, fault| UploadFate::Refuse { error, fault };
        if settings
            .upload_cap_bytes
            .is_some_and(|cap| upload.size > cap)
        {
            return refuse(ApiError::Upload(UPLOAD_INCOMPLETE), "upload_cap");
        }
        if settings.reject_empty_chunked && upload.chunked && upload.size == 0 {
            return refuse(ApiError::Upload(UPLOAD_INCOMPLETE), "empty_chunked");
        }
        if let (Some(grace), Some(expires)) =
            (settings.upload_token_grace_secs, upload.token_expires)
            && upload.now_ms
                > expires
                    .saturating_add(i64::try_from(grace.saturating_mul(1000)).unwrap_or(i64::MAX))
        {
            return refuse(ApiError::UploadUnauthorized, "upload_token_expired");
        }
        match self.phantom_rule(facts) {
            Some(rule) => UploadFate::Phantom(PhantomPlan {
                rule_id: rule.rule.id.clone(),
                answer: phantom_answer(&rule),
                appear: appear_of(&rule, upload.size, upload.now_ms),
            }),
            None => UploadFate::Store,
        }
    }

    /// The phantom-upload rule that fires for an upload whose size is now known, if any.
    fn phantom_rule(&self, facts: &RequestFacts<'_>) -> Option<std::sync::Arc<RuleState>> {
        self.rules()
            .into_iter()
            .filter(|r| matches!(r.rule.action, Action::PhantomUpload { .. }))
            .find(|r| r.matches(facts) && r.count_and_decide(|| self.draw()))
    }

    /// How a file of `size` bytes is downloaded: through the presigned redirect at or above
    /// the `download_block_bytes` threshold.
    pub fn download(&self, size: u64) -> DownloadFate {
        match self.settings().download_block_bytes {
            Some(threshold) if size >= threshold => DownloadFate::PresignedRedirect,
            _ => DownloadFate::Serve,
        }
    }

    /// Whether a listing cursor issued at `issued_ms` is past the `next_token_ttl_secs`
    /// lifetime at `now_ms` (mock time).
    pub fn next_token_expired(&self, issued_ms: i64, now_ms: i64) -> bool {
        self.settings().next_token_ttl_secs.is_some_and(|ttl| {
            let ttl_ms = i64::try_from(ttl.saturating_mul(1000)).unwrap_or(i64::MAX);
            now_ms.saturating_sub(issued_ms) > ttl_ms
        })
    }

    /// A tempLink's lifetime: the `templink_lifetime_secs` override, else `default`.
    pub fn templink_lifetime(&self, default: Duration) -> Duration {
        self.settings()
            .templink_lifetime_secs
            .map_or(default, Duration::from_secs)
    }

    /// Whether the page of this listing cursor was "lost" by an injected 429; the loss is
    /// consumed, and the caller skips that page (reference §8.3).
    pub fn take_lost_page(&self, cursor: &str) -> bool {
        self.lost_pages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(cursor)
    }

    /// The listing lag of one change (a created, moved, trashed node), in milliseconds (0
    /// when off): how long listings and searches keep showing the old state.
    pub fn listing_lag(&self) -> i64 {
        match self.settings().listing_lag_ms {
            Some(range) => i64::try_from(self.draw_range(range.min, range.max)).unwrap_or(i64::MAX),
            None => 0,
        }
    }

    /// A folder was created with listing lag `hidden_ms` at `now_ms`: with `pending_folder_ms`
    /// on, it is listed as `PENDING` for a drawn lag once its listing lag has passed.
    pub fn folder_created(&self, id: &str, now_ms: i64, hidden_ms: i64) {
        let pending_ms = match self.settings().pending_folder_ms {
            Some(range) => i64::try_from(self.draw_range(range.min, range.max)).unwrap_or(i64::MAX),
            None => 0,
        };
        if pending_ms > 0 {
            let until = now_ms.saturating_add(hidden_ms).saturating_add(pending_ms);
            self.pending_folders.add(id, until);
        }
    }

    /// Marks the folders of a listed page that are still pending at `now_ms` as `PENDING`
    /// (for listings whose filter does not test `status`).
    pub fn mark_pending_folders(&self, nodes: &mut [Node], now_ms: i64) {
        if !self.pending_folders.any(now_ms) {
            return;
        }
        for node in nodes.iter_mut().filter(|n| n.is_folder()) {
            if self.pending_folders.is_pending(&node.id, now_ms) {
                node.status = PENDING.to_string();
            }
        }
    }
}

/// When a phantom fired by `rule` for `size` bytes becomes real; `None` for one that never does.
fn appear_of(rule: &RuleState, size: u64, now: i64) -> Option<Appear> {
    let Action::PhantomUpload {
        delay_ms,
        per_gib_ms,
        after_lookups,
        never,
        ..
    } = &rule.rule.action
    else {
        return None;
    };
    if *never {
        return None;
    }
    Some(match after_lookups {
        Some(n) => Appear::AfterLookups((*n).max(1)),
        None => {
            let per_gib = u128::from(*per_gib_ms) * u128::from(size) / (1u128 << 30);
            let delay = u64::try_from(u128::from(*delay_ms) + per_gib).unwrap_or(u64::MAX);
            Appear::At(now.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX)))
        }
    })
}

/// The error a phantom rule answers (408, 500 or 504, without the node).
fn phantom_answer(rule: &RuleState) -> ApiError {
    let status = match &rule.rule.action {
        Action::PhantomUpload { status, .. } => *status,
        _ => 504,
    };
    match status {
        408 => ApiError::RequestTimeout,
        500 => ApiError::InternalFailure,
        _ => ApiError::GatewayTimeout,
    }
}
