//! AI's jobs on the staff side (issue 15). They run in the AI lane, read what the store
//! holds, ask through `crate::ai`, and keep only advice: a hot score and its reasons on the
//! card. None of them changes a lead's stage, owner or anything else a person decides.
//!
//! Outcomes: an answer (or a kept one) is done; a refused or malformed answer is done too
//! (logged as a failed attempt; the next message scores again); a spent budget waits for
//! midnight; a server that is down is asked again later, never holding any other job.

use crate::ai::{Ask, Failure};
use crate::context::App;
use crate::domain::ai::{hot_score_schema, intent_schema, read_hot_score, read_intent, sweep_take, Feature};
use crate::domain::{Channel, LeadId};
use crate::jobs::Outcome;
use crate::store;
use serde::Serialize;
use std::sync::Arc;
use tracing::debug;

/// Messages of the conversation the model reads (the newest).
const CONVERSATION: i64 = 40;

/// A message's text as the model reads it, at most this many characters.
const MESSAGE_CHARS: usize = 600;

/// A card shows AI's advice at most this long after it came (clock time).
pub const CARD_AFTER_MS: i64 = 30_000;

/// When a server that is down is asked again (clock time).
pub const RETRY_DOWN_MS: i64 = 10 * 60_000;

#[derive(Serialize)]
struct LeadView {
    id: i64,
    channel: &'static str,
    stage: &'static str,
    created: String,
    intent: Option<String>,
    vehicle_interest: Option<String>,
    budget: Option<String>,
    notes: Option<String>,
}

#[derive(Serialize)]
struct Said {
    who: &'static str,
    at: String,
    text: String,
}

/// What the model reads about a lead (`templates/ai/lead_input.txt`): the lead, the
/// conversation so far (the bot's answers too), the attached cars as the store has them
/// (price, year, mileage, status: never invented), call transcripts, and how fast we
/// answered. Masked when it is sent.
pub(crate) async fn conversation_input(app: &App, lead: &store::LeadRow) -> anyhow::Result<String> {
    let messages = app.store.conversation(lead.id, CONVERSATION).await?;
    input_with(app, lead, &messages).await
}

/// [`conversation_input`] with the conversation already read.
async fn input_with(app: &App, lead: &store::LeadRow, messages: &[store::SaidLine]) -> anyhow::Result<String> {
    let vehicles = app.store.lead_vehicles(lead.id).await?;
    let replies = app.store.reply_secs(lead.id).await?;
    let view = LeadView {
        id: lead.id.0,
        channel: Channel::label_of(lead.last_channel),
        stage: lead.stage.label(),
        created: app.local_time(lead.created_at, true),
        intent: lead.intent.clone(),
        vehicle_interest: lead.vehicle_interest.clone(),
        budget: lead.budget.clone(),
        notes: lead.notes.clone(),
    };
    let said: Vec<Said> = messages
        .iter()
        .map(|m| Said {
            who: m.who,
            at: app.local_time(m.at, true),
            text: match m.text.as_deref().filter(|t| !t.trim().is_empty()) {
                Some(t) => crate::domain::text::cap_chars(t, MESSAGE_CHARS),
                None => format!("[{}]", m.kind),
            },
        })
        .collect();
    let cars: Vec<String> = vehicles
        .iter()
        .map(|a| {
            let v = &a.vehicle;
            let mut parts = vec![format!("{} {}", v.make, v.model)];
            parts.extend(v.year.map(|y| y.to_string()));
            parts.extend(v.mileage_km.map(|k| format!("{k} km")));
            parts.extend(v.price_minor.map(|p| crate::domain::vehicle::format_price(p, v.currency.as_deref())));
            parts.push(v.status.as_str().to_string());
            parts.join(" · ")
        })
        .collect();
    let first = replies.first().map(|s| crate::domain::text::duration_short(*s));
    let calls: Vec<Said> = app
        .store
        .lead_transcripts(lead.id)
        .await?
        .into_iter()
        .map(|(_, at, text)| Said {
            who: "call",
            at: app.local_time(at, true),
            text: crate::domain::text::cap_chars(&text, 4 * MESSAGE_CHARS),
        })
        .collect();
    let ai = app.ai.as_ref().expect("only AI jobs read this");
    Ok(ai.prompts.render(
        "lead_input.txt",
        &serde_json::json!({ "lead": view, "messages": said, "vehicles": cars, "replies": first, "calls": calls }),
    ))
}

