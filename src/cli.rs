//! The command line: `run`, `migrate`, `demo`, `bench`, `users`, `jobs`, `config check`,
//! `viber set-webhook`, `media gc`, `vehicles import/list`, `flows check/list`.
//! Output here is for people; the service logs through `tracing`.

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::{JobId, Role, TelegramUserId};
use crate::store::Store;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "forecourt", version, about = "A CRM for car dealers that lives inside messengers")]
struct Cli {
    /// Configuration file (TOML). Default: forecourt.toml if present.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: HTTP, Telegram, jobs.
    Run,
    /// Apply pending database migrations.
    Migrate,
    /// Play a scripted dealership morning against the built-in fake Telegram and print it.
    Demo {
        /// How much faster than real time the demo's clock runs.
        #[arg(long, default_value_t = 30.0)]
        speed: f64,
    },
    /// Measure ingest and bridge throughput against the fake Telegram.
    Bench(crate::bench::BenchArgs),
    /// Staff users.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Calls: fill in, from Ringostat's call log, the calls whose webhooks never came.
    Calls {
        #[command(subcommand)]
        command: CallsCommand,
    },
    /// Parked jobs: list them, or put them back in the queue.
    Jobs {
        #[command(subcommand)]
        command: Option<JobsCommand>,
    },
    /// Configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Viber: register the webhook.
    Viber {
        #[command(subcommand)]
        command: ViberCommand,
    },
    /// The media store.
    Media {
        #[command(subcommand)]
        command: MediaCommand,
    },
    /// The vehicle inventory.
    Vehicles {
        #[command(subcommand)]
        command: VehiclesCommand,
    },
    /// The bot's conversation flows.
    Flows {
        #[command(subcommand)]
        command: FlowsCommand,
    },
    /// Supervisors' digests in chat.
    Digest {
        #[command(subcommand)]
        command: DigestCommand,
    },
}

#[derive(Subcommand)]
enum DigestCommand {
    /// Send a digest now: the figures of the day (or week) up to now, with its chart, to
    /// every supervisor privately (or FORECOURT_DIGEST_CHAT_ID, or --to).
    Send {
        /// The last 24 hours against the 24 before.
        #[arg(long, conflicts_with = "weekly", required_unless_present = "weekly")]
        daily: bool,
        /// The last 7 days against the 7 before.
        #[arg(long)]
        weekly: bool,
        /// A Telegram chat id to send it to instead (a person who started the bot, or a group).
        #[arg(long)]
        to: Option<i64>,
    },
}

#[derive(Subcommand)]
enum FlowsCommand {
    /// Check flow files: every problem with file and line; exit 1 if there is any.
    Check {
        /// The flows directory (default: the configured one). Its templates are read from
        /// --templates, else the `templates` directory beside it.
        path: Option<PathBuf>,
        #[arg(long)]
        templates: Option<PathBuf>,
    },
    /// The activated versions, newest first (the first is active).
    List,
}

