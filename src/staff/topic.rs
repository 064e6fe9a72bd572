//! The topic sync job: brings one lead's staff topic up to date — the topic exists in the
//! right group (recreated if a person deleted it, reopened if closed, moved to the owner's
//! group when claimed), the card shows the lead's latest state (edited once, however many
//! changes waited), and the waiting messages are posted, merged into as few Telegram
//! messages as the limits call for. Progress is saved after every send, so a retry
//! repeats nothing that succeeded.

use super::card;
use crate::channels::telegram::{FileRef, Keyboard, TgError};
use crate::context::App;
use crate::domain::merge::{merge, Entry};
use crate::domain::{Actor, Direction, LeadId, MessageKind, MessageRowId};
use crate::ingest::ALBUM_GRACE_MS;
use crate::jobs::Outcome;
use crate::notices::system_message;
use crate::store::{self, LeadRow, StaffPending};
use anyhow::Context;
use std::sync::Arc;
use tracing::{info, warn};

/// Where a file for the topic comes from.
#[derive(Debug, Clone)]
pub(super) enum SegFile {
    /// A customer's Telegram file id (the customer bot's).
    Telegram(String),
    /// A file in the media store: (path relative to it, file name).
    Kept(String, String),
}

enum Step {
    /// Something changed (topic created or recreated): look at the lead again.
    Again,
    Finished(Outcome),
}

/// A unit of sending into the topic.
#[derive(Debug)]
pub(super) enum Segment {
    /// `ids` are the messages this text finishes; `touches` every message with a part in it
    /// (a long message split over several texts touches each, finishes in the last);
    /// `placeholders` the files whose "downloading…" line it carries (they stay pending).
    Text {
        ids: Vec<MessageRowId>,
        touches: Vec<MessageRowId>,
        placeholders: Vec<MessageRowId>,
        text: String,
        keyboard: Option<Keyboard>,
    },
    Media {
        id: MessageRowId,
        kind: MessageKind,
        file: SegFile,
        caption: String,
    },
    Album {
        ids: Vec<MessageRowId>,
        items: Vec<(MessageKind, SegFile, Option<String>)>,
    },
    Location {
        id: MessageRowId,
        lat: f64,
        lon: f64,
    },
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

async fn step(app: &Arc<App>, lead: &LeadRow) -> anyhow::Result<Step> {
    let bot = &app.staff_bot;
    let target = target_group(app, lead);
    let now = app.clock.now_ms();

    // 1. The topic.
    let thread = match (lead.staff_chat_id, lead.topic_thread_id) {
        (Some(chat), Some(thread)) if chat == target => thread,
        (old_chat, old_thread) => {
            if let (Some(c), Some(t)) = (old_chat, old_thread) {
                // Moving to the owner's group: the old card says where the lead went and
                // loses its buttons; the old topic is closed, not deleted.
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
            match bot.api.create_topic(target, &name).await {
                Ok(thread) => {
                    let expected = (lead.staff_chat_id, lead.topic_thread_id);
                    if app.store.set_lead_topic_if(lead.id, expected, target, thread, now).await? {
                        info!(lead = lead.id.0, chat = target, thread, "topic created");
                        return Ok(Step::Again);
                    }
                    // Stored meanwhile: usually this very topic, adopted from its creation
                    // message (which can arrive before we get here). Another topic adopted
                    // for the lead makes this one the orphan.
                    let now_stored = app.store.lead(lead.id).await?.map(|l| (l.staff_chat_id, l.topic_thread_id));
                    if now_stored != Some((Some(target), Some(thread))) {
                        warn!(
                            lead = lead.id.0,
                            chat = target,
                            thread,
                            "the lead got another topic meanwhile; deleting ours"
                        );
                        app.store.enqueue(&crate::jobs::job::delete_topic_job(target, thread, now), now).await?;
                    }
                    return Ok(Step::Again);
                }
                Err(e) => return Ok(Step::Finished(failure(app, target, e))),
            }
        }
    };
    let chat = target;
    if lead.topic_closed {
        // A person closed it, and the lead needs it again.
        match bot.api.reopen_topic(chat, thread).await {
            Ok(()) => {
                app.store.set_topic_closed(chat, thread, false).await?;
                info!(lead = lead.id.0, chat, thread, "topic reopened");
                return Ok(Step::Again);
            }
            Err(e) => return topic_error(app, lead, chat, thread, e).await,
        }
    }

    // 2. The card, at its latest version.
    if lead.card_message_id.is_none() || lead.card_rendered_version < lead.card_version {
        if let Err(until) = app.limiter.acquire(bot.slot, chat, now) {
            return Ok(Step::Finished(held(app, lead, until)));
        }
        let vehicles = app.store.lead_vehicles(lead.id.0).await?;
        let c = card::render(app, lead, menu_actor(app, lead).await?, &vehicles)?;
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
                return Ok(Step::Again);
            }
            Err(e) => return topic_error(app, lead, chat, thread, e).await,
        }
    }

