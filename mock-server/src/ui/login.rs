//! The dashboard's login form (when the mock has an admin token) and signing out.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::auth::clear_cookie;
use super::escape::Esc;
use super::layout::{html, read_form, see_other};
use crate::extract::Params;
use crate::state::AppStateRef;

/// Where to go after signing in: a dashboard page, never another site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if super::auth::is_ui_path(n.split('?').next().unwrap_or(""))
                && !n.contains("//")
                && !n.contains('\\') =>
        {
            n
        }
        _ => "/_mock/ui",
    }
}

/// The login page (served with a 401 to requests without credentials).
pub fn login(next: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p id=\"login-error\" class=\"error\">{}</p>", Esc(e)))
        .unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in · acd-mock</title><link rel=\"icon\" href=\"data:,\">\
         <link rel=\"stylesheet\" href=\"/_mock/ui/assets/style.css\"></head><body data-page=\"login\"><main>\
         <h1>acd-mock dashboard</h1><p>This mock needs its admin token (<code>--admin-token</code>, \
         <code>ACD_MOCK_ADMIN_TOKEN</code>).</p>{error}\
         <form method=\"post\" action=\"/_mock/ui/login\"><input type=\"hidden\" name=\"next\" value=\"{}\">\
         <label>Admin token <input type=\"password\" name=\"token\" id=\"admin-token\" autocomplete=\"current-password\" autofocus></label> \
         <button type=\"submit\" id=\"sign-in\">Sign in</button></form></main></body></html>\n",
        Esc(safe_next(Some(next)))
    )
}

/// `GET /_mock/ui/login`.
pub async fn form(state: AppStateRef, params: Params) -> Response {
    if !state.admin.required() {
        return see_other("/_mock/ui");
    }
    html(StatusCode::OK, login(safe_next(params.get("next")), None))
}

/// `POST /_mock/ui/login` (`token`, `next`): sets the session cookie and goes on, or shows
/// the form again with a 401.
pub async fn submit(state: AppStateRef, request: Request) -> Response {
    let bytes = match axum::body::to_bytes(request.into_body(), 64 * 1024).await {
        Ok(bytes) => bytes,
        Err(_) => return html(StatusCode::BAD_REQUEST, login("/_mock/ui", None)),
    };
    let mut token = String::new();
    let mut next = String::new();
    for (key, value) in form_urlencoded::parse(&bytes) {
        match key.as_ref() {
            "token" => token = value.into_owned(),
            "next" => next = value.into_owned(),
            _ => {}
        }
    }
    let next = safe_next(Some(&next));
    if !state.admin.token_ok(&token) {
        tracing::warn!("dashboard sign-in with a wrong admin token");
        return html(
            StatusCode::UNAUTHORIZED,
            login(next, Some("That is not the admin token.")),
        );
    }
    let mut response = see_other(next);
    if let Ok(cookie) = HeaderValue::from_str(&state.admin.session_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// `POST /_mock/ui/logout`: forgets the session cookie in this browser.
pub async fn logout(state: AppStateRef, request: Request) -> Response {
    if let Err(refused) = read_form(&state, request.into_body()).await {
        return refused;
    }
    let mut response = see_other("/_mock/ui/login");
    if let Ok(cookie) = HeaderValue::from_str(&clear_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dashboard_pages_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/_mock/ui/faults")), "/_mock/ui/faults");
        assert_eq!(
            safe_next(Some("/_mock/ui?status=5xx")),
            "/_mock/ui?status=5xx"
        );
        for evil in [
            "https://evil.example/",
            "//evil.example/_mock/ui",
            "/_mock/ui//evil",
            "/_mock/ui/\\evil",
            "/_mock/reset",
        ] {
            assert_eq!(safe_next(Some(evil)), "/_mock/ui", "{evil}");
        }
        assert_eq!(safe_next(None), "/_mock/ui");
    }
}
