//! The buttons of AI's advice: ✍️ Draft, 📤 Send and ✖ Discard under a draft, ✅ Set intent
//! (`staff::drafts` has the jobs that ask the model and show the draft).

use super::{Answer, Press};
use crate::domain::ai::{intent_of_code, Feature};
use crate::domain::{MessageKind, Role};
use crate::staff::actions::{relay, render, Outgoing, Relayed};
use crate::staff::drafts::{draft_job, post_job, say};
use crate::store::{self, DraftState, StoreError};
use tracing::info;

/// ✍️ Draft pressed: a draft row and its job.
pub async fn ask(p: &mut Press<'_>) -> Result<Answer, StoreError> {
    let app = p.app;
    if !app.ai.as_ref().is_some_and(|a| a.on(Feature::Drafts)) {
        return Ok((render(app, "staff/stale_button.txt", minijinja::context! {}), true));
    }
    if p.user.role == Role::Analyst {
        return Ok((say(app, "read_only", minijinja::context! {}), true));
    }
    if p.lead.last_channel.is_none() {
        return Ok((render(app, "staff/no_chat.txt", minijinja::context! {}), true));
    }
    let id = store::insert_draft(p.tx, p.lead.id, p.user.id, p.now).await?;
    store::jobs_enqueue(p.tx, &draft_job(id, p.now), p.now).await?;
    info!(lead = p.lead.id.0, user = p.user.id.0, draft = id, "reply draft asked for");
    Ok((say(app, "drafting", minijinja::context! {}), false))
}

/// 📤 Send: the draft goes to the customer as the presser's reply.
pub async fn send(p: &mut Press<'_>, id: i64) -> Result<Answer, StoreError> {
    let app = p.app;
    let Some(d) = store::draft_in_tx(p.tx, id).await?.filter(|d| d.lead == p.lead.id) else {
        return Ok((render(app, "staff/stale_button.txt", minijinja::context! {}), true));
    };
    let (DraftState::Ready, Some(text)) = (d.state, d.text.clone()) else {
        return Ok((say(app, "already", minijinja::context! {}), true));
    };
    let out = Outgoing { kind: MessageKind::Text, text: Some(text), file_id: None, extra: None, sent_at: p.now };
    match relay(app, p.tx, p.user, p.lead, out, p.now).await? {
        Relayed::Refused(reason) => {
            return Ok((render(app, "staff/reply_refused.txt", minijinja::context! { reason }), true));
        }
        Relayed::Queued(_) | Relayed::Duplicate => {}
    }
    if !store::move_draft(p.tx, id, DraftState::Ready, DraftState::Sent, Some(p.user.id), p.now).await? {
        return Ok((say(app, "already", minijinja::context! {}), true));
    }
    store::jobs_enqueue(p.tx, &post_job(id, p.lead.id, p.now), p.now).await?;
    info!(lead = p.lead.id.0, user = p.user.id.0, draft = id, "reply draft sent by a person");
    Ok((say(app, "sent", minijinja::context! {}), false))
}

/// ✖ Discard.
pub async fn discard(p: &mut Press<'_>, id: i64) -> Result<Answer, StoreError> {
    let app = p.app;
    if p.user.role == Role::Analyst {
        return Ok((say(app, "read_only", minijinja::context! {}), true));
    }
    let ok = store::draft_in_tx(p.tx, id).await?.is_some_and(|d| d.lead == p.lead.id)
        && store::move_draft(p.tx, id, DraftState::Ready, DraftState::Discarded, Some(p.user.id), p.now).await?;
    if !ok {
        return Ok((say(app, "already", minijinja::context! {}), true));
    }
    store::jobs_enqueue(p.tx, &post_job(id, p.lead.id, p.now), p.now).await?;
    Ok((say(app, "discarded", minijinja::context! {}), false))
}

/// ✅ Set intent: a person applies the AI's guess.
pub async fn set_intent(p: &mut Press<'_>, code: char) -> Result<Answer, StoreError> {
    let app = p.app;
    if p.user.role == Role::Analyst {
        return Ok((say(app, "read_only", minijinja::context! {}), true));
    }
    let Some(intent) = intent_of_code(code) else {
        return Ok((render(app, "staff/stale_button.txt", minijinja::context! {}), true));
    };
    if !store::apply_intent(p.tx, p.lead.id, intent, p.now).await? {
        return Ok((say(app, "already", minijinja::context! {}), true));
    }
    let label = app.templates.label("intent", intent, intent);
    let note = say(app, "intent_set", minijinja::context! { intent => &label, who => &p.user.name });
    crate::notices::notice_in_tx(p.tx, p.lead.id, p.lead.customer_id, &note, None, p.now).await?;
    store::bump_card(p.tx, p.lead.id, None, p.now).await?;
    info!(lead = p.lead.id.0, user = p.user.id.0, intent, "intent set from the AI's suggestion");
    Ok((say(app, "intent_done", minijinja::context! { intent => &label }), false))
}
