-- Assignment, response times, shifts and tasks (issue 13). Kept in step with migrations/postgres.

-- Who may get leads, and when: personal hours (`Mon-Fri 09:00-18:00`), a cap on open leads,
-- skills (`viber,buy,uk`), leave until a time, and the day's /shift on or off (`shift_day`
-- is the local date it was said for; another day it no longer counts).
ALTER TABLE users ADD COLUMN hours TEXT;
ALTER TABLE users ADD COLUMN max_open BIGINT;
ALTER TABLE users ADD COLUMN skills TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN leave_until BIGINT;
ALTER TABLE users ADD COLUMN shift_on BIGINT CHECK (shift_on IN (0, 1));
ALTER TABLE users ADD COLUMN shift_day TEXT;
ALTER TABLE users ADD COLUMN last_assigned_at BIGINT;

-- `assigned_at`: when assignment gave the lead its owner; `assign_noticed_at`: the owner was
-- told (a mention in the topic, a private message).
-- The first response: when the lead's clock started (first customer message or the bot's
-- hand-over), when staff first answered, and how long that took in business seconds.
-- `waiting_since`: the oldest customer message waiting for staff now. `silence_due_at`: when
-- the silence timer looks at an assigned lead nobody answered (cleared once answered or
-- moved); `reply_alerted_at` / `reply_escalated_at`: a waiting message's owner, then a
-- supervisor, were alerted.
ALTER TABLE leads ADD COLUMN assigned_at BIGINT;
ALTER TABLE leads ADD COLUMN assign_noticed_at BIGINT;
ALTER TABLE leads ADD COLUMN response_from BIGINT;
ALTER TABLE leads ADD COLUMN first_response_at BIGINT;
ALTER TABLE leads ADD COLUMN first_response_secs BIGINT;
ALTER TABLE leads ADD COLUMN waiting_since BIGINT;
ALTER TABLE leads ADD COLUMN silence_due_at BIGINT;
ALTER TABLE leads ADD COLUMN silence_moved BIGINT NOT NULL DEFAULT 0 CHECK (silence_moved IN (0, 1));
ALTER TABLE leads ADD COLUMN reply_alerted_at BIGINT;
ALTER TABLE leads ADD COLUMN reply_escalated_at BIGINT;
-- When the lead entered its stage (NULL: at creation), and the stage entry a stale-lead
-- follow-up task was made for.
ALTER TABLE leads ADD COLUMN stage_since BIGINT;
ALTER TABLE leads ADD COLUMN followed_up_for BIGINT;
CREATE INDEX leads_silence ON leads (silence_due_at);
CREATE INDEX leads_waiting ON leads (waiting_since);

-- Every staff answer to a waiting customer: how long they waited, in business seconds.
-- `first` marks the lead's first response.
CREATE TABLE reply_times (
    id            BIGSERIAL PRIMARY KEY,
    lead_id       BIGINT NOT NULL REFERENCES leads (id),
    user_id       BIGINT REFERENCES users (id),
    asked_at      BIGINT NOT NULL,
    replied_at    BIGINT NOT NULL,
    business_secs BIGINT NOT NULL,
    first         BIGINT NOT NULL DEFAULT 0 CHECK (first IN (0, 1)),
    how           TEXT NOT NULL CHECK (how IN ('reply', 'call'))
);
CREATE INDEX reply_times_lead ON reply_times (lead_id);
CREATE INDEX reply_times_user ON reply_times (user_id, replied_at);

-- Tasks gain the stale-lead follow-up kind and who wrote them.
ALTER TABLE tasks DROP CONSTRAINT tasks_kind_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_kind_check CHECK (kind IN ('callback', 'manual', 'follow_up'));
ALTER TABLE tasks ADD COLUMN created_by BIGINT REFERENCES users (id);
