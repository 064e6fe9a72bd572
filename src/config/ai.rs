//! AI settings (issue 15): where the OpenAI-compatible server is, the models, which
//! features are on, and the limits that keep it polite and within budget. Section `[ai]`
//! of the file; the environment wins. Without `FORECOURT_AI_BASE_URL` AI is off and
//! nothing mentions it.

use super::{bad, ConfigError, Secret};
use crate::domain::ai::Features;
use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct AiConfig {
    /// The chat server's base, e.g. `https://api.openai.com/v1` or `http://10.0.0.5:8000/v1`.
    pub base_url: String,
    /// The transcription server's base, when it is another server (whisper.cpp, speaches).
    pub audio_base_url: String,
    /// Sent as a bearer token; optional for local servers.
    pub api_key: Option<Secret>,
    pub chat_model: String,
    pub transcribe_model: String,
    /// The features on at start; `[ai] features` in the file is read again while running.
    pub features: Features,
    /// Whether `FORECOURT_AI_FEATURES` set them (then the file is not read again).
    pub features_from_env: bool,
    /// Requests a day (local day); 0: no budget.
    pub daily_requests: u32,
    /// Requests at once.
    pub concurrency: usize,
    /// Requests a minute.
    pub requests_per_minute: u32,
    /// One request's time limit, seconds.
    pub timeout_s: u64,
    /// Quiet after a customer's message before the lead is scored again, seconds.
    pub score_after_s: u64,
    /// The language the staff read reasons and summaries in.
    pub staff_language: String,
}

