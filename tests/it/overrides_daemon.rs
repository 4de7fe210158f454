//! Overrides in the daemon's runs, against the fake Synapse: while an
//! override is in force its user is judged by its limit; the run after its
//! `until` says once that it ended, and the rule's own limit applies again.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::daemon::{Fixture, QUOTA, count};
use test_support::fake::{Dataset, Db, FakeSynapse};

const KIB: u64 = 1024;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test]
async fn an_override_holds_until_its_end_which_is_announced_once() {
    let t = now_ms() - 3_600_000;
    let dataset = Dataset::builder()
        .user("@alice:test", Some("Alice"), &[(t, Some(5 * KIB))])
        .user("@bob:test", Some("Bob"), &[(t, Some(5 * KIB))]);
    let fake = FakeSynapse::start(dataset, Db::Sqlite).await;
    let mut f = Fixture::new();
    let ends = chrono::DateTime::from_timestamp_millis((now_ms() + 2_500) as i64)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    f.write_policy(&fake.base_url(), fake.admin_token(), QUOTA);
    let config = f.edit(|p| {
        p.set("alerts.repeat_after", "1h").set(
            "overrides",
            serde_json::json!([
                { "users": "@alice:*", "rule": "quota", "max_media_length": "10 KiB",
                  "until": ends, "reason": "moving out" },
                { "users": "@alice:*", "exempt": true },
                { "users": "@bob:*", "max_media_length": "1 MiB", "until": "2020-01-01" },
            ]),
        )
    });
    let mut daemon = f.daemon(config);

    // In force: Alice (5 KiB) is within her 10 KiB; Bob's override ended
    // long ago (never announced: it ended before the first run).
    daemon.run_once().await.unwrap().unwrap();
    let m = f.room.plain();
    assert_eq!(m.len(), 1, "{m:#?}");
    assert!(m[0].contains("NEW warning quota: @bob:test"), "{m:#?}");
    assert!(!m[0].contains("@alice"), "{m:#?}");

    tokio::time::sleep(Duration::from_millis(3_000)).await;
    // Ended: said once. For Alice the first override in force is now the
    // exemption, so she is still not announced.
    daemon.run_once().await.unwrap().unwrap();
    let m = f.room.plain();
    assert_eq!(count(&m, "an override has ended"), 1, "{m:#?}");
    let ended = m
        .iter()
        .find(|l| l.contains("an override has ended"))
        .unwrap();
    assert!(
        ended.contains("overrides[0]: @alice:*, rule quota: 10.0 KiB until")
            && ended.contains("moving out"),
        "{ended}"
    );
    assert!(
        !m.iter()
            .any(|l| l.contains("@alice:test") && l.contains("NEW")),
        "{m:#?}"
    );

    daemon.run_once().await.unwrap().unwrap();
    assert_eq!(count(&f.room.plain(), "an override has ended"), 1);
}
