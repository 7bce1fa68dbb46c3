//! One error type for the whole client, classified once at the bottom (the HTTP layer) and
//! read everywhere above: by the retry loop ([`Error::is_temporary`]), by the transfer logic
//! ([`Error::kind`], [`Error::conflict_node_id`]) and by the CLI (the message).
//!
//! Messages never contain tokens, secrets or signed URLs: transport errors have their URL
//! removed and only the host is kept.

use std::time::Duration;

/// What went wrong, independent of where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The node or path does not exist (404, or an empty lookup).
    NotFound,
    /// A name clash (409); see [`Error::conflict_node_id`].
    Conflict,
    /// Throttled (429, or a 503 that says to back off); see [`Error::retry_after`].
    RateLimited,
    /// The access token was refused (401, or the sporadic gateway 403 "Authorization header requires").
    Unauthorized,
    /// The access token has expired ("Token has expired", as 401 or wrapped in a 400).
    TokenExpired,
    /// A listing cursor went stale (400 "Next token is expired").
    NextTokenExpired,
    /// The account is over quota (403 with a quota message).
    QuotaExceeded,
    /// The server failed (500, 502, 503, 504) or timed out (408).
    ServerError,
    /// The connection failed, was reset or timed out.
    Transport,
    /// The server refused the request as invalid or forbidden (other 4xx).
    Refused,
    /// What arrived does not match what was sent (size or MD5).
    Integrity,
    /// The local configuration is missing or wrong.
    Config,
    /// Signing in failed (token endpoint errors, bad client, revoked grant).
    Auth,
    /// A local file operation failed.
    Io,
    /// The command was used wrongly (bad path, bad flag value).
    Usage,
}

/// The client's error: a kind, a message for people, and what the retry logic needs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The service answered with an error status.
    #[error("{operation}: HTTP {status}: {message}")]
    Api {
        /// What the client was doing ("list folder", "upload hello.txt").
        operation: String,
        /// The HTTP status code.
        status: u16,
        /// The classification of the status and body.
        kind: ErrorKind,
        /// The service's `message` (or the body's first line).
        message: String,
        /// For a 409: the conflicting node's id from `info.nodeId`.
        conflict_node_id: Option<String>,
        /// The `Retry-After` the service asked for, if any.
        retry_after: Option<Duration>,
    },
    /// The request did not get an HTTP answer.
    #[error("{operation}: network error talking to {host}: {source}")]
    Transport {
        /// What the client was doing.
        operation: String,
        /// The host (never the full URL, which may be signed).
        host: String,
        /// The underlying error, with its URL removed.
        #[source]
        source: reqwest::Error,
    },
    /// A local file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A path, name or node does not exist.
    #[error("{0}: not found")]
    NotFound(String),
    /// The configuration is missing or wrong; the message says what to do.
    #[error("{0}")]
    Config(String),
    /// Signing in failed; the message says what to do.
    #[error("{0}")]
    Auth(String),
    /// A transfer arrived different from its source.
    #[error("{0}")]
    Integrity(String),
    /// The command or its arguments are wrong.
    #[error("{0}")]
    Usage(String),
    /// The service answered 2xx with a body that does not parse.
    #[error("{operation}: unexpected reply from the server: {message}")]
    Protocol {
        /// What the client was doing.
        operation: String,
        /// What was wrong with the body.
        message: String,
    },
    /// The local metadata cache failed (see [`crate::cache`]).
    #[error("{context}: {source}")]
    Cache {
        /// What was being done.
        context: String,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// A write's answer was lost and the node is now in a state that is neither "applied" nor
    /// "not applied" (someone else changed it meanwhile).
    #[error(
        "{operation}: the answer was lost and node {node} is now {found}; look at it before trying again"
    )]
    Diverged {
        /// The write.
        operation: String,
        /// The node's id.
        node: String,
        /// What was found.
        found: String,
    },
    /// Retries ran out; the last error is kept.
    #[error("{last} (gave up after {attempts} attempts in {elapsed:.1?})")]
    RetriesExhausted {
        /// How many attempts were made.
        attempts: u32,
        /// How long they took.
        elapsed: Duration,
        /// The last error seen.
        #[source]
        last: Box<Error>,
    },
}

