//! Bearer-token authentication of API calls.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::marks::AccountSlot;
use crate::state::AppState;
use crate::store::meta::Account;
use crate::tokens::caller_of;

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
        let (account, row) =
            caller_of(&state.meta, &parts.headers)?.ok_or(ApiError::TokenExpired)?;
        // Whatever the request, a phantom whose time has come is real before it is answered.
        state.settle_phantoms(account.id, false);
        // And trash older than the retention is gone (reference §6.11).
        state.purge_expired_trash(account.id)?;
        if let Some(slot) = parts.extensions.get::<AccountSlot>() {
            let _ = slot.0.set(account.email.clone());
        }
        Ok(Caller {
            account,
            client_id: row.client_id,
            expires: row.expires,
        })
    }
}
