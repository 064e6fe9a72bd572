//! Poison work: a job body that panics, a worker that dies or hangs mid-job. The real
//! runner over a real database (both engines) with a dispatcher whose bodies misbehave on
//! purpose: such work is counted, parked after the configured attempts, said to the
//! dispatcher, and never holds the rest of its queue.

use crate::harness::*;
use forecourt::clock::Clock;
use forecourt::jobs::{Batching, Dispatch, Outcome, Runner, Settings};
use forecourt::store::{JobKind, JobRow, NewJob, Store};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bodies that panic when their payload says so, and remember what ran.
#[derive(Default)]
struct Misbehaving {
    ran: Mutex<Vec<String>>,
    parked: Mutex<Vec<(String, String)>>,
}

impl Dispatch for Misbehaving {
    fn batching(&self, _kind: JobKind) -> Batching {
        Batching::One
    }

    async fn run(&self, jobs: Vec<JobRow>) -> Vec<(JobRow, Outcome)> {
        let mut out = Vec::new();
        for job in jobs {
            let name = job.payload["name"].as_str().unwrap_or("").to_string();
            if job.payload["panic"].as_bool() == Some(true) {
                panic!("poison payload {name}");
            }
            self.ran.lock().unwrap().push(name);
            out.push((job, Outcome::Done));
        }
        out
    }

    async fn parked(&self, job: &JobRow, error: &str) {
        let name = job.payload["name"].as_str().unwrap_or("").to_string();
        self.parked.lock().unwrap().push((name, error.to_string()));
    }
}

fn job(queue: &str, name: &str, panic: bool) -> NewJob {
    NewJob {
        kind: JobKind::StaffReply,
        payload: json!({ "name": name, "panic": panic }),
        queue_key: queue.into(),
        dedupe_key: None,
        run_at: 0,
    }
}

async fn store(db: Db, dir: &tempfile::TempDir) -> Store {
    init();
    let s = Store::connect(&fresh_database(db, dir.path()).await).await.unwrap();
    s.migrate().await.unwrap();
    s
}

on_both_engines!(
    a_panicking_job_is_parked_after_its_attempts_and_its_queue_moves_on,
    a_panicking_job_is_parked_on_postgres,
    panicking
);

