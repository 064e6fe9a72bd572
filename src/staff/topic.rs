//! The topic sync job: brings one lead's staff topic up to date — the topic exists in the
//! right group (recreated if a person deleted it, reopened if closed, moved to the owner's
//! group when claimed), the card shows the lead's latest state (edited once, however many
//! changes waited), and the waiting messages are posted, merged into as few Telegram
//! messages as the limits call for. Progress is saved after every send, so a retry
//! repeats nothing that succeeded.

use super::card;
use super::segments::{segments, SegFile, Segment};
use crate::channels::telegram::{FileRef, Keyboard, TgError};
use crate::context::App;
use crate::domain::topic_plan::{self, Facts, Post, Preview, Topic, PREVIEW_RETRY_MS};
use crate::domain::{Actor, Direction, LeadId};
use crate::jobs::Outcome;
use crate::notices::system_message;
use crate::store::{self, LeadRow, StaffPending};
use anyhow::Context;
use std::sync::Arc;
use tracing::{info, warn};

enum Step {
    /// Something changed (topic created or recreated): look at the lead again.
    Again,
    Finished(Outcome),
}

pub async fn sync(app: &Arc<App>, lead_id: LeadId) -> anyhow::Result<Outcome> {
    for _ in 0..4 {
        let Some(lead) = app.store.lead(lead_id).await? else {
            warn!(lead = lead_id.0, "topic sync for a lead that does not exist");
            return Ok(Outcome::Done);
        };
        match step(app, &lead).await? {
            Step::Again => continue,
            Step::Finished(o) => {
                if o == Outcome::Done {
                    app.topic_holds.remove(&lead_id.0);
                }
                return Ok(o);
            }
        }
    }
    Ok(Outcome::Retry("the topic kept changing under us".into()))
}

/// The group a lead's topic belongs in (the rule is in `domain::routing`).
pub(super) fn target_group(app: &App, lead: &LeadRow) -> i64 {
    crate::domain::routing::topic_group(
        &app.config.telegram.staff_chat_ids,
        lead.owner.map(|o| (o, lead.owner_staff_chat)),
        lead.staff_chat_id,
    )
}

/// What the sync knows about a lead's topic, for the plan (`domain::topic_plan`).
pub(super) fn facts(app: &App, lead: &LeadRow, pending: &[StaffPending], now: i64) -> Facts {
    let target = target_group(app, lead);
    let newest = |incoming_only: bool| {
        pending.iter().filter(|p| !incoming_only || p.direction == Direction::Incoming).map(|p| p.created_at).max()
    };
    Facts {
        target,
        chat: lead.staff_chat_id,
        thread: lead.topic_thread_id,
        closed: lead.topic_closed,
        card_posted: lead.card_message_id.is_some(),
        card_behind: lead.card_rendered_version < lead.card_version,
        preview_behind: lead.preview_rendered < lead.preview_version,
        pending: pending.len(),
        newest_pending: newest(false),
        newest_incoming: newest(true),
        headroom: app.limiter.has_headroom(app.staff_bot.slot, target, now),
        now,
    }
}

async fn step(app: &Arc<App>, lead: &LeadRow) -> anyhow::Result<Step> {
    let bot = &app.staff_bot;
    let now = app.clock.now_ms();
    let pending = app.store.staff_pending(lead.id, 200).await?;
    let plan = topic_plan::plan(&facts(app, lead, &pending, now));

    // 1. The topic.
    let (chat, thread) = match plan.topic {
        Topic::Ready { chat, thread } => (chat, thread),
        Topic::Reopen { chat, thread } => {
            // A person closed it, and the lead needs it again.
            return match bot.api.reopen_topic(chat, thread).await {
                Ok(()) => {
                    app.store.set_topic_closed(chat, thread, false).await?;
                    info!(lead = lead.id.0, chat, thread, "topic reopened");
                    Ok(Step::Again)
                }
                Err(e) => topic_error(app, lead, chat, thread, e).await,
            };
        }
        Topic::Create { close_old } => return create_topic(app, lead, close_old).await,
    };

    // 2. The card, at its latest version.
    if plan.card {
        if let Some(step) = render_card(app, lead, chat, thread, now).await? {
            return Ok(step);
        }
    }

    // 3. Waiting messages.
    if let Post::WaitForBurst(until) = plan.post {
        return Ok(Step::Finished(Outcome::WaitUntil(until)));
    }
    if plan.post == Post::Now {
        if let Some(step) = post_waiting(app, lead, chat, thread, &pending, now).await? {
            return Ok(step);
        }
    }

    // 4. The card's "last message" line: refreshed once the customer has been quiet for a
    //    moment (not on every message), and only when the group has budget to spare, so
    //    that customer messages never wait behind it.
    match plan.preview {
        Preview::Current => {}
        Preview::AfterQuiet(at) => return Ok(Step::Finished(Outcome::WaitUntil(at))),
        Preview::Refresh => {
            let now = app.clock.now_ms();
            if !app.limiter.has_headroom(bot.slot, chat, now) {
                return Ok(Step::Finished(Outcome::WaitUntil(now + PREVIEW_RETRY_MS)));
            }
            return refresh_preview(app, lead, chat, thread, now).await;
        }
    }
    Ok(Step::Finished(Outcome::Done))
}

