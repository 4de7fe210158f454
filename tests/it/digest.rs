//! The digest (`digest.cron`) through the daemon on the fake Synapse: it
//! is due at its cron time, posted once with its chart, not again after a
//! restart, and a crash after the text went out (the chart not yet) posts
//! neither twice.
//!
//! The daemon's clock is real for the runs (the history records them as
//! they happen); the digest's due times are given to
//! `Daemon::digest_if_due` as the daemon loop does with the wall clock.

use std::time::Duration;

use chrono::{Datelike, TimeZone, Utc};
use synapse_warden::history::History;
use test_support::fake::{Dataset, Db, FakeSynapse};

use crate::daemon::{Fixture, QUOTA};
use crate::trend_e2e::png_size;

const DAY: u64 = 86_400_000;

/// The first Monday 09:00 UTC after `ms`.
pub fn next_monday_9(ms: u64) -> u64 {
    let t = Utc.timestamp_millis_opt(ms as i64).unwrap();
    (0..=7)
        .map(|d| t.date_naive() + chrono::Duration::days(d))
        .filter(|day| day.weekday() == chrono::Weekday::Mon)
        .map(|day| {
            day.and_hms_opt(9, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_millis() as u64
        })
        .find(|&at| at > ms)
        .unwrap()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Messages of the room that are digests, with their transaction IDs.
fn digests(f: &Fixture) -> Vec<(String, String)> {
    f.room
        .messages
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, m)| m.plain.starts_with("synapse-warden summary"))
        .map(|(t, m)| (t.clone(), m.plain.clone()))
        .collect()
}

fn images(f: &Fixture) -> Vec<(String, (u32, u32))> {
    f.room
        .images
        .lock()
        .unwrap()
        .iter()
        .map(|(t, (w, h, bytes))| {
            assert_eq!(png_size(bytes), (*w, *h), "the PNG is as large as it says");
            (t.clone(), (*w, *h))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_is_posted_once_per_due_time_with_its_chart_across_restarts() {
    let t = now_ms() - 3_600_000;
    let dataset = Dataset::builder()
        .user("@alice:test", Some("Alice"), &[(t, Some(5 * 1024))])
        .user("@bob:test", None, &[(t, Some(1024))]);
    let fake = FakeSynapse::start(dataset, Db::Sqlite).await;
    // Three rooms, one that no local user is in any more.
    fake.set_room_list(vec![
        test_support::fake::FakeRoom::new("!a:test", 30, 4, 2),
        test_support::fake::FakeRoom::new("!b:test", 20, 3, 0),
        test_support::fake::FakeRoom::new("!c:test", 10, 1, 1),
    ]);
    let mut f = Fixture::new();
    f.write_policy(&fake.base_url(), fake.admin_token(), QUOTA);
    let config = f.edit(|p| p.set("digest.cron", "0 9 * * 1"));
    let file = f.dir.path().join("history.sqlite3");

    let mut daemon = f.daemon(config.clone());
    daemon.set_history(History::new(file.clone()));
    // The digest starts now: nothing is due yet, whatever the weekday.
    let start = now_ms();
    assert_eq!(daemon.digest_if_due(start).await.unwrap(), None);
    // Two runs with an upload between: alice's violation opens, bob grows.
    daemon.run_once().await.unwrap().unwrap();
    fake.add_media("@bob:test", &[(now_ms(), Some(3 * 1024))]);
    tokio::time::sleep(Duration::from_millis(20)).await;
    daemon.run_once().await.unwrap().unwrap();
    assert_eq!(digests(&f), Vec::new());

    let due = next_monday_9(start);
    assert_eq!(daemon.digest_if_due(due - 1).await.unwrap(), None);
    assert_eq!(daemon.digest_if_due(due + 60_000).await.unwrap(), Some(due));
    let posted = digests(&f);
    assert_eq!(posted.len(), 1, "{posted:#?}");
    let (txn, text) = &posted[0];
    for expected in [
        "violations: 1 opened, 0 closed, 1 open now",
        "quota: 1 opened, 0 closed",
        "Top growers (stored bytes, after deletions):",
        "1. @bob:test — +3.0 KiB, 1.0 KiB → 4.0 KiB",
        // Two runs seconds apart: no daily rate from that.
        "growth: needs ",
        "3 rooms on the server, 1 without a local member (`rooms abandoned`)",
    ] {
        assert!(text.contains(expected), "{expected:?} not in\n{text}");
    }
    assert_eq!(images(&f), vec![(format!("{txn}-chart"), (1200, 720))]);

    // Later the same day, and after a restart: not again.
    assert_eq!(daemon.digest_if_due(due + 3_600_000).await.unwrap(), None);
    drop(daemon);
    let mut daemon = f.daemon(config.clone());
    daemon.set_history(History::new(file.clone()));
    assert_eq!(daemon.digest_if_due(due + 7_200_000).await.unwrap(), None);
    assert_eq!((digests(&f).len(), images(&f).len()), (1, 1));

    // The next week's, with the chart refused after the text went out (as
    // a crash right after posting leaves it): still queued, and after a
    // restart both go out, the text once.
    f.room.images_down.lock().unwrap().clone_from(&true);
    let week = due + 7 * DAY;
    assert_eq!(daemon.digest_if_due(week).await.unwrap(), Some(week));
    assert_eq!((digests(&f).len(), images(&f).len()), (2, 1));
    drop(daemon);
    f.room.images_down.lock().unwrap().clone_from(&false);
    let mut daemon = f.daemon(config.clone());
    daemon.set_history(History::new(file));
    assert_eq!(daemon.digest_if_due(week + 60_000).await.unwrap(), None);
    daemon.run_once().await.unwrap().unwrap();
    let posted = digests(&f);
    assert_eq!(posted.len(), 2, "{posted:#?}");
    assert!(
        posted[1]
            .1
            .contains("violations: 0 opened, 0 closed, 1 open now"),
        "{}",
        posted[1].1
    );
    assert_eq!(
        images(&f)
            .iter()
            .map(|(t, _)| t.clone())
            .collect::<Vec<_>>(),
        vec![
            format!("{}-chart", posted[0].0),
            format!("{}-chart", posted[1].0)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_digest_in_the_policy_nothing_is_due_or_counted() {
    let t = now_ms() - 3_600_000;
    let dataset = Dataset::builder().user("@alice:test", None, &[(t, Some(5 * 1024))]);
    let fake = FakeSynapse::start(dataset, Db::Sqlite).await;
    let mut f = Fixture::new();
    let config = f.write_policy(&fake.base_url(), fake.admin_token(), QUOTA);
    let mut daemon = f.daemon(config);
    daemon.run_once().await.unwrap().unwrap();
    let now = now_ms();
    assert_eq!(daemon.digest_if_due(now).await.unwrap(), None);
    assert_eq!(daemon.digest_if_due(now + 30 * DAY).await.unwrap(), None);
    assert_eq!(digests(&f), Vec::new());
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f.state_path()).unwrap()).unwrap();
    assert_eq!(state["digest"]["settled_ms"], serde_json::Value::Null);
}
