//! `forecourt bench reports`: the reporting page and the digest over a large dealership's
//! history — 100,000 customers, 300,000 leads over two years, 1,000,000 messages, with
//! calls, tasks, replies and stage history. Over HTTP with a signed-in supervisor: the
//! 30-day dashboard, a lead page with 2,000 timeline items, the lead list's CSV of about
//! 10,000 rows (to the last byte); in process: the weekly digest with its chart. Medians of
//! several runs, and the process's peak memory while measuring.

use super::{engines, percentile, setup, Setup};
use crate::app;
use crate::domain::{Role, TelegramUserId};
use anyhow::Context;
use std::fmt::Write;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 100_000)]
    customers: usize,
    #[arg(long, default_value_t = 300_000)]
    leads: usize,
    #[arg(long, default_value_t = 1_000_000)]
    messages: usize,
    /// Runs of each measurement (the median is reported).
    #[arg(long, default_value_t = 7)]
    runs: usize,
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

const DAY: i64 = 86_400_000;
const MANAGERS: i64 = 20;
/// The lead with the long timeline.
const BIG_TIMELINE: usize = 2_000;
const CHANNELS: [&str; 4] = ["viber", "whatsapp", "telegram", "call"];

/// A cheap, well-spread hash for made-up data.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Run `rows` INSERTs of `head` in statements of `per` rows, in one transaction.
async fn insert(
    app: &crate::app::App,
    head: &str,
    rows: usize,
    per: usize,
    mut row: impl FnMut(usize, &mut String),
) -> anyhow::Result<()> {
    let mut tx = app.store.begin().await?;
    let mut i = 0;
    while i < rows {
        let mut sql = String::with_capacity(per * 120);
        sql.push_str(head);
        sql.push_str(" VALUES ");
        for j in i..(i + per).min(rows) {
            if j > i {
                sql.push(',');
            }
            sql.push('(');
            row(j, &mut sql);
            sql.push(')');
        }
        sqlx::query(&sql).execute(&mut *tx).await?;
        i += per;
    }
    tx.commit().await?;
    Ok(())
}

struct Lead {
    created: i64,
    stage: &'static str,
    owner: Option<i64>,
}

fn lead(i: usize, n: usize, now: i64) -> Lead {
    // Spread over two years, the newest last; the one with the long timeline is newest.
    let created = now - 730 * DAY + (i as i64 * 730 * DAY) / n as i64;
    let h = mix(i as u64);
    let age = (now - created) / DAY;
    let stage = if age > 45 {
        match h % 10 {
            0..=2 => "sold",
            3..=8 => "lost",
            _ => "qualified",
        }
    } else {
        match h % 12 {
            0..=2 => "new",
            3..=5 => "contacted",
            6..=7 => "qualified",
            8 => "in_negotiation",
            9 => "prepayment",
            10 => "sold",
            _ => "lost",
        }
    };
    let owner = (!h.is_multiple_of(10) || stage != "new").then_some(1 + (h >> 8) as i64 % MANAGERS);
    Lead { created, stage, owner }
}

