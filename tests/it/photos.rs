//! Vehicle photos from the staff group: an album captioned `/photo VIN` goes to the car (not
//! to the customer), `/photo` as a reply picks a customer's photo, the card's Send photos
//! sends the car's album on Telegram (one album), Viber (pictures) and WhatsApp (images),
//! recorded as outgoing messages; `/vehicle` shows the photos; the refusals.

use crate::harness::*;
use forecourt::domain::{LeadId, Role};
use forecourt::sandbox::telegram::{ChatMessage, Content, FakeUser};
use forecourt::store::VehicleInput;
use serde_json::json;

const VIN: &str = "1M8GDM9AXKP042788";

async fn start_on(db: Db) -> TestApp {
    let t = TestApp::start_with(Opts { channels: true, db, ..Opts::default() }).await;
    let rav4 = VehicleInput {
        vin: Some(VIN.into()),
        vin_check_ok: true,
        make: "Toyota".into(),
        model: "RAV4".into(),
        year: Some(2019),
        price_minor: Some(2_450_000),
        currency: Some("USD".into()),
        ..VehicleInput::default()
    };
    t.store.insert_vehicles(&[rav4], 1).await.unwrap();
    t
}

fn text_of(m: &ChatMessage) -> String {
    m.content.text_or_caption().map(str::to_string).unwrap_or_else(|| m.content.describe())
}

async fn topic_says(t: &TestApp, chat: i64, thread: i32, needle: &str) {
    t.topic_has(chat, thread, needle, |m| m.from_bot && text_of(m).contains(needle)).await;
}

/// Attach the RAV4 to a lead the way a manager does: `/car` and the Attach button.
async fn attach(t: &TestApp, chat: i64, thread: i32, who: &FakeUser) {
    t.fake.staff_writes(chat, Some(thread), who, "/car 042788");
    t.until("search results", |f| {
        f.topic_messages(chat, thread).iter().any(|m| m.from_bot && buttons(m).iter().any(|(_, d)| d.contains(":va:")))
    })
    .await;
    let r = t
        .fake
        .topic_messages(chat, thread)
        .into_iter()
        .rev()
        .find(|m| m.from_bot && buttons(m).iter().any(|(_, d)| d.contains(":va:")))
        .unwrap();
    let cb = t.fake.staff_presses(chat, r.message_id, who, &button_data(&r, "Toyota RAV4").unwrap());
    assert_eq!(t.callback_answer(&cb).await, "Attached.");
}

async fn photo_count(t: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM media WHERE vehicle_id IS NOT NULL")
        .fetch_one(t.store.pool())
        .await
        .unwrap()
}

async fn outgoing_photos(t: &TestApp, lead: LeadId) -> Vec<(Option<String>, Option<String>)> {
    sqlx::query_as(
        "SELECT delivery, body FROM messages WHERE lead_id = $1 AND direction = 'outgoing' AND kind = 'photo' ORDER BY id",
    )
    .bind(lead.0)
    .fetch_all(t.store.pool())
    .await
    .unwrap()
}

on_both_engines!(
    a_manager_adds_an_album_to_a_car_and_sends_it_on_every_channel,
    vehicle_photos_on_every_channel_on_postgres,
    every_channel_story
);

