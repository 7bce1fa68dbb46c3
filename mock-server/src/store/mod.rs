//! Storage: metadata in SQLite ([`meta`]), bytes on disk or generated ([`blobs`]), and the
//! filter grammar that turns `filters=` into SQL ([`filter`]).

pub mod blobs;
pub mod filter;
pub mod meta;
pub mod node;
