//! Small sends to staff: a command's answer in the group, and the answer to a button
//! press. Both are jobs, so they are rate-limited and retried like everything else.

use crate::channels::telegram::{Keyboard, TgError};
use crate::context::App;
use crate::jobs::Outcome;
use crate::store::{self, NewJob};
use std::sync::Arc;
use tracing::debug;

pub use crate::notices::staff_reply_job;

pub fn answer_callback_job(id: &str, text: &str, alert: bool, now: i64) -> NewJob {
    answer_callback_job_by(id, text, alert, None, now)
}

/// The same, answered by `bot` (a customer's press of a flow button goes to the customer bot).
pub fn answer_callback_job_by(
    id: &str,
    text: &str,
    alert: bool,
    bot: Option<crate::jobs::job::BotSide>,
    now: i64,
) -> NewJob {
    let key = format!("callback:{id}");
    crate::jobs::Job::AnswerCallback { id: id.to_string(), text: text.to_string(), alert, bot }.into_new(
        key.clone(),
        Some(key),
        now,
    )
}

/// Enqueue a command's answer in its own transaction.
pub async fn reply(
    app: &App,
    conn: &mut store::Conn,
    chat: i64,
    thread: Option<i32>,
    text: &str,
) -> anyhow::Result<()> {
    let now = app.clock.now_ms();
    store::jobs_enqueue(conn, &staff_reply_job(chat, thread, text, None, now), now).await?;
    Ok(())
}

/// Post a text in a staff chat or topic (the job). With `photos_of`, the text is the
/// confirmation that counts a car's photos, made when it is sent.
pub async fn staff_reply(
    app: &Arc<App>,
    (chat, thread): (i64, Option<i32>),
    text: Option<String>,
    keyboard: Option<Keyboard>,
    photos_of: Option<crate::domain::VehicleId>,
    mention: Option<crate::jobs::job::Mention>,
) -> anyhow::Result<Outcome> {
    let text = match photos_of {
        Some(vehicle) => super::photos::ack_text(app, vehicle).await?,
        None => text.unwrap_or_default(),
    };
    let text = text.as_str();
    let bot = &app.staff_bot;
    if let Err(until) = app.limiter.acquire(bot.slot, chat, app.clock.now_ms()) {
        return Ok(Outcome::WaitUntil(until));
    }
    let mention = mention.filter(|m| text.starts_with(&m.name)).map(|m| (m.user, m.name));
    match bot
        .api
        .send_text_mention(chat, thread, text, keyboard.as_ref(), mention.as_ref().map(|(u, n)| (*u, n.as_str())))
        .await
    {
        Ok(_) => Ok(Outcome::Done),
        // The thread is gone: the answer is dropped rather than posted in General.
        Err(TgError::ThreadNotFound) | Err(TgError::TopicClosed) => {
            debug!(chat, ?thread, "command answer dropped: its topic is gone");
            Ok(Outcome::Done)
        }
        Err(TgError::BadRequest(e)) => Ok(Outcome::Park(e)),
        Err(e) => Ok(super::topic::failure(app, chat, e)),
    }
}

pub async fn answer_callback(
    app: &Arc<App>,
    id: &str,
    text: &str,
    alert: bool,
    bot: Option<crate::jobs::job::BotSide>,
) -> anyhow::Result<Outcome> {
    let bot = match bot {
        Some(crate::jobs::job::BotSide::Customer) => &app.customer_bot,
        _ => &app.staff_bot,
    };
    match bot.api.answer_callback(id, text, alert).await {
        Ok(()) => Ok(Outcome::Done),
        // Too old to answer (Telegram gives ~15 s): nothing more to do.
        Err(TgError::BadRequest(e)) => {
            debug!(error = %e, "callback answer refused");
            Ok(Outcome::Done)
        }
        Err(TgError::RetryAfter(s)) => Ok(Outcome::WaitUntil(app.clock.now_ms() + s.max(1) * 1_000)),
        Err(e) => Ok(Outcome::Retry(e.to_string())),
    }
}
