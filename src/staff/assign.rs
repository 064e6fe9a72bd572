//! Assignment (`FORECOURT_ASSIGNMENT`): a new lead's owner chosen by `domain::assign`
//! among the managers on shift, under their cap and with the skills it needs; the owner
//! told by a mention in the topic and a private message with a button to it. The silence
//! timer: an assigned lead nobody answered within `FORECOURT_FIRST_RESPONSE_MINUTES` of
//! business time moves once to the next eligible manager, and the supervisors are told;
//! in `queue` mode (or with nobody to move it to) they are only told.
//!
//! Jobs: `Assign { lead }` for each new lead (the choice, then the notices once the topic
//! is in the owner's group), and the recurring `AssignTimers` (leads that found nobody
//! eligible are tried again — the first manager to come on shift gets them — and the
//! silence timer).

use crate::channels::telegram::url_button;
use crate::context::App;
use crate::domain::assign::{self, Candidate, Mode, Needs};
use crate::domain::flow::hours::Hours;
use crate::domain::{routing, LeadId, UserId};
use crate::jobs::job::Mention;
use crate::jobs::{Job, Outcome};
use crate::store::{self, LeadRow, ManagerRow, StoreError};
use chrono::{Datelike, Timelike};
use std::sync::Arc;
use tracing::{info, warn};

/// How often waiting leads and the silence timer are looked at.
pub const EVERY_MS: i64 = 15_000;
const PAGE: i64 = 50;
/// The owner is told once their topic is in place; after this long, not at all.
const NOTICE_WITHIN_MS: i64 = 10 * 60_000;

pub use crate::ingest::assign_job as job;

pub fn timers_job(now: i64) -> store::NewJob {
    Job::AssignTimers.into_new("assign_timers".into(), Some("assign_timers".into()), now)
}

fn say(app: &App, what: &str, ctx: minijinja::Value) -> String {
    crate::staff::words::render(app, "staff/assign.txt", minijinja::context! { what, ..ctx }).trim().to_string()
}

/// The managers as candidates now: leave, `/shift` said today, personal hours, business hours.
pub fn candidates(app: &App, managers: &[ManagerRow], now: i64) -> Vec<Candidate> {
    let local = app.local(now);
    let (weekday, minute) =
        (local.weekday().num_days_from_monday() as usize, (local.hour() * 60 + local.minute()) as u16);
    let today = local.date().to_string();
    let business = app.config.flows.business_hours.is_open(weekday, minute);
    managers
        .iter()
        .filter(|m| !assign::on_leave(m.leave_until, now))
        .map(|m| {
            let shift = m.shift.as_ref().map(|(on, day)| (*on, day.as_str()));
            let personal = m.hours.as_deref().and_then(|h| Hours::parse(h).ok()).map(|h| h.is_open(weekday, minute));
            Candidate {
                user: m.id,
                on_shift: assign::on_shift(shift, &today, personal, business),
                open: m.open,
                max_open: m.max_open,
                skills: m.skills.clone(),
                last_assigned_at: m.last_assigned_at,
            }
        })
        .collect()
}

/// Who should have the lead (`except`: not them), among the managers now.
async fn choose(
    app: &App,
    tx: &mut store::Conn,
    lead: &LeadRow,
    except: Option<UserId>,
    now: i64,
) -> Result<Option<ManagerRow>, StoreError> {
    let mode = app.config.assignment.mode;
    if mode == Mode::Queue {
        return Ok(None);
    }
    let managers = store::managers(tx).await?;
    let cands = candidates(app, &managers, now);
    let needs = Needs::new(lead.last_channel, lead.intent.as_deref(), lead.language.as_deref());
    let since = now - i64::from(app.config.assignment.sticky_days) * 86_400_000;
    let previous = store::previous_owner(tx, lead.customer_id, lead.id, since).await?;
    let last_turn = store::last_turn(tx).await?;
    let chosen = assign::choose(mode, &cands, &needs, previous, last_turn, except);
    Ok(chosen.and_then(|u| managers.into_iter().find(|m| m.id == u)))
}

/// Give the lead to `to`: the owner, the silence timer restarted for them, the card and
/// topic brought up to date (the topic moves to their group), and their notices queued.
async fn give(
    app: &App,
    tx: &mut store::Conn,
    lead: &LeadRow,
    to: &ManagerRow,
    why: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let due = app.business_after(now, app.config.assignment.first_response_minutes);
    if !store::assign_owner(tx, lead.id, lead.owner, to.id, Some(due), why, now).await? {
        return Ok(false);
    }
    store::bump_card(tx, lead.id, None, now).await?;
    store::jobs_enqueue(tx, &crate::ingest::topic_sync_job(lead.id, now), now).await?;
    store::jobs_enqueue(tx, &job(lead.id, now), now).await?;
    info!(lead = lead.id.0, user = to.id.0, mode = app.config.assignment.mode.as_str(), "lead assigned");
    Ok(true)
}

