//! The job runner: claims due jobs from the database (the outbox), hands them to a
//! [`Dispatch`] (the program's is `crate::worker`), and records what each body decided —
//! done, wait for a rate limit, retry with backoff, or park after too many failures. Parked
//! jobs stay visible (`forecourt jobs`) and are never dropped. Jobs that share a queue key
//! run one at a time, in order.
//!
//! Poison work cannot loop: a body that panics is caught and counted as a failed attempt
//! with the panic's message; a claim whose lease runs out (a worker that died or hung) has
//! used its attempt too, and is parked once the attempts are spent. Knows the store and the
//! clock; knows nothing of Telegram, the staff side or any handler.

pub mod job;
pub mod limits;

pub use job::Job;

use crate::clock::Clock;
use crate::domain::JobId;
use crate::store::{JobKind, JobRow, Lane, Store};
use futures_util::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify, Semaphore};
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

/// How claimed jobs of a kind are handed to the dispatcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batching {
    /// Each job on its own.
    One,
    /// Spread over the free workers, at most this many in a batch (so a few batches still
    /// run side by side): the topic syncs.
    Spread(usize),
    /// In batches of up to this many (one transaction each): the flow jobs.
    Fixed(usize),
}

/// What the program's job bodies are: the runner calls them and records their outcomes.
pub trait Dispatch: Send + Sync + 'static {
    /// How this kind's jobs are batched.
    fn batching(&self, kind: JobKind) -> Batching;
    /// Run claimed jobs (one, or a batch of one kind) and say what each one decided.
    fn run(&self, jobs: Vec<JobRow>) -> impl Future<Output = Vec<(JobRow, Outcome)>> + Send;
    /// A job is about to be parked: tell the people who need to know.
    fn parked(&self, job: &JobRow, error: &str) -> impl Future<Output = ()> + Send;
}

/// The runner's settings.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Jobs (or batches) run at once.
    pub workers: usize,
    /// Failed attempts before a job is parked.
    pub max_attempts: i64,
    /// The jobs this runner claims (`None`: every job).
    pub lane: Option<crate::store::Lane>,
}

/// The runner: a store to claim from, a clock, a dispatcher.
pub struct Runner<D> {
    store: Store,
    clock: Clock,
    settings: Settings,
    dispatch: Arc<D>,
    /// Poked whenever jobs are enqueued, so workers start at once.
    wake: Arc<Notify>,
}

/// Claims are committed before any work, so a batch is claimed for each free worker.
const CLAIM_PER_WORKER: i64 = 32;

impl<D: Dispatch> Runner<D> {
    pub fn new(store: Store, clock: Clock, settings: Settings, dispatch: Arc<D>, wake: Arc<Notify>) -> Runner<D> {
        Runner { store, clock, settings, dispatch, wake }
    }

    /// A claim's lease: two real minutes, whatever the clock's speed.
    fn lease_ms(&self) -> i64 {
        (120_000.0 * self.clock.speed()) as i64
    }

    /// Run jobs through the dispatcher with a panic caught: every job of a body that
    /// panicked is a failed attempt whose error is the panic's message.
    async fn run_guarded(&self, jobs: Vec<JobRow>) -> Vec<(JobRow, Outcome)> {
        let span = match jobs.as_slice() {
            [] => return Vec::new(),
            [j] => info_span!("job", id = j.id.0, kind = j.kind.as_str(), queue = %j.queue_key, attempt = j.attempts,
                lead = j.payload["lead"].as_i64()),
            [j, ..] => {
                let leads: Vec<i64> = jobs.iter().filter_map(|j| j.payload["lead"].as_i64()).collect();
                info_span!("jobs", kind = j.kind.as_str(), count = jobs.len(), leads = ?leads)
            }
        };
        let copies = jobs.clone();
        match AssertUnwindSafe(self.dispatch.run(jobs).instrument(span.clone())).catch_unwind().await {
            Ok(outcomes) => outcomes,
            Err(panic) => {
                let why = panic_message(&*panic);
                span.in_scope(|| error!(panic = %why, jobs = copies.len(), "a job body panicked"));
                copies.into_iter().map(|j| (j, Outcome::Retry(format!("the job panicked: {why}")))).collect()
            }
        }
    }

