//! Calls in the topics (the jobs `calls` enqueues): one message per call, edited as the call
//! goes on — direction, answered or missed, who, talk and wait time, the source, the
//! recording's state, the callback — with a button to the call in the provider's cabinet;
//! and the recording, downloaded into the media store by its own job and posted under the
//! call as audio (streamed from disk, never a URL for Telegram to fetch). A recording that
//! cannot be had says why on the message; the topic never waits for it.

use crate::channels::telegram::{url_button, FileRef, Keyboard, TgError};
use crate::context::App;
use crate::domain::call::{CallDirection, CallSource, RecordingState};
use crate::domain::callback::CardAction;
use crate::domain::{CallId, MessageKind};
use crate::jobs::Outcome;
use crate::media::FetchError;
use crate::store::{self, CallRow, LeadRow};
use std::sync::Arc;
use tracing::{info, warn};

/// `1:02` / `12 s`.
fn span(s: Option<i64>) -> Option<String> {
    match s? {
        s if s <= 0 => None,
        s if s < 60 => Some(format!("{s} s")),
        s => Some(format!("{}:{:02}", s / 60, s % 60)),
    }
}

/// The call's message: its text and keyboard.
async fn render(app: &App, call: &CallRow) -> anyhow::Result<(String, Keyboard)> {
    let mut tx = app.store.pool().acquire().await?;
    let callback = store::callback_state(&mut tx, call.id).await?;
    let others = match &call.caller_hash {
        Some(h) => store::customers_by_phone(&mut tx, h).await?.len(),
        None => 0,
    };
    drop(tx);
    let who = call.user_name.clone().or_else(|| call.employee_name.clone());
    let unknown_ext =
        if call.user.is_none() && call.employee_name.is_none() { call.employee_ext.clone() } else { None };
    let source = CallSource {
        pool: call.pool_name.clone(),
        utm_source: call.utm_source.clone(),
        utm_medium: call.utm_medium.clone(),
        utm_campaign: call.utm_campaign.clone(),
    };
    let open_callback = callback.as_ref().filter(|c| c.open);
    let reviews = app.store.reviews_of_call(call.id).await?;
    let view = minijinja::context! {
        call => minijinja::context! {
            inbound => call.direction == CallDirection::Inbound,
            live => call.disposition.is_live(),
            missed => call.missed,
            answered => call.answered(),
            time => app.local_time(call.started_at, true),
            caller => call.caller_tail.as_ref().map(|t| format!("…{t}")),
            who => who,
            unknown_ext => unknown_ext,
            talk => span(call.billsec),
            wait => span(call.wait_s),
            source => Some(source.shown()).filter(|s| !s.is_empty()),
            recording => match call.recording_state {
                RecordingState::None => None,
                s => Some(s.as_str()),
            },
            recording_error => call.recording_error.clone(),
            callback_due => open_callback.and_then(|c| c.due_at).map(|d| app.local_time(d, false)),
            callback_done => callback.as_ref().is_some_and(|c| !c.open),
            callback_by => callback.as_ref().filter(|c| !c.open).and_then(|c| c.done_by.clone().or(c.done_how.clone())),
            other_customers => (others > 1).then_some(others),
            reviews => reviews.iter().map(|r| minijinja::context! { score => r.score, by => &r.reviewer_name, critical => !r.critical_missed.is_empty() }).collect::<Vec<_>>(),
        }
    };
    let text = app.templates.render("staff/call.txt", view)?;
    let label = |v: &str| app.templates.label("button", v, v);
    let mut row = Vec::new();
    if let (Some(c), Some(lead)) = (open_callback, call.lead) {
        row.push((label("called_back"), CardAction::CalledBack(lead, c.task).encode()));
    }
    if call.answered() && call.recording_state == RecordingState::Posted {
        row.push((label("review"), crate::domain::callback::ReviewAction::Start(call.id).encode()));
    }
    if call.lead.is_some() {
        row.push((label("other_lead"), crate::domain::callback::CallAction::MoveHint(call.id).encode()));
    }
    if let Some(url) = &call.card_url {
        row.push((format!("{} {}", label("open_call"), call.provider.label()), url_button(url)));
    }
    // Two buttons a row, so labels stay readable on a phone.
    let keyboard: Keyboard = row.chunks(2).map(<[_]>::to_vec).collect();
    Ok((crate::domain::text::fit_message(text.trim_end()), keyboard))
}

/// Where the lead's topic is, once it exists.
fn topic_of(lead: &LeadRow) -> Option<(i64, i32)> {
    Some((lead.staff_chat_id?, lead.topic_thread_id?))
}

