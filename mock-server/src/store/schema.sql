-- acd-mock metadata store: the tables. One database holds every account. Indexes and
-- triggers are in `indexes.sql`, created after `schema.rs` has brought an older database
-- up to these columns.
CREATE TABLE IF NOT EXISTS accounts (
    id          INTEGER PRIMARY KEY,
    email       TEXT NOT NULL UNIQUE,
    password    TEXT NOT NULL,
    root_id     TEXT NOT NULL,
    quota       INTEGER NOT NULL,
    change_seq  INTEGER NOT NULL DEFAULT 0,
    epoch       TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS nodes (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    account         INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    name            TEXT,
    name_lower      TEXT,
    status          TEXT NOT NULL,
    is_root         INTEGER NOT NULL DEFAULT 0,
    version         INTEGER NOT NULL,
    created         INTEGER NOT NULL,
    modified        INTEGER NOT NULL,
    created_by      TEXT NOT NULL,
    description     TEXT,
    labels          TEXT NOT NULL DEFAULT '[]',
    etag            TEXT NOT NULL,
    size            INTEGER,
    md5             TEXT,
    content_type    TEXT,
    extension       TEXT,
    content_version INTEGER,
    content_date    INTEGER,
    blob            TEXT,
    trashed_with    TEXT,
    change_seq      INTEGER NOT NULL,
    visible_from    INTEGER,
    trash_lag_until INTEGER
);
-- One row per (child, parent) link. `seq`, `kind`, `name` and `name_lower` copy the child's
-- (kept equal on rename), so a folder's children are read in creation order from an index
-- (keyset paging at a constant cost per page) and a name is found under a parent without
-- looking at same-named nodes elsewhere. Columns added after the first release are added by
-- `schema.rs` to older databases.
CREATE TABLE IF NOT EXISTS parents (
    child       TEXT NOT NULL,
    parent      TEXT NOT NULL,
    pos         INTEGER NOT NULL,
    seq         INTEGER NOT NULL DEFAULT 0,
    kind        TEXT NOT NULL DEFAULT '',
    name        TEXT,
    name_lower  TEXT,
    PRIMARY KEY (child, parent)
) WITHOUT ROWID;

-- How many children each folder has, by kind and status, kept by the triggers in
-- `indexes.sql`: a listing's `count` without counting.
CREATE TABLE IF NOT EXISTS child_counts (
    parent  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    status  TEXT NOT NULL,
    total   INTEGER NOT NULL,
    PRIMARY KEY (parent, kind, status)
) WITHOUT ROWID;

-- Listing lag: a moved node keeps showing under its old parent until `until`.
CREATE TABLE IF NOT EXISTS ghost_parents (
    child   TEXT NOT NULL,
    parent  TEXT NOT NULL,
    until   INTEGER NOT NULL,
    PRIMARY KEY (child, parent)
) WITHOUT ROWID;

-- Purged nodes (POST /_mock/purge): gone from `nodes`, kept here for the changes feed,
-- which shows them with status PURGED at their change number when includePurged is asked.
CREATE TABLE IF NOT EXISTS purged (
    id          TEXT PRIMARY KEY,
    account     INTEGER NOT NULL,
    change_seq  INTEGER NOT NULL,
    json        TEXT NOT NULL
) WITHOUT ROWID;

-- The `localId` a client gave when it created a node (reference §6.5): one node per localId
-- and account, for as long as the node exists.
CREATE TABLE IF NOT EXISTS local_ids (
    account   INTEGER NOT NULL,
    local_id  TEXT NOT NULL,
    node      TEXT NOT NULL,
    PRIMARY KEY (account, local_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS tokens (
    token        TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    account      INTEGER NOT NULL,
    client_id    TEXT NOT NULL,
    expires      INTEGER,
    redirect_uri TEXT,
    scope        TEXT,
    used         INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS templinks (
    token    TEXT PRIMARY KEY,
    node     TEXT NOT NULL,
    created  INTEGER NOT NULL,
    expires  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS properties (
    node   TEXT NOT NULL,
    owner  TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (node, owner, key)
) WITHOUT ROWID;
