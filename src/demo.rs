//! `forecourt demo`: a scripted dealership morning. The real program runs against the
//! fake Telegram Bot API from [`crate::sandbox`], with Telegram's rate limits on, a
//! temporary SQLite database and a clock that runs faster than real time. At the end it
//! prints every chat — the customers' and the staff topics with their cards and buttons —
//! and exits 0 if the story went as it should.

use crate::app::{self, App};
use crate::clock::Clock;
use crate::config::{Config, Secret};
use crate::domain::{LeadId, Role, Stage, TelegramUserId};
use crate::sandbox::telegram::{ApiError, Content, FakeTelegram, FakeUser};
use anyhow::{bail, Context};
use chrono::TimeZone;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "7000000001:DEMO";
const QUEUE: i64 = -1001000000001;
const TEAM: i64 = -1001000000002;

struct Demo {
    fake: FakeTelegram,
    app: Arc<App>,
}

impl Demo {
    /// Wait until the bot has read every update and no job is due.
    async fn settle(&self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let soon = self.app.clock.now_ms() + 5_000;
            let busy = self.fake.pending_updates() > 0 || self.app.store.jobs_in_flight(soon).await? > 0;
            if !busy {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the demo did not settle within two minutes");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Let some minutes of the morning pass.
    async fn pause(&self, minutes: i64) {
        self.app.clock.sleep_ms(minutes * 60_000).await;
    }

    async fn lead_of(&self, telegram_id: i64) -> anyhow::Result<LeadId> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT l.id FROM leads l JOIN customer_identities i ON i.customer_id = l.customer_id
             WHERE i.channel = 'telegram' AND i.external_id = $1 ORDER BY l.id DESC",
        )
        .bind(telegram_id.to_string())
        .fetch_all(self.app.store.pool())
        .await?;
        ids.first().map(|i| LeadId(*i)).context("the customer has no lead")
    }

    /// (chat, thread, card message) of a lead.
    async fn topic(&self, lead: LeadId) -> anyhow::Result<(i64, i32, i32)> {
        let l = self.app.store.lead(lead).await?.context("lead")?;
        Ok((
            l.staff_chat_id.context("no topic")?,
            l.topic_thread_id.context("no topic")?,
            l.card_message_id.context("no card")?,
        ))
    }

    /// A staff member presses the card's button with this label.
    async fn press(&self, lead: LeadId, who: &FakeUser, label: &str) -> anyhow::Result<()> {
        let (chat, _, card) = self.topic(lead).await?;
        let m = self.fake.messages(chat).into_iter().find(|m| m.message_id == card).context("card")?;
        let data = m
            .reply_markup
            .as_ref()
            .and_then(|k| k["inline_keyboard"].as_array())
            .into_iter()
            .flatten()
            .flat_map(|row| row.as_array().cloned().unwrap_or_default())
            .find(|b| b["text"].as_str().is_some_and(|t| t.contains(label)))
            .and_then(|b| b["callback_data"].as_str().map(str::to_string))
            .with_context(|| format!("no button {label:?} on lead #{lead}'s card"))?;
        self.fake.staff_presses(chat, card, who, &data);
        self.settle().await
    }

    async fn staff_says(&self, lead: LeadId, who: &FakeUser, text: &str) -> anyhow::Result<()> {
        let (chat, thread, _) = self.topic(lead).await?;
        self.fake.staff_writes(chat, Some(thread), who, text);
        self.settle().await
    }
}

