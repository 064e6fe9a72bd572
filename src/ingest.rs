//! Ingest: one inbound customer message stored in one transaction — dedupe on
//! (channel, external message id), find or create the customer by identity, attach to the
//! customer's open lead or open a new one, insert the message, enqueue the topic sync.
//! Only after the commit may the webhook be answered or the update offset move on.

use crate::domain::{CustomerId, LeadId, MessageRowId};
use crate::store::JobKind;
use crate::store::{self, NewJob, Store, StoreError};
use serde_json::json;

pub use crate::domain::message::Inbound;

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

/// Store one inbound message inside the caller's transaction (the same path as a batch).
/// `Ok(None)` means it was a duplicate and nothing changed.
pub async fn ingest_in_tx(conn: &mut store::Conn, m: &Inbound, now: i64) -> Result<Option<Ingested>, StoreError> {
    let item = store::BatchItem { update_id: None, inbound: m };
    let stored = store::store_inbound_batch(conn, "", &[item], now, ALBUM_GRACE_MS).await?;
    Ok(stored.first().map(|s| Ingested {
        customer: s.customer,
        lead: s.lead,
        message: s.message,
        new_lead: s.new_lead,
    }))
}

/// Store one inbound message in its own transaction.
pub async fn ingest(store: &Store, m: &Inbound, now: i64) -> Result<Option<Ingested>, StoreError> {
    let mut tx = store.begin().await?;
    let out = ingest_in_tx(&mut tx, m, now).await?;
    tx.commit().await?;
    Ok(out)
}
