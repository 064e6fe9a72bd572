-- Viber, WhatsApp and the media store (issue 3). Kept in step with migrations/postgres.

-- Job kinds are checked in code (store::JobKind), so adding one needs no table rebuild.
CREATE TABLE jobs_new (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    queue_key    TEXT NOT NULL,
    dedupe_key   TEXT,
    status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'parked')),
    run_at       BIGINT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
INSERT INTO jobs_new SELECT id, kind, payload, queue_key, dedupe_key, status, run_at, attempts, locked_until,
    last_error, created_at, updated_at FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE UNIQUE INDEX jobs_dedupe ON jobs (dedupe_key) WHERE status = 'pending';
CREATE INDEX jobs_due ON jobs (status, run_at, id);
CREATE INDEX jobs_queue ON jobs (queue_key, id);

-- A kept file: 'ready' (on disk under the data directory), or 'failed' with the reason.
ALTER TABLE media ADD COLUMN status TEXT NOT NULL DEFAULT 'ready' CHECK (status IN ('ready', 'failed'));
ALTER TABLE media ADD COLUMN error TEXT;
CREATE INDEX media_sha ON media (sha256);

-- What the provider last reported about an outgoing message: sent, delivered, read, failed.
ALTER TABLE messages ADD COLUMN receipt TEXT CHECK (receipt IN ('sent', 'delivered', 'read', 'failed'));
ALTER TABLE messages ADD COLUMN receipt_at BIGINT;
CREATE INDEX messages_delivered ON messages (channel, delivered_id);

-- Every delivery receipt as it arrived, so one that comes before its message's send is
-- recorded is applied when it is.
CREATE TABLE delivery_receipts (
    channel     TEXT NOT NULL,
    external_id TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('sent', 'delivered', 'read', 'failed')),
    error       TEXT,
    at          BIGINT NOT NULL,
    PRIMARY KEY (channel, external_id, status)
);
