//! Vehicle photos: which car a `/photo` command means, who may add photos, what a
//! **Send photos** press may send, and how a set of photos is cut into sends for each
//! messenger. No IO: the handlers in `staff::photos` translate.

use super::{lead, Actor, Change, Channel, LeadFacts, RuleError, VehicleId};

/// At most this many photos go to a customer per press: a Telegram album holds ten, and
/// Viber and WhatsApp customers get the same set one picture at a time.
pub const MAX_PER_SEND: usize = 10;

/// Why a `/photo` command cannot say which car it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetProblem {
    /// A VIN (or its tail) was given and no car in stock has it.
    NoSuchVehicle,
    /// No VIN given, and the command was not in a lead's topic with exactly one car.
    NeedsVin,
    /// No VIN given, and the lead has several cars.
    WhichVehicle,
}

impl TargetProblem {
    /// The word the template (`staff/photos.txt`) switches on.
    pub fn code(self) -> &'static str {
        match self {
            TargetProblem::NoSuchVehicle => "no_such_vehicle",
            TargetProblem::NeedsVin => "needs_vin",
            TargetProblem::WhichVehicle => "which_vehicle",
        }
    }
}

/// The car `/photo [VIN]` means: the one the VIN names when one was typed (`found` is the
/// search's answer), else the only car attached to the lead whose topic it was sent in.
pub fn target(vin_given: bool, found: Option<VehicleId>, attached: &[VehicleId]) -> Result<VehicleId, TargetProblem> {
    if vin_given {
        return found.ok_or(TargetProblem::NoSuchVehicle);
    }
    match attached {
        [only] => Ok(*only),
        [] => Err(TargetProblem::NeedsVin),
        _ => Err(TargetProblem::WhichVehicle),
    }
}

/// May this person add photos to a vehicle? Any registered staff member who may change
/// things (analysts only read).
pub fn may_add(actor: Actor) -> Result<(), RuleError> {
    if actor.role.may_act() {
        Ok(())
    } else {
        Err(RuleError::ReadOnly)
    }
}

/// Whether a kept file is a picture a vehicle's album can hold (what every messenger shows
/// as a photo).
pub fn is_picture(mime: &str) -> bool {
    matches!(mime, "image/jpeg" | "image/png" | "image/webp")
}

/// What stands between a Send photos press and the customer, as the handler found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendFacts {
    /// The car is (still) attached to this lead.
    pub attached: bool,
    /// Kept photos of the car.
    pub photos: usize,
    /// The customer unsubscribed (Viber) or blocked the bot on the lead's channel.
    pub unreachable: bool,
    /// WhatsApp's 24-hour window is closed (always false on the other channels).
    pub window_closed: bool,
    /// Some of these photos are already on their way to this customer.
    pub already_sending: bool,
}

/// May `actor` send a car's photos to the lead's customer? Sending is a reply, so the same
/// people may do it, and it changes the lead as a reply does (the first one claims an
/// unclaimed lead and marks it contacted). Returns those changes and how many photos go.
pub fn may_send(actor: Actor, lead: &LeadFacts, f: SendFacts) -> Result<(Vec<Change>, usize), RuleError> {
    let changes = lead::staff_replied(actor, lead)?;
    if !f.attached {
        return Err(RuleError::NotAttached);
    }
    if f.photos == 0 {
        return Err(RuleError::NoPhotos);
    }
    if f.unreachable {
        return Err(RuleError::CustomerUnreachable);
    }
    if f.window_closed {
        return Err(RuleError::WindowClosed);
    }
    if f.already_sending {
        return Err(RuleError::AlreadySending);
    }
    Ok((changes, f.photos.min(MAX_PER_SEND)))
}

