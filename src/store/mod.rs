//! Storage: the only place with SQL. One code path for SQLite (the default, a file in WAL
//! mode) and PostgreSQL, chosen by the database URL, through sqlx's `Any` driver.
//! Portable column types only: times as unix milliseconds, flags as 0/1, JSON as text.
//!
//! Functions are shaped by what callers need. Those that must share a transaction take a
//! `&mut AnyConnection` (from [`Store::begin`]); the rest use the pool.

mod ai;
mod assign;
mod batch;
mod calls;
mod flows;
mod gate;
mod jobs;
mod kv;
mod leads;
mod media;
mod messages;
mod photos;
mod reports;
mod reviews;
mod tasks;
mod updates;
mod users;
mod vehicles;
mod web_auth;

pub use ai::*;
pub use assign::*;
pub use batch::{store_inbound_batch, BatchItem, Stored, StoredMessage};
pub use calls::*;
pub use flows::*;
pub use jobs::{
    enqueue as jobs_enqueue, enqueue_many as jobs_enqueue_many, enqueue_topic_syncs, JobKind, JobRow, JobStatusCount,
    Lane, NewJob, Released,
};
pub use kv::*;
pub use leads::*;
pub use media::*;
pub use messages::*;
pub use photos::*;
pub use reports::*;
pub use reviews::*;
pub use tasks::*;
pub use updates::FailedUpdate;
pub use users::{user_in_tx, UserRow};
pub use vehicles::{
    find_vehicle, lead_vehicles_in_tx, other_open_leads_holding, record_erp_event, reserved_by_other_lead,
    set_erp_event_outcome, set_vehicle_link, set_vehicle_status, upsert_vehicle, vehicle_in_tx, AttachedVehicle,
    Upserted, VehicleFilter, VehicleInput, VehicleRow,
};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::time::Duration;

pub use sqlx::AnyConnection as Conn;

/// A write transaction. It holds its pass (see [`gate::Pass`]: on SQLite the write gate, on
/// PostgreSQL its place among the writers at work), released when it is committed, rolled
/// back or dropped.
pub struct Tx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _gate: gate::Pass,
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        let Tx { tx, _gate } = self;
        Ok(tx.commit().await?)
    }

    pub async fn rollback(self) -> Result<()> {
        let Tx { tx, _gate } = self;
        Ok(tx.rollback().await?)
    }
}

impl std::ops::Deref for Tx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.tx
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.tx
    }
}

/// A pooled connection for one writing statement outside a transaction; it holds its pass
/// (on SQLite the write gate) while it lives.
pub(crate) struct WriteConn {
    conn: sqlx::pool::PoolConnection<sqlx::Any>,
    _gate: gate::Pass,
}

impl std::ops::Deref for WriteConn {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.conn
    }
}

impl std::ops::DerefMut for WriteConn {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

/// How long a writer waits for SQLite's write gate before it gives up (as long as the
/// busy timeout it stands in front of).
const GATE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long background work waits its turn (the bridge may keep the database busy for a
/// while; advice can wait).
const BACKGROUND_WAIT: Duration = Duration::from_secs(60);

tokio::task_local! {
    /// Set for work nobody waits for (the AI lane): its writes wait until no other writer does.
    static BACKGROUND: bool;
}

/// Run `work` as background work when `background` (its SQLite writes go after every other
/// writer waiting at the gate), as itself otherwise.
pub async fn background<F: std::future::Future>(background: bool, work: F) -> F::Output {
    BACKGROUND.scope(background, work).await
}

fn in_background() -> bool {
    BACKGROUND.try_with(|b| *b).unwrap_or(false)
}

/// Which database engine the URL chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Store errors: what callers can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error(transparent)]
    Other(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Map unique-constraint violations to `Conflict` at the boundary.
pub(crate) fn conflict(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            return StoreError::Conflict(db.message().to_string());
        }
    }
    StoreError::Other(e)
}

/// The database. SQLite allows one writer at a time, and a writer that finds the file locked
/// sleeps in SQLite's busy handler, in steps of up to 100 ms, and so starts late. On SQLite
/// every write (a transaction from [`Store::begin`], a single writing statement through
/// `Store::write`) first takes an in-process gate (`gate.rs`): writers wait their turn in
/// order, inbound first ([`Store::begin_inbound`]), and start the moment the one before them
/// is done. Readers never wait for it (WAL). A writer
/// that waits more than ten seconds gets an error, and the log names where the holder took
/// the gate. Two rules keep it from waiting on itself: a `WriteConn` lives for one
/// statement (bind the result before matching on it), and nothing that holds a [`Tx`]
/// calls a `Store` method that writes (use the `&mut Conn` functions inside it).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// Background work's reads (`Store::reader`).
    background: AnyPool,
    engine: Engine,
    gate: Option<gate::Gate>,
    lull: gate::Lull,
}

