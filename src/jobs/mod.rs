//! The job runner: claims due jobs from the database (the outbox), runs them, and records
//! the outcome — done, wait for a rate limit, retry with backoff, or park after too many
//! failures. Parked jobs stay visible (`forecourt jobs`) and are never dropped.
//! Jobs that share a queue key run one at a time, in order.

pub mod limits;

use crate::app::App;
use crate::store::{JobKind, JobRow};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tracing::{debug, error, info_span, warn, Instrument};

/// What a job body decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Finished; the row is removed.
    Done,
    /// A rate limit: run again at this time; not a failed attempt.
    WaitUntil(i64),
    /// Failed; try again with backoff (parked after the configured attempts).
    Retry(String),
    /// Cannot succeed; keep it for an admin.
    Park(String),
}

/// Backoff after the n-th failed attempt: 1 s, 2 s, 4 s … capped at 10 minutes.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = (attempts.max(1) - 1).min(20) as u32;
    (1_000i64 << exp).min(600_000)
}

async fn run_body(app: &Arc<App>, job: &JobRow) -> Outcome {
    let result = match job.kind {
        JobKind::TopicSync => crate::staff::topic::sync(app, job).await,
        JobKind::Deliver => crate::staff::deliver::deliver(app, job).await,
        JobKind::StaffReply => crate::staff::replies::staff_reply(app, job).await,
        JobKind::AnswerCallback => crate::staff::replies::answer_callback(app, job).await,
        JobKind::MediaFetch => crate::media::fetch(app, job).await,
        JobKind::ErpPush => crate::web::erp::push(app, job).await,
        JobKind::VehiclePhoto => crate::staff::photos::keep(app, job).await,
        JobKind::StaffPhotos => crate::staff::photos::post(app, job).await,
        JobKind::Flow => crate::flows::run::one(app, job).await,
        JobKind::FlowTimers => crate::flows::run::timers(app, job).await,
        JobKind::FlowUpload => crate::flows::admin::check_upload(app, job).await,
    };
    result.unwrap_or_else(|e| Outcome::Retry(format!("{e:#}")))
}

/// Run one claimed job and record its outcome.
pub async fn run_job(app: &Arc<App>, job: JobRow) {
    let span =
        info_span!("job", id = job.id.0, kind = job.kind.as_str(), queue = %job.queue_key, attempt = job.attempts);
    async {
        let outcome = run_body(app, &job).await;
        record(app, &job, &outcome).await;
    }
    .instrument(span)
    .await
}

/// Write a job's outcome: remove it, reschedule it, or park it.
pub async fn record(app: &Arc<App>, job: &JobRow, outcome: &Outcome) {
    {
        let now = app.clock.now_ms();
        let store = &app.store;
        let recorded = match &outcome {
            Outcome::Done => store.finish_job(job.id).await,
            Outcome::WaitUntil(at) => {
                debug!(until = at, "waiting for a rate limit");
                store.reschedule_job(job.id, (*at).max(now), None, false, now).await
            }
            Outcome::Retry(err) if job.attempts >= app.config.jobs.max_attempts => {
                error!(error = %err, "job failed too often; parked");
                crate::staff::on_parked(app, job, err).await;
                store.park_job(job.id, err, now).await
            }
            Outcome::Retry(err) => {
                let at = now + backoff_ms(job.attempts);
                warn!(error = %err, retry_at = at, "job failed; will retry");
                store.reschedule_job(job.id, at, Some(err), true, now).await
            }
            Outcome::Park(err) => {
                error!(error = %err, "job cannot succeed; parked");
                crate::staff::on_parked(app, job, err).await;
                store.park_job(job.id, err, now).await
            }
        };
        if let Err(e) = recorded {
            // The lease will expire and the job will run again: safe, if late.
            error!(error = %e, "could not record a job's outcome");
        }
    }
}

/// Claim and run every job due now, one after another; returns how many ran. Tests and
/// the bench use it to drain the queue without sleeping.
pub async fn run_once(app: &Arc<App>) -> anyhow::Result<usize> {
    let mut ran = 0;
    loop {
        let jobs = app.store.claim_jobs(app.clock.now_ms(), lease_ms(app), 32).await?;
        if jobs.is_empty() {
            return Ok(ran);
        }
        for job in jobs {
            run_job(app, job).await;
            ran += 1;
        }
    }
}

