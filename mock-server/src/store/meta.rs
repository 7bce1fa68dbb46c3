//! The metadata store: accounts, nodes, parents, tokens, tempLinks and properties in SQLite.
//!
//! One writing connection behind a mutex. Every mutation runs in one transaction under that
//! mutex, so checks such as "is this name free under this parent?" and the insert that
//! follows are atomic: sixteen concurrent creates of one name give one node and fifteen 409s.
//! The database is a file in WAL mode (in a temporary directory unless `--data-dir` gives
//! one), so reads run on pooled read-only connections ([`crate::store::pool`]) beside the
//! writer, and its size does not count towards the process's memory. Tokens and accounts,
//! read by every API call, are cached ([`crate::store::cache`]).

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use crate::error::{ApiError, ApiResult};
use crate::store::cache::Cache;
use crate::store::filter::{Filter, NameMatch};
use crate::store::listing::{self, Search};
use crate::store::node::{AVAILABLE, Content, FILE, FOLDER, Node, PENDING, TRASH};
use crate::store::pool::{Reader, Readers};
use crate::store::rows::{NODE_COLUMNS, load_node, node_from_row};
use crate::util::{etag, node_id, random_base64};

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

fn account_from_row(row: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: row.get(0)?,
        email: row.get(1)?,
        password: row.get(2)?,
        root_id: row.get(3)?,
        quota: u64::try_from(row.get::<_, i64>(4)?).unwrap_or(0),
        epoch: row.get(5)?,
    })
}

