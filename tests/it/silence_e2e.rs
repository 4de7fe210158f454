//! End to end: admins act from the room. `synapse-warden run`
//! against a real Synapse (SQLite; PostgreSQL for overrides), with a real matrix-sdk client of an
//! admin on the other side (and a second admin and a stranger over the
//! client-server API).
//!
//! - Plain room: a ✅ on the first alert acknowledges its violations (a
//!   threaded reply names who and what) and they are not reminded (with
//!   `repeat_after: 1s`) while a new one is announced; a 👀 from a sender
//!   with power level 0 is ignored. `silence` answers with an ID, what it
//!   matches and its end; a silenced violation is not announced but is
//!   listed by `check` and counted by `status` and `/metrics`; `silences`
//!   lists the silences; `unsilence` ends one early, and the next run
//!   announces its violation; a silence that expires while its violation is
//!   still there gets one line in the next summary, and the violation is
//!   announced. Silences survive `kill -9` and a reload.
//! - Overrides: the first that matches wins, its end (after a reload) is
//!   said once, and a silence set over it holds the violation back until
//!   `unsilence`.
//! - Encrypted room: a 👀 on an (encrypted) alert acknowledges it; the
//!   threaded confirmation is encrypted too. (The reaction itself is sent
//!   in the clear, as matrix-sdk and matrix-js-sdk send every reaction.)

use std::process::Child;
use std::time::{Duration, Instant};

use matrix_sdk::Room;
use matrix_sdk::ruma::events::reaction::ReactionEventContent;
use matrix_sdk::ruma::events::relation::Annotation;
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId};
use serde_json::{Value, json};

use crate::client::{Inbox, admin_client, joined, send};
use crate::run_e2e::{Setup, logs, signal, start, wait_exit, write_setup};
use test_support::synapse::{Backend, SynapseHarness, TestUser};

const PASSWORD: &str = "correct horse battery staple";
const WAIT: Duration = Duration::from_secs(90);

async fn react(room: &Room, event_id: &OwnedEventId, key: &str) -> OwnedEventId {
    room.send(ReactionEventContent::new(Annotation::new(
        event_id.clone(),
        key.to_owned(),
    )))
    .await
    .unwrap()
    .response
    .event_id
}

