//! A fake Viber REST Bot API. It answers `send_message`, `set_webhook` and
//! `get_account_info` as Viber does (HTTP 200 with a `status` code, message tokens above
//! 2^53), fetches the media links Forecourt sends, hosts customers' files on links that
//! expire, and posts signed webhooks (messages, subscriptions, receipts) to Forecourt.

use super::hosted::{self, FetchedFile, Hosted, HostedFile, Served};
use crate::channels::hmac_hex;
use crate::clock::Clock;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// What the bot sent one customer.
#[derive(Debug, Clone, PartialEq)]
pub struct ViberSent {
    pub receiver: String,
    pub token: String,
    /// text, picture, video, file
    pub kind: String,
    pub text: Option<String>,
    pub file_name: Option<String>,
    pub file: Option<FetchedFile>,
    pub keyboard: Option<Value>,
}

#[derive(Default)]
struct State0 {
    webhook: Option<String>,
    /// user id → (name, subscribed)
    users: HashMap<String, (String, bool)>,
    sent: Vec<ViberSent>,
    next_token: u64,
    /// Status codes to answer the next sends with.
    faults: VecDeque<(i64, String)>,
    /// Send `delivered` and `seen` for each message, `delivered` before the send's answer.
    receipts: bool,
    calls: u64,
    /// (user, line) in order, both ways, for transcripts.
    log: Vec<(String, String)>,
}

#[derive(Clone)]
pub struct FakeViber {
    inner: Arc<Inner>,
}

struct Inner {
    token: String,
    state: Mutex<State0>,
    hosted: Hosted,
    http: reqwest::Client,
    clock: Clock,
    addr: SocketAddr,
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
}

