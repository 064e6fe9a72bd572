//! Call ingest: a telephony event ([`CallEvent`], from any provider's webhook or from the
//! reconciliation) stored in one transaction, like a customer's message in `ingest`.
//!
//! - One call is one row: a later event of the same call is applied only if the merge rule
//!   (`domain::call::merge`) says it moves the call on; a repeat changes nothing.
//! - A new call is matched to a customer by the keyed hash of the number
//!   (`customer_phones`): the customer's open lead, or a new lead; an unknown number gets a
//!   new customer (`Caller …67`) and a `new` lead whose source is `call`.
//! - An answered call by a staff member is a touch, as a reply is (claim, `new →
//!   contacted`), and closes the open callbacks for that number.
//! - A missed inbound call gets a callback task, due in business minutes.
//! - The call's message in the topic and its recording are jobs (`Job::CallPost`,
//!   `Job::CallRecording`), so a slow download never holds the topic back.

pub mod reconcile;

use crate::context::App;
use crate::domain::call::{merge, wants_recording, CallEvent, Merge, RecordingState};
use crate::domain::lead::{self, Actor};
use crate::domain::{CallId, LeadId, Role, UserId};
use crate::jobs::Job;
use crate::store::{self, CallLink, CallRow, NewJob, StoreError};
use tracing::{info, warn};

/// The job that posts or edits a call's message in its lead's topic. In a queue of its own
/// (one call's edits in order), so it never waits behind the chat waiting for that topic;
/// until the topic exists it waits for the sync that makes it.
pub fn post_job(call: CallId, now: i64) -> NewJob {
    let key = format!("call:{}", call.0);
    Job::CallPost { call }.into_new(key.clone(), Some(key), now)
}

/// The job that downloads a call's recording and posts it; in its own queue, so the topic
/// never waits for it.
pub fn recording_job(call: CallId, now: i64) -> NewJob {
    let key = format!("recording:{}", call.0);
    Job::CallRecording { call }.into_new(key.clone(), Some(key), now)
}

pub use crate::domain::call::Recorded;

/// The batching writers' shard for an event: by caller, so two calls from one number are
/// never matched by two writers at once (PostgreSQL has several).
pub fn shard(ev: &CallEvent) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match &ev.caller {
        Some(c) => c.hash.hash(&mut h),
        None => ev.external_id.hash(&mut h),
    }
    h.finish()
}

/// How many batching writers: SQLite has one writer anyway; PostgreSQL's transactions wait on
/// round trips more than on CPU, so eight (BENCHMARKS.md, "Calls: webhooks rerun").
pub fn writers(engine: store::Engine) -> usize {
    match engine {
        store::Engine::Sqlite => 1,
        store::Engine::Postgres => 8,
    }
}

/// Store one event; answered to the provider only after this returns `Ok`.
pub async fn record(app: &App, ev: &CallEvent) -> Result<Recorded, StoreError> {
    match record_once(app, ev).await {
        // Two events of a new call at once: the other stored it first; apply ours to it.
        Err(StoreError::Conflict(_)) => record_once(app, ev).await,
        other => other,
    }
}

/// Store events that arrived together in one transaction (the webhook writers). If any
/// fails, none is kept from the batch and each is stored on its own, so one bad event
/// never fails its neighbours.
pub async fn record_batch(app: &App, evs: Vec<CallEvent>) -> Vec<Result<Recorded, String>> {
    let together = async {
        let now = app.clock.now_ms();
        let mut tx = app.store.begin_inbound().await?;
        let mut out = Vec::with_capacity(evs.len());
        let mut jobs = Vec::new();
        for ev in &evs {
            out.push(record_in(app, &mut tx, ev, now, &mut jobs).await?);
        }
        store::jobs_enqueue_many(&mut tx, &jobs, now).await?;
        tx.commit().await?;
        Ok::<_, StoreError>(out)
    }
    .await;
    match together {
        Ok(out) => {
            app.wake.notify_one();
            for r in out.iter().filter(|r| r.changed) {
                info!(call = r.call.0, lead = r.lead.map(|l| l.0), "call stored");
            }
            out.into_iter().map(Ok).collect()
        }
        Err(e) => {
            if evs.len() > 1 {
                warn!(error = %e, events = evs.len(), "a batch of call events failed; storing one by one");
            }
            let mut out = Vec::with_capacity(evs.len());
            for ev in &evs {
                out.push(record(app, ev).await.map_err(|e| e.to_string()));
            }
            out
        }
    }
}

