//! Flows in the database: the versions of the flow set, uploads waiting for activation,
//! each lead's conversation state, and the set-based reads and writes the flow job does
//! for a batch of leads in one transaction.

use super::{col, params, Conn, Result, Store};
use crate::domain::flow::Field;
use crate::domain::{Channel, CustomerId, LeadId, MessageKind, MessageRowId, Stage};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone)]
pub struct FlowVersion {
    pub id: i64,
    pub hash: String,
    pub source: String,
    pub author: Option<String>,
    pub files: BTreeMap<String, String>,
    pub created_at: i64,
}

fn version_from(r: &sqlx::any::AnyRow) -> Result<FlowVersion> {
    let files: String = col(r, "files")?;
    Ok(FlowVersion {
        id: col(r, "id")?,
        hash: col(r, "hash")?,
        source: col(r, "source")?,
        author: col(r, "author")?,
        files: serde_json::from_str(&files).map_err(|e| super::StoreError::Corrupt(format!("flow files: {e}")))?,
        created_at: col(r, "created_at")?,
    })
}

/// One lead as the flow engine sees it, with its conversation state.
#[derive(Debug, Clone)]
pub struct FlowLead {
    pub lead: LeadId,
    pub customer: CustomerId,
    pub customer_name: String,
    pub language: Option<String>,
    pub do_not_contact: bool,
    pub stage: Stage,
    pub is_open: bool,
    pub automation: bool,
    pub channel: Channel,
    pub fields: BTreeMap<Field, String>,
    pub last_staff_at: Option<i64>,
    pub last_message_at: Option<i64>,
    /// The conversation: (version, flow, step, misses) when waiting.
    pub waiting: Option<(i64, String, String, u8)>,
    pub last_message_id: i64,
    pub starts: BTreeMap<String, i64>,
    /// The lead's first incoming message, when it is among the messages read with it (no
    /// cursor yet): new-lead detection.
    pub first_incoming: Option<i64>,
}

/// A customer message the engine has not looked at yet.
#[derive(Debug, Clone)]
pub struct FlowMessage {
    pub id: MessageRowId,
    pub lead: LeadId,
    pub kind: MessageKind,
    pub body: Option<String>,
    pub button: Option<String>,
    /// When the customer sent it, as the messenger reports.
    pub sent_at: i64,
}

/// A conversation's state after a step, to write back.
#[derive(Debug, Clone)]
pub struct FlowStateRow {
    pub lead: LeadId,
    pub waiting: Option<(i64, String, String, u8)>,
    pub last_message_id: i64,
    pub starts: BTreeMap<String, i64>,
}

/// A bot message for a customer.
#[derive(Debug, Clone)]
pub struct BotMessage {
    pub lead: LeadId,
    pub customer: CustomerId,
    pub channel: Channel,
    pub body: String,
    pub extra: serde_json::Value,
}

