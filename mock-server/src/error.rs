//! The service's error responses.
//!
//! Every failure the mock reports goes through [`ApiError`], which renders the exact body shapes
//! Amazon Drive used (reference §7): `{"logref","message","code","info"}` for the metadata and
//! content APIs, the bare `{"message":...}` of the gateway, the Login-with-Amazon token errors and
//! S3's XML errors.

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
    /// 411: an upload with neither `Content-Length` nor chunked framing.
    #[error("length required")]
    LengthRequired,
    /// 500 `{"message":"Internal failure"}`; the detail is logged, never sent.
    #[error("internal failure: {0}")]
    Internal(String),
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
    },
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
            Self::BadRequest(_) | Self::NextTokenExpired => StatusCode::BAD_REQUEST,
            Self::TokenExpired => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::InsufficientPermissions(_) | Self::QuotaExceeded => {
                StatusCode::FORBIDDEN
            }
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NameExists { .. } | Self::Duplicate { .. } => StatusCode::CONFLICT,
            Self::LengthRequired => StatusCode::LENGTH_REQUIRED,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::OAuth { status, .. } | Self::S3 { status, .. } => *status,
        }
    }

    /// The JSON body of this error (`None` for the XML S3 errors).
    pub fn json_body(&self) -> Option<serde_json::Value> {
        let standard = |message: &str, code: &str| json!({"logref": logref(), "message": message, "code": code});
        Some(match self {
            Self::BadRequest(m) | Self::Forbidden(m) | Self::NotFound(m) => standard(m, ""),
            Self::NextTokenExpired => {
                json!({"logref": logref(), "message": "Next token is expired"})
            }
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
            Self::LengthRequired => standard("Content-Length required", ""),
            Self::Internal(_) => json!({"message": "Internal failure"}),
            Self::OAuth {
                error, description, ..
            } => json!({"error_description": description, "error": error}),
            Self::S3 { .. } => return None,
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Self::Internal(detail) = &self {
            tracing::error!(%detail, "internal failure");
        }
        match &self {
            Self::S3 { code, message, .. } => {
                let body = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message><RequestId>{}</RequestId></Error>",
                    xml_escape(message),
                    logref()
                );
                let mut response = (status, body).into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/xml"),
                );
                response
            }
            _ => {
                let body = self.json_body().unwrap_or_default();
                (status, axum::Json(body)).into_response()
            }
        }
    }
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
