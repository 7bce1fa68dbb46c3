//! Pages of searches and folder listings, at a cost that does not grow with the folder.
//!
//! A query that names one folder (a `nodes/{id}/children` listing, or a search whose only
//! `AND` branch has a `parents:` term) is a *folder query*: it walks that folder's links in the
//! `parents` table, whose indexes keep each folder's children in creation order, by kind and by
//! name. A page is one index range from the cursor (keyset paging: a node created or deleted
//! meanwhile cannot shift the others), its nodes and their parents come in the same query, and
//! `count` comes from the folder's `child_counts` (kept by triggers) corrected by the few nodes
//! the listing lag still hides or shows. Nodes that left the folder less than the listing lag
//! ago (`ghost_parents`) are merged in from a second, small query.
//!
//! Everything else (account-wide searches, `id:`/`md5:` lookups, `OR` of several branches
//! without a folder) is compiled to a condition over all the account's nodes, paged in
//! creation order and counted with `COUNT(*)`.

use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

use crate::error::{ApiError, ApiResult};
use crate::store::filter::{Field, Filter, NameMatch, Term, to_sql, to_sql_per_candidate};
use crate::store::meta::Page;
use crate::store::node::{Node, TRASH};
use crate::store::rows::{NODE_COLUMNS, node_from_row};

/// What a search asks for.
#[derive(Debug, Clone, Copy)]
pub struct Search<'a> {
    /// The account searched.
    pub account: i64,
    /// The parsed `filters`.
    pub filter: &'a Filter,
    /// The folder of a `nodes/{id}/children` listing.
    pub parent: Option<&'a str>,
    /// How `name:` compares.
    pub names: NameMatch,
    /// The time the listing lag is judged at (epoch ms).
    pub now: i64,
}

/// How a folder query picks its index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    /// Every child, in creation order.
    All,
    /// Children of one kind.
    Kind(String),
    /// Children with one exact name.
    Name(String),
    /// Children with one lowercase name.
    NameLower(String),
}

/// A query over one folder's children.
#[derive(Debug, Clone)]
struct FolderQuery {
    parent: String,
    key: Key,
    /// Every test left besides the folder itself (`parents:` terms checked per node).
    rest: Filter,
    /// Whether `rest` only tests kind and status, so `child_counts` gives the count.
    counted: bool,
}

fn selective(conj: &[Term]) -> bool {
    conj.iter()
        .any(|t| matches!(t.field, Field::Id | Field::Md5))
}

fn key_of(conj: &[Term], names: NameMatch) -> Key {
    if let Some(name) = conj.iter().find(|t| t.field == Field::Name) {
        return match names {
            NameMatch::CaseSensitive => Key::Name(name.value.clone()),
            NameMatch::CaseInsensitive => Key::NameLower(name.value.to_lowercase()),
        };
    }
    match conj.iter().find(|t| t.field == Field::Kind) {
        Some(kind) => Key::Kind(kind.value.clone()),
        None => Key::All,
    }
}

fn only_kind_and_status(conj: &[Term]) -> bool {
    conj.iter()
        .all(|t| matches!(t.field, Field::Kind | Field::Status))
}

/// The folder query of a search, if it is one.
fn folder_query(search: &Search<'_>) -> Option<FolderQuery> {
    let branches = &search.filter.any_of;
    if branches.iter().any(|c| selective(c)) {
        return None;
    }
    match (search.parent, branches.as_slice()) {
        (Some(parent), []) => Some(FolderQuery {
            parent: parent.to_string(),
            key: Key::All,
            rest: Filter::default(),
            counted: true,
        }),
        (Some(parent), [conj]) => Some(FolderQuery {
            parent: parent.to_string(),
            key: key_of(conj, search.names),
            rest: search.filter.clone(),
            counted: only_kind_and_status(conj),
        }),
        // Several branches: walk the folder and test each child against all of them (a name
        // lookup in one branch would make the walk long; it goes the generic way).
        (Some(parent), _) if !search.filter.is_name_lookup() => Some(FolderQuery {
            parent: parent.to_string(),
            key: Key::All,
            rest: search.filter.clone(),
            counted: false,
        }),
        (None, [conj]) => {
            let at = conj.iter().position(|t| t.field == Field::Parents)?;
            let mut rest = conj.clone();
            let parent = rest.remove(at).value;
            Some(FolderQuery {
                parent,
                key: key_of(&rest, search.names),
                counted: only_kind_and_status(&rest),
                rest: Filter {
                    any_of: if rest.is_empty() {
                        Vec::new()
                    } else {
                        vec![rest]
                    },
                },
            })
        }
        _ => None,
    }
}

