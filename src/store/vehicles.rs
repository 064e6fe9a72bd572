//! Vehicles: upsert from imports and the ERP (by VIN, falling back to the ERP's reference),
//! and listing for admins and scripts.

use super::{col, Conn, Result, Store, StoreError};
use crate::domain::vehicle::{DataVersion, ErpVersion, VehicleStatus};
use crate::domain::{LeadId, VehicleId};
use serde::Serialize;

/// A vehicle as an import or the ERP describes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VehicleInput {
    pub vin: Option<String>,
    pub vin_check_ok: bool,
    pub stock_number: Option<String>,
    pub make: String,
    pub model: String,
    pub trim: Option<String>,
    pub year: Option<i64>,
    pub price_minor: Option<i64>,
    pub currency: Option<String>,
    pub mileage_km: Option<i64>,
    pub color: Option<String>,
    pub status: Option<VehicleStatus>,
    pub erp_id: Option<String>,
    /// What the ERP said of this record (ERP events only).
    pub erp: ErpVersion,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VehicleRow {
    pub id: VehicleId,
    pub vin: Option<String>,
    pub vin_check_ok: bool,
    pub stock_number: Option<String>,
    pub make: String,
    pub model: String,
    pub trim: Option<String>,
    pub year: Option<i64>,
    pub price_minor: Option<i64>,
    pub currency: Option<String>,
    pub mileage_km: Option<i64>,
    pub color: Option<String>,
    pub status: VehicleStatus,
    pub erp_id: Option<String>,
    pub updated_at: i64,
}

/// Whether an upsert made a new row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Created(VehicleId),
    Updated(VehicleId),
}

/// The stored vehicle an input means: by VIN, else by ERP reference (only if that car has no
/// VIN yet or the same one: a different VIN under the same reference is a mistake to show,
/// not to merge). Returns its id and what the ERP last said of it.
pub async fn find_vehicle(
    conn: &mut Conn,
    vin: Option<&str>,
    erp_id: Option<&str>,
) -> Result<Option<(VehicleId, ErpVersion)>> {
    let version = |r: &sqlx::any::AnyRow| -> Result<(VehicleId, ErpVersion)> {
        let ordered: Option<i64> = col(r, "data_version")?;
        let opaque: Option<String> = col(r, "data_version_text")?;
        let data_version = opaque.map(DataVersion::Opaque).or(ordered.map(DataVersion::Ordered));
        Ok((VehicleId(col(r, "id")?), ErpVersion { data_version, sent_at: col(r, "erp_sent_at")? }))
    };
    if let Some(vin) = vin {
        let row = sqlx::query("SELECT id, data_version, data_version_text, erp_sent_at FROM vehicles WHERE vin = $1")
            .bind(vin)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(r) = row {
            return version(&r).map(Some);
        }
    }
    let Some(erp) = erp_id else { return Ok(None) };
    let row =
        sqlx::query("SELECT id, vin, data_version, data_version_text, erp_sent_at FROM vehicles WHERE erp_id = $1")
            .bind(erp)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(r) = row else { return Ok(None) };
    let stored: Option<String> = col(&r, "vin")?;
    if let (Some(stored), Some(given)) = (&stored, vin) {
        if stored != given {
            return Err(StoreError::Conflict(format!(
                "ERP reference {erp} belongs to the vehicle with VIN {stored}, not {given}"
            )));
        }
    }
    version(&r).map(Some)
}

