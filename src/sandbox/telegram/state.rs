//! The fake Bot API's world: chats, topics, messages, pending updates, uploaded files,
//! the call log, injected faults and the real rate limits.

use super::wire::{forum_chat, private_chat, user, ApiError, Content};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// One message in a chat, as the fake remembers it (latest edit).
#[derive(Debug, Clone)]
pub struct ChatMessage {
    pub message_id: i32,
    pub thread_id: Option<i32>,
    /// Telegram user id of the sender (the bot's id for bot messages).
    pub from: i64,
    pub from_bot: bool,
    pub content: Content,
    pub reply_markup: Option<Value>,
    pub media_group_id: Option<String>,
    pub date: i64,
    pub edits: u32,
    /// The message this one explicitly replies to.
    pub reply_to: Option<i32>,
    /// The bot whose inline mode the sender used to send it.
    pub via_bot: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Topic {
    pub name: String,
    pub closed: bool,
    pub deleted: bool,
}

#[derive(Debug, Clone)]
pub enum ChatKind {
    Private { first_name: String, last_name: Option<String>, language: Option<String>, blocked: bool },
    Forum { title: String },
}

#[derive(Debug, Clone)]
pub struct Chat {
    pub id: i64,
    pub kind: ChatKind,
    pub next_message_id: i32,
    pub messages: Vec<ChatMessage>,
    pub topics: BTreeMap<i32, Topic>,
}

impl Chat {
    pub fn json(&self) -> Value {
        match &self.kind {
            ChatKind::Private { first_name, last_name, .. } => private_chat(self.id, first_name, last_name.as_deref()),
            ChatKind::Forum { title } => forum_chat(self.id, title),
        }
    }

    pub fn is_forum(&self) -> bool {
        matches!(self.kind, ChatKind::Forum { .. })
    }

    fn take_id(&mut self) -> i32 {
        self.next_message_id += 1;
        self.next_message_id
    }

    /// A message by id. Ids only grow and messages are only appended, so the list is
    /// sorted by id: a binary search, not a scan of a busy group's whole history.
    pub fn message(&self, message_id: i32) -> Option<&ChatMessage> {
        let i = self.messages.binary_search_by_key(&message_id, |m| m.message_id).ok()?;
        self.messages.get(i)
    }

    pub fn message_mut(&mut self, message_id: i32) -> Option<&mut ChatMessage> {
        let i = self.messages.binary_search_by_key(&message_id, |m| m.message_id).ok()?;
        self.messages.get_mut(i)
    }
}

/// One Bot API call, as recorded for tests.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub params: Value,
    pub at_ms: i64,
    /// The same instant in microseconds (the benches' latencies).
    pub at_us: i64,
    pub error: Option<ApiError>,
}

/// An injected failure: the next `times` calls of `method` (lower case) to `chat` (or any
/// chat) fail with `error`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: String,
    pub chat: Option<i64>,
    pub error: ApiError,
    pub times: u32,
    /// Matching calls let through before the first failure.
    pub pass: u32,
}

/// Sliding-window limits, as Telegram applies them: about one message a second to a chat
/// (short bursts of three pass),
/// 20 a minute to a group, 30 a second for the whole bot.
#[derive(Debug, Default)]
pub struct Limits {
    pub enabled: bool,
    per_chat: HashMap<i64, VecDeque<i64>>,
    per_bot: VecDeque<i64>,
}

pub const PRIVATE_WINDOW: (usize, i64) = (3, 3_000);
pub const GROUP_WINDOW: (usize, i64) = (20, 60_000);
pub const GROUP_BURST: (usize, i64) = (3, 3_000);
pub const BOT_WINDOW: (usize, i64) = (30, 1_000);

fn window_wait(log: &VecDeque<i64>, (max, span): (usize, i64), now: i64) -> Option<i64> {
    let inside: Vec<&i64> = log.iter().filter(|t| **t > now - span).collect();
    if inside.len() < max {
        return None;
    }
    let oldest = *inside[inside.len() - max];
    Some(oldest + span - now)
}

