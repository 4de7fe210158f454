//! End to end: a bot whose access token expires keeps working.
//!
//! Synapse issues refreshable tokens that live one minute
//! (`refreshable_access_token_lifetime: 1m`). `synapse-warden run` logs its
//! bot in with a password, asking for a refresh token; the bot answers
//! `!stats status` across three lifetimes of its token (matrix-sdk refreshes
//! on the homeserver's `M_UNKNOWN_TOKEN`, and each new pair is saved in
//! `session.json`), then across a restart made once the saved access token
//! has expired: the saved pair is refreshed at start, with no new login.
//! No token is ever logged. Slow by nature (about five minutes): one test.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use test_support::synapse::{Backend, SynapseHarness, TestUser};

use crate::run_e2e::{events, get, logs, signal, start, wait_exit, write_setup};

/// One lifetime of the bot's access token, and a little more.
const LIFETIME: Duration = Duration::from_secs(65);

/// The saved session's access and refresh tokens.
fn saved_tokens(data_dir: &Path) -> (String, Option<String>) {
    let text = std::fs::read_to_string(data_dir.join("session.json")).unwrap();
    let saved: Value = serde_json::from_str(&text).unwrap();
    let tokens = &saved["session"];
    (
        tokens["access_token"].as_str().unwrap().to_owned(),
        tokens["refresh_token"].as_str().map(str::to_owned),
    )
}

async fn ready(listen: &str, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while get(&format!("http://{listen}/ready")).await.0 != 200 {
        assert!(Instant::now() < deadline, "never ready:\n{}", logs(dir));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Sends `!stats status` and waits for the bot's reply to it.
async fn status_answered(
    h: &SynapseHarness,
    admin: &TestUser,
    room_id: &str,
    bot: &str,
    dir: &Path,
) {
    let command = h.send_text(admin, room_id, "!stats status").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let replies = events(h, admin, room_id, bot).await;
        if let Some(reply) = replies
            .iter()
            .find(|e| e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == command.as_str())
        {
            let body = reply["content"]["body"].as_str().unwrap_or_default();
            assert!(body.contains("Last run"), "{body}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no reply to {command}:\n{}",
            logs(dir)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_answers_across_three_token_lifetimes_and_a_restart() {
    let mut extra = serde_json::Map::new();
    extra.insert("refreshable_access_token_lifetime".into(), "1m".into());
    let h = SynapseHarness::start_with(Backend::Sqlite, extra)
        .await
        .unwrap_or_else(|e| panic!("starting Synapse: {e:#}"));
    let admin = h.register("admin", "admin-password", true).await.unwrap();
    let bot = h.register("warden", "bot-password", false).await.unwrap();
    let room_id = h
        .create_room(&admin, "Synapse admins", false, &[&bot.user_id])
        .await
        .unwrap();
    let setup = write_setup(&h, &admin, &room_id);
    let dir = setup.dir.path();
    let data = dir.join("data");
    let mut warden = start(&setup);
    ready(&setup.listen, dir).await;
    let (first, refresh) = saved_tokens(&data);
    assert!(refresh.is_some(), "the login asked for no refresh token");
    status_answered(&h, &admin, &room_id, &bot.user_id, dir).await;

    // Three lifetimes, a command in each.
    for _ in 0..3 {
        tokio::time::sleep(LIFETIME).await;
        status_answered(&h, &admin, &room_id, &bot.user_id, dir).await;
    }
    let (latest, _) = saved_tokens(&data);
    assert_ne!(latest, first, "the refreshed token was not saved");

    // Stopped, and restarted once the saved access token has expired.
    signal(&warden, libc::SIGTERM);
    let stopped = wait_exit(&mut warden, Duration::from_secs(10));
    assert!(stopped.is_some_and(|s| s.success()), "{}", logs(dir));
    tokio::time::sleep(LIFETIME).await;
    let mut warden = start(&setup);
    ready(&setup.listen, dir).await;
    status_answered(&h, &admin, &room_id, &bot.user_id, dir).await;
    signal(&warden, libc::SIGTERM);
    let stopped = wait_exit(&mut warden, Duration::from_secs(10));

    let log = logs(dir);
    assert!(stopped.is_some_and(|s| s.success()), "{log}");
    assert!(
        log.contains("the bot's access token was refreshed; session saved"),
        "{log}"
    );
    assert!(
        log.contains("the saved session's access token had expired; refreshed it"),
        "{log}"
    );
    // One login, the first start's: the restart refreshed, it did not log in.
    assert_eq!(log.matches("logged in; session saved").count(), 1, "{log}");
    assert!(!log.contains("logging in again"), "{log}");
    let (last, last_refresh) = saved_tokens(&data);
    for token in [Some(first), Some(latest), Some(last), refresh, last_refresh]
        .into_iter()
        .flatten()
    {
        assert!(!log.contains(&token), "a token is in the log");
    }
}
