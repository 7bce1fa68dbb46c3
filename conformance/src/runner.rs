//! Selecting and running checks, and turning outcomes into verdicts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt as _};

use crate::api::CallStats;
use crate::check::Check;
use crate::context::Ctx;
use crate::record::Recorder;
use crate::target::Target;

/// The verdict of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It passed.
    Pass,
    /// It failed: expected and got.
    Fail(String),
    /// It could not run here, with the reason.
    Skip(String),
    /// It failed as the target's known divergence says, with the reason.
    XFail(String),
    /// A known divergence passed: the list is out of date.
    XPass(String),
    /// No verdict: the service kept failing (retries ran out, setup impossible), with the cause.
    Error(String),
}

impl Verdict {
    /// The label in reports.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail(_) => "FAIL",
            Verdict::Skip(_) => "SKIP",
            Verdict::XFail(_) => "XFAIL",
            Verdict::XPass(_) => "XPASS",
            Verdict::Error(_) => "ERROR",
        }
    }

    /// The message (empty for a pass).
    pub fn message(&self) -> &str {
        match self {
            Verdict::Pass => "",
            Verdict::Fail(m)
            | Verdict::Skip(m)
            | Verdict::XFail(m)
            | Verdict::XPass(m)
            | Verdict::Error(m) => m,
        }
    }

    /// True for verdicts that make the run fail.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Verdict::Fail(_) | Verdict::XPass(_) | Verdict::Error(_)
        )
    }
}

/// One check's result.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// The check's area.
    pub area: &'static str,
    /// The check's name.
    pub name: &'static str,
    /// Its reference section.
    pub reference: &'static str,
    /// The verdict.
    pub verdict: Verdict,
    /// How long it ran.
    pub duration: Duration,
    /// Requests it sent (every attempt counts).
    pub calls: u64,
    /// Transient answers it retried.
    pub retries: u64,
}

impl CheckResult {
    /// `area/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.area, self.name)
    }

    /// True for a check of acd-client against the target (area `client`), not of the target.
    pub fn is_client_check(&self) -> bool {
        self.area == crate::check::CLIENT_AREA
    }
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Checks at once.
    pub jobs: usize,
    /// Stop after the first failure.
    pub fail_fast: bool,
    /// The seed.
    pub seed: u64,
    /// Longest time one check may take.
    pub timeout: Duration,
}

/// Run one check on a target.
pub async fn run_one(
    target: &Arc<Target>,
    check: &Check,
    seed: u64,
    recorder: Option<Arc<Recorder>>,
    timeout: Duration,
) -> CheckResult {
    let started = Instant::now();
    let result = |verdict: Verdict, stats: &CallStats| CheckResult {
        area: check.area,
        name: check.name,
        reference: check.reference,
        verdict,
        duration: started.elapsed(),
        calls: stats.calls(),
        retries: stats.retries(),
    };
    let missing: Vec<&str> = check
        .needs
        .iter()
        .filter(|c| !target.capabilities.contains(c))
        .map(|c| c.name())
        .collect();
    if !missing.is_empty() {
        return result(
            Verdict::Skip(format!("the target lacks {}", missing.join(", "))),
            &CallStats::default(),
        );
    }
    let ctx = Ctx::new(target.clone(), check.id(), seed, recorder);
    let scope = ctx.scope();
    let stats = ctx.stats.clone();
    let future = (check.run)(ctx);
    let outcome = match tokio::time::timeout(timeout, tokio::spawn(future)).await {
        Err(_) => Err(format!("the check did not finish within {timeout:?}")),
        Ok(Err(join)) => Err(format!("the check panicked: {join}")),
        Ok(Ok(Err(f))) if f.skipped => {
            clear_scope(target, &scope).await;
            return result(Verdict::Skip(f.got), &stats);
        }
        Ok(Ok(Err(f))) => Err(f.to_string()),
        Ok(Ok(Ok(()))) => Ok(()),
    };
    clear_scope(target, &scope).await;
    let verdict = match (outcome, target.divergences.get(&check.id())) {
        // The check failed while the service kept failing: no verdict on the target.
        (Err(m), _) if stats.exhausted().is_some() => Verdict::Error(format!(
            "{}; then: {m}",
            stats.exhausted().unwrap_or_default()
        )),
        (Ok(()), None) => Verdict::Pass,
        (Err(m), None) => Verdict::Fail(m),
        (Err(_), Some(reason)) => Verdict::XFail(reason.clone()),
        (Ok(()), Some(reason)) => Verdict::XPass(format!(
            "passed, but listed as a known divergence ({reason}); remove it from the list"
        )),
    };
    result(verdict, &stats)
}

async fn clear_scope(target: &Target, scope: &str) {
    if let Some(admin) = &target.admin {
        let _ = admin.clear_scope(scope).await;
    }
}

/// Run `checks` on `target`; results come back in suite order.
pub async fn run(
    target: Arc<Target>,
    checks: &[Check],
    options: &RunOptions,
    recorder: Option<Arc<Recorder>>,
) -> Vec<CheckResult> {
    let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut results: Vec<(usize, CheckResult)> = stream::iter(checks.iter().enumerate())
        .map(|(i, check)| {
            let target = target.clone();
            let recorder = recorder.clone();
            let failed = failed.clone();
            async move {
                if options.fail_fast && failed.load(std::sync::atomic::Ordering::SeqCst) {
                    return (
                        i,
                        CheckResult {
                            area: check.area,
                            name: check.name,
                            reference: check.reference,
                            verdict: Verdict::Skip("an earlier check failed (--fail-fast)".into()),
                            duration: Duration::ZERO,
                            calls: 0,
                            retries: 0,
                        },
                    );
                }
                let result = run_one(&target, check, options.seed, recorder, options.timeout).await;
                if result.verdict.is_failure() {
                    failed.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                (i, result)
            }
        })
        .buffer_unordered(options.jobs.max(1))
        .collect()
        .await;
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}
