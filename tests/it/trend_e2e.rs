//! End to end: the usage history against a real Synapse, and `!stats trend`
//! answered with a chart in an encrypted room.
//!
//! Three daemon runs with uploads in between (the third after a restart of
//! the daemon on the same history file) record three complete runs; in an
//! encrypted room, `!stats trend` gets a text reply with the numbers and an
//! image in reply to the command, uploaded encrypted: the admin's real
//! matrix-sdk client downloads and decrypts it, and it is a PNG of the
//! chart's size. `!stats growth` names the user who uploaded. The daemon,
//! with `digest.cron`, posts the digest at its due time through the same
//! bot, and its chart, which the client decrypts too; once per due time.
//! `synapse-warden stats trend --png FILE` writes the same chart.

use std::sync::Arc;
use std::time::Duration;

use matrix_sdk::Client;
use matrix_sdk::media::{MediaFormat, MediaRequestParameters};
use matrix_sdk::ruma::OwnedRoomId;
use matrix_sdk::ruma::events::room::MediaSource;
use serde_json::Value;
use synapse_warden::app::context::StatsContext;
use synapse_warden::bot::{Bot, BotSettings, Secret};
use synapse_warden::history::{History, HistoryStore};
use synapse_warden::synapse::{AdminToken, ClientConfig, RetryPolicy, SynapseClient};
use tokio_util::sync::CancellationToken;

use crate::client::{Seen, admin_client, joined, send};
use crate::daemon::{Fixture, QUOTA};
use test_support::synapse::{Backend, SynapseHarness};

const PASSWORD: &str = "correct horse battery staple";
const WAIT: Duration = Duration::from_secs(60);
const KIB: usize = 1024;

pub fn png_size(bytes: &[u8]) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).expect("PNG image data");
    (info.width, info.height)
}

