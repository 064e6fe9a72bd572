//! The times people type for a task (`/task <when> <text>`), in English and Ukrainian:
//! `in 2h`, `in 30 min`, `через 2 год`; `tomorrow 10:00`, `завтра 10:00`, `today 18:30`;
//! a weekday, `fri 15:00`, `пт 15:00` (the next one; today's if still ahead); a date,
//! `25.12 09:30` (this year, or next if it has passed). Local wall-clock times: the caller
//! turns them into instants in the dealership's time zone.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime};

/// When a task is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// This long after now.
    After(Duration),
    /// At this local time.
    At(NaiveDateTime),
}

/// The forms understood, for the refusal.
pub const FORMS: &str =
    "in 2h · in 30m · tomorrow 10:00 · fri 15:00 · 25.12 09:30 · через 2 год · завтра 10:00 · пт 15:00";

const WEEKDAYS: [&[&str]; 7] = [
    &["mon", "monday", "пн", "понеділок"],
    &["tue", "tuesday", "вт", "вівторок"],
    &["wed", "wednesday", "ср", "середа", "середу"],
    &["thu", "thursday", "чт", "четвер"],
    &["fri", "friday", "пт", "пʼятниця", "п'ятниця", "пʼятницю", "п'ятницю"],
    &["sat", "saturday", "сб", "субота", "суботу"],
    &["sun", "sunday", "нд", "неділя", "неділю"],
];

fn unit_minutes(u: &str) -> Option<i64> {
    match u.trim_end_matches('.') {
        "m" | "min" | "mins" | "minute" | "minutes" | "хв" | "хвилин" | "хвилину" | "хвилини" => {
            Some(1)
        }
        "h" | "hr" | "hrs" | "hour" | "hours" | "год" | "годин" | "годину" | "години" => Some(60),
        "d" | "day" | "days" | "д" | "день" | "дні" | "днів" => Some(24 * 60),
        _ => None,
    }
}

/// `2h`, `2 h`, `30m`: the amount and the rest of the words.
fn amount(words: &[&str]) -> Option<(i64, usize)> {
    let first = words.first()?;
    let digits: String = first.chars().take_while(char::is_ascii_digit).collect();
    let n: i64 = digits.parse().ok()?;
    let unit = &first[digits.len()..];
    if !unit.is_empty() {
        return Some((n * unit_minutes(unit)?, 1));
    }
    Some((n * unit_minutes(words.get(1)?)?, 2))
}