/// Insert or update by VIN, else by ERP reference ([`find_vehicle`]). A field the input
/// leaves empty keeps its stored value; a status left empty keeps the stored one (a new
/// vehicle is available).
pub async fn upsert_vehicle(conn: &mut Conn, v: &VehicleInput, now: i64) -> Result<Upserted> {
    let existing = find_vehicle(conn, v.vin.as_deref(), v.erp_id.as_deref()).await?.map(|(id, _)| id);
    let status = v.status.map(|s| s.as_str());
    let (ordered, opaque) = match &v.erp.data_version {
        Some(DataVersion::Ordered(n)) => (Some(*n), None),
        Some(DataVersion::Opaque(s)) => (None, Some(s.clone())),
        None => (None, None),
    };
    match existing {
        Some(id) => {
            sqlx::query(
                "UPDATE vehicles SET vin = COALESCE($1, vin), vin_check_ok = CASE WHEN $1 IS NULL THEN vin_check_ok ELSE $2 END,
                     stock_number = COALESCE($3, stock_number),
                     make = CASE WHEN $4 = '' THEN make ELSE $4 END, model = CASE WHEN $5 = '' THEN model ELSE $5 END,
                     trim = COALESCE($6, trim),
                     year = COALESCE($7, year), price_minor = COALESCE($8, price_minor),
                     currency = COALESCE($9, currency), mileage_km = COALESCE($10, mileage_km),
                     color = COALESCE($11, color), status = COALESCE($12, status), erp_id = COALESCE($13, erp_id),
                     updated_at = $14, data_version = CASE WHEN $20 = 1 THEN $16 ELSE data_version END,
                     data_version_text = CASE WHEN $20 = 1 THEN $21 ELSE data_version_text END,
                     erp_sent_at = COALESCE($17, erp_sent_at),
                     vin_last4 = COALESCE($18, vin_last4), vin_last6 = COALESCE($19, vin_last6)
                 WHERE id = $15",
            )
            .bind(v.vin.clone())
            .bind(i64::from(v.vin_check_ok))
            .bind(v.stock_number.clone())
            .bind(&v.make)
            .bind(&v.model)
            .bind(v.trim.clone())
            .bind(v.year)
            .bind(v.price_minor)
            .bind(v.currency.clone())
            .bind(v.mileage_km)
            .bind(v.color.clone())
            .bind(status)
            .bind(v.erp_id.clone())
            .bind(now)
            .bind(id.0)
            .bind(ordered)
            .bind(v.erp.sent_at)
            .bind(last(v.vin.as_deref(), 4))
            .bind(last(v.vin.as_deref(), 6))
            .bind(i64::from(v.erp.data_version.is_some()))
            .bind(opaque.clone())
            .execute(&mut *conn)
            .await
            .map_err(super::conflict)?;
            Ok(Upserted::Updated(id))
        }
        None => {
            let row = sqlx::query(
                "INSERT INTO vehicles (vin, vin_check_ok, stock_number, make, model, trim, year, price_minor, currency,
                     mileage_km, color, status, erp_id, created_at, updated_at, data_version, erp_sent_at, vin_last4, vin_last6,
                     data_version_text)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15, $16, $17, $18, $19) RETURNING id",
            )
            .bind(v.vin.clone())
            .bind(i64::from(v.vin_check_ok))
            .bind(v.stock_number.clone())
            .bind(&v.make)
            .bind(&v.model)
            .bind(v.trim.clone())
            .bind(v.year)
            .bind(v.price_minor)
            .bind(v.currency.clone())
            .bind(v.mileage_km)
            .bind(v.color.clone())
            .bind(status.unwrap_or("available"))
            .bind(v.erp_id.clone())
            .bind(now)
            .bind(ordered)
            .bind(v.erp.sent_at)
            .bind(last(v.vin.as_deref(), 4))
            .bind(last(v.vin.as_deref(), 6))
            .bind(opaque)
            .fetch_one(&mut *conn)
            .await
            .map_err(super::conflict)?;
            Ok(Upserted::Created(VehicleId(col(&row, "id")?)))
        }
    }
}

/// The last `n` characters of a VIN (the search keys).
fn last(vin: Option<&str>, n: usize) -> Option<String> {
    vin.filter(|v| v.len() >= n).map(|v| v[v.len() - n..].to_string())
}

/// A search, resolved to what the database can look up by index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VehicleFilter {
    /// (make, model) pairs; empty means any.
    pub names: Vec<(String, String)>,
    pub year: Option<i64>,
    /// The end of a VIN, upper-case.
    pub vin_tail: Option<String>,
    pub include_archived: bool,
}

