//! The reporting page's figures, computed from plain rows: the period and the one before
//! it, percentiles, the cumulative stage funnel, conversion, changes against the previous
//! period, stuck leads and days in stock. No IO: the store reads rows, the web renders.
//!
//! Definitions (the README's "Reports" section says the same to supervisors):
//! - **New leads** of a period: leads created in it.
//! - **Sold** of a period: leads that entered `sold` in it (sales made then, whenever the
//!   lead came in). **Conversion** = sold ÷ new leads of the same period.
//! - **First response**: business seconds from the lead's first customer message (or the
//!   bot's hand-over) to staff's first answer, for the period's new leads that got one;
//!   p50 and p90 by the nearest-rank method.
//! - **The funnel** counts each of the period's new leads in every stage up to the furthest
//!   it ever reached (a lead now lost after qualifying counts in new, contacted, qualified).
//! - **Stuck**: an open lead longer in its stage than that stage's threshold.

use super::stage::Stage;
use chrono::{Duration, NaiveDate};
use std::collections::BTreeMap;

/// The periods the page offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Today,
    Days7,
    Days30,
    /// From–to, both days included.
    Custom(NaiveDate, NaiveDate),
}

/// Longest from–to period the page accepts.
pub const MAX_DAYS: i64 = 366;

impl Span {
    /// Read `?period=today|7d|30d|custom&from=…&to=…`; `None` period is 7 days.
    pub fn parse(period: Option<&str>, from: Option<&str>, to: Option<&str>) -> Result<Span, String> {
        match period.map(str::trim).filter(|p| !p.is_empty()) {
            None | Some("7d") => Ok(Span::Days7),
            Some("today") => Ok(Span::Today),
            Some("30d") => Ok(Span::Days30),
            Some("custom") => {
                let day = |s: Option<&str>, what: &str| {
                    let s = s.map(str::trim).filter(|s| !s.is_empty()).ok_or(format!("give the {what} date"))?;
                    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("`{s}` is not a date like 2026-12-01"))
                };
                let (a, b) = (day(from, "from")?, day(to, "to")?);
                if b < a {
                    return Err("the period ends before it starts".into());
                }
                if (b - a).num_days() >= MAX_DAYS {
                    return Err(format!("a period is at most {MAX_DAYS} days"));
                }
                Ok(Span::Custom(a, b))
            }
            Some(p) => Err(format!("`{p}` is not a period (today, 7d, 30d or custom)")),
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Span::Today => "today",
            Span::Days7 => "7d",
            Span::Days30 => "30d",
            Span::Custom(..) => "custom",
        }
    }

    /// The local days it covers, `[first, end)`, given today's local date.
    pub fn days(self, today: NaiveDate) -> Days {
        let (first, last) = match self {
            Span::Today => (today, today),
            Span::Days7 => (today - Duration::days(6), today),
            Span::Days30 => (today - Duration::days(29), today),
            Span::Custom(a, b) => (a, b),
        };
        Days { first, end: last + Duration::days(1) }
    }
}

/// A run of whole local days, `first` included, `end` not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days {
    pub first: NaiveDate,
    pub end: NaiveDate,
}

impl Days {
    pub fn len(self) -> i64 {
        (self.end - self.first).num_days()
    }

    pub fn is_empty(self) -> bool {
        self.len() <= 0
    }

    /// The same number of days just before.
    pub fn previous(self) -> Days {
        Days { first: self.first - Duration::days(self.len()), end: self.first }
    }

    pub fn iter(self) -> impl Iterator<Item = NaiveDate> {
        (0..self.len()).map(move |i| self.first + Duration::days(i))
    }

    /// The last day included.
    pub fn last(self) -> NaiveDate {
        self.end - Duration::days(1)
    }
}

/// The nearest-rank percentile (`p` in 1..=100): the smallest value with at least `p`% of
/// the values at or below it. `None` for no values.
pub fn percentile(values: &[i64], p: u8) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let p = u64::from(p.clamp(1, 100));
    let rank = (p * v.len() as u64).div_ceil(100).max(1) as usize;
    Some(v[rank - 1])
}