async fn fill(app: &crate::app::App, a: &Args, now: i64) -> anyhow::Result<i64> {
    for m in 0..MANAGERS {
        app.store.upsert_user(TelegramUserId(700_000 + m), &format!("Manager {m}"), Role::Manager, None, now).await?;
    }
    let (sup, _) = app.store.upsert_user(TelegramUserId(700_100), "Supervisor", Role::Supervisor, None, now).await?;
    let n = a.leads;
    insert(app, "INSERT INTO customers (id, name, created_at, updated_at)", a.customers, 1000, |i, s| {
        let _ = write!(s, "{}, 'Клієнт {i}', {}, {}", i + 1, now - 800 * DAY, now - 800 * DAY);
    })
    .await?;
    insert(
        app,
        "INSERT INTO leads (id, customer_id, owner_id, source_channel, last_channel, stage, is_open, lost_reason,
         first_response_secs, first_response_at, stage_since, last_message_at, created_at, updated_at)",
        n,
        1000,
        |i, s| {
            let l = lead(i, n, now);
            let h = mix(i as u64 + 7);
            let ch = CHANNELS[match h % 100 {
                0..=69 => 0,
                70..=81 => 1,
                82..=91 => 2,
                _ => 3,
            }];
            let open = i64::from(!matches!(l.stage, "sold" | "lost"));
            let fr = (h >> 16) % 3_600 + 30;
            let _ = write!(
                s,
                "{}, {}, {}, '{ch}', '{}', '{}', {open}, {}, {fr}, {}, {}, {}, {}, {}",
                i + 1,
                i % a.customers + 1,
                l.owner.map_or("NULL".into(), |o| o.to_string()),
                if ch == "call" { "telegram" } else { ch },
                l.stage,
                if l.stage == "lost" { "'price'" } else { "NULL" },
                l.created + fr as i64 * 1000,
                l.created + (h >> 20) as i64 % (3 * DAY),
                l.created + DAY,
                l.created,
                l.created
            );
        },
    )
    .await?;
    // History: created, then the stages on the way to the current one.
    let path = ["contacted", "qualified", "in_negotiation", "prepayment", "sold"];
    let mut moves: Vec<(usize, &str, &str, i64)> = Vec::new();
    for i in 0..n {
        let l = lead(i, n, now);
        moves.push((i, "created", "new", l.created));
        let upto = match l.stage {
            "new" => 0,
            "contacted" | "lost" => 1,
            "qualified" => 2,
            "in_negotiation" => 3,
            "prepayment" => 4,
            _ => 5,
        };
        for (k, st) in path.iter().take(upto).enumerate() {
            moves.push((i, "stage", st, l.created + (k as i64 + 1) * 6 * 3_600_000));
        }
        if l.stage == "lost" {
            moves.push((i, "stage", "lost", l.created + 2 * DAY));
        }
    }
    insert(app, "INSERT INTO lead_history (lead_id, field, to_value, at)", moves.len(), 1000, |j, s| {
        let (i, f, to, at) = moves[j];
        let _ = write!(s, "{}, '{f}', '{to}', {at}", i + 1);
    })
    .await?;
    drop(moves);
    // Messages: the newest lead has the long timeline; the rest are spread over all leads.
    let big = n; // the newest lead's id
    let rest = a.messages.saturating_sub(BIG_TIMELINE);
    insert(
        app,
        "INSERT INTO messages (lead_id, customer_id, user_id, channel, direction, kind, body, sent_at, staff_state, created_at)",
        a.messages,
        1000,
        |j, s| {
            let (li, k) = if j < rest { (j % n, j / n) } else { (big - 1, j - rest) };
            let l = lead(li, n, now);
            let at = l.created + k as i64 * 240_000;
            let inbound = k % 2 == 0;
            let _ = write!(
                s,
                "{}, {}, {}, 'viber', '{}', 'text', 'Повідомлення {j} про авто', {at}, 'posted', {at}",
                li + 1,
                li % a.customers + 1,
                if inbound { "NULL".into() } else { l.owner.unwrap_or(1).to_string() },
                if inbound { "incoming" } else { "outgoing" },
            );
        },
    )
    .await?;
    // Calls: one per call lead and one per tenth of the rest; a fifth missed, their
    // callbacks open for the recent ones.
    let calls: Vec<usize> = (0..n).filter(|i| mix(*i as u64 + 7) % 100 >= 92 || i % 10 == 0).collect();
    insert(
        app,
        "INSERT INTO calls (id, provider, external_id, lead_id, user_id, direction, disposition, missed, started_at,
         billsec, wait_s, pool_name, utm_source, created_at, updated_at)",
        calls.len(),
        1000,
        |j, s| {
            let i = calls[j];
            let l = lead(i, n, now);
            let missed = j % 5 == 0;
            let at = l.created + 60_000;
            let _ = write!(
                s,
                "{}, 'ringostat', 'b-{j}', {}, {}, 'inbound', '{}', {}, {at}, {}, 8, '{}', '{}', {at}, {at}",
                j + 1,
                i + 1,
                if missed { "NULL".into() } else { l.owner.unwrap_or(1).to_string() },
                if missed { "no_answer" } else { "answered" },
                i64::from(missed),
                if missed { 0 } else { 95 },
                ["Google Ads", "Auto.ria", "Site"][j % 3],
                ["google", "autoria", "direct"][j % 3],
            );
        },
    )
    .await?;
    insert(
        app,
        "INSERT INTO tasks (lead_id, kind, user_id, call_id, title, due_at, state, created_at, updated_at)",
        calls.len(),
        1000,
        |j, s| {
            let i = calls[j];
            let l = lead(i, n, now);
            let missed = j % 5 == 0;
            let open = missed && now - l.created < 60 * DAY && j % 3 != 0;
            let _ = write!(
                s,
                "{}, '{}', {}, {}, 'Call back', {}, '{}', {}, {}",
                i + 1,
                if missed { "callback" } else { "manual" },
                l.owner.unwrap_or(1),
                if missed { (j + 1).to_string() } else { "NULL".into() },
                l.created + 3_600_000,
                if open { "open" } else { "done" },
                l.created,
                l.created
            );
        },
    )
    .await?;
    insert(
        app,
        "INSERT INTO reply_times (lead_id, user_id, asked_at, replied_at, business_secs, first, how)",
        n / 3,
        1000,
        |j, s| {
            let i = j * 3;
            let l = lead(i, n, now);
            let _ = write!(
                s,
                "{}, {}, {}, {}, 300, 0, 'reply'",
                i + 1,
                l.owner.unwrap_or(1),
                l.created + DAY,
                l.created + DAY + 300_000
            );
        },
    )
    .await?;
    insert(app, "INSERT INTO vehicles (make, model, year, status, created_at, updated_at)", 1000, 500, |j, s| {
        let _ = write!(
            s,
            "'Toyota', 'RAV4', {}, '{}', {}, {}",
            2015 + j % 10,
            ["available", "available", "reserved", "sold", "archived"][j % 5],
            now - (j as i64 % 120) * DAY,
            now - (j as i64 % 30) * DAY
        );
    })
    .await?;
    sqlx::query("ANALYZE").execute(app.store.pool()).await?;
    Ok(sup.id.0)
}

