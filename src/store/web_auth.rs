//! The reporting page's logins: one-time links and the sessions they open. Only hashes of
//! tokens are kept; the caller hashes (`web::auth`), this room only stores and checks times.

use super::users::{user_from, USER_COLS};
use super::{col, Result, Store, UserRow};
use crate::domain::UserId;

impl Store {
    /// Keep a login link's hash, valid until `expires_at`.
    pub async fn insert_login(&self, token_hash: &str, user: UserId, now: i64, expires_at: i64) -> Result<()> {
        let mut conn = self.write().await?;
        sqlx::query("INSERT INTO web_logins (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(user.0)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// The active user a login link would sign in, without spending it.
    pub async fn login_user(&self, token_hash: &str, now: i64) -> Result<Option<UserRow>> {
        let row =
            sqlx::query("SELECT user_id FROM web_logins WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2")
                .bind(token_hash)
                .bind(now)
                .fetch_optional(self.reader())
                .await?;
        let Some(row) = row else { return Ok(None) };
        let user = self.user_by_id(UserId(col(&row, "user_id")?)).await?;
        Ok(user.filter(|u| u.active))
    }

    /// Use a login link once: its active user, or `None` when it is unknown, used, expired,
    /// or its user was disabled since. A link is spent by the first try, whoever wins.
    pub async fn use_login(&self, token_hash: &str, now: i64) -> Result<Option<UserRow>> {
        let mut conn = self.write().await?;
        let row = sqlx::query(
            "UPDATE web_logins SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
             RETURNING user_id",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        drop(conn);
        let Some(row) = row else { return Ok(None) };
        let user = self.user_by_id(UserId(col(&row, "user_id")?)).await?;
        Ok(user.filter(|u| u.active))
    }

    /// Open a session (the cookie's hash) until `expires_at`.
    pub async fn insert_session(&self, token_hash: &str, user: UserId, now: i64, expires_at: i64) -> Result<()> {
        let mut conn = self.write().await?;
        sqlx::query("INSERT INTO web_sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(user.0)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// The active user of a live session.
    pub async fn session_user(&self, token_hash: &str, now: i64) -> Result<Option<UserRow>> {
        let cols = USER_COLS.split(", ").map(|c| format!("u.{}", c.trim())).collect::<Vec<_>>().join(", ");
        let row = sqlx::query(&format!(
            "SELECT {cols} FROM web_sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.ended_at IS NULL AND s.expires_at > $2 AND u.active = 1"
        ))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(user_from).transpose()
    }

    /// End a session (`/logout`); false when it was not live.
    pub async fn end_session(&self, token_hash: &str, now: i64) -> Result<bool> {
        let mut conn = self.write().await?;
        let r = sqlx::query("UPDATE web_sessions SET ended_at = $2 WHERE token_hash = $1 AND ended_at IS NULL")
            .bind(token_hash)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        Ok(r.rows_affected() == 1)
    }
}
