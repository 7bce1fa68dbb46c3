//! A file's content: overwrites, and phantom uploads turning `AVAILABLE`.

use rusqlite::params;

use super::accounts::used_bytes;
use super::changes::bump_change;
use super::{MetaStore, to_i64};
use crate::error::{ApiError, ApiResult};
use crate::store::node::{Content, Node, PENDING};
use crate::store::rows::load_node;
use crate::util::etag;

impl MetaStore {
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
}
