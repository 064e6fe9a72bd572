//! How a lead's waiting messages become sends into its topic: plain lines merged into as
//! few texts as Telegram's limits allow (`domain::merge`), files and albums on their own
//! with their captions, a file not downloaded yet as a "downloading…" line, a notice with
//! a button on its own. Renders from templates and reads nothing: the sync
//! (`staff::topic`) and the batched hot path (`staff::batch`) send what this returns.

use crate::channels::telegram::Keyboard;
use crate::context::App;
use crate::domain::merge::{merge, Entry};
use crate::domain::{Direction, LeadId, MessageKind, MessageRowId};
use crate::ingest::ALBUM_GRACE_MS;
use crate::store::StaffPending;

/// Where a file for the topic comes from.
#[derive(Debug, Clone)]
pub enum SegFile {
    /// A customer's Telegram file id (the customer bot's).
    Telegram(String),
    /// A file in the media store: (path relative to it, file name).
    Kept(String, String),
}

/// A unit of sending into the topic.
#[derive(Debug)]
pub enum Segment {
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
/// `posted`: parts of it already in the topic (left out).
fn fit_caption(id: MessageRowId, caption: String, stamp: &str, posted: usize, out: &mut Vec<Segment>) -> String {
    use crate::domain::text::{split_utf16, utf16_len, TELEGRAM_CAPTION, TELEGRAM_TEXT};
    if utf16_len(&caption) <= TELEGRAM_CAPTION {
        return caption;
    }
    for piece in split_utf16(&caption, TELEGRAM_TEXT).into_iter().skip(posted) {
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
pub fn segments(
    app: &App,
    lead: LeadId,
    pending: &[StaffPending],
    now: i64,
) -> anyhow::Result<(Vec<Segment>, Option<i64>)> {
    let mut out = Vec::new();
    // (message, stamp, line, whether the line only says its file is downloading, parts posted)
    let mut texts: Vec<(MessageRowId, String, String, bool, usize)> = Vec::new();
    let flush = |texts: &mut Vec<(MessageRowId, String, String, bool, usize)>, out: &mut Vec<Segment>| {
        if texts.is_empty() {
            return;
        }
        let entries: Vec<Entry> =
            texts.iter().map(|(_, stamp, text, _, posted)| Entry { stamp, text, posted: *posted }).collect();
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
                        texts.push((m.id, stamp, line, true, m.parts));
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
                        texts.push((m.id, stamp, text, false, m.parts));
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
            let caption = fit_caption(m.id, caption, &stamp, m.parts, &mut out);
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
                                p.body
                                    .clone()
                                    .filter(|b| !b.is_empty())
                                    .map(|b| fit_caption(p.id, b, "", p.parts, &mut out))
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
                texts.push((m.id, stamp, line_text(app, m)?, false, m.parts));
            }
        } else {
            texts.push((m.id, stamp, line_text(app, m)?, false, m.parts));
        }
        i += 1;
    }
    flush(&mut texts, &mut out);
    Ok((out, None))
}
