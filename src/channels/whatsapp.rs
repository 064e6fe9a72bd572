//! WhatsApp Cloud API: webhook notifications in (signature checked over the raw bytes
//! first: Meta escapes non-ASCII as `\uXXXX`, so a re-serialised body would not match),
//! messages out. Traps handled here: statuses arrive out of order and twice; a send outside
//! the 24-hour window usually answers 200 and fails later as a 131047 status; media URLs
//! last minutes and need the media-id → URL → authorised download dance; at most 3 reply
//! buttons (10 list rows).

use super::{LinkedFile, Outgoing};
use crate::domain::delivery::Receipt;
use crate::domain::media::SendAs;
use crate::domain::message::Inbound;
use crate::domain::{Channel, MessageKind};
use crate::media::FetchError;
use serde_json::{json, Value};
use std::time::Duration;

/// The header Meta signs webhooks in: `sha256=<hex HMAC-SHA256 of the raw body, app secret>`.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// The error code of a message sent outside the customer-service window.
pub const WINDOW_CLOSED: i64 = 131047;

/// At most this many reply buttons; longer choices become a list.
pub const MAX_BUTTONS: usize = 3;
pub const MAX_LIST_ROWS: usize = 10;

pub fn signature_ok(app_secret: &str, body: &[u8], header: Option<&str>) -> bool {
    header
        .and_then(|h| h.trim().strip_prefix("sha256="))
        .is_some_and(|hex| super::hmac_hex_ok(app_secret.as_bytes(), body, hex))
}

/// One thing a notification reported.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Message(Inbound),
    Status { id: String, recipient: String, receipt: Receipt, error_code: Option<i64>, error: Option<String>, at: i64 },
}

fn seconds(v: &Value) -> Option<i64> {
    let s = match v {
        Value::String(s) => s.parse::<i64>().ok()?,
        Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    // Saturating: an absurd time stays absurdly late (never negative), and ingest takes
    // a time too far ahead as now (`domain::text::sane_time`).
    Some(crate::domain::text::seconds_to_ms(s).unwrap_or(if s < 0 { i64::MIN } else { i64::MAX }))
}

/// Why a notification was not taken.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    /// Not the shape Meta sends (answered 400 with the reason).
    Malformed(String),
    /// For another business number than the configured one (refused and logged).
    OtherNumber(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Malformed(why) => write!(f, "not a WhatsApp notification: {why}"),
            Refused::OtherNumber(id) => {
                write!(f, "a notification for phone_number_id {id}, which is not this service's number")
            }
        }
    }
}

impl From<&str> for Refused {
    fn from(why: &str) -> Refused {
        Refused::Malformed(why.to_string())
    }
}

impl From<String> for Refused {
    fn from(why: String) -> Refused {
        Refused::Malformed(why)
    }
}

/// An optional list: absent is empty, anything but a list is refused.
fn list<'a>(v: &'a Value, what: &str) -> Result<&'a [Value], Refused> {
    match v {
        Value::Null => Ok(&[]),
        Value::Array(a) => Ok(a),
        _ => Err(Refused::Malformed(format!("`{what}` is not a list"))),
    }
}

/// Read a notification (already signature-checked) for the business number
/// `phone_number_id`. Unknown fields and change types are ignored; a wrong shape, or a
/// message that cannot be read, fails the whole body with a reason.
pub fn parse_notification(body: &[u8], phone_number_id: &str) -> Result<Vec<Item>, Refused> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    if v["object"].as_str() != Some("whatsapp_business_account") {
        return Err("`object` is not whatsapp_business_account".into());
    }
    let mut out = Vec::new();
    for entry in v["entry"].as_array().ok_or("no `entry` list")? {
        let changes = entry.get("changes").ok_or("an entry without `changes`")?;
        for change in list(changes, "changes")? {
            if !change.is_object() {
                return Err("a change is not an object".into());
            }
            if change["field"].as_str() != Some("messages") {
                continue;
            }
            let value = &change["value"];
            if !value.is_object() {
                return Err("`value` is not an object".into());
            }
            match value["metadata"]["phone_number_id"].as_str() {
                Some(id) if id == phone_number_id => {}
                Some(id) => return Err(Refused::OtherNumber(id.to_string())),
                None => return Err("`value.metadata.phone_number_id` is missing".into()),
            }
            let names: Vec<(String, String)> = list(&value["contacts"], "contacts")?
                .iter()
                .filter_map(|c| {
                    Some((c["wa_id"].as_str()?.to_string(), c["profile"]["name"].as_str().unwrap_or("").into()))
                })
                .collect();
            for m in list(&value["messages"], "messages")? {
                if !m.is_object() {
                    return Err("a message is not an object".into());
                }
                out.push(Item::Message(message(m, &names)?));
            }
            for s in list(&value["statuses"], "statuses")? {
                let receipt = s["status"].as_str().and_then(Receipt::parse);
                let Some(receipt) = receipt else {
                    continue; // e.g. "deleted", "warning": nothing to record
                };
                let err = &s["errors"][0];
                out.push(Item::Status {
                    id: s["id"].as_str().ok_or("a status without `id`")?.to_string(),
                    recipient: s["recipient_id"].as_str().unwrap_or("").to_string(),
                    receipt,
                    error_code: err["code"].as_i64(),
                    error: err["error_data"]["details"]
                        .as_str()
                        .or(err["message"].as_str())
                        .or(err["title"].as_str())
                        .map(str::to_string),
                    at: seconds(&s["timestamp"]).ok_or("a status without a readable `timestamp`")?,
                });
            }
        }
    }
    Ok(out)
}