/// Choose the lead's owner and give it to them, inside the caller's transaction (the
/// `Assign` job's first part; `bench assignment` times it).
pub async fn place(app: &App, tx: &mut store::Conn, lead: &LeadRow, now: i64) -> Result<Option<UserId>, StoreError> {
    match choose(app, tx, lead, None, now).await? {
        Some(to) if give(app, tx, lead, &to, "assignment", now).await? => Ok(Some(to.id)),
        _ => Ok(None),
    }
}

/// The `Assign` job: place the lead (or start its silence timer when it stays in the
/// queue), then tell its owner once the topic is in their group.
pub async fn run(app: &Arc<App>, id: LeadId) -> anyhow::Result<Outcome> {
    let now = app.clock.now_ms();
    let Some(lead) = app.store.lead(id).await? else { return Ok(Outcome::Done) };
    if !lead.stage.is_open() {
        return Ok(Outcome::Done);
    }
    if lead.owner.is_none() {
        let mut tx = app.store.begin().await?;
        match choose(app, &mut tx, &lead, None, now).await? {
            Some(to) => {
                give(app, &mut tx, &lead, &to, "assignment", now).await?;
            }
            None if lead.first_response_at.is_none() => {
                // In the queue: the same timer, which only alerts.
                let from = lead.created_at.max(now - 60_000);
                store::set_silence_due(
                    &mut tx,
                    id,
                    app.business_after(from, app.config.assignment.first_response_minutes),
                )
                .await?;
            }
            None => {}
        }
        tx.commit().await?;
        app.wake.notify_one();
        return Ok(Outcome::Done);
    }
    let (Some(owner), Some(assigned_at)) = (lead.owner, lead.assigned_at) else { return Ok(Outcome::Done) };
    if lead.assign_noticed_at.is_some() {
        return Ok(Outcome::Done);
    }
    let Some(user) = app.store.user_by_id(owner).await? else { return Ok(Outcome::Done) };
    let group = routing::owner_group(&app.config.telegram.staff_chat_ids, owner, user.staff_chat_id);
    let (Some(chat), Some(thread)) = (lead.staff_chat_id.filter(|c| *c == group), lead.topic_thread_id) else {
        if now - assigned_at > NOTICE_WITHIN_MS {
            warn!(lead = id.0, "the assigned lead's topic never reached its owner's group; the owner was not told");
            let mut tx = app.store.begin().await?;
            store::mark_assign_noticed(&mut tx, id, now).await?;
            tx.commit().await?;
            return Ok(Outcome::Done);
        }
        return Ok(Outcome::WaitUntil(now + 1_000));
    };
    let first: Option<String> =
        app.store.first_customer_text(id).await?.map(|t| crate::domain::text::cap_chars(&t, 200));
    let ctx = minijinja::context! {
        who => &user.name, lead => id.0, customer => &lead.customer_name,
        channel => crate::domain::Channel::label_of(lead.last_channel), first,
        mode => app.config.assignment.mode.as_str(),
    };
    let mut tx = app.store.begin().await?;
    let in_topic = Job::StaffReply {
        chat,
        thread: Some(thread),
        text: Some(say(app, "topic", ctx.clone())),
        keyboard: None,
        photos_of: None,
        mention: Some(Mention { user: user.telegram_id.0, name: user.name.clone() }),
    }
    .into_new(format!("group:{chat}"), Some(format!("assigned:{}:{}", id.0, assigned_at)), now);
    store::jobs_enqueue(&mut tx, &in_topic, now).await?;
    let link = routing::topic_link(chat, thread);
    let private = Job::StaffReply {
        chat: user.telegram_id.0,
        thread: None,
        text: Some(say(app, "private", ctx)),
        keyboard: link
            .map(|l| vec![vec![(app.templates.label("button", "open_topic", "Open the topic"), url_button(&l))]]),
        photos_of: None,
        mention: None,
    }
    .into_new(
        format!("private:{}", user.telegram_id.0),
        Some(format!("assigned_private:{}:{}", id.0, assigned_at)),
        now,
    );
    store::jobs_enqueue(&mut tx, &private, now).await?;
    store::mark_assign_noticed(&mut tx, id, now).await?;
    tx.commit().await?;
    app.wake.notify_one();
    Ok(Outcome::Done)
}

