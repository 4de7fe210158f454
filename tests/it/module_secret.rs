//! A reload applies a new `http.module_secret`: the module's endpoints on
//! `http.listen` accept the new secret and refuse the old one, without a
//! restart (`synapse-warden run`, SIGHUP, the secret's file rewritten).

use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use test_support::fake::{Dataset, Db, FakeSynapse};
use test_support::policy::{Policy, SecretAt};
use tokio::process::Command;

use crate::daemon::QUOTA;

const LIMITS: &str = "/_synapse_warden/module/v1/limits?user_id=@alice:test";

async fn status(listen: std::net::SocketAddr, secret: &str) -> Option<u16> {
    reqwest::Client::new()
        .get(format!("http://{listen}{LIMITS}"))
        .bearer_auth(secret)
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_applies_a_new_module_secret() {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        - 3_600_000;
    let dataset = Dataset::builder().user("@alice:test", None, &[(t, Some(1024))]);
    let fake = FakeSynapse::start(dataset, Db::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, value: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, value).unwrap();
        path
    };
    let token = file("admin-token", fake.admin_token());
    let password = file("bot-password", "bot-password");
    let passphrase = file("store-passphrase", "a store passphrase");
    let secret = file("module-secret", "the-old-secret\n");
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let policy = dir.path().join("policies.yaml");
    Policy::new(fake.base_url(), SecretAt::File(token))
        .set("schedule.every", "1h")
        // Nothing listens on port 9 of loopback: the bot keeps retrying.
        .bot(
            "http://127.0.0.1:9",
            "@warden:test",
            SecretAt::File(password),
            "!admins:test",
            &dir.path().join("data"),
            SecretAt::File(passphrase),
        )
        .set("http.listen", listen.to_string())
        .secret("http.module_secret", SecretAt::File(secret.clone()))
        .rules(QUOTA)
        .write(&policy)
        .unwrap();
    let log = dir.path().join("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_synapse-warden"))
        .args(["run", "--config"])
        .arg(&policy)
        .env(
            "RUST_LOG",
            "info,matrix_sdk=warn,matrix_sdk_crypto=warn,matrix_sdk_base=warn",
        )
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(60);
    while status(listen, "the-old-secret").await != Some(200) {
        assert!(Instant::now() < deadline, "never served\n{}", read_log());
        assert!(child.try_wait().unwrap().is_none(), "{}", read_log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status(listen, "the-new-secret").await, Some(401));

    std::fs::write(&secret, "the-new-secret\n").unwrap();
    // SAFETY: a signal to our own child.
    unsafe {
        libc::kill(child.id().unwrap() as libc::pid_t, libc::SIGHUP);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !read_log().contains("SIGHUP: ") {
        assert!(Instant::now() < deadline, "no reload\n{}", read_log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!read_log().contains("need"), "{}", read_log());
    assert_eq!(
        status(listen, "the-new-secret").await,
        Some(200),
        "{}",
        read_log()
    );
    assert_eq!(status(listen, "the-old-secret").await, Some(401));

    unsafe {
        libc::kill(child.id().unwrap() as libc::pid_t, libc::SIGTERM);
    }
    let ended = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("stops on SIGTERM")
        .unwrap();
    assert!(ended.success(), "{}", read_log());
}
