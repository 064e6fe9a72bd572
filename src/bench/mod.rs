//! `forecourt bench`: measurements the repo carries (BENCHMARKS.md has the figures).
//!
//! - `throughput`: N inbound Telegram messages through ingest and the bridge to the staff
//!   topics, against the fake Bot API with its rate limits off (and ours off too): a burst
//!   for messages/s, then a paced run for latency from update to staff send, on SQLite and
//!   PostgreSQL, with the process's peak memory.
//! - `limits`: Telegram's real limits on: 60 customer messages a minute from 30 active leads
//!   over 3 staff groups; how long each took to become visible in its topic, how many 429s
//!   were met, how many messages were lost.
//! - `webhooks`: signed Viber and WhatsApp webhooks posted over HTTP at the service (a load
//!   generator on loopback): requests/s and p50/p99 to a committed 200, beside the same
//!   service's no-op route.
//! - `search`: free-text vehicle search over 100,000 cars, p50/p99 per engine.
//! - `flows`: the flow engine advancing 10,000 conversations by one message each: steps/s
//!   and the p99 of a turn, texts rendered.
//! - `calls`: Ringostat webhooks to a committed 200, calls into their topics under
//!   Telegram's limits, and a `forecourt run` child's memory while recordings download.
//! - `assignment`: owners chosen for 1,000 new leads among 50 managers with skills and
//!   caps (p50/p99 per committed decision), and one tick of the timers over 20,000 open
//!   leads and 20,000 open tasks.
//! - `reports`: the 30-day dashboard, a lead page with 2,000 timeline items, a 10,000-row
//!   CSV and the weekly digest with its chart over 300,000 leads and 1,000,000 messages.

mod ai;
mod assign;
mod calls;
mod flows;
mod reports;
mod search;
mod webhooks;

use crate::app;
use crate::clock::Clock;
use crate::config::{Config, Secret};
use crate::domain::{Role, TelegramUserId};
use crate::sandbox::telegram::{FakeTelegram, FakeUser};
use anyhow::{bail, Context};
use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const TOKEN: &str = "7000000001:BENCH";

#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    kind: BenchKind,
}

#[derive(clap::Subcommand)]
enum BenchKind {
    /// Ingest + bridge throughput and latency, limits off.
    Throughput {
        /// Messages in the burst.
        #[arg(long, default_value_t = 20_000)]
        messages: usize,
        /// Customers writing them (one lead and topic each).
        #[arg(long, default_value_t = 500)]
        customers: usize,
        /// Messages per second in the paced latency run.
        #[arg(long, default_value_t = 1_000)]
        rate: usize,
        /// Seconds of the paced latency run.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// sqlite, postgres or both.
        #[arg(long, default_value = "both")]
        engine: String,
        /// The PostgreSQL server (a fresh database is created on it).
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
        postgres_url: String,
        /// Job workers (the service's default is 4).
        #[arg(long, default_value_t = 4)]
        workers: usize,
        /// The bot's flows: `on` as in production (the default), `off` to see what they cost.
        #[arg(long, default_value = "on")]
        bot: String,
        /// AI against the fake OpenAI-compatible server (300 ms a request, in a process of its
        /// own): `on` scores and guesses every lead while the messages flow, `off` (the
        /// default) without AI, `alternate` switches AI's features on and off every
        /// `--window-s` seconds of the paced run (as an admin can while it runs) and compares
        /// the latency of the messages sent in each: both halves meet the same host.
        #[arg(long, default_value = "off")]
        ai: String,
        /// With `--ai alternate`: seconds of each window.
        #[arg(long, default_value_t = 10)]
        window_s: u64,
        /// Seconds of quiet between the burst's work and the paced run (to compare runs whose
        /// bursts take different times to settle, as with AI on).
        #[arg(long, default_value_t = 0)]
        rest_s: u64,
    },
    /// Signed Viber and WhatsApp webhooks over HTTP: requests/s and latency to a committed 200.
    Webhooks(webhooks::Args),
    /// Telephony: Ringostat webhooks to a committed 200, calls into their topics under
    /// Telegram's limits, and memory while large recordings are downloaded.
    Calls(calls::Args),
    /// Free-text vehicle search over a large inventory: p50/p99 per engine.
    Search(search::Args),
    /// The flow engine: N conversations advanced by one message each.
    Flows(flows::Args),
    /// Assignment: owners chosen for 1,000 new leads among 50 managers, and one tick of the
    /// timers over 20,000 open leads and tasks.
    Assignment(assign::Args),
    /// The reporting page and the digest over 300,000 leads and 1,000,000 messages.
    Reports(reports::Args),
    /// AI: 1,000 hot scores against the fake model server (300 ms), then the same again
    /// (all cached).
    Ai(ai::Args),
    /// Telegram's limits on: 60 messages a minute from 30 leads over 3 staff groups.
    Limits {
        /// Virtual minutes of traffic.
        #[arg(long, default_value_t = 5)]
        minutes: i64,
        /// How much faster than real time the shared clock runs.
        #[arg(long, default_value_t = 10.0)]
        speed: f64,
        /// `bursty`: a random lead writes 1-3 messages a second apart (how customers write);
        /// `round-robin`: the leads take strict turns, so nothing can be merged (worst case).
        #[arg(long, default_value = "bursty")]
        pattern: String,
    },
    /// The fake OpenAI-compatible server on its own, for `bench throughput --ai on` (which
    /// starts it as a child process, so that the model's own work is not counted as the
    /// bridge's): prints `url <base>`, then answers each line on stdin with the requests
    /// answered so far; stops when stdin closes.
    #[command(hide = true)]
    FakeModel {
        /// Every answer waits this long.
        #[arg(long, default_value_t = 300)]
        latency_ms: u64,
    },
}

pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    match args.kind {
        BenchKind::Throughput {
            messages,
            customers,
            rate,
            seconds,
            engine,
            postgres_url,
            workers,
            bot,
            ai,
            window_s,
            rest_s,
        } => {
            let engines = engines(&engine)?;
            let bot = match bot.as_str() {
                "on" => true,
                "off" => false,
                other => bail!("--bot: `{other}` is not on or off"),
            };
            let (ai, alternate_s) = match ai.as_str() {
                "on" => (true, None),
                "off" => (false, None),
                "alternate" => (true, Some(window_s.max(1))),
                other => bail!("--ai: `{other}` is not on, off or alternate"),
            };
            let shape = Shape {
                messages,
                customers: customers.max(1),
                rate: rate.max(1),
                seconds,
                bot,
                ai,
                alternate_s,
                rest_s,
            };
            for e in engines {
                throughput(e, &shape, &postgres_url, workers.clamp(1, 256)).await?;
            }
        }
        BenchKind::Webhooks(a) => webhooks::run(a).await?,
        BenchKind::Calls(a) => calls::run(a).await?,
        BenchKind::Search(a) => search::run(a).await?,
        BenchKind::Flows(a) => flows::run(a).await?,
        BenchKind::Assignment(a) => assign::run(a).await?,
        BenchKind::Reports(a) => reports::run(a).await?,
        BenchKind::Ai(a) => ai::run(a).await?,
        BenchKind::FakeModel { latency_ms } => fake_model(latency_ms).await?,
        BenchKind::Limits { minutes, speed, pattern } => {
            if pattern != "bursty" && pattern != "round-robin" {
                bail!("--pattern: `{pattern}` is not bursty or round-robin");
            }
            limits(minutes, speed, pattern == "bursty").await?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The engines an `--engine` argument names: sqlite, postgres or both.
pub(crate) fn engines(arg: &str) -> anyhow::Result<Vec<&'static str>> {
    Ok(match arg {
        "both" => vec!["sqlite", "postgres"],
        "sqlite" => vec!["sqlite"],
        "postgres" => vec!["postgres"],
        other => bail!("--engine: `{other}` is not sqlite, postgres or both"),
    })
}

pub(crate) fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// The CPU time this process has used so far (user and system), in seconds (Linux; the
/// kernel counts it in ticks of 1/100 s). Unlike latency, it does not move with what else
/// the host runs: the figure that compares runs on a shared machine.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command's name (which may hold spaces) in parentheses:
    // state is the first, utime the 12th, stime the 13th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// The process's peak resident memory, in MB (Linux).
pub fn peak_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub(crate) async fn fresh_postgres(admin: &str) -> anyhow::Result<String> {
    sqlx::any::install_default_drivers();
    let name = format!("forecourt_bench_{}", std::process::id());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(admin).await.context("--postgres-url")?;
    // The databases of earlier runs whose process is gone go first, so benches never pile up
    // databases (each run's own is left for a look after it ends, until the next run).
    let earlier: Vec<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE 'forecourt\\_bench\\_%'")
            .fetch_all(&mut conn)
            .await?;
    for old in earlier {
        let gone = old
            .strip_prefix("forecourt_bench_")
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists());
        if gone || old == name {
            let _ = sqlx::Executor::execute(&mut conn, format!("DROP DATABASE IF EXISTS {old}").as_str()).await;
        }
    }
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str()).await?;
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or_else(|| admin.to_string());
    Ok(format!("{base}/{name}"))
}

