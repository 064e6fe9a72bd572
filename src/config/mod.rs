//! The typed configuration: defaults, then the TOML file, then environment variables.
//! Every problem names the setting (as its environment variable) in one line. Secrets
//! never print: they are wrapped in [`Secret`].

pub mod ai;
mod assignment;
mod calls;
mod reports;

pub use ai::AiConfig;
pub use assignment::AssignmentConfig;
pub use calls::CallsConfig;
pub use reports::ReportsConfig;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A value that must not reach logs or error messages.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub http_addr: SocketAddr,
    pub data_dir: PathBuf,
    pub timezone: chrono_tz::Tz,
    pub telegram: TelegramConfig,
    pub jobs: JobsConfig,
    /// The public base URL of the HTTP service (webhooks, signed media links).
    pub public_url: Option<String>,
    /// Viber, when a token is set.
    pub viber: Option<ViberConfig>,
    /// WhatsApp Cloud API, when a token is set.
    pub whatsapp: Option<WhatsappConfig>,
    /// The key the ERP signs its pushes with (`POST /webhooks/erp`); the route is off without it.
    pub erp_secret: Option<Secret>,
    /// Where a sold lead is announced (`lead.sold`, signed with `erp_secret`); off if unset.
    pub erp_url: Option<String>,
    /// The customer-facing bot's flows.
    pub flows: FlowsConfig,
    /// Telephony (issue 12): webhooks, the call log, the phone hash key, callbacks.
    pub calls: CallsConfig,
    /// Who gets new leads, the response timers, tasks and stale leads.
    pub assignment: AssignmentConfig,
    /// The reporting page and the digests.
    pub reports: ReportsConfig,
    /// AI that advises (issue 15); `None`: off, and nothing mentions it.
    pub ai: Option<AiConfig>,
    /// The configuration file read, if any (the AI features are read from it again).
    pub source: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct FlowsConfig {
    /// The flow files (`None`: the bot's flows are off).
    pub dir: Option<PathBuf>,
    /// The directory holding `flows/<lang>/…` templates.
    pub templates_dir: PathBuf,
    /// The language of customers whose messenger reports none the flows speak.
    pub default_language: String,
    /// Opening hours, as written (`Mon-Sat 09:00-19:00`), and parsed.
    pub business_hours_text: String,
    pub business_hours: crate::domain::flow::hours::Hours,
}

impl Default for FlowsConfig {
    fn default() -> Self {
        let text = "Mon-Sat 09:00-19:00".to_string();
        FlowsConfig {
            dir: Some(PathBuf::from("flows")),
            templates_dir: PathBuf::from("templates"),
            default_language: "uk".into(),
            business_hours: crate::domain::flow::hours::Hours::parse(&text).expect("the default hours parse"),
            business_hours_text: text,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ViberConfig {
    pub token: Secret,
    /// The REST API base; methods are appended (`…/send_message`).
    pub api_url: String,
    /// The sender name customers see (Viber allows 28 characters).
    pub sender_name: String,
}

#[derive(Debug, Clone)]
pub struct WhatsappConfig {
    pub token: Secret,
    pub phone_number_id: String,
    pub app_secret: Secret,
    pub verify_token: Secret,
    /// The Graph API base with its version, e.g. `https://graph.facebook.com/v21.0`.
    pub api_url: String,
    /// The approved re-engagement template: name and language code.
    pub template: Option<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct TelegramConfig {
    /// The bot customers write to (and, unless `staff_token` is set, the staff bot too).
    pub token: Option<Secret>,
    /// An optional separate bot for the staff group.
    pub staff_token: Option<Secret>,
    /// The Bot API base, e.g. `https://api.telegram.org`.
    pub api_url: String,
    /// Staff supergroups (forums). The first is the queue of unclaimed leads.
    pub staff_chat_ids: Vec<i64>,
    /// When set, updates come by webhook (`POST /webhooks/telegram`) instead of polling.
    pub webhook_secret: Option<Secret>,
    /// Sign staff replies to customers with the manager's first name.
    pub sign_replies: bool,
    /// Long-polling timeout in seconds.
    pub poll_timeout_s: u32,
    /// Keep to Telegram's sending limits on our side. Off only against a fake Bot API
    /// whose limits are off (benchmarks).
    pub rate_limits: bool,
}

#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// How many jobs run at once.
    pub workers: usize,
    /// Attempts before a failing job is parked.
    pub max_attempts: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://forecourt.db".into(),
            http_addr: "127.0.0.1:8080".parse().expect("valid default address"),
            data_dir: PathBuf::from("data"),
            timezone: chrono_tz::Europe::Kyiv,
            telegram: TelegramConfig {
                token: None,
                staff_token: None,
                api_url: "https://api.telegram.org".into(),
                staff_chat_ids: Vec::new(),
                webhook_secret: None,
                sign_replies: false,
                poll_timeout_s: 25,
                rate_limits: true,
            },
            jobs: JobsConfig { workers: 4, max_attempts: 8 },
            public_url: None,
            viber: None,
            whatsapp: None,
            erp_secret: None,
            erp_url: None,
            flows: FlowsConfig::default(),
            calls: CallsConfig::default(),
            assignment: AssignmentConfig::default(),
            reports: ReportsConfig::default(),
            ai: None,
            source: None,
        }
    }
}

/// A setting that is missing or wrong, named as its environment variable.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub problem: String,
}