/// Send the card (the topic has none) or edit it to the lead's latest version. `Some` when
/// the pass ends here.
async fn render_card(app: &Arc<App>, lead: &LeadRow, chat: i64, thread: i32, now: i64) -> anyhow::Result<Option<Step>> {
    let bot = &app.staff_bot;
    if let Err(until) = app.limiter.acquire(bot.slot, chat, now) {
        return Ok(Some(Step::Finished(held(app, lead, until))));
    }
    let extras = card::extras_of(app, lead).await?;
    let c = card::render(app, lead, menu_actor(app, lead).await?, &extras)?;
    let version = lead.card_version;
    let sent = match lead.card_message_id {
        None => bot.api.send_text(chat, Some(thread), &c.text, Some(&c.keyboard)).await,
        Some(m) => bot.api.edit_text(chat, m, &c.text, Some(&c.keyboard)).await.map(|_| m),
    };
    match sent {
        Ok(m) => app.store.set_card_rendered(lead.id, m, version, lead.preview_version).await?,
        Err(TgError::NotModified) => {
            if let Some(m) = lead.card_message_id {
                app.store.set_card_rendered(lead.id, m, version, lead.preview_version).await?
            }
        }
        Err(TgError::EditTargetMissing) => {
            // Someone deleted the card: post a new one.
            app.store.set_lead_topic(lead.id, chat, Some(thread), now).await?;
            return Ok(Some(Step::Again));
        }
        Err(e) => return topic_error(app, lead, chat, thread, e).await.map(Some),
    }
    Ok(None)
}

/// Post the waiting messages, merged into as few sends as the limits allow, marking each
/// posted as it goes. `Some` when the pass ends here (the group's budget, an album still
/// arriving, an error).
async fn post_waiting(
    app: &Arc<App>,
    lead: &LeadRow,
    chat: i64,
    thread: i32,
    pending: &[StaffPending],
    now: i64,
) -> anyhow::Result<Option<Step>> {
    let bot = &app.staff_bot;
    let (segments, wait_for_album) = segments(app, lead.id, pending, now)?;
    for seg in segments {
        let now = app.clock.now_ms();
        if let Err(until) = app.limiter.acquire(bot.slot, chat, now) {
            return Ok(Some(Step::Finished(held(app, lead, until))));
        }
        let one = |r: Result<i32, TgError>| r.map(|m| vec![m]);
        let (ids, sent) = match &seg {
            Segment::Text { ids, text, keyboard, placeholders, touches } => {
                let sent = send_text_split(app, chat, thread, text, keyboard.as_ref()).await;
                if let Ok(m) = &sent {
                    app.store.mark_placeholders(placeholders, *m).await?;
                    // A part of a long message: counted, so that a pass that stops before its
                    // last part (the group's budget) goes on after it next time.
                    let parts: Vec<_> =
                        touches.iter().filter(|t| !ids.contains(t) && !placeholders.contains(t)).copied().collect();
                    if !parts.is_empty() {
                        app.store.mark_parts_posted(&parts).await?;
                    }
                }
                (ids.clone(), one(sent))
            }
            Segment::Media { id, kind, file, caption } => {
                let file = file_for_staff(app, file).await?;
                (vec![*id], one(bot.api.send_media(chat, Some(thread), *kind, &file, Some(caption)).await))
            }
            Segment::Album { ids, items } => {
                let mut files = Vec::new();
                for (kind, file, caption) in items {
                    files.push((*kind, file_for_staff(app, file).await?, caption.clone()));
                }
                (ids.clone(), bot.api.send_album(chat, Some(thread), &files).await)
            }
            Segment::Location { id, lat, lon } => {
                (vec![*id], one(bot.api.send_location(chat, Some(thread), *lat, *lon).await))
            }
        };
        match sent {
            // An album's items are each their own Telegram message (a reply can name one).
            Ok(shown) if shown.len() == ids.len() && ids.len() > 1 => {
                for (id, m) in ids.iter().zip(&shown) {
                    app.store.mark_posted(&[*id], *m).await?;
                }
            }
            Ok(shown) => app.store.mark_posted(&ids, shown.first().copied().unwrap_or(0)).await?,
            Err(why @ (TgError::BadRequest(_) | TgError::TooLong)) => {
                // This one message cannot be shown as it is: say so instead of blocking
                // the topic behind it.
                warn!(lead = lead.id.0, error = %why, "a message could not be posted in the topic");
                let touched = match &seg {
                    Segment::Text { touches, .. } => touches.clone(),
                    _ => ids.clone(),
                };
                app.store.mark_posted(&touched, 0).await?;
                let kind = match &seg {
                    Segment::Media { kind, .. } => kind.as_str(),
                    Segment::Album { .. } => "album",
                    Segment::Location { .. } => "location",
                    Segment::Text { .. } => "text",
                };
                let text = app.templates.render("staff/unsupported_kind.txt", minijinja::context! { kind })?;
                add_system_message(app, lead, &text).await?;
                return Ok(Some(Step::Again));
            }
            Err(e) => return topic_error(app, lead, chat, thread, e).await.map(Some),
        }
    }
    Ok(wait_for_album.map(|at| Step::Finished(Outcome::WaitUntil(at))))
}

