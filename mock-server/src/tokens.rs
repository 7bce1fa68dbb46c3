//! Access and refresh tokens: issuing them (the token endpoint, the sign-in's code exchange,
//! the admin API's minting) and resolving a request's bearer token to its account (API
//! authentication in [`crate::auth`] and the fault layer's per-account matching).

use axum::http::{HeaderMap, header};
use serde::{Deserialize, Serialize};

use crate::error::ApiResult;
use crate::store::meta::{Account, MetaStore, TokenRow};
use crate::util::random_base64;

/// The token JSON the endpoint answers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// `Atza|...`.
    pub access_token: String,
    /// `Atzr|...`.
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// Issues a new access token (and, unless one is given, a new refresh token) for an account.
pub fn issue_tokens(
    meta: &MetaStore,
    account: i64,
    client_id: &str,
    refresh_token: Option<String>,
    lifetime: std::time::Duration,
) -> ApiResult<TokenResponse> {
    let access = format!("Atza|{}", random_base64(264));
    let lifetime_ms = i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX);
    meta.insert_token(
        &access,
        &TokenRow {
            kind: "access".into(),
            account,
            client_id: client_id.into(),
            expires: Some(meta.clock().now_ms().saturating_add(lifetime_ms)),
            redirect_uri: None,
            scope: None,
            used: false,
        },
    )?;
    let refresh = match refresh_token {
        Some(token) => token,
        None => {
            let token = format!("Atzr|{}", random_base64(264));
            meta.insert_token(
                &token,
                &TokenRow {
                    kind: "refresh".into(),
                    account,
                    client_id: client_id.into(),
                    expires: None,
                    redirect_uri: None,
                    scope: None,
                    used: false,
                },
            )?;
            token
        }
    };
    Ok(TokenResponse {
        access_token: access,
        refresh_token: refresh,
        token_type: "bearer".into(),
        expires_in: lifetime.as_secs(),
    })
}

/// The token of a request's `Authorization: Bearer` header (scheme case-insensitive).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The account behind a request's bearer access token, with the token's row. `Ok(None)` when
/// the token is missing, unknown, not an access token or expired (by the mock's clock).
pub fn caller_of(meta: &MetaStore, headers: &HeaderMap) -> ApiResult<Option<(Account, TokenRow)>> {
    let Some(token) = bearer(headers) else {
        return Ok(None);
    };
    let Some(row) = meta.token(token)? else {
        return Ok(None);
    };
    if row.kind != "access" || row.expires.is_some_and(|e| e <= meta.clock().now_ms()) {
        return Ok(None);
    }
    Ok(meta.account(row.account)?.map(|account| (account, row)))
}
