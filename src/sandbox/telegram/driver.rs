//! The test side of the fake: what customers and staff do, what a test can inspect, and
//! the transcript the demo prints.

use super::state::{ChatKind, ChatMessage, Fault, Topic};
use super::wire::{user, ApiError, Content};
use super::{Call, FakeTelegram};
use serde_json::{json, Value};
use std::fmt::Write as _;

/// A person on Telegram: a customer or a staff member.
#[derive(Debug, Clone)]
pub struct FakeUser {
    pub id: i64,
    pub first_name: String,
    pub last_name: Option<String>,
    pub language: Option<String>,
}

impl FakeUser {
    pub fn new(id: i64, first_name: &str, last_name: Option<&str>) -> FakeUser {
        FakeUser {
            id,
            first_name: first_name.into(),
            last_name: last_name.map(Into::into),
            language: Some("uk".into()),
        }
    }

    fn json(&self) -> Value {
        user(self.id, &self.first_name, self.last_name.as_deref(), false, self.language.as_deref())
    }

    pub fn full_name(&self) -> String {
        match &self.last_name {
            Some(l) => format!("{} {l}", self.first_name),
            None => self.first_name.clone(),
        }
    }
}

/// A rendered transcript of every chat the fake holds.
pub struct Transcript(pub String);

impl FakeTelegram {
    /// Make a staff supergroup with topics.
    pub fn add_staff_group(&self, chat_id: i64, title: &str) {
        self.lock().ensure_forum(chat_id, title);
    }

    /// The bytes of a file Telegram holds (an upload by the bot, or one made by a test).
    pub fn file_bytes(&self, file_id: &str) -> Option<Vec<u8>> {
        self.lock().files.get(file_id).cloned()
    }

    /// Make a file that exists on "Telegram's servers" and return its id.
    pub fn upload_file(&self, kind: &str, bytes: &[u8]) -> String {
        let mut st = self.lock();
        let id = st.new_file_id(kind);
        st.files.insert(id.clone(), bytes.to_vec());
        id
    }

    /// A customer writes text to the bot in a private chat. Returns the message id.
    pub fn customer_writes(&self, who: &FakeUser, text: &str) -> i32 {
        self.customer_sends(who, Content::Text(text.into()), None)
    }

    /// A customer sends any content (a media group id makes it part of an album).
    pub fn customer_sends(&self, who: &FakeUser, content: Content, media_group: Option<&str>) -> i32 {
        let now = self.clock().now_ms();
        let mut st = self.lock();
        st.people.insert(who.id, who.json());
        st.ensure_private(who.id, &who.first_name, who.last_name.as_deref(), who.language.as_deref());
        if let Some(f) = content.file_id() {
            st.files.entry(f.to_string()).or_insert_with(|| format!("bytes of {f}").into_bytes());
        }
        let msg = st
            .post(who.id, None, who.id, false, content, None, media_group.map(str::to_string), now)
            .expect("private chat exists");
        let id = msg["message_id"].as_i64().unwrap_or(0) as i32;
        st.push_update(json!({"message": msg}));
        drop(st);
        self.updates_ready();
        id
    }

    /// The customer blocks (or unblocks) the bot: sends to them now fail with 403.
    pub fn set_blocked(&self, customer: i64, blocked: bool) {
        if let Some(c) = self.lock().chats.get_mut(&customer) {
            if let ChatKind::Private { blocked: b, .. } = &mut c.kind {
                *b = blocked;
            }
        }
    }

    /// A staff member writes in the staff group (in a topic when `thread` is given).
    pub fn staff_writes(&self, chat: i64, thread: Option<i32>, who: &FakeUser, text: &str) -> i32 {
        self.staff_sends(chat, thread, who, Content::Text(text.into()))
    }

    pub fn staff_sends(&self, chat: i64, thread: Option<i32>, who: &FakeUser, content: Content) -> i32 {
        self.staff_sends_as(chat, thread, who, content, None, None)
    }

