//! Supervisors review calls (use case D). **📝 Review** under an answered, recorded call
//! starts a review in the supervisor's private chat with the staff bot: the recording, then
//! the script's criteria one message at a time (✅ met / ❌ missed / — not applicable), then
//! an optional comment (written, or **Skip**). The score (weighted, the inapplicable left
//! out, a missed critical criterion flagged) is stored with the script's version, shown
//! under the call, and sent privately to the manager who took the call. A second review is
//! a new row. Managers and analysts cannot review.

use super::words::{render, Answer};
use crate::channels::telegram::{FileRef, Keyboard, TgError};
use crate::context::App;
use crate::domain::ai::ScriptCheck;
use crate::domain::callback::ReviewAction;
use crate::domain::script::{Script, Verdict};
use crate::domain::{MessageKind, ReviewId};
use crate::jobs::{Job, Outcome};
use crate::store::{self, CallRow, ReviewRow, ReviewState, StoreError, UserRow};
use std::sync::Arc;
use tracing::info;

/// The job that shows a review's current step in the reviewer's private chat.
pub fn prompt_job(review: ReviewId, chat: i64, now: i64) -> store::NewJob {
    Job::ReviewPrompt { review }.into_new(format!("private:{chat}"), Some(format!("review:{}", review.0)), now)
}

fn say(app: &App, what: &str, ctx: minijinja::Value) -> String {
    render(app, "staff/review.txt", minijinja::context! { what, ..ctx })
}

/// A press of a review button, inside the press's transaction.
pub async fn press(
    app: &App,
    tx: &mut store::Conn,
    user: &UserRow,
    action: ReviewAction,
    now: i64,
) -> Result<Answer, StoreError> {
    if !user.role.may_review() {
        return Ok((say(app, "not_allowed", minijinja::context! {}), true));
    }
    match action {
        ReviewAction::Start(call) => {
            let Some(c) = store::call_in_tx(tx, call).await? else {
                return Ok((render(app, "staff/stale_button.txt", minijinja::context! {}), true));
            };
            if !c.answered() {
                return Ok((say(app, "not_reviewable", minijinja::context! {}), true));
            }
            let id = store::start_review(tx, call, user.id, app.script.current().version, now).await?;
            store::jobs_enqueue(tx, &prompt_job(id, user.telegram_id.0, now), now).await?;
            info!(review = id.0, call = call.0, reviewer = user.id.0, "call review started");
            Ok((say(app, "started", minijinja::context! {}), false))
        }
        ReviewAction::Verdict(id, index, verdict) => {
            let Some(r) = store::review_in_tx(tx, id).await?.filter(|r| r.reviewer == user.id) else {
                return Ok((render(app, "staff/stale_button.txt", minijinja::context! {}), true));
            };
            let script = script_of(app, r.script_version).await?;
            if !store::add_verdict(tx, id, usize::from(index), verdict, now).await? {
                return Ok((say(app, "already", minijinja::context! {}), false));
            }
            if usize::from(index) + 1 >= script.len() {
                store::set_review_state(tx, id, ReviewState::AwaitingComment, now).await?;
            }
            store::jobs_enqueue(tx, &prompt_job(id, r.reviewer_telegram, now), now).await?;
            Ok((String::new(), false))
        }
        ReviewAction::SkipComment(id) => {
            let Some(r) = store::review_in_tx(tx, id).await?.filter(|r| r.reviewer == user.id) else {
                return Ok((render(app, "staff/stale_button.txt", minijinja::context! {}), true));
            };
            if r.state != ReviewState::AwaitingComment {
                return Ok((say(app, "already", minijinja::context! {}), false));
            }
            finish(app, tx, &r, None, now).await?;
            Ok((say(app, "saved", minijinja::context! {}), false))
        }
    }
}

/// A reviewer's private text while a review waits for its comment: that is the comment.
/// Returns whether the text was taken.
pub async fn comment(
    app: &App,
    tx: &mut store::Conn,
    user: &UserRow,
    text: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let Some(id) = store::awaiting_comment(tx, user.id).await? else { return Ok(false) };
    let Some(r) = store::review_in_tx(tx, id).await? else { return Ok(false) };
    let text = crate::domain::text::cap_chars(crate::domain::text::clean_text(text).trim(), 2_000);
    finish(app, tx, &r, Some(&text).filter(|t| !t.is_empty()).map(String::as_str), now).await?;
    Ok(true)
}

/// The script a review was made against.
async fn script_of(app: &App, version: i64) -> Result<Arc<Script>, StoreError> {
    app.script.version(version).await
}

