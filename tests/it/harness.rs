//! The test harness: the real program, started on port 0 with its own database, pointed at
//! the fake Telegram Bot API from `forecourt::sandbox`. Typed helpers keep tests readable.

/// Run a story on SQLite, and on PostgreSQL when the suite has it.
macro_rules! on_both_engines {
    ($sqlite:ident, $postgres:ident, $body:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            $body(Db::Sqlite).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            if postgres_enabled().await {
                $body(Db::Postgres).await;
            }
        }
    };
}

use forecourt::app::{self, App, Running};
use forecourt::clock::Clock;
use forecourt::config::{Config, Secret};
use forecourt::domain::{LeadId, Role, TelegramUserId};
use forecourt::sandbox::telegram::{ChatMessage, FakeTelegram, FakeUser};
use forecourt::sandbox::viber::FakeViber;
use forecourt::sandbox::whatsapp::FakeWhatsapp;
use forecourt::store::{LeadRow, Store};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub const TOKEN: &str = "7000000001:TEST-token";
pub const STAFF: i64 = -1001000000001;
pub const VIBER_TOKEN: &str = "4453b6ac12345678-viber-test-token";
pub const WA_TOKEN: &str = "EAAG-test-token";
pub const WA_SECRET: &str = "wa-app-secret";
pub const WA_VERIFY: &str = "wa-verify-token";
pub const WA_PHONE_ID: &str = "106540352242922";
pub const ERP_SECRET: &str = "erp-test-secret-0123456789";
pub const RINGOSTAT_TOKEN: &str = "rs-test-token-0123456789";
pub const RINGOSTAT_KEY: &str = "rs-api-key";
pub const BINOTEL_TOKEN: &str = "bt-test-token-0123456789";
pub const AI_KEY: &str = "sk-test-forecourt";

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A fresh database URL: a SQLite file in `dir`, or a new PostgreSQL database.
pub async fn fresh_database(db: Db, dir: &std::path::Path) -> String {
    match db {
        Db::Sqlite => format!("sqlite://{}/forecourt.db", dir.display()),
        Db::Postgres => {
            let admin = postgres_url();
            let name = format!(
                "forecourt_t{}_{}",
                std::process::id(),
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() % 1_000_000_000
            );
            sqlx::any::install_default_drivers();
            let mut conn =
                <sqlx::AnyConnection as sqlx::Connection>::connect(&admin).await.expect("PostgreSQL reachable");
            sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create database");
            let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin.clone());
            format!("{base}/{name}")
        }
    }
}

/// The PostgreSQL server the suite uses (`FORECOURT_TEST_POSTGRES_URL`).
pub fn postgres_url() -> String {
    std::env::var("FORECOURT_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Whether the PostgreSQL half of the suite runs: always in CI (`FORECOURT_TEST_POSTGRES=1`),
/// else when the server answers.
pub async fn postgres_enabled() -> bool {
    if std::env::var("FORECOURT_TEST_POSTGRES").as_deref() == Ok("1") {
        return true;
    }
    if std::env::var("FORECOURT_TEST_POSTGRES").as_deref() == Ok("0") {
        return false;
    }
    sqlx::any::install_default_drivers();
    tokio::time::timeout(Duration::from_secs(3), <sqlx::AnyConnection as sqlx::Connection>::connect(&postgres_url()))
        .await
        .is_ok_and(|r| r.is_ok())
}

pub struct Opts {
    pub groups: Vec<i64>,
    pub speed: f64,
    pub db: Db,
    pub webhook_secret: Option<String>,
    pub max_attempts: i64,
    pub rate_limits: bool,
    pub sign_replies: bool,
    /// A separate bot for the staff groups.
    pub staff_token: Option<&'static str>,
    /// Start the fake Viber and WhatsApp servers and configure both channels.
    pub channels: bool,
    /// The WhatsApp re-engagement template (`name:language`).
    pub wa_template: Option<&'static str>,
    /// Where sold leads are announced (`FORECOURT_ERP_URL`).
    pub erp_url: Option<String>,
    /// The bot's flows: a directory holding `flows/` and `templates/flows/` (see
    /// `flow_files`), or `None` for flows off (the stories of the bridge itself).
    pub flows: Option<std::path::PathBuf>,
    /// `FORECOURT_BUSINESS_HOURS`, when not the default.
    pub business_hours: Option<&'static str>,
    /// Start the fake Ringostat (call log, recordings) and turn both telephony webhooks on.
    pub telephony: bool,
    /// Start the fake OpenAI-compatible server and turn AI on (scores at once, no quiet).
    pub ai: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            groups: vec![STAFF],
            speed: 5.0,
            db: Db::Sqlite,
            webhook_secret: None,
            max_attempts: 8,
            rate_limits: false,
            sign_replies: false,
            staff_token: None,
            channels: false,
            wa_template: Some("reengage:uk"),
            erp_url: None,
            flows: None,
            business_hours: None,
            telephony: false,
            ai: false,
        }
    }
}

