//! The task that picks up `[ai] features` from the configuration file while running (an
//! admin turns a feature off without a restart), like the flows' watcher: every two
//! seconds it looks at the file's modification time and reads the features again when it
//! changed. A file that does not read keeps the features as they were, with a log line.

use super::Ai;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tracing::{info, warn};

pub async fn watch(ai: Arc<Ai>, path: PathBuf, mut shutdown: watch::Receiver<bool>) {
    let modified = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut seen: Option<SystemTime> = modified(&path);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = shutdown.changed() => return,
        }
        let now = modified(&path);
        if now == seen {
            continue;
        }
        seen = now;
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                warn!(file = %path.display(), error = %e, "could not read the configuration file; the AI features stay");
                continue;
            }
        };
        match crate::config::ai::features_in_file(&text) {
            Ok(Some(f)) => {
                if ai.set_features(f) {
                    info!(features = ?f.names(), "the AI features changed");
                }
            }
            Ok(None) => {}
            Err(e) => warn!(file = %path.display(), error = %e, "[ai] features do not read; the AI features stay"),
        }
    }
}
