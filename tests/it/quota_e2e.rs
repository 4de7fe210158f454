//! End to end: hard upload quotas enforced by Synapse itself with
//! the `synapse_warden_quota` module installed from this checkout into the
//! test virtualenv, asking a real `synapse-warden run` for its limits, on
//! real Synapse (SQLite and PostgreSQL).
//!
//! A user under the quota uploads; the upload that would pass it is refused
//! with Synapse's 403; an exempt user and a user with an override are not
//! refused at the same size; after deleting media the user uploads again;
//! the admin room shows the refusal and /metrics counts it; with the warden
//! stopped uploads pass (fail open) and Synapse's log says why.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::run_e2e::{free_port, get, logs, signal, wait_exit, wait_for};
use test_support::policy::{Policy, SecretAt};
use test_support::synapse::{
    Backend, SynapseHarness, TestUser, ensure_quota_module, ensure_quota_module_for,
};

const BIN: &str = env!("CARGO_BIN_EXE_synapse-warden");
const KIB: usize = 1024;

/// Uploads `bytes` as `user`: the status and Synapse's JSON answer.
pub(crate) async fn upload(
    h: &SynapseHarness,
    user: &TestUser,
    bytes: usize,
) -> (u16, serde_json::Value) {
    let url = h
        .base_url()
        .join("_matrix/media/v3/upload?filename=q.bin")
        .unwrap();
    let r = h
        .http()
        .post(url)
        .bearer_auth(&user.access_token)
        .header("content-type", "application/octet-stream")
        .body(vec![7u8; bytes])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

pub(crate) fn start_warden(dir: &std::path::Path, policy: &std::path::Path) -> Child {
    Command::new(BIN)
        .args(["run", "--config"])
        .arg(policy)
        .env(
            "RUST_LOG",
            "info,matrix_sdk=warn,matrix_sdk_crypto=warn,matrix_sdk_base=warn",
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("log-warden")).unwrap())
        .spawn()
        .expect("starting synapse-warden run")
}

/// A real Synapse with this checkout's module `synapse_warden_quota`
/// asking a real `synapse-warden run` for its limits, the bot in the admin
/// room: what every quota test starts from.
pub(crate) struct QuotaRig {
    pub(crate) h: SynapseHarness,
    pub(crate) admin: TestUser,
    pub(crate) bot: TestUser,
    pub(crate) room_id: String,
    /// The users asked for, in order.
    pub(crate) users: Vec<TestUser>,
    /// The warden's files: policy, secrets, data, its log.
    pub(crate) dir: tempfile::TempDir,
    /// The warden's `http.listen`.
    pub(crate) listen: String,
    /// The policy file.
    pub(crate) policy: std::path::PathBuf,
    pub(crate) warden: Child,
}