pub struct TestApp {
    pub fake: FakeTelegram,
    pub viber: Option<FakeViber>,
    pub wa: Option<FakeWhatsapp>,
    pub tel: Option<forecourt::sandbox::telephony::FakeTelephony>,
    pub ai: Option<forecourt::sandbox::openai::FakeOpenAi>,
    pub running: Option<Running>,
    pub config: Config,
    pub clock: Clock,
    pub store: Store,
    _dir: tempfile::TempDir,
}

pub fn init() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let shown = tracing_subscriber::fmt::layer()
        .with_test_writer()
        .with_filter(tracing_subscriber::EnvFilter::try_from_env("FORECOURT_LOG").unwrap_or_else(|_| "warn".into()));
    let kept = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(|| Kept)
        .with_filter(tracing_subscriber::filter::Targets::new().with_target("forecourt::ai", tracing::Level::INFO));
    let _ = tracing_subscriber::registry().with(shown).with(kept).try_init();
}

/// The AI client's log lines (info and above) of every test in this binary, kept so that a
/// test can check what the log says; tell a test's own lines by something only it has (its
/// fake server's port).
static KEPT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

struct Kept;

impl std::io::Write for Kept {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        KEPT.lock().unwrap_or_else(|p| p.into_inner()).push(String::from_utf8_lossy(buf).into_owned());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The kept log lines that contain every one of `parts`.
pub fn logged(parts: &[&str]) -> Vec<String> {
    KEPT.lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .cloned()
        .collect()
}

impl TestApp {
    pub async fn start() -> TestApp {
        TestApp::start_with(Opts::default()).await
    }

