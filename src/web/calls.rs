//! Telephony webhooks: Ringostat (`POST /webhooks/ringostat?token=…`, JSON or form data)
//! and Binotel (`POST /webhooks/binotel?token=…`, form data; optionally from listed
//! addresses only). The token is compared in constant time before the body is read; a
//! wrong one is refused (401) with nothing stored. A body that does not read is refused
//! (400) with the reason. A call is answered 2xx only once it is committed, and 503 when
//! the database cannot take it (the provider retries).

use super::refuse;
use crate::channels::telephony::{binotel, ringostat, Fields, ReadContext};
use crate::config::Secret;
use crate::context::App;
use crate::domain::call::Provider;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tracing::{error, warn};

fn token_ok(expected: &Secret, q: &HashMap<String, String>) -> bool {
    let given = q.get("token").map(String::as_bytes).unwrap_or_default();
    bool::from(given.ct_eq(expected.expose().as_bytes()))
}

pub async fn ringostat_webhook(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = app.config.calls.ringostat_token.as_ref() else {
        return refuse(StatusCode::NOT_FOUND, "Ringostat is off (FORECOURT_RINGOSTAT_TOKEN is not set)");
    };
    if !token_ok(token, &q) {
        warn!("Ringostat webhook refused: wrong or missing token");
        return refuse(StatusCode::UNAUTHORIZED, "wrong or missing ?token=");
    }
    take(&app, Provider::Ringostat, &headers, &body).await
}

pub async fn binotel_webhook(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = app.config.calls.binotel_token.as_ref() else {
        return refuse(StatusCode::NOT_FOUND, "Binotel is off (FORECOURT_BINOTEL_TOKEN is not set)");
    };
    let allowed = &app.config.calls.binotel_allowed_ips;
    if !allowed.is_empty() {
        let from = client_ip(peer.ip(), &headers);
        if !allowed.contains(&from) {
            warn!(%from, "Binotel webhook refused: not from an allowed address");
            return refuse(StatusCode::FORBIDDEN, "this address may not send Binotel events");
        }
    }
    if !token_ok(token, &q) {
        warn!("Binotel webhook refused: wrong or missing token");
        return refuse(StatusCode::UNAUTHORIZED, "wrong or missing ?token=");
    }
    take(&app, Provider::Binotel, &headers, &body).await
}

/// The sender's address: the peer's, or, when the peer is a proxy on this machine, the
/// first address it forwards for.
fn client_ip(peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    if !peer.is_loopback() {
        return peer;
    }
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(peer)
}

async fn take(app: &App, provider: Provider, headers: &HeaderMap, body: &[u8]) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let cx = ReadContext { key: &app.phones, timezone: app.config.timezone };
    let read = Fields::read(body, content_type).and_then(|f| match provider {
        Provider::Ringostat => ringostat::read(&f, &cx),
        Provider::Binotel => binotel::read(&f, &cx),
    });
    let ev = match read {
        Ok(Some(ev)) => ev,
        Ok(None) => return ok(provider),
        Err(e) => {
            warn!(provider = provider.as_str(), error = %e, "telephony webhook refused: unreadable event");
            return refuse(StatusCode::BAD_REQUEST, &format!("not a {} call event: {e}", provider.label()));
        }
    };
    let mut ev = ev;
    let now = app.clock.now_ms();
    let (at, replaced) = crate::domain::text::sane_time(ev.started_at, now);
    if replaced {
        warn!(provider = provider.as_str(), call = %ev.external_id, "a call's start time is not believable; kept as now");
        ev.started_at = at;
    }
    match app.call_writer.submit(crate::calls::shard(&ev), ev).await {
        Ok(_) => ok(provider),
        Err(e) => {
            error!(provider = provider.as_str(), error = %e, "could not store a call event; the provider will retry");
            refuse(StatusCode::SERVICE_UNAVAILABLE, "could not store the event; try again")
        }
    }
}

/// What each provider expects back.
fn ok(provider: Provider) -> Response {
    match provider {
        Provider::Binotel => Json(json!({"status": "success"})).into_response(),
        Provider::Ringostat => Json(json!({"ok": true})).into_response(),
    }
}