/// Edit the card for its "last message" line (the plan said it is behind and the customer
/// is quiet), if the group's budget allows it now.
async fn refresh_preview(app: &Arc<App>, lead: &LeadRow, chat: i64, thread: i32, now: i64) -> anyhow::Result<Step> {
    let bot = &app.staff_bot;
    if app.limiter.acquire(bot.slot, chat, now).is_err() {
        return Ok(Step::Finished(Outcome::Done));
    }
    let fresh = app.store.lead(lead.id).await?.unwrap_or_else(|| lead.clone());
    if let Some(m) = fresh.card_message_id {
        let extras = card::extras_of(app, &fresh).await?;
        let c = card::render(app, &fresh, menu_actor(app, &fresh).await?, &extras)?;
        match bot.api.edit_text(chat, m, &c.text, Some(&c.keyboard)).await {
            Ok(()) | Err(TgError::NotModified) => {
                app.store.set_card_rendered(lead.id, m, fresh.card_version, fresh.preview_version).await?
            }
            Err(e) => return topic_error(app, &fresh, chat, thread, e).await,
        }
    }
    Ok(Step::Finished(Outcome::Done))
}

/// Create the lead's topic in its group; when it had one in another group, mark that one's
/// card as moved and close it first (it is kept, not deleted).
async fn create_topic(app: &Arc<App>, lead: &LeadRow, close_old: Option<(i64, i32)>) -> anyhow::Result<Step> {
    let bot = &app.staff_bot;
    let target = target_group(app, lead);
    let now = app.clock.now_ms();
    if let Some((c, t)) = close_old {
        if let Some(card) = lead.card_message_id {
            if let Err(until) = app.limiter.acquire(bot.slot, c, now) {
                return Ok(Step::Finished(held(app, lead, until)));
            }
            let text = app.templates.render(
                "staff/moved.txt",
                minijinja::context! { id => lead.id.0, customer => &lead.customer_name,
                owner => lead.owner_name.as_deref().unwrap_or("") },
            )?;
            if let Err(e) = bot.api.edit_text(c, card, &text, None).await {
                warn!(lead = lead.id.0, error = %e, "could not mark the old card as moved");
            }
        }
        if let Err(e) = bot.api.close_topic(c, t).await {
            warn!(lead = lead.id.0, error = %e, "could not close the old topic");
        }
    }
    let name = card::topic_name(app, lead)?;
    let thread = match bot.api.create_topic(target, &name).await {
        Ok(thread) => thread,
        Err(e) => return Ok(Step::Finished(failure(app, target, e))),
    };
    let expected = (lead.staff_chat_id, lead.topic_thread_id);
    if app.store.set_lead_topic_if(lead.id, expected, target, thread, now).await? {
        info!(lead = lead.id.0, chat = target, thread, "topic created");
        return Ok(Step::Again);
    }
    // Stored meanwhile: usually this very topic, adopted from its creation message (which
    // can arrive before we get here). Another topic adopted for the lead makes this one the
    // orphan.
    let now_stored = app.store.lead(lead.id).await?.map(|l| (l.staff_chat_id, l.topic_thread_id));
    if now_stored != Some((Some(target), Some(thread))) {
        warn!(lead = lead.id.0, chat = target, thread, "the lead got another topic meanwhile; deleting ours");
        app.store.enqueue(&crate::jobs::job::delete_topic_job(target, thread, now), now).await?;
    }
    Ok(Step::Again)
}