    pub async fn start_with(opts: Opts) -> TestApp {
        init();
        let clock = Clock::with_speed(opts.speed);
        let fake = FakeTelegram::start(TOKEN, clock.clone()).await.expect("fake starts");
        fake.set_rate_limits(opts.rate_limits);
        if let Some(t) = opts.staff_token {
            fake.add_staff_bot(t);
        }
        for (i, g) in opts.groups.iter().enumerate() {
            fake.add_staff_group(*g, &format!("Staff {}", i + 1));
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config {
            database_url: fresh_database(opts.db, dir.path()).await,
            data_dir: dir.path().join("data"),
            http_addr: "127.0.0.1:0".parse().unwrap(),
            ..Config::default()
        };
        config.telegram.token = Some(Secret::new(TOKEN));
        config.telegram.api_url = fake.url();
        config.telegram.staff_chat_ids = opts.groups.clone();
        config.telegram.webhook_secret = opts.webhook_secret.map(Secret::new);
        config.telegram.poll_timeout_s = 1;
        config.telegram.sign_replies = opts.sign_replies;
        config.telegram.staff_token = opts.staff_token.map(Secret::new);
        config.jobs.max_attempts = opts.max_attempts;
        config.erp_secret = Some(Secret::new(ERP_SECRET));
        config.erp_url = opts.erp_url.clone();
        config.flows.dir = opts.flows.as_ref().map(|d| d.join("flows"));
        config.flows.templates_dir = opts.flows.as_ref().map(|d| d.join("templates")).unwrap_or_default();
        if let Some(h) = opts.business_hours {
            config.flows.business_hours = forecourt::domain::flow::hours::Hours::parse(h).unwrap();
            config.flows.business_hours_text = h.into();
        }
        let (mut viber, mut wa) = (None, None);
        if opts.channels {
            let v = FakeViber::start(VIBER_TOKEN, clock.clone()).await.expect("fake Viber starts");
            config.viber = Some(forecourt::config::ViberConfig {
                token: Secret::new(VIBER_TOKEN),
                api_url: v.url(),
                sender_name: "Forecourt Motors".into(),
            });
            let w = FakeWhatsapp::start(WA_TOKEN, WA_SECRET, WA_PHONE_ID, clock.clone()).await.expect("fake WhatsApp");
            config.whatsapp = Some(forecourt::config::WhatsappConfig {
                token: Secret::new(WA_TOKEN),
                phone_number_id: WA_PHONE_ID.into(),
                app_secret: Secret::new(WA_SECRET),
                verify_token: Secret::new(WA_VERIFY),
                api_url: w.url(),
                template: opts.wa_template.map(|t| {
                    let (n, l) = t.split_once(':').unwrap();
                    (n.to_string(), l.to_string())
                }),
            });
            viber = Some(v);
            wa = Some(w);
        }
        let mut tel = None;
        if opts.telephony {
            let f = forecourt::sandbox::telephony::FakeTelephony::start(RINGOSTAT_KEY, clock.clone(), config.timezone)
                .await
                .expect("fake Ringostat starts");
            config.calls.ringostat_token = Some(Secret::new(RINGOSTAT_TOKEN));
            config.calls.ringostat_api_key = Some(Secret::new(RINGOSTAT_KEY));
            config.calls.ringostat_api_url = f.url();
            config.calls.binotel_token = Some(Secret::new(BINOTEL_TOKEN));
            tel = Some(f);
        }
        let mut ai = None;
        if opts.ai {
            let f = forecourt::sandbox::openai::FakeOpenAi::start(Some(AI_KEY)).await.expect("fake AI server starts");
            let mut c = forecourt::config::AiConfig::new(f.url());
            c.api_key = Some(Secret::new(AI_KEY));
            c.score_after_s = 0;
            config.ai = Some(c);
            ai = Some(f);
        }
        let store = Store::connect(&config.database_url).await.expect("database");
        store.migrate().await.expect("migrations");
        let mut t = TestApp { fake, viber, wa, tel, ai, running: None, config, clock, store, _dir: dir };
        t.boot().await;
        t
    }

    async fn boot(&mut self) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        // The fakes fetch media links from here and post webhooks here; the reports' sign-in
        // links point here.
        self.config.public_url = Some(base.clone());
        let app = app::build(self.config.clone(), self.clock.clone()).await.expect("app builds");
        self.running = Some(app::start(app, listener).await.expect("app starts"));
        if let Some(v) = &self.viber {
            v.set_webhook_target(&format!("{base}/webhooks/viber"));
        }
        if let Some(w) = &self.wa {
            w.set_webhook_target(&format!("{base}/webhooks/whatsapp"));
        }
    }

    pub fn viber(&self) -> &FakeViber {
        self.viber.as_ref().expect("started with channels")
    }

    pub fn wa(&self) -> &FakeWhatsapp {
        self.wa.as_ref().expect("started with channels")
    }

