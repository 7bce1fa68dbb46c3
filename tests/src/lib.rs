//! acd-e2e: helpers for end-to-end tests that run the workspace's binaries as processes.
#![deny(missing_docs)]

/// The crate README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctest;

pub mod admin;
pub mod process;
