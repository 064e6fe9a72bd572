//! The active flow set and its versions. Every set ever activated is a row of
//! `flow_versions`; the newest is active. A set comes from the files on disk (flows/ and
//! templates/flows/, looked at every two seconds), from an admin's upload, or from a
//! rollback; only a set that passes the check is ever activated.
//!
//! The newest change wins, whichever way it came: the disk's files are activated when
//! *they* change (their hash is kept in `kv`), so a restart does not undo an upload.
//! A conversation keeps the version it started in (its state names it), so a change
//! never breaks a conversation in progress.

use super::check::{check, Problem, Snapshot};
use super::{files, hash_files, Compiled};
use crate::config::FlowsConfig;
use crate::store::{Store, StoreError};
use dashmap::DashMap;
use std::sync::{Arc, Mutex, RwLock};
use tracing::{info, warn};

const DISK_HASH: &str = "flows.disk_hash";

pub struct Flows {
    store: Store,
    config: FlowsConfig,
    active: RwLock<Option<(i64, Arc<Compiled>)>>,
    versions: DashMap<i64, Arc<Compiled>>,
    /// The disk hash last looked at by this process (saves a kv read every tick).
    seen_disk: Mutex<Option<String>>,
}

/// What a look at the disk found.
#[derive(Debug)]
pub enum DiskChange {
    Unchanged,
    Activated(i64),
    /// The files changed but have problems: nothing was activated.
    Refused(Vec<Problem>),
}

impl Flows {
    /// Load the active set (activating the disk's files if they changed). With flows off
    /// (`dir` unset) nothing is loaded and nothing runs.
    pub async fn start(store: Store, config: FlowsConfig, now: i64) -> anyhow::Result<Flows> {
        let f =
            Flows { store, config, active: RwLock::new(None), versions: DashMap::new(), seen_disk: Mutex::new(None) };
        if !f.enabled() {
            return Ok(f);
        }
        match f.sync_disk(now).await? {
            DiskChange::Refused(problems) => {
                for p in &problems {
                    warn!(problem = %p, "flow files have problems; they were not activated");
                }
            }
            DiskChange::Activated(v) => info!(version = v, "flow files activated"),
            DiskChange::Unchanged => {}
        }
        if f.store.latest_flow_version().await?.is_none() {
            // First start with broken files: the built-in defaults, so customers are greeted.
            let b = files::builtin();
            f.store.insert_flow_version(&hash_files(&b), "builtin", None, &b, now).await?;
            warn!("no valid flow files: the built-in defaults are active");
        }
        f.sync_db().await?;
        Ok(f)
    }

    pub fn enabled(&self) -> bool {
        self.config.dir.is_some()
    }

    /// The active set and its version.
    pub fn active(&self) -> Option<(i64, Arc<Compiled>)> {
        self.active.read().expect("the flows lock is never poisoned").clone()
    }

    /// A version's set (for conversations that started in it), loaded once.
    pub async fn version(&self, id: i64) -> Result<Option<Arc<Compiled>>, StoreError> {
        if let Some(c) = self.versions.get(&id) {
            return Ok(Some(c.clone()));
        }
        let Some(v) = self.store.flow_version(id).await? else { return Ok(None) };
        match check(&v.files) {
            Ok(c) => {
                let c = Arc::new(c);
                self.versions.insert(id, c.clone());
                Ok(Some(c))
            }
            Err(problems) => {
                // Checked when it was activated; a newer program may be stricter.
                warn!(version = id, problems = problems.len(), "a stored flow version no longer passes the check");
                Ok(None)
            }
        }
    }

    /// The disk's files as a set (the built-in defaults when the directory is missing).
    pub fn disk_files(&self) -> std::io::Result<Option<(Snapshot, &'static str)>> {
        let Some(dir) = &self.config.dir else { return Ok(None) };
        Ok(Some(match files::read_dir(dir, &self.config.templates_dir)? {
            Some(s) => (s, "disk"),
            None => (files::builtin(), "builtin"),
        }))
    }

    /// Activate the disk's files if they changed since last looked at and pass the check.
    pub async fn sync_disk(&self, now: i64) -> anyhow::Result<DiskChange> {
        let Some((snapshot, source)) = self.disk_files()? else { return Ok(DiskChange::Unchanged) };
        let hash = hash_files(&snapshot);
        if self.seen_disk.lock().expect("never poisoned").as_deref() == Some(hash.as_str()) {
            return Ok(DiskChange::Unchanged);
        }
        let stored = self.store.kv_get(DISK_HASH).await?;
        *self.seen_disk.lock().expect("never poisoned") = Some(hash.clone());
        if stored.as_deref() == Some(hash.as_str()) {
            return Ok(DiskChange::Unchanged);
        }
        self.store.kv_set(DISK_HASH, &hash).await?;
        match self.activate(snapshot, source, None, now).await? {
            Ok(v) => Ok(DiskChange::Activated(v)),
            Err(p) => Ok(DiskChange::Refused(p)),
        }
    }

    /// Check a set and, when it passes, make it the active version (a new row, unless it
    /// is the active set already).
    pub async fn activate(
        &self,
        files: Snapshot,
        source: &str,
        author: Option<&str>,
        now: i64,
    ) -> anyhow::Result<Result<i64, Vec<Problem>>> {
        let compiled = match check(&files) {
            Ok(c) => c,
            Err(p) => return Ok(Err(p)),
        };
        if let Some(latest) = self.store.latest_flow_version().await? {
            if latest.hash == compiled.hash {
                self.sync_db().await?;
                return Ok(Ok(latest.id));
            }
        }
        let id = self.store.insert_flow_version(&compiled.hash, source, author, &files, now).await?;
        let compiled = Arc::new(compiled);
        self.versions.insert(id, compiled.clone());
        *self.active.write().expect("never poisoned") = Some((id, compiled));
        info!(version = id, source, "flow set activated");
        Ok(Ok(id))
    }

    /// Make the newest stored version active here (another instance, or an upload, may
    /// have activated it).
    pub async fn sync_db(&self) -> Result<(), StoreError> {
        let Some(latest) = self.store.latest_flow_version().await? else { return Ok(()) };
        if self.active().is_some_and(|(id, _)| id == latest.id) {
            return Ok(());
        }
        if let Some(c) = self.version(latest.id).await? {
            *self.active.write().expect("never poisoned") = Some((latest.id, c));
            info!(version = latest.id, "flow set loaded");
        }
        Ok(())
    }
}
