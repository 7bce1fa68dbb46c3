//! Login with Amazon, emulated: the token endpoint (reference §1.3, §12.6-12.8).
//!
//! Client credentials are accepted by HTTP Basic (id and secret URL-escaped before base64, as
//! golang/oauth2 sends them) or as form fields. Unless the server was started with `--client`,
//! any client is accepted. Access tokens start `Atza|` and are 357 characters long; refresh
//! tokens start `Atzr|` and never expire.

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, AppStateRef};
use crate::store::meta::TokenRow;

pub use crate::tokens::{TokenResponse, issue_tokens};

fn oauth_error(status: StatusCode, error: &'static str, description: &str) -> ApiError {
    ApiError::OAuth {
        status,
        error,
        description: description.into(),
    }
}

fn invalid_grant(parameter: &str) -> ApiError {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        &format!("The request has an invalid grant parameter : {parameter}"),
    )
}

/// The client id and secret from HTTP Basic or the form.
fn client_credentials(headers: &HeaderMap, form: &[(String, String)]) -> (String, String) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b64| STANDARD.decode(b64.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            let unescape = |s: &str| {
                form_urlencoded::parse(format!("v={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            Some((unescape(id), unescape(secret)))
        });
    basic.unwrap_or_else(|| {
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        (field("client_id"), field("client_secret"))
    })
}

/// `POST /auth/o2/token`: `refresh_token` and `authorization_code` grants.
pub async fn token(state: AppStateRef, request: Request) -> Response {
    match exchange(&state, request).await {
        Ok(tokens) => {
            let mut response = Json(tokens).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => error.into_response(),
    }
}

async fn exchange(state: &AppState, request: Request) -> ApiResult<TokenResponse> {
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), state.config.max_json_body)
        .await
        .map_err(|_| {
            oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The request body is too large",
            )
        })?;
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (client_id, secret) = client_credentials(&headers, &form);
    let known = &state.config.clients;
    if !known.is_empty() && !known.iter().any(|(id, s)| *id == client_id && *s == secret) {
        return Err(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        ));
    }
    let bound_elsewhere = |row: &TokenRow| !row.client_id.is_empty() && row.client_id != client_id;
    match field("grant_type") {
        Some("refresh_token") => {
            let token = field("refresh_token").ok_or_else(|| invalid_grant("refresh_token"))?;
            let row = state
                .meta
                .token(token)?
                .filter(|row| row.kind == "refresh" && !bound_elsewhere(row))
                .ok_or_else(|| invalid_grant("refresh_token"))?;
            if state.meta.account(row.account)?.is_none() {
                return Err(invalid_grant("refresh_token"));
            }
            issue_tokens(
                &state.meta,
                row.account,
                &row.client_id,
                Some(token.to_string()),
                state.config.token_lifetime,
            )
        }
        Some("authorization_code") => {
            let code = field("code").ok_or_else(|| invalid_grant("code"))?;
            let row = state
                .meta
                .token(code)?
                .filter(|row| row.kind == "code" && !row.used && !bound_elsewhere(row))
                .filter(|row| row.expires.is_none_or(|e| e > state.now_ms()))
                .ok_or_else(|| invalid_grant("code"))?;
            if row.redirect_uri.as_deref() != field("redirect_uri") {
                return Err(invalid_grant("redirect_uri"));
            }
            if !state.meta.use_code(code)? {
                return Err(invalid_grant("code"));
            }
            issue_tokens(
                &state.meta,
                row.account,
                &client_id,
                None,
                state.config.token_lifetime,
            )
        }
        Some(_) => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server",
        )),
        None => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The request is missing a required parameter : grant_type",
        )),
    }
}
