//! Integration tests: the real program driven through the fake Telegram Bot API, and the
//! store suite on SQLite and PostgreSQL. One binary, modules by story.

#[macro_use]
mod harness;
mod ai;
mod assign;
mod bridge;
mod browser;
mod calls;
mod channels;
mod cli;
mod downloads;
mod erp;
mod flows;
mod layers;
mod limits;
mod photos;
mod poison;
mod reports;
mod resilience;
mod staff;
mod store;
mod tasks;
mod vehicles;
