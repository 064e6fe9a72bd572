//! `forecourt demo`: a scripted dealership morning. The real program runs against the
//! fake Telegram Bot API from [`crate::sandbox`], with Telegram's rate limits on, a
//! temporary SQLite database and a clock that runs faster than real time. At the end it
//! prints every chat — the customers' and the staff topics with their cards and buttons —
//! and exits 0 if the story went as it should. A second, shorter morning (`team`) shows the
//! team on round-robin assignment, with a lead moved by the silence timer.

use crate::app::{self, App};
use crate::clock::Clock;
use crate::config::{Config, Secret};
use crate::domain::{LeadId, Role, Stage, TelegramUserId};
use crate::sandbox::telegram::{ApiError, Content, FakeTelegram, FakeUser};
use crate::sandbox::viber::FakeViber;
use crate::sandbox::whatsapp::FakeWhatsapp;
use anyhow::{bail, Context};
use chrono::TimeZone;
use serde_json::json;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

mod team;

const TOKEN: &str = "7000000001:DEMO";
const QUEUE: i64 = -1001000000001;
const TEAM: i64 = -1001000000002;
const VIBER_TOKEN: &str = "demo-viber-token";
const WA_TOKEN: &str = "demo-whatsapp-token";
const WA_SECRET: &str = "demo-app-secret";
const WA_PHONE: &str = "106540352242922";
const RINGOSTAT_TOKEN: &str = "demo-ringostat-token";
const RINGOSTAT_KEY: &str = "demo-ringostat-key";

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
        self.lead_on("telegram", &telegram_id.to_string()).await
    }

    async fn lead_on(&self, channel: &str, external: &str) -> anyhow::Result<LeadId> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT l.id FROM leads l JOIN customer_identities i ON i.customer_id = l.customer_id
             WHERE i.channel = $1 AND i.external_id = $2 ORDER BY l.id DESC",
        )
        .bind(channel)
        .bind(external)
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
        // The card's last edit may still wait for the staff group's budget.
        let (chat, card, data) = self
            .wait_for(&format!("button {label:?} on lead #{lead}'s card"), || async {
                let (chat, _, card) = self.topic(lead).await.ok()?;
                let m = self.fake.messages(chat).into_iter().find(|m| m.message_id == card)?;
                Some((chat, card, button(&m, label)?.1))
            })
            .await?;
        self.fake.staff_presses(chat, card, who, &data);
        self.settle().await
    }

    /// A staff member presses a button under a notice in the lead's topic.
    async fn press_in_topic(&self, lead: LeadId, who: &FakeUser, label: &str) -> anyhow::Result<()> {
        // A notice may still wait for the staff group's budget (20 messages a minute).
        let (chat, message, data) = self
            .wait_for(&format!("button {label:?} in lead #{lead}'s topic"), || async {
                let (chat, thread, _) = self.topic(lead).await.ok()?;
                self.fake.topic_messages(chat, thread).into_iter().rev().find_map(|m| {
                    let (_, data) = button(&m, label)?;
                    Some((chat, m.message_id, data))
                })
            })
            .await?;
        self.fake.staff_presses(chat, message, who, &data);
        self.settle().await
    }

    /// Poll (real time, up to two minutes) until `f` finds something.
    async fn wait_for<T, F, Fut>(&self, what: &str, f: F) -> anyhow::Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(t) = f().await {
                return Ok(t);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the demo waited two minutes for {what}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A customer presses a flow's button under the bot's latest question to them.
    async fn customer_presses(&self, who: &FakeUser, label: &str) -> anyhow::Result<()> {
        let (m, (full, _)) = self
            .wait_for(&format!("button {label:?} in {}'s chat", who.first_name), || async {
                self.fake.bot_messages_to(who.id).into_iter().rev().find_map(|m| button(&m, label).map(|b| (m, b)))
            })
            .await?;
        self.fake.customer_presses(who, m.message_id, &full);
        self.settle().await
    }

    async fn staff_sends(&self, lead: LeadId, who: &FakeUser, content: Content) -> anyhow::Result<()> {
        let (chat, thread, _) = self.topic(lead).await?;
        self.fake.staff_sends(chat, Some(thread), who, content);
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

    let viber = FakeViber::start(VIBER_TOKEN, clock.clone()).await?;
    let wa = FakeWhatsapp::start(WA_TOKEN, WA_SECRET, WA_PHONE, clock.clone()).await?;
    let ringostat = crate::sandbox::telephony::FakeTelephony::start(RINGOSTAT_KEY, clock.clone(), tz).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    viber.set_webhook_target(&format!("{base}/webhooks/viber"));
    wa.set_webhook_target(&format!("{base}/webhooks/whatsapp"));

    let dir = tempfile::tempdir()?;
    let mut config = Config {
        database_url: format!("sqlite://{}/demo.db", dir.path().display()),
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    config.telegram.token = Some(Secret::new(TOKEN));
    config.telegram.api_url = fake.url();
    config.telegram.staff_chat_ids = vec![QUEUE, TEAM];
    config.telegram.poll_timeout_s = 2;
    config.public_url = Some(base.clone());
    config.viber = Some(crate::config::ViberConfig {
        token: Secret::new(VIBER_TOKEN),
        api_url: viber.url(),
        sender_name: "Forecourt Motors".into(),
    });
    config.whatsapp = Some(crate::config::WhatsappConfig {
        token: Secret::new(WA_TOKEN),
        phone_number_id: WA_PHONE.into(),
        app_secret: Secret::new(WA_SECRET),
        verify_token: Secret::new("demo-verify"),
        api_url: wa.url(),
        template: Some(("reengage".into(), "uk".into())),
    });
    // Telephony: Ringostat's webhooks and its call log.
    config.calls.ringostat_token = Some(Secret::new(RINGOSTAT_TOKEN));
    config.calls.ringostat_api_key = Some(Secret::new(RINGOSTAT_KEY));
    config.calls.ringostat_api_url = ringostat.url();
    // AI that advises, against the fake OpenAI-compatible server: transcripts, script
    // checks, hot scores, intents and drafts.
    let model = crate::sandbox::openai::FakeOpenAi::start(None).await?;
    config.ai = Some(crate::config::AiConfig::new(model.url()));
    // The bot's flows: the repository's flows/ (or the built-in copy), open 08:00-20:00.
    config.flows.business_hours_text = "Mon-Sun 08:00-20:00".into();
    config.flows.business_hours =
        crate::domain::flow::hours::Hours::parse(&config.flows.business_hours_text).map_err(anyhow::Error::msg)?;
    let app = app::build(config, clock.clone()).await?;
    let running = app::start(app.clone(), listener).await?;
    let d = Demo { fake: fake.clone(), app: app.clone() };
    let now = clock.now_ms();
    let store = &app.store;
    // A small inventory, as `forecourt vehicles import` or the ERP would bring it.
    let mut tx = store.begin().await?;
    for (vin, make, model, year, price) in [
        ("1M8GDM9AXKP042788", "Toyota", "RAV4", 2019, 2_450_000),
        ("KNAPM81ABNK100001", "Kia", "Sportage", 2021, 2_790_000),
        ("TMBJJ7NE5F0123456", "Skoda", "Octavia", 2015, 900_000),
    ] {
        let car = crate::store::VehicleInput {
            vin: Some(vin.into()),
            vin_check_ok: true,
            make: make.into(),
            model: model.into(),
            year: Some(year),
            price_minor: Some(price),
            currency: Some("USD".into()),
            ..Default::default()
        };
        crate::store::upsert_vehicle(&mut tx, &car, now).await?;
    }
    tx.commit().await?;
    store.upsert_user(TelegramUserId(9001), "Max Petrenko", Role::Manager, Some(TEAM), now).await?;
    store.upsert_user(TelegramUserId(9002), "Sofia Lysenko", Role::Supervisor, Some(TEAM), now).await?;
    for (telegram_id, ext) in [(9001, "101"), (9002, "100")] {
        let u = store.user_by_telegram(TelegramUserId(telegram_id)).await?.context("user")?;
        store.set_user_extension(u.id, Some(ext), now).await?;
    }
    let max = FakeUser::new(9001, "Max", Some("Petrenko"));
    let sofia = FakeUser::new(9002, "Sofia", Some("Lysenko"));
    let stranger = FakeUser::new(9999, "Taras", Some("(not staff)"));
    let english = |mut u: FakeUser| {
        u.language = Some("en".into());
        u
    };
    let olena = english(FakeUser::new(501, "Olena", Some("Koval")));
    let ivan = english(FakeUser::new(502, "Ivan", Some("Shevchenko")));
    let petro = english(FakeUser::new(503, "Petro", Some("Bondar")));
    let nazar = FakeUser::new(504, "Nazar", Some("Hnatiuk"));
    let oksana = FakeUser::new(505, "Oksana", Some("Moroz"));

    println!(
        "Forecourt demo: a dealership morning against fake Telegram, Viber and WhatsApp servers (limits on, clock ×{speed})."
    );
    println!("Staff groups: “Forecourt · New leads” (queue) and “Forecourt · Sales team”.\n");

    // Sofia, the supervisor, opens her private chat with the staff bot: alerts come there.
    fake.customer_writes(&sofia, "/start");
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
    // Most customers come on Viber: Andriy opens the chat (the welcome is the only message
    // allowed before he writes), asks, and sends a photo of his car.
    viber.conversation_started("vb-andriy", "Andriy Melnyk").await;
    viber.customer_writes("vb-andriy", "Andriy Melnyk", "Hello! Do you have a Kia Sportage, 2020 or newer?").await;
    viber.customer_sends_picture("vb-andriy", "Andriy Melnyk", &jpeg("andriy-tucson"), "My Tucson for trade-in").await;
    // On WhatsApp, Yuliia asks with a photo; Maria wrote yesterday morning and nobody answered.
    wa.customer_writes("380501112233", "Yuliia", "Hi! Is this BMW X3 still for sale?").await;
    wa.customer_sends_image("380501112233", "Yuliia", &jpeg("yuliia-x3"), "this one, from your site", 0).await;
    let yesterday = clock.now_ms() - 25 * 3_600_000;
    wa.customer_sends_at(
        "380672223344",
        "Maria",
        json!({"type": "text", "text": {"body": "Hello, what would a Corolla 2018 cost me?"}}),
        yesterday,
    )
    .await;
    fake.customer_writes(&nazar, "Добрий день, скільки коштує розмитнення авто з США?");
    d.settle().await?;
    let (lead_o, lead_i, lead_p) = (d.lead_of(501).await?, d.lead_of(502).await?, d.lead_of(503).await?);
    // The bot greets each new customer and asks what they want. Ivan answers by button,
    // then types his car; Andriy (Viber) types his answers; Nazar asks the bot to stop.
    d.customer_presses(&ivan, "Sell my car").await?;
    fake.customer_writes(&ivan, "Skoda Octavia 2015, 1.8 TSI, 180,000 km");
    viber.customer_writes("vb-andriy", "Andriy Melnyk", "купити").await;
    d.settle().await?;
    viber.customer_writes("vb-andriy", "Andriy Melnyk", "Kia Sportage, 2020 або новіша").await;
    d.settle().await?;
    viber.customer_writes("vb-andriy", "Andriy Melnyk", "до 30 000 $").await;
    fake.customer_writes(&nazar, "стоп");
    d.settle().await?;
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
    // The RAV4 from the inventory: Max finds it, attaches it, and takes the prepayment —
    // the car is reserved.
    d.staff_says(lead_o, &max, "/car rav4 2019").await?;
    d.press_in_topic(lead_o, &max, "Toyota RAV4").await?;
    // Max posts the car's photos as an album captioned /photo (they go to the car, not to
    // Olena), then sends them to her with the card's Send photos button.
    let (chat_o, thread_o, _) = d.topic(lead_o).await?;
    for (i, name) in ["rav4-front", "rav4-side", "rav4-interior"].iter().enumerate() {
        let f = fake.upload_file("photo", &jpeg(name));
        let caption = (i == 0).then(|| "/photo 042788".to_string());
        fake.staff_sends_as(chat_o, Some(thread_o), &max, Content::Photo { file_id: f, caption }, None, Some("rav4"));
    }
    d.settle().await?;
    d.press(lead_o, &max, "Send photos").await?;
    d.press(lead_o, &max, "Stage").await?;
    d.press(lead_o, &max, "Prepayment").await?;
    d.pause(5).await;

    // Petro blocked the bot before Sofia answered.
    d.press(lead_p, &sofia, "Claim").await?;
    fake.set_blocked(503, true);
    d.staff_says(lead_p, &sofia, "Hello Petro! Yes, with 20% down over 12-60 months.").await?;

    // Viber: Max claims Andriy's lead, answers and sends a photo of the car.
    let lead_a = d.lead_on("viber", "vb-andriy").await?;
    d.press(lead_a, &max, "Claim").await?;
    d.staff_says(
        lead_a,
        &max,
        "Hello Andriy! A 2021 Sportage arrived yesterday — photo below. We'll value your Tucson.",
    )
    .await?;
    // Andriy would take the RAV4 too: it is reserved for Olena, so Max may not attach it;
    // Sofia (a supervisor) may, and both cards warn.
    d.staff_says(lead_a, &max, "/car 042788").await?;
    d.press_in_topic(lead_a, &max, "Toyota RAV4").await?;
    d.press_in_topic(lead_a, &sofia, "Toyota RAV4").await?;
    let sportage = fake.upload_file("photo", &jpeg("sportage-2021"));
    d.staff_sends(lead_a, &max, Content::Photo { file_id: sportage, caption: Some("Kia Sportage 2021".into()) })
        .await?;

    // WhatsApp: Yuliia gets a photo back; Maria's 24-hour window has closed, so Sofia's reply
    // is not sent blind and she sends the approved template instead.
    let lead_y = d.lead_on("whatsapp", "380501112233").await?;
    d.press(lead_y, &max, "Claim").await?;
    let x3 = fake.upload_file("photo", &jpeg("bmw-x3-interior"));
    d.staff_sends(lead_y, &max, Content::Photo { file_id: x3, caption: Some("Yes! The interior too.".into()) }).await?;
    // Yuliia calls from her WhatsApp number; Max answers at extension 101. The call lands in
    // her topic, with its recording under it.
    let hook = format!("{base}/webhooks/ringostat?token={RINGOSTAT_TOKEN}");
    let http = reqwest::Client::new();
    use crate::sandbox::telephony::{post_ringostat, Encoding, FakeCall, Recording};
    let rec = ringostat.host(Recording::Bytes(b"ID3\x03demo-recording".repeat(400)), None);
    model.transcript(
        "Good morning, Forecourt Motors, this is Max. — Hi, I wrote about the BMW X3: is it still there? \
         — It is, and the interior is as in the photos. What budget do you have in mind? — Around 30 thousand. \
         — That works. Would you like to see it on Saturday? — Let me check and write to you.",
    );
    let yuliia_call = FakeCall::inbound("1733216400.101", "+380501112233", clock.now_ms())
        .answered("101", "Max Petrenko", 154, 6)
        .with_recording(&rec)
        .from_pool("Website", "google", "cpc", "bmw-x3");
    post_ringostat(&http, &hook, &yuliia_call, tz, false, Encoding::Json).await;
    d.pause(3).await;
    post_ringostat(&http, &hook, &yuliia_call, tz, true, Encoding::Json).await;
    d.settle().await?;
    // A missed call from a number nobody knows: a new lead, with a callback task; Max calls
    // back from the PBX a few minutes later, and the task closes by itself.
    let missed = FakeCall::inbound("1733216700.102", "0933334455", clock.now_ms()).missed(24);
    post_ringostat(&http, &hook, &missed, tz, true, Encoding::Form).await;
    d.settle().await?;
    d.pause(6).await;
    let mut back = FakeCall::inbound("1733217100.103", "101", clock.now_ms()).answered("101", "Max Petrenko", 95, 8);
    back.call_type = "out".into();
    back.dst = "0933334455".into();
    post_ringostat(&http, &hook, &back, tz, true, Encoding::Json).await;
    d.settle().await?;

    // Sofia reviews Yuliia's call against the script in her private chat with the staff
    // bot; Max gets the score and her comment.
    fake.customer_writes(&max, "/myscore");
    fake.customer_writes(&sofia, "/reviews");
    d.settle().await?;
    d.press_in_topic(lead_y, &sofia, "Review").await?;
    let script = app.script.current();
    let total = script.len();
    for i in 1..=total {
        let (_, c) = script.criterion(i - 1).context("criterion")?;
        let verdict = match c.id.as_str() {
            "asked_tradein" => "N/A",
            "handled_objections" => "Missed",
            _ => "Met",
        };
        let (message, data) = d
            .wait_for(&format!("criterion {i} of the review"), || async {
                let m = fake.bot_messages_to(9002).into_iter().rev().find(|m| m.reply_markup.is_some())?;
                m.content.text_or_caption()?.contains(&format!("{i}/{total}")).then_some(())?;
                Some((m.message_id, button(&m, verdict)?.1))
            })
            .await?;
        fake.staff_presses(9002, message, &sofia, &data);
        d.settle().await?;
    }
    fake.customer_writes(&sofia, "Good call. Next time answer the customs question straight away.");
    d.settle().await?;
    // Max asks AI for a reply to Yuliia, reads it in her topic (only staff see it) and sends it.
    d.press(lead_y, &max, "Draft").await?;
    d.press_in_topic(lead_y, &max, "📤 Send").await?;

    let lead_m = d.lead_on("whatsapp", "380672223344").await?;
    d.press(lead_m, &sofia, "Claim").await?;
    d.staff_says(lead_m, &sofia, "Good morning Maria! About 14,900 $ — shall we show it to you?").await?;
    d.press_in_topic(lead_m, &sofia, "template").await?;

    // Ivan changed his mind.
    fake.customer_writes(&ivan, "Sorry, my brother bought it. Thanks anyway!");
    d.settle().await?;
    d.press(lead_i, &sofia, "Lost").await?;
    d.press(lead_i, &sofia, "Changed mind").await?;

    // Nazar asked the bot to stop: a manager may still answer by hand.
    let lead_n = d.lead_of(504).await?;
    d.press(lead_n, &sofia, "Claim").await?;
    d.staff_says(
        lead_n,
        &sofia,
        "Вибачте за автоматичні повідомлення! Розмитнення — від 15% вартості, порахую точно за VIN.",
    )
    .await?;

    // A manager checks the queue, and the RAV4's card.
    fake.staff_writes(QUEUE, None, &max, "/queue");
    fake.staff_writes(TEAM, None, &max, "/vehicle 042788");
    fake.staff_writes(TEAM, None, &max, "/my");
    d.settle().await?;

    // 22:00: Oksana writes at night. The bot qualifies her and says when a manager answers.
    let ten_pm = tz
        .from_local_datetime(&today.and_hms_opt(22, 0, 0).expect("22:00 exists"))
        .single()
        .context("22:00 today")?
        .timestamp_millis();
    clock.advance(Duration::from_millis((ten_pm - clock.now_ms()).max(0) as u64));
    fake.customer_writes(&oksana, "Добрий вечір! Шукаю авто для сім'ї.");
    d.settle().await?;
    d.customer_presses(&oksana, "Купити авто").await?;
    fake.customer_writes(&oksana, "Кросовер, автомат, 2018+");
    d.settle().await?;
    fake.customer_writes(&oksana, "20-25 тис. $");
    d.settle().await?;

    println!("{}", fake.transcript());
    println!("{}", viber.transcript());
    println!("{}", wa.transcript());
    println!("\n━━ Leads at the end of the morning ━━");
    let mut ok = true;
    for (lead, want) in [
        (lead_o, Stage::Prepayment),
        (lead_i, Stage::Lost),
        (lead_p, Stage::Contacted),
        (lead_a, Stage::Contacted),
        (lead_y, Stage::Contacted),
        (lead_m, Stage::Contacted),
        (lead_n, Stage::Contacted),
    ] {
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
    let pictures_out = viber.sent_to("vb-andriy").iter().filter(|s| s.file.is_some()).count()
        + wa.sent_to("380501112233").iter().filter(|s| s.file.is_some()).count();
    let template_out = wa.sent_to("380672223344").iter().any(|s| s.kind == "template");
    let kept: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM media WHERE status = 'ready'").fetch_one(store.pool()).await?;
    println!("\nFiles kept in the media store: {kept}; photos sent by signed link: {pictures_out}; WhatsApp template sent: {template_out}");
    ok &= pictures_out == 2 && template_out;
    let rav4: String = sqlx::query_scalar("SELECT status FROM vehicles WHERE vin = '1M8GDM9AXKP042788'")
        .fetch_one(store.pool())
        .await?;
    let holders = store.vehicle_holders(crate::domain::VehicleId(1)).await?.len();
    println!("The RAV4 is {rav4}, held by {holders} leads (reserved by Olena's prepayment; Andriy's card warns).");
    ok &= rav4 == "reserved" && holders == 2;
    let album = fake.bot_messages_to(501).iter().filter(|m| m.media_group_id.is_some()).count();
    let car_photos: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM media WHERE vehicle_id IS NOT NULL").fetch_one(store.pool()).await?;
    println!("The RAV4 has {car_photos} photos; Olena got them as an album of {album}.");
    ok &= car_photos == 3 && album == 3;
    // The bot's flows.
    let ivan_lead = store.lead(lead_i).await?.context("lead")?;
    let andriy = store.lead(lead_a).await?.context("lead")?;
    let nazar_lead = store.lead(lead_n).await?.context("lead")?;
    let lead_k = d.lead_of(505).await?;
    let oksana_lead = store.lead(lead_k).await?.context("lead")?;
    let night = fake.bot_messages_to(505).last().and_then(|m| m.content.text_or_caption().map(str::to_string));
    println!(
        "\nThe bot: Ivan wants to {} ({}); Andriy wants to {} ({}, {}); Nazar opted out: {}; \
         Oksana, at night: “{}”",
        ivan_lead.intent.as_deref().unwrap_or("?"),
        ivan_lead.vehicle_interest.as_deref().unwrap_or("?"),
        andriy.intent.as_deref().unwrap_or("?"),
        andriy.vehicle_interest.as_deref().unwrap_or("?"),
        andriy.budget.as_deref().unwrap_or("?"),
        nazar_lead.do_not_contact,
        night.as_deref().unwrap_or("?"),
    );
    ok &= ivan_lead.intent.as_deref() == Some("sell")
        && andriy.intent.as_deref() == Some("buy")
        && andriy.budget.is_some()
        && nazar_lead.do_not_contact
        && oksana_lead.budget.is_some()
        && night.is_some_and(|t| t.contains("зачинені") && t.contains("08:00"));
    // Calls.
    let calls: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calls").fetch_one(store.pool()).await?;
    let in_her_topic: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM calls WHERE lead_id = $1 AND recording_state = 'posted'")
            .bind(lead_y.0)
            .fetch_one(store.pool())
            .await?;
    let caller_leads: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM leads WHERE source_channel = 'call'").fetch_one(store.pool()).await?;
    let callbacks_done: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM tasks WHERE kind = 'callback' AND state = 'done'")
            .fetch_one(store.pool())
            .await?;
    println!(
        "\nCalls: {calls}; Yuliia's call in her topic with its recording: {}; leads opened by a call: {caller_leads}; \
         callbacks done by calling back: {callbacks_done}",
        in_her_topic == 1
    );
    ok &= calls == 3 && in_her_topic == 1 && caller_leads == 1 && callbacks_done == 1;
    let review: Option<(i64, i64)> =
        sqlx::query_as("SELECT score, script_version FROM call_reviews WHERE state = 'done'")
            .fetch_optional(store.pool())
            .await?;
    let feedback = fake
        .bot_messages_to(9001)
        .iter()
        .filter_map(|m| m.content.text_or_caption().map(str::to_string))
        .find(|t| t.contains("was reviewed by"));
    println!(
        "Sofia's review of Yuliia's call: {}; Max was told: “{}”",
        review.map(|(s, v)| format!("{s}/100 against script v{v}")).unwrap_or_else(|| "none".into()),
        feedback.as_deref().and_then(|t| t.lines().next()).unwrap_or("nothing")
    );
    ok &= review.is_some() && feedback.is_some();
    // What AI advised: the call's transcript and script check, the scores, the draft sent.
    let transcript: Option<String> = sqlx::query_scalar("SELECT text FROM call_transcripts ORDER BY call_id LIMIT 1")
        .fetch_optional(store.pool())
        .await?;
    let checked: Option<i64> = sqlx::query_scalar("SELECT score FROM ai_evaluations ORDER BY call_id LIMIT 1")
        .fetch_optional(store.pool())
        .await?;
    // The review's prompt is one message edited step by step; its last text says how often
    // Sofia agreed with the AI's suggestions.
    let agreed = fake
        .bot_messages_to(9002)
        .iter()
        .filter_map(|m| m.content.text_or_caption())
        .find_map(|t| t.lines().find(|l| l.contains("You agreed with the AI")).map(str::to_string));
    let mut hot = Vec::new();
    for id in store.lead_ids().await? {
        if let (Some(s), Some(l)) = (store.hot_score(id).await?, store.lead(id).await?) {
            if let (Some(chat), Some(card)) = (l.staff_chat_id, l.card_message_id) {
                let shows = fake
                    .messages(chat)
                    .iter()
                    .any(|m| m.message_id == card && m.content.text_or_caption().is_some_and(|t| t.contains("🔥")));
                if shows {
                    hot.push(format!("#{} {} 🔥 {}", id.0, l.customer_name, s.score));
                }
            }
        }
    }
    let drafts_sent: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM ai_drafts WHERE state = 'sent'").fetch_one(store.pool()).await?;
    println!("\n━━ What AI advised (against the fake model server; {} requests) ━━", model.requests());
    println!(
        "Yuliia's call, transcribed under it in her topic: “{}…”",
        transcript.as_deref().unwrap_or("none").chars().take(60).collect::<String>()
    );
    println!(
        "Its script check (advice, apart from Sofia's review): {}; in her review each criterion showed the AI's verdict: “{}”",
        checked.map(|s| format!("{s}/100")).unwrap_or_else(|| "none".into()),
        agreed.as_deref().unwrap_or("no suggestions shown")
    );
    println!("Cards with a hot score: {}", hot.join(", "));
    println!("Reply drafts Max sent after reading them: {drafts_sent}");
    ok &= transcript.is_some() && checked.is_some() && agreed.is_some() && hot.len() >= 2 && drafts_sent == 1;
    let parked = store.parked_jobs().await?.len();
    println!(
        "\nTelegram calls: {}; answered 429: {}; parked jobs: {parked}",
        fake.calls().len(),
        fake.rate_limited_count()
    );
    // The digest the supervisors would get for this day, kept to end the demo with.
    let due = clock.now_ms();
    let digest = crate::staff::digest::build(&app, crate::domain::digest::Kind::Daily, due - due % 60_000).await?;
    running.stop().await;
    fake.stop();
    viber.stop();
    wa.stop();
    ringostat.stop();
    model.stop();
    // The next morning, 09:00: the team on round robin.
    let next = tz
        .from_local_datetime(&(today + chrono::Duration::days(1)).and_hms_opt(9, 0, 0).expect("09:00 exists"))
        .single()
        .context("09:00 tomorrow")?
        .timestamp_millis();
    if !team::run(Clock::starting_at(next, speed)).await? {
        eprintln!("error: the round-robin morning did not go as it should");
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "\n━━ The daily digest every supervisor would get (with a {} KB PNG chart of leads per day) ━━",
        digest.chart.len() / 1024
    );
    println!("{}", digest.text);
    ok &= digest.chart.starts_with(b"\x89PNG") && digest.text.contains("Daily digest");
    if !ok {
        eprintln!("error: the demo's leads did not end in the expected stages");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The first inline button whose label contains `label`: (its full label, its data).
fn button(m: &crate::sandbox::telegram::ChatMessage, label: &str) -> Option<(String, String)> {
    m.reply_markup
        .as_ref()?
        .get("inline_keyboard")?
        .as_array()?
        .iter()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .find(|b| b["text"].as_str().is_some_and(|t| t.contains(label)))
        .and_then(|b| Some((b["text"].as_str()?.to_string(), b["callback_data"].as_str()?.to_string())))
}

/// Bytes that look like a JPEG (the right magic number), distinct per name.
fn jpeg(name: &str) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0];
    b.extend_from_slice(name.as_bytes());
    b
}
