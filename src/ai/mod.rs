//! The AI client (issue 15): one door to any OpenAI-compatible server, through
//! `async-openai` pointed at the configured base with `with_api_base`. Everything that
//! leaves goes through [`Ai::ask`] or [`Ai::transcribe`], which
//! - mask phone numbers and e-mail addresses in the input,
//! - answer a fingerprint seen before from the kept answers (never sent twice),
//! - take one request from the day's budget (pausing until local midnight when spent),
//! - keep to the concurrency and requests-per-minute limits,
//! - time out, and let async-openai retry 429 and 5xx with backoff, honouring `Retry-After`,
//! - check every answer on our side (a compatible server may ignore `strict`), keep a good
//!   one, and log every attempt with its feature and lead, never its text.
//!
//! A failure is returned, never shown: callers (the AI jobs) decide when to try again. When
//! the server is down one log line an hour says why. Knows the store, the config and the
//! domain; never a handler.

pub mod prompt;
pub mod watch;

use crate::config::AiConfig;
use crate::domain::ai::{fingerprint, mask, Feature, Features, Rejected};
use crate::domain::{CallId, LeadId};
use crate::store::{Attempt, AttemptOutcome, Store};
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    CreateChatCompletionRequestArgs, ResponseFormat, ResponseFormatJsonSchema,
};
use async_openai::Client;
use serde::Deserialize;
use std::collections::VecDeque;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

/// The most a whole ask may take, retries included: well inside a job's two-minute claim.
const ASK_LIMIT: Duration = Duration::from_secs(100);

/// How often "the server is down" is said.
const DOWN_EVERY: Duration = Duration::from_secs(3_600);

/// The job that scores a lead at `at`: one pending per lead (a burst of messages is scored
/// once), in the lead's AI queue.
pub fn score_job(lead: LeadId, at: i64) -> crate::store::NewJob {
    crate::jobs::Job::AiScore { lead }.into_new(format!("ai:{}", lead.0), Some(format!("ai_score:{}", lead.0)), at)
}

/// The job that guesses an unqualified lead's intent, once per lead while one is pending.
pub fn intent_job(lead: LeadId, at: i64) -> crate::store::NewJob {
    crate::jobs::Job::AiIntent { lead }.into_new(format!("ai:{}", lead.0), Some(format!("ai_intent:{}", lead.0)), at)
}

/// Why nothing came back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The feature is off (now, or since the job was queued).
    #[error("the feature is off")]
    Off,
    /// Today's budget is spent; AI pauses until `until` (local midnight, unix ms).
    #[error("today's AI budget is spent")]
    Budget { until: i64 },
    /// The answer was not kept: refused or malformed.
    #[error("{0}")]
    Rejected(Rejected),
    /// Over what the API takes (an audio file over 25 MB that cannot be split).
    #[error("{0}")]
    TooLarge(String),
    /// The server failed, timed out, refused the key, or could not be reached.
    #[error("{0}")]
    Unavailable(String),
}

/// A checked answer: the value, whether it came from the kept answers, the input's
/// fingerprint, and what is left to write: the answer to keep and its attempt's log line,
/// which the caller writes with what it does with the answer (`store::keep_ai`, in its
/// transaction; `Store::keep_ai_answer` when it has none).
#[derive(Debug, Clone)]
pub struct Answered<T> {
    pub value: T,
    pub cached: bool,
    pub fingerprint: String,
    pub keep: crate::store::AiKeep,
}

/// A question for the chat model with a strict JSON-schema answer.
#[derive(Debug, Clone)]
pub struct Ask {
    pub feature: Feature,
    pub lead: Option<LeadId>,
    pub call: Option<CallId>,
    /// The instructions (the dealership's prompt template).
    pub system: String,
    /// The data; masked before it leaves.
    pub input: String,
    /// The schema's name (`hot_score`, …) and the schema.
    pub schema_name: &'static str,
    pub schema: serde_json::Value,
}

/// What a chat completion answer is read as: only what we use, so a compatible server that
/// leaves out `id`, `created` or `usage` is read all the same.
#[derive(Debug, Deserialize)]
struct ChatAnswer {
    #[serde(default)]
    choices: Vec<ChatChoice>,
}

