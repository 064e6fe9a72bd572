//! Channels, message directions and kinds: the stored vocabulary of conversations.

use serde::{Deserialize, Serialize};

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// A messenger a customer writes on.
    Channel { Telegram = "telegram", Viber = "viber", Whatsapp = "whatsapp" }
);

impl Channel {
    /// A lead's channel as staff read it: the messenger, or a phone call when the customer
    /// has only called.
    pub fn label_of(c: Option<Channel>) -> &'static str {
        c.map_or("Phone call", Channel::label)
    }

    pub fn label(self) -> &'static str {
        match self {
            Channel::Telegram => "Telegram",
            Channel::Viber => "Viber",
            Channel::Whatsapp => "WhatsApp",
        }
    }
}

text_enum!(
    /// A stored message's channel: a customer's messenger, or `staff` for notes and notices.
    MessageChannel { Telegram = "telegram", Viber = "viber", Whatsapp = "whatsapp", Staff = "staff" }
);

impl From<Channel> for MessageChannel {
    fn from(c: Channel) -> MessageChannel {
        match c {
            Channel::Telegram => MessageChannel::Telegram,
            Channel::Viber => MessageChannel::Viber,
            Channel::Whatsapp => MessageChannel::Whatsapp,
        }
    }
}

text_enum!(
    /// Where an outgoing message is on its way to the customer (receipts are kept beside).
    DeliveryState { Pending = "pending", Sent = "sent", Failed = "failed" }
);

text_enum!(
    /// Whether the staff topic still has to show a message (`pending`), has shown it
    /// (`posted`), or never will (`none`: staff replies, notes).
    StaffState { Pending = "pending", Posted = "posted", NotShown = "none" }
);

text_enum!(
    /// Who a stored message is from and to.
    Direction {
        Incoming = "incoming",
        Outgoing = "outgoing",
        Note = "note",
        System = "system",
    }
);

text_enum!(
    /// What a message carries.
    MessageKind {
        Text = "text",
        Photo = "photo",
        Document = "document",
        Voice = "voice",
        Video = "video",
        Audio = "audio",
        Contact = "contact",
        Location = "location",
        Sticker = "sticker",
        Other = "other",
    }
);

impl MessageKind {
    /// Kinds that carry a file.
    pub fn has_file(self) -> bool {
        matches!(
            self,
            MessageKind::Photo
                | MessageKind::Document
                | MessageKind::Voice
                | MessageKind::Video
                | MessageKind::Audio
                | MessageKind::Sticker
        )
    }

    /// Kinds Telegram can put in an album (sendMediaGroup).
    pub fn albumable(self) -> bool {
        matches!(self, MessageKind::Photo | MessageKind::Video | MessageKind::Document | MessageKind::Audio)
    }
}

/// One customer message, whatever messenger it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    pub channel: Channel,
    /// The customer's id on that messenger.
    pub external_user: String,
    /// The message's id on that messenger, unique per channel.
    pub external_message: String,
    pub sender_name: String,
    pub language: Option<String>,
    pub kind: MessageKind,
    pub text: Option<String>,
    pub file_id: Option<String>,
    pub media_group_id: Option<String>,
    /// Structured extras (a location's coordinates, a contact's name).
    pub extra: Option<serde_json::Value>,
    /// When the customer sent it, as the messenger reports (unix ms).
    pub sent_at: i64,
}

impl Inbound {
    /// Make a message safe to keep and relay: the sender's name cleaned and capped
    /// (`text::clean_name`), control characters and bidirectional overrides taken out of
    /// the text, and a time stamp outside the sane window replaced by `now`. Returns the
    /// time the messenger reported when it was replaced (for the log).
    pub fn sanitize(&mut self, now: i64) -> Option<i64> {
        self.sender_name = super::text::clean_name(&self.sender_name);
        if let Some(t) = &self.text {
            if let std::borrow::Cow::Owned(clean) = clean_text_cow(t) {
                self.text = Some(clean);
            }
        }
        let (at, replaced) = super::text::sane_time(self.sent_at, now);
        let reported = self.sent_at;
        self.sent_at = at;
        replaced.then_some(reported)
    }

