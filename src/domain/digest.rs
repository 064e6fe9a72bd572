//! When digests go out and what period each covers. A daily digest at `19:00` covers the 24
//! hours before it; a weekly one at `Mon 09:00` the 7 days before it; each is compared with
//! the same length just before. So every lead is counted in exactly one daily digest.
//! No IO: times are local date-times; the caller converts.

use chrono::{Datelike, Duration, NaiveDateTime, NaiveTime, Weekday};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Daily,
    Weekly,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Daily => "daily",
            Kind::Weekly => "weekly",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "daily" => Some(Kind::Daily),
            "weekly" => Some(Kind::Weekly),
            _ => None,
        }
    }

    /// How long the period is.
    pub fn length(self) -> Duration {
        match self {
            Kind::Daily => Duration::days(1),
            Kind::Weekly => Duration::days(7),
        }
    }
}

/// When a digest is due: every day at a time, or one weekday at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    Daily(NaiveTime),
    Weekly(Weekday, NaiveTime),
}

fn time(s: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| format!("`{}` is not a time like 19:00", s.trim()))
}

impl At {
    /// `19:00`.
    pub fn daily(s: &str) -> Result<At, String> {
        time(s).map(At::Daily)
    }

    /// `Mon 09:00` (English day names, three letters or whole).
    pub fn weekly(s: &str) -> Result<At, String> {
        let (day, t) = s.trim().split_once(' ').ok_or(format!("`{s}` is not a day and time like Mon 09:00"))?;
        let day: Weekday = day.trim().parse().map_err(|_| format!("`{day}` is not a day of the week (Mon … Sun)"))?;
        Ok(At::Weekly(day, time(t)?))
    }

    /// The latest moment it was due at or before `now`.
    pub fn last_due(self, now: NaiveDateTime) -> NaiveDateTime {
        match self {
            At::Daily(t) => {
                let today = now.date().and_time(t);
                if today <= now {
                    today
                } else {
                    today - Duration::days(1)
                }
            }
            At::Weekly(day, t) => {
                let back = (7 + now.weekday().num_days_from_monday() - day.num_days_from_monday()) % 7;
                let d = (now.date() - Duration::days(i64::from(back))).and_time(t);
                if d <= now {
                    d
                } else {
                    d - Duration::days(7)
                }
            }
        }
    }
}

/// The period a digest due at `due` covers, `[from, due)`, and the one before it.
pub fn periods(kind: Kind, due: NaiveDateTime) -> ((NaiveDateTime, NaiveDateTime), (NaiveDateTime, NaiveDateTime)) {
    let len = kind.length();
    ((due - len, due), (due - len - len, due - len))
}

/// The key that makes a digest go out once: its kind and the moment it was due.
pub fn key(kind: Kind, due: NaiveDateTime) -> String {
    format!("{}:{}", kind.as_str(), due.format("%Y-%m-%dT%H:%M"))
}

/// A digest is sent late after an outage, but one missed by more than this is skipped:
/// yesterday's numbers the next afternoon help nobody.
pub const LATE_LIMIT: Duration = Duration::hours(6);

/// Whether the digest due at `due` goes out at `now`: late after an outage, up to
/// [`LATE_LIMIT`], but never one due before `since`, the first time this installation looked
/// for digests — a Forecourt first started at 19:43 does not send at once the 19:00 digest
/// of a day it never saw.
pub fn goes_out(due: NaiveDateTime, now: NaiveDateTime, since: NaiveDateTime) -> bool {
    due <= now && now - due <= LATE_LIMIT && due >= since
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn times_are_read_and_bad_ones_say_why() {
        assert_eq!(At::daily("19:00"), Ok(At::Daily(NaiveTime::from_hms_opt(19, 0, 0).unwrap())));
        assert_eq!(At::weekly("Mon 09:00"), Ok(At::Weekly(Weekday::Mon, NaiveTime::from_hms_opt(9, 0, 0).unwrap())));
        assert_eq!(
            At::weekly("friday 18:30"),
            Ok(At::Weekly(Weekday::Fri, NaiveTime::from_hms_opt(18, 30, 0).unwrap()))
        );
        assert!(At::daily("7pm").unwrap_err().contains("not a time"));
        assert!(At::weekly("09:00").unwrap_err().contains("day and time"));
        assert!(At::weekly("Someday 09:00").unwrap_err().contains("day of the week"));
    }

    #[test]
    fn the_last_due_moment_is_today_or_the_day_before() {
        let at = At::daily("19:00").unwrap();
        assert_eq!(at.last_due(t("2026-12-03 19:00")), t("2026-12-03 19:00"));
        assert_eq!(at.last_due(t("2026-12-03 23:59")), t("2026-12-03 19:00"));
        assert_eq!(at.last_due(t("2026-12-03 18:59")), t("2026-12-02 19:00"));
    }

    #[test]
    fn the_weekly_one_looks_back_to_its_weekday() {
        let at = At::weekly("Mon 09:00").unwrap();
        // 2026-12-03 is a Thursday; the Monday before is 2026-11-30.
        assert_eq!(at.last_due(t("2026-12-03 12:00")), t("2026-11-30 09:00"));
        assert_eq!(at.last_due(t("2026-11-30 09:00")), t("2026-11-30 09:00"));
        assert_eq!(at.last_due(t("2026-11-30 08:59")), t("2026-11-23 09:00"));
        assert_eq!(At::weekly("Thu 13:00").unwrap().last_due(t("2026-12-03 12:00")), t("2026-11-26 13:00"));
    }

    #[test]
    fn a_digest_goes_out_late_within_six_hours_and_never_for_a_time_before_the_first_start() {
        let due = t("2026-12-03 19:00");
        let long_ago = t("2026-01-01 00:00");
        assert!(goes_out(due, due, long_ago), "on time");
        assert!(goes_out(due, t("2026-12-04 01:00"), long_ago), "six hours late, after an outage");
        assert!(!goes_out(due, t("2026-12-04 01:01"), long_ago), "more than six hours late");
        assert!(!goes_out(due, t("2026-12-03 18:59"), long_ago), "not before it is due");
        assert!(!goes_out(due, t("2026-12-03 19:43"), t("2026-12-03 19:43")), "first started after it was due");
        assert!(goes_out(due, t("2026-12-03 19:43"), t("2026-12-03 19:00")), "first started as it fell due");
        assert!(goes_out(due, t("2026-12-03 19:43"), t("2026-12-03 18:00")), "first started before, down meanwhile");
    }

    #[test]
    fn each_period_is_the_time_just_before_and_the_same_again_before_that() {
        let ((a, b), (c, d)) = periods(Kind::Daily, t("2026-12-03 19:00"));
        assert_eq!(
            (a, b, c, d),
            (t("2026-12-02 19:00"), t("2026-12-03 19:00"), t("2026-12-01 19:00"), t("2026-12-02 19:00"))
        );
        let ((a, _), (c, _)) = periods(Kind::Weekly, t("2026-11-30 09:00"));
        assert_eq!((a, c), (t("2026-11-23 09:00"), t("2026-11-16 09:00")));
        assert_eq!(key(Kind::Weekly, t("2026-11-30 09:00")), "weekly:2026-11-30T09:00");
    }
}
