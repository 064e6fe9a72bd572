//! ✍️ Reply drafts and ✅ Set intent (issue 15): AI writes, a person decides.
//!
//! **✍️ Draft** on the card asks the model (`Job::AiDraft`, the AI lane) for a reply in the
//! customer's language from the conversation and the attached cars as the store has them;
//! a draft that names a figure it was not given is refused. The draft is posted in the
//! topic, which only staff see, with **📤 Send** and **✖ Discard** (`Job::DraftPost`).
//! Nothing reaches the customer until a person presses Send: then it goes exactly as that
//! person's reply (`actions::relay`). An edited draft is just the manager typing it.
//!
//! **✅ Set intent** applies the AI's guess of what an unqualified lead wants; the topic
//! says who set it.

use super::actions::{relay, render, Outgoing, Relayed};
use super::buttons::{Answer, Press};
use crate::ai::{Ask, Failure};
use crate::channels::telegram::{Keyboard, TgError};
use crate::context::App;
use crate::domain::ai::{draft_schema, intent_of_code, mask, read_draft, Feature};
use crate::domain::callback::CardAction;
use crate::domain::{MessageKind, Role};
use crate::jobs::{Job, Outcome};
use crate::store::{self, DraftState, NewJob, StoreError};
use std::sync::Arc;
use tracing::info;

fn draft_job(draft: i64, now: i64) -> NewJob {
    Job::AiDraft { draft }.into_new(format!("ai:draft:{draft}"), Some(format!("ai_draft:{draft}")), now)
}

fn post_job(draft: i64, lead: crate::domain::LeadId, now: i64) -> NewJob {
    // In the lead's topic queue's neighbour: one draft's posts and edits in order.
    Job::DraftPost { draft }.into_new(format!("draft:{}", lead.0), None, now)
}

fn say(app: &App, what: &str, ctx: minijinja::Value) -> String {
    render(app, "staff/draft.txt", minijinja::context! { what, ..ctx })
}

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

/// `Job::AiDraft`: ask the model; keep the draft, or why none came, and show it.
pub async fn draft(app: &Arc<App>, id: i64) -> anyhow::Result<Outcome> {
    let Some(d) = app.store.draft(id).await?.filter(|d| d.state == DraftState::Asked) else {
        return Ok(Outcome::Done);
    };
    let now = app.clock.now_ms();
    let result = match (app.ai.as_ref(), app.store.lead(d.lead).await?) {
        (Some(ai), Some(lead)) => {
            let language = lead
                .language
                .as_deref()
                .and_then(|l| l.get(..2))
                .filter(|l| ["uk", "ru", "en"].contains(l))
                .unwrap_or(&app.config.flows.default_language)
                .to_string();
            let input = super::ai::conversation_input(app, &lead).await?;
            let ask = Ask {
                feature: Feature::Drafts,
                lead: Some(lead.id),
                call: None,
                system: ai.prompts.render("draft_system.txt", &serde_json::json!({ "language": language })),
                input: input.clone(),
                schema_name: "reply_draft",
                schema: draft_schema(),
            };
            let given = mask(&input);
            match ai.ask(&app.store, now, &ask, |c| read_draft(c, &given)).await {
                Ok(a) => Ok(a.value),
                Err(Failure::Rejected(r)) => Err(say(app, "rejected", minijinja::context! { reason => r.to_string() })),
                Err(Failure::Budget { .. }) => Err(say(app, "budget", minijinja::context! {})),
                Err(Failure::Off) => Err(say(app, "off", minijinja::context! {})),
                Err(Failure::Unavailable(_) | Failure::TooLarge(_)) => {
                    Err(say(app, "unavailable", minijinja::context! {}))
                }
            }
        }
        _ => Err(say(app, "off", minijinja::context! {})),
    };
    app.store.set_draft_text(id, result.as_deref().map_err(String::as_str), now).await?;
    app.store.enqueue(&post_job(id, d.lead, now), now).await?;
    app.wake.notify_one();
    Ok(Outcome::Done)
}

/// `Job::DraftPost`: a ready draft with its buttons; once decided, the same message says
/// what became of it; a failed one says why.
pub async fn post(app: &Arc<App>, id: i64) -> anyhow::Result<Outcome> {
    let Some(d) = app.store.draft(id).await? else { return Ok(Outcome::Done) };
    let Some(lead) = app.store.lead(d.lead).await? else { return Ok(Outcome::Done) };
    let now = app.clock.now_ms();
    let (Some(chat), Some(thread)) = (lead.staff_chat_id, lead.topic_thread_id) else {
        return Ok(Outcome::WaitUntil(now + 2_000));
    };
    let asked_by = app.store.user_by_id(d.asked_by).await?.map(|u| u.name).unwrap_or_default();
    let decided_by = match d.decided_by {
        Some(u) => app.store.user_by_id(u).await?.map(|u| u.name),
        None => None,
    };
    let state = d.state.as_str();
    let text = say(
        app,
        "draft",
        minijinja::context! { state, text => &d.text, error => &d.error, asked_by, decided_by, customer => &lead.customer_name },
    );
    let keyboard: Keyboard = match d.state {
        DraftState::Ready => vec![vec![
            (app.templates.label("button", "draft_send", "📤 Send"), CardAction::SendDraft(lead.id, id).encode()),
            (
                app.templates.label("button", "draft_discard", "✖ Discard"),
                CardAction::DiscardDraft(lead.id, id).encode(),
            ),
        ]],
        _ => Vec::new(),
    };
    let bot = &app.staff_bot;
    if let Err(until) = app.limiter.acquire(bot.slot, chat, now) {
        return Ok(Outcome::WaitUntil(until));
    }
    let kb = (!keyboard.is_empty()).then_some(&keyboard);
    let sent = match (d.chat, d.message) {
        (Some(c), Some(m)) => match bot.api.edit_text(c, m, &text, kb).await {
            Ok(()) | Err(TgError::NotModified) => Ok(None),
            Err(e) => Err(e),
        },
        _ if d.state == DraftState::Asked => return Ok(Outcome::Done),
        _ => bot.api.send_text(chat, Some(thread), &text, kb).await.map(Some),
    };
    match sent {
        Ok(Some(m)) => {
            app.store.set_draft_message(id, chat, m).await?;
            Ok(Outcome::Done)
        }
        Ok(None) => Ok(Outcome::Done),
        Err(TgError::BadRequest(e)) => Ok(Outcome::Park(format!("Telegram refused the draft: {e}"))),
        Err(e) => Ok(super::topic::failure(app, chat, e)),
    }
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
