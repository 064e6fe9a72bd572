//! The task that keeps the active flows in step with the files on disk (a handler: it
//! holds the shared state). Every two seconds it looks at flows/ and at the database, for
//! versions activated elsewhere; a changed set is checked before it is activated.

use super::runtime::DiskChange;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{error, info, warn};

/// Look at flows/ every two seconds (and at the database, for versions activated
/// elsewhere) until shutdown. Started only when the flows are on.
pub async fn watch(app: Arc<crate::context::App>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = shutdown.changed() => return,
        }
        match app.flows.sync_disk(app.clock.now_ms()).await {
            Ok(DiskChange::Refused(problems)) => {
                for p in &problems {
                    warn!(problem = %p, "changed flow files have problems; the active flows stay");
                }
            }
            Ok(DiskChange::Activated(v)) => info!(version = v, "changed flow files activated"),
            Ok(DiskChange::Unchanged) => {}
            Err(e) => error!(error = %format!("{e:#}"), "could not read the flow files"),
        }
        if let Err(e) = app.flows.sync_db().await {
            error!(error = %e, "could not read the flow versions");
        }
    }
}
