//! The stateful behaviours: switches with parameters, set by a profile or `PUT /_mock/faults/settings`.

use serde::{Deserialize, Serialize};

/// Every stateful behaviour; all off by default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// A GCRA rate limit per account (429 `Rate exceeded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// A GCRA rate limit per node (429 `Concurrent Access on same node`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_rate_limit: Option<RateLimit>,
    /// Files at or above this size are downloaded through a presigned-style redirect that
    /// refuses `Authorization` (reference §8.7). The service's was about 10 GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_block_bytes: Option<u64>,
    /// Listing cursors older than this get 400 `Next token is expired` (Amazon: 10 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token_ttl_secs: Option<u64>,
    /// Uploads above this size fail after the whole body is read (the service: about 50 GiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_cap_bytes: Option<u64>,
    /// Chunked uploads with empty content get 400 (reference §8.13).
    #[serde(default)]
    pub reject_empty_chunked: bool,
    /// An upload that completes this long after its token expired fails with the 400 that
    /// wraps a 401 (the service: 1 h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_token_grace_secs: Option<u64>,
    /// The app was throttled for good: every call gets 429 `{"message":"Rate exceeded"}`.
    #[serde(default)]
    pub app_revoked: bool,
    /// Eventual consistency: new nodes reach searches and listings only after a lag drawn
    /// from this range, and moved nodes keep showing under their old parent for as long;
    /// `GET nodes/{id}` is immediate (reference §8.8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing_lag_ms: Option<LagRange>,
    /// A created folder is listed as `PENDING` for a lag drawn from this range once its
    /// listing lag has passed, then `AVAILABLE` (reference §8.8: non-AVAILABLE folders were
    /// seen briefly); `GET nodes/{id}` shows it `AVAILABLE` throughout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_folder_ms: Option<LagRange>,
    /// tempLink lifetime override, in seconds (the service: 48 h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub templink_lifetime_secs: Option<u64>,
}

/// A range of lags, in milliseconds (each node draws one, from the seeded generator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LagRange {
    /// Shortest lag.
    pub min: u64,
    /// Longest lag.
    pub max: u64,
}

/// A GCRA limit: a sustained rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests per second, sustained.
    pub per_second: u32,
    /// Requests allowed at once.
    pub burst: u32,
    /// `Retry-After` seconds to send with the 429, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}