/// `Job::AiScore`: rate the lead 0–100 with three reasons and show it on the card.
pub async fn score(app: &Arc<App>, lead: LeadId) -> anyhow::Result<Outcome> {
    let Some(ai) = app.ai.as_ref().filter(|a| a.on(Feature::HotScores)) else { return Ok(Outcome::Done) };
    let Some(row) = app.store.lead(lead).await? else { return Ok(Outcome::Done) };
    if !row.stage.is_open() {
        return Ok(Outcome::Done);
    }
    let now = app.clock.now_ms();
    let ask = Ask {
        feature: Feature::HotScores,
        lead: Some(lead),
        call: None,
        system: ai
            .prompts
            .render("hot_score_system.txt", &serde_json::json!({ "language": ai.config().staff_language })),
        input: conversation_input(app, &row).await?,
        schema_name: "hot_score",
        schema: hot_score_schema(),
    };
    let answered = match ai.ask(&app.store, now, &ask, read_hot_score).await {
        Ok(a) => a,
        Err(f) => return Ok(after_failure(f, now)),
    };
    let unchanged = app.store.hot_score(lead).await?.as_ref() == Some(&answered.value);
    let mut tx = app.store.begin().await?;
    store::keep_ai(&mut tx, &answered.keep).await?;
    if unchanged {
        tx.commit().await?;
        debug!(lead = lead.0, "the hot score is unchanged");
        return Ok(Outcome::Done);
    }
    store::set_hot_score(&mut tx, lead, &answered.value, &answered.fingerprint, now).await?;
    // The card shows the new score the way it shows the last message: at its next refresh,
    // once the customer pauses and the group can spare a send (`domain::topic_plan`), and at
    // the latest at the sync half a minute from now. A score changes with every message; a
    // card edit for each would crowd the bridge's own sends.
    store::bump_preview(&mut tx, lead, None).await?;
    store::jobs_enqueue(&mut tx, &crate::ingest::topic_sync_job(lead, now + CARD_AFTER_MS), now).await?;
    tx.commit().await?;
    app.wake.notify_one();
    Ok(Outcome::Done)
}

/// `Job::AiIntent`: for a lead without an intent (the customer ignored the bot's buttons),
/// the model's guess from their free text, shown on the card with ✅ Set intent.
pub async fn intent(app: &Arc<App>, lead: LeadId) -> anyhow::Result<Outcome> {
    let Some(ai) = app.ai.as_ref().filter(|a| a.on(Feature::Intent)) else { return Ok(Outcome::Done) };
    let Some(row) = app.store.lead(lead).await?.filter(|l| l.intent.is_none() && l.stage.is_open()) else {
        return Ok(Outcome::Done);
    };
    let said = app.store.conversation(lead, CONVERSATION).await?;
    if !said.iter().any(|m| m.who == "customer" && m.text.as_deref().is_some_and(|t| !t.trim().is_empty())) {
        return Ok(Outcome::Done);
    }
    let now = app.clock.now_ms();
    let ask = Ask {
        feature: Feature::Intent,
        lead: Some(lead),
        call: None,
        system: ai.prompts.render("intent_system.txt", &serde_json::json!({})),
        input: input_with(app, &row, &said).await?,
        schema_name: "lead_intent",
        schema: intent_schema(),
    };
    let answered = match ai.ask(&app.store, now, &ask, read_intent).await {
        Ok(a) => a,
        Err(f) => return Ok(after_failure(f, now)),
    };
    // The same guess again (the customer wrote more of the same): kept in the cache, and the
    // card, which shows it already, is not edited.
    let unchanged = app.store.suggestion(lead).await?.as_ref() == Some(&answered.value);
    let mut tx = app.store.begin().await?;
    store::keep_ai(&mut tx, &answered.keep).await?;
    if unchanged {
        tx.commit().await?;
        debug!(lead = lead.0, "the intent guess is unchanged");
        return Ok(Outcome::Done);
    }
    store::set_suggestion(&mut tx, lead, &answered.value, &answered.fingerprint, now).await?;
    store::bump_card(&mut tx, lead, None, now).await?;
    store::jobs_enqueue(&mut tx, &crate::ingest::topic_sync_job(lead, now + CARD_AFTER_MS), now).await?;
    tx.commit().await?;
    app.wake.notify_one();
    Ok(Outcome::Done)
}

