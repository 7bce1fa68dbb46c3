//! The service's routes, one file per area, and the helpers they share.

pub mod account;
pub mod changes;
pub mod content;
pub mod nodes;
pub mod oauth;
pub mod properties;
pub mod signin;
pub mod trash;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{ApiError, ApiResult};
use crate::extract::Params;
use crate::state::AppState;
use crate::store::meta::Page;
use crate::store::node::Node;

/// Encodes a paging cursor: the `seq` to continue after and when (`now`, mock time) the
/// cursor was issued.
pub fn encode_next_token(after: i64, now: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{after}:{now}"))
}

/// Decodes a paging cursor to `(after, issued_ms)`.
pub fn decode_next_token(token: &str) -> ApiResult<(i64, i64)> {
    let bad = || ApiError::bad_request("Invalid startToken");
    let raw = URL_SAFE_NO_PAD.decode(token.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (after, issued) = text.split_once(':').ok_or_else(bad)?;
    Ok((
        after.parse().map_err(|_| bad())?,
        issued.parse().map_err(|_| bad())?,
    ))
}

/// The page position and size a listing request asks for.
pub fn paging(state: &AppState, params: &Params) -> ApiResult<(i64, u32)> {
    let after = match params.get("startToken").filter(|t| !t.is_empty()) {
        Some(token) => {
            let (after, issued) = decode_next_token(token)?;
            if state.faults.next_token_expired(issued, state.now_ms()) {
                return Err(ApiError::NextTokenExpired);
            }
            after
        }
        None => 0,
    };
    let max = state.config.page_size.max(200);
    let limit = match params.get("limit") {
        None | Some("") => state.config.page_size,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "limit must be a number from 1 to {max}"
                )));
            }
        },
    };
    Ok((after, limit))
}

/// A file's tempLink URL, minting or reusing a link token.
pub fn temp_link(state: &AppState, node: &Node) -> ApiResult<Option<String>> {
    if !node.is_file() {
        return Ok(None);
    }
    let lifetime = state
        .faults
        .templink_lifetime(state.config.templink_lifetime);
    let token = state.meta.templink(
        &node.id,
        millis(lifetime),
        millis(state.config.templink_refresh.min(lifetime)),
    )?;
    Ok(Some(format!("{}templink/{token}", state.content_url())))
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A node's JSON, with a tempLink when asked for (`tempLink=true`) and assets with `asset=ALL`.
pub fn node_json(state: &AppState, node: &Node, params: &Params) -> ApiResult<serde_json::Value> {
    let link = if params.is("tempLink", "true") {
        temp_link(state, node)?
    } else {
        None
    };
    let json = node.to_json(link, params.is("asset", "ALL"));
    serde_json::to_value(json).map_err(|e| ApiError::Internal(e.to_string()))
}

/// A list envelope: `data` before `count`, `nextToken` only when more pages follow.
pub fn list_json(state: &AppState, page: &Page, params: &Params) -> ApiResult<serde_json::Value> {
    let data = page
        .nodes
        .iter()
        .map(|n| node_json(state, n, params))
        .collect::<ApiResult<Vec<_>>>()?;
    let mut out = serde_json::Map::new();
    out.insert("data".into(), serde_json::Value::Array(data));
    out.insert("count".into(), page.total.into());
    if let Some(after) = page.next_after {
        out.insert(
            "nextToken".into(),
            encode_next_token(after, state.now_ms()).into(),
        );
    }
    Ok(serde_json::Value::Object(out))
}

/// Was this listing cursor's page "lost" by an injected 429? Then it is consumed, and the
/// caller must skip that page (reference §8.3).
pub fn take_lost_page(state: &AppState, params: &Params) -> bool {
    params
        .get("startToken")
        .is_some_and(|token| state.faults.take_lost_page(token))
}
