//! Vehicles from the staff topic: find with /car, attach, see the car's status and the
//! other leads that hold it on the card, detach; the rules from the buttons.

use crate::harness::*;
use forecourt::domain::Role;
use forecourt::sandbox::telegram::ChatMessage;
use forecourt::store::VehicleInput;

fn car(vin: &str, make: &str, model: &str, year: i64) -> VehicleInput {
    VehicleInput {
        vin: Some(vin.into()),
        vin_check_ok: true,
        make: make.into(),
        model: model.into(),
        year: Some(year),
        price_minor: Some(2_450_000),
        currency: Some("USD".into()),
        ..VehicleInput::default()
    }
}

/// The bot's newest message in the topic that offers attach buttons.
fn results(t: &TestApp, chat: i64, thread: i32) -> Option<ChatMessage> {
    t.fake
        .topic_messages(chat, thread)
        .into_iter()
        .rev()
        .find(|m| m.from_bot && buttons(m).iter().any(|(_, d)| d.contains(":va:")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_finds_and_attaches_a_car_and_every_card_holding_it_shows_its_status() {
    let t = TestApp::start().await;
    t.store
        .insert_vehicles(
            &[car("1M8GDM9AXKP042788", "Toyota", "RAV4", 2019), car("KNAPM81ABNK100001", "Kia", "Sportage", 2021)],
            1,
        )
        .await
        .unwrap();
    let max = t.staff(9401, "Max Petrenko", Role::Manager).await;
    let iryna = t.staff(9402, "Iryna Bondar", Role::Manager).await;
    let boss = t.staff(9403, "Sofia Lysenko", Role::Supervisor).await;
    let analyst = t.staff(9404, "Anna Data", Role::Analyst).await;
    let olena = t.customer(701, "Olena", None);
    let taras = t.customer(702, "Taras", None);
    t.fake.customer_writes(&olena, "Is the RAV4 still there?");
    t.fake.customer_writes(&taras, "I want a RAV4 too");
    let (c1, th1, card1) = t.topic_of(&olena).await;
    let (c2, th2, card2) = t.topic_of(&taras).await;
    let lead1 = t.lead_of(&olena).await.id;
    let lead2 = t.lead_of(&taras).await.id;

    // The card offers Vehicle ▸, which opens the bot's inline mode for this lead.
    let card = t.card_shows(c1, card1, "Olena").await;
    assert_eq!(inline_query_of(&card, "Vehicle").as_deref(), Some(format!("#{lead1} ").as_str()));

    // Max searches with a misspelled make and attaches the car.
    t.fake.staff_writes(c1, Some(th1), &max, "/car toyta rav4");
    t.until("results with Attach buttons", |_| results(&t, c1, th1).is_some()).await;
    let r = results(&t, c1, th1).unwrap();
    let text = r.content.text_or_caption().unwrap().to_string();
    assert!(text.contains("Toyota RAV4 2019") && text.contains("…042788") && !text.contains("Kia"), "{text}");
    let data = button_data(&r, "Toyota RAV4").unwrap();
    let cb = t.fake.staff_presses(c1, r.message_id, &max, &data);
    assert_eq!(t.callback_answer(&cb).await, "Attached.");
    let c = t.card_shows(c1, card1, "🚘 Toyota RAV4 2019 · VIN …042788 · available").await;
    assert!(button_data(&c, "Detach Toyota RAV4").is_some(), "{:?}", buttons(&c));
    // Pressing it again changes nothing.
    let cb = t.fake.staff_presses(c1, r.message_id, &max, &data);
    assert!(t.callback_answer(&cb).await.contains("already attached"));

    // The ERP (or a prepayment) reserves the car; Iryna's lead wants it too.
    sqlx::query("UPDATE vehicles SET status = 'reserved' WHERE vin = '1M8GDM9AXKP042788'")
        .execute(t.store.pool())
        .await
        .unwrap();
    t.fake.staff_writes(c2, Some(th2), &iryna, "/car 042788");
    t.until("results for Taras", |_| results(&t, c2, th2).is_some()).await;
    let r = results(&t, c2, th2).unwrap();
    let text = r.content.text_or_caption().unwrap().to_string();
    assert!(text.contains("reserved") && text.contains(&format!("on lead #{lead1}")), "{text}");
    let data = button_data(&r, "Toyota RAV4").unwrap();
    let cb = t.fake.staff_presses(c2, r.message_id, &iryna, &data);
    assert!(t.callback_answer(&cb).await.contains("only a supervisor"), "a manager cannot take it");
    let cb = t.fake.staff_presses(c2, r.message_id, &analyst, &data);
    assert!(t.callback_answer(&cb).await.contains("analysts"));
    let cb = t.fake.staff_presses(c2, r.message_id, &boss, &data);
    assert_eq!(t.callback_answer(&cb).await, "Attached.", "a supervisor overrides");
    t.card_shows(c2, card2, &format!("⚠️ also on lead #{lead1}")).await;
    t.card_shows(c1, card1, &format!("⚠️ also on lead #{lead2}")).await;

    // Max detaches it from Olena's lead: both cards follow.
    let c = t.card(c1, card1);
    let data = button_data(&c, "Detach Toyota RAV4").unwrap();
    let cb = t.fake.staff_presses(c1, card1, &max, &data);
    assert_eq!(t.callback_answer(&cb).await, "Detached.");
    t.until("Olena's card no longer lists it", |_| {
        !t.card(c1, card1).content.text_or_caption().unwrap().contains("Toyota RAV4")
    })
    .await;
    t.until("Taras's card no longer warns", |_| {
        let text = t.card(c2, card2).content.text_or_caption().unwrap().to_string();
        text.contains("Toyota RAV4") && !text.contains("also on lead")
    })
    .await;
    let history = t.store.lead_history(lead1).await.unwrap();
    let vehicle_rows: Vec<_> = history.iter().filter(|h| h.field == "vehicle").collect();
    assert_eq!(vehicle_rows.len(), 2, "attached and detached: {history:?}");
    assert!(vehicle_rows[0].to_value.as_deref().unwrap().contains("Toyota RAV4"));
    assert!(vehicle_rows[1].from_value.as_deref().unwrap().contains("Toyota RAV4"));

    // Nothing found, and no query at all, get a clear answer.
    t.fake.staff_writes(c1, Some(th1), &max, "/car lamborghini");
    t.topic_has(c1, th1, "nothing found", |m| {
        m.content.text_or_caption().is_some_and(|x| x.contains("Nothing in stock matches “lamborghini”"))
    })
    .await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vehicle_opens_the_inline_search_and_the_chosen_car_is_attached_and_never_reaches_the_customer() {
    let t = TestApp::start().await;
    t.store
        .insert_vehicles(
            &[car("1M8GDM9AXKP042788", "Toyota", "RAV4", 2019), car("KNAPM81ABNK100001", "Kia", "Sportage", 2021)],
            1,
        )
        .await
        .unwrap();
    let max = t.staff(9421, "Max Petrenko", Role::Manager).await;
    let olena = t.customer(721, "Olena", None);
    t.fake.customer_writes(&olena, "Is the RAV4 still there?");
    let (chat, thread, card) = t.topic_of(&olena).await;
    let lead = t.lead_of(&olena).await.id;
    // Max presses Vehicle ▸: his input box holds `@bot #N `; he types the model.
    let card_msg = t.card_shows(chat, card, "Olena").await;
    let prefill = inline_query_of(&card_msg, "Vehicle").expect("Vehicle ▸ opens the inline mode");
    let query = t.fake.staff_types_inline(&max, &format!("{prefill}toyta rav4"));
    let results = inline_answer(&t.fake, &query).await;
    assert_eq!(results.len(), 1, "{results:?}");
    assert!(results[0]["title"].as_str().unwrap().contains("Toyota RAV4 2019"), "{results:?}");
    // He picks it: the message goes into the topic through the bot, and the car is attached.
    t.fake.staff_picks_inline(chat, Some(thread), &max, &query, 0);
    t.card_shows(chat, card, "🚘 Toyota RAV4 2019 · VIN …042788 · available").await;
    t.topic_has(chat, thread, "the bot says it is attached", |m| {
        m.from_bot && m.content.text_or_caption().is_some_and(|x| x.contains("Attached"))
    })
    .await;
    t.settled().await;
    let to_customer = t.fake.bot_messages_to(olena.id);
    assert!(
        to_customer.iter().all(|m| !m.content.text_or_caption().unwrap_or("").contains("RAV4")),
        "the inline message never reaches the customer: {to_customer:?}"
    );
    let out: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE direction = 'outgoing' AND lead_id = $1")
        .bind(lead.0)
        .fetch_one(t.store.pool())
        .await
        .unwrap();
    assert_eq!(out, 0, "nothing was queued for the customer");
    // A stranger's inline query gets no results; a query naming no lead neither.
    let stranger = forecourt::sandbox::telegram::FakeUser::new(7771, "Stranger", None);
    let q = t.fake.staff_types_inline(&stranger, &format!("#{lead} rav4"));
    let r = inline_answer(&t.fake, &q).await;
    assert!(r.is_empty());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepayment_reserves_sold_sells_and_lost_releases_with_notices_on_other_leads() {
    let t = TestApp::start().await;
    t.store.insert_vehicles(&[car("1M8GDM9AXKP042788", "Toyota", "RAV4", 2019)], 1).await.unwrap();
    let max = t.staff(9411, "Max Petrenko", Role::Manager).await;
    let iryna = t.staff(9412, "Iryna Bondar", Role::Manager).await;
    let a = t.customer(711, "Andriy", None);
    let b = t.customer(712, "Bohdana", None);
    t.fake.customer_writes(&a, "RAV4?");
    t.fake.customer_writes(&b, "RAV4 please");
    let (c1, th1, card1) = t.topic_of(&a).await;
    let (c2, th2, card2) = t.topic_of(&b).await;
    let lead1 = t.lead_of(&a).await.id;
    for (chat, thread, who) in [(c1, th1, &max), (c2, th2, &iryna)] {
        t.fake.staff_writes(chat, Some(thread), who, "/car rav4");
        t.until("results", |_| results(&t, chat, thread).is_some()).await;
        let r = results(&t, chat, thread).unwrap();
        let cb = t.fake.staff_presses(chat, r.message_id, who, &button_data(&r, "Toyota RAV4").unwrap());
        assert_eq!(t.callback_answer(&cb).await, "Attached.");
    }
    let status = || async {
        sqlx::query_scalar::<_, String>("SELECT status FROM vehicles").fetch_one(t.store.pool()).await.unwrap()
    };

    // Max claims and takes the prepayment: the car is reserved, Bohdana's lead hears of it.
    let cb = t.press(c1, card1, &max, "Claim");
    t.callback_answer(&cb).await;
    t.card_shows(c1, card1, "Max").await;
    let cb = t.press(c1, card1, &max, "Stage");
    t.callback_answer(&cb).await;
    t.card_shows(c1, card1, "choose the new stage").await;
    let cb = t.press(c1, card1, &max, "Prepayment");
    t.callback_answer(&cb).await;
    t.card_shows(c1, card1, "· reserved").await;
    assert_eq!(status().await, "reserved");
    t.topic_has(c2, th2, "the other lead hears of the reservation", |m| {
        m.content.text_or_caption().is_some_and(|x| x.contains(&format!("Toyota RAV4 is now reserved — lead #{lead1}")))
    })
    .await;
    t.card_shows(c2, card2, "· reserved").await;

    // Bohdana's lead is lost: another lead's reservation is not released.
    let cb = t.press(c2, card2, &iryna, "Claim");
    t.callback_answer(&cb).await;
    t.card_shows(c2, card2, "Iryna").await;
    let cb = t.press(c2, card2, &iryna, "Lost");
    t.callback_answer(&cb).await;
    t.card_shows(c2, card2, "Why was the lead lost").await;
    let cb = t.press(c2, card2, &iryna, "Bought elsewhere");
    t.callback_answer(&cb).await;
    t.settled().await;
    assert_eq!(status().await, "reserved", "Andriy's prepayment still holds it");

    // Sold: the car is sold.
    let cb = t.press(c1, card1, &max, "Stage");
    t.callback_answer(&cb).await;
    t.card_shows(c1, card1, "choose the new stage").await;
    let cb = t.press(c1, card1, &max, "Sold");
    assert!(t.callback_answer(&cb).await.contains("Sold"));
    t.card_shows(c1, card1, "· sold").await;
    assert_eq!(status().await, "sold");
    t.stop().await;
}

/// Post a signed ERP event; the HTTP status.
async fn erp_post(t: &TestApp, body: String) -> u16 {
    let sig = format!("sha256={}", forecourt::channels::hmac_hex(ERP_SECRET.as_bytes(), body.as_bytes()));
    let r = reqwest::Client::new()
        .post(format!("{}/webhooks/erp", t.http()))
        .header("X-Signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erp_status_change_is_said_on_every_lead_that_holds_the_car() {
    let t = TestApp::start().await;
    t.store.insert_vehicles(&[car("1M8GDM9AXKP042788", "Toyota", "RAV4", 2019)], 1).await.unwrap();
    let max = t.staff(9421, "Max Petrenko", Role::Manager).await;
    let c = t.customer(721, "Vasyl", None);
    t.fake.customer_writes(&c, "RAV4?");
    let (chat, thread, card) = t.topic_of(&c).await;
    t.fake.staff_writes(chat, Some(thread), &max, "/car 042788");
    t.until("results", |_| results(&t, chat, thread).is_some()).await;
    let r = results(&t, chat, thread).unwrap();
    let cb = t.fake.staff_presses(chat, r.message_id, &max, &button_data(&r, "Toyota RAV4").unwrap());
    assert_eq!(t.callback_answer(&cb).await, "Attached.");
    t.card_shows(chat, card, "· available").await;

    let body = serde_json::json!({"event": "vehicle.sold", "event_id": "sold-1", "sent_at": "2026-11-23T12:00:00",
        "vehicle": {"vin": "1M8GDM9AXKP042788", "data_version": 2}})
    .to_string();
    assert_eq!(erp_post(&t, body).await, 200);
    t.topic_has(chat, thread, "the topic hears it", |m| {
        m.content.text_or_caption().is_some_and(|x| x.contains("Toyota RAV4 is now sold — ERP"))
    })
    .await;
    let shown = t.card_shows(chat, card, "· sold").await;
    let text = shown.content.text_or_caption().unwrap().to_string();
    assert!(
        text.contains("🚘 Toyota RAV4 2019 · VIN …042788 · sold · 24 500 USD\nLast message"),
        "the ERP's event keeps make and model: {text}"
    );

    // Any change the ERP sends (the price, here) shows on the card, with no notice.
    let body = serde_json::json!({"event": "vehicle.upsert", "event_id": "price-1", "sent_at": "2026-11-23T13:00:00",
        "vehicle": {"vin": "1M8GDM9AXKP042788", "price": "23900", "currency": "USD", "data_version": 3}})
    .to_string();
    assert_eq!(erp_post(&t, body).await, 200);
    t.card_shows(chat, card, "· sold · 23 900 USD").await;

    // So does a CSV import, run as its own process beside the service: the new price on the
    // card, and a status change said in the topic.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("stock.csv");
    std::fs::write(&csv, "vin,make,model,price,currency,status\n1M8GDM9AXKP042788,Toyota,RAV4,22000,USD,available\n")
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_forecourt"))
        .args(["vehicles", "import", csv.to_str().unwrap()])
        .current_dir(dir.path())
        .env_clear()
        .env("DATABASE_URL", &t.config.database_url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    t.card_shows(chat, card, "· available · 22 000 USD").await;
    t.topic_has(chat, thread, "the import's status change is said", |m| {
        m.content.text_or_caption().is_some_and(|x| x.contains("Toyota RAV4 is now available — CSV"))
    })
    .await;

    // The vehicle card: data, status and the leads that hold it.
    t.fake.staff_writes(chat, Some(thread), &max, "/vehicle 042788");
    let lead = t.lead_of(&c).await.id;
    t.topic_has(chat, thread, "the vehicle card", |m| {
        m.content.text_or_caption().is_some_and(|x| {
            x.contains("Toyota RAV4 2019")
                && x.contains("VIN: 1M8GDM9AXKP042788")
                && x.contains("Price: 22 000 USD")
                && x.contains("Status: available")
                && x.contains(&format!("#{lead} Vasyl (new)"))
        })
    })
    .await;
    t.fake.staff_writes(chat, Some(thread), &max, "/vehicle 999999");
    t.topic_has(chat, thread, "an unknown VIN is said", |m| {
        m.content.text_or_caption().is_some_and(|x| x.contains("No car in stock has a VIN ending “999999”"))
    })
    .await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_results_and_several_cars_each_get_their_own_line() {
    let t = TestApp::start().await;
    t.store
        .insert_vehicles(
            &[car("1M8GDM9AXKP042788", "Toyota", "RAV4", 2019), car("JTMBFREV5JJ123456", "Toyota", "RAV4", 2021)],
            1,
        )
        .await
        .unwrap();
    let max = t.staff(9431, "Max Petrenko", Role::Manager).await;
    let c = t.customer(731, "Lida", None);
    t.fake.customer_writes(&c, "two RAV4s?");
    let (chat, thread, card) = t.topic_of(&c).await;
    t.fake.staff_writes(chat, Some(thread), &max, "/car rav4");
    t.until("results", |_| results(&t, chat, thread).is_some()).await;
    let r = results(&t, chat, thread).unwrap();
    let text = r.content.text_or_caption().unwrap().to_string();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("Toyota RAV4")).collect();
    assert_eq!(lines.len(), 2, "{text}");
    for b in buttons(&r) {
        let cb = t.fake.staff_presses(chat, r.message_id, &max, &b.1);
        assert_eq!(t.callback_answer(&cb).await, "Attached.");
    }
    t.card_shows(chat, card, "…042788").await;
    let c = t.card_shows(chat, card, "…123456").await;
    let text = c.content.text_or_caption().unwrap().to_string();
    assert_eq!(text.lines().filter(|l| l.starts_with("🚘 Toyota RAV4")).count(), 2, "one line each: {text}");
    t.stop().await;
}

/// A stand-in for the ERP's receiving end: records every push, fails the first one.
async fn erp_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<(String, String, u16)>>>) {
    use axum::http::HeaderMap;
    let seen: std::sync::Arc<std::sync::Mutex<Vec<(String, String, u16)>>> = Default::default();
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/forecourt",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let s = s.clone();
            async move {
                let sig = headers.get("x-signature").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let mut seen = s.lock().unwrap();
                let status = if seen.is_empty() { 500 } else { 200 };
                seen.push((sig, body, status));
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/forecourt", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_reaches_the_erp_exactly_once_signed_after_a_failure() {
    let (url, seen) = erp_receiver().await;
    let t = TestApp::start_with(Opts { erp_url: Some(url), ..Opts::default() }).await;
    t.store.insert_vehicles(&[car("1M8GDM9AXKP042788", "Toyota", "RAV4", 2019)], 1).await.unwrap();
    let max = t.staff(9441, "Max Petrenko", Role::Manager).await;
    let c = t.customer(741, "Yevhen", None);
    t.fake.customer_writes(&c, "I'll take the RAV4");
    let (chat, thread, card) = t.topic_of(&c).await;
    let cb = t.press(chat, card, &max, "Claim");
    t.callback_answer(&cb).await;
    t.card_shows(chat, card, "Max").await;
    t.fake.staff_writes(chat, Some(thread), &max, "/car rav4");
    t.until("results", |_| results(&t, chat, thread).is_some()).await;
    let r = results(&t, chat, thread).unwrap();
    let cb = t.fake.staff_presses(chat, r.message_id, &max, &button_data(&r, "Toyota RAV4").unwrap());
    assert_eq!(t.callback_answer(&cb).await, "Attached.");
    t.card_shows(chat, card, "· available").await;
    let cb = t.press(chat, card, &max, "Stage");
    t.callback_answer(&cb).await;
    t.card_shows(chat, card, "choose the new stage").await;
    let cb = t.press(chat, card, &max, "Sold");
    assert!(t.callback_answer(&cb).await.contains("Sold"));

    t.until_ok("the ERP accepted the sale after one failure", || seen.lock().unwrap().iter().any(|p| p.2 == 200)).await;
    t.settled().await;
    let pushes = seen.lock().unwrap().clone();
    assert_eq!(pushes.len(), 2, "one failed attempt, one accepted: {pushes:?}");
    let ids: Vec<String> = pushes
        .iter()
        .map(|(_, body, _)| {
            serde_json::from_str::<serde_json::Value>(body).unwrap()["event_id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids[0], ids[1], "a retry is the same event");
    for (sig, body, _) in &pushes {
        let expected = format!("sha256={}", forecourt::channels::hmac_hex(ERP_SECRET.as_bytes(), body.as_bytes()));
        assert_eq!(sig, &expected, "signed like the ERP's own pushes");
    }
    let event: serde_json::Value = serde_json::from_str(&pushes[1].1).unwrap();
    assert_eq!(event["event"], "lead.sold");
    assert_eq!(event["vehicles"][0]["vin"], "1M8GDM9AXKP042788");
    assert_eq!(event["price"], "24500.00");
    assert_eq!(event["manager"]["name"], "Max Petrenko");
    assert_eq!(event["customer"]["name"], "Yevhen");
    t.stop().await;
}
