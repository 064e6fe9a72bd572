//! The rules for changing a lead: who may claim it, which stage moves are allowed, and what
//! a staff reply does. Each command returns the [`Change`]s to record (one history row each)
//! or the [`RuleError`] that names the broken rule.

use super::{Role, Stage, UserId};
use serde::{Deserialize, Serialize};

/// The staff member acting. Built by handlers from the users table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub id: UserId,
    pub role: Role,
}

/// What the rules need to know about a lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeadFacts {
    pub stage: Stage,
    pub owner: Option<UserId>,
    pub vehicles: u32,
}

/// Why a lead was lost. Stored as text; the list is the client's common reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LostReason {
    Price,
    BoughtElsewhere,
    NoResponse,
    NotAvailable,
    Financing,
    ChangedMind,
    Spam,
    Other,
}

impl LostReason {
    pub const ALL: [LostReason; 8] = [
        LostReason::Price,
        LostReason::BoughtElsewhere,
        LostReason::NoResponse,
        LostReason::NotAvailable,
        LostReason::Financing,
        LostReason::ChangedMind,
        LostReason::Spam,
        LostReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LostReason::Price => "price",
            LostReason::BoughtElsewhere => "bought_elsewhere",
            LostReason::NoResponse => "no_response",
            LostReason::NotAvailable => "not_available",
            LostReason::Financing => "financing",
            LostReason::ChangedMind => "changed_mind",
            LostReason::Spam => "spam",
            LostReason::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<LostReason> {
        LostReason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            LostReason::Price => "Price too high",
            LostReason::BoughtElsewhere => "Bought elsewhere",
            LostReason::NoResponse => "No response",
            LostReason::NotAvailable => "Car not available",
            LostReason::Financing => "Financing refused",
            LostReason::ChangedMind => "Changed mind",
            LostReason::Spam => "Spam",
            LostReason::Other => "Other",
        }
    }

    /// Index used inside callback data.
    pub fn code(self) -> u8 {
        LostReason::ALL.iter().position(|r| *r == self).expect("reason is in ALL") as u8
    }

    pub fn from_code(code: u8) -> Option<LostReason> {
        LostReason::ALL.get(code as usize).copied()
    }
}

/// One recorded change: becomes one lead history row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Owner { from: Option<UserId>, to: Option<UserId> },
    Stage { from: Stage, to: Stage, reason: Option<LostReason> },
}

/// A broken rule, worded for the person who pressed the button.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("analysts can read leads but not change them")]
    ReadOnly,
    #[error("this lead belongs to another manager")]
    NotYourLead,
    #[error("the lead is already yours")]
    AlreadyYours,
    #[error("claim the lead first: leaving `new` needs an owner")]
    NeedsOwner,
    #[error("the lead is already {0}")]
    SameStage(Stage),
    #[error("only a supervisor can move a lead backwards or reopen a closed one")]
    SupervisorOnly,
    #[error("a lost lead needs a reason")]
    LostNeedsReason,
    #[error("a sold lead needs at least one attached vehicle")]
    SoldNeedsVehicle,
    #[error("the lead is closed")]
    Closed,
    #[error("this vehicle is archived")]
    VehicleArchived,
    #[error("this vehicle is {0} for another lead; only a supervisor can attach it")]
    VehicleTaken(&'static str),
    #[error("the vehicle is already attached")]
    AlreadyAttached,
    #[error("the vehicle is no longer attached to this lead")]
    NotAttached,
    #[error("the vehicle has no photos yet: send one in the topic with the caption /photo VIN")]
    NoPhotos,
    #[error("the customer has unsubscribed or blocked the bot on this channel")]
    CustomerUnreachable,
    #[error("WhatsApp's 24-hour window is closed: send the re-engagement template first")]
    WindowClosed,
    #[error("these photos are already on their way to the customer")]
    AlreadySending,
    #[error("only a supervisor or an admin can give a lead to someone")]
    OwnerSupervisorOnly,
    #[error("the lead already belongs to them")]
    AlreadyTheirs,
}

