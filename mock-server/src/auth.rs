//! Bearer-token authentication of API calls.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::error::ApiError;
use crate::store::meta::Account;

/// The account an API call acts for, from its `Authorization: Bearer` access token.
/// A missing, unknown or expired token is a 401 `{"message":"Token has expired"}`.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The signed-in account.
    pub account: Account,
    /// The OAuth client the token was issued to (empty for minted tokens).
    pub client_id: String,
    /// When the access token expires (epoch ms).
    pub expires: Option<i64>,
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or(ApiError::TokenExpired)?;
        let row = state.meta.token(token)?.ok_or(ApiError::TokenExpired)?;
        if row.kind != "access" || row.expires.is_some_and(|e| e <= state.now_ms()) {
            return Err(ApiError::TokenExpired);
        }
        let account = state
            .meta
            .account(row.account)?
            .ok_or(ApiError::TokenExpired)?;
        // Whatever the request, a phantom whose time has come is real before it is answered.
        state.settle_phantoms(account.id, false);
        // And trash older than the retention is gone (reference §6.11).
        state.purge_expired_trash(account.id)?;
        if let Some(slot) = parts.extensions.get::<crate::journal::AccountSlot>() {
            let _ = slot.0.set(account.email.clone());
        }
        Ok(Caller {
            account,
            client_id: row.client_id,
            expires: row.expires,
        })
    }
}
