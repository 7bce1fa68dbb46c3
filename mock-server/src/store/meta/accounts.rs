//! Accounts: creation with a root folder, lookups (cached), resets, usage and quota.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Account, MetaStore, collect_strings, to_i64};
use crate::error::{ApiError, ApiResult};
use crate::util::{etag, node_id, random_base64};

impl MetaStore {
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

fn insert_root(tx: &Connection, account: i64, root_id: &str, now: i64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO nodes (id, account, kind, name, name_lower, status, is_root, version, created, modified, \
         created_by, etag, change_seq) VALUES (?, ?, 'FOLDER', NULL, NULL, 'AVAILABLE', 1, 1, ?, ?, 'CloudDriveFiles', ?, 0)",
        params![root_id, account, now, now, etag()],
    )?;
    Ok(())
}

pub(super) fn used_bytes(conn: &Connection, account: i64) -> ApiResult<u64> {
    let used: i64 = conn.query_row(
        "SELECT COALESCE(SUM(size), 0) FROM nodes WHERE account = ? AND kind = 'FILE'",
        [account],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(used).unwrap_or(0))
}
