//! The command line, as an admin uses it.

use std::process::{Command, Output};

fn forecourt(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_forecourt"));
    c.args(args).current_dir(dir).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("the binary runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn a_missing_or_wrong_setting_is_named_in_one_line_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let o = forecourt(dir.path(), &["config", "check"], &[]);
    assert!(!o.status.success());
    assert!(text(&o).contains("FORECOURT_TELEGRAM_TOKEN"), "{}", text(&o));
    let o = forecourt(dir.path(), &["config", "check"], &[("FORECOURT_TELEGRAM_TOKEN", "1:x")]);
    assert!(!o.status.success());
    assert!(text(&o).contains("FORECOURT_STAFF_CHAT_ID"), "{}", text(&o));
    let o = forecourt(dir.path(), &["run"], &[("FORECOURT_TELEGRAM_TOKEN", "1:x"), ("FORECOURT_STAFF_CHAT_ID", "12")]);
    assert!(!o.status.success());
    assert_eq!(text(&o).trim().lines().count(), 1, "{}", text(&o));
    assert!(text(&o).contains("FORECOURT_STAFF_CHAT_ID"), "{}", text(&o));
    let ok = forecourt(
        dir.path(),
        &["config", "check"],
        &[("FORECOURT_TELEGRAM_TOKEN", "1:SECRET"), ("FORECOURT_STAFF_CHAT_ID", "-100,-200")],
    );
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(!text(&ok).contains("SECRET"), "secrets never print");
}

#[test]
fn staff_users_are_added_updated_listed_and_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/cli.db", dir.path().display());
    let env = [("DATABASE_URL", db.as_str())];
    let o = forecourt(
        dir.path(),
        &["users", "add", "--telegram-id", "42", "--name", "Max Petrenko", "--role", "manager"],
        &env,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).starts_with("added"));
    let o = forecourt(
        dir.path(),
        &["users", "add", "--telegram-id", "42", "--name", "Max Petrenko", "--role", "supervisor"],
        &env,
    );
    assert!(text(&o).starts_with("updated"), "{}", text(&o));
    let o = forecourt(dir.path(), &["users", "add", "--telegram-id", "43", "--name", "X", "--role", "owner"], &env);
    assert!(!o.status.success());
    assert!(text(&o).contains("--role"), "{}", text(&o));
    let o = forecourt(dir.path(), &["users", "disable", "--telegram-id", "42"], &env);
    assert!(o.status.success());
    let o = forecourt(dir.path(), &["users", "disable", "--telegram-id", "99"], &env);
    assert_eq!(o.status.code(), Some(2));
    let o = forecourt(dir.path(), &["users", "list"], &env);
    let list = text(&o);
    assert!(list.contains("supervisor") && list.contains("Max Petrenko") && list.contains(" no "), "{list}");
    let o = forecourt(dir.path(), &["jobs"], &env);
    assert!(o.status.success());
    assert!(text(&o).contains("jobs: none"), "{}", text(&o));
    let o = forecourt(dir.path(), &["jobs", "retry", "7"], &env);
    assert_eq!(o.status.code(), Some(2));
}