    /// A staff message that replies to another message (`reply_to`) or belongs to an album
    /// (`media_group`), as the Telegram apps send them.
    pub fn staff_sends_as(
        &self,
        chat: i64,
        thread: Option<i32>,
        who: &FakeUser,
        content: Content,
        reply_to: Option<i32>,
        media_group: Option<&str>,
    ) -> i32 {
        let now = self.clock().now_ms();
        let mut st = self.lock();
        st.people.insert(who.id, who.json());
        if let Some(f) = content.file_id() {
            st.files.entry(f.to_string()).or_insert_with(|| format!("bytes of {f}").into_bytes());
            let staff = st.staff_bot_id();
            st.file_owner.insert(f.to_string(), staff);
        }
        let msg = st
            .post(chat, thread, who.id, false, content, None, media_group.map(str::to_string), now)
            .expect("staff group exists");
        let id = msg["message_id"].as_i64().unwrap_or(0) as i32;
        let msg = match reply_to {
            Some(r) => {
                if let Some(m) = st.chat_mut(chat).ok().and_then(|c| c.messages.last_mut()) {
                    m.reply_to = Some(r);
                }
                st.message_json(chat, id).expect("just posted")
            }
            None => msg,
        };
        let staff = st.staff_bot_id();
        st.push_update_to(staff, json!({"message": msg}));
        drop(st);
        self.updates_ready();
        id
    }

    /// A staff member types `@bot query` in a chat's input box (what a button's
    /// `switch_inline_query_current_chat` pre-fills): an inline query to the staff bot.
    /// Returns the query id.
    pub fn staff_types_inline(&self, who: &FakeUser, query: &str) -> String {
        let mut st = self.lock();
        st.next_inline += 1;
        let id = format!("iq{}", st.next_inline);
        st.people.insert(who.id, who.json());
        let staff = st.staff_bot_id();
        st.push_update_to(
            staff,
            json!({"inline_query": {"id": id, "from": who.json(), "query": query, "offset": "", "chat_type": "supergroup"}}),
        );
        drop(st);
        self.updates_ready();
        id
    }

    /// The bot's answer to an inline query, once it came: the results.
    pub fn inline_results(&self, query_id: &str) -> Option<Vec<Value>> {
        self.lock().inline_answers.get(query_id).and_then(|r| r.as_array().cloned())
    }

    /// The staff member picks result `index` of an inline query's answer: its message is
    /// posted in the chat (topic) as theirs, "via" the bot, and the bot receives it.
    pub fn staff_picks_inline(
        &self,
        chat: i64,
        thread: Option<i32>,
        who: &FakeUser,
        query_id: &str,
        index: usize,
    ) -> i32 {
        let now = self.clock().now_ms();
        let mut st = self.lock();
        let result = st.inline_answers.get(query_id).and_then(|r| r.get(index).cloned()).expect("the result exists");
        let text = result["input_message_content"]["message_text"].as_str().unwrap_or("").to_string();
        let staff = st.staff_bot_id();
        let msg = st.post(chat, thread, who.id, false, Content::Text(text), None, None, now).expect("chat exists");
        let id = msg["message_id"].as_i64().unwrap_or(0) as i32;
        if let Some(m) = st.chat_mut(chat).ok().and_then(|c| c.messages.last_mut()) {
            m.via_bot = Some(staff);
        }
        let msg = st.message_json(chat, id).expect("just posted");
        st.push_update_to(staff, json!({"message": msg}));
        drop(st);
        self.updates_ready();
        id
    }

    /// A staff member presses an inline button under a bot message. Returns the callback
    /// query id.
    pub fn staff_presses(&self, chat: i64, message_id: i32, who: &FakeUser, data: &str) -> String {
        let mut st = self.lock();
        st.people.insert(who.id, who.json());
        st.next_callback += 1;
        let id = format!("cbq-{}", st.next_callback);
        let message = st.message_json(chat, message_id).expect("message exists");
        let staff = st.staff_bot_id();
        st.push_update_to(
            staff,
            json!({"callback_query": {
                "id": id, "from": who.json(), "chat_instance": format!("ci{chat}"), "data": data, "message": message
            }}),
        );
        drop(st);
        self.updates_ready();
        id
    }

    /// A customer presses the inline button labelled `label` under a bot message in their
    /// chat. Returns the callback query id.
    pub fn customer_presses(&self, who: &FakeUser, message_id: i32, label: &str) -> String {
        let mut st = self.lock();
        st.people.insert(who.id, who.json());
        st.next_callback += 1;
        let id = format!("cbq-{}", st.next_callback);
        let message = st.message_json(who.id, message_id).expect("message exists");
        let data = message["reply_markup"]["inline_keyboard"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|row| row.as_array().into_iter().flatten())
            .find(|b| b["text"] == label)
            .and_then(|b| b["callback_data"].as_str())
            .unwrap_or_else(|| panic!("no button '{label}' under message {message_id}"))
            .to_string();
        st.push_update(json!({"callback_query": {
            "id": id, "from": who.json(), "chat_instance": format!("ci{}", who.id), "data": data, "message": message
        }}));
        drop(st);
        self.updates_ready();
        id
    }

