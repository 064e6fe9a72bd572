//! The bot's conversation flows, driven through the fake messengers: a new customer
//! greeted, qualified by button and by typed text and handed off on each messenger, the
//! answers on the card, after hours, keywords, no staff reply yet, staff replies ending the
//! bot's turn, opt-out, the card's automation switch, follow-up timers on a moved clock,
//! and flow files changed on disk (a good change taken, a broken one refused).

use crate::harness::*;
use forecourt::domain::Role;
use forecourt::sandbox::telegram::ChatMessage;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Always open (the after-hours stories set their own hours).
const OPEN: &str = "Mon-Sun 00:00-24:00";

/// A copy of the repository's flows and flow templates in a temporary directory, so a
/// story can change them. `extra` adds files (logical path, content).
pub fn flow_files(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (path, src) in forecourt::flows::files::read_dir(&root.join("flows"), &root.join("templates")).unwrap().unwrap()
    {
        write(dir.path(), &path, &src);
    }
    for (path, src) in extra {
        write(dir.path(), path, src);
    }
    dir
}

fn write(root: &Path, logical: &str, src: &str) {
    let p = root.join(logical);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, src).unwrap();
}

async fn start_with_flows(dir: &Path, hours: &'static str, channels: bool) -> TestApp {
    start_on(Db::Sqlite, dir, hours, channels).await
}

async fn start_on(db: Db, dir: &Path, hours: &'static str, channels: bool) -> TestApp {
    TestApp::start_with(Opts {
        db,
        flows: Some(PathBuf::from(dir)),
        business_hours: Some(hours),
        channels,
        ..Opts::default()
    })
    .await
}

fn text(m: &ChatMessage) -> String {
    m.content.text_or_caption().unwrap_or("").to_string()
}

fn labels(m: &ChatMessage) -> Vec<String> {
    buttons(m).into_iter().map(|(label, _)| label).collect()
}

/// Wait until the bot has sent `n` messages to a Telegram customer; returns them all.
async fn bot_said(app: &TestApp, customer: i64, n: usize) -> Vec<ChatMessage> {
    app.until(&format!("{n} bot messages to {customer}"), |f| f.bot_messages_to(customer).len() >= n).await;
    app.fake.bot_messages_to(customer)
}

/// A weekday name that is not today in Kyiv: hours only on that day are closed now.
fn closed_today() -> &'static str {
    use chrono::{Datelike, TimeZone};
    let now = chrono_tz::Europe::Kyiv.timestamp_millis_opt(chrono::Utc::now().timestamp_millis()).unwrap();
    [
        "Tue 09:00-19:00",
        "Wed 09:00-19:00",
        "Thu 09:00-19:00",
        "Fri 09:00-19:00",
        "Sat 09:00-19:00",
        "Sun 09:00-19:00",
        "Mon 09:00-19:00",
    ][now.weekday().num_days_from_monday() as usize]
}

on_both_engines!(
    a_new_telegram_customer_is_greeted_qualified_by_button_and_text_and_handed_off,
    the_welcome_story_on_postgres,
    welcome_story
);

