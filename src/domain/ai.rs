//! What AI may do, as rules (issue 15): the features that switch on and off one by one,
//! the masking every text goes through before it leaves for the model, the fingerprint a
//! request is cached by, the daily budget, and the checks every answer passes before it is
//! kept. AI only advises: nothing here changes a lead; the answers are suggestions that a
//! person applies. No IO: the client, the store and the handlers carry this out.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One thing AI does; each switches on and off on its own (`ai.features`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// Answered calls' recordings turned into text.
    Transcripts,
    /// Transcripts checked against the call script (advice for the reviewer).
    ScriptChecks,
    /// The hot-lead score with its three reasons.
    HotScores,
    /// The intent of a lead the bot did not qualify, for a person to set.
    Intent,
    /// Reply drafts a manager sends or discards.
    Drafts,
}

impl Feature {
    pub const ALL: [Feature; 5] =
        [Feature::Transcripts, Feature::ScriptChecks, Feature::HotScores, Feature::Intent, Feature::Drafts];

    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Transcripts => "transcripts",
            Feature::ScriptChecks => "script_checks",
            Feature::HotScores => "hot_scores",
            Feature::Intent => "intent",
            Feature::Drafts => "drafts",
        }
    }

    pub fn parse(s: &str) -> Option<Feature> {
        Feature::ALL.into_iter().find(|f| f.as_str() == s.trim())
    }
}

/// Which features are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features(u8);

impl Features {
    pub const NONE: Features = Features(0);

    pub fn all() -> Features {
        Feature::ALL.into_iter().fold(Features::NONE, |f, x| f.with(x))
    }

    pub fn with(self, f: Feature) -> Features {
        Features(self.0 | 1 << f as u8)
    }

    pub fn has(self, f: Feature) -> bool {
        self.0 & (1 << f as u8) != 0
    }

    /// `all`, `none`/`off`, or a comma-separated list of feature names.
    pub fn parse(s: &str) -> Result<Features, String> {
        match s.trim() {
            "all" => return Ok(Features::all()),
            "" | "none" | "off" => return Ok(Features::NONE),
            _ => {}
        }
        s.split(',').filter(|p| !p.trim().is_empty()).try_fold(Features::NONE, |acc, p| {
            Feature::parse(p).map(|f| acc.with(f)).ok_or_else(|| {
                let names: Vec<&str> = Feature::ALL.iter().map(|f| f.as_str()).collect();
                format!("`{}` is not a feature (one of {}, or all, or none)", p.trim(), names.join(", "))
            })
        })
    }

    pub fn names(self) -> Vec<&'static str> {
        Feature::ALL.into_iter().filter(|f| self.has(*f)).map(Feature::as_str).collect()
    }
}

