//! What a stage change causes, decided in one place: the status of each car the lead holds
//! (`vehicle::status_after_stage`) and the sale announced to the ERP. Handlers carry the
//! effects out (the status write, the notices on the other leads holding the car, the ERP
//! job); the history rows are the changes themselves. Every path that changes a stage goes
//! through [`stage_effects`], so the same change has the same effects everywhere.

use super::vehicle::{status_after_stage, VehicleStatus};
use super::{Stage, VehicleId};

/// A car the lead holds, as the effects need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldCar {
    pub vehicle: VehicleId,
    pub status: VehicleStatus,
    /// Another open lead's prepayment holds it.
    pub reserved_by_another: bool,
}

/// One thing a stage change causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The car's status changes; the other open leads holding it are told.
    VehicleStatus { vehicle: VehicleId, status: VehicleStatus },
    /// The sale goes to the ERP (when an ERP URL is configured).
    AnnounceSale,
}

/// The effects of moving a lead from `from` to `to` while it holds `cars`.
pub fn stage_effects(from: Stage, to: Stage, cars: &[HeldCar], erp_connected: bool) -> Vec<Effect> {
    if from == to {
        return Vec::new();
    }
    let mut out: Vec<Effect> = cars
        .iter()
        .filter_map(|c| {
            status_after_stage(from, to, c.status, c.reserved_by_another)
                .filter(|s| *s != c.status)
                .map(|status| Effect::VehicleStatus { vehicle: c.vehicle, status })
        })
        .collect();
    if to == Stage::Sold && erp_connected {
        out.push(Effect::AnnounceSale);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUSES: [VehicleStatus; 4] =
        [VehicleStatus::Available, VehicleStatus::Reserved, VehicleStatus::Sold, VehicleStatus::Archived];

    #[test]
    fn every_stage_pair_has_the_effects_the_rules_give() {
        for from in Stage::ALL {
            for to in Stage::ALL {
                for status in STATUSES {
                    for other in [false, true] {
                        for erp in [false, true] {
                            let car = HeldCar { vehicle: VehicleId(7), status, reserved_by_another: other };
                            let effects = stage_effects(from, to, &[car], erp);
                            let sale = effects.contains(&Effect::AnnounceSale);
                            assert_eq!(sale, to == Stage::Sold && erp && from != to, "{from:?}→{to:?}");
                            let expected = if from == to {
                                None
                            } else {
                                status_after_stage(from, to, status, other).filter(|s| *s != status)
                            };
                            let got = effects.iter().find_map(|e| match e {
                                Effect::VehicleStatus { vehicle: VehicleId(7), status } => Some(*status),
                                _ => None,
                            });
                            assert_eq!(got, expected, "{from:?}→{to:?} with a {status:?} car (other: {other})");
                            // Nothing is ever rolled back from sold or archived by a stage.
                            if matches!(status, VehicleStatus::Sold | VehicleStatus::Archived) {
                                assert_eq!(got, None, "{from:?}→{to:?}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_main_moves_read_as_the_rules_say() {
        let car = |status| [HeldCar { vehicle: VehicleId(1), status, reserved_by_another: false }];
        let reserve = Effect::VehicleStatus { vehicle: VehicleId(1), status: VehicleStatus::Reserved };
        let sell = Effect::VehicleStatus { vehicle: VehicleId(1), status: VehicleStatus::Sold };
        let release = Effect::VehicleStatus { vehicle: VehicleId(1), status: VehicleStatus::Available };
        assert_eq!(
            stage_effects(Stage::InNegotiation, Stage::Prepayment, &car(VehicleStatus::Available), true),
            vec![reserve]
        );
        assert_eq!(
            stage_effects(Stage::Prepayment, Stage::Sold, &car(VehicleStatus::Reserved), true),
            vec![sell, Effect::AnnounceSale]
        );
        assert_eq!(stage_effects(Stage::Prepayment, Stage::Lost, &car(VehicleStatus::Reserved), true), vec![release]);
        let held = [HeldCar { vehicle: VehicleId(1), status: VehicleStatus::Reserved, reserved_by_another: true }];
        assert_eq!(stage_effects(Stage::Prepayment, Stage::Lost, &held, true), vec![], "another lead's prepayment");
        assert_eq!(stage_effects(Stage::New, Stage::Contacted, &car(VehicleStatus::Available), true), vec![]);
    }
}
