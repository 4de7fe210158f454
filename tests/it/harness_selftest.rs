//! Self-test of the real-Synapse harness (`test_support::synapse`): both backends
//! start, users register, media uploads count in the statistics API, SQL
//! seeding shows up there too, the rooms statistics endpoint behaves as
//! documented, and teardown leaves nothing behind, even when a test panics.
//!
//! Run only these with `cargo test --test it harness -- --nocapture` (the
//! start-up times are printed).

use std::path::PathBuf;
use std::time::Instant;

use reqwest::StatusCode;
use serde_json::{Value, json};

use test_support::synapse::{
    Backend, SynapseHarness, seeded_displayname, seeded_media_length, seeded_user_id,
};

const USERS_MEDIA: &str = "/_synapse/admin/v1/statistics/users/media";
const ROOMS: &str = "/_synapse/admin/v1/statistics/database/rooms";

async fn start(backend: Backend) -> SynapseHarness {
    let synapse = SynapseHarness::start(backend)
        .await
        .unwrap_or_else(|err| panic!("starting Synapse on {backend}: {err:#}"));
    eprintln!(
        "harness: Synapse on {backend} started in {:.2?}",
        synapse.startup_time()
    );
    synapse
}

/// A GET with plain reqwest, as the project's client would do it.
async fn get(synapse: &SynapseHarness, token: Option<&str>, path: &str) -> (StatusCode, Value) {
    let url = synapse
        .base_url()
        .join(path.trim_start_matches('/'))
        .unwrap();
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Users, uploads, display names and SQL seeding, seen through
/// `GET /_synapse/admin/v1/statistics/users/media`.
async fn check_users_media(synapse: &SynapseHarness) {
    let admin = synapse
        .register("warden-admin", "admin-password", true)
        .await
        .unwrap();
    let user = synapse
        .register("warden-user", "user-password", false)
        .await
        .unwrap();
    let anon = synapse
        .register("warden-anon", "anon-password", false)
        .await
        .unwrap();
    assert_eq!(
        user.user_id,
        format!("@warden-user:{}", synapse.server_name())
    );
    assert!(
        !format!("{user:?}").contains(&user.access_token),
        "Debug leaks the token"
    );

    let mxc = synapse.upload_media(&user, 100).await.unwrap();
    assert!(
        mxc.starts_with(&format!("mxc://{}/", synapse.server_name())),
        "{mxc}"
    );
    synapse.upload_media(&user, 34).await.unwrap();
    synapse.set_displayname(&anon, None).await.unwrap();
    synapse.upload_media(&anon, 10).await.unwrap();

    // Authentication, as the reference documents it.
    let (status, body) = get(synapse, None, USERS_MEDIA).await;
    assert_eq!(
        (status, &body["errcode"]),
        (StatusCode::UNAUTHORIZED, &json!("M_MISSING_TOKEN")),
        "{body}"
    );
    let (status, body) = get(synapse, Some(&user.access_token), USERS_MEDIA).await;
    assert_eq!(
        (status, &body["errcode"]),
        (StatusCode::FORBIDDEN, &json!("M_FORBIDDEN")),
        "{body}"
    );

    let (status, body) = get(synapse, Some(&admin.access_token), USERS_MEDIA).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "users": [
                // The admin uploaded nothing: absent, not zero.
                { "user_id": anon.user_id, "displayname": null, "media_count": 1, "media_length": 10 },
                // Registration sets the display name to the localpart.
                { "user_id": user.user_id, "displayname": "warden-user", "media_count": 2, "media_length": 134 },
            ],
            "total": 2,
        })
    );

    // Bulk seeding by SQL.
    let seeded = synapse.seed_media_sql(50, 3).await.unwrap();
    assert_eq!((seeded.users, seeded.media), (50, 150));
    let (status, body) = get(
        synapse,
        Some(&admin.access_token),
        &format!("{USERS_MEDIA}?limit=1"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], json!(52), "{body}");
    let (status, body) = get(
        synapse,
        Some(&admin.access_token),
        &format!("{USERS_MEDIA}?search_term=seed-0000007"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "users": [{
                "user_id": seeded_user_id(7),
                "displayname": seeded_displayname(7),
                "media_count": 3,
                "media_length": seeded_media_length(7, 3),
            }],
            "total": 1,
        })
    );
    let (_, body) = get(
        synapse,
        Some(&admin.access_token),
        &format!("{USERS_MEDIA}?order_by=media_length&dir=b&limit=1"),
    )
    .await;
    assert_eq!(
        body["users"][0]["user_id"],
        json!(seeded_user_id(50)),
        "{body}"
    );
    let total: u64 = synapse
        .sql("SELECT SUM(media_length) FROM local_media_repository WHERE user_id LIKE '@seed-%'")
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(total, seeded.total_bytes);
}

#[tokio::test]
async fn harness_sqlite_statistics_and_rooms_refusal() {
    let synapse = start(Backend::Sqlite).await;
    assert!(synapse.sqlite_path().unwrap().exists());
    check_users_media(&synapse).await;

    let admin = synapse
        .register("rooms-admin", "password", true)
        .await
        .unwrap();
    let (status, body) = get(&synapse, Some(&admin.access_token), ROOMS).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body,
        json!({ "errcode": "M_UNKNOWN", "error": "Endpoint requires using PostgreSQL" })
    );
    assert!(synapse.enable_rooms_statistics().await.is_err());
    assert!(synapse.psql("SELECT 1").await.is_err());
}

