//! Attaching a car the Telegram way: the card's 🚘 Vehicle ▸ button opens the staff bot's
//! inline mode in the manager's input box, pre-filled with the lead (`#12 `); results come
//! as they type (make, model, year, VIN tail — the same search as `/car`); the chosen one
//! posts a message through the bot (`via_bot`) into the topic, and the bot, seeing it,
//! attaches the car. A message sent through the inline mode is never relayed to a customer.

use crate::channels::telegram::{InlineArticle, StaffMessage, TgError};
use crate::context::App;
use crate::domain::callback::inline;
use crate::jobs::Outcome;
use crate::store::{self, NewJob, StoreError};
use std::sync::Arc;
use tracing::{debug, info};

/// Results offered at once (Telegram takes up to 50).
const RESULTS: i64 = 20;

/// The job that answers an inline query.
pub fn answer_job(id: &str, results: &[InlineArticle], now: i64) -> NewJob {
    crate::jobs::Job::AnswerInline { id: id.to_string(), results: results.to_vec() }.into_new(
        format!("inline:{id}"),
        None,
        now,
    )
}

/// A staff member typed in the inline mode: search, and answer with the cars.
pub async fn query(
    app: &Arc<App>,
    source: &str,
    update_id: i64,
    (id, from, query): (&str, i64, &str),
) -> Result<(), StoreError> {
    let now = app.clock.now_ms();
    let user = app.store.user_by_telegram(crate::domain::TelegramUserId(from)).await?.filter(|u| u.active);
    // Strangers, and queries that name no lead, get no results.
    let results = match (user, inline::parse_query(query)) {
        (Some(_), Some((lead, words))) => match app.store.lead(lead).await? {
            Some(l) if l.stage.is_open() => articles(app, l.id, words, now).await?,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    let mut tx = app.store.begin().await?;
    if !store::mark_update_seen(&mut tx, source, update_id, now).await? {
        return Ok(());
    }
    store::jobs_enqueue(&mut tx, &answer_job(id, &results, now), now).await?;
    tx.commit().await?;
    debug!(results = results.len(), "inline query answered");
    app.wake.notify_one();
    Ok(())
}

async fn articles(
    app: &App,
    lead: crate::domain::LeadId,
    words: &str,
    now: i64,
) -> Result<Vec<InlineArticle>, StoreError> {
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let found = app.vehicle_search.search(&app.store, words, now, RESULTS).await?;
    Ok(found
        .into_iter()
        .map(|v| {
            let view = super::card::vehicle_view(&store::AttachedVehicle {
                vehicle: v.clone(),
                other_leads: vec![],
                photos: 0,
            });
            let render = |name: &str| {
                app.templates
                    .render(name, minijinja::context! { lead => lead.0, v => minijinja::value::Serde(&view) })
                    .unwrap_or_else(|_| view.name.clone())
            };
            InlineArticle {
                id: v.id.to_string(),
                title: render("staff/inline_title.txt"),
                description: render("staff/inline_description.txt"),
                text: format!("{} {}", render("staff/inline_attach.txt"), inline::tag(lead, v.id)),
            }
        })
        .collect())
}

/// Answer an inline query (the job).
pub async fn answer(app: &Arc<App>, id: &str, results: &[InlineArticle]) -> anyhow::Result<Outcome> {
    match app.staff_bot.api.answer_inline(id, results).await {
        Ok(()) => Ok(Outcome::Done),
        // Telegram waits a few seconds for an answer; a late one is simply not wanted.
        Err(TgError::BadRequest(e)) if e.contains("too old") || e.contains("invalid") => Ok(Outcome::Done),
        Err(TgError::RetryAfter(s)) => Ok(Outcome::WaitUntil(app.clock.now_ms() + s.max(1) * 1_000)),
        Err(e) if e.is_transient() => Ok(Outcome::Retry(e.to_string())),
        Err(e) => Ok(Outcome::Park(e.to_string())),
    }
}

/// A message that came through the bot's inline mode: never relayed. One that carries an
/// attach tag attaches the car; the topic (or chat) is told how it went.
pub async fn chosen(
    app: &Arc<App>,
    tx: &mut store::Conn,
    m: &StaffMessage,
    user: Option<&store::UserRow>,
    now: i64,
) -> Result<Option<String>, StoreError> {
    let Some((lead_id, vehicle)) = m.content.text.as_deref().and_then(inline::parse_tag) else {
        return Ok(None);
    };
    let Some(user) = user else {
        return Ok(Some(app.templates.render("staff/not_staff.txt", minijinja::context! {}).unwrap_or_default()));
    };
    let Some(lead) = store::lead_in_tx(tx, lead_id).await? else {
        return Ok(Some(super::attach::say(app, &super::attach::Linked::Stale, true).0));
    };
    let linked = super::attach::link(tx, user, &lead, vehicle, true, now).await?;
    info!(
        lead = lead.id.0,
        vehicle = vehicle.0,
        ok = (linked == super::attach::Linked::Done),
        "a car chosen in inline mode"
    );
    Ok(Some(super::attach::say(app, &linked, true).0))
}
