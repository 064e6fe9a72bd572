//! The flow engine's rules: given a lead's facts, its conversation state and what just
//! happened (a customer message, or a timer), which flow runs, which steps it takes, what
//! is said and saved, and where it waits. Pure: the caller renders the texts, writes the
//! rows and sends.
//!
//! The order a customer message is looked at: a do-not-contact customer gets nothing; an
//! opt-out word stops everything (the one confirmation is the last thing the bot says);
//! automation off gets nothing; a conversation waiting for an answer takes it; otherwise
//! the first flow whose trigger fits starts — keyword, first message, after hours, no staff
//! reply yet — unless it ran on this lead within its cooldown.

use super::{normalise, BranchOn, Choice, Field, FlowSet, StepKind, Trigger, MAX_ANSWER_CHARS};
use crate::domain::Stage;
use std::collections::BTreeMap;

/// Steps one input may take at most (a check against loops the file check missed).
pub const MAX_STEPS: u32 = 50;

/// A customer message older than this when the engine sees it (the service was down, or
/// the messenger delivered it late) is left to the staff: the bot does not greet or ask
/// about something said an hour ago. An opt-out is still honoured.
pub const STALE_MS: i64 = 3_600_000;

/// Where a conversation stands: the flow and step it waits at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub flow: String,
    pub step: String,
    /// Typed answers that matched no button at this step.
    pub misses: u8,
}

/// What the engine needs to know about the lead.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub new_lead: bool,
    pub staff_replied: bool,
    pub open_now: bool,
    pub automation: bool,
    pub do_not_contact: bool,
    pub stage: Stage,
    pub language: &'a str,
    pub fields: BTreeMap<Field, String>,
    /// When each flow last started on this lead.
    pub last_starts: &'a BTreeMap<String, i64>,
    pub now: i64,
    /// How old the message is (0 for timers).
    pub message_age_ms: i64,
}

#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// A customer message: its text, and the button value when a button was pressed.
    Message { text: Option<&'a str>, button: Option<&'a str> },
    /// A timer fired for this flow.
    Timer(&'a str),
}

/// Which set a step belongs to: the one the conversation started in, or the active one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Set {
    Current,
    Active,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Say the text of this step (a send, an ask with its buttons, a hand-off's text).
    Say { set: Set, flow: usize, step: usize },
    /// The typed answer matched no button: say so and show the buttons of this step again.
    NotUnderstood { set: Set, flow: usize, step: usize },
    /// Save an answer on the lead.
    Save(Field, String),
    /// The conversation goes to the staff.
    Handoff,
    /// The customer asked not to be contacted: mark them and confirm once.
    OptOut,
    /// This flow started (for cooldowns and the topic).
    Started(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub actions: Vec<Action>,
    /// The conversation afterwards: waiting at a step, or none.
    pub state: Option<(Set, State)>,
    /// Steps taken.
    pub steps: u32,
}

impl Outcome {
    fn nothing(state: Option<(Set, State)>) -> Outcome {
        Outcome { actions: Vec::new(), state, steps: 0 }
    }
}

/// Whether `text` on its own is an opt-out.
pub fn is_opt_out(set: &FlowSet, text: &str) -> bool {
    let n = normalise(text);
    !n.is_empty() && set.opt_out_words.contains(&n)
}

/// Which choice an answer means: the pressed button's value, or typed text equal to a
/// value, a label (any language) or one of its `also` words.
pub fn match_choice<'c>(choices: &'c [Choice], text: Option<&str>, button: Option<&str>) -> Option<&'c Choice> {
    if let Some(b) = button {
        if let Some(c) = choices.iter().find(|c| c.value == b) {
            return Some(c);
        }
    }
    let t = normalise(text?);
    if t.is_empty() {
        return None;
    }
    choices.iter().find(|c| {
        normalise(&c.value) == t
            || c.labels.values().any(|l| normalise(l) == t)
            || c.also.iter().any(|a| normalise(a) == t)
    })
}

fn keyword_hit(words: &[String], text: &str) -> bool {
    let n = normalise(text);
    let padded = format!(" {n} ");
    words.iter().any(|w| {
        let w = normalise(w);
        !w.is_empty() && padded.contains(&format!(" {w} "))
    })
}

fn cooled(flow: &super::Flow, facts: &Facts) -> bool {
    match (flow.cooldown_ms, facts.last_starts.get(&flow.name)) {
        (Some(c), Some(at)) => facts.now - at >= c,
        _ => true,
    }
}