fn time_of_day(s: &str) -> Option<NaiveTime> {
    let (h, m) = s.split_once([':', '.'])?;
    if m.len() != 2 {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

fn date_of(s: &str, now: NaiveDateTime) -> Option<NaiveDate> {
    let (d, m) = s.split_once(['.', '/'])?;
    let (m, year) = match m.split_once(['.', '/']) {
        Some((m, y)) => (m, Some(y.parse::<i32>().ok()?)),
        None => (m, None),
    };
    let (d, m): (u32, u32) = (d.parse().ok()?, m.parse().ok()?);
    match year {
        Some(y) => NaiveDate::from_ymd_opt(if y < 100 { 2000 + y } else { y }, m, d),
        None => {
            let this = NaiveDate::from_ymd_opt(now.year(), m, d)?;
            Some(if this < now.date() { NaiveDate::from_ymd_opt(now.year() + 1, m, d)? } else { this })
        }
    }
}

/// Read the time at the start of `input`; returns when, and the rest (the task's text).
/// `now` is local wall-clock time. A time already past (`today 08:00` at noon) is refused.
pub fn parse(input: &str, now: NaiveDateTime) -> Option<(Due, String)> {
    let words: Vec<&str> = input.split_whitespace().collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    let lw: Vec<&str> = lower.iter().map(String::as_str).collect();
    let rest = |used: usize| words[used.min(words.len())..].join(" ");
    let first = *lw.first()?;
    // In / через N units.
    if first == "in" || first == "через" {
        let (minutes, used) = amount(&lw[1..])?;
        if minutes <= 0 {
            return None;
        }
        return Some((Due::After(Duration::minutes(minutes)), rest(1 + used)));
    }
    let day = match first {
        "today" | "сьогодні" => Some(now.date()),
        "tomorrow" | "завтра" => Some(now.date() + Duration::days(1)),
        "післязавтра" => Some(now.date() + Duration::days(2)),
        w => {
            if let Some(wd) = WEEKDAYS.iter().position(|names| names.contains(&w)) {
                let today = now.weekday().num_days_from_monday() as i64;
                Some(now.date() + Duration::days((wd as i64 - today).rem_euclid(7)))
            } else {
                date_of(w, now)
            }
        }
    }?;
    // "10:00", "at 10:00", "о 10:00"; no time is 09:00 that day. Something that looks like a
    // time and is not one is refused, not left in the text.
    let at_word = matches!(lw.get(1), Some(&("at" | "о" | "об")));
    let (time, used) = match lw.get(if at_word { 2 } else { 1 }) {
        Some(w) if w.starts_with(|c: char| c.is_ascii_digit()) => (time_of_day(w)?, if at_word { 3 } else { 2 }),
        _ if at_word => return None,
        _ => (NaiveTime::from_hms_opt(9, 0, 0).expect("09:00 exists"), 1),
    };
    let mut at = day.and_time(time);
    // A weekday named today whose time has passed means next week's.
    if at <= now && WEEKDAYS.iter().any(|names| names.contains(&first)) {
        at += Duration::days(7);
    }
    (at > now).then(|| (Due::At(at), rest(used)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wednesday 2 December 2026, 11:20.
    fn now() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 12, 2).unwrap().and_hms_opt(11, 20, 0).unwrap()
    }

    fn at(m: u32, d: u32, h: u32, min: u32) -> Due {
        Due::At(NaiveDate::from_ymd_opt(2026, m, d).unwrap().and_hms_opt(h, min, 0).unwrap())
    }

    #[test]
    fn every_form_people_type() {
        let cases: Vec<(&str, Due, &str)> = vec![
            ("in 2h call back about the credit", Due::After(Duration::hours(2)), "call back about the credit"),
            ("in 1m call back", Due::After(Duration::minutes(1)), "call back"),
            ("in 30 min send photos", Due::After(Duration::minutes(30)), "send photos"),
            ("in 2 hours x", Due::After(Duration::hours(2)), "x"),
            ("in 3d check", Due::After(Duration::days(3)), "check"),
            ("через 2 год передзвонити", Due::After(Duration::hours(2)), "передзвонити"),
            ("через 15 хв x", Due::After(Duration::minutes(15)), "x"),
            ("tomorrow 10:00 call about the credit", at(12, 3, 10, 0), "call about the credit"),
            ("Tomorrow 9.30 x", at(12, 3, 9, 30), "x"),
            ("завтра 10:00 передзвонити", at(12, 3, 10, 0), "передзвонити"),
            ("завтра о 10:00 передзвонити", at(12, 3, 10, 0), "передзвонити"),
            ("today 18:30 x", at(12, 2, 18, 30), "x"),
            ("сьогодні 15:00 x", at(12, 2, 15, 0), "x"),
            ("fri 15:00 test drive", at(12, 4, 15, 0), "test drive"),
            ("пт 15:00 тест-драйв", at(12, 4, 15, 0), "тест-драйв"),
            ("monday 10:00 x", at(12, 7, 10, 0), "x"),
            ("wed 12:00 x", at(12, 2, 12, 0), "x"),
            ("wed 10:00 x", at(12, 9, 10, 0), "x"),
            ("25.12 09:30 gift", at(12, 25, 9, 30), "gift"),
            ("tomorrow call", at(12, 3, 9, 0), "call"),
        ];
        for (input, due, rest) in cases {
            assert_eq!(parse(input, now()), Some((due, rest.to_string())), "{input}");
        }
        // A date that has passed this year is next year's.
        let due = parse("01.03 10:00 x", now()).unwrap().0;
        assert_eq!(due, Due::At(NaiveDate::from_ymd_opt(2027, 3, 1).unwrap().and_hms_opt(10, 0, 0).unwrap()));
    }

    #[test]
    fn what_does_not_read_is_refused() {
        for bad in [
            "",
            "call back",
            "in two hours x",
            "in 0m x",
            "in 5 parsecs x",
            "today 08:00 x",
            "tomorrow 25:00 x",
            "31.02 10:00 x",
            "через год x",
        ] {
            assert_eq!(parse(bad, now()), None, "{bad}");
        }
    }
}
