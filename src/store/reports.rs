//! What the reporting page and the digests read: a period's leads and stage moves, calls,
//! replies, tasks and reviews by person, stuck leads, the vehicle stock, the filtered lead
//! list and one lead's timeline. Rows only; the figures are `domain::report`'s.
//!
//! `only` restricts every read to one owner's leads (a manager's own view).

use super::{col, Result, Store};
use crate::domain::{CustomerId, LeadId, Stage, UserId};
use sqlx::any::AnyRow;
use std::collections::HashMap;

/// A lead created in the period.
#[derive(Debug, Clone)]
pub struct PeriodLead {
    pub id: LeadId,
    pub created_at: i64,
    pub channel: String,
    pub owner: Option<UserId>,
    pub stage: Stage,
    pub lost_reason: Option<String>,
    pub first_response_secs: Option<i64>,
}

/// A lead moved into a stage.
#[derive(Debug, Clone)]
pub struct StageMove {
    pub lead: LeadId,
    pub stage: Stage,
    pub owner: Option<UserId>,
}

/// A missed call still waiting for its callback.
#[derive(Debug, Clone)]
pub struct MissedCall {
    pub lead: Option<LeadId>,
    pub owner: Option<UserId>,
}

/// Per person: replies, calls answered and missed, overdue tasks, review scores.
#[derive(Debug, Clone, Default)]
pub struct PersonFigures {
    pub replies: i64,
    pub answered: i64,
    pub missed: i64,
    pub overdue: i64,
    pub score_sum: i64,
    pub scored: i64,
}

/// Where a call lead came from: the call pool and UTM of its first call.
#[derive(Debug, Clone)]
pub struct CallSource {
    pub lead: LeadId,
    pub pool: Option<String>,
    pub utm_source: Option<String>,
    pub utm_campaign: Option<String>,
}

/// A vehicle's status and stock dates.
#[derive(Debug, Clone)]
pub struct StockRow {
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A row of the lead list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ListLead {
    pub id: i64,
    pub customer: String,
    pub channel: String,
    pub stage: String,
    pub owner: Option<String>,
    #[serde(skip)]
    pub owner_id: Option<UserId>,
    pub created_at: i64,
    pub stage_since: i64,
    pub last_message_at: Option<i64>,
    pub first_response_secs: Option<i64>,
    pub lost_reason: Option<String>,
}

/// Which leads a list shows. Every condition narrows.
#[derive(Debug, Clone, Default)]
pub struct LeadFilter {
    /// A manager's own view: only leads they own.
    pub only: Option<UserId>,
    pub stage: Option<Stage>,
    pub owner: Option<UserId>,
    /// Leads nobody owns.
    pub unowned: bool,
    /// `telegram`, `viber`, `whatsapp`, `call`, `email`, `web`.
    pub channel: Option<String>,
    /// Created in `[from, to)`.
    pub created: Option<(i64, i64)>,
    /// Part of the customer's name.
    pub name: Option<String>,
    /// Entered `sold` in `[from, to)`.
    pub sold: Option<(i64, i64)>,
    /// Reached this pipeline stage or a later one (the funnel's step).
    pub reached: Option<Stage>,
    /// Lost for this reason (`""`: none given).
    pub lost_reason: Option<String>,
    /// Open and in their stage since before the instant given per stage.
    pub stuck: Option<Vec<(Stage, i64)>>,
    /// With a missed call in `[from, to)` whose callback is still open.
    pub missed: Option<(i64, i64)>,
    /// Answered first by staff (true) or still never answered (false).
    pub responded: Option<bool>,
    /// Whose first call came through this call pool (`""`: none named).
    pub pool: Option<String>,
    /// Whose first call carried this `utm_source` (`""`: none).
    pub utm: Option<String>,
    /// List those longest in their stage first (else the newest lead first).
    pub oldest_in_stage: bool,
}

/// One bind value of a built query.
#[derive(Debug, Clone)]
enum Arg {
    I(i64),
    S(String),
}

/// SQL text with `$n` parameters, built piece by piece.
#[derive(Debug, Default)]
struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }

    fn query(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for a in &self.args {
            q = match a {
                Arg::I(i) => q.bind(*i),
                Arg::S(s) => q.bind(s.clone()),
            };
        }
        q
    }
}

/// `'a', 'b'` of stages (their names are fixed words, never input).
fn stage_list(stages: impl IntoIterator<Item = Stage>) -> String {
    stages.into_iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ")
}

