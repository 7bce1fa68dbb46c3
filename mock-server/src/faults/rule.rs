//! Fault rules: what a rule matches, what it does, and when it fires.
//!
//! A rule is written in TOML (profiles, `--faults FILE.toml`) or JSON (`POST /_mock/faults`):
//!
//! ```toml
//! [[rules]]
//! id = "throttle-listing"
//! scope = "test-42"                    # only requests with x-acd-mock-scope: test-42
//! match = { operation = ["list", "lookup"], method = "GET" }
//! action = { kind = "error", error = "rate_exceeded", retry_after = 2 }
//! trigger = { first = 3 }              # or every / probability / after; default: always
//!
//! [[rules]]
//! id = "move-committed-then-504"
//! match = { operation = "move" }
//! action = { kind = "error", error = "gateway_timeout" }
//! when = "after_commit"                # apply the write, then fail it (reference §8.2, §8.6)
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::operation::Operation;

/// One rule as configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique id (given, or made up when added).
    #[serde(default)]
    pub id: String,
    /// Only requests carrying this `x-acd-mock-scope` header value; none: every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Which requests the rule considers.
    #[serde(default, rename = "match")]
    pub matcher: Match,
    /// What happens when it fires.
    pub action: Action,
    /// When it fires among the requests it matches.
    #[serde(default)]
    pub trigger: Trigger,
    /// Whether the fault replaces the handling (`before`) or follows a committed write
    /// (`after_commit`: the store applies the operation, then the fault is served).
    #[serde(default, skip_serializing_if = "When::is_before")]
    pub when: When,
}

/// Where a fault is served relative to the operation's effect on the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    /// Instead of handling the request (nothing is applied). The default.
    #[default]
    Before,
    /// After the request was handled and its write applied: the client sees a failure for a
    /// change that took effect (the "outcome unknown" case of reference §8.2 and §8.6).
    AfterCommit,
}

impl When {
    fn is_before(&self) -> bool {
        *self == Self::Before
    }
}

/// The operations that change the store: the only ones an `after_commit` rule may match.
pub const WRITE_OPERATIONS: [Operation; 10] = [
    Operation::CreateFolder,
    Operation::Upload,
    Operation::Overwrite,
    Operation::Patch,
    Operation::Move,
    Operation::AddParent,
    Operation::RemoveParent,
    Operation::Trash,
    Operation::Restore,
    Operation::Properties,
];

/// One operation name or several.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// A single operation.
    One(Operation),
    /// Any of these operations.
    Many(Vec<Operation>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    /// Names an unknown operation in the error (an untagged enum would only say that no
    /// variant matched).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Names {
            One(String),
            Many(Vec<String>),
        }
        let parse = |name: String| {
            serde_json::from_value::<Operation>(serde_json::Value::String(name.clone())).map_err(
                |_| {
                    serde::de::Error::custom(format!(
                        "match.operation: unknown operation {name:?} (one of {})",
                        Operation::rule_names()
                    ))
                },
            )
        };
        match Names::deserialize(deserializer) {
            Ok(Names::One(name)) => Ok(Self::One(parse(name)?)),
            Ok(Names::Many(names)) => Ok(Self::Many(
                names.into_iter().map(parse).collect::<Result<_, _>>()?,
            )),
            Err(_) => Err(serde::de::Error::custom(
                "match.operation: expected an operation name or a list of them",
            )),
        }
    }
}

impl OneOrMany {
    /// The operations named.
    pub fn operations(&self) -> Vec<Operation> {
        match self {
            Self::One(o) => vec![*o],
            Self::Many(list) => list.clone(),
        }
    }

    fn contains(&self, op: Operation) -> bool {
        match self {
            Self::One(o) => *o == op,
            Self::Many(list) => list.contains(&op),
        }
    }
}