/// Starts a [`QuotaRig`] (bind its `dir` to the end of the test: dropped,
/// it takes the warden's files with it): Synapse `version` (the pinned one when `None`)
/// on `backend`, the module with `module_timeout`, `users` registered, and
/// the warden with the policy `rules` after `settings` (ready when this
/// returns).
pub(crate) async fn quota_rig(
    version: Option<&str>,
    backend: Backend,
    module_timeout: &str,
    users: &[&str],
    settings: impl FnOnce(Policy) -> Policy,
    rules: &str,
) -> QuotaRig {
    match version {
        Some(v) => ensure_quota_module_for(v).await,
        None => ensure_quota_module().await,
    }
    .unwrap_or_else(|e| panic!("the module in Synapse {version:?}: {e:#}"));
    let dir = tempfile::tempdir().unwrap();
    let module_secret = dir.path().join("module-secret");
    std::fs::write(&module_secret, "a-module-secret-for-tests\n").unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut extra = serde_json::Map::new();
    extra.insert(
        "modules".into(),
        json!([{
            "module": "synapse_warden_quota.WardenQuota",
            "config": {
                "warden_url": format!("http://{listen}"),
                "secret_path": module_secret.display().to_string(),
                "timeout": module_timeout,
                "cache": "0s",
            },
        }]),
    );
    let h = match version {
        Some(v) => SynapseHarness::start_version(v, backend, extra).await,
        None => SynapseHarness::start_with(backend, extra).await,
    }
    .unwrap_or_else(|e| panic!("starting Synapse {version:?}: {e:#}"));
    let admin = h.register("admin", "admin-password", true).await.unwrap();
    let bot = h.register("warden", "bot-password", false).await.unwrap();
    let mut registered = Vec::new();
    for name in users {
        registered.push(
            h.register(name, &format!("{name}-password"), false)
                .await
                .unwrap(),
        );
    }
    let room_id = h
        .create_room(&admin, "Synapse admins", false, &[&bot.user_id])
        .await
        .unwrap();

    let secret = |name: &str, value: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, value).unwrap();
        path
    };
    let policy = dir.path().join("policies.yaml");
    let url = h.base_url().as_str().trim_end_matches('/');
    let base = Policy::new(
        url,
        SecretAt::File(secret("admin-token", &admin.access_token)),
    )
    .set("synapse.timeout", "20s")
    .set("schedule.every", "1h")
    .bot(
        url,
        &format!("@warden:{}", h.server_name()),
        SecretAt::File(secret("bot-password", "bot-password")),
        &room_id,
        &dir.path().join("data"),
        SecretAt::File(secret("store-passphrase", "a store passphrase")),
    )
    .set("http.listen", &listen)
    .secret("http.module_secret", SecretAt::File(module_secret.clone()));
    settings(base).rules(rules).write(&policy).unwrap();
    let warden = start_warden(dir.path(), &policy);
    let deadline = Instant::now() + Duration::from_secs(90);
    while get(&format!("http://{listen}/ready")).await.0 != 200 {
        assert!(
            Instant::now() < deadline,
            "never ready:\n{}",
            logs(dir.path())
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    QuotaRig {
        h,
        admin,
        bot,
        room_id,
        users: registered,
        dir,
        listen,
        policy,
        warden,
    }
}

async fn quota_end_to_end(backend: Backend) {
    let QuotaRig {
        h,
        admin,
        bot,
        room_id,
        users,
        dir,
        listen,
        mut warden,
        ..
    } = quota_rig(
        None,
        backend,
        "500ms",
        &["bob", "vip", "big"],
        |p| {
            p.set("alerts.refusals_every", "1s").set_yaml(
                "overrides",
                "- users: \"@big:*\"\n  rule: media-quota\n  max_media_length: 100 KiB\n  reason: agreed\n",
            )
        },
        "user_media:\n  - name: media-quota\n    max_media_length: 10 KiB\n    exempt: \"@vip:*\"\n    enforce: upload\n    info_uri: https://example.org/quota\n",
    )
    .await;
    let [bob, vip, big] = &users[..] else {
        unreachable!()
    };

    // Under the quota: uploads pass.
    let (status, first) = upload(&h, bob, 6 * KIB).await;
    assert_eq!(status, 200, "{first}");
    // The upload that would pass it: Synapse's 403.
    let (status, refused) = upload(&h, bob, 6 * KIB).await;
    assert_eq!(status, 403, "{refused}\n{}", h.log_tail(40));
    assert_eq!(refused["errcode"], "M_USER_LIMIT_EXCEEDED", "{refused}");
    assert_eq!(refused["error"], "Media upload limit exceeded", "{refused}");
    assert_eq!(
        refused["info_uri"], "https://example.org/quota",
        "{refused}"
    );
    // Exempt and overridden users, same sizes: not refused.
    for user in [vip, big] {
        for _ in 0..2 {
            let (status, body) = upload(&h, user, 6 * KIB).await;
            assert_eq!(status, 200, "{}: {body}", user.user_id);
        }
    }
    // After deleting media, the user uploads again.
    let media_id = first["content_uri"]
        .as_str()
        .and_then(|u| u.rsplit('/').next())
        .unwrap()
        .to_owned();
    let delete = h
        .base_url()
        .join(&format!(
            "_synapse/admin/v1/media/{}/{media_id}",
            h.server_name()
        ))
        .unwrap();
    let r = h
        .http()
        .delete(delete)
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text().await);
    let (status, body) = upload(&h, bob, 6 * KIB).await;
    assert_eq!(status, 200, "{body}");

    // The admin room shows the refusal; /metrics counts it.
    let room = wait_for(&h, &admin, &room_id, &bot.user_id, "the refusal", |b| {
        b.iter().any(|m| m.contains("upload refused"))
    })
    .await;
    let line = room.iter().find(|m| m.contains("upload refused")).unwrap();
    assert!(
        line.contains("1 upload refused by Synapse")
            && line.contains("@bob:")
            && line.contains("over media-quota (10.0 KiB)"),
        "{line}"
    );
    let (_, metrics) = get(&format!("http://{listen}/metrics")).await;
    assert!(
        metrics.contains("synapse_warden_uploads_refused_total{rule=\"media-quota\"} 1"),
        "{metrics}"
    );
    // Without the secret, the module's endpoint says nothing.
    let (status, _) = get(&format!(
        "http://{listen}/_synapse_warden/module/v1/limits?user_id=%40bob%3A{}",
        h.server_name()
    ))
    .await;
    assert_eq!(status, 401);

    // The warden stopped: uploads pass (fail open) and Synapse says why.
    signal(&warden, libc::SIGTERM);
    assert!(wait_exit(&mut warden, Duration::from_secs(10)).is_some());
    for _ in 0..2 {
        let (status, body) = upload(&h, bob, 6 * KIB).await;
        assert_eq!(status, 200, "fail open: {body}");
    }
    let log = std::fs::read_to_string(h.log_path()).unwrap();
    let warnings = log
        .lines()
        .filter(|l| l.contains("synapse_warden_quota") && l.contains("failing open"))
        .count();
    assert_eq!(warnings, 1, "one warning per outage:\n{}", h.log_tail(60));
    assert!(
        !log.contains("a-module-secret-for-tests"),
        "the secret in Synapse's log"
    );
    let warden_log = logs(dir.path());
    assert!(!warden_log.contains("a-module-secret-for-tests"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_enforced_by_synapse_on_sqlite() {
    quota_end_to_end(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_enforced_by_synapse_on_postgres() {
    quota_end_to_end(Backend::Postgres).await;
}
