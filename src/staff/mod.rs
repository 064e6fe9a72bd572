//! The staff side on Telegram: one forum topic per lead in the staff groups, a lead card
//! with buttons that is edited in place, customer messages copied into the topic, staff
//! replies relayed to the customer, and the commands. Updates come in through
//! [`process_update`] (from long polling or the webhook); everything sent goes out as jobs.

pub mod actions;
pub mod ai;
pub mod ai_calls;
pub mod aside;
pub mod assign;
pub mod attach;
pub mod batch;
pub mod buttons;
pub mod calls;
pub mod card;
pub mod commands;
pub mod deliver;
pub mod digest;
pub mod drafts;
pub mod inline;
pub mod inventory;
pub mod orphans;
pub mod photos;
pub mod poll;
pub mod replies;
pub mod report;
pub mod reviews;
pub mod segments;
pub mod tasks;
pub mod topic;
pub mod words;

use crate::channels::telegram::{classify_update, Incoming};
use crate::context::{App, BotHandle};
use crate::domain::Channel;
use crate::store::{self, StoreError};
use std::sync::Arc;
use teloxide::types::Update;
use tracing::{debug, info};

/// Handle one Telegram update: commit everything it causes before returning, so the
/// caller may then confirm it (advance the offset or answer the webhook 200).
pub async fn process_update(
    app: &Arc<App>,
    bot: &BotHandle,
    customers: bool,
    staff: bool,
    update: &Update,
) -> Result<(), StoreError> {
    let source = format!("tg:{}", bot.id);
    let update_id = update.id.0 as i64;
    let now = app.clock.now_ms();
    let incoming = classify_update(update, &app.config.telegram.staff_chat_ids, customers, staff);
    let staff_ids = match (&incoming, staff) {
        (Incoming::Customer(m), true) => app.store.active_staff_among(&[private_sender(m)]).await?,
        _ => Default::default(),
    };
    match resolve_private(incoming, customers, staff, &staff_ids) {
        Incoming::Customer(mut inbound) => {
            crate::ingest::prepare(&mut inbound, now);
            let mut tx = app.store.begin_inbound().await?;
            let item = store::BatchItem { update_id: Some(update_id), inbound: &inbound };
            let out = crate::ingest::store_batch(
                &mut tx,
                &source,
                &[item],
                now,
                &app.topic_holds,
                &crate::ingest::Follow { flows: app.flows.enabled() },
            )
            .await?;
            // A shared contact gives the customer a phone identity (its hash; the number
            // itself goes no further), so their calls find their lead.
            if let Some(caller) = crate::channels::telegram::shared_phone(update).and_then(|p| app.phones.caller(p)) {
                store::add_identity_phone(&mut tx, Channel::Telegram, &inbound.external_user, &caller, now).await?;
                info!(tail = %caller.tail, "a customer shared their phone: calls from it now find them");
            }
            tx.commit().await?;
            match out.first() {
                Some(i) => {
                    info!(
                        lead = i.lead.0,
                        new_lead = i.new_lead,
                        kind = inbound.kind.as_str(),
                        "customer message stored"
                    );
                    app.wake.notify_one();
                }
                None => debug!(update_id, "update or message seen before"),
            }
            Ok(())
        }
        Incoming::CustomerButton(mut inbound, callback) => {
            crate::ingest::prepare(&mut inbound, now);
            // Stored like a typed answer; the press is answered by the customer's bot.
            let mut tx = app.store.begin_inbound().await?;
            let item = store::BatchItem { update_id: Some(update_id), inbound: &inbound };
            let out = crate::ingest::store_batch(
                &mut tx,
                &source,
                &[item],
                now,
                &app.topic_holds,
                &crate::ingest::Follow { flows: app.flows.enabled() },
            )
            .await?;
            let answer =
                replies::answer_callback_job_by(&callback, "", false, Some(crate::jobs::job::BotSide::Customer), now);
            store::jobs_enqueue(&mut tx, &answer, now).await?;
            tx.commit().await?;
            if let Some(i) = out.first() {
                info!(lead = i.lead.0, "customer pressed a flow button");
            }
            app.wake.notify_one();
            Ok(())
        }
        Incoming::Staff(m) => actions::on_staff_message(app, &source, update_id, m).await,
        Incoming::Button(b) => buttons::on_button(app, &source, update_id, b).await,
        Incoming::InlineQuery { id, from, query } => inline::query(app, &source, update_id, (&id, from, &query)).await,
        Incoming::TopicCreated { chat, thread, title, from } => {
            orphans::topic_created(app, &source, update_id, (chat, thread), &title, from).await
        }
        Incoming::TopicState { chat, thread, closed } => {
            if let Some(lead) = app.store.set_topic_closed(chat, thread, closed).await? {
                info!(lead = lead.0, closed, "a person changed the lead's topic");
            }
            Ok(())
        }
        Incoming::Ignored(why) => {
            debug!(update_id, why, "update ignored");
            Ok(())
        }
    }
}

