//! A rotated admin token: on 401 `M_UNKNOWN_TOKEN` the client reads the
//! `synapse.token` secret again and retries the request once with a changed
//! token, which it keeps; an unchanged (or unreadable) secret leaves the
//! error as it was: a failed run, its clear message, `/ready` 503.
//!
//! On the fake: a token rotated on the server and then in its file, for one
//! client, for the daemon between two runs, and for the actions' requests;
//! a source that changes at every read is asked once per request. On real
//! Synapse, through `synapse-warden run`: a second admin session's token
//! written to the file and the first one logged out (revoked); the next
//! scheduled run succeeds, without a restart or a reload.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use synapse_warden::app::synapse_client;
use synapse_warden::core::policy::Config;
use synapse_warden::daemon::service::Daemon;
use synapse_warden::daemon::shared::Readiness;
use synapse_warden::synapse::{
    AdminToken, ClientConfig, RetryPolicy, SynapseClient, SynapseError, TokenSource,
    UsersMediaQuery,
};
use test_support::fake::{self, Dataset, FakeSynapse};
use test_support::policy::{Policy, SecretAt};
use test_support::synapse::{Backend, SynapseHarness};

use crate::daemon::{Fixture, QUOTA};
use crate::run_e2e::{get, logs, signal, start, wait_exit, write_setup};

/// The client [`synapse_client`] builds (as `run`, `check` and `stats` do)
/// for a policy whose token is in the file `token`.
fn client_for(url: &str, token: &Path, dir: &Path) -> SynapseClient {
    let path = dir.join("policies.yaml");
    Policy::new(url, SecretAt::File(token.to_path_buf()))
        .set("synapse.timeout", "20s")
        .rules("user_media:\n  - name: quota\n    max_media_length: 5 MiB\n")
        .write(&path)
        .unwrap();
    let config: Config = synapse_warden::app::load_policy(&path)
        .unwrap()
        .unwrap_or_else(|e| panic!("the test policy is invalid: {}", e.report()));
    synapse_client(&config).unwrap()
}

async fn one_page(client: &SynapseClient) -> Result<u64, SynapseError> {
    client
        .users_media(&UsersMediaQuery::default())
        .await
        .map(|page| page.total)
}

fn is_unknown_token(error: &SynapseError) -> bool {
    matches!(error, SynapseError::Unauthorized { detail, .. }
        if detail.errcode.as_deref() == Some("M_UNKNOWN_TOKEN"))
}

#[tokio::test]
async fn a_rotated_token_in_its_file_is_used_without_a_restart_on_the_fake() {
    let server = FakeSynapse::start(Dataset::new(), fake::Db::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("admin-token");
    std::fs::write(&token, format!("{}\n", server.admin_token())).unwrap();
    let client = client_for(&server.base_url(), &token, dir.path());
    one_page(&client).await.unwrap();

    // Rotated on the server, not yet in the file: the error stands, with
    // one request only (the unchanged secret is not retried).
    server.set_admin_token("rotated_token_1");
    let before = server.request_count();
    let error = one_page(&client).await.unwrap_err();
    assert!(is_unknown_token(&error), "{error:?}");
    assert_eq!(server.request_count(), before + 1);
    assert!(!format!("{error} {error:?}").contains("fake_admin_token"));

    // The new token written to the file: the next request works, and keeps
    // working with the new token (one refused request, then two answers).
    std::fs::write(&token, "rotated_token_1\n").unwrap();
    let before = server.request_count();
    one_page(&client).await.unwrap();
    assert_eq!(server.request_count(), before + 2);
    one_page(&client).await.unwrap();
    assert_eq!(server.request_count(), before + 3);

    // The POST/DELETE path (actions) re-reads too.
    server.set_admin_token("rotated_token_2");
    std::fs::write(&token, "rotated_token_2").unwrap();
    let before = server.request_count();
    let an_hour_ago = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64)
        - 3_600_000;
    client
        .purge_media_cache(an_hour_ago)
        .await
        .expect("the actions' requests use the rotated token too");
    assert_eq!(server.request_count(), before + 2);
    let debug = format!("{client:?}");
    assert!(!debug.contains("rotated_token"), "{debug}");
}

