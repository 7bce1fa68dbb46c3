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
}

/// Count the verdicts.
pub fn totals(results: &[CheckResult]) -> Totals {
    let mut t = Totals::default();
    for r in results {
        match r.verdict {
            Verdict::Pass => t.pass += 1,
            Verdict::Fail(_) => t.fail += 1,
            Verdict::Skip(_) => t.skip += 1,
            Verdict::XFail(_) => t.xfail += 1,
            Verdict::XPass(_) => t.xpass += 1,
        }
    }
    t
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
        let _ = writeln!(
            out,
            "  {:<5} {:<46} {:>8}  {}",
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
    let t = totals(results);
    let _ = writeln!(
        out,
        "\n{} checks: {} passed, {} failed, {} skipped, {} xfail, {} xpass in {:.1}s (seed {seed})",
        results.len(),
        t.pass,
        t.fail,
        t.skip,
        t.xfail,
        t.xpass,
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
            "duration_ms": r.duration.as_millis() as u64,
            "message": r.verdict.message(),
        })).collect::<Vec<_>>(),
    })
}

/// JUnit XML: one test suite per area.
pub fn junit(target: &str, seed: u64, results: &[CheckResult]) -> String {
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
    report.to_string().unwrap_or_default()
}