/// Mask what could identify a person outside the building: phone numbers (nine digits or
/// more, with the usual separators) and e-mail addresses. Runs on every text before it
/// leaves for the model.
pub fn mask(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if let Some(end) = email_at(&chars, i) {
            out.push_str("[email]");
            i = end;
            continue;
        }
        if let Some(end) = phone_at(&chars, i) {
            out.push_str("[phone]");
            i = end;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn is_local(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-')
}

/// An e-mail address starting at `i` (at a word's start): where it ends.
fn email_at(c: &[char], i: usize) -> Option<usize> {
    if !is_local(c[i]) || (i > 0 && is_local(c[i - 1])) {
        return None;
    }
    let mut j = i;
    while j < c.len() && is_local(c[j]) {
        j += 1;
    }
    if j == i || j >= c.len() || c[j] != '@' {
        return None;
    }
    let mut k = j + 1;
    let mut dots = 0;
    while k < c.len()
        && (c[k].is_alphanumeric() || c[k] == '-' || (c[k] == '.' && k + 1 < c.len() && c[k + 1].is_alphanumeric()))
    {
        dots += usize::from(c[k] == '.');
        k += 1;
    }
    (dots > 0).then_some(k)
}

/// A phone number starting at `i` (a `+` or a digit not inside a word): where it ends.
/// Nine digits or more (a Ukrainian number has ten, or twelve with 380), with spaces,
/// dashes, dots and brackets between them; a price of a million hryvnias stays.
fn phone_at(c: &[char], i: usize) -> Option<usize> {
    if !(c[i] == '+' || c[i] == '(' || c[i].is_ascii_digit()) || (i > 0 && c[i - 1].is_alphanumeric()) {
        return None;
    }
    let (mut j, mut digits, mut last_digit) = (i, 0, i);
    while j < c.len() {
        match c[j] {
            d if d.is_ascii_digit() => {
                digits += 1;
                last_digit = j;
            }
            '+' if j == i => {}
            ' ' | '-' | '.' | '(' | ')' => {
                // Separators count only between digits: at most two of them (`) `), then a digit.
                let ahead = c[j + 1..].iter().take(2).position(|n| n.is_ascii_digit());
                if !ahead.is_some_and(|k| c[j + 1..j + 1 + k].iter().all(|n| matches!(n, ' ' | '-' | '.' | '(' | ')')))
                {
                    break;
                }
            }
            _ => break,
        }
        j += 1;
    }
    let end = last_digit + 1;
    (digits >= 9 && !c.get(end).is_some_and(|n| n.is_alphanumeric())).then_some(end)
}

/// The fingerprint of a request: the feature, the model and everything sent. The same
/// fingerprint is never sent twice; its answer is kept and reused.
pub fn fingerprint(feature: Feature, model: &str, parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    h.update(feature.as_str().as_bytes());
    h.update([0]);
    h.update(model.as_bytes());
    for p in parts {
        h.update([0]);
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// The transcription API's limit on one file (OpenAI's 25 MB).
pub const MAX_AUDIO_BYTES: usize = 25 * 1024 * 1024;

/// Why an answer is not kept: it is recorded as a failed attempt, never shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("the model refused: {0}")]
    Refused(String),
    #[error("the answer is not the JSON asked for: {0}")]
    Malformed(String),
}

/// A lead's hot score: 0–100 and three short reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotScore {
    pub score: u8,
    pub reasons: Vec<String>,
}

/// Longest reason kept (characters); the card has little room.
pub const REASON_CHARS: usize = 80;

/// The JSON schema the hot score is asked for in (strict structured output).
pub fn hot_score_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "score": {"type": "integer", "minimum": 0, "maximum": 100},
            "reasons": {"type": "array", "items": {"type": "string"}, "minItems": 3, "maxItems": 3}
        },
        "required": ["score", "reasons"],
        "additionalProperties": false
    })
}

/// Check a hot-score answer on our side (a compatible server may ignore `strict`): an
/// integer 0–100 and exactly three non-empty reasons, each cut to [`REASON_CHARS`].
pub fn read_hot_score(content: &str) -> Result<HotScore, Rejected> {
    let v = json_object(content)?;
    let score = v
        .get("score")
        .and_then(serde_json::Value::as_i64)
        .filter(|s| (0..=100).contains(s))
        .ok_or_else(|| Rejected::Malformed("`score` is not an integer from 0 to 100".into()))?;
    let reasons = v
        .get("reasons")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| Rejected::Malformed("`reasons` is not a list".into()))?;
    let reasons: Vec<String> = reasons
        .iter()
        .map(|r| r.as_str().map(|s| one_line(s, REASON_CHARS)).filter(|s| !s.is_empty()))
        .collect::<Option<_>>()
        .ok_or_else(|| Rejected::Malformed("a reason is not a non-empty text".into()))?;
    if reasons.len() != 3 {
        return Err(Rejected::Malformed(format!("{} reasons, not three", reasons.len())));
    }
    only_keys(&v, &["score", "reasons"])?;
    Ok(HotScore { score: score as u8, reasons })
}

/// The answer's JSON object: the content itself, or (some local servers wrap it) the
/// object inside a ```json fence.
fn json_object(content: &str) -> Result<serde_json::Map<String, serde_json::Value>, Rejected> {
    let t = content.trim();
    let t = t.strip_prefix("```json").or_else(|| t.strip_prefix("```")).map_or(t, |s| s.trim_end_matches("```").trim());
    match serde_json::from_str::<serde_json::Value>(t) {
        Ok(serde_json::Value::Object(o)) => Ok(o),
        Ok(_) => Err(Rejected::Malformed("not a JSON object".into())),
        Err(e) => Err(Rejected::Malformed(format!("not JSON ({e})"))),
    }
}

