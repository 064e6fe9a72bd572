//! Vehicles: VIN checks, exact prices, statuses. No IO.

use serde::Serialize;

/// A vehicle's place in the stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VehicleStatus {
    Available,
    Reserved,
    Sold,
    Archived,
}

impl VehicleStatus {
    pub const ALL: [VehicleStatus; 4] =
        [VehicleStatus::Available, VehicleStatus::Reserved, VehicleStatus::Sold, VehicleStatus::Archived];

    pub fn as_str(self) -> &'static str {
        match self {
            VehicleStatus::Available => "available",
            VehicleStatus::Reserved => "reserved",
            VehicleStatus::Sold => "sold",
            VehicleStatus::Archived => "archived",
        }
    }

    /// Reads our names, case-insensitively, and the words an ERP export commonly uses.
    pub fn parse(s: &str) -> Option<VehicleStatus> {
        match s.trim().to_ascii_lowercase().as_str() {
            "available" | "in_stock" | "in stock" | "free" | "" => Some(VehicleStatus::Available),
            "reserved" | "booked" | "on_hold" | "on hold" => Some(VehicleStatus::Reserved),
            "sold" => Some(VehicleStatus::Sold),
            "archived" | "archive" | "withdrawn" => Some(VehicleStatus::Archived),
            _ => None,
        }
    }
}

/// What is wrong with a VIN. A wrong check digit is a warning, not a refusal: many
/// imported cars (and some markets) carry VINs whose ninth character is not a check digit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VinError {
    #[error("a VIN has 17 characters; `{0}` has {1}")]
    Length(String, usize),
    #[error("a VIN never contains I, O or Q (`{0}`)")]
    ForbiddenLetter(String),
    #[error("a VIN has only letters and digits (`{0}`)")]
    Character(String),
}

/// A checked VIN, upper-cased, with whether its check digit (position 9) holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vin {
    pub value: String,
    pub check_digit_ok: bool,
}

fn transliterate(c: char) -> u32 {
    match c {
        '0'..='9' => c as u32 - '0' as u32,
        'A' | 'J' => 1,
        'B' | 'K' | 'S' => 2,
        'C' | 'L' | 'T' => 3,
        'D' | 'M' | 'U' => 4,
        'E' | 'N' | 'V' => 5,
        'F' | 'W' => 6,
        'G' | 'P' | 'X' => 7,
        'H' | 'Y' => 8,
        'R' | 'Z' => 9,
        _ => 0,
    }
}

const WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

/// The check digit a VIN's other characters call for ('0'-'9' or 'X').
pub fn check_digit(vin: &str) -> char {
    let sum: u32 = vin.chars().zip(WEIGHTS).map(|(c, w)| transliterate(c) * w).sum();
    match sum % 11 {
        10 => 'X',
        d => char::from_digit(d, 10).expect("a digit"),
    }
}

/// Check a VIN: spaces and dashes removed, upper-cased, 17 characters, no I/O/Q.
pub fn parse_vin(raw: &str) -> Result<Vin, VinError> {
    let v: String = raw.chars().filter(|c| !c.is_whitespace() && *c != '-').collect::<String>().to_uppercase();
    if v.chars().count() != 17 {
        return Err(VinError::Length(v.clone(), v.chars().count()));
    }
    if !v.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(VinError::Character(v));
    }
    if v.contains(['I', 'O', 'Q']) {
        return Err(VinError::ForbiddenLetter(v));
    }
    let check_digit_ok = v.chars().nth(8) == Some(check_digit(&v));
    Ok(Vin { value: v, check_digit_ok })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a price (digits, with at most two decimals: 24500, 24 500.50, 24500,5)")]
pub struct PriceError(pub String);

