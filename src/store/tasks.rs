//! Tasks people write (`/task`) and the stale leads' follow-ups: created, shown in the
//! topic by their own message, done, put off. Callbacks after missed calls are the same
//! rows (`store::calls`), with their own kind.

use super::calls::{task_from, TaskRow, TASK_SELECT};
use super::{col, Conn, Result, Store};
use crate::domain::task::TaskKind;
use crate::domain::{LeadId, TaskId, UserId};

pub struct NewTask<'a> {
    pub lead: LeadId,
    pub kind: TaskKind,
    pub user: Option<UserId>,
    pub title: &'a str,
    pub due_at: i64,
    pub created_by: Option<UserId>,
}

pub async fn insert_task(conn: &mut Conn, t: &NewTask<'_>, now: i64) -> Result<TaskId> {
    let row = sqlx::query(
        "INSERT INTO tasks (lead_id, kind, user_id, title, due_at, state, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $7) RETURNING id",
    )
    .bind(t.lead.0)
    .bind(t.kind.as_str())
    .bind(t.user.map(|u| u.0))
    .bind(t.title)
    .bind(t.due_at)
    .bind(t.created_by.map(|u| u.0))
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(TaskId(col(&row, "id")?))
}

/// Close an open task; false when it was closed already.
pub async fn close_task(conn: &mut Conn, id: TaskId, by: UserId, how: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE tasks SET state = 'done', done_at = $2, done_by = $3, done_how = $4, updated_at = $2
         WHERE id = $1 AND state = 'open'",
    )
    .bind(id.0)
    .bind(now)
    .bind(by.0)
    .bind(how)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Put an open task off to `due_at`: reminded and escalated afresh when that comes.
pub async fn put_off_task(conn: &mut Conn, id: TaskId, due_at: i64, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE tasks SET due_at = $2, reminded_at = NULL, escalated_at = NULL, updated_at = $3
         WHERE id = $1 AND state = 'open'",
    )
    .bind(id.0)
    .bind(due_at)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The lead's next open task (its card shows it).
pub async fn next_task_of(conn: &mut Conn, lead: LeadId) -> Result<Option<TaskRow>> {
    let row = sqlx::query(&format!(
        "{TASK_SELECT} WHERE t.lead_id = $1 AND t.state = 'open' ORDER BY t.due_at, t.id LIMIT 1"
    ))
    .bind(lead.0)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(task_from).transpose()
}

impl Store {
    pub async fn task(&self, id: TaskId) -> Result<Option<TaskRow>> {
        let row =
            sqlx::query(&format!("{TASK_SELECT} WHERE t.id = $1")).bind(id.0).fetch_optional(self.reader()).await?;
        row.as_ref().map(task_from).transpose()
    }

    /// Where the task's message was posted.
    pub async fn set_task_message(&self, id: TaskId, chat: i64, message: i32) -> Result<()> {
        sqlx::query("UPDATE tasks SET staff_chat_id = $2, staff_message_id = $3 WHERE id = $1")
            .bind(id.0)
            .bind(chat)
            .bind(i64::from(message))
            .execute(&mut *self.write().await?)
            .await?;
        Ok(())
    }

    pub async fn next_task(&self, lead: LeadId) -> Result<Option<TaskRow>> {
        next_task_of(&mut *self.reader().acquire().await?, lead).await
    }
}