/// Read the leads and their states (one query) and their unseen customer messages (one).
pub async fn flow_inputs(conn: &mut Conn, leads: &[LeadId]) -> Result<(Vec<FlowLead>, Vec<FlowMessage>)> {
    if leads.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let sql = format!(
        "SELECT l.id, l.customer_id, c.name, c.language, c.do_not_contact, l.stage, l.is_open, l.automation,
                l.last_channel, l.intent, l.vehicle_interest, l.budget, l.notes, l.last_staff_at, l.last_message_at,
                f.version_id, f.flow, f.step, f.misses, f.last_message_id, f.starts
         FROM leads l JOIN customers c ON c.id = l.customer_id LEFT JOIN lead_flows f ON f.lead_id = l.id
         WHERE l.id IN ({})",
        params(0, leads.len())
    );
    let mut q = sqlx::query(&sql);
    for l in leads {
        q = q.bind(l.0);
    }
    let mut out = Vec::new();
    for r in q.fetch_all(&mut *conn).await? {
        let mut fields = BTreeMap::new();
        for (f, c) in
            [(Field::Intent, "intent"), (Field::VehicleInterest, "vehicle_interest"), (Field::Budget, "budget")]
        {
            if let Some(v) = col::<Option<String>>(&r, c)? {
                fields.insert(f, v);
            }
        }
        let stage: String = col(&r, "stage")?;
        let channel: String = col(&r, "last_channel")?;
        let waiting = match (
            col::<Option<i64>>(&r, "version_id")?,
            col::<Option<String>>(&r, "flow")?,
            col::<Option<String>>(&r, "step")?,
        ) {
            (Some(v), Some(f), Some(s)) => Some((v, f, s, col::<Option<i64>>(&r, "misses")?.unwrap_or(0) as u8)),
            _ => None,
        };
        let starts: Option<String> = col(&r, "starts")?;
        out.push(FlowLead {
            lead: LeadId(col(&r, "id")?),
            customer: CustomerId(col(&r, "customer_id")?),
            customer_name: col(&r, "name")?,
            language: col(&r, "language")?,
            do_not_contact: col::<i64>(&r, "do_not_contact")? == 1,
            stage: Stage::parse(&stage).unwrap_or(Stage::New),
            is_open: col::<i64>(&r, "is_open")? == 1,
            automation: col::<i64>(&r, "automation")? == 1,
            channel: Channel::parse(&channel).unwrap_or(Channel::Telegram),
            fields,
            last_staff_at: col(&r, "last_staff_at")?,
            last_message_at: col(&r, "last_message_at")?,
            waiting,
            last_message_id: col::<Option<i64>>(&r, "last_message_id")?.unwrap_or(0),
            starts: starts.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default(),
            first_incoming: None,
        });
    }
    let sql = format!(
        // Every direction is read and the customer's kept below: with `direction` in the
        // WHERE, PostgreSQL may scan the whole inbound-dedupe index for each lead.
        "SELECT m.id, m.lead_id, m.kind, m.body, m.extra, m.sent_at, m.direction FROM messages m
         LEFT JOIN lead_flows f ON f.lead_id = m.lead_id
         WHERE m.lead_id IN ({}) AND m.id > COALESCE(f.last_message_id, 0)
         ORDER BY m.id",
        params(0, leads.len())
    );
    let mut q = sqlx::query(&sql);
    for l in leads {
        q = q.bind(l.0);
    }
    let mut msgs = Vec::new();
    for r in q.fetch_all(&mut *conn).await? {
        if col::<String>(&r, "direction")? != "incoming" {
            continue;
        }
        let kind: String = col(&r, "kind")?;
        let extra: Option<String> = col(&r, "extra")?;
        let button = extra
            .and_then(|e| serde_json::from_str::<serde_json::Value>(&e).ok())
            .and_then(|e| e["button"].as_str().map(str::to_string));
        msgs.push(FlowMessage {
            id: MessageRowId(col(&r, "id")?),
            lead: LeadId(col(&r, "lead_id")?),
            kind: MessageKind::parse(&kind).unwrap_or(MessageKind::Other),
            body: col(&r, "body")?,
            button,
            sent_at: col(&r, "sent_at")?,
        });
    }
    // The lead's first incoming message, without a per-lead subquery (whose plan a
    // PostgreSQL with fresh statistics gets badly wrong): a lead whose cursor is still 0 has
    // had every incoming message read just now, oldest first, so its first is the first
    // here; a lead with a cursor has had its first message looked at already.
    for lead in out.iter_mut().filter(|l| l.last_message_id == 0) {
        lead.first_incoming = msgs.iter().find(|m| m.lead == lead.lead).map(|m| m.id.0);
    }
    Ok((out, msgs))
}

