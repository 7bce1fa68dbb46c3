//! The local metadata cache: one SQLite file per account, fed by the changes feed.
//!
//! Why: folder listings are paced paging and lag behind writes (a file uploaded a moment ago
//! may not be listed yet), while the changes feed is one streamed call that is not lagged
//! (reference §6.13). The cache keeps every node the feed delivered, so `--fast-list` answers
//! recursive listings locally after one incremental sync, and it keeps the nodes this client's
//! own writes returned (the journal), so every listing, in this process or a later one, sees
//! what the client just wrote.
//!
//! The file is named by the account's identity (its root folder id), so two remotes of one
//! account share it and two accounts never do. It runs in WAL mode (many readers); one process
//! at a time writes a sync ([`lock`]). A file that is corrupt, of another schema version or of
//! another account is rebuilt with a one-line warning, never trusted; a cache directory that
//! cannot be written leaves the client working without the cache ([`Cache::open`] fails, and
//! the caller warns once).
//!
//! - [`schema`]: the tables; [`lock`]: the cross-process writer lock;
//! - [`store`]: nodes, parents and the checkpoint; [`sync`]: the changes feed, applied;
//! - [`ndjson`]: splitting the streamed feed into lines; [`journal`]: the own-writes journal.

pub mod journal;
pub mod lock;
pub mod ndjson;
pub mod schema;
pub mod store;
pub mod sync;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, ErrorCode, OptionalExtension as _};

use crate::error::{Error, Result};
use lock::{WriterLock, lock_path};
use schema::{SCHEMA, SCHEMA_VERSION};

/// The metadata cache of one account.
pub struct Cache {
    conn: Mutex<Connection>,
    path: PathBuf,
    account: String,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("path", &self.path)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// What `acd cache info` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// The cache file.
    pub path: PathBuf,
    /// The account identity the file belongs to.
    pub account: String,
    /// Nodes held (all statuses).
    pub nodes: u64,
    /// The last applied checkpoint (`None`: never synced).
    pub checkpoint: Option<String>,
    /// When the last sync finished (Unix milliseconds).
    pub last_sync_ms: Option<i64>,
    /// Bytes on disk (the file and its WAL).
    pub size_on_disk: u64,
}

/// Why an existing cache file is not trusted (or, `New`, not made yet).
#[derive(Debug)]
enum Distrust {
    New,
    Corrupt(String),
    Schema(String),
    Account(String),
}

impl std::fmt::Display for Distrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Distrust::New => write!(f, "is empty"),
            Distrust::Corrupt(why) => write!(f, "is not a readable cache ({why})"),
            Distrust::Schema(v) => write!(
                f,
                "has schema version {v:?} (this acd uses {SCHEMA_VERSION})"
            ),
            Distrust::Account(a) => write!(f, "belongs to another account ({a})"),
        }
    }
}

/// Where the metadata caches live under acd's cache directory.
pub fn metadata_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("metadata")
}

/// The cache file of `account` in `dir`.
pub fn file_for(dir: &Path, account: &str) -> PathBuf {
    let safe: String = account
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{safe}.sqlite"))
}

