//! Staff users: registered by Telegram id, with a role and an optional home staff group.

use super::{col, Result, Store, StoreError};
use crate::domain::{Role, TelegramUserId, UserId};
use sqlx::any::AnyRow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: UserId,
    pub telegram_id: TelegramUserId,
    pub name: String,
    pub role: Role,
    pub staff_chat_id: Option<i64>,
    pub active: bool,
    /// Their extension in the PBX (calls answered there are theirs).
    pub extension: Option<String>,
}

impl UserRow {
    pub fn first_name(&self) -> &str {
        self.name.split_whitespace().next().unwrap_or(&self.name)
    }
}

pub(super) fn user_from(row: &AnyRow) -> Result<UserRow> {
    let role: String = col(row, "role")?;
    Ok(UserRow {
        id: UserId(col(row, "id")?),
        telegram_id: TelegramUserId(col(row, "telegram_id")?),
        name: col(row, "name")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("unknown role {role}")))?,
        staff_chat_id: col(row, "staff_chat_id")?,
        active: col::<i64>(row, "active")? == 1,
        extension: col(row, "extension")?,
    })
}

pub(super) const USER_COLS: &str = "id, telegram_id, name, role, staff_chat_id, active, extension";

/// A staff user, read inside a transaction.
pub async fn user_in_tx(conn: &mut super::Conn, id: UserId) -> Result<Option<UserRow>> {
    let row = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"))
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(user_from).transpose()
}

impl Store {
    /// Add a user, or update the one with this Telegram id (and re-enable it).
    /// Returns the row and whether it was new.
    pub async fn upsert_user(
        &self,
        telegram_id: TelegramUserId,
        name: &str,
        role: Role,
        staff_chat_id: Option<i64>,
        now: i64,
    ) -> Result<(UserRow, bool)> {
        let existing = self.user_by_telegram(telegram_id).await?;
        let sql = format!(
            "INSERT INTO users (telegram_id, name, role, staff_chat_id, active, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 1, $5, $5)
             ON CONFLICT (telegram_id) DO UPDATE SET name = $2, role = $3,
                 staff_chat_id = COALESCE($4, users.staff_chat_id), active = 1, updated_at = $5
             RETURNING {USER_COLS}"
        );
        let row = sqlx::query(&sql)
            .bind(telegram_id.0)
            .bind(name)
            .bind(role.as_str())
            .bind(staff_chat_id)
            .bind(now)
            .fetch_one(&mut *self.write().await?)
            .await?;
        Ok((user_from(&row)?, existing.is_none()))
    }

    pub async fn user_by_telegram(&self, telegram_id: TelegramUserId) -> Result<Option<UserRow>> {
        let row = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE telegram_id = $1"))
            .bind(telegram_id.0)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(user_from).transpose()
    }

    pub async fn user_by_id(&self, id: UserId) -> Result<Option<UserRow>> {
        let row = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(user_from).transpose()
    }

    pub async fn list_users(&self) -> Result<Vec<UserRow>> {
        let rows = sqlx::query(&format!("SELECT {USER_COLS} FROM users ORDER BY id")).fetch_all(self.reader()).await?;
        rows.iter().map(user_from).collect()
    }

    /// Enable or disable a user. A disabled user is treated as unregistered.
    pub async fn set_user_active(&self, telegram_id: TelegramUserId, active: bool, now: i64) -> Result<UserRow> {
        let row = sqlx::query(&format!(
            "UPDATE users SET active = $1, updated_at = $2 WHERE telegram_id = $3 RETURNING {USER_COLS}"
        ))
        .bind(i64::from(active))
        .bind(now)
        .bind(telegram_id.0)
        .fetch_optional(&mut *self.write().await?)
        .await?;
        row.as_ref().map(user_from).transpose()?.ok_or(StoreError::NotFound)
    }

    /// Which of these Telegram users are active staff (one query for a batch of updates).
    pub async fn active_staff_among(&self, telegram_ids: &[i64]) -> Result<std::collections::HashSet<i64>> {
        if telegram_ids.is_empty() {
            return Ok(Default::default());
        }
        let sql = format!(
            "SELECT telegram_id FROM users WHERE active = 1 AND telegram_id IN ({})",
            super::params(0, telegram_ids.len())
        );
        let mut q = sqlx::query(&sql);
        for id in telegram_ids {
            q = q.bind(*id);
        }
        q.fetch_all(self.reader()).await?.iter().map(|r| col(r, "telegram_id")).collect()
    }
}
