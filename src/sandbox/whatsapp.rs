//! A fake WhatsApp Cloud API. It answers `POST /{phone-number-id}/messages` as Graph does
//! (200 with a `wamid`, or an `error` object with Meta's codes), serves media by the
//! media-id → URL → authorised download dance, tracks each customer's 24-hour window (a
//! free-form send outside it answers 200 and fails later as a 131047 status, as the real
//! API does), and posts webhooks signed with the app secret over Meta-style JSON
//! (non-ASCII escaped as `\uXXXX`).

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

pub const VERSION: &str = "v21.0";

/// What the business sent one customer.
#[derive(Debug, Clone, PartialEq)]
pub struct WaSent {
    pub to: String,
    pub id: String,
    /// text, image, document, audio, video, interactive, template
    pub kind: String,
    pub text: Option<String>,
    pub file: Option<FetchedFile>,
    pub raw: Value,
}

#[derive(Default)]
struct State0 {
    webhook: Option<String>,
    /// wa_id → (name, last message time in ms)
    customers: HashMap<String, (String, i64)>,
    sent: Vec<WaSent>,
    next: u64,
    faults: VecDeque<(u16, i64, String)>,
    /// Post sent/delivered/read statuses for each message (in reverse order, as they can come).
    statuses: bool,
    /// (wa_id, line) in order, both ways, for transcripts.
    log: Vec<(String, String)>,
}

#[derive(Clone)]
pub struct FakeWhatsapp {
    inner: Arc<Inner>,
}

struct Inner {
    token: String,
    app_secret: String,
    phone_number_id: String,
    state: Mutex<State0>,
    hosted: Hosted,
    http: reqwest::Client,
    clock: Clock,
    addr: SocketAddr,
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
}