async fn welcome_story(db: Db) {
    let files = flow_files(&[]);
    let app = start_on(db, files.path(), OPEN, false).await;
    let olena = app.customer(501, "Olena", Some("K"));
    app.fake.customer_writes(&olena, "Добрий день");
    let said = bot_said(&app, olena.id, 2).await;
    assert!(text(&said[0]).starts_with("Вітаємо, Olena K!"), "{}", text(&said[0]));
    assert_eq!(text(&said[1]), "Що вас цікавить? Оберіть кнопку або напишіть.");
    assert_eq!(labels(&said[1]), vec!["🚗 Купити авто", "💰 Продати авто", "🔧 Сервіс", "💬 Інше"]);

    // A button press: stored as the label, answered, and the next question comes.
    let press = app.fake.customer_presses(&olena, said[1].message_id, "🚗 Купити авто");
    app.until("the press is answered", |f| {
        f.calls_of("answercallbackquery").iter().any(|c| c.params["callback_query_id"] == press.as_str())
    })
    .await;
    let said = bot_said(&app, olena.id, 3).await;
    assert_eq!(text(&said[2]), "Яке авто шукаєте? Марка, модель, рік — як зручно.");
    // Typed answers to free-text questions.
    app.fake.customer_writes(&olena, "RAV4 2019, білий");
    let said = bot_said(&app, olena.id, 4).await;
    assert_eq!(text(&said[3]), "На який бюджет орієнтуєтесь?");
    app.fake.customer_writes(&olena, "до 25 000 $");
    let said = bot_said(&app, olena.id, 5).await;
    assert_eq!(text(&said[4]), "Дякуємо! Менеджер відповість вам тут протягом 15 хвилин.");

    // The manager sees the answers on the card and the conversation in the topic.
    let (chat, thread, card) = app.topic_of(&olena).await;
    let c = app.card_shows(chat, card, "Budget: до 25 000 $").await;
    assert!(text(&c).contains("Wants: Buy a car"), "{}", text(&c));
    assert!(text(&c).contains("Car: RAV4 2019, білий"), "{}", text(&c));
    assert!(labels(&c).contains(&"🤖 Turn the bot off".to_string()));
    app.topic_has(chat, thread, "the bot's hand-off notice", |m| {
        text(m).contains("The bot has handed the conversation over")
    })
    .await;
    let all: String = app.topic_texts(chat, thread).join("\n");
    assert!(all.contains("🤖 Що вас цікавить?"), "{all}");
    assert!(all.contains("🔘 🚗 Купити авто"), "{all}");
    let lead = app.lead_of(&olena).await;
    assert_eq!(lead.intent.as_deref(), Some("buy"));
    // Nothing more from the bot after the hand-off, and nothing twice.
    app.fake.customer_writes(&olena, "Дякую");
    app.settled().await;
    assert_eq!(app.fake.bot_messages_to(olena.id).len(), 5);
    app.stop().await;
}

#[tokio::test]
async fn typed_answers_work_like_buttons_on_viber_and_whatsapp_uses_a_list() {
    let files = flow_files(&[]);
    let app = start_with_flows(files.path(), OPEN, true).await;
    let v = app.viber();
    assert_eq!(v.customer_writes("vb-7", "Taras", "Hello").await, 200);
    app.until_ok("Viber greeting and question", || v.sent_to("vb-7").len() >= 2).await;
    let sent = v.sent_to("vb-7");
    // Viber's sender language is uk in the fake; the keyboard's buttons send their labels.
    let kb = sent[1].keyboard.clone().expect("a keyboard");
    assert_eq!(kb["Buttons"].as_array().unwrap().len(), 4);
    assert_eq!(kb["Buttons"][1]["ActionBody"], "💰 Продати авто");
    assert_eq!(kb["Buttons"][1]["Text"], "💰 Продати авто");
    // Typed by hand instead of pressed.
    v.customer_writes("vb-7", "Taras", "продати").await;
    app.until_ok("the own-car question", || v.sent_to("vb-7").len() >= 3).await;
    assert_eq!(v.sent_to("vb-7")[2].text.as_deref(), Some("Яке авто хочете продати? Марка, модель, рік, пробіг."));
    let lead = app.lead_by_identity("viber", "vb-7").await;
    assert_eq!(lead.intent.as_deref(), Some("sell"));

    let w = app.wa();
    assert_eq!(w.customer_writes("380500000001", "Anna", "Hi there").await, 200);
    app.until_ok("WhatsApp greeting and question", || w.sent_to("380500000001").len() >= 2).await;
    let q = &w.sent_to("380500000001")[1];
    assert_eq!(q.kind, "interactive");
    assert_eq!(q.raw["interactive"]["type"], "list", "four choices are a list (buttons take three)");
    assert_eq!(q.raw["interactive"]["action"]["sections"][0]["rows"][2]["id"], "service_inquiry");
    // The customer picks the list row.
    let reply = serde_json::json!({"type": "interactive", "interactive": {"type": "list_reply",
        "list_reply": {"id": "service_inquiry", "title": "🔧 Сервіс"}}});
    assert_eq!(w.customer_sends("380500000001", "Anna", reply).await.0, 200);
    app.until_ok("the service question", || w.sent_to("380500000001").len() >= 3).await;
    assert_eq!(w.sent_to("380500000001")[2].text.as_deref(), Some("Що потрібно зробити з авто? Опишіть коротко."));
    let lead = app.lead_by_identity("whatsapp", "380500000001").await;
    assert_eq!(lead.intent.as_deref(), Some("service_inquiry"));
    app.stop().await;
}

