//! Login with Amazon's sign-in and consent pages, emulated (reference §1.2).
//!
//! `GET /ap/oa?client_id&redirect_uri&response_type=code&scope&state` shows a sign-in form for
//! one of the mock's accounts; after a good password the consent page names the app and the
//! scopes it asks for, with Allow and Deny. Allow redirects to `redirect_uri` with `code` and the
//! same `state`; Deny with `error=access_denied`. A bad `client_id` or `redirect_uri` shows an
//! error page instead of redirecting, as the real service did (rclone#1420). Plain HTML forms,
//! no scripts, no external assets.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::consent::AuthRequest;
use crate::extract::Params;
use crate::state::{AppState, AppStateRef};
use crate::store::meta::TokenRow;
use crate::util::random_base64;

/// How long a code stays exchangeable.
pub const CODE_LIFETIME: Duration = Duration::from_secs(300);

/// The scopes Login with Amazon knew for Amazon Drive apps (reference §1.1).
const KNOWN_SCOPES: [&str; 10] = [
    "clouddrive:read_all",
    "clouddrive:write",
    "clouddrive:read",
    "clouddrive:read_image",
    "clouddrive:read_video",
    "clouddrive:read_document",
    "clouddrive:read_other",
    "profile",
    "profile:user_id",
    "postal_code",
];

/// Escapes text for HTML element content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>body{{font-family:Arial,sans-serif;max-width:26em;margin:3em auto;color:#111}}\
         h1{{font-weight:normal}} label{{display:block;margin-top:1em}} input[type=email],input[type=password]\
         {{width:100%;padding:.4em}} button{{margin-top:1.2em;padding:.5em 1.4em}} .error{{color:#c40000}}\
         .app{{font-weight:bold}}</style></head><body>\n<p>amazon (acd-mock)</p>\n{body}\n</body></html>\n",
        esc(title)
    )
}

fn error_page(status: StatusCode, heading: &str, detail: &str) -> Response {
    let body = format!(
        "<h1 id=\"error\">{} {}</h1>\n<p class=\"error\" id=\"error-detail\">{}</p>",
        status.as_u16(),
        esc(heading),
        esc(detail)
    );
    (status, Html(page(heading, &body))).into_response()
}

/// Why an authorization request is refused with an error page instead of a redirect.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    UnknownClient,
    BadRedirect,
}

impl Refusal {
    fn page(self) -> Response {
        let detail = match self {
            Self::UnknownClient => "Unknown client_id",
            Self::BadRedirect => "The redirect_uri is not whitelisted for this client",
        };
        error_page(StatusCode::BAD_REQUEST, "Bad Request", detail)
    }
}

/// Checks the app's client id and return URL. A refusal is shown as an error page instead of
/// redirecting (a bad redirect target must never receive a redirect).
fn validate(state: &AppState, params: &HashMap<String, String>) -> Result<AuthRequest, Refusal> {
    let client_id = params.get("client_id").cloned().unwrap_or_default();
    let known = &state.config.clients;
    if client_id.is_empty() || (!known.is_empty() && !known.iter().any(|(id, _)| *id == client_id))
    {
        return Err(Refusal::UnknownClient);
    }
    let redirect_uri = params.get("redirect_uri").cloned().unwrap_or_default();
    if !redirect_allowed(state, &redirect_uri) {
        return Err(Refusal::BadRedirect);
    }
    Ok(AuthRequest {
        client_id,
        redirect_uri,
        scope: params.get("scope").cloned().unwrap_or_default(),
        state: params.get("state").cloned(),
    })
}

/// An absolute http(s) URL without a fragment, and, when return URLs are configured, one of them
/// (compared up to the query string).
fn redirect_allowed(state: &AppState, uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let shape_ok = matches!(scheme, "http" | "https") && !host.is_empty() && !uri.contains('#');
    let allowed = &state.config.redirect_uris;
    let base = uri.split('?').next().unwrap_or(uri);
    shape_ok && (allowed.is_empty() || allowed.iter().any(|a| a == base))
}

/// `redirect_uri` with query parameters appended.
fn redirect_to(base: &str, pairs: &[(&str, &str)]) -> Response {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        query.append_pair(k, v);
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    let location = format!("{base}{sep}{}", query.finish());
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            let mut response = StatusCode::FOUND.into_response();
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        Err(_) => error_page(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "Invalid redirect_uri",
        ),
    }
}

fn redirect_error(request: &AuthRequest, error: &str, description: &str) -> Response {
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(s) = &request.state {
        pairs.push(("state", s));
    }
    redirect_to(&request.redirect_uri, &pairs)
}

fn hidden_fields(request: &AuthRequest) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: &str| {
        out.push_str(&format!(
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">\n",
            esc(value)
        ));
    };
    field("client_id", &request.client_id);
    field("redirect_uri", &request.redirect_uri);
    field("response_type", "code");
    field("scope", &request.scope);
    if let Some(s) = &request.state {
        field("state", s);
    }
    out
}

