//! Inline-button callback data: a compact, versioned encoding of [`CardAction`], parsed in
//! one place. Telegram allows 64 bytes; the longest encoding here is well under that.
//! Anything that does not parse (old versions, tampering) is [`Stale`] and gets a polite
//! "this button is out of date".

use super::script::Verdict;
use super::{CallId, LeadId, LostReason, ReviewId, Stage, TaskId, UserId, VehicleId};

/// The version prefix written into every button. Bump it when the encoding changes; old
/// buttons then read as stale instead of doing something unexpected.
const VERSION: &str = "1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardAction {
    Claim(LeadId),
    StageMenu(LeadId),
    SetStage(LeadId, Stage),
    LostMenu(LeadId),
    Lost(LeadId, LostReason),
    Back(LeadId),
    /// Send the WhatsApp re-engagement template to the lead's customer.
    SendTemplate(LeadId),
    /// Say how to find a vehicle to attach (`/car …`).
    VehicleHint(LeadId),
    /// Attach a vehicle (by row id) to the lead.
    Attach(LeadId, VehicleId),
    /// Detach a vehicle from the lead.
    Detach(LeadId, VehicleId),
    /// Send a vehicle's photos to the lead's customer.
    SendPhotos(LeadId, VehicleId),
    /// Turn the bot's flows on (`true`) or off for the lead.
    Automation(LeadId, bool),
    /// A missed call was called back: close its callback task.
    CalledBack(LeadId, TaskId),
    /// ✅ Done under a task.
    TaskDone(LeadId, TaskId),
    /// ⏰ +1h under a task: due an hour later.
    TaskLater(LeadId, TaskId),
    /// 👤 Owner ▸: the managers to give the lead to (supervisors, admins).
    OwnerMenu(LeadId),
    /// Give the lead to this user.
    SetOwner(LeadId, UserId),
    /// ✍️ Draft: ask AI for a reply draft.
    Draft(LeadId),
    /// 📤 Send a draft (by id) to the customer.
    SendDraft(LeadId, i64),
    /// ✖ Discard a draft.
    DiscardDraft(LeadId, i64),
    /// ✅ Set intent: apply the AI's suggestion (the intent's one-letter code).
    SetIntent(LeadId, char),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this button is out of date")]
pub struct Stale;

/// Buttons on the admins' flow messages (not on a lead card).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowAction {
    /// Activate an uploaded flow file (by upload id).
    Activate(i64),
}

impl FlowAction {
    pub fn encode(self) -> String {
        match self {
            FlowAction::Activate(id) => format!("{VERSION}:fl:{id}"),
        }
    }

    /// `None` when the data is not a flow button at all (try [`CardAction`]); a flow
    /// button that does not parse is stale.
    pub fn decode(data: &str) -> Option<Result<FlowAction, Stale>> {
        let rest = data.strip_prefix(VERSION)?.strip_prefix(":fl:")?;
        Some(rest.parse::<i64>().ok().filter(|id| *id > 0).map(FlowAction::Activate).ok_or(Stale))
    }
}

/// Buttons of a call review: 📝 Review under a call, a verdict per criterion in the
/// reviewer's private chat, and skipping the comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewAction {
    Start(CallId),
    Verdict(ReviewId, u16, Verdict),
    SkipComment(ReviewId),
}

impl ReviewAction {
    pub fn encode(self) -> String {
        match self {
            ReviewAction::Start(c) => format!("{VERSION}:rv:s:{c}"),
            ReviewAction::Verdict(r, i, v) => format!("{VERSION}:rv:v:{r}:{i}:{}", v.code()),
            ReviewAction::SkipComment(r) => format!("{VERSION}:rv:c:{r}"),
        }
    }

