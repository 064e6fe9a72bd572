//! 🤖 Turn the bot off / on for one lead (`domain::lead::switch_automation`).

use super::{refused, Answer, Press};
use crate::domain::{lead, Actor};
use crate::ingest::topic_sync_job;
use crate::staff::actions::render;
use crate::store::{self, StoreError};
use tracing::info;

pub async fn switch(p: &mut Press<'_>, on: bool) -> Result<Answer, StoreError> {
    let (app, user, lead) = (p.app, p.user, p.lead);
    if let Err(e) = lead::switch_automation(Actor { id: user.id, role: user.role }, &lead.facts()) {
        return Ok(refused(app, e));
    }
    store::set_automation(p.tx, lead.id, on, p.now).await?;
    store::jobs_enqueue(p.tx, &topic_sync_job(lead.id, p.now), p.now).await?;
    info!(lead = lead.id.0, user = user.id.0, on, "the bot's automation switched");
    let what = if on { "bot_on" } else { "bot_off" };
    Ok((render(app, "staff/done.txt", minijinja::context! { action => what }), false))
}