fn message(m: &Value, names: &[(String, String)]) -> Result<Inbound, String> {
    let from = m["from"].as_str().ok_or("a message without `from`")?.to_string();
    let id = m["id"].as_str().ok_or("a message without `id`")?.to_string();
    let at = seconds(&m["timestamp"]).ok_or("a message without `timestamp`")?;
    let kind_name = m["type"].as_str().ok_or("a message without `type`")?;
    let media = |key: &str| {
        let o = &m[key];
        json!({ "media": {
            "id": o["id"].as_str().unwrap_or(""),
            "name": o["filename"].as_str(),
            "mime": o["mime_type"].as_str(),
        }})
    };
    let caption = |key: &str| m[key]["caption"].as_str().map(str::to_string).filter(|c| !c.is_empty());
    let (kind, text, extra) = match kind_name {
        "text" => (MessageKind::Text, m["text"]["body"].as_str().map(str::to_string), None),
        "image" => (MessageKind::Photo, caption("image"), Some(media("image"))),
        "video" => (MessageKind::Video, caption("video"), Some(media("video"))),
        "document" => (MessageKind::Document, caption("document"), Some(media("document"))),
        "audio" if m["audio"]["voice"].as_bool() == Some(true) => (MessageKind::Voice, None, Some(media("audio"))),
        "audio" => (MessageKind::Audio, None, Some(media("audio"))),
        "voice" => (MessageKind::Voice, None, Some(media("voice"))),
        "sticker" => (MessageKind::Sticker, None, None),
        "location" => {
            let l = &m["location"];
            let (Some(lat), Some(lon)) = (l["latitude"].as_f64(), l["longitude"].as_f64()) else {
                return Err("a location without latitude/longitude".into());
            };
            let label =
                [l["name"].as_str(), l["address"].as_str()].into_iter().flatten().collect::<Vec<_>>().join(", ");
            (
                MessageKind::Location,
                (!label.is_empty()).then_some(label),
                Some(json!({ "latitude": lat, "longitude": lon })),
            )
        }
        // Names only: phone numbers are not kept.
        "contacts" => {
            let name = m["contacts"][0]["name"]["formatted_name"].as_str().unwrap_or("").to_string();
            (MessageKind::Contact, None, Some(json!({ "name": name })))
        }
        "interactive" => {
            let i = &m["interactive"];
            let reply = match i["type"].as_str() {
                Some("button_reply") => &i["button_reply"],
                Some("list_reply") => &i["list_reply"],
                _ => return Err("an interactive reply of an unknown type".into()),
            };
            let title = reply["title"].as_str().unwrap_or("").to_string();
            (MessageKind::Text, Some(title), Some(json!({ "button": reply["id"].as_str().unwrap_or("") })))
        }
        "button" => {
            let b = &m["button"];
            (
                MessageKind::Text,
                Some(b["text"].as_str().unwrap_or("").to_string()),
                Some(json!({ "button": b["payload"].as_str().unwrap_or("") })),
            )
        }
        other => (MessageKind::Other, Some(format!("({other})")), None),
    };
    if kind == MessageKind::Text && text.as_deref().is_none_or(str::is_empty) {
        return Err("a text message without a body".into());
    }
    let name = names.iter().find(|(wa, _)| *wa == from).map(|(_, n)| n.clone()).unwrap_or_default();
    Ok(Inbound {
        channel: Channel::Whatsapp,
        external_user: from,
        external_message: id,
        sender_name: name,
        language: None,
        kind,
        text,
        file_id: None,
        media_group_id: None,
        extra,
        sent_at: at,
    })
}