#[tokio::test]
async fn an_english_speaker_is_answered_in_english_and_a_wrong_answer_is_asked_again() {
    let files = flow_files(&[]);
    let app = start_with_flows(files.path(), OPEN, false).await;
    let mut john = app.customer(502, "John", None);
    john.language = Some("en-GB".into());
    app.fake.customer_writes(&john, "hi");
    let said = bot_said(&app, john.id, 2).await;
    assert!(text(&said[0]).starts_with("Hello, John!"));
    assert_eq!(labels(&said[1])[0], "🚗 Buy a car");
    app.fake.customer_writes(&john, "a red one");
    let said = bot_said(&app, john.id, 3).await;
    assert_eq!(text(&said[2]), "Sorry, I did not catch that. Please choose one of the buttons:");
    assert_eq!(labels(&said[2]).len(), 4, "the buttons again");
    app.fake.customer_writes(&john, "BUY");
    let said = bot_said(&app, john.id, 4).await;
    assert!(text(&said[3]).starts_with("Which car are you looking for?"));
    app.stop().await;
}

#[tokio::test]
async fn a_staff_reply_ends_the_bots_turn() {
    let files = flow_files(&[]);
    let app = start_with_flows(files.path(), OPEN, false).await;
    let max = app.staff(900, "Max Petrenko", Role::Manager).await;
    let ivan = app.customer(503, "Ivan", None);
    app.fake.customer_writes(&ivan, "Привіт");
    bot_said(&app, ivan.id, 2).await;
    let (chat, thread, _) = app.topic_of(&ivan).await;
    app.fake.staff_writes(chat, Some(thread), &max, "Добрий день, Іване! Я Макс, чим допомогти?");
    app.until("the reply reaches Ivan", |f| f.bot_messages_to(ivan.id).len() >= 3).await;
    // The question the bot asked is no longer waiting: a typed "купити" starts nothing.
    app.fake.customer_writes(&ivan, "купити");
    app.settled().await;
    let said = app.fake.bot_messages_to(ivan.id);
    assert_eq!(said.len(), 3, "{:?}", said.iter().map(text).collect::<Vec<_>>());
    let lead = app.lead_of(&ivan).await;
    assert_eq!(lead.intent, None);
    let (flow, step, _) = app.store.flow_state(lead.id).await.unwrap().unwrap();
    assert_eq!((flow, step), (None, None));
    app.stop().await;
}

#[tokio::test]
async fn stop_marks_the_customer_do_not_contact_once_and_staff_may_still_reply() {
    let files = flow_files(&[]);
    let app = start_with_flows(files.path(), OPEN, false).await;
    let max = app.staff(900, "Max Petrenko", Role::Manager).await;
    let petro = app.customer(504, "Petro", None);
    app.fake.customer_writes(&petro, "Добрий день");
    bot_said(&app, petro.id, 2).await;
    app.fake.customer_writes(&petro, "СТОП");
    let said = bot_said(&app, petro.id, 3).await;
    assert!(text(&said[2]).starts_with("Добре, ми більше не писатимемо вам автоматично."));
    let (chat, thread, card) = app.topic_of(&petro).await;
    let c = app.card_shows(chat, card, "The customer asked not to be contacted").await;
    assert!(!labels(&c).iter().any(|l| l.contains("bot")), "no bot switch for a do-not-contact customer");
    app.topic_has(chat, thread, "the opt-out notice", |m| text(m).contains("asked not to be contacted")).await;
    // The bot never writes again, not even to a new question or another stop.
    app.fake.customer_writes(&petro, "купити");
    app.fake.customer_writes(&petro, "stop");
    app.settled().await;
    assert_eq!(app.fake.bot_messages_to(petro.id).len(), 3);
    // A manager still can.
    app.fake.staff_writes(chat, Some(thread), &max, "Зрозумів, вибачте за турботу.");
    app.until("the manager's reply is delivered", |f| f.bot_messages_to(petro.id).len() == 4).await;
    app.stop().await;
}