impl FakeWhatsapp {
    pub async fn start(
        token: &str,
        app_secret: &str,
        phone_number_id: &str,
        clock: Clock,
    ) -> std::io::Result<FakeWhatsapp> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let fake = FakeWhatsapp {
            inner: Arc::new(Inner {
                token: token.to_string(),
                app_secret: app_secret.to_string(),
                phone_number_id: phone_number_id.to_string(),
                state: Mutex::new(State0::default()),
                hosted: Hosted::default(),
                http: hosted::client(),
                clock,
                addr,
                shutdown: Mutex::new(None),
            }),
        };
        let app = Router::new()
            .route("/{version}/{id}/messages", post(messages))
            .route("/{version}/{id}", get(media_info))
            .route("/download/{key}", get(download))
            .with_state(fake.clone());
        *fake.inner.shutdown.lock().expect("whatsapp lock") = Some(hosted::serve(listener, app));
        Ok(fake)
    }

    /// The Graph API base with its version (`FORECOURT_WHATSAPP_API_URL`).
    pub fn url(&self) -> String {
        format!("http://{}/{VERSION}", self.inner.addr)
    }

    pub fn stop(&self) {
        if let Some(tx) = self.inner.shutdown.lock().expect("whatsapp lock").take() {
            let _ = tx.send(());
        }
    }

    fn lock(&self) -> MutexGuard<'_, State0> {
        self.inner.state.lock().expect("whatsapp lock")
    }

    pub fn set_webhook_target(&self, url: &str) {
        self.lock().webhook = Some(url.to_string());
    }

    /// Post read, delivered and sent statuses for every message (newest state first).
    pub fn auto_statuses(&self, on: bool) {
        self.lock().statuses = on;
    }

    /// Answer the next send with this HTTP status and Graph error code.
    pub fn fail_next_send(&self, http: u16, code: i64, message: &str) {
        self.lock().faults.push_back((http, code, message.to_string()));
    }

    pub fn sent(&self) -> Vec<WaSent> {
        self.lock().sent.clone()
    }

    pub fn sent_to(&self, wa_id: &str) -> Vec<WaSent> {
        self.lock().sent.iter().filter(|s| s.to == wa_id).cloned().collect()
    }

    /// Every WhatsApp chat, both ways, in order.
    pub fn transcript(&self) -> String {
        let st = self.lock();
        hosted::chat_transcript("WhatsApp", &st.log, |u| st.customers.get(u).map(|x| x.0.clone()).unwrap_or_default())
    }

    /// Host a customer's media; returns its media id. `fail_times` downloads answer 500 first.
    pub fn host_media(&self, bytes: &[u8], mime: &str, fail_times: u32) -> String {
        self.inner.hosted.add(HostedFile {
            bytes: bytes.to_vec(),
            mime: mime.to_string(),
            expires_at: None,
            fail_times,
        })
    }

    /// Sign (app secret, raw bytes) and post a notification written the way Meta writes it.
    pub async fn post(&self, body: &Value) -> (u16, String) {
        let text = hosted::ascii_json(body);
        let sig = format!("sha256={}", hmac_hex(self.inner.app_secret.as_bytes(), text.as_bytes()));
        self.post_raw(text, &sig).await
    }

    pub async fn post_raw(&self, body: String, signature: &str) -> (u16, String) {
        let url = self.lock().webhook.clone().expect("the WhatsApp webhook target is set");
        hosted::post_webhook(&self.inner.http, &url, "X-Hub-Signature-256", signature, body)
            .await
            .unwrap_or_else(|e| (0, e))
    }

    fn envelope(&self, value: Value) -> Value {
        let mut v = json!({
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550001111", "phone_number_id": self.inner.phone_number_id },
        });
        if let (Value::Object(o), Value::Object(extra)) = (&mut v, value) {
            o.extend(extra);
        }
        json!({ "object": "whatsapp_business_account",
                "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": v }] }] })
    }

    /// A customer's message (`message` without from/id/timestamp, which are added); returns
    /// the HTTP status and the message id. `sent_at` overrides the time (old events).
    pub async fn customer_sends_at(&self, wa_id: &str, name: &str, mut message: Value, sent_at: i64) -> (u16, String) {
        let id = {
            let mut st = self.lock();
            st.next += 1;
            let e = st.customers.entry(wa_id.to_string()).or_insert((name.to_string(), 0));
            e.1 = e.1.max(sent_at);
            let kind = message["type"].as_str().unwrap_or("").to_string();
            let line = match kind.as_str() {
                "text" => message["text"]["body"].as_str().unwrap_or("").to_string(),
                k => format!("[{k}] {}", message[k]["caption"].as_str().unwrap_or("")).trim_end().to_string(),
            };
            st.log.push((wa_id.to_string(), format!("{name}: {line}")));
            format!("wamid.HBgM{:012}", st.next)
        };
        message["from"] = json!(wa_id);
        message["id"] = json!(id);
        message["timestamp"] = json!((sent_at / 1000).to_string());
        let body = self.envelope(json!({
            "contacts": [{ "profile": { "name": name }, "wa_id": wa_id }],
            "messages": [message],
        }));
        (self.post(&body).await.0, id)
    }

    pub async fn customer_sends(&self, wa_id: &str, name: &str, message: Value) -> (u16, String) {
        let now = self.inner.clock.now_ms();
        self.customer_sends_at(wa_id, name, message, now).await
    }

    pub async fn customer_writes(&self, wa_id: &str, name: &str, text: &str) -> u16 {
        self.customer_sends(wa_id, name, json!({ "type": "text", "text": { "body": text } })).await.0
    }

    /// A customer sends an image; `fail_times` downloads of it answer 500 first.
    pub async fn customer_sends_image(
        &self,
        wa_id: &str,
        name: &str,
        bytes: &[u8],
        caption: &str,
        fail_times: u32,
    ) -> u16 {
        let media = self.host_media(bytes, "image/jpeg", fail_times);
        let msg = json!({ "type": "image", "image": { "id": media, "mime_type": "image/jpeg",
            "sha256": "ignored", "caption": caption } });
        self.customer_sends(wa_id, name, msg).await.0
    }

    /// Post a status for a message the business sent.
    pub async fn status(&self, id: &str, to: &str, status: &str, error: Option<(i64, &str)>) -> u16 {
        let mut s = json!({ "id": id, "status": status, "timestamp": (self.inner.clock.now_ms() / 1000).to_string(),
            "recipient_id": to });
        if let Some((code, details)) = error {
            s["errors"] = json!([{ "code": code, "title": "error", "message": "error",
                "error_data": { "details": details } }]);
        }
        self.post(&self.envelope(json!({ "statuses": [s] }))).await.0
    }
}

fn graph_error(http: u16, code: i64, message: &str) -> Response {
    let status = StatusCode::from_u16(http).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        Json(json!({ "error": { "message": message, "type": "OAuthException", "code": code,
        "error_data": { "messaging_product": "whatsapp", "details": message }, "fbtrace_id": "Afake" } })),
    )
        .into_response()
}

fn authorised(fake: &FakeWhatsapp, headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {}", fake.inner.token))
}

