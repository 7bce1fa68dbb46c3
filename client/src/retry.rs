//! One retry context for every retry loop of the client (object_store's `RetryContext` is the
//! model): the pacer's call loop, listing restarts, uploads, download resumes and the token
//! endpoint all count attempts, bound time and decide "exhausted" here, the same way.
//!
//! The rules, in one place:
//! - an attempt starts with [`RetryContext::begin`] (paced by the remote's [`Pacer`]) or
//!   [`RetryContext::begin_unpaced`] (when the attempt is made of calls paced on their own);
//! - after a failure, [`RetryContext::backoff`] says whether to try again: only a temporary
//!   error ([`Error::is_temporary`]) is retried, and only within
//!   [`crate::pacer::PacerConfig::attempts`] and [`crate::pacer::PacerConfig::budget`];
//!   each retry is counted once, on the pacer (the one counter the summary shows);
//! - [`RetryContext::into_error`] turns the last error into the result: when retries ran out it
//!   is [`Error::RetriesExhausted`] with the attempts and the elapsed time, which is permanent,
//!   so an outer loop never multiplies an inner one.
//!
//! Writes whose outcome is unknown ([`Error::outcome_unknown`]) are reconciled by the caller
//! before it asks for a retry (see [`crate::api::Drive`]'s write calls).

use std::time::Duration;

use tokio::time::Instant;

use crate::error::Error;
use crate::pacer::Pacer;

/// The retry state of one logical operation (which may span several requests).
#[derive(Debug)]
pub struct RetryContext<'p> {
    pacer: &'p Pacer,
    what: String,
    attempts: u32,
    started: Instant,
    records: bool,
    exhausted: bool,
    max_attempts: u32,
}

impl<'p> RetryContext<'p> {
    /// A context whose attempts are single requests: a failure is recorded on the pacer (it
    /// sets the shared back-off).
    pub fn new(pacer: &'p Pacer, what: impl Into<String>) -> Self {
        Self {
            pacer,
            what: what.into(),
            attempts: 0,
            started: Instant::now(),
            records: true,
            exhausted: false,
            max_attempts: pacer.config().attempts,
        }
    }

    /// The same context with at most `attempts` attempts (never more than the pacer allows).
    pub fn at_most(mut self, attempts: u32) -> Self {
        self.max_attempts = self.max_attempts.min(attempts.max(1));
        self
    }

    /// A context whose attempts are made of calls that pace and record themselves (listing
    /// pages, upload attempts, download reads): a failure is not recorded twice.
    pub fn over_paced_calls(pacer: &'p Pacer, what: impl Into<String>) -> Self {
        Self {
            records: false,
            ..Self::new(pacer, what)
        }
    }

    /// Attempts started so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Time since the context was made.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Start an attempt after the pacer's turn (and any back-off) has come.
    pub async fn begin(&mut self) {
        self.pacer.pace().await;
        self.attempts += 1;
    }

    /// Start an attempt without waiting (its calls are paced on their own).
    pub fn begin_unpaced(&mut self) {
        self.attempts += 1;
    }

    /// True when no further attempt is allowed: the attempt limit is reached or the time
    /// budget is spent (`delay` ahead counted).
    pub fn exhausted(&self, delay: Duration) -> bool {
        self.attempts >= self.max_attempts || self.elapsed() + delay > self.pacer.config().budget
    }

    /// After a failed attempt: `Some(delay)` when it may be tried again after the back-off
    /// (the retry is counted and logged), `None` when the error is permanent or retries are
    /// exhausted (then [`RetryContext::into_error`] gives the error to return).
    pub fn backoff(&mut self, error: &Error) -> Option<Duration> {
        if !error.is_temporary() {
            if self.records {
                // A permanent answer still ends the run of consecutive failures.
                self.pacer.record(Some(error));
            }
            return None;
        }
        let delay = if self.records {
            self.pacer.record(Some(error))
        } else {
            self.pacer.pending_wait()
        };
        if self.exhausted(delay) {
            self.exhausted = true;
            return None;
        }
        self.pacer.count_retry();
        tracing::info!(
            "{}: {error}; retry {}/{} in {delay:.2?}",
            self.what,
            self.attempts,
            self.max_attempts.saturating_sub(1)
        );
        Some(delay)
    }

    /// Counts a retry decided outside [`RetryContext::backoff`] (a phantom upload's wait, a
    /// changed upload target): `false` when none is left, and the context is then exhausted.
    pub fn retry_anyway(&mut self) -> bool {
        if self.exhausted(Duration::ZERO) {
            self.exhausted = true;
            return false;
        }
        self.pacer.count_retry();
        true
    }

