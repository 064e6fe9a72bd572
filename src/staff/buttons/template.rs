//! 📨 Send the re-engagement template: the one message WhatsApp allows once its 24-hour
//! window has closed. Sending it is a reply (`domain::lead::staff_replied`): it claims an
//! unclaimed lead and moves a new one to contacted.

use super::{refused, Answer, Press};
use crate::domain::{lead, Actor, Channel, Direction, MessageKind};
use crate::staff::actions::{queue_outgoing, render};
use crate::store::{NewMessage, StoreError};
use serde_json::json;
use tracing::info;

pub async fn send(p: &mut Press<'_>) -> Result<Answer, StoreError> {
    let (app, user, lead) = (p.app, p.user, p.lead);
    let changes = match lead::staff_replied(Actor { id: user.id, role: user.role }, &lead.facts()) {
        Ok(c) => c,
        Err(e) => return Ok(refused(app, e)),
    };
    let Some((name, language)) = app.config.whatsapp.as_ref().and_then(|w| w.template.clone()) else {
        return Ok((render(app, "staff/done.txt", minijinja::context! { action => "no_template" }), true));
    };
    crate::changes::apply(app, p.tx, lead.id, user.id, &changes, None, p.now).await?;
    let out = NewMessage {
        lead: lead.id,
        customer: lead.customer_id,
        user: Some(user.id),
        channel: Channel::Whatsapp.into(),
        direction: Direction::Outgoing,
        kind: MessageKind::Text,
        body: Some(format!("[template {name}]")),
        telegram_file_id: None,
        media_group_id: None,
        extra: Some(json!({ "template": name, "language": language })),
        external_id: None,
        sent_at: p.now,
        delivery: Some(crate::domain::message::DeliveryState::Pending),
        staff_state: crate::domain::message::StaffState::NotShown,
    };
    queue_outgoing(p.tx, &out, p.now).await?;
    info!(lead = lead.id.0, user = user.id.0, template = %name, "re-engagement template queued");
    Ok((render(app, "staff/done.txt", minijinja::context! { action => "template" }), false))
}