fn only_keys(v: &serde_json::Map<String, serde_json::Value>, keys: &[&str]) -> Result<(), Rejected> {
    match v.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(Rejected::Malformed(format!("an unexpected field `{k}`"))),
        None => Ok(()),
    }
}

/// One line, at most `max` characters (with `…` when cut).
pub fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    super::text::cap_chars(&flat, max)
}

/// How a hot score reads on the card: `🔥 82 · reason; reason; reason`.
pub fn hot_line(s: &HotScore) -> String {
    format!("🔥 {} · {}", s.score, s.reasons.join("; "))
}

/// The AI's word on one criterion: a reviewer's three, and `unsure` (sent to a person).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AiVerdict {
    Met,
    Missed,
    NotApplicable,
    Unsure,
}

impl AiVerdict {
    pub const ALL: [AiVerdict; 4] = [AiVerdict::Met, AiVerdict::Missed, AiVerdict::NotApplicable, AiVerdict::Unsure];

    pub fn as_str(self) -> &'static str {
        match self {
            AiVerdict::Met => "met",
            AiVerdict::Missed => "missed",
            AiVerdict::NotApplicable => "not_applicable",
            AiVerdict::Unsure => "unsure",
        }
    }

    pub fn parse(s: &str) -> Option<AiVerdict> {
        AiVerdict::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The reviewer's verdict it suggests (`unsure` suggests none).
    pub fn suggests(self) -> Option<super::script::Verdict> {
        match self {
            AiVerdict::Met => Some(super::script::Verdict::Met),
            AiVerdict::Missed => Some(super::script::Verdict::Missed),
            AiVerdict::NotApplicable => Some(super::script::Verdict::NotApplicable),
            AiVerdict::Unsure => None,
        }
    }
}

/// One criterion checked, with the words from the call that show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriterionCheck {
    pub criterion: String,
    pub verdict: AiVerdict,
    pub quote: String,
}

/// The AI's evaluation of a call against the script: advice for the reviewer, kept apart
/// from human reviews; only a human review is the call's score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptCheck {
    /// In script order, one per criterion.
    pub criteria: Vec<CriterionCheck>,
    pub score: u8,
    /// The critical criteria the verdicts miss (worked out here, not taken on the model's word).
    pub critical_misses: Vec<String>,
    /// `positive`, `neutral` or `negative`.
    pub sentiment: String,
    /// `buy`, `sell`, `service` or `other`.
    pub intent: String,
    pub next_step: bool,
    /// At most two lines.
    pub summary: String,
}

/// Below this the evaluation asks for a person's eyes first.
pub const LOW_SCORE: u8 = 60;

/// Longest evidence quote kept (characters).
pub const QUOTE_CHARS: usize = 300;

pub const SENTIMENTS: [&str; 3] = ["positive", "neutral", "negative"];
pub const INTENTS: [&str; 4] = ["buy", "sell", "service", "other"];

impl ScriptCheck {
    /// Unsure verdicts, a low score or a critical miss: the call goes to the top of `/reviews`.
    pub fn needs_a_person(&self) -> bool {
        self.score < LOW_SCORE
            || !self.critical_misses.is_empty()
            || self.criteria.iter().any(|c| c.verdict == AiVerdict::Unsure)
    }

    pub fn verdict_of(&self, criterion: &str) -> Option<&CriterionCheck> {
        self.criteria.iter().find(|c| c.criterion == criterion)
    }
}

/// The JSON schema a script check is asked for in: one entry per criterion id.
pub fn script_check_schema(ids: &[&str]) -> serde_json::Value {
    let verdicts: Vec<&str> = AiVerdict::ALL.iter().map(|v| v.as_str()).collect();
    serde_json::json!({
        "type": "object",
        "properties": {
            "criteria": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "criterion": {"type": "string", "enum": ids},
                    "verdict": {"type": "string", "enum": verdicts},
                    "quote": {"type": "string"}
                },
                "required": ["criterion", "verdict", "quote"],
                "additionalProperties": false
            }},
            "score": {"type": "integer", "minimum": 0, "maximum": 100},
            "critical_misses": {"type": "array", "items": {"type": "string", "enum": ids}},
            "sentiment": {"type": "string", "enum": SENTIMENTS},
            "intent": {"type": "string", "enum": INTENTS},
            "next_step_agreed": {"type": "boolean"},
            "summary": {"type": "string"}
        },
        "required": ["criteria", "score", "critical_misses", "sentiment", "intent", "next_step_agreed", "summary"],
        "additionalProperties": false
    })
}

