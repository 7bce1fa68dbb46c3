//! Measurements, medians, the ratio table with targets, and the JSON report.

use std::fmt::Write as _;

use serde_json::{Value, json};

/// The runs of one tool on one figure.
#[derive(Debug, Default, Clone)]
pub(crate) struct Sample {
    /// Wall time of each successful run.
    pub secs: Vec<f64>,
    /// Peak RSS of each run that reported one (KiB).
    pub rss_kib: Vec<u64>,
    /// Retries the tool reported, per run.
    pub retries: Vec<u64>,
    /// Faults the mock fired during each run.
    pub faults: Vec<u64>,
    /// Failed runs.
    pub errors: Vec<String>,
}

impl Sample {
    /// Median wall time of the successful runs.
    pub(crate) fn median_secs(&self) -> Option<f64> {
        median(&self.secs)
    }

    /// Highest peak RSS seen, in MiB.
    pub(crate) fn max_rss_mib(&self) -> Option<f64> {
        self.rss_kib.iter().max().map(|k| *k as f64 / 1024.0)
    }

    /// Median retries.
    pub(crate) fn median_retries(&self) -> Option<f64> {
        median(&self.retries.iter().map(|r| *r as f64).collect::<Vec<_>>())
    }
}

/// The median of some numbers (mean of the middle two for an even count).
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// One workload, measured for several tools.
#[derive(Debug, Clone)]
pub(crate) struct Figure {
    /// Short key, used by the ratio rows and in the JSON.
    pub key: &'static str,
    /// What was measured.
    pub title: String,
    /// Bytes moved per run (0 for listings).
    pub bytes: u64,
    /// Files or entries per run.
    pub items: u64,
    /// Samples by tool, in the order first measured.
    pub tools: Vec<(String, Sample)>,
}

impl Figure {
    /// A figure with no runs yet.
    pub(crate) fn new(key: &'static str, title: impl Into<String>, bytes: u64, items: u64) -> Self {
        Self {
            key,
            title: title.into(),
            bytes,
            items,
            tools: Vec::new(),
        }
    }

    /// The sample of `tool`, created if needed.
    pub(crate) fn sample(&mut self, tool: &str) -> &mut Sample {
        if let Some(i) = self.tools.iter().position(|(t, _)| t == tool) {
            return &mut self.tools[i].1;
        }
        self.tools.push((tool.to_string(), Sample::default()));
        let last = self.tools.len() - 1;
        &mut self.tools[last].1
    }

    /// The sample of `tool`, if measured.
    pub(crate) fn get(&self, tool: &str) -> Option<&Sample> {
        self.tools.iter().find(|(t, _)| t == tool).map(|(_, s)| s)
    }

    /// The figure as JSON.
    pub(crate) fn to_json(&self) -> Value {
        let tools: serde_json::Map<String, Value> = self
            .tools
            .iter()
            .map(|(tool, s)| {
                let median = s.median_secs();
                let mib_s = median
                    .filter(|_| self.bytes > 0)
                    .map(|m| self.bytes as f64 / (1 << 20) as f64 / m);
                (
                    tool.clone(),
                    json!({
                        "secs": s.secs,
                        "median_secs": median,
                        "median_mib_per_s": mib_s,
                        "peak_rss_kib": s.rss_kib,
                        "retries": s.retries,
                        "faults_fired": s.faults,
                        "errors": s.errors,
                    }),
                )
            })
            .collect();
        json!({"key": self.key, "title": self.title, "bytes": self.bytes, "items": self.items, "tools": tools})
    }
}

/// How a row compares acd with another figure.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Compare {
    /// Throughput in MiB/s; ratio = acd speed / other speed.
    Speed,
    /// Wall time in seconds; ratio = other time / acd time (acd's speed relative to the other).
    Time,
    /// acd's peak RSS in MiB against a ceiling.
    Rss,
}

/// One row of the table.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    /// Label.
    pub label: String,
    /// acd's value (MiB/s, s or MiB).
    pub acd: Option<f64>,
    /// The other tool's value, and its name.
    pub other: Option<(String, Option<f64>)>,
    /// acd / other as a speed ratio (None for RSS rows).
    pub ratio: Option<f64>,
    /// The target as text.
    pub target: String,
    /// met / MISSED / info / FAILED.
    pub status: String,
    /// Extra information (retries).
    pub note: String,
}

