//! `/task [@name] <when> <what>` in a lead's topic: a task for the lead's owner (or the
//! person named, or the writer when nobody owns it), due at a time people type
//! (`domain::when`), shown in the topic by its own message with ✅ Done and ⏰ +1h.

use super::Ctx;
use crate::domain::task::{self, TaskKind};
use crate::domain::{when, Actor};
use crate::store::{self, NewTask, StoreError};
use tracing::info;

pub async fn create(c: &mut Ctx<'_>, args: &str) -> Result<Option<String>, StoreError> {
    let say = |c: &Ctx<'_>, what: &str, extra: minijinja::Value| {
        c.render("staff/task_new.txt", minijinja::context! { what, forms => when::FORMS, ..extra })
    };
    if args.trim().is_empty() {
        return Ok(Some(say(c, "usage", minijinja::context! {})));
    }
    let Some(lead_id) = c.lead else { return Ok(Some(say(c, "no_lead", minijinja::context! {}))) };
    let Some(lead) = store::lead_in_tx(c.tx, lead_id).await? else { return Ok(None) };
    // `@name` first, if any.
    let (named, rest) = match args.trim().split_once(char::is_whitespace) {
        Some((w, rest)) if w.starts_with('@') => (Some(w), rest.trim()),
        _ => (None, args.trim()),
    };
    let named = match named {
        None => None,
        Some(w) => {
            let staff: Vec<_> = c.app.store.list_users().await?.into_iter().filter(|u| u.active).collect();
            let names: Vec<&str> = staff.iter().map(|u| u.name.as_str()).collect();
            match task::pick_person(w, &names) {
                Ok(i) => Some((staff[i].id, staff[i].role, staff[i].name.clone())),
                Err(could) => {
                    let list = |ix: &[usize]| ix.iter().map(|&i| names[i]).collect::<Vec<_>>().join(", ");
                    let what = if could.is_empty() { "unknown_person" } else { "ambiguous_person" };
                    let all: Vec<usize> = (0..names.len()).collect();
                    let names = if could.is_empty() { list(&all) } else { list(&could) };
                    return Ok(Some(say(c, what, minijinja::context! { name => w, names })));
                }
            }
        }
    };
    let now_local = c.app.local(c.now);
    let Some((due, title)) = when::parse(rest, now_local) else {
        let text = rest.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
        return Ok(Some(say(c, "bad_time", minijinja::context! { text })));
    };
    let title = crate::domain::text::cap_chars(crate::domain::text::clean_text(&title).trim(), 300);
    if title.is_empty() {
        return Ok(Some(say(c, "no_text", minijinja::context! { text => rest })));
    }
    let actor = Actor { id: c.user.id, role: c.user.role };
    let assignee = match task::may_create(actor, &lead.facts(), named.as_ref().map(|(id, role, _)| (*id, *role))) {
        Ok(a) => a,
        Err(e) => return Ok(Some(c.render("staff/refused.txt", minijinja::context! { reason => e.to_string() }))),
    };
    let due_at = match due {
        when::Due::After(d) => c.now + d.num_milliseconds(),
        when::Due::At(local) => c.app.instant(local),
    };
    let t = NewTask {
        lead: lead.id,
        kind: TaskKind::Manual,
        user: Some(assignee),
        title: &title,
        due_at,
        created_by: Some(c.user.id),
    };
    let id = store::insert_task(c.tx, &t, c.now).await?;
    store::bump_card(c.tx, lead.id, None, c.now).await?;
    store::jobs_enqueue(c.tx, &crate::staff::tasks::post_job(id, c.now), c.now).await?;
    store::jobs_enqueue(c.tx, &crate::ingest::topic_sync_job(lead.id, c.now), c.now).await?;
    info!(task = id.0, lead = lead.id.0, user = assignee.0, due_at, "task written");
    Ok(None)
}
