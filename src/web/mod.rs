//! The HTTP service: health, and Telegram updates by webhook (Viber, WhatsApp and media
//! links are in `providers`, telephony in `calls`, the ERP in `erp`, the reporting page in
//! `report`). A webhook is answered 200
//! only once everything it caused is committed; a bad secret or an unreadable body is
//! refused with a reason and changes nothing.

mod calls;
pub mod erp;
mod providers;
pub mod report;

use crate::context::App;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{error, warn};

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/livez", get(livez))
        .route("/webhooks/telegram", post(telegram_webhook))
        .route("/webhooks/viber", post(providers::viber_webhook))
        .route("/webhooks/whatsapp", get(providers::whatsapp_verify).post(providers::whatsapp_webhook))
        .route("/media/{id}/{name}", get(providers::media_file))
        .route("/webhooks/erp", post(erp::erp_webhook))
        .route("/webhooks/ringostat", post(calls::ringostat_webhook))
        .route("/webhooks/binotel", post(calls::binotel_webhook))
        .merge(report::routes())
        .with_state(app)
        .layer(trace_layer())
}

/// A span per request: method and path only (query strings carry tokens and signatures),
/// with the status and latency logged at debug when it ends.
fn trace_layer() -> tower_http::trace::TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    impl Fn(&axum::http::Request<axum::body::Body>) -> tracing::Span + Clone,
> {
    tower_http::trace::TraceLayer::new_for_http()
        .make_span_with(|req: &axum::http::Request<axum::body::Body>| {
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
        })
}

/// Liveness: answers without touching the database (also the benchmarks' ceiling).
async fn livez() -> &'static str {
    "ok"
}

pub async fn serve(app: Arc<App>, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    let r = axum::serve(listener, router(app).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        })
        .await;
    if let Err(e) = r {
        error!(error = %e, "HTTP server stopped");
    }
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    match app.store.ping().await {
        Ok(()) => {
            let jobs = app.store.job_counts().await.unwrap_or_default();
            let counts: serde_json::Map<_, _> = jobs.into_iter().map(|c| (c.status, json!(c.count))).collect();
            Json(json!({"status": "ok", "jobs": counts})).into_response()
        }
        Err(e) => {
            error!(error = %e, "health check: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "database unreachable"}))).into_response()
        }
    }
}

pub(crate) fn refuse(status: StatusCode, reason: &str) -> Response {
    (status, Json(json!({"error": reason}))).into_response()
}

async fn telegram_webhook(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = app.config.telegram.webhook_secret.as_ref() else {
        return refuse(StatusCode::NOT_FOUND, "webhook mode is off (FORECOURT_TELEGRAM_WEBHOOK_SECRET is not set)");
    };
    let given = headers.get("x-telegram-bot-api-secret-token").map(|v| v.as_bytes()).unwrap_or_default();
    if !bool::from(given.ct_eq(secret.expose().as_bytes())) {
        warn!("Telegram webhook refused: wrong or missing secret token");
        return refuse(StatusCode::UNAUTHORIZED, "wrong or missing X-Telegram-Bot-Api-Secret-Token");
    }
    let update: teloxide::types::Update = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(e) => {
            warn!(error = %e, "Telegram webhook refused: not an update");
            return refuse(StatusCode::BAD_REQUEST, &format!("not a Telegram update: {e}"));
        }
    };
    let bot = app.customer_bot.clone();
    let both = app.same_bot();
    let update_id = update.id.0 as i64;
    match crate::staff::process_update(&app, &bot, true, both, &update).await {
        Ok(()) => {
            app.update_tries.clear(bot.id, update_id);
            Json(json!({"ok": true})).into_response()
        }
        Err(e) => {
            let tries = app.update_tries.failed(bot.id, update_id);
            if tries >= crate::staff::aside::SET_ASIDE_AFTER
                && crate::staff::aside::set_aside(&app, &bot, &update, &e.to_string(), tries).await.is_ok()
            {
                // Kept aside: Telegram may move on to the next updates.
                app.update_tries.clear(bot.id, update_id);
                return Json(json!({"ok": true, "set_aside": true})).into_response();
            }
            // Telegram will deliver it again.
            error!(error = %e, update_id, tries, "could not store a webhook update");
            refuse(StatusCode::SERVICE_UNAVAILABLE, "could not store the update; try again")
        }
    }
}
