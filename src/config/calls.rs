//! Telephony settings (issue 12): the webhook tokens of Ringostat and Binotel, Ringostat's
//! call log API, the key that hashes phone numbers, and the callback task's due time.

use super::{api_url, bad, ConfigError, Secret};
use serde::Deserialize;
use std::net::IpAddr;

pub const RINGOSTAT_API: &str = "https://api.ringostat.net";

#[derive(Debug, Clone)]
pub struct CallsConfig {
    /// The secret in Ringostat's webhook URL (`?token=`); the route is off without it.
    pub ringostat_token: Option<Secret>,
    /// Ringostat's `Auth-key`, for the hourly reconciliation against its call log.
    pub ringostat_api_key: Option<Secret>,
    pub ringostat_api_url: String,
    /// The secret in Binotel's webhook URL; the route is off without it.
    pub binotel_token: Option<Secret>,
    /// When set, Binotel's pushes are taken only from these addresses.
    pub binotel_allowed_ips: Vec<IpAddr>,
    /// The key of the phone hash; without it, one is generated once into the data directory.
    pub phone_hash_key: Option<Secret>,
    /// A missed call's callback is due this many business minutes later.
    pub callback_minutes: u32,
    /// A recording larger than this is refused with a reason in the topic (Telegram's bots
    /// upload at most 50 MB).
    pub recording_max_bytes: u64,
    /// `/reviews` offers this many calls a week per manager, picked at random.
    pub review_sample_per_week: u32,
}

impl Default for CallsConfig {
    fn default() -> Self {
        CallsConfig {
            ringostat_token: None,
            ringostat_api_key: None,
            ringostat_api_url: RINGOSTAT_API.into(),
            binotel_token: None,
            binotel_allowed_ips: Vec::new(),
            phone_hash_key: None,
            callback_minutes: 15,
            recording_max_bytes: 50 * 1024 * 1024,
            review_sample_per_week: 5,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileCalls {
    ringostat_token: Option<Secret>,
    ringostat_api_key: Option<Secret>,
    ringostat_api_url: Option<String>,
    binotel_token: Option<Secret>,
    binotel_allowed_ips: Option<Vec<String>>,
    phone_hash_key: Option<Secret>,
    callback_minutes: Option<u32>,
    recording_max_mb: Option<u64>,
}

fn token(setting: &'static str, v: Option<Secret>) -> Result<Option<Secret>, ConfigError> {
    let Some(v) = v.filter(|s| !s.expose().trim().is_empty()) else { return Ok(None) };
    let t = v.expose().trim();
    if t.len() < 16 || !t.chars().all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c)) {
        return Err(bad(
            setting,
            "must be at least 16 characters of letters, digits, '-', '_', '.' or '~' (it is put in a URL)",
        ));
    }
    Ok(Some(Secret::new(t)))
}

/// The `[reviews]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileReviews {
    sample_per_week: Option<u32>,
}

