//! The checks, one module per area. Each module's `checks()` lists its checks in order.

pub mod account;
pub mod auth;
pub mod case;
pub mod changes;
pub mod client;
pub mod clock;
pub mod committed;
pub mod discovery;
pub mod filters;
pub mod folders;
pub mod listing;
pub mod moves;
pub mod names;
pub mod overwrite;
pub mod range;
pub mod root;
pub mod shapes;
pub mod templink;
pub mod transfer;
pub mod trash;

use crate::check::Check;

/// Every check of the suite, grouped by area.
pub fn all() -> Vec<Check> {
    [
        auth::checks(),
        discovery::checks(),
        root::checks(),
        listing::checks(),
        filters::checks(),
        names::checks(),
        case::checks(),
        folders::checks(),
        transfer::checks(),
        range::checks(),
        overwrite::checks(),
        trash::checks(),
        moves::checks(),
        committed::checks(),
        changes::checks(),
        clock::checks(),
        account::checks(),
        templink::checks(),
        shapes::checks(),
        client::checks(),
    ]
    .concat()
}
