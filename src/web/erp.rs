//! `POST /webhooks/erp`: the contract the ERP's integrator pushes to (README, "ERP
//! webhook"). Signed with `X-Signature: sha256=<hex HMAC-SHA256 of the raw body>` keyed
//! with `FORECOURT_ERP_SECRET`; a UTF-8 byte-order mark may precede the JSON (1C writes
//! one); times without an offset are the dealership's local time. Idempotent on
//! `event_id`; an event older than what is stored (by `data_version`, else `sent_at`)
//! never rolls a vehicle back; unknown fields are ignored; 200 only once committed.

use super::refuse;
use crate::context::App;
use crate::domain::vehicle::{
    erp_event_status, erp_is_newer, parse_erp_time, parse_price, parse_vin, DataVersion, ErpVersion, VehicleStatus,
};
use crate::store::{self, StoreError, Upserted, VehicleInput};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use tracing::{error, info, warn};

pub const SIGNATURE_HEADER: &str = "x-signature";

/// A request that cannot be applied, with the status to answer.
struct Refusal(StatusCode, String);

fn bad(reason: impl Into<String>) -> Refusal {
    Refusal(StatusCode::BAD_REQUEST, reason.into())
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn integer(v: &Value, name: &str) -> Result<Option<i64>, Refusal> {
    match text(v) {
        None => Ok(None),
        Some(s) => s.parse::<i64>().map(Some).map_err(|_| bad(format!("vehicle.{name} `{s}` is not a whole number"))),
    }
}

/// The vehicle object of an event, read into what the store takes.
fn vehicle(v: &Value, erp: ErpVersion) -> Result<VehicleInput, Refusal> {
    if !v.is_object() {
        return Err(bad("the event has no `vehicle` object"));
    }
    let (vin, vin_check_ok) = match text(&v["vin"]) {
        None => (None, true),
        Some(raw) => {
            let parsed = parse_vin(&raw).map_err(|e| bad(format!("vehicle.vin: {e}")))?;
            (Some(parsed.value), parsed.check_digit_ok)
        }
    };
    let erp_id = text(&v["ref_key"]);
    if vin.is_none() && erp_id.is_none() {
        return Err(bad("the vehicle has neither `vin` nor `ref_key`"));
    }
    let status = match text(&v["status"]) {
        None => None,
        Some(s) => Some(VehicleStatus::parse(&s).ok_or_else(|| bad(format!("vehicle.status `{s}` is not known")))?),
    };
    let price_minor =
        text(&v["price"]).map(|p| parse_price(&p)).transpose().map_err(|e| bad(format!("vehicle.price: {e}")))?;
    Ok(VehicleInput {
        vin,
        vin_check_ok,
        stock_number: text(&v["stock_number"]),
        make: text(&v["make"]).unwrap_or_default(),
        model: text(&v["model"]).unwrap_or_default(),
        trim: text(&v["trim"]),
        year: integer(&v["year"], "year")?,
        price_minor,
        currency: text(&v["currency"]).map(|c| c.to_ascii_uppercase()),
        mileage_km: integer(&v["mileage_km"], "mileage_km")?,
        color: text(&v["color_exterior"]).or_else(|| text(&v["color"])),
        status,
        erp_id,
        erp,
    })
}

pub async fn erp_webhook(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = app.config.erp_secret.as_ref() else {
        return refuse(StatusCode::NOT_FOUND, "the ERP webhook is off (FORECOURT_ERP_SECRET is not set)");
    };
    let given =
        headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).and_then(|h| h.trim().strip_prefix("sha256="));
    if !given.is_some_and(|g| crate::channels::hmac_hex_ok(secret.expose().as_bytes(), &body, g)) {
        warn!("ERP webhook refused: bad or missing X-Signature");
        return refuse(StatusCode::UNAUTHORIZED, "bad or missing X-Signature (sha256=<hex HMAC-SHA256 of the body>)");
    }
    match apply(&app, &body).await {
        Ok(outcome) => Json(json!({ "ok": true, "outcome": outcome })).into_response(),
        Err(Refusal(status, reason)) => {
            warn!(%reason, "ERP webhook refused");
            refuse(status, &reason)
        }
    }
}

