//! No orphan topics. Telegram posts a `forum_topic_created` service message for every topic
//! the bot creates, and the bot receives it. A process killed between `createForumTopic`
//! and storing the topic's id would otherwise leave that topic empty and unexplained while
//! the restart creates a second one. So each creation the bot sees is checked against the
//! lead its title names (`domain::routing::created_topic`): the lead's own topic is left
//! alone; a lead with no topic where it belongs adopts it; anything else is deleted
//! (`deleteForumTopic`, or closed when the bot may not delete).

use crate::context::App;
use crate::domain::routing::{created_topic, lead_in_topic_title, CreatedTopic};
use crate::jobs::Outcome;
use crate::store::{self, StoreError};
use std::sync::Arc;
use tracing::{info, warn};

/// The bot created a topic (its service message came back): keep, adopt or delete it.
pub async fn topic_created(
    app: &Arc<App>,
    source: &str,
    update_id: i64,
    (chat, thread): (i64, i32),
    title: &str,
    from: i64,
) -> Result<(), StoreError> {
    if from != app.staff_bot.id {
        return Ok(()); // a person's topic: not ours to judge
    }
    let Some(lead_id) = lead_in_topic_title(title) else {
        return Ok(());
    };
    // The usual case: the sync stored the topic before its creation message came back.
    if app.store.lead_by_topic(chat, thread).await? == Some(lead_id) {
        return Ok(());
    }
    let now = app.clock.now_ms();
    let mut tx = app.store.begin().await?;
    if !store::mark_update_seen(&mut tx, source, update_id, now).await? {
        return Ok(());
    }
    let Some(lead) = store::lead_in_tx(&mut tx, lead_id).await? else {
        tx.commit().await?;
        return Ok(());
    };
    let stored = (lead.staff_chat_id, lead.topic_thread_id);
    let target = super::topic::target_group(app, &lead);
    match created_topic(stored, target, (chat, thread)) {
        CreatedTopic::Ours => {}
        CreatedTopic::Adopt => {
            if store::set_lead_topic_if(&mut tx, lead.id, stored, chat, thread, now).await? {
                store::jobs_enqueue(&mut tx, &crate::ingest::topic_sync_job(lead.id, now), now).await?;
                info!(
                    lead = lead.id.0,
                    chat, thread, "a topic the bot created is the lead's (stored from its creation message)"
                );
            }
        }
        CreatedTopic::Orphan => {
            warn!(lead = lead.id.0, chat, thread, "an orphan topic (its lead has another); deleting it");
            store::jobs_enqueue(&mut tx, &crate::jobs::job::delete_topic_job(chat, thread, now), now).await?;
        }
    }
    tx.commit().await?;
    app.wake.notify_one();
    Ok(())
}

/// Delete an orphan topic; close it when the bot may not delete.
pub async fn delete(app: &Arc<App>, chat: i64, thread: i32) -> anyhow::Result<Outcome> {
    let api = &app.staff_bot.api;
    match api.delete_topic(chat, thread).await {
        Ok(()) => {
            info!(chat, thread, "orphan topic deleted");
            Ok(Outcome::Done)
        }
        Err(e) if e.is_transient() => Ok(super::topic::failure(app, chat, e)),
        Err(e) => {
            warn!(chat, thread, error = %e, "could not delete an orphan topic; closing it");
            match api.close_topic(chat, thread).await {
                Ok(()) => Ok(Outcome::Done),
                Err(e) if e.is_transient() => Ok(super::topic::failure(app, chat, e)),
                Err(e) => Ok(Outcome::Park(format!("neither deleted nor closed: {e}"))),
            }
        }
    }
}
