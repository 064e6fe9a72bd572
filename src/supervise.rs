//! Watched tasks: every long-running task is spawned through a [`Supervisor`], so that a
//! task that panics, or returns while the program is not shutting down, is logged with why
//! and reported; `forecourt run` then exits non-zero for its own supervisor (systemd,
//! Docker, Kubernetes) to restart it. The program never lives on half-working: a webhook
//! service whose job workers died would acknowledge messages nobody will ever send.

use std::future::Future;
use std::sync::Mutex;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::error;

/// Spawns watched tasks and hears of their deaths.
pub struct Supervisor {
    died: mpsc::UnboundedSender<String>,
    deaths: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
    stopping: watch::Sender<bool>,
}

impl Default for Supervisor {
    fn default() -> Self {
        let (died, deaths) = mpsc::unbounded_channel();
        Supervisor { died, deaths: Mutex::new(Some(deaths)), stopping: watch::channel(false).0 }
    }
}

/// Aborts the task it holds when dropped, so aborting the watcher aborts the task too.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Supervisor {
    /// Spawn `task`, watched. Returning is expected only once [`Supervisor::stopping`]
    /// was called; a panic never is.
    pub fn spawn(&self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) -> JoinHandle<()> {
        let inner = AbortOnDrop(tokio::spawn(task));
        let died = self.died.clone();
        let stopping = self.stopping.subscribe();
        tokio::spawn(async move {
            let mut inner = inner;
            let why = match (&mut inner.0).await {
                Ok(()) if *stopping.borrow() => return,
                Ok(()) => format!("the {name} task ended while the program was running"),
                Err(e) if e.is_cancelled() => return,
                Err(e) => {
                    let panic = e.into_panic();
                    let msg = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "no message".into());
                    format!("the {name} task panicked: {msg}")
                }
            };
            error!(task = name, why, "a long-running task died");
            let _ = died.send(why);
        })
    }

    /// The program is shutting down: tasks that return now are expected to.
    pub fn stopping(&self) {
        self.stopping.send_replace(true);
    }

    /// Wait for the first task to die; `None` if deaths are already being waited for
    /// elsewhere (there is one listener).
    pub async fn first_death(&self) -> Option<String> {
        let rx = self.deaths.lock().expect("the deaths lock is never poisoned").take();
        let mut rx = rx?;
        rx.recv().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_or_an_early_return_is_reported_and_a_stop_is_not() {
        let s = Supervisor::default();
        s.spawn("quiet", std::future::pending());
        s.spawn("panicky", async { panic!("kaput") });
        let why = s.first_death().await.unwrap();
        assert!(why.contains("panicky") && why.contains("kaput"), "{why}");

        let s = Supervisor::default();
        s.spawn("short", async {});
        assert!(s.first_death().await.unwrap().contains("ended while the program was running"));

        let s = Supervisor::default();
        s.stopping();
        let h = s.spawn("done", async {});
        h.await.unwrap();
        let quiet = tokio::time::timeout(std::time::Duration::from_millis(50), s.first_death()).await;
        assert!(quiet.is_err(), "a task that returns on shutdown is not a death");
    }
}
