//! The flow files' shape as written (YAML, read by serde-saphyr with the line of each
//! flow's name, trigger and steps), before the check turns it into `domain::flow` types.

use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFlow {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    #[allow(dead_code)] // for the people reading the file
    pub(super) description: Option<String>,
    pub(super) trigger: Spanned<RawTrigger>,
    #[serde(default)]
    pub(super) cooldown: Option<Spanned<String>>,
    pub(super) steps: Vec<Spanned<RawStep>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum RawTrigger {
    FirstMessage,
    NoStaffReply,
    AfterHours,
    Keyword(Vec<String>),
    Timer(RawTimer),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTimer {
    pub(super) after: String,
    pub(super) stage: String,
    #[serde(default)]
    pub(super) unanswered: bool,
}

/// A text: a template's name, or per-language text written in place (`true` only for a
/// hand-off without words).
#[derive(Deserialize, Clone)]
#[serde(untagged)]
pub(super) enum RawText {
    Flag(bool),
    Name(String),
    Inline(BTreeMap<String, String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChoice {
    pub(super) value: String,
    pub(super) label: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) also: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    pub(super) id: String,
    #[serde(default)]
    pub(super) send: Option<RawText>,
    #[serde(default)]
    pub(super) ask: Option<RawText>,
    #[serde(default)]
    pub(super) branch: Option<String>,
    #[serde(default)]
    pub(super) handoff: Option<RawText>,
    #[serde(default)]
    pub(super) end: Option<bool>,
    #[serde(default)]
    pub(super) choices: Vec<RawChoice>,
    #[serde(default)]
    pub(super) save: Option<String>,
    #[serde(default)]
    pub(super) next: Option<String>,
    #[serde(default)]
    pub(super) cases: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) default: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSettings {
    pub(super) languages: Vec<String>,
    #[serde(default)]
    pub(super) vars: BTreeMap<String, serde_json::Value>,
    pub(super) opt_out: RawOptOut,
    #[serde(default)]
    pub(super) not_understood: Option<RawText>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOptOut {
    pub(super) words: Vec<String>,
    pub(super) confirm: RawText,
}