/// May this actor change this lead at all?
pub fn may_act_on(actor: Actor, lead: &LeadFacts) -> Result<(), RuleError> {
    if !actor.role.may_act() {
        return Err(RuleError::ReadOnly);
    }
    if actor.role.is_supervising() {
        return Ok(());
    }
    match lead.owner {
        None => Ok(()),
        Some(owner) if owner == actor.id => Ok(()),
        Some(_) => Err(RuleError::NotYourLead),
    }
}

/// Claim: the actor becomes the owner. A supervisor may take over a lead owned by someone
/// else; a manager only an unassigned one. Closed leads are not claimed.
/// Turning the bot's flows on or off for a lead: whoever may act on it, while it is open
/// (the same as opening the Lost ▸ menu).
pub fn switch_automation(actor: Actor, lead: &LeadFacts) -> Result<(), RuleError> {
    lost_menu(actor, lead)
}

pub fn claim(actor: Actor, lead: &LeadFacts) -> Result<Vec<Change>, RuleError> {
    may_act_on(actor, lead)?;
    if !lead.stage.is_open() {
        return Err(RuleError::Closed);
    }
    if lead.owner == Some(actor.id) {
        return Err(RuleError::AlreadyYours);
    }
    Ok(vec![Change::Owner { from: lead.owner, to: Some(actor.id) }])
}

/// 👤 Owner ▸: a supervisor or admin gives an open lead to someone (the menu offers the
/// active managers).
pub fn give_to(actor: Actor, lead: &LeadFacts, to: UserId) -> Result<Vec<Change>, RuleError> {
    if !actor.role.may_act() {
        return Err(RuleError::ReadOnly);
    }
    if !actor.role.is_supervising() {
        return Err(RuleError::OwnerSupervisorOnly);
    }
    if !lead.stage.is_open() {
        return Err(RuleError::Closed);
    }
    if lead.owner == Some(to) {
        return Err(RuleError::AlreadyTheirs);
    }
    Ok(vec![Change::Owner { from: lead.owner, to: Some(to) }])
}

/// Move a lead to another stage. `reason` is required for `lost` and ignored otherwise.
pub fn move_stage(
    actor: Actor,
    lead: &LeadFacts,
    to: Stage,
    reason: Option<LostReason>,
) -> Result<Vec<Change>, RuleError> {
    may_act_on(actor, lead)?;
    let from = lead.stage;
    if from == to {
        return Err(RuleError::SameStage(to));
    }
    let forward = match (from.rank(), to.rank()) {
        _ if !from.is_open() => false, // reopening or switching a closed lead
        (Some(_), None) => true,       // open → lost
        (Some(a), Some(b)) => b > a,
        (None, _) => false,
    };
    if !forward && !actor.role.is_supervising() {
        return Err(RuleError::SupervisorOnly);
    }
    if from == Stage::New && to != Stage::Lost && lead.owner.is_none() {
        return Err(RuleError::NeedsOwner);
    }
    if to == Stage::Sold {
        if lead.owner.is_none() {
            return Err(RuleError::NeedsOwner);
        }
        if lead.vehicles == 0 {
            return Err(RuleError::SoldNeedsVehicle);
        }
    }
    let reason = if to == Stage::Lost { Some(reason.ok_or(RuleError::LostNeedsReason)?) } else { None };
    Ok(vec![Change::Stage { from, to, reason }])
}

/// The stages this actor could move this lead to now (for the Stage ▸ menu); `lost` is
/// offered separately, with its reasons.
pub fn allowed_targets(actor: Actor, lead: &LeadFacts) -> Vec<Stage> {
    Stage::ALL
        .into_iter()
        .filter(|to| *to != Stage::Lost)
        .filter(|to| move_stage(actor, lead, *to, None).is_ok())
        .collect()
}

/// Opening the Stage ▸ menu: the stages on offer, or the rule that leaves none (the first
/// rule that stops the simplest move, so the person learns what to do).
pub fn stage_menu(actor: Actor, lead: &LeadFacts) -> Result<Vec<Stage>, RuleError> {
    let targets = allowed_targets(actor, lead);
    if !targets.is_empty() {
        return Ok(targets);
    }
    may_act_on(actor, lead)?;
    // The next stage forward (for a closed lead: reopening it).
    let simplest = lead
        .stage
        .rank()
        .and_then(|r| Stage::ALL.into_iter().find(|s| s.rank() == Some(r + 1)))
        .filter(|_| lead.stage.is_open())
        .unwrap_or(Stage::New);
    match move_stage(actor, lead, simplest, None) {
        Err(e) => Err(e),
        Ok(_) => Err(RuleError::SupervisorOnly),
    }
}