/// The request conditions of a rule; all given ones must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// Operation name(s), as in the journal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<OneOrMany>,
    /// HTTP method, e.g. `GET`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// A regular expression the path (without the query) must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The account's email (requests without a valid token never match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Smallest `Content-Length`, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_body: Option<u64>,
    /// Largest `Content-Length`, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body: Option<u64>,
}

/// The service's error answers a rule can give, each with its real body (reference §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorPreset {
    /// 429 `{"logref","message":"Rate exceeded","code":""}`.
    RateExceeded,
    /// 429 `{"message":"Rate exceeded"}` (the gateway's style).
    RateExceededBare,
    /// 429 `Concurrent Access on same node. Please back off.`.
    ConcurrentAccess,
    /// 500 `{"message":"Internal failure"}`.
    InternalFailure,
    /// 502 with an empty body.
    BadGateway,
    /// 503 with the HTML body of §3.
    ServiceUnavailable,
    /// 503 `OPF (Online Proxy Fleet) unavailable` (§12.9).
    ProxyFleetUnavailable,
    /// 504 with no body; the status line reads `504 GATEWAY_TIMEOUT` (§7.1).
    GatewayTimeout,
    /// 408 with no body; the status line reads `408 REQUEST_TIMEOUT` (§7.1).
    RequestTimeout,
    /// 400 `Next token is expired`.
    NextTokenExpired,
    /// 401 `{"message":"Token has expired"}`.
    TokenExpired,
    /// The upload-time 400 that wraps a 401 (acd_cli#486).
    UploadUnauthorized,
    /// 403 `Authorization header requires 'Credential' parameter...`.
    AuthorizationHeader,
    /// 401 with an empty body (seen on `POST changes`, acd_cli#544).
    UnauthorizedEmpty,
    /// 429 `{"logref","message":"System unavailable. Please back off for a while and try again
    /// later","code":""}` (§12.9, acd_cli#348).
    SystemUnavailable,
    /// 400 `{"message":"Cannot complete upload"}`, the upload failure of §6.5.
    CannotCompleteUpload,
    /// The token endpoint's 400 `{"error_description":"Not authorized for requested
    /// operation","error":"unauthorized_client"}` (§12.8); fatal for rclone.
    UnauthorizedClient,
}

/// What a rule does when it fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Answer with one of the service's errors instead of handling the request.
    Error {
        /// Which error.
        error: ErrorPreset,
        /// `Retry-After` seconds to add.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
    },
    /// Answer with any status and a `{"message"}` body (or none).
    Status {
        /// The status code.
        status: u16,
        /// The message; none: an empty body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// `Retry-After` seconds to add.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
    },
    /// Close the connection without any response.
    Reset,
    /// Wait, then handle the request normally: `ms`, or uniform in `[min_ms, max_ms]`.
    Latency {
        /// Fixed delay.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ms: Option<u64>,
        /// Lower bound of a uniform delay.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_ms: Option<u64>,
        /// Upper bound of a uniform delay.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_ms: Option<u64>,
    },
    /// Hold the request without answering for `ms`, then close the connection.
    Stall {
        /// How long to hold it.
        ms: u64,
    },
    /// Handle the request, but cut the response body after `after_bytes` bytes.
    CutBody {
        /// Bytes sent before the cut.
        after_bytes: u64,
    },
    /// Handle the request, but flip one byte of the response body (at `offset`, or at a
    /// seeded random place in the first `Content-Length` bytes).
    CorruptByte {
        /// Which byte.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offset: Option<u64>,
    },
    /// Store an upload or overwrite with one byte flipped (at `offset` into the content,
    /// default 0; past the end, the last byte) and answer as usual: the node's `md5` is that
    /// of what was stored, as when content was damaged on its way in. A client that compares
    /// the answer's md5 with its own must notice. Decided by the content handlers (the
    /// content's size is not a matcher here); `operation` must name upload and/or overwrite.
    CorruptStored {
        /// Which byte of the content.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offset: Option<u64>,
    },
    /// Read the whole upload, answer an error, and make the node appear only later.
    PhantomUpload {
        /// 408, 500 or 504 (default 504).
        #[serde(default = "default_phantom_status")]
        status: u16,
        /// Delay before it appears, plus `per_gib_ms` per GiB of content.
        #[serde(default)]
        delay_ms: u64,
        /// Extra delay per GiB.
        #[serde(default)]
        per_gib_ms: u64,
        /// Appear after this many searches of the account instead of after a delay.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_lookups: Option<u32>,
        /// Never appear.
        #[serde(default)]
        never: bool,
    },
    /// Answer a listing page 429 and advance its cursor: retrying the same `startToken`
    /// skips that page (the "lost page" of reference §8.3).
    LostPage,
}

