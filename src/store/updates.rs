//! Telegram updates set aside: ones that could not be stored after several tries, kept with
//! their raw JSON so the poller (or the webhook) can move on and an admin can replay them.

use super::{col, Result, Store};
use sqlx::any::AnyRow;

/// An update kept aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedUpdate {
    pub id: i64,
    /// Which bot it came to (`tg:<bot id>`).
    pub source: String,
    pub update_id: i64,
    pub raw: String,
    pub error: String,
    pub attempts: i64,
    pub created_at: i64,
    /// When a replay stored it; `None` while it waits.
    pub replayed_at: Option<i64>,
}

fn from_row(r: &AnyRow) -> Result<FailedUpdate> {
    Ok(FailedUpdate {
        id: col(r, "id")?,
        source: col(r, "source")?,
        update_id: col(r, "update_id")?,
        raw: col(r, "raw")?,
        error: col(r, "error")?,
        attempts: col(r, "attempts")?,
        created_at: col(r, "created_at")?,
        replayed_at: col(r, "replayed_at")?,
    })
}

const COLS: &str = "id, source, update_id, raw, error, attempts, created_at, replayed_at";

impl Store {
    /// Keep an update aside (again, if it was set aside before and replayed in vain).
    pub async fn set_aside_update(
        &self,
        source: &str,
        update_id: i64,
        raw: &str,
        error: &str,
        attempts: i64,
        now: i64,
    ) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO failed_updates (source, update_id, raw, error, attempts, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (source, update_id) DO UPDATE SET error = excluded.error,
                 attempts = failed_updates.attempts + excluded.attempts, replayed_at = NULL
             RETURNING id",
        )
        .bind(source)
        .bind(update_id)
        .bind(raw)
        .bind(error)
        .bind(attempts)
        .bind(now)
        .fetch_one(self.reader())
        .await?;
        col(&row, "id")
    }

    /// The updates waiting for a replay, oldest first.
    pub async fn failed_updates(&self) -> Result<Vec<FailedUpdate>> {
        let rows = sqlx::query(&format!("SELECT {COLS} FROM failed_updates WHERE replayed_at IS NULL ORDER BY id"))
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn failed_update(&self, id: i64) -> Result<Option<FailedUpdate>> {
        let row = sqlx::query(&format!("SELECT {COLS} FROM failed_updates WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// A replay stored it.
    pub async fn update_replayed(&self, id: i64, now: i64) -> Result<()> {
        sqlx::query("UPDATE failed_updates SET replayed_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *self.write().await?)
            .await?;
        Ok(())
    }
}