/// A price in minor units (cents, kopiykas), parsed exactly — never through a float.
/// Spaces (and non-breaking spaces) group thousands; `.` or `,` marks decimals.
pub fn parse_price(raw: &str) -> Result<i64, PriceError> {
    let err = || PriceError(raw.to_string());
    let s: String = raw.chars().filter(|c| !c.is_whitespace() && *c != '\u{a0}' && *c != '_').collect();
    if s.is_empty() || s.starts_with('-') {
        return Err(err());
    }
    let (whole, frac) = match s.split_once(['.', ',']) {
        Some((w, f)) => (w, f),
        None => (s.as_str(), ""),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 2 {
        return Err(err());
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let whole: i64 = whole.parse().map_err(|_| err())?;
    let cents: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().map_err(|_| err())? * 10,
        _ => frac.parse().map_err(|_| err())?,
    };
    whole.checked_mul(100).and_then(|w| w.checked_add(cents)).ok_or_else(err)
}

/// A price in minor units for people: `24 500` or `24 500.50`.
pub fn format_price(minor: i64, currency: Option<&str>) -> String {
    let whole = (minor / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(' ');
        }
        grouped.push(c);
    }
    let cents = minor % 100;
    let mut out = if cents == 0 { grouped } else { format!("{grouped}.{cents:02}") };
    if let Some(c) = currency.filter(|c| !c.is_empty()) {
        out.push(' ');
        out.push_str(c);
    }
    out
}

/// May `actor` attach a vehicle in `status` to this lead? The lead's own rules first (who
/// may act on it, open leads only); an archived car never; a car reserved or sold for
/// another open lead only by a supervisor (or admin), who may override.
pub fn may_attach(
    actor: super::Actor,
    lead: &super::LeadFacts,
    status: VehicleStatus,
    held_by_another_lead: bool,
) -> Result<(), super::RuleError> {
    use super::RuleError;
    super::lead::may_act_on(actor, lead)?;
    if !lead.stage.is_open() {
        return Err(RuleError::Closed);
    }
    match status {
        VehicleStatus::Archived => Err(RuleError::VehicleArchived),
        VehicleStatus::Reserved | VehicleStatus::Sold if held_by_another_lead && !actor.role.is_supervising() => {
            Err(RuleError::VehicleTaken(status.as_str()))
        }
        _ => Ok(()),
    }
}

/// May `actor` detach a vehicle from this lead? Whoever may act on the open lead.
pub fn may_detach(actor: super::Actor, lead: &super::LeadFacts) -> Result<(), super::RuleError> {
    super::lead::may_act_on(actor, lead)?;
    if !lead.stage.is_open() {
        return Err(super::RuleError::Closed);
    }
    Ok(())
}

/// What a lead's stage move does to an attached vehicle: entering `prepayment` reserves an
/// available car, `sold` sells it, and `lost` — or a supervisor moving the lead back out of
/// `prepayment` — releases the reservation unless another open lead in `prepayment` holds
/// the car. `None`: no change.
pub fn status_after_stage(
    from: super::Stage,
    to: super::Stage,
    current: VehicleStatus,
    reserved_by_another_lead: bool,
) -> Option<VehicleStatus> {
    use super::Stage as S;
    use VehicleStatus as V;
    match (to, current) {
        (S::Prepayment, V::Available) => Some(V::Reserved),
        (S::Sold, V::Available | V::Reserved) => Some(V::Sold),
        (S::Lost, V::Reserved) if !reserved_by_another_lead => Some(V::Available),
        (S::New | S::Contacted | S::Qualified | S::InNegotiation, V::Reserved)
            if from == S::Prepayment && !reserved_by_another_lead =>
        {
            Some(V::Available)
        }
        _ => None,
    }
}

/// The ERP events that change vehicles, and the status each one sets (`None`: the status
/// the event's vehicle carries, if any). An event not listed here is not a vehicle event.
pub fn erp_event_status(event: &str) -> Option<Option<VehicleStatus>> {
    match event {
        "vehicle.upsert" => Some(None),
        "vehicle.sold" => Some(Some(VehicleStatus::Sold)),
        "vehicle.archived" => Some(Some(VehicleStatus::Archived)),
        _ => None,
    }
}