async fn every_channel_story(db: Db) {
    let t = start_on(db).await;
    let max = t.staff(9501, "Max Petrenko", Role::Manager).await;
    let olena = t.customer(751, "Olena", None);
    t.fake.customer_writes(&olena, "Photos of the RAV4, please");
    t.viber().customer_writes("vb-photo", "Pavlo", "and to me on Viber").await;
    t.wa().customer_writes("380631", "Polina", "and to me on WhatsApp").await;
    let (tc, tt, tcard) = t.topic_of(&olena).await;
    let lt = t.lead_of(&olena).await.id;
    let lv = t.lead_by_identity("viber", "vb-photo").await.id;
    let lw = t.lead_by_identity("whatsapp", "380631").await.id;
    let (vc, vt, vcard) = t.topic_of_lead(lv).await;
    let (wc, wt, wcard) = t.topic_of_lead(lw).await;
    attach(&t, tc, tt, &max).await;
    attach(&t, vc, vt, &max).await;
    attach(&t, wc, wt, &max).await;
    assert!(button_data(&t.card(tc, tcard), "Send photos").is_none(), "no photos yet, no button");

    // An album of three in Olena's topic, the first captioned /photo VIN-tail: all three go
    // to the car, none to the customer, and one confirmation counts them.
    let pics = [jpeg("front"), jpeg("side"), jpeg("interior")];
    for (i, p) in pics.iter().enumerate() {
        let id = t.fake.upload_file("photo", p);
        let caption = (i == 0).then(|| "/photo 042788".to_string());
        t.fake.staff_sends_as(tc, Some(tt), &max, Content::Photo { file_id: id, caption }, None, Some("alb-1"));
    }
    topic_says(&t, tc, tt, "Toyota RAV4 …042788 now has 3 photos").await;
    assert_eq!(photo_count(&t).await, 3);
    let card = t.card_shows(tc, tcard, "📷 3").await;
    assert!(button_data(&card, "📷 Send photos (3)").is_some(), "{:?}", buttons(&card));
    t.card_shows(vc, vcard, "📷 3").await;
    assert!(t.fake.bot_messages_to(olena.id).iter().all(|m| m.content.file_id().is_none()), "nothing went to Olena");
    // The same album sent again adds nothing.
    let again = t.fake.upload_file("photo", &pics[0]);
    t.fake.staff_sends(tc, Some(tt), &max, Content::Photo { file_id: again, caption: Some("/photo".into()) });
    t.settled().await;
    assert_eq!(photo_count(&t).await, 3, "the same picture is kept once per car");

    // Telegram: one album of three, captioned with the car, recorded as outgoing messages.
    let card = t.card(tc, tcard);
    let cb = t.fake.staff_presses(tc, tcard, &max, &button_data(&card, "Send photos").unwrap());
    assert_eq!(t.callback_answer(&cb).await, "Sending 3 photos…");
    t.until("Olena got the album", |f| {
        f.bot_messages_to(olena.id).iter().filter(|m| m.media_group_id.is_some()).count() == 3
    })
    .await;
    let album: Vec<ChatMessage> =
        t.fake.bot_messages_to(olena.id).into_iter().filter(|m| m.media_group_id.is_some()).collect();
    assert_eq!(album[0].content.text_or_caption(), Some("Toyota RAV4 2019"));
    for (m, p) in album.iter().zip(&pics) {
        assert_eq!(t.fake.file_bytes(m.content.file_id().unwrap()).as_deref(), Some(p.as_slice()), "in order");
    }
    topic_says(&t, tc, tt, "Max is sending 3 photos of Toyota RAV4 …042788 to the customer").await;
    eventually("three outgoing photo messages, sent", || async {
        let rows = outgoing_photos(&t, lt).await;
        (rows.len() == 3 && rows.iter().all(|r| r.0.as_deref() == Some("sent"))).then_some(())
    })
    .await;

    // Viber: three pictures by signed link; WhatsApp: three images.
    let card = t.card(vc, vcard);
    let cb = t.fake.staff_presses(vc, vcard, &max, &button_data(&card, "Send photos").unwrap());
    assert_eq!(t.callback_answer(&cb).await, "Sending 3 photos…");
    let card = t.card(wc, wcard);
    let cb = t.fake.staff_presses(wc, wcard, &max, &button_data(&card, "Send photos").unwrap());
    assert_eq!(t.callback_answer(&cb).await, "Sending 3 photos…");
    t.until_ok("Viber got three pictures", || {
        t.viber().sent_to("vb-photo").iter().filter(|s| s.kind == "picture").count() == 3
    })
    .await;
    t.until_ok("WhatsApp got three images", || {
        t.wa().sent_to("380631").iter().filter(|s| s.kind == "image").count() == 3
    })
    .await;
    let viber: Vec<String> = t
        .viber()
        .sent_to("vb-photo")
        .into_iter()
        .filter(|s| s.kind == "picture")
        .map(|s| s.file.unwrap().sha256)
        .collect();
    assert_eq!(viber, pics.iter().map(|p| sha(p)).collect::<Vec<_>>(), "the car's photos, in order");
    let wa: Vec<_> = t.wa().sent_to("380631").into_iter().filter(|s| s.kind == "image").collect();
    assert_eq!(wa[0].text.as_deref(), Some("Toyota RAV4 2019"));
    assert_eq!(wa.iter().map(|s| s.file.clone().unwrap().sha256).collect::<Vec<_>>(), viber);
    eventually("the Viber and WhatsApp sends are recorded", || async {
        let v = outgoing_photos(&t, lv).await;
        let w = outgoing_photos(&t, lw).await;
        (v.len() == 3 && w.len() == 3 && v.iter().chain(&w).all(|r| r.0.as_deref() != Some("pending"))).then_some(())
    })
    .await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customers_photo_is_picked_by_reply_and_the_refusals_are_polite() {
    let t = start_on(Db::Sqlite).await;
    let max = t.staff(9511, "Max Petrenko", Role::Manager).await;
    let anna = t.staff(9512, "Anna Data", Role::Analyst).await;
    let stranger = FakeUser::new(9599, "Random", None);
    t.viber().customer_sends_picture("vb-seller", "Ihor", &jpeg("my car for trade-in"), "my old car").await;
    let lead = t.lead_by_identity("viber", "vb-seller").await;
    let (c, th, _) = t.topic_of_lead(lead.id).await;
    t.until("the customer's picture is shown", |f| {
        f.topic_messages(c, th).iter().any(|m| m.from_bot && matches!(m.content, Content::Photo { .. }))
    })
    .await;
    let shown = t
        .fake
        .topic_messages(c, th)
        .into_iter()
        .find(|m| m.from_bot && matches!(m.content, Content::Photo { .. }))
        .unwrap()
        .message_id;

    // No car on the lead yet and no VIN: which car?
    t.fake.staff_sends_as(c, Some(th), &max, Content::Text("/photo".into()), Some(shown), None);
    topic_says(&t, c, th, "Which car?").await;
    // A VIN nobody has.
    t.fake.staff_sends_as(c, Some(th), &max, Content::Text("/photo 999999".into()), Some(shown), None);
    topic_says(&t, c, th, "No car in stock has a VIN ending “999999”").await;
    // Not a reply, no photo: how to use it. (A plain topic message is, for Telegram, a reply
    // to the topic's first message; that does not count.)
    t.fake.staff_writes(c, Some(th), &max, "/photo 042788");
    topic_says(&t, c, th, "To add photos to a car").await;
    // An analyst and a stranger are refused.
    t.fake.staff_sends_as(c, Some(th), &anna, Content::Text("/photo 042788".into()), Some(shown), None);
    topic_says(&t, c, th, "analysts can read leads but not change them").await;
    t.fake.staff_sends_as(c, Some(th), &stranger, Content::Text("/photo 042788".into()), Some(shown), None);
    t.settled().await;
    assert_eq!(photo_count(&t).await, 0);

    // With the car attached, a reply with /photo alone picks the customer's picture.
    attach(&t, c, th, &max).await;
    t.fake.staff_sends_as(c, Some(th), &max, Content::Text("/photo".into()), Some(shown), None);
    topic_says(&t, c, th, "Added 1 photo to Toyota RAV4 …042788 — 1 in all").await;
    let kept: String = sqlx::query_scalar("SELECT sha256 FROM media WHERE vehicle_id IS NOT NULL")
        .fetch_one(t.store.pool())
        .await
        .unwrap();
    assert_eq!(kept, sha(&jpeg("my car for trade-in")));
    // A file that is not a picture, captioned /photo, is refused.
    let pdf = t.fake.upload_file("document", b"%PDF-1.7 the registration");
    t.fake.staff_sends(
        c,
        Some(th),
        &max,
        Content::Document { file_id: pdf, caption: Some("/photo".into()), file_name: Some("reg.pdf".into()) },
    );
    topic_says(&t, c, th, "That file is not a photo").await;
    assert_eq!(photo_count(&t).await, 1);
    assert!(t.viber().sent_to("vb-seller").iter().all(|s| s.kind == "text"), "nothing of this reached the customer");

    // /vehicle shows the photos above the card.
    t.fake.staff_writes(c, Some(th), &max, "/vehicle 042788");
    topic_says(&t, c, th, "Photos: 1 (above)").await;
    let msgs = t.fake.topic_messages(c, th);
    let card_at = msgs.iter().position(|m| m.from_bot && text_of(m).contains("Photos: 1 (above)")).unwrap();
    assert!(matches!(msgs[card_at - 1].content, Content::Photo { .. }), "the photo comes just before the card");
    let card = text_of(&msgs[card_at]);
    assert!(card.contains("Photos: 1 (above)\n"), "the photos line ends its line: {card}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_are_not_sent_into_a_closed_whatsapp_window() {
    let t = start_on(Db::Sqlite).await;
    let max = t.staff(9521, "Max Petrenko", Role::Manager).await;
    let day_ago = t.clock.now_ms() - 25 * 3_600_000;
    t.wa().customer_sends_at("380639", "Oksana", json!({"type": "text", "text": {"body": "photos?"}}), day_ago).await;
    let lead = t.lead_by_identity("whatsapp", "380639").await;
    let (c, th, card) = t.topic_of_lead(lead.id).await;
    attach(&t, c, th, &max).await;
    let id = t.fake.upload_file("photo", &jpeg("rear"));
    t.fake.staff_sends(c, Some(th), &max, Content::Photo { file_id: id, caption: Some("/photo".into()) });
    t.card_shows(c, card, "📷 1").await;
    let cb = t.fake.staff_presses(c, card, &max, &button_data(&t.card(c, card), "Send photos").unwrap());
    assert!(t.callback_answer(&cb).await.contains("24-hour window is closed"));
    t.settled().await;
    assert!(t.wa().sent_to("380639").is_empty(), "nothing sent blind");
    assert!(outgoing_photos(&t, lead.id).await.is_empty(), "and nothing recorded as sent");
    t.stop().await;
}