fn stage_of(row: &AnyRow, name: &str) -> Result<Stage> {
    let s: String = col(row, name)?;
    Stage::parse(&s).ok_or_else(|| super::StoreError::Corrupt(format!("{name}: unknown stage `{s}`")))
}

fn user_of(row: &AnyRow, name: &str) -> Result<Option<UserId>> {
    Ok(col::<Option<i64>>(row, name)?.map(UserId))
}

/// `AND l.owner_id = $n` when the view is one owner's.
fn only_clause(sql: &mut Sql, only: Option<UserId>) -> String {
    match only {
        Some(u) => format!(" AND l.owner_id = {}", sql.arg(Arg::I(u.0))),
        None => String::new(),
    }
}

/// Escape `%`, `_` and `\` for LIKE … ESCAPE '\'.
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// The spellings a name search tries: as typed, lower case and capitalised. (SQLite folds
/// case for ASCII only; Cyrillic names are found written either way.)
fn name_spellings(q: &str) -> Vec<String> {
    let lower = q.to_lowercase();
    let mut cap = String::new();
    for (i, w) in lower.split(' ').enumerate() {
        if i > 0 {
            cap.push(' ');
        }
        let mut ch = w.chars();
        if let Some(f) = ch.next() {
            cap.extend(f.to_uppercase());
            cap.push_str(ch.as_str());
        }
    }
    let mut v = vec![q.to_string(), lower, cap];
    v.dedup();
    v.sort();
    v.dedup();
    v
}

const LIST_COLS: &str =
    "l.id, c.name AS customer, l.source_channel, l.stage, u.name AS owner_name, l.owner_id, l.created_at,
    COALESCE(l.stage_since, l.created_at) AS stage_since, l.last_message_at, l.first_response_secs, l.lost_reason";

fn list_lead(row: &AnyRow) -> Result<ListLead> {
    Ok(ListLead {
        id: col(row, "id")?,
        customer: col(row, "customer")?,
        channel: col(row, "source_channel")?,
        stage: col(row, "stage")?,
        owner: col(row, "owner_name")?,
        owner_id: user_of(row, "owner_id")?,
        created_at: col(row, "created_at")?,
        stage_since: col(row, "stage_since")?,
        last_message_at: col(row, "last_message_at")?,
        first_response_secs: col(row, "first_response_secs")?,
        lost_reason: col(row, "lost_reason")?,
    })
}

