//! The flow job: a batch of leads' new customer messages (or a due timer) through
//! `domain::flow::engine`, in one transaction per batch — states read in one query, the
//! messages in another, every text rendered, then the bot's messages (rows and deliver
//! jobs), the answers on the leads, opt-outs, notices, the conversations' new states and
//! the topic syncs written together. A crash before the commit repeats the batch from the
//! same state; after it, the messages are marked seen, so nothing is said twice.

use super::{Compiled, Context};
use crate::context::App;
use crate::domain::flow::engine::{advance, due_timers, Action, Facts, Input, Outcome as Step, Set, State};
use crate::domain::flow::{pick_language, Field, StepKind, Trigger};
use crate::domain::{CustomerId, LeadId};
use crate::jobs::Outcome;
use crate::store::{self, BotMessage, FlowLead, FlowMessage, FlowStateRow, JobRow};
use chrono::{Datelike, TimeZone, Timelike};
use std::collections::HashMap;
use std::sync::Arc;
use tracing::{debug, info, warn};

/// At most this many flow jobs are claimed for one batch.
pub const BATCH: usize = 64;

/// How often the follow-up timers are looked for (clock time).
pub const TIMER_EVERY_MS: i64 = 60_000;

/// Quiet leads looked at per transaction by the timer job.
const TIMER_PAGE: i64 = 500;

/// The dealership's local time: open now, and when it next opens.
#[derive(Debug, Clone)]
struct Hours {
    open_now: bool,
    opens_at: String,
    opens_in_days: usize,
}

fn hours(app: &App, now: i64) -> Hours {
    let Some(t) = app.config.timezone.timestamp_millis_opt(now).single() else {
        return Hours { open_now: true, opens_at: String::new(), opens_in_days: 0 };
    };
    let (day, minute) = (t.weekday().num_days_from_monday() as usize, (t.hour() * 60 + t.minute()) as u16);
    let h = &app.config.flows.business_hours;
    let (opens_at, opens_in_days) = match h.next_open(day, minute) {
        Some((_, m, ahead)) => (format!("{:02}:{:02}", m / 60, m % 60), ahead),
        None => (String::new(), 0),
    };
    Hours { open_now: h.is_open(day, minute), opens_at, opens_in_days }
}

/// What a batch will write.
#[derive(Default)]
struct Writes {
    bot: Vec<BotMessage>,
    answers: HashMap<LeadId, Vec<(Field, String)>>,
    opt_outs: Vec<(LeadId, CustomerId)>,
    notices: Vec<(LeadId, CustomerId, String)>,
    /// Leads the bot handed over: their first-response clock starts now.
    handed_over: Vec<LeadId>,
    states: Vec<FlowStateRow>,
    touched: Vec<LeadId>,
    steps: u64,
}

/// What one lead's turn is said with.
#[derive(Clone, Copy)]
struct Turn<'a> {
    sets: &'a Sets,
    lang: &'a str,
    h: &'a Hours,
    now: i64,
}

/// The sets a lead's conversation may use: the active one and the one it started in.
struct Sets {
    active: (i64, Arc<Compiled>),
    current: Option<(i64, Arc<Compiled>)>,
}

impl Sets {
    fn get(&self, which: Set) -> &(i64, Arc<Compiled>) {
        match which {
            Set::Active => &self.active,
            Set::Current => self.current.as_ref().unwrap_or(&self.active),
        }
    }
}

/// The words of one step (and its buttons), or the "not understood" line with them.
#[allow(clippy::too_many_arguments)]
fn render_step(
    c: &Compiled,
    flow: usize,
    step: usize,
    not_understood: bool,
    lead: &FlowLead,
    lang: &str,
    h: &Hours,
) -> Option<(String, serde_json::Value)> {
    let f = c.set.flows.get(flow)?;
    let s = f.steps.get(step)?;
    let ctx = context(c, lead, lang, h);
    let (text, choices) = match &s.kind {
        StepKind::Send { text, .. } => (Some(text), &[][..]),
        StepKind::Ask { text, choices, .. } => (Some(text), &choices[..]),
        StepKind::Handoff { text } => (text.as_ref(), &[][..]),
        _ => (None, &[][..]),
    };
    let text = if not_understood { c.set.not_understood.as_ref().or(text) } else { text };
    let body = match c.render(text?, lang, &ctx) {
        Ok(b) => b,
        Err(e) => {
            warn!(lead = lead.lead.0, flow = %f.name, step = %s.id, error = %e, "a flow text did not render");
            return None;
        }
    };
    let buttons: Vec<(String, String)> =
        choices.iter().map(|ch| (ch.value.clone(), ch.label(lang).to_string())).collect();
    let extra = serde_json::json!({ "flow": f.name, "step": s.id, "buttons": buttons });
    Some((body, extra))
}