/// The client's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The classification of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Api { kind, .. } => *kind,
            Error::Transport { .. } => ErrorKind::Transport,
            Error::Io { .. } => ErrorKind::Io,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Config(_) => ErrorKind::Config,
            Error::Auth(_) => ErrorKind::Auth,
            Error::Integrity(_) => ErrorKind::Integrity,
            Error::Usage(_) => ErrorKind::Usage,
            Error::Protocol { .. } => ErrorKind::ServerError,
            Error::Cache { .. } => ErrorKind::Io,
            Error::Diverged { .. } => ErrorKind::Refused,
            Error::RetriesExhausted { last, .. } => last.kind(),
        }
    }

    /// True when trying again later may succeed. Exhausted retries are permanent, and so is
    /// a 2xx answer whose body does not parse ([`Error::Protocol`]): asking again would get
    /// the same body.
    pub fn is_temporary(&self) -> bool {
        match self {
            Error::RetriesExhausted { .. } | Error::Protocol { .. } => false,
            _ => matches!(
                self.kind(),
                ErrorKind::RateLimited
                    | ErrorKind::Unauthorized
                    | ErrorKind::TokenExpired
                    | ErrorKind::NextTokenExpired
                    | ErrorKind::ServerError
                    | ErrorKind::Transport
            ),
        }
    }

    /// True when the request may have taken effect although it failed: it was sent, and then
    /// the connection was reset or timed out, the answer's body was cut, or the service
    /// answered 408, 500, 502, 503 or 504 (the real service committed writes and still
    /// answered so, reference §8.2 and §8.6). A 2xx whose body does not parse
    /// ([`Error::Protocol`]) counts too: the write happened but its result is unknown. A
    /// non-idempotent write that fails this way is reconciled (its effect looked for) before
    /// it is sent again; a connection that was never made, a throttle (429) and a refused
    /// token leave nothing applied.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Error::Api { status, kind, .. } => {
                UNKNOWN_OUTCOME_STATUSES.contains(status) && *kind == ErrorKind::ServerError
                    || *status == 0 && *kind == ErrorKind::Transport
            }
            Error::Transport { source, .. } => !source.is_connect() && !source.is_builder(),
            Error::Protocol { .. } => true,
            Error::RetriesExhausted { last, .. } => last.outcome_unknown(),
            _ => false,
        }
    }

    /// The request got no (complete) HTTP answer for a reason only described in words (a
    /// body that ended early, a token endpoint that could not be reached): a temporary
    /// transport failure whose outcome is unknown.
    pub fn unanswered(operation: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Api {
            operation: operation.into(),
            status: 0,
            kind: ErrorKind::Transport,
            message: message.into(),
            conflict_node_id: None,
            retry_after: None,
        }
    }

    /// The HTTP status, when the service answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            Error::RetriesExhausted { last, .. } => last.status(),
            _ => None,
        }
    }

    /// The delay the service asked for with `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// For a 409: the id of the node that holds the name.
    pub fn conflict_node_id(&self) -> Option<&str> {
        match self {
            Error::Api {
                conflict_node_id, ..
            } => conflict_node_id.as_deref(),
            Error::RetriesExhausted { last, .. } => last.conflict_node_id(),
            _ => None,
        }
    }

    /// A local I/O error with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// A transport error; the URL is removed so signed links never reach a log.
    pub fn transport(operation: impl Into<String>, url: &url::Url, source: reqwest::Error) -> Self {
        Error::Transport {
            operation: operation.into(),
            host: url.host_str().unwrap_or("?").to_string(),
            source: source.without_url(),
        }
    }
}

/// The error statuses after which a write may have been applied (see
/// [`Error::outcome_unknown`]).
const UNKNOWN_OUTCOME_STATUSES: [u16; 5] = [408, 500, 502, 503, 504];

/// The most of an error body that is read.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Read an error response (bounded) and classify it.
pub async fn error_from_response(operation: &str, mut response: reqwest::Response) -> Error {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let mut body = Vec::new();
    let mut cut = None;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk);
                if body.len() >= ERROR_BODY_LIMIT {
                    break;
                }
            }
            Ok(None) => break,
            Err(error) => {
                cut = Some(error.without_url());
                break;
            }
        }
    }
    // A 429 or 5xx means what its status says. Any other error's meaning is in its body (a
    // 409's conflicting node, a 403's quota, a 400's expired token): cut short, it is an
    // answer lost on the way, whose outcome is unknown, not a verdict.
    if let Some(error) = cut
        && status != 429
        && status < 500
    {
        return Error::unanswered(
            operation,
            format!("the HTTP {status} answer's body was cut short ({error})"),
        );
    }
    classify(
        operation,
        status,
        &String::from_utf8_lossy(&body),
        retry_after,
    )
}

/// `Retry-After` as seconds or as an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or_default())
}

