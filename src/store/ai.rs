//! What AI keeps (issue 15): answers by fingerprint (the cache), attempts without text,
//! the day's request count (the budget, taken atomically), and the hot scores. The leads
//! themselves are never written here.

use super::{col, Result, Store};
use crate::domain::ai::{Feature, HotScore};
use crate::domain::{CallId, LeadId};

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Ok,
    /// Answered from the kept answers; nothing was sent.
    Cached,
    Refused,
    Malformed,
    /// The server failed, timed out, or could not be reached.
    Failed,
    /// Not sent: today's budget is spent.
    Budget,
    /// Not sent: the input is over what the API takes.
    TooLarge,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Ok => "ok",
            AttemptOutcome::Cached => "cached",
            AttemptOutcome::Refused => "refused",
            AttemptOutcome::Malformed => "malformed",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::Budget => "budget",
            AttemptOutcome::TooLarge => "too_large",
        }
    }
}

/// One attempt, as logged: never the text sent or received.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    pub feature: Feature,
    pub lead: Option<LeadId>,
    pub call: Option<CallId>,
    pub fingerprint: &'a str,
    pub outcome: AttemptOutcome,
    pub error: Option<&'a str>,
    pub ms: i64,
    pub at: i64,
}

/// Counts of attempts by outcome (for `/ai` and the tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttemptCounts {
    pub by_outcome: Vec<(String, i64)>,
}

impl AttemptCounts {
    pub fn get(&self, outcome: AttemptOutcome) -> i64 {
        self.by_outcome.iter().find(|(o, _)| o == outcome.as_str()).map_or(0, |(_, n)| *n)
    }
}

/// An attempt that gave no answer, as `/ai` shows the latest.
#[derive(Debug, Clone)]
pub struct FailedAttempt {
    pub feature: String,
    pub lead: Option<LeadId>,
    pub outcome: String,
    pub error: Option<String>,
    pub at: i64,
}

impl Store {
    /// The kept answer for this fingerprint, if any.
    pub async fn ai_answer(&self, fingerprint: &str) -> Result<Option<String>> {
        let r = sqlx::query("SELECT answer FROM ai_results WHERE fingerprint = $1")
            .bind(fingerprint)
            .fetch_optional(self.reader())
            .await?;
        r.map(|r| col(&r, "answer")).transpose()
    }

