//! The job queue (outbox): rows with a due time, a lease, attempts and the last error.
//! Jobs sharing a `queue_key` run strictly in id order, one at a time; a job with a
//! `dedupe_key` is not enqueued twice while one is pending. Claims are committed before
//! any network call; no row lock is held while a job runs.

use super::{col, Conn, Engine, Result, Store, StoreError};
use crate::domain::JobId;
use sqlx::any::AnyRow;

/// What kind of work a job is. Stored as text with a CHECK constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Bring a lead's staff topic up to date: topic, card, waiting messages.
    TopicSync,
    /// Send one outgoing message to a customer.
    Deliver,
    /// Post a command's answer in the staff group.
    StaffReply,
    /// Answer a button press.
    AnswerCallback,
    /// Download a message's file into the media store.
    MediaFetch,
    /// Announce a sold lead to the ERP.
    ErpPush,
    /// Keep a staff photo as one of a vehicle's photos.
    VehiclePhoto,
    /// Post kept photos into a staff chat.
    StaffPhotos,
    /// Run the flows on a lead's new customer messages.
    Flow,
    /// Look for leads whose follow-up timers are due (recurring).
    FlowTimers,
    /// Download and check a flow file an admin sent to the staff bot.
    FlowUpload,
    /// Process a Telegram update that was set aside, again (an admin asked).
    ReplayUpdate,
    /// Delete an orphan topic (created, but its lead has another).
    DeleteTopic,
    /// Answer a staff member's inline query (cars to attach).
    AnswerInline,
    /// Post or edit a call's message in its lead's topic.
    CallPost,
    /// Download a call's recording and post it under the call.
    CallRecording,
    /// Fill in, from the provider's call log, the calls whose webhooks never came (recurring).
    CallReconcile,
    /// Remind of overdue tasks, then tell a supervisor (recurring).
    TaskTimers,
    /// Show a call review's current step in the reviewer's private chat.
    ReviewPrompt,
    /// Post or edit a task's message in its lead's topic.
    TaskPost,
    /// Give a new lead its owner (or start its silence timer), then tell the owner.
    Assign,
    /// Place waiting leads and run the silence timer (recurring).
    AssignTimers,
    /// Mint a reporting-page login link and send it to its user privately.
    LoginLink,
    /// Look for a due digest and claim it once (recurring).
    DigestTimers,
    /// Send a digest's chart or text to one chat.
    DigestSend,
    /// Ask the model for a lead's hot score (runs in the AI lane).
    AiScore,
    /// Transcribe an answered call's recording (the AI lane).
    AiTranscribe,
    /// Check a transcript against the call script (the AI lane).
    AiCheck,
    /// Post a call's transcript under it in the topic.
    TranscriptPost,
    /// Ask the model for a reply draft (the AI lane).
    AiDraft,
    /// Post a draft in its topic, or show what became of it.
    DraftPost,
    /// Ask the model what an unqualified lead wants (the AI lane).
    AiIntent,
    /// Hand leads with new customer messages, quiet long enough, to AI (recurring, AI lane).
    AiSweep,
}

/// Which jobs a runner claims: AI's requests wait on a slow outside server, so they run in
/// a lane of their own and never hold a topic, a reply or any other job back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Everything but AI.
    Main,
    /// Only AI's jobs.
    Ai,
}