/// The `FROM … WHERE …` of a filtered lead list; `count`: only what counting needs (the
/// customer joined only for a name, the owner not at all).
fn list_where(f: &LeadFilter, count: bool) -> Sql {
    let mut sql = Sql::default();
    let mut w = vec!["1 = 1".to_string()];
    if let Some(u) = f.only {
        w.push(format!("l.owner_id = {}", sql.arg(Arg::I(u.0))));
    }
    if let Some(s) = f.stage {
        w.push(format!("l.stage = '{}'", s.as_str()));
    }
    if let Some(u) = f.owner {
        w.push(format!("l.owner_id = {}", sql.arg(Arg::I(u.0))));
    }
    if f.unowned {
        w.push("l.owner_id IS NULL".into());
    }
    if let Some(ch) = &f.channel {
        w.push(format!("l.source_channel = {}", sql.arg(Arg::S(ch.clone()))));
    }
    if let Some((a, b)) = f.created {
        let (a, b) = (sql.arg(Arg::I(a)), sql.arg(Arg::I(b)));
        w.push(format!("l.created_at >= {a} AND l.created_at < {b}"));
    }
    if let Some(n) = f.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        let ors: Vec<String> = name_spellings(n)
            .into_iter()
            .map(|s| format!("c.name LIKE {} ESCAPE '\\'", sql.arg(Arg::S(format!("%{}%", like_escape(&s))))))
            .collect();
        w.push(format!("({})", ors.join(" OR ")));
    }
    if let Some((a, b)) = f.sold {
        let (a, b) = (sql.arg(Arg::I(a)), sql.arg(Arg::I(b)));
        w.push(format!(
            "EXISTS (SELECT 1 FROM lead_history h WHERE h.lead_id = l.id AND h.field = 'stage'
             AND h.to_value = 'sold' AND h.at >= {a} AND h.at < {b})"
        ));
    }
    if let Some(r) = f.reached.filter(|s| s.rank().is_some()) {
        let later = stage_list(crate::domain::report::PIPELINE.into_iter().filter(|s| *s >= r));
        w.push(format!(
            "(l.stage IN ({later}) OR EXISTS (SELECT 1 FROM lead_history h WHERE h.lead_id = l.id
             AND h.field = 'stage' AND h.to_value IN ({later})))"
        ));
    }
    if let Some(reason) = &f.lost_reason {
        if reason.is_empty() {
            w.push("(l.lost_reason IS NULL OR TRIM(l.lost_reason) = '')".into());
        } else {
            w.push(format!("l.lost_reason = {}", sql.arg(Arg::S(reason.clone()))));
        }
    }
    if let Some(stuck) = &f.stuck {
        let mut ors = Vec::new();
        for (stage, before) in stuck {
            let b = sql.arg(Arg::I(*before));
            // Written so the (is_open, stage, stage_since) index answers it.
            ors.push(format!(
                "(l.stage = '{}' AND (l.stage_since < {b} OR (l.stage_since IS NULL AND l.created_at < {b})))",
                stage.as_str()
            ));
        }
        if ors.is_empty() {
            ors.push("1 = 0".into());
        }
        w.push(format!("l.is_open = 1 AND ({})", ors.join(" OR ")));
    }
    if let Some((a, b)) = f.missed {
        let (a, b) = (sql.arg(Arg::I(a)), sql.arg(Arg::I(b)));
        w.push(format!(
            "EXISTS (SELECT 1 FROM calls k JOIN tasks t ON t.call_id = k.id AND t.state = 'open'
             WHERE k.lead_id = l.id AND k.missed = 1 AND k.started_at >= {a} AND k.started_at < {b})"
        ));
    }
    match f.responded {
        Some(true) => w.push("l.first_response_at IS NOT NULL".into()),
        Some(false) => w.push("l.first_response_at IS NULL".into()),
        None => {}
    }
    for (column, value) in [("pool_name", &f.pool), ("utm_source", &f.utm)] {
        if let Some(v) = value {
            let v = sql.arg(Arg::S(v.clone()));
            w.push(format!(
                "l.source_channel = 'call' AND COALESCE((SELECT k.{column} FROM calls k WHERE k.lead_id = l.id
                 ORDER BY k.started_at, k.id LIMIT 1), '') = {v}"
            ));
        }
    }
    let from = match (count, f.name.is_some()) {
        (true, false) => " FROM leads l",
        (true, true) => " FROM leads l JOIN customers c ON c.id = l.customer_id",
        _ => " FROM leads l JOIN customers c ON c.id = l.customer_id LEFT JOIN users u ON u.id = l.owner_id",
    };
    sql.text = format!("{from} WHERE {}", w.join(" AND "));
    sql
}

/// One lead's timeline parts, each in time order; the web merges them.
#[derive(Debug, Clone, Default)]
pub struct TimelineRows {
    pub messages: Vec<TimelineMessage>,
    pub calls: Vec<TimelineCall>,
    pub tasks: Vec<TimelineTask>,
    pub history: Vec<TimelineChange>,
}

