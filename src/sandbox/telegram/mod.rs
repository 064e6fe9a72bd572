//! A fake Telegram Bot API server. It speaks the real JSON (`{"ok":true,"result":…}`,
//! `error_code`, `description`, `parameters.retry_after`), accepts JSON, form and multipart
//! requests, matches method names case-insensitively (teloxide writes `SendMessage`), and
//! enforces Telegram's rate limits when asked. Tests and the demo drive it through
//! [`FakeTelegram`]'s methods: inject customer and staff updates, inspect what the bot did,
//! inject faults.

mod driver;
mod methods;
pub mod state;
pub mod wire;

pub use driver::{FakeUser, Transcript};
pub use state::{Call, ChatMessage, Fault, Topic};
pub use wire::{ApiError, Content};

use crate::clock::Clock;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State as AxState};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use state::State;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{oneshot, Notify};
use wire::Params;

/// A running fake Bot API.
#[derive(Clone)]
pub struct FakeTelegram {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    updates_ready: Notify,
    clock: Clock,
    addr: SocketAddr,
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
}

impl FakeTelegram {
    /// Start on a free local port. `token` is the only token it accepts.
    pub async fn start(token: &str, clock: Clock) -> std::io::Result<FakeTelegram> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel();
        let fake = FakeTelegram {
            inner: Arc::new(Inner {
                state: Mutex::new(State::new(token)),
                updates_ready: Notify::new(),
                clock,
                addr,
                shutdown: Mutex::new(Some(tx)),
            }),
        };
        let app = Router::new()
            .route("/bot{token}/{method}", any(handle_method))
            .route("/file/bot{token}/{*path}", get(handle_file))
            // Bots upload files of up to 50 MB.
            .layer(axum::extract::DefaultBodyLimit::max(52 * 1024 * 1024))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(fake)
    }

    /// The Bot API base URL to configure (`FORECOURT_TELEGRAM_API_URL`).
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    pub fn token(&self) -> String {
        self.lock().token.clone()
    }

    /// Add a second bot that serves the staff groups: from now on, updates from the staff
    /// groups go to it, and file ids are checked per bot.
    pub fn add_staff_bot(&self, token: &str) {
        let id = token.split(':').next().and_then(|s| s.parse().ok()).unwrap_or(7_000_000_002);
        self.lock().staff_bot = Some((token.to_string(), id, std::collections::VecDeque::new()));
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    pub fn stop(&self) {
        if let Some(tx) = self.inner.shutdown.lock().expect("fake state lock").take() {
            let _ = tx.send(());
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().expect("fake state lock")
    }

    pub(crate) fn updates_ready(&self) {
        self.inner.updates_ready.notify_waiters();
    }
}

fn respond(result: Result<serde_json::Value, ApiError>) -> Response {
    match result {
        Ok(v) => Json(wire::ok(v)).into_response(),
        Err(e) => {
            let status = StatusCode::from_u16(e.code).unwrap_or(StatusCode::BAD_REQUEST);
            let mut r = (status, Json(e.body())).into_response();
            if let Some(s) = e.retry_after {
                if let Ok(v) = s.to_string().parse() {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            r
        }
    }
}

async fn read_params(req: Request, fake: &FakeTelegram, bot: i64) -> Result<Params, ApiError> {
    let mut params = Params::default();
    for pair in req.uri().query().unwrap_or("").split('&').filter(|s| !s.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.insert_text(decode(k), decode(v));
    }
    let ctype = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if ctype.starts_with("multipart/form-data") {
        let mut mp = Multipart::from_request(req, &()).await.map_err(|e| ApiError::bad_request(&e.to_string()))?;
        while let Some(field) = mp.next_field().await.map_err(|e| ApiError::bad_request(&e.to_string()))? {
            let name = field.name().unwrap_or("").to_string();
            let upload_name = field.file_name().map(str::to_string);
            let is_file = upload_name.is_some();
            let data = field.bytes().await.map_err(|e| ApiError::bad_request(&e.to_string()))?;
            if is_file {
                // An upload: keep the bytes under a new file id, as Telegram would.
                let mut st = fake.lock();
                let id = st.new_file_id("upload");
                st.files.insert(id.clone(), data.to_vec());
                st.file_owner.insert(id.clone(), bot);
                if let Some(n) = upload_name.filter(|n| !n.is_empty()) {
                    st.file_names.insert(id.clone(), n);
                }
                params.insert_text(name, id);
            } else {
                params.insert_text(name, String::from_utf8_lossy(&data).into_owned());
            }
        }
        return Ok(params);
    }
    let body: Bytes = axum::body::to_bytes(req.into_body(), 10 * 1024 * 1024)
        .await
        .map_err(|e| ApiError::bad_request(&e.to_string()))?;
    if body.is_empty() {
        return Ok(params);
    }
    if ctype.starts_with("application/json") {
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| ApiError::bad_request("can't parse JSON"))?;
        let serde_json::Value::Object(map) = v else {
            return Err(ApiError::bad_request("parameters must be an object"));
        };
        params.0.extend(map);
    } else {
        for pair in String::from_utf8_lossy(&body).split('&').filter(|s| !s.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            params.insert_text(decode(k), decode(v));
        }
    }
    Ok(params)
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle_method(
    AxState(fake): AxState<FakeTelegram>,
    Path((token, method)): Path<(String, String)>,
    req: Request,
) -> Response {
    let Some(bot) = fake.lock().bot_of_token(&token) else {
        return respond(Err(ApiError { code: 401, description: "Unauthorized".into(), retry_after: None }));
    };
    let method = method.to_ascii_lowercase();
    let params = match read_params(req, &fake, bot).await {
        Ok(p) => p,
        Err(e) => return respond(Err(e)),
    };
    let result = if method == "getupdates" {
        methods::get_updates(&fake, &params, bot).await
    } else {
        methods::call(&fake, &method, &params, bot)
    };
    let now_us = fake.clock().now_us();
    let now = now_us.div_euclid(1_000);
    {
        let mut st = fake.lock();
        if method != "getupdates" {
            st.calls.push(Call {
                method: method.clone(),
                params: serde_json::Value::Object(params.0.clone()),
                at_ms: now,
                at_us: now_us,
                error: result.as_ref().err().cloned(),
            });
        }
        if matches!(&result, Err(e) if e.code == 429) {
            st.rate_limited += 1;
        }
    }
    let hold = fake.lock().holds.get(&method).copied();
    if let Some(ms) = hold {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    respond(result)
}

async fn handle_file(AxState(fake): AxState<FakeTelegram>, Path((token, path)): Path<(String, String)>) -> Response {
    let st = fake.lock();
    let Some(bot) = st.bot_of_token(&token) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let id = path.rsplit('/').next().unwrap_or("").to_string();
    match st.files.get(&id).filter(|_| st.owns_file(bot, &id)) {
        Some(bytes) => bytes.clone().into_response(),
        None => (StatusCode::NOT_FOUND, "file not found").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn form_values_are_percent_decoded() {
        assert_eq!(decode("a+b%21%D0%AF"), "a b!Я");
        assert_eq!(decode("100%"), "100%");
    }
}
