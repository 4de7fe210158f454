//! End to end: the Matrix bot against a real Synapse, with a separate
//! matrix-sdk client logged in as a server admin on the other side.
//!
//! Seeded media: alice 3 × 100 KiB, bob 1 × 200 KiB, carol 2 × 50 KiB.
//!
//! - Unencrypted room: `!stats top 10 media_length` gets a reply, in reply
//!   to the command, listing alice, bob, carol with 300.0, 200.0 and 100.0
//!   KiB; a sender with power level 0 gets nothing (checked after a later
//!   command of the admin was answered, so the bot has seen it); a bad
//!   command gets the usage reply naming what was wrong; a bot restarted
//!   on the same data directory reuses its device (no login, one device on
//!   the server) and does not answer a command sent while it was down.
//! - Encrypted room: the admin's client shares room keys only with devices
//!   cross-signed by their owner (MSC4153's identity-based strategy), so
//!   the bot's answer proves it read the encrypted command with a
//!   cross-signed device; its reply is itself encrypted on the server and
//!   decrypted by the client.

use std::sync::Arc;
use std::time::Duration;

use matrix_sdk::Room;
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId};
use serde_json::Value;
use synapse_warden::app::context::StatsContext;
use synapse_warden::bot::{Bot, BotError, BotSettings, Secret};
use synapse_warden::synapse::{AdminToken, ClientConfig, RetryPolicy, SynapseClient};
use tokio_util::sync::CancellationToken;

use crate::client::{Inbox, admin_client, joined, send};
use test_support::policy::{Policy, SecretAt};
use test_support::synapse::{Backend, SynapseHarness, TestUser};

const KIB: usize = 1024;
const PASSWORD: &str = "correct horse battery staple";
const WAIT: Duration = Duration::from_secs(60);

struct World {
    synapse: SynapseHarness,
    admin: TestUser,
    bot_user: TestUser,
    dir: tempfile::TempDir,
}

async fn world() -> World {
    let synapse = SynapseHarness::start(Backend::Sqlite)
        .await
        .unwrap_or_else(|e| panic!("starting Synapse: {e:#}"));
    let admin = synapse.register("admin", PASSWORD, true).await.unwrap();
    let bot_user = synapse.register("warden", PASSWORD, false).await.unwrap();
    for (name, uploads, size) in [
        ("alice", 3, 100 * KIB),
        ("bob", 1, 200 * KIB),
        ("carol", 2, 50 * KIB),
    ] {
        let user = synapse.register(name, PASSWORD, false).await.unwrap();
        for _ in 0..uploads {
            synapse.upload_media(&user, size).await.unwrap();
        }
    }
    World {
        synapse,
        admin,
        bot_user,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl World {
    fn settings(&self, room: &str) -> BotSettings {
        let mut s = BotSettings::new(
            self.synapse.base_url().clone(),
            self.bot_user.user_id.clone(),
            room,
            self.dir.path().join("bot"),
            Secret::new("store passphrase"),
        );
        s.password = Some(Secret::new(PASSWORD));
        s.recovery_key = Some(Secret::new("recovery passphrase of the test bot"));
        s
    }

    fn stats(&self) -> Arc<StatsContext> {
        let mut config = ClientConfig::new(
            self.synapse.base_url().clone(),
            AdminToken::new(self.admin.access_token.clone()),
        );
        config.retry = RetryPolicy::none();
        Arc::new(StatsContext::new(
            SynapseClient::new(config).unwrap(),
            "!stats",
        ))
    }

    /// The admin's client, on a device of its own, once the bot has joined
    /// `room_id`; what it sees.
    async fn admin_in(&self, room_id: &OwnedRoomId) -> (Inbox, Room) {
        let (client, inbox) = admin_client(
            &self.synapse,
            &self.admin,
            PASSWORD,
            &self.dir.path().join("admin-client"),
            "e2e admin client",
            WAIT,
        )
        .await;
        let room = joined(&client, room_id, &self.bot_user.user_id, WAIT).await;
        (inbox, room)
    }

    /// A room "admins" of the admin with the bot and `member` in it.
    async fn room_with(&self, member: &TestUser) -> OwnedRoomId {
        let room_id = self
            .synapse
            .create_room(
                &self.admin,
                "admins",
                false,
                &[&self.bot_user.user_id, &member.user_id],
            )
            .await
            .unwrap();
        self.synapse.join_room(member, &room_id).await.unwrap();
        room_id.parse().unwrap()
    }
}

struct RunningBot {
    device_id: String,
    logged_in: bool,
    cross_signed: bool,
    crypto: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), BotError>>,
}

async fn start_bot(settings: BotSettings, stats: Arc<StatsContext>) -> RunningBot {
    let bot = Bot::start(settings)
        .await
        .unwrap_or_else(|e| panic!("starting the bot: {e}"));
    let shutdown = CancellationToken::new();
    let device_id = bot.device_id().map(|d| d.to_string()).unwrap();
    let logged_in = bot.logged_in();
    let cross_signed = bot.crypto_report().is_some_and(|r| r.device_cross_signed);
    let crypto = format!("{:?}", bot.crypto_report());
    let task = bot.spawn(stats, shutdown.clone());
    RunningBot {
        device_id,
        logged_in,
        cross_signed,
        crypto,
        shutdown,
        task,
    }
}

impl RunningBot {
    async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the bot stops")
            .expect("the bot task does not panic");
        assert!(result.is_ok(), "the bot stopped with {result:?}");
    }
}

