//! Typed work: one [`Job`] enum, a variant per job kind with typed fields. The store keeps
//! a job as its kind (text) and the variant's fields as JSON (the same shape the previous
//! release wrote, so jobs queued before an upgrade still run); [`Job::read`] is the one
//! place a stored payload is read, and one that does not read is parked by the dispatcher,
//! never run blind. Handlers receive the fields, not JSON.

use crate::channels::telegram::{InlineArticle, Keyboard};
use crate::domain::{CallId, LeadId, MediaId, MessageRowId, ReviewId, UserId, VehicleId};
use crate::store::{JobKind, JobRow, NewJob};
use serde::{Deserialize, Serialize};

/// Which bot answers a button press.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BotSide {
    Customer,
    Staff,
}

/// A mention at the start of a staff message: the person's Telegram id and the name the
/// text starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mention {
    pub user: i64,
    pub name: String,
}

/// Every kind of work, with what it needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Bring a lead's staff topic up to date.
    TopicSync { lead: LeadId },
    /// Send one outgoing message to its customer, or several as one album.
    Deliver {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<MessageRowId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        album: Option<Vec<MessageRowId>>,
    },
    /// Post a text in a staff chat or topic (or, with `photos_of`, the confirmation that
    /// counts a car's photos when it is sent).
    StaffReply {
        chat: i64,
        #[serde(default)]
        thread: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        keyboard: Option<Keyboard>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        photos_of: Option<VehicleId>,
        /// The text starts with this person's name, shown as a mention (they are notified).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mention: Option<Mention>,
    },
    /// Answer a button press.
    AnswerCallback {
        id: String,
        #[serde(default)]
        text: String,
        #[serde(default)]
        alert: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bot: Option<BotSide>,
    },
    /// Keep a message's file in the media store.
    MediaFetch { message: MessageRowId },
    /// Announce a sold lead to the ERP (`event_id` fixed when enqueued).
    ErpPush {
        lead: LeadId,
        event_id: String,
        #[serde(default)]
        sold_at: Option<i64>,
    },
    /// Keep a staff photo as one of a car's photos.
    VehiclePhoto {
        vehicle: VehicleId,
        file_id: String,
        chat: i64,
        #[serde(default)]
        thread: Option<i32>,
    },
    /// Post kept photos into a staff chat.
    StaffPhotos {
        chat: i64,
        #[serde(default)]
        thread: Option<i32>,
        media: Vec<MediaId>,
    },
    /// Run the flows on a lead's new customer messages.
    Flow { lead: LeadId },
    /// Start the follow-ups that are due (recurring).
    FlowTimers,
    /// Download and check a flow file an admin sent.
    FlowUpload {
        file_id: String,
        name: String,
        user: UserId,
        chat: i64,
        #[serde(default)]
        thread: Option<i32>,
    },
    /// Process a set-aside Telegram update again.
    ReplayUpdate { failed_update: i64 },
    /// Delete an orphan topic.
    DeleteTopic { chat: i64, thread: i32 },
    /// Answer an inline query.
    AnswerInline { id: String, results: Vec<InlineArticle> },
    /// Post or edit a call's message in its lead's topic.
    CallPost { call: CallId },
    /// Download a call's recording and post it under the call.
    CallRecording { call: CallId },
    /// Ask the provider's call log for the calls of the next windows (recurring).
    CallReconcile,
    /// Remind of overdue tasks and escalate them (recurring).
    TaskTimers,
    /// Show a call review's current step to its reviewer.
    ReviewPrompt { review: ReviewId },
    /// Post or edit a task's message in its lead's topic.
    TaskPost { task: crate::domain::TaskId },
    /// Give a new lead its owner (or start its silence timer), then tell the owner.
    Assign { lead: LeadId },
    /// Place waiting leads, run the silence timer (recurring).
    AssignTimers,
    /// Mint a reporting-page login link at send time (the token is never stored, only its
    /// hash) and send it to the user's private chat; `chat` is where they asked.
    LoginLink { user: crate::domain::UserId, telegram_id: i64 },
    /// Look for a due digest and claim it once (recurring).
    DigestTimers,
    /// Send a digest's chart or its text to one chat.
    DigestSend {
        digest: crate::domain::digest::Kind,
        due: i64,
        chat: i64,
        #[serde(default)]
        thread: Option<i32>,
        chart: bool,
    },
    /// Ask the model for a lead's hot score (the AI lane).
    AiScore { lead: LeadId },
    /// Transcribe an answered call's recording (the AI lane).
    AiTranscribe { call: CallId },
    /// Check a call's transcript against the script (the AI lane).
    AiCheck { call: CallId },
    /// Post a call's transcript under it in the topic.
    TranscriptPost { call: CallId },
    /// Ask the model for a reply draft (the AI lane).
    AiDraft { draft: i64 },
    /// Post a draft in its topic, or show what became of it.
    DraftPost { draft: i64 },
    /// Ask the model what an unqualified lead wants (the AI lane).
    AiIntent { lead: LeadId },
    /// Hand leads with new customer messages to AI (recurring, the AI lane).
    AiSweep,
}

