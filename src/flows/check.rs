//! Reading and checking a set of flow files: every YAML flow, the settings, and the
//! templates they name. Every problem is reported with its file and line, and only a set
//! with none is compiled (`Compiled`) and may be activated.
//!
//! The files of a set, by their logical path:
//! - `flows/<name>.yaml` — one flow each; `flows/settings.yaml` — languages, opt-out
//!   words, shared variables;
//! - `templates/flows/<lang>/<name>.txt` — the texts steps name (`send: welcome/greeting`
//!   is `templates/flows/uk/welcome/greeting.txt` for a Ukrainian speaker).

use super::raw::{RawFlow, RawSettings, RawStep, RawText, RawTrigger};
use super::Compiled;
use crate::domain::flow::limits::{button_problems, text_problems};
use crate::domain::flow::{
    parse_duration, BranchOn, Choice, Field, Flow, FlowSet, Step, StepKind, Text, Trigger, INTENTS,
};
use crate::domain::Stage;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, HashMap};

/// A set's files: logical path → content.
pub type Snapshot = BTreeMap<String, String>;

pub const SETTINGS: &str = "flows/settings.yaml";
pub const TEMPLATES: &str = "templates/flows/";

/// One problem, where it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(f, "{}: {}", self.file, self.message)
        }
    }
}

/// Gathers problems and the templates a set needs.
struct Checker<'a> {
    files: &'a Snapshot,
    problems: Vec<Problem>,
    languages: Vec<String>,
    /// env name (`uk/welcome/greeting`) → source, from files and inline texts.
    templates: BTreeMap<String, String>,
    /// Where each env name's source came from, for problems: (file, line).
    origin: HashMap<String, (String, usize)>,
    /// Texts to check once compiled: (template name, file, line, buttons).
    uses: Vec<(String, String, usize, usize)>,
}

impl Checker<'_> {
    fn problem(&mut self, file: &str, line: usize, message: impl Into<String>) {
        self.problems.push(Problem { file: file.to_string(), line, message: message.into() });
    }

    /// A step's or a setting's text as a template name; inline text becomes templates of
    /// its own under `_inline/<owner>`.
    fn text(&mut self, raw: &RawText, owner: &str, file: &str, line: usize, buttons: usize) -> Option<Text> {
        let name = match raw {
            RawText::Flag(_) => {
                self.problem(file, line, "expected a template name or text per language, not true/false");
                return None;
            }
            RawText::Name(n) => {
                let n = n.trim().trim_end_matches(".txt").to_string();
                for lang in self.languages.clone() {
                    let key = format!("{lang}/{n}");
                    if !self.templates.contains_key(&key) {
                        self.problem(file, line, format!("missing template {TEMPLATES}{lang}/{n}.txt"));
                    }
                }
                n
            }
            RawText::Inline(by_lang) => {
                let n = format!("_inline/{owner}");
                for lang in self.languages.clone() {
                    match by_lang.get(&lang) {
                        Some(src) => {
                            self.templates.insert(format!("{lang}/{n}"), src.clone());
                            self.origin.insert(format!("{lang}/{n}"), (file.to_string(), line));
                        }
                        None => self.problem(file, line, format!("no text in '{lang}'")),
                    }
                }
                let extra: Vec<String> = by_lang.keys().filter(|l| !self.languages.contains(l)).cloned().collect();
                for lang in extra {
                    self.problem(file, line, format!("'{lang}' is not one of the languages in {SETTINGS}"));
                }
                n
            }
        };
        self.uses.push((name.clone(), file.to_string(), line, buttons));
        Some(Text(name))
    }
}

fn yaml_problem(file: &str, e: &serde_saphyr::Error) -> Problem {
    let line = e.location().map(|l| l.line() as usize).unwrap_or(0);
    let message = e.without_snippet().to_string();
    let message = message.lines().next().unwrap_or("").to_string();
    Problem { file: file.to_string(), line, message }
}

fn parse<T: for<'de> Deserialize<'de>>(file: &str, src: &str) -> Result<T, Problem> {
    serde_saphyr::from_str::<T>(src).map_err(|e| yaml_problem(file, &e))
}

