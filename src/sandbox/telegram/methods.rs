//! The Bot API methods the fake answers, checked as Telegram checks them.

use super::state::{ChatKind, Topic};
use super::wire::{ApiError, Content, Params};
use super::FakeTelegram;
use serde_json::{json, Value};
use std::time::Duration;

const TEXT_LIMIT: usize = 4096;
const CAPTION_LIMIT: usize = 1024;

/// Methods that put something in a chat, and so count against its rate limits.
fn counts_against_limits(method: &str) -> bool {
    method.starts_with("send") || method == "copymessage" || method.starts_with("editmessage")
}

pub async fn get_updates(fake: &FakeTelegram, p: &Params, bot: i64) -> Result<Value, ApiError> {
    let offset = p.i64("offset").unwrap_or(0);
    let limit = p.i64("limit").unwrap_or(100).clamp(1, 100) as usize;
    let timeout = p.i64("timeout").unwrap_or(0).clamp(0, 50) as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    loop {
        let notified = fake.inner.updates_ready.notified();
        {
            let mut st = fake.lock();
            // Confirming an offset forgets every earlier update, as Telegram does.
            let queue = st.updates_of(bot);
            if offset > 0 {
                while queue.front().and_then(|u| u["update_id"].as_i64()).is_some_and(|id| id < offset) {
                    queue.pop_front();
                }
            }
            if !queue.is_empty() {
                return Ok(Value::Array(queue.iter().take(limit).cloned().collect()));
            }
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return Ok(json!([]));
        }
    }
}

fn text_param(p: &Params, key: &str, limit: usize) -> Result<String, ApiError> {
    let t = p.str(key).unwrap_or_default();
    if t.trim().is_empty() {
        return Err(ApiError::bad_request("message text is empty"));
    }
    if t.encode_utf16().count() > limit {
        return Err(ApiError::bad_request("message is too long"));
    }
    Ok(t)
}

