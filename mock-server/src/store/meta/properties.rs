//! Application properties of nodes (reference §6.14).

use rusqlite::params;

use super::MetaStore;
use crate::error::{ApiError, ApiResult};

impl MetaStore {
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
}
