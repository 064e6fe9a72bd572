//! Telegram: reading updates (customer messages in private chats, staff messages and
//! button presses in the staff groups) and calling the Bot API through teloxide, with
//! errors sorted into what the caller can act on.

use crate::domain::message::Inbound;
use crate::domain::{Channel, MessageKind};
use serde_json::json;
use teloxide::net::Download;
use teloxide::payloads::{
    AnswerCallbackQuerySetters, EditMessageTextSetters, GetUpdatesSetters, SendAudioSetters, SendDocumentSetters,
    SendLocationSetters, SendMediaGroupSetters, SendMessageSetters, SendPhotoSetters, SendVideoSetters,
    SendVoiceSetters,
};
use teloxide::prelude::Requester;
use teloxide::types::{
    CallbackQueryId, ChatId, FileId, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, InputMedia,
    InputMediaAudio, InputMediaDocument, InputMediaPhoto, InputMediaVideo, Message, MessageId, ThreadId, Update,
    UpdateKind,
};
use teloxide::{ApiError, Bot, RequestError};

/// A Bot API failure, sorted by what to do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TgError {
    #[error("rate limited: retry after {0} s")]
    RetryAfter(i64),
    #[error("the user has blocked the bot or cannot be reached")]
    Blocked,
    #[error("message thread not found")]
    ThreadNotFound,
    #[error("the topic is closed")]
    TopicClosed,
    #[error("message is not modified")]
    NotModified,
    #[error("message to edit not found")]
    EditTargetMissing,
    #[error("message is too long")]
    TooLong,
    #[error("refused by Telegram: {0}")]
    BadRequest(String),
    #[error("temporary failure: {0}")]
    Transient(String),
}

impl TgError {
    /// Worth trying again later with the same request.
    pub fn is_transient(&self) -> bool {
        matches!(self, TgError::Transient(_) | TgError::RetryAfter(_))
    }
}

fn classify(e: RequestError) -> TgError {
    match e {
        RequestError::RetryAfter(s) => TgError::RetryAfter(s.seconds() as i64),
        RequestError::Api(api) => match api {
            ApiError::BotBlocked
            | ApiError::UserDeactivated
            | ApiError::BotKicked
            | ApiError::CantInitiateConversation => TgError::Blocked,
            ApiError::MessageNotModified => TgError::NotModified,
            ApiError::MessageToEditNotFound => TgError::EditTargetMissing,
            ApiError::MessageIsTooLong | ApiError::EditedMessageIsTooLong | ApiError::MessageTextIsEmpty => {
                TgError::TooLong
            }
            ApiError::Unknown(text) => {
                if text.contains("message thread not found") || text.contains("TOPIC_DELETED") {
                    TgError::ThreadNotFound
                } else if text.contains("TOPIC_CLOSED") {
                    TgError::TopicClosed
                } else if text.starts_with("Internal Server Error")
                    || text.starts_with("Bad Gateway")
                    || text.contains("Gateway")
                {
                    TgError::Transient(text)
                } else {
                    TgError::BadRequest(text)
                }
            }
            other => TgError::BadRequest(other.to_string()),
        },
        RequestError::Network(e) => TgError::Transient(e.to_string()),
        RequestError::InvalidJson { raw, .. } => {
            TgError::Transient(format!("unreadable answer: {}", truncate(&raw, 200)))
        }
        RequestError::Io(e) => TgError::Transient(e.to_string()),
        RequestError::MigrateToChatId(c) => TgError::BadRequest(format!("the group moved to chat {c}")),
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// An inline keyboard: rows of (label, callback data).
pub type Keyboard = Vec<Vec<(String, String)>>;

/// A keyboard button's data that opens the bot's inline mode in the input box, pre-filled
/// with `query` (`switch_inline_query_current_chat`), instead of a callback. Callback data
/// never starts with this (it is versioned: `1:…`).
const INLINE_QUERY_PREFIX: char = '?';

/// The data of a button that opens the bot's inline mode pre-filled with `query`.
pub fn inline_query_button(query: &str) -> String {
    format!("{INLINE_QUERY_PREFIX}{query}")
}

/// A button's data that opens a link (a call in the provider's cabinet) instead of a
/// callback.
const URL_PREFIX: char = '!';

/// The data of a button that opens `url`.
pub fn url_button(url: &str) -> String {
    format!("{URL_PREFIX}{url}")
}

fn markup(k: &Keyboard) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(k.iter().map(|row| {
        row.iter()
            .filter_map(|(label, data)| {
                if let Some(url) = data.strip_prefix(URL_PREFIX) {
                    // A link Telegram would refuse is left out rather than failing the message.
                    return reqwest::Url::parse(url).ok().map(|u| InlineKeyboardButton::url(label.clone(), u));
                }
                Some(match data.strip_prefix(INLINE_QUERY_PREFIX) {
                    Some(query) => InlineKeyboardButton::switch_inline_query_current_chat(label.clone(), query),
                    None => InlineKeyboardButton::callback(label.clone(), data.clone()),
                })
            })
            .collect::<Vec<_>>()
    }))
}

/// One inline-mode result: an article whose message is `text`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InlineArticle {
    pub id: String,
    pub title: String,
    pub description: String,
    pub text: String,
}