pub(super) fn load(
    env: &dyn Fn(&str) -> Option<String>,
    f: FileCalls,
    r: FileReviews,
) -> Result<CallsConfig, ConfigError> {
    let mut c = CallsConfig {
        ringostat_token: token(
            "FORECOURT_RINGOSTAT_TOKEN",
            env("FORECOURT_RINGOSTAT_TOKEN").map(Secret::new).or(f.ringostat_token),
        )?,
        ringostat_api_key: env("FORECOURT_RINGOSTAT_API_KEY")
            .map(Secret::new)
            .or(f.ringostat_api_key)
            .filter(|s| !s.expose().trim().is_empty()),
        ringostat_api_url: api_url(
            "FORECOURT_RINGOSTAT_API_URL",
            env("FORECOURT_RINGOSTAT_API_URL").or(f.ringostat_api_url).filter(|u| !u.trim().is_empty()),
            RINGOSTAT_API,
        )?,
        binotel_token: token(
            "FORECOURT_BINOTEL_TOKEN",
            env("FORECOURT_BINOTEL_TOKEN").map(Secret::new).or(f.binotel_token),
        )?,
        ..CallsConfig::default()
    };
    let ips: Option<Vec<String>> = env("FORECOURT_BINOTEL_ALLOWED_IPS")
        .map(|l| l.split([',', ' ']).filter(|s| !s.trim().is_empty()).map(|s| s.trim().to_string()).collect())
        .or(f.binotel_allowed_ips);
    for ip in ips.unwrap_or_default() {
        let parsed = ip
            .parse::<IpAddr>()
            .map_err(|_| bad("FORECOURT_BINOTEL_ALLOWED_IPS", format!("`{ip}` is not an IP address")))?;
        c.binotel_allowed_ips.push(parsed);
    }
    c.phone_hash_key =
        env("FORECOURT_PHONE_HASH_KEY").map(Secret::new).or(f.phone_hash_key).filter(|k| !k.expose().is_empty());
    if let Some(k) = &c.phone_hash_key {
        if k.expose().len() < crate::domain::phone::MIN_KEY_BYTES {
            return Err(bad(
                "FORECOURT_PHONE_HASH_KEY",
                format!("must be at least {} characters", crate::domain::phone::MIN_KEY_BYTES),
            ));
        }
    }
    if let Some(v) = env("FORECOURT_CALLBACK_MINUTES").map(|v| {
        v.trim()
            .parse::<u32>()
            .map_err(|_| bad("FORECOURT_CALLBACK_MINUTES", format!("`{v}` is not a number of minutes")))
    }) {
        c.callback_minutes = v?;
    } else if let Some(m) = f.callback_minutes {
        c.callback_minutes = m;
    }
    if !(1..=7 * 24 * 60).contains(&c.callback_minutes) {
        return Err(bad("FORECOURT_CALLBACK_MINUTES", "must be between 1 and 10080 (a week)"));
    }
    let mb = match env("FORECOURT_RECORDING_MAX_MB") {
        Some(v) => Some(
            v.trim()
                .parse::<u64>()
                .map_err(|_| bad("FORECOURT_RECORDING_MAX_MB", format!("`{v}` is not a number of megabytes")))?,
        ),
        None => f.recording_max_mb,
    };
    if let Some(mb) = mb {
        if !(1..=2_000).contains(&mb) {
            return Err(bad("FORECOURT_RECORDING_MAX_MB", "must be between 1 and 2000"));
        }
        c.recording_max_bytes = mb * 1024 * 1024;
    }
    let sample = match env("FORECOURT_REVIEWS_SAMPLE_PER_WEEK") {
        Some(v) => Some(
            v.trim()
                .parse::<u32>()
                .map_err(|_| bad("FORECOURT_REVIEWS_SAMPLE_PER_WEEK", format!("`{v}` is not a number of calls")))?,
        ),
        None => r.sample_per_week,
    };
    if let Some(n) = sample {
        if n > 100 {
            return Err(bad("FORECOURT_REVIEWS_SAMPLE_PER_WEEK", "must be between 0 and 100"));
        }
        c.review_sample_per_week = n;
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load_env(vars: &[(&str, &str)]) -> Result<CallsConfig, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        load(&|k| map.get(k).cloned(), FileCalls::default(), FileReviews::default())
    }

    #[test]
    fn defaults_and_good_values() {
        let c = load_env(&[]).unwrap();
        assert!(c.ringostat_token.is_none() && c.binotel_token.is_none());
        assert_eq!(c.callback_minutes, 15);
        assert_eq!(c.ringostat_api_url, RINGOSTAT_API);
        let c = load_env(&[
            ("FORECOURT_RINGOSTAT_TOKEN", "rs-0123456789abcdef"),
            ("FORECOURT_BINOTEL_ALLOWED_IPS", "194.88.218.116, 10.0.0.1"),
            ("FORECOURT_CALLBACK_MINUTES", "30"),
            ("FORECOURT_RECORDING_MAX_MB", "20"),
        ])
        .unwrap();
        assert_eq!(c.ringostat_token.unwrap().expose(), "rs-0123456789abcdef");
        assert_eq!(c.binotel_allowed_ips.len(), 2);
        assert_eq!(c.callback_minutes, 30);
        assert_eq!(c.recording_max_bytes, 20 * 1024 * 1024);
    }

    #[test]
    fn bad_values_name_their_setting() {
        for (vars, setting) in [
            (&[("FORECOURT_RINGOSTAT_TOKEN", "short")][..], "FORECOURT_RINGOSTAT_TOKEN"),
            (&[("FORECOURT_BINOTEL_TOKEN", "has spaces in it, long enough")], "FORECOURT_BINOTEL_TOKEN"),
            (&[("FORECOURT_BINOTEL_ALLOWED_IPS", "binotel.ua")], "FORECOURT_BINOTEL_ALLOWED_IPS"),
            (&[("FORECOURT_CALLBACK_MINUTES", "0")], "FORECOURT_CALLBACK_MINUTES"),
            (&[("FORECOURT_CALLBACK_MINUTES", "soon")], "FORECOURT_CALLBACK_MINUTES"),
            (&[("FORECOURT_PHONE_HASH_KEY", "tiny")], "FORECOURT_PHONE_HASH_KEY"),
            (&[("FORECOURT_RINGOSTAT_API_URL", "api.ringostat.net")], "FORECOURT_RINGOSTAT_API_URL"),
            (&[("FORECOURT_RECORDING_MAX_MB", "0")], "FORECOURT_RECORDING_MAX_MB"),
        ] {
            let e = load_env(vars).unwrap_err();
            assert_eq!(e.setting, setting, "{vars:?}");
        }
    }
}
