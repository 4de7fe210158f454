//! End to end: the oldest Synapse we claim, tested.
//!
//! On [`OLDEST_SYNAPSE_VERSION`] (a virtualenv of its own beside the pinned
//! release's; SQLite only, to keep a cold CI run short) with the module
//! `synapse_warden_quota` of this checkout loaded: a real `synapse-warden
//! run` decides the upload limits, and the upload that would take a user
//! over an `enforce: upload` rule is refused with Synapse's 403
//! `M_USER_LIMIT_EXCEEDED` and the rule's `info_uri` (both new in Synapse
//! 1.158.0, as is `MediaUploadLimit`'s `info_uri` that the module passes:
//! before it, the module's callback fails); the refusal reaches the warden
//! (`/metrics`); and `synapse-warden check` walks every page of the
//! statistics and reports exactly the expected violation.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::quota_e2e::{QuotaRig, quota_rig, upload};
use crate::run_e2e::{get, signal, wait_exit};
use test_support::synapse::{Backend, OLDEST_SYNAPSE_VERSION};

const BIN: &str = env!("CARGO_BIN_EXE_synapse-warden");
const KIB: usize = 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oldest_supported_synapse_walks_and_refuses_uploads() {
    let QuotaRig {
        h,
        users,
        // Kept to the end: the warden's files.
        dir: _dir,
        listen,
        policy,
        mut warden,
        ..
    } = quota_rig(
        Some(OLDEST_SYNAPSE_VERSION),
        Backend::Sqlite,
        "2s",
        &["bob", "carol", "dave"],
        // Pages of two users: the walk goes through several pages.
        |p| {
            p.set("synapse.page_size", 2)
                .set("alerts.refusals_every", "1s")
        },
        "user_media:\n  - name: media-quota\n    max_media_length: 10 KiB\n    enforce: upload\n    info_uri: https://example.org/quota\n  - name: many-files\n    severity: warning\n    max_media_count: 3\n",
    )
    .await;
    let [bob, carol, dave] = &users[..] else {
        unreachable!()
    };
    assert_eq!(h.version(), OLDEST_SYNAPSE_VERSION);
    // The server that answers is that release, not the pinned one.
    let (status, version) = get(h
        .base_url()
        .join("_synapse/admin/v1/server_version")
        .unwrap()
        .as_str())
    .await;
    assert_eq!(status, 200, "{version}");
    let version: Value = serde_json::from_str(&version).unwrap();
    assert_eq!(version["server_version"], OLDEST_SYNAPSE_VERSION);

    // Under the quota: uploads pass, the module asking the warden each time.
    for (user, size) in [(bob, 6 * KIB), (carol, 2 * KIB)] {
        let (status, body) = upload(&h, user, size).await;
        assert_eq!(status, 200, "{}: {body}\n{}", user.user_id, h.log_tail(40));
    }
    for _ in 0..4 {
        let (status, body) = upload(&h, dave, 100).await;
        assert_eq!(status, 200, "{body}");
    }
    // The upload that would pass the quota: Synapse's 403, with the rule's
    // info_uri.
    let (status, refused) = upload(&h, bob, 6 * KIB).await;
    assert_eq!(status, 403, "{refused}\n{}", h.log_tail(40));
    assert_eq!(refused["errcode"], "M_USER_LIMIT_EXCEEDED", "{refused}");
    assert_eq!(refused["error"], "Media upload limit exceeded", "{refused}");
    assert_eq!(
        refused["info_uri"], "https://example.org/quota",
        "{refused}"
    );
    // The refusal reached the warden.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, metrics) = get(&format!("http://{listen}/metrics")).await;
        if metrics.contains("synapse_warden_uploads_refused_total{rule=\"media-quota\"} 1") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the refusal never reached /metrics:\n{metrics}\n{}",
            h.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // One full walk: `check` against the same Synapse, pages of two users.
    let out = tokio::process::Command::new(BIN)
        .args(["check", "--format", "json", "--config"])
        .arg(&policy)
        .env_remove("SYNAPSE_WARDEN_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("running synapse-warden check");
    let describe = format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{describe}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect(&describe);
    let violations: Vec<String> = doc["violations"]
        .as_array()
        .expect(&describe)
        .iter()
        .map(|v| {
            format!(
                "{} {} {} {} {}/{}",
                v["severity"].as_str().unwrap_or("?"),
                v["rule"].as_str().unwrap_or("?"),
                v["subject"]["id"].as_str().unwrap_or("?"),
                v["measure"].as_str().unwrap_or("?"),
                v["observed"],
                v["limit"],
            )
        })
        .collect();
    // bob keeps 6 KiB (the refused upload is not his), carol 2 KiB, dave 4
    // media: only dave's count is over.
    assert_eq!(
        violations,
        ["warning many-files @dave:warden.test media_count 4/3"],
        "{describe}"
    );
    // One walk over all media, every user with media seen (two pages).
    let walks: Vec<(Value, Value)> = doc["summary"]["walks"]
        .as_array()
        .expect(&describe)
        .iter()
        .map(|w| (w["window_secs"].clone(), w["users"].clone()))
        .collect();
    assert_eq!(walks, [(Value::Null, Value::from(3))], "{describe}");

    signal(&warden, libc::SIGTERM);
    assert!(wait_exit(&mut warden, Duration::from_secs(10)).is_some());
}
