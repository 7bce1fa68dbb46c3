//! Pacing and retries, shared by every task of one remote.
//!
//! - Call starts are at least [`PacerConfig::min_sleep`] apart (20 ms, Amazon's advice as rclone
//!   applied it).
//! - A temporary error makes the *next* start of every task wait: after `n` consecutive temporary
//!   errors, a random delay in `[0, 2^(n-1) s)` (at least `min_sleep`, at most 256 s), or the
//!   `Retry-After` the service asked for if that is longer (rclone ignored it).
//! - One call is tried at most [`PacerConfig::attempts`] times and within
//!   [`PacerConfig::budget`]; then it fails with [`Error::RetriesExhausted`], which is permanent.
//!   These rules live in [`crate::retry::RetryContext`], which every retry loop uses.
//!
//! Time comes from `tokio::time`, so tests run with a paused clock; randomness comes from an
//! injectable source ([`Pacer::with_random`]).

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::retry::RetryContext;

/// The pacer's limits.
#[derive(Debug, Clone)]
pub struct PacerConfig {
    /// The least time between two call starts.
    pub min_sleep: Duration,
    /// The longest back-off between retries.
    pub max_sleep: Duration,
    /// How many times one call is tried in all.
    pub attempts: u32,
    /// The most time one call may spend retrying.
    pub budget: Duration,
}

impl Default for PacerConfig {
    fn default() -> Self {
        Self {
            min_sleep: Duration::from_millis(20),
            max_sleep: Duration::from_secs(256),
            attempts: 10,
            budget: Duration::from_secs(15 * 60),
        }
    }
}

type Random = Box<dyn FnMut() -> f64 + Send>;

struct State {
    next_start: Option<Instant>,
    consecutive: u32,
    random: Random,
}

/// Paces and retries the calls of one remote. Share it with `Arc`.
pub struct Pacer {
    config: PacerConfig,
    state: Mutex<State>,
    retries: AtomicU64,
}

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer")
            .field("config", &self.config)
            .field("retries", &self.retries())
            .finish_non_exhaustive()
    }
}

impl Pacer {
    /// A pacer with real randomness.
    pub fn new(config: PacerConfig) -> Self {
        Self::with_random(config, Box::new(rand::random::<f64>))
    }

    /// A pacer whose back-off draws come from `random` (values in `[0, 1)`).
    pub fn with_random(config: PacerConfig, random: Random) -> Self {
        Self {
            config,
            state: Mutex::new(State {
                next_start: None,
                consecutive: 0,
                random,
            }),
            retries: AtomicU64::new(0),
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &PacerConfig {
        &self.config
    }

    /// How many retries all calls have made so far.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Count one retry (called by [`RetryContext`]; the one counter the summary shows).
    pub fn count_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait for this task's turn to start a call.
    pub async fn pace(&self) {
        let start = {
            let mut state = self.lock();
            let now = Instant::now();
            let start = state.next_start.map_or(now, |t| t.max(now));
            state.next_start = Some(start + self.config.min_sleep);
            start
        };
        tokio::time::sleep_until(start).await;
    }

    /// How long the next call start waits from now (the back-off in force, if any).
    pub fn pending_wait(&self) -> Duration {
        let state = self.lock();
        state.next_start.map_or(Duration::ZERO, |t| {
            t.saturating_duration_since(Instant::now())
        })
    }

    /// A retry context over this pacer for one logical operation.
    pub fn retry_context(&self, what: &str) -> RetryContext<'_> {
        RetryContext::new(self, what)
    }

    /// Record a call's outcome; returns the back-off it imposed (zero after a success).
    pub fn record(&self, error: Option<&Error>) -> Duration {
        let mut state = self.lock();
        match error {
            Some(e) if e.is_temporary() => {
                state.consecutive = state.consecutive.saturating_add(1);
                let exp = state.consecutive.clamp(1, 9) - 1;
                let ceiling = Duration::from_secs(1 << exp).min(self.config.max_sleep);
                let draw = (state.random)().clamp(0.0, 1.0);
                let mut delay = ceiling.mul_f64(draw).max(self.config.min_sleep);
                if let Some(after) = e.retry_after() {
                    delay = delay.max(after.min(self.config.max_sleep));
                }
                let until = Instant::now() + delay;
                state.next_start = Some(state.next_start.map_or(until, |t| t.max(until)));
                delay
            }
            _ => {
                state.consecutive = 0;
                Duration::ZERO
            }
        }
    }

    /// Run `op` with pacing, retrying temporary errors within the attempt and time budget.
    /// `op` gets the attempt number (1-based).
    pub async fn call<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut ctx = RetryContext::new(self, what);
        loop {
            ctx.begin().await;
            match op(ctx.attempts()).await {
                Ok(value) => {
                    self.record(None);
                    return Ok(value);
                }
                Err(error) => {
                    if ctx.backoff(&error).is_none() {
                        return Err(ctx.into_error(error));
                    }
                }
            }
        }
    }

