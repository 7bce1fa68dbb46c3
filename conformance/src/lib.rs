//! acd-conformance: the suite of named API checks (work in progress; see issue 6).
#![deny(missing_docs)]

/// The name of the command-line program this crate builds.
pub const PROGRAM: &str = "acd-conformance";
