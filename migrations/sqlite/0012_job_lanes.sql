-- The job lanes in the index (issue 15). The AI lane's jobs are those whose kind starts with
-- `ai_` (JobKind::is_ai, checked by a unit test). Each lane claims its own due jobs through
-- its own part of this index: the bridge's claims no longer walk past AI's pending jobs
-- (up to one score and one intent per lead after a burst) while holding the write gate.
-- Kept in step with the other engine's migration.
ALTER TABLE jobs ADD COLUMN lane TEXT GENERATED ALWAYS AS (CASE WHEN substr(kind, 1, 3) = 'ai_' THEN 'ai' ELSE 'main' END) VIRTUAL;
CREATE INDEX jobs_lane_due ON jobs (lane, status, run_at, id);
