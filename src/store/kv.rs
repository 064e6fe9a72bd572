//! Small keyed values (`kv`: offsets, keys) and the Telegram updates already seen.

use super::{col, Conn, Result, Store};

/// Record an update id as processed. False if it was already seen: the caller stops.
pub async fn mark_update_seen(conn: &mut Conn, source: &str, update_id: i64, now: i64) -> Result<bool> {
    let res =
        sqlx::query("INSERT INTO seen_updates (source, update_id, at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(source)
            .bind(update_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    Ok(res.rows_affected() == 1)
}

impl Store {
    /// A key-value setting (e.g. the Telegram update offset).
    pub async fn kv_get(&self, key: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM kv WHERE key = $1").bind(key).fetch_optional(self.reader()).await?;
        row.map(|r| col(&r, "value")).transpose()
    }

    pub async fn kv_insert_if_absent(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query("INSERT INTO kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&mut *self.write().await?)
            .await?;
        Ok(())
    }

    pub async fn kv_set(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query("INSERT INTO kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2")
            .bind(key)
            .bind(value)
            .execute(&mut *self.write().await?)
            .await?;
        Ok(())
    }
}
