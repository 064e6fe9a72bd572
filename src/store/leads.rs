//! Customers, identities, leads and lead history (messages are `store::messages`).

use super::{col, conflict, params, Conn, Result, Store, StoreError};
use crate::domain::{Change, Channel, CustomerId, LeadFacts, LeadId, LostReason, Stage, UserId};
use sqlx::any::AnyRow;

/// Everything a lead card shows, and where its topic lives.
#[derive(Debug, Clone)]
pub struct LeadRow {
    pub id: LeadId,
    pub customer_id: CustomerId,
    pub customer_name: String,
    pub owner: Option<UserId>,
    pub owner_name: Option<String>,
    pub owner_staff_chat: Option<i64>,
    pub stage: Stage,
    pub lost_reason: Option<LostReason>,
    pub source_channel: String,
    /// The messenger the customer last wrote on; `None` while they have only called.
    pub last_channel: Option<Channel>,
    pub staff_chat_id: Option<i64>,
    pub topic_thread_id: Option<i32>,
    /// A person closed the topic; it is reopened before anything is posted.
    pub topic_closed: bool,
    pub card_message_id: Option<i32>,
    pub card_version: i64,
    pub card_rendered_version: i64,
    pub card_menu: String,
    /// Bumped by each customer message; the card's "last message" line is refreshed when
    /// the staff group has budget to spare (see `staff::topic`).
    pub preview_version: i64,
    pub preview_rendered: i64,
    pub last_message_at: Option<i64>,
    pub last_message_preview: Option<String>,
    pub created_at: i64,
    pub vehicles: i64,
    pub do_not_contact: bool,
    /// What the bot learned (issue 5): the client's intent, the car wanted or sold, the
    /// budget, and notes (answers that fit no button).
    pub intent: Option<String>,
    pub vehicle_interest: Option<String>,
    pub budget: Option<String>,
    pub notes: Option<String>,
    /// The bot's flows run on this lead.
    pub automation: bool,
    /// The customer's language, as their messenger reported it.
    pub language: Option<String>,
    /// When assignment gave the lead its owner, and when the owner was told.
    pub assigned_at: Option<i64>,
    pub assign_noticed_at: Option<i64>,
    /// The silence timer moved it once already.
    pub silence_moved: bool,
    pub first_response_at: Option<i64>,
}

impl LeadRow {
    pub fn facts(&self) -> LeadFacts {
        LeadFacts { stage: self.stage, owner: self.owner, vehicles: self.vehicles.max(0) as u32 }
    }
}

/// One lead history row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub actor: Option<UserId>,
    pub field: String,
    pub from_value: Option<String>,
    pub to_value: Option<String>,
    pub reason: Option<String>,
    pub at: i64,
}

/// A line in `/my` and `/queue`.
#[derive(Debug, Clone)]
pub struct LeadSummary {
    pub id: LeadId,
    pub customer_name: String,
    pub stage: Stage,
    pub last_channel: Option<Channel>,
    pub last_message_at: Option<i64>,
    pub last_message_preview: Option<String>,
    /// The AI's hot score, when it has one (issue 15).
    pub hot: Option<i64>,
}

fn parse_stage(s: &str) -> Result<Stage> {
    Stage::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown stage {s}")))
}

pub(super) fn parse_channel(s: &str) -> Result<Channel> {
    Channel::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown channel {s}")))
}

/// A lead's last channel: a messenger, or `call` (no messenger yet).
fn lead_channel(s: &str) -> Result<Option<Channel>> {
    if s == "call" {
        return Ok(None);
    }
    parse_channel(s).map(Some)
}

pub(super) fn parse_extra(s: Option<String>) -> Option<serde_json::Value> {
    s.and_then(|s| serde_json::from_str(&s).ok())
}