/// Why a send did not happen.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WaError {
    #[error("the 24-hour window is closed: only a template can be sent")]
    WindowClosed,
    /// 131026 and the like: not a WhatsApp user, or they cannot receive it.
    #[error("WhatsApp could not deliver to this customer ({0}: {1})")]
    Undeliverable(i64, String),
    /// 4, 80007, 130429, 131048, 131056.
    #[error("WhatsApp asks us to slow down ({0})")]
    RateLimited(i64),
    /// 190 and other auth errors: an admin must act.
    #[error("WhatsApp refused our credentials ({0}: {1}); check FORECOURT_WHATSAPP_TOKEN")]
    Auth(i64, String),
    #[error("WhatsApp refused the message ({0}: {1})")]
    Refused(i64, String),
    #[error("temporary failure: {0}")]
    Transient(String),
}

impl WaError {
    pub fn from_code(code: i64, message: &str) -> WaError {
        match code {
            WINDOW_CLOSED => WaError::WindowClosed,
            131026 | 131049 | 131021 => WaError::Undeliverable(code, message.to_string()),
            4 | 80007 | 130429 | 131048 | 131056 => WaError::RateLimited(code),
            190 | 10 | 200..=299 => WaError::Auth(code, message.to_string()),
            1 | 2 | 131000 | 131016 => WaError::Transient(format!("{code}: {message}")),
            _ => WaError::Refused(code, message.to_string()),
        }
    }
}

/// A WhatsApp Cloud API client for one business phone number.
#[derive(Clone, Debug)]
pub struct WhatsappApi {
    http: reqwest::Client,
    base: String,
    token: String,
    phone_number_id: String,
}

impl WhatsappApi {
    pub fn new(http: reqwest::Client, base: &str, token: &str, phone_number_id: &str) -> WhatsappApi {
        WhatsappApi {
            http,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            phone_number_id: phone_number_id.to_string(),
        }
    }

    /// The JSON body of a message.
    pub fn message_body(to: &str, out: &Outgoing) -> Value {
        let mut body = match out {
            Outgoing::Text(text) => json!({ "type": "text", "text": { "body": text, "preview_url": false } }),
            Outgoing::File(f) => file_body(f),
            Outgoing::Buttons { text, buttons } if buttons.len() <= MAX_BUTTONS => json!({
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": { "text": text },
                    "action": { "buttons": buttons.iter().map(|(id, title)| json!({
                        "type": "reply", "reply": { "id": id, "title": title }
                    })).collect::<Vec<_>>() },
                },
            }),
            Outgoing::Buttons { text, buttons } => json!({
                "type": "interactive",
                "interactive": {
                    "type": "list",
                    "body": { "text": text },
                    "action": {
                        "button": "…",
                        "sections": [{ "rows": buttons.iter().take(MAX_LIST_ROWS).map(|(id, title)| json!({
                            "id": id, "title": title
                        })).collect::<Vec<_>>() }],
                    },
                },
            }),
            Outgoing::Template { name, language } => json!({
                "type": "template",
                "template": { "name": name, "language": { "code": language } },
            }),
        };
        body["messaging_product"] = json!("whatsapp");
        body["recipient_type"] = json!("individual");
        body["to"] = json!(to);
        body
    }

    /// Send; returns the message id (`wamid…`).
    pub async fn send(&self, to: &str, out: &Outgoing) -> Result<String, WaError> {
        let url = format!("{}/{}/messages", self.base, self.phone_number_id);
        let resp = self
            .http
            .post(url)
            .bearer_auth(&self.token)
            .json(&Self::message_body(to, out))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| WaError::Transient(e.to_string()))?;
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return v["messages"][0]["id"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| WaError::Transient("no message id in the answer".into()));
        }
        if status.is_server_error() {
            return Err(WaError::Transient(format!("HTTP {status}")));
        }
        let e = &v["error"];
        let code = e["code"].as_i64().unwrap_or(status.as_u16() as i64);
        let msg = e["error_data"]["details"].as_str().or(e["message"].as_str()).unwrap_or("").to_string();
        Err(WaError::from_code(code, &msg))
    }

    /// Download a customer's file: media id → short-lived URL → authorised GET.
    pub async fn download(&self, media_id: &str) -> Result<(Vec<u8>, Option<String>), FetchError> {
        let url = format!("{}/{media_id}", self.base);
        let meta = crate::media::http_get(&self.http, &url, Some(&self.token)).await?;
        let v: Value = serde_json::from_slice(&meta).map_err(|e| FetchError::Gone(format!("media info: {e}")))?;
        let Some(file_url) = v["url"].as_str() else {
            return Err(FetchError::Gone("media info without a url".into()));
        };
        if let Some(size) = v["file_size"].as_u64() {
            if size > crate::domain::media::MAX_KEPT_BYTES {
                return Err(FetchError::TooLarge(size));
            }
        }
        let bytes = crate::media::http_get(&self.http, file_url, Some(&self.token)).await?;
        Ok((bytes, v["mime_type"].as_str().map(str::to_string)))
    }
}