/// Each of the dashboard's reads alone, once, over the last 30 days (where the time goes).
async fn breakdown(app: &crate::app::App, now: i64) -> anyhow::Result<()> {
    let (from, to) = (now - 30 * DAY, now);
    let mut parts = Vec::new();
    macro_rules! time {
        ($name:expr, $e:expr) => {{
            let t = Instant::now();
            let n = $e.await?.len();
            parts.push(format!("{} {:.1} ms ({n})", $name, t.elapsed().as_secs_f64() * 1000.0));
        }};
    }
    time!("leads", app.store.report_leads(from, to, None));
    time!("sold", app.store.report_sold(from, to, None));
    time!("missed", app.store.report_missed_open(from, to, None));
    time!("stage moves", app.store.report_stage_moves(from, to, None));
    time!("people", app.store.report_people(from, to, now));
    time!("call sources", app.store.report_call_sources(from, to, None));
    time!("stock", app.store.report_stock());
    let stuck: Vec<_> =
        crate::domain::report::PIPELINE.into_iter().filter(|s| s.is_open()).map(|s| (s, now - 7 * DAY)).collect();
    let f = crate::store::LeadFilter { stuck: Some(stuck), ..Default::default() };
    let t = Instant::now();
    let n = app.store.lead_count(&f).await?;
    parts.push(format!("stuck count {:.1} ms ({n})", t.elapsed().as_secs_f64() * 1000.0));
    time!("stuck oldest", app.store.lead_list(&f, 0, 10));
    println!("  breakdown, each read alone: {}", parts.join("; "));
    Ok(())
}

fn median_ms(mut v: Vec<i64>) -> f64 {
    v.sort_unstable();
    percentile(&v, 0.5) as f64 / 1000.0
}

