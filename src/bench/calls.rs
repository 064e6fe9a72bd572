//! `forecourt bench calls` (issue 12), three measures:
//! 1. **Webhooks**: Ringostat "call ended" events (form data, the token in the URL) over
//!    loopback at the running service, beside its no-op route: requests/s in a burst, then
//!    p50/p99 to a committed 200 at a fixed rate (target: p99 < 25 ms at 500/s).
//! 2. **Into the topic**: time from a "call ended" webhook to the call's message in its
//!    lead's topic, under Telegram's real limits, while customers write 60 chat messages a
//!    minute into the same topics (target: p95 < 10 s).
//! 3. **Recordings**: peak memory of a `forecourt run` process while 10 recordings of 20 MB
//!    each are downloaded and posted at once (target: < 150 MB, which shows they are
//!    streamed). The service runs as a child process so the fakes' own buffers (the fake
//!    Telegram keeps what it is sent) are not counted.

use super::{peak_memory_mb, percentile};
use crate::app;
use crate::channels::hmac_hex;
use crate::config::{Secret, WhatsappConfig};
use crate::sandbox::hosted::ascii_json;
use crate::sandbox::telephony::{post_ringostat, Encoding, FakeCall, FakeTelephony, Recording};
use anyhow::{bail, Context};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

const TOKEN: &str = "bench-ringostat-token-0123";
const WA_SECRET: &str = "bench-app-secret";

#[derive(clap::Args)]
pub struct Args {
    /// Events in the burst (and in the no-op ceiling run).
    #[arg(long, default_value_t = 5_000)]
    requests: usize,
    /// Requests in flight at once during the burst.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Events per second in the paced run.
    #[arg(long, default_value_t = 500)]
    rate: usize,
    /// Seconds of the paced run.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Minutes of calls and chat flowing into the topics (part 2).
    #[arg(long, default_value_t = 2)]
    minutes: u64,
    /// Recordings downloaded at once (part 3), and their size in MB.
    #[arg(long, default_value_t = 10)]
    recordings: usize,
    #[arg(long, default_value_t = 20)]
    recording_mb: u64,
    /// sqlite, postgres or both (parts 1 and 2; part 3 runs on SQLite).
    #[arg(long, default_value = "both")]
    engine: String,
    /// The PostgreSQL server (a fresh database is created on it).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres_url: String,
    /// Which parts: all, webhooks, topics or memory.
    #[arg(long, default_value = "all")]
    part: String,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let part = a.part.as_str();
    if !["all", "webhooks", "topics", "memory"].contains(&part) {
        bail!("--part: `{part}` is not all, webhooks, topics or memory");
    }
    for e in super::engines(&a.engine)? {
        if part == "all" || part == "webhooks" {
            webhooks(e, &a).await?;
        }
        if part == "all" || part == "topics" {
            topics(e, &a).await?;
        }
    }
    if part == "all" || part == "memory" {
        memory(&a).await?;
    }
    Ok(())
}

fn ms(us: i64) -> f64 {
    us as f64 / 1000.0
}

/// A distinct caller's number (never kept by Forecourt: only the fake and this bench see it).
fn number(i: usize) -> String {
    format!("+38067{:07}", 1_000_000 + i % 9_000_000)
}

/// The form body of a "call ended" event: answered, or missed every fourth.
fn ended(i: usize, callers: usize, now: i64, tz: chrono_tz::Tz) -> String {
    let call = FakeCall::inbound(&format!("bench.{i}"), &number(i % callers), now);
    let call = if i.is_multiple_of(4) { call.missed(15) } else { call.answered("101", "Bench Manager", 60, 5) };
    form_urlencoded::Serializer::new(String::new()).extend_pairs(call.ringostat_fields(tz, true)).finish()
}

async fn post(http: &reqwest::Client, url: &str, body: Option<String>) -> Result<(u16, i64), String> {
    let t = Instant::now();
    let r = match body {
        Some(b) => http.post(url).header("content-type", "application/x-www-form-urlencoded").body(b).send().await,
        None => http.get(url).send().await,
    };
    let status = r.map_err(|e| e.to_string())?.status().as_u16();
    Ok((status, t.elapsed().as_micros() as i64))
}