#[tokio::test]
async fn the_cards_switch_turns_the_bot_off_for_one_lead_and_analysts_may_not() {
    let files = flow_files(&[("flows/prices.yaml", PRICES)]);
    let app = start_with_flows(files.path(), OPEN, false).await;
    let max = app.staff(900, "Max Petrenko", Role::Manager).await;
    let ann = app.staff(901, "Ann Analyst", Role::Analyst).await;
    let oksana = app.customer(505, "Oksana", None);
    app.fake.customer_writes(&oksana, "ціна?");
    let said = bot_said(&app, oksana.id, 1).await;
    assert!(text(&said[0]).contains("prices"), "the keyword flow: {}", text(&said[0]));
    let (chat, _, card) = app.topic_of(&oksana).await;
    app.card_shows(chat, card, "Oksana").await;
    let id = app.press(chat, card, &ann, "🤖 Turn the bot off");
    assert!(app.callback_answer(&id).await.contains("analysts"), "refused");
    let id = app.press(chat, card, &max, "🤖 Turn the bot off");
    assert!(app.callback_answer(&id).await.contains("The bot is off"));
    let c = app.card_shows(chat, card, "Bot: off for this lead").await;
    assert!(labels(&c).contains(&"🤖 Turn the bot on".to_string()));
    app.fake.customer_writes(&oksana, "ціна?");
    app.settled().await;
    assert_eq!(app.fake.bot_messages_to(oksana.id).len(), 1, "off: no keyword answer");
    let id = app.press(chat, card, &max, "🤖 Turn the bot on");
    app.callback_answer(&id).await;
    app.fake.customer_writes(&oksana, "а ціна?");
    bot_said(&app, oksana.id, 2).await;
    app.stop().await;
}

