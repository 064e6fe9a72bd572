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
//! says who set it. The buttons' handlers are `staff::buttons::draft`; the jobs are here.

use super::actions::render;
use crate::ai::{Ask, Failure};
use crate::channels::telegram::{Keyboard, TgError};
use crate::context::App;
use crate::domain::ai::{draft_schema, mask, read_draft, Feature};
use crate::domain::callback::CardAction;
use crate::jobs::{Job, Outcome};
use crate::store::{DraftState, NewJob};
use std::sync::Arc;

pub(super) fn draft_job(draft: i64, now: i64) -> NewJob {
    Job::AiDraft { draft }.into_new(format!("ai:draft:{draft}"), Some(format!("ai_draft:{draft}")), now)
}

pub(super) fn post_job(draft: i64, lead: crate::domain::LeadId, now: i64) -> NewJob {
    // In the lead's topic queue's neighbour: one draft's posts and edits in order.
    Job::DraftPost { draft }.into_new(format!("draft:{}", lead.0), None, now)
}

pub(super) fn say(app: &App, what: &str, ctx: minijinja::Value) -> String {
    render(app, "staff/draft.txt", minijinja::context! { what, ..ctx })
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
                Ok(a) => {
                    if let Err(e) = app.store.keep_ai_answer(&a.keep).await {
                        tracing::warn!(error = %e, lead = d.lead.0, "could not keep a draft's AI answer (asking again sends it again)");
                    }
                    Ok(a.value)
                }
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
