//! What staff do in the groups: commands, replies and notes in a lead's topic, and button
//! presses on the card. Each is checked against the rules in `domain::lead`, written in one
//! transaction with its history rows and jobs, and answered politely when refused.

use super::card::Menu;
use super::commands::Command;
use super::replies::{answer_callback_job, reply};
use crate::channels::telegram::{ButtonPress, StaffMessage};
use crate::context::App;
use crate::domain::callback::CardAction;
use crate::domain::lead;
use crate::domain::{Actor, Direction, MessageKind, Stage, TelegramUserId};
use crate::ingest::topic_sync_job;
use crate::notices::system_message;
use crate::store::{self, NewMessage, StoreError, UserRow};
use serde_json::json;
use std::sync::Arc;
use tracing::{error, info};

/// The rule errors and template failures of a handler end up here: a template that cannot
/// render is a bug, logged, and the update is still confirmed.
fn render(app: &App, name: &str, ctx: minijinja::Value) -> String {
    app.templates.render(name, ctx).unwrap_or_else(|e| {
        error!(error = %e, "template failed");
        String::from("…")
    })
}

async fn active_user(app: &App, telegram_id: i64) -> Result<Option<UserRow>, StoreError> {
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
        if !app.config.telegram.staff_chat_ids.contains(&m.chat) {
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
    let actor = Actor { id: user.id, role: user.role };
    let changes = match lead::staff_replied(actor, &lead.facts()) {
        Ok(c) => c,
        Err(rule) => {
            store::insert_message(
                &mut tx,
                &system_message(lead.id, lead.customer_id, &refuse(rule.to_string()), now),
                now,
            )
            .await?;
            store::jobs_enqueue(&mut tx, &topic_sync_job(lead.id, now), now).await?;
            tx.commit().await?;
            app.wake.notify_one();
            return Ok(());
        }
    };
    super::changes::apply(app, &mut tx, lead.id, user.id, &changes, None, now).await?;
    let body = match (&m.content.text, m.content.kind) {
        (Some(t), MessageKind::Text) if app.config.telegram.sign_replies => Some(render(
            app,
            "staff/staff_reply_signed.txt",
            minijinja::context! { text => t, name => user.first_name() },
        )),
        (t, _) => t.clone(),
    };
    let out = NewMessage {
        lead: lead.id,
        customer: lead.customer_id,
        user: Some(user.id),
        channel: lead.last_channel.as_str().into(),
        direction: Direction::Outgoing,
        kind: m.content.kind,
        body,
        telegram_file_id: m.content.file_id.clone(),
        media_group_id: None,
        extra: m.content.extra.clone(),
        external_id: None,
        sent_at: m.sent_at,
        delivery: Some("pending"),
        staff_state: "none",
    };
    let Some(message) = queue_outgoing(&mut tx, &out, now).await? else {
        tx.commit().await?;
        return Ok(());
    };
    tx.commit().await?;
    info!(lead = lead.id.0, message = message.0, "staff reply queued for the customer");
    app.wake.notify_one();
    Ok(())
}

/// Store an outgoing message with its delivery job (and, for a file, its media fetch).
async fn queue_outgoing(
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

fn other(e: anyhow::Error) -> StoreError {
    StoreError::Corrupt(format!("{e:#}"))
}

pub async fn on_button(app: &Arc<App>, source: &str, update_id: i64, b: ButtonPress) -> Result<(), StoreError> {
    let now = app.clock.now_ms();
    let user = active_user(app, b.from).await?;
    // Activating an uploaded flow file writes on its own: before this transaction.
    let flow_press = match (crate::domain::callback::FlowAction::decode(b.data.as_deref().unwrap_or("")), &user) {
        (Some(Ok(crate::domain::callback::FlowAction::Activate(id))), Some(u)) => {
            Some(Ok(crate::flows::admin::activate(app, u, id).await.map_err(other)?))
        }
        (Some(Err(stale)), _) => Some(Err(stale)),
        _ => None,
    };
    let mut tx = app.store.begin().await?;
    if !store::mark_update_seen(&mut tx, source, update_id, now).await? {
        return Ok(());
    }
    let answer = |text: String, alert: bool| answer_callback_job(&b.id, &text, alert, now);
    let job = 'decided: {
        let Some(user) = user else {
            break 'decided answer(render(app, "staff/not_staff.txt", minijinja::context! {}), true);
        };
        let stale = || render(app, "staff/stale_button.txt", minijinja::context! {});
        match flow_press {
            Some(Ok((text, post))) => {
                if let (Some(p), Some(chat)) = (post, b.chat) {
                    reply(app, &mut tx, chat, None, &p).await.map_err(other)?;
                }
                break 'decided answer(text, false);
            }
            Some(Err(_)) => break 'decided answer(stale(), true),
            None => {}
        }
        let Ok(action) = CardAction::decode(b.data.as_deref().unwrap_or("")) else {
            break 'decided answer(stale(), true);
        };
        let Some(lead) = store::lead_in_tx(&mut tx, action.lead()).await? else {
            break 'decided answer(stale(), true);
        };
        let actor = Actor { id: user.id, role: user.role };
        let facts = lead.facts();
        let refused = |e: crate::domain::RuleError| {
            render(app, "staff/refused.txt", minijinja::context! { reason => e.to_string() })
        };
        if let CardAction::SendTemplate(_) = action {
            // Sending the template is a reply: it claims an unclaimed lead and moves a new
            // one to contacted, like a typed reply.
            let changes = match lead::staff_replied(actor, &facts) {
                Ok(c) => c,
                Err(e) => break 'decided answer(refused(e), true),
            };
            let Some((name, language)) = app.config.whatsapp.as_ref().and_then(|w| w.template.clone()) else {
                break 'decided answer(
                    render(app, "staff/done.txt", minijinja::context! { action => "no_template" }),
                    true,
                );
            };
            super::changes::apply(app, &mut tx, lead.id, user.id, &changes, None, now).await?;
            let out = NewMessage {
                lead: lead.id,
                customer: lead.customer_id,
                user: Some(user.id),
                channel: crate::domain::Channel::Whatsapp.as_str().into(),
                direction: Direction::Outgoing,
                kind: MessageKind::Text,
                body: Some(format!("[template {name}]")),
                telegram_file_id: None,
                media_group_id: None,
                extra: Some(json!({ "template": name, "language": language })),
                external_id: None,
                sent_at: now,
                delivery: Some("pending"),
                staff_state: "none",
            };
            queue_outgoing(&mut tx, &out, now).await?;
            info!(lead = lead.id.0, user = user.id.0, template = %name, "re-engagement template queued");
            break 'decided answer(render(app, "staff/done.txt", minijinja::context! { action => "template" }), false);
        }
        match action {
            CardAction::Automation(_, on) => {
                if let Err(e) = lead::switch_automation(actor, &facts) {
                    break 'decided answer(refused(e), true);
                }
                store::set_automation(&mut tx, lead.id, on, now).await?;
                store::jobs_enqueue(&mut tx, &topic_sync_job(lead.id, now), now).await?;
                info!(lead = lead.id.0, user = user.id.0, on, "the bot's automation switched");
                let what = if on { "bot_on" } else { "bot_off" };
                break 'decided answer(render(app, "staff/done.txt", minijinja::context! { action => what }), false);
            }
            CardAction::SendPhotos(_, v) => {
                let done = super::photos::send(app, &mut tx, &user, &lead, v, now).await?;
                break 'decided answer(done.answer, done.refused);
            }
            CardAction::VehicleHint(_) => {
                break 'decided answer(render(app, "staff/vehicle_hint.txt", minijinja::context! {}), true);
            }
            CardAction::Attach(_, v) | CardAction::Detach(_, v) => {
                let attach = matches!(action, CardAction::Attach(..));
                let linked = super::attach::link(&mut tx, &user, &lead, v, attach, now).await?;
                let (text, alert) = super::attach::say(app, &linked, attach);
                break 'decided answer(text, alert);
            }
            _ => {}
        }
        let result = match action {
            CardAction::Claim(_) => lead::claim(actor, &facts).map(|c| (c, Menu::Main, "claim")),
            CardAction::SetStage(_, stage) => {
                lead::move_stage(actor, &facts, stage, None).map(|c| (c, Menu::Main, "stage"))
            }
            CardAction::Lost(_, reason) => {
                lead::move_stage(actor, &facts, Stage::Lost, Some(reason)).map(|c| (c, Menu::Main, "lost"))
            }
            CardAction::StageMenu(_) => lead::stage_menu(actor, &facts).map(|_| (vec![], Menu::Stage(user.id), "menu")),
            CardAction::LostMenu(_) => lead::lost_menu(actor, &facts).map(|_| (vec![], Menu::Lost, "menu")),
            CardAction::Back(_)
            | CardAction::SendTemplate(_)
            | CardAction::VehicleHint(_)
            | CardAction::Attach(..)
            | CardAction::Detach(..)
            | CardAction::SendPhotos(..)
            | CardAction::Automation(..) => Ok((vec![], Menu::Main, "menu")),
        };
        match result {
            Err(e) => answer(refused(e), true),
            Ok((changes, menu, what)) => {
                super::changes::apply(app, &mut tx, lead.id, user.id, &changes, Some(&menu.encode()), now).await?;
                info!(lead = lead.id.0, user = user.id.0, action = what, "card button");
                let after = lead::apply(&facts, &changes);
                let text = match what {
                    "menu" => String::new(),
                    _ => render(
                        app,
                        "staff/done.txt",
                        minijinja::context! { action => what,
                        stage => app.templates.label("stage", after.stage.as_str(), after.stage.label()),
                        reason => lead.lost_reason.or(match action { CardAction::Lost(_, r) => Some(r), _ => None })
                            .map(|r| app.templates.label("lost", r.as_str(), r.label())) },
                    ),
                };
                answer(text, false)
            }
        }
    };
    store::jobs_enqueue(&mut tx, &job, now).await?;
    tx.commit().await?;
    app.wake.notify_one();
    Ok(())
}
