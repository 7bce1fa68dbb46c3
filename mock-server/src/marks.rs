//! The marks the pipeline's stages leave on requests and responses for each other (axum
//! extensions): who acted, which fault fired, what was committed. A leaf module: the journal,
//! the fault layer, the handlers and the serving loop all read or write these without
//! depending on each other.
//!
//! The request's [`crate::operation::Operation`] is a mark too (set by the journal), and so is
//! the reset marker of [`crate::faults::respond`].

use axum::response::Response;

/// Which rule (or behaviour) fired on a response; the journal records it.
#[derive(Debug, Clone)]
pub struct Fired(pub String);

/// The status the handler answered before an `after_commit` fault replaced or cut its
/// response; the journal records it as the commit.
#[derive(Debug, Clone, Copy)]
pub struct Committed(pub u16);

/// Marks a response with the rule that fired.
pub fn mark(mut response: Response, id: &str) -> Response {
    response.extensions_mut().insert(Fired(id.to_string()));
    response
}

/// Where [`crate::auth::Caller`] leaves the account a request acted for, so its journal entry
/// can name it (the journal runs before authentication and does not look tokens up itself).
#[derive(Debug, Clone, Default)]
pub struct AccountSlot(pub std::sync::Arc<std::sync::OnceLock<String>>);