/// A reaction sent over the plain client-server API by `user`.
async fn raw_react(h: &SynapseHarness, user: &TestUser, room_id: &str, event_id: &str, key: &str) {
    let txn = format!("react-{}", rand_suffix());
    let url = h
        .base_url()
        .join(&format!(
            "_matrix/client/v3/rooms/{room_id}/send/m.reaction/{txn}"
        ))
        .unwrap();
    h.http()
        .put(url)
        .bearer_auth(&user.access_token)
        .json(&json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

async fn metrics(setup: &Setup) -> String {
    reqwest::get(format!("http://{}/metrics", setup.listen))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The policy of [`write_setup`], with reminders after 1 s (so that a
/// missing reminder means something) and a recovery key.
fn setup(h: &SynapseHarness, admin: &TestUser, room_id: &str) -> Setup {
    let setup = write_setup(h, admin, room_id);
    let recovery = setup.dir.path().join("recovery-key");
    std::fs::write(&recovery, "recovery passphrase of the e2e bot").unwrap();
    let text = std::fs::read_to_string(&setup.policy).unwrap().replace(
        "http:\n",
        &format!(
            "  recovery_key: {{file: {}}}\nalerts:\n  repeat_after: 1s\nhttp:\n",
            recovery.display()
        ),
    );
    std::fs::write(&setup.policy, text).unwrap();
    setup
}

struct World {
    h: SynapseHarness,
    admin: TestUser,
    bot: TestUser,
}

async fn world(backend: Backend) -> World {
    let h = SynapseHarness::start(backend).await.unwrap();
    let admin = h.register("admin", PASSWORD, true).await.unwrap();
    // The password write_setup gives the bot.
    let bot = h.register("warden", "bot-password", false).await.unwrap();
    for name in ["alice", "bob"] {
        let user = h.register(name, PASSWORD, false).await.unwrap();
        h.upload_media(&user, 5 * 1024).await.unwrap();
    }
    World { h, admin, bot }
}

/// The daemon started on a setup, and the admin's client in its room.
struct Session {
    setup: Setup,
    child: Child,
    inbox: Inbox,
    room: Room,
    room_id: OwnedRoomId,
    /// The admin client's store.
    _store: tempfile::TempDir,
}

/// Logs the admin's client in, starts the daemon on `setup` and waits
/// until the client sees the bot joined to `room_id`.
async fn session(w: &World, setup: Setup, room_id: &str) -> Session {
    let room_id: OwnedRoomId = room_id.parse().unwrap();
    let store = tempfile::tempdir().unwrap();
    let (client, inbox) = admin_client(
        &w.h,
        &w.admin,
        PASSWORD,
        &store.path().join("admin"),
        "e2e admin client",
        WAIT,
    )
    .await;
    let child = start(&setup);
    let room = joined(&client, &room_id, &w.bot.user_id, WAIT).await;
    Session {
        setup,
        child,
        inbox,
        room,
        room_id,
        _store: store,
    }
}

/// SIGTERM: the daemon exits cleanly within 10 seconds.
fn stop(mut child: Child, setup: &Setup) {
    signal(&child, libc::SIGTERM);
    assert!(
        wait_exit(&mut child, Duration::from_secs(10)).is_some_and(|s| s.success()),
        "{}",
        logs(setup.dir.path())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silences_and_acknowledgements_in_a_plain_room() {
    let w = world(Backend::Sqlite).await;
    let (h, admin, bot) = (&w.h, &w.admin, &w.bot.user_id);
    let ops = h.register("ops", PASSWORD, false).await.unwrap();
    let mallory = h.register("mallory", PASSWORD, false).await.unwrap();
    let room_id = h
        .create_room(
            admin,
            "Synapse admins",
            false,
            &[bot, &ops.user_id, &mallory.user_id],
        )
        .await
        .unwrap();
    for user in [&ops, &mallory] {
        h.join_room(user, &room_id).await.unwrap();
    }
    h.set_power_level(admin, &room_id, &ops.user_id, 50)
        .await
        .unwrap();
    let setup = setup(h, admin, &room_id);
    let Session {
        setup,
        mut child,
        mut inbox,
        room,
        room_id,
        _store,
    } = session(&w, setup, &room_id).await;

    // The first alert; a stranger's 👀 is ignored, the admin's ✅
    // acknowledges both violations, in the alert's thread.
    let alert = inbox.said("the first alert", bot, "2 new violations").await;
    raw_react(h, &mallory, room_id.as_str(), alert.event_id.as_str(), "👀").await;
    react(&room, &alert.event_id, "✅").await;
    let ack = inbox
        .wait_for("the acknowledgement", |s| {
            s.sender == *bot && s.thread.as_ref() == Some(&alert.event_id)
        })
        .await;
    assert!(
        ack.body
            .contains("@admin:warden.test acknowledged 2 violations")
            && ack.body.contains("@alice:warden.test")
            && ack.body.contains("@bob:warden.test"),
        "{}",
        ack.body
    );

    // Silences: dave's for 90 seconds (long enough to outlast the kill -9
    // and reload below on a loaded machine, short enough to wait for its
    // expiry), erin's for a day; both upload
    // over the quota; a check lists them but no summary announces them,
    // and no reminder comes for the acknowledged ones.
    let dave = h.register("dave", PASSWORD, false).await.unwrap();
    let erin = h.register("erin", PASSWORD, false).await.unwrap();
    let carol = h.register("carol", PASSWORD, false).await.unwrap();
    let cmd = send(
        &room,
        "!stats silence quota @dave:warden.test 90s moving servers",
    )
    .await;
    let reply = inbox.reply_to(&cmd, bot).await;
    assert!(
        reply
            .body
            .contains("Silence 1 set by @admin:warden.test: quota @dave:warden.test until")
            && reply.body.contains("— moving servers")
            && reply.body.contains("It matches 0 active violations now."),
        "{}",
        reply.body
    );
    let silenced_at = Instant::now();
    let cmd = send(&room, "!stats silence * @erin:* 1d").await;
    let reply = inbox.reply_to(&cmd, bot).await;
    assert!(reply.body.contains("Silence 2 set by"), "{}", reply.body);
    let too_long = h
        .send_text(&ops, room_id.as_str(), "!stats silence * @carol:* 91d")
        .await
        .unwrap();
    let reply = inbox.reply_to(&too_long.parse().unwrap(), bot).await;
    assert!(
        reply
            .body
            .contains("silences may last at most 90d (matrix.silence_max)"),
        "{}",
        reply.body
    );
    // A silence of everyone is an action: the command level is not enough.
    let everyone = h
        .send_text(&ops, room_id.as_str(), "!stats silence * * 1d")
        .await
        .unwrap();
    let reply = inbox.reply_to(&everyone.parse().unwrap(), bot).await;
    assert!(
        reply.body.contains("matches every user or every room")
            && reply.body.contains("Nothing was silenced"),
        "{}",
        reply.body
    );
    for user in [&dave, &erin, &carol] {
        h.upload_media(user, 5 * 1024).await.unwrap();
    }
    let cmd = send(&room, "!stats check").await;
    let reply = inbox.reply_to(&cmd, bot).await;
    assert!(
        reply.body.starts_with("5 violations")
            && reply.body.contains("@dave:warden.test")
            && reply.body.contains("@erin:warden.test")
            && reply
                .body
                .contains("2 violations are silenced (see `!stats silences`)."),
        "{}",
        reply.body
    );
    let summary = inbox
        .said(
            "the summary announcing carol",
            bot,
            "NEW critical quota: @carol:",
        )
        .await;
    assert!(
        summary.body.starts_with("synapse-warden: 1 new violation,")
            && !summary.body.contains("@dave:")
            && !summary.body.contains("@erin:")
            && !summary.body.contains("STILL OPEN"),
        "silenced or acknowledged violations announced: {}",
        summary.body
    );
    let m = metrics(&setup).await;
    assert!(
        m.contains("synapse_warden_violations_silenced{rule=\"quota\",severity=\"critical\"} 2")
            && m.contains("synapse_warden_violations{rule=\"quota\",severity=\"critical\"} 5"),
        "{m}"
    );

    // The second admin lists the silences and the status, then ends erin's.
    let listed = h
        .send_text(&ops, room_id.as_str(), "!stats silences")
        .await
        .unwrap();
    let reply = inbox.reply_to(&listed.parse().unwrap(), bot).await;
    assert!(
        reply.body.starts_with("2 active silences:")
            && reply
                .body
                .contains("• 1: quota @dave:warden.test, by @admin:warden.test, ends ")
            && reply
                .body
                .contains("• 2: every rule @erin:*, by @admin:warden.test"),
        "{}",
        reply.body
    );
    let status = h
        .send_text(&ops, room_id.as_str(), "!stats status")
        .await
        .unwrap();
    let reply = inbox.reply_to(&status.parse().unwrap(), bot).await;
    assert!(
        reply.body.contains("5 violations, 2 of them silenced"),
        "{}",
        reply.body
    );

    // kill -9 and a reload: the silences stay.
    signal(&child, libc::SIGKILL);
    child.wait().unwrap();
    let child = start(&setup);
    let health = format!("http://{}/health", setup.listen);
    let deadline = Instant::now() + WAIT;
    while reqwest::get(&health)
        .await
        .map_or(true, |r| !r.status().is_success())
    {
        assert!(Instant::now() < deadline, "{}", logs(setup.dir.path()));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    signal(&child, libc::SIGHUP);
    inbox.said("the reload", bot, "reloaded").await;
    let cmd = send(&room, "!stats silences").await;
    let reply = inbox.reply_to(&cmd, bot).await;
    assert!(
        reply.body.starts_with("2 active silences:"),
        "{}",
        reply.body
    );

    let unsilence = h
        .send_text(&ops, room_id.as_str(), "!stats unsilence 2")
        .await
        .unwrap();
    let reply = inbox.reply_to(&unsilence.parse().unwrap(), bot).await;
    assert!(
        reply
            .body
            .contains("Silence 2 (every rule @erin:*) ended by @ops:warden.test.")
            && reply.body.contains("1 active violation no longer silenced"),
        "{}",
        reply.body
    );
    let again = h
        .send_text(&ops, room_id.as_str(), "!stats unsilence 2")
        .await
        .unwrap();
    let reply = inbox.reply_to(&again.parse().unwrap(), bot).await;
    assert!(
        reply.body.contains("silence 2 has already ended"),
        "{}",
        reply.body
    );
    let check = h
        .send_text(&ops, room_id.as_str(), "!stats check")
        .await
        .unwrap();
    inbox.reply_to(&check.parse().unwrap(), bot).await;
    let erin_new = inbox
        .said(
            "erin announced after unsilence",
            bot,
            "NEW critical quota: @erin:",
        )
        .await;
    assert!(
        !erin_new.body.contains("NEW critical quota: @carol:"),
        "{}",
        erin_new.body
    );

    // Dave's silence expires while his violation is still there: one line
    // in the next summary, which announces him.
    let left = Duration::from_secs(91).saturating_sub(silenced_at.elapsed());
    tokio::time::sleep(left).await;
    let cmd = send(&room, "!stats check").await;
    inbox.reply_to(&cmd, bot).await;
    let expired = inbox.said("the expiry line", bot, "has expired").await;
    assert!(
        expired.body.contains(
            "🔔 Silence 1 (quota @dave:warden.test, by @admin:warden.test — moving servers) has expired; 1 violation it silenced is still there."
        ) && expired.body.contains("NEW critical quota: @dave:"),
        "{}",
        expired.body
    );

    // The stranger's reaction was never answered.
    inbox.drain();
    let threaded: Vec<_> = inbox
        .seen
        .iter()
        .filter(|s| s.thread.as_ref() == Some(&alert.event_id))
        .collect();
    assert_eq!(threaded.len(), 1, "{threaded:#?}");

    stop(child, &setup);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgement_in_an_encrypted_room() {
    let w = world(Backend::Sqlite).await;
    let (h, admin, bot) = (&w.h, &w.admin, &w.bot.user_id);
    let room_id = h
        .create_room(admin, "Synapse admins (encrypted)", true, &[bot])
        .await
        .unwrap();
    let setup = setup(h, admin, &room_id);
    let Session {
        setup,
        child,
        mut inbox,
        room,
        room_id,
        _store,
    } = session(&w, setup, &room_id).await;
    let alert = inbox.said("the first alert", bot, "2 new violations").await;
    let reaction = react(&room, &alert.event_id, "👀").await;
    let ack = inbox
        .wait_for("the acknowledgement", |s| {
            s.sender == *bot && s.thread.as_ref() == Some(&alert.event_id)
        })
        .await;
    assert!(
        ack.body
            .contains("@admin:warden.test acknowledged 2 violations"),
        "{}",
        ack.body
    );
    // The alert and the confirmation are encrypted on the server. The
    // reaction is not: matrix-sdk (as matrix-js-sdk) never encrypts
    // `m.reaction`, its relation being in the clear anyway; the bot reads it
    // as clients send it.
    let mut types = Vec::new();
    for event_id in [&alert.event_id, &ack.event_id, &reaction] {
        let (status, event): (_, Value) = h
            .get_json(
                admin,
                &format!("/_matrix/client/v3/rooms/{room_id}/event/{event_id}"),
            )
            .await
            .unwrap();
        assert!(status.is_success(), "{status} {event}");
        types.push(event);
    }
    assert_eq!(types[0]["type"], "m.room.encrypted", "{}", types[0]);
    assert_eq!(types[1]["type"], "m.room.encrypted", "{}", types[1]);
    assert_eq!(types[2]["type"], "m.reaction", "{}", types[2]);
    assert_eq!(
        types[2]["content"]["m.relates_to"]["event_id"],
        alert.event_id.as_str(),
        "{}",
        types[2]
    );
    stop(child, &setup);
}

/// Overrides in precedence order, their end, and a silence over them, on
/// real Synapse with PostgreSQL: Alice is judged by the first override that matches her
/// (1 MiB, until a moment after a reload) rather than by the second (2 KiB)
/// or the rule (4 KiB); Bob is exempt. A silence set while she is within
/// her override holds her back when it ends (the summary says the override
/// ended, and does not announce her); after `unsilence` the next run
/// announces her against the second override's 2 KiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn override_precedence_its_end_and_a_silence() {
    let w = world(Backend::Postgres).await;
    let (h, admin, bot) = (&w.h, &w.admin, &w.bot.user_id);
    let carol = h.register("carol", PASSWORD, false).await.unwrap();
    h.upload_media(&carol, 5 * 1024).await.unwrap();
    let room_id = h
        .create_room(admin, "Synapse admins", false, &[bot])
        .await
        .unwrap();
    let setup = setup(h, admin, &room_id);
    let policy = std::fs::read_to_string(&setup.policy).unwrap();
    let overrides = |until: &str| {
        format!(
            "{policy}overrides:\n  - users: \"@alice:*\"\n    rule: quota\n    max_media_length: 1 MiB\n    until: \"{until}\"\n    reason: archive project\n  - users: \"@alice:*\"\n    rule: quota\n    max_media_length: 2 KiB\n  - users: \"@bob:*\"\n    exempt: true\n"
        )
    };
    std::fs::write(&setup.policy, overrides("2100-01-01")).unwrap();
    let Session {
        setup,
        child,
        mut inbox,
        room,
        room_id: _,
        _store,
    } = session(&w, setup, &room_id).await;

    let alert = inbox
        .said("the first alert", bot, "NEW critical quota: @carol:")
        .await;
    assert!(
        alert.body.starts_with("synapse-warden: 1 new violation,")
            && !alert.body.contains("@alice:")
            && !alert.body.contains("@bob:"),
        "{}",
        alert.body
    );
    let cmd = send(&room, "!stats user @alice:warden.test").await;
    let reply = inbox.reply_to(&cmd, bot).await;
    assert!(
        reply
            .body
            .contains("quota: 1.0 MiB by override overrides[0] until 2100-01-01: archive project"),
        "{}",
        reply.body
    );
    let cmd = send(
        &room,
        "!stats silence quota @alice:warden.test 1d override ending",
    )
    .await;
    let reply = inbox.reply_to(&cmd, bot).await;
    assert!(
        reply.body.contains("Silence 1 set by")
            && reply.body.contains("It matches 0 active violations now."),
        "{}",
        reply.body
    );

    // The first override now ends a few seconds after a reload.
    let ends = chrono::Utc::now() + chrono::Duration::seconds(4);
    let ends = ends.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    std::fs::write(&setup.policy, overrides(&ends)).unwrap();
    signal(&child, libc::SIGHUP);
    inbox.said("the reload", bot, "reloaded").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let cmd = send(&room, "!stats check").await;
    let reply = inbox.reply_to(&cmd, bot).await;
    assert!(
        reply.body.starts_with("2 violations")
            && reply.body.contains("@alice:warden.test")
            && reply.body.contains("5.0 KiB of 2.0 KiB")
            && !reply.body.contains("@bob:")
            && reply
                .body
                .contains("1 violation is silenced (see `!stats silences`)."),
        "{}",
        reply.body
    );
    let ended = inbox
        .said("the end of the override", bot, "an override has ended")
        .await;
    assert!(
        ended
            .body
            .contains("overrides[0]: @alice:*, rule quota: 1.0 MiB until")
            && ended.body.contains("archive project"),
        "{}",
        ended.body
    );
    let cmd = send(&room, "!stats user @alice:warden.test").await;
    let reply = inbox.reply_to(&cmd, bot).await;
    assert!(
        reply
            .body
            .contains("quota: 2.0 KiB by override overrides[1]"),
        "{}",
        reply.body
    );

    // Unsilenced: the next run announces her, against the second override.
    let cmd = send(&room, "!stats unsilence 1").await;
    let reply = inbox.reply_to(&cmd, bot).await;
    assert!(
        reply.body.contains("1 active violation no longer silenced"),
        "{}",
        reply.body
    );
    let cmd = send(&room, "!stats check").await;
    inbox.reply_to(&cmd, bot).await;
    let announced = inbox
        .said("alice announced", bot, "NEW critical quota: @alice:")
        .await;
    assert!(
        announced.body.contains("5.0 KiB of 2.0 KiB") && !announced.body.contains("@bob:"),
        "{}",
        announced.body
    );
    inbox.drain();
    assert_eq!(
        inbox
            .seen
            .iter()
            .filter(|s| s.sender == *bot && s.body.contains("NEW critical quota: @alice:"))
            .count(),
        1,
        "{:#?}",
        inbox.seen
    );
    assert_eq!(
        inbox
            .seen
            .iter()
            .filter(|s| s.sender == *bot && s.body.contains("an override has ended"))
            .count(),
        1,
        "{:#?}",
        inbox.seen
    );

    stop(child, &setup);
}