const VEHICLE_SELECT: &str = "SELECT id, vin, vin_check_ok, stock_number, make, model, trim, year, price_minor,
    currency, mileage_km, color, status, erp_id, updated_at FROM vehicles";

fn vehicle_from(r: &sqlx::any::AnyRow) -> Result<VehicleRow> {
    let status: String = col(r, "status")?;
    Ok(VehicleRow {
        id: VehicleId(col(r, "id")?),
        vin: col(r, "vin")?,
        vin_check_ok: col::<i64>(r, "vin_check_ok")? == 1,
        stock_number: col(r, "stock_number")?,
        make: col(r, "make")?,
        model: col(r, "model")?,
        trim: col(r, "trim")?,
        year: col(r, "year")?,
        price_minor: col(r, "price_minor")?,
        currency: col(r, "currency")?,
        mileage_km: col(r, "mileage_km")?,
        color: col(r, "color")?,
        status: VehicleStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("vehicle status {status}")))?,
        erp_id: col(r, "erp_id")?,
        updated_at: col(r, "updated_at")?,
    })
}

impl Store {
    /// Insert many new vehicles at once (benchmarks, first loads): 500 rows a statement.
    pub async fn insert_vehicles(&self, vs: &[VehicleInput], now: i64) -> Result<()> {
        const COLS: usize = 10;
        let mut tx = self.begin().await?;
        for chunk in vs.chunks(500) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p: Vec<String> = (1..=COLS).map(|k| format!("${}", i * COLS + k)).collect();
                    format!("({}, 'available', 1, $0, $0)", p.join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO vehicles (vin, make, model, year, price_minor, currency, mileage_km, erp_id, vin_last4,
                     vin_last6, status, vin_check_ok, created_at, updated_at) VALUES {}",
                values.join(", ")
            )
            .replace("$0", &now.to_string());
            let mut q = sqlx::query(&sql);
            for v in chunk {
                q = q
                    .bind(v.vin.clone())
                    .bind(v.make.clone())
                    .bind(v.model.clone())
                    .bind(v.year)
                    .bind(v.price_minor)
                    .bind(v.currency.clone())
                    .bind(v.mileage_km)
                    .bind(v.erp_id.clone())
                    .bind(last(v.vin.as_deref(), 4))
                    .bind(last(v.vin.as_deref(), 6));
            }
            q.execute(&mut *tx).await.map_err(super::conflict)?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every (make, model) in stock, for resolving what a manager typed.
    pub async fn vehicle_names(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT DISTINCT make, model FROM vehicles").fetch_all(self.reader()).await?;
        rows.iter().map(|r| Ok((col(r, "make")?, col(r, "model")?))).collect()
    }

    /// Vehicles matching a resolved search: available first, then reserved, sold, archived;
    /// newest first within each.
    pub async fn search_vehicles(&self, f: &VehicleFilter, limit: i64) -> Result<Vec<VehicleRow>> {
        let mut conds: Vec<String> = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        let bind = |v: String, binds: &mut Vec<String>| {
            binds.push(v);
            format!("${}", binds.len())
        };
        if !f.names.is_empty() {
            let pairs: Vec<String> = f
                .names
                .iter()
                .map(|(make, model)| {
                    let a = bind(make.clone(), &mut binds);
                    let b = bind(model.clone(), &mut binds);
                    format!("(make = {a} AND model = {b})")
                })
                .collect();
            conds.push(format!("({})", pairs.join(" OR ")));
        }
        if let Some(tail) = &f.vin_tail {
            // An indexed equality on the last 4 or 6 characters, then the whole tail.
            let key = if tail.len() >= 6 {
                ("vin_last6", &tail[tail.len() - 6..])
            } else {
                ("vin_last4", &tail[tail.len().saturating_sub(4)..])
            };
            let k = bind(key.1.to_string(), &mut binds);
            conds.push(format!("{} = {k}", key.0));
            let t = bind(format!("%{tail}"), &mut binds);
            conds.push(format!("vin LIKE {t}"));
        }
        if !f.include_archived {
            conds.push("status <> 'archived'".into());
        }
        let mut sql =
            format!("{VEHICLE_SELECT} WHERE {}", if conds.is_empty() { "1 = 1".into() } else { conds.join(" AND ") });
        if f.year.is_some() {
            sql.push_str(&format!(" AND year = ${}", binds.len() + 1));
        }
        sql.push_str(&format!(
            " ORDER BY CASE status WHEN 'available' THEN 0 WHEN 'reserved' THEN 1 WHEN 'sold' THEN 2 ELSE 3 END, id DESC LIMIT {}",
            limit.clamp(1, 100)
        ));
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = q.bind(b.clone());
        }
        if let Some(y) = f.year {
            q = q.bind(y);
        }
        let rows = q.fetch_all(self.reader()).await?;
        rows.iter().map(vehicle_from).collect()
    }

