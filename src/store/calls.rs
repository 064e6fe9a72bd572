//! Calls, customers' phone identities (hashes only) and tasks. One call is one row keyed on
//! (provider, provider's id); its events update it by the rule in `domain::call::merge`.

use super::leads::insert_history;
use super::{col, conflict, Conn, Result, Store, StoreError};
use crate::domain::call::{CallDirection, CallEvent, Disposition, Provider, RecordingState, Stored};
use crate::domain::phone::{Caller, PhoneHash};
use crate::domain::{CallId, CustomerId, LeadId, MediaId, TaskId, UserId};
use sqlx::any::AnyRow;

/// A stored call, with what its topic message shows.
#[derive(Debug, Clone)]
pub struct CallRow {
    pub id: CallId,
    pub provider: Provider,
    pub external_id: String,
    pub lead: Option<LeadId>,
    pub customer: Option<CustomerId>,
    pub user: Option<UserId>,
    pub user_name: Option<String>,
    pub direction: CallDirection,
    pub caller_hash: Option<PhoneHash>,
    pub caller_tail: Option<String>,
    pub disposition: Disposition,
    pub missed: bool,
    pub started_at: i64,
    pub duration_s: Option<i64>,
    pub billsec: Option<i64>,
    pub wait_s: Option<i64>,
    pub recording_url: Option<String>,
    pub recording_state: RecordingState,
    pub recording_media: Option<MediaId>,
    pub recording_error: Option<String>,
    pub employee_ext: Option<String>,
    pub employee_name: Option<String>,
    pub pool_name: Option<String>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub card_url: Option<String>,
    pub staff_chat_id: Option<i64>,
    pub staff_message_id: Option<i32>,
    pub version: i64,
    pub rendered_version: i64,
}

impl CallRow {
    pub fn stored(&self) -> Stored {
        Stored {
            disposition: self.disposition,
            billsec: self.billsec,
            duration_s: self.duration_s,
            wait_s: self.wait_s,
            recording_url: self.recording_url.clone(),
            employee_ext: self.employee_ext.clone(),
        }
    }

    pub fn answered(&self) -> bool {
        !self.disposition.is_live() && !self.missed && self.billsec.unwrap_or(0) > 0
    }
}

const CALL_SELECT: &str = "SELECT c.*, u.name AS user_name FROM calls c LEFT JOIN users u ON u.id = c.user_id";

fn corrupt(what: &str, v: &str) -> StoreError {
    StoreError::Corrupt(format!("unknown {what} {v}"))
}

fn call_from(r: &AnyRow) -> Result<CallRow> {
    let provider: String = col(r, "provider")?;
    let direction: String = col(r, "direction")?;
    let disposition: String = col(r, "disposition")?;
    let rec: String = col(r, "recording_state")?;
    Ok(CallRow {
        id: CallId(col(r, "id")?),
        provider: Provider::parse(&provider).ok_or_else(|| corrupt("provider", &provider))?,
        external_id: col(r, "external_id")?,
        lead: col::<Option<i64>>(r, "lead_id")?.map(LeadId),
        customer: col::<Option<i64>>(r, "customer_id")?.map(CustomerId),
        user: col::<Option<i64>>(r, "user_id")?.map(UserId),
        user_name: col(r, "user_name")?,
        direction: CallDirection::parse(&direction).ok_or_else(|| corrupt("direction", &direction))?,
        caller_hash: col::<Option<String>>(r, "caller_hash")?.map(PhoneHash),
        caller_tail: col(r, "caller_tail")?,
        disposition: Disposition::parse(&disposition).ok_or_else(|| corrupt("disposition", &disposition))?,
        missed: col::<i64>(r, "missed")? == 1,
        started_at: col(r, "started_at")?,
        duration_s: col(r, "duration_s")?,
        billsec: col(r, "billsec")?,
        wait_s: col(r, "wait_s")?,
        recording_url: col(r, "recording_url")?,
        recording_state: RecordingState::parse(&rec).ok_or_else(|| corrupt("recording state", &rec))?,
        recording_media: col::<Option<i64>>(r, "recording_media_id")?.map(MediaId),
        recording_error: col(r, "recording_error")?,
        employee_ext: col(r, "employee_ext")?,
        employee_name: col(r, "employee_name")?,
        pool_name: col(r, "pool_name")?,
        utm_source: col(r, "utm_source")?,
        utm_medium: col(r, "utm_medium")?,
        utm_campaign: col(r, "utm_campaign")?,
        card_url: col(r, "card_url")?,
        staff_chat_id: col(r, "staff_chat_id")?,
        staff_message_id: col::<Option<i64>>(r, "staff_message_id")?.map(|v| v as i32),
        version: col(r, "version")?,
        rendered_version: col(r, "rendered_version")?,
    })
}