fn caption(p: &Params) -> Result<Option<String>, ApiError> {
    match p.str("caption") {
        Some(c) if c.encode_utf16().count() > CAPTION_LIMIT => {
            Err(ApiError::bad_request("message caption is too long"))
        }
        Some(c) if c.is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// A reply's target (`reply_parameters`): a message of that chat, or refused unless the
/// sender allowed sending without it. `Some` only when the target exists.
fn reply_target(st: &super::state::State, p: &Params, chat: i64) -> Result<Option<i32>, ApiError> {
    let reply = p.json("reply_parameters");
    let reply_to = reply.as_ref().and_then(|r| r["message_id"].as_i64()).map(|m| m as i32);
    let exists = reply_to.is_some_and(|m| st.find(chat, m).is_some());
    if reply_to.is_some()
        && !exists
        && reply.as_ref().is_none_or(|r| r["allow_sending_without_reply"].as_bool() != Some(true))
    {
        return Err(ApiError::bad_request("message to be replied not found"));
    }
    Ok(reply_to.filter(|_| exists))
}

/// Mark the message just sent as a reply to `reply_to`.
fn mark_reply(st: &mut super::state::State, chat: i64, sent: &Value, reply_to: Option<i32>) -> Result<(), ApiError> {
    if reply_to.is_some() {
        let id = sent["message_id"].as_i64().unwrap_or(0) as i32;
        if let Some(m) = st.chat_mut(chat)?.message_mut(id) {
            m.reply_to = reply_to;
        }
    }
    Ok(())
}

fn thread(p: &Params) -> Option<i32> {
    p.i64("message_thread_id").map(|t| t as i32)
}

fn inline_markup(p: &Params) -> Result<Option<Value>, ApiError> {
    let Some(m) = p.json("reply_markup") else {
        return Ok(None);
    };
    if let Some(rows) = m.get("inline_keyboard").and_then(Value::as_array) {
        for b in rows.iter().filter_map(Value::as_array).flatten() {
            if let Some(d) = b.get("callback_data").and_then(Value::as_str) {
                if d.len() > 64 {
                    return Err(ApiError::bad_request("BUTTON_DATA_INVALID"));
                }
            }
        }
        return Ok(Some(m));
    }
    Ok(None)
}

fn media_content(method: &str, p: &Params) -> Result<Content, ApiError> {
    let key = &method[4..]; // "sendphoto" -> "photo"
    let file_id = p
        .file(key)
        .filter(|f| !f.is_empty())
        .ok_or_else(|| ApiError::bad_request(&format!("there is no {key} in the request")))?;
    let caption = caption(p)?;
    Ok(match key {
        "photo" => Content::Photo { file_id, caption },
        "document" => Content::Document { file_id, caption, file_name: None },
        "video" => Content::Video { file_id, caption },
        "voice" => Content::Voice { file_id, caption },
        "audio" => Content::Audio { file_id, caption },
        _ => return Err(ApiError::bad_request("method not supported by the sandbox")),
    })
}

/// Answer one non-polling method.
pub fn call(fake: &FakeTelegram, method: &str, p: &Params, acting: i64) -> Result<Value, ApiError> {
    let now = fake.clock().now_ms();
    let mut st = fake.lock();
    let chat = p.i64("chat_id");
    if let Some(e) = st.take_fault(method, chat) {
        return Err(e);
    }
    if counts_against_limits(method) {
        if let Some(c) = chat {
            if let Err(retry) = st.limits.admit(c, now) {
                return Err(ApiError::too_many(retry));
            }
        }
    }
    match method {
        "getme" => {
            let mut me = st.bot_user_of(acting);
            me["can_join_groups"] = json!(true);
            me["can_read_all_group_messages"] = json!(true);
            me["supports_inline_queries"] = json!(true);
            me["can_connect_to_business"] = json!(false);
            me["has_main_web_app"] = json!(false);
            Ok(me)
        }
        "setwebhook" | "deletewebhook" | "setmycommands" => Ok(json!(true)),
        "answerinlinequery" => {
            let id = p.str("inline_query_id").ok_or_else(|| ApiError::bad_request("inline_query_id is required"))?;
            let results = p.json("results").ok_or_else(|| ApiError::bad_request("results are required"))?;
            let list = results.as_array().ok_or_else(|| ApiError::bad_request("results must be an array"))?;
            if list.len() > 50 {
                return Err(ApiError::bad_request("RESULTS_TOO_MUCH"));
            }
            let mut ids = std::collections::HashSet::new();
            for r in list {
                let rid = r["id"].as_str().unwrap_or("");
                if rid.is_empty() || rid.len() > 64 || !ids.insert(rid.to_string()) {
                    return Err(ApiError::bad_request("RESULT_ID_INVALID"));
                }
                if r["input_message_content"]["message_text"].as_str().is_none_or(|t| t.trim().is_empty()) {
                    return Err(ApiError::bad_request("MESSAGE_EMPTY"));
                }
            }
            if st.inline_answers.contains_key(&id) {
                return Err(ApiError::bad_request(
                    "query is too old and response timeout expired or query ID is invalid",
                ));
            }
            st.inline_answers.insert(id, results);
            Ok(json!(true))
        }
        "sendmessage" => {
            let chat = p.require_i64("chat_id")?;
            let text = text_param(p, "text", TEXT_LIMIT)?;
            // Entities must lie inside the text, counted in UTF-16 units, as Telegram counts.
            let units = text.encode_utf16().count() as i64;
            for e in p.json("entities").and_then(|e| e.as_array().cloned()).unwrap_or_default() {
                let (o, l) = (e["offset"].as_i64().unwrap_or(-1), e["length"].as_i64().unwrap_or(-1));
                if o < 0 || l <= 0 || o + l > units {
                    return Err(ApiError::bad_request("can't parse entities: entity beyond the end of the text"));
                }
            }
            st.check_target(chat, thread(p))?;
            let markup = inline_markup(p)?;
            let bot = acting;
            let reply_to = reply_target(&st, p, chat)?;
            let sent = st.post(chat, thread(p), bot, true, Content::Text(text), markup, None, now)?;
            mark_reply(&mut st, chat, &sent, reply_to)?;
            Ok(sent)
        }
        "sendphoto" | "senddocument" | "sendvideo" | "sendvoice" | "sendaudio" => {
            let chat = p.require_i64("chat_id")?;
            let mut content = media_content(method, p)?;
            if let Content::Document { file_id, file_name, .. } = &mut content {
                *file_name = st.file_names.get(file_id.as_str()).cloned();
            }
            if let Some(f) = content.file_id() {
                if !st.owns_file(acting, f) {
                    return Err(ApiError::bad_request("wrong file identifier/HTTP URL specified"));
                }
            }
            st.check_target(chat, thread(p))?;
            let markup = inline_markup(p)?;
            let bot = acting;
            let reply_to = reply_target(&st, p, chat)?;
            let sent = st.post(chat, thread(p), bot, true, content, markup, None, now)?;
            mark_reply(&mut st, chat, &sent, reply_to)?;
            Ok(sent)
        }
        "sendlocation" => {
            let chat = p.require_i64("chat_id")?;
            let lat = p
                .str("latitude")
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| ApiError::bad_request("latitude is required"))?;
            let lon = p
                .str("longitude")
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| ApiError::bad_request("longitude is required"))?;
            st.check_target(chat, thread(p))?;
            let bot = acting;
            st.post(chat, thread(p), bot, true, Content::Location { latitude: lat, longitude: lon }, None, None, now)
        }
        "sendcontact" => {
            let chat = p.require_i64("chat_id")?;
            let phone = p.str("phone_number").ok_or_else(|| ApiError::bad_request("phone_number is required"))?;
            let name = p.str("first_name").ok_or_else(|| ApiError::bad_request("first_name is required"))?;
            st.check_target(chat, thread(p))?;
            let bot = acting;
            st.post(
                chat,
                thread(p),
                bot,
                true,
                Content::Contact { phone_number: phone, first_name: name, user_id: None },
                None,
                None,
                now,
            )
        }
        "sendmediagroup" => {
            let chat = p.require_i64("chat_id")?;
            let media = p
                .json("media")
                .and_then(|m| m.as_array().cloned())
                .ok_or_else(|| ApiError::bad_request("media is required"))?;
            if !(2..=10).contains(&media.len()) {
                return Err(ApiError::bad_request("wrong number of media in the album"));
            }
            st.check_target(chat, thread(p))?;
            let group = format!("{}", 13_000_000_000_000_000i64 + now);
            let bot = acting;
            let mut out = Vec::new();
            for item in media {
                let raw = item["media"].as_str().unwrap_or("").to_string();
                // "attach://name" points at an uploaded part of the same request.
                let file_id = match raw.strip_prefix("attach://") {
                    Some(part) => p.str(part).unwrap_or_default(),
                    None => raw,
                };
                if !st.owns_file(acting, &file_id) {
                    return Err(ApiError::bad_request("wrong file identifier/HTTP URL specified"));
                }
                let caption = item["caption"].as_str().map(str::to_string);
                let content = match item["type"].as_str() {
                    Some("photo") => Content::Photo { file_id, caption },
                    Some("video") => Content::Video { file_id, caption },
                    Some("audio") => Content::Audio { file_id, caption },
                    Some("document") => {
                        let file_name = st.file_names.get(file_id.as_str()).cloned();
                        Content::Document { file_id, caption, file_name }
                    }
                    _ => return Err(ApiError::bad_request("unsupported media type")),
                };
                out.push(st.post(chat, thread(p), bot, true, content, None, Some(group.clone()), now)?);
            }
            Ok(Value::Array(out))
        }
        "copymessage" => {
            let chat = p.require_i64("chat_id")?;
            let from = p.require_i64("from_chat_id")?;
            let id = p.require_i64("message_id")? as i32;
            let original =
                st.find(from, id).cloned().ok_or_else(|| ApiError::bad_request("message to copy not found"))?;
            st.check_target(chat, thread(p))?;
            let mut content = original.content.clone();
            if let Some(c) = p.str("caption") {
                match &mut content {
                    Content::Photo { caption, .. }
                    | Content::Document { caption, .. }
                    | Content::Video { caption, .. }
                    | Content::Voice { caption, .. }
                    | Content::Audio { caption, .. } => *caption = Some(c),
                    _ => {}
                }
            }
            let bot = acting;
            let sent = st.post(chat, thread(p), bot, true, content, inline_markup(p)?, None, now)?;
            Ok(json!({"message_id": sent["message_id"]}))
        }
        "editmessagetext" | "editmessagereplymarkup" => {
            let chat = p.require_i64("chat_id")?;
            let id = p.require_i64("message_id")? as i32;
            let markup = inline_markup(p)?;
            let new_text = if method == "editmessagetext" { Some(text_param(p, "text", TEXT_LIMIT)?) } else { None };
            let c = st.chat_mut(chat)?;
            let m = c
                .message_mut(id)
                .filter(|m| m.from_bot)
                .ok_or_else(|| ApiError::bad_request("message to edit not found"))?;
            let same_text = new_text.as_ref().is_none_or(|t| matches!(&m.content, Content::Text(old) if old == t));
            if same_text && m.reply_markup == markup {
                return Err(ApiError::bad_request(
                    "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
                ));
            }
            if let Some(t) = new_text {
                m.content = Content::Text(t);
            }
            m.reply_markup = markup;
            m.edits += 1;
            st.message_json(chat, id)
        }
        "answercallbackquery" => {
            p.str("callback_query_id").ok_or_else(|| ApiError::bad_request("callback_query_id is required"))?;
            Ok(json!(true))
        }
        "createforumtopic" => {
            let chat = p.require_i64("chat_id")?;
            let name = p.str("name").unwrap_or_default();
            if name.is_empty() || name.chars().count() > 128 {
                return Err(ApiError::bad_request("TOPIC_NAME_INVALID"));
            }
            st.next_topic_color += 1;
            let colors = [7322096, 16766590, 13338331, 9367192, 16749490, 16478047];
            let color = colors[st.next_topic_color % colors.len()];
            let bot = acting;
            let c = st.chat_mut(chat)?;
            if !c.is_forum() {
                return Err(ApiError::bad_request("the chat is not a forum"));
            }
            // The topic's id is the id of its service message.
            let created =
                st.post(chat, None, bot, true, Content::Service(format!("topic “{name}” created")), None, None, now)?;
            let thread_id = created["message_id"].as_i64().unwrap_or(0) as i32;
            let c = st.chat_mut(chat)?;
            if let Some(m) = c.messages.last_mut() {
                m.thread_id = Some(thread_id);
            }
            c.topics.insert(thread_id, Topic { name: name.clone(), closed: false, deleted: false });
            // Like Telegram, the bot receives the topic's creation service message.
            if let Ok(message) = st.message_json(chat, thread_id) {
                st.push_update_to(bot, json!({ "message": message }));
                fake.updates_ready();
            }
            Ok(json!({"message_thread_id": thread_id, "name": name, "icon_color": color}))
        }
        "editforumtopic" | "closeforumtopic" | "reopenforumtopic" | "deleteforumtopic" => {
            let chat = p.require_i64("chat_id")?;
            let t = p.require_i64("message_thread_id")? as i32;
            let c = st.chat_mut(chat)?;
            let topic = c
                .topics
                .get_mut(&t)
                .filter(|t| !t.deleted)
                .ok_or_else(|| ApiError::bad_request("message thread not found"))?;
            match method {
                "editforumtopic" => {
                    if let Some(n) = p.str("name") {
                        if n.is_empty() || n.chars().count() > 128 {
                            return Err(ApiError::bad_request("TOPIC_NAME_INVALID"));
                        }
                        if n == topic.name {
                            return Err(ApiError::bad_request("TOPIC_NOT_MODIFIED"));
                        }
                        topic.name = n;
                    }
                }
                "closeforumtopic" => {
                    if topic.closed {
                        return Err(ApiError::bad_request("TOPIC_NOT_MODIFIED"));
                    }
                    topic.closed = true
                }
                "reopenforumtopic" => {
                    if !topic.closed {
                        return Err(ApiError::bad_request("TOPIC_NOT_MODIFIED"));
                    }
                    topic.closed = false
                }
                _ => topic.deleted = true,
            }
            Ok(json!(true))
        }
        "getfile" => {
            let id = p.str("file_id").ok_or_else(|| ApiError::bad_request("file_id is required"))?;
            let size = st
                .files
                .get(&id)
                .filter(|_| st.owns_file(acting, &id))
                .map(Vec::len)
                .ok_or_else(|| ApiError::bad_request("invalid file_id"))?;
            Ok(
                json!({"file_id": id, "file_unique_id": format!("U{id}"), "file_size": size, "file_path": format!("files/{id}")}),
            )
        }
        "getchat" => {
            let chat = p.require_i64("chat_id")?;
            let c = st.chat_mut(chat)?;
            let mut v = c.json();
            if let ChatKind::Forum { .. } = c.kind {
                v["is_forum"] = json!(true);
            }
            Ok(v)
        }
        _ => Err(ApiError { code: 404, description: "Not Found: method not found".into(), retry_after: None }),
    }
}