fn sign_in_form(request: &AuthRequest, email: &str, error: Option<&str>) -> Response {
    let error = error
        .map(|e| format!("<p class=\"error\" id=\"auth-error\">{}</p>\n", esc(e)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Sign-In</h1>\n{error}<form method=\"post\" action=\"/ap/signin\" id=\"signin\">\n{}\
         <label for=\"email\">Email</label><input type=\"email\" id=\"email\" name=\"email\" value=\"{}\" autofocus>\n\
         <label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\">\n\
         <button type=\"submit\" id=\"signInSubmit\">Sign-In</button>\n</form>",
        hidden_fields(request),
        esc(email)
    );
    let status = if error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    };
    (status, Html(page("Amazon Sign-In", &body))).into_response()
}

/// Reads the scopes; `Err` names the first unknown one.
fn scopes(scope: &str) -> Result<Vec<&str>, String> {
    let list: Vec<&str> = scope.split([' ', '+']).filter(|s| !s.is_empty()).collect();
    if list.is_empty() {
        return Err(String::new());
    }
    match list.iter().find(|s| !KNOWN_SCOPES.contains(s)) {
        Some(bad) => Err((*bad).to_string()),
        None => Ok(list),
    }
}

/// `GET /ap/oa`: the sign-in page.
pub async fn authorize(state: AppStateRef, params: Params) -> Response {
    let request = match validate(&state, &params.0) {
        Ok(request) => request,
        Err(refusal) => return refusal.page(),
    };
    if params.get("response_type") != Some("code") {
        return redirect_error(
            &request,
            "unsupported_response_type",
            "Only response_type=code is supported",
        );
    }
    if let Err(bad) = scopes(&request.scope) {
        return redirect_error(&request, "invalid_scope", &format!("Unknown scope: {bad}"));
    }
    sign_in_form(&request, "", None)
}

async fn form(state: &AppState, request: Request) -> HashMap<String, String> {
    let body = axum::body::to_bytes(request.into_body(), state.config.max_json_body)
        .await
        .unwrap_or_default();
    form_urlencoded::parse(&body).into_owned().collect()
}

/// `POST /ap/signin`: checks the password, then shows the consent page.
pub async fn sign_in(state: AppStateRef, request: Request) -> Response {
    let fields = form(&state, request).await;
    let auth = match validate(&state, &fields) {
        Ok(auth) => auth,
        Err(refusal) => return refusal.page(),
    };
    let email = fields.get("email").map(String::as_str).unwrap_or("");
    let password = fields.get("password").map(String::as_str).unwrap_or("");
    let account = match state.meta.account_by_email(email) {
        Ok(Some(account)) if account.password == password => account,
        Ok(_) => return sign_in_form(&auth, email, Some("Your email or password is incorrect")),
        Err(error) => return error.into_response(),
    };
    let scope_items: String = scopes(&auth.scope)
        .unwrap_or_default()
        .iter()
        .map(|s| format!("<li class=\"scope\">{}</li>", esc(s)))
        .collect();
    let client = auth.client_id.clone();
    let ticket = state.consents.insert(account.id, auth, state.now_ms());
    let body = format!(
        "<h1>Allow access?</h1>\n<p>Signed in as <span id=\"account\">{}</span>.</p>\n\
         <p>The app <span class=\"app\" id=\"app-name\">{}</span> asks to:</p>\n<ul id=\"scopes\">{scope_items}</ul>\n\
         <form method=\"post\" action=\"/ap/oa/consent\" id=\"consent\">\n\
         <input type=\"hidden\" name=\"ticket\" value=\"{}\">\n\
         <button type=\"submit\" name=\"consent\" value=\"allow\" id=\"allow\">Allow</button>\n\
         <button type=\"submit\" name=\"consent\" value=\"deny\" id=\"deny\">Deny</button>\n</form>",
        esc(&account.email),
        esc(&client),
        esc(&ticket)
    );
    (StatusCode::OK, Html(page("Allow access?", &body))).into_response()
}

/// `POST /ap/oa/consent`: Allow redirects with a code, Deny with `error=access_denied`.
pub async fn consent(state: AppStateRef, request: Request) -> Response {
    let fields = form(&state, request).await;
    let ticket = fields.get("ticket").map(String::as_str).unwrap_or("");
    let Some((account, auth)) = state.consents.take(ticket, state.now_ms()) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "This sign-in has expired or was already answered. Start again from the app.",
        );
    };
    if fields.get("consent").map(String::as_str) != Some("allow") {
        return redirect_error(&auth, "access_denied", "The user denied the request");
    }
    let code = random_base64(15);
    let row = TokenRow {
        kind: "code".into(),
        account,
        client_id: auth.client_id.clone(),
        expires: Some(state.now_ms() + i64::try_from(CODE_LIFETIME.as_millis()).unwrap_or(0)),
        redirect_uri: Some(auth.redirect_uri.clone()),
        scope: Some(auth.scope.clone()),
        used: false,
    };
    if let Err(error) = state.meta.insert_token(&code, &row) {
        return error.into_response();
    }
    let mut pairs = vec![("code", code.as_str()), ("scope", auth.scope.as_str())];
    if let Some(s) = &auth.state {
        pairs.push(("state", s));
    }
    redirect_to(&auth.redirect_uri, &pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn scopes_are_checked() {
        assert_eq!(
            scopes("clouddrive:read_all clouddrive:write"),
            Ok(vec!["clouddrive:read_all", "clouddrive:write"])
        );
        assert_eq!(
            scopes("clouddrive:nope"),
            Err("clouddrive:nope".to_string())
        );
        assert!(scopes("").is_err());
    }
}
