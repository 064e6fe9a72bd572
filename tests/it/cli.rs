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

#[test]
fn vehicles_are_imported_with_bad_rows_named_and_reimported_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/cli.db", dir.path().display());
    let env = [("DATABASE_URL", db.as_str())];
    let file = dir.path().join("stock.csv");
    std::fs::write(
        &file,
        "vin,stock_number,make,model,trim,year,price,currency,mileage_km,color,status,erp_id\n\
         1M8GDM9AXKP042788,S-1,Toyota,RAV4,Adventure,2019,\"24 500\",USD,48000,white,available,ERP-1\n\
         1M8GDM9A1KP042788,S-2,Kia,Sportage,,2021,27000,EUR,12000,grey,,ERP-2\n\
         BADVIN,S-3,Skoda,Octavia,,2015,9000,EUR,,,,ERP-3\n\
         ,S-4,BMW,X3,,2018,31000.5,EUR,90000,black,sold,ERP-4\n",
    )
    .unwrap();
    let o = forecourt(dir.path(), &["vehicles", "import", file.to_str().unwrap()], &env);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "a refused row makes the exit non-zero: {out}");
    assert!(out.contains("line 4: a VIN has 17 characters"), "{out}");
    assert!(out.contains("line 3: warning: VIN 1M8GDM9A1KP042788"), "{out}");
    assert!(out.contains("3 vehicle(s) added, 0 updated, 1 row(s) refused"), "{out}");

    // The ERP sold the RAV4 and fixed the Skoda's VIN: a re-import updates, never duplicates.
    std::fs::write(
        &file,
        "vin,make,model,year,price,currency,status,erp_id\n\
         1M8GDM9AXKP042788,Toyota,RAV4,2019,23900,USD,sold,ERP-1\n\
         TMBJJ7NE5F0123456,Skoda,Octavia,2015,9000,EUR,,ERP-3\n",
    )
    .unwrap();
    let o = forecourt(dir.path(), &["vehicles", "import", file.to_str().unwrap()], &env);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("1 vehicle(s) added, 1 updated, 0 row(s) refused"), "{}", text(&o));

    let o = forecourt(dir.path(), &["vehicles", "list", "--json"], &env);
    let all: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 4, "{all:?}");
    let rav4 = all.iter().find(|v| v["erp_id"] == "ERP-1").unwrap();
    assert_eq!((rav4["status"].as_str(), rav4["price_minor"].as_i64()), (Some("sold"), Some(2_390_000)));
    assert_eq!(rav4["trim"], "Adventure", "a column the second file lacks keeps its value");
    let bmw = all.iter().find(|v| v["erp_id"] == "ERP-4").unwrap();
    assert_eq!(bmw["price_minor"], 3_100_050, "money is exact");
    let o = forecourt(dir.path(), &["vehicles", "list", "--status", "sold"], &env);
    let listed = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(listed.contains("Toyota RAV4") && listed.contains("BMW X3") && !listed.contains("Kia"), "{listed}");
    assert!(listed.contains("23 900 USD"), "{listed}");
    let o = forecourt(dir.path(), &["vehicles", "search", "toyta 2019", "--json"], &env);
    let found: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(found[0]["erp_id"], "ERP-1", "a misspelled make finds the RAV4: {found}");
    let o = forecourt(dir.path(), &["vehicles", "search", "0123456"], &env);
    assert!(String::from_utf8_lossy(&o.stdout).contains("Skoda Octavia"), "{}", text(&o));
    let o = forecourt(dir.path(), &["vehicles", "list", "--status", "gone"], &env);
    assert!(!o.status.success());
    assert!(text(&o).contains("--status"), "{}", text(&o));
}

#[test]
fn extensions_are_given_listed_and_never_shared() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/cli.db", dir.path().display());
    let env = [("DATABASE_URL", db.as_str())];
    let add = |id: &str, name: &str, ext: &str| {
        forecourt(
            dir.path(),
            &["users", "add", "--telegram-id", id, "--name", name, "--role", "manager", "--extension", ext],
            &env,
        )
    };
    assert!(add("42", "Max Petrenko", "101").status.success());
    let o = add("43", "Oksana Melnyk", "101");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("extension 101 is another staff member's"), "{}", text(&o));
    let o = add("43", "Oksana Melnyk", "1 0 2");
    assert!(!o.status.success() && text(&o).contains("--extension"), "{}", text(&o));
    assert!(add("43", "Oksana Melnyk", "102").status.success());
    let list = text(&forecourt(dir.path(), &["users", "list"], &env));
    assert!(list.contains("101") && list.contains("102"), "{list}");
    // `none` takes it away, and it may be given again.
    assert!(add("42", "Max Petrenko", "none").status.success());
    assert!(add("43", "Oksana Melnyk", "101").status.success());
}

#[test]
fn flows_check_checks_the_call_script_and_names_its_problems() {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(&flows).unwrap();
    for e in std::fs::read_dir(root.join("flows")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), flows.join(e.file_name())).unwrap();
    }
    let o = forecourt(
        dir.path(),
        &["flows", "check", flows.to_str().unwrap(), "--templates", root.join("templates").to_str().unwrap()],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("the call script, version 1"), "{}", text(&o));
    let broken = std::fs::read_to_string(flows.join("call_script.yaml")).unwrap().replace("weight: 3", "weight: 300");
    std::fs::write(flows.join("call_script.yaml"), broken).unwrap();
    let o = forecourt(
        dir.path(),
        &["flows", "check", flows.to_str().unwrap(), "--templates", root.join("templates").to_str().unwrap()],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("weight 300 is not between 1 and 100"), "{}", text(&o));
}

#[test]
fn assignment_settings_are_given_checked_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/cli.db", dir.path().display());
    let env = [("DATABASE_URL", db.as_str())];
    let add = |extra: &[&str]| {
        let mut args = vec!["users", "add", "--telegram-id", "42", "--name", "Max Petrenko", "--role", "manager"];
        args.extend_from_slice(extra);
        forecourt(dir.path(), &args, &env)
    };
    let o = add(&["--hours", "Mon-Fri 09:00-13:00, 14:00-18:00", "--max-open", "30", "--skills", "viber,uk"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(add(&["--leave-until", "2026-12-20"]).status.success());
    let list = text(&forecourt(dir.path(), &["users", "list"], &env));
    assert!(
        list.contains("Max Petrenko: hours Mon-Fri 09:00-13:00, 14:00-18:00 · max open 30 · skills viber,uk · on leave until 2026-12-20"),
        "{list}"
    );
    // Bad values are refused, naming the flag, and change nothing.
    for (flag, bad) in [("--hours", "9 to 5"), ("--max-open", "0"), ("--skills", "vibr0"), ("--leave-until", "20.12")] {
        let o = add(&[flag, bad]);
        assert!(!o.status.success() && text(&o).contains(flag), "{flag}: {}", text(&o));
    }
    // `none` clears each.
    let o = add(&["--hours", "none", "--max-open", "none", "--skills", "none", "--leave-until", "none"]);
    assert!(o.status.success(), "{}", text(&o));
    let list = text(&forecourt(dir.path(), &["users", "list"], &env));
    assert!(!list.contains("assignment settings"), "{list}");
}
