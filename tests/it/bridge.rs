//! Customer → staff topic → customer, on Telegram.

use crate::harness::*;
use forecourt::domain::{Direction, MessageKind, Role, Stage};
use forecourt::sandbox::telegram::Content;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_message_opens_a_topic_with_a_card_and_is_copied_into_it() {
    let t = TestApp::start().await;
    let olena = t.customer(501, "Olena", Some("Koval"));
    t.fake.customer_writes(&olena, "Hello! Is the 2019 RAV4 still available?");
    let (chat, thread, card) = t.topic_of(&olena).await;
    assert_eq!(chat, STAFF);

    let topics = t.fake.topics(STAFF);
    assert_eq!(topics.len(), 1);
    let lead = t.lead_of(&olena).await;
    assert_eq!(topics[0].1.name, format!("#{} · Olena Koval · Telegram", lead.id));
    assert_eq!(lead.stage, Stage::New);

    let c = t.card_shows(chat, card, "Olena Koval").await;
    let text = c.content.text_or_caption().unwrap().to_string();
    assert!(text.contains("Stage: New"), "{text}");
    assert!(text.contains("— unassigned —"), "{text}");
    let labels: Vec<String> = buttons(&c).into_iter().map(|(l, _)| l).collect();
    assert_eq!(labels, vec!["✋ Claim", "Stage ▸", "Lost ▸", "🚘 Vehicle ▸", "👤 Owner ▸"]);

    t.until("the message is in the topic", |fake| {
        fake.topic_messages(chat, thread).iter().any(|m| {
            m.content.text_or_caption().is_some_and(|x| x.ends_with("Hello! Is the 2019 RAV4 still available?"))
        })
    })
    .await;
    assert!(t.fake.general_messages(STAFF).is_empty(), "nothing lands in General");
    let msgs = t.store.lead_messages(lead.id).await.unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].direction, Direction::Incoming);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_customer_message_is_kept_and_shown_in_the_topic() {
    let t = TestApp::start().await;
    let ivan = t.customer(502, "Ivan", None);
    let photo = t.fake.upload_file("photo", b"jpeg");
    let doc = t.fake.upload_file("doc", b"pdf");
    let voice = t.fake.upload_file("voice", b"ogg");
    let video = t.fake.upload_file("video", b"mp4");
    t.fake.customer_writes(&ivan, "hi");
    t.fake.customer_sends(&ivan, Content::Photo { file_id: photo.clone(), caption: Some("front".into()) }, None);
    t.fake.customer_sends(
        &ivan,
        Content::Document { file_id: doc.clone(), caption: None, file_name: Some("vin.pdf".into()) },
        None,
    );
    t.fake.customer_sends(&ivan, Content::Voice { file_id: voice.clone(), caption: None }, None);
    t.fake.customer_sends(&ivan, Content::Video { file_id: video.clone(), caption: None }, None);
    t.fake.customer_sends(
        &ivan,
        Content::Contact { phone_number: "+380501234567".into(), first_name: "Petro".into(), user_id: None },
        None,
    );
    t.fake.customer_sends(&ivan, Content::Location { latitude: 50.45, longitude: 30.52 }, None);
    let (chat, thread, _) = t.topic_of(&ivan).await;
    let lead = t.lead_of(&ivan).await;
    t.settled().await;

    let kinds: Vec<MessageKind> = t.store.lead_messages(lead.id).await.unwrap().iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        vec![
            MessageKind::Text,
            MessageKind::Photo,
            MessageKind::Document,
            MessageKind::Voice,
            MessageKind::Video,
            MessageKind::Contact,
            MessageKind::Location
        ]
    );
    let posted: Vec<Content> = t
        .fake
        .topic_messages(chat, thread)
        .into_iter()
        .filter(|m| m.reply_markup.is_none())
        .map(|m| m.content)
        .collect();
    assert!(matches!(&posted[0], Content::Text(t) if t.ends_with("hi")));
    assert!(
        matches!(&posted[1], Content::Photo { file_id, caption: Some(c) } if *file_id == photo && c.ends_with("front"))
    );
    assert!(matches!(&posted[2], Content::Document { file_id, .. } if *file_id == doc));
    assert!(matches!(&posted[3], Content::Voice { file_id, .. } if *file_id == voice));
    assert!(matches!(&posted[4], Content::Video { file_id, .. } if *file_id == video));
    assert!(matches!(&posted[5], Content::Text(t) if t.contains("Petro") && !t.contains("380")), "{:?}", posted[5]);
    assert!(matches!(&posted[6], Content::Location { latitude, .. } if (*latitude - 50.45).abs() < 1e-9));
    // no phone number is stored anywhere
    let dump: Vec<String> = sqlx::query_scalar("SELECT COALESCE(body, '') || COALESCE(extra, '') FROM messages")
        .fetch_all(t.store.pool())
        .await
        .unwrap();
    assert!(dump.iter().all(|d| !d.contains("380501234567")), "{dump:?}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_album_arrives_in_the_topic_as_one_album() {
    let t = TestApp::start().await;
    let c = t.customer(503, "Andriy", None);
    t.fake.customer_writes(&c, "photos of my car for trade-in");
    let (chat, thread, _) = t.topic_of(&c).await;
    for i in 0..3 {
        let f = t.fake.upload_file("photo", format!("p{i}").as_bytes());
        t.fake.customer_sends(
            &c,
            Content::Photo { file_id: f, caption: (i == 0).then(|| "trade-in".to_string()) },
            Some("album-1"),
        );
    }
    t.until("the album is posted", |fake| !fake.calls_of("sendmediagroup").is_empty()).await;
    t.settled().await;
    assert_eq!(t.fake.calls_of("sendmediagroup").len(), 1);
    assert!(t.fake.calls_of("sendphoto").is_empty(), "no photo of the album went alone");
    let grouped: Vec<_> =
        t.fake.topic_messages(chat, thread).into_iter().filter(|m| m.media_group_id.is_some()).collect();
    assert_eq!(grouped.len(), 3);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_then_reply_reaches_the_customer_and_marks_the_lead_contacted() {
    let t = TestApp::start().await;
    let max = t.staff(9001, "Max Petrenko", Role::Manager).await;
    let c = t.customer(504, "Oksana", None);
    t.fake.customer_writes(&c, "Do you have a Tucson?");
    let (chat, thread, card) = t.topic_of(&c).await;
    t.card_shows(chat, card, "Oksana").await;

    let cb = t.press(chat, card, &max, "Claim");
    assert_eq!(t.callback_answer(&cb).await, "The lead is yours.");
    let shown = t.card_shows(chat, card, "Owner: Max Petrenko").await;
    assert!(button_data(&shown, "Claim").is_none(), "a claimed lead has no Claim button");

    t.fake.staff_writes(chat, Some(thread), &max, "Yes, a 2021 Tucson in white. Would you like photos?");
    let fake = t.fake.clone();
    let got = eventually("the customer receives the reply", || {
        let fake = fake.clone();
        async move { fake.bot_messages_to(504).into_iter().next() }
    })
    .await;
    assert_eq!(got.content, Content::Text("Yes, a 2021 Tucson in white. Would you like photos?".into()));
    t.card_shows(chat, card, "Stage: Contacted").await;
    let lead = t.lead_of(&c).await;
    assert_eq!(lead.stage, Stage::Contacted);
    let history = t.store.lead_history(lead.id).await.unwrap();
    let fields: Vec<(&str, Option<&str>)> = history.iter().map(|h| (h.field.as_str(), h.to_value.as_deref())).collect();
    assert_eq!(
        fields[1..],
        [("owner", Some(lead.owner.unwrap().0.to_string().as_str())), ("stage", Some("contacted"))]
    );
    t.settled().await;
    let out = t.store.lead_messages(lead.id).await.unwrap();
    assert_eq!(out[1].direction, Direction::Outgoing);
    assert_eq!(out[1].delivery, Some(forecourt::domain::message::DeliveryState::Sent));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_photo_reaches_the_customer_and_replies_can_be_signed() {
    let t = TestApp::start_with(Opts { sign_replies: true, ..Opts::default() }).await;
    let max = t.staff(9002, "Max Petrenko", Role::Manager).await;
    let c = t.customer(505, "Yurii", None);
    t.fake.customer_writes(&c, "photos please");
    let (chat, thread, _) = t.topic_of(&c).await;
    let photo = t.fake.upload_file("photo", b"car");
    t.fake.staff_sends(
        chat,
        Some(thread),
        &max,
        Content::Photo { file_id: photo.clone(), caption: Some("Front view".into()) },
    );
    t.fake.staff_writes(chat, Some(thread), &max, "More tomorrow");
    let fake = t.fake.clone();
    let got = eventually("the customer receives both", || {
        let fake = fake.clone();
        async move {
            let m = fake.bot_messages_to(505);
            (m.len() == 2).then_some(m)
        }
    })
    .await;
    assert!(
        matches!(&got[0].content, Content::Photo { file_id, caption: Some(c) } if *file_id == photo && c == "Front view")
    );
    assert_eq!(got[1].content, Content::Text("More tomorrow\n\n— Max".into()));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_message_appears_in_its_topic_within_a_second() {
    let t = TestApp::start_with(Opts { speed: 1.0, ..Opts::default() }).await;
    let c = t.customer(510, "Quick", None);
    let started = std::time::Instant::now();
    t.fake.customer_writes(&c, "are you open today?");
    t.until("the message is in a topic", |fake| {
        fake.messages(STAFF).iter().any(|m| {
            m.thread_id.is_some() && m.content.text_or_caption().is_some_and(|x| x.ends_with("are you open today?"))
        })
    })
    .await;
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(1), "took {took:?}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_staff_bot_serves_the_group_and_files_cross_between_the_bots() {
    let t = TestApp::start_with(Opts { staff_token: Some("7000000002:STAFF"), ..Opts::default() }).await;
    let max = t.staff(9003, "Max Petrenko", Role::Manager).await;
    let c = t.customer(520, "Two", Some("Bots"));
    t.fake.customer_writes(&c, "hello from the customer bot");
    let photo = t.fake.upload_file("photo", b"customer-car");
    t.fake.customer_sends(&c, Content::Photo { file_id: photo.clone(), caption: Some("mine".into()) }, None);
    let (chat, thread, card) = t.topic_of(&c).await;
    t.settled().await;
    // The staff bot cannot use the customer bot's file id: it uploads the bytes.
    let posted: Vec<_> = t.fake.topic_messages(chat, thread).into_iter().filter(|m| m.from_bot).collect();
    assert!(posted.iter().all(|m| m.from == 7000000002), "everything in the group is from the staff bot");
    assert!(
        posted.iter().any(|m| matches!(&m.content, Content::Photo { file_id, .. } if *file_id != photo)),
        "the photo was re-uploaded"
    );
    let cb = t.press(chat, card, &max, "Claim");
    assert_eq!(t.callback_answer(&cb).await, "The lead is yours.");
    let staff_photo = t.fake.upload_file("photo", b"dealer-car");
    t.fake.staff_sends(
        chat,
        Some(thread),
        &max,
        Content::Photo { file_id: staff_photo.clone(), caption: Some("ours".into()) },
    );
    let fake = t.fake.clone();
    let got = eventually("the customer bot delivers the staff photo", || {
        let fake = fake.clone();
        async move { fake.bot_messages_to(520).into_iter().next() }
    })
    .await;
    assert_eq!(got.from, 7000000001, "customers hear from the customer bot");
    assert!(
        matches!(&got.content, Content::Photo { file_id, caption: Some(c) } if *file_id != staff_photo && c == "ours")
    );
    t.stop().await;
}
