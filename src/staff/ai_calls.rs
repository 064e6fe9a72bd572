//! AI on calls (issue 15): an answered call's recording is transcribed (`Job::AiTranscribe`,
//! the AI lane), the transcript is shown under the call in its topic (`Job::TranscriptPost`:
//! a short one as a quote, a long one as a `.txt` file), and checked against the call script
//! (`Job::AiCheck`). The check is an AI evaluation kept apart from human reviews: the review
//! flow shows it as suggestions, and only the human review is the call's score.

use crate::ai::{Ask, Failure};
use crate::channels::telegram::{FileRef, TgError};
use crate::context::App;
use crate::domain::ai::{read_script_check, script_check_schema, Feature};
use crate::domain::{CallId, MessageKind};
use crate::jobs::{Job, Outcome};
use crate::store::{self, NewJob};
use std::sync::Arc;
use tracing::info;

/// A transcript up to this many characters is quoted in the topic; a longer one is a file.
pub const QUOTE_UP_TO: usize = 1_000;

pub fn transcribe_job(call: CallId, now: i64) -> NewJob {
    let key = format!("ai_transcribe:{}", call.0);
    Job::AiTranscribe { call }.into_new(format!("ai:call:{}", call.0), Some(key), now)
}

fn check_job(call: CallId, now: i64) -> NewJob {
    let key = format!("ai_check:{}", call.0);
    Job::AiCheck { call }.into_new(format!("ai:call:{}", call.0), Some(key), now)
}

fn post_job(call: CallId, now: i64) -> NewJob {
    let key = format!("transcript:{}", call.0);
    Job::TranscriptPost { call }.into_new(key.clone(), Some(key), now)
}

/// The transcription language: the customer's, when it is one the models are asked in.
fn language(lead_language: Option<&str>) -> Option<&'static str> {
    let code = lead_language?.get(..2)?.to_ascii_lowercase();
    ["uk", "ru", "en"].into_iter().find(|l| *l == code)
}

/// Say something about a call's AI work in its lead's topic.
fn notice(
    app: &App,
    call: &store::CallRow,
    lead: Option<&store::LeadRow>,
    what: &str,
    reason: &str,
    now: i64,
) -> Option<NewJob> {
    let lead = lead?;
    let (chat, thread) = (lead.staff_chat_id?, lead.topic_thread_id?);
    let text = app
        .templates
        .render("staff/ai.txt", minijinja::context! { what, reason, time => app.local_time(call.started_at, true) })
        .ok()?;
    Some(crate::notices::staff_reply_job(chat, Some(thread), &text, None, now))
}

/// `Job::AiTranscribe`: transcribe an answered call's kept recording, keep the text, then
/// show it and check it.
pub async fn transcribe(app: &Arc<App>, id: CallId) -> anyhow::Result<Outcome> {
    let Some(ai) = app.ai.as_ref().filter(|a| a.on(Feature::Transcripts)) else { return Ok(Outcome::Done) };
    let Some(call) = app.store.call(id).await? else { return Ok(Outcome::Done) };
    if !call.answered() || app.store.transcript(id).await?.is_some() {
        return Ok(Outcome::Done);
    }
    let Some(media) = call.recording_media else { return Ok(Outcome::Done) };
    let Some(path) = app.store.media(media).await?.and_then(|m| m.file_path) else { return Ok(Outcome::Done) };
    let audio = tokio::fs::read(app.media.path(&path)).await?;
    let lead = match call.lead {
        Some(l) => app.store.lead(l).await?,
        None => None,
    };
    let lang = language(lead.as_ref().and_then(|l| l.language.as_deref()));
    let now = app.clock.now_ms();
    let name = format!("call-{}.mp3", id.0);
    let (text, fp, keep) = match ai.transcribe(&app.store, now, (call.lead, Some(id)), audio, &name, lang).await {
        Ok(a) => (a.value, a.fingerprint, a.keep),
        Err(Failure::TooLarge(why)) => {
            // Said once in the topic: the call stays as it is, without a transcript.
            if let Some(job) = notice(app, &call, lead.as_ref(), "too_large", &why, now) {
                app.store.enqueue(&job, now).await?;
                app.wake.notify_one();
            }
            return Ok(Outcome::Done);
        }
        Err(f) => return Ok(super::ai::after_failure(f, now)),
    };
    let mut tx = app.store.begin().await?;
    store::keep_ai(&mut tx, &keep).await?;
    store::insert_transcript(&mut tx, id, &text, lang, &fp, now).await?;
    store::jobs_enqueue(&mut tx, &post_job(id, now), now).await?;
    if ai.on(Feature::ScriptChecks) {
        store::jobs_enqueue(&mut tx, &check_job(id, now), now).await?;
    }
    if let (Some(l), true) = (call.lead, ai.on(Feature::HotScores)) {
        store::jobs_enqueue(&mut tx, &crate::ai::score_job(l, now), now).await?;
    }
    tx.commit().await?;
    app.wake.notify_one();
    info!(call = id.0, chars = text.chars().count(), "call transcribed");
    Ok(Outcome::Done)
}

