//! `/my` and `/queue`: open leads, newest first (hottest first while AI scores them) (the queue with its unassigned callbacks);
//! `/tasks`: open tasks, soonest due first.

use crate::context::App;
use crate::domain::UserId;
use crate::store::{StoreError, TaskFilter, TaskRow, UserRow};
use serde_json::json;

/// The open leads of `owner` (`None`: the unclaimed ones), rendered with `template`; the
/// hottest first while AI scores leads.
pub async fn open_leads(app: &App, owner: Option<UserId>, template: &str) -> Result<String, StoreError> {
    let hot = app.ai.as_ref().is_some_and(|a| a.on(crate::domain::ai::Feature::HotScores));
    let leads = app.store.open_leads_by(owner, 30, hot).await?;
    let view: Vec<_> = leads
        .iter()
        .map(|l| {
            json!({
                "id": l.id.0,
                "customer": l.customer_name,
                "stage": app.templates.label("stage", l.stage.as_str(), l.stage.label()),
                "channel": crate::domain::Channel::label_of(l.last_channel),
                "last_message": l.last_message_preview,
                "last_message_at": l.last_message_at.map(|t| app.local_time(t, true)),
                "hot": if hot { l.hot } else { None },
            })
        })
        .collect();
    let ctx = minijinja::context! { leads => minijinja::value::Serde(&view) };
    Ok(app.templates.render(template, ctx).unwrap_or_else(|_| String::from("…")))
}

/// `/queue`: the unclaimed leads, then the callbacks nobody has yet.
pub async fn queue(app: &App) -> Result<String, StoreError> {
    let leads = open_leads(app, None, "staff/queue.txt").await?;
    let tasks = app.store.open_tasks(TaskFilter::Unassigned, 30).await?;
    if tasks.is_empty() {
        return Ok(leads);
    }
    let list = render_tasks(app, &tasks, "unassigned");
    Ok(format!("{}\n\n{}", leads.trim_end(), list))
}

fn render_tasks(app: &App, tasks: &[TaskRow], whose: &str) -> String {
    let now = app.clock.now_ms();
    let view: Vec<_> = tasks
        .iter()
        .map(|t| {
            json!({
                "lead": t.lead.0,
                "customer": t.customer_name,
                "title": t.title,
                "kind": t.kind,
                "due": t.due_at.map(|d| app.local_time(d, true)),
                "overdue": t.due_at.is_some_and(|d| d < now),
                "who": t.user_name,
                "link": t.lead_chat.zip(t.lead_thread).and_then(|(c, th)| crate::domain::routing::topic_link(c, th)),
            })
        })
        .collect();
    let ctx = minijinja::context! { tasks => minijinja::value::Serde(&view), whose };
    app.templates.render("staff/tasks.txt", ctx).unwrap_or_else(|_| String::from("…"))
}

/// `/tasks`: one's own open tasks; `/tasks all` everyone's (supervisors, admins, analysts).
pub async fn tasks(app: &App, user: &UserRow, args: &str) -> Result<String, StoreError> {
    let all = args.trim().eq_ignore_ascii_case("all");
    if all && !user.role.sees_all_tasks() {
        let ctx = minijinja::context! { tasks => Vec::<()>::new(), whose => "not_allowed" };
        return Ok(app.templates.render("staff/tasks.txt", ctx).unwrap_or_default());
    }
    let filter = if all { TaskFilter::All } else { TaskFilter::Of(user.id) };
    let tasks = app.store.open_tasks(filter, 50).await?;
    Ok(render_tasks(app, &tasks, if all { "all" } else { "mine" }))
}
