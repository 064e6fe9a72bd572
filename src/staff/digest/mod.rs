//! Digests in chat (issue 14): daily and weekly figures against the period before, with a
//! PNG chart of leads per day by channel, sent to every supervisor privately or to
//! `FORECOURT_DIGEST_CHAT_ID`. The recurring `DigestTimers` job claims each period once (a
//! row keyed by kind and due time, so restarts and several instances send it once) and
//! enqueues one chart job and one text job per recipient, each deduplicated, so a retry of
//! the text never sends the chart twice. `forecourt digest send` sends one now.

pub mod chart;

use crate::channels::telegram::{url_button, FileRef};
use crate::context::App;
use crate::domain::digest::{self, At, Kind};
use crate::domain::report as figures;
use crate::domain::{LeadId, MessageKind, Role, Stage};
use crate::jobs::{job::Job, Outcome};
use crate::store::{self, LeadFilter, PeriodLead, StoreError};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::info;

/// How often the timer looks for a due digest.
pub const EVERY_MS: i64 = 60_000;
/// Days the chart covers.
pub const CHART_DAYS: i64 = 14;
/// Leads named (with their topic) in a list of the digest.
const NAMED: usize = 5;

/// `kv`: when this installation first looked for due digests (ms); none due before is sent.
/// Set on the first look: then, or when the installation sent digests before this key
/// existed (an upgrade), when it claimed its first.
const DIGESTS_SINCE: &str = "digests_since";

pub fn timers_job(now: i64) -> store::NewJob {
    Job::DigestTimers.into_new("digest_timers".into(), Some("digest_timers".into()), now)
}

/// Who gets digests: the configured chat, else every active supervisor privately.
pub async fn recipients(app: &App) -> Result<Vec<(i64, Option<i32>)>, StoreError> {
    if let Some(c) = app.config.reports.digest_chat {
        return Ok(vec![c]);
    }
    Ok(app
        .store
        .list_users()
        .await?
        .into_iter()
        .filter(|u| u.active && u.role.gets_digests())
        .map(|u| (u.telegram_id.0, None))
        .collect())
}

/// The recurring job: claim each kind's latest due period once, and enqueue its sends.
pub async fn timers(app: &Arc<App>) -> anyhow::Result<Outcome> {
    let now = app.clock.now_ms();
    let local = app.local(now);
    let since = match app.store.kv_get(DIGESTS_SINCE).await?.and_then(|v| v.parse::<i64>().ok()) {
        Some(since) => since,
        None => {
            let first = app.store.first_digest_at().await?.map_or(now, |at| at.min(now));
            app.store.kv_insert_if_absent(DIGESTS_SINCE, &first.to_string()).await?;
            app.store.kv_get(DIGESTS_SINCE).await?.and_then(|v| v.parse().ok()).unwrap_or(now)
        }
    };
    let since = app.local(since);
    let kinds = [(Kind::Daily, app.config.reports.daily_at), (Kind::Weekly, app.config.reports.weekly_at)];
    for (kind, at) in kinds {
        let Some(at) = at else { continue };
        let due = At::last_due(at, local);
        if !digest::goes_out(due, local, since) {
            continue;
        }
        let due_ms = app.instant(due);
        let who = recipients(app).await?;
        let mut tx = app.store.begin().await?;
        if !store::claim_digest(&mut tx, &digest::key(kind, due), kind.as_str(), due_ms, who.len() as i64, now).await? {
            continue;
        }
        enqueue(&mut tx, kind, due_ms, &who, now).await?;
        tx.commit().await?;
        info!(kind = kind.as_str(), due = %due, recipients = who.len(), "digest due: sending");
        app.wake.notify_one();
    }
    Ok(Outcome::WaitUntil(now + EVERY_MS))
}

