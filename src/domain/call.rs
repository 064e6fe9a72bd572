//! Calls: the one normalised call event every telephony provider's webhook becomes
//! ([`CallEvent`]), and the rules about it — what counts as missed, which event wins when
//! they come twice or out of order ([`merge`]), and what a stored call's change asks for.
//!
//! Pure: the providers' wire formats are read in `channels::telephony`, the rows are kept
//! by `store::calls`.

use super::phone::Caller;
use serde::{Deserialize, Serialize};

/// A telephony provider. A third one is one new variant and one new parser module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Ringostat,
    Binotel,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Ringostat => "ringostat",
            Provider::Binotel => "binotel",
        }
    }
    pub fn parse(s: &str) -> Option<Provider> {
        match s {
            "ringostat" => Some(Provider::Ringostat),
            "binotel" => Some(Provider::Binotel),
            _ => None,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Provider::Ringostat => "Ringostat",
            Provider::Binotel => "Binotel",
        }
    }
}

/// Who dialled. A Ringostat `callback` (the customer asked the website to call them) is
/// inbound: the customer started it, and it is missed like an inbound call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallDirection {
    Inbound,
    Outbound,
}

impl CallDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            CallDirection::Inbound => "inbound",
            CallDirection::Outbound => "outbound",
        }
    }
    pub fn parse(s: &str) -> Option<CallDirection> {
        match s {
            "inbound" => Some(CallDirection::Inbound),
            "outbound" => Some(CallDirection::Outbound),
            _ => None,
        }
    }
}

/// How the call went (the providers' dispositions, in one vocabulary). `Calling` and
/// `InProgress` are live; the rest are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    Calling,
    InProgress,
    Answered,
    NoAnswer,
    Busy,
    Failed,
    Voicemail,
    /// The caller hung up before anyone answered (Binotel's `CANCEL`).
    Cancelled,
    /// A disposition this version does not know; kept as `other`, logged where it was read.
    Other,
}

impl Disposition {
    pub const ALL: [Disposition; 9] = [
        Disposition::Calling,
        Disposition::InProgress,
        Disposition::Answered,
        Disposition::NoAnswer,
        Disposition::Busy,
        Disposition::Failed,
        Disposition::Voicemail,
        Disposition::Cancelled,
        Disposition::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Calling => "calling",
            Disposition::InProgress => "in_progress",
            Disposition::Answered => "answered",
            Disposition::NoAnswer => "no_answer",
            Disposition::Busy => "busy",
            Disposition::Failed => "failed",
            Disposition::Voicemail => "voicemail",
            Disposition::Cancelled => "cancelled",
            Disposition::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Disposition> {
        Disposition::ALL.into_iter().find(|d| d.as_str() == s)
    }

    pub fn is_live(self) -> bool {
        matches!(self, Disposition::Calling | Disposition::InProgress)
    }

    /// How far along a call is: a later stage wins over an earlier one whatever order the
    /// events arrive in.
    fn rank(self) -> u8 {
        match self {
            Disposition::Calling => 0,
            Disposition::InProgress => 1,
            _ => 2,
        }
    }
}

/// Where a call came from, for the topic and the reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSource {
    pub pool: Option<String>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
}

impl CallSource {
    /// `Google Ads · google / cpc / spring`, or empty.
    pub fn shown(&self) -> String {
        let utm: Vec<&str> = [&self.utm_source, &self.utm_medium, &self.utm_campaign]
            .into_iter()
            .filter_map(|v| v.as_deref())
            .filter(|v| !v.is_empty())
            .collect();
        let mut parts = Vec::new();
        if let Some(p) = self.pool.as_deref().filter(|p| !p.is_empty()) {
            parts.push(p.to_string());
        }
        if !utm.is_empty() {
            parts.push(utm.join(" / "));
        }
        parts.join(" · ")
    }
}

/// One webhook (or reconciled) event about a call, as every provider becomes it.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEvent {
    pub provider: Provider,
    /// The provider's id of the call (Ringostat `uniqueid`, Binotel `generalCallID`).
    pub external_id: String,
    pub direction: CallDirection,
    /// The customer's side of the call; `None` for a hidden or unreadable number.
    pub caller: Option<Caller>,
    pub disposition: Disposition,
    /// The provider's word when it was not one we know (logged, kept for support).
    pub raw_disposition: Option<String>,
    /// Unix ms.
    pub started_at: i64,
    pub duration_s: Option<i64>,
    /// Talk time.
    pub billsec: Option<i64>,
    pub wait_s: Option<i64>,
    /// Where the recording can be fetched (links expire, as the providers' do).
    pub recording_url: Option<String>,
    pub employee_ext: Option<String>,
    pub employee_name: Option<String>,
    pub department: Option<String>,
    pub source: CallSource,
    /// A link to the call in the provider's cabinet.
    pub card_url: Option<String>,
}

