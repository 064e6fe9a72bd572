//! The media fetch job (a handler): downloads a message's file from Telegram, Viber or
//! WhatsApp into the media store, and tells the topic when it gives up. The store itself,
//! the signed links and the job's constructor are in the parent module, low in the house.

use super::FetchError;
use crate::channels::telegram::TgError;
use crate::context::App;
use crate::domain::media::{default_name, mime_from_name, sniff, TELEGRAM_DOWNLOAD_BYTES};
use crate::domain::{Direction, MediaId, MessageRowId};
use crate::ingest::topic_sync_job;
use crate::jobs::Outcome;
use crate::store::{self, MediaSource, NewMedia};
use std::sync::Arc;
use tracing::{info, warn};

/// What a download produced.
struct Downloaded {
    bytes: Vec<u8>,
    mime: Option<String>,
    name: Option<String>,
}

async fn download(app: &App, src: &MediaSource) -> Result<Downloaded, FetchError> {
    let media = src.extra.as_ref().map(|e| e["media"].clone()).unwrap_or_default();
    // Viber and WhatsApp name files in `extra.media`; Telegram documents in `extra.file_name`.
    let name = media["name"].as_str().or(src.extra.as_ref().and_then(|e| e["file_name"].as_str())).map(str::to_string);
    match (src.channel.as_str(), src.direction) {
        (_, Direction::Outgoing) | ("telegram", _) => {
            let file_id = src.telegram_file_id.as_deref().ok_or(FetchError::Gone("no Telegram file id".into()))?;
            let bot = if src.direction == Direction::Outgoing { &app.staff_bot } else { &app.customer_bot };
            let bytes = bot.api.download(file_id).await.map_err(|e| match e {
                TgError::Transient(e) => FetchError::Transient(e),
                TgError::RetryAfter(s) => FetchError::Transient(format!("rate limited for {s} s")),
                TgError::BadRequest(e) if e.contains("too big") => FetchError::TooLarge(TELEGRAM_DOWNLOAD_BYTES + 1),
                other => FetchError::Gone(other.to_string()),
            })?;
            Ok(Downloaded { bytes, mime: None, name })
        }
        ("viber", _) => {
            let api = app.viber.as_ref().ok_or(FetchError::Transient("Viber is not configured".into()))?;
            let url = media["url"].as_str().filter(|u| !u.is_empty()).ok_or(FetchError::Gone("no media URL".into()))?;
            let bytes = api.download(url).await?;
            Ok(Downloaded { bytes, mime: None, name })
        }
        ("whatsapp", _) => {
            let api = app.whatsapp.as_ref().ok_or(FetchError::Transient("WhatsApp is not configured".into()))?;
            let id = media["id"].as_str().filter(|u| !u.is_empty()).ok_or(FetchError::Gone("no media id".into()))?;
            let (bytes, mime) = api.download(id).await?;
            Ok(Downloaded { bytes, mime: mime.or(media["mime"].as_str().map(str::to_string)), name })
        }
        (other, _) => Err(FetchError::Gone(format!("no way to download from {other}"))),
    }
}

/// Keep the file of one message now (the job body, also used inline by delivery). Returns
/// the media row's id; a permanent failure is recorded as a failed row.
pub async fn fetch_now(app: &App, src: &MediaSource) -> Result<MediaId, FetchError> {
    if let Some(id) = src.media {
        return Ok(id);
    }
    let now = app.clock.now_ms();
    let kind = store::media_kind(src.kind);
    let (kept, mime, name, error) = match download(app, src).await {
        Ok(d) => {
            let mime = d
                .mime
                .clone()
                .or_else(|| sniff(&d.bytes).map(str::to_string))
                .or_else(|| d.name.as_deref().map(|n| mime_from_name(n).to_string()))
                .unwrap_or_else(|| "application/octet-stream".into());
            let name = d.name.clone().unwrap_or_else(|| default_name(src.kind, &mime));
            let (kept, _) =
                app.media.keep(d.bytes).await.map_err(|e| FetchError::Transient(format!("writing the file: {e}")))?;
            (Some(kept), Some(mime), Some(name), None)
        }
        Err(FetchError::Transient(e)) => return Err(FetchError::Transient(e)),
        Err(e) => (None, None, None, Some(e.to_string())),
    };
    let row = NewMedia {
        kind,
        file_path: kept.as_ref().map(|k| k.path.as_str()),
        telegram_file_id: src.telegram_file_id.as_deref(),
        sha256: kept.as_ref().map(|k| k.sha256.as_str()),
        size: kept.as_ref().map(|k| k.size as i64),
        name: name.as_deref(),
        mime: mime.as_deref(),
        lead: src.lead,
        customer: src.customer,
        error: error.as_deref(),
    };
    let store_err = |e: store::StoreError| FetchError::Transient(e.to_string());
    let mut tx = app.store.begin().await.map_err(store_err)?;
    let id = store::attach_media(&mut tx, src.message, &row, now).await.map_err(store_err)?;
    if src.direction == Direction::Incoming {
        // The topic may be waiting for this file.
        store::jobs_enqueue(&mut tx, &topic_sync_job(src.lead, now), now).await.map_err(store_err)?;
    }
    tx.commit().await.map_err(store_err)?;
    app.wake.notify_one();
    match (&kept, &error) {
        (Some(k), _) => info!(message = src.message.0, sha256 = %k.sha256, size = k.size, "file kept"),
        (None, Some(e)) => warn!(message = src.message.0, error = %e, "file could not be kept"),
        _ => {}
    }
    Ok(id)
}

/// The media fetch job.
pub async fn fetch(app: &Arc<App>, id: MessageRowId) -> anyhow::Result<Outcome> {
    let Some(src) = app.store.media_source(id).await? else {
        return Ok(Outcome::Done);
    };
    match fetch_now(app, &src).await {
        Ok(_) => Ok(Outcome::Done),
        Err(e) => Ok(Outcome::Retry(e.to_string())),
    }
}

/// The fetch job gave up: record the failure so the topic stops waiting for the file.
pub async fn on_gave_up(app: &Arc<App>, id: MessageRowId, error: &str) {
    let Ok(Some(src)) = app.store.media_source(id).await else { return };
    if src.media.is_some() {
        return;
    }
    let now = app.clock.now_ms();
    let reason = format!("could not be downloaded: {error}");
    let row = NewMedia {
        kind: store::media_kind(src.kind),
        file_path: None,
        telegram_file_id: src.telegram_file_id.as_deref(),
        sha256: None,
        size: None,
        name: None,
        mime: None,
        lead: src.lead,
        customer: src.customer,
        error: Some(&reason),
    };
    let result = async {
        let mut tx = app.store.begin().await?;
        store::attach_media(&mut tx, src.message, &row, now).await?;
        store::jobs_enqueue(&mut tx, &topic_sync_job(src.lead, now), now).await?;
        tx.commit().await?;
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = result {
        warn!(error = %e, "could not record a failed download");
    }
    app.wake.notify_one();
}
