//! The daemon against the fake Synapse's faults: fast, and each failure
//! exactly as chosen.
//!
//! For each way Synapse can fail a run — down (connections refused), 500s,
//! 429s, slower than `synapse.timeout`, malformed JSON — a run fails, one
//! "cannot check the policies" notice is posted however many runs fail (a
//! restart of the daemon during the outage included), the alert announced
//! before the outage is neither repeated nor resolved during it, and the
//! first good run posts one "Synapse answers again" and carries on with the
//! same alert state (an escalation, not a new alert).
//!
//! Room sizes failing (Synapse's 500 on PostgreSQL) are one notice per
//! outage, media rules alert meanwhile, room alerts open before the outage
//! are kept, and "room sizes are available again" is said once per outage.
//! A refused reload keeps the rules in force.
//!
//! A walk cut short (Synapse's token stuck at 80 of 120 users, every time)
//! is a partial run: a new violation among the users seen is announced,
//! marked partial; violators past the cut-off stay open and unannounced
//! (neither resolved nor reminded), even when they are in fact gone; the
//! condition is said once when it starts and once when it ends; and the
//! first complete run resolves what is gone. `synapse-warden check` against
//! the same server exits 2 naming the cause.
//!
//! `synapse-warden run` stops on SIGTERM within 10 s in the middle of a
//! walk Synapse is slow to answer. A second `run` on the same data
//! directory exits at once, naming it and the first daemon's PID, while the
//! first goes on answering.
//!
//! The fixture's clients never retry ([`RetryPolicy::none`]): one fault
//! fails one run.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use synapse_warden::core::policy::Config;
use synapse_warden::daemon::service::Daemon;
use synapse_warden::daemon::state::DaemonState;
use synapse_warden::synapse::RetryPolicy;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use crate::daemon::{Fixture, QUOTA, count};
use test_support::fake::{self, Dataset, Db, FakeSynapse, Fault, RoomsMode};
use test_support::policy::{Policy, SecretAt};
use test_support::synapse::{Backend, SynapseHarness};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// Failing runs per outage; the daemon is restarted after the second.
const FAILING_RUNS: usize = 3;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Alice is over the 4 KiB quota (5 KiB), Bob is not (1 KiB).
fn dataset() -> Dataset {
    let t = now_ms() - 3_600_000;
    Dataset::builder()
        .user("@alice:test", Some("Alice"), &[(t, Some(5 * KIB))])
        .user("@bob:test", Some("Bob"), &[(t, Some(KIB))])
}

/// The fixture's policy with reminders far away (so any "STILL OPEN" is a
/// repeat) and a request timeout of 1 s (a `Fault::Delay` of a minute is
/// far beyond it).
fn policy(f: &mut Fixture, fake: &FakeSynapse, rules: &str) -> Config {
    f.write_policy(&fake.base_url(), fake.admin_token(), rules);
    f.edit(|p| {
        p.set("alerts.repeat_after", "1h")
            .set("synapse.timeout", "1s")
    })
}

fn state(f: &Fixture) -> DaemonState {
    let text = std::fs::read_to_string(f.state_path()).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("state.json: {e}\n{text}"))
}

/// How Synapse fails during the outage.
#[derive(Debug, Clone, Copy)]
enum Failure {
    /// The server is down: connections are refused.
    Down,
    /// `500 Internal server error`.
    Status500,
    /// `429 M_LIMIT_EXCEEDED` with a minute's `retry_after_ms`.
    RateLimited,
    /// The answer comes a minute late, far beyond `synapse.timeout` (1 s).
    Slow,
    /// `200` with truncated JSON.
    MalformedJson,
}

impl Failure {
    /// The fault the fake injects into one request, if the failure is one.
    fn fault(self) -> Option<Fault> {
        match self {
            Failure::Down => None,
            Failure::Status500 => Some(Fault::Status500),
            Failure::RateLimited => Some(Fault::RateLimited {
                retry_after_ms: 60_000,
            }),
            Failure::Slow => Some(Fault::Delay(Duration::from_secs(60))),
            Failure::MalformedJson => Some(Fault::MalformedJson),
        }
    }

