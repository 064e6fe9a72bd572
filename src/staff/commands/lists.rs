//! `/my` and `/queue`: open leads, newest first.

use crate::context::App;
use crate::domain::UserId;
use crate::store::StoreError;
use serde_json::json;

/// The open leads of `owner` (`None`: the unclaimed ones), rendered with `template`.
pub async fn open_leads(app: &App, owner: Option<UserId>, template: &str) -> Result<String, StoreError> {
    let leads = app.store.open_leads(owner, 30).await?;
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
            })
        })
        .collect();
    let ctx = minijinja::context! { leads => minijinja::value::Serde(&view) };
    Ok(app.templates.render(template, ctx).unwrap_or_else(|_| String::from("…")))
}