    /// Run `op` once, paced, recording its outcome for the back-off of later calls (for
    /// uploads and listing pages, whose retries are decided above this layer).
    pub async fn call_once<T, Fut>(&self, op: Fut) -> Result<T>
    where
        Fut: Future<Output = Result<T>>,
    {
        self.pace().await;
        let result = op.await;
        self.record(result.as_ref().err());
        result
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::classify;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU32;

    fn pacer(draw: f64) -> Pacer {
        Pacer::with_random(PacerConfig::default(), Box::new(move || draw))
    }

    #[tokio::test(start_paused = true)]
    async fn starts_are_at_least_twenty_ms_apart() {
        let pacer = pacer(0.0);
        let t0 = Instant::now();
        for _ in 0..5 {
            pacer.pace().await;
        }
        assert_eq!(t0.elapsed(), Duration::from_millis(80));
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_doubles_and_is_capped() {
        let pacer = pacer(0.999_999);
        let err = classify("x", 500, "", None);
        let delays: Vec<u64> = (0..11)
            .map(|_| pacer.record(Some(&err)).as_secs())
            .collect();
        assert_eq!(delays, [0, 1, 3, 7, 15, 31, 63, 127, 255, 255, 255]);
        pacer.record(None);
        assert!(
            pacer.record(Some(&err)) < Duration::from_secs(1),
            "reset after success"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured() {
        let pacer = pacer(0.0);
        let err = classify(
            "x",
            429,
            r#"{"message":"Rate exceeded"}"#,
            Some(Duration::from_secs(7)),
        );
        let t0 = Instant::now();
        let calls = AtomicU32::new(0);
        let out = pacer
            .call("list", |_| {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                let err = classify("x", 429, "", err.retry_after());
                async move { if n == 0 { Err(err) } else { Ok(n) } }
            })
            .await
            .unwrap();
        assert_eq!(out, 1);
        assert!(t0.elapsed() >= Duration::from_secs(7), "{:?}", t0.elapsed());
        assert_eq!(pacer.retries(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_not_retried() {
        let pacer = pacer(0.0);
        let calls = AtomicU32::new(0);
        let err = pacer
            .call("get", |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(classify("get", 404, "", None)) }
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(err.status(), Some(404));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_at_the_attempt_limit_and_become_permanent() {
        let pacer = Arc::new(pacer(0.5));
        let calls = AtomicU32::new(0);
        let err = pacer
            .call("get", |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(classify("get", 503, "", None)) }
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 10);
        assert!(matches!(err, Error::RetriesExhausted { attempts: 10, .. }));
        assert!(!err.is_temporary());
        assert_eq!(err.status(), Some(503));
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_bounds_total_time() {
        let config = PacerConfig {
            budget: Duration::from_secs(10),
            ..PacerConfig::default()
        };
        let pacer = Pacer::with_random(config, Box::new(|| 0.999));
        let t0 = Instant::now();
        let err = pacer
            .call("get", |_| async {
                Err::<(), _>(classify("get", 429, "", None))
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::RetriesExhausted { .. }));
        assert!(
            t0.elapsed() <= Duration::from_secs(10),
            "{:?}",
            t0.elapsed()
        );
    }
}