/// The sender of a private message (their Telegram id; in a private chat it is the chat's).
fn private_sender(m: &crate::ingest::Inbound) -> i64 {
    m.external_user.parse().unwrap_or(0)
}

/// A private message to a bot that serves staff is a staff message when its sender is a
/// registered, active staff member: commands work there, and no customer, lead or flow is
/// made for them. Anyone else is a customer (on a bot that serves customers), or ignored.
fn resolve_private(
    incoming: Incoming,
    customers: bool,
    staff: bool,
    staff_ids: &std::collections::HashSet<i64>,
) -> Incoming {
    match incoming {
        Incoming::Customer(m) if staff && staff_ids.contains(&private_sender(&m)) => {
            match crate::channels::telegram::private_staff_message(&m) {
                Some(s) => Incoming::Staff(s),
                None => Incoming::Ignored("a private message whose ids do not read"),
            }
        }
        Incoming::Customer(_) if !customers => Incoming::Ignored("a stranger in a private chat with the staff bot"),
        other => other,
    }
}

/// Handle a batch of updates from one `getUpdates`, in order. Runs of customer messages
/// are stored in one transaction (much faster than one each); if that transaction fails,
/// they are retried one by one. Returns how many updates from the start are committed and,
/// when one could not be, why.
pub async fn process_batch(
    app: &Arc<App>,
    bot: &BotHandle,
    customers: bool,
    staff: bool,
    updates: &[Update],
) -> (usize, Option<String>) {
    let staff_chats = &app.config.telegram.staff_chat_ids;
    let source = format!("tg:{}", bot.id);
    // Staff writing to the bot privately are not customers: one look at the users table
    // for the whole batch.
    let staff_ids = if staff {
        let senders: Vec<i64> = updates
            .iter()
            .filter_map(|u| match classify_update(u, staff_chats, customers, staff) {
                Incoming::Customer(m) => Some(private_sender(&m)),
                _ => None,
            })
            .collect();
        match app.store.active_staff_among(&senders).await {
            Ok(ids) => ids,
            Err(e) => return (0, Some(e.to_string())),
        }
    } else {
        Default::default()
    };
    let mut done = 0;
    while done < updates.len() {
        // A run of customer messages, stored in one transaction. The bot's own topic
        // creations (a service message per new topic) do not break a run: they are looked
        // at once the run is stored (they only concern the topics, and are idempotent).
        let mut run: Vec<(i64, Box<crate::ingest::Inbound>)> = Vec::new();
        let mut created: Vec<usize> = Vec::new();
        let mut span = 0;
        for (i, u) in updates[done..].iter().enumerate() {
            match resolve_private(classify_update(u, staff_chats, customers, staff), customers, staff, &staff_ids) {
                // A shared contact is stored on its own (`process_update`): it may add a
                // phone identity.
                Incoming::Customer(mut m) if m.kind != crate::domain::MessageKind::Contact => {
                    crate::ingest::prepare(&mut m, app.clock.now_ms());
                    run.push((u.id.0 as i64, m));
                }
                Incoming::TopicCreated { .. } if !run.is_empty() => created.push(done + i),
                _ => break,
            }
            span = i + 1;
        }
        if run.len() > 1 {
            match ingest_run(app, &source, &run).await {
                Ok(n) => {
                    debug!(stored = n, batch = run.len(), "customer messages stored");
                    if n > 0 {
                        app.wake.notify_one();
                    }
                    for i in created {
                        if let Err(e) = process_update(app, bot, customers, staff, &updates[i]).await {
                            // Everything from here comes again; what is stored is seen.
                            tracing::error!(error = %e, update_id = updates[i].id.0, "could not store an update; will retry");
                            return (i, Some(e.to_string()));
                        }
                    }
                    done += span;
                    continue;
                }
                Err(e) => tracing::warn!(error = %e, "a batch of updates failed; storing them one by one"),
            }
        }
        if let Err(e) = process_update(app, bot, customers, staff, &updates[done]).await {
            tracing::error!(error = %e, update_id = updates[done].id.0, "could not store an update; will retry");
            return (done, Some(e.to_string()));
        }
        done += 1;
    }
    (done, None)
}

async fn ingest_run(app: &App, source: &str, run: &[(i64, Box<crate::ingest::Inbound>)]) -> Result<usize, StoreError> {
    let now = app.clock.now_ms();
    let items: Vec<store::BatchItem> =
        run.iter().map(|(update_id, m)| store::BatchItem { update_id: Some(*update_id), inbound: m }).collect();
    let mut tx = app.store.begin_inbound().await?;
    let stored = crate::ingest::store_batch(
        &mut tx,
        source,
        &items,
        now,
        &app.topic_holds,
        &crate::ingest::Follow { flows: app.flows.enabled() },
    )
    .await?;
    tx.commit().await?;
    Ok(stored.len())
}