/// The flow a message starts, if any.
fn triggered(set: &FlowSet, facts: &Facts, text: Option<&str>) -> Option<usize> {
    let fits = |want: fn(&Trigger, &Facts, Option<&str>) -> bool| {
        set.flows.iter().position(|f| want(&f.trigger, facts, text) && cooled(f, facts))
    };
    fits(|t, _, text| matches!(t, Trigger::Keyword(w) if text.is_some_and(|x| keyword_hit(w, x))))
        .or_else(|| fits(|t, f, _| matches!(t, Trigger::FirstMessage) && f.new_lead))
        .or_else(|| fits(|t, f, _| matches!(t, Trigger::AfterHours) && !f.open_now))
        .or_else(|| fits(|t, f, _| matches!(t, Trigger::NoStaffReply) && !f.staff_replied))
}

/// Advance a lead's conversation by one input. `current` is the set the waiting
/// conversation started in (it may be older than `active`) with its state.
pub fn advance(active: &FlowSet, current: Option<(&FlowSet, &State)>, facts: &Facts, input: Input) -> Outcome {
    let kept = current.map(|(_, s)| (Set::Current, s.clone()));
    if facts.do_not_contact {
        return Outcome::nothing(None);
    }
    let (text, button) = match input {
        Input::Message { text, button } => (text, button),
        Input::Timer(name) => {
            // A follow-up replaces a question left unanswered (the customer went quiet).
            if !facts.automation {
                return Outcome::nothing(kept);
            }
            let Some((fi, _)) = active.flow(name) else { return Outcome::nothing(kept) };
            let mut run = Run::new(active, Set::Active, &facts.fields, facts);
            run.out.push(Action::Started(name.to_string()));
            return run.from(fi, 0);
        }
    };
    if button.is_none() && text.is_some_and(|t| is_opt_out(active, t)) {
        return Outcome { actions: vec![Action::OptOut], state: None, steps: 1 };
    }
    if !facts.automation {
        return Outcome::nothing(None);
    }
    if facts.message_age_ms > STALE_MS {
        return Outcome::nothing(kept);
    }
    // A conversation waiting for an answer takes it.
    if let Some((set, state)) = current {
        if let Some((fi, flow)) = set.flow(&state.flow) {
            if let Some(si) = flow.steps.iter().position(|s| s.id == state.step) {
                if let StepKind::Ask { choices, save, next, .. } = &flow.steps[si].kind {
                    let mut run = Run::new(set, Set::Current, &facts.fields, facts);
                    return run.answer(fi, si, state.misses, choices, *save, *next, text, button);
                }
            }
        }
        // The step is gone (a flow file changed under an old state): start afresh.
    }
    match triggered(active, facts, text) {
        Some(fi) => {
            let mut run = Run::new(active, Set::Active, &facts.fields, facts);
            run.out.push(Action::Started(active.flows[fi].name.clone()));
            run.from(fi, 0)
        }
        None => Outcome::nothing(None),
    }
}

struct Run<'a> {
    set: &'a FlowSet,
    which: Set,
    fields: BTreeMap<Field, String>,
    facts: &'a Facts<'a>,
    out: Vec<Action>,
    steps: u32,
}

