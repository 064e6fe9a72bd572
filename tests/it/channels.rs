//! Viber and WhatsApp customers, through the fake providers over HTTP: every message type
//! reaches the topic, staff replies and photos reach the customer, signatures and
//! duplicates, unsubscribed Viber users, the closed WhatsApp window, receipts, media.

use crate::harness::*;
use forecourt::domain::Role;
use forecourt::sandbox::telegram::{ChatMessage, Content};
use serde_json::json;

async fn start() -> TestApp {
    start_on(Db::Sqlite).await
}

async fn start_on(db: Db) -> TestApp {
    TestApp::start_with(Opts { channels: true, db, ..Opts::default() }).await
}

fn text_of(m: &ChatMessage) -> String {
    m.content.text_or_caption().map(str::to_string).unwrap_or_else(|| m.content.describe())
}

fn shows(t: &TestApp, chat: i64, thread: i32, needle: &str) -> bool {
    t.fake.topic_messages(chat, thread).iter().any(|m| m.from_bot && text_of(m).contains(needle))
}

async fn count(t: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql).fetch_one(t.store.pool()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_viber_message_type_reaches_the_topic_and_a_reply_goes_back() {
    let t = start().await;
    let v = t.viber();
    let photo = jpeg("viber photo");
    assert_eq!(v.customer_writes("vb-user-1=", "Oksana", "Is the RAV4 still available?").await, 200);
    let lead = t.lead_by_identity("viber", "vb-user-1=").await;
    let (chat, thread, card) = t.topic_of_lead(lead.id).await;
    let c = t.card_shows(chat, card, "Viber").await;
    assert!(text_of(&c).contains("Oksana"), "{}", text_of(&c));
    assert_eq!(v.customer_sends_picture("vb-user-1=", "Oksana", &photo, "this one").await, 200);
    let video = v.host(b"\0\0\0\x18ftypmp42 video", "video/mp4", Some(3_600_000), 0);
    let file = v.host(b"%PDF-1.4 offer", "application/pdf", Some(3_600_000), 0);
    for m in [
        json!({"type": "video", "media": video, "size": 20, "duration": 3}),
        json!({"type": "file", "media": file, "file_name": "offer.pdf", "size": 14}),
        json!({"type": "sticker", "sticker_id": 46105}),
        json!({"type": "contact", "contact": {"name": "Petro", "phone_number": "+380671112233"}}),
        json!({"type": "location", "location": {"lat": 50.45, "lon": 30.52}}),
        json!({"type": "url", "media": "https://cars.example/rav4"}),
    ] {
        assert_eq!(v.customer_sends("vb-user-1=", "Oksana", m).await.0, 200);
    }
    t.until("every message is in the topic", |fake| {
        let msgs = fake.topic_messages(chat, thread);
        let has = |pred: &dyn Fn(&ChatMessage) -> bool| msgs.iter().any(pred);
        has(&|m| text_of(m).contains("RAV4 still available"))
            && has(&|m| matches!(&m.content, Content::Photo { caption: Some(c), .. } if c.contains("this one")))
            && has(&|m| matches!(m.content, Content::Video { .. }))
            && has(&|m| matches!(&m.content, Content::Document { file_name: Some(n), .. } if n == "offer.pdf"))
            && has(&|m| text_of(m).contains("Petro"))
            && has(&|m| matches!(m.content, Content::Location { .. }))
            && has(&|m| text_of(m).contains("https://cars.example/rav4"))
            && has(&|m| text_of(m).contains("🏷"))
    })
    .await;
    // The photo in the topic is the customer's own bytes, kept and uploaded.
    let posted =
        t.fake.topic_messages(chat, thread).into_iter().find(|m| matches!(m.content, Content::Photo { .. })).unwrap();
    assert_eq!(t.fake.file_bytes(posted.content.file_id().unwrap()).unwrap(), photo);
    assert_eq!(count(&t, "SELECT COUNT(*) FROM media WHERE status = 'ready'").await, 3, "photo, video, file kept");
    let no_phone: i64 = count(&t, "SELECT COUNT(*) FROM messages WHERE extra LIKE '%380671112233%'").await;
    assert_eq!(no_phone, 0, "the contact's phone is not kept");

    let max = t.staff(9301, "Max Petrenko", Role::Manager).await;
    t.fake.staff_writes(chat, Some(thread), &max, "Yes, it is. Come and see it today!");
    t.until_ok("the reply reaches the Viber customer", || {
        v.sent_to("vb-user-1=")
            .iter()
            .any(|s| s.kind == "text" && s.text.as_deref() == Some("Yes, it is. Come and see it today!"))
    })
    .await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_whatsapp_message_type_reaches_the_topic_and_a_reply_goes_back() {
    let t = start().await;
    let w = t.wa();
    let wa_id = "380501112233";
    assert_eq!(w.customer_writes(wa_id, "Олена", "Добрий день! Скільки коштує Tucson?").await, 200);
    let lead = t.lead_by_identity("whatsapp", wa_id).await;
    let (chat, thread, card) = t.topic_of_lead(lead.id).await;
    let c = t.card_shows(chat, card, "WhatsApp").await;
    assert!(text_of(&c).contains("Олена"), "non-ASCII names survive Meta's escaping: {}", text_of(&c));
    let photo = jpeg("wa photo");
    assert_eq!(w.customer_sends_image(wa_id, "Олена", &photo, "мій старий авто", 0).await, 200);
    let doc = w.host_media(b"%PDF-1.4 passport", "application/pdf", 0);
    let voice = w.host_media(b"OggS voice", "audio/ogg", 0);
    let video = w.host_media(b"\0\0\0\x18ftypmp42", "video/mp4", 0);
    for m in [
        json!({"type": "document", "document": {"id": doc, "filename": "passport.pdf", "mime_type": "application/pdf"}}),
        json!({"type": "audio", "audio": {"id": voice, "mime_type": "audio/ogg", "voice": true}}),
        json!({"type": "video", "video": {"id": video, "mime_type": "video/mp4"}}),
        json!({"type": "location", "location": {"latitude": 50.4, "longitude": 30.5, "name": "Home"}}),
        json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "Ivan"}, "phones": [{"phone": "+380990001122"}]}]}),
        json!({"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": "buy", "title": "Buy a car"}}}),
        json!({"type": "interactive", "interactive": {"type": "list_reply", "list_reply": {"id": "suv", "title": "SUV"}}}),
        json!({"type": "button", "button": {"payload": "yes", "text": "Yes, call me"}}),
    ] {
        assert_eq!(w.customer_sends(wa_id, "Олена", m).await.0, 200);
    }
    t.until("every message is in the topic", |fake| {
        let msgs = fake.topic_messages(chat, thread);
        let has = |pred: &dyn Fn(&ChatMessage) -> bool| msgs.iter().any(pred);
        has(&|m| text_of(m).contains("Скільки коштує Tucson"))
            && has(&|m| matches!(&m.content, Content::Photo { caption: Some(c), .. } if c.contains("мій старий авто")))
            && has(&|m| matches!(&m.content, Content::Document { file_name: Some(n), .. } if n == "passport.pdf"))
            && has(&|m| matches!(m.content, Content::Voice { .. } | Content::Audio { .. }))
            && has(&|m| matches!(m.content, Content::Video { .. }))
            && has(&|m| matches!(m.content, Content::Location { .. }))
            && has(&|m| text_of(m).contains("Ivan"))
            && has(&|m| text_of(m).contains("Buy a car"))
            && has(&|m| text_of(m).contains("SUV"))
            && has(&|m| text_of(m).contains("Yes, call me"))
    })
    .await;
    let posted =
        t.fake.topic_messages(chat, thread).into_iter().find(|m| matches!(m.content, Content::Photo { .. })).unwrap();
    assert_eq!(t.fake.file_bytes(posted.content.file_id().unwrap()).unwrap(), photo);
    assert_eq!(count(&t, "SELECT COUNT(*) FROM messages WHERE extra LIKE '%380990001122%'").await, 0);

    let max = t.staff(9302, "Max Petrenko", Role::Manager).await;
    t.fake.staff_writes(chat, Some(thread), &max, "Tucson 2021 — 24 500 $");
    t.until_ok("the reply reaches the WhatsApp customer", || {
        w.sent_to(wa_id).iter().any(|s| s.kind == "text" && s.text.as_deref() == Some("Tucson 2021 — 24 500 $"))
    })
    .await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_signature_no_entry_and_bad_bodies_get_a_reason() {
    let t = start().await;
    let body = json!({"event": "message", "timestamp": 1, "message_token": 1,
        "sender": {"id": "x"}, "message": {"type": "text", "text": "hi"}})
    .to_string();
    let (status, reason) = t.viber().post_raw(body.clone(), "00ff").await;
    assert_eq!(status, 401, "{reason}");
    assert!(reason.contains("X-Viber-Content-Signature"), "{reason}");
    let (status, _) = t.viber().post_raw(body.clone(), "").await;
    assert_eq!(status, 401);
    // Signed with the right token but not an event: 400 with the reason.
    let junk = r#"{"timestamp":1}"#.to_string();
    let sig = forecourt::channels::hmac_hex(VIBER_TOKEN.as_bytes(), junk.as_bytes());
    let (status, reason) = t.viber().post_raw(junk, &sig).await;
    assert_eq!(status, 400);
    assert!(reason.contains("event"), "{reason}");

    let wa_body = json!({"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages",
        "value": {"messages": [{"from": "1", "id": "wamid.x", "timestamp": "1", "type": "text", "text": {"body": "hi"}}]}}]}]})
    .to_string();
    let forged = format!("sha256={}", forecourt::channels::hmac_hex(b"not the secret", wa_body.as_bytes()));
    let (status, reason) = t.wa().post_raw(wa_body.clone(), &forged).await;
    assert_eq!(status, 401, "{reason}");
    let (status, _) = t.wa().post_raw(wa_body, "").await;
    assert_eq!(status, 401);

    assert_eq!(count(&t, "SELECT COUNT(*) FROM messages").await, 0, "nothing stored");
    assert_eq!(count(&t, "SELECT COUNT(*) FROM customers").await, 0);

    // Meta's subscription check.
    let http = reqwest::Client::new();
    let url =
        format!("{}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={WA_VERIFY}&hub.challenge=12345", t.http());
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "12345");
    let url = format!("{}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1", t.http());
    assert_eq!(http.get(&url).send().await.unwrap().status(), 403);
    t.stop().await;
}