impl Limits {
    /// Count a send to `chat` at `now`, or say how many seconds to wait.
    pub fn admit(&mut self, chat: i64, now: i64) -> Result<(), i64> {
        if !self.enabled {
            return Ok(());
        }
        let log = self.per_chat.entry(chat).or_default();
        let windows: &[(usize, i64)] = if chat < 0 { &[GROUP_WINDOW, GROUP_BURST] } else { &[PRIVATE_WINDOW] };
        let mut wait = windows.iter().filter_map(|w| window_wait(log, *w, now)).max();
        if let Some(w) = window_wait(&self.per_bot, BOT_WINDOW, now) {
            wait = Some(wait.map_or(w, |x: i64| x.max(w)));
        }
        if let Some(ms) = wait {
            return Err(((ms + 999) / 1000).max(1));
        }
        log.push_back(now);
        while log.len() > 64 {
            log.pop_front();
        }
        self.per_bot.push_back(now);
        while self.per_bot.len() > 64 {
            self.per_bot.pop_front();
        }
        Ok(())
    }
}

#[derive(Debug)]
pub struct State {
    pub token: String,
    pub bot_id: i64,
    pub bot_username: String,
    pub next_update_id: i64,
    pub updates: VecDeque<Value>,
    pub chats: HashMap<i64, Chat>,
    pub calls: Vec<Call>,
    pub faults: Vec<Fault>,
    pub limits: Limits,
    pub files: HashMap<String, Vec<u8>>,
    /// The names uploads came with.
    pub file_names: HashMap<String, String>,
    /// Which bot a file id belongs to (file ids are per bot on Telegram).
    pub file_owner: HashMap<String, i64>,
    /// A second bot serving the staff groups, if the test added one: (token, id, updates).
    pub staff_bot: Option<(String, i64, VecDeque<Value>)>,
    pub next_file: u64,
    pub next_callback: u64,
    pub next_topic_color: usize,
    pub rate_limited: u64,
    /// People who write (customers and staff), by Telegram user id, as `User` JSON.
    pub people: HashMap<i64, Value>,
    /// Answers to inline queries, by query id: the results as the bot sent them.
    pub inline_answers: HashMap<String, Value>,
    pub next_inline: u64,
    /// Methods whose answer is held back this long after the work is done (a process
    /// killed while it waits has had the work done without hearing of it).
    pub holds: HashMap<String, u64>,
}

impl State {
    pub fn new(token: &str) -> State {
        let bot_id = token.split(':').next().and_then(|s| s.parse().ok()).unwrap_or(7_000_000_001);
        State {
            token: token.to_string(),
            bot_id,
            bot_username: "forecourt_demo_bot".into(),
            next_update_id: 100_000,
            updates: VecDeque::new(),
            chats: HashMap::new(),
            calls: Vec::new(),
            faults: Vec::new(),
            limits: Limits::default(),
            files: HashMap::new(),
            file_names: HashMap::new(),
            file_owner: HashMap::new(),
            staff_bot: None,
            next_file: 0,
            next_callback: 0,
            next_topic_color: 0,
            rate_limited: 0,
            people: HashMap::new(),
            holds: HashMap::new(),
            inline_answers: HashMap::new(),
            next_inline: 0,
        }
    }

    pub fn bot_user(&self) -> Value {
        self.bot_user_of(self.bot_id)
    }

    pub fn bot_user_of(&self, id: i64) -> Value {
        let staff = self.staff_bot.as_ref().is_some_and(|(_, s, _)| *s == id);
        let mut u = user(id, if staff { "Forecourt Staff" } else { "Forecourt" }, None, true, None);
        u["username"] = json!(if staff { "forecourt_staff_bot".to_string() } else { self.bot_username.clone() });
        u
    }

    /// The bot a token belongs to, if any.
    pub fn bot_of_token(&self, token: &str) -> Option<i64> {
        if token == self.token {
            return Some(self.bot_id);
        }
        self.staff_bot.as_ref().filter(|(t, _, _)| t == token).map(|(_, id, _)| *id)
    }