pub(crate) fn bad(setting: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError { setting, problem: problem.into() }
}

/// The TOML file's shape; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    http_addr: Option<String>,
    data_dir: Option<PathBuf>,
    timezone: Option<String>,
    #[serde(default)]
    telegram: FileTelegram,
    #[serde(default)]
    jobs: FileJobs,
    public_url: Option<String>,
    #[serde(default)]
    viber: FileViber,
    #[serde(default)]
    whatsapp: FileWhatsapp,
    #[serde(default)]
    erp: FileErp,
    #[serde(default)]
    flows: FileFlows,
    #[serde(default)]
    calls: calls::FileCalls,
    #[serde(default)]
    reviews: calls::FileReviews,
    #[serde(default)]
    assignment: assignment::FileAssignment,
    #[serde(default)]
    tasks: assignment::FileTasks,
    #[serde(default)]
    pipeline: assignment::FilePipeline,
    #[serde(default)]
    reports: reports::FileReports,
    #[serde(default)]
    ai: ai::FileAi,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFlows {
    dir: Option<String>,
    templates_dir: Option<PathBuf>,
    default_language: Option<String>,
    business_hours: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileErp {
    secret: Option<Secret>,
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileViber {
    token: Option<Secret>,
    api_url: Option<String>,
    sender_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWhatsapp {
    token: Option<Secret>,
    phone_number_id: Option<String>,
    app_secret: Option<Secret>,
    verify_token: Option<Secret>,
    api_url: Option<String>,
    template: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTelegram {
    token: Option<Secret>,
    staff_token: Option<Secret>,
    api_url: Option<String>,
    staff_chat_ids: Option<Vec<i64>>,
    webhook_secret: Option<Secret>,
    sign_replies: Option<bool>,
    poll_timeout_s: Option<u32>,
    rate_limits: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileJobs {
    workers: Option<usize>,
    max_attempts: Option<i64>,
}

impl Config {
    /// Load from the file (if given, or `forecourt.toml` if present) and the process
    /// environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_with(path, &|k| std::env::var(k).ok())
    }

    /// Load with an explicit environment (tests).
    pub fn load_with(path: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let source = match path {
            Some(p) => Some(p.to_path_buf()),
            None if Path::new("forecourt.toml").exists() => Some(PathBuf::from("forecourt.toml")),
            None => None,
        };
        let file = source.as_deref().map(read_file).transpose()?.unwrap_or_default();
        let mut c = Config { source, ..Config::default() };
        let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());

        if let Some(v) = file.database_url {
            c.database_url = v;
        }
        if let Some(v) = env("DATABASE_URL") {
            c.database_url = v;
        }
        let addr = env("FORECOURT_HTTP_ADDR").or(file.http_addr);
        if let Some(a) = addr {
            c.http_addr = a
                .trim()
                .parse()
                .map_err(|_| bad("FORECOURT_HTTP_ADDR", format!("`{a}` is not an address like 127.0.0.1:8080")))?;
        }
        if let Some(v) = env("FORECOURT_DATA_DIR").map(PathBuf::from).or(file.data_dir) {
            c.data_dir = v;
        }
        if let Some(tz) = env("FORECOURT_TIMEZONE").or(file.timezone) {
            c.timezone = tz
                .trim()
                .parse()
                .map_err(|_| bad("FORECOURT_TIMEZONE", format!("`{tz}` is not a time zone name like Europe/Kyiv")))?;
        }

        let t = file.telegram;
        c.telegram.token = env("FORECOURT_TELEGRAM_TOKEN").map(Secret::new).or(t.token).filter(|s| !s.0.is_empty());
        c.telegram.staff_token =
            env("FORECOURT_STAFF_TELEGRAM_TOKEN").map(Secret::new).or(t.staff_token).filter(|s| !s.0.is_empty());
        if let Some(u) = env("FORECOURT_TELEGRAM_API_URL").or(t.api_url) {
            c.telegram.api_url = u.trim().trim_end_matches('/').to_string();
        }
        if !(c.telegram.api_url.starts_with("http://") || c.telegram.api_url.starts_with("https://")) {
            return Err(bad(
                "FORECOURT_TELEGRAM_API_URL",
                format!("`{}` must start with https://", c.telegram.api_url),
            ));
        }
        if let Some(list) = env("FORECOURT_STAFF_CHAT_ID") {
            c.telegram.staff_chat_ids = parse_chat_list(&list)?;
        } else if let Some(list) = t.staff_chat_ids {
            c.telegram.staff_chat_ids = list;
        }
        let mut seen = std::collections::HashSet::new();
        for id in &c.telegram.staff_chat_ids {
            if *id >= 0 {
                return Err(bad(
                    "FORECOURT_STAFF_CHAT_ID",
                    format!("{id} is not a supergroup id (they are negative, like -1001234567890)"),
                ));
            }
            if !seen.insert(*id) {
                return Err(bad("FORECOURT_STAFF_CHAT_ID", format!("{id} is listed twice")));
            }
        }
        c.telegram.webhook_secret =
            env("FORECOURT_TELEGRAM_WEBHOOK_SECRET").map(Secret::new).or(t.webhook_secret).filter(|s| !s.0.is_empty());
        if let Some(s) = &c.telegram.webhook_secret {
            let ok = (1..=256).contains(&s.0.len())
                && s.0.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                return Err(bad(
                    "FORECOURT_TELEGRAM_WEBHOOK_SECRET",
                    "must be 1-256 characters of A-Z, a-z, 0-9, _ and -",
                ));
            }
        }
        c.telegram.sign_replies = match env("FORECOURT_SIGN_REPLIES") {
            Some(v) => parse_bool("FORECOURT_SIGN_REPLIES", &v)?,
            None => t.sign_replies.unwrap_or(false),
        };
        if let Some(v) = t.poll_timeout_s {
            c.telegram.poll_timeout_s = v;
        }
        c.telegram.rate_limits = match env("FORECOURT_TELEGRAM_RATE_LIMITS") {
            Some(v) => parse_bool("FORECOURT_TELEGRAM_RATE_LIMITS", &v)?,
            None => t.rate_limits.unwrap_or(true),
        };
        if let Some(v) = env("FORECOURT_JOB_WORKERS") {
            c.jobs.workers =
                v.trim().parse().map_err(|_| bad("FORECOURT_JOB_WORKERS", format!("`{v}` is not a number")))?;
        } else if let Some(v) = file.jobs.workers {
            c.jobs.workers = v;
        }
        if c.jobs.workers == 0 || c.jobs.workers > 256 {
            return Err(bad("FORECOURT_JOB_WORKERS", "must be between 1 and 256"));
        }
        if let Some(v) = env("FORECOURT_JOB_MAX_ATTEMPTS") {
            c.jobs.max_attempts =
                v.trim().parse().map_err(|_| bad("FORECOURT_JOB_MAX_ATTEMPTS", format!("`{v}` is not a number")))?;
        } else if let Some(v) = file.jobs.max_attempts {
            c.jobs.max_attempts = v;
        }
        if c.jobs.max_attempts < 1 {
            return Err(bad("FORECOURT_JOB_MAX_ATTEMPTS", "must be at least 1"));
        }
        if let Some(u) = env("FORECOURT_PUBLIC_URL").or(file.public_url).filter(|u| !u.trim().is_empty()) {
            let u = u.trim().trim_end_matches('/').to_string();
            if !(u.starts_with("https://") || u.starts_with("http://")) || u.len() < 10 {
                return Err(bad("FORECOURT_PUBLIC_URL", format!("`{u}` is not a URL like https://crm.example.com")));
            }
            c.public_url = Some(u);
        }
        c.viber = load_viber(&env, file.viber)?;
        let f = file.flows;
        if let Some(d) = env("FORECOURT_FLOWS_DIR").or(f.dir) {
            c.flows.dir = (d.trim() != "off").then(|| PathBuf::from(d.trim()));
        }
        if let Some(d) = env("FORECOURT_TEMPLATES_DIR").map(PathBuf::from).or(f.templates_dir) {
            c.flows.templates_dir = d;
        }
        if let Some(l) = env("FORECOURT_DEFAULT_LANGUAGE").or(f.default_language) {
            let l = l.trim().to_lowercase();
            if l.len() != 2 || !l.chars().all(|c| c.is_ascii_lowercase()) {
                return Err(bad("FORECOURT_DEFAULT_LANGUAGE", format!("`{l}` is not a two-letter code like uk or en")));
            }
            c.flows.default_language = l;
        }
        if let Some(h) = env("FORECOURT_BUSINESS_HOURS").or(f.business_hours) {
            c.flows.business_hours =
                crate::domain::flow::hours::Hours::parse(&h).map_err(|e| bad("FORECOURT_BUSINESS_HOURS", e))?;
            c.flows.business_hours_text = h.trim().to_string();
        }
        c.erp_secret = env("FORECOURT_ERP_SECRET").map(Secret::new).or(file.erp.secret).filter(|s| !s.0.is_empty());
        if c.erp_secret.as_ref().is_some_and(|s| s.0.len() < 16) {
            return Err(bad("FORECOURT_ERP_SECRET", "must be at least 16 characters (it signs the ERP's pushes)"));
        }
        c.erp_url = env("FORECOURT_ERP_URL").or(file.erp.url).map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
        if let Some(u) = &c.erp_url {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                return Err(bad(
                    "FORECOURT_ERP_URL",
                    format!("`{u}` is not a URL like https://erp.example.com/forecourt"),
                ));
            }
            if c.erp_secret.is_none() {
                return Err(bad(
                    "FORECOURT_ERP_URL",
                    "needs FORECOURT_ERP_SECRET too (sale events are signed with it)",
                ));
            }
        }
        c.whatsapp = load_whatsapp(&env, file.whatsapp)?;
        c.calls = calls::load(&env, file.calls, file.reviews)?;
        c.assignment = assignment::load(&env, file.assignment, file.tasks, file.pipeline)?;
        c.reports = reports::load(&env, file.reports)?;
        c.ai = ai::load(&env, file.ai)?;
        if !(c.database_url.starts_with("sqlite:")
            || c.database_url.starts_with("postgres://")
            || c.database_url.starts_with("postgresql://"))
        {
            return Err(bad("DATABASE_URL", "must start with sqlite:// or postgres://"));
        }
        Ok(c)
    }

    /// What `run` needs beyond what loading checked: a bot token and a staff group.
    pub fn check_for_run(&self) -> Result<(), ConfigError> {
        if self.telegram.token.is_none() {
            return Err(bad("FORECOURT_TELEGRAM_TOKEN", "is missing: create a bot with @BotFather and set its token"));
        }
        self.check_public_url()?;
        if self.telegram.staff_chat_ids.is_empty() {
            return Err(bad(
                "FORECOURT_STAFF_CHAT_ID",
                "is missing: the id of the staff supergroup with topics (a list for several)",
            ));
        }
        Ok(())
    }

    /// The public URL, required once a channel that calls us back is on.
    pub fn check_public_url(&self) -> Result<(), ConfigError> {
        if (self.viber.is_some() || self.whatsapp.is_some()) && self.public_url.is_none() {
            return Err(bad(
                "FORECOURT_PUBLIC_URL",
                "is missing: Viber and WhatsApp call the service back there (webhooks, media links)",
            ));
        }
        Ok(())
    }

    /// The bot token used for the staff group.
    pub fn staff_token(&self) -> Option<&Secret> {
        self.telegram.staff_token.as_ref().or(self.telegram.token.as_ref())
    }
}

pub(crate) fn api_url(setting: &'static str, v: Option<String>, default: &str) -> Result<String, ConfigError> {
    let u = v.map(|u| u.trim().trim_end_matches('/').to_string()).unwrap_or_else(|| default.to_string());
    if !(u.starts_with("https://") || u.starts_with("http://")) {
        return Err(bad(setting, format!("`{u}` must start with https://")));
    }
    Ok(u)
}

fn load_viber(env: &dyn Fn(&str) -> Option<String>, f: FileViber) -> Result<Option<ViberConfig>, ConfigError> {
    let Some(token) = env("FORECOURT_VIBER_TOKEN").map(Secret::new).or(f.token).filter(|s| !s.0.is_empty()) else {
        return Ok(None);
    };
    let api_url = api_url(
        "FORECOURT_VIBER_API_URL",
        env("FORECOURT_VIBER_API_URL").or(f.api_url).filter(|u| !u.trim().is_empty()),
        VIBER_API,
    )?;
    let sender_name = env("FORECOURT_VIBER_SENDER_NAME")
        .or(f.sender_name)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "Forecourt".into());
    let sender_name = sender_name.trim().to_string();
    if sender_name.is_empty() || sender_name.chars().count() > 28 {
        return Err(bad("FORECOURT_VIBER_SENDER_NAME", "must be 1-28 characters (Viber's limit)"));
    }
    Ok(Some(ViberConfig { token, api_url, sender_name }))
}

