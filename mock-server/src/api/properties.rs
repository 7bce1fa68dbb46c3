//! Per-app properties: `nodes/{id}/properties/{owner}[/{key}]` (reference §6.14).

use axum::Json;
use axum::extract::{Path, Request};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::read_json;
use crate::state::AppStateRef;

/// Longest property value, in characters.
const MAX_VALUE: usize = 500;

/// Refuses a call naming another app as `owner` (§6.14, §7.2: 403 for "accessing another
/// app's properties"). An app's owner name is what its nodes carry as `createdBy`: its client
/// id. A minted token is bound to no app and may use any owner (tests and seeding).
fn check_owner(caller: &Caller, owner: &str) -> ApiResult<()> {
    if caller.client_id.is_empty() || caller.client_id == owner {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "Access to the properties of another application is not allowed: {owner}"
        )))
    }
}

/// Any request under `nodes/{id}/properties` with an empty owner: 404
/// `<UnknownOperationException/>` (§6.14).
pub async fn empty_owner() -> ApiError {
    ApiError::UnknownOperation
}

fn check_node(state: &AppStateRef, caller: &Caller, id: &str, owner: &str) -> ApiResult<()> {
    check_owner(caller, owner)?;
    state
        .meta
        .node(caller.account.id, id)?
        .map(|_| ())
        .ok_or_else(|| ApiError::node_not_found(id))
}

/// `GET nodes/{id}/properties/{owner}`: `{"data":{key:value}}`.
pub async fn list(
    state: AppStateRef,
    caller: Caller,
    Path((id, owner)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    check_node(&state, &caller, &id, &owner)?;
    let data: serde_json::Map<String, Value> = state
        .meta
        .properties(&id, &owner)?
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    Ok(Json(json!({ "data": data })))
}

/// `GET nodes/{id}/properties/{owner}/{key}`: `{"key","value"}`.
pub async fn get_one(
    state: AppStateRef,
    caller: Caller,
    Path((id, owner, key)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    check_node(&state, &caller, &id, &owner)?;
    let value = state
        .meta
        .properties(&id, &owner)?
        .into_iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .ok_or_else(|| ApiError::NotFound(format!("Property {key} does not exist")))?;
    Ok(Json(json!({"key": key, "value": value})))
}

#[derive(Debug, Deserialize)]
struct PutBody {
    value: Option<String>,
}

/// `PUT nodes/{id}/properties/{owner}/{key}` with `{"value"}`: 201 `{"key","location","value"}`.
pub async fn put(
    state: AppStateRef,
    caller: Caller,
    Path((id, owner, key)): Path<(String, String, String)>,
    request: Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    check_node(&state, &caller, &id, &owner)?;
    let body: PutBody = read_json(request.into_body(), state.config.max_json_body, false).await?;
    let value = body
        .value
        .ok_or_else(|| ApiError::bad_request("value is required"))?;
    if value.chars().count() > MAX_VALUE {
        return Err(ApiError::bad_request(format!(
            "A property value may be at most {MAX_VALUE} characters"
        )));
    }
    if key.is_empty() {
        return Err(ApiError::bad_request("key must not be empty"));
    }
    state.meta.set_property(&id, &owner, &key, &value)?;
    let location = format!(
        "{}nodes/{id}/properties/{owner}/{key}",
        state.metadata_url()
    );
    Ok((
        StatusCode::CREATED,
        Json(json!({"key": key, "location": location, "value": value})),
    ))
}

/// `DELETE nodes/{id}/properties/{owner}/{key}`: 204.
pub async fn delete(
    state: AppStateRef,
    caller: Caller,
    Path((id, owner, key)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    check_node(&state, &caller, &id, &owner)?;
    if state.meta.delete_property(&id, &owner, &key)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("Property {key} does not exist")))
    }
}
