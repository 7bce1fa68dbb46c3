//! The responses faults give: the service's error bodies, resets, cut and corrupted bodies.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt as _;

pub use crate::error::{AUTHORIZATION_HEADER_MESSAGE, SYSTEM_UNAVAILABLE_MESSAGE};
use crate::error::{ApiError, UPLOAD_INCOMPLETE};
use crate::faults::rule::ErrorPreset;

/// The status lines the service's front end wrote (§7.1): `504 GATEWAY_TIMEOUT` and
/// `408 REQUEST_TIMEOUT`, where hyper would write the canonical `Gateway Timeout` and
/// `Request Timeout`. Set on every 504 and 408 the mock sends, whatever produced it.
pub fn service_reason(response: &mut Response) {
    let reason = match response.status() {
        StatusCode::GATEWAY_TIMEOUT => "GATEWAY_TIMEOUT",
        StatusCode::REQUEST_TIMEOUT => "REQUEST_TIMEOUT",
        _ => return,
    };
    if response
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .is_none()
    {
        response
            .extensions_mut()
            .insert(hyper::ext::ReasonPhrase::from_static(reason.as_bytes()));
    }
}

impl From<ErrorPreset> for ApiError {
    fn from(preset: ErrorPreset) -> Self {
        use ErrorPreset::*;
        match preset {
            RateExceeded => Self::RateExceeded,
            RateExceededBare => Self::RateExceededBare,
            ConcurrentAccess => Self::ConcurrentAccess,
            InternalFailure => Self::InternalFailure,
            BadGateway => Self::BadGateway,
            ServiceUnavailable => Self::ServiceUnavailable,
            ProxyFleetUnavailable => Self::ProxyFleetUnavailable,
            GatewayTimeout => Self::GatewayTimeout,
            RequestTimeout => Self::RequestTimeout,
            NextTokenExpired => Self::NextTokenExpired,
            TokenExpired => Self::TokenExpired,
            UploadUnauthorized => Self::UploadUnauthorized,
            AuthorizationHeader => Self::AuthorizationHeader,
            UnauthorizedEmpty => Self::UnauthorizedEmpty,
            SystemUnavailable => Self::SystemUnavailable,
            CannotCompleteUpload => Self::Upload(UPLOAD_INCOMPLETE),
            UnauthorizedClient => Self::OAuth {
                status: StatusCode::BAD_REQUEST,
                error: "unauthorized_client",
                description: "Not authorized for requested operation".into(),
            },
        }
    }
}

/// One of the service's errors, with its real body (rendered by [`ApiError`]).
pub fn preset(error: ErrorPreset) -> Response {
    ApiError::from(error).into_response()
}

/// Any status with a `{"message"}` body, or an empty one (rendered by [`ApiError`]).
pub fn status(code: u16, message: Option<&str>) -> Response {
    ApiError::Status {
        status: StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        message: message.map(str::to_string),
    }
    .into_response()
}