impl CallEvent {
    /// Missed: inbound and not answered — `NO ANSWER`, `BUSY`, `FAILED`, `VOICEMAIL`,
    /// cancelled, or a final event with no talk time. A live call is not missed yet.
    pub fn missed(&self) -> bool {
        is_missed(self.direction, self.disposition, self.billsec)
    }

    pub fn answered(&self) -> bool {
        !self.disposition.is_live() && !self.missed() && self.billsec.unwrap_or(0) > 0
    }
}

pub fn is_missed(direction: CallDirection, d: Disposition, billsec: Option<i64>) -> bool {
    if direction != CallDirection::Inbound || d.is_live() {
        return false;
    }
    matches!(
        d,
        Disposition::NoAnswer
            | Disposition::Busy
            | Disposition::Failed
            | Disposition::Voicemail
            | Disposition::Cancelled
    ) || billsec.unwrap_or(0) == 0
}

/// What is stored of a call, as far as the merge rule needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub disposition: Disposition,
    pub billsec: Option<i64>,
    pub duration_s: Option<i64>,
    pub wait_s: Option<i64>,
    pub recording_url: Option<String>,
    pub employee_ext: Option<String>,
}

/// What an event does to the stored call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// A repeat, or an earlier stage arriving after a later one: nothing changes.
    Nothing,
    /// The event moves the call on (or completes a final state): store its fields.
    Apply,
}

/// The final state wins: an event about an earlier stage than the one stored (a "call
/// started" after its "call ended") changes nothing; so does an event that brings nothing
/// new. A second final event that differs (a provider's correction, or reconciliation
/// bringing the recording) is applied.
pub fn merge(stored: &Stored, ev: &CallEvent) -> Merge {
    let (was, now) = (stored.disposition.rank(), ev.disposition.rank());
    if now < was {
        return Merge::Nothing;
    }
    if now > was {
        return Merge::Apply;
    }
    if now < 2 {
        // Two live events of the same stage: nothing to add.
        return Merge::Nothing;
    }
    let newer = |new: &Option<i64>, old: &Option<i64>| new.is_some() && new != old;
    let changed = ev.disposition != stored.disposition
        || newer(&ev.billsec, &stored.billsec)
        || newer(&ev.duration_s, &stored.duration_s)
        || newer(&ev.wait_s, &stored.wait_s)
        || (ev.recording_url.is_some() && ev.recording_url != stored.recording_url)
        || (ev.employee_ext.is_some() && ev.employee_ext != stored.employee_ext);
    if changed {
        Merge::Apply
    } else {
        Merge::Nothing
    }
}

/// What storing a call event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub call: super::CallId,
    pub lead: Option<super::LeadId>,
    /// The event was new to us (a repeat, or an earlier stage after a later one, is not).
    pub changed: bool,
    /// A callback task was opened.
    pub callback: bool,
}

/// Why a call cannot be moved to another lead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveError {
    #[error("the call is already on that lead")]
    SameLead,
    #[error("lead #{0} is closed")]
    TargetClosed(i64),
    #[error(transparent)]
    Rule(#[from] super::lead::RuleError),
}

/// Staff move a call to the right lead (🔗 Other lead): one who may act on both leads, to
/// an open lead other than its own. Returns whether the lead it leaves is closed as a
/// duplicate — when that call was all it held (no message, no other call).
pub fn may_move(
    actor: super::lead::Actor,
    from: Option<(i64, &super::lead::LeadFacts)>,
    to: (i64, &super::lead::LeadFacts),
    from_held_only_this_call: bool,
) -> Result<bool, MoveError> {
    if from.is_some_and(|(id, _)| id == to.0) {
        return Err(MoveError::SameLead);
    }
    if !to.1.stage.is_open() {
        return Err(MoveError::TargetClosed(to.0));
    }
    super::lead::may_act_on(actor, to.1)?;
    if let Some((_, f)) = from {
        super::lead::may_act_on(actor, f)?;
    }
    Ok(from.is_some_and(|(_, f)| f.stage.is_open()) && from_held_only_this_call)
}

