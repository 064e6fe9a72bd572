-- Forecourt core schema (SQLite). Portable types only: times are unix milliseconds,
-- flags 0/1, money in minor units, JSON as TEXT. Kept in step with migrations/postgres.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    telegram_id   BIGINT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('manager', 'supervisor', 'admin', 'analyst')),
    staff_chat_id BIGINT,
    active        BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE customers (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,
    language       TEXT,
    do_not_contact BIGINT NOT NULL DEFAULT 0 CHECK (do_not_contact IN (0, 1)),
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE customer_identities (
    id              INTEGER PRIMARY KEY,
    customer_id     BIGINT NOT NULL REFERENCES customers (id),
    channel         TEXT NOT NULL CHECK (channel IN ('telegram', 'viber', 'whatsapp')),
    external_id     TEXT NOT NULL,
    display_name    TEXT,
    blocked         BIGINT NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)),
    last_inbound_at BIGINT,
    created_at      BIGINT NOT NULL,
    UNIQUE (channel, external_id)
);
CREATE INDEX customer_identities_customer ON customer_identities (customer_id);

CREATE TABLE vehicles (
    id          INTEGER PRIMARY KEY,
    vin         TEXT UNIQUE,
    make        TEXT NOT NULL,
    model       TEXT NOT NULL,
    year        BIGINT,
    price_minor BIGINT,
    currency    TEXT,
    mileage_km  BIGINT,
    color       TEXT,
    status      TEXT NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'reserved', 'sold', 'archived')),
    manager_id  BIGINT REFERENCES users (id),
    erp_id      TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE leads (
    id                    INTEGER PRIMARY KEY,
    customer_id           BIGINT NOT NULL REFERENCES customers (id),
    owner_id              BIGINT REFERENCES users (id),
    source_channel        TEXT NOT NULL CHECK (source_channel IN ('telegram', 'viber', 'whatsapp', 'call', 'email', 'web')),
    last_channel          TEXT NOT NULL CHECK (last_channel IN ('telegram', 'viber', 'whatsapp', 'call', 'email', 'web')),
    intent                TEXT CHECK (intent IN ('buy', 'sell', 'service_inquiry', 'other')),
    stage                 TEXT NOT NULL DEFAULT 'new'
                          CHECK (stage IN ('new', 'contacted', 'qualified', 'in_negotiation', 'prepayment', 'sold', 'lost')),
    is_open               BIGINT NOT NULL DEFAULT 1 CHECK (is_open IN (0, 1)),
    lost_reason           TEXT,
    priority              BIGINT,
    notes                 TEXT,
    staff_chat_id         BIGINT,
    topic_thread_id       BIGINT,
    topic_closed          BIGINT NOT NULL DEFAULT 0 CHECK (topic_closed IN (0, 1)),
    card_message_id       BIGINT,
    card_version          BIGINT NOT NULL DEFAULT 1,
    card_rendered_version BIGINT NOT NULL DEFAULT 0,
    card_menu             TEXT NOT NULL DEFAULT 'main',
    preview_version       BIGINT NOT NULL DEFAULT 0,
    preview_rendered      BIGINT NOT NULL DEFAULT 0,
    last_message_at       BIGINT,
    last_message_preview  TEXT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);
CREATE INDEX leads_customer_open ON leads (customer_id, is_open);
CREATE INDEX leads_topic ON leads (staff_chat_id, topic_thread_id);
CREATE INDEX leads_owner_open ON leads (owner_id, is_open);

