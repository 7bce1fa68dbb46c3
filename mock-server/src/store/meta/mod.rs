//! The metadata store: accounts, nodes, parents, tokens, tempLinks and properties in SQLite.
//!
//! One writing connection behind a mutex. Every mutation runs in one transaction under that
//! mutex, so checks such as "is this name free under this parent?" and the insert that
//! follows are atomic: sixteen concurrent creates of one name give one node and fifteen 409s.
//! The database is a file in WAL mode (in a temporary directory unless `--data-dir` gives
//! one), so reads run on pooled read-only connections ([`crate::store::pool`]) beside the
//! writer, and its size does not count towards the process's memory. Tokens and accounts,
//! read by every API call, are cached ([`crate::store::cache`]).
//!
//! [`MetaStore`] and the shapes it takes and returns live here, with the one-node write
//! transaction the entity modules share; its methods are split by entity: `accounts`,
//! `tokens` (and tempLinks), `nodes` (reads and patches), `create`, `content` (overwrites,
//! phantoms appearing), `parents` (moves and the name and cycle checks), `trash`, `changes`
//! and `properties`.

mod accounts;
mod changes;
mod content;
mod create;
mod nodes;
mod parents;
mod properties;
mod tokens;
mod trash;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, Transaction, params};

use crate::error::{ApiError, ApiResult};
use crate::store::cache::Cache;
use crate::store::filter::NameMatch;
use crate::store::node::{Content, FILE, FOLDER, Node};
use crate::store::pool::{Reader, Readers};
use crate::store::rows::load_node;
use crate::util::etag;
use changes::bump_change;

/// An account of the mock.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// Numeric id.
    pub id: i64,
    /// Sign-in email.
    pub email: String,
    /// Sign-in password.
    #[serde(skip)]
    pub password: String,
    /// The root folder's node id.
    pub root_id: String,
    /// Quota in bytes.
    pub quota: u64,
    /// Changes-feed generation; a reset gives a new one, so old checkpoints trigger `reset`.
    #[serde(skip)]
    pub epoch: String,
}

/// A stored token (access, refresh or authorization code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// `access`, `refresh` or `code`.
    pub kind: String,
    /// The account it signs in.
    pub account: i64,
    /// The client it was issued to.
    pub client_id: String,
    /// Expiry, epoch milliseconds (`None`: never).
    pub expires: Option<i64>,
    /// For codes: the redirect URI they were issued for.
    pub redirect_uri: Option<String>,
    /// For codes: the granted scope.
    pub scope: Option<String>,
    /// For codes: already exchanged.
    pub used: bool,
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page {
    /// The nodes of this page.
    pub nodes: Vec<Node>,
    /// How many nodes match in all pages.
    pub total: u64,
    /// `seq` to continue after, when more pages follow.
    pub next_after: Option<i64>,
}

/// What a new node is made of.
#[derive(Debug, Clone)]
pub struct NewNode {
    /// FILE or FOLDER.
    pub kind: &'static str,
    /// Its name (already validated).
    pub name: String,
    /// Its parents (at least one, each an existing folder).
    pub parents: Vec<String>,
    /// The app creating it.
    pub created_by: String,
    /// Labels.
    pub labels: Vec<String>,
    /// Description.
    pub description: Option<String>,
    /// Content of a FILE.
    pub content: Option<Content>,
    /// Initial status (AVAILABLE, or PENDING for phantom uploads).
    pub status: &'static str,
    /// Listing lag: searches do not see the node for this many milliseconds.
    pub hidden_ms: i64,
}

/// Where a node of a batch goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchParent {
    /// An existing folder.
    Id(String),
    /// The folder at this index of the same batch (an earlier one).
    Earlier(usize),
}

/// One node of [`MetaStore::create_batch`]: AVAILABLE, created by `acd-mock`, no labels.
#[derive(Debug, Clone)]
pub struct BatchNode {
    /// Its folder.
    pub parent: BatchParent,
    /// FILE or FOLDER.
    pub kind: &'static str,
    /// Its name (already validated).
    pub name: String,
    /// Content of a FILE.
    pub content: Option<Content>,
}

/// What [`MetaStore::create_batch`] made.
#[derive(Debug)]
pub struct BatchOutcome {
    /// The ids of the nodes created, in the batch's order (a prefix of it).
    pub ids: Vec<String>,
    /// Why the batch stopped before its end, if it did.
    pub error: Option<ApiError>,
}

/// Metadata changes a PATCH may make.
#[derive(Debug, Clone, Default)]
pub struct Patch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New labels.
    pub labels: Option<Vec<String>>,
    /// Replace the parent set.
    pub parents: Option<Vec<String>>,
    /// New status (only AVAILABLE is accepted by the API layer).
    pub status: Option<String>,
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Page cache of the writing connection, in KiB.
const WRITER_CACHE_KIB: i64 = 32 * 1024;

