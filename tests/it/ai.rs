//! AI that advises (issue 15), through the real program and the fake OpenAI-compatible
//! server: hot scores on cards and in `/queue`, masking, the cache, the budget, features
//! switched off while running, the model's faults survived, a lead's state untouched, and
//! transcriptions read without `usage`.

use crate::harness::*;
use forecourt::ai::{Ai, Failure};
use forecourt::domain::ai::{Feature, Features};
use forecourt::domain::{LeadId, Role};
use forecourt::sandbox::openai::{FakeOpenAi, Fault};
use forecourt::store::AttemptOutcome;
use std::time::Duration;

fn ai_opts(db: Db) -> Opts {
    Opts { db, ai: true, ..Opts::default() }
}

fn fake_ai(t: &TestApp) -> &FakeOpenAi {
    t.ai.as_ref().expect("started with AI")
}

/// Wait until the lead has a hot score.
async fn scored(t: &TestApp, lead: LeadId) -> forecourt::domain::ai::HotScore {
    let store = t.store.clone();
    eventually("the lead is scored", || {
        let store = store.clone();
        async move { store.hot_score(lead).await.ok()? }
    })
    .await
}

/// Wait until `n` attempts of the hot score ended with `outcome`.
async fn attempts(t: &TestApp, outcome: AttemptOutcome, n: i64) {
    let store = t.store.clone();
    eventually(&format!("{n} {} attempts", outcome.as_str()), || {
        let store = store.clone();
        async move { (store.ai_attempt_counts(Feature::HotScores, 0).await.ok()?.get(outcome) >= n).then_some(()) }
    })
    .await
}

async fn hot_scores_show_on_cards_and_sort_the_queue(db: Db) {
    let t = TestApp::start_with(ai_opts(db)).await;
    let max = t.staff(900, "Max Petrenko", Role::Manager).await;
    let hot = t.customer(7001, "Ірина", None);
    let cold = t.customer(7002, "Богдан", None);
    t.fake.customer_writes(
        &hot,
        "Добрий день! Хочу тест-драйв Kia Sportage завтра, бюджет $15000. Мій номер +380 67 123 45 67",
    );
    let (chat, _, hot_card) = t.topic_of(&hot).await;
    let hot_lead = t.lead_of(&hot).await.id;
    let shown = t.card_shows(chat, hot_card, "🔥 85").await;
    let text = shown.content.text_or_caption().unwrap().to_string();
    assert!(text.contains("🔥 85 · wants a test drive; talks about money; wants to act soon"), "{text}");
    // The cold customer writes later: without the score the queue would show them first.
    t.fake.customer_writes(&cold, "Привіт");
    let cold_lead = t.lead_of(&cold).await.id;
    assert_eq!(scored(&t, cold_lead).await.score, 25);
    assert_eq!(scored(&t, hot_lead).await.score, 85);
    // Nothing that identifies the customer left: the number was masked.
    let seen = fake_ai(&t).seen();
    assert!(seen.iter().all(|s| !s.text.contains("123 45 67")), "a phone number left the building");
    assert!(seen.iter().any(|s| s.text.contains("[phone]")));
    assert!(seen.iter().all(|s| s.model == "gpt-4o-mini"));
    assert!(seen.iter().any(|s| s.name == "hot_score") && seen.iter().any(|s| s.name == "lead_intent"));
    t.fake.staff_writes(STAFF, None, &max, "/queue");
    let fake = t.fake.clone();
    let queue = eventually("the queue's answer", || {
        let fake = fake.clone();
        async move {
            fake.general_messages(STAFF)
                .into_iter()
                .filter(|m| m.from_bot)
                .filter_map(|m| m.content.text_or_caption().map(str::to_string))
                .find(|t| t.starts_with("Unclaimed leads"))
        }
    })
    .await;
    let (h, c) = (queue.find(&format!("#{hot_lead}")).unwrap(), queue.find(&format!("#{cold_lead}")).unwrap());
    assert!(h < c, "the hottest lead comes first: {queue}");
    assert!(queue.contains(&format!("🔥 85 · #{hot_lead}")), "{queue}");
    // The digest names the hottest open leads, hottest first.
    let now = t.clock.now_ms();
    let digest = forecourt::staff::digest::build(t.app(), forecourt::domain::digest::Kind::Daily, now).await.unwrap();
    let hot_part = digest.text.split("🔥 Hottest open leads").nth(1).unwrap_or_else(|| panic!("{}", digest.text));
    let (h, c) =
        (hot_part.find(&format!("85 #{hot_lead}")).unwrap(), hot_part.find(&format!("25 #{cold_lead}")).unwrap());
    assert!(h < c, "{}", digest.text);
    t.settled().await;
    assert!(t.store.parked_jobs().await.unwrap().is_empty());
    t.stop().await;
}

on_both_engines!(
    hot_scores_show_on_cards_and_sort_the_queue_on_sqlite,
    hot_scores_show_on_cards_and_sort_the_queue_on_postgres,
    hot_scores_show_on_cards_and_sort_the_queue
);