fn default_phantom_status() -> u16 {
    504
}

/// When a rule fires among the requests it matches (one of these, or always).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// The first N matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<u64>,
    /// Every Nth match (the Nth, 2Nth, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
    /// Each match with this probability, from the seeded generator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Every match after the first N pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
}

/// Why a rule was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault rule {id:?}: {field}: {problem}")]
pub struct RuleError {
    /// The rule's id (or its position).
    pub id: String,
    /// The offending field, e.g. `trigger.probability`.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl Rule {
    /// Checks values serde cannot: ranges, regexes, one trigger at most.
    pub fn validate(&self) -> Result<(), RuleError> {
        let err = |field, problem: String| RuleError {
            id: self.id.clone(),
            field,
            problem,
        };
        if let Some(path) = &self.matcher.path {
            regex::Regex::new(path).map_err(|e| err("match.path", e.to_string()))?;
        }
        if let Some(method) = &self.matcher.method {
            axum::http::Method::from_bytes(method.as_bytes())
                .map_err(|_| err("match.method", format!("{method:?} is not an HTTP method")))?;
        }
        if let (Some(min), Some(max)) = (self.matcher.min_body, self.matcher.max_body)
            && min > max
        {
            return Err(err(
                "match.min_body",
                format!("{min} is above max_body {max}"),
            ));
        }
        let t = &self.trigger;
        let set = [
            t.first.is_some(),
            t.every.is_some(),
            t.probability.is_some(),
            t.after.is_some(),
        ];
        if set.iter().filter(|s| **s).count() > 1 {
            return Err(err(
                "trigger",
                "give at most one of first, every, probability, after".into(),
            ));
        }
        if t.every == Some(0) {
            return Err(err("trigger.every", "must be at least 1".into()));
        }
        if let Some(p) = t.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err(err(
                "trigger.probability",
                format!("{p} is not between 0 and 1"),
            ));
        }
        if self.when == When::AfterCommit {
            self.validate_after_commit()?;
        }
        match &self.action {
            Action::Status { status, .. } if !(100..=599).contains(status) => Err(err(
                "action.status",
                format!("{status} is not an HTTP status"),
            )),
            Action::Latency { ms, min_ms, max_ms } => match (ms, min_ms, max_ms) {
                (Some(_), None, None) => Ok(()),
                (None, Some(a), Some(b)) if a <= b => Ok(()),
                _ => Err(err("action.ms", "give ms, or min_ms <= max_ms".into())),
            },
            Action::CorruptStored { .. } => self.validate_corrupt_stored(),
            Action::PhantomUpload { status, .. } if ![408, 500, 504].contains(status) => Err(err(
                "action.status",
                format!("{status}: a phantom upload answers 408, 500 or 504"),
            )),
            _ => Ok(()),
        }
    }
}

impl Rule {
    /// A `corrupt_stored` rule applies to content writes only: upload and/or overwrite.
    fn validate_corrupt_stored(&self) -> Result<(), RuleError> {
        let content = [Operation::Upload, Operation::Overwrite];
        let ok = self.matcher.operation.as_ref().is_some_and(|ops| {
            let ops = ops.operations();
            !ops.is_empty() && ops.iter().all(|o| content.contains(o))
        });
        if ok {
            Ok(())
        } else {
            Err(RuleError {
                id: self.id.clone(),
                field: "match.operation",
                problem: "corrupt_stored needs match.operation naming upload and/or overwrite only"
                    .into(),
            })
        }
    }

