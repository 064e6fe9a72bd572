//! Newtypes for identifiers, so a lead id is never mistaken for a chat id.
//! They are plain wrappers over the integers the database and Telegram use.

use std::fmt;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $inner:ty) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.trim().parse::<$inner>().map($name)
            }
        }
    };
}

id_type!(
    /// A lead's number, shown to staff as `#N`.
    LeadId, i64);
id_type!(
    /// A customer row.
    CustomerId, i64);
id_type!(
    /// A staff user row (not their Telegram id).
    UserId, i64);
id_type!(
    /// A stored message row.
    MessageRowId, i64);
id_type!(
    /// A job row.
    JobId, i64);
id_type!(
    /// A Telegram user's id (`from.id`).
    TelegramUserId, i64);
id_type!(
    /// A Telegram chat id: a private chat with a customer or a staff supergroup.
    TelegramChatId, i64);
id_type!(
    /// A forum topic's thread id inside a staff supergroup.
    TopicThreadId, i32);
id_type!(
    /// A Telegram message id inside one chat.
    TelegramMessageId, i32);
id_type!(
    /// A vehicle row (the ERP's own key is its VIN or stock number).
    VehicleId, i64);
id_type!(
    /// A kept file's row.
    MediaId, i64);
id_type!(
    /// A call's row (the provider's own key is `calls.external_id`).
    CallId, i64);
id_type!(
    /// A supervisor's review of a call.
    ReviewId, i64);
id_type!(
    /// A task's row: a callback after a missed call, or work a manager wrote down.
    TaskId, i64);