impl<'a> Run<'a> {
    fn new(set: &'a FlowSet, which: Set, fields: &BTreeMap<Field, String>, facts: &'a Facts<'a>) -> Run<'a> {
        Run { set, which, fields: fields.clone(), facts, out: Vec::new(), steps: 0 }
    }

    fn save(&mut self, field: Field, value: &str) {
        let value: String = value.trim().chars().take(MAX_ANSWER_CHARS).collect();
        if value.is_empty() {
            return;
        }
        self.fields.insert(field, value.clone());
        self.out.push(Action::Save(field, value));
    }

    #[allow(clippy::too_many_arguments)]
    fn answer(
        &mut self,
        fi: usize,
        si: usize,
        misses: u8,
        choices: &[Choice],
        save: Option<Field>,
        next: Option<usize>,
        text: Option<&str>,
        button: Option<&str>,
    ) -> Outcome {
        self.steps += 1;
        if choices.is_empty() {
            match text.map(str::trim).filter(|t| !t.is_empty()) {
                Some(t) => {
                    if let Some(f) = save {
                        self.save(f, t);
                    }
                }
                // A photo or a sticker for a typed question: keep waiting.
                None => return self.finish(Some((fi, si, misses))),
            }
        } else if button.is_none() && text.is_none_or(|t| t.trim().is_empty()) {
            // A photo or a sticker for a question with buttons: keep waiting, say nothing.
            return self.finish(Some((fi, si, misses)));
        } else {
            match match_choice(choices, text, button) {
                Some(c) => {
                    if let Some(f) = save {
                        let v = c.value.clone();
                        self.save(f, &v);
                    }
                }
                None if misses == 0 => {
                    self.out.push(Action::NotUnderstood { set: self.which, flow: fi, step: si });
                    return self.finish(Some((fi, si, 1)));
                }
                None => {
                    // Twice not understood: keep their words for the manager and go on.
                    if let Some(t) = text.map(str::trim).filter(|t| !t.is_empty()) {
                        self.save(Field::Note, t);
                    }
                }
            }
        }
        match next {
            Some(n) => self.from(fi, n),
            None => self.finish(None),
        }
    }

    fn finish(&mut self, waiting: Option<(usize, usize, u8)>) -> Outcome {
        let state = waiting.map(|(fi, si, misses)| {
            let f = &self.set.flows[fi];
            (self.which, State { flow: f.name.clone(), step: f.steps[si].id.clone(), misses })
        });
        Outcome { actions: std::mem::take(&mut self.out), state, steps: self.steps }
    }

    /// Run from step `si` of flow `fi` until the flow waits or ends.
    fn from(&mut self, fi: usize, mut si: usize) -> Outcome {
        let flow = &self.set.flows[fi];
        loop {
            if self.steps >= MAX_STEPS {
                return self.finish(None);
            }
            self.steps += 1;
            let Some(step) = flow.steps.get(si) else { return self.finish(None) };
            let next = match &step.kind {
                StepKind::Send { next, .. } => {
                    self.out.push(Action::Say { set: self.which, flow: fi, step: si });
                    *next
                }
                StepKind::Ask { .. } => {
                    self.out.push(Action::Say { set: self.which, flow: fi, step: si });
                    return self.finish(Some((fi, si, 0)));
                }
                StepKind::Branch { on, cases, default } => {
                    let value = match on {
                        BranchOn::Field(f) => self.fields.get(f).cloned().unwrap_or_default(),
                        BranchOn::BusinessHours => (if self.facts.open_now { "open" } else { "closed" }).to_string(),
                        BranchOn::Language => self.facts.language.to_string(),
                    };
                    cases.iter().find(|(v, _)| *v == value).map(|(_, to)| *to).or(*default)
                }
                StepKind::Handoff { text } => {
                    if text.is_some() {
                        self.out.push(Action::Say { set: self.which, flow: fi, step: si });
                    }
                    self.out.push(Action::Handoff);
                    return self.finish(None);
                }
                StepKind::End => return self.finish(None),
            };
            match next {
                Some(n) => si = n,
                None => return self.finish(None),
            }
        }
    }
}

/// Whether a timer flow is due on a lead: it sits in the flow's stage, its last human
/// message is old enough (and was the staff's, when the flow asks for no reply), and this
/// flow has not run since that message.
pub fn timer_due(
    trigger: &Trigger,
    stage: Stage,
    last_human_at: Option<i64>,
    last_human_was_customer: bool,
    last_start: Option<i64>,
    now: i64,
) -> bool {
    let Trigger::Timer { after_ms, stage: want, unanswered } = trigger else { return false };
    let Some(at) = last_human_at else { return false };
    stage == *want
        && !(*unanswered && last_human_was_customer)
        && now - at >= *after_ms
        && last_start.is_none_or(|s| s < at)
}

/// The follow-up to send on a lead now, if any, and every timer flow due (to be marked as
/// run for this silence). After a long pause several may be due (day 3 and day 7): the
/// latest one speaks, the earlier ones are skipped, never sent late.
pub fn due_timers<'f>(
    set: &'f FlowSet,
    stage: Stage,
    last_human_at: Option<i64>,
    last_human_was_customer: bool,
    last_starts: &BTreeMap<String, i64>,
    now: i64,
) -> Option<(&'f super::Flow, Vec<&'f str>)> {
    let due: Vec<&super::Flow> = set
        .flows
        .iter()
        .filter(|f| {
            timer_due(&f.trigger, stage, last_human_at, last_human_was_customer, last_starts.get(&f.name).copied(), now)
        })
        .collect();
    let speak = due.iter().copied().max_by_key(|f| match f.trigger {
        Trigger::Timer { after_ms, .. } => after_ms,
        _ => 0,
    })?;
    Some((speak, due.iter().map(|f| f.name.as_str()).collect()))
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
