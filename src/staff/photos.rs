//! Vehicle photos from the staff group: a photo posted with the caption `/photo VIN` (an
//! album's other pictures follow its first), or `/photo VIN` written as a reply to a
//! customer's photo in a lead's topic, adds pictures to the car's album; the card's
//! **📷 Send photos** button sends that album to the lead's customer on their channel; and
//! `/vehicle VIN` shows the album with the car's card. The rules are in `domain::photos`.

use crate::channels::telegram::{FileRef, StaffMessage, TgError};
use crate::context::App;
use crate::domain::photos::{self, SendFacts};
use crate::domain::{Actor, Channel, Direction, LeadId, MediaId, MessageKind, RuleError, VehicleId};
use crate::jobs::Outcome;
use crate::notices::staff_reply_job;
use crate::store::{self, LeadRow, NewJob, NewMessage, StoreError, UserRow, VehicleRow};
use anyhow::Context;
use serde_json::json;
use std::sync::Arc;
use tracing::{info, warn};

/// How long after a photo is kept its confirmation waits, so an album is confirmed once.
const ACK_DELAY_MS: i64 = 2_000;

fn say(app: &App, case: &str, ctx: minijinja::Value) -> String {
    let ctx = minijinja::context! { case, ..ctx };
    app.templates.render("staff/photos.txt", ctx).unwrap_or_else(|e| {
        tracing::error!(error = %e, "template failed");
        String::from("…")
    })
}

/// A car's name as staff read it: make, model, and the VIN's tail.
pub fn vehicle_name(v: &VehicleRow) -> String {
    let tail = v.vin.as_deref().map(|x| format!(" …{}", &x[x.len().saturating_sub(6)..])).unwrap_or_default();
    format!("{} {}{tail}", v.make, v.model)
}

/// Whether a staff message is a `/photo` command (as a caption or as text).
pub fn is_photo_command(m: &StaffMessage) -> Option<String> {
    let text = m.content.text.as_deref()?.trim();
    let rest = text.strip_prefix("/photo")?;
    let rest = rest.strip_prefix(|c: char| c == '@').map(|r| r.split_once(' ').map_or("", |(_, a)| a)).unwrap_or(rest);
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None; // `/photos…` or another command
    }
    Some(rest.trim().to_string())
}

/// The car a `/photo` means, or the answer saying why none.
async fn resolve(
    app: &App,
    tx: &mut store::Conn,
    lead: Option<LeadId>,
    args: &str,
    now: i64,
) -> Result<Result<VehicleRow, String>, StoreError> {
    let vin_given = !args.is_empty();
    let found = if vin_given && crate::domain::vehicle::parse_query(args).vin_tail.is_some() {
        app.vehicle_search.search(&app.store, args, now, 1).await?.into_iter().next().map(|v| v.id)
    } else {
        None
    };
    let attached = match lead {
        Some(l) => store::lead_vehicles_in_tx(tx, l).await?.into_iter().map(|v| v.id).collect(),
        None => Vec::new(),
    };
    match photos::target(vin_given, found, &attached) {
        Ok(id) => match store::vehicle_in_tx(tx, id).await? {
            Some(v) => Ok(Ok(v)),
            None => Ok(Err(say(app, "no_such_vehicle", minijinja::context! { query => args }))),
        },
        Err(p) => Ok(Err(say(app, p.code(), minijinja::context! { query => args }))),
    }
}

