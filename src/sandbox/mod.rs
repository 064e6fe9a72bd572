//! Fake messenger servers that speak the providers' real wire formats, for the tests and
//! `forecourt demo`. Nothing here is used by `forecourt run` against real providers.

pub mod hosted;
pub mod telegram;
pub mod telephony;
pub mod viber;
pub mod whatsapp;
