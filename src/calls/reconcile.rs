//! Reconciliation with Ringostat's call log: Ringostat retries a failed webhook only three
//! times, so every hour the calls of the windows since the last pass are asked of its API
//! (`calls/list`) and stored like webhook events — a call already stored changes nothing.
//!
//! The cursor (`kv` `ringostat.reconciled_to`, unix ms) moves only past windows the API
//! answered: a window that failed is asked again next time. A window that comes back at
//! Ringostat's cap (6,500 calls) is split in halves and asked again, so none is cut short.

use crate::channels::telephony::ringostat::{self, RingostatApi, LIST_CAP};
use crate::channels::telephony::ReadContext;
use crate::context::App;
use crate::jobs::{Job, Outcome};
use crate::store::NewJob;
use std::sync::Arc;
use tracing::{info, warn};

const HOUR_MS: i64 = 3_600_000;
/// How often the job runs.
pub const EVERY_MS: i64 = HOUR_MS;
/// Calls younger than this are left to their webhooks (a call still going on, or its
/// "ended" webhook on its way).
const SETTLE_MS: i64 = 10 * 60_000;
/// The first pass, and one after a long outage, looks back at most this far.
const FIRST_LOOKBACK_MS: i64 = 24 * HOUR_MS;
const MAX_LOOKBACK_MS: i64 = 7 * 24 * HOUR_MS;
/// The shortest window split for the cap; one that still overflows is taken as it is.
const MIN_WINDOW_MS: i64 = 60_000;

const CURSOR: &str = "ringostat.reconciled_to";

/// The recurring job.
pub fn job(run_at: i64) -> NewJob {
    Job::CallReconcile.into_new("call_reconcile".into(), Some("call_reconcile".into()), run_at)
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    /// Calls in the log.
    pub seen: usize,
    /// Calls (or their final state) that only the log brought.
    pub added: usize,
    /// Rows that did not read (logged, skipped).
    pub unreadable: usize,
    /// Where the pass got to: the end of the last window answered.
    pub reached: i64,
    /// The window that failed, if one did, and why.
    pub failed: Option<String>,
}

fn api(app: &App) -> Option<RingostatApi> {
    let key = app.config.calls.ringostat_api_key.as_ref()?;
    Some(RingostatApi::new(app.http.clone(), &app.config.calls.ringostat_api_url, key.expose()))
}

/// The job: a pass from the cursor to (almost) now, then again in an hour.
pub async fn run(app: &Arc<App>) -> anyhow::Result<Outcome> {
    let now = app.clock.now_ms();
    let next = Outcome::WaitUntil(now + EVERY_MS);
    if api(app).is_none() {
        return Ok(Outcome::Done);
    }
    let cursor = app.store.kv_get(CURSOR).await?.and_then(|v| v.parse::<i64>().ok());
    let to = now - SETTLE_MS;
    let from = cursor.unwrap_or(now - FIRST_LOOKBACK_MS).max(now - MAX_LOOKBACK_MS);
    if from >= to {
        return Ok(next);
    }
    let p = pass(app, from, to).await?;
    if p.reached > from {
        app.store.kv_set(CURSOR, &p.reached.to_string()).await?;
    }
    match &p.failed {
        Some(why) => {
            warn!(why, reached = p.reached, "call reconciliation stopped at a window Ringostat did not answer")
        }
        None if p.added > 0 => info!(seen = p.seen, added = p.added, "call reconciliation filled in missed webhooks"),
        None => {}
    }
    Ok(next)
}

/// Ask the log for [from, to) in windows of an hour and store what it has. Stops at the
/// first window that fails; `reached` says how far it got.
pub async fn pass(app: &App, from: i64, to: i64) -> anyhow::Result<Pass> {
    let Some(api) = api(app) else {
        anyhow::bail!("FORECOURT_RINGOSTAT_API_KEY is not set: there is no call log to ask");
    };
    let mut p = Pass { reached: from, ..Pass::default() };
    let mut windows: Vec<(i64, i64)> = Vec::new();
    let mut t = from;
    while t < to {
        windows.push((t, (t + HOUR_MS).min(to)));
        t += HOUR_MS;
    }
    // Depth-first, in time order: a split window's halves come before the next window.
    windows.reverse();
    while let Some((a, b)) = windows.pop() {
        let body = match api.list(a, b, app.config.timezone).await {
            Ok(b) => b,
            Err(e) => {
                p.failed = Some(format!("{} – {}: {e}", app.local_time(a, true), app.local_time(b, true)));
                return Ok(p);
            }
        };
        let cx = ReadContext { key: &app.phones, timezone: app.config.timezone };
        let rows = match ringostat::read_list(&body, &cx) {
            Ok(r) => r,
            Err(e) => {
                p.failed = Some(format!("{} – {}: {e}", app.local_time(a, true), app.local_time(b, true)));
                return Ok(p);
            }
        };
        if rows.len() >= LIST_CAP && b - a > MIN_WINDOW_MS {
            let mid = a + (b - a) / 2;
            windows.push((mid, b));
            windows.push((a, mid));
            continue;
        }
        for row in rows {
            p.seen += 1;
            match row {
                Ok(ev) => {
                    if crate::calls::record(app, &ev).await?.changed {
                        p.added += 1;
                    }
                }
                Err(e) => {
                    p.unreadable += 1;
                    warn!(error = %e, "a call in Ringostat's log does not read; skipped");
                }
            }
        }
        p.reached = b;
    }
    Ok(p)
}
