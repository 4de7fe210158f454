//! End to end: `synapse-warden run` against a real Synapse (SQLite), with
//! the bot in an admin room, as an admin sees it.
//!
//! The first alert appears in the room; a `kill -9` right after it and a
//! restart post it neither again nor lose it; `/health`, `/ready` and
//! `/metrics` answer; a bad policy file on SIGHUP keeps the rules and posts
//! the errors with their line; SIGTERM stops the daemon cleanly in under
//! 10 seconds. A second `run` on the same data directory exits with status
//! 2 at once while the first goes on answering `!stats status`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use test_support::policy::{Policy, SecretAt};
use test_support::synapse::{Backend, SynapseHarness, TestUser};

const BIN: &str = env!("CARGO_BIN_EXE_synapse-warden");

pub(crate) struct Setup {
    pub dir: tempfile::TempDir,
    pub policy: PathBuf,
    pub listen: String,
    /// What was written at `policy`, to write a variant of it.
    pub written: Policy,
}

/// The rules of [`write_setup`]'s policy.
pub(crate) const RULES: &str = "user_media:\n  - name: quota\n    description: Users may keep 4 KiB.\n    severity: critical\n    max_media_length: 4 KiB\n";

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn write_setup(h: &SynapseHarness, admin: &TestUser, room_id: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let secret = |name: &str, value: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, value).unwrap();
        path.display().to_string()
    };
    let token = secret("admin-token", &admin.access_token);
    let password = secret("bot-password", "bot-password");
    let passphrase = secret("store-passphrase", "a store passphrase");
    let listen = format!("127.0.0.1:{}", free_port());
    let policy = dir.path().join("policies.yaml");
    let url = h.base_url().as_str().trim_end_matches('/');
    let written = Policy::new(url, SecretAt::File(token.into()))
        .set("synapse.timeout", "20s")
        .set("schedule.every", "1h")
        .bot(
            url,
            &format!("@warden:{}", h.server_name()),
            SecretAt::File(password.into()),
            room_id,
            &dir.path().join("data"),
            SecretAt::File(passphrase.into()),
        )
        .set("http.listen", &listen)
        .rules(RULES);
    written.write(&policy).unwrap();
    Setup {
        dir,
        policy,
        listen,
        written,
    }
}

pub(crate) fn start(setup: &Setup) -> Child {
    Command::new(BIN)
        .args(["run", "--config"])
        .arg(&setup.policy)
        .env(
            "RUST_LOG",
            "info,matrix_sdk=warn,matrix_sdk_crypto=warn,matrix_sdk_base=warn",
        )
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(
                setup
                    .dir
                    .path()
                    .join(format!("log-{}", Instant::now().elapsed().as_nanos())),
            )
            .unwrap(),
        )
        .spawn()
        .expect("starting synapse-warden run")
}

/// The room's last 100 `m.room.message` events sent by `sender`, oldest
/// first, as `reader` reads them.
pub(crate) async fn events(
    h: &SynapseHarness,
    reader: &TestUser,
    room_id: &str,
    sender: &str,
) -> Vec<serde_json::Value> {
    let path = format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=100");
    let (_, page) = h.get_json(reader, &path).await.unwrap();
    let mut out: Vec<serde_json::Value> = page["chunk"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["type"] == "m.room.message" && e["sender"] == sender)
        .collect();
    out.reverse();
    out
}

/// The bodies of the room's text messages and notices sent by `sender`,
/// oldest first.
pub(crate) async fn bodies(
    h: &SynapseHarness,
    reader: &TestUser,
    room_id: &str,
    sender: &str,
) -> Vec<String> {
    events(h, reader, room_id, sender)
        .await
        .iter()
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .collect()
}

pub(crate) async fn wait_for<F: Fn(&[String]) -> bool>(
    h: &SynapseHarness,
    reader: &TestUser,
    room_id: &str,
    sender: &str,
    what: &str,
    ok: F,
) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let b = bodies(h, reader, room_id, sender).await;
        if ok(&b) {
            return b;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; the room has {b:#?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

pub(crate) async fn get(url: &str) -> (u16, String) {
    match reqwest::get(url).await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(_) => (0, String::new()),
    }
}

pub(crate) fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as libc::pid_t, sig);
    }
}

pub(crate) fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

