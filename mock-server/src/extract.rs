//! Extractors and body readers shared by the API handlers, the admin API and the dashboard.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};

/// The query string, form-decoded (`+` is a space), as the service decoded it.
/// A repeated key keeps its last value.
#[derive(Debug, Clone, Default)]
pub struct Params(pub HashMap<String, String>);

impl Params {
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Whether `key` is present and equals `value`, ignoring case.
    pub fn is(&self, key: &str, value: &str) -> bool {
        self.get(key).is_some_and(|v| v.eq_ignore_ascii_case(value))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        Ok(Self(
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        ))
    }
}

/// Reads a JSON body of at most `limit` bytes. No `Content-Type` is required (go-acd and
/// acd_cli send none). An empty body is read as `{}` when `empty_ok`.
pub async fn read_json<T: DeserializeOwned>(
    body: Body,
    limit: usize,
    empty_ok: bool,
) -> ApiResult<T> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::bad_request(format!(
            "Request body is larger than {limit} bytes or unreadable"
        ))
    })?;
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        if empty_ok {
            b"{}"
        } else {
            return Err(ApiError::bad_request("A JSON request body is required"));
        }
    } else {
        &bytes
    };
    serde_json::from_slice(text)
        .map_err(|e| ApiError::bad_request(format!("Invalid JSON body: {e}")))
}
