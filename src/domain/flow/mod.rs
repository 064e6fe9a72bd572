//! Conversation flows as data: what admins write in flows/*.yaml, once checked
//! (`crate::flows` reads and checks the files; this module holds the checked shape and the
//! rules that run it). No IO, no templates rendered here: a step names the text it says,
//! and the caller renders it.

pub mod engine;
pub mod hours;
pub mod limits;

use super::Stage;
use std::collections::BTreeMap;

/// A lead field a flow may fill from an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Intent,
    VehicleInterest,
    Budget,
    Note,
}

impl Field {
    pub const ALL: [Field; 4] = [Field::Intent, Field::VehicleInterest, Field::Budget, Field::Note];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::Intent => "intent",
            Field::VehicleInterest => "vehicle_interest",
            Field::Budget => "budget",
            Field::Note => "note",
        }
    }

    pub fn parse(s: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// The client's lead intents (`leads.intent`).
pub const INTENTS: [&str; 4] = ["buy", "sell", "service_inquiry", "other"];

/// Longest value kept in a free-text field (a budget, a car); the rest is cut.
pub const MAX_ANSWER_CHARS: usize = 500;

/// What a step says: the name of a minijinja template, one per language (a file under
/// templates/flows/<lang>/, or text written in the flow itself, which the file check
/// names after its step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

/// One answer offered as a button. `labels` by language; `also` are words that, typed by
/// hand, mean the same (the value and every label count too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub value: String,
    pub labels: BTreeMap<String, String>,
    pub also: Vec<String>,
}

impl Choice {
    /// The label in `lang`, else the first one, else the value.
    pub fn label(&self, lang: &str) -> &str {
        self.labels.get(lang).or_else(|| self.labels.values().next()).map(String::as_str).unwrap_or(&self.value)
    }
}

/// What a branch looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchOn {
    /// A saved answer; cases are its values.
    Field(Field),
    /// Cases `open` and `closed`.
    BusinessHours,
    /// The customer's language; cases are language codes.
    Language,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    /// Say something, then go on.
    Send { text: Text, next: Option<usize> },
    /// Ask and wait: with choices (buttons), or for free text. The answer is saved into
    /// `save` when set.
    Ask { text: Text, choices: Vec<Choice>, save: Option<Field>, next: Option<usize> },
    /// Go to the step of the first case that matches, else `default`.
    Branch { on: BranchOn, cases: Vec<(String, usize)>, default: Option<usize> },
    /// Say something (optional), and hand the conversation to the staff.
    Handoff { text: Option<Text> },
    /// Stop quietly.
    End,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub id: String,
    pub kind: StepKind,
}

/// When a flow starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// The first message of a new lead.
    FirstMessage,
    /// Any customer message while no staff member has replied on the lead yet.
    NoStaffReply,
    /// A customer message outside business hours.
    AfterHours,
    /// A message containing one of these words (lower case).
    Keyword(Vec<String>),
    /// `after_ms` after the lead's last human message while it sits in `stage`; with
    /// `unanswered`, only when that message was the staff's (the customer has not replied).
    Timer { after_ms: i64, stage: Stage, unanswered: bool },
}

impl Trigger {
    pub fn is_timer(&self) -> bool {
        matches!(self, Trigger::Timer { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub name: String,
    pub trigger: Trigger,
    /// Not started again on the same lead within this long (`None`: no limit).
    pub cooldown_ms: Option<i64>,
    /// The first step is where the flow starts.
    pub steps: Vec<Step>,
}

/// A whole checked set: every flow and the shared settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlowSet {
    pub flows: Vec<Flow>,
    /// Languages every text must exist in.
    pub languages: Vec<String>,
    /// Messages that, on their own, mean "stop writing to me" (normalised, lower case).
    pub opt_out_words: Vec<String>,
    /// The confirmation sent once on opting out.
    pub opt_out_text: Option<Text>,
    /// Said when a typed answer matches none of the buttons.
    pub not_understood: Option<Text>,
}

impl FlowSet {
    pub fn flow(&self, name: &str) -> Option<(usize, &Flow)> {
        self.flows.iter().enumerate().find(|(_, f)| f.name == name)
    }
}

/// A text's words lower-cased, with punctuation and emoji dropped: how typed answers,
/// labels and opt-out words are compared.
pub fn normalise(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_alphanumeric() { c.to_lowercase().next().unwrap_or(c) } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// "3d", "12h", "30m", "45s" → milliseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = num.parse().ok()?;
    let per = match unit.trim() {
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(per).filter(|ms| *ms > 0)
}

/// The language to speak: what the messenger reports (its first two letters), when the set
/// has it, else the default.
pub fn pick_language(reported: Option<&str>, languages: &[String], default: &str) -> String {
    let short = reported.map(|l| l.trim().to_lowercase()).map(|l| l.chars().take(2).collect::<String>());
    match short {
        Some(l) if languages.contains(&l) => l,
        // Russian-speaking customers of a Ukrainian dealership are answered in Ukrainian.
        Some(l) if l == "ru" && languages.iter().any(|x| x == "uk") => "uk".into(),
        _ => default.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_drops_case_punctuation_and_emoji() {
        assert_eq!(normalise("  СТОП!!! "), "стоп");
        assert_eq!(normalise("🚗 Buy a car"), "buy a car");
        assert_eq!(normalise("Відписатися."), "відписатися");
        assert_eq!(normalise("RAV4, 2019"), "rav4 2019");
    }

    #[test]
    fn durations_read_as_admins_write_them() {
        assert_eq!(parse_duration("3d"), Some(3 * 86_400_000));
        assert_eq!(parse_duration("12h"), Some(12 * 3_600_000));
        assert_eq!(parse_duration("30m"), Some(1_800_000));
        assert_eq!(parse_duration("45s"), Some(45_000));
        for bad in ["", "d", "3", "3w", "-3d", "0d", "3 days"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_language_is_the_messengers_when_the_set_speaks_it() {
        let langs = vec!["uk".to_string(), "en".to_string()];
        assert_eq!(pick_language(Some("en-US"), &langs, "uk"), "en");
        assert_eq!(pick_language(Some("EN"), &langs, "uk"), "en");
        assert_eq!(pick_language(Some("uk"), &langs, "en"), "uk");
        assert_eq!(pick_language(Some("ru"), &langs, "en"), "uk");
        assert_eq!(pick_language(Some("de"), &langs, "uk"), "uk");
        assert_eq!(pick_language(None, &langs, "en"), "en");
    }

    #[test]
    fn fields_round_trip() {
        for f in Field::ALL {
            assert_eq!(Field::parse(f.as_str()), Some(f));
        }
        assert_eq!(Field::parse("phone"), None);
    }
}