/// Builds a ratio row for `figure`: acd against `other` with an optional minimum ratio (or, for
/// RSS, a maximum in MiB).
pub(crate) fn row(figure: &Figure, other: Option<&str>, how: Compare, target: Option<f64>) -> Row {
    let value = |tool: &str| -> Option<f64> {
        let s = figure.get(tool)?;
        match how {
            Compare::Speed => s
                .median_secs()
                .map(|m| figure.bytes as f64 / (1 << 20) as f64 / m),
            Compare::Time => s.median_secs(),
            Compare::Rss => s.max_rss_mib(),
        }
    };
    let acd = value("acd");
    let other_value = other.map(|o| (o.to_string(), value(o)));
    let ratio = match (how, acd, other_value.as_ref().and_then(|(_, v)| *v)) {
        (Compare::Speed, Some(a), Some(o)) if o > 0.0 => Some(a / o),
        (Compare::Time, Some(a), Some(o)) if a > 0.0 => Some(o / a),
        _ => None,
    };
    let (target_text, status) = match (how, target) {
        (Compare::Rss, Some(max)) => (format!("< {max:.0} MiB"), met(acd.map(|a| a < max))),
        (_, Some(min)) => (format!(">= {min}x"), met(ratio.map(|r| r >= min))),
        (_, None) => (
            "-".to_string(),
            if acd.is_some() { "info" } else { "FAILED" }.to_string(),
        ),
    };
    let note = ["acd", other.unwrap_or("")]
        .iter()
        .filter_map(|t| {
            let s = figure.get(t)?;
            let mut parts = Vec::new();
            if let Some(r) = s.median_retries() {
                parts.push(format!("{t} retries {r:.0}"));
            }
            if let Some(f) = median(&s.faults.iter().map(|f| *f as f64).collect::<Vec<_>>()) {
                parts.push(format!("faults fired {f:.0}"));
            }
            if !s.errors.is_empty() {
                parts.push(format!("{t} failed {}x", s.errors.len()));
            }
            (!parts.is_empty()).then(|| parts.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ");
    Row {
        label: figure.title.clone(),
        acd,
        other: other_value,
        ratio,
        target: target_text,
        status,
        note,
    }
}

/// "met", "MISSED", or "FAILED" when there is nothing to compare.
fn met(ok: Option<bool>) -> String {
    match ok {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "FAILED",
    }
    .to_string()
}

/// A value with its unit.
fn show(v: Option<f64>, how: Compare) -> String {
    match (v, how) {
        (None, _) => "n/a".into(),
        (Some(v), Compare::Speed) => format!("{v:.0} MiB/s"),
        (Some(v), Compare::Time) => format!("{v:.2} s"),
        (Some(v), Compare::Rss) => format!("{v:.1} MiB"),
    }
}

/// The table as text, with the units each row uses.
pub(crate) fn table(rows: &[(Row, Compare)]) -> String {
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|(r, how)| {
            let other = match &r.other {
                Some((name, v)) => format!("{} ({name})", show(*v, *how)),
                None => "-".into(),
            };
            [
                r.label.clone(),
                show(r.acd, *how),
                other,
                r.ratio.map_or("-".into(), |x| format!("{x:.2}x")),
                r.target.clone(),
                r.status.clone(),
                r.note.clone(),
            ]
        })
        .collect();
    let header = [
        "figure",
        "acd",
        "other",
        "acd/other",
        "target",
        "status",
        "notes",
    ];
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for c in &cells {
        for (w, cell) in widths.iter_mut().zip(c) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cols: Vec<&str>| -> String {
        let mut s = String::from(" ");
        for (i, (cell, w)) in cols.iter().zip(&widths).enumerate() {
            if i > 0 {
                s.push_str(" | ");
            }
            let pad = w.saturating_sub(cell.chars().count());
            let _ = write!(s, "{cell}{}", " ".repeat(pad));
        }
        s.trim_end().to_string()
    };
    let dashes: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let mut out = format!(
        "{}\n{}\n",
        line(header.to_vec()),
        line(dashes.iter().map(String::as_str).collect())
    );
    for c in &cells {
        out.push_str(&line(c.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// A row as JSON.
pub(crate) fn row_json(r: &Row, how: Compare) -> Value {
    json!({
        "figure": r.label,
        "unit": match how { Compare::Speed => "MiB/s", Compare::Time => "s", Compare::Rss => "MiB" },
        "acd": r.acd,
        "other_tool": r.other.as_ref().map(|(n, _)| n),
        "other": r.other.as_ref().and_then(|(_, v)| *v),
        "ratio_acd_over_other": r.ratio,
        "target": r.target,
        "status": r.status,
        "notes": r.note,
    })
}