    /// Queue any update JSON as it is (malformed ones included). Returns its update id.
    pub fn inject_raw(&self, update: Value) -> i64 {
        let id = self.lock().push_update(update);
        self.updates_ready();
        id
    }

    /// Answer `method` (any case) only `ms` after doing its work (`0`: at once again).
    pub fn hold_answers(&self, method: &str, ms: u64) {
        let mut st = self.lock();
        if ms == 0 {
            st.holds.remove(&method.to_ascii_lowercase());
        } else {
            st.holds.insert(method.to_ascii_lowercase(), ms);
        }
    }

    /// The next `times` calls of `method` (any case) to `chat` fail with `error`.
    pub fn fail_next(&self, method: &str, chat: Option<i64>, error: ApiError, times: u32) {
        self.fail_after(method, chat, 0, error, times);
    }

    /// The same after `pass` matching calls went through.
    pub fn fail_after(&self, method: &str, chat: Option<i64>, pass: u32, error: ApiError, times: u32) {
        self.lock().faults.push(Fault { method: method.to_ascii_lowercase(), chat, error, times, pass });
    }

    /// Turn Telegram's rate limits on or off.
    pub fn set_rate_limits(&self, on: bool) {
        self.lock().limits.enabled = on;
    }

    /// How many calls were answered 429.
    pub fn rate_limited_count(&self) -> u64 {
        self.lock().rate_limited
    }