/// A claim's lease: two real minutes, whatever the clock's speed.
fn lease_ms(app: &App) -> i64 {
    (120_000.0 * app.clock.speed()) as i64
}

/// What one worker runs: a job, a batch of topic syncs, or a batch of flow jobs.
enum Work {
    One(JobRow),
    TopicSyncs(Vec<JobRow>),
    Flows(Vec<JobRow>),
}

/// Share claimed jobs out: every job that is not a topic sync or a flow job on its own;
/// the topic syncs spread over the free workers in batches (so a few syncs still run side
/// by side); the flow jobs in batches of up to `flows::run::BATCH` (one transaction each).
fn batches(claimed: Vec<JobRow>, workers: usize) -> Vec<Work> {
    let (flows, claimed): (Vec<JobRow>, Vec<JobRow>) = claimed.into_iter().partition(|j| j.kind == JobKind::Flow);
    let (syncs, others): (Vec<JobRow>, Vec<JobRow>) = claimed.into_iter().partition(|j| j.kind == JobKind::TopicSync);
    let mut out: Vec<Work> = others.into_iter().map(Work::One).collect();
    let mut flows = flows.into_iter().peekable();
    while flows.peek().is_some() {
        out.push(Work::Flows(flows.by_ref().take(crate::flows::run::BATCH).collect()));
    }
    if !syncs.is_empty() {
        let per = syncs.len().div_ceil(workers.max(1)).clamp(1, crate::staff::batch::BATCH);
        let mut syncs = syncs.into_iter().peekable();
        while syncs.peek().is_some() {
            out.push(Work::TopicSyncs(syncs.by_ref().take(per).collect()));
        }
    }
    out
}

/// The worker loop: up to `jobs.workers` jobs at once, until shutdown.
pub async fn run(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(app.config.jobs.workers));
    let mut next_release = 0;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let now = app.clock.now_ms();
        if now >= next_release {
            // Claims of a crashed worker come back after their lease; no need to look often.
            if let Err(e) = app.store.release_expired_jobs(now).await {
                error!(error = %e, "could not release expired job claims");
            }
            next_release = now + (5_000.0 * app.clock.speed()) as i64;
        }
        let free = permits.available_permits() as i64;
        // Topic syncs are run in batches (one worker each), so claim enough for that.
        let limit = free * crate::staff::batch::BATCH as i64;
        let claimed = if free > 0 {
            match app.store.claim_due_jobs(now, lease_ms(&app), limit).await {
                Ok(j) => j,
                Err(e) => {
                    error!(error = %e, "could not claim jobs");
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        let got = claimed.len();
        for work in batches(claimed, free as usize) {
            let permit = permits.clone().acquire_owned().await.expect("semaphore is never closed");
            let app = app.clone();
            tokio::spawn(async move {
                match work {
                    Work::One(job) => run_job(&app, job).await,
                    Work::TopicSyncs(jobs) => crate::staff::batch::sync_many(&app, jobs).await,
                    Work::Flows(jobs) => crate::flows::run::process_jobs(&app, jobs).await,
                }
                drop(permit);
                app.wake.notify_one();
            });
        }
        if got > 0 && permits.available_permits() == 0 {
            // Busy: wait for a worker to come free.
            tokio::select! {
                _ = app.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let idle = match app.store.next_job_due().await {
            Ok(Some(due)) => app.clock.real_until(due).min(Duration::from_millis(500)),
            _ => Duration::from_millis(500),
        };
        if got > 0 && idle.is_zero() {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            _ = app.wake.notified() => {}
            _ = tokio::time::sleep(idle.max(Duration::from_millis(2))) => {}
            _ = shutdown.changed() => {}
        }
    }
    // Let running jobs finish (they hold all permits when done).
    let _ = tokio::time::timeout(Duration::from_secs(10), permits.acquire_many(app.config.jobs.workers as u32)).await;
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_ms(1), 1_000);
        assert_eq!(backoff_ms(2), 2_000);
        assert_eq!(backoff_ms(5), 16_000);
        assert_eq!(backoff_ms(40), 600_000);
        assert_eq!(backoff_ms(0), 1_000);
    }
}
