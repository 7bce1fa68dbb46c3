//! `--record DIR` and `--compare DIR`: responses stored as redacted JSON (ids, dates, tokens
//! replaced), and every field where two targets differ.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use serde_json::{Map, Value};

/// Keys whose values differ run to run and are replaced.
const REDACTED_KEYS: &[&str] = &[
    "id",
    "nodeId",
    "md5",
    "metadataUrl",
    "contentUrl",
    "parents",
    "createdDate",
    "modifiedDate",
    "contentDate",
    "lastCalculated",
    "eTagResponse",
    "logref",
    "checkpoint",
    "nextToken",
    "tempLink",
    "access_token",
    "refresh_token",
    "createdBy",
    "ownerId",
];

/// Responses recorded during a run: check id → label → redacted value.
#[derive(Debug, Default)]
pub struct Recorder {
    entries: Mutex<BTreeMap<String, BTreeMap<String, Value>>>,
}

impl Recorder {
    /// Store one response. A label recorded again (in a loop) is kept as `label#2`, `label#3`…
    pub fn record(&self, check: &str, label: &str, value: &Value) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let labels = entries.entry(check.to_string()).or_default();
        let mut key = label.to_string();
        let mut n = 1;
        while labels.contains_key(&key) {
            n += 1;
            key = format!("{label}#{n}");
        }
        labels.insert(key, redact(value));
    }

    /// Store only the shape of a response whose values are account-wide (totals, the trash):
    /// they depend on what else ran, so they are checked by the check itself, not compared.
    pub fn record_shape(&self, check: &str, label: &str, value: &Value) {
        self.record(check, label, &shape(value));
    }

    /// Everything recorded.
    pub fn snapshot(&self) -> BTreeMap<String, BTreeMap<String, Value>> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Write one file per check under `dir` (`area__name.json`).
    pub fn write(&self, dir: &Path) -> std::io::Result<usize> {
        std::fs::create_dir_all(dir)?;
        let snapshot = self.snapshot();
        for (check, values) in &snapshot {
            let text = serde_json::to_string_pretty(values).map_err(std::io::Error::other)?;
            std::fs::write(dir.join(file_name(check)), format!("{text}\n"))?;
        }
        Ok(snapshot.len())
    }

    /// Compare with the files in `dir`, both ways, for the checks that `ran` (ids): every
    /// differing field, as `check label path: a != b`; a check or label recorded on one side
    /// only is a difference too.
    pub fn compare(&self, dir: &Path, ran: &[String]) -> std::io::Result<Vec<String>> {
        let mut diffs = Vec::new();
        let snapshot = self.snapshot();
        let empty = BTreeMap::new();
        for check in ran {
            let values = snapshot.get(check).unwrap_or(&empty);
            let path = dir.join(file_name(check));
            let other: BTreeMap<String, Value> = match std::fs::read_to_string(&path) {
                Ok(text) => serde_json::from_str(&text)
                    .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
                Err(e) => return Err(e),
            };
            for (label, value) in values {
                match other.get(label) {
                    None => diffs.push(format!(
                        "{check} {label}: only in this run (not in {})",
                        dir.display()
                    )),
                    Some(theirs) => {
                        diff(&format!("{check} {label}"), "", theirs, value, &mut diffs)
                    }
                }
            }
            for label in other.keys().filter(|l| !values.contains_key(*l)) {
                diffs.push(format!(
                    "{check} {label}: only in the recording ({})",
                    dir.display()
                ));
            }
        }
        Ok(diffs)
    }
}

fn file_name(check: &str) -> String {
    format!("{}.json", check.replace('/', "__"))
}

/// Replace run-specific values: redacted keys, and node ids inside messages.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let v = if REDACTED_KEYS.contains(&k.as_str()) && !v.is_null() {
                    match v {
                        Value::Array(items) => Value::Array(
                            items
                                .iter()
                                .map(|_| Value::String(format!("<{k}>")))
                                .collect(),
                        ),
                        _ => Value::String(format!("<{k}>")),
                    }
                } else {
                    redact(v)
                };
                out.insert(k.clone(), v);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        Value::String(s) => Value::String(redact_ids(s)),
        other => other.clone(),
    }
}

