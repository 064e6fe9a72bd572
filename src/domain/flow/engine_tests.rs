//! Every trigger, every step kind, answers by button and by hand, opt-out, hand-off,
//! cooldowns, timers and conversations that outlive a change of the flows.

use super::*;
use crate::domain::flow::{Choice, Flow, Step, Text, Trigger};

fn text(name: &str) -> Text {
    Text(name.into())
}

fn choice(value: &str, uk: &str, en: &str, also: &[&str]) -> Choice {
    Choice {
        value: value.into(),
        labels: [("uk".to_string(), uk.to_string()), ("en".to_string(), en.to_string())].into(),
        also: also.iter().map(|s| s.to_string()).collect(),
    }
}

fn step(id: &str, kind: StepKind) -> Step {
    Step { id: id.into(), kind }
}

/// welcome: greet(0) → hours(1) → [open] intent(2) → route(3) → car(4) → handoff(5);
///          [closed] night(6) → intent; route: other → handoff.
fn welcome() -> Flow {
    Flow {
        name: "welcome".into(),
        trigger: Trigger::FirstMessage,
        cooldown_ms: None,
        steps: vec![
            step("greet", StepKind::Send { text: text("greet"), next: Some(1) }),
            step(
                "hours",
                StepKind::Branch {
                    on: BranchOn::BusinessHours,
                    cases: vec![("open".into(), 2), ("closed".into(), 6)],
                    default: None,
                },
            ),
            step(
                "intent",
                StepKind::Ask {
                    text: text("ask_intent"),
                    choices: vec![
                        choice("buy", "🚗 Купити", "🚗 Buy", &["купую"]),
                        choice("sell", "💰 Продати", "💰 Sell", &[]),
                        choice("other", "Інше", "Other", &[]),
                    ],
                    save: Some(Field::Intent),
                    next: Some(3),
                },
            ),
            step(
                "route",
                StepKind::Branch {
                    on: BranchOn::Field(Field::Intent),
                    cases: vec![("buy".into(), 4), ("sell".into(), 4)],
                    default: Some(5),
                },
            ),
            step(
                "car",
                StepKind::Ask {
                    text: text("ask_car"),
                    choices: vec![],
                    save: Some(Field::VehicleInterest),
                    next: Some(5),
                },
            ),
            step("handoff", StepKind::Handoff { text: Some(text("handoff")) }),
            step("night", StepKind::Send { text: text("night"), next: Some(2) }),
        ],
    }
}

fn set() -> FlowSet {
    FlowSet {
        flows: vec![
            welcome(),
            Flow {
                name: "prices".into(),
                trigger: Trigger::Keyword(vec!["price".into(), "ціна".into()]),
                cooldown_ms: None,
                steps: vec![step("say", StepKind::Send { text: text("prices"), next: None })],
            },
            Flow {
                name: "after_hours".into(),
                trigger: Trigger::AfterHours,
                cooldown_ms: Some(12 * 3_600_000),
                steps: vec![step("say", StepKind::Handoff { text: Some(text("closed")) })],
            },
            Flow {
                name: "waiting".into(),
                trigger: Trigger::NoStaffReply,
                cooldown_ms: Some(3_600_000),
                steps: vec![step("say", StepKind::Send { text: text("soon"), next: None }), step("x", StepKind::End)],
            },
            Flow {
                name: "day3".into(),
                trigger: Trigger::Timer { after_ms: 3 * 86_400_000, stage: Stage::Contacted, unanswered: true },
                cooldown_ms: None,
                steps: vec![step("say", StepKind::Send { text: text("day3"), next: None })],
            },
        ],
        languages: vec!["uk".into(), "en".into()],
        opt_out_words: vec!["stop".into(), "стоп".into(), "відписатися".into()],
        opt_out_text: Some(text("bye")),
        not_understood: Some(text("again")),
    }
}