#[derive(Debug, Deserialize)]
struct ChatChoice {
    message: ChatMessage,
}

#[derive(Debug, Deserialize)]
struct ChatMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

/// A transcription answer (`response_format=json`). async-openai's own type requires a
/// `usage` field that whisper.cpp and other local servers leave out.
#[derive(Debug, Deserialize)]
struct TranscriptAnswer {
    text: String,
}

/// The client and its limits, shared by every AI job.
pub struct Ai {
    config: AiConfig,
    tz: chrono_tz::Tz,
    chat: Client<OpenAIConfig>,
    audio: Client<OpenAIConfig>,
    /// The chat and audio servers as the log names them (host and port).
    chat_server: String,
    audio_server: String,
    features: RwLock<Features>,
    permits: Semaphore,
    /// When the requests of the last minute started.
    window: Mutex<VecDeque<Instant>>,
    /// When "the server is unavailable" was last said.
    down_said: Mutex<Option<Instant>>,
    /// The day "the budget is spent" was said.
    budget_said: Mutex<Option<String>>,
    /// Where the dealership's prompts are (`<dir>/ai/*.txt`), over the built-in ones.
    pub prompts: prompt::Prompts,
}

fn client(base: &str, key: Option<&str>, http: reqwest::Client) -> Client<OpenAIConfig> {
    // Every field set: OpenAIConfig's defaults would read OPENAI_* from the environment.
    let config = OpenAIConfig::new()
        .with_api_base(base)
        .with_api_key(key.unwrap_or_default())
        .with_org_id("")
        .with_project_id("");
    // async-openai's own stack (its retry layer over our reqwest client), with one step
    // between them: every try the server answers with 429 or 5xx is logged, so a request
    // that was retried and then answered still leaves its trace.
    let service = tower::ServiceBuilder::new()
        .layer(async_openai::middleware::retry::OpenAIRetryLayer::default())
        .map_response(said_no)
        .service(async_openai::middleware::ReqwestService::new(http));
    Client::with_config(config).with_http_service(service)
}

/// A server as the log names it: host and port, never a user or password in the URL.
fn server_of(url: &reqwest::Url) -> String {
    format!("{}:{}", url.host_str().unwrap_or("?"), url.port_or_known_default().unwrap_or(0))
}

/// Log a try the server turned down for now (429, 5xx): the retry layer above tries again
/// with backoff, honouring `Retry-After`. The server is named by host and port only.
fn said_no(response: reqwest::Response) -> reqwest::Response {
    let status = response.status();
    if status.as_u16() == 429 || status.is_server_error() {
        let url = response.url();
        let server = server_of(url);
        let retry_after = response.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok());
        warn!(
            %server,
            path = url.path(),
            status = status.as_u16(),
            retry_after,
            "the AI server turned a try down; async-openai retries a request up to 3 times with backoff, then gives up"
        );
    }
    response
}

