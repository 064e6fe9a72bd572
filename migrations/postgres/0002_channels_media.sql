-- Viber, WhatsApp and the media store (issue 3). Kept in step with migrations/sqlite.

-- Job kinds are checked in code (store::JobKind), so adding one needs no migration.
ALTER TABLE jobs DROP CONSTRAINT IF EXISTS jobs_kind_check;

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
