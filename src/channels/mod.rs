//! Channel adapters: each messenger's wire format in, [`crate::ingest::Inbound`] out, and
//! sends back. Nothing outside a channel module knows that messenger's JSON.

pub mod telegram;
