-- acd-mock metadata store. One database holds every account.
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
CREATE INDEX IF NOT EXISTS nodes_by_name ON nodes (name, account);
CREATE INDEX IF NOT EXISTS nodes_by_name_lower ON nodes (name_lower, account);
CREATE INDEX IF NOT EXISTS nodes_by_md5 ON nodes (md5, account);
CREATE INDEX IF NOT EXISTS nodes_by_change ON nodes (account, change_seq);
CREATE INDEX IF NOT EXISTS nodes_by_status ON nodes (account, status);
CREATE INDEX IF NOT EXISTS nodes_roots ON nodes (account) WHERE is_root = 1;

CREATE TABLE IF NOT EXISTS parents (
    child   TEXT NOT NULL,
    parent  TEXT NOT NULL,
    pos     INTEGER NOT NULL,
    PRIMARY KEY (child, parent)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS parents_by_parent ON parents (parent, child);

-- Listing lag: a moved node keeps showing under its old parent until `until`.
CREATE TABLE IF NOT EXISTS ghost_parents (
    child   TEXT NOT NULL,
    parent  TEXT NOT NULL,
    until   INTEGER NOT NULL,
    PRIMARY KEY (child, parent)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ghost_parents_by_parent ON ghost_parents (parent, until);

-- Purged nodes (POST /_mock/purge): gone from `nodes`, kept here for the changes feed,
-- which shows them with status PURGED at their change number when includePurged is asked.
CREATE TABLE IF NOT EXISTS purged (
    id          TEXT PRIMARY KEY,
    account     INTEGER NOT NULL,
    change_seq  INTEGER NOT NULL,
    json        TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS purged_by_change ON purged (account, change_seq);

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
CREATE INDEX IF NOT EXISTS templinks_by_node ON templinks (node);

CREATE TABLE IF NOT EXISTS properties (
    node   TEXT NOT NULL,
    owner  TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (node, owner, key)
) WITHOUT ROWID;
