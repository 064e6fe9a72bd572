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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_stops_cleanly_on_sigterm() {
    crate::harness::init();
    let fake =
        forecourt::sandbox::telegram::FakeTelegram::start(crate::harness::TOKEN, forecourt::clock::Clock::real())
            .await
            .unwrap();
    fake.add_staff_group(crate::harness::STAFF, "Staff");
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_forecourt"))
        .arg("run")
        .current_dir(dir.path())
        .env("DATABASE_URL", format!("sqlite://{}/t.db", dir.path().display()))
        .env("FORECOURT_TELEGRAM_TOKEN", crate::harness::TOKEN)
        .env("FORECOURT_TELEGRAM_API_URL", fake.url())
        .env("FORECOURT_STAFF_CHAT_ID", crate::harness::STAFF.to_string())
        .env("FORECOURT_HTTP_ADDR", "127.0.0.1:0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until it has asked Telegram for updates (it is up), then ask it to stop.
    let f = fake.clone();
    crate::harness::eventually("the service calls getMe", || {
        let f = f.clone();
        async move { (!f.calls_of("getme").is_empty()).then_some(()) }
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("forecourt run did not stop on SIGTERM");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    fake.stop();
}

#[test]
fn media_gc_removes_only_files_no_row_points_to() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/cli.db", dir.path().display());
    let data = dir.path().join("data");
    let env = [("DATABASE_URL", db.as_str()), ("FORECOURT_DATA_DIR", data.to_str().unwrap())];
    assert!(forecourt(dir.path(), &["migrate"], &env).status.success());
    let media = forecourt::media::MediaStore::new(&data);
    let kept = media.put(b"a photo a customer sent").unwrap();
    let orphan = media.put(b"a file whose row is gone").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = forecourt::store::Store::connect(&db).await.unwrap();
        sqlx::query("INSERT INTO customers (name, created_at, updated_at) VALUES ('A', 0, 0)")
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO media (kind, file_path, sha256, size_bytes, customer_id, status, created_at, updated_at)
             VALUES ('photo', $1, $2, 23, 1, 'ready', 0, 0)",
        )
        .bind(&kept.path)
        .bind(&kept.sha256)
        .execute(store.pool())
        .await
        .unwrap();
        store.close().await;
    });
    let o = forecourt(dir.path(), &["media", "gc"], &env);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("removed 0"), "young files are left alone: {}", text(&o));
    let o = forecourt(dir.path(), &["media", "gc", "--min-age-minutes", "0"], &env);
    assert!(text(&o).contains("removed 1 unreferenced file"), "{}", text(&o));
    assert!(media.path(&kept.path).exists());
    assert!(!media.path(&orphan.path).exists());
}