/// `Job::TranscriptPost`: the transcript under the call's message in its topic.
pub async fn post_transcript(app: &Arc<App>, id: CallId) -> anyhow::Result<Outcome> {
    let Some(call) = app.store.call(id).await? else { return Ok(Outcome::Done) };
    let Some(t) = app.store.transcript(id).await?.filter(|t| t.posted_message.is_none()) else {
        return Ok(Outcome::Done);
    };
    let now = app.clock.now_ms();
    let (Some(chat), Some(message)) = (call.staff_chat_id, call.staff_message_id) else {
        return Ok(Outcome::WaitUntil(now + 2_000));
    };
    let Some(lead) = app.store.lead(call.lead.unwrap_or(crate::domain::LeadId(0))).await? else {
        return Ok(Outcome::Done);
    };
    let Some(thread) = lead.topic_thread_id.filter(|_| lead.staff_chat_id == Some(chat)) else {
        return Ok(Outcome::WaitUntil(now + 2_000));
    };
    let bot = &app.staff_bot;
    if let Err(until) = app.limiter.acquire(bot.slot, chat, now) {
        return Ok(Outcome::WaitUntil(until));
    }
    let time = app.local_time(call.started_at, true);
    let long = t.text.chars().count() > QUOTE_UP_TO;
    let head = app.templates.render("staff/ai.txt", minijinja::context! { what => "transcript", long, time })?;
    let sent = if long {
        let file = FileRef::Bytes(t.text.clone().into_bytes(), format!("transcript-call-{}.txt", id.0));
        bot.api.send_media_reply(chat, Some(thread), MessageKind::Document, &file, Some(&head), Some(message)).await
    } else {
        let text = format!("{head}\n{}", t.text);
        let at = crate::domain::text::utf16_len(&head) + 1;
        bot.api.send_quote_reply(chat, Some(thread), &text, at, Some(message)).await
    };
    match sent {
        Ok(m) => {
            app.store.set_transcript_posted(id, m).await?;
            Ok(Outcome::Done)
        }
        Err(TgError::BadRequest(e)) => Ok(Outcome::Park(format!("Telegram refused the transcript: {e}"))),
        Err(e) => Ok(super::topic::failure(app, chat, e)),
    }
}

/// `Job::AiCheck`: the transcript against the current script, kept as the AI's evaluation.
pub async fn check(app: &Arc<App>, id: CallId) -> anyhow::Result<Outcome> {
    let Some(ai) = app.ai.as_ref().filter(|a| a.on(Feature::ScriptChecks)) else { return Ok(Outcome::Done) };
    let Some(t) = app.store.transcript(id).await? else { return Ok(Outcome::Done) };
    let script = app.script.current();
    if script.is_empty() {
        return Ok(Outcome::Done);
    }
    let lang = app.config.flows.default_language.clone();
    let criteria: Vec<serde_json::Value> = script
        .criteria()
        .map(|(stage, c)| {
            serde_json::json!({
                "id": c.id, "stage": script.text(&stage.title, &lang), "text": script.text(&c.text, &lang),
                "weight": c.weight, "critical": c.critical,
            })
        })
        .collect();
    let ids: Vec<&str> = script.criteria().map(|(_, c)| c.id.as_str()).collect();
    let critical: Vec<&str> = script.criteria().filter(|(_, c)| c.critical).map(|(_, c)| c.id.as_str()).collect();
    let call = app.store.call(id).await?;
    let now = app.clock.now_ms();
    let ask = Ask {
        feature: Feature::ScriptChecks,
        lead: call.as_ref().and_then(|c| c.lead),
        call: Some(id),
        system: ai
            .prompts
            .render("script_check_system.txt", &serde_json::json!({ "language": ai.config().staff_language })),
        input: ai
            .prompts
            .render("script_check_input.txt", &serde_json::json!({ "criteria": criteria, "transcript": t.text })),
        schema_name: "script_check",
        schema: script_check_schema(&ids),
    };
    let answered = match ai.ask(&app.store, now, &ask, |c| read_script_check(c, &ids, &critical)).await {
        Ok(a) => a,
        Err(f) => return Ok(super::ai::after_failure(f, now)),
    };
    let mut tx = app.store.begin().await?;
    store::keep_ai(&mut tx, &answered.keep).await?;
    store::set_evaluation(&mut tx, id, script.version, &answered.value, &answered.fingerprint, now).await?;
    tx.commit().await?;
    info!(
        call = id.0,
        score = answered.value.score,
        needs_person = answered.value.needs_a_person(),
        "call checked against the script"
    );
    Ok(Outcome::Done)
}