/// How far back the sweep looks for customer messages not yet handed to AI.
const SWEEP_LOOKBACK_MS: i64 = 86_400_000;

/// Leads handed to AI per transaction by the sweep (small: each transaction holds the
/// SQLite write gate while it writes, and the bridge waits behind it).
const SWEEP_PAGE: usize = 50;

/// The sweep's job, enqueued at start while AI is configured (one pending at a time).
pub fn sweep_job(now: i64) -> store::NewJob {
    crate::jobs::Job::AiSweep.into_new("ai_sweep".into(), Some("ai_sweep".into()), now)
}

/// When the sweep looks again while AI's lane is full and leads are still due.
const SWEEP_FULL_MS: i64 = 1_000;

/// `Job::AiSweep` (recurring, the AI lane): every lead whose newest customer message is
/// later than its mark and has been quiet for `FORECOURT_AI_SCORE_AFTER_S` gets a score job
/// (and, without an intent, an intent job), and its mark moves up — oldest quiet first, and
/// only as many as AI's lane has room for (`domain::ai::sweep_take`); the rest wait for the
/// next look, a second later. A burst of messages is scored once, after it; nothing of this
/// runs in the bridge's transactions.
pub async fn sweep(app: &Arc<App>) -> anyhow::Result<Outcome> {
    let Some(ai) = app.ai.as_ref() else { return Ok(Outcome::Done) };
    let now = app.clock.now_ms();
    let quiet = ai.config().score_after_s as i64 * 1_000;
    let next = Outcome::WaitUntil(now + (quiet / 2).clamp(2_000, 30_000));
    let full = Outcome::WaitUntil(now + SWEEP_FULL_MS);
    let (score, intent) = (ai.on(Feature::HotScores), ai.on(Feature::Intent));
    if !score && !intent {
        return Ok(next);
    }
    loop {
        let queued = app.store.jobs_in_flight_in(i64::MAX, Some(store::Lane::Ai)).await?;
        let room = sweep_take(queued, ai.config().concurrency, &[1; SWEEP_PAGE]);
        if room == 0 {
            return Ok(full);
        }
        let due = app.store.ai_due_leads(now - SWEEP_LOOKBACK_MS, now - quiet, room as i64).await?;
        let jobs_of = |no_intent: bool| usize::from(score) + usize::from(intent && no_intent);
        let per_lead: Vec<usize> = due.iter().map(|(_, _, no_intent)| jobs_of(*no_intent)).collect();
        let take = sweep_take(queued, ai.config().concurrency, &per_lead);
        if take == 0 {
            return Ok(if due.is_empty() { next } else { full });
        }
        let mut tx = app.store.begin().await?;
        let mut jobs = Vec::with_capacity(take * 2);
        for (lead, at, no_intent) in &due[..take] {
            store::mark_ai(&mut tx, *lead, *at).await?;
            if score {
                jobs.push(crate::ai::score_job(*lead, now));
            }
            if intent && *no_intent {
                jobs.push(crate::ai::intent_job(*lead, now));
            }
        }
        store::jobs_enqueue_many(&mut tx, &jobs, now).await?;
        tx.commit().await?;
        if take < due.len() {
            return Ok(full);
        }
        if due.len() < room {
            return Ok(next);
        }
    }
}

/// What a job does when no answer came.
pub(crate) fn after_failure(f: Failure, now: i64) -> Outcome {
    match f {
        Failure::Off | Failure::Rejected(_) | Failure::TooLarge(_) => Outcome::Done,
        Failure::Budget { until } => Outcome::WaitUntil(until),
        Failure::Unavailable(_) => Outcome::WaitUntil(now + RETRY_DOWN_MS),
    }
}
