//! Who may use the admin API (`/_mock/*`) and the dashboard, and how forged posts are refused.
//!
//! The admin API hands out every account's data and mints tokens for any account, so it is
//! open only while the server is reachable from this machine alone. Rules:
//! - Without an admin token (`--admin-token`, `ACD_MOCK_ADMIN_TOKEN`,
//!   [`crate::MockServerBuilder::admin_token`]) everything under `/_mock/` is open, and the server
//!   refuses to listen on anything but a loopback address ([`listen_allowed`]).
//! - With one, every `/_mock/` request needs it: `Authorization: Bearer TOKEN` (scripts), or the
//!   session cookie the dashboard's login form sets (HttpOnly, SameSite=Strict, path `/_mock`).
//!   Anything else is a 401 in the API's error shape (the dashboard shows its login form).
//! - Every state-changing post of the dashboard carries a CSRF token (a form field or the
//!   `x-csrf-token` header), token or not: a page on another site cannot drive a dashboard on
//!   loopback. JSON API calls signed in by the cookie need the header too; Bearer calls do not
//!   (a browser never adds that header by itself).
//!
//! Secrets are compared in constant time ([`constant_time_eq`]) and never printed.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub use crate::admin_access::{
    Access, AdminAuth, AdminToken, COOKIE, constant_time_eq, cookie, listen_allowed,
};
use crate::util::logref;

/// The header carrying the CSRF token on script-made posts.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field carrying the CSRF token on form posts.
pub const CSRF_FIELD: &str = "csrf";
/// The login form (open without the token).
pub const LOGIN_PATH: &str = "/_mock/ui/login";
/// The dashboard's script and style sheet (open without the token: the login page uses them,
/// and they hold no data).
pub const ASSET_PATHS: [&str; 2] = ["/_mock/ui/assets/app.js", "/_mock/ui/assets/style.css"];

/// The `Set-Cookie` value that signs the dashboard out.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/_mock; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Whether the path is under the admin API.
pub fn is_admin_path(path: &str) -> bool {
    path == "/_mock" || path.starts_with("/_mock/")
}

/// Whether the path is the dashboard's.
pub fn is_ui_path(path: &str) -> bool {
    path == "/_mock/ui" || path.starts_with("/_mock/ui/")
}

/// The 401 of the admin API, in the API's error shape.
pub fn unauthorized() -> Response {
    let body = json!({
        "logref": logref(),
        "message": "This acd-mock needs its admin token: send Authorization: Bearer <admin token>, or sign in at /_mock/ui/login",
        "code": "",
    });
    let mut response = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"acd-mock admin\""),
    );
    response
}