const PRICES: &str = "name: prices
trigger: {keyword: [ціна, price, прайс]}
steps:
  - id: say
    send: {uk: \"Наші ціни (prices) — у прайсі: example.invalid/prices\", en: \"Our prices: example.invalid/prices\"}
";

const STILL_HERE: &str = "name: still_here
trigger: no_staff_reply
cooldown: 1h
steps:
  - id: say
    send: {uk: \"Ми бачимо ваше повідомлення, менеджер скоро відповість.\", en: \"We see your message; a manager will answer soon.\"}
";

#[tokio::test]
async fn no_staff_reply_yet_triggers_its_flow_once_per_cooldown() {
    let files = flow_files(&[("flows/still_here.yaml", STILL_HERE)]);
    let app = start_with_flows(files.path(), OPEN, false).await;
    let yura = app.customer(506, "Yura", None);
    // The welcome first; its last question answered and handed off.
    app.fake.customer_writes(&yura, "Добрий день");
    bot_said(&app, yura.id, 2).await;
    app.fake.customer_writes(&yura, "інше");
    bot_said(&app, yura.id, 3).await;
    app.fake.customer_writes(&yura, "Чи можна оформити лізинг?");
    bot_said(&app, yura.id, 4).await;
    // Now waiting for a person: another message gets "still here", once an hour.
    app.fake.customer_writes(&yura, "Алло?");
    let said = bot_said(&app, yura.id, 5).await;
    assert_eq!(text(&said[4]), "Ми бачимо ваше повідомлення, менеджер скоро відповість.");
    app.fake.customer_writes(&yura, "Є хтось?");
    app.settled().await;
    assert_eq!(app.fake.bot_messages_to(yura.id).len(), 5, "within the cooldown");
    app.clock.advance(Duration::from_secs(3_700));
    app.fake.customer_writes(&yura, "???");
    bot_said(&app, yura.id, 6).await;
    app.stop().await;
}

#[tokio::test]
async fn outside_business_hours_the_welcome_says_when_and_later_messages_get_the_after_hours_flow() {
    let files = flow_files(&[]);
    let app = start_with_flows(files.path(), closed_today(), false).await;
    let max = app.staff(900, "Max Petrenko", Role::Manager).await;
    let nina = app.customer(507, "Nina", None);
    app.fake.customer_writes(&nina, "Доброї ночі");
    bot_said(&app, nina.id, 2).await;
    app.fake.customer_writes(&nina, "інше");
    bot_said(&app, nina.id, 3).await;
    app.fake.customer_writes(&nina, "Питання про гарантію");
    let said = bot_said(&app, nina.id, 4).await;
    assert!(
        text(&said[3]).starts_with("Дякуємо! Зараз ми зачинені; менеджер відповість вам тут"),
        "{}",
        text(&said[3])
    );
    assert!(text(&said[3]).contains("09:00"), "{}", text(&said[3]));
    // A manager answers anyway; the customer writes again at night: after-hours, once.
    let (chat, thread, _) = app.topic_of(&nina).await;
    app.fake.staff_writes(chat, Some(thread), &max, "Добрий вечір! Відповім зранку детально.");
    bot_said(&app, nina.id, 5).await;
    app.fake.customer_writes(&nina, "Дякую!");
    let said = bot_said(&app, nina.id, 6).await;
    assert!(text(&said[5]).starts_with("Дякуємо за повідомлення! Зараз ми зачинені"), "{}", text(&said[5]));
    app.fake.customer_writes(&nina, "І ще одне");
    app.settled().await;
    assert_eq!(app.fake.bot_messages_to(nina.id).len(), 6, "once in 12 hours");
    app.stop().await;
}

#[tokio::test]
async fn follow_ups_come_on_day_three_and_day_seven_of_silence_in_contacted() {
    let files = flow_files(&[]);
    let app = start_with_flows(files.path(), OPEN, false).await;
    let max = app.staff(900, "Max Petrenko", Role::Manager).await;
    let lesya = app.customer(508, "Lesya", None);
    let quiet = app.customer(509, "Roman", None);
    for c in [&lesya, &quiet] {
        app.fake.customer_writes(c, "Добрий день");
        bot_said(&app, c.id, 2).await;
        let (chat, thread, _) = app.topic_of(c).await;
        app.fake.staff_writes(chat, Some(thread), &max, "Вітаю! Підберу варіанти і напишу.");
        bot_said(&app, c.id, 3).await;
    }
    assert_eq!(app.lead_of(&lesya).await.stage.as_str(), "contacted");
    // Roman answers on day two, so his silence starts again then.
    app.clock.advance(Duration::from_secs(2 * 86_400));
    app.fake.customer_writes(&quiet, "Дякую, чекаю");
    app.settled().await;
    app.clock.advance(Duration::from_secs(86_400 + 60));
    let said = bot_said(&app, lesya.id, 4).await;
    assert!(text(&said[3]).starts_with("Вітаємо, Lesya! Чи ще актуальне для вас"), "{}", text(&said[3]));
    assert_eq!(labels(&said[3]), vec!["✅ Так, актуально", "❌ Ні, дякую"]);
    app.settled().await;
    assert_eq!(app.fake.bot_messages_to(quiet.id).len(), 3, "Roman wrote last: no follow-up");
    // Day seven of Lesya's silence: the last call; nothing on the days between.
    app.clock.advance(Duration::from_secs(2 * 86_400));
    app.settled().await;
    assert_eq!(app.fake.bot_messages_to(lesya.id).len(), 4);
    app.clock.advance(Duration::from_secs(2 * 86_400));
    let said = bot_said(&app, lesya.id, 5).await;
    assert!(text(&said[4]).starts_with("Ми на зв’язку"), "{}", text(&said[4]));
    app.clock.advance(Duration::from_secs(10 * 86_400));
    app.settled().await;
    assert_eq!(app.fake.bot_messages_to(lesya.id).len(), 5, "each follow-up once per silence");
    app.stop().await;
}

#[tokio::test]
async fn a_changed_greeting_on_disk_is_taken_without_a_restart_and_a_broken_file_changes_nothing() {
    let files = flow_files(&[]);
    let app = start_with_flows(files.path(), OPEN, false).await;
    let a = app.customer(510, "Alla", None);
    app.fake.customer_writes(&a, "Привіт");
    let said = bot_said(&app, a.id, 2).await;
    assert!(text(&said[0]).starts_with("Вітаємо, Alla!"));
    // The admin edits the greeting; Alla's conversation is waiting at the intent question.
    write(files.path(), "templates/flows/uk/welcome/greeting.txt", "Доброго дня, {{ customer }}! Радо допоможемо.\n");
    let b = app.customer(511, "Bohdan", None);
    let store = app.store.clone();
    eventually("the new version is active", || {
        let store = store.clone();
        async move { (store.flow_versions(10).await.ok()?.len() >= 2).then_some(()) }
    })
    .await;
    app.fake.customer_writes(&b, "Привіт");
    let said = bot_said(&app, b.id, 2).await;
    assert_eq!(text(&said[0]), "Доброго дня, Bohdan! Радо допоможемо.");
    // Alla's conversation goes on where it was.
    app.fake.customer_writes(&a, "купити");
    let said = bot_said(&app, a.id, 3).await;
    assert!(text(&said[2]).starts_with("Яке авто шукаєте?"));
    // A broken file: refused, the last good set stays.
    write(
        files.path(),
        "flows/welcome.yaml",
        "name: welcome\ntrigger: first_message\nsteps:\n  - id: x\n    send: nowhere\n",
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let c = app.customer(512, "Ch", None);
    app.fake.customer_writes(&c, "Привіт");
    let said = bot_said(&app, c.id, 2).await;
    assert_eq!(text(&said[0]), "Доброго дня, Ch! Радо допоможемо.");
    assert_eq!(app.store.flow_versions(10).await.unwrap().len(), 2, "nothing new was activated");
    app.stop().await;
}

/// The admin's upload: a greeting written in the flow itself.
const NEW_WELCOME_GREETING: &str =
    "send: {uk: \"Раді вітати, {{ customer }}! Це бот автосалону.\", en: \"Welcome, {{ customer }}!\"}";

#[tokio::test]
async fn an_admin_sends_a_flow_file_sees_what_changes_activates_it_and_can_roll_back() {
    let files = flow_files(&[]);
    let app = start_with_flows(files.path(), OPEN, false).await;
    let admin = app.staff(950, "Ada Admin", Role::Admin).await;
    let max = app.staff(900, "Max Petrenko", Role::Manager).await;
    let send = |who: &forecourt::sandbox::telegram::FakeUser, name: &str, src: &str| {
        let id = app.fake.upload_file("document", src.as_bytes());
        app.fake.staff_sends(
            STAFF,
            None,
            who,
            forecourt::sandbox::telegram::Content::Document {
                file_id: id,
                caption: None,
                file_name: Some(name.into()),
            },
        );
    };
    let general = |needle: &'static str| {
        move |f: &forecourt::sandbox::telegram::FakeTelegram| {
            f.general_messages(STAFF).iter().any(|m| text(m).contains(needle))
        }
    };
    let welcome = std::fs::read_to_string(files.path().join("flows/welcome.yaml")).unwrap();
    let changed = welcome.replace("send: welcome/greeting", NEW_WELCOME_GREETING);
    assert_ne!(changed, welcome);

    // A manager may not.
    send(&max, "welcome.yaml", &changed);
    app.until("the manager is refused", general("Only admins may change the bot's flows")).await;
    // A broken file: its problems with lines, nothing changes.
    send(&admin, "welcome.yaml", &changed.replace("next: by_intent", "next: nowhere"));
    app.until("the problems are listed", general("flows/welcome.yaml:12: step 'intent' goes to 'nowhere'")).await;
    // The good one: a summary and an Activate button.
    send(&admin, "welcome.yaml", &changed);
    app.until("the summary", general("✏️ welcome: steps changed: greet")).await;
    let summary = app.fake.general_messages(STAFF).into_iter().find(|m| text(m).contains("✏️ welcome")).unwrap();
    // Only an admin's press counts.
    let data = button_data(&summary, "✅ Activate").expect("an Activate button");
    let id = app.fake.staff_presses(STAFF, summary.message_id, &max, &data);
    assert!(app.callback_answer(&id).await.contains("Only admins"));
    assert_eq!(app.store.flow_versions(10).await.unwrap().len(), 1);
    let id = app.fake.staff_presses(STAFF, summary.message_id, &admin, &data);
    assert!(app.callback_answer(&id).await.contains("is active"));
    let id = app.fake.staff_presses(STAFF, summary.message_id, &admin, &data);
    assert!(app.callback_answer(&id).await.contains("activated already"), "a second press does nothing");
    let versions = app.store.flow_versions(10).await.unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].1, "upload");
    assert_eq!(versions[0].2.as_deref(), Some("Ada Admin"));

    let c = app.customer(520, "Zoya", None);
    app.fake.customer_writes(&c, "Привіт");
    let said = bot_said(&app, c.id, 2).await;
    assert_eq!(text(&said[0]), "Раді вітати, Zoya! Це бот автосалону.");
    // A restart keeps the upload (the disk's files did not change).
    let mut app = app;
    app.restart().await;
    let d = app.customer(521, "Dmytro", None);
    app.fake.customer_writes(&d, "Привіт");
    let said = bot_said(&app, d.id, 2).await;
    assert_eq!(text(&said[0]), "Раді вітати, Dmytro! Це бот автосалону.");
    // /flows lists the versions; /flows rollback 1 goes back.
    app.fake.staff_writes(STAFF, None, &admin, "/flows");
    app.until("the list", general("Flow versions (newest first")).await;
    app.fake.staff_writes(STAFF, None, &max, "/flows rollback 1");
    app.until("the manager's rollback is refused", |f| {
        f.general_messages(STAFF).iter().filter(|m| text(m).contains("Only admins")).count() >= 2
    })
    .await;
    app.fake.staff_writes(STAFF, None, &admin, "/flows rollback 1");
    app.until("the rollback", general("(rollback to 1, by Ada Admin)")).await;
    let e = app.customer(522, "Emma", None);
    app.fake.customer_writes(&e, "Привіт");
    let said = bot_said(&app, e.id, 2).await;
    assert!(text(&said[0]).starts_with("Вітаємо, Emma!"), "{}", text(&said[0]));
    assert_eq!(app.store.flow_versions(10).await.unwrap().len(), 3);
    app.stop().await;
}