    /// Vehicles, newest first, optionally of one status.
    pub async fn vehicles(&self, status: Option<VehicleStatus>) -> Result<Vec<VehicleRow>> {
        let sql = "SELECT id, vin, vin_check_ok, stock_number, make, model, trim, year, price_minor, currency,
                mileage_km, color, status, erp_id, updated_at FROM vehicles
             WHERE ($1 = '' OR status = $1) ORDER BY id";
        let rows = sqlx::query(sql).bind(status.map(|s| s.as_str()).unwrap_or("")).fetch_all(self.reader()).await?;
        rows.iter().map(vehicle_from).collect()
    }
}

/// Record an ERP event as handled; `false` if it was handled before (a repeat).
pub async fn record_erp_event(conn: &mut Conn, event_id: &str, event: &str, outcome: &str, now: i64) -> Result<bool> {
    let row = sqlx::query(
        "INSERT INTO erp_events (event_id, event, outcome, received_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING RETURNING event_id",
    )
    .bind(event_id)
    .bind(event)
    .bind(outcome)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.is_some())
}

/// What an event did, once applied.
pub async fn set_erp_event_outcome(conn: &mut Conn, event_id: &str, outcome: &str) -> Result<()> {
    sqlx::query("UPDATE erp_events SET outcome = $1 WHERE event_id = $2")
        .bind(outcome)
        .bind(event_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A vehicle on a lead's card, with the other open leads that hold it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachedVehicle {
    pub vehicle: VehicleRow,
    pub other_leads: Vec<LeadId>,
    /// How many photos the car has.
    pub photos: i64,
}

pub async fn vehicle_in_tx(conn: &mut Conn, id: VehicleId) -> Result<Option<VehicleRow>> {
    let row = sqlx::query(&format!("{VEHICLE_SELECT} WHERE id = $1")).bind(id.0).fetch_optional(&mut *conn).await?;
    row.as_ref().map(vehicle_from).transpose()
}

/// The open leads other than `lead` that hold this vehicle.
pub async fn other_open_leads_holding(conn: &mut Conn, vehicle: VehicleId, lead: LeadId) -> Result<Vec<LeadId>> {
    let rows = sqlx::query(
        "SELECT lv.lead_id FROM lead_vehicles lv JOIN leads l ON l.id = lv.lead_id
         WHERE lv.vehicle_id = $1 AND lv.lead_id <> $2 AND l.is_open = 1 ORDER BY lv.lead_id",
    )
    .bind(vehicle.0)
    .bind(lead.0)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| col(r, "lead_id").map(LeadId)).collect()
}

fn describe(v: &VehicleRow) -> String {
    format!("#{} {} {}{}", v.id, v.make, v.model, v.vin.as_deref().map(|x| format!(" {x}")).unwrap_or_default())
}

