//! Call scripts (each version's text, as reviews were made against it) and supervisors'
//! reviews of calls: one row per review, walked criterion by criterion.

use super::{col, Conn, Result, Store};
use crate::domain::script::Verdict;
use crate::domain::{CallId, LeadId, ReviewId, UserId};
use sqlx::any::AnyRow;

/// Where a review is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewState {
    InProgress,
    AwaitingComment,
    Done,
}

impl ReviewState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::InProgress => "in_progress",
            ReviewState::AwaitingComment => "awaiting_comment",
            ReviewState::Done => "done",
        }
    }
    fn parse(s: &str) -> ReviewState {
        match s {
            "awaiting_comment" => ReviewState::AwaitingComment,
            "done" => ReviewState::Done,
            _ => ReviewState::InProgress,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ReviewRow {
    pub id: ReviewId,
    pub call: CallId,
    pub reviewer: UserId,
    pub reviewer_name: String,
    pub reviewer_telegram: i64,
    pub script_version: i64,
    pub state: ReviewState,
    pub verdicts: Vec<Verdict>,
    pub comment: Option<String>,
    pub score: Option<i64>,
    pub missed: Vec<String>,
    pub critical_missed: Vec<String>,
    pub private_chat: Option<i64>,
    pub private_message: Option<i32>,
    pub finished_at: Option<i64>,
}

const REVIEW_SELECT: &str = "SELECT r.*, u.name AS reviewer_name, u.telegram_id AS reviewer_telegram
    FROM call_reviews r JOIN users u ON u.id = r.reviewer_id";

fn list(s: Option<String>) -> Vec<String> {
    s.map(|s| s.split(',').filter(|x| !x.is_empty()).map(str::to_string).collect()).unwrap_or_default()
}

fn review_from(r: &AnyRow) -> Result<ReviewRow> {
    let verdicts: String = col(r, "verdicts")?;
    Ok(ReviewRow {
        id: ReviewId(col(r, "id")?),
        call: CallId(col(r, "call_id")?),
        reviewer: UserId(col(r, "reviewer_id")?),
        reviewer_name: col(r, "reviewer_name")?,
        reviewer_telegram: col(r, "reviewer_telegram")?,
        script_version: col(r, "script_version")?,
        state: ReviewState::parse(&col::<String>(r, "state")?),
        verdicts: verdicts.chars().filter_map(Verdict::from_code).collect(),
        comment: col(r, "comment")?,
        score: col(r, "score")?,
        missed: list(col(r, "missed")?),
        critical_missed: list(col(r, "critical_missed")?),
        private_chat: col(r, "private_chat")?,
        private_message: col::<Option<i64>>(r, "private_message_id")?.map(|m| m as i32),
        finished_at: col(r, "finished_at")?,
    })
}

/// Keep this version's text (a version already kept is left as it was; returns whether the
/// kept text differs, i.e. the file changed without a new version).
pub async fn keep_script(conn: &mut Conn, version: i64, body: &str, now: i64) -> Result<bool> {
    sqlx::query("INSERT INTO call_scripts (version, body, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(version)
        .bind(body)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let kept: String = sqlx::query_scalar("SELECT body FROM call_scripts WHERE version = $1")
        .bind(version)
        .fetch_one(&mut *conn)
        .await?;
    Ok(kept != body)
}

pub async fn review_in_tx(conn: &mut Conn, id: ReviewId) -> Result<Option<ReviewRow>> {
    let row = sqlx::query(&format!("{REVIEW_SELECT} WHERE r.id = $1")).bind(id.0).fetch_optional(&mut *conn).await?;
    row.as_ref().map(review_from).transpose()
}

/// The reviewer's unfinished review of this call, or a new one.
pub async fn start_review(conn: &mut Conn, call: CallId, reviewer: UserId, version: i64, now: i64) -> Result<ReviewId> {
    let open = sqlx::query(
        "SELECT id FROM call_reviews WHERE call_id = $1 AND reviewer_id = $2 AND state <> 'done' ORDER BY id DESC LIMIT 1",
    )
    .bind(call.0)
    .bind(reviewer.0)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(r) = open {
        return Ok(ReviewId(col(&r, "id")?));
    }
    let row = sqlx::query(
        "INSERT INTO call_reviews (call_id, reviewer_id, script_version, state, created_at, updated_at)
         VALUES ($1, $2, $3, 'in_progress', $4, $4) RETURNING id",
    )
    .bind(call.0)
    .bind(reviewer.0)
    .bind(version)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(ReviewId(col(&row, "id")?))
}

/// Record the verdict on criterion `index` (only if it is the next one: a stale or repeated
/// press changes nothing). Returns whether it was recorded.
pub async fn add_verdict(conn: &mut Conn, id: ReviewId, index: usize, v: Verdict, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE call_reviews SET verdicts = verdicts || $3, updated_at = $4
         WHERE id = $1 AND state = 'in_progress' AND LENGTH(verdicts) = $2",
    )
    .bind(id.0)
    .bind(index as i64)
    .bind(v.code().to_string())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_review_state(conn: &mut Conn, id: ReviewId, state: ReviewState, now: i64) -> Result<()> {
    sqlx::query("UPDATE call_reviews SET state = $2, updated_at = $3 WHERE id = $1")
        .bind(id.0)
        .bind(state.as_str())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// What a finished review keeps.
pub struct Finished<'a> {
    pub comment: Option<&'a str>,
    pub score: Option<u8>,
    pub missed: &'a [String],
    pub critical_missed: &'a [String],
}

/// Finish a review (once: `false` when it was finished already).
pub async fn finish_review(conn: &mut Conn, id: ReviewId, f: &Finished<'_>, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE call_reviews SET state = 'done', comment = $2, score = $3, missed = $4, critical_missed = $5,
             finished_at = $6, updated_at = $6
         WHERE id = $1 AND state <> 'done'",
    )
    .bind(id.0)
    .bind(f.comment)
    .bind(f.score.map(i64::from))
    .bind(f.missed.join(","))
    .bind(f.critical_missed.join(","))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 1 {
        sqlx::query(
            "UPDATE calls SET script_score = (SELECT CAST(score AS DOUBLE PRECISION) FROM call_reviews WHERE id = $1),
                 version = version + 1, updated_at = $2
             WHERE id = (SELECT call_id FROM call_reviews WHERE id = $1)",
        )
        .bind(id.0)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(done.rows_affected() == 1)
}

/// The review waiting for this reviewer's comment.
pub async fn awaiting_comment(conn: &mut Conn, reviewer: UserId) -> Result<Option<ReviewId>> {
    let row = sqlx::query(
        "SELECT id FROM call_reviews WHERE reviewer_id = $1 AND state = 'awaiting_comment' ORDER BY updated_at DESC LIMIT 1",
    )
    .bind(reviewer.0)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| Ok(ReviewId(col(&r, "id")?))).transpose()
}

/// A call waiting for review, as `/reviews` lists it.
#[derive(Debug, Clone)]
pub struct ReviewCandidate {
    pub call: CallId,
    pub lead: LeadId,
    pub customer: String,
    pub user: Option<UserId>,
    pub user_name: Option<String>,
    pub started_at: i64,
    pub billsec: i64,
    /// The AI's evaluation, when there is one: its score, and whether it asks for a person
    /// first (unsure verdicts, a low score, a critical miss).
    pub ai_score: Option<i64>,
    pub needs_person: bool,
}

impl Store {
    pub async fn review(&self, id: ReviewId) -> Result<Option<ReviewRow>> {
        let row =
            sqlx::query(&format!("{REVIEW_SELECT} WHERE r.id = $1")).bind(id.0).fetch_optional(self.reader()).await?;
        row.as_ref().map(review_from).transpose()
    }

    /// The highest version kept, with its text.
    pub async fn latest_script(&self) -> Result<Option<(i64, String)>> {
        let row = sqlx::query("SELECT version, body FROM call_scripts ORDER BY version DESC LIMIT 1")
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| Ok((col(&r, "version")?, col(&r, "body")?))).transpose()
    }

    pub async fn script_body(&self, version: i64) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT body FROM call_scripts WHERE version = $1")
            .bind(version)
            .fetch_optional(self.reader())
            .await?)
    }

    /// The finished reviews of a call, newest first.
    pub async fn reviews_of_call(&self, call: CallId) -> Result<Vec<ReviewRow>> {
        let rows =
            sqlx::query(&format!("{REVIEW_SELECT} WHERE r.call_id = $1 AND r.state = 'done' ORDER BY r.id DESC"))
                .bind(call.0)
                .fetch_all(self.reader())
                .await?;
        rows.iter().map(review_from).collect()
    }

    /// The finished reviews of the calls a staff member took since `since`, newest first.
    pub async fn reviews_of_user(&self, user: UserId, since: i64) -> Result<Vec<(ReviewRow, i64)>> {
        let rows = sqlx::query(
            "SELECT r.*, u.name AS reviewer_name, u.telegram_id AS reviewer_telegram, c.started_at AS call_started
             FROM call_reviews r JOIN users u ON u.id = r.reviewer_id JOIN calls c ON c.id = r.call_id
             WHERE c.user_id = $1 AND r.state = 'done' AND r.finished_at >= $2 ORDER BY r.finished_at DESC",
        )
        .bind(user.0)
        .bind(since)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(|r| Ok((review_from(r)?, col::<i64>(r, "call_started")?))).collect()
    }

    pub async fn set_review_message(&self, id: ReviewId, chat: i64, message: i32) -> Result<()> {
        sqlx::query("UPDATE call_reviews SET private_chat = $2, private_message_id = $3 WHERE id = $1")
            .bind(id.0)
            .bind(chat)
            .bind(message as i64)
            .execute(&mut *self.write().await?)
            .await?;
        Ok(())
    }

    /// Answered calls with a recording, longer than `min_talk_s`, never reviewed, oldest
    /// first; started after `since`.
    pub async fn calls_to_review(&self, since: i64, min_talk_s: i64, limit: i64) -> Result<Vec<ReviewCandidate>> {
        let rows = sqlx::query(
            "SELECT c.id, c.lead_id, cu.name AS customer, c.user_id, u.name AS user_name, c.started_at, c.billsec,
                    e.score AS ai_score, e.needs_person
             FROM calls c JOIN leads l ON l.id = c.lead_id JOIN customers cu ON cu.id = l.customer_id
             LEFT JOIN users u ON u.id = c.user_id LEFT JOIN ai_evaluations e ON e.call_id = c.id
             WHERE c.missed = 0 AND c.recording_state = 'posted' AND c.billsec > $1 AND c.started_at >= $2
               AND NOT EXISTS (SELECT 1 FROM call_reviews r WHERE r.call_id = c.id AND r.state = 'done')
             ORDER BY COALESCE(e.needs_person, 0) DESC, c.started_at, c.id LIMIT $3",
        )
        .bind(min_talk_s)
        .bind(since)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReviewCandidate {
                    call: CallId(col(r, "id")?),
                    lead: LeadId(col(r, "lead_id")?),
                    customer: col(r, "customer")?,
                    user: col::<Option<i64>>(r, "user_id")?.map(UserId),
                    user_name: col(r, "user_name")?,
                    started_at: col(r, "started_at")?,
                    billsec: col::<Option<i64>>(r, "billsec")?.unwrap_or(0),
                    ai_score: col(r, "ai_score")?,
                    needs_person: col::<Option<i64>>(r, "needs_person")? == Some(1),
                })
            })
            .collect()
    }
}