/// Part 1: webhooks to a committed 200.
async fn webhooks(engine: &str, a: &Args) -> anyhow::Result<()> {
    let super::Setup { clock, fake, dir: _dir, mut config, .. } = super::setup(engine, &a.postgres_url).await?;
    fake.set_rate_limits(true);
    config.telegram.rate_limits = true;
    config.calls.ringostat_token = Some(Secret::new(TOKEN));
    let tz = config.timezone;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = app::build(config, clock.clone()).await?;
    let running = app::start(app.clone(), listener).await?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(a.concurrency.max(64)).build()?;
    let hook = format!("{base}/webhooks/ringostat?token={TOKEN}");
    let callers = 1_000;
    let now = clock.now_ms();

    // The ceiling, then the burst.
    let blast = |bodies: Vec<Option<String>>, url: String| {
        let http = http.clone();
        async move {
            let sem = Arc::new(Semaphore::new(a.concurrency.max(1)));
            let start = Instant::now();
            let mut tasks = Vec::with_capacity(bodies.len());
            for b in bodies {
                let permit = sem.clone().acquire_owned().await?;
                let (http, url) = (http.clone(), url.clone());
                tasks.push(tokio::spawn(async move {
                    let _permit = permit;
                    post(&http, &url, b).await
                }));
            }
            let mut lat = Vec::with_capacity(tasks.len());
            for t in tasks {
                match t.await? {
                    Ok((200, us)) => lat.push(us),
                    Ok((s, _)) => bail!("answered {s}"),
                    Err(e) => bail!("failed: {e}"),
                }
            }
            lat.sort_unstable();
            anyhow::Ok((start.elapsed(), lat))
        }
    };
    let (noop_t, noop_lat) = blast(vec![None; a.requests], format!("{base}/livez")).await?;
    let bodies = (0..a.requests).map(|i| Some(ended(i, callers, now, tz))).collect();
    let (burst_t, burst_lat) = blast(bodies, hook.clone()).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Paced: new calls from the same callers.
    let n = a.rate.max(1) * a.seconds as usize;
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for k in 0..n {
        tokio::time::sleep_until((t0 + Duration::from_secs_f64(k as f64 / a.rate.max(1) as f64)).into()).await;
        let (http, hook) = (http.clone(), hook.clone());
        let body = ended(a.requests + k, callers, now, tz);
        tasks.push(tokio::spawn(async move { post(&http, &hook, Some(body)).await }));
    }
    let mut paced = Vec::with_capacity(n);
    for t in tasks {
        match t.await? {
            Ok((200, us)) => paced.push(us),
            other => bail!("a paced webhook failed: {other:?}"),
        }
    }
    paced.sort_unstable();
    let stored = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM calls").fetch_one(app.store.pool()).await?;
    let noop_rate = a.requests as f64 / noop_t.as_secs_f64();
    let rate = a.requests as f64 / burst_t.as_secs_f64();
    println!(
        "calls webhooks {engine}: no-op {noop_rate:.0} req/s (p99 {:.1} ms); Ringostat events burst {} × {} in flight: \
         {rate:.0} req/s ({:.0}% of the no-op), p50 {:.1} ms, p99 {:.1} ms; paced {}/s × {}s: p50 {:.1} ms, \
         p99 {:.1} ms, max {:.1} ms; calls stored {stored} of {}",
        ms(percentile(&noop_lat, 0.99)),
        a.requests,
        a.concurrency,
        100.0 * rate / noop_rate,
        ms(percentile(&burst_lat, 0.5)),
        ms(percentile(&burst_lat, 0.99)),
        a.rate,
        a.seconds,
        ms(percentile(&paced, 0.5)),
        ms(percentile(&paced, 0.99)),
        ms(paced.last().copied().unwrap_or(0)),
        a.requests + n,
    );
    if stored as usize != a.requests + n {
        bail!("{stored} calls stored, {} expected", a.requests + n);
    }
    running.stop().await;
    fake.stop();
    Ok(())
}

fn whatsapp_text(i: usize, wa: &str, now: i64) -> (String, String) {
    let body = ascii_json(&json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
    "field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": format!("Клієнтка {wa}")}, "wa_id": wa}],
        "messages": [{"from": wa, "id": format!("wamid.CALLBENCH{i:08}"), "timestamp": (now / 1000).to_string(),
            "type": "text", "text": {"body": format!("chat m{i}: коли можна подзвонити?")}}],
    }}]}]}));
    let sig = format!("sha256={}", hmac_hex(WA_SECRET.as_bytes(), body.as_bytes()));
    (body, sig)
}

