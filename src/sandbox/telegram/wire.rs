//! Building Bot API JSON the way Telegram writes it, and reading request parameters the
//! three ways clients send them (JSON, form, multipart).

use serde_json::{json, Map, Value};

/// A Bot API error, as `{"ok": false, "error_code": …, "description": …}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub description: String,
    pub retry_after: Option<i64>,
}

impl ApiError {
    pub fn bad_request(what: &str) -> ApiError {
        ApiError { code: 400, description: format!("Bad Request: {what}"), retry_after: None }
    }
    pub fn forbidden(what: &str) -> ApiError {
        ApiError { code: 403, description: format!("Forbidden: {what}"), retry_after: None }
    }
    pub fn too_many(retry_after: i64) -> ApiError {
        ApiError {
            code: 429,
            description: format!("Too Many Requests: retry after {retry_after}"),
            retry_after: Some(retry_after),
        }
    }
    pub fn server(what: &str) -> ApiError {
        ApiError { code: 500, description: format!("Internal Server Error: {what}"), retry_after: None }
    }
    pub fn body(&self) -> Value {
        let mut v = json!({"ok": false, "error_code": self.code, "description": self.description});
        if let Some(r) = self.retry_after {
            v["parameters"] = json!({"retry_after": r});
        }
        v
    }
}

pub fn ok(result: Value) -> Value {
    json!({"ok": true, "result": result})
}

/// Request parameters as one JSON object; numbers may arrive as strings and nested
/// objects as JSON text (form and multipart encodings).
#[derive(Debug, Clone, Default)]
pub struct Params(pub Map<String, Value>);

impl Params {
    pub fn insert_text(&mut self, key: String, text: String) {
        self.0.insert(key, Value::String(text));
    }

    pub fn str(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            v => Some(v.to_string()),
        }
    }

    pub fn i64(&self, key: &str) -> Option<i64> {
        match self.0.get(key)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn bool(&self, key: &str) -> bool {
        match self.0.get(key) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        }
    }

    /// A nested object or array, given inline or as JSON text.
    pub fn json(&self, key: &str) -> Option<Value> {
        match self.0.get(key)? {
            Value::String(s) => serde_json::from_str(s).ok(),
            Value::Null => None,
            v => Some(v.clone()),
        }
    }

    /// A file parameter: a file id, or `attach://part` naming an uploaded part.
    pub fn file(&self, key: &str) -> Option<String> {
        let v = self.str(key)?;
        match v.strip_prefix("attach://") {
            Some(part) => self.str(part),
            None => Some(v),
        }
    }

    pub fn require_i64(&self, key: &str) -> Result<i64, ApiError> {
        self.i64(key).ok_or_else(|| ApiError::bad_request(&format!("{key} is required")))
    }
}

pub fn private_chat(id: i64, first_name: &str, last_name: Option<&str>) -> Value {
    let mut c = json!({"id": id, "type": "private", "first_name": first_name});
    if let Some(l) = last_name {
        c["last_name"] = json!(l);
    }
    c
}

pub fn forum_chat(id: i64, title: &str) -> Value {
    json!({"id": id, "type": "supergroup", "title": title, "is_forum": true})
}

pub fn user(id: i64, first_name: &str, last_name: Option<&str>, is_bot: bool, language: Option<&str>) -> Value {
    let mut u = json!({"id": id, "is_bot": is_bot, "first_name": first_name});
    if let Some(l) = last_name {
        u["last_name"] = json!(l);
    }
    if let Some(l) = language {
        u["language_code"] = json!(l);
    }
    u
}

/// The content part of a message: what `send*` carried.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Text(String),
    Photo {
        file_id: String,
        caption: Option<String>,
    },
    Document {
        file_id: String,
        caption: Option<String>,
        file_name: Option<String>,
    },
    Video {
        file_id: String,
        caption: Option<String>,
    },
    Voice {
        file_id: String,
        caption: Option<String>,
    },
    Audio {
        file_id: String,
        caption: Option<String>,
    },
    Location {
        latitude: f64,
        longitude: f64,
    },
    Contact {
        phone_number: String,
        first_name: String,
        /// The Telegram user the contact is, when it is one (sharing one's own contact).
        user_id: Option<i64>,
    },
    /// A service message (topic created, closed…), kept for the record.
    Service(String),
}

