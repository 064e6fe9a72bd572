//! Media rows, delivery receipts and channel subscription state: what the Viber and
//! WhatsApp adapters and the media store need from the database.

use super::{col, Conn, Result, Store, StoreError};
use crate::domain::delivery::{advance, Receipt};
use crate::domain::{Channel, CustomerId, Direction, LeadId, MediaId, MessageKind, MessageRowId};
use std::collections::HashSet;

/// Where a message's file comes from, for the media fetch job.
#[derive(Debug, Clone)]
pub struct MediaSource {
    pub message: MessageRowId,
    pub lead: LeadId,
    pub customer: CustomerId,
    /// `telegram`, `viber`, `whatsapp`, or `staff`-side rows carry the customer's channel.
    pub channel: String,
    pub direction: Direction,
    pub kind: MessageKind,
    pub telegram_file_id: Option<String>,
    pub extra: Option<serde_json::Value>,
    pub media: Option<MediaId>,
}

/// A kept file (or the record of one that could not be kept).
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRow {
    pub id: MediaId,
    pub kind: String,
    pub file_path: Option<String>,
    pub sha256: Option<String>,
    pub size: Option<i64>,
    pub name: Option<String>,
    pub mime: Option<String>,
    pub ready: bool,
    pub error: Option<String>,
    pub lead: Option<LeadId>,
    pub customer: Option<CustomerId>,
}

/// A new media row: a kept file, or a failure with its reason.
#[derive(Debug, Clone)]
pub struct NewMedia<'a> {
    pub kind: &'a str,
    pub file_path: Option<&'a str>,
    pub telegram_file_id: Option<&'a str>,
    pub sha256: Option<&'a str>,
    pub size: Option<i64>,
    pub name: Option<&'a str>,
    pub mime: Option<&'a str>,
    pub lead: LeadId,
    pub customer: CustomerId,
    pub error: Option<&'a str>,
}

/// A message kind's media kind (the media table's vocabulary).
pub fn media_kind(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Photo => "photo",
        MessageKind::Video => "video",
        MessageKind::Voice => "voice",
        MessageKind::Audio => "audio",
        MessageKind::Document => "document",
        MessageKind::Sticker => "sticker",
        _ => "other",
    }
}

/// Insert a media row and link the message to it, unless the message already has one
/// (a repeated fetch); returns the message's media id either way.
pub async fn attach_media(conn: &mut Conn, message: MessageRowId, m: &NewMedia<'_>, now: i64) -> Result<MediaId> {
    let existing =
        sqlx::query("SELECT media_id FROM messages WHERE id = $1").bind(message.0).fetch_one(&mut *conn).await?;
    if let Some(id) = col::<Option<i64>>(&existing, "media_id")? {
        return Ok(MediaId(id));
    }
    let row = sqlx::query(
        "INSERT INTO media (kind, file_path, telegram_file_id, sha256, size_bytes, original_name, mime, lead_id,
             customer_id, status, error, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id",
    )
    .bind(m.kind)
    .bind(m.file_path)
    .bind(m.telegram_file_id)
    .bind(m.sha256)
    .bind(m.size)
    .bind(m.name)
    .bind(m.mime)
    .bind(m.lead.0)
    .bind(m.customer.0)
    .bind(if m.error.is_some() { "failed" } else { "ready" })
    .bind(m.error)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let id = MediaId(col(&row, "id")?);
    sqlx::query("UPDATE messages SET media_id = $1 WHERE id = $2")
        .bind(id.0)
        .bind(message.0)
        .execute(&mut *conn)
        .await?;
    Ok(id)
}

/// Mark a customer's identity unsubscribed (Viber) or subscribed again. Returns the
/// customer and their open lead, if the identity is known.
pub async fn set_subscribed(
    conn: &mut Conn,
    channel: Channel,
    external_id: &str,
    subscribed: bool,
) -> Result<Option<(CustomerId, Option<LeadId>)>> {
    let row = sqlx::query(
        "UPDATE customer_identities SET blocked = $1 WHERE channel = $2 AND external_id = $3 RETURNING customer_id",
    )
    .bind(i64::from(!subscribed))
    .bind(channel.as_str())
    .bind(external_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let customer = CustomerId(col(&r, "customer_id")?);
    let lead = sqlx::query("SELECT id FROM leads WHERE customer_id = $1 AND is_open = 1 ORDER BY id DESC LIMIT 1")
        .bind(customer.0)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| col::<i64>(&r, "id").map(LeadId))
        .transpose()?;
    Ok(Some((customer, lead)))
}

/// A delivery receipt that changed an outgoing message's state.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptApplied {
    pub message: MessageRowId,
    pub lead: LeadId,
    pub customer: CustomerId,
    pub receipt: Receipt,
    pub error: Option<String>,
    pub body: Option<String>,
}

/// Record a provider's receipt for the outgoing message it sent as `external_id`, and
/// apply it if the message is known. A receipt for a message not yet recorded as sent
/// waits in `delivery_receipts` and is applied by [`apply_waiting_receipts`].
pub async fn record_receipt(
    conn: &mut Conn,
    channel: Channel,
    external_id: &str,
    receipt: Receipt,
    error: Option<&str>,
    at: i64,
) -> Result<Option<ReceiptApplied>> {
    sqlx::query(
        "INSERT INTO delivery_receipts (channel, external_id, status, error, at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT DO NOTHING",
    )
    .bind(channel.as_str())
    .bind(external_id)
    .bind(receipt.as_str())
    .bind(error)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    apply_receipt(conn, channel, external_id, receipt, error, at).await
}