/// `/photo [VIN]`: as a photo's caption (the photo, and the rest of its album, go to the
/// car) or as a reply to a customer's photo in the topic. Returns the answer to post, if
/// any; a kept staff photo is confirmed by its job instead.
pub async fn command(
    app: &App,
    tx: &mut store::Conn,
    m: &StaffMessage,
    user: &UserRow,
    lead: Option<LeadId>,
    args: &str,
    now: i64,
) -> Result<Option<String>, StoreError> {
    if let Err(e) = photos::may_add(Actor { id: user.id, role: user.role }) {
        return Ok(Some(say(app, "refused", minijinja::context! { reason => e.to_string() })));
    }
    let vehicle = match resolve(app, tx, lead, args, now).await? {
        Ok(v) => v,
        Err(answer) => return Ok(Some(answer)),
    };
    if let Some(file_id) = m.content.file_id.as_deref().filter(|_| m.content.kind.has_file()) {
        if let Some(group) = &m.media_group_id {
            store::set_staff_album(tx, group, vehicle.id, now).await?;
        }
        store::jobs_enqueue(tx, &keep_job(vehicle.id, file_id, m.chat, m.thread, now), now).await?;
        info!(vehicle = vehicle.id.0, user = user.id.0, "staff photo for a vehicle queued");
        return Ok(None);
    }
    // A reply to a customer's photo (or album item) shown in the topic.
    let (Some(lead), Some(shown)) = (lead, m.reply_to) else {
        return Ok(Some(say(app, "usage", minijinja::context! {})));
    };
    let files = store::files_shown_as(tx, lead, shown).await?;
    if files.is_empty() {
        return Ok(Some(say(app, "usage", minijinja::context! {})));
    }
    if files.iter().any(|f| f.fetching) {
        return Ok(Some(say(app, "still_fetching", minijinja::context! {})));
    }
    let mut added = 0;
    for f in &files {
        let (Some(path), Some(sha), Some(mime)) = (&f.path, &f.sha256, &f.mime) else { continue };
        if !photos::is_picture(mime) {
            continue;
        }
        let name = f.name.clone().unwrap_or_else(|| crate::domain::media::default_name(MessageKind::Photo, mime));
        let p = store::NewVehiclePhoto {
            vehicle: vehicle.id,
            file_path: path,
            sha256: sha,
            size: f.size.unwrap_or(0),
            name: &name,
            mime,
            telegram_file_id: None,
        };
        if store::add_vehicle_photo(tx, &p, now).await? {
            added += 1;
        }
    }
    if added > 0 {
        crate::notices::bump_holders(tx, vehicle.id, now).await?;
    }
    let total = store::vehicle_photo_count(tx, vehicle.id).await?;
    info!(vehicle = vehicle.id.0, added, total, "customer photos added to a vehicle");
    Ok(Some(say(app, "added", minijinja::context! { added, total, vehicle => vehicle_name(&vehicle) })))
}

/// An uncaptioned picture of a staff album whose first picture was `/photo VIN`: it goes to
/// the same car. `true` if it was taken here (and must not go to the customer).
pub async fn album_item(tx: &mut store::Conn, m: &StaffMessage, now: i64) -> Result<bool, StoreError> {
    let (Some(group), Some(file_id)) = (&m.media_group_id, &m.content.file_id) else {
        return Ok(false);
    };
    let Some(vehicle) = store::staff_album_vehicle(tx, group).await? else {
        return Ok(false);
    };
    store::jobs_enqueue(tx, &keep_job(vehicle, file_id, m.chat, m.thread, now), now).await?;
    Ok(true)
}

fn keep_job(vehicle: VehicleId, file_id: &str, chat: i64, thread: Option<i32>, now: i64) -> NewJob {
    crate::jobs::Job::VehiclePhoto { vehicle, file_id: file_id.to_string(), chat, thread }.into_new(
        format!("vphoto:{vehicle}"),
        Some(format!("vphoto:{vehicle}:{file_id}")),
        now,
    )
}

/// The job that keeps a staff photo for a car: download it through the staff bot, check it
/// is a picture, keep it, add it to the album, and confirm in the chat (once per album).
pub async fn keep(
    app: &Arc<App>,
    vehicle: VehicleId,
    file_id: &str,
    (chat, thread): (i64, Option<i32>),
) -> anyhow::Result<Outcome> {
    let now = app.clock.now_ms();
    let bytes = match app.staff_bot.api.download(file_id).await {
        Ok(b) => b,
        Err(e) if e.is_transient() => return Ok(Outcome::Retry(e.to_string())),
        Err(e) => {
            let text = say(app, "keep_failed", minijinja::context! { error => e.to_string() });
            store_reply(app, chat, thread, &text, now).await?;
            return Ok(Outcome::Done);
        }
    };
    let mime = crate::domain::media::sniff(&bytes).unwrap_or("application/octet-stream");
    if !photos::is_picture(mime) {
        let text = say(app, "not_a_picture", minijinja::context! {});
        store_reply(app, chat, thread, &text, now).await?;
        return Ok(Outcome::Done);
    }
    let (kept, _) = app.media.keep(bytes).await.context("writing the photo into the media store")?;
    let name = crate::domain::media::default_name(MessageKind::Photo, mime);
    let mut tx = app.store.begin().await?;
    let p = store::NewVehiclePhoto {
        vehicle,
        file_path: &kept.path,
        sha256: &kept.sha256,
        size: kept.size as i64,
        name: &name,
        mime,
        telegram_file_id: Some(file_id),
    };
    let added = store::add_vehicle_photo(&mut tx, &p, now).await?;
    if added {
        crate::notices::bump_holders(&mut tx, vehicle, now).await?;
    }
    let ack = crate::jobs::Job::StaffReply {
        chat,
        thread,
        text: None,
        keyboard: None,
        photos_of: Some(vehicle),
        mention: None,
    }
    .into_new(
        format!("group:{chat}"),
        Some(format!("photos-ack:{chat}:{}:{vehicle}", thread.unwrap_or(0))),
        now + ACK_DELAY_MS,
    );
    store::jobs_enqueue(&mut tx, &ack, now).await?;
    tx.commit().await?;
    app.wake.notify_one();
    info!(vehicle = vehicle.0, sha256 = %kept.sha256, added, "vehicle photo kept");
    Ok(Outcome::Done)
}

