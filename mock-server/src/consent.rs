//! Sign-ins waiting for the user's Allow or Deny on the consent page (reference §1.2).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::util::random_base64;

/// How long a signed-in, not yet answered consent page stays valid.
const CONSENT_LIFETIME_MS: i64 = 10 * 60 * 1000;

/// An authorization request, as the app sent it.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    /// The app's OAuth client id.
    pub client_id: String,
    /// Where to send the answer.
    pub redirect_uri: String,
    /// The scopes asked for.
    pub scope: String,
    /// The app's `state`, sent back unchanged.
    pub state: Option<String>,
}

/// Consent pages waiting for Allow or Deny: a random ticket → (account, request, deadline).
#[derive(Debug, Default)]
pub struct PendingConsents {
    inner: Mutex<HashMap<String, (i64, AuthRequest, i64)>>,
}

impl PendingConsents {
    pub(crate) fn insert(&self, account: i64, request: AuthRequest, now: i64) -> String {
        let ticket = random_base64(24);
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, (_, _, deadline)| *deadline > now);
        map.insert(
            ticket.clone(),
            (account, request, now + CONSENT_LIFETIME_MS),
        );
        ticket
    }

    pub(crate) fn take(&self, ticket: &str, now: i64) -> Option<(i64, AuthRequest)> {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(ticket)
            .filter(|(_, _, deadline)| *deadline > now)
            .map(|(account, request, _)| (account, request))
    }
}