/// Write the conversations' states in one statement.
pub async fn save_flow_states(conn: &mut Conn, rows: &[FlowStateRow], now: i64) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    const N: usize = 7;
    let sql = format!(
        "INSERT INTO lead_flows (lead_id, version_id, flow, step, misses, last_message_id, starts, updated_at) VALUES {}
         ON CONFLICT (lead_id) DO UPDATE SET version_id = excluded.version_id, flow = excluded.flow,
             step = excluded.step, misses = excluded.misses,
             last_message_id = CASE WHEN excluded.last_message_id > lead_flows.last_message_id
                                    THEN excluded.last_message_id ELSE lead_flows.last_message_id END,
             starts = excluded.starts, updated_at = excluded.updated_at",
        (0..rows.len()).map(|i| format!("({}, $1)", params(1 + i * N, N))).collect::<Vec<_>>().join(", ")
    );
    let mut q = sqlx::query(&sql).bind(now);
    for r in rows {
        let (v, f, s, m) = match &r.waiting {
            Some((v, f, s, m)) => (Some(*v), Some(f.clone()), Some(s.clone()), *m as i64),
            None => (None, None, None, 0),
        };
        q = q
            .bind(r.lead.0)
            .bind(v)
            .bind(f)
            .bind(s)
            .bind(m)
            .bind(r.last_message_id)
            .bind(serde_json::to_string(&r.starts).unwrap_or_else(|_| "{}".into()));
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

/// Save answers on leads (a note is added to the notes) and mark their cards changed, in
/// one statement.
pub async fn save_answers(conn: &mut Conn, answers: &[(LeadId, Vec<(Field, String)>)], now: i64) -> Result<()> {
    if answers.is_empty() {
        return Ok(());
    }
    const N: usize = 5;
    let sql = format!(
        "WITH v (id, intent, vehicle_interest, budget, note) AS (VALUES {})
         UPDATE leads SET intent = COALESCE(v.intent, leads.intent),
             vehicle_interest = COALESCE(v.vehicle_interest, leads.vehicle_interest),
             budget = COALESCE(v.budget, leads.budget),
             notes = CASE WHEN v.note IS NULL THEN leads.notes WHEN leads.notes IS NULL OR leads.notes = '' THEN v.note
                          ELSE leads.notes || '\n' || v.note END,
             card_version = leads.card_version + 1, updated_at = $1
         FROM v WHERE leads.id = v.id",
        (0..answers.len())
            .map(|i| {
                let p = 2 + i * N;
                format!(
                    "(CAST(${p} AS BIGINT), CAST(${} AS TEXT), CAST(${} AS TEXT), CAST(${} AS TEXT), CAST(${} AS TEXT))",
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut q = sqlx::query(&sql).bind(now);
    for (lead, a) in answers {
        let get = |f: Field| a.iter().rev().find(|(x, _)| *x == f).map(|(_, v)| v.clone());
        let notes: Vec<&str> = a.iter().filter(|(f, _)| *f == Field::Note).map(|(_, v)| v.as_str()).collect();
        q = q
            .bind(lead.0)
            .bind(get(Field::Intent))
            .bind(get(Field::VehicleInterest))
            .bind(get(Field::Budget))
            .bind((!notes.is_empty()).then(|| notes.join("\n")));
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

/// Queue bot messages for customers: the rows (shown in the topic, delivery pending) and a
/// deliver job each, in two statements. Returns the message ids in input order.
pub async fn queue_bot_messages(conn: &mut Conn, msgs: &[BotMessage], now: i64) -> Result<Vec<MessageRowId>> {
    if msgs.is_empty() {
        return Ok(Vec::new());
    }
    const N: usize = 5;
    let sql = format!(
        "INSERT INTO messages (lead_id, customer_id, channel, body, extra, direction, kind, sent_at, created_at,
             delivery, staff_state)
         VALUES {} RETURNING id",
        (0..msgs.len())
            .map(|i| format!("({}, 'outgoing', 'text', $1, $1, 'pending', 'pending')", params(1 + i * N, N)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut q = sqlx::query(&sql).bind(now);
    for m in msgs {
        q = q.bind(m.lead.0).bind(m.customer.0).bind(m.channel.as_str()).bind(m.body.clone()).bind(m.extra.to_string());
    }
    let mut ids: Vec<i64> = q.fetch_all(&mut *conn).await?.iter().map(|r| col(r, "id")).collect::<Result<_>>()?;
    // Ids are given in VALUES order; sorting makes that explicit.
    ids.sort_unstable();
    const J: usize = 2;
    let sql = format!(
        "INSERT INTO jobs (kind, payload, queue_key, status, run_at, attempts, created_at, updated_at) VALUES {}",
        (0..msgs.len())
            .map(|i| format!("('deliver', {}, 'pending', $1, 0, $1, $1)", params(1 + i * J, J)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut q = sqlx::query(&sql).bind(now);
    for (m, id) in msgs.iter().zip(&ids) {
        // The payloads of `jobs::Job::Deliver` (a test in jobs::job keeps the two equal).
        q = q.bind(serde_json::json!({ "message": id }).to_string()).bind(format!(
            "deliver:{}:{}",
            m.channel.as_str(),
            m.customer.0
        ));
    }
    q.execute(&mut *conn).await?;
    Ok(ids.into_iter().map(MessageRowId).collect())
}

/// One flow job per lead (deduplicated while pending): the engine looks at the lead's new
/// customer messages in order.
pub async fn enqueue_flow_jobs(conn: &mut Conn, leads: &[LeadId], now: i64) -> Result<()> {
    if leads.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO jobs (kind, payload, queue_key, dedupe_key, status, run_at, attempts, created_at, updated_at)
         VALUES {} ON CONFLICT DO NOTHING",
        (0..leads.len())
            .map(|k| format!("('flow', ${a}, ${b}, ${b}, 'pending', $1, 0, $1, $1)", a = k * 2 + 2, b = k * 2 + 3))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut q = sqlx::query(&sql).bind(now);
    for lead in leads {
        // The payload of `jobs::Job::Flow` (a test in jobs::job keeps the two equal).
        q = q.bind(serde_json::json!({ "lead": lead.0 }).to_string()).bind(format!("flow:{}", lead.0));
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

/// The customer asked not to be contacted.
pub async fn set_do_not_contact(conn: &mut Conn, customer: CustomerId, now: i64) -> Result<()> {
    sqlx::query("UPDATE customers SET do_not_contact = 1, updated_at = $2 WHERE id = $1")
        .bind(customer.0)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE leads SET card_version = card_version + 1 WHERE customer_id = $1 AND is_open = 1")
        .bind(customer.0)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A staff member wrote to the customer: remember when, and end the bot's turn.
pub async fn staff_wrote(conn: &mut Conn, lead: LeadId, now: i64) -> Result<()> {
    sqlx::query("UPDATE leads SET last_staff_at = $2 WHERE id = $1").bind(lead.0).bind(now).execute(&mut *conn).await?;
    sqlx::query("UPDATE lead_flows SET version_id = NULL, flow = NULL, step = NULL, misses = 0 WHERE lead_id = $1")
        .bind(lead.0)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Turn a lead's automation on or off (off also ends a waiting conversation).
pub async fn set_automation(conn: &mut Conn, lead: LeadId, on: bool, now: i64) -> Result<()> {
    sqlx::query("UPDATE leads SET automation = $2, card_version = card_version + 1, updated_at = $3 WHERE id = $1")
        .bind(lead.0)
        .bind(on as i64)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    if !on {
        sqlx::query("UPDATE lead_flows SET version_id = NULL, flow = NULL, step = NULL, misses = 0 WHERE lead_id = $1")
            .bind(lead.0)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Open leads with automation on in one of these stages, quiet since before `cutoff`:
/// the candidates for follow-up timers, by id after `after`, at most `limit`.
pub async fn timer_candidates(
    conn: &mut Conn,
    stages: &[Stage],
    cutoff: i64,
    after: LeadId,
    limit: i64,
) -> Result<Vec<FlowLead>> {
    if stages.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT l.id FROM leads l JOIN customers c ON c.id = l.customer_id
         WHERE l.is_open = 1 AND l.automation = 1 AND c.do_not_contact = 0 AND l.stage IN ({})
           AND COALESCE(l.last_message_at, 0) <= $1 AND COALESCE(l.last_staff_at, 0) <= $1
           AND (l.last_message_at IS NOT NULL OR l.last_staff_at IS NOT NULL) AND l.id > $2
         ORDER BY l.id LIMIT {limit}",
        params(2, stages.len())
    );
    let mut q = sqlx::query(&sql).bind(cutoff).bind(after.0);
    for s in stages {
        q = q.bind(s.as_str());
    }
    let ids: Vec<LeadId> =
        q.fetch_all(&mut *conn).await?.iter().map(|r| col(r, "id").map(LeadId)).collect::<Result<_>>()?;
    let mut leads = flow_inputs(conn, &ids).await?.0;
    leads.sort_unstable_by_key(|l| l.lead.0);
    Ok(leads)
}

impl Store {
    /// A lead's conversation: (flow, step it waits at, newest message looked at).
    pub async fn flow_state(&self, lead: LeadId) -> Result<Option<(Option<String>, Option<String>, i64)>> {
        let r = sqlx::query("SELECT flow, step, last_message_id FROM lead_flows WHERE lead_id = $1")
            .bind(lead.0)
            .fetch_optional(self.reader())
            .await?;
        r.map(|r| Ok((col(&r, "flow")?, col(&r, "step")?, col(&r, "last_message_id")?))).transpose()
    }

    pub async fn latest_flow_version(&self) -> Result<Option<FlowVersion>> {
        let r =
            sqlx::query("SELECT * FROM flow_versions ORDER BY id DESC LIMIT 1").fetch_optional(self.reader()).await?;
        r.as_ref().map(version_from).transpose()
    }

    pub async fn flow_version(&self, id: i64) -> Result<Option<FlowVersion>> {
        let r = sqlx::query("SELECT * FROM flow_versions WHERE id = $1").bind(id).fetch_optional(self.reader()).await?;
        r.as_ref().map(version_from).transpose()
    }

    /// Newest first: (id, source, author, created_at, hash).
    pub async fn flow_versions(&self, limit: i64) -> Result<Vec<(i64, String, Option<String>, i64, String)>> {
        let rows =
            sqlx::query("SELECT id, source, author, created_at, hash FROM flow_versions ORDER BY id DESC LIMIT $1")
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
        rows.iter()
            .map(|r| Ok((col(r, "id")?, col(r, "source")?, col(r, "author")?, col(r, "created_at")?, col(r, "hash")?)))
            .collect()
    }

    pub async fn insert_flow_version(
        &self,
        hash: &str,
        source: &str,
        author: Option<&str>,
        files: &BTreeMap<String, String>,
        now: i64,
    ) -> Result<i64> {
        let r = sqlx::query(
            "INSERT INTO flow_versions (hash, source, author, files, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(hash)
        .bind(source)
        .bind(author)
        .bind(serde_json::to_string(files).expect("a map of strings serialises"))
        .bind(now)
        .fetch_one(self.reader())
        .await?;
        col(&r, "id")
    }

    pub async fn insert_flow_upload(
        &self,
        user: crate::domain::UserId,
        name: &str,
        files: &BTreeMap<String, String>,
        now: i64,
    ) -> Result<i64> {
        let r = sqlx::query(
            "INSERT INTO flow_uploads (user_id, file_name, files, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(user.0)
        .bind(name)
        .bind(serde_json::to_string(files).expect("a map of strings serialises"))
        .bind(now)
        .fetch_one(&mut *self.write().await?)
        .await?;
        col(&r, "id")
    }

    /// Take an upload for activation, once: `None` if it is unknown or was activated.
    pub async fn take_flow_upload(&self, id: i64) -> Result<Option<(String, BTreeMap<String, String>)>> {
        let r = sqlx::query(
            "UPDATE flow_uploads SET activated = 0 WHERE id = $1 AND activated IS NULL RETURNING file_name, files",
        )
        .bind(id)
        .fetch_optional(&mut *self.write().await?)
        .await?;
        let Some(r) = r else { return Ok(None) };
        let files: String = col(&r, "files")?;
        let files =
            serde_json::from_str(&files).map_err(|e| super::StoreError::Corrupt(format!("upload files: {e}")))?;
        Ok(Some((col(&r, "file_name")?, files)))
    }

    pub async fn set_flow_upload_version(&self, id: i64, version: i64) -> Result<()> {
        sqlx::query("UPDATE flow_uploads SET activated = $2 WHERE id = $1")
            .bind(id)
            .bind(version)
            .execute(&mut *self.write().await?)
            .await?;
        Ok(())
    }
}

/// Leads by id, for lookups.
pub fn by_lead(leads: Vec<FlowLead>) -> HashMap<LeadId, FlowLead> {
    leads.into_iter().map(|l| (l.lead, l)).collect()
}