async fn messages(
    State(fake): State<FakeWhatsapp>,
    Path((_version, phone)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorised(&fake, &headers) {
        return graph_error(401, 190, "Invalid OAuth access token");
    }
    if phone != fake.inner.phone_number_id {
        return graph_error(400, 100, "Unsupported post request: unknown phone number id");
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return graph_error(400, 100, "Invalid parameter: body is not JSON");
    };
    if let Some((http, code, msg)) = fake.lock().faults.pop_front() {
        return graph_error(http, code, &msg);
    }
    if v["messaging_product"] != "whatsapp" {
        return graph_error(400, 100, "Invalid parameter: messaging_product");
    }
    let to = v["to"].as_str().unwrap_or("").to_string();
    let kind = v["type"].as_str().unwrap_or("").to_string();
    let last = fake.lock().customers.get(&to).map(|c| c.1);
    let Some(last) = last else {
        return graph_error(400, 131026, "Message undeliverable");
    };
    let mut sent =
        WaSent { to: to.clone(), id: String::new(), kind: kind.clone(), text: None, file: None, raw: v.clone() };
    match kind.as_str() {
        "text" => sent.text = v["text"]["body"].as_str().map(str::to_string),
        "image" | "document" | "audio" | "video" => {
            let Some(link) = v[&kind]["link"].as_str() else {
                return graph_error(400, 100, "Invalid parameter: link");
            };
            match hosted::fetch_link(&fake.inner.http, link).await {
                Ok(f) => sent.file = Some(f),
                Err(e) => return graph_error(400, 131052, &format!("Media download error: {e}")),
            }
            sent.text = v[&kind]["caption"].as_str().map(str::to_string);
        }
        "interactive" => {
            let buttons = v["interactive"]["action"]["buttons"].as_array().map(|b| b.len()).unwrap_or(0);
            if buttons > 3 {
                return graph_error(400, 131009, "Parameter value is not valid: at most 3 buttons");
            }
            sent.text = v["interactive"]["body"]["text"].as_str().map(str::to_string);
        }
        "template" => sent.text = v["template"]["name"].as_str().map(|n| format!("[template {n}]")),
        _ => return graph_error(400, 131051, "Unsupported message type"),
    }
    let id = {
        let mut st = fake.lock();
        st.next += 1;
        format!("wamid.OUT{:012}", st.next)
    };
    sent.id = id.clone();
    let outside_window = kind != "template" && fake.inner.clock.now_ms() >= last + 24 * 3_600_000;
    let statuses = {
        let mut st = fake.lock();
        let line = match &sent.file {
            Some(f) => format!(
                "[{} {} bytes, fetched from Forecourt's signed link] {}",
                sent.kind,
                f.size,
                sent.text.clone().unwrap_or_default()
            ),
            None => sent.text.clone().unwrap_or_default(),
        };
        st.log.push((to.clone(), format!("business: {}", line.trim_end())));
        st.sent.push(sent);
        st.statuses
    };
    let f = fake.clone();
    let (sid, sto) = (id.clone(), to.clone());
    if outside_window {
        // Accepted now, failed later: the real API's way with a closed window.
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            let _ = f.status(&sid, &sto, "failed", Some((131047, "Message failed to send because more than 24 hours have passed since the customer last replied to this number."))).await;
        });
    } else if statuses {
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            for s in ["read", "delivered", "sent"] {
                let _ = f.status(&sid, &sto, s, None).await;
            }
        });
    }
    Json(json!({ "messaging_product": "whatsapp", "contacts": [{ "input": to, "wa_id": to }],
        "messages": [{ "id": id }] }))
    .into_response()
}

async fn media_info(
    State(fake): State<FakeWhatsapp>,
    Path((_version, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&fake, &headers) {
        return graph_error(401, 190, "Invalid OAuth access token");
    }
    let Some(f) = fake.inner.hosted.info(&id) else {
        return graph_error(404, 100, "Unsupported get request: no such media");
    };
    Json(json!({ "messaging_product": "whatsapp", "url": format!("http://{}/download/{id}", fake.inner.addr),
        "mime_type": f.mime, "sha256": "", "file_size": f.bytes.len(), "id": id }))
    .into_response()
}

async fn download(State(fake): State<FakeWhatsapp>, Path(key): Path<String>, headers: HeaderMap) -> Response {
    if !authorised(&fake, &headers) {
        return (StatusCode::UNAUTHORIZED, "no token").into_response();
    }
    match fake.inner.hosted.get(&key, fake.inner.clock.now_ms()) {
        Served::File(bytes, mime) => ([("content-type", mime)], bytes).into_response(),
        Served::Expired => (StatusCode::NOT_FOUND, "expired").into_response(),
        Served::Missing => (StatusCode::NOT_FOUND, "no such media").into_response(),
        Served::Failed => (StatusCode::INTERNAL_SERVER_ERROR, "try again").into_response(),
    }
}