    /// The error to return after the loop stopped on `last`: [`Error::RetriesExhausted`]
    /// (permanent, with attempts and elapsed time) when retries ran out, `last` itself when it
    /// was permanent.
    pub fn into_error(self, last: Error) -> Error {
        if self.exhausted || last.is_temporary() {
            Error::RetriesExhausted {
                attempts: self.attempts,
                elapsed: self.elapsed(),
                last: Box::new(last),
            }
        } else {
            last
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::classify;
    use crate::pacer::PacerConfig;

    fn pacer(attempts: u32, budget: Duration) -> Pacer {
        Pacer::with_random(
            PacerConfig {
                attempts,
                budget,
                ..PacerConfig::default()
            },
            Box::new(|| 0.999),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_run_out_and_the_error_is_permanent_with_elapsed_time() {
        let pacer = pacer(3, Duration::from_secs(3600));
        let mut ctx = RetryContext::new(&pacer, "get");
        let err = classify("get", 500, "", None);
        let mut tries = 0;
        let last = loop {
            ctx.begin().await;
            tries += 1;
            if ctx.backoff(&err).is_none() {
                break classify("get", 500, "", None);
            }
        };
        assert_eq!(tries, 3);
        assert_eq!(pacer.retries(), 2, "one count per retry, on the pacer");
        let out = ctx.into_error(last);
        match &out {
            Error::RetriesExhausted {
                attempts, elapsed, ..
            } => {
                assert_eq!(*attempts, 3);
                // The two back-offs (up to 1 s, then up to 2 s) were waited.
                assert!(*elapsed >= Duration::from_millis(2900), "{elapsed:?}");
            }
            other => panic!("{other:?}"),
        }
        assert!(!out.is_temporary());
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_stops_before_a_backoff_that_would_overrun_it() {
        let pacer = pacer(100, Duration::from_secs(10));
        let mut ctx = RetryContext::new(&pacer, "list");
        let err = classify("list", 503, "", None);
        let t0 = Instant::now();
        loop {
            ctx.begin().await;
            if ctx.backoff(&err).is_none() {
                break;
            }
        }
        assert!(
            t0.elapsed() <= Duration::from_secs(10),
            "{:?}",
            t0.elapsed()
        );
        assert!(ctx.attempts() < 100);
        assert!(matches!(
            ctx.into_error(classify("list", 503, "", None)),
            Error::RetriesExhausted { .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_stop_at_once_and_pass_through() {
        let pacer = pacer(10, Duration::from_secs(60));
        let mut ctx = RetryContext::new(&pacer, "get");
        ctx.begin().await;
        let err = classify("get", 404, "", None);
        assert!(ctx.backoff(&err).is_none());
        assert_eq!(pacer.retries(), 0);
        assert_eq!(ctx.into_error(err).status(), Some(404));
        let protocol = Error::Protocol {
            operation: "get".into(),
            message: "bad JSON".into(),
        };
        let mut ctx = RetryContext::new(&pacer, "get");
        ctx.begin().await;
        assert!(ctx.backoff(&protocol).is_none(), "Protocol is permanent");
        assert!(matches!(ctx.into_error(protocol), Error::Protocol { .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_waited_before_the_next_attempt() {
        let pacer = pacer(5, Duration::from_secs(60));
        let mut ctx = RetryContext::new(&pacer, "get");
        ctx.begin().await;
        let err = classify("get", 429, "", Some(Duration::from_secs(7)));
        let t0 = Instant::now();
        assert!(ctx.backoff(&err).unwrap() >= Duration::from_secs(7));
        ctx.begin().await;
        assert!(t0.elapsed() >= Duration::from_secs(7), "{:?}", t0.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn paced_call_contexts_do_not_record_twice_but_see_the_pending_wait() {
        let pacer = pacer(10, Duration::from_secs(5));
        let err = classify("x", 429, "", Some(Duration::from_secs(30)));
        // The paced call recorded its failure itself: the back-off is 30 s ahead.
        pacer.record(Some(&err));
        let mut ctx = RetryContext::over_paced_calls(&pacer, "list");
        ctx.begin_unpaced();
        assert!(
            ctx.backoff(&err).is_none(),
            "a 30 s wait overruns a 5 s budget"
        );
        assert!(matches!(
            ctx.into_error(err),
            Error::RetriesExhausted { attempts: 1, .. }
        ));
    }
}