/// Send a text into the topic; one that Telegram still finds too long (it counts
/// differently than we do, in some case we have not met) is split in two and each half
/// sent the same way, down to short pieces. Returns the last piece's message id.
async fn send_text_split(app: &App, chat: i64, thread: i32, text: &str, kb: Option<&Keyboard>) -> Result<i32, TgError> {
    let api = &app.staff_bot.api;
    let mut todo = vec![text.to_string()];
    let mut last = 0;
    while let Some(piece) = todo.pop() {
        let is_last = todo.is_empty();
        let keyboard = if is_last { kb } else { None };
        match api.send_text(chat, Some(thread), &piece, keyboard).await {
            Ok(m) => last = m,
            Err(TgError::TooLong) if crate::domain::text::utf16_len(&piece) > MIN_PIECE => {
                let half = crate::domain::text::utf16_len(&piece).div_ceil(2);
                warn!(chat, thread, units = half * 2, "Telegram found a text too long; sending it in two");
                let parts = crate::domain::text::split_utf16(&piece, half);
                todo.extend(parts.into_iter().rev().map(str::to_string));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(last)
}

/// Below this many UTF-16 units a text is not split again: Telegram refuses it for some
/// other reason, and the topic says so instead.
const MIN_PIECE: usize = 64;

/// Wait for the group's budget, and tell ingest so a new message does not wake the sync
/// before then (it would only be refused again).
fn held(app: &App, lead: &LeadRow, until: i64) -> Outcome {
    app.topic_holds.insert(lead.id.0, until);
    Outcome::WaitUntil(until)
}

/// The user whose stage menu is open on the card, if any.
async fn menu_actor(app: &App, lead: &LeadRow) -> anyhow::Result<Option<(Actor, String)>> {
    Ok(match card::Menu::decode(&lead.card_menu) {
        card::Menu::Stage(u) => app
            .store
            .user_by_id(u)
            .await?
            .filter(|u| u.active)
            .map(|u| (Actor { id: u.id, role: u.role }, u.first_name().to_string())),
        _ => None,
    })
}

async fn topic_error(app: &Arc<App>, lead: &LeadRow, chat: i64, thread: i32, e: TgError) -> anyhow::Result<Step> {
    let now = app.clock.now_ms();
    match e {
        TgError::ThreadNotFound => {
            warn!(lead = lead.id.0, chat, thread, "the topic is gone; recreating it");
            app.store.set_lead_topic(lead.id, chat, None, now).await?;
            let text = app.templates.render("staff/topic_recreated.txt", minijinja::context! { id => lead.id.0 })?;
            add_system_message(app, lead, &text).await?;
            Ok(Step::Again)
        }
        TgError::TopicClosed => {
            info!(lead = lead.id.0, chat, thread, "the topic was closed; reopening it");
            match app.staff_bot.api.reopen_topic(chat, thread).await {
                Ok(()) => Ok(Step::Again),
                Err(TgError::ThreadNotFound) => {
                    app.store.set_lead_topic(lead.id, chat, None, now).await?;
                    Ok(Step::Again)
                }
                Err(e) => Ok(Step::Finished(failure(app, chat, e))),
            }
        }
        e => Ok(Step::Finished(failure(app, chat, e))),
    }
}

/// Map a send failure to the job's outcome.
pub fn failure(app: &App, chat: i64, e: TgError) -> Outcome {
    let now = app.clock.now_ms();
    match e {
        TgError::RetryAfter(s) => {
            let until = now + s.max(1) * 1_000;
            app.limiter.pause(app.staff_bot.slot, chat, until);
            Outcome::WaitUntil(until)
        }
        other => Outcome::Retry(other.to_string()),
    }
}

/// A notice for the topic (not from the customer), shown with the next sync.
pub async fn add_system_message(app: &App, lead: &LeadRow, text: &str) -> anyhow::Result<()> {
    let now = app.clock.now_ms();
    let mut tx = app.store.begin().await?;
    store::insert_message(&mut tx, &system_message(lead.id, lead.customer_id, text, now), now).await?;
    tx.commit().await?;
    Ok(())
}

/// A customer's file, as the staff bot can send it: by id when one bot serves both sides,
/// else downloaded through the customer bot and uploaded; a kept file is uploaded.
async fn file_for_staff(app: &App, file: &SegFile) -> anyhow::Result<FileRef> {
    let file_id = match file {
        SegFile::Kept(path, name) => {
            let bytes = app.media.read_async(path).await.with_context(|| format!("reading the kept file {path}"))?;
            return Ok(FileRef::Bytes(bytes, name.clone()));
        }
        SegFile::Telegram(id) => id,
    };
    if app.same_bot() {
        return Ok(FileRef::Id(file_id.to_string()));
    }
    let bytes = app.customer_bot.api.download(file_id).await.context("downloading a customer's file")?;
    Ok(FileRef::Bytes(bytes, file_id.to_string()))
}