/// Score and store the review; the call's message shows it; the manager who took the call
/// is told privately.
async fn finish(
    app: &App,
    tx: &mut store::Conn,
    r: &ReviewRow,
    comment: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    let script = script_of(app, r.script_version).await?;
    let scored = script.score(&r.verdicts);
    let f = store::Finished {
        comment,
        score: scored.score,
        missed: &scored.missed,
        critical_missed: &scored.critical_missed,
    };
    if !store::finish_review(tx, r.id, &f, now).await? {
        return Ok(());
    }
    let call = store::call_in_tx(tx, r.call).await?.ok_or(StoreError::NotFound)?;
    if call.lead.is_some() {
        store::jobs_enqueue(tx, &crate::calls::post_job(call.id, now), now).await?;
    }
    store::jobs_enqueue(tx, &prompt_job(r.id, r.reviewer_telegram, now), now).await?;
    // The manager who took the call hears of it privately.
    if let Some(u) = call.user {
        if let Some(manager) = store::user_in_tx(tx, u).await?.filter(|m| m.active) {
            let lang = &app.config.flows.default_language;
            let texts = |ids: &[String]| -> Vec<String> {
                ids.iter()
                    .filter_map(|id| script.criteria().find(|(_, c)| &c.id == id))
                    .map(|(_, c)| script.text(&c.text, lang).to_string())
                    .collect()
            };
            let text = render(
                app,
                "staff/review_feedback.txt",
                minijinja::context! {
                    time => app.local_time(call.started_at, true),
                    reviewer => &r.reviewer_name,
                    score => scored.score,
                    critical => texts(&scored.critical_missed),
                    missed => texts(&scored.missed),
                    comment,
                    link => call_link(&call),
                },
            );
            let job = Job::StaffReply {
                chat: manager.telegram_id.0,
                thread: None,
                text: Some(text.trim().to_string()),
                keyboard: None,
                photos_of: None,
                mention: None,
            }
            .into_new(
                format!("private:{}", manager.telegram_id.0),
                Some(format!("feedback:{}", r.id.0)),
                now,
            );
            store::jobs_enqueue(tx, &job, now).await?;
        }
    }
    info!(review = r.id.0, call = r.call.0, score = ?scored.score, version = r.script_version, "call review saved");
    Ok(())
}

/// A link to the call's message in its topic (`https://t.me/c/<group>/<topic>/<message>`).
pub fn call_link(call: &CallRow) -> Option<String> {
    let (chat, message) = (call.staff_chat_id?, call.staff_message_id?);
    let group = chat.to_string();
    let group = group.strip_prefix("-100")?;
    Some(format!("https://t.me/c/{group}/{message}"))
}

