//! Who gets a new lead (`FORECOURT_ASSIGNMENT`): nobody until claimed (`queue`), the next
//! eligible manager in turn (`round_robin`), or the eligible manager with the fewest open
//! leads, ties to whoever has waited longest since their last lead (`least_loaded`).
//!
//! Eligible: active, on shift, under their cap, and matching the lead's skills. Skills are
//! tags in three groups — channel (`telegram`, `viber`, `whatsapp`, `call`), intent (`buy`,
//! `sell`, `service`) and language (`uk`, `en`, `ru`…). A manager with no skills takes any
//! lead; one with skills in a group takes only leads whose value in that group is among
//! them (a lead with no value there, such as an intent not asked yet, matches). So
//! `--skills viber,uk` is "Viber leads in Ukrainian, any intent".
//!
//! Pure: the handler gathers the candidates and the clock.

use super::{Channel, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Queue,
    RoundRobin,
    LeastLoaded,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s.trim().to_lowercase().replace('-', "_").as_str() {
            "queue" => Some(Mode::Queue),
            "round_robin" => Some(Mode::RoundRobin),
            "least_loaded" => Some(Mode::LeastLoaded),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Queue => "queue",
            Mode::RoundRobin => "round_robin",
            Mode::LeastLoaded => "least_loaded",
        }
    }
}

/// The channel tags a skill list may hold; intents are `buy`, `sell`, `service`.
const CHANNELS: [&str; 4] = ["telegram", "viber", "whatsapp", "call"];
const INTENTS: [&str; 3] = ["buy", "sell", "service"];

/// A skill list as typed (`viber,whatsapp,buy,uk`): lower case, without repeats. Every tag
/// that is not a channel or an intent is a language code of two or three letters.
pub fn parse_skills(s: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for t in s.split([',', ' ']).map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty()) {
        let t = if t == "service_inquiry" { "service".to_string() } else { t };
        let ok = CHANNELS.contains(&t.as_str())
            || INTENTS.contains(&t.as_str())
            || ((2..=3).contains(&t.len()) && t.chars().all(|c| c.is_ascii_lowercase()));
        if !ok {
            return Err(format!(
                "'{t}' is not a skill: use channels ({}), intents ({}) or language codes (uk, en)",
                CHANNELS.join(", "),
                INTENTS.join(", ")
            ));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// What a lead asks of its manager.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Needs {
    pub channel: Option<Channel>,
    /// `buy`, `sell`, `service` (the bot's intent answer), when known.
    pub intent: Option<String>,
    pub language: Option<String>,
}

impl Needs {
    pub fn new(channel: Option<Channel>, intent: Option<&str>, language: Option<&str>) -> Needs {
        let intent = intent.map(|i| if i == "service_inquiry" { "service" } else { i }.to_string());
        let language = language.map(|l| l.split(['-', '_']).next().unwrap_or(l).to_lowercase());
        Needs { channel, intent, language }
    }

    /// Does a manager with these skills match?
    pub fn matched_by(&self, skills: &[String]) -> bool {
        let has = |group: &dyn Fn(&str) -> bool, value: Option<&str>| {
            let listed: Vec<&String> = skills.iter().filter(|s| group(s)).collect();
            listed.is_empty() || value.is_none_or(|v| listed.iter().any(|s| *s == v))
        };
        let is_channel = |s: &str| CHANNELS.contains(&s);
        let is_intent = |s: &str| INTENTS.contains(&s);
        let is_language = |s: &str| !CHANNELS.contains(&s) && !INTENTS.contains(&s);
        let intent = self.intent.as_deref().filter(|i| INTENTS.contains(i));
        has(&is_channel, self.channel.map(|c| c.as_str()))
            && has(&is_intent, intent)
            && has(&is_language, self.language.as_deref())
    }
}

/// Whether a manager is on shift now. `/shift on` or `/shift off` holds for the local day it
/// was said (`shift`: on or off, and that day; `today`: the local date now); without it,
/// personal hours decide when set, else the business hours.
pub fn on_shift(
    shift: Option<(bool, &str)>,
    today: &str,
    personal_hours_open: Option<bool>,
    business_open: bool,
) -> bool {
    let flag = shift.filter(|(_, day)| *day == today).map(|(on, _)| on);
    flag.or(personal_hours_open).unwrap_or(business_open)
}

/// On leave until `leave_until` (exclusive): no leads, and their open ones go back.
pub fn on_leave(leave_until: Option<i64>, now: i64) -> bool {
    leave_until.is_some_and(|l| l > now)
}

/// What the silence timer does with a lead nobody answered in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Silence {
    /// Move it to the next eligible manager (if there is one; else say there is nobody).
    Move,
    /// Alert the supervisors that its owner is silent (`queue` mode, or moved once already).
    OwnerSilent,
    /// Alert the supervisors that nobody claimed or answered it.
    Unanswered,
}