/// Classify an HTTP error status and body, once, into an [`Error::Api`].
pub fn classify(operation: &str, status: u16, body: &str, retry_after: Option<Duration>) -> Error {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let message = field("message")
        .or_else(|| field("error_description"))
        .or_else(|| xml_message(body))
        .unwrap_or_else(|| first_line(body, status));
    let code = field("code").unwrap_or_default();
    let conflict_node_id = parsed
        .as_ref()
        .and_then(|v| v.pointer("/info/nodeId"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let lower = message.to_ascii_lowercase();
    let kind = match status {
        401 if lower.contains("expired") => ErrorKind::TokenExpired,
        401 => ErrorKind::Unauthorized,
        400 if lower.contains("next token is expired") => ErrorKind::NextTokenExpired,
        400 if lower.contains("token has expired") => ErrorKind::TokenExpired,
        403 if message.contains("Authorization header requires") => ErrorKind::Unauthorized,
        403 if lower.contains("quota")
            || lower.contains("storage space")
            || code.eq_ignore_ascii_case("QUOTA_EXCEEDED") =>
        {
            ErrorKind::QuotaExceeded
        }
        404 | 410 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        429 => ErrorKind::RateLimited,
        408 | 500 | 502 | 503 | 504 => ErrorKind::ServerError,
        _ if code == "ONLINE_PROXY_FLEET_FAILURE" => ErrorKind::ServerError,
        _ => ErrorKind::Refused,
    };
    Error::Api {
        operation: operation.to_string(),
        status,
        kind,
        message,
        conflict_node_id,
        retry_after,
    }
}

/// The `<Message>` of an S3 XML error body.
fn xml_message(body: &str) -> Option<String> {
    let start = body.find("<Message>")? + "<Message>".len();
    let end = body[start..].find("</Message>")? + start;
    let code = body
        .find("<Code>")
        .and_then(|s| {
            let s = s + "<Code>".len();
            body[s..].find("</Code>").map(|e| &body[s..s + e])
        })
        .unwrap_or("S3");
    Some(format!("{code}: {}", &body[start..end]))
}

/// A short, single-line description of an unparsed body.
fn first_line(body: &str, status: u16) -> String {
    let line = body.lines().map(str::trim).find(|l| !l.is_empty());
    match line {
        Some(l) if l.chars().count() > 200 => {
            format!("{}...", l.chars().take(200).collect::<String>())
        }
        Some(l) => l.to_string(),
        None => reason(status).to_string(),
    }
}

/// The standard reason phrase for a status.
fn reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn conflict_carries_the_node_id() {
        let body = r#"{"logref":"x","message":"Node with the name a already exists under parentId p conflicting NodeId: n1","code":"NAME_ALREADY_EXISTS","info":{"nodeId":"n1"}}"#;
        let e = classify("upload a", 409, body, None);
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert_eq!(e.conflict_node_id(), Some("n1"));
        assert!(!e.is_temporary());
    }

    #[test]
    fn statuses_classify_as_the_service_meant_them() {
        let cases = [
            (
                403,
                r#"{"logref":"x","message":"The account does not have enough storage space for this upload","code":"QUOTA_EXCEEDED"}"#,
                ErrorKind::QuotaExceeded,
            ),
            (
                400,
                r#"{"message":"Next token is expired"}"#,
                ErrorKind::NextTokenExpired,
            ),
            (
                401,
                r#"{"message":"Token has expired"}"#,
                ErrorKind::TokenExpired,
            ),
            (
                400,
                r#"{"message":"com.amazon...UnauthourizedAccessException: HTTP status code=[401] Token has expired"}"#,
                ErrorKind::TokenExpired,
            ),
            (
                403,
                r#"{"message":"Authorization header requires 'Credential' parameter."}"#,
                ErrorKind::Unauthorized,
            ),
            (
                429,
                r#"{"message":"Rate exceeded"}"#,
                ErrorKind::RateLimited,
            ),
            (504, "", ErrorKind::ServerError),
            (
                503,
                "<html><body><b>Http/1.1 Service Unavailable</b></body> </html>",
                ErrorKind::ServerError,
            ),
            (
                400,
                r#"{"message":"Cannot complete upload"}"#,
                ErrorKind::Refused,
            ),
            (404, "", ErrorKind::NotFound),
            (
                403,
                r#"{"message":"Insufficient permissions granted for operation: purgeNode"}"#,
                ErrorKind::Refused,
            ),
        ];
        for (status, body, kind) in cases {
            assert_eq!(
                classify("op", status, body, None).kind(),
                kind,
                "{status} {body}"
            );
        }
    }

    #[test]
    fn s3_xml_errors_keep_their_code() {
        let body = "<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>";
        let e = classify("download", 400, body, None);
        assert!(
            e.to_string()
                .contains("InvalidArgument: Only one auth mechanism allowed")
        );
    }

    #[test]
    fn outcome_unknown_is_decided_by_the_classification() {
        for status in [408, 500, 502, 503, 504] {
            assert!(
                classify("move", status, "", None).outcome_unknown(),
                "{status}"
            );
        }
        for status in [400, 401, 404, 409, 429] {
            assert!(
                !classify("move", status, "", None).outcome_unknown(),
                "{status}"
            );
        }
        assert!(Error::unanswered("move", "the body ended early").outcome_unknown());
        let protocol = Error::Protocol {
            operation: "move".into(),
            message: "bad JSON".into(),
        };
        assert!(!protocol.is_temporary() && protocol.outcome_unknown());
        let exhausted = Error::RetriesExhausted {
            attempts: 3,
            elapsed: Duration::from_secs(1),
            last: Box::new(classify("move", 504, "", None)),
        };
        assert!(exhausted.outcome_unknown() && !exhausted.is_temporary());
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        let wait = parse_retry_after(&soon.replace("+0000", "GMT")).unwrap_or_default();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn empty_bodies_use_the_reason_phrase() {
        let e = classify("upload", 504, "", None);
        assert_eq!(e.to_string(), "upload: HTTP 504: Gateway Timeout");
    }
}
