//! The lead list (filters, pages, CSV) and a lead's page: its timeline across every channel,
//! the customer seen whole, the link to its topic, and the timeline's CSV. CSV files are
//! UTF-8 with a byte-order mark, so Excel opens Cyrillic as written; the list's CSV is
//! streamed row by row as the database reads it.

use super::page::{self, dur, when, Viewer};
use super::{Query, LEAD_CHANNELS};
use crate::context::App;
use crate::domain::Stage;
use crate::store::{LeadHead, ListLead, TimelineRows};
use axum::body::Body;
use axum::extract::{Path, Query as Q, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::sync::Arc;

/// Rows per page of the list.
const PAGE: i64 = 50;
/// The byte-order mark that tells Excel the file is UTF-8.
const BOM: &str = "\u{feff}";

fn bad_query(app: &App, why: String) -> Response {
    page::render(
        app,
        StatusCode::BAD_REQUEST,
        "web/plain.html",
        minijinja::context! { what => "bad_query", why => why, status => 400 },
    )
}

fn row_ctx(app: &App, l: &ListLead) -> Value {
    let stage = Stage::parse(&l.stage).map(|s| app.templates.label("stage", s.as_str(), s.label()));
    json!({
        "id": l.id,
        "customer": l.customer,
        "channel": l.channel,
        "stage": stage.unwrap_or_else(|| l.stage.clone()),
        "owner": l.owner,
        "created": when(app, l.created_at),
        "last": l.last_message_at.map(|t| when(app, t)),
        "first_response": dur(l.first_response_secs),
        "lost_reason": l.lost_reason,
    })
}

/// The signed-in viewer and the list's filter, narrowed to what they may see.
async fn viewer_and_filter(
    app: &App,
    headers: &HeaderMap,
    q: &Query,
) -> Result<(Viewer, crate::store::LeadFilter), Response> {
    let v = page::viewer(app, headers).await?;
    let f = q.filter(app, v.only()).map_err(|why| bad_query(app, why))?;
    Ok((v, f))
}

pub async fn list(State(app): State<Arc<App>>, headers: HeaderMap, Q(q): Q<Query>) -> Response {
    let (v, f) = match viewer_and_filter(&app, &headers, &q).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let page_no: i64 = q.page.as_deref().and_then(|p| p.parse().ok()).filter(|p| *p >= 1).unwrap_or(1);
    let total = match app.store.lead_count(&f).await {
        Ok(n) => n,
        Err(e) => return page::failed(&app, "counting leads", &e),
    };
    let rows = match app.store.lead_list(&f, (page_no - 1) * PAGE, PAGE).await {
        Ok(r) => r,
        Err(e) => return page::failed(&app, "listing leads", &e),
    };
    let people = if v.sees_all() {
        app.store
            .list_users()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|u| u.active)
            .map(|u| json!({"id": u.id.0, "name": u.name}))
            .collect()
    } else {
        Vec::new()
    };
    let pages = (total + PAGE - 1) / PAGE;
    let qs = q.qs();
    let at = |p: i64| format!("/reports/leads?{qs}{}page={p}", if qs.is_empty() { "" } else { "&" });
    let stages: Vec<Value> = Stage::ALL
        .iter()
        .map(|s| json!({"key": s.as_str(), "name": app.templates.label("stage", s.as_str(), s.label())}))
        .collect();
    let ctx = minijinja::context! {
        me => v.ctx(),
        q => minijinja::value::Serde(&q),
        rows => minijinja::value::Serde(&rows.iter().map(|l| row_ctx(&app, l)).collect::<Vec<_>>()),
        total => total,
        page => page_no,
        pages => pages,
        prev => (page_no > 1).then(|| at(page_no - 1)),
        next => (page_no < pages).then(|| at(page_no + 1)),
        csv => format!("/reports/leads.csv?{qs}"),
        stages => minijinja::value::Serde(&stages),
        channels => LEAD_CHANNELS,
        people => minijinja::value::Serde(&people),
        described => describe(&q),
    };
    page::render(&app, StatusCode::OK, "web/leads.html", ctx)
}