/// The (user, size) pairs of a `top` reply's lines ` 1. @u:hs (name) — 300.0 KiB, 3 media`.
fn top_lines(body: &str) -> Vec<(String, String)> {
    body.lines()
        .filter_map(|line| {
            let (rank, rest) = line.trim_start().split_once(". ")?;
            rank.parse::<u32>().ok()?;
            let user = rest.split_whitespace().next()?.to_owned();
            let (_, after) = rest.split_once(" — ")?;
            let size = after.split(',').next()?.to_owned();
            Some((user, size))
        })
        .collect()
}

fn expected_top() -> Vec<(String, String)> {
    [
        ("alice", "300.0 KiB"),
        ("bob", "200.0 KiB"),
        ("carol", "100.0 KiB"),
    ]
    .iter()
    .map(|(u, s)| (format!("@{u}:warden.test"), (*s).to_owned()))
    .collect()
}

/// Whether the admin's client saw a reply to `event_id`, given 3 s more
/// for one to arrive.
async fn answered(inbox: &mut Inbox, event_id: &OwnedEventId) -> bool {
    tokio::time::sleep(Duration::from_secs(3)).await;
    inbox.drain();
    inbox
        .seen
        .iter()
        .any(|s| s.in_reply_to.as_ref() == Some(event_id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_answers_in_a_plain_room_ignores_strangers_and_survives_a_restart() {
    let w = world().await;
    let mallory = w
        .synapse
        .register("mallory", PASSWORD, false)
        .await
        .unwrap();
    let room_id = w.room_with(&mallory).await;

    let bot = start_bot(w.settings(room_id.as_str()), w.stats()).await;
    assert!(bot.logged_in, "the first start logs in");
    let (mut inbox, room) = w.admin_in(&room_id).await;

    // The command is answered in reply, with the seeded users and sizes.
    let command = send(&room, "!stats top 10 media_length").await;
    let reply = inbox.reply_to(&command, &w.bot_user.user_id).await;
    assert_eq!(reply.room_id, room_id);
    assert_eq!(top_lines(&reply.body), expected_top(), "{}", reply.body);
    assert!(reply.body.contains("3 users have media."), "{}", reply.body);

    // A sender without power level: no answer, even after the bot answered
    // a later command (so it has seen the stranger's).
    let stranger = w
        .synapse
        .send_text(&mallory, room_id.as_str(), "!stats top 10 media_length")
        .await
        .unwrap();
    let stranger: OwnedEventId = stranger.parse().unwrap();
    let bad = send(&room, "!stats top 1000").await;
    let usage = inbox.reply_to(&bad, &w.bot_user.user_id).await;
    assert!(
        usage
            .body
            .starts_with("Usage error: N must be between 1 and 100, not 1000."),
        "{}",
        usage.body
    );
    assert!(
        !answered(&mut inbox, &stranger).await,
        "the bot answered a sender with power level 0: {:?}",
        inbox.seen
    );

    // Restart: a command sent while the bot is down is never answered; the
    // same device comes back without a login.
    let first_device = bot.device_id.clone();
    let devices_before = server_devices(&w, &w.bot_user.user_id).await;
    assert!(devices_before.contains(&first_device), "{devices_before:?}");
    bot.stop().await;
    let while_down = send(&room, "!stats top 3 media_count").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let again = start_bot(w.settings(room_id.as_str()), w.stats()).await;
    assert!(!again.logged_in, "the restart restores the session");
    assert_eq!(again.device_id, first_device, "the same device");
    assert_eq!(
        server_devices(&w, &w.bot_user.user_id).await,
        devices_before,
        "no new device on the server"
    );
    let after = send(&room, "!stats top 2 media_count").await;
    let reply = inbox.reply_to(&after, &w.bot_user.user_id).await;
    let users: Vec<String> = top_lines(&reply.body).into_iter().map(|(u, _)| u).collect();
    assert_eq!(
        users,
        ["@alice:warden.test", "@carol:warden.test"],
        "{}",
        reply.body
    );
    assert!(
        !answered(&mut inbox, &while_down).await,
        "the restarted bot answered a command sent while it was down"
    );
    again.stop().await;
}

/// The bot user's devices, as the server lists them (admin API), sorted.
async fn server_devices(w: &World, user_id: &str) -> Vec<String> {
    let (status, body) = w
        .synapse
        .get_json(
            &w.admin,
            &format!("/_synapse/admin/v2/users/{user_id}/devices"),
        )
        .await
        .unwrap();
    assert!(status.is_success(), "{status} {body}");
    body["devices"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["device_id"].as_str().map(str::to_owned))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_answers_in_an_encrypted_room_with_a_cross_signed_device() {
    let w = world().await;
    let room_id = w
        .synapse
        .create_room(&w.admin, "admins (encrypted)", true, &[&w.bot_user.user_id])
        .await
        .unwrap();
    let room_id: OwnedRoomId = room_id.parse().unwrap();

    let bot = start_bot(w.settings(room_id.as_str()), w.stats()).await;
    assert!(
        bot.cross_signed,
        "the bot's device is cross-signed: {}",
        bot.crypto
    );
    let (mut inbox, room) = w.admin_in(&room_id).await;

    let command = send(&room, "!stats top 10 media_length").await;
    let reply = inbox.reply_to(&command, &w.bot_user.user_id).await;
    assert_eq!(top_lines(&reply.body), expected_top(), "{}", reply.body);

    // Both the command and the reply are encrypted on the server.
    for event_id in [&command, &reply.event_id] {
        let (status, event): (_, Value) = w
            .synapse
            .get_json(
                &w.admin,
                &format!("/_matrix/client/v3/rooms/{room_id}/event/{event_id}"),
            )
            .await
            .unwrap();
        assert!(status.is_success(), "{status} {event}");
        assert_eq!(event["type"], "m.room.encrypted", "{event}");
    }
    bot.stop().await;
}

const BIN: &str = env!("CARGO_BIN_EXE_synapse-warden");

async fn stats_cli(w: &World, policy: &std::path::Path, words: &[&str]) -> (Option<i32>, String) {
    let out = tokio::process::Command::new(BIN)
        .arg("--config")
        .arg(policy)
        .arg("stats")
        .args(words)
        .env("WARDEN_E2E_BOT_ADMIN_TOKEN", &w.admin.access_token)
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("running synapse-warden");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(&w.admin.access_token), "{stderr}");
    (out.status.code(), format!("{stdout}{stderr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_command_line_answers_with_the_same_grammar() {
    let w = world().await;
    // `al_ce` is also a LIKE pattern matching `alice`: the exact lookup
    // must still find only al_ce.
    let al_ce = w.synapse.register("al_ce", PASSWORD, false).await.unwrap();
    w.synapse.upload_media(&al_ce, 10 * KIB).await.unwrap();
    let policy = w.dir.path().join("policy.yaml");
    Policy::new(
        w.synapse.base_url().as_str(),
        SecretAt::Env("WARDEN_E2E_BOT_ADMIN_TOKEN".into()),
    )
    .rules("user_media:\n  - name: media-quota\n    max_media_length: 1 GiB\n")
    .set_yaml(
        "overrides",
        "- users: \"@al_ce:*\"\n  max_media_length: 5 GiB\n  reason: a <b>test</b>\n",
    )
    .write(&policy)
    .unwrap();

    let (code, out) = stats_cli(&w, &policy, &["top", "10", "media_length"]).await;
    assert_eq!(code, Some(0), "{out}");
    let mut expected = expected_top();
    expected.push(("@al_ce:warden.test".to_owned(), "10.0 KiB".to_owned()));
    assert_eq!(top_lines(&out), expected, "{out}");
    assert!(out.contains("asked Synapse just now"), "{out}");

    let (code, out) = stats_cli(&w, &policy, &["user", "@al_ce:warden.test"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.starts_with("@al_ce:warden.test (al_ce): 10.0 KiB in 1 media"),
        "{out}"
    );
    // The effective limit of each rule, and why.
    assert!(
        out.contains(
            "Effective limits:\n• media-quota: 5.0 GiB by override overrides[0]: a <b>test</b>"
        ),
        "{out}"
    );
    let (code, out) = stats_cli(&w, &policy, &["user", "@nobody:warden.test"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("has no local media"), "{out}");

    // SQLite without the warden's module: no sizes, said, and the rooms
    // ranked by their state events all the same.
    let room = w
        .synapse
        .create_room(&w.admin, "Town square", false, &[])
        .await
        .unwrap();
    let (code, out) = stats_cli(&w, &policy, &["rooms"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("No room sizes: this Synapse uses SQLite")
            && out.contains("Rooms with the most current state events:")
            && out.contains(&format!("room {room} “Town square” — ")),
        "{out}"
    );

    let (code, out) = stats_cli(&w, &policy, &["top", "0"]).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.starts_with("Usage error: N must be between 1 and 100, not 0."),
        "{out}"
    );

    let (code, out) = stats_cli(&w, &policy, &["policies"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("media-quota (warning): at most 1.0 GiB per user; every user"),
        "{out}"
    );
    assert!(
        out.contains("1 override (the first that matches wins):\n• overrides[0]: @al_ce:*, every rule: 5.0 GiB — a <b>test</b>"),
        "{out}"
    );
}

/// Whether bob's only media downloads (200) or is gone (404).
async fn bob_media_status(w: &World, mxc: &str) -> u16 {
    let id = mxc.trim_start_matches("mxc://");
    let url = format!(
        "{}/_matrix/client/v1/media/download/{id}",
        w.synapse.base_url().as_str().trim_end_matches('/')
    );
    w.synapse
        .http()
        .get(url)
        .bearer_auth(&w.admin.access_token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_purges_only_after_a_confirmation_from_a_member_with_the_action_level() {
    let w = world().await;
    let bob = w.synapse.register("bob2", PASSWORD, false).await.unwrap();
    let mxc = w.synapse.upload_media(&bob, 200 * KIB).await.unwrap();
    let moderator = w
        .synapse
        .register("moderator", PASSWORD, false)
        .await
        .unwrap();
    let room_id = w.room_with(&moderator).await;
    w.synapse
        .set_power_level(&w.admin, room_id.as_str(), &moderator.user_id, 50)
        .await
        .unwrap();
    let yaml = Policy::new(
        w.synapse.base_url().as_str(),
        SecretAt::Env("UNUSED".into()),
    )
    .rules("user_media:\n  - name: q\n    max_media_length: 1 GiB\n")
    .set("actions.enabled", true)
    .set("actions.audit_log", w.dir.path().join("audit.log"))
    .yaml();
    let mut stats = Arc::into_inner(w.stats()).unwrap();
    stats.config = Some(Arc::new(
        synapse_warden::core::policy::parse("p.yaml", &yaml).unwrap(),
    ));
    let bot = start_bot(w.settings(room_id.as_str()), Arc::new(stats)).await;
    let (mut inbox, room) = w.admin_in(&room_id).await;

    let ask = send(&room, &format!("!stats purge {}", bob.user_id)).await;
    let preview = inbox.reply_to(&ask, &w.bot_user.user_id).await;
    assert!(
        preview.body.contains("1 media, 200.0 KiB"),
        "{}",
        preview.body
    );
    let code = preview
        .body
        .split("confirm ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_alphanumeric()).next())
        .unwrap()
        .to_owned();

    // The moderator may command (50) but not act (100): a clear refusal.
    let weak = w
        .synapse
        .send_text(
            &moderator,
            room_id.as_str(),
            &format!("!stats confirm {code}"),
        )
        .await
        .unwrap();
    let refusal = inbox
        .reply_to(&weak.parse().unwrap(), &w.bot_user.user_id)
        .await;
    assert!(refusal.body.contains("power level 100"), "{}", refusal.body);
    assert_eq!(bob_media_status(&w, &mxc).await, 200, "nothing deleted");

    // The admin confirms: deleted, reported in the room.
    let confirm = send(&room, &format!("!stats confirm {code}")).await;
    let report = inbox.reply_to(&confirm, &w.bot_user.user_id).await;
    assert!(
        report
            .body
            .contains(&format!("deleted 1 media, 200.0 KiB of {}", bob.user_id)),
        "{}",
        report.body
    );
    assert!(
        report
            .body
            .contains(&format!("confirmed by {}", w.admin.user_id)),
        "{}",
        report.body
    );
    assert_eq!(bob_media_status(&w, &mxc).await, 404);

    // The room the bot answers in is never deleted: the bot knows it as
    // the room the command came from, whatever the policy file says.
    let ask = send(&room, &format!("!stats delete-room {room_id}")).await;
    let refusal = inbox.reply_to(&ask, &w.bot_user.user_id).await;
    assert!(refusal.body.contains("admin room"), "{}", refusal.body);
    let still = w
        .stats()
        .synapse
        .room_details(room_id.as_str())
        .await
        .unwrap();
    assert!(still.is_some_and(|r| r.joined_local_members > 0));
    bot.stop().await;
}

/// Points `alias` at `room_id` (the client API, as `user`).
async fn put_alias(w: &World, user: &TestUser, alias: &str, room_id: &str) {
    let url = format!(
        "{}_matrix/client/v3/directory/room/{}",
        w.synapse.base_url(),
        alias.replace('#', "%23").replace(':', "%3A")
    );
    let client = reqwest::Client::new();
    let answer = client
        .put(&url)
        .bearer_auth(&user.access_token)
        .json(&serde_json::json!({ "room_id": room_id }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200, "{:?}", answer.text().await);
}

/// Removes `alias` (as the server admin).
async fn delete_alias(w: &World, alias: &str) {
    let url = format!(
        "{}_matrix/client/v3/directory/room/{}",
        w.synapse.base_url(),
        alias.replace('#', "%23").replace(':', "%3A")
    );
    let answer = reqwest::Client::new()
        .delete(&url)
        .bearer_auth(&w.admin.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200, "{:?}", answer.text().await);
}

/// The admin room given as an alias: resolved once and kept. When a member
/// re-points the alias at a room of theirs (the bot invited there), the
/// restarted bot keeps obeying the room it first resolved, answers there,
/// and says there that the alias now points elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_re_pointed_after_the_first_start_is_not_followed() {
    let w = world().await;
    let mallory = w
        .synapse
        .register("mallory", PASSWORD, false)
        .await
        .unwrap();
    let room_id = w.room_with(&mallory).await;
    let alias = format!("#admins:{}", w.synapse.server_name());
    put_alias(&w, &w.admin, &alias, room_id.as_str()).await;
    let bot = start_bot(w.settings(&alias), w.stats()).await;
    let (mut inbox, room) = w.admin_in(&room_id).await;
    let command = send(&room, "!stats top 10 media_length").await;
    let reply = inbox.reply_to(&command, &w.bot_user.user_id).await;
    assert_eq!(reply.room_id, room_id);
    bot.stop().await;

    // Mallory's own room, the bot invited; the alias now points there.
    let evil = w
        .synapse
        .create_room(&mallory, "evil", false, &[&w.bot_user.user_id])
        .await
        .unwrap();
    delete_alias(&w, &alias).await;
    put_alias(&w, &mallory, &alias, &evil).await;

    let again = start_bot(w.settings(&alias), w.stats()).await;
    let after = send(&room, "!stats top 2 media_count").await;
    let reply = inbox.reply_to(&after, &w.bot_user.user_id).await;
    assert_eq!(
        reply.room_id, room_id,
        "the bot obeys the room it first resolved"
    );
    let said =
        crate::run_e2e::bodies(&w.synapse, &w.admin, room_id.as_str(), &w.bot_user.user_id).await;
    let moved: Vec<&String> = said
        .iter()
        .filter(|m| m.contains("now points to"))
        .collect();
    assert_eq!(moved.len(), 1, "{said:#?}");
    assert!(
        moved[0].contains(&evil) && moved[0].contains(&alias),
        "{}",
        moved[0]
    );
    again.stop().await;
    // Not said again at the next start.
    let third = start_bot(w.settings(&alias), w.stats()).await;
    third.stop().await;
    let said =
        crate::run_e2e::bodies(&w.synapse, &w.admin, room_id.as_str(), &w.bot_user.user_id).await;
    assert_eq!(
        said.iter().filter(|m| m.contains("now points to")).count(),
        1,
        "{said:#?}"
    );
    let joined_evil = w
        .synapse
        .get_json(&w.bot_user, "/_matrix/client/v3/joined_rooms")
        .await
        .unwrap()
        .1;
    assert!(!joined_evil.to_string().contains(&evil), "{joined_evil}");
}