/// p50 and p90 at once.
pub fn p50_p90(values: &[i64]) -> (Option<i64>, Option<i64>) {
    (percentile(values, 50), percentile(values, 90))
}

/// `part ÷ whole`, `None` when there is no whole.
pub fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The change against the previous period, in percent of the previous value; `None` when
/// the previous value is missing or zero (a change from nothing has no percentage).
pub fn change_pct(now: Option<f64>, before: Option<f64>) -> Option<f64> {
    let (now, before) = (now?, before?);
    (before != 0.0).then(|| (now - before) / before * 100.0)
}

/// The furthest pipeline stage a lead reached, from its current stage and every stage it
/// was ever moved to. Lost is not on the pipeline; a lead is always at least `new`.
pub fn furthest(current: Stage, history: impl IntoIterator<Item = Stage>) -> Stage {
    std::iter::once(current).chain(history).filter(|s| s.rank().is_some()).max().unwrap_or(Stage::New)
}

/// The pipeline stages, in order (no `lost`).
pub const PIPELINE: [Stage; 6] =
    [Stage::New, Stage::Contacted, Stage::Qualified, Stage::InNegotiation, Stage::Prepayment, Stage::Sold];

/// One step of the cumulative funnel.
#[derive(Debug, Clone, PartialEq)]
pub struct FunnelStep {
    pub stage: Stage,
    /// Leads that reached this stage or further.
    pub reached: i64,
    /// Leads that reached the stage before but not this one.
    pub dropped: i64,
    /// `reached` ÷ the previous step's `reached`.
    pub kept: Option<f64>,
}

/// The cumulative funnel over leads' furthest stages.
pub fn funnel(furthest: impl IntoIterator<Item = Stage>) -> Vec<FunnelStep> {
    let mut at = [0i64; 6];
    for s in furthest {
        if let Some(r) = s.rank() {
            at[usize::from(r)] += 1;
        }
    }
    let mut steps = Vec::with_capacity(PIPELINE.len());
    let mut prev: Option<i64> = None;
    for (i, stage) in PIPELINE.into_iter().enumerate() {
        let reached: i64 = at[i..].iter().sum();
        steps.push(FunnelStep {
            stage,
            reached,
            dropped: prev.map_or(0, |p| p - reached),
            kept: prev.and_then(|p| ratio(reached, p)),
        });
        prev = Some(reached);
    }
    steps
}