impl FakeViber {
    pub async fn start(token: &str, clock: Clock) -> std::io::Result<FakeViber> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let fake = FakeViber {
            inner: Arc::new(Inner {
                token: token.to_string(),
                state: Mutex::new(State0 { next_token: 5_000_000_000_000_000_001, ..Default::default() }),
                hosted: Hosted::default(),
                http: hosted::client(),
                clock,
                addr,
                shutdown: Mutex::new(None),
            }),
        };
        let app = Router::new().route("/pa/{method}", post(api)).route("/cdn/{key}", get(cdn)).with_state(fake.clone());
        *fake.inner.shutdown.lock().expect("viber lock") = Some(hosted::serve(listener, app));
        Ok(fake)
    }

    /// The API base to configure (`FORECOURT_VIBER_API_URL`).
    pub fn url(&self) -> String {
        format!("http://{}/pa", self.inner.addr)
    }

    pub fn stop(&self) {
        if let Some(tx) = self.inner.shutdown.lock().expect("viber lock").take() {
            let _ = tx.send(());
        }
    }

    fn lock(&self) -> MutexGuard<'_, State0> {
        self.inner.state.lock().expect("viber lock")
    }

    /// Where webhooks go (what `set_webhook` would register).
    pub fn set_webhook_target(&self, url: &str) {
        self.lock().webhook = Some(url.to_string());
    }

    /// Send `delivered` (before answering the send, as can happen) and `seen` receipts.
    pub fn auto_receipts(&self, on: bool) {
        self.lock().receipts = on;
    }

    /// Answer the next send with this Viber status code.
    pub fn fail_next_send(&self, status: i64, message: &str) {
        self.lock().faults.push_back((status, message.to_string()));
    }

    pub fn sent(&self) -> Vec<ViberSent> {
        self.lock().sent.clone()
    }

    pub fn sent_to(&self, user: &str) -> Vec<ViberSent> {
        self.lock().sent.iter().filter(|s| s.receiver == user).cloned().collect()
    }

    /// Every Viber chat, both ways, in order.
    pub fn transcript(&self) -> String {
        let st = self.lock();
        hosted::chat_transcript("Viber", &st.log, |u| st.users.get(u).map(|x| x.0.clone()).unwrap_or_default())
    }

    pub fn api_calls(&self) -> u64 {
        self.lock().calls
    }

    /// Host a customer's file; the link expires after `ttl_ms` if given.
    pub fn host(&self, bytes: &[u8], mime: &str, ttl_ms: Option<i64>, fail_times: u32) -> String {
        let now = self.inner.clock.now_ms();
        let key = self.inner.hosted.add(HostedFile {
            bytes: bytes.to_vec(),
            mime: mime.to_string(),
            expires_at: ttl_ms.map(|t| now + t),
            fail_times,
        });
        format!("http://{}/cdn/{key}", self.inner.addr)
    }

    /// Sign and post a webhook body; returns the HTTP status and body.
    pub async fn post(&self, body: &Value) -> (u16, String) {
        let text = body.to_string();
        let sig = hmac_hex(self.inner.token.as_bytes(), text.as_bytes());
        self.post_raw(text, &sig).await
    }

    /// Post any bytes with any signature (tests of refusals).
    pub async fn post_raw(&self, body: String, signature: &str) -> (u16, String) {
        let url = self.lock().webhook.clone().expect("the Viber webhook target is set");
        hosted::post_webhook(&self.inner.http, &url, "X-Viber-Content-Signature", signature, body)
            .await
            .unwrap_or_else(|e| (0, e))
    }

    fn user(&self, id: &str, name: &str) -> Value {
        json!({ "id": id, "name": name, "avatar": "https://example.invalid/a.jpg", "language": "uk",
                "country": "UA", "api_version": 10 })
    }

    fn token(&self) -> u64 {
        let mut st = self.lock();
        st.next_token += 1;
        st.next_token
    }

    /// A customer's message event (`message` is Viber's message object); returns the HTTP
    /// status Forecourt answered and the event's message token.
    pub async fn customer_sends(&self, id: &str, name: &str, message: Value) -> (u16, u64) {
        {
            let mut st = self.lock();
            st.users.entry(id.to_string()).or_insert((name.to_string(), true)).1 = true;
            let line = match message["type"].as_str().unwrap_or("") {
                "text" => message["text"].as_str().unwrap_or("").to_string(),
                other => format!("[{other}] {}", message["text"].as_str().unwrap_or("")).trim_end().to_string(),
            };
            st.log.push((id.to_string(), format!("{name}: {line}")));
        }
        let token = self.token();
        let body = json!({
            "event": "message",
            "timestamp": self.inner.clock.now_ms(),
            "chat_hostname": "SN-CHAT-01_",
            "message_token": token,
            "sender": self.user(id, name),
            "message": message,
            "silent": false,
        });
        (self.post(&body).await.0, token)
    }

    /// A user who has the chat open (subscribed), known to the fake without any event.
    pub fn add_user(&self, id: &str, name: &str) {
        self.lock().users.insert(id.to_string(), (name.to_string(), true));
    }

    pub async fn customer_writes(&self, id: &str, name: &str, text: &str) -> u16 {
        self.customer_sends(id, name, json!({ "type": "text", "text": text })).await.0
    }

    /// A customer sends a picture hosted here (its link expires in an hour, as Viber's do).
    pub async fn customer_sends_picture(&self, id: &str, name: &str, bytes: &[u8], caption: &str) -> u16 {
        let url = self.host(bytes, "image/jpeg", Some(3_600_000), 0);
        let msg = json!({ "type": "picture", "text": caption, "media": url, "thumbnail": url, "size": bytes.len(),
                          "file_name": "photo.jpg" });
        self.customer_sends(id, name, msg).await.0
    }

    pub async fn conversation_started(&self, id: &str, name: &str) -> (u16, String) {
        self.lock().users.entry(id.to_string()).or_insert((name.to_string(), false));
        let body = json!({ "event": "conversation_started", "timestamp": self.inner.clock.now_ms(),
            "message_token": self.token(), "type": "open", "context": "", "user": self.user(id, name),
            "subscribed": false });
        let (status, answer) = self.post(&body).await;
        let welcome = serde_json::from_str::<Value>(&answer).ok().and_then(|v| v["text"].as_str().map(str::to_string));
        let mut st = self.lock();
        st.log.push((id.to_string(), format!("({name} opens the chat)")));
        if let Some(w) = welcome {
            st.log.push((id.to_string(), format!("bot: {w}  (the welcome, in the webhook's answer)")));
        }
        (status, answer)
    }

    pub async fn subscribed(&self, id: &str, name: &str) -> u16 {
        self.lock().users.insert(id.to_string(), (name.to_string(), true));
        let body = json!({ "event": "subscribed", "timestamp": self.inner.clock.now_ms(),
            "message_token": self.token(), "user": self.user(id, name) });
        self.post(&body).await.0
    }

    pub async fn unsubscribed(&self, id: &str) -> u16 {
        if let Some(u) = self.lock().users.get_mut(id) {
            u.1 = false;
        }
        let body = json!({ "event": "unsubscribed", "timestamp": self.inner.clock.now_ms(),
            "message_token": self.token(), "user_id": id });
        self.post(&body).await.0
    }

    /// A receipt for a message the bot sent: `delivered`, `seen` or `failed`.
    pub async fn receipt(&self, event: &str, token: &str, user: &str, desc: Option<&str>) -> u16 {
        let mut body = json!({ "event": event, "timestamp": self.inner.clock.now_ms(),
            "message_token": token.parse::<u64>().map(Value::from).unwrap_or(json!(token)), "user_id": user });
        if let Some(d) = desc {
            body["desc"] = json!(d);
        }
        self.post(&body).await.0
    }
}

fn viber_status(status: i64, message: &str) -> Response {
    Json(json!({ "status": status, "status_message": message })).into_response()
}

