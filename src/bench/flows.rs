//! `forecourt bench flows`: the flow engine on N concurrent conversations. Every customer's
//! first message is stored, then all N conversations are advanced (greeting, intent
//! question: three steps each); then every customer answers by typing "купити" and all N
//! are advanced again (answer saved, branch, car question: three steps each). The engine
//! runs as the job runner runs it — batches of leads, one transaction each, every text
//! rendered from the default flows — and each turn's latency is its batch's time from
//! start to commit. The messages go nowhere (the bench measures the engine, not sending).

use super::{engines, percentile, setup, Setup};
use crate::app;
use crate::domain::{Channel, LeadId, MessageKind};
use crate::ingest::Inbound;
use crate::store::BatchItem;
use anyhow::{bail, Context};
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Conversations advanced at once.
    #[arg(long, default_value_t = 10_000)]
    conversations: usize,
    /// Leads per batch (the job runner claims up to 64).
    #[arg(long, default_value_t = crate::flows::run::BATCH)]
    batch: usize,
    /// sqlite, postgres or both.
    #[arg(long, default_value = "sqlite")]
    engine: String,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres_url: String,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    for e in engines(&a.engine)? {
        one(e, a.conversations.max(1), a.batch.clamp(1, 512), &a.postgres_url).await?;
    }
    Ok(())
}

fn inbound(i: usize, round: usize, text: &str, now: i64) -> Inbound {
    Inbound {
        channel: Channel::Viber,
        external_user: format!("bench-{i}"),
        external_message: format!("bench-{i}-{round}"),
        sender_name: format!("Customer {i}"),
        language: Some("uk".into()),
        kind: MessageKind::Text,
        text: Some(text.into()),
        file_id: None,
        media_group_id: None,
        extra: None,
        sent_at: now,
    }
}

/// Store one message from each of `n` customers (with their flow jobs), 500 a transaction.
async fn store_round(app: &crate::app::App, n: usize, round: usize, text: &str) -> anyhow::Result<()> {
    let now = app.clock.now_ms();
    let all: Vec<Inbound> = (0..n).map(|i| inbound(i, round, text, now)).collect();
    for chunk in all.chunks(500) {
        let items: Vec<BatchItem> = chunk.iter().map(|m| BatchItem { update_id: None, inbound: m }).collect();
        let mut tx = app.store.begin().await?;
        crate::ingest::store_batch(&mut tx, "", &items, now, &app.topic_holds, &crate::ingest::Follow { flows: true })
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Advance every lead once, batch by batch; returns (steps, seconds, per-batch ms).
async fn advance_all(
    app: &std::sync::Arc<crate::app::App>,
    leads: &[LeadId],
    batch: usize,
) -> anyhow::Result<(u64, f64, Vec<i64>)> {
    let t0 = Instant::now();
    let mut steps = 0;
    let mut lat = Vec::new();
    for chunk in leads.chunks(batch) {
        let t = Instant::now();
        steps += crate::flows::run::process(app, chunk).await?;
        lat.push(t.elapsed().as_millis() as i64);
    }
    lat.sort_unstable();
    Ok((steps, t0.elapsed().as_secs_f64(), lat))
}

/// Fresh statistics, as autovacuum would give a database that grew this fast (PostgreSQL
/// otherwise plans these queries for empty tables).
async fn analyze(app: &crate::app::App) -> anyhow::Result<()> {
    if app.store.engine() == crate::store::Engine::Postgres {
        sqlx::query("ANALYZE").execute(app.store.pool()).await?;
    }
    Ok(())
}

async fn one(engine: &str, n: usize, batch: usize, postgres_url: &str) -> anyhow::Result<()> {
    let Setup { clock, fake: _fake, dir: _dir, mut config, .. } = setup(engine, postgres_url).await?;
    config.flows.business_hours = crate::domain::flow::hours::Hours::always();
    let app = app::build(config, clock).await?;
    if app.flows.active().is_none() {
        bail!("no flows are active (FORECOURT_FLOWS_DIR)");
    }
    store_round(&app, n, 0, "Добрий день").await?;
    analyze(&app).await?;
    let leads = app.store.lead_ids().await?;
    let report = |phase: &str, (steps, secs, lat): (u64, f64, Vec<i64>)| {
        println!(
            "flows {engine} {phase}: {n} conversations, {steps} steps in {secs:.2} s: {:.0} steps/s, {:.0} turns/s; \
             per turn (its batch of {batch}, start to commit) p50 {} ms, p99 {} ms",
            steps as f64 / secs,
            n as f64 / secs,
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
        );
    };
    report("first message (greeting + question)", advance_all(&app, &leads, batch).await?);
    store_round(&app, n, 1, "купити").await?;
    analyze(&app).await?;
    report("typed answer (save + branch + question)", advance_all(&app, &leads, batch).await?);
    // Sanity: every conversation said its three messages and waits at the car question.
    let said: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE direction = 'outgoing'")
        .fetch_one(app.store.pool())
        .await
        .context("counting the bot's messages")?;
    if said != 3 * n as i64 {
        bail!("expected {} bot messages, found {said}", 3 * n);
    }
    println!(
        "flows {engine}: {said} bot messages written; peak memory {:.0} MB",
        super::peak_memory_mb().unwrap_or(0.0)
    );
    // Built, never started: its background tasks end with it, as expected.
    app.supervisor.stopping();
    app.store.close().await;
    Ok(())
}
