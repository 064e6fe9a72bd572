//! The reporting page: the dashboard (`/reports`), the lead list and its CSV
//! (`/reports/leads`), a lead's page and its timeline's CSV (`/reports/leads/<id>`), and the
//! password-less login (`auth`). Server-rendered (templates/web/), charts drawn as SVG here,
//! no scripts, nothing loaded from elsewhere. Every number links to the leads behind it:
//! the dashboard's links are lead-list queries ([`Query`]).

pub mod auth;
mod dashboard;
mod leads;
mod page;
mod svg;
mod token;

use crate::context::App;
use crate::domain::report::{Days, Span};
use crate::domain::{Stage, UserId};
use crate::store::LeadFilter;
use axum::response::Redirect;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/reports") }))
        .route("/login/{token}", get(auth::login_page).post(auth::login))
        .route("/logout", get(auth::logout_page).post(auth::logout))
        .route("/reports", get(dashboard::dashboard))
        .route("/reports/leads", get(leads::list))
        .route("/reports/leads.csv", get(leads::list_csv))
        .route("/reports/leads/{id}", get(leads::lead))
        .route("/reports/leads/{id}/timeline.csv", get(leads::timeline_csv))
}

/// The query of the dashboard and the lead list. The period (`period`, `from`, `to`) narrows
/// the list by `by`: when leads were created (the default), sold, or had a missed call.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct Query {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reached: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stuck: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responded: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
}

fn given(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The lead channels a filter accepts.
pub const LEAD_CHANNELS: [&str; 6] = ["viber", "whatsapp", "telegram", "call", "web", "email"];

impl Query {
    /// This query's string (for links and the CSV), without `page`.
    pub fn qs(&self) -> String {
        let mut q = self.clone();
        q.page = None;
        serde_urlencoded(&q)
    }

    /// A copy with changes, as a lead-list link.
    pub fn link(&self, change: impl FnOnce(&mut Query)) -> String {
        let mut q =
            Query { period: self.period.clone(), from: self.from.clone(), to: self.to.clone(), ..Query::default() };
        change(&mut q);
        format!("/reports/leads?{}", q.qs())
    }

    /// The period, when one was asked for (`None` for the list's "all time").
    pub fn span(&self) -> Result<Option<Span>, String> {
        if given(&self.period).is_none() {
            return Ok(None);
        }
        Span::parse(given(&self.period), given(&self.from), given(&self.to)).map(Some)
    }

    /// The store's filter, for a viewer narrowed to `only`; an unreadable value says why.
    pub fn filter(&self, app: &App, only: Option<UserId>) -> Result<LeadFilter, String> {
        let mut f = LeadFilter { only, ..LeadFilter::default() };
        if let Some(span) = self.span()? {
            let r = range(app, span.days(today(app)));
            match given(&self.by).unwrap_or("created") {
                "created" => f.created = Some(r),
                "sold" => f.sold = Some(r),
                "missed" => f.missed = Some(r),
                other => return Err(format!("`{other}` is not a way to read the period (created, sold, missed)")),
            }
        } else if given(&self.by).is_some_and(|b| b != "created") {
            return Err("choose a period for sold or missed leads".into());
        }
        if let Some(s) = given(&self.stage) {
            f.stage = Some(Stage::parse(s).ok_or(format!("`{s}` is not a stage"))?);
        }
        match given(&self.owner) {
            None => {}
            Some("none") => f.unowned = true,
            Some(o) => f.owner = Some(UserId(o.parse().map_err(|_| format!("`{o}` is not a person's number"))?)),
        }
        if let Some(c) = given(&self.channel) {
            if !LEAD_CHANNELS.contains(&c) {
                return Err(format!("`{c}` is not a channel"));
            }
            f.channel = Some(c.to_string());
        }
        f.name = given(&self.name).map(|n| n.chars().take(100).collect());
        if let Some(s) = given(&self.reached) {
            f.reached =
                Some(Stage::parse(s).filter(|s| s.rank().is_some()).ok_or(format!("`{s}` is not a pipeline stage"))?);
        }
        if let Some(r) = self.lost_reason.as_deref() {
            f.lost_reason = Some(r.trim().to_string());
        }
        if given(&self.stuck) == Some("1") {
            let now = app.clock.now_ms();
            let cfg = &app.config;
            f.stuck = Some(
                Stage::ALL
                    .into_iter()
                    .filter_map(|s| {
                        crate::domain::report::stuck_before(s, now, &cfg.assignment.stale_days, cfg.reports.stuck_days)
                            .map(|b| (s, b))
                    })
                    .collect(),
            );
        }
        f.responded = match given(&self.responded) {
            None => None,
            Some("1") => Some(true),
            Some("0") => Some(false),
            Some(o) => return Err(format!("`{o}` is not 0 or 1")),
        };
        f.pool = self.pool.as_deref().map(|p| p.trim().to_string());
        f.utm = self.utm.as_deref().map(|p| p.trim().to_string());
        Ok(f)
    }
}

fn serde_urlencoded(q: &Query) -> String {
    let v = serde_json::to_value(q).unwrap_or_default();
    let mut ser = form_urlencoded::Serializer::new(String::new());
    if let Some(m) = v.as_object() {
        for (k, v) in m {
            if let Some(s) = v.as_str() {
                ser.append_pair(k, s);
            }
        }
    }
    ser.finish()
}

/// The lead channels in the charts' order: key, name, colour.
pub fn svg_channels() -> &'static [(&'static str, &'static str, &'static str); 6] {
    &svg::CHANNELS
}

/// Today's local date.
pub fn today(app: &App) -> chrono::NaiveDate {
    app.local(app.clock.now_ms()).date()
}

/// A run of local days as instants `[from, to)`.
pub fn range(app: &App, days: Days) -> (i64, i64) {
    let at = |d: chrono::NaiveDate| app.instant(d.and_hms_opt(0, 0, 0).expect("midnight exists"));
    (at(days.first), at(days.end))
}
