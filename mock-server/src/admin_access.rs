//! The admin credentials of one server: the admin token and the secrets behind the
//! dashboard's session cookie and CSRF token, and how a request's headers are judged against
//! them. A leaf: the configuration, the shared state and the admin gate
//! ([`crate::ui::auth::require_admin`], which has the rules) all use it.

use std::fmt;
use std::net::SocketAddr;

use axum::http::{HeaderMap, header};

use crate::util::random_base64;

/// The dashboard's session cookie.
pub const COOKIE: &str = "acd_mock_admin";

/// The admin token. Its `Debug` output never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// Whether the token is empty (refused at start: it would let anyone in).
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// Whether `given` is this token, compared in constant time.
    pub fn matches(&self, given: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), given.as_bytes())
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// Whether the server may listen on `addr`: loopback always, anything else only with an admin
/// token.
pub fn listen_allowed(addr: &SocketAddr, token: Option<&AdminToken>) -> bool {
    addr.ip().is_loopback() || token.is_some()
}

/// Compares two secrets in time that depends only on their lengths, not on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= std::hint::black_box(x ^ y);
    }
    diff == 0
}

/// How a request got in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No admin token is configured: open (loopback only).
    Open,
    /// `Authorization: Bearer` with the admin token.
    Bearer,
    /// The dashboard's session cookie.
    Cookie,
    /// Neither: refused.
    Denied,
}

/// The admin credentials of one server: the token, and the per-server secrets behind the
/// session cookie and the CSRF token (random, made at start).
#[derive(Clone)]
pub struct AdminAuth {
    token: Option<AdminToken>,
    session: String,
    csrf: String,
}

impl fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminAuth")
            .field("token_required", &self.token.is_some())
            .finish_non_exhaustive()
    }
}

impl AdminAuth {
    /// Credentials for a server with this admin token (`None`: open).
    pub fn new(token: Option<AdminToken>) -> Self {
        Self {
            token,
            session: random_base64(32),
            csrf: random_base64(32),
        }
    }

    /// Whether requests need the admin token.
    pub fn required(&self) -> bool {
        self.token.is_some()
    }

    /// The CSRF token the dashboard's forms carry.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Whether `given` is the CSRF token.
    pub fn csrf_ok(&self, given: Option<&str>) -> bool {
        given.is_some_and(|g| constant_time_eq(g.as_bytes(), self.csrf.as_bytes()))
    }

    /// Whether `given` is the admin token (`false` when none is configured).
    pub fn token_ok(&self, given: &str) -> bool {
        self.token.as_ref().is_some_and(|t| t.matches(given))
    }

    /// How a request with these headers gets in.
    pub fn access(&self, headers: &HeaderMap) -> Access {
        let Some(token) = &self.token else {
            return Access::Open;
        };
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, value) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| value.trim())
            });
        if let Some(given) = bearer {
            // A wrong Bearer token is refused even with a valid cookie: say what is wrong.
            return if token.matches(given) {
                Access::Bearer
            } else {
                Access::Denied
            };
        }
        let session = cookie(headers, COOKIE);
        if session.is_some_and(|s| constant_time_eq(s.as_bytes(), self.session.as_bytes())) {
            Access::Cookie
        } else {
            Access::Denied
        }
    }

    /// The `Set-Cookie` value that signs the dashboard in.
    pub fn session_cookie(&self) -> String {
        format!(
            "{COOKIE}={}; Path=/_mock; HttpOnly; SameSite=Strict",
            self.session
        )
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let token = AdminToken::new("s3cret");
        assert!(!format!("{token:?}").contains("s3cret"));
        let auth = AdminAuth::new(Some(token));
        let shown = format!("{auth:?}");
        assert!(!shown.contains("s3cret"));
        assert!(!shown.contains(auth.csrf()));
        assert!(!shown.contains(&auth.session));
    }
}