/// One chart job and one text job per recipient, in the recipient's queue (the chart first).
pub async fn enqueue(
    tx: &mut store::Conn,
    kind: Kind,
    due: i64,
    who: &[(i64, Option<i32>)],
    now: i64,
) -> Result<(), StoreError> {
    for (chat, thread) in who {
        for chart in [true, false] {
            let job = Job::DigestSend { digest: kind, due, chat: *chat, thread: *thread, chart };
            let dedupe = format!("digest:{}:{due}:{chat}:{}", kind.as_str(), if chart { "chart" } else { "text" });
            store::jobs_enqueue(tx, &job.into_new(format!("private:{chat}"), Some(dedupe), now), now).await?;
        }
    }
    Ok(())
}

/// A built digest: its text, the page's link, and the chart.
pub struct Built {
    pub text: String,
    pub link: Option<String>,
    pub chart: Vec<u8>,
}

fn by_channel(leads: &[PeriodLead]) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for l in leads {
        *m.entry(l.channel.clone()).or_default() += 1;
    }
    m
}

fn change(now: i64, before: i64) -> Option<String> {
    figures::change_pct(Some(now as f64), Some(before as f64))
        .map(|p| format!("{}{:.0}%", if p > 0.0 { "+" } else { "" }, p))
}

async fn named(app: &App, ids: Vec<LeadId>) -> Result<Vec<Value>, StoreError> {
    let mut out = Vec::new();
    for id in ids.into_iter().take(NAMED) {
        if let Some(h) = app.store.lead_head(id).await? {
            let topic = match (h.staff_chat, h.thread) {
                (Some(c), Some(t)) => crate::domain::routing::topic_link(c, t as i32),
                _ => None,
            };
            out.push(json!({ "id": id.0, "customer": h.lead.customer, "topic": topic }));
        }
    }
    Ok(out)
}

