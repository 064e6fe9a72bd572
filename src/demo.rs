//! `forecourt demo`: the real program against the fake Telegram.
use std::process::ExitCode;
pub async fn run(_speed: f64) -> anyhow::Result<ExitCode> {
    anyhow::bail!("demo: not yet")
}