/// The recurring `AssignTimers` job.
pub async fn timers(app: &Arc<App>) -> anyhow::Result<Outcome> {
    let now = app.clock.now_ms();
    let released = release_absent(app, now).await?;
    let mut placed = 0;
    if app.config.assignment.mode != Mode::Queue {
        let waiting = {
            let mut c = app.store.begin().await?;
            store::unplaced_leads(&mut c, PAGE).await?
        };
        for id in waiting {
            let mut tx = app.store.begin().await?;
            let Some(lead) = store::lead_in_tx(&mut tx, id).await? else { continue };
            if let Some(to) = choose(app, &mut tx, &lead, None, now).await? {
                if give(app, &mut tx, &lead, &to, "assignment", now).await? {
                    placed += 1;
                }
            }
            tx.commit().await?;
        }
    }
    let mut tx = app.store.begin().await?;
    let silent = store::silent_leads(&mut tx, now, PAGE).await?;
    let supervisors = if silent.is_empty() { Vec::new() } else { store::supervisors(&mut tx).await? };
    for id in &silent {
        silence(app, &mut tx, *id, &supervisors, now).await?;
    }
    tx.commit().await?;
    let alerted = reply_alerts(app, now).await?;
    let followed = stale_follow_ups(app, now).await?;
    if released + placed + silent.len() + alerted + followed > 0 {
        info!(released, placed, silent = silent.len(), alerted, followed, "assignment timers");
        app.wake.notify_one();
    }
    Ok(Outcome::WaitUntil(now + EVERY_MS))
}

/// A disabled manager's or one on leave: their open leads go back to assignment (in
/// `queue` mode, back to the queue).
async fn release_absent(app: &App, now: i64) -> Result<usize, StoreError> {
    let mut tx = app.store.begin().await?;
    let absent = store::leads_of_absent(&mut tx, now, PAGE).await?;
    let mut n = 0;
    for (lead, owner) in &absent {
        let why = match store::user_in_tx(&mut tx, *owner).await? {
            Some(u) if !u.active => "owner disabled",
            _ => "owner on leave",
        };
        if store::release_lead(&mut tx, *lead, *owner, why, now).await? {
            store::bump_card(&mut tx, *lead, None, now).await?;
            store::jobs_enqueue(&mut tx, &crate::ingest::topic_sync_job(*lead, now), now).await?;
            info!(lead = lead.0, owner = owner.0, why, "lead offered back to assignment");
            n += 1;
        }
    }
    tx.commit().await?;
    Ok(n)
}

/// A later customer message waiting `reply_alert_minutes` of business time: its owner is
/// reminded in the topic with a mention; as long again, the supervisors are told.
async fn reply_alerts(app: &App, now: i64) -> Result<usize, StoreError> {
    let minutes = app.config.assignment.reply_alert_minutes;
    let mut n = 0;
    let mut tx = app.store.begin().await?;
    for escalate in [false, true] {
        // Business time is never more than wall time: only those waiting this long may be due.
        let wait = i64::from(minutes) * 60 * if escalate { 2 } else { 1 };
        let supervisors = if escalate { store::supervisors(&mut tx).await? } else { Vec::new() };
        for w in store::waiting_leads(&mut tx, now - wait * 1000, escalate, PAGE).await? {
            // Oldest first: once one is not due, neither is any after it.
            if assign::reply_alert(app.business_secs(w.since, now), minutes, escalate).is_none() {
                break;
            }
            let Some(lead) = store::lead_in_tx(&mut tx, w.lead).await? else { continue };
            let ctx = minijinja::context! {
                lead => lead.id.0, customer => &lead.customer_name, who => &lead.owner_name,
                minutes => wait / 60,
            };
            if escalate {
                let text = say(app, "reply_supervisor", ctx);
                for (telegram_id, _) in &supervisors {
                    let job = Job::StaffReply {
                        chat: *telegram_id,
                        thread: None,
                        text: Some(text.clone()),
                        keyboard: None,
                        photos_of: None,
                        mention: None,
                    }
                    .into_new(
                        format!("private:{telegram_id}"),
                        Some(format!("reply_late:{}:{}:{telegram_id}", lead.id.0, w.since)),
                        now,
                    );
                    store::jobs_enqueue(&mut tx, &job, now).await?;
                }
            } else if let (Some(chat), Some(thread)) = (lead.staff_chat_id, lead.topic_thread_id) {
                let mention = match lead.owner {
                    Some(o) => {
                        store::user_in_tx(&mut tx, o).await?.map(|u| Mention { user: u.telegram_id.0, name: u.name })
                    }
                    None => None,
                };
                let job = Job::StaffReply {
                    chat,
                    thread: Some(thread),
                    text: Some(say(app, "reply_owner", ctx)),
                    keyboard: None,
                    photos_of: None,
                    mention,
                }
                .into_new(
                    format!("group:{chat}"),
                    Some(format!("reply_wait:{}:{}", lead.id.0, w.since)),
                    now,
                );
                store::jobs_enqueue(&mut tx, &job, now).await?;
            }
            store::mark_reply_alerted(&mut tx, w.lead, escalate, now).await?;
            n += 1;
        }
    }
    tx.commit().await?;
    Ok(n)
}

