//! The admin room unreachable for many runs: the outbox stays bounded, and
//! when the room is back one message says the latest state of each alert
//! the waiting summaries announced (open ones as they are now, resolved
//! ones as resolved) and how many other messages were dropped, instead of
//! every summary and notice in turn.

use std::time::{SystemTime, UNIX_EPOCH};

use synapse_warden::core::alerting::delivery::OUTBOX_CAP;
use synapse_warden::daemon::state::DaemonState;

use crate::daemon::{Fixture, QUOTA, count};
use test_support::fake::{self, Dataset, Db, FakeSynapse};

const KIB: u64 = 1024;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn set_usage(fake: &FakeSynapse, user: &str, bytes: u64) {
    assert!(fake.remove_user(user));
    fake.insert_user(fake::FakeUser {
        user_id: user.to_owned(),
        displayname: None,
        media: vec![(now_ms() - 60_000, Some(bytes))],
    });
}

fn state(f: &Fixture) -> DaemonState {
    let text = std::fs::read_to_string(f.state_path()).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("state.json: {e}\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_outage_of_the_room_posts_one_collapsed_message() {
    let t = now_ms() - 3_600_000;
    let fake = FakeSynapse::start(
        Dataset::builder()
            .user("@alice:test", None, &[(t, Some(5 * KIB))])
            .user("@bob:test", None, &[(t, Some(KIB))]),
        Db::Sqlite,
    )
    .await;
    let mut f = Fixture::new();
    f.write_policy(&fake.base_url(), fake.admin_token(), QUOTA);
    let config = f.edit(|p| p.set("alerts.repeat_after", "1h"));
    f.room.set_down(true);
    let mut daemon = f.daemon(config);
    // Alice over, then Bob too, then Alice back under, each a summary.
    daemon.run_once().await.unwrap().unwrap();
    set_usage(&fake, "@bob:test", 8 * KIB);
    daemon.run_once().await.unwrap().unwrap();
    set_usage(&fake, "@alice:test", KIB);
    daemon.run_once().await.unwrap().unwrap();
    // Many other messages meanwhile: refused reloads.
    let good = std::fs::read_to_string(&f.policy).unwrap();
    std::fs::write(&f.policy, "rules: [").unwrap();
    for _ in 0..OUTBOX_CAP + 10 {
        assert!(daemon.reload().await.unwrap().is_err());
    }
    std::fs::write(&f.policy, good).unwrap();
    let queued = state(&f).alerts.outbox;
    assert!(queued.len() <= OUTBOX_CAP, "{}", queued.len());
    assert!(f.room.plain().is_empty());

    f.room.set_down(false);
    daemon.run_once().await.unwrap().unwrap();
    let m = f.room.plain();
    assert!(m.len() <= OUTBOX_CAP, "{}: {m:#?}", m.len());
    let unreachable = "while the homeserver was unreachable, 3 run summaries waited";
    assert_eq!(count(&m, unreachable), 1, "{m:#?}");
    let collapsed = m.iter().find(|s| s.contains(unreachable)).unwrap();
    assert!(
        collapsed.contains("STILL OPEN warning quota: @bob:test"),
        "{collapsed}"
    );
    assert!(
        collapsed.contains("RESOLVED quota: @alice:test"),
        "{collapsed}"
    );
    assert!(
        !collapsed.contains("@alice:test (") && !collapsed.contains("NEW"),
        "{collapsed}"
    );
    assert!(collapsed.contains("were dropped"), "{collapsed}");
    // Each summary was not posted on its own.
    assert_eq!(count(&m, "NEW warning quota"), 0, "{m:#?}");
    assert!(state(&f).alerts.outbox.is_empty());
    // Reacting to it acknowledges Bob's alert: its keys are his.
    let after = state(&f);
    let posted = after.alerts.posted.last().unwrap();
    assert_eq!(posted.keys.len(), 1, "{posted:#?}");
    assert_eq!(posted.keys[0].1, "@bob:test");
}