/// What the list is narrowed by, in words, for its heading.
fn describe(q: &Query) -> Vec<String> {
    let mut d = Vec::new();
    let mut add = |k: &str, v: &Option<String>| {
        if let Some(v) = v.as_deref().filter(|v| !v.trim().is_empty()) {
            d.push(format!("{k}: {v}"));
        }
    };
    add("reached", &q.reached);
    add("lost reason", &q.lost_reason);
    add("call pool", &q.pool);
    add("UTM source", &q.utm);
    if q.stuck.as_deref() == Some("1") {
        d.push("stuck in their stage".into());
    }
    match q.by.as_deref() {
        Some("sold") => d.push("sold in the period".into()),
        Some("missed") => d.push("missed call not called back".into()),
        _ => {}
    }
    match q.responded.as_deref() {
        Some("1") => d.push("answered by staff".into()),
        Some("0") => d.push("never answered".into()),
        _ => {}
    }
    d
}

fn csv_response(name: &str, body: Body) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// One CSV record as bytes.
fn record(fields: &[String]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let _ = w.write_record(fields);
    w.into_inner().unwrap_or_default()
}

const LIST_HEADER: [&str; 10] = [
    "lead",
    "customer",
    "channel",
    "stage",
    "owner",
    "created",
    "stage since",
    "last message",
    "first response (business seconds)",
    "lost reason",
];

pub async fn list_csv(State(app): State<Arc<App>>, headers: HeaderMap, Q(q): Q<Query>) -> Response {
    let (_, f) = match viewer_and_filter(&app, &headers, &q).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    // The database read runs beside the response and hands rows over a bounded channel, so
    // a slow download slows the read instead of filling memory; a client that goes away
    // stops it.
    let (tx, rx) = tokio::sync::mpsc::channel::<ListLead>(512);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
    let reader = app.clone();
    tokio::spawn(async move {
        let r = reader.store.lead_list_into(&f, tx).await.map_err(|e| e.to_string());
        if let Err(e) = &r {
            tracing::error!(error = %e, "the lead list's CSV stopped");
        }
        let _ = done_tx.send(r);
    });
    let mut head = BOM.as_bytes().to_vec();
    head.extend(record(&LIST_HEADER.map(String::from)));
    struct S {
        app: Arc<App>,
        rx: tokio::sync::mpsc::Receiver<ListLead>,
        head: Option<Vec<u8>>,
        done: Option<tokio::sync::oneshot::Receiver<Result<(), String>>>,
    }
    let state = S { app: app.clone(), rx, head: Some(head), done: Some(done_rx) };
    let stream = futures_util::stream::unfold(state, |mut s| async move {
        if let Some(h) = s.head.take() {
            return Some((Ok::<_, std::io::Error>(h), s));
        }
        let first = s.rx.recv().await;
        let Some(first) = first else {
            // The reader finished: a failure ends the body with an error, so the download
            // is seen as broken rather than short.
            let done = s.done.take()?;
            return match done.await {
                Ok(Err(e)) => Some((Err(std::io::Error::other(e)), s)),
                _ => None,
            };
        };
        let mut chunk = Vec::with_capacity(64 * 1024);
        let add = |chunk: &mut Vec<u8>, l: ListLead, app: &App| {
            chunk.extend(record(&[
                l.id.to_string(),
                l.customer,
                l.channel,
                l.stage,
                l.owner.unwrap_or_default(),
                when(app, l.created_at),
                when(app, l.stage_since),
                l.last_message_at.map(|t| when(app, t)).unwrap_or_default(),
                l.first_response_secs.map(|s| s.to_string()).unwrap_or_default(),
                l.lost_reason.unwrap_or_default(),
            ]))
        };
        add(&mut chunk, first, &s.app);
        while chunk.len() < 64 * 1024 {
            match s.rx.try_recv() {
                Ok(l) => add(&mut chunk, l, &s.app),
                Err(_) => break,
            }
        }
        Some((Ok(chunk), s))
    });
    csv_response("leads.csv", Body::from_stream(stream))
}

/// One timeline item as the page and the CSV show it.
#[derive(Debug, Clone, serde::Serialize)]
struct Item {
    at: i64,
    when: String,
    kind: &'static str,
    channel: Option<String>,
    direction: Option<String>,
    who: Option<String>,
    text: String,
    /// `photo`, `audio`, `file` and its signed link.
    media: Option<Value>,
    details: Vec<String>,
    /// A call's transcript (AI), shown folded.
    transcript: Option<String>,
}