    /// An `after_commit` rule needs a failing action and only write operations.
    fn validate_after_commit(&self) -> Result<(), RuleError> {
        let err = |problem: String| RuleError {
            id: self.id.clone(),
            field: "when",
            problem,
        };
        if !matches!(
            self.action,
            Action::Error { .. }
                | Action::Status { .. }
                | Action::Reset
                | Action::Stall { .. }
                | Action::CutBody { .. }
        ) {
            return Err(err(
                "after_commit needs an action that fails the answer: error, status, reset, stall or cut_body".into(),
            ));
        }
        let names = || {
            WRITE_OPERATIONS
                .iter()
                .map(|o| o.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(operations) = &self.matcher.operation else {
            return Err(err(format!(
                "after_commit needs match.operation naming write operations ({})",
                names()
            )));
        };
        if let Some(read) = operations
            .operations()
            .into_iter()
            .find(|o| !WRITE_OPERATIONS.contains(o))
        {
            return Err(err(format!(
                "after_commit applies to write operations only ({}); {} is not one",
                names(),
                read.name()
            )));
        }
        Ok(())
    }
}

/// A live rule with its counters.
#[derive(Debug)]
pub struct RuleState {
    /// The rule.
    pub rule: Rule,
    /// Its compiled path regex.
    pub path: Option<regex::Regex>,
    /// Requests it matched.
    pub matches: AtomicU64,
    /// Times it fired.
    pub fired: AtomicU64,
}

/// What a request looks like to the matcher.
#[derive(Debug, Clone)]
pub struct RequestFacts<'a> {
    /// Its operation.
    pub operation: Operation,
    /// Its method.
    pub method: &'a str,
    /// Its path.
    pub path: &'a str,
    /// Its scope header.
    pub scope: Option<&'a str>,
    /// Its account's email, when it carries a valid token.
    pub account: Option<&'a str>,
    /// Its `Content-Length`.
    pub body_size: Option<u64>,
}

impl RuleState {
    /// Compiles a validated rule.
    pub fn new(rule: Rule) -> Result<Self, RuleError> {
        rule.validate()?;
        let path = match &rule.matcher.path {
            Some(p) => Some(regex::Regex::new(p).map_err(|e| RuleError {
                id: rule.id.clone(),
                field: "match.path",
                problem: e.to_string(),
            })?),
            None => None,
        };
        Ok(Self {
            rule,
            path,
            matches: AtomicU64::new(0),
            fired: AtomicU64::new(0),
        })
    }

    /// Does the rule consider this request? (Does not count.)
    pub fn matches(&self, facts: &RequestFacts<'_>) -> bool {
        let m = &self.rule.matcher;
        if let Some(scope) = &self.rule.scope
            && facts.scope != Some(scope.as_str())
        {
            return false;
        }
        m.operation
            .as_ref()
            .is_none_or(|o| o.contains(facts.operation))
            && m.method
                .as_ref()
                .is_none_or(|x| x.eq_ignore_ascii_case(facts.method))
            && self.path.as_ref().is_none_or(|re| re.is_match(facts.path))
            && m.account
                .as_ref()
                .is_none_or(|a| facts.account.is_some_and(|f| f.eq_ignore_ascii_case(a)))
            && m.min_body
                .is_none_or(|min| facts.body_size.is_some_and(|s| s >= min))
            && m.max_body
                .is_none_or(|max| facts.body_size.is_some_and(|s| s <= max))
    }

