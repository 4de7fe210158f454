//! A Synapse that answers what no Synapse should: a 500 whose body is ten
//! thousand characters of escapes and bidi overrides, a page whose figures
//! are negative or absurd. Its text reaches the logs, `/ready`, the room
//! and the command line capped and neutralised; its figures stop the run,
//! named, instead of making an alert.

use std::time::{SystemTime, UNIX_EPOCH};

use test_support::fake::{Dataset, Db, FakeSynapse, Fault};

use crate::daemon::{Fixture, QUOTA};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn dataset() -> Dataset {
    let t = now_ms() - 3_600_000;
    Dataset::builder()
        .user("@alice:test", Some("Alice"), &[(t, Some(5 * 1024))])
        .user("@bob:test", Some("Bob"), &[(t, Some(1024))])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_hostile_error_is_capped_and_neutralised_everywhere() {
    let fake = FakeSynapse::start(dataset(), Db::Sqlite).await;
    let mut f = Fixture::new();
    let config = f.write_policy(&fake.base_url(), fake.admin_token(), QUOTA);
    let error = format!("boom\n\u{1b}[31mred\u{202e}gnp.exe\n{}", "x".repeat(10_000));
    let body = serde_json::json!({"errcode": "M_UNKNOWN", "error": error}).to_string();
    fake.faults()
        .set_persistent(Some(Fault::Canned { status: 500, body }));

    // The daemon: the run's error (the logs, `status`, `/ready`).
    let mut daemon = f.daemon(config);
    let failed = daemon.run_once().await.unwrap().expect_err("the run fails");
    let said = failed.to_string();
    assert!(!said.contains(['\n', '\u{1b}', '\u{202e}']), "{said:?}");
    assert!(
        said.chars().count() < 500,
        "{} chars: {said}",
        said.chars().count()
    );
    assert!(
        said.contains(r"boom\n\u{1b}[31mred\u{202e}gnp.exe\nxxx") && said.contains('…'),
        "{said}"
    );
    let state = std::fs::read_to_string(f.state_path()).unwrap();
    assert!(
        !state.contains(&"x".repeat(300)),
        "state.json keeps the whole text"
    );
    for message in f.room.plain() {
        assert!(!message.contains(['\u{1b}', '\u{202e}']), "{message:?}");
    }

    // The command line.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_synapse-warden"))
        .args(["--config", f.policy.to_str().unwrap(), "check"])
        .env_remove("RUST_LOG")
        .env_remove("SYNAPSE_WARDEN_CONFIG")
        .env("NO_COLOR", "1")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Synapse failed (500"), "{stderr}");
    // The logger's own colours aside (`NO_COLOR` where it is honoured),
    // nothing of Synapse's text acts on the terminal.
    assert!(
        !stderr.contains(['\u{202e}', '\r']) && !stderr.contains("\u{1b}[31m"),
        "{stderr:?}"
    );
    assert!(!stderr.contains(&"x".repeat(300)), "{stderr}");
}

/// A users page as Synapse's endpoint has it, with these `(user_id,
/// media_count, media_length)` written as given.
fn page(users: &[(&str, &str, &str)]) -> String {
    let users: Vec<String> = users
        .iter()
        .map(|(id, count, length)| {
            format!(
                r#"{{"user_id":"{id}","displayname":null,"media_count":{count},"media_length":{length}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"users":[{}],"total":{}}}"#,
        users.join(","),
        users.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_or_absurd_sizes_fail_the_run_named_and_alert_nothing() {
    let fake = FakeSynapse::start(dataset(), Db::Sqlite).await;
    let mut f = Fixture::new();
    let config = f.write_policy(&fake.base_url(), fake.admin_token(), QUOTA);
    let mut daemon = f.daemon(config);
    for (users, named) in [
        (
            page(&[
                ("@alice:test", "1", "1024"),
                ("@neg:test", "1", "-5"),
                ("@huge:test", "1", "9223372036854775808"),
            ]),
            ["@neg:test", "media_length -5"],
        ),
        (
            page(&[
                ("@alice:test", "1", "1024"),
                ("@huge:test", "1", "9223372036854775808"),
            ]),
            ["@huge:test", "media_length 9223372036854775808"],
        ),
        (
            page(&[("@alice:test", "-3", "1024")]),
            ["@alice:test", "media_count -3"],
        ),
    ] {
        fake.faults().set_persistent(Some(Fault::Canned {
            status: 200,
            body: users,
        }));
        let failed = daemon.run_once().await.unwrap().expect_err("the run fails");
        let said = failed.to_string();
        for name in named {
            assert!(said.contains(name), "{name}: {said}");
        }
        assert!(said.contains("cannot be right"), "{said}");
    }
    let posted = f.room.plain().join("\n---\n");
    assert!(!posted.contains("NEW"), "an alert was posted:\n{posted}");
    assert!(!posted.contains("@huge:test"), "{posted}");
}
