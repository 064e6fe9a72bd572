//! Messages: storing them, the ones waiting for a staff topic, their delivery to the
//! customer, a lead's conversation.

use super::leads::{parse_channel, parse_extra};
use super::{col, params, Conn, Result, Store, StoreError};
use crate::domain::message::{DeliveryState, MessageChannel, StaffState};
use crate::domain::{Channel, CustomerId, Direction, LeadId, MessageKind, MessageRowId, UserId};
use sqlx::any::AnyRow;

/// A message to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub lead: LeadId,
    pub customer: CustomerId,
    pub user: Option<UserId>,
    /// The customer's channel, or `staff` for notes and notices.
    pub channel: MessageChannel,
    pub direction: Direction,
    pub kind: MessageKind,
    pub body: Option<String>,
    pub telegram_file_id: Option<String>,
    pub media_group_id: Option<String>,
    pub extra: Option<serde_json::Value>,
    pub external_id: Option<String>,
    pub sent_at: i64,
    /// For outgoing messages: `pending` until delivered.
    pub delivery: Option<DeliveryState>,
    /// Whether the staff topic still has to show it.
    pub staff_state: StaffState,
}

/// A message waiting to be shown in the staff topic.
#[derive(Debug, Clone)]
pub struct StaffPending {
    pub id: MessageRowId,
    pub direction: Direction,
    pub kind: MessageKind,
    pub body: Option<String>,
    pub telegram_file_id: Option<String>,
    pub media_group_id: Option<String>,
    pub extra: Option<serde_json::Value>,
    pub sent_at: i64,
    /// When Forecourt stored it.
    pub created_at: i64,
    /// `telegram`, `viber`, `whatsapp` or `staff`.
    pub channel: String,
    /// The kept file, once the media fetch has run.
    pub media: Option<PendingMedia>,
    /// The topic message that says the file is downloading, once posted (the file itself
    /// follows when it is kept; until then the message stays pending without holding the
    /// messages after it).
    pub placeholder: Option<i32>,
    /// Parts of it already in the topic: a message too long for one send is posted in
    /// parts, and a sync that stopped between two goes on after them.
    pub parts: usize,
}

/// A waiting message's kept file: its path when kept, else why not.
#[derive(Debug, Clone)]
pub struct PendingMedia {
    pub path: Option<String>,
    pub name: Option<String>,
    pub error: Option<String>,
}

/// An outgoing message and where it goes.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: MessageRowId,
    pub lead: LeadId,
    pub customer: CustomerId,
    pub channel: Channel,
    pub external_user: String,
    pub kind: MessageKind,
    pub body: Option<String>,
    pub telegram_file_id: Option<String>,
    pub delivery: Option<DeliveryState>,
    pub blocked: bool,
    pub extra: Option<serde_json::Value>,
    /// The customer's last message time on this channel, as the messenger reported it.
    pub last_inbound_at: Option<i64>,
    /// The staff member who wrote it.
    pub user: Option<UserId>,
    /// The kept file it carries (a car's photo), relative to the media store, and its name.
    pub media_path: Option<String>,
    pub media_name: Option<String>,
}

/// A stored message, for timelines, transcripts and tests.
#[derive(Debug, Clone)]
pub struct MessageRow {
    pub id: MessageRowId,
    pub direction: Direction,
    pub kind: MessageKind,
    pub body: Option<String>,
    pub delivery: Option<DeliveryState>,
    pub delivery_error: Option<String>,
    pub staff_state: StaffState,
    pub user: Option<UserId>,
}

const PENDING_SELECT: &str = "SELECT m.id, m.lead_id, m.channel, m.direction, m.kind, m.body, m.telegram_file_id,
        m.media_group_id, m.extra, m.sent_at, m.created_at, m.media_id, md.status AS media_status, md.file_path,
        md.original_name, md.error AS media_error, m.staff_placeholder, m.staff_parts
    FROM messages m LEFT JOIN media md ON md.id = m.media_id";

fn pending_from(r: &AnyRow) -> Result<StaffPending> {
    let d: String = col(r, "direction")?;
    let k: String = col(r, "kind")?;
    Ok(StaffPending {
        id: MessageRowId(col(r, "id")?),
        direction: Direction::parse(&d).ok_or_else(|| StoreError::Corrupt(format!("direction {d}")))?,
        kind: MessageKind::parse(&k).ok_or_else(|| StoreError::Corrupt(format!("kind {k}")))?,
        body: col(r, "body")?,
        telegram_file_id: col(r, "telegram_file_id")?,
        media_group_id: col(r, "media_group_id")?,
        extra: parse_extra(col(r, "extra")?),
        sent_at: col(r, "sent_at")?,
        created_at: col(r, "created_at")?,
        channel: col(r, "channel")?,
        media: match col::<Option<i64>>(r, "media_id")? {
            None => None,
            Some(_) => Some(PendingMedia {
                path: col::<Option<String>>(r, "file_path")?
                    .filter(|_| col::<Option<String>>(r, "media_status").ok().flatten().as_deref() == Some("ready")),
                name: col(r, "original_name")?,
                error: col(r, "media_error")?,
            }),
        },
        placeholder: col::<Option<i64>>(r, "staff_placeholder")?.and_then(|m| i32::try_from(m).ok()),
        parts: usize::try_from(col::<i64>(r, "staff_parts")?).unwrap_or(0),
    })
}

