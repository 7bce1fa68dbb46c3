//! The changes feed: its pages and the account's change sequence.

use rusqlite::{Connection, params};

use super::MetaStore;
use crate::error::ApiResult;
use crate::store::rows::{NODE_COLUMNS, node_from_row};

impl MetaStore {
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

    /// The account's latest change number.
    pub fn change_seq(&self, account: i64) -> ApiResult<i64> {
        let conn = self.read()?;
        Ok(conn.query_row(
            "SELECT change_seq FROM accounts WHERE id = ?",
            [account],
            |r| r.get(0),
        )?)
    }
}

pub(super) fn bump_change(tx: &Connection, account: i64) -> ApiResult<i64> {
    Ok(tx.query_row(
        "UPDATE accounts SET change_seq = change_seq + 1 WHERE id = ? RETURNING change_seq",
        [account],
        |r| r.get(0),
    )?)
}