    /// The bot that receives updates from the staff groups.
    pub fn staff_bot_id(&self) -> i64 {
        self.staff_bot.as_ref().map(|(_, id, _)| *id).unwrap_or(self.bot_id)
    }

    /// The update queue of a bot.
    pub fn updates_of(&mut self, bot: i64) -> &mut VecDeque<Value> {
        match &mut self.staff_bot {
            Some((_, id, q)) if *id == bot => q,
            _ => &mut self.updates,
        }
    }

    /// Whether `bot` may use this file id.
    pub fn owns_file(&self, bot: i64, file_id: &str) -> bool {
        self.files.contains_key(file_id) && self.file_owner.get(file_id).copied().unwrap_or(self.bot_id) == bot
    }

    pub fn new_file_id(&mut self, kind: &str) -> String {
        self.next_file += 1;
        format!("{kind}-{:06}-AgADfake", self.next_file)
    }

    pub fn chat_mut(&mut self, id: i64) -> Result<&mut Chat, ApiError> {
        self.chats.get_mut(&id).ok_or_else(|| ApiError::bad_request("chat not found"))
    }

    pub fn ensure_private(&mut self, id: i64, first_name: &str, last_name: Option<&str>, language: Option<&str>) {
        self.chats.entry(id).or_insert_with(|| Chat {
            id,
            kind: ChatKind::Private {
                first_name: first_name.to_string(),
                last_name: last_name.map(str::to_string),
                language: language.map(str::to_string),
                blocked: false,
            },
            next_message_id: 0,
            messages: Vec::new(),
            topics: BTreeMap::new(),
        });
    }

    pub fn ensure_forum(&mut self, id: i64, title: &str) {
        self.chats.entry(id).or_insert_with(|| Chat {
            id,
            kind: ChatKind::Forum { title: title.to_string() },
            next_message_id: 1,
            messages: Vec::new(),
            topics: BTreeMap::new(),
        });
    }

