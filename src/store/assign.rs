//! What assignment reads and writes: the managers who might get a lead (with their open
//! leads counted), their shift and work settings, a lead's previous owner, the leads the
//! timers look at, and the response times.

use super::leads::insert_history;
use super::{col, Conn, Result, Store};
use crate::domain::{CustomerId, LeadId, UserId};

/// A manager as assignment sees them.
#[derive(Debug, Clone)]
pub struct ManagerRow {
    pub id: UserId,
    pub telegram_id: i64,
    pub name: String,
    pub hours: Option<String>,
    pub max_open: Option<u32>,
    pub skills: Vec<String>,
    pub leave_until: Option<i64>,
    /// `/shift on` (true) or off, and the local date it was said for.
    pub shift: Option<(bool, String)>,
    pub last_assigned_at: Option<i64>,
    pub open: u32,
}

/// Active managers with their open leads.
pub async fn managers(conn: &mut Conn) -> Result<Vec<ManagerRow>> {
    let rows = sqlx::query(
        "SELECT u.id, u.telegram_id, u.name, u.hours, u.max_open, u.skills, u.leave_until, u.shift_on, u.shift_day,
                u.last_assigned_at,
                (SELECT COUNT(*) FROM leads l WHERE l.owner_id = u.id AND l.is_open = 1) AS open_leads
         FROM users u WHERE u.active = 1 AND u.role = 'manager' ORDER BY u.id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let skills: String = col(r, "skills")?;
        let shift = match (col::<Option<i64>>(r, "shift_on")?, col::<Option<String>>(r, "shift_day")?) {
            (Some(on), Some(day)) => Some((on == 1, day)),
            _ => None,
        };
        out.push(ManagerRow {
            id: UserId(col(r, "id")?),
            telegram_id: col(r, "telegram_id")?,
            name: col(r, "name")?,
            hours: col(r, "hours")?,
            max_open: col::<Option<i64>>(r, "max_open")?.map(|m| m.max(0) as u32),
            skills: skills.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
            leave_until: col(r, "leave_until")?,
            shift,
            last_assigned_at: col(r, "last_assigned_at")?,
            open: col::<i64>(r, "open_leads")?.max(0) as u32,
        });
    }
    Ok(out)
}

/// The owner of the customer's most recent other lead created since `since`, if any.
pub async fn previous_owner(conn: &mut Conn, customer: CustomerId, lead: LeadId, since: i64) -> Result<Option<UserId>> {
    let row = sqlx::query(
        "SELECT owner_id FROM leads WHERE customer_id = $1 AND id <> $2 AND owner_id IS NOT NULL AND created_at >= $3
         ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(customer.0)
    .bind(lead.0)
    .bind(since)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| Ok(UserId(col(&r, "owner_id")?))).transpose()
}