struct Lead {
    facts_new: bool,
    staff_replied: bool,
    open: bool,
    automation: bool,
    dnc: bool,
    starts: BTreeMap<String, i64>,
    fields: BTreeMap<Field, String>,
    now: i64,
}

impl Lead {
    fn new() -> Lead {
        Lead {
            facts_new: true,
            staff_replied: false,
            open: true,
            automation: true,
            dnc: false,
            starts: BTreeMap::new(),
            fields: BTreeMap::new(),
            now: 1_000_000,
        }
    }

    fn facts(&self) -> Facts<'_> {
        Facts {
            new_lead: self.facts_new,
            staff_replied: self.staff_replied,
            open_now: self.open,
            automation: self.automation,
            do_not_contact: self.dnc,
            stage: Stage::New,
            language: "uk",
            fields: self.fields.clone(),
            last_starts: &self.starts,
            now: self.now,
            message_age_ms: 0,
        }
    }
}

fn says(o: &Outcome) -> Vec<(usize, usize)> {
    o.actions
        .iter()
        .filter_map(|a| match a {
            Action::Say { flow, step, .. } => Some((*flow, *step)),
            _ => None,
        })
        .collect()
}

fn msg(t: &str) -> Input<'_> {
    Input::Message { text: Some(t), button: None }
}

fn waiting_at(o: &Outcome) -> Option<&str> {
    o.state.as_ref().map(|(_, s)| s.step.as_str())
}

#[test]
fn a_first_message_greets_asks_and_a_button_press_goes_on_to_the_car_question() {
    let s = set();
    let lead = Lead::new();
    let o = advance(&s, None, &lead.facts(), msg("Добрий день"));
    assert_eq!(o.actions[0], Action::Started("welcome".into()));
    assert_eq!(says(&o), vec![(0, 0), (0, 2)], "greeting, then the intent question");
    assert_eq!(waiting_at(&o), Some("intent"));
    assert_eq!(o.steps, 3, "greet, hours branch, ask");

    let (_, st) = o.state.unwrap();
    let o =
        advance(&s, Some((&s, &st)), &lead.facts(), Input::Message { text: Some("🚗 Купити"), button: Some("buy") });
    assert!(o.actions.contains(&Action::Save(Field::Intent, "buy".into())));
    assert_eq!(says(&o), vec![(0, 4)], "what car?");
    assert_eq!(waiting_at(&o), Some("car"));
}

#[test]
fn typing_a_label_a_value_or_an_also_word_is_the_same_as_pressing_the_button() {
    let s = set();
    let lead = Lead::new();
    let st = State { flow: "welcome".into(), step: "intent".into(), misses: 0 };
    for typed in ["Купити", "купити!", "buy", "BUY", "🚗 Buy", "купую"] {
        let o = advance(&s, Some((&s, &st)), &lead.facts(), msg(typed));
        assert!(o.actions.contains(&Action::Save(Field::Intent, "buy".into())), "{typed}: {o:?}");
        assert_eq!(waiting_at(&o), Some("car"), "{typed}");
    }
    let pressed =
        advance(&s, Some((&s, &st)), &lead.facts(), Input::Message { text: Some("🚗 Купити"), button: Some("buy") });
    let typed = advance(&s, Some((&s, &st)), &lead.facts(), msg("Купити"));
    assert_eq!(pressed, typed);
}

#[test]
fn a_free_text_answer_is_saved_and_the_handoff_says_its_text_and_ends() {
    let s = set();
    let mut lead = Lead::new();
    lead.fields.insert(Field::Intent, "buy".into());
    let st = State { flow: "welcome".into(), step: "car".into(), misses: 0 };
    let o = advance(&s, Some((&s, &st)), &lead.facts(), msg("  RAV4 2019, white  "));
    assert_eq!(
        o.actions,
        vec![
            Action::Save(Field::VehicleInterest, "RAV4 2019, white".into()),
            Action::Say { set: Set::Current, flow: 0, step: 5 },
            Action::Handoff
        ]
    );
    assert_eq!(o.state, None);
    // A photo for a typed question keeps the question open.
    let o = advance(&s, Some((&s, &st)), &lead.facts(), Input::Message { text: None, button: None });
    assert_eq!(waiting_at(&o), Some("car"));
    assert!(o.actions.is_empty());
}

