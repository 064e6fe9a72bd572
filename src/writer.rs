//! Batching writers: requests that arrive together are handed to one task per shard, which
//! takes whatever is waiting (up to a batch) and processes it at once — one transaction and
//! one commit for many webhooks — then answers each request. The processing is given when
//! the writers start (`app` wires it), so this module knows no handler. Requests with the
//! same shard key go to the same writer, in order.
//!
//! `ingest::Inbox` is the older, message-specific form of the same idea.

use crate::supervise::Supervisor;
use std::future::Future;
use std::sync::Mutex;
use tokio::sync::{mpsc, oneshot};

struct Item<T, R> {
    value: T,
    reply: oneshot::Sender<Result<R, String>>,
}

/// The senders to the writers, and (until they start) their receivers.
pub struct Batcher<T, R> {
    senders: Vec<mpsc::Sender<Item<T, R>>>,
    receivers: Mutex<Vec<mpsc::Receiver<Item<T, R>>>>,
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// `shards` writers, each holding up to `capacity` waiting requests.
    pub fn new(shards: usize, capacity: usize) -> Batcher<T, R> {
        let (senders, receivers) = (0..shards.max(1)).map(|_| mpsc::channel(capacity.max(1))).unzip();
        Batcher { senders, receivers: Mutex::new(receivers) }
    }

    /// Start the writers: each takes up to `max` waiting requests and hands them to `f`,
    /// which returns one result per request, in order. Once only: later calls do nothing.
    pub fn start<F, Fut>(&self, name: &'static str, supervisor: &Supervisor, max: usize, f: F)
    where
        F: Fn(Vec<T>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Vec<Result<R, String>>> + Send + 'static,
    {
        let receivers = std::mem::take(&mut *self.receivers.lock().expect("writer lock"));
        for mut rx in receivers {
            let f = f.clone();
            supervisor.spawn(name, async move {
                let mut batch = Vec::with_capacity(max);
                while rx.recv_many(&mut batch, max.max(1)).await > 0 {
                    let (values, replies): (Vec<T>, Vec<_>) = batch.drain(..).map(|i| (i.value, i.reply)).unzip();
                    let n = values.len();
                    let mut results = f(values).await.into_iter();
                    for reply in replies {
                        let r = results.next().unwrap_or_else(|| Err(format!("the writer answered fewer than {n}")));
                        let _ = reply.send(r);
                    }
                }
            });
        }
    }

    /// Hand a request to the writer of `shard` and wait for its result.
    pub async fn submit(&self, shard: u64, value: T) -> Result<R, String> {
        let writer = &self.senders[(shard % self.senders.len() as u64) as usize];
        let (reply, rx) = oneshot::channel();
        writer.send(Item { value, reply }).await.map_err(|_| "the writer has stopped".to_string())?;
        rx.await.map_err(|_| "the writer has stopped".to_string())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_are_answered_in_order_and_batched() {
        let b: std::sync::Arc<Batcher<u32, u32>> = std::sync::Arc::new(Batcher::new(2, 64));
        let sizes = std::sync::Arc::new(Mutex::new(Vec::new()));
        let s = sizes.clone();
        b.start("test writer", &Supervisor::default(), 16, move |vs: Vec<u32>| {
            let s = s.clone();
            async move {
                s.lock().unwrap().push(vs.len());
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                vs.into_iter().map(|v| if v == 13 { Err("unlucky".to_string()) } else { Ok(v * 2) }).collect()
            }
        });
        let mut tasks = Vec::new();
        for v in 0..40u32 {
            let b = b.clone();
            tasks.push(tokio::spawn(async move { (v, b.submit(u64::from(v % 2), v).await) }));
        }
        for t in tasks {
            let (v, r) = t.await.unwrap();
            if v == 13 {
                assert_eq!(r, Err("unlucky".to_string()));
            } else {
                assert_eq!(r, Ok(v * 2));
            }
        }
        let sizes = sizes.lock().unwrap();
        assert_eq!(sizes.iter().sum::<usize>(), 40);
        assert!(sizes.iter().any(|n| *n > 1), "requests waiting together are processed together: {sizes:?}");
    }
}
