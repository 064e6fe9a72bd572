//! Business hours (`FORECOURT_BUSINESS_HOURS`): `Mon-Sat 09:00-19:00`, or several parts
//! separated by commas, `Mon-Fri 09:00-19:00, Sat 10:00-16:00`. A part without days takes
//! the days before it, so a lunch break is `Mon-Fri 09:00-13:00, 14:00-19:00`. The caller
//! gives local time (weekday and minute of the day); this module knows no clock and no
//! time zone.

/// Days are 0 = Monday … 6 = Sunday.
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hours {
    /// Per weekday, open intervals in minutes of the day [from, to).
    days: [Vec<(u16, u16)>; 7],
}

fn day(s: &str) -> Option<usize> {
    let s = s.trim().to_lowercase();
    DAYS.iter().position(|d| s.starts_with(d) && s.len() >= 3)
}

fn minute(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

impl Hours {
    pub fn parse(spec: &str) -> Result<Hours, String> {
        let mut days: [Vec<(u16, u16)>; 7] = Default::default();
        let mut previous: Option<(usize, usize)> = None;
        for part in spec.split([',', ';']).map(str::trim).filter(|p| !p.is_empty()) {
            let (from_d, to_d, t) = if part.starts_with(|c: char| c.is_ascii_digit()) {
                // Hours alone: the days of the part before.
                let (a, b) = previous.ok_or_else(|| format!("'{part}': say the days first, like 'Mon-Fri {part}'"))?;
                (a, b, part)
            } else {
                let (d, t) = part
                    .split_once(char::is_whitespace)
                    .ok_or_else(|| format!("'{part}': expected days and hours, like 'Mon-Sat 09:00-19:00'"))?;
                let (from_d, to_d) = match d.split_once('-') {
                    Some((a, b)) => (day(a), day(b)),
                    None => (day(d), day(d)),
                };
                let (Some(from_d), Some(to_d)) = (from_d, to_d) else {
                    return Err(format!("'{d}': days are Mon, Tue, Wed, Thu, Fri, Sat, Sun"));
                };
                (from_d, to_d, t)
            };
            previous = Some((from_d, to_d));
            let (a, b) = t.trim().split_once('-').ok_or_else(|| format!("'{t}': hours look like 09:00-19:00"))?;
            let (Some(a), Some(b)) = (minute(a), minute(b)) else {
                return Err(format!("'{t}': hours look like 09:00-19:00"));
            };
            if a >= b {
                return Err(format!("'{t}': the day must close after it opens"));
            }
            let mut d = from_d;
            loop {
                days[d].push((a, b));
                if d == to_d {
                    break;
                }
                d = (d + 1) % 7;
            }
        }
        if days.iter().all(Vec::is_empty) {
            return Err("no opening hours given".into());
        }
        Ok(Hours { days })
    }

    /// Always open (no hours configured).
    pub fn always() -> Hours {
        Hours { days: std::array::from_fn(|_| vec![(0, 24 * 60)]) }
    }

    pub fn is_open(&self, weekday: usize, minute_of_day: u16) -> bool {
        self.days[weekday % 7].iter().any(|(a, b)| minute_of_day >= *a && minute_of_day < *b)
    }

    /// When the dealership next opens after (weekday, minute): (weekday, minute, days ahead).
    pub fn next_open(&self, weekday: usize, minute_of_day: u16) -> Option<(usize, u16, usize)> {
        for ahead in 0..8 {
            let d = (weekday + ahead) % 7;
            let mut opens: Vec<u16> = self.days[d].iter().map(|(a, _)| *a).collect();
            opens.sort();
            if let Some(a) = opens.into_iter().find(|a| ahead > 0 || *a > minute_of_day) {
                return Some((d, a, ahead));
            }
        }
        None
    }
}

impl Hours {
    /// When `minutes` of opening time have passed after (weekday, minute): (days ahead,
    /// minute of that day; 1440 is that day's midnight). Time outside the hours does not
    /// count, so a callback asked for at 18:55 with 15 minutes to spare, on a day that
    /// closes at 19:00, is due ten minutes after the next opening. `None` only if the hours
    /// never open.
    pub fn after_open_minutes(&self, weekday: usize, minute_of_day: u16, minutes: u32) -> Option<(usize, u16)> {
        let mut left = minutes;
        for ahead in 0..(7 * 53) {
            let d = (weekday + ahead) % 7;
            let mut parts = self.days[d].clone();
            parts.sort_unstable();
            let from = if ahead == 0 { minute_of_day } else { 0 };
            for (a, b) in parts {
                if b <= from {
                    continue;
                }
                let start = a.max(from);
                let room = u32::from(b - start);
                if left <= room {
                    return Some((ahead, start + left as u16));
                }
                left -= room;
            }
        }
        None
    }
}

impl Hours {
    /// Seconds of opening time from (weekday, second of the day) to `days_ahead` days later
    /// at `end_second` of that day (local wall-clock times, so a DST change counts as the
    /// clock on the wall says). A first-response time in business hours.
    pub fn open_seconds_between(&self, weekday: usize, start_second: u32, days_ahead: usize, end_second: u32) -> u64 {
        let mut total = 0u64;
        for ahead in 0..=days_ahead {
            let from = if ahead == 0 { start_second } else { 0 };
            let to = if ahead == days_ahead { end_second } else { 86_400 };
            if to <= from {
                continue;
            }
            for (a, b) in &self.days[(weekday + ahead) % 7] {
                let (a, b) = (u32::from(*a) * 60, u32::from(*b) * 60);
                let (lo, hi) = (a.max(from), b.min(to));
                if hi > lo {
                    total += u64::from(hi - lo);
                }
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mon_sat_nine_to_seven() {
        let h = Hours::parse("Mon-Sat 09:00-19:00").unwrap();
        assert!(h.is_open(0, 9 * 60));
        assert!(h.is_open(5, 18 * 60 + 59));
        assert!(!h.is_open(5, 19 * 60), "closing time is closed");
        assert!(!h.is_open(0, 8 * 60 + 59));
        assert!(!h.is_open(6, 12 * 60), "Sunday");
        assert_eq!(h.next_open(5, 20 * 60), Some((0, 9 * 60, 2)), "Saturday night → Monday 09:00");
        assert_eq!(h.next_open(2, 7 * 60), Some((2, 9 * 60, 0)), "early morning → today");
    }

    #[test]
    fn several_parts_and_wrapping_ranges() {
        let h = Hours::parse("Mon-Fri 09:00-19:00, Sat 10:00-16:00").unwrap();
        assert!(h.is_open(5, 10 * 60) && !h.is_open(5, 9 * 60 + 30));
        let h = Hours::parse("Sat-Mon 10:00-12:00").unwrap();
        assert!(h.is_open(6, 11 * 60) && h.is_open(0, 11 * 60) && !h.is_open(1, 11 * 60));
        assert!(Hours::always().is_open(6, 3 * 60));
    }

    #[test]
    fn minutes_of_opening_time_skip_the_closed_hours() {
        let h = Hours::parse("Mon-Fri 09:00-13:00, Mon-Fri 14:00-19:00").unwrap();
        assert_eq!(h.after_open_minutes(0, 10 * 60 + 24, 15), Some((0, 10 * 60 + 39)), "within the morning");
        assert_eq!(h.after_open_minutes(0, 12 * 60 + 55, 15), Some((0, 14 * 60 + 10)), "across lunch");
        assert_eq!(h.after_open_minutes(4, 18 * 60 + 55, 15), Some((3, 9 * 60 + 10)), "Friday evening → Monday");
        assert_eq!(h.after_open_minutes(5, 11 * 60, 15), Some((2, 9 * 60 + 15)), "Saturday → Monday");
        assert_eq!(h.after_open_minutes(0, 7 * 60, 0), Some((0, 9 * 60)), "before opening, due at opening");
        let always = Hours::always();
        assert_eq!(always.after_open_minutes(6, 23 * 60 + 50, 15), Some((1, 5)), "across midnight");
        assert_eq!(always.after_open_minutes(2, 100, 60 * 24 * 3), Some((3, 100)));
    }

    #[test]
    fn a_lunch_break_takes_the_days_before_it() {
        let h = Hours::parse("Mon-Fri 09:00-13:00, 14:00-19:00, Sat 10:00-14:00").unwrap();
        assert_eq!(h, Hours::parse("Mon-Fri 09:00-13:00, Mon-Fri 14:00-19:00, Sat 10:00-14:00").unwrap());
        assert!(h.is_open(4, 14 * 60) && !h.is_open(4, 13 * 60 + 30) && !h.is_open(5, 15 * 60));
        assert!(Hours::parse("09:00-13:00").unwrap_err().contains("say the days first"));
    }

    #[test]
    fn open_seconds_count_only_the_hours() {
        let h = Hours::parse("Mon-Fri 09:00-13:00, 14:00-19:00").unwrap();
        let at = |hh: u32, mm: u32| hh * 3600 + mm * 60;
        assert_eq!(h.open_seconds_between(0, at(10, 0), 0, at(10, 7) + 30), 450, "within the morning");
        assert_eq!(h.open_seconds_between(0, at(12, 50), 0, at(14, 5)), 15 * 60, "lunch is not counted");
        assert_eq!(h.open_seconds_between(0, at(8, 0), 0, at(9, 0)), 0, "before opening");
        assert_eq!(h.open_seconds_between(4, at(18, 55), 3, at(9, 10)), 15 * 60, "Friday evening to Monday");
        assert_eq!(h.open_seconds_between(4, at(20, 0), 2, at(23, 0)), 0, "the weekend is closed");
        assert_eq!(h.open_seconds_between(0, at(9, 0), 1, at(9, 0)), 9 * 3600, "a whole working day");
        assert_eq!(h.open_seconds_between(0, at(11, 0), 0, at(10, 0)), 0, "an end before the start");
        let always = Hours::always();
        assert_eq!(always.open_seconds_between(6, at(23, 50), 1, at(0, 10)), 20 * 60, "across midnight");
        // The inverse of after_open_minutes, wherever it starts.
        for (d, m) in [(0usize, 600u16), (2, 12 * 60 + 59), (4, 18 * 60 + 50), (5, 300), (6, 0)] {
            for mins in [1u32, 15, 90, 600] {
                let (ahead, end) = h.after_open_minutes(d, m, mins).unwrap();
                let got = h.open_seconds_between(d, u32::from(m) * 60, ahead, u32::from(end) * 60);
                assert_eq!(got, u64::from(mins) * 60, "from day {d} minute {m}, {mins} min");
            }
        }
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for bad in
            ["", "Mon-Sat", "Mon-Sat 9-19", "Funday 09:00-10:00", "Mon 19:00-09:00", "Mon 25:00-26:00", "10:00-12:00"]
        {
            assert!(Hours::parse(bad).is_err(), "{bad}");
        }
    }
}
