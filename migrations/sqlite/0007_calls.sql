-- Calls (issue 12). Kept in step with migrations/postgres.

-- The core's call_records and tasks were never written; they are replaced by the shapes
-- the calls need.
DROP TABLE call_records;
DROP TABLE tasks;

-- One call, keyed on the provider's id: its "started" and "ended" events update this row.
-- No phone number: the customer's side is a keyed hash and its last two digits.
CREATE TABLE calls (
    id                   INTEGER PRIMARY KEY,
    provider             TEXT NOT NULL CHECK (provider IN ('ringostat', 'binotel')),
    external_id          TEXT NOT NULL,
    lead_id              BIGINT REFERENCES leads (id),
    customer_id          BIGINT REFERENCES customers (id),
    user_id              BIGINT REFERENCES users (id),
    direction            TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    caller_hash          TEXT,
    caller_tail          TEXT,
    disposition          TEXT NOT NULL CHECK (disposition IN ('calling', 'in_progress', 'answered', 'no_answer',
                             'busy', 'failed', 'voicemail', 'cancelled', 'other')),
    raw_disposition      TEXT,
    missed               BIGINT NOT NULL DEFAULT 0 CHECK (missed IN (0, 1)),
    started_at           BIGINT NOT NULL,
    duration_s           BIGINT,
    billsec              BIGINT,
    wait_s               BIGINT,
    recording_url        TEXT,
    recording_state      TEXT NOT NULL DEFAULT 'none'
                         CHECK (recording_state IN ('none', 'downloading', 'posted', 'unavailable')),
    recording_media_id   BIGINT REFERENCES media (id),
    recording_error      TEXT,
    employee_ext         TEXT,
    employee_name        TEXT,
    department           TEXT,
    pool_name            TEXT,
    utm_source           TEXT,
    utm_medium           TEXT,
    utm_campaign         TEXT,
    card_url             TEXT,
    -- The call's one message in its lead's topic, edited as the call goes on.
    staff_chat_id        BIGINT,
    staff_message_id     BIGINT,
    version              BIGINT NOT NULL DEFAULT 1,
    rendered_version     BIGINT NOT NULL DEFAULT 0,
    script_score         DOUBLE PRECISION,
    sentiment            DOUBLE PRECISION,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    UNIQUE (provider, external_id)
);
CREATE INDEX calls_lead ON calls (lead_id, started_at);
CREATE INDEX calls_caller ON calls (caller_hash, started_at);

-- The phone identities of customers: a keyed hash, never the number. A hash may belong to
-- several customers (a family's shared phone); a customer may have several.
CREATE TABLE customer_phones (
    phone_hash  TEXT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    tail        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (phone_hash, customer_id)
);
CREATE INDEX customer_phones_customer ON customer_phones (customer_id);

-- Work for a person: a callback after a missed call, or (issue 13) a task a manager writes.
-- No owner: unassigned, shown in /queue.
CREATE TABLE tasks (
    id               INTEGER PRIMARY KEY,
    lead_id          BIGINT NOT NULL REFERENCES leads (id),
    kind             TEXT NOT NULL CHECK (kind IN ('callback', 'manual')),
    user_id          BIGINT REFERENCES users (id),
    call_id          BIGINT REFERENCES calls (id),
    caller_hash      TEXT,
    title            TEXT NOT NULL,
    due_at           BIGINT,
    state            TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done', 'cancelled')),
    done_at          BIGINT,
    done_by          BIGINT REFERENCES users (id),
    done_how         TEXT,
    reminded_at      BIGINT,
    escalated_at     BIGINT,
    staff_chat_id    BIGINT,
    staff_message_id BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX tasks_open ON tasks (state, due_at);
CREATE INDEX tasks_lead ON tasks (lead_id, state);
CREATE INDEX tasks_caller ON tasks (caller_hash, state);
CREATE INDEX tasks_call ON tasks (call_id);

-- A staff member's extension in the PBX (`employee_number` in Ringostat).
ALTER TABLE users ADD COLUMN extension TEXT;
CREATE UNIQUE INDEX users_extension ON users (extension);

-- The call scripts reviews were made against, by version (the file's text as it was).
CREATE TABLE call_scripts (
    version    BIGINT PRIMARY KEY,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A supervisor's review of a call against the script: one row per review (a second review
-- is a new row). `verdicts` holds one code per criterion in review order (m met, x missed,
-- n not applicable) while it is walked.
CREATE TABLE call_reviews (
    id                 INTEGER PRIMARY KEY,
    call_id            BIGINT NOT NULL REFERENCES calls (id),
    reviewer_id        BIGINT NOT NULL REFERENCES users (id),
    script_version     BIGINT NOT NULL REFERENCES call_scripts (version),
    state              TEXT NOT NULL CHECK (state IN ('in_progress', 'awaiting_comment', 'done')),
    verdicts           TEXT NOT NULL DEFAULT '',
    comment            TEXT,
    score              BIGINT,
    critical_missed    TEXT,
    missed             TEXT,
    private_chat       BIGINT,
    private_message_id BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    finished_at        BIGINT
);
CREATE INDEX call_reviews_call ON call_reviews (call_id, state);
CREATE INDEX call_reviews_reviewer ON call_reviews (reviewer_id, state);