/// What a lead's texts are rendered with.
fn context<'a>(c: &'a Compiled, lead: &'a FlowLead, lang: &'a str, h: &Hours) -> Context<'a> {
    Context {
        customer: &lead.customer_name,
        lead: lead.lead.0,
        lang,
        answers: lead.fields.iter().map(|(k, v)| (k.as_str(), v.clone())).collect(),
        vars: &c.vars,
        open_now: h.open_now,
        opens_at: h.opens_at.clone(),
        opens_in_days: h.opens_in_days,
    }
}

fn opt_out_text(c: &Compiled, lead: &FlowLead, lang: &str, h: &Hours) -> Option<String> {
    c.render(c.set.opt_out_text.as_ref()?, lang, &context(c, lead, lang, h)).ok()
}

impl Writes {
    fn say(&mut self, lead: &FlowLead, body: String, extra: serde_json::Value) {
        self.bot.push(BotMessage { lead: lead.lead, customer: lead.customer, channel: lead.channel, body, extra });
    }

    /// Carry out one engine outcome for a lead.
    fn apply(&mut self, app: &App, turn: &Turn, lead: &mut FlowLead, out: Step) {
        let Turn { sets, lang, h, now } = *turn;
        self.steps += out.steps as u64;
        let mut said = false;
        for a in &out.actions {
            match a {
                Action::Say { set, flow, step } | Action::NotUnderstood { set, flow, step } => {
                    let nu = matches!(a, Action::NotUnderstood { .. });
                    let (_, c) = sets.get(*set);
                    if let Some((body, extra)) = render_step(c, *flow, *step, nu, lead, lang, h) {
                        self.say(lead, body, extra);
                        said = true;
                    }
                }
                Action::Save(f, v) => {
                    lead.fields.insert(*f, v.clone());
                    self.answers.entry(lead.lead).or_default().push((*f, v.clone()));
                }
                Action::Handoff => {
                    let t = app.templates.render("staff/bot_handoff.txt", minijinja::context! {}).unwrap_or_default();
                    self.notices.push((lead.lead, lead.customer, t));
                    self.handed_over.push(lead.lead);
                }
                Action::OptOut => {
                    if let Some(body) = opt_out_text(&sets.active.1, lead, lang, h) {
                        self.say(lead, body, serde_json::json!({ "flow": "opt_out" }));
                    }
                    lead.do_not_contact = true;
                    self.opt_outs.push((lead.lead, lead.customer));
                    let t = app.templates.render("staff/opted_out.txt", minijinja::context! {}).unwrap_or_default();
                    self.notices.push((lead.lead, lead.customer, t));
                    said = true;
                }
                Action::Started(name) => {
                    lead.starts.insert(name.clone(), now);
                }
            }
        }
        lead.waiting = out.state.map(|(which, s)| (sets.get(which).0, s.flow, s.step, s.misses));
        if said || self.answers.contains_key(&lead.lead) {
            self.touched.push(lead.lead);
        }
    }

    fn state_of(lead: &FlowLead) -> FlowStateRow {
        FlowStateRow {
            lead: lead.lead,
            waiting: lead.waiting.clone(),
            last_message_id: lead.last_message_id,
            starts: lead.starts.clone(),
        }
    }