    /// The lead of a customer on any channel, by their external id, once it exists.
    pub async fn lead_by_identity(&self, channel: &str, external: &str) -> LeadRow {
        let store = self.store.clone();
        let (channel, ext) = (channel.to_string(), external.to_string());
        eventually(&format!("the lead of {channel}:{external}"), || {
            let store = store.clone();
            let (channel, ext) = (channel.clone(), ext.clone());
            async move {
                let id: i64 = sqlx::query_scalar::<_, i64>(
                    "SELECT l.id FROM leads l JOIN customer_identities i ON i.customer_id = l.customer_id
                     WHERE i.channel = $1 AND i.external_id = $2 AND l.is_open = 1 ORDER BY l.id DESC LIMIT 1",
                )
                .bind(channel)
                .bind(ext)
                .fetch_optional(store.pool())
                .await
                .ok()??;
                store.lead(LeadId(id)).await.ok()?
            }
        })
        .await
    }

    /// The topic and card of a lead, once posted: (chat, thread, card message).
    pub async fn topic_of_lead(&self, lead: LeadId) -> (i64, i32, i32) {
        let store = self.store.clone();
        eventually("the lead's topic and card exist", || {
            let store = store.clone();
            async move {
                let l = store.lead(lead).await.ok()??;
                Some((l.staff_chat_id?, l.topic_thread_id?, l.card_message_id?))
            }
        })
        .await
    }

    /// Wait until `check` holds (for the fakes' state that is not Telegram's).
    pub async fn until_ok(&self, what: &str, check: impl Fn() -> bool) {
        eventually(what, || {
            let ok = check();
            async move { ok.then_some(()) }
        })
        .await
    }

    pub fn app(&self) -> &Arc<App> {
        &self.running.as_ref().expect("running").app
    }

    pub fn http(&self) -> String {
        format!("http://{}", self.running.as_ref().expect("running").http_addr)
    }

    /// Stop cleanly and start again on the same database.
    pub async fn restart(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
        self.boot().await;
    }

    /// Stop as a crash would: every task aborted mid-flight.
    pub fn crash(&mut self) {
        if let Some(r) = self.running.take() {
            r.abort();
        }
    }

    pub async fn start_again(&mut self) {
        self.boot().await;
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
        self.fake.stop();
        if let Some(v) = &self.viber {
            v.stop();
        }
        if let Some(w) = &self.wa {
            w.stop();
        }
        if let Some(t) = &self.tel {
            t.stop();
        }
        if let Some(a) = &self.ai {
            a.stop();
        }
    }

    /// Register a staff member and return them as a Telegram user.
    pub async fn staff(&self, telegram_id: i64, name: &str, role: Role) -> FakeUser {
        self.store.upsert_user(TelegramUserId(telegram_id), name, role, None, self.clock.now_ms()).await.unwrap();
        let mut parts = name.splitn(2, ' ');
        let first = parts.next().unwrap_or(name);
        FakeUser::new(telegram_id, first, parts.next())
    }

    pub fn customer(&self, id: i64, first: &str, last: Option<&str>) -> FakeUser {
        FakeUser::new(id, first, last)
    }

    pub async fn lead(&self, id: LeadId) -> LeadRow {
        self.store.lead(id).await.unwrap().expect("lead exists")
    }

    /// The lead of a Telegram customer, once it exists.
    pub async fn lead_of(&self, customer: &FakeUser) -> LeadRow {
        let store = self.store.clone();
        let ext = customer.id.to_string();
        eventually("the customer's lead exists", || {
            let store = store.clone();
            let ext = ext.clone();
            async move {
                for id in store.lead_ids().await.ok()? {
                    let l = store.lead(id).await.ok()??;
                    let d: Option<String> = sqlx::query_scalar::<_, String>(
                        "SELECT external_id FROM customer_identities WHERE customer_id = $1",
                    )
                    .bind(l.customer_id.0)
                    .fetch_optional(store.pool())
                    .await
                    .ok()?;
                    if d.as_deref() == Some(ext.as_str()) {
                        return Some(l);
                    }
                }
                None
            }
        })
        .await
    }

