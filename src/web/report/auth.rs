//! Logging in to the reporting page without a password: `/report` mints a one-time link
//! (`staff::report`), `GET /login/<token>` checks it and shows one button, `POST` spends it
//! and opens a session cookie. Tokens and sessions are kept as SHA-256 hashes; every POST
//! carries a CSRF token derived from the session; tries at links are limited per address.
//!
//! Why a button and not a redirect on GET: Telegram's link previews and mail scanners open
//! links by themselves, and would spend a one-time link before its owner does.

use super::page::{self, Viewer};
use super::token::looks_like_token;
pub use super::token::{csrf_of, hash, new_token, session_token, COOKIE};
use crate::context::App;
use axum::extract::{ConnectInfo, Form, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use std::net::SocketAddr;
use std::sync::Arc;
use tracing::{info, warn};

/// How long a login link works.
pub const LINK_TTL_MS: i64 = 10 * 60 * 1000;
/// How long a session lasts.
pub const SESSION_TTL_MS: i64 = 12 * 60 * 60 * 1000;
/// Tries at login links one address may make per window.
const TRIES: u32 = 20;
const TRY_WINDOW_MS: i64 = 10 * 60 * 1000;

/// Mint a login link for a user: the hash is kept, the link returned to be sent.
pub async fn mint_link(app: &App, user: crate::domain::UserId) -> anyhow::Result<String> {
    let token = new_token()?;
    let now = app.clock.now_ms();
    app.store.insert_login(&hash(&token), user, now, now + LINK_TTL_MS).await?;
    let base = app.config.public_url.as_deref().unwrap_or("");
    Ok(format!("{base}/login/{token}"))
}

/// A try at a login link from `ip`: false once the address has used its tries.
fn may_try(app: &App, ip: std::net::IpAddr, now: i64) -> bool {
    let mut e = app.login_attempts.entry(ip).or_insert((now, 0));
    if now - e.0 > TRY_WINDOW_MS {
        *e = (now, 0);
    }
    e.1 += 1;
    e.1 <= TRIES
}

fn refused_link(app: &App) -> Response {
    page::plain(app, StatusCode::FORBIDDEN, "link_refused")
}

/// `GET /login/<token>`: a valid link shows its sign-in button; any other gets 403.
pub async fn login_page(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
) -> Response {
    let now = app.clock.now_ms();
    if !may_try(&app, peer.ip(), now) {
        warn!(ip = %peer.ip(), "login link refused: too many tries");
        return page::plain(&app, StatusCode::TOO_MANY_REQUESTS, "too_many_tries");
    }
    if !looks_like_token(&token) {
        return refused_link(&app);
    }
    match app.store.login_user(&hash(&token), now).await {
        Ok(Some(user)) => page::render(
            &app,
            StatusCode::OK,
            "web/login.html",
            minijinja::context! { name => user.name, csrf => csrf_of(&token) },
        ),
        Ok(None) => refused_link(&app),
        Err(e) => page::failed(&app, "checking a login link", &e),
    }
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /login/<token>`: spend the link, open a session, go to the dashboard.
pub async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    Form(form): Form<LoginForm>,
) -> Response {
    let now = app.clock.now_ms();
    if !may_try(&app, peer.ip(), now) {
        warn!(ip = %peer.ip(), "login refused: too many tries");
        return page::plain(&app, StatusCode::TOO_MANY_REQUESTS, "too_many_tries");
    }
    // The sign-in form's CSRF token is the link's own, hashed: only the page the link
    // showed can send it.
    if !looks_like_token(&token) || form.csrf != csrf_of(&token) {
        return refused_link(&app);
    }
    let user = match app.store.use_login(&hash(&token), now).await {
        Ok(Some(u)) => u,
        Ok(None) => return refused_link(&app),
        Err(e) => return page::failed(&app, "using a login link", &e),
    };
    let session = match new_token() {
        Ok(s) => s,
        Err(e) => return page::failed(&app, "making a session", &e),
    };
    if let Err(e) = app.store.insert_session(&hash(&session), user.id, now, now + SESSION_TTL_MS).await {
        return page::failed(&app, "opening a session", &e);
    }
    info!(user = user.id.0, role = %user.role, "signed in to the reports");
    let mut r = Redirect::to("/reports").into_response();
    let secure =
        if app.config.public_url.as_deref().is_some_and(|u| u.starts_with("https://")) { "; Secure" } else { "" };
    let cookie =
        format!("{COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}", SESSION_TTL_MS / 1000);
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `GET /logout`: a page with the sign-out button (a POST with its CSRF token).
pub async fn logout_page(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    match page::viewer(&app, &headers).await {
        Ok(v) => page::render(&app, StatusCode::OK, "web/logout.html", minijinja::context! { me => v.ctx() }),
        Err(r) => r,
    }
}

#[derive(serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`: end the session and clear the cookie.
pub async fn logout(State(app): State<Arc<App>>, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    let v: Viewer = match page::viewer(&app, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if form.csrf != v.csrf {
        return page::plain(&app, StatusCode::FORBIDDEN, "bad_csrf");
    }
    if let Err(e) = app.store.end_session(&v.session_hash, app.clock.now_ms()).await {
        return page::failed(&app, "ending a session", &e);
    }
    let mut r = page::plain(&app, StatusCode::OK, "logged_out");
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("forecourt_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    r
}
