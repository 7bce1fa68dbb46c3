//! Storage: metadata in SQLite ([`meta`]), bytes on disk or generated ([`blobs`]), and the
//! filter grammar that turns `filters=` into SQL ([`filter`]); listing pages ([`listing`]),
//! the schema and its migrations ([`schema`]), pooled readers ([`pool`]) and the token and
//! account cache ([`cache`]) serve the metadata store.

pub mod blobs;
pub mod cache;
pub mod filter;
pub mod listing;
pub mod meta;
pub mod node;
pub mod pool;
pub mod rows;
pub mod schema;
