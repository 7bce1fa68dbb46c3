//! The router: one port serving the service's whole layout, and its layers.
//!
//! Request pipeline (outermost first; `CONNECT` never gets here, [`crate::server`] answers it):
//! panic catcher → journal ([`crate::journal::record`], on the [`crate::journal::Journal`]:
//! classifies the request into an [`crate::operation::Operation`] by the route table and
//! records the outcome) → the fault layer ([`crate::faults::layer`], on its
//! [`crate::faults::layer::FaultGate`]: it sees every classified request before any handler) →
//! the admin gate ([`crate::ui::auth::require_admin`], on the
//! [`crate::admin_access::AdminAuth`]: `/_mock/*` needs the admin token when one is set) →
//! routes, whose API handlers authenticate with [`crate::auth::Caller`]. The admin API
//! ([`crate::admin`]) and the dashboard ([`crate::ui`]) share the `/_mock` prefix. The order of
//! the layers is checked by a test here; in debug builds, every routed API request is checked
//! against [`crate::operation::ROUTES`].
//!
//! [`AppState`] lives in [`crate::state`] (re-exported here for old paths).

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, OriginalUri, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};

use crate::api::{account, changes, content, nodes, oauth, properties, signin, trash};
use crate::error::ApiError;
use crate::operation::route_of;
pub use crate::state::AppState;
use crate::{admin, journal};

/// Builds the router over the shared state.
pub fn router(state: Arc<AppState>) -> Router {
    let metadata = Router::new()
        .route("/account/endpoint", get(account::endpoint))
        .route("/account/info", get(account::info))
        .route("/account/quota", get(account::quota))
        .route("/account/usage", get(account::usage))
        .route("/nodes", get(nodes::search).post(nodes::create_folder))
        .route(
            "/nodes/{id}",
            get(nodes::get_node)
                .patch(nodes::patch)
                .delete(nodes::purge),
        )
        .route(
            "/nodes/{id}/children",
            get(nodes::children).post(nodes::move_child),
        )
        .route(
            "/nodes/{parent}/children/{child}",
            put(nodes::add_parent).delete(nodes::remove_parent),
        )
        .route("/nodes/{id}/properties", any(properties::empty_owner))
        .route("/nodes/{id}/properties/", any(properties::empty_owner))
        .route(
            "/nodes/{id}/properties//{key}",
            any(properties::empty_owner),
        )
        .route("/nodes/{id}/properties/{owner}", get(properties::list))
        .route(
            "/nodes/{id}/properties/{owner}/{key}",
            get(properties::get_one)
                .put(properties::put)
                .delete(properties::delete),
        )
        .route("/trash", get(trash::list))
        .route("/trash/{id}", put(trash::trash))
        .route("/trash/{id}/restore", post(trash::restore))
        .route("/changes", post(changes::changes));
    let metadata = checked_against_the_table(metadata);
    let content = Router::new()
        .route("/nodes", post(content::upload))
        .route(
            "/nodes/{id}/content",
            get(content::download).put(content::overwrite),
        )
        .route("/templink/{token}", get(content::templink));
    let content = checked_against_the_table(content).layer(DefaultBodyLimit::disable());
    let login = Router::new()
        .route("/s3/{token}", get(content::presigned))
        .route("/auth/o2/token", post(oauth::token))
        .route("/ap/oa", get(signin::authorize))
        .route("/ap/signin", post(signin::sign_in))
        .route("/ap/oa/consent", post(signin::consent));
    let login = checked_against_the_table(login);
    Router::new()
        .nest("/drive/v1", metadata)
        .nest("/cdproxy", content)
        .merge(login)
        .nest("/_mock", admin::router().merge(crate::ui::router()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::ui::auth::require_admin,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::faults::layer::apply,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            journal::record,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .with_state(state)
}

/// `routes` with [`in_table`] as a route layer in debug builds; release builds skip the layer
/// (it would check nothing there, and each layer costs every request a boxed future).
fn checked_against_the_table(routes: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    if cfg!(debug_assertions) {
        routes.route_layer(axum::middleware::from_fn(in_table))
    } else {
        routes
    }
}

/// Route layer of the service's routes: a routed request must be in the route table
/// ([`crate::operation::ROUTES`]) under the route that served it, or the journal and the fault
/// layer would name it wrongly. Checked in debug builds (every test request), where a route
/// missing from the table panics (a 500 from the panic catcher).
async fn in_table(matched: MatchedPath, request: Request, next: Next) -> Response {
    let path = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().path(), |uri| uri.path());
    let route = route_of(request.method(), path);
    assert!(
        route.is_some_and(|r| r.serves(matched.as_str())),
        "{} {} (route {}) is not in operation::ROUTES under its route",
        request.method(),
        path,
        matched.as_str()
    );
    next.run(request).await
}

async fn not_found() -> ApiError {
    ApiError::NotFound("Resource not found".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(serde_json::json!({"message": "Internal failure"})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Method, Request};
    use tower::ServiceExt as _;

    use super::*;
    use crate::faults::rule::Rule;
    use crate::operation::{Operation, ROUTES};

    async fn state() -> Arc<AppState> {
        let (_, state) = crate::prepare(crate::MockConfig::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        state
    }

    async fn send(app: &Router, method: &str, path: &str) -> Response {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        match app.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    /// The route table and the router agree: every entry of the table with a concrete path
    /// reaches a handler (not the 404 or 405 fallback) for its methods (for one of them when
    /// it names none). An unauthenticated request is refused by the handler's extractor.
    #[tokio::test]
    async fn the_router_serves_every_route_of_the_table() {
        let app = router(state().await);
        for route in ROUTES.iter().filter(|r| !r.pattern.contains("{*")) {
            let path: String = route
                .pattern
                .split('/')
                .map(|s| if s.starts_with('{') { "x" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let methods: &[&str] = if route.methods.is_empty() {
                &["GET", "POST", "PUT", "PATCH", "DELETE"]
            } else {
                route.methods
            };
            let mut served = Vec::new();
            for method in methods {
                let status = send(&app, method, &path).await.status().as_u16();
                if status != 404 && status != 405 {
                    served.push(*method);
                }
            }
            if route.methods.is_empty() {
                assert!(!served.is_empty(), "{path}: no method reaches a handler");
            } else {
                assert_eq!(served, methods, "{path}: not every method is routed");
            }
        }
    }

    /// The layers' order matters, and this fails if it changes: the journal (outermost)
    /// classifies before the fault layer matches by operation, and records the fault the fault
    /// layer (inside it) marked on the response; the admin gate (inside the fault layer) does
    /// not hide API requests from faults.
    #[tokio::test]
    async fn the_journal_classifies_before_faults_and_records_what_they_did() {
        let state = state().await;
        let rule: Rule = serde_json::from_value(serde_json::json!({
            "id": "order",
            "match": {"operation": "get_node"},
            "action": {"kind": "error", "error": "internal_failure"},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        state
            .faults
            .add(vec![rule])
            .unwrap_or_else(|e| panic!("{e}"));
        let app = router(Arc::clone(&state));
        let response = send(&app, "GET", "/drive/v1/nodes/abc").await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().contains_key("x-amzn-requestid"));
        let entries = state.journal.entries(10, None);
        let last = entries
            .last()
            .unwrap_or_else(|| panic!("nothing journaled"));
        assert_eq!(last.operation, Operation::GetNode);
        assert_eq!(last.fault.as_deref(), Some("order"));
        assert_eq!(last.status, 500);
        // Another operation passes the fault layer to its handler (401: no token).
        let other = send(&app, Method::PATCH.as_str(), "/drive/v1/nodes/abc").await;
        assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
    }
}