async fn record_once(app: &App, ev: &CallEvent) -> Result<Recorded, StoreError> {
    let now = app.clock.now_ms();
    let mut tx = app.store.begin_inbound().await?;
    let mut jobs = Vec::new();
    let r = record_in(app, &mut tx, ev, now, &mut jobs).await?;
    store::jobs_enqueue_many(&mut tx, &jobs, now).await?;
    tx.commit().await?;
    if r.changed {
        app.wake.notify_one();
        info!(
            call = r.call.0,
            provider = ev.provider.as_str(),
            disposition = ev.disposition.as_str(),
            lead = r.lead.map(|l| l.0),
            "call stored"
        );
    }
    Ok(r)
}

/// One event inside the caller's transaction.
/// One event inside the caller's transaction; the jobs it asks for are added to `jobs`, for
/// the caller to enqueue together once per transaction.
async fn record_in(
    app: &App,
    tx: &mut store::Conn,
    ev: &CallEvent,
    now: i64,
    jobs: &mut Vec<store::NewJob>,
) -> Result<Recorded, StoreError> {
    if let Some(raw) = &ev.raw_disposition {
        warn!(provider = ev.provider.as_str(), call = %ev.external_id, disposition = %raw, "unknown call disposition; kept as other");
    }
    let staff = match ev.employee_ext.as_deref() {
        Some(ext) => store::user_by_extension(tx, ext).await?,
        None => None,
    };
    let staff_id = staff.as_ref().map(|(id, _)| *id);
    let existing = store::call_by_key(tx, ev.provider, &ev.external_id, true).await?;
    let existing_was_none = existing.is_none();
    let (id, link, ambiguous) = match existing {
        Some(row) => {
            if merge(&row.stored(), ev) == Merge::Nothing {
                return Ok(Recorded { call: row.id, lead: row.lead, changed: false, callback: false });
            }
            store::update_call(tx, row.id, ev, staff_id, now).await?;
            (row.id, CallLink { lead: row.lead, customer: row.customer, user: row.user.or(staff_id) }, 0)
        }
        None => {
            let (link, ambiguous) = match_caller(tx, ev, staff_id, now, jobs).await?;
            let id = store::insert_call(tx, ev, link, now).await?;
            (id, link, ambiguous)
        }
    };
    let row = store::call_in_tx(tx, id).await?.ok_or(StoreError::NotFound)?;
    let mut callback = false;
    if let Some(lead) = link.lead {
        if ambiguous > 1 {
            info!(
                call = id.0,
                lead = lead.0,
                customers = ambiguous,
                "a number shared by several customers; the newest open lead took the call"
            );
        }
        callback = consequences(app, tx, &row, lead, staff_id, existing_was_none, now, jobs).await?;
        // The card's "last call" line: refreshed when the group can spare a send (like its
        // "last message" line), never before the call itself.
        // A missed inbound call: the customer waits for staff from it (the response timers).
        let waits = row.missed && row.direction == crate::domain::call::CallDirection::Inbound;
        store::bump_preview(tx, lead, waits.then(|| row.started_at.min(now))).await?;
        jobs.push(crate::ingest::topic_sync_job(lead, now));
        jobs.push(post_job(id, now));
        // A finished call says much about how hot a lead is: score it again.
        if let Some(ai) = app.ai.as_ref().filter(|a| a.on(crate::domain::ai::Feature::HotScores)) {
            if !row.disposition.is_live() {
                jobs.push(crate::ai::score_job(lead, ai.score_at(now)));
            }
        }
    }
    Ok(Recorded { call: id, lead: link.lead, changed: true, callback })
}

/// Which customer and lead a new call belongs to; and how many customers the number
/// matched (more than one: the newest open lead took it, and the message says so).
async fn match_caller(
    tx: &mut store::Conn,
    ev: &CallEvent,
    staff: Option<UserId>,
    now: i64,
    jobs: &mut Vec<store::NewJob>,
) -> Result<(CallLink, usize), StoreError> {
    let Some(caller) = &ev.caller else {
        // A hidden number: kept, but it belongs to nobody until staff move it.
        return Ok((CallLink { lead: None, customer: None, user: staff }, 0));
    };
    let matches = store::customers_by_phone(tx, &caller.hash).await?;
    let best = matches
        .iter()
        .filter(|m| m.open_lead.is_some())
        .max_by_key(|m| (m.last_activity, m.open_lead.map(|l| l.0)))
        .or_else(|| matches.iter().max_by_key(|m| m.last_activity));
    let (customer, lead) = match best {
        Some(m) => match m.open_lead {
            Some(l) => (m.customer, l),
            None => (m.customer, new_call_lead(tx, m.customer, now, jobs).await?),
        },
        None => {
            let customer = store::create_caller(tx, &format!("Caller {}", caller.shown()), now).await?;
            store::add_phone(tx, customer, caller, now).await?;
            (customer, new_call_lead(tx, customer, now, jobs).await?)
        }
    };
    Ok((CallLink { lead: Some(lead), customer: Some(customer), user: staff }, matches.len()))
}