/// Check a script-check answer on our side: every criterion of `ids` exactly once with a
/// known verdict (met only with a quote: a missed criterion has nothing to quote), the score 0–100, the enums known. The
/// critical misses are the critical criteria (`critical`) whose verdict is `missed`.
pub fn read_script_check(content: &str, ids: &[&str], critical: &[&str]) -> Result<ScriptCheck, Rejected> {
    let v = json_object(content)?;
    only_keys(&v, &["criteria", "score", "critical_misses", "sentiment", "intent", "next_step_agreed", "summary"])?;
    let bad = |m: String| Rejected::Malformed(m);
    let list = v
        .get("criteria")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| bad("`criteria` is not a list".into()))?;
    let mut found: Vec<CriterionCheck> = Vec::with_capacity(list.len());
    for item in list {
        let o = item.as_object().ok_or_else(|| bad("a criterion is not an object".into()))?;
        only_keys(o, &["criterion", "verdict", "quote"])?;
        let id = o.get("criterion").and_then(serde_json::Value::as_str).unwrap_or_default();
        if !ids.contains(&id) {
            return Err(bad(format!("`{id}` is not a criterion of the script")));
        }
        if found.iter().any(|c| c.criterion == id) {
            return Err(bad(format!("`{id}` is judged twice")));
        }
        let verdict = o
            .get("verdict")
            .and_then(serde_json::Value::as_str)
            .and_then(AiVerdict::parse)
            .ok_or_else(|| bad(format!("`{id}` has no known verdict")))?;
        let quote =
            o.get("quote").and_then(serde_json::Value::as_str).map(|q| one_line(q, QUOTE_CHARS)).unwrap_or_default();
        if verdict == AiVerdict::Met && quote.is_empty() {
            return Err(bad(format!("`{id}` is met without a quote from the call")));
        }
        found.push(CriterionCheck { criterion: id.to_string(), verdict, quote });
    }
    if found.len() != ids.len() {
        let missing: Vec<&&str> = ids.iter().filter(|i| !found.iter().any(|c| c.criterion == **i)).collect();
        return Err(bad(format!("criteria not judged: {missing:?}")));
    }
    found.sort_by_key(|c| ids.iter().position(|i| *i == c.criterion));
    let score = v
        .get("score")
        .and_then(serde_json::Value::as_i64)
        .filter(|s| (0..=100).contains(s))
        .ok_or_else(|| bad("`score` is not an integer from 0 to 100".into()))?;
    let word = |key: &str, allowed: &[&str]| -> Result<String, Rejected> {
        v.get(key)
            .and_then(serde_json::Value::as_str)
            .filter(|s| allowed.contains(s))
            .map(str::to_string)
            .ok_or_else(|| bad(format!("`{key}` is not one of {allowed:?}")))
    };
    let sentiment = word("sentiment", &SENTIMENTS)?;
    let intent = word("intent", &INTENTS)?;
    let next_step = v
        .get("next_step_agreed")
        .and_then(serde_json::Value::as_bool)
        .ok_or_else(|| bad("`next_step_agreed` is not true or false".into()))?;
    let summary =
        v.get("summary").and_then(serde_json::Value::as_str).ok_or_else(|| bad("`summary` is not a text".into()))?;
    let summary: Vec<String> = summary.lines().map(|l| one_line(l, 200)).filter(|l| !l.is_empty()).take(2).collect();
    if summary.is_empty() {
        return Err(bad("the summary is empty".into()));
    }
    v.get("critical_misses")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| bad("`critical_misses` is not a list".into()))?;
    let critical_misses = found
        .iter()
        .filter(|c| c.verdict == AiVerdict::Missed && critical.contains(&c.criterion.as_str()))
        .map(|c| c.criterion.clone())
        .collect();
    Ok(ScriptCheck {
        criteria: found,
        score: score as u8,
        critical_misses,
        sentiment,
        intent,
        next_step,
        summary: summary.join("\n"),
    })
}

