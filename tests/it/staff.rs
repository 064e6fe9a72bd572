//! The staff side: who may do what from the buttons and commands.

use crate::harness::*;
use forecourt::domain::callback::CardAction;
use forecourt::domain::{Direction, LostReason, Role, Stage};
use forecourt::sandbox::telegram::FakeUser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_not_registered_is_refused_on_buttons_commands_and_replies() {
    let t = TestApp::start().await;
    let stranger = FakeUser::new(7777, "Stranger", None);
    let c = t.customer(601, "Taras", None);
    t.fake.customer_writes(&c, "hello");
    let (chat, thread, card) = t.topic_of(&c).await;
    t.card_shows(chat, card, "Taras").await;

    let cb = t.press(chat, card, &stranger, "Claim");
    let answer = t.callback_answer(&cb).await;
    assert!(answer.contains("not registered"), "{answer}");

    t.fake.staff_writes(chat, None, &stranger, "/queue");
    t.fake.staff_writes(chat, Some(thread), &stranger, "I can help you!");
    t.until("the command is refused", |fake| {
        fake.general_messages(chat)
            .iter()
            .any(|m| m.from_bot && m.content.text_or_caption().is_some_and(|x| x.contains("not registered")))
    })
    .await;
    t.topic_has(chat, thread, "the reply is refused in the topic", |m| {
        m.from_bot && m.content.text_or_caption().is_some_and(|x| x.contains("Not sent to the customer"))
    })
    .await;
    t.settled().await;
    assert!(t.fake.bot_messages_to(601).is_empty(), "nothing reached the customer");
    let lead = t.lead_of(&c).await;
    assert_eq!(lead.owner, None);
    assert_eq!(lead.stage, Stage::New);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buttons_move_stages_only_as_the_rules_allow() {
    let t = TestApp::start().await;
    let max = t.staff(9101, "Max Petrenko", Role::Manager).await;
    let iryna = t.staff(9102, "Iryna Bondar", Role::Manager).await;
    let boss = t.staff(9103, "Sofia Lysenko", Role::Supervisor).await;
    let analyst = t.staff(9104, "Anna Data", Role::Analyst).await;
    let c = t.customer(602, "Roman", None);
    t.fake.customer_writes(&c, "hi");
    let (chat, _, card) = t.topic_of(&c).await;
    t.card_shows(chat, card, "Roman").await;
    let lead = t.lead_of(&c).await.id;

    // Leaving `new` needs an owner: the stage menu says so.
    let cb = t.press(chat, card, &max, "Stage");
    assert!(t.callback_answer(&cb).await.contains("claim the lead first"));
    // An analyst reads only.
    let cb = t.press(chat, card, &analyst, "Claim");
    assert!(t.callback_answer(&cb).await.contains("analysts"));

    let cb = t.press(chat, card, &max, "Claim");
    t.callback_answer(&cb).await;
    t.card_shows(chat, card, "Owner: Max").await;

    // Another manager cannot touch Max's lead.
    let cb = t.fake.staff_presses(chat, card, &iryna, &CardAction::SetStage(lead, Stage::Qualified).encode());
    assert!(t.callback_answer(&cb).await.contains("another manager"));

    // Max opens the stage menu: only forward stages he may use (no Sold: no vehicle).
    let cb = t.press(chat, card, &max, "Stage");
    t.callback_answer(&cb).await;
    let menu = t.card_shows(chat, card, "choose the new stage").await;
    let labels: Vec<String> = buttons(&menu).into_iter().map(|(l, _)| l).collect();
    assert_eq!(labels, vec!["Contacted", "Qualified", "In negotiation", "Prepayment", "◂ Back"]);
    let cb = t.press(chat, card, &max, "In negotiation");
    assert_eq!(t.callback_answer(&cb).await, "Stage: In negotiation.");
    t.card_shows(chat, card, "Stage: In negotiation").await;

    // Backwards is a supervisor's move; a forged button does not get around it.
    let cb = t.fake.staff_presses(chat, card, &max, &CardAction::SetStage(lead, Stage::Contacted).encode());
    assert!(t.callback_answer(&cb).await.contains("only a supervisor"));
    let cb = t.fake.staff_presses(chat, card, &max, &CardAction::SetStage(lead, Stage::Sold).encode());
    assert!(t.callback_answer(&cb).await.contains("vehicle"));
    let cb = t.fake.staff_presses(chat, card, &boss, &CardAction::SetStage(lead, Stage::Qualified).encode());
    assert_eq!(t.callback_answer(&cb).await, "Stage: Qualified.");
    t.card_shows(chat, card, "Stage: Qualified").await;

    // Lost, with a reason.
    let cb = t.press(chat, card, &max, "Lost");
    t.callback_answer(&cb).await;
    t.card_shows(chat, card, "Why was the lead lost").await;
    let cb = t.press(chat, card, &max, "Bought elsewhere");
    assert_eq!(t.callback_answer(&cb).await, "Marked lost: Bought elsewhere.");
    let shown = t.card_shows(chat, card, "Stage: Lost (Bought elsewhere)").await;
    assert!(button_data(&shown, "Lost").is_none());

    let l = t.lead(lead).await;
    assert_eq!(l.stage, Stage::Lost);
    assert_eq!(l.lost_reason, Some(LostReason::BoughtElsewhere));
    let stages: Vec<(Option<String>, Option<String>, Option<String>)> = t
        .store
        .lead_history(lead)
        .await
        .unwrap()
        .into_iter()
        .filter(|h| h.field == "stage")
        .map(|h| (h.from_value, h.to_value, h.reason))
        .collect();
    let s = |x: &str| Some(x.to_string());
    assert_eq!(
        stages,
        vec![
            (s("new"), s("in_negotiation"), None),
            (s("in_negotiation"), s("qualified"), None),
            (s("qualified"), s("lost"), s("bought_elsewhere")),
        ]
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_or_forged_buttons_get_a_polite_answer_and_change_nothing() {
    let t = TestApp::start().await;
    let max = t.staff(9201, "Max Petrenko", Role::Manager).await;
    let c = t.customer(603, "Lesia", None);
    t.fake.customer_writes(&c, "hi");
    let (chat, _, card) = t.topic_of(&c).await;
    t.card_shows(chat, card, "Lesia").await;
    for data in ["0:c:1", "garbage", "1:c:999999", ""] {
        let cb = t.fake.staff_presses(chat, card, &max, data);
        assert!(t.callback_answer(&cb).await.contains("out of date"), "{data}");
    }
    let lead = t.lead_of(&c).await;
    assert_eq!(lead.owner, None);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_list_leads_repost_cards_and_keep_notes() {
    let t = TestApp::start().await;
    let max = t.staff(9301, "Max Petrenko", Role::Manager).await;
    let a = t.customer(604, "Bohdan", None);
    let b = t.customer(605, "Vira", None);
    t.fake.customer_writes(&a, "first");
    t.fake.customer_writes(&b, "second");
    let (chat, thread_a, card_a) = t.topic_of(&a).await;
    t.topic_of(&b).await;
    t.card_shows(chat, card_a, "Bohdan").await;
    let cb = t.press(chat, card_a, &max, "Claim");
    t.callback_answer(&cb).await;
    t.settled().await;

    t.fake.staff_writes(chat, None, &max, "/my");
    t.fake.staff_writes(chat, None, &max, "/queue");
    t.fake.staff_writes(chat, None, &max, "/help");
    t.fake.staff_writes(chat, None, &max, "/lead abc");
    t.fake.staff_writes(chat, None, &max, "/frobnicate");
    // Without AI settings nothing mentions AI: `/ai` is unknown, and /help has no line for it.
    t.fake.staff_writes(chat, None, &max, "/ai");
    let fake = t.fake.clone();
    let replies = eventually("six answers in General", || {
        let fake = fake.clone();
        async move {
            let r: Vec<String> = fake
                .general_messages(chat)
                .into_iter()
                .filter(|m| m.from_bot)
                .filter_map(|m| m.content.text_or_caption().map(str::to_string))
                .collect();
            (r.len() == 6).then_some(r)
        }
    })
    .await;
    assert!(replies[0].contains("Your open leads (1)") && replies[0].contains("Bohdan"), "{}", replies[0]);
    assert!(replies[1].contains("Unclaimed leads (1)") && replies[1].contains("Vira"), "{}", replies[1]);
    assert!(replies[2].contains("/queue"), "{}", replies[2]);
    assert!(replies[3].starts_with("Usage: /lead N"), "{}", replies[3]);
    assert!(replies[4].contains("Unknown command /frobnicate"), "{}", replies[4]);
    assert!(replies[5].contains("Unknown command /ai"), "{}", replies[5]);
    assert!(!replies[2].contains("/ai") && !replies[2].contains("AI"), "{}", replies[2]);

    // /lead N posts a fresh card at the bottom of the topic.
    let lead_a = t.lead_of(&a).await.id;
    t.fake.staff_writes(chat, Some(thread_a), &max, &format!("/lead {}", lead_a));
    let store = t.store.clone();
    let new_card = eventually("a new card is posted", || {
        let store = store.clone();
        async move { store.lead(lead_a).await.ok()?.and_then(|l| l.card_message_id).filter(|m| *m != card_a) }
    })
    .await;
    assert!(new_card > card_a);

    // A note stays on the lead and never reaches the customer.
    t.fake.staff_writes(chat, Some(thread_a), &max, "/note prefers a call after 18:00");
    let store = t.store.clone();
    eventually("the note is stored", || {
        let store = store.clone();
        async move {
            store
                .lead_messages(lead_a)
                .await
                .ok()?
                .iter()
                .any(|m| m.direction == Direction::Note && m.body.as_deref() == Some("prefers a call after 18:00"))
                .then_some(())
        }
    })
    .await;
    t.settled().await;
    assert!(t.fake.bot_messages_to(604).is_empty());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claimed_lead_moves_to_its_owners_staff_group() {
    let groups = vec![STAFF, -1001000000002, -1001000000003];
    let t = TestApp::start_with(Opts { groups: groups.clone(), ..Opts::default() }).await;
    let max = t.staff(9401, "Max Petrenko", Role::Manager).await;
    t.store
        .upsert_user(forecourt::domain::TelegramUserId(9401), "Max Petrenko", Role::Manager, Some(groups[2]), 0)
        .await
        .unwrap();
    let c = t.customer(606, "Marta", None);
    t.fake.customer_writes(&c, "hello");
    let (chat, old_thread, card) = t.topic_of(&c).await;
    assert_eq!(chat, groups[0], "unclaimed leads wait in the queue group");
    t.card_shows(chat, card, "Marta").await;
    let cb = t.press(chat, card, &max, "Claim");
    t.callback_answer(&cb).await;
    let store = t.store.clone();
    let lead = t.lead_of(&c).await.id;
    let target = groups[2];
    let (new_chat, new_thread, new_card) = eventually("the topic moves to Max's group", || {
        let store = store.clone();
        async move {
            let l = store.lead(lead).await.ok()??;
            (l.staff_chat_id == Some(target)).then_some(())?;
            Some((l.staff_chat_id?, l.topic_thread_id?, l.card_message_id?))
        }
    })
    .await;
    t.card_shows(new_chat, new_card, "Owner: Max").await;
    let old = t.fake.topics(groups[0]).into_iter().find(|(id, _)| *id == old_thread).unwrap().1;
    assert!(old.closed, "the old topic is closed");
    // The customer's next message goes to the new topic.
    t.fake.customer_writes(&c, "are you there?");
    t.topic_has(new_chat, new_thread, "the message reaches the new topic", |m| {
        m.content.text_or_caption().is_some_and(|x| x.ends_with("are you there?"))
    })
    .await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managers_command_in_a_private_chat_with_the_shared_bot_answers_as_staff_and_opens_no_lead() {
    let t = TestApp::start().await;
    let max = t.staff(9801, "Max Petrenko", Role::Manager).await;
    // A customer's lead exists, so /my and /queue have something to say.
    let olena = t.customer(9802, "Olena", None);
    t.fake.customer_writes(&olena, "Is the RAV4 available?");
    t.topic_of(&olena).await;
    t.fake.customer_writes(&max, "/queue");
    t.fake.customer_writes(&max, "/my");
    t.fake.customer_writes(&max, "just checking");
    t.until("the bot answers Max privately, as staff", |fake| {
        let said: Vec<String> = fake
            .bot_messages_to(max.id)
            .iter()
            .filter_map(|m| m.content.text_or_caption().map(str::to_string))
            .collect();
        said.iter().any(|s| s.contains("Olena"))
            && said.iter().any(|s| s.contains("You have no open leads"))
            && said.iter().any(|s| s.contains("nothing you write here reaches a customer"))
    })
    .await;
    t.settled().await;
    let leads = t.store.lead_ids().await.unwrap();
    assert_eq!(leads.len(), 1, "no lead was opened for the manager");
    let customers: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM customers").fetch_one(t.store.pool()).await.unwrap();
    assert_eq!(customers, 1, "the manager is not a customer");
    t.stop().await;
}