impl Ai {
    pub fn new(config: &AiConfig, tz: chrono_tz::Tz, templates_dir: &std::path::Path) -> anyhow::Result<Ai> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_s))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("forecourt/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let key = config.api_key.as_ref().map(|k| k.expose());
        Ok(Ai {
            chat: client(&config.base_url, key, http.clone()),
            audio: client(&config.audio_base_url, key, http),
            chat_server: reqwest::Url::parse(&config.base_url).map(|u| server_of(&u)).unwrap_or_default(),
            audio_server: reqwest::Url::parse(&config.audio_base_url).map(|u| server_of(&u)).unwrap_or_default(),
            features: RwLock::new(config.features),
            permits: Semaphore::new(config.concurrency),
            window: Mutex::default(),
            down_said: Mutex::default(),
            budget_said: Mutex::default(),
            prompts: prompt::Prompts::new(templates_dir),
            config: config.clone(),
            tz,
        })
    }

    pub fn config(&self) -> &AiConfig {
        &self.config
    }

    /// When a lead with a customer's message at `now` is scored: after the configured quiet.
    pub fn score_at(&self, now: i64) -> i64 {
        now + self.config.score_after_s as i64 * 1_000
    }

    pub fn on(&self, f: Feature) -> bool {
        self.features.read().expect("features lock").has(f)
    }

    pub fn features(&self) -> Features {
        *self.features.read().expect("features lock")
    }

    /// Switch features while running; true when something changed.
    pub fn set_features(&self, f: Features) -> bool {
        let mut now = self.features.write().expect("features lock");
        let changed = *now != f;
        *now = f;
        changed
    }

    /// The local day a time falls on (`2026-12-03`), the budget's key.
    pub fn day(&self, now: i64) -> String {
        crate::domain::worktime::local(self.tz, now).date().to_string()
    }

    /// The next local midnight after `now`.
    fn midnight_after(&self, now: i64) -> i64 {
        let next = crate::domain::worktime::local(self.tz, now).date().succ_opt().unwrap_or_default();
        crate::domain::worktime::instant(self.tz, next.and_hms_opt(0, 0, 0).unwrap_or_default())
    }

    /// Ask the chat model; the answer passes `check` before it is kept or returned.
    pub async fn ask<T>(
        &self,
        store: &Store,
        now: i64,
        ask: &Ask,
        check: impl Fn(&str) -> Result<T, Rejected>,
    ) -> Result<Answered<T>, Failure> {
        if !self.on(ask.feature) {
            return Err(Failure::Off);
        }
        let input = mask(&ask.input);
        let schema = ask.schema.to_string();
        let model = &self.config.chat_model;
        let fp = fingerprint(ask.feature, model, &[ask.system.as_bytes(), input.as_bytes(), schema.as_bytes()]);
        let attempt = Attempted {
            store,
            server: &self.chat_server,
            feature: ask.feature,
            lead: ask.lead,
            call: ask.call,
            fp: &fp,
            now,
        };
        if let Some(kept) = self.kept(store, &fp).await {
            if let Ok(v) = check(&kept) {
                return Ok(attempt.answered(v, None, 0));
            }
        }
        let request = CreateChatCompletionRequestArgs::default()
            .model(model.as_str())
            .messages(vec![
                ChatCompletionRequestMessage::from(ChatCompletionRequestSystemMessage::from(ask.system.as_str())),
                ChatCompletionRequestMessage::from(ChatCompletionRequestUserMessage::from(input)),
            ])
            .response_format(ResponseFormat::JsonSchema {
                json_schema: ResponseFormatJsonSchema {
                    description: None,
                    name: ask.schema_name.to_string(),
                    schema: ask.schema.clone(),
                    strict: Some(true),
                },
            })
            .temperature(0.0)
            .build()
            .map_err(|e| Failure::Unavailable(format!("the request could not be built: {e}")))?;
        let sent = self
            .send(&attempt, || async {
                let answer: ChatAnswer = self.chat.chat().create_byot(&request).await?;
                Ok(answer)
            })
            .await?;
        let (answer, ms) = sent;
        let Some(message) = answer.choices.into_iter().next().map(|c| c.message) else {
            return Err(attempt.reject(Rejected::Malformed("the answer has no choices".into()), ms).await);
        };
        if let Some(why) = message.refusal.filter(|r| !r.trim().is_empty()) {
            return Err(attempt.reject(Rejected::Refused(crate::domain::ai::one_line(&why, 200)), ms).await);
        }
        let content = message.content.unwrap_or_default();
        match check(&content) {
            Ok(v) => Ok(attempt.answered(v, Some(content), ms)),
            Err(r) => Err(attempt.reject(r, ms).await),
        }
    }

    /// Transcribe one audio file (at most 25 MiB; a longer one is refused with the reason) in
    /// `language` when known.
    #[allow(clippy::too_many_arguments)]
    pub async fn transcribe(
        &self,
        store: &Store,
        now: i64,
        (lead, call): (Option<LeadId>, Option<CallId>),
        audio: Vec<u8>,
        file_name: &str,
        language: Option<&str>,
    ) -> Result<Answered<String>, Failure> {
        if !self.on(Feature::Transcripts) {
            return Err(Failure::Off);
        }
        let model = &self.config.transcribe_model;
        let lang = language.unwrap_or_default();
        let fp = fingerprint(Feature::Transcripts, model, &[&audio, lang.as_bytes()]);
        let attempt =
            Attempted { store, server: &self.audio_server, feature: Feature::Transcripts, lead, call, fp: &fp, now };
        if let Some(kept) = self.kept(store, &fp).await {
            return Ok(attempt.answered(kept, None, 0));
        }
        if audio.len() > crate::domain::ai::MAX_AUDIO_BYTES {
            let why = format!("the recording is {} MB, over the API's 25 MB", audio.len().div_ceil(1024 * 1024));
            attempt.log(AttemptOutcome::TooLarge, Some(&why), 0).await;
            return Err(Failure::TooLarge(why));
        }
        let mut b = async_openai::types::audio::CreateTranscriptionRequestArgs::default();
        b.file(async_openai::types::audio::AudioInput::from_vec_u8(file_name.to_string(), audio))
            .model(model.as_str())
            .response_format(async_openai::types::audio::AudioResponseFormat::Json);
        if !lang.is_empty() {
            b.language(lang);
        }
        let request = b.build().map_err(|e| Failure::Unavailable(format!("the request could not be built: {e}")))?;
        let (bytes, ms) = self
            .send(&attempt, || async { self.audio.audio().transcription().create_raw(request.clone()).await })
            .await?;
        match serde_json::from_slice::<TranscriptAnswer>(&bytes) {
            Ok(t) => {
                let text = t.text.trim().to_string();
                Ok(attempt.answered(text.clone(), Some(text), ms))
            }
            Err(e) => Err(attempt.reject(Rejected::Malformed(format!("not a transcription ({e})")), ms).await),
        }
    }

    async fn kept(&self, store: &Store, fp: &str) -> Option<String> {
        match store.ai_answer(fp).await {
            Ok(a) => a,
            Err(e) => {
                warn!(error = %e, "could not read the kept AI answers; asking again");
                None
            }
        }
    }

    /// Budget, limits, time limit, then the request; the server's failures are logged and
    /// returned, with the budget's request given back (it cost nothing).
    async fn send<R, F, Fut>(&self, attempt: &Attempted<'_>, call: F) -> Result<(R, i64), Failure>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<R, OpenAIError>>,
    {
        let (store, now) = (attempt.store, attempt.now);
        let day = self.day(now);
        let limit = self.config.daily_requests;
        // Without a budget nothing needs counting: no write per request.
        match if limit == 0 { Ok(true) } else { store.take_ai_request(&day, limit).await } {
            Ok(true) => {}
            Ok(false) => {
                self.say_budget_spent(&day);
                attempt.log(AttemptOutcome::Budget, None, 0).await;
                return Err(Failure::Budget { until: self.midnight_after(now) });
            }
            Err(e) => return Err(Failure::Unavailable(format!("could not count the request: {e}"))),
        }
        let _permit = self.permits.acquire().await.expect("the AI semaphore is never closed");
        self.wait_for_the_minute().await;
        let started = Instant::now();
        info!(
            server = attempt.server,
            feature = attempt.feature.as_str(),
            lead = attempt.lead.map(|l| l.0),
            call = attempt.call.map(|c| c.0),
            "AI request sent"
        );
        let result = tokio::time::timeout(ASK_LIMIT, call()).await;
        let ms = started.elapsed().as_millis() as i64;
        let failure = match result {
            Ok(Ok(r)) => {
                self.say_back();
                info!(
                    server = attempt.server,
                    feature = attempt.feature.as_str(),
                    lead = attempt.lead.map(|l| l.0),
                    ms,
                    "AI answer received"
                );
                return Ok((r, ms));
            }
            Ok(Err(OpenAIError::JSONDeserialize(e, _))) => {
                // The server answered, but not with what the API says: a malformed answer.
                return Err(attempt.reject(Rejected::Malformed(format!("the body does not read: {e}")), ms).await);
            }
            Ok(Err(OpenAIError::ApiError(e))) => {
                format!("the server answered {}: {}", e.status_code, e.api_error.message)
            }
            Ok(Err(OpenAIError::Reqwest(e))) if e.is_timeout() => {
                format!("no answer within {} s", self.config.timeout_s)
            }
            Ok(Err(e)) => format!("{e}"),
            Err(_) => format!("no answer within {} s, retries included", ASK_LIMIT.as_secs()),
        };
        if limit > 0 {
            if let Err(e) = store.give_back_ai_request(&day).await {
                debug!(error = %e, "could not give back a failed request's budget");
            }
        }
        self.say_down(&failure);
        attempt.log(AttemptOutcome::Failed, Some(&failure), ms).await;
        Err(Failure::Unavailable(failure))
    }

    /// Keep to the requests-per-minute limit (real time): wait until the oldest of the last
    /// minute's requests is a minute old.
    async fn wait_for_the_minute(&self) {
        let rpm = self.config.requests_per_minute.max(1) as usize;
        loop {
            let wait = {
                let mut w = self.window.lock().expect("window lock");
                let now = Instant::now();
                while w.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60)) {
                    w.pop_front();
                }
                if w.len() < rpm {
                    w.push_back(now);
                    return;
                }
                Duration::from_secs(60).saturating_sub(now.duration_since(*w.front().expect("the window is full")))
            };
            tokio::time::sleep(wait.max(Duration::from_millis(5))).await;
        }
    }

    fn say_down(&self, why: &str) {
        let mut said = self.down_said.lock().expect("down lock");
        if said.is_none_or(|t| t.elapsed() >= DOWN_EVERY) {
            warn!(reason = %why, "the AI server is unavailable; cards carry no score and nothing waits for it (said once an hour)");
            *said = Some(Instant::now());
        } else {
            debug!(reason = %why, "the AI server is still unavailable");
        }
    }

    fn say_back(&self) {
        if self.down_said.lock().expect("down lock").take().is_some() {
            info!("the AI server answers again");
        }
    }

    fn say_budget_spent(&self, day: &str) {
        let mut said = self.budget_said.lock().expect("budget lock");
        if said.as_deref() != Some(day) {
            warn!(
                requests = self.config.daily_requests,
                day, "today's AI budget is spent (FORECOURT_AI_DAILY_REQUESTS); AI pauses until midnight"
            );
            *said = Some(day.to_string());
        }
    }
}

