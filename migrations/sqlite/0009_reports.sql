-- Reports (issue 14): password-less logins to the reporting page, and the indexes its
-- figures read by. Kept in step with the other engine's migration.

-- A one-time login link (`/report`): only the SHA-256 of its token is kept. Valid ten
-- minutes, used once.
CREATE TABLE web_logins (
    token_hash TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX web_logins_user ON web_logins (user_id, created_at);

-- A session the link opened: the cookie's SHA-256, twelve hours, ended by /logout.
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at   BIGINT
);

-- The dashboard's period scans: new leads by creation time, stage changes (sold, the
-- funnel) by time, calls by start, replies by time.
CREATE INDEX leads_created ON leads (created_at);
CREATE INDEX leads_owner_created ON leads (owner_id, created_at);
CREATE INDEX lead_history_field_at ON lead_history (field, at);
CREATE INDEX calls_started ON calls (started_at);
CREATE INDEX reply_times_replied ON reply_times (replied_at);
CREATE INDEX leads_customer ON leads (customer_id, id);
-- Stuck leads: open, by stage, by how long in it.
CREATE INDEX leads_stuck ON leads (is_open, stage, stage_since);