/// Check a whole set. `Ok` only when there is no problem at all.
pub fn check(files: &Snapshot) -> Result<Compiled, Vec<Problem>> {
    let mut c = Checker {
        files,
        problems: Vec::new(),
        languages: Vec::new(),
        templates: BTreeMap::new(),
        origin: HashMap::new(),
        uses: Vec::new(),
    };
    // Template files, by language.
    for (path, src) in files {
        if let Some(rest) = path.strip_prefix(TEMPLATES) {
            let name = rest.trim_end_matches(".txt").to_string();
            c.templates.insert(name.clone(), src.clone());
            c.origin.insert(name, (path.clone(), 0));
        } else if !(path.starts_with("flows/") && (path.ends_with(".yaml") || path.ends_with(".yml"))) {
            c.problem(path, 0, "not a flow (flows/*.yaml) or a flow template (templates/flows/<lang>/*.txt)");
        }
    }
    // Settings first: the languages every text must exist in.
    let mut set = FlowSet::default();
    let mut vars = BTreeMap::new();
    match files.get(SETTINGS).map(|s| parse::<RawSettings>(SETTINGS, s)) {
        None => c.problem(SETTINGS, 0, "missing: it lists the languages and the opt-out words"),
        Some(Err(p)) => c.problems.push(p),
        Some(Ok(s)) => {
            c.languages = s.languages.iter().map(|l| l.trim().to_lowercase()).collect();
            if c.languages.is_empty() {
                c.problem(SETTINGS, 1, "languages: name at least one");
            }
            set.opt_out_words = s.opt_out.words.iter().map(|w| crate::domain::flow::normalise(w)).collect();
            set.opt_out_words.retain(|w| !w.is_empty());
            if set.opt_out_words.is_empty() {
                c.problem(SETTINGS, 1, "opt_out.words: name at least one");
            }
            set.opt_out_text = c.text(&s.opt_out.confirm, "settings/opt_out", SETTINGS, 1, 0);
            set.not_understood =
                s.not_understood.as_ref().and_then(|t| c.text(t, "settings/not_understood", SETTINGS, 1, 0));
            vars = s.vars;
        }
    }
    set.languages = c.languages.clone();
    // Flows.
    let mut names: HashMap<String, String> = HashMap::new();
    for (path, src) in files.iter().filter(|(p, _)| p.starts_with("flows/") && p.as_str() != SETTINGS) {
        if !(path.ends_with(".yaml") || path.ends_with(".yml")) {
            continue;
        }
        let raw = match parse::<RawFlow>(path, src) {
            Ok(r) => r,
            Err(p) => {
                c.problems.push(p);
                continue;
            }
        };
        let name_line = raw.name.referenced.line() as usize;
        if let Some(other) = names.insert(raw.name.value.clone(), path.clone()) {
            c.problem(path, name_line, format!("flow '{}' is also defined in {other}", raw.name.value));
        }
        if let Some(flow) = flow(&mut c, path, raw) {
            set.flows.push(flow);
        }
    }
    if set.flows.is_empty() && c.problems.is_empty() {
        c.problem("flows/", 0, "no flow files");
    }
    if !c.problems.is_empty() {
        c.problems.sort();
        return Err(c.problems);
    }
    let compiled = compile(&mut c, set, vars);
    c.problems.sort();
    c.problems.dedup();
    match compiled {
        Some(x) if c.problems.is_empty() => Ok(x),
        _ => Err(c.problems),
    }
}

