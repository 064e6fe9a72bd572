//! The demo's second morning: the dealership switched to `round_robin`. Two managers come
//! on shift; four customers write; their leads go to each in turn, and each owner is told in
//! the topic and privately. Iryna is busy and leaves her second lead (Yevhen's) unanswered:
//! after five business minutes the silence timer moves it to Max, and Sofia (the
//! supervisor) is told.

use crate::app;
use crate::clock::Clock;
use crate::config::{Config, Secret};
use crate::domain::assign::Mode;
use crate::domain::{LeadId, Role, TelegramUserId};
use crate::sandbox::telegram::{FakeTelegram, FakeUser};
use anyhow::{bail, Context};
use std::time::Duration;

const TOKEN: &str = "7000000002:DEMO";
const QUEUE: i64 = -1001000000011;
const TEAM: i64 = -1001000000012;

/// Runs the morning; prints what happened. Returns whether it went as it should.
pub async fn run(clock: Clock) -> anyhow::Result<bool> {
    let fake = FakeTelegram::start(TOKEN, clock.clone()).await?;
    fake.set_rate_limits(true);
    fake.add_staff_group(QUEUE, "Forecourt · New leads");
    fake.add_staff_group(TEAM, "Forecourt · Sales team");
    let dir = tempfile::tempdir()?;
    let mut config = Config {
        database_url: format!("sqlite://{}/demo-team.db", dir.path().display()),
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    config.telegram.token = Some(Secret::new(TOKEN));
    config.telegram.api_url = fake.url();
    config.telegram.staff_chat_ids = vec![QUEUE, TEAM];
    config.telegram.poll_timeout_s = 2;
    config.flows.dir = None;
    config.flows.business_hours =
        crate::domain::flow::hours::Hours::parse("Mon-Sun 08:00-20:00").map_err(anyhow::Error::msg)?;
    config.assignment.mode = Mode::RoundRobin;
    config.assignment.first_response_minutes = 5;
    let app = app::build(config, clock.clone()).await?;
    let running = app::start(app.clone(), tokio::net::TcpListener::bind("127.0.0.1:0").await?).await?;
    let now = clock.now_ms();
    let store = &app.store;
    for (id, name, role) in [
        (9101, "Max Petrenko", Role::Manager),
        (9102, "Iryna Koval", Role::Manager),
        (9103, "Sofia Lysenko", Role::Supervisor),
    ] {
        store.upsert_user(TelegramUserId(id), name, role, Some(TEAM), now).await?;
    }
    let max = FakeUser::new(9101, "Max", Some("Petrenko"));
    let iryna = FakeUser::new(9102, "Iryna", Some("Koval"));
    let sofia = FakeUser::new(9103, "Sofia", Some("Lysenko"));

    println!(
        "\n━━ The next morning: round robin (FORECOURT_ASSIGNMENT=round_robin, FORECOURT_FIRST_RESPONSE_MINUTES=5) ━━"
    );
    let settle = || async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let soon = app.clock.now_ms() + 5_000;
            if fake.pending_updates() == 0 && app.store.jobs_in_flight(soon).await? == 0 {
                return Ok::<_, anyhow::Error>(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the round-robin morning did not settle within two minutes");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    };
    fake.customer_writes(&max, "/shift on");
    fake.customer_writes(&iryna, "/shift on");
    fake.customer_writes(&sofia, "/team");
    settle().await?;
    let customers = [
        FakeUser::new(611, "Anna", Some("Shevchuk")),
        FakeUser::new(612, "Bohdan", Some("Lys")),
        FakeUser::new(613, "Daryna", Some("Hrytsenko")),
        FakeUser::new(614, "Yevhen", Some("Savchenko")),
    ];
    let asks = [
        "Добрий день! Чи є у вас Hyundai Tucson 2020?",
        "Hello, can I book a test drive of the Sportage for Saturday?",
        "Скільки коштує доставка авто з Польщі?",
        "Чи можна в кредит Skoda Kodiaq?",
    ];
    for (c, text) in customers.iter().zip(asks) {
        fake.customer_writes(c, text);
        settle().await?;
        clock.sleep_ms(60_000).await;
    }
    let mut first_owners = Vec::new();
    for c in &customers {
        let l = store.lead(lead_of(store, c.id).await?).await?.context("lead")?;
        first_owners.push(l.owner_name.unwrap_or_default());
    }
    // Everyone answers but Iryna, on Yevhen's lead (her second).
    answer(&app, &fake, &customers[0], &max, "Добрий день, Анно! Так, Tucson 2020 є — 52 000 км.").await?;
    answer(&app, &fake, &customers[1], &iryna, "Hello Bohdan! Saturday 11:00 is free — shall I book it?").await?;
    answer(
        &app,
        &fake,
        &customers[2],
        &max,
        "Доставка з Польщі — від 900 €, залежить від авто. Яке саме вас цікавить?",
    )
    .await?;
    settle().await?;
    // Five business minutes pass: Yevhen's lead moves from Iryna to Max.
    let yevhen = lead_of(store, customers[3].id).await?;
    let moved = async {
        for _ in 0..600 {
            let l = store.lead(yevhen).await?.context("lead")?;
            if l.owner_name.as_deref() == Some("Max Petrenko") {
                return Ok::<_, anyhow::Error>(true);
            }
            clock.sleep_ms(30_000).await;
        }
        Ok(false)
    }
    .await?;
    settle().await?;
    answer(&app, &fake, &customers[3], &max, "Так, Kodiaq у кредит — від 20% першого внеску. Порахувати?").await?;
    settle().await?;
    fake.customer_writes(&sofia, "/team");
    settle().await?;
    println!("{}", fake.transcript());

    let alert = fake
        .bot_messages_to(sofia.id)
        .iter()
        .filter_map(|m| m.content.text_or_caption().map(str::to_string))
        .find(|t| t.contains("moved from Iryna Koval to Max Petrenko"));
    let firsts: Vec<i64> =
        sqlx::query_scalar("SELECT first_response_secs FROM leads WHERE first_response_secs IS NOT NULL ORDER BY id")
            .fetch_all(store.pool())
            .await?;
    println!("\n━━ Round robin ━━");
    println!("  first owners, in order: {}", first_owners.join(", "));
    println!("  Yevhen's lead moved by the silence timer from Iryna to Max: {moved}");
    println!("  Sofia was told: “{}”", alert.as_deref().unwrap_or("nothing"));
    println!(
        "  first responses (business seconds): {}",
        firsts.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
    );
    let ok = first_owners == ["Max Petrenko", "Iryna Koval", "Max Petrenko", "Iryna Koval"]
        && moved
        && alert.is_some()
        && firsts.len() == 4
        && firsts[3] >= 5 * 60;
    running.stop().await;
    fake.stop();
    Ok(ok)
}

async fn lead_of(store: &crate::store::Store, telegram_id: i64) -> anyhow::Result<LeadId> {
    let l: i64 = sqlx::query_scalar(
        "SELECT l.id FROM leads l JOIN customer_identities i ON i.customer_id = l.customer_id
         WHERE i.channel = 'telegram' AND i.external_id = $1",
    )
    .bind(telegram_id.to_string())
    .fetch_one(store.pool())
    .await?;
    Ok(LeadId(l))
}

/// `who` writes `text` in the topic of the customer's lead.
async fn answer(
    app: &crate::app::App,
    fake: &FakeTelegram,
    c: &FakeUser,
    who: &FakeUser,
    text: &str,
) -> anyhow::Result<()> {
    let lead = app.store.lead(lead_of(&app.store, c.id).await?).await?.context("lead")?;
    let (chat, thread) = (lead.staff_chat_id.context("topic")?, lead.topic_thread_id.context("topic")?);
    fake.staff_writes(chat, Some(thread), who, text);
    Ok(())
}