/// One item of an album.
#[derive(Debug, Clone)]
pub struct AlbumItem {
    pub kind: MessageKind,
    pub file: Vec<u8>,
    pub file_id: Option<String>,
    pub caption: Option<String>,
}

/// A file to send: an id the same bot knows, bytes to upload, or a file on disk to stream
/// up (a call recording: never whole in memory).
#[derive(Debug, Clone)]
pub enum FileRef {
    Id(String),
    Bytes(Vec<u8>, String),
    Path(std::path::PathBuf, String),
}

impl FileRef {
    fn input(&self) -> InputFile {
        match self {
            FileRef::Id(id) => InputFile::file_id(FileId(id.clone())),
            FileRef::Bytes(b, name) => InputFile::memory(b.clone()).file_name(name.clone()),
            FileRef::Path(p, name) => InputFile::file(p.clone()).file_name(name.clone()),
        }
    }
}

/// A Bot API client for one bot.
#[derive(Clone, Debug)]
pub struct TelegramApi {
    bot: Bot,
}

fn thread(t: Option<i32>) -> Option<ThreadId> {
    t.map(|t| ThreadId(MessageId(t)))
}

impl TelegramApi {
    pub fn new(token: &str, api_url: &str) -> Result<TelegramApi, String> {
        let url = reqwest::Url::parse(api_url).map_err(|e| format!("FORECOURT_TELEGRAM_API_URL: {e}"))?;
        Ok(TelegramApi { bot: Bot::new(token).set_api_url(url) })
    }

    /// The bot's own user id (`getMe`).
    pub async fn me(&self) -> Result<i64, TgError> {
        let me = self.bot.get_me().await.map_err(classify)?;
        Ok(me.id.0 as i64)
    }

    pub async fn get_updates(&self, offset: Option<i32>, timeout_s: u32) -> Result<Vec<Update>, TgError> {
        let mut req = self.bot.get_updates().timeout(timeout_s);
        if let Some(o) = offset {
            req = req.offset(o);
        }
        req.await.map_err(classify)
    }

    pub async fn send_text(
        &self,
        chat: i64,
        thread_id: Option<i32>,
        text: &str,
        kb: Option<&Keyboard>,
    ) -> Result<i32, TgError> {
        let mut req = self.bot.send_message(ChatId(chat), text);
        if let Some(t) = thread(thread_id) {
            req = req.message_thread_id(t);
        }
        if let Some(k) = kb {
            req = req.reply_markup(markup(k));
        }
        Ok(req.await.map_err(classify)?.id.0)
    }

    /// Send a text whose first `name` is a mention of Telegram user `user` (they are
    /// notified, even without a username).
    pub async fn send_text_mention(
        &self,
        chat: i64,
        thread_id: Option<i32>,
        text: &str,
        kb: Option<&Keyboard>,
        mention: Option<(i64, &str)>,
    ) -> Result<i32, TgError> {
        let Some((user, name)) = mention else { return self.send_text(chat, thread_id, text, kb).await };
        let mut req =
            self.bot.send_message(ChatId(chat), text).entities(vec![teloxide::types::MessageEntity::text_mention_id(
                teloxide::types::UserId(user as u64),
                0,
                crate::domain::text::utf16_len(name),
            )]);
        if let Some(t) = thread(thread_id) {
            req = req.message_thread_id(t);
        }
        if let Some(k) = kb {
            req = req.reply_markup(markup(k));
        }
        Ok(req.await.map_err(classify)?.id.0)
    }

