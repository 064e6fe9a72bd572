//! `forecourt bench ai`: hot scores for 1,000 leads against the fake OpenAI-compatible
//! server with a fixed latency (300 ms), through the real client: masking, the cache in the
//! database, the budget, the concurrency and per-minute limits, the answers checked. The
//! first run's throughput is compared with the ideal (concurrency ÷ latency); the second run
//! of the same inputs must be all cache hits.

use super::{engines, setup, Setup};
use crate::ai::{Ai, Ask};
use crate::domain::ai::{hot_score_schema, read_hot_score, Feature};
use crate::domain::LeadId;
use crate::sandbox::openai::FakeOpenAi;
use crate::store::{AttemptOutcome, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// Leads scored.
    #[arg(long, default_value_t = 1_000)]
    leads: usize,
    /// Requests at once (FORECOURT_AI_CONCURRENCY).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// The fake server's latency, milliseconds.
    #[arg(long, default_value_t = 300)]
    latency_ms: u64,
    /// sqlite, postgres or both.
    #[arg(long, default_value = "sqlite")]
    engine: String,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres_url: String,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    for e in engines(&a.engine)? {
        one(e, &a).await?;
    }
    Ok(())
}

/// One lead's conversation, different for every lead (so nothing is cached in the first run).
fn input(i: usize) -> String {
    let cars = ["Toyota RAV4", "Kia Sportage", "Skoda Octavia", "VW Passat", "Hyundai Tucson"];
    format!(
        "Lead #{i} on Viber, stage: New.\n\nConversation (oldest first):\n[03.12 10:{:02}] customer: Добрий день, цікавить {} {}. \
         Можна тест-драйв завтра? Мій номер +380 67 {:03} {:02} {:02}\n[03.12 10:{:02}] bot: Менеджер скоро відповість.",
        i % 60,
        cars[i % cars.len()],
        2015 + i % 9,
        i % 1000,
        i % 100,
        (i / 100) % 100,
        (i + 1) % 60
    )
}

/// Score every lead at once (the client's semaphore keeps `concurrency` in flight); returns
/// the wall time.
async fn score_all(ai: &Arc<Ai>, store: &Store, leads: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..leads {
        let (ai, store) = (ai.clone(), store.clone());
        tasks.spawn(async move {
            let ask = Ask {
                feature: Feature::HotScores,
                lead: Some(LeadId(i as i64 + 1)),
                call: None,
                system: ai.prompts.render("hot_score_system.txt", &serde_json::json!({ "language": "en" })),
                input: input(i),
                schema_name: "hot_score",
                schema: hot_score_schema(),
            };
            let a = ai.ask(&store, 0, &ask, read_hot_score).await.map_err(|e| anyhow::anyhow!("lead {i}: {e}"))?;
            store.keep_ai_answer(&a.keep).await?;
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(started.elapsed())
}

async fn one(engine: &str, a: &Args) -> anyhow::Result<()> {
    let Setup { config, dir: _dir, .. } = setup(engine, &a.postgres_url).await?;
    let store = Store::connect(&config.database_url).await?;
    store.migrate().await?;
    let fake = FakeOpenAi::start(None).await?;
    fake.set_latency(Duration::from_millis(a.latency_ms));
    let mut c = crate::config::AiConfig::new(fake.url());
    c.concurrency = a.concurrency.clamp(1, 64);
    c.requests_per_minute = 1_000_000;
    c.daily_requests = 0;
    let ai = Arc::new(Ai::new(&c, chrono_tz::Europe::Kyiv, std::path::Path::new("/nonexistent"))?);

    let first = score_all(&ai, &store, a.leads).await?;
    let sent = fake.requests();
    let rate = a.leads as f64 / first.as_secs_f64();
    let ideal = c.concurrency as f64 / (a.latency_ms as f64 / 1000.0);
    let second = score_all(&ai, &store, a.leads).await?;
    let counts = store.ai_attempt_counts(Feature::HotScores, 0).await?;
    let hits = counts.get(AttemptOutcome::Cached);
    println!("bench ai ({engine}): {} leads, concurrency {}, fake latency {} ms", a.leads, c.concurrency, a.latency_ms);
    println!(
        "  first run:  {:.1} s, {rate:.1} scores/s; ideal {ideal:.1}/s; ratio {:.2}; requests sent {sent}; most at once {}",
        first.as_secs_f64(),
        rate / ideal,
        fake.most_at_once()
    );
    println!(
        "  second run: {:.2} s, cache hits {hits} of {} ({:.0}%); requests sent {}",
        second.as_secs_f64(),
        a.leads,
        100.0 * hits as f64 / a.leads as f64,
        fake.requests() - sent
    );
    let masked = fake.seen().iter().all(|s| !s.text.contains("+380"));
    println!("  phone numbers masked in every request: {masked}");
    fake.stop();
    store.close().await;
    Ok(())
}