/// The longest reply draft kept (characters): a chat message, not a letter.
pub const DRAFT_CHARS: usize = 1_500;

/// The JSON schema of a reply draft.
pub fn draft_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {"reply": {"type": "string"}},
        "required": ["reply"],
        "additionalProperties": false
    })
}

/// The figures (three digits or more, spaces and separators inside a number ignored) of a
/// text, as digit strings.
fn figures(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_digit() {
            cur.push(*c);
            continue;
        }
        // `24 500`, `24,500`, `24.500`: one number.
        let joins = matches!(c, ' ' | ',' | '.' | '\u{a0}' | '\u{202f}')
            && !cur.is_empty()
            && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
        if !joins {
            if cur.len() >= 3 {
                out.push(std::mem::take(&mut cur));
            }
            cur.clear();
        }
    }
    if cur.len() >= 3 {
        out.push(cur);
    }
    out
}

/// Check a reply draft: a non-empty text within [`DRAFT_CHARS`], every figure in it (a
/// price, a year, a mileage) found in what the model was given: a draft never invents one.
pub fn read_draft(content: &str, given: &str) -> Result<String, Rejected> {
    let v = json_object(content)?;
    only_keys(&v, &["reply"])?;
    let reply = v
        .get("reply")
        .and_then(serde_json::Value::as_str)
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| Rejected::Malformed("`reply` is not a non-empty text".into()))?;
    if reply.chars().count() > DRAFT_CHARS {
        return Err(Rejected::Malformed(format!("the draft is over {DRAFT_CHARS} characters")));
    }
    let known: Vec<String> = figures(given);
    let given_digits: String = given.chars().filter(char::is_ascii_digit).collect();
    if let Some(f) = figures(reply).into_iter().find(|f| !known.contains(f) && !given_digits.contains(f.as_str())) {
        return Err(Rejected::Malformed(format!("the draft names a figure ({f}) that is not in the lead's data")));
    }
    Ok(reply.to_string())
}

/// What AI suggests a lead wants, and the language the customer writes in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentGuess {
    /// One of the flows' intents: `buy`, `sell`, `service_inquiry`, `other`.
    pub intent: String,
    /// `uk`, `ru`, `en`, or none when another.
    pub language: Option<String>,
}

pub const GUESSED_INTENTS: [&str; 4] = ["buy", "sell", "service", "other"];
pub const LANGUAGES: [&str; 4] = ["uk", "ru", "en", "other"];

pub fn intent_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "intent": {"type": "string", "enum": GUESSED_INTENTS},
            "language": {"type": "string", "enum": LANGUAGES}
        },
        "required": ["intent", "language"],
        "additionalProperties": false
    })
}

pub fn read_intent(content: &str) -> Result<IntentGuess, Rejected> {
    let v = json_object(content)?;
    only_keys(&v, &["intent", "language"])?;
    let intent = v
        .get("intent")
        .and_then(serde_json::Value::as_str)
        .filter(|i| GUESSED_INTENTS.contains(i))
        .ok_or_else(|| Rejected::Malformed(format!("`intent` is not one of {GUESSED_INTENTS:?}")))?;
    let language = v
        .get("language")
        .and_then(serde_json::Value::as_str)
        .filter(|l| LANGUAGES.contains(l))
        .ok_or_else(|| Rejected::Malformed(format!("`language` is not one of {LANGUAGES:?}")))?;
    Ok(IntentGuess {
        intent: if intent == "service" { "service_inquiry".into() } else { intent.into() },
        language: (language != "other").then(|| language.to_string()),
    })
}

/// AI's lane keeps at most this many jobs queued per request it may have in flight.
pub const QUEUED_PER_SLOT: usize = 4;

/// How many of the due leads (oldest quiet first; each needs the number of jobs `jobs`
/// gives: a score, and an intent guess while it has none) the sweep hands to AI now, when
/// AI's lane has `queued` jobs waiting or running and may have `concurrency` requests in
/// flight. Never more than [`QUEUED_PER_SLOT`] jobs a slot queued in all, and a lead's
/// jobs are never split: a flood of messages queues no more than AI answers soon (the rest
/// stay due, oldest first, for the next sweep), a draft a manager asks for waits behind a
/// short queue, and the sweep writes at AI's pace, not at the messages'.
pub fn sweep_take(queued: i64, concurrency: usize, jobs: &[usize]) -> usize {
    let mut room = (QUEUED_PER_SLOT * concurrency.max(1)).saturating_sub(usize::try_from(queued).unwrap_or(0));
    let mut take = 0;
    for &n in jobs {
        if n > room {
            break;
        }
        room -= n;
        take += 1;
    }
    take
}

