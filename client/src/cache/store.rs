//! Nodes, their parents and the checkpoint, as the changes feed left them; and the
//! own-writes journal's rows.

use rusqlite::{OptionalExtension as _, Transaction, TransactionBehavior, params};

use super::{Cache, now_ms, sql_error};
use crate::api::model::{ChangeSet, Node};
use crate::error::Result;

/// The status the feed gives a node that is gone for good.
pub const PURGED: &str = "PURGED";

fn parse_node(json: &str) -> rusqlite::Result<Node> {
    serde_json::from_str(json).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn version(node: &Node) -> Option<i64> {
    node.version.and_then(|v| i64::try_from(v).ok())
}

fn put_node(tx: &Transaction<'_>, node: &Node) -> rusqlite::Result<()> {
    let json = serde_json::to_string(node)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    tx.execute(
        "INSERT INTO nodes (id, name_lower, kind, status, version, json) VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT (id) DO UPDATE SET name_lower = excluded.name_lower, kind = excluded.kind, \
         status = excluded.status, version = excluded.version, json = excluded.json",
        params![
            node.id,
            node.name.as_ref().map(|n| n.to_lowercase()),
            node.kind,
            node.status,
            version(node),
            json
        ],
    )?;
    tx.execute("DELETE FROM parents WHERE child = ?", [&node.id])?;
    for parent in &node.parents {
        tx.execute(
            "INSERT OR IGNORE INTO parents (parent, child) VALUES (?, ?)",
            [parent, &node.id],
        )?;
    }
    Ok(())
}

fn drop_node(tx: &Transaction<'_>, id: &str) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM nodes WHERE id = ?", [id])?;
    tx.execute("DELETE FROM parents WHERE child = ?", [id])?;
    Ok(())
}

impl Cache {
    /// The last applied checkpoint.
    pub fn checkpoint(&self) -> Result<Option<String>> {
        self.meta("checkpoint")
    }

    /// Apply one change set in one transaction: a reset (or `fresh`, a feed read without a
    /// checkpoint) first drops everything; `PURGED` nodes are removed, others stored; the
    /// checkpoint is stored with them. Returns the number of nodes applied.
    pub fn apply(&self, set: &ChangeSet, fresh: bool) -> Result<usize> {
        let mut conn = self.conn();
        let context = "apply a change set to the metadata cache";
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_error(context, e))?;
        let run = (|| -> rusqlite::Result<()> {
            if set.reset || fresh {
                tx.execute("DELETE FROM nodes", [])?;
                tx.execute("DELETE FROM parents", [])?;
            }
            for node in &set.nodes {
                if node.status == PURGED {
                    drop_node(&tx, &node.id)?;
                } else {
                    put_node(&tx, node)?;
                }
            }
            if let Some(checkpoint) = &set.checkpoint {
                tx.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('checkpoint', ?)",
                    [checkpoint],
                )?;
            }
            Ok(())
        })();
        run.map_err(|e| sql_error(context, e))?;
        tx.commit().map_err(|e| sql_error(context, e))?;
        Ok(set.nodes.len())
    }

    /// Note that a sync reached the feed's end.
    pub fn mark_synced(&self) -> Result<()> {
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_sync_ms', ?)",
                [now_ms().to_string()],
            )
            .map_err(|e| sql_error("write the metadata cache", e))?;
        Ok(())
    }

    /// The live children of a folder, as the feed left them.
    pub fn children(&self, folder: &str) -> Result<Vec<Node>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT n.json FROM parents p JOIN nodes n ON n.id = p.child \
                 WHERE p.parent = ? AND n.status = 'AVAILABLE'",
            )
            .map_err(|e| sql_error("read the metadata cache", e))?;
        let rows = stmt
            .query_map([folder], |r| parse_node(&r.get::<_, String>(0)?))
            .map_err(|e| sql_error("read the metadata cache", e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| sql_error("read the metadata cache", e))
    }

    /// The live child of `folder` whose lowercased name is `lower`.
    pub fn child_named(&self, folder: &str, lower: &str) -> Result<Option<Node>> {
        self.conn()
            .query_row(
                "SELECT n.json FROM parents p JOIN nodes n ON n.id = p.child \
                 WHERE p.parent = ? AND n.name_lower = ? AND n.status = 'AVAILABLE' LIMIT 1",
                [folder, lower],
                |r| parse_node(&r.get::<_, String>(0)?),
            )
            .optional()
            .map_err(|e| sql_error("read the metadata cache", e))
    }

    /// A node by id (any status).
    pub fn node(&self, id: &str) -> Result<Option<Node>> {
        self.conn()
            .query_row("SELECT json FROM nodes WHERE id = ?", [id], |r| {
                parse_node(&r.get::<_, String>(0)?)
            })
            .optional()
            .map_err(|e| sql_error("read the metadata cache", e))
    }

    /// Every node id held (for tests and checks; the whole account).
    pub fn ids(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id FROM nodes ORDER BY id")
            .map_err(|e| sql_error("read the metadata cache", e))?;
        let rows = stmt
            .query_map([], |r| r.get(0))
            .map_err(|e| sql_error("read the metadata cache", e))?;
        rows.collect::<rusqlite::Result<Vec<String>>>()
            .map_err(|e| sql_error("read the metadata cache", e))
    }

    /// Journal a node one of this client's writes returned, with the folders it is in or was
    /// taken out of. A newer version already journaled is kept.
    pub fn record_write(&self, node: &Node, folders: &[String], at_ms: i64) -> Result<()> {
        let mut conn = self.conn();
        let context = "journal a write in the metadata cache";
        let tx = conn.transaction().map_err(|e| sql_error(context, e))?;
        let run = (|| -> rusqlite::Result<()> {
            let json = serde_json::to_string(node)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            tx.execute(
                "INSERT INTO own_writes (id, at_ms, version, json) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (id) DO UPDATE SET at_ms = excluded.at_ms, version = excluded.version, \
                 json = excluded.json \
                 WHERE own_writes.version IS NULL OR excluded.version IS NULL \
                 OR excluded.version >= own_writes.version",
                params![node.id, at_ms, version(node), json],
            )?;
            for folder in folders {
                tx.execute(
                    "INSERT OR IGNORE INTO own_write_folders (folder, id) VALUES (?, ?)",
                    [folder, &node.id],
                )?;
            }
            Ok(())
        })();
        run.map_err(|e| sql_error(context, e))?;
        tx.commit().map_err(|e| sql_error(context, e))
    }

    /// The journaled nodes written since `since_ms` that are or were in `folder`.
    pub fn recent_writes(&self, folder: &str, since_ms: i64) -> Result<Vec<Node>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT w.json FROM own_write_folders f JOIN own_writes w ON w.id = f.id \
                 WHERE f.folder = ? AND w.at_ms >= ?",
            )
            .map_err(|e| sql_error("read the metadata cache", e))?;
        let rows = stmt
            .query_map(params![folder, since_ms], |r| {
                parse_node(&r.get::<_, String>(0)?)
            })
            .map_err(|e| sql_error("read the metadata cache", e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| sql_error("read the metadata cache", e))
    }

    /// Forget journaled writes older than `before_ms`.
    pub fn prune_writes(&self, before_ms: i64) -> Result<()> {
        let conn = self.conn();
        let run = conn.execute_batch(&format!(
            "DELETE FROM own_write_folders WHERE id IN (SELECT id FROM own_writes WHERE at_ms < {before_ms}); \
             DELETE FROM own_writes WHERE at_ms < {before_ms};"
        ));
        run.map_err(|e| sql_error("prune the metadata cache's journal", e))
    }
}
