//! Fake servers that speak the providers' real wire formats (messengers, telephony, an
//! OpenAI-compatible model server), for the tests, `forecourt demo` and the benches.
//! Nothing here is used by `forecourt run` against real providers.

pub mod hosted;
pub mod openai;
pub mod telegram;
pub mod telephony;
pub mod viber;
pub mod whatsapp;