    /// Check that a send to `chat` (and thread) may happen, as Telegram would.
    pub fn check_target(&self, chat_id: i64, thread: Option<i32>) -> Result<(), ApiError> {
        let chat = self.chats.get(&chat_id).ok_or_else(|| ApiError::bad_request("chat not found"))?;
        match &chat.kind {
            ChatKind::Private { blocked: true, .. } => return Err(ApiError::forbidden("bot was blocked by the user")),
            ChatKind::Private { .. } => {}
            ChatKind::Forum { .. } => {
                if let Some(t) = thread {
                    match chat.topics.get(&t) {
                        None => return Err(ApiError::bad_request("message thread not found")),
                        Some(topic) if topic.deleted => return Err(ApiError::bad_request("message thread not found")),
                        Some(topic) if topic.closed => return Err(ApiError::bad_request("TOPIC_CLOSED")),
                        Some(_) => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// Store a message in a chat and return its Bot API JSON.
    #[allow(clippy::too_many_arguments)]
    pub fn post(
        &mut self,
        chat_id: i64,
        thread: Option<i32>,
        from: i64,
        from_bot: bool,
        content: Content,
        reply_markup: Option<Value>,
        media_group_id: Option<String>,
        date: i64,
    ) -> Result<Value, ApiError> {
        let chat = self.chat_mut(chat_id)?;
        let message_id = chat.take_id();
        chat.messages.push(ChatMessage {
            message_id,
            thread_id: thread,
            from,
            from_bot,
            content,
            reply_markup,
            media_group_id,
            date,
            edits: 0,
            reply_to: None,
            via_bot: None,
        });
        self.message_json(chat_id, message_id)
    }

    pub fn find(&self, chat_id: i64, message_id: i32) -> Option<&ChatMessage> {
        self.chats.get(&chat_id)?.message(message_id)
    }

    /// A message as the Bot API shows it. Like Telegram, a message in a forum topic that is
    /// not an explicit reply carries `reply_to_message` pointing at the topic's creation
    /// message; the replied-to message is shown one level deep.
    pub fn message_json(&self, chat_id: i64, message_id: i32) -> Result<Value, ApiError> {
        let mut v = self.message_json_flat(chat_id, message_id)?;
        let m = self.find(chat_id, message_id).ok_or_else(|| ApiError::bad_request("message not found"))?;
        let target = m.reply_to.or(m.thread_id.filter(|t| *t != m.message_id));
        if let Some(r) = target {
            if let Ok(replied) = self.message_json_flat(chat_id, r) {
                v["reply_to_message"] = replied;
            }
        }
        Ok(v)
    }

    fn message_json_flat(&self, chat_id: i64, message_id: i32) -> Result<Value, ApiError> {
        let chat = self.chats.get(&chat_id).ok_or_else(|| ApiError::bad_request("chat not found"))?;
        let m = self.find(chat_id, message_id).ok_or_else(|| ApiError::bad_request("message not found"))?;
        let from = if m.from_bot {
            self.bot_user_of(m.from)
        } else {
            match &chat.kind {
                ChatKind::Private { first_name, last_name, language, .. } => {
                    user(m.from, first_name, last_name.as_deref(), false, language.as_deref())
                }
                ChatKind::Forum { .. } => self
                    .people
                    .get(&m.from)
                    .cloned()
                    .unwrap_or_else(|| user(m.from, &format!("User{}", m.from), None, false, None)),
            }
        };
        let mut v = json!({
            "message_id": m.message_id,
            "date": m.date / 1000,
            "chat": chat.json(),
            "from": from,
        });
        if let Some(t) = m.thread_id {
            v["message_thread_id"] = json!(t);
            v["is_topic_message"] = json!(true);
        }
        if let Some(g) = &m.media_group_id {
            v["media_group_id"] = json!(g);
        }
        if m.edits > 0 {
            v["edit_date"] = json!(m.date / 1000);
        }
        m.content
            .write(&mut v, &|id: &str| format!("U{}", id.len() * 7 + id.bytes().map(u64::from).sum::<u64>() as usize));
        if let Some(k) = &m.reply_markup {
            v["reply_markup"] = k.clone();
        }
        if let Some(b) = m.via_bot {
            v["via_bot"] = self.bot_user_of(b);
        }
        Ok(v)
    }

    pub fn push_update(&mut self, update: Value) -> i64 {
        let bot = self.bot_id;
        self.push_update_to(bot, update)
    }

    /// Queue an update for one bot (staff-group updates go to the staff bot).
    pub fn push_update_to(&mut self, bot: i64, mut update: Value) -> i64 {
        self.next_update_id += 1;
        update["update_id"] = json!(self.next_update_id);
        let id = self.next_update_id;
        self.updates_of(bot).push_back(update);
        id
    }

    /// Take an injected fault for this call, if one matches.
    pub fn take_fault(&mut self, method: &str, chat: Option<i64>) -> Option<ApiError> {
        let idx = self
            .faults
            .iter()
            .position(|f| f.method == method && f.times > 0 && (f.chat.is_none() || f.chat == chat))?;
        let f = &mut self.faults[idx];
        if f.pass > 0 {
            f.pass -= 1;
            return None;
        }
        f.times -= 1;
        let err = f.error.clone();
        if f.times == 0 {
            self.faults.remove(idx);
        }
        Some(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_gets_twenty_a_minute_and_then_waits() {
        let mut l = Limits { enabled: true, ..Default::default() };
        for i in 0..20 {
            assert_eq!(l.admit(-100, i * 1_000), Ok(()), "send {i}");
        }
        let wait = l.admit(-100, 20_000).unwrap_err();
        assert_eq!(wait, 40);
        assert_eq!(l.admit(-100, 60_001), Ok(()));
        // a private chat: one a second on average, bursts of three
        for t in [0, 10, 20] {
            assert_eq!(l.admit(5, t), Ok(()));
        }
        assert_eq!(l.admit(5, 500), Err(3));
        assert_eq!(l.admit(5, 3_001), Ok(()));
    }
}
