//! Carrying out a lead's changes: the history rows (`store::apply_changes`), and for each
//! stage change what `domain::effects::stage_effects` says it causes — each car's status,
//! said on every other open lead that holds it, and the sale announced to the ERP — then
//! the card edited. Every path that changes a lead comes here: the card's buttons, a typed
//! reply, the WhatsApp template, the car photos.

use crate::context::App;
use crate::domain::effects::{stage_effects, Effect, HeldCar};
use crate::domain::{Change, LeadId, UserId};
use crate::store::{self, StoreError};
use std::collections::HashMap;
use tracing::info;

/// Write `changes` to `lead` for `user`, carry out their effects, and have the card edited
/// (`menu`: the keyboard to show, `None` to keep it).
pub async fn apply(
    app: &App,
    tx: &mut store::Conn,
    lead: LeadId,
    user: UserId,
    changes: &[Change],
    menu: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    if !changes.is_empty() {
        store::apply_changes(tx, lead, Some(user), changes, now).await?;
    }
    for c in changes {
        let Change::Stage { from, to, .. } = c else { continue };
        let mut cars = Vec::new();
        let mut names = HashMap::new();
        for v in store::lead_vehicles_in_tx(tx, lead).await? {
            let reserved_by_another = store::reserved_by_other_lead(tx, v.id, lead).await?;
            names.insert(v.id, format!("{} {}", v.make, v.model));
            cars.push(HeldCar { vehicle: v.id, status: v.status, reserved_by_another });
        }
        for effect in stage_effects(*from, *to, &cars, app.config.erp_url.is_some()) {
            match effect {
                Effect::VehicleStatus { vehicle, status } => {
                    store::set_vehicle_status(tx, vehicle, status, now).await?;
                    info!(
                        lead = lead.0,
                        vehicle = vehicle.0,
                        status = status.as_str(),
                        "vehicle status follows the stage"
                    );
                    let text = app
                        .templates
                        .render(
                            "staff/vehicle_status.txt",
                            minijinja::context! { vehicle => names.get(&vehicle), status => status.as_str(), by => lead.0 },
                        )
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    crate::notices::notice_holders(tx, vehicle, Some(lead), &text, now).await?;
                }
                Effect::AnnounceSale => {
                    let job = crate::channels::erp::sold_job(lead, now)
                        .map_err(|e| StoreError::Corrupt(format!("the ERP event: {e:#}")))?;
                    store::jobs_enqueue(tx, &job, now).await?;
                }
            }
        }
    }
    if !changes.is_empty() || menu.is_some() {
        store::bump_card(tx, lead, menu, now).await?;
        store::jobs_enqueue(tx, &crate::ingest::topic_sync_job(lead, now), now).await?;
    }
    Ok(())
}
