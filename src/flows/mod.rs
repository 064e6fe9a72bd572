//! Conversation flows that admins edit: the files (flows/*.yaml and templates/flows/),
//! their check, the versions activated, and the job that runs them for each lead.
//!
//! - [`check`] reads a set of files and reports every problem with file and line; only a
//!   set without problems becomes a [`Compiled`] set.
//! - [`files`] reads the set from disk (or the defaults built into the binary).
//! - [`runtime`] holds the active version and every version a conversation still uses,
//!   reloads flows/ when it changes on disk, and activates uploads and rollbacks.
//! - [`run`] is the flow job: a lead's new customer messages (or a timer) through
//!   `domain::flow::engine`, its texts rendered and queued for the customer in one
//!   transaction with the conversation's new state.
//! - [`admin`] is the staff side: flow files sent to the bot, `/flows`, rollback.
//! - [`script`] is the call script's file and the active script; [`script_admin`] takes
//!   an uploaded `call_script.yaml` the same way as a flow file.
//!
//! The rules (what triggers, what a step does, opt-out) live in `domain::flow`; nothing
//! here decides them.

pub mod admin;
pub mod check;
pub mod files;
mod raw;
pub mod run;
pub mod runtime;
pub mod script;
pub mod script_admin;
pub mod watch;

use crate::domain::flow::{FlowSet, Text};
use minijinja::Environment;
use serde::Serialize;
use std::collections::BTreeMap;

pub use check::{check, Problem, Snapshot};
pub use runtime::Flows;

/// A checked set, ready to run: the flows and their compiled templates.
pub struct Compiled {
    pub set: FlowSet,
    env: Environment<'static>,
    pub vars: BTreeMap<String, serde_json::Value>,
    pub files: Snapshot,
    /// A hash of the files, to tell sets apart.
    pub hash: String,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled").field("flows", &self.set.flows.len()).field("hash", &self.hash).finish()
    }
}

/// The template environment flows render in: the same syntax as templates/ elsewhere.
pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    let syntax =
        minijinja::syntax::SyntaxConfig::builder().trim_blocks(true).build().expect("the default syntax builds");
    env.set_syntax(syntax);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env
}

/// The hash of a set of files.
pub fn hash_files(files: &Snapshot) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (k, v) in files {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// What a flow's templates can use.
#[derive(Debug, Clone, Serialize)]
pub struct Context<'a> {
    /// The customer's name as the messenger gave it.
    pub customer: &'a str,
    pub lead: i64,
    pub lang: &'a str,
    /// Answers saved so far: intent, vehicle_interest, budget, note.
    pub answers: BTreeMap<&'static str, String>,
    /// `vars` from flows/settings.yaml.
    pub vars: &'a BTreeMap<String, serde_json::Value>,
    pub open_now: bool,
    /// When the dealership next opens (local `HH:MM`) and in how many days (0 = today).
    pub opens_at: String,
    pub opens_in_days: usize,
}

/// Sample answers, for checking lengths once.
pub(crate) fn sample_context(c: &Compiled) -> Context<'_> {
    let answers = [
        ("intent", "buy".to_string()),
        ("vehicle_interest", "Toyota RAV4 2019, white, automatic".to_string()),
        ("budget", "25 000 USD".to_string()),
        ("note", "Please call after six".to_string()),
    ]
    .into();
    Context {
        customer: "Olena Koval",
        lead: 12345,
        lang: "uk",
        answers,
        vars: &c.vars,
        open_now: false,
        opens_at: "09:00".into(),
        opens_in_days: 1,
    }
}

impl Compiled {
    fn new(
        set: FlowSet,
        env: Environment<'static>,
        vars: BTreeMap<String, serde_json::Value>,
        files: Snapshot,
    ) -> Self {
        let hash = hash_files(&files);
        Compiled { set, env, vars, files, hash }
    }

    /// Render a template by name in `lang` (else the set's first language).
    pub fn render_name(&self, name: &str, lang: &str, ctx: &Context) -> Result<String, minijinja::Error> {
        let t = match self.env.get_template(&format!("{lang}/{name}")) {
            Ok(t) => t,
            Err(_) => {
                let first = self.set.languages.first().map(String::as_str).unwrap_or("uk");
                self.env.get_template(&format!("{first}/{name}"))?
            }
        };
        Ok(t.render(minijinja::value::Serde(ctx))?.trim().to_string())
    }

    pub fn render(&self, text: &Text, lang: &str, ctx: &Context) -> Result<String, minijinja::Error> {
        self.render_name(&text.0, lang, ctx)
    }

    /// The flows' names and triggers, for summaries.
    pub fn outline(&self) -> Vec<(String, String)> {
        self.set.flows.iter().map(|f| (f.name.clone(), trigger_label(&f.trigger))).collect()
    }
}

/// A trigger as an admin would write it.
pub fn trigger_label(t: &crate::domain::flow::Trigger) -> String {
    use crate::domain::flow::Trigger;
    match t {
        Trigger::FirstMessage => "first_message".into(),
        Trigger::NoStaffReply => "no_staff_reply".into(),
        Trigger::AfterHours => "after_hours".into(),
        Trigger::Keyword(w) => format!("keyword: {}", w.join(", ")),
        Trigger::Timer { after_ms, stage, unanswered } => format!(
            "timer: {} in {}{}",
            if after_ms % 86_400_000 == 0 {
                format!("{}d", after_ms / 86_400_000)
            } else {
                format!("{}m", after_ms / 60_000)
            },
            stage.as_str(),
            if *unanswered { ", unanswered" } else { "" }
        ),
    }
}