/// How `n` photos go out on a channel: the sizes of the sends, in order. Telegram takes up
/// to ten as one album (a single photo is a plain photo); Viber and WhatsApp have no albums,
/// so each picture is its own message.
pub fn sends(channel: Channel, n: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    match channel {
        Channel::Telegram => {
            let mut out = vec![MAX_PER_SEND; n / MAX_PER_SEND];
            if !n.is_multiple_of(MAX_PER_SEND) {
                out.push(n % MAX_PER_SEND);
            }
            out
        }
        Channel::Viber | Channel::Whatsapp => vec![1; n],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Role, Stage, UserId};

    fn actor(role: Role, id: i64) -> Actor {
        Actor { id: UserId(id), role }
    }

    fn ok_facts() -> SendFacts {
        SendFacts { attached: true, photos: 3, unreachable: false, window_closed: false, already_sending: false }
    }

    #[test]
    fn the_vin_decides_when_given_else_the_only_car_on_the_lead() {
        let v = VehicleId;
        assert_eq!(target(true, Some(v(7)), &[v(1), v(2)]), Ok(v(7)));
        assert_eq!(target(true, None, &[v(1)]), Err(TargetProblem::NoSuchVehicle), "a typed VIN is never guessed");
        assert_eq!(target(false, None, &[v(4)]), Ok(v(4)));
        assert_eq!(target(false, None, &[]), Err(TargetProblem::NeedsVin));
        assert_eq!(target(false, None, &[v(4), v(5)]), Err(TargetProblem::WhichVehicle));
    }

    #[test]
    fn everyone_but_analysts_may_add_photos() {
        for role in Role::ALL {
            let got = may_add(actor(role, 1));
            assert_eq!(got.is_ok(), role != Role::Analyst, "{role:?}");
        }
    }

    #[test]
    fn only_jpeg_png_and_webp_are_vehicle_photos() {
        assert!(is_picture("image/jpeg") && is_picture("image/png") && is_picture("image/webp"));
        assert!(!is_picture("application/pdf") && !is_picture("video/mp4") && !is_picture("image/gif"));
    }

    #[test]
    fn sending_follows_the_reply_rules_and_claims_an_unclaimed_lead() {
        let unclaimed = LeadFacts { stage: Stage::New, owner: None, vehicles: 1 };
        let max = actor(Role::Manager, 1);
        let (changes, n) = may_send(max, &unclaimed, ok_facts()).unwrap();
        assert_eq!(n, 3);
        assert_eq!(changes, lead::staff_replied(max, &unclaimed).unwrap(), "the same changes as a reply");
        assert!(!changes.is_empty(), "the first reply claims the lead");

        let theirs = LeadFacts { stage: Stage::Qualified, owner: Some(UserId(2)), vehicles: 1 };
        assert_eq!(may_send(max, &theirs, ok_facts()), Err(RuleError::NotYourLead));
        assert_eq!(may_send(actor(Role::Analyst, 3), &theirs, ok_facts()), Err(RuleError::ReadOnly));
        let (changes, _) = may_send(actor(Role::Supervisor, 4), &theirs, ok_facts()).unwrap();
        assert!(changes.is_empty(), "a supervisor answering does not take the lead over");
    }

    #[test]
    fn each_obstacle_is_named() {
        let lead = LeadFacts { stage: Stage::Contacted, owner: Some(UserId(1)), vehicles: 1 };
        let max = actor(Role::Manager, 1);
        let cases = [
            (SendFacts { attached: false, ..ok_facts() }, RuleError::NotAttached),
            (SendFacts { photos: 0, ..ok_facts() }, RuleError::NoPhotos),
            (SendFacts { unreachable: true, ..ok_facts() }, RuleError::CustomerUnreachable),
            (SendFacts { window_closed: true, ..ok_facts() }, RuleError::WindowClosed),
            (SendFacts { already_sending: true, ..ok_facts() }, RuleError::AlreadySending),
        ];
        for (f, want) in cases {
            assert_eq!(may_send(max, &lead, f), Err(want), "{f:?}");
        }
        let (_, n) = may_send(max, &lead, SendFacts { photos: 25, ..ok_facts() }).unwrap();
        assert_eq!(n, MAX_PER_SEND, "at most ten per press");
    }

    #[test]
    fn telegram_gets_albums_of_ten_and_the_others_one_picture_each() {
        assert_eq!(sends(Channel::Telegram, 0), Vec::<usize>::new());
        assert_eq!(sends(Channel::Telegram, 1), vec![1]);
        assert_eq!(sends(Channel::Telegram, 10), vec![10]);
        assert_eq!(sends(Channel::Telegram, 13), vec![10, 3]);
        assert_eq!(sends(Channel::Viber, 3), vec![1, 1, 1]);
        assert_eq!(sends(Channel::Whatsapp, 2), vec![1, 1]);
        for n in 0..40 {
            for c in [Channel::Telegram, Channel::Viber, Channel::Whatsapp] {
                assert_eq!(sends(c, n).iter().sum::<usize>(), n, "every photo once");
                assert!(sends(c, n).iter().all(|s| (1..=MAX_PER_SEND).contains(s)));
            }
        }
    }
}
