//! A rule that catches too much says so (`alerts.too_broad_at`), against
//! the fake: the run's summary and `check` name the rule once, with the
//! numbers, not per user; under the share, or with a higher one, nothing;
//! nor on a handful of users (`check_e2e`: 2 of 7 users say nothing).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::daemon::{Fixture, count};
use test_support::fake::{Dataset, Db, FakeSynapse};

const KIB: u64 = 1024;
const RULES: &str = "  user_media:\n    - name: quota\n      max_media_length: 4 KiB\n    - name: files\n      max_media_count: 10\n";
const SAID: &str = "quota matches 40.0% of users with media (10 of 25): is 4.0 KiB meant?";

/// 25 users with media, ten of them over 4 KiB.
fn dataset() -> Dataset {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        - 3_600_000;
    (0..25).fold(Dataset::builder(), |d, i| {
        let bytes = if i < 10 { 5 * KIB } else { KIB };
        d.user(&format!("@u{i}:test"), None, &[(t, Some(bytes))])
    })
}

async fn check(f: &Fixture) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_synapse-warden"))
        .arg("--config")
        .arg(&f.policy)
        .arg("check")
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_matching_too_many_users_is_questioned_once_in_the_summary_and_check() {
    let fake = FakeSynapse::start(dataset(), Db::Sqlite).await;
    let mut f = Fixture::new();
    f.write_policy(&fake.base_url(), fake.admin_token(), RULES);
    let config = f.edit_policy(|t| t.replace("repeat_after: 2s", "repeat_after: 1h"));

    let mut daemon = f.daemon(config.clone());
    daemon.run_once().await.unwrap().unwrap();
    daemon.run_once().await.unwrap().unwrap();
    let room = f.room.plain();
    assert_eq!(room.len(), 1, "one summary, quiet after: {room:#?}");
    assert_eq!(
        room[0].matches("NEW warning quota").count(),
        10,
        "{room:#?}"
    );
    assert_eq!(room[0].matches(SAID).count(), 1, "{room:#?}");
    assert_eq!(count(&room, "files matches"), 0, "{room:#?}");
    drop(daemon);

    let out = check(&f).await;
    assert_eq!(out.matches(SAID).count(), 1, "{out}");
    assert!(out.contains(&format!("note: {SAID}")), "{out}");

    // A share the rule stays under: nothing said.
    f.edit_policy(|t| t.replace("alerts:\n", "alerts:\n  too_broad_at: 40%\n"));
    let out = check(&f).await;
    assert!(!out.contains("matches"), "{out}");
}
