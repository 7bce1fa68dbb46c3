//! The command line: global flags and subcommands.

use std::time::Duration;

use acd_client::config;
use clap::{Args, Parser, Subcommand};

/// A duration flag (`3m`, `180s`, `1.5`): clap reports a bad one as a usage error (exit 2).
fn duration(text: &str) -> Result<Duration, String> {
    config::parse_duration(text)
}

/// A size flag (`9G`, `500M`, `off`).
fn size(text: &str) -> Result<u64, String> {
    config::parse_size(text)
}

/// A remote option given as a flag and holding a duration: checked here, so that a bad value
/// is a usage error (exit 2), and passed on as text like the config file's options.
fn duration_option(text: &str) -> Result<String, String> {
    config::parse_duration(text).map(|_| text.to_string())
}

/// A remote option given as a flag and holding a size.
fn size_option(text: &str) -> Result<String, String> {
    config::parse_size(text).map(|_| text.to_string())
}

/// acd: copy, sync and list files on Amazon Drive (Amazon Cloud Drive).
///
/// Paths are `remote:path` for the drive (a remote is a section of the config file, as
/// rclone writes them) or plain local paths.
#[derive(Debug, Parser)]
#[command(name = "acd", version, propagate_version = true)]
pub(crate) struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
    /// Flags for every command.
    #[command(flatten)]
    pub global: Global,
}

/// Flags accepted before or after the subcommand.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Config file (default: ~/.config/acd/acd.conf).
    #[arg(long, global = true, env = "ACD_CONFIG", value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// More logging: -v for info, -vv for debug.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Show progress (bytes, rate, ETA).
    #[arg(short = 'P', long, global = true)]
    pub progress: bool,
    /// Concurrent file transfers (at most 65535).
    #[arg(long, global = true, default_value_t = 4, env = "ACD_TRANSFERS")]
    pub transfers: u16,
    /// Concurrent checkers: listings, hashing (at most 65535).
    #[arg(long, global = true, default_value_t = 8, env = "ACD_CHECKERS")]
    pub checkers: u16,
    /// Show what would be done, change nothing.
    #[arg(short = 'n', long, global = true)]
    pub dry_run: bool,
    /// Skip files larger than this (e.g. 50000M).
    #[arg(long, global = true, value_name = "SIZE", env = "ACD_MAX_SIZE", value_parser = size)]
    pub max_size: Option<u64>,
    /// Compare files by size only, not MD5.
    #[arg(long, global = true)]
    pub size_only: bool,
    /// JSON output for listings and `about`.
    #[arg(long, global = true)]
    pub json: bool,
    /// Trust this extra CA certificate (PEM), e.g. an intercepting acd-mock's.
    #[arg(long, global = true, env = "ACD_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<std::path::PathBuf>,
    /// Attempts per API call before giving up.
    #[arg(
        long,
        global = true,
        default_value_t = 10,
        env = "ACD_LOW_LEVEL_RETRIES"
    )]
    pub low_level_retries: u32,
    /// Most time one call may spend retrying (e.g. 15m).
    #[arg(
        long,
        global = true,
        default_value = "15m",
        env = "ACD_RETRY_BUDGET",
        value_parser = duration
    )]
    pub retry_budget: Duration,
    /// Seconds between polls for a phantom upload.
    #[arg(
        long,
        global = true,
        default_value = "5s",
        env = "ACD_PHANTOM_POLL",
        hide = true,
        value_parser = duration
    )]
    pub phantom_poll: Duration,
    /// Option override: client_id.
    #[arg(long, global = true)]
    pub client_id: Option<String>,
    /// Option override: client_secret.
    #[arg(long, global = true, hide_env_values = true)]
    pub client_secret: Option<String>,
    /// Option override: auth_url.
    #[arg(long, global = true)]
    pub auth_url: Option<String>,
    /// Option override: token_url.
    #[arg(long, global = true)]
    pub token_url: Option<String>,
    /// Option override: upload_wait_per_gb (default 3m).
    #[arg(long, global = true, value_parser = duration_option)]
    pub upload_wait_per_gb: Option<String>,
    /// Option override: templink_threshold (default 9G).
    #[arg(long, global = true, value_parser = size_option)]
    pub templink_threshold: Option<String>,
    /// Option override: encoding (default Slash,InvalidUtf8,Dot).
    #[arg(long, global = true)]
    pub encoding: Option<String>,
    /// Option override: endpoint_url (the account/endpoint URL).
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// Recursive listings and path lookups from the metadata cache, after one incremental
    /// sync from the changes feed (config fast_list = true; env ACD_FAST_LIST).
    #[arg(long, global = true)]
    pub fast_list: bool,
    /// How long the client's own writes correct lagging listings (default 5m; 0: off;
    /// config consistency_window; env ACD_CONSISTENCY_WINDOW).
    #[arg(long, global = true, value_name = "DURATION")]
    pub consistency_window: Option<String>,
    /// Where endpoint answers and metadata caches are kept (default: the user's cache dir).
    #[arg(long, global = true, env = "ACD_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<std::path::PathBuf>,
}

/// A path argument and a recursion flag.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// remote:path
    pub path: String,
    /// Recurse into folders.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Include MD5 hashes (lsjson).
    #[arg(long)]
    pub hash: bool,
}

