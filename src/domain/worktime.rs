//! Business time between instants, in the dealership's time zone: when N business minutes
//! after an instant fall (a callback's due time, the silence timer), and how many business
//! seconds lie between two instants (a first response). Wall-clock based, so the DST
//! changes count as the clock on the wall says: a morning shortened or lengthened by the
//! change is still 09:00–13:00. Pure: the hours are `flow::hours::Hours`, the zone a
//! `chrono_tz::Tz`.

use super::flow::hours::Hours;
use chrono::{DateTime, Datelike, Duration, NaiveDateTime, TimeZone, Timelike};
use chrono_tz::Tz;

/// Wall-clock time of an instant.
pub fn local(tz: Tz, ms: i64) -> NaiveDateTime {
    let utc = DateTime::from_timestamp_millis(ms).unwrap_or_default().naive_utc();
    tz.from_utc_datetime(&utc).naive_local()
}

/// The instant of a wall-clock time: the earlier of an hour that happens twice (autumn),
/// an hour later for one that does not happen (spring).
pub fn instant(tz: Tz, at: NaiveDateTime) -> i64 {
    match tz.from_local_datetime(&at).earliest() {
        Some(t) => t.timestamp_millis(),
        None => tz
            .from_local_datetime(&(at + Duration::hours(1)))
            .earliest()
            .map(|t| t.timestamp_millis())
            .unwrap_or_else(|| at.and_utc().timestamp_millis()),
    }
}

/// `minutes` of business time after `from` (plain minutes if the hours never open).
pub fn after(tz: Tz, hours: &Hours, from: i64, minutes: u32) -> i64 {
    let at = local(tz, from);
    let weekday = at.weekday().num_days_from_monday() as usize;
    let minute = (at.hour() * 60 + at.minute()) as u16;
    let Some((ahead, m)) = hours.after_open_minutes(weekday, minute, minutes) else {
        return from + i64::from(minutes) * 60_000;
    };
    let day = at.date() + Duration::days(ahead as i64);
    let naive = day.and_hms_opt(0, 0, 0).expect("midnight exists") + Duration::minutes(i64::from(m));
    instant(tz, naive) + i64::from(at.second()) * 1000
}

/// Business seconds from `from` to `to`.
pub fn seconds_between(tz: Tz, hours: &Hours, from: i64, to: i64) -> i64 {
    if to <= from {
        return 0;
    }
    let (a, b) = (local(tz, from), local(tz, to));
    let days = (b.date() - a.date()).num_days().max(0) as usize;
    let secs = hours.open_seconds_between(
        a.weekday().num_days_from_monday() as usize,
        a.num_seconds_from_midnight(),
        days,
        b.num_seconds_from_midnight(),
    );
    secs as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use chrono_tz::Europe::Kyiv;

    fn kyiv(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        instant(Kyiv, NaiveDate::from_ymd_opt(y, mo, d).unwrap().and_hms_opt(h, mi, 0).unwrap())
    }

    fn split() -> Hours {
        Hours::parse("Mon-Fri 09:00-13:00, 14:00-19:00, Sat 10:00-14:00").unwrap()
    }

    #[test]
    fn around_midnight_weekends_and_lunch() {
        let h = split();
        // Wednesday 2 December 2026.
        assert_eq!(after(Kyiv, &h, kyiv(2026, 12, 2, 10, 24), 15), kyiv(2026, 12, 2, 10, 39));
        assert_eq!(after(Kyiv, &h, kyiv(2026, 12, 2, 12, 55), 15), kyiv(2026, 12, 2, 14, 10), "lunch");
        assert_eq!(after(Kyiv, &h, kyiv(2026, 12, 2, 23, 50), 15), kyiv(2026, 12, 3, 9, 15), "midnight");
        // Friday evening → Saturday's short day; Saturday after closing → Monday.
        assert_eq!(after(Kyiv, &h, kyiv(2026, 12, 4, 18, 55), 15), kyiv(2026, 12, 5, 10, 10));
        assert_eq!(after(Kyiv, &h, kyiv(2026, 12, 5, 15, 0), 15), kyiv(2026, 12, 7, 9, 15));
        assert_eq!(seconds_between(Kyiv, &h, kyiv(2026, 12, 4, 18, 55), kyiv(2026, 12, 7, 9, 5)), (5 + 240 + 5) * 60);
        assert_eq!(seconds_between(Kyiv, &h, kyiv(2026, 12, 2, 12, 59), kyiv(2026, 12, 2, 14, 1)), 120);
        assert_eq!(seconds_between(Kyiv, &h, kyiv(2026, 12, 2, 14, 1), kyiv(2026, 12, 2, 12, 59)), 0);
    }

    #[test]
    fn across_the_dst_changes_in_kyiv() {
        // Spring: Sunday 29 March 2026, 03:00 → 04:00. Always-open hours: 15 business
        // minutes after 02:50 is 04:05 on the wall, which is 15 real minutes.
        let always = Hours::always();
        let before = kyiv(2026, 3, 29, 2, 50);
        assert_eq!(after(Kyiv, &always, before, 15), kyiv(2026, 3, 29, 4, 5));
        assert_eq!(kyiv(2026, 3, 29, 4, 5) - before, 15 * 60_000, "the skipped hour is not counted twice");
        // A time in the skipped hour means the hour after.
        assert_eq!(kyiv(2026, 3, 29, 3, 30), kyiv(2026, 3, 29, 4, 30));
        // Autumn: Sunday 25 October 2026, 04:00 → 03:00. The repeated hour is taken once, by
        // the wall clock: 03:50 to 04:10 is 20 minutes.
        let first = kyiv(2026, 10, 25, 3, 50);
        assert_eq!(seconds_between(Kyiv, &always, first, kyiv(2026, 10, 25, 4, 10)), 20 * 60);
        // Working days either side keep their shape: Friday 18:50 + 20 min → Monday 09:10.
        let h = split();
        assert_eq!(after(Kyiv, &h, kyiv(2026, 3, 27, 18, 50), 20), kyiv(2026, 3, 28, 10, 10), "Saturday");
        assert_eq!(after(Kyiv, &h, kyiv(2026, 10, 24, 13, 50), 20), kyiv(2026, 10, 26, 9, 10), "Monday");
        assert_eq!(
            seconds_between(Kyiv, &h, kyiv(2026, 10, 23, 18, 0), kyiv(2026, 10, 26, 10, 0)),
            (60 + 240 + 60) * 60,
            "Friday's last hour, Saturday, Monday's first"
        );
    }
}
