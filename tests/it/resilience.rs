//! Nothing lost, nothing twice: duplicates, restarts, crashes, rate limits, failures,
//! topics deleted by people, bad input.

use crate::harness::*;
use forecourt::domain::Role;
use forecourt::sandbox::telegram::{ApiError, FakeUser};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

async fn wait_texts_in_topics(t: &TestApp, chats: &[i64], texts: &[String]) {
    let fake = t.fake.clone();
    let chats = chats.to_vec();
    let texts = texts.to_vec();
    eventually("every text is visible in a topic", || {
        let fake = fake.clone();
        let chats = chats.clone();
        let texts = texts.clone();
        async move {
            let all: String = chats
                .iter()
                .flat_map(|c| fake.messages(*c))
                .filter(|m| m.from_bot && m.thread_id.is_some() && m.reply_markup.is_none())
                .filter_map(|m| m.content.text_or_caption().map(str::to_string))
                .collect::<Vec<_>>()
                .join("\n");
            texts.iter().all(|x| all.contains(x.as_str())).then_some(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_update_is_stored_once() {
    let t = TestApp::start().await;
    let c = t.customer(701, "Dmytro", None);
    t.fake.customer_writes(&c, "only once");
    let (chat, thread, _) = t.topic_of(&c).await;
    // Telegram delivers the same message again (a new update id, the same message).
    let original = t.fake.messages(701).into_iter().next().unwrap();
    let msg = json!({"message_id": original.message_id, "date": 1_800_000_000,
        "chat": {"id": 701, "type": "private", "first_name": "Dmytro"},
        "from": {"id": 701, "is_bot": false, "first_name": "Dmytro"}, "text": "only once"});
    t.fake.inject_raw(json!({"message": msg.clone()}));
    t.fake.inject_raw(json!({"message": msg}));
    t.until("the updates are consumed", |fake| fake.pending_updates() == 0).await;
    t.settled().await;
    let lead = t.lead_of(&c).await;
    assert_eq!(t.store.lead_messages(lead.id).await.unwrap().len(), 1);
    assert_eq!(t.topic_texts(chat, thread).iter().filter(|x| x.ends_with("only once")).count(), 1);
    assert_eq!(t.store.counts().await.unwrap(), (1, 1, 1));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_updates_are_skipped_with_a_log_line_and_change_nothing() {
    let t = TestApp::start().await;
    t.fake.inject_raw(json!({"message": {"what": "is this"}}));
    t.fake.inject_raw(json!({"edited_message": {"message_id": 1}}));
    t.fake.inject_raw(json!({"poll": {"id": "x"}}));
    let c = t.customer(702, "Halyna", None);
    t.fake.customer_writes(&c, "after the garbage");
    t.topic_of(&c).await;
    t.settled().await;
    assert_eq!(t.store.counts().await.unwrap(), (1, 1, 1));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_loses_nothing() {
    let mut t = TestApp::start().await;
    let people: Vec<FakeUser> = (0..4).map(|i| t.customer(710 + i, &format!("Client{i}"), None)).collect();
    let mut texts = Vec::new();
    for round in 0..3 {
        for p in &people {
            let x = format!("{} message {round}", p.first_name);
            t.fake.customer_writes(p, &x);
            texts.push(x);
        }
        if round == 0 {
            t.crash();
        }
        if round == 1 {
            t.start_again().await;
        }
    }
    wait_texts_in_topics(&t, &[STAFF], &texts).await;
    t.settled().await;
    let (_, leads, messages) = t.store.counts().await.unwrap();
    assert_eq!((leads, messages), (4, 12));
    t.restart().await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_server_errors_are_retried_until_delivered() {
    let t = TestApp::start().await;
    let max = t.staff(9501, "Max Petrenko", Role::Manager).await;
    let c = t.customer(720, "Nadia", None);
    t.fake.customer_writes(&c, "hi");
    let (chat, thread, _) = t.topic_of(&c).await;
    t.settled().await;
    t.fake.fail_next("sendMessage", Some(720), ApiError::too_many(1), 1);
    t.fake.fail_next("sendMessage", Some(720), ApiError::server("try later"), 1);
    t.fake.staff_writes(chat, Some(thread), &max, "We have it in stock");
    t.until("the reply is delivered after a 429 and a 500", |fake| !fake.bot_messages_to(720).is_empty()).await;
    let failed: Vec<u16> = t.fake.calls().iter().filter_map(|c| c.error.as_ref().map(|e| e.code)).collect();
    assert_eq!(failed, vec![429, 500]);
    assert_eq!(t.fake.bot_messages_to(720).len(), 1, "delivered once");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_keeps_failing_is_parked_said_in_the_topic_and_can_be_retried() {
    let t = TestApp::start_with(Opts { max_attempts: 2, ..Opts::default() }).await;
    let max = t.staff(9502, "Max Petrenko", Role::Manager).await;
    let c = t.customer(721, "Pavlo", None);
    t.fake.customer_writes(&c, "hi");
    let (chat, thread, _) = t.topic_of(&c).await;
    t.settled().await;
    t.fake.fail_next("sendMessage", Some(721), ApiError::server("down"), 2);
    t.fake.staff_writes(chat, Some(thread), &max, "Are you still interested?");
    let store = t.store.clone();
    let parked = eventually("the delivery is parked", || {
        let store = store.clone();
        async move {
            let p = store.parked_jobs().await.ok()?;
            (!p.is_empty()).then_some(p)
        }
    })
    .await;
    assert_eq!(parked.len(), 1);
    t.until("the topic says it was not delivered", |fake| {
        fake.topic_messages(chat, thread).iter().any(|m| {
            m.content.text_or_caption().is_some_and(|x| x.contains("Not delivered") && x.contains("kept failing"))
        })
    })
    .await;
    // An admin retries it: it was marked failed, so the retry does not send it twice.
    assert_eq!(t.store.retry_parked(None, t.clock.now_ms()).await.unwrap(), 1);
    t.app().wake.notify_one();
    t.settled().await;
    assert!(t.fake.bot_messages_to(721).is_empty());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_who_blocked_the_bot_is_reported_in_the_topic() {
    let t = TestApp::start().await;
    let max = t.staff(9503, "Max Petrenko", Role::Manager).await;
    let c = t.customer(722, "Ilona", None);
    t.fake.customer_writes(&c, "hi");
    let (chat, thread, _) = t.topic_of(&c).await;
    t.fake.set_blocked(722, true);
    t.fake.staff_writes(chat, Some(thread), &max, "Hello?");
    t.until("the topic says the customer blocked the bot", |fake| {
        fake.topic_messages(chat, thread)
            .iter()
            .any(|m| m.content.text_or_caption().is_some_and(|x| x.contains("blocked the bot") && x.contains("Hello?")))
    })
    .await;
    let lead = t.lead_of(&c).await;
    let out = t.store.lead_messages(lead.id).await.unwrap();
    assert!(out.iter().any(|m| m.delivery == Some(forecourt::domain::message::DeliveryState::Failed)
        && m.delivery_error.as_deref() == Some("blocked")));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_topic_is_recreated_and_a_closed_one_reopened() {
    let t = TestApp::start().await;
    let c = t.customer(723, "Stepan", None);
    t.fake.customer_writes(&c, "first");
    let (chat, thread, card) = t.topic_of(&c).await;
    t.settled().await;

    let boss = forecourt::sandbox::telegram::FakeUser::new(9600, "Boss", None);
    t.fake.close_topic(chat, thread, &boss);
    let store = t.store.clone();
    let lead_id = t.lead_of(&c).await.id;
    eventually("the closing is noticed", || {
        let store = store.clone();
        async move { store.lead(lead_id).await.ok()?.filter(|l| l.topic_closed).map(|_| ()) }
    })
    .await;
    t.fake.customer_writes(&c, "second, topic closed");
    wait_texts_in_topics(&t, &[chat], &["second, topic closed".into()]).await;
    assert!(!t.fake.topics(chat)[0].1.closed, "the topic was reopened");
    assert_eq!(t.fake.calls_of("reopenforumtopic").len(), 1);

    t.fake.delete_topic(chat, thread);
    t.fake.customer_writes(&c, "third, topic deleted");
    let lead = t.lead_of(&c).await.id;
    let store = t.store.clone();
    let (new_thread, new_card) = eventually("a new topic with a new card", || {
        let store = store.clone();
        async move {
            let l = store.lead(lead).await.ok()??;
            let th = l.topic_thread_id.filter(|x| *x != thread)?;
            Some((th, l.card_message_id.filter(|m| *m != card)?))
        }
    })
    .await;
    wait_texts_in_topics(&t, &[chat], &["third, topic deleted".into()]).await;
    let texts = t.topic_texts(chat, new_thread);
    assert!(texts.iter().any(|x| x.contains("replaces an earlier one")), "{texts:?}");
    assert!(texts.iter().any(|x| x.contains("] third, topic deleted")), "{texts:?}");
    assert!(t.card(chat, new_card).content.text_or_caption().unwrap().contains("Stepan"));
    assert!(t.fake.general_messages(chat).is_empty(), "nothing meant for a topic landed in General");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_is_merged_to_fit_the_group_limit_without_429s() {
    // Telegram's real limits, on a clock 5 times faster than real time. (Faster, a request's
    // real travel time under a loaded CI machine becomes seconds of clock time, more than the
    // limiter's margin: the fake then sees two sends closer than they were made.)
    let t = TestApp::start_with(Opts { rate_limits: true, speed: 5.0, ..Opts::default() }).await;
    let people: Vec<FakeUser> = (0..6).map(|i| t.customer(730 + i, &format!("Buyer{i}"), None)).collect();
    let mut texts = Vec::new();
    for round in 0..8 {
        for p in &people {
            let x = format!("{} asks #{round}", p.first_name);
            t.fake.customer_writes(p, &x);
            texts.push(x);
        }
    }
    wait_texts_in_topics(&t, &[STAFF], &texts).await;
    assert_eq!(t.fake.rate_limited_count(), 0, "no 429 was met");
    let sends: Vec<i64> = t
        .fake
        .calls()
        .iter()
        .filter(|c| c.error.is_none() && c.params["chat_id"].as_i64() == Some(STAFF))
        .filter(|c| c.method.starts_with("send") || c.method.starts_with("edit"))
        .map(|c| c.at_ms)
        .collect();
    assert!(sends.len() < texts.len(), "{} sends for {} messages: they were merged", sends.len(), texts.len());
    for (i, at) in sends.iter().enumerate() {
        let in_window = sends[i..].iter().take_while(|x| **x < at + 60_000).count();
        assert!(in_window <= 20, "more than 20 sends in a minute from #{i}");
    }
    let (_, leads, messages) = t.store.counts().await.unwrap();
    assert_eq!((leads, messages), (6, 48));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_checks_the_secret_and_commits_before_answering() {
    let t = TestApp::start_with(Opts { webhook_secret: Some("s3cret-token".into()), ..Opts::default() }).await;
    let client = reqwest::Client::new();
    let url = format!("{}/webhooks/telegram", t.http());
    let update = json!({"update_id": 5001, "message": {"message_id": 1, "date": 1_800_000_000,
        "chat": {"id": 740, "type": "private", "first_name": "Web"},
        "from": {"id": 740, "is_bot": false, "first_name": "Web"}, "text": "via webhook"}});
    let wrong = client.post(&url).header("X-Telegram-Bot-Api-Secret-Token", "nope").json(&update).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let missing = client.post(&url).json(&update).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(t.store.counts().await.unwrap(), (0, 0, 0), "nothing stored");
    let bad = client
        .post(&url)
        .header("X-Telegram-Bot-Api-Secret-Token", "s3cret-token")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("not a Telegram update"));
    for _ in 0..2 {
        let ok = client
            .post(&url)
            .header("X-Telegram-Bot-Api-Secret-Token", "s3cret-token")
            .json(&update)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        // 200 means committed: the message is there already.
        assert_eq!(t.store.counts().await.unwrap(), (1, 1, 1));
    }
    let health = client.get(format!("{}/healthz", t.http())).send().await.unwrap();
    assert_eq!(health.status(), 200);
    t.stop().await;
}

/// A child process that is killed when the test ends, even by a panic.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the SIGKILL stories with Viber share: the fakes, a fixed port, the database, and the
/// Viber settings for the binary.
struct ViberRun {
    fake: forecourt::sandbox::telegram::FakeTelegram,
    viber: forecourt::sandbox::viber::FakeViber,
    base: String,
    dir: tempfile::TempDir,
    db: String,
    viber_env: Vec<(&'static str, String)>,
}

impl ViberRun {
    async fn new() -> ViberRun {
        init();
        let clock = forecourt::clock::Clock::real();
        let fake = forecourt::sandbox::telegram::FakeTelegram::start(TOKEN, clock.clone()).await.unwrap();
        fake.add_staff_group(STAFF, "Staff");
        let viber = forecourt::sandbox::viber::FakeViber::start(VIBER_TOKEN, clock).await.unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let base = format!("http://127.0.0.1:{port}");
        viber.set_webhook_target(&format!("{base}/webhooks/viber"));
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}/kill.db", dir.path().display());
        let viber_env = vec![
            ("FORECOURT_HTTP_ADDR", format!("127.0.0.1:{port}")),
            ("FORECOURT_PUBLIC_URL", base.clone()),
            ("FORECOURT_VIBER_TOKEN", VIBER_TOKEN.into()),
            ("FORECOURT_VIBER_API_URL", viber.url()),
        ];
        ViberRun { fake, viber, base, dir, db, viber_env }
    }
}

/// Wait until the service at `base` answers its health check.
async fn healthy(base: &str) {
    let http = reqwest::Client::new();
    let url = format!("{base}/healthz");
    eventually("the service answers", || {
        let (http, url) = (http.clone(), url.clone());
        async move { http.get(&url).send().await.ok().filter(|r| r.status() == 200).map(|_| ()) }
    })
    .await
}

/// `forecourt run` as a separate process on `db`, against the fake Bot API at `telegram`.
fn run_binary(db: &str, dir: &std::path::Path, telegram: &str, extra: &[(&str, String)]) -> Child {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_forecourt"));
    c.arg("run")
        .env("DATABASE_URL", db)
        .env("FORECOURT_TELEGRAM_TOKEN", TOKEN)
        .env("FORECOURT_TELEGRAM_API_URL", telegram)
        .env("FORECOURT_STAFF_CHAT_ID", STAFF.to_string())
        .env("FORECOURT_DATA_DIR", dir.join("data"))
        .env("FORECOURT_LOG", "warn")
        // These stories count the bridge's rows; the bot's flows have their own story.
        .env("FORECOURT_FLOWS_DIR", "off")
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (k, v) in extra {
        c.env(k, v);
    }
    c.spawn().map(Child).expect("the binary starts")
}

/// The real binary, killed with SIGKILL in the middle of a burst and started again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_process_mid_burst_loses_no_message() {
    init();
    let clock = forecourt::clock::Clock::real();
    let fake = forecourt::sandbox::telegram::FakeTelegram::start(TOKEN, clock).await.unwrap();
    fake.add_staff_group(STAFF, "Staff");
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/kill.db", dir.path().display());
    let spawn = || run_binary(&db, dir.path(), &fake.url(), &[("FORECOURT_HTTP_ADDR", "127.0.0.1:0".into())]);
    let people: Vec<FakeUser> = (0..3).map(|i| FakeUser::new(800 + i, &format!("Kill{i}"), None)).collect();
    let mut texts = Vec::new();
    let mut child = spawn();
    for round in 0..6 {
        for p in &people {
            let x = format!("{} burst {round}", p.first_name);
            fake.customer_writes(p, &x);
            texts.push(x);
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
        if round == 3 {
            child.0.kill().expect("SIGKILL");
            child.0.wait().unwrap();
        }
    }
    child = spawn();
    let f = fake.clone();
    let wanted = texts.clone();
    // Real time and real limits' pacing on our side: give it a minute.
    eventually_within("every message of the burst is in a topic", Duration::from_secs(150), || {
        let f = f.clone();
        let wanted = wanted.clone();
        async move {
            let all: String = f
                .messages(STAFF)
                .into_iter()
                .filter(|m| m.from_bot && m.thread_id.is_some())
                .filter_map(|m| m.content.text_or_caption().map(str::to_string))
                .collect::<Vec<_>>()
                .join("\n");
            wanted.iter().all(|x| all.contains(x.as_str())).then_some(())
        }
    })
    .await;
    drop(child);
    let store = forecourt::store::Store::connect(&db).await.unwrap();
    let (customers, leads, messages) = store.counts().await.unwrap();
    assert_eq!((customers, leads, messages), (3, 3, 18), "each message stored exactly once");
    let mut per_lead: HashMap<i64, usize> = HashMap::new();
    for id in store.lead_ids().await.unwrap() {
        per_lead.insert(id.0, store.lead_messages(id).await.unwrap().len());
    }
    assert!(per_lead.values().all(|n| *n == 6), "{per_lead:?}");
    fake.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_too_long_for_the_customer_is_reported_and_not_retried() {
    // A signature pushes a maximal staff message over Telegram's 4,096 characters.
    let t = TestApp::start_with(Opts { sign_replies: true, ..Opts::default() }).await;
    let max = t.staff(9504, "Maximilian Petrenko", Role::Manager).await;
    let c = t.customer(724, "Long", None);
    t.fake.customer_writes(&c, "hi");
    let (chat, thread, _) = t.topic_of(&c).await;
    t.fake.staff_writes(chat, Some(thread), &max, &"x".repeat(4090));
    t.topic_has(chat, thread, "the topic says it was too long", |m| {
        m.content.text_or_caption().is_some_and(|x| x.contains("too long"))
    })
    .await;
    t.settled().await;
    assert!(t.fake.bot_messages_to(724).is_empty());
    assert!(t.store.parked_jobs().await.unwrap().is_empty(), "a message that can never fit is not retried");
    t.stop().await;
}

/// The real binary killed with SIGKILL while Viber webhooks pour in; Viber retries every
/// event that was not answered 200 (and, as providers do, some that were). Every message
/// ends up stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_process_mid_webhook_burst_loses_nothing_when_the_provider_retries() {
    let ViberRun { fake, viber, base, dir, db, viber_env } = ViberRun::new().await;
    let spawn = || run_binary(&db, dir.path(), &fake.url(), &viber_env);
    let healthy = || healthy(&base);
    let bodies: Vec<serde_json::Value> = (0..300u64)
        .map(|i| {
            serde_json::json!({"event": "message", "timestamp": 1_700_000_000_000u64 + i,
                "message_token": 7_000_000_000_000_000_000u64 + i,
                "sender": {"id": format!("kill{}", i % 20), "name": format!("Kill {}", i % 20)},
                "message": {"type": "text", "text": format!("webhook {i}")}})
        })
        .collect();
    let mut child = spawn();
    healthy().await;
    let mut tasks = Vec::new();
    for (i, b) in bodies.iter().enumerate() {
        let (v, b) = (viber.clone(), b.clone());
        tasks.push(tokio::spawn(async move { v.post(&b).await.0 }));
        if i == 150 {
            child.0.kill().expect("SIGKILL");
            child.0.wait().unwrap();
        }
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let acknowledged = statuses.iter().filter(|s| **s == 200).count();
    assert!(acknowledged < 300, "the kill interrupted the burst");
    child = spawn();
    healthy().await;
    for (i, (b, s)) in bodies.iter().zip(&statuses).enumerate() {
        if *s != 200 || i % 5 == 0 {
            assert_eq!(viber.post(b).await.0, 200, "the retry of webhook {i} is accepted");
        }
    }
    drop(child);
    let store = forecourt::store::Store::connect(&db).await.unwrap();
    let (customers, _, messages) = store.counts().await.unwrap();
    assert_eq!(
        (customers, messages),
        (20, 300),
        "each message stored exactly once ({acknowledged} acknowledged before the kill)"
    );
    viber.stop();
    fake.stop();
}

/// The real binary killed with SIGKILL while Viber customers answer the welcome flow; Viber
/// retries what was not answered 200. Afterwards every conversation is complete and the bot
/// wrote each of its messages exactly once (the flow job's state and its messages commit
/// together).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_process_mid_conversations_says_each_bot_message_once() {
    let ViberRun { fake, viber, base, dir, db, viber_env } = ViberRun::new().await;
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let env: Vec<(&str, String)> = viber_env
        .iter()
        .cloned()
        .chain([
            ("FORECOURT_FLOWS_DIR", repo.join("flows").display().to_string()),
            ("FORECOURT_TEMPLATES_DIR", repo.join("templates").display().to_string()),
            ("FORECOURT_BUSINESS_HOURS", "Mon-Sun 00:00-24:00".into()),
        ])
        .collect();
    let spawn = || run_binary(&db, dir.path(), &fake.url(), &env);
    let healthy = || healthy(&base);
    const PEOPLE: usize = 24;
    let script = ["Добрий день", "купити", "Toyota RAV4 2019", "до 25 000 $"];
    let start = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let body = |p: usize, k: usize| {
        // Sent now (the bot leaves messages over an hour old to the staff).
        serde_json::json!({"event": "message", "timestamp": start + k as u64,
            "message_token": 8_000_000_000_000_000_000u64 + (p * 10 + k) as u64,
            "sender": {"id": format!("conv{p}"), "name": format!("Conv {p}"), "language": "uk"},
            "message": {"type": "text", "text": script[k]}})
    };
    // Each customer writes their four messages in order, a little apart; the process is
    // killed while they do. A customer stops at the first message not answered 200.
    for p in 0..PEOPLE {
        viber.add_user(&format!("conv{p}"), &format!("Conv {p}"));
    }
    let mut child = spawn();
    healthy().await;
    let mut tasks = Vec::new();
    for p in 0..PEOPLE {
        let v = viber.clone();
        let bodies: Vec<serde_json::Value> = (0..script.len()).map(|k| body(p, k)).collect();
        tasks.push(tokio::spawn(async move {
            for (k, b) in bodies.iter().enumerate() {
                if v.post(b).await.0 != 200 {
                    return k;
                }
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            bodies.len()
        }));
    }
    tokio::time::sleep(Duration::from_millis(90)).await;
    child.0.kill().expect("SIGKILL");
    child.0.wait().unwrap();
    let mut done = Vec::new();
    for t in tasks {
        done.push(t.await.unwrap());
    }
    assert!(done.iter().any(|d| *d < script.len()), "the kill interrupted the conversations");
    child = spawn();
    healthy().await;
    // Viber retries the message that failed (and, as providers do, the one before it), then
    // the customers go on.
    for (p, from) in done.iter().enumerate() {
        for k in from.saturating_sub(1)..script.len() {
            assert_eq!(viber.post(&body(p, k)).await.0, 200);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let store = forecourt::store::Store::connect(&db).await.unwrap();
    eventually_within("every conversation is handed off", Duration::from_secs(60), || {
        let store = store.clone();
        async move {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM leads WHERE budget IS NOT NULL")
                .fetch_one(store.pool())
                .await
                .ok()?;
            (n == PEOPLE as i64).then_some(())
        }
    })
    .await;
    let v = viber.clone();
    eventually_within("every customer got the hand-off", Duration::from_secs(60), || {
        let ok = (0..PEOPLE).all(|p| {
            v.sent_to(&format!("conv{p}"))
                .iter()
                .any(|s| s.text.as_deref().is_some_and(|t| t.contains("протягом 15 хвилин")))
        });
        async move { ok.then_some(()) }
    })
    .await;
    drop(child);
    let per_lead: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT lead_id, SUM(CASE WHEN direction = 'incoming' THEN 1 ELSE 0 END),
                SUM(CASE WHEN direction = 'outgoing' THEN 1 ELSE 0 END)
         FROM messages GROUP BY lead_id ORDER BY lead_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(per_lead.len(), PEOPLE);
    for (lead, incoming, outgoing) in per_lead {
        assert_eq!((incoming, outgoing), (4, 5), "lead {lead}: four answers, five bot messages, each once");
    }
    viber.stop();
    fake.stop();
}

/// The real binary killed between `createForumTopic` and storing the topic's id: after the
/// restart the lead has one topic with its card, and no empty topic is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_between_topic_creation_and_storing_it_leaves_no_empty_topic() {
    init();
    let clock = forecourt::clock::Clock::real();
    let fake = forecourt::sandbox::telegram::FakeTelegram::start(TOKEN, clock).await.unwrap();
    fake.add_staff_group(STAFF, "Staff");
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/orphan.db", dir.path().display());
    let spawn = || run_binary(&db, dir.path(), &fake.url(), &[("FORECOURT_HTTP_ADDR", "127.0.0.1:0".into())]);
    // The topic is created at once, but the answer takes 5 s: the kill comes in between.
    fake.hold_answers("createForumTopic", 5_000);
    let mut child = spawn();
    let olena = FakeUser::new(880, "Olena", None);
    fake.customer_writes(&olena, "Is the Octavia still for sale?");
    let f = fake.clone();
    eventually("the topic is created", || {
        let n = f.topics(STAFF).len();
        async move { (n == 1).then_some(()) }
    })
    .await;
    child.0.kill().expect("SIGKILL");
    child.0.wait().unwrap();
    fake.hold_answers("createForumTopic", 0);
    let _child = spawn();
    let f = fake.clone();
    eventually_within("the lead's topic shows its card and message", Duration::from_secs(60), || {
        let f = f.clone();
        async move {
            let live: Vec<i32> = f.topics(STAFF).into_iter().filter(|(_, t)| !t.deleted).map(|(id, _)| id).collect();
            let [thread] = live.as_slice() else { return None };
            let msgs = f.topic_messages(STAFF, *thread);
            let card = msgs.iter().any(|m| m.reply_markup.is_some());
            let text = msgs.iter().any(|m| m.content.text_or_caption().is_some_and(|c| c.contains("Octavia")));
            (card && text).then_some(())
        }
    })
    .await;
    let store = forecourt::store::Store::connect(&db).await.unwrap();
    let lead = store.lead(store.lead_ids().await.unwrap()[0]).await.unwrap().unwrap();
    let live: Vec<i32> = fake.topics(STAFF).into_iter().filter(|(_, t)| !t.deleted).map(|(id, _)| id).collect();
    assert_eq!(live, vec![lead.topic_thread_id.unwrap()], "the one live topic is the lead's");
    fake.stop();
}