/// The ERP's own version of a record. 1C exports `DataVersion` as an opaque base64 string
/// (`"AAAAAgAAAAA="`); other ERPs send a counter. A whole number is ordered; anything else
/// only tells whether two versions are the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataVersion {
    Ordered(i64),
    Opaque(String),
}

impl DataVersion {
    /// A version as the ERP wrote it (already trimmed and non-empty).
    pub fn parse(s: &str) -> DataVersion {
        match s.parse::<i64>() {
            Ok(n) => DataVersion::Ordered(n),
            Err(_) => DataVersion::Opaque(s.to_string()),
        }
    }
}

/// What the ERP last told us about a vehicle: its own record version and when it sent it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErpVersion {
    pub data_version: Option<DataVersion>,
    pub sent_at: Option<i64>,
}

/// Whether an ERP event carries newer data than what is stored. Two ordered versions
/// decide by themselves; the same opaque version is "nothing changed"; otherwise the time
/// the ERP sent it decides. Equal is not newer: a replayed event changes nothing (a
/// replayed upsert must not un-sell a sold car).
pub fn erp_is_newer(stored: &ErpVersion, incoming: &ErpVersion) -> bool {
    match (&stored.data_version, &incoming.data_version) {
        (Some(DataVersion::Ordered(s)), Some(DataVersion::Ordered(i))) => i > s,
        (Some(DataVersion::Opaque(s)), Some(DataVersion::Opaque(i))) if s == i => false,
        _ => match (stored.sent_at, incoming.sent_at) {
            (Some(s), Some(i)) => i > s,
            (None, _) => true,
            (Some(_), None) => false,
        },
    }
}

/// An ERP time: RFC 3339 with an offset, or — 1C's habit — a local time without one, read
/// in the dealership's time zone. Returns unix milliseconds.
pub fn parse_erp_time(s: &str, tz: chrono_tz::Tz) -> Option<i64> {
    use chrono::{NaiveDateTime, TimeZone};
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    let naive = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())?;
    // In the autumn hour that happens twice, the earlier reading; in the spring gap, none.
    tz.from_local_datetime(&naive).earliest().map(|t| t.timestamp_millis())
}

/// A manager's free-text search ("rav4 2019", "toyta", "…042788"), read into its parts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchQuery {
    pub year: Option<i64>,
    /// The end of a VIN (4-17 letters and digits with at least one digit, or a whole VIN).
    pub vin_tail: Option<String>,
    /// Other words, lower-cased: makes, models, trims.
    pub words: Vec<String>,
}

/// Read a search: a 4-digit year, a VIN or its tail, and words.
pub fn parse_query(q: &str) -> SearchQuery {
    let mut out = SearchQuery::default();
    for raw in q.split(|c: char| c.is_whitespace() || c == ',' || c == '…' || c == '*') {
        let w = raw.trim_matches(|c: char| !c.is_alphanumeric()).to_string();
        if w.is_empty() {
            continue;
        }
        let digits = w.chars().filter(char::is_ascii_digit).count();
        if w.len() == 4 && digits == 4 {
            let y: i64 = w.parse().unwrap_or(0);
            if (1950..=2100).contains(&y) && out.year.is_none() {
                out.year = Some(y);
                continue;
            }
        }
        // A VIN tail: four or more digits, or six or more characters at least half digits
        // ("320d" and "i30" are models, "042788" and "KP042788" tails).
        let alnum = w.chars().all(|c| c.is_ascii_alphanumeric()) && w.len() <= 17;
        let tail = (w.len() >= 4 && digits == w.len()) || (w.len() >= 6 && digits * 2 >= w.len());
        if alnum && tail && out.vin_tail.is_none() {
            out.vin_tail = Some(w.to_uppercase());
            continue;
        }
        out.words.push(w.to_lowercase());
    }
    out
}