impl JobKind {
    pub const ALL: [JobKind; 33] = [
        JobKind::TopicSync,
        JobKind::Deliver,
        JobKind::StaffReply,
        JobKind::AnswerCallback,
        JobKind::MediaFetch,
        JobKind::ErpPush,
        JobKind::VehiclePhoto,
        JobKind::StaffPhotos,
        JobKind::Flow,
        JobKind::FlowTimers,
        JobKind::FlowUpload,
        JobKind::ReplayUpdate,
        JobKind::DeleteTopic,
        JobKind::AnswerInline,
        JobKind::CallPost,
        JobKind::CallRecording,
        JobKind::CallReconcile,
        JobKind::TaskTimers,
        JobKind::ReviewPrompt,
        JobKind::TaskPost,
        JobKind::Assign,
        JobKind::AssignTimers,
        JobKind::LoginLink,
        JobKind::DigestTimers,
        JobKind::DigestSend,
        JobKind::AiScore,
        JobKind::AiTranscribe,
        JobKind::AiCheck,
        JobKind::TranscriptPost,
        JobKind::AiDraft,
        JobKind::DraftPost,
        JobKind::AiIntent,
        JobKind::AiSweep,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::TopicSync => "topic_sync",
            JobKind::Deliver => "deliver",
            JobKind::StaffReply => "staff_reply",
            JobKind::AnswerCallback => "answer_callback",
            JobKind::MediaFetch => "media_fetch",
            JobKind::ErpPush => "erp_push",
            JobKind::VehiclePhoto => "vehicle_photo",
            JobKind::StaffPhotos => "staff_photos",
            JobKind::Flow => "flow",
            JobKind::FlowTimers => "flow_timers",
            JobKind::FlowUpload => "flow_upload",
            JobKind::ReplayUpdate => "replay_update",
            JobKind::DeleteTopic => "delete_topic",
            JobKind::AnswerInline => "answer_inline",
            JobKind::CallPost => "call_post",
            JobKind::CallRecording => "call_recording",
            JobKind::CallReconcile => "call_reconcile",
            JobKind::TaskTimers => "task_timers",
            JobKind::ReviewPrompt => "review_prompt",
            JobKind::TaskPost => "task_post",
            JobKind::Assign => "assign",
            JobKind::AssignTimers => "assign_timers",
            JobKind::LoginLink => "login_link",
            JobKind::DigestTimers => "digest_timers",
            JobKind::DigestSend => "digest_send",
            JobKind::AiScore => "ai_score",
            JobKind::AiTranscribe => "ai_transcribe",
            JobKind::AiCheck => "ai_check",
            JobKind::TranscriptPost => "transcript_post",
            JobKind::AiDraft => "ai_draft",
            JobKind::DraftPost => "draft_post",
            JobKind::AiIntent => "ai_intent",
            JobKind::AiSweep => "ai_sweep",
        }
    }

    pub fn parse(s: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// An AI job (the AI lane's).
    pub fn is_ai(self) -> bool {
        matches!(
            self,
            JobKind::AiScore
                | JobKind::AiTranscribe
                | JobKind::AiCheck
                | JobKind::AiDraft
                | JobKind::AiIntent
                | JobKind::AiSweep
        )
    }

    /// A job a person is waiting for (a manager pressed ✍️ Draft): claimed before the other
    /// due jobs of its lane, whatever their age.
    pub fn someone_waits(self) -> bool {
        matches!(self, JobKind::AiDraft)
    }

    /// A job that re-schedules itself for ever (a timer), never "work in flight".
    pub fn is_recurring(self) -> bool {
        matches!(
            self,
            JobKind::FlowTimers
                | JobKind::CallReconcile
                | JobKind::TaskTimers
                | JobKind::AssignTimers
                | JobKind::DigestTimers
                | JobKind::AiSweep
        )
    }
}

#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: JobKind,
    pub payload: serde_json::Value,
    pub queue_key: String,
    pub dedupe_key: Option<String>,
    pub run_at: i64,
}

#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: JobId,
    pub kind: JobKind,
    pub payload: serde_json::Value,
    pub queue_key: String,
    pub status: String,
    pub attempts: i64,
    pub run_at: i64,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatusCount {
    pub status: String,
    pub count: i64,
}

fn job_from(row: &AnyRow) -> Result<JobRow> {
    let kind: String = col(row, "kind")?;
    let payload: String = col(row, "payload")?;
    Ok(JobRow {
        id: JobId(col(row, "id")?),
        kind: JobKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("unknown job kind {kind}")))?,
        payload: serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt(format!("job payload: {e}")))?,
        queue_key: col(row, "queue_key")?,
        status: col(row, "status")?,
        attempts: col(row, "attempts")?,
        run_at: col(row, "run_at")?,
        last_error: col(row, "last_error")?,
    })
}

const JOB_COLS: &str = "id, kind, payload, queue_key, status, attempts, run_at, last_error";

/// `AND <alias>lane = …` for a lane; nothing for `None`. The column is generated from the
/// kind (migration 0012: an AI kind starts with `ai_`, as `JobKind::is_ai` says) and leads
/// the `jobs_lane_due` index, so one lane's claims never walk past the other's due jobs.
fn lane_filter(lane: Option<Lane>, alias: &str) -> String {
    match lane {
        None => String::new(),
        Some(Lane::Ai) => format!("AND {alias}lane = 'ai'"),
        Some(Lane::Main) => format!("AND {alias}lane = 'main'"),
    }
}

