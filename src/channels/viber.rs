//! Viber REST Bot API: webhook events in (signature checked over the raw body first),
//! messages out. Viber's traps handled here: `message_token` is larger than 2^53 (kept as
//! text, never a float), times are milliseconds, the send API answers HTTP 200 with a
//! non-zero `status` on failure, and a `conversation_started` user is not subscribed (the
//! only message allowed is the welcome returned in the HTTP response).

use super::{LinkedFile, Outgoing};
use crate::domain::delivery::Receipt;
use crate::domain::media::SendAs;
use crate::domain::message::Inbound;
use crate::domain::{Channel, MessageKind};
use serde_json::{json, Value};
use std::time::Duration;

/// The header Viber signs webhooks in: hex HMAC-SHA256 of the raw body keyed with the token.
pub const SIGNATURE_HEADER: &str = "x-viber-content-signature";

/// Whether a webhook body carries a valid signature.
pub fn signature_ok(token: &str, body: &[u8], header: Option<&str>) -> bool {
    header.is_some_and(|h| super::hmac_hex_ok(token.as_bytes(), body, h))
}

/// A Viber user as events describe them.
#[derive(Debug, Clone, PartialEq)]
pub struct ViberUser {
    pub id: String,
    pub name: String,
    pub language: Option<String>,
}

/// One webhook event, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Sent once when the webhook is set.
    Webhook,
    /// The user opened the chat; not subscribed yet. The response may carry a welcome.
    ConversationStarted {
        user: ViberUser,
    },
    Subscribed {
        user: ViberUser,
    },
    Unsubscribed {
        user_id: String,
        at: i64,
    },
    Message(Inbound),
    Receipt {
        token: String,
        user_id: String,
        receipt: Receipt,
        error: Option<String>,
        at: i64,
    },
    /// An event Forecourt does not act on (e.g. `client_status`).
    Other(String),
}

