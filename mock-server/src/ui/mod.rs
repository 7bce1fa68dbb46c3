//! The dashboard at `/_mock/ui` and the live event stream at `/_mock/events`.
//!
//! Server-rendered HTML (every page works without JavaScript; the small embedded script only
//! adds live updates and copy buttons), served by the mock itself with no build step and no
//! assets from the network: the script and style sheet are compiled into the binary.
//!
//! - [`auth`]: who may use `/_mock/*` (the admin token, the session cookie, CSRF tokens).
//! - [`escape`]: HTML escaping of every shown value.
//! - [`layout`]: the page chrome, security headers, error pages, form reading.
//! - [`requests`], [`faults`], [`accounts`], [`login`]: the pages.
//! - [`events`]: the journal as server-sent events (for the page and for scripts).
//! - [`filter`]: the request filter both share.

pub mod accounts;
pub mod auth;
pub mod escape;
pub mod events;
pub mod faults;
pub mod filter;
pub mod layout;
pub mod login;
pub mod requests;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::state::AppState;

const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// The routes, nested under `/_mock` beside the admin API.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/events", get(events::events))
        .route("/ui", get(requests::list))
        .route("/ui/", get(requests::list))
        .route("/ui/requests/{seq}", get(requests::detail))
        .route("/ui/faults", get(faults::show))
        .route("/ui/faults/add", post(faults::add))
        .route("/ui/faults/delete", post(faults::delete))
        .route("/ui/faults/profile", post(faults::profile))
        .route("/ui/faults/clear", post(faults::clear))
        .route("/ui/accounts", get(accounts::list))
        .route("/ui/accounts/{account}/tree", get(accounts::tree))
        .route("/ui/accounts/{account}/trash", get(accounts::trash))
        .route(
            "/ui/accounts/{account}/nodes/{id}",
            get(accounts::show_node),
        )
        .route(
            "/ui/accounts/{account}/nodes/{id}/content",
            get(accounts::download),
        )
        .route("/ui/accounts/{account}/token", post(accounts::mint))
        .route("/ui/login", get(login::form).post(login::submit))
        .route("/ui/logout", post(login::logout))
        .route("/ui/assets/app.js", get(script))
        .route("/ui/assets/style.css", get(style))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    layout::secure(response)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE_CSS)
}
