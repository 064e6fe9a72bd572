//! The deliver job: one outgoing staff message to the customer on their channel. The row
//! exists (delivery `pending`) before the job runs; the outcome is written back, and a
//! failure the staff must know about is said in the lead's topic.

use super::topic::system_message;
use crate::app::App;
use crate::channels::telegram::{FileRef, TgError};
use crate::domain::{Channel, MessageKind, MessageRowId};
use crate::ingest::topic_sync_job;
use crate::jobs::Outcome;
use crate::store::{self, Delivery, JobRow};
use anyhow::Context;
use std::sync::Arc;
use tracing::{info, warn};

pub async fn deliver(app: &Arc<App>, job: &JobRow) -> anyhow::Result<Outcome> {
    let id = MessageRowId(job.payload["message"].as_i64().context("deliver payload has no message")?);
    let Some(d) = app.store.delivery(id).await? else {
        warn!(message = id.0, "deliver: the message or its customer identity is gone");
        return Ok(Outcome::Done);
    };
    if d.delivery.as_deref() != Some("pending") {
        return Ok(Outcome::Done); // already delivered or failed: a repeated job does nothing
    }
    if d.channel != Channel::Telegram {
        fail(app, &d, "unsupported", &format!("{} is not connected yet", d.channel.label())).await?;
        return Ok(Outcome::Done);
    }
    let chat: i64 = d.external_user.parse().context("a Telegram identity that is not a chat id")?;
    let bot = &app.customer_bot;
    let now = app.clock.now_ms();
    if let Err(until) = app.limiter.acquire(bot.slot, chat, now) {
        return Ok(Outcome::WaitUntil(until));
    }
    let body = d.body.clone().unwrap_or_default();
    let sent = match (d.kind, &d.telegram_file_id) {
        (MessageKind::Text, _) | (_, None) => bot.api.send_text(chat, None, &body, None).await,
        (kind, Some(file_id)) => {
            let file = if app.same_bot() {
                FileRef::Id(file_id.clone())
            } else {
                let bytes = app.staff_bot.api.download(file_id).await.context("downloading the staff member's file")?;
                FileRef::Bytes(bytes, file_id.clone())
            };
            let caption = (!body.is_empty()).then_some(body.as_str());
            bot.api.send_media(chat, None, kind, &file, caption).await
        }
    };
    match sent {
        Ok(message_id) => {
            let mut tx = app.store.begin().await?;
            store::set_delivery(&mut tx, d.id, "sent", None, Some(&format!("{chat}:{message_id}"))).await?;
            tx.commit().await?;
            info!(lead = d.lead.0, message = d.id.0, "delivered to the customer");
            Ok(Outcome::Done)
        }
        Err(TgError::RetryAfter(s)) => {
            let until = now + s.max(1) * 1_000;
            app.limiter.pause(bot.slot, chat, until);
            Ok(Outcome::WaitUntil(until))
        }
        Err(TgError::Blocked) => {
            fail(app, &d, "blocked", "").await?;
            Ok(Outcome::Done)
        }
        Err(TgError::TooLong) => {
            fail(app, &d, "too_long", "").await?;
            Ok(Outcome::Done)
        }
        Err(TgError::Transient(e)) => Ok(Outcome::Retry(e)),
        Err(e) => {
            fail(app, &d, "other", &e.to_string()).await?;
            Ok(Outcome::Done)
        }
    }
}

/// Mark the message failed and say so in the topic.
async fn fail(app: &App, d: &Delivery, reason: &str, detail: &str) -> anyhow::Result<()> {
    let now = app.clock.now_ms();
    let quote: String = d.body.as_deref().unwrap_or("").chars().take(60).collect();
    let text = app.templates.render(
        "staff/delivery_failed.txt",
        minijinja::context! { reason, detail, quote, channel => d.channel.label() },
    )?;
    let mut tx = app.store.begin().await?;
    store::set_delivery(&mut tx, d.id, "failed", Some(if detail.is_empty() { reason } else { detail }), None).await?;
    if reason == "blocked" {
        store::set_blocked(&mut tx, d.customer, d.channel, true).await?;
    }
    store::insert_message(&mut tx, &system_message(d.lead, d.customer, &text, now), now).await?;
    store::jobs_enqueue(&mut tx, &topic_sync_job(d.lead, now), now).await?;
    tx.commit().await?;
    app.wake.notify_one();
    warn!(lead = d.lead.0, message = d.id.0, reason, "delivery failed");
    Ok(())
}

/// The deliver job was parked after too many transient failures.
pub async fn on_gave_up(app: &Arc<App>, job: &JobRow, error: &str) {
    let Some(id) = job.payload["message"].as_i64() else {
        return;
    };
    match app.store.delivery(MessageRowId(id)).await {
        Ok(Some(d)) if d.delivery.as_deref() == Some("pending") => {
            if let Err(e) = fail(app, &d, "gave_up", error).await {
                warn!(error = %e, "could not record a parked delivery");
            }
        }
        Ok(_) => {}
        Err(e) => warn!(error = %e, "could not read a parked delivery"),
    }
}