    /// Refuse a text longer than the messenger itself lets a customer send: it did not come
    /// from the messenger, and relaying it would spend the staff group's sending budget.
    pub fn check_length(&self) -> Result<(), String> {
        let Some(text) = &self.text else { return Ok(()) };
        let (max, what) = match self.channel {
            Channel::Viber => (super::text::VIBER_TEXT_MAX, "Viber allows 7,000 characters"),
            Channel::Whatsapp => (super::text::WHATSAPP_TEXT_MAX, "WhatsApp allows 4,096 characters"),
            Channel::Telegram => (super::text::TELEGRAM_TEXT, "Telegram allows 4,096 characters"),
        };
        let n = match self.channel {
            Channel::Telegram => super::text::utf16_len(text),
            _ => text.chars().count(),
        };
        if n > max {
            return Err(format!("a text of {n} characters; {what}"));
        }
        Ok(())
    }
}

fn clean_text_cow(t: &str) -> std::borrow::Cow<'_, str> {
    let clean = super::text::clean_text(t);
    if clean.len() == t.len() {
        std::borrow::Cow::Borrowed(t)
    } else {
        std::borrow::Cow::Owned(clean)
    }
}

/// A short one-line preview of a message for cards and lists.
pub fn preview(kind: MessageKind, body: Option<&str>) -> String {
    let icon = match kind {
        MessageKind::Text => "",
        MessageKind::Photo => "📷 ",
        MessageKind::Document => "📄 ",
        MessageKind::Voice => "🎤 ",
        MessageKind::Video => "🎬 ",
        MessageKind::Audio => "🎵 ",
        MessageKind::Contact => "👤 ",
        MessageKind::Location => "📍 ",
        MessageKind::Sticker => "🏷 ",
        MessageKind::Other => "",
    };
    let body = body.unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ");
    let label = if body.is_empty() && kind != MessageKind::Text { kind.as_str().to_string() } else { body };
    let mut s: String = format!("{icon}{label}");
    if s.chars().count() > 120 {
        s = s.chars().take(119).collect::<String>() + "…";
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip() {
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(*c));
        }
        for d in Direction::ALL {
            assert_eq!(Direction::parse(d.as_str()), Some(*d));
        }
        for k in MessageKind::ALL {
            assert_eq!(MessageKind::parse(k.as_str()), Some(*k));
        }
        assert_eq!(Channel::parse("icq"), None);
    }

    fn inbound(channel: Channel, text: &str, name: &str, at: i64) -> Inbound {
        Inbound {
            channel,
            external_user: "u".into(),
            external_message: "m".into(),
            sender_name: name.into(),
            language: None,
            kind: MessageKind::Text,
            text: Some(text.into()),
            file_id: None,
            media_group_id: None,
            extra: None,
            sent_at: at,
        }
    }

    #[test]
    fn inbound_is_cleaned_and_its_time_checked() {
        let now = 1_800_000_000_000;
        let mut m = inbound(Channel::Viber, "hi\u{0} there\u{202E}", &"N".repeat(100_000), i64::MAX);
        assert_eq!(m.sanitize(now), Some(i64::MAX));
        assert_eq!(m.sent_at, now);
        assert_eq!(m.text.as_deref(), Some("hi there"));
        assert_eq!(m.sender_name.chars().count(), super::super::text::NAME_MAX);
        let mut ok = inbound(Channel::Whatsapp, "fine", "Olena", now - 1_000);
        assert_eq!(ok.sanitize(now), None);
        assert_eq!(ok.sent_at, now - 1_000);
    }

    #[test]
    fn texts_longer_than_the_messenger_allows_are_refused() {
        assert!(inbound(Channel::Viber, &"a".repeat(7_000), "", 0).check_length().is_ok());
        let e = inbound(Channel::Viber, &"a".repeat(7_001), "", 0).check_length().unwrap_err();
        assert!(e.contains("7,000"), "{e}");
        // 2,100 emoji are 2,100 characters to Viber (under its limit).
        assert!(inbound(Channel::Viber, &"😀".repeat(2_100), "", 0).check_length().is_ok());
        assert!(inbound(Channel::Whatsapp, &"a".repeat(4_097), "", 0).check_length().is_err());
    }

    #[test]
    fn previews_are_one_short_line() {
        assert_eq!(preview(MessageKind::Text, Some("hello\n  world")), "hello world");
        assert_eq!(preview(MessageKind::Photo, None), "📷 photo");
        assert_eq!(preview(MessageKind::Photo, Some("rear bumper")), "📷 rear bumper");
        let long = "a".repeat(500);
        assert_eq!(preview(MessageKind::Text, Some(&long)).chars().count(), 120);
    }
}