    /// What the notice says of the cause.
    fn cause(self) -> &'static str {
        match self {
            Failure::Down => "cannot reach Synapse",
            Failure::Status500 => "Synapse failed (500",
            Failure::RateLimited => "Synapse is rate limiting us (429",
            Failure::Slow => "no complete answer from Synapse within 1s",
            Failure::MalformedJson => "malformed answer from Synapse",
        }
    }
}

/// Prepares one failing run: queues enough faults to exhaust the client's
/// attempts (one, as the fixture never retries).
fn arm(fake: &FakeSynapse, failure: Failure) {
    if let Some(fault) = failure.fault() {
        let attempts = RetryPolicy::none().max_attempts as usize;
        fake.push_faults(std::iter::repeat_n(fault, attempts));
    }
}

async fn failing_run(daemon: &mut Daemon, fake: &FakeSynapse, failure: Failure) {
    arm(fake, failure);
    let error = daemon
        .run_once()
        .await
        .unwrap()
        .expect_err("the run fails while Synapse fails");
    assert!(
        error.to_string().contains(failure.cause()),
        "{failure:?}: {error}"
    );
    assert_eq!(fake.faults().pending(), 0, "one fault per failing run");
}

/// The whole scenario for one kind of failure; see the module docs.
async fn outage_and_recovery(failure: Failure) {
    let mut fake = FakeSynapse::start(dataset(), Db::Sqlite).await;
    let mut f = Fixture::new();
    let config = policy(&mut f, &fake, QUOTA);

    let mut daemon = f.daemon(config.clone());
    daemon.run_once().await.unwrap().unwrap();
    let m = f.room.plain();
    assert_eq!(m.len(), 1, "{m:#?}");
    assert!(m[0].contains("NEW warning quota: @alice:test"), "{m:#?}");

    if let Failure::Down = failure {
        fake.stop().await;
    }
    for run in 0..FAILING_RUNS {
        if run == 2 {
            // A restart during the outage remembers it.
            drop(daemon);
            daemon = f.daemon(config.clone());
        }
        failing_run(&mut daemon, &fake, failure).await;
    }
    let m = f.room.plain();
    assert_eq!(m.len(), 2, "{failure:?}: {m:#?}");
    assert_eq!(count(&m, "cannot check the policies"), 1, "{m:#?}");
    assert!(m[1].contains(failure.cause()), "{failure:?}: {}", m[1]);
    // Nothing of the alert was lost or changed by the outage.
    let during = state(&f);
    assert!(during.conditions.synapse_outage.is_some());
    assert_eq!(during.alerts.active.len(), 1, "{during:#?}");
    assert!(
        during.alerts.outbox.is_empty(),
        "everything was delivered: {during:#?}"
    );

    if let Failure::Down = failure {
        fake.restart().await;
    }
    daemon.run_once().await.unwrap().unwrap();
    let m = f.room.plain();
    assert_eq!(m.len(), 3, "{failure:?}: {m:#?}");
    assert!(m[2].contains("Synapse answers again"), "{m:#?}");
    assert_eq!(count(&m, "NEW"), 1, "{m:#?}");
    assert_eq!(count(&m, "STILL OPEN"), 0, "{m:#?}");
    assert_eq!(count(&m, "RESOLVED"), 0, "{m:#?}");
    assert!(state(&f).conditions.synapse_outage.is_none());

    // Quiet again, and the lifecycle goes on where it was: Alice's usage
    // grows by more than half, an escalation of the same alert.
    daemon.run_once().await.unwrap().unwrap();
    assert_eq!(f.room.plain().len(), 3, "{:#?}", f.room.plain());
    fake.add_media("@alice:test", &[(now_ms(), Some(4 * KIB))]);
    daemon.run_once().await.unwrap().unwrap();
    let m = f.room.plain();
    assert_eq!(m.len(), 4, "{m:#?}");
    assert!(
        m[3].contains("ESCALATED warning quota: @alice:test"),
        "{m:#?}"
    );
    assert_eq!(count(&m, "NEW"), 1, "{m:#?}");
    assert_eq!(count(&m, "Synapse answers again"), 1, "{m:#?}");
}

