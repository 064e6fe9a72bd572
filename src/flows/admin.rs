//! The admins' side of flows, in the staff group: a flow file (`.yaml`) sent to the bot
//! is downloaded and checked against the active set with that file replaced; the answer is
//! its problems, or a summary of what changes with an **Activate** button. `/flows` lists
//! the versions, `/flows rollback N` activates a copy of version N. Only admins
//! (`Role::may_edit_flows`) may upload, activate or roll back.

use super::check::Snapshot;
use super::Compiled;
use crate::channels::telegram::{StaffMessage, TgError};
use crate::context::App;
use crate::domain::callback::FlowAction;
use crate::domain::MessageKind;
use crate::jobs::Outcome;
use crate::notices::staff_reply_job;
use crate::store::{self, UserRow};
use serde_json::json;
use std::sync::Arc;
use tracing::info;

/// A flow file is at most this big.
const MAX_BYTES: usize = 256 * 1024;

fn say(app: &App, what: &str, ctx: minijinja::Value) -> String {
    let ctx = minijinja::context! { what, ..ctx };
    app.templates.render("staff/flows.txt", ctx).unwrap_or_else(|e| e.to_string())
}

/// The file id and name of a flow file sent in the staff group.
pub fn flow_file(m: &StaffMessage) -> Option<(String, String)> {
    if m.content.kind != MessageKind::Document {
        return None;
    }
    let name = m.content.extra.as_ref()?["file_name"].as_str()?.to_string();
    let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
    yaml.then(|| (m.content.file_id.clone().unwrap_or_default(), name))
}

/// A flow file arrived: refuse it, or queue its download and check. Returns the answer to
/// post now, if any.
pub async fn on_file(
    app: &App,
    tx: &mut store::Conn,
    m: &StaffMessage,
    user: &UserRow,
    (file_id, name): (String, String),
    now: i64,
) -> Result<Option<String>, store::StoreError> {
    if !user.role.may_edit_flows() {
        return Ok(Some(say(app, "refused_role", minijinja::context! {})));
    }
    // The call script is not a flow: it is taken with the flows off too.
    if !app.flows.enabled() && name != super::script::FILE {
        return Ok(Some(say(app, "off", minijinja::context! {})));
    }
    let job = crate::jobs::Job::FlowUpload {
        file_id: file_id.to_string(),
        name: name.to_string(),
        user: user.id,
        chat: m.chat,
        thread: m.thread,
    }
    .into_new(format!("flow_upload:{}", m.message_id), None, now);
    store::jobs_enqueue(tx, &job, now).await?;
    Ok(None)
}

/// The job: download the file, check the set with it, answer with problems or a summary.
pub async fn check_upload(
    app: &Arc<App>,
    (file_id, name): (&str, String),
    user: crate::domain::UserId,
    (chat, thread): (i64, Option<i32>),
) -> anyhow::Result<Outcome> {
    let now = app.clock.now_ms();
    let answer = |text: String, kb: Option<crate::channels::telegram::Keyboard>| {
        staff_reply_job(chat, thread, &text, kb.as_ref(), now)
    };
    let bytes = match app.staff_bot.api.download(file_id).await {
        Ok(b) => b,
        Err(TgError::RetryAfter(s)) => return Ok(Outcome::WaitUntil(now + s.max(1) * 1_000)),
        Err(e @ TgError::Transient(_)) => return Ok(Outcome::Retry(e.to_string())),
        Err(e) => {
            let t = say(app, "unreadable", minijinja::context! { name, reason => e.to_string() });
            app.store.enqueue(&answer(t, None), now).await?;
            return Ok(Outcome::Done);
        }
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) if t.len() <= MAX_BYTES => t,
        Ok(_) => format!("over {} KB", MAX_BYTES / 1024),
        Err(_) => String::new(),
    };
    if text.is_empty() || text.starts_with("over ") {
        let reason = if text.is_empty() { "it is not UTF-8 text".to_string() } else { text };
        let t = say(app, "unreadable", minijinja::context! { name, reason });
        app.store.enqueue(&answer(t, None), now).await?;
        return Ok(Outcome::Done);
    }
    if name == super::script::FILE {
        let (t, kb) = super::script_admin::check_upload(app, &name, text, user, now).await?;
        app.store.enqueue(&answer(t, kb), now).await?;
        app.wake.notify_one();
        return Ok(Outcome::Done);
    }
    let Some((active_id, active)) = app.flows.active() else { return Ok(Outcome::Done) };
    let mut files: Snapshot = active.files.clone();
    files.insert(format!("flows/{name}"), text);
    let reply = match super::check(&files) {
        Err(problems) => {
            let problems: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            answer(say(app, "problems", minijinja::context! { name, problems }), None)
        }
        Ok(new) if new.hash == active.hash => answer(say(app, "unchanged", minijinja::context! { name }), None),
        Ok(new) => {
            let changes = summary(&active, &new);
            let id = app.store.insert_flow_upload(user, &name, &files, now).await?;
            let label = app.templates.label("button", "activate", "✅ Activate");
            let kb = vec![vec![(label, FlowAction::Activate(id).encode())]];
            info!(upload = id, file = %name, "a flow file passed the check and waits for activation");
            answer(say(app, "summary", minijinja::context! { name, changes, active => active_id }), Some(kb))
        }
    };
    app.store.enqueue(&reply, now).await?;
    app.wake.notify_one();
    Ok(Outcome::Done)
}

