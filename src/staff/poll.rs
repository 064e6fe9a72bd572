//! Telegram long polling. An update's offset moves on only after everything it caused is
//! committed; a crash repeats updates (deduplicated), never loses them.

use crate::app::{App, BotHandle};
use crate::channels::telegram::TgError;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::warn;

pub async fn run(app: Arc<App>, bot: BotHandle, customers: bool, staff: bool, mut shutdown: watch::Receiver<bool>) {
    let key = format!("telegram_offset:{}", bot.id);
    let mut offset: Option<i32> = app.store.kv_get(&key).await.ok().flatten().and_then(|v| v.parse().ok());
    let mut failures: u32 = 0;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let timeout = app.config.telegram.poll_timeout_s;
        let got = tokio::select! {
            r = bot.api.get_updates(offset, timeout) => r,
            _ = shutdown.changed() => return,
        };
        let updates = match got {
            Ok(u) => {
                failures = 0;
                u
            }
            Err(e) => {
                failures += 1;
                let wait = match &e {
                    TgError::RetryAfter(s) => Duration::from_secs(*s as u64),
                    _ => Duration::from_millis(500u64 << failures.min(6)),
                };
                warn!(error = %e, ?wait, "getUpdates failed");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => return,
                }
                continue;
            }
        };
        let done = crate::staff::process_batch(&app, &bot, customers, staff, &updates).await;
        if let Some(last) = done.checked_sub(1).map(|i| &updates[i]) {
            offset = Some(last.id.0 as i32 + 1);
        }
        if done < updates.len() {
            // Not committed: not confirmed either; the same updates come again.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if let Some(o) = offset {
            if let Err(e) = app.store.kv_set(&key, &o.to_string()).await {
                warn!(error = %e, "could not save the update offset (updates may repeat; they are deduplicated)");
            }
        }
    }
}