/// How often the stale-lead pass runs.
const STALE_EVERY_MS: i64 = 5 * 60_000;
const STALE_CHECKED: &str = "assignment.stale_checked_at";

/// Leads sitting in a stage longer than `pipeline.stale_days` get a follow-up task for
/// their owner, once per stay in that stage.
async fn stale_follow_ups(app: &App, now: i64) -> Result<usize, StoreError> {
    if app.config.assignment.stale_days.is_empty() {
        return Ok(0);
    }
    let last = app.store.kv_get(STALE_CHECKED).await?.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    if now - last < STALE_EVERY_MS {
        return Ok(0);
    }
    let mut n = 0;
    let mut tx = app.store.begin().await?;
    for (stage, days) in &app.config.assignment.stale_days {
        let before = now - i64::from(*days) * 86_400_000;
        for (lead, owner, since) in store::stale_leads(&mut tx, *stage, before, PAGE).await? {
            let label = app.templates.label("stage", stage.as_str(), stage.label());
            let title = say(app, "stale_task", minijinja::context! { stage => label, days });
            let t = store::NewTask {
                lead,
                kind: crate::domain::task::TaskKind::FollowUp,
                user: Some(owner),
                title: &title,
                due_at: now,
                created_by: None,
            };
            let id = store::insert_task(&mut tx, &t, now).await?;
            store::mark_followed_up(&mut tx, lead, since).await?;
            store::bump_card(&mut tx, lead, None, now).await?;
            store::jobs_enqueue(&mut tx, &crate::staff::tasks::post_job(id, now), now).await?;
            store::jobs_enqueue(&mut tx, &crate::ingest::topic_sync_job(lead, now), now).await?;
            n += 1;
        }
    }
    tx.commit().await?;
    app.store.kv_set(STALE_CHECKED, &now.to_string()).await?;
    Ok(n)
}

/// The silence timer fired for a lead nobody answered: move it once, or alert.
async fn silence(
    app: &App,
    tx: &mut store::Conn,
    id: LeadId,
    supervisors: &[(i64, String)],
    now: i64,
) -> Result<(), StoreError> {
    let Some(lead) = store::lead_in_tx(tx, id).await? else { return Ok(()) };
    let minutes = app.config.assignment.first_response_minutes;
    let from = lead.owner_name.clone();
    let step = assign::on_silence(app.config.assignment.mode, lead.owner.is_some(), lead.silence_moved);
    let movable = step == assign::Silence::Move;
    let to = if movable { choose(app, tx, &lead, lead.owner, now).await? } else { None };
    let moved = match &to {
        Some(to) => {
            let why = say(app, "moved_reason", minijinja::context! { from => &from, minutes });
            give(app, tx, &lead, to, &format!("{}{why}", store::SILENCE_REASON), now).await?
        }
        None => false,
    };
    let what = match (step, moved) {
        (_, true) => "moved",
        (assign::Silence::Move, false) => "nobody",
        (assign::Silence::OwnerSilent, _) => "silent",
        (assign::Silence::Unanswered, _) => "unanswered",
    };
    let ctx = minijinja::context! {
        lead => id.0, customer => &lead.customer_name, minutes, from, to => to.as_ref().map(|t| t.name.clone()),
    };
    let alert = say(app, what, ctx.clone());
    for (telegram_id, _) in supervisors {
        let job = Job::StaffReply {
            chat: *telegram_id,
            thread: None,
            text: Some(alert.clone()),
            keyboard: None,
            photos_of: None,
            mention: None,
        }
        .into_new(format!("private:{telegram_id}"), Some(format!("silence:{}:{telegram_id}:{now}", id.0)), now);
        store::jobs_enqueue(tx, &job, now).await?;
    }
    if moved {
        // Said in the topic wherever it is by then (the move takes it to the new owner's group).
        let note = say(app, "moved_topic", ctx);
        let m = crate::notices::system_message(id, lead.customer_id, &note, now);
        store::insert_message(tx, &m, now).await?;
    }
    store::silence_done(tx, id, moved).await?;
    info!(lead = id.0, what, "silence timer");
    Ok(())
}
