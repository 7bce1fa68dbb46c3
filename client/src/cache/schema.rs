//! The cache file's layout. Bump [`SCHEMA_VERSION`] on any change: a file of another version
//! is rebuilt, never migrated (it is only a cache; the changes feed refills it).

/// The layout version stored in `meta.schema_version`.
pub const SCHEMA_VERSION: &str = "1";

/// Tables and indexes of a fresh cache.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Every node the changes feed delivered, as the service sent it.
CREATE TABLE IF NOT EXISTS nodes (
    id         TEXT PRIMARY KEY,
    name_lower TEXT,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL,
    version    INTEGER,
    json       TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS parents (
    parent TEXT NOT NULL,
    child  TEXT NOT NULL,
    PRIMARY KEY (parent, child)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS parents_by_child ON parents (child);

-- The nodes this client's own writes returned (read-your-writes across processes).
CREATE TABLE IF NOT EXISTS own_writes (
    id      TEXT PRIMARY KEY,
    at_ms   INTEGER NOT NULL,
    version INTEGER,
    json    TEXT NOT NULL
);
-- The folders each written node is in or was taken out of.
CREATE TABLE IF NOT EXISTS own_write_folders (
    folder TEXT NOT NULL,
    id     TEXT NOT NULL,
    PRIMARY KEY (folder, id)
) WITHOUT ROWID;
";
