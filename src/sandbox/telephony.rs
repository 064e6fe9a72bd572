//! Fake telephony for the tests, the demo and the benches: Ringostat's call log API
//! (`GET /calls/list` with the `Auth-key` header, `from`/`to` in local time, a JSON array),
//! recordings hosted with expiry and faults (a missing one, one that never answers, a large
//! one generated as it is streamed), and webhook senders that post calls the way Ringostat
//! (JSON or form data, local times without an offset) and Binotel (form data with
//! `callDetails[...]`, unix times, national numbers) do.

use crate::clock::Clock;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::TimeZone;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// A call as the provider knows it. Numbers are the caller's real ones: only the fake
/// holds them, and Forecourt must keep none.
#[derive(Debug, Clone, Default)]
pub struct FakeCall {
    pub id: String,
    /// Unix ms.
    pub started_at: i64,
    /// `in`, `out` or `callback`.
    pub call_type: String,
    pub caller: String,
    pub dst: String,
    /// Ringostat's word: `ANSWERED`, `NO ANSWER`, `BUSY`, …
    pub disposition: String,
    pub duration: u32,
    pub billsec: u32,
    pub waittime: u32,
    pub recording: Option<String>,
    pub employee_number: Option<String>,
    pub employee_fio: Option<String>,
    pub pool_name: Option<String>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub call_card: Option<String>,
}

impl FakeCall {
    /// An inbound call from `caller` to the dealership's tracking number.
    pub fn inbound(id: &str, caller: &str, started_at: i64) -> FakeCall {
        FakeCall {
            id: id.into(),
            started_at,
            call_type: "in".into(),
            caller: caller.into(),
            dst: "0443334455".into(),
            disposition: "ANSWERED".into(),
            call_card: Some(format!("https://app.ringostat.com/calls/{id}")),
            ..FakeCall::default()
        }
    }

    /// Answered by extension `ext` (`name`), talking `billsec` seconds after `wait`.
    pub fn answered(mut self, ext: &str, name: &str, billsec: u32, wait: u32) -> FakeCall {
        self.disposition = "ANSWERED".into();
        self.employee_number = Some(ext.into());
        self.employee_fio = Some(name.into());
        self.billsec = billsec;
        self.waittime = wait;
        self.duration = billsec + wait;
        self
    }

    /// Nobody picked up after `wait` seconds.
    pub fn missed(mut self, wait: u32) -> FakeCall {
        self.disposition = "NO ANSWER".into();
        self.billsec = 0;
        self.waittime = wait;
        self.duration = wait;
        self
    }

    pub fn with_recording(mut self, url: &str) -> FakeCall {
        self.recording = Some(url.into());
        self
    }

    pub fn from_pool(mut self, pool: &str, source: &str, medium: &str, campaign: &str) -> FakeCall {
        self.pool_name = Some(pool.into());
        self.utm_source = Some(source.into());
        self.utm_medium = Some(medium.into());
        self.utm_campaign = Some(campaign.into());
        self
    }

