//! `forecourt bench assignment`: (1) choosing and giving an owner for 1,000 new leads
//! among 50 managers with skills and caps, one committed transaction per decision, as the
//! `Assign` job does it; (2) one tick of the timers (assignment's: absent owners, waiting
//! leads, the silence timer, reply alerts; the tasks': reminders and escalations) over
//! 20,000 open leads and 20,000 open tasks, 1% of them due.

use super::{engines, percentile, setup, Setup};
use crate::app;
use crate::domain::assign::Mode;
use crate::domain::{Channel, MessageKind, Role, TelegramUserId};
use crate::ingest::Inbound;
use crate::store::BatchItem;
use anyhow::Context;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 1_000)]
    leads: usize,
    #[arg(long, default_value_t = 50)]
    managers: usize,
    /// Open leads and open tasks for the timers' tick.
    #[arg(long, default_value_t = 20_000)]
    open: usize,
    /// `least_loaded` or `round_robin`.
    #[arg(long, default_value = "least_loaded")]
    mode: String,
    /// sqlite, postgres or both.
    #[arg(long, default_value = "sqlite")]
    engine: String,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres_url: String,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let mode = Mode::parse(&a.mode).filter(|m| *m != Mode::Queue).context("--mode: least_loaded or round_robin")?;
    for e in engines(&a.engine)? {
        one(e, &a, mode).await?;
    }
    Ok(())
}

const SKILLS: [&str; 6] = ["", "viber", "viber,uk", "whatsapp,telegram", "buy,sell", "uk,en"];
const CHANNELS: [Channel; 3] = [Channel::Viber, Channel::Whatsapp, Channel::Telegram];

async fn one(engine: &str, a: &Args, mode: Mode) -> anyhow::Result<()> {
    let Setup { clock, fake: _fake, dir: _dir, mut config, .. } = setup(engine, &a.postgres_url).await?;
    config.flows.dir = None;
    config.flows.business_hours = crate::domain::flow::hours::Hours::always();
    config.assignment.mode = mode;
    let app = app::build(config, clock.clone()).await?;
    let now = clock.now_ms();
    for i in 0..a.managers {
        let (u, _) = app
            .store
            .upsert_user(TelegramUserId(500_000 + i as i64), &format!("Manager {i}"), Role::Manager, None, now)
            .await?;
        let skills = crate::domain::assign::parse_skills(SKILLS[i % SKILLS.len()]).map_err(anyhow::Error::msg)?;
        let cap = Some(Some(20 + (i as u32 % 5) * 10));
        app.store.set_work(u.id, None, cap, Some(&skills), None, now).await?;
    }
    // The new leads: customers on three channels in two languages.
    let all: Vec<Inbound> = (0..a.leads)
        .map(|i| Inbound {
            channel: CHANNELS[i % 3],
            external_user: format!("bench-{i}"),
            external_message: format!("bench-{i}"),
            sender_name: format!("Customer {i}"),
            language: Some(if i % 4 == 0 { "en" } else { "uk" }.into()),
            kind: MessageKind::Text,
            text: Some("Добрий день".into()),
            file_id: None,
            media_group_id: None,
            extra: None,
            sent_at: now,
        })
        .collect();
    for chunk in all.chunks(500) {
        let items: Vec<BatchItem> = chunk.iter().map(|m| BatchItem { update_id: None, inbound: m }).collect();
        let mut tx = app.store.begin().await?;
        crate::ingest::store_batch(&mut tx, "", &items, now, &app.topic_holds, &crate::ingest::Follow::default())
            .await?;
        tx.commit().await?;
    }
    if app.store.engine() == crate::store::Engine::Postgres {
        sqlx::query("ANALYZE").execute(app.store.pool()).await?;
    }
    let leads = app.store.lead_ids().await?;
    let mut lat = Vec::with_capacity(leads.len());
    let mut placed = 0;
    let t0 = Instant::now();
    for id in &leads {
        let t = Instant::now();
        let mut tx = app.store.begin().await?;
        let lead = crate::store::lead_in_tx(&mut tx, *id).await?.context("the lead")?;
        if crate::staff::assign::place(&app, &mut tx, &lead, clock.now_ms()).await?.is_some() {
            placed += 1;
        }
        tx.commit().await?;
        lat.push(t.elapsed().as_micros() as i64);
    }
    let secs = t0.elapsed().as_secs_f64();
    lat.sort_unstable();
    println!(
        "assignment {engine} {}: {} leads among {} managers (skills, caps 20-60): {placed} placed in {secs:.2} s; \
         per decision (choose + give, committed) p50 {:.2} ms, p99 {:.2} ms",
        mode.as_str(),
        leads.len(),
        a.managers,
        percentile(&lat, 0.5) as f64 / 1000.0,
        percentile(&lat, 0.99) as f64 / 1000.0,
    );

    // The timers over `open` open leads and `open` open tasks.
    fill(&app, a.open, now).await?;
    if app.store.engine() == crate::store::Engine::Postgres {
        sqlx::query("ANALYZE").execute(app.store.pool()).await?;
    }
    let mut ticks = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        crate::staff::assign::timers(&app).await?;
        crate::staff::tasks::timers(&app).await?;
        ticks.push(t.elapsed().as_micros() as i64);
    }
    let mut sorted = ticks.clone();
    sorted.sort_unstable();
    println!(
        "assignment {engine} timers: one tick over {} open leads and {} open tasks (1% due): median {:.1} ms \
         (first {:.1} ms, when the due ones are reminded; the rest find nothing new)",
        a.open,
        a.open,
        percentile(&sorted, 0.5) as f64 / 1000.0,
        ticks[0] as f64 / 1000.0,
    );
    app.supervisor.stopping();
    app.store.close().await;
    Ok(())
}