/// Build the digest of `kind` due at `due`.
pub async fn build(app: &App, kind: Kind, due: i64) -> anyhow::Result<Built> {
    let now = app.clock.now_ms();
    let due_local = app.local(due);
    let ((a, b), (pa, pb)) = digest::periods(kind, due_local);
    let (from, to, pfrom, pto) = (app.instant(a), app.instant(b), app.instant(pa), app.instant(pb));
    let cur = app.store.report_leads(from, to, None).await?;
    let prev = app.store.report_leads(pfrom, pto, None).await?;
    let (cc, pc) = (by_channel(&cur), by_channel(&prev));
    let channels: Vec<Value> = crate::web::report::svg_channels()
        .iter()
        .filter(|(k, _, _)| cc.contains_key(*k) || pc.contains_key(*k))
        .map(|(k, name, _)| {
            let (n, p) = (cc.get(*k).copied().unwrap_or(0), pc.get(*k).copied().unwrap_or(0));
            json!({ "name": name, "count": n, "before": p, "change": change(n, p) })
        })
        .collect();
    let (p50, p90) = figures::p50_p90(&cur.iter().filter_map(|l| l.first_response_secs).collect::<Vec<_>>());
    let sla = i64::from(app.config.assignment.first_response_minutes) * 60;
    let users = app.store.list_users().await?;
    let mut managers = Vec::new();
    for u in users.iter().filter(|u| u.active && u.role == Role::Manager) {
        let mine: Vec<i64> =
            cur.iter().filter(|l| l.owner == Some(u.id)).filter_map(|l| l.first_response_secs).collect();
        let owned = cur.iter().filter(|l| l.owner == Some(u.id)).count();
        if owned == 0 {
            continue;
        }
        let (a, b) = figures::p50_p90(&mine);
        managers.push(json!({
            "name": u.name, "leads": owned,
            "p50": a.map(crate::domain::text::duration_short), "p90": b.map(crate::domain::text::duration_short),
            "breaches": mine.iter().filter(|s| **s > sla).count(),
        }));
    }
    let missed = app.store.report_missed_open(from, to, None).await?;
    let missed_prev = app.store.report_missed_open(pfrom, pto, None).await?;
    let missed_ids: Vec<LeadId> = missed.iter().filter_map(|m| m.lead).collect();
    let missed_named = named(app, missed_ids).await?;
    let cfg = &app.config;
    let mut stuck = Vec::new();
    let mut all_stuck = Vec::new();
    for stage in figures::PIPELINE.into_iter().filter(|s| s.is_open()) {
        let Some(before) = figures::stuck_before(stage, now, &cfg.assignment.stale_days, cfg.reports.stuck_days) else {
            continue;
        };
        all_stuck.push((stage, before));
        let n =
            app.store.lead_count(&LeadFilter { stuck: Some(vec![(stage, before)]), ..LeadFilter::default() }).await?;
        if n > 0 {
            stuck.push(json!({ "stage": app.templates.label("stage", stage.as_str(), stage.label()), "count": n }));
        }
    }
    let oldest = app
        .store
        .lead_list(
            &LeadFilter { stuck: Some(all_stuck), oldest_in_stage: true, ..LeadFilter::default() },
            0,
            NAMED as i64,
        )
        .await?;
    let oldest_ids: Vec<LeadId> = oldest.iter().map(|l| LeadId(l.id)).collect();
    let stuck_named = named(app, oldest_ids).await?;
    let sold = app.store.report_sold(from, to, None).await?;
    let sold_prev = app.store.report_sold(pfrom, pto, None).await?;
    let lost = app.store.report_entered(Stage::Lost, from, to, None).await?;
    let reasons = app.store.lost_reasons(&lost.iter().map(|m| m.lead).collect::<Vec<_>>()).await?;
    let lost_reasons: Vec<Value> = figures::lost_by_reason(reasons.values().map(|r| r.as_deref()))
        .into_iter()
        .map(|(r, n)| {
            let shown = if r.is_empty() { "no reason given".to_string() } else { app.templates.label("lost", &r, &r) };
            json!({ "reason": shown, "count": n })
        })
        .collect();
    let to_review =
        app.store.calls_to_review(now - 7 * 86_400_000, crate::staff::commands::MIN_REVIEW_TALK_S, 500).await?.len();
    // With AI scoring leads: the five hottest open leads, each with its reasons.
    let mut hot = Vec::new();
    if app.ai.as_ref().is_some_and(|ai| ai.on(crate::domain::ai::Feature::HotScores)) {
        let top = app.store.top_hot_leads(NAMED as i64).await?;
        let named_top = named(app, top.iter().map(|(l, _)| *l).collect()).await?;
        for (mut v, (_, s)) in named_top.into_iter().zip(top) {
            v["score"] = json!(s.score);
            v["reasons"] = json!(s.reasons.join("; "));
            hot.push(v);
        }
    }
    let link = app.config.public_url.as_deref().map(|u| {
        let (d1, d2) = (a.date(), (b - chrono::Duration::seconds(1)).date());
        format!("{u}/reports?period=custom&from={d1}&to={d2}")
    });
    let ctx = minijinja::context! {
        kind => kind.as_str(),
        from => a.format("%d.%m %H:%M").to_string(),
        to => b.format("%d.%m %H:%M").to_string(),
        total => cur.len(),
        total_before => prev.len(),
        total_change => change(cur.len() as i64, prev.len() as i64),
        channels => minijinja::value::Serde(&channels),
        p50 => p50.map(crate::domain::text::duration_short),
        p90 => p90.map(crate::domain::text::duration_short),
        sla_minutes => app.config.assignment.first_response_minutes,
        managers => minijinja::value::Serde(&managers),
        missed => missed.len(),
        missed_before => missed_prev.len(),
        missed_named => minijinja::value::Serde(&missed_named),
        stuck => minijinja::value::Serde(&stuck),
        stuck_named => minijinja::value::Serde(&stuck_named),
        sold => sold.len(),
        sold_before => sold_prev.len(),
        lost => lost.len(),
        lost_reasons => minijinja::value::Serde(&lost_reasons),
        to_review => to_review,
        hot => minijinja::value::Serde(&hot),
        link => link.clone(),
    };
    let text = app.templates.render("staff/digest.txt", ctx)?;
    // The chart: the 14 local days up to the digest's last day.
    let last = (b - chrono::Duration::seconds(1)).date();
    let first = last - chrono::Duration::days(CHART_DAYS - 1);
    let (cfrom, cto) = (
        app.instant(first.and_hms_opt(0, 0, 0).expect("midnight")),
        app.instant((last + chrono::Duration::days(1)).and_hms_opt(0, 0, 0).expect("midnight")),
    );
    let leads = app.store.report_leads(cfrom, cto, None).await?;
    let days: Vec<chrono::NaiveDate> = (0..CHART_DAYS).map(|i| first + chrono::Duration::days(i)).collect();
    let mut counts = vec![[0i64; 6]; days.len()];
    for l in &leads {
        let d = app.local(l.created_at).date();
        if let (Some(i), Some(c)) = (
            days.iter().position(|x| *x == d),
            crate::web::report::svg_channels().iter().position(|c| c.0 == l.channel),
        ) {
            counts[i][c] += 1;
        }
    }
    let title = format!("New leads per day, {} – {}", first.format("%d.%m"), last.format("%d.%m.%Y"));
    let chart = chart::leads_per_day(&days, &counts, &title)?;
    Ok(Built { text, link, chart })
}