    /// Write it all. Topic syncs waiting for Telegram's budget (`holds`) are not woken early,
    /// as ingest does not wake them either.
    async fn commit(
        mut self,
        tx: &mut store::Conn,
        holds: &crate::ingest::TopicHolds,
        now: i64,
    ) -> Result<u64, store::StoreError> {
        store::queue_bot_messages(tx, &self.bot, now).await?;
        let answers: Vec<_> = self.answers.into_iter().collect();
        store::save_answers(tx, &answers, now).await?;
        for (lead, customer) in &self.opt_outs {
            store::set_do_not_contact(tx, *customer, now).await?;
            info!(lead = lead.0, "the customer opted out of the bot's messages");
        }
        for (lead, customer, text) in &self.notices {
            let m = crate::notices::system_message(*lead, *customer, text, now);
            store::insert_message(tx, &m, now).await?;
        }
        for lead in &self.handed_over {
            store::handed_over(tx, *lead, now).await?;
        }
        store::save_flow_states(tx, &self.states, now).await?;
        self.touched.sort_unstable_by_key(|l| l.0);
        self.touched.dedup();
        let syncs: Vec<(LeadId, i64)> =
            self.touched.iter().map(|l| (*l, holds.get(&l.0).map_or(now, |h| (*h).max(now)))).collect();
        store::enqueue_topic_syncs(tx, &syncs, now).await?;
        Ok(self.steps)
    }
}

/// The sets a lead's waiting conversation started in, loaded once per batch.
async fn sets_for(app: &App, active: &(i64, Arc<Compiled>), lead: &FlowLead) -> Sets {
    let current = match &lead.waiting {
        Some((v, ..)) if *v == active.0 => Some(active.clone()),
        Some((v, ..)) => match app.flows.version(*v).await {
            Ok(Some(c)) => Some((*v, c)),
            _ => None,
        },
        None => None,
    };
    Sets { active: active.clone(), current }
}

fn state(lead: &FlowLead) -> Option<State> {
    lead.waiting.as_ref().map(|(_, f, s, m)| State { flow: f.clone(), step: s.clone(), misses: *m })
}

fn facts<'a>(lead: &'a FlowLead, lang: &'a str, h: &Hours, new_lead: bool, sent_at: i64, now: i64) -> Facts<'a> {
    Facts {
        new_lead,
        staff_replied: lead.last_staff_at.is_some(),
        open_now: h.open_now,
        automation: lead.automation && lead.is_open,
        do_not_contact: lead.do_not_contact,
        stage: lead.stage,
        language: lang,
        fields: lead.fields.clone(),
        last_starts: &lead.starts,
        now,
        message_age_ms: (now - sent_at).max(0),
    }
}

/// Run the flows on these leads' new customer messages. Returns the steps taken.
pub async fn process(app: &Arc<App>, leads: &[LeadId]) -> anyhow::Result<u64> {
    let Some(active) = app.flows.active() else { return Ok(0) };
    let now = app.clock.now_ms();
    let h = hours(app, now);
    let mut tx = app.store.begin().await?;
    let (rows, msgs) = store::flow_inputs(&mut tx, leads).await?;
    let mut by_lead: HashMap<LeadId, Vec<FlowMessage>> = HashMap::new();
    for m in msgs {
        by_lead.entry(m.lead).or_default().push(m);
    }
    let mut w = Writes::default();
    let default_lang = &app.config.flows.default_language;
    for mut lead in rows {
        let Some(msgs) = by_lead.remove(&lead.lead) else { continue };
        let lang = pick_language(lead.language.as_deref(), &active.1.set.languages, default_lang);
        for m in &msgs {
            let sets = sets_for(app, &active, &lead).await;
            let new_lead = lead.first_incoming == Some(m.id.0) && lead.starts.is_empty();
            let st = state(&lead);
            let current = st.as_ref().zip(sets.current.as_ref()).map(|(s, (_, c))| (&c.set, s));
            // Only text answers: a photo's caption is not an answer to a question.
            let text = m.body.as_deref().filter(|_| m.kind == crate::domain::MessageKind::Text);
            let input = Input::Message { text, button: m.button.as_deref() };
            let f = facts(&lead, &lang, &h, new_lead, m.sent_at, now);
            let out = advance(&active.1.set, current, &f, input);
            debug!(lead = lead.lead.0, message = m.id.0, actions = out.actions.len(), "flow step");
            w.apply(app, &Turn { sets: &sets, lang: &lang, h: &h, now }, &mut lead, out);
            lead.last_message_id = lead.last_message_id.max(m.id.0);
        }
        w.states.push(Writes::state_of(&lead));
    }
    let steps = w.commit(&mut tx, &app.topic_holds, now).await?;
    tx.commit().await?;
    app.wake.notify_one();
    Ok(steps)
}

