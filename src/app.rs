//! Wiring: builds the shared state ([`crate::context::App`]: store, bots, templates,
//! limiter, clock) and starts the long-running tasks — the HTTP service, the Telegram
//! pollers and the job workers — each watched, with a shutdown signal and, for HTTP, an
//! already-bound listener. The only module besides the entry points that may import the
//! handlers.

pub use crate::context::{App, BotHandle};

use crate::channels::telegram::TelegramApi;
use crate::channels::viber::ViberApi;
use crate::channels::whatsapp::WhatsappApi;
use crate::clock::Clock;
use crate::config::Config;
use crate::jobs::limits::Limiter;
use crate::media::{Links, MediaStore};
use crate::store::Store;
use crate::templates::Templates;
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// Connect to the database, apply migrations, reach the bots (`getMe`), and build the App.
pub async fn build(config: Config, clock: Clock) -> anyhow::Result<Arc<App>> {
    config.check_for_run()?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("FORECOURT_DATA_DIR: cannot create {}", config.data_dir.display()))?;
    let store = Store::connect(&config.database_url).await.context("DATABASE_URL: cannot open the database")?;
    store.migrate().await.context("applying database migrations")?;
    if store.engine() == crate::store::Engine::Sqlite {
        // One process owns a SQLite file: jobs left running belong to a dead process.
        let parked = store.release_all_running_jobs(clock.now_ms(), config.jobs.max_attempts).await?;
        for job in parked.parked {
            warn!(job = job.id.0, kind = job.kind.as_str(), "a job was running each time the process stopped; parked");
        }
    }
    let token = config.telegram.token.clone().context("FORECOURT_TELEGRAM_TOKEN is missing")?;
    let api = TelegramApi::new(token.expose(), &config.telegram.api_url).map_err(anyhow::Error::msg)?;
    let id =
        api.me().await.context("FORECOURT_TELEGRAM_TOKEN: getMe failed (is the token right and the API reachable?)")?;
    let customer_bot = BotHandle { api, slot: 0, id };
    let staff_bot = match &config.telegram.staff_token {
        Some(t) if t != &token => {
            let api = TelegramApi::new(t.expose(), &config.telegram.api_url).map_err(anyhow::Error::msg)?;
            let id = api.me().await.context("FORECOURT_STAFF_TELEGRAM_TOKEN: getMe failed")?;
            BotHandle { api, slot: 1, id }
        }
        _ => customer_bot.clone(),
    };
    let templates = Templates::builtin()?;
    let limiter = if config.telegram.rate_limits { Limiter::new() } else { Limiter::unlimited() };
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()
        .context("building the HTTP client")?;
    let viber =
        config.viber.as_ref().map(|v| ViberApi::new(http.clone(), &v.api_url, v.token.expose(), &v.sender_name));
    let whatsapp = config
        .whatsapp
        .as_ref()
        .map(|w| WhatsappApi::new(http.clone(), &w.api_url, w.token.expose(), &w.phone_number_id));
    if let Some(u) = config.public_url.as_deref().filter(|u| u.starts_with("http://")) {
        warn!(public_url = u, "FORECOURT_PUBLIC_URL is plain http: fine locally; Viber and WhatsApp need https");
    }
    let media = MediaStore::new(&config.data_dir);
    let phones = phone_key(&config).await?;
    let script =
        crate::flows::script::Scripts::start(store.clone(), config.flows.dir.as_deref(), clock.now_ms()).await?;
    let links = Links::new(crate::media::link_key(&store).await?);
    let flows = crate::flows::Flows::start(store.clone(), config.flows.clone(), clock.now_ms())
        .await
        .context("FORECOURT_FLOWS_DIR: loading the flows")?;
    if flows.enabled() {
        store.enqueue(&crate::flows::run::timer_job(clock.now_ms()), clock.now_ms()).await?;
    }
    let topic_holds = crate::ingest::TopicHolds::default();
    let supervisor = crate::supervise::Supervisor::default();
    let ai = match &config.ai {
        Some(c) => Some(Arc::new(crate::ai::Ai::new(c, config.timezone, &config.flows.templates_dir)?)),
        None => None,
    };
    if let Some(a) = &ai {
        info!(base = %a.config().base_url, model = %a.config().chat_model, features = ?a.features().names(), "AI advises");
        store.enqueue(&crate::staff::ai::sweep_job(clock.now_ms()), clock.now_ms()).await?;
    }
    let inbox = crate::ingest::Inbox::start(
        store.clone(),
        topic_holds.clone(),
        crate::ingest::Follow { flows: flows.enabled() },
        crate::ingest::WhatsappPhones::new(phones.clone()),
        &supervisor,
    );
    store
        .enqueue(
            &crate::jobs::Job::TaskTimers.into_new("task_timers".into(), Some("task_timers".into()), clock.now_ms()),
            clock.now_ms(),
        )
        .await?;
    store.enqueue(&crate::staff::assign::timers_job(clock.now_ms()), clock.now_ms()).await?;
    store.enqueue(&crate::staff::digest::timers_job(clock.now_ms()), clock.now_ms()).await?;
    if config.calls.ringostat_api_key.is_some() {
        // The first pass a minute after start: webhooks queued while the service was down
        // come first.
        store.enqueue(&crate::calls::reconcile::job(clock.now_ms() + 60_000), clock.now_ms()).await?;
    }
    let call_writer = crate::writer::Batcher::new(crate::calls::writers(store.engine()), 1_024);
    let app = Arc::new(App {
        store,
        config,
        clock,
        templates,
        customer_bot,
        staff_bot,
        limiter,
        wake: Arc::new(Notify::new()),
        viber,
        whatsapp,
        media,
        links,
        inbox,
        topic_holds,
        vehicle_search: Default::default(),
        flows,
        update_tries: Default::default(),
        supervisor,
        phones,
        http,
        script,
        login_attempts: dashmap::DashMap::new(),
        call_writer,
        ai,
    });
    // The call writers hold the state weakly: they end when it is dropped.
    let weak = Arc::downgrade(&app);
    app.call_writer.start("call writer", &app.supervisor, 64, move |evs| {
        let weak = weak.clone();
        async move {
            match weak.upgrade() {
                Some(app) => crate::calls::record_batch(&app, evs).await,
                None => evs.iter().map(|_| Err("the service is stopping".to_string())).collect(),
            }
        }
    });
    Ok(app)
}

