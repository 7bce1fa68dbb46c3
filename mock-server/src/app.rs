//! The shared state and the router: one port serving the service's whole layout.
//!
//! Request pipeline (outermost first): panic catcher → journal (classifies the request into an
//! [`crate::operation::Operation`] and records the outcome) → `CONNECT` handling (tunnels of
//! `--intercept` re-enter this same pipeline) → the fault layer ([`crate::faults::layer`]: it
//! sees every classified request before any handler) → the admin gate
//! ([`crate::ui::auth::require_admin`]: `/_mock/*` needs the admin token when one is set) →
//! routes, whose API handlers authenticate with [`crate::auth::Caller`]. The admin API
//! ([`crate::admin`]) and the dashboard ([`crate::ui`]) share the `/_mock` prefix.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};

use crate::api::signin::PendingConsents;
use crate::api::{account, changes, content, nodes, oauth, properties, signin, trash};
use crate::config::MockConfig;
use crate::error::ApiError;
use crate::journal::Journal;
use crate::store::blobs::BlobStore;
use crate::store::meta::MetaStore;
use crate::{admin, journal};

/// Everything the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The settings the server started with.
    pub config: MockConfig,
    /// The base URL clients reach the server at (no trailing slash).
    pub base_url: String,
    /// Metadata.
    pub meta: MetaStore,
    /// Bytes.
    pub blobs: BlobStore,
    /// The request journal.
    pub journal: Journal,
    /// Sign-ins waiting for the user's Allow or Deny.
    pub consents: PendingConsents,
    /// The TLS side of `--intercept`, when on.
    pub interceptor: Option<crate::intercept::Interceptor>,
    /// Fault rules, switches and their state.
    pub faults: crate::faults::Faults,
    /// Who may use `/_mock/*` and the dashboard.
    pub admin: crate::ui::auth::AdminAuth,
}

impl AppState {
    /// Lets the due phantom uploads and overwrites of `account` become real (reference §8.6);
    /// a `search` also counts as one lookup for phantoms that wait for searches.
    pub fn settle_phantoms(&self, account: i64, search: bool) {
        for blob in self.faults.phantoms.settle(&self.meta, account, search) {
            self.blobs.remove(&blob);
        }
    }

    /// Purges the trash of `account` older than the trash retention by the mock's clock
    /// (reference §6.11); the purged nodes appear as `PURGED` in the changes feed (§6.13).
    /// Called before each authenticated request and when the clock is moved.
    pub fn purge_expired_trash(&self, account: i64) -> crate::error::ApiResult<()> {
        let retention = i64::try_from(self.config.trash_retention.as_millis()).unwrap_or(i64::MAX);
        let (_, blobs) = self.meta.purge_expired(account, retention)?;
        for blob in blobs {
            self.blobs.remove(&blob);
        }
        Ok(())
    }

    /// The mock's current time in epoch milliseconds (the test clock, see [`crate::clock`]).
    pub fn now_ms(&self) -> i64 {
        self.meta.clock().now_ms()
    }

    /// The mock's test clock.
    pub fn clock(&self) -> &Arc<crate::clock::Clock> {
        self.meta.clock()
    }

    /// `metadataUrl`: the metadata API base, with its trailing slash.
    pub fn metadata_url(&self) -> String {
        format!("{}/drive/v1/", self.base_url)
    }

    /// `contentUrl`: the content API base, with its trailing slash.
    pub fn content_url(&self) -> String {
        format!("{}/cdproxy/", self.base_url)
    }
}

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
    let content = Router::new()
        .route("/nodes", post(content::upload))
        .route(
            "/nodes/{id}/content",
            get(content::download).put(content::overwrite),
        )
        .route("/templink/{token}", get(content::templink))
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .nest("/drive/v1", metadata)
        .nest("/cdproxy", content)
        .route("/s3/{token}", get(content::presigned))
        .route("/auth/o2/token", post(oauth::token))
        .route("/ap/oa", get(signin::authorize))
        .route("/ap/signin", post(signin::sign_in))
        .route("/ap/oa/consent", post(signin::consent))
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
            crate::intercept::connect,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            journal::record,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .with_state(state)
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