/// Store a message. `None` if an incoming message with this external id exists already.
pub async fn insert_message(conn: &mut Conn, m: &NewMessage, now: i64) -> Result<Option<MessageRowId>> {
    let row = sqlx::query(
        "INSERT INTO messages (lead_id, customer_id, user_id, channel, direction, kind, body, telegram_file_id,
             media_group_id, extra, external_id, sent_at, delivery, staff_state, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(m.lead.0)
    .bind(m.customer.0)
    .bind(m.user.map(|u| u.0))
    .bind(m.channel.as_str())
    .bind(m.direction.as_str())
    .bind(m.kind.as_str())
    .bind(m.body.as_deref())
    .bind(m.telegram_file_id.as_deref())
    .bind(m.media_group_id.as_deref())
    .bind(m.extra.as_ref().map(|v| v.to_string()))
    .bind(m.external_id.as_deref())
    .bind(m.sent_at)
    .bind(m.delivery.map(|d| d.as_str()))
    .bind(m.staff_state.as_str())
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| col(&r, "id").map(MessageRowId)).transpose()
}

fn delivery_state(s: Option<String>) -> Result<Option<DeliveryState>> {
    s.map(|s| DeliveryState::parse(&s).ok_or_else(|| StoreError::Corrupt(format!("delivery state {s}")))).transpose()
}

