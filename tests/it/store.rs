//! The store suite, run on SQLite and on PostgreSQL.

use crate::harness::*;
use forecourt::domain::{Change, Channel, LeadId, LostReason, MessageKind, Role, Stage, TelegramUserId, UserId};
use forecourt::ingest::Inbound;
use forecourt::store::{JobKind, NewJob, Store, StoreError};
use serde_json::json;

/// One inbound message in its own transaction, through the batch path ingest uses.
async fn ingest(
    s: &forecourt::store::Store,
    m: &Inbound,
    now: i64,
) -> Result<Option<forecourt::store::StoredMessage>, forecourt::store::StoreError> {
    let mut tx = s.begin().await?;
    let item = forecourt::store::BatchItem { update_id: None, inbound: m };
    let out = forecourt::store::store_inbound_batch(&mut tx, "", &[item], now, 1_500, None).await?;
    tx.commit().await?;
    Ok(out.first().copied())
}

async fn engines() -> Vec<Db> {
    let mut v = vec![Db::Sqlite];
    if postgres_enabled().await {
        v.push(Db::Postgres);
    } else {
        eprintln!("PostgreSQL is not reachable: the store suite runs on SQLite only (set FORECOURT_TEST_POSTGRES=1 to require it)");
    }
    v
}

async fn store(db: Db, dir: &tempfile::TempDir) -> Store {
    let url = fresh_database(db, dir.path()).await;
    let s = Store::connect(&url).await.unwrap_or_else(|e| panic!("{db:?}: {e}"));
    s.migrate().await.unwrap();
    s
}

fn inbound(user: &str, msg: &str, text: &str) -> Inbound {
    Inbound {
        channel: Channel::Telegram,
        external_user: user.into(),
        external_message: msg.into(),
        sender_name: format!("Customer {user}"),
        language: Some("uk".into()),
        kind: MessageKind::Text,
        text: Some(text.into()),
        file_id: None,
        media_group_id: None,
        extra: None,
        sent_at: 1_000,
    }
}