/// Adds `Retry-After`.
pub fn with_retry_after(mut response: Response, seconds: Option<u64>) -> Response {
    if let Some(s) = seconds {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    response
}

/// The error that makes the serving loop drop a connection.
#[derive(Debug, thiserror::Error)]
#[error("connection reset by fault injection")]
pub struct InjectedReset;

/// A response the server never sends: the serving loop ([`crate::server`]) sees the marker and
/// closes the connection before anything is written.
pub fn reset() -> Response {
    let mut response = Response::new(Body::empty());
    response.extensions_mut().insert(ResetMarker);
    response
}

/// Marks a response that must become a dropped connection.
#[derive(Debug, Clone, Copy)]
pub struct ResetMarker;

/// Is this response a reset?
pub fn is_reset(response: &Response) -> bool {
    response.extensions().get::<ResetMarker>().is_some()
}

/// Keeps the body's exact length as `Content-Length`, so a client sees a short body as one.
fn keep_length(parts: &mut axum::http::response::Parts, body: &Body) {
    use axum::body::HttpBody as _;
    if let Some(n) = body.size_hint().exact() {
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
}

/// Passes the first `after` bytes of the body, then fails it, so the connection closes with
/// the body incomplete. A body no longer than `after` passes whole.
pub fn cut_body(response: Response, after: u64) -> Response {
    let (mut parts, body) = response.into_parts();
    keep_length(&mut parts, &body);
    let inner = body.into_data_stream();
    // State: the inner stream, bytes still allowed, and whether the next item must be the cut.
    let stream = futures_util::stream::unfold(
        (inner, after, false, false),
        |(mut inner, left, cut_next, done)| async move {
            if done {
                return None;
            }
            let cut = || Err(std::io::Error::other("body cut by fault injection"));
            if cut_next {
                // Pause once so the server flushes what was sent before the cut: the client
                // then really receives the first `after` bytes.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                return Some((cut(), (inner, 0, false, true)));
            }
            match inner.next().await {
                None => None,
                Some(Err(e)) => Some((Err(std::io::Error::other(e)), (inner, 0, false, true))),
                Some(Ok(chunk)) if (chunk.len() as u64) <= left => {
                    let left = left - chunk.len() as u64;
                    Some((Ok(chunk), (inner, left, false, false)))
                }
                Some(Ok(mut chunk)) => {
                    chunk.truncate(usize::try_from(left).unwrap_or(usize::MAX));
                    Some((Ok(chunk), (inner, 0, true, false)))
                }
            }
        },
    );
    Response::from_parts(parts, Body::from_stream(stream))
}

/// Flips every bit of the body's byte at `offset` (bodies shorter than that pass unchanged).
pub fn corrupt_byte(response: Response, offset: u64) -> Response {
    let (mut parts, body) = response.into_parts();
    keep_length(&mut parts, &body);
    let mut pos = 0u64;
    let stream = body.into_data_stream().map(move |chunk| {
        chunk.map(|chunk: Bytes| {
            let start = pos;
            pos += chunk.len() as u64;
            if (start..pos).contains(&offset) {
                let mut bytes = chunk.to_vec();
                let i = usize::try_from(offset - start).unwrap_or(0);
                bytes[i] ^= 0xFF;
                Bytes::from(bytes)
            } else {
                chunk
            }
        })
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The labels the presets' answers carry: JSON bodies `application/json`, the 503 HTML
    /// `text/html`, the empty bodies no `Content-Type` at all.
    #[test]
    fn presets_keep_their_statuses_and_content_types() {
        use ErrorPreset::*;
        let cases = [
            (RateExceeded, 429, Some("application/json")),
            (RateExceededBare, 429, Some("application/json")),
            (ConcurrentAccess, 429, Some("application/json")),
            (InternalFailure, 500, Some("application/json")),
            (BadGateway, 502, None),
            (ServiceUnavailable, 503, Some("text/html")),
            (ProxyFleetUnavailable, 503, Some("application/json")),
            (GatewayTimeout, 504, None),
            (RequestTimeout, 408, None),
            (NextTokenExpired, 400, Some("application/json")),
            (TokenExpired, 401, Some("application/json")),
            (UploadUnauthorized, 400, Some("application/json")),
            (AuthorizationHeader, 403, Some("application/json")),
            (UnauthorizedEmpty, 401, None),
            (SystemUnavailable, 429, Some("application/json")),
            (CannotCompleteUpload, 400, Some("application/json")),
            (UnauthorizedClient, 400, Some("application/json")),
        ];
        for (error, code, content_type) in cases {
            let response = preset(error);
            assert_eq!(response.status().as_u16(), code, "{error:?}");
            let label = response
                .headers()
                .get(header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap_or_default());
            assert_eq!(label, content_type, "{error:?}");
            if content_type.is_none() {
                assert_eq!(response.headers().len(), 0, "{error:?}");
            }
        }
    }

    /// `status` answers a bare `{"message"}` or an empty body, and 500 for an invalid code.
    #[test]
    fn status_answers_a_bare_message_or_nothing() {
        let with = status(418, Some("short and stout"));
        assert_eq!(with.status().as_u16(), 418);
        assert_eq!(with.headers()[header::CONTENT_TYPE], "application/json");
        let without = status(507, None);
        assert_eq!(without.status().as_u16(), 507);
        assert_eq!(without.headers().len(), 0);
        assert_eq!(status(1000, None).status().as_u16(), 500);
    }
}