    /// `None` when the data is not a review button; one that does not parse is stale.
    pub fn decode(data: &str) -> Option<Result<ReviewAction, Stale>> {
        let rest = data.strip_prefix(VERSION)?.strip_prefix(":rv:")?;
        let id = |s: Option<&str>| s.and_then(|s| s.parse::<i64>().ok()).filter(|n| *n > 0);
        let mut p = rest.split(':');
        let action = match (p.next(), p.next(), p.next(), p.next(), p.next()) {
            (Some("s"), c, None, None, None) => id(c).map(|c| ReviewAction::Start(CallId(c))),
            (Some("c"), r, None, None, None) => id(r).map(|r| ReviewAction::SkipComment(ReviewId(r))),
            (Some("v"), r, Some(i), Some(v), None) => {
                let mut chars = v.chars();
                match (id(r), i.parse::<u16>().ok(), chars.next().and_then(Verdict::from_code), chars.next()) {
                    (Some(r), Some(i), Some(v), None) => Some(ReviewAction::Verdict(ReviewId(r), i, v)),
                    _ => None,
                }
            }
            _ => None,
        };
        Some(action.ok_or(Stale))
    }
}

/// A button under a call's message: 🔗 Other lead (how to move the call to the right lead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallAction {
    MoveHint(CallId),
}

impl CallAction {
    pub fn encode(self) -> String {
        match self {
            CallAction::MoveHint(c) => format!("{VERSION}:cl:m:{c}"),
        }
    }

    /// `None` when the data is not a call button; one that does not parse is stale.
    pub fn decode(data: &str) -> Option<Result<CallAction, Stale>> {
        let rest = data.strip_prefix(VERSION)?.strip_prefix(":cl:")?;
        let id = rest.strip_prefix("m:").and_then(|c| c.parse::<i64>().ok()).filter(|c| *c > 0);
        Some(id.map(|c| CallAction::MoveHint(CallId(c))).ok_or(Stale))
    }
}

/// Attaching a car through the bot's inline mode. The card's 🚘 Vehicle ▸ button opens
/// the inline mode pre-filled with `#N ` (an inline query carries neither chat nor topic);
/// the chosen result's message ends with a tag naming the lead and the car, which the bot
/// reads back when that message (sent `via_bot`) arrives.
pub mod inline {
    use super::{LeadId, VehicleId};

    /// What the Vehicle ▸ button pre-fills in the input box.
    pub fn query_for(lead: LeadId) -> String {
        format!("#{lead} ")
    }

    /// The lead and the search words of an inline query: `#12 rav4 2019`.
    pub fn parse_query(query: &str) -> Option<(LeadId, &str)> {
        let rest = query.trim_start().strip_prefix('#')?;
        let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let lead = rest[..end].parse::<i64>().ok().filter(|l| *l > 0)?;
        Some((LeadId(lead), rest[end..].trim()))
    }

    /// The tag at the end of a chosen result's message.
    pub fn tag(lead: LeadId, vehicle: VehicleId) -> String {
        format!("[#{lead} car {vehicle}]")
    }

    /// The lead and car a message ending with [`tag`] names.
    pub fn parse_tag(text: &str) -> Option<(LeadId, VehicleId)> {
        let inner = text.trim_end().strip_suffix(']')?;
        let inner = &inner[inner.rfind("[#")? + 2..];
        let (lead, vehicle) = inner.split_once(" car ")?;
        let lead = lead.parse::<i64>().ok().filter(|l| *l > 0)?;
        let vehicle = vehicle.parse::<i64>().ok().filter(|v| *v > 0)?;
        Some((LeadId(lead), VehicleId(vehicle)))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn queries_and_tags_round_trip() {
            assert_eq!(parse_query(&query_for(LeadId(12))), Some((LeadId(12), "")));
            assert_eq!(parse_query("#12 rav4 2019"), Some((LeadId(12), "rav4 2019")));
            assert_eq!(parse_query("  #7rav4"), Some((LeadId(7), "rav4")));
            assert_eq!(parse_query("rav4"), None);
            assert_eq!(parse_query("#0 rav4"), None);
            assert_eq!(parse_query("#x"), None);
            let text = format!("📎 Toyota RAV4 2019 for #12 {}", tag(LeadId(12), VehicleId(57)));
            assert_eq!(parse_tag(&text), Some((LeadId(12), VehicleId(57))));
            assert_eq!(parse_tag("a [#12 car x]"), None);
            assert_eq!(parse_tag("no tag"), None);
            assert_eq!(parse_tag("[#-1 car 5]"), None);
        }
    }
}