/// Attach (or detach) a vehicle, with its history row. `false`: nothing changed.
pub async fn set_vehicle_link(
    conn: &mut Conn,
    lead: i64,
    vehicle: &VehicleRow,
    attach: bool,
    actor: Option<i64>,
    now: i64,
) -> Result<bool> {
    let changed = if attach {
        sqlx::query(
            "INSERT INTO lead_vehicles (lead_id, vehicle_id, created_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING RETURNING lead_id",
        )
        .bind(lead)
        .bind(vehicle.id.0)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?
        .is_some()
    } else {
        sqlx::query("DELETE FROM lead_vehicles WHERE lead_id = $1 AND vehicle_id = $2 RETURNING lead_id")
            .bind(lead)
            .bind(vehicle.id.0)
            .fetch_optional(&mut *conn)
            .await?
            .is_some()
    };
    if changed {
        let (from, to) = if attach { (None, Some(describe(vehicle))) } else { (Some(describe(vehicle)), None) };
        sqlx::query(
            "INSERT INTO lead_history (lead_id, actor_id, field, from_value, to_value, at) VALUES ($1, $2, 'vehicle', $3, $4, $5)",
        )
        .bind(lead)
        .bind(actor)
        .bind(from)
        .bind(to)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(changed)
}

impl Store {
    /// A lead's vehicles, in the order they were attached, each with the other open leads
    /// that hold it.
    pub async fn lead_vehicles(&self, lead: LeadId) -> Result<Vec<AttachedVehicle>> {
        let sql = format!(
            "{VEHICLE_SELECT} JOIN lead_vehicles lv ON lv.vehicle_id = vehicles.id WHERE lv.lead_id = $1
             ORDER BY lv.created_at, vehicles.id"
        );
        let rows = sqlx::query(&sql).bind(lead.0).fetch_all(self.reader()).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.reader().acquire().await?;
        let mut out = Vec::new();
        for r in &rows {
            let vehicle = vehicle_from(r)?;
            let other_leads = other_open_leads_holding(&mut conn, vehicle.id, lead).await?;
            let photos = super::photos::vehicle_photo_count(&mut conn, vehicle.id).await?;
            out.push(AttachedVehicle { vehicle, other_leads, photos });
        }
        Ok(out)
    }
}

/// The vehicles attached to a lead (inside a transaction).
pub async fn lead_vehicles_in_tx(conn: &mut Conn, lead: LeadId) -> Result<Vec<VehicleRow>> {
    let rows = sqlx::query(&format!(
        "{VEHICLE_SELECT} JOIN lead_vehicles lv ON lv.vehicle_id = vehicles.id WHERE lv.lead_id = $1 ORDER BY vehicles.id"
    ))
    .bind(lead.0)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(vehicle_from).collect()
}

/// Whether another open lead in `prepayment` holds this vehicle (its reservation).
pub async fn reserved_by_other_lead(conn: &mut Conn, vehicle: VehicleId, lead: LeadId) -> Result<bool> {
    let row = sqlx::query(
        "SELECT 1 AS one FROM lead_vehicles lv JOIN leads l ON l.id = lv.lead_id
         WHERE lv.vehicle_id = $1 AND lv.lead_id <> $2 AND l.is_open = 1 AND l.stage = 'prepayment' LIMIT 1",
    )
    .bind(vehicle.0)
    .bind(lead.0)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.is_some())
}

pub async fn set_vehicle_status(conn: &mut Conn, vehicle: VehicleId, status: VehicleStatus, now: i64) -> Result<()> {
    sqlx::query("UPDATE vehicles SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(now)
        .bind(vehicle.0)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A lead that holds a vehicle, for the vehicle card.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Holder {
    pub lead: i64,
    pub customer: String,
    pub stage: String,
}

impl Store {
    /// Every lead (open or closed) that holds this vehicle, newest first.
    pub async fn vehicle_holders(&self, vehicle: VehicleId) -> Result<Vec<Holder>> {
        let rows = sqlx::query(
            "SELECT l.id, c.name, l.stage FROM lead_vehicles lv JOIN leads l ON l.id = lv.lead_id
             JOIN customers c ON c.id = l.customer_id WHERE lv.vehicle_id = $1 ORDER BY l.id DESC",
        )
        .bind(vehicle.0)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| Ok(Holder { lead: col(r, "id")?, customer: col(r, "name")?, stage: col(r, "stage")? }))
            .collect()
    }
}
