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

/// Whether one more request fits today's budget (`limit` 0: no budget).
pub fn within_budget(used_today: i64, limit: u32) -> bool {
    limit == 0 || used_today < i64::from(limit)
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_budget_stops_at_its_limit_and_zero_means_none() {
        assert!(within_budget(0, 1));
        assert!(!within_budget(1, 1));
        assert!(within_budget(1_000_000, 0));
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
}
