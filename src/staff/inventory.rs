//! What the staff see when a car changes outside a lead — an ERP push or a CSV import:
//! every open lead that holds the car gets its card edited, and a status change is also
//! said in their topics (as when a lead's own stage moves the car).

use crate::store::{self, StoreError, VehicleRow};
use crate::templates::Templates;

/// Whether anything a card or a manager cares about differs (not the bookkeeping times).
fn differs(before: &VehicleRow, after: &VehicleRow) -> bool {
    let mut b = before.clone();
    b.updated_at = after.updated_at;
    b != *after
}

/// A car was updated by `source` (`ERP`, `CSV`): tell the leads that hold it, inside the
/// caller's transaction.
pub async fn vehicle_changed(
    templates: &Templates,
    tx: &mut store::Conn,
    before: &VehicleRow,
    after: &VehicleRow,
    source: &str,
    now: i64,
) -> Result<(), StoreError> {
    if !differs(before, after) {
        return Ok(());
    }
    if before.status != after.status {
        let text = templates
            .render(
                "staff/vehicle_status.txt",
                minijinja::context! { vehicle => format!("{} {}", after.make, after.model),
                status => after.status.as_str(), source },
            )
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        return crate::notices::notice_holders(tx, after.id, None, &text, now).await;
    }
    crate::notices::bump_holders(tx, after.id, now).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::vehicle::VehicleStatus;

    fn car() -> VehicleRow {
        VehicleRow {
            id: crate::domain::VehicleId(1),
            vin: None,
            vin_check_ok: true,
            stock_number: None,
            make: "Toyota".into(),
            model: "RAV4".into(),
            trim: None,
            year: Some(2019),
            price_minor: Some(100),
            currency: None,
            mileage_km: None,
            color: None,
            status: VehicleStatus::Available,
            erp_id: None,
            updated_at: 1,
        }
    }

    #[test]
    fn only_real_changes_count() {
        let a = car();
        assert!(!differs(&a, &VehicleRow { updated_at: 99, ..car() }), "a re-import of the same row");
        assert!(differs(&a, &VehicleRow { price_minor: Some(90), ..car() }));
        assert!(differs(&a, &VehicleRow { status: VehicleStatus::Sold, ..car() }));
    }
}
