//! Forecourt: a CRM for car dealers that lives inside the messengers people already use.
//!
//! A guided tour, from the inside out:
//! - [`domain`] holds the rules (stages, roles, callback data, message merging) with no IO.
//! - [`store`] is the only place with SQL: one code path for SQLite and PostgreSQL.
//! - [`clock`] is the time source, which tests and the demo may speed up.
//! - [`channels`] turns each messenger's wire format into [`ingest::Inbound`] and back.
//! - [`ingest`] stores one inbound message in one transaction, with its jobs.
//! - [`staff`] is the staff group side: topics, lead cards, buttons, commands.
//! - [`jobs`] is the durable outbox: workers, retries, rate limits.
//! - [`media`] keeps every file, content-addressed, and signs links to them.
//! - [`web`] is the axum service: health, webhooks (Telegram, Viber, WhatsApp), media links.
//! - [`sandbox`] holds the fake Telegram, Viber and WhatsApp servers the tests and the demo
//!   run against.
//! - [`app`] wires it all together; [`config`] is the typed configuration.

pub mod app;
pub mod bench;
pub mod channels;
pub mod cli;
pub mod clock;
pub mod config;
pub mod context;
pub mod demo;
pub mod domain;
pub mod flows;
pub mod ingest;
pub mod inventory;
pub mod jobs;
pub mod media;
pub mod notices;
pub mod sandbox;
pub mod staff;
pub mod store;
pub mod supervise;
pub mod templates;
pub mod web;
pub mod worker;