fn timeline_items(app: &App, rows: TimelineRows, people: &std::collections::HashMap<i64, String>) -> Vec<Item> {
    let now = app.clock.now_ms();
    let link = |id: i64, name: &str| app.links.url("", crate::domain::MediaId(id), name, now);
    let mut items = Vec::new();
    for m in rows.messages {
        let kind = match (m.direction.as_str(), m.by_bot) {
            (_, true) => "bot",
            ("incoming", _) => "in",
            ("outgoing", _) => "out",
            ("note", _) => "note",
            _ => "system",
        };
        let media = m.media.map(|(id, name, mime)| {
            let name = name.unwrap_or_else(|| format!("{}-{id}", m.kind));
            let shown = match m.kind.as_str() {
                "photo" | "sticker" => "photo",
                "voice" | "audio" => "audio",
                "video" => "video",
                _ if mime.as_deref().is_some_and(|t| t.starts_with("image/")) => "photo",
                _ => "file",
            };
            json!({ "kind": shown, "href": link(id, &name), "name": name })
        });
        let mut details = Vec::new();
        if m.delivery.as_deref() == Some("failed") {
            details.push(format!("not delivered: {}", m.delivery_error.unwrap_or_default()));
        }
        let who = match kind {
            "bot" => Some("Bot".to_string()),
            "in" => None,
            _ => m.author,
        };
        items.push(Item {
            at: m.at,
            when: when(app, m.at),
            kind,
            channel: (m.channel != "staff").then_some(m.channel),
            direction: Some(m.direction),
            who,
            text: m.body.unwrap_or_else(|| if media.is_some() { String::new() } else { format!("[{}]", m.kind) }),
            media,
            details,
            transcript: None,
        });
    }
    for c in rows.calls {
        let mut details = vec![c.disposition.replace('_', " ")];
        if let Some(t) = c.talk_s.filter(|t| *t > 0) {
            details.push(format!("talk {}", dur(Some(t))));
        }
        if let Some(w) = c.wait_s.filter(|w| *w > 0) {
            details.push(format!("wait {}", dur(Some(w))));
        }
        if let Some(p) = c.pool {
            details.push(format!("pool {p}"));
        }
        for s in &c.scores {
            details.push(format!("review score {s}/100"));
        }
        if let Some(s) = c.ai_score {
            details.push(format!("AI script check {s}/100 (advice)"));
        }
        let media = c
            .recording
            .map(|id| json!({ "kind": "audio", "href": link(id, &format!("call-{}.mp3", c.id)), "name": "recording" }));
        if media.is_none() && c.recording_state == "unavailable" {
            details.push("recording unavailable".into());
        }
        items.push(Item {
            at: c.at,
            when: when(app, c.at),
            kind: "call",
            channel: Some("call".into()),
            direction: Some(c.direction.clone()),
            who: c.who,
            text: format!(
                "{} call{}",
                if c.direction == "inbound" { "Incoming" } else { "Outgoing" },
                if c.missed { ", missed" } else { "" }
            ),
            media,
            details,
            transcript: c.transcript,
        });
    }
    for t in rows.tasks {
        let mut details = Vec::new();
        if let Some(d) = t.due_at {
            details.push(format!("due {}", when(app, d)));
        }
        match t.state.as_str() {
            "done" => details.push(format!(
                "done {}{}",
                t.done_at.map(|d| when(app, d)).unwrap_or_default(),
                t.done_by.map(|b| format!(" by {b}")).unwrap_or_default()
            )),
            "cancelled" => details.push("cancelled".into()),
            _ => details.push("open".into()),
        }
        items.push(Item {
            at: t.at,
            when: when(app, t.at),
            kind: "task",
            channel: None,
            direction: None,
            who: t.who,
            text: format!("Task: {}", t.title),
            media: None,
            details,
            transcript: None,
        });
    }
    let person = |v: &Option<String>| -> String {
        match v.as_deref() {
            None => "nobody".into(),
            Some(s) => s.parse::<i64>().ok().and_then(|id| people.get(&id).cloned()).unwrap_or_else(|| s.to_string()),
        }
    };
    let stage = |v: &Option<String>| -> String {
        v.as_deref()
            .map(|s| {
                Stage::parse(s).map(|st| app.templates.label("stage", s, st.label())).unwrap_or_else(|| s.to_string())
            })
            .unwrap_or_default()
    };
    for h in rows.history {
        let text = match h.field.as_str() {
            "created" => "Lead opened".to_string(),
            "stage" => format!("Stage: {} → {}", stage(&h.from), stage(&h.to)),
            "owner" => format!("Owner: {} → {}", person(&h.from), person(&h.to)),
            "vehicle" => match (&h.from, &h.to) {
                (None, Some(v)) => format!("Vehicle attached: {v}"),
                (Some(v), None) => format!("Vehicle detached: {v}"),
                _ => "Vehicle changed".to_string(),
            },
            other => other.to_string(),
        };
        items.push(Item {
            at: h.at,
            when: when(app, h.at),
            kind: "change",
            channel: None,
            direction: None,
            who: h.actor,
            text,
            media: None,
            details: h.reason.into_iter().collect(),
            transcript: None,
        });
    }
    // One list in time order; at the same instant, the order they were read in.
    items.sort_by_key(|i| i.at);
    items
}

