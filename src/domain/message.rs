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
    pub fn label(self) -> &'static str {
        match self {
            Channel::Telegram => "Telegram",
            Channel::Viber => "Viber",
            Channel::Whatsapp => "WhatsApp",
        }
    }
}

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

    #[test]
    fn previews_are_one_short_line() {
        assert_eq!(preview(MessageKind::Text, Some("hello\n  world")), "hello world");
        assert_eq!(preview(MessageKind::Photo, None), "📷 photo");
        assert_eq!(preview(MessageKind::Photo, Some("rear bumper")), "📷 rear bumper");
        let long = "a".repeat(500);
        assert_eq!(preview(MessageKind::Text, Some(&long)).chars().count(), 120);
    }
}
