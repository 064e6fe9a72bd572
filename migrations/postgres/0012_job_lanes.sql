-- The job lanes in the index (issue 15). The AI lane's jobs are those whose kind starts with
-- `ai_` (JobKind::is_ai, checked by a unit test). Each lane claims its own due jobs through
-- its own part of this index: the bridge's claims no longer walk past AI's pending jobs
-- (up to one score and one intent per lead after a burst). Kept in step with the other
-- engine's migration, plus one index SQLite does not need (below).
ALTER TABLE jobs ADD COLUMN lane TEXT GENERATED ALWAYS AS (CASE WHEN substr(kind, 1, 3) = 'ai_' THEN 'ai' ELSE 'main' END) STORED;
CREATE INDEX jobs_lane_due ON jobs (lane, status, run_at, id);

-- A claim takes a job only when no earlier job of its queue is still open. Under the job
-- table's churn (rows inserted, claimed and deleted hundreds of times a second, faster than
-- autovacuum analyses) the planner answered that with bitmap scans of `jobs_due` over tens
-- of thousands of dead entries, up to 27 ms a claim; this small index of the open jobs by
-- queue answers it in microseconds whatever the statistics say. (SQLite's planner already
-- takes `jobs_queue` here.)
CREATE INDEX jobs_queue_open ON jobs (queue_key, id) WHERE status IN ('pending', 'running');