/// The SQLite metadata store.
#[derive(Debug)]
pub struct MetaStore {
    conn: Mutex<Connection>,
    readers: Readers,
    names: NameMatch,
    tokens: Cache<String, TokenRow>,
    accounts: Cache<i64, Account>,
    /// Each account's oldest trash time (`None`: no trash), so that the trash purge checked
    /// before every request costs no query until something is written (see [`WriteLock`]).
    trash_ages: Cache<i64, Option<i64>>,
    clock: std::sync::Arc<crate::clock::Clock>,
    /// The temporary directory of a store without a path (removed on drop).
    _temp: Option<tempfile::TempDir>,
}

impl MetaStore {
    /// Opens the store: the database file at `path` (synced on every commit), or without one
    /// a database in a temporary directory (never synced: nothing outlives the process).
    pub fn open(path: Option<&Path>, names: NameMatch) -> rusqlite::Result<Self> {
        let (file, temp, synchronous) = match path {
            Some(path) => (path.to_path_buf(), None, "FULL"),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("acd-mock-meta")
                    .tempdir()
                    .map_err(|e| {
                        rusqlite::Error::SqliteFailure(
                            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                            Some(format!("temporary directory: {e}")),
                        )
                    })?;
                (temp.path().join("meta.sqlite"), Some(temp), "OFF")
            }
        };
        let conn = Connection::open(&file)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", synchronous)?;
        conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        crate::store::schema::tune(&conn)?;
        conn.set_prepared_statement_cache_capacity(64);
        crate::store::schema::prepare(&conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            readers: Readers::new(file),
            names,
            tokens: Cache::default(),
            accounts: Cache::default(),
            trash_ages: Cache::default(),
            clock: crate::clock::Clock::new(),
            _temp: temp,
        })
    }

    /// The mock's clock, which every time this store records or compares is read from.
    pub fn clock(&self) -> &std::sync::Arc<crate::clock::Clock> {
        &self.clock
    }

    fn lock(&self) -> WriteLock<'_> {
        // A panic while holding the lock cannot leave a transaction half-applied (it rolls
        // back on drop), so a poisoned lock is safe to keep using.
        WriteLock {
            conn: self.conn.lock().unwrap_or_else(|e| e.into_inner()),
            trash_ages: &self.trash_ages,
        }
    }

    /// A read-only connection: sees every committed write, waits for none.
    fn read(&self) -> ApiResult<Reader<'_>> {
        Ok(self.readers.get()?)
    }

    /// Runs `change` on a node in one transaction, then bumps its version, etag, modified
    /// date and change number, and returns it as stored.
    fn write(
        &self,
        account: i64,
        id: &str,
        change: impl FnOnce(&Transaction<'_>, &Node) -> ApiResult<()>,
    ) -> ApiResult<Node> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let node = load_node(&tx, account, id)?.ok_or_else(|| ApiError::node_not_found(id))?;
        change(&tx, &node)?;
        let seq = bump_change(&tx, account)?;
        tx.execute(
            "UPDATE nodes SET version = version + 1, etag = ?, modified = ?, change_seq = ? WHERE id = ?",
            params![etag(), self.clock.now_ms().max(node.modified + 1), seq, node.id],
        )?;
        let node = load_node(&tx, account, id)?.ok_or_else(|| ApiError::node_not_found(id))?;
        tx.commit()?;
        Ok(node)
    }

    /// Every blob reference in the store (used to clean orphans at start).
    pub fn all_blobs(&self) -> ApiResult<Vec<String>> {
        let conn = self.lock();
        collect_strings(&conn, "SELECT blob FROM nodes WHERE blob IS NOT NULL", [])
    }
}

fn collect_strings<P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    p: P,
) -> ApiResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(p, |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The kinds a new node may have.
pub fn kind_of(kind: &str) -> Option<&'static str> {
    match kind {
        FILE => Some(FILE),
        FOLDER => Some(FOLDER),
        _ => None,
    }
}

/// The writing connection, held: when let go, after whatever it committed, the cached trash
/// ages are forgotten (any write may have trashed, restored or purged a node).
struct WriteLock<'a> {
    conn: MutexGuard<'a, Connection>,
    trash_ages: &'a Cache<i64, Option<i64>>,
}

impl std::ops::Deref for WriteLock<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl std::ops::DerefMut for WriteLock<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

impl Drop for WriteLock<'_> {
    fn drop(&mut self) {
        self.trash_ages.invalidate();
    }
}
