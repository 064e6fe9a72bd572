//! Overdue tasks (the recurring `TaskTimers` job): a task past its due time is reminded of in
//! its lead's topic, mentioning whoever has it (or saying nobody does); when it is still open
//! one more interval later (`FORECOURT_CALLBACK_MINUTES`), the supervisors (admins when there
//! are none) are told privately by the staff bot. Each step happens once per task.

use crate::context::App;
use crate::jobs::job::Mention;
use crate::jobs::{Job, Outcome};
use crate::store::{self, OverdueTask};
use std::sync::Arc;
use tracing::info;

/// How often overdue tasks are looked for.
pub const EVERY_MS: i64 = 60_000;
const PAGE: i64 = 200;

pub async fn timers(app: &Arc<App>) -> anyhow::Result<Outcome> {
    let now = app.clock.now_ms();
    let interval = i64::from(app.config.calls.callback_minutes) * 60_000;
    let mut tx = app.store.begin().await?;
    let due = store::overdue_tasks(&mut tx, now, false, PAGE).await?;
    for o in &due {
        remind(app, &mut tx, o, now).await?;
    }
    let late = store::overdue_tasks(&mut tx, now - interval, true, PAGE).await?;
    let supervisors = if late.is_empty() { Vec::new() } else { store::supervisors(&mut tx).await? };
    for o in &late {
        escalate(app, &mut tx, o, &supervisors, now).await?;
    }
    tx.commit().await?;
    if !due.is_empty() || !late.is_empty() {
        info!(reminded = due.len(), escalated = late.len(), "overdue tasks");
        app.wake.notify_one();
    }
    Ok(Outcome::WaitUntil(now + EVERY_MS))
}

fn text(app: &App, name: &str, o: &OverdueTask, extra: minijinja::Value) -> anyhow::Result<String> {
    let t = &o.task;
    Ok(app.templates.render(
        name,
        minijinja::context! {
            who => &t.user_name,
            title => &t.title,
            kind => &t.kind,
            lead => t.lead.0,
            customer => &t.customer_name,
            due => t.due_at.map(|d| app.local_time(d, false)),
            ..extra
        },
    )?)
}

/// In the topic, with a mention of the assignee.
async fn remind(app: &App, tx: &mut store::Conn, o: &OverdueTask, now: i64) -> anyhow::Result<()> {
    if let (Some(chat), Some(thread)) = (o.chat, o.thread) {
        let body = text(app, "staff/task_reminder.txt", o, minijinja::context! {})?;
        let mention = match (o.assignee_telegram, &o.task.user_name) {
            (Some(user), Some(name)) => Some(Mention { user, name: name.clone() }),
            _ => None,
        };
        let job = Job::StaffReply {
            chat,
            thread: Some(thread),
            text: Some(body.trim().to_string()),
            keyboard: None,
            photos_of: None,
            mention,
        }
        .into_new(format!("group:{chat}"), Some(format!("remind:{}", o.task.id.0)), now);
        store::jobs_enqueue(tx, &job, now).await?;
    }
    store::mark_task_nudged(tx, o.task.id, false, now).await?;
    Ok(())
}

/// Privately, to each supervisor.
async fn escalate(
    app: &App,
    tx: &mut store::Conn,
    o: &OverdueTask,
    supervisors: &[(i64, String)],
    now: i64,
) -> anyhow::Result<()> {
    for (telegram_id, name) in supervisors {
        let body = text(app, "staff/task_escalation.txt", o, minijinja::context! { supervisor => name })?;
        let job = Job::StaffReply {
            chat: *telegram_id,
            thread: None,
            text: Some(body.trim().to_string()),
            keyboard: None,
            photos_of: None,
            mention: None,
        }
        .into_new(
            format!("private:{telegram_id}"),
            Some(format!("escalate:{}:{telegram_id}", o.task.id.0)),
            now,
        );
        store::jobs_enqueue(tx, &job, now).await?;
    }
    store::mark_task_nudged(tx, o.task.id, true, now).await?;
    Ok(())
}
