//! `account/endpoint`, `account/info`, `account/quota`, `account/usage` (reference §3, §6.12).

use axum::Json;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppStateRef;
use crate::util::format_ms;

/// `GET account/endpoint`: the metadata and content URLs, both pointing at this server.
pub async fn endpoint(state: AppStateRef, _caller: Caller) -> Json<Value> {
    Json(json!({
        "customerExists": true,
        "contentUrl": state.content_url(),
        "metadataUrl": state.metadata_url(),
    }))
}

/// `GET account/info`.
pub async fn info(_caller: Caller) -> Json<Value> {
    Json(json!({"termsOfUse": "1.0.0", "status": "ACTIVE"}))
}

/// `GET account/quota`.
pub async fn quota(state: AppStateRef, caller: Caller) -> ApiResult<Json<Value>> {
    let used = state.meta.used_bytes(caller.account.id)?;
    Ok(Json(json!({
        "quota": caller.account.quota,
        "lastCalculated": format_ms(state.now_ms()),
        "available": caller.account.quota.saturating_sub(used),
    })))
}

/// `GET account/usage`: bytes and counts per category (photo, video, doc, other).
pub async fn usage(state: AppStateRef, caller: Caller) -> ApiResult<Json<Value>> {
    let rows = state.meta.usage(caller.account.id)?;
    let mut out = serde_json::Map::new();
    out.insert("lastCalculated".into(), format_ms(state.now_ms()).into());
    for category in ["other", "doc", "photo", "video"] {
        let (bytes, count) = rows
            .iter()
            .find(|(c, _, _)| c == category)
            .map_or((0, 0), |(_, b, n)| (*b, *n));
        let part = json!({"bytes": bytes, "count": count});
        out.insert(category.into(), json!({"total": part, "billable": part}));
    }
    Ok(Json(Value::Object(out)))
}
