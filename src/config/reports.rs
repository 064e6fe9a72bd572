//! The reporting page and the digests (issue 14): when an open lead counts as stuck where
//! its stage has no `stale_days` of its own; when digests go out and where. Section
//! `[reports]` of the file; the environment wins.

use super::{bad, ConfigError};
use crate::domain::digest::At;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq)]
pub struct ReportsConfig {
    /// Days an open lead may sit in a stage before the page calls it stuck.
    pub stuck_days: u32,
    /// The daily digest's local time; `None`: off.
    pub daily_at: Option<At>,
    /// The weekly digest's local day and time; `None`: off.
    pub weekly_at: Option<At>,
    /// Where digests go: a chat and maybe a topic; `None`: every supervisor privately.
    pub digest_chat: Option<(i64, Option<i32>)>,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            stuck_days: 7,
            daily_at: At::daily("19:00").ok(),
            weekly_at: At::weekly("Mon 09:00").ok(),
            digest_chat: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileReports {
    stuck_days: Option<u32>,
    digest_daily_at: Option<String>,
    digest_weekly_at: Option<String>,
    digest_chat_id: Option<String>,
}

/// `-1001234567890` or `-1001234567890:42` (a topic).
fn chat(s: &str) -> Result<(i64, Option<i32>), ConfigError> {
    let bad_chat =
        || bad("FORECOURT_DIGEST_CHAT_ID", format!("`{s}` is not a chat id like -1001234567890 or -1001234567890:42"));
    let (c, t) = match s.trim().split_once(':') {
        Some((c, t)) => (c, Some(t.trim().parse::<i32>().map_err(|_| bad_chat())?)),
        None => (s.trim(), None),
    };
    Ok((c.trim().parse::<i64>().map_err(|_| bad_chat())?, t))
}

pub(super) fn load(env: &dyn Fn(&str) -> Option<String>, f: FileReports) -> Result<ReportsConfig, ConfigError> {
    let mut c = ReportsConfig::default();
    let v = match env("FORECOURT_REPORT_STUCK_DAYS") {
        Some(v) => Some(
            v.trim()
                .parse::<u32>()
                .map_err(|_| bad("FORECOURT_REPORT_STUCK_DAYS", format!("`{v}` is not a number of days")))?,
        ),
        None => f.stuck_days,
    };
    if let Some(n) = v {
        if !(1..=365).contains(&n) {
            return Err(bad("FORECOURT_REPORT_STUCK_DAYS", "must be between 1 and 365".to_string()));
        }
        c.stuck_days = n;
    }
    let off = |v: &str| matches!(v.trim(), "" | "off");
    if let Some(v) = env("FORECOURT_DIGEST_DAILY_AT").or(f.digest_daily_at) {
        c.daily_at = if off(&v) { None } else { Some(At::daily(&v).map_err(|e| bad("FORECOURT_DIGEST_DAILY_AT", e))?) };
    }
    if let Some(v) = env("FORECOURT_DIGEST_WEEKLY_AT").or(f.digest_weekly_at) {
        c.weekly_at =
            if off(&v) { None } else { Some(At::weekly(&v).map_err(|e| bad("FORECOURT_DIGEST_WEEKLY_AT", e))?) };
    }
    if let Some(v) = env("FORECOURT_DIGEST_CHAT_ID").or(f.digest_chat_id).filter(|v| !v.trim().is_empty()) {
        c.digest_chat = Some(chat(&v)?);
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuck_days_default_to_a_week_and_are_checked() {
        let none = |_: &str| None;
        assert_eq!(load(&none, FileReports::default()).unwrap().stuck_days, 7);
        let three = |k: &str| (k == "FORECOURT_REPORT_STUCK_DAYS").then(|| "3".to_string());
        let nine = FileReports { stuck_days: Some(9), ..FileReports::default() };
        assert_eq!(load(&three, nine).unwrap().stuck_days, 3);
        let nine = FileReports { stuck_days: Some(9), ..FileReports::default() };
        assert_eq!(load(&none, nine).unwrap().stuck_days, 9);
        let bad_value = |_: &str| Some("soon".to_string());
        assert_eq!(load(&bad_value, FileReports::default()).unwrap_err().setting, "FORECOURT_REPORT_STUCK_DAYS");
        let zero = |k: &str| (k == "FORECOURT_REPORT_STUCK_DAYS").then(|| "0".to_string());
        assert!(load(&zero, FileReports::default()).is_err());
    }

    #[test]
    fn digests_default_to_seven_pm_and_monday_morning_and_go_where_told() {
        let none = |_: &str| None;
        let c = load(&none, FileReports::default()).unwrap();
        assert_eq!(c.daily_at, At::daily("19:00").ok());
        assert_eq!(c.weekly_at, At::weekly("Mon 09:00").ok());
        assert_eq!(c.digest_chat, None);
        let set = |k: &str| match k {
            "FORECOURT_DIGEST_DAILY_AT" => Some("off".to_string()),
            "FORECOURT_DIGEST_WEEKLY_AT" => Some("Fri 18:30".to_string()),
            "FORECOURT_DIGEST_CHAT_ID" => Some("-1001234:42".to_string()),
            _ => None,
        };
        let c = load(&set, FileReports::default()).unwrap();
        assert_eq!(c.daily_at, None);
        assert_eq!(c.weekly_at, At::weekly("Fri 18:30").ok());
        assert_eq!(c.digest_chat, Some((-1001234, Some(42))));
        let bad_time = |k: &str| (k == "FORECOURT_DIGEST_DAILY_AT").then(|| "7pm".to_string());
        assert_eq!(load(&bad_time, FileReports::default()).unwrap_err().setting, "FORECOURT_DIGEST_DAILY_AT");
        let bad_chat = |k: &str| (k == "FORECOURT_DIGEST_CHAT_ID").then(|| "staff".to_string());
        assert_eq!(load(&bad_chat, FileReports::default()).unwrap_err().setting, "FORECOURT_DIGEST_CHAT_ID");
    }
}