impl Store {
    /// Connect by URL (`sqlite://path` or `postgres://…`). The SQLite file is created if
    /// missing; every pooled SQLite connection gets WAL, foreign keys and a busy timeout.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let engine = if url.starts_with("sqlite:") { Engine::Sqlite } else { Engine::Postgres };
        let url = match engine {
            Engine::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { "&" } else { "?" })
            }
            _ => url.to_string(),
        };
        if engine == Engine::Sqlite {
            if let Some(path) = sqlite_path(&url) {
                if let Some(dir) = std::path::Path::new(&path).parent() {
                    if !dir.as_os_str().is_empty() {
                        std::fs::create_dir_all(dir).map_err(|e| StoreError::Other(sqlx::Error::Io(e)))?;
                    }
                }
            }
        }
        let options = AnyConnectOptions::from_str(&url)?;
        let (max, background_max) = match engine {
            Engine::Sqlite => (4, 2),
            Engine::Postgres => (16, 4),
        };
        let pool = pool_options(engine, max).connect_with(options.clone()).await?;
        // Background work reads through connections of its own, opened when first needed
        // (an in-memory SQLite database is one connection's own: there it shares the pool).
        let background = match engine {
            Engine::Sqlite if sqlite_path(&url).is_none() => pool.clone(),
            _ => pool_options(engine, background_max).connect_lazy_with(options),
        };
        let gate = (engine == Engine::Sqlite).then(gate::Gate::default);
        Ok(Store { pool, background, engine, gate, lull: gate::Lull::default() })
    }

    /// The pool a read goes to: background work (the AI lane) reads through its own few
    /// connections, so that eight AI jobs reading a conversation each never leave a writer
    /// of the bridge — holding SQLite's write gate — waiting for a connection of the main
    /// pool (SQLite's has four). Writes always use the main pool, behind the gate.
    fn reader(&self) -> &AnyPool {
        if in_background() {
            &self.background
        } else {
            &self.pool
        }
    }

    /// Take the write gate for the writer at `at` (SQLite); on PostgreSQL, where writers run
    /// side by side, count it among the writers at work, or (background work) wait for a lull.
    async fn gate(&self, turn: gate::Turn, at: &'static std::panic::Location<'static>) -> Result<gate::Pass> {
        let turn = if turn == gate::Turn::Other && in_background() { gate::Turn::Background } else { turn };
        let Some(gate) = &self.gate else {
            if turn == gate::Turn::Background {
                self.lull.wait(BACKGROUND_WAIT).await;
                return Ok(gate::Pass::Background);
            }
            return Ok(gate::Pass::AtWork(self.lull.enter()));
        };
        let limit = if turn == gate::Turn::Background { BACKGROUND_WAIT } else { GATE_TIMEOUT };
        match gate.take(turn, at, limit).await {
            Ok(held) => Ok(gate::Pass::Gate(held)),
            Err(waited) => {
                let holder = waited.holder.map(|h| h.to_string()).unwrap_or_default();
                tracing::error!(writer = %at, holder = %holder, "waited too long for the database's write gate");
                Err(StoreError::Other(sqlx::Error::PoolTimedOut))
            }
        }
    }

    /// A connection for one writing statement outside a transaction.
    #[track_caller]
    pub(crate) fn write(&self) -> impl std::future::Future<Output = Result<WriteConn>> + '_ {
        let at = std::panic::Location::caller();
        async move {
            let gate = self.gate(gate::Turn::Other, at).await?;
            Ok(WriteConn { conn: self.pool.acquire().await?, _gate: gate })
        }
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Apply pending migrations for this engine.
    pub async fn migrate(&self) -> Result<()> {
        match self.engine {
            Engine::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.pool).await?,
            Engine::Postgres => sqlx::migrate!("migrations/postgres").run(&self.pool).await?,
        }
        Ok(())
    }

    /// Start a write transaction. On SQLite it takes the write gate, then the write lock
    /// at once (`BEGIN IMMEDIATE`), so a read lock never has to be upgraded.
    #[track_caller]
    pub fn begin(&self) -> impl std::future::Future<Output = Result<Tx>> + '_ {
        self.begin_turn(gate::Turn::Other, std::panic::Location::caller())
    }

    /// A write transaction that stores what a customer just sent: on SQLite it goes through
    /// the gate before every other writer waiting (the messenger waits for the answer).
    #[track_caller]
    pub fn begin_inbound(&self) -> impl std::future::Future<Output = Result<Tx>> + '_ {
        self.begin_turn(gate::Turn::Inbound, std::panic::Location::caller())
    }

    async fn begin_turn(&self, turn: gate::Turn, at: &'static std::panic::Location<'static>) -> Result<Tx> {
        let gate = self.gate(turn, at).await?;
        let tx = match self.engine {
            Engine::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Engine::Postgres => self.pool.begin().await?,
        };
        Ok(Tx { tx, _gate: gate })
    }

    /// A cheap liveness check.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.background.close().await;
    }
}