/// Post or edit a call's message (the `CallPost` job).
pub async fn post(app: &Arc<App>, id: CallId) -> anyhow::Result<Outcome> {
    let Some(call) = app.store.call(id).await? else { return Ok(Outcome::Done) };
    let Some(lead_id) = call.lead else { return Ok(Outcome::Done) };
    let Some(lead) = app.store.lead(lead_id).await? else { return Ok(Outcome::Done) };
    let now = app.clock.now_ms();
    let Some((chat, thread)) = topic_of(&lead).filter(|_| !lead.topic_closed) else {
        // The topic is being made (or reopened) by its sync; come back when it is there.
        app.store.enqueue(&crate::ingest::topic_sync_job(lead.id, now), now).await?;
        return Ok(Outcome::WaitUntil(now + 1_000));
    };
    if call.rendered_version >= call.version && call.staff_chat_id == Some(chat) {
        return Ok(Outcome::Done);
    }
    let (text, keyboard) = render(app, &call).await?;
    let kb = (!keyboard.is_empty()).then_some(&keyboard);
    let bot = &app.staff_bot;
    // A call goes before the chat waiting for the same group: a missed call must be seen.
    if let Err(until) = app.limiter.acquire_first(bot.slot, chat, now) {
        return Ok(Outcome::WaitUntil(until));
    }
    let sent = match (call.staff_message_id, call.staff_chat_id) {
        // Edited in place while it lives in the lead's current topic.
        (Some(m), Some(c)) if c == chat => match bot.api.edit_text(chat, m, &text, kb).await {
            Ok(()) | Err(TgError::NotModified) => Ok(m),
            Err(TgError::EditTargetMissing) => bot.api.send_text(chat, Some(thread), &text, kb).await,
            Err(e) => Err(e),
        },
        _ => bot.api.send_text(chat, Some(thread), &text, kb).await,
    };
    match sent {
        Ok(m) => {
            app.store.set_call_rendered(call.id, chat, m, call.version).await?;
            Ok(Outcome::Done)
        }
        Err(TgError::ThreadNotFound) | Err(TgError::TopicClosed) => {
            // The sync finds the topic gone or closed and puts it right; then this runs again.
            app.store.enqueue(&crate::ingest::topic_sync_job(lead.id, now), now).await?;
            Ok(Outcome::WaitUntil(now + 2_000))
        }
        Err(TgError::BadRequest(e)) => Ok(Outcome::Park(e)),
        Err(e) => Ok(super::topic::failure(app, chat, e)),
    }
}

/// Download a call's recording into the media store and post it under the call (the
/// `CallRecording` job).
pub async fn recording(app: &Arc<App>, id: CallId) -> anyhow::Result<Outcome> {
    let Some(call) = app.store.call(id).await? else { return Ok(Outcome::Done) };
    if call.recording_state != RecordingState::Downloading {
        return Ok(Outcome::Done);
    }
    let now = app.clock.now_ms();
    let media = match call.recording_media {
        Some(m) => app.store.media(m).await?,
        None => None,
    };
    let (path, name) = match media.and_then(|m| Some((m.file_path?, m.name.unwrap_or_default()))) {
        Some(x) => x,
        None => {
            let Some(url) = call.recording_url.as_deref() else {
                unavailable(app, &call, "the provider sent no link").await?;
                return Ok(Outcome::Done);
            };
            let max = app.config.calls.recording_max_bytes;
            match crate::media::download_into(&app.media, &app.http, url, max).await {
                Ok(kept) => {
                    let name = recording_name(&call, url);
                    let mut tx = app.store.begin().await?;
                    store::keep_recording(&mut tx, &call, &kept.path, &kept.sha256, kept.size as i64, &name, now)
                        .await?;
                    tx.commit().await?;
                    info!(call = call.id.0, bytes = kept.size, "call recording kept");
                    (kept.path, name)
                }
                Err(FetchError::Transient(e)) => return Ok(Outcome::Retry(format!("downloading the recording: {e}"))),
                Err(e) => {
                    unavailable(app, &call, &e.to_string()).await?;
                    return Ok(Outcome::Done);
                }
            }
        }
    };
    // Posted under the call's message, once that message is in the topic.
    let (Some(chat), Some(message)) = (call.staff_chat_id, call.staff_message_id) else {
        return Ok(Outcome::WaitUntil(now + 2_000));
    };
    let Some(lead) = app.store.lead(call.lead.unwrap_or(crate::domain::LeadId(0))).await? else {
        return Ok(Outcome::Done);
    };
    let Some((lead_chat, thread)) = topic_of(&lead).filter(|(c, _)| *c == chat) else {
        return Ok(Outcome::WaitUntil(now + 2_000));
    };
    let bot = &app.staff_bot;
    if let Err(until) = app.limiter.acquire(bot.slot, lead_chat, now) {
        return Ok(Outcome::WaitUntil(until));
    }
    let caption = app.templates.render(
        "staff/call_recording.txt",
        minijinja::context! {
            time => app.local_time(call.started_at, true),
            who => call.user_name.clone().or(call.employee_name.clone()),
            talk => span(call.billsec),
        },
    )?;
    let file = FileRef::Path(app.media.path(&path), name);
    match bot
        .api
        .send_media_reply(chat, Some(thread), MessageKind::Audio, &file, Some(caption.trim()), Some(message))
        .await
    {
        Ok(_) => {
            let mut tx = app.store.begin().await?;
            store::set_recording(&mut tx, call.id, RecordingState::Posted, None, None, now).await?;
            if call.lead.is_some() {
                store::jobs_enqueue(&mut tx, &crate::calls::post_job(call.id, now), now).await?;
            }
            // An answered call's recording is transcribed when AI is on (its own lane).
            if call.answered() && app.ai.as_ref().is_some_and(|a| a.on(crate::domain::ai::Feature::Transcripts)) {
                store::jobs_enqueue(&mut tx, &super::ai_calls::transcribe_job(call.id, now), now).await?;
            }
            tx.commit().await?;
            app.wake.notify_one();
            Ok(Outcome::Done)
        }
        Err(TgError::BadRequest(e)) => {
            unavailable(app, &call, &format!("Telegram refused the file: {e}")).await?;
            Ok(Outcome::Done)
        }
        Err(e) => Ok(super::topic::failure(app, chat, e)),
    }
}