#[test]
fn an_answer_matching_no_button_is_asked_again_once_then_kept_as_a_note() {
    let s = set();
    let lead = Lead::new();
    let st = State { flow: "welcome".into(), step: "intent".into(), misses: 0 };
    let o = advance(&s, Some((&s, &st)), &lead.facts(), msg("a blue one please"));
    assert_eq!(o.actions, vec![Action::NotUnderstood { set: Set::Current, flow: 0, step: 2 }]);
    let (_, st) = o.state.unwrap();
    assert_eq!(st.misses, 1);
    let o = advance(&s, Some((&s, &st)), &lead.facts(), msg("just call me"));
    assert_eq!(o.actions[0], Action::Save(Field::Note, "just call me".into()));
    // intent is unset, so the branch's default goes to the hand-off.
    assert!(o.actions.contains(&Action::Handoff));
}

#[test]
fn the_business_hours_branch_takes_the_night_path_when_closed() {
    let s = set();
    let mut lead = Lead::new();
    lead.open = false;
    let o = advance(&s, None, &lead.facts(), msg("hi"));
    assert_eq!(says(&o), vec![(0, 0), (0, 6), (0, 2)], "greeting, night note, intent question");
}

#[test]
fn each_trigger_starts_its_flow_in_order_keyword_first_after_hours_no_reply() {
    let s = set();
    let mut lead = Lead::new();
    // A keyword wins over the first message.
    let o = advance(&s, None, &lead.facts(), msg("What is the price?"));
    assert_eq!(o.actions[0], Action::Started("prices".into()));
    // "price" inside another word is not the keyword.
    let o = advance(&s, None, &lead.facts(), msg("priceless"));
    assert_eq!(o.actions[0], Action::Started("welcome".into()));
    // Not a new lead, outside hours: after-hours.
    lead.facts_new = false;
    lead.open = false;
    let o = advance(&s, None, &lead.facts(), msg("hello?"));
    assert_eq!(
        o.actions,
        vec![
            Action::Started("after_hours".into()),
            Action::Say { set: Set::Active, flow: 2, step: 0 },
            Action::Handoff
        ]
    );
    // In hours, no staff reply yet.
    lead.open = true;
    let o = advance(&s, None, &lead.facts(), msg("hello?"));
    assert_eq!(o.actions[0], Action::Started("waiting".into()));
    // Staff replied: nothing starts.
    lead.staff_replied = true;
    let o = advance(&s, None, &lead.facts(), msg("hello?"));
    assert!(o.actions.is_empty() && o.state.is_none());
}

#[test]
fn a_flow_does_not_start_again_within_its_cooldown() {
    let s = set();
    let mut lead = Lead::new();
    lead.facts_new = false;
    lead.open = false;
    lead.starts.insert("after_hours".into(), lead.now - 3_600_000);
    let o = advance(&s, None, &lead.facts(), msg("hello?"));
    assert_eq!(o.actions[0], Action::Started("waiting".into()), "after-hours cooled down only after 12 h");
    lead.starts.insert("after_hours".into(), lead.now - 13 * 3_600_000);
    let o = advance(&s, None, &lead.facts(), msg("hello?"));
    assert_eq!(o.actions[0], Action::Started("after_hours".into()));
}

