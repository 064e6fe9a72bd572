//! The deliver job: one outgoing staff message to the customer on their channel. The row
//! exists (delivery `pending`) before the job runs; the outcome is written back, and a
//! failure the staff must know about is said in the lead's topic. Telegram gets file ids
//! or bytes; Viber and WhatsApp get signed links to the kept file.

use crate::channels::telegram::{FileRef, TgError};
use crate::channels::viber::ViberError;
use crate::channels::whatsapp::WaError;
use crate::channels::{LinkedFile, Outgoing};
use crate::context::App;
use crate::domain::delivery::{whatsapp_window_open, Receipt};
use crate::domain::{Channel, CustomerId, LeadId, MessageKind, MessageRowId};
use crate::jobs::Outcome;
use crate::notices::notice_in_tx;
use crate::store::{self, Delivery, ReceiptApplied};
use anyhow::Context;
use std::sync::Arc;
use tracing::{info, warn};

pub async fn deliver(
    app: &Arc<App>,
    message: Option<MessageRowId>,
    album: Option<Vec<MessageRowId>>,
) -> anyhow::Result<Outcome> {
    if let Some(ids) = album {
        return deliver_album(app, &ids).await;
    }
    let id = message.context("a delivery with neither a message nor an album")?;
    let Some(d) = app.store.delivery(id).await? else {
        warn!(message = id.0, "deliver: the message or its customer identity is gone");
        return Ok(Outcome::Done);
    };
    if d.delivery != Some(crate::domain::message::DeliveryState::Pending) {
        return Ok(Outcome::Done); // already delivered or failed: a repeated job does nothing
    }
    match d.channel {
        Channel::Telegram => telegram(app, &d).await,
        Channel::Viber => viber(app, &d).await,
        Channel::Whatsapp => whatsapp(app, &d).await,
    }
}

/// The file a Telegram message carries: a kept file (a car's photo) is uploaded; a staff
/// member's Telegram file goes by id when one bot serves both sides, else downloaded
/// through the staff bot and uploaded.
async fn telegram_file(app: &App, d: &Delivery) -> anyhow::Result<Option<FileRef>> {
    if let Some(file_id) = &d.telegram_file_id {
        if app.same_bot() {
            return Ok(Some(FileRef::Id(file_id.clone())));
        }
        let bytes = app.staff_bot.api.download(file_id).await.context("downloading the staff member's file")?;
        return Ok(Some(FileRef::Bytes(bytes, file_id.clone())));
    }
    match &d.media_path {
        Some(path) => {
            let bytes = app.media.read_async(path).await.with_context(|| format!("reading the kept file {path}"))?;
            Ok(Some(FileRef::Bytes(bytes, d.media_name.clone().unwrap_or_else(|| "photo.jpg".into()))))
        }
        None => Ok(None),
    }
}

async fn telegram(app: &Arc<App>, d: &Delivery) -> anyhow::Result<Outcome> {
    let chat: i64 = d.external_user.parse().context("a Telegram identity that is not a chat id")?;
    let bot = &app.customer_bot;
    let now = app.clock.now_ms();
    if let Err(until) = app.limiter.acquire(bot.slot, chat, now) {
        return Ok(Outcome::WaitUntil(until));
    }
    let body = d.body.clone().unwrap_or_default();
    let file = if d.kind == MessageKind::Text { None } else { telegram_file(app, d).await? };
    // A flow's question: one inline button a row, `f:<value>` as its data.
    let keyboard: Vec<Vec<(String, String)>> = flow_buttons(d)
        .into_iter()
        .map(|(value, label)| vec![(label, format!("{}{value}", crate::channels::telegram::FLOW_BUTTON))])
        .collect();
    let sent = match file {
        None => bot.api.send_text(chat, None, &body, (!keyboard.is_empty()).then_some(&keyboard)).await,
        Some(file) => {
            let caption = (!body.is_empty()).then_some(body.as_str());
            bot.api.send_media(chat, None, d.kind, &file, caption).await
        }
    };
    telegram_outcome(app, chat, std::slice::from_ref(d), sent.map(|m| vec![m]), now).await
}

