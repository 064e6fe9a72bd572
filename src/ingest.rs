//! Ingest: one inbound customer message stored in one transaction — dedupe on
//! (channel, external message id), find or create the customer by identity, attach to the
//! customer's open lead or open a new one, insert the message, enqueue the topic sync.
//! Only after the commit may the webhook be answered or the update offset move on.

use crate::domain::message::preview;
use crate::domain::{Channel, CustomerId, Direction, LeadId, MessageKind, MessageRowId};
use crate::store::JobKind;
use crate::store::{self, NewJob, NewMessage, Store, StoreError};
use serde_json::json;

/// One customer message, whatever messenger it came from.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub channel: Channel,
    /// The customer's id on that messenger.
    pub external_user: String,
    /// The message's id on that messenger, unique per channel.
    pub external_message: String,
    pub sender_name: String,
    pub language: Option<String>,
    pub kind: MessageKind,
    pub text: Option<String>,
    pub file_id: Option<String>,
    pub media_group_id: Option<String>,
    /// Structured extras (a location's coordinates, a contact's name).
    pub extra: Option<serde_json::Value>,
    /// When the customer sent it, as the messenger reports (unix ms).
    pub sent_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    pub customer: CustomerId,
    pub lead: LeadId,
    pub message: MessageRowId,
    pub new_lead: bool,
}

/// How long the topic sync waits for the rest of an album before posting it.
pub const ALBUM_GRACE_MS: i64 = 1_500;

/// The dedupe key of a lead's topic sync job.
pub fn topic_sync_job(lead: LeadId, run_at: i64) -> NewJob {
    NewJob {
        kind: JobKind::TopicSync,
        payload: json!({ "lead": lead.0 }),
        queue_key: format!("topic:{}", lead.0),
        dedupe_key: Some(format!("topic:{}", lead.0)),
        run_at,
    }
}

/// Store one inbound message inside the caller's transaction. `Ok(None)` means it was a
/// duplicate and nothing changed.
pub async fn ingest_in_tx(conn: &mut store::Conn, m: &Inbound, now: i64) -> Result<Option<Ingested>, StoreError> {
    let customer = store::find_or_create_customer(
        conn,
        m.channel,
        &m.external_user,
        &m.sender_name,
        m.language.as_deref(),
        m.sent_at,
        now,
    )
    .await?;
    let (lead, new_lead) = match store::open_lead(conn, customer).await? {
        Some(l) => (l, false),
        None => (store::create_lead(conn, customer, m.channel, now).await?, true),
    };
    let row = NewMessage {
        lead,
        customer,
        user: None,
        channel: m.channel.as_str().to_string(),
        direction: Direction::Incoming,
        kind: m.kind,
        body: m.text.clone(),
        telegram_file_id: m.file_id.clone(),
        media_group_id: m.media_group_id.clone(),
        extra: m.extra.clone(),
        external_id: Some(m.external_message.clone()),
        sent_at: m.sent_at,
        delivery: None,
        staff_state: "pending",
    };
    let Some(message) = store::insert_message(conn, &row, now).await? else {
        return Ok(None);
    };
    store::touch_lead(conn, lead, m.channel, &preview(m.kind, m.text.as_deref()), m.sent_at, now).await?;
    let run_at = if m.media_group_id.is_some() { now + ALBUM_GRACE_MS } else { now };
    store::jobs_enqueue(conn, &topic_sync_job(lead, run_at), now).await?;
    Ok(Some(Ingested { customer, lead, message, new_lead }))
}

/// Store one inbound message in its own transaction.
pub async fn ingest(store: &Store, m: &Inbound, now: i64) -> Result<Option<Ingested>, StoreError> {
    let mut tx = store.begin().await?;
    let out = ingest_in_tx(&mut tx, m, now).await?;
    tx.commit().await?;
    Ok(out)
}
