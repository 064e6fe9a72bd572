-- AI that advises (issue 15). Every answer is kept by its input's fingerprint (the cache:
-- the same input is never sent twice), every attempt is logged without its text, the
-- requests of each local day are counted (the budget), and what AI advises is kept apart
-- from the lead it advises on: nothing here is a lead's state. Kept in step with the
-- other engine's migration.

-- A kept answer, already checked: the same fingerprint is answered from here.
CREATE TABLE ai_results (
    fingerprint TEXT PRIMARY KEY,
    feature     TEXT NOT NULL,
    answer      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Every try, good or bad (a refused or malformed answer is a failed attempt, never shown).
CREATE TABLE ai_attempts (
    id          INTEGER PRIMARY KEY,
    feature     TEXT NOT NULL,
    lead_id     BIGINT,
    call_id     BIGINT,
    fingerprint TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('ok', 'cached', 'refused', 'malformed', 'failed', 'budget', 'too_large')),
    error       TEXT,
    ms          BIGINT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX ai_attempts_at ON ai_attempts (at);
CREATE INDEX ai_attempts_lead ON ai_attempts (lead_id, at);

-- Requests sent per local day (`YYYY-MM-DD`), against FORECOURT_AI_DAILY_REQUESTS.
CREATE TABLE ai_usage (
    day      TEXT PRIMARY KEY,
    requests BIGINT NOT NULL
);

-- A lead's hot score and its three reasons (JSON), from the answer with this fingerprint.
CREATE TABLE lead_scores (
    lead_id     BIGINT PRIMARY KEY REFERENCES leads (id),
    score       INTEGER NOT NULL CHECK (score BETWEEN 0 AND 100),
    reasons     TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    scored_at   BIGINT NOT NULL
);
CREATE INDEX lead_scores_score ON lead_scores (score);

-- An answered call's transcript, from the recording with this fingerprint; the message
-- that shows it under the call, once posted.
CREATE TABLE call_transcripts (
    call_id         BIGINT PRIMARY KEY REFERENCES calls (id),
    text            TEXT NOT NULL,
    language        TEXT,
    fingerprint     TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    posted_message  BIGINT
);

-- The AI's evaluation of a call against the script: advice, kept apart from human reviews
-- (only a human review is a call's score). `needs_person`: unsure verdicts, a low score or a
-- critical miss, which put the call first in /reviews.
CREATE TABLE ai_evaluations (
    call_id        BIGINT PRIMARY KEY REFERENCES calls (id),
    script_version BIGINT NOT NULL,
    score          INTEGER NOT NULL CHECK (score BETWEEN 0 AND 100),
    needs_person   INTEGER NOT NULL CHECK (needs_person IN (0, 1)),
    body           TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

-- A reply draft a manager asked for (✍️ Draft): shown in the topic only to staff, sent to
-- the customer only when a person presses 📤 Send, or discarded.
CREATE TABLE ai_drafts (
    id           INTEGER PRIMARY KEY,
    lead_id      BIGINT NOT NULL REFERENCES leads (id),
    asked_by     BIGINT NOT NULL REFERENCES users (id),
    state        TEXT NOT NULL CHECK (state IN ('asked', 'ready', 'sent', 'discarded', 'failed')),
    text         TEXT,
    error        TEXT,
    chat_id      BIGINT,
    message_id   BIGINT,
    decided_by   BIGINT REFERENCES users (id),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX ai_drafts_lead ON ai_drafts (lead_id, id);

-- What AI suggests a lead's intent and language are, for a person to apply (✅ Set intent).
CREATE TABLE lead_suggestions (
    lead_id     BIGINT PRIMARY KEY REFERENCES leads (id),
    intent      TEXT NOT NULL,
    language    TEXT,
    fingerprint TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- How far each lead's customer messages have been handed to AI (the sweep's mark): a lead
-- whose newest customer message is later than its mark, and quiet long enough, is scored.
CREATE TABLE ai_marks (
    lead_id BIGINT PRIMARY KEY REFERENCES leads (id),
    upto    BIGINT NOT NULL
);
CREATE INDEX leads_last_message_at ON leads (last_message_at);