/// First time (unix µs) each `bench m<N>` marker was posted to a staff topic, read as the calls
/// come: each look copies only the calls after the last one, so that watching does not hold
/// the fake's lock (and so the bridge's sends) for longer as the run goes on.
#[derive(Default)]
pub(crate) struct Seen {
    read: usize,
    pub at: HashMap<usize, i64>,
}

impl Seen {
    pub fn update(&mut self, fake: &FakeTelegram, staff: &[i64]) -> &HashMap<usize, i64> {
        let calls = fake.calls_since(self.read);
        self.read += calls.len();
        for c in calls {
            if c.error.is_some() || !c.params["chat_id"].as_i64().is_some_and(|id| staff.contains(&id)) {
                continue;
            }
            if !(c.method == "sendmessage" || c.method == "sendphoto") {
                continue;
            }
            let text = c.params["text"].as_str().or(c.params["caption"].as_str()).unwrap_or("");
            for part in text.split("bench m").skip(1) {
                let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(n) = digits.parse::<usize>() {
                    self.at.entry(n).or_insert(c.at_us);
                }
            }
        }
        &self.at
    }
}

/// What every engine run starts from: a real clock, the fake Bot API with one staff group,
/// a fresh database (a SQLite file in `dir`, or a new PostgreSQL database) and its config.
pub(crate) struct Setup {
    pub clock: Clock,
    pub fake: FakeTelegram,
    pub staff: i64,
    pub dir: tempfile::TempDir,
    pub config: Config,
}

pub(crate) async fn setup(engine: &str, postgres_url: &str) -> anyhow::Result<Setup> {
    let clock = Clock::real();
    let fake = FakeTelegram::start(TOKEN, clock.clone()).await?;
    let staff = -1001000000001;
    fake.add_staff_group(staff, "Bench staff");
    let dir = tempfile::tempdir()?;
    let database_url = match engine {
        "sqlite" => format!("sqlite://{}/bench.db", dir.path().display()),
        _ => fresh_postgres(postgres_url).await?,
    };
    let mut config = Config { database_url, data_dir: dir.path().join("data"), ..Config::default() };
    config.telegram.token = Some(Secret::new(TOKEN));
    config.telegram.api_url = fake.url();
    config.telegram.staff_chat_ids = vec![staff];
    config.telegram.poll_timeout_s = 1;
    Ok(Setup { clock, fake, staff, dir, config })
}

/// What `bench throughput` sends.
struct Shape {
    messages: usize,
    customers: usize,
    rate: usize,
    seconds: u64,
    bot: bool,
    ai: bool,
    /// AI's features switched on and off every so many seconds of the paced run.
    alternate_s: Option<u64>,
    rest_s: u64,
}

