//! Server notices to users over a rule (`notify_user`), with the daemon
//! against real Synapse (SQLite and PostgreSQL): the user reads the notice
//! in their server-notices room, once per lifecycle event, also when a
//! crash came between sending it and saving that it was sent (simulated
//! here deterministically, and with `kill -9` of the real binary); the
//! run's summary says who was notified; without `server_notices` in Synapse
//! the admins are told once and alerts go on.

use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::daemon::{Fixture, count};
use crate::run_e2e;
use test_support::synapse::{Backend, SynapseHarness, TestUser};

const RULES: &str = "  user_media:\n    - name: quota\n      max_media_length: 4 KiB\n      notify_user:\n        on: [new, escalation]\n        message: \"You use {usage} of your {limit} media quota ({percent}). <b>Please</b> delete old uploads.\"\n        at_most_every: 0s\n";

const NEW_TEXT: &str =
    "You use 5.0 KiB of your 4.0 KiB media quota (125.0%). <b>Please</b> delete old uploads.";
const ESCALATED_TEXT: &str =
    "You use 10.0 KiB of your 4.0 KiB media quota (250.0%). <b>Please</b> delete old uploads.";

fn with_server_notices() -> serde_json::Map<String, Value> {
    let mut extra = serde_json::Map::new();
    extra.insert(
        "server_notices".into(),
        json!({"system_mxid_localpart": "notices", "room_name": "Server Notices"}),
    );
    extra
}

async fn get(h: &SynapseHarness, user: &TestUser, path: &str) -> Value {
    h.get_json(user, path).await.unwrap().1
}

/// The bodies of the server notices `user` has, joining the notices room.
async fn notices_of(h: &SynapseHarness, user: &TestUser) -> Vec<String> {
    // Synapse caches an identical /sync's answer for a while: a filter of
    // its own makes each call a new one.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let filter = json!({"room": {"timeline": {"not_types": [format!("warden.poll.{n}")]}}});
    let filter: String =
        url::form_urlencoded::byte_serialize(filter.to_string().as_bytes()).collect();
    let sync = get(
        h,
        user,
        &format!("/_matrix/client/v3/sync?timeout=0&filter={filter}"),
    )
    .await;
    let mut rooms: Vec<String> = Vec::new();
    for kind in ["invite", "join"] {
        if let Some(map) = sync["rooms"][kind].as_object() {
            rooms.extend(map.keys().cloned());
        }
    }
    let mut bodies = Vec::new();
    for room in rooms {
        let _ = h.join_room(user, &room).await;
        let messages = get(
            h,
            user,
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=100"),
        )
        .await;
        // Newest first: read oldest first.
        for e in messages["chunk"].as_array().into_iter().flatten().rev() {
            if e["type"] == "m.room.message"
                && e["sender"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("@notices:"))
            {
                bodies.push(e["content"]["body"].as_str().unwrap_or("").to_owned());
            }
        }
    }
    bodies
}