fn flow(c: &mut Checker, path: &str, raw: RawFlow) -> Option<Flow> {
    let name = raw.name.value.trim().to_string();
    let tline = raw.trigger.referenced.line() as usize;
    let trigger = match raw.trigger.value {
        RawTrigger::FirstMessage => Trigger::FirstMessage,
        RawTrigger::NoStaffReply => Trigger::NoStaffReply,
        RawTrigger::AfterHours => Trigger::AfterHours,
        RawTrigger::Keyword(words) => {
            let words: Vec<String> =
                words.iter().map(|w| crate::domain::flow::normalise(w)).filter(|w| !w.is_empty()).collect();
            if words.is_empty() {
                c.problem(path, tline, "keyword: name at least one word");
            }
            Trigger::Keyword(words)
        }
        RawTrigger::Timer(t) => {
            let after = parse_duration(&t.after);
            if after.is_none() {
                c.problem(path, tline, format!("timer.after '{}': write it like 3d, 12h or 30m", t.after));
            }
            let stage = Stage::parse(t.stage.trim());
            if stage.is_none() {
                c.problem(path, tline, format!("timer.stage '{}' is not a stage", t.stage));
            }
            Trigger::Timer {
                after_ms: after.unwrap_or(1),
                stage: stage.unwrap_or(Stage::Contacted),
                unanswered: t.unanswered,
            }
        }
    };
    let cooldown_ms = raw.cooldown.as_ref().and_then(|s| {
        let d = parse_duration(&s.value);
        if d.is_none() {
            c.problem(path, s.referenced.line() as usize, format!("cooldown '{}': write it like 12h", s.value));
        }
        d
    });
    if raw.steps.is_empty() {
        c.problem(path, tline, "steps: a flow needs at least one step");
        return None;
    }
    // Step ids first, so `next` may point forward.
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, s) in raw.steps.iter().enumerate() {
        if index.insert(s.value.id.clone(), i).is_some() {
            c.problem(path, s.referenced.line() as usize, format!("step '{}' is defined twice", s.value.id));
        }
    }
    let mut steps = Vec::new();
    for s in &raw.steps {
        let line = s.referenced.line() as usize;
        let r = &s.value;
        let target = |c: &mut Checker, to: &Option<String>| -> Option<usize> {
            let to = to.as_ref()?;
            let i = index.get(to.as_str()).copied();
            if i.is_none() {
                c.problem(path, line, format!("step '{}' goes to '{to}', which is not a step of this flow", r.id));
            }
            i
        };
        let kinds = [r.send.is_some(), r.ask.is_some(), r.branch.is_some(), r.handoff.is_some(), r.end.is_some()];
        let n = kinds.iter().filter(|k| **k).count();
        if n != 1 {
            c.problem(
                path,
                line,
                format!("step '{}' must have exactly one of send, ask, branch, handoff, end (it has {n})", r.id),
            );
            continue;
        }
        let owner = format!("{name}/{}", r.id);
        let save = r.save.as_ref().and_then(|f| {
            let field = Field::parse(f.trim());
            if field.is_none() {
                c.problem(
                    path,
                    line,
                    format!("save: '{f}' is not a lead field (intent, vehicle_interest, budget, note)"),
                );
            }
            field
        });
        let kind = if let Some(t) = &r.send {
            let text = c.text(t, &owner, path, line, 0)?;
            StepKind::Send { text, next: target(c, &r.next) }
        } else if let Some(t) = &r.ask {
            let choices: Vec<Choice> = r
                .choices
                .iter()
                .map(|ch| Choice {
                    value: ch.value.trim().to_string(),
                    labels: ch.label.clone(),
                    also: ch.also.clone(),
                })
                .collect();
            let text = c.text(t, &owner, path, line, choices.len())?;
            for ch in &choices {
                for lang in c.languages.clone() {
                    if !ch.labels.contains_key(&lang) {
                        c.problem(path, line, format!("choice '{}' has no label in '{lang}'", ch.value));
                    }
                }
                if save == Some(Field::Intent) && !INTENTS.contains(&ch.value.as_str()) {
                    c.problem(path, line, format!("intent '{}' is not one of {}", ch.value, INTENTS.join(", ")));
                }
            }
            for lang in c.languages.clone() {
                let labels: Vec<&str> = choices.iter().map(|ch| ch.label(&lang)).collect();
                let values: Vec<&str> = choices.iter().map(|ch| ch.value.as_str()).collect();
                for p in button_problems(&labels, &values) {
                    c.problem(path, line, format!("step '{}' ({lang}): {p}", r.id));
                }
            }
            if save == Some(Field::Intent) && choices.is_empty() {
                c.problem(path, line, "save: intent needs choices (buy, sell, service_inquiry, other)");
            }
            StepKind::Ask { text, choices, save, next: target(c, &r.next) }
        } else if let Some(on) = &r.branch {
            let on = match on.trim() {
                "business_hours" => BranchOn::BusinessHours,
                "language" => BranchOn::Language,
                f => match Field::parse(f) {
                    Some(f) => BranchOn::Field(f),
                    None => {
                        c.problem(path, line, format!("branch: '{f}' is not business_hours, language or a lead field"));
                        continue;
                    }
                },
            };
            if r.cases.is_empty() && r.default.is_none() {
                c.problem(path, line, format!("branch '{}' needs cases or a default", r.id));
            }
            let mut cases = Vec::new();
            for (value, to) in &r.cases {
                let ok = match on {
                    BranchOn::BusinessHours => value == "open" || value == "closed",
                    BranchOn::Field(Field::Intent) => INTENTS.contains(&value.as_str()),
                    BranchOn::Language => c.languages.contains(value),
                    BranchOn::Field(_) => true,
                };
                if !ok {
                    c.problem(path, line, format!("branch '{}': case '{value}' can never match", r.id));
                }
                if let Some(i) = target(c, &Some(to.clone())) {
                    cases.push((value.clone(), i));
                }
            }
            StepKind::Branch { on, cases, default: target(c, &r.default) }
        } else if let Some(t) = &r.handoff {
            let text = match t {
                RawText::Flag(true) => None,
                other => c.text(other, &owner, path, line, 0),
            };
            StepKind::Handoff { text }
        } else {
            StepKind::End
        };
        if r.next.is_some() && !matches!(kind, StepKind::Send { .. } | StepKind::Ask { .. }) {
            c.problem(path, line, format!("step '{}': next is only for send and ask", r.id));
        }
        if !r.choices.is_empty() && !matches!(kind, StepKind::Ask { .. }) {
            c.problem(path, line, format!("step '{}': choices are only for ask", r.id));
        }
        steps.push(Step { id: r.id.clone(), kind });
    }
    if steps.len() != raw.steps.len() {
        return None;
    }
    reachability(c, path, &raw.steps, &steps);
    Some(Flow { name, trigger, cooldown_ms, steps })
}