/// Synapse down (connections refused), then back on the same port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_synapse_down() {
    outage_and_recovery(Failure::Down).await;
}

/// Every attempt of a run answered with 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_synapse_500() {
    outage_and_recovery(Failure::Status500).await;
}

/// Every attempt of a run rate-limited (429).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_synapse_429() {
    outage_and_recovery(Failure::RateLimited).await;
}

/// Every attempt answered a minute late, beyond the 1 s request timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_synapse_slower_than_the_timeout() {
    outage_and_recovery(Failure::Slow).await;
}

/// Every attempt answered with truncated JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_synapse_malformed_json() {
    outage_and_recovery(Failure::MalformedJson).await;
}

/// Room sizes failing on PostgreSQL (Synapse's known 500): one notice per
/// outage and one "available again" per recovery; media rules alert
/// meanwhile; a room alert open before the second outage is neither
/// resolved during it nor announced again after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_500_is_one_notice_per_outage_and_media_rules_keep_alerting() {
    let fake = FakeSynapse::start(dataset(), Db::Postgres).await;
    let mut f = Fixture::new();
    let rules = format!(
        "{QUOTA}  rooms:\n    - name: big-rooms\n      description: Rooms may take 1 MiB.\n      max_estimated_size: 1 MiB\n"
    );
    let config = policy(&mut f, &fake, &rules);
    let rooms = RoomsMode::Ok(vec![
        ("!big:test".to_owned(), 2 * MIB),
        ("!small:test".to_owned(), 10 * KIB),
    ]);
    const FAILING: &str = "room size limits could not be checked";
    const BACK: &str = "room sizes are available again";

    // A fresh PostgreSQL Synapse: rooms 500, media rules still alert.
    let mut daemon = f.daemon(config.clone());
    daemon.run_once().await.unwrap().unwrap();
    daemon.run_once().await.unwrap().unwrap();
    let m = f.room.plain();
    assert_eq!(m.len(), 2, "{m:#?}");
    assert_eq!(count(&m, FAILING), 1, "{m:#?}");
    assert!(m[0].contains("Internal server error"), "{m:#?}");
    assert_eq!(count(&m, "NEW warning quota: @alice:test"), 1, "{m:#?}");
    assert!(state(&f).conditions.rooms_outage.is_some());

    // Room sizes come back: said once, and the big room alerts.
    fake.set_rooms(rooms.clone());
    daemon.run_once().await.unwrap().unwrap();
    daemon.run_once().await.unwrap().unwrap();
    let m = f.room.plain();
    assert_eq!(m.len(), 4, "{m:#?}");
    assert!(m[2].contains(BACK), "{m:#?}");
    assert!(
        m[3].contains("NEW warning big-rooms: room !big:test"),
        "{m:#?}"
    );
    assert!(!m[3].contains("!small:test"), "{m:#?}");

    // A second outage, across a restart: one more notice; media rules
    // still alert (Alice grows: escalated); the room alert is kept.
    fake.set_rooms(RoomsMode::InternalError);
    daemon.run_once().await.unwrap().unwrap();
    drop(daemon);
    let mut daemon = f.daemon(config.clone());
    fake.add_media("@alice:test", &[(now_ms(), Some(4 * KIB))]);
    daemon.run_once().await.unwrap().unwrap();
    daemon.run_once().await.unwrap().unwrap();
    let m = f.room.plain();
    assert_eq!(m.len(), 6, "{m:#?}");
    assert!(m[4].contains(FAILING), "{m:#?}");
    assert!(
        m[5].contains("ESCALATED warning quota: @alice:test"),
        "{m:#?}"
    );
    assert_eq!(count(&m, "RESOLVED"), 0, "{m:#?}");
    let during = state(&f);
    assert!(
        during
            .alerts
            .active
            .keys()
            .any(|(rule, subject)| &**rule == "big-rooms" && subject == "!big:test"),
        "the room alert is kept while rooms cannot be checked: {during:#?}"
    );

    // Back again: said once; the big room is still the same open alert.
    fake.set_rooms(rooms);
    daemon.run_once().await.unwrap().unwrap();
    daemon.run_once().await.unwrap().unwrap();
    let m = f.room.plain();
    assert_eq!(m.len(), 7, "{m:#?}");
    assert!(m[6].contains(BACK), "{m:#?}");
    assert_eq!(count(&m, FAILING), 2, "{m:#?}");
    assert_eq!(count(&m, BACK), 2, "{m:#?}");
    assert_eq!(count(&m, "big-rooms: room !big:test"), 1, "{m:#?}");
    assert!(state(&f).conditions.rooms_outage.is_none());
}