fn load_whatsapp(env: &dyn Fn(&str) -> Option<String>, f: FileWhatsapp) -> Result<Option<WhatsappConfig>, ConfigError> {
    let Some(token) = env("FORECOURT_WHATSAPP_TOKEN").map(Secret::new).or(f.token).filter(|s| !s.0.is_empty()) else {
        return Ok(None);
    };
    let need = |setting: &'static str, v: Option<String>| {
        v.map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad(setting, "is missing (needed once FORECOURT_WHATSAPP_TOKEN is set)"))
    };
    let phone_number_id =
        need("FORECOURT_WHATSAPP_PHONE_NUMBER_ID", env("FORECOURT_WHATSAPP_PHONE_NUMBER_ID").or(f.phone_number_id))?;
    if !phone_number_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            "FORECOURT_WHATSAPP_PHONE_NUMBER_ID",
            "must be the numeric id from the Meta app, not the phone",
        ));
    }
    let app_secret = Secret::new(need(
        "FORECOURT_WHATSAPP_APP_SECRET",
        env("FORECOURT_WHATSAPP_APP_SECRET").or(f.app_secret.map(|s| s.0)),
    )?);
    let verify_token = Secret::new(need(
        "FORECOURT_WHATSAPP_VERIFY_TOKEN",
        env("FORECOURT_WHATSAPP_VERIFY_TOKEN").or(f.verify_token.map(|s| s.0)),
    )?);
    let api_url = api_url(
        "FORECOURT_WHATSAPP_API_URL",
        env("FORECOURT_WHATSAPP_API_URL").or(f.api_url).filter(|u| !u.trim().is_empty()),
        WHATSAPP_API,
    )?;
    let template = match env("FORECOURT_WHATSAPP_TEMPLATE").or(f.template).filter(|t| !t.trim().is_empty()) {
        None => None,
        Some(t) => Some(parse_template(&t)?),
    };
    Ok(Some(WhatsappConfig { token, phone_number_id, app_secret, verify_token, api_url, template }))
}

