//! acd-conformance: one suite of named checks that answers "does this behave like Amazon
//! Drive?" for a server and "does the client handle Amazon Drive?" for acd-client.
//!
//! - [`check`]: what a check is ([`check::Check`]: area, name, the reference section it
//!   enforces, the capabilities it needs) and the `checks!`/`ensure!` macros;
//! - [`target`]: the embedded mock, a running mock (`url=`), or a real account (`remote=`), each
//!   with capabilities and known divergences; everything happens in a fresh
//!   `acd-conformance-<random>` folder that is trashed at the end;
//! - [`context`]: what a running check gets (its fault scope, folder, seeded data);
//! - [`api`]: raw HTTP helpers, so checks see exactly what the server answers;
//! - [`cases`]: the checks, one module per area;
//! - [`runner`], [`report`], [`record`]: running, the table/JSON/JUnit report, and
//!   `--record`/`--compare` parity snapshots;
//! - [`units`]: sizes and durations from the command line, parsed without panics.
#![deny(missing_docs)]

pub mod api;
pub mod cases;
pub mod check;
pub mod context;
pub mod record;
pub mod report;
pub mod runner;
pub mod target;
pub mod units;

/// The name of the command-line program this crate builds.
pub const PROGRAM: &str = "acd-conformance";

/// The crate README's example, run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctest;