    /// Counts a match and decides whether the rule fires for it; `draw` gives the seeded
    /// random number for probability triggers.
    pub fn count_and_decide(&self, draw: impl FnOnce() -> f64) -> bool {
        let n = self.matches.fetch_add(1, Ordering::SeqCst) + 1;
        let t = &self.rule.trigger;
        let fire = if let Some(first) = t.first {
            n <= first
        } else if let Some(every) = t.every {
            n.is_multiple_of(every)
        } else if let Some(p) = t.probability {
            draw() < p
        } else if let Some(after) = t.after {
            n > after
        } else {
            true
        };
        if fire {
            self.fired.fetch_add(1, Ordering::SeqCst);
        }
        fire
    }

    /// The rule with its counts, as the admin API shows it.
    pub fn report(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(&self.rule).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.insert("matches".into(), self.matches.load(Ordering::SeqCst).into());
            map.insert("fired".into(), self.fired.load(Ordering::SeqCst).into());
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(toml_text: &str) -> Result<Rule, String> {
        let rule: Rule = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        rule.validate().map_err(|e| e.to_string())?;
        Ok(rule)
    }

    #[test]
    fn triggers_count_as_documented() {
        let decide = |trigger: Trigger, n: usize| {
            let state = RuleState::new(Rule {
                id: "t".into(),
                scope: None,
                matcher: Match::default(),
                action: Action::Reset,
                trigger,
                when: When::Before,
            })
            .unwrap_or_else(|e| panic!("{e}"));
            (0..n)
                .map(|_| state.count_and_decide(|| 0.5))
                .collect::<Vec<_>>()
        };
        let first = Trigger {
            first: Some(2),
            ..Trigger::default()
        };
        assert_eq!(decide(first, 4), [true, true, false, false]);
        let every = Trigger {
            every: Some(3),
            ..Trigger::default()
        };
        assert_eq!(decide(every, 6), [false, false, true, false, false, true]);
        let after = Trigger {
            after: Some(2),
            ..Trigger::default()
        };
        assert_eq!(decide(after, 4), [false, false, true, true]);
        let p = Trigger {
            probability: Some(0.6),
            ..Trigger::default()
        };
        assert_eq!(decide(p, 2), [true, true]);
    }

    #[test]
    fn bad_rules_name_the_field() {
        let bad = [
            (
                "action = { kind = \"reset\" }\nmatch = { operation = \"nope\" }",
                "operation",
            ),
            (
                "action = { kind = \"reset\" }\ntrigger = { probability = 1.5 }",
                "trigger.probability",
            ),
            (
                "action = { kind = \"reset\" }\nmatch = { path = \"(\" }",
                "match.path",
            ),
            (
                "action = { kind = \"status\", status = 999 }",
                "action.status",
            ),
            ("action = { kind = \"explode\" }", "explode"),
            (
                "action = { kind = \"reset\" }\ntrigger = { first = 1, every = 2 }",
                "trigger",
            ),
            ("action = { kind = \"reset\" }\nbogus = 1", "bogus"),
            (
                "action = { kind = \"reset\" }\nwhen = \"after_commit\"\nmatch = { operation = [\"move\", \"list\"] }",
                "when",
            ),
            (
                "action = { kind = \"reset\" }\nwhen = \"after_commit\"",
                "when",
            ),
            (
                "action = { kind = \"latency\", ms = 1 }\nwhen = \"after_commit\"\nmatch = { operation = \"move\" }",
                "when",
            ),
            ("action = { kind = \"reset\" }\nwhen = \"later\"", "later"),
        ];
        for (text, field) in bad {
            let error = rule(text).err().unwrap_or_default();
            assert!(error.contains(field), "{text}: {error}");
        }
        assert!(
            rule("action = { kind = \"error\", error = \"rate_exceeded\", retry_after = 3 }")
                .is_ok()
        );
        assert!(
            rule("action = { kind = \"cut_body\", after_bytes = 5 }\nwhen = \"after_commit\"\nmatch = { operation = [\"move\", \"patch\", \"create_folder\"] }")
                .is_ok()
        );
    }
}
