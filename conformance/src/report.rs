//! The report: a table grouped by area, JSON, and JUnit XML.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::json;

use crate::runner::{CheckResult, Verdict};

/// The suite's name in JSON and JUnit.
pub const SUITE: &str = "acd-conformance";

/// Counts per verdict.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Passed.
    pub pass: usize,
    /// Failed.
    pub fail: usize,
    /// Skipped.
    pub skip: usize,
    /// Expected failures.
    pub xfail: usize,
    /// Unexpected passes.
    pub xpass: usize,
    /// No verdict (the service kept failing).
    pub error: usize,
}

impl Totals {
    /// `N checks: a passed, b failed, ...`.
    fn line(&self, what: &str) -> String {
        format!(
            "{} {what}: {} passed, {} failed, {} errors, {} skipped, {} xfail, {} xpass",
            self.pass + self.fail + self.skip + self.xfail + self.xpass + self.error,
            self.pass,
            self.fail,
            self.error,
            self.skip,
            self.xfail,
            self.xpass
        )
    }
}

/// Count the verdicts.
pub fn totals<'a>(results: impl IntoIterator<Item = &'a CheckResult>) -> Totals {
    let mut t = Totals::default();
    for r in results {
        match r.verdict {
            Verdict::Pass => t.pass += 1,
            Verdict::Fail(_) => t.fail += 1,
            Verdict::Skip(_) => t.skip += 1,
            Verdict::XFail(_) => t.xfail += 1,
            Verdict::XPass(_) => t.xpass += 1,
            Verdict::Error(_) => t.error += 1,
        }
    }
    t
}

/// The summary line: target checks and client checks (acd-client against the target) apart.
pub fn summary(results: &[CheckResult]) -> String {
    let target = totals(results.iter().filter(|r| !r.is_client_check()));
    let client = totals(results.iter().filter(|r| r.is_client_check()));
    format!(
        "{}; {}",
        target.line("target checks"),
        client.line("client checks")
    )
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// The readable table: one block per area, failures with what was expected and what came back.
pub fn table(target: &str, seed: u64, results: &[CheckResult], elapsed: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "acd-conformance against {target} (seed {seed})");
    let mut area = "";
    for r in results {
        if r.area != area {
            area = r.area;
            let _ = writeln!(out, "\n{area}");
        }
        let retries = match r.retries {
            0 => String::new(),
            1 => "  (1 retry)".to_string(),
            n => format!("  ({n} retries)"),
        };
        let _ = writeln!(
            out,
            "  {:<5} {:<46} {:>8}  {}{retries}",
            r.verdict.label(),
            r.name,
            ms(r.duration),
            r.reference
        );
        let message = r.verdict.message();
        if !message.is_empty() {
            for line in message.lines() {
                let _ = writeln!(out, "          {line}");
            }
        }
    }
    let calls: u64 = results.iter().map(|r| r.calls).sum();
    let retries: u64 = results.iter().map(|r| r.retries).sum();
    let _ = writeln!(
        out,
        "\n{} in {:.1}s, {calls} calls, {retries} retries (seed {seed})",
        summary(results),
        elapsed.as_secs_f64()
    );
    out
}

/// JSON: suite, area, check, verdict, duration, message, plus the seed and target.
pub fn json_report(target: &str, seed: u64, results: &[CheckResult]) -> serde_json::Value {
    json!({
        "suite": SUITE,
        "target": target,
        "seed": seed,
        "results": results.iter().map(|r| json!({
            "suite": SUITE,
            "area": r.area,
            "check": r.name,
            "reference": r.reference,
            "verdict": r.verdict.label(),
            "duration_ms": u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
            "calls": r.calls,
            "retries": r.retries,
            "client_check": r.is_client_check(),
            "message": r.verdict.message(),
        })).collect::<Vec<_>>(),
    })
}

/// JUnit XML: one test suite per area; ERROR is `<error>`, FAIL and XPASS are `<failure>`.
pub fn junit(
    target: &str,
    seed: u64,
    results: &[CheckResult],
) -> Result<String, quick_junit::SerializeError> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new(format!("{SUITE} against {target} (seed {seed})"));
    let mut areas: Vec<&str> = results.iter().map(|r| r.area).collect();
    areas.dedup();
    for area in areas {
        let mut suite = TestSuite::new(area);
        for r in results.iter().filter(|r| r.area == area) {
            let mut status = match &r.verdict {
                Verdict::Pass | Verdict::XFail(_) => TestCaseStatus::success(),
                Verdict::Skip(_) => TestCaseStatus::skipped(),
                Verdict::Fail(_) | Verdict::XPass(_) => {
                    TestCaseStatus::non_success(NonSuccessKind::Failure)
                }
                Verdict::Error(_) => TestCaseStatus::non_success(NonSuccessKind::Error),
            };
            if !r.verdict.message().is_empty() {
                status.set_message(format!("{}: {}", r.verdict.label(), r.verdict.message()));
            }
            let mut case = TestCase::new(r.name, status);
            case.set_classname(format!("{SUITE}.{area}"));
            case.set_time(r.duration);
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string()
}