/// The silence timer's rule: an owned lead moves once, except in `queue` mode, where the
/// timer only alerts; an unowned one only alerts.
pub fn on_silence(mode: Mode, has_owner: bool, moved_before: bool) -> Silence {
    match (has_owner, mode, moved_before) {
        (false, _, _) => Silence::Unanswered,
        (true, Mode::Queue, _) | (true, _, true) => Silence::OwnerSilent,
        (true, _, false) => Silence::Move,
    }
}

/// Which reply alert is due for a customer who has waited `waited_secs` of business time
/// for a later answer: the owner's at `alert_minutes`, the supervisors' at twice that.
/// `alerted`: the owner's was sent. `None` until the next one is due.
pub fn reply_alert(waited_secs: i64, alert_minutes: u32, alerted: bool) -> Option<ReplyAlert> {
    let first = i64::from(alert_minutes) * 60;
    match alerted {
        false if waited_secs >= first => Some(ReplyAlert::Owner),
        true if waited_secs >= 2 * first => Some(ReplyAlert::Supervisors),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyAlert {
    Owner,
    Supervisors,
}

/// A manager who might get the lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub user: UserId,
    pub on_shift: bool,
    /// Open leads they own now.
    pub open: u32,
    pub max_open: Option<u32>,
    pub skills: Vec<String>,
    /// When they last got a lead by assignment (unix ms), if ever.
    pub last_assigned_at: Option<i64>,
}

impl Candidate {
    pub fn eligible(&self, needs: &Needs) -> bool {
        self.on_shift && self.max_open.is_none_or(|m| self.open < m) && needs.matched_by(&self.skills)
    }
}

/// The owner for a new lead, or `None` to leave it in the queue. `previous`: the owner of
/// the customer's last lead, when within the sticky days; they get it back when eligible.
/// `last_turn`: who got the last round-robin lead. `except`: who may not have it (the
/// silent owner it is taken from).
pub fn choose(
    mode: Mode,
    candidates: &[Candidate],
    needs: &Needs,
    previous: Option<UserId>,
    last_turn: Option<UserId>,
    except: Option<UserId>,
) -> Option<UserId> {
    if mode == Mode::Queue {
        return None;
    }
    let mut eligible: Vec<&Candidate> =
        candidates.iter().filter(|c| c.eligible(needs) && Some(c.user) != except).collect();
    if let Some(p) = previous.filter(|p| eligible.iter().any(|c| c.user == *p)) {
        return Some(p);
    }
    eligible.sort_by_key(|c| c.user);
    match mode {
        Mode::Queue => None,
        Mode::RoundRobin => {
            let next = last_turn.and_then(|l| eligible.iter().find(|c| c.user > l));
            next.or(eligible.first()).map(|c| c.user)
        }
        Mode::LeastLoaded => {
            eligible.iter().min_by_key(|c| (c.open, c.last_assigned_at.unwrap_or(i64::MIN), c.user)).map(|c| c.user)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: i64, open: u32) -> Candidate {
        Candidate {
            user: UserId(id),
            on_shift: true,
            open,
            max_open: None,
            skills: vec![],
            last_assigned_at: Some(id * 1000),
        }
    }

    fn viber_uk_buy() -> Needs {
        Needs::new(Some(Channel::Viber), Some("buy"), Some("uk"))
    }

    #[test]
    fn modes_read_and_queue_assigns_nobody() {
        assert_eq!(Mode::parse("round-robin"), Some(Mode::RoundRobin));
        assert_eq!(Mode::parse(" Least_Loaded"), Some(Mode::LeastLoaded));
        assert_eq!(Mode::parse("queue"), Some(Mode::Queue));
        assert_eq!(Mode::parse("random"), None);
        assert_eq!(choose(Mode::Queue, &[c(1, 0)], &Needs::default(), None, None, None), None);
    }

    #[test]
    fn round_robin_takes_turns_and_wraps() {
        let team = [c(3, 0), c(1, 9), c(2, 0)];
        let n = Needs::default();
        let mut last = None;
        let mut got = Vec::new();
        for _ in 0..5 {
            last = choose(Mode::RoundRobin, &team, &n, None, last, None);
            got.push(last.unwrap().0);
        }
        assert_eq!(got, vec![1, 2, 3, 1, 2]);
        // The one whose turn it was has left: the next after them.
        assert_eq!(choose(Mode::RoundRobin, &[c(1, 0), c(3, 0)], &n, None, Some(UserId(2)), None), Some(UserId(3)));
    }

    #[test]
    fn least_loaded_picks_the_lighter_then_the_longest_waiting() {
        let n = Needs::default();
        assert_eq!(choose(Mode::LeastLoaded, &[c(1, 4), c(2, 1), c(3, 2)], &n, None, None, None), Some(UserId(2)));
        let mut a = c(1, 2);
        let mut b = c(2, 2);
        a.last_assigned_at = Some(5_000);
        b.last_assigned_at = Some(1_000);
        assert_eq!(choose(Mode::LeastLoaded, &[a.clone(), b.clone()], &n, None, None, None), Some(UserId(2)));
        b.last_assigned_at = None;
        a.last_assigned_at = Some(1);
        assert_eq!(choose(Mode::LeastLoaded, &[a, b], &n, None, None, None), Some(UserId(2)), "never assigned first");
    }

    #[test]
    fn only_the_eligible_get_leads() {
        let n = viber_uk_buy();
        let mut off = c(1, 0);
        off.on_shift = false;
        let mut full = c(2, 5);
        full.max_open = Some(5);
        let mut english = c(3, 0);
        english.skills = vec!["en".into()];
        let mut whatsapp = c(4, 0);
        whatsapp.skills = vec!["whatsapp".into(), "uk".into()];
        let team = [off, full, english, whatsapp];
        for mode in [Mode::RoundRobin, Mode::LeastLoaded] {
            assert_eq!(choose(mode, &team, &n, None, None, None), None, "{mode:?}");
        }
        let mut viber = c(5, 3);
        viber.skills = vec!["viber".into(), "uk".into(), "sell".into(), "buy".into()];
        let mut team = team.to_vec();
        team.push(viber);
        assert_eq!(choose(Mode::LeastLoaded, &team, &n, None, None, None), Some(UserId(5)));
        assert_eq!(choose(Mode::RoundRobin, &team, &n, None, Some(UserId(5)), None), Some(UserId(5)));
        let mut under = c(6, 4);
        under.max_open = Some(5);
        assert!(under.eligible(&n));
    }

    #[test]
    fn skills_match_group_by_group() {
        let n = viber_uk_buy();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(n.matched_by(&[]));
        assert!(n.matched_by(&s(&["viber"])));
        assert!(n.matched_by(&s(&["viber", "whatsapp", "uk", "en"])));
        assert!(!n.matched_by(&s(&["whatsapp"])));
        assert!(!n.matched_by(&s(&["viber", "sell"])));
        assert!(!n.matched_by(&s(&["en"])));
        // Not known yet: any skill in that group matches.
        let early = Needs::new(Some(Channel::Viber), None, None);
        assert!(early.matched_by(&s(&["viber", "sell", "en"])));
        assert!(Needs::new(None, Some("service_inquiry"), Some("uk-UA")).matched_by(&s(&["service", "uk"])));
        // "other" is no intent a skill names.
        assert!(Needs::new(None, Some("other"), None).matched_by(&s(&["buy"])));
    }

    #[test]
    fn a_returning_customer_goes_back_to_their_owner_when_eligible() {
        let team = [c(1, 9), c(2, 0)];
        let n = Needs::default();
        assert_eq!(choose(Mode::LeastLoaded, &team, &n, Some(UserId(1)), None, None), Some(UserId(1)));
        assert_eq!(choose(Mode::RoundRobin, &team, &n, Some(UserId(7)), None, None), Some(UserId(1)), "gone");
        let mut off = team.to_vec();
        off[0].on_shift = false;
        assert_eq!(choose(Mode::LeastLoaded, &off, &n, Some(UserId(1)), None, None), Some(UserId(2)));
    }

    #[test]
    fn the_silent_owner_is_not_chosen_again() {
        let team = [c(1, 0), c(2, 5)];
        let n = Needs::default();
        assert_eq!(choose(Mode::LeastLoaded, &team, &n, None, None, Some(UserId(1))), Some(UserId(2)));
        assert_eq!(choose(Mode::RoundRobin, &team[..1], &n, Some(UserId(1)), None, Some(UserId(1))), None);
    }

    #[test]
    fn shifts_say_on_or_off_for_the_day_before_hours() {
        let today = "2026-12-03";
        assert!(on_shift(Some((true, today)), today, Some(false), false), "/shift on outside hours");
        assert!(!on_shift(Some((false, today)), today, Some(true), true), "/shift off");
        assert!(on_shift(Some((false, "2026-12-02")), today, None, true), "yesterday's /shift off is over");
        assert!(!on_shift(Some((true, "2026-12-02")), today, None, false), "so is yesterday's /shift on");
        assert!(on_shift(None, today, Some(true), false), "personal hours");
        assert!(!on_shift(None, today, Some(false), true));
        assert!(on_shift(None, today, None, true) && !on_shift(None, today, None, false), "business hours");
        assert!(on_leave(Some(2_000), 1_000) && !on_leave(Some(1_000), 1_000) && !on_leave(None, 1_000));
    }

    #[test]
    fn the_silence_timer_moves_once_and_only_alerts_in_the_queue() {
        for mode in [Mode::RoundRobin, Mode::LeastLoaded] {
            assert_eq!(on_silence(mode, true, false), Silence::Move);
            assert_eq!(on_silence(mode, true, true), Silence::OwnerSilent);
            assert_eq!(on_silence(mode, false, false), Silence::Unanswered);
        }
        assert_eq!(on_silence(Mode::Queue, true, false), Silence::OwnerSilent);
        assert_eq!(on_silence(Mode::Queue, false, true), Silence::Unanswered);
    }

    #[test]
    fn reply_alerts_go_to_the_owner_then_the_supervisors() {
        assert_eq!(reply_alert(59 * 60, 60, false), None);
        assert_eq!(reply_alert(60 * 60, 60, false), Some(ReplyAlert::Owner));
        assert_eq!(reply_alert(119 * 60, 60, true), None);
        assert_eq!(reply_alert(120 * 60, 60, true), Some(ReplyAlert::Supervisors));
        assert_eq!(reply_alert(500 * 60, 60, false), Some(ReplyAlert::Owner), "the owner first, however late");
    }

    #[test]
    fn skill_lists_read_and_bad_ones_say_why() {
        assert_eq!(parse_skills("Viber, whatsapp,buy uk uk").unwrap(), vec!["viber", "whatsapp", "buy", "uk"]);
        assert_eq!(parse_skills("service_inquiry").unwrap(), vec!["service"]);
        assert!(parse_skills("vibr0").unwrap_err().contains("'vibr0' is not a skill"));
        assert!(parse_skills("").unwrap().is_empty());
    }
}