#[test]
fn opt_out_words_stop_everything_even_mid_question_and_typed_alone_only() {
    let s = set();
    let lead = Lead::new();
    let st = State { flow: "welcome".into(), step: "car".into(), misses: 0 };
    for w in ["STOP", "стоп", "Відписатися!"] {
        let o = advance(&s, Some((&s, &st)), &lead.facts(), msg(w));
        assert_eq!(o.actions, vec![Action::OptOut], "{w}");
        assert_eq!(o.state, None);
    }
    let o = advance(&s, Some((&s, &st)), &lead.facts(), msg("stop by tomorrow?"));
    assert!(o.actions.contains(&Action::Save(Field::VehicleInterest, "stop by tomorrow?".into())));
}

#[test]
fn a_do_not_contact_customer_or_automation_off_gets_nothing() {
    let s = set();
    let mut lead = Lead::new();
    lead.dnc = true;
    let st = State { flow: "welcome".into(), step: "car".into(), misses: 0 };
    for input in [msg("hi"), msg("stop"), Input::Timer("day3")] {
        let o = advance(&s, Some((&s, &st)), &lead.facts(), input);
        assert!(o.actions.is_empty() && o.state.is_none(), "{input:?}");
    }
    let mut lead = Lead::new();
    lead.automation = false;
    let o = advance(&s, None, &lead.facts(), msg("hi"));
    assert!(o.actions.is_empty());
    // Opting out still works with automation off.
    assert_eq!(advance(&s, None, &lead.facts(), msg("stop")).actions, vec![Action::OptOut]);
    assert!(advance(&s, None, &lead.facts(), Input::Timer("day3")).actions.is_empty());
}

#[test]
fn a_timer_starts_its_flow_and_replaces_an_unanswered_question() {
    let s = set();
    let lead = Lead::new();
    let o = advance(&s, None, &lead.facts(), Input::Timer("day3"));
    assert_eq!(o.actions, vec![Action::Started("day3".into()), Action::Say { set: Set::Active, flow: 4, step: 0 }]);
    let st = State { flow: "welcome".into(), step: "car".into(), misses: 0 };
    let o = advance(&s, Some((&s, &st)), &lead.facts(), Input::Timer("day3"));
    assert_eq!(o.actions[0], Action::Started("day3".into()));
    assert_eq!(o.state, None, "the old question is dropped");
    assert!(advance(&s, None, &lead.facts(), Input::Timer("gone")).actions.is_empty());
}

#[test]
fn timers_are_due_only_in_their_stage_after_the_quiet_time_once_per_silence() {
    let t = Trigger::Timer { after_ms: 3 * 86_400_000, stage: Stage::Contacted, unanswered: true };
    let day = 86_400_000;
    let at = 10 * day;
    assert!(!timer_due(&t, Stage::Contacted, Some(at), false, None, at + 3 * day - 1));
    assert!(timer_due(&t, Stage::Contacted, Some(at), false, None, at + 3 * day));
    assert!(!timer_due(&t, Stage::Qualified, Some(at), false, None, at + 5 * day), "another stage");
    assert!(!timer_due(&t, Stage::Contacted, Some(at), true, None, at + 5 * day), "the customer wrote last");
    assert!(!timer_due(&t, Stage::Contacted, Some(at), false, Some(at + 3 * day), at + 5 * day), "ran already");
    assert!(timer_due(&t, Stage::Contacted, Some(at), false, Some(at - day), at + 5 * day), "ran for an older silence");
    assert!(!timer_due(&t, Stage::Contacted, None, false, None, at));
    assert!(!timer_due(&Trigger::FirstMessage, Stage::Contacted, Some(at), false, None, at + 5 * day));
    let any = Trigger::Timer { after_ms: day, stage: Stage::Contacted, unanswered: false };
    assert!(timer_due(&any, Stage::Contacted, Some(at), true, None, at + day));
}

