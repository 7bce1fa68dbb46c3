//! The page chrome shared by every dashboard page, its security headers, HTML error pages and
//! the reading of the dashboard's form posts (where the CSRF token is checked).

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::auth::CSRF_FIELD;
use super::escape::Esc;
use crate::error::ApiError;
use crate::state::AppState;

/// The sections of the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// The request list.
    Requests,
    /// Fault rules and switches.
    Faults,
    /// Accounts and their trees.
    Accounts,
    /// The login form (no navigation).
    Login,
}

impl Nav {
    fn name(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::Faults => "faults",
            Self::Accounts => "accounts",
            Self::Login => "login",
        }
    }
}

/// The hidden form field carrying the CSRF token.
pub fn csrf_field(state: &AppState) -> String {
    format!(
        "<input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">",
        Esc(state.admin.csrf())
    )
}

/// Adds the headers every dashboard response carries: no caching (minted tokens are shown
/// once), no framing, no sniffing, and a content security policy that allows only the
/// dashboard's own script and style (so even a missed escape could not run a script).
pub fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let pairs = [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ];
    for (name, value) in pairs {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// An HTML response (with [`secure`] headers).
pub fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure(response)
}

/// A whole page: `body` is HTML whose every value the caller has escaped.
pub fn page(state: &AppState, nav: Nav, title: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · acd-mock</title><link rel=\"icon\" href=\"data:,\">\
         <link rel=\"stylesheet\" href=\"/_mock/ui/assets/style.css\">\
         <script src=\"/_mock/ui/assets/app.js\" defer></script></head>\
         <body data-page=\"{}\"><header><span class=\"brand\">acd-mock</span>",
        Esc(title),
        nav.name()
    );
    if nav != Nav::Login {
        out.push_str("<nav>");
        for (item, label, href) in [
            (Nav::Requests, "Requests", "/_mock/ui"),
            (Nav::Faults, "Faults", "/_mock/ui/faults"),
            (Nav::Accounts, "Accounts", "/_mock/ui/accounts"),
        ] {
            let current = if item == nav {
                " aria-current=\"page\""
            } else {
                ""
            };
            let _ = write!(
                out,
                "<a id=\"nav-{}\" href=\"{href}\"{current}>{label}</a>",
                item.name()
            );
        }
        out.push_str("</nav>");
        if state.admin.required() {
            let _ = write!(
                out,
                "<form class=\"logout\" method=\"post\" action=\"/_mock/ui/logout\">{}\
                 <button type=\"submit\">Sign out</button></form>",
                csrf_field(state)
            );
        }
    }
    let _ = write!(
        out,
        "</header><main><h1>{}</h1>{body}</main></body></html>",
        Esc(title)
    );
    out
}

/// A failure shown as an HTML page with the API's status.
#[derive(Debug)]
pub struct UiError {
    status: StatusCode,
    message: String,
}

impl UiError {
    /// A 404 page.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    /// A 400 page.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl From<ApiError> for UiError {
    fn from(error: ApiError) -> Self {
        let status = error.status();
        let message = match &error {
            // The detail of an internal failure goes to the log, as in the API.
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal failure");
                "Internal failure".to_string()
            }
            other => other
                .json_body()
                .and_then(|b| b["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| other.to_string()),
        };
        Self { status, message }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let body = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} · acd-mock</title><link rel=\"icon\" href=\"data:,\">\
             <link rel=\"stylesheet\" href=\"/_mock/ui/assets/style.css\"></head><body><main>\
             <h1>{}</h1><p id=\"error\" class=\"error\">{}</p><p><a href=\"/_mock/ui\">Back to the dashboard</a></p>\
             </main></body></html>\n",
            self.status.as_u16(),
            self.status.as_u16(),
            Esc(&self.message)
        );
        html(self.status, body)
    }
}

/// Result of a dashboard handler.
pub type UiResult<T> = Result<T, UiError>;

/// A 303 to another dashboard page (post/redirect/get).
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    secure(response)
}

/// Reads a form post of the dashboard and checks its CSRF token: a post without the right
/// token is refused (403) before anything happens.
pub async fn read_form(state: &AppState, body: Body) -> Result<HashMap<String, String>, Response> {
    let bytes = axum::body::to_bytes(body, state.config.max_json_body)
        .await
        .map_err(|_| UiError::bad_request("The form is too large").into_response())?;
    let fields: HashMap<String, String> = form_urlencoded::parse(&bytes).into_owned().collect();
    if !state
        .admin
        .csrf_ok(fields.get(CSRF_FIELD).map(String::as_str))
    {
        let error = UiError {
            status: StatusCode::FORBIDDEN,
            message: "Missing or wrong CSRF token: reload the page and try again".into(),
        };
        return Err(error.into_response());
    }
    Ok(fields)
}

/// Formats a byte count for people (`1.5 MiB`).
pub fn bytes(n: u64) -> String {
    bytesize::ByteSize::b(n).display().iec().to_string()
}

/// Formats epoch milliseconds as the API does.
pub fn time(ms: i64) -> String {
    crate::util::format_ms(ms)
}