/// Part 2: from "call ended" to the call in its topic, with chat flowing too, under
/// Telegram's limits: 30 WhatsApp customers whose leads three managers took by answering
/// their calls (so the topics live in three staff groups, as in `bench limits`), then 60
/// chat messages a minute and a call every five seconds. The clock runs ten times faster
/// than real time (the fake Telegram's limits and Forecourt's limiter follow it), and the
/// figures are in its time.
async fn topics(engine: &str, a: &Args) -> anyhow::Result<()> {
    let super::Setup { fake: unused, dir: _dir, mut config, .. } = super::setup(engine, &a.postgres_url).await?;
    unused.stop();
    let clock = crate::clock::Clock::with_speed(10.0);
    let fake = crate::sandbox::telegram::FakeTelegram::start(super::TOKEN, clock.clone()).await?;
    fake.set_rate_limits(true);
    let groups = [-1001000000011i64, -1001000000012, -1001000000013];
    for (i, g) in groups.iter().enumerate() {
        fake.add_staff_group(*g, &format!("Team {}", i + 1));
    }
    config.telegram.api_url = fake.url();
    config.telegram.staff_chat_ids = groups.to_vec();
    config.telegram.rate_limits = true;
    config.calls.ringostat_token = Some(Secret::new(TOKEN));
    config.flows.dir = None;
    config.whatsapp = Some(WhatsappConfig {
        token: Secret::new("bench"),
        phone_number_id: "106540352242922".into(),
        app_secret: Secret::new(WA_SECRET),
        verify_token: Secret::new("bench"),
        api_url: "http://127.0.0.1:9/v21.0".into(),
        template: None,
    });
    let tz = config.timezone;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    config.public_url = Some(base.clone());
    let app = app::build(config, clock.clone()).await?;
    let running = app::start(app.clone(), listener).await?;
    let store = app.store.clone();
    for (i, g) in groups.iter().enumerate() {
        let (u, _) = store
            .upsert_user(
                crate::domain::TelegramUserId(9_100 + i as i64),
                &format!("Manager {i}"),
                crate::domain::Role::Manager,
                Some(*g),
                clock.now_ms(),
            )
            .await?;
        store.set_user_extension(u.id, Some(&format!("10{i}")), clock.now_ms()).await?;
    }
    let settle = |label: &'static str| {
        let store = store.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(600);
            while store.jobs_in_flight(i64::MAX).await? > 0 {
                if Instant::now() > deadline {
                    bail!("{label} did not settle");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            anyhow::Ok(())
        }
    };
    let http = reqwest::Client::new();
    let hook = format!("{base}/webhooks/ringostat?token={TOKEN}");
    let wa_post = |i: usize, wa: &str| {
        let (body, sig) = whatsapp_text(i, wa, clock.now_ms());
        http.post(format!("{base}/webhooks/whatsapp"))
            .header("X-Hub-Signature-256", sig)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let customers: Vec<String> = (0..30).map(|i| format!("38050{:07}", 2_000_000 + i)).collect();
    let owner_ext = |i: usize| format!("10{}", i % 3);
    println!("calls into topics {engine}: setting up 30 customers, each lead taken by one of 3 managers…");
    for (i, wa) in customers.iter().enumerate() {
        wa_post(i, wa).await?;
    }
    settle("the first messages").await?;
    for (i, wa) in customers.iter().enumerate() {
        let call = FakeCall::inbound(&format!("setup.{i}"), &format!("+{wa}"), clock.now_ms()).answered(
            &owner_ext(i),
            "Manager",
            60,
            3,
        );
        post_ringostat(&http, &hook, &call, tz, true, Encoding::Form).await;
    }
    settle("the claims").await?;
    // The measured minutes.
    let end = clock.now_ms() + a.minutes as i64 * 60_000;
    let mut k = 0usize;
    let mut sent: Vec<(String, i64)> = Vec::new();
    while clock.now_ms() < end {
        let c = (k * 7) % customers.len();
        wa_post(1_000 + k, &customers[c]).await?;
        if k.is_multiple_of(5) {
            let id = format!("topic.{k}");
            let call = FakeCall::inbound(&id, &format!("+{}", customers[(k * 11) % customers.len()]), clock.now_ms())
                .answered(&owner_ext((k * 11) % customers.len()), "Manager", 42, 3);
            let at = clock.now_ms();
            let (status, _) = post_ringostat(&http, &hook, &call, tz, true, Encoding::Form).await;
            if status != 200 {
                bail!("a call webhook was answered {status}");
            }
            sent.push((id, at));
        }
        k += 1;
        clock.sleep_ms(1_000).await;
    }
    // When each call was first in its topic (the fake Telegram's own record of the send).
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    while seen.len() < sent.len() && Instant::now() < deadline {
        let posted: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT external_id, staff_chat_id, staff_message_id FROM calls WHERE staff_message_id IS NOT NULL AND external_id LIKE 'topic.%'",
        )
        .fetch_all(store.pool())
        .await?;
        for (id, chat, message) in posted {
            if seen.contains_key(&id) {
                continue;
            }
            if let Some(m) = fake.messages(chat).into_iter().find(|m| m.message_id == message as i32) {
                seen.insert(id, m.date);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut lat: Vec<i64> = sent.iter().filter_map(|(id, t)| seen.get(id).map(|s| (s - t).max(0) * 1_000)).collect();
    lat.sort_unstable();
    println!(
        "calls into topics {engine}: {} calls over {} min beside {} chat messages (60/min), 30 leads in 3 groups, \
         limits on: webhook → call in its topic p50 {:.1} s, p95 {:.1} s, max {:.1} s; {} never shown; 429s {}",
        sent.len(),
        a.minutes,
        k,
        ms(percentile(&lat, 0.5)) / 1000.0,
        ms(percentile(&lat, 0.95)) / 1000.0,
        ms(lat.last().copied().unwrap_or(0)) / 1000.0,
        sent.len() - lat.len(),
        fake.rate_limited_count(),
    );
    running.stop().await;
    fake.stop();
    Ok(())
}

/// A child's peak resident memory (MB).
pub(crate) fn child_peak_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Part 3: a `forecourt run` child downloading and posting large recordings at once.
async fn memory(a: &Args) -> anyhow::Result<()> {
    let super::Setup { clock, fake, dir, config, .. } = super::setup("sqlite", &a.postgres_url).await?;
    let tel = FakeTelephony::start("bench-key", clock.clone(), config.timezone).await?;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let exe = std::env::current_exe().context("the forecourt binary")?;
    let mut child = tokio::process::Command::new(exe)
        .arg("run")
        .env("DATABASE_URL", &config.database_url)
        .env("FORECOURT_DATA_DIR", &config.data_dir)
        .env("FORECOURT_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("FORECOURT_TELEGRAM_TOKEN", config.telegram.token.as_ref().map(|t| t.expose()).unwrap_or_default())
        .env("FORECOURT_TELEGRAM_API_URL", &config.telegram.api_url)
        .env("FORECOURT_STAFF_CHAT_ID", config.telegram.staff_chat_ids[0].to_string())
        .env("FORECOURT_TELEGRAM_RATE_LIMITS", "false")
        .env("FORECOURT_RINGOSTAT_TOKEN", TOKEN)
        .env("FORECOURT_FLOWS_DIR", "off")
        .env("FORECOURT_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .context("starting forecourt run")?;
    let pid = child.id().context("the child's pid")?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().as_u16() == 200) {
        if Instant::now() > deadline {
            bail!("forecourt run did not start");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let idle = child_peak_mb(pid).unwrap_or(0.0);
    let hook = format!("{base}/webhooks/ringostat?token={TOKEN}");
    let started = Instant::now();
    let mut posts = Vec::new();
    for i in 0..a.recordings {
        let url = tel.host(Recording::Generated(a.recording_mb * 1024 * 1024), None);
        let call = FakeCall::inbound(&format!("mem.{i}"), &number(50_000 + i), clock.now_ms())
            .answered("101", "Bench Manager", 1_200, 5)
            .with_recording(&url);
        let (http, hook) = (http.clone(), hook.clone());
        let tz = config.timezone;
        posts.push(tokio::spawn(async move { post_ringostat(&http, &hook, &call, tz, true, Encoding::Json).await }));
    }
    for p in posts {
        let (status, body) = p.await?;
        if status != 200 {
            bail!("a call was answered {status}: {body}");
        }
    }
    // The child's database, read beside it (WAL): wait until every recording is posted.
    let store = crate::store::Store::connect(&config.database_url).await?;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let posted: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calls WHERE recording_state = 'posted'")
            .fetch_one(store.pool())
            .await?;
        let failed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calls WHERE recording_state = 'unavailable'")
            .fetch_one(store.pool())
            .await?;
        if failed > 0 {
            bail!("{failed} recordings could not be kept");
        }
        if posted as usize >= a.recordings {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {posted} of {} recordings were posted within five minutes", a.recordings);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    let peak = child_peak_mb(pid).unwrap_or(0.0);
    let audio = fake.calls_of("sendaudio").len();
    println!(
        "calls recordings: {} × {} MB downloaded and posted at once in {:.1} s ({audio} audio messages); \
         forecourt run peak memory {peak:.0} MB (idle {idle:.0} MB); the bench process itself {:.0} MB",
        a.recordings,
        a.recording_mb,
        took.as_secs_f64(),
        peak_memory_mb().unwrap_or(0.0),
    );
    let _ = child.kill().await;
    store.close().await;
    tel.stop();
    fake.stop();
    drop(dir);
    Ok(())
}