/// What changes from `old` to `new`, a line per flow.
pub fn summary(old: &Compiled, new: &Compiled) -> Vec<String> {
    let mut out = Vec::new();
    for f in &new.set.flows {
        match old.set.flow(&f.name) {
            None => out.push(format!("➕ new flow {} ({})", f.name, super::trigger_label(&f.trigger))),
            Some((_, o)) if o == f => {}
            Some((_, o)) => {
                let mut what = Vec::new();
                if o.trigger != f.trigger {
                    what.push(format!("trigger {}", super::trigger_label(&f.trigger)));
                }
                let changed: Vec<&str> = f
                    .steps
                    .iter()
                    .filter(|s| o.steps.iter().find(|x| x.id == s.id).is_some_and(|x| x.kind != s.kind))
                    .map(|s| s.id.as_str())
                    .collect();
                let added: Vec<&str> =
                    f.steps.iter().filter(|s| !o.steps.iter().any(|x| x.id == s.id)).map(|s| s.id.as_str()).collect();
                let removed: Vec<&str> =
                    o.steps.iter().filter(|s| !f.steps.iter().any(|x| x.id == s.id)).map(|s| s.id.as_str()).collect();
                for (label, ids) in [("steps changed", changed), ("steps added", added), ("steps removed", removed)] {
                    if !ids.is_empty() {
                        what.push(format!("{label}: {}", ids.join(", ")));
                    }
                }
                if o.cooldown_ms != f.cooldown_ms {
                    what.push("cooldown".into());
                }
                out.push(format!(
                    "✏️ {}: {}",
                    f.name,
                    if what.is_empty() { "order of steps".into() } else { what.join("; ") }
                ));
            }
        }
    }
    for f in &old.set.flows {
        if new.set.flow(&f.name).is_none() {
            out.push(format!("➖ flow {} removed", f.name));
        }
    }
    // The same steps with other words (written in the flow, or in a template file).
    if out.is_empty() {
        for (k, _) in new.files.iter().filter(|(k, v)| old.files.get(*k) != Some(v)) {
            out.push(format!("📝 wording changed in {k}"));
        }
    }
    out
}

/// The Activate button: the upload becomes the active version (checked again, against
/// the set active now). Returns the answer for the button and the message for the chat.
pub async fn activate(app: &App, user: &UserRow, id: i64) -> anyhow::Result<(String, Option<String>)> {
    if !user.role.may_edit_flows() {
        return Ok((say(app, "refused_role", minijinja::context! {}), None));
    }
    let Some((name, files)) = app.store.take_flow_upload(id).await? else {
        return Ok((say(app, "gone", minijinja::context! {}), None));
    };
    let now = app.clock.now_ms();
    if name == super::script::FILE {
        return super::script_admin::activate(app, user, id, &name, &files, now).await;
    }
    match app.flows.activate(files, "upload", Some(&user.name), now).await? {
        Ok(v) => {
            app.store.set_flow_upload_version(id, v).await?;
            info!(version = v, file = %name, user = user.id.0, "an uploaded flow file was activated");
            let t = say(app, "activated", minijinja::context! { version => v, source => name, by => &user.name });
            Ok((t.clone(), Some(t)))
        }
        Err(problems) => {
            let problems: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            let t = say(app, "problems", minijinja::context! { name, problems });
            Ok((t.clone(), Some(t)))
        }
    }
}

/// `/flows` and `/flows rollback N`.
pub async fn command(app: &App, user: &UserRow, args: &str) -> anyhow::Result<String> {
    let words: Vec<&str> = args.split_whitespace().collect();
    match words.as_slice() {
        [] => {
            let versions: Vec<_> = app
                .store
                .flow_versions(15)
                .await?
                .into_iter()
                .map(|(id, source, author, at, _)| json!({ "id": id, "source": source, "author": author, "at": app.local_time(at, true) }))
                .collect();
            Ok(say(app, "list", minijinja::context! { versions => minijinja::value::Serde(&versions) }))
        }
        ["rollback", n] => {
            if !user.role.may_edit_flows() {
                return Ok(say(app, "refused_role", minijinja::context! {}));
            }
            let Ok(n) = n.trim_start_matches('#').parse::<i64>() else {
                return Ok(say(app, "usage", minijinja::context! {}));
            };
            let Some(v) = app.store.flow_version(n).await? else {
                return Ok(say(app, "no_version", minijinja::context! { version => n }));
            };
            let source = format!("rollback to {n}");
            match app.flows.activate(v.files, &source, Some(&user.name), app.clock.now_ms()).await? {
                Ok(id) => Ok(say(app, "activated", minijinja::context! { version => id, source, by => &user.name })),
                Err(problems) => {
                    let problems: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
                    Ok(say(app, "problems", minijinja::context! { name => format!("version {n}"), problems }))
                }
            }
        }
        _ => Ok(say(app, "usage", minijinja::context! {})),
    }
}