    /// The lead's topic once it exists, with its card posted: (chat, thread, card message).
    pub async fn topic_of(&self, customer: &FakeUser) -> (i64, i32, i32) {
        let lead = self.lead_of(customer).await;
        let store = self.store.clone();
        eventually("the lead's topic and card exist", || {
            let store = store.clone();
            async move {
                let l = store.lead(lead.id).await.ok()??;
                Some((l.staff_chat_id?, l.topic_thread_id?, l.card_message_id?))
            }
        })
        .await
    }

    /// Texts (and captions) posted in a topic by the bot, card excluded.
    /// The bot's message in a topic whose text starts with `prefix` (not the card, which
    /// may quote it), once there is one.
    pub async fn topic_message_starting(&self, chat: i64, thread: i32, prefix: &str) -> ChatMessage {
        let fake = self.fake.clone();
        let p = prefix.to_string();
        eventually(&format!("a topic message starting {prefix:?}"), || {
            let fake = fake.clone();
            let p = p.clone();
            async move {
                fake.topic_messages(chat, thread)
                    .into_iter()
                    .find(|m| m.from_bot && m.content.text_or_caption().is_some_and(|t| t.starts_with(&p)))
            }
        })
        .await
    }

    /// The bot's message in a topic whose text contains `needle`, once it does.
    pub async fn topic_message(&self, chat: i64, thread: i32, needle: &str) -> ChatMessage {
        self.topic_message_within(chat, thread, needle, Duration::from_secs(30)).await
    }

    /// [`TestApp::topic_message`], waiting up to `limit` (a send held for the group's budget).
    pub async fn topic_message_within(&self, chat: i64, thread: i32, needle: &str, limit: Duration) -> ChatMessage {
        let fake = self.fake.clone();
        let n = needle.to_string();
        eventually_within(&format!("a topic message with {needle:?}"), limit, || {
            let fake = fake.clone();
            let n = n.clone();
            async move {
                fake.topic_messages(chat, thread)
                    .into_iter()
                    .find(|m| m.from_bot && m.content.text_or_caption().is_some_and(|t| t.contains(&n)))
            }
        })
        .await
    }

    pub fn topic_texts(&self, chat: i64, thread: i32) -> Vec<String> {
        self.fake
            .topic_messages(chat, thread)
            .into_iter()
            .filter(|m| m.from_bot && m.reply_markup.is_none())
            .map(|m| m.content.text_or_caption().map(str::to_string).unwrap_or_else(|| m.content.describe()))
            .collect()
    }

    /// Every text and caption the bot posted in a topic, the card included.
    pub fn bot_texts(&self, chat: i64, thread: i32) -> Vec<String> {
        self.fake
            .topic_messages(chat, thread)
            .into_iter()
            .filter(|m| m.from_bot)
            .filter_map(|m| m.content.text_or_caption().map(str::to_string))
            .collect()
    }

    /// Wait until `check` holds for the fake Telegram (what customers and staff see).
    pub async fn until(&self, what: &str, check: impl Fn(&FakeTelegram) -> bool) {
        eventually(what, || {
            let ok = check(&self.fake);
            async move { ok.then_some(()) }
        })
        .await
    }

    /// Wait until a message in the topic satisfies `pred`.
    pub async fn topic_has(&self, chat: i64, thread: i32, what: &str, pred: impl Fn(&ChatMessage) -> bool) {
        self.until(what, |fake| fake.topic_messages(chat, thread).iter().any(&pred)).await
    }

    /// The card message as the fake holds it now.
    pub fn card(&self, chat: i64, message: i32) -> ChatMessage {
        self.fake.messages(chat).into_iter().find(|m| m.message_id == message).expect("card exists")
    }