/// The one-letter code of an intent in a button's data.
pub fn intent_code(intent: &str) -> Option<char> {
    match intent {
        "buy" => Some('b'),
        "sell" => Some('s'),
        "service_inquiry" => Some('v'),
        "other" => Some('o'),
        _ => None,
    }
}

pub fn intent_of_code(c: char) -> Option<&'static str> {
    match c {
        'b' => Some("buy"),
        's' => Some("sell"),
        'v' => Some("service_inquiry"),
        'o' => Some("other"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_queues_no_more_than_ai_answers_soon() {
        // An empty lane with eight slots takes 32 jobs: sixteen leads of two.
        assert_eq!(sweep_take(0, 8, &[2; 40]), 16);
        assert_eq!(sweep_take(0, 8, &[1; 40]), 32);
        // What is queued already counts; a full or overfull lane takes nothing.
        assert_eq!(sweep_take(30, 8, &[1; 40]), 2);
        assert_eq!(sweep_take(32, 8, &[1; 40]), 0);
        assert_eq!(sweep_take(100, 8, &[1; 40]), 0);
        // A lead's two jobs are not split, and the leads behind it wait their turn (oldest
        // first), even one that would fit.
        assert_eq!(sweep_take(31, 8, &[2, 1]), 0);
        assert_eq!(sweep_take(29, 8, &[1, 2, 1]), 2);
        // Fewer due leads than room: all of them; none due: none.
        assert_eq!(sweep_take(0, 8, &[2, 1, 2]), 3);
        assert_eq!(sweep_take(0, 8, &[]), 0);
        // No slots configured counts as one; a count below zero as none.
        assert_eq!(sweep_take(0, 0, &[1; 10]), QUEUED_PER_SLOT);
        assert_eq!(sweep_take(-5, 1, &[1; 10]), QUEUED_PER_SLOT);
        // A lead with nothing to ask (every feature off for it) takes no room.
        assert_eq!(sweep_take(32, 8, &[0, 0]), 2);
    }

    #[test]
    fn phones_and_emails_are_masked_and_nothing_else() {
        assert_eq!(mask("call me +380 67 123 45 67 tomorrow"), "call me [phone] tomorrow");
        assert_eq!(mask("мій номер 067-123-45-67."), "мій номер [phone].");
        assert_eq!(mask("(067) 123 4567"), "[phone]");
        assert_eq!(mask("0671234567, or oleh.k@example.com.ua!"), "[phone], or [email]!");
        assert_eq!(mask("write to a_b+c@mail.co"), "write to [email]");
        // Prices, years, mileage and VIN tails stay: the model needs them.
        assert_eq!(mask("Kia 2019, 85 000 km, $14 500"), "Kia 2019, 85 000 km, $14 500");
        assert_eq!(mask("VIN WBA12345678 ok"), "VIN WBA12345678 ok");
        assert_eq!(mask("budget 1 500 000 грн or 1500000"), "budget 1 500 000 грн or 1500000");
        assert_eq!(mask("tel:380671234567"), "tel:[phone]");
        assert_eq!(mask("at 10:00 on 12.03"), "at 10:00 on 12.03");
        assert_eq!(mask("not an address: a@b"), "not an address: a@b");
        assert_eq!(mask("Привіт 👋"), "Привіт 👋");
    }

    #[test]
    fn features_parse_from_a_list_and_name_the_bad_one() {
        assert_eq!(Features::parse("all").unwrap(), Features::all());
        assert_eq!(Features::parse("none").unwrap(), Features::NONE);
        let f = Features::parse("hot_scores, drafts").unwrap();
        assert!(f.has(Feature::HotScores) && f.has(Feature::Drafts) && !f.has(Feature::Transcripts));
        assert_eq!(f.names(), vec!["hot_scores", "drafts"]);
        let e = Features::parse("hot_scores,magic").unwrap_err();
        assert!(e.contains("`magic`") && e.contains("script_checks"), "{e}");
        for f in Feature::ALL {
            assert_eq!(Feature::parse(f.as_str()), Some(f));
            assert!(Features::all().has(f) && !Features::NONE.has(f));
        }
    }

    #[test]
    fn a_fingerprint_changes_with_any_part_and_not_otherwise() {
        let a = fingerprint(Feature::HotScores, "m", &[b"hello", b"world"]);
        assert_eq!(a, fingerprint(Feature::HotScores, "m", &[b"hello", b"world"]));
        assert_ne!(a, fingerprint(Feature::HotScores, "m", &[b"hellow", b"orld"]), "parts are delimited");
        assert_ne!(a, fingerprint(Feature::Intent, "m", &[b"hello", b"world"]));
        assert_ne!(a, fingerprint(Feature::HotScores, "m2", &[b"hello", b"world"]));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn a_hot_score_is_read_only_when_it_is_what_was_asked() {
        let ok = read_hot_score(
            r#"{"score": 82, "reasons": ["wants a test drive this week", "budget fits", "trade-in ready"]}"#,
        )
        .unwrap();
        assert_eq!(ok.score, 82);
        assert_eq!(hot_line(&ok), "🔥 82 · wants a test drive this week; budget fits; trade-in ready");
        let fenced = read_hot_score("```json\n{\"score\": 5, \"reasons\": [\"a\", \"b\", \"c\"]}\n```").unwrap();
        assert_eq!(fenced.score, 5);
        for bad in [
            r#"{"score": 101, "reasons": ["a", "b", "c"]}"#,
            r#"{"score": -1, "reasons": ["a", "b", "c"]}"#,
            r#"{"score": "high", "reasons": ["a", "b", "c"]}"#,
            r#"{"score": 50, "reasons": ["a", "b"]}"#,
            r#"{"score": 50, "reasons": ["a", "b", ""]}"#,
            r#"{"score": 50, "reasons": ["a", "b", 3]}"#,
            r#"{"score": 50, "reasons": ["a", "b", "c"], "stage": "won"}"#,
            r#"{"score": 50}"#,
            r#"[50]"#,
            "Sure! The lead looks hot.",
            "{\"score\": 50, \"reasons\": [\"a\", \"b\"",
        ] {
            assert!(matches!(read_hot_score(bad), Err(Rejected::Malformed(_))), "{bad}");
        }
        let long = format!(r#"{{"score": 70, "reasons": ["{}", "b\nc", "d"]}}"#, "x".repeat(300));
        let cut = read_hot_score(&long).unwrap();
        assert_eq!(cut.reasons[0].chars().count(), REASON_CHARS);
        assert_eq!(cut.reasons[1], "b c");
    }

    fn check_json(verdicts: &[(&str, &str, &str)], score: i64) -> String {
        let criteria: Vec<serde_json::Value> =
            verdicts.iter().map(|(c, v, q)| serde_json::json!({"criterion": c, "verdict": v, "quote": q})).collect();
        serde_json::json!({"criteria": criteria, "score": score, "critical_misses": [], "sentiment": "positive",
            "intent": "buy", "next_step_agreed": true, "summary": "Greeted, asked the budget.\nAgreed a test drive."})
        .to_string()
    }

    #[test]
    fn a_script_check_is_kept_only_when_every_criterion_is_judged_once() {
        let ids = ["greet", "budget", "close"];
        let ok = read_script_check(
            &check_json(
                &[("close", "missed", ""), ("greet", "met", "Добрий день, Forecourt"), ("budget", "unsure", "")],
                70,
            ),
            &ids,
            &["close"],
        )
        .unwrap();
        assert_eq!(ok.criteria.iter().map(|c| c.criterion.as_str()).collect::<Vec<_>>(), ids, "in script order");
        assert_eq!(ok.critical_misses, vec!["close"], "worked out from the verdicts");
        assert!(ok.needs_a_person());
        assert_eq!(ok.verdict_of("budget").unwrap().verdict.suggests(), None, "unsure suggests nothing");
        assert_eq!(ok.summary.lines().count(), 2);
        let calm = read_script_check(
            &check_json(&[("greet", "met", "hi"), ("budget", "met", "b"), ("close", "not_applicable", "")], 90),
            &ids,
            &["close"],
        )
        .unwrap();
        assert!(!calm.needs_a_person());
        let low = read_script_check(
            &check_json(&[("greet", "met", "hi"), ("budget", "met", "b"), ("close", "met", "c")], 40),
            &ids,
            &[],
        )
        .unwrap();
        assert!(low.needs_a_person(), "a low score");
        for (bad, why) in [
            (check_json(&[("greet", "met", "hi"), ("budget", "met", "b")], 90), "a criterion left out"),
            (check_json(&[("greet", "met", "hi"), ("greet", "met", "b"), ("close", "met", "c")], 90), "twice"),
            (check_json(&[("greet", "met", "hi"), ("budget", "met", "b"), ("smile", "met", "c")], 90), "unknown"),
            (check_json(&[("greet", "great", "hi"), ("budget", "met", "b"), ("close", "met", "c")], 90), "verdict"),
            (
                check_json(&[("greet", "met", ""), ("budget", "met", "b"), ("close", "met", "c")], 90),
                "met without a quote",
            ),
            (check_json(&[("greet", "met", "a"), ("budget", "met", "b"), ("close", "met", "c")], 101), "score"),
            (
                check_json(&[("greet", "met", "a"), ("budget", "met", "b"), ("close", "met", "c")], 90)
                    .replace("\"buy\"", "\"lease\""),
                "intent",
            ),
            (
                check_json(&[("greet", "met", "a"), ("budget", "met", "b"), ("close", "met", "c")], 90)
                    .replace("Greeted, asked the budget.\\nAgreed a test drive.", " "),
                "empty summary",
            ),
            ("{\"criteria\": []}".to_string(), "fields missing"),
        ] {
            assert!(matches!(read_script_check(&bad, &ids, &[]), Err(Rejected::Malformed(_))), "{why}: {bad}");
        }
        let schema = script_check_schema(&ids);
        assert_eq!(
            schema["properties"]["criteria"]["items"]["properties"]["criterion"]["enum"],
            serde_json::json!(ids)
        );
    }

    #[test]
    fn a_draft_never_names_a_figure_it_was_not_given() {
        let given = "Toyota RAV4 · 2019 · 85 000 km · $24,500 · available\ncustomer: Скільки коштує?";
        let ok = read_draft(
            r#"{"reply": "Добрий день! RAV4 2019 року, пробіг 85 000 км, ціна $24 500. Коли вам зручно подивитись?"}"#,
            given,
        )
        .unwrap();
        assert!(ok.starts_with("Добрий день!"));
        assert!(read_draft(r#"{"reply": "Ціна 10:00 завтра — ок"}"#, given).is_ok(), "times are not figures");
        for bad in [
            r#"{"reply": "Ціна $23 900, знижка!"}"#,
            r#"{"reply": "RAV4 2020 року"}"#,
            r#"{"reply": "Телефонуйте 0671234567"}"#,
            r#"{"reply": "   "}"#,
            r#"{"reply": "ok", "send": true}"#,
            "not json",
        ] {
            assert!(matches!(read_draft(bad, given), Err(Rejected::Malformed(_))), "{bad}");
        }
        let long = format!(r#"{{"reply": "{}"}}"#, "а".repeat(DRAFT_CHARS + 1));
        assert!(read_draft(&long, given).is_err());
    }

    #[test]
    fn an_intent_guess_is_one_of_the_flows_intents() {
        assert_eq!(
            read_intent(r#"{"intent": "service", "language": "uk"}"#).unwrap(),
            IntentGuess { intent: "service_inquiry".into(), language: Some("uk".into()) }
        );
        assert_eq!(read_intent(r#"{"intent": "buy", "language": "other"}"#).unwrap().language, None);
        assert!(read_intent(r#"{"intent": "lease", "language": "uk"}"#).is_err());
        assert!(read_intent(r#"{"intent": "buy", "language": "de"}"#).is_err());
        for i in ["buy", "sell", "service_inquiry", "other"] {
            assert_eq!(intent_of_code(intent_code(i).unwrap()), Some(i));
        }
    }
}