#[tokio::test]
async fn harness_postgres_statistics_and_rooms() {
    let synapse = start(Backend::Postgres).await;
    assert_eq!(
        synapse.psql("SELECT current_database()").await.unwrap(),
        synapse.pg_database().unwrap()
    );
    check_users_media(&synapse).await;

    let admin = synapse
        .register("rooms-admin", "password", true)
        .await
        .unwrap();
    // A fresh server: event_edges.room_id is never written, so 500.
    let (status, body) = get(&synapse, Some(&admin.access_token), ROOMS).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");

    // The room helpers, including an encrypted room and power levels.
    let other = synapse
        .register("rooms-other", "password", false)
        .await
        .unwrap();
    let room = synapse
        .create_room(&admin, "Encrypted", true, &[&other.user_id])
        .await
        .unwrap();
    assert_eq!(synapse.join_room(&other, &room).await.unwrap(), room);
    synapse
        .set_power_level(&admin, &room, &other.user_id, 50)
        .await
        .unwrap();
    let event_id = synapse.send_text(&other, &room, "hello").await.unwrap();
    assert!(event_id.starts_with('$'), "{event_id}");

    let started = Instant::now();
    let rooms = synapse.enable_rooms_statistics().await.unwrap();
    eprintln!(
        "harness: enable_rooms_statistics took {:.2?}",
        started.elapsed()
    );
    let (status, body) = get(&synapse, Some(&admin.access_token), ROOMS).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = body["rooms"].as_array().unwrap();
    assert!(!listed.is_empty(), "{body}");
    assert_eq!(listed.len(), rooms.len(), "{body}");
    for pair in listed.windows(2) {
        assert!(
            pair[0]["estimated_size"].as_u64() >= pair[1]["estimated_size"].as_u64(),
            "not sorted largest first: {body}"
        );
    }
    assert!(
        rooms.iter().all(|room| room.estimated_size > 0),
        "{rooms:?}"
    );
    assert!(synapse.sqlite("SELECT 1").await.is_err());
}

/// What a dropped harness should have removed.
struct Leftovers {
    dir: PathBuf,
    database: Option<String>,
    pid: u32,
}

async fn assert_gone(leftovers: &Leftovers) {
    assert!(
        !leftovers.dir.exists(),
        "{} still exists",
        leftovers.dir.display()
    );
    // SAFETY: signal 0 only checks whether the process exists.
    let alive = unsafe { libc::kill(leftovers.pid as libc::pid_t, 0) } == 0;
    assert!(!alive, "Synapse (pid {}) still runs", leftovers.pid);
    if let Some(database) = &leftovers.database {
        let url = std::env::var("WARDEN_TEST_PG_URL")
            .ok()
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| test_support::synapse::DEFAULT_PG_URL.to_owned());
        let output = std::process::Command::new("psql")
            .args([url.as_str(), "-XtAc"])
            .arg(format!(
                "SELECT count(*) FROM pg_database WHERE datname = '{database}'"
            ))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            "0",
            "{database} still exists"
        );
    }
}

#[tokio::test]
async fn harness_teardown_on_drop_and_on_panic() {
    if std::env::var("WARDEN_KEEP_SYNAPSE").is_ok_and(|v| v == "1") {
        eprintln!("WARDEN_KEEP_SYNAPSE=1 keeps instances: teardown not checked");
        return;
    }
    // Plain drop.
    let synapse = start(Backend::Postgres).await;
    let leftovers = Leftovers {
        dir: synapse.dir().to_path_buf(),
        database: synapse.pg_database().map(str::to_owned),
        pid: synapse.pid().unwrap(),
    };
    assert!(leftovers.dir.exists());
    drop(synapse);
    assert_gone(&leftovers).await;

    // A panicking test: the harness is dropped while unwinding.
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let synapse = start(Backend::Sqlite).await;
        sender
            .send(Leftovers {
                dir: synapse.dir().to_path_buf(),
                database: None,
                pid: synapse.pid().unwrap(),
            })
            .ok();
        panic!("deliberate panic with a running Synapse");
    });
    assert!(task.await.unwrap_err().is_panic());
    assert_gone(&receiver.await.unwrap()).await;
}

/// Bulk seeding at benchmark scale (200k users), timed. Ignored by default:
/// `cargo test --test it harness_seed_200k -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "slow: seeds 200k users"]
async fn harness_seed_200k_postgres() {
    let synapse = start(Backend::Postgres).await;
    let admin = synapse
        .register("seed-admin", "password", true)
        .await
        .unwrap();
    let started = Instant::now();
    let seeded = synapse.seed_media_sql(200_000, 2).await.unwrap();
    eprintln!(
        "harness: seeded {} users / {} media rows by SQL in {:.2?}",
        seeded.users,
        seeded.media,
        started.elapsed()
    );
    let started = Instant::now();
    let (status, body) = get(
        &synapse,
        Some(&admin.access_token),
        &format!("{USERS_MEDIA}?limit=1"),
    )
    .await;
    eprintln!(
        "harness: one statistics page over 200k users took {:.2?}",
        started.elapsed()
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], json!(200_000), "{body}");
}
