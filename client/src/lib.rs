//! acd-client: a production client for the Amazon Drive (Amazon Cloud Drive) REST API v1.
//!
//! Layers, bottom up:
//! - [`http`]: the transport (rustls with ring, no automatic redirects);
//! - [`error`]: one error type, classified once from status and body;
//! - [`pacer`]: pacing and retries shared by all tasks of a remote;
//! - [`auth`]: tokens, their refresh, and the browser sign-in flows;
//! - [`api`]: typed calls for every operation, with paging and listing restarts;
//! - [`encoding`]: rclone's name encoding, both ways;
//! - [`paths`] and [`dircache`]: `remote:path` parsing and path-to-id resolution;
//! - [`transfer`]: streaming upload and download with MD5 checks, phantom-upload recovery,
//!   resumable downloads and tempLinks;
//! - [`cache`]: the changes-fed metadata cache and the own-writes journal;
//! - [`ops`]: the commands (`copy`, `sync`, `check`, listings...);
//! - [`mount`]: `acd mount`, the drive as a FUSE filesystem.
//!
//! [`config`] reads and writes rclone-compatible configuration files.
#![deny(missing_docs)]

pub mod api;
pub mod auth;
pub mod cache;
pub mod config;
pub mod dircache;
pub mod encoding;
pub mod error;
pub mod http;
pub mod mount;
pub mod ops;
pub mod pacer;
pub mod paths;
pub mod remote;
pub mod retry;
pub mod transfer;

pub use error::{Error, ErrorKind, Result};

/// The name of the command-line program this crate builds.
pub const PROGRAM: &str = "acd";

/// The crate README's example, run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctest;