/// One topic sync per lead (deduplicated; a pending one is brought forward if needed).
pub async fn enqueue_topic_syncs(conn: &mut Conn, leads: &[(crate::domain::LeadId, i64)], now: i64) -> Result<()> {
    if leads.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO jobs (kind, payload, queue_key, dedupe_key, status, run_at, attempts, created_at, updated_at)
         VALUES {} ON CONFLICT (dedupe_key) WHERE status = 'pending'
         DO UPDATE SET run_at = CASE WHEN excluded.run_at < jobs.run_at THEN excluded.run_at ELSE jobs.run_at END",
        (0..leads.len())
            .map(|k| format!(
                "('topic_sync', ${a}, ${b}, ${b}, 'pending', ${c}, 0, $1, $1)",
                a = k * 3 + 2,
                b = k * 3 + 3,
                c = k * 3 + 4
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut q = sqlx::query(&sql).bind(now);
    for (lead, run_at) in leads {
        // The payload of `jobs::Job::TopicSync` (a test in jobs::job keeps the two equal).
        q = q.bind(serde_json::json!({ "lead": lead.0 }).to_string()).bind(format!("topic:{}", lead.0)).bind(*run_at);
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

/// Enqueue many jobs in one statement per 200 (inside the caller's transaction). A job
/// whose dedupe key is already pending is not added twice; the pending one is brought
/// forward if this one is due sooner (as [`enqueue`] does, one job at a time).
pub async fn enqueue_many(conn: &mut Conn, jobs: &[NewJob], now: i64) -> Result<()> {
    // One row per dedupe key within the statement (PostgreSQL refuses to upsert a row twice).
    let mut rows: Vec<&NewJob> = Vec::with_capacity(jobs.len());
    let mut by_key: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for j in jobs {
        match j.dedupe_key.as_deref().and_then(|k| by_key.get(k).copied()) {
            Some(i) if j.run_at < rows[i].run_at => rows[i] = j,
            Some(_) => {}
            None => {
                if let Some(k) = j.dedupe_key.as_deref() {
                    by_key.insert(k, rows.len());
                }
                rows.push(j);
            }
        }
    }
    for chunk in rows.chunks(200) {
        let sql = format!(
            "INSERT INTO jobs (kind, payload, queue_key, dedupe_key, status, run_at, attempts, created_at, updated_at)
             VALUES {} ON CONFLICT (dedupe_key) WHERE status = 'pending'
             DO UPDATE SET run_at = CASE WHEN excluded.run_at < jobs.run_at THEN excluded.run_at ELSE jobs.run_at END",
            (0..chunk.len())
                .map(|k| {
                    let b = k * 5 + 2;
                    format!("(${}, ${}, ${}, ${}, 'pending', ${}, 0, $1, $1)", b, b + 1, b + 2, b + 3, b + 4)
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut q = sqlx::query(&sql).bind(now);
        for j in chunk {
            q = q
                .bind(j.kind.as_str())
                .bind(j.payload.to_string())
                .bind(j.queue_key.clone())
                .bind(j.dedupe_key.clone())
                .bind(j.run_at);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Enqueue inside the caller's transaction. Returns false when a pending job with the same
/// dedupe key already exists (it will do this work too).
pub async fn enqueue(conn: &mut Conn, job: &NewJob, now: i64) -> Result<bool> {
    let res = sqlx::query(
        "INSERT INTO jobs (kind, payload, queue_key, dedupe_key, status, run_at, attempts, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'pending', $5, 0, $6, $6) ON CONFLICT DO NOTHING",
    )
    .bind(job.kind.as_str())
    .bind(job.payload.to_string())
    .bind(&job.queue_key)
    .bind(job.dedupe_key.as_deref())
    .bind(job.run_at)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if res.rows_affected() == 0 {
        // Bring the pending job forward if this one is due sooner.
        if let Some(key) = &job.dedupe_key {
            sqlx::query("UPDATE jobs SET run_at = $1 WHERE dedupe_key = $2 AND status = 'pending' AND run_at > $1")
                .bind(job.run_at)
                .bind(key)
                .execute(&mut *conn)
                .await?;
        }
        return Ok(false);
    }
    Ok(true)
}

/// Put running jobs matching `cond` back to pending (their worker died or hung: the claim
/// already counted the attempt). One that has used up `max_attempts` is parked instead and
/// returned, so a job that kills or hangs its worker every time is not run forever. One whose
/// work a pending job with the same dedupe key will do anyway is removed (two pending copies
/// cannot exist). Runs outside any transaction: on PostgreSQL a copy may be enqueued between
/// the statements, and the unique index then refuses the update; the delete is simply tried
/// again.
/// What releasing expired claims did.
#[derive(Debug, Default)]
pub struct Released {
    /// Out of attempts: parked.
    pub parked: Vec<JobRow>,
    /// Put back in the queue (their claim's lease ran out: a worker died or hung).
    pub put_back: Vec<JobRow>,
}

async fn release(conn: &mut Conn, cond: &str, now: i64, max_attempts: i64) -> Result<Released> {
    let parked = sqlx::query(&format!(
        "UPDATE jobs SET status = 'parked', locked_until = NULL, updated_at = $1,
             last_error = 'its worker stopped before it finished, ' || attempts || ' times (a crash, a panic or a hang)'
         WHERE status = 'running' AND {cond} AND attempts >= $2
         RETURNING {JOB_COLS}"
    ))
    .bind(now)
    .bind(max_attempts)
    .fetch_all(&mut *conn)
    .await?;
    let parked = parked.iter().map(job_from).collect::<Result<Vec<_>>>()?;
    for _ in 0..5 {
        sqlx::query(&format!(
            "DELETE FROM jobs WHERE status = 'running' AND {cond} AND dedupe_key IS NOT NULL AND EXISTS
                (SELECT 1 FROM jobs o WHERE o.dedupe_key = jobs.dedupe_key AND o.status = 'pending')"
        ))
        .bind(now)
        .execute(&mut *conn)
        .await?;
        match sqlx::query(&format!(
            "UPDATE jobs SET status = 'pending', locked_until = NULL, updated_at = $1 WHERE status = 'running' AND {cond}
             RETURNING {JOB_COLS}"
        ))
        .bind(now)
        .fetch_all(&mut *conn)
        .await
        .map_err(super::conflict)
        {
            Ok(rows) => {
                let put_back = rows.iter().map(job_from).collect::<Result<Vec<_>>>()?;
                return Ok(Released { parked, put_back });
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Conflict("jobs kept being enqueued while releasing expired claims".into()))
}

impl Store {
    pub async fn enqueue(&self, job: &NewJob, now: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let fresh = enqueue(&mut tx, job, now).await?;
        tx.commit().await?;
        Ok(fresh)
    }

    /// Claim up to `limit` due jobs, each the oldest live job of its queue, with a lease
    /// until `now + lease_ms`. Expired leases (a crashed worker) are released first (and
    /// parked when out of attempts).
    pub async fn claim_jobs(&self, now: i64, lease_ms: i64, limit: i64, max_attempts: i64) -> Result<Vec<JobRow>> {
        self.release_expired_jobs(now, max_attempts).await?;
        self.claim_due_jobs(now, lease_ms, limit).await
    }

    /// Release claims whose lease has run out (their worker died or hung); returns the
    /// jobs parked because they had no attempts left.
    pub async fn release_expired_jobs(&self, now: i64, max_attempts: i64) -> Result<Released> {
        release(&mut *self.write().await?, "locked_until < $1", now, max_attempts).await
    }

    /// Claim without releasing expired leases first (the worker loop releases them on its
    /// own schedule, not on every claim).
    pub async fn claim_due_jobs(&self, now: i64, lease_ms: i64, limit: i64) -> Result<Vec<JobRow>> {
        self.claim_lane(now, lease_ms, limit, None).await
    }

    /// Claim due jobs of one lane only (`None`: any job).
    pub async fn claim_lane(&self, now: i64, lease_ms: i64, limit: i64, lane: Option<Lane>) -> Result<Vec<JobRow>> {
        let only = lane_filter(lane, "j.");
        // In the AI lane a draft someone waits for goes before the scores the sweep queued.
        let first = match lane {
            Some(Lane::Ai) => format!(
                "CASE WHEN j.kind IN ({}) THEN 0 ELSE 1 END, ",
                JobKind::ALL
                    .iter()
                    .filter(|k| k.someone_waits())
                    .map(|k| format!("'{}'", k.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => String::new(),
        };
        let mut tx = self.begin().await?;
        let lock = match self.engine {
            Engine::Postgres => "FOR UPDATE SKIP LOCKED",
            Engine::Sqlite => "",
        };
        let sql = format!(
            "UPDATE jobs SET status = 'running', locked_until = $2, attempts = attempts + 1, updated_at = $1
             WHERE id IN (
                SELECT j.id FROM jobs j
                WHERE j.status = 'pending' AND j.run_at <= $1 {only}
                  AND NOT EXISTS (SELECT 1 FROM jobs e WHERE e.queue_key = j.queue_key AND e.id < j.id
                                  AND e.status IN ('pending', 'running'))
                ORDER BY {first}j.run_at, j.id LIMIT $3 {lock})
             RETURNING {JOB_COLS}"
        );
        let rows = sqlx::query(&sql).bind(now).bind(now + lease_ms).bind(limit).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let mut jobs = rows.iter().map(job_from).collect::<Result<Vec<_>>>()?;
        jobs.sort_by_key(|j| (!j.kind.someone_waits(), j.id));
        Ok(jobs)
    }

    /// The earliest time a pending job is due, if any.
    pub async fn next_job_due(&self) -> Result<Option<i64>> {
        self.next_due_in(None).await
    }

    /// The earliest time a pending job of this lane is due (`None`: any lane).
    pub async fn next_due_in(&self, lane: Option<Lane>) -> Result<Option<i64>> {
        let sql = format!("SELECT MIN(run_at) AS due FROM jobs WHERE status = 'pending' {}", lane_filter(lane, ""));
        let row = sqlx::query(&sql).fetch_one(self.reader()).await?;
        col(&row, "due")
    }

    /// Done: the row goes away.
    pub async fn finish_job(&self, id: JobId) -> Result<()> {
        sqlx::query("DELETE FROM jobs WHERE id = $1").bind(id.0).execute(&mut *self.write().await?).await?;
        Ok(())
    }

    /// Several done at once (the batched topic sync).
    pub async fn finish_jobs(&self, ids: &[JobId]) -> Result<()> {
        for chunk in ids.chunks(500) {
            let list = super::params(0, chunk.len());
            let sql = format!("DELETE FROM jobs WHERE id IN ({list})");
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id.0);
            }
            q.execute(&mut *self.write().await?).await?;
        }
        Ok(())
    }

    /// Try again at `run_at`. `count_attempt = false` gives the attempt back (a rate-limit
    /// wait is not a failure). If a newer job with the same dedupe key is already pending,
    /// that one will do this work: this row goes away instead.
    pub async fn reschedule_job(
        &self,
        id: JobId,
        run_at: i64,
        error: Option<&str>,
        count_attempt: bool,
        now: i64,
    ) -> Result<()> {
        let covered = "DELETE FROM jobs WHERE id = $1 AND dedupe_key IS NOT NULL AND EXISTS
            (SELECT 1 FROM jobs o WHERE o.dedupe_key = jobs.dedupe_key AND o.status = 'pending' AND o.id <> $1)";
        for _ in 0..5 {
            if sqlx::query(covered).bind(id.0).execute(&mut *self.write().await?).await?.rows_affected() > 0 {
                return Ok(());
            }
            let give_back = if count_attempt { 0 } else { 1 };
            let res = sqlx::query(
                "UPDATE jobs SET status = 'pending', run_at = $1, attempts = attempts - $2,
                     last_error = COALESCE($3, last_error), locked_until = NULL, updated_at = $4
                 WHERE id = $5",
            )
            .bind(run_at)
            .bind(give_back as i64)
            .bind(error)
            .bind(now)
            .bind(id.0)
            .execute(&mut *self.write().await?)
            .await
            .map_err(super::conflict);
            match res {
                Ok(_) => return Ok(()),
                // A copy was enqueued in between (PostgreSQL): it will do the work.
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict("jobs kept being enqueued while rescheduling".into()))
    }

    /// Several rate-limit waits at once (the batched topic sync): each job runs again at its
    /// time, with its attempt given back; one whose work a newer pending copy will do goes
    /// away. If a copy is enqueued in between (PostgreSQL), each is done on its own.
    pub async fn reschedule_waits(&self, waits: &[(JobId, i64)], now: i64) -> Result<()> {
        for chunk in waits.chunks(400) {
            let list = super::params(1, chunk.len());
            let covered = format!(
                "DELETE FROM jobs WHERE id IN ({list}) AND dedupe_key IS NOT NULL AND $1 = $1 AND EXISTS
                    (SELECT 1 FROM jobs o WHERE o.dedupe_key = jobs.dedupe_key AND o.status = 'pending' AND o.id <> jobs.id)"
            );
            let mut q = sqlx::query(&covered).bind(now);
            for (id, _) in chunk {
                q = q.bind(id.0);
            }
            q.execute(&mut *self.write().await?).await?;
            let n = chunk.len();
            let cases = (0..n).map(|i| format!("WHEN ${} THEN ${}", 2 + i, 2 + n + i)).collect::<Vec<_>>().join(" ");
            let sql = format!(
                "UPDATE jobs SET status = 'pending', run_at = CASE id {cases} END, attempts = attempts - 1,
                     locked_until = NULL, updated_at = $1
                 WHERE id IN ({list})"
            );
            let mut q = sqlx::query(&sql).bind(now);
            for (id, _) in chunk {
                q = q.bind(id.0);
            }
            for (_, at) in chunk {
                q = q.bind((*at).max(now));
            }
            // Bound first, so the gate is let go before a conflict is handled one by one.
            let res = q.execute(&mut *self.write().await?).await.map_err(super::conflict);
            match res {
                Ok(_) => {}
                Err(StoreError::Conflict(_)) => {
                    for (id, at) in chunk {
                        self.reschedule_job(*id, (*at).max(now), None, false, now).await?;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Stop retrying; the job stays visible to admins (`forecourt jobs`).
    pub async fn park_job(&self, id: JobId, error: &str, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET status = 'parked', last_error = $1, locked_until = NULL, updated_at = $2 WHERE id = $3",
        )
        .bind(error)
        .bind(now)
        .bind(id.0)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(())
    }

    /// On start-up of a single SQLite instance every running job belongs to a dead
    /// process: release them at once instead of waiting for their leases.
    pub async fn release_all_running_jobs(&self, now: i64, max_attempts: i64) -> Result<Released> {
        release(&mut *self.write().await?, "$1 = $1", now, max_attempts).await
    }

    pub async fn parked_jobs(&self) -> Result<Vec<JobRow>> {
        let rows = sqlx::query(&format!("SELECT {JOB_COLS} FROM jobs WHERE status = 'parked' ORDER BY id"))
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(job_from).collect()
    }

    pub async fn job(&self, id: JobId) -> Result<Option<JobRow>> {
        let row = sqlx::query(&format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(job_from).transpose()
    }

    /// Put parked jobs back in the queue with fresh attempts (`None`: all of them). A parked
    /// job whose work a pending job with the same dedupe key will do is simply removed.
    pub async fn retry_parked(&self, id: Option<JobId>, now: i64) -> Result<u64> {
        let only = if id.is_some() { "AND id = $2" } else { "AND $2 = 0" };
        let mut tx = self.begin().await?;
        let only_one = if id.is_some() { "AND id = $1" } else { "AND $1 = 0" };
        let covered = sqlx::query(&format!(
            "DELETE FROM jobs WHERE status = 'parked' {only_one} AND dedupe_key IS NOT NULL AND EXISTS
                (SELECT 1 FROM jobs o WHERE o.dedupe_key = jobs.dedupe_key AND o.status = 'pending')"
        ))
        .bind(id.map(|i| i.0).unwrap_or(0))
        .execute(&mut *tx)
        .await?;
        let res = sqlx::query(&format!(
            "UPDATE jobs SET status = 'pending', attempts = 0, run_at = $1, updated_at = $1 WHERE status = 'parked' {only}"
        ))
        .bind(now)
        .bind(id.map(|i| i.0).unwrap_or(0))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(res.rows_affected() + covered.rows_affected())
    }

    /// Jobs running, or pending and due before `until`: the work still in flight. Recurring
    /// timers are not counted (one is always pending).
    pub async fn jobs_in_flight(&self, until: i64) -> Result<i64> {
        self.jobs_in_flight_in(until, None).await
    }

    /// The same, for one lane's jobs (`None`: every lane).
    pub async fn jobs_in_flight_in(&self, until: i64, lane: Option<Lane>) -> Result<i64> {
        let recurring: Vec<String> =
            JobKind::ALL.into_iter().filter(|k| k.is_recurring()).map(|k| format!("'{}'", k.as_str())).collect();
        let row = sqlx::query(&format!(
            "SELECT COUNT(*) AS n FROM jobs WHERE (status = 'running' OR (status = 'pending' AND run_at <= $1))
               AND kind NOT IN ({}) {}",
            recurring.join(", "),
            lane_filter(lane, "")
        ))
        .bind(until)
        .fetch_one(self.reader())
        .await?;
        col(&row, "n")
    }

    pub async fn job_counts(&self) -> Result<Vec<JobStatusCount>> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status ORDER BY status")
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(|r| Ok(JobStatusCount { status: col(r, "status")?, count: col(r, "n")? })).collect()
    }
}