    /// Send a text whose part from UTF-16 offset `quote_at` to the end is a block quote, as
    /// a reply to message `reply_to` (a transcript under its call).
    pub async fn send_quote_reply(
        &self,
        chat: i64,
        thread_id: Option<i32>,
        text: &str,
        quote_at: usize,
        reply_to: Option<i32>,
    ) -> Result<i32, TgError> {
        let len = crate::domain::text::utf16_len(text).saturating_sub(quote_at);
        let mut req = self.bot.send_message(ChatId(chat), text);
        if len > 0 {
            req = req.entities(vec![teloxide::types::MessageEntity::new(
                teloxide::types::MessageEntityKind::Blockquote,
                quote_at,
                len,
            )]);
        }
        if let Some(t) = thread(thread_id) {
            req = req.message_thread_id(t);
        }
        if let Some(m) = reply_to {
            req =
                req.reply_parameters(teloxide::types::ReplyParameters::new(MessageId(m)).allow_sending_without_reply());
        }
        Ok(req.await.map_err(classify)?.id.0)
    }

    pub async fn edit_text(&self, chat: i64, message: i32, text: &str, kb: Option<&Keyboard>) -> Result<(), TgError> {
        let mut req = self.bot.edit_message_text(ChatId(chat), MessageId(message), text);
        if let Some(k) = kb {
            req = req.reply_markup(markup(k));
        }
        req.await.map_err(classify)?;
        Ok(())
    }

    /// Send a photo, document, video, voice or audio message.
    pub async fn send_media(
        &self,
        chat: i64,
        thread_id: Option<i32>,
        kind: MessageKind,
        file: &FileRef,
        caption: Option<&str>,
    ) -> Result<i32, TgError> {
        self.send_media_reply(chat, thread_id, kind, file, caption, None).await
    }

    /// The same, as a reply to message `reply_to` of that chat (a recording under its call).
    pub async fn send_media_reply(
        &self,
        chat: i64,
        thread_id: Option<i32>,
        kind: MessageKind,
        file: &FileRef,
        caption: Option<&str>,
        reply_to: Option<i32>,
    ) -> Result<i32, TgError> {
        let chat = ChatId(chat);
        let t = thread(thread_id);
        let cap = caption.map(str::to_string);
        let reply = reply_to.map(|m| teloxide::types::ReplyParameters::new(MessageId(m)).allow_sending_without_reply());
        macro_rules! send {
            ($req:expr) => {{
                let mut r = $req;
                if let Some(t) = t {
                    r = r.message_thread_id(t);
                }
                if let Some(c) = cap {
                    r = r.caption(c);
                }
                if let Some(rp) = reply {
                    r = r.reply_parameters(rp);
                }
                r.await.map_err(classify)?.id.0
            }};
        }
        Ok(match kind {
            MessageKind::Photo => send!(self.bot.send_photo(chat, file.input())),
            MessageKind::Video => send!(self.bot.send_video(chat, file.input())),
            MessageKind::Voice => send!(self.bot.send_voice(chat, file.input())),
            MessageKind::Audio => send!(self.bot.send_audio(chat, file.input())),
            _ => send!(self.bot.send_document(chat, file.input())),
        })
    }

    /// Send 2–10 media as one album. Returns each item's message id, in order.
    pub async fn send_album(
        &self,
        chat: i64,
        thread_id: Option<i32>,
        items: &[(MessageKind, FileRef, Option<String>)],
    ) -> Result<Vec<i32>, TgError> {
        let media: Vec<InputMedia> = items
            .iter()
            .map(|(kind, f, cap)| match kind {
                MessageKind::Photo => {
                    let mut m = InputMediaPhoto::new(f.input());
                    if let Some(c) = cap {
                        m = m.caption(c.clone());
                    }
                    InputMedia::Photo(m)
                }
                MessageKind::Video => {
                    let mut m = InputMediaVideo::new(f.input());
                    if let Some(c) = cap {
                        m = m.caption(c.clone());
                    }
                    InputMedia::Video(m)
                }
                MessageKind::Audio => {
                    let mut m = InputMediaAudio::new(f.input());
                    if let Some(c) = cap {
                        m = m.caption(c.clone());
                    }
                    InputMedia::Audio(m)
                }
                _ => {
                    let mut m = InputMediaDocument::new(f.input());
                    if let Some(c) = cap {
                        m = m.caption(c.clone());
                    }
                    InputMedia::Document(m)
                }
            })
            .collect();
        let mut req = self.bot.send_media_group(ChatId(chat), media);
        if let Some(t) = thread(thread_id) {
            req = req.message_thread_id(t);
        }
        let sent = req.await.map_err(classify)?;
        Ok(sent.iter().map(|m| m.id.0).collect())
    }