/// `name` or `name:language` (language defaults to `uk`).
fn parse_template(t: &str) -> Result<(String, String), ConfigError> {
    let (name, lang) = t.trim().split_once(':').unwrap_or((t.trim(), "uk"));
    let ok_name = !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let ok_lang = !lang.is_empty() && lang.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_');
    if !(ok_name && ok_lang) {
        return Err(bad(
            "FORECOURT_WHATSAPP_TEMPLATE",
            format!("`{t}` is not `name:language` like `reengage:uk` (lower-case letters, digits, _)"),
        ));
    }
    Ok((name.to_string(), lang.to_string()))
}

pub const VIBER_API: &str = "https://chatapi.viber.com/pa";
pub const WHATSAPP_API: &str = "https://graph.facebook.com/v21.0";

fn read_file(p: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(p).map_err(|e| bad("--config", format!("cannot read {}: {e}", p.display())))?;
    toml::from_str(&text).map_err(|e| bad("--config", format!("{}: {}", p.display(), e.message())))
}

fn parse_chat_list(list: &str) -> Result<Vec<i64>, ConfigError> {
    list.split([',', ' '])
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim().parse::<i64>().map_err(|_| {
                bad("FORECOURT_STAFF_CHAT_ID", format!("`{s}` is not a chat id (a list is comma-separated)"))
            })
        })
        .collect()
}