/// The job: send a digest's chart or its text to one chat.
pub async fn send(
    app: &Arc<App>,
    kind: Kind,
    due: i64,
    (chat, thread): (i64, Option<i32>),
    chart: bool,
) -> anyhow::Result<Outcome> {
    let bot = &app.staff_bot;
    if let Err(until) = app.limiter.acquire(bot.slot, chat, app.clock.now_ms()) {
        return Ok(Outcome::WaitUntil(until));
    }
    let built = build(app, kind, due).await?;
    let sent = if chart {
        let caption = app.templates.render("staff/digest_chart.txt", minijinja::context! { kind => kind.as_str() })?;
        bot.api
            .send_media(
                chat,
                thread,
                MessageKind::Photo,
                &FileRef::Bytes(built.chart, "leads.png".into()),
                Some(&caption),
            )
            .await
            .map(|_| ())
    } else {
        let keyboard =
            built.link.as_deref().filter(|l| l.starts_with("https://")).map(|l| {
                vec![vec![(app.templates.label("button", "open_report", "📊 Open the reports"), url_button(l))]]
            });
        bot.api.send_text(chat, thread, &built.text, keyboard.as_ref()).await.map(|_| ())
    };
    match sent {
        Ok(()) => Ok(Outcome::Done),
        Err(e) => Ok(super::topic::failure(app, chat, e)),
    }
}

/// `forecourt digest send`: build the digest for the period ending now and send it at once
/// to `to` (a Telegram id) or to every recipient. Returns who got it.
pub async fn send_now(app: &Arc<App>, kind: Kind, to: Option<i64>) -> anyhow::Result<Vec<i64>> {
    let now = app.clock.now_ms();
    let due = now - now % 60_000;
    let who = match to {
        Some(t) => vec![(t, None)],
        None => recipients(app).await?,
    };
    let built = build(app, kind, due).await?;
    let caption = app.templates.render("staff/digest_chart.txt", minijinja::context! { kind => kind.as_str() })?;
    let mut sent = Vec::new();
    for (chat, thread) in who {
        let file = FileRef::Bytes(built.chart.clone(), "leads.png".into());
        app.staff_bot.api.send_media(chat, thread, MessageKind::Photo, &file, Some(&caption)).await?;
        app.staff_bot.api.send_text(chat, thread, &built.text, None).await?;
        sent.push(chat);
    }
    Ok(sent)
}