    pub async fn send_location(&self, chat: i64, thread_id: Option<i32>, lat: f64, lon: f64) -> Result<i32, TgError> {
        let mut req = self.bot.send_location(ChatId(chat), lat, lon);
        if let Some(t) = thread(thread_id) {
            req = req.message_thread_id(t);
        }
        Ok(req.await.map_err(classify)?.id.0)
    }

    pub async fn create_topic(&self, chat: i64, name: &str) -> Result<i32, TgError> {
        let topic = self.bot.create_forum_topic(ChatId(chat), name).await.map_err(classify)?;
        Ok(topic.thread_id.0 .0)
    }

    pub async fn reopen_topic(&self, chat: i64, thread_id: i32) -> Result<(), TgError> {
        match self.bot.reopen_forum_topic(ChatId(chat), ThreadId(MessageId(thread_id))).await.map_err(classify) {
            Ok(_) => Ok(()),
            Err(TgError::BadRequest(t)) if t.contains("TOPIC_NOT_MODIFIED") => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn close_topic(&self, chat: i64, thread_id: i32) -> Result<(), TgError> {
        match self.bot.close_forum_topic(ChatId(chat), ThreadId(MessageId(thread_id))).await.map_err(classify) {
            Ok(_) => Ok(()),
            Err(TgError::BadRequest(t)) if t.contains("TOPIC_NOT_MODIFIED") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Delete a forum topic with everything in it (the bot needs the right to delete
    /// messages). A topic already gone counts as deleted.
    pub async fn delete_topic(&self, chat: i64, thread_id: i32) -> Result<(), TgError> {
        match self.bot.delete_forum_topic(ChatId(chat), ThreadId(MessageId(thread_id))).await.map_err(classify) {
            Ok(_) | Err(TgError::ThreadNotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Answer an inline query (results personal to the asker, not cached).
    pub async fn answer_inline(&self, id: &str, results: &[InlineArticle]) -> Result<(), TgError> {
        use teloxide::payloads::AnswerInlineQuerySetters;
        use teloxide::types::{
            InlineQueryResult, InlineQueryResultArticle, InputMessageContent, InputMessageContentText,
        };
        let results: Vec<InlineQueryResult> = results
            .iter()
            .map(|r| {
                InlineQueryResult::Article(
                    InlineQueryResultArticle::new(
                        r.id.clone(),
                        r.title.clone(),
                        InputMessageContent::Text(InputMessageContentText::new(r.text.clone())),
                    )
                    .description(r.description.clone()),
                )
            })
            .collect();
        self.bot
            .answer_inline_query(teloxide::types::InlineQueryId(id.to_string()), results)
            .cache_time(0u32)
            .is_personal(true)
            .await
            .map_err(classify)?;
        Ok(())
    }

    pub async fn answer_callback(&self, id: &str, text: &str, alert: bool) -> Result<(), TgError> {
        let mut req = self.bot.answer_callback_query(CallbackQueryId(id.to_string()));
        if !text.is_empty() {
            req = req.text(text.to_string()).show_alert(alert);
        }
        req.await.map_err(classify)?;
        Ok(())
    }

    /// Download a file this bot knows by id.
    pub async fn download(&self, file_id: &str) -> Result<Vec<u8>, TgError> {
        let file = self.bot.get_file(FileId(file_id.to_string())).await.map_err(classify)?;
        let mut buf = Vec::new();
        self.bot.download_file(&file.path, &mut buf).await.map_err(|e| TgError::Transient(e.to_string()))?;
        Ok(buf)
    }
}

/// What a message carries, read the same way for customers and staff.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    pub kind: MessageKind,
    pub text: Option<String>,
    pub file_id: Option<String>,
    pub extra: Option<serde_json::Value>,
}

pub fn content(msg: &Message) -> Content {
    let caption = msg.caption().map(str::to_string);
    let with_file =
        |kind, id: &FileId, extra| Content { kind, text: caption.clone(), file_id: Some(id.0.clone()), extra };
    if let Some(t) = msg.text() {
        return Content { kind: MessageKind::Text, text: Some(t.to_string()), file_id: None, extra: None };
    }
    if let Some(p) = msg.photo().and_then(|p| p.iter().max_by_key(|s| s.width * s.height)) {
        return with_file(MessageKind::Photo, &p.file.id, None);
    }
    if let Some(d) = msg.document() {
        return with_file(MessageKind::Document, &d.file.id, d.file_name.as_ref().map(|n| json!({"file_name": n})));
    }
    if let Some(v) = msg.voice() {
        return with_file(MessageKind::Voice, &v.file.id, None);
    }
    if let Some(v) = msg.video() {
        return with_file(MessageKind::Video, &v.file.id, None);
    }
    if let Some(v) = msg.video_note() {
        return with_file(MessageKind::Video, &v.file.id, None);
    }
    if let Some(a) = msg.audio() {
        return with_file(MessageKind::Audio, &a.file.id, None);
    }
    if let Some(s) = msg.sticker() {
        return Content {
            kind: MessageKind::Sticker,
            text: s.emoji.clone(),
            file_id: Some(s.file.id.0.clone()),
            extra: None,
        };
    }
    if let Some(c) = msg.contact() {
        // The phone number is deliberately dropped: Forecourt stores no phone numbers.
        let name =
            [Some(c.first_name.as_str()), c.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
        return Content { kind: MessageKind::Contact, text: None, file_id: None, extra: Some(json!({"name": name})) };
    }
    if let Some(v) = msg.venue() {
        return Content {
            kind: MessageKind::Location,
            text: Some(v.title.clone()),
            file_id: None,
            extra: Some(json!({"latitude": v.location.latitude, "longitude": v.location.longitude})),
        };
    }
    if let Some(l) = msg.location() {
        return Content {
            kind: MessageKind::Location,
            text: None,
            file_id: None,
            extra: Some(json!({"latitude": l.latitude, "longitude": l.longitude})),
        };
    }
    Content { kind: MessageKind::Other, text: caption, file_id: None, extra: None }
}

/// A message written in a staff group.
#[derive(Debug, Clone)]
pub struct StaffMessage {
    pub chat: i64,
    pub thread: Option<i32>,
    pub message_id: i32,
    pub from: i64,
    pub content: Content,
    pub sent_at: i64,
    /// The message this one explicitly replies to. In a forum topic Telegram marks every
    /// message as a reply to the topic's creation message; that one is not counted.
    pub reply_to: Option<i32>,
    /// The album this message belongs to.
    pub media_group_id: Option<String>,
    /// The bot whose inline mode sent it, if any (such a message is never relayed).
    pub via_bot: Option<i64>,
}

/// A button press in a staff group.
#[derive(Debug, Clone)]
pub struct ButtonPress {
    pub id: String,
    pub from: i64,
    pub chat: Option<i64>,
    pub message_id: Option<i32>,
    pub data: Option<String>,
}

/// Callback data of a flow's answer button in a customer chat: this prefix and the value.
pub const FLOW_BUTTON: &str = "f:";

/// What an update is, for Forecourt.
#[derive(Debug, Clone)]
pub enum Incoming {
    Customer(Box<Inbound>),
    /// A customer pressed a flow's answer button: stored like a message (its text the
    /// button's label, `extra.button` its value); the press is answered by its id.
    CustomerButton(Box<Inbound>, String),
    Staff(StaffMessage),
    Button(ButtonPress),
    /// A staff member typed in the staff bot's inline mode.
    InlineQuery {
        id: String,
        from: i64,
        query: String,
    },
    /// A topic was created in a staff group (`from`: by whom; the bot's own creations are
    /// checked against the leads, `staff::orphans`).
    TopicCreated {
        chat: i64,
        thread: i32,
        title: String,
        from: i64,
    },
    /// A person closed (`true`) or reopened a topic in a staff group.
    TopicState {
        chat: i64,
        thread: i32,
        closed: bool,
    },
    /// Nothing to do, and why (logged at debug).
    Ignored(&'static str),
}

/// The phone number a customer shared as a contact in a private chat, when it is theirs:
/// their own contact (Telegram's "share my number", `user_id` is the sender) or a contact
/// with no Telegram account behind it. Somebody else's Telegram contact is not theirs. The
/// number is for hashing at once (`domain::phone::PhoneKey::caller`); it is never kept.
pub fn shared_phone(update: &Update) -> Option<&str> {
    let UpdateKind::Message(msg) = &update.kind else { return None };
    let from = msg.from.as_ref()?;
    let c = msg.contact().filter(|_| msg.chat.is_private())?;
    match c.user_id {
        Some(u) if u != from.id => None,
        _ => Some(c.phone_number.as_str()),
    }
}

/// Sort one update. `staff_chats` are the configured staff groups; `customers` and
/// `staff` say which sides this bot serves.
pub fn classify_update(update: &Update, staff_chats: &[i64], customers: bool, staff: bool) -> Incoming {
    match &update.kind {
        UpdateKind::Message(msg) => {
            let Some(from) = msg.from.as_ref() else {
                return Incoming::Ignored("message without a sender");
            };
            if let (Some(created), Some(thread)) = (msg.forum_topic_created(), msg.thread_id) {
                if staff && staff_chats.contains(&msg.chat.id.0) {
                    return Incoming::TopicCreated {
                        chat: msg.chat.id.0,
                        thread: thread.0 .0,
                        title: created.name.clone(),
                        from: from.id.0 as i64,
                    };
                }
                return Incoming::Ignored("a topic created outside the staff groups");
            }
            if from.is_bot {
                return Incoming::Ignored("message from a bot");
            }
            let sent_at = msg.date.timestamp_millis();
            if msg.chat.is_private() {
                // A customer, or a staff member in a private chat with the bot: the staff
                // side tells them apart by the users table (`staff::resolve_private`).
                if !customers && !staff {
                    return Incoming::Ignored("private chat on a bot that serves no one");
                }
                let c = content(msg);
                let name = sender_name(from);
                return Incoming::Customer(Box::new(Inbound {
                    channel: Channel::Telegram,
                    external_user: from.id.0.to_string(),
                    external_message: format!("{}:{}", msg.chat.id.0, msg.id.0),
                    sender_name: name,
                    language: from.language_code.clone(),
                    kind: c.kind,
                    text: c.text,
                    file_id: c.file_id,
                    media_group_id: msg.media_group_id().map(|g| g.0.clone()),
                    extra: c.extra,
                    sent_at,
                }));
            }
            if staff && staff_chats.contains(&msg.chat.id.0) {
                let thread = msg.thread_id.map(|t| t.0 .0);
                match (thread, msg.forum_topic_closed().is_some(), msg.forum_topic_reopened().is_some()) {
                    (Some(thread), true, _) => {
                        return Incoming::TopicState { chat: msg.chat.id.0, thread, closed: true }
                    }
                    (Some(thread), _, true) => {
                        return Incoming::TopicState { chat: msg.chat.id.0, thread, closed: false }
                    }
                    _ => {}
                }
                if msg.forum_topic_created().is_some() {
                    return Incoming::Ignored("topic service message");
                }
                let topic = if msg.is_topic_message { msg.thread_id.map(|t| t.0 .0) } else { None };
                let reply_to = msg.reply_to_message().map(|r| r.id.0).filter(|r| Some(*r) != topic);
                return Incoming::Staff(StaffMessage {
                    chat: msg.chat.id.0,
                    thread: topic,
                    message_id: msg.id.0,
                    from: from.id.0 as i64,
                    content: content(msg),
                    sent_at,
                    reply_to,
                    media_group_id: msg.media_group_id().map(|g| g.0.clone()),
                    via_bot: msg.via_bot.as_ref().map(|b| b.id.0 as i64),
                });
            }
            Incoming::Ignored("message in a chat that is not a staff group")
        }
        UpdateKind::CallbackQuery(q) => {
            let private = q.message.as_ref().is_some_and(|m| m.chat().is_private());
            let flow_button = q.data.as_deref().is_some_and(|d| d.starts_with(FLOW_BUTTON));
            if private && customers && flow_button {
                return customer_button(q);
            }
            if private && !staff {
                return Incoming::Ignored("a button in a customer chat that is not a flow's");
            }
            if !staff {
                return Incoming::Ignored("button press on the customer-only bot");
            }
            let (chat, message_id) = match &q.message {
                Some(m) => (Some(m.chat().id.0), Some(m.id().0)),
                None => (None, None),
            };
            if chat.is_some_and(|c| !staff_chats.contains(&c)) && !private {
                return Incoming::Ignored("button press outside the staff groups");
            }
            Incoming::Button(ButtonPress {
                id: q.id.0.clone(),
                from: q.from.id.0 as i64,
                chat,
                message_id,
                data: q.data.clone(),
            })
        }
        UpdateKind::InlineQuery(q) if staff => {
            Incoming::InlineQuery { id: q.id.0.clone(), from: q.from.id.0 as i64, query: q.query.clone() }
        }
        UpdateKind::EditedMessage(_) => Incoming::Ignored("edited message (the original is kept)"),
        UpdateKind::Error(_) => Incoming::Ignored("update Telegram sent that could not be read"),
        _ => Incoming::Ignored("update kind Forecourt does not use"),
    }
}

/// A private message to a bot that serves staff, from a registered staff member: the same
/// message as the staff side reads it (chat = the private chat, no topic).
pub fn private_staff_message(m: &Inbound) -> Option<StaffMessage> {
    let (chat, message_id) = m.external_message.split_once(':')?;
    Some(StaffMessage {
        chat: chat.parse().ok()?,
        thread: None,
        message_id: message_id.parse().ok()?,
        from: m.external_user.parse().ok()?,
        content: Content { kind: m.kind, text: m.text.clone(), file_id: m.file_id.clone(), extra: m.extra.clone() },
        sent_at: m.sent_at,
        reply_to: None,
        media_group_id: m.media_group_id.clone(),
        via_bot: None,
    })
}

/// A customer's name as Telegram gives it (first and last), or their id when empty.
fn sender_name(from: &teloxide::types::User) -> String {
    let name =
        [Some(from.first_name.as_str()), from.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
    if name.trim().is_empty() {
        format!("Telegram user {}", from.id.0)
    } else {
        name
    }
}

/// A flow's answer button pressed by a customer, as an inbound message.
fn customer_button(q: &teloxide::types::CallbackQuery) -> Incoming {
    let Some(value) = q.data.as_deref().and_then(|d| d.strip_prefix(FLOW_BUTTON)) else {
        return Incoming::Ignored("a button in a customer chat that is not a flow's");
    };
    // The label the customer saw, from the message's keyboard (else the value).
    let label = q
        .message
        .as_ref()
        .and_then(|m| m.regular_message())
        .and_then(|m| m.reply_markup())
        .and_then(|k| {
            k.inline_keyboard.iter().flatten().find_map(|b| match &b.kind {
                teloxide::types::InlineKeyboardButtonKind::CallbackData(d) if d.as_str() == q.data.as_deref()? => {
                    Some(b.text.clone())
                }
                _ => None,
            })
        })
        .unwrap_or_else(|| value.to_string());
    let from = &q.from;
    let sent_at = q.message.as_ref().and_then(|m| m.regular_message()).map(|m| m.date.timestamp_millis()).unwrap_or(0);
    Incoming::CustomerButton(
        Box::new(Inbound {
            channel: Channel::Telegram,
            external_user: from.id.0.to_string(),
            external_message: format!("cb:{}", q.id.0),
            sender_name: sender_name(from),
            language: from.language_code.clone(),
            kind: MessageKind::Text,
            text: Some(label),
            file_id: None,
            media_group_id: None,
            extra: Some(json!({ "button": value })),
            sent_at,
        }),
        q.id.0.clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(v: serde_json::Value) -> Update {
        serde_json::from_str(&v.to_string()).expect("update parses")
    }

    fn private(extra: serde_json::Value) -> Update {
        let mut m = json!({"message_id": 5, "date": 1_700_000_000, "chat": {"id": 42, "type": "private", "first_name": "Olena"},
                           "from": {"id": 42, "is_bot": false, "first_name": "Olena", "last_name": "K", "language_code": "uk"}});
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        update(json!({"update_id": 1, "message": m}))
    }

    #[test]
    fn customer_messages_of_every_kind_become_inbound() {
        let cases = [
            (json!({"text": "hello"}), MessageKind::Text),
            (
                json!({"photo": [{"file_id": "a", "file_unique_id": "ua", "width": 1, "height": 1},
                               {"file_id": "b", "file_unique_id": "ub", "width": 9, "height": 9}], "caption": "car"}),
                MessageKind::Photo,
            ),
            (
                json!({"document": {"file_id": "d", "file_unique_id": "ud", "file_name": "vin.pdf", "mime_type": "application/pdf"}}),
                MessageKind::Document,
            ),
            (
                json!({"voice": {"file_id": "v", "file_unique_id": "uv", "duration": 2, "mime_type": "audio/ogg"}}),
                MessageKind::Voice,
            ),
            (
                json!({"video": {"file_id": "w", "file_unique_id": "uw", "width": 1, "height": 1, "duration": 2, "mime_type": "video/mp4"}}),
                MessageKind::Video,
            ),
            (json!({"contact": {"phone_number": "+380501112233", "first_name": "Ivan"}}), MessageKind::Contact),
            (json!({"location": {"latitude": 50.45, "longitude": 30.52}}), MessageKind::Location),
        ];
        for (extra, kind) in cases {
            let got = classify_update(&private(extra.clone()), &[-100], true, true);
            let Incoming::Customer(m) = got else { panic!("{extra} {got:?} {:?}", private(extra.clone())) };
            assert_eq!(m.kind, kind, "{extra}");
            assert_eq!(m.external_user, "42");
            assert_eq!(m.external_message, "42:5");
            assert_eq!(m.sender_name, "Olena K");
            assert_eq!(m.language.as_deref(), Some("uk"));
            assert!(!format!("{m:?}").contains("380501112233"), "a phone number was kept");
        }
        let Incoming::Customer(p) = classify_update(
            &private(json!({"photo": [{"file_id": "a", "file_unique_id": "ua", "width": 1, "height": 1},
                                       {"file_id": "b", "file_unique_id": "ub", "width": 9, "height": 9}]})),
            &[],
            true,
            true,
        ) else {
            panic!()
        };
        assert_eq!(p.file_id.as_deref(), Some("b"), "the largest size is kept");
    }

    #[test]
    fn staff_and_other_chats_are_told_apart() {
        let group =
            update(json!({"update_id": 2, "message": {"message_id": 9, "date": 1_700_000_000, "message_thread_id": 3,
            "is_topic_message": true, "chat": {"id": -100, "type": "supergroup", "title": "Staff", "is_forum": true},
            "from": {"id": 7, "is_bot": false, "first_name": "Max"}, "text": "hi"}}));
        assert!(matches!(
            classify_update(&group, &[-100], true, true),
            Incoming::Staff(StaffMessage { thread: Some(3), .. })
        ));
        assert!(matches!(classify_update(&group, &[-200], true, true), Incoming::Ignored(_)));
        // Telegram marks topic messages as replies to the topic's creation message: that is
        // not a reply; a reply to another message is.
        let in_topic = |reply_to: i32| {
            update(json!({"update_id": 3, "message": {"message_id": 12, "date": 1_700_000_000, "message_thread_id": 3,
            "is_topic_message": true, "chat": {"id": -100, "type": "supergroup", "title": "Staff", "is_forum": true},
            "from": {"id": 7, "is_bot": false, "first_name": "Max"}, "text": "/photo",
            "reply_to_message": {"message_id": reply_to, "date": 1_700_000_000, "message_thread_id": 3,
                "chat": {"id": -100, "type": "supergroup", "title": "Staff", "is_forum": true},
                "from": {"id": 99, "is_bot": true, "first_name": "Bot"}, "text": "x"}}}))
        };
        let Incoming::Staff(root) = classify_update(&in_topic(3), &[-100], true, true) else { panic!() };
        assert_eq!(root.reply_to, None);
        let Incoming::Staff(reply) = classify_update(&in_topic(10), &[-100], true, true) else { panic!() };
        assert_eq!(reply.reply_to, Some(10));
        // A private message to the staff-only bot: staff or stranger is told by the users
        // table (`staff::resolve_private`), not here.
        let Incoming::Customer(m) = classify_update(&private(json!({"text": "x"})), &[-100], false, true) else {
            panic!()
        };
        let staff = private_staff_message(&m).expect("a private message reads as a staff one");
        assert_eq!((staff.thread, staff.content.text.as_deref()), (None, Some("x")));
        assert!(matches!(classify_update(&private(json!({"text": "x"})), &[-100], false, false), Incoming::Ignored(_)));
    }
}
