-- Digests (issue 14): one row per digest due, so each goes out once per period whatever
-- restarts, however many instances. Kept in step with the other engine's migration.
CREATE TABLE digests (
    period_key TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('daily', 'weekly')),
    due_at     BIGINT NOT NULL,
    recipients BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