pub(crate) fn sql_error(context: &str, e: rusqlite::Error) -> Error {
    Error::Cache {
        context: context.to_string(),
        source: e,
    }
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Cache {
    /// Open (or create) the cache of `account` in `dir`. A file that cannot be trusted is
    /// rebuilt with a one-line warning. Fails when the directory or file cannot be written.
    pub fn open(dir: &Path, account: &str) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        let path = file_for(dir, account);
        // A trusted file opens without the writer lock (a long sync by another process
        // must not hold up readers); making or rebuilding one takes it, then looks again.
        let conn = match open_checked(&path, account, false) {
            Ok(conn) => conn,
            Err(Err(e)) => return Err(e),
            Err(Ok(_)) => {
                let _writer = WriterLock::acquire(&lock_path(&path))?;
                match open_checked(&path, account, true) {
                    Ok(conn) => conn,
                    Err(Err(e)) => return Err(e),
                    Err(Ok(distrust)) => {
                        tracing::warn!(
                            "the metadata cache {} {distrust}; rebuilding it",
                            path.display()
                        );
                        remove_files(&path)?;
                        open_checked(&path, account, true).map_err(|e| match e {
                            Ok(d) => Error::Usage(format!(
                                "the rebuilt metadata cache {} {d}",
                                path.display()
                            )),
                            Err(e) => e,
                        })?
                    }
                }
            }
        };
        Ok(Self {
            conn: Mutex::new(conn),
            path,
            account: account.to_string(),
        })
    }

    /// Remove the cache of `account` in `dir`; true when there was one.
    pub fn clear(dir: &Path, account: &str) -> Result<bool> {
        let path = file_for(dir, account);
        let existed = path.exists();
        let lock = lock_path(&path);
        if existed {
            let _writer = WriterLock::acquire(&lock)?;
            remove_files(&path)?;
        }
        let _ = std::fs::remove_file(&lock);
        Ok(existed)
    }

    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The account identity the cache belongs to.
    pub fn account(&self) -> &str {
        &self.account
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic mid-transaction rolls it back on drop: a poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take the cross-process writer lock (for a whole sync).
    pub async fn writer_lock(&self) -> Result<WriterLock> {
        WriterLock::acquire_async(lock_path(&self.path)).await
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn()
            .query_row("SELECT value FROM meta WHERE key = ?", [key], |r| r.get(0))
            .optional()
            .map_err(|e| sql_error("read the metadata cache", e))
    }

    /// Nodes, checkpoint, last sync and size on disk.
    pub fn info(&self) -> Result<Info> {
        let nodes: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM nodes", [], |r| r.get(0))
            .map_err(|e| sql_error("read the metadata cache", e))?;
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = self.path.as_os_str().to_owned();
        wal.push("-wal");
        Ok(Info {
            path: self.path.clone(),
            account: self.account.clone(),
            nodes: u64::try_from(nodes).unwrap_or(0),
            checkpoint: self.checkpoint()?,
            last_sync_ms: self.meta("last_sync_ms")?.and_then(|v| v.parse().ok()),
            size_on_disk: size(&self.path) + size(Path::new(&wal)),
        })
    }
}

/// Open `path` and check it is a cache of this schema and account; a new (empty) one is
/// initialized when `locked` (the writer lock is held), else reported as `Distrust::New`.
/// `Err(Ok(_))`: the file is not (yet) to be trusted; `Err(Err(_))`: it cannot be used.
fn open_checked(
    path: &Path,
    account: &str,
    locked: bool,
) -> std::result::Result<Connection, Result<Distrust>> {
    let cannot = |e: rusqlite::Error| -> std::result::Result<Connection, Result<Distrust>> {
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
                Err(Ok(Distrust::Corrupt(e.to_string())))
            }
            _ => Err(Err(sql_error(
                &format!("open the metadata cache {}", path.display()),
                e,
            ))),
        }
    };
    let conn = match Connection::open(path) {
        Ok(c) => c,
        Err(e) => return cannot(e),
    };
    // Only the holder of the writer lock switches a new file to WAL: two connections switching
    // at once deadlock, and SQLite then answers "database is locked" without waiting.
    let setup = (|| -> rusqlite::Result<bool> {
        conn.busy_timeout(std::time::Duration::from_secs(60))?;
        let is_wal = |mode: &str| mode.eq_ignore_ascii_case("wal");
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if !is_wal(&mode) {
            if !locked {
                return Ok(false);
            }
            let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            if !is_wal(&mode) {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_READONLY),
                    Some(format!("cannot switch to WAL (journal mode {mode})")),
                ));
            }
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(true)
    })();
    match setup {
        Ok(true) => {}
        // Not in WAL yet: a new file, which the caller makes under the writer lock.
        Ok(false) => return Err(Ok(Distrust::New)),
        Err(e) => return cannot(e),
    }
    let tables: i64 = match conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
        [],
        |r| r.get(0),
    ) {
        Ok(n) => n,
        Err(e) => return cannot(e),
    };
    if tables == 0 && !locked {
        return Err(Ok(Distrust::New));
    }
    if tables == 0 {
        // One transaction: another process sees no tables or the whole schema.
        let init = conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA}")).and_then(|()| {
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?), ('account', ?)",
                [SCHEMA_VERSION, account],
            )?;
            conn.execute_batch("COMMIT")
        });
        return match init {
            Ok(_) => Ok(conn),
            Err(e) => cannot(e),
        };
    }
    let read = |key: &str| -> rusqlite::Result<Option<String>> {
        conn.query_row("SELECT value FROM meta WHERE key = ?", [key], |r| r.get(0))
            .optional()
    };
    let version = match read("schema_version") {
        Ok(v) => v,
        Err(e)
            if matches!(
                e.sqlite_error_code(),
                Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
            ) =>
        {
            return cannot(e);
        }
        // No meta table: some other layout.
        Err(_) => return Err(Ok(Distrust::Schema("none".into()))),
    };
    if version.as_deref() != Some(SCHEMA_VERSION) {
        return Err(Ok(Distrust::Schema(
            version.unwrap_or_else(|| "none".into()),
        )));
    }
    match read("account") {
        Ok(Some(a)) if a == account => Ok(conn),
        Ok(other) => Err(Ok(Distrust::Account(
            other.unwrap_or_else(|| "none".into()),
        ))),
        Err(e) => cannot(e),
    }
}

/// Remove a cache file with its WAL and shared-memory files.
fn remove_files(path: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(&name) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::io(
                    format!("remove {}", Path::new(&name).display()),
                    e,
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