/// Run a batch of claimed flow jobs (one transaction); returns each one's outcome.
pub async fn process_jobs(app: &Arc<App>, jobs: Vec<JobRow>) -> Vec<(JobRow, Outcome)> {
    let leads: Vec<LeadId> = jobs
        .iter()
        .filter_map(|j| match crate::jobs::Job::read(j) {
            Ok(crate::jobs::Job::Flow { lead }) => Some(lead),
            _ => None,
        })
        .collect();
    let outcome = match process(app, &leads).await {
        Ok(_) => Outcome::Done,
        Err(e) => Outcome::Retry(format!("{e:#}")),
    };
    jobs.into_iter().map(|j| (j, outcome.clone())).collect()
}

/// The recurring timer job: start the follow-up flows that are due, then come back in a
/// minute.
pub async fn timers(app: &Arc<App>) -> anyhow::Result<Outcome> {
    let now = app.clock.now_ms();
    let next = Outcome::WaitUntil(now + TIMER_EVERY_MS);
    let Some(active) = app.flows.active() else { return Ok(next) };
    let timers: Vec<(i64, crate::domain::Stage)> = (active.1.set.flows.iter())
        .filter_map(|f| match f.trigger {
            Trigger::Timer { after_ms, stage, .. } => Some((after_ms, stage)),
            _ => None,
        })
        .collect();
    let Some(shortest) = timers.iter().map(|t| t.0).min() else { return Ok(next) };
    let mut stages: Vec<crate::domain::Stage> = timers.iter().map(|t| t.1).collect();
    stages.sort();
    stages.dedup();
    let h = hours(app, now);
    let default_lang = &app.config.flows.default_language;
    // Page through every quiet lead (most were followed up already this silence).
    let mut after = LeadId(0);
    loop {
        let mut tx = app.store.begin().await?;
        let leads = store::timer_candidates(&mut tx, &stages, now - shortest, after, TIMER_PAGE).await?;
        let Some(last) = leads.last().map(|l| l.lead) else { break };
        let full = leads.len() as i64 == TIMER_PAGE;
        let mut w = Writes::default();
        for mut lead in leads {
            let last_human = lead.last_message_at.max(lead.last_staff_at);
            let customer_last = lead.last_message_at.unwrap_or(0) > lead.last_staff_at.unwrap_or(0);
            let Some((speak, due)) =
                due_timers(&active.1.set, lead.stage, last_human, customer_last, &lead.starts, now)
            else {
                continue;
            };
            for name in due {
                lead.starts.insert(name.to_string(), now);
            }
            let lang = pick_language(lead.language.as_deref(), &active.1.set.languages, default_lang);
            let sets = sets_for(app, &active, &lead).await;
            let st = state(&lead);
            let current = st.as_ref().zip(sets.current.as_ref()).map(|(s, (_, c))| (&c.set, s));
            let f = facts(&lead, &lang, &h, false, now, now);
            let out = advance(&active.1.set, current, &f, Input::Timer(&speak.name));
            info!(lead = lead.lead.0, flow = %speak.name, "a follow-up timer is due");
            w.apply(app, &Turn { sets: &sets, lang: &lang, h: &h, now }, &mut lead, out);
            w.states.push(Writes::state_of(&lead));
        }
        w.commit(&mut tx, &app.topic_holds, now).await?;
        tx.commit().await?;
        if !full {
            break;
        }
        after = last;
    }
    app.wake.notify_one();
    Ok(next)
}

/// The timer job, enqueued once at start (a pending one is kept).
pub fn timer_job(now: i64) -> store::NewJob {
    crate::jobs::Job::FlowTimers.into_new("flow_timers".into(), Some("flow_timers".into()), now)
}

/// A single flow job (run alone when it is the only one claimed).
pub async fn one(app: &Arc<App>, lead: LeadId) -> anyhow::Result<Outcome> {
    process(app, &[lead]).await?;
    Ok(Outcome::Done)
}