/// The call a provider's id names, read inside the caller's transaction (locked on
/// PostgreSQL, so two events of one call are applied one after the other).
pub async fn call_by_key(
    conn: &mut Conn,
    provider: Provider,
    external_id: &str,
    lock: bool,
) -> Result<Option<CallRow>> {
    // SQLite has no row locks (its write transaction is the lock).
    let lock = if lock && conn.backend_name() == "PostgreSQL" { " FOR UPDATE OF c" } else { "" };
    let sql = format!("{CALL_SELECT} WHERE c.provider = $1 AND c.external_id = $2{lock}");
    let row = sqlx::query(&sql).bind(provider.as_str()).bind(external_id).fetch_optional(&mut *conn).await?;
    row.as_ref().map(call_from).transpose()
}

pub async fn call_in_tx(conn: &mut Conn, id: CallId) -> Result<Option<CallRow>> {
    let row = sqlx::query(&format!("{CALL_SELECT} WHERE c.id = $1")).bind(id.0).fetch_optional(&mut *conn).await?;
    row.as_ref().map(call_from).transpose()
}

/// Where a new call belongs.
#[derive(Debug, Clone, Copy)]
pub struct CallLink {
    pub lead: Option<LeadId>,
    pub customer: Option<CustomerId>,
    pub user: Option<UserId>,
}

/// Store a call the first time one of its events arrives. `Conflict` when another request
/// stored it first (the caller then applies its event as an update).
pub async fn insert_call(conn: &mut Conn, ev: &CallEvent, link: CallLink, now: i64) -> Result<CallId> {
    let row = sqlx::query(
        "INSERT INTO calls (provider, external_id, lead_id, customer_id, user_id, direction, caller_hash, caller_tail,
             disposition, raw_disposition, missed, started_at, duration_s, billsec, wait_s, recording_url,
             employee_ext, employee_name, department, pool_name, utm_source, utm_medium, utm_campaign, card_url,
             created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
             $22, $23, $24, $25, $25)
         RETURNING id",
    )
    .bind(ev.provider.as_str())
    .bind(&ev.external_id)
    .bind(link.lead.map(|l| l.0))
    .bind(link.customer.map(|c| c.0))
    .bind(link.user.map(|u| u.0))
    .bind(ev.direction.as_str())
    .bind(ev.caller.as_ref().map(|c| c.hash.0.clone()))
    .bind(ev.caller.as_ref().map(|c| c.tail.clone()))
    .bind(ev.disposition.as_str())
    .bind(ev.raw_disposition.as_deref())
    .bind(i64::from(ev.missed()))
    .bind(ev.started_at)
    .bind(ev.duration_s)
    .bind(ev.billsec)
    .bind(ev.wait_s)
    .bind(ev.recording_url.as_deref())
    .bind(ev.employee_ext.as_deref())
    .bind(ev.employee_name.as_deref())
    .bind(ev.department.as_deref())
    .bind(ev.source.pool.as_deref())
    .bind(ev.source.utm_source.as_deref())
    .bind(ev.source.utm_medium.as_deref())
    .bind(ev.source.utm_campaign.as_deref())
    .bind(ev.card_url.as_deref())
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(conflict)?;
    Ok(CallId(col(&row, "id")?))
}

