//! acd-client: the Amazon Drive REST API v1 client (work in progress; see issue 5).
//!
//! This crate is a placeholder so the workspace builds. The client arrives with its own issue.
#![deny(missing_docs)]

/// The name of the command-line program this crate builds.
pub const PROGRAM: &str = "acd";