const LEAD_SELECT: &str = "SELECT l.id, l.customer_id, c.name AS customer_name, c.do_not_contact, l.owner_id,
        u.name AS owner_name, u.staff_chat_id AS owner_staff_chat, l.stage, l.lost_reason, l.source_channel,
        l.last_channel, l.staff_chat_id, l.topic_thread_id, l.topic_closed, l.card_message_id, l.card_version,
        l.card_rendered_version, l.card_menu, l.preview_version, l.preview_rendered, l.last_message_at, l.last_message_preview, l.created_at,
        l.intent, l.vehicle_interest, l.budget, l.notes, l.automation, c.language, l.assigned_at,
        l.assign_noticed_at, l.silence_moved, l.first_response_at,
        (SELECT COUNT(*) FROM lead_vehicles lv WHERE lv.lead_id = l.id) AS vehicles
    FROM leads l JOIN customers c ON c.id = l.customer_id LEFT JOIN users u ON u.id = l.owner_id";

fn lead_from(row: &AnyRow) -> Result<LeadRow> {
    let lost: Option<String> = col(row, "lost_reason")?;
    Ok(LeadRow {
        id: LeadId(col(row, "id")?),
        customer_id: CustomerId(col(row, "customer_id")?),
        customer_name: col(row, "customer_name")?,
        do_not_contact: col::<i64>(row, "do_not_contact")? == 1,
        owner: col::<Option<i64>>(row, "owner_id")?.map(UserId),
        owner_name: col(row, "owner_name")?,
        owner_staff_chat: col(row, "owner_staff_chat")?,
        stage: parse_stage(&col::<String>(row, "stage")?)?,
        lost_reason: lost.as_deref().and_then(LostReason::parse),
        source_channel: col(row, "source_channel")?,
        last_channel: lead_channel(&col::<String>(row, "last_channel")?)?,
        staff_chat_id: col(row, "staff_chat_id")?,
        topic_thread_id: col::<Option<i64>>(row, "topic_thread_id")?.map(|v| v as i32),
        topic_closed: col::<i64>(row, "topic_closed")? == 1,
        card_message_id: col::<Option<i64>>(row, "card_message_id")?.map(|v| v as i32),
        card_version: col(row, "card_version")?,
        card_rendered_version: col(row, "card_rendered_version")?,
        card_menu: col(row, "card_menu")?,
        preview_version: col(row, "preview_version")?,
        preview_rendered: col(row, "preview_rendered")?,
        last_message_at: col(row, "last_message_at")?,
        last_message_preview: col(row, "last_message_preview")?,
        created_at: col(row, "created_at")?,
        vehicles: col(row, "vehicles")?,
        intent: col(row, "intent")?,
        vehicle_interest: col(row, "vehicle_interest")?,
        budget: col(row, "budget")?,
        notes: col(row, "notes")?,
        automation: col::<i64>(row, "automation")? == 1,
        language: col(row, "language")?,
        assigned_at: col(row, "assigned_at")?,
        assign_noticed_at: col(row, "assign_noticed_at")?,
        silence_moved: col::<i64>(row, "silence_moved")? == 1,
        first_response_at: col(row, "first_response_at")?,
    })
}