/// Record what Telegram answered for these messages (one, or an album's items in order).
async fn telegram_outcome(
    app: &App,
    chat: i64,
    ds: &[Delivery],
    sent: Result<Vec<i32>, TgError>,
    now: i64,
) -> anyhow::Result<Outcome> {
    let why = match sent {
        Ok(ids) => {
            for (i, d) in ds.iter().enumerate() {
                let id = ids.get(i).or(ids.first()).copied().unwrap_or(0);
                sent_ok(app, d, &format!("{chat}:{id}")).await?;
            }
            return Ok(Outcome::Done);
        }
        Err(TgError::RetryAfter(s)) => {
            let until = now + s.max(1) * 1_000;
            app.limiter.pause(app.customer_bot.slot, chat, until);
            return Ok(Outcome::WaitUntil(until));
        }
        Err(TgError::Transient(e)) => return Ok(Outcome::Retry(e)),
        Err(TgError::Blocked) => ("blocked", String::new()),
        Err(TgError::TooLong) => ("too_long", String::new()),
        Err(e) => ("other", e.to_string()),
    };
    // Said once in the topic, for the first of them; the rest are marked failed with it.
    for (i, d) in ds.iter().enumerate() {
        if i == 0 {
            fail(app, d, why.0, &why.1).await?;
        } else {
            let mut tx = app.store.begin().await?;
            store::set_delivery(
                &mut tx,
                d.id,
                crate::domain::message::DeliveryState::Failed,
                Some(if why.1.is_empty() { why.0 } else { &why.1 }),
                None,
            )
            .await?;
            tx.commit().await?;
        }
    }
    Ok(Outcome::Done)
}

/// Several kept photos to one customer (a car's photos): one album on Telegram. Only the
/// messages still pending are sent, so a retry repeats nothing that went.
async fn deliver_album(app: &Arc<App>, ids: &[MessageRowId]) -> anyhow::Result<Outcome> {
    let mut ds = Vec::new();
    for id in ids {
        if let Some(d) = app.store.delivery(*id).await? {
            if d.delivery == Some(crate::domain::message::DeliveryState::Pending) {
                ds.push(d);
            }
        }
    }
    let Some(first) = ds.first() else { return Ok(Outcome::Done) };
    if first.channel != Channel::Telegram || ds.len() == 1 {
        // Viber and WhatsApp have no albums: one at a time, in order.
        for d in &ds {
            let outcome = match d.channel {
                Channel::Telegram => telegram(app, d).await?,
                Channel::Viber => viber(app, d).await?,
                Channel::Whatsapp => whatsapp(app, d).await?,
            };
            if outcome != Outcome::Done {
                return Ok(outcome);
            }
        }
        return Ok(Outcome::Done);
    }
    let chat: i64 = first.external_user.parse().context("a Telegram identity that is not a chat id")?;
    let bot = &app.customer_bot;
    let now = app.clock.now_ms();
    if let Err(until) = app.limiter.acquire(bot.slot, chat, now) {
        return Ok(Outcome::WaitUntil(until));
    }
    let mut items = Vec::new();
    for d in &ds {
        let file = telegram_file(app, d).await?.context("an album photo without a file")?;
        items.push((d.kind, file, d.body.clone().filter(|b| !b.is_empty())));
    }
    let sent = bot.api.send_album(chat, None, &items).await;
    telegram_outcome(app, chat, &ds, sent, now).await
}