async fn store_reply(app: &App, chat: i64, thread: Option<i32>, text: &str, now: i64) -> anyhow::Result<()> {
    let mut tx = app.store.begin().await?;
    store::jobs_enqueue(&mut tx, &staff_reply_job(chat, thread, text, None, now), now).await?;
    tx.commit().await?;
    app.wake.notify_one();
    Ok(())
}

/// The confirmation after staff photos were kept: the car and how many photos it has now
/// (rendered when sent, so an album is counted whole).
pub async fn ack_text(app: &App, vehicle: VehicleId) -> anyhow::Result<String> {
    let mut conn = app.store.pool().acquire().await?;
    let v = store::vehicle_in_tx(&mut conn, vehicle).await?.context("the vehicle is gone")?;
    let total = store::vehicle_photo_count(&mut conn, vehicle).await?;
    Ok(say(app, "kept", minijinja::context! { total, vehicle => vehicle_name(&v) }))
}

/// What a Send photos press did: the answer for the button, and whether it is a refusal.
pub struct Pressed {
    pub answer: String,
    pub refused: bool,
}

/// **📷 Send photos**: the car's album goes to the lead's customer on the lead's channel, as
/// outgoing messages (one per photo) with their delivery jobs — one album on Telegram, a
/// picture at a time on Viber and WhatsApp. Sending is a reply: the same people may, and the
/// first one claims an unclaimed lead.
pub async fn send(
    app: &App,
    tx: &mut store::Conn,
    user: &UserRow,
    lead: &LeadRow,
    vehicle: VehicleId,
    now: i64,
) -> Result<Pressed, StoreError> {
    let refused = |e: RuleError| Pressed {
        answer: app
            .templates
            .render("staff/refused.txt", minijinja::context! { reason => e.to_string() })
            .unwrap_or_else(|_| e.to_string()),
        refused: true,
    };
    let Some(v) = store::vehicle_in_tx(tx, vehicle).await? else {
        return Ok(refused(RuleError::NotAttached));
    };
    let attached = store::lead_vehicles_in_tx(tx, lead.id).await?.iter().any(|x| x.id == vehicle);
    let album = store::vehicle_photos_in_tx(tx, vehicle).await?;
    // A customer who has only called has no chat to send photos to: unreachable.
    let channel = lead.last_channel;
    let (unreachable, last_inbound) = match channel {
        Some(c) => store::reach(tx, lead.customer_id, c).await?.unwrap_or((true, None)),
        None => (true, None),
    };
    let window_closed =
        channel == Some(Channel::Whatsapp) && !crate::domain::delivery::whatsapp_window_open(last_inbound, now);
    let ids: Vec<MediaId> = album.iter().map(|p| p.id).collect();
    let facts = SendFacts {
        attached,
        photos: album.len(),
        unreachable,
        window_closed,
        already_sending: store::sending_any(tx, lead.id, &ids).await?,
    };
    let actor = Actor { id: user.id, role: user.role };
    let (changes, n) = match photos::may_send(actor, &lead.facts(), facts) {
        Ok(x) => x,
        Err(e) => return Ok(refused(e)),
    };
    let Some(channel) = channel else { return Ok(refused(RuleError::CustomerUnreachable)) };
    if !changes.is_empty() {
        crate::changes::apply(app, tx, lead.id, user.id, &changes, None, now).await?;
    }
    let caption = app
        .templates
        .render(
            "customer/vehicle_photos.txt",
            minijinja::context! { make => &v.make, model => &v.model, year => v.year },
        )
        .map_err(|e| StoreError::Corrupt(format!("{e:#}")))?;
    let mut messages = Vec::new();
    for (i, p) in album.iter().take(n).enumerate() {
        let out = NewMessage {
            lead: lead.id,
            customer: lead.customer_id,
            user: Some(user.id),
            channel: channel.into(),
            direction: Direction::Outgoing,
            kind: MessageKind::Photo,
            body: (i == 0 && !caption.trim().is_empty()).then(|| caption.trim().to_string()),
            telegram_file_id: None,
            media_group_id: None,
            extra: Some(json!({ "vehicle": vehicle })),
            external_id: None,
            sent_at: now,
            delivery: Some(crate::domain::message::DeliveryState::Pending),
            staff_state: crate::domain::message::StaffState::NotShown,
        };
        let Some(id) = store::insert_message(tx, &out, now).await? else { continue };
        store::set_message_media(tx, id, p.id).await?;
        messages.push(id);
    }
    store::staff_wrote(tx, lead.id, now).await?;
    let mut rest = messages.as_slice();
    for size in photos::sends(channel, messages.len()) {
        let (batch, tail) = rest.split_at(size);
        rest = tail;
        let job = match batch {
            [one] => crate::jobs::Job::Deliver { message: Some(*one), album: None },
            many => crate::jobs::Job::Deliver { message: None, album: Some(many.to_vec()) },
        }
        .into_new(format!("deliver:{}:{}", channel.as_str(), lead.customer_id), None, now);
        store::jobs_enqueue(tx, &job, now).await?;
    }
    let name = vehicle_name(&v);
    let notice = say(app, "sending", minijinja::context! { n, vehicle => &name, who => user.first_name() });
    crate::notices::notice_in_tx(tx, lead.id, lead.customer_id, &notice, None, now).await?;
    info!(lead = lead.id.0, vehicle = vehicle.0, photos = n, %channel, "vehicle photos queued for the customer");
    Ok(Pressed { answer: say(app, "sending_answer", minijinja::context! { n }), refused: false })
}

