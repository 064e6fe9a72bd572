//! Attaching a car to a lead and detaching it: the rules (`domain::vehicle::may_attach`,
//! `may_detach`), the link row with its history, and the cards it edits (this lead's and
//! those of the other leads that hold the car, whose warnings change). Used by the card's
//! Attach / Detach buttons and by the bot's inline mode.

use crate::context::App;
use crate::domain::{Actor, RuleError, VehicleId};
use crate::store::{self, LeadRow, StoreError, UserRow};
use tracing::info;

/// What came of an attach or detach: done, or refused with the words to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linked {
    Done,
    /// A rule refused it.
    Refused(RuleError),
    /// The car is not there (an old button), or already detached.
    Stale,
}

/// Attach (`attach`) or detach car `vehicle` on `lead` for `user`, inside the caller's
/// transaction.
pub async fn link(
    tx: &mut store::Conn,
    user: &UserRow,
    lead: &LeadRow,
    vehicle: VehicleId,
    attach: bool,
    now: i64,
) -> Result<Linked, StoreError> {
    let actor = Actor { id: user.id, role: user.role };
    let facts = lead.facts();
    let Some(car) = store::vehicle_in_tx(tx, vehicle).await? else {
        return Ok(Linked::Stale);
    };
    let others = store::other_open_leads_holding(tx, vehicle, lead.id).await?;
    let rule = if attach {
        crate::domain::vehicle::may_attach(actor, &facts, car.status, !others.is_empty())
    } else {
        crate::domain::vehicle::may_detach(actor, &facts)
    };
    if let Err(e) = rule {
        return Ok(Linked::Refused(e));
    }
    if !store::set_vehicle_link(tx, lead.id.0, &car, attach, Some(user.id.0), now).await? {
        // Attached already, or detached already (an old button).
        return Ok(if attach { Linked::Refused(RuleError::AlreadyAttached) } else { Linked::Stale });
    }
    // This card, and the cards of the other leads that hold the car (their warnings change).
    for id in std::iter::once(lead.id).chain(others) {
        store::bump_card(tx, id, None, now).await?;
        store::jobs_enqueue(tx, &crate::ingest::topic_sync_job(id, now), now).await?;
    }
    info!(lead = lead.id.0, vehicle = vehicle.0, attach, user = user.id.0, "vehicle link changed");
    Ok(Linked::Done)
}

/// The words for an outcome: the done text, a refusal, or "out of date".
pub fn say(app: &App, linked: &Linked, attach: bool) -> (String, bool) {
    let render = |name: &str, ctx| app.templates.render(name, ctx).unwrap_or_else(|_| "…".into());
    match linked {
        Linked::Done => {
            let what = if attach { "attach" } else { "detach" };
            (render("staff/done.txt", minijinja::context! { action => what }), false)
        }
        Linked::Refused(e) => (render("staff/refused.txt", minijinja::context! { reason => e.to_string() }), true),
        Linked::Stale => (render("staff/stale_button.txt", minijinja::context! {}), true),
    }
}