/// `n` more open leads owned by the managers, half waiting for an answer, and `n` open
/// tasks; 1% of each due now.
async fn fill(app: &crate::app::App, n: usize, now: i64) -> anyhow::Result<()> {
    let managers: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM users WHERE role = 'manager'").fetch_all(app.store.pool()).await?;
    let mut tx = app.store.begin().await?;
    for chunk in (0..n).collect::<Vec<_>>().chunks(200) {
        let mut sql = String::from("INSERT INTO customers (name, created_at, updated_at) VALUES ");
        sql.push_str(&chunk.iter().map(|i| format!("('Filler {i}', {now}, {now})")).collect::<Vec<_>>().join(", "));
        sql.push_str(" RETURNING id");
        let ids: Vec<i64> = sqlx::query_scalar(&sql).fetch_all(&mut *tx).await?;
        let mut sql = String::from(
            "INSERT INTO leads (customer_id, owner_id, source_channel, last_channel, stage, created_at, updated_at,
                 first_response_at, waiting_since, silence_due_at) VALUES ",
        );
        let rows: Vec<String> = ids
            .iter()
            .zip(chunk)
            .map(|(c, i)| {
                let owner = managers[i % managers.len()];
                let due = if i % 100 == 0 { now - 1_000 } else { now + 86_400_000 };
                let (first, waiting) = if i % 2 == 0 {
                    (format!("{now}"), format!("{}", now - (i % 100) as i64 * 1_000))
                } else {
                    ("NULL".into(), "NULL".into())
                };
                format!("({c}, {owner}, 'viber', 'viber', 'contacted', {now}, {now}, {first}, {waiting}, {due})")
            })
            .collect();
        sql.push_str(&rows.join(", "));
        sql.push_str(" RETURNING id");
        let leads: Vec<i64> = sqlx::query_scalar(&sql).fetch_all(&mut *tx).await?;
        let mut sql = String::from(
            "INSERT INTO tasks (lead_id, kind, user_id, title, due_at, state, created_at, updated_at) VALUES ",
        );
        let rows: Vec<String> = leads
            .iter()
            .zip(chunk)
            .map(|(l, i)| {
                let due = if i % 100 == 1 { now - 1_000 } else { now + 86_400_000 };
                format!("({l}, 'manual', {}, 'Call back', {due}, 'open', {now}, {now})", managers[i % managers.len()])
            })
            .collect();
        sql.push_str(&rows.join(", "));
        sqlx::query(&sql).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}