CREATE TABLE lead_vehicles (
    lead_id    BIGINT NOT NULL REFERENCES leads (id),
    vehicle_id BIGINT NOT NULL REFERENCES vehicles (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (lead_id, vehicle_id)
);

CREATE TABLE media (
    id               INTEGER PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('photo', 'video', 'voice', 'audio', 'document', 'sticker', 'other')),
    file_path        TEXT,
    telegram_file_id TEXT,
    sha256           TEXT,
    size_bytes       BIGINT,
    original_name    TEXT,
    mime             TEXT,
    vehicle_id       BIGINT REFERENCES vehicles (id),
    lead_id          BIGINT REFERENCES leads (id),
    customer_id      BIGINT REFERENCES customers (id),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE messages (
    id                INTEGER PRIMARY KEY,
    lead_id           BIGINT NOT NULL REFERENCES leads (id),
    customer_id       BIGINT NOT NULL REFERENCES customers (id),
    user_id           BIGINT REFERENCES users (id),
    channel           TEXT NOT NULL CHECK (channel IN ('telegram', 'viber', 'whatsapp', 'email', 'staff')),
    direction         TEXT NOT NULL CHECK (direction IN ('incoming', 'outgoing', 'note', 'system')),
    kind              TEXT NOT NULL CHECK (kind IN ('text', 'photo', 'document', 'voice', 'video', 'audio', 'contact', 'location', 'sticker', 'other')),
    body              TEXT,
    media_id          BIGINT REFERENCES media (id),
    telegram_file_id  TEXT,
    media_group_id    TEXT,
    extra             TEXT,
    external_id       TEXT,
    sent_at           BIGINT NOT NULL,
    delivery          TEXT CHECK (delivery IN ('pending', 'sent', 'failed')),
    delivery_error    TEXT,
    delivered_id      TEXT,
    staff_state       TEXT NOT NULL CHECK (staff_state IN ('pending', 'posted', 'none')),
    staff_message_id  BIGINT,
    created_at        BIGINT NOT NULL
);
CREATE UNIQUE INDEX messages_inbound_dedupe ON messages (channel, external_id) WHERE direction = 'incoming';
CREATE INDEX messages_lead ON messages (lead_id, id);
CREATE INDEX messages_staff_pending ON messages (lead_id, staff_state);

CREATE TABLE call_records (
    id                INTEGER PRIMARY KEY,
    lead_id           BIGINT REFERENCES leads (id),
    customer_id       BIGINT REFERENCES customers (id),
    user_id           BIGINT REFERENCES users (id),
    direction         TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    caller_hash       TEXT NOT NULL,
    started_at        BIGINT NOT NULL,
    ended_at          BIGINT,
    duration_s        BIGINT,
    status            TEXT,
    recording_media_id BIGINT REFERENCES media (id),
    script_score      DOUBLE PRECISION,
    sentiment         DOUBLE PRECISION,
    created_at        BIGINT NOT NULL
);

CREATE TABLE tasks (
    id          INTEGER PRIMARY KEY,
    lead_id     BIGINT NOT NULL REFERENCES leads (id),
    user_id     BIGINT NOT NULL REFERENCES users (id),
    title       TEXT NOT NULL,
    description TEXT,
    due_at      BIGINT,
    completed   BIGINT NOT NULL DEFAULT 0 CHECK (completed IN (0, 1)),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE lead_history (
    id         INTEGER PRIMARY KEY,
    lead_id    BIGINT NOT NULL REFERENCES leads (id),
    actor_id   BIGINT REFERENCES users (id),
    field      TEXT NOT NULL CHECK (field IN ('stage', 'owner', 'vehicle', 'created')),
    from_value TEXT,
    to_value   TEXT,
    reason     TEXT,
    at         BIGINT NOT NULL
);
CREATE INDEX lead_history_lead ON lead_history (lead_id, id);

CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('topic_sync', 'deliver', 'staff_reply', 'answer_callback')),
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
CREATE UNIQUE INDEX jobs_dedupe ON jobs (dedupe_key) WHERE status = 'pending';
CREATE INDEX jobs_due ON jobs (status, run_at, id);
CREATE INDEX jobs_queue ON jobs (queue_key, id);

CREATE TABLE seen_updates (
    source    TEXT NOT NULL,
    update_id BIGINT NOT NULL,
    at        BIGINT NOT NULL,
    PRIMARY KEY (source, update_id)
);

CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
