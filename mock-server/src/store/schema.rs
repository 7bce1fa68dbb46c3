//! Creating the metadata schema, and bringing a database written by an older acd-mock up to
//! it (a `--data-dir` outlives upgrades).
//!
//! Version 2 (`PRAGMA user_version`) copied each child's `seq`, `kind` and names into its
//! `parents` links and added the per-folder `child_counts`; both are filled here from the
//! nodes when an older database is opened.

use rusqlite::Connection;

/// The schema version this code writes.
const VERSION: i64 = 2;

/// Columns of `parents` added in version 2, with their declarations.
const PARENT_COLUMNS: [(&str, &str); 4] = [
    ("seq", "INTEGER NOT NULL DEFAULT 0"),
    ("kind", "TEXT NOT NULL DEFAULT ''"),
    ("name", "TEXT"),
    ("name_lower", "TEXT"),
];

/// Settings every connection to the metadata database gets (the writer and the readers).
///
/// - The query planner stability guarantee: SQLite otherwise looks at the values bound to
///   some parameters (`LIMIT ?`, `col = ?` beside an index) while planning, and then plans the
///   statement again each time those are bound anew, which cost about a tenth of a seed's time
///   and of every cached lookup. Plans here never depend on values (the store has no
///   statistics), so nothing is lost.
/// - Temporary files (statement journals of a multi-row write) in memory.
pub fn tune(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.pragma_update(None, "temp_store", "MEMORY")
}

/// Creates the tables, indexes and triggers that are missing, migrating an older database.
pub fn prepare(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(include_str!("schema.sql"))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version >= VERSION {
        return conn.execute_batch(include_str!("indexes.sql"));
    }
    let tx = conn.unchecked_transaction()?;
    let existing = columns(&tx, "parents")?;
    for (column, declaration) in PARENT_COLUMNS {
        if !existing.iter().any(|c| c == column) {
            tx.execute_batch(&format!(
                "ALTER TABLE parents ADD COLUMN {column} {declaration}"
            ))?;
        }
    }
    tx.execute_batch(
        "DELETE FROM parents WHERE child NOT IN (SELECT id FROM nodes);
         UPDATE parents SET (seq, kind, name, name_lower) =
             (SELECT n.seq, n.kind, n.name, n.name_lower FROM nodes n WHERE n.id = parents.child);",
    )?;
    tx.execute_batch(include_str!("indexes.sql"))?;
    tx.execute_batch(
        "DELETE FROM child_counts;
         INSERT INTO child_counts (parent, kind, status, total)
             SELECT p.parent, n.kind, n.status, COUNT(*) FROM parents p JOIN nodes n ON n.id = p.child
             GROUP BY p.parent, n.kind, n.status;",
    )?;
    tx.pragma_update(None, "user_version", VERSION)?;
    tx.commit()
}

fn columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = stmt.query_map([], |r| r.get::<_, String>(1))?;
    names.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database in the version-1 layout (no copied columns, no counts) is migrated: links get
    /// their child's seq, kind and names, and the counts match the links.
    #[test]
    fn version_one_databases_are_migrated() -> rusqlite::Result<()> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(
            "CREATE TABLE nodes (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
                 account INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT, name_lower TEXT,
                 status TEXT NOT NULL, is_root INTEGER NOT NULL DEFAULT 0, version INTEGER NOT NULL,
                 created INTEGER NOT NULL, modified INTEGER NOT NULL, created_by TEXT NOT NULL,
                 description TEXT, labels TEXT NOT NULL DEFAULT '[]', etag TEXT NOT NULL,
                 size INTEGER, md5 TEXT, content_type TEXT, extension TEXT, content_version INTEGER,
                 content_date INTEGER, blob TEXT, trashed_with TEXT, change_seq INTEGER NOT NULL,
                 visible_from INTEGER, trash_lag_until INTEGER);
             CREATE TABLE parents (child TEXT NOT NULL, parent TEXT NOT NULL, pos INTEGER NOT NULL,
                 PRIMARY KEY (child, parent)) WITHOUT ROWID;
             CREATE INDEX parents_by_parent ON parents (parent, child);
             INSERT INTO nodes (id, account, kind, name, name_lower, status, version, created,
                 modified, created_by, etag, change_seq)
             VALUES ('root', 1, 'FOLDER', NULL, NULL, 'AVAILABLE', 1, 0, 0, 'x', 'e', 0),
                    ('a', 1, 'FILE', 'A.txt', 'a.txt', 'AVAILABLE', 1, 0, 0, 'x', 'e', 1),
                    ('b', 1, 'FOLDER', 'B', 'b', 'TRASH', 1, 0, 0, 'x', 'e', 2);
             INSERT INTO parents VALUES ('a', 'root', 0), ('b', 'root', 0), ('gone', 'root', 0);",
        )?;
        prepare(&conn)?;
        let link: (i64, String, String, String) = conn.query_row(
            "SELECT seq, kind, name, name_lower FROM parents WHERE child = 'a'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        assert_eq!(link, (2, "FILE".into(), "A.txt".into(), "a.txt".into()));
        let mut counts = conn.prepare(
            "SELECT kind, status, total FROM child_counts WHERE parent = 'root' ORDER BY kind",
        )?;
        let counts: Vec<(String, String, i64)> = counts
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        assert_eq!(
            counts,
            vec![
                ("FILE".into(), "AVAILABLE".into(), 1),
                ("FOLDER".into(), "TRASH".into(), 1)
            ]
        );
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        assert_eq!(version, VERSION);
        // Opening again changes nothing.
        prepare(&conn)?;
        Ok(())
    }
}
