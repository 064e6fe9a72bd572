//! The program's job dispatch: which handler runs each kind of job, how kinds are batched,
//! and who is told when a job is parked. The runner (`crate::jobs`) claims, guards and
//! records; the handlers (staff, media, flows, ERP) only do the work and return outcomes.

use crate::context::App;
use crate::jobs::{Batching, Dispatch, Job, Outcome, Runner, Settings};
use crate::store::{JobKind, JobRow, Lane};
use std::sync::Arc;

/// The handlers behind every job kind.
pub struct Handlers {
    app: Arc<App>,
}

impl Handlers {
    pub fn new(app: Arc<App>) -> Handlers {
        Handlers { app }
    }
}

/// The program's runner over its handlers: every job but AI's.
pub fn runner(app: &Arc<App>) -> Runner<Handlers> {
    let settings = Settings {
        workers: app.config.jobs.workers,
        max_attempts: app.config.jobs.max_attempts,
        lane: Some(Lane::Main),
    };
    Runner::new(app.store.clone(), app.clock.clone(), settings, Arc::new(Handlers::new(app.clone())), app.wake.clone())
}

/// The AI lane's runner (when AI is configured): as many workers as requests may run at
/// once, its own wake-up, so a slow model never holds other work back.
pub fn ai_runner(app: &Arc<App>, concurrency: usize) -> Runner<Handlers> {
    let settings = Settings { workers: concurrency, max_attempts: app.config.jobs.max_attempts, lane: Some(Lane::Ai) };
    Runner::new(app.store.clone(), app.clock.clone(), settings, Arc::new(Handlers::new(app.clone())), Arc::default())
}

async fn one(app: &Arc<App>, job: &JobRow) -> Outcome {
    // Stored state may outlive the code: a payload that does not read is parked, with why.
    let job = match Job::read(job) {
        Ok(j) => j,
        Err(e) => return Outcome::Park(format!("the job's payload does not read: {e}")),
    };
    let result = match job {
        Job::TopicSync { lead } => crate::staff::topic::sync(app, lead).await,
        Job::Deliver { message, album } => crate::staff::deliver::deliver(app, message, album).await,
        Job::StaffReply { chat, thread, text, keyboard, photos_of, mention } => {
            crate::staff::replies::staff_reply(app, (chat, thread), text, keyboard, photos_of, mention).await
        }
        Job::AnswerCallback { id, text, alert, bot } => {
            crate::staff::replies::answer_callback(app, &id, &text, alert, bot).await
        }
        Job::MediaFetch { message } => crate::media::fetch::fetch(app, message).await,
        Job::ErpPush { lead, event_id, sold_at } => crate::web::erp::push(app, lead, &event_id, sold_at).await,
        Job::VehiclePhoto { vehicle, file_id, chat, thread } => {
            crate::staff::photos::keep(app, vehicle, &file_id, (chat, thread)).await
        }
        Job::StaffPhotos { chat, thread, media } => crate::staff::photos::post(app, chat, thread, &media).await,
        Job::Flow { lead } => crate::flows::run::one(app, lead).await,
        Job::FlowTimers => crate::flows::run::timers(app).await,
        Job::FlowUpload { file_id, name, user, chat, thread } => {
            crate::flows::admin::check_upload(app, (&file_id, name), user, (chat, thread)).await
        }
        Job::ReplayUpdate { failed_update } => crate::staff::aside::replay(app, failed_update).await,
        Job::DeleteTopic { chat, thread } => crate::staff::orphans::delete(app, chat, thread).await,
        Job::AnswerInline { id, results } => crate::staff::inline::answer(app, &id, &results).await,
        Job::CallPost { call } => crate::staff::calls::post(app, call).await,
        Job::TaskPost { task } => crate::staff::tasks::post(app, task).await,
        Job::LoginLink { user, telegram_id } => crate::staff::report::send_link(app, user, telegram_id).await,
        Job::DigestTimers => crate::staff::digest::timers(app).await,
        Job::DigestSend { digest, due, chat, thread, chart } => {
            crate::staff::digest::send(app, digest, due, (chat, thread), chart).await
        }
        Job::Assign { lead } => crate::staff::assign::run(app, lead).await,
        Job::AssignTimers => crate::staff::assign::timers(app).await,
        Job::CallRecording { call } => crate::staff::calls::recording(app, call).await,
        Job::CallReconcile => crate::calls::reconcile::run(app).await,
        Job::TaskTimers => crate::staff::tasks::timers(app).await,
        Job::ReviewPrompt { review } => crate::staff::reviews::prompt(app, review).await,
        Job::AiScore { lead } => crate::staff::ai::score(app, lead).await,
        Job::AiTranscribe { call } => crate::staff::ai_calls::transcribe(app, call).await,
        Job::AiCheck { call } => crate::staff::ai_calls::check(app, call).await,
        Job::TranscriptPost { call } => crate::staff::ai_calls::post_transcript(app, call).await,
        Job::AiDraft { draft } => crate::staff::drafts::draft(app, draft).await,
        Job::DraftPost { draft } => crate::staff::drafts::post(app, draft).await,
        Job::AiIntent { lead } => crate::staff::ai::intent(app, lead).await,
        Job::AiSweep => crate::staff::ai::sweep(app).await,
    };
    result.unwrap_or_else(|e| Outcome::Retry(format!("{e:#}")))
}

impl Dispatch for Handlers {
    fn batching(&self, kind: JobKind) -> Batching {
        match kind {
            JobKind::TopicSync => Batching::Spread(crate::staff::batch::BATCH),
            JobKind::Flow => Batching::Fixed(crate::flows::run::BATCH),
            _ => Batching::One,
        }
    }

    async fn run(&self, jobs: Vec<JobRow>) -> Vec<(JobRow, Outcome)> {
        let app = &self.app;
        let out = match jobs.first().map(|j| j.kind) {
            Some(JobKind::TopicSync) => crate::staff::batch::sync_many(app, jobs).await,
            Some(JobKind::Flow) if jobs.len() > 1 => crate::flows::run::process_jobs(app, jobs).await,
            _ => {
                let mut out = Vec::with_capacity(jobs.len());
                for job in jobs {
                    let outcome = one(app, &job).await;
                    out.push((job, outcome));
                }
                out
            }
        };
        app.wake.notify_one();
        out
    }

    /// A job was parked: tell the people who need to know (the topic says a delivery or a
    /// download failed for good).
    async fn parked(&self, job: &JobRow, error: &str) {
        match Job::read(job) {
            Ok(Job::Deliver { message: Some(m), .. }) => crate::staff::deliver::on_gave_up(&self.app, m, error).await,
            Ok(Job::MediaFetch { message }) => crate::media::fetch::on_gave_up(&self.app, message, error).await,
            Ok(Job::CallRecording { call }) => crate::staff::calls::recording_gave_up(&self.app, call, error).await,
            _ => {}
        }
    }
}
