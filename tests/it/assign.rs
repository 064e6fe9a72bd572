//! Assignment, shifts and the silence timer (issue 13), through the fake Telegram.

use crate::harness::*;
use forecourt::domain::assign::Mode;
use forecourt::domain::Role;
use forecourt::sandbox::telegram::{ChatMessage, FakeTelegram, FakeUser};

fn text(m: &ChatMessage) -> String {
    m.content.text_or_caption().unwrap_or_default().to_string()
}

async fn started(mode: Mode, speed: f64, first_response_minutes: u32) -> TestApp {
    let mut t = TestApp::start_with(Opts {
        speed,
        groups: vec![STAFF, STAFF + 1, STAFF + 2],
        business_hours: Some("Mon-Sun 00:00-24:00"),
        ..Opts::default()
    })
    .await;
    t.config.assignment.mode = mode;
    t.config.assignment.first_response_minutes = first_response_minutes;
    t.restart().await;
    t
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
