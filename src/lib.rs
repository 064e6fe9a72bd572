//! Forecourt: a CRM for car dealers that lives inside the messengers people already use.
//!
//! A guided tour, from the inside out (ARCHITECTURE.md, "Layers", says who may import whom):
//! - [`domain`] holds the rules (stages and their effects, roles, callback data, message
//!   merging, text limits, what a lead's topic needs next) with no IO.
//! - [`store`] is the only place with SQL: one code path for SQLite and PostgreSQL.
//! - [`clock`], [`config`], [`templates`] and [`supervise`] (watched tasks) are the basics.
//! - [`channels`] turns each messenger's wire format into [`domain::message::Inbound`] and
//!   back, and holds the outgoing ERP client.
//! - [`ingest`] stores inbound messages in one transaction, with their jobs.
//! - [`media`] keeps every file, content-addressed, and signs links to them.
//! - [`notices`] writes "say this in the topic" and card bumps inside a transaction.
//! - [`changes`] carries out a lead's changes (history, each stage's effects, the card).
//! - [`calls`] stores telephony events: the call matched to a customer by a keyed hash of
//!   the number, a lead opened when needed, callback tasks, the jobs that show it.
//! - [`ai`] is the one door to an OpenAI-compatible server (masking, cache, budget, limits,
//!   answers checked); AI only advises, in jobs of its own lane.
//! - [`jobs`] is the durable outbox: the typed [`jobs::Job`], the runner, the rate limits.
//! - [`context`] is the shared state every handler receives.
//! - The handlers: [`staff`] (topics, cards, commands, buttons), [`flows`] (the bot's
//!   conversations), [`web`] (axum: health, webhooks, media links), and [`worker`], which
//!   says which handler runs each job.
//! - [`app`] wires it all together and starts the tasks; [`cli`], [`demo`] and [`bench`]
//!   are the entry points; [`sandbox`] holds the fake Telegram, Viber and WhatsApp servers
//!   the tests and the demo run against.

pub mod ai;
pub mod app;
pub mod bench;
pub mod calls;
pub mod changes;
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
pub mod writer;