/// Record a delivery outcome.
pub async fn set_delivery(
    conn: &mut Conn,
    message: MessageRowId,
    status: DeliveryState,
    error: Option<&str>,
    delivered_id: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE messages SET delivery = $1, delivery_error = $2, delivered_id = COALESCE($3, delivered_id) WHERE id = $4")
        .bind(status.as_str())
        .bind(error)
        .bind(delivered_id)
        .bind(message.0)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl Store {
    /// Messages waiting to be shown in the lead's topic, oldest first.
    pub async fn staff_pending(&self, lead: LeadId, limit: i64) -> Result<Vec<StaffPending>> {
        let rows = sqlx::query(&format!(
            "{PENDING_SELECT} WHERE m.lead_id = $1 AND m.staff_state = 'pending' ORDER BY m.id LIMIT $2"
        ))
        .bind(lead.0)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(pending_from).collect()
    }

    /// The messages waiting for several leads' topics: (lead, message), oldest first.
    pub async fn staff_pending_of(&self, ids: &[LeadId]) -> Result<Vec<(LeadId, StaffPending)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "{PENDING_SELECT} WHERE m.lead_id IN ({}) AND m.staff_state = 'pending' ORDER BY m.id",
            params(0, ids.len())
        );
        let mut q = sqlx::query(&sql);
        for id in ids {
            q = q.bind(id.0);
        }
        q.fetch_all(self.reader()).await?.iter().map(|r| Ok((LeadId(col(r, "lead_id")?), pending_from(r)?))).collect()
    }

    /// These messages are now visible in the topic, each as its own Telegram message: one
    /// statement for them all.
    pub async fn mark_posted_as(&self, posted: &[(MessageRowId, i32)]) -> Result<()> {
        for chunk in posted.chunks(400) {
            let cases =
                (0..chunk.len()).map(|i| format!("WHEN ${} THEN ${}", 2 * i + 1, 2 * i + 2)).collect::<Vec<_>>();
            let list = (0..chunk.len()).map(|i| format!("${}", 2 * i + 1)).collect::<Vec<_>>().join(", ");
            let sql = format!(
                "UPDATE messages SET staff_state = 'posted', staff_message_id = CASE id {} END WHERE id IN ({list})",
                cases.join(" ")
            );
            let mut q = sqlx::query(&sql);
            for (id, m) in chunk {
                q = q.bind(id.0).bind(*m as i64);
            }
            q.execute(&mut *self.write().await?).await?;
        }
        Ok(())
    }

    /// These messages' files are still downloading, and the topic says so (in message
    /// `staff_message_id`); they stay pending until the file is kept.
    pub async fn mark_placeholders(&self, ids: &[MessageRowId], staff_message_id: i32) -> Result<()> {
        // The parts counted were the downloading line's: the file's caption starts afresh.
        self.set_staff_message(ids, "staff_placeholder = $1, staff_parts = 0", staff_message_id).await
    }

    /// These messages are now visible in the topic.
    pub async fn mark_posted(&self, ids: &[MessageRowId], staff_message_id: i32) -> Result<()> {
        self.set_staff_message(ids, "staff_state = 'posted', staff_message_id = $1", staff_message_id).await
    }

    /// One more part of each of these messages is in the topic (they are not finished: their
    /// last part is still to come).
    pub async fn mark_parts_posted(&self, ids: &[MessageRowId]) -> Result<()> {
        for chunk in ids.chunks(500) {
            let sql =
                format!("UPDATE messages SET staff_parts = staff_parts + 1 WHERE id IN ({})", params(0, chunk.len()));
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id.0);
            }
            q.execute(&mut *self.write().await?).await?;
        }
        Ok(())
    }

    /// `set` (which binds `$1` to the topic message) on these messages, 500 at a time.
    async fn set_staff_message(&self, ids: &[MessageRowId], set: &str, staff_message_id: i32) -> Result<()> {
        for chunk in ids.chunks(500) {
            let list = params(1, chunk.len());
            let sql = format!("UPDATE messages SET {set} WHERE id IN ({list})");
            let mut q = sqlx::query(&sql).bind(staff_message_id as i64);
            for id in chunk {
                q = q.bind(id.0);
            }
            q.execute(&mut *self.write().await?).await?;
        }
        Ok(())
    }

    pub async fn delivery(&self, message: MessageRowId) -> Result<Option<Delivery>> {
        let row = sqlx::query(
            "SELECT m.id, m.lead_id, m.customer_id, m.channel, m.kind, m.body, m.telegram_file_id, m.delivery,
                    m.extra, m.user_id, i.external_id, i.blocked, i.last_inbound_at,
                    md.file_path AS media_path, md.original_name AS media_name
             FROM messages m JOIN customer_identities i ON i.customer_id = m.customer_id AND i.channel = m.channel
             LEFT JOIN media md ON md.id = m.media_id AND md.status = 'ready'
             WHERE m.id = $1",
        )
        .bind(message.0)
        .fetch_optional(self.reader())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let k: String = col(&r, "kind")?;
        Ok(Some(Delivery {
            id: MessageRowId(col(&r, "id")?),
            lead: LeadId(col(&r, "lead_id")?),
            customer: CustomerId(col(&r, "customer_id")?),
            channel: parse_channel(&col::<String>(&r, "channel")?)?,
            external_user: col(&r, "external_id")?,
            kind: MessageKind::parse(&k).ok_or_else(|| StoreError::Corrupt(format!("kind {k}")))?,
            body: col(&r, "body")?,
            telegram_file_id: col(&r, "telegram_file_id")?,
            delivery: delivery_state(col(&r, "delivery")?)?,
            blocked: col::<i64>(&r, "blocked")? == 1,
            extra: parse_extra(col(&r, "extra")?),
            last_inbound_at: col(&r, "last_inbound_at")?,
            user: col::<Option<i64>>(&r, "user_id")?.map(UserId),
            media_path: col(&r, "media_path")?,
            media_name: col(&r, "media_name")?,
        }))
    }

    pub async fn lead_messages(&self, lead: LeadId) -> Result<Vec<MessageRow>> {
        let rows = sqlx::query(
            "SELECT id, direction, kind, body, delivery, delivery_error, staff_state, user_id FROM messages WHERE lead_id = $1 ORDER BY id",
        )
        .bind(lead.0)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                let d: String = col(r, "direction")?;
                let k: String = col(r, "kind")?;
                Ok(MessageRow {
                    id: MessageRowId(col(r, "id")?),
                    direction: Direction::parse(&d).ok_or_else(|| StoreError::Corrupt(format!("direction {d}")))?,
                    kind: MessageKind::parse(&k).ok_or_else(|| StoreError::Corrupt(format!("kind {k}")))?,
                    body: col(r, "body")?,
                    delivery: delivery_state(col(r, "delivery")?)?,
                    delivery_error: col(r, "delivery_error")?,
                    staff_state: {
                        let s: String = col(r, "staff_state")?;
                        StaffState::parse(&s).ok_or_else(|| StoreError::Corrupt(format!("staff state {s}")))?
                    },
                    user: col::<Option<i64>>(r, "user_id")?.map(UserId),
                })
            })
            .collect()
    }

    /// Messages customers sent (the benches count what they sent, not the bot's answers).
    pub async fn incoming_messages(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM messages WHERE direction = 'incoming'")
            .fetch_one(self.reader())
            .await?;
        col(&row, "n")
    }
}
