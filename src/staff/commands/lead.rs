//! `/lead N` (the card again, at the bottom of the lead's topic) and `/note text` (an
//! internal note on the topic's lead, never sent to the customer).

use super::Ctx;
use crate::domain::{Direction, LeadId};
use crate::ingest::topic_sync_job;
use crate::store::{self, NewMessage, StoreError};
use tracing::info;

pub async fn repost_card(c: &mut Ctx<'_>, args: &str) -> Result<Option<String>, StoreError> {
    let Ok(n) = args.trim_start_matches('#').parse::<i64>() else {
        return Ok(Some(c.render("staff/usage_lead.txt", minijinja::context! {})));
    };
    let Some(l) = store::lead_in_tx(c.tx, LeadId(n)).await? else {
        return Ok(Some(c.render("staff/lead_not_found.txt", minijinja::context! { id => n })));
    };
    store::bump_card(c.tx, l.id, Some("main"), c.now).await?;
    store::forget_card(c.tx, l.id).await?;
    store::jobs_enqueue(c.tx, &topic_sync_job(l.id, c.now), c.now).await?;
    Ok(None)
}

pub async fn note(c: &mut Ctx<'_>, text: &str) -> Result<Option<String>, StoreError> {
    if text.is_empty() {
        return Ok(Some(c.render("staff/note_empty.txt", minijinja::context! {})));
    }
    let Some(l) = c.lead else {
        return Ok(Some(c.render("staff/usage_lead.txt", minijinja::context! {})));
    };
    let Some(lead) = store::lead_in_tx(c.tx, l).await? else {
        return Ok(None);
    };
    let note = NewMessage {
        user: Some(c.user.id),
        channel: crate::domain::message::MessageChannel::Staff,
        direction: Direction::Note,
        body: Some(text.to_string()),
        staff_state: crate::domain::message::StaffState::NotShown,
        ..crate::notices::system_message(l, lead.customer_id, "", c.m.sent_at)
    };
    store::insert_message(c.tx, &note, c.now).await?;
    info!(lead = l.0, "note saved");
    Ok(None)
}
