//! Tasks people write (issue 13): `/task` with the times people type, its message in the
//! topic with ✅ Done and ⏰ +1h, the reminder with a mention when due, and a supervisor told
//! when it stays open.

use crate::harness::*;
use forecourt::domain::Role;
use forecourt::sandbox::telegram::{ChatMessage, FakeTelegram};

fn text(m: &ChatMessage) -> String {
    m.content.text_or_caption().unwrap_or_default().to_string()
}

async fn started(speed: f64, overdue_minutes: u32) -> TestApp {
    let mut t =
        TestApp::start_with(Opts { speed, business_hours: Some("Mon-Sun 00:00-24:00"), ..Opts::default() }).await;
    t.config.assignment.task_overdue_minutes = overdue_minutes;
    t.restart().await;
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_in_a_minute_reminds_its_owner_and_done_closes_it() {
    let t = started(30.0, 2).await;
    let max = t.staff(9301, "Max Petrenko", Role::Manager).await;
    let sofia = t.staff(9302, "Sofia Lysenko", Role::Supervisor).await;
    t.fake.customer_writes(&sofia, "/tasks all");
    t.until("Sofia's private chat", |f| !f.bot_messages_to(sofia.id).is_empty()).await;
    let olena = t.customer(7401, "Olena", None);
    t.fake.customer_writes(&olena, "Is the credit possible?");
    let (chat, thread, card) = t.topic_of(&olena).await;
    t.fake.staff_writes(chat, Some(thread), &max, "Yes, let me check the terms.");
    eventually("Max owns the lead", || async { t.lead_of(&olena).await.owner.map(|_| ()) }).await;

    let before = t.clock.now_ms();
    t.fake.staff_writes(chat, Some(thread), &max, "/task in 1m call back about the credit");
    let m = t.topic_message_starting(chat, thread, "🗓 call back about the credit — today ").await;
    assert!(text(&m).ends_with("(Max Petrenko)"), "{}", text(&m));
    assert!(button_data(&m, "✅ Done").is_some() && button_data(&m, "⏰ +1h").is_some(), "{:?}", m.reply_markup);
    t.card_shows(chat, card, "Next task: 🗓 call back about the credit").await;
    let task = t.store.tasks_of_lead(t.lead_of(&olena).await.id).await.unwrap().pop().unwrap();
    assert_eq!(task.kind, "manual");
    let due = task.due_at.unwrap();
    assert!(due >= before + 60_000 && due <= t.clock.now_ms() + 60_000, "due a minute after it was written");

    // About a minute later: reminded in the topic, Max mentioned.
    let r = t.topic_message(chat, thread, "Max Petrenko, ⏰ now: call back about the credit").await;
    assert!(t.clock.now_ms() >= due, "not before it is due");
    let _ = r;
    let sent: Vec<_> = t
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.params["text"].as_str().is_some_and(|x| x.contains("⏰ now: call back about the credit")))
        .collect();
    assert!(!sent.is_empty(), "the reminder's request");
    assert!(sent.iter().any(|c| c.params["entities"].to_string().contains("id=9301")), "a mention of Max");
    // The task's message says it is overdue.
    t.until("overdue on the message", |f: &FakeTelegram| {
        f.topic_messages(chat, thread).iter().any(|x| x.message_id == m.message_id && text(x).contains("overdue"))
    })
    .await;
    // Two minutes overdue: Sofia hears of it privately.
    t.until("Sofia is told", |f| {
        f.bot_messages_to(sofia.id).iter().any(|x| text(x).contains("Still not done: call back about the credit"))
    })
    .await;

    // ⏰ +1h: due an hour from now, reminded afresh later.
    let press = t.fake.staff_presses(chat, m.message_id, &max, &button_data(&m, "⏰ +1h").unwrap());
    assert!(t.callback_answer(&press).await.starts_with("Put off to "));
    let later = t.store.task(task.id).await.unwrap().unwrap();
    assert!(later.due_at.unwrap() >= t.clock.now_ms() + 3_500_000, "an hour from now");
    t.until("the message shows no overdue", |f: &FakeTelegram| {
        f.topic_messages(chat, thread).iter().any(|x| x.message_id == m.message_id && !text(x).contains("overdue"))
    })
    .await;
    // ✅ Done: closed, the message says who, no buttons.
    let press = t.fake.staff_presses(chat, m.message_id, &max, &button_data(&m, "✅ Done").unwrap());
    assert_eq!(t.callback_answer(&press).await, "Task done.");
    t.until("the message says done", |f: &FakeTelegram| {
        f.topic_messages(chat, thread)
            .iter()
            .any(|x| x.message_id == m.message_id && text(x) == "✅ call back about the credit — done by Max Petrenko")
    })
    .await;
    assert!(!t.store.task(task.id).await.unwrap().unwrap().open);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_time_form_is_read_and_bad_ones_are_refused() {
    let t = started(1.0, 60).await;
    let max = t.staff(9311, "Max Petrenko", Role::Manager).await;
    let _sofia = t.staff(9312, "Sofia Lysenko", Role::Manager).await;
    let ann = t.staff(9313, "Ann Analyst", Role::Analyst).await;
    let ivan = t.customer(7411, "Ivan", None);
    t.fake.customer_writes(&ivan, "Hello");
    let (chat, thread, _) = t.topic_of(&ivan).await;
    let lead = t.lead_of(&ivan).await.id;
    for (typed, title) in [
        ("/task tomorrow 10:00 call about the credit", "call about the credit"),
        ("/task завтра 10:00 передзвонити", "передзвонити"),
        ("/task fri 15:00 test drive", "test drive"),
        ("/task пт 15:00 тест-драйв", "тест-драйв"),
        ("/task in 2h send the photos", "send the photos"),
        ("/task через 2 год надіслати фото", "надіслати фото"),
        ("/task 25.12 09:30 a gift", "a gift"),
    ] {
        t.fake.staff_writes(chat, Some(thread), &max, typed);
        t.topic_message_starting(chat, thread, &format!("🗓 {title} — ")).await;
    }
    // Named: Sofia's, though Max wrote it (and owns the lead by now? no: nobody replied).
    t.fake.staff_writes(chat, Some(thread), &max, "/task @sofia in 3h check the VIN");
    let m = t.topic_message_starting(chat, thread, "🗓 check the VIN").await;
    assert!(text(&m).ends_with("(Sofia Lysenko)"), "{}", text(&m));
    let tasks = t.store.tasks_of_lead(lead).await.unwrap();
    assert_eq!(tasks.len(), 8);
    let due_of = |title: &str| {
        let t = tasks.iter().find(|x| x.title == title).unwrap();
        (t.due_at.unwrap(), t.user_name.clone())
    };
    assert_eq!(due_of("call about the credit").0, due_of("передзвонити").0, "the same time in both languages");
    assert_eq!(due_of("test drive").0, due_of("тест-драйв").0);
    assert!(due_of("send the photos").0 - due_of("надіслати фото").0 < 5_000);
    assert_eq!(due_of("a gift").1.as_deref(), Some("Max Petrenko"), "nobody owns the lead: the writer's");

    // Refusals: each says why, nothing is written.
    t.fake.staff_writes(chat, Some(thread), &max, "/task someday call back");
    t.topic_message(chat, thread, "is not a time I read. Try: in 2h").await;
    t.fake.staff_writes(chat, Some(thread), &max, "/task tomorrow 10:00");
    t.topic_message(chat, thread, "What is the task?").await;
    t.fake.staff_writes(chat, Some(thread), &max, "/task @olga in 2h x");
    t.topic_message(chat, thread, "Nobody active is called \"@olga\"").await;
    t.fake.staff_writes(chat, Some(thread), &ann, "/task in 2h x");
    t.topic_message(chat, thread, "analysts can read leads but not change them").await;
    t.fake.staff_writes(STAFF, None, &max, "/task in 2h x");
    t.until("outside a topic", |f: &FakeTelegram| {
        f.general_messages(STAFF).iter().any(|m| text(m).contains("/task works in a lead's topic"))
    })
    .await;
    t.settled().await;
    assert_eq!(t.store.tasks_of_lead(lead).await.unwrap().len(), 8, "nothing more was written");
    // /tasks lists Max's by due time, each with a link to its topic.
    // By now the group has had more than Telegram's 20 sends a minute (task messages, card
    // edits, refusals): the list waits for the group's window, up to a minute.
    t.fake.staff_writes(chat, Some(thread), &max, "/tasks");
    let list = t.topic_message_within(chat, thread, "Your open tasks (7)", std::time::Duration::from_secs(90)).await;
    let body = text(&list);
    assert!(body.find("send the photos").unwrap() < body.find("call about the credit").unwrap(), "{body}");
    assert!(body.contains(&format!("/{thread}")) && body.contains("https://t.me/c/"), "{body}");
    t.stop().await;
}

/// A restart between a task's due time and the timer's run: the reminder comes once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_a_task_fell_due_reminds_once() {
    let mut t = started(1.0, 60).await;
    let max = t.staff(9321, "Max Petrenko", Role::Manager).await;
    let ivan = t.customer(7421, "Ivan", None);
    t.fake.customer_writes(&ivan, "Hello");
    let (chat, thread, _) = t.topic_of(&ivan).await;
    t.fake.staff_writes(chat, Some(thread), &max, "/task in 5m call back");
    t.topic_message_starting(chat, thread, "🗓 call back").await;
    t.settled().await;
    if let Some(r) = t.running.take() {
        r.stop().await;
    }
    t.clock.advance(std::time::Duration::from_secs(6 * 60));
    t.restart().await;
    t.topic_message(chat, thread, "Max Petrenko, ⏰ now: call back").await;
    // The timer runs again (every minute); the reminder is not repeated.
    t.clock.advance(std::time::Duration::from_secs(3 * 60));
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let n = t.topic_texts(chat, thread).iter().filter(|x| x.contains("⏰ now: call back")).count();
    assert_eq!(n, 1);
    t.stop().await;
}
