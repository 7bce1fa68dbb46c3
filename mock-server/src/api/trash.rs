//! Trash: `PUT trash/{id}`, `POST trash/{id}/restore`, `GET trash` (reference §6.11).

use axum::Json;
use axum::body::Body;
use axum::extract::Path;
use serde_json::Value;

use crate::api::{list_json, paging};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::Params;
use crate::state::AppStateRef;

/// `PUT trash/{id}`: trash a node (a folder takes its subtree along). The root is 403.
pub async fn trash(
    state: AppStateRef,
    caller: Caller,
    Path(id): Path<String>,
    _body: Body,
) -> ApiResult<Json<Value>> {
    let lag = state.faults.listing_lag();
    Ok(Json(state.meta.trash(caller.account.id, &id, lag)?.json()))
}

/// `POST trash/{id}/restore`: back to all of its parents; 409 if a live sibling took the name.
pub async fn restore(
    state: AppStateRef,
    caller: Caller,
    Path(id): Path<String>,
    _body: Body,
) -> ApiResult<Json<Value>> {
    Ok(Json(state.meta.restore(caller.account.id, &id)?.json()))
}

/// `GET trash`: the nodes trashed directly (not those trashed along with a folder), paged.
pub async fn list(state: AppStateRef, caller: Caller, params: Params) -> ApiResult<Json<Value>> {
    let (after, limit) = paging(&state, &params)?;
    let page = state.meta.trash_page(caller.account.id, after, limit)?;
    Ok(Json(list_json(&state, &page, &params)?))
}