/// Opening the Lost ▸ menu: only for an open lead the actor may change.
pub fn lost_menu(actor: Actor, lead: &LeadFacts) -> Result<(), RuleError> {
    may_act_on(actor, lead)?;
    if lead.stage.is_open() {
        Ok(())
    } else {
        Err(RuleError::Closed)
    }
}

/// A staff member wrote to the customer from the topic. The reply is allowed if the actor
/// may act on the lead; an unassigned lead becomes the replier's, and the first reply to a
/// `new` lead moves it to `contacted`.
pub fn staff_replied(actor: Actor, lead: &LeadFacts) -> Result<Vec<Change>, RuleError> {
    may_act_on(actor, lead)?;
    let mut changes = Vec::new();
    let mut owner = lead.owner;
    if owner.is_none() && lead.stage.is_open() {
        changes.push(Change::Owner { from: None, to: Some(actor.id) });
        owner = Some(actor.id);
    }
    if lead.stage == Stage::New && owner.is_some() {
        changes.push(Change::Stage { from: Stage::New, to: Stage::Contacted, reason: None });
    }
    Ok(changes)
}

/// Apply changes to the facts, as the store will.
pub fn apply(lead: &LeadFacts, changes: &[Change]) -> LeadFacts {
    let mut next = *lead;
    for c in changes {
        match c {
            Change::Owner { to, .. } => next.owner = *to,
            Change::Stage { to, .. } => next.stage = *to,
        }
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use Stage::*;

    const ME: UserId = UserId(1);
    const OTHER: UserId = UserId(2);

    fn actor(role: Role) -> Actor {
        Actor { id: ME, role }
    }

    fn lead(stage: Stage, owner: Option<UserId>, vehicles: u32) -> LeadFacts {
        LeadFacts { stage, owner, vehicles }
    }

    /// The expected answer for a move `from → to`, written out by hand for an owned lead
    /// with a vehicle. Rows are `from`, columns `to`, in `Stage::ALL` order:
    /// `.` same stage, `Y` allowed for everyone acting, `S` supervisors and admins only.
    const MATRIX: [&str; 7] = [
        // n c q i p s l
        ".YYYYYY", // new
        "S.YYYYY", // contacted
        "SS.YYYY", // qualified
        "SSS.YYY", // in_negotiation
        "SSSS.YY", // prepayment
        "SSSSS.S", // sold
        "SSSSSS.", // lost
    ];

    #[test]
    fn every_stage_pair_for_every_role_follows_the_matrix() {
        for (i, from) in Stage::ALL.into_iter().enumerate() {
            for (j, to) in Stage::ALL.into_iter().enumerate() {
                let cell = MATRIX[i].as_bytes()[j];
                for role in Role::ALL {
                    let got = move_stage(actor(role), &lead(from, Some(ME), 1), to, Some(LostReason::Price));
                    let expected_ok = match cell {
                        b'.' => false,
                        b'Y' => role.may_act(),
                        b'S' => role.is_supervising(),
                        _ => unreachable!(),
                    };
                    assert_eq!(got.is_ok(), expected_ok, "{role:?} {from:?} → {to:?}: {got:?}");
                    match (cell, role) {
                        (b'.', Role::Analyst) | (_, Role::Analyst) => {
                            assert_eq!(got, Err(RuleError::ReadOnly))
                        }
                        (b'.', _) => assert_eq!(got, Err(RuleError::SameStage(to))),
                        (b'S', Role::Manager) => assert_eq!(got, Err(RuleError::SupervisorOnly)),
                        _ => {}
                    }
                    if let Ok(changes) = got {
                        let reason = (to == Lost).then_some(LostReason::Price);
                        assert_eq!(changes, vec![Change::Stage { from, to, reason }]);
                    }
                }
            }
        }
    }

    #[test]
    fn a_manager_acts_only_on_own_or_unassigned_leads() {
        let m = actor(Role::Manager);
        assert_eq!(move_stage(m, &lead(Contacted, Some(OTHER), 1), Qualified, None), Err(RuleError::NotYourLead));
        assert!(move_stage(m, &lead(Contacted, None, 1), Qualified, None).is_ok());
        assert_eq!(claim(m, &lead(New, Some(OTHER), 0)), Err(RuleError::NotYourLead));
        assert_eq!(staff_replied(m, &lead(New, Some(OTHER), 0)), Err(RuleError::NotYourLead));
        for role in [Role::Supervisor, Role::Admin] {
            assert!(move_stage(actor(role), &lead(Contacted, Some(OTHER), 1), Qualified, None).is_ok());
            assert_eq!(
                claim(actor(role), &lead(New, Some(OTHER), 0)),
                Ok(vec![Change::Owner { from: Some(OTHER), to: Some(ME) }])
            );
        }
        assert_eq!(claim(actor(Role::Analyst), &lead(New, None, 0)), Err(RuleError::ReadOnly));
    }

    #[test]
    fn leaving_new_needs_an_owner_except_to_lost() {
        for role in [Role::Manager, Role::Supervisor, Role::Admin] {
            for to in [Contacted, Qualified, InNegotiation, Prepayment, Sold] {
                assert_eq!(move_stage(actor(role), &lead(New, None, 1), to, None), Err(RuleError::NeedsOwner));
            }
            assert!(move_stage(actor(role), &lead(New, None, 0), Lost, Some(LostReason::Spam)).is_ok());
        }
    }

    #[test]
    fn lost_needs_a_reason_and_sold_needs_a_vehicle_and_an_owner() {
        let m = actor(Role::Manager);
        assert_eq!(move_stage(m, &lead(Qualified, Some(ME), 1), Lost, None), Err(RuleError::LostNeedsReason));
        assert_eq!(move_stage(m, &lead(Prepayment, Some(ME), 0), Sold, None), Err(RuleError::SoldNeedsVehicle));
        let s = actor(Role::Supervisor);
        assert_eq!(move_stage(s, &lead(Prepayment, None, 1), Sold, None), Err(RuleError::NeedsOwner));
        // a reason given for another stage is not recorded
        assert_eq!(
            move_stage(m, &lead(Qualified, Some(ME), 1), Prepayment, Some(LostReason::Price)),
            Ok(vec![Change::Stage { from: Qualified, to: Prepayment, reason: None }])
        );
    }

    #[test]
    fn closed_leads_cannot_be_claimed_and_are_reopened_by_supervisors_only() {
        for closed in [Sold, Lost] {
            assert_eq!(claim(actor(Role::Manager), &lead(closed, None, 1)), Err(RuleError::Closed));
            assert_eq!(
                move_stage(actor(Role::Manager), &lead(closed, Some(ME), 1), Contacted, None),
                Err(RuleError::SupervisorOnly)
            );
            assert!(move_stage(actor(Role::Supervisor), &lead(closed, Some(ME), 1), Contacted, None).is_ok());
        }
    }

    #[test]
    fn only_supervisors_and_admins_give_a_lead_to_someone() {
        let open = LeadFacts { stage: Stage::Contacted, owner: Some(UserId(1)), vehicles: 0 };
        let to = UserId(2);
        for (role, ok) in
            [(Role::Manager, false), (Role::Analyst, false), (Role::Supervisor, true), (Role::Admin, true)]
        {
            let got = give_to(Actor { id: UserId(9), role }, &open, to);
            assert_eq!(got.is_ok(), ok, "{role:?}");
        }
        let sup = Actor { id: UserId(9), role: Role::Supervisor };
        assert_eq!(give_to(sup, &open, to), Ok(vec![Change::Owner { from: Some(UserId(1)), to: Some(to) }]));
        assert_eq!(give_to(sup, &open, UserId(1)), Err(RuleError::AlreadyTheirs));
        let sold = LeadFacts { stage: Stage::Sold, ..open };
        assert_eq!(give_to(sup, &sold, to), Err(RuleError::Closed));
        assert_eq!(
            give_to(Actor { id: UserId(1), role: Role::Manager }, &open, to),
            Err(RuleError::OwnerSupervisorOnly)
        );
    }

    #[test]
    fn the_first_reply_claims_an_unassigned_new_lead_and_marks_it_contacted() {
        let m = actor(Role::Manager);
        assert_eq!(
            staff_replied(m, &lead(New, None, 0)),
            Ok(vec![
                Change::Owner { from: None, to: Some(ME) },
                Change::Stage { from: New, to: Contacted, reason: None },
            ])
        );
        assert_eq!(
            staff_replied(m, &lead(New, Some(ME), 0)),
            Ok(vec![Change::Stage { from: New, to: Contacted, reason: None }])
        );
        assert_eq!(staff_replied(m, &lead(Qualified, Some(ME), 0)), Ok(vec![]));
        // a supervisor replying in someone else's lead does not take it over
        assert_eq!(staff_replied(actor(Role::Supervisor), &lead(Qualified, Some(OTHER), 0)), Ok(vec![]));
        assert_eq!(staff_replied(actor(Role::Analyst), &lead(New, None, 0)), Err(RuleError::ReadOnly));
        // replying on a closed lead changes nothing
        assert_eq!(staff_replied(m, &lead(Lost, None, 0)), Ok(vec![]));
    }

    #[test]
    fn the_stage_menu_offers_exactly_the_allowed_moves() {
        let m = actor(Role::Manager);
        assert_eq!(allowed_targets(m, &lead(New, None, 0)), Vec::<Stage>::new());
        assert_eq!(allowed_targets(m, &lead(Contacted, Some(ME), 0)), vec![Qualified, InNegotiation, Prepayment]);
        assert_eq!(allowed_targets(m, &lead(Contacted, Some(ME), 1)), vec![Qualified, InNegotiation, Prepayment, Sold]);
        assert_eq!(
            allowed_targets(actor(Role::Supervisor), &lead(Qualified, Some(OTHER), 0)),
            vec![New, Contacted, InNegotiation, Prepayment]
        );
        assert_eq!(allowed_targets(actor(Role::Analyst), &lead(Qualified, Some(ME), 1)), Vec::<Stage>::new());
    }

    #[test]
    fn menus_open_only_when_they_have_something_to_offer() {
        let m = actor(Role::Manager);
        assert_eq!(stage_menu(m, &lead(New, None, 0)), Err(RuleError::NeedsOwner));
        assert_eq!(stage_menu(m, &lead(New, Some(OTHER), 0)), Err(RuleError::NotYourLead));
        assert_eq!(stage_menu(m, &lead(Sold, Some(ME), 1)), Err(RuleError::SupervisorOnly));
        assert_eq!(stage_menu(actor(Role::Analyst), &lead(Contacted, Some(ME), 1)), Err(RuleError::ReadOnly));
        assert_eq!(stage_menu(m, &lead(Prepayment, Some(ME), 0)), Err(RuleError::SoldNeedsVehicle));
        assert_eq!(stage_menu(m, &lead(Prepayment, Some(ME), 1)), Ok(vec![Sold]));
        assert_eq!(lost_menu(m, &lead(New, None, 0)), Ok(()));
        assert_eq!(lost_menu(m, &lead(Lost, Some(ME), 0)), Err(RuleError::Closed));
        assert_eq!(lost_menu(m, &lead(Qualified, Some(OTHER), 0)), Err(RuleError::NotYourLead));
    }

    #[test]
    fn apply_follows_the_changes() {
        let l = lead(New, None, 0);
        let c = staff_replied(actor(Role::Manager), &l).unwrap();
        assert_eq!(apply(&l, &c), lead(Contacted, Some(ME), 0));
    }

    #[test]
    fn lost_reason_codes_round_trip() {
        for r in LostReason::ALL {
            assert_eq!(LostReason::from_code(r.code()), Some(r));
            assert_eq!(LostReason::parse(r.as_str()), Some(r));
        }
        assert_eq!(LostReason::from_code(200), None);
    }
}
