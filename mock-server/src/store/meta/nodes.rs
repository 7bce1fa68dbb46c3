//! Node reads (by id, searches, content by md5) and metadata patches.

use rusqlite::{OptionalExtension, params};

use super::parents::{check_not_inside, check_parent, ensure_name_free, set_parents};
use super::{MetaStore, Page, Patch};
use crate::error::{ApiError, ApiResult};
use crate::store::filter::Filter;
use crate::store::listing::{self, Search};
use crate::store::node::{AVAILABLE, Node};
use crate::store::rows::load_node;

impl MetaStore {
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
}