/// A name for the recording's file: the link's own, or the call's time.
fn recording_name(call: &CallRow, url: &str) -> String {
    let from_url = url.split(['?', '#']).next().and_then(|p| p.rsplit('/').next()).filter(|n| n.contains('.'));
    match from_url {
        Some(n) => crate::domain::text::cap_chars(n, 64),
        None => format!("call-{}.mp3", call.id.0),
    }
}

/// The recording cannot be had: the message says why.
async fn unavailable(app: &App, call: &CallRow, why: &str) -> anyhow::Result<()> {
    warn!(call = call.id.0, why, "call recording unavailable");
    let now = app.clock.now_ms();
    let why = crate::domain::text::cap_chars(why, 200);
    let mut tx = app.store.begin().await?;
    store::set_recording(&mut tx, call.id, RecordingState::Unavailable, None, Some(&why), now).await?;
    if call.lead.is_some() {
        store::jobs_enqueue(&mut tx, &crate::calls::post_job(call.id, now), now).await?;
    }
    tx.commit().await?;
    app.wake.notify_one();
    Ok(())
}

/// The recording job was parked (it kept failing): the message says so.
pub async fn recording_gave_up(app: &Arc<App>, id: CallId, error: &str) {
    let result = async {
        let Some(call) = app.store.call(id).await? else { return anyhow::Ok(()) };
        unavailable(app, &call, error).await
    }
    .await;
    if let Err(e) = result {
        warn!(call = id.0, error = %e, "could not mark a recording unavailable");
    }
}

/// A staff reply to a call's message that is a lead number (`#12`): move the call there
/// (🔗 Other lead). Returns the answer for the topic.
pub async fn move_to(
    app: &App,
    tx: &mut store::Conn,
    user: &crate::store::UserRow,
    call: &CallRow,
    target: crate::domain::LeadId,
    now: i64,
) -> Result<String, crate::store::StoreError> {
    use crate::domain::call::{may_move, MoveError};
    let say = |what: &str, ctx: minijinja::Value| {
        super::words::render(app, "staff/call_move.txt", minijinja::context! { what, ..ctx })
    };
    let Some(to) = store::lead_in_tx(tx, target).await? else {
        return Ok(say("no_lead", minijinja::context! { lead => target.0 }));
    };
    let from = match call.lead {
        Some(l) => store::lead_in_tx(tx, l).await?,
        None => None,
    };
    let only = match &from {
        Some(f) => store::lead_holds_only_call(tx, f.id, call.id).await?,
        None => false,
    };
    let actor = crate::domain::Actor { id: user.id, role: user.role };
    let (from_facts, to_facts) = (from.as_ref().map(|f| f.facts()), to.facts());
    let close = match may_move(
        actor,
        from.as_ref().zip(from_facts.as_ref()).map(|(f, x)| (f.id.0, x)),
        (to.id.0, &to_facts),
        only,
    ) {
        Ok(c) => c,
        Err(MoveError::Rule(e)) => return Ok(say("refused", minijinja::context! { reason => e.to_string() })),
        Err(e) => return Ok(say("refused", minijinja::context! { reason => e.to_string() })),
    };
    store::move_call(tx, call.id, to.id, to.customer_id, now).await?;
    if let Some(h) = &call.caller_hash {
        let caller =
            crate::domain::phone::Caller { hash: h.clone(), tail: call.caller_tail.clone().unwrap_or_default() };
        // Later calls from this number go to this customer.
        store::add_phone(tx, to.customer_id, &caller, now).await?;
    }
    store::bump_card(tx, to.id, None, now).await?;
    store::jobs_enqueue(tx, &crate::ingest::topic_sync_job(to.id, now), now).await?;
    store::jobs_enqueue(tx, &crate::calls::post_job(call.id, now), now).await?;
    if let Some(f) = &from {
        if close {
            store::close_as_duplicate(tx, f.id, f.stage, to.id, user.id, now).await?;
        }
        let text = say("moved", minijinja::context! { lead => to.id.0, who => user.first_name(), closed => close });
        crate::notices::notice_in_tx(tx, f.id, f.customer_id, &text, None, now).await?;
        store::bump_card(tx, f.id, None, now).await?;
    }
    info!(call = call.id.0, to = to.id.0, closed = close, user = user.id.0, "call moved to another lead");
    Ok(String::new())
}