/// Apply a later event (the merge rule said so): what it brings replaces what is stored,
/// what it lacks is kept; the topic message's version moves on.
pub async fn update_call(conn: &mut Conn, id: CallId, ev: &CallEvent, user: Option<UserId>, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE calls SET disposition = $2, raw_disposition = $3, missed = $4,
             duration_s = COALESCE($5, duration_s), billsec = COALESCE($6, billsec), wait_s = COALESCE($7, wait_s),
             recording_url = COALESCE($8, recording_url), employee_ext = COALESCE($9, employee_ext),
             employee_name = COALESCE($10, employee_name), department = COALESCE($11, department),
             pool_name = COALESCE($12, pool_name), utm_source = COALESCE($13, utm_source),
             utm_medium = COALESCE($14, utm_medium), utm_campaign = COALESCE($15, utm_campaign),
             card_url = COALESCE($16, card_url), user_id = COALESCE($17, user_id),
             caller_hash = COALESCE(caller_hash, $18), caller_tail = COALESCE(caller_tail, $19),
             version = version + 1, updated_at = $20
         WHERE id = $1",
    )
    .bind(id.0)
    .bind(ev.disposition.as_str())
    .bind(ev.raw_disposition.as_deref())
    .bind(i64::from(ev.missed()))
    .bind(ev.duration_s)
    .bind(ev.billsec)
    .bind(ev.wait_s)
    .bind(ev.recording_url.as_deref())
    .bind(ev.employee_ext.as_deref())
    .bind(ev.employee_name.as_deref())
    .bind(ev.department.as_deref())
    .bind(ev.source.pool.as_deref())
    .bind(ev.source.utm_source.as_deref())
    .bind(ev.source.utm_medium.as_deref())
    .bind(ev.source.utm_campaign.as_deref())
    .bind(ev.card_url.as_deref())
    .bind(user.map(|u| u.0))
    .bind(ev.caller.as_ref().map(|c| c.hash.0.clone()))
    .bind(ev.caller.as_ref().map(|c| c.tail.clone()))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The recording's state (and, once kept, its file; or why it could not be), with the
/// topic message's version moved on so the message says so.
pub async fn set_recording(
    conn: &mut Conn,
    id: CallId,
    state: RecordingState,
    media: Option<MediaId>,
    error: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE calls SET recording_state = $2, recording_media_id = COALESCE($3, recording_media_id),
             recording_error = $4, version = version + 1, updated_at = $5
         WHERE id = $1",
    )
    .bind(id.0)
    .bind(state.as_str())
    .bind(media.map(|m| m.0))
    .bind(error)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Keep a downloaded recording: its media row, linked to the call (a repeat returns the
/// row already linked).
pub async fn keep_recording(
    conn: &mut Conn,
    call: &CallRow,
    path: &str,
    sha256: &str,
    size: i64,
    name: &str,
    now: i64,
) -> Result<MediaId> {
    if let Some(m) = call.recording_media {
        return Ok(m);
    }
    let row = sqlx::query(
        "INSERT INTO media (kind, file_path, sha256, size_bytes, original_name, mime, lead_id, customer_id, status,
             created_at, updated_at)
         VALUES ('audio', $1, $2, $3, $4, $5, $6, $7, 'ready', $8, $8) RETURNING id",
    )
    .bind(path)
    .bind(sha256)
    .bind(size)
    .bind(name)
    .bind(crate::domain::media::mime_from_name(name))
    .bind(call.lead.map(|l| l.0))
    .bind(call.customer.map(|c| c.0))
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let id = MediaId(col(&row, "id")?);
    sqlx::query("UPDATE calls SET recording_media_id = $2, updated_at = $3 WHERE id = $1")
        .bind(call.id.0)
        .bind(id.0)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(id)
}

/// The call whose message this is.
pub async fn call_by_message(conn: &mut Conn, chat: i64, message: i32) -> Result<Option<CallRow>> {
    let row = sqlx::query(&format!("{CALL_SELECT} WHERE c.staff_chat_id = $1 AND c.staff_message_id = $2"))
        .bind(chat)
        .bind(message as i64)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(call_from).transpose()
}