/// The conditions every listed node meets besides the filter: of the account, visible (the
/// listing lag hides new nodes for a while), and not trashed unless the filter tests
/// `status` (a node trashed less than the lag ago still shows).
fn common_conditions(search: &Search<'_>, sql: &mut String, params: &mut Vec<Value>) {
    sql.push_str(" AND n.account = ? AND (n.visible_from IS NULL OR n.visible_from <= ?)");
    params.push(Value::Integer(search.account));
    params.push(Value::Integer(search.now));
    if !search.filter.mentions_status() {
        sql.push_str(" AND (n.status <> 'TRASH' OR n.trash_lag_until > ?)");
        params.push(Value::Integer(search.now));
    }
}

fn bad_filter(e: crate::store::filter::FilterError) -> ApiError {
    ApiError::bad_request(e.to_string())
}

/// One page of a search: up to `limit` nodes after `after` (a `seq`), in creation order.
pub fn page(conn: &Connection, search: &Search<'_>, after: i64, limit: u32) -> ApiResult<Page> {
    match folder_query(search) {
        Some(folder) => folder_page(conn, search, &folder, after, limit),
        None => generic_page(conn, search, after, limit),
    }
}

// ---- folder queries --------------------------------------------------------------------------

/// `(SQL, params)` of the conditions on `n` in a folder query.
fn folder_conditions(search: &Search<'_>, folder: &FolderQuery) -> ApiResult<(String, Vec<Value>)> {
    let rest = to_sql_per_candidate(&folder.rest, search.names, search.now).map_err(bad_filter)?;
    let mut sql = String::new();
    let mut params = Vec::new();
    common_conditions(search, &mut sql, &mut params);
    sql.push_str(&format!(" AND ({})", rest.sql));
    params.extend(rest.params);
    Ok((sql, params))
}

/// The index condition on `p` of a folder query.
fn key_condition(key: &Key, params: &mut Vec<Value>) -> &'static str {
    match key {
        Key::All => "",
        Key::Kind(kind) => {
            params.push(Value::Text(kind.clone()));
            " AND p.kind = ?"
        }
        Key::Name(name) => {
            params.push(Value::Text(name.clone()));
            " AND p.name = ?"
        }
        Key::NameLower(name) => {
            params.push(Value::Text(name.clone()));
            " AND p.name_lower = ?"
        }
    }
}

fn folder_page(
    conn: &Connection,
    search: &Search<'_>,
    folder: &FolderQuery,
    after: i64,
    limit: u32,
) -> ApiResult<Page> {
    let (conditions, condition_params) = folder_conditions(search, folder)?;
    let want = i64::from(limit) + 1;

    // The folder's own children: one index range from the cursor.
    let mut params = vec![Value::Text(folder.parent.clone())];
    let key = key_condition(&folder.key, &mut params);
    params.push(Value::Integer(after));
    params.extend(condition_params.iter().cloned());
    params.push(Value::Integer(want));
    // A name picks its few nodes from the name index; without `INDEXED BY` SQLite prefers
    // walking the whole folder in `seq` order to sorting them.
    let index = match folder.key {
        Key::Name(_) => " INDEXED BY parents_by_name",
        Key::NameLower(_) => " INDEXED BY parents_by_name_lower",
        Key::All | Key::Kind(_) => "",
    };
    let mut nodes = conn
        .prepare_cached(&format!(
            "SELECT {NODE_COLUMNS} FROM parents p{index} CROSS JOIN nodes n ON n.seq = p.seq \
             WHERE p.parent = ?{key} AND p.seq > ?{conditions} ORDER BY p.seq LIMIT ?"
        ))?
        .query_map(params_from_iter(params.iter()), node_from_row)?
        .collect::<Result<Vec<Node>, _>>()?;

    // Nodes that left it less than the listing lag ago.
    let mut params = vec![
        Value::Text(folder.parent.clone()),
        Value::Integer(search.now),
        Value::Integer(after),
    ];
    params.extend(condition_params);
    params.push(Value::Integer(want));
    let ghosts = conn
        .prepare_cached(&format!(
            "SELECT {NODE_COLUMNS} FROM ghost_parents g CROSS JOIN nodes n ON n.id = g.child \
             WHERE g.parent = ?1 AND g.until > ? AND n.seq > ? \
             AND NOT EXISTS (SELECT 1 FROM parents c WHERE c.child = g.child AND c.parent = ?1)\
             {conditions} ORDER BY n.seq LIMIT ?"
        ))?
        .query_map(params_from_iter(params.iter()), node_from_row)?
        .collect::<Result<Vec<Node>, _>>()?;
    if !ghosts.is_empty() {
        nodes.extend(ghosts);
        nodes.sort_by_key(|n| n.seq);
        nodes.dedup_by_key(|n| n.seq);
    }

    let total = folder_count(conn, search, folder)?;
    Ok(finish(nodes, limit, total))
}

