//! `forecourt bench`.
use std::process::ExitCode;
#[derive(clap::Args)]
pub struct BenchArgs {}
pub async fn run(_a: BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("bench: not yet")
}