/// A policy file with an error on reload: refused with its line and column,
/// and the rules in force stay so (the alert is neither resolved nor
/// repeated, and still escalates); a good file then takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reload_keeps_the_rules_in_force() {
    let fake = FakeSynapse::start(dataset(), Db::Sqlite).await;
    let mut f = Fixture::new();
    let config = policy(&mut f, &fake, QUOTA);
    let mut daemon = f.daemon(config);
    daemon.run_once().await.unwrap().unwrap();

    // The limit raised to 1 MiB, but misspelt: refused.
    let good = std::fs::read_to_string(&f.policy).unwrap();
    f.edit_policy(|t| t.replace("max_media_length: 4 KiB", "max_media_length: 1 MiB"));
    let raised = std::fs::read_to_string(&f.policy).unwrap();
    std::fs::write(
        &f.policy,
        raised.replace("max_media_length", "max_media_lenght"),
    )
    .unwrap();
    let errors = daemon.reload().await.unwrap().expect_err("refused");
    assert!(errors.contains("policies.yaml:"), "{errors}");
    daemon.run_once().await.unwrap().unwrap();
    fake.add_media("@alice:test", &[(now_ms(), Some(4 * KIB))]);
    daemon.run_once().await.unwrap().unwrap();
    let m = f.room.plain();
    assert_eq!(m.len(), 3, "{m:#?}");
    assert!(m[1].contains("reload refused"), "{m:#?}");
    assert!(m[1].contains("did you mean `max_media_length`?"), "{m:#?}");
    assert!(
        m[2].contains("ESCALATED warning quota: @alice:test"),
        "the old 4 KiB limit is still in force: {m:#?}"
    );

    // The corrected file is taken: the alert is resolved.
    std::fs::write(&f.policy, &raised).unwrap();
    assert_ne!(raised, good);
    daemon.reload().await.unwrap().unwrap();
    daemon.run_once().await.unwrap().unwrap();
    let m = f.room.plain();
    assert!(m[3].contains("reloaded"), "{m:#?}");
    assert!(
        m[4].contains("RESOLVED") && m[4].contains("@alice:test"),
        "{m:#?}"
    );
    assert_eq!(m.len(), 5, "{m:#?}");
}