    /// Wait until the card's text contains `needle`; returns the card.
    pub async fn card_shows(&self, chat: i64, message: i32, needle: &str) -> ChatMessage {
        let fake = self.fake.clone();
        let n = needle.to_string();
        eventually(&format!("the card shows {needle:?}"), || {
            let fake = fake.clone();
            let n = n.clone();
            async move {
                let m = fake.messages(chat).into_iter().find(|m| m.message_id == message)?;
                m.content.text_or_caption()?.contains(&n).then_some(m)
            }
        })
        .await
    }

    /// Press a button on the card, found by its label.
    pub fn press(&self, chat: i64, card: i32, who: &FakeUser, label: &str) -> String {
        let m = self.card(chat, card);
        let data = button_data(&m, label).unwrap_or_else(|| panic!("no button {label:?} on {:?}", m.reply_markup));
        self.fake.staff_presses(chat, card, who, &data)
    }

    /// Wait for the answer to a button press; returns its text.
    pub async fn callback_answer(&self, callback_id: &str) -> String {
        let fake = self.fake.clone();
        let id = callback_id.to_string();
        eventually("the button press is answered", || {
            let fake = fake.clone();
            let id = id.clone();
            async move {
                fake.calls_of("answercallbackquery")
                    .into_iter()
                    .find(|c| c.params["callback_query_id"].as_str() == Some(id.as_str()))
                    .map(|c| c.params["text"].as_str().unwrap_or("").to_string())
            }
        })
        .await
    }

    /// Wait until no job is running or due within the next (virtual) five seconds. Low-priority
    /// work (refreshing a card's preview when the group is busy) may still wait later.
    pub async fn settled(&self) {
        let store = self.store.clone();
        let clock = self.clock.clone();
        let fake = self.fake.clone();
        eventually("the job queue is settled", || {
            let store = store.clone();
            let until = clock.now_ms() + 5_000;
            let fake = fake.clone();
            async move {
                let n = store.jobs_in_flight(until).await.ok()?;
                (n == 0 && fake.pending_updates() == 0).then_some(())
            }
        })
        .await
    }
}

/// The buttons of a message's inline keyboard, as Telegram shows them (JSON).
fn keyboard(m: &ChatMessage) -> Vec<serde_json::Value> {
    m.reply_markup
        .as_ref()
        .and_then(|k| k["inline_keyboard"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .collect()
}

/// Labels and callback data of a message's inline keyboard.
pub fn buttons(m: &ChatMessage) -> Vec<(String, String)> {
    keyboard(m)
        .iter()
        .map(|b| (b["text"].as_str().unwrap_or("").to_string(), b["callback_data"].as_str().unwrap_or("").to_string()))
        .collect()
}

/// The query a button pre-fills in the input box (`switch_inline_query_current_chat`).
pub fn inline_query_of(m: &ChatMessage, label: &str) -> Option<String> {
    keyboard(m)
        .into_iter()
        .find(|b| b["text"].as_str().is_some_and(|t| t.contains(label)))
        .and_then(|b| b["switch_inline_query_current_chat"].as_str().map(str::to_string))
}

/// The bot's answer to an inline query, once it came.
pub async fn inline_answer(fake: &forecourt::sandbox::telegram::FakeTelegram, query: &str) -> Vec<serde_json::Value> {
    eventually("the inline query is answered", || {
        let r = fake.inline_results(query);
        async move { r }
    })
    .await
}

pub fn button_data(m: &ChatMessage, label: &str) -> Option<String> {
    buttons(m).into_iter().find(|(l, _)| l.contains(label)).map(|(_, d)| d)
}

/// Poll `check` until it gives a value, for up to 30 seconds.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(what, Duration::from_secs(30), check).await
}

pub async fn eventually_within<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A JPEG-looking file: the right magic bytes, then `seed`.
pub fn jpeg(seed: &str) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0];
    b.extend_from_slice(seed.as_bytes());
    b
}

pub fn sha(b: &[u8]) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b))
}
