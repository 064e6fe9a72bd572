//! Viber and WhatsApp webhooks, and the signed media links they fetch files from.
//! Signatures are checked over the raw bytes before anything is parsed; a bad one is
//! refused (401) with nothing stored. A webhook is answered 200 only once what it brought
//! is committed, so a provider's retry after a crash loses nothing and stores nothing twice.

use super::refuse;
use crate::channels::{viber, whatsapp, Outgoing};
use crate::context::App;
use crate::domain::delivery::Receipt;
use crate::domain::{Channel, MediaId};
use crate::store;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use tracing::{error, info, warn};

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn ok() -> Response {
    Json(json!({"ok": true})).into_response()
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    error!(error = %e, "could not store a webhook; the provider will retry");
    refuse(StatusCode::SERVICE_UNAVAILABLE, "could not store the event; try again")
}

pub async fn viber_webhook(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(api) = app.viber.as_ref() else {
        return refuse(StatusCode::NOT_FOUND, "Viber is off (FORECOURT_VIBER_TOKEN is not set)");
    };
    if !viber::signature_ok(api.token(), &body, header_str(&headers, viber::SIGNATURE_HEADER)) {
        warn!("Viber webhook refused: bad or missing X-Viber-Content-Signature");
        return refuse(StatusCode::UNAUTHORIZED, "bad or missing X-Viber-Content-Signature");
    }
    let event = match viber::parse_event(&body) {
        Ok(e) => e,
        Err(e) => {
            warn!(error = %e, "Viber webhook refused: unreadable event");
            return refuse(StatusCode::BAD_REQUEST, &format!("not a Viber event: {e}"));
        }
    };
    let now = app.clock.now_ms();
    match event {
        viber::Event::Webhook | viber::Event::Other(_) => ok(),
        viber::Event::ConversationStarted { user } => {
            // Not subscribed yet: the welcome returned here is the only message allowed.
            let language = user.language.as_deref().map(|l| l.split(['-', '_']).next().unwrap_or("").to_string());
            match app.templates.render("customer/welcome.txt", minijinja::context! { name => user.name, language }) {
                Ok(text) => Json(api.message_body(None, &Outgoing::Text(text))).into_response(),
                Err(e) => {
                    error!(error = %e, "the welcome template failed");
                    ok()
                }
            }
        }
        viber::Event::Subscribed { user } => match subscription(&app, Channel::Viber, &user.id, true, now).await {
            Ok(()) => ok(),
            Err(e) => unavailable(e),
        },
        viber::Event::Unsubscribed { user_id, .. } => {
            match subscription(&app, Channel::Viber, &user_id, false, now).await {
                Ok(()) => ok(),
                Err(e) => unavailable(e),
            }
        }
        viber::Event::Message(m) if m.check_length().is_err() => {
            let why = m.check_length().err().unwrap_or_default();
            warn!(why, "Viber webhook refused: a text longer than Viber allows");
            refuse(StatusCode::BAD_REQUEST, &format!("refused: {why}"))
        }
        viber::Event::Message(m) => match app.inbox.store(vec![m], now).await {
            Ok(()) => {
                app.wake.notify_one();
                ok()
            }
            Err(e) => unavailable(e),
        },
        viber::Event::Receipt { token, receipt, error, at, .. } => {
            match receipts(&app, Channel::Viber, &[(token, receipt, error, None, at)]).await {
                Ok(()) => ok(),
                Err(e) => unavailable(e),
            }
        }
    }
}

/// Viber (un)subscribed: mark the identity and tell the lead's topic.
async fn subscription(app: &App, channel: Channel, user: &str, subscribed: bool, now: i64) -> anyhow::Result<()> {
    let mut tx = app.store.begin_inbound().await?;
    let Some((customer, lead)) = store::set_subscribed(&mut tx, channel, user, subscribed).await? else {
        tx.commit().await?;
        return Ok(()); // someone who never wrote: nothing to say
    };
    if let Some(lead) = lead {
        let name = if subscribed { "staff/resubscribed.txt" } else { "staff/unsubscribed.txt" };
        let text = app.templates.render(name, minijinja::context! { channel => channel.label() })?;
        crate::notices::notice_in_tx(&mut tx, lead, customer, &text, None, now).await?;
    }
    tx.commit().await?;
    app.wake.notify_one();
    info!(%channel, subscribed, "customer subscription changed");
    Ok(())
}

type ReceiptIn = (String, Receipt, Option<String>, Option<i64>, i64);

/// Record delivery receipts in one transaction; failures are said in the topic.
async fn receipts(app: &App, channel: Channel, items: &[ReceiptIn]) -> anyhow::Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let mut tx = app.store.begin_inbound().await?;
    let mut unmatched = Vec::new();
    let now = app.clock.now_ms();
    for (id, receipt, error, code, at) in items {
        let (at, replaced) = crate::domain::text::sane_time(*at, now);
        if replaced {
            warn!(%channel, id, "a receipt's time stamp is not believable; kept as now");
        }
        let at = &at;
        match store::record_receipt(&mut tx, channel, id, *receipt, error.as_deref(), *at).await? {
            Some(a) if a.receipt == Receipt::Failed => {
                crate::staff::deliver::receipt_failed(app, &mut tx, channel, &a, *code).await?
            }
            Some(_) => {}
            None => unmatched.push((id, *code)),
        }
    }
    tx.commit().await?;
    // A receipt for a send being recorded at this very moment: neither transaction saw
    // the other's row. Now that ours is committed, look again (the send does the same).
    for (id, code) in unmatched {
        let mut tx = app.store.begin_inbound().await?;
        if let Some(a) = store::apply_waiting_receipts(&mut tx, channel, id).await? {
            if a.receipt == Receipt::Failed {
                crate::staff::deliver::receipt_failed(app, &mut tx, channel, &a, code).await?;
            }
        }
        tx.commit().await?;
    }
    app.wake.notify_one();
    Ok(())
}

