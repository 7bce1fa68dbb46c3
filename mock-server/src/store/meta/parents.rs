//! Parent links: moves, added and removed parents, and the name and cycle checks they share.

use rusqlite::{Connection, OptionalExtension, params};

use super::{MetaStore, collect_strings};
use crate::error::{ApiError, ApiResult};
use crate::store::node::{FOLDER, Node, TRASH};

impl MetaStore {
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
}

fn parents_of(conn: &Connection, id: &str) -> ApiResult<Vec<String>> {
    collect_strings(
        conn,
        "SELECT parent FROM parents WHERE child = ? ORDER BY pos",
        [id],
    )
}

/// The parent must be a live folder of the account.
pub(super) fn check_parent(tx: &Connection, account: i64, parent: &str) -> ApiResult<()> {
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
pub(super) fn check_not_inside(tx: &Connection, id: &str, new_parent: &str) -> ApiResult<()> {
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
pub(super) fn conflict(
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
pub(super) fn ensure_name_free(
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

pub(super) fn set_parents(
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
pub(super) fn link(tx: &Connection, id: &str, parents: &[String]) -> ApiResult<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO parents (child, parent, pos, seq, kind, name, name_lower) \
         SELECT id, ?, ?, seq, kind, name, name_lower FROM nodes WHERE id = ?",
    )?;
    for (pos, parent) in parents.iter().enumerate() {
        stmt.execute(params![parent, pos as i64, id])?;
    }
    Ok(())
}