/// What a person decides about a lead, and what happened to it: AI must change none of it.
async fn state_after_a_conversation(ai: bool) -> Vec<String> {
    let t = TestApp::start_with(Opts { ai, ..Opts::default() }).await;
    let max = t.staff(900, "Max Petrenko", Role::Manager).await;
    let c = t.customer(7003, "Олег", None);
    t.fake.customer_writes(&c, "Хочу тест-драйв завтра, бюджет 20000$");
    let (chat, thread, _) = t.topic_of(&c).await;
    t.fake.staff_writes(chat, Some(thread), &max, "Добрий день! Завтра о 10:00?");
    let fake = t.fake.clone();
    t.until_ok("the customer has the reply", || {
        fake.bot_messages_to(c.id).iter().any(|m| m.content.text_or_caption().is_some_and(|s| s.contains("10:00")))
    })
    .await;
    t.fake.customer_writes(&c, "Так, підходить");
    let lead = t.lead_of(&c).await.id;
    if ai {
        scored(&t, lead).await;
    }
    t.settled().await;
    let l = t.lead(lead).await;
    let mut out = vec![format!(
        "stage={} owner={:?} lost={:?} intent={:?} car={:?} budget={:?} notes={:?} automation={} dnc={} vehicles={} first_response={}",
        l.stage.as_str(),
        l.owner_name,
        l.lost_reason.map(|r| r.as_str()),
        l.intent,
        l.vehicle_interest,
        l.budget,
        l.notes,
        l.automation,
        l.do_not_contact,
        l.vehicles,
        l.first_response_at.is_some(),
    )];
    for h in t.store.lead_history(lead).await.unwrap() {
        out.push(format!("history {} {:?} → {:?}", h.field, h.from_value, h.to_value));
    }
    let tasks = t.store.open_tasks(forecourt::store::TaskFilter::All, 50).await.unwrap();
    out.push(format!("tasks {}", tasks.len()));
    out.push(format!("customer got {}", t.fake.bot_messages_to(c.id).len()));
    assert!(t.store.parked_jobs().await.unwrap().is_empty());
    t.stop().await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leads_state_is_the_same_with_ai_on_and_off() {
    let off = state_after_a_conversation(false).await;
    let on = state_after_a_conversation(true).await;
    assert_eq!(off, on);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_models_faults_are_survived_and_bad_answers_never_shown() {
    let mut t = TestApp::start_with(ai_opts(Db::Sqlite)).await;
    // Only the scores: each fault meets the request it is meant for.
    t.config.ai.as_mut().unwrap().features = Features::parse("hot_scores").unwrap();
    t.restart().await;
    let ai = fake_ai(&t).clone();
    let mut n = 0;
    let mut next = |fault: Option<Fault>| {
        n += 1;
        if let Some(f) = fault {
            ai.fault(f);
        }
        t.customer(7100 + n, "Клієнт", None)
    };
    // A 429 with Retry-After, then a 500: retried inside the request, then answered.
    let a = next(Some(Fault::RateLimited { retry_after_s: 1 }));
    t.fake.customer_writes(&a, "тест-драйв завтра?");
    assert_eq!(scored(&t, t.lead_of(&a).await.id).await.score, 65);
    let b = next(Some(Fault::ServerError));
    t.fake.customer_writes(&b, "Скільки коштує?");
    assert_eq!(scored(&t, t.lead_of(&b).await.id).await.score, 45);
    // An answer without `usage`, as self-hosted servers send it: read all the same.
    let c = next(Some(Fault::NoUsage));
    t.fake.customer_writes(&c, "Привіт");
    assert_eq!(scored(&t, t.lead_of(&c).await.id).await.score, 25);
    attempts(&t, AttemptOutcome::Ok, 3).await;
    // A body that is not JSON, a refusal, and an answer outside the schema: failed
    // attempts, nothing shown, nothing waiting.
    let d = next(Some(Fault::MalformedBody));
    t.fake.customer_writes(&d, "Добрий день");
    attempts(&t, AttemptOutcome::Malformed, 1).await;
    let e = next(Some(Fault::Refusal));
    t.fake.customer_writes(&e, "Добрий вечір");
    attempts(&t, AttemptOutcome::Refused, 1).await;
    let f = next(None);
    ai.answer("hot_score", r#"{"score": 150, "reasons": ["a", "b", "c"], "stage": "sold"}"#);
    t.fake.customer_writes(&f, "Вітаю");
    attempts(&t, AttemptOutcome::Malformed, 2).await;
    t.settled().await;
    for who in [&d, &e, &f] {
        let lead = t.lead_of(who).await;
        assert!(t.store.hot_score(lead.id).await.unwrap().is_none(), "a bad answer is never kept");
        let (chat, _, card) = t.topic_of(who).await;
        assert!(!t.card(chat, card).content.text_or_caption().unwrap().contains('🔥'));
    }
    assert!(t.store.parked_jobs().await.unwrap().is_empty());
    let counts = t.store.job_counts().await.unwrap();
    assert!(counts.iter().all(|c| c.status != "running"), "{counts:?}");
    // The log says what happened, each line naming this test's fake server.
    let url = reqwest::Url::parse(&ai.url()).unwrap();
    let server = format!("127.0.0.1:{}", url.port().unwrap());
    let turned_down = "the AI server turned a try down";
    let rate_limited = logged(&[&server, turned_down, "status=429"]);
    assert_eq!(rate_limited.len(), 1, "{rate_limited:?}");
    assert!(rate_limited[0].contains("retry_after=\"1\""), "{}", rate_limited[0]);
    assert_eq!(logged(&[&server, turned_down, "status=500"]).len(), 1);
    let received = logged(&[&server, "AI answer received", "hot_score"]);
    assert!(received.len() >= 3, "the 429's, the 500's and the one without usage: {received:?}");
    let not_kept = "an AI answer was not kept";
    assert_eq!(logged(&[&server, not_kept, "malformed"]).len(), 2, "the body that is not JSON, the score of 150");
    assert_eq!(logged(&[&server, not_kept, "refused"]).len(), 1);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_input_is_never_sent_twice_and_the_budget_pauses_until_midnight() {
    let mut t = TestApp::start_with(ai_opts(Db::Sqlite)).await;
    t.config.ai.as_mut().unwrap().daily_requests = 1;
    t.config.ai.as_mut().unwrap().features = Features::parse("hot_scores").unwrap();
    t.restart().await;
    let a = t.customer(7201, "Ганна", None);
    t.fake.customer_writes(&a, "Хочу тест-драйв");
    let lead_a = t.lead_of(&a).await.id;
    scored(&t, lead_a).await;
    assert_eq!(fake_ai(&t).requests(), 1);
    // Asked again with the same conversation: answered from the kept answer.
    let now = t.clock.now_ms();
    t.store.enqueue(&forecourt::ai::score_job(lead_a, now), now).await.unwrap();
    attempts(&t, AttemptOutcome::Cached, 1).await;
    assert_eq!(fake_ai(&t).requests(), 1, "the same input is never sent twice");
    // The day's one request is spent: the next lead waits for midnight.
    let b = t.customer(7202, "Денис", None);
    t.fake.customer_writes(&b, "Скільки коштує Camry?");
    let lead_b = t.lead_of(&b).await.id;
    attempts(&t, AttemptOutcome::Budget, 1).await;
    assert_eq!(fake_ai(&t).requests(), 1);
    assert!(t.store.hot_score(lead_b).await.unwrap().is_none());
    t.settled().await;
    assert!(t.store.parked_jobs().await.unwrap().is_empty(), "waiting for the budget is not failing");
    // `/ai` tells a supervisor what AI is doing; a manager is refused.
    let boss = t.staff(9290, "Olha Boss", Role::Supervisor).await;
    t.fake.customer_writes(&boss, "/ai");
    let said = |f: &forecourt::sandbox::telegram::FakeTelegram, who: i64, needle: &str| {
        f.bot_messages_to(who).iter().any(|m| m.content.text_or_caption().is_some_and(|x| x.contains(needle)))
    };
    t.until("the AI status", |f: &forecourt::sandbox::telegram::FakeTelegram| {
        said(f, boss.id, "Requests today: 1 of 1 (100%) — the budget is spent: AI waits until midnight")
            && said(f, boss.id, "• hot_scores: 1 over the budget, 1 from the cache, 1 answered")
            && said(f, boss.id, &format!("hot_scores · lead {} · budget", lead_b.0))
            && said(f, boss.id, "Features on: hot_scores · off: transcripts")
    })
    .await;
    let max = t.staff(9291, "Max Petrenko", Role::Manager).await;
    t.fake.customer_writes(&max, "/ai");
    t.until("refused", |f: &forecourt::sandbox::telegram::FakeTelegram| {
        said(f, max.id, "/ai is for supervisors and admins.")
    })
    .await;
    t.clock.advance(Duration::from_secs(86_400));
    assert_eq!(scored(&t, lead_b).await.score, 45);
    assert_eq!(fake_ai(&t).requests(), 2);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_turns_a_feature_off_in_the_file_without_a_restart() {
    let mut t = TestApp::start_with(ai_opts(Db::Sqlite)).await;
    let file = t.config.data_dir.with_file_name("forecourt.toml");
    std::fs::write(&file, "[ai]\nfeatures = [\"hot_scores\", \"drafts\"]\n").unwrap();
    t.config.source = Some(file.clone());
    t.config.ai.as_mut().unwrap().features = Features::parse("hot_scores,drafts").unwrap();
    t.restart().await;
    let a = t.customer(7301, "Ліна", None);
    t.fake.customer_writes(&a, "Привіт");
    scored(&t, t.lead_of(&a).await.id).await;
    std::fs::write(&file, "[ai]\nfeatures = [\"drafts\"]\n").unwrap();
    let app = t.app().clone();
    eventually("the running program reads the features again", || {
        let on = app.ai.as_ref().unwrap().on(Feature::HotScores);
        async move { (!on).then_some(()) }
    })
    .await;
    let b = t.customer(7302, "Марко", None);
    t.fake.customer_writes(&b, "Привіт, тест-драйв?");
    let (chat, _, card) = t.topic_of(&b).await;
    t.settled().await;
    assert_eq!(fake_ai(&t).requests(), 1, "a feature that is off sends nothing");
    assert!(!t.card(chat, card).content.text_or_caption().unwrap().contains('🔥'));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcriptions_are_read_without_usage_and_too_large_files_refused() {
    init();
    let server = FakeOpenAi::start(Some(AI_KEY)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = forecourt::store::Store::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
    store.migrate().await.unwrap();
    let mut config = forecourt::config::AiConfig::new(server.url());
    config.api_key = Some(forecourt::config::Secret::new(AI_KEY));
    let ai = Ai::new(&config, chrono_tz::Europe::Kyiv, dir.path()).unwrap();
    server.transcript("Добрий день, це Макс з автосалону.");
    server.fault(Fault::NoUsage);
    let audio = vec![7u8; 48_000];
    let first = ai.transcribe(&store, 1_000, (None, None), audio.clone(), "call.mp3", Some("uk")).await.unwrap();
    assert_eq!((first.value.as_str(), first.cached), ("Добрий день, це Макс з автосалону.", false));
    store.keep_ai_answer(&first.keep).await.unwrap();
    let seen = server.seen();
    assert_eq!((seen[0].endpoint, seen[0].language.as_deref(), seen[0].bytes), ("transcription", Some("uk"), 48_000));
    let again = ai.transcribe(&store, 2_000, (None, None), audio, "call.mp3", Some("uk")).await.unwrap();
    assert!(again.cached && again.value == first.value);
    assert_eq!(server.requests(), 1);
    let big = vec![0u8; forecourt::domain::ai::MAX_AUDIO_BYTES + 1];
    assert!(matches!(
        ai.transcribe(&store, 3_000, (None, None), big, "long.mp3", None).await,
        Err(Failure::TooLarge(_))
    ));
    assert_eq!(server.requests(), 1, "a file over the limit is not sent");
    // A wrong key: the server's answer is the reason, and nothing is kept.
    let mut wrong = config.clone();
    wrong.api_key = Some(forecourt::config::Secret::new("sk-wrong"));
    let ai = Ai::new(&wrong, chrono_tz::Europe::Kyiv, dir.path()).unwrap();
    match ai.transcribe(&store, 4_000, (None, None), vec![1u8; 10], "x.mp3", None).await {
        Err(Failure::Unavailable(why)) => assert!(why.contains("401"), "{why}"),
        other => panic!("{other:?}"),
    }
    server.stop();
}

const OLHA_WA: &str = "380971112233";
const OLHA_DIALS: &str = "+380 97 111 22 33";

/// The newest private message of the bot to `chat` that has buttons.
fn prompt_in(t: &TestApp, chat: i64) -> Option<forecourt::sandbox::telegram::ChatMessage> {
    t.fake.bot_messages_to(chat).into_iter().rev().find(|m| m.reply_markup.is_some())
}

async fn a_call_is_transcribed_checked_and_the_supervisor_has_the_last_word(db: Db) {
    use forecourt::sandbox::telephony::{post_ringostat, Encoding, FakeCall, Recording};
    let t = TestApp::start_with(Opts { db, ai: true, channels: true, telephony: true, ..Opts::default() }).await;
    let oksana = t.staff(9201, "Oksana Melnyk", Role::Manager).await;
    let u = t.store.user_by_telegram(forecourt::domain::TelegramUserId(9201)).await.unwrap().unwrap();
    t.store.set_user_extension(u.id, Some("101"), t.clock.now_ms()).await.unwrap();
    let sofia = t.staff(9202, "Sofia Lysenko", Role::Supervisor).await;
    for who in [&oksana, &sofia] {
        t.fake.customer_writes(who, "/myscore");
    }
    t.until("both private chats", |f| !f.bot_messages_to(9201).is_empty() && !f.bot_messages_to(9202).is_empty()).await;
    assert_eq!(t.wa().customer_writes(OLHA_WA, "Olha", "Добрий день").await, 200);
    let lead = t.lead_by_identity("whatsapp", OLHA_WA).await;
    let (chat, thread, _) = t.topic_of_lead(lead.id).await;
    let said = "Добрий день, автосалон Forecourt, Оксана. Так, Toyota RAV4 2019 ще доступна, ціна 24 500 доларів. \
                Мій номер 067 555 12 34, телефонуйте.";
    fake_ai(&t).transcript(said);
    let rec = t.tel.as_ref().unwrap().host(Recording::Bytes(b"mp3-call".repeat(400)), None);
    let call = FakeCall::inbound("ai-1", OLHA_DIALS, t.clock.now_ms())
        .answered("101", "Oksana Melnyk", 95, 4)
        .with_recording(&rec);
    let url = format!("{}/webhooks/ringostat?token={RINGOSTAT_TOKEN}", t.http());
    let (status, _) =
        post_ringostat(&reqwest::Client::new(), &url, &call, t.config.timezone, true, Encoding::Json).await;
    assert_eq!(status, 200);
    // The transcript, quoted under the call.
    let m = t.topic_message(chat, thread, "📝 Transcript · call").await;
    assert!(m.content.text_or_caption().unwrap().contains("Toyota RAV4 2019"));
    let call_msg = t.topic_message(chat, thread, "Recording: below").await;
    assert_eq!(m.reply_to, Some(call_msg.message_id), "under the call");
    let seen = fake_ai(&t).seen();
    let tr = seen.iter().find(|s| s.endpoint == "transcription").expect("a transcription request");
    assert_eq!(tr.model, "whisper-1");
    // The check, kept as an AI evaluation: the phone number in the transcript never left.
    let store = t.store.clone();
    let call_id = eventually("the AI evaluation", || {
        let store = store.clone();
        async move {
            let id: i64 =
                sqlx::query_scalar("SELECT call_id FROM ai_evaluations").fetch_optional(store.pool()).await.ok()??;
            Some(forecourt::domain::CallId(id))
        }
    })
    .await;
    let check = fake_ai(&t).seen().into_iter().find(|s| s.name == "script_check").expect("a script check request");
    assert!(!check.text.contains("555 12 34") && check.text.contains("[phone]"), "masked");
    let (_, evaluation) = t.store.evaluation(call_id).await.unwrap().unwrap();
    assert_eq!(evaluation.score, 80);
    assert!(evaluation.needs_a_person(), "an unsure verdict and a critical miss");
    // Sofia reviews: each criterion shows the AI's suggestion; she confirms most and
    // overrides the one it says was missed.
    let review = forecourt::domain::callback::ReviewAction::Start(call_id).encode();
    t.fake.staff_presses(chat, call_msg.message_id, &sofia, &review);
    let script = t.app().script.current();
    let total = script.len();
    for i in 1..=total {
        let (_, c) = script.criterion(i - 1).unwrap();
        let m = eventually(&format!("criterion {i}"), || async {
            prompt_in(&t, 9202)
                .filter(|m| m.content.text_or_caption().is_some_and(|x| x.contains(&format!("{i}/{total}"))))
        })
        .await;
        let text = m.content.text_or_caption().unwrap().to_string();
        if i == 1 {
            assert!(text.contains("🤖 AI check (advice; your review is the score): 80/100"), "{text}");
        }
        let label = match c.id.as_str() {
            "asked_tradein" => {
                assert!(text.contains("🤖 AI is unsure"), "{text}");
                "N/A"
            }
            "next_step" => {
                assert!(text.contains("🤖 AI suggests: missed"), "{text}");
                assert!(
                    buttons(&m).iter().any(|(l, _)| l.contains("Missed") && l.contains('🤖')),
                    "the suggestion is marked"
                );
                "Met" // she heard the visit agreed: her word counts
            }
            _ => {
                assert!(text.contains("🤖 AI suggests: met — “Добрий день, автосалон Forecourt"), "{text}");
                "Met"
            }
        };
        t.fake.staff_presses(9202, m.message_id, &sofia, &button_data(&m, label).unwrap());
    }
    let m = eventually("the comment step", || async {
        prompt_in(&t, 9202).filter(|m| m.content.text_or_caption().is_some_and(|x| x.contains("Write a comment")))
    })
    .await;
    t.fake.staff_presses(9202, m.message_id, &sofia, &button_data(&m, "Skip").unwrap());
    let score: i64 = eventually("the human review is saved", || async {
        sqlx::query_scalar("SELECT score FROM call_reviews WHERE state = 'done'")
            .fetch_optional(t.store.pool())
            .await
            .ok()?
    })
    .await;
    assert_eq!(score, 100, "the human review is the call's score, not the AI's 80");
    let done = eventually("the review's result", || async {
        t.fake
            .bot_messages_to(9202)
            .into_iter()
            .rev()
            .filter_map(|m| m.content.text_or_caption().map(str::to_string))
            .find(|x| x.starts_with("📝 Review saved"))
    })
    .await;
    assert!(done.contains(&format!("🤖 You agreed with the AI on {} of {} criteria.", total - 2, total - 1)), "{done}");
    t.topic_message(chat, thread, "📝 100/100").await;
    // A long call's transcript comes as a file under its call, not as a wall of text.
    let long = "Так, звісно. ".repeat(200);
    fake_ai(&t).transcript(long.clone());
    let rec = t.tel.as_ref().unwrap().host(Recording::Bytes(b"mp3-long-call".repeat(500)), None);
    let call = FakeCall::inbound("ai-2", OLHA_DIALS, t.clock.now_ms())
        .answered("101", "Oksana Melnyk", 600, 3)
        .with_recording(&rec);
    let (status, _) =
        post_ringostat(&reqwest::Client::new(), &url, &call, t.config.timezone, true, Encoding::Json).await;
    assert_eq!(status, 200);
    t.topic_has(chat, thread, "the long transcript as a file", |m| {
        m.content.text_or_caption().is_some_and(|x| x.contains("(the whole text is in the file)"))
            && m.content.describe().contains("document")
    })
    .await;
    // A call whose recording is over the API's 25 MB is not sent for transcription; the
    // topic says why, once.
    let transcriptions = |f: &FakeOpenAi| f.seen().iter().filter(|s| s.endpoint == "transcription").count();
    t.settled().await;
    let before = transcriptions(fake_ai(&t));
    let rec = t.tel.as_ref().unwrap().host(Recording::Generated(26 * 1024 * 1024), None);
    let call = FakeCall::inbound("ai-3", OLHA_DIALS, t.clock.now_ms())
        .answered("101", "Oksana Melnyk", 3_000, 3)
        .with_recording(&rec);
    let (status, _) =
        post_ringostat(&reqwest::Client::new(), &url, &call, t.config.timezone, true, Encoding::Json).await;
    assert_eq!(status, 200);
    let m = t.topic_message(chat, thread, "is not transcribed").await;
    let said = m.content.text_or_caption().unwrap().to_string();
    assert!(said.contains("25 MB"), "the reason is given: {said}");
    t.settled().await;
    assert_eq!(transcriptions(fake_ai(&t)), before, "a file over the limit is never sent");
    let said_why = t
        .fake
        .topic_messages(chat, thread)
        .iter()
        .filter(|m| m.content.text_or_caption().is_some_and(|x| x.contains("is not transcribed")))
        .count();
    assert_eq!(said_why, 1, "said once");
    let parked = t.store.parked_jobs().await.unwrap();
    assert!(parked.is_empty(), "{parked:?}");
    t.stop().await;
}

on_both_engines!(
    a_call_is_transcribed_checked_and_the_supervisor_has_the_last_word_on_sqlite,
    a_call_is_transcribed_checked_and_the_supervisor_has_the_last_word_on_postgres,
    a_call_is_transcribed_checked_and_the_supervisor_has_the_last_word
);

/// The newest draft message in the topic.
fn draft_in(t: &TestApp, chat: i64, thread: i32) -> Option<forecourt::sandbox::telegram::ChatMessage> {
    t.fake
        .topic_messages(chat, thread)
        .into_iter()
        .rev()
        .find(|m| m.from_bot && m.content.text_or_caption().is_some_and(|x| x.starts_with("✍️ Draft for")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_reaches_the_customer_only_after_send_and_a_suggested_intent_only_when_applied() {
    let t = TestApp::start_with(ai_opts(Db::Sqlite)).await;
    let rav4 = forecourt::store::VehicleInput {
        vin: Some("1M8GDM9AXKP042788".into()),
        vin_check_ok: true,
        make: "Toyota".into(),
        model: "RAV4".into(),
        year: Some(2019),
        price_minor: Some(2_450_000),
        currency: Some("USD".into()),
        mileage_km: Some(85_000),
        ..forecourt::store::VehicleInput::default()
    };
    t.store.insert_vehicles(&[rav4], 1).await.unwrap();
    let car: i64 = sqlx::query_scalar("SELECT id FROM vehicles").fetch_one(t.store.pool()).await.unwrap();
    let max = t.staff(9501, "Max Petrenko", Role::Manager).await;
    let anna = t.staff(9502, "Anna Data", Role::Analyst).await;
    let c = t.customer(7501, "Віра", None);
    t.fake.customer_writes(&c, "Скільки коштує RAV4? Можна приїхати в суботу?");
    let (chat, thread, card) = t.topic_of(&c).await;
    let lead = t.lead_of(&c).await.id;
    let attach = forecourt::domain::callback::CardAction::Attach(lead, forecourt::domain::VehicleId(car)).encode();
    let cb = t.fake.staff_presses(chat, card, &max, &attach);
    assert_eq!(t.callback_answer(&cb).await, "Attached.");
    // The bot did not qualify her (flows are off here): AI guesses, a person applies it.
    let shown = t.card_shows(chat, card, "🤖 Seems to want: Buy a car (writes in uk)").await;
    let set = button_data(&shown, "Set intent").expect("✅ Set intent on the card");
    assert_eq!(t.lead(lead).await.intent, None, "a suggestion changes nothing by itself");
    let cb = t.fake.staff_presses(chat, card, &max, &set);
    assert!(t.callback_answer(&cb).await.contains("Buy a car"));
    t.card_shows(chat, card, "Wants: Buy a car").await;
    assert_eq!(t.lead(lead).await.intent.as_deref(), Some("buy"));
    t.topic_message(chat, thread, "✅ Intent set to Buy a car by Max Petrenko (suggested by AI)").await;

    // ✍️ Draft: posted in the topic, never to the customer.
    let shown = t.card_shows(chat, card, "Wants: Buy a car").await;
    let ask = button_data(&shown, "Draft").expect("✍️ Draft on the card");
    let cb = t.fake.staff_presses(chat, card, &max, &ask);
    assert!(t.callback_answer(&cb).await.contains("Drafting"));
    let fake = t.fake.clone();
    t.until_ok("the draft in the topic", || draft_in(&t, chat, thread).is_some_and(|m| m.reply_markup.is_some())).await;
    let d = draft_in(&t, chat, thread).unwrap();
    let text = d.content.text_or_caption().unwrap().to_string();
    // The car as the store has it, price included, never invented.
    assert!(text.contains("Toyota RAV4 · 2019 · 85000 km · 24 500 USD"), "{text}");
    assert!(text.contains("nothing is sent until someone presses 📤 Send"), "{text}");
    let draft_request = fake_ai(&t).seen().into_iter().find(|s| s.name == "reply_draft").expect("asked for a draft");
    assert!(
        draft_request.text.contains("Toyota RAV4 · 2019 · 85000 km · 24 500 USD"),
        "the cars' data from the store: {}",
        draft_request.text
    );
    t.settled().await;
    assert!(fake.bot_messages_to(c.id).is_empty(), "nothing reached the customer");
    // An analyst cannot send it.
    let send = button_data(&d, "Send").unwrap();
    let cb = t.fake.staff_presses(chat, d.message_id, &anna, &send);
    assert!(t.callback_answer(&cb).await.contains("analysts"));
    assert!(fake.bot_messages_to(c.id).is_empty());
    // Max sends it: it reaches her as his reply, and the draft says so.
    let cb = t.fake.staff_presses(chat, d.message_id, &max, &send);
    assert!(t.callback_answer(&cb).await.contains("Sent"));
    t.until_ok("the customer has the draft", || !fake.bot_messages_to(c.id).is_empty()).await;
    let got = fake.bot_messages_to(c.id)[0].content.text_or_caption().unwrap().to_string();
    assert!(got.starts_with("Добрий день!") && got.contains("RAV4"), "{got}");
    t.until_ok("the draft says it was sent", || {
        draft_in(&t, chat, thread).is_some_and(|m| {
            m.message_id == d.message_id
                && m.reply_markup.as_ref().is_none_or(|k| k["inline_keyboard"].as_array().is_none_or(|a| a.is_empty()))
                && m.content.text_or_caption().is_some_and(|x| x.contains("📤 Sent by Max Petrenko"))
        })
    })
    .await;
    let cb = t.fake.staff_presses(chat, d.message_id, &max, &send);
    assert!(t.callback_answer(&cb).await.contains("already"), "a second press sends nothing");
    // A second draft, discarded: the customer gets nothing more.
    let cb = t.fake.staff_presses(chat, card, &max, &ask);
    t.callback_answer(&cb).await;
    t.until_ok("a second draft", || draft_in(&t, chat, thread).is_some_and(|m| m.message_id != d.message_id)).await;
    let d2 = draft_in(&t, chat, thread).unwrap();
    let cb = t.fake.staff_presses(chat, d2.message_id, &max, &button_data(&d2, "Discard").unwrap());
    assert!(t.callback_answer(&cb).await.contains("discarded"));
    t.until_ok("the draft says it was discarded", || {
        draft_in(&t, chat, thread)
            .is_some_and(|m| m.content.text_or_caption().is_some_and(|x| x.contains("✖ Discarded by Max")))
    })
    .await;
    t.settled().await;
    assert_eq!(fake.bot_messages_to(c.id).len(), 1);
    assert!(t.store.parked_jobs().await.unwrap().is_empty());
    t.stop().await;
}

/// How many answers of the schema `name` the fake gave.
fn asked(t: &TestApp, name: &str) -> usize {
    fake_ai(t).seen().iter().filter(|s| s.name == name).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_advice_again_leaves_the_card_alone_and_new_advice_shows() {
    let t = TestApp::start_with(ai_opts(Db::Sqlite)).await;
    let c = t.customer(7601, "Олег", None);
    t.fake.customer_writes(&c, "Скільки коштує ваш Passat?");
    let (chat, _, card) = t.topic_of(&c).await;
    let lead = t.lead_of(&c).await.id;
    t.card_shows(chat, card, "🤖 Seems to want: Buy a car (writes in uk)").await;
    t.card_shows(chat, card, "🔥 45").await;
    t.settled().await;
    let before = t.lead(lead).await.card_version;
    // More of the same: the model is asked again (the conversation grew), answers the same,
    // and the card — which shows that already — is not asked to change.
    let (scores, guesses) = (asked(&t, "hot_score"), asked(&t, "lead_intent"));
    t.fake.customer_writes(&c, "А скільки в нього пробіг?");
    t.until_ok("the model asked again", || asked(&t, "hot_score") > scores && asked(&t, "lead_intent") > guesses).await;
    t.settled().await;
    assert_eq!(t.lead(lead).await.card_version, before, "the same score and guess leave the card as it is");
    // A new guess shows.
    t.fake.customer_writes(&c, "Чи можу я продати вам свою машину?");
    t.card_shows(chat, card, "🤖 Seems to want: Sell a car (writes in uk)").await;
    assert!(t.lead(lead).await.card_version > before);
    assert_eq!(t.lead(lead).await.intent, None, "a guess changes nothing by itself");
    t.settled().await;
    assert!(t.store.parked_jobs().await.unwrap().is_empty());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_leads_queues_no_more_than_ai_answers_soon_and_every_lead_is_scored() {
    let t = TestApp::start_with(ai_opts(Db::Sqlite)).await;
    fake_ai(&t).set_latency(Duration::from_millis(400));
    // 24 leads the bot did not qualify: a score and an intent guess each, 48 jobs; with the
    // harness's eight requests in flight, at most 32 queued at a time.
    let slots = t.config.ai.as_ref().expect("AI is on").concurrency;
    assert!(slots * forecourt::domain::ai::QUEUED_PER_SLOT < 48, "the flood must be more than the lane holds");
    let people: Vec<_> = (0..24).map(|i| t.customer(7700 + i, &format!("Клієнт {i}"), None)).collect();
    for p in &people {
        t.fake.customer_writes(p, "Скільки коштує Skoda Octavia?");
    }
    let mut leads = Vec::new();
    for p in &people {
        leads.push(t.lead_of(p).await.id);
    }
    let cap = (forecourt::domain::ai::QUEUED_PER_SLOT * slots) as i64;
    let (store, mut most) = (t.store.clone(), 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let queued = store.jobs_in_flight_in(i64::MAX, Some(forecourt::store::Lane::Ai)).await.unwrap();
        most = most.max(queued);
        assert!(queued <= cap, "{queued} AI jobs queued; at most {cap}");
        let mut scored = 0;
        for l in &leads {
            scored += usize::from(store.hot_score(*l).await.unwrap().is_some());
        }
        if scored == leads.len() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "only {scored} of {} leads scored in a minute", leads.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(most > slots as i64, "the lane was kept busy: at most {most} queued");
    // Every guess came too, and each lead was asked about once for each.
    let store = t.store.clone();
    let leads2 = leads.clone();
    eventually("every lead has a guess", || {
        let (store, leads) = (store.clone(), leads2.clone());
        async move {
            for l in &leads {
                store.suggestion(*l).await.ok()??;
            }
            Some(())
        }
    })
    .await;
    assert_eq!(asked(&t, "hot_score"), 24);
    assert_eq!(asked(&t, "lead_intent"), 24);
    assert!(t.store.parked_jobs().await.unwrap().is_empty());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_someone_waits_for_goes_before_the_queued_scores() {
    let t = TestApp::start_with(ai_opts(Db::Sqlite)).await;
    fake_ai(&t).set_latency(Duration::from_millis(400));
    let slots = t.config.ai.as_ref().expect("AI is on").concurrency as i64;
    let max = t.staff(9801, "Max Petrenko", Role::Manager).await;
    let c = t.customer(7801, "Віра", None);
    t.fake.customer_writes(&c, "Добрий день, цікавить Octavia");
    let (chat, thread, card) = t.topic_of(&c).await;
    t.settled().await;
    // A flood of other leads fills AI's lane: more queued than run at once.
    let people: Vec<_> = (0..24).map(|i| t.customer(7810 + i, &format!("Клієнт {i}"), None)).collect();
    for p in &people {
        t.fake.customer_writes(p, "Скільки коштує Skoda Octavia?");
    }
    let store = t.store.clone();
    eventually("AI's lane is full", || {
        let store = store.clone();
        async move {
            let queued = store.jobs_in_flight_in(i64::MAX, Some(forecourt::store::Lane::Ai)).await.ok()?;
            (queued >= 3 * slots).then_some(())
        }
    })
    .await;
    // Max asks for a draft: it is the next request a free slot sends, not the last of the queue.
    let shown = t.card_shows(chat, card, "Віра").await;
    let ask = button_data(&shown, "Draft").expect("✍️ Draft on the card");
    let before = fake_ai(&t).requests();
    let cb = t.fake.staff_presses(chat, card, &max, &ask);
    assert!(t.callback_answer(&cb).await.contains("Drafting"));
    t.until_ok("the draft in the topic", || draft_in(&t, chat, thread).is_some_and(|m| m.reply_markup.is_some())).await;
    let seen = fake_ai(&t).seen();
    let at = seen.iter().position(|s| s.name == "reply_draft").expect("asked for a draft");
    let ahead = at - before;
    assert!(
        (ahead as i64) <= slots,
        "{ahead} requests went ahead of the draft; at most the {slots} already running may"
    );
    t.stop().await;
}
