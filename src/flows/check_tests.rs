//! The file check: every kind of problem an admin can make, reported with file and line.

use super::*;
use crate::flows::files::builtin;
use crate::flows::sample_context;

fn problems_of(files: &Snapshot) -> Vec<String> {
    match check(files) {
        Ok(_) => Vec::new(),
        Err(ps) => ps.iter().map(|p| p.to_string()).collect(),
    }
}

fn with(path: &str, src: &str) -> Snapshot {
    let mut s = builtin();
    s.insert(path.to_string(), src.to_string());
    s
}

fn has(ps: &[String], needle: &str) {
    assert!(ps.iter().any(|p| p.contains(needle)), "no problem containing {needle:?} in:\n{}", ps.join("\n"));
}

const SMALL: &str = "name: small
trigger: first_message
steps:
  - id: hello
    send: {uk: \"Привіт\", en: \"Hi\"}
    next: ask
  - id: ask
    ask: {uk: \"Що?\", en: \"What?\"}
    choices:
      - value: a
        label: {uk: А, en: A}
    next: bye
  - id: bye
    end: true
";

#[test]
fn the_defaults_and_a_small_inline_flow_pass() {
    assert_eq!(problems_of(&builtin()), Vec::<String>::new());
    assert_eq!(problems_of(&with("flows/small.yaml", SMALL)), Vec::<String>::new());
    let c = check(&with("flows/small.yaml", SMALL)).unwrap();
    let (_, f) = c.set.flow("small").unwrap();
    let ctx = sample_context(&c);
    let StepKind::Send { text, .. } = &f.steps[0].kind else { panic!() };
    assert_eq!(c.render(text, "en", &ctx).unwrap(), "Hi");
    assert_eq!(c.render(text, "de", &ctx).unwrap(), "Привіт", "an unknown language falls back to the first");
}

#[test]
fn an_unknown_step_kind_is_reported_with_its_line() {
    let ps = problems_of(&with("flows/small.yaml", &SMALL.replace("    end: true", "    sned: oops")));
    has(&ps, "flows/small.yaml:14:");
    has(&ps, "sned");
}

#[test]
fn a_dangling_next_and_an_unreachable_step_are_reported() {
    let ps = problems_of(&with("flows/small.yaml", &SMALL.replace("next: bye", "next: byee")));
    has(&ps, "flows/small.yaml:7: step 'ask' goes to 'byee', which is not a step of this flow");
    let ps = problems_of(&with("flows/small.yaml", &SMALL.replace("    next: ask\n", "")));
    has(&ps, "flows/small.yaml:6: step 'ask' is unreachable");
    has(&ps, "flows/small.yaml:12: step 'bye' is unreachable");
}

#[test]
fn a_missing_template_and_a_template_syntax_error_are_reported() {
    let ps = problems_of(&with(
        "flows/small.yaml",
        &SMALL.replace("send: {uk: \"Привіт\", en: \"Hi\"}", "send: small/hello"),
    ));
    has(&ps, "flows/small.yaml:4: missing template templates/flows/uk/small/hello.txt");
    has(&ps, "missing template templates/flows/en/small/hello.txt");
    let ps = problems_of(&with("templates/flows/en/welcome/greeting.txt", "Hello\n{% if customer %}{{ customer }"));
    has(&ps, "templates/flows/en/welcome/greeting.txt:2: template syntax error");
    let ps = problems_of(&with("flows/small.yaml", &SMALL.replace("en: \"Hi\"", "en: \"Hi {{ customer \"")));
    has(&ps, "flows/small.yaml:4: template syntax error");
}

#[test]
fn too_many_buttons_for_whatsapp_and_labels_over_its_limits_are_reported() {
    let many: String =
        (0..11).map(|i| format!("      - value: v{i}\n        label: {{uk: В{i}, en: V{i}}}\n")).collect();
    let src = SMALL.replace("      - value: a\n        label: {uk: А, en: A}\n", &many);
    let ps = problems_of(&with("flows/small.yaml", &src));
    has(&ps, "flows/small.yaml:7: step 'ask' (uk): 11 buttons: WhatsApp shows at most 10");
    let src = SMALL.replace("label: {uk: А, en: A}", "label: {uk: А, en: \"A label far too long for WhatsApp\"}");
    let ps = problems_of(&with("flows/small.yaml", &src));
    has(&ps, "WhatsApp button titles take 20");
}

#[test]
fn a_text_over_a_messengers_limit_is_reported() {
    let long = "x".repeat(1100);
    let src = SMALL.replace("ask: {uk: \"Що?\", en: \"What?\"}", &format!("ask: {{uk: \"Що?\", en: \"{long}\"}}"));
    let ps = problems_of(&with("flows/small.yaml", &src));
    has(&ps, "flows/small.yaml:7:");
    has(&ps, "over WhatsApp's 1024 for a message with buttons");
    let ps = problems_of(&with("templates/flows/uk/welcome/greeting.txt", &"я".repeat(5000)));
    has(&ps, "flows/welcome.yaml:8: welcome/greeting (uk): 5000 characters: over Telegram's 4096");
}

#[test]
fn yaml_errors_bad_fields_triggers_and_duplicates_are_reported() {
    let ps = problems_of(&with("flows/small.yaml", "name: x\ntrigger: first_message\nsteps: [\n"));
    has(&ps, "flows/small.yaml:");
    let ps = problems_of(&with("flows/small.yaml", &SMALL.replace("trigger: first_message", "trigger: sometimes")));
    has(&ps, "flows/small.yaml:2:");
    let ps =
        problems_of(&with("flows/small.yaml", &SMALL.replace("    next: bye\n", "    save: phone\n    next: bye\n")));
    has(&ps, "save: 'phone' is not a lead field");
    let ps = problems_of(&with("flows/small.yaml", &SMALL.replace("name: small", "name: welcome")));
    has(&ps, "flow 'welcome' is also defined in");
    let ps = problems_of(&with("flows/small.yaml", &SMALL.replace("id: bye", "id: hello")));
    has(&ps, "step 'hello' is defined twice");
    let src = "name: t\ntrigger:\n  timer: {after: 3 days, stage: waiting}\nsteps:\n  - id: a\n    end: true\n";
    let ps = problems_of(&with("flows/t.yaml", src));
    has(&ps, "timer.after '3 days'");
    has(&ps, "timer.stage 'waiting' is not a stage");
}

#[test]
fn a_loop_without_a_question_and_an_intent_outside_the_list_are_reported() {
    let src = "name: l\ntrigger: {keyword: [loop]}\nsteps:\n  - id: a\n    send: {uk: a, en: a}\n    next: b\n  - id: b\n    branch: language\n    default: a\n";
    has(&problems_of(&with("flows/l.yaml", src)), "is in a loop with no ask");
    let src = SMALL.replace("    next: bye\n", "    save: intent\n    next: bye\n");
    has(&problems_of(&with("flows/small.yaml", &src)), "intent 'a' is not one of buy, sell, service_inquiry, other");
}

#[test]
fn settings_must_exist_and_every_text_must_exist_in_every_language() {
    let mut s = builtin();
    s.remove(SETTINGS);
    has(&problems_of(&s), "flows/settings.yaml: missing");
    let src = SMALL.replace("en: \"Hi\"", "de: \"Hallo\"");
    let ps = problems_of(&with("flows/small.yaml", &src));
    has(&ps, "flows/small.yaml:4: no text in 'en'");
    has(&ps, "'de' is not one of the languages");
    let mut s = builtin();
    s.insert("flows/notes.txt".into(), "hello".into());
    has(&problems_of(&s), "flows/notes.txt: not a flow");
}

#[test]
fn the_readmes_full_example_passes_the_check() {
    let readme = include_str!("../../README.md");
    let start = readme.find("A full example").expect("the README has the example");
    let block = &readme[start..];
    let yaml = block.split("```yaml\n").nth(1).and_then(|b| b.split("\n```").next()).expect("a yaml block");
    let files = with("flows/test_drive.yaml", yaml);
    assert_eq!(problems_of(&files), Vec::<String>::new());
    let c = check(&files).unwrap();
    assert!(c.set.flow("test_drive").is_some());
}