impl CardAction {
    pub fn lead(self) -> LeadId {
        match self {
            CardAction::Claim(l)
            | CardAction::StageMenu(l)
            | CardAction::SetStage(l, _)
            | CardAction::LostMenu(l)
            | CardAction::Lost(l, _)
            | CardAction::Back(l)
            | CardAction::SendTemplate(l)
            | CardAction::VehicleHint(l)
            | CardAction::Attach(l, _)
            | CardAction::Detach(l, _)
            | CardAction::SendPhotos(l, _)
            | CardAction::Automation(l, _)
            | CardAction::CalledBack(l, _)
            | CardAction::TaskDone(l, _)
            | CardAction::TaskLater(l, _)
            | CardAction::OwnerMenu(l)
            | CardAction::SetOwner(l, _)
            | CardAction::Draft(l)
            | CardAction::SendDraft(l, _)
            | CardAction::DiscardDraft(l, _)
            | CardAction::SetIntent(l, _) => l,
        }
    }

    pub fn encode(self) -> String {
        match self {
            CardAction::Claim(l) => format!("{VERSION}:c:{l}"),
            CardAction::StageMenu(l) => format!("{VERSION}:sm:{l}"),
            CardAction::SetStage(l, s) => format!("{VERSION}:s:{l}:{}", s.code()),
            CardAction::LostMenu(l) => format!("{VERSION}:lm:{l}"),
            CardAction::Lost(l, r) => format!("{VERSION}:l:{l}:{}", r.code()),
            CardAction::Back(l) => format!("{VERSION}:b:{l}"),
            CardAction::SendTemplate(l) => format!("{VERSION}:t:{l}"),
            CardAction::VehicleHint(l) => format!("{VERSION}:vh:{l}"),
            CardAction::Attach(l, v) => format!("{VERSION}:va:{l}:{v}"),
            CardAction::Detach(l, v) => format!("{VERSION}:vd:{l}:{v}"),
            CardAction::SendPhotos(l, v) => format!("{VERSION}:vp:{l}:{v}"),
            CardAction::Automation(l, on) => format!("{VERSION}:a:{l}:{}", on as u8),
            CardAction::CalledBack(l, t) => format!("{VERSION}:cb:{l}:{t}"),
            CardAction::TaskDone(l, t) => format!("{VERSION}:td:{l}:{t}"),
            CardAction::TaskLater(l, t) => format!("{VERSION}:tl:{l}:{t}"),
            CardAction::OwnerMenu(l) => format!("{VERSION}:om:{l}"),
            CardAction::SetOwner(l, u) => format!("{VERSION}:so:{l}:{}", u.0),
            CardAction::Draft(l) => format!("{VERSION}:dr:{l}"),
            CardAction::SendDraft(l, d) => format!("{VERSION}:ds:{l}:{d}"),
            CardAction::DiscardDraft(l, d) => format!("{VERSION}:dx:{l}:{d}"),
            CardAction::SetIntent(l, c) => format!("{VERSION}:si:{l}:{c}"),
        }
    }