/// Whether a lead holds nothing but this call: no message from or to the customer, no
/// other call.
pub async fn lead_holds_only_call(conn: &mut Conn, lead: LeadId, call: CallId) -> Result<bool> {
    let others: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM messages WHERE lead_id = $1 AND direction IN ('incoming', 'outgoing'))
              + (SELECT COUNT(*) FROM calls WHERE lead_id = $1 AND id <> $2)",
    )
    .bind(lead.0)
    .bind(call.0)
    .fetch_one(&mut *conn)
    .await?;
    Ok(others == 0)
}

/// Move a call (and its callback) to another lead and customer; its message is posted
/// afresh in that lead's topic.
pub async fn move_call(conn: &mut Conn, call: CallId, lead: LeadId, customer: CustomerId, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE calls SET lead_id = $2, customer_id = $3, staff_chat_id = NULL, staff_message_id = NULL,
             version = version + 1, rendered_version = 0, updated_at = $4
         WHERE id = $1",
    )
    .bind(call.0)
    .bind(lead.0)
    .bind(customer.0)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE tasks SET lead_id = $2, updated_at = $3 WHERE call_id = $1")
        .bind(call.0)
        .bind(lead.0)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Close a lead that held only a call which staff moved elsewhere: lost, with a history row
/// saying it was a duplicate of `into`.
pub async fn close_as_duplicate(
    conn: &mut Conn,
    lead: LeadId,
    from: crate::domain::Stage,
    into: LeadId,
    actor: UserId,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE leads SET is_open = 0, stage = 'lost', lost_reason = 'other', card_version = card_version + 1,
             updated_at = $2 WHERE id = $1",
    )
    .bind(lead.0)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let why = format!("duplicate of lead #{}: its only call was moved there", into.0);
    insert_history(conn, lead, Some(actor), "stage", Some(from.as_str()), Some("lost"), Some(&why), now).await
}

/// A customer a phone hash belongs to, with their newest open lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneMatch {
    pub customer: CustomerId,
    pub open_lead: Option<LeadId>,
    /// The newest activity of that open lead (or the customer's creation): the most recent
    /// wins when a hash matches several customers.
    pub last_activity: i64,
}

pub async fn customers_by_phone(conn: &mut Conn, hash: &PhoneHash) -> Result<Vec<PhoneMatch>> {
    let rows = sqlx::query(
        "SELECT p.customer_id, c.created_at,
                (SELECT l.id FROM leads l WHERE l.customer_id = p.customer_id AND l.is_open = 1
                  ORDER BY l.id DESC LIMIT 1) AS open_lead,
                (SELECT MAX(COALESCE(l.last_message_at, l.created_at)) FROM leads l
                  WHERE l.customer_id = p.customer_id AND l.is_open = 1) AS active_at
         FROM customer_phones p JOIN customers c ON c.id = p.customer_id
         WHERE p.phone_hash = $1",
    )
    .bind(&hash.0)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let created: i64 = col(&r, "created_at")?;
        out.push(PhoneMatch {
            customer: CustomerId(col(&r, "customer_id")?),
            open_lead: col::<Option<i64>>(&r, "open_lead")?.map(LeadId),
            last_activity: col::<Option<i64>>(&r, "active_at")?.unwrap_or(created),
        });
    }
    Ok(out)
}