    /// Write the outcomes: finished jobs removed and rate-limit waits rescheduled in one
    /// statement each; failures retried with backoff or parked one by one.
    pub async fn record(&self, outcomes: Vec<(JobRow, Outcome)>) {
        let now = self.clock.now_ms();
        let mut done: Vec<JobId> = Vec::new();
        let mut waits: Vec<(JobId, i64)> = Vec::new();
        for (job, outcome) in outcomes {
            let span = info_span!(
                "job",
                id = job.id.0,
                kind = job.kind.as_str(),
                attempt = job.attempts,
                lead = job.payload["lead"].as_i64()
            );
            let recorded = match outcome {
                Outcome::Done => {
                    done.push(job.id);
                    Ok(())
                }
                Outcome::WaitUntil(at) => {
                    span.in_scope(|| debug!(until = at, "waiting for a rate limit"));
                    waits.push((job.id, at.max(now)));
                    Ok(())
                }
                Outcome::Retry(err) if job.attempts >= self.settings.max_attempts => {
                    span.in_scope(|| error!(error = %err, "job failed too often; parked"));
                    self.park(&job, &err, now).await
                }
                Outcome::Retry(err) => {
                    let at = now + backoff_ms(job.attempts);
                    span.in_scope(|| warn!(error = %err, retry_at = at, "job failed; will retry"));
                    self.store.reschedule_job(job.id, at, Some(&err), true, now).await
                }
                Outcome::Park(err) => {
                    span.in_scope(|| error!(error = %err, "job cannot succeed; parked"));
                    self.park(&job, &err, now).await
                }
            };
            if let Err(e) = recorded {
                // The lease will expire and the job will run again: safe, if late.
                error!(job = job.id.0, error = %e, "could not record a job's outcome");
            }
        }
        // A busy database can refuse a write for a moment; without these two the jobs stay
        // claimed until their leases run out, two minutes later. So each is tried a few
        // times before it is left to the lease.
        if let Err(e) = persist(|| self.store.finish_jobs(&done)).await {
            warn!(error = %e, jobs = done.len(), "could not remove finished jobs (they run again, with nothing to do)");
        }
        if let Err(e) = persist(|| self.store.reschedule_waits(&waits, now)).await {
            warn!(error = %e, jobs = waits.len(), "could not reschedule waiting jobs (their leases bring them back)");
        }
    }

    async fn park(&self, job: &JobRow, err: &str, now: i64) -> crate::store::Result<()> {
        self.dispatch.parked(job, err).await;
        self.store.park_job(job.id, err, now).await
    }

    /// Release expired claims; those out of attempts are parked, and said.
    async fn release_expired(&self, now: i64) {
        match self.store.release_expired_jobs(now, self.settings.max_attempts).await {
            Ok(released) => {
                // A lease runs out only when a worker died or hung: say which work it was.
                for job in &released.put_back {
                    warn!(job = job.id.0, kind = job.kind.as_str(), attempt = job.attempts, queue = %job.queue_key,
                        "a job's claim ran out before its outcome was recorded; it is put back");
                }
                for job in released.parked {
                    error!(job = job.id.0, kind = job.kind.as_str(), "a job kept stopping its worker; parked");
                    self.dispatch.parked(&job, job.last_error.as_deref().unwrap_or("")).await;
                }
            }
            Err(e) => error!(error = %e, "could not release expired job claims"),
        }
    }

    /// Claim and run every job due now, one batch after another; returns how many ran.
    /// Tests and the benches use it to drain the queue without sleeping.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let mut ran = 0;
        loop {
            let now = self.clock.now_ms();
            self.release_expired(now).await;
            let jobs = self.store.claim_lane(now, self.lease_ms(), CLAIM_PER_WORKER, self.settings.lane).await?;
            if jobs.is_empty() {
                return Ok(ran);
            }
            ran += jobs.len();
            for work in batches(self.dispatch.as_ref(), jobs, 1) {
                let outcomes = self.run_guarded(work).await;
                self.record(outcomes).await;
            }
        }
    }

    /// The worker loop: up to `workers` jobs (or batches) at once, until shutdown. The AI
    /// lane's loop and jobs run as background work (`store::background`): their database
    /// writes wait for every other writer.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        let background = self.settings.lane == Some(Lane::Ai);
        crate::store::background(background, self.run_loop(shutdown, background)).await
    }

    async fn run_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>, background: bool) {
        let workers = self.settings.workers.max(1);
        let permits = Arc::new(Semaphore::new(workers));
        let mut next_release = 0;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let now = self.clock.now_ms();
            if now >= next_release {
                // Claims of a crashed worker come back after their lease; no need to look often.
                self.release_expired(now).await;
                next_release = now + (5_000.0 * self.clock.speed()) as i64;
            }
            let free = permits.available_permits() as i64;
            if free == 0 {
                // Every worker is busy: nothing can be claimed until one comes free, and it
                // says so on `wake`. (Asking the database when the next job is due meanwhile
                // polled it every 2 ms whenever due work waited: the AI lane's workers, all
                // waiting to write behind a busy bridge, did so for as long as it was busy.)
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            // The AI lane claims a job per free worker and no more: each is one request, and a
            // job claimed ahead of a free worker would go before a draft asked for after it.
            let per_worker = if self.settings.lane == Some(Lane::Ai) { 1 } else { CLAIM_PER_WORKER };
            let claimed = match self.store.claim_lane(now, self.lease_ms(), free * per_worker, self.settings.lane).await
            {
                Ok(j) => j,
                Err(e) => {
                    error!(error = %e, "could not claim jobs");
                    Vec::new()
                }
            };
            let got = claimed.len();
            for work in batches(self.dispatch.as_ref(), claimed, free as usize) {
                let permit = permits.clone().acquire_owned().await.expect("semaphore is never closed");
                let me = self.clone();
                tokio::spawn(crate::store::background(background, async move {
                    let outcomes = me.run_guarded(work).await;
                    me.record(outcomes).await;
                    drop(permit);
                    me.wake.notify_one();
                }));
            }
            if got > 0 && permits.available_permits() == 0 {
                continue; // busy: the loop's top waits for a worker to come free
            }
            let idle = match self.store.next_due_in(self.settings.lane).await {
                Ok(Some(due)) => self.clock.real_until(due).min(Duration::from_millis(500)),
                _ => Duration::from_millis(500),
            };
            if got > 0 && idle.is_zero() {
                tokio::task::yield_now().await;
                continue;
            }
            // Nothing claimed though a job is due: it waits behind a running job of its queue,
            // which pokes `wake` when it is done (or another instance took it). Claiming again
            // every 2 ms meanwhile took the write gate 500 times a second for nothing.
            let idle = if got == 0 && idle.is_zero() { Duration::from_millis(50) } else { idle };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(idle.max(Duration::from_millis(2))) => {}
                _ = shutdown.changed() => {}
            }
        }
        // Let running jobs finish (they hold all permits when done).
        let _ = tokio::time::timeout(Duration::from_secs(10), permits.acquire_many(workers as u32)).await;
    }
}

