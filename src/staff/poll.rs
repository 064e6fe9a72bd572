//! Telegram long polling. An update's offset moves on only after everything it caused is
//! committed; a crash repeats updates (deduplicated), never loses them.

use crate::channels::telegram::TgError;
use crate::context::{App, BotHandle};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::warn;

pub async fn run(app: Arc<App>, bot: BotHandle, customers: bool, staff: bool, mut shutdown: watch::Receiver<bool>) {
    let key = format!("telegram_offset:{}", bot.id);
    let mut offset: Option<i32> = app.store.kv_get(&key).await.ok().flatten().and_then(|v| v.parse().ok());
    let mut failures: u32 = 0;
    // The update that would not store, and how often it was tried.
    let mut stuck: Option<(u32, u32)> = None;
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
                    TgError::RetryAfter(s) => Duration::from_secs((*s).max(0) as u64),
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
        let (mut done, error) = crate::staff::process_batch(&app, &bot, customers, staff, &updates).await;
        if let (Some(failed), Some(error)) = (updates.get(done), error) {
            let tries = match stuck {
                Some((id, n)) if id == failed.id.0 => n + 1,
                _ => 1,
            };
            stuck = Some((failed.id.0, tries));
            if tries >= super::aside::SET_ASIDE_AFTER {
                // Kept aside, the poller moves past it; if even that cannot be written, the
                // database is down and the update is simply tried again.
                if super::aside::set_aside(&app, &bot, failed, &error, tries).await.is_ok() {
                    done += 1;
                    stuck = None;
                }
            }
        }
        if let Some(last) = done.checked_sub(1).map(|i| &updates[i]) {
            offset = Some(next_offset(last.id.0));
        }
        if done < updates.len() {
            // Not committed: not confirmed either; the same updates come again.
            let tries = stuck.map_or(1, |(_, n)| n);
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500) * tries) => {}
                _ = shutdown.changed() => return,
            }
        }
        if let Some(o) = offset {
            if let Err(e) = app.store.kv_set(&key, &o.to_string()).await {
                warn!(error = %e, "could not save the update offset (updates may repeat; they are deduplicated)");
            }
        }
    }
}

/// The offset that confirms update `id` (Telegram's offsets are 32-bit).
fn next_offset(id: u32) -> i32 {
    i32::try_from(u64::from(id) + 1).unwrap_or_else(|_| {
        tracing::error!(update_id = id, "an update id beyond Telegram's 32-bit offsets");
        i32::MAX
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn offsets_never_wrap() {
        assert_eq!(super::next_offset(41), 42);
        assert_eq!(super::next_offset(u32::MAX), i32::MAX);
        assert_eq!(super::next_offset(i32::MAX as u32), i32::MAX);
    }
}