/// Source and destination.
#[derive(Debug, Args)]
pub(crate) struct Pair {
    /// Source: local path or remote:path.
    pub src: String,
    /// Destination: local path or remote:path.
    pub dst: String,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List folders (not recursive).
    Lsd(ListArgs),
    /// List files with sizes (recursive).
    Ls(ListArgs),
    /// List files with sizes and times (recursive).
    Lsl(ListArgs),
    /// List as JSON (-R to recurse).
    Lsjson(ListArgs),
    /// MD5 and path of every file (recursive).
    Md5sum(ListArgs),
    /// Count files and bytes.
    Size(ListArgs),
    /// Show the tree.
    Tree(ListArgs),
    /// Make a folder and its parents.
    Mkdir {
        /// remote:path
        path: String,
    },
    /// Remove an empty folder (to the trash).
    Rmdir {
        /// remote:path
        path: String,
    },
    /// Copy a folder's files that are missing or different at the destination.
    Copy(Pair),
    /// Copy one file to an exact destination name.
    Copyto(Pair),
    /// Make the destination identical to the source (extra files go to the trash).
    Sync(Pair),
    /// Compare source and destination by size and MD5.
    Check(Pair),
    /// Copy, then delete the sources (server-side within a remote).
    Move(Pair),
    /// Move one file or folder to an exact destination name.
    Moveto(Pair),
    /// Trash the files under a path (folders stay).
    Delete {
        /// remote:path
        path: String,
    },
    /// Trash a folder with all its contents.
    Purge {
        /// remote:path
        path: String,
    },
    /// Print a file to stdout.
    Cat {
        /// remote:path
        path: String,
        /// Start at this byte.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// Print at most this many bytes (-1: to the end).
        #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
        count: i64,
    },
    /// Quota and usage of the account.
    About {
        /// remote:
        remote: String,
    },
    /// The trash.
    #[command(subcommand)]
    Trash(TrashCommand),
    /// The local metadata cache, fed by the changes feed.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Create, show or reconnect remotes.
    Config {
        /// What to do (default: interactive creation).
        #[command(subcommand)]
        action: Option<ConfigCommand>,
    },
    /// Sign in with a browser here and print the token to paste on a headless machine.
    Authorize(AuthorizeArgs),
    /// Mount remote:path as a FUSE filesystem (foreground; Ctrl-C or fusermount3 -u ends it).
    Mount(MountArgs),
}

/// `acd mount remote:path MOUNTPOINT`
#[derive(Debug, Args)]
pub(crate) struct MountArgs {
    /// remote:path
    pub path: String,
    /// An empty local directory.
    pub mountpoint: std::path::PathBuf,
    /// Refuse every write (EROFS).
    #[arg(long)]
    pub read_only: bool,
    /// Let other users use the mount.
    #[arg(long)]
    pub allow_other: bool,
    /// Time between polls of the changes feed.
    #[arg(long, default_value = "1m", value_parser = duration)]
    pub poll_interval: Duration,
    /// Read-ahead bound per open file.
    #[arg(long, default_value = "16M", value_parser = size)]
    pub buffer_size: u64,
    /// The longest a listing is trusted without polling the changes feed.
    #[arg(long, default_value = "5m", value_parser = duration)]
    pub dir_cache_time: Duration,
}

/// `acd trash ...`
#[derive(Debug, Subcommand)]
pub(crate) enum TrashCommand {
    /// List what is in the trash.
    List {
        /// remote:
        remote: String,
    },
    /// Restore nodes from the trash by id.
    Restore {
        /// remote:
        remote: String,
        /// Node ids (see `acd trash list`). Ids may start with `-`; they are taken as ids, so
        /// put flags before the remote.
        #[arg(required = true, allow_hyphen_values = true)]
        ids: Vec<String>,
    },
}

/// `acd cache ...`
#[derive(Debug, Subcommand)]
pub(crate) enum CacheCommand {
    /// Bring the cache up to date from the changes feed (every remote when none is given).
    Sync {
        /// remote:
        remote: Option<String>,
    },
    /// Nodes, checkpoint, last sync time and size on disk (every cache file when no remote).
    Info {
        /// remote:
        remote: Option<String>,
    },
    /// Remove the cache of the remote's account (all caches when no remote is given).
    Clear {
        /// remote:
        remote: Option<String>,
    },
}

/// How the browser sign-in runs.
#[derive(Debug, Args, Clone)]
pub(crate) struct AuthorizeArgs {
    /// Do not open a browser; just print the URL.
    #[arg(long)]
    pub auth_no_open_browser: bool,
    /// Where to listen for the browser's return.
    #[arg(long, default_value = "127.0.0.1:53682")]
    pub auth_addr: std::net::SocketAddr,
    /// Give up waiting for the browser after this long.
    #[arg(long, default_value = "10m", value_parser = duration)]
    pub auth_timeout: Duration,
}

/// `acd config ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Create a remote from key=value pairs, without questions.
    Create {
        /// The remote's name.
        name: String,
        /// Options: client_id=... client_secret=... token=... endpoint_url=...
        pairs: Vec<String>,
    },
    /// Show remotes (secrets hidden).
    Show {
        /// Only this remote.
        name: Option<String>,
    },
    /// Sign a remote in again with the browser.
    Reconnect {
        /// The remote's name.
        name: String,
        /// Browser flow settings.
        #[command(flatten)]
        auth: AuthorizeArgs,
    },
    /// Delete a remote.
    Delete {
        /// The remote's name.
        name: String,
    },
    /// Print the config file's path.
    File,
}
