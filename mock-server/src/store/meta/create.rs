//! Node creation: one node (uploads, folders, phantoms) or a batch (the seed API).

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use rusqlite::{OptionalExtension, params};

use super::accounts::used_bytes;
use super::changes::bump_change;
use super::parents::{check_parent, conflict, ensure_name_free, link};
use super::{BatchNode, BatchOutcome, BatchParent, MetaStore, NewNode, to_i64};
use crate::error::{ApiError, ApiResult};
use crate::store::node::{FOLDER, Node};
use crate::store::rows::load_node;
use crate::util::{etag, node_id};

impl MetaStore {
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
        let mut made_under: HashMap<(usize, String), usize> = HashMap::new();
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
            let lower = node.name.to_lowercase();
            // A folder made earlier in this batch holds only this batch's nodes, all live: its
            // names are checked in memory instead of by a query per node.
            let existing = match &node.parent {
                BatchParent::Earlier(j) => match made_under.entry((*j, lower.clone())) {
                    Entry::Occupied(taken) => Some(ids[*taken.get()].clone()),
                    Entry::Vacant(free) => {
                        free.insert(i);
                        None
                    }
                },
                BatchParent::Id(_) => conflict(&tx, parent, &node.name, None)?,
            };
            if let Some(existing) = existing {
                error = Some(ApiError::NameExists {
                    name: node.name.clone(),
                    parent: parent.to_string(),
                    node_id: existing,
                });
                break;
            }
            let id = node_id();
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
}
