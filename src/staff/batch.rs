//! The topic sync's hot path, batched. When many leads' topics wait at once (a busy morning,
//! limits permitting), the common case — a lead whose topic and card are up to date and
//! whose waiting messages make one plain text message — is done for a whole batch of jobs
//! with a handful of statements: the leads in one query, their waiting messages in one,
//! the sends at the same time, the posted marks in one, and the jobs finished (or put back
//! to wait for the card's preview) in one. Every other lead, and any send that fails, goes
//! through the full per-lead sync in `staff::topic`, which handles topics, cards, files,
//! albums and errors; nothing here decides differently from it.

use super::segments::{segments, Segment};
use crate::context::App;
use crate::domain::topic_plan::{self, Preview, Topic};
use crate::domain::{LeadId, MessageRowId};
use crate::jobs::Outcome;
use crate::store::{JobRow, LeadRow, StaffPending};
use std::collections::HashMap;
use std::sync::Arc;
use tracing::{debug, warn};

/// At most this many topic syncs are claimed for one batch.
pub const BATCH: usize = 32;

/// One lead's share of the batch: a single text to post into its topic.
struct Post {
    job: JobRow,
    plan: Planned,
}

/// What the hot path will post for a lead.
struct Planned {
    chat: i64,
    thread: i32,
    ids: Vec<MessageRowId>,
    text: String,
    /// When the card's preview line may be refreshed, if it is behind.
    preview_at: Option<i64>,
}

/// Run a batch of claimed topic sync jobs; returns each one's outcome (the runner records
/// them: the finished ones in one statement, the waits in another).
pub async fn sync_many(app: &Arc<App>, jobs: Vec<JobRow>) -> Vec<(JobRow, Outcome)> {
    if jobs.len() == 1 {
        return one_by_one(app, jobs).await;
    }
    let ids: Vec<LeadId> = jobs.iter().filter_map(lead_of).collect();
    let read = async {
        Ok::<_, crate::store::StoreError>((app.store.leads(&ids).await?, app.store.staff_pending_of(&ids).await?))
    };
    let (leads, pending) = match read.await {
        Ok(x) => x,
        Err(e) => {
            warn!(error = %e, "batched topic sync could not read its leads; syncing one by one");
            return one_by_one(app, jobs).await;
        }
    };
    let leads: HashMap<i64, LeadRow> = leads.into_iter().map(|l| (l.id.0, l)).collect();
    let mut waiting: HashMap<i64, Vec<StaffPending>> = HashMap::new();
    for (lead, m) in pending {
        waiting.entry(lead.0).or_default().push(m);
    }
    let now = app.clock.now_ms();
    let mut posts = Vec::new();
    let mut slow = Vec::new();
    for job in jobs {
        let lead = lead_of(&job).and_then(|l| leads.get(&l.0));
        let plan = lead.and_then(|l| plan(app, l, waiting.get(&l.id.0).map(Vec::as_slice).unwrap_or(&[]), now));
        match plan {
            Some(plan) => posts.push(Post { job, plan }),
            None => slow.push(job),
        }
    }
    let bot = &app.staff_bot;
    let sends = posts.iter().map(|p| bot.api.send_text(p.plan.chat, Some(p.plan.thread), &p.plan.text, None));
    let results = futures_util::future::join_all(sends).await;
    let mut posted = Vec::new();
    let mut done = Vec::new();
    let mut waits = Vec::new();
    for (p, r) in posts.into_iter().zip(results) {
        match r {
            Ok(m) => {
                posted.extend(p.plan.ids.iter().map(|id| (*id, m)));
                match p.plan.preview_at {
                    Some(at) => waits.push((p.job, at)),
                    None => done.push(p.job),
                }
            }
            Err(e) => {
                // The full sync deals with it (a deleted or closed topic, a 429, …).
                debug!(lead = ?lead_of(&p.job), error = %e, "batched send failed; syncing the lead alone");
                slow.push(p.job);
            }
        }
    }
    let mut outcomes = Vec::new();
    if let Err(e) = app.store.mark_posted_as(&posted).await {
        // Not marked: the next sync would post them again. Keep the jobs so it happens
        // once the database answers, as for any failed job.
        warn!(error = %e, "could not mark posted messages");
        for job in done.into_iter().chain(waits.into_iter().map(|(j, _)| j)) {
            outcomes.push((job, Outcome::Retry(format!("marking posted messages: {e}"))));
        }
    } else {
        for job in done {
            if let Some(l) = lead_of(&job) {
                app.topic_holds.remove(&l.0);
            }
            outcomes.push((job, Outcome::Done));
        }
        outcomes.extend(waits.into_iter().map(|(j, at)| (j, Outcome::WaitUntil(at))));
    }
    outcomes.extend(one_by_one(app, slow).await);
    outcomes
}

/// The full per-lead sync for each job.
async fn one_by_one(app: &Arc<App>, jobs: Vec<JobRow>) -> Vec<(JobRow, Outcome)> {
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        let outcome = match lead_of(&job) {
            Some(lead) => super::topic::sync(app, lead).await.unwrap_or_else(|e| Outcome::Retry(format!("{e:#}"))),
            None => Outcome::Park("a topic sync whose payload does not read".into()),
        };
        out.push((job, outcome));
    }
    out
}

/// The lead a topic sync job is for.
fn lead_of(job: &JobRow) -> Option<LeadId> {
    match crate::jobs::Job::read(job) {
        Ok(crate::jobs::Job::TopicSync { lead }) => Some(lead),
        _ => None,
    }
}

/// Whether a lead is the hot case, and what to post: the topic plan
/// (`domain::topic_plan`) says only its waiting messages need posting, they merge into one
/// plain text, and the group has budget now (taken here).
fn plan(app: &App, lead: &LeadRow, pending: &[StaffPending], now: i64) -> Option<Planned> {
    let plan = topic_plan::plan(&super::topic::facts(app, lead, pending, now));
    let Topic::Ready { chat, thread } = plan.topic else { return None };
    if !plan.is_only_posting() {
        return None;
    }
    let (mut segs, album_wait) = segments(app, lead.id, pending, now).ok()?;
    if album_wait.is_some() || segs.len() != 1 {
        return None;
    }
    let Some(Segment::Text { ids, text, keyboard: None, placeholders, .. }) = segs.pop() else { return None };
    if !placeholders.is_empty() || ids.len() != pending.len() {
        return None;
    }
    app.limiter.acquire(app.staff_bot.slot, chat, now).ok()?;
    let preview_at = match plan.preview {
        Preview::Current => None,
        Preview::AfterQuiet(at) => Some(at),
        // Quiet already: the per-lead sync refreshes it (budget permitting) right after.
        Preview::Refresh => Some(now),
    };
    Some(Planned { chat, thread, ids, text, preview_at })
}
