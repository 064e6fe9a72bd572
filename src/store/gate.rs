//! SQLite's write gate: one writer at a time, taken in the process before SQLite's own lock,
//! so writers wait their turn here (woken the moment the previous one is done) instead of
//! sleeping in SQLite's busy handler. Inbound messages go first: a writer that stores what a
//! customer just sent (a webhook, a poll batch) is let in before every job worker already
//! waiting, because the messenger waits for its answer. Among writers of one kind, first come,
//! first served. Background writers (the AI lane's) go last: only when nobody else waits, so
//! advice never holds up the bridge. Knows nothing of SQL.

use std::collections::VecDeque;
use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Notify};

/// Who may go first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Storing inbound messages: ahead of everything else.
    Inbound,
    /// Everything else, in order.
    Other,
    /// Work nobody waits for (AI advice): only when no other writer is waiting.
    Background,
}

#[derive(Debug, Default)]
struct State {
    held: bool,
    /// Where the current holder took the gate (for the log of a writer that waited too long).
    holder: Option<&'static Location<'static>>,
    inbound: VecDeque<oneshot::Sender<Held>>,
    other: VecDeque<oneshot::Sender<Held>>,
    background: VecDeque<oneshot::Sender<Held>>,
}

#[derive(Debug, Clone, Default)]
pub struct Gate {
    state: Arc<Mutex<State>>,
}

/// The gate, held; dropping it lets the next writer in.
#[derive(Debug)]
pub struct Held {
    state: Arc<Mutex<State>>,
    /// False for one handed to a writer that had given up: dropping it does nothing.
    armed: bool,
    /// Who took it and when: a writer that holds it long is named in the log.
    at: Option<&'static Location<'static>>,
    since: Instant,
}

/// A writer that holds the gate this long is logged at debug level (every other writer waits
/// meanwhile), and at warn level from `SLOW_HOLD_WARN`.
const SLOW_HOLD: Duration = Duration::from_millis(50);
const SLOW_HOLD_WARN: Duration = Duration::from_secs(1);

/// A writer waited longer than it may: where the holder took the gate, if known.
#[derive(Debug)]
pub struct Waited {
    pub holder: Option<&'static Location<'static>>,
}

impl Gate {
    /// Take the gate for the writer at `at`, waiting at most `limit`.
    pub async fn take(&self, turn: Turn, at: &'static Location<'static>, limit: Duration) -> Result<Held, Waited> {
        let rx = {
            let mut s = self.state.lock().expect("the gate's lock is never poisoned");
            if !s.held {
                s.held = true;
                s.holder = Some(at);
                return Ok(Held { state: self.state.clone(), armed: true, at: Some(at), since: Instant::now() });
            }
            let (tx, rx) = oneshot::channel();
            match turn {
                Turn::Inbound => s.inbound.push_back(tx),
                Turn::Other => s.other.push_back(tx),
                Turn::Background => s.background.push_back(tx),
            }
            rx
        };
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(mut held)) => {
                if let Ok(mut s) = self.state.lock() {
                    s.holder = Some(at);
                }
                (held.at, held.since) = (Some(at), Instant::now());
                Ok(held)
            }
            // Timed out (the queued sender stays behind: a release skips it, as its
            // receiver is gone), or the gate was dropped.
            _ => Err(Waited { holder: self.state.lock().ok().and_then(|s| s.holder) }),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let held = self.since.elapsed();
        if held >= SLOW_HOLD {
            let (writer, ms) = (self.at.map(|a| a.to_string()).unwrap_or_default(), held.as_millis() as u64);
            if held >= SLOW_HOLD_WARN {
                tracing::warn!(%writer, ms, "a writer held the database's write gate for long: every other writer waited");
            } else {
                tracing::debug!(%writer, ms, "a writer held the database's write gate");
            }
        }
        let mut s = match self.state.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        // Hand the gate straight to the next writer still waiting, inbound first, background last.
        loop {
            let Some(next) = s.inbound.pop_front().or_else(|| s.other.pop_front()).or_else(|| s.background.pop_front())
            else {
                s.held = false;
                s.holder = None;
                return;
            };
            let handed = Held { state: self.state.clone(), armed: true, at: None, since: Instant::now() };
            match next.send(handed) {
                Ok(()) => return,
                // That writer gave up waiting: its `Held` comes back, disarmed (dropping an
                // armed one would take this lock again), and the next one is tried.
                Err(mut back) => back.armed = false,
            }
        }
    }
}