/// What to send to a Viber or WhatsApp customer, or why it cannot go.
enum Prepared {
    Send(Outgoing, Option<String>),
    Fail(&'static str, String),
    Retry(String),
}

/// A flow question's buttons: (value, label) each.
fn flow_buttons(d: &Delivery) -> Vec<(String, String)> {
    let Some(list) = d.extra.as_ref().and_then(|e| e["buttons"].as_array()) else { return Vec::new() };
    list.iter().filter_map(|b| Some((b.get(0)?.as_str()?.to_string(), b.get(1)?.as_str()?.to_string()))).collect()
}

/// Build the message: text as text (a flow's question with its buttons — on Viber a reply
/// button sends its label, so that is its payload too; on WhatsApp the value is the id),
/// a staff file kept first and sent as a signed link.
async fn prepare(app: &App, d: &Delivery) -> anyhow::Result<Prepared> {
    let body = d.body.clone().unwrap_or_default();
    if d.kind == MessageKind::Text {
        let buttons = flow_buttons(d);
        if buttons.is_empty() {
            return Ok(Prepared::Send(Outgoing::Text(body), None));
        }
        let buttons = match d.channel {
            Channel::Viber => buttons.into_iter().map(|(_, label)| (label.clone(), label)).collect(),
            _ => buttons,
        };
        return Ok(Prepared::Send(Outgoing::Buttons { text: body, buttons }, None));
    }
    if !crate::media::keeps_file(d.kind) {
        return Ok(Prepared::Fail("unsupported", String::new()));
    }
    let src = app.store.media_source(d.id).await?.context("the message is gone")?;
    let media_id = match crate::media::fetch::fetch_now(app, &src).await {
        Ok(id) => id,
        Err(crate::media::FetchError::Transient(e)) => return Ok(Prepared::Retry(e)),
        Err(e) => return Ok(Prepared::Fail("media", e.to_string())),
    };
    let m = app.store.media(media_id).await?.context("the media row is gone")?;
    if !m.ready {
        return Ok(Prepared::Fail("media", m.error.unwrap_or_default()));
    }
    let (size, mime) = (m.size.unwrap_or(0) as u64, m.mime.clone().unwrap_or_default());
    let name = m.name.clone().unwrap_or_else(|| crate::domain::media::default_name(d.kind, &mime));
    let send_as = match crate::domain::media::plan(d.channel, d.kind, size, &mime, &name) {
        Ok(s) => s,
        Err(refusal) => return Ok(Prepared::Fail("media", refusal.to_string())),
    };
    let public = app.config.public_url.as_deref().context("FORECOURT_PUBLIC_URL is not set")?;
    let url = app.links.url(public, m.id, &name, app.clock.now_ms());
    let caption = (!body.is_empty()).then_some(body);
    Ok(Prepared::Send(Outgoing::File(LinkedFile { send_as, url, name, size, caption: caption.clone() }), caption))
}

async fn viber(app: &Arc<App>, d: &Delivery) -> anyhow::Result<Outcome> {
    let Some(api) = app.viber.as_ref() else {
        return fail(app, d, "unsupported", "").await;
    };
    if d.blocked {
        // Unsubscribed: Viber forbids writing to them, and we do not try.
        return fail(app, d, "unsubscribed", "").await;
    }
    let (out, caption) = match prepare(app, d).await? {
        Prepared::Send(o, c) => (o, c),
        Prepared::Fail(reason, detail) => return fail(app, d, reason, &detail).await,
        Prepared::Retry(e) => return Ok(Outcome::Retry(e)),
    };
    match api.send(&d.external_user, &out).await {
        Ok(token) => {
            // Viber's file messages carry no text: the caption follows as its own message.
            if let (Outgoing::File(f), Some(c)) = (&out, caption) {
                if f.send_as != crate::domain::media::SendAs::Picture {
                    if let Err(e) = api.send(&d.external_user, &Outgoing::Text(c)).await {
                        warn!(message = d.id.0, error = %e, "the caption after a Viber file was not sent");
                    }
                }
            }
            sent_ok(app, d, &token).await?;
            Ok(Outcome::Done)
        }
        Err(ViberError::NotSubscribed(_)) => {
            let mut tx = app.store.begin().await?;
            store::set_blocked(&mut tx, d.customer, d.channel, true).await?;
            tx.commit().await?;
            fail(app, d, "unsubscribed", "").await
        }
        Err(e @ (ViberError::RateLimited | ViberError::Transient(_) | ViberError::Account(..))) => {
            Ok(Outcome::Retry(e.to_string()))
        }
        Err(e) => fail(app, d, "other", &e.to_string()).await,
    }
}

async fn whatsapp(app: &Arc<App>, d: &Delivery) -> anyhow::Result<Outcome> {
    let Some(api) = app.whatsapp.as_ref() else {
        return fail(app, d, "unsupported", "").await;
    };
    let template = d.extra.as_ref().and_then(|e| {
        Some(Outgoing::Template {
            name: e["template"].as_str()?.to_string(),
            language: e["language"].as_str().unwrap_or("uk").to_string(),
        })
    });
    // The bot's follow-up after the 24-hour window: the approved template instead.
    let bot_template = || {
        let flow = d.user.is_none() && d.extra.as_ref().is_some_and(|e| e.get("flow").is_some());
        let (name, language) = app.config.whatsapp.as_ref()?.template.clone()?;
        (flow && !whatsapp_window_open(d.last_inbound_at, app.clock.now_ms()))
            .then_some(Outgoing::Template { name, language })
    };
    let out = match template.or_else(bot_template) {
        Some(t) => t,
        None => {
            if !whatsapp_window_open(d.last_inbound_at, app.clock.now_ms()) {
                // Not sent blind: it would answer 200 and fail later as 131047.
                return fail(app, d, "window_closed", "").await;
            }
            match prepare(app, d).await? {
                Prepared::Send(o, _) => o,
                Prepared::Fail(reason, detail) => return fail(app, d, reason, &detail).await,
                Prepared::Retry(e) => return Ok(Outcome::Retry(e)),
            }
        }
    };
    match api.send(&d.external_user, &out).await {
        Ok(id) => {
            sent_ok(app, d, &id).await?;
            if let Outgoing::Template { name, .. } = &out {
                let who = match d.user {
                    Some(u) => app.store.user_by_id(u).await?.map(|u| u.first_name().to_string()).unwrap_or_default(),
                    None => String::new(),
                };
                let text = app
                    .templates
                    .render("staff/template_sent.txt", minijinja::context! { template => name, name => who })?;
                notice(app, d.lead, d.customer, &text, None).await?;
            }
            Ok(Outcome::Done)
        }
        Err(WaError::WindowClosed) => fail(app, d, "window_closed", "").await,
        Err(e @ (WaError::RateLimited(_) | WaError::Transient(_) | WaError::Auth(..))) => {
            Ok(Outcome::Retry(e.to_string()))
        }
        Err(e) => fail(app, d, "other", &e.to_string()).await,
    }
}

/// Record a send, and apply any receipt that came before we knew the message's id.
async fn sent_ok(app: &App, d: &Delivery, delivered_id: &str) -> anyhow::Result<()> {
    let mut tx = app.store.begin().await?;
    store::set_delivery(&mut tx, d.id, crate::domain::message::DeliveryState::Sent, None, Some(delivered_id)).await?;
    tx.commit().await?;
    if d.channel != Channel::Telegram {
        // After our commit, so a receipt committed meanwhile is seen here or sees our id
        // itself (the webhook side looks again after its own commit).
        let mut tx = app.store.begin().await?;
        let early = store::apply_waiting_receipts(&mut tx, d.channel, delivered_id).await?;
        if let Some(a) = early.filter(|a| a.receipt == Receipt::Failed) {
            receipt_failed(app, &mut tx, d.channel, &a, None).await?;
        }
        tx.commit().await?;
    }
    app.wake.notify_one();
    info!(lead = d.lead.0, message = d.id.0, channel = %d.channel, "delivered to the customer");
    Ok(())
}

/// The topic's notice that a delivery failed.
fn failure_text(app: &App, channel: Channel, body: Option<&str>, reason: &str, detail: &str) -> anyhow::Result<String> {
    let quote: String = body.unwrap_or("").chars().take(60).collect();
    let template = app.config.whatsapp.as_ref().and_then(|w| w.template.as_ref()).map(|t| t.0.clone());
    Ok(app.templates.render(
        "staff/delivery_failed.txt",
        minijinja::context! { reason, detail, quote, channel => channel.label(), template },
    )?)
}

async fn notice(app: &App, lead: LeadId, customer: CustomerId, text: &str, button: Option<&str>) -> anyhow::Result<()> {
    let mut tx = app.store.begin().await?;
    notice_in_tx(&mut tx, lead, customer, text, button, app.clock.now_ms()).await?;
    tx.commit().await?;
    app.wake.notify_one();
    Ok(())
}

/// The template button goes with a closed-window notice when a template is configured.
fn window_button(app: &App, reason: &str) -> Option<&'static str> {
    let has_template = app.config.whatsapp.as_ref().is_some_and(|w| w.template.is_some());
    (reason == "window_closed" && has_template).then_some("send_template")
}