/// The simulated crash: the state file rewritten to hold the notice Synapse
/// already took, exactly as it was queued, pins the "sent but not
/// recorded" window.
async fn notices_once_per_event_across_a_simulated_crash(backend: Backend) {
    let h = SynapseHarness::start_with(backend, with_server_notices())
        .await
        .unwrap();
    let admin = h.register("admin", "admin-password", true).await.unwrap();
    let alice = h.register("alice", "alice-password", false).await.unwrap();
    h.upload_media(&alice, 5 * 1024).await.unwrap();
    let mut f = Fixture::new();
    let config = f.write_policy(h.base_url().as_str(), &admin.access_token, RULES);

    let mut daemon = f.daemon(config.clone());
    daemon.run_once().await.unwrap().unwrap();
    let room = f.room.plain();
    // One message for the run: the summary says who was notified.
    assert_eq!(room.len(), 1, "{room:#?}");
    assert!(
        room[0].contains("NEW warning quota: @alice:warden.test")
            && room[0].ends_with("Server notices: notified 1 user: @alice:warden.test."),
        "{room:#?}"
    );
    let got = notices_of(&h, &alice).await;
    assert_eq!(got, [NEW_TEXT], "{got:#?}");

    // A crash after Synapse took the notice, before the state said so: the
    // restarted daemon sends it again with the same transaction ID, and
    // Synapse does not repeat it.
    let state = std::fs::read_to_string(f.state_path()).unwrap();
    let mut value: Value = serde_json::from_str(&state).unwrap();
    assert_eq!(value["notices"]["outbox"], json!([]));
    drop(daemon);
    // Rebuild the queued notice exactly as it was queued.
    let queued = value["notices"].clone();
    let last_ms = queued["last_sent"]["@alice:warden.test"].as_u64().unwrap();
    let n = queued["next_txn"].as_u64().unwrap();
    let plain = got[0].clone();
    value["notices"]["outbox"] = json!([{
        "txn_id": format!("warden-notice-{last_ms}-{n}"),
        "user_id": "@alice:warden.test",
        "rule": "quota",
        "plain": plain,
        "html": "ignored on a repeat",
        "queued_ms": last_ms,
    }]);
    std::fs::write(f.state_path(), value.to_string()).unwrap();
    let mut daemon = f.daemon(config.clone());
    daemon.run_once().await.unwrap().unwrap();
    assert_eq!(notices_of(&h, &alice).await.len(), 1, "not repeated");
    // The forged outbox has no summary held for it: its notice is said on
    // its own, as one that waited for Synapse. (A real crash saves the
    // summary with its notices: see the kill -9 test below.)
    let room = f.room.plain();
    assert_eq!(
        count(
            &room,
            "notified 1 user with a server notice that was waiting for Synapse: @alice:warden.test"
        ),
        1,
        "{room:#?}"
    );

    // Quiet runs notify nobody.
    daemon.run_once().await.unwrap().unwrap();
    assert_eq!(notices_of(&h, &alice).await.len(), 1);

    // Another upload escalates: one more notice, said in that run's summary.
    h.upload_media(&alice, 5 * 1024).await.unwrap();
    daemon.run_once().await.unwrap().unwrap();
    daemon.run_once().await.unwrap().unwrap();
    assert_eq!(notices_of(&h, &alice).await, [NEW_TEXT, ESCALATED_TEXT]);
    let room = f.room.plain();
    let escalated: Vec<&String> = room.iter().filter(|m| m.contains("ESCALATED")).collect();
    assert_eq!(escalated.len(), 1, "{room:#?}");
    assert!(
        escalated[0].ends_with("Server notices: notified 1 user: @alice:warden.test."),
        "{room:#?}"
    );
    drop(daemon);

    // `check --notify` shows who would be notified, and sends nothing.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_synapse-warden"))
        .args(["--config"])
        .arg(&f.policy)
        .args(["check", "--notify"])
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("Server notices this run would send (none was sent): 1 user.\n• @alice:warden.test (quota): You use 10.0 KiB of your 4.0 KiB media quota (250.0%)."),
        "{stdout}"
    );
    assert_eq!(notices_of(&h, &alice).await.len(), 2, "check sends nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_once_per_event_across_a_simulated_crash_sqlite() {
    notices_once_per_event_across_a_simulated_crash(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_once_per_event_across_a_simulated_crash_postgres() {
    notices_once_per_event_across_a_simulated_crash(Backend::Postgres).await;
}

/// When the daemon's last run ended (Unix seconds), from `/metrics`.
async fn last_run(listen: &str) -> f64 {
    let (_, metrics) = run_e2e::get(&format!("http://{listen}/metrics")).await;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("synapse_warden_last_run_timestamp_seconds "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Waits until the daemon finished a run that started after `since`.
async fn wait_run_after(setup: &run_e2e::Setup, since: std::time::SystemTime) {
    let since = since
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(90);
    while last_run(&setup.listen).await < since {
        assert!(
            Instant::now() < deadline,
            "no run after the restart\n{}",
            run_e2e::logs(setup.dir.path())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `user` has `n` server notices, polling fast: the caller
/// kills the daemon right after.
async fn wait_notices(h: &SynapseHarness, user: &TestUser, n: usize, setup: &run_e2e::Setup) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let got = notices_of(h, user).await;
        if got.len() >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} has {got:#?}, waiting for {n}\n{}",
            user.user_id,
            run_e2e::logs(setup.dir.path())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The real binary, killed with SIGKILL right after each notice reached
/// the user's server-notices room, restarted on the same data directory,
/// running again: one notice per lifecycle event (new, then an escalation
/// after another upload), never two, and one summary per run saying who
/// was notified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_notifies_once_per_event_across_kill_9_postgres() {
    let h = SynapseHarness::start_with(Backend::Postgres, with_server_notices())
        .await
        .unwrap();
    let admin = h.register("admin", "admin-password", true).await.unwrap();
    let alice = h.register("alice", "alice-password", false).await.unwrap();
    h.upload_media(&alice, 5 * 1024).await.unwrap();
    let bot = h.register("warden", "bot-password", false).await.unwrap();
    let room_id = h
        .create_room(&admin, "Synapse admins", false, &[&bot.user_id])
        .await
        .unwrap();
    let setup = run_e2e::write_setup(&h, &admin, &room_id);
    let notify = "    notify_user:\n      on: [new, escalation]\n      message: \"You use {usage} of your {limit} media quota ({percent}). <b>Please</b> delete old uploads.\"\n      at_most_every: 0s\n";
    setup
        .written
        .clone()
        .rules(&format!("{}{notify}", run_e2e::RULES))
        .set("alerts.escalate_on_growth", "50%")
        .write(&setup.policy)
        .unwrap();
    let summaries = |b: &[String], what: &str| {
        b.iter()
            .filter(|m| {
                m.contains(what)
                    && m.ends_with("Server notices: notified 1 user: @alice:warden.test.")
            })
            .count()
    };

    // The daemon killed as soon as alice can read her `n`th notice,
    // whatever it had saved or posted by then, and restarted: the summary
    // of the run that notified her (`what`, with `line`) arrives, once,
    // saying she was notified; then a run of the restarted daemon ends.
    let kill_9_and_restart = async |mut child: Child, n: usize, what: &str, line: &str| {
        wait_notices(&h, &alice, n, &setup).await;
        run_e2e::signal(&child, libc::SIGKILL);
        child.wait().unwrap();
        let restarted = std::time::SystemTime::now();
        let child = run_e2e::start(&setup);
        run_e2e::wait_for(&h, &admin, &room_id, &bot.user_id, what, |b| {
            summaries(b, line) == 1
        })
        .await;
        wait_run_after(&setup, restarted).await;
        child
    };

    // The first run: a new violation, a notice.
    let child = run_e2e::start(&setup);
    let child = kill_9_and_restart(
        child,
        1,
        "the first run's summary",
        "NEW critical quota: @alice",
    )
    .await;

    // Another upload, a run on command: an escalation, a second notice.
    // The restart's own run is quiet.
    h.upload_media(&alice, 5 * 1024).await.unwrap();
    h.send_text(&admin, &room_id, "!stats check").await.unwrap();
    let mut child = kill_9_and_restart(
        child,
        2,
        "the escalation's summary",
        "ESCALATED critical quota: @alice",
    )
    .await;

    assert_eq!(notices_of(&h, &alice).await, [NEW_TEXT, ESCALATED_TEXT]);
    let room = run_e2e::bodies(&h, &admin, &room_id, &bot.user_id).await;
    assert_eq!(count(&room, "NEW critical quota"), 1, "{room:#?}");
    assert_eq!(count(&room, "ESCALATED critical quota"), 1, "{room:#?}");
    assert_eq!(count(&room, "Server notices:"), 2, "{room:#?}");
    assert_eq!(count(&room, "waiting for Synapse"), 0, "{room:#?}");
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(setup.dir.path().join("data").join("state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["notices"]["outbox"], json!([]), "{state:#}");
    assert_eq!(state["notices"]["held"], Value::Null, "{state:#}");

    run_e2e::signal(&child, libc::SIGTERM);
    let status = run_e2e::wait_exit(&mut child, Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        run_e2e::logs(setup.dir.path())
    );
}

async fn without_server_notices_the_admins_are_told_once(backend: Backend) {
    let h = SynapseHarness::start(backend).await.unwrap();
    let admin = h.register("admin", "admin-password", true).await.unwrap();
    let alice = h.register("alice", "alice-password", false).await.unwrap();
    h.upload_media(&alice, 5 * 1024).await.unwrap();
    let bob = h.register("bob", "bob-password", false).await.unwrap();
    let mut f = Fixture::new();
    let config = f.write_policy(h.base_url().as_str(), &admin.access_token, RULES);
    let mut daemon = f.daemon(config.clone());
    daemon.run_once().await.unwrap().unwrap();
    h.upload_media(&bob, 5 * 1024).await.unwrap();
    daemon.run_once().await.unwrap().unwrap();
    let room = f.room.plain();
    assert_eq!(count(&room, "NEW warning quota: @alice"), 1, "{room:#?}");
    assert_eq!(count(&room, "NEW warning quota: @bob"), 1, "{room:#?}");
    assert_eq!(
        count(&room, "Synapse does not send server notices"),
        1,
        "{room:#?}"
    );
    assert_eq!(
        count(&room, "system_mxid_localpart: notices"),
        1,
        "{room:#?}"
    );
    // Each run's summary says whom it could not notify, and why.
    assert_eq!(
        count(
            &room,
            "Server notices: 1 not sent, as Synapse has no server notices: @alice:warden.test."
        ),
        1,
        "{room:#?}"
    );
    assert_eq!(
        count(
            &room,
            "Server notices: 1 not sent, as Synapse has no server notices: @bob:warden.test."
        ),
        1,
        "{room:#?}"
    );
    assert_eq!(count(&room, "notified"), 0, "{room:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_server_notices_the_admins_are_told_once_and_alerts_go_on_sqlite() {
    without_server_notices_the_admins_are_told_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_server_notices_the_admins_are_told_once_and_alerts_go_on_postgres() {
    without_server_notices_the_admins_are_told_once(Backend::Postgres).await;
}

/// `PUT /_synapse/admin/v1/send_server_notice/<txn>`, the same checks on
/// the fake and on real Synapse: `enabled` says whether `server_notices` is
/// configured.
async fn notice_conformance(
    base: &str,
    admin_token: &str,
    user_token: &str,
    user: &str,
    server_name: &str,
    enabled: bool,
) {
    let put = |txn: &str, token: &str, body: Value| {
        let url = format!("{base}/_synapse/admin/v1/send_server_notice/{txn}");
        let token = token.to_owned();
        async move {
            let response = reqwest::Client::new()
                .put(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let content = json!({"msgtype": "m.text", "body": "hello"});
    let err = |status: u16, code: &str, msg: &str| (status, json!({"errcode": code, "error": msg}));
    assert_eq!(
        put(
            "t0",
            user_token,
            json!({"user_id": user, "content": content})
        )
        .await,
        err(403, "M_FORBIDDEN", "You are not a server admin")
    );
    let first = put(
        "t1",
        admin_token,
        json!({"user_id": user, "content": content}),
    )
    .await;
    if !enabled {
        assert_eq!(
            first,
            err(
                400,
                "M_UNKNOWN",
                "Server notices are not enabled on this server"
            )
        );
        let client = synapse_warden::synapse::SynapseClient::new(
            synapse_warden::synapse::ClientConfig::new(
                base.parse().unwrap(),
                synapse_warden::synapse::AdminToken::new(admin_token),
            ),
        )
        .unwrap();
        let e = client
            .send_server_notice("t9", user, "x", "x")
            .await
            .unwrap_err();
        assert!(
            synapse_warden::synapse::client::is_notices_disabled(&e),
            "{e}"
        );
        return;
    }
    assert_eq!(first.0, 200, "{first:?}");
    assert!(
        first.1["event_id"]
            .as_str()
            .is_some_and(|e| e.starts_with('$'))
    );
    let again = put(
        "t1",
        admin_token,
        json!({"user_id": user, "content": content}),
    )
    .await;
    assert_eq!(again, first, "the same transaction answers the same event");
    assert_eq!(
        put("t2", admin_token, json!({"content": content})).await,
        err(400, "M_MISSING_PARAM", "Missing params: ['user_id']")
    );
    assert_eq!(
        put(
            "t3",
            admin_token,
            json!({"user_id": "@x:elsewhere.example", "content": content})
        )
        .await,
        err(
            400,
            "M_UNKNOWN",
            "Server notices can only be sent to local users"
        )
    );
    assert_eq!(
        put(
            "t4",
            admin_token,
            json!({"user_id": format!("@nobody:{server_name}"), "content": content})
        )
        .await,
        err(404, "M_NOT_FOUND", "User not found")
    );
}

#[tokio::test]
async fn notice_conformance_fake() {
    use test_support::fake::{self, Dataset, FakeSynapse};
    let server = FakeSynapse::start(
        Dataset::new().user("@alice:test", None, &[(1, Some(10))]),
        fake::Db::Sqlite,
    )
    .await;
    let base = server.base_url();
    notice_conformance(
        &base,
        fake::ADMIN_TOKEN,
        fake::USER_TOKEN,
        "@alice:test",
        "test",
        false,
    )
    .await;
    server.enable_server_notices();
    notice_conformance(
        &base,
        fake::ADMIN_TOKEN,
        fake::USER_TOKEN,
        "@alice:test",
        "test",
        true,
    )
    .await;
    assert_eq!(
        server.server_notices(),
        [("@alice:test".to_owned(), "hello".to_owned())]
    );
}

async fn notice_conformance_real(backend: Backend) {
    for enabled in [false, true] {
        let extra = if enabled {
            with_server_notices()
        } else {
            serde_json::Map::new()
        };
        let h = SynapseHarness::start_with(backend, extra).await.unwrap();
        let admin = h.register("admin", "admin-password", true).await.unwrap();
        let alice = h.register("alice", "alice-password", false).await.unwrap();
        let base = h.base_url().as_str().trim_end_matches('/').to_owned();
        notice_conformance(
            &base,
            &admin.access_token,
            &alice.access_token,
            &alice.user_id,
            h.server_name(),
            enabled,
        )
        .await;
        if enabled {
            assert_eq!(notices_of(&h, &alice).await, ["hello"]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notice_conformance_real_sqlite() {
    notice_conformance_real(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notice_conformance_real_postgres() {
    notice_conformance_real(Backend::Postgres).await;
}