const TEST_DRIVE: &str = "name: test_drive
trigger: {keyword: [тест-драйв, \"test drive\"]}
steps:
  - id: when
    ask: {uk: \"Коли вам зручно?\", en: \"When suits you?\"}
    choices:
      - value: today
        label: {uk: Сьогодні, en: Today}
      - value: tomorrow
        label: {uk: Завтра, en: Tomorrow}
      - value: weekend
        label: {uk: На вихідних, en: At the weekend}
    save: note
    next: done
  - id: done
    handoff: {uk: \"Менеджер підтвердить час.\", en: \"A manager will confirm the time.\"}
";

#[tokio::test]
async fn whatsapp_shows_three_choices_as_buttons_and_a_follow_up_after_the_window_as_the_template() {
    let files = flow_files(&[("flows/test_drive.yaml", TEST_DRIVE)]);
    let app = start_with_flows(files.path(), OPEN, true).await;
    let max = app.staff(900, "Max Petrenko", Role::Manager).await;
    let w = app.wa();
    let to = "380500000002";
    w.customer_writes(to, "Oleh", "Можна тест-драйв Kia Sportage?").await;
    app.until_ok("the question", || !w.sent_to(to).is_empty()).await;
    let q = &w.sent_to(to)[0];
    assert_eq!(q.raw["interactive"]["type"], "button", "three choices are reply buttons");
    let buttons = q.raw["interactive"]["action"]["buttons"].as_array().unwrap();
    assert_eq!(buttons.len(), 3);
    assert_eq!(buttons[2]["reply"]["id"], "weekend");
    assert_eq!(buttons[2]["reply"]["title"], "На вихідних");
    let reply = serde_json::json!({"type": "interactive", "interactive": {"type": "button_reply",
        "button_reply": {"id": "tomorrow", "title": "Завтра"}}});
    w.customer_sends(to, "Oleh", reply).await;
    app.until_ok("the hand-off", || w.sent_to(to).len() >= 2).await;
    assert_eq!(w.sent_to(to)[1].text.as_deref(), Some("Менеджер підтвердить час."));
    let lead = app.lead_by_identity("whatsapp", to).await;
    assert_eq!(lead.notes.as_deref(), Some("tomorrow"));
    // The manager answers; three days of silence later the window is long closed, so the
    // day-3 follow-up goes as the approved template, and the topic says so.
    let (chat, thread, _) = app.topic_of_lead(lead.id).await;
    app.fake.staff_writes(chat, Some(thread), &max, "Добрий день! Завтра о 10:00 підійде?");
    app.until_ok("the manager's reply", || w.sent_to(to).len() >= 3).await;
    // The delivery's outcome (and so the staff's last word) is recorded after WhatsApp has
    // the message: jumping the clock before that would start the silence three days late.
    app.settled().await;
    app.clock.advance(Duration::from_secs(3 * 86_400 + 120));
    app.until_ok("the follow-up", || w.sent_to(to).len() >= 4).await;
    assert_eq!(w.sent_to(to)[3].kind, "template");
    app.topic_has(chat, thread, "the template notice", |m| text(m).contains("by the bot")).await;
    app.stop().await;
}

/// A customer's typed answer of thousands of characters is kept, but the card shows a
/// capped part of it and is still posted (a card over Telegram's limit was refused for
/// ever, and nothing reached the lead's topic behind it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_typed_answer_still_gets_its_card_posted() {
    let files = flow_files(&[]);
    let app = start_with_flows(files.path(), OPEN, true).await;
    let v = app.viber();
    assert_eq!(v.customer_writes("vb-long", "Taras", "Hello").await, 200);
    app.until_ok("the greeting and question", || v.sent_to("vb-long").len() >= 2).await;
    v.customer_writes("vb-long", "Taras", "продати").await;
    app.until_ok("the own-car question", || v.sent_to("vb-long").len() >= 3).await;
    let essay = "Toyota Camry 2015, ".repeat(350); // ~6,650 characters, under Viber's limit
    assert_eq!(v.customer_writes("vb-long", "Taras", &essay).await, 200);
    let lead = app.lead_by_identity("viber", "vb-long").await;
    let (chat, _, card) = app.topic_of_lead(lead.id).await;
    let shown = app.card_shows(chat, card, "Toyota Camry 2015").await;
    let text = shown.content.text_or_caption().unwrap().to_string();
    assert!(forecourt::domain::text::utf16_len(&text) <= 4096);
    assert!(text.contains('…'), "the answer is cut on the card: {text}");
    app.settled().await;
    assert!(app.store.parked_jobs().await.unwrap().is_empty());
    app.stop().await;
}