#[tokio::test]
async fn an_unreadable_token_file_leaves_the_401() {
    let server = FakeSynapse::start(Dataset::new(), fake::Db::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("admin-token");
    std::fs::write(&token, server.admin_token()).unwrap();
    let client = client_for(&server.base_url(), &token, dir.path());
    server.set_admin_token("rotated");
    std::fs::remove_file(&token).unwrap();
    let before = server.request_count();
    let error = one_page(&client).await.unwrap_err();
    assert!(is_unknown_token(&error), "{error:?}");
    assert_eq!(server.request_count(), before + 1);
}

/// A source whose token is new at every read (say, a file rewritten
/// continuously with wrong tokens).
#[derive(Debug, Default)]
struct EverChanging(AtomicUsize);

impl TokenSource for EverChanging {
    fn current(&self) -> Option<AdminToken> {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        Some(AdminToken::new(format!("wrong_{n}")))
    }
}

#[tokio::test]
async fn a_request_is_retried_once_however_often_the_token_changes() {
    let server = FakeSynapse::start(Dataset::new(), fake::Db::Sqlite).await;
    server.set_admin_token("the_right_one");
    let source = Arc::new(EverChanging::default());
    let mut config =
        ClientConfig::new(server.base_url().parse().unwrap(), AdminToken::new("stale"));
    config.retry = RetryPolicy::none();
    let client = SynapseClient::new(config)
        .unwrap()
        .with_token_source(source.clone());

    // A GET (the statistics) and a POST (the actions): each sent twice,
    // the source read once for each (after the first 401).
    // (Bounded: a client retrying at every new token would never end.)
    let bounded = Duration::from_secs(30);
    let before = server.request_count();
    let error = tokio::time::timeout(bounded, one_page(&client))
        .await
        .expect("one retry, not one per new token")
        .unwrap_err();
    assert!(is_unknown_token(&error), "{error:?}");
    assert_eq!(server.request_count(), before + 2);
    assert_eq!(
        source.0.load(Ordering::SeqCst),
        1,
        "read after the first 401 only"
    );

    let before = server.request_count();
    let error = tokio::time::timeout(bounded, client.purge_media_cache(1_700_000_000_000))
        .await
        .expect("one retry, not one per new token")
        .unwrap_err();
    assert!(is_unknown_token(&error), "{error:?}");
    assert_eq!(server.request_count(), before + 2);
    assert_eq!(source.0.load(Ordering::SeqCst), 2);
}

/// The daemon between two runs, with the client `run` builds: the token
/// rotated on the server fails a run (the error stands, `/ready` says why);
/// written to its file, the next run succeeds with the same daemon.
#[tokio::test]
async fn the_daemons_next_run_uses_the_token_written_to_its_file() {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        - 3_600_000;
    let server = FakeSynapse::start(
        Dataset::builder().user("@alice:test", Some("Alice"), &[(t, Some(5 * 1024))]),
        fake::Db::Sqlite,
    )
    .await;
    let mut f = Fixture::new();
    let config = f.write_policy(&server.base_url(), server.admin_token(), QUOTA);
    let token_file = f.dir.path().join("token");
    let readiness = Arc::new(Readiness::default());
    // The recording room stands for a synced bot.
    readiness.set_matrix(true);
    let (mut daemon, _shared) = Daemon::new(
        config,
        f.policy.clone(),
        Box::new(|config: &Config| synapse_client(config).map_err(|e| format!("{e:#}"))),
        f.room.clone(),
        f.state_path(),
        f.metrics.clone(),
        readiness.clone(),
    )
    .unwrap();
    daemon.run_once().await.unwrap().unwrap();
    assert!(readiness.reasons().is_empty(), "{:?}", readiness.reasons());

    server.set_admin_token("rotated_on_the_server");
    let error = daemon.run_once().await.unwrap().unwrap_err();
    assert!(error.to_string().contains("401"), "{error}");
    let reasons = readiness.reasons().join("\n");
    assert!(
        reasons.contains("will not succeed until an admin acts")
            && reasons.contains("Synapse refused the access token"),
        "{reasons}"
    );
    assert!(
        f.room.plain().iter().any(|m| m.contains("401")),
        "{:#?}",
        f.room.plain()
    );

    std::fs::write(&token_file, "rotated_on_the_server\n").unwrap();
    daemon.run_once().await.unwrap().unwrap();
    assert!(readiness.reasons().is_empty(), "{:?}", readiness.reasons());
    let posted = f.room.plain().join("\n");
    assert!(!posted.contains("rotated_on_the_server"), "{posted}");
    assert!(!posted.contains(server.admin_token()), "{posted}");
}

async fn client_api(h: &SynapseHarness, path: &str, token: Option<&str>, body: Value) -> Value {
    let url = format!("{}{path}", h.base_url().as_str().trim_end_matches('/'));
    let mut request = h.http().post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {value}");
    value
}

/// Waits (at most 90 s) until `/ready` answers `status`; its body.
async fn ready_becomes(listen: &str, status: u16, dir: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (got, body) = get(&format!("http://{listen}/ready")).await;
        if got == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/ready never answered {status} (last {got} {body}):\n{}",
            logs(dir)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Real Synapse: the daemon's admin token logged out (revoked); a second
/// admin session's token written into the token file; the daemon's next
/// scheduled run succeeds without a restart. Neither token is ever logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_replaced_in_its_file_is_picked_up_by_the_next_run_on_real_synapse() {
    let h = SynapseHarness::start(Backend::Sqlite)
        .await
        .unwrap_or_else(|e| panic!("starting Synapse: {e:#}"));
    let admin = h.register("admin", "admin-password", true).await.unwrap();
    let bot = h.register("warden", "bot-password", false).await.unwrap();
    let room_id = h
        .create_room(&admin, "Synapse admins", false, &[&bot.user_id])
        .await
        .unwrap();
    let mut setup = write_setup(&h, &admin, &room_id);
    setup.written = setup.written.clone().set("schedule.every", "2s");
    setup.written.write(&setup.policy).unwrap();
    let mut warden = start(&setup);
    ready_becomes(&setup.listen, 200, setup.dir.path()).await;
    // (Synapse without MAS: no delegated authentication, its auth_metadata
    // answers 404.)
    let elsewhere = tempfile::tempdir().unwrap();
    let probe = client_for(
        h.base_url().as_str(),
        &setup.dir.path().join("admin-token"),
        elsewhere.path(),
    );
    assert_eq!(probe.delegated_auth().await.unwrap(), None);

    // A second session of the same admin, as a regenerated token would be.
    let login = client_api(
        &h,
        "/_matrix/client/v3/login",
        None,
        json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": "admin"},
            "password": "admin-password",
        }),
    )
    .await;
    let fresh = login["access_token"].as_str().unwrap().to_owned();
    assert_ne!(fresh, admin.access_token);

    // The first token revoked, the file unchanged: the runs fail, clearly.
    client_api(
        &h,
        "/_matrix/client/v3/logout",
        Some(&admin.access_token),
        json!({}),
    )
    .await;
    let body = ready_becomes(&setup.listen, 503, setup.dir.path()).await;
    assert!(
        body.contains("Synapse refused the access token (401 M_UNKNOWN_TOKEN"),
        "{body}"
    );

    // The new token written to the file: the next run succeeds.
    std::fs::write(setup.dir.path().join("admin-token"), format!("{fresh}\n")).unwrap();
    ready_becomes(&setup.listen, 200, setup.dir.path()).await;

    signal(&warden, libc::SIGTERM);
    let status = wait_exit(&mut warden, Duration::from_secs(10));
    if status.is_none() {
        let _ = warden.kill();
    }
    let log = logs(setup.dir.path());
    assert!(
        log.contains("Synapse no longer knows the admin token; using the new one"),
        "{log}"
    );
    assert!(!log.contains(&fresh) && !log.contains(&admin.access_token));
    assert!(status.is_some_and(|s| s.success()), "{log}");
}