/// Lost leads by reason, most first (an empty reason reads "no reason given").
pub fn lost_by_reason<'a>(reasons: impl IntoIterator<Item = Option<&'a str>>) -> Vec<(String, i64)> {
    let mut by: BTreeMap<String, i64> = BTreeMap::new();
    for r in reasons {
        let r = r.map(str::trim).filter(|r| !r.is_empty()).unwrap_or("");
        *by.entry(r.to_string()).or_default() += 1;
    }
    let mut v: Vec<_> = by.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// Days an open lead may sit in `stage` before it counts as stuck: the stage's own
/// `stale_days` where set, else `default_days`.
pub fn stuck_after_days(stage: Stage, stale_days: &BTreeMap<Stage, u32>, default_days: u32) -> Option<u32> {
    stage.is_open().then(|| stale_days.get(&stage).copied().unwrap_or(default_days))
}

const DAY_MS: i64 = 86_400_000;

/// Whether an open lead in `stage` since `since` is stuck at `now`.
pub fn is_stuck(stage: Stage, since: i64, now: i64, stale_days: &BTreeMap<Stage, u32>, default_days: u32) -> bool {
    stuck_after_days(stage, stale_days, default_days).is_some_and(|d| now - since > i64::from(d) * DAY_MS)
}

/// The instant before which an open lead in `stage` has been there too long.
pub fn stuck_before(stage: Stage, now: i64, stale_days: &BTreeMap<Stage, u32>, default_days: u32) -> Option<i64> {
    stuck_after_days(stage, stale_days, default_days).map(|d| now - i64::from(d) * DAY_MS)
}

/// Whole days between two instants (days in stock, days in stage).
pub fn whole_days(from: i64, to: i64) -> i64 {
    (to - from).max(0) / DAY_MS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::stage::Stage::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn periods_cover_whole_local_days_and_the_previous_one_is_as_long() {
        let today = d("2026-12-03");
        let p = Span::Days7.days(today);
        assert_eq!((p.first, p.end, p.len()), (d("2026-11-27"), d("2026-12-04"), 7));
        assert_eq!(p.previous(), Days { first: d("2026-11-20"), end: d("2026-11-27") });
        assert_eq!(Span::Today.days(today).len(), 1);
        assert_eq!(Span::Today.days(today).previous().first, d("2026-12-02"));
        assert_eq!(Span::Days30.days(today).first, d("2026-11-04"));
        let c = Span::Custom(d("2026-11-01"), d("2026-11-30")).days(today);
        assert_eq!((c.len(), c.last()), (30, d("2026-11-30")));
        assert_eq!(c.iter().count(), 30);
    }

    #[test]
    fn periods_are_read_from_the_query_and_bad_ones_say_why() {
        assert_eq!(Span::parse(None, None, None), Ok(Span::Days7));
        assert_eq!(Span::parse(Some("today"), None, None), Ok(Span::Today));
        assert_eq!(Span::parse(Some("30d"), None, None), Ok(Span::Days30));
        assert_eq!(
            Span::parse(Some("custom"), Some("2026-11-01"), Some("2026-11-02")),
            Ok(Span::Custom(d("2026-11-01"), d("2026-11-02")))
        );
        assert!(Span::parse(Some("custom"), Some("2026-11-02"), Some("2026-11-01"))
            .unwrap_err()
            .contains("ends before"));
        assert!(Span::parse(Some("custom"), Some("01.11.2026"), Some("2026-11-01"))
            .unwrap_err()
            .contains("not a date"));
        assert!(Span::parse(Some("custom"), None, Some("2026-11-01")).unwrap_err().contains("from"));
        assert!(Span::parse(Some("custom"), Some("2020-01-01"), Some("2026-11-01")).unwrap_err().contains("at most"));
        assert!(Span::parse(Some("year"), None, None).unwrap_err().contains("not a period"));
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(p50_p90(&v), (Some(5), Some(9)));
        assert_eq!(p50_p90(&[7]), (Some(7), Some(7)));
        assert_eq!(p50_p90(&[]), (None, None));
        // Order does not matter; ties count.
        assert_eq!(p50_p90(&[300, 60, 60, 60, 3600]), (Some(60), Some(3600)));
        assert_eq!(percentile(&[1, 2, 3], 100), Some(3));
        assert_eq!(percentile(&[1, 2, 3], 1), Some(1));
    }

    #[test]
    fn first_response_percentiles_are_in_business_time() {
        use crate::domain::flow::hours::Hours;
        use crate::domain::worktime::{instant, seconds_between};
        let tz: chrono_tz::Tz = "Europe/Kyiv".parse().unwrap();
        let hours = Hours::parse("Mon-Fri 09:00-18:00").unwrap();
        let at = |s: &str| instant(tz, chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap());
        // Five leads: asked → answered (local time). Thursday 2026-12-03.
        let pairs = [
            ("2026-12-03 10:00", "2026-12-03 10:05"), // 5 min
            ("2026-12-03 17:50", "2026-12-04 09:10"), // 10 + 10 = 20 min over the night
            ("2026-12-04 17:00", "2026-12-07 09:30"), // Friday 60 + Monday 30 = 90 min over a weekend
            ("2026-12-05 12:00", "2026-12-07 09:02"), // Saturday: the clock starts Monday 09:00 → 2 min
            ("2026-12-03 11:00", "2026-12-03 11:15"), // 15 min
        ];
        let secs: Vec<i64> = pairs.iter().map(|(a, b)| seconds_between(tz, &hours, at(a), at(b))).collect();
        assert_eq!(secs, vec![300, 1200, 5400, 120, 900]);
        // Sorted: 120, 300, 900, 1200, 5400 → p50 rank 3, p90 rank 5.
        assert_eq!(p50_p90(&secs), (Some(900), Some(5400)));
    }

    #[test]
    fn conversion_and_changes_have_no_answer_without_a_base() {
        assert_eq!(ratio(3, 12), Some(0.25));
        assert_eq!(ratio(0, 0), None);
        assert_eq!(change_pct(Some(12.0), Some(10.0)), Some(20.0));
        assert_eq!(change_pct(Some(5.0), Some(10.0)), Some(-50.0));
        assert_eq!(change_pct(Some(5.0), Some(0.0)), None);
        assert_eq!(change_pct(None, Some(3.0)), None);
    }

    #[test]
    fn the_furthest_stage_ignores_lost_and_the_current_stage_counts() {
        assert_eq!(furthest(Lost, [Contacted, Qualified, Lost]), Qualified);
        assert_eq!(furthest(Contacted, [Qualified]), Qualified, "moved back by a supervisor");
        assert_eq!(furthest(New, []), New);
        assert_eq!(furthest(Lost, []), New, "lost straight from new");
        assert_eq!(furthest(Sold, [Contacted]), Sold);
    }

    #[test]
    fn the_funnel_counts_each_lead_in_every_stage_it_reached() {
        // 10 leads: 3 never answered, 2 contacted, 2 qualified, 1 negotiating, 2 sold.
        let leads = [New, New, New, Contacted, Contacted, Qualified, Qualified, InNegotiation, Sold, Sold];
        let f = funnel(leads);
        let reached: Vec<i64> = f.iter().map(|s| s.reached).collect();
        assert_eq!(reached, vec![10, 7, 5, 3, 2, 2]);
        let dropped: Vec<i64> = f.iter().map(|s| s.dropped).collect();
        assert_eq!(dropped, vec![0, 3, 2, 2, 1, 0]);
        assert_eq!(f[0].kept, None);
        assert_eq!(f[1].kept, Some(0.7));
        assert_eq!(f[5].kept, Some(1.0), "both who paid a deposit bought");
        assert!(funnel([]).iter().all(|s| s.reached == 0 && s.kept.is_none()));
        // A lost stage never appears in the funnel.
        assert_eq!(funnel([Lost])[0].reached, 0);
    }

    #[test]
    fn lost_reasons_are_counted_most_first() {
        let r = lost_by_reason([Some("price"), Some("bought elsewhere"), Some("price"), None, Some("  ")]);
        assert_eq!(r, vec![("".to_string(), 2), ("price".to_string(), 2), ("bought elsewhere".to_string(), 1)]);
    }

    #[test]
    fn a_lead_is_stuck_past_its_stage_threshold() {
        let stale = BTreeMap::from([(Contacted, 3u32)]);
        let now = 100 * DAY_MS;
        assert!(is_stuck(Contacted, now - 3 * DAY_MS - 1, now, &stale, 7));
        assert!(!is_stuck(Contacted, now - 3 * DAY_MS, now, &stale, 7));
        assert!(!is_stuck(Qualified, now - 5 * DAY_MS, now, &stale, 7), "the default: 7 days");
        assert!(is_stuck(Qualified, now - 8 * DAY_MS, now, &stale, 7));
        assert!(!is_stuck(Sold, 0, now, &stale, 7), "closed leads are never stuck");
        assert_eq!(stuck_before(Contacted, now, &stale, 7), Some(now - 3 * DAY_MS));
        assert_eq!(stuck_before(Lost, now, &stale, 7), None);
        assert_eq!(whole_days(0, 3 * DAY_MS + 5), 3);
        assert_eq!(whole_days(10, 0), 0);
    }
}