    pub fn decode(data: &str) -> Result<CardAction, Stale> {
        let mut parts = data.split(':');
        if parts.next() != Some(VERSION) {
            return Err(Stale);
        }
        let verb = parts.next().ok_or(Stale)?;
        let lead = parts.next().ok_or(Stale)?;
        let lead = LeadId(lead.parse::<i64>().map_err(|_| Stale)?);
        if lead.0 <= 0 {
            return Err(Stale);
        }
        let arg = parts.next();
        if parts.next().is_some() {
            return Err(Stale);
        }
        let action = match (verb, arg) {
            ("c", None) => CardAction::Claim(lead),
            ("sm", None) => CardAction::StageMenu(lead),
            ("lm", None) => CardAction::LostMenu(lead),
            ("b", None) => CardAction::Back(lead),
            ("t", None) => CardAction::SendTemplate(lead),
            ("vh", None) => CardAction::VehicleHint(lead),
            ("om", None) => CardAction::OwnerMenu(lead),
            ("dr", None) => CardAction::Draft(lead),
            ("ds" | "dx", Some(d)) => {
                let d = d.parse::<i64>().ok().filter(|d| *d > 0).ok_or(Stale)?;
                if verb == "ds" {
                    CardAction::SendDraft(lead, d)
                } else {
                    CardAction::DiscardDraft(lead, d)
                }
            }
            ("si", Some(code)) => {
                let mut chars = code.chars();
                let c = chars.next().filter(|c| crate::domain::ai::intent_of_code(*c).is_some()).ok_or(Stale)?;
                if chars.next().is_some() {
                    return Err(Stale);
                }
                CardAction::SetIntent(lead, c)
            }
            ("so", Some(u)) => {
                CardAction::SetOwner(lead, UserId(u.parse::<i64>().ok().filter(|u| *u > 0).ok_or(Stale)?))
            }
            ("va" | "vd" | "vp", Some(v)) => {
                let v = VehicleId(v.parse::<i64>().ok().filter(|v| *v > 0).ok_or(Stale)?);
                match verb {
                    "va" => CardAction::Attach(lead, v),
                    "vd" => CardAction::Detach(lead, v),
                    _ => CardAction::SendPhotos(lead, v),
                }
            }
            ("cb" | "td" | "tl", Some(t)) => {
                let t = TaskId(t.parse::<i64>().ok().filter(|t| *t > 0).ok_or(Stale)?);
                match verb {
                    "cb" => CardAction::CalledBack(lead, t),
                    "td" => CardAction::TaskDone(lead, t),
                    _ => CardAction::TaskLater(lead, t),
                }
            }
            ("a", Some("1")) => CardAction::Automation(lead, true),
            ("a", Some("0")) => CardAction::Automation(lead, false),
            ("s", Some(code)) => {
                let mut chars = code.chars();
                let stage = chars.next().and_then(Stage::from_code).ok_or(Stale)?;
                if chars.next().is_some() {
                    return Err(Stale);
                }
                CardAction::SetStage(lead, stage)
            }
            ("l", Some(code)) => {
                let reason = code.parse::<u8>().ok().and_then(LostReason::from_code).ok_or(Stale)?;
                CardAction::Lost(lead, reason)
            }
            _ => return Err(Stale),
        };
        Ok(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_action() -> impl Strategy<Value = CardAction> {
        let lead = (1i64..=i64::MAX).prop_map(LeadId);
        let stage = proptest::sample::select(Stage::ALL.to_vec());
        let reason = proptest::sample::select(LostReason::ALL.to_vec());
        prop_oneof![
            lead.clone().prop_map(CardAction::Claim),
            lead.clone().prop_map(CardAction::StageMenu),
            (lead.clone(), stage).prop_map(|(l, s)| CardAction::SetStage(l, s)),
            lead.clone().prop_map(CardAction::LostMenu),
            (lead.clone(), reason).prop_map(|(l, r)| CardAction::Lost(l, r)),
            lead.clone().prop_map(CardAction::Back),
            lead.clone().prop_map(CardAction::SendTemplate),
            lead.clone().prop_map(CardAction::VehicleHint),
            (lead.clone(), 1i64..=i64::MAX).prop_map(|(l, v)| CardAction::Attach(l, VehicleId(v))),
            (lead.clone(), 1i64..=i64::MAX).prop_map(|(l, v)| CardAction::Detach(l, VehicleId(v))),
            (lead.clone(), 1i64..=i64::MAX).prop_map(|(l, v)| CardAction::SendPhotos(l, VehicleId(v))),
            (lead.clone(), any::<bool>()).prop_map(|(l, on)| CardAction::Automation(l, on)),
            (lead.clone(), 1i64..=i64::MAX).prop_map(|(l, t)| CardAction::CalledBack(l, TaskId(t))),
            (lead.clone(), 1i64..=i64::MAX).prop_map(|(l, t)| CardAction::TaskDone(l, TaskId(t))),
            (lead.clone(), 1i64..=i64::MAX).prop_map(|(l, t)| CardAction::TaskLater(l, TaskId(t))),
            lead.clone().prop_map(CardAction::OwnerMenu),
            (lead.clone(), 1i64..=i64::MAX).prop_map(|(l, u)| CardAction::SetOwner(l, UserId(u))),
            lead.clone().prop_map(CardAction::Draft),
            (lead.clone(), 1i64..=i64::MAX).prop_map(|(l, d)| CardAction::SendDraft(l, d)),
            (lead.clone(), 1i64..=i64::MAX).prop_map(|(l, d)| CardAction::DiscardDraft(l, d)),
            (lead, proptest::sample::select(vec!['b', 's', 'v', 'o'])).prop_map(|(l, c)| CardAction::SetIntent(l, c)),
        ]
    }

    proptest! {
        #[test]
        fn every_action_round_trips_within_64_bytes(a in any_action()) {
            let data = a.encode();
            prop_assert!(data.len() <= 64, "{} is {} bytes", data, data.len());
            prop_assert_eq!(CardAction::decode(&data), Ok(a));
        }

        #[test]
        fn arbitrary_text_never_panics(s in ".{0,80}") {
            let _ = CardAction::decode(&s);
        }
    }

    #[test]
    fn review_buttons_round_trip_and_are_not_card_actions() {
        for a in [
            ReviewAction::Start(CallId(42)),
            ReviewAction::Verdict(ReviewId(7), 12, Verdict::Missed),
            ReviewAction::Verdict(ReviewId(i64::MAX), u16::MAX, Verdict::NotApplicable),
            ReviewAction::SkipComment(ReviewId(7)),
        ] {
            let data = a.encode();
            assert!(data.len() <= 64, "{data}");
            assert_eq!(ReviewAction::decode(&data), Some(Ok(a)));
            assert!(CardAction::decode(&data).is_err(), "{data} is not a card action");
        }
        for stale in ["1:rv:s:0", "1:rv:v:7:1:q", "1:rv:v:7:x:m", "1:rv:c:", "1:rv:z:1", "1:rv:s:1:2"] {
            assert_eq!(ReviewAction::decode(stale), Some(Err(Stale)), "{stale}");
        }
        assert_eq!(ReviewAction::decode("1:c:5"), None);
        let m = CallAction::MoveHint(CallId(9));
        assert_eq!(CallAction::decode(&m.encode()), Some(Ok(m)));
        assert!(CardAction::decode(&m.encode()).is_err());
        assert_eq!(CallAction::decode("1:cl:m:x"), Some(Err(Stale)));
    }

    #[test]
    fn flow_buttons_round_trip_and_are_not_card_actions() {
        let a = FlowAction::Activate(42);
        assert_eq!(FlowAction::decode(&a.encode()), Some(Ok(a)));
        assert_eq!(FlowAction::decode("1:fl:x"), Some(Err(Stale)));
        assert_eq!(FlowAction::decode("1:fl:0"), Some(Err(Stale)));
        assert_eq!(FlowAction::decode(&CardAction::Claim(LeadId(3)).encode()), None);
        assert_eq!(CardAction::decode(&a.encode()), Err(Stale));
    }

    #[test]
    fn old_or_broken_data_is_stale() {
        for bad in [
            "",
            "0:c:1",
            "2:c:1",
            "1:c",
            "1:c:x",
            "1:c:-3",
            "1:c:0",
            "1:s:1:z",
            "1:s:1:cc",
            "1:l:1:99",
            "1:zz:1",
            "1:c:1:extra",
            "1:s:1",
            "1:l:1:",
            "1:t:1:x",
            "1:va:1",
            "1:va:1:0",
            "1:vd:1:x",
            "1:vp:1",
            "1:vp:1:-2",
        ] {
            assert_eq!(CardAction::decode(bad), Err(Stale), "{bad}");
        }
    }
}