/// What a writer holds while it writes: SQLite's gate, or on PostgreSQL its place among the
/// writers at work (a background writer there holds nothing).
#[derive(Debug)]
pub enum Pass {
    Gate(#[allow(dead_code, reason = "held for its drop")] Held),
    AtWork(#[allow(dead_code, reason = "held for its drop")] AtWork),
    Background,
}

/// PostgreSQL's counterpart of the gate: writers run side by side there, so none waits for
/// another, but a background writer first waits for a lull — a moment when no other writer
/// is at work — or at most `limit`, then goes anyway.
#[derive(Debug, Clone, Default)]
pub struct Lull {
    at_work: Arc<AtomicUsize>,
    idle: Arc<Notify>,
}

/// A writer at work; dropping it may start a lull.
#[derive(Debug)]
pub struct AtWork(Lull);

impl Lull {
    pub fn enter(&self) -> AtWork {
        self.at_work.fetch_add(1, Ordering::SeqCst);
        AtWork(self.clone())
    }

    pub async fn wait(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            // Registered before the count is read, so a lull that starts in between wakes it.
            let idle = self.idle.notified();
            if self.at_work.load(Ordering::SeqCst) == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return;
            }
        }
    }
}

impl Drop for AtWork {
    fn drop(&mut self) {
        if self.0.at_work.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn one_writer_at_a_time_and_the_next_goes_in_when_it_is_done() {
        let gate = Gate::default();
        let first = gate.take(Turn::Other, Location::caller(), LONG).await.unwrap();
        let g = gate.clone();
        let second = tokio::spawn(async move { g.take(Turn::Other, Location::caller(), LONG).await.is_ok() });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!second.is_finished(), "the second writer waits while the first holds the gate");
        drop(first);
        assert!(second.await.unwrap(), "and goes in once the first is done");
        // Nobody holds it now: taken at once.
        let again = tokio::time::timeout(Duration::from_millis(100), gate.take(Turn::Other, Location::caller(), LONG));
        assert!(again.await.is_ok());
    }

    #[tokio::test]
    async fn inbound_goes_first_background_last_and_each_kind_keeps_its_order() {
        let gate = Gate::default();
        let holder = gate.take(Turn::Other, Location::caller(), LONG).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, turn) in [
            ("ai 1", Turn::Background),
            ("job 1", Turn::Other),
            ("ai 2", Turn::Background),
            ("job 2", Turn::Other),
            ("inbound 1", Turn::Inbound),
            ("inbound 2", Turn::Inbound),
        ] {
            let (g, o) = (gate.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let held = g.take(turn, Location::caller(), LONG).await.unwrap();
                o.lock().unwrap().push(name);
                tokio::time::sleep(Duration::from_millis(5)).await;
                drop(held);
            }));
            // Queue them in this order.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(holder);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec!["inbound 1", "inbound 2", "job 1", "job 2", "ai 1", "ai 2"]);
    }

    #[tokio::test]
    async fn a_background_writer_waits_for_a_lull_or_its_limit() {
        let lull = Lull::default();
        // Nobody at work: at once.
        tokio::time::timeout(Duration::from_millis(100), lull.wait(LONG)).await.unwrap();
        let (a, b) = (lull.enter(), lull.enter());
        let l = lull.clone();
        let waiting = tokio::spawn(async move { l.wait(LONG).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(a);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "one writer is still at work");
        drop(b);
        tokio::time::timeout(Duration::from_millis(500), waiting).await.unwrap().unwrap();
        // Never a lull: it goes after its limit.
        let _busy = lull.enter();
        let started = std::time::Instant::now();
        lull.wait(Duration::from_millis(50)).await;
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[tokio::test]
    async fn a_writer_that_waits_too_long_is_told_who_holds_the_gate_and_is_skipped_later() {
        let gate = Gate::default();
        let at = Location::caller();
        let holder = gate.take(Turn::Other, at, LONG).await.unwrap();
        let waited = gate.take(Turn::Inbound, Location::caller(), Duration::from_millis(30)).await.unwrap_err();
        assert_eq!(waited.holder, Some(at));
        // The one that gave up is skipped: the next waiting writer gets the gate.
        let g = gate.clone();
        let next = tokio::spawn(async move { g.take(Turn::Other, Location::caller(), LONG).await.is_ok() });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(holder);
        assert!(next.await.unwrap());
        assert!(!gate.state.lock().unwrap().held, "and released when it was done");
    }
}
