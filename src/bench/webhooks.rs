//! `forecourt bench webhooks`: signed Viber and WhatsApp webhooks (half each, text messages
//! from a few hundred customers) posted over loopback HTTP at the running service, timed
//! from send to the 200 that follows the commit. First the service's no-op route
//! (`GET /livez`) under the same load as the ceiling, then a burst at full concurrency for
//! requests/s, then a paced run for latency. The whole service runs meanwhile, as in
//! production: job workers bridge the stored messages to the fake Telegram under
//! Telegram's real limits (merging what waits for a topic).

use super::{peak_memory_mb, percentile};
use crate::app;
use crate::channels::hmac_hex;
use crate::config::{Secret, ViberConfig, WhatsappConfig};
use crate::sandbox::hosted::ascii_json;
use anyhow::{bail, Context};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

const VIBER_TOKEN: &str = "bench-viber-token";
const WA_SECRET: &str = "bench-app-secret";

#[derive(clap::Args)]
pub struct Args {
    /// Requests in the burst (and in the no-op ceiling run).
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Requests in flight at once during the burst.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Customers writing (one lead each).
    #[arg(long, default_value_t = 500)]
    customers: usize,
    /// Requests per second in the paced latency run.
    #[arg(long, default_value_t = 2_000)]
    rate: usize,
    /// Seconds of the paced run.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// sqlite, postgres or both.
    #[arg(long, default_value = "both")]
    engine: String,
    /// Job workers bridging the stored messages to the topics meanwhile (the service's
    /// default is 4).
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// `on`: the whole service runs, job workers bridging to the fake Telegram under its
    /// limits; `off`: only the HTTP service, to measure the webhook path alone.
    #[arg(long, default_value = "on")]
    bridge: String,
    /// The PostgreSQL server (a fresh database is created on it).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres_url: String,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let engines = super::engines(&a.engine)?;
    for e in engines {
        one_engine(e, &a).await?;
    }
    Ok(())
}

/// One prepared request: path, signature header and value, body.
struct Req {
    path: &'static str,
    header: &'static str,
    signature: String,
    body: String,
}

fn viber_req(i: usize, customer: usize, now: i64) -> Req {
    let body = json!({
        "event": "message", "timestamp": now, "chat_hostname": "SN-CHAT-01_",
        "message_token": 6_000_000_000_000_000_000u64 + i as u64,
        "sender": {"id": format!("vb{customer}="), "name": format!("Клієнт {customer}"), "language": "uk"},
        "message": {"type": "text", "text": format!("bench m{i} чи є ще RAV4?")}, "silent": false,
    })
    .to_string();
    Req {
        path: "/webhooks/viber",
        header: "X-Viber-Content-Signature",
        signature: hmac_hex(VIBER_TOKEN.as_bytes(), body.as_bytes()),
        body,
    }
}

fn whatsapp_req(i: usize, customer: usize, now: i64) -> Req {
    let wa = format!("38050{customer:07}");
    let body = ascii_json(&json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
    "field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": format!("Клієнтка {customer}")}, "wa_id": wa}],
        "messages": [{"from": wa, "id": format!("wamid.BENCH{i:010}"), "timestamp": (now / 1000).to_string(),
            "type": "text", "text": {"body": format!("bench m{i} скільки коштує?")}}],
    }}]}]}));
    Req {
        path: "/webhooks/whatsapp",
        header: "X-Hub-Signature-256",
        signature: format!("sha256={}", hmac_hex(WA_SECRET.as_bytes(), body.as_bytes())),
        body,
    }
}

fn requests(from: usize, n: usize, customers: usize, now: i64) -> Vec<Req> {
    (from..from + n)
        .map(|i| {
            let c = i % customers;
            if i % 2 == 0 {
                viber_req(i, c, now)
            } else {
                whatsapp_req(i, c, now)
            }
        })
        .collect()
}

/// Post every request with at most `concurrency` in flight; returns (elapsed, sorted latencies µs).
async fn blast(
    http: &reqwest::Client,
    base: &str,
    reqs: Vec<Req>,
    concurrency: usize,
    noop: bool,
) -> anyhow::Result<(Duration, Vec<i64>)> {
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(reqs.len());
    for r in reqs {
        let permit = sem.clone().acquire_owned().await?;
        let http = http.clone();
        let base = base.to_string();
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let t = Instant::now();
            let status = if noop {
                http.get(format!("{base}/livez")).send().await.map(|r| r.status().as_u16())
            } else {
                http.post(format!("{base}{}", r.path))
                    .header(r.header, r.signature)
                    .header("content-type", "application/json")
                    .body(r.body)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            };
            (status, t.elapsed().as_micros() as i64)
        }));
    }
    let mut lat = Vec::with_capacity(tasks.len());
    for t in tasks {
        let (status, us) = t.await?;
        match status {
            Ok(200) => lat.push(us),
            Ok(s) => bail!("a webhook was answered {s}"),
            Err(e) => bail!("a webhook failed: {e}"),
        }
    }
    let elapsed = start.elapsed();
    lat.sort_unstable();
    Ok((elapsed, lat))
}

