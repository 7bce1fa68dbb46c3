//! The commands' logic, independent of the CLI: walking trees, planning, transferring.

pub mod list;
pub mod lister;
pub mod manage;
pub mod sync;

use std::sync::Arc;

use crate::remote::Remote;
use crate::transfer::stats::Stats;

/// Settings shared by the transferring commands.
#[derive(Debug, Clone)]
pub struct Options {
    /// Concurrent transfers.
    pub transfers: usize,
    /// Concurrent checks (listings, hashing).
    pub checkers: usize,
    /// Only report what would be done.
    pub dry_run: bool,
    /// Skip files larger than this.
    pub max_size: Option<u64>,
    /// Compare by size only (no MD5).
    pub size_only: bool,
    /// Time between phantom-upload polls.
    pub phantom_poll: std::time::Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            transfers: 4,
            checkers: 8,
            dry_run: false,
            max_size: None,
            size_only: false,
            phantom_poll: std::time::Duration::from_secs(5),
        }
    }
}

/// Above this size the service's uploads tended to fail (rclone warned at 50,000 MiB).
pub const WARN_FILE_SIZE: u64 = 50_000 << 20;

/// A remote opened for a command, with its counters.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The remote.
    pub remote: Arc<Remote>,
    /// Shared counters.
    pub stats: Arc<Stats>,
    /// Command options.
    pub options: Options,
}
