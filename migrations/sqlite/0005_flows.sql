-- Conversation flows (issue 5). Kept in step with migrations/postgres.

-- What the bot learned, shown on the card; the lead's automation switch; when a staff
-- member last wrote to the customer (NULL: nobody yet).
ALTER TABLE leads ADD COLUMN vehicle_interest TEXT;
ALTER TABLE leads ADD COLUMN budget TEXT;
ALTER TABLE leads ADD COLUMN automation BIGINT NOT NULL DEFAULT 1 CHECK (automation IN (0, 1));
ALTER TABLE leads ADD COLUMN last_staff_at BIGINT;
-- Leads from before: when their staff last wrote, so follow-ups count from the right day.
UPDATE leads SET last_staff_at = (SELECT MAX(m.created_at) FROM messages m
    WHERE m.lead_id = leads.id AND m.direction = 'outgoing' AND m.user_id IS NOT NULL);

-- Each lead's conversation with the bot: the flow set version and step it waits at (none:
-- not waiting), the newest customer message the engine has looked at, and when each flow
-- last started (JSON: flow name → unix ms).
CREATE TABLE lead_flows (
    lead_id         BIGINT PRIMARY KEY REFERENCES leads (id),
    version_id      BIGINT,
    flow            TEXT,
    step            TEXT,
    misses          BIGINT NOT NULL DEFAULT 0,
    last_message_id BIGINT NOT NULL DEFAULT 0,
    starts          TEXT NOT NULL DEFAULT '{}',
    updated_at      BIGINT NOT NULL
);

-- Every flow set ever activated (files as JSON: logical path → content). The newest is
-- the active one; a rollback activates a copy of an older one.
CREATE TABLE flow_versions (
    id         INTEGER PRIMARY KEY,
    hash       TEXT NOT NULL,
    source     TEXT NOT NULL,
    author     TEXT,
    files      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A flow file an admin sent to the bot, checked and waiting for its Activate button.
CREATE TABLE flow_uploads (
    id           INTEGER PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id),
    file_name    TEXT NOT NULL,
    files        TEXT NOT NULL,
    activated    BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX leads_timers ON leads (is_open, stage, automation);
