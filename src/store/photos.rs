//! Vehicle photos: a car's album is its media rows with `vehicle_id` set (each picture once
//! per car), filled from staff photos captioned `/photo` and from customers' photos a
//! manager picks; and the bookkeeping around sending them to a customer.

use super::{col, Conn, Result, Store};
use crate::domain::{LeadId, MediaId, MessageRowId, VehicleId};

/// One of a car's photos, as the senders need it.
#[derive(Debug, Clone, PartialEq)]
pub struct VehiclePhoto {
    pub id: MediaId,
    /// Relative to the media store's root.
    pub path: String,
    pub name: String,
    pub mime: String,
}

/// A kept picture to add to a car's album.
#[derive(Debug, Clone)]
pub struct NewVehiclePhoto<'a> {
    pub vehicle: VehicleId,
    pub file_path: &'a str,
    pub sha256: &'a str,
    pub size: i64,
    pub name: &'a str,
    pub mime: &'a str,
    pub telegram_file_id: Option<&'a str>,
}

/// Add a picture to a car's album. `false`: the car had this picture already.
pub async fn add_vehicle_photo(conn: &mut Conn, p: &NewVehiclePhoto<'_>, now: i64) -> Result<bool> {
    let row = sqlx::query(
        "INSERT INTO media (kind, file_path, telegram_file_id, sha256, size_bytes, original_name, mime, vehicle_id,
             status, created_at, updated_at)
         VALUES ('photo', $1, $2, $3, $4, $5, $6, $7, 'ready', $8, $8)
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(p.file_path)
    .bind(p.telegram_file_id)
    .bind(p.sha256)
    .bind(p.size)
    .bind(p.name)
    .bind(p.mime)
    .bind(p.vehicle.0)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.is_some())
}

/// The car's photos in the order they were added.
pub async fn vehicle_photos_in_tx(conn: &mut Conn, vehicle: VehicleId) -> Result<Vec<VehiclePhoto>> {
    let rows = sqlx::query(
        "SELECT id, file_path, original_name, mime FROM media
         WHERE vehicle_id = $1 AND status = 'ready' AND file_path IS NOT NULL ORDER BY id",
    )
    .bind(vehicle.0)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(VehiclePhoto {
                id: MediaId(col(r, "id")?),
                path: col(r, "file_path")?,
                name: col::<Option<String>>(r, "original_name")?.unwrap_or_else(|| "photo.jpg".into()),
                mime: col::<Option<String>>(r, "mime")?.unwrap_or_else(|| "image/jpeg".into()),
            })
        })
        .collect()
}

/// How many photos a car has.
pub async fn vehicle_photo_count(conn: &mut Conn, vehicle: VehicleId) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM media WHERE vehicle_id = $1 AND status = 'ready'")
        .bind(vehicle.0)
        .fetch_one(&mut *conn)
        .await?;
    col(&row, "n")
}

/// A kept file of a customer's message, shown in the topic as `staff_message_id`.
#[derive(Debug, Clone)]
pub struct ShownFile {
    pub message: MessageRowId,
    /// `None` while the file is still being fetched (or if it could not be kept).
    pub path: Option<String>,
    pub sha256: Option<String>,
    pub size: Option<i64>,
    pub name: Option<String>,
    pub mime: Option<String>,
    pub fetching: bool,
}

/// The customer files of a lead that the topic shows as this Telegram message (an album's
/// items each have their own).
pub async fn files_shown_as(conn: &mut Conn, lead: LeadId, staff_message_id: i32) -> Result<Vec<ShownFile>> {
    let rows = sqlx::query(
        "SELECT m.id, m.media_id, md.status, md.file_path, md.sha256, md.size_bytes, md.original_name, md.mime
         FROM messages m LEFT JOIN media md ON md.id = m.media_id
         WHERE m.lead_id = $1 AND m.staff_message_id = $2 AND m.direction = 'incoming'
           AND m.kind IN ('photo', 'document') ORDER BY m.id",
    )
    .bind(lead.0)
    .bind(staff_message_id as i64)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let ready = col::<Option<String>>(r, "status")?.as_deref() == Some("ready");
            Ok(ShownFile {
                message: MessageRowId(col(r, "id")?),
                path: col::<Option<String>>(r, "file_path")?.filter(|_| ready),
                sha256: col(r, "sha256")?,
                size: col(r, "size_bytes")?,
                name: col(r, "original_name")?,
                mime: col(r, "mime")?,
                fetching: col::<Option<i64>>(r, "media_id")?.is_none(),
            })
        })
        .collect()
}

/// Remember that a staff album goes to this car.
pub async fn set_staff_album(conn: &mut Conn, media_group_id: &str, vehicle: VehicleId, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO staff_albums (media_group_id, vehicle_id, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (media_group_id) DO UPDATE SET vehicle_id = excluded.vehicle_id",
    )
    .bind(media_group_id)
    .bind(vehicle.0)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The car a staff album goes to, if its captioned picture named one.
pub async fn staff_album_vehicle(conn: &mut Conn, media_group_id: &str) -> Result<Option<VehicleId>> {
    let row = sqlx::query("SELECT vehicle_id FROM staff_albums WHERE media_group_id = $1")
        .bind(media_group_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| col(&r, "vehicle_id").map(VehicleId)).transpose()
}

/// Whether any of these files is already waiting to be delivered to the lead's customer
/// (a second press of Send photos while the first is on its way).
pub async fn sending_any(conn: &mut Conn, lead: LeadId, media: &[MediaId]) -> Result<bool> {
    if media.is_empty() {
        return Ok(false);
    }
    let list = super::params(1, media.len());
    let sql = format!(
        "SELECT 1 AS one FROM messages WHERE lead_id = $1 AND direction = 'outgoing' AND delivery = 'pending'
         AND media_id IN ({list}) LIMIT 1"
    );
    let mut q = sqlx::query(&sql).bind(lead.0);
    for m in media {
        q = q.bind(m.0);
    }
    Ok(q.fetch_optional(&mut *conn).await?.is_some())
}

/// Point an outgoing message at a kept file (a car's photo sent to a customer).
pub async fn set_message_media(conn: &mut Conn, message: MessageRowId, media: MediaId) -> Result<()> {
    sqlx::query("UPDATE messages SET media_id = $1 WHERE id = $2").bind(media.0).bind(message.0).execute(conn).await?;
    Ok(())
}

impl Store {
    /// A car's photos, outside a transaction.
    pub async fn vehicle_photos(&self, vehicle: VehicleId) -> Result<Vec<VehiclePhoto>> {
        let mut conn = self.reader().acquire().await?;
        vehicle_photos_in_tx(&mut conn, vehicle).await
    }
}

/// Whether the customer can be written to on a channel: (unsubscribed or blocked, their
/// last message time as the messenger reported it). `None`: no identity there.
pub async fn reach(
    conn: &mut Conn,
    customer: crate::domain::CustomerId,
    channel: crate::domain::Channel,
) -> Result<Option<(bool, Option<i64>)>> {
    let row =
        sqlx::query("SELECT blocked, last_inbound_at FROM customer_identities WHERE customer_id = $1 AND channel = $2")
            .bind(customer.0)
            .bind(channel.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    row.map(|r| Ok((col::<i64>(&r, "blocked")? == 1, col(&r, "last_inbound_at")?))).transpose()
}