/// Find the customer behind a channel identity, or create both. A customer who writes
/// again is no longer marked as having blocked the bot.
pub async fn find_or_create_customer(
    conn: &mut Conn,
    channel: Channel,
    external_id: &str,
    display_name: &str,
    language: Option<&str>,
    at: i64,
    now: i64,
) -> Result<CustomerId> {
    let existing = sqlx::query("SELECT customer_id FROM customer_identities WHERE channel = $1 AND external_id = $2")
        .bind(channel.as_str())
        .bind(external_id)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(row) = existing {
        let id: i64 = col(&row, "customer_id")?;
        sqlx::query(
            "UPDATE customer_identities SET display_name = $1, blocked = 0,
                 last_inbound_at = CASE WHEN last_inbound_at IS NULL OR last_inbound_at < $2 THEN $2 ELSE last_inbound_at END
             WHERE channel = $3 AND external_id = $4",
        )
        .bind(display_name)
        .bind(at)
        .bind(channel.as_str())
        .bind(external_id)
        .execute(&mut *conn)
        .await?;
        return Ok(CustomerId(id));
    }
    let row = sqlx::query(
        "INSERT INTO customers (name, language, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id",
    )
    .bind(display_name)
    .bind(language)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let id: i64 = col(&row, "id")?;
    sqlx::query(
        "INSERT INTO customer_identities (customer_id, channel, external_id, display_name, last_inbound_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(channel.as_str())
    .bind(external_id)
    .bind(display_name)
    .bind(at)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(conflict)?;
    Ok(CustomerId(id))
}

/// Open a `new` lead for the customer.
pub async fn create_lead(conn: &mut Conn, customer: CustomerId, channel: Channel, now: i64) -> Result<LeadId> {
    let row = sqlx::query(
        "INSERT INTO leads (customer_id, source_channel, last_channel, stage, is_open, created_at, updated_at)
         VALUES ($1, $2, $2, 'new', 1, $3, $3) RETURNING id",
    )
    .bind(customer.0)
    .bind(channel.as_str())
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let id = LeadId(col(&row, "id")?);
    insert_history(conn, id, None, "created", None, Some("new"), None, now).await?;
    Ok(id)
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn insert_history(
    conn: &mut Conn,
    lead: LeadId,
    actor: Option<UserId>,
    field: &str,
    from: Option<&str>,
    to: Option<&str>,
    reason: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO lead_history (lead_id, actor_id, field, from_value, to_value, reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(lead.0)
    .bind(actor.map(|a| a.0))
    .bind(field)
    .bind(from)
    .bind(to)
    .bind(reason)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Read a lead inside a transaction (the rules are checked against this).
/// Store a lead's new topic only if its topic is still `expected` (what the caller read
/// before creating it): whoever stores first wins — the topic sync that created it, or
/// `staff::orphans` adopting a topic whose creation was never stored — and the loser's topic
/// is the orphan. Returns whether it was stored.
pub async fn set_lead_topic_if(
    conn: &mut Conn,
    lead: LeadId,
    expected: (Option<i64>, Option<i32>),
    chat: i64,
    thread: i32,
    now: i64,
) -> Result<bool> {
    let res = sqlx::query(
        "UPDATE leads SET staff_chat_id = $1, topic_thread_id = $2, card_message_id = NULL, card_rendered_version = 0,
             topic_closed = 0, updated_at = $3
         WHERE id = $4 AND COALESCE(staff_chat_id, 0) = $5 AND COALESCE(topic_thread_id, -1) = $6",
    )
    .bind(chat)
    .bind(thread as i64)
    .bind(now)
    .bind(lead.0)
    .bind(expected.0.unwrap_or(0))
    .bind(expected.1.map_or(-1, i64::from))
    .execute(&mut *conn)
    .await?;
    Ok(res.rows_affected() > 0)
}

pub async fn lead_in_tx(conn: &mut Conn, lead: LeadId) -> Result<Option<LeadRow>> {
    let row = sqlx::query(&format!("{LEAD_SELECT} WHERE l.id = $1")).bind(lead.0).fetch_optional(&mut *conn).await?;
    row.as_ref().map(lead_from).transpose()
}

/// Write the changes the rules returned, one history row each, and mark the card dirty.
pub async fn apply_changes(
    conn: &mut Conn,
    lead: LeadId,
    actor: Option<UserId>,
    changes: &[Change],
    now: i64,
) -> Result<()> {
    for c in changes {
        match c {
            Change::Owner { from, to } => {
                sqlx::query("UPDATE leads SET owner_id = $1, updated_at = $2 WHERE id = $3")
                    .bind(to.map(|u| u.0))
                    .bind(now)
                    .bind(lead.0)
                    .execute(&mut *conn)
                    .await?;
                let (f, t) = (from.map(|u| u.0.to_string()), to.map(|u| u.0.to_string()));
                insert_history(conn, lead, actor, "owner", f.as_deref(), t.as_deref(), None, now).await?;
            }
            Change::Stage { from, to, reason } => {
                sqlx::query(
                    "UPDATE leads SET stage = $1, is_open = $2, lost_reason = $3, updated_at = $4, stage_since = $4 WHERE id = $5",
                )
                .bind(to.as_str())
                .bind(i64::from(to.is_open()))
                .bind(reason.map(|r| r.as_str()))
                .bind(now)
                .bind(lead.0)
                .execute(&mut *conn)
                .await?;
                let r = reason.map(|r| r.as_str());
                insert_history(conn, lead, actor, "stage", Some(from.as_str()), Some(to.as_str()), r, now).await?;
            }
        }
    }
    bump_card(conn, lead, None, now).await
}

/// Mark the card as needing a re-render, optionally switching its keyboard (`main`,
/// `stage:<user id>`, `lost`).
pub async fn bump_card(conn: &mut Conn, lead: LeadId, menu: Option<&str>, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE leads SET card_version = card_version + 1, card_menu = COALESCE($1, card_menu), updated_at = $2 WHERE id = $3",
    )
    .bind(menu)
    .bind(now)
    .bind(lead.0)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Mark an identity's customer as having blocked the bot (or not).
pub async fn set_blocked(conn: &mut Conn, customer: CustomerId, channel: Channel, blocked: bool) -> Result<()> {
    sqlx::query("UPDATE customer_identities SET blocked = $1 WHERE customer_id = $2 AND channel = $3")
        .bind(i64::from(blocked))
        .bind(customer.0)
        .bind(channel.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl Store {
    pub async fn lead(&self, lead: LeadId) -> Result<Option<LeadRow>> {
        let row =
            sqlx::query(&format!("{LEAD_SELECT} WHERE l.id = $1")).bind(lead.0).fetch_optional(self.reader()).await?;
        row.as_ref().map(lead_from).transpose()
    }

    pub async fn lead_by_topic(&self, chat: i64, thread: i32) -> Result<Option<LeadId>> {
        let row = sqlx::query(
            "SELECT id FROM leads WHERE staff_chat_id = $1 AND topic_thread_id = $2 ORDER BY id DESC LIMIT 1",
        )
        .bind(chat)
        .bind(thread as i64)
        .fetch_optional(self.reader())
        .await?;
        row.map(|r| col(&r, "id").map(LeadId)).transpose()
    }

    /// A topic was created for the lead: remember it, and forget the old card.
    pub async fn set_lead_topic(&self, lead: LeadId, chat: i64, thread: Option<i32>, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE leads SET staff_chat_id = $1, topic_thread_id = $2, card_message_id = NULL, card_rendered_version = 0,
                 topic_closed = 0, updated_at = $3 WHERE id = $4",
        )
        .bind(chat)
        .bind(thread.map(i64::from))
        .bind(now)
        .bind(lead.0)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(())
    }

    /// Store a lead's new topic only if its topic is still `expected` (see
    /// [`set_lead_topic_if`]).
    pub async fn set_lead_topic_if(
        &self,
        lead: LeadId,
        expected: (Option<i64>, Option<i32>),
        chat: i64,
        thread: i32,
        now: i64,
    ) -> Result<bool> {
        let mut conn = self.write().await?;
        set_lead_topic_if(&mut conn, lead, expected, chat, thread, now).await
    }

    /// A person closed (or reopened) a lead's topic.
    pub async fn set_topic_closed(&self, chat: i64, thread: i32, closed: bool) -> Result<Option<LeadId>> {
        let row = sqlx::query(
            "UPDATE leads SET topic_closed = $1 WHERE staff_chat_id = $2 AND topic_thread_id = $3 RETURNING id",
        )
        .bind(i64::from(closed))
        .bind(chat)
        .bind(thread as i64)
        .fetch_optional(&mut *self.write().await?)
        .await?;
        row.map(|r| col(&r, "id").map(LeadId)).transpose()
    }

    /// The card was posted or edited, showing `version` and `preview` of the lead.
    pub async fn set_card_rendered(&self, lead: LeadId, message_id: i32, version: i64, preview: i64) -> Result<()> {
        sqlx::query(
            "UPDATE leads SET card_message_id = $1,
                 card_rendered_version = CASE WHEN card_rendered_version < $2 THEN $2 ELSE card_rendered_version END,
                 preview_rendered = CASE WHEN preview_rendered < $3 THEN $3 ELSE preview_rendered END
             WHERE id = $4",
        )
        .bind(message_id as i64)
        .bind(version)
        .bind(preview)
        .bind(lead.0)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(())
    }

    /// Several leads at once (the batched topic sync), in no particular order.
    pub async fn leads(&self, ids: &[LeadId]) -> Result<Vec<LeadRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("{LEAD_SELECT} WHERE l.id IN ({})", params(0, ids.len()));
        let mut q = sqlx::query(&sql);
        for id in ids {
            q = q.bind(id.0);
        }
        q.fetch_all(self.reader()).await?.iter().map(lead_from).collect()
    }

    /// Open leads owned by a user, or unclaimed (`None`), newest activity first.
    pub async fn open_leads(&self, owner: Option<UserId>, limit: i64) -> Result<Vec<LeadSummary>> {
        self.open_leads_by(owner, limit, false).await
    }

    /// Open leads of `owner` (`None`: unclaimed), newest first, or with `hot_first` the
    /// AI's hottest first (unscored after, newest first).
    pub async fn open_leads_by(&self, owner: Option<UserId>, limit: i64, hot_first: bool) -> Result<Vec<LeadSummary>> {
        let cond = if owner.is_some() { "l.owner_id = $1" } else { "l.owner_id IS NULL AND $1 = 0" };
        let hot = if hot_first { "COALESCE(s.score, -1) DESC, " } else { "" };
        let sql = format!(
            "SELECT l.id, c.name, l.stage, l.last_channel, l.last_message_at, l.last_message_preview, s.score
             FROM leads l JOIN customers c ON c.id = l.customer_id LEFT JOIN lead_scores s ON s.lead_id = l.id
             WHERE l.is_open = 1 AND {cond} ORDER BY {hot}COALESCE(l.last_message_at, l.created_at) DESC LIMIT $2"
        );
        let rows = sqlx::query(&sql).bind(owner.map(|u| u.0).unwrap_or(0)).bind(limit).fetch_all(self.reader()).await?;
        rows.iter()
            .map(|r| {
                Ok(LeadSummary {
                    id: LeadId(col(r, "id")?),
                    customer_name: col(r, "name")?,
                    stage: parse_stage(&col::<String>(r, "stage")?)?,
                    last_channel: lead_channel(&col::<String>(r, "last_channel")?)?,
                    last_message_at: col(r, "last_message_at")?,
                    last_message_preview: col(r, "last_message_preview")?,
                    hot: col(r, "score")?,
                })
            })
            .collect()
    }

    pub async fn lead_history(&self, lead: LeadId) -> Result<Vec<HistoryRow>> {
        let rows = sqlx::query(
            "SELECT actor_id, field, from_value, to_value, reason, at FROM lead_history WHERE lead_id = $1 ORDER BY id",
        )
        .bind(lead.0)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(HistoryRow {
                    actor: col::<Option<i64>>(r, "actor_id")?.map(UserId),
                    field: col(r, "field")?,
                    from_value: col(r, "from_value")?,
                    to_value: col(r, "to_value")?,
                    reason: col(r, "reason")?,
                    at: col(r, "at")?,
                })
            })
            .collect()
    }

    /// Counts for tests, the bench and health: (customers, leads, messages).
    pub async fn counts(&self) -> Result<(i64, i64, i64)> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM customers) AS c, (SELECT COUNT(*) FROM leads) AS l, (SELECT COUNT(*) FROM messages) AS m",
        )
        .fetch_one(self.reader())
        .await?;
        Ok((col(&row, "c")?, col(&row, "l")?, col(&row, "m")?))
    }

    /// All lead ids, oldest first (transcripts, bench).
    pub async fn lead_ids(&self) -> Result<Vec<LeadId>> {
        let rows = sqlx::query("SELECT id FROM leads ORDER BY id").fetch_all(self.reader()).await?;
        rows.iter().map(|r| col(r, "id").map(LeadId)).collect()
    }
}

/// Forget the card's message so the next sync posts a fresh one at the bottom of the topic.
pub async fn forget_card(conn: &mut Conn, lead: LeadId) -> Result<()> {
    sqlx::query("UPDATE leads SET card_message_id = NULL, card_rendered_version = 0 WHERE id = $1")
        .bind(lead.0)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