/// `synapse-warden run` gets SIGTERM in the middle of a walk that Synapse
/// (the fake) answers only after a minute, with its bot connected to a real
/// Synapse and syncing: it abandons the run, saves its state and exits with
/// success in under 10 s; the state file is whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_slow_walk_exits_cleanly_within_10_s() {
    let h = SynapseHarness::start(Backend::Sqlite).await.unwrap();
    let admin = h.register("admin", "admin-password", true).await.unwrap();
    let bot = h.register("warden", "bot-password", false).await.unwrap();
    let room_id = h
        .create_room(&admin, "Synapse admins", false, &[&bot.user_id])
        .await
        .unwrap();
    let fake = FakeSynapse::start(dataset(), Db::Sqlite).await;
    fake.push_faults([Fault::Delay(Duration::from_secs(60))]);

    let mut run = Run::start(&fake, h.base_url().as_str(), &bot.user_id, &room_id);

    // The walk has started (its first request waits at the fake) and the
    // bot is in the room, syncing.
    let joined_path = format!("/_matrix/client/v3/rooms/{room_id}/joined_members");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, joined) = h.get_json(&admin, &joined_path).await.unwrap();
        let bot_joined = joined["joined"].get(&bot.user_id).is_some();
        if bot_joined && !fake.requests().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the walk or the bot never started (requests: {:?}, bot joined: {bot_joined})\n{}",
            fake.requests(),
            run.log()
        );
        assert!(
            run.child.try_wait().unwrap().is_none(),
            "synapse-warden exited\n{}",
            run.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fake.requests().len(), 1, "the walk is still waiting");

    let stopping = Instant::now();
    run.signal(libc::SIGTERM);
    let status = tokio::time::timeout(Duration::from_secs(10), run.child.wait()).await;
    let took = stopping.elapsed();
    let log = run.log();
    let status = status
        .unwrap_or_else(|_| panic!("still running 10 s after SIGTERM\n{log}"))
        .unwrap();
    assert!(status.success(), "{status} after {took:?}\n{log}");
    assert!(
        log.contains("the run in progress is abandoned") && log.contains("state saved"),
        "{log}"
    );
    assert!(
        !log.contains("bot-password") && !log.contains("a store passphrase"),
        "a secret in the log"
    );
    // The daemon logs its next run with its weekday, in UTC.
    let next = log
        .lines()
        .find(|l| l.contains("next run") && l.contains("schedule"))
        .unwrap_or_else(|| panic!("no next run in the log\n{log}"));
    let now = chrono::Utc::now();
    let day = |t: chrono::DateTime<chrono::Utc>| t.format("%a %Y-%m-%d").to_string();
    assert!(
        (next.contains(&day(now)) || next.contains(&day(now - chrono::Duration::days(1))))
            && next.contains(" UTC"),
        "{next}"
    );

    let text = std::fs::read_to_string(run.data_dir().join("state.json")).unwrap();
    let state: DaemonState =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("state.json: {e}\n{text}"));
    assert!(
        state.last_run.is_none(),
        "the abandoned run left nothing: {state:#?}"
    );
}

/// `synapse-warden run` as a child process, with its files in a temporary
/// directory; killed if still running when dropped.
struct Run {
    dir: tempfile::TempDir,
    child: Child,
    /// Where `/health` is served.
    listen: std::net::SocketAddr,
    /// `matrix.data_dir`.
    data: PathBuf,
}

impl Run {
    /// Runs with `synapse.url` at the fake and the bot's `matrix` section
    /// at `homeserver`: hourly runs (the first at start), the quota rule.
    fn start(fake: &FakeSynapse, homeserver: &str, bot: &str, room_id: &str) -> Run {
        Run::start_on(fake, homeserver, bot, room_id, None)
    }

    /// As [`Run::start`], with `data` as the data directory if given.
    fn start_on(
        fake: &FakeSynapse,
        homeserver: &str,
        bot: &str,
        room_id: &str,
        data: Option<&Path>,
    ) -> Run {
        let dir = tempfile::tempdir().unwrap();
        let secret = |name: &str, value: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, value).unwrap();
            path.display().to_string()
        };
        let token = secret("admin-token", fake.admin_token());
        let password = secret("bot-password", "bot-password");
        let passphrase = secret("store-passphrase", "a store passphrase");
        let listen = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let policy = dir.path().join("policies.yaml");
        let data = data.map_or_else(|| dir.path().join("data"), Path::to_path_buf);
        Policy::new(fake.base_url(), SecretAt::File(token.into()))
            .set("synapse.timeout", "5m")
            .set("schedule.every", "1h")
            .bot(
                homeserver.trim_end_matches('/'),
                bot,
                SecretAt::File(password.into()),
                room_id,
                &data,
                SecretAt::File(passphrase.into()),
            )
            .set("http.listen", listen.to_string())
            .rules(QUOTA)
            .write(&policy)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_synapse-warden"))
            .args(["run", "--config"])
            .arg(&policy)
            .env(
                "RUST_LOG",
                "info,matrix_sdk=warn,matrix_sdk_crypto=warn,matrix_sdk_base=warn",
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("log")).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("starting synapse-warden run");
        Run {
            dir,
            child,
            listen,
            data,
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.data.clone()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(self.child.id().unwrap() as libc::pid_t, signal);
        }
    }
}

