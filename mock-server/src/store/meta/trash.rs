//! The trash: trashing, restoring, listing it, and purging (by the API or after the retention).

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};

use super::changes::bump_change;
use super::parents::ensure_name_free;
use super::{MetaStore, Page, collect_strings};
use crate::error::{ApiError, ApiResult};
use crate::store::listing;
use crate::store::node::Node;
use crate::store::rows::load_node;
use crate::util::etag;

impl MetaStore {
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
        let oldest = match self.trash_ages.get(&account) {
            Ok(oldest) => oldest,
            Err(generation) => {
                let oldest: Option<i64> = self
                    .read()?
                    .prepare_cached(
                        "SELECT modified FROM nodes WHERE account = ? AND status = 'TRASH' \
                         AND NOT is_root ORDER BY modified LIMIT 1",
                    )?
                    .query_row([account], |r| r.get(0))
                    .optional()?;
                self.trash_ages.fill(generation, account, oldest);
                oldest
            }
        };
        if oldest.is_none_or(|oldest| oldest >= before) {
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
