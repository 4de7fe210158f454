//! `check` from the room is coalesced: one run at a time, and checks that
//! arrive while a run is in progress (or already asked for) join it — no
//! walk of their own — and all get its outcome. Counted in the admin API
//! requests the fake Synapse records.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use synapse_warden::daemon::shared::Control;
use test_support::fake::{Dataset, Db, FakeSynapse, Fault};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::daemon::{Fixture, QUOTA};

const CHECKS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_queued_checks_make_one_walk() {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        - 3_600_000;
    let dataset = Dataset::builder()
        .user("@alice:test", Some("Alice"), &[(t, Some(5 * 1024))])
        .user("@bob:test", Some("Bob"), &[(t, Some(1024))]);
    let fake = FakeSynapse::start(dataset, Db::Sqlite).await;
    let mut f = Fixture::new();
    f.write_policy(&fake.base_url(), fake.admin_token(), QUOTA);
    // No scheduled run in the test's time: every walk is a check's.
    let config = f.edit(|p| p.set("schedule.run_at_start", false));
    let daemon = f.daemon(config);
    let shared = f.shared.lock().unwrap().clone().unwrap();
    let (control, requests) = mpsc::channel(8);
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(daemon.run(requests, shutdown.clone()));

    for round in 0..2 {
        fake.clear_requests();
        // The first walk is slow: the others arrive while it is asked for
        // or in progress, as queued commands do.
        fake.push_faults([Fault::Delay(Duration::from_millis(300))]);
        let mut pending = Vec::new();
        for _ in 0..CHECKS {
            pending.push(shared.check(&control).await.unwrap());
        }
        let joined = pending.iter().filter(|p| p.joined).count();
        assert_eq!(joined, CHECKS - 1, "round {round}: all but the first join");
        let mut outcomes = Vec::new();
        for p in pending {
            outcomes.push(p.outcome.await.unwrap().unwrap());
        }
        assert!(outcomes.iter().all(|o| o == &outcomes[0]), "one outcome");
        assert_eq!(outcomes[0].violations.len(), 1, "{:?}", outcomes[0]);
        assert_eq!(
            fake.requests().len(),
            1,
            "round {round}: one walk (one page) for {CHECKS} checks: {:?}",
            fake.requests()
        );
    }

    // A run asked for directly (as `!stats check` was answered before)
    // still gets its own outcome.
    let (reply, answer) = oneshot::channel();
    control.send(Control::RunNow(reply)).await.unwrap();
    assert!(answer.await.unwrap().is_ok());

    shutdown.cancel();
    running.await.unwrap().unwrap();
    // Once the daemon stopped, a check is refused at once.
    assert!(shared.check(&control).await.is_err());
}