/// When the state file cannot be written (here a directory stands where
/// it was), `synapse-warden run` goes on: `/ready` says why, the save is
/// retried on its own (with backoff) and, once the way is clear, the state
/// is saved and the reason is gone. SIGTERM still stops it cleanly. The
/// homeserver is unreachable here: the bot keeps retrying meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_goes_on_when_the_state_cannot_be_saved() {
    let fake = FakeSynapse::start(dataset(), Db::Sqlite).await;
    // Nothing listens on port 9 of loopback.
    let mut run = Run::start(&fake, "http://127.0.0.1:9", "@warden:test", "!admins:test");
    let state_path = run.data_dir().join("state.json");
    let saved = || {
        std::fs::read_to_string(&state_path)
            .ok()
            .and_then(|t| serde_json::from_str::<DaemonState>(&t).ok())
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while saved().is_none_or(|s| s.last_run.is_none()) {
        assert!(
            Instant::now() < deadline,
            "the first run never ended\n{}",
            run.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready = format!("http://{}/ready", run.listen);
    let reasons = || async {
        let body: serde_json::Value = reqwest::get(&ready).await.unwrap().json().await.unwrap();
        body["reasons"].to_string()
    };
    // A directory where the state file was: the next save fails.
    std::fs::remove_file(&state_path).unwrap();
    std::fs::create_dir(&state_path).unwrap();
    std::fs::write(state_path.join("in-the-way"), "").unwrap();
    run.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reasons().await.contains("the state file cannot be saved") {
        assert!(
            run.child.try_wait().unwrap().is_none(),
            "the daemon stopped\n{}",
            run.log()
        );
        assert!(
            Instant::now() < deadline,
            "{}\n{}",
            reasons().await,
            run.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        reasons().await.contains("state.json"),
        "{}",
        reasons().await
    );
    assert!(run.child.try_wait().unwrap().is_none(), "{}", run.log());

    // The way cleared: a retry saves, with nothing else happening.
    std::fs::remove_dir_all(&state_path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while saved().is_none() || reasons().await.contains("the state file cannot be saved") {
        assert!(
            Instant::now() < deadline,
            "{}\n{}",
            reasons().await,
            run.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    run.signal(libc::SIGTERM);
    let status = tokio::time::timeout(Duration::from_secs(10), run.child.wait())
        .await
        .unwrap_or_else(|_| panic!("still running 10 s after SIGTERM\n{}", run.log()))
        .unwrap();
    let log = run.log();
    assert!(status.success(), "{log}");
    assert!(log.contains("cannot save the state"), "{log}");
    assert!(log.contains("the state is saved again"), "{log}");
}

/// One daemon per data directory: a second `run` on the same
/// `matrix.data_dir` exits with status 2 at once, naming the directory and
/// the PID of the first, which goes on answering. The homeserver is
/// unreachable here (the bot keeps retrying): the lock is taken before any
/// connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_the_same_data_directory_exits_at_once() {
    let fake = FakeSynapse::start(dataset(), Db::Sqlite).await;
    let mut first = Run::start(&fake, "http://127.0.0.1:9", "@warden:test", "!admins:test");
    let health = format!("http://{}/health", first.listen);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if reqwest::get(&health)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        assert!(
            first.child.try_wait().unwrap().is_none(),
            "the first daemon exited\n{}",
            first.log()
        );
        assert!(
            Instant::now() < deadline,
            "the first daemon never answered /health\n{}",
            first.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let data = first.data_dir();
    let pid = first.child.id().unwrap();

    let mut second = Run::start_on(
        &fake,
        "http://127.0.0.1:9",
        "@warden:test",
        "!admins:test",
        Some(&data),
    );
    let status = tokio::time::timeout(Duration::from_secs(30), second.child.wait())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the second daemon is still running on the same data directory\n{}",
                second.log()
            )
        })
        .unwrap();
    let log = second.log();
    assert_eq!(status.code(), Some(2), "{log}");
    assert!(
        log.contains(&data.display().to_string())
            && log.contains(&format!("PID {pid}"))
            && log.contains("in use"),
        "{log}"
    );

    // The first goes on.
    assert!(first.child.try_wait().unwrap().is_none(), "{}", first.log());
    let answer = reqwest::get(&health).await.unwrap();
    assert!(answer.status().is_success());
    first.signal(libc::SIGTERM);
    let status = tokio::time::timeout(Duration::from_secs(10), first.child.wait())
        .await
        .unwrap_or_else(|_| panic!("still running 10 s after SIGTERM\n{}", first.log()))
        .unwrap();
    assert!(status.success(), "{}", first.log());
}

/// Once every sender of its control channel is gone, the daemon's loop
/// sleeps until the next run, as before: it must not spin on the closed
/// channel. Measured as the CPU time of the one thread running it (the
/// first run included) over two seconds.
#[test]
fn a_closed_control_channel_does_not_make_the_loop_spin() {
    fn thread_cpu() -> Duration {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid pointer to a timespec.
        assert_eq!(
            unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) },
            0
        );
        Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let fake = FakeSynapse::start(dataset(), Db::Sqlite).await;
        let mut f = Fixture::new();
        let config = policy(&mut f, &fake, QUOTA);
        let daemon = f.daemon(config);
        let (control, control_rx) = tokio::sync::mpsc::channel(1);
        drop(control);
        let shutdown = CancellationToken::new();
        let before = thread_cpu();
        let task = tokio::spawn(daemon.run(control_rx, shutdown.clone()));
        tokio::time::sleep(Duration::from_secs(2)).await;
        shutdown.cancel();
        task.await.unwrap().unwrap();
        let used = thread_cpu() - before;
        assert!(
            used < Duration::from_millis(700),
            "the loop used {used:?} of CPU in 2 s"
        );
        assert_eq!(count(&f.room.plain(), "NEW warning quota"), 1);
    });
}

