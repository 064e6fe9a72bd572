//! Small sends to staff: a command's answer in the group, and the answer to a button
//! press. Both are jobs, so they are rate-limited and retried like everything else.

use crate::channels::telegram::{Keyboard, TgError};
use crate::context::App;
use crate::jobs::Outcome;
use crate::store::{self, JobKind, JobRow, NewJob};
use anyhow::Context;
use serde_json::json;
use std::sync::Arc;
use tracing::debug;

pub use crate::notices::staff_reply_job;

pub fn answer_callback_job(id: &str, text: &str, alert: bool, now: i64) -> NewJob {
    NewJob {
        kind: JobKind::AnswerCallback,
        payload: json!({ "id": id, "text": text, "alert": alert }),
        queue_key: format!("callback:{id}"),
        dedupe_key: Some(format!("callback:{id}")),
        run_at: now,
    }
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

pub async fn staff_reply(app: &Arc<App>, job: &JobRow) -> anyhow::Result<Outcome> {
    let chat = job.payload["chat"].as_i64().context("staff reply without chat")?;
    let thread = job.payload["thread"].as_i64().map(|t| t as i32);
    let text = match job.payload["photos_of"].as_i64() {
        // A vehicle photo confirmation counts the album when it is sent.
        Some(vehicle) => super::photos::ack_text(app, vehicle).await?,
        None => job.payload["text"].as_str().unwrap_or_default().to_string(),
    };
    let text = text.as_str();
    let bot = &app.staff_bot;
    if let Err(until) = app.limiter.acquire(bot.slot, chat, app.clock.now_ms()) {
        return Ok(Outcome::WaitUntil(until));
    }
    let keyboard: Option<Keyboard> = serde_json::from_value(job.payload["keyboard"].clone()).unwrap_or(None);
    match bot.api.send_text(chat, thread, text, keyboard.as_ref()).await {
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

pub async fn answer_callback(app: &Arc<App>, job: &JobRow) -> anyhow::Result<Outcome> {
    let id = job.payload["id"].as_str().context("callback answer without id")?;
    let text = job.payload["text"].as_str().unwrap_or_default();
    let alert = job.payload["alert"].as_bool().unwrap_or(false);
    let bot = if job.payload["bot"] == "customer" { &app.customer_bot } else { &app.staff_bot };
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