    // 3. Waiting messages.
    let pending = app.store.staff_pending(lead.id, 200).await?;
    // When the group's minute is more than half used, a customer who is still typing gets
    // a moment to finish, so their burst costs one send instead of several.
    if let Some(newest) = pending.iter().filter(|p| p.direction == Direction::Incoming).map(|p| p.created_at).max() {
        let now = app.clock.now_ms();
        if newest + COALESCE_MS > now && !app.limiter.has_headroom(bot.slot, chat, now) {
            return Ok(Step::Finished(Outcome::WaitUntil(newest + COALESCE_MS)));
        }
    }
    let (segments, wait_for_album) = segments(app, lead.id, &pending, now)?;
    for seg in segments {
        let now = app.clock.now_ms();
        if let Err(until) = app.limiter.acquire(bot.slot, chat, now) {
            return Ok(Step::Finished(held(app, lead, until)));
        }
        let one = |r: Result<i32, TgError>| r.map(|m| vec![m]);
        let (ids, sent) = match &seg {
            Segment::Text { ids, text, keyboard, placeholders, .. } => {
                let sent = send_text_split(app, chat, thread, text, keyboard.as_ref()).await;
                if let Ok(m) = &sent {
                    app.store.mark_placeholders(placeholders, *m).await?;
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
                return Ok(Step::Again);
            }
            Err(e) => return topic_error(app, lead, chat, thread, e).await,
        }
    }
    if let Some(at) = wait_for_album {
        return Ok(Step::Finished(Outcome::WaitUntil(at)));
    }

    // 4. The card's "last message" line: refreshed once the customer has been quiet for a
    //    moment (not on every message), and only when the group has budget to spare, so
    //    that customer messages never wait behind it.
    if lead.preview_rendered < lead.preview_version {
        let now = app.clock.now_ms();
        let quiet_since = pending.iter().map(|p| p.created_at).max().unwrap_or(0) + PREVIEW_QUIET_MS;
        if !pending.is_empty() && quiet_since > now {
            return Ok(Step::Finished(Outcome::WaitUntil(quiet_since)));
        }
        if !app.limiter.has_headroom(bot.slot, chat, now) {
            return Ok(Step::Finished(Outcome::WaitUntil(now + PREVIEW_RETRY_MS)));
        }
        if app.limiter.acquire(bot.slot, chat, now).is_ok() {
            let fresh = app.store.lead(lead.id).await?.unwrap_or_else(|| lead.clone());
            if let Some(m) = fresh.card_message_id {
                let vehicles = app.store.lead_vehicles(fresh.id.0).await?;
                let c = card::render(app, &fresh, menu_actor(app, &fresh).await?, &vehicles)?;
                match bot.api.edit_text(chat, m, &c.text, Some(&c.keyboard)).await {
                    Ok(()) | Err(TgError::NotModified) => {
                        app.store.set_card_rendered(lead.id, m, fresh.card_version, fresh.preview_version).await?
                    }
                    Err(e) => return topic_error(app, &fresh, chat, thread, e).await,
                }
            }
        }
    }
    Ok(Step::Finished(Outcome::Done))
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

/// How long a card's preview refresh waits when the group is busy.
const PREVIEW_RETRY_MS: i64 = 20_000;
/// How long a busy group waits for a customer's burst to end before posting it.
pub(super) const COALESCE_MS: i64 = 3_000;
/// How long a customer stays quiet before the card's "last message" line is refreshed.
pub(super) const PREVIEW_QUIET_MS: i64 = 2_000;

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

/// The keyboard under a notice: the WhatsApp re-engagement template offer.
fn notice_keyboard(app: &App, button: &str, lead: LeadId) -> Keyboard {
    match button {
        "send_template" => vec![vec![(
            app.templates.label("button", "send_template", "Send the template"),
            crate::domain::callback::CardAction::SendTemplate(lead).encode(),
        )]],
        _ => Vec::new(),
    }
}

/// One line of the merged text for a message.
fn line_text(app: &App, m: &StaffPending) -> anyhow::Result<String> {
    let body = m.body.clone().unwrap_or_default();
    Ok(match m.kind {
        // The bot's own message (staff replies are never shown back in the topic).
        MessageKind::Text if m.direction == Direction::Outgoing => {
            let buttons: Vec<String> = m
                .extra
                .as_ref()
                .and_then(|e| e["buttons"].as_array())
                .map(|bs| bs.iter().filter_map(|b| b.get(1)?.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            app.templates.render("staff/bot_said.txt", minijinja::context! { text => body, buttons })?
        }
        MessageKind::Text if m.extra.as_ref().is_some_and(|e| e.get("button").is_some()) => {
            app.templates.render("staff/button_pressed.txt", minijinja::context! { text => body })?
        }
        MessageKind::Text => body,
        MessageKind::Contact => {
            let name = m.extra.as_ref().and_then(|e| e["name"].as_str()).unwrap_or("").to_string();
            app.templates.render("staff/contact_shared.txt", minijinja::context! { name })?
        }
        MessageKind::Sticker => format!("🏷 {body}"),
        kind => {
            let described =
                app.templates.render("staff/unsupported_kind.txt", minijinja::context! { kind => kind.as_str() })?;
            if body.is_empty() {
                described
            } else {
                format!("{described} {body}")
            }
        }
    })
}

/// A caption within Telegram's 1,024 UTF-16 units. A longer one goes first as text (as
/// many messages as it needs, finishing nothing: the file finishes the message), and the
/// file is captioned with its stamp only.
fn fit_caption(id: MessageRowId, caption: String, stamp: &str, out: &mut Vec<Segment>) -> String {
    use crate::domain::text::{split_utf16, utf16_len, TELEGRAM_CAPTION, TELEGRAM_TEXT};
    if utf16_len(&caption) <= TELEGRAM_CAPTION {
        return caption;
    }
    for piece in split_utf16(&caption, TELEGRAM_TEXT) {
        out.push(Segment::Text {
            ids: Vec::new(),
            touches: vec![id],
            placeholders: Vec::new(),
            text: piece.to_string(),
            keyboard: None,
        });
    }
    if stamp.is_empty() {
        "⬆️".to_string()
    } else {
        format!("[{stamp}] ⬆️")
    }
}

/// Cut the waiting messages into sends. Returns the segments and, if a trailing album may
/// still be arriving, when to look again.
pub(super) fn segments(
    app: &App,
    lead: LeadId,
    pending: &[StaffPending],
    now: i64,
) -> anyhow::Result<(Vec<Segment>, Option<i64>)> {
    let mut out = Vec::new();
    // (message, stamp, line, whether the line only says its file is downloading)
    let mut texts: Vec<(MessageRowId, String, String, bool)> = Vec::new();
    let flush = |texts: &mut Vec<(MessageRowId, String, String, bool)>, out: &mut Vec<Segment>| {
        if texts.is_empty() {
            return;
        }
        let entries: Vec<Entry> = texts.iter().map(|(_, stamp, text, _)| Entry { stamp, text }).collect();
        for chunk in merge(&entries) {
            let (placeholders, ids) = chunk.completes.iter().map(|i| (texts[*i].0, texts[*i].3)).partition(|t| t.1);
            let only = |v: Vec<(MessageRowId, bool)>| v.into_iter().map(|t| t.0).collect::<Vec<_>>();
            out.push(Segment::Text {
                ids: only(ids),
                touches: chunk.touches.iter().map(|i| texts[*i].0).collect(),
                placeholders: only(placeholders),
                text: chunk.text,
                keyboard: None,
            });
        }
        texts.clear();
    };
    let mut i = 0;
    while i < pending.len() {
        let m = &pending[i];
        let stamp = app.local_time(m.sent_at, false);
        // A notice with a button (the WhatsApp template offer) goes on its own.
        if let Some(button) =
            m.extra.as_ref().and_then(|e| e["button"].as_str()).filter(|_| m.direction == Direction::System)
        {
            flush(&mut texts, &mut out);
            out.push(Segment::Text {
                ids: vec![m.id],
                touches: vec![m.id],
                placeholders: Vec::new(),
                text: m.body.clone().unwrap_or_default(),
                keyboard: Some(notice_keyboard(app, button, lead)),
            });
            i += 1;
            continue;
        }
        // A Viber or WhatsApp file shows once it is kept. Until then the topic says it is
        // downloading (with its caption), once, and what comes after it is not held back:
        // the file follows when the fetch job has kept it (the job syncs the topic).
        let kept = if crate::media::keeps_file(m.kind) && m.telegram_file_id.is_none() {
            match &m.media {
                None if m.direction == Direction::Incoming => {
                    if m.placeholder.is_none() {
                        let line = app.templates.render(
                            "staff/media_downloading.txt",
                            minijinja::context! { kind => m.kind.as_str(), caption => m.body.as_deref(),
                            name => m.extra.as_ref().and_then(|e| e["media"]["name"].as_str()) },
                        )?;
                        texts.push((m.id, stamp, line, true));
                    }
                    i += 1;
                    continue;
                }
                Some(md) => match (&md.path, &md.error) {
                    (Some(p), _) => Some(SegFile::Kept(
                        p.clone(),
                        md.name.clone().unwrap_or_else(|| crate::domain::media::default_name(m.kind, "")),
                    )),
                    (None, e) => {
                        let text = app.templates.render(
                            "staff/media_failed.txt",
                            minijinja::context! { kind => m.kind.as_str(), name => md.name.clone(), error => e },
                        )?;
                        let text = match &m.body {
                            Some(b) if !b.is_empty() => format!("{text} {b}"),
                            _ => text,
                        };
                        texts.push((m.id, stamp, text, false));
                        i += 1;
                        continue;
                    }
                },
                None => None,
            }
        } else {
            None
        };
        let is_file =
            m.kind.has_file() && m.kind != MessageKind::Sticker && (m.telegram_file_id.is_some() || kept.is_some());
        if is_file {
            flush(&mut texts, &mut out);
            let caption = match &m.body {
                Some(b) if !b.is_empty() => format!("[{stamp}] {b}"),
                _ => format!("[{stamp}]"),
            };
            let caption = fit_caption(m.id, caption, &stamp, &mut out);
            if let Some(group) = m.media_group_id.as_ref().filter(|_| m.kind.albumable()) {
                let mut j = i;
                while j < pending.len()
                    && j - i < 10
                    && pending[j].media_group_id.as_ref() == Some(group)
                    && pending[j].kind.albumable()
                    && pending[j].telegram_file_id.is_some()
                {
                    j += 1;
                }
                if j == pending.len() && pending[j - 1].created_at + ALBUM_GRACE_MS > now {
                    // The rest of the album may still be on its way.
                    return Ok((out, Some(pending[j - 1].created_at + ALBUM_GRACE_MS)));
                }
                if j - i >= 2 {
                    let items = pending[i..j]
                        .iter()
                        .enumerate()
                        .map(|(k, p)| {
                            let cap = if k == 0 {
                                Some(caption.clone())
                            } else {
                                p.body.clone().filter(|b| !b.is_empty()).map(|b| fit_caption(p.id, b, "", &mut out))
                            };
                            (p.kind, SegFile::Telegram(p.telegram_file_id.clone().unwrap_or_default()), cap)
                        })
                        .collect();
                    out.push(Segment::Album { ids: pending[i..j].iter().map(|p| p.id).collect(), items });
                    i = j;
                    continue;
                }
            }
            let file = kept.unwrap_or_else(|| SegFile::Telegram(m.telegram_file_id.clone().unwrap_or_default()));
            out.push(Segment::Media { id: m.id, kind: m.kind, file, caption });
        } else if m.kind == MessageKind::Location {
            let lat = m.extra.as_ref().and_then(|e| e["latitude"].as_f64());
            let lon = m.extra.as_ref().and_then(|e| e["longitude"].as_f64());
            if let (Some(lat), Some(lon)) = (lat, lon) {
                flush(&mut texts, &mut out);
                out.push(Segment::Location { id: m.id, lat, lon });
            } else {
                texts.push((m.id, stamp, line_text(app, m)?, false));
            }
        } else {
            texts.push((m.id, stamp, line_text(app, m)?, false));
        }
        i += 1;
    }
    flush(&mut texts, &mut out);
    Ok((out, None))
}
