//! Notices and card bumps: "say this in the lead's topic" and "re-render the cards of the
//! leads holding this car", written inside the caller's transaction as a message row and a
//! topic sync job. Low in the house (it takes a connection, never the shared state), so every
//! handler — staff, flows, webhooks — uses the same few lines. And the job constructors for
//! posting in the staff groups.

use crate::channels::telegram::Keyboard;
use crate::domain::{CustomerId, Direction, LeadId, MessageKind, VehicleId};
use crate::ingest::topic_sync_job;
use crate::store::{self, NewJob, NewMessage};
use serde_json::json;

/// The job that posts a text (with an optional keyboard) in a staff chat or topic.
pub fn staff_reply_job(chat: i64, thread: Option<i32>, text: &str, keyboard: Option<&Keyboard>, now: i64) -> NewJob {
    crate::jobs::Job::StaffReply {
        chat,
        thread,
        text: Some(text.to_string()),
        keyboard: keyboard.cloned(),
        photos_of: None,
        mention: None,
    }
    .into_new(format!("group:{chat}"), None, now)
}

/// A notice for a lead's topic (not from the customer; optionally with a button under it),
/// and the topic sync that shows it, inside the caller's transaction.
pub async fn notice_in_tx(
    tx: &mut store::Conn,
    lead: LeadId,
    customer: CustomerId,
    text: &str,
    button: Option<&str>,
    now: i64,
) -> Result<(), store::StoreError> {
    let mut m = system_message(lead, customer, text, now);
    m.extra = button.map(|b| json!({ "button": b }));
    store::insert_message(tx, &m, now).await?;
    store::jobs_enqueue(tx, &topic_sync_job(lead, now), now).await?;
    Ok(())
}

/// Every open lead that holds a vehicle gets its card edited (the car's line changed).
pub async fn bump_holders(tx: &mut store::Conn, vehicle: VehicleId, now: i64) -> Result<(), store::StoreError> {
    for id in store::other_open_leads_holding(tx, vehicle, LeadId(0)).await? {
        store::bump_card(tx, id, None, now).await?;
        store::jobs_enqueue(tx, &topic_sync_job(id, now), now).await?;
    }
    Ok(())
}

/// The same notice on every open lead that holds a vehicle (all but `except`), with their
/// cards edited: how a car's status change reaches the leads that want it.
pub async fn notice_holders(
    tx: &mut store::Conn,
    vehicle: VehicleId,
    except: Option<LeadId>,
    text: &str,
    now: i64,
) -> Result<(), store::StoreError> {
    for id in store::other_open_leads_holding(tx, vehicle, except.unwrap_or(LeadId(0))).await? {
        let Some(l) = store::lead_in_tx(tx, id).await? else { continue };
        store::bump_card(tx, l.id, None, now).await?;
        notice_in_tx(tx, l.id, l.customer_id, text, None, now).await?;
    }
    Ok(())
}

pub fn system_message(lead: LeadId, customer: CustomerId, text: &str, now: i64) -> NewMessage {
    NewMessage {
        lead,
        customer,
        user: None,
        channel: crate::domain::message::MessageChannel::Staff,
        direction: Direction::System,
        kind: MessageKind::Text,
        body: Some(text.to_string()),
        telegram_file_id: None,
        media_group_id: None,
        extra: None,
        external_id: None,
        sent_at: now,
        delivery: None,
        staff_state: crate::domain::message::StaffState::Pending,
    }
}