on_both_engines!(a_webhook_delivered_twice_stores_one_message, a_webhook_delivered_twice_on_postgres, delivered_twice);

async fn delivered_twice(db: Db) {
    let t = start_on(db).await;
    let body = json!({"event": "message", "timestamp": t.clock.now_ms(), "message_token": 9_007_199_254_740_993u64,
        "sender": {"id": "dup-user", "name": "Dup"}, "message": {"type": "text", "text": "twice"}});
    assert_eq!(t.viber().post(&body).await.0, 200);
    assert_eq!(t.viber().post(&body).await.0, 200, "a retry is acknowledged");
    // 2^53 + 1 and 2^53 are different messages, never merged by a float.
    let mut other = body.clone();
    other["message_token"] = json!(9_007_199_254_740_992u64);
    assert_eq!(t.viber().post(&other).await.0, 200);

    let wa = json!({"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {
        "metadata": {"phone_number_id": WA_PHONE_ID},
        "contacts": [{"wa_id": "380", "profile": {"name": "W"}}],
        "messages": [{"from": "380", "id": "wamid.DUP", "timestamp": "1700000000", "type": "text", "text": {"body": "twice"}}]}}]}]});
    assert_eq!(t.wa().post(&wa).await.0, 200);
    assert_eq!(t.wa().post(&wa).await.0, 200);
    t.settled().await;
    assert_eq!(count(&t, "SELECT COUNT(*) FROM messages WHERE direction = 'incoming'").await, 3);
    let tokens: Vec<String> = sqlx::query_scalar::<_, String>(
        "SELECT external_id FROM messages WHERE channel = 'viber' ORDER BY external_id",
    )
    .fetch_all(t.store.pool())
    .await
    .unwrap();
    assert_eq!(tokens, vec!["9007199254740992", "9007199254740993"]);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsubscribed_viber_customer_is_marked_and_not_written_to() {
    let t = start().await;
    let v = t.viber();
    let (status, welcome) = v.conversation_started("vb-unsub", "Taras").await;
    assert_eq!(status, 200);
    assert!(welcome.contains("\"type\":\"text\"") && welcome.contains("Taras"), "a welcome in the response: {welcome}");
    v.customer_writes("vb-unsub", "Taras", "hello").await;
    let lead = t.lead_by_identity("viber", "vb-unsub").await;
    let (chat, thread, _) = t.topic_of_lead(lead.id).await;
    assert_eq!(v.unsubscribed("vb-unsub").await, 200);
    t.until("the topic says so", |_| shows(&t, chat, thread, "unsubscribed")).await;
    let calls = v.api_calls();
    let max = t.staff(9303, "Max Petrenko", Role::Manager).await;
    t.fake.staff_writes(chat, Some(thread), &max, "Are you still interested?");
    t.until("the failure is said in the topic", |_| shows(&t, chat, thread, "Not delivered")).await;
    assert_eq!(v.api_calls(), calls, "Viber was not even asked");
    assert!(v.sent_to("vb-unsub").is_empty());
    // Writing again subscribes them again: replies flow.
    v.customer_writes("vb-unsub", "Taras", "sorry, yes").await;
    t.fake.staff_writes(chat, Some(thread), &max, "Great!");
    t.until_ok("the reply goes out", || v.sent_to("vb-unsub").iter().any(|s| s.text.as_deref() == Some("Great!")))
        .await;
    t.stop().await;
}

