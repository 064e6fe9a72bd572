//! Calls (issue 12): Ringostat and Binotel webhooks through the real program over HTTP,
//! the call in the lead's topic with its recording, missed calls and their callbacks,
//! reconciliation against the call log, and no readable phone number anywhere.

use crate::harness::*;
use forecourt::domain::{LeadId, Role, TelegramUserId};
use forecourt::sandbox::telegram::{ChatMessage, Content};
use forecourt::sandbox::telephony::{post_binotel, post_ringostat, Encoding, FakeCall, Recording};

/// Yuliia writes on WhatsApp from this number; she calls from it too.
const YULIIA_WA: &str = "380971234567";
const YULIIA_DIALS: &str = "+380 97 123 45 67";

async fn start(db: Db) -> TestApp {
    TestApp::start_with(Opts { db, channels: true, telephony: true, ..Opts::default() }).await
}

impl TestApp {
    fn ringostat_url(&self, token: &str) -> String {
        format!("{}/webhooks/ringostat?token={token}", self.http())
    }

    async fn ringostat(&self, call: &FakeCall, ended: bool, enc: Encoding) -> (u16, String) {
        let url = self.ringostat_url(RINGOSTAT_TOKEN);
        post_ringostat(&reqwest::Client::new(), &url, call, self.config.timezone, ended, enc).await
    }

    async fn binotel(&self, call: &FakeCall) -> (u16, String) {
        let url = format!("{}/webhooks/binotel?token={BINOTEL_TOKEN}", self.http());
        post_binotel(&reqwest::Client::new(), &url, call).await
    }

    fn tel(&self) -> &forecourt::sandbox::telephony::FakeTelephony {
        self.tel.as_ref().expect("started with telephony")
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql).fetch_one(self.store.pool()).await.unwrap()
    }

    /// A staff member with a PBX extension.
    async fn staff_with_extension(&self, telegram_id: i64, name: &str, role: Role, ext: &str) {
        self.staff(telegram_id, name, role).await;
        let u = self.store.user_by_telegram(TelegramUserId(telegram_id)).await.unwrap().unwrap();
        self.store.set_user_extension(u.id, Some(ext), self.clock.now_ms()).await.unwrap();
    }
}

fn is_audio(m: &ChatMessage) -> bool {
    m.content.describe().contains("audio")
}

async fn an_answered_call_from_a_whatsapp_customer_lands_in_her_topic_with_its_audio(db: Db) {
    let t = start(db).await;
    t.staff_with_extension(9101, "Oksana Melnyk", Role::Manager, "101").await;
    assert_eq!(t.wa().customer_writes(YULIIA_WA, "Yuliia", "Is the Tucson still for sale?").await, 200);
    let lead = t.lead_by_identity("whatsapp", YULIIA_WA).await;
    let (chat, thread, card) = t.topic_of_lead(lead.id).await;

    let rec = t.tel().host(Recording::Bytes(b"ID3-fake-mp3-recording".repeat(100)), None);
    let call = FakeCall::inbound("1733131471.1001", YULIIA_DIALS, t.clock.now_ms())
        .answered("101", "Oksana Melnyk", 62, 13)
        .with_recording(&rec)
        .from_pool("Google Ads", "google", "cpc", "winter");
    // The start as JSON, the end as form data: Ringostat lets the integrator choose.
    assert_eq!(t.ringostat(&call, false, Encoding::Json).await.0, 200);
    assert_eq!(t.ringostat(&call, true, Encoding::Form).await.0, 200);

    let m = t.topic_message(chat, thread, "Incoming call, answered").await;
    let text = m.content.text_or_caption().unwrap().to_string();
    // One fact a line.
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("📞 Incoming call, answered · ") && lines[0].ends_with(" · …67"), "{text}");
    assert!(lines.contains(&"Answered by: Oksana Melnyk"), "{text}");
    assert!(lines.contains(&"Talk 1:02 · waited 13 s"), "{text}");
    assert!(lines.contains(&"Source: Google Ads · google / cpc / winter"), "{text}");
    assert!(text.contains("…67"), "{text}");
    assert!(button_url(&m, "Ringostat").is_some_and(|u| u.contains("1733131471.1001")), "{:?}", m.reply_markup);
    // The recording, as audio under the call's message.
    t.until("the recording is posted under the call", |f| {
        f.topic_messages(chat, thread).iter().any(|a| is_audio(a) && a.reply_to == Some(m.message_id))
    })
    .await;
    t.topic_message(chat, thread, "Recording: below").await;
    // In her existing topic: no second lead, no second customer.
    assert_eq!(t.count("SELECT COUNT(*) FROM leads").await, 1);
    assert_eq!(t.count("SELECT COUNT(*) FROM customers").await, 1);
    // A call is a touch: Oksana answered, so the lead is hers and contacted.
    let l = t.lead(lead.id).await;
    assert_eq!(l.stage, forecourt::domain::Stage::Contacted);
    assert_eq!(l.owner_name.as_deref(), Some("Oksana Melnyk"));
    t.card_shows(chat, card, "Contacted").await;
    t.card_shows(chat, card, "Last call: 📞").await;
    let c = t.card_shows(chat, card, "1:02 with Oksana Melnyk").await;
    let card_text = c.content.text_or_caption().unwrap().to_string();
    assert!(
        card_text.lines().any(|l| l.starts_with("Last call: 📞") && l.ends_with("1:02 with Oksana Melnyk")),
        "{card_text}"
    );
    t.stop().await;
}