pub(crate) fn parse_bool(setting: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(bad(setting, format!("`{v}` is not true or false"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)], file: Option<&str>) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = file.map(|f| {
            let p = dir.path().join("f.toml");
            std::fs::write(&p, f).unwrap();
            p
        });
        Config::load_with(path.as_deref(), &|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_then_file_then_environment() {
        let c = load(&[], None).unwrap();
        assert_eq!(c.database_url, "sqlite://forecourt.db");
        assert_eq!(c.http_addr.to_string(), "127.0.0.1:8080");
        let f = "database_url = \"sqlite://f.db\"\n[telegram]\nstaff_chat_ids = [-100]\ntoken = \"t\"\n";
        let c = load(&[], Some(f)).unwrap();
        assert_eq!(c.database_url, "sqlite://f.db");
        assert_eq!(c.telegram.staff_chat_ids, vec![-100]);
        let c = load(&[("DATABASE_URL", "postgres://x/y"), ("FORECOURT_STAFF_CHAT_ID", "-1, -2")], Some(f)).unwrap();
        assert_eq!(c.database_url, "postgres://x/y");
        assert_eq!(c.telegram.staff_chat_ids, vec![-1, -2]);
        assert!(c.check_for_run().is_ok());
    }

    #[test]
    fn each_problem_names_its_setting() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("FORECOURT_HTTP_ADDR", "nowhere")], "FORECOURT_HTTP_ADDR"),
            (&[("FORECOURT_STAFF_CHAT_ID", "abc")], "FORECOURT_STAFF_CHAT_ID"),
            (&[("FORECOURT_STAFF_CHAT_ID", "123")], "FORECOURT_STAFF_CHAT_ID"),
            (&[("FORECOURT_TIMEZONE", "Mars/Base")], "FORECOURT_TIMEZONE"),
            (&[("FORECOURT_TELEGRAM_API_URL", "api.telegram.org")], "FORECOURT_TELEGRAM_API_URL"),
            (&[("FORECOURT_TELEGRAM_WEBHOOK_SECRET", "no spaces")], "FORECOURT_TELEGRAM_WEBHOOK_SECRET"),
            (&[("DATABASE_URL", "mysql://x")], "DATABASE_URL"),
            (&[("FORECOURT_SIGN_REPLIES", "maybe")], "FORECOURT_SIGN_REPLIES"),
            (&[("FORECOURT_PUBLIC_URL", "crm.example.com")], "FORECOURT_PUBLIC_URL"),
            (&[("FORECOURT_ERP_SECRET", "short")], "FORECOURT_ERP_SECRET"),
            (&[("FORECOURT_ERP_URL", "https://erp.example.com/x")], "FORECOURT_ERP_URL"),
            (&[("FORECOURT_VIBER_TOKEN", "v"), ("FORECOURT_VIBER_API_URL", "ftp://x")], "FORECOURT_VIBER_API_URL"),
            (
                &[("FORECOURT_VIBER_TOKEN", "v"), ("FORECOURT_VIBER_SENDER_NAME", &"x".repeat(29))],
                "FORECOURT_VIBER_SENDER_NAME",
            ),
            (&[("FORECOURT_WHATSAPP_TOKEN", "w")], "FORECOURT_WHATSAPP_PHONE_NUMBER_ID"),
            (
                &[("FORECOURT_WHATSAPP_TOKEN", "w"), ("FORECOURT_WHATSAPP_PHONE_NUMBER_ID", "+380 50")],
                "FORECOURT_WHATSAPP_PHONE_NUMBER_ID",
            ),
            (
                &[("FORECOURT_WHATSAPP_TOKEN", "w"), ("FORECOURT_WHATSAPP_PHONE_NUMBER_ID", "1")],
                "FORECOURT_WHATSAPP_APP_SECRET",
            ),
            (
                &[
                    ("FORECOURT_WHATSAPP_TOKEN", "w"),
                    ("FORECOURT_WHATSAPP_PHONE_NUMBER_ID", "1"),
                    ("FORECOURT_WHATSAPP_APP_SECRET", "s"),
                ],
                "FORECOURT_WHATSAPP_VERIFY_TOKEN",
            ),
        ];
        for (vars, setting) in cases {
            let err = load(vars, None).unwrap_err();
            assert_eq!(err.setting, *setting, "{err}");
        }
        let c = load(&[], None).unwrap();
        assert_eq!(c.check_for_run().unwrap_err().setting, "FORECOURT_TELEGRAM_TOKEN");
        let c = load(&[("FORECOURT_TELEGRAM_TOKEN", "t")], None).unwrap();
        assert_eq!(c.check_for_run().unwrap_err().setting, "FORECOURT_STAFF_CHAT_ID");
        assert_eq!(load(&[], Some("nonsense = 1")).unwrap_err().setting, "--config");
    }

    #[test]
    fn the_example_file_documents_every_key_and_loads() {
        let c = load(&[], Some(include_str!("../../forecourt.example.toml"))).expect("the example loads");
        assert_eq!(c.telegram.staff_chat_ids, vec![-1001234567890]);
        assert_eq!(c.jobs.workers, Config::default().jobs.workers, "the example shows the defaults");
        assert!(c.telegram.rate_limits);
        assert_eq!(c.calls.callback_minutes, CallsConfig::default().callback_minutes);
        assert_eq!(c.calls.recording_max_bytes, CallsConfig::default().recording_max_bytes);
        assert!(c.calls.ringostat_token.is_none() && c.calls.phone_hash_key.is_none());
    }

    #[test]
    fn channels_are_off_until_a_token_is_set() {
        let c = load(&[], None).unwrap();
        assert!(c.viber.is_none() && c.whatsapp.is_none());
        let wa = [
            ("FORECOURT_WHATSAPP_TOKEN", "w"),
            ("FORECOURT_WHATSAPP_PHONE_NUMBER_ID", "123"),
            ("FORECOURT_WHATSAPP_APP_SECRET", "s"),
            ("FORECOURT_WHATSAPP_VERIFY_TOKEN", "v"),
            ("FORECOURT_WHATSAPP_TEMPLATE", "reengage"),
            ("FORECOURT_VIBER_TOKEN", "vt"),
            ("FORECOURT_TELEGRAM_TOKEN", "t"),
            ("FORECOURT_STAFF_CHAT_ID", "-100"),
        ];
        let c = load(&wa, None).unwrap();
        let w = c.whatsapp.as_ref().unwrap();
        assert_eq!(w.api_url, WHATSAPP_API);
        assert_eq!(w.template, Some(("reengage".into(), "uk".into())));
        assert_eq!(c.viber.as_ref().unwrap().api_url, VIBER_API);
        assert_eq!(c.check_for_run().unwrap_err().setting, "FORECOURT_PUBLIC_URL");
        let mut with_url = wa.to_vec();
        with_url.push(("FORECOURT_PUBLIC_URL", "https://crm.example.com/"));
        let c = load(&with_url, None).unwrap();
        assert_eq!(c.public_url.as_deref(), Some("https://crm.example.com"));
        assert!(c.check_for_run().is_ok());
        assert_eq!(parse_template("hello_again:en_US").unwrap(), ("hello_again".into(), "en_US".into()));
        assert!(parse_template("Hello Again").is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        let c = load(&[("FORECOURT_TELEGRAM_TOKEN", "123:SECRET")], None).unwrap();
        assert!(!format!("{c:?}").contains("SECRET"));
    }
}