/// Edit distance between two short words (makes and models), for misspellings.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Whether a typed word means this name: the same, a prefix of at least 3 letters, or a
/// misspelling (one edit for names up to 5 letters, two beyond).
pub fn word_matches(word: &str, name: &str) -> bool {
    let (w, n) = (word.to_lowercase(), name.to_lowercase());
    if w == n || (w.len() >= 3 && n.starts_with(&w)) {
        return true;
    }
    let allowed = if n.chars().count() <= 5 { 1 } else { 2 };
    w.chars().count() >= 3 && edit_distance(&w, &n) <= allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vins_are_checked_and_normalised() {
        // A valid VIN (check digit X at position 9).
        let v = parse_vin("1m8gdm9ax kp042788").unwrap();
        assert_eq!(v.value, "1M8GDM9AXKP042788");
        assert!(v.check_digit_ok);
        // Same VIN, another check digit: accepted, flagged.
        let v = parse_vin("1M8GDM9A1KP042788").unwrap();
        assert!(!v.check_digit_ok);
        assert_eq!(parse_vin("JTMBFREV5JJ123456").map(|v| v.value.len()), Ok(17));
        assert!(matches!(parse_vin("1M8GDM9AXKP04278"), Err(VinError::Length(_, 16))));
        assert!(matches!(parse_vin("1M8GDM9AXKP0427O8"), Err(VinError::ForbiddenLetter(_))));
        assert!(matches!(parse_vin("1M8GDM9AXKP0427*8"), Err(VinError::Character(_))));
        assert_eq!(parse_vin("1M8-GDM9AX-KP042788").unwrap().value, "1M8GDM9AXKP042788");
    }

    #[test]
    fn the_check_digit_follows_the_standard() {
        assert_eq!(check_digit("11111111111111111"), '1');
        assert_eq!(check_digit("1M8GDM9AXKP042788"), 'X');
    }

    #[test]
    fn prices_are_exact_minor_units() {
        assert_eq!(parse_price("24500"), Ok(2_450_000));
        assert_eq!(parse_price("24 500"), Ok(2_450_000));
        assert_eq!(parse_price("24\u{a0}500,5"), Ok(2_450_050));
        assert_eq!(parse_price("0.07"), Ok(7));
        assert_eq!(parse_price("19999.99"), Ok(1_999_999));
        for bad in ["", "-5", "12.345", "1e5", "abc", ".5", "12.3.4", "99999999999999999999"] {
            assert!(parse_price(bad).is_err(), "{bad}");
        }
        assert_eq!(format_price(2_450_050, Some("USD")), "24 500.50 USD");
        assert_eq!(format_price(1_000_000, None), "10 000");
        assert_eq!(format_price(99, None), "0.99");
    }

    #[test]
    fn erp_events_set_statuses() {
        assert_eq!(erp_event_status("vehicle.upsert"), Some(None));
        assert_eq!(erp_event_status("vehicle.sold"), Some(Some(VehicleStatus::Sold)));
        assert_eq!(erp_event_status("vehicle.archived"), Some(Some(VehicleStatus::Archived)));
        assert_eq!(erp_event_status("customer.upsert"), None);
    }

    #[test]
    fn erp_events_never_roll_a_vehicle_back() {
        let v =
            |dv: Option<i64>, at: Option<i64>| ErpVersion { data_version: dv.map(DataVersion::Ordered), sent_at: at };
        assert!(erp_is_newer(&v(None, None), &v(None, Some(1))), "nothing stored yet");
        assert!(erp_is_newer(&v(Some(3), Some(100)), &v(Some(4), Some(50))), "the version decides over time");
        assert!(!erp_is_newer(&v(Some(4), Some(50)), &v(Some(3), Some(100))));
        assert!(!erp_is_newer(&v(Some(4), Some(50)), &v(Some(4), Some(50))), "a replay changes nothing");
        assert!(erp_is_newer(&v(None, Some(100)), &v(None, Some(101))));
        assert!(!erp_is_newer(&v(None, Some(100)), &v(None, Some(100))));
        assert!(erp_is_newer(&v(Some(1), Some(100)), &v(None, Some(101))), "no version: time decides");
        assert!(!erp_is_newer(&v(None, Some(100)), &v(Some(9), None)), "no time and nothing to compare: older");
    }

    #[test]
    fn opaque_versions_say_only_same_or_not_and_time_orders_the_rest() {
        let o = |s: &str, at: Option<i64>| ErpVersion { data_version: Some(DataVersion::parse(s)), sent_at: at };
        assert_eq!(DataVersion::parse("AAAAAgAAAAA="), DataVersion::Opaque("AAAAAgAAAAA=".into()));
        assert_eq!(DataVersion::parse("42"), DataVersion::Ordered(42));
        assert!(!erp_is_newer(&o("AAAAAgAAAAA=", Some(100)), &o("AAAAAgAAAAA=", Some(200))), "the same version");
        assert!(erp_is_newer(&o("AAAAAgAAAAA=", Some(100)), &o("AAAAAwAAAAA=", Some(200))), "another, sent later");
        assert!(!erp_is_newer(&o("AAAAAwAAAAA=", Some(200)), &o("AAAAAgAAAAA=", Some(100))), "a replayed older one");
        assert!(!erp_is_newer(&o("AAAAAwAAAAA=", Some(200)), &o("AAAAAgAAAAA=", None)), "no time: not newer");
        assert!(erp_is_newer(&o("7", Some(100)), &o("AAAA", Some(101))), "ordered against opaque: time decides");
        assert!(!erp_is_newer(&o("AAAA", Some(101)), &o("7", Some(100))));
    }

    #[test]
    fn erp_times_with_and_without_an_offset() {
        let kyiv = chrono_tz::Europe::Kyiv;
        // 1C writes local time without an offset; Kyiv is UTC+2 in winter, +3 in summer.
        assert_eq!(parse_erp_time("2026-01-15T10:00:00", kyiv), Some(1_768_464_000_000));
        assert_eq!(parse_erp_time("2026-07-15 10:00:00", kyiv), Some(1_784_098_800_000));
        assert_eq!(parse_erp_time("2026-01-15T08:00:00Z", kyiv), Some(1_768_464_000_000));
        assert_eq!(parse_erp_time("2026-01-15T10:00:00+02:00", kyiv), Some(1_768_464_000_000));
        assert_eq!(parse_erp_time("2026-03-29T03:30:00", kyiv), None, "a time the spring gap skips");
        assert_eq!(parse_erp_time("yesterday", kyiv), None);
    }

    #[test]
    fn searches_are_read_into_year_vin_tail_and_words() {
        assert_eq!(
            parse_query("RAV4 2019"),
            SearchQuery { year: Some(2019), vin_tail: None, words: vec!["rav4".into()] }
        );
        assert_eq!(parse_query("…042788").vin_tail.as_deref(), Some("042788"));
        assert_eq!(parse_query("kp042788 toyota").vin_tail.as_deref(), Some("KP042788"));
        assert_eq!(parse_query("1M8GDM9AXKP042788").vin_tail.as_deref(), Some("1M8GDM9AXKP042788"));
        assert_eq!(parse_query("x5 e70").words, vec!["x5", "e70"], "short model names stay words");
        assert_eq!(parse_query("bmw 320d").words, vec!["bmw", "320d"]);
        assert_eq!(parse_query("4788").vin_tail.as_deref(), Some("4788"));
        assert_eq!(parse_query("  ").words.len(), 0);
    }

    #[test]
    fn misspelled_makes_and_models_still_match() {
        assert_eq!(edit_distance("toyta", "toyota"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert!(word_matches("toyta", "Toyota"));
        assert!(word_matches("volkswagn", "Volkswagen"));
        assert!(word_matches("merc", "Mercedes-Benz"), "a prefix");
        assert!(word_matches("shkoda", "Skoda") && word_matches("kia", "KIA"));
        assert!(!word_matches("skd", "Skoda"), "too far");
        assert!(!word_matches("bmw", "Kia"));
        assert!(!word_matches("x5", "x3"), "two letters are too few to guess");
        assert!(word_matches("x5", "X5"));
    }

    #[test]
    fn stage_moves_reserve_sell_and_release_vehicles() {
        use crate::domain::Stage as S;
        use VehicleStatus as V;
        // Written out as a table per target stage, independently of the function's match.
        for from in S::ALL {
            for to in S::ALL {
                for current in V::ALL {
                    for other in [false, true] {
                        let leaving_prepayment = from == S::Prepayment && to.is_open() && to != S::Prepayment;
                        let want = if to == S::Prepayment {
                            (current == V::Available).then_some(V::Reserved)
                        } else if to == S::Sold {
                            matches!(current, V::Available | V::Reserved).then_some(V::Sold)
                        } else if (to == S::Lost || leaving_prepayment) && current == V::Reserved && !other {
                            Some(V::Available)
                        } else {
                            None
                        };
                        assert_eq!(
                            status_after_stage(from, to, current, other),
                            want,
                            "{from:?}→{to:?} {current:?} {other}"
                        );
                    }
                }
            }
        }
        // The cases that matter, spelled out.
        assert_eq!(status_after_stage(S::InNegotiation, S::Prepayment, V::Available, false), Some(V::Reserved));
        assert_eq!(status_after_stage(S::Prepayment, S::Sold, V::Reserved, false), Some(V::Sold));
        assert_eq!(status_after_stage(S::Prepayment, S::Lost, V::Reserved, false), Some(V::Available));
        assert_eq!(status_after_stage(S::Prepayment, S::Lost, V::Reserved, true), None, "another lead's reservation");
        assert_eq!(status_after_stage(S::InNegotiation, S::Lost, V::Sold, false), None, "a sold car stays sold");
        assert_eq!(status_after_stage(S::Qualified, S::Prepayment, V::Archived, false), None);
    }

    #[test]
    fn who_may_attach_which_vehicle() {
        use crate::domain::{Actor, LeadFacts, Role, RuleError, Stage, UserId};
        let manager = Actor { id: UserId(1), role: Role::Manager };
        let other = Actor { id: UserId(2), role: Role::Manager };
        let boss = Actor { id: UserId(3), role: Role::Supervisor };
        let analyst = Actor { id: UserId(4), role: Role::Analyst };
        let mine = LeadFacts { stage: Stage::Contacted, owner: Some(UserId(1)), vehicles: 0 };
        let closed = LeadFacts { stage: Stage::Lost, ..mine };
        use VehicleStatus::*;
        for status in VehicleStatus::ALL {
            for held in [false, true] {
                let want = match (status, held) {
                    (Archived, _) => Err(RuleError::VehicleArchived),
                    (Reserved | Sold, true) => Err(RuleError::VehicleTaken(status.as_str())),
                    _ => Ok(()),
                };
                assert_eq!(may_attach(manager, &mine, status, held), want, "{status:?} held {held}");
                let boss_want = if status == Archived { Err(RuleError::VehicleArchived) } else { Ok(()) };
                assert_eq!(may_attach(boss, &mine, status, held), boss_want, "a supervisor overrides");
                assert_eq!(may_attach(other, &mine, status, held), Err(RuleError::NotYourLead));
                assert_eq!(may_attach(analyst, &mine, status, held), Err(RuleError::ReadOnly));
                assert_eq!(may_attach(manager, &closed, status, held), Err(RuleError::Closed));
            }
        }
        assert_eq!(may_detach(manager, &mine), Ok(()));
        assert_eq!(may_detach(other, &mine), Err(RuleError::NotYourLead));
        assert_eq!(may_detach(boss, &closed), Err(RuleError::Closed));
    }

    #[test]
    fn statuses_read_our_names_and_common_erp_words() {
        for s in VehicleStatus::ALL {
            assert_eq!(VehicleStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(VehicleStatus::parse("In Stock"), Some(VehicleStatus::Available));
        assert_eq!(VehicleStatus::parse("SOLD"), Some(VehicleStatus::Sold));
        assert_eq!(VehicleStatus::parse("scrapped"), None);
    }
}
