//! Node metadata: search, children, get, create folder, PATCH, move, add and remove parent,
//! and the refused purge (reference §5, §6.1-6.4, §6.8-6.11).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use crate::api::{list_json, node_json, paging, take_lost_page};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Params, read_json};
use crate::state::AppState;
use crate::state::AppStateRef;
use crate::store::filter::{Filter, parse};
use crate::store::meta::{NewNode, Patch};
use crate::store::node::{AVAILABLE, FOLDER, name_problem};

fn filter_of(params: &Params) -> ApiResult<Filter> {
    parse(params.get("filters").unwrap_or("")).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// `GET nodes?filters=...`: search every node of the account.
pub async fn search(state: AppStateRef, caller: Caller, params: Params) -> ApiResult<Json<Value>> {
    list(&state, &caller, None, &params)
}

/// One page of a search, or of one folder's children: lets due phantom uploads appear, checks
/// the cursor, and skips a page an injected 429 "lost".
fn list(
    state: &AppState,
    caller: &Caller,
    parent: Option<&str>,
    params: &Params,
) -> ApiResult<Json<Value>> {
    let filter = filter_of(params)?;
    state.settle_phantoms(caller.account.id, true);
    let account = caller.account.id;
    let (mut after, limit) = paging(state, params)?;
    if take_lost_page(state, params) {
        let lost = state.meta.search(account, &filter, parent, after, limit)?;
        after = lost.next_after.unwrap_or(i64::MAX);
    }
    let mut page = state.meta.search(account, &filter, parent, after, limit)?;
    if !filter.mentions_status() {
        state
            .faults
            .mark_pending_folders(&mut page.nodes, state.now_ms());
    }
    Ok(Json(list_json(state, &page, params)?))
}

/// `GET nodes/{id}/children`: a folder's children, optionally filtered.
pub async fn children(
    state: AppStateRef,
    caller: Caller,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let folder = state
        .meta
        .node(caller.account.id, &id)?
        .ok_or_else(|| ApiError::node_not_found(&id))?;
    if !folder.is_folder() {
        return Err(ApiError::bad_request(format!("Node {id} is not a folder")));
    }
    list(&state, &caller, Some(&id), &params)
}

/// `GET nodes/{id}`, with `tempLink=true` and `asset=ALL|NONE`. `tempLink` on a folder is
/// accepted and ignored (go-acd asks it for folders too).
pub async fn get_node(
    state: AppStateRef,
    caller: Caller,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let node = state
        .meta
        .node(caller.account.id, &id)?
        .ok_or_else(|| ApiError::node_not_found(&id))?;
    Ok(Json(node_json(&state, &node, &params)?))
}

/// Body of `POST nodes`.
#[derive(Debug, Deserialize)]
struct CreateBody {
    name: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    parents: Option<Vec<String>>,
    #[serde(default)]
    labels: Vec<String>,
    description: Option<String>,
    /// The client's own id for the node (§6.5).
    #[serde(rename = "localId")]
    local_id: Option<String>,
}

/// Longest `localId` accepted, in bytes (the reference knows no limit; bad input stays bounded).
const MAX_LOCAL_ID: usize = 1024;

/// Checks a `localId` from a request body: when given, a non-empty string of at most 1,024 bytes.
pub fn valid_local_id(local_id: Option<&str>) -> ApiResult<Option<&str>> {
    match local_id {
        Some("") => Err(ApiError::bad_request("localId must not be empty")),
        Some(l) if l.len() > MAX_LOCAL_ID => Err(ApiError::bad_request(format!(
            "localId may be at most {MAX_LOCAL_ID} bytes"
        ))),
        other => Ok(other),
    }
}

/// Checks a name from a request body.
pub fn valid_name(name: Option<String>) -> ApiResult<String> {
    let name = name.ok_or_else(|| ApiError::bad_request("name is required"))?;
    match name_problem(&name) {
        Some(problem) => Err(ApiError::bad_request(format!("Invalid name: {problem}"))),
        None => Ok(name),
    }
}

/// `POST nodes` with `{"name","kind":"FOLDER","parents":[...]}`: 201 and the folder.
/// Without `parents` the folder goes into the root (as acd_cli expects).
pub async fn create_folder(
    state: AppStateRef,
    caller: Caller,
    request: Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body: CreateBody =
        read_json(request.into_body(), state.config.max_json_body, false).await?;
    match body.kind.as_deref() {
        Some(FOLDER) => {}
        Some("FILE") => {
            return Err(ApiError::bad_request(
                "Files are created by uploading to the content URL",
            ));
        }
        Some(other) => return Err(ApiError::bad_request(format!("Invalid kind: {other}"))),
        None => return Err(ApiError::bad_request("kind is required")),
    }
    let name = valid_name(body.name)?;
    let parents = body
        .parents
        .unwrap_or_else(|| vec![caller.account.root_id.clone()]);
    let local_id = valid_local_id(body.local_id.as_deref())?;
    let hidden_ms = state.faults.listing_lag();
    let node = state.meta.create_with_local_id(
        caller.account.id,
        NewNode {
            kind: FOLDER,
            name,
            parents,
            created_by: created_by(&caller),
            labels: body.labels,
            description: body.description,
            content: None,
            status: AVAILABLE,
            hidden_ms,
        },
        None,
        local_id,
    )?;
    state
        .faults
        .folder_created(&node.id, state.now_ms(), hidden_ms);
    Ok((StatusCode::CREATED, Json(node.json())))
}

/// The `createdBy` of nodes an app creates: its client id, or `acd-mock` for minted tokens.
pub fn created_by(caller: &Caller) -> String {
    if caller.client_id.is_empty() {
        "acd-mock".to_string()
    } else {
        caller.client_id.clone()
    }
}

/// Body of `PATCH nodes/{id}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatchBody {
    name: Option<String>,
    description: Option<String>,
    labels: Option<Vec<String>>,
    parents: Option<Vec<String>>,
    status: Option<String>,
    content_properties: Option<Value>,
    kind: Option<String>,
}

