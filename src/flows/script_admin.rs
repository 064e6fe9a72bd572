//! The call script sent to the staff bot as `call_script.yaml`, like a flow file: checked
//! against the active script (it must pass and raise the version), answered with what
//! changes and an **Activate** button, made active by an admin's press. Only admins
//! (`Role::may_edit_flows`) upload and activate, as for the flows.

use super::script::Refused;
use crate::channels::telegram::Keyboard;
use crate::context::App;
use crate::domain::callback::FlowAction;
use crate::domain::script::Replace;
use crate::domain::UserId;
use crate::store::UserRow;
use std::collections::BTreeMap;
use tracing::info;

/// The admins' flow messages (templates/staff/flows.txt), as `flows::admin` writes them.
fn say(app: &App, what: &str, ctx: minijinja::Value) -> String {
    let ctx = minijinja::context! { what, ..ctx };
    app.templates.render("staff/flows.txt", ctx).unwrap_or_else(|e| e.to_string())
}

/// What a refused script's answer says.
fn refused(app: &App, name: &str, r: Refused) -> String {
    match r {
        Refused::Problems(problems) => say(app, "problems", minijinja::context! { name, problems }),
        Refused::Replace(Replace::Same) => say(app, "script_unchanged", minijinja::context! { name }),
        Refused::Replace(Replace::VersionNotRaised { active, new }) => {
            say(app, "script_version", minijinja::context! { name, active, new })
        }
    }
}

/// The upload job's answer for a script file: its problems, or what changes with an
/// Activate button (the upload kept until pressed).
pub async fn check_upload(
    app: &App,
    name: &str,
    text: String,
    user: UserId,
    now: i64,
) -> anyhow::Result<(String, Option<Keyboard>)> {
    let new = match app.script.candidate(&text) {
        Ok(s) => s,
        Err(r) => return Ok((refused(app, name, r), None)),
    };
    let active = app.script.current();
    let changes = active.changes(&new);
    let files = BTreeMap::from([(format!("flows/{name}"), text)]);
    let id = app.store.insert_flow_upload(user, name, &files, now).await?;
    let label = app.templates.label("button", "activate", "✅ Activate");
    info!(upload = id, version = new.version, "a call script passed the check and waits for activation");
    let t = say(
        app,
        "script_summary",
        minijinja::context! { name, changes, active => active.version, version => new.version, criteria => new.len() },
    );
    Ok((t, Some(vec![vec![(label, FlowAction::Activate(id).encode())]])))
}

/// The Activate button on a script upload.
pub async fn activate(
    app: &App,
    user: &UserRow,
    id: i64,
    name: &str,
    files: &BTreeMap<String, String>,
    now: i64,
) -> anyhow::Result<(String, Option<String>)> {
    let Some(text) = files.values().next() else {
        return Ok((say(app, "gone", minijinja::context! {}), None));
    };
    let t = match app.script.activate(text, now).await? {
        Ok(s) => {
            app.store.set_flow_upload_version(id, s.version).await?;
            info!(version = s.version, user = user.id.0, "an uploaded call script was activated");
            say(app, "script_activated", minijinja::context! { version => s.version, by => &user.name })
        }
        Err(r) => refused(app, name, r),
    };
    Ok((t.clone(), Some(t)))
}