/// Post at a fixed rate; returns sorted latencies (µs).
async fn paced(http: &reqwest::Client, base: &str, reqs: Vec<Req>, rate: usize) -> anyhow::Result<Vec<i64>> {
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(reqs.len());
    for (k, r) in reqs.into_iter().enumerate() {
        tokio::time::sleep_until((t0 + Duration::from_secs_f64(k as f64 / rate as f64)).into()).await;
        let http = http.clone();
        let url = format!("{base}{}", r.path);
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let s = http.post(url).header(r.header, r.signature).body(r.body).send().await.map(|r| r.status().as_u16());
            (s, t.elapsed().as_micros() as i64)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        let (s, us) = t.await?;
        if !matches!(s, Ok(200)) {
            bail!("a paced webhook failed: {s:?}");
        }
        lat.push(us);
    }
    lat.sort_unstable();
    Ok(lat)
}

fn ms(us: i64) -> f64 {
    us as f64 / 1000.0
}

async fn one_engine(engine: &str, a: &Args) -> anyhow::Result<()> {
    let super::Setup { clock, fake, dir: _dir, mut config, .. } = super::setup(engine, &a.postgres_url).await?;
    // Telegram's limits on, as in production: the bridge coalesces instead of flooding.
    fake.set_rate_limits(true);
    config.telegram.rate_limits = true;
    config.jobs.workers = a.workers.clamp(1, 256);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    config.public_url = Some(base.clone());
    // Text only: the provider APIs are never called, so they need not exist.
    config.viber = Some(ViberConfig {
        token: Secret::new(VIBER_TOKEN),
        api_url: "http://127.0.0.1:9/pa".into(),
        sender_name: "Bench".into(),
    });
    config.whatsapp = Some(WhatsappConfig {
        token: Secret::new("bench"),
        phone_number_id: "106540352242922".into(),
        app_secret: Secret::new(WA_SECRET),
        verify_token: Secret::new("bench"),
        api_url: "http://127.0.0.1:9/v21.0".into(),
        template: None,
    });
    let app = app::build(config, clock.clone()).await?;
    let running = match a.bridge.as_str() {
        "on" => app::start(app.clone(), listener).await?,
        "off" => app::start_http_only(app.clone(), listener).await?,
        other => bail!("--bridge: `{other}` is not on or off"),
    };
    let http = reqwest::Client::builder().pool_max_idle_per_host(a.concurrency).build()?;
    let now = clock.now_ms();

    let (noop_t, noop_lat) = blast(&http, &base, requests(0, a.requests, 1, now), a.concurrency, true).await?;
    let (burst_t, burst_lat) =
        blast(&http, &base, requests(0, a.requests, a.customers.max(1), now), a.concurrency, false).await?;
    // A breath between the runs, so the paced run does not start inside the burst's tail.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let paced_n = a.rate.max(1) * a.seconds as usize;
    let paced_lat = paced(&http, &base, requests(a.requests, paced_n, a.customers.max(1), now), a.rate.max(1)).await?;
    // What the customers sent; the bot's own messages (the welcome flow) are not counted.
    let stored = app.store.incoming_messages().await.context("counting")? as usize;
    let total = a.requests + paced_n;
    let noop_rate = a.requests as f64 / noop_t.as_secs_f64();
    let rate = a.requests as f64 / burst_t.as_secs_f64();
    println!(
        "webhooks {engine} (bridge {}): no-op GET /livez {noop_rate:.0} req/s (p50 {:.1} ms, p99 {:.1} ms); \
         signed webhooks burst {} × {} in flight: {rate:.0} req/s ({:.0}% of the no-op), p50 {:.1} ms, p99 {:.1} ms; \
         paced {}/s × {}s: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; stored {stored} of {total}; peak memory {:.0} MB",
        a.bridge,
        ms(percentile(&noop_lat, 0.5)),
        ms(percentile(&noop_lat, 0.99)),
        a.requests,
        a.concurrency,
        100.0 * rate / noop_rate,
        ms(percentile(&burst_lat, 0.5)),
        ms(percentile(&burst_lat, 0.99)),
        a.rate,
        a.seconds,
        ms(percentile(&paced_lat, 0.5)),
        ms(percentile(&paced_lat, 0.99)),
        ms(paced_lat.last().copied().unwrap_or(0)),
        peak_memory_mb().unwrap_or(0.0)
    );
    if stored != total {
        bail!("{stored} messages stored, {total} expected: something was lost or doubled");
    }
    running.stop().await;
    fake.stop();
    Ok(())
}