const ACCOUNT_COLUMNS: &str = "id, email, password, root_id, quota, epoch";

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
            clock: crate::clock::Clock::new(),
            _temp: temp,
        })
    }

    /// The mock's clock, which every time this store records or compares is read from.
    pub fn clock(&self) -> &std::sync::Arc<crate::clock::Clock> {
        &self.clock
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction half-applied (it rolls
        // back on drop), so a poisoned lock is safe to keep using.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A read-only connection: sees every committed write, waits for none.
    fn read(&self) -> ApiResult<Reader<'_>> {
        Ok(self.readers.get()?)
    }

    // ---- accounts -------------------------------------------------------------------------

    /// Creates an account with its root folder. Fails with 409 if the email is taken.
    pub fn create_account(&self, email: &str, password: &str, quota: u64) -> ApiResult<Account> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let taken: Option<i64> = tx
            .query_row("SELECT id FROM accounts WHERE email = ?", [email], |r| {
                r.get(0)
            })
            .optional()?;
        if taken.is_some() {
            return Err(ApiError::bad_request(format!(
                "An account with the email {email} already exists"
            )));
        }
        let root_id = node_id();
        let epoch = random_base64(6);
        tx.execute(
            "INSERT INTO accounts (email, password, root_id, quota, epoch) VALUES (?, ?, ?, ?, ?)",
            params![email, password, root_id, to_i64(quota), epoch],
        )?;
        let account = tx.last_insert_rowid();
        insert_root(&tx, account, &root_id, self.clock.now_ms())?;
        tx.commit()?;
        self.accounts.invalidate();
        Ok(Account {
            id: account,
            email: email.to_string(),
            password: password.to_string(),
            root_id,
            quota,
            epoch,
        })
    }

    /// Every account, oldest first.
    pub fn accounts(&self) -> ApiResult<Vec<Account>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY id"
        ))?;
        let rows = stmt.query_map([], account_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The account with this id.
    pub fn account(&self, id: i64) -> ApiResult<Option<Account>> {
        let generation = match self.accounts.get(&id) {
            Ok(account) => return Ok(Some(account)),
            Err(generation) => generation,
        };
        let conn = self.read()?;
        let account = conn
            .prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?"
            ))?
            .query_row([id], account_from_row)
            .optional()?;
        if let Some(account) = &account {
            self.accounts.fill(generation, id, account.clone());
        }
        Ok(account)
    }

    /// The account with this email (compared ignoring case).
    pub fn account_by_email(&self, email: &str) -> ApiResult<Option<Account>> {
        let conn = self.lock();
        Ok(conn
            .query_row(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE lower(email) = lower(?)"),
                [email],
                account_from_row,
            )
            .optional()?)
    }

    /// Empties one account: its tree (a new root), tokens stay valid, a new changes epoch.
    /// Returns the blobs that are no longer referenced.
    pub fn reset_account(&self, account: i64) -> ApiResult<Vec<String>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let blobs = collect_strings(
            &tx,
            "SELECT blob FROM nodes WHERE account = ? AND blob IS NOT NULL",
            [account],
        )?;
        tx.execute(
            "DELETE FROM properties WHERE node IN (SELECT id FROM nodes WHERE account = ?)",
            [account],
        )?;
        tx.execute(
            "DELETE FROM templinks WHERE node IN (SELECT id FROM nodes WHERE account = ?)",
            [account],
        )?;
        for table in [
            "DELETE FROM parents WHERE child IN (SELECT id FROM nodes WHERE account = ?)",
            "DELETE FROM ghost_parents WHERE child IN (SELECT id FROM nodes WHERE account = ?)",
            "DELETE FROM child_counts WHERE parent IN (SELECT id FROM nodes WHERE account = ?)",
            "DELETE FROM nodes WHERE account = ?",
            "DELETE FROM purged WHERE account = ?",
            "DELETE FROM local_ids WHERE account = ?",
        ] {
            tx.execute(table, [account])?;
        }
        let root_id = node_id();
        tx.execute(
            "UPDATE accounts SET root_id = ?, change_seq = 0, epoch = ? WHERE id = ?",
            params![root_id, random_base64(6), account],
        )?;
        insert_root(&tx, account, &root_id, self.clock.now_ms())?;
        tx.commit()?;
        self.accounts.invalidate();
        Ok(blobs)
    }

    /// Deletes everything. Returns every blob that was referenced.
    pub fn reset_all(&self) -> ApiResult<Vec<String>> {
        let mut conn = self.lock();
        // A transaction object, so an error rolls back instead of leaving one open.
        let tx = conn.transaction()?;
        let blobs = collect_strings(&tx, "SELECT blob FROM nodes WHERE blob IS NOT NULL", [])?;
        tx.execute_batch(
            "DELETE FROM properties; DELETE FROM templinks; DELETE FROM parents; \
             DELETE FROM ghost_parents; DELETE FROM child_counts; DELETE FROM nodes; \
             DELETE FROM purged; DELETE FROM local_ids; DELETE FROM tokens; DELETE FROM accounts;",
        )?;
        tx.commit()?;
        self.tokens.invalidate();
        self.accounts.invalidate();
        Ok(blobs)
    }

    /// Bytes stored by an account (files in any status count, trash included).
    pub fn used_bytes(&self, account: i64) -> ApiResult<u64> {
        let conn = self.lock();
        used_bytes(&conn, account)
    }

    /// Per-category usage: `(category, bytes, count)` for files, by content type.
    pub fn usage(&self, account: i64) -> ApiResult<Vec<(String, u64, u64)>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT CASE \
               WHEN content_type LIKE 'image/%' THEN 'photo' \
               WHEN content_type LIKE 'video/%' THEN 'video' \
               WHEN content_type LIKE 'text/%' OR content_type IN ('application/pdf', 'application/msword', \
                 'application/rtf', 'application/vnd.oasis.opendocument.text') \
                 OR content_type LIKE 'application/vnd.openxmlformats-officedocument.%' THEN 'doc' \
               ELSE 'other' END AS category, COALESCE(SUM(size), 0), COUNT(*) \
             FROM nodes WHERE account = ? AND kind = 'FILE' GROUP BY category",
        )?;
        let rows = stmt.query_map([account], |r| {
            Ok((
                r.get::<_, String>(0)?,
                u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ---- tokens ---------------------------------------------------------------------------

    /// Stores a token.
    pub fn insert_token(&self, token: &str, row: &TokenRow) -> ApiResult<()> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO tokens (token, kind, account, client_id, expires, redirect_uri, scope, used) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                token,
                row.kind,
                row.account,
                row.client_id,
                row.expires,
                row.redirect_uri,
                row.scope,
                row.used
            ],
        )?;
        Ok(())
    }

    /// Looks a token up.
    pub fn token(&self, token: &str) -> ApiResult<Option<TokenRow>> {
        let generation = match self.tokens.get(token) {
            Ok(row) => return Ok(Some(row)),
            Err(generation) => generation,
        };
        let conn = self.read()?;
        let row = conn
            .prepare_cached(
                "SELECT kind, account, client_id, expires, redirect_uri, scope, used FROM tokens WHERE token = ?",
            )?
            .query_row(
                [token],
                |r| {
                    Ok(TokenRow {
                        kind: r.get(0)?,
                        account: r.get(1)?,
                        client_id: r.get(2)?,
                        expires: r.get(3)?,
                        redirect_uri: r.get(4)?,
                        scope: r.get(5)?,
                        used: r.get(6)?,
                    })
                },
            )
            .optional()?;
        if let Some(row) = &row {
            self.tokens.fill(generation, token.to_string(), row.clone());
        }
        Ok(row)
    }

    /// Marks an authorization code used; returns false if it already was.
    pub fn use_code(&self, code: &str) -> ApiResult<bool> {
        let conn = self.lock();
        let changed = conn.execute(
            "UPDATE tokens SET used = 1 WHERE token = ? AND kind = 'code' AND used = 0",
            [code],
        )?;
        self.tokens.invalidate();
        Ok(changed == 1)
    }

    /// Sets a token's expiry (tests use it to expire tokens without waiting).
    pub fn set_token_expiry(&self, token: &str, expires: Option<i64>) -> ApiResult<bool> {
        let conn = self.lock();
        let changed = conn.execute(
            "UPDATE tokens SET expires = ? WHERE token = ?",
            params![expires, token],
        )?;
        self.tokens.invalidate();
        Ok(changed == 1)
    }

    // ---- node reads -----------------------------------------------------------------------

    /// A node of the account, with its parents.
    pub fn node(&self, account: i64, id: &str) -> ApiResult<Option<Node>> {
        let conn = self.read()?;
        load_node(&conn, account, id)
    }

    /// One page of the nodes matching `filter`, in creation order, after `after` (a `seq`).
    /// Trashed nodes are left out unless the filter tests `status`; `parent` restricts the
    /// search to one folder's children.
    pub fn search(
        &self,
        account: i64,
        filter: &Filter,
        parent: Option<&str>,
        after: i64,
        limit: u32,
    ) -> ApiResult<Page> {
        let search = Search {
            account,
            filter,
            parent,
            names: self.names,
            now: self.clock.now_ms(),
        };
        let conn = self.read()?;
        let mut page = listing::page(&conn, &search, after, limit)?;
        if !filter.mentions_status() {
            // Only the listing lag lets a trashed node in here: show it as it was.
            for node in page.nodes.iter_mut().filter(|n| n.is_trashed()) {
                node.status = AVAILABLE.to_string();
            }
        }
        Ok(page)
    }

    /// One page of the trash: nodes trashed directly (not as part of a trashed folder).
    pub fn trash_page(&self, account: i64, after: i64, limit: u32) -> ApiResult<Page> {
        let conn = self.read()?;
        listing::condition_page(
            &conn,
            "n.account = ? AND n.status = 'TRASH' AND n.trashed_with IS NULL",
            vec![Value::Integer(account)],
            after,
            limit,
        )
    }

    /// Nodes changed after `after` in the account's feed, oldest change first, as
    /// `(change number, JSON)`; with `include_purged`, purged nodes too (status `PURGED`).
    pub fn changes(
        &self,
        account: i64,
        after: i64,
        max: u32,
        include_purged: bool,
    ) -> ApiResult<Vec<(i64, serde_json::Value)>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {NODE_COLUMNS} FROM nodes n WHERE n.account = ? AND n.change_seq > ? \
             ORDER BY n.change_seq LIMIT ?"
        ))?;
        let nodes = stmt
            .query_map(params![account, after, max], node_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        let mut changes = Vec::with_capacity(nodes.len());
        for node in &nodes {
            changes.push((node.change_seq, node.json()));
        }
        if include_purged {
            let mut stmt = conn.prepare_cached(
                "SELECT change_seq, json FROM purged WHERE account = ? AND change_seq > ? \
                 ORDER BY change_seq LIMIT ?",
            )?;
            let purged = stmt
                .query_map(params![account, after, max], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            for (seq, json) in purged {
                changes.push((seq, serde_json::from_str(&json).unwrap_or_default()));
            }
            changes.sort_by_key(|(seq, _)| *seq);
            changes.truncate(max as usize);
        }
        Ok(changes)
    }

    /// The trash retention purge (reference §6.11): purges the account's nodes trashed more
    /// than `retention_ms` ago by the mock's clock (their trash time is the `modifiedDate`
    /// trashing gave them). A read finds whether any are due first, so the common case takes
    /// no write lock. Returns the purged ids and the blobs they held.
    pub fn purge_expired(
        &self,
        account: i64,
        retention_ms: i64,
    ) -> ApiResult<(Vec<String>, Vec<String>)> {
        let before = self.clock.now_ms().saturating_sub(retention_ms);
        let due: bool = self
            .read()?
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM nodes WHERE account = ? AND status = 'TRASH' \
                 AND modified < ? AND NOT is_root)",
            )?
            .query_row(params![account, before], |r| r.get(0))?;
        if !due {
            return Ok((Vec::new(), Vec::new()));
        }
        self.purge(account, None, Some(before))
    }

    /// Purges trashed nodes of the account now (the admin API's stand-in for the service's
    /// 30-day trash purge, reference §6.11): `ids` (and what was trashed with them), or those
    /// trashed before `trashed_before` (epoch ms), or with neither, the whole trash. Each
    /// leaves the store and gets a change number as a `PURGED` node. Returns the purged ids
    /// and the blobs they held.
    pub fn purge(
        &self,
        account: i64,
        ids: Option<&[String]>,
        trashed_before: Option<i64>,
    ) -> ApiResult<(Vec<String>, Vec<String>)> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let mut chosen = collect_strings(
            &tx,
            "SELECT id FROM nodes WHERE account = ? AND status = 'TRASH' AND NOT is_root \
             AND modified < ? ORDER BY change_seq",
            params![account, trashed_before.unwrap_or(i64::MAX)],
        )?;
        if let Some(ids) = ids {
            let wanted: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
            let mut keep = Vec::new();
            for id in &chosen {
                let with: Option<String> = tx
                    .query_row("SELECT trashed_with FROM nodes WHERE id = ?", [id], |r| {
                        r.get(0)
                    })
                    .optional()?
                    .flatten();
                if wanted.contains(id.as_str()) || with.is_some_and(|w| wanted.contains(w.as_str()))
                {
                    keep.push(id.clone());
                }
            }
            chosen = keep;
        }
        let mut blobs = Vec::new();
        for id in &chosen {
            let Some(mut node) = load_node(&tx, account, id)? else {
                continue;
            };
            let seq = bump_change(&tx, account)?;
            node.status = "PURGED".into();
            node.version += 1;
            node.modified = self.clock.now_ms().max(node.modified + 1);
            node.change_seq = seq;
            if let Some(content) = &node.content {
                blobs.push(content.blob.clone());
            }
            tx.execute(
                "INSERT OR REPLACE INTO purged (id, account, change_seq, json) VALUES (?, ?, ?, ?)",
                params![node.id, account, seq, node.json().to_string()],
            )?;
            for table in [
                "DELETE FROM properties WHERE node = ?",
                "DELETE FROM local_ids WHERE node = ?",
                "DELETE FROM templinks WHERE node = ?",
                "DELETE FROM parents WHERE child = ?",
                "DELETE FROM ghost_parents WHERE child = ?",
                "DELETE FROM child_counts WHERE parent = ?",
                "DELETE FROM nodes WHERE id = ?",
            ] {
                tx.execute(table, [&node.id])?;
            }
        }
        tx.commit()?;
        Ok((chosen, blobs))
    }

    /// The account's latest change number.
    pub fn change_seq(&self, account: i64) -> ApiResult<i64> {
        let conn = self.read()?;
        Ok(conn.query_row(
            "SELECT change_seq FROM accounts WHERE id = ?",
            [account],
            |r| r.get(0),
        )?)
    }

    /// An AVAILABLE file of the account with this MD5 and a non-zero size, other than
    /// `except`, if any.
    pub fn file_with_md5(
        &self,
        account: i64,
        md5: &str,
        except: Option<&str>,
    ) -> ApiResult<Option<String>> {
        let conn = self.lock();
        Ok(conn
            .query_row(
                "SELECT id FROM nodes WHERE md5 = ? AND account = ? AND status = 'AVAILABLE' AND size > 0 \
                 AND id <> ? LIMIT 1",
                params![md5, account, except.unwrap_or("")],
                |r| r.get(0),
            )
            .optional()?)
    }

    // ---- node writes ----------------------------------------------------------------------

    /// Creates a node after checking its parents and that its name is free in each.
    /// With `quota` set, also refuses (403) when the content would exceed it.
    pub fn create(&self, account: i64, new: NewNode, quota: Option<u64>) -> ApiResult<Node> {
        self.insert(account, new, quota, true, None)
    }

    /// [`MetaStore::create`] with the client's `localId` (§6.5): each `localId` maps to one
    /// node of the account, so a second create with it is 409 `LOCAL_ID_ALREADY_EXISTS`
    /// naming that node, whatever its status (the mapping goes only when the node is purged).
    pub fn create_with_local_id(
        &self,
        account: i64,
        new: NewNode,
        quota: Option<u64>,
        local_id: Option<&str>,
    ) -> ApiResult<Node> {
        self.insert(account, new, quota, true, local_id)
    }

    /// Creates a node without the name check: a phantom upload appearing late, next to
    /// whatever took its name meanwhile. Its `localId`, if any, is kept as for any upload the
    /// service finished (a retry with the same one is 409).
    pub fn create_unchecked(
        &self,
        account: i64,
        new: NewNode,
        local_id: Option<&str>,
    ) -> ApiResult<Node> {
        self.insert(account, new, None, false, local_id)
    }

    /// Creates many nodes in one transaction (the admin seed): each under an existing live
    /// folder of the account or under a node created earlier in the same batch, each name free
    /// in its folder. The nodes are made in order, as that many [`MetaStore::create`] calls
    /// would: the first that fails stops the batch, and those before it stay created (the
    /// outcome's `error`). Returns the new ids, in order.
    pub fn create_batch(&self, account: i64, nodes: &[BatchNode]) -> ApiResult<BatchOutcome> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let first_change: i64 = tx.query_row(
            "SELECT change_seq FROM accounts WHERE id = ?",
            [account],
            |r| r.get(0),
        )?;
        let now = self.clock.now_ms();
        let mut checked = std::collections::HashSet::new();
        let mut ids: Vec<String> = Vec::with_capacity(nodes.len());
        let mut error = None;
        let mut insert_node = tx.prepare_cached(
            "INSERT INTO nodes (id, account, kind, name, name_lower, status, version, created, modified, \
             created_by, labels, etag, size, md5, content_type, extension, content_version, content_date, \
             blob, change_seq) VALUES (?, ?, ?, ?, ?, 'AVAILABLE', 1, ?, ?, 'acd-mock', '[]', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )?;
        let mut insert_link = tx.prepare_cached(
            "INSERT INTO parents (child, parent, pos, seq, kind, name, name_lower) VALUES (?, ?, 0, ?, ?, ?, ?)",
        )?;
        for (i, node) in nodes.iter().enumerate() {
            let parent = match &node.parent {
                BatchParent::Id(parent) => {
                    if !checked.contains(parent.as_str()) {
                        if let Err(e) = check_parent(&tx, account, parent) {
                            error = Some(e);
                            break;
                        }
                        checked.insert(parent.as_str());
                    }
                    parent.as_str()
                }
                BatchParent::Earlier(j) if *j < i && nodes[*j].kind == FOLDER => ids[*j].as_str(),
                BatchParent::Earlier(j) if *j < i => {
                    // What `check_parent` says of a file given as a parent.
                    error = Some(ApiError::bad_request(format!(
                        "Parent {} is not a folder",
                        ids[*j]
                    )));
                    break;
                }
                BatchParent::Earlier(_) => {
                    return Err(ApiError::Internal(
                        "a batch node's parent must come before it".into(),
                    ));
                }
            };
            if let Some(existing) = conflict(&tx, parent, &node.name, None)? {
                error = Some(ApiError::NameExists {
                    name: node.name.clone(),
                    parent: parent.to_string(),
                    node_id: existing,
                });
                break;
            }
            let id = node_id();
            let lower = node.name.to_lowercase();
            let c = node.content.as_ref();
            insert_node.execute(params![
                id,
                account,
                node.kind,
                node.name,
                lower,
                now,
                now,
                etag(),
                c.map(|c| to_i64(c.size)),
                c.map(|c| c.md5.as_str()),
                c.map(|c| c.content_type.as_str()),
                c.and_then(|c| c.extension.as_deref()),
                c.map(|c| c.version),
                c.map(|c| c.date),
                c.map(|c| c.blob.as_str()),
                first_change + i as i64 + 1,
            ])?;
            let seq = tx.last_insert_rowid();
            insert_link.execute(params![id, parent, seq, node.kind, node.name, lower])?;
            ids.push(id);
        }
        drop((insert_node, insert_link));
        tx.execute(
            "UPDATE accounts SET change_seq = ? WHERE id = ?",
            params![first_change + ids.len() as i64, account],
        )?;
        tx.commit()?;
        Ok(BatchOutcome { ids, error })
    }

    fn insert(
        &self,
        account: i64,
        new: NewNode,
        quota: Option<u64>,
        check_names: bool,
        local_id: Option<&str>,
    ) -> ApiResult<Node> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        if let Some(local_id) = local_id
            && let Some(node_id) = tx
                .query_row(
                    "SELECT node FROM local_ids WHERE account = ? AND local_id = ?",
                    params![account, local_id],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
        {
            return Err(ApiError::LocalIdExists {
                local_id: local_id.to_string(),
                node_id,
            });
        }
        if new.parents.is_empty() {
            return Err(ApiError::bad_request(
                "parents must name at least one folder",
            ));
        }
        for parent in &new.parents {
            check_parent(&tx, account, parent)?;
        }
        if check_names {
            ensure_name_free(&tx, &new.parents, &new.name, None)?;
        }
        if let (Some(quota), Some(content)) = (quota, &new.content)
            && used_bytes(&tx, account)?.saturating_add(content.size) > quota
        {
            return Err(ApiError::QuotaExceeded);
        }
        let id = node_id();
        let now = self.clock.now_ms();
        let change = bump_change(&tx, account)?;
        let c = new.content.as_ref();
        tx.execute(
            "INSERT INTO nodes (id, account, kind, name, name_lower, status, version, created, modified, \
             created_by, description, labels, etag, size, md5, content_type, extension, content_version, \
             content_date, blob, change_seq, visible_from) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                id,
                account,
                new.kind,
                new.name,
                new.name.to_lowercase(),
                new.status,
                now,
                now,
                new.created_by,
                new.description,
                serde_json::to_string(&new.labels).unwrap_or_else(|_| "[]".into()),
                etag(),
                c.map(|c| to_i64(c.size)),
                c.map(|c| c.md5.clone()),
                c.map(|c| c.content_type.clone()),
                c.and_then(|c| c.extension.clone()),
                c.map(|c| c.version),
                c.map(|c| c.date),
                c.map(|c| c.blob.clone()),
                change,
                (new.hidden_ms > 0).then(|| now + new.hidden_ms)
            ],
        )?;
        link(&tx, &id, &new.parents)?;
        if let Some(local_id) = local_id {
            tx.execute(
                "INSERT INTO local_ids (account, local_id, node) VALUES (?, ?, ?)",
                params![account, local_id, id],
            )?;
        }
        let node = load_node(&tx, account, &id)?
            .ok_or_else(|| ApiError::Internal("lost insert".into()))?;
        tx.commit()?;
        Ok(node)
    }

    /// Applies a PATCH. Renaming a trashed node never conflicts; renaming a live one onto a
    /// live sibling's name is a 409.
    pub fn patch(&self, account: i64, id: &str, patch: &Patch, lag_ms: i64) -> ApiResult<Node> {
        self.write(account, id, |tx, node| {
            if let Some(parents) = &patch.parents {
                if node.is_root {
                    return Err(ApiError::Forbidden("The root folder cannot be moved".into()));
                }
                for parent in parents {
                    check_parent(tx, account, parent)?;
                    check_not_inside(tx, &node.id, parent)?;
                }
            }
            let name = patch.name.as_ref().or(node.name.as_ref());
            let parents = patch.parents.as_ref().unwrap_or(&node.parents);
            let goes_live = patch.status.as_deref() == Some(AVAILABLE);
            if let Some(name) = name
                && (!node.is_trashed() || goes_live)
            {
                ensure_name_free(tx, parents, name, Some(&node.id))?;
            }
            if let Some(name) = &patch.name {
                if node.is_root {
                    return Err(ApiError::Forbidden("The root folder cannot be renamed".into()));
                }
                tx.execute(
                    "UPDATE nodes SET name = ?, name_lower = ?, extension = CASE WHEN kind = 'FILE' THEN ? ELSE extension END WHERE id = ?",
                    params![name, name.to_lowercase(), crate::store::node::extension_of(name), node.id],
                )?;
                tx.execute(
                    "UPDATE parents SET name = ?, name_lower = ? WHERE child = ?",
                    params![name, name.to_lowercase(), node.id],
                )?;
            }
            if let Some(description) = &patch.description {
                tx.execute(
                    "UPDATE nodes SET description = ? WHERE id = ?",
                    params![description, node.id],
                )?;
            }
            if let Some(labels) = &patch.labels {
                tx.execute(
                    "UPDATE nodes SET labels = ? WHERE id = ?",
                    params![serde_json::to_string(labels).unwrap_or_else(|_| "[]".into()), node.id],
                )?;
            }
            if let Some(parents) = &patch.parents {
                set_parents(tx, &node.id, parents, lag_ms, self.clock.now_ms())?;
            }
            if let Some(status) = &patch.status {
                tx.execute(
                    "UPDATE nodes SET status = ?, trashed_with = NULL WHERE id = ?",
                    params![status, node.id],
                )?;
            }
            Ok(())
        })
    }

    /// Moves a node from one parent to another (`POST nodes/{to}/children`).
    pub fn move_node(
        &self,
        account: i64,
        id: &str,
        from: &str,
        to: &str,
        lag_ms: i64,
    ) -> ApiResult<Node> {
        self.write(account, id, |tx, node| {
            if node.is_root {
                return Err(ApiError::Forbidden(
                    "The root folder cannot be moved".into(),
                ));
            }
            if node.is_trashed() {
                return Err(ApiError::bad_request(
                    "Cannot replace the parent of a node in the trash",
                ));
            }
            if !node.parents.iter().any(|p| p == from) {
                return Err(ApiError::bad_request(format!(
                    "Node {id} does not have the parent {from}"
                )));
            }
            check_parent(tx, account, to)?;
            check_not_inside(tx, &node.id, to)?;
            if from == to {
                return Ok(());
            }
            if let Some(name) = &node.name {
                ensure_name_free(tx, &[to.to_string()], name, Some(&node.id))?;
            }
            let parents: Vec<String> = node
                .parents
                .iter()
                .filter(|p| *p != to)
                .map(|p| if p == from { to.to_string() } else { p.clone() })
                .collect();
            set_parents(tx, &node.id, &parents, lag_ms, self.clock.now_ms())
        })
    }

    /// Adds a parent (`PUT nodes/{parent}/children/{child}`); works on trashed nodes too.
    pub fn add_parent(&self, account: i64, id: &str, parent: &str) -> ApiResult<Node> {
        self.write(account, id, |tx, node| {
            if node.is_root {
                return Err(ApiError::Forbidden(
                    "The root folder cannot have parents".into(),
                ));
            }
            check_parent(tx, account, parent)?;
            check_not_inside(tx, &node.id, parent)?;
            if node.parents.iter().any(|p| p == parent) {
                return Ok(());
            }
            if let (Some(name), false) = (&node.name, node.is_trashed()) {
                ensure_name_free(tx, &[parent.to_string()], name, Some(&node.id))?;
            }
            let mut parents = node.parents.clone();
            parents.push(parent.to_string());
            set_parents(tx, &node.id, &parents, 0, self.clock.now_ms())
        })
    }

    /// Removes a parent (`DELETE nodes/{parent}/children/{child}`); the node may be left with none.
    pub fn remove_parent(
        &self,
        account: i64,
        id: &str,
        parent: &str,
        lag_ms: i64,
    ) -> ApiResult<Node> {
        self.write(account, id, |tx, node| {
            if !node.parents.iter().any(|p| p == parent) {
                return Err(ApiError::NotFound(format!(
                    "Node {id} is not a child of {parent}"
                )));
            }
            let parents: Vec<String> = node
                .parents
                .iter()
                .filter(|p| *p != parent)
                .cloned()
                .collect();
            set_parents(tx, &node.id, &parents, lag_ms, self.clock.now_ms())
        })
    }

    /// Trashes a node and, for a folder, its live subtree.
    ///
    /// With a listing lag, searches keep showing the trashed nodes as AVAILABLE until it passes.
    pub fn trash(&self, account: i64, id: &str, lag_ms: i64) -> ApiResult<Node> {
        let lag_until = (lag_ms > 0).then(|| self.clock.now_ms() + lag_ms);
        self.write(account, id, |tx, node| {
            if node.is_root {
                return Err(ApiError::Forbidden("The root folder cannot be trashed".into()));
            }
            if node.is_trashed() {
                return Ok(());
            }
            tx.execute(
                "UPDATE nodes SET status = 'TRASH', trashed_with = NULL, trash_lag_until = ? WHERE id = ?",
                params![lag_until, node.id],
            )?;
            if node.is_folder() {
                for child in live_descendants(tx, &node.id)? {
                    let change = bump_change(tx, account)?;
                    tx.execute(
                        "UPDATE nodes SET status = 'TRASH', trashed_with = ?, change_seq = ?, modified = ?, \
                         version = version + 1, etag = ?, trash_lag_until = ? WHERE id = ?",
                        params![node.id, change, self.clock.now_ms(), etag(), lag_until, child],
                    )?;
                }
            }
            Ok(())
        })
    }

    /// Restores a trashed node (and what was trashed with it) to all of its parents.
    pub fn restore(&self, account: i64, id: &str) -> ApiResult<Node> {
        self.write(account, id, |tx, node| {
            if !node.is_trashed() {
                return Ok(());
            }
            if let Some(name) = &node.name {
                ensure_name_free(tx, &node.parents, name, Some(&node.id))?;
            }
            tx.execute(
                "UPDATE nodes SET status = 'AVAILABLE', trashed_with = NULL, trash_lag_until = NULL WHERE id = ?",
                [&node.id],
            )?;
            let with = collect_strings(tx, "SELECT id FROM nodes WHERE trashed_with = ?", [&node.id])?;
            for child in with {
                let change = bump_change(tx, account)?;
                tx.execute(
                    "UPDATE nodes SET status = 'AVAILABLE', trashed_with = NULL, trash_lag_until = NULL, change_seq = ?, modified = ?, \
                     version = version + 1, etag = ? WHERE id = ?",
                    params![change, self.clock.now_ms(), etag(), child],
                )?;
            }
            Ok(())
        })
    }

    /// Replaces a file's content. Returns the updated node and the blob it no longer uses.
    pub fn overwrite(
        &self,
        account: i64,
        id: &str,
        content: Content,
        quota: Option<u64>,
    ) -> ApiResult<(Node, Option<String>)> {
        let mut old_blob = None;
        let node = self.write(account, id, |tx, node| {
            if !node.is_file() {
                return Err(ApiError::bad_request(format!("Node {id} is not a file")));
            }
            let old_size = node.content.as_ref().map_or(0, |c| c.size);
            if let Some(quota) = quota {
                let used = used_bytes(tx, account)?.saturating_sub(old_size);
                if used.saturating_add(content.size) > quota {
                    return Err(ApiError::QuotaExceeded);
                }
            }
            old_blob = node.content.as_ref().map(|c| c.blob.clone());
            tx.execute(
                "UPDATE nodes SET size = ?, md5 = ?, content_type = ?, content_version = COALESCE(content_version, 0) + 1, \
                 content_date = ?, blob = ? WHERE id = ?",
                params![to_i64(content.size), content.md5, content.content_type, content.date, content.blob, node.id],
            )?;
            tx.execute("DELETE FROM templinks WHERE node = ?", [&node.id])?;
            Ok(())
        })?;
        Ok((node, old_blob))
    }

    /// Turns a `PENDING` node (a phantom upload now due) `AVAILABLE`, as a change of the node;
    /// a node no longer PENDING (made available by a PATCH, trashed) is left as it is.
    /// Returns whether it changed.
    pub fn make_available(&self, account: i64, id: &str) -> ApiResult<bool> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let Some(node) = load_node(&tx, account, id)? else {
            return Ok(false);
        };
        if node.status != PENDING {
            return Ok(false);
        }
        let seq = bump_change(&tx, account)?;
        tx.execute(
            "UPDATE nodes SET status = 'AVAILABLE', version = version + 1, etag = ?, modified = ?, \
             change_seq = ? WHERE id = ?",
            params![
                etag(),
                self.clock.now_ms().max(node.modified + 1),
                seq,
                node.id
            ],
        )?;
        tx.commit()?;
        Ok(true)
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

    // ---- tempLinks and properties -----------------------------------------------------------

    /// A tempLink token for a file: an existing one younger than `refresh_after_ms`, or a new
    /// one valid for `lifetime_ms`.
    pub fn templink(
        &self,
        node: &str,
        lifetime_ms: i64,
        refresh_after_ms: i64,
    ) -> ApiResult<String> {
        let conn = self.lock();
        let now = self.clock.now_ms();
        let existing: Option<String> = conn
            .query_row(
                "SELECT token FROM templinks WHERE node = ? AND created > ? AND expires > ? ORDER BY created DESC LIMIT 1",
                params![node, now - refresh_after_ms, now],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(token) = existing {
            return Ok(token);
        }
        let token = random_base64(24);
        conn.execute(
            "INSERT INTO templinks (token, node, created, expires) VALUES (?, ?, ?, ?)",
            params![token, node, now, now + lifetime_ms],
        )?;
        Ok(token)
    }

    /// The node behind a tempLink token, if the token exists and has not expired.
    pub fn templink_node(&self, token: &str) -> ApiResult<Option<Node>> {
        let conn = self.lock();
        let hit: Option<(String, i64)> = conn
            .query_row(
                "SELECT t.node, n.account FROM templinks t JOIN nodes n ON n.id = t.node WHERE t.token = ? AND t.expires > ?",
                params![token, self.clock.now_ms()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match hit {
            Some((node, account)) => load_node(&conn, account, &node),
            None => Ok(None),
        }
    }

    /// Sets a property; refuses an 11th key for one owner.
    pub fn set_property(&self, node: &str, owner: &str, key: &str, value: &str) -> ApiResult<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let count: i64 = tx.query_row(
            "SELECT COUNT(*) FROM properties WHERE node = ? AND owner = ? AND key <> ?",
            params![node, owner, key],
            |r| r.get(0),
        )?;
        if count >= 10 {
            return Err(ApiError::bad_request(
                "An owner may set at most 10 properties on a node",
            ));
        }
        tx.execute(
            "INSERT INTO properties (node, owner, key, value) VALUES (?, ?, ?, ?) \
             ON CONFLICT (node, owner, key) DO UPDATE SET value = excluded.value",
            params![node, owner, key, value],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// An owner's properties on a node.
    pub fn properties(&self, node: &str, owner: &str) -> ApiResult<Vec<(String, String)>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT key, value FROM properties WHERE node = ? AND owner = ? ORDER BY key",
        )?;
        let rows = stmt.query_map([node, owner], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes a property; returns whether it existed.
    pub fn delete_property(&self, node: &str, owner: &str, key: &str) -> ApiResult<bool> {
        let conn = self.lock();
        Ok(conn.execute(
            "DELETE FROM properties WHERE node = ? AND owner = ? AND key = ?",
            [node, owner, key],
        )? == 1)
    }

    /// Every blob reference in the store (used to clean orphans at start).
    pub fn all_blobs(&self) -> ApiResult<Vec<String>> {
        let conn = self.lock();
        collect_strings(&conn, "SELECT blob FROM nodes WHERE blob IS NOT NULL", [])
    }
}

fn insert_root(tx: &Connection, account: i64, root_id: &str, now: i64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO nodes (id, account, kind, name, name_lower, status, is_root, version, created, modified, \
         created_by, etag, change_seq) VALUES (?, ?, 'FOLDER', NULL, NULL, 'AVAILABLE', 1, 1, ?, ?, 'CloudDriveFiles', ?, 0)",
        params![root_id, account, now, now, etag()],
    )?;
    Ok(())
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

fn used_bytes(conn: &Connection, account: i64) -> ApiResult<u64> {
    let used: i64 = conn.query_row(
        "SELECT COALESCE(SUM(size), 0) FROM nodes WHERE account = ? AND kind = 'FILE'",
        [account],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(used).unwrap_or(0))
}

fn parents_of(conn: &Connection, id: &str) -> ApiResult<Vec<String>> {
    collect_strings(
        conn,
        "SELECT parent FROM parents WHERE child = ? ORDER BY pos",
        [id],
    )
}

fn bump_change(tx: &Connection, account: i64) -> ApiResult<i64> {
    Ok(tx.query_row(
        "UPDATE accounts SET change_seq = change_seq + 1 WHERE id = ? RETURNING change_seq",
        [account],
        |r| r.get(0),
    )?)
}

/// The parent must be a live folder of the account.
fn check_parent(tx: &Connection, account: i64, parent: &str) -> ApiResult<()> {
    let found: Option<(String, String)> = tx
        .query_row(
            "SELECT kind, status FROM nodes WHERE id = ? AND account = ?",
            params![parent, account],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match found {
        Some((kind, status)) if kind == FOLDER && status != TRASH => Ok(()),
        Some((kind, _)) if kind != FOLDER => Err(ApiError::bad_request(format!(
            "Parent {parent} is not a folder"
        ))),
        _ => Err(ApiError::bad_request("One of the parentId doesn't exists")),
    }
}

/// A folder cannot become a child of itself or of its own descendants.
fn check_not_inside(tx: &Connection, id: &str, new_parent: &str) -> ApiResult<()> {
    let cycle: bool = tx.query_row(
        "WITH RECURSIVE up(id) AS (SELECT ? UNION SELECT p.parent FROM parents p JOIN up ON p.child = up.id) \
         SELECT EXISTS (SELECT 1 FROM up WHERE id = ?)",
        params![new_parent, id],
        |r| r.get(0),
    )?;
    if cycle {
        return Err(ApiError::bad_request(
            "A folder cannot be moved into itself",
        ));
    }
    Ok(())
}

/// The id of a live node (other than `except`) under `parent` whose name equals `name`
/// ignoring case.
fn conflict(
    tx: &Connection,
    parent: &str,
    name: &str,
    except: Option<&str>,
) -> ApiResult<Option<String>> {
    Ok(tx
        .prepare_cached(
            "SELECT p.child FROM parents p CROSS JOIN nodes n ON n.seq = p.seq \
             WHERE p.parent = ? AND p.name_lower = ? AND p.child <> ? AND n.status NOT IN ('TRASH', 'PENDING') LIMIT 1",
        )?
        .query_row(
            params![parent, name.to_lowercase(), except.unwrap_or("")],
            |r| r.get(0),
        )
        .optional()?)
}

/// 409 NAME_ALREADY_EXISTS unless `name` is free (ignoring case) in every one of `parents`.
fn ensure_name_free(
    tx: &Connection,
    parents: &[String],
    name: &str,
    except: Option<&str>,
) -> ApiResult<()> {
    for parent in parents {
        if let Some(existing) = conflict(tx, parent, name, except)? {
            return Err(ApiError::NameExists {
                name: name.to_string(),
                parent: parent.clone(),
                node_id: existing,
            });
        }
    }
    Ok(())
}

fn set_parents(
    tx: &Connection,
    id: &str,
    parents: &[String],
    lag_ms: i64,
    now: i64,
) -> ApiResult<()> {
    if lag_ms > 0 {
        // Listing lag: the parents the node leaves keep listing it for a while.
        tx.execute("DELETE FROM ghost_parents WHERE until <= ?", [now])?;
        for old in parents_of(tx, id)? {
            if !parents.contains(&old) {
                tx.execute(
                    "INSERT OR REPLACE INTO ghost_parents (child, parent, until) VALUES (?, ?, ?)",
                    params![id, old, now + lag_ms],
                )?;
            }
        }
    }
    tx.execute("DELETE FROM parents WHERE child = ?", [id])?;
    link(tx, id, parents)
}

/// Links a node to `parents` (a repeated parent once), copying the node's `seq`, kind and
/// names into each link.
fn link(tx: &Connection, id: &str, parents: &[String]) -> ApiResult<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO parents (child, parent, pos, seq, kind, name, name_lower) \
         SELECT id, ?, ?, seq, kind, name, name_lower FROM nodes WHERE id = ?",
    )?;
    for (pos, parent) in parents.iter().enumerate() {
        stmt.execute(params![parent, pos as i64, id])?;
    }
    Ok(())
}

fn live_descendants(tx: &Connection, id: &str) -> ApiResult<Vec<String>> {
    collect_strings(
        tx,
        "WITH RECURSIVE down(id) AS (SELECT ? UNION SELECT p.child FROM parents p JOIN down ON p.parent = down.id \
           JOIN nodes n ON n.id = p.child WHERE n.status <> 'TRASH') \
         SELECT id FROM down WHERE id <> ?1",
        [id],
    )
}

/// The kinds a new node may have.
pub fn kind_of(kind: &str) -> Option<&'static str> {
    match kind {
        FILE => Some(FILE),
        FOLDER => Some(FOLDER),
        _ => None,
    }
}
