//! ✅ Called back, under a missed call: its callback task is done (`domain::task::may_close`),
//! and the call's message says who called back.

use super::{refused, Answer, Press};
use crate::domain::{task, Actor, TaskId};
use crate::staff::words::render;
use crate::store::{self, StoreError};
use tracing::info;

pub async fn press(p: &mut Press<'_>, id: TaskId) -> Result<Answer, StoreError> {
    let (app, user, lead) = (p.app, p.user, p.lead);
    let Some(t) = store::task_in_tx(p.tx, id).await?.filter(|t| t.lead == lead.id && t.open) else {
        // Closed already (by another press, or by an answered call).
        return Ok((render(app, "staff/done.txt", minijinja::context! { action => "called_back" }), false));
    };
    if let Err(e) = task::may_close(Actor { id: user.id, role: user.role }, &lead.facts(), t.user) {
        return Ok(refused(app, e));
    }
    store::close_callbacks(p.tx, None, Some(id), Some(user.id), "button", p.now).await?;
    if let Some(call) = t.call {
        store::bump_call(p.tx, call, p.now).await?;
        store::jobs_enqueue(p.tx, &crate::calls::post_job(call, p.now), p.now).await?;
    }
    info!(task = id.0, lead = lead.id.0, user = user.id.0, "callback done");
    Ok((render(app, "staff/done.txt", minijinja::context! { action => "called_back" }), false))
}