on_both_engines!(
    an_answered_call_from_a_whatsapp_customers_number_lands_in_her_topic_with_its_audio,
    an_answered_call_from_a_whatsapp_customers_number_lands_in_her_topic_with_its_audio_on_postgres,
    an_answered_call_from_a_whatsapp_customer_lands_in_her_topic_with_its_audio
);

/// A Telegram customer who shares their own contact gets a phone identity (its hash, never
/// the number): their call lands in their topic. Somebody else's Telegram contact does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_telegram_customer_who_shares_her_number_is_found_by_her_call() {
    let t = start(Db::Sqlite).await;
    let olena = t.customer(7301, "Olena", None);
    t.fake.customer_writes(&olena, "Hi, is the RAV4 available?");
    let (chat, thread, _) = t.topic_of(&olena).await;
    // A friend's Telegram contact first: not hers, so no identity.
    t.fake.customer_sends(
        &olena,
        Content::Contact { phone_number: "+380671110022".into(), first_name: "Friend".into(), user_id: Some(7302) },
        None,
    );
    // Then her own, with Telegram's "share my number".
    t.fake.customer_sends(
        &olena,
        Content::Contact { phone_number: "+380503334455".into(), first_name: "Olena".into(), user_id: Some(7301) },
        None,
    );
    eventually("her phone identity", || async {
        (t.count("SELECT COUNT(*) FROM customer_phones").await == 1).then_some(())
    })
    .await;
    let stored = everything_stored(&t).await;
    for n in ["503334455", "671110022"] {
        assert!(!stored.contains(n), "a shared number was kept: {n}");
    }

    let call = FakeCall::inbound("1733131471.7301", "0503334455", t.clock.now_ms()).missed(10);
    assert_eq!(t.ringostat(&call, true, Encoding::Json).await.0, 200);
    t.topic_message(chat, thread, "❌ Missed call").await;
    assert_eq!(t.count("SELECT COUNT(*) FROM leads").await, 1, "her lead, not a new one");
    // The friend's number is a stranger.
    let call = FakeCall::inbound("1733131471.7302", "0671110022", t.clock.now_ms()).missed(10);
    assert_eq!(t.ringostat(&call, true, Encoding::Json).await.0, 200);
    eventually("a lead for the stranger", || async {
        (t.count("SELECT COUNT(*) FROM leads").await == 2).then_some(())
    })
    .await;
    t.stop().await;
}

fn button_url(m: &ChatMessage, label: &str) -> Option<String> {
    let k = m.reply_markup.as_ref()?;
    k["inline_keyboard"]
        .as_array()?
        .iter()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .find(|b| b["text"].as_str().is_some_and(|t| t.contains(label)))
        .and_then(|b| b["url"].as_str().map(str::to_string))
}

async fn a_missed_call_from_an_unknown_number_opens_a_lead_with_a_callback_task(db: Db) {
    let t = start(db).await;
    let max = t.staff(9102, "Max Petrenko", Role::Manager).await;
    let call = FakeCall::inbound("1733131471.2002", "0501112299", t.clock.now_ms()).missed(25);
    // Only the end arrives (its start was lost): a call all the same.
    assert_eq!(t.ringostat(&call, true, Encoding::Json).await.0, 200);

    let lead_id: i64 = eventually("a lead for the caller", || async {
        sqlx::query_scalar::<_, i64>("SELECT id FROM leads WHERE source_channel = 'call'")
            .fetch_optional(t.store.pool())
            .await
            .ok()?
    })
    .await;
    let lead = t.lead(LeadId(lead_id)).await;
    assert_eq!(lead.customer_name, "Caller …99");
    assert_eq!(lead.stage, forecourt::domain::Stage::New);
    assert_eq!(lead.last_channel, None, "no messenger yet");
    let (chat, thread, card) = t.topic_of_lead(lead.id).await;
    t.card_shows(chat, card, "Phone call").await;
    let m = t.topic_message(chat, thread, "❌ Missed call").await;
    let text = m.content.text_or_caption().unwrap();
    assert!(text.contains("Call back by"), "{text}");
    // The callback task: open, unassigned (nobody owns the lead), due in 15 minutes.
    let tasks = t.store.tasks_of_lead(lead.id).await.unwrap();
    assert_eq!(tasks.len(), 1);
    assert!(tasks[0].open && tasks[0].user.is_none() && tasks[0].kind == "callback");
    let due = tasks[0].due_at.unwrap();
    let started = call.started_at;
    assert!(due >= started + 15 * 60_000 - 1_000, "due {} min after", (due - started) / 60_000);

    // A staff reply has no chat to go to: said in the topic, nothing queued.
    t.fake.staff_writes(chat, Some(thread), &max, "Hello!");
    t.topic_message(chat, thread, "only called").await;
    assert_eq!(t.count("SELECT COUNT(*) FROM messages WHERE direction = 'outgoing'").await, 0);

    // ✅ Called back closes it, and the call's message says so.
    let press = t.fake.staff_presses(chat, m.message_id, &max, &button_data(&m, "Called back").unwrap());
    assert_eq!(t.callback_answer(&press).await, "Callback done.");
    t.topic_message(chat, thread, "✅ Called back — Max Petrenko").await;
    assert!(!t.store.tasks_of_lead(lead.id).await.unwrap()[0].open);
    t.stop().await;
}

