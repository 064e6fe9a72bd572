//! Button presses on the cards and on the bot's own staff messages: who pressed, which
//! button (`domain::callback`, a stale one answered politely), and a small handler per
//! button in this folder — stages and menus, the WhatsApp template, the bot's switch —
//! or in its own room (`staff::attach`, `staff::photos`). The press is answered by a job,
//! in the same transaction as what it changed.

mod automation;
mod called_back;
mod draft;
mod owner;
mod stage;
mod task;
mod template;

use super::actions::{active_user, other, render};
use super::replies::{answer_callback_job, reply};
use crate::channels::telegram::ButtonPress;
use crate::context::App;
use crate::domain::callback::{CallAction, CardAction, FlowAction, ReviewAction};
use crate::store::{self, LeadRow, StoreError, UserRow};
use std::sync::Arc;

/// What a button handler needs: the press's transaction, who pressed, the lead.
pub struct Press<'a> {
    pub app: &'a App,
    pub tx: &'a mut store::Conn,
    pub user: &'a UserRow,
    pub lead: &'a LeadRow,
    pub now: i64,
}

/// The answer to a press: its text, and whether it pops up (refusals do).
pub use super::words::Answer;

pub async fn on_button(app: &Arc<App>, source: &str, update_id: i64, b: ButtonPress) -> Result<(), StoreError> {
    let now = app.clock.now_ms();
    let user = active_user(app, b.from).await?;
    let data = b.data.clone().unwrap_or_default();
    // Activating an uploaded flow file writes on its own: before this transaction.
    let flow_press = match (FlowAction::decode(&data), &user) {
        (Some(Ok(FlowAction::Activate(id))), Some(u)) => {
            Some(Ok(crate::flows::admin::activate(app, u, id).await.map_err(other)?))
        }
        (Some(Err(stale)), _) => Some(Err(stale)),
        _ => None,
    };
    let mut tx = app.store.begin().await?;
    if !store::mark_update_seen(&mut tx, source, update_id, now).await? {
        return Ok(());
    }
    let stale = || (render(app, "staff/stale_button.txt", minijinja::context! {}), true);
    let (text, alert) = match (user, flow_press) {
        (None, _) => (render(app, "staff/not_staff.txt", minijinja::context! {}), true),
        (Some(_), Some(Ok((text, post)))) => {
            if let (Some(p), Some(chat)) = (post, b.chat) {
                reply(app, &mut tx, chat, None, &p).await.map_err(other)?;
            }
            (text, false)
        }
        (Some(_), Some(Err(_))) => stale(),
        (Some(_), None) if CallAction::decode(&data).is_some() => match CallAction::decode(&data) {
            Some(Ok(CallAction::MoveHint(_))) => {
                (render(app, "staff/call_move.txt", minijinja::context! { what => "hint" }), true)
            }
            _ => stale(),
        },
        (Some(user), None) if ReviewAction::decode(&data).is_some() => match ReviewAction::decode(&data) {
            Some(Ok(action)) => super::reviews::press(app, &mut tx, &user, action, now).await?,
            _ => stale(),
        },
        (Some(user), None) => match CardAction::decode(&data) {
            Err(_) => stale(),
            Ok(action) => match store::lead_in_tx(&mut tx, action.lead()).await? {
                None => stale(),
                Some(lead) => {
                    let mut p = Press { app, tx: &mut tx, user: &user, lead: &lead, now };
                    card_button(&mut p, action).await?
                }
            },
        },
    };
    store::jobs_enqueue(&mut tx, &answer_callback_job(&b.id, &text, alert, now), now).await?;
    tx.commit().await?;
    app.wake.notify_one();
    Ok(())
}

/// A button on a lead's card.
async fn card_button(p: &mut Press<'_>, action: CardAction) -> Result<Answer, StoreError> {
    match action {
        CardAction::SendTemplate(_) => template::send(p).await,
        CardAction::Automation(_, on) => automation::switch(p, on).await,
        CardAction::SendPhotos(_, v) => {
            let done = super::photos::send(p.app, p.tx, p.user, p.lead, v, p.now).await?;
            Ok((done.answer, done.refused))
        }
        // Cards from before the inline search still carry it.
        CardAction::VehicleHint(_) => Ok((render(p.app, "staff/vehicle_hint.txt", minijinja::context! {}), true)),
        CardAction::Attach(_, v) | CardAction::Detach(_, v) => {
            let attach = matches!(action, CardAction::Attach(..));
            let linked = super::attach::link(p.tx, p.user, p.lead, v, attach, p.now).await?;
            Ok(super::attach::say(p.app, &linked, attach))
        }
        CardAction::CalledBack(_, task) => called_back::press(p, task).await,
        CardAction::TaskDone(_, t) => task::press(p, t, true).await,
        CardAction::OwnerMenu(_) => owner::menu(p).await,
        CardAction::SetOwner(_, u) => owner::give(p, u).await,
        CardAction::TaskLater(_, t) => task::press(p, t, false).await,
        CardAction::Draft(_) => draft::ask(p).await,
        CardAction::SendDraft(_, d) => draft::send(p, d).await,
        CardAction::DiscardDraft(_, d) => draft::discard(p, d).await,
        CardAction::SetIntent(_, c) => draft::set_intent(p, c).await,
        CardAction::Claim(_)
        | CardAction::SetStage(..)
        | CardAction::Lost(..)
        | CardAction::StageMenu(_)
        | CardAction::LostMenu(_)
        | CardAction::Back(_) => stage::press(p, action).await,
    }
}

/// A refusal, worded for the person who pressed.
fn refused(app: &App, e: crate::domain::RuleError) -> Answer {
    (render(app, "staff/refused.txt", minijinja::context! { reason => e.to_string() }), true)
}
