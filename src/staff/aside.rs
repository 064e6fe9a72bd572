//! Telegram updates that cannot be stored. A poller must not stop at one (everything
//! behind it would wait forever), and a webhook must not answer 503 to it for ever
//! (Telegram holds back every later update meanwhile). After a few tries such an update is
//! kept aside, raw JSON and error, in `failed_updates`; the poller moves on and says so in
//! the log; `forecourt jobs` lists it, and `forecourt jobs replay ID` (or `--all`) asks the
//! running service to process it again.

use crate::context::{App, BotHandle};
use crate::jobs::Outcome;
use crate::store::{NewJob, StoreError};
use std::sync::Arc;
use teloxide::types::Update;
use tracing::{error, info, warn};

/// Tries before an update is set aside.
pub const SET_ASIDE_AFTER: u32 = 5;

/// Where updates of a bot are recorded as seen (`seen_updates.source`).
pub fn source(bot: &BotHandle) -> String {
    format!("tg:{}", bot.id)
}

/// Keep an update aside, raw, with why it could not be stored.
pub async fn set_aside(
    app: &App,
    bot: &BotHandle,
    update: &Update,
    error: &str,
    attempts: u32,
) -> Result<i64, StoreError> {
    let raw = serde_json::to_string(update).map_err(|e| StoreError::Corrupt(format!("serialising an update: {e}")))?;
    let now = app.clock.now_ms();
    let id = app.store.set_aside_update(&source(bot), update.id.0 as i64, &raw, error, attempts as i64, now).await?;
    warn!(
        update_id = update.id.0,
        set_aside = id,
        attempts,
        error,
        "an update could not be stored; set aside (forecourt jobs lists it, `forecourt jobs replay {id}` retries it)"
    );
    Ok(id)
}

/// The job that replays a set-aside update in the running service.
pub fn replay_job(id: i64, now: i64) -> NewJob {
    let key = format!("replay:{id}");
    crate::jobs::Job::ReplayUpdate { failed_update: id }.into_new(key.clone(), Some(key), now)
}

/// Process a set-aside update again, as the bot it came to would have.
pub async fn replay(app: &Arc<App>, id: i64) -> anyhow::Result<Outcome> {
    let Some(row) = app.store.failed_update(id).await? else {
        return Ok(Outcome::Park(format!("no set-aside update {id}")));
    };
    if row.replayed_at.is_some() {
        return Ok(Outcome::Done);
    }
    let (bot, customers, staff) = if row.source == source(&app.customer_bot) {
        (app.customer_bot.clone(), true, app.same_bot())
    } else if row.source == source(&app.staff_bot) {
        (app.staff_bot.clone(), false, true)
    } else {
        return Ok(Outcome::Park(format!("update {id} came to another bot ({})", row.source)));
    };
    let update: Update = match serde_json::from_str(&row.raw) {
        Ok(u) => u,
        Err(e) => return Ok(Outcome::Park(format!("the kept update does not read as an update: {e}"))),
    };
    match super::process_update(app, &bot, customers, staff, &update).await {
        Ok(()) => {
            app.store.update_replayed(id, app.clock.now_ms()).await?;
            info!(set_aside = id, update_id = row.update_id, "a set-aside update was replayed and stored");
            app.wake.notify_one();
            Ok(Outcome::Done)
        }
        Err(e) => {
            error!(set_aside = id, error = %e, "replaying a set-aside update failed");
            Ok(Outcome::Retry(format!("{e}")))
        }
    }
}