impl Job {
    pub fn kind(&self) -> JobKind {
        match self {
            Job::TopicSync { .. } => JobKind::TopicSync,
            Job::Deliver { .. } => JobKind::Deliver,
            Job::StaffReply { .. } => JobKind::StaffReply,
            Job::AnswerCallback { .. } => JobKind::AnswerCallback,
            Job::MediaFetch { .. } => JobKind::MediaFetch,
            Job::ErpPush { .. } => JobKind::ErpPush,
            Job::VehiclePhoto { .. } => JobKind::VehiclePhoto,
            Job::StaffPhotos { .. } => JobKind::StaffPhotos,
            Job::Flow { .. } => JobKind::Flow,
            Job::FlowTimers => JobKind::FlowTimers,
            Job::FlowUpload { .. } => JobKind::FlowUpload,
            Job::ReplayUpdate { .. } => JobKind::ReplayUpdate,
            Job::DeleteTopic { .. } => JobKind::DeleteTopic,
            Job::AnswerInline { .. } => JobKind::AnswerInline,
            Job::CallPost { .. } => JobKind::CallPost,
            Job::CallRecording { .. } => JobKind::CallRecording,
            Job::CallReconcile => JobKind::CallReconcile,
            Job::TaskTimers => JobKind::TaskTimers,
            Job::ReviewPrompt { .. } => JobKind::ReviewPrompt,
            Job::TaskPost { .. } => JobKind::TaskPost,
            Job::LoginLink { .. } => JobKind::LoginLink,
            Job::DigestTimers => JobKind::DigestTimers,
            Job::DigestSend { .. } => JobKind::DigestSend,
            Job::Assign { .. } => JobKind::Assign,
            Job::AssignTimers => JobKind::AssignTimers,
            Job::AiScore { .. } => JobKind::AiScore,
            Job::AiTranscribe { .. } => JobKind::AiTranscribe,
            Job::AiCheck { .. } => JobKind::AiCheck,
            Job::TranscriptPost { .. } => JobKind::TranscriptPost,
            Job::AiDraft { .. } => JobKind::AiDraft,
            Job::DraftPost { .. } => JobKind::DraftPost,
            Job::AiIntent { .. } => JobKind::AiIntent,
            Job::AiSweep => JobKind::AiSweep,
        }
    }

    /// The row to enqueue: in queue `queue_key` (jobs of one queue run one at a time, in
    /// order), not twice while one with `dedupe_key` is pending.
    pub fn into_new(self, queue_key: String, dedupe_key: Option<String>, run_at: i64) -> NewJob {
        let kind = self.kind();
        let mut payload = serde_json::to_value(&self).expect("a job always serialises");
        if let Some(o) = payload.as_object_mut() {
            o.remove("kind");
        }
        NewJob { kind, payload, queue_key, dedupe_key, run_at }
    }

    /// A stored job, read back; `Err` says why it does not read (written by another
    /// version, or damaged).
    pub fn read(row: &JobRow) -> Result<Job, String> {
        let mut v = match &row.payload {
            serde_json::Value::Object(o) => serde_json::Value::Object(o.clone()),
            serde_json::Value::Null => serde_json::json!({}),
            other => return Err(format!("the payload is not an object: {other}")),
        };
        v["kind"] = serde_json::Value::String(row.kind.as_str().to_string());
        serde_json::from_value(v).map_err(|e| format!("{} payload: {e}", row.kind.as_str()))
    }
}