async fn apply_receipt(
    conn: &mut Conn,
    channel: Channel,
    external_id: &str,
    receipt: Receipt,
    error: Option<&str>,
    at: i64,
) -> Result<Option<ReceiptApplied>> {
    let row = sqlx::query(
        "SELECT id, lead_id, customer_id, receipt, body FROM messages
         WHERE channel = $1 AND delivered_id = $2 AND direction = 'outgoing'",
    )
    .bind(channel.as_str())
    .bind(external_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let current = col::<Option<String>>(&r, "receipt")?.and_then(|s| Receipt::parse(&s));
    let Some(next) = advance(current, receipt) else { return Ok(None) };
    let id = MessageRowId(col(&r, "id")?);
    // A failure also fails the delivery; other receipts leave it as it is.
    let failed = i64::from(next == Receipt::Failed);
    sqlx::query(
        "UPDATE messages SET receipt = $1, receipt_at = $2,
             delivery = CASE WHEN $3 = 1 THEN 'failed' ELSE delivery END,
             delivery_error = CASE WHEN $3 = 1 THEN $4 ELSE delivery_error END
         WHERE id = $5",
    )
    .bind(next.as_str())
    .bind(at)
    .bind(failed)
    .bind(error)
    .bind(id.0)
    .execute(&mut *conn)
    .await?;
    Ok(Some(ReceiptApplied {
        message: id,
        lead: LeadId(col(&r, "lead_id")?),
        customer: CustomerId(col(&r, "customer_id")?),
        receipt: next,
        error: error.map(str::to_string),
        body: col(&r, "body")?,
    }))
}

/// Apply receipts that arrived before their message's send was recorded. Returns the
/// last change (a failure among them is what the topic must hear about).
pub async fn apply_waiting_receipts(
    conn: &mut Conn,
    channel: Channel,
    external_id: &str,
) -> Result<Option<ReceiptApplied>> {
    let rows = sqlx::query(
        "SELECT status, error, at FROM delivery_receipts WHERE channel = $1 AND external_id = $2 ORDER BY at",
    )
    .bind(channel.as_str())
    .bind(external_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut last = None;
    for r in rows {
        let status: String = col(&r, "status")?;
        let Some(receipt) = Receipt::parse(&status) else { continue };
        let error: Option<String> = col(&r, "error")?;
        if let Some(a) = apply_receipt(conn, channel, external_id, receipt, error.as_deref(), col(&r, "at")?).await? {
            if last.as_ref().is_none_or(|l: &ReceiptApplied| l.receipt != Receipt::Failed) {
                last = Some(a);
            }
        }
    }
    Ok(last)
}

fn media_from(r: &sqlx::any::AnyRow) -> Result<MediaRow> {
    Ok(MediaRow {
        id: MediaId(col(r, "id")?),
        kind: col(r, "kind")?,
        file_path: col(r, "file_path")?,
        sha256: col(r, "sha256")?,
        size: col(r, "size_bytes")?,
        name: col(r, "original_name")?,
        mime: col(r, "mime")?,
        ready: col::<String>(r, "status")? == "ready",
        error: col(r, "error")?,
        lead: col::<Option<i64>>(r, "lead_id")?.map(LeadId),
        customer: col::<Option<i64>>(r, "customer_id")?.map(CustomerId),
    })
}

const MEDIA_SELECT: &str = "SELECT id, kind, file_path, sha256, size_bytes, original_name, mime, status, error,
    lead_id, customer_id FROM media";

impl Store {
    pub async fn media_source(&self, message: MessageRowId) -> Result<Option<MediaSource>> {
        let row = sqlx::query(
            "SELECT id, lead_id, customer_id, channel, direction, kind, telegram_file_id, extra, media_id
             FROM messages WHERE id = $1",
        )
        .bind(message.0)
        .fetch_optional(self.reader())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let d: String = col(&r, "direction")?;
        let k: String = col(&r, "kind")?;
        Ok(Some(MediaSource {
            message,
            lead: LeadId(col(&r, "lead_id")?),
            customer: CustomerId(col(&r, "customer_id")?),
            channel: col(&r, "channel")?,
            direction: Direction::parse(&d).ok_or_else(|| StoreError::Corrupt(format!("direction {d}")))?,
            kind: MessageKind::parse(&k).ok_or_else(|| StoreError::Corrupt(format!("kind {k}")))?,
            telegram_file_id: col(&r, "telegram_file_id")?,
            extra: col::<Option<String>>(&r, "extra")?.and_then(|s| serde_json::from_str(&s).ok()),
            media: col::<Option<i64>>(&r, "media_id")?.map(MediaId),
        }))
    }

    pub async fn media(&self, id: MediaId) -> Result<Option<MediaRow>> {
        let row =
            sqlx::query(&format!("{MEDIA_SELECT} WHERE id = $1")).bind(id.0).fetch_optional(self.reader()).await?;
        row.as_ref().map(media_from).transpose()
    }

    /// The content hashes some row still points to (for `media gc`).
    pub async fn referenced_media(&self) -> Result<HashSet<String>> {
        let rows =
            sqlx::query("SELECT DISTINCT sha256 FROM media WHERE sha256 IS NOT NULL").fetch_all(self.reader()).await?;
        rows.iter().map(|r| col::<String>(r, "sha256")).collect()
    }
}