fn file_body(f: &LinkedFile) -> Value {
    let caption = f.caption.clone().unwrap_or_default();
    match f.send_as {
        SendAs::Picture => json!({ "type": "image", "image": { "link": f.url, "caption": caption } }),
        SendAs::Video => json!({ "type": "video", "video": { "link": f.url, "caption": caption } }),
        SendAs::Audio => json!({ "type": "audio", "audio": { "link": f.url } }),
        SendAs::File => {
            json!({ "type": "document", "document": { "link": f.url, "filename": f.name, "caption": caption } })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PID: &str = "106540352242922";

    fn notification(mut value: Value) -> Vec<u8> {
        value["metadata"] = json!({"display_phone_number": "15550001111", "phone_number_id": PID});
        json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}]})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn the_signature_is_over_the_raw_bytes() {
        // Meta writes non-ASCII as \uXXXX escapes; re-serialising would change the bytes.
        let raw = br#"{"object":"whatsapp_business_account","text":"\u0421\u0430\u043b\u043e\u043d"}"#;
        let sig = format!("sha256={}", super::super::hmac_hex(b"secret", raw));
        assert!(signature_ok("secret", raw, Some(&sig)));
        let reserialised = serde_json::to_vec(&serde_json::from_slice::<Value>(raw).unwrap()).unwrap();
        assert!(!signature_ok("secret", &reserialised, Some(&sig)));
        assert!(!signature_ok("secret", raw, None));
        assert!(!signature_ok("secret", raw, Some(sig.trim_start_matches("sha256="))));
        assert!(!signature_ok("other", raw, Some(&sig)));
    }

    #[test]
    fn every_message_type_reads() {
        let cases = [
            (json!({"type": "text", "text": {"body": "hi"}}), MessageKind::Text, Some("hi")),
            (
                json!({"type": "image", "image": {"id": "m1", "mime_type": "image/jpeg", "caption": "car"}}),
                MessageKind::Photo,
                Some("car"),
            ),
            (json!({"type": "document", "document": {"id": "m2", "filename": "a.pdf"}}), MessageKind::Document, None),
            (json!({"type": "audio", "audio": {"id": "m3", "voice": true}}), MessageKind::Voice, None),
            (json!({"type": "audio", "audio": {"id": "m4"}}), MessageKind::Audio, None),
            (json!({"type": "video", "video": {"id": "m5"}}), MessageKind::Video, None),
            (
                json!({"type": "location", "location": {"latitude": 50.4, "longitude": 30.5, "name": "Salon"}}),
                MessageKind::Location,
                Some("Salon"),
            ),
            (
                json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "Ann"}, "phones": [{"phone": "+380501234567"}]}]}),
                MessageKind::Contact,
                None,
            ),
            (
                json!({"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": "buy", "title": "Buy"}}}),
                MessageKind::Text,
                Some("Buy"),
            ),
            (
                json!({"type": "interactive", "interactive": {"type": "list_reply", "list_reply": {"id": "suv", "title": "SUV"}}}),
                MessageKind::Text,
                Some("SUV"),
            ),
            (json!({"type": "button", "button": {"payload": "yes", "text": "Yes"}}), MessageKind::Text, Some("Yes")),
            (json!({"type": "reaction", "reaction": {"emoji": "👍"}}), MessageKind::Other, Some("(reaction)")),
        ];
        for (mut msg, kind, text) in cases {
            msg["from"] = json!("380501112233");
            msg["id"] = json!("wamid.X");
            msg["timestamp"] = json!("1700000000");
            let body = notification(
                json!({"contacts": [{"wa_id": "380501112233", "profile": {"name": "Olena"}}], "messages": [msg.clone()]}),
            );
            let items = parse_notification(&body, PID).unwrap();
            let Item::Message(m) = &items[0] else { panic!("{msg}") };
            assert_eq!((m.kind, m.text.as_deref()), (kind, text), "{msg}");
            assert_eq!(m.sender_name, "Olena");
            assert_eq!(m.sent_at, 1_700_000_000_000, "seconds become milliseconds");
            assert!(!format!("{m:?}").contains("380501234567"), "no contact phone kept");
        }
    }

    #[test]
    fn statuses_read_with_their_errors() {
        let body = notification(json!({"statuses": [
            {"id": "wamid.A", "status": "read", "timestamp": "1700000001", "recipient_id": "380"},
            {"id": "wamid.B", "status": "failed", "timestamp": "1700000002", "recipient_id": "380",
             "errors": [{"code": 131047, "title": "Re-engagement message", "error_data": {"details": "more than 24 hours"}}]},
            {"id": "wamid.C", "status": "deleted", "timestamp": "1"},
        ]}));
        let items = parse_notification(&body, PID).unwrap();
        assert_eq!(items.len(), 2);
        assert!(
            matches!(&items[1], Item::Status { receipt: Receipt::Failed, error_code: Some(WINDOW_CLOSED), error: Some(e), .. } if e == "more than 24 hours")
        );
        assert!(parse_notification(b"{}", PID).is_err());
        assert!(parse_notification(
            &notification(json!({"messages": [{"from": "1", "id": "x", "type": "text", "timestamp": "1"}]})),
            PID
        )
        .is_err());
    }

    #[test]
    fn wrong_shapes_and_other_numbers_are_refused() {
        let wrap = |changes: Value| {
            json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": changes}]}).to_string()
        };
        let malformed = [
            wrap(json!({"field": "messages"})),
            wrap(json!([{"field": "messages", "value": "text"}])),
            wrap(
                json!([{"field": "messages", "value": {"metadata": {"phone_number_id": PID}, "messages": {"id": 1}}}]),
            ),
            wrap(json!([{"field": "messages", "value": {"metadata": {"phone_number_id": PID}, "statuses": 5}}])),
            wrap(json!([{"field": "messages", "value": {"messages": []}}])),
            json!({"object": "whatsapp_business_account", "entry": [{"id": "1"}]}).to_string(),
        ];
        for body in malformed {
            assert!(matches!(parse_notification(body.as_bytes(), PID), Err(Refused::Malformed(_))), "{body}");
        }
        let other =
            wrap(json!([{"field": "messages", "value": {"metadata": {"phone_number_id": "999"}, "messages": []}}]));
        assert_eq!(parse_notification(other.as_bytes(), PID), Err(Refused::OtherNumber("999".into())));
        let huge = notification(json!({"messages": [{"from": "1", "id": "x", "type": "text",
            "timestamp": "9223372036854775807", "text": {"body": "hi"}}]}));
        let items = parse_notification(&huge, PID).unwrap();
        let Item::Message(m) = &items[0] else { panic!() };
        assert_eq!(m.sent_at, i64::MAX, "an overflowing time stamp is not read as a negative one");
    }

    #[test]
    fn buttons_become_interactive_buttons_or_a_list() {
        let three: Vec<_> = (0..3).map(|i| (format!("b{i}"), format!("B{i}"))).collect();
        let b = WhatsappApi::message_body("1", &Outgoing::Buttons { text: "?".into(), buttons: three });
        assert_eq!(b["interactive"]["type"], "button");
        let eleven: Vec<_> = (0..11).map(|i| (format!("b{i}"), format!("B{i}"))).collect();
        let b = WhatsappApi::message_body("1", &Outgoing::Buttons { text: "?".into(), buttons: eleven });
        assert_eq!(b["interactive"]["type"], "list");
        assert_eq!(b["interactive"]["action"]["sections"][0]["rows"].as_array().unwrap().len(), MAX_LIST_ROWS);
        let t = WhatsappApi::message_body("1", &Outgoing::Template { name: "reengage".into(), language: "uk".into() });
        assert_eq!(t["template"]["language"]["code"], "uk");
        assert_eq!(t["messaging_product"], "whatsapp");
    }

    #[test]
    fn error_codes_map_to_outcomes() {
        assert_eq!(WaError::from_code(131047, ""), WaError::WindowClosed);
        assert!(matches!(WaError::from_code(130429, ""), WaError::RateLimited(_)));
        assert!(matches!(WaError::from_code(190, "expired"), WaError::Auth(190, _)));
        assert!(matches!(WaError::from_code(131026, ""), WaError::Undeliverable(..)));
        assert!(matches!(WaError::from_code(100, "bad param"), WaError::Refused(100, _)));
    }
}