/// A token as text, whether it came as a JSON number (usual, above 2^53) or a string.
fn token_text(v: &Value) -> Option<String> {
    match v {
        // serde_json keeps integers as u64/i64, never through f64.
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn user(v: &Value) -> Result<ViberUser, String> {
    let id = v["id"].as_str().filter(|s| !s.is_empty()).ok_or("the user has no id")?;
    Ok(ViberUser {
        id: id.to_string(),
        name: crate::domain::text::clean_name(v["name"].as_str().unwrap_or("")),
        language: v["language"].as_str().map(|l| l.to_string()),
    })
}

/// Read a webhook body (already signature-checked).
pub fn parse_event(body: &[u8]) -> Result<Event, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let event = v["event"].as_str().ok_or("no `event` field")?;
    let at = v["timestamp"].as_i64().ok_or("no `timestamp` (milliseconds)")?;
    Ok(match event {
        "webhook" => Event::Webhook,
        "conversation_started" => Event::ConversationStarted { user: user(&v["user"])? },
        "subscribed" => Event::Subscribed { user: user(&v["user"])? },
        "unsubscribed" => Event::Unsubscribed { user_id: v["user_id"].as_str().ok_or("no `user_id`")?.to_string(), at },
        "delivered" | "seen" | "failed" => Event::Receipt {
            token: token_text(&v["message_token"]).ok_or("no `message_token`")?,
            user_id: v["user_id"].as_str().unwrap_or("").to_string(),
            receipt: Receipt::from_viber_event(event).expect("listed above"),
            error: v["desc"].as_str().map(str::to_string),
            at,
        },
        "message" => Event::Message(message(&v, at)?),
        other => Event::Other(other.to_string()),
    })
}

fn message(v: &Value, at: i64) -> Result<Inbound, String> {
    let sender = user(&v["sender"])?;
    let token = token_text(&v["message_token"]).ok_or("no `message_token`")?;
    let m = &v["message"];
    let kind_name = m["type"].as_str().ok_or("the message has no `type`")?;
    let text = m["text"].as_str().map(str::to_string).filter(|t| !t.is_empty());
    let media = |name_default: Option<&str>| {
        let url = m["media"].as_str().unwrap_or("").to_string();
        json!({ "media": {
            "url": url,
            "name": m["file_name"].as_str().or(name_default),
            "size": m["size"].as_u64(),
        }})
    };
    let (kind, text, extra) = match kind_name {
        "text" => (MessageKind::Text, text, None),
        "picture" => (MessageKind::Photo, text, Some(media(None))),
        "video" => (MessageKind::Video, text, Some(media(None))),
        "file" => (MessageKind::Document, text, Some(media(None))),
        "sticker" => (MessageKind::Sticker, None, Some(json!({ "sticker_id": m["sticker_id"] }))),
        // The contact's name only: phone numbers are not kept (ARCHITECTURE, domain rules).
        "contact" => (MessageKind::Contact, None, Some(json!({ "name": m["contact"]["name"].as_str().unwrap_or("") }))),
        "location" => {
            let (lat, lon) = (m["location"]["lat"].as_f64(), m["location"]["lon"].as_f64());
            let (Some(lat), Some(lon)) = (lat, lon) else {
                return Err("a location without lat/lon".into());
            };
            (MessageKind::Location, None, Some(json!({ "latitude": lat, "longitude": lon })))
        }
        "url" => (MessageKind::Text, m["media"].as_str().map(str::to_string), None),
        other => (MessageKind::Other, Some(format!("({other})")), None),
    };
    if kind == MessageKind::Text && text.as_deref().is_none_or(str::is_empty) {
        return Err("a text message without text".into());
    }
    Ok(Inbound {
        channel: Channel::Viber,
        external_user: sender.id,
        external_message: token,
        sender_name: sender.name,
        language: sender.language,
        kind,
        text,
        file_id: None,
        media_group_id: None,
        extra,
        sent_at: at,
    })
}

/// Why a send did not happen, from Viber's `status` codes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ViberError {
    /// 5 receiverNotRegistered, 6 receiverNotSubscribed: do not write to them again.
    #[error("the customer is not subscribed to the bot on Viber (status {0})")]
    NotSubscribed(i64),
    /// 11: no device that can show it.
    #[error("the customer's Viber cannot show this message (no suitable device)")]
    NoSuitableDevice,
    /// 12 tooManyRequests.
    #[error("Viber asks us to slow down")]
    RateLimited,
    /// 2, 7, 8, 9, 10: the account or token is wrong; an admin must act.
    #[error("the Viber account refused the request (status {0}: {1}); check FORECOURT_VIBER_TOKEN and the webhook")]
    Account(i64, String),
    /// 1, 3, 4, 13, 14 and anything else: this request will never succeed.
    #[error("Viber refused the message (status {0}: {1})")]
    Refused(i64, String),
    #[error("temporary failure: {0}")]
    Transient(String),
}

impl ViberError {
    pub fn from_status(status: i64, message: &str) -> ViberError {
        match status {
            5 | 6 => ViberError::NotSubscribed(status),
            11 => ViberError::NoSuitableDevice,
            12 => ViberError::RateLimited,
            2 | 7 | 8 | 9 | 10 => ViberError::Account(status, message.to_string()),
            _ => ViberError::Refused(status, message.to_string()),
        }
    }
}

/// A Viber REST API client.
#[derive(Clone, Debug)]
pub struct ViberApi {
    http: reqwest::Client,
    base: String,
    token: String,
    sender_name: String,
}

impl ViberApi {
    pub fn new(http: reqwest::Client, base: &str, token: &str, sender_name: &str) -> ViberApi {
        ViberApi {
            http,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            sender_name: sender_name.to_string(),
        }
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    async fn call(&self, method: &str, body: &Value) -> Result<Value, ViberError> {
        let resp = self
            .http
            .post(format!("{}/{method}", self.base))
            .header("X-Viber-Auth-Token", &self.token)
            .json(body)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| ViberError::Transient(e.to_string()))?;
        let http = resp.status();
        if http.is_server_error() || http.as_u16() == 429 {
            return Err(ViberError::Transient(format!("HTTP {http}")));
        }
        let v: Value = resp.json().await.map_err(|e| ViberError::Transient(format!("unreadable answer: {e}")))?;
        // HTTP 200 with a non-zero status is a failure.
        match v["status"].as_i64() {
            Some(0) => Ok(v),
            Some(s) => Err(ViberError::from_status(s, v["status_message"].as_str().unwrap_or(""))),
            None => Err(ViberError::Transient(format!("HTTP {http} without a status"))),
        }
    }