/// How many nodes a folder query matches over all pages.
fn folder_count(conn: &Connection, search: &Search<'_>, folder: &FolderQuery) -> ApiResult<u64> {
    let (conditions, condition_params) = folder_conditions(search, folder)?;
    let mut params = vec![
        Value::Text(folder.parent.clone()),
        Value::Integer(search.now),
    ];
    params.extend(condition_params.iter().cloned());
    let ghosts: i64 = conn
        .prepare_cached(&format!(
            "SELECT COUNT(*) FROM ghost_parents g CROSS JOIN nodes n ON n.id = g.child \
             WHERE g.parent = ?1 AND g.until > ? \
             AND NOT EXISTS (SELECT 1 FROM parents c WHERE c.child = g.child AND c.parent = ?1)\
             {conditions}"
        ))?
        .query_row(params_from_iter(params.iter()), |r| r.get(0))?;
    let children = if folder.counted {
        counted_children(conn, search, folder)?
    } else {
        let mut params = vec![Value::Text(folder.parent.clone())];
        let key = key_condition(&folder.key, &mut params);
        params.extend(condition_params);
        conn.prepare_cached(&format!(
            "SELECT COUNT(*) FROM parents p CROSS JOIN nodes n ON n.seq = p.seq \
             WHERE p.parent = ?{key}{conditions}"
        ))?
        .query_row(params_from_iter(params.iter()), |r| r.get::<_, i64>(0))?
    };
    Ok(u64::try_from(children + ghosts).unwrap_or(0))
}

/// The folder's matching children from `child_counts`: the children of the kinds and
/// statuses asked, less those the listing lag still hides, plus the trashed ones it still
/// shows. Those two sets are small and found through partial indexes.
fn counted_children(
    conn: &Connection,
    search: &Search<'_>,
    folder: &FolderQuery,
) -> ApiResult<i64> {
    if !owned(conn, search.account, &folder.parent)? {
        return Ok(0);
    }
    let terms: Vec<&Term> = folder.rest.terms().collect();
    let wanted = |field: Field, value: &str| {
        terms
            .iter()
            .filter(|t| t.field == field)
            .all(|t| t.value == value)
    };
    let status_tested = search.filter.mentions_status();
    let mut base = 0i64;
    let mut stmt =
        conn.prepare_cached("SELECT kind, status, total FROM child_counts WHERE parent = ?")?;
    let mut rows = stmt.query([&folder.parent])?;
    while let Some(row) = rows.next()? {
        let (kind, status, total): (String, String, i64) = (row.get(0)?, row.get(1)?, row.get(2)?);
        let status_ok = if status_tested {
            wanted(Field::Status, &status)
        } else {
            status != TRASH
        };
        if wanted(Field::Kind, &kind) && status_ok {
            base += total;
        }
    }
    let rest = to_sql_per_candidate(&folder.rest, search.names, search.now).map_err(bad_filter)?;
    let child_of = "EXISTS (SELECT 1 FROM parents p WHERE p.child = n.id AND p.parent = ?)";
    // Counted, but not visible yet.
    let mut params = vec![
        Value::Integer(search.now),
        Value::Text(folder.parent.clone()),
    ];
    params.extend(rest.params.iter().cloned());
    let not_trashed = if status_tested {
        ""
    } else {
        " AND n.status <> 'TRASH'"
    };
    let hidden: i64 = conn
        .prepare_cached(&format!(
            "SELECT COUNT(*) FROM nodes n WHERE n.visible_from > ? AND {child_of} AND ({}){not_trashed}",
            rest.sql
        ))?
        .query_row(params_from_iter(params.iter()), |r| r.get(0))?;
    // Trashed (so not counted), but still listed.
    let lagging: i64 = if status_tested {
        0
    } else {
        let mut params = vec![
            Value::Integer(search.now),
            Value::Integer(search.now),
            Value::Text(folder.parent.clone()),
        ];
        params.extend(rest.params);
        conn.prepare_cached(&format!(
            "SELECT COUNT(*) FROM nodes n WHERE n.trash_lag_until > ? AND n.status = 'TRASH' \
             AND (n.visible_from IS NULL OR n.visible_from <= ?) AND {child_of} AND ({})",
            rest.sql
        ))?
        .query_row(params_from_iter(params.iter()), |r| r.get(0))?
    };
    Ok(base - hidden + lagging)
}

/// Is `id` a node of the account? (A folder of another account lists nothing.)
fn owned(conn: &Connection, account: i64, id: &str) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM nodes WHERE id = ? AND account = ?)")?
        .query_row(rusqlite::params![id, account], |r| r.get(0))?)
}