/// Tries for recording outcomes, and the pause before the n-th retry (real time).
const RECORD_TRIES: u32 = 4;
const RECORD_PAUSE: Duration = Duration::from_millis(50);

/// Run a store write until it succeeds, up to [`RECORD_TRIES`] times with a growing pause.
async fn persist<F, Fut>(write: F) -> crate::store::Result<()>
where
    F: Fn() -> Fut,
    Fut: Future<Output = crate::store::Result<()>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match write().await {
            Ok(()) => return Ok(()),
            Err(e) if tries >= RECORD_TRIES => return Err(e),
            Err(e) => {
                debug!(error = %e, tries, "recording job outcomes failed; trying again");
                tokio::time::sleep(RECORD_PAUSE * tries).await;
            }
        }
    }
}

/// A panic's message, whatever it carried.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// Share claimed jobs out by their kind's batching: single jobs on their own; `Fixed`
/// kinds in batches of that size; `Spread` kinds over the free workers.
fn batches<D: Dispatch>(dispatch: &D, claimed: Vec<JobRow>, workers: usize) -> Vec<Vec<JobRow>> {
    let mut out = Vec::new();
    let mut groups: Vec<(JobKind, Batching, Vec<JobRow>)> = Vec::new();
    for job in claimed {
        match dispatch.batching(job.kind) {
            Batching::One => out.push(vec![job]),
            b => match groups.iter_mut().find(|(k, _, _)| *k == job.kind) {
                Some((_, _, g)) => g.push(job),
                None => groups.push((job.kind, b, vec![job])),
            },
        }
    }
    for (_, batching, jobs) in groups {
        let per = match batching {
            Batching::Fixed(n) => n.max(1),
            Batching::Spread(max) => jobs.len().div_ceil(workers.max(1)).clamp(1, max.max(1)),
            Batching::One => 1,
        };
        let mut jobs = jobs.into_iter().peekable();
        while jobs.peek().is_some() {
            out.push(jobs.by_ref().take(per).collect());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn recording_is_tried_again_after_a_refused_write_and_gives_up_after_its_tries() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let calls = AtomicU32::new(0);
        let refused_twice = persist(|| async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(crate::store::StoreError::NotFound),
                _ => Ok(()),
            }
        })
        .await;
        assert!(refused_twice.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let calls = AtomicU32::new(0);
        let always = persist(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(crate::store::StoreError::NotFound)
        })
        .await;
        assert!(always.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), RECORD_TRIES);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_ms(1), 1_000);
        assert_eq!(backoff_ms(2), 2_000);
        assert_eq!(backoff_ms(5), 16_000);
        assert_eq!(backoff_ms(40), 600_000);
        assert_eq!(backoff_ms(0), 1_000);
    }

    #[test]
    fn panic_messages_are_read_from_either_payload() {
        assert_eq!(panic_message(&"boom"), "boom");
        assert_eq!(panic_message(&String::from("kaput")), "kaput");
        assert_eq!(panic_message(&42u8), "a panic without a message");
    }
}