impl Content {
    pub fn text_or_caption(&self) -> Option<&str> {
        match self {
            Content::Text(t) => Some(t),
            Content::Photo { caption, .. }
            | Content::Document { caption, .. }
            | Content::Video { caption, .. }
            | Content::Voice { caption, .. }
            | Content::Audio { caption, .. } => caption.as_deref(),
            _ => None,
        }
    }

    pub fn file_id(&self) -> Option<&str> {
        match self {
            Content::Photo { file_id, .. }
            | Content::Document { file_id, .. }
            | Content::Video { file_id, .. }
            | Content::Voice { file_id, .. }
            | Content::Audio { file_id, .. } => Some(file_id),
            _ => None,
        }
    }

    /// A one-line human rendering for transcripts.
    pub fn describe(&self) -> String {
        let cap = |c: &Option<String>| c.as_deref().map(|c| format!(" “{c}”")).unwrap_or_default();
        match self {
            Content::Text(t) => t.clone(),
            Content::Photo { caption, .. } => format!("[photo]{}", cap(caption)),
            Content::Document { caption, file_name, .. } => {
                format!("[document {}]{}", file_name.as_deref().unwrap_or(""), cap(caption))
            }
            Content::Video { caption, .. } => format!("[video]{}", cap(caption)),
            Content::Voice { caption, .. } => format!("[voice]{}", cap(caption)),
            Content::Audio { caption, .. } => format!("[audio]{}", cap(caption)),
            Content::Location { latitude, longitude } => format!("[location {latitude:.4}, {longitude:.4}]"),
            Content::Contact { first_name, .. } => format!("[contact {first_name}]"),
            Content::Service(s) => format!("({s})"),
        }
    }

    /// Write this content into a message object.
    pub fn write(&self, m: &mut Value, unique: &dyn Fn(&str) -> String) {
        let file = |id: &str| json!({"file_id": id, "file_unique_id": unique(id)});
        let set_caption = |m: &mut Value, c: &Option<String>| {
            if let Some(c) = c {
                m["caption"] = json!(c);
            }
        };
        match self {
            Content::Text(t) => m["text"] = json!(t),
            Content::Photo { file_id, caption } => {
                let mut small = file(file_id);
                small["width"] = json!(320);
                small["height"] = json!(240);
                small["file_size"] = json!(1024);
                let mut big = small.clone();
                big["width"] = json!(1280);
                big["height"] = json!(960);
                m["photo"] = json!([small, big]);
                set_caption(m, caption);
            }
            Content::Document { file_id, caption, file_name } => {
                let mut d = file(file_id);
                if let Some(n) = file_name {
                    d["file_name"] = json!(n);
                }
                d["mime_type"] = json!("application/pdf");
                m["document"] = d;
                set_caption(m, caption);
            }
            Content::Video { file_id, caption } => {
                let mut v = file(file_id);
                v["width"] = json!(640);
                v["height"] = json!(480);
                v["duration"] = json!(5);
                v["mime_type"] = json!("video/mp4");
                m["video"] = v;
                set_caption(m, caption);
            }
            Content::Voice { file_id, caption } => {
                let mut v = file(file_id);
                v["duration"] = json!(3);
                v["mime_type"] = json!("audio/ogg");
                m["voice"] = v;
                set_caption(m, caption);
            }
            Content::Audio { file_id, caption } => {
                let mut v = file(file_id);
                v["duration"] = json!(30);
                v["mime_type"] = json!("audio/mpeg");
                m["audio"] = v;
                set_caption(m, caption);
            }
            Content::Location { latitude, longitude } => {
                m["location"] = json!({"latitude": latitude, "longitude": longitude})
            }
            Content::Contact { phone_number, first_name, user_id } => {
                m["contact"] = json!({"phone_number": phone_number, "first_name": first_name});
                if let Some(u) = user_id {
                    m["contact"]["user_id"] = json!(u);
                }
            }
            Content::Service(s) if s.starts_with("topic closed") => m["forum_topic_closed"] = json!({}),
            Content::Service(s) => m["forum_topic_created"] = json!({"name": s, "icon_color": 7322096}),
        }
    }
}