/// The job that deletes an orphan topic.
pub fn delete_topic_job(chat: i64, thread: i32, now: i64) -> NewJob {
    let key = format!("topicdel:{chat}:{thread}");
    Job::DeleteTopic { chat, thread }.into_new(key.clone(), Some(key), now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(kind: JobKind, payload: serde_json::Value) -> JobRow {
        JobRow {
            id: crate::domain::JobId(1),
            kind,
            payload,
            queue_key: "q".into(),
            status: "pending".into(),
            attempts: 0,
            run_at: 0,
            last_error: None,
        }
    }

    /// Payloads exactly as the previous release wrote them (its `json!` calls).
    fn previous_release() -> Vec<(JobKind, serde_json::Value, Job)> {
        vec![
            (JobKind::TopicSync, json!({"lead": 5}), Job::TopicSync { lead: LeadId(5) }),
            (JobKind::Deliver, json!({"message": 9}), Job::Deliver { message: Some(MessageRowId(9)), album: None }),
            (
                JobKind::Deliver,
                json!({"album": [3, 4]}),
                Job::Deliver { message: None, album: Some(vec![MessageRowId(3), MessageRowId(4)]) },
            ),
            (
                JobKind::StaffReply,
                json!({"chat": -100, "thread": null, "text": "hi", "keyboard": null}),
                Job::StaffReply {
                    chat: -100,
                    thread: None,
                    text: Some("hi".into()),
                    keyboard: None,
                    photos_of: None,
                    mention: None,
                },
            ),
            (
                JobKind::StaffReply,
                json!({"chat": -100, "thread": 7, "text": "pick", "keyboard": [[["📎 1. Toyota RAV4", "1:va:3:4"]]]}),
                Job::StaffReply {
                    chat: -100,
                    thread: Some(7),
                    text: Some("pick".into()),
                    keyboard: Some(vec![vec![("📎 1. Toyota RAV4".into(), "1:va:3:4".into())]]),
                    photos_of: None,
                    mention: None,
                },
            ),
            (
                JobKind::StaffReply,
                json!({"chat": -100, "thread": 7, "photos_of": 12}),
                Job::StaffReply {
                    chat: -100,
                    thread: Some(7),
                    text: None,
                    keyboard: None,
                    photos_of: Some(VehicleId(12)),
                    mention: None,
                },
            ),
            (
                JobKind::AnswerCallback,
                json!({"id": "cb1", "text": "", "alert": false, "bot": "customer"}),
                Job::AnswerCallback {
                    id: "cb1".into(),
                    text: String::new(),
                    alert: false,
                    bot: Some(BotSide::Customer),
                },
            ),
            (
                JobKind::AnswerCallback,
                json!({"id": "cb2", "text": "Done.", "alert": true}),
                Job::AnswerCallback { id: "cb2".into(), text: "Done.".into(), alert: true, bot: None },
            ),
            (JobKind::MediaFetch, json!({"message": 11}), Job::MediaFetch { message: MessageRowId(11) }),
            (
                JobKind::ErpPush,
                json!({"lead": 2, "event_id": "e-1", "sold_at": 1_700_000_000_000i64}),
                Job::ErpPush { lead: LeadId(2), event_id: "e-1".into(), sold_at: Some(1_700_000_000_000) },
            ),
            (
                JobKind::VehiclePhoto,
                json!({"vehicle": 4, "file_id": "F", "chat": -100, "thread": null}),
                Job::VehiclePhoto { vehicle: VehicleId(4), file_id: "F".into(), chat: -100, thread: None },
            ),
            (
                JobKind::StaffPhotos,
                json!({"chat": -100, "thread": 3, "media": [1, 2]}),
                Job::StaffPhotos { chat: -100, thread: Some(3), media: vec![MediaId(1), MediaId(2)] },
            ),
            (JobKind::Flow, json!({"lead": 8}), Job::Flow { lead: LeadId(8) }),
            (JobKind::FlowTimers, json!({}), Job::FlowTimers),
            (
                JobKind::FlowUpload,
                json!({"file_id": "F", "name": "welcome.yaml", "user": 3, "chat": -100, "thread": null}),
                Job::FlowUpload {
                    file_id: "F".into(),
                    name: "welcome.yaml".into(),
                    user: UserId(3),
                    chat: -100,
                    thread: None,
                },
            ),
        ]
    }

    #[test]
    fn jobs_written_by_the_previous_release_read() {
        for (kind, payload, job) in previous_release() {
            assert_eq!(Job::read(&row(kind, payload.clone())), Ok(job.clone()), "{payload}");
            assert_eq!(job.kind(), kind);
        }
    }

    #[test]
    fn every_job_round_trips_through_its_row() {
        let mut all: Vec<Job> = previous_release().into_iter().map(|(_, _, j)| j).collect();
        all.push(Job::ReplayUpdate { failed_update: 3 });
        all.push(Job::DeleteTopic { chat: -100, thread: 9 });
        all.push(Job::AnswerInline {
            id: "q".into(),
            results: vec![InlineArticle {
                id: "1".into(),
                title: "t".into(),
                description: "d".into(),
                text: "x".into(),
            }],
        });
        all.push(Job::CallPost { call: crate::domain::CallId(4) });
        all.push(Job::CallRecording { call: crate::domain::CallId(4) });
        all.push(Job::CallReconcile);
        all.push(Job::TaskTimers);
        all.push(Job::ReviewPrompt { review: ReviewId(2) });
        all.push(Job::TaskPost { task: crate::domain::TaskId(5) });
        all.push(Job::Assign { lead: LeadId(6) });
        all.push(Job::AiScore { lead: LeadId(6) });
        all.push(Job::AiTranscribe { call: CallId(6) });
        all.push(Job::AiCheck { call: CallId(6) });
        all.push(Job::TranscriptPost { call: CallId(6) });
        all.push(Job::AiDraft { draft: 6 });
        all.push(Job::DraftPost { draft: 6 });
        all.push(Job::AiIntent { lead: LeadId(6) });
        all.push(Job::AiSweep);
        all.push(Job::AssignTimers);
        all.push(Job::LoginLink { user: crate::domain::UserId(3), telegram_id: 77 });
        all.push(Job::DigestTimers);
        all.push(Job::DigestSend {
            digest: crate::domain::digest::Kind::Daily,
            due: 5,
            chat: 7,
            thread: None,
            chart: true,
        });
        all.push(Job::StaffReply {
            chat: -100,
            thread: Some(3),
            text: Some("Max, ⏰".into()),
            keyboard: None,
            photos_of: None,
            mention: Some(Mention { user: 9, name: "Max".into() }),
        });
        let kinds: std::collections::HashSet<JobKind> = all.iter().map(Job::kind).collect();
        assert_eq!(kinds.len(), JobKind::ALL.len(), "every kind has a variant here");
        for job in all {
            let new = job.clone().into_new("q".into(), None, 0);
            assert_eq!(new.kind, job.kind());
            assert!(new.payload.get("kind").is_none(), "the kind is its column, not in the payload");
            assert_eq!(Job::read(&row(new.kind, new.payload)), Ok(job));
        }
    }

    #[test]
    fn the_payloads_the_store_writes_in_sql_are_these_jobs() {
        // store::enqueue_topic_syncs, store::enqueue_flow_jobs and the flow job's bot
        // messages (store::flows) write their payloads in SQL for speed: the same shapes.
        let payload = |j: Job| j.into_new("q".into(), None, 0).payload;
        assert_eq!(payload(Job::TopicSync { lead: LeadId(5) }), json!({ "lead": 5 }));
        assert_eq!(payload(Job::Flow { lead: LeadId(5) }), json!({ "lead": 5 }));
        assert_eq!(payload(Job::Deliver { message: Some(MessageRowId(9)), album: None }), json!({ "message": 9 }));
    }

    #[test]
    fn the_lane_the_database_derives_from_a_kind_is_the_lane_the_runner_gives_it() {
        // Migration 0012 files a job in the AI lane when its kind starts with `ai_`: the
        // claims of each lane filter on that column, the runner on `is_ai`.
        for kind in JobKind::ALL {
            assert_eq!(kind.as_str().starts_with("ai_"), kind.is_ai(), "{}", kind.as_str());
        }
    }

    #[test]
    fn a_payload_that_does_not_read_says_why() {
        let e = Job::read(&row(JobKind::TopicSync, json!({"lead": "x"}))).unwrap_err();
        assert!(e.contains("topic_sync"), "{e}");
        assert!(Job::read(&row(JobKind::Deliver, json!([1]))).is_err());
    }
}