    /// Keep an answer and log its attempt ([`keep_ai`]) in a transaction of its own, for a
    /// caller with nothing else to write.
    pub async fn keep_ai_answer(&self, keep: &AiKeep) -> Result<()> {
        let mut tx = self.begin().await?;
        keep_ai(&mut tx, keep).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn log_ai_attempt(&self, a: &Attempt<'_>) -> Result<()> {
        insert_attempt(&mut *self.write().await?, a).await
    }

    /// Take one request from `day`'s budget of `limit` (0: no budget, always granted).
    /// Atomic across instances: false once the day's count has reached the limit.
    pub async fn take_ai_request(&self, day: &str, limit: u32) -> Result<bool> {
        let row = sqlx::query(
            "INSERT INTO ai_usage (day, requests) VALUES ($1, 1)
             ON CONFLICT (day) DO UPDATE SET requests = ai_usage.requests + 1
             WHERE $2 = 0 OR ai_usage.requests < $2
             RETURNING requests",
        )
        .bind(day)
        .bind(i64::from(limit))
        .fetch_optional(&mut *self.write().await?)
        .await?;
        Ok(row.is_some())
    }

    /// Give back a request that cost nothing (the server failed or could not be reached).
    pub async fn give_back_ai_request(&self, day: &str) -> Result<()> {
        sqlx::query("UPDATE ai_usage SET requests = requests - 1 WHERE day = $1 AND requests > 0")
            .bind(day)
            .execute(&mut *self.write().await?)
            .await?;
        Ok(())
    }

    /// Attempts of a feature since `since`, by outcome.
    pub async fn ai_attempt_counts(&self, feature: Feature, since: i64) -> Result<AttemptCounts> {
        let rows = sqlx::query(
            "SELECT outcome, COUNT(*) AS n FROM ai_attempts WHERE feature = $1 AND at >= $2 GROUP BY outcome ORDER BY outcome",
        )
        .bind(feature.as_str())
        .bind(since)
        .fetch_all(self.reader())
        .await?;
        let by_outcome = rows.iter().map(|r| Ok((col(r, "outcome")?, col(r, "n")?))).collect::<Result<_>>()?;
        Ok(AttemptCounts { by_outcome })
    }

    /// Requests taken from `day`'s budget so far.
    pub async fn ai_requests_on(&self, day: &str) -> Result<i64> {
        let r =
            sqlx::query("SELECT requests FROM ai_usage WHERE day = $1").bind(day).fetch_optional(self.reader()).await?;
        r.map(|r| col(&r, "requests")).transpose().map(Option::unwrap_or_default)
    }

    /// Attempts since `since`, by feature and outcome (`/ai`).
    pub async fn ai_attempts_since(&self, since: i64) -> Result<Vec<(String, String, i64)>> {
        let rows = sqlx::query(
            "SELECT feature, outcome, COUNT(*) AS n FROM ai_attempts WHERE at >= $1
             GROUP BY feature, outcome ORDER BY feature, outcome",
        )
        .bind(since)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(|r| Ok((col(r, "feature")?, col(r, "outcome")?, col(r, "n")?))).collect()
    }

    /// The latest attempt since `since` that gave no answer, if any (`/ai`).
    pub async fn ai_last_failure(&self, since: i64) -> Result<Option<FailedAttempt>> {
        let r = sqlx::query(
            "SELECT feature, lead_id, outcome, error, at FROM ai_attempts
             WHERE at >= $1 AND outcome NOT IN ('ok', 'cached') ORDER BY at DESC, id DESC LIMIT 1",
        )
        .bind(since)
        .fetch_optional(self.reader())
        .await?;
        r.map(|r| {
            Ok(FailedAttempt {
                feature: col(&r, "feature")?,
                lead: col::<Option<i64>>(&r, "lead_id")?.map(LeadId),
                outcome: col(&r, "outcome")?,
                error: col(&r, "error")?,
                at: col(&r, "at")?,
            })
        })
        .transpose()
    }

    /// A lead's hot score, if it has one.
    pub async fn hot_score(&self, lead: LeadId) -> Result<Option<HotScore>> {
        Ok(self.hot_scores(&[lead]).await?.into_iter().next().map(|(_, s)| s))
    }

    /// The hot scores of these leads (those that have one).
    pub async fn hot_scores(&self, leads: &[LeadId]) -> Result<Vec<(LeadId, HotScore)>> {
        let mut out = Vec::new();
        for chunk in leads.chunks(500) {
            let sql = format!(
                "SELECT lead_id, score, reasons FROM lead_scores WHERE lead_id IN ({})",
                super::params(0, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for l in chunk {
                q = q.bind(l.0);
            }
            for r in q.fetch_all(self.reader()).await? {
                let reasons: String = col(&r, "reasons")?;
                let score: i64 = col(&r, "score")?;
                out.push((
                    LeadId(col(&r, "lead_id")?),
                    HotScore {
                        score: score.clamp(0, 100) as u8,
                        reasons: serde_json::from_str(&reasons).unwrap_or_default(),
                    },
                ));
            }
        }
        Ok(out)
    }

    /// The open leads with the highest scores, highest first (the digest's top five).
    pub async fn top_hot_leads(&self, limit: i64) -> Result<Vec<(LeadId, HotScore)>> {
        let rows = sqlx::query(&format!(
            "SELECT s.lead_id FROM lead_scores s JOIN leads l ON l.id = s.lead_id
             WHERE l.is_open = 1 ORDER BY s.score DESC, s.lead_id LIMIT {limit}"
        ))
        .fetch_all(self.reader())
        .await?;
        let ids: Vec<LeadId> = rows.iter().map(|r| col(r, "lead_id").map(LeadId)).collect::<Result<_>>()?;
        let mut scores = self.hot_scores(&ids).await?;
        scores.sort_by_key(|(l, s)| (std::cmp::Reverse(s.score), l.0));
        Ok(scores)
    }
}

/// A checked answer not yet written: the answer to keep by its fingerprint (none when it
/// came from the kept answers) and its attempt's log line. The job that asked writes it with
/// what it does with the answer, in one transaction ([`keep_ai`]): the answer is kept
/// exactly when it was used, and AI takes SQLite's write gate once a job instead of twice.
#[derive(Debug, Clone)]
#[must_use = "an answer not kept is asked for again (and its attempt is not logged)"]
pub struct AiKeep {
    pub feature: Feature,
    pub lead: Option<LeadId>,
    pub call: Option<CallId>,
    pub fingerprint: String,
    /// The answer's text, when it was received now (`None`: it was a kept one).
    pub answer: Option<String>,
    pub ms: i64,
    pub at: i64,
}

/// Keep an answer (a second copy of the same fingerprint is ignored) and log its attempt
/// (`ok`, or `cached` for a kept one), inside the caller's transaction.
pub async fn keep_ai(conn: &mut super::Conn, k: &AiKeep) -> Result<()> {
    if let Some(answer) = &k.answer {
        sqlx::query(
            "INSERT INTO ai_results (fingerprint, feature, answer, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (fingerprint) DO NOTHING",
        )
        .bind(&k.fingerprint)
        .bind(k.feature.as_str())
        .bind(answer)
        .bind(k.at)
        .execute(&mut *conn)
        .await?;
    }
    let a = Attempt {
        feature: k.feature,
        lead: k.lead,
        call: k.call,
        fingerprint: &k.fingerprint,
        outcome: if k.answer.is_some() { AttemptOutcome::Ok } else { AttemptOutcome::Cached },
        error: None,
        ms: k.ms,
        at: k.at,
    };
    insert_attempt(conn, &a).await
}

async fn insert_attempt(conn: &mut super::Conn, a: &Attempt<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO ai_attempts (feature, lead_id, call_id, fingerprint, outcome, error, ms, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(a.feature.as_str())
    .bind(a.lead.map(|l| l.0))
    .bind(a.call.map(|c| c.0))
    .bind(a.fingerprint)
    .bind(a.outcome.as_str())
    .bind(a.error)
    .bind(a.ms)
    .bind(a.at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Keep a lead's hot score (replacing the one before), inside the caller's transaction.
pub async fn set_hot_score(
    conn: &mut super::Conn,
    lead: LeadId,
    s: &HotScore,
    fingerprint: &str,
    now: i64,
) -> Result<()> {
    let reasons = serde_json::to_string(&s.reasons).expect("a list of texts serialises");
    sqlx::query(
        "INSERT INTO lead_scores (lead_id, score, reasons, fingerprint, scored_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (lead_id) DO UPDATE SET score = excluded.score, reasons = excluded.reasons,
             fingerprint = excluded.fingerprint, scored_at = excluded.scored_at",
    )
    .bind(lead.0)
    .bind(i64::from(s.score))
    .bind(reasons)
    .bind(fingerprint)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A message of a lead's conversation, as AI reads it.
#[derive(Debug, Clone)]
pub struct SaidLine {
    /// `customer`, `manager`, `bot` or `note`.
    pub who: &'static str,
    pub kind: String,
    pub text: Option<String>,
    pub at: i64,
}

impl Store {
    /// The newest `limit` messages of a lead's conversation, oldest first.
    pub async fn conversation(&self, lead: LeadId, limit: i64) -> Result<Vec<SaidLine>> {
        let rows = sqlx::query(&format!(
            "SELECT direction, kind, body, user_id, sent_at FROM messages
             WHERE lead_id = $1 AND direction IN ('incoming', 'outgoing')
             ORDER BY id DESC LIMIT {limit}"
        ))
        .bind(lead.0)
        .fetch_all(self.reader())
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                let direction: String = col(r, "direction")?;
                let user: Option<i64> = col(r, "user_id")?;
                let who = match (direction.as_str(), user) {
                    ("incoming", _) => "customer",
                    (_, Some(_)) => "manager",
                    _ => "bot",
                };
                Ok(SaidLine { who, kind: col(r, "kind")?, text: col(r, "body")?, at: col(r, "sent_at")? })
            })
            .collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    /// A lead's first-response times (business seconds), oldest first.
    pub async fn reply_secs(&self, lead: LeadId) -> Result<Vec<i64>> {
        let rows = sqlx::query("SELECT business_secs FROM reply_times WHERE lead_id = $1 ORDER BY replied_at")
            .bind(lead.0)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(|r| col(r, "business_secs")).collect()
    }
}

/// A call's transcript.
#[derive(Debug, Clone)]
pub struct TranscriptRow {
    pub text: String,
    pub language: Option<String>,
    pub posted_message: Option<i64>,
}

/// Keep a call's transcript (the first one stays).
pub async fn insert_transcript(
    conn: &mut super::Conn,
    call: CallId,
    text: &str,
    language: Option<&str>,
    fingerprint: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO call_transcripts (call_id, text, language, fingerprint, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (call_id) DO NOTHING",
    )
    .bind(call.0)
    .bind(text)
    .bind(language)
    .bind(fingerprint)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Keep the AI's evaluation of a call (replacing an earlier one, e.g. against an older script).
pub async fn set_evaluation(
    conn: &mut super::Conn,
    call: CallId,
    script_version: i64,
    check: &crate::domain::ai::ScriptCheck,
    fingerprint: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO ai_evaluations (call_id, script_version, score, needs_person, body, fingerprint, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (call_id) DO UPDATE SET script_version = excluded.script_version, score = excluded.score,
             needs_person = excluded.needs_person, body = excluded.body, fingerprint = excluded.fingerprint,
             created_at = excluded.created_at",
    )
    .bind(call.0)
    .bind(script_version)
    .bind(i64::from(check.score))
    .bind(i64::from(check.needs_a_person()))
    .bind(serde_json::to_string(check).expect("an evaluation serialises"))
    .bind(fingerprint)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    pub async fn transcript(&self, call: CallId) -> Result<Option<TranscriptRow>> {
        let r = sqlx::query("SELECT text, language, posted_message FROM call_transcripts WHERE call_id = $1")
            .bind(call.0)
            .fetch_optional(self.reader())
            .await?;
        r.map(|r| {
            Ok(TranscriptRow {
                text: col(&r, "text")?,
                language: col(&r, "language")?,
                posted_message: col(&r, "posted_message")?,
            })
        })
        .transpose()
    }

    pub async fn set_transcript_posted(&self, call: CallId, message: i32) -> Result<()> {
        sqlx::query("UPDATE call_transcripts SET posted_message = $2 WHERE call_id = $1")
            .bind(call.0)
            .bind(i64::from(message))
            .execute(&mut *self.write().await?)
            .await?;
        Ok(())
    }

    /// The AI's evaluation of a call: the script version it was made against, and it.
    pub async fn evaluation(&self, call: CallId) -> Result<Option<(i64, crate::domain::ai::ScriptCheck)>> {
        let r = sqlx::query("SELECT script_version, body FROM ai_evaluations WHERE call_id = $1")
            .bind(call.0)
            .fetch_optional(self.reader())
            .await?;
        let Some(r) = r else { return Ok(None) };
        let body: String = col(&r, "body")?;
        // Written by an older release in another shape: as if there were none.
        Ok(serde_json::from_str(&body).ok().map(|c| (col::<i64>(&r, "script_version").unwrap_or(0), c)))
    }

    /// The transcripts of a lead's calls, oldest first: (call, started at, text).
    pub async fn lead_transcripts(&self, lead: LeadId) -> Result<Vec<(CallId, i64, String)>> {
        let rows = sqlx::query(
            "SELECT t.call_id, k.started_at, t.text FROM call_transcripts t JOIN calls k ON k.id = t.call_id
             WHERE k.lead_id = $1 ORDER BY k.started_at",
        )
        .bind(lead.0)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(|r| Ok((CallId(col(r, "call_id")?), col(r, "started_at")?, col(r, "text")?))).collect()
    }
}

/// A reply draft's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DraftState {
    /// Asked for; the model has not answered yet.
    Asked,
    /// In the topic with 📤 Send and ✖ Discard.
    Ready,
    Sent,
    Discarded,
    /// No draft came (the reason is kept).
    Failed,
}

impl DraftState {
    pub fn as_str(self) -> &'static str {
        match self {
            DraftState::Asked => "asked",
            DraftState::Ready => "ready",
            DraftState::Sent => "sent",
            DraftState::Discarded => "discarded",
            DraftState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<DraftState> {
        [DraftState::Asked, DraftState::Ready, DraftState::Sent, DraftState::Discarded, DraftState::Failed]
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| super::StoreError::Corrupt(format!("unknown draft state {s}")))
    }
}

#[derive(Debug, Clone)]
pub struct DraftRow {
    pub id: i64,
    pub lead: LeadId,
    pub asked_by: crate::domain::UserId,
    pub state: DraftState,
    pub text: Option<String>,
    pub error: Option<String>,
    pub chat: Option<i64>,
    pub message: Option<i32>,
    pub decided_by: Option<crate::domain::UserId>,
}

pub async fn insert_draft(conn: &mut super::Conn, lead: LeadId, user: crate::domain::UserId, now: i64) -> Result<i64> {
    let r = sqlx::query(
        "INSERT INTO ai_drafts (lead_id, asked_by, state, created_at, updated_at) VALUES ($1, $2, 'asked', $3, $3) RETURNING id",
    )
    .bind(lead.0)
    .bind(user.0)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    col(&r, "id")
}

/// Move a draft from `from` to `to` (with the deciding person); false if it was not in `from`
/// (a second press, or a press on a draft already decided).
pub async fn move_draft(
    conn: &mut super::Conn,
    id: i64,
    from: DraftState,
    to: DraftState,
    by: Option<crate::domain::UserId>,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE ai_drafts SET state = $3, decided_by = COALESCE($4, decided_by), updated_at = $5 WHERE id = $1 AND state = $2",
    )
    .bind(id)
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(by.map(|u| u.0))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn draft_in_tx(conn: &mut super::Conn, id: i64) -> Result<Option<DraftRow>> {
    let r = sqlx::query(DRAFT_SELECT).bind(id).fetch_optional(&mut *conn).await?;
    r.as_ref().map(draft_from).transpose()
}

const DRAFT_SELECT: &str =
    "SELECT id, lead_id, asked_by, state, text, error, chat_id, message_id, decided_by FROM ai_drafts WHERE id = $1";

fn draft_from(r: &sqlx::any::AnyRow) -> Result<DraftRow> {
    Ok(DraftRow {
        id: col(r, "id")?,
        lead: LeadId(col(r, "lead_id")?),
        asked_by: crate::domain::UserId(col(r, "asked_by")?),
        state: DraftState::parse(&col::<String>(r, "state")?)?,
        text: col(r, "text")?,
        error: col(r, "error")?,
        chat: col(r, "chat_id")?,
        message: col::<Option<i64>>(r, "message_id")?.map(|m| m as i32),
        decided_by: col::<Option<i64>>(r, "decided_by")?.map(crate::domain::UserId),
    })
}

/// Keep a lead's intent and language suggestion (replacing the one before).
pub async fn set_suggestion(
    conn: &mut super::Conn,
    lead: LeadId,
    g: &crate::domain::ai::IntentGuess,
    fingerprint: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO lead_suggestions (lead_id, intent, language, fingerprint, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (lead_id) DO UPDATE SET intent = excluded.intent, language = excluded.language,
             fingerprint = excluded.fingerprint, created_at = excluded.created_at",
    )
    .bind(lead.0)
    .bind(&g.intent)
    .bind(g.language.as_deref())
    .bind(fingerprint)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A person set the lead's intent from the suggestion: inside their transaction, the lead's
/// intent (only while it has none) and the suggestion gone. The topic says who (a notice).
pub async fn apply_intent(conn: &mut super::Conn, lead: LeadId, intent: &str, now: i64) -> Result<bool> {
    let r = sqlx::query("UPDATE leads SET intent = $2, updated_at = $3 WHERE id = $1 AND intent IS NULL")
        .bind(lead.0)
        .bind(intent)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    if r.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM lead_suggestions WHERE lead_id = $1").bind(lead.0).execute(&mut *conn).await?;
    Ok(true)
}

impl Store {
    pub async fn draft(&self, id: i64) -> Result<Option<DraftRow>> {
        let r = sqlx::query(DRAFT_SELECT).bind(id).fetch_optional(self.reader()).await?;
        r.as_ref().map(draft_from).transpose()
    }

    /// The model's draft (or why none came): `asked` → `ready` or `failed`.
    pub async fn set_draft_text(&self, id: i64, text: std::result::Result<&str, &str>, now: i64) -> Result<()> {
        let (state, text, error) = match text {
            Ok(t) => ("ready", Some(t), None),
            Err(e) => ("failed", None, Some(e)),
        };
        sqlx::query(
            "UPDATE ai_drafts SET state = $2, text = $3, error = $4, updated_at = $5 WHERE id = $1 AND state = 'asked'",
        )
        .bind(id)
        .bind(state)
        .bind(text)
        .bind(error)
        .bind(now)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(())
    }

    pub async fn set_draft_message(&self, id: i64, chat: i64, message: i32) -> Result<()> {
        sqlx::query("UPDATE ai_drafts SET chat_id = $2, message_id = $3 WHERE id = $1")
            .bind(id)
            .bind(chat)
            .bind(i64::from(message))
            .execute(&mut *self.write().await?)
            .await?;
        Ok(())
    }

    pub async fn suggestion(&self, lead: LeadId) -> Result<Option<crate::domain::ai::IntentGuess>> {
        let r = sqlx::query("SELECT intent, language FROM lead_suggestions WHERE lead_id = $1")
            .bind(lead.0)
            .fetch_optional(self.reader())
            .await?;
        r.map(|r| Ok(crate::domain::ai::IntentGuess { intent: col(&r, "intent")?, language: col(&r, "language")? }))
            .transpose()
    }
}

impl Store {
    /// Leads whose newest customer message (between `from` and `cutoff`) is later than their AI
    /// mark: the sweep's work, at most `limit`, with whether each still lacks an intent. Read
    /// outside the transaction that marks them, so that SQLite's write gate is not held while
    /// the leads are searched (a second sweep that reads the same leads meanwhile finds their
    /// score jobs pending: one per lead).
    pub async fn ai_due_leads(&self, from: i64, cutoff: i64, limit: i64) -> Result<Vec<(LeadId, i64, bool)>> {
        let rows = sqlx::query(&format!(
            "SELECT l.id, l.last_message_at, l.intent FROM leads l LEFT JOIN ai_marks m ON m.lead_id = l.id
             WHERE l.last_message_at > $1 AND l.last_message_at <= $2 AND l.is_open = 1
               AND (m.upto IS NULL OR m.upto < l.last_message_at)
             ORDER BY l.last_message_at LIMIT {limit}"
        ))
        .bind(from)
        .bind(cutoff)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((LeadId(col(r, "id")?), col(r, "last_message_at")?, col::<Option<String>>(r, "intent")?.is_none()))
            })
            .collect()
    }
}

/// Mark a lead's messages up to `upto` as handed to AI.
pub async fn mark_ai(conn: &mut super::Conn, lead: LeadId, upto: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO ai_marks (lead_id, upto) VALUES ($1, $2)
         ON CONFLICT (lead_id) DO UPDATE SET upto = CASE WHEN excluded.upto > ai_marks.upto THEN excluded.upto ELSE ai_marks.upto END",
    )
    .bind(lead.0)
    .bind(upto)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