/// 120 users `@u000:test` .. `@u119:test` with 1 KiB each, except the
/// `over` ones with 5 KiB (over the 4 KiB quota).
fn hundred_twenty(over: &[usize]) -> Dataset {
    let t = now_ms() - 3_600_000;
    (0..120).fold(Dataset::builder(), |d, i| {
        let size = if over.contains(&i) { 5 * KIB } else { KIB };
        d.user(&format!("@u{i:03}:test"), None, &[(t, Some(size))])
    })
}

/// Gives `user` a new total of `bytes` (one medium).
fn set_usage(fake: &FakeSynapse, user: &str, bytes: u64) {
    assert!(fake.remove_user(user));
    fake.insert_user(fake::FakeUser {
        user_id: user.to_owned(),
        displayname: None,
        media: vec![(now_ms() - 60_000, Some(bytes))],
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walk_cut_short_resolves_nothing_past_the_cut_off() {
    let fake = FakeSynapse::start(hundred_twenty(&[10, 100]), Db::Sqlite).await;
    let mut f = Fixture::new();
    policy(&mut f, &fake, QUOTA);
    // Pages of 40 users: the token sticks on the second page, at 80.
    let config = f.edit(|p| p.set("synapse.page_size", 40));
    const INCOMPLETE: &str =
        "runs are incomplete: Synapse's next_token stopped advancing at 80 of 120 users";
    const PARTIAL: &str = "Partial run: Synapse's next_token stopped advancing at 80 of 120 users";

    const COMPLETE: &str = "synapse_warden_last_run_complete 1";
    const PARTIAL_METRIC: &str = "synapse_warden_last_run_complete 0";
    let mut daemon = f.daemon(config.clone());
    daemon.run_once().await.unwrap().unwrap();
    assert!(f.metrics.encode().contains(COMPLETE));
    let complete_snapshot = f
        .snapshot_taken_ms()
        .await
        .expect("top lists of a complete run");
    let m = f.room.plain();
    assert_eq!(m.len(), 1, "{m:#?}");
    assert!(m[0].contains("NEW warning quota: @u010:test"), "{m:#?}");
    assert!(m[0].contains("NEW warning quota: @u100:test"), "{m:#?}");

    // The token now sticks at 80 of 120. Meanwhile @u020 goes over the
    // quota (seen: announced), and @u100, past the cut-off, goes under it
    // (not seen: must not be resolved).
    fake.faults().set_persistent(Some(Fault::StuckAt(80)));
    set_usage(&fake, "@u020:test", 6 * KIB);
    set_usage(&fake, "@u100:test", KIB);
    for run in 0..2 {
        if run == 1 {
            // A restart during the condition remembers it.
            drop(daemon);
            daemon = f.daemon(config.clone());
        }
        let outcome = daemon.run_once().await.unwrap().unwrap();
        assert!(!outcome.coverage.is_complete());
        assert!(f.metrics.encode().contains(PARTIAL_METRIC));
        // `!stats top` does not answer from a partial walk's top lists.
        if run == 0 {
            assert_eq!(f.snapshot_taken_ms().await, Some(complete_snapshot));
        } else {
            assert_eq!(f.snapshot_taken_ms().await, None, "a fresh daemon");
        }
    }
    let m = f.room.plain();
    assert_eq!(m.len(), 3, "{m:#?}");
    assert!(m[1].contains(INCOMPLETE), "{m:#?}");
    assert!(m[2].contains("NEW warning quota: @u020:test"), "{m:#?}");
    assert!(m[2].contains(PARTIAL), "{m:#?}");
    assert_eq!(count(&m, "RESOLVED"), 0, "{m:#?}");
    assert_eq!(count(&m, "@u100:test"), 1, "{m:#?}");
    let during = state(&f);
    let open: Vec<&str> = during
        .alerts
        .active
        .keys()
        .map(|(_, subject)| subject.as_str())
        .collect();
    assert_eq!(
        open,
        ["@u010:test", "@u020:test", "@u100:test"],
        "{during:#?}"
    );
    let last = during.last_run.as_ref().unwrap();
    assert_eq!(
        last.incomplete.as_deref(),
        Some("Synapse's next_token stopped advancing at 80 of 120 users")
    );
    assert!(during.conditions.incomplete.is_some());

    // The token advances again: said once; @u100 is resolved now that it
    // was seen, the others stay open.
    fake.faults().set_persistent(None);
    daemon.run_once().await.unwrap().unwrap();
    assert!(f.metrics.encode().contains(COMPLETE));
    assert!(f.snapshot_taken_ms().await.is_some());
    let m = f.room.plain();
    assert_eq!(m.len(), 5, "{m:#?}");
    assert!(m[3].contains("walks are complete again"), "{m:#?}");
    assert!(
        m[4].contains("RESOLVED warning quota: @u100:test"),
        "{m:#?}"
    );
    assert!(!m[4].contains("Partial run"), "{m:#?}");
    assert_eq!(count(&m, "RESOLVED"), 1, "{m:#?}");
    let after = state(&f);
    assert_eq!(after.alerts.active.len(), 2, "{after:#?}");
    assert_eq!(after.last_run.unwrap().incomplete, None);
    assert!(after.conditions.incomplete.is_none());
}

/// `synapse-warden check` against a server whose token stops advancing:
/// the violations it saw on stdout, the cause on stderr, exit status 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_exits_2_naming_the_cause_when_the_walk_is_cut_short() {
    let fake = FakeSynapse::start(hundred_twenty(&[10, 100]), Db::Sqlite).await;
    let mut f = Fixture::new();
    policy(&mut f, &fake, QUOTA);
    f.edit(|p| p.set("synapse.page_size", 40));
    let check = |fake: &FakeSynapse| {
        fake.clear_requests();
        tokio::process::Command::new(env!("CARGO_BIN_EXE_synapse-warden"))
            .args(["--config", f.policy.to_str().unwrap(), "check"])
            .env_remove("RUST_LOG")
            .env_remove("SYNAPSE_WARDEN_CONFIG")
            .output()
    };

    let out = check(&fake).await.unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");

    fake.faults().set_persistent(Some(Fault::StuckAt(80)));
    let out = check(&fake).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(
            "the run is incomplete: Synapse's next_token stopped advancing at 80 of 120 users"
        ),
        "{stderr}"
    );
    assert!(stdout.contains("@u010:test"), "{stdout}");
    assert!(!stdout.contains("@u100:test"), "{stdout}");
    assert!(stdout.contains("was cut short"), "{stdout}");
    // It walked once more from the start before giving up.
    assert_eq!(fake.requests().len(), 4, "{:?}", fake.requests());
}