// ---- everything else -------------------------------------------------------------------------

fn generic_page(conn: &Connection, search: &Search<'_>, after: i64, limit: u32) -> ApiResult<Page> {
    let cond = to_sql(search.filter, search.names, search.now).map_err(bad_filter)?;
    // `+` keeps SQLite from driving the query by the account or status columns, which
    // match most of the table: the filter's own terms are far more selective.
    // (With a `status:` term the (account, status) index is the right driver.)
    let mut sql = String::from(if search.filter.mentions_status() {
        "n.account = ?"
    } else {
        "+n.account = ?"
    });
    let mut params: Vec<Value> = vec![Value::Integer(search.account)];
    if let Some(parent) = search.parent {
        sql.push_str(
            " AND n.id IN (SELECT p.child FROM parents p WHERE p.parent = ? \
             UNION ALL SELECT g.child FROM ghost_parents g WHERE g.parent = ? AND g.until > ?)",
        );
        params.push(Value::Text(parent.to_string()));
        params.push(Value::Text(parent.to_string()));
        params.push(Value::Integer(search.now));
    }
    sql.push_str(" AND (n.visible_from IS NULL OR n.visible_from <= ?)");
    params.push(Value::Integer(search.now));
    if !search.filter.mentions_status() {
        // (Listing lag: a node trashed moments ago still shows.)
        sql.push_str(" AND (+n.status <> 'TRASH' OR n.trash_lag_until > ?)");
        params.push(Value::Integer(search.now));
    }
    sql.push_str(&format!(" AND ({})", cond.sql));
    params.extend(cond.params);
    condition_page(conn, &sql, params, after, limit)
}

/// One page of the nodes (aliased `n`) meeting `cond`, counted with `COUNT(*)`.
pub fn condition_page(
    conn: &Connection,
    cond: &str,
    params: Vec<Value>,
    after: i64,
    limit: u32,
) -> ApiResult<Page> {
    let total: i64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM nodes n WHERE {cond}"))?
        .query_row(params_from_iter(params.iter()), |r| r.get(0))?;
    let mut page_params = params;
    page_params.push(Value::Integer(after));
    page_params.push(Value::Integer(i64::from(limit) + 1));
    let nodes = conn
        .prepare_cached(&format!(
            "SELECT {NODE_COLUMNS} FROM nodes n WHERE {cond} AND n.seq > ? ORDER BY n.seq LIMIT ?"
        ))?
        .query_map(params_from_iter(page_params.iter()), node_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(finish(nodes, limit, u64::try_from(total).unwrap_or(0)))
}

/// A page from up to `limit + 1` nodes: the extra one says that more follow.
fn finish(mut nodes: Vec<Node>, limit: u32, total: u64) -> Page {
    let more = nodes.len() > limit as usize;
    nodes.truncate(limit as usize);
    Page {
        next_after: if more {
            nodes.last().map(|n| n.seq)
        } else {
            None
        },
        total,
        nodes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::filter::parse;

    fn plan(filter: &str, parent: Option<&str>) -> Option<(String, Key, bool)> {
        let filter = parse(filter).unwrap_or_default();
        let search = Search {
            account: 1,
            filter: &filter,
            parent,
            names: NameMatch::CaseSensitive,
            now: 0,
        };
        folder_query(&search).map(|f| (f.parent, f.key, f.counted))
    }

    #[test]
    fn folder_queries_are_recognised() {
        assert_eq!(plan("", Some("P")), Some(("P".into(), Key::All, true)));
        assert_eq!(plan("parents:P", None), Some(("P".into(), Key::All, true)));
        assert_eq!(
            plan("parents:P AND kind:FOLDER", None),
            Some(("P".into(), Key::Kind("FOLDER".into()), true))
        );
        assert_eq!(
            plan("kind:FILE AND parents:P AND name:a.txt", None),
            Some(("P".into(), Key::Name("a.txt".into()), false))
        );
        assert_eq!(
            plan("kind:FILE OR kind:FOLDER", Some("P")),
            Some(("P".into(), Key::All, false))
        );
        assert_eq!(
            plan("parents:P AND contentProperties.extension:jpg", None),
            Some(("P".into(), Key::All, false))
        );
        // Not folder queries: account-wide, id/md5 lookups, branches without one folder.
        assert_eq!(plan("kind:FOLDER", None), None);
        assert_eq!(plan("parents:P AND id:X", None), None);
        assert_eq!(plan("contentProperties.md5:abc", Some("P")), None);
        assert_eq!(plan("parents:P OR parents:Q", None), None);
        assert_eq!(plan("name:a OR kind:FILE", Some("P")), None);
    }
}
