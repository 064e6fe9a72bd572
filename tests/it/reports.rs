//! The reporting page (issue 14) over HTTP: `/report` sends a one-time sign-in link
//! privately, the link opens a session, the dashboard's figures match a hand-made dataset on
//! both engines, numbers drill down to their leads, a manager sees only their own leads, and
//! the CSV exports carry a byte-order mark and Cyrillic intact.

use crate::harness::*;
use forecourt::domain::Role;
use forecourt::sandbox::telegram::FakeUser;
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::redirect::Policy;
use std::time::Duration;

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

/// The sign-in link in the bot's latest private message to `who`.
async fn link_for(t: &TestApp, who: &FakeUser, before: usize) -> String {
    t.until("a sign-in link arrives privately", |f| f.bot_messages_to(who.id).len() > before).await;
    let m = t.fake.bot_messages_to(who.id).pop().unwrap();
    let text = m.content.text_or_caption().unwrap_or_default().to_string();
    let at = text.find("/login/").unwrap_or_else(|| panic!("no link in {text}"));
    let start = text[..at].rfind("http").unwrap();
    text[start..at + 7 + 64].to_string()
}

/// Open the private chat with the bot, send `command`, and return the link that comes.
pub async fn sign_in_url(t: &TestApp, who: &FakeUser, command: &str) -> String {
    let before = t.fake.bot_messages_to(who.id).len();
    t.fake.customer_writes(who, command);
    link_for(t, who, before).await
}

/// Sign in with a link: the page's button, then its POST; the session cookie.
pub async fn sign_in(link: &str) -> String {
    let http = client();
    let page = http.get(link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let csrf = between(&html, "name=\"csrf\" value=\"", "\"");
    let r = http
        .post(link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "signed in and sent to the dashboard");
    assert_eq!(r.headers()["location"], "/reports");
    let cookie = r.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Max-Age=43200"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain http here: the browser would drop a Secure cookie");
    cookie.split(';').next().unwrap().to_string()
}

pub fn between(s: &str, a: &str, b: &str) -> String {
    let i = s.find(a).unwrap_or_else(|| panic!("`{a}` not in the page")) + a.len();
    let j = s[i..].find(b).unwrap() + i;
    s[i..j].to_string()
}

async fn get(t: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let r = client().get(format!("{}{path}", t.http())).header(COOKIE, cookie).send().await.unwrap();
    // minijinja writes `/` in attributes as `&#x2f;`; a browser reads it back, so do we.
    (r.status().as_u16(), r.text().await.unwrap().replace("&#x2f;", "/"))
}

