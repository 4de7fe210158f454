//! End to end: uploads refused by an `enforce: upload` quota
//! never reach Synapse's disk (element-hq/synapse#18915: Synapse 1.163.2
//! stores the file before its own check of the limits and leaves it there
//! when it refuses). The module `synapse_warden_quota` of this checkout
//! refuses them earlier, from the declared `Content-Length`; a real
//! `synapse-warden run` serves the limits; real Synapse, SQLite and
//! PostgreSQL.
//!
//! A user at 6 KiB of a 10 KiB quota tries 20 uploads of 6 KiB, and one
//! `PUT` to a media ID created beforehand: each gets Synapse's 403
//! `M_USER_LIMIT_EXCEEDED` with the rule's `info_uri`, the media store holds
//! exactly the files it held before, and the warden counted every refusal.

use std::path::Path;
use std::time::Duration;

use crate::quota_e2e::{QuotaRig, quota_rig, upload};
use crate::run_e2e::{get, signal, wait_exit};
use test_support::synapse::Backend;

const KIB: usize = 1024;
const TRIES: usize = 20;

/// The files under `dir`, recursively (none if it does not exist yet).
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn assert_refused(body: &serde_json::Value, what: &str) {
    assert_eq!(body["errcode"], "M_USER_LIMIT_EXCEEDED", "{what}: {body}");
    assert_eq!(
        body["error"], "Media upload limit exceeded",
        "{what}: {body}"
    );
    assert_eq!(
        body["info_uri"], "https://example.org/quota",
        "{what}: {body}"
    );
}

async fn refused_uploads_stay_off_the_disk(backend: Backend) {
    let QuotaRig {
        h,
        users,
        // Kept to the end: the warden's files.
        dir: _dir,
        listen,
        mut warden,
        ..
    } = quota_rig(
        None,
        backend,
        "2s",
        &["bob"],
        |p| p,
        "user_media:\n  - name: media-quota\n    max_media_length: 10 KiB\n    enforce: upload\n    info_uri: https://example.org/quota\n",
    )
    .await;
    let bob = &users[0];

    let media_store = h.dir().join("media_store");
    // Under the quota: stored.
    let (status, body) = upload(&h, bob, 6 * KIB).await;
    assert_eq!(status, 200, "{body}\n{}", h.log_tail(40));
    let before = files_under(&media_store);
    assert!(
        !before.is_empty(),
        "the first upload is not in {media_store:?}"
    );

    // Past it: refused, and nothing written.
    for n in 1..=TRIES {
        let (status, body) = upload(&h, bob, 6 * KIB).await;
        assert_eq!(status, 403, "try {n}: {body}\n{}", h.log_tail(40));
        assert_refused(&body, &format!("try {n}"));
    }
    // The asynchronous upload: a media ID first, then PUT to it.
    let create = h.base_url().join("_matrix/media/v1/create").unwrap();
    let r = h
        .http()
        .post(create)
        .bearer_auth(&bob.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let created: serde_json::Value = r.json().await.unwrap();
    let media_id = created["content_uri"]
        .as_str()
        .and_then(|u| u.rsplit('/').next())
        .unwrap()
        .to_owned();
    let put = h
        .base_url()
        .join(&format!(
            "_matrix/media/v3/upload/{}/{media_id}",
            h.server_name()
        ))
        .unwrap();
    let r = h
        .http()
        .put(put)
        .bearer_auth(&bob.access_token)
        .header("content-type", "application/octet-stream")
        .body(vec![7u8; 6 * KIB])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_refused(&r.json().await.unwrap(), "PUT");

    let after = files_under(&media_store);
    assert_eq!(
        after,
        before,
        "{} refused uploads left files in the media store (element-hq/synapse#18915)",
        after.len().saturating_sub(before.len())
    );

    // Every refusal reached the warden.
    let (_, metrics) = get(&format!("http://{listen}/metrics")).await;
    let counted = format!(
        "synapse_warden_uploads_refused_total{{rule=\"media-quota\"}} {}",
        TRIES + 1
    );
    assert!(metrics.contains(&counted), "{counted} not in:\n{metrics}");

    signal(&warden, libc::SIGTERM);
    assert!(wait_exit(&mut warden, Duration::from_secs(10)).is_some());
    assert!(
        !std::fs::read_to_string(h.log_path())
            .unwrap()
            .contains("a-module-secret-for-tests"),
        "the secret in Synapse's log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_uploads_stay_off_the_disk_on_sqlite() {
    refused_uploads_stay_off_the_disk(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_uploads_stay_off_the_disk_on_postgres() {
    refused_uploads_stay_off_the_disk(Backend::Postgres).await;
}