async fn one(engine: &str, a: &Args) -> anyhow::Result<()> {
    let Setup { clock, fake: _fake, dir: _dir, mut config, .. } = setup(engine, &a.postgres_url).await?;
    config.flows.dir = None;
    config.reports.daily_at = None;
    config.reports.weekly_at = None;
    let app = app::build(config.clone(), clock.clone()).await?;
    let now = clock.now_ms();
    let t0 = Instant::now();
    let sup = fill(&app, a, now).await.context("filling the database")?;
    println!(
        "reports {engine}: {} customers, {} leads, {} messages, with calls, tasks, replies and history, filled in {:.0} s",
        a.customers,
        a.leads,
        a.messages,
        t0.elapsed().as_secs_f64()
    );
    breakdown(&app, now).await?;
    let token = "b".repeat(64);
    app.store
        .insert_session(&crate::web::report::auth::hash(&token), crate::domain::UserId(sup), now, now + DAY)
        .await?;

    // The service itself, `forecourt run` as a child, so its memory is its own.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let base = format!("http://127.0.0.1:{port}");
    let exe = std::env::current_exe().context("the forecourt binary")?;
    let mut child = tokio::process::Command::new(exe)
        .arg("run")
        .env("DATABASE_URL", &config.database_url)
        .env("FORECOURT_DATA_DIR", &config.data_dir)
        .env("FORECOURT_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("FORECOURT_PUBLIC_URL", &base)
        .env("FORECOURT_TELEGRAM_TOKEN", config.telegram.token.as_ref().map(|t| t.expose()).unwrap_or_default())
        .env("FORECOURT_TELEGRAM_API_URL", &config.telegram.api_url)
        .env("FORECOURT_STAFF_CHAT_ID", config.telegram.staff_chat_ids[0].to_string())
        .env("FORECOURT_FLOWS_DIR", "off")
        .env("FORECOURT_DIGEST_DAILY_AT", "off")
        .env("FORECOURT_DIGEST_WEEKLY_AT", "off")
        .env("FORECOURT_LOG", "off")
        .kill_on_drop(true)
        .spawn()
        .context("starting forecourt run")?;
    let pid = child.id().context("the child's pid")?;
    let http = reqwest::Client::new();
    let deadline = Instant::now() + std::time::Duration::from_secs(120);
    while !http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().as_u16() == 200) {
        anyhow::ensure!(Instant::now() < deadline, "forecourt run did not start");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let idle = super::calls::child_peak_mb(pid).unwrap_or(0.0);
    let cookie = format!("{}={token}", crate::web::report::auth::COOKIE);
    let get = |path: String| {
        let (http, cookie, base) = (http.clone(), cookie.clone(), base.clone());
        async move {
            let t = Instant::now();
            let r = http.get(format!("{base}{path}")).header("cookie", cookie).send().await?;
            let status = r.status();
            let body = r.bytes().await?;
            anyhow::ensure!(status.is_success(), "{path}: {status}");
            Ok::<_, anyhow::Error>((t.elapsed().as_micros() as i64, body))
        }
    };

    let mut dash = Vec::new();
    let mut first_dash = 0;
    for r in 0..a.runs {
        let (us, body) = get("/reports?period=30d".into()).await?;
        if r == 0 {
            first_dash = us;
            anyhow::ensure!(String::from_utf8_lossy(&body).contains("id=\"fig-new\""), "the dashboard drew");
        }
        dash.push(us);
    }
    let mut page = Vec::new();
    let mut items = String::new();
    for r in 0..a.runs {
        let (us, body) = get(format!("/reports/leads/{}", a.leads)).await?;
        if r == 0 {
            items = String::from_utf8_lossy(&body).matches("<li class=").count().to_string();
        }
        page.push(us);
    }
    // About 10,000 leads: the days that hold them (the leads are spread evenly).
    let days = (10_000 * 730 / a.leads as i64).max(1);
    let to = app.local(now).date() - chrono::Duration::days(40);
    let from = to - chrono::Duration::days(days - 1);
    let mut csv = Vec::new();
    let mut rows = 0;
    for r in 0..a.runs {
        let (us, body) = get(format!("/reports/leads.csv?period=custom&from={from}&to={to}")).await?;
        if r == 0 {
            rows = body.iter().filter(|b| **b == b'\n').count().saturating_sub(1);
        }
        csv.push(us);
    }
    let served = super::calls::child_peak_mb(pid).unwrap_or(0.0);
    child.kill().await.ok();
    // The digest, built as its job builds it (in this process, beside the child).
    let mut digest = Vec::new();
    let mut chart = 0;
    for _ in 0..a.runs {
        let t = Instant::now();
        let d = crate::staff::digest::build(&app, crate::domain::digest::Kind::Weekly, now).await?;
        digest.push(t.elapsed().as_micros() as i64);
        chart = d.chart.len();
    }
    println!(
        "reports {engine}: 30-day dashboard median {:.1} ms (first {:.1} ms); lead page with {items} timeline items \
         median {:.1} ms; lead list CSV of {rows} rows, streamed, median {:.1} ms; weekly digest with its chart \
         ({} KB PNG) median {:.1} ms; the service's peak memory {served:.0} MB (idle {idle:.0} MB)",
        median_ms(dash),
        first_dash as f64 / 1000.0,
        median_ms(page),
        median_ms(csv),
        chart / 1024,
        median_ms(digest),
    );
    app.supervisor.stopping();
    app.store.close().await;
    Ok(())
}
