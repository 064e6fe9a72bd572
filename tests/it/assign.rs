//! Assignment, shifts and the silence timer (issue 13), through the fake Telegram.

use crate::harness::*;
use forecourt::domain::assign::Mode;
use forecourt::domain::Role;
use forecourt::sandbox::telegram::{ChatMessage, FakeTelegram, FakeUser};

fn text(m: &ChatMessage) -> String {
    m.content.text_or_caption().unwrap_or_default().to_string()
}

async fn started(mode: Mode, speed: f64, first_response_minutes: u32) -> TestApp {
    started_with(mode, speed, |a| a.first_response_minutes = first_response_minutes).await
}

/// A staff member who has opened their private chat with the bot (`/shift on`).
async fn on_shift(t: &TestApp, id: i64, name: &str, role: Role) -> FakeUser {
    let u = t.staff(id, name, role).await;
    t.fake.customer_writes(&u, "/shift on");
    let who = u.id;
    t.until("the shift answer", move |f: &FakeTelegram| !f.bot_messages_to(who).is_empty()).await;
    u
}

fn told_privately(f: &FakeTelegram, who: i64, needle: &str) -> bool {
    f.bot_messages_to(who).iter().any(|m| text(m).contains(needle))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_gives_alternate_leads_and_tells_each_manager() {
    let t = started(Mode::RoundRobin, 1.0, 15).await;
    let max = on_shift(&t, 9401, "Max Petrenko", Role::Manager).await;
    let sofia = on_shift(&t, 9402, "Sofia Lysenko", Role::Manager).await;
    assert!(told_privately(&t.fake, max.id, "you are on shift for the rest of today"));
    let mut owners = Vec::new();
    for (i, name) in ["Anna", "Boris", "Chloe", "Dmytro"].into_iter().enumerate() {
        let c = t.customer(7500 + i as i64, name, None);
        t.fake.customer_writes(&c, &format!("Hello, I am {name}"));
        let lead = eventually("the lead is assigned", || async { t.lead_of(&c).await.owner_name }).await;
        owners.push(lead);
        // The owner is told: in the topic with a mention, and privately with the first message.
        // (Once the topic has moved to the owner's group: the mention waits for that.)
        t.settled().await;
        let (chat, thread, _) = t.topic_of(&c).await;
        let who = if i % 2 == 0 { &max } else { &sofia };
        let name_of = if i % 2 == 0 { "Max Petrenko" } else { "Sofia Lysenko" };
        t.until("the mention in the topic", |f: &FakeTelegram| {
            f.topic_messages(chat, thread)
                .iter()
                .any(|m| text(m).starts_with(&format!("{name_of}, this lead is yours")))
        })
        .await;
        let first = format!("“Hello, I am {name}”");
        t.until("the private message", |f: &FakeTelegram| told_privately(f, who.id, &first)).await;
    }
    assert_eq!(owners, ["Max Petrenko", "Sofia Lysenko", "Max Petrenko", "Sofia Lysenko"]);
    // The private message has a button to the topic.
    let m = t.fake.bot_messages_to(max.id).into_iter().find(|m| text(m).contains("Anna")).unwrap();
    assert!(format!("{:?}", m.reply_markup).contains("https://t.me/c/"), "{:?}", m.reply_markup);
    // An off-shift manager gets nothing.
    t.fake.customer_writes(&sofia, "/shift off");
    t.until("off", |f: &FakeTelegram| told_privately(f, sofia.id, "you are off shift")).await;
    for (i, name) in ["Emil", "Fedir"].into_iter().enumerate() {
        let c = t.customer(7510 + i as i64, name, None);
        t.fake.customer_writes(&c, "Hi");
        let owner = eventually("assigned", || async { t.lead_of(&c).await.owner_name }).await;
        assert_eq!(owner, "Max Petrenko", "{name}");
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_loaded_picks_the_lighter_and_a_returning_customer_goes_back() {
    let t = started(Mode::LeastLoaded, 1.0, 15).await;
    let max = on_shift(&t, 9411, "Max Petrenko", Role::Manager).await;
    // Max already has two leads (claimed before Sofia came on shift).
    for (i, name) in ["Anna", "Boris"].into_iter().enumerate() {
        let c = t.customer(7520 + i as i64, name, None);
        t.fake.customer_writes(&c, "Hi");
        eventually("Max's", || async { t.lead_of(&c).await.owner_name }).await;
    }
    let sofia = on_shift(&t, 9412, "Sofia Lysenko", Role::Manager).await;
    let chloe = t.customer(7522, "Chloe", None);
    t.fake.customer_writes(&chloe, "Hi");
    let owner = eventually("assigned", || async { t.lead_of(&chloe).await.owner_name }).await;
    assert_eq!(owner, "Sofia Lysenko", "the lighter");
    // More leads; Sofia sells to Chloe, and when Chloe comes back the new lead is Sofia's.
    for (i, name) in ["Dana", "Emil", "Fedir"].into_iter().enumerate() {
        let c = t.customer(7530 + i as i64, name, None);
        t.fake.customer_writes(&c, "Hi");
        eventually("assigned", || async { t.lead_of(&c).await.owner_name }).await;
    }
    let lead = t.lead_of(&chloe).await;
    t.settled().await;
    let (chat, thread, _) = t.topic_of(&chloe).await;
    t.fake.staff_writes(chat, Some(thread), &sofia, "Welcome!");
    eventually("answered", || async { t.store.first_response_secs(lead.id).await.ok().flatten() }).await;
    sqlx::query("UPDATE leads SET stage = 'sold', is_open = 0 WHERE id = $1")
        .bind(lead.id.0)
        .execute(t.store.pool())
        .await
        .unwrap();
    // Max's leads close too: he is now much the lighter, and Chloe still goes to Sofia.
    sqlx::query(
        "UPDATE leads SET stage = 'sold', is_open = 0 WHERE owner_id = (SELECT id FROM users WHERE telegram_id = 9411)",
    )
    .execute(t.store.pool())
    .await
    .unwrap();
    t.fake.customer_writes(&chloe, "I want a second car");
    let again: i64 = eventually("a new lead", || async {
        sqlx::query_scalar("SELECT id FROM leads WHERE customer_id = $1 AND is_open = 1")
            .bind(lead.customer_id.0)
            .fetch_optional(t.store.pool())
            .await
            .ok()?
    })
    .await;
    let owner = eventually("assigned", || async { t.lead(forecourt::domain::LeadId(again)).await.owner_name }).await;
    assert_eq!(owner, "Sofia Lysenko", "back to her previous owner");
    let _ = max;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_silence_timer_moves_a_lead_once_and_alerts_a_supervisor() {
    let t = started(Mode::RoundRobin, 30.0, 1).await;
    let max = on_shift(&t, 9421, "Max Petrenko", Role::Manager).await;
    let sofia = on_shift(&t, 9422, "Sofia Lysenko", Role::Manager).await;
    let boss = on_shift(&t, 9423, "Olha Boss", Role::Supervisor).await;
    let c = t.customer(7540, "Olena", None);
    t.fake.customer_writes(&c, "Is the RAV4 still there?");
    let first = eventually("assigned", || async { t.lead_of(&c).await.owner_name }).await;
    assert_eq!(first, "Max Petrenko");
    // Max stays silent: a minute later the lead is Sofia's, and the supervisor knows why.
    t.until("the supervisor's alert", |f: &FakeTelegram| {
        told_privately(f, boss.id, "waited 1 min: moved from Max Petrenko to Sofia Lysenko")
    })
    .await;
    assert_eq!(t.lead_of(&c).await.owner_name.as_deref(), Some("Sofia Lysenko"));
    t.until("Sofia is told", |f: &FakeTelegram| told_privately(f, sofia.id, "is yours")).await;
    let (chat, thread, _) = t.topic_of(&c).await;
    t.until("the topic says why", |f: &FakeTelegram| {
        f.topic_messages(chat, thread)
            .iter()
            .any(|m| text(m).contains("Max Petrenko did not answer within 1 min: the lead moves to Sofia Lysenko"))
    })
    .await;
    // The card says why.
    let (chat2, _, card) = t.topic_of(&c).await;
    t.card_shows(chat2, card, "Owner: Sofia Lysenko (⏱ Max Petrenko did not answer within 1 min)").await;
    // Sofia is silent too: only an alert this time (it moves once).
    t.until("the second alert", |f: &FakeTelegram| {
        told_privately(f, boss.id, "waited 1 min without an answer from Sofia Lysenko")
    })
    .await;
    assert_eq!(t.lead_of(&c).await.owner_name.as_deref(), Some("Sofia Lysenko"));
    // She answers: the first response is kept in business seconds.
    t.fake.staff_writes(chat, Some(thread), &sofia, "Yes, it is!");
    let secs = eventually("the first response", || async {
        t.store.first_response_secs(t.lead_of(&c).await.id).await.ok().flatten()
    })
    .await;
    assert!(secs >= 120, "{secs} s: two minutes at least passed");
    let _ = max;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_menu_is_for_supervisors_and_tells_both_managers() {
    let t = started(Mode::Queue, 1.0, 15).await;
    let max = on_shift(&t, 9431, "Max Petrenko", Role::Manager).await;
    let sofia = on_shift(&t, 9432, "Sofia Lysenko", Role::Manager).await;
    let boss = on_shift(&t, 9433, "Olha Boss", Role::Supervisor).await;
    let c = t.customer(7550, "Olena", None);
    t.fake.customer_writes(&c, "Hello");
    let (chat, thread, _) = t.topic_of(&c).await;
    t.fake.staff_writes(chat, Some(thread), &max, "Hello Olena!");
    eventually("Max's", || async { t.lead_of(&c).await.owner_name }).await;
    t.settled().await;
    // The topic is in Max's group now.
    let (chat, _, card) = t.topic_of(&c).await;
    let card_msg = t.card_shows(chat, card, "Owner: Max Petrenko").await;
    let open = button_data(&card_msg, "👤 Owner ▸").expect("the Owner button");
    // A manager is refused, and nothing changes.
    let press = t.fake.staff_presses(chat, card, &sofia, &open);
    assert!(t.callback_answer(&press).await.contains("only a supervisor or an admin"));
    // The supervisor opens the menu: the other managers with their open leads.
    let press = t.fake.staff_presses(chat, card, &boss, &open);
    t.callback_answer(&press).await;
    let menu = eventually("the menu", || async {
        let m = t.fake.messages(chat).into_iter().find(|m| m.message_id == card)?;
        button_data(&m, "Sofia Lysenko (0)").map(|_| m)
    })
    .await;
    assert!(button_data(&menu, "Max Petrenko (1)").is_none(), "not the owner");
    let press = t.fake.staff_presses(chat, card, &boss, &button_data(&menu, "Sofia Lysenko (0)").unwrap());
    assert_eq!(t.callback_answer(&press).await, "Given to Sofia Lysenko.");
    let lead = t.lead_of(&c).await;
    assert_eq!(lead.owner_name.as_deref(), Some("Sofia Lysenko"));
    let history = t.store.lead_history(lead.id).await.unwrap();
    assert!(history
        .iter()
        .any(|h| h.field == "owner" && h.to_value.as_deref() == Some(&lead.owner.unwrap().0.to_string())));
    t.until("both are told", |f: &FakeTelegram| {
        told_privately(f, sofia.id, "Olha Boss gave you lead #")
            && told_privately(f, max.id, "Olha Boss gave lead #1 · Olena to Sofia Lysenko")
    })
    .await;
    t.stop().await;
}

async fn started_with(mode: Mode, speed: f64, set: impl FnOnce(&mut forecourt::config::AssignmentConfig)) -> TestApp {
    let mut t = TestApp::start_with(Opts {
        speed,
        groups: vec![STAFF, STAFF + 1, STAFF + 2],
        business_hours: Some("Mon-Sun 00:00-24:00"),
        ..Opts::default()
    })
    .await;
    t.config.assignment.mode = mode;
    set(&mut t.config.assignment);
    t.restart().await;
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_shows_the_managers_and_a_disabled_ones_leads_go_back_to_assignment() {
    let t = started_with(Mode::RoundRobin, 30.0, |_| {}).await;
    let max = on_shift(&t, 9441, "Max Petrenko", Role::Manager).await;
    let _sofia = on_shift(&t, 9442, "Sofia Lysenko", Role::Manager).await;
    let boss = on_shift(&t, 9443, "Olha Boss", Role::Supervisor).await;
    let c = t.customer(7560, "Olena", None);
    t.fake.customer_writes(&c, "Hello");
    let owner = eventually("assigned", || async { t.lead_of(&c).await.owner_name }).await;
    assert_eq!(owner, "Max Petrenko");
    t.fake.customer_writes(&boss, "/team");
    t.until("the team", |f: &FakeTelegram| {
        told_privately(f, boss.id, "🟢 Max Petrenko · 1 open · 0 overdue")
            && told_privately(f, boss.id, "🟢 Sofia Lysenko · 0 open")
    })
    .await;
    t.fake.customer_writes(&max, "/team");
    t.until("refused", |f: &FakeTelegram| told_privately(f, max.id, "/team is for supervisors")).await;
    // Max is disabled: his open lead goes back to assignment, and to Sofia.
    t.store.set_user_active(forecourt::domain::TelegramUserId(9441), false, t.clock.now_ms()).await.unwrap();
    let owner =
        eventually("reassigned", || async { t.lead_of(&c).await.owner_name.filter(|n| n == "Sofia Lysenko") }).await;
    assert_eq!(owner, "Sofia Lysenko");
    let history = t.store.lead_history(t.lead_of(&c).await.id).await.unwrap();
    assert!(history.iter().any(|h| h.field == "owner" && h.reason.as_deref() == Some("owner disabled")), "{history:?}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_message_waiting_too_long_alerts_the_owner_then_a_supervisor() {
    let t = started_with(Mode::RoundRobin, 30.0, |a| a.reply_alert_minutes = 1).await;
    let max = on_shift(&t, 9451, "Max Petrenko", Role::Manager).await;
    let boss = on_shift(&t, 9453, "Olha Boss", Role::Supervisor).await;
    let c = t.customer(7570, "Olena", None);
    t.fake.customer_writes(&c, "Hello");
    eventually("assigned", || async { t.lead_of(&c).await.owner_name }).await;
    t.settled().await;
    let (chat, thread, _) = t.topic_of(&c).await;
    t.fake.staff_writes(chat, Some(thread), &max, "Hello! How can I help?");
    eventually("answered", || async { t.store.first_response_secs(t.lead_of(&c).await.id).await.ok().flatten() }).await;
    t.fake.customer_writes(&c, "What about the credit?");
    t.until("the owner is reminded", |f: &FakeTelegram| {
        f.topic_messages(chat, thread).iter().any(|m| text(m) == "Max Petrenko, Olena has waited 1 min for an answer.")
    })
    .await;
    t.until("then a supervisor", |f: &FakeTelegram| {
        told_privately(f, boss.id, "Olena has waited 2 min for an answer from Max Petrenko")
    })
    .await;
    t.fake.staff_writes(chat, Some(thread), &max, "Credit is possible.");
    let lead = t.lead_of(&c).await.id;
    let n: i64 = eventually("two reply times", || async {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reply_times WHERE lead_id = $1")
            .bind(lead.0)
            .fetch_one(t.store.pool())
            .await
            .ok()?;
        (n == 2).then_some(n)
    })
    .await;
    assert_eq!(n, 2);
    let later: i64 = sqlx::query_scalar("SELECT business_secs FROM reply_times WHERE lead_id = $1 AND first = 0")
        .bind(lead.0)
        .fetch_one(t.store.pool())
        .await
        .unwrap();
    assert!(later >= 120, "{later}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_stuck_in_its_stage_gets_one_follow_up_task() {
    let t = started_with(Mode::Queue, 30.0, |a| {
        a.stale_days.insert(forecourt::domain::Stage::Contacted, 3);
    })
    .await;
    let max = t.staff(9461, "Max Petrenko", Role::Manager).await;
    let c = t.customer(7580, "Olena", None);
    t.fake.customer_writes(&c, "Hello");
    let (chat, thread, _) = t.topic_of(&c).await;
    t.fake.staff_writes(chat, Some(thread), &max, "Hello!");
    let lead = eventually("contacted", || async {
        let l = t.lead_of(&c).await;
        (l.stage == forecourt::domain::Stage::Contacted).then_some(l)
    })
    .await;
    t.settled().await;
    // Four days in `contacted`.
    let long_ago = t.clock.now_ms() - 4 * 86_400_000;
    sqlx::query("UPDATE leads SET stage_since = $1 WHERE id = $2")
        .bind(long_ago)
        .bind(lead.id.0)
        .execute(t.store.pool())
        .await
        .unwrap();
    sqlx::query("DELETE FROM kv WHERE key = 'assignment.stale_checked_at'").execute(t.store.pool()).await.unwrap();
    let (chat, thread, _) = t.topic_of(&c).await;
    t.until("the follow-up in the topic", |f: &FakeTelegram| {
        f.topic_messages(chat, thread).iter().any(|m| text(m).starts_with("🗓 Follow up: 3 days in Contacted"))
    })
    .await;
    // Once per stay in the stage.
    sqlx::query("DELETE FROM kv WHERE key = 'assignment.stale_checked_at'").execute(t.store.pool()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let tasks = t.store.tasks_of_lead(lead.id).await.unwrap();
    assert_eq!(tasks.iter().filter(|x| x.kind == "follow_up").count(), 1);
    assert_eq!(tasks[0].user_name.as_deref(), Some("Max Petrenko"));
    t.stop().await;
}
