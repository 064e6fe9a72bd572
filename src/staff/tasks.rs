//! Tasks in the topic and their timers. A task written with `/task` (or a stale lead's
//! follow-up) has its own message in the lead's topic — what, when, whose — with ✅ Done
//! and ⏰ +1h, edited as it changes (the `TaskPost` job). The recurring `TaskTimers` job:
//! a task past its due time is reminded of in its lead's topic, mentioning whoever has it
//! (or saying nobody does); when it is still open one more interval later
//! (`FORECOURT_CALLBACK_MINUTES` for a callback, `tasks.overdue_minutes` for the rest), the
//! supervisors (admins when there are none) are told privately by the staff bot. Each step
//! happens once per task (until it is put off).

use crate::channels::telegram::{Keyboard, TgError};
use crate::context::App;
use crate::domain::callback::CardAction;
use crate::domain::task::TaskKind;
use crate::domain::TaskId;
use crate::jobs::job::Mention;
use crate::jobs::{Job, Outcome};
use crate::store::{self, OverdueTask, TaskRow};
use std::sync::Arc;
use tracing::info;

/// How often overdue tasks are looked for.
pub const EVERY_MS: i64 = 60_000;
const PAGE: i64 = 200;

pub async fn timers(app: &Arc<App>) -> anyhow::Result<Outcome> {
    let now = app.clock.now_ms();
    let mut tx = app.store.begin().await?;
    let due = store::overdue_tasks(&mut tx, now, false, PAGE).await?;
    for o in &due {
        remind(app, &mut tx, o, now).await?;
        if o.task.kind != TaskKind::Callback.as_str() {
            // Its own message shows it overdue.
            store::jobs_enqueue(&mut tx, &post_job(o.task.id, now), now).await?;
        }
    }
    // A callback escalates one callback interval after it was due; any other task after
    // `tasks.overdue_minutes`. Looked for by the shorter, then each checked.
    let callback = i64::from(app.config.calls.callback_minutes) * 60_000;
    let other = i64::from(app.config.assignment.task_overdue_minutes) * 60_000;
    let late: Vec<OverdueTask> = store::overdue_tasks(&mut tx, now - callback.min(other), true, PAGE)
        .await?
        .into_iter()
        .filter(|o| {
            let wait = if o.task.kind == TaskKind::Callback.as_str() { callback } else { other };
            o.task.due_at.is_some_and(|d| d <= now - wait)
        })
        .collect();
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

/// The job that posts (or edits) a task's message in its lead's topic.
pub fn post_job(task: TaskId, now: i64) -> crate::store::NewJob {
    let key = format!("task:{}", task.0);
    Job::TaskPost { task }.into_new(key.clone(), Some(key), now)
}

/// A task's message: what, when and whose, with ✅ Done and ⏰ +1h while open.
pub fn render(app: &App, t: &TaskRow) -> (String, Keyboard) {
    let now = app.clock.now_ms();
    let text = crate::staff::words::render(
        app,
        "staff/task.txt",
        minijinja::context! {
            title => &t.title,
            due => t.due_at.map(|d| app.local_when(d)),
            who => &t.user_name,
            overdue => t.open && t.due_at.is_some_and(|d| d < now),
            done => !t.open,
            by => &t.done_by_name,
        },
    );
    let label = |v: &str| app.templates.label("button", v, v);
    let keyboard = if t.open {
        vec![vec![
            (label("task_done"), CardAction::TaskDone(t.lead, t.id).encode()),
            (label("task_later"), CardAction::TaskLater(t.lead, t.id).encode()),
        ]]
    } else {
        Vec::new()
    };
    (text.trim().to_string(), keyboard)
}

/// Post or edit a task's message (the `TaskPost` job). Edits are idempotent; the message
/// is sent once (the job's queue runs one at a time per task).
pub async fn post(app: &Arc<App>, id: TaskId) -> anyhow::Result<Outcome> {
    let Some(t) = app.store.task(id).await? else { return Ok(Outcome::Done) };
    let now = app.clock.now_ms();
    let (Some(chat), Some(thread)) = (t.lead_chat, t.lead_thread) else {
        // The lead's topic is being made by its sync; come back when it is there.
        app.store.enqueue(&crate::ingest::topic_sync_job(t.lead, now), now).await?;
        return Ok(Outcome::WaitUntil(now + 1_000));
    };
    let (text, keyboard) = render(app, &t);
    let kb = (!keyboard.is_empty()).then_some(&keyboard);
    let bot = &app.staff_bot;
    if let Err(until) = app.limiter.acquire(bot.slot, chat, now) {
        return Ok(Outcome::WaitUntil(until));
    }
    let sent = match (t.staff_message, t.staff_chat) {
        (Some(m), Some(c)) if c == chat => match bot.api.edit_text(chat, m, &text, kb).await {
            Ok(()) | Err(TgError::NotModified) => Ok(m),
            Err(TgError::EditTargetMissing) => bot.api.send_text(chat, Some(thread), &text, kb).await,
            Err(e) => Err(e),
        },
        // Not posted yet, or the lead moved to another group: a new message there.
        _ if !t.open => return Ok(Outcome::Done),
        _ => bot.api.send_text(chat, Some(thread), &text, kb).await,
    };
    match sent {
        Ok(m) => {
            app.store.set_task_message(t.id, chat, m).await?;
            Ok(Outcome::Done)
        }
        Err(TgError::ThreadNotFound) | Err(TgError::TopicClosed) => {
            app.store.enqueue(&crate::ingest::topic_sync_job(t.lead, now), now).await?;
            Ok(Outcome::WaitUntil(now + 2_000))
        }
        Err(TgError::BadRequest(e)) => Ok(Outcome::Park(e)),
        Err(e) => Ok(super::topic::failure(app, chat, e)),
    }
}