    /// Ringostat's fields for this call: `ended` for the "call ended" event and the call
    /// log; otherwise the "call started" event (no disposition, no times yet).
    pub fn ringostat_fields(&self, tz: chrono_tz::Tz, ended: bool) -> Vec<(&'static str, String)> {
        let mut f = vec![
            ("uniqueid", self.id.clone()),
            ("calldate", local(self.started_at, tz)),
            ("call_type", self.call_type.clone()),
            ("caller", self.caller.clone()),
            ("dst", self.dst.clone()),
        ];
        let opt = |f: &mut Vec<(&'static str, String)>, k: &'static str, v: &Option<String>| {
            if let Some(v) = v {
                f.push((k, v.clone()));
            }
        };
        opt(&mut f, "pool_name", &self.pool_name);
        opt(&mut f, "utm_source", &self.utm_source);
        opt(&mut f, "utm_medium", &self.utm_medium);
        opt(&mut f, "utm_campaign", &self.utm_campaign);
        if !ended {
            f.push(("disposition", "CALLING".into()));
            return f;
        }
        f.push(("disposition", self.disposition.clone()));
        f.push(("duration", self.duration.to_string()));
        f.push(("billsec", self.billsec.to_string()));
        f.push(("waittime", self.waittime.to_string()));
        f.push(("has_recording", if self.recording.is_some() { "1" } else { "0" }.into()));
        opt(&mut f, "recording", &self.recording);
        opt(&mut f, "employee_number", &self.employee_number);
        opt(&mut f, "employee_fio", &self.employee_fio);
        opt(&mut f, "call_card", &self.call_card);
        f
    }

    /// Binotel's "API CALL COMPLETED" form for this call.
    pub fn binotel_form(&self) -> String {
        let disposition = match self.disposition.as_str() {
            "ANSWERED" | "PROPER" => "ANSWER",
            "NO ANSWER" => "NOANSWER",
            "VOICEMAIL" => "VM",
            other => other,
        };
        // Binotel writes Ukrainian numbers without the country code.
        let national = |n: &str| {
            let d: String = n.chars().filter(char::is_ascii_digit).collect();
            d.strip_prefix("38").filter(|r| r.len() == 10).map(str::to_string).unwrap_or(d)
        };
        let customer = if self.call_type == "out" { &self.dst } else { &self.caller };
        let mut s = form_urlencoded::Serializer::new(String::new());
        s.append_pair("requestType", "apiCallCompleted")
            .append_pair("callDetails[companyID]", "4242")
            .append_pair("callDetails[generalCallID]", &self.id)
            .append_pair("callDetails[startTime]", &(self.started_at / 1000).to_string())
            .append_pair("callDetails[callType]", if self.call_type == "out" { "1" } else { "0" })
            .append_pair("callDetails[disposition]", disposition)
            .append_pair("callDetails[billsec]", &self.billsec.to_string())
            .append_pair("callDetails[waitsec]", &self.waittime.to_string())
            .append_pair("callDetails[externalNumber]", &national(customer));
        if let Some(e) = &self.employee_number {
            s.append_pair("callDetails[internalNumber]", e);
        }
        if let Some(n) = &self.employee_fio {
            s.append_pair("callDetails[employeeData][name]", n);
        }
        if let Some(r) = &self.recording {
            s.append_pair("callDetails[callRecord]", r);
        }
        s.finish()
    }
}

/// Local time as Ringostat writes it.
pub fn local(ms: i64, tz: chrono_tz::Tz) -> String {
    tz.timestamp_millis_opt(ms).single().map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
}

/// How a webhook body is encoded (Ringostat lets the integrator choose).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Form,
}

/// Post a Ringostat event for `call` to `url` (Forecourt's webhook, with `?token=`).
/// Returns the status and body.
pub async fn post_ringostat(
    http: &reqwest::Client,
    url: &str,
    call: &FakeCall,
    tz: chrono_tz::Tz,
    ended: bool,
    enc: Encoding,
) -> (u16, String) {
    let fields = call.ringostat_fields(tz, ended);
    let req = match enc {
        Encoding::Json => {
            let map: serde_json::Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_string(), Value::String(v))).collect();
            http.post(url).header("content-type", "application/json").body(Value::Object(map).to_string())
        }
        Encoding::Form => {
            let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
            http.post(url).header("content-type", "application/x-www-form-urlencoded").body(body)
        }
    };
    send(req).await
}

/// Post Binotel's "call completed" for `call` to `url`.
pub async fn post_binotel(http: &reqwest::Client, url: &str, call: &FakeCall) -> (u16, String) {
    send(http.post(url).header("content-type", "application/x-www-form-urlencoded").body(call.binotel_form())).await
}