on_both_engines!(
    a_closed_whatsapp_window_is_not_sent_blind_and_offers_the_template,
    a_closed_whatsapp_window_on_postgres,
    closed_window_story
);

async fn closed_window_story(db: Db) {
    let t = start_on(db).await;
    let w = t.wa();
    let day_ago = t.clock.now_ms() - 25 * 3_600_000;
    let (status, _) =
        w.customer_sends_at("380677", "Ihor", json!({"type": "text", "text": {"body": "old question"}}), day_ago).await;
    assert_eq!(status, 200, "an old event is still stored");
    let lead = t.lead_by_identity("whatsapp", "380677").await;
    let (chat, thread, _) = t.topic_of_lead(lead.id).await;
    let max = t.staff(9304, "Max Petrenko", Role::Manager).await;
    t.fake.staff_writes(chat, Some(thread), &max, "Sorry for the delay!");
    t.until("the topic says the window is closed", |_| shows(&t, chat, thread, "24-hour window is closed")).await;
    assert!(w.sent_to("380677").is_empty(), "nothing sent blind");
    let notice =
        t.fake.topic_messages(chat, thread).into_iter().find(|m| text_of(m).contains("24-hour window")).unwrap();
    let data = button_data(&notice, "template").expect("the notice offers the template");
    let cb = t.fake.staff_presses(chat, notice.message_id, &max, &data);
    t.callback_answer(&cb).await;
    t.until_ok("the template goes out", || w.sent_to("380677").iter().any(|s| s.kind == "template")).await;
    let sent = &w.sent_to("380677")[0];
    assert_eq!(sent.raw["template"]["name"], "reengage");
    assert_eq!(sent.raw["template"]["language"]["code"], "uk");
    t.until("the topic says the template went", |_| shows(&t, chat, thread, "template “reengage” sent")).await;

    // Inside the window, the API's own 131047 is handled the same way.
    w.customer_writes("380677", "Ihor", "yes?").await;
    w.fail_next_send(400, 131047, "Re-engagement message");
    t.fake.staff_writes(chat, Some(thread), &max, "Here is the offer");
    t.until("the API's refusal is said too", |fake| {
        fake.topic_messages(chat, thread).iter().filter(|m| text_of(m).contains("24-hour window is closed")).count()
            == 2
    })
    .await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_131047_status_is_said_in_the_topic() {
    let t = start().await;
    let w = t.wa();
    // Forecourt thinks the window is open (the customer just wrote), WhatsApp disagrees
    // later: the send is accepted and a failed status arrives.
    w.customer_writes("380688", "Lesya", "hi").await;
    let lead = t.lead_by_identity("whatsapp", "380688").await;
    let (chat, thread, _) = t.topic_of_lead(lead.id).await;
    let max = t.staff(9305, "Max Petrenko", Role::Manager).await;
    t.fake.staff_writes(chat, Some(thread), &max, "Hello Lesya");
    t.until_ok("sent", || !w.sent_to("380688").is_empty()).await;
    let id = w.sent_to("380688")[0].id.clone();
    assert_eq!(w.status(&id, "380688", "failed", Some((131047, "more than 24 hours"))).await, 200);
    t.until("the failure is said with the template offer", |fake| {
        fake.topic_messages(chat, thread)
            .iter()
            .any(|m| text_of(m).contains("24-hour window") && m.reply_markup.is_some())
    })
    .await;
    let d: String = sqlx::query_scalar("SELECT delivery FROM messages WHERE delivered_id = $1")
        .bind(&id)
        .fetch_one(t.store.pool())
        .await
        .unwrap();
    assert_eq!(d, "failed");
    t.stop().await;
}

on_both_engines!(
    receipts_only_move_forward_even_when_they_come_early_or_out_of_order,
    receipts_on_postgres,
    receipts_story
);

async fn receipts_story(db: Db) {
    let t = start_on(db).await;
    t.viber().auto_receipts(true);
    t.wa().auto_statuses(true);
    t.viber().customer_writes("vb-r", "Roman", "hi").await;
    t.wa().customer_writes("380699", "Rita", "hi").await;
    let lv = t.lead_by_identity("viber", "vb-r").await;
    let lw = t.lead_by_identity("whatsapp", "380699").await;
    let (cv, tv, _) = t.topic_of_lead(lv.id).await;
    let (cw, tw, _) = t.topic_of_lead(lw.id).await;
    let max = t.staff(9306, "Max Petrenko", Role::Manager).await;
    t.fake.staff_writes(cv, Some(tv), &max, "to viber");
    t.fake.staff_writes(cw, Some(tw), &max, "to whatsapp");
    let store = t.store.clone();
    eventually("both messages end as read", || {
        let store = store.clone();
        async move {
            let rows: Vec<(String, Option<String>)> =
                sqlx::query_as("SELECT channel, receipt FROM messages WHERE direction = 'outgoing' ORDER BY channel")
                    .fetch_all(store.pool())
                    .await
                    .ok()?;
            (rows.len() == 2 && rows.iter().all(|r| r.1.as_deref() == Some("read"))).then_some(())
        }
    })
    .await;
    // Viber's `delivered` came before the send was recorded; it waited and was applied.
    assert!(
        count(&t, "SELECT COUNT(*) FROM delivery_receipts WHERE channel = 'viber' AND status = 'delivered'").await >= 1
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_that_fails_once_is_retried_and_an_expired_link_is_said() {
    let t = start().await;
    let photo = jpeg("flaky");
    assert_eq!(t.wa().customer_sends_image("380611", "Vira", &photo, "flaky photo", 1).await, 200);
    let lead = t.lead_by_identity("whatsapp", "380611").await;
    let (chat, thread, _) = t.topic_of_lead(lead.id).await;
    t.topic_has(chat, thread, "the photo after a retry", |m| matches!(m.content, Content::Photo { .. })).await;
    let ready = count(&t, "SELECT COUNT(*) FROM media WHERE status = 'ready'").await;
    assert_eq!(ready, 1);

    // A Viber link that has already expired: the topic says the file could not be kept.
    let v = t.viber();
    let url = v.host(&jpeg("gone"), "image/jpeg", Some(0), 0);
    v.customer_sends("vb-exp", "Yurii", json!({"type": "picture", "media": url, "text": "old photo"})).await;
    v.customer_writes("vb-exp", "Yurii", "did you get it?").await;
    let lead = t.lead_by_identity("viber", "vb-exp").await;
    let (chat, thread, _) = t.topic_of_lead(lead.id).await;
    t.until("the failure and the next message show, in order", |_| {
        let texts: Vec<String> =
            t.fake.topic_messages(chat, thread).iter().filter(|m| m.from_bot).map(text_of).collect();
        let a = texts.iter().position(|x| x.contains("could not be kept") && x.contains("old photo"));
        let b = texts.iter().rposition(|x| x.contains("did you get it?")); // the card quotes it too
        matches!((a, b), (Some(a), Some(b)) if a <= b)
    })
    .await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_photo_from_two_customers_is_kept_once() {
    let t = start().await;
    let photo = jpeg("the same car photo");
    t.viber().customer_sends_picture("vb-a", "Anna", &photo, "").await;
    t.viber().customer_sends_picture("vb-b", "Bohdan", &photo, "").await;
    let store = t.store.clone();
    eventually("both files are kept", || {
        let store = store.clone();
        async move {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM media WHERE status = 'ready'")
                .fetch_one(store.pool())
                .await
                .ok()?;
            (n == 2).then_some(())
        }
    })
    .await;
    let shas: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT sha256 FROM media").fetch_all(t.store.pool()).await.unwrap();
    assert_eq!(shas, vec![sha(&photo)]);
    let customers: i64 = count(&t, "SELECT COUNT(DISTINCT customer_id) FROM media").await;
    assert_eq!(customers, 2, "a row per customer");
    let root = t.config.data_dir.join("media");
    let files: Vec<_> = walk(&root);
    assert_eq!(files.len(), 1, "one file on disk: {files:?}");
    assert_eq!(std::fs::read(&files[0]).unwrap(), photo);
    t.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

on_both_engines!(
    a_staff_photo_reaches_viber_and_whatsapp_by_signed_link,
    a_staff_photo_by_signed_link_on_postgres,
    staff_photo_story
);

async fn staff_photo_story(db: Db) {
    let t = start_on(db).await;
    let max = t.staff(9307, "Max Petrenko", Role::Manager).await;
    t.viber().customer_writes("vb-p", "Pavlo", "photos please").await;
    t.wa().customer_writes("380622", "Polina", "photos please").await;
    let lv = t.lead_by_identity("viber", "vb-p").await;
    let lw = t.lead_by_identity("whatsapp", "380622").await;
    let (cv, tv, _) = t.topic_of_lead(lv.id).await;
    let (cw, tw, _) = t.topic_of_lead(lw.id).await;
    let photo = jpeg("staff photo of the car");
    let big = {
        let mut b = jpeg("big");
        b.resize(1024 * 1024 + 10, 7);
        b
    };
    let id = t.fake.upload_file("photo", &photo);
    let big_id = t.fake.upload_file("photo", &big);
    t.fake.staff_sends(cv, Some(tv), &max, Content::Photo { file_id: id.clone(), caption: Some("front".into()) });
    t.fake.staff_sends(cw, Some(tw), &max, Content::Photo { file_id: id, caption: Some("front".into()) });
    // Over Viber's 1 MB picture limit: it goes as a file instead.
    t.fake.staff_sends(cv, Some(tv), &max, Content::Photo { file_id: big_id, caption: None });
    t.until_ok("Viber fetched the picture from the link", || {
        t.viber()
            .sent_to("vb-p")
            .iter()
            .any(|s| s.kind == "picture" && s.file.as_ref().is_some_and(|f| f.sha256 == sha(&photo)))
    })
    .await;
    t.until_ok("WhatsApp fetched the image from the link", || {
        t.wa().sent_to("380622").iter().any(|s| {
            s.kind == "image"
                && s.text.as_deref() == Some("front")
                && s.file.as_ref().is_some_and(|f| f.sha256 == sha(&photo))
        })
    })
    .await;
    t.until_ok("the big photo went to Viber as a file", || {
        t.viber()
            .sent_to("vb-p")
            .iter()
            .any(|s| s.kind == "file" && s.file.as_ref().is_some_and(|f| f.size == big.len()))
    })
    .await;
    let f = t.viber().sent_to("vb-p").into_iter().find(|s| s.kind == "picture").unwrap().file.unwrap();
    assert_eq!(f.content_type, "image/jpeg");

    // The links are signed: a tampered or unsigned one is refused.
    let http = reqwest::Client::new();
    let r = http.get(format!("{}/media/1/x.jpg?exp=99999999999999&sig=00", t.http())).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = http.get(format!("{}/media/1/x.jpg", t.http())).send().await.unwrap();
    assert_eq!(r.status(), 403);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_a_messenger_will_not_carry_is_refused_in_the_topic() {
    let t = start().await;
    let max = t.staff(9309, "Max Petrenko", Role::Manager).await;
    t.viber().customer_writes("vb-exe", "Denys", "send me the contract").await;
    let lead = t.lead_by_identity("viber", "vb-exe").await;
    let (chat, thread, _) = t.topic_of_lead(lead.id).await;
    let exe = t.fake.upload_file("document", b"MZ\x90\0 not really a program");
    t.fake.staff_sends(
        chat,
        Some(thread),
        &max,
        Content::Document { file_id: exe, caption: None, file_name: Some("contract.exe".into()) },
    );
    t.until("the topic says Viber refuses it", |_| shows(&t, chat, thread, "Viber does not accept .exe files")).await;
    t.settled().await;
    assert!(t.viber().sent_to("vb-exe").is_empty(), "nothing was sent");
    let name: String = sqlx::query_scalar("SELECT original_name FROM media").fetch_one(t.store.pool()).await.unwrap();
    assert_eq!(name, "contract.exe", "the staff file is kept under its own name");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viber_set_webhook_registers_the_url_and_viber_checks_it() {
    let t = start().await;
    let url = format!("{}/webhooks/viber", t.http());
    let dir = tempfile::tempdir().unwrap();
    let run = |token: &str| {
        let (dir, url, api) = (dir.path().to_path_buf(), url.clone(), t.viber().url());
        let token = token.to_string();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_forecourt"))
                .args(["viber", "set-webhook", "--url", &url])
                .current_dir(dir)
                .env_clear()
                .env("FORECOURT_VIBER_TOKEN", token)
                .env("FORECOURT_VIBER_API_URL", api)
                .output()
                .unwrap()
        })
    };
    let o = run(VIBER_TOKEN).await.unwrap();
    let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{out}");
    assert!(out.contains("Viber webhook set to"), "{out}");
    // A wrong token: Viber answers status 2 and the command says so.
    let o = run("wrong-token").await.unwrap();
    let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!o.status.success());
    assert!(out.contains("FORECOURT_VIBER_TOKEN"), "{out}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viber_failures_and_resubscription_are_said_in_the_topic() {
    let t = start().await;
    let v = t.viber();
    v.customer_writes("vb-fail", "Halyna", "hello").await;
    let lead = t.lead_by_identity("viber", "vb-fail").await;
    let (chat, thread, _) = t.topic_of_lead(lead.id).await;
    let max = t.staff(9310, "Max Petrenko", Role::Manager).await;

    // Delivered to Viber, then Viber reports it failed.
    t.fake.staff_writes(chat, Some(thread), &max, "first reply");
    t.until_ok("sent", || v.sent_to("vb-fail").len() == 1).await;
    let token = v.sent_to("vb-fail")[0].token.clone();
    assert_eq!(v.receipt("failed", &token, "vb-fail", Some("device unreachable")).await, 200);
    t.until("the failure is said", |_| shows(&t, chat, thread, "Viber reports it failed (device unreachable)")).await;

    // Viber answers a send with status 6 (not subscribed): the customer is marked.
    v.fail_next_send(6, "notSubscribed");
    t.fake.staff_writes(chat, Some(thread), &max, "second reply");
    t.until("the refusal is said", |_| shows(&t, chat, thread, "unsubscribed from the bot on Viber")).await;
    let blocked: i64 = sqlx::query_scalar("SELECT blocked FROM customer_identities WHERE external_id = 'vb-fail'")
        .fetch_one(t.store.pool())
        .await
        .unwrap();
    assert_eq!(blocked, 1);

    // They subscribe again: the topic hears it and replies flow.
    assert_eq!(v.subscribed("vb-fail", "Halyna").await, 200);
    t.until("the topic says so", |_| shows(&t, chat, thread, "subscribed to the bot on Viber again")).await;
    t.fake.staff_writes(chat, Some(thread), &max, "third reply");
    t.until_ok("the third reply goes out", || {
        v.sent_to("vb-fail").iter().any(|s| s.text.as_deref() == Some("third reply"))
    })
    .await;
    let (_, welcome) = v.conversation_started("vb-en", "John").await;
    assert!(welcome.contains("Вітаємо, John"), "the phone reports Ukrainian: {welcome}");
    t.stop().await;
}
