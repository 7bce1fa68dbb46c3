//! The GCRA rate limits (governor): one per account, one per node.
//!
//! The limiters keep one state per key. Node ids are unbounded (a soak touches thousands), so
//! every [`PRUNE_EVERY`] checks the keys whose state is back to "fresh" (their theoretical
//! arrival time has passed) are dropped: forgetting them changes no verdict, and memory stays
//! proportional to the nodes touched in the last burst window, not to every node ever touched.

use std::num::NonZeroU32;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::Clock;
use governor::{Quota, RateLimiter};

use crate::clock::GovernorClock;
use crate::faults::settings::{RateLimit, Settings};

/// How many checks pass between two prunings of the limiters' key maps.
pub const PRUNE_EVERY: u64 = 4096;

type Keyed<C> = RateLimiter<
    String,
    governor::state::keyed::HashMapStateStore<String>,
    C,
    governor::middleware::NoOpMiddleware<<C as Clock>::Instant>,
>;

/// A limiter with the limit it enforces.
type Limited<C> = Option<(Keyed<C>, RateLimit)>;

/// The limiters for the current settings: per account, per node.
#[derive(Debug)]
pub struct Limits<C: Clock = GovernorClock> {
    inner: RwLock<(Limited<C>, Limited<C>)>,
    clock: C,
    checks: AtomicU64,
}

fn limiter<C: Clock + Clone>(limit: Option<RateLimit>, clock: &C) -> Limited<C> {
    let limit = limit?;
    let rate = NonZeroU32::new(limit.per_second.max(1))?;
    let burst = NonZeroU32::new(limit.burst.max(1))?;
    Some((
        RateLimiter::hashmap_with_clock(Quota::per_second(rate).allow_burst(burst), clock.clone()),
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
    /// Limiters for these settings, on the mock's clock (so advancing it refills the buckets).
    pub fn new(settings: &Settings, clock: std::sync::Arc<crate::clock::Clock>) -> Self {
        Self::with_clock(settings, GovernorClock(clock))
    }
}

impl<C: Clock + Clone> Limits<C> {
    /// Limiters for these settings on `clock` (tests use governor's fake clock).
    pub fn with_clock(settings: &Settings, clock: C) -> Self {
        let limits = Self {
            inner: RwLock::new((None, None)),
            clock,
            checks: AtomicU64::new(0),
        };
        limits.reset(settings);
        limits
    }

    /// Replaces the limiters (their state starts afresh).
    pub fn reset(&self, settings: &Settings) {
        *self.inner.write().unwrap_or_else(|e| e.into_inner()) = (
            limiter(settings.rate_limit, &self.clock),
            limiter(settings.node_rate_limit, &self.clock),
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
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            for (limiter, _) in [&inner.0, &inner.1].into_iter().flatten() {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        }
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

    /// How many keys (accounts, nodes) the limiters hold state for.
    pub fn tracked_keys(&self) -> (usize, usize) {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let len = |l: &Limited<C>| l.as_ref().map_or(0, |(limiter, _)| limiter.len());
        (len(&inner.0), len(&inner.1))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use governor::clock::FakeRelativeClock;

    use super::*;

    fn node_limited(clock: &FakeRelativeClock) -> Limits<FakeRelativeClock> {
        let settings = Settings {
            node_rate_limit: Some(RateLimit {
                per_second: 10,
                burst: 2,
                retry_after: Some(1),
            }),
            ..Settings::default()
        };
        Limits::with_clock(&settings, clock.clone())
    }

    #[test]
    fn idle_nodes_are_forgotten_and_busy_ones_kept() {
        let clock = FakeRelativeClock::default();
        let limits = node_limited(&clock);
        // A busy node, over its burst: its state must survive every pruning.
        assert_eq!(limits.check(None, Some("busy")), Verdict::Allow);
        assert_eq!(limits.check(None, Some("busy")), Verdict::Allow);
        assert_eq!(limits.check(None, Some("busy")), Verdict::Node(Some(1)));
        // Many nodes touched once, then a second passes: all of them are fresh again.
        for i in 0..PRUNE_EVERY / 2 {
            assert_eq!(limits.check(None, Some(&format!("n{i}"))), Verdict::Allow);
        }
        assert_eq!(limits.tracked_keys().1 as u64, PRUNE_EVERY / 2 + 1);
        clock.advance(Duration::from_secs(1));
        // Keep "busy" busy across the pruning that the next checks trigger.
        let mut verdicts = Vec::new();
        for _ in 0..PRUNE_EVERY {
            verdicts.push(limits.check(None, Some("busy")));
        }
        assert!(verdicts.contains(&Verdict::Node(Some(1))));
        let (_, nodes) = limits.tracked_keys();
        assert_eq!(nodes, 1, "only the busy node is still tracked");
        assert_eq!(limits.check(None, Some("busy")), Verdict::Node(Some(1)));
    }
}
