//! A staff message, routed: sent through a bot's inline mode (`staff::inline`), a flow file
//! (`flows::admin`), a `/photo` (`staff::photos`), a command (`staff::commands`), or a reply
//! in a lead's topic, relayed to the customer (checked by `domain::lead::staff_replied`,
//! its changes carried out by `staff::changes`). Button presses are `staff::buttons`.

use super::commands::Command;
use super::replies::reply;
use crate::channels::telegram::StaffMessage;
use crate::context::App;
use crate::domain::lead;
use crate::domain::{Actor, Direction, MessageKind, TelegramUserId};
use crate::ingest::topic_sync_job;
use crate::notices::system_message;
use crate::store::{self, NewMessage, StoreError, UserRow};
use std::sync::Arc;
use tracing::info;

pub(super) use super::words::render;

pub(super) async fn active_user(app: &App, telegram_id: i64) -> Result<Option<UserRow>, StoreError> {
    Ok(app.store.user_by_telegram(TelegramUserId(telegram_id)).await?.filter(|u| u.active))
}

pub async fn on_staff_message(app: &Arc<App>, source: &str, update_id: i64, m: StaffMessage) -> Result<(), StoreError> {
    let now = app.clock.now_ms();
    let user = active_user(app, m.from).await?;
    let lead_id = match m.thread {
        Some(t) => app.store.lead_by_topic(m.chat, t).await?,
        None => None,
    };
    let text = m.content.text.clone().unwrap_or_default();
    let cmd = if m.content.kind == MessageKind::Text { Command::parse(&text) } else { None };
    // `/flows` may activate a version, which writes on its own: before this transaction.
    let mut flows_answer = match (&cmd, &user) {
        (Some(Command::Flows(args)), Some(u)) => Some(crate::flows::admin::command(app, u, args).await.map_err(other)?),
        _ => None,
    };
    let mut tx = app.store.begin().await?;
    if !store::mark_update_seen(&mut tx, source, update_id, now).await? {
        return Ok(());
    }

    // Sent through a bot's inline mode: never relayed to a customer; the staff bot's own
    // (a car chosen to attach) is acted on.
    if let Some(via) = m.via_bot {
        let answer = match via == app.staff_bot.id {
            true => super::inline::chosen(app, &mut tx, &m, user.as_ref(), now).await?,
            false => None,
        };
        if let Some(a) = answer {
            reply(app, &mut tx, m.chat, m.thread, &a).await.map_err(other)?;
        }
        tx.commit().await?;
        app.wake.notify_one();
        return Ok(());
    }

    // A flow file for the bot (admins only): never relayed to a customer.
    if let Some(file) = crate::flows::admin::flow_file(&m) {
        let answer = match &user {
            None => Some(render(app, "staff/not_staff.txt", minijinja::context! {})),
            Some(u) => crate::flows::admin::on_file(app, &mut tx, &m, u, file, now).await?,
        };
        if let Some(a) = answer {
            reply(app, &mut tx, m.chat, m.thread, &a).await.map_err(other)?;
        }
        tx.commit().await?;
        app.wake.notify_one();
        return Ok(());
    }

    // `/photo`, as a photo's caption or as a reply to a customer's photo.
    if let Some(args) = super::photos::is_photo_command(&m) {
        let answer = match &user {
            None => Some(render(app, "staff/not_staff.txt", minijinja::context! {})),
            Some(u) => super::photos::command(app, &mut tx, &m, u, lead_id, &args, now).await?,
        };
        if let Some(a) = answer {
            reply(app, &mut tx, m.chat, m.thread, &a).await.map_err(other)?;
        }
        tx.commit().await?;
        app.wake.notify_one();
        return Ok(());
    }

    if let Some(command) = cmd {
        let Some(user) = user else {
            let t = render(app, "staff/not_staff.txt", minijinja::context! {});
            reply(app, &mut tx, m.chat, m.thread, &t).await.map_err(other)?;
            tx.commit().await?;
            return Ok(());
        };
        let mut c = super::commands::Ctx { app, tx: &mut tx, m: &m, user: &user, lead: lead_id, now };
        let answer = super::commands::run(&mut c, command, flows_answer.take()).await?;
        if let Some(a) = answer {
            reply(app, &mut tx, m.chat, m.thread, &a).await.map_err(other)?;
        }
        tx.commit().await?;
        app.wake.notify_one();
        return Ok(());
    }

    // Not a command: only messages in a lead's topic matter. In a private chat with the
    // bot a staff member gets a short help (nothing they write there reaches a customer).
    let Some(lead_id) = lead_id else {
        let private = !app.config.telegram.staff_chat_ids.contains(&m.chat);
        // A supervisor's comment on the call review waiting for one.
        if let (true, Some(u), Some(t)) = (private, &user, m.content.text.as_deref()) {
            if super::reviews::comment(app, &mut tx, u, t, now).await? {
                let t = render(app, "staff/review.txt", minijinja::context! { what => "saved" });
                reply(app, &mut tx, m.chat, None, &t).await.map_err(other)?;
                tx.commit().await?;
                app.wake.notify_one();
                return Ok(());
            }
        }
        if private {
            let t = render(app, "staff/private_help.txt", minijinja::context! {});
            reply(app, &mut tx, m.chat, None, &t).await.map_err(other)?;
            app.wake.notify_one();
        }
        tx.commit().await?;
        return Ok(());
    };
    let Some(lead) = store::lead_in_tx(&mut tx, lead_id).await? else {
        tx.commit().await?;
        return Ok(());
    };
    let refuse = |reason: String| render(app, "staff/reply_refused.txt", minijinja::context! { reason });
    // The rest of a staff album captioned /photo goes to the car, not to the customer.
    if user.is_some() && super::photos::album_item(&mut tx, &m, now).await? {
        tx.commit().await?;
        app.wake.notify_one();
        return Ok(());
    }
    let Some(user) = user else {
        let t = render(app, "staff/not_staff.txt", minijinja::context! {});
        store::insert_message(&mut tx, &system_message(lead.id, lead.customer_id, &refuse(t), now), now).await?;
        store::jobs_enqueue(&mut tx, &topic_sync_job(lead.id, now), now).await?;
        tx.commit().await?;
        app.wake.notify_one();
        return Ok(());
    };
    // A lead number in reply to a call's message moves the call there (🔗 Other lead).
    if let (Some(to), Some(target)) = (m.reply_to, m.content.text.as_deref().and_then(crate::domain::call::lead_number))
    {
        if let Some(call) = store::call_by_message(&mut tx, m.chat, to).await? {
            let answer = super::calls::move_to(app, &mut tx, &user, &call, crate::domain::LeadId(target), now).await?;
            if !answer.is_empty() {
                reply(app, &mut tx, m.chat, m.thread, &answer).await.map_err(other)?;
            }
            tx.commit().await?;
            app.wake.notify_one();
            return Ok(());
        }
    }
    let out = Outgoing {
        kind: m.content.kind,
        text: m.content.text.clone(),
        file_id: m.content.file_id.clone(),
        extra: m.content.extra.clone(),
        sent_at: m.sent_at,
    };
    match relay(app, &mut tx, &user, &lead, out, now).await? {
        Relayed::Queued(message) => {
            tx.commit().await?;
            info!(lead = lead.id.0, message = message.0, "staff reply queued for the customer");
        }
        Relayed::Duplicate => tx.commit().await?,
        Relayed::Refused(reason) => {
            let t = refuse(reason);
            store::insert_message(&mut tx, &system_message(lead.id, lead.customer_id, &t, now), now).await?;
            store::jobs_enqueue(&mut tx, &topic_sync_job(lead.id, now), now).await?;
            tx.commit().await?;
        }
    }
    app.wake.notify_one();
    Ok(())
}