#[derive(Subcommand)]
enum VehiclesCommand {
    /// Import or update vehicles from a CSV file (see the README for the columns).
    Import { file: PathBuf },
    /// Search the inventory as a manager would type it: "rav4 2019", "toyta", "042788".
    Search {
        query: String,
        /// One JSON array, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List vehicles.
    List {
        /// available, reserved, sold or archived
        #[arg(long)]
        status: Option<String>,
        /// One JSON array, for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ViberCommand {
    /// Register FORECOURT_PUBLIC_URL/webhooks/viber (or --url) as the bot's webhook.
    SetWebhook {
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Subcommand)]
enum MediaCommand {
    /// Remove kept files that no media row points to (and are older than --min-age-minutes).
    Gc {
        #[arg(long, default_value_t = 60)]
        min_age_minutes: u64,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Add a staff user, or update the one with this Telegram id.
    Add {
        #[arg(long)]
        telegram_id: i64,
        #[arg(long)]
        name: String,
        /// manager, supervisor, admin or analyst
        #[arg(long)]
        role: String,
        /// The staff group where this user's leads live (default: spread over the groups).
        #[arg(long)]
        staff_chat: Option<i64>,
        /// Their extension in the PBX (Ringostat's `employee_number`, Binotel's
        /// `internalNumber`): calls answered there are theirs. `none` removes it.
        #[arg(long)]
        extension: Option<String>,
        /// Personal working hours for assignment, like "Mon-Fri 09:00-18:00" (`none`
        /// removes them: the business hours apply).
        #[arg(long)]
        hours: Option<String>,
        /// At most this many open leads come to them by assignment (`none`: no cap).
        #[arg(long)]
        max_open: Option<String>,
        /// Skills, like viber,whatsapp,buy,sell,service,uk,en (`none`: any lead).
        #[arg(long)]
        skills: Option<String>,
        /// On leave until this date (YYYY-MM-DD, back that morning); `none` ends it.
        #[arg(long)]
        leave_until: Option<String>,
    },
    /// List staff users.
    List,
    /// Disable a user: they are then refused like a stranger.
    Disable {
        #[arg(long)]
        telegram_id: i64,
    },
}

/// `users add`'s assignment settings, read and checked; `None` when none was given.
struct Work {
    hours: Option<Option<String>>,
    max_open: Option<Option<u32>>,
    skills: Option<Vec<String>>,
    leave_until: Option<Option<i64>>,
}

fn work_settings(
    config: &Config,
    hours: Option<String>,
    max_open: Option<String>,
    skills: Option<String>,
    leave_until: Option<String>,
) -> anyhow::Result<Option<Work>> {
    if hours.is_none() && max_open.is_none() && skills.is_none() && leave_until.is_none() {
        return Ok(None);
    }
    let none = |s: &str| s.trim().eq_ignore_ascii_case("none");
    let hours = match hours {
        Some(h) if none(&h) => Some(None),
        Some(h) => {
            crate::domain::flow::hours::Hours::parse(&h).map_err(|e| anyhow::anyhow!("--hours: {e}"))?;
            Some(Some(h.trim().to_string()))
        }
        None => None,
    };
    let max_open = match max_open {
        Some(m) if none(&m) => Some(None),
        Some(m) => Some(Some(
            m.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .with_context(|| format!("--max-open: `{m}` is not a number from 1"))?,
        )),
        None => None,
    };
    let skills = match skills {
        Some(s) if none(&s) => Some(Vec::new()),
        Some(s) => Some(crate::domain::assign::parse_skills(&s).map_err(|e| anyhow::anyhow!("--skills: {e}"))?),
        None => None,
    };
    let leave_until = match leave_until {
        Some(l) if none(&l) => Some(None),
        Some(l) => {
            let day = chrono::NaiveDate::parse_from_str(l.trim(), "%Y-%m-%d")
                .with_context(|| format!("--leave-until: `{l}` is not a date like 2026-12-20"))?;
            use chrono::TimeZone;
            let start = day.and_hms_opt(0, 0, 0).expect("midnight exists");
            let at = config.timezone.from_local_datetime(&start).earliest().map(|t| t.timestamp_millis());
            Some(Some(at.context("--leave-until: that midnight does not exist in the time zone")?))
        }
        None => None,
    };
    Ok(Some(Work { hours, max_open, skills, leave_until }))
}

#[derive(Subcommand)]
enum CallsCommand {
    /// Ask Ringostat's call log (FORECOURT_RINGOSTAT_API_KEY) for the last hours now and
    /// store the calls missing here; calls already stored change nothing.
    Reconcile {
        #[arg(long, default_value_t = 24)]
        hours: u32,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// List parked jobs (the default).
    List,
    /// Put a parked job (or all with --all) back in the queue.
    Retry {
        id: Option<i64>,
        #[arg(long)]
        all: bool,
    },
    /// Process a set-aside Telegram update again (or all with --all): the running service
    /// picks the request up as a job.
    Replay {
        id: Option<i64>,
        #[arg(long)]
        all: bool,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check the configuration for `run` and print it (secrets hidden).
    Check,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    init_logs(match cli.command {
        Command::Run => "info",
        Command::Demo { .. } | Command::Bench(_) => "error",
        _ => "warn",
    });
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logs(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FORECOURT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

async fn store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database_url).await.context("DATABASE_URL: cannot open the database")?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Demo { speed } = cli.command {
        return crate::demo::run(speed).await;
    }
    if let Command::Bench(args) = cli.command {
        return crate::bench::run(args).await;
    }
    let config = Config::load(cli.config.as_deref())?;
    let now = Clock::real().now_ms();
    match cli.command {
        Command::Run => {
            let app = crate::app::build(config, Clock::real()).await?;
            let listener = tokio::net::TcpListener::bind(app.config.http_addr)
                .await
                .with_context(|| format!("FORECOURT_HTTP_ADDR: cannot listen on {}", app.config.http_addr))?;
            let running = crate::app::start(app, listener).await?;
            tokio::select! {
                _ = shutdown_signal() => {}
                why = running.died() => {
                    // Never live on half-working: stop, and let the supervisor restart us.
                    tracing::error!(why, "a part of Forecourt stopped; exiting so it can be restarted");
                    running.stop().await;
                    eprintln!("error: {why}");
                    return Ok(ExitCode::FAILURE);
                }
            }
            tracing::info!("shutting down");
            running.stop().await;
        }
        Command::Migrate => {
            store(&config).await?;
            println!("migrations applied to {}", redact(&config.database_url));
        }
        Command::Users { command } => {
            let store = store(&config).await?;
            match command {
                UsersCommand::Add {
                    telegram_id,
                    name,
                    role,
                    staff_chat,
                    extension,
                    hours,
                    max_open,
                    skills,
                    leave_until,
                } => {
                    let role = Role::parse(&role).with_context(|| {
                        format!("--role: `{role}` is not one of manager, supervisor, admin, analyst")
                    })?;
                    if name.trim().is_empty() {
                        anyhow::bail!("--name: must not be empty");
                    }
                    let extension = extension.map(|e| e.trim().to_string());
                    if let Some(e) = extension.as_deref().filter(|e| *e != "none") {
                        if e.is_empty() || e.len() > 32 || !e.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                            anyhow::bail!("--extension: `{e}` is not an extension like 101");
                        }
                    }
                    let work = work_settings(&config, hours, max_open, skills, leave_until)?;
                    let (u, created) =
                        store.upsert_user(TelegramUserId(telegram_id), name.trim(), role, staff_chat, now).await?;
                    if let Some(w) = work {
                        store
                            .set_work(
                                u.id,
                                w.hours.as_ref().map(|h| h.as_deref()),
                                w.max_open,
                                w.skills.as_deref(),
                                w.leave_until,
                                now,
                            )
                            .await?;
                    }
                    if let Some(e) = extension.as_deref() {
                        let ext = Some(e).filter(|e| *e != "none");
                        match store.set_user_extension(u.id, ext, now).await {
                            Ok(()) => {}
                            Err(crate::store::StoreError::Conflict(_)) => {
                                eprintln!(
                                    "error: extension {e} is another staff member's (see `forecourt users list`)"
                                );
                                return Ok(ExitCode::from(2));
                            }
                            Err(err) => return Err(err.into()),
                        }
                    }
                    println!(
                        "{} user {} ({}, Telegram id {})",
                        if created { "added" } else { "updated" },
                        u.name,
                        u.role,
                        u.telegram_id
                    );
                }
                UsersCommand::List => {
                    println!(
                        "{:>6}  {:>14}  {:<10}  {:<7}  {:<9}  name",
                        "id", "telegram id", "role", "active", "extension"
                    );
                    let users = store.list_users().await?;
                    for u in &users {
                        println!(
                            "{:>6}  {:>14}  {:<10}  {:<7}  {:<9}  {}",
                            u.id,
                            u.telegram_id,
                            u.role,
                            if u.active { "yes" } else { "no" },
                            u.extension.as_deref().unwrap_or("—"),
                            u.name
                        );
                    }
                    // Assignment settings, for those who have any.
                    let work: Vec<_> = store
                        .work_settings()
                        .await?
                        .into_iter()
                        .filter(|w| {
                            w.hours.is_some() || w.max_open.is_some() || !w.skills.is_empty() || w.leave_until.is_some()
                        })
                        .collect();
                    if !work.is_empty() {
                        println!("\nassignment settings:");
                        for w in work {
                            let name = users.iter().find(|u| u.id == w.user).map(|u| u.name.as_str()).unwrap_or("?");
                            let mut parts = Vec::new();
                            if let Some(h) = &w.hours {
                                parts.push(format!("hours {h}"));
                            }
                            if let Some(m) = w.max_open {
                                parts.push(format!("max open {m}"));
                            }
                            if !w.skills.is_empty() {
                                parts.push(format!("skills {}", w.skills));
                            }
                            if let Some(l) = w.leave_until {
                                use chrono::TimeZone;
                                let day = config
                                    .timezone
                                    .timestamp_millis_opt(l)
                                    .single()
                                    .map(|t| t.format("%Y-%m-%d").to_string());
                                parts.push(format!("on leave until {}", day.unwrap_or_default()));
                            }
                            println!("{:>6}  {name}: {}", w.user, parts.join(" · "));
                        }
                    }
                }
                UsersCommand::Disable { telegram_id } => {
                    match store.set_user_active(TelegramUserId(telegram_id), false, now).await {
                        Ok(u) => println!("disabled {} (Telegram id {})", u.name, u.telegram_id),
                        Err(crate::store::StoreError::NotFound) => {
                            eprintln!("error: no user with Telegram id {telegram_id}");
                            return Ok(ExitCode::from(2));
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Command::Digest { command: DigestCommand::Send { daily, weekly: _, to } } => {
            let kind = if daily { crate::domain::digest::Kind::Daily } else { crate::domain::digest::Kind::Weekly };
            let app = crate::app::build(config, Clock::real()).await?;
            let sent = crate::staff::digest::send_now(&app, kind, to).await;
            // Stopping, not dying: the writer tasks the app started end quietly.
            app.supervisor.stopping();
            let sent = sent?;
            if sent.is_empty() {
                eprintln!("error: nobody to send it to: no active supervisor (forecourt users add … --role supervisor), no FORECOURT_DIGEST_CHAT_ID, no --to");
                return Ok(ExitCode::from(2));
            }
            println!(
                "sent the {} digest to {} chat(s): {}",
                kind.as_str(),
                sent.len(),
                sent.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
            );
        }
        Command::Calls { command: CallsCommand::Reconcile { hours } } => {
            if config.calls.ringostat_api_key.is_none() {
                eprintln!("error: FORECOURT_RINGOSTAT_API_KEY is not set: there is no call log to ask");
                return Ok(ExitCode::from(2));
            }
            if !(1..=24 * 31).contains(&hours) {
                anyhow::bail!("--hours: must be between 1 and 744 (31 days)");
            }
            let app = crate::app::build(config, Clock::real()).await?;
            let p = crate::calls::reconcile::pass(&app, now - i64::from(hours) * 3_600_000, now).await;
            app.supervisor.stopping();
            let p = p?;
            println!("calls in Ringostat's log: {}; stored now: {}; unreadable: {}", p.seen, p.added, p.unreadable);
            if let Some(why) = p.failed {
                eprintln!("error: stopped at a window Ringostat did not answer: {why}");
                return Ok(ExitCode::from(1));
            }
        }
        Command::Jobs { command } => {
            let store = store(&config).await?;
            match command.unwrap_or(JobsCommand::List) {
                JobsCommand::List => {
                    let parked = store.parked_jobs().await?;
                    let counts = store.job_counts().await?;
                    let summary: Vec<String> = counts.iter().map(|c| format!("{} {}", c.count, c.status)).collect();
                    println!("jobs: {}", if summary.is_empty() { "none".into() } else { summary.join(", ") });
                    for j in parked {
                        println!(
                            "#{} {} attempts={} payload={} error={}",
                            j.id,
                            j.kind.as_str(),
                            j.attempts,
                            j.payload,
                            j.last_error.unwrap_or_default()
                        );
                    }
                    let aside = store.failed_updates().await?;
                    if !aside.is_empty() {
                        println!("updates set aside (could not be stored; `forecourt jobs replay ID` retries one):");
                    }
                    for u in aside {
                        println!(
                            "update #{} {} update_id={} tries={} error={} raw={}",
                            u.id, u.source, u.update_id, u.attempts, u.error, u.raw
                        );
                    }
                }
                JobsCommand::Replay { id, all } => {
                    let ids: Vec<i64> = match (id, all) {
                        (Some(id), false) => match store.failed_update(id).await? {
                            Some(u) if u.replayed_at.is_none() => vec![u.id],
                            Some(_) => anyhow::bail!("update #{id} was replayed already"),
                            None => anyhow::bail!("no set-aside update #{id} (see `forecourt jobs`)"),
                        },
                        (None, true) => store.failed_updates().await?.into_iter().map(|u| u.id).collect(),
                        _ => anyhow::bail!("give a set-aside update's number, or --all"),
                    };
                    for id in &ids {
                        store.enqueue(&crate::staff::aside::replay_job(*id, now), now).await?;
                    }
                    println!("{} update(s) queued for replay by the running service", ids.len());
                }
                JobsCommand::Retry { id, all } => {
                    let n = match (id, all) {
                        (Some(id), false) => store.retry_parked(Some(JobId(id)), now).await?,
                        (None, true) => store.retry_parked(None, now).await?,
                        _ => anyhow::bail!("give a job id, or --all"),
                    };
                    println!("{n} job(s) back in the queue");
                    if n == 0 && id.is_some() {
                        return Ok(ExitCode::from(2));
                    }
                }
            }
        }
        Command::Config { command: ConfigCommand::Check } => {
            config.check_for_run()?;
            println!("configuration OK");
            println!("  database: {}", redact(&config.database_url));
            println!("  http: {}", config.http_addr);
            println!("  data dir: {}", config.data_dir.display());
            println!("  Telegram API: {}", config.telegram.api_url);
            println!("  staff groups: {:?} (the first is the queue)", config.telegram.staff_chat_ids);
            println!("  separate staff bot: {}", config.telegram.staff_token.is_some());
            println!(
                "  updates by: {}",
                if config.telegram.webhook_secret.is_some() { "webhook" } else { "long polling" }
            );
            println!("  public URL: {}", config.public_url.as_deref().unwrap_or("(not set)"));
            println!("  Viber: {}", if config.viber.is_some() { "on" } else { "off" });
            println!(
                "  WhatsApp: {}",
                match &config.whatsapp {
                    Some(w) =>
                        format!("on (template: {})", w.template.as_ref().map(|t| t.0.as_str()).unwrap_or("none")),
                    None => "off".into(),
                }
            );
            match &config.flows.dir {
                Some(d) => println!(
                    "  flows: {}{} (texts in {}), default language {}, business hours {} ({})",
                    d.display(),
                    if d.is_dir() { "" } else { " (missing: the built-in defaults)" },
                    config.flows.templates_dir.join("flows").display(),
                    config.flows.default_language,
                    config.flows.business_hours_text,
                    config.timezone
                ),
                None => println!("  flows: off"),
            }
        }
        Command::Viber { command: ViberCommand::SetWebhook { url } } => {
            let v = config.viber.as_ref().context("FORECOURT_VIBER_TOKEN is missing: Viber is off")?;
            let url = match url {
                Some(u) => u,
                None => format!(
                    "{}/webhooks/viber",
                    config.public_url.as_deref().context("FORECOURT_PUBLIC_URL is missing (or pass --url)")?
                ),
            };
            if !url.starts_with("https://") {
                eprintln!("warning: Viber accepts only https webhook URLs; {url} will be refused by the real API");
            }
            let http = reqwest::Client::new();
            let api = crate::channels::viber::ViberApi::new(http, &v.api_url, v.token.expose(), &v.sender_name);
            api.set_webhook(&url).await.with_context(|| format!("Viber refused the webhook {url}"))?;
            println!("Viber webhook set to {url}");
        }
        Command::Media { command: MediaCommand::Gc { min_age_minutes } } => {
            let store = store(&config).await?;
            let referenced = store.referenced_media().await?;
            let media = crate::media::MediaStore::new(&config.data_dir);
            let min_age = std::time::Duration::from_secs(min_age_minutes * 60);
            let (files, bytes) = media.gc(&referenced, min_age).context("cleaning the media directory")?;
            println!(
                "removed {files} unreferenced file(s), {} KB, from {}",
                bytes.div_ceil(1024),
                media.root().display()
            );
        }
        Command::Vehicles { command: VehiclesCommand::Import { file } } => {
            let data = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let parsed = crate::inventory::read(&data).with_context(|| file.display().to_string())?;
            let store = store(&config).await?;
            let templates = crate::templates::Templates::builtin()?;
            let (mut created, mut updated) = (0, 0);
            let mut errors = parsed.errors.clone();
            for (line, v) in &parsed.rows {
                // A transaction per row: one row's conflict does not undo the others.
                let mut tx = store.begin().await?;
                let found = crate::store::find_vehicle(&mut tx, v.vin.as_deref(), v.erp_id.as_deref()).await;
                let before = match found {
                    Ok(Some((id, _))) => crate::store::vehicle_in_tx(&mut tx, id).await?,
                    _ => None,
                };
                match crate::store::upsert_vehicle(&mut tx, v, now).await {
                    Ok(u) => {
                        // The cards of the leads holding a changed car are edited by the
                        // running service (it picks up the jobs this leaves).
                        if let (crate::store::Upserted::Updated(id), Some(b)) = (u, &before) {
                            if let Some(a) = crate::store::vehicle_in_tx(&mut tx, id).await? {
                                crate::staff::inventory::vehicle_changed(&templates, &mut tx, b, &a, "CSV", now)
                                    .await?;
                            }
                        }
                        tx.commit().await?;
                        match u {
                            crate::store::Upserted::Created(_) => created += 1,
                            crate::store::Upserted::Updated(_) => updated += 1,
                        }
                    }
                    Err(crate::store::StoreError::Conflict(e)) => {
                        errors.push((*line, format!("conflicts with another vehicle: {e}")));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            errors.sort();
            if !parsed.unknown_columns.is_empty() {
                println!("ignored unknown columns: {}", parsed.unknown_columns.join(", "));
            }
            for (line, w) in &parsed.warnings {
                println!("line {line}: warning: {w}");
            }
            for (line, e) in &errors {
                println!("line {line}: {e}");
            }
            println!("{created} vehicle(s) added, {updated} updated, {} row(s) refused", errors.len());
            if !errors.is_empty() {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Vehicles { command: cmd @ (VehiclesCommand::List { .. } | VehiclesCommand::Search { .. }) } => {
            let store = store(&config).await?;
            let (vehicles, json) = match cmd {
                VehiclesCommand::List { status, json } => {
                    let status = match status {
                        Some(s) => Some(crate::domain::vehicle::VehicleStatus::parse(&s).with_context(|| {
                            format!("--status: `{s}` is not one of available, reserved, sold, archived")
                        })?),
                        None => None,
                    };
                    (store.vehicles(status).await?, json)
                }
                VehiclesCommand::Search { query, json } => {
                    let search = crate::inventory::VehicleSearch::default();
                    (search.search(&store, &query, now, 20).await?, json)
                }
                VehiclesCommand::Import { .. } => unreachable!("matched above"),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&vehicles)?);
            } else {
                println!(
                    "{:>5}  {:<17}  {:<24}  {:>4}  {:>14}  {:<9}  erp",
                    "id", "vin", "vehicle", "year", "price", "status"
                );
                for v in vehicles {
                    let price = v
                        .price_minor
                        .map(|p| crate::domain::vehicle::format_price(p, v.currency.as_deref()))
                        .unwrap_or_default();
                    println!(
                        "{:>5}  {:<17}  {:<24}  {:>4}  {:>14}  {:<9}  {}{}",
                        v.id,
                        v.vin.as_deref().unwrap_or("—"),
                        format!("{} {}", v.make, v.model),
                        v.year.map(|y| y.to_string()).unwrap_or_default(),
                        price,
                        v.status.as_str(),
                        v.erp_id.as_deref().unwrap_or(""),
                        if v.vin_check_ok { "" } else { "  (VIN check digit does not match)" }
                    );
                }
            }
        }
        Command::Flows { command: FlowsCommand::Check { path, templates } } => {
            let dir = path.clone().or(config.flows.dir.clone()).unwrap_or_else(|| PathBuf::from("flows"));
            let templates = templates
                .or_else(|| path.as_ref().map(|p| p.parent().unwrap_or(std::path::Path::new(".")).join("templates")))
                .unwrap_or(config.flows.templates_dir.clone());
            let files = crate::flows::files::read_dir(&dir, &templates)
                .with_context(|| format!("reading {}", dir.display()))?
                .with_context(|| format!("{} is not a directory", dir.display()))?;
            // The call script beside the flows (or the built-in one).
            let (script_text, script_from) = crate::flows::script::read(Some(&dir))?;
            let script_ok = match crate::flows::script::parse(&script_text) {
                Ok(s) => {
                    println!(
                        "ok: the call script, version {}, {} criteria in {} stages ({script_from})",
                        s.version,
                        s.len(),
                        s.stages.len()
                    );
                    true
                }
                Err(problems) => {
                    for p in &problems {
                        println!("{script_from}: {p}");
                    }
                    false
                }
            };
            if !script_ok {
                println!("the call script does not pass; the service would not start with it");
                return Ok(ExitCode::from(1));
            }
            match crate::flows::check(&files) {
                Ok(c) => {
                    println!(
                        "ok: {} flows, {} files ({}; templates from {})",
                        c.set.flows.len(),
                        files.len(),
                        dir.display(),
                        templates.join("flows").display()
                    );
                    for (name, trigger) in c.outline() {
                        println!("  {name:<20} {trigger}");
                    }
                }
                Err(problems) => {
                    // Problems name files by their logical path; print where they are.
                    for p in &problems {
                        let real = match p.file.strip_prefix("flows/") {
                            Some(rest) => dir.join(rest),
                            None => templates.join(&p.file["templates/".len().min(p.file.len())..]),
                        };
                        let p = crate::flows::Problem { file: real.display().to_string(), ..p.clone() };
                        println!("{p}");
                    }
                    println!("{} problem(s); nothing would be activated", problems.len());
                    return Ok(ExitCode::from(1));
                }
            }
        }
        Command::Flows { command: FlowsCommand::List } => {
            let store = store(&config).await?;
            for (id, source, author, at, hash) in store.flow_versions(50).await? {
                let when = chrono::DateTime::from_timestamp_millis(at).map(|t| t.to_rfc3339()).unwrap_or_default();
                println!("{id:>4}  {when}  {source:<10} {:<20} {}", author.unwrap_or_default(), &hash[..12]);
            }
        }
        Command::Demo { .. } | Command::Bench(_) => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C, or SIGTERM (what `docker stop` and systemd send).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A database URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
