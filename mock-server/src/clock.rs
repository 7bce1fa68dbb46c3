//! The test clock: the time one mock instance believes it is.
//!
//! Every time-dependent behaviour (token and code expiry, tempLink lifetime, cursor TTL, listing
//! lag, phantom delays, rate-limit windows, trash retention) reads the mock's [`Clock`] instead
//! of the system clock. The clock is the system time plus an offset that `POST /_mock/clock`
//! moves forward (`{"advance": "30d"}` or `{"set": time}`), so a test of month-long behaviour
//! runs in milliseconds, as with Stripe's test clocks. The offset only grows: the mock's time
//! never runs backwards, so expiries already passed stay passed and the rate limiters' monotonic
//! instants stay monotonic. Each mock has its own clock (tests run many mocks in one process).
//! The request journal keeps wall time, so its entries line up with the test's own logs.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// The time of one mock: system time plus a forward offset. Cheap to share behind an [`Arc`].
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

/// Why the clock refused to move.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// The asked time is before the mock's current time (the clock never runs backwards).
    #[error("the mock's clock only moves forward: {asked} is before its current time {now}")]
    Backwards {
        /// The asked time, formatted.
        asked: String,
        /// The mock's current time, formatted.
        now: String,
    },
    /// The move would overflow the millisecond timestamps.
    #[error("that is too far in the future")]
    TooFar,
}

impl Clock {
    /// A clock at system time (offset zero).
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// How far ahead of system time the mock is, in milliseconds (never negative).
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Acquire)
    }

    /// The mock's time: milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        crate::util::now_ms().saturating_add(self.offset_ms())
    }

    /// The mock's monotonic time (for rate limits and delays measured with instants).
    pub fn instant(&self) -> Instant {
        let offset = Duration::from_millis(u64::try_from(self.offset_ms()).unwrap_or(0));
        let now = Instant::now();
        now.checked_add(offset).unwrap_or(now)
    }

    /// Moves the clock forward by `by`. Returns the new offset.
    pub fn advance(&self, by: Duration) -> Result<i64, ClockError> {
        let by = i64::try_from(by.as_millis()).map_err(|_| ClockError::TooFar)?;
        let mut result = Err(ClockError::TooFar);
        let _ = self
            .offset_ms
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |offset| {
                let next = offset.checked_add(by)?;
                crate::util::now_ms().checked_add(next)?;
                result = Ok(next);
                Some(next)
            });
        result
    }

    /// Sets the mock's time to `at_ms` (epoch milliseconds); refused when that is before the
    /// mock's current time. Returns the new offset.
    pub fn set(&self, at_ms: i64) -> Result<i64, ClockError> {
        let now = self.now_ms();
        if at_ms < now {
            return Err(ClockError::Backwards {
                asked: crate::util::format_ms(at_ms),
                now: crate::util::format_ms(now),
            });
        }
        self.advance(Duration::from_millis(
            u64::try_from(at_ms - now).unwrap_or(0),
        ))
    }
}

/// The mock clock as a [`governor`] clock, so the rate-limit windows follow it too.
#[derive(Debug, Clone, Default)]
pub struct GovernorClock(pub Arc<Clock>);

impl governor::clock::Clock for GovernorClock {
    type Instant = Instant;

    fn now(&self) -> Instant {
        self.0.instant()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_and_instants_forward() {
        let clock = Clock::new();
        let before = clock.now_ms();
        let instant = clock.instant();
        assert_eq!(
            clock.advance(Duration::from_secs(30 * 86_400)),
            Ok(2_592_000_000)
        );
        assert!(clock.now_ms() >= before + 2_592_000_000);
        assert!(clock.instant() >= instant + Duration::from_secs(30 * 86_400));
    }

    #[test]
    fn the_clock_never_runs_backwards() {
        let clock = Clock::new();
        let past = clock.now_ms() - 1000;
        assert!(matches!(clock.set(past), Err(ClockError::Backwards { .. })));
        assert_eq!(clock.offset_ms(), 0);
        let future = clock.now_ms() + 3_600_000;
        let offset = clock.set(future);
        assert!(offset.is_ok_and(|o| (3_599_000..=3_600_000).contains(&o)));
        assert!(clock.advance(Duration::MAX).is_err());
    }
}
