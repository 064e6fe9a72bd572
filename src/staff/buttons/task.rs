//! ✅ Done and ⏰ +1h under a task's message: who may (`domain::task::may_close`), then the
//! task closed or put off an hour (from its due time, or from now when that has passed),
//! its message edited and the card's next task refreshed.

use super::{refused, Answer, Press};
use crate::domain::{task, Actor, TaskId};
use crate::staff::words::render;
use crate::store::{self, StoreError};
use tracing::info;

pub async fn press(p: &mut Press<'_>, id: TaskId, done: bool) -> Result<Answer, StoreError> {
    let (app, user, lead) = (p.app, p.user, p.lead);
    let Some(t) = store::task_in_tx(p.tx, id).await?.filter(|t| t.lead == lead.id && t.open) else {
        return Ok((render(app, "staff/done.txt", minijinja::context! { action => "task_done" }), false));
    };
    if let Err(e) = task::may_close(Actor { id: user.id, role: user.role }, &lead.facts(), t.user) {
        return Ok(refused(app, e));
    }
    let answer = if done {
        store::close_task(p.tx, id, user.id, "button", p.now).await?;
        info!(task = id.0, lead = lead.id.0, user = user.id.0, "task done");
        render(app, "staff/done.txt", minijinja::context! { action => "task_done" })
    } else {
        let due = t.due_at.unwrap_or(p.now).max(p.now) + 3_600_000;
        store::put_off_task(p.tx, id, due, p.now).await?;
        info!(task = id.0, lead = lead.id.0, user = user.id.0, due, "task put off an hour");
        render(app, "staff/done.txt", minijinja::context! { action => "task_later", due => app.local_when(due) })
    };
    store::jobs_enqueue(p.tx, &crate::staff::tasks::post_job(id, p.now), p.now).await?;
    store::bump_card(p.tx, lead.id, None, p.now).await?;
    store::jobs_enqueue(p.tx, &crate::ingest::topic_sync_job(lead.id, p.now), p.now).await?;
    Ok((answer, false))
}
