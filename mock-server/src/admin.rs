//! The admin API under `/_mock/`: health, reset, accounts, tokens, seeding, purging the trash,
//! the test clock, the journal.
//!
//! Not part of Amazon's API and not authenticated: the mock binds to loopback. Scripts and
//! tests use it to skip the browser (`POST /_mock/tokens`) and to build trees quickly.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Params, read_json};
use crate::operation::Operation;
use crate::state::AppState;
use crate::state::AppStateRef;
use crate::store::blobs::{BlobRef, synthetic_md5};
use crate::store::meta::{Account, BatchNode, BatchParent};
use crate::store::node::{Content, FILE, FOLDER, content_type_of, extension_of, name_problem};
use crate::tokens::{TokenResponse, issue_tokens};

/// The admin routes (nested under `/_mock`).
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/health", get(health))
        .route("/reset", post(reset))
        .route("/accounts", get(accounts).post(create_account))
        .route("/tokens", post(mint))
        .route("/tokens/expire", post(expire))
        .route("/seed", post(seed))
        .route("/purge", post(purge))
        .route("/clock", get(clock).post(move_clock))
        .route("/journal", get(journal).delete(clear_journal))
        .nest("/faults", crate::faults::admin::router())
}

async fn health(state: AppStateRef) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({"status": "ok", "accounts": state.meta.accounts()?.len()}),
    ))
}

/// The account an admin body names by email, or the default account.
fn account_named(state: &AppState, email: Option<&str>) -> ApiResult<Account> {
    let email = email.unwrap_or(&state.config.default_email);
    state
        .meta
        .account_by_email(email)?
        .ok_or_else(|| ApiError::NotFound(format!("No account with the email {email}")))
}

#[derive(Debug, Deserialize)]
struct ResetBody {
    account: Option<String>,
}

/// `POST /_mock/reset`: everything (accounts, tokens, trees; the default account is made
/// again), or with `{"account": email}` just that account's tree and changes feed.
async fn reset(state: AppStateRef, request: Request) -> ApiResult<Json<Value>> {
    let body: ResetBody = read_json(request.into_body(), state.config.max_json_body, true).await?;
    let blobs = match &body.account {
        Some(email) => {
            let account = account_named(&state, Some(email))?;
            let mut blobs = state.meta.reset_account(account.id)?;
            blobs.extend(state.faults.phantoms.clear(Some(account.id)));
            blobs
        }
        None => {
            let mut blobs = state.meta.reset_all()?;
            ensure_default_account(&state)?;
            state.journal.clear();
            blobs.extend(state.faults.phantoms.clear(None));
            state
                .faults
                .lost_pages
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
            blobs
        }
    };
    for blob in blobs {
        state.blobs.remove(&blob);
    }
    Ok(Json(
        json!({"reset": body.account.unwrap_or_else(|| "all".into())}),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PurgeBody {
    account: Option<String>,
    ids: Option<Vec<String>>,
    trashed_before: Option<String>,
}

/// `POST /_mock/purge` `{"account"?, "ids"?: [...], "trashed_before"?: RFC 3339 UTC time}`: purge
/// trashed nodes now, as the service's 30-day trash purge would (reference §6.11): the given
/// ids (with what was trashed along with them), or those trashed before the time, or with
/// neither, the account's whole trash. Live nodes are never purged. They leave the store and
/// appear in the changes feed as `status: "PURGED"` when `includePurged` is asked (§6.13).
/// 200 `{"purged": [ids]}`.
async fn purge(state: AppStateRef, request: Request) -> ApiResult<Json<Value>> {
    let body: PurgeBody = read_json(request.into_body(), state.config.max_json_body, true).await?;
    let account = account_named(&state, body.account.as_deref())?;
    let before = match &body.trashed_before {
        Some(text) => Some(parse_time("trashed_before", text)?),
        None => None,
    };
    let (purged, blobs) = state.meta.purge(account.id, body.ids.as_deref(), before)?;
    for blob in blobs {
        state.blobs.remove(&blob);
    }
    Ok(Json(json!({"purged": purged})))
}

/// An RFC 3339 UTC time in a body field, as epoch milliseconds; 400 naming the field if not.
fn parse_time(field: &str, text: &str) -> ApiResult<i64> {
    let time = humantime::parse_rfc3339_weak(text.trim_end_matches('Z')).map_err(|e| {
        ApiError::bad_request(format!(
            "{field} {text:?} is not an RFC 3339 UTC time such as 2026-01-01T00:00:00Z: {e}"
        ))
    })?;
    Ok(time
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0))
}

/// The test clock's state: `{"now": RFC 3339 time, "offset_ms": how far ahead of system time}`.
fn clock_json(state: &AppState) -> Value {
    json!({
        "now": crate::util::format_ms(state.now_ms()),
        "offset_ms": state.clock().offset_ms(),
    })
}

/// `GET /_mock/clock`: the mock's time (see [`crate::clock`]).
async fn clock(state: AppStateRef) -> Json<Value> {
    Json(clock_json(&state))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockBody {
    advance: Option<String>,
    set: Option<String>,
}

/// `POST /_mock/clock` `{"advance": "30d"}` (a humantime duration) or `{"set": RFC 3339 time}`:
/// moves this mock's clock forward (never back: an earlier `set` is 400), then lets what became
/// due happen in every account (phantoms appear, old trash is purged). 200 with the new
/// `{"now", "offset_ms"}`.
async fn move_clock(state: AppStateRef, request: Request) -> ApiResult<Json<Value>> {
    let body: ClockBody = read_json(request.into_body(), state.config.max_json_body, true).await?;
    let moved = match (&body.advance, &body.set) {
        (Some(text), None) => {
            let by = humantime::parse_duration(text.trim()).map_err(|e| {
                ApiError::bad_request(format!(
                    "advance {text:?} is not a duration such as 30d or 90s: {e}"
                ))
            })?;
            state.clock().advance(by)
        }
        (None, Some(text)) => state.clock().set(parse_time("set", text)?),
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of \"advance\" (a duration such as 30d) or \"set\" (an RFC 3339 time)",
            ));
        }
    };
    moved.map_err(|e| ApiError::bad_request(e.to_string()))?;
    for account in state.meta.accounts()? {
        state.settle_phantoms(account.id, false);
        state.purge_expired_trash(account.id)?;
    }
    Ok(Json(clock_json(&state)))
}