/// A started Forecourt.
pub struct Running {
    pub app: Arc<App>,
    pub http_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Signal every task to stop and wait for them.
    pub async fn stop(self) {
        self.app.supervisor.stopping();
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.app.store.close().await;
    }

    /// Wait until a long-running task dies (panics, or returns before shutdown); returns
    /// why. `forecourt run` then exits non-zero.
    pub async fn died(&self) -> String {
        match self.app.supervisor.first_death().await {
            Some(why) => why,
            None => std::future::pending().await,
        }
    }

    /// Abort every task at once, as a crash would (tests).
    pub fn abort(self) {
        self.app.supervisor.stopping();
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Start only the HTTP service (benchmarks that measure it alone; nothing is sent).
pub async fn start_http_only(app: Arc<App>, listener: TcpListener) -> anyhow::Result<Running> {
    let (tx, rx) = watch::channel(false);
    let http_addr = listener.local_addr()?;
    let tasks = vec![app.supervisor.spawn("http", crate::web::serve(app.clone(), listener, rx))];
    Ok(Running { app, http_addr, shutdown: tx, tasks })
}

/// Start everything on an already-bound listener.
pub async fn start(app: Arc<App>, listener: TcpListener) -> anyhow::Result<Running> {
    let (tx, rx) = watch::channel(false);
    let http_addr = listener.local_addr()?;
    let mut tasks = Vec::new();
    let s = &app.supervisor;
    tasks.push(s.spawn("http", crate::web::serve(app.clone(), listener, rx.clone())));
    if app.config.telegram.webhook_secret.is_some() {
        info!("Telegram updates come by webhook at POST /webhooks/telegram");
    } else {
        let both = app.same_bot();
        let customer_bot = app.customer_bot.clone();
        tasks.push(
            s.spawn("telegram poller", crate::staff::poll::run(app.clone(), customer_bot, true, both, rx.clone())),
        );
        if !both {
            let staff_bot = app.staff_bot.clone();
            tasks.push(
                s.spawn("staff poller", crate::staff::poll::run(app.clone(), staff_bot, false, true, rx.clone())),
            );
        }
    }
    if app.flows.enabled() {
        tasks.push(s.spawn("flow files", crate::flows::watch::watch(app.clone(), rx.clone())));
    }
    if let Some(ai) = &app.ai {
        let lane = crate::worker::ai_runner(&app, ai.config().concurrency);
        tasks.push(s.spawn("AI jobs", Arc::new(lane).run(rx.clone())));
        if !ai.config().features_from_env {
            if let Some(path) = app.config.source.clone() {
                tasks.push(s.spawn("AI features", crate::ai::watch::watch(ai.clone(), path, rx.clone())));
            }
        }
    }
    tasks.push(s.spawn("job workers", Arc::new(crate::worker::runner(&app)).run(rx)));
    info!(%http_addr, engine = ?app.store.engine(), groups = ?app.config.telegram.staff_chat_ids, "Forecourt is running");
    Ok(Running { app, http_addr, shutdown: tx, tasks })
}

/// The phone hash's key: `FORECOURT_PHONE_HASH_KEY`, or one generated once into the data
/// directory (`phone-hash.key`, readable by the owner only). Losing it means calls no longer
/// match the customers they matched before: back it up with the database.
async fn phone_key(config: &Config) -> anyhow::Result<crate::domain::phone::PhoneKey> {
    use crate::domain::phone::PhoneKey;
    if let Some(k) = &config.calls.phone_hash_key {
        return PhoneKey::new(k.expose().as_bytes().to_vec())
            .map_err(|e| anyhow::anyhow!("FORECOURT_PHONE_HASH_KEY {e}"));
    }
    let path = config.data_dir.join("phone-hash.key");
    match tokio::fs::read_to_string(&path).await {
        Ok(text) => {
            let key = hex::decode(text.trim()).with_context(|| format!("{} is not a hex key", path.display()))?;
            PhoneKey::new(key).map_err(|e| anyhow::anyhow!("{}: the key {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = vec![0u8; 32];
            getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness for the phone hash key: {e}"))?;
            let text = hex::encode(&key);
            let tmp = config.data_dir.join(".phone-hash.key.tmp");
            tokio::fs::write(&tmp, &text).await.with_context(|| format!("writing {}", tmp.display()))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                tokio::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).await?;
            }
            // Never replace a key another process wrote meanwhile.
            match tokio::fs::hard_link(&tmp, &path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).with_context(|| format!("writing {}", path.display())),
            }
            let _ = tokio::fs::remove_file(&tmp).await;
            info!(path = %path.display(), "generated the phone hash key; back it up with the database");
            let text = tokio::fs::read_to_string(&path).await?;
            PhoneKey::new(hex::decode(text.trim())?).map_err(|e| anyhow::anyhow!("{}: the key {e}", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}