/// A lead opened by a call: assigned like any new lead.
async fn new_call_lead(
    tx: &mut store::Conn,
    customer: crate::domain::CustomerId,
    now: i64,
    jobs: &mut Vec<store::NewJob>,
) -> Result<LeadId, StoreError> {
    let lead = store::create_call_lead(tx, customer, now).await?;
    jobs.push(crate::ingest::assign_job(lead, now));
    Ok(lead)
}

/// What a stored call's state asks for: the touch (an answered call by staff counts as a
/// reply), the callbacks it closes or opens, its recording (`fresh`: stored just now).
#[allow(clippy::too_many_arguments)]
async fn consequences(
    app: &App,
    tx: &mut store::Conn,
    row: &CallRow,
    lead: LeadId,
    staff: Option<UserId>,
    fresh: bool,
    now: i64,
    jobs: &mut Vec<store::NewJob>,
) -> Result<bool, StoreError> {
    if row.answered() {
        if let Some(h) = &row.caller_hash {
            for (task, l) in store::close_callbacks(tx, Some(h), None, staff, "answered call", now).await? {
                info!(task = task.0, lead = l.0, call = row.id.0, "callback closed by an answered call");
                bump_call_messages_of(tx, l, now, jobs).await?;
            }
        }
        if let (Some(user), Some(l)) = (staff, store::lead_in_tx(tx, lead).await?) {
            if let Some(u) = store::user_in_tx(tx, user).await? {
                // A call is a touch, exactly as a reply: the claim if unclaimed, new → contacted.
                if let Ok(changes) = lead::staff_replied(Actor { id: u.id, role: u.role }, &l.facts()) {
                    crate::changes::apply(app, tx, lead, u.id, &changes, None, now).await?;
                    let at = row.started_at.min(now);
                    store::record_response(tx, lead, u.id, "call", at, |a, b| app.business_secs(a, b)).await?;
                } else if u.role == Role::Manager {
                    info!(lead = lead.0, user = u.id.0, "another manager's lead took a call; its owner stays");
                }
            }
        }
        if wants_recording(true, row.recording_url.as_deref(), row.recording_state) {
            store::set_recording(tx, row.id, RecordingState::Downloading, None, None, now).await?;
            jobs.push(recording_job(row.id, now));
        }
    }
    let mut opened = false;
    // A call stored just now has no callback yet.
    if row.missed && (fresh || store::callback_of(tx, row.id).await?.is_none()) {
        let owner = store::lead_in_tx(tx, lead).await?.and_then(|l| l.owner);
        let due = callback_due(app, row.started_at.max(now - 24 * 3_600_000).min(now));
        let title = format!("Call back {}", row.caller_tail.as_deref().map(|t| format!("…{t}")).unwrap_or_default());
        let task = store::insert_callback(
            tx,
            &store::NewCallback {
                lead,
                user: owner,
                call: row.id,
                caller: row.caller_hash.as_ref(),
                title: title.trim(),
                due_at: due,
            },
            now,
        )
        .await?;
        info!(task = task.0, lead = lead.0, call = row.id.0, due, "callback task opened for a missed call");
        opened = true;
    }
    Ok(opened)
}

/// When a callback for a call missed at `missed_at` is due: `FORECOURT_CALLBACK_MINUTES` of
/// business hours later.
pub fn callback_due(app: &App, missed_at: i64) -> i64 {
    app.business_after(missed_at, app.config.calls.callback_minutes)
}

/// The calls of a lead whose messages show a callback: edited when it closes.
async fn bump_call_messages_of(
    tx: &mut store::Conn,
    lead: LeadId,
    now: i64,
    jobs: &mut Vec<store::NewJob>,
) -> Result<(), StoreError> {
    for id in store::calls_with_callbacks(tx, lead).await? {
        store::bump_call(tx, id, now).await?;
        jobs.push(post_job(id, now));
    }
    Ok(())
}