#[derive(Debug, Clone)]
pub struct TimelineMessage {
    pub id: i64,
    pub at: i64,
    pub channel: String,
    pub direction: String,
    pub kind: String,
    pub body: Option<String>,
    pub author: Option<String>,
    /// Said by the bot's flows.
    pub by_bot: bool,
    pub media: Option<(i64, Option<String>, Option<String>)>,
    pub delivery: Option<String>,
    pub delivery_error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TimelineCall {
    pub id: i64,
    pub at: i64,
    pub direction: String,
    pub disposition: String,
    pub missed: bool,
    pub talk_s: Option<i64>,
    pub wait_s: Option<i64>,
    pub who: Option<String>,
    pub recording: Option<i64>,
    pub recording_state: String,
    pub pool: Option<String>,
    pub scores: Vec<i64>,
    /// The AI's transcript and its script check's score (advice), when there are.
    pub transcript: Option<String>,
    pub ai_score: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct TimelineTask {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    pub title: String,
    pub who: Option<String>,
    pub due_at: Option<i64>,
    pub state: String,
    pub done_at: Option<i64>,
    pub done_by: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TimelineChange {
    pub id: i64,
    pub at: i64,
    pub field: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub reason: Option<String>,
    pub actor: Option<String>,
}

/// A customer seen whole: their identities (never a number) and every lead.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Customer360 {
    pub id: i64,
    pub name: String,
    pub language: Option<String>,
    pub do_not_contact: bool,
    pub identities: Vec<(String, Option<String>, Option<i64>)>,
    /// The last two digits of each phone known for them.
    pub phone_tails: Vec<String>,
    pub leads: Vec<ListLead>,
}

/// The lead page's head: who, where, the topic.
#[derive(Debug, Clone)]
pub struct LeadHead {
    pub lead: ListLead,
    pub customer: CustomerId,
    pub owner: Option<UserId>,
    pub intent: Option<String>,
    pub staff_chat: Option<i64>,
    pub thread: Option<i64>,
}

impl Store {
    /// Leads created in `[from, to)`.
    pub async fn report_leads(&self, from: i64, to: i64, only: Option<UserId>) -> Result<Vec<PeriodLead>> {
        let mut sql = Sql::default();
        let (a, b) = (sql.arg(Arg::I(from)), sql.arg(Arg::I(to)));
        let o = only_clause(&mut sql, only);
        sql.text = format!(
            "SELECT l.id, l.created_at, l.source_channel, l.owner_id, l.stage, l.lost_reason, l.first_response_secs
             FROM leads l WHERE l.created_at >= {a} AND l.created_at < {b}{o}"
        );
        let rows = sql.query().fetch_all(self.reader()).await?;
        rows.iter()
            .map(|r| {
                Ok(PeriodLead {
                    id: LeadId(col(r, "id")?),
                    created_at: col(r, "created_at")?,
                    channel: col(r, "source_channel")?,
                    owner: user_of(r, "owner_id")?,
                    stage: stage_of(r, "stage")?,
                    lost_reason: col(r, "lost_reason")?,
                    first_response_secs: col(r, "first_response_secs")?,
                })
            })
            .collect()
    }

    /// The furthest pipeline stage each lead created in `[from, to)` was ever moved to (leads
    /// never moved are left out). One row per lead, the stage as its rank, so the database
    /// does the folding.
    pub async fn report_stage_moves(&self, from: i64, to: i64, only: Option<UserId>) -> Result<Vec<StageMove>> {
        let mut sql = Sql::default();
        let (a, b) = (sql.arg(Arg::I(from)), sql.arg(Arg::I(to)));
        let o = only_clause(&mut sql, only);
        let rank: String = crate::domain::report::PIPELINE
            .iter()
            .enumerate()
            .map(|(i, s)| format!(" WHEN '{}' THEN {i}", s.as_str()))
            .collect();
        sql.text = format!(
            // One index lookup per lead of the period, (lead_id, id) into its history: both
            // engines otherwise like to walk every stage change there is.
            "SELECT l.id AS lead_id, l.owner_id, (SELECT MAX(CASE h.to_value{rank} ELSE -1 END) FROM lead_history h
                WHERE h.lead_id = l.id AND h.field = 'stage') AS furthest
             FROM leads l WHERE l.created_at >= {a} AND l.created_at < {b}{o}"
        );
        let rows = sql.query().fetch_all(self.reader()).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let rank: Option<i64> = col(r, "furthest")?;
            if let Some(stage) =
                rank.and_then(|r| usize::try_from(r).ok()).and_then(|i| crate::domain::report::PIPELINE.get(i))
            {
                out.push(StageMove { lead: LeadId(col(r, "lead_id")?), stage: *stage, owner: user_of(r, "owner_id")? });
            }
        }
        Ok(out)
    }

    /// The leads that entered `sold` in `[from, to)`, each once.
    pub async fn report_sold(&self, from: i64, to: i64, only: Option<UserId>) -> Result<Vec<StageMove>> {
        self.report_entered(Stage::Sold, from, to, only).await
    }

    /// The leads that entered `stage` in `[from, to)`, each once.
    pub async fn report_entered(
        &self,
        stage: Stage,
        from: i64,
        to: i64,
        only: Option<UserId>,
    ) -> Result<Vec<StageMove>> {
        let mut sql = Sql::default();
        let (a, b) = (sql.arg(Arg::I(from)), sql.arg(Arg::I(to)));
        let o = only_clause(&mut sql, only);
        sql.text = format!(
            "SELECT DISTINCT h.lead_id, h.to_value, l.owner_id FROM lead_history h JOIN leads l ON l.id = h.lead_id
             WHERE h.field = 'stage' AND h.to_value = '{}' AND h.at >= {a} AND h.at < {b}{o}",
            stage.as_str()
        );
        self.stage_moves(&sql).await
    }