async fn throughput(engine: &str, shape: &Shape, postgres_url: &str, workers: usize) -> anyhow::Result<()> {
    let &Shape { messages, customers, rate, seconds, bot, ai, alternate_s, rest_s } = shape;
    let Setup { clock, fake, staff, dir: _dir, mut config } = setup(engine, postgres_url).await?;
    config.telegram.rate_limits = false;
    config.jobs.workers = workers;
    if !bot {
        config.flows.dir = None;
    }
    // The model runs in a process of its own (as it does in production, on another machine
    // or at least in another program), so the CPU and latency measured here are Forecourt's.
    let mut model = if ai {
        let m = ModelChild::start(300).await?;
        let mut c = crate::config::AiConfig::new(m.url.clone());
        c.score_after_s = 1;
        c.requests_per_minute = 1_000_000;
        c.daily_requests = 0;
        config.ai = Some(c);
        Some(m)
    } else {
        None
    };
    let app = app::build(config, clock.clone()).await?;
    let running = app::start(app.clone(), tokio::net::TcpListener::bind("127.0.0.1:0").await?).await?;
    let people: Vec<FakeUser> =
        (0..customers).map(|i| FakeUser::new(100_000 + i as i64, &format!("C{i}"), None)).collect();

    let seen = std::sync::Arc::new(tokio::sync::Mutex::new(Seen::default()));
    let wait_all = |upto: usize, limit: Duration| {
        let (fake, seen) = (fake.clone(), seen.clone());
        async move {
            let deadline = Instant::now() + limit;
            let mut seen = seen.lock().await;
            loop {
                let at = seen.update(&fake, &[staff]);
                if (0..upto).all(|i| at.contains_key(&i)) {
                    return Ok::<_, anyhow::Error>(at.clone());
                }
                if Instant::now() > deadline {
                    bail!("only {} of {upto} messages reached the topics in time", at.len());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };

    // Burst: everything at once.
    let mut sent_at = Vec::with_capacity(messages);
    let start = clock.now_ms();
    for i in 0..messages {
        sent_at.push(clock.now_us());
        fake.customer_writes(&people[i % customers], &format!("bench m{i} is the car still there?"));
    }
    let injected = clock.now_ms();
    let stored_at = loop {
        if app.store.counts().await?.2 as usize >= messages {
            break clock.now_ms();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let seen = wait_all(messages, Duration::from_secs(600)).await?;
    let last = seen.values().copied().max().map_or(start, |us| us / 1_000);
    let ingest_rate = messages as f64 / ((stored_at - start).max(1) as f64 / 1000.0);
    let burst_rate = messages as f64 / ((last - start).max(1) as f64 / 1000.0);

    // Everything the burst started in the bridge (the bot's answers and their lines in the
    // topics, the cards' preview lines) finishes before the paced run, so that the paced run
    // measures the steady state and not the burst's tail. The AI lane's work is not waited
    // for: with AI on, the paced run goes while AI scores the burst's leads (and those the
    // paced messages touch), at its full concurrency — the worst case for the bridge.
    // (Nor are the card edits that AI's scores ask for in 30 s: they come during the run.)
    let bridge = if ai { Some(crate::store::Lane::Main) } else { None };
    let settled_at = loop {
        let until = if ai { clock.now_ms() + 10_000 } else { i64::MAX };
        if fake.pending_updates() == 0 && app.store.jobs_in_flight_in(until, bridge).await? == 0 {
            break clock.now_ms();
        }
        if clock.now_ms() - last > 600_000 {
            bail!("the burst's work did not finish in ten minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    // With AI on, the paced run starts once AI has the burst's leads to score (the sweep
    // hands them over a second after they went quiet, as many as its lane has room for:
    // `domain::ai::sweep_take`), so AI works at its full concurrency all through the run.
    if let Some(c) = &app.config.ai {
        let full = (crate::domain::ai::QUEUED_PER_SLOT * c.concurrency).min(customers) as i64;
        let deadline = Instant::now() + Duration::from_secs(60);
        while app.store.jobs_in_flight_in(i64::MAX, Some(crate::store::Lane::Ai)).await? < full {
            if Instant::now() > deadline {
                bail!("AI was not handed the burst's leads in a minute");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(rest_s)).await;

    // Paced: `rate` a second for `seconds`, for latency.
    let ai_before = requests_of(&mut model).await?;
    let cpu_before = cpu_seconds();
    let paced = rate * seconds as usize;
    let per_window = alternate_s.map(|w| (rate * w as usize).max(1));
    let features = app.ai.as_ref().map(|a| a.features());
    let mut windows: Vec<Window> = Vec::new();
    let t0 = Instant::now();
    for k in 0..paced {
        let i = messages + k;
        let due = t0 + Duration::from_secs_f64(k as f64 / rate as f64);
        tokio::time::sleep_until(due.into()).await;
        if let (Some(w), Some(ai), Some(all)) = (per_window, app.ai.as_ref(), features) {
            if k % w == 0 {
                let requests = requests_of(&mut model).await?;
                let cpu = cpu_seconds().unwrap_or(0.0);
                if let Some(last) = windows.last_mut() {
                    last.close(k, cpu, requests);
                }
                let on = (k / w) % 2 == 0;
                ai.set_features(if on { all } else { crate::domain::ai::Features::NONE });
                windows.push(Window { on, from: k, to: paced, cpu: -cpu, requests: -(requests as i64) });
            }
        }
        sent_at.push(clock.now_us());
        fake.customer_writes(&people[i % customers], &format!("bench m{i} and the price?"));
    }
    if let Some(last) = windows.last_mut() {
        last.close(paced, cpu_seconds().unwrap_or(0.0), requests_of(&mut model).await?);
    }
    let seen = wait_all(messages + paced, Duration::from_secs(600)).await?;
    let cpu = cpu_before.zip(cpu_seconds()).map(|(a, b)| b - a);
    let lat_in_order: Vec<i64> = (messages..messages + paced).map(|i| seen[&i] - sent_at[i]).collect();
    if !windows.is_empty() {
        println!("{}", alternating(&windows, &lat_in_order, alternate_s.unwrap_or(0)));
    }
    // The p99 of each fifth of the paced run, in order: a tail that only the first fifth
    // has is the burst's, a tail in every fifth is the steady state's.
    let fifths: Vec<String> = lat_in_order
        .chunks(paced.div_ceil(5).max(1))
        .map(|c| {
            let mut c = c.to_vec();
            c.sort_unstable();
            ms(percentile(&c, 0.99))
        })
        .collect();
    let mut lat = lat_in_order;
    lat.sort_unstable();
    let (_, _, stored) = app.store.counts().await?;
    let sends = fake.calls_of("sendmessage").len();
    let edits = fake.calls_of("editmessagetext").len();
    let ai_requests = requests_of(&mut model).await?;
    println!(
        "throughput {engine} (bot {}, AI {}): burst {messages} msgs from {customers} customers (injected in {} ms): stored {ingest_rate:.0} msgs/s, \
         in the topics {burst_rate:.0} msgs/s ({sends} sends after merging, {edits} edits in all); \
         the burst's work done {} ms after its last message showed; \
         paced {rate}/s × {seconds}s: latency p50 {} ms, p99 {} ms (by fifths: {} ms), max {} ms; CPU in the paced run {}; stored {stored}; peak memory {:.0} MB",
        if bot { "on" } else { "off" },
        if model.is_some() {
            format!("on, {ai_requests} requests, {} of them in the paced run", ai_requests - ai_before)
        } else {
            "off".to_string()
        },
        injected - start,
        settled_at - last,
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        fifths.join(" / "),
        ms(lat.last().copied().unwrap_or(0)),
        cpu.map_or("unknown".to_string(), |c| format!("{c:.1} s")),
        peak_memory_mb().unwrap_or(0.0)
    );
    running.stop().await;
    fake.stop();
    if let Some(m) = model {
        m.stop().await;
    }
    Ok(())
}

/// A window of the paced run with AI's features on or off (`--ai alternate`).
struct Window {
    on: bool,
    /// The paced messages sent in it: `from..to`.
    from: usize,
    to: usize,
    /// CPU seconds and model requests in the window (negative while it is open).
    cpu: f64,
    requests: i64,
}

impl Window {
    fn close(&mut self, to: usize, cpu: f64, requests: usize) {
        self.to = to;
        self.cpu += cpu;
        self.requests += requests as i64;
    }
}

/// What `--ai alternate` found: the latency of the messages sent while AI was on against
/// those sent while it was off — all of each; the median of the windows' p99s, which one
/// window's bad luck with the host does not move; and the median of each on window's p99
/// over the next off window's, a pair that met much the same host — with CPU and requests.
fn alternating(windows: &[Window], lat_in_order: &[i64], window_s: u64) -> String {
    let p99_of = |w: &Window| {
        let mut l = lat_in_order[w.from..w.to].to_vec();
        l.sort_unstable();
        percentile(&l, 0.99)
    };
    let half = |on: bool| {
        let ws: Vec<&Window> = windows.iter().filter(|w| w.on == on).collect();
        let mut all: Vec<i64> = ws.iter().flat_map(|w| lat_in_order[w.from..w.to].iter().copied()).collect();
        all.sort_unstable();
        let in_order: Vec<i64> = ws.iter().map(|w| p99_of(w)).collect();
        let cpu: f64 = ws.iter().map(|w| w.cpu).sum();
        let requests: i64 = ws.iter().map(|w| w.requests).sum();
        (ws.len(), all, in_order, cpu, requests)
    };
    let (on, off) = (half(true), half(false));
    let sorted = |v: &[i64]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        v
    };
    let line = |name: &str, (n, all, p99s, cpu, requests): &(usize, Vec<i64>, Vec<i64>, f64, i64)| {
        format!(
            "AI {name} ({n} windows, {} msgs, {requests} model requests): p50 {} ms, p99 {} ms, median of the windows' p99 {} ms (in order: {} ms), CPU {cpu:.1} s",
            all.len(),
            ms(percentile(all, 0.5)),
            ms(percentile(all, 0.99)),
            ms(median(&sorted(p99s))),
            p99s.iter().map(|p| ms(*p)).collect::<Vec<_>>().join(" / "),
        )
    };
    let ratio = |a: i64, b: i64| a as f64 / b.max(1) as f64;
    let pairs = pair_ratios(windows, p99_of);
    let mut by_size = pairs.clone();
    by_size.sort_by(f64::total_cmp);
    let pair_median = by_size.get(by_size.len().saturating_sub(1) / 2).copied().unwrap_or(1.0);
    format!(
        "alternating AI every {window_s} s: {}; {}; on/off: p99 {:.2}, median window p99 {:.2}, median of {} pairs' p99 ratios {pair_median:.2} (each: {}), CPU {:.2}",
        line("on", &on),
        line("off", &off),
        ratio(percentile(&on.1, 0.99), percentile(&off.1, 0.99)),
        ratio(median(&sorted(&on.2)), median(&sorted(&off.2))),
        pairs.len(),
        pairs.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(" "),
        on.3 / off.3.max(0.01)
    )
}

/// Each on window's figure over the figure of the off window right after it, in order.
fn pair_ratios(windows: &[Window], figure: impl Fn(&Window) -> i64) -> Vec<f64> {
    windows
        .windows(2)
        .filter(|p| p[0].on && !p[1].on)
        .map(|p| figure(&p[0]) as f64 / figure(&p[1]).max(1) as f64)
        .collect()
}

/// The median of sorted values (the lower middle of an even count).
fn median(sorted: &[i64]) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[(sorted.len() - 1) / 2]
}

/// `bench fake-model`: the fake model server in a process of its own. Prints `url <base>`,
/// then answers every line read from stdin with the number of requests answered so far;
/// stops when stdin closes (its parent ended, or let it go).
async fn fake_model(latency_ms: u64) -> anyhow::Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let f = crate::sandbox::openai::FakeOpenAi::start(None).await?;
    f.set_latency(Duration::from_millis(latency_ms));
    let mut out = tokio::io::stdout();
    out.write_all(format!("url {}\n", f.url()).as_bytes()).await?;
    out.flush().await?;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while lines.next_line().await?.is_some() {
        out.write_all(format!("{}\n", f.requests()).as_bytes()).await?;
        out.flush().await?;
    }
    f.stop();
    Ok(())
}

/// Requests the fake model has answered so far (0 without one).
async fn requests_of(model: &mut Option<ModelChild>) -> anyhow::Result<usize> {
    match model {
        Some(m) => m.requests().await,
        None => Ok(0),
    }
}

/// The fake model server as a child process (`bench fake-model`).
struct ModelChild {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    /// Its base URL (`FORECOURT_AI_BASE_URL`).
    url: String,
}

impl ModelChild {
    async fn start(latency_ms: u64) -> anyhow::Result<ModelChild> {
        use tokio::io::AsyncBufReadExt;
        let exe = std::env::current_exe().context("the forecourt binary")?;
        let mut child = tokio::process::Command::new(exe)
            .args(["bench", "fake-model", "--latency-ms", &latency_ms.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting the fake model server")?;
        let stdin = child.stdin.take().context("the fake model's stdin")?;
        let mut stdout = tokio::io::BufReader::new(child.stdout.take().context("the fake model's stdout")?).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
            .await
            .context("the fake model server did not start in 30 s")??
            .unwrap_or_default();
        let Some(url) = first.strip_prefix("url ") else {
            bail!("the fake model server said `{first}` instead of its URL");
        };
        Ok(ModelChild { url: url.to_string(), child, stdin, stdout })
    }

    /// Requests it has answered so far.
    async fn requests(&mut self) -> anyhow::Result<usize> {
        use tokio::io::AsyncWriteExt;
        self.stdin.write_all(b"requests\n").await?;
        self.stdin.flush().await?;
        let line = self.stdout.next_line().await?.context("the fake model server ended")?;
        line.trim().parse().with_context(|| format!("the fake model server said `{line}`"))
    }

    async fn stop(mut self) {
        drop(self.stdin);
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// Microseconds as milliseconds with one decimal (a p99 of a few milliseconds moves by
/// less than one between runs).
fn ms(us: i64) -> String {
    format!("{:.1}", us as f64 / 1_000.0)
}

/// Which lead writes the i-th message: strict turns, or bursts of 1-3 from a random lead
/// (a fixed-seed generator, so runs are comparable).
fn writers(total: usize, leads: usize, bursty: bool) -> Vec<usize> {
    if !bursty {
        return (0..total).map(|i| i % leads).collect();
    }
    let mut state: u64 = 0x5eed_f00d;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        let lead = next() % leads;
        let burst = 1 + next() % 3;
        for _ in 0..burst.min(total - out.len()) {
            out.push(lead);
        }
    }
    out
}

async fn limits(minutes: i64, speed: f64, bursty: bool) -> anyhow::Result<()> {
    let clock = Clock::with_speed(speed);
    let fake = FakeTelegram::start(TOKEN, clock.clone()).await?;
    fake.set_rate_limits(true);
    let groups = [-1001000000001, -1001000000002, -1001000000003];
    for (i, g) in groups.iter().enumerate() {
        fake.add_staff_group(*g, &format!("Team {}", i + 1));
    }
    let dir = tempfile::tempdir()?;
    let mut config = Config {
        database_url: format!("sqlite://{}/limits.db", dir.path().display()),
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    config.telegram.token = Some(Secret::new(TOKEN));
    config.telegram.api_url = fake.url();
    config.telegram.staff_chat_ids = groups.to_vec();
    config.telegram.poll_timeout_s = 2;
    let app = app::build(config, clock.clone()).await?;
    let running = app::start(app.clone(), tokio::net::TcpListener::bind("127.0.0.1:0").await?).await?;
    let store = &app.store;
    // Three managers, one per group; ten leads each.
    let mut managers = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let id = 9_000 + i as i64;
        store.upsert_user(TelegramUserId(id), &format!("Manager {i}"), Role::Manager, Some(*g), clock.now_ms()).await?;
        managers.push(FakeUser::new(id, &format!("Manager{i}"), None));
    }
    let people: Vec<FakeUser> = (0..30).map(|i| FakeUser::new(200_000 + i, &format!("Lead{i}"), None)).collect();
    println!("limits: setting up 30 leads (each claimed into its manager's group)…");
    for p in &people {
        fake.customer_writes(p, "hello");
    }
    let settle = |label: &'static str| {
        let store = store.clone();
        let fake = fake.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(600);
            loop {
                // Everything done, however long the rate limits made it wait.
                if fake.pending_updates() == 0 && store.jobs_in_flight(i64::MAX).await? == 0 {
                    return Ok::<_, anyhow::Error>(());
                }
                if Instant::now() > deadline {
                    bail!("{label} did not settle");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    settle("setup").await?;
    for (i, p) in people.iter().enumerate() {
        let lead: i64 = sqlx::query_scalar(
            "SELECT l.id FROM leads l JOIN customer_identities c ON c.customer_id = l.customer_id WHERE c.external_id = $1",
        )
        .bind(p.id.to_string())
        .fetch_one(store.pool())
        .await?;
        let l = store.lead(crate::domain::LeadId(lead)).await?.context("lead")?;
        let data = crate::domain::callback::CardAction::Claim(l.id).encode();
        fake.staff_presses(
            l.staff_chat_id.context("topic")?,
            l.card_message_id.context("card")?,
            &managers[i % 3],
            &data,
        );
    }
    settle("claims").await?;
    // Let the setup's sends leave the minute windows: measure the steady state.
    clock.sleep_ms(61_000).await;
    let base_429 = fake.rate_limited_count();
    let base_calls = fake.calls().len();

    println!("limits: {minutes} virtual minutes of 60 messages a minute (clock ×{speed})…");
    let total = (minutes * 60) as usize;
    let who = writers(total, people.len(), bursty);
    let mut sent_at = Vec::with_capacity(total);
    let start = clock.now_ms();
    for i in 0..total {
        let due = start + i as i64 * 1_000;
        clock.sleep_ms(due - clock.now_ms()).await;
        sent_at.push(clock.now_us());
        fake.customer_writes(&people[who[i]], &format!("bench m{i} when can I come?"));
    }
    // Give the tail up to five virtual minutes to drain.
    let drain_until = clock.now_ms() + 300_000;
    let mut watch = Seen::default();
    let seen = loop {
        let seen = watch.update(&fake, &groups);
        if (0..total).all(|i| seen.contains_key(&i)) || clock.now_ms() > drain_until {
            break seen.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut lat: Vec<i64> = (0..total).filter_map(|i| seen.get(&i).map(|t| t - sent_at[i])).collect();
    lat.sort_unstable();
    let lost = total - lat.len();
    let sends = fake.calls().len() - base_calls;
    println!(
        "limits ({}): {total} messages, 30 leads, 3 groups: visible in topic p50 {:.1} s, p95 {:.1} s, p99 {:.1} s, max {:.1} s; \
         429s met: {}; lost: {lost}; Bot API calls: {sends}",
        if bursty { "bursty" } else { "round-robin" },
        percentile(&lat, 0.5) as f64 / 1e6,
        percentile(&lat, 0.95) as f64 / 1e6,
        percentile(&lat, 0.99) as f64 / 1e6,
        lat.last().copied().unwrap_or(0) as f64 / 1e6,
        fake.rate_limited_count() - base_429
    );
    running.stop().await;
    fake.stop();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(on: bool, from: usize, to: usize) -> Window {
        Window { on, from, to, cpu: 0.0, requests: 0 }
    }

    #[test]
    fn each_on_window_is_set_against_the_off_window_after_it() {
        // on, off, on, off, on: two pairs (the last on window has no off window after it).
        let ws =
            [window(true, 0, 2), window(false, 2, 4), window(true, 4, 6), window(false, 6, 8), window(true, 8, 10)];
        let lat = [10, 30, 10, 10, 50, 20, 10, 40, 99, 99];
        let worst = |w: &Window| lat[w.from..w.to].iter().copied().max().unwrap_or(0);
        assert_eq!(pair_ratios(&ws, worst), vec![3.0, 1.25]);
        let line = alternating(&ws, &lat, 10);
        assert!(line.contains("median of 2 pairs' p99 ratios 1.25 (each: 3.00 1.25)"), "{line}");
        assert!(line.contains("AI on (3 windows, 6 msgs"), "{line}");
        assert!(line.contains("AI off (2 windows, 4 msgs"), "{line}");
    }

    #[test]
    fn a_window_counts_what_happened_between_its_opening_and_its_close() {
        let mut w = Window { on: true, from: 100, to: 0, cpu: -5.0, requests: -7 };
        w.close(300, 7.5, 19);
        assert_eq!((w.from, w.to, w.requests), (100, 300, 12));
        assert!((w.cpu - 2.5).abs() < 1e-9);
        assert_eq!(median(&[1, 2, 3, 4]), 2);
        assert_eq!(median(&[]), 0);
    }
}
