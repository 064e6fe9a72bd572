//! Assignment, response times and tasks (issue 13): who gets new leads, the silence timer,
//! the reply alert, the overdue task alert and the stale-lead follow-ups. Sections
//! `[assignment]`, `[tasks]` and `[pipeline]` of the file; the environment wins.

use super::{bad, ConfigError};
use crate::domain::assign::Mode;
use crate::domain::Stage;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct AssignmentConfig {
    /// `queue` (the default: the first to claim takes it), `round_robin` or `least_loaded`.
    pub mode: Mode,
    /// A returning customer goes back to the previous owner within this many days.
    pub sticky_days: u32,
    /// The silence timer: business minutes an assigned lead may wait for its first answer.
    pub first_response_minutes: u32,
    /// A later customer message waiting this many business minutes alerts its owner, then
    /// (as long again) a supervisor.
    pub reply_alert_minutes: u32,
    /// A task still open this many minutes after it was due is told to a supervisor.
    pub task_overdue_minutes: u32,
    /// A lead in a stage longer than this many days gets a follow-up task for its owner.
    pub stale_days: BTreeMap<Stage, u32>,
}

impl Default for AssignmentConfig {
    fn default() -> Self {
        AssignmentConfig {
            mode: Mode::Queue,
            sticky_days: 90,
            first_response_minutes: 15,
            reply_alert_minutes: 60,
            task_overdue_minutes: 60,
            stale_days: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileAssignment {
    mode: Option<String>,
    sticky_days: Option<u32>,
    first_response_minutes: Option<u32>,
    reply_alert_minutes: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileTasks {
    overdue_minutes: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FilePipeline {
    stale_days: Option<BTreeMap<String, u32>>,
}

/// A whole number from the environment (else the file's), within `range`.
fn number(
    env: &dyn Fn(&str) -> Option<String>,
    setting: &'static str,
    file: Option<u32>,
    range: std::ops::RangeInclusive<u32>,
    unit: &str,
) -> Result<Option<u32>, ConfigError> {
    let v = match env(setting) {
        Some(v) => Some(v.trim().parse::<u32>().map_err(|_| bad(setting, format!("`{v}` is not a number of {unit}")))?),
        None => file,
    };
    if let Some(n) = v {
        if !range.contains(&n) {
            return Err(bad(setting, format!("must be between {} and {}", range.start(), range.end())));
        }
    }
    Ok(v)
}

/// `contacted: 3, in_negotiation: 7`, as the environment gives it.
fn stale_days(s: &str) -> Result<BTreeMap<String, u32>, ConfigError> {
    let mut out = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once([':', '='])
            .ok_or_else(|| bad("FORECOURT_STALE_DAYS", format!("`{part}`: write stage: days, like contacted: 3")))?;
        let v = v
            .trim()
            .parse::<u32>()
            .map_err(|_| bad("FORECOURT_STALE_DAYS", format!("`{part}`: days must be a number")))?;
        out.insert(k.trim().to_string(), v);
    }
    Ok(out)
}

pub(super) fn load(
    env: &dyn Fn(&str) -> Option<String>,
    a: FileAssignment,
    t: FileTasks,
    p: FilePipeline,
) -> Result<AssignmentConfig, ConfigError> {
    let mut c = AssignmentConfig::default();
    if let Some(m) = env("FORECOURT_ASSIGNMENT").or(a.mode) {
        c.mode = Mode::parse(&m)
            .ok_or_else(|| bad("FORECOURT_ASSIGNMENT", format!("`{m}`: use queue, round_robin or least_loaded")))?;
    }
    let week = 7 * 24 * 60;
    if let Some(n) = number(env, "FORECOURT_ASSIGNMENT_STICKY_DAYS", a.sticky_days, 0..=3650, "days")? {
        c.sticky_days = n;
    }
    if let Some(n) = number(env, "FORECOURT_FIRST_RESPONSE_MINUTES", a.first_response_minutes, 1..=week, "minutes")? {
        c.first_response_minutes = n;
    }
    if let Some(n) = number(env, "FORECOURT_REPLY_ALERT_MINUTES", a.reply_alert_minutes, 1..=week, "minutes")? {
        c.reply_alert_minutes = n;
    }
    if let Some(n) = number(env, "FORECOURT_TASK_OVERDUE_MINUTES", t.overdue_minutes, 1..=week, "minutes")? {
        c.task_overdue_minutes = n;
    }
    let stale = match env("FORECOURT_STALE_DAYS") {
        Some(s) => Some(stale_days(&s)?),
        None => p.stale_days,
    };
    for (k, days) in stale.unwrap_or_default() {
        let stage = Stage::parse(&k).filter(|s| s.is_open()).ok_or_else(|| {
            bad(
                "FORECOURT_STALE_DAYS",
                format!("`{k}` is not an open stage (new, contacted, qualified, in_negotiation, prepayment)"),
            )
        })?;
        if !(1..=365).contains(&days) {
            return Err(bad("FORECOURT_STALE_DAYS", format!("{k}: days must be between 1 and 365")));
        }
        c.stale_days.insert(stage, days);
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load_env(vars: &[(&str, &str)]) -> Result<AssignmentConfig, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        load(&|k| map.get(k).cloned(), FileAssignment::default(), FileTasks::default(), FilePipeline::default())
    }

    #[test]
    fn defaults_and_good_values() {
        assert_eq!(load_env(&[]).unwrap(), AssignmentConfig::default());
        let c = load_env(&[
            ("FORECOURT_ASSIGNMENT", "round_robin"),
            ("FORECOURT_FIRST_RESPONSE_MINUTES", "1"),
            ("FORECOURT_TASK_OVERDUE_MINUTES", "30"),
            ("FORECOURT_STALE_DAYS", "contacted: 3, in_negotiation=7"),
        ])
        .unwrap();
        assert_eq!(c.mode, Mode::RoundRobin);
        assert_eq!(c.first_response_minutes, 1);
        assert_eq!(c.task_overdue_minutes, 30);
        assert_eq!(c.stale_days.get(&Stage::Contacted), Some(&3));
        assert_eq!(c.stale_days.get(&Stage::InNegotiation), Some(&7));
    }

    #[test]
    fn bad_values_name_their_setting() {
        for (vars, setting) in [
            (&[("FORECOURT_ASSIGNMENT", "random")][..], "FORECOURT_ASSIGNMENT"),
            (&[("FORECOURT_FIRST_RESPONSE_MINUTES", "0")], "FORECOURT_FIRST_RESPONSE_MINUTES"),
            (&[("FORECOURT_REPLY_ALERT_MINUTES", "soon")], "FORECOURT_REPLY_ALERT_MINUTES"),
            (&[("FORECOURT_TASK_OVERDUE_MINUTES", "0")], "FORECOURT_TASK_OVERDUE_MINUTES"),
            (&[("FORECOURT_STALE_DAYS", "sold: 3")], "FORECOURT_STALE_DAYS"),
            (&[("FORECOURT_STALE_DAYS", "contacted")], "FORECOURT_STALE_DAYS"),
            (&[("FORECOURT_STALE_DAYS", "contacted: 0")], "FORECOURT_STALE_DAYS"),
        ] {
            assert_eq!(load_env(vars).unwrap_err().setting, setting, "{vars:?}");
        }
    }
}
