//! 👤 Owner ▸ on the card (supervisors and admins): the active managers with their open
//! leads; a press gives the lead to one (`domain::lead::give_to`), writes the history row,
//! moves the topic to their group (the topic sync), and tells both managers privately.

use super::{refused, Answer, Press};
use crate::channels::telegram::url_button;
use crate::domain::{lead, routing, Actor, UserId};
use crate::jobs::Job;
use crate::staff::card::Menu;
use crate::staff::words::render;
use crate::store::{self, StoreError};
use tracing::info;

pub async fn menu(p: &mut Press<'_>) -> Result<Answer, StoreError> {
    let (app, user) = (p.app, p.user);
    let actor = Actor { id: user.id, role: user.role };
    // The same rule as giving it, to nobody in particular.
    if let Err(e) = lead::give_to(actor, &p.lead.facts(), UserId(0)) {
        return Ok(refused(app, e));
    }
    crate::changes::apply(app, p.tx, p.lead.id, user.id, &[], Some(&Menu::Owner.encode()), p.now).await?;
    Ok((String::new(), false))
}

pub async fn give(p: &mut Press<'_>, to: UserId) -> Result<Answer, StoreError> {
    let (app, user, l) = (p.app, p.user, p.lead);
    let actor = Actor { id: user.id, role: user.role };
    let changes = match lead::give_to(actor, &l.facts(), to) {
        Ok(c) => c,
        Err(e) => return Ok(refused(app, e)),
    };
    let Some(target) = store::user_in_tx(p.tx, to).await?.filter(|u| u.active && u.role.may_act()) else {
        return Ok((render(app, "staff/stale_button.txt", minijinja::context! {}), true));
    };
    crate::changes::apply(app, p.tx, l.id, user.id, &changes, Some(&Menu::Main.encode()), p.now).await?;
    if l.first_response_at.is_none() {
        let due = app.business_after(p.now, app.config.assignment.first_response_minutes);
        store::set_silence_due(p.tx, l.id, due).await?;
    }
    info!(lead = l.id.0, from = ?l.owner, to = to.0, by = user.id.0, "lead given to another owner");
    let link = l.staff_chat_id.zip(l.topic_thread_id).and_then(|(c, t)| routing::topic_link(c, t));
    let ctx = minijinja::context! {
        by => &user.name, lead => l.id.0, customer => &l.customer_name, to => &target.name,
    };
    let tell = |who: i64, what: &str, button: bool| {
        let text = render(app, "staff/owner.txt", minijinja::context! { what, ..ctx.clone() });
        let keyboard = link
            .as_ref()
            .filter(|_| button)
            .map(|u| vec![vec![(app.templates.label("button", "open_topic", "Open the topic"), url_button(u))]]);
        Job::StaffReply {
            chat: who,
            thread: None,
            text: Some(text.trim().to_string()),
            keyboard,
            photos_of: None,
            mention: None,
        }
        .into_new(format!("private:{who}"), None, p.now)
    };
    let mut jobs = vec![tell(target.telegram_id.0, "yours", true)];
    if let Some(old) = l.owner.filter(|o| *o != user.id) {
        if let Some(o) = store::user_in_tx(p.tx, old).await? {
            jobs.push(tell(o.telegram_id.0, "taken", false));
        }
    }
    for j in &jobs {
        store::jobs_enqueue(p.tx, j, p.now).await?;
    }
    let answer = render(app, "staff/owner.txt", minijinja::context! { what => "done", ..ctx });
    Ok((answer.trim().to_string(), false))
}