async fn panicking(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let s = store(db, &dir).await;
    // Backoff is 1 s, 2 s …: a fast clock keeps the test short.
    let clock = Clock::with_speed(50.0);
    let now = clock.now_ms();
    s.enqueue(&job("q", "poison", true), now).await.unwrap();
    s.enqueue(&job("q", "after-poison", false), now).await.unwrap();
    s.enqueue(&job("other", "elsewhere", false), now).await.unwrap();
    let dispatch = Arc::new(Misbehaving::default());
    let runner = Arc::new(Runner::new(
        s.clone(),
        clock.clone(),
        Settings { workers: 2, max_attempts: 3, lane: None },
        dispatch.clone(),
        Default::default(),
    ));
    let (stop, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(runner.clone().run(rx));
    eventually("the poison job is parked and the next job of its queue ran", || {
        let (s, d) = (s.clone(), dispatch.clone());
        async move {
            let parked = s.parked_jobs().await.ok()?;
            let ran = d.ran.lock().unwrap().clone();
            (parked.len() == 1 && ran.contains(&"after-poison".to_string())).then_some(parked)
        }
    })
    .await;
    let _ = stop.send(true);
    task.await.unwrap();
    let parked = s.parked_jobs().await.unwrap();
    assert_eq!(parked[0].attempts, 3, "{db:?}: parked after the configured attempts");
    let error = parked[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("panicked") && error.contains("poison payload poison"), "{db:?}: {error}");
    assert!(dispatch.ran.lock().unwrap().contains(&"elsewhere".to_string()));
    assert_eq!(dispatch.parked.lock().unwrap().len(), 1, "{db:?}: the dispatcher was told once");
}

on_both_engines!(
    a_job_whose_worker_keeps_dying_is_parked_when_its_lease_runs_out,
    a_job_whose_worker_keeps_dying_on_postgres,
    dying
);

async fn dying(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let s = store(db, &dir).await;
    s.enqueue(&job("q", "hangs", false), 0).await.unwrap();
    s.enqueue(&job("q", "next", false), 0).await.unwrap();
    // Claimed three times, and each time the worker vanishes (no outcome recorded).
    let mut at = 100;
    for attempt in 1..=3 {
        let claimed = s.claim_jobs(at, 1_000, 10, 3).await.unwrap();
        assert_eq!(claimed.len(), 1, "{db:?}: attempt {attempt}");
        assert_eq!(claimed[0].payload["name"], "hangs");
        assert_eq!(claimed[0].attempts, attempt);
        at += 2_000;
    }
    // The third lease runs out: the job has no attempts left and is parked, with why.
    let runner = Runner::new(
        s.clone(),
        Clock::starting_at(at, 1.0),
        Settings { workers: 1, max_attempts: 3, lane: None },
        Arc::new(Misbehaving::default()),
        Default::default(),
    );
    let ran = tokio::time::timeout(Duration::from_secs(20), runner.run_once()).await.unwrap().unwrap();
    assert_eq!(ran, 1, "{db:?}: only the next job ran");
    let parked = s.parked_jobs().await.unwrap();
    assert_eq!(parked.len(), 1);
    assert!(parked[0].last_error.as_deref().unwrap_or("").contains("3 times"), "{db:?}: {:?}", parked[0].last_error);
}

/// The database refuses one message for good (a trigger stands in for any write that keeps
/// failing): the update is set aside, the next ones are received, and a replay stores it
/// once the cause is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_that_cannot_be_stored_is_set_aside_and_the_next_ones_are_received() {
    let t = TestApp::start().await;
    sqlx::query(
        "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.body = 'poison'
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    )
    .execute(t.store.pool())
    .await
    .unwrap();
    let ivan = t.customer(7301, "Ivan", None);
    t.fake.customer_writes(&ivan, "hello");
    let (chat, thread, _) = t.topic_of(&ivan).await;
    t.fake.customer_writes(&ivan, "poison");
    t.fake.customer_writes(&ivan, "after the poison");
    t.topic_has(chat, thread, "the message after the poison arrives", |m| {
        m.content.text_or_caption().is_some_and(|c| c.contains("after the poison"))
    })
    .await;
    let aside = t.store.failed_updates().await.unwrap();
    assert_eq!(aside.len(), 1);
    assert!(aside[0].error.contains("refused by the test"), "{}", aside[0].error);
    assert!(aside[0].raw.contains("poison"), "the raw update is kept");
    assert!(aside[0].attempts >= 5);

    // The cause is mended; an admin replays it (`forecourt jobs replay N`).
    sqlx::query("DROP TRIGGER poison").execute(t.store.pool()).await.unwrap();
    let now = t.clock.now_ms();
    t.store.enqueue(&forecourt::staff::aside::replay_job(aside[0].id, now), now).await.unwrap();
    t.app().wake.notify_one();
    t.topic_has(chat, thread, "the replayed message arrives", |m| {
        m.content.text_or_caption().is_some_and(|c| c.contains("poison") && !c.contains("after"))
    })
    .await;
    t.settled().await;
    assert!(t.store.failed_updates().await.unwrap().is_empty(), "replayed");
    t.stop().await;
}

/// Jobs queued by the previous release (its payloads, written as it wrote them) run after
/// the upgrade; one whose payload no longer reads is parked with why, and holds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_written_by_the_previous_release_run_after_the_upgrade() {
    let mut t = TestApp::start().await;
    t.crash();
    let now = t.clock.now_ms();
    let rows = [
        (
            "staff_reply",
            format!(r#"{{"chat": {STAFF}, "thread": null, "text": "queued before the upgrade", "keyboard": null}}"#),
            format!("group:{STAFF}"),
        ),
        (
            "answer_callback",
            r#"{"id": "cb-old", "text": "", "alert": false, "bot": "customer"}"#.to_string(),
            "callback:cb-old".to_string(),
        ),
        ("topic_sync", r#"{"lead": "not a number"}"#.to_string(), "topic:x".to_string()),
        ("flow_timers", "{}".to_string(), "flow_timers_old".to_string()),
    ];
    for (kind, payload, queue) in rows {
        sqlx::query(
            "INSERT INTO jobs (kind, payload, queue_key, status, run_at, attempts, created_at, updated_at)
             VALUES ($1, $2, $3, 'pending', $4, 0, $4, $4)",
        )
        .bind(kind)
        .bind(payload)
        .bind(queue)
        .bind(now)
        .execute(t.store.pool())
        .await
        .unwrap();
    }
    t.start_again().await;
    t.until("the old staff reply is posted", |fake| {
        fake.general_messages(STAFF)
            .iter()
            .any(|m| m.content.text_or_caption().is_some_and(|x| x.contains("queued before the upgrade")))
    })
    .await;
    let store = t.store.clone();
    let parked = eventually("the unreadable job is parked", || {
        let store = store.clone();
        async move {
            let p = store.parked_jobs().await.ok()?;
            (!p.is_empty()).then_some(p)
        }
    })
    .await;
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert!(parked[0].last_error.as_deref().unwrap_or("").contains("does not read"), "{:?}", parked[0].last_error);
    t.until("the old button press is answered by the customer bot", |fake| {
        fake.calls_of("answercallbackquery").iter().any(|c| c.params["callback_query_id"] == "cb-old")
    })
    .await;
    t.stop().await;
}
