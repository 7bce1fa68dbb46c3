//! acd-e2e: helpers for end-to-end tests that run the workspace's binaries as processes.
#![deny(missing_docs)]

pub mod admin;
pub mod process;