/// Give a customer a phone identity (a repeat changes nothing).
pub async fn add_phone(conn: &mut Conn, customer: CustomerId, caller: &Caller, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO customer_phones (phone_hash, customer_id, tail, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
    )
    .bind(&caller.hash.0)
    .bind(customer.0)
    .bind(&caller.tail)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Give the customer behind a messenger identity a phone identity (a WhatsApp id is a
/// number); a repeat changes nothing.
pub async fn add_identity_phone(
    conn: &mut Conn,
    channel: crate::domain::Channel,
    external_id: &str,
    caller: &Caller,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO customer_phones (phone_hash, customer_id, tail, created_at)
         SELECT $1, customer_id, $2, $3 FROM customer_identities WHERE channel = $4 AND external_id = $5
         ON CONFLICT DO NOTHING",
    )
    .bind(&caller.hash.0)
    .bind(&caller.tail)
    .bind(now)
    .bind(channel.as_str())
    .bind(external_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A customer known only by a call (`Caller …67`; staff may rename them later).
pub async fn create_caller(conn: &mut Conn, name: &str, now: i64) -> Result<CustomerId> {
    let row = sqlx::query("INSERT INTO customers (name, created_at, updated_at) VALUES ($1, $2, $2) RETURNING id")
        .bind(name)
        .bind(now)
        .fetch_one(&mut *conn)
        .await?;
    Ok(CustomerId(col(&row, "id")?))
}

/// Open a `new` lead whose source is a call. It has no messenger until the customer writes
/// on one (`last_channel` is `call`).
pub async fn create_call_lead(conn: &mut Conn, customer: CustomerId, now: i64) -> Result<LeadId> {
    let row = sqlx::query(
        "INSERT INTO leads (customer_id, source_channel, last_channel, stage, is_open, last_message_at, created_at, updated_at)
         VALUES ($1, 'call', 'call', 'new', 1, $2, $2, $2) RETURNING id",
    )
    .bind(customer.0)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let id = LeadId(col(&row, "id")?);
    insert_history(conn, id, None, "created", None, Some("new"), None, now).await?;
    Ok(id)
}

/// The active staff member with this PBX extension.
pub async fn user_by_extension(conn: &mut Conn, ext: &str) -> Result<Option<(UserId, String)>> {
    let row = sqlx::query("SELECT id, name FROM users WHERE extension = $1 AND active = 1")
        .bind(ext)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| Ok((UserId(col(&r, "id")?), col(&r, "name")?))).transpose()
}

/// A lead's calls whose message shows a callback (open or done).
pub async fn calls_with_callbacks(conn: &mut Conn, lead: LeadId) -> Result<Vec<CallId>> {
    let rows = sqlx::query(
        "SELECT DISTINCT call_id FROM tasks WHERE lead_id = $1 AND kind = 'callback' AND call_id IS NOT NULL",
    )
    .bind(lead.0)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok(CallId(col(r, "call_id")?))).collect()
}

/// The card's lower lines (last message, last call) are behind: refreshed when the group
/// can spare a send.
/// `waits_from`: the customer now waits for staff from then (a missed call), unless already
/// waiting (the response timers).
pub async fn bump_preview(conn: &mut Conn, lead: LeadId, waits_from: Option<i64>) -> Result<()> {
    match waits_from {
        Some(at) => {
            sqlx::query(
                "UPDATE leads SET preview_version = preview_version + 1, waiting_since = COALESCE(waiting_since, $2)
                 WHERE id = $1",
            )
            .bind(lead.0)
            .bind(at)
            .execute(&mut *conn)
            .await?
        }
        None => {
            sqlx::query("UPDATE leads SET preview_version = preview_version + 1 WHERE id = $1")
                .bind(lead.0)
                .execute(&mut *conn)
                .await?
        }
    };
    Ok(())
}

/// The call's message needs editing.
pub async fn bump_call(conn: &mut Conn, id: CallId, now: i64) -> Result<()> {
    sqlx::query("UPDATE calls SET version = version + 1, updated_at = $2 WHERE id = $1")
        .bind(id.0)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The callback task a call opened, with who closed it.
#[derive(Debug, Clone)]
pub struct CallbackState {
    pub task: TaskId,
    pub due_at: Option<i64>,
    pub open: bool,
    pub done_by: Option<String>,
    pub done_how: Option<String>,
}

pub async fn callback_state(conn: &mut Conn, call: CallId) -> Result<Option<CallbackState>> {
    let row = sqlx::query(
        "SELECT t.id, t.due_at, t.state, t.done_how, u.name AS done_by FROM tasks t LEFT JOIN users u ON u.id = t.done_by
         WHERE t.call_id = $1 AND t.kind = 'callback' ORDER BY t.id DESC LIMIT 1",
    )
    .bind(call.0)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(CallbackState {
            task: TaskId(col(&r, "id")?),
            due_at: col(&r, "due_at")?,
            open: col::<String>(&r, "state")? == "open",
            done_by: col(&r, "done_by")?,
            done_how: col(&r, "done_how")?,
        })
    })
    .transpose()
}