/// Show a review's step in the reviewer's private chat (the `ReviewPrompt` job): the first
/// time the recording and the first criterion, then the same message edited.
pub async fn prompt(app: &Arc<App>, id: ReviewId) -> anyhow::Result<Outcome> {
    let Some(r) = app.store.review(id).await? else { return Ok(Outcome::Done) };
    let Some(call) = app.store.call(r.call).await? else { return Ok(Outcome::Done) };
    let script = script_of(app, r.script_version).await?;
    let chat = r.reviewer_telegram;
    let now = app.clock.now_ms();
    let bot = &app.staff_bot;
    // The first time the recording goes above the prompt: two sends, taken together.
    let recording = match r.private_message {
        None => recording_path(app, &call).await?,
        Some(_) => None,
    };
    let sends = if recording.is_some() { 2 } else { 1 };
    if let Err(until) = app.limiter.acquire_n(bot.slot, chat, now, sends) {
        return Ok(Outcome::WaitUntil(until));
    }
    let ai = match &app.ai {
        Some(a) if a.on(crate::domain::ai::Feature::ScriptChecks) => {
            app.store.evaluation(call.id).await?.filter(|(v, _)| *v == r.script_version).map(|(_, e)| e)
        }
        _ => None,
    };
    let (text, keyboard) = step(app, &r, &call, &script, ai.as_ref());
    let kb = (!keyboard.is_empty()).then_some(&keyboard);
    let result = match r.private_message {
        Some(m) => match bot.api.edit_text(chat, m, &text, kb).await {
            Ok(()) | Err(TgError::NotModified) => Ok(()),
            Err(e) => Err(e),
        },
        None => {
            // The recording first, so the supervisor listens above the criteria.
            if let Some(path) = recording {
                let caption = render(
                    app,
                    "staff/call_recording.txt",
                    minijinja::context! {
                        time => app.local_time(call.started_at, true),
                        who => call.user_name.clone().or(call.employee_name.clone()),
                    },
                );
                let file = FileRef::Path(path, format!("call-{}.mp3", call.id.0));
                if let Err(e) = bot.api.send_media(chat, None, MessageKind::Audio, &file, Some(caption.trim())).await {
                    return Ok(failed(app, chat, e));
                }
            }
            match bot.api.send_text(chat, None, &text, kb).await {
                Ok(m) => {
                    app.store.set_review_message(r.id, chat, m).await?;
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(()) => Ok(Outcome::Done),
        Err(e) => Ok(failed(app, chat, e)),
    }
}

fn failed(app: &App, chat: i64, e: TgError) -> Outcome {
    match e {
        // The supervisor never opened a chat with the staff bot.
        TgError::Blocked => {
            Outcome::Park("the reviewer's private chat cannot be written to: they must /start the bot".into())
        }
        TgError::BadRequest(e) => Outcome::Park(format!("Telegram refused the review's message: {e}")),
        other => super::topic::failure(app, chat, other),
    }
}

async fn recording_path(app: &App, call: &CallRow) -> anyhow::Result<Option<std::path::PathBuf>> {
    let Some(m) = call.recording_media else { return Ok(None) };
    Ok(app.store.media(m).await?.and_then(|m| m.file_path).map(|p| app.media.path(&p)))
}

/// The review's current step: its text and buttons. With the AI's evaluation, each criterion
/// shows its verdict and quote as a suggestion (the suggested button marked 🤖); the
/// reviewer's press is what counts, whether it confirms or overrides.
fn step(app: &App, r: &ReviewRow, call: &CallRow, script: &Script, ai: Option<&ScriptCheck>) -> (String, Keyboard) {
    let lang = app.config.flows.default_language.as_str();
    let head = minijinja::context! {
        time => app.local_time(call.started_at, true),
        who => call.user_name.clone().or(call.employee_name.clone()),
        version => r.script_version,
        total => script.len(),
    };
    let label = |v: &str| app.templates.label("button", v, v);
    match r.state {
        ReviewState::InProgress => {
            let index = r.verdicts.len();
            let Some((stage, c)) = script.criterion(index) else {
                return (say(app, "criteria_done", head), Vec::new());
            };
            let suggestion = ai.and_then(|e| e.verdict_of(&c.id));
            let text = say(
                app,
                "criterion",
                minijinja::context! {
                    number => index + 1,
                    stage => script.text(&stage.title, lang),
                    criterion => script.text(&c.text, lang),
                    critical => c.critical,
                    ai => suggestion.map(|s| minijinja::context! { verdict => s.verdict.as_str(), quote => &s.quote }),
                    ai_check => (index == 0).then(|| ai.map(|e| minijinja::context! {
                        score => e.score, sentiment => &e.sentiment, next_step => e.next_step, summary => &e.summary,
                    })).flatten(),
                    ..head
                },
            );
            let suggested = suggestion.and_then(|s| s.verdict.suggests());
            let b = |v: Verdict, name: &str| {
                let mut l = label(name);
                if suggested == Some(v) {
                    l.push_str(" 🤖");
                }
                (l, ReviewAction::Verdict(r.id, index as u16, v).encode())
            };
            (text, vec![vec![b(Verdict::Met, "met"), b(Verdict::Missed, "missed"), b(Verdict::NotApplicable, "n_a")]])
        }
        ReviewState::AwaitingComment => (
            say(app, "ask_comment", head),
            vec![vec![(label("skip_comment"), ReviewAction::SkipComment(r.id).encode())]],
        ),
        ReviewState::Done => {
            let scored = script.score(&r.verdicts);
            let texts = |ids: &[String]| -> Vec<String> {
                ids.iter()
                    .filter_map(|id| script.criteria().find(|(_, c)| &c.id == id))
                    .map(|(_, c)| script.text(&c.text, lang).to_string())
                    .collect()
            };
            // How often the reviewer agreed with the AI's suggestions (its unsure ones aside).
            let agreed = ai.map(|e| {
                let pairs: Vec<(Option<Verdict>, Verdict)> = script
                    .criteria()
                    .zip(&r.verdicts)
                    .filter_map(|((_, c), v)| e.verdict_of(&c.id).map(|s| (s.verdict.suggests(), *v)))
                    .filter(|(s, _)| s.is_some())
                    .collect();
                minijinja::context! {
                    agreed => pairs.iter().filter(|(s, v)| *s == Some(*v)).count(),
                    of => pairs.len(),
                }
            });
            let text = say(
                app,
                "done",
                minijinja::context! {
                    ai => agreed,
                    score => scored.score,
                    critical => texts(&scored.critical_missed),
                    missed => texts(&scored.missed),
                    comment => &r.comment,
                    ..head
                },
            );
            (text, Vec::new())
        }
    }
}
