//! The service's error responses.
//!
//! Every failure the mock reports goes through [`ApiError`], which renders the exact body shapes
//! Amazon Drive used (reference §7): `{"logref","message","code","info"}` for the metadata and
//! content APIs, the bare `{"message":...}` of the gateway, the Login-with-Amazon token errors,
//! S3's XML errors, and the throttling, gateway and front-end errors fault rules inject
//! (`faults::respond` turns its presets into these variants: one renderer for every error body).

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::util::logref;

/// One error the mock answers with, rendered in the service's own body shape.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 with `{"logref","message","code":""}`.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 400 `{"logref","message":"Next token is expired"}`: a listing cursor past its lifetime.
    #[error("next token is expired")]
    NextTokenExpired,
    /// 400 with the bare `{"message":...}` the content service gave when an upload failed
    /// (reference §6.5): [`UPLOAD_INCOMPLETE`] or [`UNREADABLE_REQUEST`], nothing else.
    #[error("upload failed: {0}")]
    Upload(&'static str),
    /// 401 `{"message":"Token has expired"}`: an unknown, expired or missing access token.
    #[error("token has expired")]
    TokenExpired,
    /// 403 with `{"logref","message","code":""}`: root trash, blocked operations, contentProperties edits.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 403 `{"message":"Insufficient permissions granted for operation: <op>"}`.
    #[error("insufficient permissions for {0}")]
    InsufficientPermissions(&'static str),
    /// 403: the account's quota would be exceeded.
    #[error("quota exceeded")]
    QuotaExceeded,
    /// 404 with `{"logref","message","code":""}`.
    #[error("not found: {0}")]
    NotFound(String),
    /// 404 `<UnknownOperationException/>`: a properties path with an empty owner (§6.14).
    #[error("unknown operation")]
    UnknownOperation,
    /// 405: the path exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409 NAME_ALREADY_EXISTS, with the lowercased name and the conflicting node id.
    #[error("name {name} already exists under {parent}")]
    NameExists {
        /// The requested name (rendered lowercased, as the service did).
        name: String,
        /// The parent the clash happened under.
        parent: String,
        /// The existing node holding the name.
        node_id: String,
    },
    /// 409: an upload whose content already exists in the account, sent without
    /// `suppress=deduplication`.
    #[error("duplicate content of {node_id}")]
    Duplicate {
        /// The existing node with the same content.
        node_id: String,
    },
    /// 409: a create whose `localId` another node of the account already has (§6.5).
    #[error("localId {local_id} already used by {node_id}")]
    LocalIdExists {
        /// The repeated `localId`.
        local_id: String,
        /// The node the `localId` maps to.
        node_id: String,
    },
    /// 411: an upload with neither `Content-Length` nor chunked framing.
    #[error("length required")]
    LengthRequired,
    /// 500 `{"message":"Internal failure"}`; the detail is logged, never sent.
    #[error("internal failure: {0}")]
    Internal(String),
    /// 500 `{"message":"Internal failure"}` as an injected fault gives it: nothing is logged.
    #[error("internal failure")]
    InternalFailure,
    /// 429 `{"logref","message":"Rate exceeded","code":""}`.
    #[error("rate exceeded")]
    RateExceeded,
    /// 429 `{"message":"Rate exceeded"}` (the gateway's style).
    #[error("rate exceeded (gateway)")]
    RateExceededBare,
    /// 429 `{"logref","message":"Concurrent Access on same node. Please back off.","code":""}`.
    #[error("concurrent access on same node")]
    ConcurrentAccess,
    /// 429 `{"logref","message":"System unavailable. ...","code":""}` (§12.9).
    #[error("system unavailable")]
    SystemUnavailable,
    /// 502 with an empty body.
    #[error("bad gateway")]
    BadGateway,
    /// 503 with the front end's HTML body (§3).
    #[error("service unavailable")]
    ServiceUnavailable,
    /// 503 `{"logref":"","message":"OPF (Online Proxy Fleet) unavailable","code":"ONLINE_PROXY_FLEET_FAILURE"}` (§12.9).
    #[error("online proxy fleet unavailable")]
    ProxyFleetUnavailable,
    /// 504 with an empty body (the serving loop writes the status line `504 GATEWAY_TIMEOUT`).
    #[error("gateway timeout")]
    GatewayTimeout,
    /// 408 with an empty body (the serving loop writes the status line `408 REQUEST_TIMEOUT`).
    #[error("request timeout")]
    RequestTimeout,
    /// The upload-time 400 whose message wraps a 401 (acd_cli#486).
    #[error("upload unauthorized")]
    UploadUnauthorized,
    /// 403 `{"message":"Authorization header requires 'Credential' parameter. ..."}`.
    #[error("authorization header refused")]
    AuthorizationHeader,
    /// 401 with an empty body (seen on `POST changes`, acd_cli#544).
    #[error("unauthorized")]
    UnauthorizedEmpty,
    /// Any status with a bare `{"message"}` body, or an empty body without a message.
    #[error("status {status}")]
    Status {
        /// The status.
        status: StatusCode,
        /// The message; none: an empty body.
        message: Option<String>,
    },
    /// A Login-with-Amazon token endpoint error: `{"error_description","error"}`.
    #[error("oauth {error}: {description}")]
    OAuth {
        /// 400 or 401.
        status: StatusCode,
        /// `invalid_grant`, `invalid_client`, `unsupported_grant_type`, `invalid_request`.
        error: &'static str,
        /// The human text.
        description: String,
    },
    /// An S3-style XML error (tempLinks and presigned URLs).
    #[error("s3 {code}: {message}")]
    S3 {
        /// HTTP status.
        status: StatusCode,
        /// S3 error code, e.g. `InvalidArgument`.
        code: &'static str,
        /// S3 message.
        message: String,
        /// The `<ArgumentName>` of an `InvalidArgument` error.
        argument: Option<&'static str>,
    },
}

/// The 400 message of an upload the service could not finish (§6.5).
pub const UPLOAD_INCOMPLETE: &str = "Cannot complete upload";

/// The 400 message of an upload body the service could not read (§6.5).
pub const UNREADABLE_REQUEST: &str = "Cannot read from request.";

/// The 403 the API gateway gave sporadically (rclone retries it on this phrase).
pub const AUTHORIZATION_HEADER_MESSAGE: &str = "Authorization header requires 'Credential' parameter. \
Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' \
parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. \
Authorization=Bearer";

/// The 429 acd_cli met when the service was overloaded (§12.9).
pub const SYSTEM_UNAVAILABLE_MESSAGE: &str =
    "System unavailable. Please back off for a while and try again later";

/// The front end's HTML body of a 503 (§3).
const SERVICE_UNAVAILABLE_HTML: &str =
    "<html><body><b>Http/1.1 Service Unavailable</b></body> </html>";

/// What an error's body is, before it is written.
enum Rendered {
    /// A JSON body (`application/json`).
    Json(serde_json::Value),
    /// An XML body (`application/xml`).
    Xml(String),
    /// An HTML body (`text/html`).
    Html(&'static str),
    /// No body and no `Content-Type`.
    Empty,
}

impl ApiError {
    /// A 400 with the given message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    /// A 404 for a node id.
    pub fn node_not_found(id: &str) -> Self {
        Self::NotFound(format!("Node does not exist: {id}"))
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_)
            | Self::NextTokenExpired
            | Self::Upload(_)
            | Self::UploadUnauthorized => StatusCode::BAD_REQUEST,
            Self::TokenExpired | Self::UnauthorizedEmpty => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_)
            | Self::InsufficientPermissions(_)
            | Self::QuotaExceeded
            | Self::AuthorizationHeader => StatusCode::FORBIDDEN,
            Self::NotFound(_) | Self::UnknownOperation => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NameExists { .. } | Self::Duplicate { .. } | Self::LocalIdExists { .. } => {
                StatusCode::CONFLICT
            }
            Self::LengthRequired => StatusCode::LENGTH_REQUIRED,
            Self::Internal(_) | Self::InternalFailure => StatusCode::INTERNAL_SERVER_ERROR,
            Self::RateExceeded
            | Self::RateExceededBare
            | Self::ConcurrentAccess
            | Self::SystemUnavailable => StatusCode::TOO_MANY_REQUESTS,
            Self::BadGateway => StatusCode::BAD_GATEWAY,
            Self::ServiceUnavailable | Self::ProxyFleetUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::OAuth { status, .. } | Self::S3 { status, .. } | Self::Status { status, .. } => {
                *status
            }
        }
    }

    /// The JSON body of this error (`None` for the XML, HTML and empty ones).
    pub fn json_body(&self) -> Option<serde_json::Value> {
        match self.rendered() {
            Rendered::Json(body) => Some(body),
            Rendered::Xml(_) | Rendered::Html(_) | Rendered::Empty => None,
        }
    }

    /// This error's body: the one place every error body is written.
    fn rendered(&self) -> Rendered {
        let standard = |message: &str, code: &str| json!({"logref": logref(), "message": message, "code": code});
        Rendered::Json(match self {
            Self::BadRequest(m) | Self::Forbidden(m) | Self::NotFound(m) => standard(m, ""),
            Self::NextTokenExpired => {
                json!({"logref": logref(), "message": "Next token is expired"})
            }
            Self::Upload(message) => json!({"message": message}),
            Self::TokenExpired => json!({"message": "Token has expired"}),
            Self::InsufficientPermissions(op) => {
                json!({"message": format!("Insufficient permissions granted for operation: {op}")})
            }
            Self::QuotaExceeded => standard(
                "The account does not have enough storage space for this upload",
                "QUOTA_EXCEEDED",
            ),
            Self::MethodNotAllowed => standard("Method not allowed", ""),
            Self::NameExists {
                name,
                parent,
                node_id,
            } => json!({
                "logref": logref(),
                "message": format!(
                    "Node with the name {} already exists under parentId {parent} conflicting NodeId: {node_id}",
                    name.to_lowercase()
                ),
                "code": "NAME_ALREADY_EXISTS",
                "info": {"nodeId": node_id},
            }),
            Self::Duplicate { node_id } => json!({
                "logref": logref(),
                "message": "Attempted to upload a duplicate File",
                "code": "DUPLICATE_CONTENT",
                "info": {"nodeId": node_id},
            }),
            Self::LocalIdExists { local_id, node_id } => json!({
                "logref": logref(),
                "message": format!(
                    "Node with the localId {local_id} already exists conflicting NodeId: {node_id}"
                ),
                "code": "LOCAL_ID_ALREADY_EXISTS",
                "info": {"nodeId": node_id},
            }),
            Self::LengthRequired => standard("Content-Length required", ""),
            Self::Internal(_) | Self::InternalFailure => json!({"message": "Internal failure"}),
            Self::RateExceeded => standard("Rate exceeded", ""),
            Self::RateExceededBare => json!({"message": "Rate exceeded"}),
            Self::ConcurrentAccess => {
                standard("Concurrent Access on same node. Please back off.", "")
            }
            Self::SystemUnavailable => standard(SYSTEM_UNAVAILABLE_MESSAGE, ""),
            Self::ProxyFleetUnavailable => json!({
                "logref": "",
                "message": "OPF (Online Proxy Fleet) unavailable",
                "code": "ONLINE_PROXY_FLEET_FAILURE",
            }),
            Self::UploadUnauthorized => json!({"message": format!(
                "com.amazon.clouddrive.client.exceptions.UnauthourizedAccessException: HTTP status code=[401] RequestId=[{}] Token has expired",
                logref()
            )}),
            Self::AuthorizationHeader => json!({"message": AUTHORIZATION_HEADER_MESSAGE}),
            Self::Status {
                message: Some(message),
                ..
            } => json!({"message": message}),
            Self::OAuth {
                error, description, ..
            } => json!({"error_description": description, "error": error}),
            Self::S3 {
                code,
                message,
                argument,
                ..
            } => return Rendered::Xml(s3_body(code, message, *argument)),
            Self::UnknownOperation => {
                return Rendered::Xml("<UnknownOperationException/>".to_string());
            }
            Self::ServiceUnavailable => return Rendered::Html(SERVICE_UNAVAILABLE_HTML),
            Self::BadGateway
            | Self::GatewayTimeout
            | Self::RequestTimeout
            | Self::UnauthorizedEmpty
            | Self::Status { message: None, .. } => return Rendered::Empty,
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Self::Internal(detail) = &self {
            tracing::error!(%detail, "internal failure");
        }
        match self.rendered() {
            Rendered::Json(body) => (status, axum::Json(body)).into_response(),
            Rendered::Xml(body) => labelled(status, body, "application/xml"),
            Rendered::Html(body) => labelled(status, body, "text/html"),
            Rendered::Empty => {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = status;
                response
            }
        }
    }
}

/// A text body labelled with `content_type`.
fn labelled(status: StatusCode, body: impl IntoResponse, content_type: &'static str) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// S3's error document (§6.7, §7.1): `Code`, `Message`, `ArgumentName` for an
/// `InvalidArgument`, then `RequestId` (16 upper-case hex digits) and `HostId`. S3 also echoed
/// the refused header's value as `<ArgumentValue>`; the mock leaves it out, since for the
/// `Authorization` header that is the caller's access token.
pub fn s3_body(code: &str, message: &str, argument: Option<&str>) -> String {
    let id = logref().replace('-', "").to_uppercase();
    let request_id = id.get(..16).unwrap_or(&id);
    let host_id = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        md5::Digest::finalize(<md5::Md5 as md5::Digest>::new_with_prefix(id.as_bytes())),
    );
    let argument = argument
        .map(|name| format!("<ArgumentName>{}</ArgumentName>", xml_escape(name)))
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>{argument}<RequestId>{request_id}</RequestId><HostId>{host_id}</HostId></Error>",
        xml_escape(code),
        xml_escape(message),
    )
}

/// Escapes text for an XML element.
fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Result type of route handlers and store calls.
pub type ApiResult<T> = Result<T, ApiError>;

impl From<rusqlite::Error> for ApiError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Internal(format!("metadata store: {error}"))
    }
}

impl From<std::io::Error> for ApiError {
    fn from(error: std::io::Error) -> Self {
        Self::Internal(format!("blob store: {error}"))
    }
}