    /// The JSON body of a message (also what a `conversation_started` response carries).
    pub fn message_body(&self, receiver: Option<&str>, out: &Outgoing) -> Value {
        let mut body = match out {
            Outgoing::Text(text) => json!({ "type": "text", "text": text }),
            Outgoing::Buttons { text, buttons } => json!({
                "type": "text",
                "text": text,
                "keyboard": keyboard(buttons),
            }),
            Outgoing::File(f) => file_body(f),
            Outgoing::Template { name, .. } => json!({ "type": "text", "text": name }),
        };
        body["sender"] = json!({ "name": self.sender_name });
        body["min_api_version"] = json!(if matches!(out, Outgoing::Buttons { .. }) { 3 } else { 1 });
        if let Some(r) = receiver {
            body["receiver"] = json!(r);
        }
        body
    }

    /// Send; returns Viber's `message_token` as text.
    pub async fn send(&self, receiver: &str, out: &Outgoing) -> Result<String, ViberError> {
        let v = self.call("send_message", &self.message_body(Some(receiver), out)).await?;
        token_text(&v["message_token"]).ok_or_else(|| ViberError::Transient("no message_token in the answer".into()))
    }

    /// Register the webhook URL (Viber calls it at once with a `webhook` event).
    pub async fn set_webhook(&self, url: &str) -> Result<(), ViberError> {
        let body = json!({
            "url": url,
            "event_types": ["delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started"],
            "send_name": true,
            "send_photo": false,
        });
        self.call("set_webhook", &body).await.map(|_| ())
    }

    /// Download a customer's file from its (expiring) media URL.
    pub async fn download(&self, url: &str) -> Result<Vec<u8>, crate::media::FetchError> {
        crate::media::http_get(&self.http, url, None).await
    }
}

fn file_body(f: &LinkedFile) -> Value {
    match f.send_as {
        SendAs::Picture => json!({ "type": "picture", "media": f.url, "text": f.caption.clone().unwrap_or_default() }),
        SendAs::Video => json!({ "type": "video", "media": f.url, "size": f.size }),
        SendAs::Audio | SendAs::File => {
            json!({ "type": "file", "media": f.url, "size": f.size, "file_name": f.name })
        }
    }
}