#[derive(Deserialize)]
pub struct Verify {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// Meta's subscription check: echo the challenge when the verify token matches.
pub async fn whatsapp_verify(State(app): State<Arc<App>>, Query(q): Query<Verify>) -> Response {
    let Some(cfg) = app.config.whatsapp.as_ref() else {
        return refuse(StatusCode::NOT_FOUND, "WhatsApp is off (FORECOURT_WHATSAPP_TOKEN is not set)");
    };
    use subtle::ConstantTimeEq;
    let given = q.token.unwrap_or_default();
    let matches = bool::from(given.as_bytes().ct_eq(cfg.verify_token.expose().as_bytes()));
    match (q.mode.as_deref(), matches, q.challenge) {
        (Some("subscribe"), true, Some(c)) => c.into_response(),
        (Some("subscribe"), false, _) => {
            warn!("WhatsApp webhook verification refused: wrong verify token");
            refuse(StatusCode::FORBIDDEN, "wrong hub.verify_token")
        }
        _ => refuse(StatusCode::BAD_REQUEST, "expected hub.mode=subscribe, hub.verify_token and hub.challenge"),
    }
}

pub async fn whatsapp_webhook(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(cfg) = app.config.whatsapp.as_ref() else {
        return refuse(StatusCode::NOT_FOUND, "WhatsApp is off (FORECOURT_WHATSAPP_TOKEN is not set)");
    };
    if !whatsapp::signature_ok(cfg.app_secret.expose(), &body, header_str(&headers, whatsapp::SIGNATURE_HEADER)) {
        warn!("WhatsApp webhook refused: bad or missing X-Hub-Signature-256");
        return refuse(StatusCode::UNAUTHORIZED, "bad or missing X-Hub-Signature-256");
    }
    let items = match whatsapp::parse_notification(&body, &cfg.phone_number_id) {
        Ok(i) => i,
        Err(e @ whatsapp::Refused::Malformed(_)) => {
            warn!(error = %e, "WhatsApp webhook refused: unreadable notification");
            return refuse(StatusCode::BAD_REQUEST, &e.to_string());
        }
        Err(e @ whatsapp::Refused::OtherNumber(_)) => {
            warn!(error = %e, configured = %cfg.phone_number_id, "WhatsApp webhook refused: another business number");
            return refuse(StatusCode::FORBIDDEN, &e.to_string());
        }
    };
    let now = app.clock.now_ms();
    let mut messages = Vec::new();
    let mut statuses = Vec::new();
    for item in items {
        match item {
            whatsapp::Item::Message(m) => {
                if let Err(why) = m.check_length() {
                    warn!(why, "WhatsApp webhook refused: a text longer than WhatsApp allows");
                    return refuse(StatusCode::BAD_REQUEST, &format!("refused: {why}"));
                }
                messages.push(m)
            }
            whatsapp::Item::Status { id, receipt, error_code, error, at, .. } => {
                let error = match (error_code, error) {
                    (Some(c), Some(e)) => Some(format!("{c}: {e}")),
                    (Some(c), None) => Some(c.to_string()),
                    (None, e) => e,
                };
                statuses.push((id, receipt, error, error_code, at));
            }
        }
    }
    if !messages.is_empty() {
        if let Err(e) = app.inbox.store(messages, now).await {
            return unavailable(e);
        }
    }
    if let Err(e) = receipts(&app, Channel::Whatsapp, &statuses).await {
        return unavailable(e);
    }
    app.wake.notify_one();
    ok()
}

/// A kept file by signed link (what Viber and WhatsApp fetch when we send them a file).
pub async fn media_file(
    State(app): State<Arc<App>>,
    Path((id, _name)): Path<(i64, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let exp = q.get("exp").and_then(|e| e.parse::<i64>().ok());
    let (Some(exp), Some(sig)) = (exp, q.get("sig")) else {
        return refuse(StatusCode::FORBIDDEN, "the link is not signed (exp and sig are required)");
    };
    if let Err(why) = app.links.check(MediaId(id), exp, sig, app.clock.now_ms()) {
        return refuse(StatusCode::FORBIDDEN, why);
    }
    let media = match app.store.media(MediaId(id)).await {
        Ok(Some(m)) => m,
        Ok(None) => return refuse(StatusCode::NOT_FOUND, "no such file"),
        Err(e) => return unavailable(e),
    };
    let Some(path) = media.file_path.filter(|_| media.ready) else {
        return refuse(StatusCode::NOT_FOUND, "the file was not kept");
    };
    let file = match tokio::fs::File::open(app.media.path(&path)).await {
        Ok(f) => f,
        Err(e) => {
            error!(error = %e, path, "a kept file is missing from the disk");
            return refuse(StatusCode::NOT_FOUND, "the file is missing");
        }
    };
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let mime = media.mime.unwrap_or_else(|| "application/octet-stream".into());
    let name = media.name.unwrap_or_else(|| "file".into()).replace(['"', '\\', '\r', '\n'], "_");
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    if let Ok(v) = mime.parse() {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Some(size) = media.size {
        h.insert(header::CONTENT_LENGTH, size.into());
    }
    if let Ok(v) = format!("inline; filename=\"{name}\"").parse() {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("private, max-age=3600"));
    resp
}