impl AiConfig {
    /// The defaults, with a server at `base_url`.
    pub fn new(base_url: String) -> AiConfig {
        AiConfig {
            audio_base_url: base_url.clone(),
            base_url,
            api_key: None,
            chat_model: "gpt-4o-mini".into(),
            transcribe_model: "whisper-1".into(),
            features: Features::all(),
            features_from_env: false,
            daily_requests: 5_000,
            concurrency: 8,
            requests_per_minute: 300,
            timeout_s: 60,
            score_after_s: 60,
            staff_language: "en".into(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileAi {
    base_url: Option<String>,
    audio_base_url: Option<String>,
    api_key: Option<Secret>,
    chat_model: Option<String>,
    transcribe_model: Option<String>,
    pub(super) features: Option<FileFeatures>,
    daily_requests: Option<u32>,
    concurrency: Option<usize>,
    requests_per_minute: Option<u32>,
    timeout_s: Option<u64>,
    score_after_s: Option<u64>,
    staff_language: Option<String>,
}

/// `features = ["hot_scores", "drafts"]` or `features = "all"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum FileFeatures {
    List(Vec<String>),
    One(String),
}

impl FileFeatures {
    fn parse(&self) -> Result<Features, String> {
        match self {
            FileFeatures::One(s) => Features::parse(s),
            FileFeatures::List(l) if l.is_empty() => Ok(Features::NONE),
            FileFeatures::List(l) => Features::parse(&l.join(",")),
        }
    }
}

fn url(setting: &'static str, v: &str) -> Result<String, ConfigError> {
    let v = v.trim().trim_end_matches('/');
    if !(v.starts_with("http://") || v.starts_with("https://")) {
        return Err(bad(
            setting,
            format!("`{v}` must start with http:// or https:// (e.g. https://api.openai.com/v1)"),
        ));
    }
    Ok(v.to_string())
}

fn number<T: std::str::FromStr>(setting: &'static str, v: &str, what: &str) -> Result<T, ConfigError> {
    v.trim().parse().map_err(|_| bad(setting, format!("`{v}` is not {what}")))
}

pub(super) fn load(env: &dyn Fn(&str) -> Option<String>, f: FileAi) -> Result<Option<AiConfig>, ConfigError> {
    let Some(base) = env("FORECOURT_AI_BASE_URL").or(f.base_url).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let mut c = AiConfig::new(url("FORECOURT_AI_BASE_URL", &base)?);
    if let Some(v) = env("FORECOURT_AI_AUDIO_BASE_URL").or(f.audio_base_url).filter(|v| !v.trim().is_empty()) {
        c.audio_base_url = url("FORECOURT_AI_AUDIO_BASE_URL", &v)?;
    }
    c.api_key = env("FORECOURT_AI_API_KEY").map(Secret::new).or(f.api_key).filter(|s| !s.expose().is_empty());
    if let Some(v) = env("FORECOURT_AI_CHAT_MODEL").or(f.chat_model) {
        c.chat_model = v.trim().to_string();
    }
    if let Some(v) = env("FORECOURT_AI_TRANSCRIBE_MODEL").or(f.transcribe_model) {
        c.transcribe_model = v.trim().to_string();
    }
    if let Some(v) = env("FORECOURT_AI_FEATURES") {
        c.features = Features::parse(&v).map_err(|e| bad("FORECOURT_AI_FEATURES", e))?;
        c.features_from_env = true;
    } else if let Some(v) = &f.features {
        c.features = v.parse().map_err(|e| bad("FORECOURT_AI_FEATURES", e))?;
    }
    if let Some(v) = env("FORECOURT_AI_DAILY_REQUESTS") {
        c.daily_requests = number("FORECOURT_AI_DAILY_REQUESTS", &v, "a number of requests")?;
    } else if let Some(v) = f.daily_requests {
        c.daily_requests = v;
    }
    if let Some(v) = env("FORECOURT_AI_CONCURRENCY") {
        c.concurrency = number("FORECOURT_AI_CONCURRENCY", &v, "a number of requests")?;
    } else if let Some(v) = f.concurrency {
        c.concurrency = v;
    }
    if !(1..=64).contains(&c.concurrency) {
        return Err(bad("FORECOURT_AI_CONCURRENCY", "must be between 1 and 64"));
    }
    if let Some(v) = env("FORECOURT_AI_REQUESTS_PER_MINUTE") {
        c.requests_per_minute = number("FORECOURT_AI_REQUESTS_PER_MINUTE", &v, "a number of requests")?;
    } else if let Some(v) = f.requests_per_minute {
        c.requests_per_minute = v;
    }
    if c.requests_per_minute == 0 {
        return Err(bad("FORECOURT_AI_REQUESTS_PER_MINUTE", "must be at least 1"));
    }
    if let Some(v) = env("FORECOURT_AI_TIMEOUT_S") {
        c.timeout_s = number("FORECOURT_AI_TIMEOUT_S", &v, "a number of seconds")?;
    } else if let Some(v) = f.timeout_s {
        c.timeout_s = v;
    }
    if !(1..=90).contains(&c.timeout_s) {
        return Err(bad(
            "FORECOURT_AI_TIMEOUT_S",
            "must be between 1 and 90 seconds (a job's claim lasts two minutes)",
        ));
    }
    if let Some(v) = env("FORECOURT_AI_SCORE_AFTER_S") {
        c.score_after_s = number("FORECOURT_AI_SCORE_AFTER_S", &v, "a number of seconds")?;
    } else if let Some(v) = f.score_after_s {
        c.score_after_s = v;
    }
    if let Some(v) = env("FORECOURT_AI_STAFF_LANGUAGE").or(f.staff_language) {
        c.staff_language = v.trim().to_string();
    }
    Ok(Some(c))
}

/// The features as the file says now (`[ai] features`), for the running program to pick up
/// a change without a restart. `None`: the file does not set them.
pub fn features_in_file(text: &str) -> Result<Option<Features>, String> {
    #[derive(Deserialize)]
    struct Only {
        #[serde(default)]
        ai: Option<OnlyAi>,
    }
    #[derive(Deserialize)]
    struct OnlyAi {
        features: Option<FileFeatures>,
    }
    let only: Only = toml::from_str(text).map_err(|e| e.message().to_string())?;
    only.ai.and_then(|a| a.features).map(|f| f.parse()).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ai::Feature;

    fn env_of<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn without_a_base_url_ai_is_off() {
        assert!(load(&env_of(&[]), FileAi::default()).unwrap().is_none());
    }

    #[test]
    fn the_environment_sets_everything_and_names_a_bad_setting() {
        let env = env_of(&[
            ("FORECOURT_AI_BASE_URL", "http://10.0.0.5:8000/v1/"),
            ("FORECOURT_AI_AUDIO_BASE_URL", "http://10.0.0.6:8080/v1"),
            ("FORECOURT_AI_FEATURES", "hot_scores,drafts"),
            ("FORECOURT_AI_CONCURRENCY", "3"),
        ]);
        let c = load(&env, FileAi::default()).unwrap().unwrap();
        assert_eq!(c.base_url, "http://10.0.0.5:8000/v1");
        assert_eq!(c.audio_base_url, "http://10.0.0.6:8080/v1");
        assert!(c.features.has(Feature::Drafts) && !c.features.has(Feature::Transcripts));
        assert!(c.features_from_env);
        assert_eq!(c.concurrency, 3);
        assert!(c.api_key.is_none());
        let e = load(&env_of(&[("FORECOURT_AI_BASE_URL", "api.openai.com")]), FileAi::default()).unwrap_err();
        assert_eq!(e.setting, "FORECOURT_AI_BASE_URL");
        let e = load(
            &env_of(&[("FORECOURT_AI_BASE_URL", "http://x/v1"), ("FORECOURT_AI_FEATURES", "magic")]),
            FileAi::default(),
        )
        .unwrap_err();
        assert_eq!(e.setting, "FORECOURT_AI_FEATURES");
        let e = load(
            &env_of(&[("FORECOURT_AI_BASE_URL", "http://x/v1"), ("FORECOURT_AI_TIMEOUT_S", "600")]),
            FileAi::default(),
        )
        .unwrap_err();
        assert_eq!(e.setting, "FORECOURT_AI_TIMEOUT_S");
    }

    #[test]
    fn the_files_features_are_read_again_on_their_own() {
        let f = features_in_file("[ai]\nbase_url = \"http://x/v1\"\nfeatures = [\"transcripts\"]\n").unwrap().unwrap();
        assert!(f.has(Feature::Transcripts) && !f.has(Feature::HotScores));
        assert_eq!(features_in_file("[ai]\nfeatures = []\n").unwrap(), Some(Features::NONE));
        assert_eq!(features_in_file("[ai]\nfeatures = \"all\"\n").unwrap(), Some(Features::all()));
        assert_eq!(features_in_file("database_url = \"x\"\n").unwrap(), None);
        assert!(features_in_file("[ai]\nfeatures = [\"magic\"]\n").is_err());
    }
}
