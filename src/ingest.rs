//! Ingest: inbound customer messages stored in one transaction — dedupe on (channel,
//! external message id), find or create the customer by identity, attach to the customer's
//! open lead or open a new one, insert the message, enqueue the topic sync and, for files,
//! the media fetch. Only after the commit may the webhook be answered or the update offset
//! move on.
//!
//! Webhooks (Viber, WhatsApp) go through the [`Inbox`]: one writer task gathers whatever
//! requests are waiting and stores them in one transaction, so a burst costs a handful of
//! commits instead of one per request; each request is answered once its part is committed.

use crate::domain::LeadId;
use crate::store::{self, NewJob, Store, StoreError};
use dashmap::DashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

pub use crate::domain::message::Inbound;

/// How long the topic sync waits for the rest of an album before posting it.
pub const ALBUM_GRACE_MS: i64 = 1_500;

/// The dedupe key of a lead's topic sync job.
/// The job that assigns a new lead (`staff::assign`), one per lead.
pub fn assign_job(lead: LeadId, now: i64) -> NewJob {
    let key = format!("assign:{}", lead.0);
    crate::jobs::Job::Assign { lead }.into_new(key.clone(), Some(key), now)
}

pub fn topic_sync_job(lead: LeadId, run_at: i64) -> NewJob {
    let key = format!("topic:{}", lead.0);
    crate::jobs::Job::TopicSync { lead }.into_new(key.clone(), Some(key), run_at)
}

/// Make an inbound message safe to keep (`Inbound::sanitize`): names and texts cleaned, a
/// time stamp outside the sane window replaced by now and logged.
pub fn prepare(m: &mut Inbound, now: i64) {
    if let Some(reported) = m.sanitize(now) {
        warn!(
            channel = %m.channel,
            message = %m.external_message,
            reported,
            "a message's time stamp is not believable; kept as now"
        );
    }
}

/// Topic syncs waiting for Telegram's budget: lead id → when the sync may run (unix ms).
/// The topic sync records its wait here, and ingest does not wake it early: a burst into a
/// rate-limited group would otherwise wake the lead's sync for every message only to be
/// refused again. Per process; an instance that does not know a hold only wakes a sync early.
pub type TopicHolds = Arc<DashMap<i64, i64>>;

/// What follows a stored batch besides its topic syncs: the flows (one flow job per lead).
/// AI adds nothing here: its sweep finds the leads with new messages by itself, so the
/// bridge's transactions do not grow with it.
#[derive(Clone, Default)]
pub struct Follow {
    pub flows: bool,
}

