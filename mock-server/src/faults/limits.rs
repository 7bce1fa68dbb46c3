//! The GCRA rate limits (governor): one per account, one per node.

use std::num::NonZeroU32;
use std::sync::RwLock;

use governor::{Quota, RateLimiter};

use crate::faults::settings::{RateLimit, Settings};

type Keyed = RateLimiter<
    String,
    governor::state::keyed::HashMapStateStore<String>,
    governor::clock::DefaultClock,
>;

/// A limiter with the limit it enforces.
type Limited = Option<(Keyed, RateLimit)>;

/// The limiters for the current settings: per account, per node.
#[derive(Debug, Default)]
pub struct Limits {
    inner: RwLock<(Limited, Limited)>,
}

fn limiter(limit: Option<RateLimit>) -> Limited {
    let limit = limit?;
    let rate = NonZeroU32::new(limit.per_second.max(1))?;
    let burst = NonZeroU32::new(limit.burst.max(1))?;
    Some((
        RateLimiter::hashmap(Quota::per_second(rate).allow_burst(burst)),
        limit,
    ))
}

/// What a limit check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go on.
    Allow,
    /// The account is over its rate: 429 `Rate exceeded`, with this `Retry-After`.
    Account(Option<u64>),
    /// The node is over its rate: 429 `Concurrent Access on same node`.
    Node(Option<u64>),
}

impl Limits {
    /// Limiters for these settings.
    pub fn new(settings: &Settings) -> Self {
        let limits = Self::default();
        limits.reset(settings);
        limits
    }

    /// Replaces the limiters (their state starts afresh).
    pub fn reset(&self, settings: &Settings) {
        *self.inner.write().unwrap_or_else(|e| e.into_inner()) = (
            limiter(settings.rate_limit),
            limiter(settings.node_rate_limit),
        );
    }

    /// Is any limit on?
    pub fn active(&self) -> bool {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.0.is_some() || inner.1.is_some()
    }

    /// Counts one request of `account` (touching `node`, if any) against the limits.
    pub fn check(&self, account: Option<&str>, node: Option<&str>) -> Verdict {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        if let (Some((limiter, limit)), Some(account)) = (&inner.0, account)
            && limiter.check_key(&account.to_string()).is_err()
        {
            return Verdict::Account(limit.retry_after);
        }
        if let (Some((limiter, limit)), Some(node)) = (&inner.1, node)
            && limiter.check_key(&node.to_string()).is_err()
        {
            return Verdict::Node(limit.retry_after);
        }
        Verdict::Allow
    }
}
