//! The program's job dispatch: which handler runs each kind of job, how kinds are batched,
//! and who is told when a job is parked. The runner (`crate::jobs`) claims, guards and
//! records; the handlers (staff, media, flows, ERP) only do the work and return outcomes.

use crate::context::App;
use crate::jobs::{Batching, Dispatch, Outcome, Runner, Settings};
use crate::store::{JobKind, JobRow};
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

/// The program's runner over its handlers.
pub fn runner(app: &Arc<App>) -> Runner<Handlers> {
    let settings = Settings { workers: app.config.jobs.workers, max_attempts: app.config.jobs.max_attempts };
    Runner::new(app.store.clone(), app.clock.clone(), settings, Arc::new(Handlers::new(app.clone())), app.wake.clone())
}

async fn one(app: &Arc<App>, job: &JobRow) -> Outcome {
    let result = match job.kind {
        JobKind::TopicSync => crate::staff::topic::sync(app, job).await,
        JobKind::Deliver => crate::staff::deliver::deliver(app, job).await,
        JobKind::StaffReply => crate::staff::replies::staff_reply(app, job).await,
        JobKind::AnswerCallback => crate::staff::replies::answer_callback(app, job).await,
        JobKind::MediaFetch => crate::media::fetch::fetch(app, job).await,
        JobKind::ErpPush => crate::web::erp::push(app, job).await,
        JobKind::VehiclePhoto => crate::staff::photos::keep(app, job).await,
        JobKind::StaffPhotos => crate::staff::photos::post(app, job).await,
        JobKind::Flow => crate::flows::run::one(app, job).await,
        JobKind::FlowTimers => crate::flows::run::timers(app, job).await,
        JobKind::FlowUpload => crate::flows::admin::check_upload(app, job).await,
        JobKind::ReplayUpdate => crate::staff::aside::replay(app, job).await,
        JobKind::DeleteTopic => crate::staff::orphans::delete(app, job).await,
        JobKind::AnswerInline => crate::staff::inline::answer(app, job).await,
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

    async fn parked(&self, job: &JobRow, error: &str) {
        crate::staff::on_parked(&self.app, job, error).await
    }
}