fn job(key: &str, dedupe: Option<&str>, run_at: i64) -> NewJob {
    NewJob {
        kind: JobKind::StaffReply,
        payload: json!({"k": key}),
        queue_key: key.into(),
        dedupe_key: dedupe.map(Into::into),
        run_at,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_added_updated_and_disabled() {
    for db in engines().await {
        let dir = tempfile::tempdir().unwrap();
        let s = store(db, &dir).await;
        let (u, created) = s.upsert_user(TelegramUserId(5), "Max", Role::Manager, None, 1).await.unwrap();
        assert!(created, "{db:?}");
        let (u2, created) = s.upsert_user(TelegramUserId(5), "Max P", Role::Supervisor, Some(-100), 2).await.unwrap();
        assert!(!created);
        assert_eq!((u2.id, u2.role, u2.name.as_str(), u2.staff_chat_id), (u.id, Role::Supervisor, "Max P", Some(-100)));
        let d = s.set_user_active(TelegramUserId(5), false, 3).await.unwrap();
        assert!(!d.active);
        assert!(matches!(s.set_user_active(TelegramUserId(6), false, 3).await, Err(StoreError::NotFound)));
        let (again, _) = s.upsert_user(TelegramUserId(5), "Max P", Role::Supervisor, None, 4).await.unwrap();
        assert!(again.active, "adding again re-enables");
        assert_eq!(again.staff_chat_id, Some(-100), "an unset group keeps the old one");
        assert_eq!(s.list_users().await.unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_dedupes_reuses_the_open_lead_and_opens_a_new_one_after_closing() {
    for db in engines().await {
        let dir = tempfile::tempdir().unwrap();
        let s = store(db, &dir).await;
        let a = ingest(&s, &inbound("42", "42:1", "hi"), 10).await.unwrap().expect("stored");
        assert!(a.new_lead);
        assert!(ingest(&s, &inbound("42", "42:1", "hi"), 11).await.unwrap().is_none(), "{db:?}: duplicate");
        let b = ingest(&s, &inbound("42", "42:2", "again"), 12).await.unwrap().unwrap();
        assert_eq!((b.lead, b.customer, b.new_lead), (a.lead, a.customer, false));
        assert_eq!(s.counts().await.unwrap(), (1, 1, 2));
        // The pending topic sync is enqueued once for both messages.
        assert_eq!(s.job_counts().await.unwrap()[0].count, 1);

        let mut tx = s.begin().await.unwrap();
        let changes = [Change::Stage { from: Stage::New, to: Stage::Lost, reason: Some(LostReason::Spam) }];
        forecourt::store::apply_changes(&mut tx, a.lead, None, &changes, 13).await.unwrap();
        tx.commit().await.unwrap();
        let c = ingest(&s, &inbound("42", "42:3", "back"), 14).await.unwrap().unwrap();
        assert!(c.new_lead && c.lead != a.lead && c.customer == a.customer);
        let lead = s.lead(a.lead).await.unwrap().unwrap();
        assert_eq!((lead.stage, lead.lost_reason), (Stage::Lost, Some(LostReason::Spam)));
        let h = s.lead_history(a.lead).await.unwrap();
        assert_eq!(h.last().unwrap().reason.as_deref(), Some("spam"));
        assert!(s.lead(LeadId(999)).await.unwrap().is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_changes_and_history_rows_are_written_together() {
    for db in engines().await {
        let dir = tempfile::tempdir().unwrap();
        let s = store(db, &dir).await;
        let (u, _) = s.upsert_user(TelegramUserId(9), "Olga", Role::Manager, None, 1).await.unwrap();
        let a = ingest(&s, &inbound("7", "7:1", "hi"), 10).await.unwrap().unwrap();
        let mut tx = s.begin().await.unwrap();
        let changes = [
            Change::Owner { from: None, to: Some(u.id) },
            Change::Stage { from: Stage::New, to: Stage::Contacted, reason: None },
        ];
        forecourt::store::apply_changes(&mut tx, a.lead, Some(u.id), &changes, 20).await.unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(s.lead(a.lead).await.unwrap().unwrap().owner, None, "{db:?}: a rolled back change leaves nothing");
        assert_eq!(s.lead_history(a.lead).await.unwrap().len(), 1);
        let mut tx = s.begin().await.unwrap();
        forecourt::store::apply_changes(&mut tx, a.lead, Some(u.id), &changes, 20).await.unwrap();
        tx.commit().await.unwrap();
        let lead = s.lead(a.lead).await.unwrap().unwrap();
        assert_eq!((lead.owner, lead.owner_name.as_deref(), lead.stage), (Some(u.id), Some("Olga"), Stage::Contacted));
        let h = s.lead_history(a.lead).await.unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!(h[1].actor, Some(u.id));
        assert_eq!(s.open_leads(Some(u.id), 10).await.unwrap().len(), 1);
        assert_eq!(s.open_leads(None, 10).await.unwrap().len(), 0);
        assert_eq!(s.open_leads(Some(UserId(12345)), 10).await.unwrap().len(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_in_order_per_queue_and_are_deduplicated_parked_and_retried() {
    for db in engines().await {
        let dir = tempfile::tempdir().unwrap();
        let s = store(db, &dir).await;
        assert!(s.enqueue(&job("a", None, 0), 0).await.unwrap());
        assert!(s.enqueue(&job("a", None, 0), 0).await.unwrap());
        assert!(s.enqueue(&job("b", Some("b"), 0), 0).await.unwrap());
        assert!(!s.enqueue(&job("b", Some("b"), 0), 0).await.unwrap(), "{db:?}: deduplicated");
        let first = s.claim_jobs(100, 1_000, 10, 8).await.unwrap();
        let keys: Vec<&str> = first.iter().map(|j| j.queue_key.as_str()).collect();
        assert_eq!(keys, vec!["a", "b"], "one per queue");
        assert!(s.claim_jobs(100, 1_000, 10, 8).await.unwrap().is_empty(), "the second `a` waits for the first");
        // While `b` runs, a new `b` may be queued (the running one may have missed it).
        assert!(s.enqueue(&job("b", Some("b"), 0), 0).await.unwrap());

        // A rate-limit wait gives the attempt back; a failure counts it.
        s.reschedule_job(first[0].id, 200, None, false, 100).await.unwrap();
        s.finish_job(first[1].id).await.unwrap();
        let again = s.claim_jobs(250, 1_000, 10, 8).await.unwrap();
        assert_eq!(again.len(), 2);
        let a = again.iter().find(|j| j.queue_key == "a").unwrap();
        assert_eq!(a.attempts, 1, "the wait did not count");
        s.park_job(a.id, "broken", 300).await.unwrap();
        let parked = s.parked_jobs().await.unwrap();
        assert_eq!(parked.len(), 1);
        assert_eq!(parked[0].last_error.as_deref(), Some("broken"));
        // A parked job no longer holds its queue.
        let next = s.claim_jobs(400, 1_000, 10, 8).await.unwrap();
        assert_eq!(next.iter().map(|j| j.queue_key.as_str()).collect::<Vec<_>>(), vec!["a"]);
        // A crashed worker's lease expires and the job comes back.
        let b_back = s.claim_jobs(1_300, 1_000, 10, 8).await.unwrap();
        assert_eq!(
            b_back.iter().map(|j| j.queue_key.as_str()).collect::<Vec<_>>(),
            vec!["b"],
            "b's lease ended at 1250"
        );
        assert!(s.claim_jobs(1_350, 1_000, 10, 8).await.unwrap().is_empty());
        let a_back = s.claim_jobs(1_401, 1_000, 10, 8).await.unwrap();
        assert_eq!(
            a_back.iter().map(|j| j.queue_key.as_str()).collect::<Vec<_>>(),
            vec!["a"],
            "a's lease ended at 1400"
        );
        assert_eq!(s.retry_parked(None, 2_000).await.unwrap(), 1);
        assert_eq!(s.retry_parked(None, 2_000).await.unwrap(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_jobs_in_one_statement_are_deduplicated_like_one_by_one() {
    for db in engines().await {
        let dir = tempfile::tempdir().unwrap();
        let s = store(db, &dir).await;
        // Pending already: `k` due at 500.
        assert!(s.enqueue(&job("q1", Some("k"), 500), 0).await.unwrap());
        let many = vec![
            job("q1", Some("k"), 800),
            job("q1", Some("k"), 300),
            job("q2", Some("m"), 700),
            job("q2", Some("m"), 600),
            job("q3", None, 100),
            job("q3", None, 100),
        ];
        let mut tx = s.begin().await.unwrap();
        forecourt::store::jobs_enqueue_many(&mut tx, &many, 0).await.unwrap();
        tx.commit().await.unwrap();
        let rows: Vec<(String, Option<String>, i64)> =
            sqlx::query_as("SELECT queue_key, dedupe_key, run_at FROM jobs ORDER BY queue_key, run_at")
                .fetch_all(s.pool())
                .await
                .unwrap();
        let want = vec![
            ("q1".to_string(), Some("k".to_string()), 300),
            ("q2".to_string(), Some("m".to_string()), 600),
            ("q3".to_string(), None, 100),
            ("q3".to_string(), None, 100),
        ];
        assert_eq!(rows, want, "{db:?}: one pending job per key, brought forward to the soonest");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_never_hand_out_the_same_job_twice() {
    for db in engines().await {
        let dir = tempfile::tempdir().unwrap();
        let s = store(db, &dir).await;
        for i in 0..60 {
            s.enqueue(&job(&format!("q{i}"), None, 0), 0).await.unwrap();
        }
        let mut handles = Vec::new();
        for _ in 0..4 {
            let s = s.clone();
            handles.push(tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let j = s.claim_jobs(10, 60_000, 5, 8).await.unwrap();
                    if j.is_empty() {
                        break;
                    }
                    got.extend(j.into_iter().map(|j| j.id));
                }
                got
            }));
        }
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.await.unwrap());
        }
        let n = all.len();
        all.sort_by_key(|j| j.0);
        all.dedup();
        assert_eq!((n, all.len()), (60, 60), "{db:?}");
    }
}

fn item(update_id: i64, user: &str, msg: &str, text: &str, group: Option<&str>) -> Inbound {
    Inbound { media_group_id: group.map(Into::into), sent_at: 1_000 + update_id, ..inbound(user, msg, text) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_inbound_messages_is_stored_like_one_by_one() {
    for db in engines().await {
        let dir = tempfile::tempdir().unwrap();
        let s = store(db, &dir).await;
        // An existing customer with an open lead and a topic sync waiting for later.
        let a = ingest(&s, &inbound("1", "1:1", "earlier"), 10).await.unwrap().unwrap();
        let pending = s.claim_jobs(10, 60_000, 10, 8).await.unwrap();
        s.reschedule_job(pending[0].id, 50_000, None, false, 10).await.unwrap();

        let messages = [
            (11, item(11, "1", "1:2", "again", None)),
            (12, item(12, "2", "2:1", "new customer", None)),
            (13, item(13, "2", "2:2", "second from new", None)),
            (14, item(14, "3", "3:1", "album part", Some("g1"))),
            (15, item(15, "1", "1:2", "again", None)), // the same message in another update
            (11, item(11, "1", "1:2", "again", None)), // the same update again
        ];
        let batch: Vec<forecourt::store::BatchItem> =
            messages.iter().map(|(id, m)| forecourt::store::BatchItem { update_id: Some(*id), inbound: m }).collect();
        let mut tx = s.begin().await.unwrap();
        let stored = forecourt::store::store_inbound_batch(&mut tx, "tg:1", &batch, 100, 1_500, None).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(stored.len(), 4, "{db:?}");
        assert_eq!(s.counts().await.unwrap(), (3, 3, 5));
        assert_eq!((stored[0].lead, stored[0].new_lead), (a.lead, false), "attached to the open lead");
        assert_eq!(stored[1].lead, stored[2].lead, "one lead for the new customer");
        assert!(stored[1].new_lead && stored[3].new_lead);
        let lead2 = s.lead(stored[1].lead).await.unwrap().unwrap();
        assert_eq!(lead2.last_message_preview.as_deref(), Some("second from new"));
        assert_eq!(lead2.customer_name, "Customer 2");
        // The same batch again stores nothing.
        let mut tx = s.begin().await.unwrap();
        assert!(forecourt::store::store_inbound_batch(&mut tx, "tg:1", &batch, 200, 1_500, None)
            .await
            .unwrap()
            .is_empty());
        tx.commit().await.unwrap();
        assert_eq!(s.counts().await.unwrap(), (3, 3, 5));
        // Topic syncs: the waiting one brought forward, the album's delayed by the grace.
        let due = s.claim_jobs(100, 60_000, 10, 8).await.unwrap();
        let mut leads: Vec<i64> = due.iter().map(|j| j.payload["lead"].as_i64().unwrap()).collect();
        leads.sort();
        assert_eq!(leads, vec![a.lead.0, stored[1].lead.0], "{db:?}");
        let album = s.claim_jobs(1_600, 60_000, 10, 8).await.unwrap();
        assert_eq!(album.len(), 1);
        assert_eq!(album[0].payload["lead"].as_i64(), Some(stored[3].lead.0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_claim_with_a_newer_pending_copy_does_not_block_the_queue() {
    for db in engines().await {
        let dir = tempfile::tempdir().unwrap();
        let s = store(db, &dir).await;
        s.enqueue(&job("topic:1", Some("topic:1"), 0), 0).await.unwrap();
        let first = s.claim_jobs(0, 1_000, 10, 8).await.unwrap();
        assert_eq!(first.len(), 1);
        // While it runs, the same work is asked for again; then its worker dies.
        assert!(s.enqueue(&job("topic:1", Some("topic:1"), 0), 0).await.unwrap());
        let next = s.claim_jobs(5_000, 1_000, 10, 8).await.unwrap();
        assert_eq!(next.len(), 1, "{db:?}: the pending copy runs");
        assert_ne!(next[0].id, first[0].id);
        assert!(s.job(first[0].id).await.unwrap().is_none(), "the dead claim is gone");
        // The same at start-up.
        s.enqueue(&job("topic:1", Some("topic:1"), 0), 0).await.unwrap();
        assert!(s.release_all_running_jobs(6_000, 8).await.unwrap().parked.is_empty());
        assert_eq!(s.claim_jobs(6_000, 1_000, 10, 8).await.unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_batched_topic_sync_reads_marks_finishes_and_reschedules_many_at_once() {
    for db in engines().await {
        let dir = tempfile::tempdir().unwrap();
        let s = store(db, &dir).await;
        let a = ingest(&s, &inbound("u1", "m1", "one"), 1).await.unwrap().unwrap();
        let b = ingest(&s, &inbound("u2", "m2", "two"), 2).await.unwrap().unwrap();
        ingest(&s, &inbound("u2", "m3", "three"), 3).await.unwrap().unwrap();
        let leads = s.leads(&[a.lead, b.lead, LeadId(999)]).await.unwrap();
        assert_eq!(leads.len(), 2, "{db:?}: unknown ids are left out");
        let waiting = s.staff_pending_of(&[a.lead, b.lead]).await.unwrap();
        let texts: Vec<(LeadId, String)> = waiting.iter().map(|(l, m)| (*l, m.body.clone().unwrap())).collect();
        assert_eq!(
            texts,
            vec![(a.lead, "one".into()), (b.lead, "two".into()), (b.lead, "three".into())],
            "{db:?}: oldest first, each with its lead"
        );
        // Each message gets its own topic message id, in one statement.
        let marks: Vec<_> = waiting.iter().zip([70, 71, 71]).map(|((_, m), id)| (m.id, id)).collect();
        s.mark_posted_as(&marks).await.unwrap();
        assert!(s.staff_pending_of(&[a.lead, b.lead]).await.unwrap().is_empty());
        let ids: Vec<(i64, i64)> =
            sqlx::query_as("SELECT id, staff_message_id FROM messages WHERE direction = 'incoming' ORDER BY id")
                .fetch_all(s.pool())
                .await
                .unwrap();
        assert_eq!(ids.iter().map(|r| r.1).collect::<Vec<_>>(), vec![70, 71, 71], "{db:?}");

        // Topic syncs: one finishes, one waits, one waits but a newer copy covers it.
        for k in ["topic:1", "topic:2", "topic:3"] {
            s.enqueue(&job(k, Some(k), 0), 0).await.unwrap();
        }
        let claimed = s.claim_jobs(10, 60_000, 10, 8).await.unwrap();
        assert_eq!(claimed.len(), 3);
        assert!(s.enqueue(&job("topic:3", Some("topic:3"), 10), 10).await.unwrap(), "asked for again while running");
        s.finish_jobs(&[claimed[0].id]).await.unwrap();
        s.reschedule_waits(&[(claimed[1].id, 5_000), (claimed[2].id, 5_000)], 20).await.unwrap();
        assert!(s.job(claimed[0].id).await.unwrap().is_none(), "{db:?}: finished");
        let waiting = s.job(claimed[1].id).await.unwrap().expect("rescheduled");
        assert_eq!((waiting.run_at, waiting.attempts), (5_000, 0), "{db:?}: a wait gives its attempt back");
        assert!(s.job(claimed[2].id).await.unwrap().is_none(), "{db:?}: the newer copy does its work");
        let due: Vec<String> =
            s.claim_jobs(5_000, 60_000, 10, 8).await.unwrap().into_iter().map(|j| j.queue_key).collect();
        assert_eq!(due, vec!["topic:2".to_string(), "topic:3".to_string()], "{db:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vehicles_upsert_by_vin_then_by_erp_reference_and_never_duplicate() {
    use forecourt::domain::vehicle::VehicleStatus;
    use forecourt::store::{upsert_vehicle, Upserted, VehicleInput};
    for db in engines().await {
        let dir = tempfile::tempdir().unwrap();
        let s = store(db, &dir).await;
        let rav4 = VehicleInput {
            vin: Some("1M8GDM9AXKP042788".into()),
            vin_check_ok: true,
            make: "Toyota".into(),
            model: "RAV4".into(),
            year: Some(2019),
            price_minor: Some(2_450_050),
            currency: Some("USD".into()),
            erp_id: Some("ERP-1".into()),
            ..VehicleInput::default()
        };
        let mut tx = s.begin().await.unwrap();
        let Upserted::Created(id) = upsert_vehicle(&mut tx, &rav4, 10).await.unwrap() else { panic!("{db:?}") };
        // The same VIN again: an update, and a field left empty keeps its value.
        let again = VehicleInput { price_minor: None, mileage_km: Some(48_000), ..rav4.clone() };
        assert_eq!(upsert_vehicle(&mut tx, &again, 11).await.unwrap(), Upserted::Updated(id), "{db:?}");
        // No VIN, the ERP reference only: the same car.
        let by_ref = VehicleInput {
            vin: None,
            status: Some(VehicleStatus::Reserved),
            erp_id: Some("ERP-1".into()),
            make: "Toyota".into(),
            model: "RAV4".into(),
            ..VehicleInput::default()
        };
        assert_eq!(upsert_vehicle(&mut tx, &by_ref, 12).await.unwrap(), Upserted::Updated(id), "{db:?}");
        tx.commit().await.unwrap();
        // Another car claiming the first one's ERP reference is a conflict, not a silent merge.
        let mut tx = s.begin().await.unwrap();
        let thief = VehicleInput {
            vin: Some("JTMBFREV5JJ123456".into()),
            make: "Kia".into(),
            model: "Sportage".into(),
            erp_id: Some("ERP-1".into()),
            ..VehicleInput::default()
        };
        assert!(matches!(upsert_vehicle(&mut tx, &thief, 13).await, Err(StoreError::Conflict(_))), "{db:?}");
        drop(tx);
        let all = s.vehicles(None).await.unwrap();
        assert_eq!(all.len(), 1, "{db:?}");
        let v = &all[0];
        assert_eq!(
            (v.price_minor, v.mileage_km, v.status, v.vin.as_deref()),
            (Some(2_450_050), Some(48_000), VehicleStatus::Reserved, Some("1M8GDM9AXKP042788")),
            "{db:?}"
        );
        assert!(s.vehicles(Some(VehicleStatus::Sold)).await.unwrap().is_empty());
        assert_eq!(s.vehicles(Some(VehicleStatus::Reserved)).await.unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vehicle_search_finds_by_vin_tail_misspelled_make_model_and_year() {
    use forecourt::inventory::VehicleSearch;
    use forecourt::store::VehicleInput;
    for db in engines().await {
        let dir = tempfile::tempdir().unwrap();
        let s = store(db, &dir).await;
        let car = |vin: &str, make: &str, model: &str, year: i64| VehicleInput {
            vin: Some(vin.into()),
            vin_check_ok: true,
            make: make.into(),
            model: model.into(),
            year: Some(year),
            ..VehicleInput::default()
        };
        s.insert_vehicles(
            &[
                car("1M8GDM9AXKP042788", "Toyota", "RAV4", 2019),
                car("JTMBFREV5JJ123456", "Toyota", "RAV4", 2021),
                car("JTDBR32E720052019", "Toyota", "Corolla", 2019),
                car("KNAPM81ABNK100001", "Kia", "Sportage", 2019),
                car("WVWZZZ1KZAW000320", "BMW", "320d", 2015),
            ],
            1,
        )
        .await
        .unwrap();
        let search = VehicleSearch::default();
        let found = |q: &'static str| {
            let (s, search) = (&s, &search);
            async move {
                search.search(s, q, 1, 10).await.unwrap().into_iter().map(|v| v.vin.unwrap()).collect::<Vec<String>>()
            }
        };
        assert_eq!(found("042788").await, vec!["1M8GDM9AXKP042788"], "{db:?}: the last six");
        assert_eq!(found("2788").await, vec!["1M8GDM9AXKP042788"], "{db:?}: the last four");
        assert_eq!(found("toyta rav4 2019").await, vec!["1M8GDM9AXKP042788"], "{db:?}: misspelled");
        assert_eq!(found("rav4").await.len(), 2, "{db:?}");
        assert_eq!(found("toyota").await.len(), 3, "{db:?}");
        assert_eq!(found("kia 2019").await, vec!["KNAPM81ABNK100001"], "{db:?}");
        assert_eq!(found("bmw 320d").await, vec!["WVWZZZ1KZAW000320"], "{db:?}: a model that looks like digits");
        // A lone 4-digit number: the VIN that ends so first, then that year's cars.
        let y = found("2019").await;
        assert_eq!(y[0], "JTDBR32E720052019", "{db:?}: {y:?}");
        assert_eq!(y.len(), 3, "{db:?}: {y:?} (the Corolla once, though it matches both ways)");
        assert!(found("zzzz").await.is_empty());
        assert!(found("toyota sportage").await.is_empty(), "{db:?}: no such car");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_states_answers_and_timer_candidates_on_both_engines() {
    use forecourt::domain::flow::Field;
    for db in engines().await {
        let dir = tempfile::tempdir().unwrap();
        let s = store(db, &dir).await;
        let mut leads = Vec::new();
        for i in 0..5 {
            let m = ingest(&s, &inbound(&format!("t{i}"), &format!("t{i}:1"), "hi"), 1_000).await.unwrap().unwrap();
            leads.push(m.lead);
        }
        let stage = |lead: LeadId, st: &'static str| {
            let s = s.clone();
            async move {
                sqlx::query("UPDATE leads SET stage = $1, last_staff_at = 2000 WHERE id = $2")
                    .bind(st)
                    .bind(lead.0)
                    .execute(s.pool())
                    .await
                    .unwrap();
            }
        };
        for l in &leads[..4] {
            stage(*l, "contacted").await;
        }
        // A do-not-contact customer, and a lead with the bot off, are never candidates.
        let mut tx = s.begin().await.unwrap();
        let dnc = forecourt::store::flow_inputs(&mut tx, &leads[3..4]).await.unwrap().0;
        forecourt::store::set_do_not_contact(&mut tx, dnc[0].customer, 3).await.unwrap();
        forecourt::store::set_automation(&mut tx, leads[2], false, 3).await.unwrap();
        tx.commit().await.unwrap();
        let page = |after: LeadId, limit: i64| {
            let s = s.clone();
            async move {
                let mut tx = s.begin().await.unwrap();
                let c = forecourt::store::timer_candidates(&mut tx, &[Stage::Contacted], 2_000, after, limit)
                    .await
                    .unwrap();
                c.iter().map(|l| l.lead).collect::<Vec<_>>()
            }
        };
        assert_eq!(page(LeadId(0), 10).await, vec![leads[0], leads[1]], "{db:?}");
        assert_eq!(page(LeadId(0), 1).await, vec![leads[0]]);
        assert_eq!(page(leads[0], 1).await, vec![leads[1]], "paged by id");
        assert!(page(LeadId(0), 10).await.iter().all(|l| *l != leads[4]), "another stage");
        // Answers are saved together (a note appended), and the state is written back.
        let mut tx = s.begin().await.unwrap();
        let answers = vec![
            (leads[0], vec![(Field::Intent, "buy".to_string()), (Field::Note, "call after 6".to_string())]),
            (leads[1], vec![(Field::Budget, "20 000 $".to_string())]),
        ];
        forecourt::store::save_answers(&mut tx, &answers, 5).await.unwrap();
        forecourt::store::save_answers(&mut tx, &[(leads[0], vec![(Field::Note, "has a trade-in".into())])], 6)
            .await
            .unwrap();
        let row = forecourt::store::FlowStateRow {
            lead: leads[0],
            waiting: Some((1, "welcome".into(), "ask_car".into(), 1)),
            last_message_id: 42,
            starts: [("welcome".to_string(), 5)].into(),
        };
        forecourt::store::save_flow_states(&mut tx, std::slice::from_ref(&row), 5).await.unwrap();
        tx.commit().await.unwrap();
        let l0 = s.lead(leads[0]).await.unwrap().unwrap();
        assert_eq!(l0.intent.as_deref(), Some("buy"));
        assert_eq!(l0.notes.as_deref(), Some("call after 6\nhas a trade-in"));
        assert_eq!(s.lead(leads[1]).await.unwrap().unwrap().budget.as_deref(), Some("20 000 $"));
        let mut tx = s.begin().await.unwrap();
        let (read, _) = forecourt::store::flow_inputs(&mut tx, &leads[..1]).await.unwrap();
        assert_eq!(read[0].waiting, Some((1, "welcome".into(), "ask_car".into(), 1)));
        assert_eq!((read[0].last_message_id, read[0].starts.get("welcome")), (42, Some(&5)));
        // A staff reply ends the bot's turn.
        forecourt::store::staff_wrote(&mut tx, leads[0], 9).await.unwrap();
        let (read, _) = forecourt::store::flow_inputs(&mut tx, &leads[..1]).await.unwrap();
        assert_eq!((read[0].waiting.clone(), read[0].last_staff_at), (None, Some(9)));
        tx.commit().await.unwrap();
    }
}