pub(crate) fn logs(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with("log-") {
            out.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_alerts_once_across_kill_9_reloads_and_stops_on_sigterm() {
    let h = SynapseHarness::start(Backend::Sqlite).await.unwrap();
    let admin = h.register("admin", "admin-password", true).await.unwrap();
    let alice = h.register("alice", "alice-password", false).await.unwrap();
    h.upload_media(&alice, 5 * 1024).await.unwrap();
    let bot = h.register("warden", "bot-password", false).await.unwrap();
    let room_id = h
        .create_room(&admin, "Synapse admins", false, &[&bot.user_id])
        .await
        .unwrap();
    let setup = write_setup(&h, &admin, &room_id);

    let mut child = start(&setup);
    let first = wait_for(&h, &admin, &room_id, &bot.user_id, "the first alert", |b| {
        b.iter().any(|m| m.contains("NEW critical quota"))
    })
    .await;
    // Crash right after the alert was posted, then start again.
    signal(&child, libc::SIGKILL);
    child.wait().unwrap();
    let mut child = start(&setup);
    let health = format!("http://{}/health", setup.listen);
    let ready = format!("http://{}/ready", setup.listen);
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(&ready).await.0 != 200 {
        assert!(
            Instant::now() < deadline,
            "never ready: {:?}\n{}",
            get(&ready).await,
            logs(setup.dir.path())
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(get(&health).await.0, 200);
    // The restart's first run has happened once the status shows it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = bodies(&h, &admin, &room_id, &bot.user_id).await;
    let alerts = after
        .iter()
        .filter(|m| m.contains("NEW critical quota"))
        .count();
    assert_eq!(
        alerts, 1,
        "posted {alerts} times (first saw {first:#?}); the room has {after:#?}"
    );
    assert!(after[0].contains("@alice:"), "{after:#?}");
    let (status, metrics) = get(&format!("http://{}/metrics", setup.listen)).await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("synapse_warden_violations{rule=\"quota\",severity=\"critical\"} 1"),
        "{metrics}"
    );
    assert!(!metrics.contains("alice"), "metrics must not name users");

    // A bad policy on SIGHUP: the errors, with their line, in the room.
    let good = std::fs::read_to_string(&setup.policy).unwrap();
    std::fs::write(
        &setup.policy,
        good.replace("max_media_length: 4 KiB", "max_media_lenght: 4 KiB"),
    )
    .unwrap();
    signal(&child, libc::SIGHUP);
    let b = wait_for(
        &h,
        &admin,
        &room_id,
        &bot.user_id,
        "the refused reload",
        |b| b.iter().any(|m| m.contains("reload refused")),
    )
    .await;
    let refused = b.iter().find(|m| m.contains("reload refused")).unwrap();
    assert!(
        refused.contains("policies.yaml:") && refused.contains("did you mean `max_media_length`?"),
        "{refused}"
    );

    // A command: answered in reply, counted with its latency in /metrics.
    h.send_text(&admin, &room_id, "!stats top 10 media_length")
        .await
        .unwrap();
    let b = wait_for(&h, &admin, &room_id, &bot.user_id, "the top reply", |b| {
        b.iter().any(|m| m.contains("Top 10 users by media size"))
    })
    .await;
    let top = b
        .iter()
        .find(|m| m.contains("Top 10 users by media size"))
        .unwrap();
    assert!(
        top.contains("@alice:") && top.contains("from the last walk"),
        "{top}"
    );
    let (_, metrics) = get(&format!("http://{}/metrics", setup.listen)).await;
    assert!(
        metrics.contains("synapse_warden_commands_total{command=\"top\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("synapse_warden_command_latency_seconds_count{command=\"top\"} 1"),
        "{metrics}"
    );

    // SIGTERM: a clean exit, quickly.
    let stopping = Instant::now();
    signal(&child, libc::SIGTERM);
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "exit: {status:?} after {:?}\n{}",
        stopping.elapsed(),
        logs(setup.dir.path())
    );
    let log = logs(setup.dir.path());
    assert!(
        !log.contains(&admin.access_token)
            && !log.contains("bot-password")
            && !log.contains("a store passphrase"),
        "a secret in the logs"
    );
}

/// One daemon per data directory, on a real Synapse: a second `run` with
/// the same `matrix.data_dir` (another `http.listen`, so that only the
/// directory is shared) exits with status 2 at once, naming the directory
/// and the first daemon's PID, while the first goes on answering
/// `!stats status` sent by a real Matrix client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_the_same_data_directory_exits_while_the_first_answers() {
    let h = SynapseHarness::start(Backend::Sqlite).await.unwrap();
    let admin = h.register("admin", "admin-password", true).await.unwrap();
    let alice = h.register("alice", "alice-password", false).await.unwrap();
    h.upload_media(&alice, 5 * 1024).await.unwrap();
    let bot = h.register("warden", "bot-password", false).await.unwrap();
    let room_id = h
        .create_room(&admin, "Synapse admins", false, &[&bot.user_id])
        .await
        .unwrap();
    let setup = write_setup(&h, &admin, &room_id);
    let mut first = start(&setup);
    let ready = format!("http://{}/ready", setup.listen);
    let deadline = Instant::now() + Duration::from_secs(90);
    while get(&ready).await.0 != 200 {
        assert!(
            Instant::now() < deadline,
            "never ready: {:?}\n{}",
            get(&ready).await,
            logs(setup.dir.path())
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let second_policy = setup.dir.path().join("second.yaml");
    setup
        .written
        .clone()
        .set("http.listen", format!("127.0.0.1:{}", free_port()))
        .write(&second_policy)
        .unwrap();
    let second_log = setup.dir.path().join("second.log");
    let mut second = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&second_policy)
        .env("RUST_LOG", "info,matrix_sdk=warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&second_log).unwrap())
        .spawn()
        .expect("starting the second synapse-warden run");
    let status = wait_exit(&mut second, Duration::from_secs(30));
    let log = std::fs::read_to_string(&second_log).unwrap_or_default();
    if status.is_none() {
        let _ = second.kill();
    }
    assert_eq!(status.and_then(|s| s.code()), Some(2), "{log}");
    let data = setup.dir.path().join("data");
    assert!(
        log.contains(&data.display().to_string())
            && log.contains(&format!("PID {}", first.id()))
            && log.contains("in use"),
        "{log}"
    );

    // The first goes on: it answers a command from the room.
    assert!(
        first.try_wait().unwrap().is_none(),
        "{}",
        logs(setup.dir.path())
    );
    let command = h
        .send_text(&admin, &room_id, "!stats status")
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let replies = events(&h, &admin, &room_id, &bot.user_id).await;
        if let Some(reply) = replies
            .iter()
            .find(|e| e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == command.as_str())
        {
            let body = reply["content"]["body"].as_str().unwrap_or_default();
            assert!(body.contains("Last run"), "{body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no reply to {command}:\n{}",
            logs(setup.dir.path())
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(get(&ready).await.0, 200);
    signal(&first, libc::SIGTERM);
    let status = wait_exit(&mut first, Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "exit: {status:?}\n{}",
        logs(setup.dir.path())
    );
}
