-- acd-mock metadata store: indexes and triggers (after `schema.sql` and the migrations).
CREATE INDEX IF NOT EXISTS nodes_by_name ON nodes (name, account);
CREATE INDEX IF NOT EXISTS nodes_by_name_lower ON nodes (name_lower, account);
CREATE INDEX IF NOT EXISTS nodes_by_md5 ON nodes (md5, account);
CREATE INDEX IF NOT EXISTS nodes_by_change ON nodes (account, change_seq);
CREATE INDEX IF NOT EXISTS nodes_by_status ON nodes (account, status);
-- Trash retention: the account's trashed nodes by trash time (their modifiedDate).
CREATE INDEX IF NOT EXISTS nodes_trash_age ON nodes (account, modified) WHERE status = 'TRASH';
CREATE INDEX IF NOT EXISTS nodes_roots ON nodes (account) WHERE is_root = 1;

-- Listing lag: the few nodes whose visibility or trash status still waits for a time.
CREATE INDEX IF NOT EXISTS nodes_hidden ON nodes (visible_from) WHERE visible_from IS NOT NULL;
CREATE INDEX IF NOT EXISTS nodes_trash_lag ON nodes (trash_lag_until) WHERE trash_lag_until IS NOT NULL;

-- A folder's children in creation order (all, or of one kind), and by name.
DROP INDEX IF EXISTS parents_by_parent;
CREATE INDEX IF NOT EXISTS parents_by_seq ON parents (parent, seq);
CREATE INDEX IF NOT EXISTS parents_by_kind ON parents (parent, kind, seq);
CREATE INDEX IF NOT EXISTS parents_by_name ON parents (parent, name);
CREATE INDEX IF NOT EXISTS parents_by_name_lower ON parents (parent, name_lower);

CREATE INDEX IF NOT EXISTS ghost_parents_by_parent ON ghost_parents (parent, until);
CREATE INDEX IF NOT EXISTS purged_by_change ON purged (account, change_seq);
CREATE INDEX IF NOT EXISTS templinks_by_node ON templinks (node);

-- child_counts follows every link added or removed and every status change. A link must be
-- removed before its child's node row (the count is found through the node's kind and status).
CREATE TRIGGER IF NOT EXISTS child_counts_link AFTER INSERT ON parents BEGIN
    INSERT INTO child_counts (parent, kind, status, total)
        SELECT NEW.parent, x.kind, x.status, 1 FROM nodes x WHERE x.id = NEW.child
        ON CONFLICT (parent, kind, status) DO UPDATE SET total = total + 1;
END;
CREATE TRIGGER IF NOT EXISTS child_counts_unlink AFTER DELETE ON parents BEGIN
    UPDATE child_counts SET total = total - 1
        WHERE parent = OLD.parent
        AND (kind, status) = (SELECT x.kind, x.status FROM nodes x WHERE x.id = OLD.child);
END;
CREATE TRIGGER IF NOT EXISTS child_counts_status AFTER UPDATE OF status ON nodes
    WHEN OLD.status <> NEW.status BEGIN
    UPDATE child_counts SET total = total - 1
        WHERE kind = OLD.kind AND status = OLD.status
        AND parent IN (SELECT p.parent FROM parents p WHERE p.child = OLD.id);
    INSERT INTO child_counts (parent, kind, status, total)
        SELECT p.parent, NEW.kind, NEW.status, 1 FROM parents p WHERE p.child = NEW.id
        ON CONFLICT (parent, kind, status) DO UPDATE SET total = total + 1;
END;

-- Purging a node drops its localId.
CREATE INDEX IF NOT EXISTS local_ids_by_node ON local_ids (node);