/// A pool's settings: its size, and on SQLite every connection in WAL mode with foreign keys
/// and a busy timeout.
fn pool_options(engine: Engine, max: u32) -> AnyPoolOptions {
    AnyPoolOptions::new().max_connections(max).acquire_timeout(Duration::from_secs(30)).after_connect(
        move |conn, _meta| {
            Box::pin(async move {
                if engine == Engine::Sqlite {
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                }
                Ok(())
            })
        },
    )
}

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(path.to_string())
}

/// `$a, $b, …` for `n` parameters starting after `start` (an `IN (…)` list).
pub(crate) fn params(start: usize, n: usize) -> String {
    (start + 1..=start + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Read a column, naming it if the stored value cannot be read.
pub(crate) fn col<'r, T>(row: &'r sqlx::any::AnyRow, name: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    use sqlx::Row;
    row.try_get(name).map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_are_found_in_urls() {
        assert_eq!(sqlite_path("sqlite://forecourt.db?mode=rwc").as_deref(), Some("forecourt.db"));
        assert_eq!(sqlite_path("sqlite:///tmp/x/y.db").as_deref(), Some("/tmp/x/y.db"));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }

    /// Background work (the AI lane) reads through connections of its own: with every
    /// connection of the main pool taken (busy bridge writers), its reads still go through
    /// at once, while a read of the bridge's own waits for the main pool.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn background_reads_do_not_wait_for_the_main_pool() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}/r.db", dir.path().display())).await.unwrap();
        store.migrate().await.unwrap();
        let mut taken = Vec::new();
        while let Ok(Ok(c)) = tokio::time::timeout(Duration::from_millis(200), store.pool.acquire()).await {
            taken.push(c);
        }
        assert_eq!(taken.len(), 4, "the main pool's four connections are all taken");
        let quick = Duration::from_secs(5);
        let read = tokio::time::timeout(quick, background(true, store.lead_ids())).await;
        assert!(matches!(read, Ok(Ok(ref ids)) if ids.is_empty()), "a background read went through: {read:?}");
        let read = tokio::time::timeout(Duration::from_millis(300), background(false, store.lead_ids())).await;
        assert!(read.is_err(), "a foreground read waits for the main pool");
        drop(taken);
        let read = tokio::time::timeout(quick, store.lead_ids()).await;
        assert!(matches!(read, Ok(Ok(_))), "and goes through once a connection is back");
    }
}