/// Creates the configured default account if it does not exist yet.
pub fn ensure_default_account(state: &AppState) -> ApiResult<Account> {
    match state.meta.account_by_email(&state.config.default_email)? {
        Some(account) => Ok(account),
        None => state.meta.create_account(
            &state.config.default_email,
            &state.config.default_password,
            state.config.quota,
        ),
    }
}

async fn accounts(state: AppStateRef) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"accounts": state.meta.accounts()?})))
}

#[derive(Debug, Deserialize)]
struct AccountBody {
    email: Option<String>,
    password: Option<String>,
    quota: Option<u64>,
}

/// `POST /_mock/accounts` `{"email","password"?,"quota"?}`: 201 with the account.
async fn create_account(
    state: AppStateRef,
    request: Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body: AccountBody =
        read_json(request.into_body(), state.config.max_json_body, false).await?;
    let email = body
        .email
        .filter(|e| !e.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("email is required"))?;
    let account = state.meta.create_account(
        &email,
        body.password.as_deref().unwrap_or("password"),
        body.quota.unwrap_or(state.config.quota),
    )?;
    Ok((StatusCode::CREATED, Json(json!(account))))
}

#[derive(Debug, Deserialize)]
struct MintBody {
    account: Option<String>,
    lifetime_secs: Option<u64>,
    /// The OAuth client (app) the token is issued to; none: bound to no app.
    client_id: Option<String>,
}

/// `POST /_mock/tokens` `{"account"?, "lifetime_secs"?, "client_id"?}` (empty body: the
/// default account, no app): the token JSON.
async fn mint(state: AppStateRef, request: Request) -> ApiResult<Json<TokenResponse>> {
    let body: MintBody = read_json(request.into_body(), state.config.max_json_body, true).await?;
    let account = account_named(&state, body.account.as_deref())?;
    let lifetime = body
        .lifetime_secs
        .map_or(state.config.token_lifetime, std::time::Duration::from_secs);
    let client_id = body.client_id.unwrap_or_default();
    Ok(Json(issue_tokens(
        &state.meta,
        account.id,
        &client_id,
        None,
        lifetime,
    )?))
}

