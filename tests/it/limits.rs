//! Bad input from customers and providers, within the messengers' real limits: emoji
//! measured as Telegram measures them, huge names, texts longer than a messenger allows,
//! unbelievable time stamps, control characters, malformed WhatsApp notifications.

use crate::harness::*;
use forecourt::domain::text::{utf16_len, TELEGRAM_TEXT};
use serde_json::json;

/// Wait until the topic holds `emoji` emoji in all and a message containing `next`.
async fn whole_and_followed(t: &TestApp, chat: i64, thread: i32, emoji: usize, next: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let texts = t.bot_texts(chat, thread);
        let count: usize = texts.iter().map(|m| m.matches('😀').count()).sum();
        if count == emoji && texts.iter().any(|m| m.contains(next)) {
            break;
        }
        if std::time::Instant::now() > deadline {
            let shape: Vec<(usize, usize)> = texts.iter().map(|m| (utf16_len(m), m.matches('😀').count())).collect();
            let other: Vec<(i32, String)> =
                t.fake.topics(chat).into_iter().map(|(id, topic)| (id, format!("{topic:?}"))).collect();
            panic!("{count} of {emoji} emoji in the topic (posts as (units, emoji): {shape:?}); topics: {other:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for m in t.bot_texts(chat, thread) {
        assert!(utf16_len(&m) <= TELEGRAM_TEXT, "a post over Telegram's limit");
        assert!(!m.contains("cannot be shown"), "the customer's words were replaced by a notice: {m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emoji_from_a_telegram_customer_reach_the_topic_in_full_and_the_next_message_follows() {
    let t = TestApp::start().await;
    let ivan = t.customer(7101, "Ivan", None);
    t.fake.customer_writes(&ivan, "hello");
    let (chat, thread, _) = t.topic_of(&ivan).await;
    // 2,045 emoji are 4,090 UTF-16 units: the time stamp pushes the relay past 4,096.
    t.fake.customer_writes(&ivan, &"😀".repeat(2045));
    t.fake.customer_writes(&ivan, "and the next one");
    whole_and_followed(&t, chat, thread, 2045, "and the next one").await;
    t.settled().await;
    let notices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE direction = 'system'")
        .fetch_one(t.store.pool())
        .await
        .unwrap();
    assert_eq!(notices, 0, "no notice rows were added");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_message_cut_short_by_a_429_goes_on_after_its_posted_part_and_is_never_posted_twice() {
    let t = TestApp::start().await;
    let ivan = t.customer(7102, "Ivan", None);
    t.fake.customer_writes(&ivan, "hello");
    let (chat, thread, _) = t.topic_of(&ivan).await;
    t.settled().await;
    // The long message takes two sends; Telegram takes the first and turns the second down.
    t.fake.fail_after("sendMessage", Some(chat), 1, forecourt::sandbox::telegram::ApiError::too_many(1), 1);
    t.fake.customer_writes(&ivan, &"😀".repeat(2045));
    t.fake.customer_writes(&ivan, "and the next one");
    // Exactly 2,045 emoji: the first part is not posted again after the 429.
    whole_and_followed(&t, chat, thread, 2045, "and the next one").await;
    let parts: Vec<String> = t.bot_texts(chat, thread).into_iter().filter(|m| m.contains('😀')).collect();
    assert_eq!(parts.len(), 2, "one message in two parts: {:?}", parts.iter().map(|p| p.len()).collect::<Vec<_>>());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emoji_from_a_viber_customer_reach_the_topic_in_full_and_the_next_message_follows() {
    let t = TestApp::start_with(Opts { channels: true, ..Opts::default() }).await;
    let v = t.viber();
    // 2,100 emoji: under Viber's 7,000 characters, over Telegram's 4,096 units.
    assert_eq!(v.customer_writes("vb-emoji=", "Oksana", &"😀".repeat(2100)).await, 200);
    assert_eq!(v.customer_writes("vb-emoji=", "Oksana", "are you there?").await, 200);
    let lead = t.lead_by_identity("viber", "vb-emoji=").await;
    let (chat, thread, _) = t.topic_of_lead(lead.id).await;
    whole_and_followed(&t, chat, thread, 2100, "are you there?").await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100000_character_viber_name_still_gets_its_card_and_its_topic() {
    let t = TestApp::start_with(Opts { channels: true, ..Opts::default() }).await;
    let v = t.viber();
    let name = format!("Олена\u{202E}{}", "Н".repeat(100_000));
    assert_eq!(v.customer_writes("vb-long-name=", &name, "Is the Octavia available?").await, 200);
    let lead = t.lead_by_identity("viber", "vb-long-name=").await;
    assert!(lead.customer_name.chars().count() <= 256, "the stored name is capped");
    assert!(!lead.customer_name.contains('\u{202E}'), "no bidirectional override kept");
    let (chat, thread, card) = t.topic_of_lead(lead.id).await;
    t.card_shows(chat, card, "Олена").await;
    let topics = t.fake.topics(chat);
    let (_, topic) = topics.iter().find(|(id, _)| *id == thread).expect("the topic exists");
    assert!(topic.name.ends_with(" · Viber"), "the channel suffix survives the cut: {}", topic.name);
    assert!(topic.name.chars().count() <= 128);
    t.until("the customer's text is in the topic", |fake| {
        fake.topic_messages(chat, thread)
            .iter()
            .any(|m| m.content.text_or_caption().is_some_and(|c| c.contains("Octavia available")))
    })
    .await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_longer_than_viber_allows_is_refused_and_nothing_is_stored() {
    let t = TestApp::start_with(Opts { channels: true, ..Opts::default() }).await;
    let v = t.viber();
    let (status, body) = v
        .post(&json!({
            "event": "message", "timestamp": 1_700_000_000_000i64, "message_token": 77,
            "sender": {"id": "vb-huge=", "name": "Spam"},
            "message": {"type": "text", "text": "x".repeat(7_001)}
        }))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("7,000"), "the answer names the limit: {body}");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages").fetch_one(t.store.pool()).await.unwrap();
    assert_eq!(n, 0);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_times_too_far_ahead_are_taken_as_now() {
    let t = TestApp::start_with(Opts { channels: true, ..Opts::default() }).await;
    let v = t.viber();
    let (status, _) = v
        .post(&json!({
            "event": "message", "timestamp": i64::MAX, "message_token": 78,
            "sender": {"id": "vb-future=", "name": "Marty"},
            "message": {"type": "text", "text": "from the future"}
        }))
        .await;
    assert_eq!(status, 200);
    let lead = t.lead_by_identity("viber", "vb-future=").await;
    let now = t.clock.now_ms();
    let at = lead.last_message_at.expect("a last message time");
    assert!(at <= now && at > now - 600_000, "kept as now, not i64::MAX: {at}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_notifications_of_the_wrong_shape_or_for_another_number_are_refused() {
    let t = TestApp::start_with(Opts { channels: true, ..Opts::default() }).await;
    let w = t.wa();
    let wrong = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
        "value": {"metadata": {"phone_number_id": WA_PHONE_ID}, "messages": {"from": "380", "id": "x"}}}]}]});
    let (status, body) = w.post(&wrong).await;
    assert_eq!(status, 400, "{body}");
    let other = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
        "value": {"metadata": {"phone_number_id": "999000"}, "messages": [{"from": "380501112233", "id": "wamid.O",
        "timestamp": "1700000000", "type": "text", "text": {"body": "hi"}}]}}]}]});
    let (status, body) = w.post(&other).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("999000"), "{body}");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages").fetch_one(t.store.pool()).await.unwrap();
    assert_eq!(n, 0, "nothing stored");
    t.stop().await;
}