async fn head_and_items(app: &App, v: &Viewer, id: i64) -> Result<(LeadHead, Vec<Item>), Response> {
    let head = page::lead_for(app, v, id).await?;
    let rows =
        app.store.timeline(crate::domain::LeadId(id)).await.map_err(|e| page::failed(app, "reading a timeline", &e))?;
    let people = app.store.people_names().await.map_err(|e| page::failed(app, "reading names", &e))?;
    Ok((head, timeline_items(app, rows, &people)))
}

async fn viewer_and_items(
    app: &App,
    headers: &HeaderMap,
    id: i64,
) -> Result<(Viewer, (LeadHead, Vec<Item>)), Response> {
    let v = page::viewer(app, headers).await?;
    let x = head_and_items(app, &v, id).await?;
    Ok((v, x))
}

pub async fn lead(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    let (v, (head, items)) = match viewer_and_items(&app, &headers, id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let customer = match app.store.customer_360(head.customer).await {
        Ok(c) => c,
        Err(e) => return page::failed(&app, "reading a customer", &e),
    };
    let topic = match (head.staff_chat, head.thread) {
        (Some(chat), Some(thread)) => crate::domain::routing::topic_link(chat, thread as i32),
        _ => None,
    };
    let leads: Vec<Value> = customer
        .as_ref()
        .map(|c| {
            c.leads
                .iter()
                .map(|l| {
                    let mut r = row_ctx(&app, l);
                    r["visible"] = json!(v.may_see(l.owner_id));
                    r
                })
                .collect()
        })
        .unwrap_or_default();
    let ctx = minijinja::context! {
        me => v.ctx(),
        lead => minijinja::value::Serde(row_ctx(&app, &head.lead)),
        intent => head.intent,
        topic => topic,
        customer => minijinja::value::Serde(&customer),
        customer_leads => minijinja::value::Serde(&leads),
        items => minijinja::value::Serde(&items),
        csv => format!("/reports/leads/{id}/timeline.csv"),
    };
    page::render(&app, StatusCode::OK, "web/lead.html", ctx)
}

pub async fn timeline_csv(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    let (_, (_, items)) = match viewer_and_items(&app, &headers, id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut out = BOM.as_bytes().to_vec();
    out.extend(record(&["time", "kind", "channel", "direction", "who", "text", "file", "details"].map(String::from)));
    for i in items {
        out.extend(record(&[
            i.when,
            i.kind.to_string(),
            i.channel.unwrap_or_default(),
            i.direction.unwrap_or_default(),
            i.who.unwrap_or_default(),
            match &i.transcript {
                Some(t) => format!("{}\nTranscript: {t}", i.text),
                None => i.text,
            },
            i.media.and_then(|m| m["name"].as_str().map(String::from)).unwrap_or_default(),
            i.details.join("; "),
        ]));
    }
    csv_response(&format!("lead-{id}-timeline.csv"), Body::from(out))
}