async fn apply(app: &App, body: &[u8]) -> Result<&'static str, Refusal> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let v: Value = serde_json::from_slice(body).map_err(|e| bad(format!("not JSON: {e}")))?;
    let event = v["event"].as_str().ok_or_else(|| bad("no `event`"))?.to_string();
    let event_id = text(&v["event_id"]).ok_or_else(|| bad("no `event_id`"))?;
    let tz = app.config.timezone;
    let sent_at = match v["sent_at"].as_str() {
        None => None,
        Some(s) => Some(parse_erp_time(s, tz).ok_or_else(|| bad(format!("sent_at `{s}` is not a time")))?),
    };
    // A whole number is ordered; anything else (1C's base64 `DataVersion`) is opaque.
    let data_version = text(&v["vehicle"]["data_version"]).map(|s| DataVersion::parse(&s));
    let version = ErpVersion { data_version, sent_at };
    let now = app.clock.now_ms();
    let unavailable = |e: StoreError| {
        error!(error = %e, "could not store an ERP event");
        Refusal(StatusCode::SERVICE_UNAVAILABLE, "could not store the event; try again".into())
    };

    let mut tx = app.store.begin().await.map_err(unavailable)?;
    // Claimed first: a concurrent repeat waits on the key, then finds it taken.
    if !store::record_erp_event(&mut tx, &event_id, &event, "applying", now).await.map_err(unavailable)? {
        info!(%event_id, "ERP event repeated; nothing to do");
        return Ok("duplicate");
    }
    let outcome: &'static str = match (event.as_str(), erp_event_status(&event)) {
        (_, Some(sets)) => {
            let mut input = vehicle(&v["vehicle"], version.clone())?;
            if let Some(status) = sets {
                input.status = Some(status);
            }
            let found = store::find_vehicle(&mut tx, input.vin.as_deref(), input.erp_id.as_deref()).await.map_err(
                |e| match e {
                    StoreError::Conflict(c) => Refusal(StatusCode::CONFLICT, c),
                    e => unavailable(e),
                },
            )?;
            match &found {
                Some((_, stored)) if !erp_is_newer(stored, &version) => "ignored_older",
                None if event != "vehicle.upsert" => {
                    return Err(Refusal(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "no such vehicle: send vehicle.upsert first".into(),
                    ))
                }
                None if input.make.is_empty() || input.model.is_empty() => {
                    return Err(bad("a new vehicle needs `make` and `model`"))
                }
                _ => {
                    let before = match &found {
                        Some((id, _)) => store::vehicle_in_tx(&mut tx, *id).await.map_err(unavailable)?,
                        None => None,
                    };
                    match store::upsert_vehicle(&mut tx, &input, now).await {
                        Ok(Upserted::Created(_)) => "created",
                        Ok(Upserted::Updated(id)) => {
                            let after = store::vehicle_in_tx(&mut tx, id).await.map_err(unavailable)?;
                            if let (Some(b), Some(a)) = (before, after) {
                                crate::staff::inventory::vehicle_changed(&app.templates, &mut tx, &b, &a, "ERP", now)
                                    .await
                                    .map_err(unavailable)?;
                            }
                            "updated"
                        }
                        Err(StoreError::Conflict(c)) => return Err(Refusal(StatusCode::CONFLICT, c)),
                        Err(e) => return Err(unavailable(e)),
                    }
                }
            }
        }
        // Customer records carry phone numbers, which Forecourt does not keep; matching an
        // ERP customer to a messenger identity is later work. The event is acknowledged
        // and recorded so the ERP does not retry it.
        ("customer.upsert", None) => "recorded",
        (other, None) => {
            return Err(Refusal(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("unknown event `{other}` (vehicle.upsert, vehicle.sold, vehicle.archived, customer.upsert)"),
            ))
        }
    };
    store::set_erp_event_outcome(&mut tx, &event_id, outcome).await.map_err(unavailable)?;
    tx.commit().await.map_err(unavailable)?;
    app.wake.notify_one();
    info!(%event_id, %event, outcome, "ERP event applied");
    Ok(outcome)
}

fn decimal(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

/// Send `lead.sold` to `FORECOURT_ERP_URL`, signed like the ERP's own pushes; retried with
/// backoff until a 2xx (and parked, visible in `forecourt jobs`, if it keeps failing).
pub async fn push(
    app: &Arc<App>,
    lead: crate::domain::LeadId,
    event_id: &str,
    sold_at: Option<i64>,
) -> anyhow::Result<crate::jobs::Outcome> {
    use crate::jobs::Outcome;
    let (Some(url), Some(secret)) = (app.config.erp_url.as_deref(), app.config.erp_secret.as_ref()) else {
        return Ok(Outcome::Park("FORECOURT_ERP_URL is not set".into()));
    };
    let lead_id = lead.0;
    let sold_at = sold_at.unwrap_or_else(|| app.clock.now_ms());
    let Some(lead) = app.store.lead(crate::domain::LeadId(lead_id)).await? else {
        return Ok(Outcome::Park(format!("lead #{lead_id} is gone")));
    };
    let vehicles = app.store.lead_vehicles(lead.id).await?;
    let iso = |ms: i64| {
        use chrono::TimeZone;
        app.config.timezone.timestamp_millis_opt(ms).single().map(|t| t.to_rfc3339()).unwrap_or_default()
    };
    let first = vehicles.first().map(|a| &a.vehicle);
    let body = json!({
        "event": "lead.sold",
        "event_id": event_id,
        "source": "Forecourt",
        "sent_at": iso(app.clock.now_ms()),
        "sold_at": iso(sold_at),
        "lead": { "id": lead_id },
        "customer": { "name": lead.customer_name },
        "manager": { "name": lead.owner_name },
        "price": first.and_then(|v| v.price_minor).map(decimal),
        "currency": first.and_then(|v| v.currency.clone()),
        "vehicles": vehicles.iter().map(|a| json!({
            "vin": a.vehicle.vin, "ref_key": a.vehicle.erp_id, "stock_number": a.vehicle.stock_number,
            "make": a.vehicle.make, "model": a.vehicle.model, "year": a.vehicle.year,
            "price": a.vehicle.price_minor.map(decimal), "currency": a.vehicle.currency,
        })).collect::<Vec<_>>(),
    })
    .to_string();
    match crate::channels::erp::post_signed(url, secret.expose(), body).await {
        Ok(()) => {
            info!(lead = lead_id, %event_id, "the ERP has the sale");
            Ok(Outcome::Done)
        }
        Err(why) => Ok(Outcome::Retry(why)),
    }
}