/// A task, as lists and reminders show it.
#[derive(Debug, Clone)]
pub struct TaskRow {
    pub id: TaskId,
    pub lead: LeadId,
    pub kind: String,
    pub user: Option<UserId>,
    pub call: Option<CallId>,
    pub title: String,
    pub due_at: Option<i64>,
    pub open: bool,
    pub customer_name: String,
    pub user_name: Option<String>,
    /// Where the task's own message is (manual and follow-up tasks; a callback is shown
    /// on its call's message).
    pub staff_chat: Option<i64>,
    pub staff_message: Option<i32>,
    /// The lead's topic.
    pub lead_chat: Option<i64>,
    pub lead_thread: Option<i32>,
    /// Who closed it.
    pub done_by_name: Option<String>,
}

/// Whose open tasks to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskFilter {
    Of(UserId),
    Unassigned,
    All,
}

/// A new callback task after a missed call.
pub struct NewCallback<'a> {
    pub lead: LeadId,
    pub user: Option<UserId>,
    pub call: CallId,
    pub caller: Option<&'a PhoneHash>,
    pub title: &'a str,
    pub due_at: i64,
}

pub async fn insert_callback(conn: &mut Conn, t: &NewCallback<'_>, now: i64) -> Result<TaskId> {
    let row = sqlx::query(
        "INSERT INTO tasks (lead_id, kind, user_id, call_id, caller_hash, title, due_at, state, created_at, updated_at)
         VALUES ($1, 'callback', $2, $3, $4, $5, $6, 'open', $7, $7) RETURNING id",
    )
    .bind(t.lead.0)
    .bind(t.user.map(|u| u.0))
    .bind(t.call.0)
    .bind(t.caller.map(|h| h.0.clone()))
    .bind(t.title)
    .bind(t.due_at)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(TaskId(col(&row, "id")?))
}

/// Whether a call already has its callback task (a repeated "missed" event adds none).
pub async fn callback_of(conn: &mut Conn, call: CallId) -> Result<Option<TaskId>> {
    let row = sqlx::query("SELECT id FROM tasks WHERE call_id = $1 AND kind = 'callback'")
        .bind(call.0)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| Ok(TaskId(col(&r, "id")?))).transpose()
}

/// Close open callback tasks: those for this number (a later answered call connected with
/// it) or one by id (the ✅ button). Returns the closed tasks and their leads.
pub async fn close_callbacks(
    conn: &mut Conn,
    caller: Option<&PhoneHash>,
    task: Option<TaskId>,
    by: Option<UserId>,
    how: &str,
    now: i64,
) -> Result<Vec<(TaskId, LeadId)>> {
    // One statement per key, so each finds its rows by its index (an OR would scan).
    const SET: &str = "UPDATE tasks SET state = 'done', done_at = $2, done_by = $3, done_how = $4, updated_at = $2
         WHERE state = 'open' AND kind = 'callback'";
    let mut rows = Vec::new();
    if let Some(h) = caller {
        let q = format!("{SET} AND caller_hash = $1 RETURNING id, lead_id");
        rows.extend(sqlx::query(&q).bind(&h.0).bind(now).bind(by.map(|u| u.0)).bind(how).fetch_all(&mut *conn).await?);
    }
    if let Some(t) = task {
        let q = format!("{SET} AND id = $1 RETURNING id, lead_id");
        rows.extend(sqlx::query(&q).bind(t.0).bind(now).bind(by.map(|u| u.0)).bind(how).fetch_all(&mut *conn).await?);
    }
    let mut closed = Vec::new();
    for r in &rows {
        closed.push((TaskId(col(r, "id")?), LeadId(col(r, "lead_id")?)));
    }
    Ok(closed)
}

