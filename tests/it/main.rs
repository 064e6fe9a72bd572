//! Integration tests: the real program driven through the fake Telegram Bot API, and the
//! store suite on SQLite and PostgreSQL. One binary, modules by story.

mod bridge;
mod channels;
mod cli;
mod erp;
mod harness;
mod resilience;
mod staff;
mod store;
mod vehicles;