#[test]
fn a_conversation_continues_in_the_set_it_started_in_and_restarts_if_its_step_is_gone() {
    let old = set();
    let mut new = set();
    new.flows[0].steps[4].id = "which_car".into();
    let lead = Lead { facts_new: false, staff_replied: true, ..Lead::new() };
    let st = State { flow: "welcome".into(), step: "car".into(), misses: 0 };
    let o = advance(&new, Some((&old, &st)), &lead.facts(), msg("Golf"));
    assert!(o.actions.contains(&Action::Save(Field::VehicleInterest, "Golf".into())));
    assert!(o.actions.contains(&Action::Say { set: Set::Current, flow: 0, step: 5 }));
    // The old set's step is gone too: nothing to answer, and no trigger fits.
    let lost = State { flow: "welcome".into(), step: "nowhere".into(), misses: 0 };
    let o = advance(&new, Some((&new, &lost)), &lead.facts(), msg("Golf"));
    assert_eq!(o, Outcome::nothing(None));
}

#[test]
fn a_loop_without_a_question_stops_after_max_steps() {
    let mut s = set();
    s.flows[1].steps = vec![
        step("a", StepKind::Send { text: text("x"), next: Some(1) }),
        step("b", StepKind::Branch { on: BranchOn::Language, cases: vec![], default: Some(0) }),
    ];
    let o = advance(&s, None, &Lead::new().facts(), msg("price"));
    assert_eq!(o.steps, MAX_STEPS);
    assert_eq!(o.state, None);
}

#[test]
fn a_photo_for_a_question_with_buttons_waits_quietly() {
    let s = set();
    let st = State { flow: "welcome".into(), step: "intent".into(), misses: 0 };
    let o = advance(&s, Some((&s, &st)), &Lead::new().facts(), Input::Message { text: None, button: None });
    assert!(o.actions.is_empty());
    assert_eq!(o.state.unwrap().1, st);
}

#[test]
fn a_stale_message_is_left_to_the_staff_but_an_opt_out_counts() {
    let s = set();
    let lead = Lead::new();
    let mut f = lead.facts();
    f.message_age_ms = STALE_MS + 1;
    assert!(advance(&s, None, &f, msg("hi")).actions.is_empty());
    let st = State { flow: "welcome".into(), step: "car".into(), misses: 0 };
    let o = advance(&s, Some((&s, &st)), &f, msg("Golf"));
    assert!(o.actions.is_empty());
    assert_eq!(o.state.unwrap().1, st, "the question stays open");
    assert_eq!(advance(&s, None, &f, msg("stop")).actions, vec![Action::OptOut]);
    f.message_age_ms = STALE_MS;
    assert!(!advance(&s, None, &f, msg("hi")).actions.is_empty());
}

#[test]
fn after_a_long_pause_only_the_latest_due_follow_up_speaks() {
    let mut s = set();
    let mut day7 = s.flows[4].clone();
    day7.name = "day7".into();
    day7.trigger = Trigger::Timer { after_ms: 7 * 86_400_000, stage: Stage::Contacted, unanswered: true };
    s.flows.push(day7);
    let day = 86_400_000;
    let none = BTreeMap::new();
    let (speak, due) = due_timers(&s, Stage::Contacted, Some(0), false, &none, 4 * day).unwrap();
    assert_eq!((speak.name.as_str(), due), ("day3", vec!["day3"]));
    let (speak, due) = due_timers(&s, Stage::Contacted, Some(0), false, &none, 8 * day).unwrap();
    assert_eq!((speak.name.as_str(), due), ("day7", vec!["day3", "day7"]));
    let ran: BTreeMap<String, i64> = [("day3".to_string(), 3 * day)].into();
    let (speak, due) = due_timers(&s, Stage::Contacted, Some(0), false, &ran, 8 * day).unwrap();
    assert_eq!((speak.name.as_str(), due), ("day7", vec!["day7"]));
    assert!(due_timers(&s, Stage::Contacted, Some(0), true, &none, 8 * day).is_none(), "the customer wrote last");
    assert!(due_timers(&s, Stage::Contacted, Some(0), false, &none, 2 * day).is_none());
}