/// The 403 of a post without the CSRF token, in the API's error shape.
pub fn csrf_refused() -> Response {
    let body = json!({
        "logref": logref(),
        "message": "Missing or wrong CSRF token: reload the dashboard and try again",
        "code": "",
    });
    (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
}

/// Middleware in front of every route: applies the rules above to `/_mock/` paths and lets
/// everything else through untouched.
pub async fn require_admin(
    State(admin): State<AdminAuth>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if !is_admin_path(path) || path == LOGIN_PATH || ASSET_PATHS.contains(&path) {
        return next.run(request).await;
    }
    match admin.access(request.headers()) {
        Access::Denied if is_ui_path(path) && request.method() == Method::GET => {
            let next_page = request
                .uri()
                .path_and_query()
                .map_or("/_mock/ui", |p| p.as_str());
            super::layout::html(
                StatusCode::UNAUTHORIZED,
                super::login::login(next_page, None),
            )
        }
        Access::Denied => unauthorized(),
        // A cookie-signed call of the JSON API that changes state must carry the CSRF header
        // (the dashboard's own forms are checked by their handlers, which read the field).
        Access::Cookie
            if !is_ui_path(path)
                && !matches!(
                    *request.method(),
                    Method::GET | Method::HEAD | Method::OPTIONS
                )
                && !admin.csrf_ok(
                    request
                        .headers()
                        .get(CSRF_HEADER)
                        .and_then(|v| v.to_str().ok()),
                ) =>
        {
            csrf_refused()
        }
        _ => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::http::HeaderMap;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                *k,
                HeaderValue::from_str(v).unwrap_or_else(|e| panic!("{e}")),
            );
        }
        map
    }

    #[test]
    fn loopback_is_open_and_anything_else_needs_a_token() {
        let token = AdminToken::new("s3cret");
        for addr in ["127.0.0.1:8780", "[::1]:8780", "127.0.0.2:0"] {
            let addr: SocketAddr = addr.parse().unwrap_or_else(|e| panic!("{e}"));
            assert!(listen_allowed(&addr, None), "{addr}");
        }
        for addr in ["0.0.0.0:8780", "[::]:8780", "192.168.1.10:8780"] {
            let addr: SocketAddr = addr.parse().unwrap_or_else(|e| panic!("{e}"));
            assert!(!listen_allowed(&addr, None), "{addr} needs a token");
            assert!(listen_allowed(&addr, Some(&token)), "{addr} with a token");
        }
    }

    #[test]
    fn without_a_token_everything_is_open() {
        let auth = AdminAuth::new(None);
        assert!(!auth.required());
        assert_eq!(auth.access(&HeaderMap::new()), Access::Open);
        assert_eq!(
            auth.access(&headers(&[("authorization", "Bearer anything")])),
            Access::Open
        );
        assert!(
            !auth.token_ok(""),
            "no token: the login form lets no one in"
        );
    }

    #[test]
    fn the_token_is_accepted_and_anything_else_refused() {
        let auth = AdminAuth::new(Some(AdminToken::new("s3cret")));
        assert!(auth.required());
        assert_eq!(
            auth.access(&headers(&[("authorization", "Bearer s3cret")])),
            Access::Bearer
        );
        assert_eq!(
            auth.access(&headers(&[("authorization", "bearer  s3cret ")])),
            Access::Bearer
        );
        for wrong in [
            "Bearer s3cre",
            "Bearer s3cret!",
            "Bearer ",
            "Basic s3cret",
            "s3cret",
        ] {
            assert_eq!(
                auth.access(&headers(&[("authorization", wrong)])),
                Access::Denied,
                "{wrong}"
            );
        }
        assert_eq!(auth.access(&HeaderMap::new()), Access::Denied);
        assert!(auth.token_ok("s3cret"));
        assert!(!auth.token_ok("S3CRET"));
    }

    #[test]
    fn the_session_cookie_signs_in_and_has_the_right_flags() {
        let auth = AdminAuth::new(Some(AdminToken::new("s3cret")));
        let set = auth.session_cookie();
        let parts: Vec<&str> = set.split("; ").collect();
        assert!(parts.contains(&"HttpOnly"), "{set}");
        assert!(parts.contains(&"SameSite=Strict"), "{set}");
        assert!(parts.contains(&"Path=/_mock"), "{set}");
        assert!(!set.contains("s3cret"), "the cookie is not the admin token");
        let value = parts[0];
        assert_eq!(
            auth.access(&headers(&[("cookie", &format!("theme=dark; {value}"))])),
            Access::Cookie
        );
        assert_eq!(
            auth.access(&headers(&[("cookie", &format!("{COOKIE}=forged"))])),
            Access::Denied
        );
        // Another server's session does not open this one.
        let other = AdminAuth::new(Some(AdminToken::new("s3cret")));
        let other_value = other.session_cookie();
        let other_value = other_value.split("; ").next().unwrap_or_default();
        assert_eq!(
            auth.access(&headers(&[("cookie", other_value)])),
            Access::Denied
        );
        assert!(clear_cookie().contains("Max-Age=0"));
    }

    #[test]
    fn csrf_tokens_are_checked() {
        let auth = AdminAuth::new(None);
        let csrf = auth.csrf().to_string();
        assert!(csrf.len() >= 40);
        assert!(auth.csrf_ok(Some(&csrf)));
        assert!(!auth.csrf_ok(None));
        assert!(!auth.csrf_ok(Some("")));
        assert!(!auth.csrf_ok(Some(&csrf[1..])));
        assert_ne!(AdminAuth::new(None).csrf(), csrf, "random per server");
    }

    #[test]
    fn constant_time_comparison_is_equality() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn admin_and_ui_paths() {
        assert!(is_admin_path("/_mock"));
        assert!(is_admin_path("/_mock/journal"));
        assert!(!is_admin_path("/_mockery"));
        assert!(!is_admin_path("/drive/v1/_mock"));
        assert!(is_ui_path("/_mock/ui"));
        assert!(is_ui_path("/_mock/ui/faults"));
        assert!(!is_ui_path("/_mock/uix"));
    }
}
