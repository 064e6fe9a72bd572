//! The dashboard: a period's headline figures against the period before, leads per day by
//! channel, the cumulative funnel and lost reasons, the people table, channels and sources,
//! stuck leads and the stock. Rows from `store`, figures from `domain::report`; every number
//! is a link to the leads behind it.

use super::page::{self, dur, Viewer};
use super::svg::{self, DayBar, FunnelBar, CHANNELS};
use super::{range, today, Query};
use crate::context::App;
use crate::domain::report::{self as figures, Span, PIPELINE};
use crate::domain::{LeadId, Stage, UserId};
use crate::store::{LeadFilter, PeriodLead, StageMove, StoreError};
use axum::extract::{Query as Q, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub async fn dashboard(State(app): State<Arc<App>>, headers: HeaderMap, Q(q): Q<Query>) -> Response {
    let v = match page::viewer(&app, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let span = match Span::parse(q.period.as_deref(), q.from.as_deref(), q.to.as_deref()) {
        Ok(s) => s,
        Err(why) => {
            return page::render(
                &app,
                StatusCode::BAD_REQUEST,
                "web/plain.html",
                minijinja::context! { what => "bad_query", why => why, status => 400 },
            )
        }
    };
    match build(&app, &v, span).await {
        Ok(ctx) => page::render(&app, StatusCode::OK, "web/dashboard.html", ctx),
        Err(e) => page::failed(&app, "building the dashboard", &e),
    }
}

/// One period's rows.
struct Period {
    leads: Vec<PeriodLead>,
    sold: Vec<StageMove>,
    missed: usize,
}

async fn period(app: &App, from: i64, to: i64, only: Option<UserId>) -> Result<Period, StoreError> {
    let (leads, sold, missed) = tokio::try_join!(
        app.store.report_leads(from, to, only),
        app.store.report_sold(from, to, only),
        app.store.report_missed_open(from, to, only),
    )?;
    Ok(Period { leads, sold, missed: missed.len() })
}

fn responses(leads: &[PeriodLead]) -> Vec<i64> {
    leads.iter().filter_map(|l| l.first_response_secs).collect()
}

/// A headline figure with its change.
fn headline(
    key: &str,
    label: &str,
    shown: (String, String),
    now: Option<f64>,
    before: Option<f64>,
    href: Option<String>,
    lower_is_better: bool,
) -> Value {
    let pct = figures::change_pct(now, before);
    json!({
        "key": key,
        "label": label,
        "value": shown.0,
        "was": shown.1,
        "href": href,
        "change": pct.map(|p| format!("{}{:.0}%", if p > 0.0 { "+" } else { "" }, p)),
        "good": pct.map(|p| if lower_is_better { p < 0.0 } else { p > 0.0 }),
    })
}

fn pct(r: Option<f64>) -> String {
    r.map(|r| format!("{:.1}%", r * 100.0)).unwrap_or_else(|| "—".into())
}

pub async fn build(app: &App, v: &Viewer, span: Span) -> Result<minijinja::Value, StoreError> {
    let now = app.clock.now_ms();
    let only = v.only();
    let days = span.days(today(app));
    let (from, to) = range(app, days);
    let (pfrom, pto) = range(app, days.previous());
    // The reads do not depend on each other: they run at once (PostgreSQL serves them in
    // parallel; SQLite in WAL mode reads on several connections).
    let (cur, prev, moves, people, sources, stock, users) = tokio::try_join!(
        period(app, from, to, only),
        period(app, pfrom, pto, only),
        app.store.report_stage_moves(from, to, only),
        app.store.report_people(from, to, now),
        app.store.report_call_sources(from, to, only),
        app.store.report_stock(),
        app.store.list_users(),
    )?;
    let q = Query {
        period: Some(span.key().to_string()),
        from: matches!(span, Span::Custom(..)).then(|| days.first.to_string()),
        to: matches!(span, Span::Custom(..)).then(|| days.last().to_string()),
        ..Query::default()
    };

    // Headline figures.
    let (p50, p90) = figures::p50_p90(&responses(&cur.leads));
    let (pp50, pp90) = figures::p50_p90(&responses(&prev.leads));
    let n = |x: usize| Some(x as f64);
    let secs = |x: Option<i64>| x.map(|s| s as f64);
    let conv = figures::ratio(cur.sold.len() as i64, cur.leads.len() as i64);
    let pconv = figures::ratio(prev.sold.len() as i64, prev.leads.len() as i64);
    let heads = vec![
        headline(
            "new",
            "New leads",
            (cur.leads.len().to_string(), prev.leads.len().to_string()),
            n(cur.leads.len()),
            n(prev.leads.len()),
            Some(q.link(|_| {})),
            false,
        ),
        headline(
            "p50",
            "First response p50",
            (dur(p50), dur(pp50)),
            secs(p50),
            secs(pp50),
            Some(q.link(|l| l.responded = Some("1".into()))),
            true,
        ),
        headline(
            "p90",
            "First response p90",
            (dur(p90), dur(pp90)),
            secs(p90),
            secs(pp90),
            Some(q.link(|l| l.responded = Some("1".into()))),
            true,
        ),
        headline(
            "missed",
            "Missed calls not called back",
            (cur.missed.to_string(), prev.missed.to_string()),
            n(cur.missed),
            n(prev.missed),
            Some(q.link(|l| l.by = Some("missed".into()))),
            true,
        ),
        headline(
            "sold",
            "Sold",
            (cur.sold.len().to_string(), prev.sold.len().to_string()),
            n(cur.sold.len()),
            n(prev.sold.len()),
            Some(q.link(|l| l.by = Some("sold".into()))),
            false,
        ),
        headline(
            "conversion",
            "Conversion",
            (pct(conv), pct(pconv)),
            conv,
            pconv,
            Some(q.link(|l| l.by = Some("sold".into()))),
            false,
        ),
    ];

    // Leads per day by channel.
    let mut per_day: BTreeMap<chrono::NaiveDate, [i64; 6]> = days.iter().map(|d| (d, [0; 6])).collect();
    for l in &cur.leads {
        if let (Some(day), Some(c)) =
            (per_day.get_mut(&app.local(l.created_at).date()), CHANNELS.iter().position(|c| c.0 == l.channel))
        {
            day[c] += 1;
        }
    }
    let bars: Vec<DayBar> = per_day
        .iter()
        .map(|(d, counts)| {
            let parts: Vec<String> =
                CHANNELS.iter().zip(counts).filter(|(_, n)| **n > 0).map(|(c, n)| format!("{} {n}", c.1)).collect();
            DayBar {
                label: d.format("%d.%m").to_string(),
                title: format!(
                    "{}: {} leads{}",
                    d.format("%a %d %b"),
                    counts.iter().sum::<i64>(),
                    if parts.is_empty() { String::new() } else { format!(" ({})", parts.join(", ")) }
                ),
                href: format!("/reports/leads?period=custom&from={d}&to={d}"),
                counts: *counts,
            }
        })
        .collect();
    let per_day_svg = svg::stacked_days(&bars, "New leads per day, by channel");

    // The cumulative funnel.
    let mut reached: HashMap<LeadId, Vec<Stage>> = HashMap::new();
    for m in moves {
        reached.entry(m.lead).or_default().push(m.stage);
    }
    let furthest: Vec<Stage> =
        cur.leads.iter().map(|l| figures::furthest(l.stage, reached.get(&l.id).cloned().unwrap_or_default())).collect();
    let steps = figures::funnel(furthest);
    let label = |s: Stage| app.templates.label("stage", s.as_str(), s.label());
    let funnel_svg = svg::funnel(
        &steps
            .iter()
            .map(|s| FunnelBar {
                label: label(s.stage),
                count: s.reached,
                href: q.link(|l| l.reached = Some(s.stage.as_str().into())),
            })
            .collect::<Vec<_>>(),
        "Leads that reached each stage",
    );
    let funnel_rows: Vec<Value> = steps
        .iter()
        .map(|s| {
            json!({
                "key": s.stage.as_str(),
                "stage": label(s.stage),
                "reached": s.reached,
                "href": q.link(|l| l.reached = Some(s.stage.as_str().into())),
                "dropped": s.dropped,
                "kept": s.kept.map(|k| pct(Some(k))),
            })
        })
        .collect();
    let lost: Vec<Value> = figures::lost_by_reason(
        cur.leads.iter().filter(|l| l.stage == Stage::Lost).map(|l| l.lost_reason.as_deref()),
    )
    .into_iter()
    .map(|(reason, n)| {
        let shown = if reason.is_empty() { "no reason given".to_string() } else { app.templates.label("lost", &reason, &reason) };
        json!({ "reason": shown, "count": n, "href": q.link(|l| { l.stage = Some("lost".into()); l.lost_reason = Some(reason.clone()); }) })
    })
    .collect();

    // People.
    let mut rows = Vec::new();
    for u in users.iter().filter(|u| u.active && (v.sees_all() || u.id == v.user.id)) {
        let mine: Vec<&PeriodLead> = cur.leads.iter().filter(|l| l.owner == Some(u.id)).collect();
        let f = people.get(&u.id).cloned().unwrap_or_default();
        if u.role != crate::domain::Role::Manager && mine.is_empty() && f.replies == 0 && f.answered == 0 {
            continue;
        }
        let (a, b) = figures::p50_p90(&mine.iter().filter_map(|l| l.first_response_secs).collect::<Vec<_>>());
        let sold = cur.sold.iter().filter(|s| s.owner == Some(u.id)).count() as i64;
        let id = u.id.0.to_string();
        rows.push(json!({
            "name": u.name,
            "leads": mine.len(),
            "leads_href": q.link(|l| l.owner = Some(id.clone())),
            "p50": dur(a),
            "p90": dur(b),
            "replies": f.replies,
            "answered": f.answered,
            "missed": f.missed,
            "overdue": f.overdue,
            "sold": sold,
            "sold_href": q.link(|l| { l.owner = Some(id.clone()); l.by = Some("sold".into()); }),
            "conversion": pct(figures::ratio(sold, mine.len() as i64)),
            "score": (f.scored > 0).then(|| format!("{:.0}", f.score_sum as f64 / f.scored as f64)),
            "scored": f.scored,
        }));
    }
    let unowned = cur.leads.iter().filter(|l| l.owner.is_none()).count();

    // Channels and sources.
    let total = cur.leads.len() as i64;
    let channels: Vec<Value> = CHANNELS
        .iter()
        .map(|(key, name, colour)| {
            let of: Vec<&PeriodLead> = cur.leads.iter().filter(|l| l.channel == *key).collect();
            let sold = of.iter().filter(|l| l.stage == Stage::Sold).count() as i64;
            json!({
                "name": name, "colour": colour, "leads": of.len(),
                "href": q.link(|l| l.channel = Some((*key).into())),
                "share": pct(figures::ratio(of.len() as i64, total)),
                "sold": sold,
                "sold_href": q.link(|l| { l.channel = Some((*key).into()); l.stage = Some("sold".into()); }),
            })
        })
        .filter(|c| c["leads"].as_u64().unwrap_or(0) > 0)
        .collect();
    let mut pools: BTreeMap<String, i64> = BTreeMap::new();
    let mut utms: BTreeMap<String, i64> = BTreeMap::new();
    for s in &sources {
        *pools.entry(s.pool.clone().unwrap_or_default()).or_default() += 1;
        *utms.entry(s.utm_source.clone().unwrap_or_default()).or_default() += 1;
    }
    let grouped = |m: BTreeMap<String, i64>, pool: bool| -> Vec<Value> {
        let mut v: Vec<(String, i64)> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.into_iter()
            .map(|(k, n)| {
                let href = q.link(|l| if pool { l.pool = Some(k.clone()) } else { l.utm = Some(k.clone()) });
                json!({ "name": if k.is_empty() { "—".to_string() } else { k }, "leads": n, "href": href })
            })
            .collect()
    };
    let pools = grouped(pools, true);
    let utms = grouped(utms, false);

    // Stuck leads (now, whatever the period).
    let cfg = &app.config;
    let mut all_stuck = Vec::new();
    for stage in PIPELINE.into_iter().filter(|s| s.is_open()) {
        if let Some(before) = figures::stuck_before(stage, now, &cfg.assignment.stale_days, cfg.reports.stuck_days) {
            all_stuck.push((stage, before));
        }
    }
    let counts = futures_util::future::try_join_all(all_stuck.iter().map(|(stage, before)| {
        let f = LeadFilter { only, stuck: Some(vec![(*stage, *before)]), ..LeadFilter::default() };
        async move { app.store.lead_count(&f).await }
    }));
    // The longest waiting: each stage's ten oldest by the (is_open, stage, stage_since)
    // index, then the ten oldest of those.
    let oldest = futures_util::future::try_join_all(all_stuck.iter().map(|(stage, before)| {
        let f =
            LeadFilter { only, stuck: Some(vec![(*stage, *before)]), oldest_in_stage: true, ..LeadFilter::default() };
        async move { app.store.lead_list(&f, 0, 10).await }
    }));
    let (counts, oldest) = tokio::try_join!(counts, oldest)?;
    let mut oldest: Vec<_> = oldest.into_iter().flatten().collect();
    oldest.sort_by_key(|l| (l.stage_since, l.id));
    oldest.truncate(10);
    let stuck_rows: Vec<Value> = all_stuck
        .iter()
        .zip(counts)
        .map(|((stage, _), count)| {
            let days = figures::stuck_after_days(*stage, &cfg.assignment.stale_days, cfg.reports.stuck_days);
            json!({
                "stage": label(*stage), "days": days, "count": count,
                "href": format!("/reports/leads?stuck=1&stage={}", stage.as_str()),
            })
        })
        .collect();
    let stage_label = |s: &str| Stage::parse(s).map(label).unwrap_or_else(|| s.to_string());
    let oldest: Vec<Value> = oldest
        .iter()
        .map(|l| {
            json!({
                "id": l.id, "customer": l.customer, "stage": stage_label(&l.stage), "owner": l.owner,
                "days": figures::whole_days(l.stage_since, now),
            })
        })
        .collect();

    // The stock.
    let stock_rows: Vec<Value> = ["available", "reserved", "sold", "archived"]
        .iter()
        .map(|status| {
            let of: Vec<i64> = stock
                .iter()
                .filter(|r| r.status == *status)
                .map(|r| {
                    let end = if matches!(*status, "available" | "reserved") { now } else { r.updated_at };
                    figures::whole_days(r.created_at, end)
                })
                .collect();
            json!({
                "status": status,
                "count": of.len(),
                "avg": (!of.is_empty()).then(|| format!("{:.0}", of.iter().sum::<i64>() as f64 / of.len() as f64)),
                "max": of.iter().max(),
            })
        })
        .collect();

    Ok(minijinja::context! {
        me => v.ctx(),
        period => span.key(),
        from => days.first.to_string(),
        to => days.last().to_string(),
        period_label => format!("{} – {}", days.first.format("%d.%m.%Y"), days.last().format("%d.%m.%Y")),
        previous_label => format!("{} – {}", days.previous().first.format("%d.%m.%Y"), days.previous().last().format("%d.%m.%Y")),
        heads => minijinja::value::Serde(&heads),
        per_day_svg => minijinja::Value::from_safe_string(per_day_svg),
        legend => minijinja::value::Serde(&CHANNELS.iter().map(|c| json!({"name": c.1, "colour": c.2})).collect::<Vec<_>>()),
        funnel_svg => minijinja::Value::from_safe_string(funnel_svg),
        funnel => minijinja::value::Serde(&funnel_rows),
        lost => minijinja::value::Serde(&lost),
        people => minijinja::value::Serde(&rows),
        unowned => unowned,
        unowned_href => q.link(|l| l.owner = Some("none".into())),
        channels => minijinja::value::Serde(&channels),
        pools => minijinja::value::Serde(&pools),
        utms => minijinja::value::Serde(&utms),
        stuck => minijinja::value::Serde(&stuck_rows),
        oldest => minijinja::value::Serde(&oldest),
        stock => minijinja::value::Serde(&stock_rows),
    })
}