/// `seen` is a chart of 1200 × 720 uploaded encrypted, which `client`
/// downloads and decrypts: a PNG of that size.
async fn assert_encrypted_chart(client: &Client, seen: &Seen, what: &str) {
    let (source, width, height) = seen.image.clone().unwrap();
    assert!(
        matches!(source, MediaSource::Encrypted(_)),
        "{what}: an encrypted upload: {source:?}"
    );
    assert_eq!((width, height), (Some(1200), Some(720)), "{what}");
    let bytes = client
        .media()
        .get_media_content(
            &MediaRequestParameters {
                source,
                format: MediaFormat::File,
            },
            false,
        )
        .await
        .unwrap_or_else(|e| panic!("the client downloads and decrypts {what}: {e}"));
    assert_eq!(png_size(&bytes), (1200, 720), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trend_and_the_digest_in_an_encrypted_room_post_charts_the_client_decrypts() {
    let h = SynapseHarness::start(Backend::Sqlite).await.unwrap();
    let admin = h.register("admin", PASSWORD, true).await.unwrap();
    let bot_user = h.register("warden", PASSWORD, false).await.unwrap();
    let alice = h.register("alice", PASSWORD, false).await.unwrap();
    let bob = h.register("bob", PASSWORD, false).await.unwrap();
    h.upload_media(&alice, 3 * KIB).await.unwrap();
    h.upload_media(&bob, KIB).await.unwrap();

    let mut f = Fixture::new();
    let history_file = f.dir.path().join("history.sqlite3");
    f.write_policy(h.base_url().as_str(), &admin.access_token, QUOTA);
    let config = f.edit(|p| {
        p.set("history.file", history_file.display().to_string())
            .set("history.capacity", "1 MiB")
    });

    // Three runs, uploads in between; the third after a restart.
    let mut daemon = f.daemon(config.clone());
    daemon.set_history(History::new(history_file.clone()));
    daemon.run_once().await.unwrap().unwrap();
    h.upload_media(&alice, 20 * KIB).await.unwrap();
    daemon.run_once().await.unwrap().unwrap();
    drop(daemon);
    h.upload_media(&alice, 40 * KIB).await.unwrap();
    let mut daemon = f.daemon(config.clone());
    daemon.set_history(History::new(history_file.clone()));
    daemon.run_once().await.unwrap().unwrap();
    drop(daemon);

    let store = HistoryStore::open_existing(&history_file).unwrap();
    let runs = store.runs().unwrap();
    assert_eq!(runs.len(), 3, "{runs:#?}");
    assert!(runs.iter().all(|r| r.complete && r.users == 2));
    assert_eq!(
        runs.iter().map(|r| r.bytes).collect::<Vec<_>>(),
        [4 * 1024, 24 * 1024, 64 * 1024]
    );
    let alice_points = store.user_points(&alice.user_id, 0).unwrap();
    assert_eq!(
        alice_points.iter().map(|p| p.bytes).collect::<Vec<_>>(),
        [3 * 1024, 23 * 1024, 63 * 1024]
    );
    drop(store);

    // The bot, in an encrypted room, answering from that history.
    let room_id: OwnedRoomId = h
        .create_room(&admin, "admins (encrypted)", true, &[&bot_user.user_id])
        .await
        .unwrap()
        .parse()
        .unwrap();
    let mut settings = BotSettings::new(
        h.base_url().clone(),
        bot_user.user_id.clone(),
        room_id.as_str(),
        f.dir.path().join("bot"),
        Secret::new("store passphrase"),
    );
    settings.password = Some(Secret::new(PASSWORD));
    settings.recovery_key = Some(Secret::new("recovery passphrase of the test bot"));
    let mut client_config = ClientConfig::new(
        h.base_url().clone(),
        AdminToken::new(admin.access_token.clone()),
    );
    client_config.retry = RetryPolicy::none();
    let mut stats = StatsContext::new(SynapseClient::new(client_config).unwrap(), "!stats");
    stats.history = Some(History::new(history_file.clone()));
    stats.config = Some(Arc::new(config));
    // Shared, as the daemon's notifier shares it in production.
    let bot = Arc::new(Bot::start(settings).await.expect("the bot starts"));
    let shutdown = CancellationToken::new();
    let task = {
        let (bot, shutdown) = (bot.clone(), shutdown.clone());
        let stats: Arc<dyn synapse_warden::bot::Responder> = Arc::new(stats);
        tokio::spawn(async move { bot.run(stats, shutdown).await })
    };

    let (client, mut inbox) = admin_client(
        &h,
        &admin,
        PASSWORD,
        &f.dir.path().join("admin-client"),
        "trend e2e admin client",
        WAIT,
    )
    .await;
    let room = joined(&client, &room_id, &bot_user.user_id, WAIT).await;

    let command = send(&room, "!stats trend").await;
    let text = inbox
        .reply_where(&command, &bot_user.user_id, |s| s.image.is_none())
        .await;
    assert!(
        text.body
            .starts_with("The media store, last 30d: 64.0 KiB, +60.0 KiB (+1500%):"),
        "{}",
        text.body
    );
    assert!(text.body.contains("then: 4.0 KiB"), "{}", text.body);
    assert!(text.body.contains("3 complete runs"), "{}", text.body);
    // Runs seconds apart: neither a daily rate nor a forecast from that.
    assert!(
        text.body.contains("growth: needs ") && text.body.contains("forecast: needs "),
        "{}",
        text.body
    );
    let image = inbox
        .reply_where(&command, &bot_user.user_id, |s| s.image.is_some())
        .await;
    assert_encrypted_chart(&client, &image, "the chart").await;
    // The image event itself is encrypted on the server.
    let (status, event): (_, Value) = h
        .get_json(
            &admin,
            &format!(
                "/_matrix/client/v3/rooms/{room_id}/event/{}",
                image.event_id
            ),
        )
        .await
        .unwrap();
    assert!(status.is_success(), "{status} {event}");
    assert_eq!(event["type"], "m.room.encrypted", "{event}");

    // Growth: alice's 60 KiB since the first run; bob did not grow.
    let command = send(&room, "!stats growth 30d").await;
    let growth = inbox.reply_to(&command, &bot_user.user_id).await;
    assert!(
        growth
            .body
            .contains("1. @alice:warden.test — +60.0 KiB, 3.0 KiB → 63.0 KiB"),
        "{}",
        growth.body
    );
    assert!(!growth.body.contains("@bob"), "{}", growth.body);

    // The digest, posted by the daemon through the bot at its due time:
    // its text, then its chart, which the client downloads and decrypts;
    // asked again for the same due time, nothing more.
    let config = f.edit(|p| p.set("digest.cron", "0 9 * * 1"));
    let mut daemon = f.daemon_with(config, bot.clone());
    daemon.set_history(History::new(history_file.clone()));
    let start = synapse_warden::clock::now_ms();
    assert_eq!(daemon.digest_if_due(start).await.unwrap(), None);
    let due = crate::digest::next_monday_9(start);
    assert_eq!(daemon.digest_if_due(due + 60_000).await.unwrap(), Some(due));
    let digest = inbox
        .wait_for("the digest", |s| {
            s.sender == bot_user.user_id && s.body.starts_with("synapse-warden summary")
        })
        .await;
    assert!(
        digest
            .body
            .contains("violations: 0 opened, 0 closed, 1 open now"),
        "{}",
        digest.body
    );
    let chart = inbox
        .wait_for("the digest's chart", |s| {
            s.sender == bot_user.user_id && s.image.is_some() && s.in_reply_to.is_none()
        })
        .await;
    assert_encrypted_chart(&client, &chart, "the digest's chart").await;
    assert_eq!(daemon.digest_if_due(due + 120_000).await.unwrap(), None);
    drop(daemon);

    shutdown.cancel();
    let _ = tokio::time::timeout(WAIT, task).await;

    // The command line draws the same chart into a file.
    let png_file = f.dir.path().join("trend.png");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_synapse-warden"))
        .arg("--config")
        .arg(&f.policy)
        .args(["stats", "trend", &alice.user_id, "7d", "--png"])
        .arg(&png_file)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("@alice:warden.test, last 7d: 63.0 KiB, +60.0 KiB"),
        "{stdout}"
    );
    assert_eq!(png_size(&std::fs::read(&png_file).unwrap()), (1200, 720));
}

/// A history that cannot be written (its path is a directory) costs a
/// warning and a metric; the run and its alert stand, and the next run
/// with a writable file is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_history_write_is_a_metric_and_the_alerts_go_out() {
    use test_support::fake::{Dataset, Db, FakeSynapse};
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        - 3_600_000;
    let dataset = Dataset::builder().user("@alice:test", Some("Alice"), &[(t, Some(5 * 1024))]);
    let fake = FakeSynapse::start(dataset, Db::Sqlite).await;
    let mut f = Fixture::new();
    let config = f.write_policy(&fake.base_url(), fake.admin_token(), QUOTA);
    let blocked = f.dir.path().join("not-a-file");
    std::fs::create_dir(&blocked).unwrap();

    let mut daemon = f.daemon(config.clone());
    daemon.set_history(History::new(blocked));
    daemon.run_once().await.unwrap().unwrap();
    assert_eq!(f.metrics.history_write_errors.get(), 1);
    let room = f.room.plain();
    assert_eq!(room.len(), 1, "{room:#?}");
    assert!(
        room[0].contains("NEW warning quota: @alice:test"),
        "{}",
        room[0]
    );

    let file = f.dir.path().join("history.sqlite3");
    daemon.set_history(History::new(file.clone()));
    daemon.run_once().await.unwrap().unwrap();
    assert_eq!(f.metrics.history_write_errors.get(), 1);
    let runs = HistoryStore::open_existing(&file).unwrap().runs().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].users, runs[0].bytes), (1, 5 * 1024));
}