/// Store a batch inside the caller's transaction: the messages, their topic syncs, a
/// media fetch for each file, and what `follow` asks for.
pub async fn store_batch(
    conn: &mut store::Conn,
    source: &str,
    items: &[store::BatchItem<'_>],
    now: i64,
    holds: &TopicHolds,
    follow: &Follow,
) -> Result<store::Stored, StoreError> {
    let stored = store::store_inbound_batch(conn, source, items, now, ALBUM_GRACE_MS, Some(holds)).await?;
    for s in &stored {
        if crate::media::keeps_file(s.kind) {
            store::jobs_enqueue(conn, &crate::media::fetch_job(s.message, now), now).await?;
        }
    }
    // A new lead is assigned (or waits in the queue with its silence timer running).
    let mut new_leads: Vec<LeadId> = stored.iter().filter(|s| s.new_lead).map(|s| s.lead).collect();
    new_leads.sort_unstable_by_key(|l| l.0);
    new_leads.dedup();
    for lead in new_leads {
        store::jobs_enqueue(conn, &assign_job(lead, now), now).await?;
    }
    let mut leads: Vec<LeadId> = stored.iter().map(|s| s.lead).collect();
    leads.sort_unstable_by_key(|l| l.0);
    leads.dedup();
    if follow.flows {
        store::enqueue_flow_jobs(conn, &leads, now).await?;
    }
    Ok(stored)
}

type Reply = oneshot::Sender<Result<(), String>>;

struct Request {
    items: Vec<Inbound>,
    now: i64,
    reply: Reply,
}

/// The batching writers for webhook messages. SQLite has one writer at a time anyway;
/// PostgreSQL commits several transactions at once, so it gets several writers, each
/// owning a share of the customers (by identity), so two writers never touch the same
/// customer's rows and a customer's messages keep their order.
#[derive(Clone)]
pub struct Inbox {
    writers: Vec<mpsc::Sender<Request>>,
}

/// What every writer shares.
#[derive(Clone)]
struct Writer {
    store: Store,
    holds: TopicHolds,
    follow: Follow,
    phones: WhatsappPhones,
}

/// WhatsApp customers' phone identities. A WhatsApp id is the customer's number, so a
/// WhatsApp customer gets the keyed hash of it (`customer_phones`) and a call from that
/// number finds them. Written once per customer per process (`known`).
#[derive(Clone)]
pub struct WhatsappPhones {
    key: crate::domain::phone::PhoneKey,
    known: Arc<DashMap<String, ()>>,
}

impl WhatsappPhones {
    pub fn new(key: crate::domain::phone::PhoneKey) -> WhatsappPhones {
        WhatsappPhones { key, known: Arc::default() }
    }

    /// Inside the batch's transaction: the phone identities of its WhatsApp senders not
    /// seen before. Returns them, to be marked known once committed.
    async fn add(
        &self,
        conn: &mut store::Conn,
        items: &[store::BatchItem<'_>],
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut added = Vec::new();
        for it in items.iter().map(|i| i.inbound).filter(|m| m.channel == crate::domain::Channel::Whatsapp) {
            let wa = &it.external_user;
            if self.known.contains_key(wa) || added.contains(wa) {
                continue;
            }
            if let Some(caller) = self.key.caller(wa) {
                store::add_identity_phone(conn, crate::domain::Channel::Whatsapp, wa, &caller, now).await?;
            }
            added.push(wa.clone());
        }
        Ok(added)
    }

    fn mark(&self, added: Vec<String>) {
        for wa in added {
            self.known.insert(wa, ());
        }
    }
}

/// Requests gathered into one transaction at most.
const INBOX_BATCH: usize = 256;

impl Inbox {
    pub fn start(
        store: Store,
        holds: TopicHolds,
        follow: Follow,
        phones: WhatsappPhones,
        supervisor: &crate::supervise::Supervisor,
    ) -> Inbox {
        let n = match store.engine() {
            store::Engine::Sqlite => 1,
            store::Engine::Postgres => 4,
        };
        let writers = (0..n)
            .map(|_| {
                let (tx, rx) = mpsc::channel(4 * INBOX_BATCH);
                supervisor.spawn(
                    "ingest writer",
                    writer(
                        Writer {
                            store: store.clone(),
                            holds: holds.clone(),
                            follow: follow.clone(),
                            phones: phones.clone(),
                        },
                        rx,
                    ),
                );
                tx
            })
            .collect();
        Inbox { writers }
    }

    /// Store these messages (duplicates are skipped); returns once they are committed.
    pub async fn store(&self, mut items: Vec<Inbound>, now: i64) -> Result<(), String> {
        for m in &mut items {
            prepare(m, now);
        }
        let Some(first) = items.first() else { return Ok(()) };
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (first.channel, &first.external_user).hash(&mut h);
        let writer = &self.writers[(h.finish() % self.writers.len() as u64) as usize];
        let (reply, rx) = oneshot::channel();
        writer.send(Request { items, now, reply }).await.map_err(|_| "the ingest writer has stopped".to_string())?;
        rx.await.map_err(|_| "the ingest writer has stopped".to_string())?
    }
}

async fn writer(w: Writer, mut rx: mpsc::Receiver<Request>) {
    let mut batch: Vec<Request> = Vec::with_capacity(INBOX_BATCH);
    while rx.recv_many(&mut batch, INBOX_BATCH).await > 0 {
        let now = batch.iter().map(|r| r.now).max().unwrap_or(0);
        match store_requests(&w, &batch, now).await {
            Ok(()) => {
                for r in batch.drain(..) {
                    let _ = r.reply.send(Ok(()));
                }
            }
            Err(e) => {
                // One bad request must not fail its neighbours: store each on its own.
                warn!(error = %e, requests = batch.len(), "a batched ingest failed; storing one by one");
                for r in batch.drain(..) {
                    let one = store_requests(&w, std::slice::from_ref(&r), r.now).await;
                    let _ = r.reply.send(one.map_err(|e| e.to_string()));
                }
            }
        }
    }
}

async fn store_requests(w: &Writer, reqs: &[Request], now: i64) -> Result<(), StoreError> {
    let items: Vec<store::BatchItem> =
        reqs.iter().flat_map(|r| r.items.iter()).map(|m| store::BatchItem { update_id: None, inbound: m }).collect();
    let started = std::time::Instant::now();
    let mut tx = w.store.begin_inbound().await?;
    store_batch(&mut tx, "", &items, now, &w.holds, &w.follow).await?;
    let phones = w.phones.add(&mut tx, &items, now).await?;
    tx.commit().await?;
    w.phones.mark(phones);
    tracing::debug!(messages = items.len(), took = ?started.elapsed(), "inbox batch committed");
    Ok(())
}