/// Give the lead to `to` (by assignment: the history row has no acting user). `from` is
/// the owner it is taken from, if any. Returns false when the lead changed meanwhile.
pub async fn assign_owner(
    conn: &mut Conn,
    lead: LeadId,
    from: Option<UserId>,
    to: UserId,
    silence_due_at: Option<i64>,
    why: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE leads SET owner_id = $2, assigned_at = $3, assign_noticed_at = NULL, silence_due_at = $4, updated_at = $3
         WHERE id = $1 AND is_open = 1 AND (owner_id = $5 OR (owner_id IS NULL AND $5 = 0))",
    )
    .bind(lead.0)
    .bind(to.0)
    .bind(now)
    .bind(silence_due_at)
    .bind(from.map(|u| u.0).unwrap_or(0))
    .execute(&mut *conn)
    .await?;
    if r.rows_affected() != 1 {
        return Ok(false);
    }
    let f = from.map(|u| u.0.to_string());
    insert_history(conn, lead, None, "owner", f.as_deref(), Some(&to.0.to_string()), Some(why), now).await?;
    sqlx::query("UPDATE users SET last_assigned_at = $2 WHERE id = $1")
        .bind(to.0)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2")
        .bind(LAST_TURN)
        .bind(to.0.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

/// Who got the last lead by assignment (round robin's turn).
const LAST_TURN: &str = "assignment.last_turn";

pub async fn last_turn(conn: &mut Conn) -> Result<Option<UserId>> {
    let v: Option<String> =
        sqlx::query_scalar("SELECT value FROM kv WHERE key = $1").bind(LAST_TURN).fetch_optional(&mut *conn).await?;
    Ok(v.and_then(|v| v.parse().ok()).map(UserId))
}

/// The silence timer looked at the lead: no further look; or (`moved`) it moved the lead
/// once, and the new owner's timer (set by the move) only alerts.
pub async fn silence_done(conn: &mut Conn, lead: LeadId, moved: bool) -> Result<()> {
    let sql = if moved {
        "UPDATE leads SET silence_moved = 1 WHERE id = $1"
    } else {
        "UPDATE leads SET silence_due_at = NULL WHERE id = $1"
    };
    sqlx::query(sql).bind(lead.0).execute(&mut *conn).await?;
    Ok(())
}

/// Start the silence timer of a lead (its first customer message, no owner yet).
pub async fn set_silence_due(conn: &mut Conn, lead: LeadId, due: i64) -> Result<()> {
    sqlx::query("UPDATE leads SET silence_due_at = $2 WHERE id = $1 AND first_response_at IS NULL")
        .bind(lead.0)
        .bind(due)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Leads the silence timer is due to look at.
pub async fn silent_leads(conn: &mut Conn, now: i64, limit: i64) -> Result<Vec<LeadId>> {
    let rows = sqlx::query(
        "SELECT id FROM leads WHERE silence_due_at <= $1 AND is_open = 1 AND first_response_at IS NULL
         ORDER BY silence_due_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok(LeadId(col(r, "id")?))).collect()
}

/// Open leads nobody owns that assignment has not placed yet, oldest first.
pub async fn unplaced_leads(conn: &mut Conn, limit: i64) -> Result<Vec<LeadId>> {
    let rows = sqlx::query(
        "SELECT id FROM leads WHERE owner_id IS NULL AND is_open = 1 AND assigned_at IS NULL
         ORDER BY created_at, id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok(LeadId(col(r, "id")?))).collect()
}

pub async fn mark_assign_noticed(conn: &mut Conn, lead: LeadId, now: i64) -> Result<()> {
    sqlx::query("UPDATE leads SET assign_noticed_at = $2 WHERE id = $1")
        .bind(lead.0)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A staff member answered the lead (a reply, or an answered call). When a customer was
/// waiting, the wait is kept (`reply_times`, in business seconds from `secs`), the first
/// one also on the lead, and the timers stop. Returns the seconds when it was the first.
pub async fn record_response(
    conn: &mut Conn,
    lead: LeadId,
    user: UserId,
    how: &str,
    now: i64,
    secs: impl Fn(i64, i64) -> i64,
) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT waiting_since, first_response_at FROM leads WHERE id = $1")
        .bind(lead.0)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let Some(since) = col::<Option<i64>>(&row, "waiting_since")? else { return Ok(None) };
    let first = col::<Option<i64>>(&row, "first_response_at")?.is_none();
    let business = secs(since, now);
    sqlx::query(
        "INSERT INTO reply_times (lead_id, user_id, asked_at, replied_at, business_secs, first, how)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(lead.0)
    .bind(user.0)
    .bind(since)
    .bind(now)
    .bind(business)
    .bind(i64::from(first))
    .bind(how)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE leads SET waiting_since = NULL, reply_alerted_at = NULL, reply_escalated_at = NULL, silence_due_at = NULL,
             first_response_at = COALESCE(first_response_at, $2),
             first_response_secs = COALESCE(first_response_secs, $3)
         WHERE id = $1",
    )
    .bind(lead.0)
    .bind(now)
    .bind(business)
    .execute(&mut *conn)
    .await?;
    Ok(first.then_some(business))
}

/// `/shift on|off` for the local date `day`.
pub async fn set_shift(conn: &mut Conn, user: UserId, on: bool, day: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE users SET shift_on = $2, shift_day = $3, updated_at = $4 WHERE id = $1")
        .bind(user.0)
        .bind(i64::from(on))
        .bind(day)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The bot handed the lead over: before any staff answer, the customer's wait (the
/// first-response time) counts from now.
pub async fn handed_over(conn: &mut Conn, lead: LeadId, now: i64) -> Result<()> {
    sqlx::query("UPDATE leads SET waiting_since = $2 WHERE id = $1 AND first_response_at IS NULL")
        .bind(lead.0)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A lead whose customer waits for a later answer.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub lead: LeadId,
    pub since: i64,
}

/// Leads with a customer waiting since before `before` (after a first response), oldest
/// first: not yet alerted (`escalate` false), or alerted and not yet escalated.
pub async fn waiting_leads(conn: &mut Conn, before: i64, escalate: bool, limit: i64) -> Result<Vec<Waiting>> {
    let step = if escalate {
        "reply_alerted_at IS NOT NULL AND reply_escalated_at IS NULL"
    } else {
        "reply_alerted_at IS NULL"
    };
    let rows = sqlx::query(&format!(
        "SELECT id, waiting_since FROM leads WHERE waiting_since <= $1 AND is_open = 1 AND first_response_at IS NOT NULL
             AND {step} ORDER BY waiting_since LIMIT $2"
    ))
    .bind(before)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok(Waiting { lead: LeadId(col(r, "id")?), since: col(r, "waiting_since")? })).collect()
}

pub async fn mark_reply_alerted(conn: &mut Conn, lead: LeadId, escalated: bool, now: i64) -> Result<()> {
    let set = if escalated { "reply_escalated_at" } else { "reply_alerted_at" };
    sqlx::query(&format!("UPDATE leads SET {set} = $2 WHERE id = $1"))
        .bind(lead.0)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Open leads whose owner is disabled or on leave (their leads go back to assignment).
pub async fn leads_of_absent(conn: &mut Conn, now: i64, limit: i64) -> Result<Vec<(LeadId, UserId)>> {
    let rows = sqlx::query(
        "SELECT l.id, l.owner_id FROM leads l JOIN users u ON u.id = l.owner_id
         WHERE l.is_open = 1 AND (u.active = 0 OR u.leave_until > $1) ORDER BY l.id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok((LeadId(col(r, "id")?), UserId(col(r, "owner_id")?)))).collect()
}

/// Take the lead from an absent owner: unowned, to be placed again.
pub async fn release_lead(conn: &mut Conn, lead: LeadId, from: UserId, why: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE leads SET owner_id = NULL, assigned_at = NULL, assign_noticed_at = NULL, updated_at = $3
         WHERE id = $1 AND owner_id = $2 AND is_open = 1",
    )
    .bind(lead.0)
    .bind(from.0)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if r.rows_affected() != 1 {
        return Ok(false);
    }
    insert_history(conn, lead, None, "owner", Some(&from.0.to_string()), None, Some(why), now).await?;
    Ok(true)
}

/// Owned open leads in `stage` since before `before`, without a follow-up for this stay.
pub async fn stale_leads(
    conn: &mut Conn,
    stage: crate::domain::Stage,
    before: i64,
    limit: i64,
) -> Result<Vec<(LeadId, UserId, i64)>> {
    let rows = sqlx::query(
        "SELECT id, owner_id, COALESCE(stage_since, created_at) AS since FROM leads
         WHERE is_open = 1 AND owner_id IS NOT NULL AND stage = $1 AND COALESCE(stage_since, created_at) <= $2
             AND (followed_up_for IS NULL OR followed_up_for <> COALESCE(stage_since, created_at))
         ORDER BY id LIMIT $3",
    )
    .bind(stage.as_str())
    .bind(before)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok((LeadId(col(r, "id")?), UserId(col(r, "owner_id")?), col(r, "since")?))).collect()
}

pub async fn mark_followed_up(conn: &mut Conn, lead: LeadId, since: i64) -> Result<()> {
    sqlx::query("UPDATE leads SET followed_up_for = $2 WHERE id = $1")
        .bind(lead.0)
        .bind(since)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// `/team`'s figures: overdue open tasks per user, and the first responses since `since`
/// (business seconds) per user.
pub async fn team_figures(
    conn: &mut Conn,
    now: i64,
    since: i64,
) -> Result<(std::collections::HashMap<UserId, i64>, std::collections::HashMap<UserId, Vec<i64>>)> {
    let mut overdue = std::collections::HashMap::new();
    let rows = sqlx::query(
        "SELECT user_id, COUNT(*) AS n FROM tasks WHERE state = 'open' AND user_id IS NOT NULL AND due_at < $1
         GROUP BY user_id",
    )
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    for r in &rows {
        overdue.insert(UserId(col(r, "user_id")?), col::<i64>(r, "n")?);
    }
    let mut firsts: std::collections::HashMap<UserId, Vec<i64>> = std::collections::HashMap::new();
    let rows = sqlx::query(
        "SELECT user_id, business_secs FROM reply_times WHERE first = 1 AND replied_at >= $1 AND user_id IS NOT NULL",
    )
    .bind(since)
    .fetch_all(&mut *conn)
    .await?;
    for r in &rows {
        firsts.entry(UserId(col(r, "user_id")?)).or_default().push(col(r, "business_secs")?);
    }
    Ok((overdue, firsts))
}

/// A user's assignment settings, for `forecourt users list`.
#[derive(Debug, Clone)]
pub struct WorkRow {
    pub user: UserId,
    pub hours: Option<String>,
    pub max_open: Option<i64>,
    pub skills: String,
    pub leave_until: Option<i64>,
}

/// Why the silence timer moved a lead, as its history row says (`silence: …`).
pub const SILENCE_REASON: &str = "silence: ";

impl Store {
    /// When the lead's current owner came by the silence timer: the reason shown on its card.
    pub async fn owner_note(&self, lead: LeadId) -> Result<Option<String>> {
        let reason: Option<Option<String>> = sqlx::query_scalar(
            "SELECT reason FROM lead_history WHERE lead_id = $1 AND field = 'owner' ORDER BY id DESC LIMIT 1",
        )
        .bind(lead.0)
        .fetch_optional(self.reader())
        .await?;
        Ok(reason.flatten().and_then(|r| r.strip_prefix(SILENCE_REASON).map(str::to_string)))
    }

    /// Every user's assignment settings.
    pub async fn work_settings(&self) -> Result<Vec<WorkRow>> {
        let rows = sqlx::query("SELECT id, hours, max_open, skills, leave_until FROM users ORDER BY id")
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(WorkRow {
                    user: UserId(col(r, "id")?),
                    hours: col(r, "hours")?,
                    max_open: col(r, "max_open")?,
                    skills: col(r, "skills")?,
                    leave_until: col(r, "leave_until")?,
                })
            })
            .collect()
    }

    /// Active managers with their open leads, for the owner menu and `/team`.
    pub async fn managers_open(&self) -> Result<Vec<(UserId, String, u32)>> {
        let mut c = self.reader().acquire().await?;
        Ok(managers(&mut c).await?.into_iter().map(|m| (m.id, m.name, m.open)).collect())
    }

    /// A manager's work settings (`users add --hours --max-open --skills --leave-until`);
    /// `None` leaves one as it is, `Some(None)` clears it.
    pub async fn set_work(
        &self,
        user: UserId,
        hours: Option<Option<&str>>,
        max_open: Option<Option<u32>>,
        skills: Option<&[String]>,
        leave_until: Option<Option<i64>>,
        now: i64,
    ) -> Result<()> {
        let mut w = self.write().await?;
        if let Some(h) = hours {
            sqlx::query("UPDATE users SET hours = $2 WHERE id = $1").bind(user.0).bind(h).execute(&mut *w).await?;
        }
        if let Some(m) = max_open {
            sqlx::query("UPDATE users SET max_open = $2 WHERE id = $1")
                .bind(user.0)
                .bind(m.map(i64::from))
                .execute(&mut *w)
                .await?;
        }
        if let Some(s) = skills {
            sqlx::query("UPDATE users SET skills = $2 WHERE id = $1")
                .bind(user.0)
                .bind(s.join(","))
                .execute(&mut *w)
                .await?;
        }
        if let Some(l) = leave_until {
            sqlx::query("UPDATE users SET leave_until = $2 WHERE id = $1")
                .bind(user.0)
                .bind(l)
                .execute(&mut *w)
                .await?;
        }
        sqlx::query("UPDATE users SET updated_at = $2 WHERE id = $1").bind(user.0).bind(now).execute(&mut *w).await?;
        Ok(())
    }

    /// The first thing the customer wrote on the lead (its text or caption), for the owner's
    /// notice.
    pub async fn first_customer_text(&self, lead: LeadId) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT body FROM messages WHERE lead_id = $1 AND direction = 'incoming' AND body IS NOT NULL
             ORDER BY id LIMIT 1",
        )
        .bind(lead.0)
        .fetch_optional(self.reader())
        .await?
        .flatten())
    }

    /// The lead's first response in business seconds, once there was one.
    pub async fn first_response_secs(&self, lead: LeadId) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT first_response_secs FROM leads WHERE id = $1")
            .bind(lead.0)
            .fetch_optional(self.reader())
            .await?
            .flatten())
    }
}