pub(super) fn task_from(r: &AnyRow) -> Result<TaskRow> {
    Ok(TaskRow {
        id: TaskId(col(r, "id")?),
        lead: LeadId(col(r, "lead_id")?),
        kind: col(r, "kind")?,
        user: col::<Option<i64>>(r, "user_id")?.map(UserId),
        call: col::<Option<i64>>(r, "call_id")?.map(CallId),
        title: col(r, "title")?,
        due_at: col(r, "due_at")?,
        open: col::<String>(r, "state")? == "open",
        customer_name: col(r, "customer_name")?,
        user_name: col(r, "user_name")?,
        staff_chat: col(r, "staff_chat_id")?,
        staff_message: col::<Option<i64>>(r, "staff_message_id")?.map(|m| m as i32),
        lead_chat: col(r, "lead_chat")?,
        lead_thread: col::<Option<i64>>(r, "lead_thread")?.map(|t| t as i32),
        done_by_name: col(r, "done_by_name")?,
    })
}

pub(super) const TASK_SELECT: &str = "SELECT t.*, c.name AS customer_name, u.name AS user_name,
    l.staff_chat_id AS lead_chat, l.topic_thread_id AS lead_thread, d.name AS done_by_name FROM tasks t
    JOIN leads l ON l.id = t.lead_id JOIN customers c ON c.id = l.customer_id LEFT JOIN users u ON u.id = t.user_id
    LEFT JOIN users d ON d.id = t.done_by";

/// An overdue task to remind of or escalate, with where its lead's topic is and who has it.
#[derive(Debug, Clone)]
pub struct OverdueTask {
    pub task: TaskRow,
    pub chat: Option<i64>,
    pub thread: Option<i32>,
    pub assignee_telegram: Option<i64>,
}

/// Open tasks due before `before` not yet reminded of (`escalate`: reminded, not yet escalated).
pub async fn overdue_tasks(conn: &mut Conn, before: i64, escalate: bool, limit: i64) -> Result<Vec<OverdueTask>> {
    let step = if escalate { "t.reminded_at IS NOT NULL AND t.escalated_at IS NULL" } else { "t.reminded_at IS NULL" };
    let rows = sqlx::query(&format!(
        "SELECT t.*, c.name AS customer_name, u.name AS user_name, u.telegram_id AS assignee_telegram,
                l.staff_chat_id AS lead_chat, l.topic_thread_id AS lead_thread, CAST(NULL AS TEXT) AS done_by_name
         FROM tasks t JOIN leads l ON l.id = t.lead_id JOIN customers c ON c.id = l.customer_id
         LEFT JOIN users u ON u.id = t.user_id
         WHERE t.state = 'open' AND t.due_at IS NOT NULL AND t.due_at <= $1 AND {step}
         ORDER BY t.due_at, t.id LIMIT $2"
    ))
    .bind(before)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(OverdueTask {
                task: task_from(r)?,
                chat: col(r, "lead_chat")?,
                thread: col::<Option<i64>>(r, "lead_thread")?.map(|t| t as i32),
                assignee_telegram: col(r, "assignee_telegram")?,
            })
        })
        .collect()
}