/// What a person sends a customer: a text, or a file by its Telegram id.
pub(super) struct Outgoing {
    pub kind: MessageKind,
    pub text: Option<String>,
    pub file_id: Option<String>,
    pub extra: Option<serde_json::Value>,
    pub sent_at: i64,
}

/// What came of relaying.
pub(super) enum Relayed {
    Queued(crate::domain::MessageRowId),
    /// Already stored (the same update again).
    Duplicate,
    /// Not sent, with the reason for the person.
    Refused(String),
}

/// A person's message to the lead's customer, inside their transaction: checked by
/// `domain::lead::staff_replied` (it may claim the lead and move a new one on), the first
/// response recorded, signed when replies are, queued for delivery on the customer's last
/// channel. A staff reply in the topic and a sent AI draft both go this way.
pub(super) async fn relay(
    app: &App,
    tx: &mut store::Conn,
    user: &UserRow,
    lead: &store::LeadRow,
    out: Outgoing,
    now: i64,
) -> Result<Relayed, StoreError> {
    let Some(channel) = lead.last_channel else {
        // The customer has only called: there is no chat to write to.
        return Ok(Relayed::Refused(render(app, "staff/no_chat.txt", minijinja::context! {})));
    };
    let actor = Actor { id: user.id, role: user.role };
    let changes = match lead::staff_replied(actor, &lead.facts()) {
        Ok(c) => c,
        Err(rule) => return Ok(Relayed::Refused(rule.to_string())),
    };
    crate::changes::apply(app, tx, lead.id, user.id, &changes, None, now).await?;
    if let Some(secs) =
        store::record_response(tx, lead.id, user.id, "reply", now, |a, b| app.business_secs(a, b)).await?
    {
        info!(lead = lead.id.0, user = user.id.0, business_secs = secs, "first response");
    }
    let body = match (&out.text, out.kind) {
        (Some(t), MessageKind::Text) if app.config.telegram.sign_replies => Some(render(
            app,
            "staff/staff_reply_signed.txt",
            minijinja::context! { text => t, name => user.first_name() },
        )),
        (t, _) => t.clone(),
    };
    let row = NewMessage {
        lead: lead.id,
        customer: lead.customer_id,
        user: Some(user.id),
        channel: channel.into(),
        direction: Direction::Outgoing,
        kind: out.kind,
        body,
        telegram_file_id: out.file_id,
        media_group_id: None,
        extra: out.extra,
        external_id: None,
        sent_at: out.sent_at,
        delivery: Some(crate::domain::message::DeliveryState::Pending),
        staff_state: crate::domain::message::StaffState::NotShown,
    };
    Ok(match queue_outgoing(tx, &row, now).await? {
        Some(m) => Relayed::Queued(m),
        None => Relayed::Duplicate,
    })
}

/// Store an outgoing message with its delivery job (and, for a file, its media fetch).
pub(super) async fn queue_outgoing(
    tx: &mut store::Conn,
    out: &NewMessage,
    now: i64,
) -> Result<Option<crate::domain::MessageRowId>, StoreError> {
    let Some(message) = store::insert_message(tx, out, now).await? else {
        return Ok(None);
    };
    // A person wrote to the customer: the bot's turn ends, and follow-ups count from now.
    store::staff_wrote(tx, out.lead, now).await?;
    let job = crate::jobs::Job::Deliver { message: Some(message), album: None }.into_new(
        format!("deliver:{}:{}", out.channel, out.customer),
        None,
        now,
    );
    store::jobs_enqueue(tx, &job, now).await?;
    if crate::media::keeps_file(out.kind) && out.telegram_file_id.is_some() {
        store::jobs_enqueue(tx, &crate::media::fetch_job(message, now), now).await?;
    }
    Ok(Some(message))
}

pub(super) fn other(e: anyhow::Error) -> StoreError {
    StoreError::Corrupt(format!("{e:#}"))
}