/// The lead number staff reply with to move a call: `12`, `#12`, ` #12 `.
pub fn lead_number(text: &str) -> Option<i64> {
    let t = text.trim();
    let t = t.strip_prefix('#').unwrap_or(t);
    t.parse::<i64>().ok().filter(|n| *n > 0)
}

/// What happens to a recording, as shown under the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingState {
    /// No recording (not answered, or the provider keeps none).
    None,
    Downloading,
    Posted,
    Unavailable,
}

impl RecordingState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingState::None => "none",
            RecordingState::Downloading => "downloading",
            RecordingState::Posted => "posted",
            RecordingState::Unavailable => "unavailable",
        }
    }
    pub fn parse(s: &str) -> Option<RecordingState> {
        [RecordingState::None, RecordingState::Downloading, RecordingState::Posted, RecordingState::Unavailable]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// Whether a final call's recording should be fetched: answered, with a link, and not
/// fetched or being fetched already.
pub fn wants_recording(ev_answered: bool, url: Option<&str>, state: RecordingState) -> bool {
    ev_answered && url.is_some_and(|u| !u.is_empty()) && matches!(state, RecordingState::None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(d: Disposition, billsec: Option<i64>) -> CallEvent {
        CallEvent {
            provider: Provider::Ringostat,
            external_id: "1".into(),
            direction: CallDirection::Inbound,
            caller: None,
            disposition: d,
            raw_disposition: None,
            started_at: 0,
            duration_s: None,
            billsec,
            wait_s: None,
            recording_url: None,
            employee_ext: None,
            employee_name: None,
            department: None,
            source: CallSource::default(),
            card_url: None,
        }
    }

    fn stored(e: &CallEvent) -> Stored {
        Stored {
            disposition: e.disposition,
            billsec: e.billsec,
            duration_s: e.duration_s,
            wait_s: e.wait_s,
            recording_url: e.recording_url.clone(),
            employee_ext: e.employee_ext.clone(),
        }
    }

    #[test]
    fn missed_is_inbound_unanswered_or_without_talk_time() {
        use Disposition::*;
        for d in [NoAnswer, Busy, Failed, Voicemail, Cancelled] {
            assert!(ev(d, Some(0)).missed(), "{d:?}");
            assert!(ev(d, Some(12)).missed(), "{d:?} even with talk time (a voicemail has some)");
        }
        assert!(!ev(Answered, Some(30)).missed());
        assert!(ev(Answered, Some(0)).missed(), "answered with billsec 0");
        assert!(ev(Answered, None).missed(), "no talk time given");
        assert!(ev(Other, Some(0)).missed());
        assert!(!ev(Other, Some(5)).missed());
        for d in [Calling, InProgress] {
            assert!(!ev(d, None).missed(), "a live call is not missed yet");
        }
        let mut out = ev(NoAnswer, Some(0));
        out.direction = CallDirection::Outbound;
        assert!(!out.missed(), "an outbound call nobody picked up is not a missed call");
        assert!(!out.answered());
        assert!(ev(Answered, Some(30)).answered());
        assert!(!ev(InProgress, Some(30)).answered());
    }

    #[test]
    fn the_final_state_wins_in_any_order() {
        use Disposition::*;
        let start = ev(Calling, None);
        let talking = ev(InProgress, None);
        let end = ev(Answered, Some(42));
        // In order.
        assert_eq!(merge(&stored(&start), &talking), Merge::Apply);
        assert_eq!(merge(&stored(&talking), &end), Merge::Apply);
        // Out of order: the end first, then its start: nothing changes.
        assert_eq!(merge(&stored(&end), &start), Merge::Nothing);
        assert_eq!(merge(&stored(&end), &talking), Merge::Nothing);
        // Repeats change nothing.
        for e in [&start, &talking, &end] {
            assert_eq!(merge(&stored(e), e), Merge::Nothing, "{:?}", e.disposition);
        }
    }

    #[test]
    fn a_second_final_event_that_brings_something_is_applied() {
        use Disposition::*;
        let end = ev(Answered, Some(42));
        let mut with_rec = end.clone();
        with_rec.recording_url = Some("https://rec/1.mp3".into());
        assert_eq!(merge(&stored(&end), &with_rec), Merge::Apply);
        // An event that lacks what is stored does not take it away, and changes nothing.
        assert_eq!(merge(&stored(&with_rec), &end), Merge::Nothing);
        assert_eq!(merge(&stored(&end), &ev(NoAnswer, Some(0))), Merge::Apply, "a correction");
        let mut ext = end.clone();
        ext.employee_ext = Some("101".into());
        assert_eq!(merge(&stored(&end), &ext), Merge::Apply);
    }

    #[test]
    fn every_pair_of_dispositions_obeys_the_order() {
        for a in Disposition::ALL {
            for b in Disposition::ALL {
                let m = merge(&stored(&ev(a, Some(1))), &ev(b, Some(1)));
                if b.rank() < a.rank() || (a == b) {
                    assert_eq!(m, Merge::Nothing, "{a:?} then {b:?}");
                } else if b.rank() > a.rank() {
                    assert_eq!(m, Merge::Apply, "{a:?} then {b:?}");
                }
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for d in Disposition::ALL {
            assert_eq!(Disposition::parse(d.as_str()), Some(d));
        }
        for p in [Provider::Ringostat, Provider::Binotel] {
            assert_eq!(Provider::parse(p.as_str()), Some(p));
        }
        assert_eq!(CallDirection::parse("outbound"), Some(CallDirection::Outbound));
        assert_eq!(RecordingState::parse("posted"), Some(RecordingState::Posted));
    }

    #[test]
    fn recordings_are_wanted_once_for_answered_calls_with_a_link() {
        assert!(wants_recording(true, Some("https://x"), RecordingState::None));
        assert!(!wants_recording(false, Some("https://x"), RecordingState::None));
        assert!(!wants_recording(true, None, RecordingState::None));
        assert!(!wants_recording(true, Some(""), RecordingState::None));
        assert!(!wants_recording(true, Some("https://x"), RecordingState::Downloading));
        assert!(!wants_recording(true, Some("https://x"), RecordingState::Posted));
    }

    #[test]
    fn who_may_move_a_call_and_when_the_old_lead_closes() {
        use crate::domain::lead::{Actor, LeadFacts, RuleError};
        use crate::domain::{Role, Stage, UserId};
        let facts = |stage, owner: Option<i64>| LeadFacts { stage, owner: owner.map(UserId), vehicles: 0 };
        let max = Actor { id: UserId(1), role: Role::Manager };
        let sup = Actor { id: UserId(9), role: Role::Supervisor };
        let analyst = Actor { id: UserId(5), role: Role::Analyst };
        let new_unowned = facts(Stage::New, None);
        let maxs = facts(Stage::Contacted, Some(1));
        let others = facts(Stage::Contacted, Some(2));
        let sold = facts(Stage::Sold, Some(1));
        assert_eq!(may_move(max, Some((1, &new_unowned)), (2, &maxs), true), Ok(true), "the call lead closes");
        assert_eq!(may_move(max, Some((1, &new_unowned)), (2, &maxs), false), Ok(false), "it held more");
        assert_eq!(may_move(max, None, (2, &maxs), true), Ok(false), "a call with no lead");
        assert_eq!(may_move(max, Some((2, &maxs)), (2, &maxs), true), Err(MoveError::SameLead));
        assert_eq!(may_move(max, Some((1, &new_unowned)), (3, &sold), true), Err(MoveError::TargetClosed(3)));
        assert_eq!(
            may_move(max, Some((1, &new_unowned)), (2, &others), true),
            Err(MoveError::Rule(RuleError::NotYourLead)),
            "a manager cannot move a call onto another manager's lead"
        );
        assert_eq!(may_move(max, Some((2, &others)), (1, &maxs), true), Err(MoveError::Rule(RuleError::NotYourLead)));
        assert_eq!(may_move(sup, Some((2, &others)), (1, &maxs), true), Ok(true));
        assert!(may_move(analyst, Some((1, &new_unowned)), (2, &new_unowned), true).is_err());
        assert_eq!(may_move(max, Some((1, &sold)), (2, &maxs), true), Ok(false), "a closed lead stays as it is");
    }

    #[test]
    fn lead_numbers_as_staff_type_them() {
        assert_eq!(lead_number("12"), Some(12));
        assert_eq!(lead_number(" #12 "), Some(12));
        for t in ["", "#", "twelve", "12 please", "-3", "0"] {
            assert_eq!(lead_number(t), None, "{t:?}");
        }
    }

    #[test]
    fn the_source_reads_as_one_line() {
        let s = CallSource {
            pool: Some("Google Ads".into()),
            utm_source: Some("google".into()),
            utm_medium: Some("cpc".into()),
            utm_campaign: None,
        };
        assert_eq!(s.shown(), "Google Ads · google / cpc");
        assert_eq!(CallSource::default().shown(), "");
    }
}