fn successors(kind: &StepKind) -> Vec<usize> {
    match kind {
        StepKind::Send { next, .. } | StepKind::Ask { next, .. } => next.iter().copied().collect(),
        StepKind::Branch { cases, default, .. } => {
            cases.iter().map(|(_, t)| *t).chain(default.iter().copied()).collect()
        }
        StepKind::Handoff { .. } | StepKind::End => Vec::new(),
    }
}

/// Steps the start cannot reach, and loops with no question in them (they would spin).
fn reachability(c: &mut Checker, path: &str, raw: &[Spanned<RawStep>], steps: &[Step]) {
    let mut seen = vec![false; steps.len()];
    let mut todo = vec![0];
    while let Some(i) = todo.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        todo.extend(successors(&steps[i].kind));
    }
    for (i, s) in steps.iter().enumerate().filter(|(i, _)| !seen[*i]) {
        c.problem(
            path,
            raw[i].referenced.line() as usize,
            format!("step '{}' is unreachable from the first step", s.id),
        );
    }
    // A cycle through steps that never wait.
    fn spins(steps: &[Step], i: usize, state: &mut [u8]) -> bool {
        if matches!(steps[i].kind, StepKind::Ask { .. }) {
            return false;
        }
        match state[i] {
            1 => return true,
            2 => return false,
            _ => {}
        }
        state[i] = 1;
        let found = successors(&steps[i].kind).into_iter().any(|n| spins(steps, n, state));
        state[i] = 2;
        found
    }
    let mut state = vec![0u8; steps.len()];
    for i in 0..steps.len() {
        if spins(steps, i, &mut state) {
            c.problem(
                path,
                raw[i].referenced.line() as usize,
                format!("step '{}' is in a loop with no ask", steps[i].id),
            );
            break;
        }
    }
}

/// Compile every template (syntax), render every text used once with sample answers
/// (lengths), and build the set.
fn compile(c: &mut Checker, set: FlowSet, vars: BTreeMap<String, serde_json::Value>) -> Option<Compiled> {
    let mut env = super::environment();
    let templates = c.templates.clone();
    for (name, src) in templates {
        if let Err(e) = env.add_template_owned(name.clone(), src) {
            let (file, base) = c.origin.get(&name).cloned().unwrap_or_default();
            // A file's own line; text written in a flow is reported at its step.
            let line = if base > 0 { base } else { e.line().unwrap_or(0) };
            let detail = e.detail().map(|d| d.to_string()).unwrap_or_else(|| e.kind().to_string());
            c.problem(&file, line, format!("template syntax error: {detail}"));
        }
    }
    if !c.problems.is_empty() {
        return None;
    }
    let compiled = Compiled::new(set, env, vars, c.files.clone());
    let sample = super::sample_context(&compiled);
    let uses = std::mem::take(&mut c.uses);
    for (name, file, line, buttons) in uses {
        for lang in c.languages.clone() {
            match compiled.render_name(&name, &lang, &sample) {
                Ok(s) => {
                    for p in text_problems(s.chars().count(), buttons) {
                        c.problem(&file, line, format!("{name} ({lang}): {p}"));
                    }
                }
                Err(e) => c.problem(&file, line, format!("{name} ({lang}) does not render: {e}")),
            }
        }
    }
    Some(compiled)
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