async fn send(req: reqwest::RequestBuilder) -> (u16, String) {
    match req.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// A recording the fake hosts.
#[derive(Debug, Clone)]
pub enum Recording {
    Bytes(Vec<u8>),
    /// `n` bytes made up as they are sent (a 20 MB call without 20 MB in the fake's memory).
    Generated(u64),
    /// Gone: 404.
    Missing,
    /// Never answers (a link that times out).
    Hang,
}

struct Inner {
    api_key: String,
    clock: Clock,
    tz: chrono_tz::Tz,
    log: Mutex<Vec<FakeCall>>,
    recordings: Mutex<HashMap<String, (Recording, Option<i64>)>>,
    /// Fail this many more call log requests (503) whose `from` is before the given local time.
    fail_lists: Mutex<(u32, String)>,
    list_requests: Mutex<Vec<(String, String)>>,
    next: Mutex<u64>,
}

/// The fake Ringostat: its call log API and its recordings.
#[derive(Clone)]
pub struct FakeTelephony {
    inner: Arc<Inner>,
    addr: std::net::SocketAddr,
    stop: watch::Sender<bool>,
}

impl FakeTelephony {
    pub async fn start(api_key: &str, clock: Clock, tz: chrono_tz::Tz) -> std::io::Result<FakeTelephony> {
        let inner = Arc::new(Inner {
            api_key: api_key.into(),
            clock,
            tz,
            log: Mutex::default(),
            recordings: Mutex::default(),
            fail_lists: Mutex::new((0, String::new())),
            list_requests: Mutex::default(),
            next: Mutex::new(0),
        });
        let router = Router::new()
            .route("/calls/list", get(list))
            .route("/recordings/{key}", get(recording))
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
        Ok(FakeTelephony { inner, addr, stop })
    }

    /// The API's base (`FORECOURT_RINGOSTAT_API_URL`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Host a recording; returns its link, which stops working at `expires_at` (unix ms).
    pub fn host(&self, rec: Recording, expires_at: Option<i64>) -> String {
        let mut n = self.inner.next.lock().expect("fake lock");
        *n += 1;
        let key = format!("rec{:05}.mp3", *n);
        self.inner.recordings.lock().expect("fake lock").insert(key.clone(), (rec, expires_at));
        format!("{}/recordings/{key}", self.url())
    }

    /// Put a call in the call log (what `calls/list` answers).
    pub fn log(&self, call: &FakeCall) {
        self.inner.log.lock().expect("fake lock").push(call.clone());
    }

    /// The next `n` call log requests fail with 503.
    pub fn fail_lists(&self, n: u32) {
        *self.inner.fail_lists.lock().expect("fake lock") = (n, "9999".into());
    }

    /// The next `n` call log requests for windows starting before `before` (unix ms) fail
    /// with 503; later windows are answered.
    pub fn fail_lists_before(&self, before: i64, n: u32) {
        *self.inner.fail_lists.lock().expect("fake lock") = (n, local(before, self.inner.tz));
    }

    /// The (from, to) of every call log request, as sent.
    pub fn list_requests(&self) -> Vec<(String, String)> {
        self.inner.list_requests.lock().expect("fake lock").clone()
    }
}

async fn list(State(s): State<Arc<Inner>>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if headers.get("auth-key").and_then(|v| v.to_str().ok()) != Some(s.api_key.as_str()) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "Invalid Auth-key"}))).into_response();
    }
    let (Some(from), Some(to)) = (q.get("from"), q.get("to")) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "from and to are required"}))).into_response();
    };
    s.list_requests.lock().expect("fake lock").push((from.clone(), to.clone()));
    {
        let mut f = s.fail_lists.lock().expect("fake lock");
        if f.0 > 0 && from.as_str() < f.1.as_str() {
            f.0 -= 1;
            return (StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable").into_response();
        }
    }
    // Local times compare as text ("YYYY-MM-DD HH:MM:SS"); `to` is inclusive.
    let rows: Vec<Value> = s
        .log
        .lock()
        .expect("fake lock")
        .iter()
        .filter(|c| {
            let at = local(c.started_at, s.tz);
            at.as_str() >= from.as_str() && at.as_str() <= to.as_str()
        })
        .map(|c| {
            let map: serde_json::Map<String, Value> =
                c.ringostat_fields(s.tz, true).into_iter().map(|(k, v)| (k.to_string(), Value::String(v))).collect();
            Value::Object(map)
        })
        .collect();
    Json(Value::Array(rows)).into_response()
}

async fn recording(State(s): State<Arc<Inner>>, Path(key): Path<String>) -> Response {
    let found = s.recordings.lock().expect("fake lock").get(&key).cloned();
    let now = s.clock.now_ms();
    match found {
        None | Some((Recording::Missing, _)) => (StatusCode::NOT_FOUND, "no such recording").into_response(),
        Some((_, Some(exp))) if now >= exp => (StatusCode::FORBIDDEN, "the link has expired").into_response(),
        Some((Recording::Hang, _)) => {
            tokio::time::sleep(std::time::Duration::from_secs(3_600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Some((Recording::Bytes(b), _)) => ([("content-type", "audio/mpeg")], b).into_response(),
        Some((Recording::Generated(n), _)) => {
            const CHUNK: u64 = 64 * 1024;
            let stream = futures_util::stream::unfold(0u64, move |sent| async move {
                if sent >= n {
                    return None;
                }
                let len = CHUNK.min(n - sent) as usize;
                let chunk: Vec<u8> = (0..len).map(|i| ((sent as usize + i) % 251) as u8).collect();
                Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(chunk)), sent + len as u64))
            });
            ([("content-type", "audio/mpeg"), ("content-length", &n.to_string())], Body::from_stream(stream))
                .into_response()
        }
    }
}
