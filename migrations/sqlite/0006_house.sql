-- The house made ready (issue 11). Kept in step with migrations/postgres.

-- The ERP's record version when it is not a whole number (1C's base64 `DataVersion`):
-- opaque, compared only for equality. `data_version` keeps ordered (whole-number) ones.
ALTER TABLE vehicles ADD COLUMN data_version_text TEXT;

-- A customer's file still downloading is shown in the topic at once as a line; this is
-- that line's Telegram message id (the message stays pending until the file is kept, but no
-- longer holds back what comes after it).
ALTER TABLE messages ADD COLUMN staff_placeholder BIGINT;

-- Telegram updates that could not be stored after several tries, kept aside with their
-- raw JSON so the poller moves on; `forecourt jobs` lists them and an admin replays them.
CREATE TABLE failed_updates (
    id          INTEGER PRIMARY KEY,
    source      TEXT NOT NULL,
    update_id   BIGINT NOT NULL,
    raw         TEXT NOT NULL,
    error       TEXT NOT NULL,
    attempts    BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    replayed_at BIGINT,
    UNIQUE (source, update_id)
);
