//! What every report page shares: who is looking (the session's user and what they may
//! see), rendering a template into a response, and the plain pages for refusals.

use super::token as auth;
use crate::context::App;
use crate::domain::{LeadId, UserId};
use crate::store::UserRow;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use tracing::error;

/// The signed-in user.
pub struct Viewer {
    pub user: UserRow,
    pub csrf: String,
    pub session_hash: String,
}

impl Viewer {
    /// Supervisors, admins and analysts see everything; a manager their own leads.
    pub fn sees_all(&self) -> bool {
        self.user.role.sees_all_leads()
    }

    /// The owner every read is narrowed to, for a manager.
    pub fn only(&self) -> Option<UserId> {
        (!self.sees_all()).then_some(self.user.id)
    }

    /// Whether they may open a lead with this owner.
    pub fn may_see(&self, owner: Option<UserId>) -> bool {
        self.user.role.may_see_lead(self.user.id, owner)
    }

    /// The template's `me`.
    pub fn ctx(&self) -> minijinja::Value {
        minijinja::context! {
            name => self.user.name.clone(),
            role => self.user.role.as_str(),
            sees_all => self.sees_all(),
            csrf => self.csrf.clone(),
        }
    }
}

/// The session's user, or the response to give instead (401 with how to get a link).
pub async fn viewer(app: &App, headers: &HeaderMap) -> Result<Viewer, Response> {
    let Some(token) = auth::session_token(headers) else {
        return Err(plain(app, StatusCode::UNAUTHORIZED, "signed_out"));
    };
    let hash = auth::hash(&token);
    match app.store.session_user(&hash, app.clock.now_ms()).await {
        Ok(Some(user)) => Ok(Viewer { user, csrf: auth::csrf_of(&token), session_hash: hash }),
        Ok(None) => Err(plain(app, StatusCode::UNAUTHORIZED, "signed_out")),
        Err(e) => Err(failed(app, "reading a session", &e)),
    }
}

/// Render an HTML template. Pages are never cached and never framed.
pub fn render(app: &App, status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
    match app.templates.render(name, ctx) {
        Ok(html) => {
            let mut r = (status, Html(html)).into_response();
            let h = r.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; media-src 'self'; form-action 'self'",
                ),
            );
            h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
            r
        }
        Err(e) => {
            error!(error = %e, template = name, "a report page's template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be drawn").into_response()
        }
    }
}

/// A plain page saying one thing (`web/plain.html`'s `what`).
pub fn plain(app: &App, status: StatusCode, what: &str) -> Response {
    render(app, status, "web/plain.html", minijinja::context! { what => what, status => status.as_u16() })
}

/// A 500 with a plain body; the cause goes to the log.
pub fn failed(app: &App, doing: &str, e: &dyn std::fmt::Display) -> Response {
    error!(error = %e, "report page failed while {doing}");
    plain(app, StatusCode::INTERNAL_SERVER_ERROR, "failed")
}

/// A lead the viewer may open, or the refusal (404 unknown, 403 someone else's).
pub async fn lead_for(app: &App, v: &Viewer, id: i64) -> Result<crate::store::LeadHead, Response> {
    match app.store.lead_head(LeadId(id)).await {
        Ok(Some(h)) if v.may_see(h.owner) => Ok(h),
        Ok(Some(_)) => {
            tracing::warn!(user = v.user.id.0, lead = id, "report: a manager asked for another manager's lead");
            Err(plain(app, StatusCode::FORBIDDEN, "not_yours"))
        }
        Ok(None) => Err(plain(app, StatusCode::NOT_FOUND, "no_lead")),
        Err(e) => Err(failed(app, "reading a lead", &e)),
    }
}

/// Local date and time as the page shows it.
pub fn when(app: &App, ms: i64) -> String {
    app.local(ms).format("%Y-%m-%d %H:%M").to_string()
}

/// Seconds as `4 min`, `1 h 20 min`, `—` for none.
pub fn dur(secs: Option<i64>) -> String {
    secs.map(crate::domain::text::duration_short).unwrap_or_else(|| "—".into())
}