on_both_engines!(
    a_missed_call_from_an_unknown_number_opens_a_lead_with_a_callback_task_on_sqlite,
    a_missed_call_from_an_unknown_number_opens_a_lead_with_a_callback_task_on_postgres,
    a_missed_call_from_an_unknown_number_opens_a_lead_with_a_callback_task
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answered_call_to_the_same_number_closes_the_callback_by_itself() {
    let t = start(Db::Sqlite).await;
    t.staff_with_extension(9103, "Max Petrenko", Role::Manager, "102").await;
    let missed = FakeCall::inbound("c-missed", "0671234500", t.clock.now_ms()).missed(20);
    assert_eq!(t.ringostat(&missed, true, Encoding::Form).await.0, 200);
    let lead = eventually("the caller's lead", || async {
        sqlx::query_scalar::<_, i64>("SELECT id FROM leads").fetch_optional(t.store.pool()).await.ok()?
    })
    .await;
    // Max calls back from the PBX: an outbound call, answered.
    let mut back = FakeCall::inbound("c-back", "101", t.clock.now_ms() + 60_000).answered("102", "Max Petrenko", 40, 5);
    back.call_type = "out".into();
    back.dst = "+380671234500".into();
    assert_eq!(t.ringostat(&back, true, Encoding::Json).await.0, 200);
    let tasks = eventually("the callback is done", || async {
        let tasks = t.store.tasks_of_lead(LeadId(lead)).await.ok()?;
        tasks.iter().all(|t| !t.open).then_some(tasks)
    })
    .await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(t.count("SELECT COUNT(*) FROM leads").await, 1, "the call back went to the same lead");
    let l = t.lead(LeadId(lead)).await;
    assert_eq!(l.owner_name.as_deref(), Some("Max Petrenko"), "the answered call claimed the lead");
    t.stop().await;
}

async fn each_event_posted_twice_is_stored_once(db: Db) {
    let t = start(db).await;
    let now = t.clock.now_ms();
    let call = FakeCall::inbound("dup-1", "0931112233", now).answered("105", "Nobody Here", 30, 4);
    // The end before its start, then both again, in both encodings.
    for (ended, enc) in
        [(true, Encoding::Json), (false, Encoding::Form), (true, Encoding::Form), (false, Encoding::Json)]
    {
        assert_eq!(t.ringostat(&call, ended, enc).await.0, 200);
    }
    let b = FakeCall::inbound("bt-77", "0931112233", now).missed(12);
    assert_eq!(t.binotel(&b).await, (200, r#"{"status":"success"}"#.to_string()));
    assert_eq!(t.binotel(&b).await.0, 200);
    t.settled().await;
    assert_eq!(t.count("SELECT COUNT(*) FROM calls").await, 2);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM calls WHERE disposition = 'answered' AND billsec = 30").await,
        1,
        "the end won"
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM leads").await, 1, "one caller, one lead");
    assert_eq!(t.count("SELECT COUNT(*) FROM tasks").await, 1, "one callback for the missed Binotel call");
    // The extension nobody has is said on the message, never dropped.
    let lead = LeadId(t.count("SELECT id FROM leads").await);
    let (chat, thread, _) = t.topic_of_lead(lead).await;
    let m = t.topic_message(chat, thread, "Incoming call, answered").await;
    assert!(m.content.text_or_caption().unwrap().contains("Answered by: Nobody Here"));
    // One message per call, whatever came twice.
    let calls_posted = t
        .fake
        .topic_messages(chat, thread)
        .iter()
        .filter(|m| m.content.text_or_caption().is_some_and(|t| t.starts_with("📞")))
        .count();
    assert_eq!(calls_posted, 2);
    t.stop().await;
}

on_both_engines!(
    each_event_posted_twice_is_stored_once_on_sqlite,
    each_event_posted_twice_is_stored_once_on_postgres,
    each_event_posted_twice_is_stored_once
);

async fn bad_tokens_and_bodies_are_refused_with_nothing_stored(db: Db) {
    let t = start(db).await;
    let http = reqwest::Client::new();
    let call = FakeCall::inbound("bad-1", "0931112233", t.clock.now_ms()).missed(3);
    for url in [t.ringostat_url("wrong-token-0123456789"), format!("{}/webhooks/ringostat", t.http())] {
        let (status, body) = post_ringostat(&http, &url, &call, t.config.timezone, true, Encoding::Json).await;
        assert_eq!(status, 401, "{body}");
    }
    let wrong = format!("{}/webhooks/binotel?token=nope", t.http());
    assert_eq!(post_binotel(&http, &wrong, &call).await.0, 401);
    // Unreadable bodies: 400 with the reason.
    let url = t.ringostat_url(RINGOSTAT_TOKEN);
    for (body, why) in [
        ("{not json", "not a Ringostat call event"),
        (r#"{"uniqueid":"x","call_type":"in"}"#, "calldate"),
        (r#"{"uniqueid":"x","calldate":"2026-12-02 10:00:00","call_type":"sideways"}"#, "call_type"),
    ] {
        let r = http.post(&url).header("content-type", "application/json").body(body).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400);
        assert!(r.text().await.unwrap().contains(why), "{body}");
    }
    t.settled().await;
    for table in ["calls", "leads", "customers", "tasks", "customer_phones"] {
        assert_eq!(t.count(&format!("SELECT COUNT(*) FROM {table}")).await, 0, "{table}");
    }
    t.stop().await;
}

on_both_engines!(
    bad_tokens_and_bodies_are_refused_with_nothing_stored_on_sqlite,
    bad_tokens_and_bodies_are_refused_with_nothing_stored_on_postgres,
    bad_tokens_and_bodies_are_refused_with_nothing_stored
);

async fn a_recording_that_cannot_be_fetched_says_so_without_holding_the_topic(db: Db) {
    let t = start(db).await;
    assert_eq!(t.wa().customer_writes(YULIIA_WA, "Yuliia", "Hello").await, 200);
    let lead = t.lead_by_identity("whatsapp", YULIIA_WA).await;
    let (chat, thread, _) = t.topic_of_lead(lead.id).await;
    // One link never answers; another is gone.
    let hang = t.tel().host(Recording::Hang, None);
    let gone = t.tel().host(Recording::Missing, None);
    let now = t.clock.now_ms();
    let a = FakeCall::inbound("rec-hang", YULIIA_DIALS, now).answered("101", "Oksana", 20, 2).with_recording(&hang);
    let b =
        FakeCall::inbound("rec-gone", YULIIA_DIALS, now + 1_000).answered("101", "Oksana", 20, 2).with_recording(&gone);
    assert_eq!(t.ringostat(&a, true, Encoding::Json).await.0, 200);
    assert_eq!(t.ringostat(&b, true, Encoding::Json).await.0, 200);
    let m = t.topic_message(chat, thread, "Recording: downloading…").await;
    // The customer's next message is not held back by the download that hangs.
    assert_eq!(t.wa().customer_writes(YULIIA_WA, "Yuliia", "Did you get my call?").await, 200);
    eventually_within("the customer's message reaches the topic", std::time::Duration::from_secs(10), || async {
        t.topic_texts(chat, thread).iter().any(|x| x.contains("Did you get my call?")).then_some(())
    })
    .await;
    let gone_msg = t.topic_message(chat, thread, "Recording unavailable").await;
    assert!(gone_msg.content.text_or_caption().unwrap().contains("404"), "says why");
    assert_ne!(gone_msg.message_id, m.message_id);
    t.stop().await;
}

on_both_engines!(
    a_recording_that_cannot_be_fetched_says_so_without_holding_the_topic_on_sqlite,
    a_recording_that_cannot_be_fetched_says_so_without_holding_the_topic_on_postgres,
    a_recording_that_cannot_be_fetched_says_so_without_holding_the_topic
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_over_the_size_limit_is_refused_with_a_reason() {
    let mut t = TestApp::start_with(Opts { channels: true, telephony: true, ..Opts::default() }).await;
    t.config.calls.recording_max_bytes = 1024 * 1024;
    t.restart().await;
    let big = t.tel().host(Recording::Generated(3 * 1024 * 1024), None);
    let call = FakeCall::inbound("rec-big", "0931112233", t.clock.now_ms())
        .answered("101", "Oksana", 20, 2)
        .with_recording(&big);
    assert_eq!(t.ringostat(&call, true, Encoding::Json).await.0, 200);
    let lead = LeadId(
        eventually("the lead", || async {
            sqlx::query_scalar::<_, i64>("SELECT id FROM leads").fetch_optional(t.store.pool()).await.ok()?
        })
        .await,
    );
    let (chat, thread, _) = t.topic_of_lead(lead).await;
    let m = t.topic_message(chat, thread, "Recording unavailable").await;
    assert!(m.content.text_or_caption().unwrap().contains("over the 1 MB limit"), "{:?}", m.content);
    t.stop().await;
}

async fn reconciliation_adds_a_call_whose_webhook_never_came(db: Db) {
    let t = start(db).await;
    let app = t.app().clone();
    // Older than the hourly job's first look back (24 hours), so only these passes see them.
    let base = t.clock.now_ms() - 32 * 3_600_000;
    let (from, to) = (base, base + 6 * 3_600_000);
    // Two calls in Ringostat's log; only one ever reached us by webhook.
    let known = FakeCall::inbound("log-1", "0661230011", base + 3_600_000).answered("101", "Oksana", 50, 3);
    let lost = FakeCall::inbound("log-2", "0661230022", base + 2 * 3_600_000 + 5_000).missed(30);
    t.tel().log(&known);
    t.tel().log(&lost);
    let app2 = app.clone();
    forecourt::calls::record(&app2, &read_ringostat(&t, &known)).await.unwrap();
    assert_eq!(t.count("SELECT COUNT(*) FROM calls").await, 1);

    // A window the API does not answer: nothing moves past it.
    t.tel().fail_lists_before(to, 1);
    let p = forecourt::calls::reconcile::pass(&app, from, to).await.unwrap();
    assert!(p.failed.is_some());
    assert_eq!(p.reached, from, "stopped before the failed window");
    assert_eq!(t.count("SELECT COUNT(*) FROM calls").await, 1);

    let p = forecourt::calls::reconcile::pass(&app, from, to).await.unwrap();
    assert_eq!((p.seen, p.added, p.failed.clone()), (2, 1, None), "{p:?}");
    assert_eq!(p.reached, to);
    assert_eq!(t.count("SELECT COUNT(*) FROM calls").await, 2);
    assert_eq!(t.count("SELECT COUNT(*) FROM tasks").await, 1, "the lost missed call has its callback");
    // Windows of an hour, asked in local time.
    let local = |ms: i64| {
        use chrono::TimeZone;
        t.config.timezone.timestamp_millis_opt(ms).unwrap().format("%Y-%m-%d %H:%M:%S").to_string()
    };
    let (lo, hi) = (local(from), local(to));
    let asked: Vec<_> = t
        .tel()
        .list_requests()
        .into_iter()
        .filter(|(f, _)| f.as_str() >= lo.as_str() && f.as_str() < hi.as_str())
        .collect();
    assert!(asked.len() >= 7, "six hourly windows, one asked twice: {asked:?}");
    assert!(asked.iter().all(|(f, to)| f.len() == 19 && to.len() == 19), "{asked:?}");
    // Again: nothing new.
    let p = forecourt::calls::reconcile::pass(&app, from, to).await.unwrap();
    assert_eq!((p.seen, p.added), (2, 0));
    t.stop().await;
}

/// A fake call as the webhook would bring it, read by the real parser.
fn read_ringostat(t: &TestApp, call: &FakeCall) -> forecourt::domain::call::CallEvent {
    use forecourt::channels::telephony::{ringostat, Fields, ReadContext};
    let pairs: Vec<(&str, String)> = call.ringostat_fields(t.config.timezone, true);
    let f = Fields::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
    let cx = ReadContext { key: &t.app().phones, timezone: t.config.timezone };
    ringostat::read(&f, &cx).unwrap().unwrap()
}

on_both_engines!(
    reconciliation_adds_a_call_whose_webhook_never_came_on_sqlite,
    reconciliation_adds_a_call_whose_webhook_never_came_on_postgres,
    reconciliation_adds_a_call_whose_webhook_never_came
);

/// Every text column of every table, as one string.
async fn everything_stored(t: &TestApp) -> String {
    let tables: Vec<String> = match t.store.engine() {
        forecourt::store::Engine::Sqlite => sqlx::query_scalar::<_, String>(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
        )
        .fetch_all(t.store.pool())
        .await
        .unwrap(),
        forecourt::store::Engine::Postgres => sqlx::query_scalar::<_, String>(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_name NOT LIKE '_sqlx%'",
        )
        .fetch_all(t.store.pool())
        .await
        .unwrap(),
    };
    let mut all = String::new();
    for table in tables {
        let cols: Vec<String> = match t.store.engine() {
            forecourt::store::Engine::Sqlite => sqlx::query_scalar::<_, String>(&format!(
                "SELECT name FROM pragma_table_info('{table}') WHERE type = 'TEXT'"
            ))
            .fetch_all(t.store.pool())
            .await
            .unwrap(),
            forecourt::store::Engine::Postgres => sqlx::query_scalar::<_, String>(
                "SELECT column_name::text FROM information_schema.columns WHERE table_name = $1 AND data_type = 'text'",
            )
            .bind(&table)
            .fetch_all(t.store.pool())
            .await
            .unwrap(),
        };
        for c in cols {
            let values: Vec<Option<String>> =
                sqlx::query_scalar::<_, Option<String>>(&format!("SELECT {c} FROM {table}"))
                    .fetch_all(t.store.pool())
                    .await
                    .unwrap();
            for v in values.into_iter().flatten() {
                all.push_str(&v);
                all.push('\n');
            }
        }
    }
    all
}

async fn no_readable_phone_number_is_kept_or_shown(db: Db) {
    let t = start(db).await;
    t.staff_with_extension(9104, "Oksana Melnyk", Role::Manager, "101").await;
    let now = t.clock.now_ms();
    let rec = t.tel().host(Recording::Bytes(b"mp3".repeat(50)), None);
    let calls = [
        FakeCall::inbound("pn-1", "+380 50 765 43 21", now)
            .answered("101", "Oksana Melnyk", 30, 2)
            .with_recording(&rec),
        FakeCall::inbound("pn-2", "0631239876", now + 1_000).missed(15),
    ];
    for c in &calls {
        assert_eq!(t.ringostat(c, false, Encoding::Form).await.0, 200);
        assert_eq!(t.ringostat(c, true, Encoding::Json).await.0, 200);
    }
    let b = FakeCall::inbound("pn-3", "+380 44 555 66 77", now + 2_000).missed(9);
    assert_eq!(t.binotel(&b).await.0, 200);
    t.settled().await;
    assert_eq!(t.count("SELECT COUNT(*) FROM calls").await, 3);
    // The digits that would give a number away, in any of its forms.
    let numbers = ["507654321", "631239876", "445556677"];
    let stored = everything_stored(&t).await;
    let staff_saw: String = t
        .fake
        .messages(STAFF)
        .iter()
        .filter_map(|m| m.content.text_or_caption().map(str::to_string))
        .collect::<Vec<_>>()
        .join("\n");
    for n in numbers {
        assert!(!stored.contains(n), "{n} stored");
        assert!(!staff_saw.contains(n), "{n} shown to staff");
    }
    assert!(staff_saw.contains("…21") && staff_saw.contains("…76"), "{staff_saw}");
    t.stop().await;
}

on_both_engines!(
    no_readable_phone_number_is_kept_or_shown_on_sqlite,
    no_readable_phone_number_is_kept_or_shown_on_postgres,
    no_readable_phone_number_is_kept_or_shown
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overdue_callback_is_reminded_with_a_mention_then_a_supervisor_is_told() {
    let mut t = TestApp::start_with(Opts {
        channels: true,
        telephony: true,
        speed: 30.0,
        business_hours: Some("Mon-Sun 00:00-24:00"),
        ..Opts::default()
    })
    .await;
    t.config.calls.callback_minutes = 1;
    t.restart().await;
    let max = t.staff(9105, "Max Petrenko", Role::Manager).await;
    let sofia = t.staff(9106, "Sofia Lysenko", Role::Supervisor).await;
    // Sofia has a private chat with the staff bot.
    t.fake.customer_writes(&sofia, "/tasks all");
    t.until("Sofia's private chat", |f| !f.bot_messages_to(sofia.id).is_empty()).await;
    assert_eq!(t.wa().customer_writes(YULIIA_WA, "Yuliia", "Hello").await, 200);
    let lead = t.lead_by_identity("whatsapp", YULIIA_WA).await;
    let (chat, thread, _) = t.topic_of_lead(lead.id).await;
    t.fake.staff_writes(chat, Some(thread), &max, "Good afternoon! How can I help?");
    eventually("Max owns the lead", || async { (t.lead(lead.id).await.owner.is_some()).then_some(()) }).await;

    let call = FakeCall::inbound("late-1", YULIIA_DIALS, t.clock.now_ms()).missed(20);
    assert_eq!(t.ringostat(&call, true, Encoding::Json).await.0, 200);
    let tasks = eventually("the callback", || async {
        let tasks = t.store.tasks_of_lead(lead.id).await.ok()?;
        (!tasks.is_empty()).then_some(tasks)
    })
    .await;
    assert_eq!(tasks[0].user_name.as_deref(), Some("Max Petrenko"), "the owner's callback");
    // /tasks lists it for Max.
    t.fake.staff_writes(chat, Some(thread), &max, "/tasks");
    t.topic_message(chat, thread, "Your open tasks (1)").await;

    // Past due: reminded in the topic, Max mentioned.
    let r = t.topic_message(chat, thread, "Max Petrenko, ⏰ overdue: Call back …67").await;
    let sent = t
        .fake
        .calls_of("sendmessage")
        .into_iter()
        .find(|c| c.params["text"].as_str().is_some_and(|x| x == r.content.text_or_caption().unwrap()))
        .expect("the reminder's request");
    let entities = sent.params["entities"].to_string();
    assert!(
        entities.contains("tg://user") && entities.contains("id=9105") && entities.contains("\"length\":12"),
        "a mention of Max: {entities}"
    );
    // Still open an interval later: Sofia hears of it privately, once.
    t.until("Sofia is told", |f| {
        f.bot_messages_to(sofia.id)
            .iter()
            .any(|m| m.content.text_or_caption().is_some_and(|x| x.contains("Still not done")))
    })
    .await;
    let told = |f: &forecourt::sandbox::telegram::FakeTelegram| {
        f.bot_messages_to(sofia.id)
            .iter()
            .filter(|m| m.content.text_or_caption().is_some_and(|x| x.contains("Still not done")))
            .count()
    };
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert_eq!(told(&t.fake), 1, "escalated once");
    let reminders = t.topic_texts(chat, thread).iter().filter(|x| x.contains("⏰ overdue")).count();
    assert_eq!(reminders, 1, "reminded once");
    t.stop().await;
}

/// The bot's newest message in a private chat that has buttons.
fn prompt_in(t: &TestApp, chat: i64) -> Option<ChatMessage> {
    t.fake.bot_messages_to(chat).into_iter().rev().find(|m| m.reply_markup.is_some())
}

/// The reviewer's prompt once it says the review is saved.
async fn prompt_done(t: &TestApp, chat: i64) -> String {
    eventually("the review prompt says it is saved", || async {
        t.fake
            .bot_messages_to(chat)
            .into_iter()
            .rev()
            .filter_map(|m| m.content.text_or_caption().map(str::to_string))
            .find(|x| x.starts_with("📝 Review saved"))
    })
    .await
}

/// Press `label` on the review prompt once it shows `needle`.
async fn review_press(t: &TestApp, who: &forecourt::sandbox::telegram::FakeUser, needle: &str, label: &str) {
    let m = eventually(&format!("the review prompt shows {needle:?}"), || async {
        prompt_in(t, who.id).filter(|m| m.content.text_or_caption().is_some_and(|x| x.contains(needle)))
    })
    .await;
    let data = button_data(&m, label).unwrap_or_else(|| panic!("no {label:?} on {:?}", m.reply_markup));
    t.fake.staff_presses(who.id, m.message_id, who, &data);
}

async fn a_supervisor_reviews_a_call_and_the_manager_gets_the_score(db: Db) {
    let t = start(db).await;
    t.staff_with_extension(9201, "Oksana Melnyk", Role::Manager, "101").await;
    t.staff(9202, "Sofia Lysenko", Role::Supervisor).await;
    let oksana = forecourt::sandbox::telegram::FakeUser::new(9201, "Oksana", Some("Melnyk"));
    let sofia = forecourt::sandbox::telegram::FakeUser::new(9202, "Sofia", Some("Lysenko"));
    // Both have a private chat with the staff bot.
    for u in [&oksana, &sofia] {
        t.fake.customer_writes(u, "/myscore");
    }
    t.until("both private chats", |f| !f.bot_messages_to(9201).is_empty() && !f.bot_messages_to(9202).is_empty()).await;
    assert_eq!(t.wa().customer_writes(YULIIA_WA, "Yuliia", "Hello").await, 200);
    let lead = t.lead_by_identity("whatsapp", YULIIA_WA).await;
    let (chat, thread, _) = t.topic_of_lead(lead.id).await;
    let rec = t.tel().host(Recording::Bytes(b"mp3-review".repeat(30)), None);
    let call = FakeCall::inbound("rv-1", YULIIA_DIALS, t.clock.now_ms())
        .answered("101", "Oksana Melnyk", 95, 4)
        .with_recording(&rec);
    assert_eq!(t.ringostat(&call, true, Encoding::Json).await.0, 200);
    let m = t.topic_message(chat, thread, "Recording: below").await;
    let review = button_data(&m, "Review").expect("📝 Review under an answered, recorded call");

    // A manager cannot review.
    let press = t.fake.staff_presses(chat, m.message_id, &oksana, &review);
    assert!(t.callback_answer(&press).await.contains("Only supervisors and admins"));
    // Sofia can: the recording and the criteria come to her privately.
    let press = t.fake.staff_presses(chat, m.message_id, &sofia, &review);
    assert!(t.callback_answer(&press).await.contains("privately"));
    t.until("the recording reaches Sofia", |f| f.bot_messages_to(9202).iter().any(is_audio)).await;
    let script = t.app().script.current();
    let total = script.len();
    for i in 1..=total {
        let (_, c) = script.criterion(i - 1).unwrap();
        let label = match c.id.as_str() {
            "asked_tradein" => "N/A",
            "next_step" => "Missed",
            _ => "Met",
        };
        review_press(&t, &sofia, &format!("{i}/{total}"), label).await;
    }
    eventually("the prompt asks for a comment", || async {
        prompt_in(&t, 9202).filter(|m| m.content.text_or_caption().is_some_and(|x| x.contains("Write a comment")))
    })
    .await;
    t.fake.customer_writes(&sofia, "Agree the viewing before you hang up.");

    // Stored with its script version; the score is the weighted share met.
    let r = eventually("the review is saved", || async {
        sqlx::query_as::<_, (i64, i64, String, Option<String>)>(
            "SELECT score, script_version, verdicts, comment FROM call_reviews WHERE state = 'done'",
        )
        .fetch_optional(t.store.pool())
        .await
        .ok()?
    })
    .await;
    assert_eq!(r.0, 79, "met 11 of 14 weighted, the trade-in not applicable");
    assert_eq!(r.1, t.app().script.current().version);
    assert_eq!(r.2.len(), total);
    assert_eq!(r.3.as_deref(), Some("Agree the viewing before you hang up."));
    // Oksana is told privately: score, the critical miss, the comment, a link to the call.
    t.until("Oksana gets the feedback", |f| {
        f.bot_messages_to(9201).iter().any(|m| {
            m.content.text_or_caption().is_some_and(|x| {
                let lines: Vec<&str> = x.lines().collect();
                lines.len() == 5
                    && lines[0].ends_with("79/100.")
                    && lines[1].starts_with("⚠️ Critical missed: ")
                    && lines[2].starts_with("Missed: ")
                    && lines[3] == "Comment: Agree the viewing before you hang up."
                    && lines[4].starts_with("The call: https://t.me/c/")
            })
        })
    })
    .await;
    // Sofia's prompt ends with the result, a line each.
    let done = prompt_done(&t, 9202).await;
    assert!(done.lines().any(|l| l == "Score: 79/100"), "{done}");
    // The score shows under the call.
    t.topic_message(chat, thread, "📝 79/100 ⚠️ critical missed — Sofia Lysenko").await;
    // A second review is a new row, never an overwrite.
    let m = t.topic_message(chat, thread, "📝 79/100").await;
    t.fake.staff_presses(chat, m.message_id, &sofia, &button_data(&m, "Review").unwrap());
    review_press(&t, &sofia, &format!("1/{total}"), "Met").await;
    let rows: i64 = eventually("a second review row", || async {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM call_reviews").fetch_one(t.store.pool()).await.ok()?;
        (n == 2).then_some(n)
    })
    .await;
    assert_eq!(rows, 2);
    // /myscore shows Oksana her reviews.
    t.fake.customer_writes(&oksana, "/myscore");
    t.until("/myscore answers", |f| {
        f.bot_messages_to(9201)
            .iter()
            .any(|m| m.content.text_or_caption().is_some_and(|x| x.contains("average 79/100")))
    })
    .await;
    t.stop().await;
}

on_both_engines!(
    a_supervisor_reviews_a_call_and_the_manager_gets_the_score_on_sqlite,
    a_supervisor_reviews_a_call_and_the_manager_gets_the_score_on_postgres,
    a_supervisor_reviews_a_call_and_the_manager_gets_the_score
);

async fn staff_move_a_call_to_the_right_lead_and_the_lead_it_left_closes(db: Db) {
    let t = start(db).await;
    let sofia = t.staff(9301, "Sofia Lysenko", Role::Supervisor).await;
    assert_eq!(t.wa().customer_writes(YULIIA_WA, "Yuliia", "Hello").await, 200);
    let right = t.lead_by_identity("whatsapp", YULIIA_WA).await;
    let (rchat, rthread, _) = t.topic_of_lead(right.id).await;
    // Yuliia calls from her husband's phone: an unknown number, a new lead.
    let call = FakeCall::inbound("mv-1", "0671110099", t.clock.now_ms()).missed(10);
    assert_eq!(t.ringostat(&call, true, Encoding::Json).await.0, 200);
    let wrong = LeadId(
        eventually("the caller's lead", || async {
            sqlx::query_scalar::<_, i64>("SELECT id FROM leads WHERE source_channel = 'call'")
                .fetch_optional(t.store.pool())
                .await
                .ok()?
        })
        .await,
    );
    let (chat, thread, _) = t.topic_of_lead(wrong).await;
    let m = t.topic_message(chat, thread, "❌ Missed call").await;
    let hint = t.fake.staff_presses(chat, m.message_id, &sofia, &button_data(&m, "Other lead").unwrap());
    assert!(t.callback_answer(&hint).await.contains("reply to the call's message with the lead's number"));
    // A lead that does not exist: said, nothing moves.
    t.fake.staff_sends_as(
        chat,
        Some(thread),
        &sofia,
        forecourt::sandbox::telegram::Content::Text("#999".into()),
        Some(m.message_id),
        None,
    );
    t.topic_message(chat, thread, "There is no lead #999").await;
    // The right one.
    t.fake.staff_sends_as(
        chat,
        Some(thread),
        &sofia,
        forecourt::sandbox::telegram::Content::Text(format!("#{}", right.id.0)),
        Some(m.message_id),
        None,
    );
    t.topic_message(chat, thread, &format!("moved this call to lead #{}", right.id.0)).await;
    t.topic_message(rchat, rthread, "❌ Missed call").await;
    let old = t.lead(wrong).await;
    assert_eq!(old.stage, forecourt::domain::Stage::Lost, "the lead that held only the call is closed");
    let history = t.store.lead_history(wrong).await.unwrap();
    assert!(history.iter().any(|h| h.reason.as_deref().is_some_and(|r| r.contains("duplicate"))), "{history:?}");
    let tasks = t.store.tasks_of_lead(right.id).await.unwrap();
    assert_eq!(tasks.len(), 1, "the callback moved with the call");
    // The next call from that number goes to Yuliia's lead.
    let again = FakeCall::inbound("mv-2", "0671110099", t.clock.now_ms()).answered("101", "Max", 30, 2);
    assert_eq!(t.ringostat(&again, true, Encoding::Json).await.0, 200);
    t.settled().await;
    let lead_of_again: i64 = sqlx::query_scalar("SELECT lead_id FROM calls WHERE external_id = 'mv-2'")
        .fetch_one(t.store.pool())
        .await
        .unwrap();
    assert_eq!(lead_of_again, right.id.0);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM messages WHERE direction = 'outgoing'").await,
        0,
        "nothing went to a customer"
    );
    t.stop().await;
}

on_both_engines!(
    staff_move_a_call_to_the_right_lead_and_the_lead_it_left_closes_on_sqlite,
    staff_move_a_call_to_the_right_lead_and_the_lead_it_left_closes_on_postgres,
    staff_move_a_call_to_the_right_lead_and_the_lead_it_left_closes
);

/// An admin sends `call_script.yaml` to the staff bot: a changed script with the same
/// version is refused (reviews name their version), a raised one shows what changes and is
/// active after Activate, for new reviews and after a restart. Managers may not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_uploads_the_call_script_like_a_flow_file() {
    let mut t = start(Db::Sqlite).await;
    let admin = t.staff(9501, "Ada Admin", Role::Admin).await;
    let max = t.staff(9502, "Max Petrenko", Role::Manager).await;
    let staff = t.config.telegram.staff_chat_ids[0];
    let send = |t: &TestApp, who: &forecourt::sandbox::telegram::FakeUser, src: &str| {
        let id = t.fake.upload_file("document", src.as_bytes());
        t.fake.staff_sends(
            staff,
            None,
            who,
            Content::Document { file_id: id, caption: None, file_name: Some("call_script.yaml".into()) },
        );
    };
    let said = |t: &TestApp, needle: &str| {
        t.fake.general_messages(staff).into_iter().find(|m| m.content.text_or_caption().unwrap_or("").contains(needle))
    };
    let shipped = include_str!("../../flows/call_script.yaml");
    let changed = shipped.replace("weight: 2\n", "weight: 5\n");
    assert_ne!(changed, shipped);

    send(&t, &max, &changed);
    t.until("the manager is refused", |f| {
        f.general_messages(staff).iter().any(|m| m.content.text_or_caption().unwrap_or("").contains("Only admins"))
    })
    .await;
    // The same version with other criteria: refused, and why.
    send(&t, &admin, &changed);
    eventually("the version refusal", || async { said(&t, "set `version: 2`") }).await;
    // A broken one: its problems.
    send(&t, &admin, &changed.replace("version: 1", "version: 2").replace("weight: 5", "weight: 500"));
    eventually("the problems", || async { said(&t, "weight 500 is not between 1 and 100") }).await;
    // Raised: what changes, and Activate.
    send(&t, &admin, &changed.replace("version: 1", "version: 2"));
    let summary = eventually("the summary", || async { said(&t, "passed the check: version 2") }).await;
    let body = summary.content.text_or_caption().unwrap().to_string();
    assert!(body.contains("✏️ introduced: weight 2 → 5"), "{body}");
    let data = button_data(&summary, "Activate").expect("an Activate button");
    let press = t.fake.staff_presses(staff, summary.message_id, &max, &data);
    assert!(t.callback_answer(&press).await.contains("Only admins"));
    let app = |t: &TestApp| t.app().clone();
    assert_eq!(app(&t).script.current().version, 1);
    let press = t.fake.staff_presses(staff, summary.message_id, &admin, &data);
    assert!(t.callback_answer(&press).await.contains("Call script version 2 is active"));
    let s = app(&t).script.current();
    assert_eq!(s.version, 2);
    assert_eq!(s.criteria().next().unwrap().1.weight, 5);
    // Both texts are kept; the upload outlives a restart (the file still says version 1).
    assert_eq!(t.count("SELECT COUNT(*) FROM call_scripts").await, 2);
    t.restart().await;
    assert_eq!(app(&t).script.current().version, 2);
    t.stop().await;
}
