//! A fake OpenAI-compatible server for the tests, the demo and `bench ai`: chat completions
//! (`POST /v1/chat/completions`, JSON-schema answers scripted per schema name, or a default
//! worked out from the prompt) and audio transcriptions (`POST /v1/audio/transcriptions`,
//! multipart, 25 MiB at most). It speaks the real wire format, and on demand answers the
//! way real servers misbehave: a 429 with `Retry-After`, a 500, a body that is not JSON, a
//! refusal, an answer without `usage` (as self-hosted servers send), a slow answer. It
//! checks the bearer key when one is set, and keeps every request so a test can see what
//! left the building.

use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// OpenAI's limit on an uploaded audio file.
pub const MAX_AUDIO_BYTES: usize = 25 * 1024 * 1024;

/// How the next request is answered badly.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 429 with `Retry-After: secs`.
    RateLimited { retry_after_s: u32 },
    /// 500 with OpenAI's error body.
    ServerError,
    /// 200 with a body that is not JSON.
    MalformedBody,
    /// 200 with a refusal instead of content.
    Refusal,
    /// 200 without the `usage` field.
    NoUsage,
    /// Wait this long, then answer normally.
    Slow(Duration),
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `chat` or `transcription`.
    pub endpoint: &'static str,
    /// The JSON schema's name (chat), or the file's name (transcription).
    pub name: String,
    pub model: String,
    /// Every text sent (the messages' contents, or the language and prompt).
    pub text: String,
    pub language: Option<String>,
    pub bytes: usize,
}

#[derive(Default)]
struct Inner {
    api_key: Option<String>,
    answers: Mutex<HashMap<String, VecDeque<String>>>,
    transcripts: Mutex<VecDeque<String>>,
    faults: Mutex<VecDeque<Fault>>,
    latency: Mutex<Duration>,
    seen: Mutex<Vec<Seen>>,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    next_id: AtomicUsize,
}

/// The fake server.
#[derive(Clone)]
pub struct FakeOpenAi {
    inner: Arc<Inner>,
    addr: std::net::SocketAddr,
    stop: watch::Sender<bool>,
}

impl FakeOpenAi {
    /// Start on a free port; with `api_key`, requests without `Bearer <key>` get 401.
    pub async fn start(api_key: Option<&str>) -> std::io::Result<FakeOpenAi> {
        let inner = Arc::new(Inner { api_key: api_key.map(str::to_string), ..Inner::default() });
        let router = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/audio/transcriptions", post(transcribe))
            .layer(axum::extract::DefaultBodyLimit::max(MAX_AUDIO_BYTES * 2))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, mut rx) = watch::channel(false);
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = rx.changed().await;
                })
                .await;
        });
        Ok(FakeOpenAi { inner, addr, stop })
    }

    /// The base URL (`FORECOURT_AI_BASE_URL`).
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// The content of the next answer asked for with this JSON schema name.
    pub fn answer(&self, schema: &str, content: impl Into<String>) {
        let mut a = self.inner.answers.lock().expect("fake lock");
        a.entry(schema.to_string()).or_default().push_back(content.into());
    }

    /// The text of the next transcription.
    pub fn transcript(&self, text: impl Into<String>) {
        self.inner.transcripts.lock().expect("fake lock").push_back(text.into());
    }

    /// Answer the next request badly.
    pub fn fault(&self, f: Fault) {
        self.inner.faults.lock().expect("fake lock").push_back(f);
    }

    /// Every answer waits this long (the bench's fixed latency).
    pub fn set_latency(&self, d: Duration) {
        *self.inner.latency.lock().expect("fake lock") = d;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.inner.seen.lock().expect("fake lock").clone()
    }

    /// Requests answered so far.
    pub fn requests(&self) -> usize {
        self.inner.seen.lock().expect("fake lock").len()
    }

    /// The most requests it was answering at once.
    pub fn most_at_once(&self) -> usize {
        self.inner.most_in_flight.load(Ordering::SeqCst)
    }
}

fn error(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Response {
    (status, Json(json!({"error": {"message": message, "type": kind, "param": null, "code": code}}))).into_response()
}

/// 429 with OpenAI's body and `Retry-After`.
fn rate_limited(retry_after_s: u32) -> Response {
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        "Rate limit reached for requests per min. Please try again in 1s.",
        "requests",
        Some("rate_limit_exceeded"),
    );
    r.headers_mut().insert("retry-after", retry_after_s.to_string().parse().expect("a number is a header"));
    r
}

/// The bearer key, when one is set: a wrong or missing one gets OpenAI's 401 (returned).
fn unauthorised(inner: &Inner, headers: &HeaderMap) -> Option<Response> {
    let key = inner.api_key.as_ref()?;
    if headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {key}")) {
        return None;
    }
    Some(error(
        StatusCode::UNAUTHORIZED,
        "Incorrect API key provided.",
        "invalid_request_error",
        Some("invalid_api_key"),
    ))
}

