//! The ERP contract: `POST /webhooks/erp`, signed, idempotent, never rolling a car back.

use crate::harness::*;
use forecourt::domain::vehicle::VehicleStatus;
use serde_json::{json, Value};

async fn post(t: &TestApp, body: &[u8], signature: Option<String>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/webhooks/erp", t.http()))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(s) = signature {
        req = req.header("X-Signature", s);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn sign(body: &[u8]) -> String {
    format!("sha256={}", forecourt::channels::hmac_hex(ERP_SECRET.as_bytes(), body))
}

async fn send(t: &TestApp, event: &Value) -> (u16, Value) {
    let body = event.to_string().into_bytes();
    post(t, &body, Some(sign(&body))).await
}

fn upsert(event_id: &str, version: i64, status: &str, price: &str) -> Value {
    json!({
        "event": "vehicle.upsert", "event_id": event_id, "source": "BAS Auto", "sent_at": "2026-11-23T10:00:00",
        "vehicle": {"ref_key": "7a1c-55e0", "vin": "1M8GDM9AXKP042788", "stock_number": "S-1", "make": "Toyota",
            "model": "RAV4", "trim": "Adventure", "year": 2019, "mileage_km": 48000, "color_exterior": "white",
            "price": price, "currency": "USD", "status": status, "data_version": version,
            "a_field_we_do_not_know": {"nested": true}},
    })
}

async fn story(db: Db) {
    let t = TestApp::start_with(Opts { db, ..Opts::default() }).await;
    // Unsigned, or signed with another key: refused, nothing stored.
    let body = upsert("e-0", 1, "available", "24500").to_string().into_bytes();
    assert_eq!(post(&t, &body, None).await.0, 401);
    let forged = format!("sha256={}", forecourt::channels::hmac_hex(b"another key entirely", &body));
    assert_eq!(post(&t, &body, Some(forged)).await.0, 401);
    assert!(t.store.vehicles(None).await.unwrap().is_empty(), "{db:?}");

    // 1C's habits: a byte-order mark before the JSON, local time without an offset.
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(upsert("e-1", 1, "available", "24 500.50").to_string().as_bytes());
    let (status, answer) = post(&t, &bom, Some(sign(&bom))).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("created")), "{db:?}: {answer}");
    let v = &t.store.vehicles(None).await.unwrap()[0];
    assert_eq!(
        (v.price_minor, v.color.as_deref(), v.erp_id.as_deref()),
        (Some(2_450_050), Some("white"), Some("7a1c-55e0"))
    );

    // The same event again: acknowledged, nothing changes.
    let (status, answer) = post(&t, &bom, Some(sign(&bom))).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("duplicate")), "{db:?}");

    // Sold (version 3), then a replayed older upsert (version 2) arrives late: no roll-back.
    let sold = json!({"event": "vehicle.sold", "event_id": "e-3", "sent_at": "2026-11-23T12:00:00+02:00",
        "vehicle": {"ref_key": "7a1c-55e0", "data_version": 3}, "sale": {"price": "23900", "customer": "Olena"}});
    assert_eq!(send(&t, &sold).await.1["outcome"], "updated", "{db:?}");
    let (status, answer) = send(&t, &upsert("e-2", 2, "available", "24000")).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("ignored_older")), "{db:?}");
    let v = &t.store.vehicles(None).await.unwrap()[0];
    assert_eq!((v.status, v.price_minor), (VehicleStatus::Sold, Some(2_450_050)), "{db:?}: a replay must not un-sell");

    // Without versions, the send time decides.
    let archived = json!({"event": "vehicle.archived", "event_id": "e-4", "sent_at": "2026-11-24T09:00:00",
        "vehicle": {"vin": "1M8GDM9AXKP042788", "data_version": 4}});
    assert_eq!(send(&t, &archived).await.1["outcome"], "updated");
    assert_eq!(t.store.vehicles(None).await.unwrap()[0].status, VehicleStatus::Archived);

    // Bad input: a clear 4xx, and the event id stays free for a corrected retry.
    let (status, answer) = send(&t, &json!({"event": "vehicle.teleported", "event_id": "e-5"})).await;
    assert_eq!(status, 422, "{answer}");
    let (status, _) =
        send(&t, &json!({"event": "vehicle.sold", "event_id": "e-6", "vehicle": {"ref_key": "nope"}})).await;
    assert_eq!(status, 422, "selling a car the ERP never sent");
    let (status, answer) = send(
        &t,
        &json!({"event": "vehicle.upsert", "event_id": "e-7",
        "vehicle": {"vin": "TOO-SHORT", "make": "X", "model": "Y"}}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(answer["error"].as_str().unwrap().contains("17 characters"), "{answer}");
    let (status, _) = post(&t, b"{not json", Some(sign(b"{not json"))).await;
    assert_eq!(status, 400);
    let fixed = json!({"event": "vehicle.upsert", "event_id": "e-7", "sent_at": "2026-11-24T09:00:00",
        "vehicle": {"vin": "JTMBFREV5JJ123456", "make": "Toyota", "model": "Land Cruiser", "price": 61000}});
    assert_eq!(send(&t, &fixed).await.1["outcome"], "created", "{db:?}: the corrected retry is applied");
    let customer = json!({"event": "customer.upsert", "event_id": "e-8", "customer": {"name": "Olena"}});
    assert_eq!(send(&t, &customer).await.1["outcome"], "recorded");
    assert_eq!(t.store.vehicles(None).await.unwrap().len(), 2, "{db:?}");

    // 1C's own DataVersion: an opaque base64 string, applied; only "same or not" is read
    // from it, and the send time orders the rest.
    let c1 = |event_id: &str, version: &str, sent_at: &str, status: &str| {
        json!({"event": "vehicle.upsert", "event_id": event_id, "sent_at": sent_at,
            "vehicle": {"ref_key": "1c-0001", "vin": "WVWZZZ1KZAW000111", "make": "Volkswagen", "model": "Golf",
                "status": status, "data_version": version}})
    };
    let (status, answer) = send(&t, &c1("e-9", "AAAAAgAAAAA=", "2026-11-25T10:00:00", "available")).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("created")), "{db:?}: {answer}");
    let (status, answer) = send(&t, &c1("e-10", "AAAAAwAAAAA=", "2026-11-25T11:00:00", "reserved")).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("updated")), "{db:?}: {answer}");
    // The older version replayed under a new event id, and the same version again: nothing.
    let (_, answer) = send(&t, &c1("e-11", "AAAAAgAAAAA=", "2026-11-25T10:00:00", "available")).await;
    assert_eq!(answer["outcome"], "ignored_older", "{db:?}: {answer}");
    let (_, answer) = send(&t, &c1("e-12", "AAAAAwAAAAA=", "2026-11-25T12:00:00", "available")).await;
    assert_eq!(answer["outcome"], "ignored_older", "{db:?}: the same version changes nothing: {answer}");
    let golf = t.store.vehicles(None).await.unwrap().into_iter().find(|v| v.model == "Golf").unwrap();
    assert_eq!(golf.status, VehicleStatus::Reserved, "{db:?}: never rolled back");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_erp_contract_on_sqlite() {
    story(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_erp_contract_on_postgres() {
    if postgres_enabled().await {
        story(Db::Postgres).await;
    }
}
