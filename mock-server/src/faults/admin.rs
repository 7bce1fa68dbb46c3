//! `/_mock/faults`: add, list, inspect and remove rules at run time; read and set the switches.

use axum::extract::{FromRef, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Params, read_json};
use crate::faults::FaultPlan;
use crate::faults::layer::FaultGate;
use crate::faults::rule::Rule;
use crate::faults::settings::Settings;

/// The routes, nested under `/_mock/faults`; they need only the server's [`FaultGate`].
pub fn router<S>() -> Router<S>
where
    FaultGate: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/", get(list).post(add).delete(clear))
        .route("/settings", get(settings).put(set_settings))
        .route("/{id}", get(one).delete(remove))
}

async fn list(State(state): State<FaultGate>) -> Json<Value> {
    let faults = &state.faults;
    Json(json!({
        "seed": faults.seed(),
        "settings": faults.settings(),
        "rules": faults.rules().iter().map(|r| r.report()).collect::<Vec<_>>(),
        "pendingPhantoms": faults.phantoms.pending(),
    }))
}

/// A body of `POST /_mock/faults`: one rule, or `{"rules": [...]}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum AddBody {
    Many { rules: Vec<Rule> },
    One(Box<Rule>),
}

/// `POST /_mock/faults`: JSON (one rule or `{"rules":[...]}`), or TOML in the profile format
/// when the Content-Type says so. 201 with the new ids; a bad rule is 400 naming the field.
async fn add(
    State(state): State<FaultGate>,
    request: Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let is_toml = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("toml"));
    let rules = if is_toml {
        let bytes = axum::body::to_bytes(request.into_body(), state.max_json_body)
            .await
            .map_err(|_| ApiError::bad_request("The body is too large"))?;
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| ApiError::bad_request("TOML must be UTF-8"))?;
        let plan: FaultPlan = toml::from_str(&text)
            .map_err(|e| ApiError::bad_request(format!("Invalid fault TOML: {e}")))?;
        // A `[settings]` table in the text replaces the switches too (all or nothing).
        let has_settings =
            toml::from_str::<toml::Table>(&text).is_ok_and(|t| t.contains_key("settings"));
        if has_settings {
            for rule in &plan.rules {
                rule.validate()
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
            }
            state.faults.set_settings(plan.settings.clone());
        }
        plan.rules
    } else {
        let bytes = axum::body::to_bytes(request.into_body(), state.max_json_body)
            .await
            .map_err(|_| ApiError::bad_request("The body is too large"))?;
        let body: AddBody = serde_json::from_slice(&bytes).map_err(|e| {
            // The untagged enum hides the field; parse as one rule to name it.
            let detail = serde_json::from_slice::<Rule>(&bytes)
                .err()
                .map_or(e.to_string(), |e| e.to_string());
            ApiError::bad_request(format!("Invalid fault rule: {detail}"))
        })?;
        match body {
            AddBody::Many { rules } => rules,
            AddBody::One(rule) => vec![*rule],
        }
    };
    let ids = state
        .faults
        .add(rules)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok((StatusCode::CREATED, Json(json!({"ids": ids}))))
}

/// `DELETE /_mock/faults[?scope=S]`: every rule, or every rule of one scope.
async fn clear(State(state): State<FaultGate>, params: Params) -> Json<Value> {
    let removed = state.faults.clear(params.get("scope"));
    Json(json!({"removed": removed}))
}

/// `GET /_mock/faults/{id}`: the rule with its `matches` and `fired` counts.
async fn one(State(state): State<FaultGate>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    state
        .faults
        .rules()
        .iter()
        .find(|r| r.rule.id == id)
        .map(|r| Json(r.report()))
        .ok_or_else(|| ApiError::NotFound(format!("No fault rule {id}")))
}

async fn remove(State(state): State<FaultGate>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    if state.faults.remove(&id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("No fault rule {id}")))
    }
}

async fn settings(State(state): State<FaultGate>) -> Json<Settings> {
    Json(state.faults.settings())
}

/// `PUT /_mock/faults/settings`: replaces every switch (unknown fields are refused by name).
async fn set_settings(
    State(state): State<FaultGate>,
    request: Request,
) -> ApiResult<Json<Settings>> {
    let settings: Settings = read_json(request.into_body(), state.max_json_body, true).await?;
    state.faults.set_settings(settings.clone());
    Ok(Json(settings))
}