/// Counts a request in flight while it lives.
struct InFlight<'a>(&'a Inner);

impl<'a> InFlight<'a> {
    fn new(inner: &'a Inner) -> InFlight<'a> {
        let now = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        inner.most_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(inner)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The next fault, after the fixed latency (and a slow answer's own wait).
async fn next_fault(inner: &Inner) -> Option<Fault> {
    let latency = *inner.latency.lock().expect("fake lock");
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let f = inner.faults.lock().expect("fake lock").pop_front();
    if let Some(Fault::Slow(d)) = f {
        tokio::time::sleep(d).await;
        return None;
    }
    f
}

fn usage(prompt: usize, completion: usize) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

async fn chat(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: String) -> Response {
    let _counted = InFlight::new(&inner);
    if let Some(refused) = unauthorised(&inner, &headers) {
        return refused;
    }
    let Ok(req) = serde_json::from_str::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "We could not parse the JSON body of your request.",
            "invalid_request_error",
            None,
        );
    };
    let model = req["model"].as_str().unwrap_or_default().to_string();
    let schema = req["response_format"]["json_schema"]["name"].as_str().unwrap_or("text").to_string();
    let text: String = req["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["content"].as_str()).collect::<Vec<_>>().join("\n"))
        .unwrap_or_default();
    // The default answers read only what the user message says (not the instructions).
    let user: String = req["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter(|m| m["role"] == "user")
                .filter_map(|m| m["content"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    if model.is_empty() || req["messages"].as_array().is_none_or(|m| m.is_empty()) {
        return error(StatusCode::BAD_REQUEST, "you must provide a model and messages", "invalid_request_error", None);
    }
    inner.seen.lock().expect("fake lock").push(Seen {
        endpoint: "chat",
        name: schema.clone(),
        model: model.clone(),
        bytes: body.len(),
        text: text.clone(),
        language: None,
    });
    let fault = next_fault(&inner).await;
    let n = inner.next_id.fetch_add(1, Ordering::SeqCst);
    let mut message = json!({"role": "assistant", "content": null, "refusal": null});
    match fault {
        Some(Fault::RateLimited { retry_after_s }) => return rate_limited(retry_after_s),
        Some(Fault::ServerError) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
            )
        }
        Some(Fault::MalformedBody) => {
            return (StatusCode::OK, [("content-type", "application/json")], "{\"id\": \"chatcmpl-").into_response()
        }
        Some(Fault::Refusal) => message["refusal"] = json!("I'm sorry, but I can't help with that request."),
        _ => {
            let scripted = inner.answers.lock().expect("fake lock").get_mut(&schema).and_then(VecDeque::pop_front);
            message["content"] = json!(scripted.unwrap_or_else(|| default_answer(&schema, &user)));
        }
    }
    let mut out = json!({
        "id": format!("chatcmpl-fake{n}"),
        "object": "chat.completion",
        "created": 1_764_000_000u32,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": "stop"}],
        "usage": usage(text.len() / 4, 40),
    });
    if fault == Some(Fault::NoUsage) {
        out.as_object_mut().expect("an object").remove("usage");
    }
    Json(out).into_response()
}

/// An answer worked out from the prompt, when a test scripted none: stable for the same
/// input, so a second run hits the cache and a demo looks alive.
fn default_answer(schema: &str, text: &str) -> String {
    let lower = text.to_lowercase();
    match schema {
        "hot_score" => {
            let signals: [(&[&str], &str); 5] = [
                (&["test drive", "тест-драйв", "тест драйв"], "wants a test drive"),
                (&["budget", "бюджет", "$", "грн"], "talks about money"),
                (&["trade-in", "трейд-ін", "обмін"], "has a car to trade in"),
                (&["today", "tomorrow", "сьогодні", "завтра"], "wants to act soon"),
                (&["price", "ціна", "скільки"], "asked the price"),
            ];
            let found: Vec<&str> =
                signals.iter().filter(|(words, _)| words.iter().any(|w| lower.contains(w))).map(|(_, r)| *r).collect();
            let mut reasons: Vec<String> = found.iter().take(3).map(|s| s.to_string()).collect();
            for filler in ["answers questions", "replied recently", "early in the talk"] {
                if reasons.len() < 3 {
                    reasons.push(filler.to_string());
                }
            }
            let score = (25 + 20 * found.len()).min(95);
            json!({"score": score, "reasons": reasons}).to_string()
        }
        "script_check" => {
            // The criteria are the input's `- id (` lines; the transcript follows them.
            let ids: Vec<&str> =
                text.lines().filter_map(|l| l.strip_prefix("- ")?.split_once(" (").map(|(id, _)| id)).collect();
            let quote: String = text
                .split("transcript:")
                .nth(1)
                .unwrap_or_default()
                .split_whitespace()
                .take(8)
                .collect::<Vec<_>>()
                .join(" ");
            let criteria: Vec<Value> = ids
                .iter()
                .map(|id| {
                    let (verdict, q) = if id.contains("next_step") {
                        ("missed", "")
                    } else if id.contains("tradein") {
                        ("unsure", "")
                    } else {
                        ("met", quote.as_str())
                    };
                    json!({"criterion": id, "verdict": verdict, "quote": q})
                })
                .collect();
            json!({"criteria": criteria, "score": 80, "critical_misses": [], "sentiment": "positive", "intent": "buy",
                "next_step_agreed": false, "summary": "The customer asked about the car and its price.\nNo visit was agreed."})
            .to_string()
        }
        "lead_intent" => {
            let said = text.split("Conversation (oldest first):").nth(1).unwrap_or(text).to_lowercase();
            let intent = if ["продат", "sell", "викуп"].iter().any(|w| said.contains(w)) {
                "sell"
            } else if ["сервіс", "ремонт", "service", "то "].iter().any(|w| said.contains(w)) {
                "service"
            } else if ["купи", "buy", "тест", "ціна", "скільки"].iter().any(|w| said.contains(w)) {
                "buy"
            } else {
                "other"
            };
            let language = if said.chars().any(|c| "іїєґ".contains(c)) {
                "uk"
            } else if said.chars().any(|c| ('а'..='я').contains(&c)) {
                "ru"
            } else {
                "en"
            };
            json!({"intent": intent, "language": language}).to_string()
        }
        "reply_draft" => {
            // Only what the input lists: the first attached car's line, as given.
            let car = text
                .split("Cars attached to the lead:")
                .nth(1)
                .and_then(|rest| rest.lines().find_map(|l| l.strip_prefix("- ")))
                .map(str::to_string);
            let reply = match car {
                Some(c) => format!("Добрий день! {c}. Коли вам зручно приїхати на огляд чи тест-драйв?"),
                None => "Добрий день! Дякуємо за звернення. Менеджер уточнить деталі й напише вам.".to_string(),
            };
            json!({"reply": reply}).to_string()
        }
        _ => json!({"text": "ok"}).to_string(),
    }
}

async fn transcribe(State(inner): State<Arc<Inner>>, headers: HeaderMap, mut form: Multipart) -> Response {
    let _counted = InFlight::new(&inner);
    if let Some(refused) = unauthorised(&inner, &headers) {
        return refused;
    }
    let (mut file, mut name, mut model, mut language, mut prompt) = (None, String::new(), String::new(), None, None);
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let field_name = field.name().unwrap_or_default().to_string();
                if field_name == "file" {
                    name = field.file_name().unwrap_or("audio").to_string();
                    match field.bytes().await {
                        Ok(b) => file = Some(b),
                        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string(), "invalid_request_error", None),
                    }
                } else {
                    let value = field.text().await.unwrap_or_default();
                    match field_name.as_str() {
                        "model" => model = value,
                        "language" => language = Some(value),
                        "prompt" => prompt = Some(value),
                        _ => {}
                    }
                }
            }
            Ok(None) => break,
            Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string(), "invalid_request_error", None),
        }
    }
    let Some(file) = file else {
        return error(StatusCode::BAD_REQUEST, "you must provide a file", "invalid_request_error", None);
    };
    if model.is_empty() {
        return error(StatusCode::BAD_REQUEST, "you must provide a model parameter", "invalid_request_error", None);
    }
    if file.len() > MAX_AUDIO_BYTES {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("Maximum content size limit ({MAX_AUDIO_BYTES}) exceeded ({} bytes read)", file.len()),
            "invalid_request_error",
            None,
        );
    }
    inner.seen.lock().expect("fake lock").push(Seen {
        endpoint: "transcription",
        name: name.clone(),
        model,
        text: prompt.unwrap_or_default(),
        language: language.clone(),
        bytes: file.len(),
    });
    let fault = next_fault(&inner).await;
    match fault {
        Some(Fault::RateLimited { retry_after_s }) => return rate_limited(retry_after_s),
        Some(Fault::ServerError) => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "The server had an error.", "server_error", None)
        }
        Some(Fault::MalformedBody) => return (StatusCode::OK, "{\"text\": ").into_response(),
        _ => {}
    }
    let text = inner.transcripts.lock().expect("fake lock").pop_front().unwrap_or_else(|| {
        format!("[{} speech, {} bytes of {name}]", language.as_deref().unwrap_or("auto"), file.len())
    });
    let seconds = (file.len() / 16_000).max(1);
    if fault == Some(Fault::NoUsage) {
        return Json(json!({"text": text})).into_response();
    }
    Json(json!({"text": text, "usage": {"type": "duration", "seconds": seconds}})).into_response()
}
