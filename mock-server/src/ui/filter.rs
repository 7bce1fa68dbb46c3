//! Which journal entries a view shows: by operation, status and scope.
//!
//! Shared by the dashboard's request list and `/_mock/events`, so a script's stream and the
//! page agree on what `status=5xx` means.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::extract::Params;
use crate::journal::Entry;
use crate::operation::Operation;

/// Every operation, in the order the filter menu lists them.
pub const OPERATIONS: [Operation; 25] = [
    Operation::Endpoint,
    Operation::Token,
    Operation::SignIn,
    Operation::Root,
    Operation::Lookup,
    Operation::List,
    Operation::GetNode,
    Operation::CreateFolder,
    Operation::Upload,
    Operation::Overwrite,
    Operation::Download,
    Operation::Templink,
    Operation::Patch,
    Operation::Move,
    Operation::AddParent,
    Operation::RemoveParent,
    Operation::Trash,
    Operation::Restore,
    Operation::Purge,
    Operation::Changes,
    Operation::Account,
    Operation::Properties,
    Operation::Admin,
    Operation::Connect,
    Operation::Other,
];

/// A status condition: one code, or a class like `5xx` (`0` is a dropped connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    /// Exactly this status.
    Exact(u16),
    /// This hundred (`4` for 4xx).
    Class(u16),
}

impl StatusMatch {
    /// Parses `503`, `5xx` or `0`.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().to_ascii_lowercase();
        if let Some(class) = text.strip_suffix("xx") {
            return match class.parse::<u16>() {
                Ok(c @ 1..=5) => Some(Self::Class(c)),
                _ => None,
            };
        }
        match text.parse::<u16>() {
            Ok(code @ (0 | 100..=599)) => Some(Self::Exact(code)),
            _ => None,
        }
    }

    /// Whether `status` meets the condition.
    pub fn matches(self, status: u16) -> bool {
        match self {
            Self::Exact(code) => status == code,
            Self::Class(class) => status / 100 == class,
        }
    }
}

/// The conditions of one view; all must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    /// Only this operation.
    pub operation: Option<Operation>,
    /// Only these statuses.
    pub status: Option<StatusMatch>,
    /// Only this `x-acd-mock-scope`.
    pub scope: Option<String>,
}

impl RequestFilter {
    /// Reads `operation`, `status` and `scope` query parameters (empty values mean "any").
    pub fn from_params(params: &Params) -> ApiResult<Self> {
        let given = |key: &str| params.get(key).map(str::trim).filter(|v| !v.is_empty());
        let operation = match given("operation") {
            Some(name) => Some(
                serde_json::from_value::<Operation>(Value::String(name.into()))
                    .map_err(|_| ApiError::bad_request(format!("Unknown operation {name}")))?,
            ),
            None => None,
        };
        let status = match given("status") {
            Some(text) => Some(StatusMatch::parse(text).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "status must be a code like 503 or a class like 5xx, not {text}"
                ))
            })?),
            None => None,
        };
        Ok(Self {
            operation,
            status,
            scope: given("scope").map(str::to_string),
        })
    }

    /// Whether the entry passes.
    pub fn matches(&self, entry: &Entry) -> bool {
        self.operation.is_none_or(|op| entry.operation == op)
            && self.status.is_none_or(|s| s.matches(entry.status))
            && self
                .scope
                .as_deref()
                .is_none_or(|scope| entry.scope.as_deref() == Some(scope))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(operation: Operation, status: u16, scope: Option<&str>) -> Entry {
        Entry {
            seq: 1,
            time: String::new(),
            method: "GET".into(),
            path: "/".into(),
            query: None,
            operation,
            status,
            duration_ms: 0.0,
            authorization: None,
            scope: scope.map(str::to_string),
            fault: None,
            committed: None,
            account: None,
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        )
    }

    #[test]
    fn filters_by_operation_status_and_scope() {
        let f = RequestFilter::from_params(&params(&[
            ("operation", "upload"),
            ("status", "5xx"),
            ("scope", "t1"),
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(f.matches(&entry(Operation::Upload, 503, Some("t1"))));
        assert!(!f.matches(&entry(Operation::Upload, 429, Some("t1"))));
        assert!(!f.matches(&entry(Operation::Download, 503, Some("t1"))));
        assert!(!f.matches(&entry(Operation::Upload, 503, None)));
        let any = RequestFilter::from_params(&params(&[("operation", ""), ("status", " ")]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(any, RequestFilter::default());
        assert!(any.matches(&entry(Operation::Other, 0, None)));
    }

    #[test]
    fn statuses_parse_as_codes_or_classes() {
        assert_eq!(StatusMatch::parse("503"), Some(StatusMatch::Exact(503)));
        assert_eq!(StatusMatch::parse("4XX"), Some(StatusMatch::Class(4)));
        assert_eq!(StatusMatch::parse("0"), Some(StatusMatch::Exact(0)));
        for bad in ["6xx", "xx", "99", "abc", "1000"] {
            assert_eq!(StatusMatch::parse(bad), None, "{bad}");
        }
        assert!(
            RequestFilter::from_params(&params(&[("operation", "nope")])).is_err(),
            "unknown operations are refused by name"
        );
    }

    #[test]
    fn the_operation_list_is_complete() {
        for op in OPERATIONS {
            let back: Operation = serde_json::from_value(Value::String(op.name().into()))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(back, op);
        }
    }
}