/// A figure on the dashboard, by its element id.
fn figure(html: &str, id: &str) -> String {
    let tag = between(html, &format!("id=\"{id}\""), "</a>");
    tag[tag.find('>').unwrap() + 1..].trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_signs_in_by_a_one_time_link_and_a_manager_sees_only_their_leads() {
    let t = TestApp::start_with(Opts { channels: true, ..Opts::default() }).await;
    let sofia = t.staff(9501, "Sofia Lysenko", Role::Supervisor).await;
    let max = t.staff(9502, "Max Petrenko", Role::Manager).await;
    let ivan = t.staff(9503, "Ivan Koval", Role::Manager).await;
    let olena = t.customer(7501, "Олена", Some("Шевченко"));
    t.fake.customer_writes(&olena, "Добрий день, чи є RAV4?");
    let (chat, thread, _) = t.topic_of(&olena).await;
    t.fake.staff_writes(chat, Some(thread), &max, "Так, є дві.");
    eventually("Max owns Olena's lead", || async { t.lead_of(&olena).await.owner.map(|_| ()) }).await;
    let petro = t.customer(7502, "Petro", None);
    t.fake.customer_writes(&petro, "Hello");
    let (pchat, pthread, _) = t.topic_of(&petro).await;
    t.fake.staff_writes(pchat, Some(pthread), &ivan, "Hi Petro!");
    eventually("Ivan owns Petro's lead", || async { t.lead_of(&petro).await.owner.map(|_| ()) }).await;
    let olena_lead = t.lead_of(&olena).await.id.0;
    let petro_lead = t.lead_of(&petro).await.id.0;

    // Nobody signed in: told how to get a link.
    let (status, html) = get(&t, "", "/reports").await;
    assert_eq!(status, 401);
    assert!(html.contains("/report"), "{html}");

    // /report in the staff group: a word there, the link privately (Telegram lets a bot
    // write to someone who has started a private chat with it).
    t.fake.customer_writes(&sofia, "/start");
    t.until("Sofia's private chat is open", |f| !f.bot_messages_to(sofia.id).is_empty()).await;
    let greeted = t.fake.bot_messages_to(sofia.id).len();
    t.fake.staff_writes(chat, None, &sofia, "/report");
    t.until("the group hears where the link went", |f| {
        f.messages(chat)
            .iter()
            .any(|x| x.content.text_or_caption().is_some_and(|x| x.contains("sent you a sign-in link privately")))
    })
    .await;
    let link = link_for(&t, &sofia, greeted).await;
    assert!(link.starts_with(&t.http()), "{link}");
    // Only the token's hash is kept.
    let token = link.rsplit('/').next().unwrap();
    let kept: Vec<String> =
        sqlx::query_scalar("SELECT token_hash FROM web_logins").fetch_all(t.store.pool()).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_ne!(kept[0], token);
    let jobs: Vec<String> = sqlx::query_scalar("SELECT payload FROM jobs").fetch_all(t.store.pool()).await.unwrap();
    assert!(jobs.iter().all(|p| !p.contains(token)), "the token is in no job row");

    // A forged sign-in (no CSRF token) is refused and spends nothing.
    let forged = client()
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let cookie = sign_in(&link).await;
    // Used once: refused after.
    let again = client().get(&link).send().await.unwrap();
    assert_eq!(again.status(), 403);
    assert!(again.text().await.unwrap().contains("used already, has expired"));
    let sessions: Vec<String> =
        sqlx::query_scalar("SELECT token_hash FROM web_sessions").fetch_all(t.store.pool()).await.unwrap();
    assert!(!sessions.iter().any(|h| cookie.ends_with(h.as_str())), "the session is kept hashed");

    let (status, html) = get(&t, &cookie, "/reports?period=today").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Sofia Lysenko · supervisor"));
    assert_eq!(figure(&html, "fig-new"), "2");
    assert!(html.contains("<svg class=\"chart\""), "the chart is drawn on the server");
    // The number opens the leads behind it.
    let href = between(&html, "id=\"fig-new\" href=\"", "\"").replace("&#x2f;", "/").replace("&amp;", "&");
    let (status, list) = get(&t, &cookie, &href).await;
    assert_eq!(status, 200);
    assert!(
        list.contains(&format!("/reports/leads/{olena_lead}"))
            && list.contains(&format!("/reports/leads/{petro_lead}"))
    );
    let (status, page) = get(&t, &cookie, &format!("/reports/leads/{olena_lead}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("Добрий день, чи є RAV4?") && page.contains("Так, є дві."), "both sides of the chat");
    assert!(page.contains("https://t.me/c/"), "the topic's link");
    // The CSV exports: a byte-order mark, Cyrillic intact.
    let csv = client().get(format!("{}/reports/leads.csv", t.http())).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let bytes = csv.bytes().await.unwrap();
    assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "UTF-8 byte-order mark");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert!(text.starts_with("lead,customer,channel"), "{text}");
    assert!(text.contains("Олена Шевченко"), "{text}");
    assert_eq!(text.lines().count(), 3, "a header and two leads");
    let tl = client()
        .get(format!("{}/reports/leads/{olena_lead}/timeline.csv", t.http()))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(tl.starts_with(&[0xEF, 0xBB, 0xBF]));
    assert!(String::from_utf8_lossy(&tl).contains("Добрий день, чи є RAV4?"));
    // Bad filters say why.
    let (status, html) = get(&t, &cookie, "/reports/leads?stage=flying").await;
    assert_eq!(status, 400);
    assert!(html.contains("`flying` is not a stage"));

    // A manager asks in the private chat: their own leads only.
    let before = t.fake.bot_messages_to(max.id).len();
    t.fake.customer_writes(&max, "/report");
    let max_cookie = sign_in(&link_for(&t, &max, before).await).await;
    let (status, _) = get(&t, &max_cookie, &format!("/reports/leads/{olena_lead}")).await;
    assert_eq!(status, 200);
    let (status, html) = get(&t, &max_cookie, &format!("/reports/leads/{petro_lead}")).await;
    assert_eq!(status, 403, "another manager's lead");
    assert!(html.contains("another manager"));
    let (_, csv) = get(&t, &max_cookie, &format!("/reports/leads/{petro_lead}/timeline.csv")).await;
    assert!(!csv.contains("Hello"), "nor its timeline");
    let (_, html) = get(&t, &max_cookie, "/reports?period=today").await;
    assert_eq!(figure(&html, "fig-new"), "1", "his own figures");
    assert!(html.contains("My figures"));
    let (_, list) = get(&t, &max_cookie, "/reports/leads").await;
    assert!(!list.contains(&format!("/reports/leads/{petro_lead}\"")));

    // Signing out needs the page's CSRF token, then the session is over.
    let r = client()
        .post(format!("{}/logout", t.http()))
        .header(COOKIE, &max_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}", "nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (_, html) = get(&t, &max_cookie, "/logout").await;
    let csrf = between(&html, "name=\"csrf\" value=\"", "\"");
    let r = client()
        .post(format!("{}/logout", t.http()))
        .header(COOKIE, &max_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(get(&t, &max_cookie, "/reports").await.0, 401);

    // A link left for more than ten minutes is refused.
    let before = t.fake.bot_messages_to(sofia.id).len();
    t.fake.customer_writes(&sofia, "/report");
    let late = link_for(&t, &sofia, before).await;
    t.clock.advance(Duration::from_secs(11 * 60));
    assert_eq!(client().get(&late).send().await.unwrap().status(), 403);

    // Tries at links are limited per address: after 20 in ten minutes, 429 — even for a
    // good link — until the window passes.
    let before = t.fake.bot_messages_to(sofia.id).len();
    t.fake.customer_writes(&sofia, "/report");
    let good = link_for(&t, &sofia, before).await;
    let mut statuses = Vec::new();
    for i in 0..20 {
        let bogus = format!("{}/login/{}", t.http(), format!("{i:02}").repeat(32));
        statuses.push(client().get(&bogus).send().await.unwrap().status().as_u16());
    }
    assert!(statuses.iter().all(|s| *s == 403 || *s == 429), "{statuses:?}");
    assert_eq!(client().get(&good).send().await.unwrap().status(), 429, "the address used its tries");
    t.clock.advance(Duration::from_secs(11 * 60));
    let before = t.fake.bot_messages_to(sofia.id).len();
    t.fake.customer_writes(&sofia, "/report");
    let fresh = link_for(&t, &sofia, before).await;
    assert_eq!(client().get(&fresh).send().await.unwrap().status(), 200, "a new window");
}

/// Insert a hand-made week: five new leads (one the week before), their stage history, a
/// missed call waiting for its callback. The answers were worked out by hand.
async fn hand_made_week(t: &TestApp) -> (i64, i64) {
    let max = t.staff(9601, "Max Petrenko", Role::Manager).await;
    let sofia = t.staff(9602, "Sofia Lysenko", Role::Manager).await;
    let id_of = |telegram: i64| async move {
        sqlx::query_scalar::<_, i64>("SELECT id FROM users WHERE telegram_id = $1")
            .bind(telegram)
            .fetch_one(t.store.pool())
            .await
            .unwrap()
    };
    let (max_id, sofia_id) = (id_of(max.id).await, id_of(sofia.id).await);
    let tz = t.config.timezone;
    let at = |s: &str| {
        forecourt::domain::worktime::instant(tz, chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap())
    };
    let pool = t.store.pool();
    // (lead, channel, owner, stage, lost reason, first response secs, created)
    type Lead<'a> = (i64, &'a str, Option<i64>, &'a str, Option<&'a str>, Option<i64>, &'a str);
    let leads: [Lead; 6] = [
        (1, "viber", Some(max_id), "sold", None, Some(60), "2026-11-03 10:00"),
        (2, "viber", Some(max_id), "lost", Some("price"), Some(300), "2026-11-03 11:00"),
        (3, "whatsapp", Some(sofia_id), "qualified", None, Some(900), "2026-11-04 09:30"),
        (4, "telegram", Some(sofia_id), "new", None, None, "2026-11-06 18:00"),
        (5, "call", None, "contacted", None, Some(1200), "2026-11-08 23:30"),
        (6, "viber", Some(max_id), "new", None, Some(600), "2026-10-28 12:00"),
    ];
    for (id, channel, owner, stage, reason, fr, created) in leads {
        let c = at(created);
        sqlx::query("INSERT INTO customers (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)")
            .bind(1000 + id)
            .bind(format!("Customer {id}"))
            .bind(c)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO leads (id, customer_id, owner_id, source_channel, last_channel, stage, is_open, lost_reason,
             first_response_secs, first_response_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9, $10, $10)",
        )
        .bind(1000 + id)
        .bind(1000 + id)
        .bind(owner)
        .bind(channel)
        .bind(stage)
        .bind(i64::from(!matches!(stage, "sold" | "lost")))
        .bind(reason)
        .bind(fr)
        .bind(fr.map(|s| c + s * 1000))
        .bind(c)
        .execute(pool)
        .await
        .unwrap();
    }
    for (lead, from, to, when) in [
        (1, "new", "contacted", "2026-11-03 10:01"),
        (1, "contacted", "qualified", "2026-11-04 10:00"),
        (1, "qualified", "sold", "2026-11-05 15:00"),
        (2, "new", "contacted", "2026-11-03 11:05"),
        (2, "contacted", "lost", "2026-11-04 12:00"),
        (3, "new", "contacted", "2026-11-04 09:45"),
        (3, "contacted", "qualified", "2026-11-05 09:45"),
        (5, "new", "contacted", "2026-11-08 23:50"),
        // Sold in the week before: counts there, not here.
        (6, "new", "sold", "2026-10-30 12:00"),
    ] {
        sqlx::query(
            "INSERT INTO lead_history (lead_id, field, from_value, to_value, at) VALUES ($1, 'stage', $2, $3, $4)",
        )
        .bind(1000 + lead)
        .bind(from)
        .bind(to)
        .bind(at(when))
        .execute(pool)
        .await
        .unwrap();
    }
    let called = at("2026-11-07 12:00");
    sqlx::query(
        "INSERT INTO calls (id, provider, external_id, lead_id, direction, disposition, missed, started_at, created_at, updated_at)
         VALUES (900, 'ringostat', 'hand-1', 1005, 'inbound', 'no_answer', 1, $1, $1, $1)",
    )
    .bind(called)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO tasks (lead_id, kind, call_id, title, due_at, state, created_at, updated_at)
         VALUES (1005, 'callback', 900, 'Call back', $1, 'open', $1, $1)",
    )
    .bind(called + 600_000)
    .execute(pool)
    .await
    .unwrap();
    (max_id, sofia_id)
}

async fn figures_match_the_hand_made_week(db: Db) {
    let t = TestApp::start_with(Opts { db, ..Opts::default() }).await;
    let (max_id, _) = hand_made_week(&t).await;
    let boss = t.staff(9603, "Olha Boss", Role::Supervisor).await;
    t.fake.customer_writes(&boss, "/report");
    let cookie = sign_in(&link_for(&t, &boss, 0).await).await;
    let week = "/reports?period=custom&from=2026-11-02&to=2026-11-08";
    let (status, html) = get(&t, &cookie, week).await;
    assert_eq!(status, 200, "{html}");
    // Five new leads (lead 5 at 23:30 local on the last day counts; lead 6 is the week before).
    assert_eq!(figure(&html, "fig-new"), "5");
    // First responses 60, 300, 900, 1200 s: nearest rank p50 = 2nd = 300 s, p90 = 4th.
    assert_eq!(figure(&html, "fig-p50"), "5 min");
    assert_eq!(figure(&html, "fig-p90"), "20 min");
    assert_eq!(figure(&html, "fig-missed"), "1");
    assert_eq!(figure(&html, "fig-sold"), "1");
    assert_eq!(figure(&html, "fig-conversion"), "20.0%");
    // Against the week before: 1 new lead → +400%; 1 sold → no change.
    assert!(html.contains("+400%"), "{html}");
    // The funnel: sold 1, lost-after-contacted 2 counts as contacted, qualified 3, new 4,
    // contacted 5 → reached 5, 4, 2, 1, 1, 1.
    for (stage, n) in
        [("new", 5), ("contacted", 4), ("qualified", 2), ("in_negotiation", 1), ("prepayment", 1), ("sold", 1)]
    {
        assert_eq!(figure(&html, &format!("reached-{stage}")), n.to_string(), "{stage}");
    }
    assert!(html.contains("lost_reason=price"), "lost by reason");
    // Each number opens its leads.
    for (id, expect) in [("fig-new", 5), ("fig-sold", 1), ("fig-missed", 1), ("reached-qualified", 2)] {
        let href = between(&html, &format!("id=\"{id}\" href=\""), "\"").replace("&#x2f;", "/").replace("&amp;", "&");
        let (status, list) = get(&t, &cookie, &href).await;
        assert_eq!(status, 200, "{href}: {list}");
        assert!(list.contains(&format!("<span class=\"muted\">({expect})</span>")), "{id} → {href}: {list}");
    }
    // Max's row: two leads, one sold, 50% conversion.
    let row = between(&html, "<th scope=\"row\">Max Petrenko</th>", "</tr>");
    assert!(row.contains(&format!("owner={max_id}")) && row.contains(">2</a>") && row.contains("50.0%"), "{row}");
}

on_both_engines!(
    figures_match_a_hand_made_week_on_sqlite,
    figures_match_a_hand_made_week_on_postgres,
    figures_match_the_hand_made_week
);

fn is_photo(m: &forecourt::sandbox::telegram::ChatMessage) -> bool {
    matches!(m.content, forecourt::sandbox::telegram::Content::Photo { .. })
}

fn says(m: &forecourt::sandbox::telegram::ChatMessage, what: &str) -> bool {
    m.content.text_or_caption().is_some_and(|t| t.contains(what))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_digest_reaches_every_supervisor_with_its_chart_once_across_a_restart() {
    let mut t = TestApp::start_with(Opts { speed: 1.0, ..Opts::default() }).await;
    // Due two minutes from now; the clock is moved past it once the lead is in.
    let due = t.app().local(t.clock.now_ms()) + chrono::Duration::minutes(2);
    t.config.reports.daily_at = forecourt::domain::digest::At::daily(&due.format("%H:%M").to_string()).ok();
    t.config.reports.weekly_at = None;
    let sofia = t.staff(9801, "Sofia Lysenko", Role::Supervisor).await;
    let olha = t.staff(9802, "Olha Bondar", Role::Supervisor).await;
    let max = t.staff(9803, "Max Petrenko", Role::Manager).await;
    for who in [&sofia, &olha, &max] {
        t.fake.customer_writes(who, "/start");
        t.until("their private chat is open", |f| !f.bot_messages_to(who.id).is_empty()).await;
    }
    let olena = t.customer(7801, "Олена", None);
    t.fake.customer_writes(&olena, "Добрий день");
    t.topic_of(&olena).await;
    t.clock.advance(std::time::Duration::from_secs(180));
    t.restart().await;
    for who in [&sofia, &olha] {
        t.until("the chart arrives", |f| f.bot_messages_to(who.id).iter().any(is_photo)).await;
        t.until("the figures arrive", |f| f.bot_messages_to(who.id).iter().any(|m| says(m, "Daily digest ·"))).await;
    }
    let text = t.fake.bot_messages_to(sofia.id).into_iter().find(|m| says(m, "Daily digest ·")).unwrap();
    let text = text.content.text_or_caption().unwrap().to_string();
    assert!(text.contains("New leads: 1 (before: 0)"), "{text}");
    assert!(text.contains("Missed calls not called back: 0"), "{text}");
    assert!(text.contains("/reports?period=custom"), "the page's link: {text}");
    let photo = t.fake.bot_messages_to(sofia.id).into_iter().find(is_photo).unwrap();
    let forecourt::sandbox::telegram::Content::Photo { file_id, .. } = &photo.content else { unreachable!() };
    let png = t.fake.file_bytes(file_id).expect("the chart's bytes");
    assert!(png.starts_with(b"\x89PNG"), "a PNG chart");
    // Managers get none.
    assert!(!t.fake.bot_messages_to(max.id).iter().any(is_photo));

    // Restarted: the timer runs again and finds the period claimed.
    let restarted = t.clock.now_ms();
    t.restart().await;
    eventually("the digest timer has run since the restart", || async {
        let at: i64 = sqlx::query_scalar("SELECT run_at FROM jobs WHERE kind = 'digest_timers'")
            .fetch_one(t.store.pool())
            .await
            .unwrap();
        (at > restarted + 30_000).then_some(())
    })
    .await;
    t.settled().await;
    for who in [&sofia, &olha] {
        assert_eq!(t.fake.bot_messages_to(who.id).iter().filter(|m| is_photo(m)).count(), 1, "once per period");
    }
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM digests").fetch_one(t.store.pool()).await.unwrap();
    assert_eq!(rows, 1);
}

/// A version before `digests_since` sent digests; this one is installed over it after the
/// service was down over a digest time: that digest goes out late, as it would have before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgraded_installation_down_over_a_digest_time_sends_it_late() {
    let mut t = TestApp::start_with(Opts { speed: 1.0, ..Opts::default() }).await;
    let sofia = t.staff(9821, "Sofia Lysenko", Role::Supervisor).await;
    t.fake.customer_writes(&sofia, "/start");
    t.until("Sofia's private chat is open", |f| !f.bot_messages_to(sofia.id).is_empty()).await;
    let now = t.clock.now_ms();
    // Today's digest fell due an hour ago, while it was down.
    let due = t.app().local(now) - chrono::Duration::hours(1);
    t.crash();
    // As the earlier version left the database: a digest claimed yesterday, no key.
    sqlx::query("DELETE FROM kv WHERE key = 'digests_since'").execute(t.store.pool()).await.unwrap();
    sqlx::query(
        "INSERT INTO digests (period_key, kind, due_at, recipients, created_at) VALUES ('daily:earlier', 'daily', $1, 1, $1)",
    )
    .bind(now - 86_400_000)
    .execute(t.store.pool())
    .await
    .unwrap();
    t.config.reports.daily_at = forecourt::domain::digest::At::daily(&due.format("%H:%M").to_string()).ok();
    t.config.reports.weekly_at = None;
    t.start_again().await;
    t.until("the late digest arrives", |f| f.bot_messages_to(sofia.id).iter().any(|m| says(m, "Daily digest ·"))).await;
    let since: String =
        sqlx::query_scalar("SELECT value FROM kv WHERE key = 'digests_since'").fetch_one(t.store.pool()).await.unwrap();
    assert_eq!(since, (now - 86_400_000).to_string(), "counted from its first digest");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forecourt_digest_send_sends_one_now_from_the_command_line() {
    let t = TestApp::start().await;
    let sofia = t.staff(9811, "Sofia Lysenko", Role::Supervisor).await;
    t.fake.customer_writes(&sofia, "/start");
    t.until("Sofia's private chat is open", |f| !f.bot_messages_to(sofia.id).is_empty()).await;
    let env = [
        ("FORECOURT_TELEGRAM_TOKEN", TOKEN.to_string()),
        ("FORECOURT_TELEGRAM_API_URL", t.fake.url()),
        ("FORECOURT_STAFF_CHAT_ID", STAFF.to_string()),
        ("DATABASE_URL", t.config.database_url.clone()),
    ];
    let run = |args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_forecourt"));
        c.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in &env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let o = tokio::task::block_in_place(|| run(&["digest", "send", "--daily"]));
    let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{out}");
    assert!(out.contains("sent the daily digest to 1 chat(s): 9811"), "{out}");
    t.until("the chart and the figures", |f| {
        let m = f.bot_messages_to(sofia.id);
        m.iter().any(is_photo) && m.iter().any(|m| says(m, "Daily digest ·"))
    })
    .await;
    let o = tokio::task::block_in_place(|| run(&["digest", "send", "--weekly", "--to", "9811"]));
    assert!(o.status.success());
    t.until("the weekly one", |f| f.bot_messages_to(sofia.id).iter().any(|m| says(m, "Weekly digest ·"))).await;
    let o = tokio::task::block_in_place(|| run(&["digest", "send"]));
    assert!(!o.status.success(), "--daily or --weekly is required");
}