/// `PATCH nodes/{id}`: rename, description, labels, parents, PENDING→AVAILABLE.
pub async fn patch(
    state: AppStateRef,
    caller: Caller,
    Path(id): Path<String>,
    request: Request,
) -> ApiResult<Json<Value>> {
    let body: PatchBody = read_json(request.into_body(), state.config.max_json_body, false).await?;
    if body.content_properties.is_some() {
        return Err(ApiError::Forbidden(
            "contentProperties cannot be updated".into(),
        ));
    }
    if body.kind.is_some() {
        return Err(ApiError::bad_request("kind cannot be changed"));
    }
    if let Some(status) = &body.status
        && status != AVAILABLE
    {
        return Err(ApiError::bad_request(format!(
            "status can only be set to AVAILABLE; use the trash API for {status}"
        )));
    }
    if body.parents.as_ref().is_some_and(Vec::is_empty) {
        return Err(ApiError::bad_request("parents must not be empty"));
    }
    let name = match body.name {
        Some(name) => Some(valid_name(Some(name))?),
        None => None,
    };
    let node = state.meta.patch(
        caller.account.id,
        &id,
        &Patch {
            name,
            description: body.description,
            labels: body.labels,
            parents: body.parents,
            status: body.status,
        },
        state.faults.listing_lag(),
    )?;
    Ok(Json(node.json()))
}

/// Body of `POST nodes/{parent}/children`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MoveBody {
    from_parent: Option<String>,
    child_id: Option<String>,
}

/// `POST nodes/{newParent}/children` with `{"fromParent","childId"}`: replace one parent.
pub async fn move_child(
    state: AppStateRef,
    caller: Caller,
    Path(to): Path<String>,
    request: Request,
) -> ApiResult<Json<Value>> {
    let body: MoveBody = read_json(request.into_body(), state.config.max_json_body, false).await?;
    let from = body
        .from_parent
        .ok_or_else(|| ApiError::bad_request("fromParent is required"))?;
    let child = body
        .child_id
        .ok_or_else(|| ApiError::bad_request("childId is required"))?;
    state
        .meta
        .node(caller.account.id, &to)?
        .ok_or_else(|| ApiError::node_not_found(&to))?;
    let node = state.meta.move_node(
        caller.account.id,
        &child,
        &from,
        &to,
        state.faults.listing_lag(),
    )?;
    Ok(Json(node.json()))
}

/// `PUT nodes/{parent}/children/{child}`: add a parent.
pub async fn add_parent(
    state: AppStateRef,
    caller: Caller,
    Path((parent, child)): Path<(String, String)>,
    _body: Body,
) -> ApiResult<Json<Value>> {
    state
        .meta
        .node(caller.account.id, &parent)?
        .ok_or_else(|| ApiError::node_not_found(&parent))?;
    let node = state.meta.add_parent(caller.account.id, &child, &parent)?;
    Ok(Json(node.json()))
}

/// `DELETE nodes/{parent}/children/{child}`: remove a parent; 200 with the child.
pub async fn remove_parent(
    state: AppStateRef,
    caller: Caller,
    Path((parent, child)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let node = state.meta.remove_parent(
        caller.account.id,
        &child,
        &parent,
        state.faults.listing_lag(),
    )?;
    Ok(Json(node.json()))
}

/// `DELETE nodes/{id}`: permanent deletion is refused to apps, as the service did.
pub async fn purge(_caller: Caller, Path(_id): Path<String>) -> ApiError {
    ApiError::InsufficientPermissions("purgeNode")
}