    /// Updates not yet confirmed by a getUpdates offset.
    pub fn pending_updates(&self) -> usize {
        let st = self.lock();
        st.updates.len() + st.staff_bot.as_ref().map_or(0, |(_, _, q)| q.len())
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The calls after the first `from` (a poller's cursor: only what is new is copied).
    pub fn calls_since(&self, from: usize) -> Vec<Call> {
        self.lock().calls.get(from..).map(<[Call]>::to_vec).unwrap_or_default()
    }

    /// Successful calls of one method (lower case).
    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.lock().calls.iter().filter(|c| c.method == method && c.error.is_none()).cloned().collect()
    }

    pub fn messages(&self, chat: i64) -> Vec<ChatMessage> {
        self.lock().chats.get(&chat).map(|c| c.messages.clone()).unwrap_or_default()
    }

    /// Bot messages a customer received.
    pub fn bot_messages_to(&self, customer: i64) -> Vec<ChatMessage> {
        self.messages(customer).into_iter().filter(|m| m.from_bot).collect()
    }

    pub fn topics(&self, chat: i64) -> Vec<(i32, Topic)> {
        self.lock()
            .chats
            .get(&chat)
            .map(|c| c.topics.iter().map(|(k, v)| (*k, v.clone())).collect())
            .unwrap_or_default()
    }

    /// Messages in one topic, in order (the topic's creation notice excluded).
    pub fn topic_messages(&self, chat: i64, thread: i32) -> Vec<ChatMessage> {
        self.messages(chat)
            .into_iter()
            .filter(|m| m.thread_id == Some(thread) && !matches!(m.content, Content::Service(_)))
            .collect()
    }

    /// Messages in the group's General chat (no topic).
    pub fn general_messages(&self, chat: i64) -> Vec<ChatMessage> {
        self.messages(chat).into_iter().filter(|m| m.thread_id.is_none()).collect()
    }

    /// A person deletes a topic, or closes it.
    pub fn delete_topic(&self, chat: i64, thread: i32) {
        if let Some(t) = self.lock().chats.get_mut(&chat).and_then(|c| c.topics.get_mut(&thread)) {
            t.deleted = true;
        }
    }

    /// A person (`who`) closes a topic: Telegram posts a service message, which bots in
    /// the group receive as an update.
    pub fn close_topic(&self, chat: i64, thread: i32, who: &FakeUser) {
        let now = self.clock().now_ms();
        let mut st = self.lock();
        let Some(t) = st.chats.get_mut(&chat).and_then(|c| c.topics.get_mut(&thread)) else { return };
        t.closed = true;
        st.people.insert(who.id, who.json());
        if let Ok(msg) =
            st.post(chat, Some(thread), who.id, false, Content::Service("topic closed".into()), None, None, now)
        {
            let staff = st.staff_bot_id();
            st.push_update_to(staff, json!({ "message": msg }));
        }
        drop(st);
        self.updates_ready();
    }

    /// Every chat, readable: customer chats first, then each staff group topic by topic.
    pub fn transcript(&self) -> Transcript {
        let st = self.lock();
        let mut out = String::new();
        let mut chats: Vec<_> = st.chats.values().collect();
        chats.sort_by_key(|c| (c.is_forum(), c.id.abs()));
        let name_of = |id: i64| -> String {
            if id == st.bot_id || st.staff_bot.as_ref().is_some_and(|(_, s, _)| *s == id) {
                return "bot".into();
            }
            st.people
                .get(&id)
                .map(|u| {
                    let first = u["first_name"].as_str().unwrap_or("");
                    match u["last_name"].as_str() {
                        Some(l) => format!("{first} {l}"),
                        None => first.to_string(),
                    }
                })
                .unwrap_or_else(|| id.to_string())
        };
        let line = |out: &mut String, m: &ChatMessage| {
            let who = if m.from_bot { "bot".to_string() } else { name_of(m.from) };
            let edited = if m.edits > 0 { format!("  (edited {}×)", m.edits) } else { String::new() };
            let mut body = m.content.describe();
            if m.media_group_id.is_some() {
                body = format!("(album) {body}");
            }
            let mut lines = body.lines();
            let _ = writeln!(out, "  {who:>14} │ {}{edited}", lines.next().unwrap_or(""));
            for l in lines {
                let _ = writeln!(out, "  {:>14} │ {l}", "");
            }
            if let Some(k) = m.reply_markup.as_ref().and_then(|k| k["inline_keyboard"].as_array()) {
                for row in k {
                    let labels: Vec<String> = row
                        .as_array()
                        .map(|r| r.iter().map(|b| format!("[{}]", b["text"].as_str().unwrap_or("?"))).collect())
                        .unwrap_or_default();
                    let _ = writeln!(out, "  {:>14} │   {}", "", labels.join(" "));
                }
            }
        };
        for chat in chats {
            match &chat.kind {
                ChatKind::Private { first_name, last_name, .. } => {
                    let name = match last_name {
                        Some(l) => format!("{first_name} {l}"),
                        None => first_name.clone(),
                    };
                    let _ = writeln!(out, "\n━━ Telegram chat with {name} ━━");
                    for m in &chat.messages {
                        line(&mut out, m);
                    }
                }
                ChatKind::Forum { title } => {
                    let general: Vec<_> = chat.messages.iter().filter(|m| m.thread_id.is_none()).collect();
                    if !general.is_empty() {
                        let _ = writeln!(out, "\n━━ Staff group “{title}” · General ━━");
                        for m in general {
                            line(&mut out, m);
                        }
                    }
                    for (tid, topic) in &chat.topics {
                        let state = if topic.deleted {
                            " (deleted)"
                        } else if topic.closed {
                            " (closed)"
                        } else {
                            ""
                        };
                        let _ = writeln!(out, "\n━━ Staff group “{title}” · topic “{}”{state} ━━", topic.name);
                        for m in chat
                            .messages
                            .iter()
                            .filter(|m| m.thread_id == Some(*tid) && !matches!(m.content, Content::Service(_)))
                        {
                            line(&mut out, m);
                        }
                    }
                }
            }
        }
        let presses: Vec<&Call> = st.calls.iter().filter(|c| c.method == "answercallbackquery").collect();
        if !presses.is_empty() {
            let _ = writeln!(out, "\n━━ Answers to button presses (pop-ups) ━━");
            for c in presses {
                let text = c.params["text"].as_str().unwrap_or("");
                let _ = writeln!(out, "  {}", if text.is_empty() { "(menu opened)" } else { text });
            }
        }
        let failures: Vec<&Call> = st.calls.iter().filter(|c| c.error.is_some()).collect();
        if !failures.is_empty() {
            let _ = writeln!(out, "\n━━ Calls Telegram refused (each was handled) ━━");
            for c in failures {
                let e = c.error.as_ref().expect("filtered");
                let _ = writeln!(out, "  {} to chat {} → {} {}", c.method, c.params["chat_id"], e.code, e.description);
            }
        }
        Transcript(out)
    }
}

impl std::fmt::Display for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