/// The task was reminded of (`escalated`: a supervisor was told).
pub async fn mark_task_nudged(conn: &mut Conn, id: TaskId, escalated: bool, now: i64) -> Result<()> {
    let set = if escalated { "escalated_at" } else { "reminded_at" };
    sqlx::query(&format!("UPDATE tasks SET {set} = $2, updated_at = $2 WHERE id = $1 AND {set} IS NULL"))
        .bind(id.0)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Active supervisors (or, with none, admins): who hears of overdue work.
pub async fn supervisors(conn: &mut Conn) -> Result<Vec<(i64, String)>> {
    let rows = sqlx::query(
        "SELECT telegram_id, name, role FROM users WHERE active = 1 AND role IN ('supervisor', 'admin') ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut sup = Vec::new();
    let mut admins = Vec::new();
    for r in rows {
        let who = (col::<i64>(&r, "telegram_id")?, col::<String>(&r, "name")?);
        if col::<String>(&r, "role")? == "supervisor" {
            sup.push(who);
        } else {
            admins.push(who);
        }
    }
    Ok(if sup.is_empty() { admins } else { sup })
}

/// One task, read inside a transaction.
pub async fn task_in_tx(conn: &mut Conn, id: TaskId) -> Result<Option<TaskRow>> {
    let row = sqlx::query(&format!("{TASK_SELECT} WHERE t.id = $1")).bind(id.0).fetch_optional(&mut *conn).await?;
    row.as_ref().map(task_from).transpose()
}

impl Store {
    pub async fn call(&self, id: CallId) -> Result<Option<CallRow>> {
        let row =
            sqlx::query(&format!("{CALL_SELECT} WHERE c.id = $1")).bind(id.0).fetch_optional(self.reader()).await?;
        row.as_ref().map(call_from).transpose()
    }

    /// The lead's newest call (its card shows it).
    pub async fn last_call_of(&self, lead: LeadId) -> Result<Option<CallRow>> {
        let row =
            sqlx::query(&format!("{CALL_SELECT} WHERE c.lead_id = $1 ORDER BY c.started_at DESC, c.id DESC LIMIT 1"))
                .bind(lead.0)
                .fetch_optional(self.reader())
                .await?;
        row.as_ref().map(call_from).transpose()
    }

    pub async fn calls_of_lead(&self, lead: LeadId) -> Result<Vec<CallRow>> {
        let rows = sqlx::query(&format!("{CALL_SELECT} WHERE c.lead_id = $1 ORDER BY c.started_at, c.id"))
            .bind(lead.0)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(call_from).collect()
    }

    /// The call's topic message is at `version` (sent as `message_id` in `chat`).
    pub async fn set_call_rendered(&self, id: CallId, chat: i64, message_id: i32, version: i64) -> Result<()> {
        sqlx::query(
            "UPDATE calls SET staff_chat_id = $2, staff_message_id = $3,
                 rendered_version = CASE WHEN rendered_version < $4 THEN $4 ELSE rendered_version END
             WHERE id = $1",
        )
        .bind(id.0)
        .bind(chat)
        .bind(message_id as i64)
        .bind(version)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(())
    }

    /// Open tasks, soonest due first.
    pub async fn open_tasks(&self, filter: TaskFilter, limit: i64) -> Result<Vec<TaskRow>> {
        let (cond, user) = match filter {
            TaskFilter::Of(u) => ("t.user_id = $1", u.0),
            TaskFilter::Unassigned => ("t.user_id IS NULL AND $1 = 0", 0),
            TaskFilter::All => ("$1 = 0", 0),
        };
        let rows =
            sqlx::query(&format!("{TASK_SELECT} WHERE t.state = 'open' AND {cond} ORDER BY t.due_at, t.id LIMIT $2"))
                .bind(user)
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
        rows.iter().map(task_from).collect()
    }

    pub async fn tasks_of_lead(&self, lead: LeadId) -> Result<Vec<TaskRow>> {
        let rows = sqlx::query(&format!("{TASK_SELECT} WHERE t.lead_id = $1 ORDER BY t.id"))
            .bind(lead.0)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(task_from).collect()
    }

    /// Give a staff member a PBX extension (`None` takes it away). `Conflict` when another
    /// member has it.
    pub async fn set_user_extension(&self, user: UserId, ext: Option<&str>, now: i64) -> Result<()> {
        sqlx::query("UPDATE users SET extension = $2, updated_at = $3 WHERE id = $1")
            .bind(user.0)
            .bind(ext)
            .bind(now)
            .execute(&mut *self.write().await?)
            .await
            .map_err(conflict)?;
        Ok(())
    }
}
