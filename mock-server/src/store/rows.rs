//! Reading nodes out of SQL rows: the column list every node query selects, with the node's
//! parents in the same row, so a node or a page of them is one query.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::ApiResult;
use crate::store::node::{Content, Node};

/// The columns of a node (table aliased `n`), its parents last, comma-separated in the order
/// they were added (node ids never contain a comma).
pub const NODE_COLUMNS: &str = "n.seq, n.id, n.account, n.kind, n.name, n.status, n.is_root, n.version, \
    n.created, n.modified, n.created_by, n.description, n.labels, n.etag, n.size, n.md5, \
    n.content_type, n.extension, n.content_version, n.content_date, n.blob, n.trashed_with, n.change_seq, \
    (SELECT group_concat(q.parent, ',' ORDER BY q.pos) FROM parents q WHERE q.child = n.id)";

/// A node from a row of [`NODE_COLUMNS`].
pub fn node_from_row(row: &Row<'_>) -> rusqlite::Result<Node> {
    let labels: String = row.get(12)?;
    let blob: Option<String> = row.get(20)?;
    let content = match blob {
        Some(blob) => Some(Content {
            size: u64::try_from(row.get::<_, i64>(14)?).unwrap_or(0),
            md5: row.get(15)?,
            content_type: row.get(16)?,
            extension: row.get(17)?,
            version: row.get(18)?,
            date: row.get(19)?,
            blob,
        }),
        None => None,
    };
    let parents: Option<String> = row.get(23)?;
    Ok(Node {
        seq: row.get(0)?,
        id: row.get(1)?,
        account: row.get(2)?,
        kind: row.get(3)?,
        name: row.get(4)?,
        status: row.get(5)?,
        is_root: row.get(6)?,
        version: row.get(7)?,
        created: row.get(8)?,
        modified: row.get(9)?,
        created_by: row.get(10)?,
        description: row.get(11)?,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        etag: row.get(13)?,
        content,
        parents: parents
            .map(|p| p.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
        trashed_with: row.get(21)?,
        change_seq: row.get(22)?,
    })
}

/// A node of the account, with its parents, in one query.
pub fn load_node(conn: &Connection, account: i64, id: &str) -> ApiResult<Option<Node>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {NODE_COLUMNS} FROM nodes n WHERE n.id = ? AND n.account = ?"
        ))?
        .query_row(params![id, account], node_from_row)
        .optional()?)
}