/// A Viber keyboard of reply buttons, one per row.
pub fn keyboard(buttons: &[(String, String)]) -> Value {
    json!({
        "Type": "keyboard",
        "DefaultHeight": false,
        "Buttons": buttons.iter().map(|(payload, title)| json!({
            "ActionType": "reply",
            "ActionBody": payload,
            "Text": title,
            "Columns": 6,
            "Rows": 1,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_above_2_pow_53_survives_exactly() {
        let body = br#"{"event":"message","timestamp":1457764197627,"message_token":4912661846655238145,
            "sender":{"id":"01234567890A=","name":"John McClane","language":"en"},
            "message":{"type":"text","text":"hello"}}"#;
        let Event::Message(m) = parse_event(body).unwrap() else { panic!("a message") };
        assert_eq!(m.external_message, "4912661846655238145");
        assert_eq!(m.sent_at, 1457764197627, "milliseconds");
        assert_eq!(m.external_user, "01234567890A=");
        assert_eq!(m.language.as_deref(), Some("en"));
    }

    #[test]
    fn every_message_type_reads() {
        let cases = [
            (r#"{"type":"picture","text":"car","media":"http://m/1.jpg"}"#, MessageKind::Photo),
            (r#"{"type":"video","media":"http://m/1.mp4","size":100}"#, MessageKind::Video),
            (r#"{"type":"file","media":"http://m/a.pdf","file_name":"a.pdf","size":5}"#, MessageKind::Document),
            (r#"{"type":"sticker","sticker_id":46105,"media":"http://m/s.png"}"#, MessageKind::Sticker),
            (r#"{"type":"contact","contact":{"name":"Ann","phone_number":"+380501234567"}}"#, MessageKind::Contact),
            (r#"{"type":"location","location":{"lat":50.45,"lon":30.52}}"#, MessageKind::Location),
            (r#"{"type":"url","media":"https://cars.example/1"}"#, MessageKind::Text),
            (r#"{"type":"rich_media"}"#, MessageKind::Other),
        ];
        for (msg, kind) in cases {
            let body = format!(
                r#"{{"event":"message","timestamp":1,"message_token":1,"sender":{{"id":"u","name":"N"}},"message":{msg}}}"#
            );
            let Event::Message(m) = parse_event(body.as_bytes()).unwrap() else { panic!("{msg}") };
            assert_eq!(m.kind, kind, "{msg}");
            assert!(!format!("{m:?}").contains("380501234567"), "no phone kept: {m:?}");
        }
    }

    #[test]
    fn events_read_and_bad_ones_are_refused_with_a_reason() {
        let ev = |s: &str| parse_event(s.as_bytes());
        assert_eq!(ev(r#"{"event":"webhook","timestamp":1,"message_token":1}"#), Ok(Event::Webhook));
        assert!(matches!(
            ev(r#"{"event":"unsubscribed","timestamp":5,"user_id":"u"}"#),
            Ok(Event::Unsubscribed { ref user_id, at: 5 }) if user_id == "u"
        ));
        assert!(matches!(
            ev(r#"{"event":"seen","timestamp":5,"message_token":9007199254740993,"user_id":"u"}"#),
            Ok(Event::Receipt { ref token, receipt: Receipt::Read, .. }) if token == "9007199254740993"
        ));
        assert!(matches!(
            ev(
                r#"{"event":"conversation_started","timestamp":1,"type":"open","user":{"id":"u","name":"A"},"subscribed":false}"#
            ),
            Ok(Event::ConversationStarted { .. })
        ));
        assert!(ev("nope").unwrap_err().contains("not JSON"));
        assert!(ev(r#"{"timestamp":1}"#).unwrap_err().contains("event"));
        assert!(ev(
            r#"{"event":"message","timestamp":1,"message_token":1,"sender":{"id":"u"},"message":{"type":"text"}}"#
        )
        .is_err());
        assert!(ev(r#"{"event":"message","timestamp":1,"sender":{"id":"u"},"message":{"type":"text","text":"x"}}"#)
            .is_err());
    }

    #[test]
    fn status_codes_map_to_outcomes() {
        assert_eq!(ViberError::from_status(6, "notSubscribed"), ViberError::NotSubscribed(6));
        assert_eq!(ViberError::from_status(5, ""), ViberError::NotSubscribed(5));
        assert_eq!(ViberError::from_status(12, ""), ViberError::RateLimited);
        assert_eq!(ViberError::from_status(11, ""), ViberError::NoSuitableDevice);
        assert!(matches!(ViberError::from_status(2, "invalidAuthToken"), ViberError::Account(2, _)));
        assert!(matches!(ViberError::from_status(3, "badData"), ViberError::Refused(3, _)));
    }

    #[test]
    fn message_bodies() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let api = ViberApi::new(reqwest::Client::new(), "http://x/pa/", "t", "Dealer");
        let b = api.message_body(Some("u"), &Outgoing::Text("hi".into()));
        assert_eq!(b["sender"]["name"], "Dealer");
        assert_eq!(b["receiver"], "u");
        let b = api
            .message_body(None, &Outgoing::Buttons { text: "?".into(), buttons: vec![("buy".into(), "Buy".into())] });
        assert_eq!(b["keyboard"]["Buttons"][0]["ActionBody"], "buy");
        assert!(b.get("receiver").is_none());
        let f = LinkedFile {
            send_as: SendAs::File,
            url: "https://p/m".into(),
            name: "a.pdf".into(),
            size: 9,
            caption: None,
        };
        let b = api.message_body(Some("u"), &Outgoing::File(f));
        assert_eq!(
            (b["type"].as_str(), b["file_name"].as_str(), b["size"].as_u64()),
            (Some("file"), Some("a.pdf"), Some(9))
        );
    }
}