/// The shape of a value: numbers become `"<number>"`, an array keeps its first element's
/// shape only; strings are redacted as usual.
pub fn shape(value: &Value) -> Value {
    match value {
        Value::Number(_) => Value::String("<number>".into()),
        Value::Array(items) => Value::Array(items.iter().take(1).map(shape).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
        other => other.clone(),
    }
}

/// Replace UUIDs and 22-character node ids inside free text.
fn redact_ids(text: &str) -> String {
    static PATTERNS: std::sync::OnceLock<Option<(regex::Regex, regex::Regex)>> =
        std::sync::OnceLock::new();
    let compiled = PATTERNS.get_or_init(|| {
        let uuid = regex::Regex::new(
            r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        )
        .ok()?;
        let id =
            regex::Regex::new(r"(^|[^A-Za-z0-9_-])[A-Za-z0-9_-]{22}($|[^A-Za-z0-9_-])").ok()?;
        Some((uuid, id))
    });
    match compiled {
        Some((uuid, id)) => {
            let text = uuid.replace_all(text, "<uuid>");
            id.replace_all(&text, "${1}<id>${2}").into_owned()
        }
        None => text.to_string(),
    }
}

/// Walk two values and collect the paths where they differ.
pub fn diff(prefix: &str, path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let p = format!("{path}/{key}");
                match (x.get(key), y.get(key)) {
                    (Some(va), Some(vb)) => diff(prefix, &p, va, vb, out),
                    (Some(_), None) => out.push(format!("{prefix} {p}: only in the recording")),
                    (None, Some(_)) => out.push(format!("{prefix} {p}: only in this run")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                diff(prefix, &format!("{path}/{i}"), va, vb, out);
            }
        }
        _ if a != b => out.push(format!(
            "{prefix} {}: {a} != {b}",
            if path.is_empty() { "/" } else { path }
        )),
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redaction_hides_ids_dates_and_tokens() {
        let v = json!({
            "id": "3ohaT2SSQWOecmP0GSWv6g",
            "name": "a",
            "parents": ["x"],
            "modifiedDate": "2020",
            "message": "Node -1lFLs2JDY7HgSBi8XsGGQ conflicting NodeId: 3ohaT2SSQWOecmP0GSWv6g",
            "logref": "x",
            "text": "req 212159e6-bb20-4c1a-9d3e-0123456789ab"
        });
        let want = json!({
            "id": "<id>",
            "name": "a",
            "parents": ["<parents>"],
            "modifiedDate": "<modifiedDate>",
            "message": "Node <id> conflicting NodeId: <id>",
            "logref": "<logref>",
            "text": "req <uuid>"
        });
        assert_eq!(redact(&v), want);
    }

    #[test]
    fn compare_reports_both_ways_and_keeps_repeated_labels() {
        let dir = std::env::temp_dir().join(format!("acd-record-{:016x}", rand::random::<u64>()));
        let recorded = Recorder::default();
        recorded.record("a/x", "kept", &json!(1));
        recorded.record("a/x", "vanished", &json!(2));
        recorded.record("a/y", "whole", &json!(3));
        recorded.write(&dir).unwrap();

        let now = Recorder::default();
        now.record("a/x", "kept", &json!(1));
        now.record("a/x", "kept", &json!(5));
        let diffs = now
            .compare(&dir, &["a/x".to_string(), "a/y".to_string()])
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            diffs,
            vec![
                format!("a/x kept#2: only in this run (not in {})", dir.display()),
                format!("a/x vanished: only in the recording ({})", dir.display()),
                format!("a/y whole: only in the recording ({})", dir.display()),
            ]
        );
    }

    #[test]
    fn shapes_hide_account_wide_numbers() {
        assert_eq!(
            shape(&json!({"available": 5, "data": [{"n": 1}, {"n": 2}], "s": "x"})),
            json!({"available": "<number>", "data": [{"n": "<number>"}], "s": "x"})
        );
    }

    #[test]
    fn diff_names_every_differing_field() {
        let mut out = Vec::new();
        diff(
            "c",
            "",
            &json!({"a":1,"b":{"c":2},"d":3}),
            &json!({"a":1,"b":{"c":3},"e":4}),
            &mut out,
        );
        assert_eq!(
            out,
            vec![
                "c /b/c: 2 != 3",
                "c /d: only in the recording",
                "c /e: only in this run"
            ]
        );
    }
}