/// The job that posts kept photos into a staff chat (the album above a `/vehicle` card).
pub fn post_job(chat: i64, thread: Option<i32>, media: &[MediaId], now: i64) -> NewJob {
    crate::jobs::Job::StaffPhotos { chat, thread, media: media.to_vec() }.into_new(format!("group:{chat}"), None, now)
}

/// Body of [`post_job`]: upload the kept files through the staff bot, as one album.
pub async fn post(app: &Arc<App>, chat: i64, thread: Option<i32>, ids: &[MediaId]) -> anyhow::Result<Outcome> {
    let mut items = Vec::new();
    for id in ids {
        let Some(m) = app.store.media(*id).await? else { continue };
        let (Some(path), true) = (m.file_path.as_deref(), m.ready) else { continue };
        let bytes = app.media.read_async(path).await.with_context(|| format!("reading the kept file {path}"))?;
        items.push((MessageKind::Photo, FileRef::Bytes(bytes, m.name.unwrap_or_else(|| "photo.jpg".into())), None));
    }
    if items.is_empty() {
        return Ok(Outcome::Done);
    }
    let bot = &app.staff_bot;
    if let Err(until) = app.limiter.acquire(bot.slot, chat, app.clock.now_ms()) {
        return Ok(Outcome::WaitUntil(until));
    }
    let sent = match items.as_slice() {
        [(kind, file, _)] => bot.api.send_media(chat, thread, *kind, file, None).await.map(|_| ()),
        many => bot.api.send_album(chat, thread, many).await.map(|_| ()),
    };
    match sent {
        Ok(()) => Ok(Outcome::Done),
        Err(TgError::ThreadNotFound | TgError::TopicClosed) => {
            warn!(chat, ?thread, "vehicle photos dropped: their topic is gone");
            Ok(Outcome::Done)
        }
        Err(TgError::BadRequest(e)) => Ok(Outcome::Park(e)),
        Err(e) => Ok(super::topic::failure(app, chat, e)),
    }
}