    /// The lost reasons of leads, by id.
    pub async fn lost_reasons(&self, leads: &[LeadId]) -> Result<HashMap<LeadId, Option<String>>> {
        if leads.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!("SELECT id, lost_reason FROM leads WHERE id IN ({})", super::params(0, leads.len()));
        let mut q = sqlx::query(&sql);
        for l in leads {
            q = q.bind(l.0);
        }
        let rows = q.fetch_all(self.reader()).await?;
        rows.iter().map(|r| Ok((LeadId(col(r, "id")?), col(r, "lost_reason")?))).collect()
    }

    async fn stage_moves(&self, sql: &Sql) -> Result<Vec<StageMove>> {
        let rows = sql.query().fetch_all(self.reader()).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            // A stage no longer known (an old value) is skipped, not fatal.
            if let Some(stage) = Stage::parse(&col::<String>(r, "to_value")?) {
                out.push(StageMove { lead: LeadId(col(r, "lead_id")?), stage, owner: user_of(r, "owner_id")? });
            }
        }
        Ok(out)
    }

    /// Missed calls in `[from, to)` whose callback task is still open.
    pub async fn report_missed_open(&self, from: i64, to: i64, only: Option<UserId>) -> Result<Vec<MissedCall>> {
        let mut sql = Sql::default();
        let (a, b) = (sql.arg(Arg::I(from)), sql.arg(Arg::I(to)));
        let o = only_clause(&mut sql, only);
        sql.text = format!(
            "SELECT DISTINCT k.id, k.lead_id, l.owner_id FROM calls k JOIN tasks t ON t.call_id = k.id AND t.state = 'open'
             LEFT JOIN leads l ON l.id = k.lead_id
             WHERE k.missed = 1 AND k.started_at >= {a} AND k.started_at < {b}{o}"
        );
        let rows = sql.query().fetch_all(self.reader()).await?;
        rows.iter()
            .map(|r| {
                Ok(MissedCall { lead: col::<Option<i64>>(r, "lead_id")?.map(LeadId), owner: user_of(r, "owner_id")? })
            })
            .collect()
    }

    /// Replies, calls, overdue tasks (at `now`) and review scores per person in `[from, to)`.
    /// A call or task nobody took counts for the lead's owner.
    pub async fn report_people(&self, from: i64, to: i64, now: i64) -> Result<HashMap<UserId, PersonFigures>> {
        let mut by: HashMap<UserId, PersonFigures> = HashMap::new();
        let rows = sqlx::query(
            "SELECT user_id, COUNT(*) AS n FROM reply_times WHERE replied_at >= $1 AND replied_at < $2
             AND user_id IS NOT NULL GROUP BY user_id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.reader())
        .await?;
        for r in &rows {
            by.entry(UserId(col(r, "user_id")?)).or_default().replies = col(r, "n")?;
        }
        let rows = sqlx::query(
            "SELECT COALESCE(k.user_id, l.owner_id) AS who, k.missed, COUNT(*) AS n FROM calls k
             LEFT JOIN leads l ON l.id = k.lead_id
             WHERE k.started_at >= $1 AND k.started_at < $2 AND k.disposition NOT IN ('calling', 'in_progress')
             GROUP BY COALESCE(k.user_id, l.owner_id), k.missed",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.reader())
        .await?;
        for r in &rows {
            let Some(who) = user_of(r, "who")? else { continue };
            let n: i64 = col(r, "n")?;
            let e = by.entry(who).or_default();
            if col::<i64>(r, "missed")? == 1 {
                e.missed += n;
            } else {
                e.answered += n;
            }
        }
        let rows = sqlx::query(
            "SELECT COALESCE(t.user_id, l.owner_id) AS who, COUNT(*) AS n FROM tasks t JOIN leads l ON l.id = t.lead_id
             WHERE t.state = 'open' AND t.due_at < $1 GROUP BY COALESCE(t.user_id, l.owner_id)",
        )
        .bind(now)
        .fetch_all(self.reader())
        .await?;
        for r in &rows {
            if let Some(who) = user_of(r, "who")? {
                by.entry(who).or_default().overdue = col(r, "n")?;
            }
        }
        let rows = sqlx::query(
            "SELECT COALESCE(k.user_id, l.owner_id) AS who, CAST(SUM(v.score) AS BIGINT) AS total, COUNT(*) AS n
             FROM call_reviews v JOIN calls k ON k.id = v.call_id LEFT JOIN leads l ON l.id = k.lead_id
             WHERE v.state = 'done' AND v.score IS NOT NULL AND v.finished_at >= $1 AND v.finished_at < $2
             GROUP BY COALESCE(k.user_id, l.owner_id)",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.reader())
        .await?;
        for r in &rows {
            if let Some(who) = user_of(r, "who")? {
                let e = by.entry(who).or_default();
                e.score_sum = col(r, "total")?;
                e.scored = col(r, "n")?;
            }
        }
        Ok(by)
    }

    /// The first call of each lead created in `[from, to)` that came by phone.
    pub async fn report_call_sources(&self, from: i64, to: i64, only: Option<UserId>) -> Result<Vec<CallSource>> {
        let mut sql = Sql::default();
        let (a, b) = (sql.arg(Arg::I(from)), sql.arg(Arg::I(to)));
        let o = only_clause(&mut sql, only);
        sql.text = format!(
            "SELECT k.lead_id, k.pool_name, k.utm_source, k.utm_campaign FROM calls k JOIN leads l ON l.id = k.lead_id
             WHERE l.created_at >= {a} AND l.created_at < {b} AND l.source_channel = 'call'{o}
             ORDER BY k.lead_id, k.started_at, k.id"
        );
        let rows = sql.query().fetch_all(self.reader()).await?;
        let mut out: Vec<CallSource> = Vec::new();
        for r in &rows {
            let lead = LeadId(col(r, "lead_id")?);
            if out.last().is_some_and(|s| s.lead == lead) {
                continue;
            }
            out.push(CallSource {
                lead,
                pool: col(r, "pool_name")?,
                utm_source: col(r, "utm_source")?,
                utm_campaign: col(r, "utm_campaign")?,
            });
        }
        Ok(out)
    }

    /// Every vehicle's status and stock dates.
    pub async fn report_stock(&self) -> Result<Vec<StockRow>> {
        let rows = sqlx::query("SELECT status, created_at, updated_at FROM vehicles").fetch_all(self.reader()).await?;
        rows.iter()
            .map(|r| {
                Ok(StockRow {
                    status: col(r, "status")?,
                    created_at: col(r, "created_at")?,
                    updated_at: col(r, "updated_at")?,
                })
            })
            .collect()
    }

    /// How many leads the filter finds.
    pub async fn lead_count(&self, f: &LeadFilter) -> Result<i64> {
        let mut sql = list_where(f, true);
        sql.text = format!("SELECT COUNT(*) AS n{}", sql.text);
        col(&sql.query().fetch_one(self.reader()).await?, "n")
    }

    /// A page of the filtered lead list, newest first.
    pub async fn lead_list(&self, f: &LeadFilter, offset: i64, limit: i64) -> Result<Vec<ListLead>> {
        let mut sql = list_where(f, false);
        let (lim, off) = (sql.arg(Arg::I(limit)), sql.arg(Arg::I(offset)));
        let order = if f.oldest_in_stage { "l.stage_since ASC NULLS FIRST, l.id" } else { "l.id DESC" };
        sql.text = format!("SELECT {LIST_COLS}{} ORDER BY {order} LIMIT {lim} OFFSET {off}", sql.text);
        let rows = sql.query().fetch_all(self.reader()).await?;
        rows.iter().map(list_lead).collect()
    }

    /// The whole filtered list, newest first, sent row by row into `tx` as the database
    /// reads it (the CSV export streams it; nothing is held in memory). Stops early, without
    /// error, when the receiver is gone.
    pub async fn lead_list_into(&self, f: &LeadFilter, tx: tokio::sync::mpsc::Sender<ListLead>) -> Result<()> {
        use futures_util::TryStreamExt;
        let mut sql = list_where(f, false);
        sql.text = format!("SELECT {LIST_COLS}{} ORDER BY l.id DESC", sql.text);
        let mut rows = sql.query().fetch(self.reader());
        while let Some(r) = rows.try_next().await? {
            if tx.send(list_lead(&r)?).await.is_err() {
                break;
            }
        }
        Ok(())
    }

    /// A lead's head for its page.
    pub async fn lead_head(&self, lead: LeadId) -> Result<Option<LeadHead>> {
        let row = sqlx::query(&format!(
            "SELECT {LIST_COLS}, l.customer_id, l.intent, l.staff_chat_id, l.topic_thread_id
             FROM leads l JOIN customers c ON c.id = l.customer_id LEFT JOIN users u ON u.id = l.owner_id
             WHERE l.id = $1"
        ))
        .bind(lead.0)
        .fetch_optional(self.reader())
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(LeadHead {
            lead: list_lead(&r)?,
            customer: CustomerId(col(&r, "customer_id")?),
            owner: user_of(&r, "owner_id")?,
            intent: col(&r, "intent")?,
            staff_chat: col(&r, "staff_chat_id")?,
            thread: col(&r, "topic_thread_id")?,
        }))
    }

    /// Everything that happened on a lead.
    pub async fn timeline(&self, lead: LeadId) -> Result<TimelineRows> {
        let mut t = TimelineRows::default();
        let rows = sqlx::query(
            "SELECT m.id, m.sent_at, m.channel, m.direction, m.kind, m.body, u.name AS author, m.extra,
                    m.media_id, md.original_name, md.mime, m.delivery, m.delivery_error, m.user_id
             FROM messages m LEFT JOIN users u ON u.id = m.user_id LEFT JOIN media md ON md.id = m.media_id
             WHERE m.lead_id = $1 ORDER BY m.sent_at, m.id",
        )
        .bind(lead.0)
        .fetch_all(self.reader())
        .await?;
        for r in &rows {
            let direction: String = col(r, "direction")?;
            let extra: Option<String> = col(r, "extra")?;
            let by_bot = direction == "outgoing"
                && col::<Option<i64>>(r, "user_id")?.is_none()
                && extra.as_deref().is_some_and(|e| e.contains("\"flow\""));
            t.messages.push(TimelineMessage {
                id: col(r, "id")?,
                at: col(r, "sent_at")?,
                channel: col(r, "channel")?,
                direction,
                kind: col(r, "kind")?,
                body: col(r, "body")?,
                author: col(r, "author")?,
                by_bot,
                media: match col::<Option<i64>>(r, "media_id")? {
                    Some(id) => Some((id, col(r, "original_name")?, col(r, "mime")?)),
                    None => None,
                },
                delivery: col(r, "delivery")?,
                delivery_error: col(r, "delivery_error")?,
            });
        }
        let rows = sqlx::query(
            "SELECT k.id, k.started_at, k.direction, k.disposition, k.missed, k.billsec, k.wait_s,
                    COALESCE(u.name, k.employee_name) AS who, k.recording_media_id, k.recording_state, k.pool_name,
                    t.text AS transcript, e.score AS ai_score
             FROM calls k LEFT JOIN users u ON u.id = k.user_id
                  LEFT JOIN call_transcripts t ON t.call_id = k.id LEFT JOIN ai_evaluations e ON e.call_id = k.id
             WHERE k.lead_id = $1 ORDER BY k.started_at, k.id",
        )
        .bind(lead.0)
        .fetch_all(self.reader())
        .await?;
        for r in &rows {
            t.calls.push(TimelineCall {
                id: col(r, "id")?,
                at: col(r, "started_at")?,
                direction: col(r, "direction")?,
                disposition: col(r, "disposition")?,
                missed: col::<i64>(r, "missed")? == 1,
                talk_s: col(r, "billsec")?,
                wait_s: col(r, "wait_s")?,
                who: col(r, "who")?,
                recording: col(r, "recording_media_id")?,
                recording_state: col(r, "recording_state")?,
                pool: col(r, "pool_name")?,
                scores: Vec::new(),
                transcript: col(r, "transcript")?,
                ai_score: col(r, "ai_score")?,
            });
        }
        let rows = sqlx::query(
            "SELECT v.call_id, v.score FROM call_reviews v JOIN calls k ON k.id = v.call_id
             WHERE k.lead_id = $1 AND v.state = 'done' AND v.score IS NOT NULL ORDER BY v.id",
        )
        .bind(lead.0)
        .fetch_all(self.reader())
        .await?;
        for r in &rows {
            let call: i64 = col(r, "call_id")?;
            if let Some(c) = t.calls.iter_mut().find(|c| c.id == call) {
                c.scores.push(col(r, "score")?);
            }
        }
        let rows = sqlx::query(
            "SELECT t.id, t.created_at, t.kind, t.title, u.name AS who, t.due_at, t.state, t.done_at, d.name AS done_by
             FROM tasks t LEFT JOIN users u ON u.id = t.user_id LEFT JOIN users d ON d.id = t.done_by
             WHERE t.lead_id = $1 ORDER BY t.created_at, t.id",
        )
        .bind(lead.0)
        .fetch_all(self.reader())
        .await?;
        for r in &rows {
            t.tasks.push(TimelineTask {
                id: col(r, "id")?,
                at: col(r, "created_at")?,
                kind: col(r, "kind")?,
                title: col(r, "title")?,
                who: col(r, "who")?,
                due_at: col(r, "due_at")?,
                state: col(r, "state")?,
                done_at: col(r, "done_at")?,
                done_by: col(r, "done_by")?,
            });
        }
        let rows = sqlx::query(
            "SELECT h.id, h.at, h.field, h.from_value, h.to_value, h.reason, u.name AS actor
             FROM lead_history h LEFT JOIN users u ON u.id = h.actor_id WHERE h.lead_id = $1 ORDER BY h.at, h.id",
        )
        .bind(lead.0)
        .fetch_all(self.reader())
        .await?;
        for r in &rows {
            t.history.push(TimelineChange {
                id: col(r, "id")?,
                at: col(r, "at")?,
                field: col(r, "field")?,
                from: col(r, "from_value")?,
                to: col(r, "to_value")?,
                reason: col(r, "reason")?,
                actor: col(r, "actor")?,
            });
        }
        Ok(t)
    }

    /// Everyone's name by id (the timeline's owner changes keep ids).
    pub async fn people_names(&self) -> Result<HashMap<i64, String>> {
        let rows = sqlx::query("SELECT id, name FROM users").fetch_all(self.reader()).await?;
        rows.iter().map(|r| Ok((col(r, "id")?, col(r, "name")?))).collect()
    }

    /// A customer's identities (channel and display name, never the external id, which is a
    /// phone number on WhatsApp), phone tails and every lead.
    pub async fn customer_360(&self, customer: CustomerId) -> Result<Option<Customer360>> {
        let Some(c) = sqlx::query("SELECT id, name, language, do_not_contact FROM customers WHERE id = $1")
            .bind(customer.0)
            .fetch_optional(self.reader())
            .await?
        else {
            return Ok(None);
        };
        let rows = sqlx::query(
            "SELECT channel, display_name, last_inbound_at FROM customer_identities WHERE customer_id = $1 ORDER BY id",
        )
        .bind(customer.0)
        .fetch_all(self.reader())
        .await?;
        let identities = rows
            .iter()
            .map(|r| Ok((col(r, "channel")?, col(r, "display_name")?, col(r, "last_inbound_at")?)))
            .collect::<Result<Vec<_>>>()?;
        let rows = sqlx::query("SELECT tail FROM customer_phones WHERE customer_id = $1 ORDER BY tail")
            .bind(customer.0)
            .fetch_all(self.reader())
            .await?;
        let phone_tails = rows.iter().map(|r| col(r, "tail")).collect::<Result<Vec<String>>>()?;
        let rows = sqlx::query(&format!(
            "SELECT {LIST_COLS} FROM leads l JOIN customers c ON c.id = l.customer_id LEFT JOIN users u ON u.id = l.owner_id
             WHERE l.customer_id = $1 ORDER BY l.id DESC"
        ))
        .bind(customer.0)
        .fetch_all(self.reader())
        .await?;
        let leads = rows.iter().map(list_lead).collect::<Result<Vec<_>>>()?;
        Ok(Some(Customer360 {
            id: col(&c, "id")?,
            name: col(&c, "name")?,
            language: col(&c, "language")?,
            do_not_contact: col::<i64>(&c, "do_not_contact")? == 1,
            identities,
            phone_tails,
            leads,
        }))
    }
}

impl Store {
    /// When the first digest of this installation was claimed, if any was.
    pub async fn first_digest_at(&self) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar::<_, Option<i64>>("SELECT MIN(created_at) FROM digests").fetch_one(self.reader()).await?)
    }
}

/// Claim a digest's period: true the first time (the caller sends it), false after.
pub async fn claim_digest(
    conn: &mut super::Conn,
    key: &str,
    kind: &str,
    due_at: i64,
    recipients: i64,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO digests (period_key, kind, due_at, recipients, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (period_key) DO NOTHING",
    )
    .bind(key)
    .bind(kind)
    .bind(due_at)
    .bind(recipients)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_searched_as_typed_lower_and_capitalised() {
        assert_eq!(name_spellings("олена"), vec!["Олена".to_string(), "олена".to_string()]);
        assert_eq!(name_spellings("Max P"), vec!["Max P".to_string(), "max p".to_string()]);
        assert_eq!(like_escape("50%_a\\"), "50\\%\\_a\\\\");
    }
}
