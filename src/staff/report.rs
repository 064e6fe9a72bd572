//! `/report`: a sign-in link to the reporting page, sent to the asker privately. The link is
//! minted when the job sends it (`web::report::auth::mint_link`), so its token exists only in
//! the message: the database keeps its hash, the job row only who asked.

use crate::channels::telegram::url_button;
use crate::context::App;
use crate::domain::UserId;
use crate::jobs::{job::Job, Outcome};
use crate::store;
use std::sync::Arc;

/// Enqueue the link for the asker; the answer for the chat they asked in (`None` in a
/// private chat, where the link itself answers).
pub async fn asked(
    app: &App,
    tx: &mut store::Conn,
    user: &store::UserRow,
    chat: i64,
    now: i64,
) -> Result<Option<String>, store::StoreError> {
    let say = |what: &str| app.templates.render("staff/report.txt", minijinja::context! { what }).unwrap_or_default();
    if app.config.public_url.is_none() {
        return Ok(Some(say("no_url")));
    }
    let job = Job::LoginLink { user: user.id, telegram_id: user.telegram_id.0 }.into_new(
        format!("private:{}", user.telegram_id.0),
        None,
        now,
    );
    store::jobs_enqueue(tx, &job, now).await?;
    Ok((chat != user.telegram_id.0).then(|| say("sent")))
}

/// The job: mint a link and send it.
pub async fn send_link(app: &Arc<App>, user: UserId, telegram_id: i64) -> anyhow::Result<Outcome> {
    let Some(u) = app.store.user_by_id(user).await? else { return Ok(Outcome::Done) };
    if !u.active {
        return Ok(Outcome::Done);
    }
    let link = crate::web::report::auth::mint_link(app, user).await?;
    let text = app.templates.render(
        "staff/report.txt",
        minijinja::context! { what => "link", link => link.clone(), name => u.first_name(), minutes => 10 },
    )?;
    // Telegram refuses link buttons to plain-http or local addresses; the link is in the text.
    let keyboard = link
        .starts_with("https://")
        .then(|| vec![vec![(app.templates.label("button", "open_report", "📊 Open the reports"), url_button(&link))]]);
    super::replies::staff_reply(app, (telegram_id, None), Some(text), keyboard, None, None).await
}