#[derive(Debug, Deserialize)]
struct ExpireBody {
    access_token: Option<String>,
}

/// `POST /_mock/tokens/expire` `{"access_token"}`: expires it now (to test refreshing).
async fn expire(state: AppStateRef, request: Request) -> ApiResult<Json<Value>> {
    let body: ExpireBody =
        read_json(request.into_body(), state.config.max_json_body, false).await?;
    let token = body
        .access_token
        .ok_or_else(|| ApiError::bad_request("access_token is required"))?;
    if !state
        .meta
        .set_token_expiry(&token, Some(state.now_ms() - 1))?
    {
        return Err(ApiError::NotFound("No such token".into()));
    }
    Ok(Json(json!({"expired": true})))
}

/// One node of a seed tree.
#[derive(Debug, Clone, Deserialize)]
struct SeedNode {
    name: String,
    kind: Option<String>,
    #[serde(default)]
    children: Vec<SeedNode>,
    /// UTF-8 content of a file.
    content: Option<String>,
    /// Base64 content of a file.
    base64: Option<String>,
    /// Declared size of a synthetic file.
    size: Option<u64>,
    /// Seed of a synthetic file's bytes (default 0).
    seed: Option<u64>,
    /// MD5 of a synthetic file, trusted as given (saves reading the whole file once).
    md5: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SeedBody {
    account: Option<String>,
    parent: Option<String>,
    #[serde(default)]
    nodes: Vec<SeedNode>,
}

/// A seed node with its place in the batch.
#[derive(Debug)]
struct Placed {
    parent: BatchParent,
    path: String,
    is_folder: bool,
    node: SeedNode,
}

/// `POST /_mock/seed`: builds a tree. Folders have `children`; files have `content`,
/// `base64`, or a `size` (synthetic bytes, generated when read). 201 with each created path
/// and id. Nodes are made depth first in the given order; the first bad one (its name, kind
/// or content, its parent, a name clash) stops the seeding with its error, and the nodes
/// before it stay created. They go in as one transaction, so seeding runs at tens of
/// thousands of nodes a second.
async fn seed(state: AppStateRef, request: Request) -> ApiResult<(StatusCode, Json<Value>)> {
    let body: SeedBody = read_json(request.into_body(), 64 * 1024 * 1024, false).await?;
    let account = account_named(&state, body.account.as_deref())?;
    let parent = body.parent.unwrap_or_else(|| account.root_id.clone());
    let state = Arc::clone(&state.0);
    let work = tokio::task::spawn_blocking(move || -> ApiResult<Vec<Value>> {
        let (placed, place_error) = place(parent, body.nodes);
        let (contents, content_error) = seed_contents(&state, &placed);
        // The batch ends before the first node that could not be placed or given content.
        let batch: Vec<BatchNode> = placed
            .iter()
            .zip(contents)
            .map(|(p, content)| BatchNode {
                parent: p.parent.clone(),
                kind: if p.is_folder { FOLDER } else { FILE },
                name: p.node.name.clone(),
                content,
            })
            .collect();
        let outcome = state
            .blobs
            .sync()
            .map_err(ApiError::from)
            .and_then(|()| state.meta.create_batch(account.id, &batch));
        let made = outcome.as_ref().map_or(0, |o| o.ids.len());
        // Blobs of the nodes not made point nowhere.
        for content in batch[made..].iter().filter_map(|b| b.content.as_ref()) {
            state.blobs.remove(&content.blob);
        }
        let outcome = outcome?;
        if let Some(error) = outcome.error.or(content_error).or(place_error) {
            return Err(error);
        }
        Ok(placed
            .iter()
            .zip(outcome.ids)
            .map(|(p, id)| {
                json!({"path": p.path, "id": id, "kind": if p.is_folder { FOLDER } else { FILE }})
            })
            .collect())
    });
    let created = work
        .await
        .map_err(|e| ApiError::Internal(format!("seeding stopped: {e}")))??;
    Ok((StatusCode::CREATED, Json(json!({"created": created}))))
}

/// Flattens a seed tree, parents before their children (depth first, in the given order),
/// up to the first node whose name or kind is bad (with its error).
fn place(parent: String, nodes: Vec<SeedNode>) -> (Vec<Placed>, Option<ApiError>) {
    let mut work: Vec<(BatchParent, String, SeedNode)> = nodes
        .into_iter()
        .rev()
        .map(|n| (BatchParent::Id(parent.clone()), String::new(), n))
        .collect();
    let mut placed = Vec::new();
    while let Some((parent, prefix, mut node)) = work.pop() {
        if let Some(problem) = name_problem(&node.name) {
            let error = ApiError::bad_request(format!("{:?}: {problem}", node.name));
            return (placed, Some(error));
        }
        let path = format!("{prefix}{}", node.name);
        let is_folder = match node.kind.as_deref() {
            Some(FOLDER) => true,
            Some(FILE) => false,
            Some(other) => {
                let error = ApiError::bad_request(format!("Invalid kind {other}"));
                return (placed, Some(error));
            }
            None => {
                !node.children.is_empty()
                    || (node.content.is_none() && node.base64.is_none() && node.size.is_none())
            }
        };
        // (A file's children are placed too: the store refuses the first, as it would a
        // create under a file.)
        let index = placed.len();
        for child in std::mem::take(&mut node.children).into_iter().rev() {
            work.push((BatchParent::Earlier(index), format!("{path}/"), child));
        }
        placed.push(Placed {
            parent,
            path,
            is_folder,
            node,
        });
    }
    (placed, None)
}

/// The content of the files of a batch, in order (small blobs written, synthetic MD5s
/// computed unless given), up to the first that fails (with its error).
fn seed_contents(state: &AppState, placed: &[Placed]) -> (Vec<Option<Content>>, Option<ApiError>) {
    let mut contents: Vec<Option<Content>> = Vec::with_capacity(placed.len());
    for p in placed {
        if p.is_folder {
            contents.push(None);
            continue;
        }
        match seed_content(state, &p.node) {
            Ok(content) => contents.push(Some(content)),
            Err(error) => return (contents, Some(error)),
        }
    }
    (contents, None)
}

fn seed_content(state: &AppState, node: &SeedNode) -> ApiResult<Content> {
    let (blob, size, md5) = match (&node.content, &node.base64, node.size) {
        (Some(text), _, _) => {
            let written = state.blobs.put(text.as_bytes())?;
            (written.blob, written.size, written.md5)
        }
        (_, Some(b64), _) => {
            let bytes = STANDARD
                .decode(b64)
                .map_err(|e| ApiError::bad_request(format!("Invalid base64: {e}")))?;
            let written = state.blobs.put(&bytes)?;
            (written.blob, written.size, written.md5)
        }
        (None, None, Some(size)) => {
            let seed = node.seed.unwrap_or(0);
            let md5 = match &node.md5 {
                Some(md5) => md5.to_lowercase(),
                None => synthetic_md5(seed, size),
            };
            (BlobRef::Synthetic(seed), size, md5)
        }
        (None, None, None) => {
            return Err(ApiError::bad_request(
                "A file needs content, base64 or size",
            ));
        }
    };
    Ok(Content {
        size,
        md5,
        content_type: content_type_of(&node.name),
        extension: extension_of(&node.name),
        version: 1,
        date: state.now_ms(),
        blob: blob.stored(),
    })
}

/// `GET /_mock/journal?limit=N&operation=NAME`: the latest requests, oldest first.
async fn journal(state: AppStateRef, params: Params) -> ApiResult<Json<Value>> {
    let limit = match params.get("limit") {
        Some(v) => v
            .parse()
            .map_err(|_| ApiError::bad_request("limit must be a number"))?,
        None => 1000,
    };
    let operation = match params.get("operation") {
        Some(name) => Some(
            serde_json::from_value::<Operation>(Value::String(name.into()))
                .map_err(|_| ApiError::bad_request(format!("Unknown operation {name}")))?,
        ),
        None => None,
    };
    Ok(Json(
        json!({"entries": state.journal.entries(limit, operation)}),
    ))
}

async fn clear_journal(state: AppStateRef) -> StatusCode {
    state.journal.clear();
    StatusCode::NO_CONTENT
}

#[cfg(feature = "admin-client")]
pub use crate::admin_client::Client;