async fn api(State(fake): State<FakeViber>, Path(method): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    fake.lock().calls += 1;
    let token = headers.get("x-viber-auth-token").and_then(|v| v.to_str().ok()).unwrap_or("");
    if token != fake.inner.token {
        return viber_status(2, "invalidAuthToken");
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return viber_status(3, "badData");
    };
    match method.as_str() {
        "set_webhook" => {
            let Some(url) = v["url"].as_str() else { return viber_status(4, "missingData") };
            fake.set_webhook_target(url);
            // Viber checks the URL at once with a signed `webhook` event.
            let check =
                json!({ "event": "webhook", "timestamp": fake.inner.clock.now_ms(), "message_token": fake.token() });
            let (status, _) = fake.post(&check).await;
            if status != 200 {
                return viber_status(1, "invalidUrl");
            }
            Json(json!({ "status": 0, "status_message": "ok", "event_types": v["event_types"] })).into_response()
        }
        "get_account_info" => Json(json!({ "status": 0, "status_message": "ok", "id": "pa:1", "name": "Fake dealer",
            "webhook": fake.lock().webhook }))
        .into_response(),
        "send_message" => send_message(&fake, v).await,
        _ => (StatusCode::NOT_FOUND, "unknown method").into_response(),
    }
}

async fn send_message(fake: &FakeViber, v: Value) -> Response {
    if let Some((status, msg)) = fake.lock().faults.pop_front() {
        return viber_status(status, &msg);
    }
    let Some(receiver) = v["receiver"].as_str().map(str::to_string) else { return viber_status(4, "missingData") };
    if v["sender"]["name"].as_str().is_none_or(|n| n.is_empty() || n.chars().count() > 28) {
        return viber_status(3, "badData: sender.name");
    }
    match fake.lock().users.get(&receiver) {
        None => return viber_status(5, "receiverNotRegistered"),
        Some((_, false)) => return viber_status(6, "notSubscribed"),
        Some(_) => {}
    }
    let kind = v["type"].as_str().unwrap_or("").to_string();
    let mut sent = ViberSent {
        receiver: receiver.clone(),
        token: String::new(),
        kind: kind.clone(),
        text: v["text"].as_str().map(str::to_string),
        file_name: v["file_name"].as_str().map(str::to_string),
        file: None,
        keyboard: v.get("keyboard").cloned(),
    };
    match kind.as_str() {
        "text" if sent.text.as_deref().is_some_and(|t| !t.is_empty() && t.chars().count() <= 7000) => {}
        "text" => return viber_status(3, "badData: text"),
        "picture" | "video" | "file" => {
            let Some(url) = v["media"].as_str() else { return viber_status(4, "missingData: media") };
            if kind == "file" && (v["file_name"].as_str().is_none() || v["size"].as_u64().is_none()) {
                return viber_status(4, "missingData: file_name and size");
            }
            // Viber downloads the file from the URL it was given.
            match hosted::fetch_link(&fake.inner.http, url).await {
                Ok(f) => sent.file = Some(f),
                Err(_) => return viber_status(3, "badData: media URL unreachable"),
            }
        }
        _ => return viber_status(3, "badData: type"),
    }
    let token = fake.token();
    sent.token = token.to_string();
    let receipts = {
        let mut st = fake.lock();
        let line = match &sent.file {
            Some(f) => format!(
                "[{} {} bytes, fetched from Forecourt's signed link] {}",
                sent.kind,
                f.size,
                sent.text.clone().unwrap_or_default()
            )
            .trim_end()
            .to_string(),
            None => sent.text.clone().unwrap_or_default(),
        };
        st.log.push((receiver.clone(), format!("bot: {line}")));
        st.sent.push(sent);
        st.receipts
    };
    if receipts {
        // `delivered` can reach Forecourt before the answer to this very send.
        let _ = fake.receipt("delivered", &token.to_string(), &receiver, None).await;
        let f = fake.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let _ = f.receipt("seen", &token.to_string(), &receiver, None).await;
        });
    }
    // A JSON number above 2^53, as Viber writes it.
    let body = format!(r#"{{"status":0,"status_message":"ok","message_token":{token},"chat_hostname":"SN-CHAT-01_"}}"#);
    ([("content-type", "application/json")], body).into_response()
}

async fn cdn(State(fake): State<FakeViber>, Path(key): Path<String>) -> Response {
    match fake.inner.hosted.get(&key, fake.inner.clock.now_ms()) {
        Served::File(bytes, mime) => ([("content-type", mime)], bytes).into_response(),
        Served::Expired => (StatusCode::FORBIDDEN, "link expired").into_response(),
        Served::Missing => (StatusCode::NOT_FOUND, "no such file").into_response(),
        Served::Failed => (StatusCode::INTERNAL_SERVER_ERROR, "try again").into_response(),
    }
}
