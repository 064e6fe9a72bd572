//! The reporting page (issue 14): when an open lead counts as stuck where its stage has no
//! `stale_days` of its own. Section `[reports]` of the file; the environment wins.

use super::{bad, ConfigError};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq)]
pub struct ReportsConfig {
    /// Days an open lead may sit in a stage before the page calls it stuck.
    pub stuck_days: u32,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig { stuck_days: 7 }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileReports {
    stuck_days: Option<u32>,
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
        assert_eq!(load(&three, FileReports { stuck_days: Some(9) }).unwrap().stuck_days, 3);
        assert_eq!(load(&none, FileReports { stuck_days: Some(9) }).unwrap().stuck_days, 9);
        let bad_value = |_: &str| Some("soon".to_string());
        assert_eq!(load(&bad_value, FileReports::default()).unwrap_err().setting, "FORECOURT_REPORT_STUCK_DAYS");
        let zero = |_: &str| Some("0".to_string());
        assert!(load(&zero, FileReports::default()).is_err());
    }
}