/// Mark the message failed and say so in the topic.
async fn fail(app: &App, d: &Delivery, reason: &str, detail: &str) -> anyhow::Result<Outcome> {
    let text = failure_text(app, d.channel, d.body.as_deref(), reason, detail)?;
    let mut tx = app.store.begin().await?;
    store::set_delivery(
        &mut tx,
        d.id,
        crate::domain::message::DeliveryState::Failed,
        Some(if detail.is_empty() { reason } else { detail }),
        None,
    )
    .await?;
    if reason == "blocked" {
        store::set_blocked(&mut tx, d.customer, d.channel, true).await?;
    }
    notice_in_tx(&mut tx, d.lead, d.customer, &text, window_button(app, reason), app.clock.now_ms()).await?;
    tx.commit().await?;
    app.wake.notify_one();
    warn!(lead = d.lead.0, message = d.id.0, reason, "delivery failed");
    Ok(Outcome::Done)
}

/// A provider reported (by webhook) that a sent message failed: say it in the topic.
pub async fn receipt_failed(
    app: &App,
    tx: &mut store::Conn,
    channel: Channel,
    a: &ReceiptApplied,
    error_code: Option<i64>,
) -> anyhow::Result<()> {
    let window = error_code == Some(crate::channels::whatsapp::WINDOW_CLOSED)
        || a.error.as_deref().is_some_and(|e| e.contains("131047"));
    let reason = if window { "window_closed" } else { "provider" };
    let text = failure_text(app, channel, a.body.as_deref(), reason, a.error.as_deref().unwrap_or(""))?;
    notice_in_tx(tx, a.lead, a.customer, &text, window_button(app, reason), app.clock.now_ms()).await?;
    warn!(lead = a.lead.0, message = a.message.0, %channel, reason, "the messenger reports a failed delivery");
    Ok(())
}

/// The deliver job was parked after too many transient failures.
pub async fn on_gave_up(app: &Arc<App>, id: MessageRowId, error: &str) {
    match app.store.delivery(id).await {
        Ok(Some(d)) if d.delivery == Some(crate::domain::message::DeliveryState::Pending) => {
            if let Err(e) = fail(app, &d, "gave_up", error).await {
                warn!(error = %e, "could not record a parked delivery");
            }
        }
        Ok(_) => {}
        Err(e) => warn!(error = %e, "could not read a parked delivery"),
    }
}