pub async fn run(speed: f64) -> anyhow::Result<ExitCode> {
    if !(1.0..=1000.0).contains(&speed) {
        bail!("--speed: must be between 1 and 1000");
    }
    let tz = chrono_tz::Europe::Kyiv;
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let nine = tz
        .from_local_datetime(&today.and_hms_opt(9, 0, 0).expect("09:00 exists"))
        .single()
        .context("09:00 today")?
        .timestamp_millis();
    let clock = Clock::starting_at(nine, speed);
    let fake = FakeTelegram::start(TOKEN, clock.clone()).await?;
    fake.set_rate_limits(true);
    fake.add_staff_group(QUEUE, "Forecourt · New leads");
    fake.add_staff_group(TEAM, "Forecourt · Sales team");

    let dir = tempfile::tempdir()?;
    let mut config = Config::default();
    config.database_url = format!("sqlite://{}/demo.db", dir.path().display());
    config.data_dir = dir.path().join("data");
    config.telegram.token = Some(Secret::new(TOKEN));
    config.telegram.api_url = fake.url();
    config.telegram.staff_chat_ids = vec![QUEUE, TEAM];
    config.telegram.poll_timeout_s = 2;
    let app = app::build(config, clock.clone()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let running = app::start(app.clone(), listener).await?;
    let d = Demo { fake: fake.clone(), app: app.clone() };
    let now = clock.now_ms();
    let store = &app.store;
    store.upsert_user(TelegramUserId(9001), "Max Petrenko", Role::Manager, Some(TEAM), now).await?;
    store.upsert_user(TelegramUserId(9002), "Sofia Lysenko", Role::Supervisor, Some(TEAM), now).await?;
    let max = FakeUser::new(9001, "Max", Some("Petrenko"));
    let sofia = FakeUser::new(9002, "Sofia", Some("Lysenko"));
    let stranger = FakeUser::new(9999, "Taras", Some("(not staff)"));
    let olena = FakeUser::new(501, "Olena", Some("Koval"));
    let ivan = FakeUser::new(502, "Ivan", Some("Shevchenko"));
    let petro = FakeUser::new(503, "Petro", Some("Bondar"));

    println!("Forecourt demo: a dealership morning against a fake Telegram (limits on, clock ×{speed}).");
    println!("Staff groups: “Forecourt · New leads” (queue) and “Forecourt · Sales team”.\n");

    // 09:00 — customers write.
    fake.customer_writes(&olena, "Good morning! Is the 2019 Toyota RAV4 from your Instagram still available?");
    let photo = fake.upload_file("photo", b"rav4.jpg");
    fake.customer_sends(&olena, Content::Photo { file_id: photo, caption: Some("This one".into()) }, None);
    fake.customer_writes(&ivan, "Hi, I'd like to sell my 2015 Skoda Octavia. Photos below.");
    for (i, name) in ["octavia-front.jpg", "octavia-back.jpg"].iter().enumerate() {
        let f = fake.upload_file("photo", name.as_bytes());
        fake.customer_sends(
            &ivan,
            Content::Photo { file_id: f, caption: (i == 0).then(|| "Octavia".into()) },
            Some("ivan-album"),
        );
    }
    fake.customer_writes(&petro, "Do you offer financing?");
    d.settle().await?;
    let (lead_o, lead_i, lead_p) = (d.lead_of(501).await?, d.lead_of(502).await?, d.lead_of(503).await?);
    d.pause(3).await;

    // Someone who is not staff tries a button.
    d.press(lead_o, &stranger, "Claim").await?;
    // Max claims Olena's lead: it moves to the sales team's group.
    d.press(lead_o, &max, "Claim").await?;
    fake.fail_next("sendMessage", Some(501), ApiError::server("Bad Gateway"), 1);
    d.staff_says(
        lead_o,
        &max,
        "Good morning, Olena! Yes, it is available: 2019, 48,000 km. Would you like a test drive today?",
    )
    .await?;
    fake.customer_writes(&olena, "Yes please, around 14:00?");
    fake.customer_writes(&olena, "And can I trade in my 2012 Corolla?");
    d.settle().await?;
    d.staff_says(lead_o, &max, "14:00 works. Bring the Corolla and we'll value it on the spot.").await?;
    d.staff_says(lead_o, &max, "/note test drive 14:00; trade-in Corolla 2012, estimate before the visit").await?;
    d.press(lead_o, &max, "Stage").await?;
    d.press(lead_o, &max, "In negotiation").await?;
    d.pause(5).await;

    // Petro blocked the bot before Sofia answered.
    d.press(lead_p, &sofia, "Claim").await?;
    fake.set_blocked(503, true);
    d.staff_says(lead_p, &sofia, "Hello Petro! Yes, with 20% down over 12-60 months.").await?;

    // Ivan changed his mind.
    fake.customer_writes(&ivan, "Sorry, my brother bought it. Thanks anyway!");
    d.settle().await?;
    d.press(lead_i, &sofia, "Lost").await?;
    d.press(lead_i, &sofia, "Changed mind").await?;

    // A manager checks the queue.
    fake.staff_writes(QUEUE, None, &max, "/queue");
    fake.staff_writes(TEAM, None, &max, "/my");
    d.settle().await?;

    println!("{}", fake.transcript());
    println!("\n━━ Leads at the end of the morning ━━");
    let mut ok = true;
    for (lead, want) in [(lead_o, Stage::InNegotiation), (lead_i, Stage::Lost), (lead_p, Stage::Contacted)] {
        let l = store.lead(lead).await?.context("lead")?;
        let history = store.lead_history(lead).await?;
        println!(
            "  #{} {:<18} {:<15} owner: {:<14} history rows: {}",
            l.id,
            l.customer_name,
            l.stage.label(),
            l.owner_name.as_deref().unwrap_or("—"),
            history.len()
        );
        ok &= l.stage == want;
    }
    let parked = store.parked_jobs().await?.len();
    println!(
        "\nTelegram calls: {}; answered 429: {}; parked jobs: {parked}",
        fake.calls().len(),
        fake.rate_limited_count()
    );
    running.stop().await;
    fake.stop();
    if !ok {
        eprintln!("error: the demo's leads did not end in the expected stages");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
