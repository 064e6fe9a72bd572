//! The shared state every handler receives: the store, the configuration, the clock, the
//! templates, the bots and the other outward clients, the limiter, the media store, the
//! webhook inbox, the active flows, the vehicle search. It lives low in the house: it
//! imports the store, the domain and the clients, never a handler (ARCHITECTURE.md, "who may
//! import whom"). `app` builds it and starts the tasks.

use crate::channels::telegram::TelegramApi;
use crate::channels::viber::ViberApi;
use crate::channels::whatsapp::WhatsappApi;
use crate::clock::Clock;
use crate::config::Config;
use crate::jobs::limits::Limiter;
use crate::media::{Links, MediaStore};
use crate::store::Store;
use crate::templates::Templates;
use dashmap::DashMap;
use std::sync::Arc;
use tokio::sync::Notify;

/// A bot and its limiter slot.
#[derive(Clone, Debug)]
pub struct BotHandle {
    pub api: TelegramApi,
    /// Index into the limiter's per-bot budgets.
    pub slot: usize,
    /// The bot's Telegram user id, known after `getMe`.
    pub id: i64,
}

/// Everything the handlers and jobs share.
pub struct App {
    pub store: Store,
    pub config: Config,
    pub clock: Clock,
    pub templates: Templates,
    /// The bot customers write to.
    pub customer_bot: BotHandle,
    /// The bot in the staff groups (the same one unless a staff token is set).
    pub staff_bot: BotHandle,
    pub limiter: Limiter,
    /// Poked whenever jobs are enqueued, so workers start at once.
    pub wake: Arc<Notify>,
    /// Viber, when configured.
    pub viber: Option<ViberApi>,
    /// WhatsApp Cloud API, when configured.
    pub whatsapp: Option<WhatsappApi>,
    /// Kept files.
    pub media: MediaStore,
    /// Signed links to kept files.
    pub links: Links,
    /// Webhook ingest, batched into few transactions.
    pub inbox: crate::ingest::Inbox,
    /// Topic syncs waiting for Telegram's budget (see `ingest::TopicHolds`).
    pub topic_holds: crate::ingest::TopicHolds,
    /// Free-text vehicle search (`/car …`).
    pub vehicle_search: crate::inventory::VehicleSearch,
    /// The customer-facing bot's flows.
    pub flows: crate::flows::Flows,
    /// Failed tries of webhook updates, until one is set aside.
    pub update_tries: UpdateTries,
    /// Watches every long-running task.
    pub supervisor: crate::supervise::Supervisor,
    /// The key of the phone hash (callers are matched by it; numbers are never kept).
    pub phones: crate::domain::phone::PhoneKey,
    /// The HTTP client for downloads and the providers' APIs (recordings, call logs).
    pub http: reqwest::Client,
    /// The batching writers that store telephony webhooks (`calls::record_batch`).
    pub call_writer: crate::writer::Batcher<crate::domain::call::CallEvent, crate::domain::call::Recorded>,
    /// The call script supervisors review against (`flows/call_script.yaml`, or a higher
    /// version uploaded since).
    pub script: crate::flows::script::Scripts,
    /// Tries at the reporting page's login links, by address: (window start, count).
    pub login_attempts: dashmap::DashMap<std::net::IpAddr, (i64, u32)>,
    /// AI that advises, when `FORECOURT_AI_BASE_URL` is set.
    pub ai: Option<Arc<crate::ai::Ai>>,
}

impl App {
    pub fn same_bot(&self) -> bool {
        self.customer_bot.id == self.staff_bot.id
    }

    /// A display time in the dealership's time zone.
    pub fn local_time(&self, ms: i64, with_date: bool) -> String {
        use chrono::TimeZone;
        let Some(t) = self.config.timezone.timestamp_millis_opt(ms).single() else {
            return String::new();
        };
        if with_date {
            t.format("%d.%m %H:%M").to_string()
        } else {
            t.format("%H:%M").to_string()
        }
    }

    /// A due time as people say it: `today 10:00`, `tomorrow 10:00`, else `04.12 15:00`.
    pub fn local_when(&self, ms: i64) -> String {
        let (at, now) = (self.local(ms), self.local(self.clock.now_ms()));
        match (at.date() - now.date()).num_days() {
            0 => format!("today {}", at.format("%H:%M")),
            1 => format!("tomorrow {}", at.format("%H:%M")),
            _ => at.format("%d.%m %H:%M").to_string(),
        }
    }

    /// Wall-clock time in the dealership's time zone.
    pub fn local(&self, ms: i64) -> chrono::NaiveDateTime {
        crate::domain::worktime::local(self.config.timezone, ms)
    }

    /// The instant of a wall-clock time in the dealership's time zone.
    pub fn instant(&self, local: chrono::NaiveDateTime) -> i64 {
        crate::domain::worktime::instant(self.config.timezone, local)
    }

    /// `minutes` of business hours after `from`.
    pub fn business_after(&self, from: i64, minutes: u32) -> i64 {
        crate::domain::worktime::after(self.config.timezone, &self.config.flows.business_hours, from, minutes)
    }

    /// Business seconds from `from` to `to`.
    pub fn business_secs(&self, from: i64, to: i64) -> i64 {
        crate::domain::worktime::seconds_between(self.config.timezone, &self.config.flows.business_hours, from, to)
    }
}

/// Failed tries per (bot, update) of webhook updates, which arrive as new requests each
/// time, until one is set aside (`staff::aside`).
#[derive(Debug, Default)]
pub struct UpdateTries(DashMap<(i64, i64), u32>);

impl UpdateTries {
    /// Count a failed try; returns how many there were.
    pub fn failed(&self, bot: i64, update: i64) -> u32 {
        let mut n = self.0.entry((bot, update)).or_insert(0);
        *n += 1;
        *n
    }

    pub fn clear(&self, bot: i64, update: i64) {
        self.0.remove(&(bot, update));
    }
}