/// One attempt's bookkeeping.
struct Attempted<'a> {
    store: &'a Store,
    /// The server asked, as the log names it.
    server: &'a str,
    feature: Feature,
    lead: Option<LeadId>,
    call: Option<CallId>,
    fp: &'a str,
    now: i64,
}

impl Attempted<'_> {
    /// A checked answer (`answer`: the text received now; `None` for a kept one), with
    /// what its caller keeps and logs.
    fn answered<T>(&self, value: T, answer: Option<String>, ms: i64) -> Answered<T> {
        Answered {
            value,
            cached: answer.is_none(),
            fingerprint: self.fp.to_string(),
            keep: crate::store::AiKeep {
                feature: self.feature,
                lead: self.lead,
                call: self.call,
                fingerprint: self.fp.to_string(),
                answer,
                ms,
                at: self.now,
            },
        }
    }

    async fn log(&self, outcome: AttemptOutcome, error: Option<&str>, ms: i64) {
        let a = Attempt {
            feature: self.feature,
            lead: self.lead,
            call: self.call,
            fingerprint: self.fp,
            outcome,
            error,
            ms,
            at: self.now,
        };
        if let Err(e) = self.store.log_ai_attempt(&a).await {
            warn!(error = %e, "could not log an AI attempt");
        }
    }

    /// A refused or malformed answer: logged as a failed attempt and returned, never kept.
    async fn reject(&self, r: Rejected, ms: i64) -> Failure {
        let outcome = match r {
            Rejected::Refused(_) => AttemptOutcome::Refused,
            Rejected::Malformed(_) => AttemptOutcome::Malformed,
        };
        let why = r.to_string();
        warn!(server = self.server, feature = self.feature.as_str(), lead = self.lead.map(|l| l.0),
            call = self.call.map(|c| c.0), outcome = outcome.as_str(), reason = %why, "an AI answer was not kept");
        self.log(outcome, Some(&why), ms).await;
        Failure::Rejected(r)
    }
}
